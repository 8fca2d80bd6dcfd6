#!/usr/bin/env bash
# Scale benchmark for `warren up` / `warren down` (issues 4 and 19).
#
# Two topologies, each built several ways in the same run:
#   chain N   N netns nodes in a line, N-1 links, two addresses per link
#   star N    N hosts on one network (a bridge in the hub), one address each
# Ways:
#   warren capture   warren up/down with the defaults (every link captured)
#   warren none      the same lab with `capture: none`
#   ip-batch         `ip -batch` for namespaces and links, then one
#                    `ip -n NS -batch` per namespace (ip's batch mode has no
#                    per-line namespace option)
#   mininet (star)   mn --topo single,N --switch lxbr --controller none
#                    --test build: builds the same star, then stops it
#                    (Debian's mininet; `mn -c` is never run: it kills by name)
# And examples/triangle.yaml (three routers, one link on the user-space
# wire with `impair:`), up + down, against the same lab without `impair:`:
# what a wired link adds to `up` (goal < 20 ms; up + down < 0.5 s).
# For each warren run: up and down seconds, the host's peak memory in use
# during up (MemAvailable low-water mark against the value before), the
# supervisor's peak RSS (VmHWM) and the kernel's slab growth, per node too.
# Memory figures are host-wide where noted, so other load on the machine
# shows in them.
#
# Usage: benches/scale.sh [chain N | star N | triangle | all]   (default
#        all: chain 1000, star 200, star 500, triangle; needs root)
#        WARREN=path/to/warren (default target/release/warren)
#        MODES="capture none" (default) or MODES=none: which warren ways to
#        run (a 10,000-node chain with capture needs 10 GiB of rings)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
warren=${WARREN:-$here/target/release/warren}
[ -x "$warren" ] || { echo "build first: cargo build --release (or set WARREN)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
work=$(mktemp -d)
# Stop the memory watcher and wait for it before removing $work: removing
# mem.stop under it left it polling forever when `up` failed.
prefix=wsb$$-
# Also delete the ip-batch way's namespaces should it stop half-way.
leftovers() {
  ip netns list | awk -v p="$prefix" 'index($1, p) == 1 { print "netns del " $1 }' > "$work/left.batch"
  [ -s "$work/left.batch" ] && ip -batch "$work/left.batch"
  return 0
}
trap 'touch "$work/mem.stop"; wait; leftovers; rm -rf "$work"' EXIT
modes=${MODES:-capture none}

now() { date +%s.%N; }
# `ip -batch FILE` in runs of 2,000 lines: ip keeps the namespace fds a
# batch's `netns` arguments open, and a 10,000-link batch ran out of them.
ip_batch() {
  split -l 2000 -d -a 3 "$1" "$1.part."
  local part
  for part in "$1".part.*; do ip -batch "$part"; done
  rm -f "$1".part.*
}
secs() { echo "$2 - $1" | bc -l | xargs printf '%.3f'; }
ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }
meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }

# Network namespaces the kernel holds (slab objects), freed ones included
# until its cleanup work has run.
netns_count() { awk '$1 == "net_namespace" { print $2 }' /proc/slabinfo; }

# Waits (at most 30 s) until the kernel holds no more than $1 + 64
# namespaces: it frees deleted namespaces later, on a workqueue that takes
# the RTNL lock, and a run's teardown must not slow the next run's `up`
# (back to back, a 1000-node teardown made the next `up` 2-5x slower).
# The slack: the count is of slab objects, and freed ones stay counted in
# partly used slabs (seen: 28 before a run, 56 after, with no namespace).
settle() { # COUNT-BEFORE
  local i
  for ((i = 0; i < 300; i++)); do
    (($(netns_count) <= $1 + 64)) && return 0
    sleep 0.1
  done
  echo "namespaces still being freed after 30 s" >&2
}

# Lowest MemAvailable (KiB) until $work/mem.stop appears, written to $1.
watch_mem() {
  local low v
  low=$(meminfo MemAvailable)
  while [ ! -e "$work/mem.stop" ]; do
    v=$(meminfo MemAvailable)
    ((v < low)) && low=$v
    sleep 0.02
  done
  echo "$low" > "$1"
}

# Link i of a chain: 10.X.Y.{1,2}/30 from a counter, so any N up to 2^20 fits.
addr() { local k=$(( $1 * 4 + $2 )); echo "10.$(( k >> 16 & 255 )).$(( k >> 8 & 255 )).$(( k & 255 ))"; }
# Host i of a star: 10.0.0.0/8 from 10.0.0.1 on (as Mininet numbers them).
host_addr() { local k=$(( $1 + 1 )); echo "10.$(( k >> 16 & 255 )).$(( k >> 8 & 255 )).$(( k & 255 ))"; }

