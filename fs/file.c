/* file.c - see file.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "ctx.h"
#include "fd.h"
#include "file.h"
#include "inode.h"
#include "notify.h"
#include "passthrough.h"
#include "prefetch.h"
#include "req.h"
#include "route.h"
#include "zc/ctl.h"
#include "zc/log.h"

#define RETRY_INTERVAL_NS 100000000ull /* a fallen-back handle retries its engine at most 10x/s */

struct zcd_file {
	struct zcd_fh fh;        /* first: the handle's ops and list links */
	int fd;                  /* backing descriptor (reads and writes); owned */
	struct zc_file eng;      /* read engine state */
	struct zcd_inode *inode; /* referenced by opens */
	enum zc_cache cache;     /* mount-side policy chosen at open */
	uid_t uid;               /* the budget share this handle is charged to */
	unsigned extra_fds;      /* charged besides fd (the direct engine's) */
	bool pt;                 /* served by kernel passthrough: no reads or writes come here */
	bool in_fallback;        /* counted in inode->fallback_handles; tbl->lock */
	_Atomic uint64_t next_retry_ns;
	struct zcd_file *xprev, *xnext; /* on ctx's extra list while extra_fds; extra_lock */
	bool on_extra;           /* extra_lock */
	bool fd_append;          /* fd has O_APPEND (follows the caller's fcntl, file_write) */
	/* An implicit handle (-o noopen): the inode's own, no OPEN made it, no RELEASE ends it. */
	bool implicit;
	bool writable;           /* implicit: opened for writing */
	bool readable;           /* implicit: and for reading (O_RDWR) */
	_Atomic unsigned refs;   /* implicit: the inode's slot, and each request using it */
	_Atomic uint64_t used_ns; /* implicit: last use, for the sweep */
	uint64_t route_gen;      /* implicit: ctx->route_gen when routed */
	struct zcd_file *iprev, *inext; /* implicit: ctx's list while in a slot, oldest first;
					 * tbl->lock */
};

static const struct zcd_fh_ops file_ops;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int zcd_file_backing_flags(const struct zcd_ctx *ctx, int flags)
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

/* ---- handles holding a second descriptor (direct mode) ---- */

static void extra_link(struct zcd_ctx *ctx, struct zcd_file *f)
{
	pthread_mutex_lock(&ctx->extra_lock);
	f->xnext = NULL;
	f->xprev = ctx->extra_tail;
	if (ctx->extra_tail)
		ctx->extra_tail->xnext = f;
	else
		ctx->extra_head = f;
	ctx->extra_tail = f;
	f->on_extra = true;
	pthread_mutex_unlock(&ctx->extra_lock);
}

static void extra_unlink_locked(struct zcd_ctx *ctx, struct zcd_file *f)
{
	if (!f->on_extra)
		return;
	if (f->xprev)
		f->xprev->xnext = f->xnext;
	else
		ctx->extra_head = f->xnext;
	if (f->xnext)
		f->xnext->xprev = f->xprev;
	else
		ctx->extra_tail = f->xprev;
	f->on_extra = false;
}

static void set_fallback(struct zcd_ctx *ctx, struct zcd_file *f, bool on, enum zc_mode to, int err);

/* Take the second descriptor from the oldest handle holding one (it serves buffered reads
 * until there is room again). True if one was freed. */
static bool reclaim_extra(struct zcd_ctx *ctx)
{
	struct zcd_file *f;
	bool freed = false;

	pthread_mutex_lock(&ctx->extra_lock); /* keeps f from being released meanwhile */
	f = ctx->extra_head;
	if (f) {
		extra_unlink_locked(ctx, f);
		if (zc_file_drop_extra(&f->eng)) {
			f->extra_fds = 0;
			zcd_fds_uncharge(ctx, f->uid, ZCD_CHARGE_EXTRA);
			set_fallback(ctx, f, true, ZC_MODE_BUFFERED, EMFILE);
		}
		freed = true; /* also when it had none left: the list shrank, try again */
	}
	pthread_mutex_unlock(&ctx->extra_lock);
	return freed;
}

