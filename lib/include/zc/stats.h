/* stats.h - lock-free counters for reads per mode (count, bytes, errors, latency histogram),
 * fallbacks, FUSE operations and gauges; consistent snapshots rendered as Prometheus text or JSON.
 * Counters are _Atomic with relaxed ordering: safe from any thread. Snapshots are owned by the caller. */
#ifndef ZC_STATS_H
#define ZC_STATS_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "zc/mode.h"

/* FUSE operations counted per op; names are the libfuse lowlevel op names. */
#define ZC_OPS_LIST(X)                                                                         \
	X(lookup) X(forget) X(getattr) X(setattr) X(readlink) X(mknod) X(mkdir) X(unlink)      \
	X(rmdir) X(symlink) X(rename) X(link) X(open) X(read) X(write) X(flush) X(release)     \
	X(fsync) X(opendir) X(readdir) X(releasedir) X(fsyncdir) X(statfs) X(setxattr)         \
	X(getxattr) X(listxattr) X(removexattr) X(create) X(getlk) X(setlk) X(flock)            \
	X(fallocate) X(copy_file_range) X(lseek) X(access) X(ioctl)

#define ZC_OP_ENUM(name) ZC_OP_##name,
enum zc_op { ZC_OPS_LIST(ZC_OP_ENUM) ZC_OP_COUNT };
#undef ZC_OP_ENUM

enum zc_gauge {
	ZC_G_OPEN_HANDLES,
	ZC_G_INODES,
	ZC_G_CACHED_FDS,
	ZC_G_HANDLE_FDS,
	ZC_G_PASSTHROUGH_HANDLES,
	ZC_G_IO_URING,
	ZC_G_WATCH,
	ZC_G_COUNT
};

/* Events counted once each: X(enum suffix, metric name, label or NULL, help). Entries of one
 * metric are adjacent; the first one's help text is used. */
#define ZC_EVENTS_LIST(X)                                                                      \
	X(INODE_REUSED, "zcfs_inode_reuse_total", NULL,                                       \
	  "Lookups that found another object under a known (st_dev, st_ino): a new entry was made.") \
	X(STALE_HANDLE, "zcfs_stale_handles_total", NULL,                                     \
	  "Backing objects gone when their descriptor was reopened (ESTALE to the kernel).")    \
	X(EXTERNAL_CHANGE, "zcfs_external_changes_total", NULL,                                \
	  "Mount-side caches dropped because the backing object changed outside the mount.")    \
	X(FD_REFUSED_UID, "zcfs_fd_refusals_total", "reason=\"uid\"",                          \
	  "Requests refused for want of descriptors: the caller's share (uid), the daemon's budget, " \
	  "or the process limit (limit: lowered from outside, as by prlimit).")                  \
	X(FD_REFUSED_BUDGET, "zcfs_fd_refusals_total", "reason=\"budget\"", NULL)              \
	X(FD_REFUSED_LIMIT, "zcfs_fd_refusals_total", "reason=\"limit\"", NULL)                \
	X(FD_PRESSURE_CLOSE, "zcfs_fd_pressure_closes_total", NULL,                           \
	  "Idle cached descriptors closed early to make room for open files.")                  \
	X(NLOOKUP_UNDERFLOW, "zcfs_nlookup_underflows_total", NULL,                            \
	  "Kernel forgets of more references than were given (clamped; a bug if not 0).")       \
	X(WATCH_CHANGE, "zcfs_watch_changes_total", NULL,                                      \
	  "Changes by other processes to backing objects the kernel knows, as reported by the watch.") \
	X(WATCH_OVERFLOW, "zcfs_watch_overflows_total", NULL,                                  \
	  "Change notifications lost (queue overflow): everything the kernel caches was invalidated.") \
	X(INVAL_DATA, "zcfs_invalidations_total", "kind=\"data\"",                             \
	  "Invalidations sent to the kernel: data (pages and attributes), attributes, names.")  \
	X(INVAL_ATTR, "zcfs_invalidations_total", "kind=\"attr\"", NULL)                       \
	X(INVAL_ENTRY, "zcfs_invalidations_total", "kind=\"entry\"", NULL)

#define ZC_EV_ENUM(name, metric, label, help) ZC_EV_##name,
enum zc_event { ZC_EVENTS_LIST(ZC_EV_ENUM) ZC_EV_COUNT };
#undef ZC_EV_ENUM

/* Latency histogram upper bounds in microseconds (last bucket is +Inf). */
#define ZC_LAT_BUCKETS 16

struct zc_stats; /* opaque */

struct zc_stats_mode_snap {
	uint64_t opens, reads, bytes, errors;
	uint64_t lat_bucket[ZC_LAT_BUCKETS]; /* cumulative counts as Prometheus wants them */
	uint64_t lat_sum_ns;
};

struct zc_stats_snap {
	struct zc_stats_mode_snap mode[ZC_MODE_COUNT];
	uint64_t fallback[ZC_MODE_COUNT][ZC_MODE_COUNT]; /* [from][to] */
	uint64_t op_count[ZC_OP_COUNT], op_errors[ZC_OP_COUNT];
	int64_t gauge[ZC_G_COUNT];
	uint64_t event[ZC_EV_COUNT];
	uint64_t bytes_written;
	double uptime_s;
	double cpu_user_s, cpu_sys_s; /* getrusage(RUSAGE_SELF) of the calling process */
	uint64_t vol_ctxsw, invol_ctxsw;
};

/* Returns NULL on ENOMEM. zc_stats_free accepts NULL. */
struct zc_stats *zc_stats_new(void);
void zc_stats_free(struct zc_stats *st);

/* Hot path: a few relaxed atomic adds, no lock, no allocation. st may be NULL (no-op). */
void zc_stats_read(struct zc_stats *st, enum zc_mode mode, size_t bytes, uint64_t lat_ns, int err);
void zc_stats_op(struct zc_stats *st, enum zc_op op, int err);
/* A file handle opened, served by mode. */
void zc_stats_open(struct zc_stats *st, enum zc_mode mode);
void zc_stats_fallback(struct zc_stats *st, enum zc_mode from, enum zc_mode to);
void zc_stats_written(struct zc_stats *st, size_t bytes);
void zc_stats_gauge_add(struct zc_stats *st, enum zc_gauge g, int64_t delta);
void zc_stats_event(struct zc_stats *st, enum zc_event ev);

/* Zero every counter (gauges and uptime stay). */
void zc_stats_reset(struct zc_stats *st);
/* Copy all counters into snap and read the process's rusage. Returns 0 or -errno. */
int zc_stats_snapshot(struct zc_stats *st, struct zc_stats_snap *snap);

/* Render snap into a malloc'ed NUL-terminated text (*out, length *len); the caller frees it.
 * Returns 0 or -ENOMEM. Metric names start with zcfs_. */
int zc_stats_render_prom(const struct zc_stats_snap *snap, char **out, size_t *len);
int zc_stats_render_json(const struct zc_stats_snap *snap, char **out, size_t *len);

const char *zc_op_name(enum zc_op op);
/* Write s to f as a JSON string literal ("..." with \\, \" and \u00XX escapes). */
void zc_json_string(FILE *f, const char *s);
/* Upper bound of bucket i in microseconds; UINT64_MAX for the last (+Inf). */
uint64_t zc_stats_bucket_le_us(unsigned i);

#endif
