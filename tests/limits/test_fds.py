#!/usr/bin/env python3
"""Descriptors under pressure, on one root daemon with RLIMIT_NOFILE 20,000 (the daemon raises its
soft limit to the hard one):
1. After a stat of 14,000 files (which fills the idle O_PATH cache), one process opens all
   14,000 through the mount and holds them: every open succeeds, as on ext4 directly.
2. The same in mode=direct, where each handle wants a second (O_DIRECT) descriptor: every open
   succeeds; handles without room fall back to buffered, counted in zcfs_fallbacks_total and shown
   in user.zcfs.effective, and return to direct once descriptors are free again.
3. Fairness: alice holds as many files open as she can and gets EMFILE at her share; meanwhile
   bob opens and lists, and root opens and drives the control plane; the refusals are counted.
   Root (the mounting user) has no share, only the reserve kept for lookups and the control
   plane: when root holds everything else, bob still lists directories and the ctl file answers.
Usage: test_fds.py ZCFS"""
import errno, os, resource, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "pylib"))
from zcfstest import Mount, assert_clean_log, done, ok, prom, require_fuse, run_as, temp_tree  # noqa: E402

ZCFS = os.path.realpath(sys.argv[1])
ALICE, BOB = 54321, 54322
NFILES = 14000


def open_all(paths, flags=os.O_RDONLY):
    """Open paths until one fails; returns (descriptors, errno of the failure or 0)."""
    fds = []
    for p in paths:
        try:
            fds.append(os.open(p, flags))
        except OSError as e:
            return fds, e.errno
    return fds, 0


def close_all(fds):
    for fd in fds:
        os.close(fd)


def as_user(uid, fn):
    """fn() as uid (its own group, no others): 0 when it returned, else non-zero."""
    r = run_as(uid, uid, [], fn)
    if r[0] != "ok":
        print(f"  as {uid}: {r}", flush=True)
    return 0 if r[0] == "ok" else 1