int zcd_file_charge(fuse_req_t req, bool is_dir)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	enum zcd_charge kind = is_dir ? ZCD_CHARGE_DIR : ZCD_CHARGE_FILE;
	int rc;

	/* An open file needs its descriptor more than a direct-mode handle needs its second. */
	while ((rc = zcd_fds_charge(ctx, fuse_req_ctx(req)->uid, kind)) == -ENFILE &&
	       reclaim_extra(ctx))
		;
	if (rc < 0)
		zc_stats_event(ctx->stats, rc == -EMFILE ? ZC_EV_FD_REFUSED_UID : ZC_EV_FD_REFUSED_BUDGET);
	return rc;
}

void zcd_file_uncharge(fuse_req_t req, bool is_dir)
{
	zcd_fds_uncharge(zcd_ctx(req), fuse_req_ctx(req)->uid, is_dir ? ZCD_CHARGE_DIR : ZCD_CHARGE_FILE);
}

/* Decide the mount-side cache for this open (keep_cache / direct_io) from the policy. */
static void apply_cache_policy(struct zcd_ctx *ctx, struct zcd_file *f, struct fuse_file_info *fi)
{
	struct stat st;
	uint64_t seq;
	bool changed;

	fi->keep_cache = 0;
	fi->direct_io = 0;
	if ((fi->flags & O_DIRECT) || f->cache == ZC_CACHE_NONE) {
		fi->direct_io = 1;
		return;
	}
	seq = zcd_cache_seq(ctx);
	if (fstat(f->fd, &st) < 0)
		return; /* unknown: drop the cache, always safe */
	fi->keep_cache = zcd_cache_open(ctx, f->inode, &st, seq, f->cache, &changed);
	/* Changed behind the mount's back: the kernel would go on clamping reads at the old size
	 * until attr_timeout. Invalidate the attributes (offset -1: no pages, no page locks, safe
	 * inside OPEN) so the next read fetches the new size. */
	if (changed)
		fuse_lowlevel_notify_inval_inode(ctx->se, zcd_inode_nodeid(ctx, f->inode), -1, 0);
}

/* f is (on) or is no longer served by another engine than routing chose: to, because of err. */
static void set_fallback(struct zcd_ctx *ctx, struct zcd_file *f, bool on, enum zc_mode to, int err)
{
	pthread_mutex_lock(&ctx->tbl.lock);
	if (on) {
		f->inode->fb_mode = to;
		f->inode->fb_err = err;
	}
	if (f->in_fallback != on) {
		f->in_fallback = on;
		if (on)
			f->inode->fallback_handles++;
		else
			f->inode->fallback_handles--;
	}
	pthread_mutex_unlock(&ctx->tbl.lock);
}

int zcd_file_kill_privs(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	/* As the kernel does for a writer without CAP_FSETID: setuid always, setgid when group
	 * execute is set (without it, the bit means mandatory locking), and file capabilities. */
	mode_t kill = S_ISUID | ((st.st_mode & S_IXGRP) ? S_ISGID : 0);
	if ((st.st_mode & kill) && fchmod(fd, st.st_mode & 07777 & ~kill) < 0)
		return -errno;
	if (fremovexattr(fd, "security.capability") < 0 && errno != ENODATA && errno != EOPNOTSUPP)
		return -errno;
	return (st.st_mode & kill) != 0;
}

/* Start the read engine chosen by routing; a second descriptor (direct) needs room in the
 * budget, else the engine falls back until there is room. */
static void start_engine(struct zcd_ctx *ctx, struct zcd_file *f, enum zc_mode mode)
{
	struct zc_file_opts opts = ctx->fopts;
	bool charged = false;

	if (mode == ZC_MODE_DIRECT)
		charged = zcd_fds_charge(ctx, f->uid, ZCD_CHARGE_EXTRA) == 0;
	opts.no_extra_fd = !charged;
	zc_file_open(&f->eng, f->fd, mode, &opts, ctx->stats);
	f->extra_fds = zc_file_extra_fds(&f->eng);
	if (charged && !f->extra_fds)
		zcd_fds_uncharge(ctx, f->uid, ZCD_CHARGE_EXTRA);
	if (f->extra_fds)
		extra_link(ctx, f);
	if (zc_file_active(&f->eng) != f->eng.mode)
		set_fallback(ctx, f, true, zc_file_active(&f->eng), f->eng.fallback_err);
}

