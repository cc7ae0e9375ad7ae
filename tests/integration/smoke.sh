#!/usr/bin/env bash
# Real-mount smoke test: mount, read a file through each read mode and check the bytes and the
# per-mode read counter, check ctl replies, unmount cleanly. Exit 77 (skip) without /dev/fuse
# only when ZCFS_REQUIRE_MOUNT is unset; with it set, that is a failure.
set -u
zcfs=$1
if [ ! -c /dev/fuse ]; then
  [ "${ZCFS_REQUIRE_MOUNT:-}" = 1 ] && { echo "FAIL: /dev/fuse missing and ZCFS_REQUIRE_MOUNT=1"; exit 1; }
  echo "SKIP: no /dev/fuse"; exit 77
fi
t=$(mktemp -d /tmp/zcfs-smoke.XXXXXX); mkdir "$t/src" "$t/mnt"; pid=
cleanup() { mountpoint -q "$t/mnt" && { fusermount3 -u "$t/mnt" || fusermount3 -uz "$t/mnt"; }; [ -n "$pid" ] && wait "$pid" 2>/dev/null; rm -rf "$t"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; cat "$t/log"; exit 1; }
head -c 3000000 /dev/urandom > "$t/src/f"
"$zcfs" -f -o cache=none "$t/src" "$t/mnt" 2>"$t/log" & pid=$!
for _ in $(seq 100); do mountpoint -q "$t/mnt" && break; sleep 0.1; done
mountpoint -q "$t/mnt" || fail "mount did not appear"
for m in buffered direct mmap splice; do
  setfattr -n user.zcfs.mode -v "$m" "$t/mnt/f" || fail "setfattr $m"
  cmp -s "$t/mnt/f" "$t/src/f" || fail "content differs in $m mode"
  n=$(grep "^zcfs_reads_total{mode=\"$m\"," "$t/mnt/.zcfs/stats" | awk '{print $2}')
  [ "${n:-0}" -gt 0 ] || fail "no $m reads counted"
  echo "ok $m: identical, $n reads counted"
done
setfattr -n user.zcfs.mode -v bogus "$t/mnt/f" 2>/dev/null && fail "bad mode accepted"
exec 3<>"$t/mnt/.zcfs/ctl"; echo "residency ../x" >&3; r=$(cat <&3); exec 3>&-
[[ $r == "error EPERM:"* ]] || fail "escape not refused: $r"
exec 3<>"$t/mnt/.zcfs/ctl"; echo "residency f" >&3; r=$(cat <&3); exec 3>&-
[[ $r == ok* ]] && grep -q '^pages=733$' <<<"$r" || fail "residency reply: $r"
echo "ok ctl"
# A value written with its C string NUL ("mmap\0") is refused like any bad value: stored, it
# would read back with the NUL.
python3 - "$t/mnt/f" <<'PY' || fail "xattr value with a trailing NUL"
import errno, os, sys
try:
    os.setxattr(sys.argv[1], "user.zcfs.mode", b"mmap\0")
    raise SystemExit("accepted")
except OSError as e:
    assert e.errno == errno.EINVAL, e
os.setxattr(sys.argv[1], "user.zcfs.mode", b"mmap")
assert os.getxattr(sys.argv[1], "user.zcfs.mode") == b"mmap"
PY
echo "ok user.zcfs.mode=\"mmap\\0\" refused with EINVAL, \"mmap\" stored as given"
# Control files report the size a read returns, so tools that trust st_size copy all of it.
python3 - "$t/mnt/.zcfs" "$t" <<'PY' || fail "control file sizes"
import os, shutil, sys
d, t = sys.argv[1], sys.argv[2]
for name in ("stats", "stats.json", "config"):
    st = os.stat(os.path.join(d, name))
    assert st.st_size > 0, f"{name}: st_size 0"
    shutil.copy(os.path.join(d, name), os.path.join(t, name))
    got = open(os.path.join(t, name), "rb").read()
    assert len(got) > 0 and got.endswith(b"\n"), f"{name}: copied {len(got)} bytes"
    with open(os.path.join(d, name), "rb") as f:
        assert len(f.read()) == os.fstat(f.fileno()).st_size, f"{name}: read length != fstat size"
PY
echo "ok stats, stats.json, config: st_size is what a read returns; shutil.copy copies them whole"
fusermount3 -u "$t/mnt" || fail "unmount"
wait "$pid"; rc=$?; pid=
[ $rc = 0 ] || fail "daemon exit $rc"
grep -qiE 'error|warning' "$t/log" && fail "daemon logged errors"
# Writes received through a pipe (-o splice_read) land intact.
"$zcfs" -f -o splice_read "$t/src" "$t/mnt" 2>>"$t/log" & pid=$!
for _ in $(seq 100); do mountpoint -q "$t/mnt" && break; sleep 0.1; done
mountpoint -q "$t/mnt" || fail "splice_read mount did not appear"
grep -qx 'splice_read=1' "$t/mnt/.zcfs/config" || fail "splice_read not in config"
head -c 5000000 /dev/urandom > "$t/w.ref"
dd if="$t/w.ref" of="$t/mnt/w" bs=1M conv=fsync status=none || fail "write with splice_read"
cmp -s "$t/w.ref" "$t/src/w" || fail "bytes written with splice_read differ"
fusermount3 -u "$t/mnt" || fail "unmount"
wait "$pid"; pid=
echo "ok splice_read writes"
echo "1 passed, 0 failed"
