/* test_ctl.c - the control file's command language and path normalisation. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "zc/ctl.h"

static int parse(const char *line, struct zc_ctl_cmd *cmd, char *err)
{
	return zc_ctl_parse(line, strlen(line), cmd, err, 256);
}

static void test_ctl_parses_every_verb(void **state)
{
	struct zc_ctl_cmd c;
	char err[256];
	assert_int_equal(parse("residency -r data/train\n", &c, err), 0);
	assert_int_equal(c.verb, ZC_CTL_RESIDENCY);
	assert_true(c.recursive);
	assert_string_equal(c.path, "data/train");
	assert_int_equal(parse("evict x.bin", &c, err), 0);
	assert_int_equal(c.verb, ZC_CTL_EVICT);
	assert_false(c.recursive);
	assert_int_equal(parse("prefetch -r .\r\n", &c, err), 0);
	assert_int_equal(c.verb, ZC_CTL_PREFETCH);
	assert_string_equal(c.path, ".");
	assert_int_equal(parse("sync a//b/./c", &c, err), 0);
	assert_string_equal(c.path, "a/b/c");
	assert_int_equal(parse("flush my file.bin", &c, err), 0); /* the path runs to the end */
	assert_string_equal(c.path, "my file.bin");
	assert_int_equal(parse("syncfs", &c, err), 0);
	assert_int_equal(c.verb, ZC_CTL_SYNCFS);
	assert_int_equal(parse("stats reset\n", &c, err), 0);
	assert_int_equal(c.verb, ZC_CTL_STATS_RESET);
}

static void expect(const char *line, int rc, const char *msg)
{
	struct zc_ctl_cmd c;
	char err[256] = "";
	assert_int_equal(parse(line, &c, err), rc);
	assert_string_equal(err, msg);
}

static void test_ctl_errors(void **state)
{
	expect("", -EINVAL, "empty command");
	expect("  \n", -EINVAL, "empty command");
	expect("frobnicate x", -EINVAL,
	       "unknown command 'frobnicate' (expected residency, evict, prefetch, sync, syncfs, flush, plan, stats reset)");
	expect("evict", -EINVAL, "missing PATH");
	expect("evict -r", -EINVAL, "missing PATH");
	expect("sync -r x", -EINVAL, "sync does not take -r");
	expect("evict -x f", -EINVAL, "unknown option '-x'");
	expect("syncfs now", -EINVAL, "syncfs takes no argument");
	expect("stats", -EINVAL, "expected 'stats reset'");
	expect("evict a\nevict b", -EINVAL, "one command per write");
	expect("evict ../etc/passwd", -EPERM, "path '../etc/passwd' leaves the mount root");
	expect("evict a/../../b", -EPERM, "path 'a/../../b' leaves the mount root");
	expect("evict /etc/passwd", -EPERM, "path '/etc/passwd' leaves the mount root");
	struct zc_ctl_cmd c;
	char err[256];
	assert_int_equal(zc_ctl_parse("evict a\0b", 9, &c, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "NUL byte in command");
}

static void test_ctl_normalise_table(void **state)
{
	static const struct {
		const char *in, *out;
		int rc;
	} cases[] = {
		{ ".", ".", 0 },       { "./", ".", 0 },         { "a", "a", 0 },
		{ "a/", "a", 0 },      { "./a/./b//", "a/b", 0 }, { "..", NULL, -EPERM },
		{ "a/..", NULL, -EPERM }, { "/a", NULL, -EPERM }, { "", NULL, -EINVAL },
		{ "..a/b..", "..a/b..", 0 },
	};
	char out[64];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = zc_ctl_path_normalise(cases[i].in, out, sizeof(out));
		assert_int_equal(rc, cases[i].rc);
		if (rc == 0)
			assert_string_equal(out, cases[i].out);
	}
	assert_int_equal(zc_ctl_path_normalise("abcdefgh", out, 4), -ENAMETOOLONG);
}

static void test_ctl_error_format(void **state)
{
	char buf[128];
	zc_ctl_format_error(buf, sizeof(buf), ENOENT, "no such file: x");
	assert_string_equal(buf, "error ENOENT: no such file: x\n");
	assert_string_equal(zc_errno_name(EACCES), "EACCES");
	assert_string_equal(zc_errno_name(E2BIG), "E2BIG"); /* a plan too large said "error E?" */
	assert_string_equal(zc_errno_name(99999), "E?");
}

