/* passthrough.c - see passthrough.h. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "ctx.h"
#include "passthrough.h"
#include "zc/log.h"
#include "zc/stats.h"

void zcd_pt_init(struct zcd_ctx *ctx, struct fuse_conn_info *conn)
{
#if ZC_HAVE_FUSE_PASSTHROUGH
	if (!(conn->capable & FUSE_CAP_PASSTHROUGH))
		ctx->pt_unavailable = -EOPNOTSUPP; /* kernel without CONFIG_FUSE_PASSTHROUGH */
	else if (ctx->opts.writeback)
		ctx->pt_unavailable = -EINVAL; /* the kernel refuses both on one connection */
	else
		conn->want |= FUSE_CAP_PASSTHROUGH;
#else
	(void)conn;
	ctx->pt_unavailable = -ENOSYS; /* built with a libfuse without passthrough */
#endif
}

#if ZC_HAVE_FUSE_PASSTHROUGH
/* Errors that no later open would change: stop asking the kernel. */
static bool permanent(int err)
{
	return err == -EPERM || err == -EOPNOTSUPP || err == -ENOTTY || err == -ENOSYS;
}
#endif

#if ZC_HAVE_FUSE_PASSTHROUGH
/* The kernel keeps the registered backing file until the inode's last passthrough handle is
 * released: registering the opener's own descriptor would keep that opener's open file
 * description, and the OFD and flock locks on it, alive after its close while other handles
 * stay open (waiters for its lock then never got it). A reopen of the same file with the same
 * flags gives the kernel a description of its own. -1 when the reopen fails. */
static int private_description(int fd)
{
	char proc[64];
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return open(proc, (fl & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_CLOEXEC);
}
#endif

#if ZC_HAVE_FUSE_PASSTHROUGH
/* The kernel reads and writes a registered backing file with the credentials of the thread
 * that registered it. A root daemon's keep CAP_FSETID, and with it the setuid and setgid bits
 * that a write by a caller without it clears: a descriptor opened before another user's chmod
 * 6777 wrote and left -rwsrwsrwx (the backing filesystem and passthrough_hp clear them).
 * Registering without CAP_FSETID in the effective set (this thread only; capabilities are
 * per thread) makes every passthrough write clear them, as any unprivileged writer's does;
 * root's own writes through the mount clear them too, the safe side. Returns 0 when dropped
 * (old: what to restore), -errno when not (nothing changed). */
static int drop_fsetid(struct __user_cap_data_struct old[2])
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, old) < 0)
		return -errno;
	if (!(old[CAP_TO_INDEX(CAP_FSETID)].effective & CAP_TO_MASK(CAP_FSETID)))
		return -EPERM; /* not ours to drop */
	memcpy(d, old, sizeof(d));
	d[CAP_TO_INDEX(CAP_FSETID)].effective &= ~CAP_TO_MASK(CAP_FSETID);
	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

static void restore_caps(struct __user_cap_data_struct old[2])
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };

	if (syscall(SYS_capset, &h, old) < 0)
		zc_log(ZC_LOG_ERR, "restoring CAP_FSETID after registering a backing file: %s", strerror(errno));
}
#endif

enum zc_mode zcd_pt_open(fuse_req_t req, struct zcd_inode *in, int fd, enum zc_mode mode,
			 struct fuse_file_info *fi, int *why)
{
	struct zcd_ctx *ctx = fuse_req_userdata(req);
	int rc = 0;

	*why = 0;
	pthread_mutex_lock(&ctx->pt_lock);
	if (mode != ZC_MODE_PASSTHROUGH && !in->pt_handles) {
		in->other_handles++; /* the common case: no passthrough anywhere near */
		pthread_mutex_unlock(&ctx->pt_lock);
		return mode;
	}
	if (ctx->pt_unavailable)
		rc = ctx->pt_unavailable;
	else if (in->other_handles && !in->pt_handles)
		rc = -ETXTBSY; /* open in another mode: the kernel would answer EIO */
#if ZC_HAVE_FUSE_PASSTHROUGH
	if (rc == 0 && !in->backing_id) {
		struct __user_cap_data_struct caps[2];
		int id, own = private_description(fd), dropped = drop_fsetid(caps);
		errno = 0;
		id = fuse_passthrough_open(req, own >= 0 ? own : fd);
		if (dropped == 0) {
			int e = errno;
			restore_caps(caps);
			errno = e;
		}
		if (own >= 0) {
			int e = errno;
			close(own); /* the kernel holds its own reference */
			errno = e;
		}
		if (id > 0)
			in->backing_id = id;
		else
			rc = errno ? -errno : -EIO;
		if (rc && permanent(rc)) {
			ctx->pt_unavailable = rc;
			zc_log(ZC_LOG_WARNING, "passthrough unavailable (%s): serving with splice",
			       strerror(-rc));
		}
	}
	if (rc == 0) {
		in->pt_handles++;
		fi->backing_id = in->backing_id;
	}
#endif
	if (rc)
		in->other_handles++;
	pthread_mutex_unlock(&ctx->pt_lock);
	if (rc == 0) {
		zc_stats_gauge_add(ctx->stats, ZC_G_PASSTHROUGH_HANDLES, 1);
		if (mode != ZC_MODE_PASSTHROUGH) /* the inode is in passthrough: so is this open */
			zc_stats_fallback(ctx->stats, mode, ZC_MODE_PASSTHROUGH);
		return ZC_MODE_PASSTHROUGH;
	}
	*why = rc;
	zc_stats_fallback(ctx->stats, ZC_MODE_PASSTHROUGH, ZC_MODE_SPLICE);
	return ZC_MODE_SPLICE;
}

void zcd_pt_release(struct zcd_ctx *ctx, struct zcd_inode *in, bool is_pt, fuse_req_t req)
{
	int id = 0;

	pthread_mutex_lock(&ctx->pt_lock);
	if (!is_pt) {
		in->other_handles--;
	} else if (--in->pt_handles == 0) {
		id = in->backing_id;
		in->backing_id = 0;
	}
	pthread_mutex_unlock(&ctx->pt_lock);
	if (is_pt)
		zc_stats_gauge_add(ctx->stats, ZC_G_PASSTHROUGH_HANDLES, -1);
#if ZC_HAVE_FUSE_PASSTHROUGH
	/* The kernel keeps its own reference to the backing file while files use it. */
	if (id && req)
		fuse_passthrough_close(req, id);
#else
	(void)id;
	(void)req;
#endif
}
