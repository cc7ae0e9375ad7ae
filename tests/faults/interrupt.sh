#!/usr/bin/env bash
# Interrupted CREATEs: when the reply to a CREATE cannot be delivered (the caller was
# interrupted), the daemon frees the handle and also drops the kernel reference it took for the
# new entry, which the kernel never saw. replyfault.so fails every 3rd CREATE reply that way; after
# the kernel forgets everything (drop_caches) the daemon's inode table must be empty again, and no
# reference count may have gone below zero.   interrupt.sh ZCFS REPLYFAULT_SO
zcfs=$(realpath "$1") shim=$(realpath "$2")
. "$(dirname "$0")/lib.sh"
# An ASan daemon wants its runtime first; the shim has none of its own.
zc_sentinel
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
REPLYFAULT_CREATE_EVERY=3 LD_PRELOAD=$shim zc_mount -- cache=auto
mkdir "$t/mnt/d" || fail "mkdir"
# O_EXCL: a create whose reply failed is retried by the caller (EINTR) and then finds its file.
failed=$(python3 - "$t/mnt/d" <<'PY'
import os, sys
failed = 0
for i in range(300):
    try:
        os.close(os.open(os.path.join(sys.argv[1], f"f{i}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except OSError:
        failed += 1
print(failed)
PY
)
[ $failed -ge 90 ] || fail "only $failed of 300 creates failed: the fault did not apply"
ls "$t/src/d" | wc -l | grep -qx 300 || fail "backing has $(ls "$t/src/d" | wc -l) files"
inodes=
for _ in $(seq 50); do
  echo 3 > /proc/sys/vm/drop_caches
  inodes=$(awk '/^zcfs_inodes[ {]/{print $2}' "$t/mnt/.zcfs/stats")
  [ "$inodes" -le 1 ] && break
  sleep 0.2
done
under=$(awk '/^zcfs_nlookup_underflows_total[ {]/{print $2}' "$t/mnt/.zcfs/stats")
echo "creates that failed as interrupted: $failed of 300; inodes after drop_caches: $inodes; underflows: $under"
[ "$inodes" -le 1 ] || fail "$inodes inodes still in the table after the kernel forgot everything"
[ "$under" = 0 ] || fail "$under reference counts went below zero"
zc_alive "after interrupted creates"
zc_unmount || fail "daemon exited non-zero"
zc_log_clean
echo "ok interrupted CREATE replies: handle and kernel reference dropped"
