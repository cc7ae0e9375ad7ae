/* ops_file.c - open files: open and create (one helper sets up the handle, its read engine and
 * the mount-side cache policy), write_buf, flush, release, fsync, fallocate, copy_file_range,
 * lseek, and POSIX (as open-file-description) and flock locks on the backing descriptor. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "zc/log.h"
#include "zcfs.h"

static struct zcd_fh *fh_of(struct fuse_file_info *fi)
{
	return (struct zcd_fh *)(uintptr_t)fi->fh;
}

/* Flags for the backing descriptor: what the caller asked, minus what the kernel or the read
 * engine handles. O_DIRECT data from the kernel is not aligned for the backing file, so the
 * backing descriptor is never O_DIRECT (the direct engine opens its own). */
static int backing_flags(struct zcd_ctx *ctx, int flags)
{
	flags &= ~(O_NOFOLLOW | O_NOCTTY | O_DIRECT | O_CREAT | O_EXCL);
	if (ctx->opts.writeback) {
		/* The kernel reads to fill partial pages and handles O_APPEND itself. */
		if ((flags & O_ACCMODE) == O_WRONLY)
			flags = (flags & ~O_ACCMODE) | O_RDWR;
		flags &= ~O_APPEND;
	}
	return flags;
}

/* Decide the mount-side cache for this open (keep_cache / direct_io) from the policy. */
static void apply_cache_policy(struct zcd_ctx *ctx, struct zcd_fh *fh, struct fuse_file_info *fi,
			       bool app_direct)
{
	struct zcd_inode *in = fh->inode;
	struct stat st;

	fi->keep_cache = 0;
	fi->direct_io = 0;
	if (app_direct || fh->cache == ZC_CACHE_NONE) {
		fi->direct_io = 1;
		return;
	}
	if (fh->cache == ZC_CACHE_KEEP) {
		fi->keep_cache = 1;
		return;
	}
	if (fstat(fh->fd, &st) < 0)
		return; /* unknown: drop the cache, always safe */
	pthread_mutex_lock(&ctx->tbl.lock);
	bool changed = in->cache_valid && (in->cached_size != st.st_size ||
					   in->cached_mtime.tv_sec != st.st_mtim.tv_sec ||
					   in->cached_mtime.tv_nsec != st.st_mtim.tv_nsec);
	if (fh->cache == ZC_CACHE_DROP) {
		/* Keep pages shared by handles open at once; release of the last one drops them. */
		fi->keep_cache = in->opens > 0;
	} else if (in->cache_valid && !changed) {
		fi->keep_cache = 1;
	}
	in->cached_size = st.st_size;
	in->cached_mtime = st.st_mtim;
	in->cache_valid = true;
	pthread_mutex_unlock(&ctx->tbl.lock);
	/* Changed behind the mount's back: the kernel would go on clamping reads at the old size
	 * until attr_timeout. Invalidate the attributes (offset -1: no pages, no page locks, safe
	 * inside OPEN) so the next read fetches the new size. */
	if (changed)
		fuse_lowlevel_notify_inval_inode(ctx->se, (fuse_ino_t)(uintptr_t)in, -1, 0);
}

static void release_handle(struct zcd_ctx *ctx, fuse_ino_t ino, struct zcd_fh *fh);

void zcd_fh_free(struct zcd_open *o)
{
	struct zcd_fh *fh = (struct zcd_fh *)o; /* open is the first member */

	if (fh->ctl_kind) {
		pthread_mutex_destroy(&fh->vlock);
	} else {
		zc_file_close(&fh->file);
		close(fh->fd);
	}
	free(fh->vbuf);
	free(fh);
}

/* Wrap fd (ownership taken) in a handle for in and reply to open or create (e non-NULL). */
static void finish_open(fuse_req_t req, enum zc_op op, struct zcd_inode *in, int fd,
			struct fuse_file_info *fi, const struct fuse_entry_param *e)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zc_route_out route;
	struct zcd_fh *fh;
	bool app_direct = (fi->flags & O_DIRECT) != 0;
	int rc;

	fh = calloc(1, sizeof(*fh));
	if (!fh) {
		rc = -ENOMEM;
		goto out_close;
	}
	fh->fd = fd;
	fh->inode = in;
	zcd_route(ctx, in, fd, &route);
	fh->cache = route.cache;
	rc = zc_file_open(&fh->file, fd, route.mode, &ctx->fopts, ctx->stats);
	if (rc < 0)
		goto out_free;
	apply_cache_policy(ctx, fh, fi, app_direct);
	/* A read-only handle has nothing to write back and zcfs keeps POSIX locks as OFD locks
	 * released at RELEASE, so the FLUSH round trip on every close(2) would do nothing. */
	fi->noflush = (fi->flags & O_ACCMODE) == O_RDONLY && !ctx->opts.writeback;
	zcd_inode_opened(ctx, in);
	zcd_open_track(ctx, &fh->open, zcd_fh_free);
	fi->fh = (uint64_t)(uintptr_t)fh;
	zc_stats_gauge_add(ctx->stats, ZC_G_OPEN_HANDLES, 1);
	zc_stats_op(ctx->stats, op, 0);
	rc = e ? fuse_reply_create(req, e, fi) : fuse_reply_open(req, fi);
	if (rc == -ENOENT) /* the caller was interrupted: no release will come */
		release_handle(ctx, (fuse_ino_t)(uintptr_t)in, fh);
	return;

