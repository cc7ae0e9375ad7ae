/* main.c - start-up and shutdown of the daemon: options, the descriptor budget, the root inode
 * and file-handle probe, /dev/fuse and the fuse module (libkmod), FUSE init negotiation (splice
 * in both directions, large requests, no mtime-based cache invalidation: cache.h), the
 * multi-threaded loop, the notifier thread, and a clean unmount on signals. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backing.h"
#include "config.h"
#include "ctl.h"
#include "ctl_mount.h"
#include "ctx.h"
#include "dirlist.h"
#include "fd.h"
#include "lockwait.h"
#include "logpipe.h"
#include "notify.h"
#include "ops.h"
#include "passthrough.h"
#include "prefetch.h"
#include "watch.h"
#include "zc/kmod.h"
#include "zc/log.h"

#define ZCD_MAX_REQUEST (1u << 20) /* FUSE_MAX_MAX_PAGES * 4 KiB in libfuse 3.14 */

/* The largest request that a spliced reply still fits: libfuse needs a pipe of the reply plus
 * three pages, and without CAP_SYS_RESOURCE a pipe cannot grow past fs.pipe-max-size (1 MiB by
 * default). A request one page too large makes libfuse fall back to copying every reply, so
 * the kernel is asked for requests that fit. */
static size_t probe_request_size(void)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t want = ZCD_MAX_REQUEST + 4 * (size_t)page, fit = ZCD_MAX_REQUEST;
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return fit;
	if (fcntl(p[0], F_SETPIPE_SZ, (int)want) < 0) {
		int max = fcntl(p[0], F_GETPIPE_SZ);
		FILE *f = fopen("/proc/sys/fs/pipe-max-size", "re");
		long sysmax = 0;
		if (f) {
			if (fscanf(f, "%ld", &sysmax) != 1)
				sysmax = 0;
			fclose(f);
		}
		if (sysmax > max)
			max = (int)sysmax;
		if (max > 4 * page && (size_t)max - 4 * (size_t)page < fit)
			fit = ((size_t)max - 4 * (size_t)page) / (size_t)page * (size_t)page;
	}
	close(p[0]);
	close(p[1]);
	return fit;
}

static void log_to_fuse(enum zc_log_level level, const char *fmt, va_list ap)
{
	char line[1024], clean[1024];
	vsnprintf(line, sizeof(line), fmt, ap);
	/* paths and xattr values are the users': no control bytes reach the log */
	fuse_log((enum fuse_log_level)level, "zcfs: %s\n", zc_log_clean(clean, sizeof(clean), line));
}

