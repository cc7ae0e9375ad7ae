/* test_glob.c - glob semantics of the rules file: components, '**', classes, escapes, and no
 * exponential backtracking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "zc/route.h"

static void test_glob_star_stays_in_component(void **state)
{
	assert_true(zc_glob_match("*.bin", "x.bin"));
	assert_false(zc_glob_match("*.bin", "a/x.bin"));
	assert_true(zc_glob_match("data/*.bin", "data/x.bin"));
	assert_false(zc_glob_match("data/*.bin", "data/a/x.bin"));
	assert_true(zc_glob_match("data/?.bin", "data/x.bin"));
	assert_false(zc_glob_match("data/?.bin", "data/xy.bin"));
	assert_true(zc_glob_match("*", ".hidden")); /* no dotfile special case */
	assert_false(zc_glob_match("a", "ab"));
	assert_false(zc_glob_match("ab", "a"));
}

static void test_glob_globstar_spans_components(void **state)
{
	assert_true(zc_glob_match("**", "a"));
	assert_true(zc_glob_match("**", "a/b/c"));
	assert_true(zc_glob_match("data/**/*.bin", "data/x.bin"));
	assert_true(zc_glob_match("data/**/*.bin", "data/a/b/x.bin"));
	assert_false(zc_glob_match("data/**/*.bin", "other/a/x.bin"));
	assert_true(zc_glob_match("**/*.idx", "a/b/c.idx"));
	assert_true(zc_glob_match("**/*.idx", "c.idx"));
	assert_true(zc_glob_match("data/**", "data/a/b"));
	assert_true(zc_glob_match("a/**/b/**/c", "a/x/b/y/z/c"));
	assert_false(zc_glob_match("a/**/b/**/c", "a/x/y/z/c"));
}

static void test_glob_classes_and_escapes(void **state)
{
	assert_true(zc_glob_match("shard-[0-9][0-9].bin", "shard-07.bin"));
	assert_false(zc_glob_match("shard-[0-9][0-9].bin", "shard-7a.bin"));
	assert_true(zc_glob_match("[!x]y", "ay"));
	assert_false(zc_glob_match("[!x]y", "xy"));
	assert_true(zc_glob_match("[]]", "]"));
	assert_true(zc_glob_match("a\\*b", "a*b"));
	assert_false(zc_glob_match("a\\*b", "axb"));
}

static void test_glob_pathological_pattern_is_fast(void **state)
{
	char name[4096];
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	clock_t t0 = clock();
	for (int i = 0; i < 10; i++)
		assert_false(zc_glob_match("*a*a*a*a*a*a*a*a*a*a*a*b", name));
	/* quadratic at worst: 10 matches of a 4 KiB name take far less than a second of CPU */
	assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 1.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_glob_star_stays_in_component),
		cmocka_unit_test(test_glob_globstar_spans_components),
		cmocka_unit_test(test_glob_classes_and_escapes),
		cmocka_unit_test(test_glob_pathological_pattern_is_fast),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
