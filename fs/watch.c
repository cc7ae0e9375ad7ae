/* watch.c - see watch.h. fanotify: one filesystem mark per backing filesystem, events report
 * objects by file handle (the inode table's handle index finds them) and the pid of whoever made
 * the change (the daemon's own are skipped). inotify: one watch per directory the kernel knows,
 * events report a watch and a name; no pid, so the mount's own writes are told apart by their
 * stamps (cache.h). A lost event (queue overflow, a failed read) invalidates everything the
 * kernel may hold, and a watch that stops working falls back to the short timeouts. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "cache.h"
#include "ctx.h"
#include "dirlist.h"
#include "fd.h"
#include "file.h"
#include "notify.h"
#include "route.h"
#include "watch.h"
#include "zc/fanev.h"
#include "zc/log.h"

#ifndef FAN_REPORT_TARGET_FID
#define FAN_REPORT_TARGET_FID 0x00001000
#endif

#define FAN_MASK (FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_ATTRIB | \
		  FAN_MODIFY | FAN_CLOSE_WRITE | FAN_ONDIR)
#define IN_MASK (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_MODIFY | \
		 IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
#define NEG_MAX 16384   /* long-lived negative entries remembered */
#define WD_BUCKETS 4096 /* inotify: watch descriptor -> inode */
#define BUF_BYTES 65536

struct mark {
	uint64_t fsid;
	dev_t dev;
};

struct wd_node {
	struct wd_node *next;
	int wd;
	struct zcd_inode *in; /* not pinned: untrack removes the node before the entry dies */
};

struct neg {
	struct zcd_inode *dir; /* pinned */
	char *name;
};

struct zcd_watch {
	_Atomic int kind;       /* enum zcd_watch_kind; NONE after a failure */
	enum zcd_watch_kind started; /* what was set up (config shows both) */
	int fd;                 /* fanotify or inotify descriptor */
	int wake;               /* eventfd: stop */
	pthread_t thread;
	bool running;
	pid_t self;
	double entry_s, attr_s; /* timeouts where changes are reported */
	/* Filesystems marked (fanotify) or accepted (inotify): append-only, nmarks published
	 * with release order after the entry is written; writers take mark_lock. */
	pthread_mutex_t mark_lock;
	struct mark marks[ZCD_MAX_MOUNTS];
	_Atomic int nmarks;
	struct wd_node *wds[WD_BUCKETS]; /* tbl->lock */
	unsigned long nwatches;          /* tbl->lock */
	_Atomic unsigned long unwatched; /* directories inotify could not watch */
	pthread_mutex_t neg_lock;        /* negs */
	struct neg negs[NEG_MAX];
	size_t neg_head, neg_count;
	char why[256];                   /* why not fanotify (or not at all); immutable after start */
};

/* ---- coverage and timeouts ---- */

static bool dev_marked(struct zcd_watch *w, dev_t dev)
{
	int n = atomic_load_explicit(&w->nmarks, memory_order_acquire);

	for (int i = 0; i < n; i++)
		if (w->marks[i].dev == dev)
			return true;
	return false;
}

static bool fsid_dev(struct zcd_watch *w, uint64_t fsid, dev_t *dev)
{
	int n = atomic_load_explicit(&w->nmarks, memory_order_acquire);

	for (int i = 0; i < n; i++)
		if (w->marks[i].fsid == fsid) {
			*dev = w->marks[i].dev;
			return true;
		}
	return false;
}

/* Are changes to in (a directory: to its entries too) reported? tbl->lock held for inotify. */
static bool covers_locked(struct zcd_ctx *ctx, struct zcd_watch *w, struct zcd_inode *in)
{
	switch (atomic_load(&w->kind)) {
	case ZCD_WATCH_FANOTIFY:
		return (in == &ctx->root || in->fh) && dev_marked(w, in->dev);
	case ZCD_WATCH_INOTIFY:
		if (S_ISDIR(in->type))
			return in->watch_wd > 0;
		/* A file's changes are reported to its directory's watch (through that name). */
		return in->parent && in->parent->watch_wd > 0;
	default:
		return false;
	}
}

