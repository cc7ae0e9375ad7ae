/* req.h - per-request helpers every layer uses: acting with the caller's filesystem credentials
 * (root daemons create files as the caller and resolve control-plane paths as the caller), the
 * caller's group membership and mode-bit checks, and the error and status replies that count
 * each operation in the statistics. Thread-safe: credentials are per thread. */
#ifndef ZCD_REQ_H
#define ZCD_REQ_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "zc/stats.h"

/* Filesystem credentials of a root daemon switched to the caller's (fsuid, fsgid, groups);
 * a cheap no-op when nothing changes. creating: the call creates an entry (its owner must be
 * the caller) or resolves a path for the caller; otherwise the switch happens only where the
 * kernel has not checked permissions (no default_permissions). Leaving restores root's. The
 * switch drops CAP_DAC_READ_SEARCH: take inode descriptors (fd.h) before entering. */
struct zcd_creds {
	bool switched;
};
int zcd_creds_enter(fuse_req_t req, struct zcd_creds *c, bool creating);
void zcd_creds_leave(fuse_req_t req, struct zcd_creds *c);
/* The same for work done on behalf of a user outside a request (a plan's prefetches): always
 * switches unless uid and gid are 0. */
struct zcd_ctx;
int zcd_creds_enter_ids(struct zcd_ctx *ctx, struct zcd_creds *c, uid_t uid, gid_t gid,
			const gid_t *groups, int ngroups);
void zcd_creds_leave_ids(struct zcd_ctx *ctx, struct zcd_creds *c);

/* Is gid the caller's group or one of its supplementary groups? */
bool zcd_caller_in_group(fuse_req_t req, gid_t gid);
/* Could the caller access fd (described by st) with mask (R_OK/W_OK), ACLs included? Root
 * may; the owner may always ask for W_OK-gated information about its own file. */
bool zcd_caller_may(fuse_req_t req, int fd, const struct stat *st, int mask);

/* Reply with -neg_errno (or neg_errno if positive) and count the op as failed. */
void zcd_reply_err(fuse_req_t req, enum zc_op op, int neg_errno);
/* One reply for ops that answer only a status: rc < 0 is an error, else 0. */
void zcd_reply_status(fuse_req_t req, enum zc_op op, int rc);
/* Count op as done (for handlers that send their own success reply). */
void zcd_count_ok(fuse_req_t req, enum zc_op op);
/* Note which transport req came by (zcfs_io_uring becomes 1 with the first over io_uring). */
void zcd_note_transport(fuse_req_t req);

#endif
