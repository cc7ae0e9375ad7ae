/* cmd_doctor.c - zcfsctl doctor: what this machine's FUSE setup can and cannot do, one check per
 * line with ok / warning / fail and a fix. Features are probed, not inferred from versions.
 * --root points every system path at a fake tree (for tests). */
#include "zcfsctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/xattr.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "config.h"
#include "zc/backcap.h"
#include "zc/fanev.h"
#include "zc/kmod.h"

enum level { OK, WARN, FAIL };
static const char *level_name[] = {"ok", "warning", "fail"};

struct doctor {
	const char *root; /* "" for the real system */
	int fails, warns, n;
};

static void report(struct doctor *d, enum level lv, const char *check, const char *fix, const char *fmt, ...)
{
	char detail[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (lv == FAIL)
		d->fails++;
	if (lv == WARN)
		d->warns++;
	if (zctl_opt_json) {
		printf("%s{\"check\":", d->n ? "," : "");
		zc_json_string(stdout, check);
		printf(",\"status\":\"%s\",\"detail\":", level_name[lv]);
		zc_json_string(stdout, detail);
		printf(",\"fix\":");
		if (fix && lv != OK)
			zc_json_string(stdout, fix);
		else
			printf("null");
		printf("}");
	} else {
		printf("%-7s %-14s %s\n", level_name[lv], check, detail);
		if (fix && lv != OK)
			printf("%-7s %-14s fix: %s\n", "", "", fix);
	}
	d->n++;
}

static void sys_path(const struct doctor *d, const char *p, char *out, size_t len)
{
	snprintf(out, len, "%s%s", d->root, p);
}

static int read_small(const struct doctor *d, const char *p, char *buf, size_t len)
{
	char path[PATH_MAX];
	sys_path(d, p, path, sizeof(path));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	buf[n] = '\0';
	return (int)n;
}

static void check_dev_fuse(struct doctor *d)
{
	char path[PATH_MAX];
	struct stat st;
	sys_path(d, "/dev/fuse", path, sizeof(path));
	if (stat(path, &st) < 0) {
		report(d, FAIL, "/dev/fuse", "load the fuse module (modprobe fuse) or create the node: "
		       "mknod -m 0666 /dev/fuse c 10 229", "%s: %s", path, strerror(errno));
		return;
	}
	if (!S_ISCHR(st.st_mode)) {
		report(d, FAIL, "/dev/fuse", "remove it and create the device: mknod -m 0666 /dev/fuse c 10 229",
		       "%s is not a character device", path);
		return;
	}
	int fd = d->root[0] ? -1 : open(path, O_RDWR | O_CLOEXEC);
	int e = errno;
	if (!d->root[0] && fd < 0) {
		report(d, FAIL, "/dev/fuse", "check the device's permissions and that this container may use it",
		       "character device %u:%u mode %04o, but open(O_RDWR) fails: %s", major(st.st_rdev),
		       minor(st.st_rdev), st.st_mode & 07777, strerror(e));
		return;
	}
	if (fd >= 0)
		close(fd);
	bool world = (st.st_mode & 0006) == 0006;
	report(d, world ? OK : WARN, "/dev/fuse", "chmod 0666 /dev/fuse so users other than root can mount",
	       "character device %u:%u, mode %04o%s", major(st.st_rdev), minor(st.st_rdev),
	       st.st_mode & 07777, world ? "" : " (only root can open it)");
}

static void check_module(struct doctor *d)
{
	enum zc_kmod_state st;
	char detail[512];
	int rc = zc_kmod_fuse_state(d->root[0] ? d->root : "/", &st, detail, sizeof(detail));
	if (rc < 0) {
		report(d, WARN, "fuse module", NULL, "could not tell: %s", strerror(-rc));
		return;
	}
	switch (st) {
	case ZC_KMOD_BUILTIN:
	case ZC_KMOD_LOADED:
		report(d, OK, "fuse module", NULL, "%s (%s)", zc_kmod_state_name(st), detail);
		break;
	case ZC_KMOD_LOADABLE:
		report(d, WARN, "fuse module", "modprobe fuse (zcfs loads it itself when run as root)",
		       "%s, not loaded (%s)", zc_kmod_state_name(st), detail);
		break;
	case ZC_KMOD_ABSENT:
		report(d, FAIL, "fuse module", "install a kernel with CONFIG_FUSE_FS (Debian: linux-image-*)",
		       "%s (%s)", zc_kmod_state_name(st), detail);
		break;
	default:
		report(d, WARN, "fuse module", NULL, "unknown (%s)", detail);
	}
	struct utsname u;
	char mods[PATH_MAX], rel[300];
	struct stat mst;
	uname(&u);
	snprintf(rel, sizeof(rel), "/lib/modules/%s", u.release);
	sys_path(d, rel, mods, sizeof(mods));
	if (stat(mods, &mst) < 0)
		report(d, WARN, "modules", "none needed while fuse is built in or loaded; otherwise install "
		       "the kernel's modules package", "%s missing: libkmod cannot load modules here", mods);
	else
		report(d, OK, "modules", NULL, "%s present", mods);
	char fs[8192];
	if (read_small(d, "/proc/filesystems", fs, sizeof(fs)) < 0 || !strstr(fs, "\tfuse\n"))
		report(d, st == ZC_KMOD_ABSENT ? FAIL : WARN, "filesystems", "modprobe fuse",
		       "/proc/filesystems does not list fuse");
	else
		report(d, OK, "filesystems", NULL, "/proc/filesystems lists fuse");
}

static void check_fusermount(struct doctor *d)
{
	static const char *dirs[] = {"/usr/bin", "/bin", "/usr/local/bin", "/usr/sbin", "/sbin"};
	char path[PATH_MAX];
	struct stat st;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s%s/fusermount3", d->root, dirs[i]);
		if (stat(path, &st) == 0) {
			bool suid = (st.st_mode & S_ISUID) && st.st_uid == 0;
			report(d, suid ? OK : WARN, "fusermount3", "chmod u+s on it (or reinstall the fuse3 package)",
			       "%s%s", path, suid ? ", setuid root" : " is not setuid root: only root can mount");
			return;
		}
	}
	report(d, getuid() == 0 && !d->root[0] ? WARN : FAIL, "fusermount3", "apt-get install fuse3",
	       "not found (root can still mount, but users cannot, and fusermount3 -u is the usual unmount)");
}

