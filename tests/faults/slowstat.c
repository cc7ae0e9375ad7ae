/* slowstat.c - an LD_PRELOAD shim for the daemon that makes its stat of an inode by descriptor
 * (fstatat(fd, "", AT_EMPTY_PATH): GETATTR without a handle, and SETATTR) return
 * SLOWSTAT_US microseconds after the stat was taken, as a preempted thread would. Writes through
 * the mount (fstat) are not slowed, so they can start and end between such a stat and what the
 * daemon does with it. */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags);

int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
	static int (*real)(int, const char *, struct stat64 *, int);
	const char *us = getenv("SLOWSTAT_US");
	int rc;

	if (!real)
		real = (int (*)(int, const char *, struct stat64 *, int))dlsym(RTLD_NEXT,
									       "fstatat64");
	rc = real(dirfd, path, st, flags);
	if (us && !*path && (flags & AT_EMPTY_PATH))
		usleep((useconds_t)atoi(us));
	return rc;
}
