/* eng_direct.c - the O_DIRECT read path: a second descriptor of the backing file opened with
 * O_DIRECT, so its page cache is neither used nor filled. Unaligned requests read the covering
 * aligned range into this thread's aligned buffer and reply with the slice asked for. Where the
 * backing filesystem refuses O_DIRECT, reads fall back to pread + POSIX_FADV_DONTNEED. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "engine_int.h"

int zc_dio_align(int fd, uint32_t *mem_align, uint32_t *off_align)
{
	struct stat st;

#if ZC_HAVE_STATX_DIOALIGN
	struct statx stx;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN)) {
		if (stx.stx_dio_mem_align == 0 || stx.stx_dio_offset_align == 0)
			return -EINVAL; /* the filesystem says: no O_DIRECT for this file */
		*mem_align = stx.stx_dio_mem_align;
		*off_align = stx.stx_dio_offset_align;
		return 0;
	}
#endif
	if (fstat(fd, &st) < 0)
		return -errno;
	*mem_align = *off_align = 512;
	/* The logical block size of the device, where the file is on a block device we can open. */
	char dev[64];
	int bfd, bs = 0;
	snprintf(dev, sizeof(dev), "/dev/block/%u:%u", major(st.st_dev), minor(st.st_dev));
	bfd = open(dev, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (bfd >= 0) {
		if (ioctl(bfd, BLKSSZGET, &bs) == 0 && bs > 0)
			*mem_align = *off_align = (uint32_t)bs;
		close(bfd);
	}
	return 0;
}

static int direct_open(struct zc_file *f)
{
	char proc[64];
	int rc;

	if (f->opts.no_extra_fd)
		return -EMFILE; /* the daemon's descriptor budget has no room for a second one */
	rc = zc_dio_align(f->fd, &f->priv->mem_align, &f->priv->off_align);
	if (rc < 0)
		return rc;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", f->fd);
	f->priv->dfd = open(proc, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (f->priv->dfd < 0)
		return -errno;
	return 0;
}

static ssize_t direct_read_locked(struct zc_file *f, off_t off, size_t len, struct zc_rdesc *rd)
{
	off_t a = f->priv->off_align, start = off & ~(a - 1);
	size_t span = (size_t)(((off + (off_t)len + a - 1) & ~(a - 1)) - start);
	size_t need = f->opts.max_read_bytes + 2 * (size_t)a;
	char *buf = zc_thread_buf(span > need ? span : need, f->priv->mem_align);
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	n = zc_pread_full(f->priv->dfd, buf, span, start);
	if (n == -EINVAL) {
		/* Refused at read time (e.g. an alignment the probe did not know): this read goes
		 * buffered and leaves no cache behind. */
		zc_engine_note_fallback(f, ZC_MODE_DIRECT, ZC_MODE_BUFFERED, EINVAL);
		n = zc_pread_full(f->fd, buf, len, off);
		if (n < 0)
			return n;
		zc_drop_cache_range(f->fd, off, (size_t)n);
		rd->kind = ZC_RD_MEM;
		rd->mem = buf;
		rd->pos = off;
		rd->len = (size_t)n;
		return n;
	}
	if (n < 0)
		return n;
	rd->kind = ZC_RD_MEM;
	rd->pos = off;
	if (n <= off - start) {
		rd->mem = buf;
		rd->len = 0;
		return 0;
	}
	rd->mem = buf + (off - start);
	rd->len = (size_t)(n - (off - start)) < len ? (size_t)(n - (off - start)) : len;
	return (ssize_t)rd->len;
}

static ssize_t direct_read(struct zc_file *f, off_t off, size_t len, struct zc_rdesc *rd)
{
	ssize_t n;

	pthread_rwlock_rdlock(&f->priv->dlock);
	if (f->priv->dfd < 0) {
		/* The descriptor was taken away (zc_file_drop_extra) after this read chose direct:
		 * serve it buffered, leaving no cache behind, as the fallback does. */
		pthread_rwlock_unlock(&f->priv->dlock);
		return zc_eng_buffered.read(f, off, len, rd);
	}
	n = direct_read_locked(f, off, len, rd);
	pthread_rwlock_unlock(&f->priv->dlock);
	return n;
}

static void direct_close(struct zc_file *f)
{
	if (f->priv->dfd >= 0)
		close(f->priv->dfd);
	f->priv->dfd = -1;
}

const struct zc_engine_ops zc_eng_direct = {
	.name = "direct",
	.open = direct_open,
	.read = direct_read,
	.close = direct_close,
};
