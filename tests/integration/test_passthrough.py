#!/usr/bin/env python3
"""mode=passthrough: the open reply carries a backing file id and the kernel reads and writes the
backing file itself. Checks, on a daemon built with passthrough (libfuse >= 3.18):
- content through reads, writes, a shared mapping and an O_DIRECT open, with no read reaching the
  daemon, its CPU flat while 256 MiB are read, and the mount's page cache empty afterwards;
- the kernel's one-io-mode-per-inode rule: an open in another mode while a passthrough open exists
  is served in passthrough; a passthrough open while another mode's open exists is served by
  splice, counted, and shown in user.zcfs.effective (never EIO); once all are closed, the next
  open is passthrough again; a file whose mode changes while open keeps each handle's mode;
- the fallbacks: -o writeback (the kernel refuses both), and a daemon without CAP_SYS_ADMIN
  (EPERM, one warning line), each counted and visible in user.zcfs.effective.
On a daemon built without passthrough (libfuse 3.14) it checks the ENOSYS fallback instead.
Usage: test_passthrough.py ZCFS ZCFSCTL"""
import json, mmap, os, shutil, subprocess, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "pylib"))
from zcfstest import Mount, assert_clean_log, done, ok, prom, require_fuse, temp_tree  # noqa: E402

ZCFS = os.path.realpath(sys.argv[1])
ZCFSCTL = os.path.realpath(sys.argv[2])


def eff(path):
    return os.getxattr(path, "user.zcfs.effective").decode()


def cpu(mnt):
    return prom(mnt, "zcfs_cpu_seconds_total", 'mode="user"') + prom(mnt, "zcfs_cpu_seconds_total", 'mode="system"')


