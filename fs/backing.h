/* backing.h - the backing filesystem as zcfs found it at mount (lib/backcap: xattrs, O_DIRECT,
 * file handles, inode numbers, remote or not), logged once and shown in .zcfs/config, and what
 * zcfs does for a missing capability that needs the daemon: user.zcfs.mode/.cache kept by zcfs
 * by path (lib/xstore) when the backing stores no xattrs, in memory and, with -o state_dir=DIR,
 * in DIR/xattrs. Thread-safe: the kept xattrs under one lock, their file written under another. */
#ifndef ZCD_BACKING_H
#define ZCD_BACKING_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "zc/backcap.h"

#define ZCD_REMOTE_DEPTH 32

struct zcd_ctx;
struct zcd_inode;

/* Probe the backing (ctx->root_fd), log what it lacks, and when it has no xattrs set up the kept
 * ones (loading DIR/xattrs). On a remote backing, -o prefetch_depth defaults to
 * ZCD_REMOTE_DEPTH (a store's parallelism, not a disk's queue). Returns 0, or -errno after printing why (a state file that cannot
 * be read or parsed: the mount is refused rather than losing the user's modes). */
int zcd_backing_init(struct zcd_ctx *ctx);
void zcd_backing_free(struct zcd_ctx *ctx);
/* The capabilities found at mount (never NULL after init). */
const struct zc_backcap *zcd_backing_cap(const struct zcd_ctx *ctx);

/* Does zcfs keep xattr name itself (the backing cannot, and it is user.zcfs.mode or .cache)? */
bool zcd_backing_keeps(const struct zcd_ctx *ctx, const char *name);
/* When zcfs keeps them: the routing xattrs of relpath into mode and cache (32 bytes each, ""
 * when unset), and true. False when the backing stores its own (read them there). */
bool zcd_backing_route_attrs(struct zcd_ctx *ctx, const char *relpath, char *mode, char *cache);

/* A kept xattr operation on in, for the caller of req, with the permission checks the backing
 * would make (set/remove: write permission or ownership of the object; get/list: read
 * permission). Results as the xattr calls: a size, or -errno. */
enum zcd_kx_op { ZCD_KX_SET, ZCD_KX_GET, ZCD_KX_LIST, ZCD_KX_REMOVE };
ssize_t zcd_backing_kept_xattr(fuse_req_t req, struct zcd_inode *in, enum zcd_kx_op op,
			       const char *name, void *buf, size_t size, int flags);

/* Names changed through the mount: kept xattrs follow a rename (exchange swaps them) and go
 * with a removed entry. No-ops when the backing stores its own. */
void zcd_backing_renamed(struct zcd_ctx *ctx, struct zcd_inode *parent, const char *name,
			 struct zcd_inode *newparent, const char *newname, unsigned flags);
void zcd_backing_removed(struct zcd_ctx *ctx, struct zcd_inode *parent, const char *name);

/* The .zcfs/config lines: backing_* and xattr_store=. */
void zcd_backing_describe(struct zcd_ctx *ctx, FILE *out);

#endif
