/* inode.c - the inode table (see inode.h): the hash, reference counts and the parent/name chain
 * used for routing paths, and the LRU of idle O_PATH descriptors whose policy fd.c sets. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctx.h"
#include "file.h"
#include "inode_int.h"
#include "watch.h"
#include "zc/log.h"

static size_t hash_key(dev_t dev, ino_t ino, size_t nbuckets)
{
	uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)dev * 0xC2B2AE3D27D4EB4Full;
	return (size_t)(h >> 17) & (nbuckets - 1);
}

static size_t hash_handle(dev_t dev, int type, unsigned bytes, const unsigned char *data,
			  size_t nbuckets)
{
	uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)dev ^ ((uint64_t)(unsigned)type << 32);

	for (unsigned i = 0; i < bytes; i++)
		h = (h ^ data[i]) * 0x100000001b3ull;
	h ^= h >> 29;
	return (size_t)h & (nbuckets - 1);
}

static bool handle_is(const struct file_handle *fh, int type, unsigned bytes,
		      const unsigned char *data)
{
	return fh && fh->handle_type == type && fh->handle_bytes == bytes &&
	       memcmp(fh->f_handle, data, bytes) == 0;
}

/* ---- LRU of idle descriptors ---- */

void zcd_lru_unlink_locked(struct zcd_inode *in)
{
	if (!in->lru_next)
		return;
	in->lru_prev->lru_next = in->lru_next;
	in->lru_next->lru_prev = in->lru_prev;
	in->lru_prev = in->lru_next = NULL;
}

void zcd_lru_idle_locked(struct zcd_table *t, struct zcd_inode *in)
{
	if (in->fd < 0 || in->fd_users || in->fd_pinned || in->lru_next)
		return;
	in->lru_prev = t->lru.lru_prev;
	in->lru_next = &t->lru;
	t->lru.lru_prev->lru_next = in;
	t->lru.lru_prev = in;
}

int zcd_lru_trim_locked(struct zcd_table *t, unsigned keep, int *fds, int max)
{
	int n = 0;

	while (t->fds_open > keep && n < max && t->lru.lru_next != &t->lru) {
		struct zcd_inode *victim = t->lru.lru_next;
		zcd_lru_unlink_locked(victim);
		fds[n++] = victim->fd;
		victim->fd = -1;
		t->fds_open--;
	}
	return n;
}

/* ---- the table ---- */

int zcd_table_init(struct zcd_ctx *ctx)
{
	struct zcd_table *t = &ctx->tbl;

	pthread_mutex_init(&t->lock, NULL);
	t->nbuckets = 1u << 16;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	t->fh_buckets = calloc(t->nbuckets, sizeof(*t->fh_buckets));
	if (!t->buckets || !t->fh_buckets)
		return -ENOMEM;
	t->lru.lru_next = t->lru.lru_prev = &t->lru;
	t->all.all_next = t->all.all_prev = &t->all;
	t->next_gen = 1;
	return 0;
}

size_t zcd_table_count(struct zcd_ctx *ctx)
{
	size_t n;

	pthread_mutex_lock(&ctx->tbl.lock);
	n = ctx->tbl.count;
	pthread_mutex_unlock(&ctx->tbl.lock);
	return n;
}

void zcd_inode_free(struct zcd_ctx *ctx, struct zcd_inode *in)
{
	struct zcd_file *r, *w;

	/* No request uses them: the kernel has forgotten the inode (or the mount is gone). */
	pthread_mutex_lock(&ctx->tbl.lock);
	zcd_file_implicit_detach_locked(ctx, in, &r, &w);
	pthread_mutex_unlock(&ctx->tbl.lock);
	zcd_file_implicit_put(ctx, r);
	zcd_file_implicit_put(ctx, w);
	if (in->fd >= 0)
		close(in->fd);
	free(in->fh);
	free(in->name);
	free(in->xa_mode);
	free(in->xa_cache);
	free(in);
}

void zcd_table_destroy(struct zcd_ctx *ctx)
{
	struct zcd_table *t = &ctx->tbl;

	/* Every entry the kernel still referred to at unmount, superseded ones too. */
	while (t->buckets && t->all.all_next != &t->all) {
		struct zcd_inode *in = t->all.all_next;
		t->all.all_next = in->all_next;
		zcd_inode_free(ctx, in);
	}
	free(t->buckets);
	free(t->fh_buckets);
	pthread_mutex_destroy(&t->lock);
}

struct zcd_inode *zcd_inode_get(struct zcd_ctx *ctx, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &ctx->root;
	if (ino == 0) {
		zc_log(ZC_LOG_ERR, "unexpected node id 0");
		return NULL;
	}
	return (struct zcd_inode *)(uintptr_t)ino;
}

