/* ops_file.c - open handles: open and create (file.c builds the handle), and the ops that act on
 * a handle, dispatched through its ops table (handle.h): read, write, flush, fsync, release for
 * files and directories alike; fallocate, copy_file_range, lseek and POSIX (as open file
 * description) and flock locks on the handle's backing descriptor. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "ctl.h"
#include "park.h"
#include "ctx.h"
#include "fd.h"
#include "file.h"
#include "lockwait.h"
#include "lookup.h"
#include "ops.h"
#include "req.h"

void zcd_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_inode *in;
	int fd, rc;

	if (zcd_ctl_is_virtual(ctx, ino))
		return zcd_ctl_open(req, ino, fi, false);
	in = zcd_ops_inode(req, ino, ZC_OP_open, -EIO);
	if (!in)
		return;
	if (ctx->no_open) {
		/* -o noopen: "open without me from now on"; reads and writes then come without a
		 * handle and use the inode's implicit one (file.h). */
		zcd_count_ok(req, ZC_OP_open);
		return (void)fuse_reply_err(req, ENOSYS);
	}
	rc = zcd_file_charge(req, false);
	if (rc < 0)
		return zcd_reply_err(req, ZC_OP_open, rc);
	/* A file a reading plan read ahead on a remote backing: its descriptor is waiting (park.h). */
	fd = zcd_park_take(ctx, in, fuse_req_ctx(req)->uid, zcd_file_backing_flags(ctx, fi->flags));
	if (fd < 0)
		fd = zcd_inode_open(ctx, in, zcd_file_backing_flags(ctx, fi->flags), req);
	if (fd < 0) {
		zcd_file_uncharge(req, false);
		return zcd_reply_err(req, ZC_OP_open, fd);
	}
	zcd_file_finish_open(req, ZC_OP_open, in, fd, fi, NULL);
}

/* The name an O_TMPFILE file is known by (for routing) until a link names it; told from a file
 * of that name by its address. */
static const char tmpfile_name[] = "#tmpfile";

void zcd_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		struct fuse_file_info *fi)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct fuse_entry_param e;
	struct zcd_creds creds;
	struct zcd_inode *p;
	int pfd, fd, rc;

	p = zcd_ops_parent(req, parent, name, ZC_OP_create, -EEXIST);
	if (!p)
		return;
	rc = zcd_file_charge(req, false);
	if (rc < 0)
		return zcd_reply_err(req, ZC_OP_create, rc);
	pfd = zcd_fd_get(ctx, p);
	fd = pfd;
	if (pfd >= 0) {
		fd = zcd_creds_enter(req, &creds, true);
		if (fd == 0) {
			int flags = zcd_file_backing_flags(ctx, fi->flags) | O_CREAT | (fi->flags & O_EXCL);
			if (ctx->no_open) /* the descriptor becomes the implicit handle: each WRITE
					   * says whether it appends or syncs */
				flags &= ~(O_APPEND | O_SYNC | O_DSYNC);
			if (name == tmpfile_name) /* unnamed, in the directory itself */
				fd = openat(pfd, ".", (flags & ~(O_CREAT | O_TMPFILE)) | O_TMPFILE | O_CLOEXEC, mode);
			else
				fd = openat(pfd, name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
			if (fd < 0)
				fd = -errno;
			zcd_creds_leave(req, &creds);
		}
		zcd_fd_put(ctx, p);
	}
	/* The entry is made from the descriptor just created, not by looking the name up again. */
	rc = fd < 0 ? fd : zcd_lookup_fd(ctx, p, name, fd, &e);
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		zcd_file_uncharge(req, false);
		return zcd_reply_err(req, ZC_OP_create, rc);
	}
	if (ctx->no_open) {
		/* No RELEASE will come for a file created while files open without OPEN: no handle;
		 * its writes use the inode's implicit one, which this descriptor becomes. */
		zcd_file_uncharge(req, false);
		zcd_file_implicit_adopt(ctx, zcd_inode_get(ctx, e.ino),
					fd, zcd_file_backing_flags(ctx, fi->flags));
		fi->fh = 0;
		fi->keep_cache = 1;
		fi->direct_io = 0;
		zcd_count_ok(req, ZC_OP_create);
		if (fuse_reply_create(req, &e, fi) < 0) /* interrupted: the kernel never saw it */
			zcd_inode_forget(ctx, zcd_inode_get(ctx, e.ino), 1);
		return;
	}
	zcd_file_finish_open(req, ZC_OP_create, zcd_inode_get(ctx, e.ino), fd, fi, &e);
}

