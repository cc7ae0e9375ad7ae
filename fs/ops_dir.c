/* ops_dir.c - namespace operations: lookup and forget, creating nodes (one helper for mknod,
 * mkdir, symlink and create's sibling paths), link, unlink, rmdir, rename, and directory
 * listing with readdirplus. Every call is relative to a parent's descriptor (*at()). */
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zc/log.h"
#include "zcfs.h"

static bool is_ctl_name(struct zcd_ctx *ctx, fuse_ino_t parent, const char *name)
{
	return ctx->ctl && parent == FUSE_ROOT_ID && strcmp(name, ctx->opts.ctl_name) == 0;
}

void zcd_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct fuse_entry_param e;
	struct zcd_inode *p;
	int rc;

	if (zcd_ctl_is_virtual(ctx, parent))
		return zcd_ctl_lookup(req, parent, name);
	if (is_ctl_name(ctx, parent, name) && zcd_ctl_lookup_root(req, name))
		return;
	p = zcd_inode_get(ctx, parent);
	if (!p)
		return zcd_reply_err(req, ZC_OP_lookup, -EIO);
	rc = zcd_do_lookup(ctx, p, name, &e);
	if (rc == -ENOENT && ctx->opts.entry_timeout > 0) {
		/* A negative entry: the kernel caches the absence for entry_timeout. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = ctx->opts.entry_timeout;
		zc_stats_op(ctx->stats, ZC_OP_lookup, 0);
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc < 0)
		return zcd_reply_err(req, ZC_OP_lookup, rc);
	zc_stats_op(ctx->stats, ZC_OP_lookup, 0);
	fuse_reply_entry(req, &e);
}

void zcd_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct zcd_ctx *ctx = zcd_ctx(req);

	if (ino != FUSE_ROOT_ID && !zcd_ctl_is_virtual(ctx, ino))
		zcd_forget_one(ctx, zcd_inode_get(ctx, ino), nlookup);
	zc_stats_op(ctx->stats, ZC_OP_forget, 0);
	fuse_reply_none(req);
}

void zcd_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct zcd_ctx *ctx = zcd_ctx(req);

	for (size_t i = 0; i < count; i++) {
		fuse_ino_t ino = forgets[i].ino;
		if (ino != FUSE_ROOT_ID && !zcd_ctl_is_virtual(ctx, ino))
			zcd_forget_one(ctx, zcd_inode_get(ctx, ino), forgets[i].nlookup);
	}
	zc_stats_op(ctx->stats, ZC_OP_forget, 0);
	fuse_reply_none(req);
	/* After the kernel drops a large part of its inodes (memory pressure, drop_caches), give
	 * the freed entries back to the system instead of keeping the high-water mark. */
	if (atomic_fetch_add(&ctx->forgets_since_trim, count) + count >= 8192) {
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

	if (is_ctl_name(ctx, parent, name))
		return zcd_reply_err(req, op, -EEXIST);
	if (zcd_ctl_is_virtual(ctx, parent))
		return zcd_reply_err(req, op, -EPERM);
	p = zcd_inode_get(ctx, parent);
	if (!p)
		return zcd_reply_err(req, op, -EIO);
	if (strlen(name) > 255)
		return zcd_reply_err(req, op, -ENAMETOOLONG);
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
		rc = zcd_do_lookup(ctx, p, name, &e);
	if (rc < 0)
		return zcd_reply_err(req, op, rc);
	zc_stats_op(ctx->stats, op, 0);
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

void zcd_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_inode *in = zcd_inode_get(ctx, ino), *np = zcd_inode_get(ctx, newparent);
	struct fuse_entry_param e;
	char path[64];
	int fd, npfd, rc;

	if (!in || !np)
		return zcd_reply_err(req, ZC_OP_link, zcd_ctl_is_virtual(ctx, ino) ? -EPERM : -EIO);
	if (is_ctl_name(ctx, newparent, newname))
		return zcd_reply_err(req, ZC_OP_link, -EEXIST);
	fd = zcd_fd_get(ctx, in);
	if (fd < 0)
		return zcd_reply_err(req, ZC_OP_link, fd);
	npfd = zcd_fd_get(ctx, np);
	if (npfd < 0) {
		rc = npfd;
		goto out_put;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rc = linkat(AT_FDCWD, path, npfd, newname, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
	zcd_fd_put(ctx, np);
out_put:
	zcd_fd_put(ctx, in);
	if (rc == 0)
		rc = zcd_do_lookup(ctx, np, newname, &e);
	if (rc < 0)
		return zcd_reply_err(req, ZC_OP_link, rc);
	zc_stats_op(ctx->stats, ZC_OP_link, 0);
	fuse_reply_entry(req, &e);
}

/* ---- removing and renaming ---- */

static void remove_entry(fuse_req_t req, enum zc_op op, fuse_ino_t parent, const char *name,
			 int flags)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_inode *p;
	struct zcd_creds creds;
	int pfd, rc;

	if (is_ctl_name(ctx, parent, name) || zcd_ctl_is_virtual(ctx, parent))
		return zcd_reply_err(req, op, -EPERM);
	p = zcd_inode_get(ctx, parent);
	if (!p)
		return zcd_reply_err(req, op, -EIO);
	pfd = zcd_fd_get(ctx, p);
	if (pfd < 0)
		return zcd_reply_err(req, op, pfd);
	rc = zcd_creds_enter(req, &creds, false);
	if (rc == 0) {
		rc = unlinkat(pfd, name, flags) < 0 ? -errno : 0;
		zcd_creds_leave(req, &creds);
	}
	zcd_fd_put(ctx, p);
	if (rc < 0)
		return zcd_reply_err(req, op, rc);
	zc_stats_op(ctx->stats, op, 0);
	fuse_reply_err(req, 0);
}

void zcd_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, ZC_OP_unlink, parent, name, 0);
}

