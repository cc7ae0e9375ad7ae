/* ctl_int.h - private to the control plane: running one command line of the ctl file
 * (ctl_cmd.c), and taking a reading plan written through it (ctl_plan.c), for the node code in
 * ctl.c. */
#ifndef ZCD_CTL_INT_H
#define ZCD_CTL_INT_H

#include <fuse_lowlevel.h>
#include <stddef.h>

/* Run the command in line[0..len) for the caller of req and return the reply text ("ok\n..."
 * or "error ENAME: ...\n"), malloc'ed (NULL only without memory). Paths resolve strictly below
 * the backing root, as the caller. Blocks for the command's I/O. */
char *zcd_ctl_execute(fuse_req_t req, const char *line, size_t len);

struct zc_ctl_cmd;
struct zcd_plan_upload;

/* A plan whose first line was cmd ("plan ..."): feed it what the writer writes next. Returns 1
 * once the empty line ending the plan was seen (*reply: the reply, malloc'ed), else 0. */
struct zcd_plan_upload *zcd_plan_upload_new(const struct zc_ctl_cmd *cmd);
/* A plan whose first line was refused (err, msg): its paths are read and dropped, and the reply
 * is that error, not one about the paths taken for commands. */
struct zcd_plan_upload *zcd_plan_upload_refused(int err, const char *msg);
int zcd_plan_upload_feed(fuse_req_t req, struct zcd_plan_upload *u, const char *data, size_t len,
			 char **reply);
/* The writer reads before the empty line: take the plan as written. Returns the reply. */
char *zcd_plan_upload_finish(fuse_req_t req, struct zcd_plan_upload *u);
void zcd_plan_upload_free(struct zcd_plan_upload *u);

#endif
