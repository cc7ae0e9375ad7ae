/* stats.c - see zc/stats.h. Counters are relaxed atomics grouped per read mode on their own cache
 * lines; snapshots copy them (each counter is exact, the set is read in one pass). */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "zc/stats.h"

/* Bucket upper bounds in microseconds; the last is +Inf. */
static const uint64_t bucket_le_us[ZC_LAT_BUCKETS] = {
	5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 1000000,
	UINT64_MAX,
};

struct mode_counters {
	_Atomic uint64_t opens, reads, bytes, errors, lat_sum_ns;
	_Atomic uint64_t lat[ZC_LAT_BUCKETS]; /* per bucket, not cumulative */
} __attribute__((aligned(64)));

struct zc_stats {
	struct mode_counters mode[ZC_MODE_COUNT];
	_Atomic uint64_t fallback[ZC_MODE_COUNT][ZC_MODE_COUNT];
	_Atomic uint64_t op_count[ZC_OP_COUNT], op_errors[ZC_OP_COUNT];
	_Atomic int64_t gauge[ZC_G_COUNT];
	_Atomic uint64_t event[ZC_EV_COUNT];
	_Atomic uint64_t written;
	struct timespec started; /* CLOCK_MONOTONIC, immutable */
};

#define ZC_OP_NAME(name) #name,
static const char *const op_names[ZC_OP_COUNT] = { ZC_OPS_LIST(ZC_OP_NAME) };
#undef ZC_OP_NAME

#define ADD(field, v) atomic_fetch_add_explicit(&(field), (v), memory_order_relaxed)
#define LOAD(field) atomic_load_explicit(&(field), memory_order_relaxed)

void zc_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

const char *zc_op_name(enum zc_op op)
{
	return (unsigned)op < ZC_OP_COUNT ? op_names[op] : "?";
}

uint64_t zc_stats_bucket_le_us(unsigned i)
{
	return i < ZC_LAT_BUCKETS ? bucket_le_us[i] : UINT64_MAX;
}

struct zc_stats *zc_stats_new(void)
{
	struct zc_stats *st = aligned_alloc(64, (sizeof(*st) + 63) / 64 * 64);

	if (!st)
		return NULL;
	memset(st, 0, sizeof(*st));
	clock_gettime(CLOCK_MONOTONIC, &st->started);
	return st;
}

void zc_stats_free(struct zc_stats *st)
{
	free(st);
}

static unsigned bucket_of(uint64_t lat_ns)
{
	uint64_t us = lat_ns / 1000;
	unsigned i = 0;

	while (us > bucket_le_us[i])
		i++; /* the last bound is UINT64_MAX: always stops */
	return i;
}

void zc_stats_read(struct zc_stats *st, enum zc_mode mode, size_t bytes, uint64_t lat_ns, int err)
{
	struct mode_counters *m;

	if (!st || (unsigned)mode >= ZC_MODE_COUNT)
		return;
	m = &st->mode[mode];
	ADD(m->reads, 1);
	if (err) {
		ADD(m->errors, 1);
		return;
	}
	ADD(m->bytes, bytes);
	ADD(m->lat_sum_ns, lat_ns);
	ADD(m->lat[bucket_of(lat_ns)], 1);
}

void zc_stats_open(struct zc_stats *st, enum zc_mode mode)
{
	if (st && (unsigned)mode < ZC_MODE_COUNT)
		ADD(st->mode[mode].opens, 1);
}

void zc_stats_op(struct zc_stats *st, enum zc_op op, int err)
{
	if (!st || (unsigned)op >= ZC_OP_COUNT)
		return;
	ADD(st->op_count[op], 1);
	if (err)
		ADD(st->op_errors[op], 1);
}

void zc_stats_fallback(struct zc_stats *st, enum zc_mode from, enum zc_mode to)
{
	if (!st || (unsigned)from >= ZC_MODE_COUNT || (unsigned)to >= ZC_MODE_COUNT)
		return;
	ADD(st->fallback[from][to], 1);
}

void zc_stats_written(struct zc_stats *st, size_t bytes)
{
	if (st)
		ADD(st->written, bytes);
}

void zc_stats_gauge_add(struct zc_stats *st, enum zc_gauge g, int64_t delta)
{
	if (st && (unsigned)g < ZC_G_COUNT)
		ADD(st->gauge[g], delta);
}

void zc_stats_event(struct zc_stats *st, enum zc_event ev)
{
	if (st && (unsigned)ev < ZC_EV_COUNT)
		ADD(st->event[ev], 1);
}

