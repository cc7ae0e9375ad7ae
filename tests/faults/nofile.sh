#!/usr/bin/env bash
# Descriptor exhaustion: the daemon runs with RLIMIT_NOFILE 64. Opening 200 files through the
# mount (in splice and in direct mode, which holds two backing descriptors per open) must end in
# errors (EMFILE or another errno), never in a crash or a wrong byte; once the files are closed,
# every file opens and reads correctly again, and the daemon answers.
#   nofile.sh ZCFS FAULTIO
zcfs=$(realpath "$1") faultio=$(realpath "$2")
. "$(dirname "$0")/lib.sh"
n=200
zc_sentinel
for m in splice direct; do
  mkdir "$t/src/$m"
  for i in $(seq 0 $((n - 1))); do "$faultio" mkpat "$t/src/$m/f$i" 65536 "$i" || fail "mkpat"; done
done
zc_mount prlimit --nofile=64:64 -- cache=auto
grep -q "^Max open files *64 *64" "/proc/$pid/limits" || fail "daemon limit not applied"
for m in splice direct; do
  setfattr -n user.zcfs.mode -v "$m" "$t/mnt/$m" || fail "setfattr"
  out=$(timeout 20 "$faultio" openmany "$t/mnt/$m" $n 65536); rc=$?
  echo "$out" | sed "s/^/$m: /"
  [ $rc = 0 ] || fail "$m: wrong data or no recovery after exhaustion"
  grep -q "first error: none" <<<"$out" && fail "$m: $n opens under a 64-descriptor limit all succeeded"
  zc_alive "$m, after exhaustion"
  # and a second round: the daemon recovered completely, not just once
  timeout 20 "$faultio" openmany "$t/mnt/$m" $n 65536 >/dev/null || fail "$m: second round"
  echo "ok $m: errors under exhaustion, full service after"
done
timeout 10 cat "$t/mnt/.zcfs/stats" >/dev/null || fail "stats unreadable after exhaustion"
zc_unmount || fail "daemon exited non-zero"
# EMFILE may be logged by libfuse when a worker cannot get a pipe; errors of the data path are not
sed "s/^/  daemon: /" "$t/log" | sort | uniq -c | head
zc_log_clean 'Too many open files'
echo "1 passed, 0 failed"
