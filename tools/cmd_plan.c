/* cmd_plan.c - zcfsctl prefetch --plan LIST MOUNTPOINT: send a job's reading order to the daemon
 * as a plan (ctl: "plan ...", one path per line, an empty line), then follow it: on a terminal a
 * bar with the job's position and the prefetch frontier, until the plan ends; then a summary
 * (or --json). --no-wait returns once the plan is made (for launchers). */
#include "zcfsctl.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int usage(int code)
{
	printf("usage: zcfsctl prefetch --plan LIST [--window BYTES] [--depth N] [--spread N] [--store]\n"
	       "                        [--no-wait] [--json] DIR\n"
	       "Tell zcfs the order in which a job will open files: one path per line, relative to\n"
	       "DIR (the mount point or a directory in the mount) or absolute under the mount point\n"
	       "(LIST is a file, or - for standard input). zcfs keeps the files after the one the job\n"
	       "opened last read ahead, within the window and queue depth, and drops what it read and\n"
	       "the job never opened when the plan ends.\n"
	       "  --window BYTES  read ahead at most this much (k, m, g); default: the mount's\n"
	       "  --depth N       reads in flight (1-64); default: the mount's\n"
	       "  --spread N      files the job's readers are apart at most (a DataLoader: workers x\n"
	       "                  batch size x prefetch_factor); default: learned from the opens\n"
	       "  --store         also into the mount's page cache (keep/auto files): the job's\n"
	       "                  reads then never reach the daemon\n"
	       "  --no-wait       print the plan's number and return (cancel: zcfsctl prefetch\n"
	       "                  --cancel N MOUNTPOINT)\n"
	       "  --cancel N      end plan N now\n"
	       "  --json          JSON summary\n"
	       "Waiting, it exits 0 when the job opened every planned file (complete), 5 when the\n"
	       "job read in another order (off-plan), 1 when the plan ended otherwise (idle for two\n"
	       "minutes, cancelled), 3 when the mount went away, 128+N on signal N (the plan is\n"
	       "cancelled).\n");
	return code;
}

static volatile sig_atomic_t interrupted;
static void on_signal(int sig)
{
	interrupted = sig;
}

/* The daemon's refusal, its "line N" (the N-th path sent) told as LIST:LINE of the list. */
static void say_refusal(const char *list, const char *msg, const size_t *lines, size_t files)
{
	const char *at = strstr(msg, ": line ");
	char *end;
	unsigned long k;

	if (at) {
		k = strtoul(at + 7, &end, 10);
		if (k >= 1 && k <= files && *end == ':') {
			fprintf(stderr, "zcfsctl prefetch --plan: %s:%zu:%s (%.*s)\n", list, lines[k - 1], end + 1,
				(int)(at - msg), msg);
			return;
		}
	}
	fprintf(stderr, "zcfsctl prefetch --plan: %s\n", msg);
}

/* The list as a plan text: "plan OPTS\n" + one path per line + "\n". An absolute path must lie
 * under the mountpoint root and is sent relative to it. -EINVAL (said, with the line) if not.
 * (*lines)[k]: the list's line number of the k-th path sent (empty lines are not sent). */
static int build_text(FILE *in, const char *list, const char *root, const char *base, const char *opts,
		      char **text, size_t *len, size_t *files, size_t **lines)
{
	FILE *out = open_memstream(text, len);
	size_t rlen = strcmp(root, "/") ? strlen(root) : 0, lineno = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	if (!out)
		return -ENOMEM;
	/* escaped=1: each path as zctl_escape_path writes it, so a name with a newline, a trailing
	 * carriage return or other control bytes arrives as it is */
	fprintf(out, "plan%s escaped=1\n", opts);
	*files = 0;
	while ((n = getline(&line, &cap, in)) >= 0) {
		if (n && line[n - 1] == '\n')
			line[--n] = '\0'; /* only the newline: a trailing CR is part of the name */
		lineno++;
		if (!n)
			continue; /* an empty line would end the plan early */
		const char *p = line;
		bool relative = p[0] != '/';
		if (!relative) {
			if (strncmp(p, root, rlen) != 0 || (p[rlen] != '/' && p[rlen] != '\0')) {
				fprintf(stderr, "zcfsctl prefetch --plan: %s:%zu: %s is not under %s\n", list,
					lineno, p, root);
				rc = -EINVAL;
				break;
			}
			p += rlen;
			while (*p == '/')
				p++;
		}
		if ((*files & (*files - 1)) == 0) { /* 0, 1, 2, 4, ...: grow */
			size_t *v = realloc(*lines, (*files ? 2 * *files : 1) * sizeof(*v));
			if (!v) {
				rc = -ENOMEM;
				break;
			}
			*lines = v;
		}
		(*lines)[*files] = lineno;
		if (relative && strcmp(base, ".") != 0) { /* relative to the directory given */
			zctl_escape_path(out, base);
			fputc('/', out);
		}
		zctl_escape_path(out, *p ? p : ".");
		fputc('\n', out);
		(*files)++;
	}
	if (rc == 0 && *files == 0) {
		fprintf(stderr, "zcfsctl prefetch --plan: %s: no paths in the list\n", list);
		rc = -EINVAL;
	}
	fputc('\n', out);
	free(line);
	if (fclose(out) != 0 && rc == 0)
		rc = -ENOMEM;
	return rc;
}

