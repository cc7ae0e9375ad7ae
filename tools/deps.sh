#!/usr/bin/env bash
# Install the Debian packages zcfs needs to build, test and demo. Idempotent; needs root. The newer
# libfuse (3.18, for passthrough and io_uring) is built separately by tools/libfuse.sh.
set -euo pipefail
pkgs=(build-essential meson ninja-build pkg-config libfuse3-dev fuse3 libcmocka-dev libkmod-dev zlib1g-dev
      attr acl fio python3 python3-docutils python3-numpy sqlite3 util-linux valgrind clang
      liburing-dev libnuma-dev dpkg-dev g++ git tar make
      python3-pip python3-torch)  # python3-torch: the DataLoader test (about 30 s to install)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The remote-storage test bed (s3fs, sshfs, sshd, s3rver from npm).
"$(dirname "$0")/remote-deps.sh"
