/* ctl.c - see ctl.h: the control directory's nodes and handles. Node addresses are the node ids.
 * A stats/config snapshot made for a stat is served by the one open that follows it within
 * SNAP_SHARE_NS, and stats within that time report its size, so st_size is the length a read
 * returns (cp and Python's shutil trust it); every other open takes a fresh snapshot. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backing.h"
#include "ctl.h"
#include "ctl_int.h"
#include "ctx.h"
#include "watch.h"
#include "handle.h"
#include "prefetch.h"
#include "req.h"
#include "zc/ctl.h"
#include "zc/log.h"
#include "zc/prom.h"

#define SNAP_SHARE_NS 250000000ull
#define CTL_WRITE_MAX 4096       /* one command */
#define CTL_PLAN_WRITE_MAX (1u << 20) /* one write of a plan's paths */

/* N_LINK: with the control files in a mount of their own (ctl_mount.h), the control entry at
 * the root is a symbolic link to it. */
enum node_kind { N_DIR = 1, N_STATS, N_JSON, N_CONFIG, N_CTL, N_LINK, N_COUNT };

struct node {
	enum node_kind kind;
	const char *name;
};

/* One rendering of a stats or config file, shared by reference. */
struct snap {
	_Atomic unsigned refs;
	bool opened;      /* served by an open already; ctl->lock */
	uint64_t made_ns;
	size_t len;
	char data[];
};

#define SNAP_PER_UID 64   /* snapshot handles one user other than the owner may hold */
#define SNAP_HOLDERS 256  /* such users at once (more: EMFILE until one closes) */

struct zcd_ctl {
	struct node nodes[N_COUNT]; /* nodes[0] unused; addresses are the node ids; immutable */
	struct timespec started;    /* immutable */
	pthread_mutex_t lock;
	struct snap *latest[N_COUNT]; /* each holds one reference; lock */
	char *side_path;            /* the control mount (ctl_mount.h), NULL: files are here */
	/* Snapshot handles other users hold (each pins its own rendering): per uid; lock. */
	struct { uid_t uid; unsigned n; } held[SNAP_HOLDERS];
};

/* A stats, stats.json or config handle: one snapshot. */
struct snap_fh {
	struct zcd_fh fh;
	struct snap *snap;
	bool charged;       /* counted in held[] for uid */
	uid_t uid;
};

/* A ctl handle: the reply of the last command written, read from its start. */
struct txn_fh {
	struct zcd_fh fh;
	pthread_mutex_t lock;
	char *reply; /* lock */
	size_t len, pos; /* lock */
	struct zcd_plan_upload *upload; /* a plan being written; lock */
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct node *node_of(const struct zcd_ctx *ctx, fuse_ino_t ino)
{
	return zcd_ctl_is_virtual(ctx, ino) ? (struct node *)(uintptr_t)ino : NULL;
}

static fuse_ino_t ino_of(const struct zcd_ctx *ctx, enum node_kind k)
{
	return (fuse_ino_t)(uintptr_t)&ctx->ctl->nodes[k];
}

int zcd_ctl_init(struct zcd_ctx *ctx)
{
	static const char *const names[N_COUNT] = { NULL, NULL, "stats", "stats.json", "config", "ctl",
						    NULL };
	struct zcd_ctl *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	for (int k = N_DIR; k < N_COUNT; k++) {
		c->nodes[k].kind = (enum node_kind)k;
		c->nodes[k].name = names[k];
	}
	clock_gettime(CLOCK_REALTIME, &c->started);
	pthread_mutex_init(&c->lock, NULL);
	ctx->ctl = c;
	return 0;
}

static void snap_unref(struct snap *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1)
		free(s);
}

void zcd_ctl_free(struct zcd_ctx *ctx)
{
	if (!ctx->ctl)
		return;
	for (int k = 0; k < N_COUNT; k++)
		snap_unref(ctx->ctl->latest[k]);
	pthread_mutex_destroy(&ctx->ctl->lock);
	free(ctx->ctl->side_path);
	free(ctx->ctl);
	ctx->ctl = NULL;
}

bool zcd_ctl_is_virtual(const struct zcd_ctx *ctx, fuse_ino_t ino)
{
	return ctx->ctl && ino >= (fuse_ino_t)(uintptr_t)&ctx->ctl->nodes[N_DIR] &&
	       ino < (fuse_ino_t)(uintptr_t)&ctx->ctl->nodes[N_COUNT];
}

