#!/usr/bin/env python3
"""Coherence with the backing directory: other processes change BACKING directly (not through
the mount) while zcfs has it mounted, and every check reads through the mount what BACKING
holds at that moment, byte for byte, after waiting ZCFS_COHERENCE_SETTLE (0.35 s by default):
past entry_timeout and attr_timeout (ZCFS_COHERENCE_TIMEOUT, 0.2 s by default) where the kernel
may serve a cached name or attribute until then, or, with long timeouts, what the watch of the
backing (fanotify or inotify) must manage. The backing filesystem reuses the
inode number of a deleted file for the next one created, so a daemon that keys its inodes by
(st_dev, st_ino) alone must tell the new file from the old one.

Eight mounts: fd_cache=16 (idle descriptors closed early, so inode numbers get reused) and the
default fd_cache, each with mode=buffered, direct, mmap and splice; all with allow_other,
default_permissions and the default cache=auto. Cases, each in its own directory of one mount:
  1 inode-number reuse, backing side: B created after A's removal gets A's inode number
  2 inode-number reuse, mount side: rmdir of a directory still in use, then 20 new files
  3 unlink and create under another name      4 delete and recreate under the same name
  5 replace by rename while a reader holds the old file open
  6 truncate, append, same-size rewrite: fresh opens and a handle kept open
  7 a directory removed and recreated with other files   8 a directory renamed
  9 chmod and chown                           10 a hard link made, the original unlinked
 11 churn: files replaced by rename-over for a few hundred rounds while a reader reads them
Each case says whether ext4 really gave a new object a removed one's inode number; where it
did not (another process took the number, or the daemon kept the old object open), cases 2-5
and 7 try again in a new directory, up to 3 times. After each case the daemon must be alive
with no error or warning logged; at the end of each mount its .zcfs/stats must read. Every
failure is reported (case, mode, fd_cache, path, errno, expected and got) and the run goes on;
a summary table ends it. Exit 1 if anything failed. ZCFS_COHERENCE_MODES, _FD_CACHES (16,default)
and _CASES (numbers) narrow a run down, comma-separated.
Usage: test_backing_changes.py ZCFS"""
import errno, hashlib, mmap, os, random, re, shutil, struct, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.realpath(__file__))
sys.dont_write_bytecode = True  # nothing written into the source tree
sys.path[:0] = [os.path.join(HERE, "..", "pylib"), HERE]
from zcfstest import is_mounted, read_to_eof, require_fuse, run_as  # noqa: E402
from coherence import (SETTLE, Env, daemon_holds, end_of_mount, ename, pattern, put,  # noqa: E402
                       run_case, show, summary)

ZCFS = os.path.realpath(sys.argv[1])
# passthrough too where the daemon was built with it
BUILT_PT = "passthrough" in subprocess.run([ZCFS, "--version"], capture_output=True, text=True).stdout
MODES = os.environ.get("ZCFS_COHERENCE_MODES",
                       "buffered,direct,mmap,splice" + (",passthrough" if BUILT_PT else "")).split(",")
FD_CACHES = [None if x == "default" else x  # None: the daemon's default (RLIMIT_NOFILE/2)
             for x in os.environ.get("ZCFS_COHERENCE_FD_CACHES", "16,default").split(",")]
ONLY_CASES = {int(x) for x in os.environ.get("ZCFS_COHERENCE_CASES", "").split(",") if x}
UID = GID = 54321
CHURN_ROUNDS = int(os.environ.get("ZCFS_CHURN_ROUNDS", "300"))
CHURN_FILES = 24  # more than fd_cache=16: descriptors are evicted while the reader goes round
STALE_MARGIN = 1.0  # churn: a version replaced this long before an open began is stale


# ---- the cases; each gets a Case and its own directory name ----

