#!/usr/bin/env bash
# Run a test command with every zcfs mount it makes receiving requests over io_uring: turns the
# kernel's /sys/module/fuse/parameters/enable_uring on for the run (restoring it afterwards) and
# sets ZCFS_EXTRA_OPTS=io_uring, which the test harnesses add to their mounts and check (a mount
# that falls back to /dev/fuse fails the test).   with-uring.sh COMMAND ARGS...
set -u
p=/sys/module/fuse/parameters/enable_uring
[ -w "$p" ] || { echo "FAIL: $p is not writable (kernel without CONFIG_FUSE_IO_URING, or not root)"; exit 1; }
old=$(cat "$p")
trap 'echo "$old" > "$p"' EXIT
echo 1 > "$p"
ZCFS_EXTRA_OPTS=${ZCFS_EXTRA_OPTS:+$ZCFS_EXTRA_OPTS,}io_uring "$@"
