/* xstore.c - see xstore.h. A sorted array of paths (binary search on every open's routing walk;
 * inserts are rare: a user setting a mode). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "zc/xstore.h"

#define VAL_MAX 32
#define HEADER "# zcfs xattrs 1\n"

enum { A_MODE, A_CACHE, A_COUNT };
static const char *const names[A_COUNT] = { "user.zcfs.mode", "user.zcfs.cache" };

struct entry {
	char *path;
	char val[A_COUNT][VAL_MAX]; /* "" when unset */
};

struct zc_xstore {
	struct entry *e; /* sorted by strcmp(path) */
	size_t n, cap;
};

struct zc_xstore *zc_xstore_new(void)
{
	return calloc(1, sizeof(struct zc_xstore));
}

void zc_xstore_free(struct zc_xstore *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->e[i].path);
	free(s->e);
	free(s);
}

static int attr_of(const char *name)
{
	for (int a = 0; a < A_COUNT; a++)
		if (strcmp(name, names[a]) == 0)
			return a;
	return -1;
}

int zc_xstore_is_kept(const char *name)
{
	return attr_of(name) >= 0;
}

/* Index of path, or -(insertion point) - 1. */
static ssize_t find(const struct zc_xstore *s, const char *path)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(s->e[mid].path, path);
		if (c == 0)
			return (ssize_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(ssize_t)lo - 1;
}

static void drop_at(struct zc_xstore *s, size_t i)
{
	free(s->e[i].path);
	memmove(&s->e[i], &s->e[i + 1], (s->n - i - 1) * sizeof(s->e[0]));
	s->n--;
}

static bool is_empty(const struct entry *e)
{
	for (int a = 0; a < A_COUNT; a++)
		if (e->val[a][0])
			return false;
	return true;
}

int zc_xstore_get(const struct zc_xstore *s, const char *path, const char *name, char *buf, size_t len)
{
	int a = attr_of(name);
	ssize_t i = a < 0 ? -1 : find(s, path);
	size_t n;

	if (i < 0 || !s->e[i].val[a][0])
		return -ENODATA;
	n = strlen(s->e[i].val[a]);
	if (len == 0)
		return (int)n;
	if (n > len)
		return -ERANGE;
	memcpy(buf, s->e[i].val[a], n);
	return (int)n;
}

/* The entry of path, made if absent. NULL on ENOMEM. */
static struct entry *entry_for(struct zc_xstore *s, const char *path)
{
	ssize_t i = find(s, path);
	size_t at;

	if (i >= 0)
		return &s->e[i];
	at = (size_t)(-i - 1);
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct entry *e = realloc(s->e, cap * sizeof(*e));
		if (!e)
			return NULL;
		s->e = e;
		s->cap = cap;
	}
	char *dup = strdup(path);
	if (!dup)
		return NULL;
	memmove(&s->e[at + 1], &s->e[at], (s->n - at) * sizeof(s->e[0]));
	memset(&s->e[at], 0, sizeof(s->e[0]));
	s->e[at].path = dup;
	s->n++;
	return &s->e[at];
}

int zc_xstore_set(struct zc_xstore *s, const char *path, const char *name, const char *value,
		  size_t vlen, int flags)
{
	int a = attr_of(name);
	ssize_t i;
	struct entry *e;

	if (a < 0 || vlen == 0 || vlen >= VAL_MAX || memchr(value, '\0', vlen))
		return -EINVAL;
	i = find(s, path);
	if ((flags & XATTR_CREATE) && i >= 0 && s->e[i].val[a][0])
		return -EEXIST;
	if ((flags & XATTR_REPLACE) && (i < 0 || !s->e[i].val[a][0]))
		return -ENODATA;
	e = entry_for(s, path);
	if (!e)
		return -ENOMEM;
	memcpy(e->val[a], value, vlen);
	e->val[a][vlen] = '\0';
	return 0;
}

int zc_xstore_remove(struct zc_xstore *s, const char *path, const char *name)
{
	int a = attr_of(name);
	ssize_t i = a < 0 ? -1 : find(s, path);

	if (i < 0 || !s->e[i].val[a][0])
		return -ENODATA;
	s->e[i].val[a][0] = '\0';
	if (is_empty(&s->e[i]))
		drop_at(s, (size_t)i);
	return 0;
}

int zc_xstore_list(const struct zc_xstore *s, const char *path, char *buf, size_t len)
{
	ssize_t i = find(s, path);
	size_t need = 0;

	if (i < 0)
		return 0;
	for (int a = 0; a < A_COUNT; a++)
		if (s->e[i].val[a][0])
			need += strlen(names[a]) + 1;
	if (len == 0)
		return (int)need;
	if (need > len)
		return -ERANGE;
	need = 0;
	for (int a = 0; a < A_COUNT; a++)
		if (s->e[i].val[a][0]) {
			memcpy(buf + need, names[a], strlen(names[a]) + 1);
			need += strlen(names[a]) + 1;
		}
	return (int)need;
}

