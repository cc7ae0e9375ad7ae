/* kmod.h - state of the fuse kernel module through libkmod, with a fallback to /sys/module and
 * /proc/filesystems where /lib/modules is absent; and the kernel's build options (CONFIG_*).
 * The root directory is a parameter so tests can point it at a fake tree. No global state. */
#ifndef ZC_KMOD_H
#define ZC_KMOD_H

#include <stddef.h>

enum zc_kmod_state {
	ZC_KMOD_BUILTIN,  /* compiled into the kernel */
	ZC_KMOD_LOADED,   /* a loaded module */
	ZC_KMOD_LOADABLE, /* a module file exists under /lib/modules/$(uname -r) */
	ZC_KMOD_ABSENT,   /* none of the above */
	ZC_KMOD_UNKNOWN,  /* could not tell (see detail) */
};

const char *zc_kmod_state_name(enum zc_kmod_state st);

/* Tell the state of module "fuse" below root ("/" normally). detail receives a one-line
 * explanation ("/lib/modules/6.1.0 missing; /proc/filesystems lists fuse"). Returns 0 or -errno;
 * a missing /lib/modules is not an error. */
int zc_kmod_fuse_state(const char *root, enum zc_kmod_state *st, char *detail, size_t len);

/* Load the fuse module through libkmod (needs root). Returns 0, -ENOENT if it cannot be found,
 * -ENOTSUP when built without libkmod, or another -errno. */
int zc_kmod_load_fuse(void);

/* The value of kernel build option name ("CONFIG_FUSE_PASSTHROUGH") for kernel release: from
 * /boot/config-RELEASE, else /proc/config.gz (needs zlib). val gets "y", "m", a value, or "n"
 * for "# name is not set". Returns 0; -ENOENT when neither file exists (or the .gz cannot be
 * read without zlib); -ENODATA when the files do not mention name. where gets the file read. */
int zc_kernel_config(const char *root, const char *release, const char *name, char *val, size_t len,
		     char *where, size_t wlen);

#endif
