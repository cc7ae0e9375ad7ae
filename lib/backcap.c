/* backcap.c - see backcap.h. The probe reads only: an xattr probe by getxattr (ENODATA means
 * the filesystem has them), no scratch file, so a read-only or shared backing is never
 * touched. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "zc/backcap.h"

#define PROBE_ENTRIES 64
#define FUSE_MAGIC 0x65735546

void zc_backcap_classify(struct zc_backcap *c, const char *fstype)
{
	static const char *const remote[] = { "nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "9p",
					      "lustre", "afs", "gfs2", "ocfs2", "glusterfs", "beegfs",
					      "gpfs", NULL };

	snprintf(c->fstype, sizeof(c->fstype), "%s", fstype && *fstype ? fstype : "?");
	c->is_fuse = strcmp(c->fstype, "fuse") == 0 || strncmp(c->fstype, "fuse.", 5) == 0 ||
		     strcmp(c->fstype, "fuseblk") == 0;
	c->is_remote = c->is_fuse && strcmp(c->fstype, "fuseblk") != 0;
	for (int i = 0; remote[i] && !c->is_remote; i++)
		c->is_remote = strcmp(c->fstype, remote[i]) == 0;
	/* A FUSE daemon chooses its inode numbers; libfuse's high-level API (s3fs, sshfs) may give
	 * a file a new one (s3fs 1.90 did for most files of a plan within seconds). */
	c->stable_ino = c->is_fuse ? ZC_CAP_NO : ZC_CAP_YES;
}

int zc_backcap_mountinfo_fstype(const char *mi, int mnt_id, char *out, size_t len)
{
	for (const char *l = mi; l && *l;) {
		const char *end = strchr(l, '\n');
		size_t n = end ? (size_t)(end - l) : strlen(l);
		char *endp;
		long id = strtol(l, &endp, 10);

		if (endp != l && id == mnt_id) {
			/* "ID PARENT MAJ:MIN ROOT POINT OPTS [TAGS...] - FSTYPE SOURCE SUPEROPTS" (paths
			 * have their spaces escaped as \\040, so the first " - " is the separator) */
			const char *sep = memmem(l, n, " - ", 3), *t, *te;
			if (!sep)
				return -EINVAL;
			t = te = sep + 3;
			while (te < l + n && *te != ' ')
				te++;
			if (te == t || (size_t)(te - t) >= len)
				return -EINVAL;
			memcpy(out, t, (size_t)(te - t));
			out[te - t] = '\0';
			return 0;
		}
		l = end ? end + 1 : NULL;
	}
	return -ENOENT;
}

static void probe_fstype(int dirfd, struct zc_backcap *c, long f_type)
{
	char fstype[64] = "", *text = NULL;
	size_t cap = 0, used = 0;
	struct statx sx;
	FILE *f;

	if (statx(dirfd, "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) == 0 && (sx.stx_mask & STATX_MNT_ID) &&
	    (f = fopen("/proc/self/mountinfo", "re"))) {
		char chunk[4096];
		size_t n;
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
			char *more = realloc(text, cap = used + n + 1);
			if (!more)
				break;
			text = more;
			memcpy(text + used, chunk, n);
			used += n;
			text[used] = '\0';
		}
		fclose(f);
		if (text && zc_backcap_mountinfo_fstype(text, (int)sx.stx_mnt_id, fstype, sizeof(fstype)) < 0)
			fstype[0] = '\0';
		free(text);
	}
	if (!fstype[0] && f_type == FUSE_MAGIC)
		snprintf(fstype, sizeof(fstype), "fuse");
	zc_backcap_classify(c, fstype);
}

static void probe_handles(int dirfd, struct zc_backcap *c)
{
	struct file_handle *fh = malloc(sizeof(*fh) + 128);
	int mount_id, fd;

	c->handles = ZC_CAP_NO;
	if (!fh) {
		c->handles_err = ENOMEM;
		return;
	}
	fh->handle_bytes = 128;
	if (name_to_handle_at(dirfd, "", fh, &mount_id, AT_EMPTY_PATH) < 0) {
		c->handles_err = errno;
	} else if ((fd = open_by_handle_at(dirfd, fh, O_PATH | O_CLOEXEC)) < 0) {
		c->handles_err = errno; /* EPERM: no CAP_DAC_READ_SEARCH */
	} else {
		close(fd);
		c->handles = ZC_CAP_YES;
		/* Without FUSE_EXPORT_SUPPORT (s3fs, sshfs) a FUSE handle finds its inode only while
		 * the kernel caches it: ESTALE after the backing's inode was evicted. */
		c->handles_volatile = c->is_fuse;
	}
	free(fh);
}

