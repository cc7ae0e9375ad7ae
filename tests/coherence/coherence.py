"""coherence - the harness of the coherence suite: one mount per option set (remounted if the
daemon dies), checks through the mount that record problems instead of raising so that a run
goes through every case, the per-case log check, the end-of-mount check, the summary table."""
import errno, hashlib, json, os, re, subprocess, time, traceback

from zcfstest import Mount, is_mounted

# entry_timeout and attr_timeout of every mount, and how long a check waits after a change in
# the backing: past both timeouts (jiffy rounding included) by default; with long timeouts
# (ZCFS_COHERENCE_TIMEOUT=3600), what the change notification must manage (ZCFS_COHERENCE_SETTLE).
# "default": no timeout options at all (the daemon's own: long where the backing is watched).
TIMEOUT = os.environ.get("ZCFS_COHERENCE_TIMEOUT", "0.2")
SETTLE = float(os.environ.get("ZCFS_COHERENCE_SETTLE", "0.35"))
LOG_BAD = re.compile(r"error|warning", re.I)


def ename(e):
    return errno.errorcode.get(e, str(e))


def show(b):
    """A short description of some bytes for a failure message: short text as it is, anything
    else as its length and digest."""
    if len(b) <= 32 and all(32 <= x < 127 or x == 10 for x in b):
        return f"{len(b)} bytes {b!r}"
    return f"{len(b)} bytes sha256 {hashlib.sha256(b).hexdigest()[:12]}"


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def pattern(tag, size):
    """Deterministic bytes, different for each tag, so that stale or mixed bytes are visible."""
    out = bytearray()
    seed = hashlib.sha256(tag.encode()).digest()
    while len(out) < size:
        seed = hashlib.sha256(seed).digest()
        out += seed
    return bytes(out[:size])


def put(path, data):
    with open(path, "wb") as f:
        f.write(data)


class Case:
    """The problems found by one case; each has a kind (an errno name, 'content', 'stale', ...)
    for the summary table and a message with the path and expected versus got."""

    def __init__(self, env):
        self.env, self.problems, self.notes = env, [], []

    def fail(self, kind, msg):
        self.problems.append((kind, msg))

    def note(self, msg):
        self.notes.append(msg)

    def rel(self, path):
        return os.path.relpath(path, self.env.M)

    def compare(self, mpath, what, got, want, old):
        if got == want:
            return True
        if old is not None and got == old:
            self.fail("stale", f"{self.rel(mpath)}: {what}: got the previous content {show(got)}, "
                      f"expected {show(want)}")
        else:
            self.fail("content", f"{self.rel(mpath)}: {what}: got {show(got)}, expected {show(want)} "
                      f"(first difference at byte {first_diff(got, want)})")
        return False

    def expect_bytes(self, mpath, want, what="read", old=None):
        """Open mpath afresh through the mount, read it all and compare with want (old: what it
        held before, to call a mismatch stale); True if equal."""
        step = "open"
        try:
            with open(mpath, "rb") as f:
                step = "read"
                got = f.read()
        except OSError as x:
            self.fail(ename(x.errno), f"{self.rel(mpath)}: {what}: {step}: {ename(x.errno)} "
                      f"({x.strerror}), expected {show(want)}")
            return False
        return self.compare(mpath, what, got, want, old)

    def expect_fd_bytes(self, fd, mpath, want, what, old=None):
        """Read the whole file from offset 0 on an already-open handle and compare with want."""
        try:
            got = b""
            while True:
                c = os.pread(fd, 1 << 20, len(got))
                if not c:
                    break
                got += c
        except OSError as x:
            self.fail(ename(x.errno), f"{self.rel(mpath)}: {what}: pread: {ename(x.errno)} "
                      f"({x.strerror}), expected {show(want)}")
            return False
        return self.compare(mpath, what, got, want, old)

    def evict(self):
        """Read 40 other files through the mount: with fd_cache=16 the daemon then has closed
        its idle descriptors on what the case looked up so far, so the backing filesystem can
        reuse their inode numbers once they are deleted (the default fd_cache keeps them)."""
        for i in range(40):
            self.expect_bytes(self.env.m(f"evict/e{i}"), f"e{i}\n".encode(), "eviction read")

    def expect_gone(self, mpath):
        try:
            os.stat(mpath)
        except FileNotFoundError:
            return True
        except OSError as x:
            self.fail(ename(x.errno), f"{self.rel(mpath)}: removed in the backing, stat gives "
                      f"{ename(x.errno)}, expected ENOENT")
            return False
        self.fail("visible", f"{self.rel(mpath)}: removed in the backing {SETTLE} s ago, still there")
        return False

    def stat_of(self, mpath):
        try:
            return os.stat(mpath)
        except OSError as x:
            self.fail(ename(x.errno), f"{self.rel(mpath)}: stat: {ename(x.errno)} ({x.strerror})")
            return None

    def expect_listing(self, mdir, sdir):
        try:
            got = sorted(os.listdir(mdir))
        except OSError as x:
            self.fail(ename(x.errno), f"{self.rel(mdir)}: listdir: {ename(x.errno)} ({x.strerror})")
            return
        want = sorted(os.listdir(sdir))
        if got != want:
            self.fail("listing", f"{self.rel(mdir)}: lists {got}, the backing holds {want}")


