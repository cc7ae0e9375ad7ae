/* engine.c - see zc/engine.h: the dispatch table over the four read paths, fallbacks at open,
 * and the per-thread scratch buffer. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "engine_int.h"
#include "zc/fanev.h"
#include "zc/log.h"
#include "zc/stats.h"

static const struct zc_engine_ops *const engines[ZC_MODE_COUNT] = {
	[ZC_MODE_BUFFERED] = &zc_eng_buffered,
	[ZC_MODE_DIRECT] = &zc_eng_direct,
	[ZC_MODE_MMAP] = &zc_eng_mmap,
	[ZC_MODE_SPLICE] = &zc_eng_splice,
	[ZC_MODE_PASSTHROUGH] = &zc_eng_passthrough,
};

struct thread_buf {
	void *mem;
	size_t size, align;
};

static pthread_key_t buf_key;
static pthread_once_t buf_once = PTHREAD_ONCE_INIT;

static void thread_buf_free(void *p)
{
	struct thread_buf *tb = p;
	free(tb->mem);
	free(tb);
}

static void buf_key_init(void)
{
	pthread_key_create(&buf_key, thread_buf_free);
}

void *zc_thread_buf(size_t size, size_t align)
{
	struct thread_buf *tb;

	if (align < 4096)
		align = 4096;
	pthread_once(&buf_once, buf_key_init);
	tb = pthread_getspecific(buf_key);
	if (!tb) {
		tb = calloc(1, sizeof(*tb));
		if (!tb)
			return NULL;
		pthread_setspecific(buf_key, tb);
	}
	if (tb->size < size || tb->align < align) {
		void *mem;
		if (posix_memalign(&mem, align, size) != 0)
			return NULL;
		free(tb->mem);
		tb->mem = mem;
		tb->size = size;
		tb->align = align;
	}
	return tb->mem;
}

ssize_t zc_pread_full(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return done ? (ssize_t)done : -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

void zc_engine_note_fallback(struct zc_file *f, enum zc_mode from, enum zc_mode to, int err)
{
	zc_stats_fallback(f->stats, from, to);
	if (f->priv && !atomic_exchange(&f->priv->fallback_logged, true))
		zc_log(ZC_LOG_WARNING, "%s read path unavailable (%s): serving with %s",
		       zc_mode_name(from), strerror(err), zc_mode_name(to));
}

int zc_file_open(struct zc_file *f, int fd, enum zc_mode mode, const struct zc_file_opts *opts,
		 struct zc_stats *stats)
{
	int rc;

	if ((unsigned)mode >= ZC_MODE_COUNT)
		return -EINVAL;
	f->fd = fd;
	f->mode = mode;
	f->active = mode;
	f->stats = stats;
	f->opts = *opts;
	f->priv = calloc(1, sizeof(*f->priv));
	if (!f->priv)
		return -ENOMEM;
	f->priv->dfd = -1;
	pthread_mutex_init(&f->priv->lock, NULL);
	pthread_rwlock_init(&f->priv->dlock, NULL);
	rc = engines[mode]->open ? engines[mode]->open(f) : 0;
	if (rc < 0) {
		/* Explicit fallback: buffered always works; counted and logged once. */
		zc_engine_note_fallback(f, mode, ZC_MODE_BUFFERED, -rc);
		f->active = ZC_MODE_BUFFERED;
		f->fallback_err = -rc;
	}
	return 0;
}

enum zc_mode zc_file_active(const struct zc_file *f)
{
	return __atomic_load_n(&f->active, __ATOMIC_ACQUIRE);
}

