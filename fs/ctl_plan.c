/* ctl_plan.c - a reading plan written through the ctl file: the line "plan [window=..]
 * [depth=..] [spread=..] [store=..]", then one path per line (relative to the mount root, normalised,
 * refused if it leaves it), then an empty line (or the writer starting to read the reply). Lines
 * may be split across writes. The plan goes to prefetch.c as the writer. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_int.h"
#include "ctx.h"
#include "prefetch.h"
#include "zc/ctl.h"

#define PLAN_MAX_FILES 1000000
#define PLAN_MAX_BYTES (64u << 20)

struct zcd_plan_upload {
	struct zcd_plan_req req;
	char **paths;
	size_t n, cap, bytes;
	char *partial;        /* an unfinished last line */
	size_t plen;
	unsigned lines;
	bool escaped;         /* path lines written with \xNN escapes */
	int err;              /* the first error, -errno */
	char errmsg[400];
};

struct zcd_plan_upload *zcd_plan_upload_new(const struct zc_ctl_cmd *cmd)
{
	struct zcd_plan_upload *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->req.window_bytes = cmd->plan.window_bytes;
	u->req.depth = cmd->plan.depth;
	u->req.spread = cmd->plan.spread;
	u->escaped = cmd->plan.escaped;
	u->req.store = cmd->plan.store;
	return u;
}

struct zcd_plan_upload *zcd_plan_upload_refused(int err, const char *msg)
{
	struct zcd_plan_upload *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->err = err;
	snprintf(u->errmsg, sizeof(u->errmsg), "%s", msg);
	return u;
}

void zcd_plan_upload_free(struct zcd_plan_upload *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->n; i++)
		free(u->paths[i]);
	free(u->paths);
	free(u->partial);
	free(u);
}

static void fail(struct zcd_plan_upload *u, int err, const char *fmt, const char *what)
{
	if (u->err)
		return;
	u->err = err;
	snprintf(u->errmsg, sizeof(u->errmsg), fmt, u->lines, what);
}

static void add_line(struct zcd_plan_upload *u, const char *line, size_t len, bool *end)
{
	char path[PATH_MAX];
	int rc;

	u->lines++;
	rc = zc_ctl_plan_line(line, len, u->escaped, path, sizeof(path));
	if (rc == 1) {
		*end = true;
		return;
	}
	if (rc < 0) {
		char shown[128];
		snprintf(shown, sizeof(shown), "%.*s", (int)(len > 100 ? 100 : len), line);
		fail(u, rc, rc == -EPERM ? "line %u: path '%s' leaves the mount root" : "line %u: bad path '%s'",
		     shown);
		return;
	}
	if (u->n >= PLAN_MAX_FILES || u->bytes + len > PLAN_MAX_BYTES) {
		fail(u, -E2BIG, "line %u: plan too large%s (at most 1,000,000 paths, 64 MiB)", "");
		return;
	}
	if (u->n == u->cap) {
		size_t cap = u->cap ? 2 * u->cap : 1024;
		char **v = realloc(u->paths, cap * sizeof(*v));
		if (!v) {
			fail(u, -ENOMEM, "line %u: out of memory%s", "");
			return;
		}
		u->paths = v;
		u->cap = cap;
	}
	u->paths[u->n] = strdup(path);
	if (!u->paths[u->n]) {
		fail(u, -ENOMEM, "line %u: out of memory%s", "");
		return;
	}
	u->n++;
	u->bytes += len;
}

/* Start the plan (or report why not); the reply text, malloc'ed. */
static char *commit(fuse_req_t req, struct zcd_plan_upload *u)
{
	char *reply = NULL, buf[512], why[320];
	int rc;

	if (!u->err && u->n == 0) {
		u->err = -EINVAL;
		snprintf(u->errmsg, sizeof(u->errmsg), "a plan needs at least one path (none before the empty line)");
	}
	if (u->err) {
		zc_ctl_format_error(buf, sizeof(buf), -u->err, u->errmsg);
		return strdup(buf);
	}
	why[0] = '\0';
	rc = zcd_prefetch_plan(req, u->paths, u->n, &u->req, why, sizeof(why));
	u->paths = NULL; /* taken, whatever the outcome */
	if (rc < 0) {
		zc_ctl_format_error(buf, sizeof(buf), -rc,
				    why[0] ? why : rc == -EAGAIN ? "too many plans are active (16 in all, 4 per user but root)"
				    : strerror(-rc));
		u->n = 0;
		return strdup(buf);
	}
	if (asprintf(&reply, "ok\nplan=%d\nfiles=%zu\n", rc, u->n) < 0)
		reply = NULL;
	u->n = 0;
	return reply;
}

int zcd_plan_upload_feed(fuse_req_t req, struct zcd_plan_upload *u, const char *data, size_t len,
			 char **reply)
{
	bool end = false;
	size_t i = 0;

	while (i < len && !end) {
		const char *nl = memchr(data + i, '\n', len - i);
		size_t l = nl ? (size_t)(nl - (data + i)) : len - i;
		if (!nl) { /* keep the unfinished line for the next write */
			char *p = realloc(u->partial, u->plen + l + 1);
			if (!p || u->plen + l > PATH_MAX) {
				fail(u, p ? -ENAMETOOLONG : -ENOMEM, "line %u: %s", "line too long");
				free(p ? NULL : u->partial);
				u->partial = p;
				u->plen = 0;
				break;
			}
			memcpy(p + u->plen, data + i, l);
			u->partial = p;
			u->plen += l;
			break;
		}
		if (u->plen) {
			char *p = realloc(u->partial, u->plen + l + 1);
			if (p) {
				memcpy(p + u->plen, data + i, l);
				u->partial = p;
				add_line(u, p, u->plen + l, &end);
			}
			u->plen = 0;
		} else {
			add_line(u, data + i, l, &end);
		}
		i += l + 1;
	}
	if (!end)
		return 0;
	*reply = commit(req, u);
	return 1;
}

char *zcd_plan_upload_finish(fuse_req_t req, struct zcd_plan_upload *u)
{
	bool end = false;

	if (u->plen)
		add_line(u, u->partial, u->plen, &end);
	u->plen = 0;
	return commit(req, u);
}
