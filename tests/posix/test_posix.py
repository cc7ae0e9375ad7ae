#!/usr/bin/env python3
"""Every passthrough operation through a real mount, each checked through the mount and in the
backing directory: attributes, setattr (also on open handles), links, symlinks, special files,
renames with flags, open flags, read/write, sync, a 20,000-entry directory, statfs, xattrs, locks
between processes, fallocate, copy_file_range, SEEK_DATA/SEEK_HOLE, O_DIRECT, ownership and
permissions of an unprivileged caller (uid 54321), and descriptor leaks. Usage: test_posix.py ZCFS"""
import ctypes, errno, fcntl, mmap, os, re, signal, stat, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "pylib"))
from zcfstest import Mount, assert_clean_log, done, ok, require_fuse, run_as, temp_tree  # noqa: E402

ZCFS = os.path.realpath(sys.argv[1])
NOOPEN = "noopen" in os.environ.get("ZCFS_EXTRA_OPTS", "")
UID = GID = 54321
libc = ctypes.CDLL(None, use_errno=True)


def expect_errno(e, fn, *a):
    try:
        fn(*a)
    except OSError as x:
        assert x.errno == e, f"{fn.__name__}: errno {x.errno}, expected {e}"
        return
    raise AssertionError(f"{fn.__name__}{a} succeeded, expected errno {e}")


def as_user(fn):
    """Run fn() as uid/gid 54321; 0 when it returned, else non-zero (the reason printed)."""
    r = run_as(UID, GID, [], fn)
    if r[0] != "ok":
        print(f"  as {UID}: {r}", flush=True)
    return 0 if r[0] == "ok" else 1


def fds_of(pid):
    """The daemon's descriptors, without the splice pipes each worker thread keeps."""
    fds = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            fds += not os.readlink(f"/proc/{pid}/fd/{fd}").startswith("pipe:")
        except FileNotFoundError:
            pass
    return fds


