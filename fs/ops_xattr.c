/* ops_xattr.c - extended attributes passed through to the backing object (user., trusted.,
 * security. and system. namespaces), validation of user.zcfs.mode/cache values, and the
 * read-only virtual attributes (effective routing, O_DIRECT alignment, residency, the control
 * directory's name), which getxattr answers and listxattr never lists. */
#include <errno.h>
#include <linux/limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "backing.h"
#include "cache.h"
#include "ctl.h"
#include "ctx.h"
#include "fd.h"
#include "file.h"
#include "ops.h"
#include "req.h"
#include "route.h"
#include "zc/resid.h"

#define VXATTR_MAX 4096
#define XATTR_CTL "user.zcfs.ctl"

enum xop { XOP_SET, XOP_GET, XOP_LIST, XOP_REMOVE };

/* Run one xattr call on the inode's /proc/self/fd alias as the caller. Returns the syscall's
 * result (a size for get/list) or -errno. */
static ssize_t xattr_call(fuse_req_t req, struct zcd_inode *in, enum xop op, const char *name,
			  void *buf, size_t size, int flags)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_creds creds;
	struct stat st;
	char proc[64];
	uint64_t seq;
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
	/* A changed xattr changes ctime: the mount's own change, not a reason to drop pages. */
	seq = zcd_cache_seq(ctx);
	if (rc >= 0 && (op == XOP_SET || op == XOP_REMOVE) &&
	    fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0)
		zcd_cache_absorb(ctx, in, &st, seq);
	zcd_fd_put(ctx, in);
	return rc;
}

static bool is_virtual_name(const char *name)
{
	return strcmp(name, ZC_XATTR_EFFECTIVE) == 0 || strcmp(name, ZC_XATTR_DIOALIGN) == 0 ||
	       strcmp(name, ZC_XATTR_RESIDENCY) == 0 || strcmp(name, XATTR_CTL) == 0;
}

/* Shared by setxattr and removexattr: refuse virtual inodes and names, then pass through and
 * forget the routing cache of the inode. */
static void modify_xattr(fuse_req_t req, enum zc_op op, fuse_ino_t ino, const char *name,
			 const char *value, size_t size, int flags)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_inode *in;
	ssize_t rc;

	in = zcd_ops_inode(req, ino, op, -EPERM);
	if (!in)
		return;
	if (is_virtual_name(name))
		return zcd_reply_err(req, op, -EPERM);
	if (zcd_backing_keeps(ctx, name)) { /* the backing has no xattrs: zcfs keeps these */
		rc = op == ZC_OP_setxattr ? zc_route_check_xattr(name, value, size) : 0;
		if (rc == 0)
			rc = zcd_backing_kept_xattr(req, in, op == ZC_OP_setxattr ? ZCD_KX_SET : ZCD_KX_REMOVE,
						    name, (void *)value, size, flags);
	} else if (op == ZC_OP_setxattr) {
		rc = zc_route_check_xattr(name, value, size);
		if (rc == 0)
			rc = xattr_call(req, in, XOP_SET, name, (void *)value, size, flags);
	} else {
		rc = xattr_call(req, in, XOP_REMOVE, name, NULL, 0, 0);
	}
	if (rc >= 0 && strncmp(name, "user.zcfs.", 10) == 0)
		zcd_route_invalidate(ctx, in);
	zcd_reply_status(req, op, (int)rc);
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
	if (size && (size_t)n > size)
		return zcd_reply_err(req, op, -ERANGE);
	zcd_count_ok(req, op);
	if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

/* The virtual attributes: user.zcfs.ctl (root), .effective (routing an open would get, and
 * any engine fallback of open handles), and for regular files .dioalign and .residency (a
 * known side channel, so only for who could write the file or owns it). */
static int vxattr(fuse_req_t req, struct zcd_inode *in, const char *name, char *buf, size_t len)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zc_route_out route;
	struct zc_resid r = { 0 };
	struct stat st;
	uint32_t mem, off;
	int fd, rc;

	if (strcmp(name, XATTR_CTL) == 0) {
		if (in != &ctx->root || !ctx->ctl)
			return -ENODATA;
		return snprintf(buf, len, "%s", ctx->opts.ctl_name);
	}
	if (strcmp(name, ZC_XATTR_EFFECTIVE) == 0) {
		zcd_route(ctx, in, -1, &route);
		rc = zc_route_format(&route, buf, len);
		if (rc >= 0 && (size_t)rc < len)
			rc += zcd_file_describe_fallback(ctx, in, buf + rc, len - (size_t)rc);
		return rc;
	}
	if (in->type != S_IFREG)
		return -ENODATA;
	fd = zcd_inode_open(ctx, in, O_RDONLY | O_NONBLOCK, NULL);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out_close;
	}
	if (strcmp(name, ZC_XATTR_DIOALIGN) == 0) {
		rc = zc_dio_align(fd, &mem, &off);
		if (rc == 0)
			rc = snprintf(buf, len, "mem=%u offset=%u", mem, off);
		goto out_close;
	}
	if (!zcd_caller_may(req, fd, &st, W_OK)) {
		rc = -EACCES;
		goto out_close;
	}
	rc = zc_resid_query(fd, 0, &r);
	if (rc == 0)
		rc = snprintf(buf, len, "page_size=%llu file_bytes=%llu pages=%llu resident_pages=%llu resident_bytes=%llu",
			      (unsigned long long)r.page_size, (unsigned long long)r.file_bytes,
			      (unsigned long long)r.total_pages, (unsigned long long)r.resident_pages,
			      (unsigned long long)(r.resident_pages * r.page_size));
	zc_resid_free(&r);
