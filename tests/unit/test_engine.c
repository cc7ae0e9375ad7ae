/* test_engine.c - the four read engines against pread: aligned and unaligned ranges, EOF, empty
 * and sparse files, growth and shrinkage, mmap windows, concurrent readers, truncation during
 * mmap reads, and the O_DIRECT fallback (open(2) wrapped to refuse O_DIRECT). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "zc/engine.h"
#include "zc/stats.h"

static bool refuse_odirect;

/* Builds use _FILE_OFFSET_BITS=64, which makes open() a call to open64(). */
int __real_open64(const char *path, int flags, ...);
int __wrap_open64(const char *path, int flags, ...);
int __wrap_open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode = 0;

	va_start(ap, flags);
	if (flags & O_CREAT)
		mode = va_arg(ap, mode_t);
	va_end(ap);
	if (refuse_odirect && (flags & O_DIRECT)) {
		errno = EINVAL;
		return -1;
	}
	return __real_open64(path, flags, mode);
}

struct fixture {
	char path[64];
	int fd;
	struct zc_stats *stats;
};

static const struct zc_file_opts opts = { .max_read_bytes = 1 << 20, .mmap_window_bytes = 64 << 10 };

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	strcpy(fx->path, "/tmp/zcfs-engine-XXXXXX");
	fx->fd = mkstemp(fx->path);
	fx->stats = zc_stats_new();
	*state = fx;
	return fx->fd < 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	close(fx->fd);
	unlink(fx->path);
	zc_stats_free(fx->stats);
	free(fx);
	return 0;
}

static void fill(int fd, size_t len)
{
	char buf[8192];
	for (size_t off = 0; off < len; off += sizeof(buf)) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (char)((off + i) * 2654435761u >> 13);
		size_t n = len - off < sizeof(buf) ? len - off : sizeof(buf);
		assert_int_equal(pwrite(fd, buf, n, (off_t)off), (ssize_t)n);
	}
}

/* Read through f and compare with pread of the same range; returns the bytes described. */
static ssize_t check_range(struct zc_file *f, int fd, off_t off, size_t len)
{
	struct zc_rdesc rd;
	char *want = malloc(len + 1), *got = malloc(len + 1);
	ssize_t expect = pread(fd, want, len, off);
	ssize_t n = zc_file_read(f, off, len, &rd);

	assert_int_equal(n, expect);
	assert_int_equal(rd.len, (size_t)n);
	if (rd.kind == ZC_RD_MEM) {
		if (rd.len)
			memcpy(got, rd.mem, rd.len);
	} else {
		assert_int_equal(rd.pos, off);
		assert_int_equal(pread(rd.fd, got, rd.len, rd.pos), (ssize_t)rd.len);
	}
	assert_memory_equal(got, want, (size_t)n);
	zc_file_read_done(f, &rd, 0);
	free(want);
	free(got);
	return n;
}

static void test_engine_every_mode_matches_pread(void **state)
{
	struct fixture *fx = *state;
	fill(fx->fd, 3 * 1024 * 1024 + 123); /* odd size: the last page is partial */
	for (int m = 0; m < ZC_MODE_COUNT; m++) {
		struct zc_file f = { 0 };
		assert_int_equal(zc_file_open(&f, fx->fd, (enum zc_mode)m, &opts, fx->stats), 0);
		assert_int_equal(f.active, m); /* ext4 serves every mode */
		check_range(&f, fx->fd, 0, 4096);
		check_range(&f, fx->fd, 4096, 1 << 20);
		check_range(&f, fx->fd, 1, 1);               /* unaligned offset and length */
		check_range(&f, fx->fd, 511, 1025);
		check_range(&f, fx->fd, 65535, 70000);       /* crosses 64 KiB mmap windows */
		check_range(&f, fx->fd, 3 * 1024 * 1024, 4096); /* crosses EOF: short tail */
		assert_int_equal(check_range(&f, fx->fd, 3 * 1024 * 1024 + 123, 4096), 0); /* at EOF */
		assert_int_equal(check_range(&f, fx->fd, 10 << 20, 4096), 0);             /* past EOF */
		zc_file_close(&f);
	}
}

static void test_engine_empty_and_sparse_files(void **state)
{
	struct fixture *fx = *state;
	for (int m = 0; m < ZC_MODE_COUNT; m++) {
		struct zc_file f = { 0 };
		assert_int_equal(ftruncate(fx->fd, 0), 0);
		zc_file_open(&f, fx->fd, (enum zc_mode)m, &opts, fx->stats);
		assert_int_equal(check_range(&f, fx->fd, 0, 4096), 0);
		assert_int_equal(ftruncate(fx->fd, 8 << 20), 0); /* a hole */
		assert_int_equal(pwrite(fx->fd, "tail", 4, (8 << 20) - 4), 4);
		check_range(&f, fx->fd, 0, 1 << 20);
		check_range(&f, fx->fd, (8 << 20) - 100, 200);
		zc_file_close(&f);
	}
}

