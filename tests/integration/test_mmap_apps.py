#!/usr/bin/python3
"""Applications that map their files, on a cache=none mount (FOPEN_DIRECT_IO), in every read mode:
sqlite in WAL mode (its -shm index is a shared mapping; a second connection reads what the first
wrote) and numpy.memmap read-only and read-write (a shared mapping; writes reach the backing file).
Where zcfs negotiates FUSE_CAP_DIRECT_IO_ALLOW_MMAP (libfuse >= 3.16) all of it must work; on a
build without it the documented answer is checked instead: MAP_SHARED gets ENODEV, and sqlite's
WAL mode reports a disk I/O error. Runs under the system's python3 (Debian's python3-numpy).
Usage: test_mmap_apps.py ZCFS"""
import errno, mmap, os, shutil, sqlite3, subprocess, sys
from contextlib import closing

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "pylib"))
from zcfstest import Mount, assert_clean_log, require_fuse, temp_tree  # noqa: E402

import numpy as np  # noqa: E402

ZCFS = os.path.realpath(sys.argv[1])
features = subprocess.run([ZCFS, "--version"], capture_output=True, text=True).stdout
SHARED = "direct_io_allow_mmap" in features
MODES = ["buffered", "direct", "mmap", "splice"] + (["passthrough"] if "passthrough" in features else [])


def sqlite_wal(d):
    db = os.path.join(d, "t.db")
    with closing(sqlite3.connect(db)) as a, closing(sqlite3.connect(db)) as b:
        a.execute("PRAGMA journal_mode=WAL")
        a.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)")
        a.executemany("INSERT INTO t VALUES (?, ?)", ((i, f"v{i}" * 10) for i in range(5000)))
        a.commit()
        assert b.execute("SELECT count(*), max(k) FROM t").fetchone() == (5000, 4999)
        a.execute("UPDATE t SET v = 'x' WHERE k % 7 = 0")
        a.commit()
        assert b.execute("SELECT count(*) FROM t WHERE v = 'x'").fetchone() == (715,)
        assert b.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def numpy_memmap(d, backing):
    path = os.path.join(d, "a.npy")
    ref = np.arange(1 << 20, dtype=np.int64)
    ref.tofile(os.path.join(backing, "a.npy"))
    r = np.memmap(path, dtype=np.int64, mode="r")
    assert r.shape == ref.shape and int(r[123456]) == 123456 and int(r.sum()) == int(ref.sum())
    del r
    w = np.memmap(path, dtype=np.int64, mode="r+")
    w[:1000] = -1
    w.flush()
    del w
    back = np.fromfile(os.path.join(backing, "a.npy"), dtype=np.int64)
    assert int(back[999]) == -1 and int(back[1000]) == 1000


def main():
    require_fuse()
    top, S, M = temp_tree("zcfs-mmapapps.")
    log = os.path.join(top, "log")
    n = 0
    mnt = Mount(ZCFS, S, M, ["cache=none"], log)
    try:
        for mode in MODES:
            os.mkdir(os.path.join(S, mode))
            os.setxattr(os.path.join(M, mode), "user.zcfs.mode", mode.encode())
            d = os.path.join(M, mode)
            if SHARED or mode == "passthrough":  # a passthrough file's mapping is the backing's
                sqlite_wal(d)
                numpy_memmap(d, os.path.join(S, mode))
                n += 1
                print(f"ok {n} - {mode}, cache=none: sqlite WAL across two connections, numpy.memmap r and r+", flush=True)
                continue
            with open(os.path.join(d, "f"), "wb") as f:
                f.write(b"x" * 8192)
            with open(os.path.join(d, "f"), "rb") as f:
                try:
                    mmap.mmap(f.fileno(), 0, mmap.MAP_SHARED, mmap.PROT_READ)
                    raise AssertionError("MAP_SHARED of a cache=none file worked without DIRECT_IO_ALLOW_MMAP")
                except OSError as e:
                    assert e.errno == errno.ENODEV, e
            try:
                sqlite_wal(d)
                raise AssertionError("sqlite WAL worked on cache=none without shared mappings")
            except sqlite3.OperationalError as e:
                assert "disk I/O error" in str(e), e
            n += 1
            print(f"ok {n} - {mode}, cache=none, no DIRECT_IO_ALLOW_MMAP: MAP_SHARED ENODEV, sqlite WAL 'disk I/O error' (documented)", flush=True)
    finally:
        mnt.close()
        assert_clean_log(log)
        shutil.rmtree(top)
    print(f"{n} passed, 0 failed")


main()