static void zcd_init(void *userdata, struct fuse_conn_info *conn)
{
	struct zcd_ctx *ctx = userdata;
	const unsigned want[] = { FUSE_CAP_SPLICE_WRITE, FUSE_CAP_SPLICE_READ,
				  FUSE_CAP_FLOCK_LOCKS,  FUSE_CAP_POSIX_LOCKS, FUSE_CAP_ASYNC_READ,
				  FUSE_CAP_READDIRPLUS,  FUSE_CAP_READDIRPLUS_AUTO,
				  FUSE_CAP_PARALLEL_DIROPS, FUSE_CAP_CACHE_SYMLINKS,
				  FUSE_CAP_ATOMIC_O_TRUNC };

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (conn->capable & want[i])
			conn->want |= want[i];
	/* SPLICE_READ makes libfuse receive every request through a pipe (splice, then read):
	 * one more syscall per request, which costs 4 KiB reads and metadata more than it saves
	 * on writes here (docs/performance.md). SPLICE_WRITE, for read replies, is always on. */
	if (!ctx->opts.splice_read)
		conn->want &= ~FUSE_CAP_SPLICE_READ;
	/* AUTO: the kernel asks for attributes with the first part of a listing, and with the rest
	 * only while it sees entries stat'ed; a loader that lists then opens files gets a LOOKUP
	 * round trip per file. Without AUTO, every part: listings cost a stat per entry. */
	if (ctx->opts.rdplus == ZCD_RDPLUS_OFF)
		conn->want &= ~(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
	else if (ctx->opts.rdplus == ZCD_RDPLUS_ALWAYS)
		conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	if (ctx->opts.writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* The kernel's own check drops a file's pages whenever its mtime moves, including after
	 * writes through the mount; zcfs tells its own writes from others' instead (cache.h). */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	/* A root daemon's writes would keep set-user-ID bits that a write by the caller clears:
	 * let the kernel clear them (by a SETATTR) before writing, as for any filesystem. */
	conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
	/* Directories open with no round trip and their listings stay cached in the kernel
	 * (dirlist.h); the first OPENDIR answers ENOSYS to turn it on. */
	ctx->no_opendir = (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) &&
			  ctx->opts.cache != ZC_CACHE_NONE; /* cache=none: every listing comes here */
	if (ctx->opts.acl && (conn->capable & FUSE_CAP_POSIX_ACL))
		conn->want |= FUSE_CAP_POSIX_ACL;
	else if (ctx->opts.allow_other)
		zc_log(ZC_LOG_WARNING, "the kernel cannot enforce POSIX ACLs on this mount: with "
		       "allow_other, other users' access is checked against mode bits only");
	/* -o noopen: the first OPEN answers ENOSYS and the kernel opens files itself from then on
	 * (no OPEN, RELEASE or FLUSH). Its locks then cannot be ours (a lock's release would come
	 * in a RELEASE or FLUSH that no longer comes), nor may it skip a truncation it thinks the
	 * OPEN did. Coherence with other processes rests on the watch: the kernel keeps every
	 * file's pages until an invalidation. */
	if (ctx->opts.noopen) {
		if (!(conn->capable & FUSE_CAP_NO_OPEN_SUPPORT))
			zc_log(ZC_LOG_WARNING, "-o noopen: the kernel cannot open files without an OPEN");
		else if (zcd_watch_kind(ctx) == ZCD_WATCH_NONE)
			zc_log(ZC_LOG_WARNING, "-o noopen needs a watch of the backing directory (see "
			       "watching= in the config): files open with an OPEN");
		else if (ctx->ctl && !ctx->ctl_mount)
			zc_log(ZC_LOG_WARNING, "-o noopen: no control mount: files open with an OPEN");
		else
			ctx->no_open = true;
	}
	if (ctx->no_open) {
		conn->want &= ~(FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS | FUSE_CAP_ATOMIC_O_TRUNC);
		ctx->locks_local = true;
	}
	zcd_pt_init(ctx, conn);
	zcd_lock_init(ctx, conn);
#if ZC_HAVE_FUSE_DIRECT_IO_ALLOW_MMAP
	/* Shared mappings of cache=none (FOPEN_DIRECT_IO) files: sqlite's WAL, numpy.memmap. */
	if (conn->capable & FUSE_CAP_DIRECT_IO_ALLOW_MMAP)
		conn->want |= FUSE_CAP_DIRECT_IO_ALLOW_MMAP;
#endif
#if ZC_HAVE_FUSE_KILLPRIV_V2
	/* The daemon clears setuid bits and file capabilities on writes, truncates and O_TRUNC
	 * opens by callers without CAP_FSETID; the kernel then stops asking for the
	 * security.capability xattr before every write (one round trip each). */
	if (conn->capable & FUSE_CAP_HANDLE_KILLPRIV_V2) {
		conn->want |= FUSE_CAP_HANDLE_KILLPRIV_V2;
		ctx->killpriv_v2 = true;
	}
#endif
#if ZC_HAVE_FUSE_IO_URING
	if (ctx->opts.io_uring && !(conn->capable & FUSE_CAP_OVER_IO_URING))
		zc_log(ZC_LOG_WARNING, "-o io_uring: the kernel does not offer it (is "
		       "/sys/module/fuse/parameters/enable_uring 1?): requests come through /dev/fuse");
#endif
	conn->max_write = (unsigned)ctx->max_read; /* also sets max_pages, the read request cap */
	conn->max_readahead = (unsigned)ctx->max_read;
	ctx->splice_write = (conn->want & FUSE_CAP_SPLICE_WRITE) != 0;
	if (!(conn->capable & FUSE_CAP_SPLICE_WRITE))
		zc_log(ZC_LOG_WARNING, "kernel cannot take spliced replies: splice mode copies");
}

static const struct fuse_lowlevel_ops zcd_ops = {
	.init = zcd_init,
	.lookup = zcd_lookup,
	.forget = zcd_forget,
	.forget_multi = zcd_forget_multi,
	.getattr = zcd_getattr,
	.setattr = zcd_setattr,
	.readlink = zcd_readlink,
	.access = zcd_access,
	.mknod = zcd_mknod,
	.mkdir = zcd_mkdir,
	.symlink = zcd_symlink,
	.link = zcd_link,
	.unlink = zcd_unlink,
	.rmdir = zcd_rmdir,
	.rename = zcd_rename,
	.opendir = zcd_opendir,
	.readdir = zcd_readdir,
	.readdirplus = zcd_readdirplus,
	.releasedir = zcd_releasedir,
	.fsyncdir = zcd_fsyncdir,
	.open = zcd_open,
	.create = zcd_create,
#if ZC_HAVE_FUSE_TMPFILE
	.tmpfile = zcd_tmpfile,
#endif
	.read = zcd_read,
	.write_buf = zcd_write_buf,
	.flush = zcd_flush,
	.release = zcd_release,
	.fsync = zcd_fsync,
	.statfs = zcd_statfs,
	.setxattr = zcd_setxattr,
	.getxattr = zcd_getxattr,
	.listxattr = zcd_listxattr,
	.removexattr = zcd_removexattr,
	.getlk = zcd_getlk,
	.setlk = zcd_setlk,
	.flock = zcd_flock,
	.fallocate = zcd_fallocate,
	.copy_file_range = zcd_copy_file_range,
	.lseek = zcd_lseek,
	.ioctl = zcd_ioctl,
};

/* /dev/fuse missing: say why, and load the module when we can. */
static int check_dev_fuse(void)
{
	enum zc_kmod_state st;
	char detail[512] = "";

	if (access("/dev/fuse", F_OK) == 0)
		return 0;
	zc_kmod_fuse_state("/", &st, detail, sizeof(detail));
	if (st == ZC_KMOD_LOADABLE && geteuid() == 0 && zc_kmod_load_fuse() == 0 &&
	    access("/dev/fuse", F_OK) == 0)
		return 0;
	fprintf(stderr, "zcfs: /dev/fuse is missing; fuse module: %s (%s)%s\n",
		zc_kmod_state_name(st), detail,
		st == ZC_KMOD_LOADABLE ? "; run 'modprobe fuse' as root" : "");
	return -ENODEV;
}

/* Root inode and the file-handle probe: open_by_handle_at needs CAP_DAC_READ_SEARCH. */
static int setup_root(struct zcd_ctx *ctx)
{
	struct file_handle *fh = malloc(sizeof(*fh) + 128);
	struct stat st;
	int mount_id, fd;

	if (!fh)
		return -ENOMEM;
	ctx->root.fd = open(ctx->opts.backing, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ctx->root_fd = open(ctx->opts.backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ctx->root.fd < 0 || ctx->root_fd < 0 || fstat(ctx->root_fd, &st) < 0) {
		int e = errno;
		fprintf(stderr, "zcfs: cannot open BACKING '%s': %s\n", ctx->opts.backing, strerror(e));
		free(fh);
		return -e;
	}
	ctx->root.dev = st.st_dev;
	ctx->root.ino = st.st_ino;
	ctx->root.type = S_IFDIR;
	ctx->root.nlookup = 2;
	ctx->root.fd_pinned = true;
	ctx->root.mount_idx = -1;
	fh->handle_bytes = 128;
	if (name_to_handle_at(ctx->root_fd, "", fh, &mount_id, AT_EMPTY_PATH) == 0) {
		fd = open_by_handle_at(ctx->root_fd, fh, O_PATH | O_CLOEXEC);
		if (fd >= 0) {
			close(fd);
			ctx->fds.handles_ok = true;
			zcd_fds_mount_idx(ctx, mount_id, ctx->root_fd);
		}
	}
	free(fh);
	if (!ctx->fds.handles_ok)
		zc_log(ZC_LOG_WARNING,
		       "file handles unavailable (no CAP_DAC_READ_SEARCH or unsupported by the backing "
		       "filesystem): one descriptor per known inode, so RLIMIT_NOFILE caps the tree size");
	return 0;
}

/* Raise the mount's read-ahead (the kernel gives FUSE 128 KiB by default). */
static void set_readahead(struct zcd_ctx *ctx)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], real[PATH_MAX], path[128];
	unsigned maj = 0, min = 0;
	bool found = false;

	if (!ctx->opts.readahead_kb || !f || !realpath(ctx->opts.mountpoint, real)) {
		if (f)
			fclose(f);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		char mnt[PATH_MAX];
		unsigned a, b;
		if (sscanf(line, "%*s %*s %u:%u %*s %4095s", &a, &b, mnt) == 3 &&
		    strcmp(mnt, real) == 0) {
			maj = a;
			min = b;
			found = true; /* the last match is the newest mount */
		}
	}
	fclose(f);
	if (!found)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", maj, min);
	f = fopen(path, "we");
	if (!f)
		return; /* not root: the kernel default stays */
	fprintf(f, "%u\n", ctx->opts.readahead_kb);
	fclose(f);
}

/* Who mounted, and the groups to restore after acting as a caller. */
static void setup_identity(struct zcd_ctx *ctx)
{
	ctx->is_root = geteuid() == 0;
	ctx->selinux_off = access("/sys/fs/selinux/enforce", F_OK) != 0;
	ctx->owner_uid = getuid();
	ctx->owner_gid = getgid();
	ctx->nroot_groups = getgroups(0, NULL);
	if (ctx->nroot_groups > 0) {
		ctx->root_groups = calloc((size_t)ctx->nroot_groups, sizeof(gid_t));
		if (ctx->root_groups)
			ctx->nroot_groups = getgroups(ctx->nroot_groups, ctx->root_groups);
	}
	if (ctx->nroot_groups < 0 || !ctx->root_groups)
		ctx->nroot_groups = 0;
}

static int run_loop(struct zcd_ctx *ctx, const struct fuse_cmdline_opts *cmd)
{
	struct fuse_loop_config *loop;
	int r;

	if (cmd->singlethread) {
		r = fuse_session_loop(ctx->se);
	} else {
		loop = fuse_loop_cfg_create();
		if (!loop)
			return -ENOMEM;
		fuse_loop_cfg_set_clone_fd(loop, (unsigned)cmd->clone_fd);
		if (cmd->max_threads != UINT_MAX) /* UINT_MAX: not given */
			fuse_loop_cfg_set_max_threads(loop, cmd->max_threads);
		if (cmd->max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(loop, cmd->max_idle_threads);
		r = fuse_session_loop_mt(ctx->se, loop);
		fuse_loop_cfg_destroy(loop);
	}
	/* The kernel ended the connection (an abort through /sys/fs/fuse/connections, and seen
	 * now and then under a slow daemon while it unmounts): the end of the mount, not a daemon
	 * failure. */
	if (r == -ECONNABORTED) {
		zc_log(ZC_LOG_INFO, "the kernel aborted the connection: stopping");
		r = 0;
	}
	return r;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd = { 0 };
	struct zcd_logpipe *logpipe = NULL;
	struct zcd_ctx *ctx;
	int rc = 1, r;

	/* glibc raises its mmap threshold to the size of the first large block freed (a retiring
	 * worker's 1 MiB request buffer, a ctl prefetch buffer), and its trim threshold to twice
	 * that; every arena then keeps up to 2 MiB it never gives back. Pinned, RSS under
	 * thread churn stays flat (6.6 -> 9.4 MB over 15 rounds of git churn without, 5.9 -> 6.1
	 * with); allocations this large are per-thread and ctl buffers, none per request. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		fprintf(stderr, "zcfs: out of memory\n");
		return 1;
	}
	zcd_fh_list_init(ctx);
	ctx->root.fd = ctx->root_fd = -1;
	r = zcd_opts_parse(&args, &ctx->opts);
	if (r != 0) {
		rc = r > 0 ? 0 : 2;
		goto out_opts;
	}
	if (fuse_parse_cmdline(&args, &cmd) != 0) {
		rc = 2;
		goto out_opts;
	}
	if (zcd_opts_check(&ctx->opts) < 0) {
		rc = 2;
		goto out_cmd;
	}
	zc_log_set_sink(log_to_fuse, cmd.debug ? ZC_LOG_DEBUG : ZC_LOG_INFO);
	if (check_dev_fuse() < 0)
		goto out_cmd;
	umask(0);
	setup_identity(ctx);
	ctx->stats = zc_stats_new();
	ctx->max_read = probe_request_size();
	ctx->fopts.max_read_bytes = ZCD_MAX_REQUEST;
	ctx->fopts.mmap_window_bytes = ctx->opts.mmap_window;
	if (!ctx->stats || zcd_table_init(ctx) < 0 || zcd_fds_init(ctx) < 0 ||
	    zcd_dirlist_init(ctx) < 0) {
		fprintf(stderr, "zcfs: out of memory\n");
		goto out_table;
	}
	if (setup_root(ctx) < 0 || zcd_backing_init(ctx) < 0)
		goto out_table;
	if (!ctx->opts.noctl && zcd_ctl_init(ctx) < 0) {
		fprintf(stderr, "zcfs: cannot set up the control directory\n");
		goto out_table;
	}

	ctx->se = fuse_session_new(&args, &zcd_ops, sizeof(zcd_ops), ctx);
	if (!ctx->se)
		goto out_ctl;
	if (fuse_set_signal_handlers(ctx->se) != 0)
		goto out_session;
	if (fuse_session_mount(ctx->se, cmd.mountpoint) != 0) {
		fprintf(stderr, "zcfs: cannot mount on '%s'\n", cmd.mountpoint);
		goto out_signals;
	}
	set_readahead(ctx);
	fuse_daemonize(cmd.foreground);
	/* Repeated lines are limited (a user truncating a file under mmap readers can make
	 * libfuse report every failed reply). */
	if (cmd.foreground)
		logpipe = zcd_logpipe_start();
	if (zcd_notify_start(ctx) < 0)
		zc_log(ZC_LOG_WARNING, "no notifier thread: external changes are seen at the next open");
	else if (zcd_watch_start(ctx) < 0)
		goto out_unmount; /* -o watch=fanotify|inotify that cannot be had: said why */
	if (ctx->opts.noopen && ctx->ctl)
		zcd_ctl_mount_start(ctx); /* logs why not */
	if (zcd_prefetch_start(ctx) < 0)
		zc_log(ZC_LOG_WARNING, "no prefetch threads: reading plans are refused");
	if (zcd_lockwait_start(ctx) < 0)
		zc_log(ZC_LOG_WARNING, "no lock thread: a lock request that waits holds a worker");
	r = run_loop(ctx, &cmd);
	zcd_ctl_mount_stop(ctx);
	zcd_lockwait_stop(ctx);
	rc = r < 0 ? 1 : 0; /* > 0: the signal that ended the loop, a clean stop */
	zcd_prefetch_stop(ctx); /* before the notifier: dropping leftovers queues invalidations */
out_unmount:
	zcd_watch_stop(ctx);
	zcd_notify_stop(ctx);
	fuse_session_unmount(ctx->se);
	zcd_fh_release_all(ctx);
	zcd_logpipe_stop(logpipe);
out_signals:
	fuse_remove_signal_handlers(ctx->se);
out_session:
	fuse_session_destroy(ctx->se);
out_ctl:
	zcd_ctl_free(ctx);
out_table:
	zcd_dirlist_free(ctx); /* its cursors pin inodes */
	zcd_backing_free(ctx);
	zcd_table_destroy(ctx);
	zcd_fds_destroy(ctx);
	if (ctx->root.fd >= 0)
		close(ctx->root.fd);
	if (ctx->root_fd >= 0)
		close(ctx->root_fd);
	free(ctx->root.fh);
	zc_stats_free(ctx->stats);
	free(ctx->root_groups);
out_cmd:
	free(cmd.mountpoint);
out_opts:
	zcd_opts_free(&ctx->opts);
	fuse_opt_free_args(&args);
	free(ctx);
	return rc;
}
