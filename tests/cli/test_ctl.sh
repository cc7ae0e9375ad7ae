#!/usr/bin/env bash
# The control directory read and driven with nothing but shell tools: every file parsed
# (Prometheus text checked line by line, JSON parsed), counters moved by exact amounts, residency
# of both caches around evict and prefetch on a 256 MiB file, every ctl error path, access
# control for a non-owner, concurrent ctl users, ctl=NAME, noctl and shadowing.
set -u
zcfs=$(realpath "$1")
if [ ! -c /dev/fuse ]; then
  [ "${ZCFS_REQUIRE_MOUNT:-}" = 1 ] && { echo "FAIL: /dev/fuse missing and ZCFS_REQUIRE_MOUNT=1"; exit 1; }
  echo "SKIP: no /dev/fuse"; exit 77
fi
t=$(mktemp -d /tmp/zcfs-ctl.XXXXXX); chmod 755 "$t"; mkdir "$t/src" "$t/mnt" "$t/out"
pid=
umnt() { grep -q " $t/mnt " /proc/self/mountinfo && { fusermount3 -u "$t/mnt" 2>/dev/null || fusermount3 -uz "$t/mnt"; }; [ -n "$pid" ] && wait "$pid" 2>/dev/null; pid=; }
cleanup() { umnt; rm -rf "$t"; }
trap cleanup EXIT
n=0
fail() { echo "FAIL: $*"; echo "--- daemon log:"; cat "$t/log"; exit 1; }
ok() { n=$((n + 1)); echo "ok $n - $*"; }
mnt_up() { # options...
  "$zcfs" -f "$@" "$t/src" "$t/mnt" 2>>"$t/log" & pid=$!
  for _ in $(seq 100); do grep -q " $t/mnt " /proc/self/mountinfo && return 0; sleep 0.1; done
  fail "mount with $* did not appear"
}
ctl() { # command -> reply on stdout (one transaction on one descriptor)
  local r; exec 7<>"$t/mnt/.zcfs/ctl" || return 1
  printf '%s\n' "$1" >&7; r=$(cat <&7); exec 7>&-; printf '%s\n' "$r"
}
key() { sed -n "s/^$1=//p" | head -n1; }

head -c $((256 << 20)) /dev/zero | tr '\0' 'z' > "$t/src/big"
head -c 100000 /dev/urandom > "$t/src/small"
mkdir -p "$t/src/dir/sub" "$t/src/.zcfs"; echo shadowed > "$t/src/.zcfs/hidden"
for i in $(seq 8); do head -c $((i * 10000)) /dev/urandom > "$t/src/dir/sub/f$i"; done
ln -s /etc/passwd "$t/src/abs-link"; ln -s ../../etc "$t/src/rel-escape"; ln -s small "$t/src/in-link"
mnt_up -o allow_other,default_permissions,mode=buffered,cache=keep
setfattr -n user.zcfs.cache -v none "$t/mnt/small" || fail "setfattr" # every read reaches the daemon

# --- every file of .zcfs parses
ls -a "$t/mnt/.zcfs" | sort | tr '\n' ' ' | grep -qx '. .. config ctl stats stats.json ' || fail "listing: $(ls -a "$t/mnt/.zcfs")"
ls -a "$t/mnt" | grep -qx '.zcfs' || fail ".zcfs not listed at the root"
[ -e "$t/mnt/.zcfs/hidden" ] && fail "backing .zcfs not shadowed"
python3 - "$t/mnt/.zcfs/stats" <<'PY' || fail "Prometheus format"
import re, sys
text = open(sys.argv[1]).read()
assert text.endswith("\n")
help_, type_, fam_seen = {}, {}, set()
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*)\})? (-?[0-9.e+-]+|\+Inf|NaN)$')
hist = {}
for ln, line in enumerate(text.splitlines(), 1):
    if line.startswith("# HELP "):
        name = line.split()[2]; assert name not in help_, f"{ln}: second HELP"; help_[name] = ln; continue
    if line.startswith("# TYPE "):
        _, _, name, kind = line.split(); assert kind in ("counter", "gauge", "histogram"), line
        assert name in help_, f"{ln}: TYPE before HELP"; type_[name] = kind; continue
    m = sample.match(line); assert m, f"{ln}: not a sample: {line!r}"
    name = m.group(1); fam = re.sub(r'_(bucket|sum|count)$', '', name) if name not in type_ else name
    assert fam in type_, f"{ln}: {name} has no TYPE"
    if type_[fam] == "counter": assert fam.endswith("_total"), f"{ln}: counter {fam} lacks _total"
    if type_[fam] == "histogram":
        labels = m.group(3) or ""
        mode = re.search(r'mode="([^"]*)"', labels).group(1)
        h = hist.setdefault(mode, {"b": [], "count": None})
        if name.endswith("_bucket"): h["b"].append(float(m.group(5)))
        if name.endswith("_count"): h["count"] = float(m.group(5))
