/* prefetch_int.h - what prefetch.c (plans, workers, status) shares with prefetch_scan.c
 * (directory scans that make plans): the plan and scan records and the lock that guards them
 * (pf->lock: the plan list, every plan's books and the scan table). */
#ifndef ZCD_PREFETCH_INT_H
#define ZCD_PREFETCH_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "prefetch.h"
#include "zc/plan.h"

#define MAX_ACTIVE 16          /* plans following jobs at once */
#define MAX_ACTIVE_USER 4      /* of them, one user's other than root's: none can take all */
#define KEEP_ENDED 16          /* ended plans kept for status */
#define MAX_WORKERS 64         /* -o prefetch_depth at most */
#define SCAN_SLOTS 64
#define SCAN_TRIGGER 4         /* files opened in name order before a directory scan is assumed */
#define MAX_GROUPS 64

struct plan {
	struct plan *next;
	unsigned id;
	struct zc_plan *zp;      /* the books; NULL once the plan ended and was cleaned (slim) */
	char **paths;            /* relative to the root; NULL once slim */
	size_t n;
	struct zc_plan_stats summary; /* once slim: the books' last figures */
	enum zc_plan_end end;    /* once slim: how it ended */
	uid_t uid;               /* the owner: fetches run with these credentials */
	gid_t gid;
	gid_t groups[MAX_GROUPS];
	int ngroups;
	bool store;
	bool implicit;           /* made by a directory scan */
	bool clean;              /* ended and its leftovers dropped */
	bool counted;            /* counted in nactive: cleared once the end is noticed */
	unsigned busy;           /* pieces of work of this plan held by workers */
	uint64_t created_ns, last_open_ns;
	uint64_t window_bytes;
	unsigned depth;
};

struct scan {
	struct zcd_inode *dir;   /* pinned while in the table */
	char *last;              /* the last name opened in dir */
	unsigned streak;         /* names opened in increasing order, in a row */
	unsigned plan_id;        /* the plan made for this scan, 0 if none */
	uint64_t used_ns;
};

struct totals {
	uint64_t prefetched, bytes, skipped, hits, partial, misses, wasted;
};

struct zcd_prefetch {
	pthread_mutex_t lock;
	pthread_cond_t cond;     /* work may be there: a plan, an open, a fetch done */
	struct plan *plans;      /* newest first; lock */
	unsigned next_id, nactive; /* lock */
	_Atomic unsigned nactive_fast; /* nactive, read without the lock by on_open */
	struct totals gone;      /* of plans freed; lock */
	struct scan scans[SCAN_SLOTS]; /* lock */
	bool stop;               /* lock */
	struct zcd_park *park;   /* remote backing: read-ahead descriptors kept open (park.h) */
	unsigned fetching;       /* fetches being done by workers; lock */
	pthread_t workers[MAX_WORKERS];
	unsigned nworkers;
	unsigned rr;             /* round-robin start; lock */
};

struct zc_plan;

uint64_t zcd_pf_now_ns(void);
/* A plan record for n paths (taken), owned by uid/gid/groups; NULL when out of memory. */
struct plan *zcd_pf_plan_new(struct zcd_ctx *ctx, char **paths, size_t n, const struct zcd_plan_req *r,
			     uid_t uid, gid_t gid, const gid_t *groups, int ngroups);
/* Put p on the list, active from now: its id, or -EAGAIN when too many plans (or too many of
 * its owner's) are active. Takes pf->lock. */
int zcd_pf_plan_add(struct zcd_prefetch *pf, struct plan *p);
/* Would zcd_pf_plan_add() take another plan of uid now? Takes pf->lock. */
bool zcd_pf_room_for(struct zcd_prefetch *pf, uid_t uid);
void zcd_pf_plan_free(struct plan *p);
/* p's state and books, also once slim. pf->lock. */
enum zc_plan_end zcd_pf_state(const struct plan *p);
void zcd_pf_stats(const struct plan *p, struct zc_plan_stats *st);

/* An open of regular file in by the caller of req, when -o scan_prefetch: note it in the scan
 * table and, on the SCAN_TRIGGER-th name in order in one directory, make the scan's plan. */
void zcd_scan_on_open(fuse_req_t req, struct zcd_inode *in);
/* At stop: unpin the scan table's directories. */
void zcd_scan_clear(struct zcd_ctx *ctx, struct zcd_prefetch *pf);

#endif
