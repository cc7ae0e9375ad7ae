/* ops_dir.c - namespace operations: lookup and forget, creating nodes (one helper for mknod,
 * mkdir and symlink), link, unlink and rmdir (one helper), rename, and directory handles with
 * readdir/readdirplus. Every call is relative to a parent's descriptor (*at()). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backing.h"
#include "cache.h"
#include "ctl.h"
#include "ctx.h"
#include "fd.h"
#include "file.h"
#include "lookup.h"
#include "ops.h"
#include "req.h"
#include "route.h"
#include "dirlist.h"
#include "watch.h"

void zcd_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct fuse_entry_param e;
	struct zcd_inode *p;
	int rc;

	if (zcd_ctl_is_virtual(ctx, parent) || zcd_ctl_is_name(ctx, parent, name))
		return zcd_ctl_lookup(req, parent, name);
	p = zcd_ops_inode(req, parent, ZC_OP_lookup, -EIO);
	if (!p)
		return;
	rc = zcd_lookup_name(ctx, p, name, 0, &e);
	if (rc == -ENOENT) {
		/* A negative entry: the kernel caches the absence (long where a watch will tell). */
		double neg = zcd_watch_negative(ctx, p, name);
		if (neg > 0) {
			memset(&e, 0, sizeof(e));
			e.entry_timeout = neg;
			rc = 0;
		}
	}
	if (rc < 0)
		return zcd_reply_err(req, ZC_OP_lookup, rc);
	zcd_count_ok(req, ZC_OP_lookup);
	fuse_reply_entry(req, &e);
}

static void forget_one(struct zcd_ctx *ctx, fuse_ino_t ino, uint64_t nlookup)
{
	if (ino != FUSE_ROOT_ID && !zcd_ctl_is_virtual(ctx, ino))
		zcd_inode_forget(ctx, zcd_inode_get(ctx, ino), nlookup);
}

void zcd_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct zcd_ctx *ctx = zcd_ctx(req);

	forget_one(ctx, ino, nlookup);
	zcd_count_ok(req, ZC_OP_forget);
	fuse_reply_none(req);
}

void zcd_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct zcd_ctx *ctx = zcd_ctx(req);

	for (size_t i = 0; i < count; i++)
		forget_one(ctx, forgets[i].ino, forgets[i].nlookup);
	zcd_count_ok(req, ZC_OP_forget);
	fuse_reply_none(req);
	zcd_dirlist_expire(ctx); /* listings nobody finished keep nothing alive for long */
	/* After the kernel drops a large part of its inodes (memory pressure, drop_caches), give
	 * the freed entries back to the system instead of keeping the high-water mark: every 8,192
	 * forgets, and when the table has emptied (the end of a burst, which the count misses). */
	if (atomic_fetch_add(&ctx->forgets_since_trim, count) + count >= 8192 ||
	    (zcd_table_count(ctx) == 0 && atomic_load(&ctx->forgets_since_trim))) {
		atomic_store(&ctx->forgets_since_trim, 0);
		malloc_trim(0);
	}
}

/* ---- creating nodes ---- */

/* Create name in parent as the caller: a directory, a symlink to link, or (for mknod) a
 * regular file, fifo, socket or device node. Replies with the new entry. */
static void make_node(fuse_req_t req, enum zc_op op, fuse_ino_t parent, const char *name,
		      mode_t mode, dev_t rdev, const char *link)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct fuse_entry_param e;
	struct zcd_creds creds;
	struct zcd_inode *p;
	int pfd, rc;

	p = zcd_ops_parent(req, parent, name, op, -EEXIST);
	if (!p)
		return;
	pfd = zcd_fd_get(ctx, p);
	if (pfd < 0)
		return zcd_reply_err(req, op, pfd);
	rc = zcd_creds_enter(req, &creds, true);
	if (rc == 0) {
		if (link)
			rc = symlinkat(link, pfd, name);
		else if (S_ISDIR(mode))
			rc = mkdirat(pfd, name, mode & 07777);
		else
			rc = mknodat(pfd, name, mode, rdev);
		rc = rc < 0 ? -errno : 0;
		zcd_creds_leave(req, &creds);
	}
	zcd_fd_put(ctx, p);
	if (rc == 0)
		rc = zcd_lookup_name(ctx, p, name, 0, &e);
	if (rc < 0)
		return zcd_reply_err(req, op, rc);
	zcd_count_ok(req, op);
	fuse_reply_entry(req, &e);
}

void zcd_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	make_node(req, ZC_OP_mknod, parent, name, mode, rdev, NULL);
}

void zcd_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make_node(req, ZC_OP_mkdir, parent, name, S_IFDIR | mode, 0, NULL);
}

void zcd_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	make_node(req, ZC_OP_symlink, parent, name, S_IFLNK | 0777, 0, link);
}

