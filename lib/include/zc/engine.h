/* engine.h - the four read paths (buffered, direct, mmap, splice) behind one ops table. An engine
 * never sends bytes: it says where they are (struct zc_rdesc) and fs/ sends them. One struct
 * zc_file per open handle; zc_file_read() may run on many threads at once for the same file. */
#ifndef ZC_ENGINE_H
#define ZC_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "zc/mode.h"

struct zc_stats;

enum zc_rd_kind { ZC_RD_MEM, ZC_RD_FD };

/* Where the bytes of one read are. ZC_RD_MEM: len bytes at mem. ZC_RD_FD: len bytes of fd at
 * pos (fs splices them). len may be shorter than asked (EOF); 0 means EOF. */
struct zc_rdesc {
	enum zc_rd_kind kind;
	void *mem;
	int fd;
	off_t pos;
	size_t len;
	void *hold; /* engine-private reference (struct zc_hold); released by zc_file_read_done() */
};

struct zc_file_opts {
	size_t max_read_bytes;    /* largest request the engine must serve (per-thread buffers) */
	size_t mmap_window_bytes; /* mmap: files larger than this are mapped in windows */
	bool no_extra_fd;         /* no descriptor to spare: engines that need a second one (direct)
				   * fall back with EMFILE until zc_file_retry() finds room */
};

struct zc_file_priv; /* engine state, see engine_int.h */

/* One open backing file. fd is the caller's (read or read-write) descriptor: the engine never
 * closes it and uses it for buffered reads and fallbacks. */
struct zc_file {
	int fd;
	enum zc_mode mode;   /* requested */
	enum zc_mode active; /* serving now (differs after a fallback); read with zc_file_active() */
	int fallback_err;    /* why active differs from mode at open (positive errno), else 0 */
	struct zc_stats *stats;
	struct zc_file_opts opts;
	struct zc_file_priv *priv;
};

/* Prepare f to serve reads of fd in mode. Never fails for want of an engine feature: direct falls
 * back to buffered+FADV_DONTNEED, mmap and splice to buffered, each fallback logged once and
 * counted in stats. Returns 0 or -ENOMEM. f is zero-initialised by the caller. */
int zc_file_open(struct zc_file *f, int fd, enum zc_mode mode, const struct zc_file_opts *opts,
		 struct zc_stats *stats);

/* Describe up to len bytes at off. Returns the byte count (>= 0; also in rd->len) or -errno
 * (-EIO for a backing file that vanished underneath). Blocks on backing I/O for buffered and
 * direct; mmap and splice only describe. Thread-safe for concurrent reads of one f. Every
 * successful call must be paired with zc_file_read_done() once the bytes were sent. */
ssize_t zc_file_read(struct zc_file *f, off_t off, size_t len, struct zc_rdesc *rd);

/* The bytes in rd were sent (send_err 0) or sending failed (-errno): releases rd->hold. Touches
 * only rd, never the file: once a reply is sent, another thread may already have closed f (the
 * kernel's RELEASE can overtake the end of the read handler). Never blocks. */
void zc_file_read_done(struct zc_file *f, struct zc_rdesc *rd, int send_err);

/* For a reply that user space copies (over io_uring, libfuse copies replies into the ring): if rd
 * points into a mapping of the backing file (mmap), copy the bytes into this thread's buffer
 * without touching the mapping in user space (process_vm_readv: a page truncated away meanwhile
 * ends the copy short instead of raising SIGBUS), release the mapping and point rd at the copy.
 * Returns rd->len afterwards (0 if the first page was gone) or -errno. Other rds are unchanged. */
ssize_t zc_file_read_copy(struct zc_file *f, struct zc_rdesc *rd);

/* The engine serving reads now (atomic: zc_file_retry may change it while others read). */
enum zc_mode zc_file_active(const struct zc_file *f);

/* After a fallback at open, try the asked engine again (opts: as for open, with the current
 * descriptor budget). Returns 0 when f now serves f->mode, or -errno (nothing changed).
 * Thread-safe with concurrent zc_file_read() calls. */
int zc_file_retry(struct zc_file *f, const struct zc_file_opts *opts);

/* Give back the descriptor f holds besides f->fd (the direct engine's), for a daemon that needs
 * it for another open: f falls back to buffered (counted, EMFILE) until zc_file_retry(). Waits
 * for reads using it. Returns 1 if one was closed, else 0. Thread-safe. */
int zc_file_drop_extra(struct zc_file *f);

/* Descriptors f holds besides f->fd (the direct engine's O_DIRECT one): 0 or 1. */
unsigned zc_file_extra_fds(const struct zc_file *f);

/* Release everything zc_file_open() acquired (not f->fd). Accepts a zeroed or closed f. */
void zc_file_close(struct zc_file *f);

/* O_DIRECT alignment of fd: from statx(STATX_DIOALIGN) where reported, else the logical block
 * size of the device (BLKSSZGET) or 512. Returns 0, or -EINVAL if fd refuses O_DIRECT. */
int zc_dio_align(int fd, uint32_t *mem_align, uint32_t *off_align);

/* Whether close(2) of a descriptor of fd's file can report an error (a delayed write error on
 * NFS, CIFS, FUSE...). False only for local filesystems known to have no flush operation (ext4,
 * xfs, btrfs, tmpfs, f2fs, bcachefs): there a close never fails. */
bool zc_close_may_fail(int fd);

#endif
