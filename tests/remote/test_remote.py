#!/usr/bin/env python3
"""test_remote.py - zcfs over remote storage, on the self-starting bed of tests/pylib/remotebed.py
(s3rver + s3fs, sshd + sshfs, all on 127.0.0.1).

usage: test_remote.py ZCFS ZCFSCTL CASE      CASE: s3fs | sshfs | faults | nodes

s3fs, sshfs: the backing's capabilities as probed at mount (.zcfs/config, zcfsctl doctor of the
  mount point and of the backing); every read mode byte-identical, chosen per directory (and per
  file) by user.zcfs.mode set through the mount, which zcfs keeps itself since neither backing
  stores xattrs (set/get/list/remove semantics, renames, -o state_dir surviving a remount); the
  coherence cases these backings' own semantics allow (close-to-open: a file written through zcfs
  is whole in the backing after close; a file replaced, created or deleted behind zcfs is seen at
  the next open/lookup); what they do not have fails with an errno (hard links on s3fs, other
  user xattrs), never a wrong answer; and everything re-read correctly after the kernel dropped
  every dentry and inode (the backing renumbers its inodes, zcfs's handles of them go stale).
faults: the S3 server killed mid-epoch (with a plan running): the reader gets EIO within
  remotebed.S3FS_FAIL_SECS, no read hangs longer; with the server back, the same mount reads
  every file correctly.
nodes: two nodes (two s3fs mounts of one bucket, a zcfs on each), each with a plan of its own
  shard (rank::world, as DistributedSampler): each node's plan and reads cover its shard only,
  and the two nodes' stats add up to the epoch.
Not covered here, because the backings cannot give it: byte-range locks between nodes (each zcfs
locks on its own node only), change notification from other clients (the backings send none:
other nodes' changes show at the next open or lookup), mtime finer than a second (s3fs), hard
links and ownership changes on s3fs."""
import errno
import hashlib
import mmap
import os
import random
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "pylib"))
import remotebed  # noqa: E402
from zcfstest import Mount, assert_clean_log, done, ok, prom, prom_samples, require_fuse  # noqa: E402

MODES = ["buffered", "direct", "mmap", "splice", "passthrough"]
SIZES = [0, 1, 4095, 4096, 65537, 300001, (1 << 20) + 123]


def data_for(name, size):
    """Deterministic bytes of a file: no two files alike, so a mix-up shows."""
    seed = hashlib.sha256(name.encode()).digest()
    out = bytearray()
    while len(out) < size:
        seed = hashlib.sha256(seed).digest()
        out += seed * 64
    return bytes(out[:size])


def read_all(path):
    with open(path, "rb", buffering=0) as f:
        out = b""
        while True:
            c = f.read(128 * 1024 + 7)  # odd sizes: reads not aligned to pages
            if not c:
                return out
            out += c


def read_mmap(path):
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return b""
        with mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
            return bytes(m)


def config(mnt):
    return dict(l.split("=", 1) for l in open(os.path.join(mnt, ".zcfs", "config")).read().splitlines()
                if "=" in l and not l.startswith("#"))


def zmount(bed, zcfs, backing, name, opts):
    mnt = os.path.join(bed.top, name)
    os.makedirs(mnt, exist_ok=True)
    m = Mount(zcfs, backing, mnt, opts, os.path.join(bed.top, name + ".zlog"))
    bed.track_mount(mnt)
    return m


def expect_errno(fn, want, what):
    try:
        fn()
    except OSError as e:
        assert e.errno in want, f"{what}: {errno.errorcode.get(e.errno)} not {[errno.errorcode[w] for w in want]}"
        return e.errno
    raise AssertionError(f"{what}: succeeded")


# ---- s3fs and sshfs: capabilities, every mode, kept xattrs, coherence ----

