#!/usr/bin/env bash
# Print the meson option that selects libfuse for a build: a static libfuse >= 3.18 built by
# tools/libfuse.sh into build-deps/ (passthrough, io_uring), or nothing, after one line saying
# why, when it cannot be fetched (offline): the system's libfuse 3.14 is then used, with those
# features compiled out. Sourced output:  meson setup BUILD $(tools/fuse-setup.sh)
set -uo pipefail
cd "$(dirname "$0")/.."
pc=$(./tools/libfuse.sh build-deps/libfuse)
rc=$?
if [ $rc = 0 ] && [ -n "$pc" ]; then
  echo "-Dpkg_config_path=$pc"
elif [ $rc != 3 ]; then
  echo "fuse-setup: building libfuse 3.18 failed (see above)" >&2
  exit 1
fi