static void draw(uint64_t files, uint64_t pos, uint64_t front, double t0)
{
	int width = 40;
	char bar[64];

	for (int i = 0; i < width; i++) {
		uint64_t at = files ? (uint64_t)i * files / (uint64_t)width : 0;
		bar[i] = at < pos ? '#' : at < front ? '>' : '.';
	}
	bar[width] = '\0';
	fprintf(stderr, "\rplan [%s] job %llu/%llu, read ahead to %llu  %.0fs \033[K", bar,
		(unsigned long long)pos, (unsigned long long)files, (unsigned long long)front,
		zctl_now() - t0);
	fflush(stderr);
}

/* The books of an ended plan; returns the exit code its end means. */
static int summary(const char *reply, double secs)
{
	static const char *const keys[] = { "plan", "state", "files", "position", "prefetched", "bytes",
					    "skipped", "hits", "partial", "misses", "wasted_bytes",
					    "spread", "strays" };
	char v[64], state[32] = "";
	int code;

	zctl_reply_get(reply, "state", state, sizeof(state));
	code = strcmp(state, "complete") == 0 ? ZCTL_EXIT_OK
	       : strcmp(state, "off-plan") == 0 ? ZCTL_EXIT_OFFPLAN : ZCTL_EXIT_FAIL;
	if (strcmp(state, "off-plan") == 0)
		fprintf(stderr, "zcfsctl prefetch --plan: plan %llu ended off-plan: the job opened the "
				"planned files in another order, so reading ahead stopped (a job whose readers "
				"are far apart: try --spread)\n",
			(unsigned long long)zctl_reply_u64(reply, "plan"));
	else if (code != ZCTL_EXIT_OK)
		fprintf(stderr, "zcfsctl prefetch --plan: plan %llu ended %s before the job opened "
				"every planned file\n",
			(unsigned long long)zctl_reply_u64(reply, "plan"), state);

	if (zctl_opt_json) {
		printf("{");
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			zctl_reply_get(reply, keys[i], v, sizeof(v));
			printf("%s\"%s\":", i ? "," : "", keys[i]);
			if (strcmp(keys[i], "state") == 0)
				zc_json_string(stdout, v);
			else
				printf("%s", v[0] ? v : "0");
		}
		printf(",\"seconds\":%.3f}\n", secs);
		return code;
	}
	snprintf(v, sizeof(v), "%s", state);
	printf("plan %llu %s after %.1fs: %llu of %llu files opened by the job; read ahead %llu "
	       "files (%llu bytes), skipped %llu; the job's opens: %llu hits, %llu partial, %llu misses; "
	       "%llu bytes read ahead and never opened (dropped)\n",
	       (unsigned long long)zctl_reply_u64(reply, "plan"), v, secs,
	       (unsigned long long)zctl_reply_u64(reply, "position"),
	       (unsigned long long)zctl_reply_u64(reply, "files"),
	       (unsigned long long)zctl_reply_u64(reply, "prefetched"),
	       (unsigned long long)zctl_reply_u64(reply, "bytes"),
	       (unsigned long long)zctl_reply_u64(reply, "skipped"),
	       (unsigned long long)zctl_reply_u64(reply, "hits"),
	       (unsigned long long)zctl_reply_u64(reply, "partial"),
	       (unsigned long long)zctl_reply_u64(reply, "misses"),
	       (unsigned long long)zctl_reply_u64(reply, "wasted_bytes"));
	return code;
}

/* The plan's mount stopped answering or went away while we waited. */
static int mount_gone(const char *mnt, bool on, int rc)
{
	struct zctl_mount again;
	int frc = zctl_mount_find(mnt, &again);

	if (on)
		fputc('\n', stderr);
	if (frc < 0)
		return zctl_mount_complain(mnt, frc == -ENOENT ? -ENODEV : frc);
	return zctl_mount_complain(mnt, rc);
}