def main():
    require_fuse()
    built = "passthrough" in subprocess.run([ZCFS, "--version"], capture_output=True, text=True).stdout
    top, S, M = temp_tree("zcfs-pt.")
    log = os.path.join(top, "log")
    m = lambda *p: os.path.join(M, *p)
    s = lambda *p: os.path.join(S, *p)
    data = os.urandom(1 << 20)
    with open(s("f"), "wb") as f:
        f.write(data)
    try:
        if not built:
            mnt = Mount(ZCFS, S, M, ["mode=passthrough"], log)
            try:
                assert open(m("f"), "rb").read() == data
                assert prom(M, "zcfs_fallbacks_total", 'from="passthrough",to="splice"') >= 1
                e = eff(m("f"))
                assert e.startswith("mode=passthrough ") and "fallback=splice(ENOSYS) handles=0" not in e, e
                assert prom(M, "zcfs_reads_total", 'mode="splice"') > 0
            finally:
                mnt.close()
            ok("built without passthrough: mode=passthrough is served by splice, counted (ENOSYS)")
            done()
            return

        big = s("big")
        with open(big, "wb") as f:
            for _ in range(256):
                f.write(os.urandom(1 << 20))
        mnt = Mount(ZCFS, S, M, ["mode=passthrough", "allow_other", "default_permissions"], log)
        try:
            # 1. reads that never reach the daemon
            open(big, "rb").read()  # the backing cache warm, so the read below measures the path
            r0, c0, o0 = prom(M, "zcfs_reads_total", 'mode="passthrough"'), cpu(M), prom(M, "zcfs_opens_total", 'mode="passthrough"')
            with open(m("big"), "rb") as f:
                assert "mode=passthrough source=default" in eff(m("big"))
                assert prom(M, "zcfs_passthrough_handles") == 1
                t0 = time.monotonic()
                got = 0
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        break
                    got += len(b)
                dt = time.monotonic() - t0
            assert got == 256 << 20
            reads, used = prom(M, "zcfs_reads_total", 'mode="passthrough"') - r0, cpu(M) - c0
            assert reads == 0, f"{reads} reads reached the daemon"
            assert prom(M, "zcfs_opens_total", 'mode="passthrough"') == o0 + 1
            assert used < 0.05, f"daemon used {used:.3f} s CPU for a passthrough read"
            assert prom(M, "zcfs_passthrough_handles") == 0
            ok(f"256 MiB read in {dt:.2f} s: 0 reads reached the daemon, daemon CPU {used * 1000:.1f} ms, opens counted")

            # 2. writes, a shared mapping, O_DIRECT
            with open(m("f"), "r+b") as f:
                f.seek(4096)
                f.write(b"W" * 100)
                f.flush()
                mm = mmap.mmap(f.fileno(), 0)
                assert mm[4096:4196] == b"W" * 100
                mm[0:5] = b"hello"
                mm.flush()
                mm.close()
            back = open(s("f"), "rb").read()
            assert back[:5] == b"hello" and back[4096:4196] == b"W" * 100 and back[8192:] == data[8192:]
            fd = os.open(m("f"), os.O_RDONLY | os.O_DIRECT)
            try:
                buf = mmap.mmap(-1, 8192)
                assert os.readv(fd, [buf]) == 8192 and buf[:5] == b"hello"
            finally:
                os.close(fd)
            ok("writes, MAP_SHARED reads and writes, and an O_DIRECT open go to the backing file")

            # 3. the one-io-mode rule, both ways
            os.setxattr(m("f"), "user.zcfs.mode", b"buffered")
            fb0 = prom(M, "zcfs_fallbacks_total", 'from="passthrough",to="splice"')
            with open(m("f"), "rb") as cached:  # a buffered (cached) open holds the inode
                cached.read(10)
                os.setxattr(m("f"), "user.zcfs.mode", b"passthrough")
                with open(m("f"), "rb") as second:  # asks for passthrough: served by splice
                    assert second.read() == open(s("f"), "rb").read()
                    e = eff(m("f"))
                    assert "fallback=splice(ETXTBSY) handles=1" in e, e
                assert prom(M, "zcfs_fallbacks_total", 'from="passthrough",to="splice"') == fb0 + 1
            with open(m("f"), "rb") as third:  # nothing else open: passthrough again
                assert prom(M, "zcfs_passthrough_handles") == 1
                os.setxattr(m("f"), "user.zcfs.mode", b"mmap")  # mode changed while open
                b0 = prom(M, "zcfs_fallbacks_total", 'from="mmap",to="passthrough"')
                with open(m("f"), "rb") as fourth:  # asks for mmap, the inode is in passthrough
                    assert fourth.read() == third.read()
                    assert prom(M, "zcfs_passthrough_handles") == 2
                assert prom(M, "zcfs_fallbacks_total", 'from="mmap",to="passthrough"') == b0 + 1
            os.removexattr(m("f"), "user.zcfs.mode")
            ok("cached open then passthrough: served by splice (ETXTBSY, counted, in effective); passthrough "
               "open then another mode: served in passthrough; no EIO; mode changes keep each handle's mode")

            # 4. one page cache: the backing file's (the mount keeps none of a passthrough file)
            with open(m("big"), "rb") as f:
                f.read()
            r = subprocess.run([ZCFSCTL, "--json", "residency", m("big")], capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            fig = json.loads(r.stdout)["files"][0]
            assert fig["passthrough"] is True and fig["mount_cacheable"] is False, fig
            assert fig["mount_resident_pages"] == 0 and fig["backing_resident_pages"] >= 3 * fig["pages"] // 4, fig
        finally:
            mnt.close()
        ok("residency of a passthrough file: one cache, the backing file's, full after a read")

        # 4b. setuid/setgid after another user's chmod: user A opens B's file for writing
        # (nothing to clear then), B makes it 6777, A writes through the open descriptor. The
        # kernel writes the backing file with the registering thread's credentials, a root
        # daemon's kept CAP_FSETID and so the bits (issue 19); a write by A on the backing
        # filesystem clears them.
        A, B = 54321, 54322
        os.mkdir(s("shared"))
        os.chmod(s("shared"), 0o777)
        with open(s("shared", "tool"), "wb") as f:
            f.write(b"#!/bin/sh\n")
        os.chown(s("shared", "tool"), B, B)
        os.chmod(s("shared", "tool"), 0o666)
        mnt = Mount(ZCFS, S, M, ["mode=passthrough", "allow_other", "default_permissions"], log)
        try:
            opened_r, opened_w = os.pipe()
            go_r, go_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    os.setgroups([])
                    os.setgid(A)
                    os.setuid(A)
                    fd = os.open(m("shared", "tool"), os.O_WRONLY | os.O_APPEND)
                    os.write(opened_w, b"1")
                    os.read(go_r, 1)
                    os.write(fd, b"echo hi\n")
                    os.close(fd)
                    code = 0
                finally:
                    os._exit(code)
            assert os.read(opened_r, 1) == b"1", "user A could not open the file"
            assert "mode=passthrough" in eff(m("shared", "tool")) and "fallback" not in eff(m("shared", "tool"))
            pid_b = os.fork()
            if pid_b == 0:
                code = 1
                try:
                    os.setgroups([])
                    os.setgid(B)
                    os.setuid(B)
                    os.chmod(m("shared", "tool"), 0o6777)
                    code = 0
                finally:
                    os._exit(code)
            assert os.waitstatus_to_exitcode(os.waitpid(pid_b, 0)[1]) == 0, "user B's chmod"
            assert os.stat(s("shared", "tool")).st_mode & 0o7777 == 0o6777
            os.write(go_w, b"1")
            assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0, "user A's write"
            mode = os.stat(s("shared", "tool")).st_mode & 0o7777
            assert open(s("shared", "tool"), "rb").read().endswith(b"echo hi\n")
            assert mode == 0o777, f"after user A's write through passthrough: {oct(mode)}, expected 0o777"
            for fd in (opened_r, opened_w, go_r, go_w):
                os.close(fd)
        finally:
            mnt.close()
        ok("passthrough: a write through a descriptor opened before another user's chmod 6777 "
           "clears setuid and setgid (-rwxrwxrwx), as on the backing filesystem")

        # 5. fallbacks: writeback, and a daemon without CAP_SYS_ADMIN. As the mount's default
        # the pair is refused (every open would be served by splice, silently); a file routed
        # to passthrough on a writeback mount falls back, counted and shown.
        r = subprocess.run([ZCFS, "-f", "-o", "mode=passthrough,writeback", S, M], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 2 and "-o mode=passthrough and -o writeback exclude each other" in r.stderr, r
        os.setxattr(s("f"), "user.zcfs.mode", b"passthrough")
        mnt = Mount(ZCFS, S, M, ["writeback"], log)
        try:
            assert open(m("f"), "rb").read()[:5] == b"hello"
            assert "fallback=splice(EINVAL) handles=0" not in eff(m("f"))
            assert prom(M, "zcfs_fallbacks_total", 'from="passthrough",to="splice"') >= 1
            assert prom(M, "zcfs_opens_total", 'mode="passthrough"') == 0
        finally:
            mnt.close()
            os.removexattr(s("f"), "user.zcfs.mode")
        ok("-o mode=passthrough,writeback refused; a file routed to passthrough on a writeback "
           "mount falls back to splice (the kernel allows only one of them)")
        assert_clean_log(log)

        # A daemon without CAP_SYS_ADMIN in the initial user namespace (root of a user namespace
        # of its own, as an unprivileged user's daemon is): the kernel refuses backing files.
        ulog = os.path.join(top, "ulog")
        script = f"""
{ZCFS!r} -f -o mode=passthrough {S!r} {M!r} 2>{ulog!r} & pid=$!
for i in $(seq 100); do mountpoint -q {M!r} && break; sleep 0.1; done
for i in 1 2 3; do cat {m("f")!r} > /dev/null || exit 3; done
exec 3<{m("f")!r}
getfattr -n user.zcfs.effective --only-values {m("f")!r} > {top!r}/eff
exec 3<&-
grep '^zcfs_opens_total{{mode="splice",' {M!r}/.zcfs/stats > {top!r}/opens
fusermount3 -u {M!r} || umount {M!r}
wait $pid
"""
        r = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private",
                            "bash", "-c", script], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"user-namespace run: {r.returncode} {r.stderr} {open(ulog).read()}"
        e = open(os.path.join(top, "eff")).read()
        assert "fallback=splice(EPERM) handles=1" in e, e
        assert float(open(os.path.join(top, "opens")).read().split()[-1]) >= 4
        warns = [l for l in open(ulog).read().splitlines() if "passthrough unavailable" in l]
        assert len(warns) == 1, f"expected one warning line, got {warns}"
        ok("daemon without CAP_SYS_ADMIN: splice, EPERM in user.zcfs.effective, one warning line")
    finally:
        shutil.rmtree(top)
    done()


main()
