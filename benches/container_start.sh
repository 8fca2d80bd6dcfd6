#!/usr/bin/env bash
# Container start to first exec: `warren run` against `crun run` of the same
# root filesystem, in the same run (issue 7). Each starts a container whose
# command is `true` and waits for it to exit, ROUNDS times; the script
# prints the mean milliseconds of each and the ratio.
#
# crun 1.8.1 refuses this machine's hybrid cgroup layout ("cgroups in hybrid
# mode not supported"), so it runs in a private mount namespace with
# /sys/fs/cgroup/unified unmounted, and with cgroups disabled, which leaves
# it less to do than a default docker-style start. `crun spec` also has no
# seccomp profile, while `warren run` compiles and installs Docker's (both
# mask and write-protect the same /proc paths and set no_new_privs).
#
# A third row times `warren run --userns` (the container in a user namespace
# of its own, root on idmapped layers; issue 18) against the same crun run.
#
# Usage: [WARREN=PATH] benches/container_start.sh [ROUNDS]   (default 50; needs root)
#   WARREN: the warren binary to time (default target/release/warren; build
#   it with `cargo build --release` first, or point it at a debug build,
#   whose figures are slower and only good for comparing with each other).
set -euo pipefail
rounds=${1:-50}
here=$(cd "$(dirname "$0")/.." && pwd)
warren=${WARREN:-$here/target/release/warren}
[ -x "$warren" ] || { echo "no $warren: cargo build --release, or set WARREN=PATH" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
command -v crun >/dev/null || { echo "needs crun (apt-get install crun)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

root=$work/bundle/rootfs
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,proc,sys,dev}
cp /bin/busybox "$root/bin/busybox"
chroot "$root" /bin/busybox --install -s
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
(cd "$work/bundle" && crun spec)
# A plain `true`, no terminal, the network of the caller (as `warren run --net host`).
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["true"]
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]
c["root"]["readonly"] = False
json.dump(c, open(p, "w"))
PY

now() { date +%s%N; }
t0=$(now)
for ((i = 0; i < rounds; i++)); do
  "$warren" run --net host --name "bench$i" --rootfs "$root" true
done
t1=$(now)
for ((i = 0; i < rounds; i++)); do
  "$warren" run --userns --net host --name "bench$i" --rootfs "$root" true
done
tu=$(now)
unshare -m sh -c '
  umount /sys/fs/cgroup/unified 2>/dev/null || true
  for i in $(seq 1 '"$rounds"'); do
    crun --cgroup-manager=disabled run --bundle '"$work/bundle"' "bench$i" >/dev/null
  done'
t2=$(now)
w=$(( (t1 - t0) / rounds / 1000 ))
u=$(( (tu - t1) / rounds / 1000 ))
c=$(( (t2 - tu) / rounds / 1000 ))
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }
printf 'container start to exit of `true`, mean of %d rounds (%s)\n' "$rounds" "$warren"
printf '  warren run:          %6d us\n  warren run --userns: %6d us\n  crun run:            %6d us\n' "$w" "$u" "$c"
printf '  ratio warren/crun:          %s (target <= 1.2)\n' "$(ratio "$w" "$c")"
printf '  ratio warren --userns/crun: %s (target <= 1.2)\n' "$(ratio "$u" "$c")"
