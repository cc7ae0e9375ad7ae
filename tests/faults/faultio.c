/* faultio.c - I/O helpers for the fault-injection tests in tests/faults/. Every byte a helper
 * writes is pattern(gen, offset), never 0, so a check can tell a right byte from a stale one, a
 * byte from another offset or generation, and a hole.
 *
 *   faultio mkpat FILE SIZE GEN            create FILE holding SIZE pattern bytes
 *   faultio check FILE LEN GEN             the first LEN bytes are pattern(GEN) (size >= LEN)
 *   faultio truncloop FILE SIZE N          N times: shrink to a random size, restore pattern(0)
 *   faultio readers FILE NPROC STOPFILE SECS
 *                                          NPROC readers read random ranges until STOPFILE
 *                                          exists (at most SECS s); each byte must be pattern(0)
 *                                          or 0 (a truncate in flight); short reads and EIO are
 *                                          counted, other errors fail
 *   faultio wstream FILE BLOCK K STATUS    write pattern(7) blocks, fsync every K blocks and
 *                                          write the fsynced length to STATUS; runs until an error
 *   faultio openmany DIR N LEN             open DIR/f0..f<N-1> (pattern(i), LEN bytes) and hold
 *                                          them until the first failure; verify what opened,
 *                                          close all, then open and verify all N again
 *   faultio ownwrites FILE SIZE N          create FILE (SIZE bytes, a multiple of 4096), then N
 *                                          writes of 1-16 pages of pattern(i), each read back
 *                                          at once, while one child stats FILE in a loop (and
 *                                          opens and closes it every 8th time) and another
 *                                          reads it; then the whole file is checked
 *
 * Exit 0 on success, 1 on a failed check (one line says why), 2 on usage errors. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (256 << 10)

static unsigned char pattern(uint32_t gen, off_t off)
{
	uint32_t x = (uint32_t)off * 0x9e3779b1u + gen * 0x85ebca77u + (uint32_t)(off >> 32);
	x ^= x >> 15;
	x *= 0x2c1b3c6du;
	x ^= x >> 12;
	return (unsigned char)(1 + x % 255);
}

static void fill(unsigned char *b, uint32_t gen, off_t off, size_t len)
{
	for (size_t i = 0; i < len; i++)
		b[i] = pattern(gen, off + (off_t)i);
}

static uint64_t rng_state;
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int pwrite_all(int fd, const unsigned char *b, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, b, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		b += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write pattern(gen) over [from, to) of fd. */
static int write_pattern(int fd, uint32_t gen, off_t from, off_t to)
{
	static unsigned char buf[CHUNK];

	for (off_t off = from; off < to; off += CHUNK) {
		size_t len = to - off < CHUNK ? (size_t)(to - off) : CHUNK;
		int rc;
		fill(buf, gen, off, len);
		if ((rc = pwrite_all(fd, buf, len, off)) < 0)
			return rc;
	}
	return 0;
}

/* Compare [0, len) of fd with pattern(gen); returns 0, or 1 after printing the first difference. */
static int check_fd(int fd, const char *name, off_t len, uint32_t gen)
{
	static unsigned char buf[CHUNK];

	for (off_t off = 0; off < len; off += CHUNK) {
		size_t want = len - off < CHUNK ? (size_t)(len - off) : CHUNK;
		ssize_t n = pread(fd, buf, want, off);
		if (n < 0) {
			printf("FAIL: %s: pread at %lld: %s\n", name, (long long)off, strerror(errno));
			return 1;
		}
		if ((size_t)n != want) {
			printf("FAIL: %s: short read %zd of %zu at %lld\n", name, n, want, (long long)off);
			return 1;
		}
		for (size_t i = 0; i < want; i++)
			if (buf[i] != pattern(gen, off + (off_t)i)) {
				printf("FAIL: %s: byte %lld is 0x%02x, want 0x%02x (gen %u)\n", name,
				       (long long)(off + (off_t)i), buf[i], pattern(gen, off + (off_t)i), gen);
				return 1;
			}
	}
	return 0;
}

