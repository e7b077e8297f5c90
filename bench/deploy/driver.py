# SPDX-License-Identifier: MIT
"""Driver of bench/deploy/run.sh: times a nested deploy (loop device + read-only filesystem +
overlay + running container) until the container's first log line, and its teardown, through
imgd's ImageAPI face and through the floor (the same chain done by hand with losetup, mount and
the bare runtime), interleaved.

    driver.py --imgd 127.0.0.1:PORT --logs RUN_DIR/logs --floor DIR --runtime runc \
              --image squashfs=FILE [--image erofs=FILE] [--private-exec PATH] \
              --rounds 20 --warmup 1 --out FILE

Per cycle and tool:
  first line  from just before the first call (imgd's POST; the floor's losetup) until the line
              "first line" is in the container's log (imgd: the logfile its monitor writes; the
              floor: the file the runtime's stdout goes to), seen by an inotify watch on the
              log's directory (a thread blocked in read() on the inotify descriptor; on each
              IN_MODIFY of a candidate file it reads the file and looks for the line);
  started     imgd: the POST answered 201; the floor: `runtime run -d` exited (everything set up);
  teardown    imgd: PATCH ?state=exited, then DELETE; the floor: `runtime kill KILL` + waiting for
              the init's exit, `runtime delete`, umount of the overlay, its tmpfs and the
              filesystem, `losetup -d`.
Checked after each cycle, untimed: imgd's answers (201 running, 200 exited with exit code 0, 200),
GET /imageapi/v1/mount and /attach both [], no loop device on the file (sysfs, polled until it is
gone, then `losetup -j FILE`), no mount left below the floor's directory.
"""
import argparse
import calendar
import ctypes
import http.client
import json
import os
import select
import statistics
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchlib import call  # noqa: E402

SCRIPT = 'trap "exit 0" TERM; echo first line; sleep 300 & wait'
COMMAND = "/bin/sh -c '" + SCRIPT + "'"
FIRST = b"first line"
API = "/imageapi/v1"
FIRST_TIMEOUT = 30.0

IN_MODIFY = 0x2
IN_CLOSE_WRITE = 0x8
IN_CREATE = 0x100
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
EVENT = struct.Struct("iIII")


class BenchError(Exception):
    pass


def expect(ok, what, detail):
    if not ok:
        raise BenchError(f"{what}: {detail!r}")


# ---- the first line: an inotify watch on the logs' directory -----------------------------------

class Watcher:
    """One inotify descriptor on a directory. arm(match) starts a thread that blocks in read()
    until a file whose name match() accepts is modified and holds FIRST; it notes
    time.perf_counter() then. wait() joins it. The thread is started before the timed calls, so
    a line written while the main thread is still inside a call (blocked in recv(), the GIL
    released) is seen when it is written, not after the call."""

    def __init__(self, directory):
        self.dir = directory
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise BenchError(f"inotify_init1: {os.strerror(ctypes.get_errno())}")
        wd = self.libc.inotify_add_watch(self.fd, os.fsencode(directory),
                                         IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE)
        if wd < 0:
            raise BenchError(f"inotify_add_watch {directory}: {os.strerror(ctypes.get_errno())}")
        self.thread = None

    def drain(self):
        try:
            while os.read(self.fd, 65536):
                pass
        except BlockingIOError:
            pass

    def arm(self, match):
        self.drain()
        self.found = None  # (name, perf_counter)
        self.stop_r, self.stop_w = os.pipe()
        self.thread = threading.Thread(target=self._run, args=(match,), daemon=True)
        self.thread.start()

    def _check(self, name):
        try:
            with open(os.path.join(self.dir, name), "rb") as f:
                data = f.read(65536)
        except FileNotFoundError:
            return False
        if FIRST in data:
            self.found = (name, time.perf_counter())
            return True
        return False

    def _run(self, match):
        p = select.poll()
        p.register(self.fd, select.POLLIN)
        p.register(self.stop_r, select.POLLIN)
        while True:
            ready = {fd for fd, _ in p.poll()}
            if self.stop_r in ready:
                return
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                continue
            names, i = [], 0
            while i + EVENT.size <= len(buf):
                _, mask, _, n = EVENT.unpack_from(buf, i)
                name = buf[i + EVENT.size:i + EVENT.size + n].rstrip(b"\0").decode()
                i += EVENT.size + n
                if name and name not in names and match(name):
                    names.append(name)
            for name in names:
                if self._check(name):
                    return

    def wait(self, timeout):
        self.thread.join(timeout)
        alive = self.thread.is_alive()
        os.write(self.stop_w, b"x")
        self.thread.join()
        os.close(self.stop_r)
        os.close(self.stop_w)
        return None if alive and not self.found else self.found

    def calibrate(self, n=30):
        """The watcher's own delay: a line written to a file in the directory until the thread
        has seen it (ms), n times."""
        out = []
        path = os.path.join(self.dir, "calibrate.out")
        for _ in range(n):
            with open(path, "wb", buffering=0) as f:
                self.arm(lambda name: name == "calibrate.out")
                time.sleep(0.005)
                t = time.perf_counter()
                f.write(FIRST + b"\n")
                found = self.wait(5)
            expect(found, "watcher calibration", "no event")
            out.append((found[1] - t) * 1000)
            os.unlink(path)
        return out


