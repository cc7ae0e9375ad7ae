/* test_fanev.c - decoding fanotify event buffers as the kernel lays them out (metadata, then fid
 * records: DFID_NAME with a name, FID), directory self events ("."), several events in one
 * buffer, overflow, unknown records skipped, and every malformed length refused rather than
 * read past; the effects of each mask; the local-filesystem list. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/fanotify.h>

#include <cmocka.h>

#include "zc/fanev.h"

struct builder {
	unsigned char buf[4096];
	size_t len, ev_start;
};

static void begin(struct builder *b, uint64_t mask, int32_t pid)
{
	struct fanotify_event_metadata md = { 0 };

	md.vers = FANOTIFY_METADATA_VERSION;
	md.metadata_len = sizeof(md);
	md.mask = mask;
	md.fd = FAN_NOFD;
	md.pid = pid;
	b->ev_start = b->len;
	memcpy(b->buf + b->len, &md, sizeof(md));
	b->len += sizeof(md);
}

/* An fid record: header, fsid {1, 2}, handle (type 1, bytes), then name if given; padded to 4. */
static void fid(struct builder *b, uint8_t type, const unsigned char *h, uint32_t hlen,
		const char *name)
{
	size_t start = b->len, nlen = name ? strlen(name) + 1 : 0;
	uint32_t fsid[2] = { 1, 2 };
	int32_t htype = 1;
	uint16_t len = (uint16_t)((4 + 8 + 8 + hlen + nlen + 3) & ~3u);

	memset(b->buf + start, 0, len);
	b->buf[start] = type;
	memcpy(b->buf + start + 2, &len, 2);
	memcpy(b->buf + start + 4, fsid, 8);
	memcpy(b->buf + start + 12, &hlen, 4);
	memcpy(b->buf + start + 16, &htype, 4);
	memcpy(b->buf + start + 20, h, hlen);
	if (name)
		memcpy(b->buf + start + 20 + hlen, name, nlen);
	b->len += len;
}

static void end(struct builder *b)
{
	uint32_t ev_len = (uint32_t)(b->len - b->ev_start);
	memcpy(b->buf + b->ev_start, &ev_len, 4);
}

static const unsigned char DIR_H[8] = { 0x32, 0xa0, 0xa7, 0, 0xf8, 0x92, 0x19, 0x28 };
static const unsigned char OBJ_H[8] = { 0xf8, 0xbf, 0xa7, 0, 0xff, 0xe4, 0x21, 0x99 };

static void test_fanev_decodes_entry_event_with_target(void **state)
{
	struct builder b = { 0 };
	struct zc_fanev ev;
	size_t off = 0;

	begin(&b, FAN_CREATE, 4242);
	fid(&b, FAN_EVENT_INFO_TYPE_DFID_NAME, DIR_H, 8, "data.bin");
	fid(&b, FAN_EVENT_INFO_TYPE_FID, OBJ_H, 8, NULL);
	end(&b);
	assert_int_equal(zc_fanev_next(b.buf, b.len, &off, &ev), 1);
	assert_int_equal(off, b.len);
	assert_int_equal(ev.mask, FAN_CREATE);
	assert_int_equal(ev.pid, 4242);
	assert_false(ev.overflow);
	assert_int_equal(ev.fsid, (uint64_t)1 << 32 | 2);
	assert_int_equal(ev.dir.type, 1);
	assert_int_equal(ev.dir.bytes, 8);
	assert_memory_equal(ev.dir.data, DIR_H, 8);
	assert_string_equal(ev.name, "data.bin");
	assert_int_equal(ev.obj.bytes, 8);
	assert_memory_equal(ev.obj.data, OBJ_H, 8);
	assert_int_equal(zc_fanev_next(b.buf, b.len, &off, &ev), 0);
}

static void test_fanev_directory_self_event_is_its_own_object(void **state)
{
	struct builder b = { 0 };
	struct zc_fanev ev;
	size_t off = 0;

	begin(&b, FAN_ATTRIB | FAN_ONDIR, 7);
	fid(&b, FAN_EVENT_INFO_TYPE_DFID_NAME, DIR_H, 8, ".");
	end(&b);
	assert_int_equal(zc_fanev_next(b.buf, b.len, &off, &ev), 1);
	assert_string_equal(ev.name, ".");
	assert_true(zc_fan_handle_equal(&ev.obj, &ev.dir));
	assert_int_equal(zc_fanev_effects(ev.mask), ZC_FAN_ATTR);
}

