/* test_plan.c - a reading plan's bookkeeping: prefetches within the depth and the memory window,
 * the window held while the job stalls, two readers slightly out of order staying on the plan, a
 * job reading in another order ending it (off-plan) with its waste bounded by the part of the
 * window it earned (a plan starts at an eighth and grows with opens in step), a job that strays
 * and comes back, a simulated torch DataLoader (workers far apart) followed to the end, skipped
 * files, completion, cancel and the leftovers zcfs must drop. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
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

static void shuffle(size_t *v, size_t n, unsigned seed)
{
	srand(seed);
	for (size_t k = n - 1; k > 0; k--) {
		size_t j = (size_t)rand() % (k + 1), t = v[k];
		v[k] = v[j];
		v[j] = t;
	}
}

static void test_plan_job_in_another_order_goes_off_plan(void **state)
{
	struct zc_plan *p = make(2000, 8);
	struct zc_plan_stats st;
	size_t order[N], opens = 0, strayed_at = 0;
	ssize_t i;
	uint64_t dropped = 0;

	for (size_t k = 0; k < N; k++)
		order[k] = k;
	shuffle(order, N, 7); /* the job ignores its plan */
	while (zc_plan_state(p) == ZC_PLAN_ACTIVE && opens < N) {
		fetch_all(p);
		zc_plan_opened(p, order[opens++], ZC_PLAN_MISS);
		zc_plan_get_stats(p, &st);
		if (st.astray && !strayed_at)
			strayed_at = opens;
		if (st.astray)
			assert_int_equal(zc_plan_next(p), -1); /* astray: nothing is read ahead */
	}
	assert_true(strayed_at > 0 && strayed_at <= 96);
	/* it opened every file, never in the plan's order: not "complete" */
	assert_int_equal(zc_plan_state(p), ZC_PLAN_OFF_PLAN);
	while ((i = zc_plan_next_leftover(p)) >= 0)
		dropped += 100;
	zc_plan_get_stats(p, &st);
	assert_int_equal(st.strays, 1);
	assert_int_equal(st.wasted_bytes, dropped);
	assert_true(st.wasted_bytes <= 2000); /* bounded by the window */
	assert_true(st.wasted_bytes <= 600);  /* and it never earned much of it */
	assert_int_equal(zc_plan_next(p), -1);
	zc_plan_free(p);
}

/* A long plan followed for a while, then a job in another order for a while: the plan strays
 * (reads nothing ahead) and ends as off-plan once it stayed astray for 256 opens. */
static void test_plan_stays_astray_then_ends_off_plan(void **state)
{
	struct zc_plan_cfg cfg = { .window_bytes = 1 << 20, .depth = 8 };
	size_t n = 3000, *order = calloc(n, sizeof(*order)), k = 0;
	struct zc_plan *p = zc_plan_new(&cfg, n);
	struct zc_plan_stats st;

	assert_non_null(p);
	for (size_t i = 0; i < n; i++) {
		zc_plan_set_file(p, i, 7, 1000 + i, 100);
		order[i] = i;
	}
	shuffle(order + 300, n - 300, 11);
	for (; k < n && zc_plan_state(p) == ZC_PLAN_ACTIVE; k++)
		zc_plan_opened(p, order[k], ZC_PLAN_MISS);
	zc_plan_get_stats(p, &st);
	assert_int_equal(zc_plan_state(p), ZC_PLAN_OFF_PLAN);
	assert_int_equal(st.strays, 1);
	assert_true(k > 300 + 256 && k <= 300 + 96 + 256);
	free(order);
	zc_plan_free(p);
}

/* The job strays (a stretch in another order) and comes back to the plan's order: the plan
 * takes up again, reads ahead from where the job is, and completes. */
static void test_plan_strays_and_takes_up_again(void **state)
{
	struct zc_plan_cfg cfg = { .window_bytes = 1 << 20, .depth = 8 };
	size_t n = 2000, *order = calloc(n, sizeof(*order));
	struct zc_plan *p = zc_plan_new(&cfg, n);
	struct zc_plan_stats st;
	bool was_astray = false;

	assert_non_null(p);
	for (size_t i = 0; i < n; i++) {
		zc_plan_set_file(p, i, 7, 1000 + i, 100);
		order[i] = i;
	}
	shuffle(order + 500, 500, 3); /* files 500-999 in another order, then 1000- in order */
	for (size_t k = 0; k < n; k++) {
		fetch_all(p);
		zc_plan_opened(p, order[k], ZC_PLAN_HIT);
		zc_plan_get_stats(p, &st);
		was_astray |= st.astray;
		if (k == 1100) {
			assert_true(was_astray);
			assert_false(st.astray);
			assert_true(fetch_all(p) > 0 || st.frontier > 1101); /* reading ahead again */
		}
	}
	zc_plan_get_stats(p, &st);
	assert_int_equal(st.strays, 1);
	assert_int_equal(zc_plan_state(p), ZC_PLAN_COMPLETE);
	free(order);
	zc_plan_free(p);
}

/* A torch DataLoader: the sampler's order cut into batches of `batch`; batch b goes to worker
 * b % workers; workers x prefetch_factor batches are handed out at once, and the next one only
 * when the oldest outstanding batch was consumed. Each worker opens its batches' files in
 * order; which worker runs next is random. The prefetcher fetches `speed` files per open. */
