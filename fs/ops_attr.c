/* ops_attr.c - attributes: getattr, setattr (mode, owner, size, times, on a path or an open
 * handle), access, readlink and statfs. Calls go through the inode's O_PATH descriptor (AT_EMPTY_PATH) or
 * its /proc/self/fd alias, so nothing is resolved by a path another process could swap. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "zcfs.h"

static int stat_inode(struct zcd_ctx *ctx, struct zcd_inode *in, struct fuse_file_info *fi,
		      struct stat *st)
{
	struct zcd_fh *fh = fi ? (struct zcd_fh *)(uintptr_t)fi->fh : NULL;
	int fd, rc;

	if (fh && !fh->ctl_kind)
		return fstat(fh->fd, st) < 0 ? -errno : 0;
	fd = zcd_fd_get(ctx, in);
	if (fd < 0)
		return fd;
	rc = fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	zcd_fd_put(ctx, in);
	return rc;
}

static void reply_attr(fuse_req_t req, enum zc_op op, struct stat *st)
{
	struct zcd_ctx *ctx = zcd_ctx(req);

	st->st_ino = zcd_ino_out(ctx, st->st_dev, st->st_ino);
	zc_stats_op(ctx->stats, op, 0);
	fuse_reply_attr(req, st, ctx->opts.attr_timeout);
}

void zcd_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_inode *in;
	struct stat st;
	int rc;

	if (zcd_ctl_is_virtual(ctx, ino))
		return zcd_ctl_getattr(req, ino);
	in = zcd_inode_get(ctx, ino);
	if (!in)
		return zcd_reply_err(req, ZC_OP_getattr, -EIO);
	rc = stat_inode(ctx, in, fi, &st);
	if (rc < 0)
		return zcd_reply_err(req, ZC_OP_getattr, rc);
	reply_attr(req, ZC_OP_getattr, &st);
}

/* Apply the attribute changes in valid, on the open handle's descriptor when there is one. */
static int apply_setattr(struct zcd_ctx *ctx, struct zcd_inode *in, int pfd, int hfd,
			 const struct stat *attr, int valid)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
	if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
		gid_t gid = (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;
		if (fchownat(pfd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
	}
	if (valid & FUSE_SET_ATTR_MODE) {
		int r = hfd >= 0 ? fchmod(hfd, attr->st_mode & 07777)
				 : chmod(proc, attr->st_mode & 07777);
		if (r < 0)
			return -errno;
	}
	if (valid & FUSE_SET_ATTR_SIZE) {
		int r = hfd >= 0 ? ftruncate(hfd, attr->st_size) : truncate(proc, attr->st_size);
		if (r < 0)
			return -errno;
	}
	if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		struct timespec tv[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };
		if (valid & FUSE_SET_ATTR_ATIME_NOW)
			tv[0].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_ATIME)
			tv[0] = attr->st_atim;
		if (valid & FUSE_SET_ATTR_MTIME_NOW)
			tv[1].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_MTIME)
			tv[1] = attr->st_mtim;
		int r = hfd >= 0 ? futimens(hfd, tv)
				 : utimensat(pfd, "", tv, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
		if (r < 0)
			return -errno;
	}
	return 0;
}

void zcd_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
		 struct fuse_file_info *fi)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_fh *fh = fi ? (struct zcd_fh *)(uintptr_t)fi->fh : NULL;
	struct zcd_creds creds;
	struct zcd_inode *in;
	struct stat st;
	int pfd, rc;

	if (zcd_ctl_is_virtual(ctx, ino))
		return zcd_reply_err(req, ZC_OP_setattr, -EPERM);
	in = zcd_inode_get(ctx, ino);
	if (!in)
		return zcd_reply_err(req, ZC_OP_setattr, -EIO);
	pfd = zcd_fd_get(ctx, in);
	if (pfd < 0)
		return zcd_reply_err(req, ZC_OP_setattr, pfd);
	rc = zcd_creds_enter(req, &creds, false);
	if (rc == 0) {
		rc = apply_setattr(ctx, in, pfd, fh && !fh->ctl_kind ? fh->fd : -1, attr, valid);
		zcd_creds_leave(req, &creds);
	}
	if (rc == 0)
		rc = fstatat(pfd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	zcd_fd_put(ctx, in);
	if (rc < 0)
		return zcd_reply_err(req, ZC_OP_setattr, rc);
	reply_attr(req, ZC_OP_setattr, &st);
}

/* access(2) without default_permissions (with it, the kernel checks and never asks): the
 * backing filesystem's answer for the caller's fsuid, fsgid and groups. */
void zcd_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_creds creds;
	struct zcd_inode *in;
	int fd, rc;

	if (zcd_ctl_is_virtual(ctx, ino))
		return zcd_ctl_access(req, ino, mask);
	in = zcd_inode_get(ctx, ino);
	if (!in)
		return zcd_reply_err(req, ZC_OP_access, -EIO);
	fd = zcd_fd_get(ctx, in);
	if (fd < 0)
		return zcd_reply_err(req, ZC_OP_access, fd);
	rc = zcd_creds_enter(req, &creds, false);
	if (rc == 0) {
		/* AT_EACCESS: check with the fs ids just set, not the daemon's real ids */
		rc = faccessat(fd, "", mask, AT_EMPTY_PATH | AT_EACCESS) < 0 ? -errno : 0;
		zcd_creds_leave(req, &creds);
	}
	zcd_fd_put(ctx, in);
	if (rc < 0)
		return zcd_reply_err(req, ZC_OP_access, rc);
	zc_stats_op(ctx->stats, ZC_OP_access, 0);
	fuse_reply_err(req, 0);
}

void zcd_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_inode *in = zcd_inode_get(ctx, ino);
	char buf[PATH_MAX + 1];
	ssize_t n;
	int fd;

	if (!in)
		return zcd_reply_err(req, ZC_OP_readlink, zcd_ctl_is_virtual(ctx, ino) ? -EINVAL : -EIO);
	fd = zcd_fd_get(ctx, in);
	if (fd < 0)
		return zcd_reply_err(req, ZC_OP_readlink, fd);
	n = readlinkat(fd, "", buf, sizeof(buf));
	if (n < 0)
		n = -errno;
	zcd_fd_put(ctx, in);
	if (n < 0)
		return zcd_reply_err(req, ZC_OP_readlink, (int)n);
	if ((size_t)n >= sizeof(buf))
		return zcd_reply_err(req, ZC_OP_readlink, -ENAMETOOLONG);
	buf[n] = '\0';
	zc_stats_op(ctx->stats, ZC_OP_readlink, 0);
	fuse_reply_readlink(req, buf);
}

void zcd_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_inode *in = zcd_ctl_is_virtual(ctx, ino) ? &ctx->root : zcd_inode_get(ctx, ino);
	struct statvfs sv;
	char proc[64];
	int fd, rc;

	if (!in)
		return zcd_reply_err(req, ZC_OP_statfs, -EIO);
	fd = zcd_fd_get(ctx, in);
	if (fd < 0)
		return zcd_reply_err(req, ZC_OP_statfs, fd);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	rc = statvfs(proc, &sv) < 0 ? -errno : 0;
	zcd_fd_put(ctx, in);
	if (rc < 0)
		return zcd_reply_err(req, ZC_OP_statfs, rc);
	zc_stats_op(ctx->stats, ZC_OP_statfs, 0);
	fuse_reply_statfs(req, &sv);
}
