/* cmd_resid.c - zcfsctl residency (both page caches, vmtouch-style maps) and the cache verbs
 * evict / prefetch / sync / flush, sent per file through the control file with a progress bar. */
#include "zcfsctl.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "zc/log.h"
#include "zc/resid.h"

struct file_list {
	char **path;
	uint64_t *bytes;
	size_t n, cap;
	uint64_t total_bytes;
	dev_t dev;
	dev_t ctl_dev; /* the control directory, skipped during walks */
	ino_t ctl_ino;
	bool have_ctl;
};

static struct file_list *walk_list; /* nftw has no user pointer; single-threaded tool */

static int list_add(struct file_list *l, const char *p, uint64_t bytes)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		char **np = realloc(l->path, cap * sizeof(*np));
		if (!np)
			return -ENOMEM;
		l->path = np;
		uint64_t *nb = realloc(l->bytes, cap * sizeof(*nb));
		if (!nb)
			return -ENOMEM;
		l->bytes = nb;
		l->cap = cap;
	}
	if (!(l->path[l->n] = strdup(p)))
		return -ENOMEM;
	l->bytes[l->n++] = bytes;
	l->total_bytes += bytes;
	return 0;
}

static void list_free(struct file_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->path[i]);
	free(l->path);
	free(l->bytes);
}

static int walk_cb(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_D && walk_list->have_ctl && st->st_dev == walk_list->ctl_dev &&
	    st->st_ino == walk_list->ctl_ino)
		return FTW_SKIP_SUBTREE;
	if (type == FTW_F && S_ISREG(st->st_mode))
		return list_add(walk_list, p, (uint64_t)st->st_size) < 0 ? FTW_STOP : FTW_CONTINUE;
	return FTW_CONTINUE;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(**(char *const *const *)a, **(char *const *const *)b);
}

/* Put the list in name order (nftw gives the directories' order). */
static int list_sort(struct file_list *l)
{
	char ***idx = malloc((l->n ? l->n : 1) * sizeof(*idx));
	char **paths = malloc((l->n ? l->n : 1) * sizeof(*paths));
	uint64_t *bytes = malloc((l->n ? l->n : 1) * sizeof(*bytes));

	if (!idx || !paths || !bytes) {
		free(idx);
		free(paths);
		free(bytes);
		return -ENOMEM;
	}
	for (size_t i = 0; i < l->n; i++)
		idx[i] = &l->path[i];
	qsort(idx, l->n, sizeof(*idx), by_path);
	for (size_t i = 0; i < l->n; i++) {
		paths[i] = *idx[i];
		bytes[i] = l->bytes[idx[i] - l->path];
	}
	free(idx);
	free(l->path);
	free(l->bytes);
	l->path = paths;
	l->bytes = bytes;
	l->cap = l->n;
	return 0;
}

/* Regular files named by path (itself, or below it with recursive), in name order. */
static int collect(const char *path, bool recursive, const char *ctl_dir, struct file_list *l)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode))
		return list_add(l, path, (uint64_t)st.st_size);
	if (!S_ISDIR(st.st_mode))
		return -EINVAL;
	if (!recursive)
		return -EISDIR;
	walk_list = l;
	struct stat cst;
	if (ctl_dir && stat(ctl_dir, &cst) == 0) {
		l->have_ctl = true;
		l->ctl_dev = cst.st_dev;
		l->ctl_ino = cst.st_ino;
	}
	if (nftw(path, walk_cb, 64, FTW_PHYS | FTW_MOUNT | FTW_ACTIONRETVAL) < 0)
		return -errno;
	return list_sort(l);
}

/* Ctrl-C or SIGTERM during a walk: stop after the file in hand. Handlers are installed even
 * where the shell ignores SIGINT (a job started with & by a script), so Ctrl-C always works. */
static volatile sig_atomic_t interrupted;
static void on_signal(int sig)
{
	interrupted = sig;
}

static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static int say_interrupted(const char *verb, bool bar, uint64_t done, uint64_t total)
{
	fprintf(stderr, "%szcfsctl %s: interrupted after %llu of %llu files\n", bar ? "\n" : "", verb,
		(unsigned long long)done, (unsigned long long)total);
	return 128 + (int)interrupted;
}

/* A path on the terminal: control bytes as \\xNN (zc_log_clean), never raw. */
static const char *shown(const char *path)
{
	static char buf[4 * PATH_MAX + 1];
	return zc_log_clean(buf, sizeof(buf), path);
}


