/* route.h - which read engine and cache policy an open of an inode gets: the file's own
 * user.zcfs.* xattrs, the nearest ancestor directory's (cached per directory for attr_timeout),
 * the rules and the mount default, resolved by lib's zc_route_eval. Thread-safe. */
#ifndef ZCD_ROUTE_H
#define ZCD_ROUTE_H

#include "zc/route.h"

struct zcd_ctx;
struct zcd_inode;

/* Resolve mode and cache for in; fd is an open descriptor of it (for its own xattrs) or -1.
 * Falls back to the mount defaults on errors. Returns 0. */
int zcd_route(struct zcd_ctx *ctx, struct zcd_inode *in, int fd, struct zc_route_out *out);
/* Forget cached directory xattrs of in (after setxattr/removexattr through the mount). */
void zcd_route_invalidate(struct zcd_ctx *ctx, struct zcd_inode *in);

#endif