def daemon_holds(pid, spath):
    """Does the daemon hold a descriptor on spath (or on it deleted)?"""
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            t = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if t in (spath, spath + " (deleted)"):
            return True
    return False


class Env:
    """One mount: BACKING S at M with the option set's options; remounted if the daemon dies."""

    def __init__(self, zcfs, top, mode, fd_cache):
        self.zcfs, self.mode, self.fd_cache = zcfs, mode, fd_cache
        self.label = f"mode={mode} fd_cache={fd_cache or 'default'}"
        base = os.path.join(top, f"{mode}-{fd_cache or 'default'}")
        self.S, self.M, self.log = f"{base}/src", f"{base}/mnt", f"{base}/log"
        os.makedirs(self.S)
        os.makedirs(self.M)
        os.chmod(base, 0o755)
        os.chmod(self.S, 0o755)
        os.mkdir(f"{self.S}/evict")  # made before any case frees an inode number
        for i in range(40):
            put(f"{self.S}/evict/e{i}", f"e{i}\n".encode())
        self.opts = ["allow_other", "default_permissions", f"mode={mode}"]
        if TIMEOUT != "default":
            self.opts += [f"entry_timeout={TIMEOUT}", f"attr_timeout={TIMEOUT}"]
        if fd_cache:
            self.opts.append(f"fd_cache={fd_cache}")
        self.log_pos = 0
        self.mnt = Mount(self.zcfs, self.S, self.M, self.opts, self.log)

    def s(self, p):
        return os.path.join(self.S, p)

    def m(self, p):
        return os.path.join(self.M, p)

    def new_log_lines(self):
        with open(self.log, "rb") as f:
            f.seek(self.log_pos)
            text = f.read()
        self.log_pos += len(text)
        return text.decode(errors="replace").splitlines()

    def detach(self):
        """Unmount (lazily if busy or dead), wait for the daemon; returns its exit status."""
        if is_mounted(self.M) and subprocess.call(["fusermount3", "-u", self.M]) != 0:
            subprocess.call(["fusermount3", "-uz", self.M])
        try:
            rc = self.mnt.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.mnt.p.kill()
            rc = self.mnt.p.wait()
        self.mnt.log.close()
        return rc

    def revive(self):
        """After a daemon death: detach the dead mount, start a new daemon on the same dirs."""
        self.detach()
        self.mnt = Mount(self.zcfs, self.S, self.M, self.opts, self.log)


def print_problems(problems, limit=8):
    for kind, msg in problems[:limit]:
        print(f"#   {kind}: {msg}", flush=True)
    if len(problems) > limit:
        rest = {}
        for kind, _ in problems[limit:]:
            rest[kind] = rest.get(kind, 0) + 1
        print(f"#   ... and {len(problems) - limit} more: "
              + ", ".join(f"{k} x{v}" for k, v in sorted(rest.items())), flush=True)


