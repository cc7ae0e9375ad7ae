/* zcfs_fsx.c - model-based integrity test of one file on a zcfs mount, after fsx: random
 * writes, reads, truncates (shrink and grow), fallocate (punch, extend, keep-size),
 * copy_file_range (within the file and from a second file), mmap reads and writes, fsync and
 * close/reopen, each checked against an in-memory model of the file right after it returns.
 *
 *   zcfs_fsx [-s SEED] [-n OPS] [-l MAXLEN] [-o MAXOP] [-B BACKING_FILE] [-R] [-M] [-v] FILE
 *
 * Checks: after every op the size (fstat) and the touched range plus one random range (pread);
 * the whole file every 64 ops; at each fsync op and at the end, the backing file itself (-B).
 * Every written byte is pattern(op, offset), so stale bytes from an older op or from another
 * offset do not match. Under cache=none (FOPEN_DIRECT_IO) a MAP_SHARED mapping must fail with
 * ENODEV (mmap reads then use MAP_PRIVATE and mmap writes are skipped), unless -M says the daemon
 * allows shared mappings of such files (FUSE_CAP_DIRECT_IO_ALLOW_MMAP, libfuse >= 3.16), or the
 * file is in passthrough (the mapping is the backing file's).
 *
 * Concurrent reader (-R): a forked child reads random ranges through its own descriptor while
 * the writer runs. Model and reader share a process-shared mutex; the writer changes the model
 * (before issuing the syscall) only under it and bumps seq to odd, and back to even when the
 * syscall returned. A reader holding the mutex across its pread therefore saw the file either
 * in one stable state (seq even: the bytes and the length must equal the model exactly) or
 * during exactly one op (seq odd: each byte must be the value before or after that op, and the
 * length between the two sizes). Stale page cache, a read served from the wrong offset or a lost
 * write makes it fail. In mmap read mode a read racing a shrinking truncate may get EIO (the
 * daemon replies from a mapping whose page vanished: see lib/eng_mmap.c); that is counted, any
 * other error fails.
 *
 * Exit 0 when every check passed, 1 on a mismatch or an unexpected error (the seed, the replay
 * command and the last ops are printed), 2 on usage errors. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif

enum op_kind {
	OP_WRITE,
	OP_READ,
	OP_MAPREAD,
	OP_MAPWRITE,
	OP_TRUNC,
	OP_PUNCH,
	OP_FALLOC,
	OP_COPY,
	OP_COPY2,
	OP_REOPEN,
	OP_FSYNC,
	OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
	"write", "read", "mapread", "mapwrite", "truncate", "punch",
	"falloc", "copy", "copy2", "reopen", "fsync",
};

/* Relative frequencies of the ops. */
static const unsigned op_weight[OP_COUNT] = {
	[OP_WRITE] = 20, [OP_READ] = 12, [OP_MAPREAD] = 8, [OP_MAPWRITE] = 8,
	[OP_TRUNC] = 8,  [OP_PUNCH] = 6, [OP_FALLOC] = 6,  [OP_COPY] = 8,
	[OP_COPY2] = 4,  [OP_REOPEN] = 4, [OP_FSYNC] = 3,
};

#define LOG_RING 48
#define FULL_CHECK_EVERY 64
#define SRC_OP_ID 0xfffffffu /* pattern id of the second file's bytes */

/* Shared between the writer and the reader child (MAP_SHARED|MAP_ANONYMOUS). */
struct shared {
	pthread_mutex_t lock; /* process-shared; the writer changes the model only under it */
	atomic_uint_fast64_t seq; /* 2k: state k on disk; 2k+1: op k+1 in flight */
	atomic_int stop;
	atomic_int failed;
	off_t prev_size, cur_size; /* under lock */
	off_t dirty_lo, dirty_hi;  /* where prev and cur may differ; under lock */
	int kind;                  /* op in flight (or last); under lock */
	uint64_t r_reads, r_bytes, r_exact, r_inflight, r_eio; /* reader's counters */
	char r_msg[512];
};

struct fsx {
	const char *path, *backing;
	uint64_t seed, nops, op;
	off_t maxlen;
	size_t maxop;
	int fd, src_fd;
	bool shared_mmap; /* MAP_SHARED allowed (not FOPEN_DIRECT_IO) */
	bool verbose, falloc_ok, punch_ok, copy_ok;
	char mode[32], cache[32];
	struct shared *sh;
	unsigned char *prev, *cur; /* model: cur is the file; both zero past their size */
	unsigned char *buf, *buf2;
	char ring[LOG_RING][160];
	uint64_t done[OP_COUNT], skipped[OP_COUNT];
	uint64_t rng;
	pid_t reader;
};

