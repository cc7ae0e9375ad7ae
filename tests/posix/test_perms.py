#!/usr/bin/env python3
"""Permissions, differentially: every operation below runs as root and as two unprivileged users
(alice 54321, in group 54400; bob 54322), once on the backing directory itself and once through a
root daemon's mount (-o allow_other,default_permissions), each time on a fresh copy of the same
tree. The outcome (success or errno) and the state afterwards (existence, owner, group, mode of
the paths the op touches) must be the same: a user gets through the mount exactly what the
backing filesystem gives them, no more and no less. Covers search permission along the path,
read/write/execute bits, sticky directories, hard-link protection, setgid directories, chown and
chgrp rules, chmod, utimes, truncate, xattrs, rename and unlink rules, setuid bits cleared by a
write, POSIX ACLs (enforced by the kernel's ACL cache), trusted.* names (listed to root
only), O_APPEND cleared by fcntl, and the control plane's ctl file (owner only). Usage: test_perms.py ZCFS"""
import errno, fcntl, os, shutil, subprocess, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "pylib"))
from zcfstest import Mount, assert_clean_log, require_fuse, run_as, temp_tree  # noqa: E402

ZCFS = os.path.realpath(sys.argv[1])
ALICE, BOB, GRP = 54321, 54322, 54400
USERS = {"root": (0, 0, []), "alice": (ALICE, ALICE, [ALICE, GRP]), "bob": (BOB, BOB, [BOB])}


def build(r):
    """The tree every op starts from (made as root, directly on the backing)."""
    def mk(path, mode, uid=0, gid=0, data=b"x", d=False):
        p = os.path.join(r, path)
        if d:
            os.mkdir(p)
        else:
            with open(p, "wb") as f:
                f.write(data)
        os.chown(p, uid, gid)
        os.chmod(p, mode)
    os.makedirs(r)
    os.chmod(r, 0o755)
    mk("pub", 0o1777, d=True)
    mk("pub/roots", 0o644)
    mk("pub/alices", 0o644, ALICE, ALICE)
    mk("aprivate", 0o700, ALICE, ALICE, d=True)
    mk("aprivate/f", 0o644, ALICE, ALICE)
    mk("aprivate/sub", 0o755, ALICE, ALICE, d=True)
    mk("groupdir", 0o2775, 0, GRP, d=True)
    mk("rootfile", 0o644)
    mk("rootexec", 0o755, data=b"#!/bin/sh\n")
    mk("ro", 0o555, d=True)
    mk("ro/x", 0o644)
    mk("bobfile", 0o600, BOB, BOB)
    mk("alicefile", 0o644, ALICE, ALICE)
    mk("shared", 0o666)
    mk("suidfile", 0o4777, ALICE, ALICE)
    mk("noread", 0o200, ALICE, ALICE)
    os.symlink("rootfile", os.path.join(r, "link"))
    # ACLs: one denying alice a world-readable file, one granting bob a 0600 file
    mk("acldeny", 0o644)
    mk("aclgrant", 0o600)
    subprocess.run(["setfacl", "-m", f"u:{ALICE}:---", os.path.join(r, "acldeny")], check=True)
    subprocess.run(["setfacl", "-m", f"u:{BOB}:r--", os.path.join(r, "aclgrant")], check=True)
    # a trusted.* name (listed only to CAP_SYS_ADMIN) beside a user.* one
    mk("xattrs", 0o644)
    os.setxattr(os.path.join(r, "xattrs"), "trusted.zcfs-test", b"secret")
    os.setxattr(os.path.join(r, "xattrs"), "user.note", b"n")
    mk("appendme", 0o666, data=b"ab")
    mk("aclro", 0o666)  # writable by mode, read-only for alice by ACL
    subprocess.run(["setfacl", "-m", f"u:{ALICE}:r--", os.path.join(r, "aclro")], check=True)


def write_then_mode(p):
    """Write, then ask for the mode alone (stat -c %a: statx with STATX_MODE), which the kernel
    answers from what it cached unless told the write changed it."""
    os.stat(p)  # the attributes cached before the write
    with open(p, "r+b") as f:
        f.write(b"w")
    return subprocess.run(["stat", "-c", "%a", p], capture_output=True, text=True).stdout.strip()


def write_after_clearing_append(p):
    """O_APPEND dropped with fcntl after the open: the write lands at offset 0."""
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, 0)
        os.write(fd, b"Z")
    finally:
        os.close(fd)
    return open(p, "rb").read()


def utime_now(p):
    os.utime(p, None)


