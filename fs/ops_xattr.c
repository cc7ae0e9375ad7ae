/* ops_xattr.c - extended attributes passed through to the backing object (user., trusted.,
 * security. and system. namespaces), validation of user.zcfs.mode/cache values, and the
 * read-only virtual attributes, which getxattr answers and listxattr never lists. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "zcfs.h"

#define VXATTR_MAX 4096

enum xop { XOP_SET, XOP_GET, XOP_LIST, XOP_REMOVE };

/* Run one xattr call on the inode's /proc/self/fd alias as the caller. Returns the syscall's
 * result (a size for get/list) or -errno. */
static ssize_t xattr_call(fuse_req_t req, struct zcd_inode *in, enum xop op, const char *name,
			  void *buf, size_t size, int flags)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_creds creds;
	char proc[64];
	ssize_t rc;
	int fd;

	fd = zcd_fd_get(ctx, in);
	if (fd < 0)
		return fd;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	rc = zcd_creds_enter(req, &creds, false);
	if (rc == 0) {
		switch (op) {
		case XOP_SET:
			rc = setxattr(proc, name, buf, size, flags);
			break;
		case XOP_GET:
			rc = getxattr(proc, name, buf, size);
			break;
		case XOP_LIST:
			rc = listxattr(proc, buf, size);
			break;
		case XOP_REMOVE:
			rc = removexattr(proc, name);
			break;
		}
		if (rc < 0)
			rc = -errno;
		zcd_creds_leave(req, &creds);
	}
	zcd_fd_put(ctx, in);
	return rc;
}

static bool is_virtual_name(const char *name)
{
	return strcmp(name, ZC_XATTR_EFFECTIVE) == 0 || strcmp(name, ZC_XATTR_DIOALIGN) == 0 ||
	       strcmp(name, ZC_XATTR_RESIDENCY) == 0 || strcmp(name, "user.zcfs.ctl") == 0;
}

/* Shared by setxattr and removexattr: refuse virtual inodes and names, then pass through and
 * forget the routing cache of the inode. */
static void modify_xattr(fuse_req_t req, enum zc_op op, fuse_ino_t ino, const char *name,
			 const char *value, size_t size, int flags)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_inode *in;
	ssize_t rc;

	if (zcd_ctl_is_virtual(ctx, ino) || is_virtual_name(name))
		return zcd_reply_err(req, op, -EPERM);
	in = zcd_inode_get(ctx, ino);
	if (!in)
		return zcd_reply_err(req, op, -EIO);
	if (op == ZC_OP_setxattr) {
		rc = zc_route_check_xattr(name, value, size);
		if (rc < 0)
			return zcd_reply_err(req, op, (int)rc);
		rc = xattr_call(req, in, XOP_SET, name, (void *)value, size, flags);
	} else {
		rc = xattr_call(req, in, XOP_REMOVE, name, NULL, 0, 0);
	}
	if (rc < 0)
		return zcd_reply_err(req, op, (int)rc);
	if (strncmp(name, "user.zcfs.", 10) == 0)
		zcd_route_invalidate(ctx, in);
	zc_stats_op(ctx->stats, op, 0);
	fuse_reply_err(req, 0);
}

void zcd_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		  size_t size, int flags)
{
	modify_xattr(req, ZC_OP_setxattr, ino, name, value, size, flags);
}

void zcd_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	modify_xattr(req, ZC_OP_removexattr, ino, name, NULL, 0, 0);
}

/* Reply to a get or list with n bytes in buf, honouring the size-probe protocol. */
static void reply_sized(fuse_req_t req, enum zc_op op, const char *buf, ssize_t n, size_t size)
{
	if (n < 0)
		return zcd_reply_err(req, op, (int)n);
	if (size == 0) {
		zc_stats_op(zcd_ctx(req)->stats, op, 0);
		fuse_reply_xattr(req, (size_t)n);
		return;
	}
	if ((size_t)n > size)
		return zcd_reply_err(req, op, -ERANGE);
	zc_stats_op(zcd_ctx(req)->stats, op, 0);
	fuse_reply_buf(req, buf, (size_t)n);
}

void zcd_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_inode *in;
	char *buf;
	ssize_t n;

	if (zcd_ctl_is_virtual(ctx, ino))
		return zcd_reply_err(req, ZC_OP_getxattr, -ENODATA);
	in = zcd_inode_get(ctx, ino);
	if (!in)
		return zcd_reply_err(req, ZC_OP_getxattr, -EIO);
	if (strncmp(name, "user.zcfs.", 10) == 0 && is_virtual_name(name)) {
		char vbuf[VXATTR_MAX];
		n = zcd_ctl_vxattr(req, in, name, vbuf, sizeof(vbuf));
		return reply_sized(req, ZC_OP_getxattr, vbuf, n, size);
	}
	buf = size ? malloc(size) : NULL;
	if (size && !buf)
		return zcd_reply_err(req, ZC_OP_getxattr, -ENOMEM);
	n = xattr_call(req, in, XOP_GET, name, buf, size, 0);
	reply_sized(req, ZC_OP_getxattr, buf, n, size);
	free(buf);
}

void zcd_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_inode *in;
	char *buf;
	ssize_t n;

	if (zcd_ctl_is_virtual(ctx, ino))
		return reply_sized(req, ZC_OP_listxattr, "", 0, size);
	in = zcd_inode_get(ctx, ino);
	if (!in)
		return zcd_reply_err(req, ZC_OP_listxattr, -EIO);
	buf = size ? malloc(size) : NULL;
	if (size && !buf)
		return zcd_reply_err(req, ZC_OP_listxattr, -ENOMEM);
	n = xattr_call(req, in, XOP_LIST, NULL, buf, size, 0);
	reply_sized(req, ZC_OP_listxattr, buf, n, size);
	free(buf);
}
