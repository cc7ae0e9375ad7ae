#!/usr/bin/env bash
# Backing filesystem full: zcfs over a 4 MiB tmpfs. Writing through the mount until the space
# runs out must fail with ENOSPC (not EIO, not a crash) for write, fallocate and copy; the data
# written before is intact in every read mode; after freeing space, writes work again.
#   enospc.sh ZCFS FAULTIO
zcfs=$(realpath "$1") faultio=$(realpath "$2")
. "$(dirname "$0")/lib.sh"
extra_cleanup() { mountpoint -q "$t/src" && umount "$t/src"; }
mount -t tmpfs -o size=4m tmpfs "$t/src" || fail "cannot mount a tmpfs (need root)"
zc_sentinel
"$faultio" mkpat "$t/exp" $((1 << 20)) 5 || fail "mkpat"
zc_mount -- cache=auto
m="$t/mnt"
"$faultio" mkpat "$m/early" $((1 << 20)) 5 || fail "first 1 MiB did not fit"
sync -f "$m/early" 2>/dev/null

# write(2) through the mount until the backing is full
out=$(LC_ALL=C timeout 20 dd if=/dev/zero of="$m/big" bs=64k count=200 2>&1); rc=$?
[ $rc != 0 ] || fail "dd filled 12.5 MiB into a 4 MiB backing"
grep -q "No space left on device" <<<"$out" || fail "write error is not ENOSPC: $out"
echo "ok write: ENOSPC after $(stat -c %s "$m/big") bytes"
# the full filesystem refuses growth by fallocate and by writes of other files, also with ENOSPC
out=$(LC_ALL=C timeout 10 fallocate -l 8M "$m/falloc" 2>&1) && fail "fallocate of 8 MiB succeeded"
grep -q "No space left on device" <<<"$out" || fail "fallocate error is not ENOSPC: $out"
out=$(LC_ALL=C timeout 10 dd if=/dev/zero of="$m/small" bs=4k count=64 conv=fsync 2>&1) &&
  fail "a second writer found space"
grep -q "No space left on device" <<<"$out" || fail "second writer's error is not ENOSPC: $out"
echo "ok fallocate and a second writer: ENOSPC"

# data written before is intact, read through every mode (a new open routes again)
for mode in $(zc_modes); do
  setfattr -n user.zcfs.mode -v "$mode" "$m/early" || fail "setfattr $mode"
  timeout 10 "$faultio" check "$m/early" $((1 << 20)) 5 || fail "early data damaged ($mode)"
done
cmp -s "$t/src/early" "$t/exp" || fail "backing copy of early data damaged"
echo "ok earlier data intact in every mode"
zc_alive "backing full"

# free space: service resumes
rm -f "$m/big" "$m/small" "$m/falloc" || fail "rm through the mount"
"$faultio" mkpat "$m/after" $((1 << 20)) 6 || fail "write after freeing space"
timeout 10 "$faultio" check "$m/after" $((1 << 20)) 6 || fail "read after freeing space"
echo "ok writes work again after freeing space"
zc_unmount || fail "daemon exited non-zero"

# With -o writeback the kernel accepts the writes into its cache; the failure must then come
# from fsync (or close), still as ENOSPC, and the earlier data must stay intact.
zc_mount -- writeback
out=$(LC_ALL=C timeout 20 dd if=/dev/zero of="$m/big" bs=64k count=200 conv=fsync 2>&1) &&
  fail "writeback: dd + fsync of 12.5 MiB into a 4 MiB backing succeeded"
grep -q "No space left on device" <<<"$out" || fail "writeback: error is not ENOSPC: $out"
echo "ok writeback: $(grep -m1 "No space" <<<"$out")"
timeout 10 "$faultio" check "$m/early" $((1 << 20)) 5 || fail "writeback: early data damaged"
timeout 10 "$faultio" check "$m/after" $((1 << 20)) 6 || fail "writeback: data damaged"
zc_alive "writeback, backing full"
rm -f "$m/big"
zc_unmount || fail "daemon exited non-zero"
zc_log_clean
echo "1 passed, 0 failed"
