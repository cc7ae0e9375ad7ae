/* inode_int.h - table internals shared by inode.c, fd.c and lookup.c: hash and LRU operations
 * that run under tbl->lock, and deferred freeing of entries after the lock is dropped. */
#ifndef ZCD_INODE_INT_H
#define ZCD_INODE_INT_H

#include "inode.h"

/* All of these need tbl->lock held. */
struct zcd_inode *zcd_tbl_find_locked(struct zcd_table *t, dev_t dev, ino_t ino);
void zcd_tbl_insert_locked(struct zcd_ctx *ctx, struct zcd_inode *in);
/* Take in out of the hash (a new object has its key); it lives on until unreferenced. */
void zcd_tbl_unhash_locked(struct zcd_table *t, struct zcd_inode *in);
void zcd_lru_unlink_locked(struct zcd_inode *in);
/* Put in's descriptor on the idle list if nothing borrows it. */
void zcd_lru_idle_locked(struct zcd_table *t, struct zcd_inode *in);
/* Close idle descriptors until at most keep remain open: moves up to max of them into fds[]
 * (to close after unlocking). Returns how many. */
int zcd_lru_trim_locked(struct zcd_table *t, unsigned keep, int *fds, int max);
/* Drop references; entries that reach zero go onto *dead (see zcd_tbl_free_dead). */
void zcd_tbl_unref_locked(struct zcd_ctx *ctx, struct zcd_inode *in, uint64_t nlookup,
			  uint32_t pins, struct zcd_inode **dead);
/* Without the lock: free entries collected by zcd_tbl_unref_locked. */
void zcd_tbl_free_dead(struct zcd_ctx *ctx, struct zcd_inode *dead);
/* Free one entry (that never entered the table, or left it), its implicit handles too. */
void zcd_inode_free(struct zcd_ctx *ctx, struct zcd_inode *in);

#endif
