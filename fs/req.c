/* req.c - see req.h: per-request credentials, caller checks and replies. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ctx.h"
#include "req.h"

#define MAX_GROUPS 64

int zcd_creds_enter(fuse_req_t req, struct zcd_creds *c, bool creating)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	gid_t groups[MAX_GROUPS];
	int n;

	c->switched = false;
	if (!ctx->is_root || (fc->uid == 0 && fc->gid == 0))
		return 0;
	if (!creating && ctx->opts.default_permissions)
		return 0; /* the kernel checked permissions already */
	n = fuse_req_getgroups(req, MAX_GROUPS, groups);
	if (n > MAX_GROUPS)
		n = MAX_GROUPS;
	if (n < 0)
		n = 0;
	/* Raw system calls: they change this thread only (glibc's wrappers change every thread). */
	if (syscall(SYS_setgroups, n, groups) < 0)
		return -errno;
	syscall(SYS_setfsgid, fc->gid);
	syscall(SYS_setfsuid, fc->uid);
	c->switched = true;
	return 0;
}

void zcd_creds_leave(fuse_req_t req, struct zcd_creds *c)
{
	struct zcd_ctx *ctx;

	if (!req || !c->switched)
		return;
	ctx = zcd_ctx(req);
	syscall(SYS_setfsuid, 0);
	syscall(SYS_setfsgid, 0);
	syscall(SYS_setgroups, ctx->nroot_groups, ctx->root_groups);
	c->switched = false;
}

int zcd_creds_enter_ids(struct zcd_ctx *ctx, struct zcd_creds *c, uid_t uid, gid_t gid,
			const gid_t *groups, int ngroups)
{
	c->switched = false;
	if (!ctx->is_root || (uid == 0 && gid == 0))
		return 0;
	if (syscall(SYS_setgroups, ngroups, groups) < 0)
		return -errno;
	syscall(SYS_setfsgid, gid);
	syscall(SYS_setfsuid, uid);
	c->switched = true;
	return 0;
}

void zcd_creds_leave_ids(struct zcd_ctx *ctx, struct zcd_creds *c)
{
	if (!c->switched)
		return;
	syscall(SYS_setfsuid, 0);
	syscall(SYS_setfsgid, 0);
	syscall(SYS_setgroups, ctx->nroot_groups, ctx->root_groups);
	c->switched = false;
}

bool zcd_caller_in_group(fuse_req_t req, gid_t gid)
{
	gid_t groups[MAX_GROUPS];
	int n;

	if (fuse_req_ctx(req)->gid == gid)
		return true;
	n = fuse_req_getgroups(req, MAX_GROUPS, groups);
	for (int i = 0; i < n && i < MAX_GROUPS; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

bool zcd_caller_may(fuse_req_t req, int fd, const struct stat *st, int mask)
{
	struct zcd_ctx *ctx = zcd_ctx(req);
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	gid_t groups[MAX_GROUPS];
	struct zcd_creds c;
	char proc[64];
	bool may;
	int n, shift = 0;

	if (fc->uid == 0)
		return true;
	if (fc->uid == st->st_uid) /* the owner may always ask about its own file's cache */
		return mask == W_OK || (st->st_mode & ((unsigned)mask << 6)) != 0;
	if (!ctx->is_root) { /* cannot act as the caller: the mode bits */
		if (zcd_caller_in_group(req, st->st_gid))
			shift = 3;
		return (st->st_mode & ((unsigned)mask << shift)) != 0;
	}
	/* The kernel's own check as the caller: ACLs, groups and all. */
	n = fuse_req_getgroups(req, MAX_GROUPS, groups);
	if (n < 0)
		n = 0;
	if (n > MAX_GROUPS)
		n = MAX_GROUPS;
	if (zcd_creds_enter_ids(ctx, &c, fc->uid, fc->gid, groups, n) < 0)
		return false;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	may = faccessat(AT_FDCWD, proc, mask, AT_EACCESS) == 0;
	zcd_creds_leave_ids(ctx, &c);
	return may;
}

void zcd_reply_err(fuse_req_t req, enum zc_op op, int neg_errno)
{
	int e = neg_errno < 0 ? -neg_errno : neg_errno;

	/* out of descriptors by the process limit, not by the budget (which counts its own) */
	if ((e == EMFILE || e == ENFILE) && !zcd_fds_refused_here())
		zc_stats_event(zcd_ctx(req)->stats, ZC_EV_FD_REFUSED_LIMIT);
	zc_stats_op(zcd_ctx(req)->stats, op, e);
	fuse_reply_err(req, e);
}

void zcd_reply_status(fuse_req_t req, enum zc_op op, int rc)
{
	if (rc < 0)
		return zcd_reply_err(req, op, rc);
	zc_stats_op(zcd_ctx(req)->stats, op, 0);
	fuse_reply_err(req, 0);
}

void zcd_count_ok(fuse_req_t req, enum zc_op op)
{
	zc_stats_op(zcd_ctx(req)->stats, op, 0);
}

void zcd_note_transport(fuse_req_t req)
{
#if ZC_HAVE_FUSE_IO_URING
	struct zcd_ctx *ctx = zcd_ctx(req);

	if (fuse_req_is_uring(req) && !atomic_load_explicit(&ctx->uring_seen, memory_order_relaxed) &&
	    !atomic_exchange(&ctx->uring_seen, true))
		zc_stats_gauge_add(ctx->stats, ZC_G_IO_URING, 1);
#else
	(void)req;
#endif
}
