/* dirlist.c - see dirlist.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "ctx.h"
#include "dirlist.h"
#include "fd.h"
#include "lookup.h"
#include "req.h"
#include "zc/fanev.h"

#define BUF_BYTES 32768
#define KEPT 16 /* directories listed at once without handles */
#define IDLE_NS 2000000000ull /* a kept cursor unused this long is closed */
/* The offset after the control directory's entry, which ends the root's listing: never a
 * cookie of a local filesystem in practice (ext4's end is 0x7fffffffffffffff). */
#define CTL_END ((off_t)0x7ffffffffffffffeLL)

struct zcd_dcursor {
	pthread_mutex_t lock;
	_Atomic unsigned refs;
	struct zcd_ctx *ctx;
	struct zcd_inode *in;
	bool pinned;        /* a kept cursor pins in; a handle's is referenced by the handle */
	int fd;             /* O_RDONLY | O_DIRECTORY; owned */
	bool cookies;       /* offsets are the backing's d_off cookies, else entry counts */
	/* lock: */
	off_t pos;          /* the offset the next entry in buf starts at */
	long index;         /* entries consumed since the start (entry-count offsets) */
	char buf[BUF_BYTES];
	size_t len, at;     /* valid bytes in buf, and the next entry */
	bool eof;
	uint64_t used;      /* for the kept set's LRU */
	uint64_t used_ns;   /* CLOCK_MONOTONIC of its last use */
};

struct zcd_dirlist {
	pthread_mutex_t lock;
	struct zcd_dcursor *kept[KEPT]; /* each holds one reference; lock */
	uint64_t clock;                 /* lock */
};

int zcd_dirlist_init(struct zcd_ctx *ctx)
{
	struct zcd_dirlist *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	pthread_mutex_init(&d->lock, NULL);
	ctx->dirlist = d;
	return 0;
}