/* link runs as the caller, so the backing filesystem applies its own rules (hard-link
 * protection, directory write permission) to them, as it would without the mount. */
void zcd_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct fuse_entry_param e;
	struct zcd_creds creds;
	struct zcd_inode *in, *np;
	struct stat st;
	char path[64];
	uint64_t seq;
	int fd, npfd, rc;

	in = zcd_ops_inode(req, ino, ZC_OP_link, -EPERM);
	if (!in)
		return;
	np = zcd_ops_parent(req, newparent, newname, ZC_OP_link, -EEXIST);
	if (!np)
		return;
	fd = zcd_fd_get(ctx, in);
	if (fd < 0)
		return zcd_reply_err(req, ZC_OP_link, fd);
	npfd = zcd_fd_get(ctx, np);
	if (npfd < 0) {
		rc = npfd;
		goto out_put;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rc = zcd_creds_enter(req, &creds, true);
	if (rc == 0) {
		rc = linkat(AT_FDCWD, path, npfd, newname, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
		zcd_creds_leave(req, &creds);
	}
	/* The new link changed ctime: the mount's own change, not another process's. */
	seq = zcd_cache_seq(ctx);
	if (rc == 0 && fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0)
		zcd_cache_absorb(ctx, in, &st, seq);
	zcd_fd_put(ctx, np);
out_put:
	zcd_fd_put(ctx, in);
	if (rc == 0)
		rc = zcd_lookup_name(ctx, np, newname, 0, &e);
	if (rc < 0)
		return zcd_reply_err(req, ZC_OP_link, rc);
	zcd_count_ok(req, ZC_OP_link);
	fuse_reply_entry(req, &e);
}

/* ---- removing and renaming ---- */

static void remove_entry(fuse_req_t req, enum zc_op op, fuse_ino_t parent, const char *name,
			 int flags)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_creds creds;
	struct zcd_inode *p;
	int pfd, rc;

	p = zcd_ops_parent(req, parent, name, op, -EPERM);
	if (!p)
		return;
	pfd = zcd_fd_get(ctx, p);
	if (pfd < 0)
		return zcd_reply_err(req, op, pfd);
	rc = zcd_creds_enter(req, &creds, false);
	if (rc == 0) {
		rc = unlinkat(pfd, name, flags) < 0 ? -errno : 0;
		zcd_creds_leave(req, &creds);
	}
	if (rc == 0)
		zcd_backing_removed(ctx, p, name);
	zcd_fd_put(ctx, p);
	zcd_reply_status(req, op, rc);
}

void zcd_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, ZC_OP_unlink, parent, name, 0);
}

void zcd_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, ZC_OP_rmdir, parent, name, AT_REMOVEDIR);
}

/* After a rename, record the new name of whatever now sits at pfd/name (if the kernel knows
 * it): routing follows the new path, and the ctime change is the mount's own. */
static void note_name(struct zcd_ctx *ctx, struct zcd_inode *parent, int pfd, const char *name)
{
	struct zcd_inode *in;
	struct stat st;
	uint64_t seq = zcd_cache_seq(ctx);
	int fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && (in = zcd_inode_find_fd(ctx, fd, &st))) {
		zcd_inode_set_name(ctx, in, parent, name);
		zcd_route_invalidate(ctx, in);
		zcd_cache_absorb(ctx, in, &st, seq);
		zcd_inode_unpin(ctx, in);
	}
	close(fd);
}

void zcd_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		const char *newname, unsigned int flags)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_inode *p, *np;
	struct zcd_creds creds;
	int pfd, npfd, rc;

	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return zcd_reply_err(req, ZC_OP_rename, -EINVAL);
	p = zcd_ops_parent(req, parent, name, ZC_OP_rename, -EPERM);
	if (!p)
		return;
	np = zcd_ops_parent(req, newparent, newname, ZC_OP_rename, -EPERM);
	if (!np)
		return;
	pfd = zcd_fd_get(ctx, p);
	if (pfd < 0)
		return zcd_reply_err(req, ZC_OP_rename, pfd);
	npfd = zcd_fd_get(ctx, np);
	if (npfd < 0) {
		rc = npfd;
		goto out_put;
	}
	rc = zcd_creds_enter(req, &creds, false);
	if (rc == 0) {
		rc = renameat2(pfd, name, npfd, newname, flags) < 0 ? -errno : 0;
		zcd_creds_leave(req, &creds);
	}
	if (rc == 0) {
		zcd_backing_renamed(ctx, p, name, np, newname, flags); /* before the inodes' new names */
		note_name(ctx, np, npfd, newname);
		if (flags & RENAME_EXCHANGE)
			note_name(ctx, p, pfd, name);
	}
	zcd_fd_put(ctx, np);
out_put:
	zcd_fd_put(ctx, p);
	zcd_reply_status(req, ZC_OP_rename, rc);
}

/* ---- directory handles ---- */

