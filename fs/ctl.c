/* ctl.c - the control directory inside the mount: virtual inodes for stats (Prometheus), stats.json,
 * config and the ctl transaction file, the commands run by ctl (residency, evict, prefetch, sync,
 * flush, syncfs, stats reset) on paths resolved strictly below the backing root, and the virtual
 * xattrs. A snapshot is taken per open, so readers never see a torn file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "zc/ctl.h"
#include "zc/log.h"
#include "zc/resid.h"
#include "zcfs.h"

enum node_kind { N_DIR = 1, N_STATS, N_JSON, N_CONFIG, N_CTL, N_COUNT };

struct node {
	enum node_kind kind;
	const char *name;
};

struct zcd_ctl {
	struct node nodes[N_COUNT]; /* nodes[0] unused; addresses are the fuse_ino_t; immutable */
	struct timespec started;
};

#define CTL_WALK_MAX_DEPTH 128
#define CTL_REPLY_MAX_RANGES 4096

static struct node *node_of(struct zcd_ctx *ctx, fuse_ino_t ino)
{
	return zcd_ctl_is_virtual(ctx, ino) ? (struct node *)(uintptr_t)ino : NULL;
}

static fuse_ino_t ino_of(struct zcd_ctx *ctx, enum node_kind k)
{
	return (fuse_ino_t)(uintptr_t)&ctx->ctl->nodes[k];
}

int zcd_ctl_init(struct zcd_ctx *ctx)
{
	static const char *const names[N_COUNT] = { NULL, NULL, "stats", "stats.json", "config", "ctl" };
	struct zcd_ctl *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	for (int k = N_DIR; k < N_COUNT; k++) {
		c->nodes[k].kind = (enum node_kind)k;
		c->nodes[k].name = names[k];
	}
	clock_gettime(CLOCK_REALTIME, &c->started);
	ctx->ctl = c;
	return 0;
}

void zcd_ctl_free(struct zcd_ctx *ctx)
{
	free(ctx->ctl);
	ctx->ctl = NULL;
}

bool zcd_ctl_is_virtual(struct zcd_ctx *ctx, fuse_ino_t ino)
{
	return ctx->ctl && ino >= (fuse_ino_t)(uintptr_t)&ctx->ctl->nodes[N_DIR] &&
	       ino < (fuse_ino_t)(uintptr_t)&ctx->ctl->nodes[N_COUNT];
}

/* ---- attributes and names ---- */

static void node_stat(struct zcd_ctx *ctx, enum node_kind k, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = 0xFFFFFFFFFFFF0000ull + (unsigned)k;
	st->st_uid = ctx->owner_uid;
	st->st_gid = ctx->owner_gid;
	st->st_atim = st->st_mtim = st->st_ctim = ctx->ctl->started;
	st->st_blksize = 4096;
	if (k == N_DIR) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
	} else {
		st->st_nlink = 1;
		st->st_mode = S_IFREG | (k == N_CTL ? 0600 : ctx->opts.ctl_private ? 0400 : 0444);
	}
}

static void node_entry(struct zcd_ctx *ctx, enum node_kind k, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino_of(ctx, k);
	node_stat(ctx, k, &e->attr);
	e->attr_timeout = 0;
	e->entry_timeout = ctx->opts.entry_timeout;
}

bool zcd_ctl_lookup_root(fuse_req_t req, const char *name)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct fuse_entry_param e;

	if (!ctx->ctl || strcmp(name, ctx->opts.ctl_name) != 0)
		return false;
	node_entry(ctx, N_DIR, &e);
	zc_stats_op(ctx->stats, ZC_OP_lookup, 0);
	fuse_reply_entry(req, &e);
	return true;
}

void zcd_ctl_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct fuse_entry_param e;

	for (int k = N_STATS; k < N_COUNT; k++) {
		if (strcmp(name, ctx->ctl->nodes[k].name) == 0) {
			node_entry(ctx, (enum node_kind)k, &e);
			zc_stats_op(ctx->stats, ZC_OP_lookup, 0);
			fuse_reply_entry(req, &e);
			return;
		}
	}
	zcd_reply_err(req, ZC_OP_lookup, -ENOENT);
}

