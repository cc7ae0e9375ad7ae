#!/usr/bin/env python3
"""Read routing through a real mount: for every read mode x mount cache policy, the bytes read
through the mount equal the backing file's for aligned and unaligned offsets and lengths, reads
crossing EOF, a sparse file, an empty file, a file that grows and shrinks between reads, and
concurrent readers in several processes; the daemon's per-mode counters show the chosen path was
taken; precedence (file xattr > dir xattr > rule > default) holds, also after a rename and for a
hard link. Usage: test_routing.py ZCFS"""
import mmap, os, random, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "pylib"))
from zcfstest import Mount, assert_clean_log, require_fuse  # noqa: E402

ZCFS = os.path.realpath(sys.argv[1])
MODES = ["buffered", "direct", "mmap", "splice"]
# Shared mappings of cache=none files, where the daemon negotiates them (libfuse >= 3.16).
SHARED_NONE = "direct_io_allow_mmap" in subprocess.run([sys.argv[1], "--version"], capture_output=True,
                                                       text=True).stdout
CACHES = ["keep", "auto", "none", "drop"]
passed = 0


def ok(msg):
    global passed
    passed += 1
    print(f"ok {passed} - {msg}", flush=True)


def check_reads(path, ref, rng, what):
    """Reads at tricky offsets and lengths through one descriptor, compared with ref bytes."""
    size = len(ref)
    cases = [(0, 1), (0, 4096), (1, 4095), (511, 513), (4095, 2), (4096, 131072), (12345, 1 << 20),
             (max(size - 100, 0), 4096), (size, 10), (size + 5000, 10), (max(size - 1, 0), 1)]
    cases += [(rng.randrange(0, size + 1), rng.randrange(1, 300000)) for _ in range(20)]
    fd = os.open(path, os.O_RDONLY)
    try:
        for off, ln in cases:
            got = os.pread(fd, ln, off)
            assert got == ref[off:off + ln], f"{what}: pread({off}, {ln}) returned {len(got)} bytes that differ"
        os.lseek(fd, 0, 0)
        whole = b""
        while True:
            c = os.read(fd, 65536 + 7)
            if not c:
                break
            whole += c
        assert whole == ref, f"{what}: sequential read differs"
    finally:
        os.close(fd)


def concurrent(path, ref, what):
    kids = []
    for k in range(4):
        pid = os.fork()
        if pid == 0:
            rng = random.Random(k)
            try:
                fd = os.open(path, os.O_RDONLY)
                for _ in range(200):
                    off, ln = rng.randrange(0, len(ref)), rng.randrange(1, 200000)
                    if os.pread(fd, ln, off) != ref[off:off + ln]:
                        os._exit(1)
                os._exit(0)
            except Exception:
                os._exit(2)
        kids.append(pid)
    for pid in kids:
        _, st = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(st) == 0, f"{what}: a concurrent reader saw wrong bytes"


