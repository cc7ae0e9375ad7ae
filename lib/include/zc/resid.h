/* resid.h - page-cache residency of a file via mincore(2) over bounded chunks of a mapping, plus
 * cachestat(2) counts where the kernel has it; and the cache verbs (evict, prefetch, flush).
 * Thread-safe, no global state; the caller frees a result with zc_resid_free(). */
#ifndef ZC_RESID_H
#define ZC_RESID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ZC_RESID_MAP 0x1     /* keep the per-page map (1 byte per page, bit 0 = resident) */
#define ZC_RESID_MINCORE 0x2 /* count by mincore even where cachestat can (tests) */

struct zc_resid {
	uint64_t page_size;
	uint64_t file_bytes;
	uint64_t total_pages;
	uint64_t resident_pages;
	bool have_cachestat; /* the fields below are valid */
	uint64_t cs_cached, cs_dirty, cs_writeback, cs_evicted, cs_recently_evicted;
	uint8_t *map; /* total_pages bytes with ZC_RESID_MAP, else NULL */
};

/* Residency of the whole of fd (a regular file; any open mode). Does not read the file or change
 * its cache. Without ZC_RESID_MAP, where cachestat(2) works, its count alone (one system call;
 * mapping the file and unmapping it again costs a TLB shootdown on every core). Returns 0, -EINVAL (not a regular file), -ENOMEM, or another -errno. */
int zc_resid_query(int fd, unsigned flags, struct zc_resid *out);
void zc_resid_free(struct zc_resid *r);

/* Resident ranges as "start-end,start-end" in bytes (end exclusive), at most max_ranges ranges
 * (then "..."). Needs r->map. Returns the length snprintf would produce. */
int zc_resid_format_ranges(const struct zc_resid *r, char *buf, size_t len, unsigned max_ranges);

/* Write back dirty pages and wait, then POSIX_FADV_DONTNEED over the file. Returns 0 or -errno. */
int zc_cache_evict(int fd);
/* Start reading the file into the page cache (readahead(2), then POSIX_FADV_WILLNEED for the
 * rest) and wait for it to become resident when wait is true. Returns 0 or -errno. */
int zc_cache_prefetch(int fd, bool wait);
/* Start write-back of dirty pages without waiting (sync_file_range WRITE). Returns 0 or -errno. */
int zc_cache_flush(int fd);

#endif
