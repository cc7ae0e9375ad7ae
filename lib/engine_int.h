/* engine_int.h - private to the engines: the ops table every read path implements, the state an
 * open file carries, and the per-thread buffer shared by the buffered and direct paths. */
#ifndef ZC_ENGINE_INT_H
#define ZC_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "zc/engine.h"

struct zc_mwin; /* an mmap window, refcounted (eng_mmap.c) */

/* What rd->hold points to: something that outlives the file until the reply was sent. */
struct zc_hold {
	void (*release)(struct zc_hold *hold);
};

struct zc_file_priv {
	/* direct: dfd is used under dlock held for reading, and opened or closed under it held
	 * for writing (zc_file_drop_extra may take it away while others read) */
	pthread_rwlock_t dlock;
	int dfd;                   /* O_DIRECT descriptor, or -1; owned */
	uint32_t mem_align, off_align;
	/* mmap: protected by lock */
	pthread_mutex_t lock;
	struct zc_mwin *win;       /* current window (holds one reference), or NULL */
	off_t last_end;            /* end of the previous read, for the access-pattern hint */
	int advice;                /* MADV_* currently applied to win */
	unsigned seq_run;          /* consecutive sequential reads */
	/* a read-time fallback was logged for this handle */
	atomic_bool fallback_logged;
};

struct zc_engine_ops {
	const char *name;
	/* Prepare f (priv allocated and zeroed, dfd -1). 0, or -errno to fall back to buffered. */
	int (*open)(struct zc_file *f);
	ssize_t (*read)(struct zc_file *f, off_t off, size_t len, struct zc_rdesc *rd);
	void (*close)(struct zc_file *f);                                  /* may be NULL */
};

extern const struct zc_engine_ops zc_eng_buffered, zc_eng_direct, zc_eng_mmap, zc_eng_splice,
	zc_eng_passthrough;

/* This thread's scratch buffer, at least size bytes, aligned to 4096 (or align if larger).
 * Allocated once per thread and grown on demand; freed at thread exit. NULL on ENOMEM. */
void *zc_thread_buf(size_t size, size_t align);

/* A read-time fallback: count it, log it once per handle. */
void zc_engine_note_fallback(struct zc_file *f, enum zc_mode from, enum zc_mode to, int err);

/* POSIX_FADV_DONTNEED over the pages covering [pos, pos+len). */
void zc_drop_cache_range(int fd, off_t pos, size_t len);

/* pread until len bytes or EOF. Returns bytes read or -errno. */
ssize_t zc_pread_full(int fd, void *buf, size_t len, off_t off);

#endif
