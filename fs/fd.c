/* fd.c - see fd.h: O_PATH descriptors per inode, reopening, and the descriptor budget. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ctx.h"
#include "fd.h"
#include "watch.h"
#include "inode_int.h"
#include "req.h"
#include "zc/log.h"

#define TRIM_BATCH 64

int zcd_fds_init(struct zcd_ctx *ctx)
{
	struct zcd_fds *f = &ctx->fds;
	struct rlimit rl;
	unsigned limit = 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
				getrlimit(RLIMIT_NOFILE, &rl);
		}
		limit = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 30) ? 1u << 30
										 : (unsigned)rl.rlim_cur;
	}
	f->limit = limit;
	f->reserve = limit / 16;
	if (f->reserve < 64)
		f->reserve = 64;
	if (f->reserve > 4096)
		f->reserve = 4096;
	if (f->reserve > limit / 2)
		f->reserve = limit / 2;
	f->cache_max = ctx->opts.fd_cache ? ctx->opts.fd_cache : limit / 2;
	if (f->cache_max < 16)
		f->cache_max = 16;
	f->per_uid_max = ctx->opts.max_open_per_uid ? ctx->opts.max_open_per_uid
						    : (limit - f->reserve) / 4;
	return 0;
}

void zcd_fds_destroy(struct zcd_ctx *ctx)
{
	for (int i = 0; i < ctx->fds.nmounts; i++)
		close(ctx->fds.mounts[i].fd);
	free(ctx->fds.uids);
}

int zcd_fds_mount_idx(struct zcd_ctx *ctx, int mount_id, int dirfd)
{
	struct zcd_fds *f = &ctx->fds;
	int idx = -1, mfd = -1;

	pthread_mutex_lock(&ctx->tbl.lock);
	for (int i = 0; i < f->nmounts; i++)
		if (f->mounts[i].mount_id == mount_id)
			idx = i;
	pthread_mutex_unlock(&ctx->tbl.lock);
	if (idx >= 0 || dirfd < 0)
		return idx;

	/* First object seen on this mount: its directory anchors the handles. */
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", dirfd);
	mfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0)
		return -1;
	pthread_mutex_lock(&ctx->tbl.lock);
	for (int i = 0; i < f->nmounts; i++)
		if (f->mounts[i].mount_id == mount_id)
			idx = i;
	if (idx < 0 && f->nmounts < ZCD_MAX_MOUNTS) {
		f->mounts[f->nmounts].mount_id = mount_id;
		f->mounts[f->nmounts].fd = mfd;
		idx = f->nmounts++;
		mfd = -1;
	}
	pthread_mutex_unlock(&ctx->tbl.lock);
	if (mfd >= 0)
		close(mfd);
	else if (idx >= 0)
		zcd_watch_add_fs(ctx, dirfd); /* a new filesystem below BACKING */
	return idx;
}

/* How many idle descriptors the cache may keep now: its own cap, and never what open handles
 * and the reserve need. */
static unsigned cache_keep_locked(const struct zcd_ctx *ctx)
{
	const struct zcd_fds *f = &ctx->fds;
	unsigned room = f->limit - f->reserve > f->handle_fds ? f->limit - f->reserve - f->handle_fds : 0;

	if (room < 16)
		room = 16;
	return room < f->cache_max ? room : f->cache_max;
}

