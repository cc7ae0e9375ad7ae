/* lookup.c - see lookup.h. A hit on an entry whose descriptor is open is the same object (the
 * descriptor keeps the backing inode, and so its number, alive); an entry whose descriptor was
 * closed is compared by file handle, and a mismatch (the number was reused) takes the old entry
 * out of the hash: it lives on, unreachable by key, until the kernel forgets it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "ctx.h"
#include "fd.h"
#include "inode_int.h"
#include "lookup.h"
#include "watch.h"
#include "zc/log.h"

#define HANDLE_MAX_BYTES 128

/* The kernel file handle of fd's object, or NULL where there is none (filesystem without
 * handles, or a daemon without CAP_DAC_READ_SEARCH). */
static struct file_handle *handle_of(struct zcd_ctx *ctx, int fd, int *mount_id)
{
	struct file_handle *fh;

	if (!ctx->fds.handles_ok)
		return NULL;
	fh = malloc(sizeof(*fh) + HANDLE_MAX_BYTES);
	if (!fh)
		return NULL;
	fh->handle_bytes = HANDLE_MAX_BYTES;
	if (name_to_handle_at(fd, "", fh, mount_id, AT_EMPTY_PATH) < 0) {
		free(fh);
		return NULL;
	}
	return fh;
}

static bool handle_equal(const struct file_handle *a, const struct file_handle *b)
{
	return a->handle_type == b->handle_type && a->handle_bytes == b->handle_bytes &&
	       memcmp(a->f_handle, b->f_handle, a->handle_bytes) == 0;
}

/* Is entry in the object with stat st and handle fh (NULL: unknown)? tbl->lock held. */
static bool same_object_locked(const struct zcd_inode *in, const struct stat *st,
			       const struct file_handle *fh)
{
	if (in->type != (st->st_mode & S_IFMT))
		return false;
	if (in->fh && fh)
		return handle_equal(in->fh, fh);
	return in->fd >= 0; /* an open descriptor keeps the number from being reused */
}

/* A new entry for the object behind fd (O_PATH, ownership taken) with handle fh (taken). */
static struct zcd_inode *inode_new(struct zcd_ctx *ctx, int fd, const struct stat *st,
				   struct file_handle *fh, int mount_id)
{
	struct zcd_inode *in = calloc(1, sizeof(*in));

	if (!in) {
		close(fd);
		free(fh);
		return NULL;
	}
	in->dev = st->st_dev;
	in->ino = st->st_ino;
	in->type = st->st_mode & S_IFMT;
	in->fd = fd;
	in->mount_idx = -1;
	if (fh) {
		/* A directory may anchor a mount not seen before; other objects need a known one. */
		in->mount_idx = zcd_fds_mount_idx(ctx, mount_id, S_ISDIR(st->st_mode) ? fd : -1);
		if (in->mount_idx >= 0)
			in->fh = fh;
		else
			free(fh);
	}
	in->fd_pinned = in->fh == NULL;
	return in;
}

static void note_reuse_locked(struct zcd_ctx *ctx, struct zcd_inode *old)
{
	zcd_tbl_unhash_locked(&ctx->tbl, old);
	zc_stats_event(ctx->stats, ZC_EV_INODE_REUSED);
}

/* Take a kernel reference on the object behind fd (O_PATH; ownership taken), whose stat is st,
 * known as name in parent. Returns the entry or NULL (-ENOMEM). */
static struct zcd_inode *ref_by_fd(struct zcd_ctx *ctx, struct zcd_inode *parent,
				   const char *name, int fd, const struct stat *st)
{
	struct zcd_table *t = &ctx->tbl;
	struct zcd_inode *in, *fresh;
	struct file_handle *fh;
	int mount_id = -1, spare;
	char *dup;

	fh = handle_of(ctx, fd, &mount_id);
	pthread_mutex_lock(&t->lock);
	in = zcd_tbl_find_locked(t, st->st_dev, st->st_ino);
	if (in && same_object_locked(in, st, fh)) {
		spare = zcd_fd_adopt_locked(ctx, in, fd); /* saves a reopen by handle later */
		in->nlookup++;
		pthread_mutex_unlock(&t->lock);
		if (spare >= 0)
			close(spare);
		free(fh);
		zcd_fd_trim(ctx);
		return in;
	}
	pthread_mutex_unlock(&t->lock);

	dup = strdup(name);
	fresh = inode_new(ctx, fd, st, fh, mount_id);
	if (!fresh || !dup) {
		free(dup);
		if (fresh)
			zcd_inode_free(ctx, fresh);
		return NULL;
	}
	pthread_mutex_lock(&t->lock);
	in = zcd_tbl_find_locked(t, st->st_dev, st->st_ino);
	if (in && same_object_locked(in, st, fresh->fh)) {
		in->nlookup++; /* a racing lookup inserted it first */
		pthread_mutex_unlock(&t->lock);
		free(dup);
		zcd_inode_free(ctx, fresh);
		return in;
	}
	if (in)
		note_reuse_locked(ctx, in);
	fresh->nlookup = 1;
	fresh->parent = parent;
	fresh->name = dup;
	if (parent != &ctx->root)
		parent->pins++;
	zcd_tbl_insert_locked(ctx, fresh);
	t->fds_open++;
	fresh->fd_users++; /* held for the watch below, then idle */
	pthread_mutex_unlock(&t->lock);
	zcd_watch_track(ctx, fresh, fd);
	pthread_mutex_lock(&t->lock);
	fresh->fd_users--;
	zcd_lru_idle_locked(t, fresh);
	pthread_mutex_unlock(&t->lock);
	zcd_fd_trim(ctx);
	return fresh;
}

/* The fast path: a hashed entry with an open descriptor and the same type is the object
 * st describes. Takes a reference; NULL when the slow path is needed. */
