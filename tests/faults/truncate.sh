#!/usr/bin/env bash
# Backing file truncated underneath readers: a process shrinks the backing file to a random
# size and writes the tail back, thousands of times, while 4 readers read random ranges through
# the mount. mmap mode gets the long run (the daemon replies from a mapping whose pages vanish;
# lib/eng_mmap.c), with cache=none so every read reaches the daemon, then once more with
# cache=auto; buffered, direct and splice get a shorter run each. Readers may see short reads
# or EIO, but every byte they get must be the file's byte or 0 (a cut in flight), at least one
# read must succeed, and the daemon must still answer afterwards with the final content.
#   truncate.sh ZCFS FAULTIO    env: ZCFS_TRUNC_ITERS (5000, 2500 under ZCFS_ASAN=1: the mmap run;
#                           the others get a fifth)
zcfs=$(realpath "$1") faultio=$(realpath "$2")
. "$(dirname "$0")/lib.sh"
iters=${ZCFS_TRUNC_ITERS:-$([ "${ZCFS_ASAN:-}" = 1 ] && echo 2500 || echo 5000)}
size=$((1 << 20))
zc_sentinel
zc_mount -- cache=auto
run() { # mode cache iterations
  local d="$t/mnt/$1-$2"
  mkdir "$d" || fail "mkdir"
  setfattr -n user.zcfs.mode -v "$1" "$d" && setfattr -n user.zcfs.cache -v "$2" "$d" || fail "setfattr"
  "$faultio" mkpat "$t/src/$1-$2/f" $size 0 || fail "mkpat"
  getfattr -n user.zcfs.effective --only-values "$d/f" 2>/dev/null | grep -q "mode=$1 .*cache=$2 " ||
    fail "$d/f did not get mode=$1 cache=$2"
  rm -f "$t/stop"
  timeout 60 "$faultio" readers "$d/f" 4 "$t/stop" 40 >"$t/readers.out" & local rp=$!
  local t0=$SECONDS
  timeout 40 "$faultio" truncloop "$t/src/$1-$2/f" $size "$3" || { touch "$t/stop"; fail "truncloop ($1)"; }
  touch "$t/stop"
  wait $rp; local rc=$?
  cat "$t/readers.out"
  [ $rc = 0 ] || fail "readers in $1 mode, cache=$2"
  zc_alive "$1 mode"
  timeout 10 "$faultio" check "$d/f" $size 0 || fail "final content through the mount ($1, cache=$2)"
  echo "ok $1 cache=$2: $3 truncations in $((SECONDS - t0))s, daemon alive, content intact"
}
run mmap none "$iters"
# A flood: 16 readers for the same file while it is cut, so libfuse reports many replies that
# met a vanished page; the daemon's log must stay bounded (repeated lines rate-limited).
flood_start=$SECONDS
before=$(grep -c 'writing device' "$t/log")
mkdir "$t/mnt/flood" && setfattr -n user.zcfs.mode -v mmap "$t/mnt/flood" &&
  setfattr -n user.zcfs.cache -v none "$t/mnt/flood" || fail "setfattr flood"
"$faultio" mkpat "$t/src/flood/f" $size 0 || fail "mkpat flood"
rm -f "$t/stop"
timeout 60 "$faultio" readers "$t/mnt/flood/f" 16 "$t/stop" 20 >/dev/null & rp=$!
timeout 40 "$faultio" truncloop "$t/src/flood/f" $size "$iters" || { touch "$t/stop"; fail "truncloop (flood)"; }
touch "$t/stop"; wait $rp
zc_alive "flood"
secs=$((SECONDS - flood_start + 1))
errs=$(awk '/^zcfs_read_errors_total\{mode="mmap",/{print $2}' "$t/mnt/.zcfs/stats")
lines=$(( $(grep -c 'writing device' "$t/log") - before ))
echo "flood: $errs failed mmap replies, $lines 'writing device' log lines in ${secs}s"
[ "$lines" -le $((5 * secs + 5)) ] || fail "log flooded: $lines lines in ${secs}s"
run mmap auto $((iters / 5))
for m in $(zc_modes | grep -vx mmap); do run "$m" none $((iters / 5)); done
zc_unmount || fail "daemon exited non-zero"
lines=$(wc -l < "$t/log")
echo "daemon log: $lines lines"
# Repeated lines (libfuse reporting each reply that met a vanished page) are rate-limited.
[ "$lines" -le 400 ] || fail "daemon log flooded: $lines lines: $(sort "$t/log" | uniq -c | sort -rn | head -3)"
zc_log_clean