void zcd_file_finish_open(fuse_req_t req, enum zc_op op, struct zcd_inode *in, int fd,
			  struct fuse_file_info *fi, const struct fuse_entry_param *e)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zc_route_out route;
	struct zcd_file *f;
	enum zc_mode served;
	int why;

	f = calloc(1, sizeof(*f));
	if (!f) {
		close(fd);
		zcd_file_uncharge(req, false);
		if (e)
			zcd_inode_forget(ctx, in, 1);
		return zcd_reply_err(req, op, -ENOMEM);
	}
	f->fd = fd;
	f->inode = in;
	f->uid = fuse_req_ctx(req)->uid;
	f->fd_append = (zcd_file_backing_flags(ctx, fi->flags) & O_APPEND) != 0;
#if ZC_HAVE_FUSE_KILLPRIV_V2
	if (fi->kill_suidgid && op == ZC_OP_open) /* O_TRUNC by a caller without CAP_FSETID */
		zcd_file_kill_privs(fd);
#endif
	zcd_route(ctx, in, fd, &route);
	f->cache = route.cache;
	served = zcd_pt_open(req, in, fd, route.mode, fi, &why);
	f->pt = served == ZC_MODE_PASSTHROUGH;
	if (f->pt) {
		/* The kernel reads and writes the backing file: no engine, no mount-side cache
		 * (FOPEN_DIRECT_IO would send reads and writes back here). Its writes run with the
		 * daemon's credentials (root, CAP_FSETID), which keep setuid bits a caller's write
		 * would clear: a caller without that capability opening for writing gets them
		 * cleared now, as its first write would on the backing filesystem. */
		if ((fi->flags & O_ACCMODE) != O_RDONLY && fuse_req_ctx(req)->uid != 0)
			zcd_file_kill_privs(fd);
		zc_file_open(&f->eng, fd, ZC_MODE_PASSTHROUGH, &ctx->fopts, ctx->stats);
		fi->keep_cache = 0;
		fi->direct_io = 0;
	} else {
		start_engine(ctx, f, served);
		if (why)
			set_fallback(ctx, f, true, served, -why);
		apply_cache_policy(ctx, f, fi); /* before counting this open: cache=drop asks for others */
	}
	zc_stats_open(ctx->stats, f->pt ? ZC_MODE_PASSTHROUGH : zc_file_active(&f->eng));
	zcd_inode_opened(ctx, in);
	zcd_prefetch_on_open(req, in, fd); /* plans follow their job; directory scans are seen */
	/* FLUSH (on every close(2)) only reports a delayed write error of the backing file: zcfs
	 * keeps POSIX locks as OFD locks released at RELEASE. A read-only handle has none, nor has
	 * a file on a local filesystem whose close never fails; the kernel then skips the round
	 * trip. With writeback the kernel must still write its dirty pages back on close. */
	fi->noflush = !ctx->opts.writeback &&
		      ((fi->flags & O_ACCMODE) == O_RDONLY || !zc_close_may_fail(fd));
	zc_stats_gauge_add(ctx->stats, ZC_G_OPEN_HANDLES, 1);
	/* An interrupted CREATE: the kernel never saw the entry, so its reference goes too. */
	if (zcd_fh_reply_open(req, op, &f->fh, &file_ops, fi, e) < 0 && e)
		zcd_inode_forget(ctx, in, 1);
}

/* A handle whose engine fell back for want of descriptors tries again, at most every
 * RETRY_INTERVAL_NS, when the budget has room. */
static void maybe_recover(struct zcd_ctx *ctx, struct zcd_file *f)
{
	struct zc_file_opts opts = ctx->fopts;
	uint64_t now = now_ns(), due = atomic_load_explicit(&f->next_retry_ns, memory_order_relaxed);

	if (f->eng.fallback_err != EMFILE || now < due ||
	    !atomic_compare_exchange_strong(&f->next_retry_ns, &due, now + RETRY_INTERVAL_NS))
		return;
	if (zcd_fds_charge(ctx, f->uid, ZCD_CHARGE_EXTRA) < 0)
		return;
	opts.no_extra_fd = false;
	if (zc_file_retry(&f->eng, &opts) == 0 && zc_file_extra_fds(&f->eng)) {
		f->extra_fds = 1;
		extra_link(ctx, f);
		set_fallback(ctx, f, false, f->eng.mode, 0);
		zc_log(ZC_LOG_INFO, "%s read path available again", zc_mode_name(f->eng.mode));
		return;
	}
	zcd_fds_uncharge(ctx, f->uid, ZCD_CHARGE_EXTRA);
}

