/* ctl_mount.h - with -o noopen the kernel opens the mount's files without asking the daemon, so
 * files that answer per open (stats snapshots, the ctl transaction file) cannot live in it: they
 * get a small FUSE mount of their own (a second session in this daemon, served by the same
 * control-plane code, opens as usual) on a private directory, and the mount's control entry
 * becomes a symbolic link to it. Started before the main loop, stopped after it. */
#ifndef ZCD_CTL_MOUNT_H
#define ZCD_CTL_MOUNT_H

struct zcd_ctx;

/* Mount the control files on -o ctl_dir or a new directory under /run/zcfs (root), the
 * user's runtime directory, or /tmp/zcfs-UID; clear dead ones left by killed daemons first.
 * Returns 0 or -errno (logged; the control files then stay in the mount). */
int zcd_ctl_mount_start(struct zcd_ctx *ctx);
/* Unmount and remove the directory (if made here). */
void zcd_ctl_mount_stop(struct zcd_ctx *ctx);

#endif