bool zcd_ctl_is_name(const struct zcd_ctx *ctx, fuse_ino_t parent, const char *name)
{
	return ctx->ctl && parent == FUSE_ROOT_ID && strcmp(name, ctx->opts.ctl_name) == 0;
}

/* ---- snapshots ---- */

/* More lines after *text: the reading plans' after the counters of the Prometheus text, the
 * backing's after the options in config. */
static int append_lines(struct zcd_ctx *ctx, char **text, size_t *len,
			void (*render_more)(struct zcd_ctx *, FILE *))
{
	char *more = NULL;
	size_t mlen = 0;
	FILE *f = open_memstream(&more, &mlen);

	if (!f)
		return -ENOMEM;
	fputs(*text, f);
	render_more(ctx, f);
	if (fclose(f) != 0) {
		free(more);
		return -ENOMEM;
	}
	free(*text);
	*text = more;
	*len = mlen;
	return 0;
}

/* Every series carries the mount's labels (-o name=, -o node=; opts.h), so two mounts' stats
 * scraped together share none; the JSON says them once, as "labels". */
static int add_labels(struct zcd_ctx *ctx, enum node_kind k, char **text, size_t *len)
{
	const char *labels = ctx->opts.stats_labels ? ctx->opts.stats_labels : "";
	char *more = NULL;
	size_t mlen = 0;
	int rc;

	if (k == N_STATS) {
		rc = zc_prom_add_labels(*text, *len, labels, &more, &mlen);
	} else {
		FILE *f = open_memstream(&more, &mlen);
		rc = f ? 0 : -ENOMEM;
		if (f) {
			fputs("{\"labels\":{\"mount\":", f);
			zc_json_string(f, ctx->opts.name_label ? ctx->opts.name_label : "");
			fputs(",\"node\":", f);
			zc_json_string(f, ctx->opts.node_label ? ctx->opts.node_label : "");
			fprintf(f, "},%s", **text == '{' ? *text + 1 : *text);
			rc = fclose(f) == 0 ? 0 : -ENOMEM;
		}
	}
	if (rc < 0)
		return rc;
	free(*text);
	*text = more;
	*len = mlen;
	return 0;
}

/* Render kind into a new snapshot (one reference). */
static int render(struct zcd_ctx *ctx, enum node_kind k, struct snap **out)
{
	struct zc_stats_snap st;
	char *text = NULL;
	size_t len = 0;
	int rc = 0;

	if (k == N_CONFIG) {
		text = zcd_opts_describe(&ctx->opts);
		if (text) {
			char *more = NULL, watch[512];
			/* What the options resolved to on this machine. */
			zcd_watch_describe(ctx, watch, sizeof(watch));
			if (asprintf(&more, "%s# effective\nfd_limit=%u\nfd_reserve=%u\nfd_cache_max=%u\n"
				     "max_open_per_uid=%u\nhandles=%s\nwatching=%s\nlocks=%s\n", text,
				     ctx->fds.limit, ctx->fds.reserve, ctx->fds.cache_max,
				     ctx->fds.per_uid_max, ctx->fds.handles_ok ? "yes" : "no", watch,
				     ctx->locks_local ? "kernel" : "backing") < 0)
				more = NULL;
			free(text);
			text = more;
		}
		rc = text ? append_lines(ctx, &text, &len, zcd_backing_describe) : -ENOMEM;
	} else {
		rc = zc_stats_snapshot(ctx->stats, &st);
		if (rc == 0) {
			/* The table counts its own descriptors; read it with the snapshot. */
			pthread_mutex_lock(&ctx->tbl.lock);
			st.gauge[ZC_G_CACHED_FDS] = ctx->tbl.fds_open;
			pthread_mutex_unlock(&ctx->tbl.lock);
			rc = k == N_STATS ? zc_stats_render_prom(&st, &text, &len)
					  : zc_stats_render_json(&st, &text, &len);
			if (rc == 0 && k == N_STATS)
				rc = append_lines(ctx, &text, &len, zcd_prefetch_render_prom);
			if (rc == 0)
				rc = add_labels(ctx, k, &text, &len);
		}
	}
	if (rc < 0) {
		free(text); /* a failed append leaves what was rendered before it */
		return rc;
	}
	*out = malloc(sizeof(**out) + len + 1);
	if (!*out) {
		free(text);
		return -ENOMEM;
	}
	atomic_init(&(*out)->refs, 1);
	(*out)->made_ns = now_ns();
	(*out)->len = len;
	memcpy((*out)->data, text, len + 1);
	free(text);
	return 0;
}

