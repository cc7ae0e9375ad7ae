/* cache.c - see cache.h. */
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

/* Compare with the stamp and take the new one. True when another process changed in (a
 * difference while the mount's own writes are in flight is taken to be theirs). tbl->lock. */
static bool update_locked(struct zcd_inode *in, const struct stat *st)
{
	struct zcd_stamp now;
	bool changed;

	stamp_of(st, &now);
	changed = in->stamp_valid && !stamp_equal(&in->stamp, &now) && !in->writes_inflight;
	in->stamp = now;
	in->stamp_valid = true;
	return changed;
}

bool zcd_cache_open(struct zcd_ctx *ctx, struct zcd_inode *in, const struct stat *st,
		    enum zc_cache policy, bool *changed)
{
	bool keep, was_valid, queued;

	pthread_mutex_lock(&ctx->tbl.lock);
	was_valid = in->stamp_valid;
	queued = in->inval_queued; /* a drop is on its way: do not keep what it would drop */
	*changed = update_locked(in, st);
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

void zcd_cache_observe(struct zcd_ctx *ctx, struct zcd_inode *in, const struct stat *st)
{
	bool inval;

	if (!S_ISREG(st->st_mode))
		return;
	pthread_mutex_lock(&ctx->tbl.lock);
	inval = update_locked(in, st) && in->data_cached && !in->inval_queued;
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

void zcd_cache_write_end(struct zcd_ctx *ctx, struct zcd_inode *in, const struct stat *st)
{
	pthread_mutex_lock(&ctx->tbl.lock);
	if (in->writes_inflight)
		in->writes_inflight--;
	if (st) {
		stamp_of(st, &in->stamp);
		in->stamp_valid = true;
	}
	pthread_mutex_unlock(&ctx->tbl.lock);
}

void zcd_cache_stored(struct zcd_ctx *ctx, struct zcd_inode *in, const struct stat *st)
{
	pthread_mutex_lock(&ctx->tbl.lock);
	stamp_of(st, &in->stamp);
	in->stamp_valid = true;
	in->data_cached = true;
	pthread_mutex_unlock(&ctx->tbl.lock);
}

void zcd_cache_absorb(struct zcd_ctx *ctx, struct zcd_inode *in, const struct stat *st)
{
	pthread_mutex_lock(&ctx->tbl.lock);
	if (in->stamp_valid || in->data_cached) {
		stamp_of(st, &in->stamp);
		in->stamp_valid = true;
	}
	pthread_mutex_unlock(&ctx->tbl.lock);
}