static struct zcd_inode *ref_if_held(struct zcd_ctx *ctx, const struct stat *st)
{
	struct zcd_inode *in;

	pthread_mutex_lock(&ctx->tbl.lock);
	in = zcd_tbl_find_locked(&ctx->tbl, st->st_dev, st->st_ino);
	if (in && in->fd >= 0 && in->type == (st->st_mode & S_IFMT))
		in->nlookup++;
	else
		in = NULL;
	pthread_mutex_unlock(&ctx->tbl.lock);
	return in;
}

static int open_path(struct zcd_ctx *ctx, int dirfd, const char *name, int flags)
{
	for (int tries = 0;; tries++) {
		int fd = openat(dirfd, name, O_PATH | O_CLOEXEC | flags);
		if (fd >= 0)
			return fd;
		fd = -errno;
		if (tries || !zcd_fds_relieve(ctx, fd))
			return fd;
	}
}

/* Reference the object opath (O_PATH; taken) is, record name and fill e. */
static int finish_lookup(struct zcd_ctx *ctx, struct zcd_inode *parent, const char *name,
			 int opath, struct fuse_entry_param *e)
{
	struct zcd_inode *in;
	struct stat st;
	uint64_t seq = zcd_cache_seq(ctx);

	if (fstat(opath, &st) < 0) {
		int rc = -errno;
		close(opath);
		return rc;
	}
	in = ref_by_fd(ctx, parent, name, opath, &st);
	if (!in)
		return -ENOMEM;
	zcd_inode_set_name(ctx, in, parent, name);
	zcd_cache_observe(ctx, in, &st, seq);
	zcd_fill_entry(ctx, e, &st, parent, in);
	return 0;
}

int zcd_lookup_name(struct zcd_ctx *ctx, struct zcd_inode *parent, const char *name,
		    ino_t ino_hint, struct fuse_entry_param *e)
{
	struct zcd_inode *in = NULL;
	struct stat st;
	bool known = true;
	uint64_t seq;
	int pfd, fd, rc = 0;

	if (strlen(name) > 255)
		return -ENAMETOOLONG;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EPERM; /* never resolve upwards: ".." of the root is outside BACKING */
	pfd = zcd_fd_get(ctx, parent);
	if (pfd < 0)
		return pfd;
	if (ino_hint) {
		/* A listing's d_ino: if no entry has it, the name is (almost certainly) new and the
		 * open-then-fstat below is the only stat needed. */
		pthread_mutex_lock(&ctx->tbl.lock);
		known = zcd_tbl_find_locked(&ctx->tbl, parent->dev, ino_hint) != NULL;
		pthread_mutex_unlock(&ctx->tbl.lock);
	}
	if (known) {
		seq = zcd_cache_seq(ctx);
		if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = -errno;
			goto out_put;
		}
		in = ref_if_held(ctx, &st);
	}
	if (in) {
		zcd_inode_set_name(ctx, in, parent, name);
		zcd_cache_observe(ctx, in, &st, seq);
		zcd_fill_entry(ctx, e, &st, parent, in);
		goto out_put;
	}
	fd = open_path(ctx, pfd, name, O_NOFOLLOW);
	rc = fd < 0 ? fd : finish_lookup(ctx, parent, name, fd, e);
out_put:
	zcd_fd_put(ctx, parent);
	return rc;
}

int zcd_lookup_fd(struct zcd_ctx *ctx, struct zcd_inode *parent, const char *name, int fd,
		  struct fuse_entry_param *e)
{
	char proc[64];
	int opath;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	opath = open_path(ctx, AT_FDCWD, proc, 0); /* follows the magic link to fd's object */
	if (opath < 0)
		return opath;
	return finish_lookup(ctx, parent, name, opath, e);
}

struct zcd_inode *zcd_inode_find_fd(struct zcd_ctx *ctx, int fd, const struct stat *st)
{
	struct zcd_inode *in = zcd_inode_find(ctx, st->st_dev, st->st_ino);
	struct file_handle *fh;
	int mount_id;
	bool same;

	if (!in)
		return NULL;
	fh = handle_of(ctx, fd, &mount_id);
	pthread_mutex_lock(&ctx->tbl.lock);
	same = same_object_locked(in, st, fh);
	pthread_mutex_unlock(&ctx->tbl.lock);
	free(fh);
	if (same)
		return in;
	zcd_inode_unpin(ctx, in);
	return NULL;
}

ino_t zcd_ino_out(const struct zcd_ctx *ctx, dev_t dev, ino_t ino)
{
	if (dev == ctx->root.dev)
		return ino;
	/* Another filesystem mounted below BACKING: through FUSE every file shows the mount's one
	 * st_dev, so its inode numbers could collide with BACKING's own (find's loop check and
	 * hard-link detection compare st_dev and st_ino). Hash (dev, ino) into the upper half. */
	uint64_t h = (uint64_t)dev * 0x9E3779B97F4A7C15ull ^ (uint64_t)ino;
	h ^= h >> 31;
	h *= 0xBF58476D1CE4E5B9ull;
	h ^= h >> 29;
	return (ino_t)(h | 1ull << 63);
}

void zcd_fill_entry(struct zcd_ctx *ctx, struct fuse_entry_param *e, const struct stat *st,
		    struct zcd_inode *parent, struct zcd_inode *in)
{
	memset(e, 0, sizeof(*e));
	e->ino = zcd_inode_nodeid(ctx, in);
	e->generation = in->gen;
	e->attr = *st;
	e->attr.st_ino = zcd_ino_out(ctx, st->st_dev, st->st_ino);
	zcd_watch_timeouts(ctx, parent, in, &e->entry_timeout, &e->attr_timeout);
}