/* The node's snapshot for a stat or an open (one reference for the caller): the latest if it
 * is recent enough (for an open: and no open has served it yet), else a new one that becomes
 * the latest. */
static int snap_get(struct zcd_ctx *ctx, enum node_kind k, bool for_open, struct snap **out)
{
	struct zcd_ctl *c = ctx->ctl;
	struct snap *s, *old;
	int rc;

	pthread_mutex_lock(&c->lock);
	s = c->latest[k];
	if (s && now_ns() - s->made_ns < SNAP_SHARE_NS && !(for_open && s->opened)) {
		atomic_fetch_add(&s->refs, 1);
		s->opened |= for_open;
		pthread_mutex_unlock(&c->lock);
		*out = s;
		return 0;
	}
	pthread_mutex_unlock(&c->lock);
	rc = render(ctx, k, &s);
	if (rc < 0)
		return rc;
	s->opened = for_open;
	atomic_fetch_add(&s->refs, 1); /* one for latest, one for the caller */
	pthread_mutex_lock(&c->lock);
	old = c->latest[k];
	c->latest[k] = s;
	pthread_mutex_unlock(&c->lock);
	snap_unref(old);
	*out = s;
	return 0;
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
	if (k == N_LINK) {
		st->st_mode = S_IFLNK | 0777;
		st->st_nlink = 1;
		st->st_size = (off_t)strlen(ctx->ctl->side_path);
		return;
	}
	if (k == N_DIR) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		return;
	}
	st->st_nlink = 1;
	st->st_mode = S_IFREG | (k == N_CTL ? 0600 : ctx->opts.ctl_private ? 0400 : 0444);
	if (k != N_CTL) { /* ctl's content exists only per handle, after a write */
		struct snap *s;
		if (snap_get(ctx, k, false, &s) == 0) {
			st->st_size = (off_t)s->len;
			st->st_blocks = (blkcnt_t)((s->len + 511) / 512);
			clock_gettime(CLOCK_REALTIME, &st->st_mtim);
			snap_unref(s);
		}
	}
}

static void node_entry(struct zcd_ctx *ctx, enum node_kind k, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino_of(ctx, k);
	node_stat(ctx, k, &e->attr);
	e->attr_timeout = 0;
	e->entry_timeout = ctx->opts.watch_timeout; /* the names never change */
}

void zcd_ctl_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct fuse_entry_param e;
	int k = zcd_ctl_is_name(ctx, parent, name) ? (ctx->ctl->side_path ? N_LINK : N_DIR) : N_COUNT;

	zcd_note_transport(req); /* before the snapshot a lookup's size takes */
	for (int i = N_STATS; k == N_COUNT && node_of(ctx, parent) && i <= N_CTL; i++)
		if (strcmp(name, ctx->ctl->nodes[i].name) == 0)
			k = i;
	if (k == N_COUNT)
		return zcd_reply_err(req, ZC_OP_lookup, -ENOENT);
	node_entry(ctx, (enum node_kind)k, &e);
	zcd_count_ok(req, ZC_OP_lookup);
	fuse_reply_entry(req, &e);
}

void zcd_ctl_getattr(fuse_req_t req, fuse_ino_t ino)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct stat st;

	node_stat(ctx, node_of(ctx, ino)->kind, &st);
	zcd_count_ok(req, ZC_OP_getattr);
	fuse_reply_attr(req, &st, 0);
}

/* access(2) on a control entry: its mode bits for the caller (root: read and write always,
 * execute where any x bit is set, as the kernel does). */
void zcd_ctl_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	enum node_kind k = node_of(ctx, ino)->kind;
	mode_t mode = k == N_DIR ? 0555 : k == N_LINK ? 0777 : k == N_CTL ? 0600 :
		      ctx->opts.ctl_private ? 0400 : 0444;
	unsigned bits;

	if (fc->uid == 0)
		bits = R_OK | W_OK | ((mode & 0111) ? X_OK : 0);
	else if (fc->uid == ctx->owner_uid)
		bits = (mode >> 6) & 7;
	else if (zcd_caller_in_group(req, ctx->owner_gid))
		bits = (mode >> 3) & 7;
	else
		bits = mode & 7;
	zcd_reply_status(req, ZC_OP_access, ((unsigned)mask & ~bits) ? -EACCES : 0);
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
	struct zcd_ctx *ctx = zcd_ctx(req);
	size_t n = add_entry(req, buf, size, ctx->opts.ctl_name, ctx->ctl->side_path ? N_LINK : N_DIR,
			     next_off, plus);
	return n > size ? 0 : n;
}

