#!/usr/bin/env bash
# Scale: a tree of 200,000 files walked completely through the mount (find, and a stat of every
# file) under this machine's descriptor limit, with the daemon's descriptors staying below it and
# returning to baseline after the kernel forgets the inodes.
set -u
zcfs=$(realpath "$1")
if [ ! -c /dev/fuse ]; then
  [ "${ZCFS_REQUIRE_MOUNT:-}" = 1 ] && { echo "FAIL: /dev/fuse missing and ZCFS_REQUIRE_MOUNT=1"; exit 1; }
  echo "SKIP: no /dev/fuse"; exit 77
fi
t=$(mktemp -d /tmp/zcfs-scale.XXXXXX); mkdir "$t/src" "$t/mnt"; pid=
cleanup() { grep -q " $t/mnt " /proc/self/mountinfo && { fusermount3 -u "$t/mnt" 2>/dev/null || fusermount3 -uz "$t/mnt"; }; [ -n "$pid" ] && wait "$pid" 2>/dev/null; rm -rf "$t"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; tail -20 "$t/log"; exit 1; }
python3 - "$t/src" <<'PY'
import os, sys
r = sys.argv[1]
for d in range(200):
    p = os.path.join(r, f"d{d:03d}")
    os.mkdir(p)
    for i in range(1000):
        os.close(os.open(os.path.join(p, f"f{i:04d}"), os.O_CREAT | os.O_WRONLY, 0o644))
PY
"$zcfs" -f "$t/src" "$t/mnt" 2>"$t/log" & pid=$!
for _ in $(seq 100); do grep -q " $t/mnt " /proc/self/mountinfo && break; sleep 0.1; done
grep -q " $t/mnt " /proc/self/mountinfo || fail "mount did not appear"
base=$(ls /proc/$pid/fd | wc -l)
echo "RLIMIT_NOFILE of the daemon: $(awk '/Max open files/ {print $4 "/" $5}' /proc/$pid/limits)"
start=$SECONDS
n=$(find "$t/mnt" -path "$t/mnt/.zcfs" -prune -o -type f -print 2>"$t/find.err" | wc -l)
[ -s "$t/find.err" ] && fail "find: $(head -3 "$t/find.err")"
[ "$n" = 200000 ] || fail "find saw $n files"
m=$(cd "$t/mnt" && find . -path ./.zcfs -prune -o -type f -print0 | xargs -0 stat -c '%i' 2>"$t/stat.err" | wc -l)
[ -s "$t/stat.err" ] && fail "stat: $(head -3 "$t/stat.err")"
[ "$m" = 200000 ] || fail "stat saw $m files"
peak=$(ls /proc/$pid/fd | wc -l); rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
limit=$(awk '/Max open files/ {print $4}' /proc/$pid/limits)
[ "$peak" -lt "$limit" ] || fail "descriptors $peak reached the limit $limit"
echo "ok 1 - 200,000 files found and stated in $((SECONDS - start))s; daemon descriptors $base -> $peak (limit $limit), RSS ${rss} KiB"
for _ in $(seq 30); do echo 2 > /proc/sys/vm/drop_caches; sleep 0.3; now=$(ls /proc/$pid/fd | wc -l); [ "$now" -le $((base + 4)) ] && break; done
rss2=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
[ "$now" -le $((base + 4)) ] || fail "descriptors did not return: $now (baseline $base)"
echo "ok 2 - after the kernel forgot the inodes: descriptors $now, RSS ${rss2} KiB"
fusermount3 -u "$t/mnt" || fail "unmount"
wait "$pid"; rc=$?; pid=
[ $rc = 0 ] || fail "daemon exit $rc"
grep -iE 'error|warning' "$t/log" && fail "daemon logged errors"
echo "2 passed, 0 failed"
