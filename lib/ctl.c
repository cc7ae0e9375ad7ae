/* ctl.c - see zc/ctl.h: the control file's command language. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zc/ctl.h"

static const struct {
	const char *word;
	enum zc_ctl_verb verb;
	bool takes_path, takes_r;
} verbs[] = {
	{ "residency", ZC_CTL_RESIDENCY, true, true }, { "evict", ZC_CTL_EVICT, true, true },
	{ "prefetch", ZC_CTL_PREFETCH, true, true },   { "sync", ZC_CTL_SYNC, true, false },
	{ "flush", ZC_CTL_FLUSH, true, false },        { "syncfs", ZC_CTL_SYNCFS, false, false },
};

int zc_ctl_path_normalise(const char *in, char *out, size_t outlen)
{
	size_t o = 0;
	const char *p = in;

	if (!*in)
		return -EINVAL;
	if (*in == '/')
		return -EPERM;
	if (strlen(in) >= PATH_MAX)
		return -ENAMETOOLONG;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return -EPERM;
		if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (o + n + 2 > outlen)
				return -ENAMETOOLONG;
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	if (o == 0) {
		if (outlen < 2)
			return -ENAMETOOLONG;
		out[o++] = '.';
	}
	out[o] = '\0';
	return 0;
}

int zc_ctl_unescape(const char *in, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '\\') {
			unsigned v = 0;
			if (len - i < 4 || in[i + 1] != 'x')
				return -EINVAL;
			for (int k = 2; k <= 3; k++) {
				char h = in[i + k];
				v = v * 16 + (unsigned)(h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
							: h >= 'A' && h <= 'F' ? h - 'A' + 10 : 256);
				if (v > 255)
					return -EINVAL;
			}
			if (v == 0)
				return -EINVAL;
			c = (unsigned char)v;
			i += 3;
		} else if (c == '\0') {
			return -EINVAL;
		}
		if (o + 1 >= outlen)
			return -ENAMETOOLONG;
		out[o++] = (char)c;
	}
	if (!outlen)
		return -ENAMETOOLONG;
	out[o] = '\0';
	return 0;
}

char *zc_ctl_escape(char *dst, size_t dstlen, const char *src)
{
	size_t o = 0;

	if (!dstlen)
		return dst;
	for (; *src; src++) {
		unsigned char ch = (unsigned char)*src;
		bool esc = ch < 0x20 || ch == 0x7f || ch == '\\';
		if (o + (esc ? 4 : 1) >= dstlen)
			break;
		if (esc) {
			snprintf(dst + o, 5, "\\x%02x", ch);
			o += 4;
		} else {
			dst[o++] = (char)ch;
		}
	}
	dst[o] = '\0';
	return dst;
}

int zc_ctl_plan_line(const char *line, size_t len, bool escaped, char *out, size_t outlen)
{
	char buf[PATH_MAX];
	int rc;

	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len == 0)
		return 1;
	if (escaped) {
		rc = zc_ctl_unescape(line, len, buf, sizeof(buf));
		if (rc < 0)
			return rc;
	} else {
		if (len >= sizeof(buf) || memchr(line, '\0', len))
			return len >= sizeof(buf) ? -ENAMETOOLONG : -EINVAL;
		memcpy(buf, line, len);
		buf[len] = '\0';
	}
	return zc_ctl_path_normalise(buf, out, outlen);
}

/* "window=64m depth=8 spread=256 store=1" after "plan", or "status [ID]" / "cancel ID". */
static int parse_plan(char *p, struct zc_ctl_cmd *out, char *err, size_t errlen)
{
	char *tok, *save = NULL, *end;
	unsigned long long v;

	out->verb = ZC_CTL_PLAN;
	out->plan.sub = ZC_PLAN_START;
	if (strncmp(p, "status", 6) == 0 || strncmp(p, "cancel", 6) == 0) {
		out->plan.sub = p[0] == 's' ? ZC_PLAN_STATUS : ZC_PLAN_CANCEL;
		p += 6;
		p += strspn(p, " \t");
		if (!*p && out->plan.sub == ZC_PLAN_STATUS)
			return 0;
		v = strtoull(p, &end, 10);
		if (!*p || *end || *p == '-' || v == 0 || v > UINT32_MAX)
			return snprintf(err, errlen, "expected a plan number, got '%.64s'", p), -EINVAL;
		out->plan.id = (unsigned)v;
		return 0;
	}
	for (tok = strtok_r(p, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		char *eq = strchr(tok, '=');
		if (!eq || eq[1] == '\0' || eq[1] == '-')
			return snprintf(err, errlen, "expected KEY=VALUE, got '%.64s'", tok), -EINVAL;
		*eq = '\0';
		errno = 0;
		v = strtoull(eq + 1, &end, 10);
		if (errno)
			return snprintf(err, errlen, "%s: out of range", tok), -EINVAL;
		if (strcmp(tok, "window") == 0) {
			unsigned long long mul = *end == 'k' ? 1ull << 10 : *end == 'm' ? 1ull << 20 :
						 *end == 'g' ? 1ull << 30 : 1;
			if ((mul > 1 && end[1]) || (mul == 1 && *end) || v == 0 || v > (1ull << 50) / mul)
				return snprintf(err, errlen, "window: expected bytes (k, m, g), got '%.32s'", eq + 1), -EINVAL;
			out->plan.window_bytes = v * mul;
		} else if (strcmp(tok, "depth") == 0) {
			if (*end || v == 0 || v > 64)
				return snprintf(err, errlen, "depth: expected 1 to 64, got '%.32s'", eq + 1), -EINVAL;
			out->plan.depth = (unsigned)v;
		} else if (strcmp(tok, "spread") == 0) {
			if (*end || v == 0 || v > 1000000)
				return snprintf(err, errlen, "spread: expected 1 to 1000000 files, got '%.32s'", eq + 1), -EINVAL;
			out->plan.spread = (unsigned)v;
		} else if (strcmp(tok, "store") == 0 || strcmp(tok, "escaped") == 0) {
			if (*end || v > 1)
				return snprintf(err, errlen, "%s: expected 0 or 1, got '%.32s'", tok, eq + 1), -EINVAL;
			*(tok[0] == 's' ? &out->plan.store : &out->plan.escaped) = v == 1;
		} else {
			return snprintf(err, errlen, "unknown plan option '%.32s' (window, depth, spread, store, escaped)", tok), -EINVAL;
		}
	}
	return 0;
}

int zc_ctl_parse(const char *line, size_t len, struct zc_ctl_cmd *out, char *err, size_t errlen)
{
	char buf[PATH_MAX + 64], *p, *word;
	size_t wl;
	int rc;

	memset(out, 0, sizeof(*out));
	if (memchr(line, '\0', len))
		return snprintf(err, errlen, "NUL byte in command"), -EINVAL;
	if (len >= sizeof(buf))
		return snprintf(err, errlen, "command too long"), -ENAMETOOLONG;
	memcpy(buf, line, len);
	buf[len] = '\0';
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	if (strchr(buf, '\n'))
		return snprintf(err, errlen, "one command per write"), -EINVAL;
	p = buf + strspn(buf, " \t");
	if (!*p)
		return snprintf(err, errlen, "empty command"), -EINVAL;
	word = p;
	wl = strcspn(p, " \t");
	p += wl;
	p += strspn(p, " \t");

	if (wl == 4 && strncmp(word, "plan", 4) == 0)
		return parse_plan(p, out, err, errlen);
	if (wl == 5 && strncmp(word, "stats", 5) == 0) {
		if (strcmp(p, "reset") != 0)
			return snprintf(err, errlen, "expected 'stats reset'"), -EINVAL;
		out->verb = ZC_CTL_STATS_RESET;
		return 0;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strlen(verbs[i].word) != wl || strncmp(verbs[i].word, word, wl) != 0)
			continue;
		out->verb = verbs[i].verb;
		if (!verbs[i].takes_path) {
			if (*p)
				return snprintf(err, errlen, "%s takes no argument", verbs[i].word), -EINVAL;
			return 0;
		}
		/* -r and -e, each on its own, in any order; a path starting with '-' is ./-name */
		while (*p == '-' && p[1] && p[1] != ' ' && p[1] != '\t') {
			bool is_opt = p[2] == ' ' || p[2] == '\t' || p[2] == '\0';
			if (is_opt && p[1] == 'r') {
				if (!verbs[i].takes_r)
					return snprintf(err, errlen, "%s does not take -r", verbs[i].word), -EINVAL;
				out->recursive = true;
			} else if (is_opt && p[1] == 'e') {
				out->escaped = true;
			} else {
				return snprintf(err, errlen, "unknown option '%.*s'", (int)strcspn(p, " \t"), p), -EINVAL;
			}
			p += 2;
			p += strspn(p, " \t");
		}
		if (!*p)
			return snprintf(err, errlen, "missing PATH"), -EINVAL;
		if (out->escaped) {
			char raw[PATH_MAX];
			rc = zc_ctl_unescape(p, strlen(p), raw, sizeof(raw));
			if (rc < 0)
				return snprintf(err, errlen, "bad escaped path '%.200s' (\\xNN only, no NUL)", p), rc;
			rc = zc_ctl_path_normalise(raw, out->path, sizeof(out->path));
		} else {
			rc = zc_ctl_path_normalise(p, out->path, sizeof(out->path));
		}
		if (rc == -EPERM)
			return snprintf(err, errlen, "path '%.200s' leaves the mount root", p), rc;
		if (rc < 0)
			return snprintf(err, errlen, "bad path '%.200s'", p), rc;
		return 0;
	}
	return snprintf(err, errlen,
			"unknown command '%.*s' (expected residency, evict, prefetch, sync, syncfs, flush, plan, stats reset)",
			(int)(wl > 64 ? 64 : wl), word),
	       -EINVAL;
}