# Each op: (name, function of the tree root R, paths whose state is compared afterwards).
OPS = [
    ("read private file", lambda R: open(f"{R}/aprivate/f", "rb").read(), []),
    ("stat in private dir", lambda R: os.stat(f"{R}/aprivate/f"), []),
    ("list private dir", lambda R: sorted(os.listdir(f"{R}/aprivate")), []),
    ("create in private dir", lambda R: open(f"{R}/aprivate/new", "w").close(), ["aprivate/new"]),
    ("write root file", lambda R: open(f"{R}/rootfile", "r+b").write(b"y"), ["rootfile"]),
    ("read write-only file", lambda R: open(f"{R}/noread", "rb").read(), []),
    ("write shared file", lambda R: open(f"{R}/shared", "r+b").write(b"y"), ["shared"]),
    ("create in read-only dir", lambda R: open(f"{R}/ro/new", "w").close(), ["ro/new"]),
    ("unlink in read-only dir", lambda R: os.unlink(f"{R}/ro/x"), ["ro/x"]),
    ("create in sticky dir", lambda R: open(f"{R}/pub/mine", "w").close(), ["pub/mine"]),
    ("unlink other's in sticky dir", lambda R: os.unlink(f"{R}/pub/roots"), ["pub/roots"]),
    ("unlink alice's in sticky dir", lambda R: os.unlink(f"{R}/pub/alices"), ["pub/alices"]),
    ("rename alice's in sticky dir", lambda R: os.rename(f"{R}/pub/alices", f"{R}/pub/moved"),
     ["pub/alices", "pub/moved"]),
    ("rename over root's in sticky dir", lambda R: os.rename(f"{R}/pub/alices", f"{R}/pub/roots"),
     ["pub/alices", "pub/roots"]),
    ("hard link bob's 0600 file", lambda R: os.link(f"{R}/bobfile", f"{R}/pub/l"), ["pub/l", "bobfile"]),
    ("hard link root's 0644 file", lambda R: os.link(f"{R}/rootfile", f"{R}/pub/l2"), ["pub/l2"]),
    ("mkdir in setgid dir", lambda R: os.mkdir(f"{R}/groupdir/d", 0o755), ["groupdir/d"]),
    ("create in setgid dir", lambda R: open(f"{R}/groupdir/f", "w").close(), ["groupdir/f"]),
    ("chmod root's file", lambda R: os.chmod(f"{R}/rootfile", 0o666), ["rootfile"]),
    ("chmod alice's file", lambda R: os.chmod(f"{R}/alicefile", 0o600), ["alicefile"]),
    ("chmod g+s, group not held", lambda R: os.chmod(f"{R}/alicefile", 0o2644), ["alicefile"]),
    ("chown alice's file to bob", lambda R: os.chown(f"{R}/alicefile", BOB, -1), ["alicefile"]),
    ("chgrp alice's file to 54400", lambda R: os.chown(f"{R}/alicefile", -1, GRP), ["alicefile"]),
    ("chgrp alice's file to 0", lambda R: os.chown(f"{R}/alicefile", -1, 0), ["alicefile"]),
    ("utimes explicit on root's", lambda R: os.utime(f"{R}/rootfile", (1, 1)), []),
    ("utimes now on shared", lambda R: utime_now(f"{R}/shared"), []),
    ("utimes now on root's", lambda R: utime_now(f"{R}/rootfile"), []),
    ("truncate root's file", lambda R: os.truncate(f"{R}/rootfile", 0), ["rootfile"]),
    ("truncate shared file", lambda R: os.truncate(f"{R}/shared", 0), ["shared"]),
    ("setxattr on root's file", lambda R: os.setxattr(f"{R}/rootfile", "user.k", b"v"), []),
    ("setxattr on alice's file", lambda R: os.setxattr(f"{R}/alicefile", "user.k", b"v"), []),
    ("getxattr in private dir", lambda R: os.listxattr(f"{R}/aprivate/f"), []),
    ("readlink", lambda R: os.readlink(f"{R}/link"), []),
    ("access X on rootexec", lambda R: os.access(f"{R}/rootexec", os.X_OK), []),
    ("access W on root's file", lambda R: os.access(f"{R}/rootfile", os.W_OK), []),
    ("write to setuid file", lambda R: open(f"{R}/suidfile", "r+b").write(b"z"), ["suidfile"]),
    ("mode alone (statx) after a write to setuid file", lambda R: write_then_mode(f"{R}/suidfile"),
     ["suidfile"]),
    ("rmdir private subdir", lambda R: os.rmdir(f"{R}/aprivate/sub"), ["aprivate/sub"]),
    ("mknod fifo in pub", lambda R: os.mkfifo(f"{R}/pub/fifo"), ["pub/fifo"]),
    ("read file an ACL denies", lambda R: open(f"{R}/acldeny", "rb").read(), []),
    ("read 0600 file an ACL grants", lambda R: open(f"{R}/aclgrant", "rb").read(), []),
    ("list xattrs beside trusted.*", lambda R: sorted(os.listxattr(f"{R}/xattrs")), []),
    ("write after F_SETFL clears O_APPEND", lambda R: write_after_clearing_append(f"{R}/appendme"),
     ["appendme"]),
    ("symlink in ro", lambda R: os.symlink("x", f"{R}/ro/s"), ["ro/s"]),
]


