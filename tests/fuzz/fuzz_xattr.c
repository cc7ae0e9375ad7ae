/* fuzz_xattr.c - values of the user.zcfs.* attributes: the first line of the input is the name,
 * the rest the value. A value parsed for user.zcfs.mode or .cache is one of the names (round trip
 * through zc_*_name, a trailing NUL tolerated); one accepted for writing is exactly a name; the
 * virtual attributes are never writable. */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "zc/mode.h"
#include "zc/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	char name[256];
	size_t nlen = nl ? (size_t)(nl - (const char *)data) : 0;
	if (!nl || nlen >= sizeof(name) || memchr(data, '\0', nlen))
		nlen = 0;
	memcpy(name, data, nlen);
	name[nlen] = '\0';
	const char *value = nl ? nl + 1 : (const char *)data;
	size_t vlen = size - (size_t)(value - (const char *)data);

	enum zc_mode m;
	enum zc_cache c;
	if (zc_mode_parse(value, vlen, &m) == 0) {
		const char *n = zc_mode_name(m);
		assert(vlen == strlen(n) || (vlen == strlen(n) + 1 && value[vlen - 1] == '\0'));
		assert(memcmp(n, value, strlen(n)) == 0);
	}
	if (zc_cache_parse(value, vlen, &c) == 0) {
		const char *n = zc_cache_name(c);
		assert(memcmp(n, value, strlen(n)) == 0);
	}
	int rc = zc_route_check_xattr(name, value, vlen);
	bool nul = vlen && value[vlen - 1] == '\0';
	if (strcmp(name, "user.zcfs.mode") == 0)
		assert((rc == 0) == (zc_mode_parse(value, vlen, &m) == 0 && !nul));
	if (strcmp(name, "user.zcfs.cache") == 0)
		assert((rc == 0) == (zc_cache_parse(value, vlen, &c) == 0 && !nul));
	if (strcmp(name, "user.zcfs.effective") == 0 || strcmp(name, "user.zcfs.residency") == 0)
		assert(rc == -EPERM);
	return 0;
}
