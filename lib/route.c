/* route.c - see zc/route.h: precedence of xattr, ancestor directory, rules and default, resolved
 * per attribute, lazily and without allocation. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rules_int.h"
#include "zc/log.h"

static void set_src(struct zc_route_src *src, enum zc_src_kind kind, const char *where)
{
	src->kind = kind;
	snprintf(src->where, sizeof(src->where), "%s", where ? where : "");
}

int zc_route_eval(const struct zc_rules *rules, const char *relpath, zc_route_level_fn fn,
		  void *arg, enum zc_mode def_mode, enum zc_cache def_cache, struct zc_route_out *out)
{
	bool have_mode = false, have_cache = false;
	struct zc_route_level lvl;

	memset(out, 0, sizeof(*out));
	for (unsigned level = 0; fn && !(have_mode && have_cache); level++) {
		enum zc_src_kind kind = level == 0 ? ZC_SRC_XATTR : ZC_SRC_DIR;
		if (fn(arg, level, &lvl) < 0)
			break;
		if (!have_mode && lvl.mode_xattr) {
			if (zc_mode_parse(lvl.mode_xattr, strlen(lvl.mode_xattr), &out->mode) == 0) {
				have_mode = true;
				set_src(&out->mode_src, kind, kind == ZC_SRC_DIR ? lvl.relpath : NULL);
			} else {
				zc_log(ZC_LOG_WARNING, "ignoring bad %s value '%.32s' on '%s'", ZC_XATTR_MODE,
				       lvl.mode_xattr, lvl.relpath ? lvl.relpath : "?");
			}
		}
		if (!have_cache && lvl.cache_xattr) {
			if (zc_cache_parse(lvl.cache_xattr, strlen(lvl.cache_xattr), &out->cache) == 0) {
				have_cache = true;
				set_src(&out->cache_src, kind, kind == ZC_SRC_DIR ? lvl.relpath : NULL);
			} else {
				zc_log(ZC_LOG_WARNING, "ignoring bad %s value '%.32s' on '%s'", ZC_XATTR_CACHE,
				       lvl.cache_xattr, lvl.relpath ? lvl.relpath : "?");
			}
		}
	}
	for (size_t i = 0; rules && i < rules->n && !(have_mode && have_cache); i++) {
		const struct zc_rule *r = &rules->v[i];
		char where[sizeof(out->mode_src.where)];
		if ((have_mode || !r->has_mode) && (have_cache || !r->has_cache))
			continue;
		if (!zc_glob_match(r->pattern, relpath))
			continue;
		snprintf(where, sizeof(where), "%s:%u", rules->name, r->line);
		if (!have_mode && r->has_mode) {
			out->mode = r->mode;
			have_mode = true;
			set_src(&out->mode_src, ZC_SRC_RULE, where);
		}
		if (!have_cache && r->has_cache) {
			out->cache = r->cache;
			have_cache = true;
			set_src(&out->cache_src, ZC_SRC_RULE, where);
		}
	}
	if (!have_mode) {
		out->mode = def_mode;
		set_src(&out->mode_src, ZC_SRC_DEFAULT, NULL);
	}
	if (!have_cache) {
		out->cache = def_cache;
		set_src(&out->cache_src, ZC_SRC_DEFAULT, NULL);
	}
	return 0;
}

static int src_format(const struct zc_route_src *s, char *buf, size_t len)
{
	switch (s->kind) {
	case ZC_SRC_XATTR:
		return snprintf(buf, len, "xattr");
	case ZC_SRC_DIR:
		return snprintf(buf, len, "dir:%s", s->where);
	case ZC_SRC_RULE:
		return snprintf(buf, len, "rule:%s", s->where);
	default:
		return snprintf(buf, len, "default");
	}
}

int zc_route_format(const struct zc_route_out *r, char *buf, size_t len)
{
	char ms[300], cs[300];

	src_format(&r->mode_src, ms, sizeof(ms));
	src_format(&r->cache_src, cs, sizeof(cs));
	return snprintf(buf, len, "mode=%s source=%s cache=%s source=%s", zc_mode_name(r->mode), ms,
			zc_cache_name(r->cache), cs);
}

int zc_route_check_xattr(const char *name, const char *value, size_t size)
{
	if (strcmp(name, ZC_XATTR_EFFECTIVE) == 0 || strcmp(name, ZC_XATTR_DIOALIGN) == 0 ||
	    strcmp(name, ZC_XATTR_RESIDENCY) == 0)
		return -EPERM;
	/* Written through the mount, a value is exactly a name: "mmap\0" (a C string's size) would
	 * be stored with its NUL and shown so by getfattr; refuse it rather than store that. */
	if (size && value && value[size - 1] == '\0' &&
	    (strcmp(name, ZC_XATTR_MODE) == 0 || strcmp(name, ZC_XATTR_CACHE) == 0))
		return -EINVAL;
	if (strcmp(name, ZC_XATTR_MODE) == 0) {
		enum zc_mode m;
		return value && zc_mode_parse(value, size, &m) == 0 ? 0 : -EINVAL;
	}
	if (strcmp(name, ZC_XATTR_CACHE) == 0) {
		enum zc_cache c;
		return value && zc_cache_parse(value, size, &c) == 0 ? 0 : -EINVAL;
	}
	return 0;
}