static uint64_t rnd(uint64_t *s)
{
	/* splitmix64: small, good enough, and identical on every machine for a seed */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t *s, uint64_t n)
{
	return n ? rnd(s) % n : 0;
}

/* The byte op `op` writes at offset off: never 0 (a hole) and different per op and offset. */
static unsigned char pattern(uint64_t op, off_t off)
{
	uint32_t x = (uint32_t)off * 0x9e3779b1u + (uint32_t)op * 0x85ebca77u + (uint32_t)(off >> 32);
	x ^= x >> 15;
	x *= 0x2c1b3c6du;
	x ^= x >> 12;
	return (unsigned char)(1 + x % 255);
}

static void fill(unsigned char *b, uint64_t op, off_t off, size_t len)
{
	for (size_t i = 0; i < len; i++)
		b[i] = pattern(op, off + (off_t)i);
}

static void logop(struct fsx *f, const char *fmt, ...)
{
	char *line = f->ring[f->op % LOG_RING];
	int n = snprintf(line, sizeof(f->ring[0]), "%" PRIu64 " ", f->op);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(f->ring[0]) - (size_t)n, fmt, ap);
	va_end(ap);
	if (f->verbose)
		printf("%s\n", line);
}

static void dump_and_fail(struct fsx *f, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL %s [mode=%s cache=%s] at op %" PRIu64 ": ", f->path, f->mode,
		f->cache, f->op);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nreplay: zcfs_fsx -s %" PRIu64 " -n %" PRIu64 " -l %lld -o %zu%s FILE\n",
		f->seed, f->op + 1, (long long)f->maxlen, f->maxop, f->reader ? " -R" : "");
	fprintf(stderr, "last ops:\n");
	for (uint64_t i = f->op + 1 > LOG_RING ? f->op + 1 - LOG_RING : 0; i <= f->op; i++)
		fprintf(stderr, "  %s\n", f->ring[i % LOG_RING]);
	if (f->reader) {
		atomic_store(&f->sh->stop, 1);
		kill(f->reader, SIGKILL);
		waitpid(f->reader, NULL, 0);
	}
	exit(1);
}

/* ---- model transitions ---- */

/* Start op: prev becomes the current state, then the caller changes cur (still under the lock,
 * released by model_publish) and issues the syscall. */
static void model_begin(struct fsx *f, int kind)
{
	struct shared *sh = f->sh;

	pthread_mutex_lock(&sh->lock);
	if (sh->dirty_hi > sh->dirty_lo)
		memcpy(f->prev + sh->dirty_lo, f->cur + sh->dirty_lo,
		       (size_t)(sh->dirty_hi - sh->dirty_lo));
	sh->prev_size = sh->cur_size;
	sh->dirty_lo = sh->dirty_hi = 0;
	sh->kind = kind;
	atomic_fetch_add(&sh->seq, 1); /* odd: in flight */
}

static void model_dirty(struct fsx *f, off_t lo, off_t hi)
{
	struct shared *sh = f->sh;

	if (hi <= lo)
		return;
	if (sh->dirty_hi <= sh->dirty_lo) {
		sh->dirty_lo = lo;
		sh->dirty_hi = hi;
		return;
	}
	if (lo < sh->dirty_lo)
		sh->dirty_lo = lo;
	if (hi > sh->dirty_hi)
		sh->dirty_hi = hi;
}

static void model_set_size(struct fsx *f, off_t size)
{
	struct shared *sh = f->sh;

	if (size < sh->cur_size) {
		memset(f->cur + size, 0, (size_t)(sh->cur_size - size));
		model_dirty(f, size, sh->cur_size);
	}
	sh->cur_size = size;
}

static void model_write(struct fsx *f, off_t off, const unsigned char *data, size_t len)
{
	memmove(f->cur + off, data, len);
	model_dirty(f, off, off + (off_t)len);
	if (off + (off_t)len > f->sh->cur_size)
		f->sh->cur_size = off + (off_t)len;
}

static void model_publish(struct fsx *f)
{
	pthread_mutex_unlock(&f->sh->lock);
}

static void model_end(struct fsx *f)
{
	atomic_fetch_add(&f->sh->seq, 1); /* even: the file is in state cur */
}

/* ---- checks ---- */

