#!/bin/sh
# set-modes.sh - choose read paths per directory with extended attributes, so the choice travels
# with the dataset (cp -a and rsync -X copy user.* xattrs). Run on the mount or on the backing
# directory itself; the nearest directory's attribute applies to everything below it.
#   usage: set-modes.sh DATASET_ROOT
set -eu
root=${1:?usage: set-modes.sh DATASET_ROOT}
# Training shards are streamed once per epoch: zero-copy replies, nothing kept on the mount side.
setfattr -n user.zcfs.mode  -v splice "$root/train"
setfattr -n user.zcfs.cache -v none   "$root/train"
# Validation data is reread every epoch: keep the mount's cache across opens.
setfattr -n user.zcfs.mode  -v mmap   "$root/val"
setfattr -n user.zcfs.cache -v keep   "$root/val"
# Checkpoints: bypass the backing page cache so they do not push the dataset out of memory.
setfattr -n user.zcfs.mode  -v direct "$root/checkpoints"
# Show what each directory now resolves to (user.zcfs.effective is answered only on a mount).
for d in train val checkpoints; do
  getfattr -n user.zcfs.mode -n user.zcfs.cache --absolute-names "$root/$d" 2>/dev/null || true
done
