/* ops_attr.c - attributes: getattr, setattr (mode, owner, size, times, on a path or an open
 * handle), access, readlink and statfs, plus the node-id helpers every op family shares. Calls
 * go through the inode's O_PATH descriptor (AT_EMPTY_PATH) or its /proc/self/fd alias, so
 * nothing is resolved by a path another process could swap. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cache.h"
#include "ctl.h"
#include "ctx.h"
#include "fd.h"
#include "file.h"
#include "lookup.h"
#include "ops.h"
#include "req.h"
#include "watch.h"

struct zcd_inode *zcd_ops_inode(fuse_req_t req, fuse_ino_t ino, enum zc_op op, int virt_err)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_inode *in;

	if (zcd_ctl_is_virtual(ctx, ino)) {
		zcd_reply_err(req, op, virt_err);
		return NULL;
	}
	in = zcd_inode_get(ctx, ino);
	if (!in)
		zcd_reply_err(req, op, -EIO);
	return in;
}

struct zcd_inode *zcd_ops_parent(fuse_req_t req, fuse_ino_t parent, const char *name,
				 enum zc_op op, int ctl_err)
{
	if (zcd_ctl_is_name(zcd_ctx(req), parent, name)) {
		zcd_reply_err(req, op, ctl_err);
		return NULL;
	}
	if (strlen(name) > 255) {
		zcd_reply_err(req, op, -ENAMETOOLONG);
		return NULL;
	}
	return zcd_ops_inode(req, parent, op, -EPERM);
}

/* The descriptor of an open handle, for ops given one (fstat, setattr on a handle). */
static int handle_fd(struct fuse_file_info *fi)
{
	struct zcd_fh *fh = fi ? zcd_fh_of(fi) : NULL;

	return fh && fh->ops->backing_fd ? fh->ops->backing_fd(fh) : -1;
}

static int stat_inode(struct zcd_ctx *ctx, struct zcd_inode *in, int hfd, struct stat *st)
{
	int fd, rc;

	if (hfd >= 0)
		return fstat(hfd, st) < 0 ? -errno : 0;
	fd = zcd_fd_get(ctx, in);
	if (fd < 0)
		return fd;
	rc = fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	zcd_fd_put(ctx, in);
	return rc;
}

static void reply_attr(fuse_req_t req, enum zc_op op, struct zcd_inode *in, struct stat *st)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	double entry_s, attr_s;

	zcd_watch_timeouts(ctx, NULL, in, &entry_s, &attr_s);
	st->st_ino = zcd_ino_out(ctx, st->st_dev, st->st_ino);
	zcd_count_ok(req, op);
	fuse_reply_attr(req, st, attr_s);
}

void zcd_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_inode *in;
	struct stat st;
	uint64_t seq;
	int rc;

	zcd_note_transport(req);
	if (zcd_ctl_is_virtual(ctx, ino))
		return zcd_ctl_getattr(req, ino);
	in = zcd_ops_inode(req, ino, ZC_OP_getattr, -EIO);
	if (!in)
		return;
	seq = zcd_cache_seq(ctx);
	rc = stat_inode(ctx, in, handle_fd(fi), &st);
	if (rc < 0)
		return zcd_reply_err(req, ZC_OP_getattr, rc);
	zcd_cache_observe(ctx, in, &st, seq);
	reply_attr(req, ZC_OP_getattr, in, &st);
}

static bool is_regular(int pfd, int hfd)
{
	struct stat st;

	return hfd >= 0 || (fstatat(pfd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISREG(st.st_mode));
}

/* Apply the attribute changes in valid, on the open handle's descriptor when there is one. */
static int apply_setattr(int pfd, int hfd, const struct stat *attr, int valid)
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
	if ((valid & FUSE_SET_ATTR_KILL_SUID) && is_regular(pfd, hfd)) {
		/* KILLPRIV_V2: a truncate or chown by a caller without CAP_FSETID (the kernel asks
		 * for every chown of a non-directory, symlinks included); the daemon, writing as
		 * root, has to clear the bits the kernel would have. Only a regular file has them to
		 * clear, and only one may be opened here (a symlink gives ELOOP, a device node would
		 * be opened). */
		int fd = hfd >= 0 ? hfd : open(proc, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		int rc = fd < 0 ? -errno : zcd_file_kill_privs(fd);
		if (fd >= 0 && fd != hfd)
			close(fd);
		if (rc < 0)
			return rc;
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
	struct zcd_creds creds;
	struct zcd_inode *in;
	struct stat st;
	uint64_t seq = 0;
	int pfd, rc;

	in = zcd_ops_inode(req, ino, ZC_OP_setattr, -EPERM);
	if (!in)
		return;
	pfd = zcd_fd_get(ctx, in);
	if (pfd < 0)
		return zcd_reply_err(req, ZC_OP_setattr, pfd);
	zcd_cache_write_begin(ctx, in);
	rc = zcd_creds_enter(req, &creds, false);
	if (rc == 0) {
		rc = apply_setattr(pfd, handle_fd(fi), attr, valid);
		zcd_creds_leave(req, &creds);
	}
	if (rc == 0) {
		seq = zcd_cache_seq(ctx);
		rc = fstatat(pfd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	}
	zcd_cache_write_end(ctx, in, rc == 0 ? &st : NULL, seq); /* the mount's own change */
	zcd_fd_put(ctx, in);
	if (rc < 0)
		return zcd_reply_err(req, ZC_OP_setattr, rc);
	reply_attr(req, ZC_OP_setattr, in, &st);
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
	in = zcd_ops_inode(req, ino, ZC_OP_access, -EIO);
	if (!in)
		return;
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
	zcd_reply_status(req, ZC_OP_access, rc);
}

void zcd_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_inode *in;
	char buf[PATH_MAX + 1];
	ssize_t n;
	int fd;

	if (zcd_ctl_is_virtual(ctx, ino))
		return zcd_ctl_readlink(req, ino);
	in = zcd_ops_inode(req, ino, ZC_OP_readlink, -EINVAL);
	if (!in)
		return;
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
	zcd_count_ok(req, ZC_OP_readlink);
	fuse_reply_readlink(req, buf);
}

void zcd_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_inode *in;
	struct statvfs sv;
	char proc[64];
	int fd, rc;

	in = zcd_ctl_is_virtual(ctx, ino) ? &ctx->root : zcd_ops_inode(req, ino, ZC_OP_statfs, -EIO);
	if (!in)
		return;
	fd = zcd_fd_get(ctx, in);
	if (fd < 0)
		return zcd_reply_err(req, ZC_OP_statfs, fd);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	rc = statvfs(proc, &sv) < 0 ? -errno : 0;
	zcd_fd_put(ctx, in);
	if (rc < 0)
		return zcd_reply_err(req, ZC_OP_statfs, rc);
	zcd_count_ok(req, ZC_OP_statfs);
	fuse_reply_statfs(req, &sv);
}
