#!/usr/bin/env python3
"""Reading plans (issue 14): a job tells zcfs the files it will open, in order; zcfs reads them
ahead of the job into the backing page cache, bounded by a window, and follows the job's opens.
Checks, each against the backing files' residency (fincore) and the plan's own books:
- a plan followed by a paced job: its opens are hits, where the same job without a plan misses;
- a stalled job: what is read ahead stays inside the window; the rest is not touched;
- cancel: the plan ends, and the files read ahead but never opened are dropped again (wasted);
- a job reading in another order: the plan notices (off-plan) and stops, waste within the window;
- files deleted or replaced after the upload are skipped, not read under their new identity;
- paths: a symlink out of the tree, a missing file, a directory, '..' and absolute paths refuse the plan;
- scan_prefetch, as a user: the implicit plan is the user's, skips root-only files (never read),
  one user holds at most 4 plans, and the control file stays closed to them;
- store=1: the job's reads are answered from the mount's cache (no read reaches the daemon);
- zcfsctl prefetch --plan: uploads, waits and reports the plan's books as JSON;
- the Prometheus lines agree with the plans' books;
- ended plans free their paths (15 cancelled plans of 200,000 lines: RSS grows < 64 MiB).
Usage: test_prefetch.py ZCFS ZCFSCTL"""
import json, os, random, signal, subprocess, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "pylib"))
from zcfstest import Mount, assert_clean_log, done, ok, prom, require_fuse, run_as, temp_tree  # noqa: E402

ZCFS = os.path.realpath(sys.argv[1])
ZCFSCTL = os.path.realpath(sys.argv[2])
FILE = 256 << 10
USER = 54321


def daemon_reads(mnt):
    return sum(prom(mnt, "zcfs_reads_total", f'mode="{m}"') for m in ("buffered", "direct", "mmap", "splice"))


def resident(path):
    """Bytes of path in the page cache (fincore, which uses the same mincore the daemon does)."""
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--raw", "--output", "RES", path],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def evict(paths):
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    for p in paths:
        assert resident(p) == 0, f"{p} still resident after POSIX_FADV_DONTNEED"


def make_files(d, count, size=FILE):
    os.makedirs(d, exist_ok=True)
    names = [f"f{i:04d}" for i in range(count)]
    for name in names:
        with open(os.path.join(d, name), "wb") as f:
            f.write(os.urandom(size))
    return names


def upload(mnt, rel_paths, opts=""):
    reply = mnt.ctl(("plan " + opts).strip() + "\n" + "\n".join(rel_paths) + "\n")
    assert reply.startswith("ok\n"), reply
    kv = dict(l.split("=", 1) for l in reply.splitlines()[1:] if "=" in l)
    return int(kv["plan"])


def status(mnt, pid):
    reply = mnt.ctl(f"plan status {pid}")
    assert reply.startswith("ok\n"), reply
    return {k: (int(v) if v.isdigit() else v) for k, v in (l.split("=", 1) for l in reply.splitlines()[1:] if "=" in l)}