def case_reuse_backing(c, d):
    """The bug report's reproducer: A looked up through the mount, the daemon's descriptors for
    it evicted by reading 40 other files, A removed and B created in the backing; B gets A's
    inode number, and must read as B through the mount at once and after the timeouts."""
    env = c.env
    for attempt in range(5):
        s, m = env.s(f"{d}/x{attempt}"), env.m(f"{d}/x{attempt}")
        os.makedirs(s)
        put(f"{s}/A", b"aaa\n")
        for i in range(1, 41):
            put(f"{s}/f{i}", f"{i}\n".encode())
        os.stat(f"{m}/A")
        for i in range(1, 41):
            c.expect_bytes(f"{m}/f{i}", f"{i}\n".encode())
        for i in range(1, 41):
            os.stat(f"{m}/f{i}")
        ino_a = os.stat(f"{s}/A").st_ino
        held = daemon_holds(env.mnt.pid, f"{s}/A")
        os.unlink(f"{s}/A")
        put(f"{s}/B", b"bbb\n")
        ino_b = os.stat(f"{s}/B").st_ino
        c.expect_bytes(f"{m}/B", b"bbb\n", "read at once")
        time.sleep(SETTLE)
        c.expect_bytes(f"{m}/B", b"bbb\n", f"read after {SETTLE} s")
        c.expect_gone(f"{m}/A")
        sb = c.stat_of(f"{m}/B")
        if sb and sb.st_ino != ino_b:
            c.fail("st_ino", f"{c.rel(m)}/B: st_ino {sb.st_ino} through the mount, {ino_b} in the backing")
        if ino_b == ino_a:
            c.note(f"B got A's inode number {ino_a} in the backing (attempt {attempt + 1})")
            return
        if held:
            c.note(f"inode number not reused: the daemon kept a descriptor on A (ino {ino_a}, B got "
                   f"{ino_b}); reuse not exercised")
            return
    c.note(f"ext4 gave B another inode number than A in 5 attempts; reuse not exercised")


def attempts(once, what, tries=3):
    """A case that runs once(c, dir) -> (reused, total, daemon_held) up to tries times. ext4
    gives a new file the lowest free inode number of its block group, and other processes on
    the machine free and take numbers too, so a removed file's number is not always reused:
    stop at the first attempt that reuses one, fails, or finds the daemon holding the old
    files open (then their numbers cannot be reused)."""
    def case(c, d):
        for k in range(tries):
            reused, total, held = once(c, f"{d}/try{k}")
            c.note(f"attempt {k + 1}: {reused} of {total} new {what} got an inode number of a "
                   f"removed one{'; the daemon kept descriptors on the old ones' if held else ''}")
            if reused or held or c.problems:
                return
    case.__doc__ = once.__doc__
    return case


def reuse_mount_once(c, d):
    """Through the mount only: a directory kept in use (a process's cwd), the daemon's
    descriptors evicted, the directory removed; 20 new files must each read back."""
    env = c.env
    z = env.m(d)
    os.makedirs(z)
    os.mkdir(f"{z}/d")
    holder = subprocess.Popen(["sleep", "600"], cwd=f"{z}/d")
    try:
        os.mkdir(f"{z}/ev")
        for i in range(100):
            put(f"{z}/ev/e{i}", f"e{i}\n".encode())
        for i in range(100):
            c.expect_bytes(f"{z}/ev/e{i}", f"e{i}\n".encode(), "read back")
        ino_d = os.stat(env.s(f"{d}/d")).st_ino
        held = daemon_holds(env.mnt.pid, env.s(f"{d}/d"))
        os.rmdir(f"{z}/d")
        reused = []
        for i in range(1, 21):
            want = f"n{i} {'x' * i}\n".encode()
            try:
                put(f"{z}/n{i}", want)
            except OSError as x:
                c.fail(ename(x.errno), f"{c.rel(z)}/n{i}: create and write: {ename(x.errno)} ({x.strerror})")
                continue
            c.expect_bytes(f"{z}/n{i}", want, "read back")
            try:
                if open(env.s(f"{d}/n{i}"), "rb").read() != want:
                    c.fail("backing", f"{d}/n{i}: the backing does not hold what was written")
                if os.stat(env.s(f"{d}/n{i}")).st_ino == ino_d:
                    reused.append(f"n{i}")
            except OSError as x:
                c.fail(ename(x.errno), f"{d}/n{i}: in the backing: {ename(x.errno)}")
        if reused:
            c.note(f"{reused[0]} got the removed directory's inode number {ino_d}")
    finally:
        holder.kill()
        holder.wait()
    return len(reused), 20, held


