#!/usr/bin/env python3
"""tests/bench/perfile.py - the per-file cost: the workloads people run around a dataset, on the
backing directory (ext4) and through zcfs (default options; -o noopen; -o noopen,ro for the
read-only epochs), libfuse's passthrough_hp (kernel passthrough, as it comes), and bindfs and
mergerfs where installed (tests/bench/run installs them), with the
daemon's requests per entry for zcfs. Each configuration mounts afresh per repetition and the
order rotates between repetitions; the report gives medians, speed relative to ext4 (ext4 time /
time, 1.00 = as fast) and requests per file. Not a CI test: needs root and a quiet machine.

Workloads (files from /usr/include, a dataset of small files):
  epoch1/epoch2/epoch3  a DataLoader-like epoch (4 worker processes, batches of 32, each file read
                        whole after open+fstat with Python's open(), whose isatty costs an IOCTL
                        round trip on any FUSE filesystem) over N x 100 KiB, on a fresh mount
                        with the backing cached, then again twice on the same mount
  epoch4raw             a fourth epoch read with open(2)/read(2), as a C reader (no isatty)
  tarx, tarc            tar x of the tarball into the mount, tar c of the tree to a pipe
  diffr                 diff -r of the extracted tree against /usr/include (any difference fails)
  lsR1, lsR2            ls -lR of the tree, twice
  rsync                 rsync -a of the tree to a sibling inside the mount
  gitstatus1/2          git status in a repository of the tree (index stat of every file), twice
  gitclone              git clone --no-hardlinks of the repository into the mount, then
                        git fsck --full --strict of the clone
  findcold              find over the repository after dropping the kernel's caches
  rm                    rm -rf of the extracted tree and its copy
  sqlite                1,000 update transactions on a 20,000-row table, WAL (transactions/s)
  pgbench               pgbench -c 4 on PostgreSQL with its data directory there (tps), on a mount
                        of its own with allow_other (the postgres user must reach it)

usage: perfile.py --zcfs ZCFS [--pthp PASSTHROUGH_HP] [--quick] [--reps N] [--out DIR]
                  [--configs a,b] [--tests a,b]"""
import argparse, json, os, random, shutil, signal, statistics, subprocess, sys, tempfile, time
import multiprocessing as mp

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pylib"))


