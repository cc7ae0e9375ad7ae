/* test_mount.c - cmocka real-mount tests on one zcfs mount (allow_other,default_permissions):
 * each case acts through the mount and checks the backing directory. The Python and shell
 * suites (tests/posix, tests/cli) cover the rest of the operations. */
#include <dirent.h>
#include <grp.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static struct zc_mount mnt;

static void put(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void test_mount_hard_link_shares_inode_and_nlink(void **state)
{
	struct stat a, b, sa;
	put(zc_mnt(&mnt, "hl"), "x", 1);
	assert_int_equal(link(zc_mnt(&mnt, "hl"), zc_mnt(&mnt, "hl2")), 0);
	assert_int_equal(stat(zc_mnt(&mnt, "hl"), &a), 0);
	assert_int_equal(stat(zc_mnt(&mnt, "hl2"), &b), 0);
	assert_int_equal(stat(zc_src(&mnt, "hl"), &sa), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_ino, sa.st_ino);
	assert_int_equal(a.st_nlink, 2);
	assert_int_equal(unlink(zc_mnt(&mnt, "hl2")), 0);
	assert_int_equal(stat(zc_mnt(&mnt, "hl"), &a), 0);
	assert_int_equal(a.st_nlink, 1);
}

static void test_mount_rename_noreplace_and_exchange(void **state)
{
	struct stat st;
	put(zc_mnt(&mnt, "ra"), "A", 1);
	assert_int_equal(mkdir(zc_mnt(&mnt, "rd"), 0755), 0);
	put(zc_mnt(&mnt, "rd/rb"), "BB", 2);
	assert_int_equal(stat(zc_src(&mnt, "ra"), &st), 0);
	ino_t ino = st.st_ino;
	assert_int_equal(syscall(SYS_renameat2, AT_FDCWD, zc_mnt(&mnt, "ra"), AT_FDCWD, zc_mnt(&mnt, "rd/rb"),
				 1 /* RENAME_NOREPLACE */), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(syscall(SYS_renameat2, AT_FDCWD, zc_mnt(&mnt, "ra"), AT_FDCWD, zc_mnt(&mnt, "rd/rb"),
				 2 /* RENAME_EXCHANGE */), 0);
	assert_int_equal(stat(zc_src(&mnt, "rd/rb"), &st), 0);
	assert_int_equal(st.st_ino, ino);
	assert_int_equal(st.st_size, 1);
	assert_int_equal(stat(zc_mnt(&mnt, "rd/rb"), &st), 0);
	assert_int_equal(st.st_ino, ino); /* stable across rename */
}

static void test_mount_sparse_file_seeks_hole_and_data(void **state)
{
	int fd = open(zc_mnt(&mnt, "sparse"), O_RDWR | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "data", 4, 4 << 20), 4);
	assert_int_equal(fsync(fd), 0);
	assert_int_equal(lseek(fd, 0, SEEK_DATA), 4 << 20);
	assert_int_equal(lseek(fd, 0, SEEK_HOLE), 0);
	char buf[8] = "zzzzzzz";
	assert_int_equal(pread(fd, buf, 4, 1 << 20), 4);
	assert_memory_equal(buf, "\0\0\0\0", 4);
	assert_int_equal(close(fd), 0);
}

static void test_mount_bad_mode_xattr_is_einval_and_stores_nothing(void **state)
{
	char v[64];
	put(zc_mnt(&mnt, "xa"), "x", 1);
	assert_int_equal(setxattr(zc_mnt(&mnt, "xa"), "user.zcfs.mode", "fast", 4, 0), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(getxattr(zc_src(&mnt, "xa"), "user.zcfs.mode", v, sizeof(v)), -1);
	assert_int_equal(errno, ENODATA);
	assert_int_equal(setxattr(zc_mnt(&mnt, "xa"), "user.zcfs.mode", "mmap", 4, 0), 0);
	ssize_t n = getxattr(zc_src(&mnt, "xa"), "user.zcfs.mode", v, sizeof(v));
	assert_int_equal(n, 4);
	assert_memory_equal(v, "mmap", 4);
	n = getxattr(zc_mnt(&mnt, "xa"), "user.zcfs.effective", v, sizeof(v) - 1);
	assert_true(n > 0);
	v[n] = '\0';
	assert_non_null(strstr(v, "mode=mmap source=xattr"));
}

static void test_mount_posix_lock_conflicts_between_processes(void **state)
{
	put(zc_mnt(&mnt, "lk"), "lock", 4);
	int fd = open(zc_mnt(&mnt, "lk"), O_RDWR);
	assert_true(fd >= 0);
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 4};
	assert_int_equal(fcntl(fd, F_SETLK, &fl), 0);
	pid_t pid = fork();
	if (pid == 0) {
		int f2 = open(zc_mnt(&mnt, "lk"), O_RDWR);
		struct flock l2 = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 4};
		int r = fcntl(f2, F_SETLK, &l2);
		_exit(r == -1 && (errno == EAGAIN || errno == EACCES) ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(close(fd), 0);
}

static void test_mount_file_created_by_user_is_theirs(void **state)
{
	assert_int_equal(mkdir(zc_src(&mnt, "pub"), 0777), 0);
	assert_int_equal(chmod(zc_src(&mnt, "pub"), 01777), 0);
	pid_t pid = fork();
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(54321) < 0 || setuid(54321) < 0)
			_exit(2);
		int fd = open(zc_mnt(&mnt, "pub/mine"), O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd < 0 || close(fd) < 0)
			_exit(3);
		_exit(open(zc_mnt(&mnt, ".zcfs/ctl"), O_RDWR) < 0 && errno == EACCES ? 0 : 4);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	struct stat st;
	assert_int_equal(stat(zc_src(&mnt, "pub/mine"), &st), 0);
	assert_int_equal(st.st_uid, 54321);
	assert_int_equal(st.st_gid, 54321);
}

static void test_mount_o_direct_aligned_write_and_read(void **state)
{
	void *w = NULL, *r = NULL;
	assert_int_equal(posix_memalign(&w, 4096, 65536), 0);
	assert_int_equal(posix_memalign(&r, 4096, 65536), 0);
	for (int i = 0; i < 65536; i++)
		((unsigned char *)w)[i] = (unsigned char)(i * 7);
	int fd = open(zc_mnt(&mnt, "dio"), O_RDWR | O_CREAT | O_DIRECT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, w, 65536, 8192), 65536);
	assert_int_equal(pread(fd, r, 65536, 8192), 65536);
	assert_memory_equal(r, w, 65536);
	assert_int_equal(close(fd), 0);
	fd = open(zc_src(&mnt, "dio"), O_RDONLY);
	assert_int_equal(pread(fd, r, 65536, 8192), 65536);
	assert_memory_equal(r, w, 65536);
	close(fd);
	free(w);
	free(r);
}

