/* ctl_cmd.c - the commands of the ctl file (residency, evict, prefetch, sync, flush, syncfs,
 * stats reset) on paths resolved strictly below the backing root with the caller's credentials.
 * Recursive commands walk the tree iteratively, one directory descriptor at a time (a user's
 * 2,000-level tree costs nothing but time), and bound their reply. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ctl_int.h"
#include "ctx.h"
#include "lookup.h"
#include "prefetch.h"
#include "req.h"
#include "zc/ctl.h"
#include "zc/log.h"
#include "zc/resid.h"

#define CTL_REPLY_MAX_RANGES 4096
#define CTL_REPLY_MAX_BYTES (16u << 20) /* per-file lines stop here; totals go on */

struct cmd_run {
	struct zcd_ctx *ctx;
	fuse_req_t req;
	const struct zc_ctl_cmd *cmd;
	FILE *out;          /* key=value lines after "ok" */
	size_t out_bytes;   /* bytes of per-file lines written */
	bool truncated;     /* per-file lines left out */
	uint64_t files, pages, resident_pages, file_bytes, before, after, invalidated;
	uint64_t dirs_skipped; /* directories not walked (unreadable or paths too long) */
};

/* Residency is a side channel: it needs write access (or ownership); evict and prefetch change
 * only caches and need read access; sync and flush write back what the caller could write. */
static int verb_mask(enum zc_ctl_verb verb)
{
	return verb == ZC_CTL_EVICT || verb == ZC_CTL_PREFETCH ? R_OK : W_OK;
}

/* Open path (relative, normalised) strictly below the backing root: no "..", no absolute or
 * escaping symlinks, no magic links; the control directory's shadowed name is not reachable.
 * follow_last: a symlink as the last component is followed (still beneath the root). */
static int open_beneath(struct zcd_ctx *ctx, const char *path, int flags, bool follow_last)
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
	if (is_link && follow_last) {
		/* An absolute or escaping target fails with EXDEV. */
		how.flags &= ~(uint64_t)O_NOFOLLOW;
		fd = syscall(SYS_openat2, ctx->root_fd, path, &how, sizeof(how));
	} else if (is_link) {
		errno = ELOOP;
		fd = -1;
	}
	return fd < 0 ? -errno : (int)fd;
}

/* Invalidate the mount-side pages of the file behind fd, if the kernel knows it. */
static bool invalidate_mount_side(struct zcd_ctx *ctx, int fd, const struct stat *st)
{
	struct zcd_inode *in = zcd_inode_find_fd(ctx, fd, st);
	int rc;

	if (!in)
		return false;
	rc = fuse_lowlevel_notify_inval_inode(ctx->se, zcd_inode_nodeid(ctx, in), 0, 0);
	zcd_inode_unpin(ctx, in);
	return rc == 0;
}

static void residency_single(struct cmd_run *run, const struct zc_resid *r)
{
	char *ranges = malloc(1 << 20);

	fprintf(run->out,
		"page_size=%llu\nfile_bytes=%llu\npages=%llu\nresident_pages=%llu\n"
		"resident_bytes=%llu\ncachestat=%d\n",
		(unsigned long long)r->page_size, (unsigned long long)r->file_bytes,
		(unsigned long long)r->total_pages, (unsigned long long)r->resident_pages,
		(unsigned long long)(r->resident_pages * r->page_size), r->have_cachestat);
	if (r->have_cachestat)
		fprintf(run->out,
			"cached_pages=%llu\ndirty_pages=%llu\nwriteback_pages=%llu\n"
			"evicted_pages=%llu\nrecently_evicted_pages=%llu\n",
			(unsigned long long)r->cs_cached, (unsigned long long)r->cs_dirty,
			(unsigned long long)r->cs_writeback, (unsigned long long)r->cs_evicted,
			(unsigned long long)r->cs_recently_evicted);
	if (ranges) {
		zc_resid_format_ranges(r, ranges, 1 << 20, CTL_REPLY_MAX_RANGES);
		fprintf(run->out, "ranges=%s\n", ranges);
		free(ranges);
	}
}

