/* ops.h - the FUSE low-level handlers, one per op, grouped by family (ops_attr.c, ops_dir.c,
 * ops_file.c, ops_xattr.c), for main.c's fuse_lowlevel_ops table; and the two helpers they share
 * to turn node ids into backing inodes. Each handler decodes, calls the modules below it
 * (inode, fd, lookup, file, handle, ctl, route, cache) and sends exactly one reply. */
#ifndef ZCD_OPS_H
#define ZCD_OPS_H

#include <fuse_lowlevel.h>

#include "zc/stats.h"

struct zcd_inode;

/* The backing inode behind ino, or NULL after replying: virt_err for a control-plane node, EIO
 * for an impossible node id. */
struct zcd_inode *zcd_ops_inode(fuse_req_t req, fuse_ino_t ino, enum zc_op op, int virt_err);
/* The backing directory parent, in which name is to be created, removed or renamed, or NULL
 * after replying: ctl_err when name is the control directory at the root, EPERM inside the
 * control directory, ENAMETOOLONG for names over 255 bytes. */
struct zcd_inode *zcd_ops_parent(fuse_req_t req, fuse_ino_t parent, const char *name,
				 enum zc_op op, int ctl_err);

void zcd_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void zcd_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void zcd_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
void zcd_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void zcd_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
		 struct fuse_file_info *fi);
void zcd_access(fuse_req_t req, fuse_ino_t ino, int mask);
void zcd_readlink(fuse_req_t req, fuse_ino_t ino);
void zcd_statfs(fuse_req_t req, fuse_ino_t ino);
void zcd_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void zcd_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void zcd_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void zcd_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void zcd_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void zcd_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void zcd_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		const char *newname, unsigned int flags);
void zcd_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void zcd_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		 struct fuse_file_info *fi);
void zcd_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi);
void zcd_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void zcd_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void zcd_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void zcd_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		struct fuse_file_info *fi);
#if ZC_HAVE_FUSE_TMPFILE
/* open(O_TMPFILE) in parent: an unnamed file, made as zcd_create makes files. */
void zcd_tmpfile(fuse_req_t req, fuse_ino_t parent, mode_t mode, struct fuse_file_info *fi);
#endif
void zcd_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void zcd_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
		   struct fuse_file_info *fi);
void zcd_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void zcd_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void zcd_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void zcd_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
		   struct fuse_file_info *fi);
void zcd_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			 struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			 struct fuse_file_info *fi_out, size_t len, int flags);
void zcd_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi);
void zcd_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg, struct fuse_file_info *fi,
	       unsigned flags, const void *in_buf, size_t in_bufsz, size_t out_bufsz);
void zcd_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock);
void zcd_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock,
	       int sleep);
void zcd_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op);
void zcd_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		  size_t size, int flags);
void zcd_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void zcd_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void zcd_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

#endif
