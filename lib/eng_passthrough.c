/* eng_passthrough.c - the passthrough mode as the engines see it: the kernel reads and writes the
 * backing file itself (fs/ gives it a backing file id at open), so no read should reach the
 * daemon. One that does (an open the kernel serves with direct_io besides passthrough) is served
 * by pread and counted under this mode, where any count at all is worth a look. */
#include "engine_int.h"

static ssize_t passthrough_read(struct zc_file *f, off_t off, size_t len, struct zc_rdesc *rd)
{
	return zc_eng_buffered.read(f, off, len, rd);
}

const struct zc_engine_ops zc_eng_passthrough = {
	.name = "passthrough",
	.read = passthrough_read,
};
