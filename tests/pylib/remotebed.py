#!/usr/bin/env python3
"""remotebed - remote storage on loopback for zcfs's tests and benchmarks, started and torn down
by the test itself:

* an S3-compatible server (s3rver from the npm registry, pinned and installed by
  tools/remote-deps.sh) on 127.0.0.1, one bucket;
* optionally a TCP proxy in front of it that holds back each request by a first-byte latency
  (the round trip to a real store; default 20 ms), in its own process;
* the bucket mounted with s3fs-fuse (Debian's s3fs), once or several times ("nodes");
* sshfs to localhost: an sshd (Debian's openssh-server) on a private port of 127.0.0.1 with a
  throwaway host key, user key and config in the bed's temporary directory.

Nothing listens beyond 127.0.0.1. close() (also at exit and on SIGTERM) unmounts what the bed
mounted, innermost first, stops only the processes it started, by their PIDs, and removes the
temporary directory, whatever failed before.

Timeouts: s3fs is mounted with retries=1, connect_timeout=3 and readwrite_timeout=5, so a read
against a store that went away fails with EIO within S3FS_FAIL_SECS (documented in
docs/remote.md) instead of s3fs's defaults (5 retries of up to 300 s).

Command line (for trying zcfs on remote storage by hand):
    remotebed.py up [--latency-ms 20] [--sshfs]   # prints the mount points, waits for ^C
    remotebed.py proxy LISTEN_PORT TARGET_PORT LATENCY_MS   # the latency proxy (internal)
"""
import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

S3RVER_VERSION = "3.7.1"
NPM_DIR = os.environ.get("ZCFS_NPM_DIR", "/var/cache/zcfs/npm")
BUCKET = "zcfs"
S3FS_FAIL_SECS = 30  # a read against a dead store fails within this (8-18 s seen; docs/remote.md)
S3FS_TIMEOUT_OPTS = "retries=1,connect_timeout=3,readwrite_timeout=5"


class Missing(Exception):
    """A program the bed needs is not installed (tools/remote-deps.sh installs them)."""


def s3rver_path():
    p = os.environ.get("ZCFS_S3RVER") or os.path.join(NPM_DIR, "node_modules", ".bin", "s3rver")
    if not os.access(p, os.X_OK):
        raise Missing(f"s3rver {S3RVER_VERSION} not installed at {p} (run tools/remote-deps.sh)")
    return p


def need(prog):
    for d in ("/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"):
        if os.access(os.path.join(d, prog), os.X_OK):
            return os.path.join(d, prog)
    raise Missing(f"{prog} not installed (run tools/remote-deps.sh)")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, what, secs=20):
    t_end = time.monotonic() + secs
    while time.monotonic() < t_end:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} not listening on 127.0.0.1:{port} after {secs} s")


def is_mounted(mnt):
    with open("/proc/self/mountinfo") as f:
        return any(l.split()[4] == mnt for l in f)


def wait_mount(mnt, proc, what, secs=20):
    t_end = time.monotonic() + secs
    while time.monotonic() < t_end:
        if is_mounted(mnt):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited {proc.returncode} before mounting {mnt}")
        time.sleep(0.05)
    raise RuntimeError(f"{what}: {mnt} not mounted after {secs} s")


def unmount(mnt):
    if not is_mounted(mnt):
        return
    if subprocess.call(["fusermount3", "-u", mnt], stderr=subprocess.DEVNULL) != 0:
        time.sleep(0.2)
        if subprocess.call(["fusermount3", "-u", mnt], stderr=subprocess.DEVNULL) != 0:
            subprocess.call(["fusermount3", "-uz", mnt])