void zcd_watch_timeouts(struct zcd_ctx *ctx, struct zcd_inode *parent, struct zcd_inode *in,
			double *entry_s, double *attr_s)
{
	struct zcd_watch *w = ctx->watch;
	bool pc = false, ic = false;

	*entry_s = ctx->opts.entry_timeout;
	*attr_s = ctx->opts.attr_timeout;
	if (!w || atomic_load(&w->kind) == ZCD_WATCH_NONE)
		return;
	pthread_mutex_lock(&ctx->tbl.lock);
	pc = parent && covers_locked(ctx, w, parent);
	ic = covers_locked(ctx, w, in);
	pthread_mutex_unlock(&ctx->tbl.lock);
	if (pc)
		*entry_s = w->entry_s;
	if (ic)
		*attr_s = w->attr_s;
}

unsigned long zcd_watch_route_ttl_ms(struct zcd_ctx *ctx, struct zcd_inode *in)
{
	double entry_s, attr_s;

	zcd_watch_timeouts(ctx, NULL, in, &entry_s, &attr_s);
	return (unsigned long)(attr_s * 1000);
}

double zcd_watch_negative(struct zcd_ctx *ctx, struct zcd_inode *dir, const char *name)
{
	struct zcd_watch *w = ctx->watch;
	struct neg evicted = { NULL, NULL };
	bool covered;
	char *dup;

	if (!w || atomic_load(&w->kind) == ZCD_WATCH_NONE)
		return ctx->opts.entry_timeout;
	pthread_mutex_lock(&ctx->tbl.lock);
	covered = covers_locked(ctx, w, dir);
	pthread_mutex_unlock(&ctx->tbl.lock);
	if (!covered || !(dup = strdup(name)))
		return ctx->opts.entry_timeout;
	zcd_inode_pin(ctx, dir);
	pthread_mutex_lock(&w->neg_lock);
	if (w->neg_count == NEG_MAX) {
		evicted = w->negs[w->neg_head];
		w->neg_count--;
		w->neg_head = (w->neg_head + 1) % NEG_MAX;
	}
	w->negs[(w->neg_head + w->neg_count) % NEG_MAX] = (struct neg){ dir, dup };
	w->neg_count++;
	pthread_mutex_unlock(&w->neg_lock);
	if (evicted.dir) {
		/* No longer remembered: the kernel must not keep it past what we can invalidate. */
		zcd_notify_inval_entry(ctx, evicted.dir, evicted.name);
		zcd_inode_unpin(ctx, evicted.dir);
		free(evicted.name);
	}
	return w->entry_s;
}

/* Invalidate the negative entries remembered (after lost events, or when stopping the watch). */
static void drop_negatives(struct zcd_ctx *ctx, struct zcd_watch *w, bool notify)
{
	for (;;) {
		struct neg n;
		pthread_mutex_lock(&w->neg_lock);
		if (!w->neg_count) {
			pthread_mutex_unlock(&w->neg_lock);
			return;
		}
		n = w->negs[w->neg_head];
		w->neg_head = (w->neg_head + 1) % NEG_MAX;
		w->neg_count--;
		pthread_mutex_unlock(&w->neg_lock);
		if (notify)
			zcd_notify_inval_entry(ctx, n.dir, n.name);
		zcd_inode_unpin(ctx, n.dir);
		free(n.name);
	}
}

/* Events were lost: nothing the kernel holds can be trusted. */
static void lost_events(struct zcd_ctx *ctx, struct zcd_watch *w)
{
	zc_stats_event(ctx->stats, ZC_EV_WATCH_OVERFLOW);
	zc_log(ZC_LOG_WARNING, "change notifications lost (queue overflow): invalidating every "
	       "cached name and attribute");
	drop_negatives(ctx, w, true);
	zcd_notify_inval_all(ctx);
}

/* The watch stopped working: short timeouts from now on, and nothing cached long survives. */
static void give_up(struct zcd_ctx *ctx, struct zcd_watch *w, int err)
{
	atomic_store(&w->kind, ZCD_WATCH_NONE);
	zc_stats_gauge_add(ctx->stats, ZC_G_WATCH, -(int64_t)w->started);
	zc_log(ZC_LOG_WARNING, "change notification failed (%s): back to entry_timeout=%g and "
	       "attr_timeout=%g", strerror(-err), ctx->opts.entry_timeout, ctx->opts.attr_timeout);
	drop_negatives(ctx, w, true);
	zcd_notify_inval_all(ctx);
}

/* Drop in's inotify watch from the index (the kernel's side is removed or already gone).
 * tbl->lock held. */
