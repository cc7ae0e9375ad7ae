/* prefetch_scan.c - see prefetch_int.h: a directory whose files one caller opens in name order
 * gets a plan of its remaining regular files, in that order, read ahead as that caller. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctx.h"
#include "inode.h"
#include "prefetch_int.h"
#include "req.h"
#include "zc/plan.h"

/* A scan plan is made by any user's opens: bounded, so a directory of a million long names
 * cannot make the root daemon hold them all (larger directories get no scan plan). */
#define SCAN_MAX_FILES 16384
#define SCAN_MAX_BYTES (4u << 20)

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* May uid (gid, groups) read the directory fd? Asked with the caller's credentials. */
static bool may_list(struct zcd_ctx *ctx, int fd, uid_t uid, gid_t gid, const gid_t *groups, int ng)
{
	struct zcd_creds c;
	bool ok;

	if (uid == 0)
		return true;
	if (zcd_creds_enter_ids(ctx, &c, uid, gid, groups, ng) < 0)
		return false;
	ok = faccessat(fd, "", R_OK, AT_EACCESS | AT_EMPTY_PATH) == 0;
	zcd_creds_leave_ids(ctx, &c);
	return ok;
}

/* A directory opened in name order: plan its remaining regular files, in that order, for the
 * caller. dirpath: the directory relative to the root; after: the name just opened. */
static void plan_scan(fuse_req_t req, struct zcd_inode *dir, const char *dirpath, const char *after,
		      struct scan *slot_hint)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_plan_req r = { 0 };
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	char **names = NULL, **paths = NULL;
	size_t n = 0, cap = 0, bytes = 0;
	struct dirent *de;
	struct plan *p;
	gid_t groups[MAX_GROUPS];
	ino_t *inos = NULL;
	DIR *dp;
	int fd, ng, id;

	if (!zcd_pf_room_for(ctx->prefetch, fc->uid))
		return; /* the user has as many plans as allowed: do not list for nothing */
	ng = fuse_req_getgroups(req, MAX_GROUPS, groups);
	if (ng < 0)
		ng = 0;
	fd = zcd_inode_open(ctx, dir, O_RDONLY | O_DIRECTORY, req);
	/* The daemon lists the directory: only for a caller who may list it (a directory with
	 * search but not read permission keeps its names from them). */
	if (fd >= 0 && !may_list(ctx, fd, fc->uid, fc->gid, groups, ng)) {
		close(fd);
		return;
	}
	if (fd < 0 || !(dp = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dp))) {
		if (de->d_type != DT_REG || strcmp(de->d_name, after) <= 0)
			continue;
		bytes += strlen(de->d_name) + 1 + sizeof(ino_t);
		if (n == SCAN_MAX_FILES || bytes > SCAN_MAX_BYTES) {
			closedir(dp);
			goto out_free; /* too large to plan */
		}
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 256;
			char **v = realloc(names, nc * sizeof(*v));
			if (!v)
				break;
			names = v;
			cap = nc;
		}
		/* the inode number rides after the name's NUL */
		size_t l = strlen(de->d_name);
		names[n] = malloc(l + 1 + sizeof(ino_t));
		if (!names[n])
			break;
		memcpy(names[n], de->d_name, l + 1);
		memcpy(names[n] + l + 1, &de->d_ino, sizeof(ino_t));
		n++;
	}
	closedir(dp);
	if (n == 0)
		goto out_free;
	qsort(names, n, sizeof(*names), cmp_names);
	paths = calloc(n, sizeof(*paths));
	inos = calloc(n, sizeof(*inos));
	if (!paths || !inos)
		goto out_free;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(names[i]);
		memcpy(&inos[i], names[i] + l + 1, sizeof(ino_t));
		if (asprintf(&paths[i], "%s%s%s", strcmp(dirpath, ".") ? dirpath : "",
			     strcmp(dirpath, ".") ? "/" : "", names[i]) < 0)
			paths[i] = NULL;
		if (!paths[i])
			goto out_free;
	}
	p = zcd_pf_plan_new(ctx, paths, n, &r, fc->uid, fc->gid, groups, ng);
	if (!p)
		goto out_free;
	paths = NULL; /* owned by p */
	p->implicit = true;
	for (size_t i = 0; i < n; i++)
		zc_plan_set_file(p->zp, i, dir->dev, inos[i], 0);
	id = zcd_pf_plan_add(ctx->prefetch, p);
	if (id < 0) {
		zcd_pf_plan_free(p);
		goto out_free;
	}
	pthread_mutex_lock(&ctx->prefetch->lock);
	if (slot_hint->dir == dir)
		slot_hint->plan_id = (unsigned)id;
	pthread_mutex_unlock(&ctx->prefetch->lock);
out_free:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (paths) {
		for (size_t i = 0; i < n; i++)
			free(paths[i]);
		free(paths);
	}
	free(inos);
}

/* Track opens by directory; returns the slot when a scan should get a plan now. */
static struct scan *note_scan_locked(struct zcd_ctx *ctx, struct zcd_prefetch *pf,
				     struct zcd_inode *dir, const char *name)
{
	struct scan *s = NULL, *oldest = &pf->scans[0];

	for (int i = 0; i < SCAN_SLOTS; i++) {
		if (pf->scans[i].dir == dir)
			s = &pf->scans[i];
		if (pf->scans[i].used_ns < oldest->used_ns)
			oldest = &pf->scans[i];
	}
	if (!s) {
		s = oldest;
		if (s->dir)
			zcd_inode_unpin(ctx, s->dir); /* a pin only: never the last reference here */
		free(s->last);
		*s = (struct scan){ .dir = dir };
		zcd_inode_pin(ctx, dir);
	}
	s->used_ns = zcd_pf_now_ns();
	if (s->last && strcmp(name, s->last) > 0)
		s->streak++;
	else
		s->streak = 1;
	free(s->last);
	s->last = strdup(name);
	return s->streak == SCAN_TRIGGER && !s->plan_id ? s : NULL;
}

void zcd_scan_on_open(fuse_req_t req, struct zcd_inode *in)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_prefetch *pf = ctx->prefetch;
	struct zcd_inode *dir;
	char name[256], dirpath[4096];
	struct scan *s;

	dir = zcd_inode_parent(ctx, in, name, sizeof(name));
	if (!dir)
		return;
	pthread_mutex_lock(&pf->lock);
	s = note_scan_locked(ctx, pf, dir, name);
	pthread_mutex_unlock(&pf->lock);
	if (s && zcd_inode_path(ctx, dir, dirpath, sizeof(dirpath)) == 0)
		plan_scan(req, dir, dirpath, name, s);
	zcd_inode_unpin(ctx, dir);
}

void zcd_scan_clear(struct zcd_ctx *ctx, struct zcd_prefetch *pf)
{
	for (int i = 0; i < SCAN_SLOTS; i++) {
		if (pf->scans[i].dir)
			zcd_inode_unpin(ctx, pf->scans[i].dir);
		free(pf->scans[i].last);
		pf->scans[i] = (struct scan){ 0 };
	}
}
