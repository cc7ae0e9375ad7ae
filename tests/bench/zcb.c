/* zcb.c - timing helper for tests/bench/run: builds file trees and times whole-file, stat and
 * dataset passes with CLOCK_MONOTONIC, so the harness measures the operation and not process
 * start-up. Compiled by the harness at run time into its temp dir; not part of the meson build.
 * Every command prints one line of space-separated figures on stdout (seconds first). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define FILES_PER_DIR 100
#define DIRS_PER_TOP 10

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *alloc_pattern(size_t len)
{
	unsigned char *buf = NULL;

	if (posix_memalign((void **)&buf, 4096, len) != 0)
		return NULL;
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(i * 131 + 7); /* not zeros: nothing may shortcut them */
	return buf;
}

/* mktree DIR NFILES SIZE: DIR/tNNN/dNN/fNN, FILES_PER_DIR files per leaf directory. */
static int cmd_mktree(const char *dir, long nfiles, size_t size)
{
	char path[4096];
	void *buf = alloc_pattern(size ? size : 1);
	double t0 = now_s();
	int rc = 1;

	if (!buf)
		goto out;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		perror(dir);
		goto out_free;
	}
	for (long i = 0; i < nfiles; i++) {
		long leaf = i / FILES_PER_DIR, top = leaf / DIRS_PER_TOP;
		int fd;

		if (i % (FILES_PER_DIR * DIRS_PER_TOP) == 0) {
			snprintf(path, sizeof(path), "%s/t%03ld", dir, top);
			if (mkdir(path, 0755) < 0 && errno != EEXIST) {
				perror(path);
				goto out_free;
			}
		}
		if (i % FILES_PER_DIR == 0) {
			snprintf(path, sizeof(path), "%s/t%03ld/d%02ld", dir, top, leaf % DIRS_PER_TOP);
			if (mkdir(path, 0755) < 0 && errno != EEXIST) {
				perror(path);
				goto out_free;
			}
		}
		snprintf(path, sizeof(path), "%s/t%03ld/d%02ld/f%02ld", dir, top, leaf % DIRS_PER_TOP,
			 i % FILES_PER_DIR);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			perror(path);
			goto out_free;
		}
		if (size && write(fd, buf, size) != (ssize_t)size) {
			perror(path);
			close(fd);
			goto out_free;
		}
		close(fd);
	}
	printf("%.6f %ld\n", now_s() - t0, nfiles);
	rc = 0;
out_free:
	free(buf);
out:
	return rc;
}

struct list {
	char **paths;
	size_t n;
};

/* One relative path per line of file, each prefixed with "PREFIX/". */
static int load_list(const char *prefix, const char *file, struct list *l)
{
	FILE *f = fopen(file, "r");
	char *line = NULL;
	size_t cap = 0, alloc = 0;
	ssize_t len;

	if (!f) {
		perror(file);
		return -1;
	}
	l->paths = NULL;
	l->n = 0;
	while ((len = getline(&line, &cap, f)) > 0) {
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if (!len)
			continue;
		if (l->n == alloc) {
			alloc = alloc ? alloc * 2 : 1024;
			l->paths = realloc(l->paths, alloc * sizeof(*l->paths));
			if (!l->paths)
				abort(); /* a benchmark helper: out of memory ends the run */
		}
		if (asprintf(&l->paths[l->n++], "%s/%s", prefix, line) < 0)
			abort();
	}
	free(line);
	fclose(f);
	return 0;
}

static void print_err(int first_errno, long errors)
{
	printf(" %ld %s\n", errors, errors ? strerrorname_np(first_errno) : "-");
}

/* statall PREFIX LIST: lstat every listed path, in list order. */
static int cmd_statall(const char *prefix, const char *file)
{
	struct list l;
	struct stat st;
	long errors = 0;
	int first = 0;
	double t0;

	if (load_list(prefix, file, &l) < 0)
		return 1;
	t0 = now_s();
	for (size_t i = 0; i < l.n; i++) {
		if (lstat(l.paths[i], &st) < 0) {
			if (!errors++)
				first = errno;
		}
	}
	printf("%.6f %zu", now_s() - t0, l.n);
	print_err(first, errors);
	return 0;
}

