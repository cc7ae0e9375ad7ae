/* prefetch.c - see prefetch.h. One lock (pf->lock) guards the plan list, the directory scan
 * table and every plan's books; workers take a piece of work under it and do the I/O without
 * it. A plan is freed only when no worker holds work of it (busy == 0). */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "backing.h"
#include "cache.h"
#include "ctx.h"
#include "fd.h"
#include "inode.h"
#include "notify.h"
#include "park.h"
#include "prefetch.h"
#include "prefetch_int.h"
#include "req.h"
#include "route.h"
#include "zc/log.h"
#include "zc/plan.h"
#include "zc/resid.h"

#define CHUNK_BYTES (1u << 20) /* one read of a prefetch */
#define IDLE_NS (120 * 1000000000ull)  /* no planned open for this long: the plan ends (idle) */
#define LAST_NS (5 * 1000000000ull)    /* after the last planned file was opened: complete */

enum work_kind { W_NONE, W_FETCH, W_DROP };

struct work {
	enum work_kind kind;
	struct plan *plan;
	size_t idx;
};

uint64_t zcd_pf_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- plans: books ---- */

static void add_totals(struct totals *t, const struct zc_plan_stats *s)
{
	t->prefetched += s->prefetched;
	t->bytes += s->bytes;
	t->skipped += s->skipped;
	t->hits += s->hits;
	t->partial += s->partial;
	t->misses += s->misses;
	t->wasted += s->wasted_bytes;
}