static void test_ctl_parses_plan_commands(void **state)
{
	struct zc_ctl_cmd c;
	char err[256], out[PATH_MAX];

	assert_int_equal(parse("plan\n", &c, err), 0);
	assert_int_equal(c.verb, ZC_CTL_PLAN);
	assert_int_equal(c.plan.sub, ZC_PLAN_START);
	assert_int_equal(c.plan.window_bytes, 0);
	assert_int_equal(parse("plan window=64m depth=8 store=1", &c, err), 0);
	assert_int_equal(c.plan.window_bytes, 64ull << 20);
	assert_int_equal(c.plan.depth, 8);
	assert_true(c.plan.store);
	assert_int_equal(parse("plan status", &c, err), 0);
	assert_int_equal(c.plan.sub, ZC_PLAN_STATUS);
	assert_int_equal(c.plan.id, 0);
	assert_int_equal(parse("plan cancel 12", &c, err), 0);
	assert_int_equal(c.plan.sub, ZC_PLAN_CANCEL);
	assert_int_equal(c.plan.id, 12);
	assert_int_equal(parse("plan cancel", &c, err), -EINVAL);
	assert_int_equal(parse("plan window=-1", &c, err), -EINVAL);
	assert_int_equal(parse("plan window=64x", &c, err), -EINVAL);
	assert_int_equal(parse("plan depth=0", &c, err), -EINVAL);
	assert_int_equal(parse("plan depth=65", &c, err), -EINVAL);
	assert_int_equal(parse("plan store=2", &c, err), -EINVAL);
	assert_int_equal(parse("plan spread=256", &c, err), 0);
	assert_int_equal(c.plan.spread, 256);
	assert_int_equal(parse("plan spread=0", &c, err), -EINVAL);
	assert_int_equal(parse("plan spread=1000001", &c, err), -EINVAL);
	assert_int_equal(parse("plan turbo=1", &c, err), -EINVAL);
	assert_non_null(strstr(err, "unknown plan option"));
	/* the path lines that follow */
	assert_int_equal(zc_ctl_plan_line("a//b/./c.bin\r\n", 14, false, out, sizeof(out)), 0);
	assert_string_equal(out, "a/b/c.bin");
	assert_int_equal(zc_ctl_plan_line("\n", 1, false, out, sizeof(out)), 1);
	assert_int_equal(zc_ctl_plan_line("../etc/passwd", 13, false, out, sizeof(out)), -EPERM);
	assert_int_equal(zc_ctl_plan_line("/etc/passwd", 11, false, out, sizeof(out)), -EPERM);
	/* escaped=1: a name's newline and trailing CR arrive as they are */
	assert_int_equal(parse("plan escaped=1", &c, err), 0);
	assert_true(c.plan.escaped);
#define PL(s) zc_ctl_plan_line(s, strlen(s), true, out, sizeof(out))
	assert_int_equal(PL("d/a\\x0ab\\x0d"), 0);
	assert_string_equal(out, "d/a\nb\r");
	assert_int_equal(PL("back\\x5cslash\r"), 0); /* a raw CR: the line's end, CRLF */
	assert_string_equal(out, "back\\slash");
	assert_int_equal(PL("a\\nb"), -EINVAL);
	assert_int_equal(PL("a\\x00"), -EINVAL);
	assert_int_equal(PL("a\\x4"), -EINVAL);
	assert_int_equal(PL("a\\xg0"), -EINVAL);
	assert_int_equal(PL("\\x2e\\x2e/x"), -EPERM);
#undef PL
	/* -e on commands: the same escapes */
	assert_int_equal(parse("residency -e a\\x0ab\\x0d", &c, err), 0);
	assert_string_equal(c.path, "a\nb\r");
	assert_false(c.recursive);
	assert_int_equal(parse("evict -r -e d\\x1b[1m", &c, err), 0);
	assert_true(c.recursive && c.escaped);
	assert_string_equal(c.path, "d\x1b[1m");
	assert_int_equal(parse("evict -e -r x", &c, err), 0);
	assert_true(c.recursive);
	assert_int_equal(parse("evict -e a\\q", &c, err), -EINVAL);
	assert_int_equal(parse("evict -e \\x2e\\x2e/etc", &c, err), -EPERM);
	assert_int_equal(parse("evict a\\x0ab", &c, err), 0); /* without -e: the bytes as written */
	assert_string_equal(c.path, "a\\x0ab");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ctl_parses_every_verb),
		cmocka_unit_test(test_ctl_parses_plan_commands),
		cmocka_unit_test(test_ctl_errors),
		cmocka_unit_test(test_ctl_normalise_table),
		cmocka_unit_test(test_ctl_error_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
