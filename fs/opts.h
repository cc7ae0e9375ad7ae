/* opts.h - the daemon's command line: one table of -o options (parsed strictly: a value that
 * does not fit its type is refused, never wrapped), their help text, and the checks that run
 * before any FUSE session exists. Not thread-safe; used once at start-up. */
#ifndef ZCD_OPTS_H
#define ZCD_OPTS_H

#include <fuse_lowlevel.h>
#include <stddef.h>

#include "zc/mode.h"
#include "zc/route.h"

enum { ZCD_RDPLUS_AUTO, ZCD_RDPLUS_OFF, ZCD_RDPLUS_ALWAYS };

struct zcd_opts {
	char *backing;    /* realpath of BACKING after zcd_opts_check() */
	char *mountpoint; /* as given */
	char *mode_str, *cache_str, *rules_path, *ctl_name;
	char *watch_str;  /* -o watch=auto|fanotify|inotify|none (NULL: auto) */
	char *ctl_dir;    /* -o ctl_dir: where the control mount goes (-o noopen) */
	char *state_dir;  /* -o state_dir: where user.zcfs.* are kept when the backing has no xattrs */
	enum zc_mode mode;
	enum zc_cache cache;
	struct zc_rules *rules; /* loaded by zcd_opts_check(); owned */
	double entry_timeout, attr_timeout; /* seconds, finite, >= 0 */
	int entry_timeout_set, attr_timeout_set; /* given: they apply where changes are watched too */
	double watch_timeout;     /* seconds the kernel keeps what a watch covers (3600) */
	unsigned fd_cache;        /* max idle O_PATH descriptors (0: RLIMIT_NOFILE/2) */
	unsigned max_open_per_uid; /* open handles per uid other than the owner and root (0: derived) */
	unsigned readahead_kb;    /* mount bdi read_ahead_kb (0: leave the kernel's) */
	size_t mmap_window;       /* bytes */
	int noctl, ctl_private, writeback, splice_read, acl;
	int rdplus;               /* listings with attributes: ZCD_RDPLUS_AUTO, _OFF or _ALWAYS */
	int io_uring;             /* -o io_uring (libfuse parses it too) */
	size_t prefetch_window;   /* bytes a plan reads ahead at most (default: 128 MiB or less) */
	unsigned prefetch_depth;  /* prefetch worker threads, and a plan's default queue depth (0: 8, 32 remote) */
	unsigned prefetch_files;  /* descriptors read ahead kept open on a remote backing (park.h) */
	int scan_prefetch;        /* plan directories opened in name order */
	int noopen;               /* -o noopen: files open without OPEN (file.h, implicit handles) */
	unsigned io_uring_q_depth; /* 0: libfuse's default */
	int show_help, show_version, foreground, debug, singlethread;
	int nonopts;              /* positional arguments seen while parsing */
	int default_permissions, allow_other; /* seen in -o (passed on to libfuse too) */
	char *name_label, *node_label; /* -o name=, -o node=: the labels mount= and node= on every
					* statistic (after zcd_opts_check: the mount point, the host
					* name, if not given) */
	char *stats_labels;       /* mount="...",node="..." as zc_prom_label_add made it */
};

/* Parse argv into opts and the args libfuse gets. Returns 0, 1 when --help/--version was
 * handled (exit 0), or -EINVAL after printing one line naming the problem. */
int zcd_opts_parse(struct fuse_args *args, struct zcd_opts *opts);
/* Validate everything before any session exists: BACKING and MOUNTPOINT are directories, neither
 * inside the other, MOUNTPOINT not busy; mode, cache and ctl names; allow_other only with
 * default_permissions. Loads the rules file. Prints one line per problem. Returns 0 or -errno. */
int zcd_opts_check(struct zcd_opts *opts);
void zcd_opts_free(struct zcd_opts *opts);
void zcd_opts_usage(const char *progname);
/* The effective configuration as text (for .zcfs/config); malloc'ed, caller frees. */
char *zcd_opts_describe(const struct zcd_opts *opts);

#endif
