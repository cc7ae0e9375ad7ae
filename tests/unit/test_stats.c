/* test_stats.c - counters under concurrency, histogram buckets, reset, and both renderings
 * checked against their formats. */
#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "zc/stats.h"

#define THREADS 4
#define PER_THREAD 100000

static void *hammer(void *arg)
{
	struct zc_stats *st = arg;
	for (int i = 0; i < PER_THREAD; i++) {
		zc_stats_read(st, ZC_MODE_SPLICE, 4096, 3000, 0);
		zc_stats_op(st, ZC_OP_read, i % 10 == 0);
	}
	return NULL;
}

static void test_stats_concurrent_counts_are_exact(void **state)
{
	struct zc_stats *st = zc_stats_new();
	struct zc_stats_snap s;
	pthread_t t[THREADS];

	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, hammer, st);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(zc_stats_snapshot(st, &s), 0);
	assert_int_equal(s.mode[ZC_MODE_SPLICE].reads, THREADS * PER_THREAD);
	assert_int_equal(s.mode[ZC_MODE_SPLICE].bytes, (uint64_t)THREADS * PER_THREAD * 4096);
	assert_int_equal(s.mode[ZC_MODE_BUFFERED].reads, 0);
	assert_int_equal(s.op_count[ZC_OP_read], THREADS * PER_THREAD);
	assert_int_equal(s.op_errors[ZC_OP_read], THREADS * PER_THREAD / 10);
	assert_int_equal(s.mode[ZC_MODE_SPLICE].lat_bucket[ZC_LAT_BUCKETS - 1], THREADS * PER_THREAD);
	zc_stats_free(st);
}

static void test_stats_histogram_buckets(void **state)
{
	struct zc_stats *st = zc_stats_new();
	struct zc_stats_snap s;

	zc_stats_read(st, ZC_MODE_MMAP, 1, 5000, 0);          /* 5 us: first bucket (le 5us) */
	zc_stats_read(st, ZC_MODE_MMAP, 1, 5001000, 0);       /* 5.001 ms: le 10 ms */
	zc_stats_read(st, ZC_MODE_MMAP, 1, 9000000000ull, 0); /* 9 s: +Inf only */
	zc_stats_read(st, ZC_MODE_MMAP, 0, 100, -5);          /* an error: counted, not timed */
	zc_stats_snapshot(st, &s);
	const struct zc_stats_mode_snap *m = &s.mode[ZC_MODE_MMAP];
	assert_int_equal(zc_stats_bucket_le_us(0), 5);
	assert_int_equal(m->lat_bucket[0], 1);
	for (unsigned i = 1; i < ZC_LAT_BUCKETS; i++) {
		assert_true(m->lat_bucket[i] >= m->lat_bucket[i - 1]); /* cumulative */
		if (zc_stats_bucket_le_us(i) == 10000)
			assert_int_equal(m->lat_bucket[i], 2);
	}
	assert_int_equal(m->lat_bucket[ZC_LAT_BUCKETS - 2], 2);
	assert_int_equal(m->lat_bucket[ZC_LAT_BUCKETS - 1], 3);
	assert_int_equal(m->reads, 4);
	assert_int_equal(m->errors, 1);
	assert_int_equal(m->lat_sum_ns, 5000 + 5001000 + 9000000000ull);
	zc_stats_free(st);
}

static void test_stats_reset_keeps_gauges(void **state)
{
	struct zc_stats *st = zc_stats_new();
	struct zc_stats_snap s;

	zc_stats_read(st, ZC_MODE_DIRECT, 10, 10, 0);
	zc_stats_fallback(st, ZC_MODE_DIRECT, ZC_MODE_BUFFERED);
	zc_stats_written(st, 77);
	zc_stats_gauge_add(st, ZC_G_INODES, 5);
	zc_stats_gauge_add(st, ZC_G_INODES, -2);
	zc_stats_snapshot(st, &s);
	assert_int_equal(s.fallback[ZC_MODE_DIRECT][ZC_MODE_BUFFERED], 1);
	assert_int_equal(s.bytes_written, 77);
	zc_stats_reset(st);
	zc_stats_snapshot(st, &s);
	assert_int_equal(s.mode[ZC_MODE_DIRECT].reads, 0);
	assert_int_equal(s.fallback[ZC_MODE_DIRECT][ZC_MODE_BUFFERED], 0);
	assert_int_equal(s.bytes_written, 0);
	assert_int_equal(s.gauge[ZC_G_INODES], 3);
	assert_true(s.uptime_s >= 0);
	zc_stats_free(st);
}

