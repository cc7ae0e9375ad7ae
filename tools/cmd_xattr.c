/* cmd_xattr.c - zcfsctl mode / cache / effective: show or set the user.zcfs.mode and
 * user.zcfs.cache xattrs, and show the resolved choice from the virtual user.zcfs.effective. */
#include "zcfsctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "zc/mode.h"

static bool valid_value(bool is_mode, const char *s)
{
	enum zc_mode m;
	enum zc_cache c;
	return is_mode ? zc_mode_parse(s, strlen(s), &m) == 0 : zc_cache_parse(s, strlen(s), &c) == 0;
}

/* Is path on a zcfs mount? The daemon answers user.zcfs.effective on every file and directory
 * (with or without a control directory). 0, -ENODEV (not zcfs), -ENOTCONN or another -errno. */
static int on_zcfs(const char *path)
{
	char v[512];

	if (getxattr(path, "user.zcfs.effective", v, sizeof(v)) >= 0)
		return 0;
	if (errno == ENODATA || errno == ENOTSUP)
		return -ENODEV;
	return -errno;
}

static void usage_xattr(const char *what)
{
	printf("usage: zcfsctl %s [--clear] [--json] PATH... [%s]\n"
	       "Show the %s set on each PATH (the user.zcfs.%s xattr), set it to %s, or remove it\n"
	       "with --clear. Set on a directory, it applies to everything below it. PATH must be\n"
	       "on a zcfs mount.\n",
	       what, strcmp(what, "mode") == 0 ? "MODE" : "POLICY", what, what,
	       strcmp(what, "mode") == 0 ? zc_mode_choices() : zc_cache_choices());
}

int zctl_cmd_xattr(int argc, char **argv)
{
	const char *what = argv[0];
	bool is_mode = strcmp(what, "mode") == 0, clear = false;
	char name[32];
	snprintf(name, sizeof(name), "user.zcfs.%s", what);
	int first = 1;
	for (; first < argc && argv[first][0] == '-'; first++) {
		if (strcmp(argv[first], "--help") == 0 || strcmp(argv[first], "-h") == 0) {
			usage_xattr(what);
			return ZCTL_EXIT_OK;
		} else if (strcmp(argv[first], "--clear") == 0) {
			clear = true;
		} else if (strcmp(argv[first], "--json") == 0) {
			zctl_opt_json = true;
		} else if (strcmp(argv[first], "--") == 0) {
			first++;
			break;
		} else {
			fprintf(stderr, "zcfsctl %s: unknown option %s\n", what, argv[first]);
			return ZCTL_EXIT_USAGE;
		}
	}
	int last = argc;
	const char *value = NULL;
	if (!clear && argc - first >= 2 && valid_value(is_mode, argv[argc - 1])) {
		value = argv[argc - 1];
		last = argc - 1;
	}
	if (!clear && !value && argc - first >= 2 && access(argv[argc - 1], F_OK) < 0 && errno == ENOENT) {
		fprintf(stderr, "zcfsctl %s: '%s' is neither a file nor a %s (%s)\n", what, argv[argc - 1],
			is_mode ? "mode" : "cache policy",
			is_mode ? zc_mode_choices() : zc_cache_choices());
		return ZCTL_EXIT_USAGE;
	}
	if (first >= last) {
		usage_xattr(what);
		return ZCTL_EXIT_USAGE;
	}
	int status = ZCTL_EXIT_OK;
	if (zctl_opt_json && !value && !clear)
		printf("[");
	for (int i = first; i < last; i++) {
		const char *p = argv[i];
		int zc = on_zcfs(p);
		if (zc < 0) {
			if (zc == -ENOTCONN)
				status = zctl_mount_complain(p, zc);
			else if (zc == -ENODEV) {
				fprintf(stderr, "zcfsctl %s: %s: not on a zcfs mount, where user.zcfs.%s has no "
						"effect (on a backing directory: setfattr -n user.zcfs.%s)\n",
					what, p, what, what);
				status = ZCTL_EXIT_NOMOUNT;
			} else {
				fprintf(stderr, "zcfsctl %s: %s: %s\n", what, p, strerror(-zc));
				status = ZCTL_EXIT_FAIL;
			}
			continue;
		}
		if (value || clear) {
			int rc = value ? setxattr(p, name, value, strlen(value), 0) : removexattr(p, name);
			if (rc < 0 && !(clear && errno == ENODATA)) {
				fprintf(stderr, "zcfsctl %s: %s: %s%s\n", what, p, strerror(errno),
					errno == ENOTSUP ? " (the backing filesystem has no user xattrs; use a rules file)" : "");
				status = ZCTL_EXIT_FAIL;
				continue;
			}
			if (value)
				printf("%s: %s set to %s\n", p, what, value);
			else
				printf("%s: %s cleared\n", p, what);
			continue;
		}
		char v[64];
		ssize_t n = getxattr(p, name, v, sizeof(v) - 1);
		if (n < 0 && errno != ENODATA) {
			fprintf(stderr, "zcfsctl %s: %s: %s\n", what, p, strerror(errno));
			status = ZCTL_EXIT_FAIL;
			continue;
		}
		if (n >= 0)
			v[n] = '\0';
		if (zctl_opt_json) {
			printf("%s{\"path\":", i > first ? "," : "");
			zc_json_string(stdout, p);
			printf(",\"%s\":", what);
			if (n < 0)
				printf("null}");
			else {
				zc_json_string(stdout, v);
				printf("}");
			}
		} else {
			printf("%s: %s\n", p, n < 0 ? "(not set)" : v);
		}
	}
	if (zctl_opt_json && !value && !clear)
		printf("]\n");
	return status;
}

