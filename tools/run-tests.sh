#!/usr/bin/env bash
# The whole test suite, as CI runs it: install packages, build libfuse 3.18 from Debian's source
# package (tools/libfuse.sh; without the registry, the system's 3.14 and one line saying so),
# then build with warnings as errors and run the unit and integration suites (real mounts:
# ZCFS_REQUIRE_MOUNT=1 turns "cannot mount" into a failure) on the 3.18 build; the unit tests
# and the integration tests that reach the most code again under AddressSanitizer and
# UndefinedBehaviorSanitizer; and the unit tests and every integration test whose path depends
# on the libfuse version on a build against the system's libfuse 3.14 (the tests of 3.18
# features are not registered there). ZCFS_FULL=1 runs every test in every build (about three
# times as long; what a release is checked with).
set -euo pipefail
cd "$(dirname "$0")/.."
# Root is needed (Debian packages, mounts, drop_caches): as written in the README, this works as
# root (containers, CI images without sudo) and as a user with sudo.
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "run-tests.sh: needs root, and sudo is not installed: run it as root" >&2; exit 1; }
  exec sudo -E "$PWD/tools/run-tests.sh" "$@"
fi
./tools/deps.sh
fuse_opt=$(./tools/fuse-setup.sh)
export ZCFS_REQUIRE_MOUNT=1
export ZCFS_REQUIRE_TORCH=1 # deps.sh installs python3-torch: its DataLoader test must run

run_suite() { # build-dir "test names or empty for all" meson-setup-args...
  local dir=$1 tests=$2; shift 2
  local t0=$SECONDS
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" -Dwerror=true "$@"
  fi
  ninja -C "$dir"
  [ "${ZCFS_FULL:-0}" = 1 ] && tests=
  if [ -n "$tests" ]; then # the unit suite, then the integration tests named
    meson test -C "$dir" --print-errorlogs --num-processes 2 --suite unit
  fi
  # shellcheck disable=SC2086 # a list of test names
  meson test -C "$dir" --print-errorlogs --num-processes 2 $tests
  echo "run-tests: $dir ($(sed -n 's/^#define ZC_FUSE_VERSION "\(.*\)"/libfuse \1/p' "$dir/config.h")) passed in $((SECONDS - t0)) s"
}
# Under the sanitizers: what runs the most daemon code per second (every op, the control plane,
# faults, descriptors, passthrough, plans); the long model and scale runs stay in the 3.18 build.
asan_tests="smoke mount options passthrough mmap-apps zcfsctl control-plane posix
  faults-truncate faults-replace faults-interrupt faults-sigkill faults-ownwrites rename-race nested-mount
  fds prefetch zcfsctl-edges remote-s3fs remote-nodes requests posix-noopen watch"
# On libfuse 3.14: whatever negotiates or replies differently there (init, splice, mmap of
# direct-I/O files, killpriv, notify, passthrough's fallback), and the models.
t314_tests="smoke mount options passthrough mmap-apps zcfsctl control-plane routing posix
  zcfs-fsx faults-truncate faults-interrupt faults-ownwrites coherence perms prefetch apps remote-s3fs
  requests posix-noopen"

# shellcheck disable=SC2086 # fuse_opt is one option or nothing
run_suite build-test "" --buildtype=debugoptimized $fuse_opt
if [ "${ZCFS_SKIP_ASAN:-0}" != 1 ]; then
  # shellcheck disable=SC2086
  ZCFS_ASAN=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite build-asan "$asan_tests" --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false $fuse_opt
fi
if [ -n "$fuse_opt" ]; then
  run_suite build-314 "$t314_tests" --buildtype=debugoptimized
fi
# libFuzzer targets for every parser of user input, a short pass (tools/run-fuzz.sh 600 for a long one).
./tools/run-fuzz.sh "${ZCFS_FUZZ_SECONDS:-15}"
echo "run-tests: all suites passed in $SECONDS s"
