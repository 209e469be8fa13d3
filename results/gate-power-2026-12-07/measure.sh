#!/usr/bin/env bash
# The gate's false-alarm and detection rates (issue 22), measured as .ci/gate runs
# its two steps: `loadgen exact --base BASE` (instructions, system calls and context
# switches per message, 3 alternating rounds), and the paired suite
# `loadgen suite --quick --base BASE --repeat 6 --duration 1s --warmup 250ms
# --top-up-budget 60s` then `loadgen compare BASE NEW --threshold 3%`, the suite on
# two of the quick profile's scenarios (on echod's epoll TCP echo path, where the
# slowdown is injected) to keep the experiment within the hour.
#
#   A/A: the unchanged build against itself (a copy of the same binaries): every
#        REGRESSED verdict is a false alarm.
#   A/B: the same base against a build with a spin loop added after every read in
#        echod's echo path (src/server/conn.rs; inject-5pct.patch): every scenario
#        it reaches should read REGRESSED.
#
# The A/A and A/B gates alternate, so a slow spell of the machine hits both.
# Usage: results/gate-power-2026-12-07/measure.sh [N]   (from a release build)
set -euo pipefail
cd "$(dirname "$0")/../.."
here=results/gate-power-2026-12-07
n="${1:-10}"
work=target/power
mkdir -p "$work"
scenarios=(
  "scaling echod reuseport w=1 conns=100"
  "scaling echod reuseport w=1 conns=1000"
)
only=()
for s in "${scenarios[@]}"; do only+=(--only "$s"); done

# A: this build. B: this build with the slowdown patched in, built apart.
rm -rf "$work/a" "$work/b"
mkdir -p "$work/a" "$work/b"
cp target/release/{echod,tokio-echo,loadgen} "$work/a/"
if [ ! -x "$work/b-build/target/release/echod" ] || [ "$here/inject-5pct.patch" -nt "$work/b-build/target/release/echod" ]; then
  rm -rf "$work/b-build"
  git worktree prune
  git worktree add --detach "$work/b-build/src" HEAD >/dev/null
  git -C "$work/b-build/src" apply "$PWD/$here/inject-5pct.patch"
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
    --top-up-budget 60s --base "$work/a" --out "$out" "${only[@]}" >"$out.log" 2>&1
  "$work/a/loadgen" compare "$out/base" "$out/new" --threshold 3% --informational p50 \
    --informational p99 --informational p999 --format json >"$out.json"
  local rc=$?
  set -e
  echo "$1 $3 exit=$rc exact=$exact seconds=$((SECONDS - t0))" | tee -a "$work/gates.txt"
}

: >"$work/gates.txt"
for i in $(seq 1 "$n"); do
  gate aa "$work/a" "$i"
  gate ab "$work/b" "$i"
done
# The tables of README.md.
python3 "$here/summarize.py" "$work" "$n" | tee "$work/summary.md"