static void dataloader(unsigned workers, unsigned batch, unsigned factor, const struct zc_plan_cfg *cfg,
		       size_t n, unsigned speed, unsigned seed, struct zc_plan_stats *out)
{
	struct zc_plan *p = zc_plan_new(cfg, n);
	bool *fetched = calloc(n, 1);
	size_t nbatches = (n + batch - 1) / batch, sent = 0, consumed = 0;
	size_t *done = calloc(nbatches, sizeof(*done));       /* files of batch b opened */
	size_t per = nbatches / workers + 1;
	size_t *queue = calloc((size_t)workers * per, sizeof(*queue)); /* batches, by worker, in order */
	size_t head[64] = { 0 }, tail[64] = { 0 }, hits = 0;

	assert_non_null(p);
	assert_true(workers <= 64);
	for (size_t i = 0; i < n; i++)
		zc_plan_set_file(p, i, 9, 5000 + i, 4096);
	srand(seed);
	for (;;) {
		/* hand out batches: at most workers x factor outstanding */
		while (sent < nbatches && sent - consumed < (size_t)workers * factor) {
			unsigned w = (unsigned)(sent % workers);
			queue[w * per + tail[w]++] = sent++;
		}
		while (consumed < nbatches && done[consumed] == (consumed + 1 == nbatches ? n - consumed * batch : batch))
			consumed++;
		if (consumed == nbatches)
			break;
		for (unsigned s = 0; s < speed; s++) {
			ssize_t i = zc_plan_next(p);
			if (i < 0)
				break;
			fetched[i] = true;
			zc_plan_fetched(p, (size_t)i, 4096, true, 0);
		}
		unsigned w = (unsigned)rand() % workers, tries = 0;
		while (head[w] == tail[w] && tries++ < workers)
			w = (w + 1) % workers;
		if (head[w] == tail[w])
			continue;
		size_t b = queue[w * per + head[w]];
		size_t i = b * batch + done[b];
		hits += fetched[i];
		zc_plan_opened(p, i, fetched[i] ? ZC_PLAN_HIT : ZC_PLAN_MISS);
		if (++done[b] == (b + 1 == nbatches ? n - b * batch : batch))
			head[w]++;
	}
	zc_plan_get_stats(p, out);
	assert_int_equal(zc_plan_state(p), ZC_PLAN_COMPLETE);
	assert_int_equal(out->hits, hits);
	free(fetched);
	free(done);
	free(queue);
	zc_plan_free(p);
}

/* issue 19: 4 workers x batch 32 x prefetch_factor 2 read up to 256 files apart; the plan
 * learns it and follows to the end, with the prefetcher ahead of nearly every open. */
static void test_plan_follows_a_dataloader(void **state)
{
	struct zc_plan_cfg cfg = { .window_bytes = 64 << 20, .depth = 8 };
	struct zc_plan_stats st;
	static const unsigned shapes[][3] = { { 4, 32, 2 }, { 4, 64, 2 }, { 2, 128, 2 }, { 8, 16, 4 }, { 1, 32, 2 } };

	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		for (unsigned seed = 1; seed <= 5; seed++) {
			dataloader(shapes[s][0], shapes[s][1], shapes[s][2], &cfg, 3000, 2, seed, &st);
			assert_int_equal(st.strays, 0);
			assert_true(st.hits * 10 >= 9 * 3000);
		}
	}
	/* learned: about workers x batch (what is handed out at once is at most twice that) */
	dataloader(4, 32, 2, &cfg, 3000, 2, 9, &st);
	assert_true(st.spread >= 64 && st.spread <= 3000 / 8);
	/* or told: the plan starts there */
	cfg.spread = 256;
	dataloader(4, 32, 2, &cfg, 3000, 2, 9, &st);
	assert_true(st.spread >= 256);
	assert_int_equal(st.strays, 0);
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

/* A backing that renumbers files (s3fs): every file re-identified, each found by its new
 * identity only, and the hash never fills (it keeps room for one re-identification each). */
static void test_plan_reidentified_files_match_by_new_identity(void **state)
{
	struct zc_plan *p = make(1 << 20, 4);

	for (size_t i = 0; i < N; i++)
		assert_int_equal(zc_plan_reidentify(p, i, 7, 5000 + i), 0);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(zc_plan_find(p, 7, 5000 + i), (ssize_t)i);
		assert_int_equal(zc_plan_find(p, 7, 1000 + i), -1);
	}
	assert_int_equal(zc_plan_reidentify(p, 3, 7, 9999), -EINVAL); /* once per file */
	assert_int_equal(zc_plan_reidentify(p, N, 7, 9999), -EINVAL);
	assert_int_equal(zc_plan_find(p, 7, 9999), -1);
	zc_plan_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_depth_and_window_bound_prefetch),
		cmocka_unit_test(test_plan_two_readers_out_of_order_stay_on_plan),
		cmocka_unit_test(test_plan_job_in_another_order_goes_off_plan),
		cmocka_unit_test(test_plan_stays_astray_then_ends_off_plan),
		cmocka_unit_test(test_plan_strays_and_takes_up_again),
		cmocka_unit_test(test_plan_follows_a_dataloader),
		cmocka_unit_test(test_plan_skipped_files_and_completion),
		cmocka_unit_test(test_plan_cancel_leaves_what_zcfs_brought_in),
		cmocka_unit_test(test_plan_job_running_ahead_is_not_fetched_behind),
		cmocka_unit_test(test_plan_reidentified_files_match_by_new_identity),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
