#!/usr/bin/env bash
# The pairs measured on 2026-12-07 (../gate-power-2026-12-07/measure.sh 10, kept in
# target/power/), judged again by this build's compare (the family-wise rule): the
# same runs, the new verdicts. The exact step is unchanged, so its exit codes are
# carried over from target/power/gates.txt.
# Usage: results/gate-power-2026-12-08/rejudge.sh   (from a release build)
set -euo pipefail
cd "$(dirname "$0")/../.."
from=target/power
work=target/power-rejudged
rm -rf "$work"
mkdir -p "$work"
: >"$work/gates.txt"
while read -r kind i _ exact secs; do
  set +e
  target/release/loadgen compare "$from/$kind-$i/base" "$from/$kind-$i/new" --threshold 3% \
    --informational p50 --informational p99 --informational p999 --format json \
    >"$work/$kind-$i.json"
  rc=$?
  set -e
  cp "$from/$kind-$i-exact.json" "$work/"
  echo "$kind $i exit=$rc $exact $secs" >>"$work/gates.txt"
done <"$from/gates.txt"
python3 results/gate-power-2026-12-07/summarize.py "$work" 10 | tee "$work/summary.md"
