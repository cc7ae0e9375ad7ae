#!/usr/bin/python3
"""Real applications through the mount, each run the same way on the backing filesystem (ext4)
and compared: tar (extract, then tar --compare and a metadata walk: modes, mtimes, links,
symlinks, xattrs, sparse files), a compiler under make (identical objects and output; make sees
the build as up to date, then rebuilds exactly what was touched, through the mount or in the
backing directory), git (the same commit id as on ext4, a clean status, fsck, gc), sqlite (the
same dump, integrity_check) and numpy.memmap (w+ then r+, the bytes as on ext4). Every read mode,
each in a directory routed by user.zcfs.mode. Usage: test_apps.py ZCFS"""
import hashlib, os, shutil, sqlite3, stat, subprocess, sys, time
from contextlib import closing

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "pylib"))
from zcfstest import Mount, assert_clean_log, done, ok, require_fuse, temp_tree  # noqa: E402

import numpy as np  # noqa: E402

ZCFS = os.path.realpath(sys.argv[1])
features = subprocess.run([ZCFS, "--version"], capture_output=True, text=True).stdout
MODES = ["buffered", "direct", "mmap", "splice"] + (["passthrough"] if "passthrough" in features else [])
GIT_ENV = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null",
               GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@zcfs.invalid", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@zcfs.invalid", GIT_AUTHOR_DATE="2026-01-01T00:00:00Z",
               GIT_COMMITTER_DATE="2026-01-01T00:00:00Z")


def sh(cmd, cwd, env=None):
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert r.returncode == 0, f"{cmd} in {cwd}: exit {r.returncode}: {r.stderr[-2000:]}"
    return r.stdout


def make_tree(d):
    """Real text (kernel uapi headers), a symlink, a hard link, an empty directory, a sparse
    file, odd modes, an xattr and fixed mtimes."""
    src = "/usr/include/linux"
    os.makedirs(os.path.join(d, "inc"))
    for name in sorted(os.listdir(src))[:300]:
        p = os.path.join(src, name)
        if os.path.isfile(p) and not os.path.islink(p):
            shutil.copyfile(p, os.path.join(d, "inc", name))
    os.symlink("inc/kernel.h", os.path.join(d, "link"))
    os.symlink("nowhere", os.path.join(d, "dangling"))
    os.link(os.path.join(d, "inc", "kernel.h"), os.path.join(d, "hard"))
    os.makedirs(os.path.join(d, "empty", "deeper"))
    with open(os.path.join(d, "sparse"), "wb") as f:
        f.seek(8 << 20)
        f.write(b"end")
    os.chmod(os.path.join(d, "sparse"), 0o640)
    os.chmod(os.path.join(d, "empty"), 0o750)
    os.setxattr(os.path.join(d, "sparse"), "user.origin", b"zcfs-test")
    for root, dirs, files in os.walk(d):
        for n in files + dirs:
            os.utime(os.path.join(root, n), (1700000000, 1700000000), follow_symlinks=False)


def meta(d):
    """What a careful copy keeps, for every entry under d."""
    out = {}
    for root, dirs, files in os.walk(d):
        for n in sorted(files + dirs):
            p = os.path.join(root, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, d)
            e = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), int(st.st_mtime), st.st_nlink if not stat.S_ISDIR(st.st_mode) else 0)
            if stat.S_ISLNK(st.st_mode):
                e += (os.readlink(p),)
            elif stat.S_ISREG(st.st_mode):
                e += (st.st_size, hashlib.sha256(open(p, "rb").read()).hexdigest(),
                      tuple(sorted((x, os.getxattr(p, x)) for x in os.listxattr(p) if x.startswith("user.origin"))))
            out[rel] = e
    return out