for mode, h in hist.items():
    assert h["b"] == sorted(h["b"]), f"{mode}: buckets not cumulative"
    assert h["b"][-1] == h["count"], f"{mode}: +Inf bucket != count"
for need in ("zcfs_reads_total", "zcfs_read_bytes_total", "zcfs_read_errors_total", "zcfs_fallbacks_total",
             "zcfs_read_latency_seconds", "zcfs_ops_total", "zcfs_op_errors_total", "zcfs_open_handles",
             "zcfs_inodes", "zcfs_written_bytes_total", "zcfs_uptime_seconds", "zcfs_cpu_seconds_total",
             "zcfs_context_switches_total"):
    assert need in type_, f"missing {need}"
print(f"{len(text.splitlines())} lines, {len(type_)} families, {len(hist)} histograms")
PY
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert set(d['modes']) == {'buffered','direct','mmap','splice','passthrough'}" \
  "$t/mnt/.zcfs/stats.json" || fail "stats.json"
grep -qx 'mode=buffered' "$t/mnt/.zcfs/config" && grep -qx 'cache=keep' "$t/mnt/.zcfs/config" || fail "config: $(cat "$t/mnt/.zcfs/config")"
{ echo x > "$t/mnt/.zcfs/stats"; } 2>/dev/null && fail "stats writable"
ok "stats (Prometheus format, histograms cumulative), stats.json, config all parse; backing .zcfs shadowed"

# --- a snapshot per open: small reads of one descriptor see one consistent file
python3 - "$t/mnt/.zcfs/stats" "$t/mnt/small" <<'PY' || fail "torn snapshot"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
first = os.read(fd, 100)
for _ in range(20): open(sys.argv[2], 'rb').read()  # counters move meanwhile
rest = b""
while True:
    c = os.read(fd, 7)
    if not c: break
    rest += c
os.lseek(fd, 0, 0) if False else None
whole = first + rest
again = open(sys.argv[1], 'rb').read()
assert whole != again, "second open did not take a fresh snapshot"
assert whole.count(b"\n# HELP") == again.count(b"\n# HELP")
PY
ok "each open is one snapshot; a new open sees new figures"

# --- counters move by exactly what we read
json_get() { python3 -c "import json,sys; d=json.load(open('$t/mnt/.zcfs/stats.json')); print($1)"; }
ctl "stats reset" | grep -qx ok || fail "stats reset"
[ "$(json_get 'd["modes"]["buffered"]["bytes"]')" = 0 ] || fail "reset left bytes"
cat "$t/mnt/small" > /dev/null
# counters are updated right after each reply is sent: give the daemon thread a moment
for _ in $(seq 100); do [ "$(json_get 'd["modes"]["buffered"]["bytes"]')" = 100000 ] && break; sleep 0.02; done
[ "$(json_get 'd["modes"]["buffered"]["bytes"]')" = 100000 ] || fail "bytes after reading 100000: $(json_get 'd["modes"]["buffered"]')"
r0=$(json_get 'd["ops"]["open"]["count"]'); cat "$t/mnt/small" "$t/mnt/small" > /dev/null
d=$(( $(json_get 'd["ops"]["open"]["count"]') - r0 )); [ $d = 3 ] || fail "opens moved by $d, expected 3 (2 files + the next stats.json)"
ok "stats reset zeroes counters; bytes and opens move by exactly what the test did"

