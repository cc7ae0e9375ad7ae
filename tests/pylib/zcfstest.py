"""zcfstest - shared pieces of the Python real-mount tests: the skip/fail rule for /dev/fuse,
a zcfs mount started in the foreground and waited for, its control files and statistics, a clean
unmount that checks the daemon's exit status and log, and the "ok N - ..." lines."""
import json
import os
import subprocess
import sys
import time


_passed = 0


def ok(msg):
    """Report one check passed: "ok N - msg"."""
    global _passed
    _passed += 1
    print(f"ok {_passed} - {msg}", flush=True)


def done():
    """The last line of a test that got this far: every check passed."""
    print(f"{_passed} passed, 0 failed")


def prom_labels(text):
    """'a="x",b="y\\"z"' -> {"a": "x", "b": 'y"z'} (the text format's escapes undone)."""
    import re
    return {k: re.sub(r'\\(.)', lambda m: "\n" if m[1] == "n" else m[1], v)
            for k, v in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', text)}


def prom_samples(text):
    """Every sample of a Prometheus text: [(name, {labels}, value)]."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        name, _, rest = head.partition("{")
        out.append((name, prom_labels(rest[:-1]) if rest else {}, float(value)))
    return out


def prom_problems(text):
    """What keeps text from being one valid Prometheus exposition (what promtool check metrics
    and node_exporter's textfile collector refuse): a second HELP or TYPE of a family, a family
    whose lines are not together, a duplicate series, a line that does not parse. [] if none."""
    import re
    bad, seen_help, seen_type, series, closed = [], set(), set(), set(), set()
    sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\})? '
                        r'(-?[0-9.e+-]+|\+Inf|-Inf|NaN)$')
    fam = None

    def enter(ln, name):
        """The family a line at ln belongs to is name: close the current one if it changes."""
        if name != fam:
            if name in closed:
                bad.append(f"{ln}: family {name} again after others")
            if fam:
                closed.add(fam)
        return name

    for ln, line in enumerate(text.splitlines(), 1):
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            name = line.split()[2]
            seen = seen_help if line[2] == "H" else seen_type
            if name in seen:
                bad.append(f"{ln}: second {line[2:6]} for {name}")
            seen.add(name)
            fam = enter(ln, name)
            continue
        if not line or line.startswith("#"):
            continue
        m = sample.match(line)
        if not m:
            bad.append(f"{ln}: not a sample: {line!r}")
            continue
        name = m.group(1)
        fam = enter(ln, fam if fam and name.startswith(fam) else name)
        key = (name, tuple(sorted(prom_labels(m.group(3) or "").items())))
        if key in series:
            bad.append(f"{ln}: duplicate series {line.rsplit(' ', 1)[0]}")
        series.add(key)
    return bad


def prom(mnt, name, label=None):
    """The value of the sample name{label...} in MNT/.zcfs/stats (AssertionError if absent): the
    first whose labels include those given ('mode="buffered"'; every sample also carries the
    mount's mount= and node= labels)."""
    want = prom_labels(label or "")
    for n, labels, value in prom_samples(open(os.path.join(mnt, ".zcfs", "stats")).read()):
        if n == name and want.items() <= labels.items():
            return value
    raise AssertionError(f"{name} {label} not in stats")


def require_fuse():
    """Exit 77 (skip) without /dev/fuse, or fail when ZCFS_REQUIRE_MOUNT=1."""
    if os.path.exists("/dev/fuse"):
        return
    if os.environ.get("ZCFS_REQUIRE_MOUNT") == "1":
        raise SystemExit("FAIL: /dev/fuse missing and ZCFS_REQUIRE_MOUNT=1")
    print("SKIP: no /dev/fuse")
    sys.exit(77)


def is_mounted(mnt):
    return any(l.split()[4] == mnt for l in open("/proc/self/mountinfo"))


def extra_opts():
    """Options every test mount gets in addition (ZCFS_EXTRA_OPTS, comma separated): meson runs
    some suites again over io_uring or in mode=passthrough this way."""
    return [o for o in os.environ.get("ZCFS_EXTRA_OPTS", "").split(",") if o]


class Mount:
    """zcfs -f -o OPTS SRC MNT (plus extra_opts()); the daemon's stderr goes to LOG (appended).
    With io_uring among the extra options, the mount must really use it."""

    def __init__(self, zcfs, src, mnt, opts, log):
        self.src, self.mnt, self.log_path = src, mnt, log
        self.log = open(log, "ab")
        opts = list(opts) + extra_opts()
        args = [zcfs, "-f"] + (["-o", ",".join(opts)] if opts else []) + [src, mnt]
        self.p = subprocess.Popen(args, stderr=self.log)
        for _ in range(100):
            if is_mounted(mnt):
                break
            if self.p.poll() is not None:
                raise SystemExit(f"FAIL: zcfs {' '.join(opts)} exited {self.p.returncode} before mounting")
            time.sleep(0.1)
        else:
            raise SystemExit(f"FAIL: mount with {opts} did not appear")
        if "io_uring" in opts and os.path.isdir(os.path.join(mnt, ".zcfs")):
            os.stat(mnt)
            text = open(os.path.join(mnt, ".zcfs", "stats")).read()
            if not any(n == "zcfs_io_uring" and v == 1 for n, _, v in prom_samples(text)):
                raise SystemExit("FAIL: -o io_uring given but requests come through /dev/fuse")

    @property
    def pid(self):
        return self.p.pid

    def stats(self):
        return json.load(open(os.path.join(self.mnt, ".zcfs", "stats.json")))

    def ctl(self, cmd):
        fd = os.open(os.path.join(self.mnt, ".zcfs", "ctl"), os.O_RDWR)
        try:
            os.write(fd, (cmd + "\n").encode())
            out = b""
            while True:
                c = os.read(fd, 65536)
                if not c:
                    return out.decode()
                out += c
        finally:
            os.close(fd)

    def close(self):
        """Unmount (lazily if busy), wait for the daemon, assert it exited 0."""
        if subprocess.call(["fusermount3", "-u", self.mnt]) != 0:
            subprocess.call(["fusermount3", "-uz", self.mnt])
        rc = self.p.wait(timeout=30)
        self.log.close()
        if rc != 0:  # the log goes with the temporary directory: show its end now
            tail = open(self.log_path, errors="replace").read()[-6000:]
            sys.stderr.write(f"--- daemon log ({self.log_path}), last lines:\n{tail}\n---\n")
        assert rc == 0, f"daemon exited {rc}"


def assert_clean_log(path):
    """No 'error' or 'warning' line in a daemon log."""
    text = open(path, errors="replace").read()
    bad = [l for l in text.splitlines() if "error" in l.lower() or "warning" in l.lower()]
    assert not bad, f"daemon logged: {bad[:5]}"


def temp_tree(prefix):
    """A private temp dir (0755, so other test users can reach into it) with src/ and mnt/."""
    import tempfile
    top = tempfile.mkdtemp(prefix=prefix)
    os.chmod(top, 0o755)
    src, mnt = os.path.join(top, "src"), os.path.join(top, "mnt")
    os.mkdir(src)
    os.mkdir(mnt)
    os.chmod(src, 0o755)
    return top, src, mnt


def read_to_eof(fd):
    """Everything readable from fd until EOF; closes it."""
    data = b""
    while True:
        c = os.read(fd, 65536)
        if not c:
            break
        data += c
    os.close(fd)
    return data


def run_as(uid, gid, groups, fn):
    """fn() in a forked child with the given ids. Returns ["ok", repr of its value] (a stat
    result shows as "stat"), ["err", errno name] for an OSError, or ["fail", message] for any
    other exception (assertions included)."""
    import errno
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            os.setgroups(list(groups))
            os.setgid(gid)
            os.setuid(uid)
            v = fn()
            res = ["ok", "stat" if isinstance(v, os.stat_result) else repr(v)]
        except OSError as e:
            res = ["err", errno.errorcode.get(e.errno, str(e.errno))]
        except BaseException as e:  # noqa: B902 - report anything, never run the parent's code
            res = ["fail", repr(e)]
        os.write(wfd, json.dumps(res).encode())
        os._exit(0)
    os.close(wfd)
    data = read_to_eof(rfd)
    os.waitpid(pid, 0)
    return json.loads(data) if data else ["fail", "child died"]