void zc_stats_reset(struct zc_stats *st)
{
	if (!st)
		return;
	for (int m = 0; m < ZC_MODE_COUNT; m++) {
		struct mode_counters *c = &st->mode[m];
		atomic_store_explicit(&c->opens, 0, memory_order_relaxed);
		atomic_store_explicit(&c->reads, 0, memory_order_relaxed);
		atomic_store_explicit(&c->bytes, 0, memory_order_relaxed);
		atomic_store_explicit(&c->errors, 0, memory_order_relaxed);
		atomic_store_explicit(&c->lat_sum_ns, 0, memory_order_relaxed);
		for (int b = 0; b < ZC_LAT_BUCKETS; b++)
			atomic_store_explicit(&c->lat[b], 0, memory_order_relaxed);
		for (int t = 0; t < ZC_MODE_COUNT; t++)
			atomic_store_explicit(&st->fallback[m][t], 0, memory_order_relaxed);
	}
	for (int o = 0; o < ZC_OP_COUNT; o++) {
		atomic_store_explicit(&st->op_count[o], 0, memory_order_relaxed);
		atomic_store_explicit(&st->op_errors[o], 0, memory_order_relaxed);
	}
	for (int e = 0; e < ZC_EV_COUNT; e++)
		atomic_store_explicit(&st->event[e], 0, memory_order_relaxed);
	atomic_store_explicit(&st->written, 0, memory_order_relaxed);
}

int zc_stats_snapshot(struct zc_stats *st, struct zc_stats_snap *snap)
{
	struct rusage ru;
	struct timespec now;

	memset(snap, 0, sizeof(*snap));
	if (!st)
		return -EINVAL;
	for (int m = 0; m < ZC_MODE_COUNT; m++) {
		struct mode_counters *c = &st->mode[m];
		struct zc_stats_mode_snap *s = &snap->mode[m];
		uint64_t cum = 0;
		s->opens = LOAD(c->opens);
		s->reads = LOAD(c->reads);
		s->bytes = LOAD(c->bytes);
		s->errors = LOAD(c->errors);
		s->lat_sum_ns = LOAD(c->lat_sum_ns);
		for (int b = 0; b < ZC_LAT_BUCKETS; b++) {
			cum += LOAD(c->lat[b]);
			s->lat_bucket[b] = cum;
		}
		for (int t = 0; t < ZC_MODE_COUNT; t++)
			snap->fallback[m][t] = LOAD(st->fallback[m][t]);
	}
	for (int o = 0; o < ZC_OP_COUNT; o++) {
		snap->op_count[o] = LOAD(st->op_count[o]);
		snap->op_errors[o] = LOAD(st->op_errors[o]);
	}
	for (int g = 0; g < ZC_G_COUNT; g++)
		snap->gauge[g] = LOAD(st->gauge[g]);
	for (int e = 0; e < ZC_EV_COUNT; e++)
		snap->event[e] = LOAD(st->event[e]);
	snap->bytes_written = LOAD(st->written);
	clock_gettime(CLOCK_MONOTONIC, &now);
	snap->uptime_s = (double)(now.tv_sec - st->started.tv_sec) +
			 (double)(now.tv_nsec - st->started.tv_nsec) / 1e9;
	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return -errno;
	snap->cpu_user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
	snap->cpu_sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	snap->vol_ctxsw = (uint64_t)ru.ru_nvcsw;
	snap->invol_ctxsw = (uint64_t)ru.ru_nivcsw;
	return 0;
}

/* ---- rendering ---- */

static void metric_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *gauge_names[ZC_G_COUNT][2] = {
	{ "zcfs_open_handles", "Open file handles on backing files." },
	{ "zcfs_inodes", "Inodes in the daemon's table (known to the kernel)." },
	{ "zcfs_cached_fds", "O_PATH descriptors held by the inode table." },
	{ "zcfs_handle_fds", "Descriptors held by open file and directory handles." },
	{ "zcfs_passthrough_handles", "Open handles in passthrough mode: their reads and writes go "
				      "from the kernel to the backing file and are not counted here." },
	{ "zcfs_io_uring", "1 when requests arrive over io_uring, 0 over /dev/fuse." },
	{ "zcfs_watch", "How changes to the backing are seen: 2 fanotify, 1 inotify, 0 not at all "
			"(short timeouts)." },
};

struct event_def {
	const char *metric, *label, *help;
};

#define ZC_EV_DEF(name, metric, label, help) { metric, label, help },
static const struct event_def event_defs[ZC_EV_COUNT] = { ZC_EVENTS_LIST(ZC_EV_DEF) };
#undef ZC_EV_DEF

static void le_label(char *buf, size_t len, unsigned b)
{
	if (bucket_le_us[b] == UINT64_MAX)
		snprintf(buf, len, "+Inf");
	else
		snprintf(buf, len, "%g", (double)bucket_le_us[b] / 1e6);
}