static void report_diff(struct fsx *f, const char *what, off_t off, const unsigned char *got,
			size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (got[i] != f->cur[off + (off_t)i]) {
			size_t j = i;
			while (j < len && got[j] != f->cur[off + (off_t)j])
				j++;
			dump_and_fail(f,
				      "%s: %zu bytes differ from offset %lld (first: got 0x%02x want 0x%02x, "
				      "model size %lld)",
				      what, j - i, (long long)(off + (off_t)i), got[i],
				      f->cur[off + (off_t)i], (long long)f->sh->cur_size);
		}
}

static void check_range_fd(struct fsx *f, int fd, const char *what, off_t off, size_t len)
{
	off_t size = f->sh->cur_size;
	size_t want = off >= size ? 0 : ((off_t)len > size - off ? (size_t)(size - off) : len);
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, f->buf + got, len - got, off + (off_t)got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			dump_and_fail(f, "%s: pread(%lld, %zu): %s", what, (long long)off, len,
				      strerror(errno));
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got != want)
		dump_and_fail(f, "%s: read %zu bytes at %lld, model says %zu (size %lld)", what, got,
			      (long long)off, want, (long long)size);
	report_diff(f, what, off, f->buf, got);
}

static void check_size(struct fsx *f)
{
	struct stat st;

	if (fstat(f->fd, &st) < 0)
		dump_and_fail(f, "fstat: %s", strerror(errno));
	if (st.st_size != f->sh->cur_size)
		dump_and_fail(f, "size %lld, model %lld", (long long)st.st_size,
			      (long long)f->sh->cur_size);
}

static void check_whole(struct fsx *f)
{
	check_size(f);
	for (off_t off = 0; off < f->maxlen; off += (off_t)f->maxop)
		check_range_fd(f, f->fd, "full check", off, f->maxop);
}

static void check_backing(struct fsx *f)
{
	struct stat st;
	int bfd;

	if (!f->backing)
		return;
	bfd = open(f->backing, O_RDONLY | O_CLOEXEC);
	if (bfd < 0)
		dump_and_fail(f, "open backing %s: %s", f->backing, strerror(errno));
	if (fstat(bfd, &st) < 0 || st.st_size != f->sh->cur_size)
		dump_and_fail(f, "backing size %lld, model %lld", (long long)st.st_size,
			      (long long)f->sh->cur_size);
	for (off_t off = 0; off < f->maxlen; off += (off_t)f->maxop)
		check_range_fd(f, bfd, "backing check", off, f->maxop);
	close(bfd);
}

/* ---- I/O helpers that fail the run on errors ---- */

static void pwrite_all(struct fsx *f, int fd, const unsigned char *b, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, b, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			dump_and_fail(f, "pwrite(%lld, %zu): %s", (long long)off, len,
				      n < 0 ? strerror(errno) : "wrote 0");
		b += n;
		off += n;
		len -= (size_t)n;
	}
}

static void do_open(struct fsx *f)
{
	f->fd = open(f->path, O_RDWR | O_CLOEXEC);
	if (f->fd < 0)
		dump_and_fail(f, "open %s: %s", f->path, strerror(errno));
}

