/* route.h - which read mode and cache policy a file gets: its own user.zcfs.* xattr, then the
 * nearest ancestor directory's, then the first matching line of the rules file, then the mount
 * default. Rules are immutable after load and may be shared by threads; eval is reentrant. */
#ifndef ZC_ROUTE_H
#define ZC_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "zc/mode.h"

#define ZC_XATTR_MODE "user.zcfs.mode"
#define ZC_XATTR_CACHE "user.zcfs.cache"
#define ZC_XATTR_EFFECTIVE "user.zcfs.effective"
#define ZC_XATTR_DIOALIGN "user.zcfs.dioalign"
#define ZC_XATTR_RESIDENCY "user.zcfs.residency"

struct zc_rules; /* opaque, immutable once loaded */

/* Parse rules text; name is used in messages and sources ("rule:NAME:LINE"). On a malformed line
 * returns -EINVAL and writes "NAME:LINE: reason" into err. Returns 0 and *out (free with
 * zc_rules_free) on success; an empty text gives an empty rule set. -ENOMEM. */
int zc_rules_parse(const char *text, size_t len, const char *name, struct zc_rules **out,
		   char *err, size_t errlen);
/* Read and parse a file. As zc_rules_parse; -errno (and "NAME: strerror") if unreadable. */
int zc_rules_load(const char *path, struct zc_rules **out, char *err, size_t errlen);
void zc_rules_free(struct zc_rules *rules);
/* Write the rules, one per line as "pattern mode=X cache=Y  # FILE:LINE", into a malloc'ed
 * string (*out). Returns 0 or -ENOMEM. rules may be NULL (empty string). */
int zc_rules_dump(const struct zc_rules *rules, char **out);

/* Glob match of a path relative to the root ("a/b/c.bin", no leading slash): '*' and '?' stay
 * within a component, '**' as a whole component matches zero or more components, "[...]"
 * classes. Exposed for tests. */
bool zc_glob_match(const char *pattern, const char *path);

enum zc_src_kind { ZC_SRC_DEFAULT, ZC_SRC_XATTR, ZC_SRC_DIR, ZC_SRC_RULE };

struct zc_route_src {
	enum zc_src_kind kind;
	char where[256]; /* DIR: relative dir path ("." for root); RULE: "FILE:LINE" */
};

/* One level of the walk from the file upwards. */
struct zc_route_level {
	const char *relpath; /* path relative to the root; "." for the root itself */
	const char *mode_xattr;  /* value of user.zcfs.mode at this level, or NULL if absent */
	const char *cache_xattr; /* likewise user.zcfs.cache */
};

/* Supplies level 0 (the file), 1 (its directory), ... up to the root. Returns 0 and fills *lvl
 * (pointers valid until the next call), -ENOENT past the root, or another -errno (eval then
 * ignores the rest of the walk). */
typedef int (*zc_route_level_fn)(void *arg, unsigned level, struct zc_route_level *lvl);

struct zc_route_out {
	enum zc_mode mode;
	enum zc_cache cache;
	struct zc_route_src mode_src, cache_src;
};

/* Resolve mode and cache for relpath. Levels are fetched lazily and the walk stops once both are
 * decided. An xattr value that does not parse is ignored (logged), as if absent. Returns 0. */
int zc_route_eval(const struct zc_rules *rules, const char *relpath, zc_route_level_fn fn,
		  void *arg, enum zc_mode def_mode, enum zc_cache def_cache, struct zc_route_out *out);

/* "mode=direct source=dir:data/x cache=auto source=default" into buf. Returns the length
 * snprintf would produce. */
int zc_route_format(const struct zc_route_out *r, char *buf, size_t len);

/* Validate a setxattr of name=value: returns 0 if name is not ours or the value is valid, -EINVAL
 * for a bad value of user.zcfs.mode/cache (anything but exactly a name: a trailing NUL too, which
 * the readers of such values, zc_mode_parse and zc_cache_parse, tolerate in values written on
 * the backing directly), -EPERM for the read-only virtual ones. */
int zc_route_check_xattr(const char *name, const char *value, size_t size);

#endif
