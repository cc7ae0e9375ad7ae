#!/usr/bin/env bash
# The daemon under valgrind memcheck over a short scenario: mount, create and write, read a file
# through every read mode, a directory walk, ctl commands, xattrs, rename and unlink, unmount;
# then stopped by SIGTERM while handles are open (no RELEASE for them: freed at exit).
# Fails on any memcheck error and on any definitely or indirectly lost block.
set -u
zcfs=$(realpath "$1")
if [ ! -c /dev/fuse ]; then
  [ "${ZCFS_REQUIRE_MOUNT:-}" = 1 ] && { echo "FAIL: /dev/fuse missing and ZCFS_REQUIRE_MOUNT=1"; exit 1; }
  echo "SKIP: no /dev/fuse"; exit 77
fi
command -v valgrind >/dev/null || { echo "FAIL: valgrind not installed (tools/deps.sh installs it)"; exit 1; }
if [ "${ZCFS_ASAN:-0}" = 1 ] || ldd "$zcfs" | grep -q libasan; then
  echo "SKIP: this zcfs is built with AddressSanitizer, which cannot run under valgrind (the normal build runs this test)"
  exit 77
fi
t=$(mktemp -d /tmp/zcfs-vg.XXXXXX); mkdir "$t/src" "$t/mnt"; pid=
cleanup() { grep -q " $t/mnt " /proc/self/mountinfo && { fusermount3 -u "$t/mnt" 2>/dev/null || fusermount3 -uz "$t/mnt"; }; [ -n "$pid" ] && wait "$pid" 2>/dev/null; rm -rf "$t"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; tail -50 "$t/vg.log"; exit 1; }
head -c 3000000 /dev/urandom > "$t/src/f"; mkdir -p "$t/src/d/e"; for i in $(seq 50); do echo $i > "$t/src/d/e/$i"; done
vg_mount() { # log-file: the daemon under memcheck, mounted; sets pid
  valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
    --error-exitcode=99 --track-fds=no --log-file="$1" "$zcfs" -f -o cache=none "$t/src" "$t/mnt" 2>"$t/log" & pid=$!
  for _ in $(seq 300); do grep -q " $t/mnt " /proc/self/mountinfo && break; sleep 0.1; done
  grep -q " $t/mnt " /proc/self/mountinfo || fail "mount under valgrind did not appear"
}
vg_check() { # log-file rc what
  grep -E "ERROR SUMMARY|definitely lost|indirectly lost|All heap blocks|in use at exit" "$1" | sed 's/^==[0-9]*== /  /'
  [ "$2" = 0 ] || { cp "$1" "$t/vg.log"; fail "$3: daemon under valgrind exited $2 (99: memcheck errors)"; }
  grep -q "ERROR SUMMARY: 0 errors" "$1" || { cp "$1" "$t/vg.log"; fail "$3: memcheck reported errors"; }
}
vg_mount "$t/vg.log"
for m in buffered direct mmap splice; do
  setfattr -n user.zcfs.mode -v "$m" "$t/mnt/f" || fail "setfattr $m"
  cmp "$t/mnt/f" "$t/src/f" || fail "content in $m"
done
dd if=/dev/urandom of="$t/mnt/w" bs=64k count=20 status=none conv=fsync || fail "write"
cmp "$t/mnt/w" "$t/src/w" || fail "written content"
find "$t/mnt/d" -type f | wc -l | grep -qx 50 || fail "walk"
for c in "residency f" "evict -r d" "prefetch f" "sync w" "flush w" "syncfs" "bogus" "residency ../x"; do
  exec 7<>"$t/mnt/.zcfs/ctl"; echo "$c" >&7; cat <&7 >/dev/null; exec 7>&-
done
cat "$t/mnt/.zcfs/stats" "$t/mnt/.zcfs/stats.json" "$t/mnt/.zcfs/config" > /dev/null
getfattr --absolute-names -d -m - "$t/mnt/f" > /dev/null; getfattr --absolute-names -n user.zcfs.effective "$t/mnt/f" > /dev/null
mv "$t/mnt/w" "$t/mnt/d/w2" && rm "$t/mnt/d/w2" && rm -r "$t/mnt/d" || fail "rename/unlink"
fusermount3 -u "$t/mnt" || fail "unmount"
wait "$pid"; rc=$?; pid=
vg_check "$t/vg.log" $rc "scenario"
echo "ok 1 - scenario: every read mode, writes, a walk, ctl, xattrs, rename, unlink; no errors or leaks"

# The daemon stopped while a file, a directory and a control file are open: no RELEASE will
# ever come for them (the kernel also drops RELEASEs still queued at unmount), and the daemon
# must close and free them itself at exit.
mkdir -p "$t/src/held"; echo held > "$t/src/held/x"
vg_mount "$t/vg2.log"
exec 3<"$t/mnt/held/x" 4<"$t/mnt/held" 5<"$t/mnt/.zcfs/stats" || fail "open handles to hold"
kill -TERM "$pid"
wait "$pid"; rc=$?; pid=
exec 3<&- 4<&- 5<&-
grep -q " $t/mnt " /proc/self/mountinfo && { fusermount3 -u "$t/mnt" 2>/dev/null || fusermount3 -uz "$t/mnt"; }
vg_check "$t/vg2.log" $rc "stopped with open handles"
echo "ok 2 - stopped by SIGTERM with a file, a directory and a control file open: no leaks"
echo "2 passed, 0 failed"
