/* park.c - see park.h. A small array searched linearly: at most -o prefetch_files entries. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "backing.h"
#include "ctx.h"
#include "fd.h"
#include "inode.h"
#include "park.h"
#include "prefetch_int.h"

struct parked {
	dev_t dev;
	ino_t ino;
	uid_t owner;
	unsigned plan_id;
	int fd;
};

struct zcd_park {
	struct zcd_ctx *ctx;
	pthread_mutex_t lock;
	struct parked *v;   /* lock */
	unsigned n, max;    /* lock; max immutable */
	_Atomic unsigned n_fast; /* n, read without the lock by every open */
};

struct zcd_park *zcd_park_new(struct zcd_ctx *ctx)
{
	struct zcd_park *pk;
	unsigned max = ctx->opts.prefetch_files;

	if (!zcd_backing_cap(ctx)->is_remote || max == 0)
		return NULL;
	pk = calloc(1, sizeof(*pk));
	if (!pk)
		return NULL;
	pk->v = calloc(max, sizeof(*pk->v));
	if (!pk->v) {
		free(pk);
		return NULL;
	}
	pk->ctx = ctx;
	pk->max = max;
	pthread_mutex_init(&pk->lock, NULL);
	return pk;
}

void zcd_park_free(struct zcd_ctx *ctx, struct zcd_park *pk)
{
	if (!pk)
		return;
	for (unsigned i = 0; i < pk->n; i++) {
		close(pk->v[i].fd);
		zcd_fds_uncharge(ctx, pk->v[i].owner, ZCD_CHARGE_FILE);
	}
	pthread_mutex_destroy(&pk->lock);
	free(pk->v);
	free(pk);
}

bool zcd_park_room(struct zcd_park *pk, unsigned reading)
{
	return atomic_load(&pk->n_fast) + reading < pk->max;
}

/* Index of (dev, ino) or -1. lock held. */
static int find_locked(struct zcd_park *pk, dev_t dev, ino_t ino)
{
	for (unsigned i = 0; i < pk->n; i++)
		if (pk->v[i].dev == dev && pk->v[i].ino == ino)
			return (int)i;
	return -1;
}

/* Remove entry i, returning its descriptor. lock held. */
static int remove_locked(struct zcd_park *pk, int i)
{
	int fd = pk->v[i].fd;

	pk->v[i] = pk->v[--pk->n];
	atomic_store(&pk->n_fast, pk->n);
	return fd;
}

int zcd_park_put(struct zcd_park *pk, unsigned plan_id, uid_t owner, dev_t dev, ino_t ino, int fd)
{
	int rc = -ENOSPC;

	pthread_mutex_lock(&pk->lock);
	if (pk->n < pk->max && find_locked(pk, dev, ino) < 0) {
		pk->v[pk->n++] = (struct parked){ dev, ino, owner, plan_id, fd };
		atomic_store(&pk->n_fast, pk->n);
		rc = 0;
	}
	pthread_mutex_unlock(&pk->lock);
	return rc;
}

int zcd_park_take(struct zcd_ctx *ctx, struct zcd_inode *in, uid_t uid, int flags)
{
	struct zcd_park *pk = ctx->prefetch ? ctx->prefetch->park : NULL;
	int i, fd = -ENOENT;
	uid_t owner = 0;

	if (!pk || !atomic_load(&pk->n_fast))
		return -ENOENT;
	/* Only what the worker's own open would have been: read-only, nothing that changes the
	 * file or how the descriptor behaves. */
	if ((flags & O_ACCMODE) != O_RDONLY ||
	    (flags & (O_TRUNC | O_APPEND | O_SYNC | O_DSYNC | O_PATH | O_DIRECT)))
		return -ENOENT;
	pthread_mutex_lock(&pk->lock);
	i = find_locked(pk, in->dev, in->ino);
	/* The owner's own permission to open it was checked by the worker's open as the owner;
	 * another user's open must make its own. */
	if (i >= 0 && pk->v[i].owner == uid) {
		owner = pk->v[i].owner;
		fd = remove_locked(pk, i);
	}
	pthread_mutex_unlock(&pk->lock);
	if (fd >= 0)
		zcd_fds_uncharge(ctx, owner, ZCD_CHARGE_FILE); /* the caller charged the open itself */
	return fd;
}

int zcd_park_reclaim(struct zcd_park *pk, dev_t dev, ino_t ino)
{
	int i, fd = -ENOENT;

	pthread_mutex_lock(&pk->lock);
	i = find_locked(pk, dev, ino);
	if (i >= 0)
		fd = remove_locked(pk, i);
	pthread_mutex_unlock(&pk->lock);
	return fd;
}

unsigned zcd_park_count(struct zcd_park *pk)
{
	return pk ? atomic_load(&pk->n_fast) : 0;
}