void zcd_ctl_getattr(fuse_req_t req, fuse_ino_t ino)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct stat st;

	node_stat(ctx, node_of(ctx, ino)->kind, &st);
	zc_stats_op(ctx->stats, ZC_OP_getattr, 0);
	fuse_reply_attr(req, &st, 0);
}

/* access(2) on a control entry: its mode bits for the caller (root: read and write always,
 * execute where any x bit is set, as the kernel does). */
void zcd_ctl_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	struct stat st;
	unsigned bits = 0;

	node_stat(ctx, node_of(ctx, ino)->kind, &st);
	if (fc->uid == 0)
		bits = R_OK | W_OK | ((st.st_mode & 0111) ? X_OK : 0);
	else if (fc->uid == st.st_uid)
		bits = (st.st_mode >> 6) & 7;
	else if (zcd_caller_in_group(req, st.st_gid))
		bits = (st.st_mode >> 3) & 7;
	else
		bits = st.st_mode & 7;
	if ((unsigned)mask & ~bits)
		return zcd_reply_err(req, ZC_OP_access, -EACCES);
	zc_stats_op(ctx->stats, ZC_OP_access, 0);
	fuse_reply_err(req, 0);
}

static size_t add_entry(fuse_req_t req, char *buf, size_t size, const char *name,
			enum node_kind k, off_t next, bool plus)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct fuse_entry_param e;

	node_entry(ctx, k, &e);
	if (plus)
		return fuse_add_direntry_plus(req, buf, size, name, &e, next);
	return fuse_add_direntry(req, buf, size, name, &e.attr, next);
}

size_t zcd_ctl_root_dirent(fuse_req_t req, char *buf, size_t size, off_t next_off, bool plus)
{
	size_t n = add_entry(req, buf, size, zcd_ctx(req)->opts.ctl_name, N_DIR, next_off, plus);
	return n > size ? 0 : n;
}

void zcd_ctl_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	char *buf = malloc(size);
	size_t pos = 0;

	if (!buf)
		return zcd_reply_err(req, ZC_OP_readdir, -ENOMEM);
	/* Offsets: 0 ".", 1 "..", then the files in node order. */
	for (off_t i = off; i < N_COUNT; i++) {
		size_t n;
		if (i == 0) {
			struct stat st;
			node_stat(ctx, N_DIR, &st);
			n = fuse_add_direntry(req, buf + pos, size - pos, ".", &st, 1);
			if (plus) {
				struct fuse_entry_param e = { .attr = st };
				n = fuse_add_direntry_plus(req, buf + pos, size - pos, ".", &e, 1);
			}
		} else if (i == 1) {
			struct fuse_entry_param e = { .attr.st_mode = S_IFDIR, .attr.st_ino = 1 };
			n = plus ? fuse_add_direntry_plus(req, buf + pos, size - pos, "..", &e, 2)
				 : fuse_add_direntry(req, buf + pos, size - pos, "..", &e.attr, 2);
		} else if (i >= N_STATS) {
			n = add_entry(req, buf + pos, size - pos, ctx->ctl->nodes[i].name,
				      (enum node_kind)i, i + 1, plus);
		} else {
			continue;
		}
		if (n > size - pos)
			break;
		pos += n;
	}
	zc_stats_op(ctx->stats, ZC_OP_readdir, 0);
	fuse_reply_buf(req, buf, pos);
	free(buf);
}

/* ---- open, read, release ---- */

static bool caller_is_owner(fuse_req_t req)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	return fc->uid == 0 || fc->uid == zcd_ctx(req)->owner_uid;
}