def hold(paths):
    """O_PATH descriptors on paths through the mount: the kernel keeps those inodes (and does
    not FORGET them) however its caches are pruned, as for a process's cwd; nothing reaches
    the daemon, which therefore holds nothing open for them."""
    return [os.open(p, os.O_PATH) for p in paths]


def unlink_create_once(c, d):
    """20 files read through the mount, unlinked in the backing, 20 others created there. The
    even-numbered old files stay in use through the mount (O_PATH, see hold())."""
    env = c.env
    s, m = env.s(d), env.m(d)
    os.makedirs(s)
    for i in range(20):
        put(f"{s}/o{i}", pattern(f"{d}/o{i}", 100 + i))
    for i in range(20):
        c.expect_bytes(f"{m}/o{i}", pattern(f"{d}/o{i}", 100 + i))
    fds = hold(f"{m}/o{i}" for i in range(0, 20, 2))
    try:
        old = {os.stat(f"{s}/o{i}").st_ino for i in range(20)}
        c.evict()
        held = daemon_holds(env.mnt.pid, f"{s}/o1")
        for i in range(20):
            os.unlink(f"{s}/o{i}")
            put(f"{s}/n{i}", pattern(f"{d}/n{i}", 100 + i))
        new = {os.stat(f"{s}/n{i}").st_ino for i in range(20)}
        for i in range(20):
            c.expect_bytes(f"{m}/n{i}", pattern(f"{d}/n{i}", 100 + i), "read at once")
        time.sleep(SETTLE)
        for i in range(20):
            c.expect_bytes(f"{m}/n{i}", pattern(f"{d}/n{i}", 100 + i), f"read after {SETTLE} s")
            c.expect_gone(f"{m}/o{i}")
        c.expect_listing(m, s)
    finally:
        for fd in fds:
            os.close(fd)
    return len(old & new), 20, held


def recreate_same_name_once(c, d):
    """20 files read through the mount (pages cached), deleted and recreated in the backing
    under the same names with new content: half at another size, a quarter at the same size,
    a quarter at the same size with the old mtime restored (rsync -t, tar x). Half of the old
    files stay in use through the mount (O_PATH, see hold())."""
    env = c.env
    s, m = env.s(d), env.m(d)
    os.makedirs(s)
    v1 = {i: pattern(f"{d}/r{i}/v1", 3000 + 97 * i) for i in range(20)}
    v2 = {i: pattern(f"{d}/r{i}/v2", len(v1[i]) if i % 2 else 5000 + 31 * i) for i in range(20)}
    for i in range(20):
        put(f"{s}/r{i}", v1[i])
    for i in range(20):
        c.expect_bytes(f"{m}/r{i}", v1[i])
    old = {i: os.stat(f"{s}/r{i}") for i in range(20)}
    fds = hold(f"{m}/r{i}" for i in range(20) if i % 4 in (0, 3))
    try:
        c.evict()
        held = daemon_holds(env.mnt.pid, f"{s}/r1")
        time.sleep(0.02)  # a later mtime for those not restored
        for i in range(20):
            os.unlink(f"{s}/r{i}")
            put(f"{s}/r{i}", v2[i])
            if i % 4 == 3:
                os.utime(f"{s}/r{i}", ns=(old[i].st_atime_ns, old[i].st_mtime_ns))
        reused = sum(os.stat(f"{s}/r{i}").st_ino in {o.st_ino for o in old.values()} for i in range(20))
        time.sleep(SETTLE)
        for i in range(20):
            c.expect_bytes(f"{m}/r{i}", v2[i], f"read after {SETTLE} s", old=v1[i])
    finally:
        for fd in fds:
            os.close(fd)
    return reused, 20, held


