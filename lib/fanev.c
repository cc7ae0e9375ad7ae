/* fanev.c - see fanev.h. Every length read from the buffer is checked against the buffer and
 * against its enclosing record before use: the buffer comes from the kernel, but a decoder that
 * trusts lengths is one bad version away from reading past it (and the fuzzer feeds it garbage). */
#include <errno.h>
#include <string.h>
#include <sys/fanotify.h>

#include "zc/fanev.h"

/* Older headers: the values are ABI. */
#ifndef FAN_EVENT_INFO_TYPE_DFID_NAME
#define FAN_EVENT_INFO_TYPE_DFID_NAME 2
#endif
#ifndef FAN_EVENT_INFO_TYPE_DFID
#define FAN_EVENT_INFO_TYPE_DFID 3
#endif
#ifndef FAN_RENAME
#define FAN_RENAME 0x10000000
#endif

struct info_hdr {
	uint8_t type;
	uint8_t pad;
	uint16_t len;
};

/* An fid record's body after its header: fsid (2 x int32), handle_bytes (u32), handle_type
 * (int32), the handle, then (DFID_NAME) a NUL-terminated name. */
static int decode_fid(const unsigned char *p, size_t len, bool with_name, struct zc_fanev *ev,
		      struct zc_fan_handle *h)
{
	uint32_t words[2], hbytes;
	int32_t htype;

	if (len < 16)
		return -EINVAL;
	memcpy(words, p, 8);
	memcpy(&hbytes, p + 8, 4);
	memcpy(&htype, p + 12, 4);
	if (hbytes == 0 || hbytes > len - 16)
		return -EINVAL;
	ev->fsid = (uint64_t)words[0] << 32 | words[1];
	h->type = htype;
	h->bytes = hbytes;
	h->data = p + 16;
	if (with_name) {
		const char *name = (const char *)p + 16 + hbytes;
		size_t room = len - 16 - hbytes;
		if (room == 0 || !memchr(name, '\0', room) || name[0] == '\0')
			return -EINVAL;
		ev->name = name;
	}
	return 0;
}

int zc_fanev_next(const void *buf, size_t len, size_t *off, struct zc_fanev *ev)
{
	const unsigned char *base = buf;
	struct fanotify_event_metadata md;
	size_t pos;

	memset(ev, 0, sizeof(*ev));
	if (*off >= len)
		return 0;
	if (len - *off < sizeof(md))
		return -EINVAL;
	memcpy(&md, base + *off, sizeof(md));
	if (md.vers != FANOTIFY_METADATA_VERSION || md.metadata_len < sizeof(md) ||
	    md.event_len < md.metadata_len || md.event_len > len - *off)
		return -EINVAL;
	ev->mask = md.mask;
	ev->pid = md.pid;
	ev->overflow = (md.mask & FAN_Q_OVERFLOW) != 0;
	for (pos = md.metadata_len; pos < md.event_len;) {
		const unsigned char *p = base + *off + pos;
		struct info_hdr h;
		int rc = 0;

		if (md.event_len - pos < sizeof(h))
			return -EINVAL;
		memcpy(&h, p, sizeof(h));
		if (h.len < sizeof(h) || h.len > md.event_len - pos)
			return -EINVAL;
		switch (h.type) {
		case FAN_EVENT_INFO_TYPE_FID:
			rc = decode_fid(p + sizeof(h), h.len - sizeof(h), false, ev, &ev->obj);
			break;
		case FAN_EVENT_INFO_TYPE_DFID_NAME:
			rc = decode_fid(p + sizeof(h), h.len - sizeof(h), true, ev, &ev->dir);
			break;
		case FAN_EVENT_INFO_TYPE_DFID:
			rc = decode_fid(p + sizeof(h), h.len - sizeof(h), false, ev, &ev->dir);
			break;
		default:
			break; /* pidfd, error, range, rename's old/new: not asked for */
		}
		if (rc < 0)
			return rc;
		pos += h.len;
	}
	/* An event on a directory itself names it "." in DFID_NAME: that directory is the object. */
	if (ev->name && strcmp(ev->name, ".") == 0 && !ev->obj.bytes)
		ev->obj = ev->dir;
	*off += md.event_len;
	return 1;
}

unsigned zc_fanev_effects(uint64_t mask)
{
	unsigned fx = 0;

	if (mask & (FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_RENAME))
		fx |= ZC_FAN_ENTRY | ZC_FAN_DIR | ZC_FAN_ATTR; /* the object's links and ctime too */
	if ((mask & (FAN_CREATE | FAN_MOVED_TO)) && !(mask & (FAN_DELETE | FAN_MOVED_FROM | FAN_RENAME)))
		fx |= ZC_FAN_ADDED; /* merged events may hold both: then not */
	if (mask & (FAN_MODIFY | FAN_CLOSE_WRITE))
		fx |= ZC_FAN_DATA;
	if (mask & (FAN_ATTRIB | FAN_DELETE_SELF | FAN_MOVE_SELF))
		fx |= ZC_FAN_ATTR;
	return fx;
}

bool zc_fs_is_local(unsigned long f_type)
{
	static const unsigned long local[] = {
		0xEF53,     /* ext2/3/4 */
		0x58465342, /* xfs */
		0x9123683E, /* btrfs */
		0x01021994, /* tmpfs */
		0x858458F6, /* ramfs */
		0xF2F52010, /* f2fs */
		0xCA451A4E, /* bcachefs */
	};

	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		if (f_type == local[i])
			return true;
	return false;
}

bool zc_fan_handle_equal(const struct zc_fan_handle *a, const struct zc_fan_handle *b)
{
	return a->type == b->type && a->bytes == b->bytes && a->bytes &&
	       memcmp(a->data, b->data, a->bytes) == 0;
}
