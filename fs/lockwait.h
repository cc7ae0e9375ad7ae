/* lockwait.h - lock requests that would block (F_SETLKW, flock without LOCK_NB) wait in a queue
 * that one thread retries, never in a request worker: ten waiters used to take every worker, so
 * the holder's unlock could not be served and the whole mount hung for every user. */
#ifndef ZCD_LOCKWAIT_H
#define ZCD_LOCKWAIT_H

#include <fcntl.h>

#include "ops.h"

struct zcd_ctx;

/* At FUSE init: over io_uring (asked for and offered), leave POSIX and flock locks to the kernel
 * (kernel-local: they work between processes using the mount, waits sleep in the kernel, but
 * locks taken directly on the backing files are not seen). libfuse 3.18 answers a ring's
 * request only from that ring's thread, so a lock that waited in the daemon held its queue
 * and every request behind it: 40 flock waiters hung the mount for every user. */
struct fuse_conn_info;
void zcd_lock_init(struct zcd_ctx *ctx, struct fuse_conn_info *conn);

/* Start the retry thread (after the session exists). Returns 0 or -errno. */
int zcd_lockwait_start(struct zcd_ctx *ctx);
/* Stop it; requests still waiting are answered EINTR (before the session is destroyed). */
void zcd_lockwait_stop(struct zcd_ctx *ctx);
/* Take an OFD lock (lk; op ZC_OP_setlk) or a flock lock (lk NULL, flock_op; op ZC_OP_flock) on
 * fd and reply. If it would block and wait is set, req is queued and answered later: 0 once
 * taken, EINTR once the caller is interrupted, ENOLCK when too many waits are queued (4,096 in
 * all, 256 per user). fd stays valid meanwhile: the kernel holds the file for the request. */
void zcd_lock_take(fuse_req_t req, enum zc_op op, int fd, const struct flock *lk, int flock_op,
		   int wait);
/* A lock may have been released (an unlock, a closed handle): retry the queue now. */
void zcd_lockwait_kick(struct zcd_ctx *ctx);

#endif