static void forget_wd_locked(struct zcd_watch *w, struct zcd_inode *in)
{
	for (struct wd_node **pp = &w->wds[(unsigned)in->watch_wd % WD_BUCKETS]; *pp;
	     pp = &(*pp)->next)
		if ((*pp)->in == in) {
			struct wd_node *n = *pp;
			*pp = n->next;
			free(n);
			w->nwatches--;
			break;
		}
	in->watch_wd = 0;
}

/* ---- what a change means for the kernel's caches ---- */

/* Does the kernel already know obj as name in dir? Then an event that put obj there (a
 * creation or a rename reported after the kernel looked the name up) changes nothing it holds;
 * dropping the entry would only cost a LOOKUP (a loader listing files just written). */
static bool known_as(struct zcd_ctx *ctx, struct zcd_inode *obj, struct zcd_inode *dir,
			       const char *name)
{
	bool same;

	pthread_mutex_lock(&ctx->tbl.lock);
	same = obj->hashed && obj->nlookup && obj->parent == dir && obj->name &&
	       strcmp(obj->name, name) == 0;
	pthread_mutex_unlock(&ctx->tbl.lock);
	return same;
}

/* The object obj changed (effects fx, ZC_FAN_*); dir: its directory when the change was to a
 * name in it. Both pinned by the caller or NULL. */
static void apply(struct zcd_ctx *ctx, struct zcd_inode *dir, const char *name,
		  struct zcd_inode *obj, unsigned fx)
{
	zc_stats_event(ctx->stats, ZC_EV_WATCH_CHANGE);
	if (dir && name && strcmp(name, ".") != 0 && (fx & ZC_FAN_ENTRY) &&
	    !((fx & ZC_FAN_ADDED) && obj && known_as(ctx, obj, dir, name)))
		zcd_notify_inval_entry(ctx, dir, name);
	if (dir && (fx & ZC_FAN_DIR))
		zcd_notify_inval(ctx, dir); /* its attributes and its cached listing */
	if (!obj)
		return;
	if (fx & ZC_FAN_DATA) {
		bool cached;
		pthread_mutex_lock(&ctx->tbl.lock);
		cached = obj->data_cached;
		obj->stamp_valid = false; /* the next open compares afresh */
		pthread_mutex_unlock(&ctx->tbl.lock);
		if (cached) {
			zc_stats_event(ctx->stats, ZC_EV_EXTERNAL_CHANGE);
			zcd_notify_inval(ctx, obj);
		} else {
			zcd_notify_inval_attr(ctx, obj);
		}
	} else if (fx & ZC_FAN_ATTR) {
		zcd_notify_inval_attr(ctx, obj);
	}
	if (fx & ZC_FAN_ATTR)
		zcd_route_invalidate(ctx, obj); /* user.zcfs.* may have changed */
}

static void on_fan_event(struct zcd_ctx *ctx, struct zcd_watch *w, const struct zc_fanev *ev)
{
	struct zcd_inode *dir = NULL, *obj = NULL;
	unsigned fx = zc_fanev_effects(ev->mask);
	dev_t dev;

	if (ev->pid == w->self || !fx || !fsid_dev(w, ev->fsid, &dev))
		return;
	if (ev->dir.bytes)
		dir = zcd_inode_find_handle(ctx, dev, ev->dir.type, ev->dir.bytes, ev->dir.data);
	if (ev->obj.bytes && ev->obj.data == ev->dir.data) {
		obj = dir;
		if (obj)
			zcd_inode_pin(ctx, obj);
	} else if (ev->obj.bytes) {
		obj = zcd_inode_find_handle(ctx, dev, ev->obj.type, ev->obj.bytes, ev->obj.data);
	}
	if (dir || obj)
		apply(ctx, dir, ev->name, obj, fx);
	if (dir)
		zcd_inode_unpin(ctx, dir);
	if (obj)
		zcd_inode_unpin(ctx, obj);
}

/* One buffer of events: its length, or 0 when drained (or the watch failed: given up). */
static ssize_t read_events(struct zcd_ctx *ctx, struct zcd_watch *w, char *buf)
{
	for (;;) {
		ssize_t n = read(w->fd, buf, BUF_BYTES);
		if (n > 0)
			return n;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			give_up(ctx, w, -errno);
		return 0;
	}
}

