/* dioalign_read.c - how an application reads a file on a zcfs mount with O_DIRECT: FUSE cannot
 * pass STATX_DIOALIGN through, so zcfs answers the virtual xattr user.zcfs.dioalign
 * ("mem=512 offset=512") and the application aligns its buffer, offsets and lengths to it.
 *   usage: dioalign_read FILE      prints the alignment and the bytes read */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: dioalign_read FILE\n");
		return 2;
	}
	char v[64] = "";
	unsigned long mem = 4096, off = 4096; /* a safe guess when the xattr is missing */
	ssize_t n = getxattr(argv[1], "user.zcfs.dioalign", v, sizeof(v) - 1);
	if (n > 0) {
		v[n] = '\0';
		sscanf(v, "mem=%lu offset=%lu", &mem, &off);
	} else {
		fprintf(stderr, "no user.zcfs.dioalign (%s): assuming 4096\n", strerror(errno));
	}
	size_t chunk = off > 65536 ? off : 65536 - 65536 % off;
	int fd = open(argv[1], O_RDONLY | O_DIRECT);
	if (fd < 0) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	void *buf;
	if (posix_memalign(&buf, mem < sizeof(void *) ? sizeof(void *) : mem, chunk) != 0) {
		close(fd);
		return 1;
	}
	unsigned long long total = 0;
	while ((n = read(fd, buf, chunk)) > 0)
		total += (unsigned long long)n;
	int rc = n < 0 ? 1 : 0;
	if (n < 0)
		fprintf(stderr, "read: %s\n", strerror(errno));
	printf("alignment mem=%lu offset=%lu, read %llu bytes with O_DIRECT in %zu-byte requests\n", mem,
	       off, total, chunk);
	free(buf);
	close(fd);
	return rc;
}
