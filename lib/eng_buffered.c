/* eng_buffered.c - the buffered read path: pread from the backing file (through its page cache)
 * into this thread's scratch buffer; fs/ replies from that buffer. One CPU copy in the daemon. */
#include <errno.h>

#include "engine_int.h"

static ssize_t buffered_read(struct zc_file *f, off_t off, size_t len, struct zc_rdesc *rd)
{
	void *buf = zc_thread_buf(f->opts.max_read_bytes > len ? f->opts.max_read_bytes : len, 0);
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	n = zc_pread_full(f->fd, buf, len, off);
	if (n < 0)
		return n;
	rd->kind = ZC_RD_MEM;
	rd->mem = buf;
	rd->pos = off;
	rd->len = (size_t)n;
	/* direct mode that fell back at open: keep its promise of leaving no cache behind (the
	 * bytes are in our buffer already, so the pages can go before the reply) */
	if (f->mode == ZC_MODE_DIRECT)
		zc_drop_cache_range(f->fd, off, (size_t)n);
	return n;
}

const struct zc_engine_ops zc_eng_buffered = {
	.name = "buffered",
	.read = buffered_read,
};