def replace_by_rename_once(c, d):
    """Files published by write-to-temporary and rename over the old name; a reader holds the
    old p0 open through the mount and keeps reading its old bytes; fresh opens see the new.
    The old p1..p9 stay in use through the mount too (O_PATH, see hold())."""
    env = c.env
    s, m = env.s(d), env.m(d)
    os.makedirs(s)
    size = 64 << 10
    v1 = {i: pattern(f"{d}/p{i}/v1", size) for i in range(10)}
    v2 = {i: pattern(f"{d}/p{i}/v2", size if i % 2 else size + 1000) for i in range(10)}
    for i in range(10):
        put(f"{s}/p{i}", v1[i])
    for i in range(1, 10):
        c.expect_bytes(f"{m}/p{i}", v1[i])
    fd = os.open(f"{m}/p0", os.O_RDONLY)
    fds = hold(f"{m}/p{i}" for i in range(1, 10))
    try:
        head = os.pread(fd, 4096, 0)
        if head != v1[0][:4096]:
            c.fail("content", f"{d}/p0: first 4 KiB: got {show(head)}, expected {show(v1[0][:4096])}")
        old = {os.stat(f"{s}/p{i}").st_ino for i in range(10)}
        c.evict()
        held = daemon_holds(env.mnt.pid, f"{s}/p1")
        for i in range(10):
            put(f"{s}/.p{i}.tmp", v2[i])
            os.rename(f"{s}/.p{i}.tmp", f"{s}/p{i}")
        new = {os.stat(f"{s}/p{i}").st_ino for i in range(10)}
        time.sleep(SETTLE)
        c.expect_fd_bytes(fd, f"{m}/p0", v1[0], "the handle opened before the rename", old=v2[0])
        for i in reversed(range(10)):  # p9 first: the name whose new file got an old number
            c.expect_bytes(f"{m}/p{i}", v2[i], "fresh open after the rename", old=v1[i])
        c.expect_fd_bytes(fd, f"{m}/p0", v1[0], "the old handle again, after a new open", old=v2[0])
    finally:
        for x in [fd] + fds:
            os.close(x)
    c.expect_listing(m, s)
    return len(old & new), 10, held


def case_truncate_append(c, d):
    """Truncated (shorter), appended to (longer) and rewritten in place at the same size in the
    backing; fresh opens, and a handle opened before, read what the backing holds."""
    env = c.env
    s, m = env.s(d), env.m(d)
    os.mkdir(s)
    f = f"{s}/t"
    full = pattern(f"{d}/t/v1", 100 << 10)
    put(f, full)
    c.expect_bytes(f"{m}/t", full)
    fd = os.open(f"{m}/t", os.O_RDONLY)
    try:
        c.expect_fd_bytes(fd, f"{m}/t", full, "handle before any change")
        c.evict()
        os.truncate(f, 10 << 10)
        time.sleep(SETTLE)
        now = full[:10 << 10]
        c.expect_fd_bytes(fd, f"{m}/t", now, "handle kept open, after truncate to 10 KiB", old=full)
        c.expect_bytes(f"{m}/t", now, "fresh open after truncate to 10 KiB", old=full)
        try:
            if os.fstat(fd).st_size != len(now):
                c.fail("st_size", f"{d}/t: fstat of the open handle after truncate: size "
                       f"{os.fstat(fd).st_size}, expected {len(now)}")
        except OSError as x:
            c.fail(ename(x.errno), f"{d}/t: fstat of the open handle: {ename(x.errno)}")
        more = pattern(f"{d}/t/append", 50 << 10)
        with open(f, "ab") as w:
            w.write(more)
        short, now = now, now + more
        time.sleep(SETTLE)
        c.expect_fd_bytes(fd, f"{m}/t", now, "handle kept open, after append to 60 KiB", old=short)
        c.expect_bytes(f"{m}/t", now, "fresh open after append to 60 KiB", old=short)
        c.evict()
        new = pattern(f"{d}/t/v2", len(now))
        w = os.open(f, os.O_WRONLY)
        try:
            os.pwrite(w, new, 0)
        finally:
            os.close(w)
        time.sleep(SETTLE)
        c.expect_bytes(f"{m}/t", new, "fresh open after a same-size rewrite in place", old=now)
    finally:
        os.close(fd)