static void test_mount_directory_of_20000_entries_listed_once(void **state)
{
	char name[64];
	assert_int_equal(mkdir(zc_src(&mnt, "many"), 0755), 0);
	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "many/e%05d", i);
		int fd = open(zc_src(&mnt, name), O_WRONLY | O_CREAT, 0644);
		assert_true(fd >= 0);
		close(fd);
	}
	unsigned char *seen = calloc(20000, 1);
	DIR *d = opendir(zc_mnt(&mnt, "many"));
	assert_non_null(d);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		int i = atoi(de->d_name + 1);
		assert_in_range(i, 0, 19999);
		assert_int_equal(seen[i], 0);
		seen[i] = 1;
		n++;
	}
	closedir(d);
	free(seen);
	assert_int_equal(n, 20000);
}

static void test_mount_each_read_mode_is_counted(void **state)
{
	static const char *modes[] = {"buffered", "direct", "mmap", "splice"};
	char buf[65536], stats[65536];
	for (int i = 0; i < (int)sizeof(buf); i++)
		buf[i] = (char)i;
	put(zc_src(&mnt, "rm"), buf, sizeof(buf));
	for (int m = 0; m < 4; m++) {
		assert_int_equal(setxattr(zc_mnt(&mnt, "rm"), "user.zcfs.mode", modes[m], strlen(modes[m]), 0), 0);
		int fd = open(zc_mnt(&mnt, "rm"), O_RDONLY | O_DIRECT); /* O_DIRECT: every read reaches zcfs */
		assert_true(fd >= 0);
		void *al = NULL;
		assert_int_equal(posix_memalign(&al, 4096, sizeof(buf)), 0);
		assert_int_equal(read(fd, al, sizeof(buf)), (ssize_t)sizeof(buf));
		assert_memory_equal(al, buf, sizeof(buf));
		free(al);
		close(fd);
		/* Counters are updated right after the reply is sent: allow the daemon thread a moment. */
		char key[64];
		unsigned long long got = 0;
		snprintf(key, sizeof(key), "zcfs_read_bytes_total{mode=\"%s\",", modes[m]);
		for (int tries = 0; tries < 200 && got < sizeof(buf); tries++) {
			if (tries)
				usleep(10000);
			fd = open(zc_mnt(&mnt, ".zcfs/stats"), O_RDONLY);
			ssize_t n = read(fd, stats, sizeof(stats) - 1);
			close(fd);
			assert_true(n > 0);
			stats[n] = '\0';
			char *p = strstr(stats, key);
			assert_non_null(p);
			p = strstr(p, "} "); /* after the mount's labels */
			assert_non_null(p);
			got = strtoull(p + 2, NULL, 10);
		}
		if (got < sizeof(buf))
			fail_msg("%s: %llu bytes counted after reading %zu", modes[m], got, sizeof(buf));
	}
}

static int group_setup(void **state)
{
	return zc_mount_start(&mnt, "allow_other,default_permissions") == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	return zc_mount_stop(&mnt) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mount_hard_link_shares_inode_and_nlink),
		cmocka_unit_test(test_mount_rename_noreplace_and_exchange),
		cmocka_unit_test(test_mount_sparse_file_seeks_hole_and_data),
		cmocka_unit_test(test_mount_bad_mode_xattr_is_einval_and_stores_nothing),
		cmocka_unit_test(test_mount_posix_lock_conflicts_between_processes),
		cmocka_unit_test(test_mount_file_created_by_user_is_theirs),
		cmocka_unit_test(test_mount_o_direct_aligned_write_and_read),
		cmocka_unit_test(test_mount_directory_of_20000_entries_listed_once),
		cmocka_unit_test(test_mount_each_read_mode_is_counted),
	};
	if (access("/dev/fuse", R_OK | W_OK) < 0 &&
	    !(getenv("ZCFS_REQUIRE_MOUNT") && strcmp(getenv("ZCFS_REQUIRE_MOUNT"), "1") == 0)) {
		fprintf(stderr, "SKIP: /dev/fuse unusable and ZCFS_REQUIRE_MOUNT unset\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
