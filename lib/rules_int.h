/* rules_int.h - private to the routing modules: the parsed form of a rules file. Immutable after
 * zc_rules_parse() returns; readers need no lock. */
#ifndef ZC_RULES_INT_H
#define ZC_RULES_INT_H

#include <stdbool.h>

#include "zc/route.h"

struct zc_rule {
	char *pattern;
	bool has_mode, has_cache;
	enum zc_mode mode;
	enum zc_cache cache;
	unsigned line;
};

struct zc_rules {
	char *name; /* the file name used in messages and sources */
	struct zc_rule *v;
	size_t n;
};

#endif