static void test_fanev_several_events_and_unknown_records(void **state)
{
	struct builder b = { 0 };
	struct zc_fanev ev;
	size_t off = 0;
	unsigned char junk[12] = { 99, 0, 12, 0 }; /* an info record of an unknown type */

	begin(&b, FAN_MODIFY, 1);
	fid(&b, FAN_EVENT_INFO_TYPE_DFID_NAME, DIR_H, 8, "a");
	memcpy(b.buf + b.len, junk, sizeof(junk));
	b.len += sizeof(junk);
	fid(&b, FAN_EVENT_INFO_TYPE_FID, OBJ_H, 8, NULL);
	end(&b);
	begin(&b, FAN_Q_OVERFLOW, 0);
	end(&b);
	assert_int_equal(zc_fanev_next(b.buf, b.len, &off, &ev), 1);
	assert_string_equal(ev.name, "a");
	assert_int_equal(ev.obj.bytes, 8);
	assert_int_equal(zc_fanev_effects(ev.mask), ZC_FAN_DATA);
	assert_int_equal(zc_fanev_next(b.buf, b.len, &off, &ev), 1);
	assert_true(ev.overflow);
	assert_int_equal(ev.dir.bytes, 0);
	assert_null(ev.name);
	assert_int_equal(zc_fanev_next(b.buf, b.len, &off, &ev), 0);
}

static void test_fanev_refuses_malformed_lengths(void **state)
{
	struct builder b = { 0 };
	struct zc_fanev ev;
	size_t off;
	uint32_t bad;

	begin(&b, FAN_DELETE, 1);
	fid(&b, FAN_EVENT_INFO_TYPE_DFID_NAME, DIR_H, 8, "gone");
	end(&b);
	/* a truncated buffer */
	off = 0;
	assert_int_equal(zc_fanev_next(b.buf, b.len - 1, &off, &ev), -EINVAL);
	off = 0;
	assert_int_equal(zc_fanev_next(b.buf, 10, &off, &ev), -EINVAL);
	/* a handle longer than its record */
	bad = 200;
	memcpy(b.buf + sizeof(struct fanotify_event_metadata) + 12, &bad, 4);
	off = 0;
	assert_int_equal(zc_fanev_next(b.buf, b.len, &off, &ev), -EINVAL);
	bad = 8;
	memcpy(b.buf + sizeof(struct fanotify_event_metadata) + 12, &bad, 4);
	/* a name without its NUL inside the record */
	memset(b.buf + sizeof(struct fanotify_event_metadata) + 28, 'x',
	       b.len - sizeof(struct fanotify_event_metadata) - 28);
	off = 0;
	assert_int_equal(zc_fanev_next(b.buf, b.len, &off, &ev), -EINVAL);
	/* a record header whose length is zero (would loop forever) */
	memset(b.buf + sizeof(struct fanotify_event_metadata) + 2, 0, 2);
	off = 0;
	assert_int_equal(zc_fanev_next(b.buf, b.len, &off, &ev), -EINVAL);
	/* an event longer than the buffer */
	bad = (uint32_t)b.len + 4;
	memcpy(b.buf, &bad, 4);
	off = 0;
	assert_int_equal(zc_fanev_next(b.buf, b.len, &off, &ev), -EINVAL);
	/* a metadata version the decoder does not know */
	begin(&b, FAN_DELETE, 1);
	end(&b);
	b.buf[b.ev_start + 4] = FANOTIFY_METADATA_VERSION + 1;
	off = b.ev_start;
	assert_int_equal(zc_fanev_next(b.buf, b.len, &off, &ev), -EINVAL);
}

static void test_fanev_effects_per_mask(void **state)
{
	unsigned entry = ZC_FAN_ENTRY | ZC_FAN_DIR | ZC_FAN_ATTR;

	assert_int_equal(zc_fanev_effects(FAN_CREATE), entry | ZC_FAN_ADDED);
	assert_int_equal(zc_fanev_effects(FAN_DELETE | FAN_ONDIR), entry);
	assert_int_equal(zc_fanev_effects(FAN_MOVED_FROM), entry);
	assert_int_equal(zc_fanev_effects(FAN_MOVED_TO), entry | ZC_FAN_ADDED);
	/* a creation and a removal merged into one event: the name may be gone */
	assert_int_equal(zc_fanev_effects(FAN_CREATE | FAN_DELETE), entry);
	assert_int_equal(zc_fanev_effects(FAN_MODIFY), ZC_FAN_DATA);
	assert_int_equal(zc_fanev_effects(FAN_CLOSE_WRITE), ZC_FAN_DATA);
	assert_int_equal(zc_fanev_effects(FAN_ATTRIB), ZC_FAN_ATTR);
	assert_int_equal(zc_fanev_effects(FAN_MODIFY | FAN_ATTRIB), ZC_FAN_DATA | ZC_FAN_ATTR);
	assert_int_equal(zc_fanev_effects(FAN_CLOSE_NOWRITE | FAN_ACCESS | FAN_OPEN), 0);
}

static void test_fs_local_list(void **state)
{
	assert_true(zc_fs_is_local(0xEF53));     /* ext4 */
	assert_true(zc_fs_is_local(0x01021994)); /* tmpfs */
	assert_false(zc_fs_is_local(0x65735546)); /* fuse */
	assert_false(zc_fs_is_local(0x6969));     /* nfs */
	assert_false(zc_fs_is_local(0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fanev_decodes_entry_event_with_target),
		cmocka_unit_test(test_fanev_directory_self_event_is_its_own_object),
		cmocka_unit_test(test_fanev_several_events_and_unknown_records),
		cmocka_unit_test(test_fanev_refuses_malformed_lengths),
		cmocka_unit_test(test_fanev_effects_per_mask),
		cmocka_unit_test(test_fs_local_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
