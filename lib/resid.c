/* resid.c - see zc/resid.h. mincore(2) walks a read-only shared mapping of the file in bounded
 * chunks (a mapping reads nothing); cachestat(2) adds dirty/writeback/evicted counts where the
 * kernel has it (probed per call: ENOSYS means no). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "zc/resid.h"

#define RESID_CHUNK_BYTES ((size_t)1 << 30) /* address range per mincore call */

#ifndef __NR_cachestat
#if defined(__x86_64__) || defined(__aarch64__)
#define __NR_cachestat 451
#endif
#endif

struct cs_range {
	uint64_t off, len;
};
struct cs_out {
	uint64_t cached, dirty, writeback, evicted, recently_evicted;
};

static void query_cachestat(int fd, struct zc_resid *out)
{
#ifdef __NR_cachestat
	struct cs_range range = { 0, 0 }; /* len 0: to the end of the file */
	struct cs_out cs;
	if (syscall(__NR_cachestat, fd, &range, &cs, 0) == 0) {
		out->have_cachestat = true;
		out->cs_cached = cs.cached;
		out->cs_dirty = cs.dirty;
		out->cs_writeback = cs.writeback;
		out->cs_evicted = cs.evicted;
		out->cs_recently_evicted = cs.recently_evicted;
	}
#else
	(void)fd;
	(void)out;
#endif
}

int zc_resid_query(int fd, unsigned flags, struct zc_resid *out)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *vec = NULL;
	struct stat st;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	out->page_size = (uint64_t)page;
	out->file_bytes = (uint64_t)st.st_size;
	out->total_pages = ((uint64_t)st.st_size + (uint64_t)page - 1) / (uint64_t)page;
	query_cachestat(fd, out);
	if (out->total_pages == 0)
		return 0;
	if (out->have_cachestat && !(flags & (ZC_RESID_MAP | ZC_RESID_MINCORE))) {
		out->resident_pages = out->cs_cached < out->total_pages ? out->cs_cached : out->total_pages;
		return 0;
	}
	if (flags & ZC_RESID_MAP) {
		out->map = calloc(out->total_pages, 1);
		if (!out->map)
			return -ENOMEM;
	}
	vec = malloc(out->total_pages < RESID_CHUNK_BYTES / (size_t)page ? (size_t)out->total_pages
									  : RESID_CHUNK_BYTES / (size_t)page);
	if (!vec) {
		rc = -ENOMEM;
		goto out_fail;
	}
	for (uint64_t off = 0; off < (uint64_t)st.st_size; off += RESID_CHUNK_BYTES) {
		size_t len = (uint64_t)st.st_size - off < RESID_CHUNK_BYTES ? (size_t)((uint64_t)st.st_size - off)
									  : RESID_CHUNK_BYTES;
		size_t pages = (len + (size_t)page - 1) / (size_t)page;
		void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)off);
		if (m == MAP_FAILED) {
			rc = -errno;
			goto out_fail;
		}
		if (mincore(m, len, vec) < 0) {
			rc = -errno;
			munmap(m, len);
			goto out_fail;
		}
		munmap(m, len);
		for (size_t i = 0; i < pages; i++) {
			out->resident_pages += vec[i] & 1;
			if (out->map)
				out->map[off / (uint64_t)page + i] = vec[i] & 1;
		}
	}
	free(vec);
	return 0;

out_fail:
	free(vec);
	zc_resid_free(out);
	return rc;
}

void zc_resid_free(struct zc_resid *r)
{
	if (!r)
		return;
	free(r->map);
	r->map = NULL;
}

int zc_resid_format_ranges(const struct zc_resid *r, char *buf, size_t len, unsigned max_ranges)
{
	size_t pos = 0;
	unsigned ranges = 0;
	int total = 0;

	if (len)
		buf[0] = '\0';
	if (!r->map)
		return 0;
	for (uint64_t i = 0; i < r->total_pages;) {
		uint64_t j;
		if (!r->map[i]) {
			i++;
			continue;
		}
		for (j = i; j < r->total_pages && r->map[j]; j++)
			;
		uint64_t start = i * r->page_size, end = j * r->page_size;
		if (end > r->file_bytes)
			end = r->file_bytes;
		int n;
		if (ranges == max_ranges) {
			n = snprintf(buf + pos, pos < len ? len - pos : 0, ",...");
			total += n;
			break;
		}
		n = snprintf(buf + pos, pos < len ? len - pos : 0, "%s%llu-%llu", ranges ? "," : "",
			     (unsigned long long)start, (unsigned long long)end);
		total += n;
		pos = pos + (size_t)n < len ? pos + (size_t)n : len;
		ranges++;
		i = j;
	}
	return total;
}

int zc_cache_evict(int fd)
{
	int rc;

	if (fdatasync(fd) < 0 && errno != EINVAL && errno != EROFS)
		return -errno;
	rc = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	return rc ? -rc : 0;
}

int zc_cache_prefetch(int fd, bool wait)
{
	struct stat st;
	int rc;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!wait) {
		rc = posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
		return rc ? -rc : 0;
	}
	/* Reading is the only way to be sure every page is resident when we answer. */
	char *buf = malloc(1 << 20);
	if (!buf)
		return -ENOMEM;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (off_t off = 0; off < st.st_size;) {
		ssize_t n = pread(fd, buf, 1 << 20, off);
		if (n < 0) {
			rc = -errno;
			free(buf);
			return rc;
		}
		if (n == 0)
			break;
		off += n;
	}
	free(buf);
	return 0;
}

int zc_cache_flush(int fd)
{
	return sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE) < 0 ? -errno : 0;
}