struct readers {
	struct list l;
	size_t *order;
	_Atomic size_t next;
	_Atomic uint64_t bytes;
	_Atomic long errors;
	_Atomic int first_errno;
};

static void note_err(struct readers *r, int err)
{
	int zero = 0;

	atomic_fetch_add(&r->errors, 1);
	atomic_compare_exchange_strong(&r->first_errno, &zero, err);
}

static void *reader(void *arg)
{
	struct readers *r = arg;
	char *buf = malloc(1 << 20);
	size_t i;

	if (!buf)
		return NULL;
	while ((i = atomic_fetch_add(&r->next, 1)) < r->l.n) {
		int fd = open(r->l.paths[r->order[i]], O_RDONLY | O_CLOEXEC);
		ssize_t n;

		if (fd < 0) {
			note_err(r, errno);
			continue;
		}
		while ((n = read(fd, buf, 1 << 20)) > 0)
			atomic_fetch_add(&r->bytes, (uint64_t)n);
		if (n < 0)
			note_err(r, errno);
		close(fd);
	}
	free(buf);
	return NULL;
}

/* readset PREFIX LIST NREADERS SEED: every file once, in a seeded random order, NREADERS
 * threads taking the next file from one shared cursor (an epoch of a data loader). */
static int cmd_readset(const char *prefix, const char *file, int nreaders, unsigned seed)
{
	struct readers r = { 0 };
	pthread_t th[64];
	double t0;

	if (nreaders < 1 || nreaders > 64 || load_list(prefix, file, &r.l) < 0)
		return 1;
	r.order = malloc(r.l.n * sizeof(*r.order));
	if (!r.order)
		return 1;
	for (size_t i = 0; i < r.l.n; i++)
		r.order[i] = i;
	srandom(seed);
	for (size_t i = r.l.n; i > 1; i--) {
		size_t j = (size_t)random() % i, t = r.order[i - 1];
		r.order[i - 1] = r.order[j];
		r.order[j] = t;
	}
	t0 = now_s();
	for (int i = 0; i < nreaders; i++)
		pthread_create(&th[i], NULL, reader, &r);
	for (int i = 0; i < nreaders; i++)
		pthread_join(th[i], NULL);
	printf("%.6f %zu %llu", now_s() - t0, r.l.n, (unsigned long long)r.bytes);
	print_err(r.first_errno, r.errors);
	return 0;
}

#ifndef SYS_cachestat
#define SYS_cachestat 451 /* Linux 6.5, one number on every architecture; glibc 2.36 lacks it */
#endif
struct cs_range {
	uint64_t off, len;
};
struct cs_out {
	uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

/* Pages of fd's own mapping (its inode's page cache: for a FUSE file the mount's, never the
 * backing file's) by cachestat(2); -errno when the kernel has none. */
static long long cachestat_pages(int fd)
{
	struct cs_range r = { 0, 0 }; /* len 0: to the end of the file */
	struct cs_out cs;

	if (syscall(SYS_cachestat, fd, &r, &cs, 0) < 0)
		return -errno;
	return (long long)cs.nr_cache;
}

/* Resident pages that mincore(2) sees through a shared read-only map of fd, in 64 MiB windows.
 * For a FUSE passthrough file the kernel maps the backing file instead, so this is then the
 * backing file's page cache: what util-linux's fincore (2.38, mmap + mincore) reports. */
static long long mincore_pages(int fd)
{
	const size_t win = 64 << 20;
	long pg = sysconf(_SC_PAGESIZE);
	unsigned char *vec = malloc(win / (size_t)pg);
	long long n = 0;
	struct stat st;

	if (!vec)
		return -ENOMEM;
	if (fstat(fd, &st) < 0) {
		n = -errno;
		goto out;
	}
	for (off_t off = 0; off < st.st_size; off += (off_t)win) {
		size_t len = st.st_size - off < (off_t)win ? (size_t)(st.st_size - off) : win;
		void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, off);

		if (p == MAP_FAILED) {
			n = -errno;
			goto out;
		}
		if (mincore(p, len, vec) < 0) {
			n = -errno;
			munmap(p, len);
			goto out;
		}
		for (size_t i = 0; i < (len + (size_t)pg - 1) / (size_t)pg; i++)
			n += vec[i] & 1;
		munmap(p, len);
	}
out:
	free(vec);
	return n;
}

