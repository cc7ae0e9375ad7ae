/* glob.c - path globs for the rules file: '*', '?', classes and escapes within a component, '**'
 * as a whole component for any number of components. Iterative matching with single-point
 * backtracking at both levels, so no pattern can make it exponential. */
#include <stdbool.h>
#include <string.h>

#include "glob_int.h"
#include "zc/route.h"

/* Match one character against the class at *pp ('[' ... ']'); advance *pp past it. */
static bool class_match(const char **pp, const char *pend, char c)
{
	const char *p = *pp + 1;
	bool neg = false, hit = false;

	if (p < pend && (*p == '!' || *p == '^')) {
		neg = true;
		p++;
	}
	for (bool first = true; p < pend && (first || *p != ']'); first = false) {
		char lo = *p, hi;
		if (lo == '\\' && p + 1 < pend)
			lo = *++p;
		p++;
		hi = lo;
		if (p + 1 < pend && *p == '-' && p[1] != ']') {
			hi = p[1];
			if (hi == '\\' && p + 2 < pend)
				hi = p[2], p++;
			p += 2;
		}
		if (c >= lo && c <= hi)
			hit = true;
	}
	*pp = p < pend ? p + 1 : p; /* past ']' */
	return hit != neg;
}

static bool comp_match(const char *p, const char *pend, const char *s, const char *send)
{
	const char *star_p = NULL, *star_s = NULL;

	while (s < send) {
		if (p < pend && *p == '*') {
			star_p = ++p;
			star_s = s;
			continue;
		}
		if (p < pend) {
			const char *q = p;
			bool ok;
			if (*q == '?') {
				ok = true;
				q++;
			} else if (*q == '[') {
				ok = class_match(&q, pend, *s);
			} else if (*q == '\\' && q + 1 < pend) {
				ok = q[1] == *s;
				q += 2;
			} else {
				ok = *q == *s;
				q++;
			}
			if (ok) {
				p = q;
				s++;
				continue;
			}
		}
		if (!star_p)
			return false;
		p = star_p;
		s = ++star_s;
	}
	while (p < pend && *p == '*')
		p++;
	return p == pend;
}

static const char *comp_end(const char *x)
{
	const char *e = strchr(x, '/');
	return e ? e : x + strlen(x);
}

static const char *comp_next(const char *x)
{
	const char *e = comp_end(x);
	return *e ? e + 1 : e;
}

static bool is_globstar(const char *p)
{
	return p[0] == '*' && p[1] == '*' && (p[2] == '/' || p[2] == '\0');
}

bool zc_glob_match(const char *pattern, const char *path)
{
	const char *p = pattern, *s = path, *star_p = NULL, *star_s = NULL;

	while (*s) {
		if (*p && is_globstar(p)) {
			star_p = p = comp_next(p);
			star_s = s;
			continue;
		}
		if (*p && comp_match(p, comp_end(p), s, comp_end(s))) {
			p = comp_next(p);
			s = comp_next(s);
			continue;
		}
		if (!star_p)
			return false;
		p = star_p;
		s = star_s = comp_next(star_s);
	}
	while (*p && is_globstar(p))
		p = comp_next(p);
	return *p == '\0';
}

int zc_glob_check(const char *pattern, char *err, size_t errlen)
{
	const char *p = pattern;

	if (!*p)
		return snprintf(err, errlen, "empty pattern"), -1;
	if (*p == '/')
		return snprintf(err, errlen, "pattern '%s' starts with '/' (paths are relative to the mount root)", pattern), -1;
	while (*p) {
		const char *e = comp_end(p);
		size_t n = (size_t)(e - p);
		if (n == 0)
			return snprintf(err, errlen, "pattern '%s' has an empty component", pattern), -1;
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return snprintf(err, errlen, "pattern '%s' has a '..' component", pattern), -1;
		for (const char *q = p; q < e; q++) {
			if (*q == '\\') {
				q++;
				if (q >= e)
					return snprintf(err, errlen, "pattern '%s' ends in a lone '\\'", pattern), -1;
			} else if (*q == '*' && q + 1 < e && q[1] == '*' && !(n == 2)) {
				return snprintf(err, errlen, "'**' must be a whole component in '%s'", pattern), -1;
			} else if (*q == '[') {
				const char *c = q + 1;
				if (c < e && (*c == '!' || *c == '^'))
					c++;
				if (c < e && *c == ']')
					c++;
				while (c < e && *c != ']')
					c++;
				if (c >= e)
					return snprintf(err, errlen, "unterminated '[' in '%s'", pattern), -1;
				q = c;
			}
		}
		if (!*e)
			break;
		p = e + 1;
		if (!*p)
			return snprintf(err, errlen, "pattern '%s' ends with '/'", pattern), -1;
	}
	return 0;
}