static void file_read(fuse_req_t req, struct zcd_fh *fh, size_t size, off_t off)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_file *f = (struct zcd_file *)fh;
	struct zc_rdesc rd;
	enum zc_mode mode;
	uint64_t t0;
	ssize_t n;
	int rc;

	if (zc_file_active(&f->eng) != f->eng.mode)
		maybe_recover(ctx, f);
	/* Nothing of f may be touched once the reply is sent: RELEASE can overtake us. */
	mode = zc_file_active(&f->eng);
	t0 = now_ns();
	n = zc_file_read(&f->eng, off, size, &rd);
	if (n < 0) {
		zc_stats_read(ctx->stats, mode, 0, now_ns() - t0, (int)n);
		return zcd_reply_err(req, ZC_OP_read, (int)n);
	}
#if ZC_HAVE_FUSE_IO_URING
	/* Over io_uring libfuse copies the reply in user space: bytes in a mapping the backing
	 * file may have lost must be copied without faulting first (SIGBUS would kill the daemon). */
	zcd_note_transport(req);
	if (fuse_req_is_uring(req)) {
		n = zc_file_read_copy(&f->eng, &rd);
		if (n < 0) {
			zc_file_read_done(NULL, &rd, (int)n);
			zc_stats_read(ctx->stats, mode, 0, now_ns() - t0, (int)n);
			return zcd_reply_err(req, ZC_OP_read, (int)n);
		}
	}
#endif
	if (rd.kind == ZC_RD_FD) {
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(rd.len);
		bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv.buf[0].fd = rd.fd;
		bv.buf[0].pos = rd.pos;
		rc = fuse_reply_data(req, &bv, 0);
	} else {
		rc = fuse_reply_buf(req, rd.mem, rd.len);
	}
	zc_file_read_done(NULL, &rd, rc);
	zc_stats_read(ctx->stats, mode, rd.len, now_ns() - t0, rc);
	zc_stats_op(ctx->stats, ZC_OP_read, rc);
}

/* An implicit handle's descriptor has none of the caller's open flags; each WRITE carries them.
 * O_APPEND writes at the backing file's end (as a descriptor opened O_APPEND would, whatever
 * the kernel's idea of the size), O_SYNC and O_DSYNC write through to the device. */
static ssize_t write_flagged(int fd, struct fuse_bufvec *bufv, size_t size, off_t off, int flags)
{
	struct fuse_bufvec mem = FUSE_BUFVEC_INIT(size);
	int rwf = ((flags & O_APPEND) ? RWF_APPEND : 0) | ((flags & O_DSYNC) ? RWF_DSYNC : 0) |
		  ((flags & O_SYNC) == O_SYNC ? RWF_SYNC : 0);
	struct iovec iov;
	ssize_t n;

	mem.buf[0].mem = malloc(size ? size : 1);
	if (!mem.buf[0].mem)
		return -ENOMEM;
	n = fuse_buf_copy(&mem, bufv, 0); /* the request may still be in a pipe (splice_read) */
	if (n >= 0) {
		iov.iov_base = mem.buf[0].mem;
		iov.iov_len = (size_t)n;
		n = pwritev2(fd, &iov, 1, (flags & O_APPEND) ? -1 : off, rwf);
		if (n < 0)
			n = -errno;
	}
	free(mem.buf[0].mem);
	return n;
}

static void file_write(fuse_req_t req, struct zcd_fh *fh, struct fuse_bufvec *bufv, off_t off,
		       struct fuse_file_info *fi)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_file *f = (struct zcd_file *)fh;
	size_t size = fuse_buf_size(bufv);
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(size);
	struct stat st;
	uint64_t seq;
	ssize_t n;

	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = f->fd;
	out.buf[0].pos = off;
	zcd_cache_write_begin(ctx, f->inode);