/* "mode=direct source=dir:data cache=auto source=default" -> fields. */
static void split_effective(const char *v, char *mode, char *msrc, char *cache, char *csrc, size_t len)
{
	mode[0] = msrc[0] = cache[0] = csrc[0] = '\0';
	char *copy = strdup(v), *save = NULL;
	if (!copy)
		return;
	char *last_src = NULL;
	for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (strncmp(t, "mode=", 5) == 0) {
			snprintf(mode, len, "%s", t + 5);
			last_src = msrc;
		} else if (strncmp(t, "cache=", 6) == 0) {
			snprintf(cache, len, "%s", t + 6);
			last_src = csrc;
		} else if (strncmp(t, "source=", 7) == 0 && last_src) {
			snprintf(last_src, len, "%s", t + 7);
		}
	}
	free(copy);
}

int zctl_cmd_effective(int argc, char **argv)
{
	int first = 1;
	for (; first < argc && argv[first][0] == '-'; first++) {
		if (strcmp(argv[first], "--help") == 0 || strcmp(argv[first], "-h") == 0) {
			printf("usage: zcfsctl effective [--json] PATH...\n"
			       "Show the read mode and cache policy each PATH resolves to, and where each came from:\n"
			       "xattr (its own), dir:<path> (nearest directory), rule:<file>:<line>, or default.\n");
			return ZCTL_EXIT_OK;
		} else if (strcmp(argv[first], "--json") == 0) {
			zctl_opt_json = true;
		} else {
			fprintf(stderr, "zcfsctl effective: unknown option %s\n", argv[first]);
			return ZCTL_EXIT_USAGE;
		}
	}
	if (first >= argc) {
		fprintf(stderr, "usage: zcfsctl effective [--json] PATH...\n");
		return ZCTL_EXIT_USAGE;
	}
	int status = ZCTL_EXIT_OK;
	if (zctl_opt_json)
		printf("[");
	bool any = false;
	for (int i = first; i < argc; i++) {
		char v[512], mode[128], msrc[256], cache[128], csrc[256];
		ssize_t n = getxattr(argv[i], "user.zcfs.effective", v, sizeof(v) - 1);
		if (n < 0) {
			if (errno == ENODATA || errno == ENOTSUP) {
				struct zctl_mount m;
				int rc = zctl_mount_find(argv[i], &m);
				status = rc < 0 ? zctl_mount_complain(argv[i], rc) : ZCTL_EXIT_FAIL;
				if (rc == 0)
					fprintf(stderr, "zcfsctl effective: %s: no answer from zcfs\n", argv[i]);
			} else {
				fprintf(stderr, "zcfsctl effective: %s: %s\n", argv[i], strerror(errno));
				status = errno == ENOTCONN ? ZCTL_EXIT_NOMOUNT : ZCTL_EXIT_FAIL;
			}
			continue;
		}
		v[n] = '\0';
		split_effective(v, mode, msrc, cache, csrc, 128);
		if (zctl_opt_json) {
			printf("%s{\"path\":", any ? "," : "");
			zc_json_string(stdout, argv[i]);
			printf(",\"mode\":");
			zc_json_string(stdout, mode);
			printf(",\"mode_source\":");
			zc_json_string(stdout, msrc);
			printf(",\"cache\":");
			zc_json_string(stdout, cache);
			printf(",\"cache_source\":");
			zc_json_string(stdout, csrc);
			printf("}");
		} else {
			printf("%s: mode=%s (from %s) cache=%s (from %s)\n", argv[i], mode, msrc, cache, csrc);
		}
		any = true;
	}
	if (zctl_opt_json)
		printf("]\n");
	return status;
}