#if ZC_HAVE_FUSE_TMPFILE
void zcd_tmpfile(fuse_req_t req, fuse_ino_t parent, mode_t mode, struct fuse_file_info *fi)
{
	zcd_create(req, parent, tmpfile_name, mode, fi);
}
#endif

void zcd_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct zcd_fh *fh = zcd_fh_of(fi);
	struct zcd_inode *in;

	if (!fh) { /* opened without a round trip */
		in = zcd_ops_inode(req, ino, ZC_OP_read, -EIO);
		if (in)
			zcd_file_implicit_read(req, in, size, off);
		return;
	}
	if (!fh->ops->read)
		return zcd_reply_err(req, ZC_OP_read, -EISDIR);
	fh->ops->read(req, fh, size, off);
}

void zcd_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
		   struct fuse_file_info *fi)
{
	struct zcd_fh *fh = zcd_fh_of(fi);
	struct zcd_inode *in;

	if (!fh) { /* opened without a round trip */
		in = zcd_ops_inode(req, ino, ZC_OP_write, -EIO);
		if (in)
			zcd_file_implicit_write(req, in, bufv, off, fi);
		return;
	}
	if (!fh->ops->write)
		return zcd_reply_err(req, ZC_OP_write, -EBADF);
	fh->ops->write(req, fh, bufv, off, fi);
}

void zcd_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct zcd_fh *fh = zcd_fh_of(fi);

	if (!fh) { /* opened without a round trip: nothing to flush, and no FLUSH again */
		zcd_count_ok(req, ZC_OP_flush);
		return (void)fuse_reply_err(req, ENOSYS);
	}
	zcd_reply_status(req, ZC_OP_flush, fh->ops->flush ? fh->ops->flush(fh) : 0);
}

static void release_any(fuse_req_t req, enum zc_op op, struct fuse_file_info *fi)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_fh *fh = zcd_fh_of(fi);

	if (fh)
		zcd_fh_release(ctx, fh, req);
	zcd_reply_status(req, op, 0);
	zcd_lockwait_kick(ctx); /* its locks went with its descriptor */
}

void zcd_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	release_any(req, ZC_OP_release, fi);
}

void zcd_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	release_any(req, ZC_OP_releasedir, fi);
}

static void fsync_any(fuse_req_t req, fuse_ino_t ino, enum zc_op op, int datasync,
		      struct fuse_file_info *fi)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_fh *fh = zcd_fh_of(fi);
	struct zcd_inode *in;
	int fd, rc;

	if (fh)
		return zcd_reply_status(req, op, fh->ops->fsync ? fh->ops->fsync(fh, datasync) : 0);
	/* Opened without a round trip (a directory): sync the object itself. */
	if (zcd_ctl_is_virtual(ctx, ino))
		return zcd_reply_status(req, op, 0);
	in = zcd_ops_inode(req, ino, op, -EIO);
	if (!in)
		return;
	fd = zcd_inode_open(ctx, in, S_ISDIR(in->type) ? O_RDONLY | O_DIRECTORY : O_RDONLY, NULL);
	if (fd < 0)
		return zcd_reply_err(req, op, fd);
	rc = (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
	close(fd);
	zcd_reply_status(req, op, rc);
}

void zcd_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fsync_any(req, ino, ZC_OP_fsync, datasync, fi);
}

void zcd_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fsync_any(req, ino, ZC_OP_fsyncdir, datasync, fi);
}

/* The backing descriptor of the handle, or (opened without a round trip; imp not NULL) of the
 * inode's implicit handle, referenced in *imp (put it after use); -1 after replying no_fd_err
 * (a control file). */
static int backing_fd(fuse_req_t req, fuse_ino_t ino, enum zc_op op, struct fuse_file_info *fi,
		      int no_fd_err, bool write, struct zcd_file **imp)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_fh *fh = zcd_fh_of(fi);
	struct zcd_inode *in;
	int err = no_fd_err;

	if (imp)
		*imp = NULL;
	if (fh && fh->ops->backing_fd)
		return fh->ops->backing_fd(fh);
	if (imp && !fh && ctx->no_open && !zcd_ctl_is_virtual(ctx, ino) && (in = zcd_inode_get(ctx, ino)) &&
	    S_ISREG(in->type)) {
		*imp = zcd_file_implicit_get(req, in, write, &err);
		if (*imp)
			return zcd_file_fd(*imp);
	}
	zcd_reply_err(req, op, err);
	return -1;
}