#if ZC_HAVE_FUSE_KILLPRIV_V2
	/* The kernel left setuid bits to the daemon (KILLPRIV_V2), which writes as root. */
	/* The kernel, which keeps the mode it cached after such a write (it drops only the times
	 * and size), is told the mode changed before the write returns (offset -1: attributes
	 * only, no page locks, safe inside WRITE, as in OPEN above). */
	if (fi->kill_suidgid && zcd_file_kill_privs(f->fd) > 0)
		fuse_lowlevel_notify_inval_inode(ctx->se, zcd_inode_nodeid(ctx, f->inode), -1, 0);
#endif
	/* A caller's fcntl(F_SETFL) changes O_APPEND on its open file, which each WRITE carries:
	 * the backing descriptor follows (writeback: the kernel appends itself). */
	if (!f->implicit && !ctx->opts.writeback && !(fi->flags & O_APPEND) != !f->fd_append) {
		int fl = fcntl(f->fd, F_GETFL);
		if (fl >= 0 && fcntl(f->fd, F_SETFL, (fl & ~O_APPEND) | (fi->flags & O_APPEND)) == 0)
			f->fd_append = (fi->flags & O_APPEND) != 0;
	}
	if (f->implicit && (fi->flags & (O_APPEND | O_SYNC | O_DSYNC)))
		n = write_flagged(f->fd, bufv, size, off, fi->flags);
	else
		n = fuse_buf_copy(&out, bufv, 0);
	/* The mount's own change: its cached pages stay (cache.h). */
	seq = zcd_cache_seq(ctx);
	zcd_cache_write_end(ctx, f->inode, fstat(f->fd, &st) == 0 ? &st : NULL, seq);
	if (n < 0)
		return zcd_reply_err(req, ZC_OP_write, (int)n);
	zc_stats_written(ctx->stats, (size_t)n);
	zc_stats_op(ctx->stats, ZC_OP_write, 0);
	fuse_reply_write(req, (size_t)n);
}

static int file_flush(struct zcd_fh *fh)
{
	struct zcd_file *f = (struct zcd_file *)fh;
	/* close() of a duplicate reports delayed write errors (NFS-style backings) like a close
	 * of the caller's descriptor would. */
	int fd = dup(f->fd);

	return fd < 0 ? -errno : (close(fd) < 0 ? -errno : 0);
}

static int file_fsync(struct zcd_fh *fh, int datasync)
{
	struct zcd_file *f = (struct zcd_file *)fh;

	return (datasync ? fdatasync(f->fd) : fsync(f->fd)) < 0 ? -errno : 0;
}

static int file_backing_fd(struct zcd_fh *fh)
{
	return ((struct zcd_file *)fh)->fd;
}

static void file_release(struct zcd_ctx *ctx, struct zcd_fh *fh, fuse_req_t req)
{
	struct zcd_file *f = (struct zcd_file *)fh;
	struct zcd_inode *in = f->inode;
	bool drop;

	pthread_mutex_lock(&ctx->extra_lock);
	extra_unlink_locked(ctx, f);
	pthread_mutex_unlock(&ctx->extra_lock);
	set_fallback(ctx, f, false, f->eng.mode, 0);
	zcd_pt_release(ctx, in, f->pt, req);
	pthread_mutex_lock(&ctx->tbl.lock);
	drop = f->cache == ZC_CACHE_DROP && in->opens == 1 && !f->pt;
	pthread_mutex_unlock(&ctx->tbl.lock);
	zc_file_close(&f->eng);
	close(f->fd);
	if (f->extra_fds)
		zcd_fds_uncharge(ctx, f->uid, ZCD_CHARGE_EXTRA);
	zcd_fds_uncharge(ctx, f->uid, ZCD_CHARGE_FILE);
	if (drop && req)
		zcd_notify_inval(ctx, in); /* cache=drop: the last close drops the mount's pages */
	zcd_inode_closed(ctx, in);
	zc_stats_gauge_add(ctx->stats, ZC_G_OPEN_HANDLES, -1);
	free(f);
}

static const struct zcd_fh_ops file_ops = {
	.kind = "file",
	.read = file_read,
	.write = file_write,
	.flush = file_flush,
	.fsync = file_fsync,
	.backing_fd = file_backing_fd,
	.release = file_release,
};

/* ---- implicit handles (-o noopen) ---- */