int zctl_cmd_plan(int argc, char **argv)
{
	const char *list = NULL, *mnt = NULL;
	char opts[128] = "", extra[64], cmd[64], *text = NULL, *reply = NULL;
	bool wait = true, on;
	unsigned long cancel = 0;
	size_t len, files, *lines = NULL;
	struct zctl_mount m;
	double t0 = zctl_now();
	FILE *in;
	int rc;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--plan") == 0 && i + 1 < argc) {
			list = argv[++i];
		} else if ((strcmp(a, "--window") == 0 || strcmp(a, "--depth") == 0 ||
			    strcmp(a, "--spread") == 0) && i + 1 < argc) {
			snprintf(extra, sizeof(extra), " %s=%s", a + 2, argv[++i]);
			strncat(opts, extra, sizeof(opts) - strlen(opts) - 1);
		} else if (strcmp(a, "--store") == 0) {
			strncat(opts, " store=1", sizeof(opts) - strlen(opts) - 1);
		} else if (strcmp(a, "--no-wait") == 0) {
			wait = false;
		} else if (strcmp(a, "--cancel") == 0 && i + 1 < argc) {
			char *end;
			const char *v = argv[++i];
			cancel = strtoul(v, &end, 10);
			if (!*v || *end || v[0] == '-' || cancel == 0 || cancel > UINT32_MAX) {
				fprintf(stderr, "zcfsctl prefetch --cancel: expected a plan number, got '%s'\n", v);
				return ZCTL_EXIT_USAGE;
			}
		} else if (strcmp(a, "--json") == 0) {
			zctl_opt_json = true;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			return usage(ZCTL_EXIT_OK);
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "zcfsctl prefetch: unknown option %s (try --help)\n", a);
			return ZCTL_EXIT_USAGE;
		} else if (!mnt) {
			mnt = a;
		} else {
			fprintf(stderr, "zcfsctl prefetch --plan: one MOUNTPOINT\n");
			return ZCTL_EXIT_USAGE;
		}
	}
	if ((!list && !cancel) || !mnt)
		return usage(ZCTL_EXIT_USAGE);
	rc = zctl_mount_find(mnt, &m);
	if (rc < 0)
		return zctl_mount_complain(mnt, rc);
	if (cancel) {
		snprintf(cmd, sizeof(cmd), "plan cancel %lu", cancel);
		rc = zctl_ctl(&m, cmd, &reply);
		if (rc < 0)
			fprintf(stderr, "zcfsctl prefetch --cancel: %s\n", reply ? strtok(reply, "\n") : strerror(-rc));
		free(reply);
		return rc < 0 ? ZCTL_EXIT_FAIL : ZCTL_EXIT_OK;
	}
	in = strcmp(list, "-") == 0 ? stdin : fopen(list, "re");
	if (!in) {
		fprintf(stderr, "zcfsctl prefetch --plan: %s: %s\n", list, strerror(errno));
		return ZCTL_EXIT_FAIL;
	}
	rc = build_text(in, list, m.root, m.rel, opts, &text, &len, &files, &lines);
	if (in != stdin)
		fclose(in);
	if (rc < 0) {
		free(text);
		free(lines);
		return ZCTL_EXIT_FAIL;
	}
	rc = zctl_ctl_text(&m, text, len, &reply);
	free(text);
	if (rc < 0) {
		if (!reply && (rc == -ENOTCONN || rc == -ENOENT)) {
			free(lines);
			return mount_gone(mnt, false, rc);
		}
		say_refusal(list, reply ? strtok(reply, "\n") : strerror(-rc), lines, files);
		free(reply);
		free(lines);
		return ZCTL_EXIT_FAIL;
	}
	free(lines);
	unsigned long long id = zctl_reply_u64(reply, "plan");
	free(reply);
	reply = NULL;
	if (!wait) {
		if (zctl_opt_json)
			printf("{\"plan\":%llu,\"files\":%zu}\n", id, files);
		else
			printf("plan %llu: %zu file%s\n", id, files, files == 1 ? "" : "s");
		return ZCTL_EXIT_OK;
	}
	on = isatty(STDERR_FILENO) && !getenv("ZCFSCTL_NO_PROGRESS");
	if (on)
		fprintf(stderr, "plan %llu: %zu file%s (Ctrl-C cancels it)\n", id, files, files == 1 ? "" : "s");
	signal(SIGINT, on_signal); /* interrupted while waiting: the plan goes too */
	signal(SIGTERM, on_signal);
	snprintf(cmd, sizeof(cmd), "plan status %llu", id);
	for (;;) {
		if (interrupted) {
			snprintf(cmd, sizeof(cmd), "plan cancel %llu", id);
			rc = zctl_ctl(&m, cmd, &reply);
			fprintf(stderr, "%szcfsctl prefetch --plan: interrupted; plan %llu %s\n", on ? "\n" : "", id,
				rc < 0 ? "could not be cancelled" : "cancelled");
			free(reply);
			return 128 + (int)interrupted;
		}
		char state[32] = "";
		rc = zctl_ctl(&m, cmd, &reply);
		if (rc < 0 && !reply) /* no reply at all: the daemon is gone, or the mount */
			return mount_gone(mnt, on, rc);
		if (rc < 0) {
			fprintf(stderr, "%szcfsctl prefetch --plan: %s\n", on ? "\n" : "", strtok(reply, "\n"));
			free(reply);
			return ZCTL_EXIT_FAIL;
		}
		zctl_reply_get(reply, "state", state, sizeof(state));
		if (on)
			draw(zctl_reply_u64(reply, "files"), zctl_reply_u64(reply, "position"),
			     zctl_reply_u64(reply, "frontier"), t0);
		if (strcmp(state, "active") != 0) {
			if (on)
				fputc('\n', stderr);
			rc = summary(reply, zctl_now() - t0);
			free(reply);
			return rc;
		}
		free(reply);
		reply = NULL;
		usleep(250000);
	}
}
