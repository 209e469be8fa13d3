#!/usr/bin/env bash
# Measured gates judged again by this build's compare (the family-wise rule): the
# same pairs, the new verdicts. The exact step's exit codes are carried over from
# FROM/gates.txt (re-judge its records with the same build's `loadgen exact`
# rules by hand: see README.md).
# Usage: results/gate-power-2026-12-08/rejudge.sh FROM TO N
#   (after `cargo build --release --workspace`), e.g. target/power target/power-rejudged 10
set -euo pipefail
cd "$(dirname "$0")/../.."
from="${1:-target/power}"
work="${2:-target/power-rejudged}"
n="${3:-10}"
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
python3 results/gate-power-2026-12-07/summarize.py "$work" "$n" | tee "$work/summary.md"
