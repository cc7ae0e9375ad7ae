/* inode.c - the inode table: entries keyed by (st_dev, st_ino), each holding a kernel file handle
 * (name_to_handle_at) and an O_PATH descriptor that is opened on demand and closed when idle (an
 * LRU bounded by a share of RLIMIT_NOFILE), so the dataset size is not capped by descriptors.
 * Filesystems without file handles (or a daemon without CAP_DAC_READ_SEARCH) pin descriptors. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "zc/log.h"
#include "zcfs.h"

#define HANDLE_MAX_BYTES 128

static size_t hash_key(dev_t dev, ino_t ino, size_t nbuckets)
{
	uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)dev * 0xC2B2AE3D27D4EB4Full;
	return (size_t)(h >> 17) & (nbuckets - 1);
}

/* ---- LRU of idle descriptors; all under tbl->lock ---- */

static void lru_unlink(struct zcd_inode *in)
{
	if (!in->lru_next)
		return;
	in->lru_prev->lru_next = in->lru_next;
	in->lru_next->lru_prev = in->lru_prev;
	in->lru_prev = in->lru_next = NULL;
}

static void lru_append(struct zcd_table *t, struct zcd_inode *in)
{
	in->lru_prev = t->lru.lru_prev;
	in->lru_next = &t->lru;
	t->lru.lru_prev->lru_next = in;
	t->lru.lru_prev = in;
}

/* Close idle descriptors beyond the cap; returns them in fds[] to close outside the lock. */
static int lru_trim(struct zcd_table *t, int *fds, int max)
{
	int n = 0;
	while (t->fds_open > t->fds_max && n < max && t->lru.lru_next != &t->lru) {
		struct zcd_inode *victim = t->lru.lru_next;
		lru_unlink(victim);
		fds[n++] = victim->fd;
		victim->fd = -1;
		t->fds_open--;
	}
	return n;
}

static bool fd_is_idle(const struct zcd_inode *in)
{
	return in->fd >= 0 && in->fd_users == 0 && in->opens == 0 && !in->fd_pinned;
}

/* ---- the table ---- */

int zcd_table_init(struct zcd_ctx *ctx)
{
	struct zcd_table *t = &ctx->tbl;
	struct rlimit rl;

	pthread_mutex_init(&t->lock, NULL);
	t->nbuckets = 1u << 16;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets)
		return -ENOMEM;
	t->lru.lru_next = t->lru.lru_prev = &t->lru;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		t->fds_max = (unsigned)(rl.rlim_cur / 2);
	else
		t->fds_max = 8192;
	if (ctx->opts.fd_cache)
		t->fds_max = ctx->opts.fd_cache;
	if (t->fds_max < 16)
		t->fds_max = 16;
	return 0;
}

static void inode_free(struct zcd_inode *in)
{
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

	for (size_t i = 0; t->buckets && i < t->nbuckets; i++) {
		struct zcd_inode *in = t->buckets[i];
		while (in) {
			struct zcd_inode *next = in->hnext;
			inode_free(in);
			in = next;
		}
	}
	free(t->buckets);
	for (int i = 0; i < t->nmounts; i++)
		close(t->mounts[i].fd);
	pthread_mutex_destroy(&t->lock);
}

struct zcd_inode *zcd_inode_get(struct zcd_ctx *ctx, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &ctx->root;
	if (ino == 0 || zcd_ctl_is_virtual(ctx, ino)) {
		zc_log(ZC_LOG_ERR, "unexpected inode %#llx", (unsigned long long)ino);
		return NULL;
	}
	return (struct zcd_inode *)(uintptr_t)ino;
}

static struct zcd_inode *table_find(struct zcd_table *t, dev_t dev, ino_t ino)
{
	struct zcd_inode *in = t->buckets[hash_key(dev, ino, t->nbuckets)];
	while (in && (in->ino != ino || in->dev != dev))
		in = in->hnext;
	return in;
}

static void table_remove(struct zcd_table *t, struct zcd_inode *in)
{
	struct zcd_inode **pp = &t->buckets[hash_key(in->dev, in->ino, t->nbuckets)];
	while (*pp && *pp != in)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = in->hnext;
	t->count--;
}

/* Drop references under tbl->lock; inodes that reach zero go onto *dead (linked by hnext) to be
 * freed after the lock is dropped. Walks up the parent chain iteratively. */
