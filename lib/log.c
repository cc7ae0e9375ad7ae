/* log.c - see zc/log.h. */
#include <stdio.h>

#include "zc/log.h"

static zc_log_sink log_sink;                    /* set once before threads start */
static enum zc_log_level log_max = ZC_LOG_INFO; /* likewise */

void zc_log_set_sink(zc_log_sink sink, enum zc_log_level max_level)
{
	log_sink = sink;
	log_max = max_level;
}

void zc_log(enum zc_log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_max)
		return;
	va_start(ap, fmt);
	if (log_sink) {
		log_sink(level, fmt, ap);
	} else {
		char line[1024];
		vsnprintf(line, sizeof(line), fmt, ap);
		fprintf(stderr, "%s\n", line);
	}
	va_end(ap);
}
