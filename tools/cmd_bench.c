/* cmd_bench.c - zcfsctl bench: read one file on a zcfs mount through each read mode, cold and warm,
 * and print throughput with the daemon's own CPU time and context switches per GiB (from the
 * mount's stats), beside the copies each path makes by design. */
#include "zcfsctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "zc/mode.h"

struct daemon_fig {
	double cpu, vcs, ivcs, reads[ZC_MODE_COUNT], opens[ZC_MODE_COUNT];
};

static int daemon_now(const struct zctl_mount *m, struct daemon_fig *f)
{
	char path[sizeof(m->ctl_dir) + 16], *t;
	snprintf(path, sizeof(path), "%s/stats", m->ctl_dir);
	int rc = zctl_slurp(path, &t, NULL);
	if (rc < 0)
		return rc;
	double u = 0, s = 0;
	memset(f, 0, sizeof(*f));
	zctl_prom_get(t, "zcfs_cpu_seconds_total", "mode=\"user\"", &u);
	zctl_prom_get(t, "zcfs_cpu_seconds_total", "mode=\"system\"", &s);
	zctl_prom_get(t, "zcfs_context_switches_total", "kind=\"voluntary\"", &f->vcs);
	zctl_prom_get(t, "zcfs_context_switches_total", "kind=\"involuntary\"", &f->ivcs);
	for (int i = 0; i < ZC_MODE_COUNT; i++) {
		char lab[48];
		snprintf(lab, sizeof(lab), "mode=\"%s\"", zc_mode_name((enum zc_mode)i));
		zctl_prom_get(t, "zcfs_reads_total", lab, &f->reads[i]);
		zctl_prom_get(t, "zcfs_opens_total", lab, &f->opens[i]);
	}
	f->cpu = u + s;
	free(t);
	return 0;
}

static const char *copies[ZC_MODE_COUNT] = {
	[ZC_MODE_BUFFERED] = "backing cache -> daemon buffer -> request (2 CPU copies)",
	[ZC_MODE_DIRECT] = "disk -DMA-> daemon buffer -> request (1 CPU copy, no backing cache)",
	[ZC_MODE_MMAP] = "backing cache (mapped) -> request (1 CPU copy, by the kernel)",
	[ZC_MODE_SPLICE] = "backing cache -> pipe -> request (0 copies in user space)",
	[ZC_MODE_PASSTHROUGH] = "backing cache -> application, by the kernel (no daemon, no request)",
};

static int make_file(const char *path, uint64_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	size_t chunk = 1 << 20;
	uint64_t *buf = malloc(chunk), x = 0x9e3779b97f4a7c15ULL;
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	int rc = 0;
	for (uint64_t off = 0; off < size && rc == 0; off += chunk) {
		for (size_t i = 0; i < chunk / 8; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			buf[i] = x;
		}
		size_t n = size - off < chunk ? (size_t)(size - off) : chunk;
		if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
			rc = -errno;
	}
	free(buf);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int read_all(const char *path, uint64_t *bytes)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = 1 << 20;
	char *buf = malloc(len);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	*bytes = 0;
	ssize_t n;
	while ((n = read(fd, buf, len)) > 0)
		*bytes += (uint64_t)n;
	int rc = n < 0 ? -errno : 0;
	free(buf);
	close(fd);
	return rc;
}

