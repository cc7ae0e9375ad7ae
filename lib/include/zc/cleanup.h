/* cleanup.h - scope-bound release of heap memory and descriptors via __attribute__((cleanup)).
 * The only place that attribute is used; never for locks. Hand off with `p = NULL` or `fd = -1`. */
#ifndef ZC_CLEANUP_H
#define ZC_CLEANUP_H

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static inline void zc_freep(void *p) { free(*(void **)p); }
static inline void zc_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

#define _cleanup_free_ __attribute__((cleanup(zc_freep)))
#define _cleanup_close_ __attribute__((cleanup(zc_closep)))

#endif