# --- residency of both caches on a 256 MiB file around evict and prefetch
cat "$t/mnt/big" > /dev/null
# The kernel (here DAMON's proactive reclaim) may take back a few cold pages at any time: the
# checks below want nearly all of them, not every one.
r=$(ctl "residency big"); [ "$(key resident_pages <<<"$r")" -ge 49152 ] || fail "after read: $r"
[[ "$(key ranges <<<"$r")" == 0-* ]] || fail "ranges: $(key ranges <<<"$r")"
mres() { fincore --noheadings --output PAGES,RES --bytes "$1" | awk '{print $2 / 4096}'; } # mount-side pages (mincore)
[ "$(mres "$t/mnt/big")" -ge 49152 ] || fail "mount cache not full after read (cache=keep): $(mres "$t/mnt/big")"
start=$EPOCHREALTIME; r=$(ctl "evict big"); el=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN{print b-a}')
[ "$(key before_bytes <<<"$r")" -ge $((250 << 20)) ] && [ "$(key after_bytes <<<"$r")" -lt 1048576 ] || fail "evict reply: $r"
[ "$(key mount_invalidated <<<"$r")" = 1 ] || fail "evict did not invalidate the mount side: $r"
[ "$(mres "$t/mnt/big")" -lt 256 ] || fail "mount cache still resident after evict: $(mres "$t/mnt/big")"
r=$(ctl "prefetch big"); [ "$(key resident_bytes <<<"$r")" -ge $((192 << 20)) ] || fail "prefetch reply: $r"
r=$(ctl "residency big"); [ "$(key resident_pages <<<"$r")" -ge 49152 ] || fail "after prefetch: $r"
[ "$(mres "$t/mnt/big")" -lt 256 ] || fail "prefetch filled the mount side"
truncate -s 10G "$t/src/sparse"
start=$EPOCHREALTIME; r=$(ctl "residency sparse"); el=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN{print b-a}')
[ "$(key pages <<<"$r")" = 2621440 ] || fail "10 GiB residency: $r"
awk -v e="$el" 'BEGIN{exit !(e < 1.0)}' || fail "residency of a 10 GiB file took ${el}s"
rm -f "$t/src/sparse"
getfattr --absolute-names --only-values -n user.zcfs.residency "$t/mnt/big" | grep -q 'resident_pages=6[0-9]\{4\}' || fail "user.zcfs.residency"
ok "residency: 256 MiB resident in both caches after a read, evict empties both, prefetch fills the backing only; 10 GiB answered in ${el}s"

# --- recursive forms
r=$(ctl "residency -r dir"); [ "$(key files <<<"$r")" = 8 ] && [ "$(grep -c '^file=' <<<"$r")" = 8 ] || fail "residency -r: $r"
r=$(ctl "evict -r dir"); [ "$(key files <<<"$r")" = 8 ] || fail "evict -r: $r"
r=$(ctl "prefetch -r ."); [ "$(key files <<<"$r")" -ge 10 ] || fail "prefetch -r .: $r"
for c in "sync small" "flush small" "syncfs"; do [ "$(ctl "$c" | head -n1)" = ok ] || fail "$c"; done
# a name with a newline stays on its file= line (escaped), it cannot forge a reply line
mkdir "$t/src/nl" && printf x >"$t/src/nl/$(printf 'evil\nfiles=999')"
r=$(ctl "residency -r nl")
[ "$(grep -c '^files=' <<<"$r")" = 1 ] && [ "$(key files <<<"$r")" = 1 ] && grep -q '^file=.*/evil\\x0afiles=999$' <<<"$r" ||
  fail "residency -r of a name with a newline: $r"
