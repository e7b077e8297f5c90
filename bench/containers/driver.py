# SPDX-License-Identifier: MIT
"""Driver of bench/containers/run.sh: container lifecycles through imgd's API, podman's REST API
and a bare OCI runtime, for each runtime asked for (runc, crun), interleaved round by round, each
phase timed with time.perf_counter().

The tools of a run, for each runtime X: imgd(X) (an imgd started with --runtime X), podman(X) (a
podman service whose runtime is X), and X itself, bare: the floor.

One cycle of a tool is four timed phases on one new container running `sleep 300`:
  create+start  imgd: POST /api/v1/containers (start defaults to true; answers once it runs)
                podman: POST /libpod/containers/create, then POST /libpod/containers/{id}/start
                bare: `X run -d --pid-file F -b BUNDLE ID` (stdio: /dev/null, stderr a file);
                      crun on a hybrid cgroup host runs as imgd's monitor runs it, in a mount
                      namespace of its own made private, /sys/fs/cgroup/unified unmounted (one
                      unshare per create): through bench/containers/private-exec.c, or without
                      it in a preexec_fn (which costs a fork of the driver, ~1 ms more)
  exec          imgd: POST /api/v1/containers/{name}/exec {"command": ["echo", "hi"]}
                podman: POST /libpod/containers/{id}/exec, then POST /libpod/exec/{id}/start
                        {"Detach": false} (output attached, read to its end)
                bare: `X exec ID echo hi` (output through a pipe; from the host's namespace)
  stop          imgd: POST /api/v1/containers/{name}/stop?timeout=0
                podman: POST /libpod/containers/{id}/stop?timeout=0
                bare: `X kill ID KILL`, then wait until the process has exited
  remove        imgd: DELETE /api/v1/containers/{name}
                podman: DELETE /libpod/containers/{id}
                bare: `X delete ID`
What each answer says (status, output "hi", exit code) is checked outside the timed part.

Usage (run.sh passes these): driver.py --rounds N --warmup N --out RAW_FILE
    --imgd X=127.0.0.1:PORT ... --podman X=SOCKET ...
    --bare X=ROOT:BUNDLE[:private[=PRIVATE_EXEC]] ...
(each option once per runtime X; the tools run in the order imgd, podman, bare, runtimes in the
order given)
"""
import argparse
import ctypes
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchlib import call  # noqa: E402

PHASES = ("create+start", "exec", "stop", "remove")
PODMAN_API = "/v4.0.0/libpod"
IMGD_IMAGE = "bench/busybox:latest"
PODMAN_IMAGE = "localhost/bench/busybox:latest"
COMMAND = ["sleep", "300"]
EXEC = ["echo", "hi"]


class BenchError(Exception):
    pass


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix socket (podman's service): only connect() differs."""

    def __init__(self, path, timeout=120):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def expect(ok, what, detail):
    if not ok:
        raise BenchError(f"{what}: {detail!r}")


def demux(raw):
    """Docker's multiplexed stream (8-byte frame headers) to (stdout, stderr) bytes; a raw stream
    without headers is returned as stdout."""
    out, err, i = b"", b"", 0
    while i + 8 <= len(raw) and raw[i] in (0, 1, 2) and raw[i + 1:i + 4] == b"\0\0\0":
        n = int.from_bytes(raw[i + 4:i + 8], "big")
        chunk = raw[i + 8:i + 8 + n]
        if raw[i] == 2:
            err += chunk
        else:
            out += chunk
        i += 8 + n
    if i == 0:
        return raw, b""
    return out, err


class Imgd:
    kind = "imgd"

    def __init__(self, runtime, addr):
        self.runtime = runtime
        self.name = f"imgd({runtime})"
        host, port = addr.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=120)

    def cycle(self, cname):
        t = {}
        c = self.conn
        base = f"/api/v1/containers/{cname}"
        t0 = time.perf_counter()
        st, body = call(c, "POST", "/api/v1/containers",
                        {"image": IMGD_IMAGE, "name": cname, "command": COMMAND, "network": "none"})
        t["create+start"] = time.perf_counter() - t0
        expect(st == 200 and json.loads(body)["container"]["status"] == "running",
               "imgd create+start", body)

        t0 = time.perf_counter()
        st, body = call(c, "POST", base + "/exec", {"command": EXEC})
        t["exec"] = time.perf_counter() - t0
        ex = json.loads(body).get("execution", {}) if st == 200 else {}
        expect(ex.get("output") == "hi\n" and ex.get("exit_code") == 0, "imgd exec", body)

        t0 = time.perf_counter()
        st, body = call(c, "POST", base + "/stop?timeout=0")
        t["stop"] = time.perf_counter() - t0
        expect(st == 200 and json.loads(body)["container"]["status"] == "stopped",
               "imgd stop", body)

        t0 = time.perf_counter()
        st, body = call(c, "DELETE", base)
        t["remove"] = time.perf_counter() - t0
        expect(st == 200 and json.loads(body)["container"]["removed"] is True, "imgd remove", body)
        return t


