/* plan.c - see zc/plan.h. Files are matched by (dev, ino) through an open-addressing table.
 * The window counts the bytes of files read ahead (or being read) that the job has not opened. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "zc/plan.h"

enum fstate { F_PLANNED, F_INFLIGHT, F_FETCHED, F_SKIPPED };

struct pfile {
	dev_t dev;
	ino_t ino;
	uint64_t bytes;     /* estimate, then what the fetch read */
	uint8_t state;      /* enum fstate */
	bool opened;        /* by the job */
	bool brought_in;    /* the fetch put the pages in the cache */
	bool in_window;     /* its bytes count in ahead */
	bool resolved;
	uint64_t open_seq;  /* the job's how-many-th open of a planned file this was (0: none) */
	bool reidentified;  /* zc_plan_reidentify() was used: once at most */
};

struct zc_plan {
	struct zc_plan_cfg cfg;
	size_t n;
	struct pfile *f;
	int64_t *slots;     /* index + 1 of the file hashed there, 0 empty */
	size_t nslots;      /* a power of two >= 4n */
	size_t position;    /* highest index opened + 1 */
	size_t frontier;    /* next index to consider fetching */
	size_t leftover;    /* cursor of zc_plan_next_leftover */
	size_t opened, skipped_n;
	uint64_t recent;    /* the last 64 opens, one bit each: out of step */
	unsigned nrecent;
	uint64_t limit;     /* the part of the window in use now (slow start, zc_plan_cfg) */
	uint64_t seq;       /* opens of planned files so far */
	size_t spread, spread_max; /* files behind the position still in step; its bound */
	uint64_t run_recent; /* RUN_RECENT, or fewer: by chance, n / 32 of a random order's opens */
	bool astray;        /* the job reads in another order: nothing is fetched */
	unsigned astray_opens; /* opens since it strayed */
	enum zc_plan_end state;
	struct zc_plan_stats st;
};

static size_t hash(dev_t dev, ino_t ino, size_t nslots)
{
	uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)dev * 0xC2B2AE3D27D4EB4Full;
	return (size_t)(h ^ h >> 29) & (nslots - 1);
}

#define RUN_RECENT 64   /* file i - 1 opened within this many opens (fewer in small plans): i
			 * continues a run */
#define RECOVER 16      /* opens looked back on to take an astray plan up again */
#define SPREAD_CAP 65536

/* Where a plan starts, and what an out-of-step job falls back to: an eighth of the window. A
 * job that ignores its plan then wastes little of it, and one that follows earns the window in
 * a few dozen opens. */
static uint64_t start_limit(const struct zc_plan *p)
{
	return p->cfg.window_bytes / 8;
}

struct zc_plan *zc_plan_new(const struct zc_plan_cfg *cfg, size_t nfiles)
{
	struct zc_plan *p;

	if (nfiles == 0 || nfiles > ((size_t)1 << 40))
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->cfg = *cfg;
	if (!p->cfg.depth)
		p->cfg.depth = 1;
	if (!p->cfg.off_plan || p->cfg.off_plan > 64)
		p->cfg.off_plan = 64;
	p->n = nfiles;
	p->limit = start_limit(p);
	/* Two or three reader threads a little out of order need no learning; a DataLoader's
	 * workers (each reading its own batch in order) are learned from their runs. */
	p->spread = cfg->spread ? cfg->spread : 2 * (size_t)p->cfg.depth + 16;
	p->spread_max = nfiles / 8 < SPREAD_CAP ? nfiles / 8 : SPREAD_CAP;
	if (p->spread_max < p->spread)
		p->spread_max = p->spread;
	p->run_recent = nfiles / 32 < RUN_RECENT ? (nfiles / 32 > 8 ? nfiles / 32 : 8) : RUN_RECENT;
	p->nslots = 16;
	while (p->nslots < 4 * nfiles) /* room for one re-identification of each (below) */
		p->nslots <<= 1;
	p->f = calloc(nfiles, sizeof(*p->f));
	p->slots = calloc(p->nslots, sizeof(*p->slots));
	if (!p->f || !p->slots) {
		zc_plan_free(p);
		return NULL;
	}
	p->st.files = nfiles;
	return p;
}

void zc_plan_free(struct zc_plan *p)
{
	if (!p)
		return;
	free(p->f);
	free(p->slots);
	free(p);
}

void zc_plan_set_file(struct zc_plan *p, size_t i, dev_t dev, ino_t ino, uint64_t bytes)
{
	size_t s;

	if (i >= p->n || p->f[i].resolved)
		return;
	p->f[i].dev = dev;
	p->f[i].ino = ino;
	p->f[i].bytes = bytes;
	p->f[i].resolved = true;
	/* A file planned twice is matched at its first place. */
	if (zc_plan_find(p, dev, ino) >= 0)
		return;
	for (s = hash(dev, ino, p->nslots); p->slots[s]; s = (s + 1) & (p->nslots - 1))
		;
	p->slots[s] = (int64_t)i + 1;
}

