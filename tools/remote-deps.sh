#!/usr/bin/env bash
# What the remote-storage tests need (tests/pylib/remotebed.py): Debian's s3fs, sshfs and
# openssh-server, and s3rver (an S3-compatible server) from the npm registry at a pinned version,
# installed into ZCFS_NPM_DIR (/var/cache/zcfs/npm), never into the source tree. Idempotent;
# needs root. Called by tools/deps.sh.
set -euo pipefail
S3RVER_VERSION=3.7.1 # keep in step with tests/pylib/remotebed.py
npm_dir=${ZCFS_NPM_DIR:-/var/cache/zcfs/npm}
pkgs=(s3fs sshfs openssh-server openssh-client nodejs npm)
missing=()
for p in "${pkgs[@]}"; do
  # node and npm may come from elsewhere than Debian (this machine has them in /usr/bin)
  if [ "$p" = nodejs ] && command -v node >/dev/null; then continue; fi
  if [ "$p" = npm ] && command -v npm >/dev/null; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$npm_dir/node_modules/s3rver/package.json" 2>/dev/null || true)
if [ "$have" != "$S3RVER_VERSION" ]; then
  mkdir -p "$npm_dir"
  npm install --prefix "$npm_dir" --no-audit --no-fund --loglevel=error "s3rver@$S3RVER_VERSION" >&2
fi