class Podman:
    kind = "podman"

    def __init__(self, runtime, sock):
        self.runtime = runtime
        self.name = f"podman({runtime})"
        self.conn = UnixHTTPConnection(sock)
        self.checked = False

    def cycle(self, cname):
        t = {}
        c = self.conn
        t0 = time.perf_counter()
        st, body = call(c, "POST", PODMAN_API + "/containers/create",
                        {"name": cname, "image": PODMAN_IMAGE, "command": COMMAND,
                         "netns": {"nsmode": "none"}})
        st2, body2 = (None, None)
        if st == 201:
            cid = json.loads(body)["Id"]
            st2, body2 = call(c, "POST", f"{PODMAN_API}/containers/{cid}/start")
        t["create+start"] = time.perf_counter() - t0
        expect(st == 201, "podman create", body)
        expect(st2 == 204, "podman start", body2)
        base = f"{PODMAN_API}/containers/{cid}"
        if not self.checked:  # the runtime it runs (once, untimed)
            st, body = call(c, "GET", base + "/json")
            rt = json.loads(body).get("OCIRuntime") if st == 200 else None
            expect(os.path.basename(rt or "") == self.runtime,
                   f"{self.name} runs its containers with", rt)
            self.checked = True

        t0 = time.perf_counter()
        st, body = call(c, "POST", base + "/exec",
                        {"Cmd": EXEC, "AttachStdout": True, "AttachStderr": True})
        st2, body2 = (None, None)
        if st == 201:
            eid = json.loads(body)["Id"]
            st2, body2 = call(c, "POST", f"{PODMAN_API}/exec/{eid}/start",
                              {"Detach": False, "Tty": False})
        t["exec"] = time.perf_counter() - t0
        expect(st == 201, "podman exec create", body)
        expect(st2 == 200 and demux(body2)[0] == b"hi\n", "podman exec start", body2)
        # the exit code, untimed (podman's own CLI asks for it the same way, after the output)
        code = None
        for _ in range(100):
            st, body = call(c, "GET", f"{PODMAN_API}/exec/{eid}/json")
            info = json.loads(body) if st == 200 else {}
            if st == 200 and not info.get("Running"):
                code = info.get("ExitCode")
                break
            time.sleep(0.01)
        expect(code == 0, "podman exec exit code", body)

        t0 = time.perf_counter()
        st, body = call(c, "POST", base + "/stop?timeout=0")
        t["stop"] = time.perf_counter() - t0
        expect(st in (204, 304), "podman stop", body)

        t0 = time.perf_counter()
        st, body = call(c, "DELETE", base)
        t["remove"] = time.perf_counter() - t0
        expect(st == 200, "podman remove", body)
        return t


