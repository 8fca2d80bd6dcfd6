#!/usr/bin/env bash
# The user-space wire without impairment against a plain veth, in the same
# run (issue 11): one lab with two links between the same two nodes, one a
# veth pair, one two taps joined by the wire (`impair: {}`). Prints iperf3
# TCP throughput and ping round-trip times over each, and the latency the
# wire adds. Target: at least 1 Gbit/s through the wire, under 100 us added.
#
# Usage: benches/wire.sh [SECONDS]   (default 5; needs root and iperf3)
# WARREN=path/to/warren picks the binary (default target/release/warren).
set -euo pipefail
secs=${1:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
warren=${WARREN:-$here/target/release/warren}
[ -x "$warren" ] || { echo "build first: cargo build --release (or set WARREN)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "needs root" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "needs iperf3" >&2; exit 1; }
work=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    "$warren" down wirebench >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
cat > "$work/wirebench.yaml" <<'YAML'
name: wirebench
nodes:
  a: {}
  b: {}
links:
  - endpoints: [a:veth, b:veth]
    ipv4: [10.62.0.1/24, 10.62.0.2/24]
  - endpoints: [a:wire, b:wire]
    ipv4: [10.62.1.1/24, 10.62.1.2/24]
    impair: {}
YAML
cd "$work"
"$warren" up -q wirebench.yaml
x() { "$warren" exec wirebench "$@"; }
x b -- iperf3 -s -p 5262 >/dev/null 2>&1 &
server=$!
sleep 0.5
declare -A gbit rtt
for path in veth wire; do
    case $path in veth) ip=10.62.0.2 ;; wire) ip=10.62.1.2 ;; esac
    x a -- ping -c 3 -q "$ip" >/dev/null
    bps=$(x a -- iperf3 -c "$ip" -p 5262 -t "$secs" -O 1 -J |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"])')
    gbit[$path]=$(python3 -c "print(f'{$bps/1e9:.2f}')")
    avg=$(x a -- ping -c 200 -i 0.005 -q "$ip" | sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p')
    rtt[$path]=$avg
    echo "$path: ${gbit[$path]} Gbit/s, ping mean rtt ${avg} ms"
done
added=$(python3 -c "print(f'{(${rtt[wire]}-${rtt[veth]})*1000:.0f}')")
echo "wire adds ${added} us of round-trip latency; throughput wire/veth: ${gbit[wire]}/${gbit[veth]} Gbit/s"
