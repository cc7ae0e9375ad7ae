/* watch.h - change notification from the backing filesystem, so that the kernel may keep names
 * and attributes for long: fanotify with a filesystem mark where the daemon may (root, a local
 * filesystem that reports entries by file handle), else inotify on each directory the kernel
 * knows, else nothing (the short timeouts). Changes made by other processes become the matching
 * invalidations (notify.h); the daemon's own are the kernel's to know already. One reader
 * thread; everything here is thread-safe. Lock order: tbl->lock before the watch's locks. */
#ifndef ZCD_WATCH_H
#define ZCD_WATCH_H

#include <stdbool.h>
#include <stddef.h>

struct zcd_ctx;
struct zcd_inode;

enum zcd_watch_kind { ZCD_WATCH_NONE, ZCD_WATCH_INOTIFY, ZCD_WATCH_FANOTIFY };

/* Choose and start the watch (-o watch=...), after the notifier. Never fails the mount: a watch
 * that cannot be set leaves the short timeouts, with one log line saying why. Returns 0, or
 * -errno only for -o watch=fanotify|inotify that cannot be had (the caller stops). */
int zcd_watch_start(struct zcd_ctx *ctx);
/* Stop the reader thread and free everything (before the notifier stops). */
void zcd_watch_stop(struct zcd_ctx *ctx);

/* A new table entry (fd: its O_PATH descriptor, borrowed): inotify watches directories. */
void zcd_watch_track(struct zcd_ctx *ctx, struct zcd_inode *in, int fd);
/* in leaves the table (tbl->lock held). */
void zcd_watch_untrack_locked(struct zcd_ctx *ctx, struct zcd_inode *in);
/* A directory on a filesystem not seen before (a mount below BACKING): watch it too. */
void zcd_watch_add_fs(struct zcd_ctx *ctx, int dirfd);

/* The seconds the kernel may keep the name of in within parent (NULL: not asked) and in's
 * attributes: long where changes are reported, the -o entry_timeout/attr_timeout otherwise. */
void zcd_watch_timeouts(struct zcd_ctx *ctx, struct zcd_inode *parent, struct zcd_inode *in,
			double *entry_s, double *attr_s);
/* The seconds the kernel may keep "name does not exist in dir". A long one is remembered, so
 * that lost notifications can invalidate it. */
double zcd_watch_negative(struct zcd_ctx *ctx, struct zcd_inode *dir, const char *name);
/* How long routing xattrs read from directory in may be cached, in ms (0: not at all). */
unsigned long zcd_watch_route_ttl_ms(struct zcd_ctx *ctx, struct zcd_inode *in);

/* The watch in use and why, one line (for .zcfs/config and zcfsctl doctor). */
void zcd_watch_describe(struct zcd_ctx *ctx, char *buf, size_t len);
enum zcd_watch_kind zcd_watch_kind(struct zcd_ctx *ctx);

#endif