static void check_fuse_conf(struct doctor *d)
{
	char buf[8192];
	if (read_small(d, "/etc/fuse.conf", buf, sizeof(buf)) < 0) {
		report(d, WARN, "fuse.conf", "apt-get install fuse3 (it ships /etc/fuse.conf)",
		       "/etc/fuse.conf missing: users cannot mount with -o allow_other");
		return;
	}
	bool allow = false;
	for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
		l += strspn(l, " \t");
		if (strncmp(l, "user_allow_other", 16) == 0)
			allow = true;
	}
	report(d, allow ? OK : WARN, "fuse.conf", "uncomment user_allow_other in /etc/fuse.conf",
	       allow ? "user_allow_other is set: users may mount with -o allow_other"
		     : "user_allow_other is not set: only root may mount with -o allow_other");
}

static void check_kernel(struct doctor *d)
{
	struct utsname u;
	uname(&u);
	report(d, OK, "kernel", NULL, "%s %s %s", u.sysname, u.release, u.machine);

	char buf[64];
	if (read_small(d, "/proc/sys/fs/fuse/max_pages_limit", buf, sizeof(buf)) > 0)
		report(d, OK, "max_pages", NULL, "FUSE requests of up to %ld pages (%ld KiB) allowed",
		       strtol(buf, NULL, 10), strtol(buf, NULL, 10) * 4);
	else
		report(d, OK, "max_pages", NULL, "no /proc/sys/fs/fuse/max_pages_limit: the kernel's fixed "
		       "limit of 256 pages (1 MiB) per request applies");

	/* Spliced read replies go through a pipe; a 1 MiB request needs a 1 MiB pipe. */
	long max = 0;
	if (read_small(d, "/proc/sys/fs/pipe-max-size", buf, sizeof(buf)) > 0)
		max = strtol(buf, NULL, 10);
	bool big = max >= 1048576 || (getuid() == 0 && !d->root[0]);
	report(d, big ? OK : WARN, "splice", "sysctl fs.pipe-max-size=1048576 (or run zcfs as root)",
	       "pipe-max-size %ld bytes: spliced replies up to %s; zcfs sizes its requests to fit", max,
	       big ? "1 MiB" : "the pipe size");
#if ZC_HAVE_STATX_DIOALIGN
	struct statx sx;
	char probe[PATH_MAX];
	/* Directories never report it; a regular file on the root filesystem does where supported. */
	sys_path(d, "/proc/self/exe", probe, sizeof(probe));
	if (statx(AT_FDCWD, probe, 0, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN))
		report(d, OK, "dioalign", NULL, "statx reports O_DIRECT alignment (STATX_DIOALIGN)");
	else
		report(d, OK, "dioalign", NULL, "statx does not report O_DIRECT alignment here; zcfs uses the "
		       "device's logical block size");
#else
	report(d, WARN, "dioalign", "rebuild zcfs against newer kernel headers",
	       "built without STATX_DIOALIGN: zcfs uses the logical block size");
#endif
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	report(d, rl.rlim_max >= 4096 ? OK : WARN, "nofile", "raise the hard RLIMIT_NOFILE (limits.conf, systemd LimitNOFILE=)",
	       "descriptor limit soft %llu hard %llu; zcfs keeps at most half of the hard limit as cached "
	       "descriptors, so dataset size is not limited by it", (unsigned long long)rl.rlim_cur,
	       (unsigned long long)rl.rlim_max);
}