def sh(cmd, cwd=None, user=None, env=None):
    """Run cmd (a shell line); its wall time in seconds. Fails loudly."""
    if user:
        cmd = f"runuser -u {user} -- sh -c {sh_quote(cmd)}"
    t = time.monotonic()
    r = subprocess.run(cmd, shell=True, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    dt = time.monotonic() - t
    if r.returncode != 0:
        raise RuntimeError(f"{cmd}: exit {r.returncode}: {r.stderr.strip()[-300:]}")
    return dt


def sh_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def drop_caches():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


# ---- the DataLoader-like epoch ----

def _worker(root, names, batches, q, raw):
    for b in iter(q.get, None):
        for i in batches[b]:
            if raw:  # open(2)/fstat/read/close, as a C reader (no isatty: no IOCTL on FUSE)
                fd = os.open(os.path.join(root, names[i]), os.O_RDONLY)
                os.fstat(fd)
                while os.read(fd, 1 << 20):
                    pass
                os.close(fd)
                continue
            with open(os.path.join(root, names[i]), "rb") as f:  # Python's (PIL's, numpy's)
                os.fstat(f.fileno())
                while f.read(1 << 20):
                    pass


def epoch(root, names, seed, workers=4, batch=32, raw=False):
    order = list(range(len(names)))
    random.Random(seed).shuffle(order)
    batches = [order[i:i + batch] for i in range(0, len(order), batch)]
    q = mp.Queue()
    for b in range(len(batches)):
        q.put(b)
    for _ in range(workers):
        q.put(None)
    ps = [mp.Process(target=_worker, args=(root, names, batches, q, raw)) for _ in range(workers)]
    t = time.monotonic()
    for p in ps:
        p.start()
    for p in ps:
        p.join()
        if p.exitcode:
            raise RuntimeError(f"epoch worker exited {p.exitcode}")
    return time.monotonic() - t


# ---- configurations ----

class Config:
    def __init__(self, name, argv_fn, zcfs_stats, pg_argv_fn=None):
        """pg_argv_fn: the mount for pgbench (other users reach it), False: no pgbench."""
        self.name, self.argv_fn, self.zcfs_stats = name, argv_fn, zcfs_stats
        self.pg_argv_fn = pg_argv_fn
        self.proc = None

    def mount(self, src, mnt, log):
        if self.argv_fn is None:
            return src
        self.proc = subprocess.Popen(self.argv_fn(src, mnt), stdout=log, stderr=log)
        for _ in range(200):
            if any(l.split()[4] == mnt for l in open("/proc/self/mountinfo")):
                return mnt
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: exited {self.proc.returncode} before mounting")
            time.sleep(0.05)
        raise RuntimeError(f"{self.name}: not mounted after 10 s")

    def umount(self, mnt):
        if not self.proc:
            return
        if subprocess.call(["fusermount3", "-u", mnt], stderr=subprocess.DEVNULL) != 0:
            time.sleep(0.5)
            subprocess.call(["fusermount3", "-uz", mnt])
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def ops_of(root):
    try:
        with open(os.path.join(root, ".zcfs", "stats.json")) as f:
            return {k: v["count"] for k, v in json.load(f)["ops"].items()}
    except OSError:
        return None


# ---- workloads on one mounted configuration ----

def run_config(cfg, src, mnt, data, tests, reps_seed, log, res):
    """Mount cfg, run the workloads in order, record (seconds or rate, requests) in res."""
    root = None

    def rec(test, value, reqs, unit="s"):
        res.setdefault((test, cfg.name), []).append((value, reqs, unit))

    def timed(test, fn, entries, unit="s"):
        o0 = ops_of(root) if cfg.zcfs_stats else None
        try:
            v = fn()
        except RuntimeError as x:  # a configuration that cannot do it (passthrough_hp: EMFILE)
            rec(test, None, str(x).splitlines()[-1][-120:], unit)
            return
        o1 = ops_of(root) if cfg.zcfs_stats else None
        reqs = None
        if o0 is not None and o1 is not None:
            # the stats read itself costs a few requests: negligible against thousands of files
            reqs = {k: o1[k] - o0[k] for k in o1 if o1[k] - o0[k] and k != "forget"}
            reqs = (sum(reqs.values()) / entries, reqs)
        rec(test, v, reqs, unit)

    names, ntree = data["names"], data["ntree"]
    # every configuration's git status starts from an index refreshed on the backing (the one
    # before may have rewritten it)
    sh("git status --porcelain >/dev/null", cwd=os.path.join(src, "repo"))
    # the backing's copy of the dataset is in its page cache, the mount's is empty
    sh(f"cat {' '.join(os.path.join(src, 'ds', n) for n in names[:1])} >/dev/null")
    subprocess.run(f"find {src}/ds -type f -exec cat {{}} + >/dev/null", shell=True)
    root = cfg.mount(src, mnt, log)
    try:
        ds = os.path.join(root, "ds")
        if "epoch" in tests:
            timed("epoch1", lambda: epoch(ds, names, reps_seed), len(names))
            timed("epoch2", lambda: epoch(ds, names, reps_seed + 1), len(names))
            timed("epoch3", lambda: epoch(ds, names, reps_seed + 2), len(names))
            timed("epoch4raw", lambda: epoch(ds, names, reps_seed + 3, raw=True), len(names))
        if cfg.name.endswith("-ro"):
            return  # the read-only profile: epochs only
        w = os.path.join(root, "w")
        os.mkdir(w)
        if "tar" in tests:
            timed("tarx", lambda: sh(f"tar xf {data['tar']}", cwd=w), ntree)
        else:
            sh(f"tar xf {data['tar']}", cwd=w)
        if "ls" in tests:
            timed("lsR1", lambda: sh("ls -lR . >/dev/null", cwd=w), ntree)
            timed("lsR2", lambda: sh("ls -lR . >/dev/null", cwd=w), ntree)
        if "tar" in tests:
            timed("tarc", lambda: sh("tar cf - . | cat >/dev/null", cwd=w), ntree)
        if "diff" in tests:  # every byte of the extracted tree against the original: exit 1 fails
            timed("diffr", lambda: sh("diff -r --no-dereference include /usr/include >/dev/null", cwd=w), ntree)
        if "rsync" in tests:
            timed("rsync", lambda: sh("rsync -a include/ include2/", cwd=w), ntree)
        if "git" in tests:
            repo = os.path.join(root, "repo")
            timed("gitstatus1", lambda: sh("git status --porcelain >/dev/null", cwd=repo), ntree)
            timed("gitstatus2", lambda: sh("git status --porcelain >/dev/null", cwd=repo), ntree)
        if "clone" in tests:  # a clone out of the backing's repository, checked object by object
            c = os.path.join(root, "clone")
            timed("gitclone", lambda: sh(f"git clone -q --no-hardlinks {src}/repo {c} && "
                                         f"git -C {c} fsck --full --strict --no-progress"), ntree)
            subprocess.run(["rm", "-rf", c])
        if "find" in tests:
            drop_caches()
            timed("findcold", lambda: sh("find . >/dev/null", cwd=os.path.join(root, "repo")), ntree)
        if "rm" in tests:
            timed("rm", lambda: sh("rm -rf w", cwd=root), 2 * ntree)
        else:
            subprocess.run("rm -rf w", shell=True, cwd=root)
        if "sqlite" in tests:
            try:
                rec("sqlite", sqlite_tx(root, data), None, "tx/s")
            except RuntimeError as x:
                rec("sqlite", None, str(x).splitlines()[-1][-120:], "tx/s")
    finally:
        cfg.umount(mnt)
    if "pgbench" in tests and data.get("pg") and cfg.pg_argv_fn is not False:
        # PostgreSQL runs as its own user, who must reach the mount: a mount of its own with
        # allow_other (and default_permissions, which zcfs requires with it)
        saved, cfg.argv_fn = cfg.argv_fn, cfg.pg_argv_fn or cfg.argv_fn
        try:
            root = cfg.mount(src, mnt, log)
            rec("pgbench", pgbench(root, data), None, "tps")
        except (RuntimeError, subprocess.CalledProcessError) as x:
            rec("pgbench", None, str(x).strip().splitlines()[-1][-120:], "tps")
        finally:
            cfg.umount(mnt)
            cfg.argv_fn = saved


def sqlite_tx(root, data):
    """1,000 update transactions (WAL) on a 20,000-row table under root: transactions/s."""
    db = os.path.join(root, "t.db")
    sh(f"sqlite3 {db} 'pragma journal_mode=wal; create table t(k integer primary key, v);"
       f" with recursive c(x) as (select 1 union all select x+1 from c where x<20000)"
       f" insert into t select x, randomblob(100) from c;'")
    script = "".join(f"update t set v=randomblob(100) where k={(i * 7919) % 20000 + 1};\n"
                     for i in range(1000))
    with open(os.path.join(data["work"], "upd.sql"), "w") as f:
        f.write("pragma journal_mode=wal;\n" + script)
    t = sh(f"sqlite3 {db} < {data['work']}/upd.sql")
    for sfx in ("", "-wal", "-shm"):
        if os.path.exists(db + sfx):
            os.unlink(db + sfx)
    return 1000 / t


def pgbench(root, data):
    """PostgreSQL with its data directory under root: pgbench -c 4 (tps)."""
    pg = data["pg"]
    pgdata = os.path.join(root, "pgdata")
    sock = tempfile.mkdtemp(prefix="zcfs-pg.")
    os.chmod(sock, 0o777)
    os.mkdir(pgdata)
    shutil.chown(pgdata, "postgres", "postgres")
    port = 54329
    try:
        sh(f"{pg}/initdb -D {pgdata} -A trust -U postgres >/dev/null", user="postgres")
        sh(f"{pg}/pg_ctl -D {pgdata} -o '-p {port} -k {sock} -c listen_addresses=' -w -l {sock}/log start",
           user="postgres")
        try:
            sh(f"{pg}/pgbench -h {sock} -p {port} -i -s {data['pg_scale']} postgres", user="postgres")
            out = subprocess.run(f"runuser -u postgres -- {pg}/pgbench -h {sock} -p {port} -c 4 -j 2 -n "
                                 f"-T {data['pg_secs']} postgres", shell=True, capture_output=True,
                                 text=True, check=True).stdout
            tps = float([l for l in out.splitlines() if l.startswith("tps")][0].split()[2])
        finally:
            sh(f"{pg}/pg_ctl -D {pgdata} -m fast -w stop", user="postgres")
    finally:
        shutil.rmtree(sock, ignore_errors=True)
        shutil.rmtree(pgdata, ignore_errors=True)
    return tps


# ---- report ----

ORDER = ["epoch1", "epoch2", "epoch3", "epoch4raw", "tarx", "lsR1", "lsR2", "tarc", "diffr", "rsync",
         "gitstatus1", "gitstatus2", "gitclone", "findcold", "rm", "sqlite", "pgbench"]


def report(res, configs, meta, out):
    lines = [f"### Per-file cost ({meta})", "",
             "Medians. Speed: ext4's time / the configuration's time (rates: the ratio of rates); "
             "1.00 is as fast as ext4. req/f: daemon requests per file of the workload (zcfs).", ""]
    head = "| workload | ext4 |"
    sep = "|---|---|"
    for c in configs[1:]:
        head += f" {c} | speed |" + (" req/f |" if c.startswith("zcfs") else "")
        sep += "---|---|" + ("---|" if c.startswith("zcfs") else "")
    lines += [head, sep]
    csv = ["test,config,median,unit,speed_vs_ext4,requests_per_file"]
    fails = []
    for t in ORDER:
        base = res.get((t, "ext4"))
        if not base:
            continue
        unit = base[0][2]
        bgood = [v for v, _, _ in base if v is not None]
        if not bgood:  # the reference itself could not run it: say why, compare nothing
            lines.append(f"| {t} | fails |" + " – | – |" * (len(configs) - 1))
            fails.append(f"- {t} ext4: {base[-1][1]}")
            continue
        bmed = statistics.median(bgood)
        row = f"| {t} | {bmed:.3f} {unit} |"
        csv.append(f"{t},ext4,{bmed:.4f},{unit},1.00,")
        for c in configs[1:]:
            r = res.get((t, c))
            if not r:
                row += " – | – |" + (" – |" if c.startswith("zcfs") else "")
                continue
            good = [v for v, _, _ in r if v is not None]
            if not good:
                row += f" fails | – |" + (" – |" if c.startswith("zcfs") else "")
                csv.append(f"{t},{c},,{unit},,")
                fails.append(f"- {t} {c}: {r[-1][1]}")
                continue
            med = statistics.median(good)
            speed = (med / bmed) if unit != "s" else (bmed / med)
            rq = [q[0] for v, q, _ in r if q and v is not None]
            rqs = f"{statistics.median(rq):.2f}" if rq else "–"
            row += f" {med:.3f} | {speed:.2f}x |" + (f" {rqs} |" if c.startswith("zcfs") else "")
            csv.append(f"{t},{c},{med:.4f},{unit},{speed:.3f},{rqs if rq else ''}")
        lines.append(row)
    detail = ["", "Requests of the last repetition, by operation (zcfs):", ""]
    for t in ORDER:
        for c in configs:
            r = res.get((t, c))
            if r and r[-1][0] is not None and r[-1][1]:
                detail.append(f"- {t} {c}: {r[-1][1][1]}")
    if fails:
        detail += ["", "Failures (every repetition failed):", ""] + fails
    text = "\n".join(lines + detail) + "\n"
    with open(os.path.join(out, "perfile.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "perfile.csv"), "w") as f:
        f.write("\n".join(csv) + "\n")
    print(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zcfs", required=True)
    ap.add_argument("--pthp")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--out", default=None)
    ap.add_argument("--configs")
    ap.add_argument("--tests")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("perfile: needs root (drop_caches, mounts, PostgreSQL as its user)")
    reps = a.reps or (2 if a.quick else 3)
    nfiles = 1000 if a.quick else 3000
    tests = set((a.tests or "epoch,tar,ls,diff,rsync,git,clone,find,rm,sqlite,pgbench").split(","))
    zcfs = os.path.realpath(a.zcfs)
    ao = "allow_other,default_permissions"
    configs = {
        "ext4": Config("ext4", None, False),
        "zcfs": Config("zcfs", lambda s, m: [zcfs, "-f", s, m], True,
                       lambda s, m: [zcfs, "-f", "-o", ao, s, m]),
        "zcfs-noopen": Config("zcfs-noopen", lambda s, m: [zcfs, "-f", "-o", "noopen", s, m], True,
                              lambda s, m: [zcfs, "-f", "-o", "noopen," + ao, s, m]),
        "zcfs-noopen-ro": Config("zcfs-noopen-ro", lambda s, m: [zcfs, "-f", "-o", "noopen,ro", s, m],
                                 True, False),
    }
    if a.pthp:
        configs["pthp"] = Config("pthp", lambda s, m: [a.pthp, "--foreground", s, m], False,
                                 lambda s, m: [a.pthp, "--foreground", "-o", "allow_other", s, m])
    # the references of the table for find and listings, where Debian's are installed
    if shutil.which("bindfs"):
        configs["bindfs"] = Config("bindfs", lambda s, m: ["bindfs", "-f", "--multithreaded", s, m], False,
                                   lambda s, m: ["bindfs", "-f", "--multithreaded", "-o", "allow_other", s, m])
    if shutil.which("mergerfs"):
        configs["mergerfs"] = Config("mergerfs", lambda s, m: ["mergerfs", "-f", s, m], False,
                                     lambda s, m: ["mergerfs", "-f", "-o", "allow_other", s, m])
    names = [n for n in configs if not a.configs or n in a.configs.split(",") or n == "ext4"]
    work = tempfile.mkdtemp(prefix="zcfs-perfile.")
    os.chmod(work, 0o755)
    src, mnt = os.path.join(work, "src"), os.path.join(work, "mnt")
    os.makedirs(os.path.join(src, "ds"))
    os.mkdir(mnt)
    out = a.out or work
    os.makedirs(out, exist_ok=True)
    log = open(os.path.join(out, "perfile-daemon.log"), "ab")
    data = {"work": work, "tar": os.path.join(work, "include.tar")}
    try:
        sh(f"tar cf {data['tar']} -C /usr include")
        ntree = int(subprocess.check_output(f"tar tf {data['tar']} | wc -l", shell=True))
        data["ntree"] = ntree
        rnd = random.Random(1)
        data["names"] = [f"f{i:05d}.bin" for i in range(nfiles)]
        for n in data["names"]:
            with open(os.path.join(src, "ds", n), "wb") as f:
                f.write(rnd.randbytes(100 * 1024))
        repo = os.path.join(src, "repo")
        os.mkdir(repo)
        sh(f"tar xf {data['tar']} --strip-components=1", cwd=repo)
        sh("git init -q && git add -A && git -c user.email=b@zcfs.invalid -c user.name=bench "
           "commit -qm tree && git gc -q", cwd=repo)
        if "pgbench" in tests:
            pgs = sorted(d for d in os.listdir("/usr/lib/postgresql") if os.path.isdir(f"/usr/lib/postgresql/{d}/bin"))
            if pgs:
                data["pg"] = f"/usr/lib/postgresql/{pgs[-1]}/bin"
                data["pg_scale"], data["pg_secs"] = (5, 6) if a.quick else (10, 15)
            else:
                print("perfile: no PostgreSQL server installed: pgbench skipped", file=sys.stderr)
        res = {}
        for rep in range(reps):
            order = names[rep % len(names):] + names[:rep % len(names)]
            for n in order:
                t0 = time.monotonic()
                run_config(configs[n], src, mnt, data, tests, 1000 * rep, log, res)
                print(f"[rep {rep + 1}/{reps}] {n}: {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
        meta = (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, kernel {os.uname().release}, "
                f"{os.cpu_count()} cores, {reps} reps, {nfiles} x 100 KiB dataset, {ntree} tar entries"
                f"{', --quick' if a.quick else ''}")
        report(res, names, meta, out)
    finally:
        for c in configs.values():
            c.umount(mnt)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