static void read_fanotify(struct zcd_ctx *ctx, struct zcd_watch *w, char *buf)
{
	ssize_t n;

	while ((n = read_events(ctx, w, buf)) > 0) {
		struct zc_fanev ev;
		size_t off = 0;
		int rc;

		while ((rc = zc_fanev_next(buf, (size_t)n, &off, &ev)) > 0) {
			if (ev.overflow)
				lost_events(ctx, w);
			else
				on_fan_event(ctx, w, &ev);
		}
		if (rc < 0)
			lost_events(ctx, w);
	}
}

/* inotify: the child name in directory dir (pinned), found by stat: pinned, or NULL. */
static struct zcd_inode *child_of(struct zcd_ctx *ctx, struct zcd_inode *dir, const char *name,
				  struct stat *st, uint64_t *seq)
{
	struct zcd_inode *in = NULL;
	int pfd = zcd_fd_get(ctx, dir);

	if (pfd < 0)
		return NULL;
	*seq = zcd_cache_seq(ctx);
	if (fstatat(pfd, name, st, AT_SYMLINK_NOFOLLOW) == 0)
		in = zcd_inode_find(ctx, st->st_dev, st->st_ino);
	zcd_fd_put(ctx, dir);
	return in;
}

static void on_inotify_event(struct zcd_ctx *ctx, struct zcd_watch *w, const struct inotify_event *ie)
{
	struct zcd_inode *dir = NULL, *obj = NULL;
	unsigned fx = 0;
	struct stat st;
	uint64_t seq = 0;

	if (ie->mask & IN_Q_OVERFLOW)
		return lost_events(ctx, w);
	pthread_mutex_lock(&ctx->tbl.lock);
	for (struct wd_node *n = w->wds[(unsigned)ie->wd % WD_BUCKETS]; n; n = n->next)
		if (n->wd == ie->wd) {
			dir = n->in;
			if (dir != &ctx->root)
				dir->pins++;
			break;
		}
	/* The directory is gone (its backing inode evicted once no descriptor held it), its
	 * watch with it: the entry may live on in the table, the node must not. */
	if (dir && (ie->mask & IN_IGNORED))
		forget_wd_locked(w, dir);
	pthread_mutex_unlock(&ctx->tbl.lock);
	if (!dir)
		return;
	if (ie->mask & (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO))
		fx |= ZC_FAN_ENTRY | ZC_FAN_DIR | ZC_FAN_ATTR;
	if (ie->mask & (IN_CREATE | IN_MOVED_TO))
		fx |= ZC_FAN_ADDED;
	if (ie->mask & (IN_MODIFY | IN_CLOSE_WRITE))
		fx |= ZC_FAN_DATA;
	if (ie->mask & (IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF))
		fx |= ZC_FAN_ATTR;
	if (fx && ie->len && ie->name[0]) {
		obj = child_of(ctx, dir, ie->name, &st, &seq);
		/* No pid here: a write of the mount's own shows its own stamp (cache.h). */
		if (obj && (fx & ZC_FAN_DATA) && zcd_cache_is_own(ctx, obj, &st, seq))
			fx &= ~(unsigned)ZC_FAN_DATA;
		if (fx)
			apply(ctx, dir, ie->name, obj, fx);
	} else if (fx) {
		apply(ctx, NULL, NULL, dir, fx & ~(unsigned)(ZC_FAN_ENTRY | ZC_FAN_DIR));
	}
	if (obj)
		zcd_inode_unpin(ctx, obj);
	zcd_inode_unpin(ctx, dir);
}

static void read_inotify(struct zcd_ctx *ctx, struct zcd_watch *w, char *buf)
{
	ssize_t n;

	while ((n = read_events(ctx, w, buf)) > 0) {
		for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= n;) {
			const struct inotify_event *ie = (const void *)(buf + off);
			on_inotify_event(ctx, w, ie);
			off += (ssize_t)(sizeof(*ie) + ie->len);
		}
	}
}

