/* fuzz_ctl.c - the control file's command parser: a command that parses has a known verb and a
 * path that is "." or relative, normalised (no "", ".", ".." components, no "//"), and
 * normalising it again changes nothing; a refusal comes with a message. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "zc/ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zc_ctl_cmd cmd;
	char err[256] = "";
	int rc = zc_ctl_parse((const char *)data, size, &cmd, err, sizeof(err));
	if (rc < 0) {
		assert(rc == -EINVAL || rc == -EPERM);
		assert(err[0] != '\0');
		return 0;
	}
	assert(cmd.verb >= ZC_CTL_RESIDENCY && cmd.verb <= ZC_CTL_PLAN);
	if (cmd.path[0] == '\0')
		return 0; /* verbs without a path */
	assert(cmd.path[0] != '/');
	assert(strstr(cmd.path, "//") == NULL);
	if (strcmp(cmd.path, ".") != 0) {
		char copy[sizeof(cmd.path)];
		strcpy(copy, cmd.path);
		for (char *save = NULL, *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save))
			assert(strcmp(c, "..") != 0 && strcmp(c, ".") != 0);
	}
	char again[PATH_MAX];
	assert(zc_ctl_path_normalise(cmd.path, again, sizeof(again)) == 0);
	assert(strcmp(again, cmd.path) == 0);
	return 0;
}
