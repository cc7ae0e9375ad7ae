/* zcfsctl.c - the zcfs command-line tool: dispatch to subcommands, global --help and --version. */
#include "zcfsctl.h"

#include <string.h>

#include "config.h"

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *args, *help;
} cmds[] = {
	{"mode", zctl_cmd_xattr, "PATH... [MODE]", "show or set the read mode (user.zcfs.mode)"},
	{"cache", zctl_cmd_xattr, "PATH... [POLICY]", "show or set the mount cache policy (user.zcfs.cache)"},
	{"effective", zctl_cmd_effective, "PATH...", "the resolved mode and cache policy, with their source"},
	{"residency", zctl_cmd_residency, "[-r] [-v] PATH...", "page-cache residency of both caches"},
	{"evict", zctl_cmd_cachecmd, "[-r] PATH...", "drop the backing and mount pages of files"},
	{"prefetch", zctl_cmd_cachecmd, "[-r] PATH... | --plan LIST DIR", "read files into the backing page cache; plans"},
	{"sync", zctl_cmd_cachecmd, "[-r] PATH...", "fsync the backing files"},
	{"flush", zctl_cmd_cachecmd, "[-r] PATH...", "start write-back of the backing files"},
	{"stats", zctl_cmd_stats, "[MOUNT] [--prom] [--watch S]", "the daemon's statistics"},
	{"doctor", zctl_cmd_doctor, "[BACKING]", "what this machine's FUSE setup can do"},
	{"bench", zctl_cmd_bench, "FILE [--size N] [--modes L]", "each read mode measured on a file"},
};

static int usage(FILE *f, int code)
{
	fprintf(f, "usage: zcfsctl [--json] COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-9s %-30s %s\n", cmds[i].name, cmds[i].args, cmds[i].help);
	fprintf(f, "\noptions:\n"
		   "  --json     machine-readable output where the output is data\n"
		   "  --help     this text; COMMAND --help for a command's own options\n"
		   "  --version  the version\n"
		   "\nexit codes: 0 ok, 1 operation failed, 2 usage error, 3 not a zcfs mount or mount not\n"
		   "connected, 4 doctor found something missing, 5 a waited-for plan ended off-plan,\n"
		   "128+N interrupted by signal N. See zcfsctl(1).\n");
	return code;
}

int main(int argc, char **argv)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return usage(stdout, ZCTL_EXIT_OK);
		if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
			printf("zcfsctl %s\n", ZC_VERSION);
			return ZCTL_EXIT_OK;
		}
		if (strcmp(argv[i], "--json") == 0) {
			zctl_opt_json = true;
			continue;
		}
		fprintf(stderr, "zcfsctl: unknown option %s\n", argv[i]);
		return usage(stderr, ZCTL_EXIT_USAGE);
	}
	if (i >= argc)
		return usage(stderr, ZCTL_EXIT_USAGE);
	for (size_t c = 0; c < sizeof(cmds) / sizeof(cmds[0]); c++)
		if (strcmp(argv[i], cmds[c].name) == 0)
			return cmds[c].fn(argc - i, argv + i);
	fprintf(stderr, "zcfsctl: unknown command '%s' (zcfsctl --help lists them)\n", argv[i]);
	return ZCTL_EXIT_USAGE;
}
