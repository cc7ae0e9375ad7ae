/* cache.h - coherence of the mount's own page cache with the backing files. zcfs remembers each
 * file's stamp (size, mtime, ctime) as it last saw or made it: changes made through the mount
 * are absorbed into the stamp and keep the cached pages; changes made by other processes are
 * noticed where attributes pass through the daemon (open, getattr, lookup, listings) and drop
 * them. The kernel's own mtime check (FUSE_CAP_AUTO_INVAL_DATA) stays off because it cannot
 * tell the two apart. A stat is compared only if no write through the mount was in flight or
 * ended after it was taken: callers read zcd_cache_seq() before their stat(2) and pass it on.
 * Thread-safe (tbl->lock). */
#ifndef ZCD_CACHE_H
#define ZCD_CACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "zc/mode.h"

struct zcd_ctx;
struct zcd_inode;

/* Read before each stat(2) whose result goes to the calls below, as their seq: how many writes
 * through the mount have ended. Never blocks. */
uint64_t zcd_cache_seq(struct zcd_ctx *ctx);
/* At open (or opendir) with cache policy policy and fresh attributes st: may the kernel keep
 * the pages it holds (FOPEN_KEEP_CACHE)? *changed tells that another process changed the object
 * since zcfs last saw it (counted; the caller also drops the kernel's cached attributes). */
bool zcd_cache_open(struct zcd_ctx *ctx, struct zcd_inode *in, const struct stat *st, uint64_t seq,
		    enum zc_cache policy, bool *changed);
/* Attributes of in seen outside open: if another process changed a file whose pages the mount
 * caches, drop them (deferred to the notifier: never inside a request handler). */
void zcd_cache_observe(struct zcd_ctx *ctx, struct zcd_inode *in, const struct stat *st,
		       uint64_t seq);
/* A write (or size change) through the mount is starting / has ended; st: the backing file's
 * attributes after it (NULL if unknown: the next observation decides). */
void zcd_cache_write_begin(struct zcd_ctx *ctx, struct zcd_inode *in);
void zcd_cache_write_end(struct zcd_ctx *ctx, struct zcd_inode *in, const struct stat *st,
			 uint64_t seq);
/* zcfs stored the file's data (as st, taken after seq, describes it) into the mount's cache
 * (notify_store): the next open keeps those pages unless the file changes before. */
void zcd_cache_stored(struct zcd_ctx *ctx, struct zcd_inode *in, const struct stat *st,
		      uint64_t seq);
/* Is st (taken after seq) what the mount's own changes left (the stamp), or may a write of the
 * mount's still be on its way? For notifications that do not say who changed a file. */
bool zcd_cache_is_own(struct zcd_ctx *ctx, struct zcd_inode *in, const struct stat *st,
		      uint64_t seq);
/* A change made through the mount without a write (chmod, xattrs, link, rename): absorb st. */
void zcd_cache_absorb(struct zcd_ctx *ctx, struct zcd_inode *in, const struct stat *st,
		      uint64_t seq);

#endif