/* Drop the mount's own pages of the file (the backing cache is the ctl command's business). */
static void drop_mount_cache(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

static int usage(int code)
{
	printf("usage: zcfsctl bench FILE [--size BYTES] [--modes LIST] [--json]\n"
	       "Read FILE (on a zcfs mount; created with --size bytes, default 256 MiB, if missing) through\n"
	       "each read mode, with the backing cache cold (evicted) and warm (prefetched), the mount's\n"
	       "cache dropped each time. Prints MB/s, the daemon's CPU seconds and context switches per\n"
	       "GiB (from .zcfs/stats) and the copies each path makes by design. LIST is comma separated\n"
	       "(default: all five; passthrough is left out, with the reason, where the mount serves it by\n"
	       "splice). FILE's own user.zcfs.mode is restored afterwards.\n");
	return code;
}

/* "256M": digits, then at most one K, M or G; at least 1 MiB (smaller files measure nothing
 * but the round trip). 0 or -EINVAL. */
static int parse_size(const char *s, uint64_t *out)
{
	char *e;
	unsigned long long v;
	unsigned shift = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &e, 10);
	if (errno)
		return -EINVAL;
	if (*e && strchr("kKmMgG", *e)) {
		shift = (*e | 0x20) == 'k' ? 10 : (*e | 0x20) == 'm' ? 20 : 30;
		e++;
	}
	if (*e || v > (UINT64_MAX >> shift) || (v << shift) < (1u << 20))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

int zctl_cmd_bench(int argc, char **argv)
{
	const char *file = NULL;
	uint64_t size = 256ull << 20;
	char modes_arg[128] = "buffered,direct,mmap,splice,passthrough";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return usage(ZCTL_EXIT_OK);
		else if (strcmp(argv[i], "--json") == 0)
			zctl_opt_json = true;
		else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
			if (parse_size(argv[++i], &size) < 0) {
				fprintf(stderr, "zcfsctl bench: bad --size '%s': expected bytes, with an optional "
						"K, M or G suffix (at least 1M)\n", argv[i]);
				return ZCTL_EXIT_USAGE;
			}
		} else if (strcmp(argv[i], "--modes") == 0 && i + 1 < argc)
			snprintf(modes_arg, sizeof(modes_arg), "%s", argv[++i]);
		else if (argv[i][0] == '-') {
			fprintf(stderr, "zcfsctl bench: unknown option %s\n", argv[i]);
			return ZCTL_EXIT_USAGE;
		} else
			file = argv[i];
	}
	if (!file)
		return usage(ZCTL_EXIT_USAGE);
	bool want[ZC_MODE_COUNT] = {0};
	char *save = NULL;
	for (char *t = strtok_r(modes_arg, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		enum zc_mode m;
		if (zc_mode_parse(t, strlen(t), &m) < 0) {
			fprintf(stderr, "zcfsctl bench: unknown mode %s\n", t);
			return ZCTL_EXIT_USAGE;
		}
		want[m] = true;
	}
	struct stat fst;
	if (stat(file, &fst) == 0 && !S_ISREG(fst.st_mode)) {
		fprintf(stderr, "zcfsctl bench: %s: not a regular file (bench reads one file)\n", file);
		return ZCTL_EXIT_FAIL;
	}
	if (access(file, F_OK) < 0) {
		int rc = make_file(file, size);
		if (rc < 0) {
			fprintf(stderr, "zcfsctl bench: creating %s: %s\n", file, strerror(-rc));
			return ZCTL_EXIT_FAIL;
		}
	}
	struct zctl_mount m;
	int rc = zctl_mount_find(file, &m);
	if (rc < 0)
		return zctl_mount_complain(file, rc);
	char saved[64];
	ssize_t saved_len = getxattr(file, "user.zcfs.mode", saved, sizeof(saved));
	int status = ZCTL_EXIT_OK;
	if (zctl_opt_json)
		printf("{\"file\":");
	if (zctl_opt_json) {
		zc_json_string(stdout, file);
		printf(",\"results\":[");
	} else {
		printf("%-11s %-5s %9s %12s %12s  %s\n", "mode", "cache", "MB/s", "cpu s/GiB", "ctxsw/GiB",
		       "copies by design (daemon side)");
	}
	bool first = true;
	for (int mi = 0; mi < ZC_MODE_COUNT; mi++) {
		if (!want[mi])
			continue;
		const char *mn = zc_mode_name((enum zc_mode)mi);
		if (setxattr(file, "user.zcfs.mode", mn, strlen(mn), 0) < 0) {
			fprintf(stderr, "zcfsctl bench: setting mode %s on %s: %s\n", mn, file, strerror(errno));
			status = ZCTL_EXIT_FAIL;
			break;
		}
		for (int warm = 0; warm <= 1; warm++) {
			char *reply = NULL;
			rc = zctl_ctl_path(&m, "evict", m.rel, &reply);
			if (rc == 0 && warm) {
				free(reply);
				rc = zctl_ctl_path(&m, "prefetch", m.rel, &reply);
			}
			if (rc < 0) { /* the same answer for every mode: say it once */
				fprintf(stderr, "zcfsctl bench: %s: %s\n", file,
					reply ? strtok(reply, "\n") : strerror(-rc));
				free(reply);
				status = ZCTL_EXIT_FAIL;
				goto out;
			}
			free(reply);
			drop_mount_cache(file);
			struct daemon_fig a, b;
			uint64_t bytes = 0;
			double t0 = 0, el = 0;
			if (rc == 0)
				rc = daemon_now(&m, &a);
			if (rc == 0) {
				t0 = zctl_now();
				rc = read_all(file, &bytes);
				el = zctl_now() - t0;
			}
			if (rc == 0)
				rc = daemon_now(&m, &b);
			if (rc < 0) {
				fprintf(stderr, "zcfsctl bench: %s (%s): %s\n", file, mn, strerror(-rc));
				status = ZCTL_EXIT_FAIL;
				continue;
			}
			double gib = (double)bytes / (double)(1ull << 30);
			double mbps = el > 0 ? (double)bytes / el / 1e6 : 0;
			double cpu = gib > 0 ? (b.cpu - a.cpu) / gib : 0;
			double cs = gib > 0 ? (b.vcs + b.ivcs - a.vcs - a.ivcs) / gib : 0;
			/* A passthrough open is counted, its reads are not (they never reach the daemon). */
			bool pt = mi == ZC_MODE_PASSTHROUGH;
			bool took = pt ? b.opens[mi] > a.opens[mi] : b.reads[mi] > a.reads[mi];
			if (pt && !took) {
				char eff[256] = "";
				int hold = open(file, O_RDONLY | O_CLOEXEC); /* the reason shows while open */
				ssize_t en = getxattr(file, "user.zcfs.effective", eff, sizeof(eff) - 1);
				if (hold >= 0)
					close(hold);
				char *why = en > 0 ? strstr(eff, "fallback=") : NULL;
				if (why)
					why[strcspn(why, " \n")] = '\0';
				fprintf(stderr, "zcfsctl bench: passthrough left out: this mount serves it by %s\n",
					why ? why + 9 : "another mode (see zcfsctl doctor)");
				break;
			}
			if (!took) {
				fprintf(stderr, "zcfsctl bench: no %s reads counted: the mount served %s from its own "
					"cache (cache=keep?) or the mode did not apply\n", mn, file);
				status = ZCTL_EXIT_FAIL;
			}
			if (zctl_opt_json) {
				printf("%s{\"mode\":\"%s\",\"backing_cache\":\"%s\",\"bytes\":%llu,\"seconds\":%.6f,"
				       "\"mb_per_s\":%.1f,\"daemon_cpu_s_per_gib\":%.4f,\"ctxsw_per_gib\":%.0f,"
				       "\"daemon_reads\":%.0f,\"copies\":", first ? "" : ",", mn, warm ? "warm" : "cold",
				       (unsigned long long)bytes, el, mbps, cpu, cs, b.reads[mi] - a.reads[mi]);
				zc_json_string(stdout, copies[mi]);
				printf("}");
				first = false;
			} else {
				printf("%-11s %-5s %9.0f %12.3f %12.0f  %s\n", mn, warm ? "warm" : "cold", mbps, cpu, cs,
				       copies[mi]);
			}
			fflush(stdout);
		}
	}
out:
	if (zctl_opt_json)
		printf("]}\n");
	else if (status == ZCTL_EXIT_OK)
		printf("cold: backing cache evicted; warm: backing cache prefetched. The mount's cache is dropped "
		       "before each pass,\nso every byte comes from the daemon (passthrough: from the kernel, "
		       "reading the backing file); the\napplication's own copy out of the request is the same "
		       "for all.\n");
	if (saved_len > 0)
		setxattr(file, "user.zcfs.mode", saved, (size_t)saved_len, 0);
	else
		removexattr(file, "user.zcfs.mode");
	return status;
}
