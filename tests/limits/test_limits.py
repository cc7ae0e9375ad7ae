#!/usr/bin/env python3
"""Limits through a real mount: names of 255 bytes (256 gives ENAMETOOLONG), a relative path of
4095 bytes, 100,000 files in one directory listed completely, and a file larger than 4 GiB read
and written above the 4 GiB mark in every read mode. Usage: test_limits.py ZCFS"""
import os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "pylib"))
from zcfstest import Mount, assert_clean_log, done, ok, require_fuse  # noqa: E402

ZCFS = os.path.realpath(sys.argv[1])
MODES = ["buffered", "direct", "mmap", "splice"]


def main():
    require_fuse()
    top = tempfile.mkdtemp(prefix="zcfs-limits.")
    src, mnt = os.path.join(top, "src"), os.path.join(top, "mnt")
    os.mkdir(src)
    os.mkdir(mnt)
    m = Mount(ZCFS, src, mnt, ["cache=none", "mmap_window=268435456"], os.path.join(top, "log"))
    try:
        # names
        name = "n" * 255
        with open(os.path.join(mnt, name), "w") as f:
            f.write("x")
        assert os.path.exists(os.path.join(src, name))
        assert name in os.listdir(mnt)
        for op in (lambda: open(os.path.join(mnt, "n" * 256), "w"), lambda: os.mkdir(os.path.join(mnt, "d" * 256)),
                   lambda: os.stat(os.path.join(mnt, "s" * 256))):
            try:
                op()
                raise AssertionError("256-byte name accepted")
            except OSError as e:
                assert e.errno == 36, e  # ENAMETOOLONG
        ok("a 255-byte name works; 256 bytes give ENAMETOOLONG for create, mkdir and stat")

        # a 4095-byte relative path
        comp = "p" * 250
        rel = ""
        os.chdir(mnt)
        while len(rel) + len(comp) + 1 < 4095 - 20:
            rel = comp if not rel else rel + "/" + comp
            os.mkdir(rel)
        leaf = "f" * (4095 - len(rel) - 1)
        path = rel + "/" + leaf
        assert len(path) == 4095, len(path)
        with open(path, "w") as f:
            f.write("deep")
        assert open(path).read() == "deep"
        os.chdir(src)
        assert open(path).read() == "deep", "not in the backing directory"
        os.chdir("/")
        ok(f"a relative path of {len(path)} bytes through the mount ({path.count('/') + 1} components)")

        # 100,000 files in one directory
        big = os.path.join(src, "many")
        os.mkdir(big)
        for i in range(100000):
            os.close(os.open(os.path.join(big, f"file-{i:06d}"), os.O_CREAT | os.O_WRONLY, 0o644))
        t0 = time.time()
        seen = os.listdir(os.path.join(mnt, "many"))
        el = time.time() - t0
        assert len(seen) == 100000 and len(set(seen)) == 100000, len(seen)
        st = os.stat(os.path.join(mnt, "many", "file-099999"))
        assert st.st_ino == os.stat(os.path.join(big, "file-099999")).st_ino
        ok(f"100,000 entries in one directory listed completely, each once ({el:.2f}s)")

        # a 5 GiB sparse file, bytes above 4 GiB in every mode, written and read
        f5 = os.path.join(mnt, "huge")
        fd = os.open(f5, os.O_CREAT | os.O_RDWR, 0o644)
        marks = {(4 << 30) - 3: b"across-4GiB", (4 << 30) + 12345: b"above-4GiB", (5 << 30) - 10: b"end-at-5GiB"}
        for off, data in marks.items():
            assert os.pwrite(fd, data, off) == len(data)
        os.fsync(fd)
        os.close(fd)
        size = os.stat(os.path.join(src, "huge")).st_size
        assert size == (5 << 30) + 1, size
        bfd = os.open(os.path.join(src, "huge"), os.O_RDONLY)
        for off, data in marks.items():
            assert os.pread(bfd, len(data), off) == data, "backing bytes"
        os.close(bfd)
        for mode in MODES:
            os.setxattr(f5, "user.zcfs.mode", mode.encode())
            fd = os.open(f5, os.O_RDONLY)
            for off, data in marks.items():
                got = os.pread(fd, len(data) + 4096, off - 4096 if off >= 4096 else off)
                assert got[4096:4096 + len(data)] == data and got[:4096] == b"\0" * 4096, f"{mode} at {off}"
            assert os.pread(fd, 100, size - 5) == b"-5GiB", f"{mode}: tail at EOF"
            os.close(fd)
        for mode in MODES:
            for _ in range(100):  # counters move right after each reply is sent: let them catch up
                st = open(os.path.join(mnt, ".zcfs", "stats")).read()
                line = [l for l in st.splitlines() if l.startswith(f'zcfs_reads_total{{mode="{mode}",')][0]
                if int(line.split()[1]) >= 4:
                    break
                time.sleep(0.02)
            assert int(line.split()[1]) >= 4, line
        ok("a 5 GiB sparse file: bytes across and above 4 GiB written and read back in every mode")
    finally:
        os.chdir("/")
        m.close()
        assert_clean_log(os.path.join(top, "log"))
        subprocess.call(["rm", "-rf", top])
    done()


main()
