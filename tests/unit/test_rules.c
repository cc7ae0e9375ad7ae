/* test_rules.c - rules file parsing: accepted forms and every error with FILE:LINE: reason. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "zc/route.h"

static int parse(const char *text, char *err, struct zc_rules **out)
{
	return zc_rules_parse(text, strlen(text), "r.conf", out, err, 512);
}

static void expect_error(const char *text, const char *msg)
{
	struct zc_rules *r = NULL;
	char err[512] = "";
	assert_int_equal(parse(text, err, &r), -EINVAL);
	assert_null(r);
	assert_string_equal(err, msg);
}

static void test_rules_accepts_comments_blank_and_crlf(void **state)
{
	struct zc_rules *r = NULL;
	char err[512], *dump = NULL;
	assert_int_equal(parse("# header\n\n  \ndata/** mode=direct cache=none # trailing\r\n"
			       "*.idx\tmode=mmap\n**/*.json cache=keep\n",
			       err, &r),
			 0);
	assert_int_equal(zc_rules_dump(r, &dump), 0);
	assert_string_equal(dump, "data/** mode=direct cache=none  # r.conf:4\n"
				  "*.idx mode=mmap  # r.conf:5\n"
				  "**/*.json cache=keep  # r.conf:6\n");
	free(dump);
	zc_rules_free(r);
}

static void test_rules_empty_text_is_empty_set(void **state)
{
	struct zc_rules *r = NULL;
	char err[512], *dump = NULL;
	assert_int_equal(parse("", err, &r), 0);
	assert_int_equal(zc_rules_dump(r, &dump), 0);
	assert_string_equal(dump, "");
	free(dump);
	zc_rules_free(r);
}

static void test_rules_errors_name_file_and_line(void **state)
{
	expect_error("ok mode=direct\nx mode=fast\n",
		     "r.conf:2: unknown mode 'fast' (expected buffered, direct, mmap, splice or passthrough)");
	expect_error("x cache=sometimes\n",
		     "r.conf:1: unknown cache policy 'sometimes' (expected keep, auto, none or drop)");
	expect_error("x speed=1\n", "r.conf:1: unknown key 'speed' (expected mode or cache)");
	expect_error("x mode=direct mode=mmap\n", "r.conf:1: duplicate key 'mode'");
	expect_error("mode=direct\n", "r.conf:1: missing pattern before 'mode=direct'");
	expect_error("\n\nx\n", "r.conf:3: rule 'x' sets neither mode= nor cache=");
	expect_error("x direct\n", "r.conf:1: expected key=value, got 'direct'");
	expect_error("a[b mode=mmap\n", "r.conf:1: unterminated '[' in 'a[b'");
	expect_error("a**b mode=mmap\n", "r.conf:1: '**' must be a whole component in 'a**b'");
	expect_error("/abs mode=mmap\n",
		     "r.conf:1: pattern '/abs' starts with '/' (paths are relative to the mount root)");
	expect_error("a//b mode=mmap\n", "r.conf:1: pattern 'a//b' has an empty component");
	expect_error("a/../b mode=mmap\n", "r.conf:1: pattern 'a/../b' has a '..' component");
	expect_error("a/ mode=mmap\n", "r.conf:1: pattern 'a/' ends with '/'");
}

static void test_rules_rejects_nul_and_long_lines(void **state)
{
	struct zc_rules *r = NULL;
	char err[512], text[6000];
	assert_int_equal(zc_rules_parse("a mode=mmap\nb\0 mode=mmap\n", 25, "r.conf", &r, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "r.conf:2: NUL byte in the rules file");
	memset(text, 'a', sizeof(text));
	memcpy(text + 5000, " mode=mmap\n", 11);
	assert_int_equal(zc_rules_parse(text, 5011, "r.conf", &r, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "r.conf:1: line longer than 4096 bytes");
}

static void test_rules_load_reports_missing_file(void **state)
{
	struct zc_rules *r = NULL;
	char err[512];
	assert_int_equal(zc_rules_load("/nonexistent/zcfs.rules", &r, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "rules file '/nonexistent/zcfs.rules': No such file or directory");
	assert_int_equal(zc_rules_load("", &r, err, sizeof(err)), -EINVAL); /* -o rules= */
	assert_string_equal(err, "-o rules= needs the path of a rules file");
}

/* A file saved with a UTF-8 byte order mark: the mark is not part of the first pattern. */
static void test_rules_skip_a_byte_order_mark(void **state)
{
	struct zc_rules *r = NULL;
	char err[512], *dump = NULL;
	assert_int_equal(zc_rules_parse("\xef\xbb\xbf*.bin mode=passthrough\n", 26, "r.conf", &r, err, sizeof(err)), 0);
	assert_int_equal(zc_rules_dump(r, &dump), 0);
	assert_string_equal(dump, "*.bin mode=passthrough  # r.conf:1\n");
	free(dump);
	zc_rules_free(r);

	/* Further down (two files concatenated) it would be an invisible first character of a
	 * pattern, one that the dump could not give back: refused with the line. */
	const char *cat = "# a\n\xef\xbb\xbf*.bin cache=keep\n";
	r = NULL;
	assert_int_equal(zc_rules_parse(cat, strlen(cat), "r.conf", &r, err, sizeof(err)), -EINVAL);
	assert_null(r);
	assert_non_null(strstr(err, "r.conf:2: byte order mark"));
}

static void test_rules_load_reads_a_file(void **state)
{
	char path[] = "/tmp/zcfs-rules-XXXXXX", err[512];
	struct zc_rules *r = NULL;
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x mode=bogus\n", 13), 13);
	close(fd);
	assert_int_equal(zc_rules_load(path, &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":1: unknown mode 'bogus'"));
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules_accepts_comments_blank_and_crlf),
		cmocka_unit_test(test_rules_empty_text_is_empty_set),
		cmocka_unit_test(test_rules_errors_name_file_and_line),
		cmocka_unit_test(test_rules_rejects_nul_and_long_lines),
		cmocka_unit_test(test_rules_load_reports_missing_file),
		cmocka_unit_test(test_rules_skip_a_byte_order_mark),
		cmocka_unit_test(test_rules_load_reads_a_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
