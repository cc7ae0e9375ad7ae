#!/usr/bin/env python3
"""tests/bench/epoch.py - one training-style epoch over a directory of files, cold (sync +
drop_caches before each run), with and without a reading plan. Not a CI test (needs root and a
quiet machine: other processes dropping caches spoil every figure).

An epoch: the files in a shuffled order (the same order each run), R reader threads taking the
next file, reading it whole, then "computing" for C ms (sleep: the GPU's time, which the daemon's
prefetch can overlap). Configurations, interleaved per repetition:
  backing      the backing directory itself, no FUSE
  zcfs         zcfs -o mode=M, no plan
  zcfs+plan    the same mount, the epoch's order uploaded as a plan first
  zcfs+scan    the files in name order with -o scan_prefetch, against zcfs in name order
  off-plan     a plan of one order, the job reading another (what a wrong plan costs)
  zcfs warm    zcfs with every file in the backing page cache: the best any prefetch can do
With --warm, the backing page cache holds every file (the mount's own cache is empty: a new
mount), and the job lists the directory first, as a loader does; configurations:
  backing      the backing directory itself
  zcfs         zcfs -o mode=M,cache=auto, no plan
  zcfs always  the same with -o readdirplus_always: the listing gives the kernel every entry,
               so opening a listed file needs no LOOKUP
  zcfs+store   that with a plan of store=1: zcfs pushes each file into the mount's cache
               ahead of the job (FUSE_NOTIFY_STORE), so its reads never reach the daemon
  passthrough  zcfs -o mode=passthrough: the kernel reads the backing file itself
Prints medians, the ratio to the backing directory, and the plans' hits/misses/wasted bytes.

usage: epoch.py ZCFS [--files N] [--kib K] [--readers R] [--compute-ms C] [--reps N]
                [--mode M] [--window W] [--dir DIR] [--latency-us L] [--warm] [--opts O,...]
--latency-us: the daemon's backing storage made slow (tests/bench/slowdev.c: a read of a range not
all in the page cache waits L µs, as a network disk's would); the backing row is not slowed.
Without it, this machine's disk is fast enough that a perfect prefetch saves little (the
"zcfs warm" row is the bound)."""
import argparse, os, random, shutil, statistics, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "pylib"))
from zcfstest import Mount  # noqa: E402


