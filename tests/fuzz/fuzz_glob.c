/* fuzz_glob.c - globs: input is "PATTERN\nPATH". Checking and matching never crash or run long
 * (the matcher is linear-time by design); a pattern without metacharacters that passes the check
 * matches itself; "**" matches every path. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "glob_int.h"
#include "zc/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	char *path = strchr(buf, '\n');
	if (path)
		*path++ = '\0';
	else
		path = buf + size;
	char err[256];
	if (zc_glob_check(buf, err, sizeof(err)) == 0) {
		(void)zc_glob_match(buf, path);
		if (!strpbrk(buf, "*?[\\"))
			assert(zc_glob_match(buf, buf));
	}
	if (path[0] && path[0] != '/')
		(void)zc_glob_match("**", path);
	free(buf);
	return 0;
}