static void free_paths(char **paths, size_t n)
{
	if (!paths)
		return;
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

void zcd_pf_plan_free(struct plan *p)
{
	free_paths(p->paths, p->n);
	zc_plan_free(p->zp);
	free(p);
}

enum zc_plan_end zcd_pf_state(const struct plan *p)
{
	return p->zp ? zc_plan_state(p->zp) : p->end;
}

void zcd_pf_stats(const struct plan *p, struct zc_plan_stats *st)
{
	if (p->zp)
		zc_plan_get_stats(p->zp, st);
	else
		*st = p->summary;
}

/* What a slimmed plan gave back, freed by the caller without the lock. */
struct slimmed {
	char **paths;
	size_t n;
	struct zc_plan *zp;
};

/* An ended plan whose leftovers are dropped and that no worker holds work of needs neither its
 * paths nor its books: keep their summary for status and stats, and hand the rest (tens of MB
 * for a plan of a million paths) to the caller to free without the lock. */
static bool slim_locked(struct plan *p, struct slimmed *out)
{
	if (!p->zp || !p->clean || p->busy || zc_plan_state(p->zp) == ZC_PLAN_ACTIVE)
		return false;
	zc_plan_get_stats(p->zp, &p->summary);
	p->end = zc_plan_state(p->zp);
	*out = (struct slimmed){ p->paths, p->n, p->zp };
	p->paths = NULL;
	p->zp = NULL;
	return true;
}

static void free_slimmed(struct slimmed *s)
{
	free_paths(s->paths, s->n);
	zc_plan_free(s->zp);
	/* the path strings were many small blocks in the arenas of the threads that took the
	 * plan: give the pages back, or the daemon keeps them (275 MB after 15 plans of 200,000) */
	malloc_trim(0);
}

/* Notice that p has ended (by lib/plan itself, or by end_locked): it no longer counts as
 * active, its scan slot is free, and its leftovers are work now. */
static void sync_locked(struct zcd_prefetch *pf, struct plan *p)
{
	if (!p->counted || zcd_pf_state(p) == ZC_PLAN_ACTIVE)
		return;
	p->counted = false;
	pf->nactive--;
	atomic_store(&pf->nactive_fast, pf->nactive);
	for (int i = 0; i < SCAN_SLOTS; i++)
		if (pf->scans[i].plan_id == p->id)
			pf->scans[i].plan_id = 0;
	pthread_cond_broadcast(&pf->cond);
}

static void end_locked(struct zcd_prefetch *pf, struct plan *p, enum zc_plan_end why)
{
	if (p->zp)
		zc_plan_end(p->zp, why);
	sync_locked(pf, p);
}

/* Free ended, cleaned plans beyond the KEEP_ENDED newest. */
static void trim_locked(struct zcd_prefetch *pf)
{
	unsigned kept = 0;

	for (struct plan **pp = &pf->plans; *pp;) {
		struct plan *p = *pp;
		struct zc_plan_stats st;
		if (zcd_pf_state(p) == ZC_PLAN_ACTIVE || !p->clean || p->busy || ++kept <= KEEP_ENDED) {
			pp = &p->next;
			continue;
		}
		zcd_pf_stats(p, &st);
		add_totals(&pf->gone, &st);
		*pp = p->next;
		zcd_pf_plan_free(p);
	}
}

/* Idle and completed plans end; called by workers while waiting. */
static void check_time_locked(struct zcd_prefetch *pf, uint64_t now)
{
	for (struct plan *p = pf->plans; p; p = p->next) {
		struct zc_plan_stats st;
		if (zcd_pf_state(p) != ZC_PLAN_ACTIVE)
			continue;
		zcd_pf_stats(p, &st);
		uint64_t last = p->last_open_ns ? p->last_open_ns : p->created_ns;
		if (st.position >= p->n && now - last > LAST_NS)
			end_locked(pf, p, ZC_PLAN_COMPLETE);
		else if (now - last > IDLE_NS)
			end_locked(pf, p, ZC_PLAN_IDLE);
	}
}

static bool pick_locked(struct zcd_prefetch *pf, struct work *w)
{
	unsigned n = 0, start = pf->rr++;

	for (struct plan *p = pf->plans; p; p = p->next)
		n++;
	/* Round robin over the plans, from a moving start, so one plan cannot starve others. */
	for (unsigned k = 0; k < n; k++) {
		struct plan *p = pf->plans;
		ssize_t i;
		for (unsigned j = (start + k) % n; j; j--)
			p = p->next;
		if (zcd_pf_state(p) == ZC_PLAN_ACTIVE) {
			/* the window in files: what is parked and being read, on a remote backing */
			if (pf->park && !zcd_park_room(pf->park, pf->fetching))
				continue;
			i = zc_plan_next(p->zp);
			if (i >= 0) {
				*w = (struct work){ W_FETCH, p, (size_t)i };
				p->busy++;
				pf->fetching += pf->park != NULL;
				return true;
			}
		} else if (!p->clean && p->zp) {
			i = zc_plan_next_leftover(p->zp);
			if (i >= 0) {
				*w = (struct work){ W_DROP, p, (size_t)i };
				p->busy++;
				return true;
			}
			p->clean = true;
		}
	}
	return false;
}

/* ---- the I/O, without the lock ---- */

/* Open p's file i as its owner, strictly below the root (symlinks followed only inside it),
 * charged to the owner's share of descriptors. Returns fd or -errno. */
static int open_as_owner(struct zcd_ctx *ctx, struct plan *p, size_t i)
{
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK,
				.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS };
	struct zcd_creds c;
	int fd, rc;

	rc = zcd_fds_charge(ctx, p->uid, ZCD_CHARGE_FILE);
	if (rc < 0)
		return rc;
	rc = zcd_creds_enter_ids(ctx, &c, p->uid, p->gid, p->groups, p->ngroups);
	if (rc == 0) {
		fd = (int)syscall(SYS_openat2, ctx->root_fd, p->paths[i], &how, sizeof(how));
		rc = fd < 0 ? -errno : fd;
		zcd_creds_leave_ids(ctx, &c);
	}
	if (rc < 0)
		zcd_fds_uncharge(ctx, p->uid, ZCD_CHARGE_FILE);
	return rc;
}

static void close_as_owner(struct zcd_ctx *ctx, struct plan *p, int fd)
{
	close(fd);
	zcd_fds_uncharge(ctx, p->uid, ZCD_CHARGE_FILE);
}

