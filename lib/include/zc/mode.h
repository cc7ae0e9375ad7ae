/* mode.h - the names of the read modes (which engine serves a read: four in the daemon, and
 * passthrough, where the kernel reads the backing file itself) and of the mount-side cache
 * policies, with parsing. Pure functions, thread-safe, no state. */
#ifndef ZC_MODE_H
#define ZC_MODE_H

#include <stddef.h>

enum zc_mode {
	ZC_MODE_BUFFERED,
	ZC_MODE_DIRECT,
	ZC_MODE_MMAP,
	ZC_MODE_SPLICE,
	ZC_MODE_PASSTHROUGH,
	ZC_MODE_COUNT
};

/* Mount-side page cache: keep across opens, keep unless size/mtime changed, none (FOPEN_DIRECT_IO),
 * drop (cached while open, invalidated when the last handle closes). */
enum zc_cache { ZC_CACHE_KEEP, ZC_CACHE_AUTO, ZC_CACHE_NONE, ZC_CACHE_DROP, ZC_CACHE_COUNT };

/* "buffered", "direct", ...; "?" for an out-of-range value. Never NULL. */
const char *zc_mode_name(enum zc_mode mode);
const char *zc_cache_name(enum zc_cache cache);

/* The names for messages: "buffered, direct, mmap, splice or passthrough" and "keep, auto, none
 * or drop", made from the same tables as the parsers, so every message lists what is accepted. */
const char *zc_mode_choices(void);
const char *zc_cache_choices(void);

/* Parse exactly len bytes (no trailing garbage, no whitespace; a trailing NUL is tolerated).
 * Returns 0, or -EINVAL for anything that is not one of the names. */
int zc_mode_parse(const char *s, size_t len, enum zc_mode *out);
int zc_cache_parse(const char *s, size_t len, enum zc_cache *out);

#endif