/* Is p path itself or below it? "." is the root: everything is below it. */
static bool is_under(const char *p, const char *path)
{
	size_t n = strlen(path);

	if (strcmp(path, ".") == 0)
		return true;
	return strncmp(p, path, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

int zc_xstore_forget(struct zc_xstore *s, const char *path)
{
	int gone = 0;

	for (size_t i = 0; i < s->n;) {
		if (is_under(s->e[i].path, path)) {
			drop_at(s, i);
			gone++;
		} else {
			i++;
		}
	}
	return gone;
}

int zc_xstore_rename(struct zc_xstore *s, const char *from, const char *to)
{
	size_t flen = strlen(from), nmove = 0, k = 0;
	struct entry *moved;

	if (strcmp(from, to) == 0)
		return 0;
	for (size_t i = 0; i < s->n; i++)
		nmove += is_under(s->e[i].path, from);
	if (!nmove) {
		zc_xstore_forget(s, to); /* what was at to is replaced */
		return 0;
	}
	moved = calloc(nmove, sizeof(*moved));
	if (!moved)
		return -ENOMEM;
	/* New paths first, so ENOMEM changes nothing. */
	for (size_t i = 0; i < s->n; i++) {
		if (!is_under(s->e[i].path, from))
			continue;
		const char *rest = s->e[i].path + flen;
		char *np = malloc(strlen(to) + strlen(rest) + 1);
		if (!np) {
			while (k)
				free(moved[--k].path);
			free(moved);
			return -ENOMEM;
		}
		strcpy(np, to);
		strcat(np, rest);
		moved[k] = s->e[i];
		moved[k++].path = np;
	}
	zc_xstore_forget(s, from);
	zc_xstore_forget(s, to);
	for (k = 0; k < nmove; k++) {
		struct entry *e = entry_for(s, moved[k].path); /* room: at most what forget freed */
		if (e)
			memcpy(e->val, moved[k].val, sizeof(e->val));
		free(moved[k].path);
	}
	free(moved);
	return (int)nmove;
}

size_t zc_xstore_count(const struct zc_xstore *s)
{
	return s->n;
}

char *zc_xstore_dump(const struct zc_xstore *s)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return NULL;
	fputs(HEADER, f);
	for (size_t i = 0; i < s->n; i++) {
		const struct entry *e = &s->e[i];
		for (int a = 0; a < A_COUNT; a++)
			fprintf(f, "%s\t", e->val[a][0] ? e->val[a] : "-");
		for (const unsigned char *p = (const unsigned char *)e->path; *p; p++) {
			if (*p < 0x20 || *p >= 0x7f || *p == '\\')
				fprintf(f, "\\x%02x", *p);
			else
				fputc(*p, f);
		}
		fputc('\n', f);
	}
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
		: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Parse one line (without its newline) into vals and a decoded path (malloc'ed). */
static int parse_line(const char *l, size_t n, char vals[A_COUNT][VAL_MAX], char **path)
{
	const char *p = l, *end = l + n;
	char *out;
	size_t k = 0;

	for (int a = 0; a < A_COUNT; a++) {
		const char *tab = memchr(p, '\t', (size_t)(end - p));
		size_t vlen = tab ? (size_t)(tab - p) : 0;
		if (!tab || vlen == 0 || vlen >= VAL_MAX)
			return -EINVAL;
		if (vlen == 1 && *p == '-')
			vals[a][0] = '\0';
		else {
			memcpy(vals[a], p, vlen);
			vals[a][vlen] = '\0';
		}
		p = tab + 1;
	}
	if (p == end)
		return -EINVAL;
	out = malloc((size_t)(end - p) + 1);
	if (!out)
		return -ENOMEM;
	while (p < end) {
		if (*p == '\\') {
			int h, l2;
			if (end - p < 4 || p[1] != 'x' || (h = hexval(p[2])) < 0 || (l2 = hexval(p[3])) < 0 ||
			    (h == 0 && l2 == 0)) {
				free(out);
				return -EINVAL;
			}
			out[k++] = (char)(h * 16 + l2);
			p += 4;
		} else {
			out[k++] = *p++;
		}
	}
	out[k] = '\0';
	*path = out;
	return 0;
}

int zc_xstore_load(struct zc_xstore *s, const char *text, char *err, size_t errlen)
{
	struct zc_xstore *tmp = zc_xstore_new();
	unsigned line = 0;
	int rc = 0;

	if (!tmp)
		return -ENOMEM;
	for (const char *l = text; l && *l && rc == 0;) {
		const char *nl = strchr(l, '\n');
		size_t n = nl ? (size_t)(nl - l) : strlen(l);
		char vals[A_COUNT][VAL_MAX], *path = NULL;

		line++;
		if (n && l[0] != '#') {
			rc = parse_line(l, n, vals, &path);
			if (rc == 0) {
				for (int a = 0; a < A_COUNT && rc == 0; a++)
					if (vals[a][0])
						rc = zc_xstore_set(tmp, path, names[a], vals[a], strlen(vals[a]), 0);
				free(path);
			}
			if (rc < 0)
				snprintf(err, errlen, "line %u: %s", line,
					 rc == -ENOMEM ? "out of memory" : "expected MODE TAB CACHE TAB PATH");
		}
		l = nl ? nl + 1 : NULL;
	}
	if (rc == 0) {
		for (size_t i = 0; i < tmp->n && rc == 0; i++)
			for (int a = 0; a < A_COUNT && rc == 0; a++)
				if (tmp->e[i].val[a][0])
					rc = zc_xstore_set(s, tmp->e[i].path, names[a], tmp->e[i].val[a],
							   strlen(tmp->e[i].val[a]), 0);
		if (rc == 0)
			rc = (int)tmp->n;
	}
	zc_xstore_free(tmp);
	return rc;
}
