/* notify.h - every invalidation the daemon sends the kernel goes through here, from a thread of
 * its own: a notification waits for the kernel's page locks and directory locks, which a request
 * handler must never do (the lock may be held by a request the same daemon has yet to answer).
 * Queued in order; repeated invalidations of one inode's data or attributes are merged while
 * queued. Thread-safe. */
#ifndef ZCD_NOTIFY_H
#define ZCD_NOTIFY_H

struct zcd_ctx;
struct zcd_inode;

/* Start the notifier thread (after the session exists). Returns 0 or -errno. */
int zcd_notify_start(struct zcd_ctx *ctx);
/* Stop it, dropping what is still queued (before the session is destroyed). */
void zcd_notify_stop(struct zcd_ctx *ctx);
/* Queue "drop in's cached pages and attributes" (in is pinned until sent; for a directory,
 * its cached listing). Without a notifier: nothing (the stamp is forgotten instead). */
void zcd_notify_inval(struct zcd_ctx *ctx, struct zcd_inode *in);
/* Queue "drop in's cached attributes" (its pages stay). */
void zcd_notify_inval_attr(struct zcd_ctx *ctx, struct zcd_inode *in);
/* Queue "forget what name in dir refers to" (a name, or its absence, the kernel caches). */
void zcd_notify_inval_entry(struct zcd_ctx *ctx, struct zcd_inode *dir, const char *name);
/* Queue the invalidation of everything the kernel may cache: every known inode's data and
 * attributes and every known name (after lost change notifications). Negative entries are the
 * caller's to list (watch.c). */
void zcd_notify_inval_all(struct zcd_ctx *ctx);

#endif
