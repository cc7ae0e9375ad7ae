/* handle.h - open handles (fi->fh): what differs between kinds of handle (a backing file, a
 * backing directory, a control file, the control directory) is a small ops table chosen once at
 * open, so the op handlers dispatch instead of testing kinds. Every handle is on the daemon's
 * open list from open to RELEASE; the kernel drops RELEASEs still queued at unmount, so what is
 * left on the list is freed at exit. Thread-safe (ctx->open_lock). */
#ifndef ZCD_HANDLE_H
#define ZCD_HANDLE_H

#include <fuse_lowlevel.h>
#include <stdbool.h>

#include "zc/stats.h"

struct zcd_ctx;
struct zcd_fh;

struct zcd_fh_ops {
	const char *kind;
	/* Each sends the reply. NULL: the op does not apply (EBADF, or EISDIR for reads). */
	void (*read)(fuse_req_t req, struct zcd_fh *fh, size_t size, off_t off);
	void (*write)(fuse_req_t req, struct zcd_fh *fh, struct fuse_bufvec *bufv, off_t off,
		      struct fuse_file_info *fi);
	void (*readdir)(fuse_req_t req, struct zcd_fh *fh, size_t size, off_t off, bool plus);
	/* Status ops: 0 or -errno. NULL: nothing to do (0). */
	int (*flush)(struct zcd_fh *fh);
	int (*fsync)(struct zcd_fh *fh, int datasync);
	/* The backing descriptor for descriptor-level ops (fstat, fallocate, lseek, locks,
	 * copy_file_range); NULL when the handle has none (each op then answers its own errno). */
	int (*backing_fd)(struct zcd_fh *fh);
	/* Free the handle (off the open list already). Runs once; req is the RELEASE request, NULL
	 * at exit (no session to notify). */
	void (*release)(struct zcd_ctx *ctx, struct zcd_fh *fh, fuse_req_t req);
};

struct zcd_fh {
	const struct zcd_fh_ops *ops;
	struct zcd_fh *prev, *next; /* the open list; ctx->open_lock */
};

static inline struct zcd_fh *zcd_fh_of(const struct fuse_file_info *fi)
{
	return (struct zcd_fh *)(uintptr_t)fi->fh;
}

/* Initialise the open list (at start-up). */
void zcd_fh_list_init(struct zcd_ctx *ctx);
/* Set fh's ops, put it on the open list, and reply to OPEN/OPENDIR (or CREATE with e) with it
 * in fi. If the reply fails (the caller was interrupted: no RELEASE will come) the handle is
 * released at once and -ENOENT is returned; else 0. */
int zcd_fh_reply_open(fuse_req_t req, enum zc_op op, struct zcd_fh *fh, const struct zcd_fh_ops *ops,
		      struct fuse_file_info *fi, const struct fuse_entry_param *e);
/* RELEASE/RELEASEDIR (req), or a failed open reply (req NULL): off the list, then ops->release. */
void zcd_fh_release(struct zcd_ctx *ctx, struct zcd_fh *fh, fuse_req_t req);
/* After the session loop: release every handle whose RELEASE never came. */
void zcd_fh_release_all(struct zcd_ctx *ctx);

#endif