/* What the build and the kernel give mode=passthrough and -o io_uring. Never a failure: without
 * them zcfs serves passthrough by splice and talks to the kernel through /dev/fuse reads. */
static void check_features(struct doctor *d)
{
	static const char rebuild[] = "build zcfs against libfuse >= 3.18 (tools/fuse-setup.sh builds it "
				      "from Debian's fuse3 source package)";
	char val[64], where[PATH_MAX], buf[64];
	struct utsname u;
	int rc;

	report(d, ZC_HAVE_FUSE_PASSTHROUGH ? OK : WARN, "libfuse", rebuild,
	       "built against libfuse %s (%s)%s", ZC_FUSE_VERSION,
	       ZC_FUSE_FEATURES[0] ? ZC_FUSE_FEATURES : "no optional features",
	       ZC_HAVE_FUSE_PASSTHROUGH ? "" : ": mode=passthrough is served by splice, no -o io_uring");
	uname(&u);
	rc = zc_kernel_config(d->root[0] ? d->root : "/", u.release, "CONFIG_FUSE_PASSTHROUGH", val,
			      sizeof(val), where, sizeof(where));
	if (rc == 0 && strcmp(val, "y") == 0)
		report(d, getuid() == 0 ? OK : WARN, "passthrough",
		       "run zcfs as root: the kernel lets only a daemon with CAP_SYS_ADMIN pass files through",
		       "the kernel passes files through (CONFIG_FUSE_PASSTHROUGH=y in %s)%s", where,
		       getuid() == 0 ? "" : "; this user lacks CAP_SYS_ADMIN: opens fall back to splice (EPERM)");
	else if (rc == 0)
		report(d, WARN, "passthrough", "a kernel built with CONFIG_FUSE_PASSTHROUGH=y (6.9 or later)",
		       "CONFIG_FUSE_PASSTHROUGH=%s in %s: mode=passthrough is served by splice", val, where);
	else
		report(d, WARN, "passthrough", NULL, "could not tell (%s: %s); kernels from 6.9 may have it, "
		       "and zcfs falls back to splice where they do not", where, strerror(-rc));

	if (read_small(d, "/sys/module/fuse/parameters/enable_uring", buf, sizeof(buf)) > 0) {
		bool on = buf[0] == 'Y' || buf[0] == '1';
		report(d, on ? OK : WARN, "io_uring",
		       "echo Y > /sys/module/fuse/parameters/enable_uring (as root; fuse.enable_uring=1 on the "
		       "kernel command line keeps it), then mount with -o io_uring",
		       "the kernel has FUSE over io_uring, %s", on ? "enabled: -o io_uring works"
								 : "disabled (enable_uring=N): -o io_uring uses /dev/fuse reads");
	} else {
		rc = zc_kernel_config(d->root[0] ? d->root : "/", u.release, "CONFIG_FUSE_IO_URING", val,
				      sizeof(val), where, sizeof(where));
		report(d, WARN, "io_uring", "a kernel built with CONFIG_FUSE_IO_URING=y (6.14 or later)",
		       "no /sys/module/fuse/parameters/enable_uring (CONFIG_FUSE_IO_URING %s): -o io_uring "
		       "uses /dev/fuse reads", rc == 0 ? val : "not known");
	}
	if (read_small(d, "/proc/sys/kernel/io_uring_disabled", buf, sizeof(buf)) > 0 && buf[0] == '2')
		report(d, WARN, "io_uring", "sysctl kernel.io_uring_disabled=0",
		       "kernel.io_uring_disabled=2: io_uring is off for every process");
}