def cri_stamp(logfile):
    """The realtime stamp (s since the epoch) of the log's first line, as imgd's monitor wrote
    it: "2026-12-02T02:02:12.955899616Z stdout F first line"."""
    with open(logfile, "rb") as f:
        line = f.readline().decode()
    stamp = line.split(" ", 1)[0]
    whole, _, frac = stamp.rstrip("Z").partition(".")
    secs = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return secs + float("0." + (frac or "0"))


# ---- imgd ----------------------------------------------------------------------------------------


def chain(fs, path):
    return {"kind": "overlay", "overlay": {"lower": [{
        "kind": "attach", "attach": {
            "attach": {"kind": "loopback",
                       "loopback": {"path": path, "base": "root", "ro": True}},
            "fs_type": fs, "mount_options": ["ro"]}}]}}


def losetup_j(path):
    out = subprocess.run(["losetup", "-j", path], capture_output=True, text=True).stdout
    return [line.split(":")[0] for line in out.splitlines()]


def loops_of(path):
    """The loop devices whose backing file is path, from sysfs (no process: cheap to poll)."""
    out = []
    for dev in os.listdir("/sys/block"):
        if dev.startswith("loop"):
            try:
                with open(f"/sys/block/{dev}/loop/backing_file") as f:
                    if f.read().rstrip("\n") == path:
                        out.append(dev)
            except OSError:
                pass
    return out


def loop_gone(path, t_end, timeout=2.0):
    """Seconds from t_end until no loop device is backed by path any more: LOOP_CLR_FD (imgd's
    DELETE, `losetup -d`) may leave the device to be cleared after the call returns. Then
    `losetup -j` must agree. None: still there after the timeout."""
    deadline = time.perf_counter() + timeout
    while loops_of(path):
        if time.perf_counter() > deadline:
            return None
        time.sleep(0.0005)
    gone = time.perf_counter() - t_end
    return gone if losetup_j(path) == [] else None


