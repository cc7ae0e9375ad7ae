/* zcfs.h - the daemon's shared state: options, the inode table, per-open handles and the op
 * families' entry points. Everything is reached through struct zcd_ctx (fuse_req_userdata);
 * there are no mutable globals. Lock facts are written at each declaration. */
#ifndef ZCD_ZCFS_H
#define ZCD_ZCFS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "zc/engine.h"
#include "zc/mode.h"
#include "zc/route.h"
#include "zc/stats.h"

_Static_assert(sizeof(fuse_ino_t) >= sizeof(void *), "inode pointers must fit in fuse_ino_t");

/* ---- options (opts.c) ---- */

struct zcd_opts {
	char *backing;    /* realpath of BACKING */
	char *mountpoint; /* as given */
	char *mode_str, *cache_str, *rules_path, *ctl_name;
	enum zc_mode mode;
	enum zc_cache cache;
	struct zc_rules *rules; /* loaded by zcd_opts_check(); owned */
	double entry_timeout, attr_timeout;
	unsigned fd_cache;       /* max cached O_PATH descriptors (0: derived from RLIMIT_NOFILE) */
	unsigned max_threads;
	unsigned readahead_kb;   /* mount bdi read_ahead_kb (0: leave the kernel's) */
	size_t mmap_window;      /* bytes */
	int noctl, ctl_private, writeback, noreaddirplus, splice_read, clone_fd, acl, show_help, show_version;
	int foreground, debug, singlethread;
	int nonopts;             /* positional arguments seen while parsing */
	int default_permissions, allow_other; /* seen in -o (they are passed on to libfuse too) */
};

/* Parse argv into opts and the args libfuse gets. Returns 0, 1 when --help/--version was
 * handled (exit 0), or -EINVAL after printing one line naming the problem. */
int zcd_opts_parse(struct fuse_args *args, struct zcd_opts *opts);
/* Validate everything before any session exists: BACKING exists and is a directory, MOUNTPOINT
 * exists, is a directory and is not BACKING or inside... (see opts.c). Loads the rules file.
 * Prints one line per problem. Returns 0 or -errno. */
int zcd_opts_check(struct zcd_opts *opts);
void zcd_opts_free(struct zcd_opts *opts);
void zcd_opts_usage(const char *progname);
/* The effective configuration as text (for .zcfs/config); malloc'ed, caller frees. */
char *zcd_opts_describe(const struct zcd_opts *opts);

/* ---- inode table (inode.c) ---- */

struct zcd_inode {
	struct zcd_inode *hnext; /* hash chain; protected by tbl->lock */
	dev_t dev;               /* key, immutable */
	ino_t ino;               /* key, immutable */
	mode_t type;             /* S_IFMT bits, immutable */
	uint64_t nlookup;        /* kernel references; protected by tbl->lock */
	uint32_t pins;           /* internal references (children, borrowers); tbl->lock */
	int fd;                  /* O_PATH descriptor or -1; protected by tbl->lock */
	uint32_t fd_users;       /* borrowers of fd; protected by tbl->lock */
	uint32_t opens;          /* open handles (pin the fd); protected by tbl->lock */
	bool fd_pinned;          /* no file handle: fd never leaves; immutable after insert */
	struct zcd_inode *lru_prev, *lru_next; /* on tbl->lru while fd is idle; tbl->lock */
	struct zcd_inode *parent; /* last known parent, pinned; protected by tbl->lock */
	char *name;               /* last known name in parent; protected by tbl->lock */
	int mount_idx;            /* index in tbl->mounts, immutable */
	struct file_handle *fh;   /* kernel file handle, NULL when fd_pinned; immutable */
	/* Directory xattr cache for routing; protected by tbl->lock. */
	char *xa_mode, *xa_cache;
	uint64_t xa_stamp_ms;     /* 0: not cached */
	/* Mount-side cache bookkeeping for cache=auto; protected by tbl->lock. */
	int64_t cached_size;
	struct timespec cached_mtime;
	bool cache_valid;
};

#define ZCD_MAX_MOUNTS 64

struct zcd_mount {
	int mount_id; /* from name_to_handle_at */
	int fd;       /* O_RDONLY directory on that mount, for open_by_handle_at */
};

struct zcd_table {
	pthread_mutex_t lock;
	struct zcd_inode **buckets; /* protected by lock */
	size_t nbuckets, count;     /* protected by lock */
	struct zcd_inode lru;       /* list head, idle descriptors; protected by lock */
	unsigned fds_open;          /* descriptors held by inodes; protected by lock */
	unsigned fds_max;           /* immutable after init */
	struct zcd_mount mounts[ZCD_MAX_MOUNTS]; /* append-only; protected by lock */
	int nmounts;                /* protected by lock */
	bool handles_ok;            /* open_by_handle_at works (CAP_DAC_READ_SEARCH); immutable */
};

/* ---- per-open state ---- */

