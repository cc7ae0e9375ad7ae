/* zctl_common.c - mount discovery, ctl transactions and output helpers for zcfsctl. */
#include "zcfsctl.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "zc/cleanup.h"

bool zctl_opt_json;

double zctl_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Make path absolute and collapse ".", ".." and "//" lexically (used when realpath cannot run
 * because the mount is dead). */
static int absolutise(const char *path, char *out, size_t len)
{
	char buf[PATH_MAX * 2];
	if (path[0] == '/') {
		snprintf(buf, sizeof(buf), "%s", path);
	} else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		snprintf(buf, sizeof(buf), "%s/%s", cwd, path);
	}
	size_t o = 0;
	char *save = NULL;
	out[0] = '\0';
	for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (strcmp(c, ".") == 0)
			continue;
		if (strcmp(c, "..") == 0) {
			char *slash = strrchr(out, '/');
			o = slash ? (size_t)(slash - out) : 0;
			out[o] = '\0';
			continue;
		}
		size_t cl = strlen(c);
		if (o + cl + 2 > len)
			return -ENAMETOOLONG;
		out[o++] = '/';
		memcpy(out + o, c, cl + 1);
		o += cl;
	}
	if (o == 0)
		snprintf(out, len, "/");
	return 0;
}

/* Decode mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] && r[3]) {
			*w++ = (char)(((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

static bool is_prefix_dir(const char *mnt, const char *path)
{
	size_t n = strlen(mnt);
	if (strcmp(mnt, "/") == 0)
		return true;
	return strncmp(mnt, path, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* Longest mount point containing abs; fstype receives its type. */
static int mount_of(const char *abs, char *root, size_t rlen, char *fstype, size_t flen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	char *line = NULL;
	size_t cap = 0, best = 0;
	while (getline(&line, &cap, f) > 0) {
		char mp[PATH_MAX], type[256];
		/* id parent major:minor root mountpoint options [optional...] - type source superopts */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		char *dash = strstr(line, " - ");
		if (!dash || sscanf(dash + 3, "%255s", type) != 1)
			continue;
		unescape(mp);
		size_t n = strlen(mp);
		if (is_prefix_dir(mp, abs) && n >= best) {
			best = n;
			snprintf(root, rlen, "%s", mp);
			snprintf(fstype, flen, "%s", type);
		}
	}
	free(line);
	fclose(f);
	return best ? 0 : -ENOENT;
}

int zctl_mount_find(const char *path, struct zctl_mount *m)
{
	char abs[PATH_MAX], fstype[256];
	if (!realpath(path, abs)) {
		int e = errno;
		if (e != ENOTCONN)
			return -e;
		int rc = absolutise(path, abs, sizeof(abs));
		if (rc < 0)
			return rc;
	}
	int rc = mount_of(abs, m->root, sizeof(m->root), fstype, sizeof(fstype));
	if (rc < 0)
		return rc;
	if (strcmp(fstype, "fuse.zcfs") != 0 && strcmp(fstype, "fuse") != 0)
		return -ENODEV;
	struct stat st;
	if (stat(m->root, &st) < 0)
		return -errno; /* ENOTCONN for a dead daemon */
	char name[NAME_MAX + 1];
	ssize_t n = getxattr(m->root, "user.zcfs.ctl", name, sizeof(name) - 1);
	if (n < 0)
		return errno == ENOTCONN ? -ENOTCONN : -ENODEV;
	name[n] = '\0';
	snprintf(m->ctl_dir, sizeof(m->ctl_dir), "%s/%s", strcmp(m->root, "/") ? m->root : "", name);
	const char *r = abs + (strcmp(m->root, "/") ? strlen(m->root) : 0);
	while (*r == '/')
		r++;
	snprintf(m->rel, sizeof(m->rel), "%s", *r ? r : ".");
	return 0;
}

