/* fuzz_rules.c - the rules-file parser: any input parses or fails with "NAME:LINE: reason";
 * a parsed set dumps to text that parses again to the same number of rules, and every stored
 * pattern passes the glob syntax check and matches without crashing. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "glob_int.h"
#include "rules_int.h"
#include "zc/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zc_rules *r = NULL, *again = NULL;
	char err[512], err2[512];
	int rc = zc_rules_parse((const char *)data, size, "fuzz.conf", &r, err, sizeof(err));
	if (rc < 0) {
		assert(r == NULL);
		assert(strncmp(err, "fuzz.conf:", 10) == 0);
		char *end;
		long line = strtol(err + 10, &end, 10);
		assert(line >= 1 && *end == ':');
		return 0;
	}
	for (size_t i = 0; i < r->n; i++) {
		char why[256];
		assert(r->v[i].has_mode || r->v[i].has_cache);
		assert(zc_glob_check(r->v[i].pattern, why, sizeof(why)) == 0);
		(void)zc_glob_match(r->v[i].pattern, "a/b/c.bin");
	}
	char *dump = NULL;
	assert(zc_rules_dump(r, &dump) == 0);
	rc = zc_rules_parse(dump, strlen(dump), "dump.conf", &again, err2, sizeof(err2));
	assert(rc == 0 && again->n == r->n);
	zc_rules_free(again);
	free(dump);
	zc_rules_free(r);
	return 0;
}
