/* notify.h - invalidations of the mount's page cache sent from a thread of their own: a
 * notification waits for the kernel's page locks, which a request handler must never do (the
 * page may be locked by a read the same daemon has yet to answer). Thread-safe. */
#ifndef ZCD_NOTIFY_H
#define ZCD_NOTIFY_H

struct zcd_ctx;
struct zcd_inode;

/* Start the notifier thread (after the session exists). Returns 0 or -errno. */
int zcd_notify_start(struct zcd_ctx *ctx);
/* Stop it, dropping what is still queued (before the session is destroyed). */
void zcd_notify_stop(struct zcd_ctx *ctx);
/* Queue "drop in's cached pages" (in is pinned until sent). Without a notifier: nothing. */
void zcd_notify_inval(struct zcd_ctx *ctx, struct zcd_inode *in);

#endif