/* A path in a reply: control bytes as \xNN, and with -e backslashes too (zc_ctl_escape). */
static const char *show_path(const struct zc_ctl_cmd *cmd, char *buf, size_t len, const char *path)
{
	return cmd->escaped ? zc_ctl_escape(buf, len, path) : zc_log_clean(buf, len, path);
}

static void residency_line(struct cmd_run *run, const struct zc_resid *r, const char *relpath)
{
	char clean[3 * PATH_MAX];
	int n;

	if (run->out_bytes >= CTL_REPLY_MAX_BYTES) {
		run->truncated = true;
		return;
	}
	/* a name with a newline must not make a reply line of its own; with -e the backslash is
	 * escaped too, so the client can decode every name */
	n = fprintf(run->out, "file=%llu %llu %llu %s\n", (unsigned long long)r->total_pages,
		    (unsigned long long)r->resident_pages, (unsigned long long)r->file_bytes,
		    show_path(run->cmd, clean, sizeof(clean), relpath));
	run->out_bytes += n > 0 ? (size_t)n : 0;
}

static uint64_t resident_bytes(int fd)
{
	struct zc_resid r = { 0 };
	uint64_t b = 0;

	if (zc_resid_query(fd, 0, &r) == 0)
		b = r.resident_pages * r.page_size;
	zc_resid_free(&r);
	return b;
}

/* Run the command's verb on one regular file (fd open O_RDONLY). */
static int run_file(struct cmd_run *run, int fd, const struct stat *st, const char *relpath)
{
	const struct zc_ctl_cmd *cmd = run->cmd;
	struct zc_resid r = { 0 };
	int rc;

	run->files++;
	switch (cmd->verb) {
	case ZC_CTL_RESIDENCY:
		rc = zc_resid_query(fd, cmd->recursive ? 0 : ZC_RESID_MAP, &r);
		if (rc < 0)
			return rc;
		run->pages += r.total_pages;
		run->resident_pages += r.resident_pages;
		run->file_bytes += r.file_bytes;
		if (cmd->recursive)
			residency_line(run, &r, relpath);
		else
			residency_single(run, &r);
		zc_resid_free(&r);
		return 0;
	case ZC_CTL_EVICT:
		run->before += resident_bytes(fd);
		rc = zc_cache_evict(fd);
		if (rc < 0)
			return rc;
		if (invalidate_mount_side(run->ctx, fd, st))
			run->invalidated++;
		run->after += resident_bytes(fd);
		return 0;
	case ZC_CTL_PREFETCH:
		rc = zc_cache_prefetch(fd, true);
		if (rc < 0)
			return rc;
		run->after += resident_bytes(fd);
		return 0;
	case ZC_CTL_SYNC:
		return fsync(fd) < 0 ? -errno : 0;
	case ZC_CTL_FLUSH:
		return zc_cache_flush(fd);
	default:
		return -EINVAL;
	}
}

/* A stack of directory paths still to walk (relative to the root). */
struct dirstack {
	char **v;
	size_t n, cap;
};

static int push(struct dirstack *s, const char *path)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		char **v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n] = strdup(path);
	if (!s->v[s->n])
		return -ENOMEM;
	s->n++;
	return 0;
}

/* One entry of a walked directory: a regular file gets the verb, a directory is pushed. Only
 * regular files and directories are opened (never devices or fifos), and the object opened
 * must be the one stat saw. */
static int walk_entry(struct cmd_run *run, int dfd, const char *name, const char *relpath,
		      struct dirstack *todo)
{
	struct stat seen, st;
	int fd, rc = 0;

