/* ctl.h - the control directory inside the mount (.zcfs by default): virtual nodes for stats
 * (Prometheus text), stats.json, config and the ctl transaction file. Each handle serves one
 * snapshot, the same one a stat just before reported the size of; ctl runs one command per write
 * (ctl_int.h). The op layer asks zcd_ctl_is_virtual() and hands virtual nodes here. Thread-safe. */
#ifndef ZCD_CTL_H
#define ZCD_CTL_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stddef.h>

struct zcd_ctx;

int zcd_ctl_init(struct zcd_ctx *ctx);
void zcd_ctl_free(struct zcd_ctx *ctx);
/* Is ino one of the control plane's nodes? */
bool zcd_ctl_is_virtual(const struct zcd_ctx *ctx, fuse_ino_t ino);
/* Is name in parent the control directory (shadowing any backing entry of that name)? */
bool zcd_ctl_is_name(const struct zcd_ctx *ctx, fuse_ino_t parent, const char *name);

/* Requests on virtual nodes (or, for lookup, of the control directory's name at the root).
 * Each sends the reply. */
void zcd_ctl_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void zcd_ctl_getattr(fuse_req_t req, fuse_ino_t ino);
void zcd_ctl_access(fuse_req_t req, fuse_ino_t ino, int mask);
/* OPEN and OPENDIR of a virtual node. */
void zcd_ctl_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, bool is_dir);
/* READLINK of the control entry when it is a link to the control mount (ctl_mount.h). */
void zcd_ctl_readlink(fuse_req_t req, fuse_ino_t ino);
/* The node id of the control directory (the root of the control mount). */
fuse_ino_t zcd_ctl_dir_ino(const struct zcd_ctx *ctx);
/* The control files live in a mount at path: the control entry becomes a link to it. */
int zcd_ctl_set_side(struct zcd_ctx *ctx, const char *path);
/* READDIR(PLUS) of the control directory (the kernel opened it without a round trip). */
void zcd_ctl_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus);
/* Append the control directory's entry to a root listing; returns bytes added or 0 if full. */
size_t zcd_ctl_root_dirent(fuse_req_t req, char *buf, size_t size, off_t next_off, bool plus);

#endif
