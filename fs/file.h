/* file.h - open backing files: the handle OPEN and CREATE make (the backing descriptor, its read
 * engine, the mount-side cache policy and its share of the descriptor budget) and its ops:
 * reads through the engine, writes, flush, fsync, descriptor-level ops, release. A handle whose
 * engine fell back for want of descriptors returns to the asked engine when room appears. */
#ifndef ZCD_FILE_H
#define ZCD_FILE_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stddef.h>

#include "zc/stats.h"

struct zcd_ctx;
struct zcd_inode;

/* Reserve the descriptor budget for one more open file or directory of the caller, taking the
 * second descriptor of older direct-mode handles if the budget is full. 0, -EMFILE (the caller's
 * share is used up) or -ENFILE (the daemon's budget is). */
int zcd_file_charge(fuse_req_t req, bool is_dir);
void zcd_file_uncharge(fuse_req_t req, bool is_dir);
/* Make the handle for fd (an open descriptor of in; ownership taken) and reply to OPEN, or to
 * CREATE with e. Needs a successful zcd_file_charge(), which it undoes on failure; for CREATE a
 * failure also drops e's reference. Sends exactly one reply. */
void zcd_file_finish_open(fuse_req_t req, enum zc_op op, struct zcd_inode *in, int fd,
			  struct fuse_file_info *fi, const struct fuse_entry_param *e);
/* Open flags for the backing descriptor: what the caller asked, minus what the kernel or the
 * engine handles (never O_DIRECT: kernel buffers are not aligned for the backing file). */
int zcd_file_backing_flags(const struct zcd_ctx *ctx, int flags);
/* Clear the setuid bit, the setgid bit where group execute is set, and file capabilities of the
 * file behind fd, as the kernel does for a writer without CAP_FSETID (with KILLPRIV_V2 the kernel
 * leaves that to the daemon). Returns 1 when the mode changed, 0 when it did not, or -errno. */
int zcd_file_kill_privs(int fd);
/* Implicit handles (-o noopen: the kernel opens files without asking, so reads and writes come
 * without a handle): the inode's own, opened as the daemon at the first READ (read-only) or
 * WRITE (read-write), routed like an open (passthrough served by splice), and closed when the
 * kernel forgets the inode, when idle (a writable one after 2 s: exec(2) of a file held open for
 * writing fails) or under descriptor pressure. The kernel checked the caller's permission when
 * it opened the file. */
struct zcd_file;
void zcd_file_implicit_read(fuse_req_t req, struct zcd_inode *in, size_t size, off_t off);
void zcd_file_implicit_write(fuse_req_t req, struct zcd_inode *in, struct fuse_bufvec *bufv,
			     off_t off, struct fuse_file_info *fi);
/* A referenced implicit handle of in (writable: for writes), or NULL with -errno in *err. */
struct zcd_file *zcd_file_implicit_get(fuse_req_t req, struct zcd_inode *in, bool write, int *err);
void zcd_file_implicit_put(struct zcd_ctx *ctx, struct zcd_file *f);
/* A file created with -o noopen: the kernel sends no RELEASE for it, so CREATE's descriptor fd
 * (taken; flags: how it was opened) becomes the inode's implicit writable handle, or is closed. */
void zcd_file_implicit_adopt(struct zcd_ctx *ctx, struct zcd_inode *in, int fd, int flags);
/* The backing descriptor of an implicit handle (for fallocate, lseek, copy_file_range). */
int zcd_file_fd(const struct zcd_file *f);
/* Take in's implicit handles off it (tbl->lock held; in is dying): the caller puts them. */
void zcd_file_implicit_detach_locked(struct zcd_ctx *ctx, struct zcd_inode *in,
				     struct zcd_file **r, struct zcd_file **w);
/* Close idle implicit handles (pressed: any unused for 100 ms, to make room). True if any. */
bool zcd_file_implicit_sweep(struct zcd_ctx *ctx, bool pressed);
/* " fallback=buffered(EMFILE) handles=N" when open handles of in are served by another engine
 * than routing chose (the mode and reason of the latest), else "". Returns the length snprintf
 * would produce. */
int zcd_file_describe_fallback(struct zcd_ctx *ctx, struct zcd_inode *in, char *buf, size_t len);

#endif