/* The entry the kernel knows for (dev, ino), pinned, if its data may go into the mount's cache
 * (routing gives it keep or auto, not passthrough); else NULL. */
static struct zcd_inode *store_target(struct zcd_ctx *ctx, int fd, const struct stat *st)
{
	struct zcd_inode *in = zcd_inode_find(ctx, st->st_dev, st->st_ino);
	struct zc_route_out r;

	if (!in)
		return NULL;
	zcd_route(ctx, in, fd, &r);
	if ((r.cache == ZC_CACHE_KEEP || r.cache == ZC_CACHE_AUTO) && r.mode != ZC_MODE_PASSTHROUGH)
		return in;
	zcd_inode_unpin(ctx, in);
	return NULL;
}

/* A remote backing: read the whole file through fd, in this worker (the store's round trips
 * and transfer happen here, many workers at once), and park fd for the job's open (park.h),
 * which then finds the pages with the descriptor that read them. Returns bytes read or -errno;
 * fd is parked or closed. */
static int64_t fetch_and_park(struct zcd_ctx *ctx, struct plan *p, int fd, const struct stat *st, char *buf)
{
	int64_t total = 0;

	for (;;) {
		ssize_t n = pread(fd, buf, CHUNK_BYTES, total);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int rc = -errno;
			close_as_owner(ctx, p, fd);
			return rc; /* the store failed: skipped, the job's own open will say so */
		}
		if (n == 0)
			break;
		total += n;
	}
	if (zcd_park_put(ctx->prefetch->park, p->id, p->uid, st->st_dev, st->st_ino, fd) < 0)
		close_as_owner(ctx, p, fd); /* full, or parked already: the pages may still serve */
	return total;
}

/* Read file i of p ahead of the job. Returns bytes read or -errno; *brought_in: the pages were
 * not all resident before (zcfs put them there). */
static int64_t fetch(struct zcd_ctx *ctx, struct plan *p, size_t i, char *buf, dev_t *dev,
		     ino_t *ino, bool *brought_in)
{
	struct zc_resid r = { 0 };
	struct zcd_inode *in = NULL;
	struct stat st;
	int64_t total = 0;
	uint64_t seq;
	bool known;
	int fd;

	*brought_in = false;
	fd = open_as_owner(ctx, p, i);
	if (fd < 0)
		return fd;
	seq = zcd_cache_seq(ctx);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close_as_owner(ctx, p, fd);
		return -ESTALE; /* not a regular file now: skipped */
	}
	if (zcd_backing_cap(ctx)->stable_ino == ZC_CAP_NO) {
		/* s3fs, sshfs: the number may be new for the same file (its FUSE daemon chose
		 * another); the caller re-identifies the plan's entry, so that the job's open matches. */
		*dev = st.st_dev;
		*ino = st.st_ino;
	} else if (*ino && (st.st_dev != *dev || st.st_ino != *ino)) {
		close_as_owner(ctx, p, fd);
		return -ESTALE; /* replaced: skipped */
	}
	known = zc_resid_query(fd, 0, &r) == 0;
	if (known)
		*brought_in = r.resident_pages < r.total_pages;
	zc_resid_free(&r);
	if (ctx->prefetch->park && !p->store)
		return fetch_and_park(ctx, p, fd, &st, buf);
	if (p->store) {
		in = store_target(ctx, fd, &st);
	} else if (known && !*brought_in) {
		close_as_owner(ctx, p, fd); /* all cached already: nothing to read */
		return st.st_size;
	}
	if (!in) {
		/* Into the backing page cache only: let the kernel read it, no copy to user space (a
		 * pread into a buffer cost about as much CPU as the job's own reads). readahead(2)
		 * returns once the reads are queued; an open that comes before they end waits on the
		 * pages like any reader. */
		if (readahead(fd, 0, (size_t)st.st_size) < 0) {
			int rc = -errno;
			close_as_owner(ctx, p, fd);
			return rc;
		}
		close_as_owner(ctx, p, fd);
		return st.st_size;
	}
	for (;;) {
		ssize_t n = pread(fd, buf, CHUNK_BYTES, total);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (in) {
			struct fuse_bufvec bv = FUSE_BUFVEC_INIT((size_t)n);
			bv.buf[0].mem = buf;
			if (fuse_lowlevel_notify_store(ctx->se, zcd_inode_nodeid(ctx, in), total, &bv, 0) < 0) {
				zcd_inode_unpin(ctx, in);
				in = NULL; /* the kernel forgot it: the backing cache alone, then */
			}
		}
		total += n;
	}
	if (in) {
		/* The stored pages are the file as it is: the job's next open keeps them. */
		zcd_cache_stored(ctx, in, &st, seq);
		zcd_inode_unpin(ctx, in);
	}
	close_as_owner(ctx, p, fd);
	return total;
}