ok "residency/evict/prefetch -r over a tree, sync, flush, syncfs; names with a newline escaped"

# --- every error path gets an error reply and changes nothing
err() { local r; r=$(ctl "$1" | head -n1); [[ $r == "error $2:"* ]] || fail "'$1' -> '$r', expected error $2"; }
err "frobnicate x" EINVAL; err "" EINVAL; err "residency" EINVAL; err "syncfs x" EINVAL
err "evict -x small" EINVAL; err "stats" EINVAL; err "syncfs now" EINVAL
err "residency nothere" ENOENT; err "evict dir/nothere" ENOENT
err "residency ../x" EPERM; err "evict /etc/passwd" EPERM; err "residency dir/../../x" EPERM
err "residency abs-link" EXDEV; err "residency rel-escape/passwd" EXDEV; err "evict -r rel-escape" EXDEV
[ "$(ctl "residency in-link" | head -n1)" = ok ] || fail "symlink inside the mount refused"
echo s > "$t/src/with space"; [ "$(ctl "residency with space" | key path)" = "with space" ] || fail "a name with a space"
long=$(head -c 5000 /dev/zero | tr '\0' a); err "residency $long" EINVAL
exec 7<>"$t/mnt/.zcfs/ctl"; printf 'residency sm\0all\n' >&7; r=$(cat <&7); exec 7>&-
[[ $r == "error EINVAL:"* ]] || fail "NUL byte: $r"
exec 7<"$t/mnt/.zcfs/ctl"; r=$(cat <&7); exec 7>&-; [ -z "$r" ] || fail "read before write gave: $r"
ok "unknown, missing, extra, bad option, missing path, .., absolute, escaping symlinks, long line, NUL: error replies"

# --- a non-owner: no ctl, stats readable, no residency of files they cannot write
chmod 644 "$t/src/small"
setpriv --reuid=54321 --regid=54321 --clear-groups sh -c "exec 7<>'$t/mnt/.zcfs/ctl'" 2>/dev/null && fail "non-owner opened ctl"
setpriv --reuid=54321 --regid=54321 --clear-groups cat "$t/mnt/.zcfs/stats" > /dev/null || fail "non-owner cannot read stats"
setpriv --reuid=54321 --regid=54321 --clear-groups getfattr -n user.zcfs.residency "$t/mnt/small" >/dev/null 2>&1 \
  && fail "non-owner got residency of a file they cannot write"
ok "non-owner: EACCES on ctl and on residency of others' files, stats readable"

# --- concurrent ctl users each get their own reply
kids=()
for p in $(seq 8); do
  ( for i in $(seq 25); do r=$(ctl "residency dir/sub/f$p"); [ "$(key path <<<"$r")" = "dir/sub/f$p" ] || { echo "cross: $p got $r"; exit 1; }; done ) &
  kids+=($!)
done
bad=0; for j in "${kids[@]}"; do wait "$j" || bad=1; done
[ $bad = 0 ] || fail "concurrent ctl replies crossed"
ok "8 processes x 25 transactions: every reply was the caller's own"

umnt
mnt_up -o ctl_private
setpriv --reuid=54321 --regid=54321 --clear-groups cat "$t/mnt/.zcfs/stats" > /dev/null 2>&1 && fail "ctl_private stats readable by others"
umnt
mnt_up -o ctl=control
[ -e "$t/mnt/control/ctl" ] && [ "$(cat "$t/mnt/.zcfs/hidden")" = shadowed ] || fail "ctl=control"
umnt
mnt_up -o noctl
[ "$(cat "$t/mnt/.zcfs/hidden")" = shadowed ] || fail "noctl: backing .zcfs not visible"
getfattr -n user.zcfs.ctl "$t/mnt" >/dev/null 2>&1 && fail "noctl: user.zcfs.ctl still answered"
umnt
ok "ctl_private, ctl=NAME and noctl"
grep -iE 'error|warning' "$t/log" && fail "daemon logged errors"
echo "$n passed, 0 failed"
