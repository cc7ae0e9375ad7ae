/* rules.c - the rules file: "GLOB mode=X cache=Y" lines with '#' comments, parsed into an
 * immutable list. Errors name the file and line. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "glob_int.h"
#include "rules_int.h"
#include "zc/cleanup.h"
#include "zc/mode.h"

#define RULES_MAX 10000
#define LINE_MAX_BYTES 4096
#define FILE_MAX_BYTES (16u << 20)

void zc_rules_free(struct zc_rules *rules)
{
	if (!rules)
		return;
	for (size_t i = 0; i < rules->n; i++)
		free(rules->v[i].pattern);
	free(rules->v);
	free(rules->name);
	free(rules);
}

/* Parse one non-empty line (comment stripped) into r. Returns 0 or -1 with err. */
static int parse_line(char *line, struct zc_rule *r, char *err, size_t errlen)
{
	char *save = NULL, *tok = strtok_r(line, " \t", &save);

	memset(r, 0, sizeof(*r));
	if (strchr(tok, '=') && (strncmp(tok, "mode=", 5) == 0 || strncmp(tok, "cache=", 6) == 0))
		return snprintf(err, errlen, "missing pattern before '%s'", tok), -1;
	/* Stripped at the start of the file, refused elsewhere (a concatenated file's mark): an
	 * invisible first character would make a pattern no one can read or dump back. */
	if (strncmp(tok, "\xef\xbb\xbf", 3) == 0)
		return snprintf(err, errlen, "byte order mark (U+FEFF) before a pattern; "
			       "only the first line of a file may start with one"), -1;
	if (zc_glob_check(tok, err, errlen) < 0)
		return -1;
	r->pattern = strdup(tok);
	if (!r->pattern)
		return snprintf(err, errlen, "out of memory"), -1;
	while ((tok = strtok_r(NULL, " \t", &save))) {
		char *eq = strchr(tok, '=');
		if (!eq) {
			snprintf(err, errlen, "expected key=value, got '%s'", tok);
			goto out_free;
		}
		*eq = '\0';
		const char *val = eq + 1;
		if (strcmp(tok, "mode") == 0) {
			if (r->has_mode) {
				snprintf(err, errlen, "duplicate key 'mode'");
				goto out_free;
			}
			if (zc_mode_parse(val, strlen(val), &r->mode) < 0) {
				snprintf(err, errlen, "unknown mode '%s' (expected %s)", val, zc_mode_choices());
				goto out_free;
			}
			r->has_mode = true;
		} else if (strcmp(tok, "cache") == 0) {
			if (r->has_cache) {
				snprintf(err, errlen, "duplicate key 'cache'");
				goto out_free;
			}
			if (zc_cache_parse(val, strlen(val), &r->cache) < 0) {
				snprintf(err, errlen, "unknown cache policy '%s' (expected %s)", val, zc_cache_choices());
				goto out_free;
			}
			r->has_cache = true;
		} else {
			snprintf(err, errlen, "unknown key '%s' (expected mode or cache)", tok);
			goto out_free;
		}
	}
	if (!r->has_mode && !r->has_cache) {
		snprintf(err, errlen, "rule '%s' sets neither mode= nor cache=", r->pattern);
		goto out_free;
	}
	return 0;

out_free:
	free(r->pattern);
	r->pattern = NULL;
	return -1;
}

int zc_rules_parse(const char *text, size_t len, const char *name, struct zc_rules **out,
		   char *err, size_t errlen)
{
	struct zc_rules *rules = calloc(1, sizeof(*rules));
	char why[512], line[LINE_MAX_BYTES + 1];
	size_t pos = 0, cap = 0;
	unsigned lineno = 0;

	if (!rules || !(rules->name = strdup(name))) {
		free(rules);
		snprintf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	/* A UTF-8 byte order mark (editors on other systems write one) is not part of the first
	 * pattern. */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		text += 3;
		len -= 3;
	}
	const char *nul = memchr(text, '\0', len);
	if (nul) {
		unsigned at = 1;
		for (const char *c = text; c < nul; c++)
			at += *c == '\n';
		snprintf(err, errlen, "%s:%u: NUL byte in the rules file", name, at);
		goto out_inval;
	}
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t l = (nl ? (size_t)(nl - (text + pos)) : len - pos);
		lineno++;
		if (l > LINE_MAX_BYTES) {
			snprintf(err, errlen, "%s:%u: line longer than %d bytes", name, lineno, LINE_MAX_BYTES);
			goto out_inval;
		}
		memcpy(line, text + pos, l);
		line[l] = '\0';
		pos += l + (nl ? 1 : 0);
		if (l && line[l - 1] == '\r')
			line[--l] = '\0';
		/* A comment starts at '#' at the start of a line or after whitespace. */
		for (char *h = line; (h = strchr(h, '#')); h++) {
			if (h == line || h[-1] == ' ' || h[-1] == '\t') {
				*h = '\0';
				break;
			}
		}
		if (strspn(line, " \t") == strlen(line))
			continue;
		if (rules->n == RULES_MAX) {
			snprintf(err, errlen, "%s:%u: more than %d rules", name, lineno, RULES_MAX);
			goto out_inval;
		}
		if (rules->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct zc_rule *v = realloc(rules->v, ncap * sizeof(*v));
			if (!v) {
				snprintf(err, errlen, "%s: out of memory", name);
				zc_rules_free(rules);
				return -ENOMEM;
			}
			rules->v = v;
			cap = ncap;
		}
		if (parse_line(line, &rules->v[rules->n], why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s:%u: %s", name, lineno, why);
			goto out_inval;
		}
		rules->v[rules->n++].line = lineno;
	}
	*out = rules;
	return 0;

out_inval:
	zc_rules_free(rules);
	return -EINVAL;
}

int zc_rules_load(const char *path, struct zc_rules **out, char *err, size_t errlen)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	ssize_t n;

	if (!path[0]) {
		snprintf(err, errlen, "-o rules= needs the path of a rules file");
		return -EINVAL;
	}
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "rules file '%s': %s", path, strerror(e));
		return -e;
	}
	buf = malloc(FILE_MAX_BYTES);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	while ((n = read(fd, buf + len, FILE_MAX_BYTES - len)) > 0)
		len += (size_t)n;
	if (n < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	if (len == FILE_MAX_BYTES) {
		snprintf(err, errlen, "%s: larger than %u bytes", path, FILE_MAX_BYTES);
		return -EFBIG;
	}
	return zc_rules_parse(buf, len, path, out, err, errlen);
}

int zc_rules_dump(const struct zc_rules *rules, char **out)
{
	size_t len;
	FILE *f = open_memstream(out, &len);

	if (!f)
		return -ENOMEM;
	for (size_t i = 0; rules && i < rules->n; i++) {
		const struct zc_rule *r = &rules->v[i];
		fprintf(f, "%s", r->pattern);
		if (r->has_mode)
			fprintf(f, " mode=%s", zc_mode_name(r->mode));
		if (r->has_cache)
			fprintf(f, " cache=%s", zc_cache_name(r->cache));
		fprintf(f, "  # %s:%u\n", rules->name, r->line);
	}
	return fclose(f) == 0 ? 0 : -ENOMEM;
}