static void per_mode(FILE *f, const struct zc_stats_snap *s, const char *name, const char *help,
		     size_t offset)
{
	metric_head(f, name, "counter", help);
	for (int m = 0; m < ZC_MODE_COUNT; m++) {
		const uint64_t *v = (const uint64_t *)((const char *)&s->mode[m] + offset);
		fprintf(f, "%s{mode=\"%s\"} %llu\n", name, zc_mode_name((enum zc_mode)m),
			(unsigned long long)*v);
	}
}

int zc_stats_render_prom(const struct zc_stats_snap *s, char **out, size_t *len)
{
	FILE *f = open_memstream(out, len);
	char le[32];

	if (!f)
		return -ENOMEM;
	per_mode(f, s, "zcfs_opens_total", "Files opened, by the read mode they got.",
		 offsetof(struct zc_stats_mode_snap, opens));
	per_mode(f, s, "zcfs_reads_total", "Read requests served by the daemon, by read mode "
				       "(passthrough: only reads that reached the daemon anyway).",
		 offsetof(struct zc_stats_mode_snap, reads));
	per_mode(f, s, "zcfs_read_bytes_total", "Bytes replied to read requests, by read mode.",
		 offsetof(struct zc_stats_mode_snap, bytes));
	per_mode(f, s, "zcfs_read_errors_total", "Read requests answered with an error.",
		 offsetof(struct zc_stats_mode_snap, errors));
	metric_head(f, "zcfs_fallbacks_total", "counter",
		    "Handles whose read mode fell back to another, by from and to mode.");
	for (int a = 0; a < ZC_MODE_COUNT; a++)
		for (int b = 0; b < ZC_MODE_COUNT; b++)
			if (a != b)
				fprintf(f, "zcfs_fallbacks_total{from=\"%s\",to=\"%s\"} %llu\n",
					zc_mode_name((enum zc_mode)a), zc_mode_name((enum zc_mode)b),
					(unsigned long long)s->fallback[a][b]);
	metric_head(f, "zcfs_read_latency_seconds", "histogram",
		    "Time from receiving a read request to sending its reply.");
	for (int m = 0; m < ZC_MODE_COUNT; m++) {
		const char *mn = zc_mode_name((enum zc_mode)m);
		const struct zc_stats_mode_snap *ms = &s->mode[m];
		for (unsigned b = 0; b < ZC_LAT_BUCKETS; b++) {
			le_label(le, sizeof(le), b);
			fprintf(f, "zcfs_read_latency_seconds_bucket{mode=\"%s\",le=\"%s\"} %llu\n", mn,
				le, (unsigned long long)ms->lat_bucket[b]);
		}
		fprintf(f, "zcfs_read_latency_seconds_sum{mode=\"%s\"} %.9f\n", mn,
			(double)ms->lat_sum_ns / 1e9);
		fprintf(f, "zcfs_read_latency_seconds_count{mode=\"%s\"} %llu\n", mn,
			(unsigned long long)ms->lat_bucket[ZC_LAT_BUCKETS - 1]);
	}
	metric_head(f, "zcfs_ops_total", "counter", "FUSE requests handled, by operation.");
	for (int o = 0; o < ZC_OP_COUNT; o++)
		fprintf(f, "zcfs_ops_total{op=\"%s\"} %llu\n", op_names[o],
			(unsigned long long)s->op_count[o]);
	metric_head(f, "zcfs_op_errors_total", "counter",
		    "FUSE requests answered with an error, by operation.");
	for (int o = 0; o < ZC_OP_COUNT; o++)
		fprintf(f, "zcfs_op_errors_total{op=\"%s\"} %llu\n", op_names[o],
			(unsigned long long)s->op_errors[o]);
	for (int g = 0; g < ZC_G_COUNT; g++) {
		metric_head(f, gauge_names[g][0], "gauge", gauge_names[g][1]);
		fprintf(f, "%s %lld\n", gauge_names[g][0], (long long)s->gauge[g]);
	}
	for (int e = 0; e < ZC_EV_COUNT; e++) {
		const struct event_def *d = &event_defs[e];
		if (e == 0 || strcmp(event_defs[e - 1].metric, d->metric) != 0)
			metric_head(f, d->metric, "counter", d->help);
		if (d->label)
			fprintf(f, "%s{%s} %llu\n", d->metric, d->label, (unsigned long long)s->event[e]);
		else
			fprintf(f, "%s %llu\n", d->metric, (unsigned long long)s->event[e]);
	}
	metric_head(f, "zcfs_written_bytes_total", "counter", "Bytes written to backing files.");
	fprintf(f, "zcfs_written_bytes_total %llu\n", (unsigned long long)s->bytes_written);
	metric_head(f, "zcfs_uptime_seconds", "gauge", "Seconds since the daemon started.");
	fprintf(f, "zcfs_uptime_seconds %.3f\n", s->uptime_s);
	metric_head(f, "zcfs_cpu_seconds_total", "counter", "CPU time of the daemon process.");
	fprintf(f, "zcfs_cpu_seconds_total{mode=\"user\"} %.6f\n", s->cpu_user_s);
	fprintf(f, "zcfs_cpu_seconds_total{mode=\"system\"} %.6f\n", s->cpu_sys_s);
	metric_head(f, "zcfs_context_switches_total", "counter",
		    "Context switches of the daemon process.");
	fprintf(f, "zcfs_context_switches_total{kind=\"voluntary\"} %llu\n",
		(unsigned long long)s->vol_ctxsw);
	fprintf(f, "zcfs_context_switches_total{kind=\"involuntary\"} %llu\n",
		(unsigned long long)s->invol_ctxsw);
	if (fclose(f) != 0)
		return -ENOMEM;
	return 0;
}