int zctl_mount_complain(const char *path, int rc)
{
	switch (-rc) {
	case ENOTCONN:
		fprintf(stderr, "zcfsctl: %s: mount not connected (the zcfs daemon has exited); "
				"recover with: fusermount3 -uz MOUNTPOINT\n", path);
		return ZCTL_EXIT_NOMOUNT;
	case ENODEV:
		fprintf(stderr, "zcfsctl: %s: not on a zcfs mount with a control directory "
				"(mount it with zcfs, without -o noctl)\n", path);
		return ZCTL_EXIT_NOMOUNT;
	default:
		fprintf(stderr, "zcfsctl: %s: %s\n", path, strerror(-rc));
		return ZCTL_EXIT_FAIL;
	}
}

/* Read fd to EOF into a malloc'ed NUL-terminated buffer. Returns 0 or -errno. */
static int read_to_end(int fd, size_t cap, char **out, size_t *lenp)
{
	size_t len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(buf);
			return -e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*out = buf;
	if (lenp)
		*lenp = len;
	return 0;
}

int zctl_slurp(const char *path, char **out, size_t *lenp)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return read_to_end(fd, 65536, out, lenp);
}

int zctl_ctl_text(const struct zctl_mount *m, const char *text, size_t len, char **reply)
{
	char path[sizeof(m->ctl_dir) + 8];
	*reply = NULL;
	snprintf(path, sizeof(path), "%s/ctl", m->ctl_dir);
	_cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (size_t done = 0; done < len;) {
		size_t chunk = len - done > (256u << 10) ? 256u << 10 : len - done;
		ssize_t w = write(fd, text + done, chunk);
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		done += (size_t)w;
	}
	char *buf;
	int rc = read_to_end(fd, 4096, &buf, NULL);
	if (rc < 0)
		return rc;
	*reply = buf;
	return strncmp(buf, "ok", 2) == 0 ? 0 : -EREMOTEIO;
}

int zctl_ctl(const struct zctl_mount *m, const char *cmd, char **reply)
{
	size_t len = strlen(cmd);
	char *line = malloc(len + 2);
	int rc;

	*reply = NULL;
	if (!line)
		return -ENOMEM;
	memcpy(line, cmd, len);
	line[len] = '\n';
	rc = zctl_ctl_text(m, line, len + 1, reply);
	free(line);
	return rc;
}

int zctl_ctl_path(const struct zctl_mount *m, const char *verb, const char *rel, char **reply)
{
	char *cmd = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&cmd, &len);
	int rc;

	*reply = NULL;
	if (!f)
		return -ENOMEM;
	fprintf(f, "%s -e ", verb);
	zctl_escape_path(f, rel);
	if (fclose(f) != 0) {
		free(cmd);
		return -ENOMEM;
	}
	rc = zctl_ctl(m, cmd, reply);
	free(cmd);
	return rc;
}

int zctl_reply_get(const char *reply, const char *key, char *buf, size_t len)
{
	size_t kl = strlen(key);
	for (const char *l = reply; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, key, kl) == 0 && l[kl] == '=') {
			const char *v = l + kl + 1;
			const char *e = strchr(v, '\n');
			size_t n = e ? (size_t)(e - v) : strlen(v);
			if (n >= len)
				n = len - 1;
			memcpy(buf, v, n);
			buf[n] = '\0';
			return 0;
		}
	}
	return -ENOENT;
}

uint64_t zctl_reply_u64(const char *reply, const char *key)
{
	char v[64];
	if (zctl_reply_get(reply, key, v, sizeof(v)) < 0)
		return 0;
	return strtoull(v, NULL, 10);
}

/* Does the label set set[0..len) (without braces) hold the pair k="v" starting at want (up to its
 * closing quote)? Pairs are compared whole. */
static bool has_pair(const char *set, size_t len, const char *want, size_t wlen)
{
	for (const char *p = set; p + wlen <= set + len; p++)
		if ((p == set || p[-1] == ',') && memcmp(p, want, wlen) == 0 &&
		    (p + wlen == set + len || p[wlen] == ','))
			return true;
	return false;
}