def main():
    require_fuse()
    top = tempfile.mkdtemp(prefix="zcfs-routing.")
    src, mnt = os.path.join(top, "src"), os.path.join(top, "mnt")
    os.mkdir(src)
    os.mkdir(mnt)
    global LOG
    LOG = os.path.join(top, "log")
    rng = random.Random(1122)
    data = bytes(rng.getrandbits(8) for _ in range(3 * 1024 * 1024 + 123))
    open(os.path.join(src, "data"), "wb").write(data)
    with open(os.path.join(src, "sparse"), "wb") as f:
        f.write(b"head" * 1000)
        f.seek(6 << 20)
        f.write(b"tail" * 1000)
    sparse = open(os.path.join(src, "sparse"), "rb").read()
    open(os.path.join(src, "empty"), "wb").close()
    m = None
    try:
        for cache in CACHES:
            m = Mount(ZCFS, src, mnt, [f"cache={cache}", "mode=buffered"], LOG)
            for mode in MODES:
                for name in ("data", "sparse", "empty", "grow"):
                    p = os.path.join(mnt, name)
                    if name == "grow":
                        open(os.path.join(src, "grow"), "wb").write(data[:100000])
                    os.setxattr(p, "user.zcfs.mode", mode.encode())
                    eff = os.getxattr(p, "user.zcfs.effective").decode()
                    assert eff.startswith(f"mode={mode} source=xattr cache={cache} source=default"), eff
                    m.ctl(f"evict {name}")  # both caches: the next reads reach the daemon
                before = m.stats()["modes"][mode]["reads"]
                check_reads(os.path.join(mnt, "data"), data, rng, f"{mode}/{cache} data")
                check_reads(os.path.join(mnt, "sparse"), sparse, rng, f"{mode}/{cache} sparse")
                check_reads(os.path.join(mnt, "empty"), b"", rng, f"{mode}/{cache} empty")
                for _ in range(100):  # counters are updated right after each reply is sent
                    after = m.stats()["modes"][mode]["reads"]
                    if after > before:
                        break
                    time.sleep(0.02)
                assert after > before, f"{mode}/{cache}: no {mode} reads counted"
                others = {o: m.stats()["modes"][o]["reads"] for o in MODES if o != mode}
                # grow and shrink the backing file under an open descriptor
                g = os.path.join(mnt, "grow")
                fd = os.open(g, os.O_RDONLY)
                assert os.pread(fd, 200000, 0) == data[:100000]
                with open(os.path.join(src, "grow"), "ab") as f:
                    f.write(data[100000:300000])
                if cache == "none":  # no mount-side cache: the very next read sees the new size
                    assert os.pread(fd, 400000, 0) == data[:300000], f"{mode}/none: growth not seen"
                os.truncate(os.path.join(src, "grow"), 50000)
                got = os.pread(fd, 400000, 0)
                if cache == "none":
                    assert got == data[:50000], f"{mode}/none: shrink not seen ({len(got)} bytes)"
                else:  # the kernel may still trust its cached size: a prefix of the old bytes
                    assert data.startswith(got), f"{mode}/{cache}: bytes after shrink are not a prefix"
                os.close(fd)
                fd = os.open(g, os.O_RDONLY)  # a new open revalidates under every policy
                time.sleep(1.1 if cache in ("keep",) else 0)
                got = os.pread(fd, 400000, 0)
                os.close(fd)
                assert data.startswith(got) and len(got) <= 300000, f"{mode}/{cache}: reopen after shrink"
                concurrent(os.path.join(mnt, "data"), data, f"{mode}/{cache}")
                now = {o: m.stats()["modes"][o]["reads"] for o in MODES if o != mode}
                assert now == others, f"{mode}/{cache}: reads counted under other modes {others} -> {now}"
                ok(f"mode={mode} cache={cache}: aligned/unaligned/EOF/sparse/empty/grow/shrink/4 readers; "
                   f"{after - before} {mode} reads counted, none elsewhere")
            # cache=none: shared mappings where the daemon allows them (libfuse >= 3.16,
            # FUSE_CAP_DIRECT_IO_ALLOW_MMAP), else ENODEV; private ones always work
            fd = os.open(os.path.join(mnt, "data"), os.O_RDONLY)
            try:
                mm = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ)
                assert cache != "none" or SHARED_NONE, "MAP_SHARED worked with cache=none"
                assert mm[:4096] == data[:4096] and mm[len(data) - 5000:] == data[-5000:]
                mm.close()
            except OSError as e:
                assert cache == "none" and not SHARED_NONE and e.errno == 19, f"mmap with cache={cache}: {e}"
            mm = mmap.mmap(fd, 0, mmap.MAP_PRIVATE, mmap.PROT_READ)
            assert mm[len(data) - 5000:] == data[-5000:], "MAP_PRIVATE content"
            mm.close()
            os.close(fd)
            ok(f"cache={cache}: MAP_SHARED {'ENODEV' if cache == 'none' and not SHARED_NONE else 'works'}, MAP_PRIVATE works")
            m.close()
            m = None

        # precedence: file xattr > nearest dir xattr > first matching rule > default, and renames
        os.makedirs(os.path.join(src, "a/b/c"))
        for f in ("a/b/c/x.bin", "a/b/y.bin", "a/z.dat", "plain"):
            open(os.path.join(src, f), "wb").write(b"q" * 1000)
        rules = os.path.join(top, "rules.conf")
        open(rules, "w").write("# test\n**/*.bin mode=mmap\na/** mode=direct cache=none\n**/*.bin mode=buffered cache=keep\n")
        m = Mount(ZCFS, src, mnt, ["mode=splice", "cache=auto", f"rules={rules}"], LOG)

        def eff(p):
            return os.getxattr(os.path.join(mnt, p), "user.zcfs.effective").decode()

        assert eff("a/b/c/x.bin") == f"mode=mmap source=rule:{rules}:2 cache=none source=rule:{rules}:3", eff("a/b/c/x.bin")
        assert eff("a/z.dat") == f"mode=direct source=rule:{rules}:3 cache=none source=rule:{rules}:3", eff("a/z.dat")
        assert eff("plain") == "mode=splice source=default cache=auto source=default", eff("plain")
        os.setxattr(os.path.join(mnt, "a/b"), "user.zcfs.mode", b"buffered")
        time.sleep(1.1)  # directory xattrs are cached for attr_timeout
        assert eff("a/b/c/x.bin").startswith("mode=buffered source=dir:a/b "), eff("a/b/c/x.bin")
        os.setxattr(os.path.join(mnt, "a/b/c"), "user.zcfs.mode", b"direct")
        time.sleep(1.1)
        assert eff("a/b/c/x.bin").startswith("mode=direct source=dir:a/b/c "), eff("a/b/c/x.bin")
        os.setxattr(os.path.join(mnt, "a/b/c/x.bin"), "user.zcfs.mode", b"splice")
        assert eff("a/b/c/x.bin").startswith("mode=splice source=xattr "), eff("a/b/c/x.bin")
        # more xattr names than zcfs lists in one call (512 bytes): still found, at open too
        for i in range(24):
            os.setxattr(os.path.join(src, "a/b/c/x.bin"), f"user.unrelated.attribute.{i:04d}", b"v")
        assert len(os.listxattr(os.path.join(src, "a/b/c/x.bin"))) == 25
        assert eff("a/b/c/x.bin").startswith("mode=splice source=xattr "), eff("a/b/c/x.bin")
        before = m.stats()["modes"]["splice"]["reads"]
        assert open(os.path.join(mnt, "a/b/c/x.bin"), "rb").read() == b"q" * 1000
        for _ in range(100):  # counters are updated right after each reply is sent
            if m.stats()["modes"]["splice"]["reads"] > before:
                break
            time.sleep(0.02)
        assert m.stats()["modes"]["splice"]["reads"] > before, "a long xattr list hid user.zcfs.mode"
        try:
            os.setxattr(os.path.join(mnt, "a/b/c/x.bin"), "user.zcfs.mode", b"fast")
            raise AssertionError("bad mode accepted")
        except OSError as e:
            assert e.errno == 22, e
        assert os.getxattr(os.path.join(src, "a/b/c/x.bin"), "user.zcfs.mode") == b"splice"
        os.rename(os.path.join(mnt, "a/b/y.bin"), os.path.join(mnt, "moved.bin"))
        assert eff("moved.bin") == f"mode=mmap source=rule:{rules}:2 cache=keep source=rule:{rules}:4", eff("moved.bin")
        os.link(os.path.join(mnt, "a/z.dat"), os.path.join(mnt, "a/b/c/z-link.bin"))
        assert eff("a/b/c/z-link.bin").startswith("mode=direct source=dir:a/b/c "), eff("a/b/c/z-link.bin")
        ok("precedence: rules in order per attribute, dir xattr, nearer dir, file xattr, EINVAL, rename, hard link")
        m.close()
        m = None
        # a malformed rules file refuses to mount with FILE:LINE
        open(rules, "w").write("ok/** mode=mmap\nbad/** mode=fast\n")
        r = subprocess.run([ZCFS, "-f", "-o", f"rules={rules}", src, mnt], capture_output=True, text=True, timeout=20)
        assert r.returncode != 0 and f"{rules}:2:" in r.stderr, r.stderr
        ok("a bad rules file stops the mount with FILE:LINE: " + r.stderr.strip().splitlines()[-1])
        # cache=auto: a file changed behind the mount is seen whole at the next open, even within
        # a long attr_timeout (the daemon invalidates the kernel's cached size at open)
        m = Mount(ZCFS, src, mnt, ["cache=auto", "attr_timeout=60", "entry_timeout=60"], LOG)
        p = os.path.join(mnt, "changing")
        open(os.path.join(src, "changing"), "wb").write(data[:300000])
        assert open(p, "rb").read() == data[:300000]
        open(os.path.join(src, "changing"), "wb").write(data[1000:101000])
        assert open(p, "rb").read() == data[1000:101000], "shrink behind the mount not seen at reopen"
        open(os.path.join(src, "changing"), "wb").write(data[:700000])
        assert open(p, "rb").read() == data[:700000], "growth behind the mount not seen at reopen"
        os.truncate(os.path.join(src, "changing"), 5000)
        os.close(os.open(p, os.O_RDONLY))
        assert os.stat(p).st_size == 5000, f"size after reopen: {os.stat(p).st_size}"
        m.close()
        m = None
        ok("cache=auto with attr_timeout=60: shrink and growth behind the mount seen at the next open")
        assert_clean_log(LOG)
    finally:
        if m:
            m.close()
        subprocess.call(["rm", "-rf", top])
    print(f"{passed} passed, 0 failed")


main()
