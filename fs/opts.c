/* opts.c - command line: one table of zcfs options (name, type, field and help text, so --help
 * is generated from it and every value is parsed by one strict parser per type), fstab noise
 * discarded explicitly, and zcd_opts_check(), which validates everything before any FUSE
 * session exists. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "opts.h"
#include "zc/log.h"
#include "zc/prom.h"

enum val_kind { V_FLAG, V_STR, V_UINT, V_SIZE, V_SECONDS };

struct optdef {
	const char *name;   /* "fd_cache" (takes =VALUE unless V_FLAG) */
	enum val_kind kind;
	size_t offset;      /* field in struct zcd_opts */
	int flag;           /* V_FLAG: the value stored */
	const char *help;   /* V_FLAG entries with NULL help are aliases, not listed */
	bool to_libfuse;    /* libfuse parses it too (where built with the feature) */
};

#define OFF(field) offsetof(struct zcd_opts, field)

static const struct optdef optdefs[] = {
	{ "mode", V_STR, OFF(mode_str), 0, "default read mode: buffered|direct|mmap|splice|passthrough (splice)", false },
	{ "cache", V_STR, OFF(cache_str), 0, "default mount-side cache: keep|auto|none|drop (auto)", false },
	{ "rules", V_STR, OFF(rules_path), 0, "rules file: GLOB mode=.. cache=.. per line, first match wins", false },
	{ "state_dir", V_STR, OFF(state_dir), 0, "directory for zcfs's state file: user.zcfs.* of a backing without xattrs (memory only)", false },
	{ "ctl", V_STR, OFF(ctl_name), 0, "name of the control directory at the root (.zcfs)", false },
	{ "noctl", V_FLAG, OFF(noctl), 1, "no control directory", false },
	{ "ctl_private", V_FLAG, OFF(ctl_private), 1, "stats and config readable by the owner only", false },
	{ "entry_timeout", V_SECONDS, OFF(entry_timeout), 0, "seconds the kernel caches names where backing changes are not watched (1.0); given, everywhere", false },
	{ "attr_timeout", V_SECONDS, OFF(attr_timeout), 0, "seconds the kernel caches attributes where backing changes are not watched (1.0); given, everywhere", false },
	{ "noopen", V_FLAG, OFF(noopen), 1, "files open with no round trip (read-mostly data: no OPEN, RELEASE or FLUSH; locks are the kernel's own, control files in a side mount)", false },
	{ "ctl_dir", V_STR, OFF(ctl_dir), 0, "with noopen: the directory the control files are mounted on (/run/zcfs/ctl.PID)", false },
	{ "watch", V_STR, OFF(watch_str), 0, "how changes made to BACKING by others are seen: auto|fanotify|inotify|none (auto)", false },
	{ "watch_timeout", V_SECONDS, OFF(watch_timeout), 0, "seconds the kernel caches names and attributes where changes are watched (3600)", false },
	{ "writeback", V_FLAG, OFF(writeback), 1, "kernel write-back cache for the mount", false },
	{ "nowriteback", V_FLAG, OFF(writeback), 0, "no write-back cache (default)", false },
	{ "splice_read", V_FLAG, OFF(splice_read), 1, "receive requests by splice (zero-copy writes; costs small requests)", false },
	{ "nosplice_read", V_FLAG, OFF(splice_read), 0, "receive requests by read(2) (default)", false },
	{ "readdirplus", V_FLAG, OFF(rdplus), ZCD_RDPLUS_AUTO, "listings carry attributes while the kernel sees them used (default)", false },
	{ "noreaddirplus", V_FLAG, OFF(rdplus), ZCD_RDPLUS_OFF, "plain listings: faster find, slower stat of each entry", false },
	{ "readdirplus_always", V_FLAG, OFF(rdplus), ZCD_RDPLUS_ALWAYS, "every listing carries attributes: no lookup when a listed file is opened", false },
	{ "fd_cache", V_UINT, OFF(fd_cache), 0, "idle O_PATH descriptors kept open (RLIMIT_NOFILE/2)", false },
	{ "max_open_per_uid", V_UINT, OFF(max_open_per_uid), 0, "open files per user other than the owner and root (a quarter of the descriptors)", false },
	{ "readahead_kb", V_UINT, OFF(readahead_kb), 0, "mount read-ahead in KiB, 0 keeps the kernel's (1024)", false },
	{ "mmap_window", V_SIZE, OFF(mmap_window), 0, "mmap mode: bytes mapped at once per file, k/m/g suffixes (1g)", false },
	{ "acl", V_FLAG, OFF(acl), 1, "the kernel enforces and caches POSIX ACLs (default; implies default_permissions)", false },
	{ "noacl", V_FLAG, OFF(acl), 0, "ACLs neither enforced nor cached by the kernel: every ACL read a round trip", false },
	{ "prefetch_window", V_SIZE, OFF(prefetch_window), 0, "bytes a reading plan keeps read ahead of its job (128m, less on small machines)", false },
	{ "prefetch_depth", V_UINT, OFF(prefetch_depth), 0, "prefetch threads and a plan's reads in flight (8, 32 on a remote backing; at most 64)", false },
	{ "prefetch_files", V_UINT, OFF(prefetch_files), 0, "remote backing: files read ahead kept open for the job's open (256; 0: none)", false },
	{ "scan_prefetch", V_FLAG, OFF(scan_prefetch), 1, "read ahead in directories opened in name order (off)", false },
	{ "noscan_prefetch", V_FLAG, OFF(scan_prefetch), 0, "no read ahead without a plan (default)", false },
	{ "name", V_STR, OFF(name_label), 0, "the mount's name in statistics, their mount= label (the mount point)", false },
	{ "node", V_STR, OFF(node_label), 0, "this machine's name in statistics, their node= label (the host name)", false },
	{ "io_uring", V_FLAG, OFF(io_uring), 1, "receive requests over io_uring (libfuse >= 3.18, enable_uring)",
	  ZC_HAVE_FUSE_IO_URING },
	{ "io_uring_q_depth", V_UINT, OFF(io_uring_q_depth), 0, "io_uring queue depth per CPU (8)",
	  ZC_HAVE_FUSE_IO_URING },
};

