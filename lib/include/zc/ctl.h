/* ctl.h - the control file's command language: parse one command line into a struct, and validate
 * paths so they stay below the mount root. Pure functions, thread-safe, no state. */
#ifndef ZC_CTL_H
#define ZC_CTL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

enum zc_ctl_verb {
	ZC_CTL_RESIDENCY, /* residency [-r] PATH */
	ZC_CTL_EVICT,     /* evict [-r] PATH */
	ZC_CTL_PREFETCH,  /* prefetch [-r] PATH */
	ZC_CTL_SYNC,      /* sync PATH */
	ZC_CTL_SYNCFS,    /* syncfs */
	ZC_CTL_FLUSH,     /* flush PATH */
	ZC_CTL_STATS_RESET, /* stats reset */
};

struct zc_ctl_cmd {
	enum zc_ctl_verb verb;
	bool recursive;
	char path[PATH_MAX]; /* normalised, relative, "." for the root; "" when the verb takes none */
};

/* Parse one line (a trailing "\n" is allowed; NULs are not). Returns 0, or -EINVAL with a
 * human message in err (unknown command, missing or extra argument, bad option), or -EPERM for a
 * path that is absolute or climbs with "..". */
int zc_ctl_parse(const char *line, size_t len, struct zc_ctl_cmd *out, char *err, size_t errlen);

/* Normalise a relative path: collapse "//" and "./", refuse absolute paths and any ".."
 * component (-EPERM), empty (-EINVAL). Writes "." for the root. Returns 0. */
int zc_ctl_path_normalise(const char *in, char *out, size_t outlen);

/* Format an error reply "error <ERRNO-NAME>: <message>\n" (e.g. "error ENOENT: no such file")
 * into buf; returns the length snprintf would produce. errnum is positive. */
int zc_ctl_format_error(char *buf, size_t len, int errnum, const char *msg);

/* "ENOENT" for 2, etc.; "E?" if unknown. */
const char *zc_errno_name(int errnum);

#endif
