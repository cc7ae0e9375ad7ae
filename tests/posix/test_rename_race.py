#!/usr/bin/env python3
"""Directories renamed during lookups never lead outside the backing directory. Two renamers move
a directory each between two parents, one through the mount, one directly in the backing, while
readers open files below it by path, and from a working directory inside it climb with '..'
towards names that exist only outside the backing directory. Every successful read must return
the inside marker; the daemon must keep serving. A directory moved out of the backing directory
directly is no longer reachable by path through the mount. Usage: test_rename_race.py ZCFS"""
import errno, os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "pylib"))
from zcfstest import Mount, assert_clean_log, require_fuse  # noqa: E402

ZCFS = os.path.realpath(sys.argv[1])
SECONDS = float(os.environ.get("ZCFS_RACE_SECONDS", "4"))
INSIDE, OUTSIDE = b"INSIDE\n", b"OUTSIDE\n"
OK_ERRNOS = {errno.ENOENT, errno.ESTALE}


def renamer(pairs, until):
    n = 0
    while time.monotonic() < until:
        for a, b in pairs:
            try:
                os.rename(a, b)
                os.rename(b, a)
                n += 2
            except OSError as x:
                if x.errno not in OK_ERRNOS:
                    raise
    os._exit(0 if n else 5)


def reader(m, until, result_fd):
    seen = {"inside": 0, "missing": 0}
    paths = ["a/b/c/leaf", "x/b/c/leaf", "a/b/c/../c/leaf", "x/b/../b/c/leaf",
             "p/q/c/leaf", "y/q/c/leaf", "p/q/c/../c/leaf", "y/q/../q/c/leaf"]
    climbs = ["../../outside/leaf", "../../../outside/leaf", "c/../../../outside/leaf", "../outside/leaf"]
    while time.monotonic() < until:
        for p in paths:
            try:
                data = open(os.path.join(m, p), "rb").read()
            except OSError as x:
                if x.errno not in OK_ERRNOS:
                    raise
                seen["missing"] += 1
                continue
            if data != INSIDE:
                os.write(result_fd, f"ESCAPE {p}: {data!r}\n".encode())
                os._exit(7)
            seen["inside"] += 1
        for top in ("a/b", "x/b", "p/q", "y/q"):
            try:
                os.chdir(os.path.join(m, top))
            except OSError as x:
                if x.errno not in OK_ERRNOS:
                    raise
                continue
            for c in climbs:
                try:
                    data = open(c, "rb").read()
                except OSError as x:
                    if x.errno not in OK_ERRNOS:
                        raise
                    seen["missing"] += 1
                    continue
                os.write(result_fd, f"ESCAPE from {top}: {c}: {data!r}\n".encode())
                os._exit(7)
            os.chdir("/")
    os.write(result_fd, f"{seen['inside']} {seen['missing']}\n".encode())
    os._exit(0)


def spawn(fn, *args):
    """fork; the child runs fn and always ends with os._exit (never the parent's cleanup)."""
    pid = os.fork()
    if pid == 0:
        try:
            fn(*args)
        except BaseException as x:  # noqa: B902 - report anything and leave
            print(f"  child {fn.__name__}: {x!r}", flush=True)
        os._exit(9)
    return pid


def main():
    require_fuse()
    top = tempfile.mkdtemp(prefix="zcfs-race.")
    # Mount point two levels down so that '..' from the mount never reaches top/outside by the
    # client's own path walk: only a daemon resolving outside BACKING could find it.
    S, M = os.path.join(top, "src"), os.path.join(top, "deep", "mnt")
    # Two trees, one per renamer, so that neither starves the other (under ASan the daemon is
    # slow, and a renamer racing the backing-side one over the same directory never won).
    for d in (S, M, os.path.join(S, "a", "b", "c"), os.path.join(S, "x"), os.path.join(S, "p", "q", "c"),
              os.path.join(S, "y"), os.path.join(top, "outside")):
        os.makedirs(d, exist_ok=True)
    open(os.path.join(S, "a", "b", "c", "leaf"), "wb").write(INSIDE)
    open(os.path.join(S, "p", "q", "c", "leaf"), "wb").write(INSIDE)
    open(os.path.join(top, "outside", "leaf"), "wb").write(OUTSIDE)
    log = os.path.join(top, "log")
    mnt = Mount(ZCFS, S, M, [], log)
    s = lambda *x: os.path.join(S, *x)
    m = lambda *x: os.path.join(M, *x)
    failed = 0
    try:
        until = time.monotonic() + SECONDS
        r, w = os.pipe()
        kids = [spawn(renamer, [(m("a", "b"), m("x", "b"))], until),
                spawn(renamer, [(s("p", "q"), s("y", "q"))], until),
                spawn(reader, M, until, w), spawn(reader, M, until, w)]
        os.close(w)
        codes = [os.waitstatus_to_exitcode(os.waitpid(k, 0)[1]) for k in kids]
        report = os.read(r, 65536).decode()
        os.close(r)
        assert "ESCAPE" not in report, report
        assert codes == [0, 0, 0, 0], f"exit codes renamer/renamer/reader/reader: {codes}\n{report}"
        counts = [tuple(map(int, ln.split())) for ln in report.split("\n") if ln]
        inside = sum(c[0] for c in counts)
        assert inside > 0, "no read succeeded: the race was not exercised"
        assert mnt.p.poll() is None, "daemon died"
        print(f"ok 1 - {SECONDS:.0f} s of renames (mount and backing) under 2 readers: {inside} reads "
              f"inside, {sum(c[1] for c in counts)} misses, 0 escapes", flush=True)

        # a directory moved out of BACKING directly is not reachable by path through the mount
        os.makedirs(s("gone"))
        open(s("gone", "leaf"), "wb").write(INSIDE)
        assert open(m("gone", "leaf"), "rb").read() == INSIDE
        os.rename(s("gone"), os.path.join(top, "gone-outside"))
        t0 = time.monotonic()
        while True:  # the kernel keeps the name for entry_timeout (1 s)
            try:
                open(m("gone", "leaf"), "rb").read()
            except FileNotFoundError:
                break
            assert time.monotonic() - t0 < 5, "a directory moved out of BACKING still reachable after 5 s"
            time.sleep(0.1)
        print("ok 2 - a directory moved out of the backing directory is gone from the mount", flush=True)
    except AssertionError as x:
        print(f"not ok - {x}", flush=True)
        failed = 1
    finally:
        os.chdir("/")
        mnt.close()
        assert_clean_log(log)
        subprocess.call(["rm", "-rf", top])
    print(f"{2 - failed} passed, {failed} failed")
    sys.exit(failed)


main()