void zc_plan_identity(const struct zc_plan *p, size_t i, dev_t *dev, ino_t *ino)
{
	*dev = i < p->n && p->f[i].resolved ? p->f[i].dev : 0;
	*ino = i < p->n && p->f[i].resolved ? p->f[i].ino : 0;
}

ssize_t zc_plan_find(const struct zc_plan *p, dev_t dev, ino_t ino)
{
	for (size_t s = hash(dev, ino, p->nslots); p->slots[s]; s = (s + 1) & (p->nslots - 1)) {
		const struct pfile *f = &p->f[p->slots[s] - 1];
		if (f->dev == dev && f->ino == ino)
			return (ssize_t)(p->slots[s] - 1);
	}
	return -1;
}

int zc_plan_reidentify(struct zc_plan *p, size_t i, dev_t dev, ino_t ino)
{
	size_t s;

	if (i >= p->n || !p->f[i].resolved || p->f[i].reidentified)
		return -EINVAL;
	if (p->f[i].dev == dev && p->f[i].ino == ino)
		return 0;
	/* The old slot stays, pointing at i: lookups of the old identity no longer match it. */
	p->f[i].dev = dev;
	p->f[i].ino = ino;
	p->f[i].reidentified = true;
	if (zc_plan_find(p, dev, ino) >= 0)
		return 0;
	for (s = hash(dev, ino, p->nslots); p->slots[s]; s = (s + 1) & (p->nslots - 1))
		;
	p->slots[s] = (int64_t)i + 1;
	return 0;
}

static void leave_window(struct zc_plan *p, struct pfile *f)
{
	if (!f->in_window)
		return;
	p->st.ahead_bytes -= f->bytes < p->st.ahead_bytes ? f->bytes : p->st.ahead_bytes;
	f->in_window = false;
}

static unsigned out_of_step(const struct zc_plan *p, unsigned last)
{
	return (unsigned)__builtin_popcountll(p->recent & (last >= 64 ? ~0ull : (1ull << last) - 1));
}

/* Is the open of file i in step with the job as the plan knows it (zc_plan_opened)? */
static bool in_step(struct zc_plan *p, size_t i)
{
	size_t reach = p->cfg.depth + 16;
	bool near, run;

	/* Reading ahead of the position, a reader may run into what was fetched; astray, nothing
	 * is fetched and the position is the last open: only the spread counts. */
	if (!p->astray && p->frontier > p->position)
		reach += p->frontier - p->position;
	if (reach < p->spread)
		reach = p->spread;
	near = i + p->spread >= p->position && i <= p->position + reach;
	run = i > 0 && p->f[i - 1].open_seq && p->seq - p->f[i - 1].open_seq <= p->run_recent;
	/* A run far behind the position: readers are that far apart. Learn it, doubling at most
	 * (a job in another order continues a run only by chance, and rarely far behind). */
	if (run && !near && i < p->position && p->spread < p->spread_max) {
		size_t lag = p->position - i, grown = 2 * p->spread;
		p->spread = lag < grown ? lag : grown;
		if (p->spread > p->spread_max)
			p->spread = p->spread_max;
	}
	return near || run;
}