static void probe_o_direct(int dirfd, struct zc_backcap *c)
{
	int dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *e;
	int seen = 0;

	c->o_direct = ZC_CAP_UNKNOWN;
	if (!d) {
		c->o_direct_err = errno;
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while (seen++ < PROBE_ENTRIES && (e = readdir(d))) {
		struct stat st;
		int fd;
		if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
			continue;
		if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		fd = openat(dirfd, e->d_name, O_RDONLY | O_DIRECT | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0) {
			close(fd);
			c->o_direct = ZC_CAP_YES;
			c->o_direct_err = 0;
			break;
		}
		c->o_direct_err = errno;
		if (errno == EINVAL || errno == EOPNOTSUPP) {
			c->o_direct = ZC_CAP_NO;
			break;
		}
	}
	closedir(d);
}

int zc_backcap_probe(int dirfd, struct zc_backcap *c)
{
	struct statfs sf;
	char v[64];

	memset(c, 0, sizeof(*c));
	zc_backcap_classify(c, NULL);
	if (fstatfs(dirfd, &sf) < 0)
		return -errno;
	probe_fstype(dirfd, c, (long)sf.f_type);
	if (fgetxattr(dirfd, "user.zcfs.mode", v, sizeof(v)) >= 0 || errno == ENODATA || errno == ERANGE) {
		c->xattrs = ZC_CAP_YES;
	} else {
		c->xattrs_err = errno;
		c->xattrs = errno == EOPNOTSUPP ? ZC_CAP_NO : ZC_CAP_UNKNOWN;
	}
	probe_handles(dirfd, c);
	probe_o_direct(dirfd, c);
	return 0;
}

static const char *cap_name(enum zc_cap v)
{
	return v == ZC_CAP_YES ? "yes" : v == ZC_CAP_NO ? "no" : "unknown";
}

static const char *err_name(int e)
{
	return e ? strerrorname_np(e) ? strerrorname_np(e) : "error" : "";
}

int zc_backcap_lines(const struct zc_backcap *c, const char *store, struct zc_backcap_line *l)
{
	int n = 0;

	memset(l, 0, sizeof(*l) * ZC_BACKCAP_NLINES);
	l[n].key = "fstype";
	snprintf(l[n].value, sizeof(l[n].value), "%s", c->fstype);
	snprintf(l[n].detail, sizeof(l[n].detail), "%s", c->fstype);
	n++;

	l[n].key = "remote";
	snprintf(l[n].value, sizeof(l[n].value), "%s", c->is_remote ? "yes" : "no");
	snprintf(l[n].detail, sizeof(l[n].detail), "%s",
		 c->is_remote ? "reads cross a network or another daemon: reading plans with a deep "
				"queue hide its latency (docs/remote.md); close-to-open coherence, no "
				"change notification from other clients"
			      : "local filesystem");
	n++;

	l[n].key = "xattrs";
	snprintf(l[n].value, sizeof(l[n].value), "%s", cap_name(c->xattrs));
	l[n].lacking = c->xattrs != ZC_CAP_YES;
	if (c->xattrs == ZC_CAP_YES)
		snprintf(l[n].detail, sizeof(l[n].detail), "user xattrs stored on the backing "
			 "(user.zcfs.mode and .cache travel with the files)");
	else
		snprintf(l[n].detail, sizeof(l[n].detail), "%s user xattrs (%s): user.zcfs.mode and .cache "
			 "are kept by zcfs (%s); other user xattrs fail as on the backing",
			 c->xattrs == ZC_CAP_NO ? "no" : "cannot tell about", err_name(c->xattrs_err),
			 store ? store : "see .zcfs/config xattr_store");
	n++;

	l[n].key = "o_direct";
	snprintf(l[n].value, sizeof(l[n].value), "%s", cap_name(c->o_direct));
	l[n].lacking = c->o_direct == ZC_CAP_NO;
	snprintf(l[n].detail, sizeof(l[n].detail), "%s",
		 c->o_direct == ZC_CAP_YES ? "O_DIRECT opens accepted (mode=direct bypasses the backing cache)"
		 : c->o_direct == ZC_CAP_NO ? "O_DIRECT refused: mode=direct falls back to pread + "
					       "POSIX_FADV_DONTNEED, counted in zcfs_fallbacks_total"
					     : "no regular file in the root to try: a refused O_DIRECT open "
					       "falls back to pread, counted in zcfs_fallbacks_total");
	n++;

	l[n].key = "handles";
	snprintf(l[n].value, sizeof(l[n].value), "%s",
		 c->handles == ZC_CAP_YES ? (c->handles_volatile ? "volatile" : "yes") : cap_name(c->handles));
	l[n].lacking = c->handles != ZC_CAP_YES || c->handles_volatile;
	if (c->handles == ZC_CAP_YES && !c->handles_volatile)
		snprintf(l[n].detail, sizeof(l[n].detail), "file handles: idle descriptors are closed and "
			 "reopened by handle");
	else if (c->handles == ZC_CAP_YES)
		snprintf(l[n].detail, sizeof(l[n].detail), "file handles of a FUSE backing resolve only "
			 "while its kernel caches the inode: a reopen of an evicted one gets ESTALE and the "
			 "kernel looks the name up again (counted in zcfs_stale_handles_total)");
	else
		snprintf(l[n].detail, sizeof(l[n].detail), "no file handles (%s): zcfs keeps one descriptor "
			 "per known inode, so RLIMIT_NOFILE caps the tree size", err_name(c->handles_err));
	n++;

	l[n].key = "inodes";
	snprintf(l[n].value, sizeof(l[n].value), "%s", c->stable_ino == ZC_CAP_NO ? "volatile" : "stable");
	l[n].lacking = c->stable_ino == ZC_CAP_NO;
	snprintf(l[n].detail, sizeof(l[n].detail), "%s",
		 c->stable_ino == ZC_CAP_NO
			 ? "the FUSE daemon behind the backing chooses inode numbers and may give a file a "
			   "new one (s3fs did within seconds): st_ino can change between stats; plans "
			   "re-identify a renumbered file when they read it; user.zcfs.* kept by zcfs are "
			   "keyed by path"
			 : "inode numbers are kept for a file's life");
	n++;
	return n;
}

int zc_backcap_format(const struct zc_backcap *c, char *buf, size_t len)
{
	struct zc_backcap_line l[ZC_BACKCAP_NLINES];
	int n = zc_backcap_lines(c, NULL, l), used = 0;

	if (len)
		buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		int w = snprintf(len > (size_t)used ? buf + used : NULL, len > (size_t)used ? len - (size_t)used : 0,
				 "backing_%s=%s\n", l[i].key, l[i].value);
		if (w < 0)
			return -EINVAL;
		used += w;
	}
	if (c->xattrs_err || c->o_direct_err || c->handles_err) {
		int w = snprintf(len > (size_t)used ? buf + used : NULL, len > (size_t)used ? len - (size_t)used : 0,
				 "backing_errors=xattrs:%d,o_direct:%d,handles:%d\n", c->xattrs_err,
				 c->o_direct_err, c->handles_err);
		if (w < 0)
			return -EINVAL;
		used += w;
	}
	return used;
}

