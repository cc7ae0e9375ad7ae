/* passthrough.h - kernel passthrough for open files: the open reply names a backing file, and
 * the kernel then reads and writes it without the daemon. The kernel wants one backing file per
 * inode and never passthrough and another io mode on one inode at once (it answers EIO): an open
 * that would break that rule gets the mode the inode's open files already have. Thread-safe
 * (ctx->pt_lock guards every inode's counts and backing id). */
#ifndef ZCD_PASSTHROUGH_H
#define ZCD_PASSTHROUGH_H

#include <fuse_lowlevel.h>
#include <stdbool.h>

#include "zc/mode.h"

struct zcd_ctx;
struct zcd_inode;

/* At FUSE init: negotiate passthrough where libfuse, kernel and options allow it, and remember
 * why not otherwise. */
void zcd_pt_init(struct zcd_ctx *ctx, struct fuse_conn_info *conn);
/* An open of in (descriptor fd) routed to mode: register it and return the mode it is served in:
 * passthrough (with fi->backing_id set) when asked and possible, or when the inode is open in
 * passthrough already; otherwise mode, or splice when passthrough was asked and cannot be used
 * (*why: -errno, -ETXTBSY while the inode is open in another mode). */
enum zc_mode zcd_pt_open(fuse_req_t req, struct zcd_inode *in, int fd, enum zc_mode mode,
			 struct fuse_file_info *fi, int *why);
/* The open above is released (is_pt: it was served in passthrough). req: the RELEASE request,
 * NULL at exit (the kernel drops backing files with the connection). */
void zcd_pt_release(struct zcd_ctx *ctx, struct zcd_inode *in, bool is_pt, fuse_req_t req);

#endif
