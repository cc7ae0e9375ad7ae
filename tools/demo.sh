#!/usr/bin/env bash
# The main job: build zcfs, mount it over a copy of the shipped example dataset, read every file
# through each read path (the four in the daemon, and passthrough where zcfs was built with
# libfuse 3.18), checking the bytes against the backing files, then show
# the statistics and both page caches' residency, and unmount.
set -euo pipefail
cd "$(dirname "$0")/.."
# Root is needed (Debian packages, mounts, drop_caches): as written in the README, this works as
# root (containers, CI images without sudo) and as a user with sudo.
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "demo.sh: needs root, and sudo is not installed: run it as root" >&2; exit 1; }
  exec sudo -E "$PWD/tools/demo.sh" "$@"
fi
top=$PWD
./tools/deps.sh
# libfuse 3.18 from Debian's source package where the registry is reachable (passthrough mode,
# io_uring); else the system's 3.14, and one line saying so.
fuse_opt=$(./tools/fuse-setup.sh)
# shellcheck disable=SC2086 # one option or nothing
[ -f build/build.ninja ] || meson setup build --buildtype=release $fuse_opt
ninja -C build

work=$(mktemp -d /tmp/zcfs-demo.XXXXXX)
src=$work/src mnt=$work/mnt
mkdir -p "$src" "$mnt"
cp -a examples/dataset/. "$src/"
pid=
cleanup() {
  if mountpoint -q "$mnt"; then fusermount3 -u "$mnt" || fusermount3 -uz "$mnt"; fi
  [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$top/build/fs/zcfs" -f -o rules="$top/examples/rules.conf" "$src" "$mnt" 2>"$work/zcfs.log" &
pid=$!
for _ in $(seq 100); do mountpoint -q "$mnt" && break; sleep 0.1; done
mountpoint -q "$mnt" || { echo "demo: mount failed:"; cat "$work/zcfs.log"; exit 1; }
echo "== mounted $src at $mnt (pid $pid)"
ctl="$top/build/tools/zcfsctl"

modes="buffered direct mmap splice"
"$top/build/fs/zcfs" --version | grep -q 'features:.*passthrough' && modes="$modes passthrough"
for mode in $modes; do
  "$ctl" mode "$mnt/train" "$mode" >/dev/null
  "$ctl" evict -r "$mnt/train" >/dev/null
  bad=0
  while IFS= read -r -d '' f; do
    rel=${f#"$mnt"/}
    cmp -s "$f" "$src/$rel" || { echo "MISMATCH $rel ($mode)"; bad=1; }
  done < <(find "$mnt/train" -type f -print0)
  [ $bad = 0 ] || exit 1
  printf '== read train/ through %-8s: all files identical to the backing; effective: %s\n' \
    "$mode" "$(cd "$mnt" && "$ctl" effective "train/$(ls "$src/train" | head -n1)")"
done

# Validation shards and labels are cached on the mount side (rules.conf: cache=keep), so the
# second cache shows up in the residency map below, next to the train shards (cache=none: '*').
cat "$mnt"/val/* "$mnt"/labels/* > /dev/null

echo; echo "== zcfsctl stats $mnt"
"$ctl" stats "$mnt"
echo; echo "== zcfsctl residency -r -v (in $mnt)"
(cd "$mnt" && "$ctl" residency -r -v .)
echo; echo "== unmounting"
fusermount3 -u "$mnt"
wait "$pid"; pid=
echo "== daemon exited cleanly"
