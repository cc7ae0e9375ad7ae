#!/usr/bin/env bash
# Build a static libfuse >= 3.18 (io_uring, examples) from Debian's fuse3 source package into DIR,
# fetched through a private apt configuration that still checks signatures and checksums, and
# print on the last stdout line the PKG_CONFIG_PATH directory that selects it. Exit 3 with one
# line on stderr when it cannot be fetched, so the caller can keep the system libfuse.
set -euo pipefail

me=libfuse.sh
min=3.18
suite=${ZCFS_LIBFUSE_SUITE:-unstable}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
pkgs=(dpkg-dev gcc g++ liburing-dev libnuma-dev meson ninja-build pkg-config)

if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 DIR   (e.g. build-deps/libfuse)" >&2
  exit 2
fi
mkdir -p "$1"
dir=$(cd "$1" && pwd)
prefix=$dir/prefix
pcdir=$prefix/lib/pkgconfig
stamp=$prefix/.complete # written last: nothing in prefix is trusted without it; rm -rf DIR/prefix rebuilds

exec 9>"$dir/.lock"
flock 9
if [ -f "$stamp" ] && [ -f "$pcdir/fuse3.pc" ] && [ -f "$prefix/lib/libfuse3.a" ]; then
  echo "$pcdir"
  exit 0
fi

# A failed or killed run leaves no prefix that PKG_CONFIG_PATH could pick up: the install goes
# into a staging directory, which becomes DIR/prefix, stamp included, by one rename at the end.
stage=$dir/stage
rm -rf "$prefix" "$stage"
trap 'rm -rf "$stage"' EXIT

system_version() {
  env -u PKG_CONFIG_PATH -u PKG_CONFIG_LIBDIR pkg-config --modversion fuse3 2>/dev/null ||
    dpkg-query -W -f='${Version}' libfuse3-dev 2>/dev/null || echo none
}
cannot_fetch() { # reason
  local reason
  reason=$(printf '%s' "$1" | tr -s '\n\t ' ' ' | cut -c1-240)
  echo "$me: cannot fetch fuse3 >= $min (${reason% }): building against the system libfuse $(system_version)" >&2
  exit 3
}
first_error() { # log: apt's first error, without the URL it names
  grep -m1 '^E: ' "$1" | sed -E 's/^E: //; s/^Failed to fetch [^ ]+ +//' || true
}
build_failed() { # what, log
  echo "$me: $1 failed; last lines of $2:" >&2
  tail -n 30 "$2" >&2
  exit 1
}

# Build packages, from the system's own apt sources (bookworm), only those missing.
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || cannot_fetch "need root to install ${missing[*]}"
  log=$dir/apt-install.log
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
    { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } >>"$log" 2>&1 ||
      cannot_fetch "cannot install ${missing[*]}: $(first_error "$log")"
  fi
fi

# A private apt configuration: its own sources (deb-src, the machine's Debian mirror, suite
# unstable), lists and cache under DIR. The machine's apt configuration is only read.
mirror=${ZCFS_LIBFUSE_MIRROR:-}
if [ -z "$mirror" ]; then
  # shellcheck disable=SC2016 # $(REPO_URI) is apt's format field, not a shell expansion
  mirror=$(apt-get indextargets --format '$(REPO_URI)' 'Origin: Debian' 'Label: Debian' \
    2>/dev/null | head -n1 || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}
apt=$dir/apt
mkdir -p "$apt/sources.list.d" "$apt/state/lists/partial" "$apt/cache/archives/partial"
: >"$apt/sources.list"
cat >"$apt/sources.list.d/fuse3.sources" <<EOF
Types: deb-src
URIs: $mirror
Suites: $suite
Components: main
Signed-By: $keyring
EOF
aptopts=(-q -o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts="$apt/sources.list.d"
  -o Dir::State="$apt/state" -o Dir::Cache="$apt/cache"
  -o APT::Get::AllowUnauthenticated=false -o Acquire::AllowInsecureRepositories=false
  -o Acquire::AllowDowngradeToInsecureRepositories=false -o APT::Update::Error-Mode=any
  -o Acquire::Retries=1 -o Acquire::http::Timeout=20 -o Acquire::https::Timeout=20)
log=$dir/apt-fetch.log
apt-get "${aptopts[@]}" update >"$log" 2>&1 ||
  cannot_fetch "apt-get update of $mirror $suite: $(first_error "$log")"
ver=
while read -r v; do
  if [ -z "$ver" ] || dpkg --compare-versions "$v" gt "$ver"; then ver=$v; fi
done < <(apt-cache "${aptopts[@]}" showsrc --only-source fuse3 2>>"$log" | sed -n 's/^Version: //p')
[ -n "$ver" ] || cannot_fetch "no fuse3 source package in $mirror $suite"
dpkg --compare-versions "$ver" ge "$min" || cannot_fetch "$mirror $suite has fuse3 $ver only"

# apt checks each file against the signed Sources index; a download that fails leaves nothing.
dl=$dir/dl
rm -rf "$dl" "$dir/src"
mkdir -p "$dl" "$dir/src"
if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$dl"; fi # sandboxed download
(cd "$dl" && apt-get "${aptopts[@]}" source --download-only --only-source "fuse3=$ver") >>"$log" 2>&1 ||
  cannot_fetch "download of fuse3 $ver: $(first_error "$log")"
upstream=${ver#*:}
upstream=${upstream%-*}
src=$dir/src/fuse3-$upstream
dpkg-source -x "$dl/fuse3_${ver#*:}.dsc" "$src" >>"$log" 2>&1 || build_failed "unpacking fuse3 $ver" "$log"

# The io_uring option's name, from this version's meson_options.txt rather than assumed.
uring_opt=$(grep -oE "option\('[a-z_-]*io[-_]uring'" "$src/meson_options.txt" | head -n1 |
  sed -E "s/option\('(.*)'/\1/")
[ -n "$uring_opt" ] || build_failed "finding the io_uring option" "$src/meson_options.txt"
log=$dir/build.log
rm -rf "$dir/build"
meson setup "$dir/build" "$src" --prefix="$prefix" --libdir=lib --buildtype=debugoptimized \
  --default-library=static -D"$uring_opt"=true -Dexamples=true -Dutils=false -Dtests=false \
  -Duseroot=false >"$log" 2>&1 || build_failed "meson setup" "$log"
# libfuse silently drops io_uring without liburing (SQE128) and libnuma: insist on it.
grep -q '^#define HAVE_URING' "$dir/build/fuse_config.h" ||
  build_failed "enabling io_uring (HAVE_URING unset)" "$log"
ninja -C "$dir/build" >>"$log" 2>&1 || build_failed "ninja" "$log"
meson install -C "$dir/build" --destdir "$stage" >>"$log" 2>&1 || build_failed "meson install" "$log"
if [ ! -f "$stage$pcdir/fuse3.pc" ] || [ ! -f "$stage$prefix/lib/libfuse3.a" ]; then
  build_failed "installing fuse3.pc and libfuse3.a" "$log"
fi
printf 'fuse3 %s\nsource %s\nbuild %s\n' "$ver" "$src" "$dir/build" >"$stage$stamp"
mv "$stage$prefix" "$prefix"
echo "$me: fuse3 $ver built static with io_uring in ${SECONDS}s (logs: $dir/*.log)" >&2
echo "$pcdir"