/* Implicit handles kept at most, and how long an idle one stays open: a writable one holds the
 * backing file open for writing, which makes exec(2) of it fail (ETXTBSY), so it goes soon. */
#define IMP_WRITE_IDLE_NS 2000000000ull
#define IMP_READ_IDLE_NS 5000000000ull

static unsigned imp_max(const struct zcd_ctx *ctx)
{
	unsigned m = ctx->fds.limit / 4;
	return m < 64 ? 64 : m;
}

static void implicit_free(struct zcd_ctx *ctx, struct zcd_file *f)
{
	set_fallback(ctx, f, false, f->eng.mode, 0);
	pthread_mutex_lock(&ctx->extra_lock);
	extra_unlink_locked(ctx, f);
	pthread_mutex_unlock(&ctx->extra_lock);
	zc_file_close(&f->eng);
	close(f->fd);
	if (f->extra_fds)
		zcd_fds_uncharge(ctx, f->uid, ZCD_CHARGE_EXTRA);
	zcd_fds_uncharge(ctx, f->uid, ZCD_CHARGE_FILE);
	atomic_fetch_sub(&ctx->imp_count, 1);
	zc_stats_gauge_add(ctx->stats, ZC_G_OPEN_HANDLES, -1);
	free(f);
}

void zcd_file_implicit_put(struct zcd_ctx *ctx, struct zcd_file *f)
{
	if (f && atomic_fetch_sub(&f->refs, 1) == 1)
		implicit_free(ctx, f);
}

/* The list of implicit handles in slots, oldest first (tbl->lock): sweeps walk it, never the
 * whole inode table. */
static void imp_link_locked(struct zcd_ctx *ctx, struct zcd_file *f)
{
	f->inext = NULL;
	f->iprev = ctx->imp_tail;
	if (ctx->imp_tail)
		ctx->imp_tail->inext = f;
	else
		ctx->imp_head = f;
	ctx->imp_tail = f;
}

static void imp_unlink_locked(struct zcd_ctx *ctx, struct zcd_file *f)
{
	if (f->iprev)
		f->iprev->inext = f->inext;
	else
		ctx->imp_head = f->inext;
	if (f->inext)
		f->inext->iprev = f->iprev;
	else
		ctx->imp_tail = f->iprev;
	f->iprev = f->inext = NULL;
}

void zcd_file_implicit_detach_locked(struct zcd_ctx *ctx, struct zcd_inode *in,
				     struct zcd_file **r, struct zcd_file **w)
{
	*r = in->imp_r;
	*w = in->imp_w;
	in->imp_r = in->imp_w = NULL;
	if (*r)
		imp_unlink_locked(ctx, *r);
	if (*w)
		imp_unlink_locked(ctx, *w);
}

/* Reserve a descriptor for an implicit handle. Charged to the mounting user, whom no share
 * caps: the kernel checked the caller's permission when it opened the file, and one handle
 * serves every caller. 0 or -errno. */
static int implicit_charge(struct zcd_ctx *ctx)
{
	int rc;

	while ((rc = zcd_fds_charge(ctx, ctx->owner_uid, ZCD_CHARGE_FILE)) == -ENFILE &&
	       zcd_file_implicit_sweep(ctx, true))
		;
	if (rc < 0)
		zc_stats_event(ctx->stats, ZC_EV_FD_REFUSED_BUDGET);
	return rc;
}

