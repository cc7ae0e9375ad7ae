/* inode.h - the inode table: one entry per backing object the kernel holds a reference to,
 * hashed by (st_dev, st_ino) and told apart by kernel file handle, because the backing
 * filesystem reuses inode numbers. Entries live while the kernel (nlookup), another entry
 * (pins: children, borrowers) or an open handle (opens) refers to them. All mutable fields are
 * protected by the table lock; lock order: tbl->lock before anything else. */
#ifndef ZCD_INODE_H
#define ZCD_INODE_H

#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "zc/mode.h"

struct zcd_file;

_Static_assert(sizeof(fuse_ino_t) >= sizeof(void *), "inode pointers must fit in fuse_ino_t");

/* What the backing's data looked like when zcfs last saw it or changed it itself. */
struct zcd_stamp {
	int64_t size;
	struct timespec mtime, ctime;
};

struct zcd_inode {
	/* Identity: immutable after insert. */
	dev_t dev;
	ino_t ino;
	mode_t type;              /* S_IFMT bits */
	uint64_t gen;             /* generation the kernel gets with the node id */
	struct file_handle *fh;   /* kernel file handle, NULL when fd_pinned */
	int mount_idx;            /* anchor for open_by_handle_at (fd.c), -1 without a handle */
	bool fd_pinned;           /* no file handle: fd never leaves */

	/* Table: tbl->lock. */
	struct zcd_inode *hnext;  /* hash chain */
	struct zcd_inode *fh_hnext; /* chain of the file-handle index (hashed entries with fh) */
	bool hashed;              /* false once a new object took this key (or after removal) */
	struct zcd_inode *all_prev, *all_next; /* every live entry, hashed or not (freed at exit) */
	uint64_t nlookup;         /* kernel references */
	uint32_t pins;            /* internal references */
	uint32_t opens;           /* open handles */
	struct zcd_inode *parent; /* last known parent, pinned */
	char *name;               /* last known name in parent */

	/* O_PATH descriptor (fd.c): tbl->lock. */
	int fd;                   /* or -1 when closed (reopened from fh on demand) */
	uint32_t fd_users;        /* borrowers of fd */
	struct zcd_inode *lru_prev, *lru_next; /* on tbl->lru while fd is idle */

	/* Implicit handles (-o noopen, file.h): tbl->lock. */
	struct zcd_file *imp_r, *imp_w;

	/* Change notification (watch.c): tbl->lock. */
	int watch_wd;             /* inotify watch of a directory, 0 when none (wds start at 1) */
	bool attr_queued;         /* an attribute invalidation is waiting in the notifier */

	/* Routing cache of a directory's user.zcfs.* xattrs (route.c): tbl->lock. */
	char *xa_mode, *xa_cache;
	uint64_t xa_stamp_ms;     /* 0: not cached */

	/* Mount-side cache coherence (cache.c): tbl->lock. */
	struct zcd_stamp stamp;
	bool stamp_valid;
	bool data_cached;         /* opened with a policy that keeps pages in the mount's cache */
	bool inval_queued;        /* an invalidation is waiting in the notifier */
	uint32_t writes_inflight; /* writes through the mount not yet absorbed into stamp */
	uint64_t end_seq;         /* ctx->cache_seq when the last of them ended */
	bool stamp_behind;        /* stamp may lack a change of the mount's own (cache.c) */
	uint32_t fallback_handles; /* open handles served by another engine than asked (file.c) */
	enum zc_mode fb_mode;     /* what the last of them is served by */
	int fb_err;               /* and why (positive errno) */

	/* Kernel passthrough (file.c): ctx->pt_lock. The kernel wants one backing file per inode
	 * and no other io mode while passthrough handles are open. */
	uint32_t pt_handles;      /* open handles in passthrough */
	uint32_t other_handles;   /* open handles in any other mode */
	int backing_id;           /* shared by pt_handles, 0 when none */
};

struct zcd_table {
	pthread_mutex_t lock;
	struct zcd_inode **buckets; /* lock */
	struct zcd_inode **fh_buckets; /* the same entries with a file handle, by handle; lock */
	size_t nbuckets, count;     /* lock */
	struct zcd_inode lru;       /* list head of idle descriptors; lock */
	struct zcd_inode all;       /* list head of every entry; lock */
	unsigned fds_open;          /* O_PATH descriptors held by entries; lock */
	uint64_t next_gen;          /* lock */
};

struct zcd_ctx;

int zcd_table_init(struct zcd_ctx *ctx);
/* Entries in the hash now (a snapshot). */
size_t zcd_table_count(struct zcd_ctx *ctx);
void zcd_table_destroy(struct zcd_ctx *ctx);

/* The inode behind a node id the kernel sent. The caller has ruled out control-plane nodes
 * (ctl.h). NULL (logged) for 0. */
struct zcd_inode *zcd_inode_get(struct zcd_ctx *ctx, fuse_ino_t ino);
/* The node id the kernel knows in by (FUSE_ROOT_ID for the root). */
fuse_ino_t zcd_inode_nodeid(const struct zcd_ctx *ctx, const struct zcd_inode *in);

/* Find the hashed entry whose file handle on device dev is (type, bytes, data), the root
 * included, and pin it (zcd_inode_unpin; NULL if none). For change notifications, which name
 * objects by handle. */
struct zcd_inode *zcd_inode_find_handle(struct zcd_ctx *ctx, dev_t dev, int type, unsigned bytes,
					const unsigned char *data);
/* Find the hashed entry for (dev, ino) and pin it (NULL if none). The caller checks identity
 * where it matters (lookup.h: zcd_inode_find_fd); zcd_inode_unpin releases the pin. */
struct zcd_inode *zcd_inode_find(struct zcd_ctx *ctx, dev_t dev, ino_t ino);
void zcd_inode_pin(struct zcd_ctx *ctx, struct zcd_inode *in);
void zcd_inode_unpin(struct zcd_ctx *ctx, struct zcd_inode *in);
/* Drop n kernel references (FORGET); frees the inode when nothing refers to it. A count that
 * would go below zero is clamped, logged and counted. */
void zcd_inode_forget(struct zcd_ctx *ctx, struct zcd_inode *in, uint64_t n);
/* Record that in is now known as name in parent (rename, link, lookup). */
void zcd_inode_set_name(struct zcd_ctx *ctx, struct zcd_inode *in, struct zcd_inode *parent,
			const char *name);
/* in's last known parent, pinned (zcd_inode_unpin), and its name in it copied into name; NULL
 * when in has none (the root, or an entry known only by handle) or the name does not fit. */
struct zcd_inode *zcd_inode_parent(struct zcd_ctx *ctx, struct zcd_inode *in, char *name, size_t len);
/* Path of in relative to the root ("." for the root) into buf. Returns 0 or -ENAMETOOLONG. */
int zcd_inode_path(struct zcd_ctx *ctx, struct zcd_inode *in, char *buf, size_t len);
/* Open-handle references: an inode with open handles stays in the table. */
void zcd_inode_opened(struct zcd_ctx *ctx, struct zcd_inode *in);
void zcd_inode_closed(struct zcd_ctx *ctx, struct zcd_inode *in);

#endif
