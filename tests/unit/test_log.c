/* test_log.c - the repetition limiter of log lines: a burst passes, the flood is counted, the
 * count is reported once the window is over, a flood that goes on backs off, and other lines
 * are not held back meanwhile. */
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
	/* the window after a flood is quiet (2 s): the line is only counted */
	assert_false(zc_log_rl_admit(&rl, "fuse: writing device: Bad address\n", 2200, 5, 1000, note,
				     sizeof(note)));
	assert_string_equal(note, "");
	/* and summarised when it is over (with the line that ends it), the next quiet window twice
	 * as long */
	assert_false(zc_log_rl_admit(&rl, "fuse: writing device: Bad address\n", 4200, 5, 1000, note,
				     sizeof(note)));
	assert_string_equal(note, "last message repeated 2 times: fuse: writing device: Bad address");
	assert_false(zc_log_rl_admit(&rl, "fuse: writing device: Bad address\n", 8100, 5, 1000, note,
				     sizeof(note)));
	assert_string_equal(note, "");
	/* a quiet window with no repeat ends the backoff: the line passes again */
	assert_false(zc_log_rl_admit(&rl, "fuse: writing device: Bad address\n", 8300, 5, 1000, note,
				     sizeof(note)));
	assert_string_equal(note, "last message repeated 2 times: fuse: writing device: Bad address");
	assert_true(zc_log_rl_admit(&rl, "fuse: writing device: Bad address\n", 30000, 5, 1000, note,
				    sizeof(note)));
	assert_string_equal(note, "");
}

/* A flood of 1,000 lines a second for an hour: a few lines a minute, every repeat counted. */
static void test_log_rl_long_flood_backs_off(void **state)
{
	struct zc_log_rl rl = { 0 };
	char note[160];
	unsigned long written = 0, counted = 0, n;

	for (uint64_t ms = 0; ms < 3600 * 1000; ms++) {
		written += zc_log_rl_admit(&rl, "fuse: writing device: Bad address", ms, 5, 1000, note,
					   sizeof(note));
		if (note[0]) {
			written++;
			assert_int_equal(sscanf(note, "last message repeated %lu times", &n), 1);
			counted += n;
		}
	}
	assert_true(written <= 80);
	/* whatever was not written was counted, except the last window's (not yet summarised) */
	assert_true(counted + 5 >= 3600ul * 1000 - 64 * 1000);
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

/* A value with a newline and a terminal escape stays on its line, escaped; cut to fit. */
static void test_log_clean_escapes_control_bytes(void **state)
{
	char out[64];

	(void)state;
	assert_string_equal(zc_log_clean(out, sizeof(out), "bad value 'x\nzcfs: FAKE\033[2J'"),
			    "bad value 'x\\x0azcfs: FAKE\\x1b[2J'");
	assert_string_equal(zc_log_clean(out, sizeof(out), "plain \xc3\xa9 text"), "plain \xc3\xa9 text");
	assert_string_equal(zc_log_clean(out, 6, "ab\ncd"), "ab");
	assert_string_equal(zc_log_clean(out, 7, "ab\ncd"), "ab\\x0a");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_rl_passes_a_burst_then_counts),
		cmocka_unit_test(test_log_rl_many_distinct_lines_all_pass),
		cmocka_unit_test(test_log_rl_long_flood_backs_off),
		cmocka_unit_test(test_log_clean_escapes_control_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