/* An implicit handle of in on fd (taken; charged already), routed like an open. */
static struct zcd_file *implicit_from_fd(struct zcd_ctx *ctx, struct zcd_inode *in, int fd,
					 bool writable, bool readable)
{
	struct zcd_file *f = calloc(1, sizeof(*f));
	struct zc_route_out route;
	enum zc_mode mode;

	if (!f) {
		close(fd);
		zcd_fds_uncharge(ctx, ctx->owner_uid, ZCD_CHARGE_FILE);
		return NULL;
	}
	f->fd = fd;
	f->inode = in;
	f->uid = ctx->owner_uid;
	f->implicit = true;
	f->writable = writable;
	f->readable = readable;
	atomic_init(&f->refs, 1);
	atomic_init(&f->used_ns, now_ns());
	f->route_gen = atomic_load(&ctx->route_gen);
	zcd_route(ctx, in, fd, &route);
	mode = route.mode;
	/* Without an OPEN there is no reply to put a passthrough backing file or FOPEN_DIRECT_IO
	 * in: passthrough is served by splice (a counted fallback), and the kernel keeps every
	 * file's pages, invalidated by the watch when another process changes the file. */
	if (mode == ZC_MODE_PASSTHROUGH)
		mode = ZC_MODE_SPLICE;
	f->cache = ZC_CACHE_KEEP;
	start_engine(ctx, f, mode);
	if (mode != route.mode) {
		zc_stats_fallback(ctx->stats, route.mode, mode);
		set_fallback(ctx, f, true, mode, ENOSYS);
	}
	pthread_mutex_lock(&ctx->tbl.lock);
	in->data_cached = true;
	pthread_mutex_unlock(&ctx->tbl.lock);
	zc_stats_open(ctx->stats, zc_file_active(&f->eng));
	zc_stats_gauge_add(ctx->stats, ZC_G_OPEN_HANDLES, 1);
	atomic_fetch_add(&ctx->imp_count, 1);
	return f;
}

/* Open and route a new implicit handle of in; NULL with -errno in *err. */
static struct zcd_file *implicit_new(fuse_req_t req, struct zcd_inode *in, bool write, int *err)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	bool readable = true;
	int fd, rc;

	rc = implicit_charge(ctx);
	if (rc < 0) {
		*err = rc;
		return NULL;
	}
	fd = zcd_inode_open(ctx, in, write ? O_RDWR : O_RDONLY, NULL);
	if (write && (fd == -EACCES || fd == -EPERM || fd == -ETXTBSY)) {
		fd = zcd_inode_open(ctx, in, O_WRONLY, NULL);
		readable = false;
	}
	if (fd < 0) {
		zcd_fds_uncharge(ctx, ctx->owner_uid, ZCD_CHARGE_FILE);
		*err = fd;
		return NULL;
	}
	*err = -ENOMEM;
	return implicit_from_fd(ctx, in, fd, write, readable);
}

/* Put f in its slot of in unless one is there already; returns the one in the slot with a
 * reference for the caller (f put if it lost). */
static struct zcd_file *implicit_install(struct zcd_ctx *ctx, struct zcd_inode *in,
					 struct zcd_file *f)
{
	struct zcd_file **slot = f->writable ? &in->imp_w : &in->imp_r, *spare = NULL, *got;

	pthread_mutex_lock(&ctx->tbl.lock);
	if (*slot) { /* a racing request made one first */
		spare = f;
		got = *slot;
	} else {
		*slot = got = f;
		imp_link_locked(ctx, f);
	}
	atomic_fetch_add(&got->refs, 1); /* the caller's; the slot holds the first */
	pthread_mutex_unlock(&ctx->tbl.lock);
	if (spare)
		zcd_file_implicit_put(ctx, spare);
	else if ((unsigned)atomic_load(&ctx->imp_count) > imp_max(ctx))
		zcd_file_implicit_sweep(ctx, true);
	return got;
}

void zcd_file_implicit_adopt(struct zcd_ctx *ctx, struct zcd_inode *in, int fd, int flags)
{
	bool writable = (flags & O_ACCMODE) != O_RDONLY;
	struct zcd_file *f;

	if (!writable || implicit_charge(ctx) < 0) {
		close(fd);
		return;
	}
	f = implicit_from_fd(ctx, in, fd, true, (flags & O_ACCMODE) == O_RDWR);
	if (f)
		zcd_file_implicit_put(ctx, implicit_install(ctx, in, f));
}

