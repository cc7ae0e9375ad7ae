/* opts.c - command line: one table of zcfs options (fuse_opt templates with their help text, so
 * --help is generated from it), fstab noise discarded explicitly, and zcd_opts_check(), which
 * validates everything before any FUSE session exists. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "zc/log.h"
#include "zcfs.h"

enum {
	KEY_HELP,
	KEY_VERSION,
	KEY_DEFAULT_PERMISSIONS,
	KEY_ALLOW_OTHER,
	KEY_DISCARD,
	KEY_FOREGROUND,
	KEY_DEBUG,
	KEY_SINGLE,
};

#define ZC_OPT(templ, field, val) { templ, offsetof(struct zcd_opts, field), val }

struct optdef {
	struct fuse_opt opt;
	const char *help; /* NULL: not listed (fstab noise, aliases) */
};

static const struct optdef optdefs[] = {
	{ ZC_OPT("mode=%s", mode_str, 0), "default read mode: buffered|direct|mmap|splice (splice)" },
	{ ZC_OPT("cache=%s", cache_str, 0), "default mount-side cache: keep|auto|none|drop (auto)" },
	{ ZC_OPT("rules=%s", rules_path, 0), "rules file: GLOB mode=.. cache=.. per line, first match wins" },
	{ ZC_OPT("ctl=%s", ctl_name, 0), "name of the control directory at the root (.zcfs)" },
	{ ZC_OPT("noctl", noctl, 1), "no control directory" },
	{ ZC_OPT("ctl_private", ctl_private, 1), "stats and config readable by the owner only" },
	{ ZC_OPT("entry_timeout=%lf", entry_timeout, 0), "seconds the kernel caches names (1.0)" },
	{ ZC_OPT("attr_timeout=%lf", attr_timeout, 0), "seconds the kernel caches attributes (1.0)" },
	{ ZC_OPT("writeback", writeback, 1), "kernel write-back cache for the mount" },
	{ ZC_OPT("nowriteback", writeback, 0), "no write-back cache (default)" },
	{ ZC_OPT("splice_read", splice_read, 1), "receive requests by splice (zero-copy writes; costs small requests)" },
	{ ZC_OPT("nosplice_read", splice_read, 0), "receive requests by read(2) (default)" },
	{ ZC_OPT("readdirplus", noreaddirplus, 0), "directory listings carry attributes (default)" },
	{ ZC_OPT("noreaddirplus", noreaddirplus, 1), "plain listings: faster find, slower stat of each entry" },
	{ ZC_OPT("fd_cache=%u", fd_cache, 0), "idle O_PATH descriptors kept open (RLIMIT_NOFILE/2)" },
	{ ZC_OPT("readahead_kb=%u", readahead_kb, 0), "mount read-ahead in KiB, 0 keeps the kernel's (1024)" },
	{ ZC_OPT("mmap_window=%zu", mmap_window, 0), "mmap mode: bytes mapped at once per file (1 GiB)" },
	{ ZC_OPT("acl", acl, 1), "enforce POSIX ACLs (needs default_permissions)" },
	{ FUSE_OPT_KEY("default_permissions", KEY_DEFAULT_PERMISSIONS), NULL },
	{ FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER), NULL },
	{ FUSE_OPT_KEY("-h", KEY_HELP), NULL },
	{ FUSE_OPT_KEY("--help", KEY_HELP), NULL },
	{ FUSE_OPT_KEY("-V", KEY_VERSION), NULL },
	{ FUSE_OPT_KEY("--version", KEY_VERSION), NULL },
	{ FUSE_OPT_KEY("-f", KEY_FOREGROUND), NULL },
	{ FUSE_OPT_KEY("-d", KEY_DEBUG), NULL },
	{ FUSE_OPT_KEY("debug", KEY_DEBUG), NULL },
	{ FUSE_OPT_KEY("-s", KEY_SINGLE), NULL },
	/* fstab noise that mount(8) passes and FUSE would refuse */
	{ FUSE_OPT_KEY("defaults", KEY_DISCARD), NULL },
	{ FUSE_OPT_KEY("_netdev", KEY_DISCARD), NULL },
	{ FUSE_OPT_KEY("nofail", KEY_DISCARD), NULL },
	{ FUSE_OPT_KEY("noauto", KEY_DISCARD), NULL },
	{ FUSE_OPT_KEY("auto", KEY_DISCARD), NULL },
	{ FUSE_OPT_KEY("user", KEY_DISCARD), NULL },
	{ FUSE_OPT_KEY("users", KEY_DISCARD), NULL },
	{ FUSE_OPT_KEY("x-systemd.", KEY_DISCARD), NULL },
	{ FUSE_OPT_KEY("x-systemd.%s", KEY_DISCARD), NULL },
	{ FUSE_OPT_KEY("comment=%s", KEY_DISCARD), NULL },
};

