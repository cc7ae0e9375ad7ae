#!/usr/bin/env bash
# Build the libFuzzer targets (clang, ASan+UBSan) and run each for SECONDS (default 20) on a copy
# of its corpus with its dictionary; print executions per target; fail on any crash, assertion,
# leak or timeout. CI runs a short pass; a developer's long run: tools/run-fuzz.sh 600
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
dir=build-fuzz
if [ ! -f "$dir/build.ninja" ]; then
  CC=clang meson setup "$dir" -Dfuzz=true -Dtests=false -Ddocs=false -Dexamples=false \
    -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debugoptimized >/dev/null
fi
ninja -C "$dir" >/dev/null
work=$(mktemp -d /tmp/zcfs-fuzz.XXXXXX)
trap 'rm -rf "$work" /tmp/zcfs-fuzz-[bm].*' EXIT
status=0
for t in rules ctl xattr glob opts; do
  mkdir -p "$work/$t" "$work/$t-crash"
  cp tests/fuzz/corpus/$t/* "$work/$t/"
  if UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$dir/tests/fuzz/fuzz_$t" -max_total_time="$secs" \
      -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 -close_fd_mask=3 \
      -dict="tests/fuzz/$t.dict" -artifact_prefix="$work/$t-crash/" "$work/$t" >"$work/$t.log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")
    printf 'fuzz %-6s ok: %s executions in %ss, corpus %s inputs\n' "$t" "$execs" "$secs" "$(ls "$work/$t" | wc -l)"
  else
    echo "fuzz $t FAILED:"; grep -E 'ERROR|Assertion|SUMMARY|runtime error|in LLVMFuzzerTestOneInput' "$work/$t.log" | head -20 ||
      tail -20 "$work/$t.log"
    mkdir -p "$dir/crashes"
    for a in "$work/$t-crash"/*; do
      [ -f "$a" ] || continue
      cp "$a" "$dir/crashes/$t-$(basename "$a")"
      echo "input (kept as $dir/crashes/$t-$(basename "$a"); replay: $dir/tests/fuzz/fuzz_$t FILE):"
      od -c "$a" | head -12
    done
    status=1
  fi
done
exit $status
