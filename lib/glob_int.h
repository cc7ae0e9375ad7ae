/* glob_int.h - private to the rules parser: syntax check of a glob before it is stored.
 * Pure, thread-safe. */
#ifndef ZC_GLOB_INT_H
#define ZC_GLOB_INT_H

#include <stddef.h>
#include <stdio.h>

/* 0 if pattern is well formed, else -1 with the reason in err. */
int zc_glob_check(const char *pattern, char *err, size_t errlen);

#endif