def app_tar(ref, d, tarball):
    sh(["tar", "--xattrs", "--xattrs-include=user.*", "-xf", tarball], d)
    sh(["tar", "--xattrs", "--xattrs-include=user.*", "--compare", "-f", tarball], d)
    a, b = meta(ref), meta(d)
    assert a == b, f"tar: differs from ext4 in {[k for k in a if a.get(k) != b.get(k)][:5]} / {sorted(set(b) - set(a))[:5]}"
    st = os.stat(os.path.join(d, "sparse"))
    assert st.st_blocks * 512 < 1 << 20, f"sparse file not sparse through the mount: {st.st_blocks} blocks"
    # and back: an archive made from the mount lists the same entries as one made from ext4
    listing = lambda cwd: sh(["sh", "-c", "tar --sort=name --xattrs -cf - . | tar -tvf -"], cwd)
    assert listing(d) == listing(ref), "tar -c from the mount lists otherwise than from ext4"


def make_project(d):
    os.makedirs(d)
    n = 16
    with open(os.path.join(d, "f.h"), "w") as f:
        f.write("".join(f"int f{i}(int);\n" for i in range(n)))
    for i in range(n):
        with open(os.path.join(d, f"f{i}.c"), "w") as f:
            f.write(f'#include "f.h"\nint f{i}(int x) {{ int s = 0; for (int k = 0; k < x; k++) s += k * {i + 1}; return s; }}\n')
    with open(os.path.join(d, "main.c"), "w") as f:
        f.write('#include <stdio.h>\n#include "f.h"\nint main(void) {\n' +
                "".join(f'  printf("%d\\n", f{i}({i * 10}));\n' for i in range(n)) + "  return 0;\n}\n")
    objs = " ".join(f"f{i}.o" for i in range(n)) + " main.o"
    with open(os.path.join(d, "Makefile"), "w") as f:
        f.write(f"CFLAGS = -O2\nprog: {objs}\n\t$(CC) -o $@ $^\n%.o: %.c f.h\n\t$(CC) $(CFLAGS) -c -o $@ $<\n")


def objects(d):
    return {n: open(os.path.join(d, n), "rb").read() for n in sorted(os.listdir(d)) if n.endswith(".o")}


def app_make(ref, d, backing_d):
    make_project(d)
    sh(["make", "-j2", "-s"], d)
    assert sh(["./prog"], d) == sh(["./prog"], ref), "the program built through the mount prints otherwise"
    assert objects(d) == objects(ref), "objects built through the mount differ from ext4's"
    q = lambda: subprocess.run(["make", "-q"], cwd=d).returncode
    assert q() == 0, "make: a fresh build is not up to date through the mount"
    time.sleep(0.02)
    os.utime(os.path.join(d, "f3.c"))  # touched through the mount
    assert q() == 1, "make: a source touched through the mount is not seen"
    out = sh(["make", "-j2"], d)
    assert out.count("-c -o") == 1 and "f3.o" in out, f"make rebuilt other than f3.o: {out}"
    time.sleep(0.02)
    os.utime(os.path.join(backing_d, "f7.c"))  # touched in the backing directory
    t0 = time.monotonic()
    while q() != 1:
        assert time.monotonic() - t0 < 3, "make: a source touched in the backing directory not seen after 3 s"
        time.sleep(0.1)
    out = sh(["make", "-j2"], d)
    assert out.count("-c -o") == 1 and "f7.o" in out, f"make rebuilt other than f7.o: {out}"
    assert q() == 0


def app_git(ref_commit, d, tree):
    shutil.copytree(tree, d, symlinks=True)
    sh(["git", "init", "-q", "-b", "main"], d, GIT_ENV)
    sh(["git", "add", "-A"], d, GIT_ENV)
    sh(["git", "commit", "-q", "-m", "tree"], d, GIT_ENV)
    assert sh(["git", "rev-parse", "HEAD"], d, GIT_ENV).strip() == ref_commit, "git: another commit id than on ext4"
    assert sh(["git", "status", "--porcelain"], d, GIT_ENV) == "", "git: status not clean after a commit"
    sh(["git", "gc", "-q"], d, GIT_ENV)
    sh(["git", "fsck", "--full", "--no-progress"], d, GIT_ENV)
    assert sh(["git", "status", "--porcelain"], d, GIT_ENV) == "", "git: status not clean after gc"


