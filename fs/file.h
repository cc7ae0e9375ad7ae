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
 * leaves that to the daemon). Returns 0 or -errno. */
int zcd_file_kill_privs(int fd);
/* " fallback=buffered(EMFILE) handles=N" when open handles of in are served by another engine
 * than routing chose (the mode and reason of the latest), else "". Returns the length snprintf
 * would produce. */
int zcd_file_describe_fallback(struct zcd_ctx *ctx, struct zcd_inode *in, char *buf, size_t len);

#endif
