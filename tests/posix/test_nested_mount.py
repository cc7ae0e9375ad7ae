#!/usr/bin/env python3
"""A filesystem mounted inside the backing directory (a tmpfs on BACKING/vol): files on both
filesystems read and written through zcfs, inode numbers that cannot collide between the two
(through FUSE all files share the mount's st_dev), and,
with -o fd_cache=16, every idle descriptor closed and later reopened from its kernel file handle
on the right filesystem (each has its own anchor). Needs root. Usage: test_nested_mount.py ZCFS"""
import os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "pylib"))
from zcfstest import Mount, assert_clean_log, require_fuse  # noqa: E402

ZCFS = os.path.realpath(sys.argv[1])
N = 150  # files per filesystem, well above fd_cache


def content(tag, i):
    return f"{tag}-{i}\n".encode() * (i % 7 + 1)


def main():
    require_fuse()
    top = tempfile.mkdtemp(prefix="zcfs-nested.")
    S, M = os.path.join(top, "src"), os.path.join(top, "mnt")
    vol = os.path.join(S, "vol")
    for d in (S, M, vol):
        os.makedirs(d)
    if subprocess.call(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", vol]) != 0:
        print("not ok - cannot mount a tmpfs inside the backing directory (needs root)")
        sys.exit(1)
    mnt, failed = None, 0
    try:
        for i in range(N):
            open(os.path.join(S, f"a{i}"), "wb").write(content("ext", i))
            open(os.path.join(vol, f"b{i}"), "wb").write(content("tmp", i))
        log = os.path.join(top, "log")
        mnt = Mount(ZCFS, S, M, ["fd_cache=16"], log)
        m = lambda *x: os.path.join(M, *x)

        def check_all(when):
            for i in range(N):
                assert open(m(f"a{i}"), "rb").read() == content("ext", i), f"{when}: a{i}"
                assert open(m("vol", f"b{i}"), "rb").read() == content("tmp", i), f"{when}: vol/b{i}"

        check_all("first pass")
        # Through FUSE every file has the mount's st_dev; BACKING's own inode numbers pass as they
        # are, the tmpfs's are hashed with its device into the upper half so none can collide
        assert os.stat(m("a1")).st_ino == os.stat(os.path.join(S, "a1")).st_ino, "outer st_ino changed"
        nested = os.stat(m("vol", "b1")).st_ino
        assert nested >= 1 << 63 and nested == os.stat(m("vol", "b1")).st_ino, f"nested st_ino {nested}"
        os.link(os.path.join(vol, "b1"), os.path.join(vol, "b1-link"))
        assert os.stat(m("vol", "b1-link")).st_ino == nested, "a hard link on the tmpfs got another st_ino"
        inos = {os.stat(m(f"a{i}")).st_ino for i in range(N)} | {os.stat(m("vol", f"b{i}")).st_ino for i in range(N)}
        assert len(inos) == 2 * N, f"{2 * N - len(inos)} st_ino collisions between the two filesystems"
        listed = {e.name: e.inode() for e in os.scandir(m("vol"))}
        assert listed["b1"] == nested, "readdir's d_ino differs from stat's st_ino on the tmpfs"
        cached = mnt.stats()["gauges"]
        assert cached["inodes"] >= 2 * N, f"inode gauge: {cached}"
        assert 0 < cached["cached_fds"] <= 16, f"cached_fds gauge with fd_cache=16: {cached}"
        # with 2 x 150 known inodes and fd_cache=16, most descriptors are closed by now: the
        # second pass reopens them from file handles, on each filesystem's own anchor
        check_all("after eviction")
        with open(m("vol", "new"), "wb") as f:
            f.write(b"written through zcfs\n")
        assert open(os.path.join(vol, "new"), "rb").read() == b"written through zcfs\n"
        os.rename(m("vol", "new"), m("vol", "renamed"))
        assert os.path.exists(os.path.join(vol, "renamed"))
        # a rename across the two filesystems fails as it does on the backing
        try:
            os.rename(m("vol", "renamed"), m("moved"))
            raise AssertionError("rename across filesystems succeeded")
        except OSError as x:
            assert x.errno == 18, f"rename across filesystems: errno {x.errno}, expected EXDEV"
        print(f"ok 1 - {N} files on the backing and {N} on a tmpfs inside it read twice through "
              f"fd_cache=16 (gauges after the first pass: {cached}); st_ino unique across both, stable, "
              f"shared by hard links, same in readdir; "
              f"write, rename, EXDEV across filesystems", flush=True)
    except AssertionError as x:
        print(f"not ok - {x}", flush=True)
        failed = 1
    finally:
        if mnt:
            mnt.close()
            assert_clean_log(os.path.join(top, "log"))
        subprocess.call(["umount", vol])
        subprocess.call(["rm", "-rf", top])
    print(f"{1 - failed} passed, {failed} failed")
    sys.exit(failed)


main()
