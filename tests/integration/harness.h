/* harness.h - cmocka fixture for real-mount tests: a private src/ and mnt/ per group, zcfs
 * started in the foreground and waited for in /proc/self/mountinfo, unmounted and reaped in
 * teardown even when a test failed, and its log checked for error and warning lines. */
#ifndef ZC_HARNESS_H
#define ZC_HARNESS_H

#include <limits.h>
#include <sys/types.h>

struct zc_mount {
	char top[64];
	char src[PATH_MAX], mnt[PATH_MAX], log[PATH_MAX];
	pid_t pid;
};

/* Start zcfs (path from $ZCFS_BIN) with -o opts (may be NULL). Returns 0; 77 (skip) when
 * /dev/fuse is missing and ZCFS_REQUIRE_MOUNT is unset; -1 with a message otherwise. */
int zc_mount_start(struct zc_mount *m, const char *opts);
/* Unmount (lazily if needed), reap the daemon. Returns 0 when it exited 0 and logged no
 * error or warning line, -1 otherwise (with a message). Removes the directories. */
int zc_mount_stop(struct zc_mount *m);
/* Path helpers: "<src>/<rel>" and "<mnt>/<rel>" in a static rotating buffer. */
const char *zc_src(struct zc_mount *m, const char *rel);
const char *zc_mnt(struct zc_mount *m, const char *rel);

#endif