def populate(root):
    files = {}
    for mode in MODES:
        d = os.path.join(root, "m", mode)
        os.makedirs(d, exist_ok=True)
        for i, size in enumerate(SIZES):
            rel = f"m/{mode}/f{i}"
            files[rel] = data_for(rel, size)
            with open(os.path.join(root, rel), "wb") as f:
                f.write(files[rel])
    with open(os.path.join(root, "README"), "w") as f:  # a file in the root for the O_DIRECT probe
        f.write("remote test\n")
    return files


def check_caps(mnt, zcfsctl, backing, fstype, store):
    c = config(mnt)
    assert c["backing_fstype"] == fstype, c
    assert c["backing_remote"] == "yes" and c["backing_inodes"] == "volatile", c
    assert c["backing_xattrs"] == "no" and c["xattr_store"] == store, c
    assert c["backing_o_direct"] in ("yes", "no"), c  # a file in the root: decided, not unknown
    out = subprocess.run([zcfsctl, "doctor", mnt], capture_output=True, text=True).stdout
    lines = {l.split()[1]: l for l in out.splitlines() if l.split()[:1] in (["ok"], ["warning"])}
    assert "zcfs mount" in lines["backing"], out
    assert lines["xattr"].startswith("warning") and "kept by zcfs (" + store + ")" in lines["xattr"], out
    assert lines["inodes"].startswith("warning") and "volatile" in lines["inodes"], out
    out = subprocess.run([zcfsctl, "doctor", backing], capture_output=True, text=True).stdout
    assert f"fstype         {fstype}" in out and "xattr          no" in out, out
    ok(f"{fstype}: capabilities probed at mount, in .zcfs/config and zcfsctl doctor (mount and backing)")


def check_modes(mnt, files, z):
    before = z.stats()["modes"]
    for mode in MODES:
        os.setxattr(os.path.join(mnt, "m", mode), "user.zcfs.mode", mode.encode())
    # one file of the splice directory overrides its directory
    os.setxattr(os.path.join(mnt, "m/splice/f6"), "user.zcfs.mode", b"buffered")
    eff = os.getxattr(os.path.join(mnt, "m/splice/f6"), "user.zcfs.effective").decode()
    assert eff.startswith("mode=buffered source=xattr"), eff
    eff = os.getxattr(os.path.join(mnt, "m/direct/f2"), "user.zcfs.effective").decode()
    assert eff.startswith("mode=direct source=dir:m/direct"), eff
    for rel, want in files.items():
        got = read_all(os.path.join(mnt, rel))
        assert got == want, f"{rel}: {len(got)} bytes read, {len(want)} expected, differ"
        if rel.endswith(("f4", "f6")):
            assert read_mmap(os.path.join(mnt, rel)) == want, f"{rel} through mmap"
    after = z.stats()
    for mode in MODES[:4]:
        grew = after["modes"][mode]["opens"] - before[mode]["opens"]
        assert grew >= len(SIZES) - (1 if mode == "splice" else 0), f"{mode}: {grew} opens"
    pt = after["modes"]["passthrough"]["opens"] - before["passthrough"]["opens"]
    fb = sum(f["count"] for f in after["fallbacks"] if f["from"] == "passthrough")
    assert pt + fb >= len(SIZES), (pt, fb)
    ok(f"every read mode byte-identical, routed per directory and per file by kept xattrs "
       f"(passthrough: {pt} opens, {fb} fallbacks)")