def renameat2(old, new, flags):
    r = libc.renameat2(-100, old.encode(), -100, new.encode(), flags)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def main():
    require_fuse()
    top, S, M = temp_tree("zcfs-posix.")
    s = lambda *x: os.path.join(S, *x)
    m = lambda *x: os.path.join(M, *x)
    mnt = Mount(ZCFS, S, M, ["allow_other", "default_permissions"], os.path.join(top, "log"))
    p = mnt.p
    try:
        fds0 = fds_of(p.pid)

        # create, write, read, attributes as the backing reports them
        with open(m("a"), "wb") as f:
            f.write(b"hello world")
        assert open(s("a"), "rb").read() == b"hello world"
        sm, sb = os.stat(m("a")), os.stat(s("a"))
        assert (sm.st_ino, sm.st_nlink, sm.st_size, sm.st_mode) == (sb.st_ino, sb.st_nlink, sb.st_size, sb.st_mode)
        ok("create/write/read; st_ino, st_nlink, size and mode as the backing reports them")

        # setattr by path and on an open handle
        os.chmod(m("a"), 0o640)
        assert stat.S_IMODE(os.stat(s("a")).st_mode) == 0o640
        os.chown(m("a"), 1234, 5678)
        assert (os.stat(s("a")).st_uid, os.stat(s("a")).st_gid) == (1234, 5678)
        os.truncate(m("a"), 5)
        assert open(s("a"), "rb").read() == b"hello"
        os.utime(m("a"), ns=(1_000_000_123, 2_000_000_456))
        assert os.stat(s("a")).st_mtime_ns == 2_000_000_456 and os.stat(s("a")).st_atime_ns == 1_000_000_123
        before = os.stat(s("a"))
        # UTIME_OMIT for atime, UTIME_NOW for mtime
        class TS(ctypes.Structure):
            _fields_ = [("s", ctypes.c_long), ("ns", ctypes.c_long)]
        ts = (TS * 2)(TS(0, (1 << 30) - 2), TS(0, (1 << 30) - 1))
        assert libc.utimensat(-100, m("a").encode(), ts, 0) == 0
        after = os.stat(s("a"))
        assert after.st_atime_ns == before.st_atime_ns and after.st_mtime_ns > before.st_mtime_ns
        fd = os.open(m("a"), os.O_RDWR)
        os.fchmod(fd, 0o600)
        os.ftruncate(fd, 2)
        os.utime(fd, ns=(5_000_000_000, 6_000_000_000))
        os.close(fd)
        sb = os.stat(s("a"))
        assert stat.S_IMODE(sb.st_mode) == 0o600 and sb.st_size == 2 and sb.st_mtime_ns == 6_000_000_000
        ok("setattr: chmod, chown, truncate, utimens (UTIME_NOW, UTIME_OMIT), and on an open handle")

        # links, symlinks, special files, directories
        os.link(m("a"), m("a-link"))
        assert os.stat(m("a")).st_nlink == 2 and os.stat(m("a-link")).st_ino == os.stat(m("a")).st_ino
        assert os.stat(s("a-link")).st_ino == os.stat(s("a")).st_ino
        os.symlink("a", m("sym"))
        assert os.readlink(m("sym")) == "a" and os.readlink(s("sym")) == "a"
        assert open(m("sym"), "rb").read() == b"he"
        os.mkfifo(m("fifo"))
        assert stat.S_ISFIFO(os.stat(s("fifo")).st_mode)
        os.mknod(m("sock"), 0o644 | stat.S_IFSOCK)
        assert stat.S_ISSOCK(os.stat(s("sock")).st_mode)
        os.mknod(m("null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        assert os.stat(s("null")).st_rdev == os.makedev(1, 3)
        os.mkdir(m("d"), 0o750)
        assert stat.S_IMODE(os.stat(s("d")).st_mode) == 0o750
        os.rmdir(m("d"))
        assert not os.path.exists(s("d"))
        os.unlink(m("a-link"))
        assert os.stat(m("a")).st_nlink == 1
        # chown of what is not a regular file changes it, not what it names, and opens nothing
        # (the kernel asks the daemon to clear setuid bits on every chown of a non-directory:
        # that once opened the node, ELOOP for symlinks, ENXIO for a device without a driver)
        os.symlink("nowhere", m("dangling"))
        for name in ("sym", "dangling", "fifo", "sock", "null"):
            os.chown(m(name), 4321, 8765, follow_symlinks=False)
            st = os.lstat(s(name))
            assert (st.st_uid, st.st_gid) == (4321, 8765), f"lchown of {name}"
        assert os.stat(s("a")).st_uid == 1234, "lchown of a symlink changed its target"
        os.mknod(m("nodrv"), 0o600 | stat.S_IFCHR, os.makedev(240, 201))
        os.chown(m("nodrv"), 1, 1)
        assert os.stat(s("nodrv")).st_uid == 1
        os.utime(m("dangling"), ns=(5_000_000_000, 6_000_000_000), follow_symlinks=False)
        assert os.lstat(s("dangling")).st_mtime_ns == 6_000_000_000
        ok("link (same inode, nlink fresh), symlink/readlink, fifo, socket, char device, mkdir/rmdir, unlink; lchown and lutimes of symlinks, chown of special files")

        # renames
        os.makedirs(m("x/y"))
        os.makedirs(m("z"))
        ino = os.stat(m("a")).st_ino
        os.rename(m("a"), m("x/y/a"))
        assert os.stat(m("x/y/a")).st_ino == ino and os.path.exists(s("x/y/a"))
        os.rename(m("x/y/a"), m("z/a"))
        assert os.stat(s("z/a")).st_ino == ino
        open(m("z/b"), "w").write("bbb")
        expect_errno(errno.EEXIST, renameat2, m("z/a"), m("z/b"), 1)  # RENAME_NOREPLACE
        renameat2(m("z/a"), m("z/b"), 2)  # RENAME_EXCHANGE
        assert open(s("z/a")).read() == "bbb" and os.stat(s("z/b")).st_ino == ino
        ok("rename across directories keeps st_ino; RENAME_NOREPLACE gives EEXIST; RENAME_EXCHANGE swaps")

        # open flags
        expect_errno(errno.EEXIST, os.open, m("z/a"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        fd = os.open(m("z/a"), os.O_WRONLY | os.O_APPEND)
        os.write(fd, b"+app")
        os.close(fd)
        assert open(s("z/a")).read() == "bbb+app"
        fd = os.open(m("z/a"), os.O_WRONLY | os.O_TRUNC)
        os.close(fd)
        assert os.stat(s("z/a")).st_size == 0
        fd = os.open(m("z/new"), os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o604)
        os.write(fd, b"n")
        os.fsync(fd)
        os.fdatasync(fd)
        os.close(fd)
        assert stat.S_IMODE(os.stat(s("z/new")).st_mode) == 0o604
        dfd = os.open(m("z"), os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(dfd)
        os.close(dfd)
        ok("O_EXCL, O_APPEND, O_TRUNC, O_CREAT mode, fsync, fdatasync, fsync of a directory")

        # 20,000 entries, statfs
        os.mkdir(s("many"))
        for i in range(20000):
            os.close(os.open(s("many", f"e{i}"), os.O_CREAT | os.O_WRONLY))
        names = os.listdir(m("many"))
        assert len(names) == 20000 and set(names) == {f"e{i}" for i in range(20000)}
        with os.scandir(m("many")) as it:
            seen = [e.name for e in it if e.is_file()]
        assert len(seen) == 20000
        fm, fb = os.statvfs(M), os.statvfs(S)
        assert (fm.f_bsize, fm.f_blocks, fm.f_files) == (fb.f_bsize, fb.f_blocks, fb.f_files)
        ok("a directory of 20,000 entries listed completely, each once; statfs as the backing's")

        # directory listings: the kernel caches them (cache policy other than none); a change
        # through the mount shows at once, one made in the backing directory as soon as the
        # watch reports it (or once attr_timeout, 1 s, has expired without one); with
        # cache=none every listing reaches the daemon
        os.mkdir(s("lst"))
        for i in range(50):
            open(s("lst", f"f{i}"), "w").close()
        time.sleep(0.2)  # the watch's reports of these creations, which drop a cached listing
        want = {f"f{i}" for i in range(50)}
        readdirs = lambda mt: mt.stats()["ops"]["readdir"]["count"]
        assert set(os.listdir(m("lst"))) == want
        r0 = readdirs(mnt)
        assert set(os.listdir(m("lst"))) == want
        assert readdirs(mnt) == r0, f"a repeated listing sent {readdirs(mnt) - r0} READDIRs, expected 0"
        open(m("lst", "new"), "w").close()
        os.unlink(m("lst", "f0"))
        want = want - {"f0"} | {"new"}
        assert set(os.listdir(m("lst"))) == want, "a change through the mount not listed at once"
        open(s("lst", "direct"), "w").close()
        os.unlink(s("lst", "f1"))
        want = want - {"f1"} | {"direct"}
        t0 = time.monotonic()
        while set(os.listdir(m("lst"))) != want:
            assert time.monotonic() - t0 < 5, "a change in the backing directory not listed after 5 s"
            time.sleep(0.1)
        stale = time.monotonic() - t0
        M2 = os.path.join(top, "mnt2")
        os.mkdir(M2)
        # cache=none (refused with noopen, which cannot ask for it): every listing comes to the
        # daemon, even one of an unchanged directory
        mnt2 = None if NOOPEN else Mount(ZCFS, S, M2, ["cache=none"], os.path.join(top, "log"))
        try:
            if mnt2:
                assert set(os.listdir(os.path.join(M2, "lst"))) == want
                r0 = readdirs(mnt2)
                assert set(os.listdir(os.path.join(M2, "lst"))) == want
                assert readdirs(mnt2) > r0, "cache=none: a repeated listing was served from a cache"
        finally:
            if mnt2:
                mnt2.close()
        ok(f"listings cached by the kernel, changes through the mount listed at once, backing changes after {stale:.1f} s; cache=none uncached")

        # FLUSH: on a backing whose close(2) cannot fail (this ext4) closing a file written
        # through the mount costs no round trip; on one whose close can report a delayed write
        # error (here a FUSE filesystem: a second zcfs over this mount) every close is a FLUSH
        flushes = lambda mt: mt.stats()["ops"].get("flush", {"count": 0})["count"]
        f0 = flushes(mnt)
        for i in range(20):
            with open(m(f"fl{i}"), "w") as f:
                f.write("x")
        assert flushes(mnt) == f0, f"{flushes(mnt) - f0} FLUSHes for 20 closes on a local backing"
        MF = os.path.join(top, "mntf")
        os.mkdir(MF)
        mntf = Mount(ZCFS, M, MF, [], os.path.join(top, "logf"))
        try:
            f3 = flushes(mntf)
            for i in range(20):
                with open(os.path.join(MF, f"fl{i}"), "a") as f:
                    f.write("y")
            assert flushes(mntf) - f3 == 20, f"{flushes(mntf) - f3} FLUSHes for 20 closes on a FUSE backing"
            assert open(s("fl7")).read() == "xy"
        finally:
            mntf.close()
        ok("no FLUSH round trip on close over a local backing; one per close over a FUSE backing")

        # cache=auto: a file changed in the backing directory reads at its new size at the next
        # open. The trap: a short read after the file shrank teaches the kernel the small size,
        # which it would keep for attr_timeout after the file grows again (raw reads: no fstat,
        # which would refresh the attributes and hide it).
        def raw_read(path):
            fd, out = os.open(path, os.O_RDONLY), b""
            try:
                while chunk := os.read(fd, 65536):
                    out += chunk
            finally:
                os.close(fd)
            return out
        with open(s("grow"), "wb") as f:
            f.write(b"x" * 10000)
        assert raw_read(m("grow")) == b"x" * 10000
        # (with noopen there is no open to compare at: the watch's report must arrive first)
        settle = lambda: time.sleep(0.1) if NOOPEN else None
        os.truncate(s("grow"), 3000)
        settle()
        got = raw_read(m("grow"))
        assert got == b"x" * 3000, f"read {len(got)} bytes after the backing file shrank to 3000"
        with open(s("grow"), "ab") as f:
            f.write(b"y" * 7000)
        settle()
        got = raw_read(m("grow"))
        assert got == b"x" * 3000 + b"y" * 7000, f"read {len(got)} bytes after the backing file grew to 10000"
        ok("cache=auto: a file shrunk, then grown in the backing directory reads at its new size at each open")

        # xattrs
        os.setxattr(m("z/new"), "user.k", b"v1")
        os.setxattr(m("z/new"), "trusted.t", b"tv")
        assert os.getxattr(s("z/new"), "user.k") == b"v1" and os.getxattr(s("z/new"), "trusted.t") == b"tv"
        assert {"user.k", "trusted.t"} <= set(os.listxattr(m("z/new")))
        assert not any(x.startswith("user.zcfs.") for x in os.listxattr(m("z/new")))
        buf = ctypes.create_string_buffer(1)
        assert libc.getxattr(m("z/new").encode(), b"user.k", buf, 1) < 0 and ctypes.get_errno() == errno.ERANGE
        expect_errno(errno.ENODATA, os.getxattr, m("z/new"), "user.none")
        expect_errno(errno.EEXIST, os.setxattr, m("z/new"), "user.k", b"x", os.XATTR_CREATE)
        os.removexattr(m("z/new"), "user.k")
        expect_errno(errno.ENODATA, os.getxattr, s("z/new"), "user.k")
        ok("xattrs user. and trusted.: set/get/list/remove, ERANGE, ENODATA, XATTR_CREATE; virtual ones unlisted")

        # O_TMPFILE: an unnamed file, linked into a name later (linkat of /proc/self/fd/N);
        # with O_EXCL never linkable. libfuse 3.14 has no tmpfile op: EOPNOTSUPP there.
        has_tmpfile = "tmpfile" in subprocess.run([ZCFS, "--version"], capture_output=True, text=True).stdout
        lc = ctypes.CDLL(None, use_errno=True)
        def linkat_fd(fd, dst):
            if lc.linkat(-100, f"/proc/self/fd/{fd}".encode(), -100, dst.encode(), 0x400) != 0:
                raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        if has_tmpfile:
            fd = os.open(M, os.O_TMPFILE | os.O_RDWR, 0o640)
            os.write(fd, b"unnamed")
            assert os.fstat(fd).st_nlink == 0 and os.fstat(fd).st_mode & 0o777 == 0o640
            assert not [n for n in os.listdir(S) if n.startswith("#")], os.listdir(S)
            linkat_fd(fd, m("was-tmp"))
            os.close(fd)
            assert open(s("was-tmp"), "rb").read() == b"unnamed" and os.stat(m("was-tmp")).st_nlink == 1
            fd = os.open(M, os.O_TMPFILE | os.O_WRONLY | os.O_EXCL, 0o600)
            expect_errno(errno.ENOENT, linkat_fd, fd, m("never"))
            os.close(fd)
            assert not os.path.exists(s("never"))
            os.unlink(m("was-tmp"))
            ok("O_TMPFILE: an unnamed file, written, then linked to a name; with O_EXCL not linkable")
        else:
            expect_errno(errno.EOPNOTSUPP, os.open, M, os.O_TMPFILE | os.O_RDWR, 0o600)
            ok("O_TMPFILE: EOPNOTSUPP (zcfs built with a libfuse without the tmpfile operation)")

        # locks between two processes
        open(m("lk"), "w").write("lock me")
        fd = os.open(m("lk"), os.O_RDWR)
        fcntl.lockf(fd, fcntl.LOCK_EX, 2, 8)  # a blocking lock, uncontended (EINVAL over io_uring once)
        fcntl.lockf(fd, fcntl.LOCK_UN, 2, 8)
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 4, 0)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

        def contender():
            f2 = os.open(m("lk"), os.O_RDWR)
            try:
                fcntl.lockf(f2, fcntl.LOCK_EX | fcntl.LOCK_NB, 4, 0)
                os._exit(10)
            except OSError as x:
                if x.errno not in (errno.EAGAIN, errno.EACCES):
                    os._exit(11)
            fcntl.lockf(f2, fcntl.LOCK_EX | fcntl.LOCK_NB, 3, 4)  # other range: fine
            try:
                fcntl.flock(f2, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os._exit(12)
            except OSError as x:
                if x.errno != errno.EWOULDBLOCK:
                    os._exit(13)
            os._exit(0)
        pid = os.fork()
        if pid == 0:
            contender()
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0, "lock contender"
        os.close(fd)
        pid = os.fork()
        if pid == 0:
            f2 = os.open(m("lk"), os.O_RDWR)
            fcntl.lockf(f2, fcntl.LOCK_EX | fcntl.LOCK_NB, 4, 0)
            fcntl.flock(f2, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os._exit(0)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0, "locks not released at close"
        ok("POSIX and flock locks conflict between processes, non-overlapping ranges do not, close releases")

        # Waiting for a lock must not take a request worker: 40 waiters (more than the 10
        # workers, and more than an io_uring queue holds) while the mount keeps answering
        # others; each gets its lock once released; a waiter interrupted by a signal or killed
        # leaves at once. Over /dev/fuse they wait in the daemon's retry queue; over io_uring
        # (libfuse answers a ring's request only from that ring's thread, so a wait there held
        # the queue: 40 flock waiters hung the mount for good) the kernel keeps the locks.
        uring = "io_uring" in os.environ.get("ZCFS_EXTRA_OPTS", "")
        cfg = open(m(".zcfs", "config")).read()
        assert f"\nlocks={'kernel' if uring or NOOPEN else 'backing'}\n" in cfg, cfg
        open(m("wl"), "w").write("x")
        hold = os.open(m("wl"), os.O_RDWR)
        fcntl.lockf(hold, fcntl.LOCK_EX)
        fcntl.flock(hold, fcntl.LOCK_EX)
        def waiter(kind):
            os.close(hold)  # the lock is its open file description's (OFD semantics)
            f2 = os.open(m("wl"), os.O_RDWR)
            if kind == "posix":
                fcntl.lockf(f2, fcntl.LOCK_EX)
            else:
                fcntl.flock(f2, fcntl.LOCK_EX)
            os._exit(0)
        kids = []
        for i in range(40):
            pid = os.fork()
            if pid == 0:
                waiter("posix" if i % 2 else "flock")
            kids.append(pid)
        def sigwaiter():
            signal.signal(signal.SIGALRM, lambda *a: os._exit(0))
            signal.setitimer(signal.ITIMER_REAL, 0.3)
            os.close(hold)
            f2 = os.open(m("wl"), os.O_RDWR)
            fcntl.lockf(f2, fcntl.LOCK_EX)
            os._exit(3)  # got the lock while it was held
        intr = os.fork()
        if intr == 0:
            sigwaiter()
        victim = os.fork()
        if victim == 0:
            waiter("posix")
        time.sleep(0.5)
        r = subprocess.run(["cat", m("wl")], capture_output=True, timeout=10)
        assert r.returncode == 0 and os.listdir(M), "mount not answering while locks wait"
        t0 = time.monotonic()
        assert os.waitstatus_to_exitcode(os.waitpid(intr, 0)[1]) == 0, "an interrupted lock wait took the lock"
        os.kill(victim, signal.SIGKILL)
        os.waitpid(victim, 0)
        assert time.monotonic() - t0 < 5, f"interrupted/killed waiters took {time.monotonic() - t0:.1f} s to leave"
        for pid in kids:
            assert os.waitpid(pid, os.WNOHANG) == (0, 0), "a waiter got its lock while it was held"
        os.close(hold)  # releases both locks
        deadline = time.monotonic() + 20
        for pid in kids:
            while (st := os.waitpid(pid, os.WNOHANG)) == (0, 0):
                assert time.monotonic() < deadline, "waiters did not all get the lock within 20 s of its release"
                time.sleep(0.02)
            assert os.waitstatus_to_exitcode(st[1]) == 0
        ok(f"40 lock waiters (POSIX and flock) hold no worker{' (io_uring: kernel-local locks)' if uring else ''}: "
           "the mount answers meanwhile; all get the lock after release; a signal or SIGKILL ends a wait at once")
        if uring:
            # zcfs_io_uring said 0 until the first read of a file or a stat: the open of the
            # stats file, the first request here, is enough now
            M4 = os.path.join(top, "mnt4")
            os.mkdir(M4)
            z = subprocess.Popen([ZCFS, "-f", "-o", "io_uring", S, M4], stderr=subprocess.DEVNULL)
            try:
                for _ in range(100):
                    if any(l.split()[4] == M4 for l in open("/proc/self/mountinfo")):
                        break
                    time.sleep(0.1)
                first = open(os.path.join(M4, ".zcfs", "stats")).read()
                assert re.search(r"^zcfs_io_uring\{[^}]*\} 1$", first, re.M), "zcfs_io_uring not 1 at the first read"
            finally:
                subprocess.call(["fusermount3", "-u", M4])
                z.wait(timeout=30)
            ok("zcfs_io_uring is 1 in the first stats read after mounting over io_uring")
        if not uring and not NOOPEN:
            # a lock held through the backing directory, released there: no unlock passes
            # through the mount, the waiter must still get it (over io_uring, and with noopen,
            # the kernel keeps the mount's locks and does not see the backing file's)
            bh = os.open(s("wl"), os.O_RDWR)
            fcntl.flock(bh, fcntl.LOCK_EX)
            pid = os.fork()
            if pid == 0:
                os.close(bh)
                f2 = os.open(m("wl"), os.O_RDWR)
                fcntl.flock(f2, fcntl.LOCK_EX)
                os._exit(0)
            time.sleep(0.3)
            assert os.waitpid(pid, os.WNOHANG) == (0, 0), "flock taken while held on the backing file"
            os.close(bh)
            deadline = time.monotonic() + 5
            while (st := os.waitpid(pid, os.WNOHANG)) == (0, 0):
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    raise AssertionError("a lock released in the backing directory never reached its waiter")
                time.sleep(0.02)
            ok("a flock held and released in the backing directory reaches the mount's waiter")

        # fallocate, punch hole, SEEK_DATA/HOLE, copy_file_range
        fd = os.open(m("sp"), os.O_CREAT | os.O_RDWR, 0o644)
        os.posix_fallocate(fd, 0, 1 << 20)
        assert os.fstat(fd).st_size == 1 << 20 and os.stat(s("sp")).st_blocks >= 2048
        os.pwrite(fd, b"D" * (1 << 20), 0)
        assert libc.fallocate(fd, 3, ctypes.c_long(256 << 10), ctypes.c_long(256 << 10)) == 0  # PUNCH|KEEP_SIZE
        assert os.pread(fd, 16, 300 << 10) == b"\0" * 16 and os.fstat(fd).st_size == 1 << 20
        assert os.lseek(fd, 0, os.SEEK_HOLE) == 256 << 10
        assert os.lseek(fd, 256 << 10, os.SEEK_DATA) == 512 << 10
        out = os.open(m("cp"), os.O_CREAT | os.O_RDWR, 0o644)
        assert os.copy_file_range(fd, out, 4096, 0, 0) == 4096
        os.close(out)
        os.close(fd)
        assert open(s("cp"), "rb").read() == b"D" * 4096
        ok("fallocate, punch hole (KEEP_SIZE), SEEK_HOLE/SEEK_DATA, copy_file_range")

        # O_DIRECT through the mount with aligned buffers
        fd = os.open(m("dio"), os.O_CREAT | os.O_RDWR | os.O_DIRECT, 0o644)
        buf = mmap.mmap(-1, 1 << 16)
        buf.write(bytes(range(256)) * 256)
        assert os.pwritev(fd, [buf], 4096) == 1 << 16
        rb = mmap.mmap(-1, 1 << 16)
        assert os.preadv(fd, [rb], 4096) == 1 << 16 and rb[:] == buf[:]
        os.close(fd)
        assert open(s("dio"), "rb").read()[4096:] == bytes(range(256)) * 256
        ok("O_DIRECT write and read through the mount with aligned buffers")

        # names and paths
        expect_errno(errno.ENAMETOOLONG, os.open, m("n" * 256), os.O_CREAT | os.O_WRONLY)
        open(m("n" * 255), "w").close()
        ok("ENAMETOOLONG for 256 bytes, 255 works")

        # an unprivileged caller: ownership, permissions, sticky, setuid clearing
        os.mkdir(s("pub"))
        os.chmod(s("pub"), 0o1777)  # not subject to the umask
        os.mkdir(s("private"))
        os.chmod(s("private"), 0o700)
        open(s("rootfile"), "w").write("root")
        os.chmod(s("rootfile"), 0o644)
        open(s("pub", "roots"), "w").close()

        def alice():
            with open(m("pub", "mine"), "w") as f:
                f.write("alice")
            os.mkdir(m("pub", "mydir"))
            open(m("pub", "suid"), "w").write("x")
            os.chmod(m("pub", "suid"), 0o4755)
            expect_errno(errno.EACCES, os.listdir, m("private"))
            expect_errno(errno.EACCES, os.open, m("rootfile"), os.O_WRONLY)
            expect_errno(errno.EPERM, os.chown, m("pub", "mine"), 0, 0)
            expect_errno(errno.EPERM, os.unlink, m("pub", "roots"))  # sticky
            expect_errno(errno.EACCES, os.open, m(".zcfs", "ctl"), os.O_RDWR)
            assert open(m(".zcfs", "stats")).read().startswith("# HELP")
            with open(m("pub", "suid"), "a") as f:
                f.write("y")
        assert as_user(alice) == 0, "unprivileged caller"
        for f in ("mine", "mydir", "suid"):
            st = os.stat(s("pub", f))
            assert (st.st_uid, st.st_gid) == (UID, GID), f"{f} owned by {st.st_uid}:{st.st_gid}"
        assert not os.stat(s("pub", "suid")).st_mode & stat.S_ISUID, "setuid not cleared by a write"
        ok("uid 54321: creations owned by 54321, EACCES/EPERM as on the backing, sticky dir, "
           "setuid cleared on write, ctl EACCES, stats readable")

        # Without default_permissions the daemon would be the one enforcing every permission
        # rule for other users: zcfs refuses allow_other then, with a reason.
        M3 = os.path.join(top, "mnt3")
        os.mkdir(M3)
        r = subprocess.run([ZCFS, "-f", "-o", "allow_other", S, M3], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and "allow_other needs -o default_permissions" in r.stderr, \
            f"allow_other without default_permissions: exit {r.returncode}, {r.stderr!r}"
        # access(2) without default_permissions (only the mounting user, root, gets in; noacl,
        # since the kernel's ACL cache implies default_permissions): the kernel asks the daemon,
        # which answers as the backing filesystem would
        os.mkdir(s("acc"))
        os.chmod(s("acc"), 0o755)
        for name, mode in (("secret", 0o600), ("plain", 0o644)):
            open(s("acc", name), "w").close()
            os.chmod(s("acc", name), mode)
        mnt3 = Mount(ZCFS, S, M3, ["noacl"], os.path.join(top, "log"))
        try:
            a = lambda *x: os.path.join(M3, *x)
            a0 = mnt3.stats()["ops"]["access"]["count"]
            assert os.access(a("acc", "secret"), os.R_OK | os.W_OK), "root: R_OK|W_OK on a 0600 file"
            assert not os.access(a("acc", "plain"), os.X_OK), "root: X_OK on a file with no x bit"
            assert os.access(a(".zcfs", "ctl"), os.R_OK | os.W_OK), "root: the control file"

            def bob():
                expect_errno(errno.EACCES, os.stat, a("acc", "plain"))
            assert as_user(bob) == 0, "another user on a mount without allow_other"
            assert mnt3.stats()["ops"]["access"]["count"] >= a0 + 2, "the daemon answered no ACCESS"
        finally:
            mnt3.close()
        ok("allow_other without default_permissions refused with a reason; access(2) of the mounting user answered as the backing's")

        # escapes: symlinks pointing outside are resolved by the kernel on the client side only
        os.symlink("/etc/passwd", s("abs"))
        os.symlink("../../../../../../etc", s("rel"))
        assert os.readlink(m("abs")) == "/etc/passwd"
        expect_errno(errno.ENOENT, os.stat, m("..x"))
        expect_errno(errno.ENOENT, os.lstat, m("nothere"))
        ok("symlinks are returned as written; no lookup resolves outside the backing directory")

        # descriptor leak check: walk 10,000 files, drop dentries, back to baseline
        os.mkdir(s("tree"))
        for d in range(10):
            os.mkdir(s("tree", str(d)))
            for i in range(1000):
                os.close(os.open(s("tree", str(d), str(i)), os.O_CREAT | os.O_WRONLY))
        for root, dirs, files in os.walk(m("tree")):
            for f in files:
                os.stat(os.path.join(root, f))
        peak = fds_of(p.pid)
        for _ in range(30):
            # 3, not 2: directories whose listings the kernel caches hold page-cache pages,
            # and an inode with pages is not reclaimed by dropping dentries and inodes alone
            open("/proc/sys/vm/drop_caches", "w").write("3")
            time.sleep(0.2)
            now = fds_of(p.pid)
            if now <= fds0 + 4:
                break
        if now > fds0 + 4 and os.environ.get("DBG"):
            for fd in os.listdir(f"/proc/{p.pid}/fd"):
                try: print("#", fd, os.readlink(f"/proc/{p.pid}/fd/{fd}"))
                except OSError: pass
        assert now <= fds0 + 4, f"descriptors: baseline {fds0}, after walk {peak}, after drop {now}"
        ok(f"10,000-file walk: daemon descriptors (splice pipes aside) {fds0} -> {peak} -> {now} after the kernel forgot them")
    finally:
        os.chdir("/")
        mnt.close()
        assert_clean_log(os.path.join(top, "log"))
        subprocess.call(["rm", "-rf", top])
    done()


main()
