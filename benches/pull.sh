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
w_totals=() s_totals=()
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# Each timed step starts after `sync`, so neither tool pays for the other's
# (or the previous run's) dirty pages; the order alternates between runs.
warren_run() {
  sync; t0=$(now); "$warren" image pull -q "$ref"
  t1=$(now); sync; t1s=$(now); "$warren" image unpack "$ref" "$run/rootfs"
  t2=$(now)
  wp=$(ms "$t0" "$t1") wu=$(ms "$t1s" "$t2")
}
skopeo_run() {
  sync; t0=$(now); skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$run/layout:bookworm"
  t1=$(now); sync; t1s=$(now); umoci unpack --image "$run/layout:bookworm" "$run/bundle" >/dev/null
  t2=$(now)
  sp=$(ms "$t0" "$t1") su=$(ms "$t1s" "$t2")
}
for i in $(seq "$runs"); do
  # A fresh directory per run; deleting the last run's trees here would
  # put their (discard) I/O under the timed steps.
  run=$work/run$i
  mkdir -p "$run"
  export WARREN_STORE=$run/store
  if [ $((i % 2)) -eq 1 ]; then warren_run; skopeo_run; else skopeo_run; warren_run; fi
  [ -f "$run/rootfs/etc/debian_version" ] && [ -f "$run/bundle/rootfs/etc/debian_version" ]
  printf 'run %d: warren pull %5d ms unpack %5d ms total %5d ms | skopeo copy %5d ms umoci unpack %5d ms total %5d ms\n' \
    "$i" "$wp" "$wu" $((wp + wu)) "$sp" "$su" $((sp + su))
  w_totals+=($((wp + wu))) s_totals+=($((sp + su)))
  tw_pull=$((tw_pull + wp)) tw_unpack=$((tw_unpack + wu)) ts_pull=$((ts_pull + sp)) ts_unpack=$((ts_unpack + su))
done
echo "mean over $runs runs: warren pull $((tw_pull / runs)) ms + unpack $((tw_unpack / runs)) ms; skopeo copy $((ts_pull / runs)) ms + umoci unpack $((ts_unpack / runs)) ms"
echo "ratio pull   (skopeo / warren): $(ratio "$ts_pull" "$tw_pull")"
echo "ratio unpack (umoci / warren):  $(ratio "$ts_unpack" "$tw_unpack")"
echo "ratio total  (skopeo+umoci / warren): $(ratio $((ts_pull + ts_unpack)) $((tw_pull + tw_unpack)))  (target >= 2)"
wm=$(median "${w_totals[@]}") sm=$(median "${s_totals[@]}")
echo "median total: warren $wm ms, skopeo+umoci $sm ms, ratio $(ratio "$sm" "$wm")"