def check_kept_xattrs(mnt, z, bed, zcfs, backing, opts):
    d = os.path.join(mnt, "m", "mmap")
    assert os.listxattr(d) == ["user.zcfs.mode"], os.listxattr(d)
    assert os.getxattr(d, "user.zcfs.mode") == b"mmap"
    expect_errno(lambda: os.setxattr(d, "user.zcfs.mode", b"mmap", os.XATTR_CREATE), [errno.EEXIST], "CREATE")
    expect_errno(lambda: os.setxattr(d, "user.zcfs.cache", b"none", os.XATTR_REPLACE), [errno.ENODATA], "REPLACE")
    expect_errno(lambda: os.setxattr(d, "user.zcfs.mode", b"fast"), [errno.EINVAL], "bad value")
    expect_errno(lambda: os.setxattr(d, "user.other", b"1"), [errno.EOPNOTSUPP], "other xattr")
    os.setxattr(d, "user.zcfs.cache", b"none")
    os.removexattr(d, "user.zcfs.cache")
    expect_errno(lambda: os.getxattr(d, "user.zcfs.cache"), [errno.ENODATA], "removed")
    # unprivileged users cannot change a directory they may not write (as on a local backing)
    pid = os.fork()
    if pid == 0:
        os.setgid(65534)
        os.setuid(65534)
        try:
            os.setxattr(d, "user.zcfs.mode", b"direct")
            os._exit(1)
        except OSError as e:
            os._exit(0 if e.errno == errno.EACCES else 2)
    assert os.waitpid(pid, 0)[1] == 0, "nobody changed a kept xattr of root's directory"
    os.rename(os.path.join(mnt, "m", "mmap"), os.path.join(mnt, "m", "mmap2"))
    assert os.getxattr(os.path.join(mnt, "m", "mmap2"), "user.zcfs.mode") == b"mmap"
    assert os.getxattr(os.path.join(mnt, "m/mmap2/f1"), "user.zcfs.effective").startswith(b"mode=mmap source=dir:m/mmap2")
    os.rename(os.path.join(mnt, "m", "mmap2"), os.path.join(mnt, "m", "mmap"))
    state = os.path.join(z_state(bed), "xattrs")
    text = open(state).read()
    assert "mmap\t-\tm/mmap\n" in text and "buffered\t-\tm/splice/f6\n" in text, text
    ok("kept xattrs: xattr semantics (CREATE, REPLACE, EINVAL, EOPNOTSUPP, EACCES), follow renames, saved in state_dir")
    z.close()
    z = zmount(bed, zcfs, backing, "z", opts)
    assert os.getxattr(os.path.join(mnt, "m", "direct"), "user.zcfs.mode") == b"direct"
    eff = os.getxattr(os.path.join(mnt, "m/splice/f6"), "user.zcfs.effective").decode()
    assert eff.startswith("mode=buffered source=xattr"), eff
    ok("kept xattrs survive a remount with the same -o state_dir")
    return z


def z_state(bed):
    p = os.path.join(bed.top, "state")
    os.makedirs(p, exist_ok=True)
    return p