static void *run(void *arg)
{
	struct zcd_ctx *ctx = arg;
	struct zcd_watch *w = ctx->watch;
	char *buf = aligned_alloc(8, BUF_BYTES);

	if (!buf) {
		give_up(ctx, w, -ENOMEM);
		return NULL;
	}
	while (atomic_load(&w->kind) != ZCD_WATCH_NONE) {
		struct pollfd p[2] = { { w->fd, POLLIN, 0 }, { w->wake, POLLIN, 0 } };
		int n = poll(p, 2, 1000);
		if (n < 0 && errno != EINTR) {
			give_up(ctx, w, -errno);
			break;
		}
		if (n >= 0 && p[1].revents)
			break;
		/* This is the daemon's one thread that wakes up on its own: idle implicit handles
		 * and directory cursors are closed from here. */
		if (ctx->no_open)
			zcd_file_implicit_sweep(ctx, false);
		zcd_dirlist_expire(ctx);
		if (n <= 0 || !p[0].revents)
			continue;
		/* Events come one at a time while the mount itself is busy (its own are reported too,
		 * to be skipped): a moment's wait lets them gather, one wakeup per batch instead of
		 * one per event, for 2 ms more latency. */
		usleep(2000);
		if (w->started == ZCD_WATCH_FANOTIFY)
			read_fanotify(ctx, w, buf);
		else
			read_inotify(ctx, w, buf);
	}
	free(buf);
	return NULL;
}

/* ---- setting up ---- */

/* Accept dirfd's filesystem: local, and (fanotify) marked. Returns 0 or -errno with why. */
static int add_fs(struct zcd_watch *w, int dirfd, char *why, size_t len)
{
	struct statfs sf;
	struct stat st;
	int rc = 0;

	if (fstatfs(dirfd, &sf) < 0 || fstat(dirfd, &st) < 0)
		return -errno;
	if (!zc_fs_is_local((unsigned long)sf.f_type)) {
		snprintf(why, len, "the backing filesystem (type 0x%lx) is not a local one: its files "
			 "may change where this kernel cannot see", (unsigned long)sf.f_type);
		return -EXDEV;
	}
	pthread_mutex_lock(&w->mark_lock);
	int n = atomic_load(&w->nmarks);
	for (int i = 0; i < n; i++)
		if (w->marks[i].dev == st.st_dev)
			goto out_unlock;
	if (n == ZCD_MAX_MOUNTS) {
		rc = -ENOSPC;
		goto out_unlock;
	}
	if (w->started == ZCD_WATCH_FANOTIFY &&
	    fanotify_mark(w->fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_MASK, dirfd, NULL) < 0) {
		rc = -errno;
		snprintf(why, len, "fanotify_mark of the backing filesystem: %s", strerror(errno));
		goto out_unlock;
	}
	{ /* as fanotify encodes it in events: the two words of __kernel_fsid_t */
		uint32_t v[2];
		memcpy(v, &sf.f_fsid, sizeof(v));
		w->marks[n].fsid = (uint64_t)v[0] << 32 | v[1];
	}
	w->marks[n].dev = st.st_dev;
	atomic_store_explicit(&w->nmarks, n + 1, memory_order_release);
out_unlock:
	pthread_mutex_unlock(&w->mark_lock);
	return rc;
}

static int start_fanotify(struct zcd_ctx *ctx, struct zcd_watch *w)
{
	unsigned flags = FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME | FAN_REPORT_FID |
			 FAN_REPORT_TARGET_FID | FAN_UNLIMITED_QUEUE | FAN_CLOEXEC | FAN_NONBLOCK;
	int rc;

	if (!ctx->is_root) {
		snprintf(w->why, sizeof(w->why), "fanotify needs root (CAP_SYS_ADMIN)");
		return -EPERM;
	}
	w->fd = fanotify_init(flags, O_RDONLY | O_CLOEXEC);
	if (w->fd < 0 && errno == EINVAL) /* before 5.17: no target fid for entry events */
		w->fd = fanotify_init(flags & ~(unsigned)FAN_REPORT_TARGET_FID, O_RDONLY | O_CLOEXEC);
	if (w->fd < 0) {
		rc = -errno;
		snprintf(w->why, sizeof(w->why), "fanotify_init: %s", strerror(errno));
		return rc;
	}
	w->started = ZCD_WATCH_FANOTIFY;
	rc = add_fs(w, ctx->root_fd, w->why, sizeof(w->why));
	if (rc < 0) {
		close(w->fd);
		w->fd = -1;
		w->started = ZCD_WATCH_NONE;
	}
	return rc;
}