#define NOPTS (sizeof(optdefs) / sizeof(optdefs[0]))

enum {
	KEY_HELP = 1,
	KEY_VERSION,
	KEY_DEFAULT_PERMISSIONS,
	KEY_ALLOW_OTHER,
	KEY_DISCARD,
	KEY_FOREGROUND,
	KEY_DEBUG,
	KEY_SINGLE,
	KEY_OPT_BASE = 100, /* + index into optdefs */
};

static const struct fuse_opt fixed_opts[] = {
	FUSE_OPT_KEY("default_permissions", KEY_DEFAULT_PERMISSIONS),
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("-f", KEY_FOREGROUND),
	FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("debug", KEY_DEBUG),
	FUSE_OPT_KEY("-s", KEY_SINGLE),
	/* fstab noise that mount(8) passes and FUSE would refuse */
	FUSE_OPT_KEY("defaults", KEY_DISCARD),
	FUSE_OPT_KEY("_netdev", KEY_DISCARD),
	FUSE_OPT_KEY("nofail", KEY_DISCARD),
	FUSE_OPT_KEY("noauto", KEY_DISCARD),
	FUSE_OPT_KEY("auto", KEY_DISCARD),
	FUSE_OPT_KEY("user", KEY_DISCARD),
	FUSE_OPT_KEY("users", KEY_DISCARD),
	FUSE_OPT_KEY("x-systemd.", KEY_DISCARD),
	FUSE_OPT_KEY("x-systemd.%s", KEY_DISCARD),
	FUSE_OPT_KEY("comment=%s", KEY_DISCARD),
};