/* A size change through the mount: the mount's own, so its cached pages stay. */
static void absorb_write(fuse_req_t req, fuse_ino_t ino, int fd, int rc)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_inode *in = zcd_inode_get(ctx, ino);
	uint64_t seq = zcd_cache_seq(ctx);
	struct stat st;

	if (in)
		zcd_cache_write_end(ctx, in, rc >= 0 && fstat(fd, &st) == 0 ? &st : NULL, seq);
}

void zcd_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
		   struct fuse_file_info *fi)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_file *imp;
	int fd = backing_fd(req, ino, ZC_OP_fallocate, fi, -EOPNOTSUPP, true, &imp), rc;

	if (fd < 0)
		return;
	zcd_cache_write_begin(ctx, zcd_inode_get(ctx, ino));
	rc = fallocate(fd, mode, off, len) < 0 ? -errno : 0;
	absorb_write(req, ino, fd, rc);
	zcd_file_implicit_put(ctx, imp);
	zcd_reply_status(req, ZC_OP_fallocate, rc);
}

void zcd_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			 struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			 struct fuse_file_info *fi_out, size_t len, int flags)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_file *imp_in, *imp_out = NULL;
	int in_fd = backing_fd(req, ino_in, ZC_OP_copy_file_range, fi_in, -EXDEV, false, &imp_in), out_fd;
	ssize_t n;

	if (in_fd < 0)
		return;
	out_fd = backing_fd(req, ino_out, ZC_OP_copy_file_range, fi_out, -EXDEV, true, &imp_out);
	if (out_fd < 0)
		return zcd_file_implicit_put(ctx, imp_in);
	zcd_cache_write_begin(ctx, zcd_inode_get(ctx, ino_out));
	n = copy_file_range(in_fd, &off_in, out_fd, &off_out, len, (unsigned)flags);
	if (n < 0)
		n = -errno;
	absorb_write(req, ino_out, out_fd, (int)n);
	zcd_file_implicit_put(ctx, imp_in);
	zcd_file_implicit_put(ctx, imp_out);
	if (n < 0)
		return zcd_reply_err(req, ZC_OP_copy_file_range, (int)n);
	zc_stats_written(ctx->stats, (size_t)n);
	zcd_count_ok(req, ZC_OP_copy_file_range);
	fuse_reply_write(req, (size_t)n);
}

void zcd_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
	struct zcd_file *imp;
	int fd = backing_fd(req, ino, ZC_OP_lseek, fi, -ESPIPE, false, &imp);
	off_t res;

	if (fd < 0)
		return;
	res = lseek(fd, off, whence);
	if (res < 0)
		res = -errno;
	zcd_file_implicit_put(zcd_ctx(req), imp);
	if (res < 0)
		return zcd_reply_err(req, ZC_OP_lseek, (int)res);
	zcd_count_ok(req, ZC_OP_lseek);
	fuse_reply_lseek(req, res);
}

/* The kernel forwards every ioctl a FUSE file gets, TCGETS too: isatty(3), which Python's open()
 * calls on every file, costs a round trip on any FUSE filesystem (the kernel does not remember
 * the answer). None is passed to the backing file; this one answers at once, and is counted. */
void zcd_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg, struct fuse_file_info *fi,
	       unsigned flags, const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
	zcd_count_ok(req, ZC_OP_ioctl);
	fuse_reply_err(req, ENOTTY);
}

/* POSIX locks become open-file-description locks on the handle's own backing descriptor, so
 * two processes locking through the mount conflict with each other and with local users. */
void zcd_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock)
{
	/* With -o noopen the kernel keeps locks itself: none comes without a handle. */
	int fd = backing_fd(req, ino, ZC_OP_getlk, fi, -EINVAL, false, NULL);

	if (fd < 0)
		return;
	lock->l_pid = 0;
	if (fcntl(fd, F_OFD_GETLK, lock) < 0)
		return zcd_reply_err(req, ZC_OP_getlk, -errno);
	zcd_count_ok(req, ZC_OP_getlk);
	fuse_reply_lock(req, lock);
}

/* A request that has to wait for its lock waits in lockwait's queue, not in this worker. */
void zcd_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock,
	       int sleep)
{
	int fd = backing_fd(req, ino, ZC_OP_setlk, fi, -EINVAL, false, NULL);

	if (fd >= 0)
		zcd_lock_take(req, ZC_OP_setlk, fd, lock, 0, sleep);
}

void zcd_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
	int fd = backing_fd(req, ino, ZC_OP_flock, fi, -EINVAL, false, NULL);

	if (fd >= 0)
		zcd_lock_take(req, ZC_OP_flock, fd, NULL, op, !(op & LOCK_NB));
}
