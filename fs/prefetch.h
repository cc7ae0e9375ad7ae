/* prefetch.h - reading ahead across files. A plan (the files a job will open, in order, sent
 * through the ctl file) or, with -o scan_prefetch, a directory being opened in name order, is
 * followed by a pool of worker threads: when the job opens planned file k, the workers keep the
 * next files read into the backing file's page cache (and, with store=1, into the mount's own
 * cache by notify_store) within the plan's memory window and queue depth, as the plan's owner,
 * and drop what they brought in and the job never opened when the plan ends. lib/plan.c keeps
 * each plan's books. Thread-safe (one lock for all plans; no I/O under it). */
#ifndef ZCD_PREFETCH_H
#define ZCD_PREFETCH_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct zcd_ctx;
struct zcd_inode;

struct zcd_plan_req {
	uint64_t window_bytes; /* 0: the mount's -o prefetch_window */
	unsigned depth;        /* 0: the mount's -o prefetch_depth */
	unsigned spread;       /* files the job's readers are apart (0: learned from its opens) */
	bool store;            /* also into the mount's page cache (keep/auto files the kernel knows) */
};

/* Start the workers (after the session exists) / stop them and free every plan. */
int zcd_prefetch_start(struct zcd_ctx *ctx);
void zcd_prefetch_stop(struct zcd_ctx *ctx);

/* A plan of n paths (relative to the root, normalised; ownership of the array and strings taken)
 * for the caller of req. Resolves each path as the caller now: one that does not resolve (gone,
 * not reachable for the caller, a symlink out of the tree) or is not a regular file refuses the
 * plan, with why = "line N: 'PATH': reason". Returns the plan id (> 0) or -errno: -EAGAIN when
 * too many plans are active, -ENOMEM, or the refused path's error. */
int zcd_prefetch_plan(fuse_req_t req, char **paths, size_t n, const struct zcd_plan_req *r,
		      char *why, size_t whylen);
/* Cancel plan id (its owner or root). 0, -ENOENT, -EPERM. */
int zcd_prefetch_cancel(fuse_req_t req, unsigned id);
/* key=value lines for plan id (0: every plan kept, active first). Returns 0 or -ENOENT. */
int zcd_prefetch_status(struct zcd_ctx *ctx, unsigned id, FILE *out);
/* Prometheus lines: totals and one set per active plan. */
void zcd_prefetch_render_prom(struct zcd_ctx *ctx, FILE *out);

/* Every open of a backing file (fd: the handle's descriptor): plans follow their job, and
 * directory scans are detected. Cheap when no plan is active and scans are off. */
void zcd_prefetch_on_open(fuse_req_t req, struct zcd_inode *in, int fd);

#endif
