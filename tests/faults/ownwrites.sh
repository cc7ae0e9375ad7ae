#!/usr/bin/env bash
# The mount's own writes are not another process's change. zcfs keeps the mount's page cache
# while the backing file's stamp (size, mtime, ctime) is what zcfs last saw or wrote, and drops
# it when getattr or open finds another stamp. A stat taken just before a write through the
# mount, compared after that write had stored its own stamp, looked like an outside change: the
# pages were dropped while writes went on, and the kernel let a read that raced a write fill the
# cache with the bytes from before it, which then stayed (the backing file was right; a process
# read its own write back stale). Here a writer reads back each of N writes while another
# process stats the file in a loop (attr_timeout=0: every stat is a GETATTR) and opens and
# closes it, and a third reads it; under cache=auto and cache=drop. The daemon's GETATTR stat
# returns 2 ms late (slowstat.c), so writes start and end in that window on any machine (without
# it: 2 to thousands of false changes per run, by load). zcfs_external_changes_total must stay 0
# and every write must read back; then a change made in BACKING must still be seen.
#   ownwrites.sh ZCFS FAULTIO SLOWSTAT    env: ZCFS_OWNWRITES_N (writes per policy, 3000)
zcfs=$(realpath "$1") faultio=$(realpath "$2") slowstat=$(realpath "$3")
. "$(dirname "$0")/lib.sh"
n=${ZCFS_OWNWRITES_N:-3000}
size=$((4 << 20))
external() { awk '/^zcfs_external_changes_total[ {]/{print $2}' "$t/mnt/.zcfs/stats"; }
for cache in auto drop; do
  # Under AddressSanitizer the shim comes first in the preload list: let ASan accept that.
  zc_mount env LD_PRELOAD="$slowstat" SLOWSTAT_US=2000 \
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" -- "cache=$cache,attr_timeout=0"
  t0=$SECONDS
  timeout 60 "$faultio" ownwrites "$t/mnt/f" $size "$n" || fail "ownwrites (cache=$cache)"
  ext=$(external)
  [ "$ext" = 0 ] || fail "cache=$cache: $ext external changes counted, but only the mount wrote"
  cmp -s "$t/src/f" <(cat "$t/mnt/f") || fail "cache=$cache: backing and mount differ"
  # Control: a change in BACKING (another size, other bytes) is still noticed. cache=auto only:
  # under cache=drop the last close already queued a drop, which absorbs the change uncounted.
  # g is held open meanwhile: an inode the kernel forgot (drop_caches) comes back with no stamp.
  if [ $cache = auto ]; then
    "$faultio" mkpat "$t/mnt/g" 65536 1 && "$faultio" check "$t/mnt/g" 65536 1 || fail "mkpat g"
    exec 7<"$t/mnt/g"
    "$faultio" mkpat "$t/src/g" 69632 2 || fail "rewrite g in BACKING"
    "$faultio" check "$t/mnt/g" 69632 2 || fail "cache=$cache: BACKING's change not seen"
    exec 7<&-
    ext=$(external)
    [ "${ext:-0}" -ge 1 ] || fail "cache=$cache: BACKING's change not counted"
  fi
  echo "ok cache=$cache: $n writes in $((SECONDS - t0))s, no external change counted"
  zc_unmount || fail "daemon exited non-zero (cache=$cache)"
  zc_log_clean
  rm -f "$t/src/f" "$t/src/g"
done