out_close:
	close(fd);
	return rc;
}

void zcd_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct zcd_inode *in;
	char *buf;
	ssize_t n;

	in = zcd_ops_inode(req, ino, ZC_OP_getxattr, -ENODATA);
	if (!in)
		return;
	if (is_virtual_name(name)) {
		char vbuf[VXATTR_MAX];
		n = vxattr(req, in, name, vbuf, sizeof(vbuf));
		if (n >= (ssize_t)sizeof(vbuf))
			n = -E2BIG;
		return reply_sized(req, ZC_OP_getxattr, vbuf, n, size);
	}
	buf = size ? malloc(size) : NULL;
	if (size && !buf)
		return zcd_reply_err(req, ZC_OP_getxattr, -ENOMEM);
	if (zcd_backing_keeps(zcd_ctx(req), name))
		n = zcd_backing_kept_xattr(req, in, ZCD_KX_GET, name, buf, size, 0);
	else
		n = xattr_call(req, in, XOP_GET, name, buf, size, 0);
	/* ls -l asks every file for its SELinux label, a round trip each (FUSE caches no xattr
	 * but ACLs). On a machine without SELinux a file without one says the attribute is not
	 * supported: ls then stops asking for the rest of the mount, as for any filesystem
	 * without labels. A label the file has is returned as it is. */
	if (n == -ENODATA && zcd_ctx(req)->selinux_off && strcmp(name, "security.selinux") == 0)
		n = -EOPNOTSUPP;
	reply_sized(req, ZC_OP_getxattr, buf, n, size);
	free(buf);
}

/* The backing's names as the caller would list them: the daemon keeps CAP_SYS_ADMIN while it
 * acts as the caller, so the kernel would list trusted.* names to anyone; only root sees them.
 * Returns the length (what fits in size, or the whole length for size 0) or -errno. */
static ssize_t list_visible(fuse_req_t req, struct zcd_inode *in, char *buf, size_t size)
{
	char *all, *out;
	ssize_t n;
	size_t len = 0;

	if (fuse_req_ctx(req)->uid == 0)
		return xattr_call(req, in, XOP_LIST, NULL, buf, size, 0);
	all = malloc(XATTR_LIST_MAX);
	if (!all)
		return -ENOMEM;
	n = xattr_call(req, in, XOP_LIST, NULL, all, XATTR_LIST_MAX, 0);
	out = all;
	for (ssize_t at = 0; n > 0 && at < n;) {
		size_t l = strnlen(all + at, (size_t)(n - at)) + 1;
		if (strncmp(all + at, "trusted.", 8) != 0) {
			memmove(out + len, all + at, l);
			len += l;
		}
		at += (ssize_t)l;
	}
	if (n >= 0 && size && len > size)
		n = -ERANGE;
	else if (n >= 0) {
		if (size)
			memcpy(buf, out, len);
		n = (ssize_t)len;
	}
	free(all);
	return n;
}

void zcd_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_inode *in;
	char *buf;
	ssize_t n;

	if (zcd_ctl_is_virtual(ctx, ino))
		return reply_sized(req, ZC_OP_listxattr, "", 0, size);
	in = zcd_ops_inode(req, ino, ZC_OP_listxattr, -EIO);
	if (!in)
		return;
	buf = size ? malloc(size) : NULL;
	if (size && !buf)
		return zcd_reply_err(req, ZC_OP_listxattr, -ENOMEM);
	/* A backing without xattrs lists none of its own: the ones zcfs keeps. */
	if (zcd_backing_keeps(ctx, ZC_XATTR_MODE))
		n = zcd_backing_kept_xattr(req, in, ZCD_KX_LIST, NULL, buf, size, 0);
	else
		n = list_visible(req, in, buf, size);
	reply_sized(req, ZC_OP_listxattr, buf, n, size);
	free(buf);
}