void zcd_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, ZC_OP_rmdir, parent, name, AT_REMOVEDIR);
}

/* After a rename, record the new name of whatever now sits at pfd/name. */
static void note_name(struct zcd_ctx *ctx, struct zcd_inode *parent, int pfd, const char *name)
{
	struct zcd_inode *in;
	struct stat st;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	in = zcd_inode_find(ctx, st.st_dev, st.st_ino);
	if (!in)
		return; /* not known to the kernel: nothing to rename */
	zcd_inode_set_name(ctx, in, parent, name);
	zcd_route_invalidate(ctx, in);
	zcd_inode_unpin(ctx, in);
}

void zcd_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		const char *newname, unsigned int flags)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_inode *p, *np;
	struct zcd_creds creds;
	int pfd, npfd, rc;

	if (is_ctl_name(ctx, parent, name) || is_ctl_name(ctx, newparent, newname) ||
	    zcd_ctl_is_virtual(ctx, parent) || zcd_ctl_is_virtual(ctx, newparent))
		return zcd_reply_err(req, ZC_OP_rename, -EPERM);
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return zcd_reply_err(req, ZC_OP_rename, -EINVAL);
	p = zcd_inode_get(ctx, parent);
	np = zcd_inode_get(ctx, newparent);
	if (!p || !np)
		return zcd_reply_err(req, ZC_OP_rename, -EIO);
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
		note_name(ctx, np, npfd, newname);
		if (flags & RENAME_EXCHANGE)
			note_name(ctx, p, pfd, name);
	}
	zcd_fd_put(ctx, np);
out_put:
	zcd_fd_put(ctx, p);
	if (rc < 0)
		return zcd_reply_err(req, ZC_OP_rename, rc);
	zc_stats_op(ctx->stats, ZC_OP_rename, 0);
	fuse_reply_err(req, 0);
}

/* ---- directory listing ---- */

struct zcd_dir {
	struct zcd_open open; /* first: see dir_free */
	pthread_mutex_t lock;
	DIR *dp;             /* protected by lock */
	off_t index;         /* entries consumed so far, our offsets; protected by lock */
	struct dirent *held; /* read but not yet returned (buffer full); protected by lock */
	bool is_root;
};

static void dir_free(struct zcd_open *o)
{
	struct zcd_dir *d = (struct zcd_dir *)o; /* open is the first member */

	closedir(d->dp);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

void zcd_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_creds creds;
	struct zcd_inode *in;
	struct zcd_dir *d;
	int fd, rc;

	if (zcd_ctl_is_virtual(ctx, ino))
		return zcd_ctl_open(req, ino, fi, true);
	in = zcd_inode_get(ctx, ino);
	if (!in)
		return zcd_reply_err(req, ZC_OP_opendir, -EIO);
	d = calloc(1, sizeof(*d));
	if (!d)
		return zcd_reply_err(req, ZC_OP_opendir, -ENOMEM);
	rc = zcd_creds_enter(req, &creds, false);
	if (rc < 0)
		goto out_free;
	fd = zcd_inode_open(ctx, in, O_RDONLY | O_DIRECTORY);
	zcd_creds_leave(req, &creds);
	if (fd < 0) {
		rc = fd;
		goto out_free;
	}
	d->dp = fdopendir(fd);
	if (!d->dp) {
		rc = -errno;
		close(fd);
		goto out_free;
	}
	pthread_mutex_init(&d->lock, NULL);
	d->is_root = ino == FUSE_ROOT_ID;
	zcd_open_track(ctx, &d->open, dir_free);
	fi->fh = (uint64_t)(uintptr_t)d;
	/* Let the kernel cache the listing unless the mount default is cache=none: it serves later
	 * passes itself and, with AUTO_INVAL_DATA (libfuse's default), drops the cached listing when
	 * the directory's mtime changes, once attr_timeout has expired (as for file data). Changes
	 * made through the mount invalidate it at once. */
	fi->cache_readdir = ctx->opts.cache != ZC_CACHE_NONE;
	fi->keep_cache = fi->cache_readdir;
	zc_stats_op(ctx->stats, ZC_OP_opendir, 0);
	if (fuse_reply_open(req, fi) == -ENOENT) { /* interrupted: no releasedir will come */
		zcd_open_untrack(ctx, &d->open);
		dir_free(&d->open);
	}
	return;

out_free:
	free(d);
	zcd_reply_err(req, ZC_OP_opendir, rc);
}

