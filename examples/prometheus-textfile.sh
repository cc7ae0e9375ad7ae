#!/bin/sh
# prometheus-textfile.sh - export a zcfs mount's statistics to node_exporter's textfile collector.
# .zcfs/stats is already in the Prometheus text format; copy one snapshot atomically (write to a
# temporary file in the same directory, then rename) so the collector never reads half a file.
#   usage: prometheus-textfile.sh MOUNTPOINT [TEXTFILE_DIR]   (e.g. from a cron job or a timer)
#   node_exporter --collector.textfile.directory=/var/lib/node_exporter/textfile_collector
set -eu
mnt=${1:?usage: prometheus-textfile.sh MOUNTPOINT [TEXTFILE_DIR]}
dir=${2:-/var/lib/node_exporter/textfile_collector}
name=$(getfattr --only-values -n user.zcfs.ctl "$mnt" 2>/dev/null || echo .zcfs)
label=$(echo "$mnt" | tr -c 'a-zA-Z0-9_\n' '_')
tmp=$(mktemp "$dir/.zcfs_$label.XXXXXX")
trap 'rm -f "$tmp"' EXIT
cp "$mnt/$name/stats" "$tmp"
chmod 0644 "$tmp"
mv "$tmp" "$dir/zcfs_$label.prom"
trap - EXIT
