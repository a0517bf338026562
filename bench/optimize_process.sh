#!/usr/bin/env bash
# Times the whole `awan optimize` process (start, catalog load, parse, rank, print) on the shared
# SkyPilot catalog, against a baseline process (`awan --version`) run in the same script.
# Target (issue 2): < 50 ms. Usage: bench/optimize_process.sh [RUNS]   (after scripts/build release)
set -euo pipefail
cd "$(dirname "$0")/.."
awan=build/release/bin/awan
runs="${1:-50}"
shared=../shared/data/catalogs/skypilot
if [ ! -d "$shared" ]; then echo "optimize_process: $shared not found; skipping"; exit 0; fi

median_ms() {  # median wall time of "$@" over $runs runs, in ms
  local times=()
  for _ in $(seq "$runs"); do
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]/1000}'
}

task=examples/tasks/train-8xh100.yaml
base=$(median_ms "$awan" --version)
shared_ms=$(median_ms "$awan" optimize "$task" --catalog "$shared/v8" --catalog "$shared/v6")
builtin_ms=$(median_ms "$awan" optimize "$task")
echo "runs per figure:                               $runs"
echo "baseline: awan --version                       ${base} ms"
echo "awan optimize (shared SkyPilot catalog, 1.3k)  ${shared_ms} ms  ($(awk "BEGIN{printf \"%.1f\", $shared_ms/$base}")x baseline, target < 50 ms)"
echo "awan optimize (built-in catalog)               ${builtin_ms} ms  ($(awk "BEGIN{printf \"%.1f\", $builtin_ms/$base}")x baseline)"
