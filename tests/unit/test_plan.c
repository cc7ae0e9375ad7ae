/* test_plan.c - a reading plan's bookkeeping: prefetches within the depth and the memory window,
 * the window held while the job stalls, two readers slightly out of order staying on the plan, a
 * job reading in another order ending it (off-plan) with its waste bounded by the part of the
 * window it earned (a plan starts at an eighth and grows with opens in step), skipped
 * files, completion, cancel and the leftovers zcfs must drop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "zc/plan.h"

#define N 200

static struct zc_plan *make(uint64_t window, unsigned depth)
{
	struct zc_plan_cfg cfg = { .window_bytes = window, .depth = depth };
	struct zc_plan *p = zc_plan_new(&cfg, N);

	assert_non_null(p);
	for (size_t i = 0; i < N; i++)
		zc_plan_set_file(p, i, 7, 1000 + i, 100);
	return p;
}

/* Fetch everything the plan allows now; returns how many. */
static int fetch_all(struct zc_plan *p)
{
	ssize_t got[N];
	int n = 0;

	for (ssize_t i; (i = zc_plan_next(p)) >= 0;)
		got[n++] = i;
	for (int k = 0; k < n; k++)
		zc_plan_fetched(p, (size_t)got[k], 100, true, 0);
	return n;
}

static void test_plan_depth_and_window_bound_prefetch(void **state)
{
	struct zc_plan *p = make(8000, 4);
	struct zc_plan_stats st;

	assert_int_equal(zc_plan_next(p), 0);
	assert_int_equal(zc_plan_next(p), 1);
	assert_int_equal(zc_plan_next(p), 2);
	assert_int_equal(zc_plan_next(p), 3);
	assert_int_equal(zc_plan_next(p), -1); /* depth 4 in flight */
	for (size_t i = 0; i < 4; i++)
		zc_plan_fetched(p, i, 100, true, 0);
	/* a stalled job at the start: however often the daemon asks, an eighth of the window
	 * (10 files, 1000 bytes) at most */
	for (int round = 0; round < 50; round++)
		fetch_all(p);
	zc_plan_get_stats(p, &st);
	assert_int_equal(st.prefetched, 10);
	assert_int_equal(st.ahead_bytes, 1000);
	assert_int_equal(st.limit_bytes, 1000);
	/* the job opens two in step: their 200 bytes leave the window, the limit grows by 400 */
	zc_plan_opened(p, 0, ZC_PLAN_HIT);
	zc_plan_opened(p, 1, ZC_PLAN_HIT);
	assert_int_equal(fetch_all(p), 4); /* depth */
	assert_int_equal(fetch_all(p), 2);
	zc_plan_get_stats(p, &st);
	assert_int_equal(st.ahead_bytes, 1400);
	assert_int_equal(st.hits, 2);
	/* a job that follows earns the whole window and never more; stalled, it stays there */
	for (size_t i = 2; i < 60; i++) {
		fetch_all(p);
		zc_plan_opened(p, i, ZC_PLAN_HIT);
	}
	for (int round = 0; round < 50; round++)
		fetch_all(p);
	zc_plan_get_stats(p, &st);
	assert_int_equal(st.limit_bytes, 8000);
	assert_int_equal(st.ahead_bytes, 8000);
	zc_plan_free(p);
}

static void test_plan_two_readers_out_of_order_stay_on_plan(void **state)
{
	struct zc_plan *p = make(100000, 8);
	struct zc_plan_stats st;

	for (size_t i = 0; i < N; i += 2) {
		fetch_all(p);
		zc_plan_opened(p, i + 1, ZC_PLAN_HIT); /* the second reader is a step ahead */
		zc_plan_opened(p, i, ZC_PLAN_HIT);
	}
	zc_plan_get_stats(p, &st);
	assert_int_equal(zc_plan_state(p), ZC_PLAN_COMPLETE);
	assert_int_equal(st.hits, N);
	assert_int_equal(zc_plan_next_leftover(p), -1); /* everything was used */
	zc_plan_free(p);
}

