#!/usr/bin/env bash
# The daemon killed with SIGKILL in the middle of a write stream, once per read mode (the
# remount reads with it), once with -o writeback and once with -o noopen (no handles: the writes
# go through the inode's implicit one). A writer writes patterned 64 KiB blocks
# through the mount and fsyncs every 8 blocks, recording the length each fsync acknowledged.
# After kill -9: the writer fails instead of hanging, zcfsctl reports "mount not connected"
# (exit 3) instead of hanging, `fusermount3 -uz` frees the mountpoint, and every acknowledged
# byte is in the backing file and, after a remount, readable through zcfs.
#   sigkill.sh ZCFS FAULTIO ZCFSCTL
zcfs=$(realpath "$1") faultio=$(realpath "$2") zcfsctl=$(realpath "$3")
. "$(dirname "$0")/lib.sh"
zc_sentinel
for opts in mode=splice mode=mmap mode=buffered mode=direct,writeback mode=splice,noopen; do
  mode=$opts
  zc_mount -- "$opts"
  rm -f "$t/status"
  "$faultio" wstream "$t/mnt/w" 65536 8 "$t/status" >"$t/writer.out" 2>&1 & wp=$!
  for _ in $(seq 100); do [ -s "$t/status" ] && break; sleep 0.05; done
  [ -s "$t/status" ] || fail "$mode: writer acknowledged nothing"
  sleep 0.1
  kill -9 "$pid"; wait "$pid" 2>/dev/null; pid=
  timeout 10 tail --pid="$wp" -f /dev/null || fail "$mode: writer hangs after the daemon died"
  wait "$wp"
  acked=$((10#$(cat "$t/status")))
  echo "$mode: $(cat "$t/writer.out"); acknowledged by fsync: $acked bytes"
  out=$(timeout 10 "$zcfsctl" stats "$t/mnt" 2>&1); rc=$?
  [ $rc = 124 ] && fail "zcfsctl hangs on a dead mount"
  [ $rc = 3 ] && grep -q "mount not connected" <<<"$out" || fail "zcfsctl on a dead mount: rc $rc: $out"
  timeout 10 fusermount3 -uz "$t/mnt" || fail "fusermount3 -uz"
  mountpoint -q "$t/mnt" && fail "mountpoint still mounted"
  size=$(stat -c %s "$t/src/w")
  [ "$size" -ge "$acked" ] || fail "$mode: backing has $size bytes, $acked were acknowledged"
  timeout 20 "$faultio" check "$t/src/w" "$acked" 7 || fail "$mode: acknowledged data lost in the backing file"
  zc_mount -- "$opts"
  timeout 20 "$faultio" check "$t/mnt/w" "$acked" 7 || fail "$mode: acknowledged data wrong after remount"
  zc_alive "$mode, after remount"
  zc_unmount || fail "daemon exited non-zero"
  echo "ok $mode: all $acked acknowledged bytes survived SIGKILL (backing size $size); mount recovered"
  rm -f "$t/src/w"
done
zc_log_clean
echo "1 passed, 0 failed"
