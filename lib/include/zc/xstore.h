/* xstore.h - user.zcfs.mode and user.zcfs.cache kept by zcfs, by path relative to the backing
 * root, for backings that cannot store extended attributes (s3fs, sshfs); with a text form for a
 * state file. Keyed by path because such backings renumber inodes. Not thread-safe: the caller
 * serialises calls on one store; zc_xstore_free() frees it. */
#ifndef ZC_XSTORE_H
#define ZC_XSTORE_H

#include <stddef.h>

struct zc_xstore;

/* A new empty store, or NULL (ENOMEM). */
struct zc_xstore *zc_xstore_new(void);
void zc_xstore_free(struct zc_xstore *s);

/* Is name one the store keeps (user.zcfs.mode, user.zcfs.cache)? */
int zc_xstore_is_kept(const char *name);
/* Value of name for path into buf (not NUL-terminated, as getxattr). Returns its length, the
 * length needed when len is 0, -ERANGE when it does not fit, -ENODATA when unset. */
int zc_xstore_get(const struct zc_xstore *s, const char *path, const char *name, char *buf, size_t len);
/* Set name for path to value (1..31 bytes; the caller validated it). flags as setxattr:
 * XATTR_CREATE gives -EEXIST when set, XATTR_REPLACE -ENODATA when not. Returns 0, -EINVAL
 * (name not kept, value too long), -ENOMEM. */
int zc_xstore_set(struct zc_xstore *s, const char *path, const char *name, const char *value,
		  size_t vlen, int flags);
/* Remove name of path: 0 or -ENODATA. */
int zc_xstore_remove(struct zc_xstore *s, const char *path, const char *name);
/* The names set for path, each NUL-terminated, into buf as listxattr. Returns the length, the
 * length needed when len is 0, or -ERANGE. */
int zc_xstore_list(const struct zc_xstore *s, const char *path, char *buf, size_t len);
/* path was renamed to to: its entry and every entry below it move (replacing what to had).
 * Returns the number of entries moved, or -ENOMEM (nothing changed). */
int zc_xstore_rename(struct zc_xstore *s, const char *from, const char *to);
/* path was removed: its entry and every entry below it go. Returns how many went. */
int zc_xstore_forget(struct zc_xstore *s, const char *path);
/* Number of paths with anything set. */
size_t zc_xstore_count(const struct zc_xstore *s);

/* Text form: a first line "# zcfs xattrs 1", then one line per path: MODE TAB CACHE TAB PATH,
 * "-" for unset, control bytes, backslash and bytes >= 0x7f of PATH as \xNN. zc_xstore_dump
 * returns a malloc'ed string (caller frees) or NULL (ENOMEM). zc_xstore_load adds text's
 * entries to s; returns the count, or -EINVAL with err = "line N: why" (nothing added). */
char *zc_xstore_dump(const struct zc_xstore *s);
int zc_xstore_load(struct zc_xstore *s, const char *text, char *err, size_t errlen);

#endif
