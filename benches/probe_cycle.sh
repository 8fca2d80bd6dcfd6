#!/usr/bin/env bash
# Warm probe cycle (issue 10): boot debian:systemd, check that
# systemd-journald is active inside, stop; `warren probe` against
# systemd-nspawn --volatile=overlay doing the same, ROUNDS times each in
# the same run. Prints the mean seconds per cycle and the ratio.
#
# nspawn runs as the probe notes found it works on a host whose PID 1 is
# not systemd: --register=no --keep-unit, each launch from a cgroup of its
# own; commands enter it with nsenter. Its root is the same image, unpacked
# from the fixture's OCI layout with umoci.
#
# A probe is torn down with SIGKILL to its systemd (nothing of it is kept);
# nspawn halts its container as it does on SIGTERM. warren's mean time per
# phase (up to ready, checks, down) comes from `probe --json`.
#
# Usage: benches/probe_cycle.sh [ROUNDS]   (default 5; needs root, jq,
# systemd-container and the fixture: scripts/fixtures/registry.sh systemd)
set -euo pipefail
rounds=${1:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=benches/nspawn.sh
. "$here/benches/nspawn.sh"
warren=${WARREN:-$here/target/release/warren}
[ -x "$warren" ] || { echo "build first: cargo build --release" >&2; exit 1; }
command -v systemd-nspawn >/dev/null || { echo "needs systemd-nspawn (apt-get install systemd-container)" >&2; exit 1; }
eval "$(bash "$here/scripts/fixtures/registry.sh" systemd | grep '^WARREN_')"
export WARREN_REGISTRIES WARREN_STORE=${WARREN_STORE:-/var/lib/warren}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
layout=$(ls -d "$WARREN_FIXTURE_DIR"/images/debian-systemd-* | head -1)
umoci unpack --image "$layout:debian-systemd" "$work/bundle" >/dev/null
rootfs=$work/bundle/rootfs
"$warren" image pull debian:systemd >/dev/null 2>&1

now() { date +%s%N; }
t0=$(now)
for ((i = 0; i < rounds; i++)); do
  "$warren" probe --image debian:systemd --check-unit systemd-journald --settle 10 --json >"$work/probe-$i.json"
done
t1=$(now)
for ((i = 0; i < rounds; i++)); do
  cg=wbench-$$-$i
  nspawn_start "$rootfs" "$work/nspawn-$i.log" "$cg"
  until inside "$init" systemctl is-active -q systemd-journald 2>/dev/null; do
    sleep 0.01
  done
  nspawn_stop "$cg"
done
t2=$(now)
w=$(echo "($t1 - $t0) / $rounds / 1000000000" | bc -l)
n=$(echo "($t2 - $t1) / $rounds / 1000000000" | bc -l)
printf 'warm probe cycle (boot, systemd-journald active, stop), mean of %d rounds\n' "$rounds"
phases=$(cat "$work"/probe-*.json | jq -rs --argjson n "$rounds" \
  '[(map(.seconds.up) | add / $n), (map(.seconds.checks) | add / $n), (map(.seconds.down) | add / $n)] | map(. * 1000 | floor | tostring + " ms") | "up to ready " + .[0] + ", checks " + .[1] + ", down " + .[2]')
printf '  warren probe:  %.3f s\n  systemd-nspawn: %.3f s\n  ratio warren/nspawn: %.2f (target: <= 0.3 s and no slower than nspawn)\n' "$w" "$n" "$(echo "$w / $n" | bc -l)"
printf '  warren phases: %s (as warren probe --json reports them)\n' "$phases"
