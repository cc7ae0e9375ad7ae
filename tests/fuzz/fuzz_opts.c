/* fuzz_opts.c - the daemon's mount option string (-o ...): parsed by zcfs's fuse_opt table and
 * validated by zcd_opts_check() with real temporary BACKING and MOUNTPOINT directories. Whatever
 * the string, parsing and checking end with 0 or an error, never a crash; an accepted set has a
 * valid mode, cache policy, control directory name and non-negative timeouts. rules= is dropped
 * before the check (it names a file to read; the rules parser has its own target). */
#include <assert.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "opts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char backing[64], mnt[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	strcpy(backing, "/tmp/zcfs-fuzz-b.XXXXXX");
	strcpy(mnt, "/tmp/zcfs-fuzz-m.XXXXXX");
	if (!mkdtemp(backing) || !mkdtemp(mnt))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *o = strndup((const char *)data, size);
	if (!o)
		return 0;
	char *argv[] = {"zcfs", "-o", o, backing, mnt, NULL};
	struct fuse_args args = FUSE_ARGS_INIT(5, argv);
	struct zcd_opts opts;
	memset(&opts, 0, sizeof(opts));
	int rc = zcd_opts_parse(&args, &opts);
	if (rc == 0 && opts.nonopts == 2) {
		free(opts.rules_path);
		opts.rules_path = NULL;
		if (zcd_opts_check(&opts) == 0) {
			assert(opts.mode < ZC_MODE_COUNT && opts.cache < ZC_CACHE_COUNT);
			assert(opts.ctl_name && opts.ctl_name[0] && !strchr(opts.ctl_name, '/'));
			assert(opts.entry_timeout >= 0 && opts.attr_timeout >= 0);
			char *d = zcd_opts_describe(&opts);
			assert(d);
			free(d);
		}
	}
	zcd_opts_free(&opts);
	fuse_opt_free_args(&args);
	free(o);
	return 0;
}