def dir_recreate_once(c, d):
    """A directory read through the mount, removed in the backing with its files, and made
    again with other files (one of them under an old name, with new content). The old ones
    stay in use through the mount (O_PATH, see hold()), so that the kernel does not forget
    them before the new ones are looked up."""
    env = c.env
    s, m = env.s(d), env.m(d)
    os.makedirs(f"{s}/dir")
    for i in range(10):
        put(f"{s}/dir/a{i}", pattern(f"{d}/a{i}", 500 + i))
    c.expect_listing(f"{m}/dir", f"{s}/dir")
    for i in range(10):
        c.expect_bytes(f"{m}/dir/a{i}", pattern(f"{d}/a{i}", 500 + i))
    fds = hold([f"{m}/dir"] + [f"{m}/dir/a{i}" for i in range(10)])
    try:
        old = {os.stat(f"{s}/dir/a{i}").st_ino for i in range(10)} | {os.stat(f"{s}/dir").st_ino}
        c.evict()
        held = any(daemon_holds(env.mnt.pid, f"{s}/dir/a{i}") for i in range(10))
        shutil.rmtree(f"{s}/dir")
        os.mkdir(f"{s}/dir")
        for i in range(10):
            put(f"{s}/dir/b{i}", pattern(f"{d}/b{i}", 700 + i))
        put(f"{s}/dir/a0", pattern(f"{d}/a0-new", 900))
        new = {os.stat(f"{s}/dir/{n}").st_ino for n in os.listdir(f"{s}/dir")} | {os.stat(f"{s}/dir").st_ino}
        time.sleep(SETTLE)
        c.expect_listing(f"{m}/dir", f"{s}/dir")
        for i in range(10):
            c.expect_bytes(f"{m}/dir/b{i}", pattern(f"{d}/b{i}", 700 + i), "new file")
        c.expect_bytes(f"{m}/dir/a0", pattern(f"{d}/a0-new", 900), "old name, new content",
                       old=pattern(f"{d}/a0", 500))
        for i in range(1, 10):
            c.expect_gone(f"{m}/dir/a{i}")
        st = c.stat_of(f"{m}/dir")
        if st and st.st_ino != os.stat(f"{s}/dir").st_ino:
            c.fail("st_ino", f"{d}/dir: st_ino {st.st_ino} through the mount, "
                   f"{os.stat(f'{s}/dir').st_ino} in the backing")
    finally:
        for fd in fds:
            os.close(fd)
    return len(old & new), 12, held


def case_dir_rename(c, d):
    """A directory renamed in the backing: the old path is gone, the new one reads, and a file
    created through the mount under the new path lands there in the backing."""
    env = c.env
    s, m = env.s(d), env.m(d)
    os.makedirs(f"{s}/old")
    for i in range(5):
        put(f"{s}/old/f{i}", pattern(f"{d}/f{i}", 300 + i))
    for i in range(5):
        c.expect_bytes(f"{m}/old/f{i}", pattern(f"{d}/f{i}", 300 + i))
    c.evict()
    os.rename(f"{s}/old", f"{s}/new")
    time.sleep(SETTLE)
    c.expect_gone(f"{m}/old")
    c.expect_gone(f"{m}/old/f0")
    for i in range(5):
        c.expect_bytes(f"{m}/new/f{i}", pattern(f"{d}/f{i}", 300 + i), "under the new name")
    c.expect_listing(m, s)
    try:
        put(f"{m}/new/g", b"through the mount\n")
        if open(f"{s}/new/g", "rb").read() != b"through the mount\n":
            c.fail("backing", f"{d}/new/g: written through the mount, the backing holds other bytes")
    except OSError as x:
        c.fail(ename(x.errno), f"{d}/new/g: create through the mount or read in the backing: "
               f"{ename(x.errno)} ({x.strerror})")