#define NFIXED (sizeof(fixed_opts) / sizeof(fixed_opts[0]))

void zcd_opts_usage(const char *progname)
{
	printf("usage: %s [options] BACKING MOUNTPOINT\n\n"
	       "Mirror the directory BACKING at MOUNTPOINT, routing each read through the\n"
	       "buffered, direct, mmap, splice or passthrough path.\n\nzcfs options:\n",
	       progname);
	for (size_t i = 0; i < NOPTS; i++) {
		char name[64];
		if (!optdefs[i].help)
			continue;
		snprintf(name, sizeof(name), "%s%s", optdefs[i].name,
			 optdefs[i].kind == V_FLAG ? "" : "=VALUE");
		printf("    -o %-24s %s\n", name, optdefs[i].help);
	}
	printf("\nFUSE options:\n");
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

/* Strict parsers: the whole string must be a value of the type, within range. 0 or -EINVAL
 * with a reason in *why. */
static int parse_uint(const char *s, unsigned long long max, unsigned long long *out, const char **why)
{
	char *end;

	if (!*s || *s < '0' || *s > '9') {
		*why = "expected a non-negative integer";
		return -EINVAL;
	}
	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno || *end) {
		*why = errno ? "out of range" : "expected a non-negative integer";
		return -EINVAL;
	}
	if (*out > max) {
		*why = "out of range";
		return -EINVAL;
	}
	return 0;
}

static int parse_size(const char *s, size_t *out, const char **why)
{
	size_t n = strlen(s);
	unsigned long long v, mul = 1;
	char digits[32];

	if (n && strchr("kKmMgG", s[n - 1])) {
		char c = (char)(s[n - 1] | 0x20);
		mul = c == 'k' ? 1ull << 10 : c == 'm' ? 1ull << 20 : 1ull << 30;
		n--;
	}
	if (n == 0 || n >= sizeof(digits)) {
		*why = n ? "out of range" : "expected a size in bytes (k, m, g suffixes)";
		return -EINVAL;
	}
	memcpy(digits, s, n);
	digits[n] = '\0';
	if (parse_uint(digits, SIZE_MAX / mul, &v, why) < 0) {
		if (strcmp(*why, "out of range") != 0)
			*why = "expected a size in bytes (k, m, g suffixes)";
		return -EINVAL;
	}
	*out = (size_t)(v * mul);
	return 0;
}

static int parse_seconds(const char *s, double *out, const char **why)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	if (!*s || *end || errno == ERANGE || !isfinite(*out) || *out < 0 || *out > 1e7) {
		*why = "expected seconds, a finite number from 0 to 10000000";
		return -EINVAL;
	}
	return 0;
}

