/* log.c - see zc/log.h. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "zc/log.h"

static zc_log_sink log_sink;                    /* set once before threads start */
static enum zc_log_level log_max = ZC_LOG_INFO; /* likewise */

void zc_log_set_sink(zc_log_sink sink, enum zc_log_level max_level)
{
	log_sink = sink;
	log_max = max_level;
}

char *zc_log_clean(char *dst, size_t dstlen, const char *src)
{
	size_t o = 0;

	if (!dstlen)
		return dst;
	for (; *src; src++) {
		unsigned char c = (unsigned char)*src;
		if (c < 0x20 || c == 0x7f) {
			if (o + 4 >= dstlen)
				break;
			snprintf(dst + o, 5, "\\x%02x", c);
			o += 4;
		} else {
			if (o + 1 >= dstlen)
				break;
			dst[o++] = (char)c;
		}
	}
	dst[o] = '\0';
	return dst;
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
		char line[1024], clean[1024];
		vsnprintf(line, sizeof(line), fmt, ap);
		fprintf(stderr, "%s\n", zc_log_clean(clean, sizeof(clean), line));
	}
	va_end(ap);
}

static uint64_t hash_text(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

/* A window that ended with drops is followed by a quiet one, twice as long (up to 64 windows),
 * in which the line is only counted: a flood that goes on costs one summary line per window. */
static void rl_next_window(struct zc_log_rl *rl, int i, uint64_t now_ms, unsigned window_ms)
{
	bool flooding = rl->slot[i].dropped != 0;
	unsigned win = rl->slot[i].win_ms ? rl->slot[i].win_ms : window_ms;

	rl->slot[i].since_ms = now_ms;
	rl->slot[i].win_ms = flooding ? (win * 2 > 64 * window_ms ? 64 * window_ms : win * 2) : window_ms;
	rl->slot[i].quiet = flooding;
	rl->slot[i].seen = 0;
	rl->slot[i].dropped = 0;
}

static void rl_summary(struct zc_log_rl *rl, int i, char *note, size_t notelen)
{
	snprintf(note, notelen, "last message repeated %u times: %s", rl->slot[i].dropped,
		 rl->slot[i].text);
}

bool zc_log_rl_admit(struct zc_log_rl *rl, const char *line, uint64_t now_ms, unsigned burst,
		     unsigned window_ms, char *note, size_t notelen)
{
	uint64_t h = hash_text(line);
	int hit = -1;

	if (notelen)
		note[0] = '\0';
	for (int i = 0; i < ZC_LOG_RL_SLOTS; i++) {
		bool over = rl->slot[i].used && now_ms - rl->slot[i].since_ms >= rl->slot[i].win_ms;

		if (rl->slot[i].used && rl->slot[i].hash == h) {
			hit = i;
		} else if (over && rl->slot[i].dropped && notelen && !note[0]) {
			/* another line's window with drops is over: say how much was left out */
			rl_summary(rl, i, note, notelen);
			rl_next_window(rl, i, now_ms, window_ms);
		}
	}
	if (hit >= 0 && now_ms - rl->slot[hit].since_ms >= rl->slot[hit].win_ms) {
		if (rl->slot[hit].dropped && !(notelen && !note[0])) {
			rl->slot[hit].dropped++; /* summarised by a later call */
			return false;
		}
		if (rl->slot[hit].dropped) {
			/* the flood goes on: this line is in the summary, a quiet window follows */
			rl->slot[hit].dropped++;
			rl_summary(rl, hit, note, notelen);
			rl_next_window(rl, hit, now_ms, window_ms);
			return false;
		}
		rl_next_window(rl, hit, now_ms, window_ms);
	}
	if (hit < 0) {
		hit = (int)(rl->next_victim++ % ZC_LOG_RL_SLOTS);
		for (int i = 0; i < ZC_LOG_RL_SLOTS; i++)
			if (!rl->slot[i].used) {
				hit = i;
				break;
			}
		rl->slot[hit].used = true;
		rl->slot[hit].hash = h;
		rl->slot[hit].since_ms = now_ms;
		rl->slot[hit].win_ms = window_ms;
		rl->slot[hit].quiet = false;
		rl->slot[hit].seen = 0;
		rl->slot[hit].dropped = 0;
		snprintf(rl->slot[hit].text, sizeof(rl->slot[hit].text), "%.*s",
			 (int)strcspn(line, "\n"), line);
	}
	if (++rl->slot[hit].seen > (rl->slot[hit].quiet ? 0 : burst)) {
		rl->slot[hit].dropped++;
		return false;
	}
	return true;
}

static pthread_mutex_t rl_lock = PTHREAD_MUTEX_INITIALIZER;
static struct zc_log_rl rl_state; /* rl_lock */

void zc_log_write_limited(FILE *f, const char *line)
{
	struct timespec ts;
	char note[160], clean[1024];
	size_t n = strlen(line);
	bool ok;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	pthread_mutex_lock(&rl_lock);
	ok = zc_log_rl_admit(&rl_state, line, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000,
			     5, 1000, note, sizeof(note));
	if (note[0])
		fprintf(f, "zcfs: %s\n", zc_log_clean(clean, sizeof(clean), note));
	if (ok) {
		char bare[1024]; /* without its newline, which zc_log_clean would escape */
		snprintf(bare, sizeof(bare), "%.*s", (int)(n && line[n - 1] == '\n' ? n - 1 : n), line);
		fprintf(f, "%s\n", zc_log_clean(clean, sizeof(clean), bare));
	}
	pthread_mutex_unlock(&rl_lock);
}