def as_user_read(path):
    """Read path as uid 54321 in a child; returns 0 or the errno (127: another failure)."""
    r = run_as(UID, GID, [], lambda: open(path, "rb").read() and None)
    if r[0] == "ok":
        return 0
    return getattr(errno, r[1], 127) if r[0] == "err" else 127


def case_chmod_chown(c, d):
    """Mode and owner changed in the backing: st_mode, st_uid, st_gid through the mount after
    attr_timeout, and default_permissions deciding from them (uid 54321 reads only after)."""
    env = c.env
    s, m = env.s(d), env.m(d)
    os.makedirs(f"{s}/dir")
    put(f"{s}/f", b"secret\n")
    os.chmod(f"{s}/f", 0o600)
    os.chmod(f"{s}/dir", 0o755)
    for p in ("f", "dir"):
        c.stat_of(f"{m}/{p}")
    rc = as_user_read(f"{m}/f")
    if rc != errno.EACCES:
        c.fail("access", f"{d}/f: mode 0600 owner root: uid {UID} read gave {ename(rc) if rc else 'success'}, "
               "expected EACCES")
    c.evict()
    os.chmod(f"{s}/f", 0o640)
    os.chown(f"{s}/f", UID, 5678)
    os.chmod(f"{s}/dir", 0o1730)
    os.chown(f"{s}/dir", 1234, GID)
    time.sleep(SETTLE)
    for p in ("f", "dir"):
        st, sb = c.stat_of(f"{m}/{p}"), os.stat(f"{s}/{p}")
        if st is None:
            continue
        got = (oct(st.st_mode), st.st_uid, st.st_gid)
        want = (oct(sb.st_mode), sb.st_uid, sb.st_gid)
        if got != want:
            c.fail("attr", f"{d}/{p}: (mode, uid, gid) {got} through the mount, the backing has {want}")
    rc = as_user_read(f"{m}/f")
    if rc != 0:
        c.fail(ename(rc) if rc < 127 else "child", f"{d}/f: now owned by {UID}: uid {UID} read gave "
               f"{ename(rc) if rc < 127 else 'an exception'}, expected success")


def case_hard_link(c, d):
    """A hard link made in the backing (nlink 2 through the mount) and the original unlinked:
    the link reads, nlink 1, the same st_ino as the backing, the original gone."""
    env = c.env
    s, m = env.s(d), env.m(d)
    os.mkdir(s)
    data = pattern(f"{d}/orig", 12345)
    put(f"{s}/orig", data)
    c.expect_bytes(f"{m}/orig", data)
    c.evict()
    os.link(f"{s}/orig", f"{s}/link")
    time.sleep(SETTLE)
    for p in ("orig", "link"):
        st = c.stat_of(f"{m}/{p}")
        if st and st.st_nlink != 2:
            c.fail("nlink", f"{d}/{p}: st_nlink {st.st_nlink} after the link, expected 2")
    c.evict()
    os.unlink(f"{s}/orig")
    time.sleep(SETTLE)
    c.expect_bytes(f"{m}/link", data, "the link after the original was unlinked")
    c.expect_gone(f"{m}/orig")
    st, sb = c.stat_of(f"{m}/link"), os.stat(f"{s}/link")
    if st and (st.st_nlink, st.st_ino) != (sb.st_nlink, sb.st_ino):
        c.fail("nlink", f"{d}/link: (st_nlink, st_ino) {(st.st_nlink, st.st_ino)} through the mount, "
               f"{(sb.st_nlink, sb.st_ino)} in the backing")


# churn: each version of a file is a header naming its round and a digest of the rest
HDR = re.compile(rb"round=(\d+) file=(\d+) size=(\d+) sha=([0-9a-f]{16})\n")


def churn_content(r, i):
    size = 4096 if i % 2 == 0 else 200 + (r * 131 + i * 17) % 6000
    hdr_len = len(f"round={r:06d} file={i:03d} size={size:06d} sha={'0' * 16}\n")
    body = random.Random(r * 1000 + i).randbytes(size - hdr_len)
    sha = hashlib.sha256(body).hexdigest()[:16]
    return f"round={r:06d} file={i:03d} size={size:06d} sha={sha}\n".encode() + body


