/* route.c - see route.h: the walk from a file up to the root that feeds zc_route_eval, reading
 * each level's xattrs through its descriptor (one listxattr tells when there are none). */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>

#include "backing.h"
#include "ctx.h"
#include "fd.h"
#include "route.h"
#include "watch.h"

#define ROUTE_MAX_DEPTH 256

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Read one xattr of an open descriptor (fd >= 0) or of an inode through /proc into buf.
 * Returns 1 when present, 0 when absent or unreadable. */
static int read_attr(int fd, const char *proc, const char *name, char *buf, size_t len)
{
	ssize_t n = fd >= 0 ? fgetxattr(fd, name, buf, len - 1) : getxattr(proc, name, buf, len - 1);
	if (n < 0)
		return 0;
	buf[n] = '\0';
	return 1;
}

/* Both routing xattrs (mode and cache, 32 bytes each, "" when absent). Most files have neither:
 * one listxattr tells, instead of two getxattr calls failing with ENODATA on every open. */
static void read_route_attrs(int fd, const char *proc, char *mode, char *cache)
{
	char names[512];
	ssize_t n = fd >= 0 ? flistxattr(fd, names, sizeof(names)) : listxattr(proc, names, sizeof(names));
	bool has_mode = true, has_cache = true; /* unknown (list too long): ask for both */

	mode[0] = cache[0] = '\0';
	if (n >= 0) {
		has_mode = has_cache = false;
		for (ssize_t i = 0; i < n; i += (ssize_t)strlen(names + i) + 1) {
			has_mode |= strcmp(names + i, ZC_XATTR_MODE) == 0;
			has_cache |= strcmp(names + i, ZC_XATTR_CACHE) == 0;
		}
	} else if (errno != ERANGE) {
		return; /* no xattrs on this filesystem, or none readable */
	}
	if (has_mode)
		read_attr(fd, proc, ZC_XATTR_MODE, mode, 32);
	if (has_cache)
		read_attr(fd, proc, ZC_XATTR_CACHE, cache, 32);
}

struct route_walk {
	struct zcd_ctx *ctx;
	int fd;                              /* the file's open descriptor */
	struct zcd_inode *chain[ROUTE_MAX_DEPTH]; /* chain[0] = file, then ancestors, pinned */
	unsigned depth;
	char path[PATH_MAX];                 /* relative path of the file */
	char level_path[PATH_MAX];
	char mode[32], cache[32];
};

/* Fill the cached xattrs of directory in, refreshing them when older than its attributes may be
 * cached (a watched directory's are invalidated when they change: watch.c); those zcfs keeps
 * (backing.h) come from relpath. */
static void dir_attrs(struct zcd_ctx *ctx, struct zcd_inode *in, const char *relpath, char *mode,
		      char *cache)
{
	uint64_t now = now_ms(), ttl_ms = zcd_watch_route_ttl_ms(ctx, in);
	char m[32] = "", c[32] = "", proc[64];
	int fd;

	mode[0] = cache[0] = '\0';
	if (zcd_backing_route_attrs(ctx, relpath, mode, cache))
		return; /* kept by zcfs: no backing call to save */
	pthread_mutex_lock(&ctx->tbl.lock);
	if (in->xa_stamp_ms && now - in->xa_stamp_ms < ttl_ms) {
		snprintf(mode, 32, "%s", in->xa_mode ? in->xa_mode : "");
		snprintf(cache, 32, "%s", in->xa_cache ? in->xa_cache : "");
		pthread_mutex_unlock(&ctx->tbl.lock);
		return;
	}
	pthread_mutex_unlock(&ctx->tbl.lock);

	fd = zcd_fd_get(ctx, in);
	if (fd < 0)
		return;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	read_route_attrs(-1, proc, m, c);
	zcd_fd_put(ctx, in);
	snprintf(mode, 32, "%s", m);
	snprintf(cache, 32, "%s", c);
	if (!ttl_ms)
		return;
	char *dm = m[0] ? strdup(m) : NULL, *dc = c[0] ? strdup(c) : NULL;
	pthread_mutex_lock(&ctx->tbl.lock);
	free(in->xa_mode);
	free(in->xa_cache);
	in->xa_mode = dm;
	in->xa_cache = dc;
	in->xa_stamp_ms = now ? now : 1;
	pthread_mutex_unlock(&ctx->tbl.lock);
}

static int walk_level(void *arg, unsigned level, struct zc_route_level *lvl)
{
	struct route_walk *w = arg;

	if (level >= w->depth)
		return -ENOENT;
	if (level == 0) {
		char proc[64] = "";
		lvl->relpath = w->path;
		if (zcd_backing_route_attrs(w->ctx, w->path, w->mode, w->cache))
			goto out;
		if (w->fd < 0) {
			int pfd = zcd_fd_get(w->ctx, w->chain[0]);
			if (pfd < 0)
				return pfd;
			snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
		}
		read_route_attrs(w->fd, proc, w->mode, w->cache);
		if (w->fd < 0)
			zcd_fd_put(w->ctx, w->chain[0]);
		lvl->relpath = w->path;
	} else {
		/* The directory `level` steps up: cut that many components off the path. */
		snprintf(w->level_path, sizeof(w->level_path), "%s", w->path);
		for (unsigned i = 0; i < level; i++) {
			char *slash = strrchr(w->level_path, '/');
			if (slash)
				*slash = '\0';
			else
				strcpy(w->level_path, ".");
		}
		dir_attrs(w->ctx, w->chain[level], w->level_path, w->mode, w->cache);
		lvl->relpath = w->level_path;
	}
out:
	lvl->mode_xattr = w->mode[0] ? w->mode : NULL;
	lvl->cache_xattr = w->cache[0] ? w->cache : NULL;
	return 0;
}

int zcd_route(struct zcd_ctx *ctx, struct zcd_inode *in, int fd, struct zc_route_out *out)
{
	struct route_walk *w = malloc(sizeof(*w));
	int rc;

	if (!w) {
		memset(out, 0, sizeof(*out));
		out->mode = ctx->opts.mode;
		out->cache = ctx->opts.cache;
		return 0;
	}
	w->ctx = ctx;
	w->fd = fd;
	w->depth = 0;
	/* Pin the chain file -> root so it stays valid while we walk it without the lock. */
	pthread_mutex_lock(&ctx->tbl.lock);
	for (struct zcd_inode *p = in; p && w->depth < ROUTE_MAX_DEPTH; p = p->parent) {
		if (p != &ctx->root)
			p->pins++;
		w->chain[w->depth++] = p;
		if (p == &ctx->root)
			break;
	}
	pthread_mutex_unlock(&ctx->tbl.lock);
	if (zcd_inode_path(ctx, in, w->path, sizeof(w->path)) < 0)
		strcpy(w->path, ".");
	rc = zc_route_eval(ctx->opts.rules, w->path, walk_level, w, ctx->opts.mode,
			   ctx->opts.cache, out);
	for (unsigned i = 0; i < w->depth; i++)
		if (w->chain[i] != &ctx->root)
			zcd_inode_unpin(ctx, w->chain[i]);
	free(w);
	return rc;
}

void zcd_route_invalidate(struct zcd_ctx *ctx, struct zcd_inode *in)
{
	pthread_mutex_lock(&ctx->tbl.lock);
	in->xa_stamp_ms = 0;
	pthread_mutex_unlock(&ctx->tbl.lock);
	atomic_fetch_add(&ctx->route_gen, 1); /* implicit handles route again (file.h) */
}