int zc_stats_render_json(const struct zc_stats_snap *s, char **out, size_t *len)
{
	FILE *f = open_memstream(out, len);
	bool first = true;

	if (!f)
		return -ENOMEM;
	fprintf(f, "{\"uptime_seconds\":%.3f,\"modes\":{", s->uptime_s);
	for (int m = 0; m < ZC_MODE_COUNT; m++) {
		const struct zc_stats_mode_snap *ms = &s->mode[m];
		fprintf(f, "%s\"%s\":{\"opens\":%llu,\"reads\":%llu,\"bytes\":%llu,\"errors\":%llu,\"latency\":{\"buckets\":[",
			m ? "," : "", zc_mode_name((enum zc_mode)m), (unsigned long long)ms->opens,
			(unsigned long long)ms->reads,
			(unsigned long long)ms->bytes, (unsigned long long)ms->errors);
		for (unsigned b = 0; b < ZC_LAT_BUCKETS; b++) {
			if (bucket_le_us[b] == UINT64_MAX)
				fprintf(f, "%s{\"le_us\":null,\"count\":%llu}", b ? "," : "",
					(unsigned long long)ms->lat_bucket[b]);
			else
				fprintf(f, "%s{\"le_us\":%llu,\"count\":%llu}", b ? "," : "",
					(unsigned long long)bucket_le_us[b],
					(unsigned long long)ms->lat_bucket[b]);
		}
		fprintf(f, "],\"sum_ns\":%llu}}", (unsigned long long)ms->lat_sum_ns);
	}
	fprintf(f, "},\"fallbacks\":[");
	for (int a = 0; a < ZC_MODE_COUNT; a++)
		for (int b = 0; b < ZC_MODE_COUNT; b++) {
			if (a == b)
				continue;
			fprintf(f, "%s{\"from\":\"%s\",\"to\":\"%s\",\"count\":%llu}", first ? "" : ",",
				zc_mode_name((enum zc_mode)a), zc_mode_name((enum zc_mode)b),
				(unsigned long long)s->fallback[a][b]);
			first = false;
		}
	fprintf(f, "],\"ops\":{");
	for (int o = 0; o < ZC_OP_COUNT; o++)
		fprintf(f, "%s\"%s\":{\"count\":%llu,\"errors\":%llu}", o ? "," : "", op_names[o],
			(unsigned long long)s->op_count[o], (unsigned long long)s->op_errors[o]);
	fprintf(f, "},\"gauges\":{");
	for (int g = 0; g < ZC_G_COUNT; g++)
		fprintf(f, "%s\"%s\":%lld", g ? "," : "", gauge_names[g][0] + 5,
			(long long)s->gauge[g]);
	fprintf(f, "},\"events\":{");
	for (int e = 0; e < ZC_EV_COUNT; e++) {
		const struct event_def *d = &event_defs[e];
		const char *q = d->label ? strchr(d->label, '"') : NULL; /* reason="uid" -> _uid */
		fprintf(f, "%s\"%s%s%.*s\":%llu", e ? "," : "", d->metric + 5, q ? "_" : "",
			q ? (int)strcspn(q + 1, "\"") : 0, q ? q + 1 : "",
			(unsigned long long)s->event[e]);
	}
	fprintf(f, "},\"written_bytes\":%llu,\"cpu\":{\"user_seconds\":%.6f,\"system_seconds\":%.6f},"
		   "\"context_switches\":{\"voluntary\":%llu,\"involuntary\":%llu}}\n",
		(unsigned long long)s->bytes_written, s->cpu_user_s, s->cpu_sys_s,
		(unsigned long long)s->vol_ctxsw, (unsigned long long)s->invol_ctxsw);
	if (fclose(f) != 0)
		return -ENOMEM;
	return 0;
}
