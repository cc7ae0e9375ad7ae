#!/usr/bin/env python3
"""The watch of the backing directory (fs/watch.c): which one each mount gets and says it has
(config, gauge), and what happens when notifications are lost. A daemon stopped (SIGSTOP) while
the backing changes more than its inotify queue holds (fs.inotify.max_queued_events lowered for
the mount, restored after) overflows the queue; once it runs again, everything the kernel cached
must be dropped: a file rewritten, one created and one removed meanwhile all show through the
mount at once, with one-hour timeouts. Also: a network-like backing (a zcfs mount over a zcfs
mount: FUSE) is not watched and keeps the short timeouts.

usage: test_watch.py ZCFS"""
import os, signal, sys, time

HERE = os.path.dirname(os.path.realpath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))
from zcfstest import Mount, done, ok, prom, require_fuse, temp_tree  # noqa: E402

ZCFS = os.path.realpath(sys.argv[1])
QUEUED = "/proc/sys/fs/inotify/max_queued_events"


def config(mnt):
    return open(os.path.join(mnt, ".zcfs", "config")).read()


def watched(mnt):
    """How many directories the inotify watch covers (from .zcfs/config)."""
    line = [l for l in config(mnt).splitlines() if l.startswith("watching=inotify")][0]
    return int(line.split("(", 1)[1].split()[0])


def main():
    require_fuse()
    top, S, M = temp_tree("zcfs-watch.")
    for name in ("a", "gone"):
        with open(f"{S}/{name}", "w") as f:
            f.write("old\n")
    saved = open(QUEUED).read()
    try:
        # fanotify as root
        mnt = Mount(ZCFS, S, M, [], os.path.join(top, "log"))
        try:
            assert "\nwatching=fanotify" in config(M), config(M)
            assert prom(M, "zcfs_watch") == 2
        finally:
            mnt.close()
        ok("root on ext4: the fanotify watch (watching=fanotify, zcfs_watch 2)")

        # inotify with a tiny queue, and a daemon that cannot read it for a while
        with open(QUEUED, "w") as f:
            f.write("16\n")
        mnt = Mount(ZCFS, S, M, ["watch=inotify"], os.path.join(top, "log"))
        with open(QUEUED, "w") as f:
            f.write(saved)  # the queue's size was taken when the watch was made
        try:
            assert "\nwatching=inotify" in config(M), config(M)
            assert prom(M, "zcfs_watch") == 1
            assert open(f"{M}/a").read() == "old\n" and os.path.exists(f"{M}/gone")
            assert not os.path.exists(f"{M}/new")  # a negative entry, cached for an hour
            lost0 = prom(M, "zcfs_watch_overflows_total")
            os.kill(mnt.pid, signal.SIGSTOP)
            try:
                for i in range(100):  # far more events than the queue holds
                    open(f"{S}/noise{i}", "w").close()
                with open(f"{S}/a", "w") as f:
                    f.write("rewritten\n")
                open(f"{S}/new", "w").close()
                os.unlink(f"{S}/gone")
            finally:
                os.kill(mnt.pid, signal.SIGCONT)
            time.sleep(0.3)
            assert open(f"{M}/a").read() == "rewritten\n", "a file rewritten while events were lost"
            assert os.path.exists(f"{M}/new"), "a file created while events were lost"
            assert not os.path.exists(f"{M}/gone"), "a file removed while events were lost"
            assert prom(M, "zcfs_watch_overflows_total") > lost0, "no overflow counted"
        finally:
            mnt.close()
        ok("inotify queue overflowed while the daemon was stopped: every cached name and attribute dropped, changes seen")

        # inotify with a small descriptor cache: directories removed on the backing while the
        # kernel still holds them (a process inside each) lose their watch at once (IN_IGNORED);
        # the index must let go of them then, not when the kernel forgets them later
        for i in range(60):
            os.makedirs(f"{S}/dirs/d{i}/sub")
        mnt = Mount(ZCFS, S, M, ["watch=inotify", "fd_cache=16"], os.path.join(top, "log"))
        try:
            base = watched(M)
            r, w = os.pipe()
            holders = []
            for i in range(60):
                pid = os.fork()
                if pid == 0:
                    os.chdir(f"{M}/dirs/d{i}/sub")
                    os.close(w)
                    os.read(r, 1)
                    os._exit(0)
                holders.append(pid)
            os.close(r)
            deadline = time.time() + 10
            while watched(M) < base + 121 and time.time() < deadline:
                time.sleep(0.05)
            assert watched(M) >= base + 121, config(M)
            os.system(f"rm -rf {S}/dirs")
            time.sleep(0.3)
            os.close(w)
            for pid in holders:
                os.waitpid(pid, 0)
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("2\n")
            deadline = time.time() + 10
            while watched(M) > base and time.time() < deadline:
                time.sleep(0.05)
            assert watched(M) == base, config(M)
        finally:
            mnt.close()  # the daemon walks what is left of the index: ASan sees any stale node
        ok("inotify, fd_cache=16: 120 directories removed under processes inside them let go of their watches")

        # a FUSE backing (zcfs over zcfs): not watched, the short timeouts
        M2 = os.path.join(top, "mnt2")
        os.mkdir(M2)
        outer = Mount(ZCFS, S, M, [], os.path.join(top, "log"))
        try:
            inner = Mount(ZCFS, M, M2, [], os.path.join(top, "log2"))
            try:
                cfg = config(M2)
                assert "\nwatching=none" in cfg and "entry_timeout=1" in cfg, cfg
                assert prom(M2, "zcfs_watch") == 0
            finally:
                inner.close()
        finally:
            outer.close()
        ok("a FUSE backing is not watched (watching=none, the 1 s timeouts)")
    finally:
        with open(QUEUED, "w") as f:
            f.write(saved)
        os.system(f"rm -rf {top}")
    done()


main()
