/* mode.c - see zc/mode.h. */
#include <errno.h>
#include <string.h>

#include "zc/mode.h"

static const char *const mode_names[ZC_MODE_COUNT] = { "buffered", "direct", "mmap", "splice",
							"passthrough" };
static const char *const cache_names[ZC_CACHE_COUNT] = { "keep", "auto", "none", "drop" };
/* For messages; test_mode checks that they name every entry of the tables above. */
static const char mode_choices[] = "buffered, direct, mmap, splice or passthrough";
static const char cache_choices[] = "keep, auto, none or drop";

const char *zc_mode_choices(void)
{
	return mode_choices;
}

const char *zc_cache_choices(void)
{
	return cache_choices;
}

static int lookup_name(const char *const *names, int n, const char *s, size_t len)
{
	if (len > 0 && s[len - 1] == '\0')
		len--;
	for (int i = 0; i < n; i++)
		if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
			return i;
	return -EINVAL;
}

const char *zc_mode_name(enum zc_mode mode)
{
	return (unsigned)mode < ZC_MODE_COUNT ? mode_names[mode] : "?";
}

const char *zc_cache_name(enum zc_cache cache)
{
	return (unsigned)cache < ZC_CACHE_COUNT ? cache_names[cache] : "?";
}

int zc_mode_parse(const char *s, size_t len, enum zc_mode *out)
{
	int i = lookup_name(mode_names, ZC_MODE_COUNT, s, len);
	if (i < 0)
		return i;
	*out = (enum zc_mode)i;
	return 0;
}

int zc_cache_parse(const char *s, size_t len, enum zc_cache *out)
{
	int i = lookup_name(cache_names, ZC_CACHE_COUNT, s, len);
	if (i < 0)
		return i;
	*out = (enum zc_cache)i;
	return 0;
}
