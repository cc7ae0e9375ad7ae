/* test_kmod.c - the fuse module state from a fake root tree (no /lib/modules, as on machines
 * and containers without module files) and from this machine; kernel build options from a
 * fake /boot/config-* and /proc/config.gz. */
#include <setjmp.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "zc/kmod.h"
#if ZC_HAVE_ZLIB
#include <zlib.h>
#endif

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

static void config_is(const char *root, const char *name, int rc, const char *val, const char *where)
{
	char v[64] = "", w[256] = "";
	assert_int_equal(zc_kernel_config(root, "6.99-test", name, v, sizeof(v), w, sizeof(w)), rc);
	if (rc == 0)
		assert_string_equal(v, val);
	assert_non_null(strstr(w, where));
}

static void test_kernel_config(void **state)
{
	char root[] = "/tmp/zcfs-kconf-XXXXXX", cmd[128], p[256];
	static const char text[] = "CONFIG_FUSE_FS=m\n# CONFIG_FUSE_IO_URING is not set\n"
				   "CONFIG_FUSE_PASSTHROUGH=y\nCONFIG_HZ=250\n";
	assert_non_null(mkdtemp(root));
	config_is(root, "CONFIG_FUSE_FS", -ENOENT, NULL, "no /boot/config-6.99-test");
#if ZC_HAVE_ZLIB
	put(root, "proc/x", "");
	snprintf(p, sizeof(p), "%s/proc/config.gz", root);
	gzFile gz = gzopen(p, "wb");
	assert_non_null(gz);
	assert_int_equal(gzputs(gz, "CONFIG_FUSE_FS=y\nCONFIG_FUSE_PASSTHROUGH=y\n"), 43);
	gzclose(gz);
	config_is(root, "CONFIG_FUSE_FS", 0, "y", "/proc/config.gz");
	config_is(root, "CONFIG_FUSE_IO_URING", -ENODATA, NULL, "/proc/config.gz");
#else
	(void)p;
#endif
	put(root, "boot/config-6.99-test", text); /* preferred over /proc/config.gz */
	config_is(root, "CONFIG_FUSE_FS", 0, "m", "/boot/config-6.99-test");
	config_is(root, "CONFIG_FUSE_IO_URING", 0, "n", "/boot/config-6.99-test");
	config_is(root, "CONFIG_FUSE_PASSTHROUGH", 0, "y", "/boot");
	config_is(root, "CONFIG_HZ", 0, "250", "/boot");
	config_is(root, "CONFIG_FUSE", -ENODATA, NULL, "/boot"); /* a prefix is not a match */
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kmod_fake_roots),
		cmocka_unit_test(test_kmod_this_machine_answers),
		cmocka_unit_test(test_kernel_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
