/* eng_mmap.c - the mmap read path: replies are copied by the kernel straight from a shared
 * read-only mapping of the backing file (one copy, no pread). Files larger than the window are
 * mapped in windows, so a sparse 1 TiB file does not exhaust address space.
 *
 * The SIGBUS trap, and the remedy chosen: touching a mapped page past EOF after another process
 * truncated the file raises SIGBUS. The daemon never dereferences mapped bytes in user space:
 * fs/ hands the address to writev() on /dev/fuse, so the copy happens in the kernel, where a
 * vanished page is an EFAULT that the FUSE device turns into EIO for that one reader. Each read
 * also fstat()s the file and clamps to the current EOF (returning the bytes up to it) and maps a
 * new window when the size changed. No signal handler or lease is needed: handlers with
 * siglongjmp are fragile in a multi-threaded daemon, and leases (F_SETLEASE) require the daemon
 * to own the file and block other writers. Windows are refcounted so a reader on another thread
 * keeps its mapping until its reply was sent. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_int.h"

struct zc_mwin {
	struct zc_hold hold; /* first: rd->hold points here */
	char *addr;
	size_t len;       /* mapped bytes */
	off_t off;        /* file offset of addr */
	off_t file_size;  /* size when mapped */
	atomic_uint refs; /* the file's reference plus one per read in flight */
};

#define SEQ_THRESHOLD 4 /* sequential reads in a row before MADV_SEQUENTIAL */

/* Drop one reference; the last one unmaps. Needs no lock and no file: a read's reference is
 * dropped after its reply, when the file may have been closed already. */
static void win_unref(struct zc_mwin *w)
{
	if (w && atomic_fetch_sub(&w->refs, 1) == 1) {
		munmap(w->addr, w->len);
		free(w);
	}
}

static void win_release(struct zc_hold *h)
{
	win_unref((struct zc_mwin *)h);
}

/* Map a window covering [off, off+len) of a file of size bytes. */
static struct zc_mwin *win_map(struct zc_file *f, off_t off, size_t len, off_t size, int *err)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t window = f->opts.mmap_window_bytes ? f->opts.mmap_window_bytes : (size_t)1 << 30;
	struct zc_mwin *w = calloc(1, sizeof(*w));

	if (!w) {
		*err = -ENOMEM;
		return NULL;
	}
	w->off = off & ~(off_t)(page - 1);
	w->len = window > len + (size_t)(off - w->off) ? window : len + (size_t)(off - w->off);
	if ((off_t)w->len > size - w->off)
		w->len = (size_t)(size - w->off);
	w->len = (w->len + (size_t)page - 1) & ~((size_t)page - 1);
	w->file_size = size;
	w->addr = mmap(NULL, w->len, PROT_READ, MAP_SHARED, f->fd, w->off);
	if (w->addr == MAP_FAILED) {
		*err = -errno;
		free(w);
		return NULL;
	}
	w->hold.release = win_release;
	atomic_init(&w->refs, 1); /* the file's own reference */
	return w;
}

static void set_advice_locked(struct zc_file_priv *p, off_t off, size_t len)
{
	int want;

	p->seq_run = off == p->last_end ? p->seq_run + 1 : 0;
	p->last_end = off + (off_t)len;
	want = p->seq_run >= SEQ_THRESHOLD ? MADV_SEQUENTIAL : MADV_RANDOM;
	if (p->win && p->advice != want && (p->seq_run == 0 || p->seq_run == SEQ_THRESHOLD)) {
		madvise(p->win->addr, p->win->len, want);
		p->advice = want;
	}
}

static ssize_t mmap_read(struct zc_file *f, off_t off, size_t len, struct zc_rdesc *rd)
{
	struct zc_file_priv *p = f->priv;
	struct zc_mwin *w, *old = NULL, *fresh = NULL;
	struct stat st;
	int err = 0;

	if (fstat(f->fd, &st) < 0)
		return -errno;
	rd->kind = ZC_RD_MEM;
	rd->pos = off;
	if (off >= st.st_size)
		return 0; /* at or past EOF (also: the file shrank below off) */
	if ((off_t)len > st.st_size - off)
		len = (size_t)(st.st_size - off);

	pthread_mutex_lock(&p->lock);
	w = p->win;
	if (!w || w->file_size != st.st_size || off < w->off ||
	    off + (off_t)len > w->off + (off_t)w->len) {
		pthread_mutex_unlock(&p->lock);
		fresh = win_map(f, off, len, st.st_size, &err);
		if (!fresh) {
			/* cannot map (ENODEV, ENOMEM, ...): this read goes buffered */
			zc_engine_note_fallback(f, ZC_MODE_MMAP, ZC_MODE_BUFFERED, -err);
			return zc_eng_buffered.read(f, off, len, rd);
		}
		pthread_mutex_lock(&p->lock);
		old = p->win;
		p->win = fresh;
		p->advice = 0;
		w = fresh;
	}
	atomic_fetch_add(&w->refs, 1);
	set_advice_locked(p, off, len);
	pthread_mutex_unlock(&p->lock);
	win_unref(old); /* readers of the old window keep it until their replies are sent */

	rd->mem = w->addr + (off - w->off);
	rd->len = len;
	rd->hold = w;
	return (ssize_t)len;
}

static void mmap_close(struct zc_file *f)
{
	struct zc_mwin *w;

	pthread_mutex_lock(&f->priv->lock);
	w = f->priv->win;
	f->priv->win = NULL;
	pthread_mutex_unlock(&f->priv->lock);
	win_unref(w);
}

const struct zc_engine_ops zc_eng_mmap = {
	.name = "mmap",
	.read = mmap_read,
	.close = mmap_close,
};
