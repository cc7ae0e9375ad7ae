"""zcfs - drive a zcfs mount from Python through its control files (docs/control.md).

    m = zcfs.Mount("/mnt/data")
    m.residency("train/x.bin")            # one file: pages, resident pages, ranges, ...
    m.residency("train", recursive=True)  # every file below: {"files": {relpath: {...}}, ...}
    m.stats()                             # .zcfs/stats.json as a dict
    m.evict("train"); m.prefetch("val/y.bin")
    with m.plan(paths, window=64 << 20) as plan:   # a reading plan, cancelled on exit
        ...
        plan.status()["state"]

Standard library only; zcfs.torch holds a PyTorch sampler and is the only part that needs torch.
Paths are relative to the mount point or absolute under it. Errors from the daemon raise
ZcfsError (an OSError with the daemon's errno and message)."""
import errno as _errno
import json
import os
import time

__all__ = ["Mount", "Plan", "ZcfsError", "NotZcfsError", "escape_path", "unescape_path"]
__version__ = "0.1.0"


class ZcfsError(OSError):
    """An "error ENAME: message" reply of the control file."""


class NotZcfsError(OSError):
    """The path is not on a zcfs mount with a control directory."""


def escape_path(path):
    """path (str or bytes) as the control file takes it after -e / escaped=1: control bytes and
    backslashes as \\xNN. Returns str (other bytes kept; undecodable ones as surrogates)."""
    raw = os.fsencode(path)
    out = bytearray()
    for b in raw:
        if b < 0x20 or b == 0x7F or b == 0x5C:
            out += b"\\x%02x" % b
        else:
            out.append(b)
    return os.fsdecode(bytes(out))


def unescape_path(text):
    """The inverse of escape_path (the daemon's file= names after -e)."""
    raw = os.fsencode(text)
    out, i = bytearray(), 0
    while i < len(raw):
        if raw[i] == 0x5C and raw[i + 1:i + 2] == b"x" and len(raw) >= i + 4:
            out.append(int(raw[i + 2:i + 4], 16))
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return os.fsdecode(bytes(out))


def _value(v):
    return int(v) if v.isdigit() else v


def _size(v):
    """64 << 20, or "64m" / "1g" / "512k" -> the daemon's BYTES form."""
    if isinstance(v, int):
        if v <= 0:
            raise ValueError("window must be positive")
        return str(v)
    s = str(v).strip().lower()
    if not s or not s.rstrip("kmg").isdigit() or s.count("k") + s.count("m") + s.count("g") > 1:
        raise ValueError(f"window: expected bytes (k, m, g suffixes), got {v!r}")
    return s


