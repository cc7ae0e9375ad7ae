/* backcap.h - what the backing directory's filesystem can do for zcfs (user xattrs, O_DIRECT,
 * file handles, stable inode numbers, local or remote), probed without writing anything, and
 * the lines that .zcfs/config and zcfsctl doctor show for it, each with what zcfs does about a
 * missing capability. Thread-safe, no global state, nothing to free. */
#ifndef ZC_BACKCAP_H
#define ZC_BACKCAP_H

#include <stdbool.h>
#include <stddef.h>

enum zc_cap { ZC_CAP_UNKNOWN, ZC_CAP_YES, ZC_CAP_NO };

struct zc_backcap {
	char fstype[64];          /* from /proc/self/mountinfo ("ext4", "fuse.s3fs", "nfs4"), or "?" */
	bool is_fuse;             /* a FUSE filesystem: its daemon decides inode numbers */
	bool is_remote;           /* reads cross a network (nfs, cifs, ceph, 9p, lustre, fuse.*) */
	enum zc_cap xattrs;       /* user.* extended attributes */
	enum zc_cap o_direct;     /* open(O_DIRECT) of a regular file is accepted */
	enum zc_cap handles;      /* name_to_handle_at + open_by_handle_at work */
	bool handles_volatile;    /* handles resolve only while the backing's kernel keeps the inode */
	enum zc_cap stable_ino;   /* a file keeps its inode number for its life */
	int xattrs_err, o_direct_err, handles_err; /* errno behind a NO (or UNKNOWN), else 0 */
};

/* Probe the filesystem of dirfd (an O_RDONLY directory descriptor of the backing root) without
 * writing: fstatfs, mountinfo, one getxattr of the root, a file handle of the root reopened,
 * and an O_DIRECT open of the first regular file among the root's first 64 entries (none:
 * o_direct stays UNKNOWN). Blocks on the backing (a remote one: a few requests). Returns 0 or
 * -errno (fstatfs failed); out is filled as far as the probe got. */
int zc_backcap_probe(int dirfd, struct zc_backcap *out);

/* From the filesystem type alone (mountinfo's fstype, e.g. "fuse.sshfs"): is_fuse, is_remote
 * and stable_ino. Pure; the probe calls it. */
void zc_backcap_classify(struct zc_backcap *c, const char *fstype);

/* The fstype field of mount mnt_id in mountinfo text (one line per mount), copied into out.
 * Returns 0, or -ENOENT when mnt_id has no line, -EINVAL for a malformed line. */
int zc_backcap_mountinfo_fstype(const char *mountinfo, int mnt_id, char *out, size_t len);

/* One line per capability: key (fstype, remote, xattrs, o_direct, handles, inodes), its value
 * ("yes", "no", "volatile", "unknown", or the fs type), whether it is lacking, and what zcfs
 * does about it. */
struct zc_backcap_line {
	const char *key;
	char value[64];
	bool lacking;
	char detail[320];
};
#define ZC_BACKCAP_NLINES 6
/* Fill lines[ZC_BACKCAP_NLINES]. xattr_store says where user.zcfs.* go when the backing has
 * no xattrs (NULL: "zcfs keeps them", the mount's choice not known). Returns the count. */
int zc_backcap_lines(const struct zc_backcap *c, const char *xattr_store,
		     struct zc_backcap_line *lines);
/* "backing_KEY=VALUE\n" for each line, into buf. Returns the length it needed (as snprintf). */
int zc_backcap_format(const struct zc_backcap *c, char *buf, size_t len);
/* Read back what zc_backcap_format wrote (other lines ignored). Returns 0, or -ENOENT when
 * text has no backing_fstype line. */
int zc_backcap_parse(const char *text, struct zc_backcap *out);

#endif