/* Path of a collected file relative to the mount root: the argument's relative path plus the
 * part nftw appended to the argument. */
static void rel_of(const struct zctl_mount *m, const char *arg, const char *path, char *out, size_t len)
{
	const char *suffix = path + strlen(arg);
	while (*suffix == '/')
		suffix++;
	if (!*suffix)
		snprintf(out, len, "%s", m->rel);
	else if (strcmp(m->rel, ".") == 0)
		snprintf(out, len, "%s", suffix);
	else {
		size_t a = strlen(m->rel), b = strlen(suffix);
		if (a + 1 + b + 1 > len) {
			out[0] = '\0';
			return;
		}
		memcpy(out, m->rel, a);
		out[a] = '/';
		memcpy(out + a + 1, suffix, b + 1);
	}
}

/* Mount-side (or plain) page cache of the file as seen through path: mincore on a mapping, which
 * reads nothing. A cache=none file (FOPEN_DIRECT_IO) refuses shared maps: reported as no cache. */
static int local_resid(const char *path, struct zc_resid *r, bool *no_cache)
{
	*no_cache = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	int rc = zc_resid_query(fd, ZC_RESID_MAP, r);
	if (rc == -ENODEV) {
		struct stat st;
		memset(r, 0, sizeof(*r));
		if (fstat(fd, &st) == 0) {
			r->page_size = (uint64_t)sysconf(_SC_PAGESIZE);
			r->file_bytes = (uint64_t)st.st_size;
			r->total_pages = (r->file_bytes + r->page_size - 1) / r->page_size;
			*no_cache = true;
			rc = 0;
		}
	}
	close(fd);
	return rc;
}

/* Per-page residency from a byte-range list "a-b,c-d" as the daemon replies it ("..." ends a
 * truncated list). Returns a calloc'ed map of pages bytes, or NULL. */
static uint8_t *map_from_ranges(const char *ranges, uint64_t pages, uint64_t page_size)
{
	uint8_t *map = calloc(pages ? pages : 1, 1);
	if (!map)
		return NULL;
	for (const char *p = ranges; p && *p && *p != '.' && *p != '\n';) {
		char *e;
		uint64_t a = strtoull(p, &e, 10), b;
		if (*e != '-')
			break;
		b = strtoull(e + 1, &e, 10);
		for (uint64_t pg = a / page_size; pg < (b + page_size - 1) / page_size && pg < pages; pg++)
			map[pg] = 1;
		p = *e == ',' ? e + 1 : e;
	}
	return map;
}

/* One character per column, each column covering an equal share of the pages (a page may cover
 * several columns in small files): ' ' none resident, '.' under half, 'o' partial, 'O' all. */
static void draw_map(char *out, int width, uint64_t pages, const uint8_t *map)
{
	for (int c = 0; c < width; c++) {
		uint64_t lo = (uint64_t)c * pages / (uint64_t)width;
		uint64_t hi = (uint64_t)(c + 1) * pages / (uint64_t)width;
		if (hi <= lo)
			hi = lo + 1;
		uint64_t res = 0, span = 0;
		for (uint64_t pg = lo; pg < hi && pg < pages; pg++, span++)
			res += map ? (map[pg] & 1) : 0;
		double f = span ? (double)res / (double)span : 0;
		out[c] = f <= 0 ? ' ' : f < 0.5 ? '.' : f < 1 ? 'o' : 'O';
	}
	out[width] = '\0';
}

struct resid_total {
	uint64_t files, pages, bytes, mnt_res, back_res;
};

static void print_summary(const char *label, bool on_zcfs, const struct resid_total *t, uint64_t page)
{
	char sz[32], b1[32], b2[32];
	zctl_human_bytes(t->bytes, sz, sizeof(sz));
	printf("%s\n  files: %llu  pages: %llu  size: %s\n", label, (unsigned long long)t->files,
	       (unsigned long long)t->pages, sz);
	double pm = t->pages ? 100.0 * (double)t->mnt_res / (double)t->pages : 0;
	double pb = t->pages ? 100.0 * (double)t->back_res / (double)t->pages : 0;
	zctl_human_bytes(t->mnt_res * page, b1, sizeof(b1));
	zctl_human_bytes(t->back_res * page, b2, sizeof(b2));
	if (on_zcfs) {
		printf("  backing page cache: %llu/%llu pages  %s  %.1f%%\n", (unsigned long long)t->back_res,
		       (unsigned long long)t->pages, b2, pb);
		printf("  mount page cache:   %llu/%llu pages  %s  %.1f%%\n", (unsigned long long)t->mnt_res,
		       (unsigned long long)t->pages, b1, pm);
	} else {
		printf("  page cache: %llu/%llu pages  %s  %.1f%%  (not a zcfs mount: one cache)\n",
		       (unsigned long long)t->mnt_res, (unsigned long long)t->pages, b1, pm);
	}
}

