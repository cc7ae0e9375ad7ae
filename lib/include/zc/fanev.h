/* fanev.h - decoding of fanotify(7) event buffers (FAN_REPORT_DFID_NAME | FAN_REPORT_FID |
 * FAN_REPORT_TARGET_FID) into neutral records, and what each event means for a cache of names
 * and attributes. Pure functions, no state, thread-safe; a record points into the caller's buffer
 * and lives as long as it. */
#ifndef ZC_FANEV_H
#define ZC_FANEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A kernel file handle inside an event: the bytes name_to_handle_at(2) gives for the object. */
struct zc_fan_handle {
	int type;                  /* handle_type */
	unsigned bytes;            /* 0: absent */
	const unsigned char *data; /* handle_bytes bytes */
};

struct zc_fanev {
	uint64_t mask;           /* FAN_* bits of the event */
	int32_t pid;             /* the process that made the change (its thread group id) */
	bool overflow;           /* FAN_Q_OVERFLOW: events were lost, nothing else is valid */
	uint64_t fsid;           /* the filesystem of the handles (fsid's two words), 0: none */
	struct zc_fan_handle dir; /* the directory of name (DFID_NAME), or of the object (DFID) */
	const char *name;        /* the entry's name in dir; "." when the object is dir itself;
				  * NULL when the event carries no name */
	struct zc_fan_handle obj; /* the object itself (FID), absent for some directory events */
};

/* What an event asks of a cache (zc_fanev_effects). */
enum {
	ZC_FAN_ENTRY = 1 << 0,   /* the name in dir appeared, disappeared or now names another object */
	ZC_FAN_DIR = 1 << 1,     /* dir's own attributes and listing changed */
	ZC_FAN_DATA = 1 << 2,    /* the object's data (and size, times) changed */
	ZC_FAN_ATTR = 1 << 3,    /* the object's attributes changed (mode, owner, times, links, xattrs) */
	ZC_FAN_ADDED = 1 << 4,   /* with ENTRY: the name was only added (created, moved there),
				  * so it names the object now */
};

/* Decode the event at *off of buf[0..len) into ev and move *off past it. Returns 1 with ev
 * filled, 0 at the end of the buffer, or -EINVAL for a malformed event (the rest of the buffer
 * is then unusable: treat as an overflow). Information records of unknown types are skipped. */
int zc_fanev_next(const void *buf, size_t len, size_t *off, struct zc_fanev *ev);

/* The ZC_FAN_* effects of an event's mask (0: nothing a cache of names, attributes or data
 * needs to hear, such as FAN_CLOSE_NOWRITE). */
unsigned zc_fanev_effects(uint64_t mask);

/* Does a filesystem of this statfs f_type see every change to its files in this kernel (ext4,
 * xfs, btrfs, tmpfs, f2fs, bcachefs)? A network or FUSE filesystem does not: its files change
 * on other machines or in other daemons, and no notification on this machine tells of it. */
bool zc_fs_is_local(unsigned long f_type);

/* Equality of two handles (type, length and bytes). */
bool zc_fan_handle_equal(const struct zc_fan_handle *a, const struct zc_fan_handle *b);

#endif
