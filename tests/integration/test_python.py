#!/usr/bin/env python3
"""The zcfs Python package (python/zcfs) against a real mount, without torch:
- `import zcfs` works with torch made unimportable, and `pip install ./python` installs it offline;
- Mount.residency of a file (ranges) and of a tree (every name, a newline and a backslash in
  them included, decoded back) agree with what the test read and evicted;
- evict and prefetch change the backing cache as they say; stats() is stats.json with its
  labels, stats(prometheus=True) every sample;
- plan(): status() follows the job's opens to "complete"; as a context manager it cancels a plan
  still active on exit; errors are ZcfsError with the daemon's errno, NotZcfsError off zcfs.
Usage: test_python.py ZCFS"""
import errno, os, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
from zcfstest import Mount, assert_clean_log, done, ok, require_fuse, temp_tree  # noqa: E402

import zcfs  # noqa: E402

ZCFS = os.path.realpath(sys.argv[1])
PKG = os.path.realpath(os.path.join(HERE, "..", "..", "python"))


def resident(path):
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--raw", "--output", "RES", path],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def packaging():
    code = ("import sys; sys.modules['torch'] = None; sys.path.insert(0, sys.argv[1]); import zcfs; "
            "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]; print(zcfs.__version__)")
    r = subprocess.run([sys.executable, "-c", code, PKG], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == zcfs.__version__, r
    pip = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True)
    if pip.returncode != 0:
        raise AssertionError(f"no pip for {sys.executable} (tools/deps.sh installs python3-pip)")
    with tempfile.TemporaryDirectory() as target:
        r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-build-isolation",
                            "--target", target, PKG], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        r = subprocess.run([sys.executable, "-c", "import zcfs, zcfs.torch as t; print(zcfs.__file__)"],
                           capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=target))
        assert target in r.stdout or "No module named 'torch'" in r.stderr, (r.stdout, r.stderr)
    ok("import zcfs needs no torch; pip install ./python works offline (--no-index)")


def main():
    require_fuse()
    packaging()
    top, S, M = temp_tree("zcfs-py.")
    log = os.path.join(top, "log")
    os.makedirs(os.path.join(S, "d", "sub"))
    names = ["a.bin", "new\nline", "back\\slash", "sub/c.bin"]
    for n in names:
        with open(os.path.join(S, "d", n), "wb") as f:
            f.write(os.urandom(64 << 10))
    mnt = Mount(ZCFS, S, M, [], log)
    try:
        m = zcfs.Mount(M)
        assert m.evict("d")["files"] == len(names)
        assert all(resident(os.path.join(S, "d", n)) == 0 for n in names)
        with open(os.path.join(M, "d", "a.bin"), "rb") as f:
            f.read(8192)
        one = m.residency(os.path.join(M, "d", "a.bin"))
        assert one["pages"] == 16 and one["resident_pages"] >= 2 and one["ranges"][0][0] == 0, one
        tree = m.residency("d", recursive=True)
        assert sorted(tree["files"]) == sorted("d/" + n for n in names), sorted(tree["files"])
        assert tree["files_total"] == len(names) and tree["files"]["d/a.bin"]["pages"] == 16, tree
        assert tree["files"]["d/new\nline"]["resident_pages"] == 0
        p = m.prefetch("d/new\nline")
        assert p["files"] == 1 and resident(os.path.join(S, "d", "new\nline")) == 64 << 10, p
        assert m.residency("d/back\\slash")["file_bytes"] == 64 << 10
        ok("residency of a file and of a tree (newline and backslash names decoded), evict, prefetch")

        st = m.stats()
        assert st["labels"]["mount"] == M and "modes" in st and "ops" in st, st.keys()
        samples = m.stats(prometheus=True)
        assert any(n == "zcfs_reads_total" and lab.get("mode") == "splice" and lab["mount"] == M
                   for n, lab, v in samples), samples[:3]
        ok(f"stats(): stats.json with labels {st['labels']}; stats(prometheus=True): {len(samples)} samples")

        m.evict("d")
        plan = m.plan([f"d/{n}" for n in names], window="1m", depth=2, spread=8)
        assert plan.files == len(names)
        for n in names:
            with open(os.path.join(M, "d", n), "rb") as f:
                f.read()
        final = plan.wait(timeout=20)
        assert final["state"] == "complete" and final["position"] == len(names), final
        assert final["window_bytes"] == 1 << 20 and final["depth"] == 2 and final["spread"] >= 8, final
        with m.plan([os.path.join(M, "d", n) for n in names]) as p2:
            assert p2.status()["state"] == "active"
        assert p2.status()["state"] == "cancelled", p2.status()
        ok("plan(): followed to complete (window, depth, spread as asked); a plan still active "
           "is cancelled when its with-block ends")

        try:
            m.residency("d/nope")
            raise AssertionError("no error for a missing file")
        except zcfs.ZcfsError as e:
            assert e.errno == errno.ENOENT, e
        try:
            m.plan(["d/../../etc/passwd"])
            raise AssertionError("a path out of the mount was accepted")
        except (zcfs.ZcfsError, ValueError):
            pass
        try:
            zcfs.Mount(top)
            raise AssertionError("a directory outside zcfs was taken for a mount")
        except zcfs.NotZcfsError:
            pass
        ok("errors: ZcfsError(ENOENT) from the daemon, paths leaving the mount refused, NotZcfsError off zcfs")
    finally:
        mnt.close()
    assert_clean_log(log)
    subprocess.call(["rm", "-rf", top])
    done()


if __name__ == "__main__":
    main()