void zc_plan_opened(struct zc_plan *p, size_t i, enum zc_plan_hit hit)
{
	struct pfile *f;
	bool step;

	if (i >= p->n || p->state != ZC_PLAN_ACTIVE || p->f[i].opened)
		return;
	f = &p->f[i];
	f->opened = true;
	p->opened++;
	p->seq++;
	if (hit == ZC_PLAN_HIT)
		p->st.hits++;
	else if (hit == ZC_PLAN_PARTIAL)
		p->st.partial++;
	else
		p->st.misses++;
	if (f->state != F_INFLIGHT) /* in flight: zc_plan_fetched() settles the window */
		leave_window(p, f);
	step = in_step(p, i);
	f->open_seq = p->seq;
	p->recent = p->recent << 1 | !step;
	if (step)
		p->limit = p->limit + 2 * f->bytes < p->cfg.window_bytes ? p->limit + 2 * f->bytes
									   : p->cfg.window_bytes;
	else
		p->limit = p->limit / 2 > start_limit(p) ? p->limit / 2 : start_limit(p);
	if (p->nrecent < p->cfg.off_plan)
		p->nrecent++;
	if (!p->astray) {
		/* A jump ahead (a job resumed in the middle): never fetch what it skipped. */
		if (!step && i >= p->position && p->frontier < i + 1)
			p->frontier = i + 1;
		if (i + 1 > p->position)
			p->position = i + 1;
		if (p->nrecent >= p->cfg.off_plan && out_of_step(p, p->cfg.off_plan) * 4 >= 3 * p->cfg.off_plan) {
			p->astray = true; /* reads in another order: stop reading ahead, keep watching */
			p->astray_opens = 0;
			p->st.strays++;
			p->limit = start_limit(p);
		}
	} else {
		p->position = i + 1; /* follow the job's latest open, wherever it went */
		p->astray_opens++;
		if (p->astray_opens >= RECOVER && out_of_step(p, RECOVER) * 4 <= RECOVER) {
			p->astray = false; /* back in step: read ahead from here */
			p->recent = 0;
			p->nrecent = 0;
			if (p->frontier < p->position)
				p->frontier = p->position;
		} else if (p->astray_opens >= 4 * p->cfg.off_plan) {
			zc_plan_end(p, ZC_PLAN_OFF_PLAN);
		}
	}
	if (p->opened + p->skipped_n >= p->n && p->state == ZC_PLAN_ACTIVE)
		zc_plan_end(p, p->astray ? ZC_PLAN_OFF_PLAN : ZC_PLAN_COMPLETE);
}

ssize_t zc_plan_next(struct zc_plan *p)
{
	struct pfile *f;

	if (p->state != ZC_PLAN_ACTIVE || p->astray || p->st.inflight >= p->cfg.depth)
		return -1;
	/* Never further behind the job than its readers are apart. */
	if (p->frontier + p->spread < p->position)
		p->frontier = p->position - p->spread;
	while (p->frontier < p->n &&
	       (p->f[p->frontier].state != F_PLANNED || p->f[p->frontier].opened))
		p->frontier++;
	if (p->frontier >= p->n)
		return -1;
	f = &p->f[p->frontier];
	/* Always allow one file, however large; otherwise stay inside the window. */
	if ((p->st.ahead_bytes || p->st.inflight) && p->st.ahead_bytes + f->bytes > p->limit)
		return -1;
	f->state = F_INFLIGHT;
	f->in_window = true;
	p->st.ahead_bytes += f->bytes;
	p->st.inflight++;
	return (ssize_t)p->frontier++;
}

void zc_plan_fetched(struct zc_plan *p, size_t i, uint64_t bytes, bool brought_in, int err)
{
	struct pfile *f;

	if (i >= p->n || p->f[i].state != F_INFLIGHT)
		return;
	f = &p->f[i];
	p->st.inflight--;
	leave_window(p, f);
	if (err < 0) {
		f->state = F_SKIPPED;
		p->st.skipped++;
		p->skipped_n++;
	} else {
		f->state = F_FETCHED;
		f->bytes = bytes;
		f->brought_in = brought_in;
		p->st.prefetched++;
		p->st.bytes += bytes;
		if (!f->opened && p->state == ZC_PLAN_ACTIVE) {
			f->in_window = true;
			p->st.ahead_bytes += bytes;
		}
	}
	if (p->state == ZC_PLAN_ACTIVE && p->opened + p->skipped_n >= p->n)
		zc_plan_end(p, p->astray ? ZC_PLAN_OFF_PLAN : ZC_PLAN_COMPLETE);
}

void zc_plan_end(struct zc_plan *p, enum zc_plan_end why)
{
	if (p->state == ZC_PLAN_ACTIVE && why != ZC_PLAN_ACTIVE)
		p->state = why;
}

enum zc_plan_end zc_plan_state(const struct zc_plan *p)
{
	return p->state;
}

ssize_t zc_plan_next_leftover(struct zc_plan *p)
{
	if (p->state == ZC_PLAN_ACTIVE)
		return -1;
	while (p->leftover < p->n) {
		struct pfile *f = &p->f[p->leftover++];
		if (f->state == F_FETCHED && !f->opened && f->brought_in) {
			leave_window(p, f);
			p->st.wasted_bytes += f->bytes;
			return (ssize_t)(p->leftover - 1);
		}
		leave_window(p, f);
	}
	return -1;
}

void zc_plan_get_stats(const struct zc_plan *p, struct zc_plan_stats *st)
{
	*st = p->st;
	st->position = p->position;
	st->frontier = p->frontier;
	st->limit_bytes = p->limit;
	st->spread = p->spread;
	st->astray = p->astray;
}

const char *zc_plan_end_name(enum zc_plan_end e)
{
	static const char *const names[] = { "active", "complete", "cancelled", "off-plan", "idle" };
	return (unsigned)e < sizeof(names) / sizeof(names[0]) ? names[e] : "?";
}
