#!/usr/bin/env bash
# Scale benchmark for `warren up` / `warren down` (issue 4).
#
# Builds a chain of N netns nodes with N-1 links and two addresses per link
# (one per end, every link and lo up) three ways in the same run, and prints
# up and down seconds for each and the ratios:
#   warren      warren up -q / warren down
#   ip-batch    one `ip -batch` for the namespaces and links, then one
#               `ip -n NS -batch` per namespace for addresses and up states
#               (ip's batch mode has no per-line namespace option)
#   ip-each     one `ip` process per operation, as a shell script would
#
# Usage: benches/scale.sh [N]   (default 1000; needs root)
set -euo pipefail
n=${1:-1000}
here=$(cd "$(dirname "$0")/.." && pwd)
warren=${WARREN:-$here/target/release/warren}
[ -x "$warren" ] || { echo "build first: cargo build --release" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=wsb$$-

# Link i joins node i-1 (interface e<i>) and node i (interface w<i>) with
# 10.X.Y.{1,2}/30 taken from a counter, so any N up to 2^20 fits.
addr() { local k=$(( $1 * 4 + $2 )); echo "10.$(( k >> 16 & 255 )).$(( k >> 8 & 255 )).$(( k & 255 ))"; }

{
  echo "name: scale"
  echo "capture: none"
  echo "nodes:"
  for ((i = 0; i < n; i++)); do echo "  n$i: {}"; done
  echo "links:"
  for ((i = 1; i < n; i++)); do
    echo "  - endpoints: [n$((i - 1)):e$i, n$i:w$i]"
    echo "    ipv4: [$(addr $i 1)/30, $(addr $i 2)/30]"
  done
} > "$work/scale.yaml"

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l | xargs printf '%.3f'; }

# --- warren
t0=$(now); "$warren" up -q --results "$work/results" "$work/scale.yaml"; t1=$(now)
"$warren" down scale > /dev/null; t2=$(now)
w_up=$(secs "$t0" "$t1"); w_down=$(secs "$t1" "$t2")

# --- ip -batch
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
t0=$(now)
ip -batch "$work/links.batch"
for ((i = 0; i < n; i++)); do ip -n "${prefix}$i" -batch "$work/ns$i.batch"; done
t1=$(now)
for ((i = 0; i < n; i++)); do echo "netns del ${prefix}$i"; done > "$work/del.batch"
ip -batch "$work/del.batch"; t2=$(now)
b_up=$(secs "$t0" "$t1"); b_down=$(secs "$t1" "$t2")

# --- one ip per operation
{
  for ((i = 0; i < n; i++)); do echo "ip netns add ${prefix}$i"; echo "ip -n ${prefix}$i link set lo up"; done
  for ((i = 1; i < n; i++)); do
    echo "ip link add e$i netns ${prefix}$((i - 1)) type veth peer name w$i netns ${prefix}$i"
    echo "ip -n ${prefix}$((i - 1)) address add $(addr $i 1)/30 dev e$i"
    echo "ip -n ${prefix}$i address add $(addr $i 2)/30 dev w$i"
    echo "ip -n ${prefix}$((i - 1)) link set e$i up"
    echo "ip -n ${prefix}$i link set w$i up"
  done
} > "$work/each.sh"
for ((i = 0; i < n; i++)); do echo "ip netns del ${prefix}$i"; done > "$work/each-del.sh"
t0=$(now); sh -e "$work/each.sh"; t1=$(now); sh -e "$work/each-del.sh"; t2=$(now)
e_up=$(secs "$t0" "$t1"); e_down=$(secs "$t1" "$t2")

ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }
printf '\nchain of %d netns nodes, %d links, %d addresses\n' "$n" $((n - 1)) $((2 * (n - 1)))
printf '%-10s %9s %9s\n' "" "up (s)" "down (s)"
printf '%-10s %9s %9s\n' warren "$w_up" "$w_down" ip-batch "$b_up" "$b_down" ip-each "$e_up" "$e_down"
printf 'warren up / ip-batch up:   %sx (target <= 1.5)\n' "$(ratio "$w_up" "$b_up")"
printf 'ip-each up / warren up:    %sx (target >= 10)\n' "$(ratio "$e_up" "$w_up")"
printf 'warren down:               %s s (target < 2)\n' "$w_down"
