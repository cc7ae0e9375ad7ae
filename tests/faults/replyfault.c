/* replyfault.c - an LD_PRELOAD shim for the daemon that makes some replies to CREATE fail as an
 * interrupted request's do: the kernel is sent an EINTR error for the request instead, and libfuse
 * is told the reply could not be written (ENOENT, what /dev/fuse answers for a request the kernel
 * has given up on). REPLYFAULT_CREATE_EVERY=N fails every Nth CREATE reply (0: none). */
#include <dlfcn.h>
#include <errno.h>
#include <linux/fuse.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

ssize_t writev(int fd, const struct iovec *iov, int iovcnt);

static _Atomic unsigned long creates;

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	static ssize_t (*real)(int, const struct iovec *, int);
	const char *every = getenv("REPLYFAULT_CREATE_EVERY");
	size_t total = 0;

	if (!real)
		real = (ssize_t (*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	/* Only a CREATE reply has an entry and an open reply after the header. */
	if (every && atoi(every) > 0 && iovcnt > 0 && iov[0].iov_len >= sizeof(struct fuse_out_header) &&
	    total == sizeof(struct fuse_out_header) + sizeof(struct fuse_entry_out) + sizeof(struct fuse_open_out)) {
		struct fuse_out_header h;
		memcpy(&h, iov[0].iov_base, sizeof(h));
		if (h.error == 0 && ++creates % (unsigned long)atoi(every) == 0) {
			struct fuse_out_header e = { .len = sizeof(e), .error = -EINTR, .unique = h.unique };
			struct iovec v = { &e, sizeof(e) };
			real(fd, &v, 1);
			errno = ENOENT;
			return -1;
		}
	}
	return real(fd, iov, iovcnt);
}
