#!/usr/bin/env python3
"""zcfsctl where users found it wanting (issue 19), each check failing before its fix:
- names with a newline, a trailing CR, terminal escapes and a backslash: residency -r -v prints
  them escaped (\\xNN), in name order, and counts every one; evict -r and a plan reach them all;
- Ctrl-C (SIGINT, also when the shell started zcfsctl with SIGINT ignored, as a script's '&'
  does) stops 'evict -r' and 'prefetch -r' within 2 s with exit 130;
- prefetch --plan while the mount goes away (its daemon killed): "mount not connected", exit 3,
  never a crash;
- prefetch --plan of a job that reads in another order: the plan ends off-plan, zcfsctl says so
  and exits 5; relative paths in LIST are relative to the directory given;
- mode FILE MODE outside zcfs exits 3 and sets nothing; stats --count without --watch, bench
  --size 1x and an empty plan list are usage errors; bench DIR says so once;
- two mounts' statistics: every series carries mount= and node= labels, so together they share
  none, and zcfsctl stats --prom A B is one valid exposition (promtool, where installed).
Usage: test_zcfsctl_edges.py ZCFS ZCFSCTL"""
import json, os, random, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "pylib"))
from zcfstest import (Mount, assert_clean_log, done, ok, prom_problems, prom_samples,  # noqa: E402
                      require_fuse, temp_tree)

ZCFS = os.path.realpath(sys.argv[1])
ZCFSCTL = os.path.realpath(sys.argv[2])
ODD = ["plain", "new\nline", "cr\r", "esc\x1b[31mred", "back\\slash", "tab\there"]


def ctl(*args, **kw):
    return subprocess.run([ZCFSCTL, *args], capture_output=True, timeout=kw.pop("timeout", 60), **kw)


def names(top, S, M, mnt):
    d = os.path.join(S, "odd")
    os.mkdir(d)
    for n in ODD:
        with open(os.path.join(d, n), "wb") as f:
            f.write(b"x" * 10000)
    r = ctl("residency", "-r", "-v", os.path.join(M, "odd"), env=dict(os.environ, COLUMNS="100"))
    out = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, (r.returncode, out, r.stderr)
    assert "\x1b" not in out and "\r" not in out, f"raw control bytes on the terminal: {out!r}"
    rows = [l for l in out.splitlines() if l.startswith("[")][1:]  # after the header
    esc = lambda n: "".join(f"\\x{ord(ch):02x}" if ord(ch) < 0x20 else ch for ch in n)
    want = [esc(n) for n in sorted(ODD)]
    assert len(rows) == len(ODD) and all(r_.endswith("/odd/" + w) for r_, w in zip(rows, want)), \
        f"not in name order or not escaped: {rows}"
    assert f"files: {len(ODD)} " in out, f"every name counts: {out}"
    assert not r.stderr, r.stderr
    r = ctl("evict", "-r", os.path.join(M, "odd"))
    assert r.returncode == 0 and f"evict: {len(ODD)} files".encode() in r.stdout, (r.stdout, r.stderr)
    # a list line keeps a trailing CR as part of the name; the plan reaches it
    lst = os.path.join(top, "odd.list")
    with open(lst, "wb") as f:
        f.write(b"odd/cr\r\nodd/plain\n")
    r = ctl("prefetch", "--plan", lst, "--no-wait", M)
    assert r.returncode == 0 and b"plan " in r.stdout, (r.stdout, r.stderr)
    pid = int(r.stdout.split()[1].rstrip(b":"))
    for n in ("cr\r", "plain"):
        with open(os.path.join(M, "odd", n), "rb") as f:
            f.read()
    st = mnt.ctl(f"plan status {pid}")
    for _ in range(50):
        if "state=complete" in st:
            break
        time.sleep(0.1)
        st = mnt.ctl(f"plan status {pid}")
    assert "state=complete" in st, st
    ok(f"{len(ODD)} names with a newline, CR, ESC, tab, backslash: residency -r -v escaped, sorted, "
       "all counted; evict -r all; a plan line ending in CR names the file")