def sqlite_run(d):
    db = os.path.join(d, "t.db")
    with closing(sqlite3.connect(db)) as c:
        c.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)")
        c.executemany("INSERT INTO t VALUES (?, ?)", ((i, f"v{i}" * 20) for i in range(20000)))
        c.commit()
        for j in range(10):
            c.execute("UPDATE t SET v = ? WHERE k % 11 = ?", (f"u{j}", j))
            c.commit()
        c.execute("DELETE FROM t WHERE k % 5 = 0")
        c.commit()
        c.execute("VACUUM")
        assert c.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with closing(sqlite3.connect(db)) as c:
        return hashlib.sha256("\n".join(c.iterdump()).encode()).hexdigest()


def numpy_run(d):
    p = os.path.join(d, "a.dat")
    w = np.memmap(p, dtype=np.float64, mode="w+", shape=(1 << 18,))
    w[:] = np.arange(1 << 18) * 0.5
    w.flush()
    del w
    r = np.memmap(p, dtype=np.float64, mode="r+")
    r[::1000] = -1.0
    r.flush()
    del r
    return hashlib.sha256(open(p, "rb").read()).hexdigest()


def main():
    require_fuse()
    top, S, M = temp_tree("zcfs-apps.")
    log = os.path.join(top, "log")
    ref = os.path.join(top, "ref")
    tree = os.path.join(ref, "tree")
    make_tree(tree)
    tarball = os.path.join(top, "tree.tar")
    sh(["tar", "--sparse", "--xattrs", "--xattrs-include=user.*", "-cf", tarball, "."], tree)
    os.mkdir(os.path.join(ref, "tar"))
    app_tar(tree, os.path.join(ref, "tar"), tarball)  # ext4 against itself: the check holds there
    make_project(os.path.join(ref, "make"))
    sh(["make", "-j2", "-s"], os.path.join(ref, "make"))
    app_git_ref = os.path.join(ref, "git")
    shutil.copytree(tree, app_git_ref, symlinks=True)
    sh(["git", "init", "-q", "-b", "main"], app_git_ref, GIT_ENV)
    sh(["git", "add", "-A"], app_git_ref, GIT_ENV)
    sh(["git", "commit", "-q", "-m", "tree"], app_git_ref, GIT_ENV)
    ref_commit = sh(["git", "rev-parse", "HEAD"], app_git_ref, GIT_ENV).strip()
    os.mkdir(os.path.join(ref, "db"))
    ref_dump = sqlite_run(os.path.join(ref, "db"))
    ref_np = numpy_run(ref)
    mnt = Mount(ZCFS, S, M, [], log)
    try:
        for mode in MODES:
            os.mkdir(os.path.join(S, mode))
            os.setxattr(os.path.join(M, mode), "user.zcfs.mode", mode.encode())
            d = lambda *p: os.path.join(M, mode, *p)
            t0 = time.monotonic()
            os.mkdir(d("tar"))
            app_tar(tree, d("tar"), tarball)
            app_make(os.path.join(ref, "make"), d("make"), os.path.join(S, mode, "make"))
            app_git(ref_commit, d("git"), tree)
            os.mkdir(d("db"))
            assert sqlite_run(d("db")) == ref_dump, "sqlite: another dump than on ext4"
            assert numpy_run(d()) == ref_np, "numpy.memmap: other bytes than on ext4"
            ok(f"{mode}: tar x + --compare, make -j2 (same objects, up to date, touched sources rebuilt), "
               f"git commit/status/gc/fsck (same commit id), sqlite dump, numpy.memmap as on ext4 "
               f"({time.monotonic() - t0:.1f} s)")
    finally:
        mnt.close()
        assert_clean_log(log)
        shutil.rmtree(top)
    done()


main()