out_free:
	free(fh);
out_close:
	close(fd);
	if (e)
		zcd_forget_one(ctx, in, 1);
	zcd_reply_err(req, op, rc);
}

void zcd_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_creds creds;
	struct zcd_inode *in;
	int fd;

	if (zcd_ctl_is_virtual(ctx, ino))
		return zcd_ctl_open(req, ino, fi, false);
	in = zcd_inode_get(ctx, ino);
	if (!in)
		return zcd_reply_err(req, ZC_OP_open, -EIO);
	fd = zcd_creds_enter(req, &creds, false);
	if (fd == 0) {
		fd = zcd_inode_open(ctx, in, backing_flags(ctx, fi->flags));
		zcd_creds_leave(req, &creds);
	}
	if (fd < 0)
		return zcd_reply_err(req, ZC_OP_open, fd);
	finish_open(req, ZC_OP_open, in, fd, fi, NULL);
}

void zcd_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		struct fuse_file_info *fi)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct fuse_entry_param e;
	struct zcd_creds creds;
	struct zcd_inode *p;
	int pfd, fd, rc;

	if (zcd_ctl_is_virtual(ctx, parent) ||
	    (ctx->ctl && parent == FUSE_ROOT_ID && strcmp(name, ctx->opts.ctl_name) == 0))
		return zcd_reply_err(req, ZC_OP_create, -EEXIST);
	p = zcd_inode_get(ctx, parent);
	if (!p)
		return zcd_reply_err(req, ZC_OP_create, -EIO);
	if (strlen(name) > 255)
		return zcd_reply_err(req, ZC_OP_create, -ENAMETOOLONG);
	pfd = zcd_fd_get(ctx, p);
	if (pfd < 0)
		return zcd_reply_err(req, ZC_OP_create, pfd);
	fd = zcd_creds_enter(req, &creds, true);
	if (fd == 0) {
		int flags = backing_flags(ctx, fi->flags) | O_CREAT | (fi->flags & O_EXCL);
		fd = openat(pfd, name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd < 0)
			fd = -errno;
		zcd_creds_leave(req, &creds);
	}
	zcd_fd_put(ctx, p);
	if (fd < 0)
		return zcd_reply_err(req, ZC_OP_create, fd);
	rc = zcd_do_lookup(ctx, p, name, &e);
	if (rc < 0) {
		close(fd);
		return zcd_reply_err(req, ZC_OP_create, rc);
	}
	finish_open(req, ZC_OP_create, (struct zcd_inode *)(uintptr_t)e.ino, fd, fi, &e);
}

/* Free a backing file's handle: engine, descriptor, and with cache=drop the mount-side pages
 * once the last handle is gone. */
static void release_handle(struct zcd_ctx *ctx, fuse_ino_t ino, struct zcd_fh *fh)
{
	struct zcd_inode *in = fh->inode;
	bool drop;

	zcd_open_untrack(ctx, &fh->open);
	pthread_mutex_lock(&ctx->tbl.lock);
	drop = fh->cache == ZC_CACHE_DROP && in->opens == 1;
	pthread_mutex_unlock(&ctx->tbl.lock);
	zcd_fh_free(&fh->open);
	if (drop)
		fuse_lowlevel_notify_inval_inode(ctx->se, ino, 0, 0);
	zcd_inode_closed(ctx, in);
	zc_stats_gauge_add(ctx->stats, ZC_G_OPEN_HANDLES, -1);
}

void zcd_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_fh *fh = fh_of(fi);

	if (fh && fh->ctl_kind)
		return zcd_ctl_release(req, fh);
	if (fh)
		release_handle(ctx, ino, fh);
	zc_stats_op(ctx->stats, ZC_OP_release, 0);
	fuse_reply_err(req, 0);
}

