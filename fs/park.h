/* park.h - descriptors that a reading plan's worker opened and read on a remote backing, kept
 * open ("parked") until the job opens that file, whose open then takes the descriptor instead
 * of opening the backing again. On s3fs or sshfs every open costs round trips to the store, and
 * a FUSE backing without keep_cache drops the pages read ahead at each new open, so a plan that
 * only warmed the page cache saved little there. A parked descriptor stays charged to the plan
 * owner's share until taken or dropped; at most -o prefetch_files are parked at once (the
 * window in files; the window in bytes is the plan's). Thread-safe: one lock, no I/O under it. */
#ifndef ZCD_PARK_H
#define ZCD_PARK_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <sys/types.h>

struct zcd_ctx;
struct zcd_inode;
struct zcd_park;

/* Parking is on for a remote backing (backing.h) unless -o prefetch_files=0. NULL when off or
 * out of memory (plans then only warm the page cache, as on a local disk). */
struct zcd_park *zcd_park_new(struct zcd_ctx *ctx);
/* Close (and uncharge) every parked descriptor, free. NULL is fine. */
void zcd_park_free(struct zcd_ctx *ctx, struct zcd_park *pk);
/* Room for one more file, with reading files being read by workers now? */
bool zcd_park_room(struct zcd_park *pk, unsigned reading);
/* Park fd (O_RDONLY, of (dev, ino), charged to owner) for plan_id. Returns 0 (fd taken), or
 * -ENOSPC when full or (dev, ino) is parked already: the caller closes it. */
int zcd_park_put(struct zcd_park *pk, unsigned plan_id, uid_t owner, dev_t dev, ino_t ino, int fd);
/* The parked descriptor of (dev, ino), for a job's open by uid with backing open flags: taken
 * (the owner's charge moves to the caller's, who has charged its own: it is released here) when
 * uid is the owner and the open is a plain read-only one; else -ENOENT. Costs one atomic load
 * when nothing is parked. */
int zcd_park_take(struct zcd_ctx *ctx, struct zcd_inode *in, uid_t uid, int flags);
/* Take (dev, ino)'s parked descriptor whoever the caller, charge and all (the plan dropping
 * what its job never opened): fd, or -ENOENT. The caller closes and uncharges it. */
int zcd_park_reclaim(struct zcd_park *pk, dev_t dev, ino_t ino);
/* Parked now (for stats). */
unsigned zcd_park_count(struct zcd_park *pk);

#endif
