/* eng_splice.c - the zero-copy read path: the reply names the backing descriptor and offset, and
 * fs/ hands it to libfuse as a descriptor buffer, so the pages move file -> pipe -> /dev/fuse by
 * splice(2) without passing through user space. The length is clamped to the current EOF.
 *
 * Replies shorter than two pages (the empty ones at EOF too) are copied instead, into this
 * thread's scratch buffer. libfuse (3.14, fuse_send_data_iov) never splices those: it copies them
 * itself, into a buffer it gets from posix_memalign(pagesize, len) and frees for every such reply.
 * Memalign frees the slack before and after the aligned block, chunks of arbitrary sizes that go
 * into the worker thread's malloc tcache and are never asked for again; with one tcache per
 * worker thread, thousands of them stay scattered over the heap and pin its pages, so a daemon
 * serving many small files grew its RSS round after round of churn. The copy here is the same
 * pread and writev libfuse would do, without the allocation. */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_int.h"

static ssize_t splice_read(struct zc_file *f, off_t off, size_t len, struct zc_rdesc *rd)
{
	size_t small = 2 * (size_t)sysconf(_SC_PAGESIZE);
	struct stat st;
	void *buf;
	ssize_t n;

	if (fstat(f->fd, &st) < 0)
		return -errno;
	rd->kind = ZC_RD_FD;
	rd->fd = f->fd;
	rd->pos = off;
	rd->len = off >= st.st_size ? 0 : (size_t)(st.st_size - off) < len ? (size_t)(st.st_size - off) : len;
	if (rd->len >= small || !(buf = zc_thread_buf(small, 0)))
		return (ssize_t)rd->len;
	n = zc_pread_full(f->fd, buf, rd->len, off);
	if (n < 0)
		return n;
	rd->kind = ZC_RD_MEM;
	rd->mem = buf;
	rd->len = (size_t)n;
	return n;
}

const struct zc_engine_ops zc_eng_splice = {
	.name = "splice",
	.read = splice_read,
};