/* Drop the pages zcfs brought in for file i of p, which the job never opened. */
static void drop(struct zcd_ctx *ctx, struct plan *p, size_t i, dev_t dev, ino_t ino)
{
	struct zcd_inode *in;
	struct stat st;
	int fd = -ENOENT;

	if (ctx->prefetch->park && ino)
		fd = zcd_park_reclaim(ctx->prefetch->park, dev, ino); /* no new open of a remote file */
	if (fd < 0)
		fd = open_as_owner(ctx, p, i);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		if (p->store && (in = zcd_inode_find(ctx, st.st_dev, st.st_ino))) {
			zcd_notify_inval(ctx, in);
			zcd_inode_unpin(ctx, in);
		}
	}
	close_as_owner(ctx, p, fd);
}

static void *worker(void *arg)
{
	struct zcd_ctx *ctx = arg;
	struct zcd_prefetch *pf = ctx->prefetch;
	char *buf = malloc(CHUNK_BYTES);

	pthread_mutex_lock(&pf->lock);
	while (!pf->stop && buf) {
		struct slimmed s;
		struct work w;
		bool slimmed = false;
		for (struct plan *p = pf->plans; p && !slimmed; p = p->next)
			slimmed = slim_locked(p, &s);
		if (slimmed) {
			pthread_mutex_unlock(&pf->lock);
			free_slimmed(&s);
			pthread_mutex_lock(&pf->lock);
			continue;
		}
		if (!pick_locked(pf, &w)) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 500000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&pf->cond, &pf->lock, &ts);
			check_time_locked(pf, zcd_pf_now_ns());
			trim_locked(pf);
			continue;
		}
		/* Wake one more worker: there may be more work. Only one, and only here, at an open and
		 * at a plan's start or end: a broadcast per event woke every worker to find nothing, and
		 * cost more CPU than the reads. */
		pthread_cond_signal(&pf->cond);
		dev_t dev = 0, dev0;
		ino_t ino = 0, ino0;
		zc_plan_identity(w.plan->zp, w.idx, &dev, &ino);
		dev0 = dev;
		ino0 = ino;
		pthread_mutex_unlock(&pf->lock);
		if (w.kind == W_FETCH) {
			bool brought_in;
			int64_t n = fetch(ctx, w.plan, w.idx, buf, &dev, &ino, &brought_in);
			pthread_mutex_lock(&pf->lock);
			if (dev != dev0 || ino != ino0)
				zc_plan_reidentify(w.plan->zp, w.idx, dev, ino);
			zc_plan_fetched(w.plan->zp, w.idx, n > 0 ? (uint64_t)n : 0, brought_in,
					n < 0 ? (int)n : 0);
			pf->fetching -= pf->park != NULL;
			sync_locked(pf, w.plan);
		} else {
			drop(ctx, w.plan, w.idx, dev, ino);
			pthread_mutex_lock(&pf->lock);
		}
		w.plan->busy--; /* this worker picks again: nobody to wake */
	}
	pthread_mutex_unlock(&pf->lock);
	free(buf);
	return NULL;
}