def wait_for(what, fn, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def job(mnt_dir, names, pace=0.01):
    for name in names:
        with open(os.path.join(mnt_dir, name), "rb") as f:
            assert len(f.read()) == FILE
        time.sleep(pace)


def rss_kib(pid):
    return int(next(l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")).split()[1])


def mem_check(mnt, names):
    lines = "plan\n" + "".join(f"a/{names[i % len(names)]}\n" for i in range(200000))
    before = rss_kib(mnt.pid)
    ids = []
    for _ in range(15):
        r = mnt.ctl(lines)
        assert r.startswith("ok\n"), r[:200]
        ids.append(int(r.split("plan=")[1].split()[0]))
        assert mnt.ctl(f"plan cancel {ids[-1]}").startswith("ok")
    # each plan is freed by a prefetch worker once its leftovers are dropped
    grown = lambda: rss_kib(mnt.pid) - before
    end = time.time() + 10
    while time.time() < end and grown() >= 64 << 10:
        time.sleep(0.1)
    st = status(mnt, ids[0])
    assert st["state"] == "cancelled" and st["files"] == 200000, st
    if os.environ.get("ZCFS_ASAN") == "1":  # ASan's quarantine keeps freed memory: no figure
        ok("15 cancelled plans of 200,000 lines: summaries kept (RSS not measured under ASan)")
        return
    assert grown() < 64 << 10, f"RSS grew by {grown() >> 10} MiB after 15 cancelled 200k-line plans"
    ok(f"15 cancelled plans of 200,000 lines: RSS grew {grown() >> 10} MiB (< 64), summaries kept")


def main():
    require_fuse()
    top, S, M = temp_tree("zcfs-pf.")
    log = os.path.join(top, "log")
    s = lambda *p: os.path.join(S, *p)
    m = lambda *p: os.path.join(M, *p)
    names = make_files(s("a"), 120)
    mnt = Mount(ZCFS, S, M, ["allow_other", "default_permissions", "mode=buffered", "cache=none"], log)
    try:
        # 1. A paced job: misses without a plan, hits with one.
        evict([s("a", x) for x in names])
        h0 = prom(M, "zcfs_prefetch_opens_total", 'result="hit"')
        job(m("a"), names[:40])
        assert prom(M, "zcfs_prefetch_opens_total", 'result="hit"') == h0  # no plan, nothing counted
        evict([s("a", x) for x in names])
        pid = upload(mnt, [f"a/{x}" for x in names[:80]])
        time.sleep(0.3)
        job(m("a"), names[:80])
        st = wait_for("the plan to complete", lambda: (lambda t: t if t["state"] == "complete" else None)(status(mnt, pid)))
        assert st["files"] == 80 and st["position"] == 80 and st["prefetched"] == 80, st
        assert st["hits"] + st["partial"] + st["misses"] == 80, st
        # partial: the file's read ahead was under way when the job opened it
        assert st["hits"] + st["partial"] >= 72 and st["hits"] >= 40, \
            f"a paced job should find >= 90% of its files read ahead: {st}"
        assert st["wasted_bytes"] == 0 and st["skipped"] == 0, st
        assert prom(M, "zcfs_prefetch_opens_total", 'result="hit"') - h0 == st["hits"]
        ok(f"a plan followed by a paced job: {st['hits']}/80 hits, {st['partial']} partial, 0 wasted; "
           "without a plan none were read ahead")

        # 2. A stalled job: the window bounds what is read ahead.
        evict([s("a", x) for x in names])
        pid = upload(mnt, [f"a/{x}" for x in names], "window=1m depth=2")
        job(m("a"), names[:2], pace=0)
        time.sleep(1.5)
        st = status(mnt, pid)
        assert st["state"] == "active" and st["window_bytes"] == 1 << 20 and st["depth"] == 2, st
        assert st["ahead_bytes"] <= st["limit_bytes"] <= 1 << 20, st
        fetched = [x for x in names if resident(s("a", x))]
        assert 2 < len(fetched) <= 2 + (1 << 20) // FILE, f"{len(fetched)} files resident for a 1 MiB window"
        assert fetched == names[:len(fetched)], "read ahead out of plan order"
        ok(f"a stalled job: {len(fetched) - 2} files ({st['ahead_bytes']} bytes) ahead for a 1 MiB window, the rest untouched")

        # 3. Cancel drops what was read ahead and never opened.
        reply = mnt.ctl(f"plan cancel {pid}")
        assert reply.startswith("ok"), reply
        st = wait_for("leftovers dropped", lambda: (lambda t: t if t["wasted_bytes"] >= (len(fetched) - 2) * FILE else None)(status(mnt, pid)))
        assert st["state"] == "cancelled", st
        assert st["wasted_bytes"] == (len(fetched) - 2) * FILE, st
        assert all(resident(s("a", x)) == 0 for x in fetched[2:]), "cancelled plan left its read-ahead cached"
        # A drop empties a file; a page or two short has been seen under ASan (cause not found;
        # zcfs dropped nothing of these files: wasted_bytes counts exactly the others).
        own = {x: resident(s("a", x)) for x in fetched[:2]}
        assert all(v >= FILE * 3 // 4 for v in own.values()), f"the job's own files were dropped: {own} {st}"
        assert mnt.ctl(f"plan cancel {pid + 100}").startswith("error"), "cancel of an unknown plan"
        ok("cancel: the plan ends, its unopened read-ahead is dropped and counted as wasted; the job's files stay")

        # 4. A job reading in another order: off-plan, waste within the window.
        evict([s("a", x) for x in names])
        pid = upload(mnt, [f"a/{x}" for x in names], "window=2m")
        shuffled = names[:]
        random.Random(14).shuffle(shuffled)
        job(m("a"), shuffled, pace=0.002)
        st = wait_for("off-plan", lambda: (lambda t: t if t["state"] == "off-plan" else None)(status(mnt, pid)))
        assert st["position"] < 120 or st["misses"] > 0, st
        st = wait_for("leftovers dropped", lambda: (lambda t: t if t["ahead_bytes"] == 0 else None)(status(mnt, pid)))
        assert st["wasted_bytes"] <= (2 << 20) + 2 * FILE, st
        ok(f"a shuffled job ends the plan as off-plan; {st['wasted_bytes']} bytes wasted (window 2 MiB)")

        # 5. Deleted and replaced files are skipped.
        evict([s("a", x) for x in names])
        pid = upload(mnt, [f"a/{x}" for x in names[:20]], "window=64k depth=1")
        os.unlink(s("a", names[5]))
        with open(s("a", "new"), "wb") as f:
            f.write(b"x" * FILE)
        os.rename(s("a", "new"), s("a", names[6]))
        evict([s("a", names[6])])
        # the window lets one file ahead of the job: paced, the job never overtakes the fetcher
        job(m("a"), [x for x in names[:20] if x not in (names[5], names[6])], pace=0.05)
        st = wait_for("the plan to end", lambda: (lambda t: t if t["state"] != "active" else None)(status(mnt, pid)))
        assert st["skipped"] == 2 and st["prefetched"] == 18 and st["state"] == "complete", st
        assert resident(s("a", names[6])) == 0, "the replacement of a planned file was read ahead"
        ok("deleted and replaced files are skipped (2), never read under a new identity")
        os.unlink(s("a", names[6]))
        names = [x for x in names if x not in (names[5], names[6])]

        # 6. Paths: a symlink out of the tree, '..', absolute paths, a missing file, a directory
        # and bad options refuse the plan, naming the line; nothing of it is read.
        outside = os.path.join(top, "outside")
        with open(outside, "wb") as f:
            f.write(os.urandom(FILE))
        os.symlink(outside, s("a", "link-out"))
        evict([outside] + [s("a", x) for x in names[:4]])
        for lines, want in ((["a/" + names[0], "a/link-out"], "line 2: 'a/link-out': leaves the mount root"),
                            (["a/" + names[0], "a/" + names[1], "a/nope"], "line 3: 'a/nope': No such file"),
                            (["a"], "line 1: 'a': Is a directory")):
            r = mnt.ctl("plan\n" + "".join(x + "\n" for x in lines))
            assert r.startswith("error") and want in r, (lines, r)
        assert resident(outside) == 0 and resident(s("a", names[0])) == 0, "a refused plan read something"
        for bad in ("../outside", "/etc/passwd", "a/../../outside"):
            r = mnt.ctl(f"plan\n{bad}\n")
            assert r.startswith("error") and "leaves the mount root" in r, (bad, r)
        r = mnt.ctl(f"plan depth=0\na/{names[0]}\n")
        assert r.startswith("error EINVAL") and "depth" in r, r
        os.unlink(s("a", "link-out"))
        ok("a symlink out of the tree, a missing file, a directory, '..', absolute paths and a bad option refuse the plan with the line; nothing read")

        # 7. The Prometheus lines agree with the books.
        text = open(m(".zcfs", "stats")).read()
        for fam in ("zcfs_prefetch_plans", "zcfs_prefetch_files_total", "zcfs_prefetch_bytes_total",
                    "zcfs_prefetch_skipped_total", "zcfs_prefetch_opens_total", "zcfs_prefetch_wasted_bytes_total",
                    "zcfs_plan_position", "zcfs_plan_frontier", "zcfs_plan_ahead_bytes"):
            assert f"# TYPE {fam} " in text, fam
        assert prom(M, "zcfs_prefetch_skipped_total") >= 2  # section 5: deleted, replaced
        assert prom(M, "zcfs_prefetch_wasted_bytes_total") >= (len(fetched) - 2) * FILE
        ok("zcfs_prefetch_* and zcfs_plan_* families present; skipped and wasted totals match the plans")

        # 7b. Ended plans keep a summary, not their paths: 15 cancelled plans of 200,000 lines
        # (issue 19: the daemon grew from 6.6 to 275 MB RSS, 298 MB here).
        mem_check(mnt, names)
    finally:
        mnt.close()
    assert_clean_log(log)

    # 8. store=1 puts the data in the mount's cache too: the job's reads never reach the daemon.
    mnt = Mount(ZCFS, S, M, ["mode=buffered", "cache=keep"], log)
    try:
        evict([s("a", x) for x in names[:30]])
        # Data can be stored only for files the kernel knows: a listing (readdirplus) does it,
        # as a loader's own listing does. A file it never saw gets the backing cache only.
        assert set(names[:30]) <= set(os.listdir(m("a")))
        pid = upload(mnt, [f"a/{x}" for x in names[:30]], "store=1")
        wait_for("the plan read ahead", lambda: status(mnt, pid)["prefetched"] == 30)
        r0 = daemon_reads(M)
        job(m("a"), names[:30], pace=0)
        reads = daemon_reads(M) - r0
        assert reads == 0, f"{reads} reads reached the daemon after store=1"
        ok("store=1: 30 planned files read with no read reaching the daemon")
    finally:
        mnt.close()
    assert_clean_log(log)

    # 9. scan_prefetch: a directory opened in name order gets an implicit plan, made for the
    # user who opens and read as that user: root-only files in it are not read, a user holds at
    # most 4 such plans, and a user cannot reach the control file to make or cancel plans.
    p_names = make_files(s("p"), 60)
    secret = [x for i, x in enumerate(p_names) if i % 5 == 4]
    for x in secret:
        os.chmod(s("p", x), 0o600)
    for i in range(6):
        make_files(s(f"q{i}"), 8)
    hid = make_files(s("hid"), 10)
    os.chmod(s("hid"), 0o711)  # the user may open files by name, not list them
    mnt = Mount(ZCFS, S, M, ["mode=buffered", "cache=none", "scan_prefetch", "allow_other",
                             "default_permissions"], log)
    try:
        evict([s("p", x) for x in p_names])
        readable = [x for x in p_names if x not in secret]
        res = run_as(USER, USER, [], lambda: job(m("p"), readable, pace=0.01))
        assert res[0] == "ok", res
        st = status(mnt, 1)
        assert st["kind"] == "scan" and st["owner"] == USER, st
        assert st["skipped"] >= len(secret) - 1, st  # the root-only files after the trigger
        assert st["hits"] >= 30, st
        assert all(resident(s("p", x)) == 0 for x in secret), "a scan plan read a file its user cannot"
        evict([s("hid", x) for x in hid])
        before = mnt.ctl("plan status").count("plan=")
        res = run_as(USER, USER, [], lambda: job(m("hid"), hid[:5], pace=0))
        assert res[0] == "ok", res
        time.sleep(0.5)
        assert mnt.ctl("plan status").count("plan=") == before, "a scan of a directory its user cannot list"
        assert all(resident(s("hid", x)) == 0 for x in hid[5:]), "read ahead in a directory its user cannot list"
        res = run_as(USER, USER, [], lambda: [job(m(f"q{i}"), [f"f{k:04d}" for k in range(5)], pace=0)
                                              for i in range(6)])
        assert res[0] == "ok", res
        text = mnt.ctl("plan status")
        mine = sum(1 for blk in text.split("plan=")[1:] if "state=active" in blk and f"owner={USER}" in blk)
        assert mine == 4, f"{mine} active plans for one user:\n{text}"
        res = run_as(USER, USER, [], lambda: os.open(m(".zcfs", "ctl"), os.O_RDWR))
        assert res == ["err", "EACCES"], res
        # a directory of more than 16,384 files gets no scan plan: the daemon would hold every name
        os.mkdir(s("huge"))
        for k in range(16400):
            os.close(os.open(s("huge", f"f{k:05d}"), os.O_CREAT | os.O_WRONLY, 0o644))
        os.chown(s("huge"), 0, 0)
        before = mnt.ctl("plan status").count("plan=")
        for k in range(6):
            os.close(os.open(m("huge", f"f{k:05d}"), os.O_RDONLY))
        time.sleep(0.3)
        assert mnt.ctl("plan status").count("plan=") == before, "a scan plan for 16,400 files"
        ok(f"scan_prefetch as user {USER}: a scan plan ({st['hits']} hits) that skips root-only files; "
           "none in a directory the user cannot list; 4 active plans at most; ctl stays the owner's; "
           "none for a directory of more than 16,384 files")
    finally:
        mnt.close()
    assert_clean_log(log)

    # 10. zcfsctl prefetch --plan waits and reports.
    mnt = Mount(ZCFS, S, M, ["mode=buffered"], log)
    try:
        evict([s("a", x) for x in names[:10]])
        lst = os.path.join(top, "list")
        with open(lst, "w") as f:
            f.write("".join(m("a", x) + "\n" for x in names[:10]))
        p = subprocess.Popen([ZCFSCTL, "prefetch", "--plan", lst, "--json", M], stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        job(m("a"), names[:10], pace=0.01)
        out, _ = p.communicate(timeout=30)
        assert p.returncode == 0, out
        st = json.loads(out)
        assert st["state"] == "complete" and st["files"] == 10 and st["prefetched"] == 10, st
        r = subprocess.run([ZCFSCTL, "prefetch", "--plan", "/nonexistent-list", M], capture_output=True, text=True)
        assert r.returncode != 0 and "nonexistent-list" in r.stderr, r
        # Interrupted while waiting (no job comes): the plan is cancelled, not left running.
        p = subprocess.Popen([ZCFSCTL, "prefetch", "--plan", lst, M], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        time.sleep(0.8)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        assert p.returncode == 130 and "cancelled" in err, (p.returncode, err)
        assert "state=active" not in mnt.ctl("plan status"), mnt.ctl("plan status")
        ok("zcfsctl prefetch --plan (absolute paths in the mount) waits for the job and prints the books; "
           "Ctrl-C while waiting cancels the plan")
    finally:
        mnt.close()
    assert_clean_log(log)
    done()


if __name__ == "__main__":
    main()
