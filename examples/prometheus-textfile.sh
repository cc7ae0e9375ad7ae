#!/bin/sh
# prometheus-textfile.sh - export zcfs mounts' statistics to node_exporter's textfile collector.
# Each series in .zcfs/stats carries the labels mount= (-o name=, or the mount point) and node=;
# zcfsctl stats --prom merges several mounts into one exposition with each metric family once.
# One snapshot is written atomically (a temporary file in the same directory, then rename), so
# the collector never reads half a file.
#   usage: prometheus-textfile.sh [-d TEXTFILE_DIR] MOUNTPOINT...   (from a cron job or a timer)
#   node_exporter --collector.textfile.directory=/var/lib/node_exporter/textfile_collector
set -eu
dir=/var/lib/node_exporter/textfile_collector
if [ "${1:-}" = -d ]; then
  dir=${2:?usage: prometheus-textfile.sh [-d TEXTFILE_DIR] MOUNTPOINT...}
  shift 2
fi
[ $# -gt 0 ] || { echo "usage: prometheus-textfile.sh [-d TEXTFILE_DIR] MOUNTPOINT..." >&2; exit 2; }
tmp=$(mktemp "$dir/.zcfs.XXXXXX")
trap 'rm -f "$tmp"' EXIT
zcfsctl stats --prom "$@" > "$tmp"
chmod 0644 "$tmp"
mv "$tmp" "$dir/zcfs.prom"
trap - EXIT
