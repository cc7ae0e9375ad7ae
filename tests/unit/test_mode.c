/* test_mode.c - names and parsing of read modes and cache policies. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "zc/mode.h"

static void test_mode_names_round_trip(void **state)
{
	for (int m = 0; m < ZC_MODE_COUNT; m++) {
		enum zc_mode out;
		const char *n = zc_mode_name((enum zc_mode)m);
		assert_int_equal(zc_mode_parse(n, strlen(n), &out), 0);
		assert_int_equal(out, m);
	}
	for (int c = 0; c < ZC_CACHE_COUNT; c++) {
		enum zc_cache out;
		const char *n = zc_cache_name((enum zc_cache)c);
		assert_int_equal(zc_cache_parse(n, strlen(n) + 1, &out), 0); /* with its NUL */
		assert_int_equal(out, c);
	}
}

static void test_mode_parse_rejects_near_misses(void **state)
{
	enum zc_mode m = ZC_MODE_MMAP;
	assert_int_equal(zc_mode_parse("Direct", 6, &m), -EINVAL);
	assert_int_equal(zc_mode_parse("direct ", 7, &m), -EINVAL);
	assert_int_equal(zc_mode_parse("dir", 3, &m), -EINVAL);
	assert_int_equal(zc_mode_parse("", 0, &m), -EINVAL);
	assert_int_equal(zc_mode_parse("direct\0x", 8, &m), -EINVAL);
	assert_int_equal(m, ZC_MODE_MMAP); /* untouched on error */
	assert_string_equal(zc_mode_name(ZC_MODE_COUNT), "?");
}

/* The lists in messages name every mode and policy the parsers accept, in order, and nothing
 * else: "a, b, c or d". */
static void test_mode_choices_name_every_entry(void **state)
{
	char want[128];
	size_t o = 0;

	for (int m = 0; m < ZC_MODE_COUNT; m++)
		o += (size_t)snprintf(want + o, sizeof(want) - o, "%s%s", m == 0 ? "" : m == ZC_MODE_COUNT - 1 ? " or " : ", ",
				      zc_mode_name((enum zc_mode)m));
	assert_string_equal(zc_mode_choices(), want);
	o = 0;
	for (int c = 0; c < ZC_CACHE_COUNT; c++)
		o += (size_t)snprintf(want + o, sizeof(want) - o, "%s%s", c == 0 ? "" : c == ZC_CACHE_COUNT - 1 ? " or " : ", ",
				      zc_cache_name((enum zc_cache)c));
	assert_string_equal(zc_cache_choices(), want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode_names_round_trip),
		cmocka_unit_test(test_mode_parse_rejects_near_misses),
		cmocka_unit_test(test_mode_choices_name_every_entry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