chain_lab() { # N CAPTURE
  echo "name: scale"
  [ "$2" = none ] && echo "capture: none"
  echo "nodes:"
  for ((i = 0; i < $1; i++)); do echo "  n$i: {}"; done
  echo "links:"
  for ((i = 1; i < $1; i++)); do
    echo "  - endpoints: [n$((i - 1)):e$i, n$i:w$i]"
    echo "    ipv4: [$(addr $i 1)/30, $(addr $i 2)/30]"
  done
}

star_lab() { # N CAPTURE
  echo "name: scale"
  [ "$2" = none ] && echo "capture: none"
  echo "nodes:"
  for ((i = 0; i < $1; i++)); do echo "  h$i: {}"; done
  echo "networks:"
  echo "  lan:"
  echo "    ipv4: 10.0.0.0/8"
  echo "    members:"
  for ((i = 0; i < $1; i++)); do echo "      - h$i:eth0"; done
}

# One warren up/down; sets up, down, peak, rss, slab (MiB).
run_warren() { # FILE N
  local mem0 slab0 slab1 t0 t1 t2 pid hwm ns0
  ns0=$(netns_count)
  rm -f "$work/mem.stop"
  mem0=$(meminfo MemAvailable); slab0=$(meminfo Slab)
  watch_mem "$work/mem.low" & local watcher=$!
  t0=$(now); "$warren" up -q --results "$work/results" "$1"; t1=$(now)
  slab1=$(meminfo Slab)
  pid=$(jq -r '.supervisor.pid' /run/warren/scale/state.json)
  hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$pid/status")
  touch "$work/mem.stop"; wait "$watcher"
  "$warren" down scale > /dev/null; t2=$(now)
  settle "$ns0"
  up=$(secs "$t0" "$t1"); down=$(secs "$t1" "$t2")
  peak=$(( (mem0 - $(cat "$work/mem.low")) / 1024 ))
  rss=$(( hwm / 1024 )); slab=$(( (slab1 - slab0) / 1024 ))
  rss_node=$(( hwm / $2 )); slab_node=$(( (slab1 - slab0) / $2 ))
  rm -rf "$work/results"
}

row() { printf '%-7s %6s %-15s %8s %8s %9s %8s %8s %13s\n' "$@"; }
header() {
  row topo N way "up(s)" "down(s)" "peak MiB" "RSS MiB" "slab MiB" "KiB/node r+s"
}

# Warren both ways; sets c_up/c_down (capture) and n_up/n_down (none).
warren_both() { # TOPO N
  local mode
  for mode in $modes; do
    "${1}_lab" "$2" "$mode" > "$work/scale.yaml"
    run_warren "$work/scale.yaml" "$2"
    row "$1" "$2" "warren $mode" "$up" "$down" "$peak" "$rss" "$slab" "$rss_node+$slab_node"
    if [ "$mode" = capture ]; then c_up=$up; c_down=$down; else n_up=$up; n_down=$down; fi
  done
}

chain() { # N
  local n=$1 i t0 t1 t2
  header
  warren_both chain "$n"
  {
    for ((i = 0; i < n; i++)); do echo "netns add ${prefix}$i"; done
    for ((i = 1; i < n; i++)); do
      echo "link add e$i netns ${prefix}$((i - 1)) type veth peer name w$i netns ${prefix}$i"
    done
  } > "$work/links.batch"
  for ((i = 0; i < n; i++)); do
    {
      echo "link set lo up"
      if ((i > 0)); then echo "address add $(addr $i 2)/30 dev w$i"; echo "link set w$i up"; fi
      if ((i < n - 1)); then echo "address add $(addr $((i + 1)) 1)/30 dev e$((i + 1))"; echo "link set e$((i + 1)) up"; fi
    } > "$work/ns$i.batch"
  done
  local ns0; ns0=$(netns_count)
  t0=$(now)
  ip_batch "$work/links.batch"
  for ((i = 0; i < n; i++)); do ip -n "${prefix}$i" -batch "$work/ns$i.batch"; done
  t1=$(now)
  for ((i = 0; i < n; i++)); do echo "netns del ${prefix}$i"; done > "$work/del.batch"
  ip_batch "$work/del.batch"; t2=$(now)
  settle "$ns0"
  local b_up b_down; b_up=$(secs "$t0" "$t1"); b_down=$(secs "$t1" "$t2")
  row chain "$n" ip-batch "$b_up" "$b_down" - - - -
  [ "$modes" = "capture none" ] || return 0
  printf 'chain %d: capture/none up %sx (goal <= 1.5), capture down %s s (goal < 2)\n' \
    "$n" "$(ratio "$c_up" "$n_up")" "$c_down"
  printf 'chain %d: warren up / ip-batch up: capture %sx, none %sx\n' \
    "$n" "$(ratio "$c_up" "$b_up")" "$(ratio "$n_up" "$b_up")"
}

