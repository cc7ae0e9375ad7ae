#!/usr/bin/env bash
# zcfsctl's --help (top level and every command's) and docs/zcfsctl.1.rst must name the same
# commands and long options.
set -euo pipefail
ctl=$1 page=$2
cmds=$("$ctl" --help | sed -n '/^commands:/,/^$/p' | awk 'NF && $1 != "commands:" {print $1}' | sort -u)
helps=$("$ctl" --help; for c in $cmds; do "$ctl" "$c" --help; done)
opts_help=$(grep -oE -- '--[a-z][a-z-]+' <<<"$helps" | sort -u)
opts_man=$(grep -oE -- '--[a-z][a-z-]+' "$page" | sort -u)
status=0
for c in $cmds; do
  grep -qE "^$c( |$)" "$page" || { echo "command $c is in --help but has no entry in $(basename "$page")"; status=1; }
done
for c in $(sed -n '/^COMMANDS$/,/^OPTIONS$/p' "$page" | grep -oE '^[a-z]+( |$)' | sort -u); do
  grep -qx "$c" <<<"$cmds" || { echo "$(basename "$page") has an entry for '$c', which --help does not list"; status=1; }
done
missing_man=$(comm -23 <(echo "$opts_help") <(echo "$opts_man"))
missing_help=$(comm -13 <(echo "$opts_help") <(echo "$opts_man"))
[ -z "$missing_man" ] || { echo "in --help but not in the man page:"; echo "$missing_man"; status=1; }
[ -z "$missing_help" ] || { echo "in the man page but not in --help:"; echo "$missing_help"; status=1; }
[ $status = 0 ] && echo "$(wc -w <<<"$cmds") commands and $(wc -l <<<"$opts_help") options agree"
exit $status
