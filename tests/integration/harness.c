/* harness.c - see harness.h. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static bool mounted(const char *mnt)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[8192], mp[PATH_MAX];
	bool found = false;
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && strcmp(mp, mnt) == 0;
	fclose(f);
	return found;
}

int zc_mount_start(struct zc_mount *m, const char *opts)
{
	const char *bin = getenv("ZCFS_BIN");
	memset(m, 0, sizeof(*m));
	if (access("/dev/fuse", R_OK | W_OK) < 0) {
		if (getenv("ZCFS_REQUIRE_MOUNT") && strcmp(getenv("ZCFS_REQUIRE_MOUNT"), "1") == 0) {
			fprintf(stderr, "FAIL: /dev/fuse unusable (%s) and ZCFS_REQUIRE_MOUNT=1\n", strerror(errno));
			return -1;
		}
		fprintf(stderr, "SKIP: /dev/fuse unusable\n");
		return 77;
	}
	if (!bin) {
		fprintf(stderr, "FAIL: ZCFS_BIN not set\n");
		return -1;
	}
	snprintf(m->top, sizeof(m->top), "/tmp/zcfs-cm.XXXXXX");
	if (!mkdtemp(m->top))
		return -1;
	chmod(m->top, 0755);
	snprintf(m->src, sizeof(m->src), "%s/src", m->top);
	snprintf(m->mnt, sizeof(m->mnt), "%s/mnt", m->top);
	snprintf(m->log, sizeof(m->log), "%s/log", m->top);
	if (mkdir(m->src, 0755) < 0 || mkdir(m->mnt, 0755) < 0)
		return -1;
	m->pid = fork();
	if (m->pid < 0)
		return -1;
	if (m->pid == 0) {
		int fd = open(m->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0)
			dup2(fd, 2);
		if (opts)
			execl(bin, "zcfs", "-f", "-o", opts, m->src, m->mnt, (char *)NULL);
		else
			execl(bin, "zcfs", "-f", m->src, m->mnt, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		if (mounted(m->mnt))
			return 0;
		if (waitpid(m->pid, NULL, WNOHANG) == m->pid) {
			fprintf(stderr, "FAIL: zcfs exited before mounting (log %s)\n", m->log);
			m->pid = 0;
			return -1;
		}
		nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
	}
	fprintf(stderr, "FAIL: %s did not appear in mountinfo\n", m->mnt);
	return -1;
}

int zc_mount_stop(struct zc_mount *m)
{
	char cmd[2 * PATH_MAX + 64];
	int rc = 0, status = 0;
	if (mounted(m->mnt)) {
		snprintf(cmd, sizeof(cmd), "fusermount3 -u '%s' 2>/dev/null || fusermount3 -uz '%s'", m->mnt, m->mnt);
		if (system(cmd) != 0)
			rc = -1;
	}
	if (m->pid > 0) {
		for (int i = 0; i < 200 && waitpid(m->pid, &status, WNOHANG) == 0; i++)
			nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
		if (kill(m->pid, 0) == 0) {
			kill(m->pid, SIGKILL);
			waitpid(m->pid, &status, 0);
			fprintf(stderr, "FAIL: daemon did not exit after unmount\n");
			rc = -1;
		} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "FAIL: daemon exit status %d\n", status);
			rc = -1;
		}
	}
	FILE *f = fopen(m->log, "re");
	char line[1024];
	while (f && fgets(line, sizeof(line), f))
		if (strcasestr(line, "error") || strcasestr(line, "warning")) {
			fprintf(stderr, "FAIL: daemon logged: %s", line);
			rc = -1;
		}
	if (f)
		fclose(f);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", m->top);
	if (m->top[0] && system(cmd) != 0)
		rc = -1;
	return rc;
}

static const char *join(const char *a, const char *b)
{
	static char bufs[4][PATH_MAX * 2];
	static int next;
	char *out = bufs[next++ % 4];
	snprintf(out, PATH_MAX * 2, "%s/%s", a, b);
	return out;
}

const char *zc_src(struct zc_mount *m, const char *rel)
{
	return join(m->src, rel);
}

const char *zc_mnt(struct zc_mount *m, const char *rel)
{
	return join(m->mnt, rel);
}