/* Take the snapshot a stats/config open serves from. */
static int snapshot(struct zcd_ctx *ctx, enum node_kind k, char **out, size_t *len)
{
	struct zc_stats_snap snap;
	int rc;

	if (k == N_CONFIG) {
		*out = zcd_opts_describe(&ctx->opts);
		if (!*out)
			return -ENOMEM;
		*len = strlen(*out);
		return 0;
	}
	rc = zc_stats_snapshot(ctx->stats, &snap);
	if (rc < 0)
		return rc;
	/* The table counts its own descriptors; read it with the snapshot. */
	pthread_mutex_lock(&ctx->tbl.lock);
	snap.gauge[ZC_G_CACHED_FDS] = ctx->tbl.fds_open;
	pthread_mutex_unlock(&ctx->tbl.lock);
	return k == N_STATS ? zc_stats_render_prom(&snap, out, len)
			    : zc_stats_render_json(&snap, out, len);
}

void zcd_ctl_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, bool is_dir)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct node *n = node_of(ctx, ino);
	enum zc_op op = is_dir ? ZC_OP_opendir : ZC_OP_open;
	struct zcd_fh *fh;
	int rc;

	if (is_dir) {
		fi->fh = 0;
		zc_stats_op(ctx->stats, op, 0);
		fuse_reply_open(req, fi);
		return;
	}
	if ((n->kind == N_CTL || ctx->opts.ctl_private) && !caller_is_owner(req))
		return zcd_reply_err(req, op, -EACCES);
	if (n->kind != N_CTL && (fi->flags & O_ACCMODE) != O_RDONLY)
		return zcd_reply_err(req, op, -EACCES);
	fh = calloc(1, sizeof(*fh));
	if (!fh)
		return zcd_reply_err(req, op, -ENOMEM);
	fh->fd = -1;
	fh->ctl_kind = n->kind;
	pthread_mutex_init(&fh->vlock, NULL);
	if (n->kind != N_CTL) {
		rc = snapshot(ctx, n->kind, &fh->vbuf, &fh->vlen);
		if (rc < 0) {
			free(fh);
			return zcd_reply_err(req, op, rc);
		}
	}
	zcd_open_track(ctx, &fh->open, zcd_fh_free);
	fi->fh = (uint64_t)(uintptr_t)fh;
	fi->direct_io = 1; /* sizes are not known in advance: every read comes here */
	fi->nonseekable = n->kind == N_CTL;
	fi->keep_cache = 0;
	zc_stats_op(ctx->stats, op, 0);
	if (fuse_reply_open(req, fi) == -ENOENT) { /* interrupted: no release will come */
		zcd_open_untrack(ctx, &fh->open);
		zcd_fh_free(&fh->open);
	}
}

void zcd_ctl_read(fuse_req_t req, struct zcd_fh *fh, size_t size, off_t off)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	size_t n = 0;
	char *copy = NULL;

	pthread_mutex_lock(&fh->vlock);
	if (fh->ctl_kind == N_CTL)
		off = (off_t)fh->vpos; /* a transaction reads its reply from the start */
	if (off >= 0 && (size_t)off < fh->vlen) {
		n = fh->vlen - (size_t)off < size ? fh->vlen - (size_t)off : size;
		copy = malloc(n);
		if (copy) {
			memcpy(copy, fh->vbuf + off, n);
			fh->vpos = (size_t)off + n;
		}
	}
	pthread_mutex_unlock(&fh->vlock);
	if (n && !copy)
		return zcd_reply_err(req, ZC_OP_read, -ENOMEM);
	zc_stats_op(ctx->stats, ZC_OP_read, 0);
	fuse_reply_buf(req, copy, n);
	free(copy);
}

void zcd_ctl_release(fuse_req_t req, struct zcd_fh *fh)
{
	struct zcd_ctx *ctx = zcd_ctx(req);

	zcd_open_untrack(ctx, &fh->open);
	zcd_fh_free(&fh->open);
	zc_stats_op(ctx->stats, ZC_OP_release, 0);
	fuse_reply_err(req, 0);
}

/* ---- commands ---- */

static bool caller_may(fuse_req_t req, const struct stat *st, int mask);