/* An open handle (backing file, directory or control file), linked into the daemon's list from
 * open to RELEASE. The kernel sends RELEASE in the background and drops what is still queued at
 * unmount, so the handles left in the list are closed and freed at exit. */
struct zcd_open {
	struct zcd_open *prev, *next;
	void (*free_at_exit)(struct zcd_open *o);
};

struct zcd_fh {
	struct zcd_open open;   /* first: see zcd_fh_free */
	int fd;                 /* backing descriptor (reads and writes) */
	struct zc_file file;    /* read engine state */
	struct zcd_inode *inode;
	enum zc_cache cache;
	int ctl_kind;           /* 0 for backing files, else a ctl.c virtual file kind */
	char *vbuf;             /* virtual files: snapshot or reply; owned */
	size_t vlen;
	size_t vpos;            /* ctl: reply bytes already read (the file offset moved with the write) */
	pthread_mutex_t vlock;  /* ctl transactions on this handle */
};

/* ---- the daemon ---- */

struct zcd_ctl;

struct zcd_ctx {
	struct zcd_opts opts;
	struct zcd_table tbl;
	struct zcd_inode root;
	struct zc_stats *stats;
	struct fuse_session *se;
	_Atomic uint64_t forgets_since_trim; /* inodes forgotten since the last malloc_trim */
	int root_fd;             /* O_RDONLY|O_DIRECTORY of BACKING, for openat2 below the root */
	bool is_root;            /* running as uid 0: switch fs credentials per request */
	uid_t owner_uid;         /* the mounting user */
	gid_t owner_gid;
	gid_t *root_groups;      /* supplementary groups at start, restored after a switch */
	int nroot_groups;
	size_t max_read;         /* bytes, negotiated max request */
	struct zc_file_opts fopts;
	struct zcd_ctl *ctl;     /* NULL with -o noctl */
	bool splice_write;       /* negotiated FUSE_CAP_SPLICE_WRITE */
	struct zcd_open open_list; /* open handles, see struct zcd_open; under open_lock */
	pthread_mutex_t open_lock;
};

static inline struct zcd_ctx *zcd_ctx(fuse_req_t req) { return fuse_req_userdata(req); }

void zcd_open_track(struct zcd_ctx *ctx, struct zcd_open *o, void (*free_at_exit)(struct zcd_open *));
void zcd_open_untrack(struct zcd_ctx *ctx, struct zcd_open *o);
/* After the session loop: close and free every handle whose RELEASE never came. */
void zcd_open_free_all(struct zcd_ctx *ctx);
/* Free a file handle, backing (descriptor and engine) or control (buffers); untracked first.
 * Also the free_at_exit of file handles. */
void zcd_fh_free(struct zcd_open *o);

int zcd_table_init(struct zcd_ctx *ctx);
void zcd_table_destroy(struct zcd_ctx *ctx);
/* Map a fuse_ino_t to its inode. NULL (and a logged error) for 0 or a virtual inode. */
struct zcd_inode *zcd_inode_get(struct zcd_ctx *ctx, fuse_ino_t ino);
/* Borrow the inode's O_PATH descriptor, reopening it from the file handle if it was closed.
 * Returns fd >= 0 (return it with zcd_fd_put) or -errno (-ESTALE: the file is gone). */
int zcd_fd_get(struct zcd_ctx *ctx, struct zcd_inode *in);
void zcd_fd_put(struct zcd_ctx *ctx, struct zcd_inode *in);
/* Look name up in parent: fill e (attr, timeouts, ino with one kernel reference taken). */
int zcd_do_lookup(struct zcd_ctx *ctx, struct zcd_inode *parent, const char *name,
		  struct fuse_entry_param *e);
/* The same for an entry of a listing: ino_hint is its d_ino (0: unknown), which spares a stat of
 * names not yet in the table. */
int zcd_do_lookup_hint(struct zcd_ctx *ctx, struct zcd_inode *parent, const char *name,
		       ino_t ino_hint, struct fuse_entry_param *e);
/* Find a known inode and pin it (NULL if unknown); zcd_inode_unpin releases the pin. */
struct zcd_inode *zcd_inode_find(struct zcd_ctx *ctx, dev_t dev, ino_t ino);
void zcd_inode_unpin(struct zcd_ctx *ctx, struct zcd_inode *in);
/* Drop n kernel references; frees the inode when none remain. */
void zcd_forget_one(struct zcd_ctx *ctx, struct zcd_inode *in, uint64_t n);
/* Record that in is now known as name in parent (rename, link, lookup). */
void zcd_inode_set_name(struct zcd_ctx *ctx, struct zcd_inode *in, struct zcd_inode *parent,
			const char *name);