static enum zc_cap cap_parse(const char *v, size_t n)
{
	if (n == 3 && strncmp(v, "yes", 3) == 0)
		return ZC_CAP_YES;
	if (n == 2 && strncmp(v, "no", 2) == 0)
		return ZC_CAP_NO;
	return ZC_CAP_UNKNOWN;
}

int zc_backcap_parse(const char *text, struct zc_backcap *c)
{
	bool seen = false;

	memset(c, 0, sizeof(*c));
	zc_backcap_classify(c, NULL);
	for (const char *l = text; l && *l;) {
		const char *end = strchr(l, '\n'), *eq;
		size_t n = end ? (size_t)(end - l) : strlen(l);

		eq = memchr(l, '=', n);
		if (eq && strncmp(l, "backing_", 8) == 0) {
			const char *key = l + 8, *v = eq + 1;
			size_t klen = (size_t)(eq - key), vlen = n - (size_t)(v - l);
			char tmp[64];
#define KEY(s) (klen == strlen(s) && strncmp(key, s, klen) == 0)
			if (KEY("fstype") && vlen < sizeof(tmp)) {
				memcpy(tmp, v, vlen);
				tmp[vlen] = '\0';
				zc_backcap_classify(c, tmp); /* remote/fuse/inodes from the type */
				seen = true;
			} else if (KEY("xattrs")) {
				c->xattrs = cap_parse(v, vlen);
			} else if (KEY("o_direct")) {
				c->o_direct = cap_parse(v, vlen);
			} else if (KEY("handles")) {
				c->handles_volatile = vlen == 8 && strncmp(v, "volatile", 8) == 0;
				c->handles = c->handles_volatile ? ZC_CAP_YES : cap_parse(v, vlen);
			} else if (KEY("inodes")) {
				c->stable_ino = vlen == 8 && strncmp(v, "volatile", 8) == 0 ? ZC_CAP_NO : ZC_CAP_YES;
			} else if (KEY("remote")) {
				c->is_remote = cap_parse(v, vlen) == ZC_CAP_YES;
			} else if (KEY("errors") && vlen < sizeof(tmp)) {
				memcpy(tmp, v, vlen);
				tmp[vlen] = '\0';
				if (sscanf(tmp, "xattrs:%d,o_direct:%d,handles:%d", &c->xattrs_err,
					   &c->o_direct_err, &c->handles_err) != 3)
					c->xattrs_err = c->o_direct_err = c->handles_err = 0;
			}
#undef KEY
		}
		l = end ? end + 1 : NULL;
	}
	return seen ? 0 : -ENOENT;
}
