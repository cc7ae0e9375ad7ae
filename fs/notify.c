/* notify.c - see notify.h: a queue of pinned inodes and one thread sending
 * fuse_lowlevel_notify_inval_inode for each. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "ctx.h"
#include "notify.h"
#include "zc/log.h"

struct item {
	struct item *next;
	struct zcd_inode *in; /* pinned */
};

struct zcd_notifier {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct item *head, **tail; /* lock */
	bool stop;                 /* lock */
};

static void *run(void *arg)
{
	struct zcd_ctx *ctx = arg;
	struct zcd_notifier *n = ctx->notifier;

	pthread_mutex_lock(&n->lock);
	for (;;) {
		struct item *it;
		while (!n->head && !n->stop)
			pthread_cond_wait(&n->cond, &n->lock);
		if (n->stop)
			break;
		it = n->head;
		n->head = it->next;
		if (!n->head)
			n->tail = &n->head;
		pthread_mutex_unlock(&n->lock);

		pthread_mutex_lock(&ctx->tbl.lock);
		it->in->inval_queued = false;
		pthread_mutex_unlock(&ctx->tbl.lock);
		/* -ENOENT: the kernel has forgotten the inode, nothing cached. */
		fuse_lowlevel_notify_inval_inode(ctx->se, zcd_inode_nodeid(ctx, it->in), 0, 0);
		zcd_inode_unpin(ctx, it->in);
		free(it);
		pthread_mutex_lock(&n->lock);
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

int zcd_notify_start(struct zcd_ctx *ctx)
{
	struct zcd_notifier *n = calloc(1, sizeof(*n));
	int rc;

	if (!n)
		return -ENOMEM;
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->cond, NULL);
	n->tail = &n->head;
	ctx->notifier = n;
	rc = pthread_create(&n->thread, NULL, run, ctx);
	if (rc) {
		ctx->notifier = NULL;
		free(n);
		return -rc;
	}
	return 0;
}

void zcd_notify_stop(struct zcd_ctx *ctx)
{
	struct zcd_notifier *n = ctx->notifier;

	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	n->stop = true;
	pthread_cond_signal(&n->cond);
	pthread_mutex_unlock(&n->lock);
	pthread_join(n->thread, NULL);
	ctx->notifier = NULL;
	while (n->head) {
		struct item *it = n->head;
		n->head = it->next;
		zcd_inode_unpin(ctx, it->in);
		free(it);
	}
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

void zcd_notify_inval(struct zcd_ctx *ctx, struct zcd_inode *in)
{
	struct zcd_notifier *n = ctx->notifier;
	struct item *it;

	if (!n)
		return;
	it = malloc(sizeof(*it));
	if (!it) {
		/* Forget the stamp instead: the next open then drops the pages. */
		pthread_mutex_lock(&ctx->tbl.lock);
		in->stamp_valid = false;
		pthread_mutex_unlock(&ctx->tbl.lock);
		return;
	}
	zcd_inode_pin(ctx, in);
	pthread_mutex_lock(&ctx->tbl.lock);
	in->inval_queued = true;
	pthread_mutex_unlock(&ctx->tbl.lock);
	it->in = in;
	it->next = NULL;
	pthread_mutex_lock(&n->lock);
	*n->tail = it;
	n->tail = &it->next;
	pthread_cond_signal(&n->cond);
	pthread_mutex_unlock(&n->lock);
}
