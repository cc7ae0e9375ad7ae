/* logpipe.h - the daemon's standard error through a limiter of repeated lines: libfuse 3.14
 * reports some failures with perror(), which no log function catches, so fd 2 becomes a pipe
 * read by one thread that writes each line to the real stderr through zc_log_write_limited().
 * Start after daemonizing (a daemon's stderr is /dev/null) and stop before exit. */
#ifndef ZCD_LOGPIPE_H
#define ZCD_LOGPIPE_H

struct zcd_logpipe;

/* Returns the running limiter, or NULL (stderr is left as it was) when it cannot start. */
struct zcd_logpipe *zcd_logpipe_start(void);
/* Restore stderr, write out what is still buffered, join the thread. Accepts NULL. */
void zcd_logpipe_stop(struct zcd_logpipe *lp);

#endif