struct zcd_file *zcd_file_implicit_get(fuse_req_t req, struct zcd_inode *in, bool write, int *err)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_file *f, *stale = NULL;

	pthread_mutex_lock(&ctx->tbl.lock);
	f = write ? in->imp_w : in->imp_r;
	if (f && f->route_gen != atomic_load(&ctx->route_gen)) {
		/* A routing xattr changed: the next read gets the engine it asks for now (requests
		 * still using this one finish with it). */
		if (f == in->imp_r)
			in->imp_r = NULL;
		else
			in->imp_w = NULL;
		imp_unlink_locked(ctx, f);
		stale = f;
		f = NULL;
	}
	if (!f && !write && in->imp_w && in->imp_w->readable &&
	    in->imp_w->route_gen == atomic_load(&ctx->route_gen))
		f = in->imp_w; /* a read-write handle serves reads too */
	if (f)
		atomic_fetch_add(&f->refs, 1);
	pthread_mutex_unlock(&ctx->tbl.lock);
	zcd_file_implicit_put(ctx, stale);
	if (f) {
		atomic_store(&f->used_ns, now_ns());
		return f;
	}
	f = implicit_new(req, in, write, err);
	if (!f)
		return NULL;
	f = implicit_install(ctx, in, f);
	if (!write)
		zcd_prefetch_on_open(req, in, f->fd); /* plans follow their job */
	return f;
}

bool zcd_file_implicit_sweep(struct zcd_ctx *ctx, bool pressed)
{
	struct zcd_file *gone[256];
	struct zcd_inode *pinned[256];
	uint64_t now = now_ns();
	unsigned over = 0, max = imp_max(ctx);
	int ng = 0;

	/* Idle ones (writable after 2 s, read-only after 5 s); pressed, the oldest unused ones
	 * until a quarter of the cap is free (one sweep pays for many opens). Only handles no
	 * request uses go. */
	pthread_mutex_lock(&ctx->tbl.lock);
	if (pressed && (unsigned)atomic_load(&ctx->imp_count) + max / 4 > max)
		over = (unsigned)atomic_load(&ctx->imp_count) + max / 4 - max;
	/* Pressed, only the oldest 256 are looked at: a sweep per open must not cost the list. */
	unsigned seen = 0;
	for (struct zcd_file *f = ctx->imp_head, *next; f && ng < 256 && !(pressed && seen++ >= 256);
	     f = next) {
		uint64_t idle = now - atomic_load(&f->used_ns);
		next = f->inext;
		if (atomic_load(&f->refs) != 1)
			continue;
		if (idle <= (f->writable ? IMP_WRITE_IDLE_NS : IMP_READ_IDLE_NS) &&
		    !(over && idle > 100000000ull))
			continue;
		if (f->inode->imp_r == f)
			f->inode->imp_r = NULL;
		else
			f->inode->imp_w = NULL;
		imp_unlink_locked(ctx, f);
		f->inode->pins++; /* freeing a handle touches its inode */
		pinned[ng] = f->inode;
		gone[ng++] = f;
		if (over)
			over--;
	}
	pthread_mutex_unlock(&ctx->tbl.lock);
	for (int i = 0; i < ng; i++) {
		zcd_file_implicit_put(ctx, gone[i]);
		zcd_inode_unpin(ctx, pinned[i]);
	}
	return ng > 0;
}

int zcd_file_fd(const struct zcd_file *f)
{
	return f->fd;
}

void zcd_file_implicit_read(fuse_req_t req, struct zcd_inode *in, size_t size, off_t off)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	int err = 0;
	struct zcd_file *f = zcd_file_implicit_get(req, in, false, &err);

	if (!f)
		return zcd_reply_err(req, ZC_OP_read, err);
	file_read(req, &f->fh, size, off);
	zcd_file_implicit_put(ctx, f);
}

void zcd_file_implicit_write(fuse_req_t req, struct zcd_inode *in, struct fuse_bufvec *bufv,
			     off_t off, struct fuse_file_info *fi)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	int err = 0;
	struct zcd_file *f = zcd_file_implicit_get(req, in, true, &err);

	if (!f)
		return zcd_reply_err(req, ZC_OP_write, err);
	file_write(req, &f->fh, bufv, off, fi);
	zcd_file_implicit_put(ctx, f);
}

int zcd_file_describe_fallback(struct zcd_ctx *ctx, struct zcd_inode *in, char *buf, size_t len)
{
	enum zc_mode to;
	unsigned n;
	int err;

	pthread_mutex_lock(&ctx->tbl.lock);
	n = in->fallback_handles;
	to = in->fb_mode;
	err = in->fb_err;
	pthread_mutex_unlock(&ctx->tbl.lock);
	if (!n)
		return snprintf(buf, len, "%s", "");
	return snprintf(buf, len, " fallback=%s(%s) handles=%u", zc_mode_name(to), zc_errno_name(err), n);
}
