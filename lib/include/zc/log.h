/* log.h - the one logging entry point, zc_log(). The daemon routes it to fuse_log, tools to
 * stderr (the default sink). Thread-safe; the sink is set once at start-up, before threads.
 * Also a limiter of repeated lines, so one user's fault cannot flood the daemon's log. */
#ifndef ZC_LOG_H
#define ZC_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum zc_log_level { ZC_LOG_ERR = 3, ZC_LOG_WARNING = 4, ZC_LOG_NOTICE = 5, ZC_LOG_INFO = 6, ZC_LOG_DEBUG = 7 };

typedef void (*zc_log_sink)(enum zc_log_level level, const char *fmt, va_list ap);

/* Log one line (no trailing newline needed). Never blocks on anything but the sink's write. */
void zc_log(enum zc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Replace the sink (NULL restores stderr) and the most verbose level that is emitted. */
void zc_log_set_sink(zc_log_sink sink, enum zc_log_level max_level);

/* Copy src into dst (always terminated, cut to fit) with every control byte (below 0x20, 0x7f)
 * written as \xNN: names and xattr values quoted in a line cannot start a forged line of
 * their own or send terminal escapes. Returns dst. */
char *zc_log_clean(char *dst, size_t dstlen, const char *src);

/* Repetition limiter (pure: the caller supplies the time and owns the state). Lines are told
 * apart by their text; a line seen more than burst times within window_ms of its first sight is
 * dropped and counted. Once a window with drops is over, the next call writes a summary of it
 * into note ("last message repeated N times: TEXT", else note is ""), to be logged first, and a
 * quiet window twice as long follows (up to 64 windows), in which the line is only counted: a
 * flood that goes on for an hour costs about 70 lines, not 5 a second. */
#define ZC_LOG_RL_SLOTS 8
struct zc_log_rl {
	struct {
		uint64_t hash, since_ms;
		unsigned win_ms, seen, dropped;
		bool used, quiet; /* quiet: a window after one with drops, count only */
		char text[96];
	} slot[ZC_LOG_RL_SLOTS];
	unsigned next_victim;
};
bool zc_log_rl_admit(struct zc_log_rl *rl, const char *line, uint64_t now_ms, unsigned burst,
		     unsigned window_ms, char *note, size_t notelen);

/* Write line (with a newline) to f through one process-wide limiter (5 repeats a second). The
 * daemon's log function for libfuse; the limiter's state is the only mutable global, because
 * fuse_set_log_func passes no user data. Thread-safe. */
void zc_log_write_limited(FILE *f, const char *line);

#endif