void zcd_ctl_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct zcd_ctx *ctx = zcd_ctx(req);

	if (node_of(ctx, ino)->kind != N_LINK)
		return zcd_reply_err(req, ZC_OP_readlink, -EINVAL);
	zcd_count_ok(req, ZC_OP_readlink);
	fuse_reply_readlink(req, ctx->ctl->side_path);
}

fuse_ino_t zcd_ctl_dir_ino(const struct zcd_ctx *ctx)
{
	return ino_of(ctx, N_DIR);
}

int zcd_ctl_set_side(struct zcd_ctx *ctx, const char *path)
{
	char *dup = strdup(path);

	if (!dup)
		return -ENOMEM;
	free(ctx->ctl->side_path);
	ctx->ctl->side_path = dup;
	return 0;
}

/* ---- the directory ---- */

void zcd_ctl_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	char *buf = malloc(size);
	size_t pos = 0;

	if (!buf)
		return zcd_reply_err(req, ZC_OP_readdir, -ENOMEM);
	/* Offsets: 0 ".", 1 "..", then the files in node order. */
	for (off_t i = off; i <= N_CTL; i++) {
		struct fuse_entry_param e = { .attr.st_mode = S_IFDIR, .attr.st_ino = 1 };
		size_t n;
		if (i == 0)
			n = add_entry(req, buf + pos, size - pos, ".", N_DIR, 1, plus);
		else if (i == 1)
			n = plus ? fuse_add_direntry_plus(req, buf + pos, size - pos, "..", &e, 2)
				 : fuse_add_direntry(req, buf + pos, size - pos, "..", &e.attr, 2);
		else if (i >= N_STATS)
			n = add_entry(req, buf + pos, size - pos, ctx->ctl->nodes[i].name,
				      (enum node_kind)i, i + 1, plus);
		else
			continue;
		if (n > size - pos)
			break;
		pos += n;
	}
	zcd_count_ok(req, ZC_OP_readdir);
	fuse_reply_buf(req, buf, pos);
	free(buf);
}

static void dir_readdir(fuse_req_t req, struct zcd_fh *fh, size_t size, off_t off, bool plus)
{
	zcd_ctl_readdir(req, 0, size, off, plus);
}

static void plain_release(struct zcd_ctx *ctx, struct zcd_fh *fh, fuse_req_t req)
{
	free(fh);
}

static const struct zcd_fh_ops dir_ops = {
	.kind = "ctl-dir",
	.readdir = dir_readdir,
	.release = plain_release,
};

/* ---- stats, stats.json, config ---- */

static void reply_slice(fuse_req_t req, const char *data, size_t len, size_t size, off_t off)
{
	size_t n = 0;

	if (off >= 0 && (size_t)off < len)
		n = len - (size_t)off < size ? len - (size_t)off : size;
	zcd_count_ok(req, ZC_OP_read);
	fuse_reply_buf(req, n ? data + off : NULL, n);
}

static void snap_read(fuse_req_t req, struct zcd_fh *fh, size_t size, off_t off)
{
	struct snap *s = ((struct snap_fh *)fh)->snap;

	/* The kernel takes the bytes inside the reply's writev and may wake the reader, whose
	 * close can release the handle on another thread before writev returns (ASan checks the
	 * buffer after the call and saw it freed): the reply holds its own reference. */
	atomic_fetch_add(&s->refs, 1);
	reply_slice(req, s->data, s->len, size, off);
	snap_unref(s);
}

/* Every open renders a snapshot of its own (a reader sees counts newer than its last open):
 * users other than the owner may hold SNAP_PER_UID of them at once, so that none can pin the
 * daemon's memory by keeping thousands open. 0 or -EMFILE. */
static int snap_charge(struct zcd_ctl *c, uid_t uid)
{
	int rc = -EMFILE, free_slot = -1;

	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < SNAP_HOLDERS; i++) {
		if (c->held[i].n && c->held[i].uid == uid) {
			if (c->held[i].n < SNAP_PER_UID) {
				c->held[i].n++;
				rc = 0;
			}
			free_slot = -2;
			break;
		}
		if (!c->held[i].n && free_slot == -1)
			free_slot = i;
	}
	if (free_slot >= 0) {
		c->held[free_slot].uid = uid;
		c->held[free_slot].n = 1;
		rc = 0;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

static void snap_uncharge(struct zcd_ctl *c, uid_t uid)
{
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < SNAP_HOLDERS; i++)
		if (c->held[i].n && c->held[i].uid == uid) {
			c->held[i].n--;
			break;
		}
	pthread_mutex_unlock(&c->lock);
}