static void test_plan_job_in_another_order_goes_off_plan(void **state)
{
	struct zc_plan *p = make(2000, 8);
	struct zc_plan_stats st;
	size_t order[N], opens = 0;
	ssize_t i;
	uint64_t dropped = 0;

	for (size_t k = 0; k < N; k++)
		order[k] = k;
	srand(7);
	for (size_t k = N - 1; k > 0; k--) { /* a shuffle: the job ignores its plan */
		size_t j = (size_t)rand() % (k + 1), t = order[k];
		order[k] = order[j];
		order[j] = t;
	}
	while (zc_plan_state(p) == ZC_PLAN_ACTIVE && opens < N) {
		fetch_all(p);
		zc_plan_opened(p, order[opens++], ZC_PLAN_MISS);
	}
	assert_int_equal(zc_plan_state(p), ZC_PLAN_OFF_PLAN);
	assert_true(opens <= 96);
	while ((i = zc_plan_next_leftover(p)) >= 0)
		dropped += 100;
	zc_plan_get_stats(p, &st);
	assert_int_equal(st.wasted_bytes, dropped);
	assert_true(st.wasted_bytes <= 2000); /* bounded by the window */
	assert_true(st.wasted_bytes <= 600);  /* and it never earned much of it */
	assert_int_equal(zc_plan_next(p), -1);
	zc_plan_free(p);
}

static void test_plan_skipped_files_and_completion(void **state)
{
	struct zc_plan_cfg cfg = { .window_bytes = 1 << 20, .depth = 2 };
	struct zc_plan *p = zc_plan_new(&cfg, 3);
	struct zc_plan_stats st;

	for (size_t i = 0; i < 3; i++)
		zc_plan_set_file(p, i, 1, 10 + i, 4096);
	assert_int_equal(zc_plan_find(p, 1, 11), 1);
	assert_int_equal(zc_plan_find(p, 1, 99), -1);
	assert_int_equal(zc_plan_next(p), 0);
	assert_int_equal(zc_plan_next(p), 1);
	zc_plan_fetched(p, 0, 4096, true, 0);
	zc_plan_fetched(p, 1, 0, false, -2); /* deleted meanwhile: skipped, not an error */
	assert_int_equal(zc_plan_next(p), 2);
	zc_plan_fetched(p, 2, 4096, false, 0); /* was resident already: not ours to drop */
	zc_plan_opened(p, 0, ZC_PLAN_HIT);
	zc_plan_opened(p, 0, ZC_PLAN_HIT); /* a second open of the same file counts once */
	assert_int_equal(zc_plan_state(p), ZC_PLAN_ACTIVE);
	zc_plan_opened(p, 2, ZC_PLAN_PARTIAL);
	assert_int_equal(zc_plan_state(p), ZC_PLAN_COMPLETE);
	zc_plan_get_stats(p, &st);
	assert_int_equal(st.skipped, 1);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.partial, 1);
	assert_int_equal(st.bytes, 8192);
	assert_int_equal(st.ahead_bytes, 0);
	zc_plan_free(p);
}

static void test_plan_cancel_leaves_what_zcfs_brought_in(void **state)
{
	struct zc_plan *p = make(8000, 4);
	struct zc_plan_stats st;
	ssize_t i;
	int n = 0;

	assert_int_equal(zc_plan_next(p), 0);
	assert_int_equal(zc_plan_next(p), 1);
	zc_plan_fetched(p, 0, 100, true, 0);
	zc_plan_fetched(p, 1, 100, false, 0);
	zc_plan_end(p, ZC_PLAN_CANCELLED);
	assert_int_equal(zc_plan_next(p), -1);
	while ((i = zc_plan_next_leftover(p)) >= 0) {
		assert_int_equal(i, 0); /* only file 0's pages were brought in by zcfs */
		n++;
	}
	assert_int_equal(n, 1);
	zc_plan_get_stats(p, &st);
	assert_int_equal(st.wasted_bytes, 100);
	assert_int_equal(st.ahead_bytes, 0);
	assert_string_equal(zc_plan_end_name(zc_plan_state(p)), "cancelled");
	zc_plan_free(p);
}

static void test_plan_job_running_ahead_is_not_fetched_behind(void **state)
{
	struct zc_plan *p = make(1 << 20, 2);

	zc_plan_opened(p, 50, ZC_PLAN_MISS); /* the job starts in the middle */
	assert_int_equal(zc_plan_next(p), 51);
	zc_plan_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_depth_and_window_bound_prefetch),
		cmocka_unit_test(test_plan_two_readers_out_of_order_stay_on_plan),
		cmocka_unit_test(test_plan_job_in_another_order_goes_off_plan),
		cmocka_unit_test(test_plan_skipped_files_and_completion),
		cmocka_unit_test(test_plan_cancel_leaves_what_zcfs_brought_in),
		cmocka_unit_test(test_plan_job_running_ahead_is_not_fetched_behind),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
