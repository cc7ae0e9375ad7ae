/* test_kmod.c - the fuse module state from a fake root tree (no /lib/modules, as on machines
 * and containers without module files) and from this machine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "zc/kmod.h"

static void put(const char *root, const char *rel, const char *text)
{
	char p[512], cmd[600];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", p);
	assert_int_equal(system(cmd), 0);
	if (text) {
		FILE *f = fopen(p, "w");
		fputs(text, f);
		fclose(f);
	} else {
		mkdir(p, 0755);
	}
}

static void state_of(const char *root, enum zc_kmod_state want, const char *detail_part)
{
	enum zc_kmod_state st;
	char detail[512];
	assert_int_equal(zc_kmod_fuse_state(root, &st, detail, sizeof(detail)), 0);
	assert_string_equal(zc_kmod_state_name(st), zc_kmod_state_name(want));
	assert_non_null(strstr(detail, detail_part));
}

static void test_kmod_fake_roots(void **state)
{
	char root[] = "/tmp/zcfs-kmod-XXXXXX", cmd[128];
	assert_non_null(mkdtemp(root));
	state_of(root, ZC_KMOD_ABSENT, "no fuse in");
	put(root, "proc/filesystems", "nodev\tsysfs\nnodev\tfuse\n\text4\n");
	state_of(root, ZC_KMOD_BUILTIN, "/proc/filesystems lists fuse");
	put(root, "sys/module/fuse", NULL);
	state_of(root, ZC_KMOD_BUILTIN, "without initstate");
	put(root, "sys/module/fuse/initstate", "live\n");
	state_of(root, ZC_KMOD_LOADED, "/sys/module/fuse present");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	assert_int_equal(system(cmd), 0);
}

static void test_kmod_this_machine_answers(void **state)
{
	enum zc_kmod_state st = ZC_KMOD_UNKNOWN;
	char detail[512] = "";
	assert_int_equal(zc_kmod_fuse_state("/", &st, detail, sizeof(detail)), 0);
	assert_true(st != ZC_KMOD_UNKNOWN);
	assert_true(strlen(detail) > 0);
	print_message("fuse module here: %s (%s)\n", zc_kmod_state_name(st), detail);
	/* /dev/fuse works on every machine this suite runs on: the module cannot be absent */
	if (access("/dev/fuse", F_OK) == 0)
		assert_true(st != ZC_KMOD_ABSENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kmod_fake_roots),
		cmocka_unit_test(test_kmod_this_machine_answers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
