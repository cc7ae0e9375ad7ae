/* prom.c - see zc/prom.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zc/prom.h"

static bool name_ok(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

int zc_prom_label_add(char *buf, size_t len, const char *name, const char *value)
{
	size_t o = strlen(buf), start = o;

	if (!name_ok(name))
		return -EINVAL;
	o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s%s=\"", start ? "," : "", name);
	for (const char *v = value; *v && o < len; v++) {
		const char *esc = *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : *v == '\n' ? "\\n" : NULL;
		if (esc)
			o += (size_t)snprintf(buf + o, len - o, "%s", esc);
		else
			buf[o++] = *v;
	}
	if (o + 2 > len) {
		buf[start] = '\0';
		return -ENAMETOOLONG;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return 0;
}

/* The end of a sample's label set: the '}' after '{' at p, skipping quoted values. */
static const char *labels_end(const char *p, const char *end)
{
	bool quoted = false;

	for (p++; p < end; p++) {
		if (quoted && *p == '\\' && p + 1 < end)
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (!quoted && *p == '}')
			return p;
	}
	return NULL;
}

int zc_prom_add_labels(const char *text, size_t len, const char *labels, char **out, size_t *outlen)
{
	FILE *f = open_memstream(out, outlen);
	const char *p = text, *end = text + len;
	int rc = 0;

	if (!f)
		return -ENOMEM;
	while (p < end && rc == 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		size_t n = strcspn(p, "{ \n");
		if (p == eol || *p == '#' || !*labels) {
			fwrite(p, 1, (size_t)(eol - p), f);
		} else if (p + n < eol && p[n] == '{') {
			const char *close = labels_end(p + n, eol);
			if (!close) {
				rc = -EINVAL;
				break;
			}
			/* name{own} -> name{own,labels}; name{} -> name{labels} */
			fwrite(p, 1, (size_t)(close - p), f);
			fprintf(f, "%s%s", close == p + n + 1 ? "" : ",", labels);
			fwrite(close, 1, (size_t)(eol - close), f);
		} else {
			fwrite(p, 1, n, f);
			fprintf(f, "{%s}", labels);
			fwrite(p + n, 1, (size_t)(eol - (p + n)), f);
		}
		if (nl)
			fputc('\n', f);
		p = nl ? nl + 1 : end;
	}
	if (fclose(f) != 0 && rc == 0)
		rc = -ENOMEM;
	if (rc < 0) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

struct family {
	char *name;
	char *help, *type;    /* the first HELP and TYPE lines, with their newline */
	char *samples;        /* every sample line, in order */
	size_t slen;
	FILE *sf;
};

struct families {
	struct family *v;
	size_t n, cap;
};

static struct family *family_of(struct families *fs, const char *name, size_t nlen)
{
	for (size_t i = 0; i < fs->n; i++)
		if (strlen(fs->v[i].name) == nlen && memcmp(fs->v[i].name, name, nlen) == 0)
			return &fs->v[i];
	if (fs->n == fs->cap) {
		size_t cap = fs->cap ? 2 * fs->cap : 64;
		struct family *v = realloc(fs->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		fs->v = v;
		fs->cap = cap;
	}
	struct family *f = &fs->v[fs->n];
	memset(f, 0, sizeof(*f));
	f->name = strndup(name, nlen);
	f->sf = f->name ? open_memstream(&f->samples, &f->slen) : NULL;
	if (!f->sf) {
		free(f->name);
		return NULL;
	}
	fs->n++;
	return f;
}

static void families_free(struct families *fs)
{
	for (size_t i = 0; i < fs->n; i++) {
		if (fs->v[i].sf)
			fclose(fs->v[i].sf);
		free(fs->v[i].samples);
		free(fs->v[i].name);
		free(fs->v[i].help);
		free(fs->v[i].type);
	}
	free(fs->v);
}

/* One text into fs. A sample belongs to the family of the HELP or TYPE line before it when its
 * name starts with that family's (a histogram's _bucket, _sum, _count), else to its own name. */
static int take_text(struct families *fs, const char *text)
{
	struct family *cur = NULL;

	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		if (l > 7 && (strncmp(p, "# HELP ", 7) == 0 || strncmp(p, "# TYPE ", 7) == 0)) {
			const char *name = p + 7;
			size_t nlen = strcspn(name, " \n");
			cur = family_of(fs, name, nlen);
			if (!cur)
				return -ENOMEM;
			char **slot = p[2] == 'H' ? &cur->help : &cur->type;
			if (!*slot && !(*slot = strndup(p, l)))
				return -ENOMEM;
		} else if (l && *p != '#') {
			size_t nlen = strcspn(p, "{ \n");
			struct family *f = cur && nlen >= strlen(cur->name) && strncmp(p, cur->name, strlen(cur->name)) == 0
						   ? cur : family_of(fs, p, nlen);
			if (!f)
				return -ENOMEM;
			fwrite(p, 1, l, f->sf);
			fputc('\n', f->sf);
		}
		p = nl ? nl + 1 : p + l;
	}
	return 0;
}

int zc_prom_merge(const char *const *texts, size_t n, char **out, size_t *outlen)
{
	struct families fs = { 0 };
	FILE *f;
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++)
		rc = take_text(&fs, texts[i]);
	f = rc == 0 ? open_memstream(out, outlen) : NULL;
	if (rc == 0 && !f)
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < fs.n; i++) {
		struct family *fam = &fs.v[i];
		if (fclose(fam->sf) != 0)
			rc = -ENOMEM;
		fam->sf = NULL;
		if (fam->help)
			fprintf(f, "%s\n", fam->help);
		if (fam->type)
			fprintf(f, "%s\n", fam->type);
		if (fam->samples)
			fputs(fam->samples, f);
	}
	if (f && fclose(f) != 0 && rc == 0)
		rc = -ENOMEM;
	if (rc < 0 && f) {
		free(*out);
		*out = NULL;
	}
	families_free(&fs);
	return rc;
}