/* Is path a file the kernel reads in passthrough (routed there, with no fallback)? Such a file
 * has one page cache, the backing file's: a mapping through the mount maps the backing file. */
static bool is_passthrough(const char *path)
{
	char v[512];
	ssize_t n = getxattr(path, "user.zcfs.effective", v, sizeof(v) - 1);

	if (n < 0)
		return false;
	v[n] = '\0';
	return strncmp(v, "mode=passthrough ", 17) == 0 && !strstr(v, "fallback=");
}

static int residency_one(const char *arg, bool recursive, bool verbose, bool *first_json)
{
	struct zctl_mount m;
	int mrc = zctl_mount_find(arg, &m);
	if (mrc == -ENOTCONN)
		return zctl_mount_complain(arg, mrc);
	bool on_zcfs = mrc == 0;
	struct file_list l = {0};
	int rc = collect(arg, recursive, on_zcfs ? m.ctl_dir : NULL, &l);
	if (rc < 0) {
		fprintf(stderr, "zcfsctl residency: %s: %s%s\n", shown(arg), strerror(-rc),
			rc == -EISDIR ? " (use -r for a tree)" : "");
		list_free(&l);
		return ZCTL_EXIT_FAIL;
	}
	struct resid_total t = {0};
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	int status = ZCTL_EXIT_OK, width = zctl_term_width();
	int mapw = on_zcfs ? (width - 24) / 2 : width - 14;
	if (mapw < 8)
		mapw = 8;
	if (mapw > 64)
		mapw = 64;
	if (verbose && !zctl_opt_json && on_zcfs)
		printf("%-*s %-*s  file\n", mapw + 7, "[backing cache]", mapw + 7, "[mount cache]");
	for (size_t i = 0; i < l.n; i++) {
		struct zc_resid r = {0};
		if (interrupted) {
			list_free(&l);
			return say_interrupted("residency", false, i, l.n);
		}
		bool no_cache, pt = on_zcfs && is_passthrough(l.path[i]);
		rc = local_resid(l.path[i], &r, &no_cache);
		if (rc < 0) {
			fprintf(stderr, "zcfsctl residency: %s: %s\n", shown(l.path[i]), strerror(-rc));
			status = ZCTL_EXIT_FAIL;
			continue;
		}
		char *reply = NULL;
		uint64_t back_res = 0;
		const char *ranges = NULL;
		if (on_zcfs) {
			char rel[PATH_MAX];
			rel_of(&m, arg, l.path[i], rel, sizeof(rel));
			rc = zctl_ctl_path(&m, "residency", rel, &reply);
			if (rc < 0) {
				fprintf(stderr, "zcfsctl residency: %s: %s\n", shown(l.path[i]),
					reply ? strtok(reply, "\n") : strerror(-rc));
				free(reply);
				zc_resid_free(&r);
				status = ZCTL_EXIT_FAIL;
				continue;
			}
			back_res = zctl_reply_u64(reply, "resident_pages");
			ranges = strstr(reply, "\nranges=");
			if (ranges)
				ranges += 8;
		}
		if (pt) { /* what mincore saw through the mount was the backing cache */
			no_cache = true;
			r.resident_pages = 0;
			if (r.map)
				memset(r.map, 0, r.total_pages);
		}
		t.files++;
		t.pages += r.total_pages;
		t.bytes += r.file_bytes;
		t.mnt_res += r.resident_pages;
		t.back_res += back_res;
		if (zctl_opt_json) {
			printf("%s{\"path\":", *first_json ? "" : ",");
			*first_json = false;
			zc_json_string(stdout, l.path[i]);
			printf(",\"file_bytes\":%llu,\"pages\":%llu", (unsigned long long)r.file_bytes,
			       (unsigned long long)r.total_pages);
			if (on_zcfs) {
				printf(",\"backing_resident_pages\":%llu", (unsigned long long)back_res);
				printf(",\"mount_resident_pages\":%llu,\"mount_cacheable\":%s,"
				       "\"passthrough\":%s}", (unsigned long long)r.resident_pages,
				       no_cache ? "false" : "true", pt ? "true" : "false");
			} else {
				printf(",\"resident_pages\":%llu}", (unsigned long long)r.resident_pages);
			}
		} else if (verbose) {
			char m1[80], m2[80];
			double pm = r.total_pages ? 100.0 * (double)r.resident_pages / (double)r.total_pages : 0;
			draw_map(m1, mapw, r.total_pages, r.map);
			if (on_zcfs) {
				double pb = r.total_pages ? 100.0 * (double)back_res / (double)r.total_pages : 0;
				uint8_t *bmap = map_from_ranges(ranges, r.total_pages, r.page_size);
				draw_map(m2, mapw, r.total_pages, bmap);
				free(bmap);
				if (pt) /* one cache: the mount keeps none */
					memset(m1, '=', (size_t)mapw);
				printf("[%s] %3.0f%% [%s] %3.0f%%%s %s\n", m2, pb, m1, pm,
				       pt ? "=" : no_cache ? "*" : " ", shown(l.path[i]));
			} else {
				printf("[%s] %3.0f%% %s\n", m1, pm, shown(l.path[i]));
			}
		}
		free(reply);
		zc_resid_free(&r);
	}
	if (!zctl_opt_json)
		print_summary(shown(arg), on_zcfs, &t, page);
	list_free(&l);
	return status;
}