static int set_value(struct zcd_opts *o, const struct optdef *d, const char *arg)
{
	const char *val = arg + strlen(d->name) + 1, *why = "";
	void *field = (char *)o + d->offset;
	unsigned long long u;
	int rc = 0;

	switch (d->kind) {
	case V_FLAG:
		*(int *)field = d->flag;
		return 0;
	case V_STR:
		free(*(char **)field);
		*(char **)field = strdup(val);
		return *(char **)field ? 0 : -ENOMEM;
	case V_UINT:
		rc = parse_uint(val, UINT_MAX, &u, &why);
		if (rc == 0)
			*(unsigned *)field = (unsigned)u;
		break;
	case V_SIZE:
		rc = parse_size(val, (size_t *)field, &why);
		break;
	case V_SECONDS:
		rc = parse_seconds(val, (double *)field, &why);
		break;
	}
	if (rc < 0)
		fprintf(stderr, "zcfs: bad -o %s: %s\n", arg, why);
	return rc;
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct zcd_opts *o = data;

	if (key >= KEY_OPT_BASE && (size_t)(key - KEY_OPT_BASE) < NOPTS) {
		const struct optdef *d = &optdefs[key - KEY_OPT_BASE];
		return set_value(o, d, arg) < 0 ? -1 : d->to_libfuse;
	}
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (o->nonopts++ == 0) {
			o->backing = strdup(arg);
			return 0; /* ours; the second one is the mountpoint, for libfuse too */
		}
		if (o->nonopts == 2) {
			o->mountpoint = strdup(arg);
			return 1;
		}
		fprintf(stderr, "zcfs: unexpected argument '%s' (usage: zcfs [options] BACKING MOUNTPOINT)\n", arg);
		return -1;
	case KEY_HELP:
		o->show_help = 1;
		return 0;
	case KEY_VERSION:
		o->show_version = 1;
		return 0;
	case KEY_DEFAULT_PERMISSIONS:
		o->default_permissions = 1;
		return 1;
	case KEY_ALLOW_OTHER:
		o->allow_other = 1;
		return 1;
	case KEY_FOREGROUND:
		o->foreground = 1;
		return 1;
	case KEY_DEBUG:
		o->debug = 1;
		o->foreground = 1;
		return 1;
	case KEY_SINGLE:
		o->singlethread = 1;
		return 1;
	case KEY_DISCARD:
		return 0;
	default:
		return 1;
	}
}

int zcd_opts_parse(struct fuse_args *args, struct zcd_opts *opts)
{
	struct fuse_opt table[2 * NOPTS + NFIXED + 1];
	char names[NOPTS][64];
	size_t n = 0;

	/* Each option twice: "name" (a flag, or a value option given without a value, which
	 * set_value then refuses) and "name=" (any value, parsed by set_value). */
	for (size_t i = 0; i < NOPTS; i++) {
		snprintf(names[i], sizeof(names[i]), "%s=", optdefs[i].name);
		if (optdefs[i].kind == V_FLAG)
			table[n++] = (struct fuse_opt)FUSE_OPT_KEY(optdefs[i].name, (int)(KEY_OPT_BASE + i));
		else
			table[n++] = (struct fuse_opt)FUSE_OPT_KEY(names[i], (int)(KEY_OPT_BASE + i));
	}
	for (size_t i = 0; i < NFIXED; i++)
		table[n++] = fixed_opts[i];
	table[n] = (struct fuse_opt)FUSE_OPT_END;
	opts->entry_timeout = opts->attr_timeout = -1; /* not given */
	opts->acl = 1;
	opts->watch_timeout = 3600;
	opts->readahead_kb = 1024;
	opts->mmap_window = (size_t)1 << 30;
	opts->prefetch_files = 256;
	if (fuse_opt_parse(args, opts, table, opt_proc) < 0)
		return -EINVAL;
	opts->entry_timeout_set = opts->entry_timeout >= 0;
	opts->attr_timeout_set = opts->attr_timeout >= 0;
	if (!opts->entry_timeout_set)
		opts->entry_timeout = 1.0;
	if (!opts->attr_timeout_set)
		opts->attr_timeout = 1.0;
	if (opts->show_help) {
		zcd_opts_usage(args->argv[0]);
		return 1;
	}
	if (opts->show_version) {
		printf("zcfs %s\nlibfuse %s (built with %s; features: %s)\n", ZC_VERSION, fuse_pkgversion(),
		       ZC_FUSE_VERSION, ZC_FUSE_FEATURES[0] ? ZC_FUSE_FEATURES : "none");
		fuse_lowlevel_version();
		return 1;
	}
	return 0;
}

static int check_dir(const char *what, const char *path)
{
	struct stat st;

	if (!path) {
		fprintf(stderr, "zcfs: missing %s (usage: zcfs [options] BACKING MOUNTPOINT)\n", what);
		return -EINVAL;
	}
	if (stat(path, &st) < 0) {
		int e = errno;
		fprintf(stderr, "zcfs: %s '%s': %s\n", what, path, strerror(e));
		return -e;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "zcfs: %s '%s' is not a directory\n", what, path);
		return -ENOTDIR;
	}
	return 0;
}