class Bare:
    """A bare runtime: the floor. The driver is the child subreaper (as imgd's monitor and conmon
    are), so the container's init becomes its child when `X run -d` exits, and it can wait for it.
    With private (crun on a hybrid cgroup host), `X run -d` runs as imgd's monitor runs it: in a
    private mount namespace without /sys/fs/cgroup/unified, set up by PRIVATE_EXEC (or in the
    forked child before the exec without one); exec, kill and delete run in the host's
    namespace, as imgd runs them."""
    kind = "bare"

    def __init__(self, runtime, spec):
        parts = spec.split(":")
        self.runtime = self.name = runtime
        self.root, self.bundle = parts[0], parts[1]
        private = parts[2] if len(parts) > 2 else ""
        self.private = private.split("=", 1)[0] == "private"
        self.private_exec = private.split("=", 1)[1:]  # [] or [PRIVATE_EXEC]
        self.base = [runtime, "--root", self.root]
        self.libc = ctypes.CDLL(None, use_errno=True)
        if self.libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
            raise BenchError("prctl(PR_SET_CHILD_SUBREAPER) failed")

    def private_mounts(self):
        """In the child, before the exec (as child_exec_runtime() in src/monitor/monitor.c)."""
        libc = self.libc
        if libc.unshare(0x00020000) != 0:  # CLONE_NEWNS
            os._exit(126)
        if libc.mount(None, b"/", None, 0x4000 | 0x40000, None) != 0:  # MS_REC | MS_PRIVATE
            os._exit(126)
        libc.umount2(b"/sys/fs/cgroup/unified", 2)  # MNT_DETACH

    def run(self, *args, **kw):
        return subprocess.run(self.base + list(args), **kw)

    def cycle(self, cname):
        t = {}
        x = self.runtime
        pidfile = os.path.join(self.root, cname + ".pid")
        errfile = os.path.join(self.root, cname + ".err")
        argv = self.base + ["run", "-d", "--pid-file", pidfile, "-b", self.bundle, cname]
        pre = None
        if self.private:
            if self.private_exec:
                argv = self.private_exec + argv
            else:
                pre = self.private_mounts
        with open(errfile, "wb") as err:
            t0 = time.perf_counter()
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=err, preexec_fn=pre)
            t["create+start"] = time.perf_counter() - t0
        with open(errfile, "rb") as f:
            expect(r.returncode == 0, f"{x} run -d", f.read())
        with open(pidfile) as f:
            pid = int(f.read())

        t0 = time.perf_counter()
        r = self.run("exec", cname, *EXEC, stdin=subprocess.DEVNULL, capture_output=True)
        t["exec"] = time.perf_counter() - t0
        expect(r.returncode == 0 and r.stdout == b"hi\n", f"{x} exec", (r.stdout, r.stderr))

        t0 = time.perf_counter()
        r = self.run("kill", cname, "KILL", stdin=subprocess.DEVNULL, capture_output=True)
        if r.returncode == 0:
            os.waitpid(pid, 0)
        t["stop"] = time.perf_counter() - t0
        expect(r.returncode == 0, f"{x} kill", r.stderr)

        t0 = time.perf_counter()
        r = self.run("delete", cname, stdin=subprocess.DEVNULL, capture_output=True)
        t["remove"] = time.perf_counter() - t0
        expect(r.returncode == 0, f"{x} delete", r.stderr)
        for p in (pidfile, errfile):
            os.unlink(p)
        return t


def fmt_ms(v):
    return f"{v * 1000:.1f}"


