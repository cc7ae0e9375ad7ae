/* notify.c - see notify.h: a queue of pinned inodes (and names) and one thread sending
 * fuse_lowlevel_notify_inval_inode / _inval_entry for each. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "notify.h"
#include "zc/log.h"

enum kind { K_DATA, K_ATTR, K_ENTRY };

struct item {
	struct item *next;
	enum kind kind;
	struct zcd_inode *in; /* pinned */
	char name[];          /* K_ENTRY */
};

struct zcd_notifier {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct item *head, **tail; /* lock */
	bool stop;                 /* lock */
};

static void send_item(struct zcd_ctx *ctx, struct item *it)
{
	fuse_ino_t ino = zcd_inode_nodeid(ctx, it->in);

	/* -ENOENT: the kernel has forgotten the inode or the name: nothing cached. */
	switch (it->kind) {
	case K_DATA:
		pthread_mutex_lock(&ctx->tbl.lock);
		it->in->inval_queued = false;
		it->in->attr_queued = false;
		pthread_mutex_unlock(&ctx->tbl.lock);
		fuse_lowlevel_notify_inval_inode(ctx->se, ino, 0, 0);
		zc_stats_event(ctx->stats, ZC_EV_INVAL_DATA);
		break;
	case K_ATTR:
		pthread_mutex_lock(&ctx->tbl.lock);
		it->in->attr_queued = false;
		pthread_mutex_unlock(&ctx->tbl.lock);
		fuse_lowlevel_notify_inval_inode(ctx->se, ino, -1, 0);
		zc_stats_event(ctx->stats, ZC_EV_INVAL_ATTR);
		break;
	case K_ENTRY:
		fuse_lowlevel_notify_inval_entry(ctx->se, ino, it->name, strlen(it->name));
		zc_stats_event(ctx->stats, ZC_EV_INVAL_ENTRY);
		break;
	}
}

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
		send_item(ctx, it);
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

static void enqueue(struct zcd_notifier *n, struct item *it)
{
	it->next = NULL;
	pthread_mutex_lock(&n->lock);
	*n->tail = it;
	n->tail = &it->next;
	pthread_cond_signal(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

/* Queue an inode invalidation of kind unless one that covers it is queued already. */
static void queue_inode(struct zcd_ctx *ctx, struct zcd_inode *in, enum kind kind)
{
	struct zcd_notifier *n = ctx->notifier;
	struct item *it;
	bool queued;

	if (!n)
		return;
	it = malloc(sizeof(*it));
	pthread_mutex_lock(&ctx->tbl.lock);
	if (!it) {
		/* Forget the stamp instead: the next open then drops the pages. */
		in->stamp_valid = false;
		pthread_mutex_unlock(&ctx->tbl.lock);
		return;
	}
	queued = in->inval_queued || (kind == K_ATTR && in->attr_queued);
	if (!queued) {
		if (kind == K_DATA)
			in->inval_queued = true;
		else
			in->attr_queued = true;
		if (in != &ctx->root)
			in->pins++;
	}
	pthread_mutex_unlock(&ctx->tbl.lock);
	if (queued) {
		free(it);
		return;
	}
	it->kind = kind;
	it->in = in;
	enqueue(n, it);
}

void zcd_notify_inval(struct zcd_ctx *ctx, struct zcd_inode *in)
{
	queue_inode(ctx, in, K_DATA);
}

void zcd_notify_inval_attr(struct zcd_ctx *ctx, struct zcd_inode *in)
{
	queue_inode(ctx, in, K_ATTR);
}

void zcd_notify_inval_entry(struct zcd_ctx *ctx, struct zcd_inode *dir, const char *name)
{
	struct zcd_notifier *n = ctx->notifier;
	size_t len = strlen(name);
	struct item *it;

	if (!n || len > 255)
		return;
	it = malloc(sizeof(*it) + len + 1);
	if (!it)
		return; /* the entry then lives to its timeout: logged by the caller's counters */
	memcpy(it->name, name, len + 1);
	it->kind = K_ENTRY;
	it->in = dir;
	zcd_inode_pin(ctx, dir);
	enqueue(n, it);
}

void zcd_notify_inval_all(struct zcd_ctx *ctx)
{
	struct zcd_inode **all = NULL, **names = NULL;
	char **namev = NULL;
	size_t n = 0, nn = 0, cap;

	/* Collect pinned references under the lock, queue them after. */
	pthread_mutex_lock(&ctx->tbl.lock);
	cap = ctx->tbl.count + 1;
	all = calloc(cap, sizeof(*all));
	names = calloc(cap, sizeof(*names));
	namev = calloc(cap, sizeof(*namev));
	if (all && names && namev) {
		for (struct zcd_inode *in = ctx->tbl.all.all_next; in != &ctx->tbl.all && n < cap;
		     in = in->all_next) {
			in->pins++;
			all[n++] = in;
			if (in->parent && in->name && nn < cap && (namev[nn] = strdup(in->name))) {
				names[nn] = in->parent;
				if (in->parent != &ctx->root)
					in->parent->pins++;
				nn++;
			}
		}
	}
	pthread_mutex_unlock(&ctx->tbl.lock);
	zcd_notify_inval(ctx, &ctx->root);
	for (size_t i = 0; i < nn; i++) {
		zcd_notify_inval_entry(ctx, names[i], namev[i]);
		zcd_inode_unpin(ctx, names[i]);
		free(namev[i]);
	}
	for (size_t i = 0; i < n; i++) {
		zcd_notify_inval(ctx, all[i]);
		zcd_inode_unpin(ctx, all[i]);
	}
	free(all);
	free(names);
	free(namev);
}
