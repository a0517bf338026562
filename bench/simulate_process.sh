#!/usr/bin/env bash
# End to end: `awan simulate --synthetic N` on the 500k fleet as a user runs it (generation, the
# simulation, the summary), with wall time and peak memory from GNU time. Target for N = 1,000,000:
# <= 2 minutes and <= 2 GiB.
# Run: bench/simulate_process.sh [N] [extra awan simulate options...]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
shift || true
bin=build/release/bin/awan
[[ -x "$bin" ]] || { echo "build first: scripts/build release" >&2; exit 2; }
log="$(mktemp)"
/usr/bin/time -f '%e %M' -o "$log" "$bin" simulate --fleet examples/fleets/500k.yaml --synthetic "$n" -q "$@" >/dev/null
read -r wall kb <"$log"
rm -f "$log"
printf 'awan simulate --synthetic %s %s: %.1f s end to end, peak memory %.0f MiB (targets: <= 120 s, <= 2048 MiB)\n' \
  "$n" "$*" "$wall" "$(echo "$kb / 1024" | bc -l)"
