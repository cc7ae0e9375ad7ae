/* log.h - the one logging entry point, zc_log(). The daemon routes it to fuse_log, tools to
 * stderr (the default sink). Thread-safe; the sink is set once at start-up, before threads. */
#ifndef ZC_LOG_H
#define ZC_LOG_H

#include <stdarg.h>

enum zc_log_level { ZC_LOG_ERR = 3, ZC_LOG_WARNING = 4, ZC_LOG_NOTICE = 5, ZC_LOG_INFO = 6, ZC_LOG_DEBUG = 7 };

typedef void (*zc_log_sink)(enum zc_log_level level, const char *fmt, va_list ap);

/* Log one line (no trailing newline needed). Never blocks on anything but the sink's write. */
void zc_log(enum zc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Replace the sink (NULL restores stderr) and the most verbose level that is emitted. */
void zc_log_set_sink(zc_log_sink sink, enum zc_log_level max_level);

#endif
