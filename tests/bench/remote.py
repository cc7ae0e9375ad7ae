#!/usr/bin/env python3
"""tests/bench/remote.py - a training-style loader over an object store (s3rver on loopback,
mounted with s3fs; tests/pylib/remotebed.py), read directly on the s3fs mount and through zcfs
with and without the epoch's reading plan. Not a CI test (minutes; needs root).

An epoch: FILES files of KIB KiB in a shuffled order, R reader threads each taking the next file,
reading it whole, then "computing" for C ms. Cold every run: a fresh s3fs mount (s3fs keeps no
data across mounts without use_cache) and a fresh zcfs over it. The store answers each request
after --latency-ms (a TCP proxy on loopback holding back every request; 0: no proxy).
Configurations, interleaved per repetition (each rep starts with another):
  s3fs          the loader on the s3fs mount itself
  zcfs          zcfs -o mode=M over the s3fs mount, no plan
  zcfs+plan     the same, the epoch's order uploaded as a plan first (PLAN_OPTS: plan options)
With --torch, the loader is a torch DataLoader (4 workers, batch 1) over a Dataset reading the
files in the sampler's order (run by /usr/bin/python3, where Debian's python3-torch is).

usage: remote.py ZCFS [--files 300] [--kib 100] [--readers 2] [--compute-ms 3] [--latency-ms 20]
                 [--reps 3] [--mode splice] [--opts O,..] [--plan-opts "depth=32"] [--torch]"""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import time

here = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, os.path.join(here, "..", "pylib"))
sys.path.insert(0, here)
import remotebed  # noqa: E402
from zcfstest import Mount  # noqa: E402
from epoch import status  # noqa: E402

TORCH_JOB = r'''
import os, sys, time, torch
from torch.utils.data import DataLoader, Dataset
root, listfile, compute = sys.argv[1], sys.argv[2], float(sys.argv[3])
order = open(listfile).read().split()
class Files(Dataset):
    def __len__(self): return len(order)
    def __getitem__(self, i):
        with open(os.path.join(root, order[i]), "rb") as f:
            n = len(f.read())
        time.sleep(compute)
        return n
t0 = time.monotonic()
total = sum(int(b) for b in DataLoader(Files(), batch_size=1, num_workers=4, shuffle=False))
print(time.monotonic() - t0, total)
'''


from epoch import epoch  # noqa: E402 (the same loader as the local plan benchmark)


def torch_epoch(root, order, compute, top):
    lst = os.path.join(top, "order.txt")
    with open(lst, "w") as f:
        f.write("\n".join(order) + "\n")
    out = subprocess.run(["/usr/bin/python3", "-c", TORCH_JOB, root, lst, str(compute)],
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("zcfs")
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--kib", type=int, default=100)
    ap.add_argument("--readers", type=int, default=2)
    ap.add_argument("--compute-ms", type=float, default=3.0)
    ap.add_argument("--latency-ms", type=float, default=20)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--mode", default="splice")
    ap.add_argument("--opts", default="")
    ap.add_argument("--plan-opts", default="")
    ap.add_argument("--s3fs-opts", default="", help="more s3fs -o options, for every row")
    ap.add_argument("--configs", default="s3fs,zcfs,zcfs+plan")
    ap.add_argument("--torch", action="store_true")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("remote.py: needs root (mounts)")
    names = [f"d/{i:06d}.bin" for i in range(a.files)]
    order = names[:]
    random.Random(7).shuffle(order)
    compute = a.compute_ms / 1000
    s3opts = [o for o in a.s3fs_opts.split(",") if o]
    zopts = [f"mode={a.mode}"] + [o for o in a.opts.split(",") if o]
    configs = a.configs.split(",")
    res, books = {}, {}
    with remotebed.Bed(latency_ms=a.latency_ms) as bed:
        bed.s3()
        up = bed.s3fs("upload")
        os.mkdir(os.path.join(up, "d"))
        blob = os.urandom(a.kib << 10)
        for n in names:
            with open(os.path.join(up, n), "wb") as f:
                f.write(blob)
        remotebed.unmount(up)
        bed.mounts.remove(up)
        for rep in range(a.reps):
            for cfg in configs[rep % len(configs):] + configs[:rep % len(configs)]:  # no row always first
                s3 = bed.s3fs(f"s3-{rep}-{cfg}", opts=s3opts)
                z = None
                if cfg != "s3fs":
                    zm = os.path.join(bed.top, f"z-{rep}-{cfg}")
                    os.mkdir(zm)
                    z = Mount(a.zcfs, s3, zm, zopts, os.path.join(bed.top, "zcfs.log"))
                    bed.track_mount(zm)
                root = z.mnt if z else s3
                pid = None
                if cfg == "zcfs+plan":
                    r = z.ctl(("plan " + a.plan_opts).strip() + "\n" + "".join(p + "\n" for p in order) + "\n")
                    if not r.startswith("ok"):
                        sys.exit(f"plan refused: {r}")
                    pid = int(r.split("plan=")[1].split()[0])
                secs = torch_epoch(root, order, compute, bed.top) if a.torch else epoch(root, order, a.readers, compute)
                if pid:
                    books.setdefault(cfg, []).append(status(z, pid))
                res.setdefault(cfg, []).append(secs)
                print(f"rep {rep + 1} {cfg:10s} {secs:7.2f} s", file=sys.stderr, flush=True)
                if z:
                    z.close()
                    bed.mounts.remove(z.mnt)
                remotebed.unmount(s3)
                bed.mounts.remove(s3)
    base = statistics.median(res[configs[0]])
    print(f"remote epoch: {a.files} files x {a.kib} KiB over s3fs + s3rver, {a.latency_ms:g} ms first-byte "
          f"latency, {'torch DataLoader 4 workers' if a.torch else f'{a.readers} readers'}, "
          f"{a.compute_ms:g} ms compute per file, zcfs -o {','.join(zopts)}"
          f"{', plan ' + a.plan_opts if a.plan_opts else ''}, median of {a.reps}, cold")
    print(f"{'config':10s} {'seconds':>8s} {'files/s':>8s} {'vs ' + configs[0]:>10s}  plan books (last run)")
    for cfg, v in res.items():
        med = statistics.median(v)
        b = books.get(cfg, [None])[-1]
        extra = "" if not b else (f"state={b['state']} hits={b['hits']} partial={b['partial']} "
                                  f"misses={b['misses']} prefetched={b['prefetched']} skipped={b['skipped']}")
        print(f"{cfg:10s} {med:8.2f} {a.files / med:8.0f} {base / med:9.2f}x  {extra}   ({', '.join(f'{x:.2f}' for x in v)})")


if __name__ == "__main__":
    main()
