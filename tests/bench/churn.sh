#!/usr/bin/env bash
# tests/bench/churn.sh - long small-file churn through zcfs, watching the daemon's memory and
# descriptors: each round copies /usr/include/linux into the mount (about 1,000 files), makes it
# a git repository (init, add, commit, gc, fsck --full), reads every file back, removes it all,
# then drops the kernel's dentries and inodes (drop_caches 2) so zcfs forgets them. Prints RSS,
# descriptors and inodes per round and a verdict line: RSS of the last quarter against the
# second (after warm-up). Not a CI test (minutes to hours); needs root.
#   usage: tests/bench/churn.sh ZCFS [SECONDS (1800)] [zcfs -o options (mode=splice)]
set -euo pipefail
zcfs=$(realpath "$1") secs=${2:-1800} opts=${3:-mode=splice}
[ "$(id -u)" = 0 ] || { echo "churn.sh: needs root (drop_caches)" >&2; exit 2; }
t=$(mktemp -d /tmp/zcfs-churn.XXXXXX)
mkdir "$t/src" "$t/mnt"
pid=
cleanup() {
  grep -q " $t/mnt " /proc/self/mountinfo && { fusermount3 -u "$t/mnt" || fusermount3 -uz "$t/mnt"; }
  [ -n "$pid" ] && wait "$pid" 2>/dev/null
  rm -rf "$t"
}
trap cleanup EXIT
"$zcfs" -f -o "$opts" "$t/src" "$t/mnt" 2>"$t/log" & pid=$!
for _ in $(seq 100); do grep -q " $t/mnt " /proc/self/mountinfo && break; sleep 0.1; done
grep -q " $t/mnt " /proc/self/mountinfo || { echo "mount did not appear"; cat "$t/log"; exit 1; }
g=(env GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=gc.auto
  GIT_CONFIG_VALUE_0=0 GIT_AUTHOR_NAME=c GIT_AUTHOR_EMAIL=c@c GIT_COMMITTER_NAME=c GIT_COMMITTER_EMAIL=c@c)
stat_of() { # -> "rss_kib fds inodes"
  local rss fds ino
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  fds=$(ls "/proc/$pid/fd" | wc -l)
  ino=$(awk '/^zcfs_inodes[ {]/ {print $2}' "$t/mnt/.zcfs/stats")
  echo "$rss $fds ${ino:-?}"
}
printf '%6s %8s %9s %5s %7s\n' round seconds rss_kib fds inodes
echo "0 0 $(stat_of)" | awk '{printf "%6s %8s %9s %5s %7s\n", $1, $2, $3, $4, $5}'
start=$SECONDS round=0
: > "$t/rss"
while [ $((SECONDS - start)) -lt "$secs" ]; do
  round=$((round + 1))
  d="$t/mnt/r$round"
  cp -r /usr/include/linux "$d"
  (cd "$d" && "${g[@]}" git init -q && "${g[@]}" git add -A && "${g[@]}" git commit -qm r &&
    "${g[@]}" git gc -q && "${g[@]}" git fsck --full) >/dev/null
  find "$d" -type f -exec cat {} + >/dev/null
  rm -rf "$d"
  sync
  echo 2 > /proc/sys/vm/drop_caches
  sleep 0.5
  s=$(stat_of)
  echo "${s%% *}" >> "$t/rss"
  echo "$round $((SECONDS - start)) $s" | awk '{printf "%6s %8s %9s %5s %7s\n", $1, $2, $3, $4, $5}'
done
kill -0 "$pid" || { echo "daemon died"; cat "$t/log"; exit 1; }
awk -v n="$round" '{ v[NR] = $1 } END {
  q = int(n / 4); if (q < 1) q = 1
  for (i = q + 1; i <= 2 * q; i++) { a += v[i]; na++ }
  for (i = n - q + 1; i <= n; i++) { b += v[i]; nb++ }
  max = 0; for (i = 1; i <= n; i++) if (v[i] > max) max = v[i]
  printf "churn: %d rounds; RSS mean %.0f KiB in the second quarter, %.0f KiB in the last (%.2fx), max %d KiB\n",
    n, a / na, b / nb, (b / nb) / (a / na), max
}' "$t/rss"
