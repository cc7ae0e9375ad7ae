/* backing.c - see backing.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "backing.h"
#include "ctx.h"
#include "fd.h"
#include "inode.h"
#include "req.h"
#include "zc/log.h"
#include "zc/xstore.h"

#define STATE_NAME "xattrs"
#define STATE_MAX (16u << 20)

struct zcd_backing {
	struct zc_backcap cap;   /* immutable after init */
	struct zc_xstore *kept;  /* NULL: the backing stores xattrs; contents under lock */
	char *state_path;        /* DIR/xattrs, or NULL (memory only); immutable */
	pthread_mutex_t lock;    /* the kept store */
	pthread_mutex_t save_lock; /* writing the state file; order: save_lock before lock */
};

static int load_state(struct zcd_backing *b)
{
	char *text = NULL, err[128] = "";
	struct stat st;
	int fd, rc = 0;

	fd = open(b->state_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno; /* a first mount: nothing kept yet */
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out_close;
	}
	if (st.st_size > STATE_MAX) {
		rc = -EFBIG;
		goto out_close;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		rc = -ENOMEM;
		goto out_close;
	}
	ssize_t n = pread(fd, text, (size_t)st.st_size, 0);
	if (n < 0) {
		rc = -errno;
		goto out_free;
	}
	text[n] = '\0';
	rc = zc_xstore_load(b->kept, text, err, sizeof(err));
	if (rc == -EINVAL)
		fprintf(stderr, "zcfs: %s: %s\n", b->state_path, err);
out_free:
	free(text);
out_close:
	close(fd);
	return rc < 0 ? rc : 0;
}

