/* test_xstore.c - user.zcfs.* kept by zcfs by path: get/set/remove/list with xattr semantics,
 * renames and removals of directories carrying their subtree, and the state file's text form. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include <cmocka.h>

#include "zc/xstore.h"

#define MODE "user.zcfs.mode"
#define CACHE "user.zcfs.cache"

static void test_xstore_set_get_behave_as_xattrs(void **state)
{
	struct zc_xstore *s = zc_xstore_new();
	char buf[64];

	assert_true(zc_xstore_is_kept(MODE));
	assert_false(zc_xstore_is_kept("user.other"));
	assert_int_equal(zc_xstore_get(s, "d", MODE, buf, sizeof(buf)), -ENODATA);
	assert_int_equal(zc_xstore_set(s, "d", MODE, "direct", 6, XATTR_REPLACE), -ENODATA);
	assert_int_equal(zc_xstore_set(s, "d", MODE, "direct", 6, XATTR_CREATE), 0);
	assert_int_equal(zc_xstore_set(s, "d", MODE, "mmap", 4, XATTR_CREATE), -EEXIST);
	assert_int_equal(zc_xstore_get(s, "d", MODE, NULL, 0), 6); /* size probe */
	assert_int_equal(zc_xstore_get(s, "d", MODE, buf, 3), -ERANGE);
	assert_int_equal(zc_xstore_get(s, "d", MODE, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "direct", 6);
	assert_int_equal(zc_xstore_get(s, "d", CACHE, buf, sizeof(buf)), -ENODATA);
	assert_int_equal(zc_xstore_get(s, "d/x", MODE, buf, sizeof(buf)), -ENODATA); /* no inheritance here */
	assert_int_equal(zc_xstore_set(s, "d", "user.other", "x", 1, 0), -EINVAL);
	assert_int_equal(zc_xstore_set(s, "d", MODE, "", 0, 0), -EINVAL);
	assert_int_equal(zc_xstore_set(s, "d", CACHE, "none", 4, 0), 0);
	assert_int_equal(zc_xstore_list(s, "d", NULL, 0), (int)(sizeof(MODE) + sizeof(CACHE)));
	assert_int_equal(zc_xstore_list(s, "d", buf, 4), -ERANGE);
	assert_int_equal(zc_xstore_list(s, "d", buf, sizeof(buf)), (int)(sizeof(MODE) + sizeof(CACHE)));
	assert_string_equal(buf, MODE);
	assert_string_equal(buf + sizeof(MODE), CACHE);
	assert_int_equal(zc_xstore_list(s, "e", buf, sizeof(buf)), 0);
	assert_int_equal(zc_xstore_remove(s, "d", MODE), 0);
	assert_int_equal(zc_xstore_remove(s, "d", MODE), -ENODATA);
	assert_int_equal(zc_xstore_count(s), 1);
	assert_int_equal(zc_xstore_remove(s, "d", CACHE), 0);
	assert_int_equal(zc_xstore_count(s), 0); /* nothing left: the path goes */
	zc_xstore_free(s);
}

static void test_xstore_rename_moves_the_subtree_only(void **state)
{
	struct zc_xstore *s = zc_xstore_new();
	char buf[64];

	assert_int_equal(zc_xstore_set(s, "a", MODE, "direct", 6, 0), 0);
	assert_int_equal(zc_xstore_set(s, "a/f", MODE, "mmap", 4, 0), 0);
	assert_int_equal(zc_xstore_set(s, "ab", MODE, "buffered", 8, 0), 0); /* not below a */
	assert_int_equal(zc_xstore_set(s, "b", CACHE, "none", 4, 0), 0);    /* replaced by the rename */
	assert_int_equal(zc_xstore_rename(s, "a", "b"), 2);
	assert_int_equal(zc_xstore_get(s, "a", MODE, buf, sizeof(buf)), -ENODATA);
	assert_int_equal(zc_xstore_get(s, "b", MODE, buf, sizeof(buf)), 6);
	assert_int_equal(zc_xstore_get(s, "b", CACHE, buf, sizeof(buf)), -ENODATA);
	assert_int_equal(zc_xstore_get(s, "b/f", MODE, buf, sizeof(buf)), 4);
	assert_int_equal(zc_xstore_get(s, "ab", MODE, buf, sizeof(buf)), 8);
	assert_int_equal(zc_xstore_forget(s, "b"), 2);
	assert_int_equal(zc_xstore_count(s), 1);
	assert_int_equal(zc_xstore_rename(s, "nothing", "ab"), 0); /* a plain file over ab */
	assert_int_equal(zc_xstore_count(s), 0);
	zc_xstore_free(s);
}

static void test_xstore_dump_load_round_trip_with_odd_names(void **state)
{
	struct zc_xstore *s = zc_xstore_new(), *t = zc_xstore_new();
	const char *odd = "dir/new\nline\t\\x";
	char buf[64], err[64] = "";
	char *text;

	assert_int_equal(zc_xstore_set(s, odd, MODE, "splice", 6, 0), 0);
	assert_int_equal(zc_xstore_set(s, "plain", CACHE, "keep", 4, 0), 0);
	text = zc_xstore_dump(s);
	assert_non_null(text);
	assert_non_null(strstr(text, "splice\t-\tdir/new\\x0aline\\x09\\x5cx\n"));
	assert_int_equal(zc_xstore_load(t, text, err, sizeof(err)), 2);
	assert_int_equal(zc_xstore_get(t, odd, MODE, buf, sizeof(buf)), 6);
	assert_int_equal(zc_xstore_get(t, "plain", CACHE, buf, sizeof(buf)), 4);
	free(text);
	assert_int_equal(zc_xstore_load(t, "# zcfs xattrs 1\nmmap\t-\tok\nbad line\n", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "line 3: expected MODE TAB CACHE TAB PATH");
	assert_int_equal(zc_xstore_get(t, "ok", MODE, buf, sizeof(buf)), -ENODATA); /* nothing added */
	assert_int_equal(zc_xstore_load(t, "mmap\t-\tx\\x00y\n", err, sizeof(err)), -EINVAL); /* no NUL */
	assert_int_equal(zc_xstore_load(t, "-\t-\t\n", err, sizeof(err)), -EINVAL);
	zc_xstore_free(s);
	zc_xstore_free(t);
}

static void test_xstore_many_paths_stay_sorted(void **state)
{
	struct zc_xstore *s = zc_xstore_new();
	char p[32], buf[8];

	for (int i = 999; i >= 0; i--) {
		snprintf(p, sizeof(p), "f%04d", (i * 7919) % 1000);
		assert_int_equal(zc_xstore_set(s, p, MODE, "mmap", 4, 0), 0);
	}
	assert_int_equal(zc_xstore_count(s), 1000);
	for (int i = 0; i < 1000; i++) {
		snprintf(p, sizeof(p), "f%04d", i);
		assert_int_equal(zc_xstore_get(s, p, MODE, buf, sizeof(buf)), 4);
	}
	assert_int_equal(zc_xstore_forget(s, "."), 1000);
	zc_xstore_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xstore_set_get_behave_as_xattrs),
		cmocka_unit_test(test_xstore_rename_moves_the_subtree_only),
		cmocka_unit_test(test_xstore_dump_load_round_trip_with_odd_names),
		cmocka_unit_test(test_xstore_many_paths_stay_sorted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