class Imgd:
    kind = "imgd"

    def __init__(self, fs, path, addr, watcher):
        self.fs, self.path, self.watcher = fs, path, watcher
        self.name = f"imgd({fs})"
        host, port = addr.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=120)
        self.seen = set(os.listdir(watcher.dir))

    def cycle(self, cname):
        t = {}
        c = self.conn
        body = {"name": cname, "command": COMMAND, "state": "running",
                "mount": chain(self.fs, self.path)}
        seen = self.seen
        self.watcher.arm(lambda n: n.endswith(".log") and n not in seen)
        real0 = time.time()
        t0 = time.perf_counter()
        st, out = call(c, "POST", API + "/container", body)
        t["started"] = time.perf_counter() - t0
        found = self.watcher.wait(FIRST_TIMEOUT) if st == 201 else self.watcher.wait(0)
        expect(st == 201, f"{self.name} POST", out)
        o = json.loads(out)
        expect(o.get("state") == "running", f"{self.name} POST state", o)
        log = o.get("logfile") or ""
        expect(found and found[0] == os.path.basename(log), f"{self.name} first line in {log}",
               (found, open(log, "rb").read() if os.path.exists(log) else "no log"))
        t["first"] = found[1] - t0
        # the monitor's own stamp of the line (realtime; its clock against the driver's)
        t["stamp"] = cri_stamp(log) - real0
        seen.add(os.path.basename(log))

        t1 = time.perf_counter()
        st, out = call(c, "PATCH", f"{API}/container?name={cname}&state=exited")
        t["patch"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        st2, out2 = call(c, "DELETE", f"{API}/container?name={cname}")
        t["delete"] = time.perf_counter() - t2
        t["teardown"] = t["patch"] + t["delete"]
        t_end = t2 + t["delete"]
        expect(st == 200, f"{self.name} PATCH", out)
        o = json.loads(out)
        expect(o.get("state") == "exited" and o.get("exit_code") == 0, f"{self.name} PATCH", o)
        expect(st2 == 200, f"{self.name} DELETE", out2)
        # nothing left (untimed)
        gone = loop_gone(self.path, t_end)
        expect(gone is not None, f"{self.name} loop device left on {self.path}",
               losetup_j(self.path))
        t["loop_gone"] = gone
        for what in ("mount", "attach"):
            st, out = call(c, "GET", f"{API}/{what}")
            expect(st == 200 and json.loads(out) == [],
                   f"{self.name} GET /{what} after DELETE", out)
        return t


# ---- the floor -----------------------------------------------------------------------------------

def mounts_below(d):
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f if line.split()[1].startswith(d + "/")]


