#!/usr/bin/env bash
# Fuzzes the parsers of untrusted input for a bounded time each and prints one Markdown
# table row per target (docs/BENCHMARKS.md, "Fuzzing"). Not part of CI: it needs the nightly
# toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`), and it keeps a core busy.
#
#   bench/fuzz.sh                      # every target, 180 s each
#   FUZZ_SECONDS=60 bench/fuzz.sh jsonrpc
#
# Environment: FUZZ_SECONDS (per target, default 180), CARGO_TARGET_DIR (default fuzz/target),
# FUZZ_WORK (corpora, logs and crash artifacts; default $CARGO_TARGET_DIR/fuzz-work). The
# corpus of each target starts from the committed seeds and grows across runs.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-180}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(jsonrpc config manifest)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/fuzz/target}
work=${FUZZ_WORK:-$CARGO_TARGET_DIR/fuzz-work}
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')

seeds_of() {
  case "$1" in
    jsonrpc) echo "$root/fuzz/seeds/jsonrpc" ;;
    config) echo "$root/crates/config/tests/fixtures" ;;
    manifest) echo "$root/examples/manifests $root/examples/quickstart" ;;
    *) echo "unknown target $1" >&2; exit 2 ;;
  esac
}

# cargo fuzz builds one target or all of them; build each asked for (cheap after the first).
for t in "${targets[@]}"; do
  (cd "$root/fuzz" && cargo +nightly fuzz build -O --debug-assertions "$t" >&2)
done

echo "| target | seconds | executions | exec/s | corpus | crashes |"
echo "|---|---|---|---|---|---|"
status=0
for t in "${targets[@]}"; do
  corpus="$work/corpus/$t" artifacts="$work/artifacts/$t/" logs="$work/logs/$t"
  mkdir -p "$corpus" "$artifacts" "$logs"
  for dir in $(seeds_of "$t"); do
    find "$dir" -maxdepth 1 -type f \( -name '*.json' -o -name '*.yaml' \) -exec cp -n {} "$corpus/" \;
  done
  before=$(find "$artifacts" -type f | wc -l)
  start=$(date +%s)
  # -jobs=1: one worker process, its output in fuzz-0.log of the working directory.
  (cd "$logs" && "$CARGO_TARGET_DIR/$triple/release/$t" "$corpus" \
      -max_total_time="$seconds" -jobs=1 -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
      -print_final_stats=1 -artifact_prefix="$artifacts" >"$logs/main.log" 2>&1) || status=1
  elapsed=$(( $(date +%s) - start ))
  log="$logs/fuzz-0.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  execs=${execs:-0}
  found=$(( $(find "$artifacts" -type f | wc -l) - before ))
  echo "| $t | $elapsed | $execs | $(( execs / (elapsed > 0 ? elapsed : 1) )) | $(find "$corpus" -type f | wc -l) files | $found |"
  if [ "$found" -gt 0 ]; then
    echo "$t: new artifacts in $artifacts (log: $log)" >&2
  fi
done
exit $status