/* ---- start, stop ---- */

int zcd_prefetch_start(struct zcd_ctx *ctx)
{
	struct zcd_prefetch *pf = calloc(1, sizeof(*pf));
	unsigned want = ctx->opts.prefetch_depth ? ctx->opts.prefetch_depth : 8;

	if (!pf)
		return -ENOMEM;
	pthread_mutex_init(&pf->lock, NULL);
	pthread_cond_init(&pf->cond, NULL);
	pf->park = zcd_park_new(ctx); /* NULL on a local backing */
	ctx->prefetch = pf;
	if (want > MAX_WORKERS)
		want = MAX_WORKERS;
	for (unsigned i = 0; i < want; i++) {
		if (pthread_create(&pf->workers[i], NULL, worker, ctx) != 0)
			break;
		pf->nworkers++;
	}
	return pf->nworkers ? 0 : -EAGAIN;
}

void zcd_prefetch_stop(struct zcd_ctx *ctx)
{
	struct zcd_prefetch *pf = ctx->prefetch;

	if (!pf)
		return;
	pthread_mutex_lock(&pf->lock);
	pf->stop = true;
	pthread_cond_broadcast(&pf->cond);
	pthread_mutex_unlock(&pf->lock);
	for (unsigned i = 0; i < pf->nworkers; i++)
		pthread_join(pf->workers[i], NULL);
	zcd_park_free(ctx, pf->park);
	while (pf->plans) {
		struct plan *p = pf->plans;
		pf->plans = p->next;
		zcd_pf_plan_free(p);
	}
	zcd_scan_clear(ctx, pf);
	pthread_cond_destroy(&pf->cond);
	pthread_mutex_destroy(&pf->lock);
	free(pf);
	ctx->prefetch = NULL;
}

/* ---- making plans ---- */

struct plan *zcd_pf_plan_new(struct zcd_ctx *ctx, char **paths, size_t n, const struct zcd_plan_req *r,
			     uid_t uid, gid_t gid, const gid_t *groups, int ngroups)
{
	struct zc_plan_cfg cfg = {
		.window_bytes = r->window_bytes ? r->window_bytes : ctx->opts.prefetch_window,
		.depth = r->depth ? r->depth : (ctx->opts.prefetch_depth ? ctx->opts.prefetch_depth : 8),
		.spread = r->spread,
	};
	struct plan *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->zp = zc_plan_new(&cfg, n);
	if (!p->zp) {
		free(p);
		return NULL;
	}
	p->paths = paths;
	p->n = n;
	p->uid = uid;
	p->gid = gid;
	p->ngroups = ngroups > MAX_GROUPS ? MAX_GROUPS : ngroups;
	memcpy(p->groups, groups, (size_t)p->ngroups * sizeof(gid_t));
	p->store = r->store;
	p->window_bytes = cfg.window_bytes;
	p->depth = cfg.depth;
	p->created_ns = zcd_pf_now_ns();
	return p;
}

/* Put p on the list (it is active from now). -EAGAIN when too many are, or too many of its
 * owner's. */
static bool room_for_locked(struct zcd_prefetch *pf, uid_t uid)
{
	unsigned mine = 0;

	for (struct plan *q = pf->plans; q; q = q->next)
		mine += q->counted && q->uid == uid;
	return pf->nactive < MAX_ACTIVE && (uid == 0 || mine < MAX_ACTIVE_USER);
}

bool zcd_pf_room_for(struct zcd_prefetch *pf, uid_t uid)
{
	bool ok;

	pthread_mutex_lock(&pf->lock);
	ok = room_for_locked(pf, uid);
	pthread_mutex_unlock(&pf->lock);
	return ok;
}

