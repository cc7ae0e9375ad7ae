/* test_backcap.c - backing filesystem capabilities: classification by type, mountinfo parsing,
 * the config lines and their round trip, and the probe on a real directory. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "zc/backcap.h"

static void test_backcap_classify_fuse_is_remote_with_volatile_inodes(void **state)
{
	struct zc_backcap c = { 0 };

	zc_backcap_classify(&c, "fuse.s3fs");
	assert_true(c.is_fuse);
	assert_true(c.is_remote);
	assert_int_equal(c.stable_ino, ZC_CAP_NO);
	zc_backcap_classify(&c, "nfs4");
	assert_false(c.is_fuse);
	assert_true(c.is_remote);
	assert_int_equal(c.stable_ino, ZC_CAP_YES);
	zc_backcap_classify(&c, "ext4");
	assert_false(c.is_remote);
	zc_backcap_classify(&c, "fuseblk"); /* ntfs-3g on a local disk */
	assert_true(c.is_fuse);
	assert_false(c.is_remote);
	zc_backcap_classify(&c, "nfsd"); /* not nfs: a prefix is not a match */
	assert_false(c.is_remote);
	zc_backcap_classify(&c, NULL);
	assert_string_equal(c.fstype, "?");
}

static void test_backcap_mountinfo_finds_fstype_after_optional_fields(void **state)
{
	const char *mi =
		"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
		"97 22 0:41 / /tmp/a\\040-\\040b rw,nosuid shared:50 master:3 - fuse.s3fs s3fs rw,user_id=0\n"
		"98 22 0:42 / /x rw - tmpfs tmpfs rw";
	char out[64];

	assert_int_equal(zc_backcap_mountinfo_fstype(mi, 97, out, sizeof(out)), 0);
	assert_string_equal(out, "fuse.s3fs");
	assert_int_equal(zc_backcap_mountinfo_fstype(mi, 98, out, sizeof(out)), 0); /* no newline */
	assert_string_equal(out, "tmpfs");
	assert_int_equal(zc_backcap_mountinfo_fstype(mi, 22, out, sizeof(out)), 0);
	assert_string_equal(out, "ext4");
	assert_int_equal(zc_backcap_mountinfo_fstype(mi, 9, out, sizeof(out)), -ENOENT);
	assert_int_equal(zc_backcap_mountinfo_fstype("5 1 0:1 / / rw\n", 5, out, sizeof(out)), -EINVAL);
	assert_int_equal(zc_backcap_mountinfo_fstype(mi, 97, out, 4), -EINVAL); /* does not fit */
}

static void test_backcap_lines_say_what_zcfs_does_for_s3fs(void **state)
{
	struct zc_backcap c = { 0 };
	struct zc_backcap_line l[ZC_BACKCAP_NLINES];

	zc_backcap_classify(&c, "fuse.s3fs");
	c.xattrs = ZC_CAP_NO;
	c.xattrs_err = EOPNOTSUPP;
	c.o_direct = ZC_CAP_YES;
	c.handles = ZC_CAP_YES;
	c.handles_volatile = true;
	assert_int_equal(zc_backcap_lines(&c, "memory", l), ZC_BACKCAP_NLINES);
	assert_string_equal(l[2].key, "xattrs");
	assert_string_equal(l[2].value, "no");
	assert_true(l[2].lacking);
	assert_non_null(strstr(l[2].detail, "EOPNOTSUPP"));
	assert_non_null(strstr(l[2].detail, "kept by zcfs (memory)"));
	assert_string_equal(l[3].value, "yes");
	assert_false(l[3].lacking);
	assert_string_equal(l[4].value, "volatile");
	assert_true(l[4].lacking);
	assert_string_equal(l[5].key, "inodes");
	assert_string_equal(l[5].value, "volatile");
}

static void test_backcap_format_parse_round_trip(void **state)
{
	struct zc_backcap c = { 0 }, back;
	char buf[1024], small[16];
	int n;

	zc_backcap_classify(&c, "fuse.sshfs");
	c.xattrs = ZC_CAP_NO;
	c.xattrs_err = EOPNOTSUPP;
	c.o_direct = ZC_CAP_UNKNOWN;
	c.handles = ZC_CAP_YES;
	c.handles_volatile = true;
	n = zc_backcap_format(&c, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen(buf));
	assert_non_null(strstr(buf, "backing_fstype=fuse.sshfs\n"));
	assert_non_null(strstr(buf, "backing_xattrs=no\n"));
	assert_int_equal(zc_backcap_format(&c, small, sizeof(small)), n); /* the length it needs */
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_int_equal(zc_backcap_parse(buf, &back), 0);
	assert_string_equal(back.fstype, "fuse.sshfs");
	assert_int_equal(back.xattrs, ZC_CAP_NO);
	assert_int_equal(back.xattrs_err, EOPNOTSUPP);
	assert_int_equal(back.o_direct, ZC_CAP_UNKNOWN);
	assert_int_equal(back.handles, ZC_CAP_YES);
	assert_true(back.handles_volatile);
	assert_int_equal(back.stable_ino, ZC_CAP_NO);
	assert_true(back.is_remote);
	assert_int_equal(zc_backcap_parse("mode=splice\n", &back), -ENOENT);
}

static void test_backcap_probe_of_a_local_directory(void **state)
{
	char dir[] = "/tmp/zc-backcap-XXXXXX", path[64];
	struct zc_backcap c;
	int dfd, fd;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	assert_int_equal(zc_backcap_probe(dfd, &c), 0);
	assert_string_not_equal(c.fstype, "?");
	assert_false(c.is_fuse);
	assert_int_not_equal(c.xattrs, ZC_CAP_UNKNOWN);
	/* tmpfs before 6.6 refuses O_DIRECT, everything else here accepts it: never unknown with
	 * a file in the root */
	assert_int_not_equal(c.o_direct, ZC_CAP_UNKNOWN);
	close(dfd);
	unlink(path);
	rmdir(dir);
	assert_int_equal(zc_backcap_probe(-1, &c), -EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backcap_classify_fuse_is_remote_with_volatile_inodes),
		cmocka_unit_test(test_backcap_mountinfo_finds_fstype_after_optional_fields),
		cmocka_unit_test(test_backcap_lines_say_what_zcfs_does_for_s3fs),
		cmocka_unit_test(test_backcap_format_parse_round_trip),
		cmocka_unit_test(test_backcap_probe_of_a_local_directory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