static void cursor_unref(struct zcd_dcursor *c)
{
	if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	close(c->fd);
	if (c->pinned)
		zcd_inode_unpin(c->ctx, c->in);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void zcd_dirlist_free(struct zcd_ctx *ctx)
{
	struct zcd_dirlist *d = ctx->dirlist;

	if (!d)
		return;
	for (int i = 0; i < KEPT; i++)
		cursor_unref(d->kept[i]);
	pthread_mutex_destroy(&d->lock);
	free(d);
	ctx->dirlist = NULL;
}

struct zcd_dcursor *zcd_dcursor_new(struct zcd_ctx *ctx, struct zcd_inode *in, int fd)
{
	struct zcd_dcursor *c = calloc(1, sizeof(*c));
	struct statfs sf;

	if (!c) {
		close(fd);
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	atomic_init(&c->refs, 1);
	c->ctx = ctx;
	c->in = in;
	c->fd = fd;
	/* Local filesystems give cookies that lseek takes back; others (a FUSE or network
	 * backing) may give 0 or positions that only mean something to their own stream. */
	c->cookies = fstatfs(fd, &sf) == 0 && zc_fs_is_local((unsigned long)sf.f_type);
	return c;
}

void zcd_dcursor_free(struct zcd_dcursor *c)
{
	cursor_unref(c);
}

int zcd_dcursor_fd(struct zcd_dcursor *c)
{
	return c->fd;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Close kept cursors idle for IDLE_NS, and in's (done: a listing reached its end), so that a
 * directory nobody lists holds no descriptor and no inode. */
static void kept_drop(struct zcd_ctx *ctx, struct zcd_inode *done)
{
	struct zcd_dirlist *d = ctx->dirlist;
	struct zcd_dcursor *gone[KEPT];
	uint64_t now = now_ns();
	int n = 0;

	pthread_mutex_lock(&d->lock);
	for (int i = 0; i < KEPT; i++) {
		struct zcd_dcursor *c = d->kept[i];
		if (c && (c->in == done || now - c->used_ns > IDLE_NS)) {
			gone[n++] = c;
			d->kept[i] = NULL;
		}
	}
	pthread_mutex_unlock(&d->lock);
	while (n)
		cursor_unref(gone[--n]);
}

void zcd_dirlist_expire(struct zcd_ctx *ctx)
{
	if (ctx->dirlist)
		kept_drop(ctx, NULL);
}

/* A kept cursor of in (one reference), opening one (and closing the least recently used) if
 * none is kept. NULL with -errno in *err. */
static struct zcd_dcursor *kept_get(struct zcd_ctx *ctx, struct zcd_inode *in, int *err)
{
	struct zcd_dirlist *d = ctx->dirlist;
	struct zcd_dcursor *c = NULL, *old = NULL;
	int fd, victim = 0;

	kept_drop(ctx, NULL);
	pthread_mutex_lock(&d->lock);
	for (int i = 0; i < KEPT; i++)
		if (d->kept[i] && d->kept[i]->in == in) {
			c = d->kept[i];
			atomic_fetch_add(&c->refs, 1);
			c->used = ++d->clock;
			c->used_ns = now_ns();
			break;
		}
	pthread_mutex_unlock(&d->lock);
	if (c)
		return c;

	fd = zcd_inode_open(ctx, in, O_RDONLY | O_DIRECTORY, NULL);
	if (fd < 0) {
		*err = fd;
		return NULL;
	}
	c = zcd_dcursor_new(ctx, in, fd);
	if (!c) {
		*err = -ENOMEM;
		return NULL;
	}
	zcd_inode_pin(ctx, in);
	c->pinned = true;
	atomic_fetch_add(&c->refs, 1); /* the kept set's */
	pthread_mutex_lock(&d->lock);
	for (int i = 0; i < KEPT; i++) {
		if (!d->kept[i]) {
			victim = i;
			break;
		}
		if (d->kept[i]->used < d->kept[victim]->used)
			victim = i;
	}
	old = d->kept[victim];
	d->kept[victim] = c;
	c->used = ++d->clock;
	c->used_ns = now_ns();
	pthread_mutex_unlock(&d->lock);
	cursor_unref(old);
	return c;
}

/* The entry at the cursor (NULL at the end or on an error, in *err). c->lock held. */
static struct dirent64 *peek(struct zcd_dcursor *c, int *err)
{
	if (c->at >= c->len) {
		ssize_t n;
		if (c->eof)
			return NULL;
		n = getdents64(c->fd, c->buf, sizeof(c->buf));
		if (n < 0) {
			*err = -errno;
			return NULL;
		}
		c->len = (size_t)n;
		c->at = 0;
		if (n == 0) {
			c->eof = true;
			return NULL;
		}
	}
	return (struct dirent64 *)(c->buf + c->at);
}

static void consume(struct zcd_dcursor *c, const struct dirent64 *de)
{
	c->at += de->d_reclen;
	c->index++;
	c->pos = c->cookies ? (off_t)de->d_off : (off_t)c->index;
}

/* Move to offset off (0: the start). c->lock held. */
static int seek_to(struct zcd_dcursor *c, off_t off)
{
	int err = 0;

	c->len = c->at = 0;
	c->eof = false;
	if (c->cookies && off != 0) {
		if (lseek(c->fd, off, SEEK_SET) < 0)
			return -errno;
		c->pos = off;
		return 0;
	}
	if (lseek(c->fd, 0, SEEK_SET) < 0)
		return -errno;
	c->pos = 0;
	c->index = 0;
	while (!c->cookies && c->index < off) { /* entry counts: read up to the one asked for */
		struct dirent64 *de = peek(c, &err);
		if (!de)
			return err;
		consume(c, de);
	}
	return 0;
}

static bool is_dot(const char *n)
{
	return n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'));
}

/* Add one backing entry to buf; returns its size (> room: did not fit) or 0 to skip it. With
 * plus, the entry carries a kernel reference, dropped again if it did not fit. */
static size_t add_entry(fuse_req_t req, struct zcd_inode *dir, const struct dirent64 *de,
			off_t next, char *buf, size_t room, bool plus, int *err)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct fuse_entry_param e;
	size_t n;

	memset(&e, 0, sizeof(e));
	e.attr.st_ino = zcd_ino_out(ctx, dir->dev, de->d_ino);
	e.attr.st_mode = (mode_t)de->d_type << 12;
	if (!plus)
		return fuse_add_direntry(req, buf, room, de->d_name, &e.attr, next);
	if (is_dot(de->d_name))
		return fuse_add_direntry_plus(req, buf, room, de->d_name, &e, next);
	*err = zcd_lookup_name(ctx, dir, de->d_name, de->d_ino, &e);
	if (*err == -ENOENT || *err == -ESTALE) {
		*err = 0; /* removed since getdents saw it */
		return 0;
	}
	if (*err < 0)
		return 0;
	n = fuse_add_direntry_plus(req, buf, room, de->d_name, &e, next);
	if (n > room) /* the kernel will not see it: drop the reference */
		zcd_inode_forget(ctx, zcd_inode_get(ctx, e.ino), 1);
	return n;
}

/* Fill buf from offset off. Returns the bytes filled, or -errno when nothing could be. */
static ssize_t fill(fuse_req_t req, struct zcd_dcursor *c, char *buf, size_t size, off_t off,
		    bool plus)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	bool is_root = c->in == &ctx->root && ctx->ctl;
	size_t pos = 0;
	int rc = 0;

	if (is_root && off == CTL_END)
		return 0;
	if (off == 0 || off != c->pos) { /* a listing from the start sees the directory afresh */
		rc = seek_to(c, off);
		if (rc < 0)
			return rc;
	}
	for (;;) {
		struct dirent64 *de = peek(c, &rc);
		off_t next;
		size_t n;

		if (!de) {
			if (rc == 0 && is_root) { /* the control directory ends the root's listing */
				n = zcd_ctl_root_dirent(req, buf + pos, size - pos, CTL_END, plus);
				pos += n;
			}
			break;
		}
		if (is_root && zcd_ctl_is_name(ctx, FUSE_ROOT_ID, de->d_name)) {
			consume(c, de); /* shadowed by the control directory */
			continue;
		}
		next = c->cookies ? (off_t)de->d_off : (off_t)c->index + 1;
		n = add_entry(req, c->in, de, next, buf + pos, size - pos, plus, &rc);
		if (rc < 0 || n > size - pos)
			break;
		pos += n;
		consume(c, de);
	}
	return rc < 0 && pos == 0 ? rc : (ssize_t)pos;
}

void zcd_dirlist_read(fuse_req_t req, struct zcd_inode *in, struct zcd_dcursor *c, size_t size,
		      off_t off, bool plus)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	char *buf = malloc(size);
	bool kept = !c, done;
	ssize_t n;
	int rc = 0;

	if (!buf)
		return zcd_reply_err(req, ZC_OP_readdir, -ENOMEM);
	if (kept)
		c = kept_get(ctx, in, &rc);
	if (!c) {
		free(buf);
		return zcd_reply_err(req, ZC_OP_readdir, rc);
	}
	pthread_mutex_lock(&c->lock);
	n = fill(req, c, buf, size, off, plus);
	done = c->eof && c->at >= c->len && n >= 0;
	pthread_mutex_unlock(&c->lock);
	if (kept) {
		if (done) /* the listing is over: nothing to keep it open for */
			kept_drop(ctx, in);
		cursor_unref(c);
	}
	if (n < 0) {
		free(buf);
		return zcd_reply_err(req, ZC_OP_readdir, (int)n); /* readdirplus counts as readdir */
	}
	zcd_count_ok(req, ZC_OP_readdir);
	fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}
