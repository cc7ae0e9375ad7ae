/* test_route.c - precedence of the read mode and cache policy: file xattr, nearest directory,
 * first matching rule, default; resolved per attribute and lazily. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "zc/route.h"

/* A fake walk: levels[i] for level i, counting calls. */
struct walk {
	struct zc_route_level levels[8];
	unsigned n, calls;
};

static int walk_fn(void *arg, unsigned level, struct zc_route_level *lvl)
{
	struct walk *w = arg;
	w->calls++;
	if (level >= w->n)
		return -ENOENT;
	*lvl = w->levels[level];
	return 0;
}

static struct zc_rules *rules_of(const char *text)
{
	struct zc_rules *r = NULL;
	char err[256];
	assert_int_equal(zc_rules_parse(text, strlen(text), "rules", &r, err, sizeof(err)), 0);
	return r;
}

static void test_route_default_when_nothing_set(void **state)
{
	struct walk w = { .n = 2, .levels = { { "a/f" }, { "a" } } };
	struct zc_route_out out;
	char buf[256];
	zc_route_eval(NULL, "a/f", walk_fn, &w, ZC_MODE_SPLICE, ZC_CACHE_AUTO, &out);
	assert_int_equal(out.mode, ZC_MODE_SPLICE);
	assert_int_equal(out.cache, ZC_CACHE_AUTO);
	zc_route_format(&out, buf, sizeof(buf));
	assert_string_equal(buf, "mode=splice source=default cache=auto source=default");
}

static void test_route_xattr_overrides_dir(void **state)
{
	struct walk w = { .n = 3,
			  .levels = { { "d/e/f", "mmap", NULL }, { "d/e", "direct", "none" }, { "d", NULL, NULL } } };
	struct zc_route_out out;
	char buf[256];
	zc_route_eval(NULL, "d/e/f", walk_fn, &w, ZC_MODE_BUFFERED, ZC_CACHE_AUTO, &out);
	assert_int_equal(out.mode, ZC_MODE_MMAP);
	assert_int_equal(out.mode_src.kind, ZC_SRC_XATTR);
	assert_int_equal(out.cache, ZC_CACHE_NONE);
	assert_int_equal(out.cache_src.kind, ZC_SRC_DIR);
	zc_route_format(&out, buf, sizeof(buf));
	assert_string_equal(buf, "mode=mmap source=xattr cache=none source=dir:d/e");
	assert_int_equal(w.calls, 2); /* both decided at level 1: the walk stopped */
}

static void test_route_dir_nearest_wins(void **state)
{
	struct walk w = { .n = 4,
			  .levels = { { "a/b/c/f" }, { "a/b/c" }, { "a/b", "direct" }, { "a", "mmap" } } };
	struct zc_route_out out;
	zc_route_eval(NULL, "a/b/c/f", walk_fn, &w, ZC_MODE_BUFFERED, ZC_CACHE_AUTO, &out);
	assert_int_equal(out.mode, ZC_MODE_DIRECT);
	assert_string_equal(out.mode_src.where, "a/b");
}

static void test_route_dir_overrides_rule(void **state)
{
	struct zc_rules *r = rules_of("**/*.bin mode=splice cache=keep\n");
	struct walk w = { .n = 2, .levels = { { "d/x.bin" }, { "d", "direct" } } };
	struct zc_route_out out;
	char buf[256];
	zc_route_eval(r, "d/x.bin", walk_fn, &w, ZC_MODE_BUFFERED, ZC_CACHE_AUTO, &out);
	assert_int_equal(out.mode, ZC_MODE_DIRECT);
	assert_int_equal(out.cache, ZC_CACHE_KEEP); /* cache still comes from the rule */
	zc_route_format(&out, buf, sizeof(buf));
	assert_string_equal(buf, "mode=direct source=dir:d cache=keep source=rule:rules:1");
	zc_rules_free(r);
}

