#!/usr/bin/env bash
# zcfsctl against a live mount: every subcommand, its output parsed (JSON through python3), the
# counters and residency figures checked against what the test itself did, and the exit code of
# each failure (usage, not a zcfs mount, dead mount, non-owner, missing file).
set -u
zcfs=$(realpath "$1") ctl=$(realpath "$2")
if [ ! -c /dev/fuse ]; then
  [ "${ZCFS_REQUIRE_MOUNT:-}" = 1 ] && { echo "FAIL: /dev/fuse missing and ZCFS_REQUIRE_MOUNT=1"; exit 1; }
  echo "SKIP: no /dev/fuse"; exit 77
fi
t=$(mktemp -d /tmp/zcfs-cli.XXXXXX); chmod 755 "$t"; mkdir "$t/src" "$t/mnt" "$t/mnt2" "$t/src2"
pid= pid2=
cleanup() {
  for m in "$t/mnt" "$t/mnt2"; do grep -q " $m " /proc/self/mountinfo && { fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m"; }; done
  [ -n "$pid" ] && { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
  [ -n "$pid2" ] && { kill -9 "$pid2" 2>/dev/null; wait "$pid2" 2>/dev/null; }
  rm -rf "$t"
}
trap cleanup EXIT
n=0
fail() { echo "FAIL: $*"; echo "--- daemon log:"; cat "$t/log"; exit 1; }
ok() { n=$((n + 1)); echo "ok $n - $*"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
wait_mount() { for _ in $(seq 100); do grep -q " $1 " /proc/self/mountinfo && return 0; sleep 0.1; done; return 1; }
expect_rc() { # expected-rc description command...
  local want=$1 what=$2; shift 2
  timeout 20 "$@" >"$t/out" 2>"$t/err"; local rc=$?
  [ $rc = "$want" ] || { cat "$t/out" "$t/err"; fail "$what: exit $rc, expected $want"; }
}

head -c $((8 << 20)) /dev/urandom > "$t/src/big"
mkdir -p "$t/src/d/e"; for i in 1 2 3; do head -c 100000 /dev/urandom > "$t/src/d/e/f$i"; done
echo hello > "$t/outside"
"$zcfs" -f -o allow_other,default_permissions,cache=keep "$t/src" "$t/mnt" 2>"$t/log" & pid=$!
wait_mount "$t/mnt" || fail "mount did not appear"
cd "$t/mnt" || fail "cd"

# --- mode / cache / effective
expect_rc 0 "mode show" "$ctl" mode big; grep -q '^big: (not set)$' "$t/out" || fail "mode show: $(cat "$t/out")"
expect_rc 0 "mode set" "$ctl" mode big d buffered
[ "$(getfattr --only-values -n user.zcfs.mode big)" = buffered ] || fail "xattr not set on big"
[ "$(getfattr --absolute-names --only-values -n user.zcfs.mode "$t/src/d")" = buffered ] || fail "xattr not stored on backing d"
expect_rc 2 "bad mode" "$ctl" mode big bogus
grep -q "neither a file nor a mode" "$t/err" || fail "bad mode message: $(cat "$t/err")"
expect_rc 2 "plan cancel -1" "$ctl" prefetch --cancel -1 .; grep -q "got '-1'" "$t/err" || fail "cancel -1: $(cat "$t/err")"
[ "$(getfattr --only-values -n user.zcfs.mode big)" = buffered ] || fail "bad mode changed the xattr"
expect_rc 0 "effective json" "$ctl" --json effective d/e/f1 big
[ "$(json 'd[0]["mode"], d[0]["mode_source"], d[1]["mode_source"]' < "$t/out")" = "buffered dir:d xattr" ] \
  || fail "effective json: $(cat "$t/out")"
expect_rc 0 "cache set" "$ctl" cache d/e/f2 none
expect_rc 0 "effective" "$ctl" effective d/e/f2
grep -q 'cache=none (from xattr)' "$t/out" || fail "effective text: $(cat "$t/out")"
expect_rc 0 "mode clear" "$ctl" mode --clear d
getfattr --absolute-names -n user.zcfs.mode "$t/src/d" >/dev/null 2>&1 && fail "mode --clear left the xattr"
ok "mode, cache, effective: set, show, clear, refuse a bad name"

# --- counters move by exactly what we read
expect_rc 0 "stats json" "$ctl" stats --json
b0=$(json 'd["modes"]["buffered"]["bytes"]' < "$t/out")
cat big > /dev/null
for _ in $(seq 100); do # counters are updated right after each reply: let the daemon catch up
  expect_rc 0 "stats json" "$ctl" stats . --json
  b1=$(json 'd["modes"]["buffered"]["bytes"]' < "$t/out")
  [ $((b1 - b0)) -ge $((8 << 20)) ] && break; sleep 0.02
done
[ $((b1 - b0)) = $((8 << 20)) ] || fail "buffered bytes moved by $((b1 - b0)), expected $((8 << 20))"
expect_rc 0 "stats table" "$ctl" stats
for m in buffered direct mmap splice; do grep -qE "^$m +[0-9]+ " "$t/out" || fail "stats table lacks $m: $(cat "$t/out")"; done
expect_rc 0 "stats prom" "$ctl" stats --prom
grep -q '^zcfs_read_bytes_total{mode="buffered",mount="'"$t/mnt"'",node="[^"]*"} '"$b1"'$' "$t/out" || fail "prom bytes != json bytes"
ok "stats: table, --json, --prom agree; buffered bytes moved by exactly 8 MiB"

# --- residency of both caches around evict and prefetch (big was just read with cache=keep)
res() { "$ctl" --json residency big > "$t/out" || fail "residency"; json "d['files'][0]['$1']" < "$t/out"; }
[ "$(res pages)" = 2048 ] || fail "pages"
# The kernel (DAMON proactive reclaim on this VM) may take cold pages back at any time, all of
# them under memory pressure while the stats above were read: read again right before looking,
# and call at least 3/4 resident.
for try in 1 2 3; do
  cat "$t/mnt/big" > /dev/null
  b=$(res backing_resident_pages) m=$(res mount_resident_pages)
  [ "$b" -ge 1536 ] && [ "$m" -ge 1536 ] && break
done
[ "$b" -ge 1536 ] || fail "backing not resident after read: $(cat "$t/out")"
[ "$m" -ge 1536 ] || fail "mount cache not resident after read (cache=keep): $(cat "$t/out")"
expect_rc 0 "evict" "$ctl" --json evict big
[ "$(json 'd["before_bytes"] >= 7 << 20, d["after_bytes"]' < "$t/out")" = "True 0" ] || fail "evict json: $(cat "$t/out")"
[ "$(res backing_resident_pages) $(res mount_resident_pages)" = "0 0" ] || fail "after evict: $(cat "$t/out")"
expect_rc 0 "prefetch" "$ctl" prefetch big
grep -q '^prefetch: 1 files' "$t/out" || fail "prefetch text: $(cat "$t/out")"
# prefetch reads the whole file; reclaim may take a few pages back before we look
[ "$(res backing_resident_pages)" -ge 1536 ] && [ "$(res mount_resident_pages)" = 0 ] || fail "after prefetch: $(cat "$t/out")"
ok "residency: both caches full after a read, empty after evict, backing full after prefetch"

expect_rc 0 "residency -r -v" "$ctl" residency -r -v .
[ "$(grep -cE '^\[.*\] +[0-9]+%' "$t/out")" = 4 ] || fail "expected 4 map lines: $(cat "$t/out")"
grep -q '^  files: 4 ' "$t/out" || fail "summary: $(cat "$t/out")"
grep -q '\.zcfs' "$t/out" && fail "walked into the control directory"
expect_rc 0 "residency outside" "$ctl" residency "$t/outside"
grep -q 'not a zcfs mount: one cache' "$t/out" || fail "outside: $(cat "$t/out")"
expect_rc 0 "evict -r" "$ctl" evict -r d
[ -s "$t/err" ] && fail "progress bar written to a non-terminal: $(cat "$t/err")"
grep -q '^evict: 3 files' "$t/out" || fail "evict -r: $(cat "$t/out")"
expect_rc 0 "sync" "$ctl" sync -r d
expect_rc 0 "flush" "$ctl" flush big
expect_rc 1 "residency missing" "$ctl" residency nothere
expect_rc 1 "dir without -r" "$ctl" evict d
grep -q 'use -r' "$t/err" || fail "dir without -r message"
ok "residency -r -v, outside a mount, evict/sync/flush -r, errors for missing files and dirs"

# --- watch: per-interval lines while a reader runs
( for _ in 1 2 3 4 5 6; do "$ctl" evict big >/dev/null; cat big > /dev/null; sleep 0.1; done ) &
rd=$!
expect_rc 0 "watch" "$ctl" stats --watch 0.4 --count 3
wait $rd
[ "$(grep -cE '^[0-9]{2}:[0-9]{2}:[0-9]{2} ' "$t/out")" -ge 3 ] || fail "watch lines: $(cat "$t/out")"
grep -qE ' buffered +[0-9]+ +[0-9.]+ ' "$t/out" || fail "watch saw no buffered reads: $(cat "$t/out")"
ok "stats --watch prints per-interval rates"

# --- bench
expect_rc 0 "bench" "$ctl" --json bench benchfile --size 4M --modes buffered,splice
[ "$(json 'len(d["results"]), all(r["mb_per_s"] > 0 and r["daemon_reads"] > 0 for r in d["results"])' < "$t/out")" = "4 True" ] \
  || fail "bench json: $(cat "$t/out")"
getfattr -n user.zcfs.mode benchfile >/dev/null 2>&1 && fail "bench left its mode xattr behind"
ok "bench: 2 modes x cold/warm, each counted by the daemon"
expect_rc 0 "bench passthrough" "$ctl" --json bench benchfile --modes passthrough
if "$zcfs" --version | grep -q passthrough; then
  [ "$(json 'len(d["results"]), all(r["daemon_reads"] == 0 for r in d["results"])' < "$t/out")" = "2 True" ] \
    || fail "bench passthrough: $(cat "$t/out") $(cat "$t/err")"
else
  grep -q 'passthrough left out: this mount serves it by splice(ENOSYS)' "$t/err" || fail "bench passthrough 3.14: $(cat "$t/err")"
fi
ok "bench passthrough: no daemon reads where it works, left out with the reason where it does not"

# --- failures: usage, not zcfs, non-owner
expect_rc 2 "unknown command" "$ctl" frobnicate
expect_rc 2 "unknown option" "$ctl" residency --frob big
expect_rc 3 "not zcfs" "$ctl" stats /tmp
grep -q 'not on a zcfs mount' "$t/err" || fail "not-zcfs message"
chmod 644 big
expect_rc 1 "non-owner evict" setpriv --reuid=54321 --regid=54321 --clear-groups "$ctl" evict "$t/mnt/big"
grep -q 'EACCES\|Permission denied' "$t/err" || fail "non-owner message: $(cat "$t/err")"
expect_rc 0 "non-owner stats" setpriv --reuid=54321 --regid=54321 --clear-groups "$ctl" stats "$t/mnt"
ok "exit codes: 2 usage, 3 not zcfs, 1 non-owner ctl (stats stays readable)"

# --- a dead mount says so instead of hanging
"$zcfs" -f "$t/src2" "$t/mnt2" 2>"$t/log2" & pid2=$!
wait_mount "$t/mnt2" || fail "second mount"
kill -9 "$pid2"; wait "$pid2" 2>/dev/null; pid2=
expect_rc 3 "dead mount" "$ctl" stats "$t/mnt2"
grep -q 'mount not connected' "$t/err" || fail "dead mount message: $(cat "$t/err")"
fusermount3 -uz "$t/mnt2" || fail "fusermount3 -uz"
ok "a dead mount: exit 3, 'mount not connected', recoverable with fusermount3 -uz"

# --- doctor: this machine, a fake root, a backing directory
expect_rc 0 "doctor" "$ctl" --json doctor "$t/src"
[ "$(json 'd["can_mount"], {c["check"]: c["status"] for c in d["checks"]}["/dev/fuse"] != "fail"' < "$t/out")" = "True True" ] \
  || fail "doctor json: $(cat "$t/out")"
json '[c["check"] for c in d["checks"]]' < "$t/out" | grep -q "'xattr'" || fail "doctor skipped the backing checks"
want=ok; [ -d "/lib/modules/$(uname -r)" ] || want=warning # absent here: a warning, not a failure
[ "$(json '{c["check"]: c["status"] for c in d["checks"]}["modules"]' < "$t/out")" = $want ] || fail "modules check"
fake=$t/fake; mkdir -p "$fake/proc" "$fake/etc" "$fake/sys/module"
printf 'nodev\tsysfs\n' > "$fake/proc/filesystems"
expect_rc 4 "doctor fake" "$ctl" doctor --root "$fake"
grep -qE '^fail +/dev/fuse' "$t/out" || fail "fake root: /dev/fuse not failed: $(cat "$t/out")"
grep -q 'fix: ' "$t/out" || fail "fake root: no fix given"
mkdir -p "$fake/dev" "$fake/sys/module/fuse"; mknod "$fake/dev/fuse" c 10 229; chmod 666 "$fake/dev/fuse"
printf 'nodev\tfuse\n' >> "$fake/proc/filesystems"
printf 'user_allow_other\n' > "$fake/etc/fuse.conf"
mkdir -p "$fake/usr/bin"; : > "$fake/usr/bin/fusermount3"; chmod 4755 "$fake/usr/bin/fusermount3"
expect_rc 0 "doctor fake ok" "$ctl" --json doctor --root "$fake"
[ "$(json '{c["check"]: c["status"] for c in d["checks"]}["fuse.conf"]' < "$t/out")" = ok ] || fail "fake fuse.conf: $(cat "$t/out")"
ok "doctor: ready here, fails without /dev/fuse (exit 4), reads a fake root"
st() { json '{c["check"]: c["status"] + " " + c["detail"] for c in d["checks"]}["'"$1"'"]' < "$t/out"; }
st passthrough | grep -q '^warning could not tell' || fail "fake root without kernel config: $(st passthrough)"
st io_uring | grep -q '^warning no /sys/module/fuse/parameters/enable_uring' || fail "fake io_uring: $(st io_uring)"
mkdir -p "$fake/boot" "$fake/sys/module/fuse/parameters"
printf '# CONFIG_FUSE_PASSTHROUGH is not set\nCONFIG_FUSE_IO_URING=y\n' > "$fake/boot/config-$(uname -r)"
echo N > "$fake/sys/module/fuse/parameters/enable_uring"
expect_rc 0 "doctor fake features" "$ctl" --json doctor --root "$fake"
st passthrough | grep -q '^warning CONFIG_FUSE_PASSTHROUGH=n in /boot/config-.*served by splice' || fail "fake passthrough=n: $(st passthrough)"
st io_uring | grep -q '^warning .*disabled (enable_uring=N)' || fail "fake enable_uring=N: $(st io_uring)"
json '[c["fix"] for c in d["checks"] if c["check"] == "io_uring"][0]' < "$t/out" | grep -q 'echo Y > /sys/module/fuse/parameters/enable_uring' \
  || fail "io_uring fix: $(cat "$t/out")"
sed -i 's/.*PASSTHROUGH.*/CONFIG_FUSE_PASSTHROUGH=y/' "$fake/boot/config-$(uname -r)"; echo Y > "$fake/sys/module/fuse/parameters/enable_uring"
expect_rc 0 "doctor fake features on" "$ctl" --json doctor --root "$fake"
st passthrough | grep -q '^ok the kernel passes files through' || fail "fake passthrough=y: $(st passthrough)"
st io_uring | grep -q '^ok .*enabled' || fail "fake enable_uring=Y: $(st io_uring)"
want=warning; "$zcfs" --version | grep -q passthrough && want=ok
[ "$(st libfuse | cut -d' ' -f1)" = $want ] || fail "libfuse check: $(st libfuse) for $("$zcfs" --version)"
ok "doctor: libfuse build features; kernel passthrough from /boot/config-*; io_uring enable_uring N/Y with the fix"

cd /
fusermount3 -u "$t/mnt" || fail "unmount"
wait "$pid"; rc=$?; pid=
[ $rc = 0 ] || fail "daemon exit $rc"
grep -iE 'error|warning' "$t/log" && fail "daemon logged errors"
echo "$n passed, 0 failed"