/* The handle the kernel reports for the root directory (the table's index has the rest). */
static void root_handle(struct zcd_ctx *ctx)
{
	struct file_handle *fh = malloc(sizeof(*fh) + 128);
	int mount_id;

	if (!fh)
		return;
	fh->handle_bytes = 128;
	if (name_to_handle_at(ctx->root_fd, "", fh, &mount_id, AT_EMPTY_PATH) < 0) {
		free(fh);
		return;
	}
	free(ctx->root.fh);
	ctx->root.fh = fh;
}

static int start_inotify(struct zcd_ctx *ctx, struct zcd_watch *w)
{
	char why[sizeof(w->why)];
	int rc;

	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0)
		return -errno;
	w->started = ZCD_WATCH_INOTIFY;
	rc = add_fs(w, ctx->root_fd, why, sizeof(why));
	if (rc < 0) {
		if (w->why[0] == '\0' || rc == -EXDEV)
			snprintf(w->why, sizeof(w->why), "%s", why);
		close(w->fd);
		w->fd = -1;
		w->started = ZCD_WATCH_NONE;
	}
	return rc;
}

int zcd_watch_start(struct zcd_ctx *ctx)
{
	struct zcd_watch *w = calloc(1, sizeof(*w));
	const char *want = ctx->opts.watch_str ? ctx->opts.watch_str : "auto";
	int rc = -EINVAL;

	if (!w)
		return 0;
	w->fd = w->wake = -1;
	w->self = getpid();
	w->entry_s = ctx->opts.entry_timeout_set ? ctx->opts.entry_timeout : ctx->opts.watch_timeout;
	w->attr_s = ctx->opts.attr_timeout_set ? ctx->opts.attr_timeout : ctx->opts.watch_timeout;
	pthread_mutex_init(&w->mark_lock, NULL);
	pthread_mutex_init(&w->neg_lock, NULL);
	ctx->watch = w;
	if (strcmp(want, "none") == 0) {
		snprintf(w->why, sizeof(w->why), "-o watch=none");
		return 0;
	}
	if (strcmp(want, "inotify") != 0)
		rc = start_fanotify(ctx, w);
	if (rc < 0 && strcmp(want, "fanotify") != 0 && rc != -EXDEV)
		rc = start_inotify(ctx, w);
	if (rc == 0) {
		atomic_store(&w->kind, w->started); /* before the thread: it runs while it is set */
		if (w->started == ZCD_WATCH_FANOTIFY)
			root_handle(ctx);
		else
			zcd_watch_track(ctx, &ctx->root, ctx->root_fd);
		w->wake = eventfd(0, EFD_CLOEXEC);
		if (w->wake >= 0)
			rc = -pthread_create(&w->thread, NULL, run, ctx);
		else
			rc = -errno;
	}
	if (rc < 0) {
		atomic_store(&w->kind, ZCD_WATCH_NONE);
		if (w->fd >= 0)
			close(w->fd);
		w->fd = -1;
		w->started = ZCD_WATCH_NONE;
		zc_log(ZC_LOG_INFO, "backing changes are not watched (%s): entry_timeout=%g, "
		       "attr_timeout=%g", w->why[0] ? w->why : strerror(-rc), ctx->opts.entry_timeout,
		       ctx->opts.attr_timeout);
		return strcmp(want, "auto") == 0 ? 0 : rc;
	}
	w->running = true;
	zc_stats_gauge_add(ctx->stats, ZC_G_WATCH, (int64_t)w->started);
	return 0;
}

void zcd_watch_stop(struct zcd_ctx *ctx)
{
	struct zcd_watch *w = ctx->watch;

	if (!w)
		return;
	if (w->running) {
		uint64_t one = 1;
		if (write(w->wake, &one, sizeof(one)) < 0)
			zc_log(ZC_LOG_ERR, "stopping the watch: %s", strerror(errno));
		pthread_join(w->thread, NULL);
	}
	atomic_store(&w->kind, ZCD_WATCH_NONE);
	drop_negatives(ctx, w, false);
	pthread_mutex_lock(&ctx->tbl.lock);
	for (size_t b = 0; b < WD_BUCKETS; b++)
		while (w->wds[b]) {
			struct wd_node *n = w->wds[b];
			w->wds[b] = n->next;
			n->in->watch_wd = 0;
			free(n);
		}
	pthread_mutex_unlock(&ctx->tbl.lock);
	ctx->watch = NULL;
	if (w->fd >= 0)
		close(w->fd);
	if (w->wake >= 0)
		close(w->wake);
	pthread_mutex_destroy(&w->mark_lock);
	pthread_mutex_destroy(&w->neg_lock);
	free(w);
}