static int cmd_mkpat(const char *path, off_t size, uint32_t gen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), rc;

	if (fd < 0) {
		printf("FAIL: create %s: %s\n", path, strerror(errno));
		return 1;
	}
	rc = write_pattern(fd, gen, 0, size);
	if (rc == 0 && close(fd) < 0)
		rc = -errno;
	if (rc < 0) {
		printf("FAIL: write %s: %s\n", path, strerror(-rc));
		return 1;
	}
	return 0;
}

static int cmd_check(const char *path, off_t len, uint32_t gen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0) {
		printf("FAIL: open %s: %s\n", path, strerror(errno));
		return 1;
	}
	rc = check_fd(fd, path, len, gen);
	close(fd);
	return rc;
}

static int cmd_truncloop(const char *path, off_t size, long n)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0) {
		printf("FAIL: open %s: %s\n", path, strerror(errno));
		return 1;
	}
	rng_state = (uint64_t)getpid();
	for (long i = 0; i < n; i++) {
		/* mostly small cuts near the end (cheap to restore), sometimes deep ones */
		off_t cut = rnd() % 8 == 0 ? (off_t)(rnd() % (uint64_t)size)
					   : size - 1 - (off_t)(rnd() % (uint64_t)(size < 65536 ? size : 65536));
		int rc;
		if (ftruncate(fd, cut) < 0) {
			printf("FAIL: ftruncate: %s\n", strerror(errno));
			return 1;
		}
		if ((rc = write_pattern(fd, 0, cut, size)) < 0) {
			printf("FAIL: restore: %s\n", strerror(-rc));
			return 1;
		}
	}
	close(fd);
	return 0;
}

static int reader(const char *path, const char *stopfile, double until, unsigned seed)
{
	static unsigned char buf[CHUNK];
	uint64_t reads = 0, shorts = 0, eio = 0, bytes = 0, zeros = 0;
	int fd = -1;

	rng_state = seed;
	while (now_s() < until && access(stopfile, F_OK) != 0) {
		if (fd < 0 || rnd() % 64 == 0) {
			if (fd >= 0)
				close(fd);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				printf("FAIL: reader: open %s: %s\n", path, strerror(errno));
				return 1;
			}
		}
		struct stat st;
		if (fstat(fd, &st) < 0) {
			printf("FAIL: reader: fstat: %s\n", strerror(errno));
			return 1;
		}
		off_t off = st.st_size ? (off_t)(rnd() % (uint64_t)st.st_size) : 0;
		size_t len = 1 + (size_t)(rnd() % CHUNK);
		ssize_t n = pread(fd, buf, len, off);
		reads++;
		if (n < 0) {
			if (errno == EIO) {
				eio++;
				continue;
			}
			printf("FAIL: reader: pread(%lld, %zu): %s\n", (long long)off, len, strerror(errno));
			return 1;
		}
		if ((size_t)n < len)
			shorts++;
		for (ssize_t i = 0; i < n; i++) {
			unsigned char want = pattern(0, off + (off_t)i);
			if (buf[i] == 0) {
				zeros++;
			} else if (buf[i] != want) {
				printf("FAIL: reader: byte %lld is 0x%02x, want 0x%02x or 0\n",
				       (long long)(off + (off_t)i), buf[i], want);
				return 1;
			}
		}
		bytes += (uint64_t)n;
	}
	if (fd >= 0)
		close(fd);
	printf("reader %u: reads=%" PRIu64 " short=%" PRIu64 " eio=%" PRIu64 " bytes=%" PRIu64
	       " zero_bytes=%" PRIu64 "\n",
	       seed, reads, shorts, eio, bytes, zeros);
	if (reads == eio) {
		printf("FAIL: reader %u: no read succeeded\n", seed);
		return 1;
	}
	return 0;
}

static int cmd_readers(const char *path, int nproc, const char *stopfile, double secs)
{
	double until = now_s() + secs;
	int failed = 0, status;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < nproc; i++) {
		pid_t p = fork();
		if (p < 0) {
			printf("FAIL: fork: %s\n", strerror(errno));
			return 1;
		}
		if (p == 0)
			_exit(reader(path, stopfile, until, (unsigned)i + 1));
	}
	for (int i = 0; i < nproc; i++)
		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	return failed;
}

