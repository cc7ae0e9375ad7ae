/* cmd_stats.c - zcfsctl stats: the daemon's statistics as a table, raw Prometheus text or JSON,
 * or per-interval rates like iostat (--watch). Everything comes from the mount's stats file. */
#include "zcfsctl.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "zc/mode.h"
#include "zc/prom.h"

#define NBUCKET 32

struct mode_fig {
	double reads, bytes, errors, lat_sum, lat_count;
	double le[NBUCKET], cum[NBUCKET];
	int nbucket;
};

struct snap {
	struct mode_fig mode[ZC_MODE_COUNT];
	double fallbacks, uptime, cpu_user, cpu_sys, vcs, ivcs, handles, inodes, fds, written;
	char *text;
};

static double get(const char *text, const char *name, const char *labels)
{
	double v = 0;
	zctl_prom_get(text, name, labels, &v);
	return v;
}

static void parse_buckets(const char *text, const char *mode, struct mode_fig *f)
{
	char prefix[128];
	int n = snprintf(prefix, sizeof(prefix), "zcfs_read_latency_seconds_bucket{mode=\"%s\",le=\"", mode);
	f->nbucket = 0;
	for (const char *l = strstr(text, prefix); l && f->nbucket < NBUCKET; l = strstr(l + 1, prefix)) {
		const char *le = l + n;
		f->le[f->nbucket] = strncmp(le, "+Inf", 4) == 0 ? -1 : strtod(le, NULL);
		const char *sp = strchr(le, ' ');
		if (!sp)
			break;
		f->cum[f->nbucket++] = strtod(sp + 1, NULL);
	}
}

static int take(const struct zctl_mount *m, struct snap *s)
{
	char path[sizeof(m->ctl_dir) + 16];
	snprintf(path, sizeof(path), "%s/stats", m->ctl_dir);
	memset(s, 0, sizeof(*s));
	int rc = zctl_slurp(path, &s->text, NULL);
	if (rc < 0)
		return rc;
	for (int i = 0; i < ZC_MODE_COUNT; i++) {
		char lab[64];
		const char *mn = zc_mode_name((enum zc_mode)i);
		snprintf(lab, sizeof(lab), "mode=\"%s\"", mn);
		struct mode_fig *f = &s->mode[i];
		f->reads = get(s->text, "zcfs_reads_total", lab);
		f->bytes = get(s->text, "zcfs_read_bytes_total", lab);
		f->errors = get(s->text, "zcfs_read_errors_total", lab);
		f->lat_sum = get(s->text, "zcfs_read_latency_seconds_sum", lab);
		f->lat_count = get(s->text, "zcfs_read_latency_seconds_count", lab);
		parse_buckets(s->text, mn, f);
	}
	const char *fb = "zcfs_fallbacks_total{";
	for (const char *l = strstr(s->text, fb); l; l = strstr(l + 1, fb)) {
		const char *sp = strchr(l, ' ');
		if (sp)
			s->fallbacks += strtod(sp + 1, NULL);
	}
	s->uptime = get(s->text, "zcfs_uptime_seconds", NULL);
	s->cpu_user = get(s->text, "zcfs_cpu_seconds_total", "mode=\"user\"");
	s->cpu_sys = get(s->text, "zcfs_cpu_seconds_total", "mode=\"system\"");
	s->vcs = get(s->text, "zcfs_context_switches_total", "kind=\"voluntary\"");
	s->ivcs = get(s->text, "zcfs_context_switches_total", "kind=\"involuntary\"");
	s->handles = get(s->text, "zcfs_open_handles", NULL);
	s->inodes = get(s->text, "zcfs_inodes", NULL);
	s->fds = get(s->text, "zcfs_cached_fds", NULL);
	s->written = get(s->text, "zcfs_written_bytes_total", NULL);
	if (zctl_prom_get(s->text, "zcfs_uptime_seconds", NULL, &s->uptime) < 0) {
		free(s->text);
		s->text = NULL;
		return -EPROTO;
	}
	return 0;
}

/* Upper bound (microseconds) of the bucket holding quantile q of the reads between a and b;
 * -1 when there were none; INFINITY-ish (1e12) for the +Inf bucket. */
static double quantile_us(const struct mode_fig *a, const struct mode_fig *b, double q)
{
	double total = b->lat_count - (a ? a->lat_count : 0);
	if (total <= 0)
		return -1;
	for (int i = 0; i < b->nbucket; i++) {
		double c = b->cum[i] - (a && i < a->nbucket ? a->cum[i] : 0);
		if (c >= q * total)
			return b->le[i] < 0 ? 1e12 : b->le[i] * 1e6;
	}
	return 1e12;
}

static void fmt_us(double us, char *buf, size_t len)
{
	if (us < 0)
		snprintf(buf, len, "-");
	else if (us >= 1e12)
		snprintf(buf, len, ">1s");
	else if (us >= 1000)
		snprintf(buf, len, "<=%.0fms", us / 1000);
	else
		snprintf(buf, len, "<=%.0fus", us);
}