/* Write the kept xattrs to the state file (a new file renamed over the old one). */
static void save_state(struct zcd_backing *b)
{
	char tmp[PATH_MAX], *text;
	size_t len;
	bool ok;
	int fd;

	if (!b->state_path)
		return;
	pthread_mutex_lock(&b->save_lock);
	pthread_mutex_lock(&b->lock);
	text = zc_xstore_dump(b->kept);
	pthread_mutex_unlock(&b->lock);
	if (!text) {
		zc_log(ZC_LOG_ERR, "%s: out of memory: kept xattrs not saved", b->state_path);
		goto out;
	}
	len = strlen(text);
	snprintf(tmp, sizeof(tmp), "%s.tmp", b->state_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out_fail;
	ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
	ok = close(fd) == 0 && ok; /* closed once, whatever happened */
	if (ok && rename(tmp, b->state_path) == 0)
		goto out_free;
out_fail:
	zc_log(ZC_LOG_ERR, "%s: cannot save kept xattrs: %s", b->state_path, strerror(errno));
	unlink(tmp);
out_free:
	free(text);
out:
	pthread_mutex_unlock(&b->save_lock);
}

int zcd_backing_init(struct zcd_ctx *ctx)
{
	struct zcd_backing *b = calloc(1, sizeof(*b));
	struct zc_backcap_line l[ZC_BACKCAP_NLINES];
	char lacking[256] = "";
	int rc, n;

	if (!b)
		return -ENOMEM;
	pthread_mutex_init(&b->lock, NULL);
	pthread_mutex_init(&b->save_lock, NULL);
	ctx->backing = b;
	rc = zc_backcap_probe(ctx->root_fd, &b->cap);
	if (rc < 0) {
		fprintf(stderr, "zcfs: cannot probe BACKING '%s': %s\n", ctx->opts.backing, strerror(-rc));
		return rc;
	}
	if (b->cap.is_remote && !ctx->opts.prefetch_depth)
		ctx->opts.prefetch_depth = ZCD_REMOTE_DEPTH;
	if (b->cap.xattrs == ZC_CAP_NO) {
		b->kept = zc_xstore_new();
		if (!b->kept)
			return -ENOMEM;
		if (ctx->opts.state_dir) {
			if (asprintf(&b->state_path, "%s/%s", ctx->opts.state_dir, STATE_NAME) < 0) {
				b->state_path = NULL;
				return -ENOMEM;
			}
			rc = load_state(b);
			if (rc < 0) {
				fprintf(stderr, "zcfs: -o state_dir: cannot load %s: %s\n", b->state_path,
					strerror(-rc));
				return rc;
			}
		}
	}
	n = zc_backcap_lines(&b->cap, NULL, l);
	for (int i = 0; i < n; i++)
		if (l[i].lacking)
			snprintf(lacking + strlen(lacking), sizeof(lacking) - strlen(lacking), " %s=%s",
				 l[i].key, l[i].value);
	/* Info, not a warning: each lack has its remedy, shown by doctor and .zcfs/config. A local
	 * backing that lacks nothing is not worth a line. */
	zc_log(lacking[0] || b->cap.is_remote ? ZC_LOG_INFO : ZC_LOG_DEBUG, "backing %s (%s%s):%s%s%s", ctx->opts.backing, b->cap.fstype,
	       b->cap.is_remote ? ", remote" : "", lacking[0] ? lacking : " nothing lacking",
	       b->kept ? (b->state_path ? "; user.zcfs.* kept in " : "; user.zcfs.* kept in memory only "
				       "(-o state_dir=DIR keeps them across mounts)") : "",
	       b->kept && b->state_path ? b->state_path : "");
	return 0;
}

void zcd_backing_free(struct zcd_ctx *ctx)
{
	struct zcd_backing *b = ctx->backing;

	if (!b)
		return;
	zc_xstore_free(b->kept);
	free(b->state_path);
	pthread_mutex_destroy(&b->lock);
	pthread_mutex_destroy(&b->save_lock);
	free(b);
	ctx->backing = NULL;
}

const struct zc_backcap *zcd_backing_cap(const struct zcd_ctx *ctx)
{
	return &ctx->backing->cap;
}

bool zcd_backing_keeps(const struct zcd_ctx *ctx, const char *name)
{
	return ctx->backing && ctx->backing->kept && zc_xstore_is_kept(name);
}

bool zcd_backing_route_attrs(struct zcd_ctx *ctx, const char *relpath, char *mode, char *cache)
{
	struct zcd_backing *b = ctx->backing;
	int n;

	if (!b || !b->kept)
		return false;
	pthread_mutex_lock(&b->lock);
	n = zc_xstore_get(b->kept, relpath, "user.zcfs.mode", mode, 31);
	mode[n > 0 ? n : 0] = '\0';
	n = zc_xstore_get(b->kept, relpath, "user.zcfs.cache", cache, 31);
	cache[n > 0 ? n : 0] = '\0';
	pthread_mutex_unlock(&b->lock);
	return true;
}

ssize_t zcd_backing_kept_xattr(fuse_req_t req, struct zcd_inode *in, enum zcd_kx_op op,
			       const char *name, void *buf, size_t size, int flags)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct zcd_backing *b = ctx->backing;
	char path[PATH_MAX];
	struct stat st;
	ssize_t rc;
	int fd;

	fd = zcd_fd_get(ctx, in);
	if (fd < 0)
		return fd;
	rc = fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	/* As the kernel's xattr_permission() for user.*: regular files and directories only; a
	 * change needs write permission (or ownership), a read read permission. */
	if (rc == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		rc = op == ZCD_KX_SET ? -EPERM : op == ZCD_KX_LIST ? 1 : -ENODATA;
	if (rc == 0 && !zcd_caller_may(req, fd, &st,
				       (op == ZCD_KX_SET || op == ZCD_KX_REMOVE) ? W_OK : R_OK))
		rc = -EACCES;
	zcd_fd_put(ctx, in);
	if (rc != 0)
		return rc > 0 ? 0 : rc;
	rc = zcd_inode_path(ctx, in, path, sizeof(path));
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&b->lock);
	switch (op) {
	case ZCD_KX_SET:
		rc = zc_xstore_set(b->kept, path, name, buf, size, flags);
		break;
	case ZCD_KX_GET:
		rc = zc_xstore_get(b->kept, path, name, buf, size);
		break;
	case ZCD_KX_LIST:
		rc = zc_xstore_list(b->kept, path, buf, size);
		break;
	case ZCD_KX_REMOVE:
		rc = zc_xstore_remove(b->kept, path, name);
		break;
	}
	pthread_mutex_unlock(&b->lock);
	if (rc >= 0 && (op == ZCD_KX_SET || op == ZCD_KX_REMOVE))
		save_state(b);
	return rc;
}

