#!/usr/bin/env python3
"""Round trips per operation: the requests the daemon sees (deltas of .zcfs/stats.json, the cost
of reading the stats itself measured and taken off) for the common operations of one file, on a
mount with the default options (the backing is watched: long timeouts) and on one with -o noopen.
Each count is exact: a change that adds a round trip fails here like a wrong byte would. The
fewest requests the kernel can send for each, and why, are in docs/performance.md.

usage: test_requests.py ZCFS"""
import os, subprocess, sys, time

HERE = os.path.dirname(os.path.realpath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))
from zcfstest import Mount, done, ok, require_fuse, temp_tree  # noqa: E402

ZCFS = os.path.realpath(sys.argv[1])
# libfuse before 3.16 cannot take KILLPRIV_V2: the kernel then clears setuid bits itself and
# asks for the mode again after a write (one GETATTR more per written file)
KILLPRIV_V2 = "killpriv_v2" in subprocess.run([ZCFS, "--version"], capture_output=True, text=True).stdout


class Counter:
    def __init__(self, mnt):
        self.mnt = mnt

    def ops(self):
        time.sleep(0.1)  # the kernel sends RELEASE in the background after a close: let it land
        return {k: v["count"] for k, v in self.mnt.stats()["ops"].items()}

    def delta(self, fn):
        """The requests fn() caused: the stats read before and after cost requests of their own
        (with noopen they are in the control mount, counted in the same stats), measured just
        before as the delta of doing nothing and subtracted."""
        self.ops()  # names looked up, attributes fetched: later reads cost the same
        a = self.ops()
        b = self.ops()
        fn()
        c = self.ops()
        # FORGET is a one-way message the kernel sends when it evicts an inode, whenever that
        # is: no round trip, and not the operation's
        return {k: (c[k] - b[k]) - (b[k] - a[k]) for k in c
                if (c[k] - b[k]) - (b[k] - a[k]) and k != "forget"}


def expect(what, got, want):
    assert got == want, f"{what}: the daemon saw {got}, expected {want}"
    ok(f"{what}: {sum(want.values())} requests {want if want else ''}".rstrip())


def tar_like(path, data):
    """What tar x does for one regular file (GNU tar as root: create, write, then owner, times,
    mode through the descriptor)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, data)
    os.fchown(fd, 0, 0)
    os.utime(fd, (1, 2))
    os.fchmod(fd, 0o644)
    os.close(fd)


def run(opts, noopen):
    top, S, M = temp_tree("zcfs-requests.")
    os.mkdir(f"{S}/d")
    for i in range(10):
        with open(f"{S}/d/f{i}", "wb") as f:
            f.write(b"x" * 10000)
    mnt = Mount(ZCFS, S, M, opts, os.path.join(top, "log"))
    cnt = Counter(mnt)
    tag = "noopen" if noopen else "default"
    try:
        cfg = open(os.path.join(M, ".zcfs", "config")).read()
        assert "watching=fanotify" in cfg, f"the backing of the test must be watched: {cfg}"
        os.stat(f"{M}/d/f0")
        expect(f"[{tag}] stat of a known file", cnt.delta(lambda: os.stat(f"{M}/d/f0")), {})
        time.sleep(1.5)  # past the 1 s an unwatched backing gets
        expect(f"[{tag}] stat of a known file 1.5 s later", cnt.delta(lambda: os.stat(f"{M}/d/f0")), {})

        def read():  # open(2), fstat, read to the end, close: what a C reader does
            fd = os.open(f"{M}/d/f1", os.O_RDONLY)
            try:
                os.fstat(fd)
                assert os.read(fd, 65536) == b"x" * 10000 and os.read(fd, 65536) == b""
            finally:
                os.close(fd)
        read()  # LOOKUP, (OPEN), READ
        read()  # the kernel asks once for the atime its READ made stale (GETATTR)
        expect(f"[{tag}] open, fstat, read and close of an unchanged cached file",
               cnt.delta(read), {} if noopen else {"open": 1, "release": 1})

        def pyread():  # Python's open() also asks isatty(): the kernel forwards the TCGETS
            with open(f"{M}/d/f1", "rb") as f:
                assert f.read() == b"x" * 10000
        want = {"ioctl": 1} if noopen else {"open": 1, "release": 1, "ioctl": 1}
        expect(f"[{tag}] the same with Python's open() (an IOCTL for its isatty)",
               cnt.delta(pyread), want)

        os.listdir(f"{M}/d")  # READDIR, cached by the kernel
        os.listdir(f"{M}/d")  # a GETATTR for the atime the READDIR made stale
        expect(f"[{tag}] a repeated listing", cnt.delta(lambda: os.listdir(f"{M}/d")), {})
        assert not os.path.exists(f"{M}/d/none")
        expect(f"[{tag}] a repeated lookup of a missing name",
               cnt.delta(lambda: os.path.exists(f"{M}/d/none")), {})

        # tar x of one 10 KiB file: LOOKUP (the new name), CREATE, GETXATTR security.capability
        # (the kernel's check before a write may clear privileges), WRITE, SETATTR for owner
        # (after another such GETXATTR), times and mode; RELEASE unless noopen
        want = {"lookup": 1, "create": 1, "getxattr": 2, "write": 1, "setattr": 3}
        if not KILLPRIV_V2:
            want["getattr"] = 1
        if not noopen:
            want["release"] = 1
        expect(f"[{tag}] tar-like creation of a 10 KiB file",
               cnt.delta(lambda: tar_like(f"{M}/d/t1", b"y" * 10240)), want)
        assert open(f"{S}/d/t1", "rb").read() == b"y" * 10240
        st = os.stat(f"{S}/d/t1")
        assert (st.st_mode & 0o7777, int(st.st_mtime)) == (0o644, 2)

        # With ACLs cached (the default) the kernel checks permissions itself: a path walk
        # through a directory whose contents changed asks for its attributes once (GETATTR).
        # Each operation below is measured with d's attributes fresh.
        warm = lambda: os.stat(f"{M}/d")
        warm()
        expect(f"[{tag}] path walk through a directory changed by the mount",
               cnt.delta(lambda: os.stat(f"{M}/d/f3")), {})
        expect(f"[{tag}] chmod", cnt.delta(lambda: os.chmod(f"{M}/d/f3", 0o640)), {"setattr": 1})
        warm()
        expect(f"[{tag}] mkdir", cnt.delta(lambda: os.mkdir(f"{M}/d/sub")), {"lookup": 1, "mkdir": 1})
        warm()
        os.stat(f"{M}/d/sub")
        expect(f"[{tag}] rename to a new name", cnt.delta(lambda: os.rename(f"{M}/d/t1", f"{M}/d/sub/t1")),
               {"lookup": 1, "rename": 1})
        os.stat(f"{M}/d/sub")
        expect(f"[{tag}] unlink of a known name", cnt.delta(lambda: os.unlink(f"{M}/d/sub/t1")),
               {"unlink": 1})

        # a change made in the backing directory is seen at once, with no round trip before it
        with open(f"{S}/d/f2", "wb") as f:
            f.write(b"new")
        t0 = time.monotonic()
        while open(f"{M}/d/f2", "rb").read() != b"new":
            assert time.monotonic() - t0 < 0.1, "a change in the backing not seen within 100 ms"
            time.sleep(0.005)
        ok(f"[{tag}] a file rewritten in the backing reads new within {1000 * (time.monotonic() - t0):.0f} ms")
    finally:
        mnt.close()
        os.system(f"rm -rf {top}")


def main():
    require_fuse()
    run([], False)
    run(["noopen"], True)
    done()


main()