def check_coherence(mnt, backing, direct, fstype):
    """direct: a directory where another client changes the files (the backing mount for s3fs,
    the sshd's own directory for sshfs)."""
    # close-to-open: written through zcfs, whole in the store after close
    blob = data_for("c2o", 200000)
    with open(os.path.join(mnt, "c2o"), "wb") as f:
        f.write(blob)
    assert read_all(os.path.join(backing, "c2o")) == blob
    # another client replaces a file (a new size): the next open through zcfs sees it
    old = read_all(os.path.join(mnt, "m/splice/f5"))
    new = data_for("replaced", 123457)
    tmp = os.path.join(direct, "m/splice/.f5.new")
    with open(tmp, "wb") as f:
        f.write(new)
    os.rename(tmp, os.path.join(direct, "m/splice/f5"))
    deadline = time.monotonic() + 5
    while read_all(os.path.join(mnt, "m/splice/f5")) != new:
        assert time.monotonic() < deadline, "replaced file not seen through zcfs within 5 s"
        time.sleep(0.2)
    assert old != new
    # created and deleted behind zcfs: found, then gone, at the next lookup (after entry_timeout)
    with open(os.path.join(direct, "born"), "wb") as f:
        f.write(b"new file")
    deadline = time.monotonic() + 5
    while not os.path.exists(os.path.join(mnt, "born")):
        assert time.monotonic() < deadline, "file created behind zcfs not found"
        time.sleep(0.2)
    assert read_all(os.path.join(mnt, "born")) == b"new file"
    os.unlink(os.path.join(direct, "born"))
    deadline = time.monotonic() + 5
    while os.path.exists(os.path.join(mnt, "born")):
        assert time.monotonic() < deadline, "file deleted behind zcfs still there"
        time.sleep(0.2)
    # names through zcfs
    os.mkdir(os.path.join(mnt, "newdir"))
    os.rename(os.path.join(mnt, "c2o"), os.path.join(mnt, "newdir", "moved"))
    assert read_all(os.path.join(backing, "newdir", "moved")) == blob
    os.unlink(os.path.join(mnt, "newdir", "moved"))
    # libfuse's high-level API (sshfs) renames a file unlinked while a release is still on its
    # way (close is asynchronous in FUSE: the direct read above) to .fuse_hidden*, removed when
    # that release arrives; until then rmdir fails with ENOTEMPTY, as it would on sshfs itself
    deadline = time.monotonic() + 5
    while True:
        try:
            os.rmdir(os.path.join(mnt, "newdir"))
            break
        except OSError as e:
            left = os.listdir(os.path.join(backing, "newdir"))
            assert e.errno == errno.ENOTEMPTY and all(n.startswith(".fuse_hidden") for n in left), (e, left)
            assert time.monotonic() < deadline, f"hidden files stay: {left}"
            time.sleep(0.1)
    assert not os.path.exists(os.path.join(backing, "newdir"))
    # what the backing lacks fails with its errno, never a wrong answer
    if fstype == "fuse.s3fs":
        expect_errno(lambda: os.link(os.path.join(mnt, "README"), os.path.join(mnt, "hard")),
                     [errno.EPERM, errno.ENOTSUP, errno.ENOSYS, errno.EOPNOTSUPP], "hard link on s3fs")
    ok("coherence: close-to-open write, replace/create/delete by another client seen at next open, names")


def check_renumbered(mnt, files, z):
    """The kernel forgets every dentry and inode: s3fs and sshfs renumber theirs, and zcfs's
    handles of them go stale. Every file still reads right."""
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2\n")
    for rel, want in files.items():
        if rel != "m/splice/f5":
            assert read_all(os.path.join(mnt, rel)) == want, rel
    stale = prom(mnt, "zcfs_stale_handles_total") if "zcfs_stale_handles_total" in open(
        os.path.join(mnt, ".zcfs", "stats")).read() else 0
    ok(f"every file read again after dropping dentries and inodes (stale handles seen: {stale:g})")


def case_backing(zcfs, zcfsctl, which):
    with remotebed.Bed() as bed:
        if which == "s3fs":
            bed.s3()
            backing = bed.s3fs()
            direct = os.path.join(bed.top, "other")  # another client: a second s3fs mount
            fstype = "fuse.s3fs"
        else:
            src = os.path.join(bed.top, "sshdata")
            os.mkdir(src)
            backing = bed.sshfs(src, opts=["dir_cache=no"])
            direct, fstype = src, "fuse.sshfs"
        files = populate(backing)
        if which == "s3fs":
            direct = bed.s3fs("other")
        ok(f"{which} bed up, {len(files)} files written through {backing}")
        opts = [f"state_dir={z_state(bed)}", "entry_timeout=0.5", "attr_timeout=0.5"]
        z = zmount(bed, zcfs, backing, "z", opts)
        mnt = z.mnt
        check_caps(mnt, zcfsctl, backing, fstype, os.path.join(z_state(bed), "xattrs"))
        check_modes(mnt, files, z)
        z = check_kept_xattrs(mnt, z, bed, zcfs, backing, opts)
        check_coherence(mnt, backing, direct, fstype)
        check_renumbered(mnt, files, z)
        z.close()
        assert_clean_log(os.path.join(bed.top, "z.zlog"))
    done()