const char *zc_errno_name(int e)
{
	static const struct {
		int e;
		const char *n;
	} names[] = {
		{ EPERM, "EPERM" },     { ENOENT, "ENOENT" },   { EIO, "EIO" },
		{ EBADF, "EBADF" },     { ENOMEM, "ENOMEM" },   { EACCES, "EACCES" },
		{ EBUSY, "EBUSY" },     { EEXIST, "EEXIST" },   { EXDEV, "EXDEV" },
		{ ENOTDIR, "ENOTDIR" }, { EISDIR, "EISDIR" },   { EINVAL, "EINVAL" },
		{ ENFILE, "ENFILE" },   { EMFILE, "EMFILE" },   { EFBIG, "EFBIG" },
		{ ENOSPC, "ENOSPC" },   { EROFS, "EROFS" },     { ENAMETOOLONG, "ENAMETOOLONG" },
		{ ENOSYS, "ENOSYS" },   { ENOTEMPTY, "ENOTEMPTY" }, { ELOOP, "ELOOP" },
		{ ENODATA, "ENODATA" }, { EOPNOTSUPP, "EOPNOTSUPP" }, { ENOTCONN, "ENOTCONN" },
		{ ESTALE, "ESTALE" },   { ETIMEDOUT, "ETIMEDOUT" }, { EAGAIN, "EAGAIN" },
		{ ERANGE, "ERANGE" },   { EMSGSIZE, "EMSGSIZE" }, { ENODEV, "ENODEV" },
		{ ETXTBSY, "ETXTBSY" }, { ENOTTY, "ENOTTY" }, { EFAULT, "EFAULT" },
		{ E2BIG, "E2BIG" },     { ENOLCK, "ENOLCK" }, { EREMOTEIO, "EREMOTEIO" },
		{ ESPIPE, "ESPIPE" },   { EDQUOT, "EDQUOT" },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].e == e)
			return names[i].n;
	return "E?";
}

int zc_ctl_format_error(char *buf, size_t len, int errnum, const char *msg)
{
	return snprintf(buf, len, "error %s: %s\n", zc_errno_name(errnum), msg);
}
