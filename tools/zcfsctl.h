/* zcfsctl.h - shared pieces of the zcfsctl CLI: finding the zcfs mount that holds a path, talking
 * to its control directory (ctl transactions, snapshot files), parsing replies, and output helpers.
 * Single-threaded tool; functions return 0 or -errno and print nothing unless they say so. */
#ifndef ZCTL_H
#define ZCTL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "zc/stats.h" /* zc_json_string */

/* Exit codes (documented in zcfsctl(1)). */
enum {
	ZCTL_EXIT_OK = 0,
	ZCTL_EXIT_FAIL = 1,     /* the operation failed (daemon error reply, I/O error) */
	ZCTL_EXIT_USAGE = 2,    /* bad command line */
	ZCTL_EXIT_NOMOUNT = 3,  /* path is not on a zcfs mount, or the mount is not connected */
	ZCTL_EXIT_DOCTOR = 4,   /* doctor: something needed to mount is missing */
	ZCTL_EXIT_OFFPLAN = 5,  /* prefetch --plan: the plan ended off-plan (the job read in
				 * another order) */
};

/* A zcfs mount found from a path inside it. */
struct zctl_mount {
	char root[PATH_MAX];   /* the mountpoint */
	char ctl_dir[PATH_MAX + NAME_MAX + 2]; /* root + "/" + control directory name */
	char rel[PATH_MAX];    /* the path given, relative to root ("." for the root) */
};

/* Find the zcfs mount holding path. Returns 0; -ENOTCONN (mount exists but its daemon is gone),
 * -ENODEV (not on a zcfs mount, or its control directory is disabled), or another -errno from
 * resolving the path. */
int zctl_mount_find(const char *path, struct zctl_mount *m);

/* Print a one-line diagnosis for a zctl_mount_find() failure on stderr and return the exit code. */
int zctl_mount_complain(const char *path, int rc);

/* Run one ctl command; *reply gets the malloc'ed reply (NUL-terminated), or NULL when there is
 * none. Returns 0 when the reply starts with "ok", -EREMOTEIO when it is an "error ..." reply
 * (still in *reply), or -errno (-ENOTCONN: the daemon is gone). */
int zctl_ctl(const struct zctl_mount *m, const char *cmd, char **reply);
/* Run "VERB -e PATH" with rel (relative to the mount root) escaped (zctl_escape_path), so a
 * name with newlines, carriage returns or escape sequences reaches the daemon as it is. */
int zctl_ctl_path(const struct zctl_mount *m, const char *verb, const char *rel, char **reply);
/* The same for a text of several lines (a plan), written in as many writes as it takes. */
int zctl_ctl_text(const struct zctl_mount *m, const char *text, size_t len, char **reply);

/* Value of "key=" in a reply (first line that starts with it), copied into buf. Returns 0 or
 * -ENOENT. */
int zctl_reply_get(const char *reply, const char *key, char *buf, size_t len);
uint64_t zctl_reply_u64(const char *reply, const char *key);

/* Read a whole file into a malloc'ed NUL-terminated buffer. Returns 0 or -errno. */
int zctl_slurp(const char *path, char **out, size_t *len);

/* Prometheus text: value of the first sample line "name{labels} value" whose labels include every
 * pair in labels ('mode="buffered"', or several comma separated; NULL or "": any). The daemon
 * adds mount= and node= to every sample. Returns 0 or -ENOENT. */
int zctl_prom_get(const char *text, const char *name, const char *labels, double *out);

/* Write path to f with every control byte and backslash as \\xNN: the form the control file
 * takes after "-e" (commands) or "escaped=1" (plans), and safe on a terminal. */
void zctl_escape_path(FILE *f, const char *path);
/* Does path hold a byte zctl_escape_path would escape? */
bool zctl_path_needs_escape(const char *path);

/* Output helpers. */
void zctl_human_bytes(uint64_t bytes, char *buf, size_t len); /* "1.5 GiB" */
bool zctl_json_mode(void);
int zctl_term_width(void); /* of stderr/stdout when a terminal, else 80 */

/* Progress bar on stderr, only when stderr is a terminal. */
struct zctl_progress {
	bool on;
	uint64_t files_total, bytes_total, files_done, bytes_done;
	double t0, last;
	const char *verb;
};
void zctl_progress_start(struct zctl_progress *p, const char *verb, uint64_t files, uint64_t bytes);
void zctl_progress_step(struct zctl_progress *p, uint64_t bytes);
void zctl_progress_end(struct zctl_progress *p);
double zctl_now(void);

/* Subcommands: argc/argv start at the subcommand name; return an exit code. */
int zctl_cmd_xattr(int argc, char **argv);    /* mode, cache */
int zctl_cmd_effective(int argc, char **argv);
int zctl_cmd_residency(int argc, char **argv);
int zctl_cmd_cachecmd(int argc, char **argv); /* evict, prefetch, sync, flush */
int zctl_cmd_plan(int argc, char **argv);     /* prefetch --plan */
int zctl_cmd_stats(int argc, char **argv);
int zctl_cmd_doctor(int argc, char **argv);
int zctl_cmd_bench(int argc, char **argv);

/* Set by main from --json. */
extern bool zctl_opt_json;

#endif