# examples/triangle.yaml up and down, five times each with and without its
# impaired link; medians.
triangle() {
  local i t0 t1 t2 way file
  sed '/impair:/d' "$here/examples/triangle.yaml" > "$work/triangle-veth.yaml"
  printf '%-20s %8s %8s %10s\n' triangle "up(s)" "down(s)" "up+down(s)"
  for way in wired veth; do
    file=$here/examples/triangle.yaml
    [ "$way" = veth ] && file=$work/triangle-veth.yaml
    : > "$work/tri.$way"
    for i in 1 2 3 4 5; do
      t0=$(now); "$warren" up -q --results "$work/results" "$file"; t1=$(now)
      "$warren" down triangle > /dev/null; t2=$(now)
      echo "$(secs "$t0" "$t1") $(secs "$t1" "$t2") $(secs "$t0" "$t2")" >> "$work/tri.$way"
    done
    rm -rf "$work/results"
    local med
    med=$(for k in 1 2 3; do sort -n -k$k "$work/tri.$way" | sed -n 3p | cut -d' ' -f$k; done | xargs)
    # shellcheck disable=SC2086
    printf '%-20s %8s %8s %10s\n' "$way (median of 5)" $med
    if [ "$way" = wired ]; then w_up=${med%% *}; w_total=${med##* }; else v_up=${med%% *}; fi
  done
  printf 'triangle: the wired link adds %s ms to up (goal < 20); up+down %s s (goal < 0.5)\n' \
    "$(echo "($w_up - $v_up) * 1000" | bc -l | xargs printf '%.0f')" "$w_total"
}

star() { # N
  local n=$1 i t0 t1 t2 hub=${prefix}hub
  header
  warren_both star "$n"
  {
    echo "netns add $hub"
    for ((i = 0; i < n; i++)); do
      echo "netns add ${prefix}$i"
    done
    echo "link add lan netns $hub type bridge"
    for ((i = 0; i < n; i++)); do
      echo "link add p$i netns $hub type veth peer name eth0 netns ${prefix}$i"
    done
  } > "$work/links.batch"
  {
    echo "link set lan up"
    for ((i = 0; i < n; i++)); do echo "link set p$i master lan up"; done
  } > "$work/hub.batch"
  for ((i = 0; i < n; i++)); do
    printf 'link set lo up\naddress add %s/8 dev eth0\nlink set eth0 up\n' "$(host_addr $i)" > "$work/ns$i.batch"
  done
  local ns0; ns0=$(netns_count)
  t0=$(now)
  ip_batch "$work/links.batch"
  ip -n "$hub" -batch "$work/hub.batch"
  for ((i = 0; i < n; i++)); do ip -n "${prefix}$i" -batch "$work/ns$i.batch"; done
  t1=$(now)
  { echo "netns del $hub"; for ((i = 0; i < n; i++)); do echo "netns del ${prefix}$i"; done; } > "$work/del.batch"
  ip_batch "$work/del.batch"; t2=$(now)
  settle "$ns0"
  local b_up b_down; b_up=$(secs "$t0" "$t1"); b_down=$(secs "$t1" "$t2")
  row star "$n" ip-batch "$b_up" "$b_down" - - - -
  local m_total=-
  if command -v mn > /dev/null; then
    # --test build: build the network, then stop it; the time is build +
    # stop, which Mininet does not report apart.
    t0=$(now)
    mn --topo "single,$n" --switch lxbr --controller none --test build > "$work/mn.log" 2>&1 \
      || { echo "mn failed:" >&2; tail -20 "$work/mn.log" >&2; exit 1; }
    t1=$(now); m_total=$(secs "$t0" "$t1")
    row star "$n" "mininet" "$m_total" "(in up)" - - - -
  else
    echo "mininet missing: apt-get install mininet bridge-utils (scripts/setup)" >&2
    exit 1
  fi
  [ "$modes" = "capture none" ] || return 0
  printf 'star %d: capture/none up %sx (goal <= 1.5), capture down %s s (goal < 2)\n' \
    "$n" "$(ratio "$c_up" "$n_up")" "$c_down"
  printf 'star %d: warren up / ip-batch up: capture %sx, none %sx\n' \
    "$n" "$(ratio "$c_up" "$b_up")" "$(ratio "$n_up" "$b_up")"
  local cw nw
  cw=$(echo "$c_up + $c_down" | bc -l); nw=$(echo "$n_up + $n_down" | bc -l)
  printf 'star %d: mininet build+stop / warren up+down: capture %sx (goal >= 10), none %sx (goal >= 20)\n' \
    "$n" "$(ratio "$m_total" "$cw")" "$(ratio "$m_total" "$nw")"
}

case "${1:-all}" in
  chain) chain "${2:-1000}" ;;
  star) star "${2:-200}" ;;
  triangle) triangle ;;
  all) chain 1000; echo; star 200; echo; star 500; echo; triangle ;;
  *) echo "usage: $0 [chain N | star N | triangle | all]" >&2; exit 2 ;;
esac