def churn_check(data, i):
    """The round of a complete version of file i, or a string saying what is wrong with it."""
    h = HDR.match(data)
    if not h:
        return f"no header: {show(data)}"
    r, fi, size, sha = int(h[1]), int(h[2]), int(h[3]), h[4].decode()
    if fi != i:
        return f"holds file {fi}'s content (round {r})"
    if len(data) != size:
        return f"round {r}: {len(data)} bytes, the version has {size}"
    if hashlib.sha256(data[h.end():]).hexdigest()[:16] != sha:
        return f"round {r}: digest mismatch (torn or mixed content)"
    return r


def churn_reader(M, d, pub, done, out_fd):
    """Read every file of the churn directory through the mount until done[0] is set. Reports
    on out_fd a line of counts, then per kind of problem its count and up to 3 examples."""
    n_opens = n_reads = n_stats = 0
    seen = set()
    problems = {}

    def bad(kind, msg):
        problems.setdefault(kind, []).append(msg)

    while not done[0]:
        for i in range(CHURN_FILES):
            path = f"{M}/{d}/f{i}"
            t0 = time.monotonic()
            step = "open"
            n_opens += 1
            try:
                with open(path, "rb") as f:
                    step = "read"
                    data = f.read()
            except OSError as x:
                bad(ename(x.errno), f"{d}/f{i}: {step}: {ename(x.errno)} ({x.strerror}); the name "
                    "always exists (replaced by rename)")
                continue
            n_reads += 1
            r = churn_check(data, i)
            if isinstance(r, str):
                bad("content", f"{d}/f{i}: {r}")
                continue
            seen.add(r)
            # the newest round published STALE_MARGIN before this open began
            for r2 in range(CHURN_ROUNDS - 1, r, -1):
                t = struct.unpack_from("d", pub, 8 * (r2 * CHURN_FILES + i))[0]
                if t and t < t0 - STALE_MARGIN:
                    bad("stale", f"{d}/f{i}: read round {r}, round {r2} was published "
                        f"{t0 - t:.2f} s before the open")
                    break
            if i % 4 == 0:
                n_stats += 1
                try:
                    os.stat(path)
                except OSError as x:
                    bad(ename(x.errno), f"{d}/f{i}: stat: {ename(x.errno)} ({x.strerror}); the name "
                        "always exists (replaced by rename)")
    os.write(out_fd, f"opens {n_opens} reads {n_reads} stats {n_stats} rounds {len(seen)}\n".encode())
    for kind, msgs in problems.items():
        os.write(out_fd, f"{kind} {len(msgs)}\n".encode())
        for msg in msgs[:3]:
            os.write(out_fd, f"  {msg}\n".encode())


