#!/usr/bin/env bash
# The gate's false-alarm and detection rates under the family-wise rule (issue 22):
# the experiment of ../gate-power-2026-12-07/measure.sh, run as .ci/gate runs since
# f734045: a gating regression must hold at 1 - 5%/m over the m gated figures
# (a suspect otherwise, topped up first), within a 90 s top-up budget.
#
#   A/A: the unchanged build against itself: every REGRESSED is a false alarm.
#   A/B: against inject-5pct.patch (../gate-power-2026-12-07/): 16 spin_loop()
#        after every read in echod's echo path, about 5% of server CPU per round trip.
#
# Usage: results/gate-power-2026-12-08/measure.sh [N_AA] [N_AB]   (default 10 5;
# after `cargo build --release --workspace`: plain `cargo build --release` builds
# echod alone and leaves an older loadgen). The kinds alternate while both have
# runs left.
set -euo pipefail
cd "$(dirname "$0")/../.."
old=results/gate-power-2026-12-07
n_aa="${1:-10}"
n_ab="${2:-5}"
work=target/power-family
mkdir -p "$work"
only=(--only "scaling echod reuseport w=1 conns=100" --only "scaling echod reuseport w=1 conns=1000")

rm -rf "$work/a" "$work/b"
mkdir -p "$work/a" "$work/b"
cp target/release/{echod,tokio-echo,loadgen} "$work/a/"
if [ ! -x "$work/b-build/target/release/echod" ]; then
  rm -rf "$work/b-build"
  git worktree prune
  git worktree add --detach "$work/b-build/src" HEAD >/dev/null
  git -C "$work/b-build/src" apply "$PWD/$old/inject-5pct.patch"
  CARGO_TARGET_DIR="$PWD/$work/b-build/target" cargo build --release -p echod \
    --manifest-path "$work/b-build/src/Cargo.toml" --quiet
  git worktree remove --force "$work/b-build/src"
fi
cp "$work/b-build/target/release/echod" "$work/b/"
cp target/release/{tokio-echo,loadgen} "$work/b/"

gate() { # NAME NEWDIR I
  local out="$work/$1-$3"
  rm -rf "$out"
  local t0=$SECONDS
  set +e
  "$work/a/loadgen" exact --base "$work/a" --echod "$2/echod" --out "$out-exact" \
    --format json >"$out-exact.json" 2>"$out-exact.log"
  local exact=$?
  "$2/loadgen" suite --quick --no-ports --repeat 6 --duration 1s --warmup 250ms \
    --top-up-budget 90s --base "$work/a" --out "$out" "${only[@]}" >"$out.log" 2>&1
  "$work/a/loadgen" compare "$out/base" "$out/new" --threshold 3% --informational p50 \
    --informational p99 --informational p999 --format json >"$out.json"
  local rc=$?
  set -e
  echo "$1 $3 exit=$rc exact=$exact seconds=$((SECONDS - t0))" | tee -a "$work/gates.txt"
}

: >"$work/gates.txt"
most=$((n_aa > n_ab ? n_aa : n_ab))
for i in $(seq 1 "$most"); do
  [ "$i" -le "$n_aa" ] && gate aa "$work/a" "$i"
  [ "$i" -le "$n_ab" ] && gate ab "$work/b" "$i"
done
python3 "$old/summarize.py" "$work" "$most" | tee "$work/summary.md"