static void table(const char *root, const struct snap *s)
{
	char b[32];
	printf("zcfs at %s: up %.1fs, %.0f open handles, %.0f inodes, %.0f cached descriptors\n", root,
	       s->uptime, s->handles, s->inodes, s->fds);
	printf("%-9s %12s %12s %8s %10s %10s %10s\n", "mode", "reads", "bytes", "errors", "mean", "p50",
	       "p99");
	for (int i = 0; i < ZC_MODE_COUNT; i++) {
		const struct mode_fig *f = &s->mode[i];
		char p50[16], p99[16], mean[16];
		zctl_human_bytes((uint64_t)f->bytes, b, sizeof(b));
		fmt_us(quantile_us(NULL, f, 0.5), p50, sizeof(p50));
		fmt_us(quantile_us(NULL, f, 0.99), p99, sizeof(p99));
		if (f->lat_count > 0)
			snprintf(mean, sizeof(mean), "%.0fus", f->lat_sum / f->lat_count * 1e6);
		else
			snprintf(mean, sizeof(mean), "-");
		printf("%-9s %12.0f %12s %8.0f %10s %10s %10s\n", zc_mode_name((enum zc_mode)i), f->reads, b,
		       f->errors, mean, p50, p99);
	}
	zctl_human_bytes((uint64_t)s->written, b, sizeof(b));
	printf("fallbacks %.0f, written %s\n", s->fallbacks, b);
	printf("daemon CPU %.3fs user + %.3fs system, context switches %.0f voluntary + %.0f involuntary\n",
	       s->cpu_user, s->cpu_sys, s->vcs, s->ivcs);
	/* Operations with a non-zero count, on one wrapped line. */
	printf("operations:");
	int col = 11;
	const char *pre = "zcfs_ops_total{op=\"";
	for (const char *l = strstr(s->text, pre); l; l = strstr(l + 1, pre)) {
		const char *name = l + strlen(pre), *q = strchr(name, '"'), *sp = q ? strchr(q, ' ') : NULL;
		if (!sp)
			break;
		double v = strtod(sp + 1, NULL);
		if (v <= 0)
			continue;
		char item[96];
		int n = snprintf(item, sizeof(item), " %.*s=%.0f", (int)(q - name), name, v);
		if (col + n > 78) {
			printf("\n           ");
			col = 11;
		}
		fputs(item, stdout);
		col += n;
	}
	printf("\n");
}

static volatile sig_atomic_t stop;
static void on_sigint(int sig)
{
	(void)sig;
	stop = 1;
}

static int watch(const struct zctl_mount *m, double interval, long count)
{
	struct snap a, b;
	int rc = take(m, &a);
	if (rc < 0)
		return rc;
	signal(SIGINT, on_sigint);
	printf("%-8s %-8s %10s %9s %8s %8s %7s %8s %8s\n", "time", "mode", "reads/s", "MB/s", "p50",
	       "p99", "cpu%", "vcs/s", "ivcs/s");
	for (long n = 0; !stop && (count <= 0 || n < count); n++) {
		struct timespec ts = {(time_t)interval, (long)((interval - (double)(time_t)interval) * 1e9)};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stop)
			;
		if (stop)
			break;
		rc = take(m, &b);
		if (rc < 0) {
			free(a.text);
			return rc;
		}
		double dt = b.uptime - a.uptime;
		if (dt <= 0)
			dt = interval;
		double cpu = (b.cpu_user + b.cpu_sys - a.cpu_user - a.cpu_sys) / dt * 100;
		char tbuf[16];
		time_t now = time(NULL);
		strftime(tbuf, sizeof(tbuf), "%H:%M:%S", localtime(&now));
		bool any = false;
		for (int i = 0; i < ZC_MODE_COUNT; i++) {
			const struct mode_fig *fa = &a.mode[i], *fb = &b.mode[i];
			double r = fb->reads - fa->reads;
			if (r <= 0)
				continue;
			char p50[16], p99[16];
			fmt_us(quantile_us(fa, fb, 0.5), p50, sizeof(p50));
			fmt_us(quantile_us(fa, fb, 0.99), p99, sizeof(p99));
			printf("%-8s %-8s %10.0f %9.1f %8s %8s %7.1f %8.0f %8.0f\n", tbuf,
			       zc_mode_name((enum zc_mode)i), r / dt, (fb->bytes - fa->bytes) / dt / 1e6, p50, p99,
			       cpu, (b.vcs - a.vcs) / dt, (b.ivcs - a.ivcs) / dt);
			any = true;
		}
		if (!any)
			printf("%-8s %-8s %10.0f %9.1f %8s %8s %7.1f %8.0f %8.0f\n", tbuf, "-", 0.0, 0.0, "-", "-",
			       cpu, (b.vcs - a.vcs) / dt, (b.ivcs - a.ivcs) / dt);
		fflush(stdout);
		free(a.text);
		a = b;
	}
	free(a.text);
	return 0;
}

/* The Prometheus text of several mounts as one exposition, each metric family once: their
 * series differ by the mount= (and node=) label the daemons add. */