# ---- faults: the store goes away mid-epoch, and comes back ----

def case_faults(zcfs, zcfsctl):
    with remotebed.Bed(latency_ms=2) as bed:
        bed.s3()
        backing = bed.s3fs()
        names = [f"e/{i:03d}" for i in range(48)]
        os.mkdir(os.path.join(backing, "e"))
        for n in names:
            with open(os.path.join(backing, n), "wb") as f:
                f.write(data_for(n, 64 * 1024))
        z = zmount(bed, zcfs, backing, "z", ["cache=none"])
        order = names[:]
        random.Random(3).shuffle(order)
        # a small window: most of the epoch is still in the store when it goes away
        r = z.ctl("plan window=256k depth=2\n" + "".join(p + "\n" for p in order) + "\n")
        assert r.startswith("ok"), r
        results, killed = [], threading.Event()

        def reader():
            failed = 0
            for n in order:
                t0 = time.monotonic()
                try:
                    good = read_all(os.path.join(z.mnt, n)) == data_for(n, 64 * 1024)
                    results.append((n, "ok" if good else "WRONG", time.monotonic() - t0, killed.is_set()))
                except OSError as e:
                    results.append((n, errno.errorcode.get(e.errno, str(e.errno)), time.monotonic() - t0,
                                    killed.is_set()))
                    failed += 1
                if failed == 2:  # each failure waits out s3fs's retries: two make the point
                    return
                time.sleep(0.01)

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        while len(results) < 8:
            time.sleep(0.01)
        bed.kill_s3()
        killed.set()
        t.join(timeout=4 * remotebed.S3FS_FAIL_SECS)
        assert not t.is_alive(), f"reader hung: {results}"
        after = [r for r in results if r[3]]
        worst = max(r[2] for r in results)
        assert "WRONG" not in {r[1] for r in results}, results
        # what was read ahead before the kill may still be served; then the store's error
        assert {r[1] for r in after if r[1] != "ok"} == {"EIO"}, f"after the kill: {after}"
        assert sum(r[1] == "ok" for r in after) <= 12, f"read after the kill: {after}"
        assert worst < remotebed.S3FS_FAIL_SECS, f"a read took {worst:.1f} s: {results}"
        ok(f"store killed mid-epoch (a plan running): {sum(r[1] == 'ok' for r in after)} files read "
           f"ahead still served, then EIO; the slowest read took {worst:.1f} s "
           f"(< {remotebed.S3FS_FAIL_SECS} s documented)")
        bed.restart_s3()
        for n in names:
            assert read_all(os.path.join(z.mnt, n)) == data_for(n, 64 * 1024), n
        prom(z.mnt, "zcfs_reads_total", 'mode="splice"')
        ok("store back: the same mount reads every file correctly")
        z.close()
    done()


# ---- nodes: two mounts of one bucket, a plan per shard, stats that add up ----