static void test_route_rule_overrides_default_first_match_wins(void **state)
{
	struct zc_rules *r = rules_of("# c\ndata/** cache=none\ndata/*.bin mode=direct\n**/*.bin mode=mmap cache=keep\n");
	struct walk w = { .n = 1, .levels = { { "data/x.bin" } } };
	struct zc_route_out out;
	zc_route_eval(r, "data/x.bin", walk_fn, &w, ZC_MODE_BUFFERED, ZC_CACHE_AUTO, &out);
	assert_int_equal(out.mode, ZC_MODE_DIRECT);
	assert_string_equal(out.mode_src.where, "rules:3");
	assert_int_equal(out.cache, ZC_CACHE_NONE);
	assert_string_equal(out.cache_src.where, "rules:2");
	/* another path: only the last rule matches */
	w.levels[0].relpath = "other/y.bin";
	zc_route_eval(r, "other/y.bin", walk_fn, &w, ZC_MODE_BUFFERED, ZC_CACHE_AUTO, &out);
	assert_int_equal(out.mode, ZC_MODE_MMAP);
	assert_int_equal(out.cache, ZC_CACHE_KEEP);
	zc_rules_free(r);
}

static void test_route_rename_changes_rule_match(void **state)
{
	struct zc_rules *r = rules_of("hot/** mode=mmap\n");
	struct walk w = { .n = 1, .levels = { { "hot/f" } } };
	struct zc_route_out out;
	zc_route_eval(r, "hot/f", walk_fn, &w, ZC_MODE_BUFFERED, ZC_CACHE_AUTO, &out);
	assert_int_equal(out.mode, ZC_MODE_MMAP);
	w.levels[0].relpath = "cold/f"; /* the same file after a rename */
	zc_route_eval(r, "cold/f", walk_fn, &w, ZC_MODE_BUFFERED, ZC_CACHE_AUTO, &out);
	assert_int_equal(out.mode, ZC_MODE_BUFFERED);
	zc_rules_free(r);
}

static void test_route_invalid_xattr_ignored(void **state)
{
	struct walk w = { .n = 2, .levels = { { "d/f", "turbo", "never" }, { "d", "mmap", NULL } } };
	struct zc_route_out out;
	zc_route_eval(NULL, "d/f", walk_fn, &w, ZC_MODE_BUFFERED, ZC_CACHE_DROP, &out);
	assert_int_equal(out.mode, ZC_MODE_MMAP);
	assert_int_equal(out.cache, ZC_CACHE_DROP);
	assert_int_equal(out.cache_src.kind, ZC_SRC_DEFAULT);
}

static void test_route_check_xattr_values(void **state)
{
	assert_int_equal(zc_route_check_xattr(ZC_XATTR_MODE, "direct", 6), 0);
	/* "direct\0": refused when written through the mount (stored as is, it would read back
	 * with its NUL), tolerated when read from a value written on the backing directly */
	assert_int_equal(zc_route_check_xattr(ZC_XATTR_MODE, "direct", 7), -EINVAL);
	assert_int_equal(zc_route_check_xattr(ZC_XATTR_CACHE, "none", 5), -EINVAL);
	assert_int_equal(zc_route_check_xattr("user.other", "x", 2), 0);
	assert_int_equal(zc_route_check_xattr(ZC_XATTR_MODE, "direct\n", 7), -EINVAL);
	assert_int_equal(zc_route_check_xattr(ZC_XATTR_MODE, "", 0), -EINVAL);
	assert_int_equal(zc_route_check_xattr(ZC_XATTR_CACHE, "drop", 4), 0);
	assert_int_equal(zc_route_check_xattr(ZC_XATTR_CACHE, "mmap", 4), -EINVAL);
	assert_int_equal(zc_route_check_xattr(ZC_XATTR_EFFECTIVE, "x", 1), -EPERM);
	assert_int_equal(zc_route_check_xattr("user.other", "anything", 8), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_default_when_nothing_set),
		cmocka_unit_test(test_route_xattr_overrides_dir),
		cmocka_unit_test(test_route_dir_nearest_wins),
		cmocka_unit_test(test_route_dir_overrides_rule),
		cmocka_unit_test(test_route_rule_overrides_default_first_match_wins),
		cmocka_unit_test(test_route_rename_changes_rule_match),
		cmocka_unit_test(test_route_invalid_xattr_ignored),
		cmocka_unit_test(test_route_check_xattr_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