static int prom_merged(const char *const *mounts, size_t n)
{
	char *texts[64] = { 0 }, *out = NULL;
	size_t len = 0;
	int status = ZCTL_EXIT_OK;

	for (size_t i = 0; i < n && status == ZCTL_EXIT_OK; i++) {
		struct zctl_mount m;
		char path[sizeof(m.ctl_dir) + 16];
		int rc = zctl_mount_find(mounts[i], &m);
		if (rc < 0) {
			status = zctl_mount_complain(mounts[i], rc);
			break;
		}
		snprintf(path, sizeof(path), "%s/stats", m.ctl_dir);
		rc = zctl_slurp(path, &texts[i], NULL);
		if (rc < 0) {
			fprintf(stderr, "zcfsctl stats: %s: %s\n", path, strerror(-rc));
			status = ZCTL_EXIT_FAIL;
		}
	}
	if (status == ZCTL_EXIT_OK && zc_prom_merge((const char *const *)texts, n, &out, &len) < 0) {
		fprintf(stderr, "zcfsctl stats: out of memory\n");
		status = ZCTL_EXIT_FAIL;
	}
	if (status == ZCTL_EXIT_OK)
		fwrite(out, 1, len, stdout);
	free(out);
	for (size_t i = 0; i < n; i++)
		free(texts[i]);
	return status;
}

int zctl_cmd_stats(int argc, char **argv)
{
	const char *where = ".";
	const char *mounts[64];
	size_t nmounts = 0;
	bool prom = false;
	double interval = 0;
	long count = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			printf("usage: zcfsctl stats [MOUNT] [--json|--prom] [--watch SECONDS [--count N]]\n"
			       "       zcfsctl stats --prom MOUNT...\n"
			       "The daemon's statistics for the zcfs mount holding MOUNT (default: the current\n"
			       "directory): a table; --prom the Prometheus text as is (of several mounts: one\n"
			       "exposition, each metric once, series told apart by their mount= label); --json the\n"
			       "JSON snapshot;\n"
			       "--watch prints per-interval rates per read mode (reads/s, MB/s, latency p50/p99\n"
			       "bucket bounds), daemon CPU%% and context switches per second, until interrupted\n"
			       "or --count intervals.\n");
			return ZCTL_EXIT_OK;
		} else if (strcmp(a, "--json") == 0) {
			zctl_opt_json = true;
		} else if (strcmp(a, "--prom") == 0) {
			prom = true;
		} else if (strcmp(a, "--watch") == 0 && i + 1 < argc) {
			interval = strtod(argv[++i], NULL);
			if (interval <= 0) {
				fprintf(stderr, "zcfsctl stats: --watch needs a positive number of seconds\n");
				return ZCTL_EXIT_USAGE;
			}
		} else if (strcmp(a, "--count") == 0 && i + 1 < argc) {
			char *e;
			const char *v = argv[++i];
			count = strtol(v, &e, 10);
			if (*v < '0' || *v > '9' || *e || count <= 0) {
				fprintf(stderr, "zcfsctl stats: --count needs a positive number of intervals, got '%s'\n", v);
				return ZCTL_EXIT_USAGE;
			}
		} else if (a[0] == '-') {
			fprintf(stderr, "zcfsctl stats: unknown option %s\n", a);
			return ZCTL_EXIT_USAGE;
		} else if (nmounts < sizeof(mounts) / sizeof(mounts[0])) {
			mounts[nmounts++] = where = a;
		} else {
			fprintf(stderr, "zcfsctl stats: at most 64 mounts\n");
			return ZCTL_EXIT_USAGE;
		}
	}
	if (nmounts > 1 && !prom) {
		fprintf(stderr, "zcfsctl stats: several mounts only with --prom (one exposition of them all)\n");
		return ZCTL_EXIT_USAGE;
	}
	if (nmounts > 1)
		return prom_merged(mounts, nmounts);
	if (count && interval <= 0) {
		fprintf(stderr, "zcfsctl stats: --count counts --watch intervals: give --watch SECONDS too\n");
		return ZCTL_EXIT_USAGE;
	}
	struct zctl_mount m;
	int rc = zctl_mount_find(where, &m);
	if (rc < 0)
		return zctl_mount_complain(where, rc);
	if (zctl_opt_json || prom) {
		char path[sizeof(m.ctl_dir) + 16], *text;
		snprintf(path, sizeof(path), "%s/%s", m.ctl_dir, prom ? "stats" : "stats.json");
		rc = zctl_slurp(path, &text, NULL);
		if (rc < 0) {
			fprintf(stderr, "zcfsctl stats: %s: %s\n", path, strerror(-rc));
			return ZCTL_EXIT_FAIL;
		}
		fputs(text, stdout);
		free(text);
		return ZCTL_EXIT_OK;
	}
	if (interval > 0) {
		rc = watch(&m, interval, count);
	} else {
		struct snap s;
		rc = take(&m, &s);
		if (rc == 0) {
			table(m.root, &s);
			free(s.text);
		}
	}
	if (rc < 0) {
		fprintf(stderr, "zcfsctl stats: %s: %s\n", m.ctl_dir, strerror(-rc));
		return ZCTL_EXIT_FAIL;
	}
	return ZCTL_EXIT_OK;
}