def main():
    require_fuse()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    assert hard >= NFILES + 1000, f"RLIMIT_NOFILE hard limit {hard} too low for this test"
    top, S, M = temp_tree("zcfs-fds.")
    os.mkdir(os.path.join(S, "many"))
    names = [f"f{i:05d}" for i in range(NFILES)]
    for d in ("many",):
        for nm in names:
            with open(os.path.join(S, d, nm), "wb") as f:
                f.write(nm.encode())
    os.makedirs(os.path.join(S, "users"))
    os.chmod(os.path.join(S, "users"), 0o755)
    for nm in names:
        open(os.path.join(S, "users", nm), "w").close()
    log = os.path.join(top, "log")
    mnt = Mount(ZCFS, S, M, ["allow_other", "default_permissions"], log)
    try:
        cfg = dict(l.split("=", 1) for l in open(os.path.join(M, ".zcfs", "config")).read().splitlines()
                   if "=" in l and not l.startswith("#"))
        limit, reserve = int(cfg["fd_limit"]), int(cfg["fd_reserve"])
        share = int(cfg["max_open_per_uid"])
        ok(f"daemon budget: limit {limit}, reserve {reserve}, per-user share {share}")

        # 1. buffered: 14,000 opens after 14,000 stats
        paths = [os.path.join(M, "many", nm) for nm in names]
        for p in paths:
            os.stat(p)
        cached = prom(M, "zcfs_cached_fds")
        fds, err = open_all(paths)
        held = len(fds)
        assert os.read(fds[-1], 16) == names[held - 1].encode() if fds else True
        close_all(fds)
        assert err == 0 and held == NFILES, f"buffered: {held} of {NFILES} opened, then {errno.errorcode.get(err)}"
        ok(f"buffered: {NFILES} files opened and held after a stat of all (idle cache held {cached:.0f})")

        # 2. direct: each handle wants two descriptors; 14,000 x 2 do not fit in 20,000
        os.setxattr(os.path.join(M, "many"), "user.zcfs.mode", b"direct")
        fb0 = prom(M, "zcfs_fallbacks_total", 'from="direct",to="buffered"')
        fds, err = open_all(paths)
        held = len(fds)
        try:
            assert err == 0 and held == NFILES, f"direct: {held} of {NFILES} opened, then {errno.errorcode.get(err)}"
            fb = prom(M, "zcfs_fallbacks_total", 'from="direct",to="buffered"') - fb0
            assert fb > 0, "no fallback counted though the descriptors cannot suffice"
            last = paths[-1]
            eff = os.getxattr(last, "user.zcfs.effective").decode()
            assert "mode=direct" in eff and "fallback=buffered(EMFILE) handles=1" in eff, eff
            assert os.read(fds[-1], 16) == names[-1].encode()
            # free descriptors, then the fallen-back handle returns to direct on a later read
            close_all(fds[: NFILES // 2])
            fds = fds[NFILES // 2:]
            d0 = prom(M, "zcfs_reads_total", 'mode="direct"')
            for _ in range(30):
                time.sleep(0.15)
                os.pread(fds[-1], 16, 0)
                posix_fadv_dontneed(fds[-1])
                if "fallback" not in os.getxattr(last, "user.zcfs.effective").decode():
                    break
            eff2 = os.getxattr(last, "user.zcfs.effective").decode()
            assert "fallback" not in eff2, f"still in fallback after descriptors were freed: {eff2}"
            os.pread(fds[-1], 16, 0)
            assert prom(M, "zcfs_reads_total", 'mode="direct"') > d0, "no direct read after recovery"
        finally:
            close_all(fds)
        ok(f"direct: {NFILES} opened; {fb:.0f} handles fell back (counted, shown as '{eff[eff.index('fallback'):]}'), and went back to direct once half were closed")
        os.removexattr(os.path.join(M, "many"), "user.zcfs.mode")

        # 3. fairness between users
        r0 = prom(M, "zcfs_fd_refusals_total", 'reason="uid"')
        rfd, wfd = os.pipe()
        upaths = [os.path.join(M, "users", nm) for nm in names]
        pid = os.fork()
        if pid == 0:  # alice: grab everything, report, hold until told
            os.close(rfd)
            os.setgroups([])
            os.setgid(ALICE)
            os.setuid(ALICE)
            fds, err = open_all(upaths)
            os.write(wfd, f"{len(fds)} {err}\n".encode())
            time.sleep(30)
            os._exit(0)
        os.close(wfd)
        got = os.read(rfd, 100).decode().split()
        alice_held, alice_err = int(got[0]), int(got[1])
        try:
            assert alice_err == errno.EMFILE, f"alice: stopped with {errno.errorcode.get(alice_err)} after {alice_held}"
            assert alice_held == share, f"alice held {alice_held}, her share is {share}"

            def bob():
                fds, err = open_all(upaths[:500])
                close_all(fds)
                assert err == 0, f"bob: {errno.errorcode.get(err)} after {len(fds)}"
                assert len(os.listdir(os.path.join(M, "users"))) == NFILES
            assert as_user(BOB, bob) == 0, "bob lost service while alice held her share"
            fds, err = open_all(paths[:5000])
            close_all(fds)
            assert err == 0, f"root: {errno.errorcode.get(err)} after {len(fds)}"
            refused = prom(M, "zcfs_fd_refusals_total", 'reason="uid"') - r0
            assert refused >= 1, "alice's refusal not counted"
            assert mnt.ctl("residency many/" + names[0]).startswith("ok"), "ctl"
        finally:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        ok(f"alice got EMFILE after her share of {alice_held}; bob opened 500 and listed {NFILES}; root opened 5,000 and used ctl; refusals counted")

        # root has no share: it gets everything but the reserve, and the reserve keeps the
        # mount usable for listings and the control plane
        fds, err = open_all(paths + upaths)
        try:
            assert err == errno.ENFILE, f"root: {errno.errorcode.get(err)} after {len(fds)}"
            assert len(fds) >= limit - reserve - 64, f"root held only {len(fds)} of {limit - reserve}"

            def bob_lists():
                assert len(os.listdir(os.path.join(M, "users"))) == NFILES
                os.stat(os.path.join(M, "many", names[7]))
            assert as_user(BOB, bob_lists) == 0, "listing failed while root held the budget"
            assert "zcfs_reads_total" in open(os.path.join(M, ".zcfs", "stats")).read()
            assert mnt.ctl("residency many/" + names[3]).startswith("ok"), "ctl failed while root held the budget"
        finally:
            close_all(fds)
        ok(f"root held {len(fds)} files (limit {limit} - reserve {reserve}); listings, stats and ctl still answered")
        for line in open(os.path.join(M, ".zcfs", "stats")):
            if line.startswith(("zcfs_fd_refusals_total", "zcfs_fd_pressure", "zcfs_handle_fds")):
                print("  " + line.strip())
    finally:
        mnt.close()
        assert_clean_log(log)
        shutil.rmtree(top)
    done()


def posix_fadv_dontneed(fd):
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


main()
