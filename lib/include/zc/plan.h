/* plan.h - a job's reading plan: the files it will open, in order, and what to prefetch for it.
 * Pure bookkeeping, no I/O and no threads: the daemon tells it the job's opens and how each
 * prefetch went, and asks it what to fetch next within the plan's memory window and queue depth.
 * Not thread-safe: the caller serialises calls on one plan (one lock per plan). */
#ifndef ZC_PLAN_H
#define ZC_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum zc_plan_end {
	ZC_PLAN_ACTIVE,
	ZC_PLAN_COMPLETE,  /* the last planned file was opened */
	ZC_PLAN_CANCELLED, /* by a command */
	ZC_PLAN_OFF_PLAN,  /* the job's opens stopped following the plan */
	ZC_PLAN_IDLE,      /* no planned open for the idle time */
};

/* How much of a file was in the page cache when the job opened it. */
enum zc_plan_hit { ZC_PLAN_HIT, ZC_PLAN_PARTIAL, ZC_PLAN_MISS };

struct zc_plan_cfg {
	uint64_t window_bytes; /* prefetched and not yet opened by the job, at most (>= 1 file);
				* a plan starts at an eighth of it and earns the rest: each open in
				* step adds twice the file's bytes, each out of step halves it */
	unsigned depth;        /* prefetches in flight at most (>= 1) */
	unsigned off_plan;     /* opens looked back on: 3/4 of them out of step and the plan strays
				* (0: 64) */
	unsigned spread;       /* files the job's parallel readers may be apart (a DataLoader: about
				* workers x batch x prefetch_factor); 0: learn it from the opens */
};

struct zc_plan_stats {
	uint64_t files;          /* planned */
	uint64_t prefetched;     /* files read ahead of the job */
	uint64_t bytes;          /* bytes read ahead */
	uint64_t skipped;        /* planned files that could not be read (gone, replaced, denied) */
	uint64_t hits, partial, misses; /* the job's opens of planned files, by residency */
	uint64_t wasted_bytes;   /* read ahead, never opened, dropped at the end */
	uint64_t position;       /* planned files the job has opened up to (highest index + 1) */
	uint64_t frontier;       /* planned files fetched or decided up to (index + 1) */
	uint64_t ahead_bytes;    /* read ahead and not yet opened (the window's use) */
	uint64_t limit_bytes;    /* how much of the window the plan may use now (below) */
	uint64_t spread;         /* files the job's readers are allowed apart now (learned or set) */
	uint64_t strays;         /* times the job strayed from the plan (reading ahead paused) */
	bool astray;             /* the job reads in another order now: nothing is read ahead */
	unsigned inflight;
};

struct zc_plan;

/* A plan of nfiles files, all unresolved. NULL on ENOMEM or nfiles == 0. */
struct zc_plan *zc_plan_new(const struct zc_plan_cfg *cfg, size_t nfiles);
void zc_plan_free(struct zc_plan *p);

/* File i is (dev, ino) of bytes bytes (from a stat when the plan is made). Identity matches the
 * job's opens to the plan; bytes is the window estimate until the fetch measures it. */
void zc_plan_set_file(struct zc_plan *p, size_t i, dev_t dev, ino_t ino, uint64_t bytes);
/* File i is (dev, ino) now: the backing renumbered it (s3fs, sshfs, whose inode numbers are
 * volatile) and the job's opens will carry the new identity. Once per file (the hash keeps
 * room for one). Returns 0, or -EINVAL (i out of range, not resolved, re-identified before). */
int zc_plan_reidentify(struct zc_plan *p, size_t i, dev_t dev, ino_t ino);
/* The identity file i was resolved to (both 0 if it was not). */
void zc_plan_identity(const struct zc_plan *p, size_t i, dev_t *dev, ino_t *ino);
/* Index of (dev, ino) in the plan, or -1. */
ssize_t zc_plan_find(const struct zc_plan *p, dev_t dev, ino_t ino);

/* The job opened planned file i, which was hit/partial/miss in the page cache. Moves the
 * position, frees the file's share of the window, and may end the plan (all opened).
 *
 * An open is in step when it is near the position (behind it by at most the spread, ahead by
 * what was read ahead) or continues a run (file i - 1 was opened within the last 64 opens:
 * each of a DataLoader's workers reads its batch in order, however far apart the workers are).
 * Opens in step but behind the spread grow it (doubling at most, up to an eighth of the plan or
 * the spread set). When three quarters of the last off_plan opens are out of step the plan
 * *strays*: it reads nothing ahead and follows the job's latest open, and takes up again when
 * three quarters of the next 16 opens are in step. A plan still astray after 4 x off_plan more
 * opens, or when its last file is opened, ends as off-plan. */
void zc_plan_opened(struct zc_plan *p, size_t i, enum zc_plan_hit hit);

/* The next file to prefetch (marked in flight), or -1: window full, depth reached, or none
 * left before the end. The caller reports the outcome with zc_plan_fetched(). */
ssize_t zc_plan_next(struct zc_plan *p);
/* Prefetch of file i done: bytes read (>= 0), brought_in (the pages were not resident
 * before: zcfs put them there, so zcfs drops them if unused), or err < 0 (skipped). */
void zc_plan_fetched(struct zc_plan *p, size_t i, uint64_t bytes, bool brought_in, int err);

/* End the plan (cancel, idle); a no-op once ended. */
void zc_plan_end(struct zc_plan *p, enum zc_plan_end why);
enum zc_plan_end zc_plan_state(const struct zc_plan *p);
/* After the end: the next file read ahead, brought in by zcfs and never opened, which the
 * caller drops now (counted as wasted), or -1 when there are no more. */
ssize_t zc_plan_next_leftover(struct zc_plan *p);

void zc_plan_get_stats(const struct zc_plan *p, struct zc_plan_stats *st);
const char *zc_plan_end_name(enum zc_plan_end e);

#endif