static void copy_all(struct fsx *f, int in, off_t src, off_t dst, size_t len)
{
	off_t s = src, d = dst;
	size_t left = len;

	while (left) {
		ssize_t n = copy_file_range(in, &s, f->fd, &d, left, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			dump_and_fail(f, "copy_file_range(%lld -> %lld, %zu): %s", (long long)src,
				      (long long)dst, len, n < 0 ? strerror(errno) : "copied 0");
		left -= (size_t)n;
	}
}

/* ---- ops ---- */

static void pick_range(struct fsx *f, off_t limit, off_t *off, size_t *len)
{
	if (limit <= 0) {
		*off = 0;
		*len = 0;
		return;
	}
	*off = (off_t)below(&f->rng, (uint64_t)limit);
	*len = 1 + (size_t)below(&f->rng, f->maxop);
	if (*off + (off_t)*len > limit)
		*len = (size_t)(limit - *off);
}

static void op_write(struct fsx *f, off_t *lo, off_t *hi)
{
	off_t off;
	size_t len;

	pick_range(f, f->maxlen, &off, &len);
	fill(f->buf2, f->op, off, len);
	logop(f, "write %lld %zu (size %lld)", (long long)off, len, (long long)f->sh->cur_size);
	model_begin(f, OP_WRITE);
	model_write(f, off, f->buf2, len);
	model_publish(f);
	pwrite_all(f, f->fd, f->buf2, len, off);
	*lo = off;
	*hi = off + (off_t)len;
}

static void op_read(struct fsx *f, off_t *lo, off_t *hi)
{
	off_t off;
	size_t len;

	pick_range(f, f->sh->cur_size + (off_t)f->maxop / 4, &off, &len);
	logop(f, "read %lld %zu (size %lld)", (long long)off, len, (long long)f->sh->cur_size);
	check_range_fd(f, f->fd, "read", off, len);
	*lo = *hi = 0;
}

static void op_mapread(struct fsx *f, off_t *lo, off_t *hi)
{
	off_t size = f->sh->cur_size, off;
	size_t len;
	void *m;

	*lo = *hi = 0;
	if (size == 0) {
		f->skipped[OP_MAPREAD]++;
		return;
	}
	pick_range(f, size, &off, &len);
	logop(f, "mapread %lld %zu (size %lld, %s)", (long long)off, len, (long long)size,
	      f->shared_mmap ? "shared" : "private");
	m = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, f->fd, 0);
	if (!f->shared_mmap) {
		if (m != MAP_FAILED)
			dump_and_fail(f, "MAP_SHARED of a cache=none (direct_io) file succeeded");
		if (errno != ENODEV)
			dump_and_fail(f, "MAP_SHARED under cache=none: %s, want ENODEV",
				      strerror(errno));
		m = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, f->fd, 0);
	}
	if (m == MAP_FAILED)
		dump_and_fail(f, "mmap(%lld): %s", (long long)size, strerror(errno));
	report_diff(f, "mapread", off, (unsigned char *)m + off, len);
	munmap(m, (size_t)size);
}

static void op_mapwrite(struct fsx *f, off_t *lo, off_t *hi)
{
	off_t off, size = f->sh->cur_size, newsize;
	size_t len;
	unsigned char *m;

	*lo = *hi = 0;
	if (!f->shared_mmap) {
		f->skipped[OP_MAPWRITE]++;
		return;
	}
	pick_range(f, f->maxlen, &off, &len);
	newsize = off + (off_t)len > size ? off + (off_t)len : size;
	fill(f->buf2, f->op, off, len);
	logop(f, "mapwrite %lld %zu (size %lld -> %lld)", (long long)off, len, (long long)size,
	      (long long)newsize);
	model_begin(f, OP_MAPWRITE);
	model_write(f, off, f->buf2, len);
	model_publish(f);
	if (newsize > size && ftruncate(f->fd, newsize) < 0)
		dump_and_fail(f, "mapwrite: ftruncate(%lld): %s", (long long)newsize, strerror(errno));
	m = mmap(NULL, (size_t)newsize, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
	if (m == MAP_FAILED)
		dump_and_fail(f, "mmap shared rw(%lld): %s", (long long)newsize, strerror(errno));
	memcpy(m + off, f->buf2, len);
	if (msync(m, (size_t)newsize, MS_SYNC) < 0)
		dump_and_fail(f, "msync: %s", strerror(errno));
	munmap(m, (size_t)newsize);
	*lo = off;
	*hi = off + (off_t)len;
}

static void op_trunc(struct fsx *f, off_t *lo, off_t *hi)
{
	off_t size = f->sh->cur_size;
	/* a third of the time near the current size, to hit partial pages around EOF */
	off_t newsize = below(&f->rng, 3) == 0 && size > 0
				? size - (off_t)below(&f->rng, (uint64_t)(size < 8192 ? size : 8192))
				: (off_t)below(&f->rng, (uint64_t)f->maxlen + 1);

	logop(f, "truncate %lld -> %lld", (long long)size, (long long)newsize);
	model_begin(f, OP_TRUNC);
	model_set_size(f, newsize);
	model_publish(f);
	if (ftruncate(f->fd, newsize) < 0)
		dump_and_fail(f, "ftruncate(%lld): %s", (long long)newsize, strerror(errno));
	*lo = newsize > 4096 ? newsize - 4096 : 0;
	*hi = newsize + 4096;
}

static void op_punch(struct fsx *f, off_t *lo, off_t *hi)
{
	off_t size = f->sh->cur_size, off;
	size_t len;

	*lo = *hi = 0;
	if (!f->punch_ok || size == 0) {
		f->skipped[OP_PUNCH]++;
		return;
	}
	pick_range(f, size, &off, &len);
	logop(f, "punch %lld %zu (size %lld)", (long long)off, len, (long long)size);
	model_begin(f, OP_PUNCH);
	memset(f->buf2, 0, len);
	model_write(f, off, f->buf2, len); /* within size: does not extend */
	model_publish(f);
	if (fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, (off_t)len) < 0)
		dump_and_fail(f, "fallocate punch(%lld, %zu): %s", (long long)off, len,
			      strerror(errno));
	*lo = off;
	*hi = off + (off_t)len;
}