/* Is path a mount point (listed in /proc/self/mountinfo)? */
static bool is_mountpoint(const char *real)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char mnt[PATH_MAX];
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1 && strcmp(mnt, real) == 0)
			found = true;
	}
	fclose(f);
	return found;
}

static bool path_within(const char *inner, const char *outer)
{
	size_t n = strlen(outer);
	if (strcmp(outer, "/") == 0)
		return true;
	return strncmp(inner, outer, n) == 0 && (inner[n] == '/' || inner[n] == '\0');
}

static int check_names(struct zcd_opts *o)
{
	if (o->mode_str && zc_mode_parse(o->mode_str, strlen(o->mode_str), &o->mode) < 0) {
		fprintf(stderr, "zcfs: bad -o mode=%s (expected %s)\n", o->mode_str, zc_mode_choices());
		return -EINVAL;
	}
	if (!o->mode_str)
		o->mode = ZC_MODE_SPLICE;
	if (o->cache_str && zc_cache_parse(o->cache_str, strlen(o->cache_str), &o->cache) < 0) {
		fprintf(stderr, "zcfs: bad -o cache=%s (expected %s)\n", o->cache_str, zc_cache_choices());
		return -EINVAL;
	}
	if (!o->cache_str)
		o->cache = ZC_CACHE_AUTO;
	if (o->watch_str && strcmp(o->watch_str, "auto") != 0 && strcmp(o->watch_str, "fanotify") != 0 &&
	    strcmp(o->watch_str, "inotify") != 0 && strcmp(o->watch_str, "none") != 0) {
		fprintf(stderr, "zcfs: bad -o watch=%s (expected auto, fanotify, inotify or none)\n",
			o->watch_str);
		return -EINVAL;
	}
	if (!o->ctl_name)
		o->ctl_name = strdup(".zcfs");
	if (!o->ctl_name || !o->ctl_name[0] || strchr(o->ctl_name, '/') ||
	    strcmp(o->ctl_name, ".") == 0 || strcmp(o->ctl_name, "..") == 0 || strlen(o->ctl_name) > 255) {
		fprintf(stderr, "zcfs: bad -o ctl=%s (a single file name)\n", o->ctl_name ? o->ctl_name : "");
		return -EINVAL;
	}
	return 0;
}

/* The labels every statistic carries, so the statistics of several mounts (and nodes) can be
 * scraped together: mount= (-o name=, else the mount point) and node= (-o node=, else the host
 * name). */
static int stats_labels(struct zcd_opts *o, const char *real_mnt)
{
	char host[256] = "", labels[1024] = "";

	if (!o->node_label && gethostname(host, sizeof(host) - 1) < 0)
		snprintf(host, sizeof(host), "unknown");
	if ((o->name_label && !o->name_label[0]) || (o->node_label && !o->node_label[0])) {
		fprintf(stderr, "zcfs: -o name= and -o node= need a value\n");
		return -EINVAL;
	}
	if (zc_prom_label_add(labels, sizeof(labels), "mount", o->name_label ? o->name_label : real_mnt) < 0 ||
	    zc_prom_label_add(labels, sizeof(labels), "node", o->node_label ? o->node_label : host) < 0) {
		fprintf(stderr, "zcfs: -o name= or -o node= too long (at most about 500 bytes)\n");
		return -EINVAL;
	}
	if (!o->name_label)
		o->name_label = strdup(real_mnt);
	if (!o->node_label)
		o->node_label = strdup(host);
	o->stats_labels = strdup(labels);
	return o->stats_labels && o->name_label && o->node_label ? 0 : -ENOMEM;
}