/* Path of in relative to the root ("." for the root) into buf. Returns 0 or -ENAMETOOLONG. */
int zcd_inode_path(struct zcd_ctx *ctx, struct zcd_inode *in, char *buf, size_t len);
/* Reopen in with open(2) flags via /proc/self/fd. Returns a new fd or -errno. */
int zcd_inode_open(struct zcd_ctx *ctx, struct zcd_inode *in, int flags);
/* Open-handle bookkeeping: pins the fd while any handle is open. */
void zcd_inode_opened(struct zcd_ctx *ctx, struct zcd_inode *in);
void zcd_inode_closed(struct zcd_ctx *ctx, struct zcd_inode *in);

/* Per-request filesystem credentials: root daemons act as the caller where the kernel has not
 * checked already (see docs/architecture.md). Both are cheap no-ops when nothing changes. */
struct zcd_creds { bool switched; };
int zcd_creds_enter(fuse_req_t req, struct zcd_creds *c, bool creating);
void zcd_creds_leave(fuse_req_t req, struct zcd_creds *c);

/* Reply helpers shared by every op family. */
void zcd_reply_err(fuse_req_t req, enum zc_op op, int neg_errno);
/* The st_ino the kernel sees: BACKING's own filesystem's numbers as they are, those of
 * filesystems mounted below it hashed with their device so they cannot collide. */
ino_t zcd_ino_out(const struct zcd_ctx *ctx, dev_t dev, ino_t ino);
int zcd_fill_entry(struct zcd_ctx *ctx, struct fuse_entry_param *e, const struct stat *st,
		   struct zcd_inode *in);

/* ---- op families ---- */

void zcd_init(void *userdata, struct fuse_conn_info *conn);
void zcd_destroy(void *userdata);
void zcd_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void zcd_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void zcd_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
void zcd_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void zcd_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
		 struct fuse_file_info *fi);
void zcd_access(fuse_req_t req, fuse_ino_t ino, int mask);
void zcd_readlink(fuse_req_t req, fuse_ino_t ino);
void zcd_statfs(fuse_req_t req, fuse_ino_t ino);
void zcd_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void zcd_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void zcd_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void zcd_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void zcd_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void zcd_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void zcd_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		const char *newname, unsigned int flags);
void zcd_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void zcd_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi);
void zcd_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi);
void zcd_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void zcd_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void zcd_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void zcd_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		struct fuse_file_info *fi);
void zcd_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void zcd_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
		   struct fuse_file_info *fi);
void zcd_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void zcd_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void zcd_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void zcd_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
		   struct fuse_file_info *fi);
void zcd_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			 struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			 struct fuse_file_info *fi_out, size_t len, int flags);
void zcd_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi);
void zcd_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock);
void zcd_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock,
	       int sleep);
void zcd_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op);
void zcd_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		  size_t size, int flags);
void zcd_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void zcd_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void zcd_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* Routing (route.c): resolve mode and cache for an inode at open; fd is an open descriptor of
 * it (for its own xattrs) or -1. Returns 0 (falls back to the defaults on errors). */
int zcd_route(struct zcd_ctx *ctx, struct zcd_inode *in, int fd, struct zc_route_out *out);
/* Forget cached directory xattrs of in (after setxattr/removexattr through the mount). */
void zcd_route_invalidate(struct zcd_ctx *ctx, struct zcd_inode *in);

/* ---- control plane (ctl.c) ---- */

/* Virtual inodes live above this bit pattern check; see ctl.c. */
int zcd_ctl_init(struct zcd_ctx *ctx);
void zcd_ctl_free(struct zcd_ctx *ctx);
bool zcd_ctl_is_virtual(struct zcd_ctx *ctx, fuse_ino_t ino);
/* Handle a lookup of name in the root; true if it was the control directory (reply sent). */
bool zcd_ctl_lookup_root(fuse_req_t req, const char *name);
/* Each handles a request on a virtual inode and sends the reply. */
void zcd_ctl_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void zcd_ctl_getattr(fuse_req_t req, fuse_ino_t ino);
void zcd_ctl_access(fuse_req_t req, fuse_ino_t ino, int mask);
/* Is gid the caller's group or one of its supplementary groups? */
bool zcd_caller_in_group(fuse_req_t req, gid_t gid);
void zcd_ctl_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, bool is_dir);
void zcd_ctl_read(fuse_req_t req, struct zcd_fh *fh, size_t size, off_t off);
void zcd_ctl_write(fuse_req_t req, struct zcd_fh *fh, const char *buf, size_t size);
void zcd_ctl_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus);
void zcd_ctl_release(fuse_req_t req, struct zcd_fh *fh);
/* Append the control directory's entry to a root listing; returns bytes added or 0 if full. */
size_t zcd_ctl_root_dirent(fuse_req_t req, char *buf, size_t size, off_t next_off, bool plus);
/* Virtual xattrs (user.zcfs.residency and friends); -ENODATA if name is not virtual. */
int zcd_ctl_vxattr(fuse_req_t req, struct zcd_inode *in, const char *name, char *buf,
		   size_t len);

#endif
