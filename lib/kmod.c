/* kmod.c - see zc/kmod.h. libkmod answers where /lib/modules exists; otherwise /sys/module and
 * /proc/filesystems tell whether fuse is there at all. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "config.h"
#include "zc/kmod.h"

#if ZC_HAVE_KMOD
#include <libkmod.h>
#endif
#if ZC_HAVE_ZLIB
#include <zlib.h>
#endif

const char *zc_kmod_state_name(enum zc_kmod_state st)
{
	static const char *const names[] = { "built in", "loaded", "loadable", "absent", "unknown" };
	return (unsigned)st <= ZC_KMOD_UNKNOWN ? names[st] : "unknown";
}

static bool path_exists(const char *root, const char *rel)
{
	char p[4096];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", strcmp(root, "/") ? root : "", rel);
	return stat(p, &st) == 0;
}

static bool proc_lists_fuse(const char *root)
{
	char p[4096], line[256];
	bool found = false;
	FILE *f;

	snprintf(p, sizeof(p), "%s/proc/filesystems", strcmp(root, "/") ? root : "");
	f = fopen(p, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *name = strrchr(line, '\t');
		name = name ? name + 1 : line;
		name[strcspn(name, "\n")] = '\0';
		found = strcmp(name, "fuse") == 0;
	}
	fclose(f);
	return found;
}

int zc_kmod_fuse_state(const char *root, enum zc_kmod_state *st, char *detail, size_t len)
{
	struct utsname u;
	char moddir[256];

	*st = ZC_KMOD_UNKNOWN;
	if (uname(&u) < 0)
		return -errno;
	snprintf(moddir, sizeof(moddir), "lib/modules/%s", u.release);
	if (path_exists(root, moddir)) {
#if ZC_HAVE_KMOD
		char dir[4096];
		struct kmod_ctx *ctx;
		struct kmod_module *mod = NULL;
		int rc;
		snprintf(dir, sizeof(dir), "%s/%s", strcmp(root, "/") ? root : "", moddir);
		ctx = kmod_new(dir, NULL);
		if (!ctx)
			return -ENOMEM;
		rc = kmod_module_new_from_name(ctx, "fuse", &mod);
		if (rc == 0) {
			int init = kmod_module_get_initstate(mod);
			const char *path = kmod_module_get_path(mod);
			if (init == KMOD_MODULE_BUILTIN)
				*st = ZC_KMOD_BUILTIN;
			else if (init == KMOD_MODULE_LIVE || init == KMOD_MODULE_COMING)
				*st = ZC_KMOD_LOADED;
			else if (path)
				*st = ZC_KMOD_LOADABLE;
			else
				*st = ZC_KMOD_ABSENT;
			snprintf(detail, len, "libkmod: %s%s", zc_kmod_state_name(*st),
				 path ? "" : " (no module file)");
			kmod_module_unref(mod);
		}
		kmod_unref(ctx);
		if (*st != ZC_KMOD_UNKNOWN && *st != ZC_KMOD_ABSENT)
			return 0;
#endif
	}
	/* No module directory (containers, some VMs): ask the running kernel. */
	if (path_exists(root, "sys/module/fuse")) {
		*st = path_exists(root, "sys/module/fuse/initstate") ? ZC_KMOD_LOADED : ZC_KMOD_BUILTIN;
		snprintf(detail, len, "/%s %s; /sys/module/fuse present%s", moddir,
			 path_exists(root, moddir) ? "has no fuse module" : "missing",
			 *st == ZC_KMOD_BUILTIN ? " without initstate" : "");
	} else if (proc_lists_fuse(root)) {
		*st = ZC_KMOD_BUILTIN;
		snprintf(detail, len, "/%s missing; /proc/filesystems lists fuse", moddir);
	} else {
		*st = ZC_KMOD_ABSENT;
		snprintf(detail, len, "no fuse in /%s, /sys/module or /proc/filesystems", moddir);
	}
	return 0;
}

int zc_kmod_load_fuse(void)
{
#if ZC_HAVE_KMOD
	struct kmod_ctx *ctx = kmod_new(NULL, NULL);
	struct kmod_module *mod = NULL;
	int rc;

	if (!ctx)
		return -ENOMEM;
	rc = kmod_module_new_from_name(ctx, "fuse", &mod);
	if (rc == 0) {
		rc = kmod_module_probe_insert_module(mod, 0, NULL, NULL, NULL, NULL);
		kmod_module_unref(mod);
	}
	kmod_unref(ctx);
	return rc > 0 ? -ENOENT : rc;
#else
	return -ENOTSUP;
#endif
}

/* One line of a kernel config: 1 when it settles name (val filled), else 0. */
static int config_line(const char *line, const char *name, char *val, size_t len)
{
	size_t n = strlen(name);
	const char *v;

	if (strncmp(line, "# ", 2) == 0 && strncmp(line + 2, name, n) == 0 &&
	    strncmp(line + 2 + n, " is not set", 11) == 0) {
		snprintf(val, len, "n");
		return 1;
	}
	if (strncmp(line, name, n) != 0 || line[n] != '=')
		return 0;
	v = line + n + 1;
	snprintf(val, len, "%.*s", (int)strcspn(v, "\n"), v);
	return 1;
}

int zc_kernel_config(const char *root, const char *release, const char *name, char *val, size_t len,
		     char *where, size_t wlen)
{
	const char *r = strcmp(root, "/") ? root : "";
	char p[4096], line[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/boot/config-%s", r, release);
	f = fopen(p, "re");
	if (f) {
		int found = 0;
		snprintf(where, wlen, "/boot/config-%s", release);
		while (!found && fgets(line, sizeof(line), f))
			found = config_line(line, name, val, len);
		fclose(f);
		return found ? 0 : -ENODATA;
	}
#if ZC_HAVE_ZLIB
	snprintf(p, sizeof(p), "%s/proc/config.gz", r);
	gzFile gz = gzopen(p, "rb");
	if (gz) {
		int found = 0;
		snprintf(where, wlen, "/proc/config.gz");
		while (!found && gzgets(gz, line, sizeof(line)))
			found = config_line(line, name, val, len);
		gzclose(gz);
		return found ? 0 : -ENODATA;
	}
#endif
	snprintf(where, wlen, "no /boot/config-%s%s", release,
		 ZC_HAVE_ZLIB ? " or /proc/config.gz" : " (built without zlib: /proc/config.gz unread)");
	return -ENOENT;
}