def stop(proc, secs=10):
    """Stop one process this bed started (by its PID), politely, then by SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=secs)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=secs)


class Bed:
    """The test bed. Start pieces with s3(), s3fs(), sshfs(); close() ends everything."""

    def __init__(self, top=None, latency_ms=0):
        self.top = top or tempfile.mkdtemp(prefix="zcfs-remote.")
        os.makedirs(self.top, exist_ok=True)
        os.chmod(self.top, 0o755)
        self.latency_ms = latency_ms
        self.procs = []      # (name, Popen) in start order
        self.mounts = []     # mount points in mount order
        self.s3rver = self.proxy = None
        self.s3_port = self.port = None
        self.sshd = None
        self._closed = False
        atexit.register(self.close)
        self._old_term = signal.signal(signal.SIGTERM, self._on_term)

    def _on_term(self, signum, frame):
        self.close()
        raise SystemExit(128 + signum)

    def _log(self, name):
        return open(os.path.join(self.top, name + ".log"), "ab")

    def _start(self, name, args, **kw):
        p = subprocess.Popen(args, stdout=self._log(name), stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, **kw)
        self.procs.append((name, p))
        return p

    def log_tail(self, name, n=3000):
        try:
            return open(os.path.join(self.top, name + ".log"), errors="replace").read()[-n:]
        except OSError:
            return ""

    # ---- the object store ----

    def s3(self):
        """Start s3rver with bucket BUCKET (and the latency proxy). Returns the port s3fs uses."""
        exe = s3rver_path()
        data = os.path.join(self.top, "s3data")
        os.makedirs(data, exist_ok=True)
        self.s3_port = self.s3_port or free_port()
        self.s3rver = self._start("s3rver", [exe, "-d", data, "-a", "127.0.0.1", "-p", str(self.s3_port),
                                             "-s", "--configure-bucket", BUCKET])
        wait_port(self.s3_port, self.s3rver, "s3rver")
        if self.port is None:
            if self.latency_ms > 0:
                self.port = free_port()
                self.proxy = self._start("proxy", [sys.executable, os.path.realpath(__file__), "proxy",
                                                   str(self.port), str(self.s3_port), str(self.latency_ms)])
                wait_port(self.port, self.proxy, "latency proxy")
            else:
                self.port = self.s3_port
        return self.port

    def kill_s3(self):
        """The store goes away: SIGKILL s3rver (the proxy stays, refusing nothing but
        finding nobody behind it)."""
        if self.s3rver and self.s3rver.poll() is None:
            self.s3rver.kill()
            self.s3rver.wait()

    def restart_s3(self):
        """The store comes back on the same port with the same data."""
        self.kill_s3()
        self.s3()

    def s3fs(self, name="s3", opts=()):
        """Mount the bucket at TOP/NAME with s3fs (foreground process). Returns the mount point."""
        exe = need("s3fs")
        pw = os.path.join(self.top, "s3passwd")
        if not os.path.exists(pw):
            fd = os.open(pw, os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, b"S3RVER:S3RVER\n")  # s3rver's fixed credentials
            os.close(fd)
        mnt = os.path.join(self.top, name)
        os.makedirs(mnt, exist_ok=True)
        o = [f"passwd_file={pw}", f"url=http://127.0.0.1:{self.port}", "use_path_request_style",
             S3FS_TIMEOUT_OPTS] + list(opts)
        p = self._start("s3fs-" + name, [exe, BUCKET, mnt, "-f", "-o", ",".join(o)])
        wait_mount(mnt, p, "s3fs")
        self.mounts.append(mnt)
        return mnt

    # ---- sshfs to localhost ----

    def _sshd(self):
        exe = need("sshd")
        keygen = need("ssh-keygen")
        d = os.path.join(self.top, "sshkeys")
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o700)
        for k in ("host", "user"):
            subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(d, k)], check=True)
        shutil.copy(os.path.join(d, "user.pub"), os.path.join(d, "authorized_keys"))
        self.ssh_port = free_port()
        cfg = os.path.join(d, "sshd_config")
        with open(cfg, "w") as f:
            f.write(f"Port {self.ssh_port}\nListenAddress 127.0.0.1\nHostKey {d}/host\n"
                    f"AuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\n"
                    "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                    "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
                    "Subsystem sftp internal-sftp\nLogLevel ERROR\n")
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
        self.sshd = self._start("sshd", [exe, "-D", "-e", "-f", cfg])
        wait_port(self.ssh_port, self.sshd, "sshd")
        self.ssh_dir = d

    def sshfs(self, remote_dir, name="ssh", opts=()):
        """Mount remote_dir (a directory on this machine) over ssh to 127.0.0.1 at TOP/NAME."""
        exe = need("sshfs")
        if self.sshd is None:
            self._sshd()
        mnt = os.path.join(self.top, name)
        os.makedirs(mnt, exist_ok=True)
        user = os.environ.get("USER") or "root"
        o = [f"port={self.ssh_port}", f"IdentityFile={self.ssh_dir}/user", "StrictHostKeyChecking=no",
             "UserKnownHostsFile=/dev/null", "BatchMode=yes", "LogLevel=ERROR"] + list(opts)
        p = self._start("sshfs-" + name, [exe, f"{user}@127.0.0.1:{remote_dir}", mnt, "-f", "-o", ",".join(o)])
        wait_mount(mnt, p, "sshfs")
        self.mounts.append(mnt)
        return mnt

    def track_mount(self, mnt):
        """A mount made on top of the bed's (zcfs): unmounted first at close()."""
        self.mounts.append(mnt)

    def close(self):
        if self._closed:
            return
        self._closed = True
        for mnt in reversed(self.mounts):
            try:
                unmount(mnt)
            except OSError:
                pass
        for _, p in reversed(self.procs):
            try:
                stop(p)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if signal.getsignal(signal.SIGTERM) == self._on_term:
            signal.signal(signal.SIGTERM, self._old_term)
        shutil.rmtree(self.top, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---- the latency proxy (its own process: the GIL of a test's readers never delays it) ----

def _pump(src, dst, state, upstream, latency):
    try:
        while True:
            data = src.recv(262144)
            if not data:
                break
            if upstream:
                # A request after the previous answer began: the store's first-byte latency.
                if state["answered"] and latency:
                    time.sleep(latency)
                state["answered"] = False
            else:
                state["answered"] = True
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _serve(client, target, latency):
    try:
        server = socket.create_connection(("127.0.0.1", target), timeout=5)
    except OSError:
        client.close()
        return
    server.settimeout(None)
    for s in (client, server):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    state = {"answered": True}
    t = threading.Thread(target=_pump, args=(server, client, state, False, latency), daemon=True)
    t.start()
    _pump(client, server, state, True, latency)
    t.join()
    client.close()
    server.close()


def proxy_main(listen, target, latency_ms):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", listen))
    ls.listen(128)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=_serve, args=(c, target, latency_ms / 1000.0), daemon=True).start()


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "proxy":
        signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
        proxy_main(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
        return
    if len(sys.argv) >= 2 and sys.argv[1] == "up":
        import argparse
        ap = argparse.ArgumentParser(prog="remotebed.py up")
        ap.add_argument("--latency-ms", type=float, default=20)
        ap.add_argument("--sshfs", action="store_true")
        a = ap.parse_args(sys.argv[2:])
        with Bed(latency_ms=a.latency_ms) as bed:
            bed.s3()
            print(f"s3fs: {bed.s3fs()} (s3rver 127.0.0.1:{bed.s3_port}, clients use port {bed.port},"
                  f" {a.latency_ms:g} ms first-byte latency)", flush=True)
            if a.sshfs:
                d = os.path.join(bed.top, "sshdata")
                os.mkdir(d)
                print(f"sshfs: {bed.sshfs(d)} (of {d})", flush=True)
            print("^C tears it all down", flush=True)
            try:
                signal.pause()
            except KeyboardInterrupt:
                pass
        return
    sys.exit(__doc__)


if __name__ == "__main__":
    main()
