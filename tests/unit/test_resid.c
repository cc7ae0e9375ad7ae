/* test_resid.c - residency through mincore over bounded chunks, range formatting, and the cache
 * verbs (evict, prefetch, flush) on a real file. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "zc/resid.h"

static int mincore_calls;
int __real_mincore(void *addr, size_t len, unsigned char *vec);
int __wrap_mincore(void *addr, size_t len, unsigned char *vec);
int __wrap_mincore(void *addr, size_t len, unsigned char *vec)
{
	mincore_calls++;
	return __real_mincore(addr, len, vec);
}

static int tmpfile_of(size_t len, char *path)
{
	strcpy(path, "/tmp/zcfs-resid-XXXXXX");
	int fd = mkstemp(path);
	char buf[65536];
	memset(buf, 'z', sizeof(buf));
	for (size_t off = 0; off < len; off += sizeof(buf))
		assert_true(pwrite(fd, buf, len - off < sizeof(buf) ? len - off : sizeof(buf), (off_t)off) > 0);
	return fd;
}

static void test_resid_evict_read_prefetch_cycle(void **state)
{
	char path[64], buf[4096];
	int fd = tmpfile_of(16 << 20, path);
	struct zc_resid r;
	long page = sysconf(_SC_PAGESIZE);

	assert_int_equal(zc_cache_evict(fd), 0);
	assert_int_equal(zc_resid_query(fd, ZC_RESID_MAP, &r), 0);
	assert_int_equal(r.total_pages, (16 << 20) / page);
	assert_true(r.resident_pages <= r.total_pages / 100); /* ~0 after evict */
	zc_resid_free(&r);

	posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM); /* no readahead around our reads */
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	assert_int_equal(pread(fd, buf, sizeof(buf), 8 << 20), (ssize_t)sizeof(buf));
	assert_int_equal(zc_resid_query(fd, ZC_RESID_MAP, &r), 0);
	assert_true(r.map[0] == 1 && r.map[(8 << 20) / page] == 1);
	assert_true(r.resident_pages >= 2 && r.resident_pages < r.total_pages / 2);
	zc_resid_free(&r);

	assert_int_equal(zc_cache_prefetch(fd, true), 0);
	assert_int_equal(zc_resid_query(fd, 0, &r), 0);
	assert_int_equal(r.resident_pages, r.total_pages);
	assert_null(r.map);
	if (r.have_cachestat)
		assert_int_equal(r.cs_cached, r.total_pages);
	zc_resid_free(&r);
	assert_int_equal(zc_resid_query(fd, ZC_RESID_MINCORE, &r), 0); /* the same count by mincore */
	assert_int_equal(r.resident_pages, r.total_pages);
	zc_resid_free(&r);
	assert_int_equal(zc_cache_evict(fd), 0); /* both ways agree on a file partly cached */
	assert_int_equal(pread(fd, buf, sizeof(buf), 4 << 20), (ssize_t)sizeof(buf));
	{
		struct zc_resid m;
		assert_int_equal(zc_resid_query(fd, 0, &r), 0);
		assert_int_equal(zc_resid_query(fd, ZC_RESID_MINCORE, &m), 0);
		assert_true(r.resident_pages >= 1 && r.resident_pages < r.total_pages);
		assert_int_equal(r.resident_pages, m.resident_pages);
		zc_resid_free(&m);
	}
	zc_resid_free(&r);
	assert_int_equal(zc_cache_flush(fd), 0);
	close(fd);
	unlink(path);
}

static void test_resid_format_ranges(void **state)
{
	uint8_t map[] = { 1, 1, 0, 1, 0, 0, 1 };
	struct zc_resid r = { .page_size = 4096, .file_bytes = 6 * 4096 + 100, .total_pages = 7, .map = map };
	char buf[256];
	zc_resid_format_ranges(&r, buf, sizeof(buf), 100);
	assert_string_equal(buf, "0-8192,12288-16384,24576-24676");
	zc_resid_format_ranges(&r, buf, sizeof(buf), 2);
	assert_string_equal(buf, "0-8192,12288-16384,...");
	r.map = NULL;
	zc_resid_format_ranges(&r, buf, sizeof(buf), 2);
	assert_string_equal(buf, "");
}

static void test_resid_empty_file_and_directory(void **state)
{
	char path[64];
	int fd = tmpfile_of(0, path), dfd = open("/tmp", O_RDONLY | O_DIRECTORY);
	struct zc_resid r;
	assert_int_equal(zc_resid_query(fd, ZC_RESID_MAP, &r), 0);
	assert_int_equal(r.total_pages, 0);
	assert_int_equal(r.resident_pages, 0);
	zc_resid_free(&r);
	assert_int_equal(zc_resid_query(dfd, 0, &r), -EINVAL);
	close(fd);
	close(dfd);
	unlink(path);
}

static void test_resid_large_sparse_file_uses_bounded_chunks(void **state)
{
	char path[64];
	int fd = tmpfile_of(0, path);
	struct zc_resid r;
	assert_int_equal(ftruncate(fd, (off_t)10 << 30), 0); /* 10 GiB hole */
	mincore_calls = 0;
	assert_int_equal(zc_resid_query(fd, ZC_RESID_MINCORE, &r), 0);
	assert_int_equal(mincore_calls, 10); /* 1 GiB per call */
	assert_int_equal(r.total_pages, ((uint64_t)10 << 30) / r.page_size);
	assert_int_equal(r.resident_pages, 0);
	close(fd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resid_evict_read_prefetch_cycle),
		cmocka_unit_test(test_resid_format_ranges),
		cmocka_unit_test(test_resid_empty_file_and_directory),
		cmocka_unit_test(test_resid_large_sparse_file_uses_bounded_chunks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