/* Residency is a side channel: it needs write access (or ownership); evict and prefetch change
 * only caches and need read access; sync and flush write back what the caller could write. */
static int verb_mask(enum zc_ctl_verb verb)
{
	return verb == ZC_CTL_EVICT || verb == ZC_CTL_PREFETCH ? R_OK : W_OK;
}

struct cmd_run {
	struct zcd_ctx *ctx;
	fuse_req_t req;
	const struct zc_ctl_cmd *cmd;
	FILE *out;          /* key=value lines after "ok" */
	uint64_t files, pages, resident_pages, file_bytes, before, after, invalidated;
};

/* Open path (relative, normalised) strictly below the backing root: no "..", no absolute or
 * escaping symlinks, no magic links; the control directory's shadowed name is not reachable. */
static int open_beneath(struct zcd_ctx *ctx, const char *path, int flags)
{
	struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
				.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS };
	size_t cl = strlen(ctx->opts.ctl_name);
	long fd;

	if (ctx->ctl && strncmp(path, ctx->opts.ctl_name, cl) == 0 &&
	    (path[cl] == '\0' || path[cl] == '/'))
		return -ENOENT;
	if (strcmp(path, ".") == 0)
		how.flags &= ~(uint64_t)O_NOFOLLOW;
	fd = syscall(SYS_openat2, ctx->root_fd, path, &how, sizeof(how));
	bool is_link = fd < 0 && errno == ELOOP;
	if (fd >= 0 && (flags & O_PATH)) {
		struct stat st;
		is_link = fstat((int)fd, &st) == 0 && S_ISLNK(st.st_mode); /* O_PATH opened the link */
		if (is_link)
			close((int)fd);
	}
	if (is_link) {
		/* A symlink as the last component: follow it, still beneath the root (an absolute
		 * or escaping target fails with EXDEV). */
		how.flags &= ~(uint64_t)O_NOFOLLOW;
		fd = syscall(SYS_openat2, ctx->root_fd, path, &how, sizeof(how));
	}
	return fd < 0 ? -errno : (int)fd;
}

/* Invalidate the mount-side pages of the file behind fd, if the kernel knows it. */
static bool invalidate_mount_side(struct zcd_ctx *ctx, const struct stat *st)
{
	struct zcd_inode *in = zcd_inode_find(ctx, st->st_dev, st->st_ino);
	int rc;

	if (!in)
		return false;
	rc = fuse_lowlevel_notify_inval_inode(ctx->se, (fuse_ino_t)(uintptr_t)in, 0, 0);
	zcd_inode_unpin(ctx, in);
	return rc == 0;
}