/* parent's path + "/" + name into buf ("name" below the root). */
static int child_path(struct zcd_ctx *ctx, struct zcd_inode *parent, const char *name, char *buf, size_t len)
{
	int rc = zcd_inode_path(ctx, parent, buf, len);
	size_t n;

	if (rc < 0)
		return rc;
	if (strcmp(buf, ".") == 0)
		buf[0] = '\0';
	n = strlen(buf);
	if (n + strlen(name) + 2 > len)
		return -ENAMETOOLONG;
	snprintf(buf + n, len - n, "%s%s", n ? "/" : "", name);
	return 0;
}

void zcd_backing_renamed(struct zcd_ctx *ctx, struct zcd_inode *parent, const char *name,
			 struct zcd_inode *newparent, const char *newname, unsigned flags)
{
	struct zcd_backing *b = ctx->backing;
	char from[PATH_MAX], to[PATH_MAX], tmp[PATH_MAX + 16];
	int changed = 0;

	if (!b || !b->kept || child_path(ctx, parent, name, from, sizeof(from)) < 0 ||
	    child_path(ctx, newparent, newname, to, sizeof(to)) < 0)
		return;
	pthread_mutex_lock(&b->lock);
	if (flags & RENAME_EXCHANGE) {
		/* a NUL cannot be in a path: a name nothing else has */
		snprintf(tmp, sizeof(tmp), "%s\x01xchg", from);
		changed = zc_xstore_rename(b->kept, from, tmp) > 0;
		changed |= zc_xstore_rename(b->kept, to, from) > 0;
		changed |= zc_xstore_rename(b->kept, tmp, to) > 0;
	} else {
		changed = zc_xstore_rename(b->kept, from, to) != 0 || zc_xstore_forget(b->kept, from) > 0;
	}
	pthread_mutex_unlock(&b->lock);
	if (changed)
		save_state(b);
}

void zcd_backing_removed(struct zcd_ctx *ctx, struct zcd_inode *parent, const char *name)
{
	struct zcd_backing *b = ctx->backing;
	char path[PATH_MAX];
	int gone;

	if (!b || !b->kept || child_path(ctx, parent, name, path, sizeof(path)) < 0)
		return;
	pthread_mutex_lock(&b->lock);
	gone = zc_xstore_forget(b->kept, path);
	pthread_mutex_unlock(&b->lock);
	if (gone > 0)
		save_state(b);
}

void zcd_backing_describe(struct zcd_ctx *ctx, FILE *out)
{
	struct zcd_backing *b = ctx->backing;
	char buf[1024];
	size_t kept = 0;

	if (!b)
		return;
	zc_backcap_format(&b->cap, buf, sizeof(buf));
	fputs("# backing filesystem (probed at mount; zcfsctl doctor explains)\n", out);
	fputs(buf, out);
	if (b->kept) {
		pthread_mutex_lock(&b->lock);
		kept = zc_xstore_count(b->kept);
		pthread_mutex_unlock(&b->lock);
	}
	fprintf(out, "xattr_store=%s\nxattr_kept_paths=%zu\n",
		!b->kept ? "backing" : b->state_path ? b->state_path : "memory", kept);
}