class Floor:
    """The chain by hand, each step one process of the real tool, exec'd by the driver without
    a shell. The driver is the child subreaper, so the container's init becomes its child when
    `runtime run -d` exits and it can wait for its exit after the kill."""
    kind = "floor"

    def __init__(self, fs, path, base, runtime, private_exec, watcher):
        self.fs, self.path, self.watcher = fs, path, watcher
        self.name = f"floor({fs})"
        self.base = base
        self.rt = [runtime, "--root", os.path.join(base, "state")]
        self.private = [private_exec] if private_exec else []
        self.bundle = os.path.join(base, "bundle")
        self.lower = os.path.join(base, "lower")
        self.top = os.path.join(base, "top")
        self.merged = os.path.join(base, "merged")
        self.out = watcher.dir
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
            raise BenchError("prctl(PR_SET_CHILD_SUBREAPER) failed")

    @staticmethod
    def run(argv, what, **kw):
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output="stdout" not in kw, **kw)
        if r.returncode != 0:
            raise BenchError(f"{what}: {' '.join(argv)}: exit {r.returncode}: {r.stderr!r}")
        return r

    def cycle(self, cname):
        t = {}
        outname = cname + ".out"
        pidfile = os.path.join(self.base, cname + ".pid")
        errpath = os.path.join(self.base, cname + ".err")
        upper, work = os.path.join(self.top, "upper"), os.path.join(self.top, "work")
        with open(os.path.join(self.out, outname), "wb") as out, open(errpath, "wb") as err:
            self.watcher.arm(lambda n: n == outname)
            t0 = time.perf_counter()
            dev = self.run(["losetup", "--find", "--show", "--read-only", self.path],
                           "losetup").stdout.decode().strip()
            t["losetup"] = time.perf_counter() - t0
            self.run(["mount", "-t", self.fs, "-o", "ro", dev, self.lower], "mount")
            t["mount_fs"] = time.perf_counter() - t0
            self.run(["mount", "-t", "tmpfs", "-o", "nosuid,nodev,mode=0755", "tmpfs", self.top],
                     "mount tmpfs")
            os.mkdir(upper, 0o755)
            os.mkdir(work, 0o700)
            t["mount_tmpfs"] = time.perf_counter() - t0
            self.run(["mount", "-t", "overlay", "-o",
                      f"lowerdir={self.lower},upperdir={upper},workdir={work}", "overlay",
                      self.merged], "mount overlay")
            t["mount_overlay"] = time.perf_counter() - t0
            r = subprocess.run(self.private + self.rt + ["run", "-d", "--pid-file", pidfile,
                                                         "-b", self.bundle, cname],
                               stdin=subprocess.DEVNULL, stdout=out, stderr=err)
            t["started"] = time.perf_counter() - t0
            found = self.watcher.wait(FIRST_TIMEOUT if r.returncode == 0 else 0)
        with open(errpath, "rb") as f:
            expect(r.returncode == 0, f"{self.name} run -d", f.read())
        expect(found, f"{self.name} first line", open(os.path.join(self.out, outname), "rb").read())
        t["first"] = found[1] - t0
        with open(pidfile) as f:
            pid = int(f.read())

        t1 = time.perf_counter()
        self.run(self.rt + ["kill", cname, "KILL"], "kill")
        os.waitpid(pid, 0)
        self.run(self.rt + ["delete", cname], "delete")
        self.run(["umount", self.merged], "umount overlay")
        self.run(["umount", self.top], "umount tmpfs")
        self.run(["umount", self.lower], "umount fs")
        self.run(["losetup", "-d", dev], "losetup -d")
        t_end = time.perf_counter()
        t["teardown"] = t_end - t1
        # nothing left (untimed)
        gone = loop_gone(self.path, t_end)
        expect(gone is not None, f"{self.name} loop device left on {self.path}",
               losetup_j(self.path))
        t["loop_gone"] = gone
        expect(mounts_below(self.base) == [], f"{self.name} mounts left", mounts_below(self.base))
        for p in (pidfile, errpath, os.path.join(self.out, outname)):
            os.unlink(p)
        return t


# ---- report --------------------------------------------------------------------------------------