def case_nodes(zcfs, zcfsctl):
    world, size = 2, 48 * 1024
    with remotebed.Bed() as bed:
        bed.s3()
        first = bed.s3fs("node0-s3")
        names = [f"train/{i:03d}.bin" for i in range(40)]
        os.mkdir(os.path.join(first, "train"))
        for n in names:
            with open(os.path.join(first, n), "wb") as f:
                f.write(data_for(n, size))
        backings = [first] + [bed.s3fs(f"node{r}-s3") for r in range(1, world)]
        # each node names itself in its statistics (node=), as N machines would by host name
        nodes = [zmount(bed, zcfs, backings[r], f"node{r}", ["cache=none", f"node=node{r}", "name=data"])
                 for r in range(world)]
        order = names[:]
        random.Random(11).shuffle(order)  # the epoch's permutation, the same on every node
        plans = []
        for r, z in enumerate(nodes):
            shard = order[r::world]  # DistributedSampler: rank r takes every world-th index
            reply = z.ctl("plan\n" + "".join(p + "\n" for p in shard) + "\n")
            assert reply.startswith("ok"), reply
            plans.append((int(reply.split("plan=")[1].split()[0]), shard))
        threads = []
        for r, z in enumerate(nodes):
            def job(z=z, shard=plans[r][1]):
                for n in shard:
                    assert read_all(os.path.join(z.mnt, n)) == data_for(n, size), n
                    time.sleep(0.005)
            threads.append(threading.Thread(target=job))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        scraped = []  # what Prometheus would hold after scraping every node
        for r, z in enumerate(nodes):
            pid, shard = plans[r]
            st = dict(l.split("=", 1) for l in z.ctl(f"plan status {pid}").splitlines()[1:] if "=" in l)
            assert int(st["files"]) == len(shard) and int(st["position"]) == len(shard), st
            assert int(st["prefetched"]) + int(st["skipped"]) <= len(shard), st
            assert int(st["bytes"]) <= len(shard) * size, st
            assert int(st["hits"]) > 0, f"node {r}: the plan never was ahead of the job: {st}"
            assert prom(z.mnt, "zcfs_prefetch_parked") <= 1, "descriptors kept after the job opened its files"
            got = z.stats()["modes"]["splice"]["bytes"]
            assert got == len(shard) * size, f"node {r} read {got} bytes, its shard is {len(shard) * size}"
            scraped += prom_samples(open(os.path.join(z.mnt, ".zcfs", "stats")).read())
        series = [(n, tuple(sorted(l.items()))) for n, l, _ in scraped]
        assert len(series) == len(set(series)), "two nodes' statistics share a series"
        by_node = {}
        for n, labels, v in scraped:
            if n == "zcfs_read_bytes_total" and labels.get("mode") == "splice":
                assert labels.get("mount") == "data", labels
                by_node[labels["node"]] = v
        assert by_node == {f"node{r}": len(plans[r][1]) * size for r in range(world)}, by_node
        agg = sum(by_node.values())  # sum by (mode) (zcfs_read_bytes_total)
        assert agg == len(names) * size, agg
        ok(f"{world} nodes: each plan covered its shard of {len(names) // world} files only; "
           f"stats labelled by node add up to the epoch ({agg / 1e6:.1f} MB)")
        # a file published by one node is there for the other at its next lookup
        with open(os.path.join(nodes[1].mnt, "train", "from-node1"), "wb") as f:
            f.write(b"hello")
        deadline = time.monotonic() + 5
        while not os.path.exists(os.path.join(nodes[0].mnt, "train", "from-node1")):
            assert time.monotonic() < deadline, "node0 does not see node1's new file"
            time.sleep(0.2)
        assert read_all(os.path.join(nodes[0].mnt, "train", "from-node1")) == b"hello"
        ok("a file written on one node is read on the other (close-to-open through the store)")
        for r, z in enumerate(nodes):
            z.close()
            assert_clean_log(os.path.join(bed.top, f"node{r}.zlog"))
    done()


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in ("s3fs", "sshfs", "faults", "nodes"):
        sys.exit(__doc__)
    require_fuse()
    zcfs, zcfsctl, case = sys.argv[1:]
    try:
        remotebed.s3rver_path() if case != "sshfs" else remotebed.need("sshfs")
        remotebed.need("s3fs" if case != "sshfs" else "sshd")
    except remotebed.Missing as e:
        if os.environ.get("ZCFS_REQUIRE_MOUNT") == "1":
            raise SystemExit(f"FAIL: {e}")
        print(f"SKIP: {e}")
        sys.exit(77)
    t0 = time.monotonic()
    if case in ("s3fs", "sshfs"):
        case_backing(zcfs, zcfsctl, case)
    elif case == "faults":
        case_faults(zcfs, zcfsctl)
    else:
        case_nodes(zcfs, zcfsctl)
    print(f"# {case}: {time.monotonic() - t0:.1f} s")


if __name__ == "__main__":
    main()