int zcd_opts_check(struct zcd_opts *o)
{
	char backing[PATH_MAX], mnt[PATH_MAX], err[512];
	int rc;

	rc = check_dir("BACKING", o->backing);
	if (rc < 0)
		return rc;
	rc = check_dir("MOUNTPOINT", o->mountpoint);
	if (rc < 0)
		return rc;
	if (!realpath(o->backing, backing) || !realpath(o->mountpoint, mnt)) {
		fprintf(stderr, "zcfs: cannot resolve paths: %s\n", strerror(errno));
		return -errno;
	}
	if (path_within(backing, mnt)) {
		fprintf(stderr, "zcfs: BACKING '%s' is inside MOUNTPOINT '%s': the mount would hide it\n",
			backing, mnt);
		return -EINVAL;
	}
	if (path_within(mnt, backing)) {
		fprintf(stderr, "zcfs: MOUNTPOINT '%s' is inside BACKING '%s': the mount would recurse into itself\n",
			mnt, backing);
		return -EINVAL;
	}
	if (is_mountpoint(mnt)) {
		fprintf(stderr, "zcfs: MOUNTPOINT '%s' is busy: something is already mounted there\n", mnt);
		return -EBUSY;
	}
	free(o->backing);
	o->backing = strdup(backing);
	if (!o->backing)
		return -ENOMEM;
	rc = stats_labels(o, mnt);
	if (rc < 0)
		return rc;
	rc = check_names(o);
	if (rc < 0)
		return rc;
	if (o->mmap_window < (1u << 20)) {
		fprintf(stderr, "zcfs: -o mmap_window must be at least 1 MiB\n");
		return -EINVAL;
	}
	if (!ZC_HAVE_FUSE_IO_URING && (o->io_uring || o->io_uring_q_depth))
		fprintf(stderr, "zcfs: warning: built with libfuse %s, which has no io_uring: requests "
				"come through /dev/fuse\n", ZC_FUSE_VERSION);
	if (o->prefetch_depth > 64) {
		fprintf(stderr, "zcfs: -o prefetch_depth must be at most 64\n");
		return -EINVAL;
	}
	if (!o->prefetch_window) {
		/* Safe on a small machine: at most 1/16 of its memory. */
		long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
		size_t sixteenth = pages > 0 && psz > 0 ? (size_t)pages * (size_t)psz / 16 : 0;
		o->prefetch_window = (size_t)128 << 20;
		if (sixteenth && sixteenth < o->prefetch_window)
			o->prefetch_window = sixteenth;
	}
	if (o->io_uring_q_depth && (o->io_uring_q_depth > 4096 || !o->io_uring)) {
		fprintf(stderr, "zcfs: -o io_uring_q_depth needs -o io_uring and a depth up to 4096\n");
		return -EINVAL;
	}
	/* The kernel refuses passthrough on a connection with a write-back cache: every open
	 * would be served by splice instead, without a word. */
	if (o->mode == ZC_MODE_PASSTHROUGH && o->writeback) {
		fprintf(stderr, "zcfs: -o mode=passthrough and -o writeback exclude each other (the kernel "
				"passes no file through on a mount with a write-back cache)\n");
		return -EINVAL;
	}
	/* Without default_permissions every permission rule would be the daemon's to enforce
	 * (search permission along the path, sticky directories, hard-link protection, ...); zcfs
	 * leaves them to the kernel, which checks the backing's own attributes (docs/architecture.md). */
	if (o->allow_other && !o->default_permissions) {
		fprintf(stderr, "zcfs: -o allow_other needs -o default_permissions: other users' access "
				"is checked by the kernel against the backing files' permissions\n");
		return -EINVAL;
	}
	/* With other users, noacl would leave the kernel checking mode bits alone while the
	 * daemon acts as root: an ACL that denies a user would not, one that grants would not. */
	if (o->allow_other && !o->acl) {
		fprintf(stderr, "zcfs: -o noacl cannot go with -o allow_other: other users' access "
				"would be checked against mode bits only, not the backing files' ACLs\n");
		return -EINVAL;
	}
	if (o->noopen && (o->mode == ZC_MODE_PASSTHROUGH || o->cache == ZC_CACHE_NONE ||
			  o->cache == ZC_CACHE_DROP || o->writeback)) {
		fprintf(stderr, "zcfs: -o noopen cannot go with %s: without an OPEN there is no reply to "
				"ask for it in\n", o->writeback ? "writeback" :
				o->mode == ZC_MODE_PASSTHROUGH ? "mode=passthrough" : "cache=none or drop");
		return -EINVAL;
	}
	if (o->state_dir) {
		char sd[PATH_MAX];
		struct stat sst;
		if (!realpath(o->state_dir, sd) || stat(sd, &sst) < 0 || !S_ISDIR(sst.st_mode)) {
			fprintf(stderr, "zcfs: -o state_dir '%s' is not a directory\n", o->state_dir);
			return -EINVAL;
		}
		free(o->state_dir);
		o->state_dir = strdup(sd);
		if (!o->state_dir)
			return -ENOMEM;
	}
	if (o->rules_path) {
		rc = zc_rules_load(o->rules_path, &o->rules, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "zcfs: %s\n", err);
			return rc;
		}
	}
	return 0;
}

