/* slowdev.c - an LD_PRELOAD shim for the daemon that makes its backing storage slow, as a network
 * or cloud disk is: a pread, splice or readahead of a range not all in the page cache waits
 * SLOWDEV_US µs first (cachestat(2) tells; what it cannot tell about, /dev/fuse and pipes, is not
 * slowed). Reads the kernel does itself (mode=passthrough) cannot be slowed this way.
 * For tests/bench/epoch.py: reading ahead pays off only where reads wait on the device. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif

struct range { uint64_t off, len; };
struct counts { uint64_t cache, dirty, writeback, evicted, recently_evicted; };

/* Wait if [off, off + len) of fd is not all cached. */
static void device_wait(int fd, off_t off, size_t len)
{
	static long us = -1;
	struct range r = { (uint64_t)off, len };
	struct counts c;
	struct stat st;
	uint64_t first, last;

	if (us < 0)
		us = getenv("SLOWDEV_US") ? atol(getenv("SLOWDEV_US")) : 0;
	if (us <= 0 || off < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || off >= st.st_size)
		return;
	if (len > (uint64_t)(st.st_size - off))
		len = (size_t)(st.st_size - off); /* pages past the end are never cached */
	r.len = len;
	if (syscall(__NR_cachestat, fd, &r, &c, 0) < 0)
		return;
	first = (uint64_t)off / 4096;
	last = ((uint64_t)off + len - 1) / 4096;
	if (c.cache < last - first + 1)
		usleep((useconds_t)us);
}

typedef ssize_t (*pread_fn)(int, void *, size_t, off_t);
typedef ssize_t (*readahead_fn)(int, off_t, size_t);
typedef ssize_t (*splice_fn)(int, loff_t *, int, loff_t *, size_t, unsigned int);

ssize_t pread64(int fd, void *buf, size_t n, off_t off)
{
	static pread_fn real;

	if (!real)
		real = (pread_fn)dlsym(RTLD_NEXT, "pread64");
	device_wait(fd, off, n);
	return real(fd, buf, n, off);
}

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	return pread64(fd, buf, n, off);
}

ssize_t splice(int in, loff_t *off_in, int out, loff_t *off_out, size_t len, unsigned int flags)
{
	static splice_fn real;

	if (!real)
		real = (splice_fn)dlsym(RTLD_NEXT, "splice");
	if (off_in)
		device_wait(in, (off_t)*off_in, len);
	return real(in, off_in, out, off_out, len, flags);
}

ssize_t readahead(int fd, off_t off, size_t n)
{
	static readahead_fn real;

	if (!real)
		real = (readahead_fn)dlsym(RTLD_NEXT, "readahead");
	device_wait(fd, off, n);
	return real(fd, off, n);
}