static int cmd_wstream(const char *path, size_t block, long k, const char *status)
{
	unsigned char *buf = malloc(block);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int sfd = open(status, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	off_t off = 0;

	if (!buf || fd < 0 || sfd < 0) {
		printf("FAIL: wstream setup: %s\n", strerror(errno));
		return 1;
	}
	for (long i = 1;; i++) {
		fill(buf, 7, off, block);
		int rc = pwrite_all(fd, buf, block, off);
		if (rc < 0) {
			printf("wstream: write at %lld: %s\n", (long long)off, strerror(-rc));
			break;
		}
		off += (off_t)block;
		if (i % k == 0) {
			char line[32];
			if (fsync(fd) < 0) {
				printf("wstream: fsync at %lld: %s\n", (long long)off, strerror(errno));
				break;
			}
			/* acknowledged: record it where the test finds it after the kill */
			int len = snprintf(line, sizeof(line), "%020lld\n", (long long)off);
			if (pwrite(sfd, line, (size_t)len, 0) != len) {
				printf("FAIL: status write: %s\n", strerror(errno));
				return 1;
			}
		}
	}
	close(fd);
	close(sfd);
	free(buf);
	return 0;
}

static int cmd_openmany(const char *dir, int n, off_t len)
{
	int *fds = calloc((size_t)n, sizeof(int)), opened = 0, first_err = 0, rc = 0;
	char path[4096];

	if (!fds)
		return 2;
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/f%d", dir, i);
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0) {
			first_err = errno;
			break;
		}
		opened++;
	}
	printf("openmany: held %d of %d open; first error: %s\n", opened, n,
	       first_err ? strerror(first_err) : "none");
	for (int i = 0; i < opened; i++) {
		snprintf(path, sizeof(path), "%s/f%d (held)", dir, i);
		/* reads of held files may fail with the same exhaustion, but never return wrong
		 * bytes: a failing read is reported, a wrong byte fails */
		unsigned char b[64];
		ssize_t got = pread(fds[i], b, sizeof(b), 0);
		if (got < 0)
			continue;
		for (ssize_t j = 0; j < got; j++)
			if (b[j] != pattern((uint32_t)i, j)) {
				printf("FAIL: %s: wrong byte at %zd\n", path, j);
				rc = 1;
				break;
			}
	}
	for (int i = 0; i < opened; i++)
		close(fds[i]);
	for (int i = 0; i < n && rc == 0; i++) {
		snprintf(path, sizeof(path), "%s/f%d", dir, i);
		rc = cmd_check(path, len, (uint32_t)i);
	}
	if (rc == 0)
		printf("openmany: after closing, all %d files open and read correctly\n", n);
	free(fds);
	return rc;
}

/* The children of ownwrites: stat (and every 8th time open and close) path until killed, or
 * read random pages of it until killed. */
static void own_observer(const char *path)
{
	for (unsigned i = 0;; i++) {
		struct stat st;
		if (stat(path, &st) < 0)
			_exit(1);
		if (i % 8 == 0) {
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				_exit(1);
			close(fd);
		}
	}
}