void zcd_watch_track(struct zcd_ctx *ctx, struct zcd_inode *in, int fd)
{
	struct zcd_watch *w = ctx->watch;
	struct wd_node *node;
	char proc[64];
	int wd;

	if (!w || atomic_load(&w->kind) != ZCD_WATCH_INOTIFY || !S_ISDIR(in->type) ||
	    !dev_marked(w, in->dev))
		return;
	node = malloc(sizeof(*node));
	if (!node)
		return;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	wd = inotify_add_watch(w->fd, proc, IN_MASK);
	if (wd < 0) {
		/* ENOSPC: fs.inotify.max_user_watches reached; this directory keeps short timeouts. */
		if (atomic_fetch_add(&w->unwatched, 1) == 0)
			zc_log(ZC_LOG_WARNING, "inotify_add_watch: %s: directories past this one keep "
			       "the short timeouts (raise fs.inotify.max_user_watches)", strerror(errno));
		free(node);
		return;
	}
	pthread_mutex_lock(&ctx->tbl.lock);
	if (in->watch_wd > 0) { /* already watched (the root, or a racing track) */
		pthread_mutex_unlock(&ctx->tbl.lock);
		free(node);
		return;
	}
	node->wd = wd;
	node->in = in;
	node->next = w->wds[(unsigned)wd % WD_BUCKETS];
	w->wds[(unsigned)wd % WD_BUCKETS] = node;
	in->watch_wd = wd;
	w->nwatches++;
	pthread_mutex_unlock(&ctx->tbl.lock);
}

void zcd_watch_untrack_locked(struct zcd_ctx *ctx, struct zcd_inode *in)
{
	struct zcd_watch *w = ctx->watch;
	int wd;

	if (!w || in->watch_wd <= 0)
		return;
	wd = in->watch_wd;
	forget_wd_locked(w, in);
	inotify_rm_watch(w->fd, wd); /* EINVAL if the directory went already */
}

void zcd_watch_add_fs(struct zcd_ctx *ctx, int dirfd)
{
	struct zcd_watch *w = ctx->watch;
	char why[256];

	if (w && atomic_load(&w->kind) != ZCD_WATCH_NONE && add_fs(w, dirfd, why, sizeof(why)) < 0)
		zc_log(ZC_LOG_INFO, "a filesystem below BACKING is not watched: %s", why);
}

enum zcd_watch_kind zcd_watch_kind(struct zcd_ctx *ctx)
{
	return ctx->watch ? (enum zcd_watch_kind)atomic_load(&ctx->watch->kind) : ZCD_WATCH_NONE;
}

void zcd_watch_describe(struct zcd_ctx *ctx, char *buf, size_t len)
{
	struct zcd_watch *w = ctx->watch;
	enum zcd_watch_kind k = zcd_watch_kind(ctx);
	unsigned long nw = 0;

	if (!w) {
		snprintf(buf, len, "none (not started)");
		return;
	}
	pthread_mutex_lock(&ctx->tbl.lock);
	nw = w->nwatches;
	pthread_mutex_unlock(&ctx->tbl.lock);
	if (k == ZCD_WATCH_FANOTIFY)
		snprintf(buf, len, "fanotify (filesystems marked: %d; entry_timeout=%g attr_timeout=%g "
			 "where watched)", atomic_load(&w->nmarks), w->entry_s, w->attr_s);
	else if (k == ZCD_WATCH_INOTIFY)
		snprintf(buf, len, "inotify (%lu directories watched, %lu could not be; "
			 "entry_timeout=%g attr_timeout=%g where watched; fanotify: %s)", nw,
			 (unsigned long)atomic_load(&w->unwatched), w->entry_s, w->attr_s, w->why);
	else if (w->started != ZCD_WATCH_NONE)
		snprintf(buf, len, "none (the %s watch failed; entry_timeout=%g attr_timeout=%g)",
			 w->started == ZCD_WATCH_FANOTIFY ? "fanotify" : "inotify",
			 ctx->opts.entry_timeout, ctx->opts.attr_timeout);
	else
		snprintf(buf, len, "none (%s; entry_timeout=%g attr_timeout=%g)",
			 w->why[0] ? w->why : "not available", ctx->opts.entry_timeout,
			 ctx->opts.attr_timeout);
}