static void snap_release(struct zcd_ctx *ctx, struct zcd_fh *fh, fuse_req_t req)
{
	struct snap_fh *s = (struct snap_fh *)fh;

	if (s->charged)
		snap_uncharge(ctx->ctl, s->uid);
	snap_unref(s->snap);
	free(fh);
}

static const struct zcd_fh_ops snap_ops = {
	.kind = "ctl-snapshot",
	.read = snap_read,
	.release = snap_release,
};

/* ---- ctl: one command per write, its reply read back ---- */

/* Replace the handle's reply. t->lock held. */
static void set_reply_locked(struct txn_fh *t, char *reply)
{
	free(t->reply);
	t->reply = reply;
	t->len = reply ? strlen(reply) : 0;
	t->pos = 0;
}

static void txn_read(fuse_req_t req, struct zcd_fh *fh, size_t size, off_t off)
{
	struct txn_fh *t = (struct txn_fh *)fh;
	char *copy = NULL;
	size_t n = 0;

	pthread_mutex_lock(&t->lock);
	if (t->upload) { /* reading ends a plan written without its empty line */
		set_reply_locked(t, zcd_plan_upload_finish(req, t->upload));
		zcd_plan_upload_free(t->upload);
		t->upload = NULL;
	}
	/* The file offset moved with the write: a transaction reads its reply from its start. */
	if (t->pos < t->len) {
		n = t->len - t->pos < size ? t->len - t->pos : size;
		copy = malloc(n);
		if (copy) {
			memcpy(copy, t->reply + t->pos, n);
			t->pos += n;
		}
	}
	pthread_mutex_unlock(&t->lock);
	if (n && !copy)
		return zcd_reply_err(req, ZC_OP_read, -ENOMEM);
	reply_slice(req, copy, n, size, 0);
	free(copy);
}

/* After "plan": "status" or "cancel", one-line commands (even when refused)? */
static bool is_plan_subcommand(const char *p, size_t len)
{
	while (len && (*p == ' ' || *p == '\t')) {
		p++;
		len--;
	}
	return (len >= 6 && (strncmp(p, "status", 6) == 0 || strncmp(p, "cancel", 6) == 0));
}

/* Is data the start of a plan ("plan" and options, no subcommand)? Then a new upload, fed with
 * what follows the first line. */
static struct zcd_plan_upload *plan_start(const char *data, size_t len, size_t *first)
{
	const char *nl = memchr(data, '\n', len);
	struct zc_ctl_cmd *cmd;
	struct zcd_plan_upload *u = NULL;
	char err[256];
	int rc;

	*first = nl ? (size_t)(nl - data) + 1 : len;
	if (len < 4 || strncmp(data, "plan", 4) != 0 || (len > 4 && data[4] != ' ' && data[4] != '\n' &&
							 data[4] != '\r' && data[4] != '\t'))
		return NULL;
	cmd = malloc(sizeof(*cmd));
	if (!cmd)
		return NULL;
	rc = zc_ctl_parse(data, *first, cmd, err, sizeof(err));
	if (rc == 0 && cmd->plan.sub == ZC_PLAN_START)
		u = zcd_plan_upload_new(cmd);
	else if (rc < 0 && !is_plan_subcommand(data + 4, *first - 4))
		u = zcd_plan_upload_refused(rc, err); /* "plan depth=0": say so, eat the paths */
	free(cmd);
	return u;
}

static void txn_write(fuse_req_t req, struct zcd_fh *fh, struct fuse_bufvec *bufv, off_t off,
		      struct fuse_file_info *fi)
{
	struct txn_fh *t = (struct txn_fh *)fh;
	size_t size = fuse_buf_size(bufv), first;
	struct fuse_bufvec dst = FUSE_BUFVEC_INIT(size);
	char *data, *reply = NULL;
	ssize_t n;

