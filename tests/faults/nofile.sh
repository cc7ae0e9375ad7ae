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

# The limit lowered from outside after the start (prlimit --pid): the daemon notices at the
# first EMFILE and its budget follows, so opens are refused and counted as refusals (they were
# lookup and open errors only; an EMFILE that still reaches a reply counts as reason="limit"),
# and service comes back once the files are closed.
zc_mount -- cache=auto
setfattr -n user.zcfs.mode -v splice "$t/mnt/splice" || fail "setfattr"
prlimit --pid "$pid" --nofile=64:64 || fail "prlimit"
out=$(timeout 20 "$faultio" openmany "$t/mnt/splice" $n 65536); rc=$?
[ $rc = 0 ] || fail "lowered limit: wrong data or no recovery ($out)"
grep -q "first error: none" <<<"$out" && fail "lowered limit: $n opens under 64 descriptors all succeeded"
refused() { awk -v r="reason=\"$1\"" '/^zcfs_fd_refusals_total/ && index($0, r) {print $NF}' "$t/mnt/.zcfs/stats"; }
lim=$(refused limit) budget=$(refused budget)
[ $(( ${lim:-0} + ${budget:-0} )) -gt 0 ] || fail "lowered limit: no refusal counted ($out; $(grep -E 'op_errors_total.*(lookup|open)' "$t/mnt/.zcfs/stats"))"
grep -q "descriptor limit was lowered to 64" "$t/log" || fail "lowered limit not noticed: $(tail -3 "$t/log")"
zc_alive "after the limit was lowered"
echo "ok lowered limit: $lim refusals by the limit, $budget by the budget that followed it"
zc_unmount || fail "daemon exited non-zero"

# EMFILE may be logged by libfuse when a worker cannot get a pipe; errors of the data path are not
sed "s/^/  daemon: /" "$t/log" | sort | uniq -c | head
zc_log_clean 'Too many open files'
echo "2 passed, 0 failed"