static void test_engine_grow_and_shrink_between_reads(void **state)
{
	struct fixture *fx = *state;
	for (int m = 0; m < ZC_MODE_COUNT; m++) {
		struct zc_file f = { 0 };
		assert_int_equal(ftruncate(fx->fd, 0), 0);
		fill(fx->fd, 100000);
		zc_file_open(&f, fx->fd, (enum zc_mode)m, &opts, fx->stats);
		check_range(&f, fx->fd, 0, 200000);
		fill(fx->fd, 300000); /* grows */
		assert_int_equal(check_range(&f, fx->fd, 0, 300000), 300000);
		assert_int_equal(ftruncate(fx->fd, 5000), 0); /* shrinks */
		assert_int_equal(check_range(&f, fx->fd, 0, 300000), 5000);
		assert_int_equal(check_range(&f, fx->fd, 6000, 100), 0);
		zc_file_close(&f);
	}
}

struct reader_arg {
	struct zc_file *f;
	int fd;
	unsigned seed;
	int bad;
};

static void *random_reader(void *p)
{
	struct reader_arg *a = p;
	char *want = malloc(1 << 17);
	for (int i = 0; i < 300; i++) {
		off_t off = rand_r(&a->seed) % (4 << 20);
		size_t len = 1 + (size_t)(rand_r(&a->seed) % (1 << 17));
		struct zc_rdesc rd;
		ssize_t n = zc_file_read(a->f, off, len, &rd);
		ssize_t e = pread(a->fd, want, len, off);
		if (n != e) {
			a->bad++;
		} else if (rd.kind == ZC_RD_MEM && n > 0 && memcmp(rd.mem, want, (size_t)n)) {
			a->bad++;
		}
		zc_file_read_done(a->f, &rd, 0);
	}
	free(want);
	return NULL;
}

static void test_engine_concurrent_readers_share_one_file(void **state)
{
	struct fixture *fx = *state;
	fill(fx->fd, 4 << 20);
	for (int m = 0; m < ZC_MODE_COUNT; m++) {
		struct zc_file f = { 0 };
		pthread_t t[4];
		struct reader_arg a[4];
		zc_file_open(&f, fx->fd, (enum zc_mode)m, &opts, fx->stats);
		for (int i = 0; i < 4; i++) {
			a[i] = (struct reader_arg){ &f, fx->fd, (unsigned)(i * 7 + m), 0 };
			pthread_create(&t[i], NULL, random_reader, &a[i]);
		}
		for (int i = 0; i < 4; i++) {
			pthread_join(t[i], NULL);
			assert_int_equal(a[i].bad, 0);
		}
		zc_file_close(&f);
	}
}

struct trunc_arg {
	int fd;
	volatile bool stop;
};

static void *truncator(void *p)
{
	struct trunc_arg *a = p;
	for (unsigned i = 0; !a->stop; i++)
		if (ftruncate(a->fd, (i % 2) ? (1 << 20) : 4096) < 0)
			break;
	return NULL;
}

