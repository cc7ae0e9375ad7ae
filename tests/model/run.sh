#!/usr/bin/env bash
# Model-based integrity test over a real mount: for each cache policy (keep, auto, none, drop)
# mount zcfs once with -o cache=POLICY (and $ZCFS_EXTRA_OPTS: io_uring, for one), then run
# zcfs_fsx on one file per read mode (buffered, direct, mmap, splice, and passthrough where built
# with it; chosen by user.zcfs.mode on the file's directory) at the same time, each
# with a concurrent checking reader. Asserts the mode/cache each file really got, that every mode
# served reads (stats), a clean unmount and no error|warning in the daemon log.
#
#   run.sh ZCFS ZCFS_FSX
#   env: ZCFS_FSX_OPS   ops per file (default 500; a soak: ZCFS_FSX_OPS=1000000)
#        ZCFS_FSX_SEED  base seed (default: random; each file gets SEED+index; printed)
#        ZCFS_FSX_CACHES / ZCFS_FSX_MODES  subsets, e.g. ZCFS_FSX_CACHES="none"
#   A soak: ZCFS_FSX_OPS=1000000 meson test -C build zcfs-fsx --timeout-multiplier 0
# Exit 77 without /dev/fuse unless ZCFS_REQUIRE_MOUNT=1 (then 1).
set -u
zcfs=$(realpath "$1") fsx=$(realpath "$2")
ops=${ZCFS_FSX_OPS:-500}
seed=${ZCFS_FSX_SEED:-$(( (RANDOM << 15 | RANDOM) ))}
caches=${ZCFS_FSX_CACHES:-keep auto none drop}
# passthrough too where the daemon was built with it (the kernel reads; no daemon reads counted)
modes=${ZCFS_FSX_MODES:-buffered direct mmap splice$("$zcfs" --version | grep -q 'features:.*passthrough' && echo " passthrough")}
# Shared mappings of cache=none files: refused (ENODEV) unless the daemon allows them (libfuse >= 3.16).
mflag=$("$zcfs" --version | grep -q 'features:.*direct_io_allow_mmap' && echo -M)
# per-fsx-run limit: generous for the default, unbounded-ish for a soak
limit=$(( 60 + ops / 10 ))

if [ ! -c /dev/fuse ]; then
  [ "${ZCFS_REQUIRE_MOUNT:-}" = 1 ] && { echo "FAIL: /dev/fuse missing and ZCFS_REQUIRE_MOUNT=1"; exit 1; }
  echo "SKIP: no /dev/fuse"; exit 77
fi
t=$(mktemp -d /tmp/zcfs-fsx.XXXXXX); pid=
unmount() {
  if mountpoint -q "$t/mnt"; then
    timeout 10 fusermount3 -u "$t/mnt" 2>/dev/null || fusermount3 -uz "$t/mnt"
  fi
  if [ -n "$pid" ]; then
    timeout 10 tail --pid="$pid" -f /dev/null || kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null; rc=$?; pid=
    return $rc
  fi
}
cleanup() { unmount; rm -rf "$t"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$t/log" ] && sed 's/^/  daemon: /' "$t/log" | tail -20; exit 1; }

echo "zcfs-fsx: ops per file $ops, base seed $seed (replay one file: zcfs_fsx -s SEED -n OPS -R FILE)"
declare -A total
i=0
start=$SECONDS
for cache in $caches; do
  rm -rf "$t/src" "$t/mnt"; mkdir "$t/src" "$t/mnt"
  "$zcfs" -f -o "cache=$cache${ZCFS_EXTRA_OPTS:+,$ZCFS_EXTRA_OPTS}" "$t/src" "$t/mnt" 2>"$t/log" & pid=$!
  for _ in $(seq 100); do mountpoint -q "$t/mnt" && break; sleep 0.1; done
  mountpoint -q "$t/mnt" || fail "mount with cache=$cache did not appear"
  pids=()
  for mode in $modes; do
    mkdir "$t/mnt/$mode" || fail "mkdir $mode"
    setfattr -n user.zcfs.mode -v "$mode" "$t/mnt/$mode" || fail "setfattr $mode"
    s=$((seed + i)); i=$((i + 1))
    timeout -s KILL "$limit" "$fsx" -s "$s" -n "$ops" -R $mflag -B "$t/src/$mode/f" "$t/mnt/$mode/f" \
      >"$t/out.$mode" 2>&1 &
    pids+=("$!")
  done
  k=0
  for mode in $modes; do
    wait "${pids[$k]}"; rc=$?; k=$((k + 1))
    cat "$t/out.$mode"
    [ $rc = 0 ] || fail "zcfs_fsx $mode/cache=$cache exited $rc (137: timed out after ${limit}s)"
    grep -q "PASS .* mode=$mode cache=$cache " "$t/out.$mode" ||
      fail "$mode/cache=$cache: file did not get mode=$mode cache=$cache"
    total[$mode]=$(( ${total[$mode]:-0} + ops ))
  done
  for mode in $modes; do
    what=reads; [ "$mode" = passthrough ] && what=opens # the kernel reads passthrough files
    n=$(grep "^zcfs_${what}_total{mode=\"$mode\"," "$t/mnt/.zcfs/stats" | awk '{print $2}')
    [ "${n:-0}" -gt 0 ] || fail "cache=$cache: no $mode $what counted"
  done
  if [[ ,${ZCFS_EXTRA_OPTS:-}, == *,io_uring,* ]]; then
    grep -qE '^zcfs_io_uring(\{[^}]*\})? 1$' "$t/mnt/.zcfs/stats" || fail "-o io_uring given but requests come through /dev/fuse"
  fi
  unmount || fail "daemon (cache=$cache) exited non-zero"
  if grep -iE 'error|warning' "$t/log"; then fail "daemon logged errors (cache=$cache)"; fi
done
for mode in $modes; do echo "zcfs-fsx: mode $mode: ${total[$mode]} ops checked"; done
echo "zcfs-fsx: all passed in $((SECONDS - start))s"