def interrupt(S, M):
    d = os.path.join(S, "many")
    os.mkdir(d)
    for i in range(6000):
        with open(os.path.join(d, f"f{i:05d}"), "w") as f:
            f.write("x")
    for verb in ("evict", "prefetch"):
        # as a script's "zcfsctl ... &" starts it: SIGINT ignored
        p = subprocess.Popen([ZCFSCTL, verb, "-r", os.path.join(M, "many")], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        time.sleep(0.5)
        assert p.poll() is None, "finished before the signal: too few files"
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        took = time.monotonic() - t0
        assert p.returncode == 130, (verb, p.returncode, out, err)
        assert b"interrupted after" in err, err
        assert took < 2, f"{verb} -r took {took:.1f} s to stop"
    ok("Ctrl-C stops evict -r and prefetch -r (SIGINT ignored by the parent too) within 2 s, exit 130")


def plan_mount_gone(top, S, M, log):
    d = os.path.join(S, "g")
    os.mkdir(d)
    lst = os.path.join(top, "g.list")
    with open(lst, "w") as f:
        for i in range(20):
            open(os.path.join(d, f"f{i}"), "w").write("x")
            f.write(f"g/f{i}\n")
    mnt = Mount(ZCFS, S, M, [], log)
    p = subprocess.Popen([ZCFSCTL, "prefetch", "--plan", lst, M], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.8)
    mnt.p.kill()  # the daemon dies while zcfsctl waits on its plan
    mnt.p.wait()
    out, err = p.communicate(timeout=30)
    subprocess.call(["fusermount3", "-uz", M])
    mnt.log.close()
    assert p.returncode == 3 and b"mount not connected" in err, (p.returncode, err)
    ok("prefetch --plan while the daemon dies: 'mount not connected', exit 3 (was a double free)")


def plan_ends(top, S, M, log):
    d = os.path.join(S, "p")
    os.makedirs(os.path.join(d, "sub"))
    n = 1500
    for i in range(n):
        with open(os.path.join(d, "sub", f"f{i:04d}"), "w") as f:
            f.write("y" * 100)
    mnt = Mount(ZCFS, S, M, [], log)
    try:
        # relative to the directory given, not to the mount root
        lst = os.path.join(top, "p.list")
        with open(lst, "w") as f:
            f.write("".join(f"f{i:04d}\n" for i in range(n)))
        p = subprocess.Popen([ZCFSCTL, "prefetch", "--plan", lst, "--json", os.path.join(M, "p", "sub")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(0.5)
        order = list(range(n))
        random.Random(19).shuffle(order)
        for i in order:
            with open(os.path.join(M, "p", "sub", f"f{i:04d}"), "rb") as f:
                f.read()
        out, err = p.communicate(timeout=60)
        st = json.loads(out)
        assert p.returncode == 5 and st["state"] == "off-plan", (p.returncode, out, err)
        assert b"ended off-plan" in err, err
        assert st["strays"] >= 1 and st["files"] == n, st
        ok("a plan of files relative to MNT/p/sub, the job in another order: off-plan, said, exit 5")
        lst0 = os.path.join(top, "empty.list")
        open(lst0, "w").write("\n\n")
        r = ctl("prefetch", "--plan", lst0, M)
        assert r.returncode == 1 and b"no paths in the list" in r.stderr, r
        ok("an empty plan list is refused by zcfsctl with a reason")
    finally:
        mnt.close()


def small_ones(top, S, M, log):
    outside = tempfile.mkdtemp(prefix="zcfs-outside.")
    try:
        f = os.path.join(outside, "f")
        open(f, "w").close()
        r = ctl("mode", f, "direct")
        assert r.returncode == 3 and b"not on a zcfs mount" in r.stderr, r
        assert "user.zcfs.mode" not in os.listxattr(f), "the attribute was set outside zcfs"
    finally:
        subprocess.call(["rm", "-rf", outside])
    mnt = Mount(ZCFS, S, M, [], log)
    try:
        r = ctl("stats", M, "--count", "3")
        assert r.returncode == 2 and b"--watch" in r.stderr, r
        for bad in ("1x", "12", "k", "5M5"):
            r = ctl("bench", os.path.join(M, "new-bench-file"), "--size", bad)
            assert r.returncode == 2 and b"bad --size" in r.stderr, (bad, r)
        assert not os.path.exists(os.path.join(S, "new-bench-file")), "bench made a file from a bad --size"
        os.mkdir(os.path.join(S, "bdir"))
        r = ctl("bench", os.path.join(M, "bdir"))
        assert r.returncode == 1 and r.stderr.count(b"\n") == 1 and b"not a regular file" in r.stderr, r
        r = ctl("mode", os.path.join(M, "bdir"), "passthrough")
        assert r.returncode == 0, r
    finally:
        mnt.close()
    ok("mode outside zcfs: exit 3, nothing set; stats --count without --watch, bench --size 1x: "
       "usage errors; bench DIR: one line; mode passthrough accepted")


def two_mounts(top, S, M, log):
    """Two mounts' statistics together: every series labelled with its mount (and node), none
    shared; one exposition of both from zcfsctl stats --prom A B (promtool checks it where
    installed, the test's own checker always)."""
    M2 = os.path.join(top, "mnt2")
    os.makedirs(M2, exist_ok=True)
    a = Mount(ZCFS, S, M, ["name=train"], log)
    b = Mount(ZCFS, S, M2, ["node=n2"], log)
    try:
        ta = open(os.path.join(M, ".zcfs", "stats")).read()
        tb = open(os.path.join(M2, ".zcfs", "stats")).read()
        for text, mount, node in ((ta, "train", os.uname().nodename), (tb, M2, "n2")):
            assert all(lab.get("mount") == mount and lab.get("node") == node for _, lab, _ in prom_samples(text)), \
                f"a sample without mount={mount} node={node}"
        shared = {(n, tuple(sorted(lab.items()))) for n, lab, _ in prom_samples(ta)} & \
                 {(n, tuple(sorted(lab.items()))) for n, lab, _ in prom_samples(tb)}
        assert not shared, f"{len(shared)} series in both mounts' stats, e.g. {sorted(shared)[:3]}"
        assert prom_problems(ta) == [] and prom_problems(tb) == [], (prom_problems(ta)[:3], prom_problems(tb)[:3])
        r = ctl("stats", "--prom", M, M2)
        assert r.returncode == 0, r
        both = r.stdout.decode()
        assert prom_problems(both) == [], prom_problems(both)[:5]
        assert len(prom_samples(both)) == len(prom_samples(ta)) + len(prom_samples(tb))
        how = "the test's checker"
        if subprocess.run(["sh", "-c", "command -v promtool"], capture_output=True).returncode == 0:
            p = subprocess.run(["promtool", "check", "metrics"], input=r.stdout, capture_output=True, timeout=30)
            assert p.returncode == 0, (p.stdout, p.stderr)
            how += " and promtool check metrics"
        js = json.load(open(os.path.join(M, ".zcfs", "stats.json")))
        assert js["labels"] == {"mount": "train", "node": os.uname().nodename}, js["labels"]
    finally:
        a.close()
        b.close()
    ok(f"two mounts' stats: every series labelled mount=, node=; none shared; zcfsctl stats --prom A B "
       f"is one valid exposition ({how}); stats.json names its labels")


def main():
    require_fuse()
    top, S, M = temp_tree("zcfs-ctl-edges.")
    log = os.path.join(top, "log")
    mnt = Mount(ZCFS, S, M, [], log)
    try:
        names(top, S, M, mnt)
        interrupt(S, M)
    finally:
        mnt.close()
    plan_mount_gone(top, S, M, log)
    plan_ends(top, S, M, log)
    small_ones(top, S, M, log)
    two_mounts(top, S, M, log)
    assert_clean_log(log)
    subprocess.call(["rm", "-rf", top])
    done()


if __name__ == "__main__":
    main()