static int usage_resid(int code)
{
	printf("usage: zcfsctl residency [-r] [-v] [--json] PATH...\n"
	       "Page-cache residency of files: the backing file's cache (asked from the daemon) and the\n"
	       "mount's own cache (mincore through the mount; reads nothing). Outside zcfs, the one cache.\n"
	       "  -r, --recursive  every regular file below a directory\n"
	       "  -v, --verbose    one page map per file: ' ' none, '.' < 50%%, 'o' partial, 'O' full;\n"
	       "                   '*' marks cache=none files (the mount keeps no pages for them)\n"
	       "  --json           one JSON object with a files array\n");
	return code;
}

int zctl_cmd_residency(int argc, char **argv)
{
	bool recursive = false, verbose = false;
	int i = 1;
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			return usage_resid(ZCTL_EXIT_OK);
		else if (strcmp(a, "--json") == 0)
			zctl_opt_json = true;
		else if (strcmp(a, "--recursive") == 0)
			recursive = true;
		else if (strcmp(a, "--verbose") == 0)
			verbose = true;
		else if (a[1] != '-' && strspn(a + 1, "rv") == strlen(a + 1)) {
			recursive |= strchr(a, 'r') != NULL;
			verbose |= strchr(a, 'v') != NULL;
		} else {
			fprintf(stderr, "zcfsctl residency: unknown option %s\n", a);
			return ZCTL_EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage_resid(0);
		return ZCTL_EXIT_USAGE;
	}
	int status = ZCTL_EXIT_OK;
	bool first = true;
	catch_signals();
	if (zctl_opt_json)
		printf("{\"files\":[");
	for (; i < argc && !interrupted; i++) {
		int rc = residency_one(argv[i], recursive, verbose, &first);
		if (rc != ZCTL_EXIT_OK)
			status = rc;
	}
	if (zctl_opt_json)
		printf("]}\n");
	if (interrupted) {
		fprintf(stderr, "zcfsctl residency: interrupted\n");
		return 128 + (int)interrupted;
	}
	return status;
}