int zcd_pf_plan_add(struct zcd_prefetch *pf, struct plan *p)
{
	int id;

	pthread_mutex_lock(&pf->lock);
	if (!room_for_locked(pf, p->uid)) {
		pthread_mutex_unlock(&pf->lock);
		return -EAGAIN;
	}
	p->id = ++pf->next_id;
	p->counted = true;
	id = (int)p->id;
	p->next = pf->plans;
	pf->plans = p;
	pf->nactive++;
	atomic_store(&pf->nactive_fast, pf->nactive);
	trim_locked(pf);
	pthread_cond_broadcast(&pf->cond);
	pthread_mutex_unlock(&pf->lock);
	return id;
}

int zcd_prefetch_plan(fuse_req_t req, char **paths, size_t n, const struct zcd_plan_req *r,
		      char *why, size_t whylen)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	gid_t groups[MAX_GROUPS];
	struct zcd_creds c;
	struct plan *p;
	int ng, rc;

	if (!ctx->prefetch)
		return -EOPNOTSUPP;
	ng = fuse_req_getgroups(req, MAX_GROUPS, groups);
	if (ng < 0)
		ng = 0;
	p = zcd_pf_plan_new(ctx, paths, n, r, fc->uid, fc->gid, groups, ng);
	if (!p) {
		for (size_t i = 0; i < n; i++)
			free(paths[i]);
		free(paths);
		return -ENOMEM;
	}
	/* Resolve now, as the owner: identities match the job's opens to the plan. A path that
	 * does not resolve to a regular file refuses the plan (a file that goes later is skipped). */
	rc = zcd_creds_enter_ids(ctx, &c, p->uid, p->gid, p->groups, p->ngroups);
	if (rc == 0) {
		for (size_t i = 0; rc == 0 && i < n; i++) {
			struct open_how how = { .flags = O_PATH | O_CLOEXEC,
						.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS };
			struct stat st;
			int fd = (int)syscall(SYS_openat2, ctx->root_fd, paths[i], &how, sizeof(how));
			if (fd < 0)
				rc = -errno;
			else if (fstat(fd, &st) < 0)
				rc = -errno;
			else if (!S_ISREG(st.st_mode))
				rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
			else
				zc_plan_set_file(p->zp, i, st.st_dev, st.st_ino, (uint64_t)st.st_size);
			if (fd >= 0)
				close(fd);
			if (rc < 0)
				snprintf(why, whylen, "line %zu: '%.200s': %s", i + 1, paths[i],
					 rc == -EXDEV ? "leaves the mount root (a symlink)"
					 : rc == -EINVAL ? "not a regular file" : strerror(-rc));
		}
		zcd_creds_leave_ids(ctx, &c);
	}
	rc = rc < 0 ? rc : zcd_pf_plan_add(ctx->prefetch, p);
	if (rc < 0)
		zcd_pf_plan_free(p);
	return rc;
}

int zcd_prefetch_cancel(fuse_req_t req, unsigned id)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_prefetch *pf = ctx->prefetch;
	uid_t uid = fuse_req_ctx(req)->uid;
	int rc = -ENOENT;

	if (!pf)
		return -ENOENT;
	pthread_mutex_lock(&pf->lock);
	for (struct plan *p = pf->plans; p; p = p->next) {
		if (p->id != id)
			continue;
		rc = uid == 0 || uid == p->uid ? 0 : -EPERM;
		if (rc == 0)
			end_locked(pf, p, ZC_PLAN_CANCELLED);
	}
	pthread_mutex_unlock(&pf->lock);
	return rc;
}

/* ---- the job's opens ---- */