/* res PATH: cachestat and mincore page counts of a fresh open of PATH, and its size in pages. */
static int cmd_res(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(path);
		return 1;
	}
	printf("%lld %lld %lld\n", cachestat_pages(fd), mincore_pages(fd),
	       (long long)((st.st_size + 4095) / 4096));
	close(fd);
	return 0;
}

/* seqread PATH BS [res]: open, read to EOF with BS-byte requests, close. With "res", also
 * print, before closing, cachestat_pages and mincore_pages of the descriptor that read. */
static int cmd_seqread(const char *path, size_t bs, int res)
{
	char *buf = NULL;
	uint64_t total = 0;
	double t0 = now_s();
	ssize_t n;
	int fd;

	if (posix_memalign((void **)&buf, 4096, bs) != 0)
		return 1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror(path);
		free(buf);
		return 1;
	}
	while ((n = read(fd, buf, bs)) > 0)
		total += (uint64_t)n;
	if (n < 0)
		perror(path);
	t0 = now_s() - t0;
	if (res)
		printf("%.6f %llu %lld %lld\n", t0, (unsigned long long)total, cachestat_pages(fd),
		       mincore_pages(fd));
	else
		printf("%.6f %llu\n", t0, (unsigned long long)total);
	close(fd);
	free(buf);
	return n < 0;
}

/* write PATH BYTES BS: create, write BYTES in BS-byte requests, fsync, close. */
static int cmd_write(const char *path, uint64_t bytes, size_t bs)
{
	char *buf = alloc_pattern(bs);
	double t0 = now_s();
	uint64_t done = 0;
	int fd, rc = 1;

	if (!buf)
		return 1;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror(path);
		goto out_free;
	}
	while (done < bytes) {
		ssize_t n = write(fd, buf, bytes - done < bs ? bytes - done : bs);
		if (n <= 0) {
			perror(path);
			goto out_close;
		}
		done += (uint64_t)n;
	}
	if (fsync(fd) < 0) {
		perror(path);
		goto out_close;
	}
	rc = 0;
out_close:
	if (close(fd) < 0)
		rc = 1;
	if (!rc)
		printf("%.6f %llu\n", now_s() - t0, (unsigned long long)done);
out_free:
	free(buf);
	return rc;
}

/* fault MIB: fault in MIB of fresh anonymous memory and free it again; on a VM that hands freed
 * memory back to its host this is the cost of every new page-cache page. */
static int cmd_fault(size_t mib)
{
	size_t len = mib << 20;
	double t0 = now_s();
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	printf("%.6f %zu\n", now_s() - t0, len);
	munmap(p, len);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	if (!strcmp(cmd, "mktree") && argc == 5)
		return cmd_mktree(argv[2], atol(argv[3]), (size_t)atol(argv[4]));
	if (!strcmp(cmd, "statall") && argc == 4)
		return cmd_statall(argv[2], argv[3]);
	if (!strcmp(cmd, "readset") && argc == 6)
		return cmd_readset(argv[2], argv[3], atoi(argv[4]), (unsigned)atol(argv[5]));
	if (!strcmp(cmd, "seqread") && (argc == 4 || (argc == 5 && !strcmp(argv[4], "res"))))
		return cmd_seqread(argv[2], (size_t)atol(argv[3]), argc == 5);
	if (!strcmp(cmd, "res") && argc == 3)
		return cmd_res(argv[2]);
	if (!strcmp(cmd, "write") && argc == 5)
		return cmd_write(argv[2], (uint64_t)atoll(argv[3]), (size_t)atol(argv[4]));
	if (!strcmp(cmd, "fault") && argc == 3)
		return cmd_fault((size_t)atol(argv[2]));
	fprintf(stderr, "usage: zcb mktree DIR NFILES SIZE | statall PREFIX LIST |\n"
			"       readset PREFIX LIST NREADERS SEED | seqread PATH BS [res] | res PATH |\n"
			"       write PATH BYTES BS | fault MIB\n");
	return 2;
}
