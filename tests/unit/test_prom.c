/* test_prom.c - constant labels on every sample (after the sample's own, values escaped, comment
 * lines untouched) and several expositions merged with each family once: two mounts' statistics
 * together have no duplicate HELP, TYPE or series. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "zc/prom.h"

static const char text[] = "# HELP zcfs_reads_total Reads.\n"
			   "# TYPE zcfs_reads_total counter\n"
			   "zcfs_reads_total{mode=\"buffered\"} 3\n"
			   "zcfs_reads_total{mode=\"a}b\"} 4\n"
			   "# HELP zcfs_lat_seconds Latency.\n"
			   "# TYPE zcfs_lat_seconds histogram\n"
			   "zcfs_lat_seconds_bucket{le=\"+Inf\"} 1\n"
			   "zcfs_lat_seconds_sum 0.5\n"
			   "zcfs_lat_seconds_count 1\n"
			   "# HELP zcfs_io_uring Ring.\n"
			   "# TYPE zcfs_io_uring gauge\n"
			   "zcfs_io_uring 0\n"
			   "zcfs_empty{} 7\n";

static void test_prom_label_add_escapes(void **state)
{
	char buf[128] = "";

	assert_int_equal(zc_prom_label_add(buf, sizeof(buf), "mount", "/mnt/a \"b\"\\c\nd"), 0);
	assert_string_equal(buf, "mount=\"/mnt/a \\\"b\\\"\\\\c\\nd\"");
	assert_int_equal(zc_prom_label_add(buf, sizeof(buf), "node", "h1"), 0);
	assert_string_equal(buf, "mount=\"/mnt/a \\\"b\\\"\\\\c\\nd\",node=\"h1\"");
	assert_int_equal(zc_prom_label_add(buf, sizeof(buf), "9bad", "x"), -EINVAL);
	assert_int_equal(zc_prom_label_add(buf, sizeof(buf), "a-b", "x"), -EINVAL);
	char small[16] = "";
	assert_int_equal(zc_prom_label_add(small, sizeof(small), "mount", "/a/very/long/path"), -ENAMETOOLONG);
	assert_string_equal(small, "");
}

static void test_prom_labels_go_on_every_sample(void **state)
{
	char *out = NULL;
	size_t len = 0;

	assert_int_equal(zc_prom_add_labels(text, strlen(text), "mount=\"/m\"", &out, &len), 0);
	assert_int_equal(len, strlen(out));
	assert_non_null(strstr(out, "# HELP zcfs_reads_total Reads.\n# TYPE zcfs_reads_total counter\n"));
	assert_non_null(strstr(out, "\nzcfs_reads_total{mode=\"buffered\",mount=\"/m\"} 3\n"));
	assert_non_null(strstr(out, "\nzcfs_reads_total{mode=\"a}b\",mount=\"/m\"} 4\n"));
	assert_non_null(strstr(out, "\nzcfs_lat_seconds_sum{mount=\"/m\"} 0.5\n"));
	assert_non_null(strstr(out, "\nzcfs_io_uring{mount=\"/m\"} 0\n"));
	assert_non_null(strstr(out, "\nzcfs_empty{mount=\"/m\"} 7\n"));
	free(out);
	assert_int_equal(zc_prom_add_labels("x{a=\"b\" 1\n", 11, "m=\"1\"", &out, &len), -EINVAL);
	assert_null(out);
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void test_prom_merge_keeps_each_family_once(void **state)
{
	char *a = NULL, *b = NULL, *out = NULL;
	size_t len = 0;

	assert_int_equal(zc_prom_add_labels(text, strlen(text), "mount=\"/a\"", &a, &len), 0);
	assert_int_equal(zc_prom_add_labels(text, strlen(text), "mount=\"/b\"", &b, &len), 0);
	const char *const both[] = { a, b };
	assert_int_equal(zc_prom_merge(both, 2, &out, &len), 0);
	assert_int_equal(count(out, "# HELP zcfs_reads_total"), 1);
	assert_int_equal(count(out, "# TYPE zcfs_lat_seconds histogram"), 1);
	/* the family's samples together, first text first */
	assert_non_null(strstr(out, "# TYPE zcfs_reads_total counter\n"
				    "zcfs_reads_total{mode=\"buffered\",mount=\"/a\"} 3\n"
				    "zcfs_reads_total{mode=\"a}b\",mount=\"/a\"} 4\n"
				    "zcfs_reads_total{mode=\"buffered\",mount=\"/b\"} 3\n"));
	assert_non_null(strstr(out, "zcfs_lat_seconds_count{mount=\"/a\"} 1\n"
				    "zcfs_lat_seconds_bucket{le=\"+Inf\",mount=\"/b\"} 1\n"));
	assert_int_equal(count(out, "zcfs_io_uring{"), 2);
	assert_int_equal(count(out, "\n"), 2 * 7 + 3 * 2); /* 7 samples each, 3 families with HELP+TYPE */
	free(a);
	free(b);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prom_label_add_escapes),
		cmocka_unit_test(test_prom_labels_go_on_every_sample),
		cmocka_unit_test(test_prom_merge_keeps_each_family_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
