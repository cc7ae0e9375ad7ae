/* ctl.h - the control file's command language: parse one command line into a struct, and validate
 * paths so they stay below the mount root. Pure functions, thread-safe, no state. */
#ifndef ZC_CTL_H
#define ZC_CTL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum zc_ctl_verb {
	ZC_CTL_RESIDENCY, /* residency [-r] [-e] PATH (-e: PATH escaped, zc_ctl_unescape) */
	ZC_CTL_EVICT,     /* evict [-r] [-e] PATH */
	ZC_CTL_PREFETCH,  /* prefetch [-r] [-e] PATH */
	ZC_CTL_SYNC,      /* sync [-e] PATH */
	ZC_CTL_SYNCFS,    /* syncfs */
	ZC_CTL_FLUSH,     /* flush [-e] PATH */
	ZC_CTL_STATS_RESET, /* stats reset */
	ZC_CTL_PLAN,      /* plan [window=BYTES] [depth=N] [spread=N] [store=0|1] [escaped=0|1], then one path per line, then
			   * an empty line; plan status [ID]; plan cancel ID */
};

enum zc_ctl_plan_sub { ZC_PLAN_START, ZC_PLAN_STATUS, ZC_PLAN_CANCEL };

struct zc_ctl_cmd {
	enum zc_ctl_verb verb;
	bool recursive;
	bool escaped;        /* -e: PATH was written with \xNN escapes (zc_ctl_unescape) */
	char path[PATH_MAX]; /* normalised, relative, "." for the root; "" when the verb takes none */
	struct {
		enum zc_ctl_plan_sub sub;
		uint64_t window_bytes; /* 0: the mount's default */
		unsigned depth;        /* 0: the mount's default; at most 64 */
		unsigned spread;       /* files the job's readers are apart; 0: learned */
		bool store;
		bool escaped;          /* escaped=1: the path lines are written with \xNN escapes */
		unsigned id;           /* status (0: all) and cancel */
	} plan;
};

/* Parse one line (a trailing "\n" is allowed; NULs are not). Returns 0, or -EINVAL with a
 * human message in err (unknown command, missing or extra argument, bad option), or -EPERM for a
 * path that is absolute or climbs with "..". */
int zc_ctl_parse(const char *line, size_t len, struct zc_ctl_cmd *out, char *err, size_t errlen);

/* One path line of a plan (a trailing "\r" is dropped; escaped: the rest is unescaped with
 * zc_ctl_unescape, so a name's own trailing CR is written \x0d): normalised into out. Returns 0,
 * 1 for the empty line that ends the plan, or -errno as zc_ctl_path_normalise / unescape. */
int zc_ctl_plan_line(const char *line, size_t len, bool escaped, char *out, size_t outlen);

/* Decode in[0..len): "\xNN" (two hex digits) is the byte NN, any other backslash or a NUL is
 * refused (-EINVAL); a path with newlines, carriage returns or other control bytes in its name
 * can so travel on one line. Writes a terminated string; -ENAMETOOLONG if it does not fit. */
int zc_ctl_unescape(const char *in, size_t len, char *out, size_t outlen);

/* Normalise a relative path: collapse "//" and "./", refuse absolute paths and any ".."
 * component (-EPERM), empty (-EINVAL). Writes "." for the root. Returns 0. */
int zc_ctl_path_normalise(const char *in, char *out, size_t outlen);

/* The inverse of zc_ctl_unescape: src into dst with control bytes and backslashes as \xNN (cut
 * to fit, always terminated). Returns dst. */
char *zc_ctl_escape(char *dst, size_t dstlen, const char *src);

/* Format an error reply "error <ERRNO-NAME>: <message>\n" (e.g. "error ENOENT: no such file")
 * into buf; returns the length snprintf would produce. errnum is positive. */
int zc_ctl_format_error(char *buf, size_t len, int errnum, const char *msg);

/* "ENOENT" for 2, etc.; "E?" if unknown. */
const char *zc_errno_name(int errnum);

#endif
