/* ctx.h - the daemon's state, reached from every request through fuse_req_userdata(): options,
 * the inode table, the descriptor budget, statistics, who mounted, and what FUSE negotiated.
 * There are no mutable globals; lock facts are written at each declaration. */
#ifndef ZCD_CTX_H
#define ZCD_CTX_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "fd.h"
#include "handle.h"
#include "inode.h"
#include "opts.h"
#include "zc/engine.h"
#include "zc/stats.h"

struct zcd_backing;
struct zcd_ctl;
struct zcd_ctl_mount;
struct zcd_dirlist;
struct zcd_file;
struct zcd_notifier;
struct zcd_prefetch;
struct zcd_watch;

struct zcd_ctx {
	struct zcd_opts opts;       /* immutable after start-up */
	struct zcd_table tbl;
	struct zcd_fds fds;         /* descriptor budget and handle anchors (fd.h) */
	struct zcd_inode root;      /* BACKING itself; node id FUSE_ROOT_ID */
	struct zc_stats *stats;
	struct fuse_session *se;
	struct zcd_notifier *notifier; /* deferred cache invalidations (notify.h) */
	struct zcd_watch *watch;    /* backing change notification (watch.h); NULL before start */
	struct zcd_dirlist *dirlist; /* cursors of listings without handles (dirlist.h) */
	struct zcd_ctl *ctl;        /* NULL with -o noctl */
	struct zcd_ctl_mount *ctl_mount; /* the control files' own mount (-o noopen), or NULL */
	struct zcd_backing *backing; /* what the backing can do (backing.h); after start-up */
	struct zcd_prefetch *prefetch; /* reading plans (prefetch.h); NULL before start */
	struct zcd_lockwait *lockwait; /* lock requests that wait (lockwait.h); NULL before start */
	_Atomic uint64_t forgets_since_trim; /* inodes forgotten since the last malloc_trim */
	_Atomic uint64_t cache_seq; /* writes through the mount ended (cache.c); tbl.lock bumps */
	int root_fd;                /* O_RDONLY|O_DIRECTORY of BACKING, for openat2 below the root */
	bool is_root;               /* running as uid 0: switch fs credentials per request */
	bool selinux_off;           /* no SELinux on this machine (ops_xattr.c); immutable */
	uid_t owner_uid;            /* the mounting user */
	gid_t owner_gid;
	gid_t *root_groups;         /* supplementary groups at start, restored after a switch */
	int nroot_groups;
	size_t max_read;            /* bytes, negotiated max request */
	struct zc_file_opts fopts;  /* for every engine; immutable after start-up */
	bool splice_write;          /* negotiated FUSE_CAP_SPLICE_WRITE */
	/* Kernel passthrough (file.c): why it cannot be used on this mount (0: it can), decided
	 * at init; pt_lock guards every inode's pt_handles, other_handles and backing_id. */
	int pt_unavailable;         /* -errno; immutable after init */
	pthread_mutex_t pt_lock;
	bool killpriv_v2;           /* the daemon clears setuid bits (negotiated); after init */
	bool no_opendir;            /* directories open without OPENDIR (negotiated); after init */
	bool no_open;               /* -o noopen in effect: files open without OPEN; after init */
	_Atomic int imp_count;      /* implicit handles (file.h) */
	_Atomic uint64_t route_gen; /* routing xattrs changed (route.h): implicit handles re-route */
	struct zcd_file *imp_head, *imp_tail; /* those in slots, oldest first; tbl.lock */
	_Atomic bool uring_seen;    /* a request arrived over io_uring */
	bool locks_local;           /* locks left to the kernel (io_uring, lockwait.h); after init */
	struct zcd_fh open_list;    /* open handles (handle.h); open_lock */
	pthread_mutex_t open_lock;
	/* File handles holding a second descriptor (file.c), oldest first; extra_lock, which is
	 * taken before tbl->lock. */
	struct zcd_file *extra_head, *extra_tail;
	pthread_mutex_t extra_lock;
};

static inline struct zcd_ctx *zcd_ctx(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

#endif