void zcd_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
		   struct fuse_file_info *fi)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_fh *fh = fh_of(fi);
	size_t size = fuse_buf_size(bufv);
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(size);
	ssize_t n;

	if (fh->ctl_kind) {
		/* The control file takes whole command lines from a memory buffer. */
		if (bufv->count == 1 && !(bufv->buf[0].flags & FUSE_BUF_IS_FD))
			return zcd_ctl_write(req, fh, bufv->buf[0].mem, size);
		char *tmp = malloc(size ? size : 1);
		struct fuse_bufvec dst = FUSE_BUFVEC_INIT(size);
		if (!tmp)
			return zcd_reply_err(req, ZC_OP_write, -ENOMEM);
		dst.buf[0].mem = tmp;
		n = fuse_buf_copy(&dst, bufv, 0);
		if (n < 0) {
			free(tmp);
			return zcd_reply_err(req, ZC_OP_write, (int)n);
		}
		zcd_ctl_write(req, fh, tmp, (size_t)n);
		free(tmp);
		return;
	}
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = fh->fd;
	out.buf[0].pos = off;
	n = fuse_buf_copy(&out, bufv, 0);
	if (n < 0)
		return zcd_reply_err(req, ZC_OP_write, (int)n);
	zc_stats_written(ctx->stats, (size_t)n);
	zc_stats_op(ctx->stats, ZC_OP_write, 0);
	fuse_reply_write(req, (size_t)n);
}

void zcd_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_fh *fh = fh_of(fi);
	int rc = 0;

	/* close() of a duplicate reports delayed write errors (NFS-style backings) like a
	 * close of the caller's descriptor would. */
	if (!fh->ctl_kind) {
		int fd = dup(fh->fd);
		rc = fd < 0 ? -errno : (close(fd) < 0 ? -errno : 0);
	}
	if (rc < 0)
		return zcd_reply_err(req, ZC_OP_flush, rc);
	zc_stats_op(ctx->stats, ZC_OP_flush, 0);
	fuse_reply_err(req, 0);
}

/* One reply path for ops that answer with only an error code. */
static void reply_status(fuse_req_t req, enum zc_op op, int rc)
{
	if (rc < 0)
		return zcd_reply_err(req, op, rc);
	zc_stats_op(zcd_ctx(req)->stats, op, 0);
	fuse_reply_err(req, 0);
}

void zcd_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct zcd_fh *fh = fh_of(fi);
	int rc = 0;

	if (!fh->ctl_kind)
		rc = (datasync ? fdatasync(fh->fd) : fsync(fh->fd)) < 0 ? -errno : 0;
	reply_status(req, ZC_OP_fsync, rc);
}

void zcd_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
		   struct fuse_file_info *fi)
{
	struct zcd_fh *fh = fh_of(fi);

	if (fh->ctl_kind)
		return reply_status(req, ZC_OP_fallocate, -EOPNOTSUPP);
	reply_status(req, ZC_OP_fallocate, fallocate(fh->fd, mode, off, len) < 0 ? -errno : 0);
}

void zcd_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			 struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			 struct fuse_file_info *fi_out, size_t len, int flags)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_fh *in = fh_of(fi_in), *out = fh_of(fi_out);
	ssize_t n;

	if (in->ctl_kind || out->ctl_kind)
		return zcd_reply_err(req, ZC_OP_copy_file_range, -EXDEV);
	n = copy_file_range(in->fd, &off_in, out->fd, &off_out, len, (unsigned)flags);
	if (n < 0)
		return zcd_reply_err(req, ZC_OP_copy_file_range, -errno);
	zc_stats_written(ctx->stats, (size_t)n);
	zc_stats_op(ctx->stats, ZC_OP_copy_file_range, 0);
	fuse_reply_write(req, (size_t)n);
}

void zcd_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_fh *fh = fh_of(fi);
	off_t res;

	if (fh->ctl_kind)
		return zcd_reply_err(req, ZC_OP_lseek, -ESPIPE);
	res = lseek(fh->fd, off, whence);
	if (res < 0)
		return zcd_reply_err(req, ZC_OP_lseek, -errno);
	zc_stats_op(ctx->stats, ZC_OP_lseek, 0);
	fuse_reply_lseek(req, res);
}

/* POSIX locks become open-file-description locks on the handle's own backing descriptor, so
 * two processes locking through the mount conflict with each other and with local users. */
void zcd_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_fh *fh = fh_of(fi);

	if (fh->ctl_kind)
		return zcd_reply_err(req, ZC_OP_getlk, -EINVAL);
	lock->l_pid = 0;
	if (fcntl(fh->fd, F_OFD_GETLK, lock) < 0)
		return zcd_reply_err(req, ZC_OP_getlk, -errno);
	zc_stats_op(ctx->stats, ZC_OP_getlk, 0);
	fuse_reply_lock(req, lock);
}

void zcd_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock,
	       int sleep)
{
	struct zcd_fh *fh = fh_of(fi);

	if (fh->ctl_kind)
		return reply_status(req, ZC_OP_setlk, -EINVAL);
	lock->l_pid = 0;
	reply_status(req, ZC_OP_setlk,
		     fcntl(fh->fd, sleep ? F_OFD_SETLKW : F_OFD_SETLK, lock) < 0 ? -errno : 0);
}

void zcd_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
	struct zcd_fh *fh = fh_of(fi);

	if (fh->ctl_kind)
		return reply_status(req, ZC_OP_flock, -EINVAL);
	reply_status(req, ZC_OP_flock, flock(fh->fd, op) < 0 ? -errno : 0);
}