int zc_file_retry(struct zc_file *f, const struct zc_file_opts *opts)
{
	int rc = 0;

	if (!f->priv)
		return -EINVAL;
	pthread_mutex_lock(&f->priv->lock);
	pthread_rwlock_wrlock(&f->priv->dlock);
	if (zc_file_active(f) != f->mode) {
		f->opts.no_extra_fd = opts->no_extra_fd;
		rc = engines[f->mode]->open ? engines[f->mode]->open(f) : 0;
		if (rc == 0) {
			f->fallback_err = 0;
			/* Publish after the engine's state: readers pick the engine by active. */
			__atomic_store_n(&f->active, f->mode, __ATOMIC_RELEASE);
		}
	}
	pthread_rwlock_unlock(&f->priv->dlock);
	pthread_mutex_unlock(&f->priv->lock);
	return rc;
}

int zc_file_drop_extra(struct zc_file *f)
{
	int fd = -1;

	if (!f->priv)
		return 0;
	pthread_mutex_lock(&f->priv->lock);
	pthread_rwlock_wrlock(&f->priv->dlock); /* waits for direct reads in flight */
	if (f->priv->dfd >= 0) {
		fd = f->priv->dfd;
		f->priv->dfd = -1;
		f->fallback_err = EMFILE;
		__atomic_store_n(&f->active, ZC_MODE_BUFFERED, __ATOMIC_RELEASE);
	}
	pthread_rwlock_unlock(&f->priv->dlock);
	pthread_mutex_unlock(&f->priv->lock);
	if (fd < 0)
		return 0;
	close(fd);
	zc_engine_note_fallback(f, f->mode, ZC_MODE_BUFFERED, EMFILE);
	return 1;
}

unsigned zc_file_extra_fds(const struct zc_file *f)
{
	return f->priv && f->priv->dfd >= 0 ? 1 : 0;
}

ssize_t zc_file_read(struct zc_file *f, off_t off, size_t len, struct zc_rdesc *rd)
{
	memset(rd, 0, sizeof(*rd));
	rd->fd = -1;
	if (off < 0)
		return -EINVAL;
	return engines[zc_file_active(f)]->read(f, off, len, rd);
}

void zc_file_read_done(struct zc_file *f, struct zc_rdesc *rd, int send_err)
{
	struct zc_hold *h = rd->hold;

	(void)f; /* may be gone already: see the contract */
	rd->hold = NULL;
	if (h)
		h->release(h);
}

ssize_t zc_file_read_copy(struct zc_file *f, struct zc_rdesc *rd)
{
	struct iovec local, remote;
	ssize_t n;
	char *buf;

	if (rd->kind != ZC_RD_MEM || !rd->hold || !rd->len)
		return (ssize_t)rd->len; /* only a mapping can lose its pages under us */
	buf = zc_thread_buf(rd->len > f->opts.max_read_bytes ? rd->len : f->opts.max_read_bytes, 0);
	if (!buf)
		return -ENOMEM;
	local = (struct iovec){ buf, rd->len };
	remote = (struct iovec){ rd->mem, rd->len };
	n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
	if (n < 0)
		n = errno == EFAULT ? 0 : -errno; /* EFAULT at the first byte: cut at the start */
	zc_file_read_done(f, rd, 0);
	rd->mem = buf;
	rd->len = n > 0 ? (size_t)n : 0;
	return n < 0 ? n : (ssize_t)rd->len;
}

void zc_drop_cache_range(int fd, off_t pos, size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	off_t start = pos & ~(off_t)(page - 1);
	off_t end = (pos + (off_t)len + page - 1) & ~(off_t)(page - 1);

	if (len)
		posix_fadvise(fd, start, end - start, POSIX_FADV_DONTNEED);
}

void zc_file_close(struct zc_file *f)
{
	if (!f || !f->priv)
		return;
	for (int m = 0; m < ZC_MODE_COUNT; m++)
		if (engines[m]->close)
			engines[m]->close(f);
	pthread_mutex_destroy(&f->priv->lock);
	pthread_rwlock_destroy(&f->priv->dlock);
	free(f->priv);
	f->priv = NULL;
}

bool zc_close_may_fail(int fd)
{
	/* Local filesystems' file_operations have no ->flush: a close there never fails. */
	struct statfs sf;

	return fstatfs(fd, &sf) < 0 || !zc_fs_is_local((unsigned long)sf.f_type);
}