def case_churn(c, d):
    """CHURN_FILES files replaced by rename-over in the backing (new content each round) for
    CHURN_ROUNDS rounds while a reader process reads them through the mount. A name always
    exists, so every error is a bug; every read must be a complete version, and not one that
    was replaced more than STALE_MARGIN before the open began."""
    env = c.env
    s = env.s(d)
    os.mkdir(s)
    for i in range(CHURN_FILES):
        put(f"{s}/f{i}", churn_content(0, i))
    pub = mmap.mmap(-1, 8 * CHURN_ROUNDS * CHURN_FILES + 8)
    done = memoryview(pub)[-1:]
    r_fd, w_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 9
        try:
            os.close(r_fd)
            churn_reader(env.M, d, pub, done, w_fd)
            code = 0
        except BaseException as x:  # noqa: B902 - report anything and leave
            os.write(w_fd, f"reader died: {x!r}\n".encode())
        os._exit(code)
    os.close(w_fd)
    inos, reused = set(), 0
    try:
        for r in range(1, CHURN_ROUNDS):
            for i in range(CHURN_FILES):
                put(f"{s}/.f{i}.tmp", churn_content(r, i))
                os.rename(f"{s}/.f{i}.tmp", f"{s}/f{i}")
                struct.pack_into("d", pub, 8 * (r * CHURN_FILES + i), time.monotonic())
                ino = os.stat(f"{s}/f{i}").st_ino
                reused += ino in inos
                inos.add(ino)
            time.sleep(0.003)
    finally:
        done[0] = 1
    report = b""
    deadline = time.monotonic() + 60
    while True:
        wpid, status = os.waitpid(pid, os.WNOHANG)
        if wpid:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            c.fail("hang", f"{d}: the reader did not finish within 60 s of the last round")
            break
        time.sleep(0.05)
    report += read_to_eof(r_fd)
    done.release()
    pub.close()
    lines = report.decode(errors="replace").splitlines()
    if wpid and os.waitstatus_to_exitcode(status) != 0:
        c.fail("reader", f"{d}: reader exited {os.waitstatus_to_exitcode(status)}: {lines[-1:]}")
    head = lines[0].split() if lines and lines[0].startswith("opens ") else None
    if not head:
        c.fail("reader", f"{d}: no report from the reader: {lines[:3]}")
        return
    n_opens, n_reads, n_stats, n_rounds = (int(x) for x in head[1::2])
    kind = None
    for ln in lines[1:]:
        if ln.startswith("  "):
            c.fail(kind, ln.strip())
        else:
            kind, count = ln.split()
            c.fail(kind, f"{d}: {kind} {count} times in {n_opens} opens and {n_stats} stats; first ones:")
    if n_reads < CHURN_FILES or n_rounds < 2:
        c.fail("idle", f"{d}: the reader read {n_reads} times, {n_rounds} rounds: the race was not exercised")
    c.note(f"{CHURN_ROUNDS} rounds x {CHURN_FILES} files, {reused} inode numbers reused by ext4; reader: "
           f"{n_opens} opens, {n_reads} complete reads, {n_stats} stats, {n_rounds} distinct rounds seen")


CASES = [
    (1, "inode-number reuse, backing side (bug report)", case_reuse_backing),
    (2, "inode-number reuse, mount side: rmdir of a dir in use, 20 new files",
     attempts(reuse_mount_once, "files")),
    (3, "unlink and create under another name", attempts(unlink_create_once, "files")),
    (4, "delete and recreate under the same name", attempts(recreate_same_name_once, "files")),
    (5, "replace by rename while the old file is held open", attempts(replace_by_rename_once, "files")),
    (6, "truncate, append, same-size rewrite (fresh and open handles)", case_truncate_append),
    (7, "directory removed and recreated with other files", attempts(dir_recreate_once, "objects")),
    (8, "directory renamed in the backing", case_dir_rename),
    (9, "chmod and chown in the backing", case_chmod_chown),
    (10, "hard link made, original unlinked", case_hard_link),
    (11, "churn: rename-over rounds under a reader", case_churn),
]


def main():
    require_fuse()
    t_start = time.monotonic()
    top = tempfile.mkdtemp(prefix="zcfs-coherence.")
    os.chmod(top, 0o755)
    fs = subprocess.run(["stat", "-f", "-c", "%T", top], capture_output=True, text=True).stdout.strip()
    print(f"# backing filesystem of {top}: {fs}", flush=True)
    results, labels, counter = {}, [], [0]
    env = None
    try:
        for fd_cache in FD_CACHES:
            for mode in MODES:
                env = Env(ZCFS, top, mode, fd_cache)
                labels.append(env.label)
                for num, title, fn in CASES:
                    if not ONLY_CASES or num in ONLY_CASES:
                        run_case(env, num, title, fn, results, counter)
                end_of_mount(env, results, counter)
                env = None
    finally:
        os.chdir("/")
        if env is not None:
            env.detach()
        if not any(is_mounted(os.path.join(top, x, "mnt")) for x in os.listdir(top)):
            subprocess.call(["rm", "-rf", top])
    failed = sum(1 for v in results.values() if v)
    summary(CASES, results, labels)
    print(f"{counter[0] - failed} passed, {failed} failed in {time.monotonic() - t_start:.0f} s", flush=True)
    sys.exit(1 if failed else 0)


main()