	if (fstatat(dfd, name, &seen, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	if (S_ISDIR(seen.st_mode))
		return push(todo, relpath);
	if (!S_ISREG(seen.st_mode))
		return 0;
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return 0; /* the caller cannot read it: skipped, as a walk of their own would */
	if (fstat(fd, &st) == 0 && st.st_ino == seen.st_ino && st.st_dev == seen.st_dev &&
	    zcd_caller_may(run->req, fd, &st, verb_mask(run->cmd->verb)))
		rc = run_file(run, fd, &st, relpath);
	close(fd);
	return rc;
}

/* Walk one directory (relative path dir) of the tree. */
static int walk_dir(struct cmd_run *run, const char *dir, struct dirstack *todo)
{
	bool at_root = strcmp(dir, ".") == 0;
	char relpath[PATH_MAX];
	struct dirent *de;
	DIR *dp;
	int fd, rc = 0;

	fd = open_beneath(run->ctx, dir, O_RDONLY | O_DIRECTORY, false);
	if (fd < 0 || !(dp = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		run->dirs_skipped++;
		return 0;
	}
	while (rc == 0 && (de = readdir(dp))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (at_root && run->ctx->ctl && strcmp(de->d_name, run->ctx->opts.ctl_name) == 0)
			continue;
		if (snprintf(relpath, sizeof(relpath), "%s%s%s", at_root ? "" : dir,
			     at_root ? "" : "/", de->d_name) >= (int)sizeof(relpath)) {
			run->dirs_skipped++;
			continue;
		}
		rc = walk_entry(run, dirfd(dp), de->d_name, relpath, todo);
	}
	closedir(dp);
	return rc;
}

static int run_tree(struct cmd_run *run, const char *top)
{
	struct dirstack todo = { 0 };
	int rc = push(&todo, top);

	while (rc == 0 && todo.n) {
		char *dir = todo.v[--todo.n];
		rc = walk_dir(run, dir, &todo);
		free(dir);
	}
	while (todo.n)
		free(todo.v[--todo.n]);
	free(todo.v);
	return rc;
}

static int run_command(struct cmd_run *run)
{
	struct zcd_ctx *ctx = run->ctx;
	const struct zc_ctl_cmd *cmd = run->cmd;
	char shown[4 * PATH_MAX];
	struct stat st;
	int fd, rfd, rc;

	fd = open_beneath(ctx, cmd->path, O_PATH, true);
	if (fd < 0)
		return fd;
	rc = fstat(fd, &st) < 0 ? -errno : 0;
	if (rc == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		rc = -EINVAL; /* never open devices, fifos or sockets */
	if (rc == 0 && S_ISDIR(st.st_mode) && !cmd->recursive)
		rc = -EISDIR;
	if (rc == 0 && S_ISREG(st.st_mode) && !zcd_caller_may(run->req, fd, &st, verb_mask(cmd->verb)))
		rc = -EACCES;
	if (rc < 0 || S_ISDIR(st.st_mode)) {
		close(fd);
		if (rc == 0) {
			fprintf(run->out, "path=%s\n", show_path(cmd, shown, sizeof(shown), cmd->path));
			rc = run_tree(run, cmd->path);
		}
		return rc;
	}
	/* Reopen the object resolved above for reading (no second path walk). */
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	rfd = open(proc, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	rc = rfd < 0 ? -errno : 0;
	close(fd);
	if (rc < 0)
		return rc;
	fprintf(run->out, "path=%s\n", show_path(cmd, shown, sizeof(shown), cmd->path));
	rc = run_file(run, rfd, &st, cmd->path);
	close(rfd);
	return rc;
}

static void print_totals(struct cmd_run *run)
{
	const struct zc_ctl_cmd *cmd = run->cmd;
	unsigned long long page = (unsigned long long)sysconf(_SC_PAGESIZE);

	if (cmd->recursive && cmd->verb == ZC_CTL_RESIDENCY)
		fprintf(run->out, "files=%llu\npages=%llu\nresident_pages=%llu\nresident_bytes=%llu\nfile_bytes=%llu\n",
			(unsigned long long)run->files, (unsigned long long)run->pages,
			(unsigned long long)run->resident_pages,
			(unsigned long long)run->resident_pages * page,
			(unsigned long long)run->file_bytes);
	else if (cmd->verb == ZC_CTL_EVICT)
		fprintf(run->out, "files=%llu\nbefore_bytes=%llu\nafter_bytes=%llu\nmount_invalidated=%llu\n",
			(unsigned long long)run->files, (unsigned long long)run->before,
			(unsigned long long)run->after, (unsigned long long)run->invalidated);
	else if (cmd->verb == ZC_CTL_PREFETCH)
		fprintf(run->out, "files=%llu\nresident_bytes=%llu\n", (unsigned long long)run->files,
			(unsigned long long)run->after);
	if (cmd->recursive)
		fprintf(run->out, "dirs_skipped=%llu\ntruncated=%d\n",
			(unsigned long long)run->dirs_skipped, run->truncated);
}

/* plan status [ID] / plan cancel ID (a plan's paths come through ctl_plan.c). */
static int run_plan(fuse_req_t req, const struct zc_ctl_cmd *cmd, char **reply)
{
	char *body = NULL;
	size_t len = 0;
	FILE *out;
	int rc;

	if (cmd->plan.sub == ZC_PLAN_CANCEL) {
		rc = zcd_prefetch_cancel(req, cmd->plan.id);
		*reply = rc < 0 ? NULL : strdup("ok\n");
		return rc < 0 ? rc : *reply ? 0 : -ENOMEM;
	}
	if (cmd->plan.sub != ZC_PLAN_STATUS)
		return -EINVAL; /* a plan's first line with nothing after it */
	out = open_memstream(&body, &len);
	if (!out)
		return -ENOMEM;
	rc = zcd_prefetch_status(zcd_ctx(req), cmd->plan.id, out);
	fclose(out);
	if (rc == 0 && asprintf(reply, "ok\n%s", body ? body : "") < 0)
		rc = -ENOMEM;
	free(body);
	return rc;
}

char *zcd_ctl_execute(fuse_req_t req, const char *line, size_t len)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zc_ctl_cmd *cmd = malloc(sizeof(*cmd));
	struct cmd_run run = { .ctx = ctx, .req = req, .cmd = cmd };
	struct zcd_creds creds;
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
	if (cmd->verb == ZC_CTL_PLAN) {
		rc = run_plan(req, cmd, &reply);
		if (rc < 0) {
			snprintf(err, sizeof(err), "plan %u: %s", cmd->plan.id,
				 rc == -EPERM ? "not your plan" : strerror(-rc));
			goto out_error;
		}
		free(cmd);
		return reply;
	}
	if (cmd->verb == ZC_CTL_STATS_RESET || cmd->verb == ZC_CTL_SYNCFS) {
		if (cmd->verb == ZC_CTL_STATS_RESET)
			zc_stats_reset(ctx->stats);
		rc = cmd->verb == ZC_CTL_SYNCFS && syncfs(ctx->root_fd) < 0 ? -errno : 0;
		if (rc < 0) {
			snprintf(err, sizeof(err), "%s", strerror(-rc));
			goto out_error;
		}
		free(cmd);
		return strdup("ok\n");
	}
	run.out = open_memstream(&body, &body_len);
	if (!run.out) {
		rc = -ENOMEM;
		snprintf(err, sizeof(err), "out of memory");
		goto out_error;
	}
	/* Everything is resolved and opened as the caller: nothing is reachable that they could
	 * not reach themselves. */
	rc = zcd_creds_enter(req, &creds, true);
	if (rc == 0) {
		rc = run_command(&run);
		zcd_creds_leave(req, &creds);
	}
	if (rc == 0)
		print_totals(&run);
	fclose(run.out);
	if (rc < 0) {
		char shown[4 * 400 + 1];
		snprintf(err, sizeof(err), "%s: %s", strerror(-rc),
			 show_path(cmd, shown, sizeof(shown), cmd->path));
		goto out_error;
	}
	if (asprintf(&reply, "ok\n%s", body ? body : "") < 0)
		reply = NULL;
	free(body);
	free(cmd);
	return reply;

out_error:
	free(body);
	free(cmd);
	reply = malloc(1024);
	if (reply)
		zc_ctl_format_error(reply, 1024, -rc, err);
	return reply;
}
