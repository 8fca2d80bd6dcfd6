#!/usr/bin/env bash
# Pull + unpack of the Debian fixture image (library/debian:bookworm,
# ~49 MB gzipped, one layer) from the local fixture registry:
# `warren image pull` + `warren image unpack` against `skopeo copy` +
# `umoci unpack`, in the same run, each into a fresh store/layout.
# Prints each run's times and the ratios (skopeo+umoci time / warren time).
# Target: warren at least 2x faster. Run as root (umoci unpack, owners).
# Usage: benches/pull.sh [RUNS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}

eval "$(scripts/fixtures/registry.sh debian | sed 's/^/export /')"
ref=$WARREN_FIXTURE_REGISTRY/library/debian:bookworm

cargo build --release -q -p warren-cli
warren=${CARGO_TARGET_DIR:-target}/release/warren
work=$(mktemp -d "${TMPDIR:-/tmp}/warren-pull-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
ratio() { echo "scale=2; $1 / $2" | bc; }

tw_pull=0 tw_unpack=0 ts_pull=0 ts_unpack=0
for i in $(seq "$runs"); do
  rm -rf "$work"/*
  export WARREN_STORE=$work/store
  t0=$(now); "$warren" image pull -q "$ref"
  t1=$(now); "$warren" image unpack "$ref" "$work/rootfs"
  t2=$(now)
  skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$work/layout:bookworm"
  t3=$(now); umoci unpack --image "$work/layout:bookworm" "$work/bundle" >/dev/null
  t4=$(now)
  [ -f "$work/rootfs/etc/debian_version" ] && [ -f "$work/bundle/rootfs/etc/debian_version" ]
  wp=$(ms "$t0" "$t1") wu=$(ms "$t1" "$t2") sp=$(ms "$t2" "$t3") su=$(ms "$t3" "$t4")
  printf 'run %d: warren pull %5d ms unpack %5d ms total %5d ms | skopeo copy %5d ms umoci unpack %5d ms total %5d ms\n' \
    "$i" "$wp" "$wu" $((wp + wu)) "$sp" "$su" $((sp + su))
  tw_pull=$((tw_pull + wp)) tw_unpack=$((tw_unpack + wu)) ts_pull=$((ts_pull + sp)) ts_unpack=$((ts_unpack + su))
done
echo "mean over $runs runs: warren pull $((tw_pull / runs)) ms + unpack $((tw_unpack / runs)) ms; skopeo copy $((ts_pull / runs)) ms + umoci unpack $((ts_unpack / runs)) ms"
echo "ratio pull   (skopeo / warren): $(ratio "$ts_pull" "$tw_pull")"
echo "ratio unpack (umoci / warren):  $(ratio "$ts_unpack" "$tw_unpack")"
echo "ratio total  (skopeo+umoci / warren): $(ratio $((ts_pull + ts_unpack)) $((tw_pull + tw_unpack)))  (target >= 2)"
