# Sourced by the benchmarks that compare warren with systemd-nspawn
# (probe_cycle.sh, run_boot.sh): one booted nspawn container on a host
# whose PID 1 is not systemd: --register=no --keep-unit, a cgroup of its
# own per launch, commands entered with nsenter.

# nspawn_start ROOTFS LOG CGROUP: boots ROOTFS (a volatile overlay) in
# cgroup CGROUP, logging to LOG; sets $nspawn (its pid) and $init (the
# container's systemd) once that exists.
nspawn_start() {
  local rootfs=$1 log=$2 cg=$3 c
  (
    for h in systemd unified; do mkdir -p "/sys/fs/cgroup/$h/$cg"; echo $BASHPID > "/sys/fs/cgroup/$h/$cg/cgroup.procs"; done
    exec systemd-nspawn --quiet --boot --register=no --keep-unit --volatile=overlay -D "$rootfs" </dev/null >"$log" 2>&1
  ) &
  nspawn=$!
  init=
  until [ -n "$init" ]; do
    kill -0 "$nspawn" 2>/dev/null || { echo "systemd-nspawn exited:" >&2; cat "$log" >&2; exit 1; }
    # nspawn's short-lived setup child comes first; the init is the child named systemd.
    for c in $(cat "/proc/$nspawn/task/$nspawn/children" 2>/dev/null); do
      [ "$(cat "/proc/$c/comm" 2>/dev/null)" = systemd ] && init=$c
    done
    sleep 0.005
  done
}

# inside PID CMD...: runs CMD in every namespace of PID, with a clean environment.
inside() { nsenter -t "$1" --all env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "${@:2}"; }

# nspawn_stop CGROUP: stops $nspawn and removes its cgroups. The
# container's last processes may still be exiting: retry until they go.
nspawn_stop() {
  local cg=$1 h
  kill -TERM "$nspawn"
  wait "$nspawn" || true
  for h in systemd unified; do
    for _ in $(seq 100); do
      find "/sys/fs/cgroup/$h/$cg" -depth -type d -exec rmdir {} \; 2>/dev/null
      [ -d "/sys/fs/cgroup/$h/$cg" ] || break
      sleep 0.01
    done
  done
}