def hold_stats(root, want):
    """Open .zcfs/stats want times, keeping each open: (opened, errno name of the refusal or
    None, opens that work again after one close)."""
    fds, err, again = [], None, 0
    try:
        for _ in range(want):
            try:
                fds.append(os.open(os.path.join(root, ".zcfs", "stats"), os.O_RDONLY))
            except OSError as e:
                err = errno.errorcode[e.errno]
                break
        if err:
            os.close(fds.pop())
            os.close(os.open(os.path.join(root, ".zcfs", "stats"), os.O_RDONLY))
            again = 1
        return len(fds) + again, err, again
    finally:
        for fd in fds:
            os.close(fd)


def state(root, paths):
    out = {}
    for p in paths:
        try:
            st = os.lstat(os.path.join(root, p))
            out[p] = [st.st_uid, st.st_gid, oct(st.st_mode)]
        except FileNotFoundError:
            out[p] = None
    return out


def run_user(user, fn, root):
    """fn(root) as user: ["ok", value] or ["err", errno name] (zcfstest.run_as)."""
    uid, gid, groups = USERS[user]
    return run_as(uid, gid, groups, lambda: fn(root))


def main():
    require_fuse()
    top, S, M = temp_tree("zcfs-perms.")
    log = os.path.join(top, "log")
    n = fails = 0
    # allow_other without default_permissions is refused (test_posix.py), so the daemon-checked
    # mode serves only the mounting user: that pass runs as root alone.
    passes = [(["allow_other", "default_permissions"], list(USERS)), ([], ["root"])]
    for opts, users in passes:
      mnt = Mount(ZCFS, S, M, opts, log)
      try:
        for user in users:
            for i, (name, fn, paths) in enumerate(OPS):
                d = f"{user}-{i}-{len(opts)}"
                build(os.path.join(S, "direct", d))
                build(os.path.join(S, "viamount", d))
                a = run_user(user, fn, os.path.join(S, "direct", d))
                b = run_user(user, fn, os.path.join(M, "viamount", d))
                sa = state(os.path.join(S, "direct", d), paths)
                sb = state(os.path.join(S, "viamount", d), paths)
                n += 1
                how = ",".join(opts) or "no options"
                if a != b or sa != sb:
                    fails += 1
                    print(f"not ok {n} - [{how}] {user}: {name}: backing {a} {sa}, through the mount {b} {sb}", flush=True)
                else:
                    print(f"ok {n} - [{how}] {user}: {name}: {a[0]} {a[1] if a[0] == 'err' else ''}".rstrip(), flush=True)
        # The control plane: the ctl file is the mounting user's (root's) only.
        for user in users[1:]:
            r = run_user(user, lambda R: open(os.path.join(R, ".zcfs", "ctl"), "r+b"), M)
            n += 1
            if r != ["err", "EACCES"]:
                fails += 1
                print(f"not ok {n} - {user}: ctl open gave {r}")
            else:
                print(f"ok {n} - {user}: the ctl file is refused (EACCES)")
        # user.zcfs.residency (a side channel) only for who could write the file, by the
        # kernel's own check: an ACL that makes it read-only for alice refuses her
        if len(users) > 1:
            d = os.path.join(M, "viamount", f"{users[1]}-0-{len(opts)}", "aclro")
            res = {u: run_user(u, lambda R: os.getxattr(R, "user.zcfs.residency")[:10], d)
                   for u in ("alice", "bob")}
            n += 1
            if res != {"alice": ["err", "EACCES"], "bob": ["ok", "b'page_size='"]}:
                fails += 1
                print(f"not ok {n} - residency of a file an ACL makes read-only: {res}")
            else:
                print(f"ok {n} - residency: refused where an ACL denies writing, given by mode bits")
        # Each open of stats holds a snapshot of its own: another user may hold 64 at once (the
        # 65th is refused, one closed makes room), the owner is not limited.
        if len(users) > 1:
            got = run_user(users[1], lambda R: hold_stats(R, 65), M)
            own = hold_stats(M, 200)
            n += 1
            if got != ["ok", "(64, 'EMFILE', 1)"] or own != (200, None, 0):
                fails += 1
                print(f"not ok {n} - stats opens held: {users[1]} {got}, owner {own}")
            else:
                print(f"ok {n} - {users[1]} holds at most 64 stats snapshots (EMFILE after), the owner 200")
      finally:
        mnt.close()
    assert_clean_log(log)
    shutil.rmtree(top)
    print(f"{n - fails} passed, {fails} failed")
    sys.exit(1 if fails else 0)


main()
