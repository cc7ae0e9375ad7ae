/* lockwait.c - see lockwait.h: a list of waiting lock requests, retried without blocking by one
 * thread whenever a lock may have been released and at least every TICK_NS. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/file.h>
#include <time.h>

#include "ctx.h"
#include "lockwait.h"
#include "req.h"

#define TICK_NS (10 * 1000 * 1000L)
#define MAX_WAITS 4096
#define MAX_WAITS_PER_UID 256

struct waiter {
	struct waiter *next;
	fuse_req_t req;
	enum zc_op op;
	int fd, flock_op;
	struct flock lk;
	uid_t uid;
	int rc; /* the answer, once out of the queue */
};

struct zcd_lockwait {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct waiter *head;      /* lock; oldest first */
	bool stop, kicked;        /* lock */
	_Atomic unsigned waiting; /* length of head's list; changed under lock, read without */
};

static bool req_is_uring(fuse_req_t req)
{
#if ZC_HAVE_FUSE_IO_URING
	return fuse_req_is_uring(req);
#else
	(void)req;
	return false;
#endif
}

/* One try without blocking: 0, -EAGAIN if it would block, or another -errno. */
static int try_once(int fd, enum zc_op op, struct flock *lk, int flock_op)
{
	int rc;

	if (op == ZC_OP_setlk) {
		lk->l_pid = 0;
		rc = fcntl(fd, F_OFD_SETLK, lk) < 0 ? -errno : 0;
	} else {
		rc = flock(fd, flock_op | LOCK_NB) < 0 ? -errno : 0;
	}
	return rc == -EACCES || rc == -EWOULDBLOCK ? -EAGAIN : rc;
}

static bool releases(enum zc_op op, const struct flock *lk, int flock_op)
{
	return op == ZC_OP_setlk ? lk->l_type == F_UNLCK : (flock_op & LOCK_UN) != 0;
}

/* Reply to each of the done list's requests, with no lock held, and free them. */
static void answer(struct waiter *done)
{
	while (done) {
		struct waiter *it = done;
		done = it->next;
		zcd_reply_status(it->req, it->op, it->rc);
		free(it);
	}
}

/* Move the waits that can end now (taken, interrupted, failed) from the queue to done. */
static struct waiter *retry_locked(struct zcd_lockwait *w)
{
	struct waiter *done = NULL, **pp = &w->head;

	while (*pp) {
		struct waiter *it = *pp;
		it->rc = fuse_req_interrupted(it->req) ? -EINTR
						       : try_once(it->fd, it->op, &it->lk, it->flock_op);
		if (it->rc == -EAGAIN) {
			pp = &it->next;
			continue;
		}
		*pp = it->next;
		atomic_fetch_sub(&w->waiting, 1);
		it->next = done;
		done = it;
	}
	return done;
}

static void *run(void *arg)
{
	struct zcd_lockwait *w = arg;
	struct timespec until;
	struct waiter *done;

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		done = retry_locked(w);
		if (done) {
			pthread_mutex_unlock(&w->lock);
			answer(done);
			pthread_mutex_lock(&w->lock);
		}
		if (!w->head) {
			while (!w->head && !w->stop)
				pthread_cond_wait(&w->cond, &w->lock);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += TICK_NS;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!w->kicked && !w->stop &&
		       pthread_cond_timedwait(&w->cond, &w->lock, &until) != ETIMEDOUT)
			;
		w->kicked = false;
	}
	done = w->head; /* stopping: nobody will retry these */
	w->head = NULL;
	pthread_mutex_unlock(&w->lock);
	for (struct waiter *it = done; it; it = it->next)
		it->rc = -EINTR;
	answer(done);
	return NULL;
}

void zcd_lock_init(struct zcd_ctx *ctx, struct fuse_conn_info *conn)
{
#if ZC_HAVE_FUSE_IO_URING
	if (ctx->opts.io_uring && (conn->capable & FUSE_CAP_OVER_IO_URING)) {
		conn->want &= ~(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS);
		ctx->locks_local = true;
	}
#else
	(void)ctx;
	(void)conn;
#endif
}

int zcd_lockwait_start(struct zcd_ctx *ctx)
{
	struct zcd_lockwait *w = calloc(1, sizeof(*w));
	pthread_condattr_t ca;
	int rc;

	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	rc = pthread_create(&w->thread, NULL, run, w);
	if (rc) {
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return -rc;
	}
	ctx->lockwait = w;
	return 0;
}

void zcd_lockwait_stop(struct zcd_ctx *ctx)
{
	struct zcd_lockwait *w = ctx->lockwait;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	ctx->lockwait = NULL;
	free(w);
}

void zcd_lockwait_kick(struct zcd_ctx *ctx)
{
	struct zcd_lockwait *w = ctx->lockwait;

	if (!w || atomic_load(&w->waiting) == 0)
		return;
	pthread_mutex_lock(&w->lock);
	w->kicked = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* Queue req; -ENOLCK if there are too many waits (in all, or of this user). */
static int enqueue(struct zcd_lockwait *w, fuse_req_t req, enum zc_op op, int fd,
		   const struct flock *lk, int flock_op)
{
	struct waiter *it = calloc(1, sizeof(*it)), **pp;
	unsigned mine = 0;
	int rc = 0;

	if (!it)
		return -ENOMEM;
	*it = (struct waiter){ .req = req, .op = op, .fd = fd, .flock_op = flock_op,
			       .uid = fuse_req_ctx(req)->uid };
	if (lk)
		it->lk = *lk;
	pthread_mutex_lock(&w->lock);
	for (pp = &w->head; *pp; pp = &(*pp)->next)
		mine += (*pp)->uid == it->uid;
	if (w->stop || atomic_load(&w->waiting) >= MAX_WAITS ||
	    (it->uid != 0 && mine >= MAX_WAITS_PER_UID)) {
		rc = -ENOLCK;
	} else {
		*pp = it; /* the end: oldest first */
		/* An idle thread sleeps without a timeout: wake it into its ticks, or a lock held
		 * through the backing directory (no unlock here to kick it) is never retried. */
		if (atomic_fetch_add(&w->waiting, 1) == 0)
			pthread_cond_signal(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	if (rc < 0)
		free(it);
	return rc;
}

void zcd_lock_take(fuse_req_t req, enum zc_op op, int fd, const struct flock *lk, int flock_op,
		   int wait)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	struct flock copy = lk ? *lk : (struct flock){ 0 };
	int rc;

	/* No retry thread, or a request that came over io_uring (libfuse 3.18 answers those only
	 * from the ring's own thread): wait here, as before. */
	if (wait && (!ctx->lockwait || req_is_uring(req))) {
		copy.l_pid = 0; /* OFD locks refuse any other (EINVAL: every lockf(F_LOCK) failed) */
		if (op == ZC_OP_setlk)
			rc = fcntl(fd, F_OFD_SETLKW, &copy) < 0 ? -errno : 0;
		else
			rc = flock(fd, flock_op) < 0 ? -errno : 0;
		return zcd_reply_status(req, op, rc);
	}
	rc = try_once(fd, op, &copy, flock_op & ~LOCK_NB);

	if (rc == 0 && releases(op, &copy, flock_op))
		zcd_lockwait_kick(ctx);
	if (rc == -EAGAIN && wait && ctx->lockwait) {
		rc = enqueue(ctx->lockwait, req, op, fd, &copy, flock_op & ~LOCK_NB);
		if (rc == 0)
			return; /* answered by the retry thread */
	}
	zcd_reply_status(req, op, rc == -EAGAIN && op == ZC_OP_flock ? -EWOULDBLOCK : rc);
}