fuse_ino_t zcd_inode_nodeid(const struct zcd_ctx *ctx, const struct zcd_inode *in)
{
	return in == &ctx->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)in;
}

struct zcd_inode *zcd_tbl_find_locked(struct zcd_table *t, dev_t dev, ino_t ino)
{
	struct zcd_inode *in = t->buckets[hash_key(dev, ino, t->nbuckets)];
	while (in && (in->ino != ino || in->dev != dev))
		in = in->hnext;
	return in;
}

void zcd_tbl_insert_locked(struct zcd_ctx *ctx, struct zcd_inode *in)
{
	struct zcd_table *t = &ctx->tbl;
	size_t b = hash_key(in->dev, in->ino, t->nbuckets);

	in->gen = t->next_gen++;
	in->hnext = t->buckets[b];
	t->buckets[b] = in;
	in->hashed = true;
	t->count++;
	if (in->fh) {
		b = hash_handle(in->dev, in->fh->handle_type, in->fh->handle_bytes, in->fh->f_handle,
				t->nbuckets);
		in->fh_hnext = t->fh_buckets[b];
		t->fh_buckets[b] = in;
	}
	in->all_next = &t->all;
	in->all_prev = t->all.all_prev;
	t->all.all_prev->all_next = in;
	t->all.all_prev = in;
	zc_stats_gauge_add(ctx->stats, ZC_G_INODES, 1);
}

void zcd_tbl_unhash_locked(struct zcd_table *t, struct zcd_inode *in)
{
	struct zcd_inode **pp;

	if (!in->hashed)
		return;
	pp = &t->buckets[hash_key(in->dev, in->ino, t->nbuckets)];
	while (*pp && *pp != in)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = in->hnext;
	in->hnext = NULL;
	in->hashed = false;
	t->count--;
	if (in->fh) {
		pp = &t->fh_buckets[hash_handle(in->dev, in->fh->handle_type, in->fh->handle_bytes,
						in->fh->f_handle, t->nbuckets)];
		while (*pp && *pp != in)
			pp = &(*pp)->fh_hnext;
		if (*pp)
			*pp = in->fh_hnext;
		in->fh_hnext = NULL;
	}
}

void zcd_tbl_unref_locked(struct zcd_ctx *ctx, struct zcd_inode *in, uint64_t nlookup,
			  uint32_t pins, struct zcd_inode **dead)
{
	struct zcd_table *t = &ctx->tbl;

	while (in && in != &ctx->root) {
		struct zcd_inode *parent;

		if (nlookup > in->nlookup) {
			zc_log(ZC_LOG_ERR, "kernel forgot %llu references of an inode holding %llu",
			       (unsigned long long)nlookup, (unsigned long long)in->nlookup);
			zc_stats_event(ctx->stats, ZC_EV_NLOOKUP_UNDERFLOW);
			nlookup = in->nlookup;
		}
		in->nlookup -= nlookup;
		in->pins -= pins < in->pins ? pins : in->pins;
		if (in->nlookup || in->pins || in->opens)
			return;
		zcd_lru_unlink_locked(in);
		if (in->fd >= 0)
			t->fds_open--;
		zcd_watch_untrack_locked(ctx, in);
		zcd_tbl_unhash_locked(t, in);
		in->all_prev->all_next = in->all_next;
		in->all_next->all_prev = in->all_prev;
		parent = in->parent;
		in->parent = NULL;
		in->hnext = *dead;
		*dead = in;
		zc_stats_gauge_add(ctx->stats, ZC_G_INODES, -1);
		in = parent; /* the child's pin on its parent goes too */
		nlookup = 0;
		pins = 1;
	}
}

void zcd_tbl_free_dead(struct zcd_ctx *ctx, struct zcd_inode *dead)
{
	while (dead) {
		struct zcd_inode *next = dead->hnext;
		zcd_inode_free(ctx, dead);
		dead = next;
	}
}

struct zcd_inode *zcd_inode_find_handle(struct zcd_ctx *ctx, dev_t dev, int type, unsigned bytes,
					const unsigned char *data)
{
	struct zcd_table *t = &ctx->tbl;
	struct zcd_inode *in;

	if (dev == ctx->root.dev && handle_is(ctx->root.fh, type, bytes, data))
		return &ctx->root;
	pthread_mutex_lock(&t->lock);
	in = t->fh_buckets[hash_handle(dev, type, bytes, data, t->nbuckets)];
	while (in && (in->dev != dev || !handle_is(in->fh, type, bytes, data)))
		in = in->fh_hnext;
	if (in)
		in->pins++;
	pthread_mutex_unlock(&t->lock);
	return in;
}

struct zcd_inode *zcd_inode_find(struct zcd_ctx *ctx, dev_t dev, ino_t ino)
{
	struct zcd_inode *in;