/* A line-by-line check of the Prometheus text format (0.0.4). */
static void check_prom(const char *text)
{
	char typed[64][64];
	int ntyped = 0, samples = 0;
	const char *line = text;
	uint64_t last_bucket = 0, inf_count = UINT64_MAX;
	char last_series[256] = "";

	while (*line) {
		const char *nl = strchr(line, '\n');
		char buf[512];
		assert_non_null(nl); /* every line ends with a newline */
		assert_true((size_t)(nl - line) < sizeof(buf));
		memcpy(buf, line, (size_t)(nl - line));
		buf[nl - line] = '\0';
		line = nl + 1;
		if (strncmp(buf, "# HELP ", 7) == 0)
			continue;
		if (strncmp(buf, "# TYPE ", 7) == 0) {
			char name[64], type[32];
			assert_int_equal(sscanf(buf + 7, "%63s %31s", name, type), 2);
			assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
				    strcmp(type, "histogram") == 0);
			if (strcmp(type, "counter") == 0)
				assert_non_null(strstr(name, "_total"));
			assert_true(ntyped < 64);
			strcpy(typed[ntyped++], name);
			continue;
		}
		/* a sample: name{labels} value */
		char name[128];
		size_t n = strspn(buf, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:");
		assert_true(n > 0 && n < sizeof(name) && !isdigit((unsigned char)buf[0]));
		memcpy(name, buf, n);
		name[n] = '\0';
		bool declared = false;
		for (int i = 0; i < ntyped; i++) {
			size_t tl = strlen(typed[i]);
			if (strcmp(name, typed[i]) == 0 ||
			    (strncmp(name, typed[i], tl) == 0 &&
			     (!strcmp(name + tl, "_bucket") || !strcmp(name + tl, "_sum") ||
			      !strcmp(name + tl, "_count"))))
				declared = true;
		}
		assert_true(declared); /* TYPE line came first */
		const char *v = strrchr(buf, ' ');
		assert_non_null(v);
		char *end;
		double val = strtod(v + 1, &end);
		assert_true(*end == '\0' && val >= 0);
		if (strstr(name, "_bucket")) {
			char series[256];
			snprintf(series, sizeof(series), "%.*s", (int)(strstr(buf, ",le=") - buf), buf);
			if (strcmp(series, last_series) != 0)
				last_bucket = 0;
			strcpy(last_series, series);
			assert_true((uint64_t)val >= last_bucket); /* monotonic */
			last_bucket = (uint64_t)val;
			if (strstr(buf, "le=\"+Inf\""))
				inf_count = (uint64_t)val;
		}
		if (strstr(name, "_count") && strstr(name, "latency"))
			assert_int_equal((uint64_t)val, inf_count);
		samples++;
	}
	assert_true(samples > 50);
}

static void test_stats_prometheus_format(void **state)
{
	struct zc_stats *st = zc_stats_new();
	struct zc_stats_snap s;
	char *out = NULL;
	size_t len = 0;

	zc_stats_read(st, ZC_MODE_BUFFERED, 131072, 40000, 0);
	zc_stats_op(st, ZC_OP_lookup, 0);
	zc_stats_snapshot(st, &s);
	assert_int_equal(zc_stats_render_prom(&s, &out, &len), 0);
	assert_int_equal(strlen(out), len);
	check_prom(out);
	assert_non_null(strstr(out, "zcfs_reads_total{mode=\"buffered\"} 1\n"));
	assert_non_null(strstr(out, "zcfs_read_bytes_total{mode=\"buffered\"} 131072\n"));
	assert_non_null(strstr(out, "zcfs_reads_total{mode=\"splice\"} 0\n"));
	assert_non_null(strstr(out, "zcfs_ops_total{op=\"lookup\"} 1\n"));
	assert_non_null(strstr(out, "zcfs_read_latency_seconds_bucket{mode=\"buffered\",le=\"5e-05\"} 1\n"));
	assert_non_null(strstr(out, "zcfs_context_switches_total{kind=\"voluntary\"}"));
	free(out);
	zc_stats_free(st);
}

/* Minimal recursive-descent JSON validator. */
static const char *json_value(const char *p);
static const char *ws(const char *p)
{
	while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
		p++;
	return p;
}
static const char *json_string(const char *p)
{
	if (*p != '"')
		return NULL;
	for (p++; *p && *p != '"'; p++)
		if (*p == '\\')
			p++;
	return *p == '"' ? p + 1 : NULL;
}
static const char *json_value(const char *p)
{
	p = ws(p);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		bool obj = *p == '{';
		p = ws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (obj) {
				p = json_string(ws(p));
				if (!p)
					return NULL;
				p = ws(p);
				if (*p++ != ':')
					return NULL;
			}
			p = json_value(p);
			if (!p)
				return NULL;
			p = ws(p);
			if (*p == ',') {
				p++;
				continue;
			}
			return *p == close ? p + 1 : NULL;
		}
	}
	if (*p == '"')
		return json_string(p);
	if (!strncmp(p, "null", 4) || !strncmp(p, "true", 4))
		return p + 4;
	if (!strncmp(p, "false", 5))
		return p + 5;
	char *end;
	strtod(p, &end);
	return end == p ? NULL : end;
}

static void test_stats_json_is_valid(void **state)
{
	struct zc_stats *st = zc_stats_new();
	struct zc_stats_snap s;
	char *out = NULL;
	size_t len;

	zc_stats_read(st, ZC_MODE_DIRECT, 512, 1000, 0);
	zc_stats_snapshot(st, &s);
	assert_int_equal(zc_stats_render_json(&s, &out, &len), 0);
	const char *end = json_value(out);
	assert_non_null(end);
	assert_string_equal(ws(end), "");
	assert_non_null(strstr(out, "\"direct\":{\"opens\":0,\"reads\":1,\"bytes\":512,"));
	free(out);
	zc_stats_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats_concurrent_counts_are_exact),
		cmocka_unit_test(test_stats_histogram_buckets),
		cmocka_unit_test(test_stats_reset_keeps_gauges),
		cmocka_unit_test(test_stats_prometheus_format),
		cmocka_unit_test(test_stats_json_is_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