static void close_all(const int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

void zcd_fd_trim(struct zcd_ctx *ctx)
{
	int victims[TRIM_BATCH], n;

	pthread_mutex_lock(&ctx->tbl.lock);
	n = zcd_lru_trim_locked(&ctx->tbl, cache_keep_locked(ctx), victims, TRIM_BATCH);
	pthread_mutex_unlock(&ctx->tbl.lock);
	close_all(victims, n);
}

int zcd_fd_adopt_locked(struct zcd_ctx *ctx, struct zcd_inode *in, int fd)
{
	if (in->fd >= 0)
		return fd;
	in->fd = fd;
	ctx->tbl.fds_open++;
	zcd_lru_idle_locked(&ctx->tbl, in);
	return -1;
}

static int reopen_by_handle(struct zcd_ctx *ctx, struct zcd_inode *in)
{
	int mfd, fd;

	pthread_mutex_lock(&ctx->tbl.lock);
	mfd = ctx->fds.mounts[in->mount_idx].fd;
	pthread_mutex_unlock(&ctx->tbl.lock);
	fd = open_by_handle_at(mfd, in->fh, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && (zcd_fds_relieve(ctx, -errno) || errno == ENOMEM))
		fd = open_by_handle_at(mfd, in->fh, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	/* ext4 answers ENOMEM (not ESTALE) for a handle whose inode number is being given to a new
	 * file at that moment; twice in a row, it is the same story: the object is gone. */
	if (errno == ESTALE || errno == ENOENT || errno == ENOMEM) {
		zc_stats_event(ctx->stats, ZC_EV_STALE_HANDLE);
		return -ESTALE;
	}
	return -errno;
}

int zcd_fd_get(struct zcd_ctx *ctx, struct zcd_inode *in)
{
	struct zcd_table *t = &ctx->tbl;
	int fd, spare;

	if (in == &ctx->root)
		return ctx->root.fd;
	pthread_mutex_lock(&t->lock);
	if (in->fd >= 0) {
		zcd_lru_unlink_locked(in);
		in->fd_users++;
		fd = in->fd;
		pthread_mutex_unlock(&t->lock);
		return fd;
	}
	pthread_mutex_unlock(&t->lock);

	if (!in->fh)
		return -ESTALE; /* a pinned descriptor is never closed: cannot happen */
	fd = reopen_by_handle(ctx, in);
	if (fd < 0)
		return fd;
	pthread_mutex_lock(&t->lock);
	spare = zcd_fd_adopt_locked(ctx, in, fd); /* another thread may have won the race */
	zcd_lru_unlink_locked(in);
	in->fd_users++;
	fd = in->fd;
	pthread_mutex_unlock(&t->lock);
	if (spare >= 0)
		close(spare);
	zcd_fd_trim(ctx);
	return fd;
}

void zcd_fd_put(struct zcd_ctx *ctx, struct zcd_inode *in)
{
	if (in == &ctx->root)
		return;
	pthread_mutex_lock(&ctx->tbl.lock);
	if (in->fd_users)
		in->fd_users--;
	zcd_lru_idle_locked(&ctx->tbl, in);
	pthread_mutex_unlock(&ctx->tbl.lock);
	zcd_fd_trim(ctx);
}

int zcd_inode_open(struct zcd_ctx *ctx, struct zcd_inode *in, int flags, fuse_req_t as_caller)
{
	struct zcd_creds creds = { 0 };
	char path[64];
	int pfd, fd, rc = 0;

	pfd = zcd_fd_get(ctx, in);
	if (pfd < 0)
		return pfd;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", pfd);
	if (as_caller)
		rc = zcd_creds_enter(as_caller, &creds, false);
	if (rc == 0) {
		for (int tries = 0;; tries++) {
			fd = open(path, (flags | O_CLOEXEC) & ~O_NOFOLLOW);
			rc = fd < 0 ? -errno : fd;
			if (rc >= 0 || tries || !zcd_fds_relieve(ctx, rc))
				break;
		}
		zcd_creds_leave(as_caller, &creds);
	}
	zcd_fd_put(ctx, in);
	return rc;
}

/* ---- the budget ---- */

static struct zcd_uid_count *uid_slot_locked(struct zcd_fds *f, uid_t uid, bool create)
{
	for (size_t i = 0; i < f->nuids; i++)
		if (f->uids[i].uid == uid)
			return &f->uids[i];
	if (!create)
		return NULL;
	if (f->nuids == f->uids_cap) {
		size_t cap = f->uids_cap ? 2 * f->uids_cap : 8;
		struct zcd_uid_count *v = realloc(f->uids, cap * sizeof(*v));
		if (!v)
			return NULL;
		f->uids = v;
		f->uids_cap = cap;
	}
	f->uids[f->nuids] = (struct zcd_uid_count){ .uid = uid };
	return &f->uids[f->nuids++];
}

/* Set when this thread's last charge was refused (zcd_fds_refused_here). */
static __thread bool refused_here;

bool zcd_fds_refused_here(void)
{
	bool was = refused_here;

	refused_here = false;
	return was;
}

int zcd_fds_charge(struct zcd_ctx *ctx, uid_t uid, enum zcd_charge kind)
{
	struct zcd_fds *f = &ctx->fds;
	bool is_handle = kind != ZCD_CHARGE_EXTRA, capped = is_handle && uid != 0 && uid != ctx->owner_uid;
	unsigned budget = f->limit - (kind == ZCD_CHARGE_DIR ? f->reserve / 2 : f->reserve);
	struct zcd_uid_count *u = NULL;
	enum zc_event refused = ZC_EV_COUNT;

	pthread_mutex_lock(&ctx->tbl.lock);
	if (is_handle) {
		u = uid_slot_locked(f, uid, true);
		if (!u)
			refused = ZC_EV_FD_REFUSED_BUDGET; /* out of memory: refuse rather than lose count */
		else if (capped && u->handles >= f->per_uid_max)
			refused = ZC_EV_FD_REFUSED_UID;
	}
	if (refused == ZC_EV_COUNT && f->handle_fds + 1 > budget)
		refused = ZC_EV_FD_REFUSED_BUDGET;
	if (refused == ZC_EV_COUNT) {
		f->handle_fds++;
		if (u)
			u->handles++;
	}
	pthread_mutex_unlock(&ctx->tbl.lock);
	refused_here = refused != ZC_EV_COUNT;
	if (refused != ZC_EV_COUNT)
		return refused == ZC_EV_FD_REFUSED_UID ? -EMFILE : -ENFILE;
	zc_stats_gauge_add(ctx->stats, ZC_G_HANDLE_FDS, 1);
	zcd_fd_trim(ctx); /* the cache's share just shrank */
	return 0;
}

void zcd_fds_uncharge(struct zcd_ctx *ctx, uid_t uid, enum zcd_charge kind)
{
	struct zcd_fds *f = &ctx->fds;

	pthread_mutex_lock(&ctx->tbl.lock);
	if (f->handle_fds)
		f->handle_fds--;
	if (kind != ZCD_CHARGE_EXTRA) {
		struct zcd_uid_count *u = uid_slot_locked(f, uid, false);
		if (u && u->handles && --u->handles == 0)
			*u = f->uids[--f->nuids]; /* keep the array dense */
	}
	pthread_mutex_unlock(&ctx->tbl.lock);
	zc_stats_gauge_add(ctx->stats, ZC_G_HANDLE_FDS, -1);
}

/* The process limit was lowered from outside (prlimit): the budget follows it, so opens are
 * refused (counted) before system calls fail. tbl.lock held. */
static void limit_lowered_locked(struct zcd_ctx *ctx)
{
	struct zcd_fds *f = &ctx->fds;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= f->limit)
		return;
	zc_log(ZC_LOG_NOTICE, "the descriptor limit was lowered to %llu from outside: the budget follows",
	       (unsigned long long)rl.rlim_cur);
	f->limit = (unsigned)rl.rlim_cur;
	f->reserve = f->limit / 16 < 64 ? (f->limit / 2 < 64 ? f->limit / 2 : 64) : f->limit / 16;
	if (!ctx->opts.fd_cache)
		f->cache_max = f->limit / 2 > 16 ? f->limit / 2 : 16;
	if (!ctx->opts.max_open_per_uid)
		f->per_uid_max = (f->limit - f->reserve) / 4;
}

bool zcd_fds_relieve(struct zcd_ctx *ctx, int err)
{
	int victims[4 * TRIM_BATCH], n;
	unsigned keep;

	if (err != -EMFILE && err != -ENFILE)
		return false;
	pthread_mutex_lock(&ctx->tbl.lock);
	limit_lowered_locked(ctx);
	keep = ctx->tbl.fds_open > 4 * TRIM_BATCH ? ctx->tbl.fds_open - 4 * TRIM_BATCH : 0;
	n = zcd_lru_trim_locked(&ctx->tbl, keep, victims, 4 * TRIM_BATCH);
	pthread_mutex_unlock(&ctx->tbl.lock);
	close_all(victims, n);
	for (int i = 0; i < n; i++)
		zc_stats_event(ctx->stats, ZC_EV_FD_PRESSURE_CLOSE);
	return n > 0;
}
