# lib.sh - shared by the tests/faults scripts (sourced): skip/fail rules, a private temp dir,
# mounting zcfs with a readiness wait, and an EXIT trap that unmounts, reaps the daemon and
# removes everything. Callers set zcfs and faultio before sourcing.
set -u
if [ ! -c /dev/fuse ]; then
  [ "${ZCFS_REQUIRE_MOUNT:-}" = 1 ] && { echo "FAIL: /dev/fuse missing and ZCFS_REQUIRE_MOUNT=1"; exit 1; }
  echo "SKIP: no /dev/fuse"; exit 77
fi
t=$(mktemp -d /tmp/zcfs-faults.XXXXXX)
mkdir "$t/src" "$t/mnt"
pid=
extra_cleanup() { :; }
# Unmount and reap the daemon; returns the daemon's exit status (or 0 if none).
zc_unmount() {
  local rc=0
  if mountpoint -q "$t/mnt"; then
    timeout 10 fusermount3 -u "$t/mnt" 2>/dev/null || fusermount3 -uz "$t/mnt"
  fi
  if [ -n "$pid" ]; then
    timeout 10 tail --pid="$pid" -f /dev/null || kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null; rc=$?; pid=
  fi
  return $rc
}
cleanup() { zc_unmount; extra_cleanup; rm -rf "$t"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$t/log" ] && sed 's/^/  daemon: /' "$t/log" | tail -20; exit 1; }
# zc_mount [PREFIX-COMMAND...] -- OPTS: start the daemon (optionally under a wrapper such as
# prlimit) on $t/src at $t/mnt and wait up to 10 s for the mount. $ZCFS_EXTRA_OPTS (comma
# separated) are added: meson runs suites again over io_uring or in mode=passthrough so; with
# io_uring the mount must really use it.
zc_mount() {
  local wrap=() opts
  while [ "$1" != -- ]; do wrap+=("$1"); shift; done; shift
  opts=$1${ZCFS_EXTRA_OPTS:+,$ZCFS_EXTRA_OPTS}
  "${wrap[@]}" "$zcfs" -f -o "$opts" "$t/src" "$t/mnt" 2>>"$t/log" & pid=$!
  for _ in $(seq 100); do mountpoint -q "$t/mnt" && break; sleep 0.1; done
  mountpoint -q "$t/mnt" || fail "mount ($opts) did not appear"
  if [[ ,$opts, == *,io_uring,* ]]; then
    stat "$t/mnt" >/dev/null
    grep -qE '^zcfs_io_uring(\{[^}]*\})? 1$' "$t/mnt/.zcfs/stats" || fail "-o io_uring given but requests come through /dev/fuse"
  fi
}
# The read modes this daemon serves: passthrough where it was built with it.
zc_modes() {
  printf '%s\n' buffered direct mmap splice
  "$zcfs" --version | grep -q 'features:.*passthrough' && echo passthrough
}
# The daemon is alive and answers: stat of the root and a full read of a sentinel file.
zc_alive() {
  timeout 10 stat "$t/mnt" >/dev/null || fail "stat of the mount root failed ($*)"
  timeout 10 cmp -s "$t/mnt/sentinel" "$t/sentinel" || fail "sentinel read failed ($*)"
  kill -0 "$pid" 2>/dev/null || fail "daemon died ($*)"
}
# The daemon log has no error|warning lines except those matching the extended regex $1.
zc_log_clean() {
  local bad
  bad=$(grep -iE 'error|warning' "$t/log" | grep -vE "${1:-^$}")
  [ -z "$bad" ] || fail "daemon logged: $bad"
}
zc_sentinel() { head -c 100000 /dev/urandom > "$t/sentinel"; cp "$t/sentinel" "$t/src/sentinel"; }