char *zcd_opts_describe(const struct zcd_opts *o)
{
	char *rules = NULL, *out = NULL;

	if (zc_rules_dump(o->rules, &rules) < 0)
		return NULL;
	if (asprintf(&out,
		     "backing=%s\nmountpoint=%s\nmode=%s\ncache=%s\nrules=%s\nctl=%s\nctl_private=%d\n"
		     "entry_timeout=%g\nattr_timeout=%g\nwatch=%s\nwatch_timeout=%g\nwriteback=%d\nreaddirplus=%s\nsplice_read=%d\n"
		     "fd_cache=%u\nmax_open_per_uid=%u\nreadahead_kb=%u\nmmap_window=%zu\nacl=%d\n"
		     "default_permissions=%d\nallow_other=%d\nio_uring=%d\nio_uring_q_depth=%u\n"
		     "prefetch_window=%zu\nprefetch_depth=%u\nprefetch_files=%u\nscan_prefetch=%d\nnoopen=%d\nstats_labels=%s\n"
		     "state_dir=%s\n"
		     "# rules (first match wins per attribute)\n%s",
		     o->backing, o->mountpoint, zc_mode_name(o->mode), zc_cache_name(o->cache),
		     o->rules_path ? o->rules_path : "", o->noctl ? "" : o->ctl_name, o->ctl_private,
		     o->entry_timeout, o->attr_timeout, o->watch_str ? o->watch_str : "auto",
		     o->watch_timeout, o->writeback,
		     o->rdplus == ZCD_RDPLUS_OFF ? "off" : o->rdplus == ZCD_RDPLUS_ALWAYS ? "always" : "auto",
		     o->splice_read, o->fd_cache, o->max_open_per_uid, o->readahead_kb, o->mmap_window,
		     o->acl, o->default_permissions, o->allow_other, o->io_uring, o->io_uring_q_depth,
		     o->prefetch_window, o->prefetch_depth ? o->prefetch_depth : 8, o->prefetch_files,
		     o->scan_prefetch,
		     o->noopen, o->stats_labels ? o->stats_labels : "", o->state_dir ? o->state_dir : "",
		     rules ? rules : "") < 0)
		out = NULL;
	free(rules);
	return out;
}

void zcd_opts_free(struct zcd_opts *o)
{
	free(o->backing);
	free(o->mountpoint);
	free(o->mode_str);
	free(o->cache_str);
	free(o->rules_path);
	free(o->state_dir);
	free(o->ctl_name);
	free(o->watch_str);
	free(o->ctl_dir);
	free(o->name_label);
	free(o->node_label);
	free(o->stats_labels);
	zc_rules_free(o->rules);
}