def run_case(env, num, title, fn, results, counter):
    c = Case(env)
    t0 = time.monotonic()
    try:
        fn(c, f"c{num}")
    except OSError as x:
        where = traceback.extract_tb(x.__traceback__)[-1]
        c.fail(ename(x.errno), f"unexpected {ename(x.errno)} ({x.strerror}) on "
               f"{os.path.relpath(x.filename, env.M) if x.filename and x.filename.startswith(env.M) else x.filename} "
               f"at line {where.lineno}: {where.line}")
    except Exception as x:  # noqa: B902 - a broken case is reported and the run goes on
        where = traceback.extract_tb(x.__traceback__)[-1]
        c.fail("exception", f"{x!r} at line {where.lineno}: {where.line}")
    if env.mnt.p.poll() is not None:
        c.fail("daemon-died", f"the daemon exited ({env.mnt.p.returncode}) during the case; remounted")
        env.revive()
    bad = [ln for ln in env.new_log_lines() if LOG_BAD.search(ln)]
    if bad:
        c.fail("log", f"daemon logged {len(bad)} error/warning lines: {bad[:3]}")
    counter[0] += 1
    dt = time.monotonic() - t0
    tag = f"[{env.label}] case {num}: {title}"
    if c.problems:
        print(f"not ok {counter[0]} - {tag} ({dt:.1f} s)", flush=True)
        print_problems(c.problems)
    else:
        print(f"ok {counter[0]} - {tag} ({dt:.1f} s)", flush=True)
    for note in c.notes:
        print(f"#   note: {note}", flush=True)
    results[(num, env.label)] = sorted({k for k, _ in c.problems})


def end_of_mount(env, results, counter):
    """The daemon alive, its stats readable (the mode's read counter moved; for passthrough,
    where the kernel reads, its open counter), a clean exit and log."""
    c = Case(env)
    if env.mnt.p.poll() is not None:
        c.fail("daemon-died", f"the daemon exited ({env.mnt.p.returncode})")
    else:
        try:
            with open(env.m(".zcfs/stats")) as f:
                prom = f.read()
            what = "opens" if env.mode == "passthrough" else "reads"
            reads = re.search(rf'^zcfs_{what}_total{{mode="{env.mode}",[^}}]*}} (\d+)$', prom, re.M)
            if not reads:
                c.fail("stats", f".zcfs/stats has no zcfs_{what}_total for mode {env.mode}: {show(prom.encode())}")
            elif int(reads[1]) == 0:
                c.fail("stats", f".zcfs/stats: zcfs_{what}_total{{mode=\"{env.mode}\"}} is 0 after the cases")
            else:
                c.note(f"zcfs_{what}_total{{mode=\"{env.mode}\"}} {reads[1]}")
            with open(env.m(".zcfs/stats.json")) as f:
                ops = json.load(f)["ops"]
            errs = {op: v["errors"] for op, v in ops.items() if v["errors"]}
            c.note(f"daemon replies with an error, by op: {errs}")
        except OSError as x:
            c.fail(ename(x.errno), f".zcfs/stats: {ename(x.errno)} ({x.strerror})")
    rc = env.detach()
    if rc != 0:
        c.fail("exit", f"the daemon exited {rc} at unmount, expected 0")
    bad = [ln for ln in env.new_log_lines() if LOG_BAD.search(ln)]
    if bad:
        c.fail("log", f"daemon logged {len(bad)} error/warning lines: {bad[:3]}")
    counter[0] += 1
    tag = f"[{env.label}] daemon alive, .zcfs/stats readable, clean unmount and log"
    print(f"{'not ok' if c.problems else 'ok'} {counter[0]} - {tag}", flush=True)
    print_problems(c.problems)
    for note in c.notes:
        print(f"#   note: {note}", flush=True)
    results[("end", env.label)] = sorted({k for k, _ in c.problems})


def summary(cases, results, labels):
    rows = [(num, title) for num, title, _ in cases] + [("end", "daemon alive, stats, exit, log")]
    cols = [lab.replace("mode=", "").replace(" fd_cache=", "/") for lab in labels]
    w = max(len(c) for c in cols + ["ENOENT"]) + 1
    print("# summary (rows: cases; columns: mode/fd_cache; cells: ok or the kinds of failure)")
    print("#   " + " " * 4 + "".join(f"{c:<{w}}" for c in cols))
    for key, name in rows:
        cells = []
        for lab in labels:
            kinds = results.get((key, lab))
            cells.append("-" if kinds is None else "ok" if not kinds else "+".join(kinds))
        print(f"#   {str(key):<4}" + "".join(f"{x:<{w}}" for x in cells) + name)


