#!/usr/bin/env bash
# `run --boot` cycle (issue 21): `warren run --boot --rm debian:systemd
# true` (boot to running/degraded, run `true` inside, discard) against
# systemd-nspawn --boot --volatile=overlay of the same root, waiting for
# the boot to finish, running `true` with `systemd-run --pipe --wait`
# inside, then stopping; ROUNDS times each in the same run. Prints the
# mean seconds per cycle and the ratio. The image (and, for a slim image,
# its provisioned systemd layer) is in the store before timing starts.
#
# nspawn runs as benches/probe_cycle.sh runs it on a host whose PID 1 is
# not systemd: --register=no --keep-unit, a cgroup of its own per launch,
# commands entered with nsenter.
#
# Usage: benches/run_boot.sh [ROUNDS]   (default 5; needs root, bc, umoci,
# systemd-container and the fixture: scripts/fixtures/registry.sh systemd)
set -euo pipefail
rounds=${1:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=benches/nspawn.sh
. "$here/benches/nspawn.sh"
warren=${WARREN:-$here/target/release/warren}
[ -x "$warren" ] || { echo "build first: cargo build --release (or set WARREN)" >&2; exit 1; }
command -v systemd-nspawn >/dev/null || { echo "needs systemd-nspawn (apt-get install systemd-container)" >&2; exit 1; }
eval "$(bash "$here/scripts/fixtures/registry.sh" systemd | grep '^WARREN_')"
export WARREN_REGISTRIES WARREN_STORE=${WARREN_STORE:-/var/lib/warren}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
layout=$(ls -d "$WARREN_FIXTURE_DIR"/images/debian-systemd-* | head -1)
umoci unpack --image "$layout:debian-systemd" "$work/bundle" >/dev/null
rootfs=$work/bundle/rootfs
# Warm: the image in the store and its layers unpacked.
"$warren" run --boot --rm debian:systemd true

now() { date +%s%N; }
t0=$(now)
for ((i = 0; i < rounds; i++)); do
  "$warren" run --boot --rm debian:systemd true
done
t1=$(now)
for ((i = 0; i < rounds; i++)); do
  cg=wrunboot-$$-$i
  nspawn_start "$rootfs" "$work/nspawn-$i.log" "$cg"
  # Booted, as warren run --boot waits for: running or degraded.
  until state=$(inside "$init" systemctl is-system-running 2>/dev/null; true) && [[ $state == running || $state == degraded ]]; do
    sleep 0.01
  done
  inside "$init" systemd-run --quiet --pipe --wait true
  nspawn_stop "$cg"
done
t2=$(now)
w=$(echo "($t1 - $t0) / $rounds / 1000000000" | bc -l)
n=$(echo "($t2 - $t1) / $rounds / 1000000000" | bc -l)
printf 'run --boot cycle (boot to running, `true` inside, discard), mean of %d rounds\n' "$rounds"
printf '  warren run --boot --rm:            %.3f s\n  systemd-nspawn --boot + systemd-run: %.3f s\n  ratio warren/nspawn: %.2f (goal: < 0.5 s and under nspawn)\n' "$w" "$n" "$(echo "$w / $n" | bc -l)"