static void op_falloc(struct fsx *f, off_t *lo, off_t *hi)
{
	off_t size = f->sh->cur_size, off;
	size_t len;
	bool keep = below(&f->rng, 2) == 0;

	*lo = *hi = 0;
	if (!f->falloc_ok) {
		f->skipped[OP_FALLOC]++;
		return;
	}
	pick_range(f, f->maxlen, &off, &len);
	logop(f, "falloc%s %lld %zu (size %lld)", keep ? " keep_size" : "", (long long)off, len,
	      (long long)size);
	model_begin(f, OP_FALLOC);
	if (!keep && off + (off_t)len > size)
		model_set_size(f, off + (off_t)len); /* new bytes read as zeros */
	model_publish(f);
	if (fallocate(f->fd, keep ? FALLOC_FL_KEEP_SIZE : 0, off, (off_t)len) < 0)
		dump_and_fail(f, "fallocate(%s%lld, %zu): %s", keep ? "keep_size, " : "",
			      (long long)off, len, strerror(errno));
	*lo = off > 4096 ? off - 4096 : 0;
	*hi = off + (off_t)len + 4096;
}

static void op_copy(struct fsx *f, off_t *lo, off_t *hi)
{
	off_t size = f->sh->cur_size, src, dst;
	size_t len;

	*lo = *hi = 0;
	if (!f->copy_ok || size == 0) {
		f->skipped[OP_COPY]++;
		return;
	}
	pick_range(f, size, &src, &len);
	/* a destination that does not overlap the source, within maxlen */
	for (int tries = 0;; tries++) {
		dst = (off_t)below(&f->rng, (uint64_t)(f->maxlen - (off_t)len + 1));
		if (dst + (off_t)len <= src || dst >= src + (off_t)len)
			break;
		if (tries == 8) {
			f->skipped[OP_COPY]++;
			return;
		}
	}
	logop(f, "copy %lld -> %lld %zu (size %lld)", (long long)src, (long long)dst, len,
	      (long long)size);
	memcpy(f->buf2, f->cur + src, len);
	model_begin(f, OP_COPY);
	model_write(f, dst, f->buf2, len);
	model_publish(f);
	copy_all(f, f->fd, src, dst, len);
	*lo = dst;
	*hi = dst + (off_t)len;
}

static void op_copy2(struct fsx *f, off_t *lo, off_t *hi)
{
	off_t src, dst;
	size_t len;

	*lo = *hi = 0;
	if (!f->copy_ok || f->src_fd < 0) {
		f->skipped[OP_COPY2]++;
		return;
	}
	pick_range(f, f->maxlen, &dst, &len);
	src = (off_t)below(&f->rng, f->maxop - len + 1); /* the second file holds maxop bytes */
	fill(f->buf2, SRC_OP_ID, src, len);
	logop(f, "copy2 src %lld -> %lld %zu (size %lld)", (long long)src, (long long)dst, len,
	      (long long)f->sh->cur_size);
	model_begin(f, OP_COPY2);
	model_write(f, dst, f->buf2, len);
	model_publish(f);
	copy_all(f, f->src_fd, src, dst, len);
	*lo = dst;
	*hi = dst + (off_t)len;
}

static void op_reopen(struct fsx *f, off_t *lo, off_t *hi)
{
	logop(f, "reopen");
	if (close(f->fd) < 0)
		dump_and_fail(f, "close: %s", strerror(errno));
	do_open(f);
	*lo = 0;
	*hi = 4096;
}

static void op_fsync(struct fsx *f, off_t *lo, off_t *hi)
{
	logop(f, "fsync + backing check");
	if (fsync(f->fd) < 0)
		dump_and_fail(f, "fsync: %s", strerror(errno));
	check_backing(f);
	*lo = *hi = 0;
}

typedef void (*op_fn)(struct fsx *, off_t *, off_t *);
static const op_fn op_table[OP_COUNT] = {
	op_write, op_read, op_mapread, op_mapwrite, op_trunc, op_punch,
	op_falloc, op_copy, op_copy2, op_reopen, op_fsync,
};