def pairs(specs):
    """["runc=VALUE", ...] -> [("runc", "VALUE"), ...]"""
    out = []
    for spec in specs:
        rt, sep, value = spec.partition("=")
        if not sep or not value:
            raise BenchError(f"expected RUNTIME=VALUE, got {spec!r}")
        out.append((rt, value))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--imgd", action="append", default=[])
    ap.add_argument("--podman", action="append", default=[])
    ap.add_argument("--bare", action="append", default=[])
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    imgds = [Imgd(rt, v) for rt, v in pairs(a.imgd)]
    podmans = [Podman(rt, v) for rt, v in pairs(a.podman)]
    bares = [Bare(rt, v) for rt, v in pairs(a.bare)]
    tools = imgds + podmans + bares
    names = [x.name for x in tools]
    runtimes = [x.runtime for x in bares]
    if not runtimes or [x.runtime for x in imgds] != runtimes or \
            any(x.runtime not in runtimes for x in podmans):
        raise BenchError("each runtime needs an imgd and a bare runtime (and at most one podman)")
    with_podman = {x.runtime for x in podmans}

    for w in range(a.warmup):
        for tool in tools:
            tool.cycle(f"bench-warm{w}-{tool.kind}-{tool.runtime}")
    print(f"warm-up: {a.warmup} untimed cycle(s) per tool", file=sys.stderr)

    rows = []  # (round, tool, {phase: seconds})
    for rnd in range(a.rounds):
        k = rnd % len(tools)
        order = tools[k:] + tools[:k]
        for tool in order:
            t = tool.cycle(f"bench-{rnd}-{tool.kind}-{tool.runtime}")
            rows.append((rnd + 1, tool.name, t))
        print(f"  round {rnd + 1:2d}  " + "  ".join(
            f"{n} " + "/".join(fmt_ms(t[p]) for p in PHASES) for _, n, t in rows[-len(tools):])
            + "  (ms: create+start/exec/stop/remove)", file=sys.stderr)

    def values(tool, phase):
        if phase == "total":
            return [sum(t.values()) for _, n, t in rows if n == tool]
        return [t[phase] for _, n, t in rows if n == tool]

    allp = PHASES + ("total",)
    med = {(n, p): statistics.median(values(n, p)) for n in names for p in allp}

    lines = []
    w = 14
    lines.append(f"{'median ms':<14}" + "".join(f"{n:>{w}}" for n in names))
    for p in allp:
        lines.append(f"{p:<14}" + "".join(f"{fmt_ms(med[(n, p)]):>{w}}" for n in names))
    lines.append("(total: median of each cycle's four phases added up)")
    lines.append("")
    ratios = []  # (heading, numerator, denominator)
    for x in runtimes:
        ratios.append((f"imgd({x})/{x}", f"imgd({x})", x))
    for x in runtimes:
        if x in with_podman:
            ratios.append((f"podman({x})/imgd({x})", f"podman({x})", f"imgd({x})"))
    for x in runtimes:
        if x in with_podman:
            ratios.append((f"podman({x})/{x}", f"podman({x})", x))
    hw = max(len(h) for h, _, _ in ratios) + 2
    lines.append(f"{'ratio of medians':<{hw}}" + "".join(f"{p:>14}" for p in allp))
    for h, num, den in ratios:
        lines.append(f"{h:<{hw}}" + "".join(f"{med[(num, p)] / med[(den, p)]:>14.2f}"
                                            for p in allp))
    lines.append("")
    mw = 16
    lines.append(f"{'min / max ms':<14}" + "".join(f"{n:>{mw}}" for n in names))
    for p in PHASES:
        lines.append(f"{p:<14}" + "".join(
            f"{fmt_ms(min(values(n, p))) + ' / ' + fmt_ms(max(values(n, p))):>{mw}}"
            for n in names))
    lines.append("")
    for x in runtimes:
        i = f"imgd({x})"
        ci, cr = med[(i, "create+start")], med[(x, "create+start")]
        lines.append(f"{x}: aim 1, create+start within 1.5x of bare {x}: "
                     f"{'met' if ci <= 1.5 * cr else 'NOT met'} ({i} {fmt_ms(ci)} ms = "
                     f"{ci / cr:.2f}x {x}'s {fmt_ms(cr)} ms)")
        if x in with_podman:
            pm = f"podman({x})"
            cp, ei, ep = med[(pm, "create+start")], med[(i, "exec")], med[(pm, "exec")]
            lines.append(f"{x}: aim 2, create+start >= 3x faster than podman: "
                         f"{'met' if cp >= 3 * ci else 'NOT met'} ({pm}/{i} {cp / ci:.2f}; "
                         f"{pm}/{x} {cp / cr:.2f})")
            lines.append(f"{x}: aim 3, exec >= 2x faster than podman:         "
                         f"{'met' if ep >= 2 * ei else 'NOT met'} ({pm}/{i} {ep / ei:.2f})")
        else:
            lines.append(f"{x}: aims 2 and 3 (against podman): not measured, no podman({x})")
    print("\n".join(lines))

    with open(a.out, "w") as f:
        f.write("round tool " + " ".join(p + "_ms" for p in PHASES) + "\n")
        for rnd, n, t in rows:
            f.write(f"{rnd} {n} " + " ".join(f"{t[p] * 1000:.3f}" for p in PHASES) + "\n")


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        sys.exit(f"error: {e}")
