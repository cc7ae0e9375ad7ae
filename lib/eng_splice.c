/* eng_splice.c - the zero-copy read path: the reply names the backing descriptor and offset, and
 * fs/ hands it to libfuse as a descriptor buffer, so the pages move file -> pipe -> /dev/fuse by
 * splice(2) without passing through user space. The length is clamped to the current EOF. */
#include <errno.h>
#include <sys/stat.h>

#include "engine_int.h"

static ssize_t splice_read(struct zc_file *f, off_t off, size_t len, struct zc_rdesc *rd)
{
	struct stat st;

	if (fstat(f->fd, &st) < 0)
		return -errno;
	rd->kind = ZC_RD_FD;
	rd->fd = f->fd;
	rd->pos = off;
	rd->len = off >= st.st_size ? 0 : (size_t)(st.st_size - off) < len ? (size_t)(st.st_size - off) : len;
	return (ssize_t)rd->len;
}

const struct zc_engine_ops zc_eng_splice = {
	.name = "splice",
	.read = splice_read,
};
