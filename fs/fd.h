/* fd.h - the daemon's descriptors. Each inode's O_PATH descriptor is opened on demand from its
 * file handle and kept, when idle, in an LRU; reopening with open(2) flags goes through it. A
 * budget keeps RLIMIT_NOFILE from running out for everyone: a reserve that open files never get
 * (lookups, listings, the control plane), a share per user for open files, and idle cached
 * descriptors closed before any open would fail. Thread-safe; state under tbl->lock. */
#ifndef ZCD_FD_H
#define ZCD_FD_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <sys/types.h>

#define ZCD_MAX_MOUNTS 64

struct zcd_ctx;
struct zcd_inode;

/* A directory on one backing filesystem, anchoring open_by_handle_at for its handles. */
struct zcd_mount {
	int mount_id; /* from name_to_handle_at */
	int fd;       /* O_RDONLY directory on that mount */
};

struct zcd_uid_count {
	uid_t uid;
	unsigned handles;
};

struct zcd_fds {
	unsigned limit;        /* RLIMIT_NOFILE after raising the soft limit; immutable */
	unsigned reserve;      /* descriptors open handles never get; immutable */
	unsigned cache_max;    /* idle O_PATH descriptors kept at most (-o fd_cache); immutable */
	unsigned per_uid_max;  /* open handles per uid other than the owner and root; immutable */
	bool handles_ok;       /* open_by_handle_at works (CAP_DAC_READ_SEARCH); immutable */
	/* The rest: tbl->lock. */
	unsigned handle_fds;   /* descriptors held by open handles */
	struct zcd_mount mounts[ZCD_MAX_MOUNTS]; /* append-only */
	int nmounts;
	struct zcd_uid_count *uids; /* open handles per uid, for per_uid_max */
	size_t nuids, uids_cap;
};

/* Raise the soft RLIMIT_NOFILE to the hard limit and size the budget from it. Returns 0. */
int zcd_fds_init(struct zcd_ctx *ctx);
void zcd_fds_destroy(struct zcd_ctx *ctx);
/* The anchor index for mount_id, adding dirfd's directory as the anchor when the mount is new
 * (dirfd: any descriptor of a directory on it, or -1 to only look up). -1 if none. */
int zcd_fds_mount_idx(struct zcd_ctx *ctx, int mount_id, int dirfd);

/* Borrow the inode's O_PATH descriptor, reopening it from the file handle if it was closed.
 * Returns fd >= 0 (give it back with zcd_fd_put) or -errno; -ESTALE (counted) when the object
 * is gone: the kernel then revalidates the path and looks the name up afresh. */
int zcd_fd_get(struct zcd_ctx *ctx, struct zcd_inode *in);
void zcd_fd_put(struct zcd_ctx *ctx, struct zcd_inode *in);
/* Install fd (an O_PATH descriptor of in's object; ownership taken) as in's descriptor unless
 * it has one. Under tbl->lock; returns a descriptor to close after unlocking, or -1. */
int zcd_fd_adopt_locked(struct zcd_ctx *ctx, struct zcd_inode *in, int fd);
/* Close idle descriptors over the cache's current share. Call after adding descriptors. */
void zcd_fd_trim(struct zcd_ctx *ctx);

/* Open in with open(2) flags through its O_PATH descriptor. With req, the open itself runs as
 * the caller (the descriptor is taken first, as the daemon: reopening from a file handle needs
 * CAP_DAC_READ_SEARCH). EMFILE is retried once after closing idle descriptors. Returns a new
 * descriptor or -errno. */
int zcd_inode_open(struct zcd_ctx *ctx, struct zcd_inode *in, int flags, fuse_req_t as_caller);

/* What a descriptor is charged for: an open file's (one handle of its uid), an open directory's
 * (one handle too; directories may also use half of the reserve, so listings go on while open
 * files hold the rest), or an open file's second descriptor (no handle). */
enum zcd_charge { ZCD_CHARGE_FILE, ZCD_CHARGE_DIR, ZCD_CHARGE_EXTRA };
/* Account one descriptor of kind for uid. Makes room by closing idle cached descriptors.
 * Returns 0, -EMFILE when uid's share is used up, or -ENFILE when the daemon's budget is (the
 * caller counts the refusals it passes on). */
int zcd_fds_charge(struct zcd_ctx *ctx, uid_t uid, enum zcd_charge kind);
void zcd_fds_uncharge(struct zcd_ctx *ctx, uid_t uid, enum zcd_charge kind);
/* Was this thread's last charge refused? (Clears the answer.) A reply of EMFILE or ENFILE that
 * no charge refused came from a system call: the process limit (req.c counts it). */
bool zcd_fds_refused_here(void);
/* After EMFILE or ENFILE from a system call (err, negative): close idle cached descriptors,
 * and follow a limit lowered from outside. True when some were closed, so the call is worth
 * retrying. */
bool zcd_fds_relieve(struct zcd_ctx *ctx, int err);

#endif