#define NOPTS (sizeof(optdefs) / sizeof(optdefs[0]))

void zcd_opts_usage(const char *progname)
{
	printf("usage: %s [options] BACKING MOUNTPOINT\n\n"
	       "Mirror the directory BACKING at MOUNTPOINT, routing each read through the\n"
	       "buffered, direct, mmap or splice path.\n\nzcfs options:\n",
	       progname);
	for (size_t i = 0; i < NOPTS; i++) {
		char name[64];
		const char *t = optdefs[i].opt.templ;
		const char *pct = strchr(t, '%');
		if (!optdefs[i].help)
			continue;
		snprintf(name, sizeof(name), "%.*s%s", pct ? (int)(pct - t) : (int)strlen(t), t,
			 pct ? "VALUE" : "");
		printf("    -o %-24s %s\n", name, optdefs[i].help);
	}
	printf("\nFUSE options:\n");
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct zcd_opts *o = data; /* fuse_opt_parse passes the same pointer the offsets use */

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
	struct fuse_opt table[NOPTS + 1];

	for (size_t i = 0; i < NOPTS; i++)
		table[i] = optdefs[i].opt;
	table[NOPTS] = (struct fuse_opt)FUSE_OPT_END;
	opts->entry_timeout = 1.0;
	opts->attr_timeout = 1.0;
	opts->readahead_kb = 1024;
	opts->mmap_window = (size_t)1 << 30;
	if (fuse_opt_parse(args, opts, table, opt_proc) < 0)
		return -EINVAL;
	if (opts->show_help) {
		zcd_opts_usage(args->argv[0]);
		return 1;
	}
	if (opts->show_version) {
		printf("zcfs %s\n", ZC_VERSION);
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

	if (o->mode_str && zc_mode_parse(o->mode_str, strlen(o->mode_str), &o->mode) < 0) {
		fprintf(stderr, "zcfs: bad -o mode=%s (expected buffered, direct, mmap or splice)\n", o->mode_str);
		return -EINVAL;
	}
	if (!o->mode_str)
		o->mode = ZC_MODE_SPLICE;
	if (o->cache_str && zc_cache_parse(o->cache_str, strlen(o->cache_str), &o->cache) < 0) {
		fprintf(stderr, "zcfs: bad -o cache=%s (expected keep, auto, none or drop)\n", o->cache_str);
		return -EINVAL;
	}
	if (!o->cache_str)
		o->cache = ZC_CACHE_AUTO;
	if (o->entry_timeout < 0 || o->attr_timeout < 0) {
		fprintf(stderr, "zcfs: timeouts must not be negative\n");
		return -EINVAL;
	}
	if (o->mmap_window < (1u << 20)) {
		fprintf(stderr, "zcfs: -o mmap_window must be at least 1 MiB\n");
		return -EINVAL;
	}
	if (o->acl && !o->default_permissions) {
		fprintf(stderr, "zcfs: -o acl needs -o default_permissions\n");
		return -EINVAL;
	}
	if (!o->ctl_name)
		o->ctl_name = strdup(".zcfs");
	if (!o->ctl_name[0] || strchr(o->ctl_name, '/') || strcmp(o->ctl_name, ".") == 0 ||
	    strcmp(o->ctl_name, "..") == 0 || strlen(o->ctl_name) > 255) {
		fprintf(stderr, "zcfs: bad -o ctl=%s (a single file name)\n", o->ctl_name);
		return -EINVAL;
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
		     "entry_timeout=%g\nattr_timeout=%g\nwriteback=%d\nreaddirplus=%d\nsplice_read=%d\nfd_cache=%u\nreadahead_kb=%u\n"
		     "mmap_window=%zu\nacl=%d\ndefault_permissions=%d\nallow_other=%d\n"
		     "# rules (first match wins per attribute)\n%s",
		     o->backing, o->mountpoint, zc_mode_name(o->mode), zc_cache_name(o->cache),
		     o->rules_path ? o->rules_path : "", o->noctl ? "" : o->ctl_name, o->ctl_private,
		     o->entry_timeout, o->attr_timeout, o->writeback, !o->noreaddirplus, o->splice_read, o->fd_cache, o->readahead_kb,
		     o->mmap_window, o->acl, o->default_permissions, o->allow_other,
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
	free(o->ctl_name);
	zc_rules_free(o->rules);
}
