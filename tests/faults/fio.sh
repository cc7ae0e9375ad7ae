#!/usr/bin/env bash
# Concurrent load with verification: one fio run with a job group per read mode (the mode set
# on the group's directory), each 4 jobs of mixed random reads and writes (4-64 KiB) whose
# blocks carry crc32c checksums verified while running (verify_backlog) and fatal on a mismatch.
# Run twice: cache=auto (kernel page cache in play) and cache=none (every read reaches the
# daemon). Asserts fio succeeded, each mode read and wrote data, and the daemon stayed clean.
#   fio.sh ZCFS             env: ZCFS_SOAK=1: 16 jobs per mode for ZCFS_SOAK_SECS (180) s each
zcfs=$(realpath "$1")
. "$(dirname "$0")/lib.sh"
command -v fio >/dev/null || fail "fio is not installed (apt-get install fio)"
jobs=4 secs=3 size=8m
if [ "${ZCFS_SOAK:-}" = 1 ]; then jobs=16 secs=${ZCFS_SOAK_SECS:-180} size=32m; fi
modes=$(zc_modes)
zc_sentinel
for cache in auto none; do
  zc_mount -- "cache=$cache"
  {
    printf '[global]\nioengine=psync\nbsrange=4k-64k\nsize=%s\nrw=randrw\nverify=crc32c\n' $size
    printf 'verify_backlog=64\nverify_fatal=1\ntime_based=1\nruntime=%s\nnumjobs=%s\n' $secs $jobs
    printf 'group_reporting=1\n'
    for m in $modes; do printf '[%s]\ndirectory=%s\nnew_group\n' "$m" "$t/mnt/$m"; done
  } >"$t/job.fio"
  for m in $modes; do
    mkdir "$t/mnt/$m" && setfattr -n user.zcfs.mode -v "$m" "$t/mnt/$m" || fail "setup $m"
  done
  # fio drops verify state files in its working directory: keep them in the test dir.
  (cd "$t" && timeout $((secs * 3 + 60)) fio --output-format=terse --terse-version=3 "$t/job.fio") \
    >"$t/fio.out" 2>"$t/fio.err"; rc=$?
  [ $rc = 0 ] || { cat "$t/fio.err"; tail -3 "$t/fio.out"; fail "fio failed (rc $rc) with cache=$cache"; }
  # terse v3: 3=job name, 5=error, 6=read KiB, 47=written KiB
  while IFS=';' read -r -a f; do
    [ "${f[0]}" = 3 ] || continue
    echo "cache=$cache ${f[2]}: $jobs jobs, ${secs}s, read $((f[5] / 1024)) MiB, wrote $((f[46] / 1024)) MiB, error ${f[4]}"
    [ "${f[4]}" = 0 ] && [ "${f[5]}" -gt 0 ] && [ "${f[46]}" -gt 0 ] || fail "${f[2]}: no verified I/O"
  done <"$t/fio.out"
  [ "$(grep -c '^3;' "$t/fio.out")" = "$(echo $modes | wc -w)" ] || fail "expected a fio group per mode"
  for m in $modes; do
    what=reads; [ "$m" = passthrough ] && what=opens # the kernel reads passthrough files itself
    n=$(grep "^zcfs_${what}_total{mode=\"$m\"," "$t/mnt/.zcfs/stats" | awk '{print $2}')
    [ "${n:-0}" -gt 0 ] || fail "cache=$cache: no $m $what counted"
  done
  zc_alive "after fio, cache=$cache"
  zc_unmount || fail "daemon exited non-zero"
  rm -rf "${t:?}/src/"*/
done
zc_log_clean
echo "1 passed, 0 failed"
