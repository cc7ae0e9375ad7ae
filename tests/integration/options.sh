#!/usr/bin/env bash
# Bad option values are refused before anything is mounted: exit status 2 and one line naming
# the option (negative numbers used to wrap, nan and inf timeouts used to mount). Good values
# with suffixes mount and show in .zcfs/config.
zcfs=$(realpath "$1")
. "$(dirname "$0")/../faults/lib.sh"
n=0
printf 'data/** mode=direct\nbad line here\n' > "$t/rules"
refuse() { # option expected-substring
  local err rc
  err=$(timeout 10 "$zcfs" -f -o "$1" "$t/src" "$t/mnt" 2>&1 >/dev/null); rc=$?
  mountpoint -q "$t/mnt" && { fusermount3 -u "$t/mnt"; fail "-o $1 mounted"; }
  [ $rc = 2 ] || fail "-o $1: exit $rc, expected 2 ($err)"
  [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] || fail "-o $1: expected one line, got: $err"
  [[ $err == *"$2"* ]] || fail "-o $1: message '$err' lacks '$2'"
  n=$((n + 1)); echo "ok $n - -o $1 refused: $err"
}
refuse fd_cache=-1 "bad -o fd_cache=-1"
refuse fd_cache=abc "bad -o fd_cache=abc"
refuse fd_cache= "bad -o fd_cache="
refuse fd_cache=99999999999 "out of range"
refuse readahead_kb=-5 "bad -o readahead_kb=-5"
refuse max_open_per_uid=-1 "bad -o max_open_per_uid=-1"
refuse mmap_window=-1 "bad -o mmap_window=-1"
refuse mmap_window=1k "at least 1 MiB"
refuse mmap_window=18446744073709551615g "out of range"
refuse prefetch_window=12x "expected a size in bytes (k, m, g suffixes)"
refuse attr_timeout=nan "bad -o attr_timeout=nan"
refuse attr_timeout=inf "bad -o attr_timeout=inf"
refuse attr_timeout=-1 "bad -o attr_timeout=-1"
refuse entry_timeout=1e400 "bad -o entry_timeout=1e400"
refuse entry_timeout=1s "bad -o entry_timeout=1s"
refuse mode=turbo "expected buffered, direct, mmap, splice or passthrough)"
refuse mode=passthrough,writeback "-o mode=passthrough and -o writeback exclude each other"
refuse cache=forever "bad -o cache=forever"
refuse ctl=a/b "bad -o ctl=a/b"
refuse allow_other "allow_other needs -o default_permissions"
refuse allow_other,default_permissions,noacl "noacl cannot go with -o allow_other"
refuse rules="$t/rules" "$t/rules:2:"
refuse rules= "zcfs: -o rules= needs the path of a rules file"
refuse rules="$t/nope" "rules file '$t/nope': No such file or directory"

zc_mount -- mmap_window=64m,attr_timeout=0.25,entry_timeout=0,fd_cache=100,max_open_per_uid=7
cfg=$(cat "$t/mnt/.zcfs/config")
for want in mmap_window=67108864 attr_timeout=0.25 entry_timeout=0 fd_cache=100 max_open_per_uid=7; do
  grep -qx "$want" <<<"$cfg" || fail "config lacks $want: $cfg"
done
grep -qE '^fd_limit=[0-9]+$' <<<"$cfg" && grep -qE '^fd_reserve=[0-9]+$' <<<"$cfg" || fail "config lacks the effective budget: $cfg"
n=$((n + 1)); echo "ok $n - k/m/g suffixes and fractions accepted, shown in config with the effective descriptor budget"
zc_unmount || fail "daemon exit status"

# A rules file saved with a UTF-8 byte order mark: the mark is not part of the first pattern.
printf '\xef\xbb\xbf*.bin mode=direct\n' > "$t/rules"
echo data > "$t/src/x.bin"
zc_mount -- rules="$t/rules"
eff=$(getfattr --absolute-names --only-values -n user.zcfs.effective "$t/mnt/x.bin")
zc_unmount || fail "daemon exit status (rules with a BOM)"
[[ $eff == "mode=direct source=rule:$t/rules:1 "* ]] || fail "rules file with a BOM: x.bin is $eff"
n=$((n + 1)); echo "ok $n - a rules file with a UTF-8 byte order mark: its first rule applies"

# Listings and lookups: with the kernel's adaptive READDIRPLUS only the first part of a long
# listing carries attributes, and opening the listed files costs a lookup each; with
# readdirplus_always none does. lookups: LOOKUPs while 600 listed files are opened.
mkdir -p "$t/src/many"
for i in $(seq 600); do : > "$t/src/many/f$i"; done
lookups() { # options -> rdp (config's readdirplus=) and nlookup (LOOKUPs while opening)
  local a b
  zc_mount -- "$1"
  ls "$t/mnt/many" > /dev/null
  a=$(awk '/^zcfs_ops_total\{op="lookup",/{print $2}' "$t/mnt/.zcfs/stats")
  cat "$t/mnt/many"/* > /dev/null
  b=$(awk '/^zcfs_ops_total\{op="lookup",/{print $2}' "$t/mnt/.zcfs/stats")
  rdp=$(sed -n 's/^readdirplus=//p' "$t/mnt/.zcfs/config")
  nlookup=$((${b:-0} - ${a:-0}))
  zc_unmount || fail "daemon exit status ($1)"
}
lookups entry_timeout=60; mode_auto=$rdp auto=$nlookup
lookups entry_timeout=60,readdirplus_always; mode_always=$rdp always=$nlookup
[ "$mode_auto" = auto ] && [ "$mode_always" = always ] || fail "config shows readdirplus=$mode_auto/$mode_always"
[ "$always" -le 2 ] || fail "readdirplus_always: $always lookups opening 600 listed files"
[ "$auto" -ge 300 ] || fail "adaptive: only $auto lookups (the kernel asked for attributes throughout?)"
n=$((n + 1)); echo "ok $n - opening 600 listed files: $auto lookups (adaptive), $always with readdirplus_always"
echo "$n passed, 0 failed"