/* Where the kernel can open directories without asking (FUSE_NO_OPENDIR_SUPPORT), the first
 * OPENDIR is answered ENOSYS and none follows: listings come as READDIR without a handle, from
 * backing cookies (dirlist.h), and the kernel caches them until the watch or a changed mtime
 * invalidates them. Otherwise each handle has a cursor of its own, opened as the caller. */
struct zcd_dir {
	struct zcd_fh fh;             /* first: ops and list links */
	struct zcd_dcursor *cursor;
	struct zcd_inode *inode;      /* referenced by opens */
	uid_t uid;                    /* the budget share this handle is charged to */
};

static const struct zcd_fh_ops dir_ops;

void zcd_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_inode *in;
	struct zcd_dir *d;
	int fd, rc;

	if (zcd_ctl_is_virtual(ctx, ino))
		return zcd_ctl_open(req, ino, fi, true);
	in = zcd_ops_inode(req, ino, ZC_OP_opendir, -EIO);
	if (!in)
		return;
	if (ctx->no_opendir) {
		zcd_count_ok(req, ZC_OP_opendir);
		return (void)fuse_reply_err(req, ENOSYS); /* "open without me, from now on" */
	}
	rc = zcd_file_charge(req, true);
	if (rc < 0)
		return zcd_reply_err(req, ZC_OP_opendir, rc);
	d = calloc(1, sizeof(*d));
	if (!d) {
		rc = -ENOMEM;
		goto out_uncharge;
	}
	fd = zcd_inode_open(ctx, in, O_RDONLY | O_DIRECTORY, req);
	if (fd < 0) {
		rc = fd;
		goto out_free;
	}
	d->cursor = zcd_dcursor_new(ctx, in, fd);
	if (!d->cursor) {
		rc = -ENOMEM;
		goto out_free;
	}
	d->inode = in;
	d->uid = fuse_req_ctx(req)->uid;
	/* The kernel caches the listing unless the mount default is cache=none; it keeps it across
	 * opens while the directory is unchanged (changes through the mount reset it in the
	 * kernel; others' are seen by the watch, or by the directory's stamp here). */
	fi->cache_readdir = ctx->opts.cache != ZC_CACHE_NONE;
	if (fi->cache_readdir) {
		struct stat st;
		uint64_t seq = zcd_cache_seq(ctx);
		bool changed;
		fi->keep_cache = fstat(fd, &st) == 0 &&
				 zcd_cache_open(ctx, in, &st, seq, ZC_CACHE_AUTO, &changed);
	}
	zcd_inode_opened(ctx, in);
	zcd_fh_reply_open(req, ZC_OP_opendir, &d->fh, &dir_ops, fi, NULL);
	return;

out_free:
	free(d);
out_uncharge:
	zcd_file_uncharge(req, true);
	zcd_reply_err(req, ZC_OP_opendir, rc);
}

static void dir_readdir(fuse_req_t req, struct zcd_fh *fh, size_t size, off_t off, bool plus)
{
	struct zcd_dir *d = (struct zcd_dir *)fh;

	zcd_dirlist_read(req, d->inode, d->cursor, size, off, plus);
}

static int dir_fsync(struct zcd_fh *fh, int datasync)
{
	int fd = zcd_dcursor_fd(((struct zcd_dir *)fh)->cursor);

	return (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
}

static int dir_backing_fd(struct zcd_fh *fh)
{
	return zcd_dcursor_fd(((struct zcd_dir *)fh)->cursor);
}

static void dir_release(struct zcd_ctx *ctx, struct zcd_fh *fh, fuse_req_t req)
{
	struct zcd_dir *d = (struct zcd_dir *)fh;

	zcd_dcursor_free(d->cursor);
	zcd_fds_uncharge(ctx, d->uid, ZCD_CHARGE_DIR);
	zcd_inode_closed(ctx, d->inode);
	free(d);
}

static const struct zcd_fh_ops dir_ops = {
	.kind = "dir",
	.readdir = dir_readdir,
	.fsync = dir_fsync,
	.backing_fd = dir_backing_fd,
	.release = dir_release,
};

static void readdir_any(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi, bool plus)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_fh *fh = zcd_fh_of(fi);
	struct zcd_inode *in;

	if (fh) {
		if (!fh->ops->readdir)
			return zcd_reply_err(req, ZC_OP_readdir, -EBADF);
		return fh->ops->readdir(req, fh, size, off, plus);
	}
	/* Opened without a round trip. */
	if (zcd_ctl_is_virtual(ctx, ino))
		return zcd_ctl_readdir(req, ino, size, off, plus);
	in = zcd_ops_inode(req, ino, ZC_OP_readdir, -EIO);
	if (in)
		zcd_dirlist_read(req, in, NULL, size, off, plus);
}

void zcd_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	readdir_any(req, ino, size, off, fi, false);
}

void zcd_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	readdir_any(req, ino, size, off, fi, true);
}
