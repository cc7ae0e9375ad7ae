/* lookup.h - names to inodes: a lookup stats the name, and a table hit is trusted only when the
 * entry still holds a descriptor of its object (which pins the inode number) or its file handle
 * matches the name's; otherwise the backing filesystem reused the number for a new object, which
 * gets a new entry and node id, so the kernel drops its stale dentry. Also the entry replies
 * (attributes, timeouts, the st_ino the kernel sees). Thread-safe. */
#ifndef ZCD_LOOKUP_H
#define ZCD_LOOKUP_H

#include <fuse_lowlevel.h>
#include <sys/stat.h>

struct zcd_ctx;
struct zcd_inode;

/* Look name up in parent: fill e (attributes, timeouts, node id with one kernel reference
 * taken). ino_hint: a listing's d_ino for name (0: unknown), which spares a stat of names not
 * in the table yet. Returns 0 or -errno (-ENOENT, -ESTALE when parent is gone). */
int zcd_lookup_name(struct zcd_ctx *ctx, struct zcd_inode *parent, const char *name,
		    ino_t ino_hint, struct fuse_entry_param *e);
/* The same for an object the caller opened itself (create): fd is any descriptor of it, which
 * decides the identity; name is recorded for routing. */
int zcd_lookup_fd(struct zcd_ctx *ctx, struct zcd_inode *parent, const char *name, int fd,
		  struct fuse_entry_param *e);
/* The table entry for the object behind fd (any descriptor), pinned, or NULL if the kernel does
 * not know it. Identity is checked as in a lookup. zcd_inode_unpin releases it. */
struct zcd_inode *zcd_inode_find_fd(struct zcd_ctx *ctx, int fd, const struct stat *st);

/* The st_ino the kernel sees: BACKING's own filesystem's numbers as they are, those of
 * filesystems mounted below it hashed with their device so they cannot collide. */
ino_t zcd_ino_out(const struct zcd_ctx *ctx, dev_t dev, ino_t ino);
/* Fill e for in (a reference already taken), known as a name in parent, with attributes st and
 * the timeouts the watch allows (watch.h). */
void zcd_fill_entry(struct zcd_ctx *ctx, struct fuse_entry_param *e, const struct stat *st,
		    struct zcd_inode *parent, struct zcd_inode *in);

#endif
