/* dirlist.h - directory listings: a cursor reads the backing directory with getdents64 and turns
 * its entries into FUSE entries (with attributes and a kernel reference for READDIRPLUS). Offsets
 * are the backing filesystem's own cookies (d_off) where they can be seeked to (local
 * filesystems), else entry counts, so a READDIR needs no state from an OPENDIR: where the kernel
 * opens directories without a round trip (FUSE_NO_OPENDIR_SUPPORT) it caches what it read and
 * READDIR comes with no handle; a few cursors are kept open between requests. The control
 * directory's entry ends the root's listing. Thread-safe; a cursor is used under its own lock. */
#ifndef ZCD_DIRLIST_H
#define ZCD_DIRLIST_H

#include <fuse_lowlevel.h>
#include <stdbool.h>

struct zcd_ctx;
struct zcd_inode;
struct zcd_dcursor;

int zcd_dirlist_init(struct zcd_ctx *ctx);
/* Close every kept cursor (at unmount, before the table goes). */
void zcd_dirlist_free(struct zcd_ctx *ctx);

/* Close kept cursors that have been idle a while (called when the kernel forgets inodes). */
void zcd_dirlist_expire(struct zcd_ctx *ctx);
/* A cursor of its own (a directory handle's), on the open directory descriptor fd (taken), of
 * in (referenced by the caller for the cursor's life). NULL without memory (fd closed). */
struct zcd_dcursor *zcd_dcursor_new(struct zcd_ctx *ctx, struct zcd_inode *in, int fd);
void zcd_dcursor_free(struct zcd_dcursor *c);
int zcd_dcursor_fd(struct zcd_dcursor *c);

/* Reply to READDIR (plus: READDIRPLUS) of in from offset off with at most size bytes, through
 * cursor c, or (c NULL) through a kept cursor of in, opened as the daemon. */
void zcd_dirlist_read(fuse_req_t req, struct zcd_inode *in, struct zcd_dcursor *c, size_t size,
		      off_t off, bool plus);

#endif