static void unref_locked(struct zcd_ctx *ctx, struct zcd_inode *in, uint64_t nlookup,
			 uint32_t pins, struct zcd_inode **dead)
{
	struct zcd_table *t = &ctx->tbl;

	while (in && in != &ctx->root) {
		struct zcd_inode *parent;

		in->nlookup -= nlookup < in->nlookup ? nlookup : in->nlookup;
		in->pins -= pins < in->pins ? pins : in->pins;
		if (in->nlookup || in->pins || in->opens)
			return;
		lru_unlink(in);
		if (in->fd >= 0)
			t->fds_open--;
		table_remove(t, in);
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

static void free_dead(struct zcd_inode *dead)
{
	while (dead) {
		struct zcd_inode *next = dead->hnext;
		inode_free(dead);
		dead = next;
	}
}

struct zcd_inode *zcd_inode_find(struct zcd_ctx *ctx, dev_t dev, ino_t ino)
{
	struct zcd_inode *in;

	pthread_mutex_lock(&ctx->tbl.lock);
	in = table_find(&ctx->tbl, dev, ino);
	if (in)
		in->pins++;
	pthread_mutex_unlock(&ctx->tbl.lock);
	return in;
}

void zcd_inode_unpin(struct zcd_ctx *ctx, struct zcd_inode *in)
{
	struct zcd_inode *dead = NULL;

	pthread_mutex_lock(&ctx->tbl.lock);
	unref_locked(ctx, in, 0, 1, &dead);
	pthread_mutex_unlock(&ctx->tbl.lock);
	free_dead(dead);
}

void zcd_forget_one(struct zcd_ctx *ctx, struct zcd_inode *in, uint64_t n)
{
	struct zcd_inode *dead = NULL;

	pthread_mutex_lock(&ctx->tbl.lock);
	unref_locked(ctx, in, n, 0, &dead);
	pthread_mutex_unlock(&ctx->tbl.lock);
	free_dead(dead);
}

/* ---- descriptors ---- */

static int mount_fd_locked(struct zcd_table *t, int mount_id)
{
	for (int i = 0; i < t->nmounts; i++)
		if (t->mounts[i].mount_id == mount_id)
			return i;
	return -1;
}

static int reopen_by_handle(struct zcd_ctx *ctx, struct zcd_inode *in)
{
	int mfd;

	pthread_mutex_lock(&ctx->tbl.lock);
	mfd = ctx->tbl.mounts[in->mount_idx].fd;
	pthread_mutex_unlock(&ctx->tbl.lock);
	int fd = open_by_handle_at(mfd, in->fh, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ESTALE ? -ESTALE : -errno;
	return fd;
}

int zcd_fd_get(struct zcd_ctx *ctx, struct zcd_inode *in)
{
	struct zcd_table *t = &ctx->tbl;
	int fd, spare;

	if (in == &ctx->root)
		return ctx->root.fd;
	pthread_mutex_lock(&t->lock);
	if (in->fd >= 0) {
		lru_unlink(in);
		in->fd_users++;
		fd = in->fd;
		pthread_mutex_unlock(&t->lock);
		return fd;
	}
	pthread_mutex_unlock(&t->lock);

	if (!in->fh)
		return -ESTALE; /* a pinned descriptor was never closed: cannot happen */
	fd = reopen_by_handle(ctx, in);
	if (fd < 0)
		return fd;

	int victims[8], nv;
	pthread_mutex_lock(&t->lock);
	spare = -1;
	if (in->fd >= 0) {
		spare = fd; /* another thread won the race */
		lru_unlink(in);
	} else {
		in->fd = fd;
		t->fds_open++;
	}
	in->fd_users++;
	fd = in->fd;
	nv = lru_trim(t, victims, 8);
	pthread_mutex_unlock(&t->lock);
	if (spare >= 0)
		close(spare);
	for (int i = 0; i < nv; i++)
		close(victims[i]);
	return fd;
}

void zcd_fd_put(struct zcd_ctx *ctx, struct zcd_inode *in)
{
	struct zcd_table *t = &ctx->tbl;
	int victims[8], nv;

	if (in == &ctx->root)
		return;
	pthread_mutex_lock(&t->lock);
	if (in->fd_users)
		in->fd_users--;
	if (fd_is_idle(in))
		lru_append(t, in);
	nv = lru_trim(t, victims, 8);
	pthread_mutex_unlock(&t->lock);
	for (int i = 0; i < nv; i++)
		close(victims[i]);
}

void zcd_inode_opened(struct zcd_ctx *ctx, struct zcd_inode *in)
{
	pthread_mutex_lock(&ctx->tbl.lock);
	in->opens++;
	lru_unlink(in);
	pthread_mutex_unlock(&ctx->tbl.lock);
}

void zcd_inode_closed(struct zcd_ctx *ctx, struct zcd_inode *in)
{
	struct zcd_inode *dead = NULL;

	pthread_mutex_lock(&ctx->tbl.lock);
	if (in->opens)
		in->opens--;
	if (in != &ctx->root && fd_is_idle(in))
		lru_append(&ctx->tbl, in);
	unref_locked(ctx, in, 0, 0, &dead);
	pthread_mutex_unlock(&ctx->tbl.lock);
	free_dead(dead);
}

int zcd_inode_open(struct zcd_ctx *ctx, struct zcd_inode *in, int flags)
{
	char path[64];
	int pfd, fd;

	pfd = zcd_fd_get(ctx, in);
	if (pfd < 0)
		return pfd;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", pfd);
	fd = open(path, (flags | O_CLOEXEC) & ~O_NOFOLLOW);
	if (fd < 0)
		fd = -errno;
	zcd_fd_put(ctx, in);
	return fd;
}

/* ---- lookup ---- */

/* Build a new entry for the object behind fd (an O_PATH descriptor; ownership taken). */
static struct zcd_inode *inode_new(struct zcd_ctx *ctx, int fd, const struct stat *st, int *err)
{
	struct zcd_inode *in = calloc(1, sizeof(*in));
	int mount_id = -1;

	*err = -ENOMEM;
	if (!in)
		goto out_close;
	in->dev = st->st_dev;
	in->ino = st->st_ino;
	in->type = st->st_mode & S_IFMT;
	in->fd = fd;
	in->mount_idx = -1;
	if (ctx->tbl.handles_ok) {
		in->fh = malloc(sizeof(*in->fh) + HANDLE_MAX_BYTES);
		if (!in->fh)
			goto out_free;
		in->fh->handle_bytes = HANDLE_MAX_BYTES;
		if (name_to_handle_at(fd, "", in->fh, &mount_id, AT_EMPTY_PATH) < 0) {
			free(in->fh);
			in->fh = NULL;
		}
	}
	if (in->fh) {
		struct zcd_table *t = &ctx->tbl;
		pthread_mutex_lock(&t->lock);
		in->mount_idx = mount_fd_locked(t, mount_id);
		pthread_mutex_unlock(&t->lock);
		if (in->mount_idx < 0 && S_ISDIR(st->st_mode)) {
			/* First object seen on this mount: its directory anchors the handles. */
			char path[64];
			snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
			int mfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			pthread_mutex_lock(&t->lock);
			in->mount_idx = mount_fd_locked(t, mount_id);
			if (in->mount_idx < 0 && mfd >= 0 && t->nmounts < ZCD_MAX_MOUNTS) {
				t->mounts[t->nmounts].mount_id = mount_id;
				t->mounts[t->nmounts].fd = mfd;
				in->mount_idx = t->nmounts++;
				mfd = -1;
			}
			pthread_mutex_unlock(&t->lock);
			if (mfd >= 0)
				close(mfd);
		}
		if (in->mount_idx < 0) {
			free(in->fh);
			in->fh = NULL;
		}
	}
	in->fd_pinned = in->fh == NULL;
	*err = 0;
	return in;

out_free:
	free(in);
out_close:
	close(fd);
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

int zcd_fill_entry(struct zcd_ctx *ctx, struct fuse_entry_param *e, const struct stat *st,
		   struct zcd_inode *in)
{
	memset(e, 0, sizeof(*e));
	e->ino = (fuse_ino_t)(uintptr_t)in;
	e->generation = 0;
	e->attr = *st;
	e->attr.st_ino = zcd_ino_out(ctx, st->st_dev, st->st_ino);
	e->attr_timeout = ctx->opts.attr_timeout;
	e->entry_timeout = ctx->opts.entry_timeout;
	return 0;
}

/* Take a kernel reference on the inode for pfd/name, creating it when new. With have_st, *st
 * is a fresh stat of the name and a known inode costs nothing more; without, the name is opened
 * first (O_PATH) and *st filled from what was opened. Returns the inode or NULL (*err). */
static struct zcd_inode *ref_or_insert(struct zcd_ctx *ctx, struct zcd_inode *parent,
				       const char *name, int pfd, struct stat *st, bool have_st,
				       int *err)
{
	struct zcd_table *t = &ctx->tbl;
	struct zcd_inode *in, *fresh;
	struct stat st2;
	int fd;

	if (have_st) {
		pthread_mutex_lock(&t->lock);
		in = table_find(t, st->st_dev, st->st_ino);
		if (in) {
			in->nlookup++;
			pthread_mutex_unlock(&t->lock);
			return in;
		}
		pthread_mutex_unlock(&t->lock);
	}

	/* New to us: open it race-free and stat what we opened. */
	fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		*err = -errno;
		return NULL;
	}
	if (fstat(fd, &st2) < 0) {
		*err = -errno;
		close(fd);
		return NULL;
	}
	*st = st2;
	fresh = inode_new(ctx, fd, st, err);
	if (!fresh)
		return NULL;

	int victims[8], nv;
	pthread_mutex_lock(&t->lock);
	in = table_find(t, st->st_dev, st->st_ino);
	if (in) {
		in->nlookup++;
		pthread_mutex_unlock(&t->lock);
		inode_free(fresh); /* known after all: a race with another lookup, or a missed hint */
		return in;
	}
	in = fresh;
	in->nlookup = 1;
	in->parent = parent;
	in->name = strdup(name);
	if (parent != &ctx->root)
		parent->pins++;
	size_t b = hash_key(in->dev, in->ino, t->nbuckets);
	in->hnext = t->buckets[b];
	t->buckets[b] = in;
	t->count++;
	t->fds_open++;
	if (fd_is_idle(in))
		lru_append(t, in);
	nv = lru_trim(t, victims, 8);
	pthread_mutex_unlock(&t->lock);
	for (int i = 0; i < nv; i++)
		close(victims[i]);
	zc_stats_gauge_add(ctx->stats, ZC_G_INODES, 1);
	return in;
}

int zcd_do_lookup(struct zcd_ctx *ctx, struct zcd_inode *parent, const char *name,
		  struct fuse_entry_param *e)
{
	return zcd_do_lookup_hint(ctx, parent, name, 0, e);
}

int zcd_do_lookup_hint(struct zcd_ctx *ctx, struct zcd_inode *parent, const char *name,
		       ino_t ino_hint, struct fuse_entry_param *e)
{
	struct zcd_inode *in;
	struct stat st;
	bool have_st = true;
	int pfd, err = 0;

	if (strlen(name) > 255)
		return -ENAMETOOLONG;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EPERM; /* never resolve upwards: ".." of the root is outside BACKING */
	pfd = zcd_fd_get(ctx, parent);
	if (pfd < 0)
		return pfd;
	if (ino_hint) {
		/* A listing's d_ino on the parent's device: if no inode has it, the name is (almost
		 * certainly) new and the open-then-fstat of ref_or_insert is the only stat needed. */
		pthread_mutex_lock(&ctx->tbl.lock);
		have_st = table_find(&ctx->tbl, parent->dev, ino_hint) != NULL;
		pthread_mutex_unlock(&ctx->tbl.lock);
	}
	if (have_st && fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		err = -errno;
		goto out_put;
	}
	in = ref_or_insert(ctx, parent, name, pfd, &st, have_st, &err);
	if (!in)
		goto out_put;
	zcd_inode_set_name(ctx, in, parent, name);
	zcd_fill_entry(ctx, e, &st, in);
out_put:
	zcd_fd_put(ctx, parent);
	return err;
}

void zcd_inode_set_name(struct zcd_ctx *ctx, struct zcd_inode *in, struct zcd_inode *parent,
			const char *name)
{
	struct zcd_table *t = &ctx->tbl;
	struct zcd_inode *dead = NULL, *old_parent;
	char *dup = NULL;

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
		unref_locked(ctx, old_parent, 0, 1, &dead);
	pthread_mutex_unlock(&t->lock);
	free_dead(dead);
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

/* ---- credentials ---- */

int zcd_creds_enter(fuse_req_t req, struct zcd_creds *c, bool creating)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	gid_t groups[64];
	int n;

	c->switched = false;
	if (!ctx->is_root || (fc->uid == 0 && fc->gid == 0))
		return 0;
	if (!creating && ctx->opts.default_permissions)
		return 0; /* the kernel checked permissions already */
	n = fuse_req_getgroups(req, 64, groups);
	if (n > 64)
		n = 64;
	if (n < 0)
		n = 0;
	if (syscall(SYS_setgroups, n, groups) < 0)
		return -errno;
	syscall(SYS_setfsgid, fc->gid);
	syscall(SYS_setfsuid, fc->uid);
	c->switched = true;
	return 0;
}

void zcd_creds_leave(fuse_req_t req, struct zcd_creds *c)
{
	struct zcd_ctx *ctx = zcd_ctx(req);

	if (!c->switched)
		return;
	syscall(SYS_setfsuid, 0);
	syscall(SYS_setfsgid, 0);
	syscall(SYS_setgroups, ctx->nroot_groups, ctx->root_groups);
	c->switched = false;
}

void zcd_reply_err(fuse_req_t req, enum zc_op op, int neg_errno)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	int e = neg_errno < 0 ? -neg_errno : neg_errno;

	if (e == ESTALE)
		e = ENOENT; /* the backing object vanished underneath */
	zc_stats_op(ctx->stats, op, e);
	fuse_reply_err(req, e);
}
