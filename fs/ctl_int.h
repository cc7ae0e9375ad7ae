/* ctl_int.h - private to the control plane: running one command line of the ctl file
 * (ctl_cmd.c) for the node code in ctl.c. */
#ifndef ZCD_CTL_INT_H
#define ZCD_CTL_INT_H

#include <fuse_lowlevel.h>
#include <stddef.h>

/* Run the command in line[0..len) for the caller of req and return the reply text ("ok\n..."
 * or "error ENAME: ...\n"), malloc'ed (NULL only without memory). Paths resolve strictly below
 * the backing root, as the caller. Blocks for the command's I/O. */
char *zcd_ctl_execute(fuse_req_t req, const char *line, size_t len);

#endif