void zcd_prefetch_on_open(fuse_req_t req, struct zcd_inode *in, int fd)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_prefetch *pf = ctx->prefetch;
	unsigned ids[MAX_ACTIVE];
	size_t idx[MAX_ACTIVE];
	int nmatch = 0;
	struct zc_resid r = { 0 };
	enum zc_plan_hit hit = ZC_PLAN_MISS;

	if (!pf || (!atomic_load(&pf->nactive_fast) && !ctx->opts.scan_prefetch))
		return;
	pthread_mutex_lock(&pf->lock);
	for (struct plan *p = pf->plans; p && nmatch < MAX_ACTIVE; p = p->next) {
		ssize_t i;
		if (zcd_pf_state(p) != ZC_PLAN_ACTIVE)
			continue;
		i = zc_plan_find(p->zp, in->dev, in->ino);
		if (i >= 0) {
			ids[nmatch] = p->id;
			idx[nmatch++] = (size_t)i;
		}
	}
	pthread_mutex_unlock(&pf->lock);
	if (nmatch) {
		/* How much of it the cache held: the plan's hit/partial/miss. */
		if (zc_resid_query(fd, 0, &r) == 0)
			hit = r.resident_pages >= r.total_pages ? ZC_PLAN_HIT
			      : r.resident_pages ? ZC_PLAN_PARTIAL : ZC_PLAN_MISS;
		zc_resid_free(&r);
		pthread_mutex_lock(&pf->lock);
		for (struct plan *p = pf->plans; p; p = p->next)
			for (int k = 0; k < nmatch; k++)
				if (p->id == ids[k] && zcd_pf_state(p) == ZC_PLAN_ACTIVE) {
					zc_plan_opened(p->zp, idx[k], hit);
					p->last_open_ns = zcd_pf_now_ns();
					sync_locked(pf, p);
				}
		pthread_cond_signal(&pf->cond); /* the window moved: one worker picks, and chains */
		pthread_mutex_unlock(&pf->lock);
		return;
	}
	if (ctx->opts.scan_prefetch && in->type == S_IFREG)
		zcd_scan_on_open(req, in);
}

/* ---- status and stats ---- */

static void status_one(struct plan *p, FILE *out)
{
	struct zc_plan_stats st;

	zcd_pf_stats(p, &st);
	fprintf(out,
		"plan=%u\nstate=%s\nkind=%s\nowner=%u\nfiles=%llu\nposition=%llu\nfrontier=%llu\n"
		"prefetched=%llu\nbytes=%llu\nskipped=%llu\nhits=%llu\npartial=%llu\nmisses=%llu\n"
		"wasted_bytes=%llu\nahead_bytes=%llu\nlimit_bytes=%llu\nwindow_bytes=%llu\ndepth=%u\n"
		"store=%d\nspread=%llu\nastray=%d\nstrays=%llu\n",
		p->id, zc_plan_end_name(zcd_pf_state(p)), p->implicit ? "scan" : "plan",
		(unsigned)p->uid, (unsigned long long)st.files, (unsigned long long)st.position,
		(unsigned long long)st.frontier, (unsigned long long)st.prefetched,
		(unsigned long long)st.bytes, (unsigned long long)st.skipped,
		(unsigned long long)st.hits, (unsigned long long)st.partial,
		(unsigned long long)st.misses, (unsigned long long)st.wasted_bytes,
		(unsigned long long)st.ahead_bytes, (unsigned long long)st.limit_bytes,
		(unsigned long long)p->window_bytes, p->depth,
		p->store, (unsigned long long)st.spread, st.astray, (unsigned long long)st.strays);
}

int zcd_prefetch_status(struct zcd_ctx *ctx, unsigned id, FILE *out)
{
	struct zcd_prefetch *pf = ctx->prefetch;
	int rc = id ? -ENOENT : 0;

	if (!pf)
		return rc;
	pthread_mutex_lock(&pf->lock);
	for (struct plan *p = pf->plans; p; p = p->next)
		if (!id || p->id == id) {
			status_one(p, out);
			rc = 0;
		}
	pthread_mutex_unlock(&pf->lock);
	return rc;
}

