/* handle.c - see handle.h: the open list and the open/release protocol shared by every kind
 * of handle. */
#include <errno.h>

#include "ctx.h"
#include "handle.h"

void zcd_fh_list_init(struct zcd_ctx *ctx)
{
	ctx->open_list.prev = ctx->open_list.next = &ctx->open_list;
	pthread_mutex_init(&ctx->open_lock, NULL);
	pthread_mutex_init(&ctx->extra_lock, NULL);
	pthread_mutex_init(&ctx->pt_lock, NULL);
}

static void untrack(struct zcd_ctx *ctx, struct zcd_fh *fh)
{
	pthread_mutex_lock(&ctx->open_lock);
	fh->prev->next = fh->next;
	fh->next->prev = fh->prev;
	fh->prev = fh->next = fh;
	pthread_mutex_unlock(&ctx->open_lock);
}

int zcd_fh_reply_open(fuse_req_t req, enum zc_op op, struct zcd_fh *fh, const struct zcd_fh_ops *ops,
		      struct fuse_file_info *fi, const struct fuse_entry_param *e)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	int rc;

	fh->ops = ops;
	pthread_mutex_lock(&ctx->open_lock);
	fh->next = ctx->open_list.next;
	fh->prev = &ctx->open_list;
	fh->next->prev = fh;
	ctx->open_list.next = fh;
	pthread_mutex_unlock(&ctx->open_lock);
	fi->fh = (uint64_t)(uintptr_t)fh;
	zc_stats_op(ctx->stats, op, 0);
	rc = e ? fuse_reply_create(req, e, fi) : fuse_reply_open(req, fi);
	if (rc == -ENOENT) {
		zcd_fh_release(ctx, fh, req);
		return -ENOENT;
	}
	return 0;
}

void zcd_fh_release(struct zcd_ctx *ctx, struct zcd_fh *fh, fuse_req_t req)
{
	untrack(ctx, fh);
	fh->ops->release(ctx, fh, req);
}

void zcd_fh_release_all(struct zcd_ctx *ctx)
{
	while (ctx->open_list.next != &ctx->open_list) {
		struct zcd_fh *fh = ctx->open_list.next;
		untrack(ctx, fh);
		fh->ops->release(ctx, fh, NULL);
	}
	pthread_mutex_destroy(&ctx->open_lock);
}