/* Run the command's verb on one regular file (fd open O_RDONLY). */
static int run_file(struct cmd_run *run, int fd, const struct stat *st, const char *relpath)
{
	const struct zc_ctl_cmd *cmd = run->cmd;
	struct zc_resid r = { 0 };
	bool single = !cmd->recursive;
	int rc = 0;

	run->files++;
	switch (cmd->verb) {
	case ZC_CTL_RESIDENCY:
		rc = zc_resid_query(fd, single ? ZC_RESID_MAP : 0, &r);
		if (rc < 0)
			return rc;
		run->pages += r.total_pages;
		run->resident_pages += r.resident_pages;
		run->file_bytes += r.file_bytes;
		if (single) {
			char *ranges = malloc(1 << 20);
			fprintf(run->out,
				"page_size=%llu\nfile_bytes=%llu\npages=%llu\nresident_pages=%llu\n"
				"resident_bytes=%llu\ncachestat=%d\n",
				(unsigned long long)r.page_size, (unsigned long long)r.file_bytes,
				(unsigned long long)r.total_pages, (unsigned long long)r.resident_pages,
				(unsigned long long)(r.resident_pages * r.page_size), r.have_cachestat);
			if (r.have_cachestat)
				fprintf(run->out,
					"cached_pages=%llu\ndirty_pages=%llu\nwriteback_pages=%llu\n"
					"evicted_pages=%llu\nrecently_evicted_pages=%llu\n",
					(unsigned long long)r.cs_cached, (unsigned long long)r.cs_dirty,
					(unsigned long long)r.cs_writeback, (unsigned long long)r.cs_evicted,
					(unsigned long long)r.cs_recently_evicted);
			if (ranges) {
				zc_resid_format_ranges(&r, ranges, 1 << 20, CTL_REPLY_MAX_RANGES);
				fprintf(run->out, "ranges=%s\n", ranges);
				free(ranges);
			}
		} else {
			fprintf(run->out, "file=%llu %llu %llu %s\n", (unsigned long long)r.total_pages,
				(unsigned long long)r.resident_pages, (unsigned long long)r.file_bytes,
				relpath);
		}
		zc_resid_free(&r);
		return 0;
	case ZC_CTL_EVICT:
		if (zc_resid_query(fd, 0, &r) == 0)
			run->before += r.resident_pages * r.page_size;
		zc_resid_free(&r);
		rc = zc_cache_evict(fd);
		if (rc < 0)
			return rc;
		if (invalidate_mount_side(run->ctx, st))
			run->invalidated++;
		if (zc_resid_query(fd, 0, &r) == 0)
			run->after += r.resident_pages * r.page_size;
		zc_resid_free(&r);
		return 0;
	case ZC_CTL_PREFETCH:
		rc = zc_cache_prefetch(fd, true);
		if (rc < 0)
			return rc;
		if (zc_resid_query(fd, 0, &r) == 0)
			run->after += r.resident_pages * r.page_size;
		zc_resid_free(&r);
		return 0;
	case ZC_CTL_SYNC:
		return fsync(fd) < 0 ? -errno : 0;
	case ZC_CTL_FLUSH:
		return zc_cache_flush(fd);
	default:
		return -EINVAL;
	}
}

/* Walk a directory (fd owned) below the root, running the verb on every regular file. Does not
 * follow symlinks and skips the control directory's name at the root. */