/* Reads a pipe until it is closed, as /dev/fuse consumes replies. */
static void *drain(void *p)
{
	int fd = *(int *)p;
	char buf[65536];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	return NULL;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The SIGBUS trap: bytes described by the mmap engine vanish when another process truncates the
 * file. fs/ never touches them in user space; it hands the address to the kernel (writev on
 * /dev/fuse), where a vanished page is EFAULT. Here a pipe drained by another thread stands in
 * for /dev/fuse: EFAULTs must happen (the race is real) and the process must live through them. */
static void test_engine_mmap_survives_truncation(void **state)
{
	struct fixture *fx = *state;
	struct zc_file f = { 0 };
	struct trunc_arg ta = { fx->fd, false };
	pthread_t t, d;
	int p[2], efault = 0, reads = 0;
	uint64_t deadline = mono_ms() + 20000;

	assert_int_equal(pipe(p), 0);
	fill(fx->fd, 1 << 20);
	zc_file_open(&f, fx->fd, ZC_MODE_MMAP, &opts, fx->stats);
	pthread_create(&d, NULL, drain, &p[0]);
	pthread_create(&t, NULL, truncator, &ta);
	while ((reads < 5000 || efault < 20) && mono_ms() < deadline) {
		struct zc_rdesc rd;
		ssize_t n = zc_file_read(&f, (off_t)reads++ * 4096 % (1 << 20), 65536, &rd);
		assert_true(n >= 0 && n <= 65536);
		if (n > 0 && write(p[1], rd.mem, rd.len) < 0) {
			assert_int_equal(errno, EFAULT);
			efault++;
		}
		zc_file_read_done(&f, &rd, 0);
	}
	ta.stop = true;
	pthread_join(t, NULL);
	close(p[1]);
	pthread_join(d, NULL);
	close(p[0]);
	zc_file_close(&f);
	print_message("%d mmap reads under truncation, %d EFAULTs in the kernel copy\n", reads, efault);
	assert_true(efault > 0);
}

static void test_engine_direct_falls_back_when_refused(void **state)
{
	struct fixture *fx = *state;
	struct zc_file f = { 0 };
	struct zc_stats_snap s;

	fill(fx->fd, 1 << 20);
	refuse_odirect = true;
	assert_int_equal(zc_file_open(&f, fx->fd, ZC_MODE_DIRECT, &opts, fx->stats), 0);
	refuse_odirect = false;
	assert_int_equal(f.mode, ZC_MODE_DIRECT);
	assert_int_equal(f.active, ZC_MODE_BUFFERED);
	check_range(&f, fx->fd, 100, 300000);
	zc_stats_snapshot(fx->stats, &s);
	assert_int_equal(s.fallback[ZC_MODE_DIRECT][ZC_MODE_BUFFERED], 1);
	zc_file_close(&f);
}

/* splice: replies under two pages (and empty ones) come from memory (libfuse would copy them through a
 * posix_memalign buffer per reply, which fragmented the daemon's heap); larger ones stay
 * descriptor buffers for libfuse to splice. */
static void test_engine_splice_copies_small_replies(void **state)
{
	struct fixture *fx = *state;
	size_t two_pages = 2 * (size_t)sysconf(_SC_PAGESIZE);
	struct zc_file f = { 0 };
	struct zc_rdesc rd;

	fill(fx->fd, 4 * two_pages + 100);
	assert_int_equal(zc_file_open(&f, fx->fd, ZC_MODE_SPLICE, &opts, fx->stats), 0);
	assert_int_equal(zc_file_read(&f, 0, two_pages - 1, &rd), (ssize_t)(two_pages - 1));
	assert_int_equal(rd.kind, ZC_RD_MEM);
	zc_file_read_done(&f, &rd, 0);
	assert_int_equal(zc_file_read(&f, 4 * (off_t)two_pages, two_pages, &rd), 100); /* short tail */
	assert_int_equal(rd.kind, ZC_RD_MEM);
	zc_file_read_done(&f, &rd, 0);
	assert_int_equal(zc_file_read(&f, 5 * (off_t)two_pages, 4096, &rd), 0); /* past EOF */
	assert_int_equal(rd.kind, ZC_RD_MEM);
	zc_file_read_done(&f, &rd, 0);
	assert_int_equal(zc_file_read(&f, 0, two_pages, &rd), (ssize_t)two_pages);
	assert_int_equal(rd.kind, ZC_RD_FD);
	zc_file_read_done(&f, &rd, 0);
	check_range(&f, fx->fd, 100, 5000);
	check_range(&f, fx->fd, 4 * (off_t)two_pages, 4096);
	zc_file_close(&f);
}

static void test_engine_dio_align_reports_block_size(void **state)
{
	struct fixture *fx = *state;
	uint32_t mem = 0, off = 0;
	assert_int_equal(zc_dio_align(fx->fd, &mem, &off), 0);
	assert_true(mem >= 1 && mem <= 4096 && (mem & (mem - 1)) == 0);
	assert_true(off >= 512 && off <= 4096 && (off & (off - 1)) == 0);
}

/* close(2) never fails on tmpfs (a memfd lives there); a pipe's filesystem is not known to be
 * so, nor is anything fstatfs refuses. */
static void test_engine_close_may_fail_by_filesystem(void **state)
{
	int mfd = memfd_create("zc", 0), p[2];

	(void)state;
	assert_true(mfd >= 0);
	assert_false(zc_close_may_fail(mfd));
	assert_int_equal(pipe(p), 0);
	assert_true(zc_close_may_fail(p[0]));
	assert_true(zc_close_may_fail(-1));
	close(mfd);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_engine_every_mode_matches_pread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_empty_and_sparse_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_grow_and_shrink_between_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_concurrent_readers_share_one_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_mmap_survives_truncation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_direct_falls_back_when_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_splice_copies_small_replies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engine_dio_align_reports_block_size, setup, teardown),
		cmocka_unit_test(test_engine_close_may_fail_by_filesystem),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