	if (size > CTL_PLAN_WRITE_MAX)
		return zcd_reply_err(req, ZC_OP_write, -EMSGSIZE);
	data = malloc(size ? size : 1);
	if (!data)
		return zcd_reply_err(req, ZC_OP_write, -ENOMEM);
	dst.buf[0].mem = data;
	n = fuse_buf_copy(&dst, bufv, 0); /* the command may arrive in a pipe (splice_read) */
	if (n < 0) {
		free(data);
		return zcd_reply_err(req, ZC_OP_write, (int)n);
	}
	pthread_mutex_lock(&t->lock);
	if (!t->upload && (t->upload = plan_start(data, (size_t)n, &first))) {
		set_reply_locked(t, NULL);
		memmove(data, data + first, (size_t)n - first);
		n -= (ssize_t)first;
	}
	if (t->upload) {
		if (zcd_plan_upload_feed(req, t->upload, data, (size_t)n, &reply)) {
			set_reply_locked(t, reply);
			zcd_plan_upload_free(t->upload);
			t->upload = NULL;
		}
	} else if ((size_t)n > CTL_WRITE_MAX) {
		pthread_mutex_unlock(&t->lock);
		free(data);
		return zcd_reply_err(req, ZC_OP_write, -EMSGSIZE);
	} else {
		pthread_mutex_unlock(&t->lock); /* commands may block on I/O */
		reply = zcd_ctl_execute(req, data, (size_t)n);
		pthread_mutex_lock(&t->lock);
		set_reply_locked(t, reply);
	}
	pthread_mutex_unlock(&t->lock);
	free(data);
	zcd_count_ok(req, ZC_OP_write);
	fuse_reply_write(req, size);
}

static void txn_release(struct zcd_ctx *ctx, struct zcd_fh *fh, fuse_req_t req)
{
	struct txn_fh *t = (struct txn_fh *)fh;

	zcd_plan_upload_free(t->upload); /* a plan never finished is no plan */
	pthread_mutex_destroy(&t->lock);
	free(t->reply);
	free(t);
}

static const struct zcd_fh_ops txn_ops = {
	.kind = "ctl",
	.read = txn_read,
	.write = txn_write,
	.release = txn_release,
};

/* ---- open ---- */

static bool caller_is_owner(fuse_req_t req)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	return fc->uid == 0 || fc->uid == zcd_ctx(req)->owner_uid;
}

void zcd_ctl_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, bool is_dir)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	enum node_kind k = node_of(ctx, ino)->kind;
	enum zc_op op = is_dir ? ZC_OP_opendir : ZC_OP_open;
	const struct zcd_fh_ops *ops;
	struct zcd_fh *fh;
	int rc;

	if (k == N_LINK) /* not followed: the kernel opens where it points */
		return zcd_reply_err(req, op, -ELOOP);
	/* The snapshot says whether requests come over io_uring: this request is one of them
	 * (zcfs_io_uring read 0 until the first read of a file or stat did). */
	zcd_note_transport(req);
	if (is_dir != (k == N_DIR))
		return zcd_reply_err(req, op, is_dir ? -ENOTDIR : -EISDIR);
	if (k == N_DIR) {
		fh = calloc(1, sizeof(*fh));
		ops = &dir_ops;
	} else if (k == N_CTL || ctx->opts.ctl_private) {
		if (!caller_is_owner(req))
			return zcd_reply_err(req, op, -EACCES);
	}
	if (k != N_DIR && k != N_CTL && (fi->flags & O_ACCMODE) != O_RDONLY)
		return zcd_reply_err(req, op, -EACCES);
	if (k == N_CTL) {
		struct txn_fh *t = calloc(1, sizeof(*t));
		if (t)
			pthread_mutex_init(&t->lock, NULL);
		fh = t ? &t->fh : NULL;
		ops = &txn_ops;
		fi->nonseekable = 1;
	} else if (k != N_DIR) {
		struct snap_fh *s = calloc(1, sizeof(*s));
		fh = s ? &s->fh : NULL;
		ops = &snap_ops;
		rc = s ? 0 : -ENOMEM;
		if (rc == 0 && !caller_is_owner(req)) {
			s->uid = fuse_req_ctx(req)->uid;
			rc = snap_charge(ctx->ctl, s->uid);
			s->charged = rc == 0;
		}
		if (rc == 0)
			rc = snap_get(ctx, k, true, &s->snap);
		if (rc < 0) {
			if (s && s->charged)
				snap_uncharge(ctx->ctl, s->uid);
			free(s);
			return zcd_reply_err(req, op, rc);
		}
	}
	if (!fh)
		return zcd_reply_err(req, op, -ENOMEM);
	fi->direct_io = k != N_DIR; /* every read comes here, whatever the kernel thinks the size is */
	fi->keep_cache = 0;
	fi->noflush = 1; /* a control file has nothing to flush: no FLUSH round trip at close */
	zcd_fh_reply_open(req, op, fh, ops, fi, NULL);
}