static bool is_dot(const char *n)
{
	return n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'));
}

/* Fill buf with entries starting at our offset off. Offsets count entries: the control
 * directory (at the root) is entry 0, backing entries follow. */
static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_dir *d = (struct zcd_dir *)(uintptr_t)fi->fh;
	struct zcd_inode *dir;
	enum zc_op op = ZC_OP_readdir;
	char *buf;
	size_t pos = 0;
	int rc = 0;

	if (zcd_ctl_is_virtual(ctx, ino))
		return zcd_ctl_readdir(req, ino, size, off, plus);
	dir = zcd_inode_get(ctx, ino);
	if (!dir || !d)
		return zcd_reply_err(req, op, -EIO);
	buf = malloc(size);
	if (!buf)
		return zcd_reply_err(req, op, -ENOMEM);

	pthread_mutex_lock(&d->lock);
	off_t base = d->is_root && ctx->ctl ? 1 : 0; /* entries before the backing ones */
	if (off != d->index) {
		rewinddir(d->dp);
		d->held = NULL;
		d->index = 0;
		off_t skip = off > base ? off - base : 0;
		while (skip-- > 0 && readdir(d->dp))
			;
		d->index = off;
	}
	if (d->index < base) {
		size_t n = zcd_ctl_root_dirent(req, buf + pos, size - pos, 1, plus);
		if (n == 0)
			goto out_unlock;
		pos += n;
		d->index = 1;
	}
	for (;;) {
		struct dirent *de = d->held;
		struct fuse_entry_param e;
		size_t n;

		d->held = NULL;
		if (!de) {
			errno = 0;
			de = readdir(d->dp);
			if (!de) {
				if (errno)
					rc = -errno;
				break;
			}
		}
		if (d->is_root && ctx->ctl && strcmp(de->d_name, ctx->opts.ctl_name) == 0) {
			d->index++; /* shadowed by the control directory */
			continue;
		}
		if (!plus) {
			struct stat st = { .st_ino = zcd_ino_out(ctx, dir->dev, de->d_ino),
					   .st_mode = (mode_t)de->d_type << 12 };
			n = fuse_add_direntry(req, buf + pos, size - pos, de->d_name, &st,
					      d->index + 1);
			if (n > size - pos) {
				d->held = de;
				break;
			}
		} else if (is_dot(de->d_name)) {
			memset(&e, 0, sizeof(e));
			e.attr.st_ino = zcd_ino_out(ctx, dir->dev, de->d_ino);
			e.attr.st_mode = (mode_t)de->d_type << 12;
			n = fuse_add_direntry_plus(req, buf + pos, size - pos, de->d_name, &e,
						   d->index + 1);
			if (n > size - pos) {
				d->held = de;
				break;
			}
		} else {
			rc = zcd_do_lookup_hint(ctx, dir, de->d_name, de->d_ino, &e);
			if (rc == -ENOENT || rc == -ESTALE) {
				rc = 0; /* removed since readdir saw it */
				d->index++;
				continue;
			}
			if (rc < 0)
				break;
			n = fuse_add_direntry_plus(req, buf + pos, size - pos, de->d_name, &e,
						   d->index + 1);
			if (n > size - pos) {
				/* Did not fit: the kernel will not see it, so drop the reference. */
				zcd_forget_one(ctx, (struct zcd_inode *)(uintptr_t)e.ino, 1);
				d->held = de;
				break;
			}
		}
		pos += n;
		d->index++;
	}
out_unlock:
	pthread_mutex_unlock(&d->lock);
	if (plus)
		op = ZC_OP_readdir; /* readdirplus counts as readdir */
	if (rc < 0 && pos == 0) {
		free(buf);
		return zcd_reply_err(req, op, rc);
	}
	zc_stats_op(ctx->stats, op, 0);
	fuse_reply_buf(req, buf, pos);
	free(buf);
}

void zcd_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

void zcd_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

void zcd_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_dir *d = (struct zcd_dir *)(uintptr_t)fi->fh;

	if (d) {
		zcd_open_untrack(ctx, &d->open);
		dir_free(&d->open);
	}
	zc_stats_op(ctx->stats, ZC_OP_releasedir, 0);
	fuse_reply_err(req, 0);
}

void zcd_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_dir *d = (struct zcd_dir *)(uintptr_t)fi->fh;
	int rc;

	if (!d)
		return zcd_reply_err(req, ZC_OP_fsyncdir, -EINVAL);
	int fd = dirfd(d->dp);
	rc = (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
	if (rc < 0)
		return zcd_reply_err(req, ZC_OP_fsyncdir, rc);
	zc_stats_op(ctx->stats, ZC_OP_fsyncdir, 0);
	fuse_reply_err(req, 0);
}