/* A real O_DIRECT read of a scratch file (O_TMPFILE, never visible): settles what an open alone
 * could not tell. Returns ZC_CAP_UNKNOWN when no scratch file can be made there. */
static enum zc_cap scratch_o_direct(const char *dir, int *err)
{
	enum zc_cap v = ZC_CAP_UNKNOWN;
	void *buf = NULL;
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0)
		return v;
	if (posix_memalign(&buf, 4096, 4096) == 0) {
		char self[64];
		memset(buf, 'z', 4096);
		snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
		if (pwrite(fd, buf, 4096, 0) == 4096 && fsync(fd) == 0) {
			int dfd = open(self, O_RDONLY | O_DIRECT | O_CLOEXEC);
			ssize_t n = dfd >= 0 ? pread(dfd, buf, 4096, 0) : -1;
			*err = n == 4096 ? 0 : errno;
			v = n == 4096 ? ZC_CAP_YES : ZC_CAP_NO;
			if (dfd >= 0)
				close(dfd);
		}
		free(buf);
	}
	close(fd);
	return v;
}

/* The backing's capabilities (lib/backcap): of a zcfs mount point, what its daemon found at
 * mount (from its config file); of any other directory, probed now. */
/* How changes made to the backing by other processes reach the mount (fs/watch.c), and with
 * it whether names and attributes can be cached long and files opened without a round trip. */
#define ADVICE "for a dataset read through the mount: zcfs -o noopen,ro (reopening a cached file " \
	       "costs no round trip; docs/architecture.md)"
static void check_watch(struct doctor *d, const char *dir, bool mounted, const char *watching,
			bool noopen)
{
	const char *how;
	struct statfs sf;

	if (mounted) {
		bool none = !watching[0] || strncmp(watching, "none", 4) == 0;
		report(d, none ? WARN : OK, "watch", none ? "none possible: see docs/remote.md" : NULL,
		       "%s", watching[0] ? watching : "not shown (an older daemon)");
		if (!none)
			report(d, OK, "noopen", NULL, "%s", noopen ? "in effect: files open without a round "
			       "trip" : "not in effect (each open costs OPEN and RELEASE); " ADVICE);
		return;
	}
	if (statfs(dir, &sf) < 0 || !zc_fs_is_local((unsigned long)sf.f_type)) {
		report(d, WARN, "watch", "none possible: see docs/remote.md",
		       "%s is not on a local filesystem: changes made elsewhere cannot be reported, "
		       "names and attributes are cached for 1 s (-o entry_timeout, attr_timeout)", dir);
		return;
	}
	how = geteuid() == 0 ? "fanotify (a filesystem mark; as root)"
			     : "inotify (a daemon without root; one watch per directory, within "
			       "fs.inotify.max_user_watches)";
	report(d, OK, "watch", NULL, "%s: changes by other processes are reported, names and "
	       "attributes are cached for an hour (-o watch_timeout)", how);
	report(d, OK, "noopen", NULL, "possible on this backing; " ADVICE);
}