int zctl_prom_get(const char *text, const char *name, const char *labels, double *out)
{
	size_t nl = strlen(name);
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, name, nl) != 0 || (l[nl] != '{' && l[nl] != ' '))
			continue;
		const char *p = l + nl, *set = "";
		size_t slen = 0;
		if (*p == '{') {
			set = p + 1;
			p = strchr(set, '}'); /* our label values hold no '}' */
			if (!p)
				continue;
			slen = (size_t)(p - set);
			p++;
		}
		/* every pair asked for (k="v",k2="v2") is among the sample's labels */
		bool all = true;
		for (const char *w = labels; all && w && *w;) {
			const char *q = strchr(w, '"'), *e = q ? strchr(q + 1, '"') : NULL;
			if (!e)
				return -EINVAL;
			all = has_pair(set, slen, w, (size_t)(e + 1 - w));
			w = e[1] == ',' ? e + 2 : e + 1;
		}
		if (!all || *p != ' ')
			continue;
		*out = strtod(p + 1, NULL);
		return 0;
	}
	return -ENOENT;
}

void zctl_human_bytes(uint64_t bytes, char *buf, size_t len)
{
	static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)bytes;
	unsigned u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%.*f %s", v < 10 ? 2 : v < 100 ? 1 : 0, v, unit[u]);
}

static bool escaped_byte(unsigned char c)
{
	return c < 0x20 || c == 0x7f || c == '\\';
}

bool zctl_path_needs_escape(const char *path)
{
	for (const unsigned char *p = (const unsigned char *)path; *p; p++)
		if (escaped_byte(*p))
			return true;
	return false;
}

void zctl_escape_path(FILE *f, const char *path)
{
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (escaped_byte(*p))
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
}

bool zctl_json_mode(void)
{
	return zctl_opt_json;
}


int zctl_term_width(void)
{
	struct winsize ws;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		return ws.ws_col;
	const char *c = getenv("COLUMNS");
	if (c && atoi(c) > 20)
		return atoi(c);
	return 80;
}

void zctl_progress_start(struct zctl_progress *p, const char *verb, uint64_t files, uint64_t bytes)
{
	memset(p, 0, sizeof(*p));
	p->on = isatty(STDERR_FILENO) && getenv("ZCFSCTL_NO_PROGRESS") == NULL;
	p->verb = verb;
	p->files_total = files;
	p->bytes_total = bytes;
	p->t0 = p->last = zctl_now();
}

static void progress_draw(struct zctl_progress *p, double now)
{
	char done[32], total[32], rate[32];
	double el = now - p->t0;
	double r = el > 0 ? (double)p->bytes_done / el : 0;
	zctl_human_bytes(p->bytes_done, done, sizeof(done));
	zctl_human_bytes(p->bytes_total, total, sizeof(total));
	zctl_human_bytes((uint64_t)r, rate, sizeof(rate));
	double left = r > 0 ? (double)(p->bytes_total - p->bytes_done) / r : 0;
	double frac = p->bytes_total ? (double)p->bytes_done / (double)p->bytes_total
				     : (p->files_total ? (double)p->files_done / (double)p->files_total : 1);
	int width = 24, fill = (int)(frac * width + 0.5);
	fprintf(stderr, "\r%s [", p->verb);
	for (int i = 0; i < width; i++)
		fputc(i < fill ? '#' : '.', stderr);
	fprintf(stderr, "] %llu/%llu files  %s/%s  %s/s  %.0fs left \033[K",
		(unsigned long long)p->files_done, (unsigned long long)p->files_total, done, total,
		rate, left);
	fflush(stderr);
}

void zctl_progress_step(struct zctl_progress *p, uint64_t bytes)
{
	p->files_done++;
	p->bytes_done += bytes;
	if (!p->on)
		return;
	double now = zctl_now();
	if (now - p->last >= 0.1 || p->files_done == p->files_total) {
		p->last = now;
		progress_draw(p, now);
	}
}

void zctl_progress_end(struct zctl_progress *p)
{
	if (!p->on)
		return;
	progress_draw(p, zctl_now());
	fputc('\n', stderr);
}