/* evict / prefetch / sync / flush: one ctl command per file so a progress bar can follow. */
int zctl_cmd_cachecmd(int argc, char **argv)
{
	const char *verb = argv[0];
	bool recursive = false;
	int i = 1;

	if (strcmp(verb, "prefetch") == 0)
		for (int k = 1; k < argc; k++)
			if (strcmp(argv[k], "--plan") == 0 || strcmp(argv[k], "--cancel") == 0)
				return zctl_cmd_plan(argc, argv);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: zcfsctl %s [-r] [--json] PATH...\n", verb);
			if (strcmp(verb, "evict") == 0)
				printf("Write back dirty data, drop the backing file's pages and the mount's pages.\n");
			else if (strcmp(verb, "prefetch") == 0)
				printf("Read the backing file into its page cache (readahead) and wait for it.\n");
			else if (strcmp(verb, "sync") == 0)
				printf("fsync the backing file.\n");
			else
				printf("Start write-back of the backing file's dirty pages without waiting.\n");
			printf("  -r, --recursive  every regular file below a directory (progress bar on a terminal)\n"
			       "  --json           a JSON summary\n");
			if (strcmp(verb, "prefetch") == 0) { /* and the other form: reading plans */
				char *plan_help[] = { argv[0], "--help", NULL };
				putchar('\n');
				return zctl_cmd_plan(2, plan_help);
			}
			return ZCTL_EXIT_OK;
		} else if (strcmp(argv[i], "-r") == 0 || strcmp(argv[i], "--recursive") == 0) {
			recursive = true;
		} else if (strcmp(argv[i], "--json") == 0) {
			zctl_opt_json = true;
		} else {
			fprintf(stderr, "zcfsctl %s: unknown option %s\n", verb, argv[i]);
			return ZCTL_EXIT_USAGE;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "usage: zcfsctl %s [-r] PATH...\n", verb);
		return ZCTL_EXIT_USAGE;
	}
	int status = ZCTL_EXIT_OK;
	uint64_t files = 0, before = 0, after = 0, bytes = 0;
	double t0 = zctl_now();
	catch_signals();
	for (; i < argc && !interrupted; i++) {
		struct zctl_mount m;
		int rc = zctl_mount_find(argv[i], &m);
		if (rc < 0) {
			status = zctl_mount_complain(argv[i], rc);
			continue;
		}
		struct file_list l = {0};
		rc = collect(argv[i], recursive, m.ctl_dir, &l);
		if (rc < 0) {
			fprintf(stderr, "zcfsctl %s: %s: %s%s\n", verb, shown(argv[i]), strerror(-rc),
				rc == -EISDIR ? " (use -r for a tree)" : "");
			list_free(&l);
			status = ZCTL_EXIT_FAIL;
			continue;
		}
		struct zctl_progress p;
		zctl_progress_start(&p, verb, l.n, l.total_bytes);
		for (size_t k = 0; k < l.n; k++) {
			char rel[PATH_MAX], *reply = NULL;
			if (interrupted) {
				rc = say_interrupted(verb, p.on, k, l.n);
				list_free(&l);
				return rc;
			}
			rel_of(&m, argv[i], l.path[k], rel, sizeof(rel));
			rc = zctl_ctl_path(&m, verb, rel, &reply);
			if (rc < 0) {
				if (p.on)
					fputc('\n', stderr);
				fprintf(stderr, "zcfsctl %s: %s: %s\n", verb, shown(l.path[k]),
					reply ? strtok(reply, "\n") : strerror(-rc));
				status = ZCTL_EXIT_FAIL;
			} else {
				files++;
				bytes += l.bytes[k];
				before += zctl_reply_u64(reply, "before_bytes");
				after += zctl_reply_u64(reply, strcmp(verb, "prefetch") == 0 ? "resident_bytes"
											   : "after_bytes");
			}
			free(reply);
			zctl_progress_step(&p, l.bytes[k]);
		}
		zctl_progress_end(&p);
		list_free(&l);
	}
	if (interrupted) {
		fprintf(stderr, "zcfsctl %s: interrupted\n", verb);
		return 128 + (int)interrupted;
	}
	double el = zctl_now() - t0;
	char b1[32], b2[32], b3[32];
	zctl_human_bytes(bytes, b3, sizeof(b3));
	zctl_human_bytes(before, b1, sizeof(b1));
	zctl_human_bytes(after, b2, sizeof(b2));
	if (zctl_opt_json) {
		printf("{\"verb\":\"%s\",\"files\":%llu,\"file_bytes\":%llu,\"seconds\":%.3f", verb,
		       (unsigned long long)files, (unsigned long long)bytes, el);
		if (strcmp(verb, "evict") == 0)
			printf(",\"before_bytes\":%llu,\"after_bytes\":%llu", (unsigned long long)before,
			       (unsigned long long)after);
		if (strcmp(verb, "prefetch") == 0)
			printf(",\"resident_bytes\":%llu", (unsigned long long)after);
		printf(",\"ok\":%s}\n", status == ZCTL_EXIT_OK ? "true" : "false");
	} else if (strcmp(verb, "evict") == 0) {
		printf("evict: %llu files (%s): backing cache %s before, %s after (%.2fs)\n",
		       (unsigned long long)files, b3, b1, b2, el);
	} else if (strcmp(verb, "prefetch") == 0) {
		printf("prefetch: %llu files (%s): %s resident in the backing cache (%.2fs)\n",
		       (unsigned long long)files, b3, b2, el);
	} else {
		printf("%s: %llu files (%s) done (%.2fs)\n", verb, (unsigned long long)files, b3, el);
	}
	return status;
}