void zcd_prefetch_render_prom(struct zcd_ctx *ctx, FILE *out)
{
	struct zcd_prefetch *pf = ctx->prefetch;
	struct totals t;
	unsigned active = 0, ended = 0;

	if (!pf)
		return;
	pthread_mutex_lock(&pf->lock);
	t = pf->gone;
	for (struct plan *p = pf->plans; p; p = p->next) {
		struct zc_plan_stats st;
		zcd_pf_stats(p, &st);
		add_totals(&t, &st);
		if (zcd_pf_state(p) == ZC_PLAN_ACTIVE)
			active++;
		else
			ended++;
	}
	fprintf(out, "# HELP zcfs_prefetch_plans Reading plans (and directory scans) kept, by state.\n"
		     "# TYPE zcfs_prefetch_plans gauge\nzcfs_prefetch_plans{state=\"active\"} %u\n"
		     "zcfs_prefetch_plans{state=\"ended\"} %u\n", active, ended);
	fprintf(out, "# HELP zcfs_prefetch_files_total Files read ahead of a job.\n"
		     "# TYPE zcfs_prefetch_files_total counter\nzcfs_prefetch_files_total %llu\n",
		(unsigned long long)t.prefetched);
	fprintf(out, "# HELP zcfs_prefetch_bytes_total Bytes read ahead of a job.\n"
		     "# TYPE zcfs_prefetch_bytes_total counter\nzcfs_prefetch_bytes_total %llu\n",
		(unsigned long long)t.bytes);
	fprintf(out, "# HELP zcfs_prefetch_skipped_total Planned files not read: gone, replaced or not readable by the plan's owner.\n"
		     "# TYPE zcfs_prefetch_skipped_total counter\nzcfs_prefetch_skipped_total %llu\n",
		(unsigned long long)t.skipped);
	fprintf(out, "# HELP zcfs_prefetch_opens_total The job's opens of planned files, by how much of the file was cached.\n"
		     "# TYPE zcfs_prefetch_opens_total counter\n"
		     "zcfs_prefetch_opens_total{result=\"hit\"} %llu\n"
		     "zcfs_prefetch_opens_total{result=\"partial\"} %llu\n"
		     "zcfs_prefetch_opens_total{result=\"miss\"} %llu\n",
		(unsigned long long)t.hits, (unsigned long long)t.partial, (unsigned long long)t.misses);
	fprintf(out, "# HELP zcfs_prefetch_wasted_bytes_total Bytes read ahead, never opened by the job, and dropped.\n"
		     "# TYPE zcfs_prefetch_wasted_bytes_total counter\nzcfs_prefetch_wasted_bytes_total %llu\n",
		(unsigned long long)t.wasted);
	fprintf(out, "# HELP zcfs_prefetch_parked Files read ahead on a remote backing and kept open for the job's open.\n"
		     "# TYPE zcfs_prefetch_parked gauge\nzcfs_prefetch_parked %u\n", zcd_park_count(pf->park));
	static const struct {
		const char *name, *help;
		size_t off;
	} gauges[] = {
		{ "zcfs_plan_position", "Planned files the job has opened up to, per active plan.",
		  offsetof(struct zc_plan_stats, position) },
		{ "zcfs_plan_frontier", "Planned files read ahead up to, per active plan.",
		  offsetof(struct zc_plan_stats, frontier) },
		{ "zcfs_plan_ahead_bytes", "Bytes read ahead and not yet opened, per active plan.",
		  offsetof(struct zc_plan_stats, ahead_bytes) },
	};
	for (size_t g = 0; g < sizeof(gauges) / sizeof(gauges[0]); g++) {
		fprintf(out, "# HELP %s %s\n# TYPE %s gauge\n", gauges[g].name, gauges[g].help, gauges[g].name);
		for (struct plan *p = pf->plans; p; p = p->next) {
			struct zc_plan_stats st;
			uint64_t v;
			if (zcd_pf_state(p) != ZC_PLAN_ACTIVE)
				continue;
			zcd_pf_stats(p, &st);
			memcpy(&v, (const char *)&st + gauges[g].off, sizeof(v));
			fprintf(out, "%s{plan=\"%u\"} %llu\n", gauges[g].name, p->id, (unsigned long long)v);
		}
	}
	pthread_mutex_unlock(&pf->lock);
}