static int run_tree(struct cmd_run *run, int dfd, char *relpath, size_t cap, int depth)
{
	DIR *dp = fdopendir(dfd);
	struct dirent *de;
	bool at_root = strcmp(relpath, ".") == 0;
	size_t base;
	int rc = 0;

	if (!dp) {
		close(dfd);
		return -errno;
	}
	if (depth > CTL_WALK_MAX_DEPTH) {
		closedir(dp);
		return -ELOOP;
	}
	if (at_root)
		relpath[0] = '\0'; /* children of the root are "name", not "./name" */
	base = strlen(relpath);
	while (rc == 0 && (de = readdir(dp))) {
		struct stat st;
		int fd;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (at_root && run->ctx->ctl && strcmp(de->d_name, run->ctx->opts.ctl_name) == 0)
			continue;
		if (snprintf(relpath + base, cap - base, "%s%s", base ? "/" : "", de->d_name) >=
		    (int)(cap - base)) {
			relpath[base] = '\0';
			continue;
		}
		/* Only regular files and directories are opened (never devices or fifos), and
		 * the object opened must be the one stat saw. */
		struct stat seen;
		if (fstatat(dirfd(dp), de->d_name, &seen, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !(S_ISREG(seen.st_mode) || S_ISDIR(seen.st_mode)))
			goto next;
		fd = openat(dirfd(dp), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			goto next;
		if (fstat(fd, &st) < 0 || st.st_ino != seen.st_ino || st.st_dev != seen.st_dev) {
			close(fd);
			goto next;
		}
		if (S_ISREG(st.st_mode)) {
			if (caller_may(run->req, &st, verb_mask(run->cmd->verb)))
				rc = run_file(run, fd, &st, relpath);
			close(fd);
		} else {
			rc = run_tree(run, fd, relpath, cap, depth + 1);
		}
next:
		relpath[base] = '\0';
	}
	closedir(dp);
	if (at_root)
		strcpy(relpath, ".");
	return rc;
}

static int run_command(struct cmd_run *run)
{
	struct zcd_ctx *ctx = run->ctx;
	const struct zc_ctl_cmd *cmd = run->cmd;
	struct zcd_creds creds;
	struct stat st;
	int fd, rc;

	if (cmd->verb == ZC_CTL_STATS_RESET) {
		zc_stats_reset(ctx->stats);
		return 0;
	}
	if (cmd->verb == ZC_CTL_SYNCFS)
		return syncfs(ctx->root_fd) < 0 ? -errno : 0;
	/* Resolve as the caller, so nothing is reachable that they could not reach themselves. */
	rc = zcd_creds_enter(run->req, &creds, true);
	if (rc < 0)
		return rc;
	fd = open_beneath(ctx, cmd->path, O_PATH);
	zcd_creds_leave(run->req, &creds);
	if (fd < 0)
		return fd;
	rc = fstat(fd, &st) < 0 ? -errno : 0;
	if (rc == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		rc = -EINVAL; /* never open devices, fifos or sockets */
	if (rc == 0 && S_ISREG(st.st_mode) && !caller_may(run->req, &st, verb_mask(cmd->verb)))
		rc = -EACCES;
	if (rc == 0) {
		/* Reopen the object resolved above for reading (no second path walk). */
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		int rfd = open(proc, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		rc = rfd < 0 ? -errno : 0;
		close(fd);
		fd = rfd;
	} else {
		close(fd);
	}
	if (rc < 0)
		return rc;
	fprintf(run->out, "path=%s\n", cmd->path);
	if (S_ISDIR(st.st_mode)) {
		char rel[PATH_MAX];
		if (!cmd->recursive) {
			close(fd);
			return -EISDIR;
		}
		snprintf(rel, sizeof(rel), "%s", cmd->path);
		return run_tree(run, fd, rel, sizeof(rel), 0);
	}
	rc = run_file(run, fd, &st, cmd->path);
	close(fd);
	return rc;
}

/* Execute one command line and leave the reply in fh->vbuf. */
static void execute(fuse_req_t req, struct zcd_fh *fh, const char *line, size_t len)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zc_ctl_cmd *cmd = malloc(sizeof(*cmd));
	struct cmd_run run = { .ctx = ctx, .req = req, .cmd = cmd };
	char err[512], *body = NULL, *reply = NULL;
	size_t body_len = 0;
	int rc;

	if (!cmd) {
		rc = -ENOMEM;
		snprintf(err, sizeof(err), "out of memory");
		goto out_error;
	}
	rc = zc_ctl_parse(line, len, cmd, err, sizeof(err));
	if (rc < 0)
		goto out_error;
	run.out = open_memstream(&body, &body_len);
	if (!run.out) {
		rc = -ENOMEM;
		snprintf(err, sizeof(err), "out of memory");
		goto out_error;
	}
	rc = run_command(&run);
	if (rc == 0 && cmd->recursive && cmd->verb == ZC_CTL_RESIDENCY)
		fprintf(run.out, "files=%llu\npages=%llu\nresident_pages=%llu\nresident_bytes=%llu\nfile_bytes=%llu\n",
			(unsigned long long)run.files, (unsigned long long)run.pages,
			(unsigned long long)run.resident_pages,
			(unsigned long long)(run.resident_pages * (uint64_t)sysconf(_SC_PAGESIZE)),
			(unsigned long long)run.file_bytes);
	else if (rc == 0 && cmd->verb == ZC_CTL_EVICT)
		fprintf(run.out, "files=%llu\nbefore_bytes=%llu\nafter_bytes=%llu\nmount_invalidated=%llu\n",
			(unsigned long long)run.files, (unsigned long long)run.before,
			(unsigned long long)run.after, (unsigned long long)run.invalidated);
	else if (rc == 0 && cmd->verb == ZC_CTL_PREFETCH)
		fprintf(run.out, "files=%llu\nresident_bytes=%llu\n", (unsigned long long)run.files,
			(unsigned long long)run.after);
	fclose(run.out);
	if (rc < 0) {
		snprintf(err, sizeof(err), "%s: %.400s", strerror(-rc), cmd->path);
		goto out_error;
	}
	if (asprintf(&reply, "ok\n%s", body ? body : "") < 0)
		reply = NULL;
	goto out_set;

out_error:
	reply = malloc(1024);
	if (reply)
		zc_ctl_format_error(reply, 1024, -rc, err);
out_set:
	free(body);
	free(cmd);
	pthread_mutex_lock(&fh->vlock);
	free(fh->vbuf);
	fh->vbuf = reply;
	fh->vlen = reply ? strlen(reply) : 0;
	fh->vpos = 0;
	pthread_mutex_unlock(&fh->vlock);
}

void zcd_ctl_write(fuse_req_t req, struct zcd_fh *fh, const char *buf, size_t size)
{
	struct zcd_ctx *ctx = zcd_ctx(req);

	if (fh->ctl_kind != N_CTL)
		return zcd_reply_err(req, ZC_OP_write, -EBADF);
	if (size > 4096)
		return zcd_reply_err(req, ZC_OP_write, -EMSGSIZE);
	execute(req, fh, buf, size);
	zc_stats_op(ctx->stats, ZC_OP_write, 0);
	fuse_reply_write(req, size);
}

/* ---- virtual xattrs ---- */

/* Could the caller (per mode bits, owner or group) access st with mask (R_OK/W_OK)? */
static bool caller_may(fuse_req_t req, const struct stat *st, int mask)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	int shift = 0;

	if (fc->uid == 0)
		return true;
	if (fc->uid == st->st_uid) /* the owner may always ask about its own file's cache */
		return mask == W_OK || (st->st_mode & ((unsigned)mask << 6)) != 0;
	if (zcd_caller_in_group(req, st->st_gid))
		shift = 3;
	return (st->st_mode & ((unsigned)mask << shift)) != 0;
}

bool zcd_caller_in_group(fuse_req_t req, gid_t gid)
{
	gid_t groups[64];
	int n;

	if (fuse_req_ctx(req)->gid == gid)
		return true;
	n = fuse_req_getgroups(req, 64, groups);
	for (int i = 0; i < n && i < 64; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

int zcd_ctl_vxattr(fuse_req_t req, struct zcd_inode *in, const char *name, char *buf,
		   size_t len)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zc_route_out route;
	struct zc_resid r = { 0 };
	struct stat st;
	uint32_t mem, off;
	int fd, rc;

	if (strcmp(name, "user.zcfs.ctl") == 0) {
		if (in != &ctx->root || !ctx->ctl)
			return -ENODATA;
		return snprintf(buf, len, "%s", ctx->opts.ctl_name);
	}
	if (strcmp(name, ZC_XATTR_EFFECTIVE) == 0) {
		zcd_route(ctx, in, -1, &route);
		return zc_route_format(&route, buf, len);
	}
	if (in->type != S_IFREG)
		return -ENODATA;
	fd = zcd_inode_open(ctx, in, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out_close;
	}
	if (strcmp(name, ZC_XATTR_DIOALIGN) == 0) {
		rc = zc_dio_align(fd, &mem, &off);
		if (rc == 0)
			rc = snprintf(buf, len, "mem=%u offset=%u", mem, off);
		goto out_close;
	}
	/* residency: a known side channel, so only for who could write the file or owns it */
	if (!caller_may(req, &st, W_OK)) {
		rc = -EACCES;
		goto out_close;
	}
	rc = zc_resid_query(fd, 0, &r);
	if (rc == 0)
		rc = snprintf(buf, len, "page_size=%llu file_bytes=%llu pages=%llu resident_pages=%llu resident_bytes=%llu",
			      (unsigned long long)r.page_size, (unsigned long long)r.file_bytes,
			      (unsigned long long)r.total_pages, (unsigned long long)r.resident_pages,
			      (unsigned long long)(r.resident_pages * r.page_size));
	zc_resid_free(&r);
out_close:
	close(fd);
	return rc;
}