/* ---- the concurrent reader ---- */

static void reader_fail(struct shared *sh, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sh->r_msg, sizeof(sh->r_msg), fmt, ap);
	va_end(ap);
	atomic_store(&sh->failed, 1);
}

static void reader_main(struct fsx *f, uint64_t seed)
{
	struct shared *sh = f->sh;
	unsigned char *buf = malloc(f->maxop);
	uint64_t rng = seed ^ 0x5a5a5a5a5a5a5a5aull;
	bool mmap_mode = strcmp(f->mode, "mmap") == 0;
	int fd = open(f->path, O_RDONLY | O_CLOEXEC);

	if (!buf || fd < 0) {
		reader_fail(sh, "reader: open %s: %s", f->path, strerror(errno));
		_exit(1);
	}
	while (!atomic_load(&sh->stop)) {
		off_t off = (off_t)below(&rng, (uint64_t)f->maxlen), lo, hi;
		size_t len = 1 + (size_t)below(&rng, f->maxop / 2), got = 0;
		uint64_t v;
		int err = 0;

		if (below(&rng, 200) == 0) { /* sometimes a fresh open (routing, cache policy) */
			close(fd);
			fd = open(f->path, O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				reader_fail(sh, "reader: reopen: %s", strerror(errno));
				break;
			}
		}
		pthread_mutex_lock(&sh->lock);
		v = atomic_load(&sh->seq);
		while (got < len) {
			ssize_t n = pread(fd, buf + got, len - got, off + (off_t)got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				err = errno;
				break;
			}
			if (n == 0)
				break;
			got += (size_t)n;
		}
		sh->r_reads++;
		if (err) {
			/* Only a read racing a shrinking truncate in mmap mode may fail (EIO). */
			bool shrink = (v & 1) && sh->cur_size < sh->prev_size;
			if (err == EIO && mmap_mode && shrink) {
				sh->r_eio++;
				pthread_mutex_unlock(&sh->lock);
				continue;
			}
			reader_fail(sh, "reader: pread(%lld, %zu) at seq %" PRIu64 " (%s in flight: %s): %s",
				    (long long)off, len, v, op_names[sh->kind], (v & 1) ? "yes" : "no",
				    strerror(err));
			pthread_mutex_unlock(&sh->lock);
			break;
		}
		if (!(v & 1)) {
			/* stable: exactly cur */
			off_t size = sh->cur_size;
			size_t want = off >= size ? 0 : ((off_t)len > size - off ? (size_t)(size - off) : len);
			if (got != want) {
				reader_fail(sh, "reader: read %zu at %lld, stable size %lld wants %zu (seq %" PRIu64 ")",
					    got, (long long)off, (long long)size, want, v);
				pthread_mutex_unlock(&sh->lock);
				break;
			}
			for (size_t i = 0; i < got; i++)
				if (buf[i] != f->cur[off + (off_t)i]) {
					reader_fail(sh, "reader: byte %lld is 0x%02x, stable state has 0x%02x (seq %" PRIu64 ", last op %s)",
						    (long long)(off + (off_t)i), buf[i],
						    f->cur[off + (off_t)i], v, op_names[sh->kind]);
					break;
				}
			sh->r_exact++;
		} else {
			/* one op in flight: each byte before or after it, length between both sizes */
			off_t smin = sh->prev_size < sh->cur_size ? sh->prev_size : sh->cur_size;
			off_t smax = sh->prev_size < sh->cur_size ? sh->cur_size : sh->prev_size;
			lo = off >= smin ? 0 : ((off_t)len > smin - off ? smin - off : (off_t)len);
			hi = off >= smax ? 0 : ((off_t)len > smax - off ? smax - off : (off_t)len);
			if ((off_t)got < lo || (off_t)got > hi) {
				reader_fail(sh, "reader: read %zu at %lld during %s, sizes %lld..%lld",
					    got, (long long)off, op_names[sh->kind], (long long)smin,
					    (long long)smax);
				pthread_mutex_unlock(&sh->lock);
				break;
			}
			for (size_t i = 0; i < got; i++) {
				off_t x = off + (off_t)i;
				if (buf[i] != f->cur[x] && buf[i] != f->prev[x]) {
					reader_fail(sh, "reader: byte %lld is 0x%02x during %s, before 0x%02x after 0x%02x",
						    (long long)x, buf[i], op_names[sh->kind], f->prev[x],
						    f->cur[x]);
					break;
				}
			}
			sh->r_inflight++;
		}
		sh->r_bytes += got;
		pthread_mutex_unlock(&sh->lock);
		if (atomic_load(&sh->failed))
			break;
	}
	close(fd);
	free(buf);
	_exit(atomic_load(&sh->failed) ? 1 : 0);
}

