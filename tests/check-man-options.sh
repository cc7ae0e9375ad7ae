#!/usr/bin/env bash
# Check that a program's --help and its man page (reStructuredText source) list the same
# options: every "-o NAME" and every "--long-option" in one must appear in the other.
set -euo pipefail
prog=$1 page=$2
extract() { grep -oE '(-o [a-z_]+|--[a-z][a-z-]+)' | sort -u; }
help=$("$prog" --help 2>&1 | extract)
man=$(extract < "$page")
# libfuse's own help is not ours to document.
fuse_only=$("$prog" --help 2>&1 | sed -n '/^FUSE options:/,$p' | extract || true)
ours=$(comm -23 <(echo "$help") <(echo "$fuse_only"))
missing_in_man=$(comm -23 <(echo "$ours") <(echo "$man"))
missing_in_help=$(comm -13 <(echo "$help") <(echo "$man") | grep -vE -- '^-o (allow_other|default_permissions|clone_fd|max_threads)$' || true)
status=0
if [ -n "$missing_in_man" ]; then echo "in --help but not in $page:"; echo "$missing_in_man"; status=1; fi
if [ -n "$missing_in_help" ]; then echo "in $page but not in --help:"; echo "$missing_in_help"; status=1; fi
[ $status = 0 ] && echo "$(echo "$ours" | wc -l) options agree between --help and $(basename "$page")"
exit $status
