#!/usr/bin/env bash
# Backing file replaced by rename, unlinked, and its directory removed while a reader holds it
# open through the mount, in every read mode (cache=none, so every read reaches the daemon).
# As on ext4: the held descriptor keeps reading the old content in full, /dev/fd/N reopens the
# old file, and once the entry timeout has passed a new open sees the new file or ENOENT.
#   replace.sh ZCFS FAULTIO
zcfs=$(realpath "$1") faultio=$(realpath "$2")
. "$(dirname "$0")/lib.sh"
size=$((3 << 20)) # several FUSE requests per read of the file
zc_sentinel
zc_mount -- cache=none
modes=$(zc_modes)
declare -A fd
for m in $modes; do
  mkdir -p "$t/mnt/$m/sub" || fail "mkdir"
  setfattr -n user.zcfs.mode -v "$m" "$t/mnt/$m" || fail "setfattr"
  "$faultio" mkpat "$t/src/$m/ren" $size 1 && "$faultio" mkpat "$t/src/$m/unl" $size 2 &&
    "$faultio" mkpat "$t/src/$m/sub/f" $size 3 || fail "mkpat"
  for f in ren unl sub/f; do
    exec {n}<"$t/mnt/$m/$f" || fail "open $m/$f"
    fd[$m/$f]=$n
  done
  getfattr -n user.zcfs.effective --only-values "$t/mnt/$m/ren" 2>/dev/null | grep -q "mode=$m " ||
    fail "$m/ren did not get mode=$m"
done
for g in 1 2 3; do "$faultio" mkpat "$t/exp$g" $size $g || fail "mkpat"; done
"$faultio" mkpat "$t/exp11" $size 11 || fail "mkpat"

# The faults, all done to the backing directory behind the daemon's back.
for m in $modes; do
  "$faultio" mkpat "$t/src/$m/ren.new" $size 11 && mv -f "$t/src/$m/ren.new" "$t/src/$m/ren" ||
    fail "replace by rename"
  rm "$t/src/$m/unl" && rm -r "$t/src/$m/sub" || fail "unlink / rmdir"
done

for m in $modes; do
  for f in ren:1 unl:2 sub/f:3; do
    n=${fd[$m/${f%:*}]}
    timeout 10 "$faultio" check "/dev/fd/$n" $size "${f#*:}" ||
      fail "$m: reopen of the held ${f%:*} via /dev/fd/$n"
    timeout 10 cmp - "$t/exp${f#*:}" <&"$n" || fail "$m: held descriptor of ${f%:*} lost the old content"
    exec {n}<&-
  done
  echo "ok $m: held descriptors read the old content after rename, unlink and rmdir"
done
sleep 1.2 # the default entry_timeout is 1 s: after it, lookups see the backing changes
for m in $modes; do
  timeout 10 cmp "$t/mnt/$m/ren" "$t/exp11" || fail "$m: a new open does not see the renamed-in file"
  [ ! -e "$t/mnt/$m/unl" ] || fail "$m: unlinked file still visible"
  [ ! -e "$t/mnt/$m/sub" ] || fail "$m: removed directory still visible"
  ls "$t/mnt/$m" >/dev/null || fail "$m: listing"
done
echo "ok new opens see the new file; unlinked file and removed directory are gone"
zc_alive "after replace, unlink, rmdir"
zc_unmount || fail "daemon exited non-zero"
zc_log_clean
echo "1 passed, 0 failed"
