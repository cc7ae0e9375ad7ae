/* ctl_mount.c - see ctl_mount.h. The session's root is the control directory; every other node
 * id is the one ctl.c gives out, so the control plane's own handlers serve it unchanged. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_mount.h"
#include "ctx.h"
#include "ops.h"
#include "req.h"
#include "zc/log.h"

struct zcd_ctl_mount {
	struct fuse_session *se;
	pthread_t thread;
	bool running, made_dir;
	char path[PATH_MAX];
};

static fuse_ino_t side(fuse_req_t req, fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? zcd_ctl_dir_ino(zcd_ctx(req)) : ino;
}

static void s_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	zcd_ctl_lookup(req, side(req, parent), name);
}

static void s_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fuse_reply_none(req); /* the nodes are static */
}

static void s_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	fuse_reply_none(req);
}

static void s_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	zcd_ctl_getattr(req, side(req, ino));
}

static void s_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	zcd_ctl_access(req, side(req, ino), mask);
}

static void s_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	zcd_ctl_open(req, side(req, ino), fi, false);
}

static void s_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	zcd_ctl_open(req, side(req, ino), fi, true);
}

static void s_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = sv.f_frsize = 4096;
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops side_ops = {
	.lookup = s_lookup,
	.forget = s_forget,
	.forget_multi = s_forget_multi,
	.getattr = s_getattr,
	.access = s_access,
	.open = s_open,
	.opendir = s_opendir,
	.statfs = s_statfs,
	/* handle ops: the control handles dispatch them (handle.h) */
	.read = zcd_read,
	.write_buf = zcd_write_buf,
	.flush = zcd_flush,
	.release = zcd_release,
	.readdir = zcd_readdir,
	.readdirplus = zcd_readdirplus,
	.releasedir = zcd_releasedir,
	.fsync = zcd_fsync,
};

static void *run(void *arg)
{
	struct zcd_ctx *ctx = arg;
	struct fuse_loop_config *loop = fuse_loop_cfg_create();

	if (!loop)
		return NULL;
	fuse_loop_cfg_set_max_threads(loop, 4);
	fuse_session_loop_mt(ctx->ctl_mount->se, loop);
	fuse_loop_cfg_destroy(loop);
	return NULL;
}

/* Mounts of daemons that are gone (SIGKILL): detach them and remove their directories. */
static void clear_dead(const char *base)
{
	DIR *d = opendir(base);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[PATH_MAX + 256];
		long pid;
		if (sscanf(de->d_name, "ctl.%ld", &pid) != 1 || pid <= 0 ||
		    (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
			continue;
		snprintf(path, sizeof(path), "%s/%s", base, de->d_name);
		if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != EPERM)
			continue;
		rmdir(path);
	}
	closedir(d);
}

static bool own_dir(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	       !(st.st_mode & (S_IWGRP | S_IWOTH));
}

/* The directory to mount on: -o ctl_dir, or a new one of our own. */
static int choose_dir(struct zcd_ctx *ctx, struct zcd_ctl_mount *m)
{
	const char *run = getenv("XDG_RUNTIME_DIR");
	char base[PATH_MAX - 32];
	mode_t dmode = ctx->opts.allow_other ? 0755 : 0700;

	if (ctx->opts.ctl_dir) {
		snprintf(m->path, sizeof(m->path), "%s", ctx->opts.ctl_dir);
		return 0;
	}
	if (ctx->is_root)
		snprintf(base, sizeof(base), "/run/zcfs");
	else if (run && run[0] == '/' && strlen(run) < sizeof(base) - 8)
		snprintf(base, sizeof(base), "%s/zcfs", run);
	else
		snprintf(base, sizeof(base), "/tmp/zcfs-%u", (unsigned)getuid());
	if (mkdir(base, dmode) < 0 && errno != EEXIST)
		return -errno;
	/* Only a directory of our own that no one else may write in (in /tmp another user could
	 * have made it first, or put a symlink there). */
	if (!own_dir(base))
		return -EPERM;
	if (ctx->opts.allow_other)
		chmod(base, 0755); /* other users reach their control files through it */
	clear_dead(base);
	snprintf(m->path, sizeof(m->path), "%s/ctl.%ld", base, (long)getpid());
	if (mkdir(m->path, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (!own_dir(m->path))
		return -EPERM;
	m->made_dir = true;
	return 0;
}

int zcd_ctl_mount_start(struct zcd_ctx *ctx)
{
	struct zcd_ctl_mount *m = calloc(1, sizeof(*m));
	char opts[256];
	char *argv[] = { "zcfs-ctl", "-o", opts, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	int rc;

	if (!m)
		return -ENOMEM;
	ctx->ctl_mount = m;
	rc = choose_dir(ctx, m);
	if (rc < 0) {
		zc_log(ZC_LOG_WARNING, "control mount: no directory (%s): control files stay in the "
		       "mount, files open with an OPEN", strerror(-rc));
		goto out_free;
	}
	snprintf(opts, sizeof(opts), "fsname=zcfs-ctl,subtype=zcfs-ctl%s%s",
		 ctx->opts.allow_other ? ",allow_other" : "",
		 ctx->opts.default_permissions ? ",default_permissions" : "");
	m->se = fuse_session_new(&args, &side_ops, sizeof(side_ops), ctx);
	fuse_opt_free_args(&args); /* parsing may have made a copy of its own */
	if (!m->se || fuse_session_mount(m->se, m->path) != 0) {
		rc = -EIO;
		zc_log(ZC_LOG_WARNING, "control mount on %s failed: control files stay in the mount, "
		       "files open with an OPEN", m->path);
		goto out_session;
	}
	rc = zcd_ctl_set_side(ctx, m->path);
	if (rc == 0)
		rc = -pthread_create(&m->thread, NULL, run, ctx);
	if (rc < 0)
		goto out_unmount;
	m->running = true;
	return 0;

out_unmount:
	fuse_session_unmount(m->se);
out_session:
	if (m->se)
		fuse_session_destroy(m->se);
	if (m->made_dir)
		rmdir(m->path);
out_free:
	ctx->ctl_mount = NULL;
	free(m);
	return rc;
}

void zcd_ctl_mount_stop(struct zcd_ctx *ctx)
{
	struct zcd_ctl_mount *m = ctx->ctl_mount;

	if (!m)
		return;
	fuse_session_exit(m->se);
	fuse_session_unmount(m->se); /* the loop's reads end with ENODEV */
	if (m->running)
		pthread_join(m->thread, NULL);
	fuse_session_destroy(m->se);
	if (m->made_dir)
		rmdir(m->path);
	ctx->ctl_mount = NULL;
	free(m);
}