def drop():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def epoch(root, order, readers, compute):
    idx = [0]
    lock = threading.Lock()

    def run():
        while True:
            with lock:
                i = idx[0]
                idx[0] += 1
            if i >= len(order):
                return
            with open(os.path.join(root, order[i]), "rb") as f:
                while f.read(1 << 20):
                    pass
            if compute:
                time.sleep(compute)

    ts = [threading.Thread(target=run) for _ in range(readers)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return time.monotonic() - t0


def plan(mnt, paths, opts=""):
    r = mnt.ctl(("plan " + opts).strip() + "\n" + "".join(p + "\n" for p in paths))
    if not r.startswith("ok"):
        sys.exit(f"plan refused: {r}")
    return int(r.split("plan=")[1].split()[0])


def status(mnt, pid):
    r = mnt.ctl(f"plan status {pid}")
    return dict(l.split("=", 1) for l in r.splitlines()[1:] if "=" in l)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("zcfs")
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--kib", type=int, default=256)
    ap.add_argument("--readers", type=int, default=2)
    ap.add_argument("--compute-ms", type=float, default=2.0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--mode", default="splice")
    ap.add_argument("--window", default="")
    ap.add_argument("--dir", default="/var/tmp")
    ap.add_argument("--latency-us", type=int, default=0)
    ap.add_argument("--warm", action="store_true")
    ap.add_argument("--opts", default="", help="more zcfs -o options for every zcfs row")
    a = ap.parse_args()
    if a.latency_us and a.mode == "passthrough":
        sys.exit("epoch.py: --latency-us slows the daemon's reads; in mode=passthrough the kernel reads")
    if os.geteuid() != 0:
        sys.exit("epoch.py: needs root (drop_caches, mounts)")
    top = tempfile.mkdtemp(prefix="zcfs-epoch.", dir=a.dir)
    src, mnt = os.path.join(top, "src"), os.path.join(top, "mnt")
    os.makedirs(os.path.join(src, "d"))
    os.mkdir(mnt)
    if a.latency_us:
        shim = os.path.join(top, "slowdev.so")
        here = os.path.dirname(os.path.realpath(__file__))
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", shim, os.path.join(here, "slowdev.c"), "-ldl"],
                       check=True)
        os.environ["LD_PRELOAD"] = shim
        os.environ["SLOWDEV_US"] = str(a.latency_us)
    names = [f"d/{i:06d}.bin" for i in range(a.files)]
    blob = os.urandom(a.kib << 10)
    for n in names:
        with open(os.path.join(src, n), "wb") as f:
            f.write(blob)
    order = names[:]
    random.Random(7).shuffle(order)
    other = names[:]
    random.Random(8).shuffle(other)
    compute = a.compute_ms / 1000
    mib = a.files * a.kib / 1024
    cache = "auto" if a.warm else "none"
    more = [o for o in a.opts.split(",") if o]
    opts = [f"mode={a.mode}", f"cache={cache}"] + more
    popts = f"window={a.window}" if a.window else ""
    configs = (("backing", "zcfs", "zcfs always", "zcfs+store", "passthrough") if a.warm else
               ("backing", "zcfs", "zcfs+plan", "zcfs+scan", "off-plan", "zcfs warm"))
    res = {}
    books = {}
    try:
        for rep in range(a.reps):
            for cfg in configs:
                extra = (["scan_prefetch"] if cfg == "zcfs+scan" else
                         ["readdirplus_always"] if cfg in ("zcfs always", "zcfs+store") else [])
                mopts = ["mode=passthrough"] + more if cfg == "passthrough" else opts + extra
                m = None if cfg == "backing" else Mount(a.zcfs, src, mnt, mopts, os.path.join(top, "log"))
                try:
                    drop()
                    if cfg == "zcfs warm" or a.warm:
                        epoch(src, names, 2, 0)
                    root = src if cfg == "backing" else mnt
                    job = sorted(names) if cfg == "zcfs+scan" else order
                    if a.warm:
                        os.listdir(os.path.join(root, "d"))  # the loader's listing
                    pid = None
                    if cfg == "zcfs+plan":
                        pid = plan(m, order, popts)
                    elif cfg == "off-plan":
                        pid = plan(m, other, popts)
                    elif cfg == "zcfs+store":
                        pid = plan(m, order, (popts + " store=1").strip())
                    secs = epoch(root, job, a.readers, compute)
                    if cfg == "zcfs+scan":
                        pid = 1
                    if pid:
                        time.sleep(0.6)
                        books.setdefault(cfg, []).append(status(m, pid))
                    res.setdefault(cfg, []).append(secs)
                    print(f"rep {rep + 1} {cfg:10s} {secs:7.2f} s", file=sys.stderr, flush=True)
                finally:
                    if m:
                        m.close()
    finally:
        shutil.rmtree(top, ignore_errors=True)
    base = statistics.median(res["backing"])
    print(f"epoch: {a.files} files x {a.kib} KiB ({mib:.0f} MiB), {'backing warm' if a.warm else 'cold'}, "
          f"{a.readers} readers, {a.compute_ms:g} ms compute per file, mode={a.mode} cache={cache}"
          f"{',' + a.opts if a.opts else ''}, "
          f"median of {a.reps}"
          + (f", zcfs's storage {a.latency_us} µs per uncached read" if a.latency_us else ""))
    print(f"{'config':10s} {'seconds':>8s} {'MiB/s':>7s} {'vs backing':>10s}  plan books (last run)")
    for cfg, v in res.items():
        med = statistics.median(v)
        b = books.get(cfg, [None])[-1]
        extra = "" if not b else (f"state={b['state']} hits={b['hits']} partial={b['partial']} misses={b['misses']} "
                                  f"prefetched={b['prefetched']} wasted={int(b['wasted_bytes']) >> 20} MiB")
        print(f"{cfg:10s} {med:8.2f} {mib / med:7.0f} {base / med:9.2f}x  {extra}")


if __name__ == "__main__":
    main()