def ms(v):
    return f"{v * 1000:.1f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--imgd", required=True)
    ap.add_argument("--logs", required=True)
    ap.add_argument("--floor", required=True)
    ap.add_argument("--runtime", default="runc")
    ap.add_argument("--private-exec", default="")
    ap.add_argument("--image", action="append", required=True)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--aim-ms", type=float, default=50.0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    images = [tuple(s.split("=", 1)) for s in a.image]
    imgd_watch = Watcher(a.logs)
    floor_watch = Watcher(os.path.join(a.floor, "out"))
    cal = floor_watch.calibrate()
    pairs = []
    for fs, path in images:
        pairs.append((Imgd(fs, path, a.imgd, imgd_watch),
                      Floor(fs, path, a.floor, a.runtime, a.private_exec, floor_watch)))
    tools = [x for p in pairs for x in p]
    names = [x.name for x in tools]

    for w in range(a.warmup):
        for tool in tools:
            tool.cycle(f"deploy-warm{w}-{tool.kind}-{tool.fs}")
    print(f"warm-up: {a.warmup} untimed cycle(s) per tool", file=sys.stderr)

    rows = []  # (round, tool name, {key: seconds})
    for rnd in range(a.rounds):
        # the filesystems' order rotates, and within each imgd and the floor alternate
        k = rnd % len(pairs)
        order = []
        for p in pairs[k:] + pairs[:k]:
            order += list(p) if rnd % 2 == 0 else list(reversed(p))
        for tool in order:
            t = tool.cycle(f"deploy-{rnd}-{tool.kind}-{tool.fs}")
            rows.append((rnd + 1, tool.name, t))
        print(f"  round {rnd + 1:2d}  " + "  ".join(
            f"{n} {ms(t['first'])}/{ms(t['started'])}/{ms(t['teardown'])}"
            for _, n, t in rows[-len(tools):]) + "  (ms: first line/started/teardown)",
            file=sys.stderr)

    def vals(n, key):
        return [t[key] for _, name, t in rows if name == n and key in t]

    def med(n, key):
        return statistics.median(vals(n, key))

    lines = []
    w = 18
    lines.append(f"{'median ms':<22}" + "".join(f"{n:>{w}}" for n in names))
    rowdefs = [("first line", "first"), ("started", "started"), ("teardown", "teardown"),
               ("  PATCH exited", "patch"), ("  DELETE", "delete"),
               ("monitor's stamp", "stamp"), ("loop gone after", "loop_gone")]
    for label, key in rowdefs:
        lines.append(f"{label:<22}" + "".join(
            f"{ms(med(n, key)) if vals(n, key) else '-':>{w}}" for n in names))
    lines += ["(started: imgd's POST answered 201; the floor's `run -d` exited.",
              " monitor's stamp: the time in the first log line's CRI stamp, from the POST's",
              " start, by the realtime clock. loop gone after: from the end of the teardown",
              " until sysfs shows no loop device on the file, untimed, polled every 0.5 ms)"]
    lines.append("")
    lines.append(f"{'min / max ms':<22}" + "".join(f"{n:>{w}}" for n in names))
    for label, key in rowdefs[:3]:
        lines.append(f"{label:<22}" + "".join(
            f"{ms(min(vals(n, key))) + ' / ' + ms(max(vals(n, key))):>{w}}" for n in names))
    lines.append("")
    lines.append("the floor's steps, median ms from its start: " + "; ".join(
        f"{f.name}: " + ", ".join(f"{k} {ms(med(f.name, k))}" for k in
                                  ("losetup", "mount_fs", "mount_tmpfs", "mount_overlay", "started",
                                   "first"))
        for _, f in pairs))
    lines.append("")
    lines.append(f"{'imgd / floor':<22}" + "".join(f"{fs:>{w}}" for fs, _ in images))
    for label, key in rowdefs[:3]:
        lines.append(f"{label:<22}" + "".join(
            f"{med(i.name, key) / med(f.name, key):>{w}.2f}" for i, f in pairs))
    lines.append("")
    lines.append(f"watcher (inotify, a thread blocked in read()): a line written until seen, "
                 f"median {statistics.median(cal):.3f} ms, max {max(cal):.3f} ms "
                 f"({len(cal)} writes)")
    for i, _ in pairs:
        m = med(i.name, "first")
        lines.append(f"aim, {i.name} < {a.aim_ms:.0f} ms to first line: "
                     f"{'met' if m * 1000 < a.aim_ms else 'NOT met'} (median {ms(m)} ms, "
                     f"{sum(1 for v in vals(i.name, 'first') if v * 1000 < a.aim_ms)} of "
                     f"{len(vals(i.name, 'first'))} cycles under it)")
    print("\n".join(lines))

    keys = ["first", "started", "teardown", "patch", "delete", "stamp", "loop_gone", "losetup",
            "mount_fs", "mount_tmpfs", "mount_overlay"]
    with open(a.out, "w") as f:
        f.write("round tool " + " ".join(k + "_ms" for k in keys) + "\n")
        for rnd, n, t in rows:
            f.write(f"{rnd} {n} " + " ".join(
                f"{t[k] * 1000:.3f}" if k in t else "-" for k in keys) + "\n")
        f.write("watcher_calibration_ms " + " ".join(f"{v:.3f}" for v in cal) + "\n")


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        sys.exit(f"error: {e}")