class Plan:
    """A reading plan made by Mount.plan(): status(), cancel(), wait(); as a context manager it
    cancels the plan on exit if it is still active (what it read ahead and the job never
    opened is then dropped)."""

    def __init__(self, mount, plan_id, files):
        self.mount, self.id, self.files = mount, plan_id, files

    def status(self):
        """The plan's books: state (active, complete, cancelled, off-plan, idle), position,
        frontier, prefetched, hits, partial, misses, wasted_bytes, spread, astray, ..."""
        reply = self.mount._ctl(f"plan status {self.id}")
        return {k: _value(v) for k, v in reply.items()}

    def cancel(self):
        """End the plan now. A plan that already ended or is gone is not an error."""
        try:
            self.mount._ctl(f"plan cancel {self.id}")
        except ZcfsError as e:
            if e.errno != _errno.ENOENT:
                raise

    def wait(self, timeout=None, poll=0.25):
        """Wait until the plan ends; returns its last status (or the current one on timeout)."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            st = self.status()
            if st.get("state") != "active" or (end is not None and time.monotonic() >= end):
                return st
            time.sleep(poll)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            if self.status().get("state") == "active":
                self.cancel()
        except OSError:
            pass  # the mount went away: nothing left to cancel
        return False

    def __repr__(self):
        return f"<zcfs.Plan {self.id} of {self.files} files on {self.mount.root}>"


class Mount:
    """A zcfs mount, found from its mount point (or any directory of it)."""

    def __init__(self, mountpoint):
        path = os.path.realpath(mountpoint)
        try:
            name = os.getxattr(path, "user.zcfs.ctl")
        except OSError as e:
            if e.errno in (_errno.ENODATA, _errno.ENOTSUP, _errno.EOPNOTSUPP):
                raise NotZcfsError(_errno.ENODEV, "not the root of a zcfs mount with a control directory",
                                   mountpoint) from None
            raise
        self.root = path
        self.ctl_dir = os.path.join(path, os.fsdecode(name))

    # ---- the control file ----

    def _exchange(self, text):
        """Write one command (or a plan) to ctl and read the whole reply; raise on an error reply."""
        data = text.encode("utf-8", "surrogateescape")
        if not data.endswith(b"\n"):
            data += b"\n"
        fd = os.open(os.path.join(self.ctl_dir, "ctl"), os.O_RDWR | os.O_CLOEXEC)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view[:256 << 10])
                view = view[n:]
            chunks = []
            while True:
                c = os.read(fd, 1 << 20)
                if not c:
                    break
                chunks.append(c)
        finally:
            os.close(fd)
        reply = b"".join(chunks).decode("utf-8", "surrogateescape")
        first = reply.partition("\n")[0]
        if first != "ok":
            name, _, msg = first.partition(": ")
            code = getattr(_errno, name.replace("error ", "", 1).strip(), _errno.EIO)
            raise ZcfsError(code, msg or first)
        return reply

    def _ctl(self, text):
        """Write one command (or a plan) to ctl, read the reply; -> {key: value} after "ok"."""
        rest = self._exchange(text).partition("\n")[2]
        out, files = {}, []
        for line in rest.splitlines():
            k, sep, v = line.partition("=")
            if not sep:
                continue
            if k == "file":
                files.append(v)
            else:
                out[k] = v
        if files:
            out["file"] = files
        return out

    def _rel(self, path):
        """path relative to the mount root ("." for the root)."""
        p = os.fsdecode(path)
        if os.path.isabs(p):
            p = os.path.normpath(p)
            if p != self.root and not p.startswith(self.root.rstrip("/") + "/"):
                raise ValueError(f"{p} is not under the mount point {self.root}")
            p = os.path.relpath(p, self.root)
        return p or "."

    def _is_dir(self, rel):
        return os.path.isdir(os.path.join(self.root, rel))

    def _verb(self, verb, path, recursive):
        rel = self._rel(path)
        if recursive is None:
            recursive = self._is_dir(rel)
        return self._ctl(f"{verb} {'-r ' if recursive else ''}-e {escape_path(rel)}"), recursive

    # ---- commands ----

    def residency(self, path, recursive=False):
        """Page-cache residency of the backing file(s). One file: {"pages", "resident_pages",
        "resident_bytes", "file_bytes", "page_size", "ranges": [(start, end), ...], ...}.
        recursive=True: {"files": {relpath: {"pages", "resident_pages", "file_bytes"}},
        "files_total", "pages", "resident_pages", "resident_bytes", "file_bytes", "dirs_skipped",
        "truncated"}; relpath is relative to the mount root."""
        reply, _ = self._verb("residency", path, recursive)
        if not recursive:
            out = {k: _value(v) for k, v in reply.items() if k != "ranges"}
            ranges = reply.get("ranges", "")
            out["ranges"] = [tuple(int(x) for x in r.split("-")) for r in ranges.split(",")
                             if r and r != "..."]
            return out
        files = {}
        for line in reply.get("file", []):
            pages, resident, size, name = line.split(" ", 3)
            files[unescape_path(name)] = {"pages": int(pages), "resident_pages": int(resident),
                                          "file_bytes": int(size)}
        out = {k: _value(v) for k, v in reply.items() if k not in ("file", "files")}
        out["files_total"] = int(reply.get("files", 0))
        out["files"] = files
        return out

    def evict(self, path, recursive=None):
        """Drop the backing pages (and the mount's) of a file, or of every file below a
        directory (recursive defaults to whether path is one). Returns the reply's figures."""
        reply, _ = self._verb("evict", path, recursive)
        return {k: _value(v) for k, v in reply.items()}

    def prefetch(self, path, recursive=None):
        """Read a file (or every file below a directory) into the backing page cache."""
        reply, _ = self._verb("prefetch", path, recursive)
        return {k: _value(v) for k, v in reply.items()}

    def stats(self, prometheus=False):
        """The daemon's statistics: .zcfs/stats.json as a dict (modes, ops, gauges, events, cpu,
        labels); prometheus=True: [(name, {labels}, value)] of every sample in .zcfs/stats,
        the reading plans' lines included."""
        if not prometheus:
            with open(os.path.join(self.ctl_dir, "stats.json")) as f:
                return json.load(f)
        import re
        out = []
        with open(os.path.join(self.ctl_dir, "stats")) as f:
            for line in f:
                line = line.rstrip("\n")
                if not line or line.startswith("#"):
                    continue
                head, value = line.rsplit(" ", 1)
                name, _, labels = head.partition("{")
                out.append((name, {k: re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], v)
                                   for k, v in re.findall(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"', labels)},
                            float(value)))
        return out

    def plan(self, paths, window=None, depth=None, spread=None, store=False):
        """Hand zcfs the order in which the job will open paths (relative to the mount point or
        absolute under it): it reads ahead of the job within window bytes (int, or "64m") with
        depth reads in flight, and follows the job's opens. spread: how many files apart the
        job's readers open (a DataLoader: num_workers * batch_size * prefetch_factor); learned
        when not given. Returns a Plan."""
        opts = ["plan", "escaped=1"]
        if window is not None:
            opts.append(f"window={_size(window)}")
        if depth is not None:
            opts.append(f"depth={int(depth)}")
        if spread is not None:
            opts.append(f"spread={int(spread)}")
        if store:
            opts.append("store=1")
        lines = [escape_path(self._rel(p)) for p in paths]
        if not lines:
            raise ValueError("a plan needs at least one path")
        reply = self._ctl(" ".join(opts) + "\n" + "\n".join(lines) + "\n\n")
        return Plan(self, int(reply["plan"]), int(reply["files"]))

    def plans(self):
        """Every plan the daemon keeps, as status dicts (active ones first)."""
        reply = self._exchange("plan status")
        out, cur = [], None
        for line in reply.splitlines()[1:]:
            k, _, v = line.partition("=")
            if k == "plan":
                cur = {}
                out.append(cur)
            if cur is not None:
                cur[k] = _value(v)
        return out

    def __repr__(self):
        return f"<zcfs.Mount {self.root}>"