	pthread_mutex_lock(&ctx->tbl.lock);
	in = zcd_tbl_find_locked(&ctx->tbl, dev, ino);
	if (in)
		in->pins++;
	pthread_mutex_unlock(&ctx->tbl.lock);
	return in;
}

void zcd_inode_pin(struct zcd_ctx *ctx, struct zcd_inode *in)
{
	if (in == &ctx->root)
		return;
	pthread_mutex_lock(&ctx->tbl.lock);
	in->pins++;
	pthread_mutex_unlock(&ctx->tbl.lock);
}

static void unref(struct zcd_ctx *ctx, struct zcd_inode *in, uint64_t nlookup, uint32_t pins)
{
	struct zcd_inode *dead = NULL;

	if (in == &ctx->root)
		return;
	pthread_mutex_lock(&ctx->tbl.lock);
	zcd_tbl_unref_locked(ctx, in, nlookup, pins, &dead);
	pthread_mutex_unlock(&ctx->tbl.lock);
	zcd_tbl_free_dead(ctx, dead);
}

void zcd_inode_unpin(struct zcd_ctx *ctx, struct zcd_inode *in)
{
	unref(ctx, in, 0, 1);
}

void zcd_inode_forget(struct zcd_ctx *ctx, struct zcd_inode *in, uint64_t n)
{
	unref(ctx, in, n, 0);
}

void zcd_inode_opened(struct zcd_ctx *ctx, struct zcd_inode *in)
{
	pthread_mutex_lock(&ctx->tbl.lock);
	in->opens++;
	pthread_mutex_unlock(&ctx->tbl.lock);
}

void zcd_inode_closed(struct zcd_ctx *ctx, struct zcd_inode *in)
{
	struct zcd_inode *dead = NULL;

	pthread_mutex_lock(&ctx->tbl.lock);
	if (in->opens)
		in->opens--;
	if (in != &ctx->root)
		zcd_tbl_unref_locked(ctx, in, 0, 0, &dead);
	pthread_mutex_unlock(&ctx->tbl.lock);
	zcd_tbl_free_dead(ctx, dead);
}

void zcd_inode_set_name(struct zcd_ctx *ctx, struct zcd_inode *in, struct zcd_inode *parent,
			const char *name)
{
	struct zcd_table *t = &ctx->tbl;
	struct zcd_inode *dead = NULL, *old_parent;
	char *dup;

	if (in == &ctx->root)
		return;
	pthread_mutex_lock(&t->lock);
	if (in->parent == parent && in->name && strcmp(in->name, name) == 0) {
		pthread_mutex_unlock(&t->lock);
		return;
	}
	pthread_mutex_unlock(&t->lock);
	dup = strdup(name);
	if (!dup)
		return; /* keep the old name: paths are advisory (routing), not identity */
	pthread_mutex_lock(&t->lock);
	old_parent = in->parent;
	if (parent != &ctx->root)
		parent->pins++;
	in->parent = parent;
	free(in->name);
	in->name = dup;
	if (old_parent && old_parent != &ctx->root)
		zcd_tbl_unref_locked(ctx, old_parent, 0, 1, &dead);
	pthread_mutex_unlock(&t->lock);
	zcd_tbl_free_dead(ctx, dead);
}

struct zcd_inode *zcd_inode_parent(struct zcd_ctx *ctx, struct zcd_inode *in, char *name, size_t len)
{
	struct zcd_inode *dir = NULL;

	pthread_mutex_lock(&ctx->tbl.lock);
	if (in->parent && in->name && strlen(in->name) < len) {
		dir = in->parent;
		if (dir != &ctx->root)
			dir->pins++;
		strcpy(name, in->name);
	}
	pthread_mutex_unlock(&ctx->tbl.lock);
	return dir;
}

int zcd_inode_path(struct zcd_ctx *ctx, struct zcd_inode *in, char *buf, size_t len)
{
	const char *parts[512];
	int n = 0, rc = 0;
	size_t pos = 0;

	if (len < 2)
		return -ENAMETOOLONG;
	pthread_mutex_lock(&ctx->tbl.lock);
	for (struct zcd_inode *p = in; p && p != &ctx->root; p = p->parent) {
		if (n == 512 || !p->name) {
			rc = -ENAMETOOLONG;
			goto out_unlock;
		}
		parts[n++] = p->name;
	}
	if (n == 0) {
		strcpy(buf, ".");
		goto out_unlock;
	}
	for (int i = n - 1; i >= 0; i--) {
		size_t l = strlen(parts[i]);
		if (pos + l + 2 > len) {
			rc = -ENAMETOOLONG;
			goto out_unlock;
		}
		memcpy(buf + pos, parts[i], l);
		pos += l;
		buf[pos++] = i ? '/' : '\0';
	}
out_unlock:
	pthread_mutex_unlock(&ctx->tbl.lock);
	return rc;
}
