/* cache.c - see cache.h. */
#include <stdatomic.h>
#include <string.h>

#include "cache.h"
#include "ctx.h"
#include "notify.h"

static void stamp_of(const struct stat *st, struct zcd_stamp *s)
{
	s->size = st->st_size;
	s->mtime = st->st_mtim;
	s->ctime = st->st_ctim;
}

static bool ts_equal(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static bool stamp_equal(const struct zcd_stamp *a, const struct zcd_stamp *b)
{
	return a->size == b->size && ts_equal(&a->mtime, &b->mtime) && ts_equal(&a->ctime, &b->ctime);
}

uint64_t zcd_cache_seq(struct zcd_ctx *ctx)
{
	return atomic_load(&ctx->cache_seq);
}

/* Does st (taken after ctx->cache_seq read seq) show every write through the mount? Not while one
 * is in flight, nor if one ended after seq: st may predate it, while the stamp that write stored
 * does not, so the difference would be the mount's own change taken for another process's (and
 * the stamp would go back in time). tbl->lock. */
static bool is_current_locked(const struct zcd_inode *in, uint64_t seq)
{
	return !in->writes_inflight && in->end_seq <= seq;
}

/* Take st as the stamp (a current st: the mount's own change; else the next current one is). */
static void absorb_locked(struct zcd_inode *in, const struct stat *st, uint64_t seq)
{
	if (!is_current_locked(in, seq)) {
		in->stamp_behind = true;
		return;
	}
	stamp_of(st, &in->stamp);
	in->stamp_valid = true;
	in->stamp_behind = false;
}

/* Compare a current st with the stamp and take it. True when another process changed in. A st
 * that is not current leaves the stamp alone. tbl->lock. */
static bool update_locked(struct zcd_inode *in, const struct stat *st, uint64_t seq)
{
	struct zcd_stamp now;
	bool changed;

	if (!is_current_locked(in, seq))
		return false;
	stamp_of(st, &now);
	changed = in->stamp_valid && !in->stamp_behind && !stamp_equal(&in->stamp, &now);
	absorb_locked(in, st, seq);
	return changed;
}

bool zcd_cache_open(struct zcd_ctx *ctx, struct zcd_inode *in, const struct stat *st, uint64_t seq,
		    enum zc_cache policy, bool *changed)
{
	bool keep, was_valid, queued;

	pthread_mutex_lock(&ctx->tbl.lock);
	was_valid = in->stamp_valid;
	queued = in->inval_queued; /* a drop is on its way: do not keep what it would drop */
	*changed = update_locked(in, st, seq);
	switch (policy) {
	case ZC_CACHE_KEEP:
		keep = true;
		break;
	case ZC_CACHE_AUTO:
		keep = was_valid && !*changed && !queued;
		break;
	case ZC_CACHE_DROP:
		/* Pages are shared by handles open at once; release of the last one drops them. */
		keep = in->opens > 0 && !*changed && !queued;
		break;
	default:
		keep = false;
		break;
	}
	if (policy != ZC_CACHE_NONE)
		in->data_cached = true;
	pthread_mutex_unlock(&ctx->tbl.lock);
	if (*changed)
		zc_stats_event(ctx->stats, ZC_EV_EXTERNAL_CHANGE);
	return keep;
}

void zcd_cache_observe(struct zcd_ctx *ctx, struct zcd_inode *in, const struct stat *st,
		       uint64_t seq)
{
	bool inval;

	if (!S_ISREG(st->st_mode))
		return;
	pthread_mutex_lock(&ctx->tbl.lock);
	inval = update_locked(in, st, seq) && in->data_cached && !in->inval_queued;
	pthread_mutex_unlock(&ctx->tbl.lock);
	if (inval) {
		zc_stats_event(ctx->stats, ZC_EV_EXTERNAL_CHANGE);
		zcd_notify_inval(ctx, in);
	}
}

void zcd_cache_write_begin(struct zcd_ctx *ctx, struct zcd_inode *in)
{
	pthread_mutex_lock(&ctx->tbl.lock);
	in->writes_inflight++;
	pthread_mutex_unlock(&ctx->tbl.lock);
}

void zcd_cache_write_end(struct zcd_ctx *ctx, struct zcd_inode *in, const struct stat *st,
			 uint64_t seq)
{
	pthread_mutex_lock(&ctx->tbl.lock);
	if (in->writes_inflight)
		in->writes_inflight--;
	/* Other writes still in flight store their own st when they end. One that ended after this
	 * st was taken may be missing from it (two writes stat in one order and end in the other):
	 * then the stamp is behind, and the next current stat is the mount's own. */
	if (st) {
		if (in->end_seq <= seq) {
			stamp_of(st, &in->stamp);
			in->stamp_valid = true;
			in->stamp_behind = false;
		} else {
			in->stamp_behind = true;
		}
	}
	in->end_seq = atomic_fetch_add(&ctx->cache_seq, 1) + 1;
	pthread_mutex_unlock(&ctx->tbl.lock);
}

void zcd_cache_stored(struct zcd_ctx *ctx, struct zcd_inode *in, const struct stat *st,
		      uint64_t seq)
{
	pthread_mutex_lock(&ctx->tbl.lock);
	absorb_locked(in, st, seq);
	in->data_cached = true;
	pthread_mutex_unlock(&ctx->tbl.lock);
}

void zcd_cache_absorb(struct zcd_ctx *ctx, struct zcd_inode *in, const struct stat *st,
		      uint64_t seq)
{
	pthread_mutex_lock(&ctx->tbl.lock);
	if (in->stamp_valid || in->data_cached)
		absorb_locked(in, st, seq);
	pthread_mutex_unlock(&ctx->tbl.lock);
}

bool zcd_cache_is_own(struct zcd_ctx *ctx, struct zcd_inode *in, const struct stat *st,
		      uint64_t seq)
{
	struct zcd_stamp now;
	bool own;

	stamp_of(st, &now);
	pthread_mutex_lock(&ctx->tbl.lock);
	own = !is_current_locked(in, seq) ||
	      (in->stamp_valid && !in->stamp_behind && stamp_equal(&in->stamp, &now));
	pthread_mutex_unlock(&ctx->tbl.lock);
	return own;
}