static void own_reader(const char *path, off_t size)
{
	static unsigned char buf[16 * 4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		_exit(1);
	rng_state = (uint64_t)getpid();
	for (;;) {
		off_t off = (off_t)(rnd() % (uint64_t)(size / 4096)) * 4096;
		if (pread(fd, buf, sizeof(buf), off) < 0)
			_exit(1);
	}
}

static int cmd_ownwrites(const char *path, off_t size, long n)
{
	unsigned char *model = malloc((size_t)size), *buf = malloc(16 * 4096);
	unsigned char *old = malloc(16 * 4096); /* the range before the write, for the report */
	pid_t kids[2] = { -1, -1 };
	int fd, rc = 0, status;

	if (!model || !buf || !old || size < 17 * 4096 || size % 4096)
		return 2;
	if (cmd_mkpat(path, size, 0))
		return 1;
	fill(model, 0, 0, (size_t)size);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("FAIL: open %s: %s\n", path, strerror(errno));
		return 1;
	}
	for (int k = 0; k < 2; k++) {
		kids[k] = fork();
		if (kids[k] < 0) {
			printf("FAIL: fork: %s\n", strerror(errno));
			rc = 1;
			goto out;
		}
		if (kids[k] == 0) {
			if (k == 0)
				own_observer(path);
			own_reader(path, size);
		}
	}
	rng_state = 1;
	for (long i = 1; i <= n && rc == 0; i++) {
		size_t len = (1 + (size_t)(rnd() % 16)) * 4096;
		off_t off = (off_t)(rnd() % (uint64_t)((size - (off_t)len) / 4096 + 1)) * 4096;
		int err;
		fill(buf, (uint32_t)i, off, len);
		if ((err = pwrite_all(fd, buf, len, off)) < 0) {
			printf("FAIL: write %ld at %lld: %s\n", i, (long long)off, strerror(-err));
			rc = 1;
			break;
		}
		memcpy(old, model + off, len);
		memcpy(model + off, buf, len);
		if (pread(fd, buf, len, off) != (ssize_t)len) {
			printf("FAIL: read back write %ld at %lld: %s\n", i, (long long)off,
			       strerror(errno));
			rc = 1;
			break;
		}
		for (size_t j = 0; j < len; j++)
			if (buf[j] != model[off + (off_t)j]) {
				printf("FAIL: write %ld of %zu bytes at %lld reads back byte "
				       "%lld as 0x%02x, want 0x%02x (before the write: 0x%02x)\n",
				       i, len, (long long)off, (long long)(off + (off_t)j), buf[j],
				       model[off + (off_t)j], old[j]);
				rc = 1;
				break;
			}
	}
out:
	for (int k = 0; k < 2; k++)
		if (kids[k] > 0) {
			kill(kids[k], SIGKILL);
			if (waitpid(kids[k], &status, 0) == kids[k] && WIFEXITED(status)) {
				printf("FAIL: %s child exited %d\n", k ? "reader" : "observer",
				       WEXITSTATUS(status));
				rc = 1;
			}
		}
	close(fd);
	if (rc == 0) {
		/* the whole file through a fresh open: no page the cache kept is stale either */
		fd = open(path, O_RDONLY | O_CLOEXEC);
		for (off_t off = 0; fd >= 0 && rc == 0 && off < size; off += 16 * 4096) {
			size_t len = size - off < 16 * 4096 ? (size_t)(size - off) : 16 * 4096;
			if (pread(fd, buf, len, off) != (ssize_t)len ||
			    memcmp(buf, model + off, len) != 0) {
				printf("FAIL: %s differs from what was written in [%lld, %lld)\n",
				       path, (long long)off, (long long)(off + (off_t)len));
				rc = 1;
			}
		}
		if (fd < 0) {
			printf("FAIL: reopen %s: %s\n", path, strerror(errno));
			rc = 1;
		}
		close(fd);
	}
	if (rc == 0)
		printf("ownwrites: %ld writes read back right while stat, open and read ran\n", n);
	free(model);
	free(buf);
	free(old);
	return rc;
}

static void usage(void)
{
	fprintf(stderr, "usage: faultio mkpat|check|truncloop|readers|wstream|openmany|ownwrites "
			"ARGS (see tests/faults/faultio.c)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	const char *cmd = argv[1];
	if (!strcmp(cmd, "mkpat") && argc == 5)
		return cmd_mkpat(argv[2], atoll(argv[3]), (uint32_t)atol(argv[4]));
	if (!strcmp(cmd, "check") && argc == 5)
		return cmd_check(argv[2], atoll(argv[3]), (uint32_t)atol(argv[4]));
	if (!strcmp(cmd, "truncloop") && argc == 5)
		return cmd_truncloop(argv[2], atoll(argv[3]), atol(argv[4]));
	if (!strcmp(cmd, "readers") && argc == 6)
		return cmd_readers(argv[2], atoi(argv[3]), argv[4], atof(argv[5]));
	if (!strcmp(cmd, "wstream") && argc == 6)
		return cmd_wstream(argv[2], (size_t)atoll(argv[3]), atol(argv[4]), argv[5]);
	if (!strcmp(cmd, "openmany") && argc == 5)
		return cmd_openmany(argv[2], atoi(argv[3]), atoll(argv[4]));
	if (!strcmp(cmd, "ownwrites") && argc == 5)
		return cmd_ownwrites(argv[2], atoll(argv[3]), atol(argv[4]));
	usage();
	return 2;
}