static void check_backing(struct doctor *d, const char *dir)
{
	static const char *const check_of[] = { "fstype", "remote", "xattr", "o_direct", "handles", "inodes" };
	struct zc_backcap_line lines[ZC_BACKCAP_NLINES];
	char ctl[256], path[PATH_MAX], store[PATH_MAX] = "", watching[512] = "", *text = NULL;
	struct zc_backcap cap;
	struct stat st;
	bool mounted = false, noopen = false;
	ssize_t n;

	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		report(d, FAIL, "backing", "give an existing directory (a backing directory or a zcfs mount point)",
		       "%s: %s", dir, errno ? strerror(errno) : "not a directory");
		return;
	}
	n = getxattr(dir, "user.zcfs.ctl", ctl, sizeof(ctl) - 1);
	if (n > 0) {
		ctl[n] = '\0';
		snprintf(path, sizeof(path), "%s/%s/config", dir, ctl);
		if (zctl_slurp(path, &text, NULL) == 0 && zc_backcap_parse(text, &cap) == 0) {
			const char *s = strstr(text, "\nxattr_store=");
			mounted = true;
			if (s)
				sscanf(s + 13, "%4095[^\n]", store);
			s = strstr(text, "\nwatching=");
			if (s)
				sscanf(s + 10, "%511[^\n]", watching);
			noopen = strstr(text, "\nnoopen=1\n") != NULL;
		}
		free(text);
	}
	if (mounted) {
		report(d, OK, "backing", NULL, "%s is a zcfs mount: its backing as probed at mount", dir);
	} else {
		int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		int rc = fd < 0 ? -errno : zc_backcap_probe(fd, &cap);
		if (fd >= 0)
			close(fd);
		if (rc < 0) {
			report(d, FAIL, "backing", "give a directory you can read", "%s: %s", dir, strerror(-rc));
			return;
		}
		report(d, OK, "backing", NULL, "%s is a directory", dir);
		if (cap.o_direct == ZC_CAP_UNKNOWN)
			cap.o_direct = scratch_o_direct(dir, &cap.o_direct_err);
	}
	int k = zc_backcap_lines(&cap, store[0] ? store : NULL, lines);
	for (int i = 0; i < k; i++)
		report(d, lines[i].lacking ? WARN : OK, check_of[i],
		       lines[i].lacking ? "none needed: zcfs works around it as said (docs/remote.md)" : NULL,
		       "%s: %s", lines[i].value, lines[i].detail);
	check_watch(d, dir, mounted, watching, noopen);
}

int zctl_cmd_doctor(int argc, char **argv)
{
	struct doctor d = {.root = ""};
	const char *backing = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: zcfsctl doctor [--json] [--root DIR] [BACKING|MOUNTPOINT]\n"
			       "Check what this machine's FUSE setup can do: /dev/fuse, the fuse module (libkmod),\n"
			       "fusermount3, /etc/fuse.conf, kernel limits and features (passthrough, io_uring), the\n"
			       "libfuse zcfs was built against, and what BACKING's filesystem can do (user xattrs,\n"
			       "O_DIRECT, file handles, stable inode numbers, remote); of a zcfs MOUNTPOINT, what its\n"
			       "daemon found at mount. Exit 0 when nothing needed to mount is missing,\n"
			       "4 otherwise. --root DIR reads /dev, /proc, /sys, /etc below DIR (for testing).\n");
			return ZCTL_EXIT_OK;
		} else if (strcmp(argv[i], "--json") == 0) {
			zctl_opt_json = true;
		} else if (strcmp(argv[i], "--root") == 0 && i + 1 < argc) {
			d.root = argv[++i];
			if (strcmp(d.root, "/") == 0)
				d.root = "";
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "zcfsctl doctor: unknown option %s\n", argv[i]);
			return ZCTL_EXIT_USAGE;
		} else {
			backing = argv[i];
		}
	}
	if (zctl_opt_json)
		printf("{\"checks\":[");
	check_dev_fuse(&d);
	check_module(&d);
	check_fusermount(&d);
	check_fuse_conf(&d);
	check_kernel(&d);
	check_features(&d);
	if (backing)
		check_backing(&d, backing);
	if (zctl_opt_json)
		printf("],\"fails\":%d,\"warnings\":%d,\"can_mount\":%s}\n", d.fails, d.warns,
		       d.fails ? "false" : "true");
	else
		printf("%s: %d failed, %d warnings\n", d.fails ? "cannot mount" : "ready to mount", d.fails, d.warns);
	return d.fails ? ZCTL_EXIT_DOCTOR : ZCTL_EXIT_OK;
}
