/* logpipe.c - see logpipe.h. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logpipe.h"
#include "zc/log.h"

struct zcd_logpipe {
	pthread_t thread;
	int rfd;       /* the pipe's read end; the thread's */
	int saved_fd;  /* the real stderr, duplicated */
	FILE *out;     /* on saved_fd */
};

static void *run(void *arg)
{
	struct zcd_logpipe *lp = arg;
	char buf[4096];
	size_t have = 0;

	for (;;) {
		ssize_t n = read(lp->rfd, buf + have, sizeof(buf) - 1 - have);
		char *start = buf, *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		while ((nl = memchr(start, '\n', have - (size_t)(start - buf)))) {
			*nl = '\0';
			zc_log_write_limited(lp->out, start);
			start = nl + 1;
		}
		have -= (size_t)(start - buf);
		memmove(buf, start, have);
		if (have == sizeof(buf) - 1) { /* a line longer than the buffer: pass it in pieces */
			buf[have] = '\0';
			zc_log_write_limited(lp->out, buf);
			have = 0;
		}
		fflush(lp->out);
	}
	if (have) {
		buf[have] = '\0';
		zc_log_write_limited(lp->out, buf);
	}
	fflush(lp->out);
	return NULL;
}

struct zcd_logpipe *zcd_logpipe_start(void)
{
	struct zcd_logpipe *lp = calloc(1, sizeof(*lp));
	int p[2];

	if (!lp)
		return NULL;
	lp->saved_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	if (lp->saved_fd < 0 || pipe2(p, O_CLOEXEC) < 0)
		goto out_free;
	lp->out = fdopen(lp->saved_fd, "w");
	if (!lp->out)
		goto out_pipe;
	fflush(stderr);
	if (dup2(p[1], STDERR_FILENO) < 0)
		goto out_file;
	close(p[1]);
	lp->rfd = p[0];
	if (pthread_create(&lp->thread, NULL, run, lp) != 0) {
		dup2(lp->saved_fd, STDERR_FILENO);
		close(p[0]);
		fclose(lp->out);
		free(lp);
		return NULL;
	}
	setvbuf(stderr, NULL, _IOLBF, 0);
	return lp;

out_file:
	fclose(lp->out);
	lp->saved_fd = -1;
out_pipe:
	close(p[0]);
	close(p[1]);
out_free:
	if (lp->saved_fd >= 0)
		close(lp->saved_fd);
	free(lp);
	return NULL;
}

void zcd_logpipe_stop(struct zcd_logpipe *lp)
{
	if (!lp)
		return;
	fflush(stderr);
	dup2(fileno(lp->out), STDERR_FILENO); /* closes the pipe's last write end: EOF */
	pthread_join(lp->thread, NULL);
	close(lp->rfd);
	fclose(lp->out);
	free(lp);
}