/* ---- setup ---- */

static void read_effective(struct fsx *f)
{
	char v[512] = "", *p;
	ssize_t n = getxattr(f->path, "user.zcfs.effective", v, sizeof(v) - 1);

	strcpy(f->mode, "?");
	strcpy(f->cache, "?");
	if (n < 0)
		return; /* not on zcfs: still a useful test of any filesystem */
	v[n] = '\0';
	if ((p = strstr(v, "mode=")))
		sscanf(p + 5, "%31[a-z]", f->mode);
	if ((p = strstr(v, "cache=")))
		sscanf(p + 6, "%31[a-z]", f->cache);
}

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	return p;
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-s SEED] [-n OPS] [-l MAXLEN] [-o MAXOP] [-B BACKING_FILE] [-R] [-M] [-v] FILE\n"
		"  -s  seed (default: from the clock; always printed)\n"
		"  -n  operations (default 1000)\n"
		"  -l  maximum file size in bytes (default 2 MiB)\n"
		"  -o  maximum bytes per operation (default 256 KiB)\n"
		"  -B  the backing file behind FILE, compared at every fsync and at the end\n"
		"  -R  fork a concurrent reader that checks every byte it reads\n"
		"  -v  print every op\n",
		prog);
	exit(2);
}

int main(int argc, char **argv)
{
	struct fsx f = { .maxlen = 2 << 20, .maxop = 256 << 10, .nops = 1000, .src_fd = -1 };
	bool use_reader = false, seed_set = false, shared_none = false;
	pthread_mutexattr_t ma;
	unsigned total_weight = 0;
	struct timespec t0, t1;
	char srcpath[4096];
	int c, status;

	while ((c = getopt(argc, argv, "s:n:l:o:B:RMv")) != -1) {
		switch (c) {
		case 's': f.seed = strtoull(optarg, NULL, 0); seed_set = true; break;
		case 'n': f.nops = strtoull(optarg, NULL, 0); break;
		case 'l': f.maxlen = (off_t)strtoull(optarg, NULL, 0); break;
		case 'o': f.maxop = (size_t)strtoull(optarg, NULL, 0); break;
		case 'B': f.backing = optarg; break;
		case 'R': use_reader = true; break;
		case 'M': shared_none = true; break;
		case 'v': f.verbose = true; break;
		default: usage(argv[0]);
		}
	}
	if (optind + 1 != argc || f.maxlen < 4096 || f.maxop < 16 || (off_t)f.maxop > f.maxlen)
		usage(argv[0]);
	f.path = argv[optind];
	if (!seed_set) {
		struct timeval tv;
		gettimeofday(&tv, NULL);
		f.seed = (uint64_t)tv.tv_sec * 1000003u ^ (uint64_t)tv.tv_usec ^ (uint64_t)getpid();
	}
	f.rng = f.seed;
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* Model and reader state, shared with the child; cur/prev have maxop slack past maxlen. */
	size_t mlen = (size_t)f.maxlen + f.maxop;
	f.sh = map_anon(sizeof(*f.sh));
	f.cur = map_anon(mlen);
	f.prev = map_anon(mlen);
	f.buf = malloc(f.maxop);
	f.buf2 = malloc(f.maxop);
	if (!f.buf || !f.buf2)
		return 2;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&f.sh->lock, &ma);

	/* Start from an empty file and a known second file for copy2. */
	int tfd = open(f.path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (tfd < 0) {
		fprintf(stderr, "FAIL: create %s: %s\n", f.path, strerror(errno));
		return 1;
	}
	close(tfd);
	read_effective(&f);
	printf("zcfs_fsx: %s mode=%s cache=%s seed=%" PRIu64 " ops=%" PRIu64
	       " maxlen=%lld maxop=%zu reader=%s\n",
	       f.path, f.mode, f.cache, f.seed, f.nops, (long long)f.maxlen, f.maxop,
	       use_reader ? "yes" : "no");
	do_open(&f);
	snprintf(srcpath, sizeof(srcpath), "%s.src", f.path);
	f.src_fd = open(srcpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (f.src_fd < 0)
		dump_and_fail(&f, "create %s: %s", srcpath, strerror(errno));
	fill(f.buf2, SRC_OP_ID, 0, f.maxop);
	pwrite_all(&f, f.src_fd, f.buf2, f.maxop, 0);

	/* Probe once what the backing filesystem supports, so an unsupported op is a visible
	 * skip count, never a silent pass; mmap: cache=none must refuse MAP_SHARED. */
	f.falloc_ok = fallocate(f.fd, FALLOC_FL_KEEP_SIZE, 0, 4096) == 0 || errno != EOPNOTSUPP;
	f.punch_ok = fallocate(f.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096) == 0 ||
		     errno != EOPNOTSUPP;
	{
		off_t a = 0, b = 0;
		f.copy_ok = copy_file_range(f.src_fd, &a, f.fd, &b, 0, 0) == 0 || errno != EOPNOTSUPP;
	}
	f.shared_mmap = strcmp(f.cache, "none") != 0 || shared_none || strcmp(f.mode, "passthrough") == 0;

	if (use_reader) {
		f.reader = fork();
		if (f.reader < 0)
			dump_and_fail(&f, "fork: %s", strerror(errno));
		if (f.reader == 0)
			reader_main(&f, f.seed);
	}

	for (int i = 0; i < OP_COUNT; i++)
		total_weight += op_weight[i];
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (f.op = 0; f.op < f.nops; f.op++) {
		unsigned w = (unsigned)below(&f.rng, total_weight);
		int kind = 0;
		off_t lo = 0, hi = 0, extra_off;
		size_t extra_len;

		while (w >= op_weight[kind])
			w -= op_weight[kind++];
		f.sh->kind = kind;
		/* replaced by the op's own line unless it is skipped */
		snprintf(f.ring[f.op % LOG_RING], sizeof(f.ring[0]), "%" PRIu64 " %s (skipped)", f.op,
			 op_names[kind]);
		op_table[kind](&f, &lo, &hi);
		if ((f.sh->seq & 1))
			model_end(&f);
		f.done[kind]++;
		if (atomic_load(&f.sh->failed))
			dump_and_fail(&f, "%s", f.sh->r_msg);
		/* after every op: size, the touched range, and one random range */
		check_size(&f);
		if (hi > f.maxlen)
			hi = f.maxlen;
		for (off_t o = lo; o < hi; o += (off_t)f.maxop)
			check_range_fd(&f, f.fd, "touched range", o,
				       hi - o < (off_t)f.maxop ? (size_t)(hi - o) : f.maxop);
		pick_range(&f, f.maxlen, &extra_off, &extra_len);
		check_range_fd(&f, f.fd, "random range", extra_off, extra_len);
		if ((f.op + 1) % FULL_CHECK_EVERY == 0)
			check_whole(&f);
	}
	f.op = f.nops ? f.nops - 1 : 0;
	check_whole(&f);
	if (fsync(f.fd) < 0)
		dump_and_fail(&f, "final fsync: %s", strerror(errno));
	check_backing(&f);
	clock_gettime(CLOCK_MONOTONIC, &t1);

	if (f.reader) {
		atomic_store(&f.sh->stop, 1);
		if (waitpid(f.reader, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
			f.reader = 0;
			dump_and_fail(&f, "reader: %s", f.sh->r_msg[0] ? f.sh->r_msg : "died");
		}
	}
	close(f.fd);
	close(f.src_fd);
	unlink(srcpath);
	free(f.buf);
	free(f.buf2);

	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("zcfs_fsx: PASS %s mode=%s cache=%s seed=%" PRIu64 " ops=%" PRIu64 " in %.1fs;",
	       f.path, f.mode, f.cache, f.seed, f.nops, secs);
	for (int i = 0; i < OP_COUNT; i++)
		if (f.skipped[i])
			printf(" %s=%" PRIu64 "(%" PRIu64 " skipped)", op_names[i],
			       f.done[i] - f.skipped[i], f.skipped[i]);
		else
			printf(" %s=%" PRIu64, op_names[i], f.done[i]);
	printf("\n");
	if (use_reader)
		printf("zcfs_fsx: reader %s: reads=%" PRIu64 " bytes=%" PRIu64 " exact=%" PRIu64
		       " during-op=%" PRIu64 " eio-during-shrink=%" PRIu64 "\n",
		       f.path, f.sh->r_reads, f.sh->r_bytes, f.sh->r_exact, f.sh->r_inflight,
		       f.sh->r_eio);
	return 0;
}
