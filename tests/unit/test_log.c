/* test_log.c - the repetition limiter of log lines: a burst passes, the flood is counted, the
 * count is reported once the window is over, and other lines are not held back meanwhile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "zc/log.h"

static void test_log_rl_passes_a_burst_then_counts(void **state)
{
	struct zc_log_rl rl = { 0 };
	char note[160];
	int passed = 0;

	for (int i = 0; i < 9000; i++)
		passed += zc_log_rl_admit(&rl, "fuse: writing device: Bad address\n", 1000, 5, 1000,
					  note, sizeof(note));
	assert_int_equal(passed, 5);
	/* another line within the window is not held back, and no summary is due yet */
	assert_true(zc_log_rl_admit(&rl, "zcfs: something else", 1500, 5, 1000, note, sizeof(note)));
	assert_string_equal(note, "");
	/* after the window, the next line of any kind carries the summary of the flood */
	assert_true(zc_log_rl_admit(&rl, "zcfs: later", 2100, 5, 1000, note, sizeof(note)));
	assert_string_equal(note, "last message repeated 8995 times: fuse: writing device: Bad address");
	/* and the flooding line passes again, without a second summary */
	assert_true(zc_log_rl_admit(&rl, "fuse: writing device: Bad address\n", 2200, 5, 1000, note,
				    sizeof(note)));
	assert_string_equal(note, "");
}

static void test_log_rl_many_distinct_lines_all_pass(void **state)
{
	struct zc_log_rl rl = { 0 };
	char note[160], line[64];

	for (int i = 0; i < 100; i++) {
		snprintf(line, sizeof(line), "line %d", i);
		assert_true(zc_log_rl_admit(&rl, line, (uint64_t)i, 5, 1000, note, sizeof(note)));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_rl_passes_a_burst_then_counts),
		cmocka_unit_test(test_log_rl_many_distinct_lines_all_pass),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
