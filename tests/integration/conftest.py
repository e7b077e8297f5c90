# SPDX-License-Identifier: MIT
"""Fixtures that run the real imgd binary: a temp state and run dir, a free port on 127.0.0.1,
and the daemon's log printed when a test fails."""
import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("IMGD_BUILD", ROOT / "build"))
IMGD = BUILD / "imgd"
IMGCTL = BUILD / "imgctl"
SANITIZED = os.environ.get("IMGD_SANITIZED") == "1"
START_TIMEOUT = 30 if SANITIZED else 10


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def unix_request(path, method, url, body=None, headers=None):
    """One request over a unix socket; returns (status, headers dict, body bytes)."""
    conn = UnixHTTPConnection(path)
    try:
        conn.request(method, url, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def read_http_response(sock):
    """Read one HTTP/1.1 response with a Content-Length from a socket: (head text, body bytes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head.decode(errors="replace"), body


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


class Imgd:
    """A running imgd. Arguments are added to a private --state-dir/--run-dir/--listen."""

    def __init__(self, tmp, args=(), env=None, config=None, listen=True, wait=True, tcp=None):
        self.tmp = Path(tmp)
        self.state_dir = self.tmp / "state"
        self.run_dir = self.tmp / "run"
        self.socket = self.run_dir / "imgd.sock"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.tmp / "imgd.stderr"
        cmd = [str(IMGD), "--state-dir", str(self.state_dir), "--run-dir", str(self.run_dir)]
        if config is not None:
            cfg = self.tmp / "config.json"
            cfg.write_text(config if isinstance(config, str) else json.dumps(config))
            cmd += ["--config", str(cfg)]
        elif "--config" not in args:
            cmd += ["--config", "none"]
        if listen:
            cmd += ["--listen", f"127.0.0.1:{self.port}"]
        cmd += list(args)
        self.cmd = cmd
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("IMGD_")}
        full_env.update(env or {})
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=full_env)
        self.exit_code = None
        if wait:
            try:
                self.wait_ready()
            except Exception:
                self.stop(signal.SIGKILL)  # never leave a daemon behind a failed start
                raise

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"imgd exited with {self.proc.returncode}:\n{self.log()}")
            if self.answers():
                return
            time.sleep(0.02)
        raise RuntimeError(f"imgd did not become ready:\n{self.log()}")

    def wait_log(self, text, timeout=START_TIMEOUT):
        """Until the log holds text (a line written after the first listener answers, such as
        another listener's "listening on"); the log."""
        deadline = time.monotonic() + timeout
        while text not in self.log() and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.log()

    def answers(self):
        """True once imgd answers HTTP on its unix socket (or, without one, on TCP)."""
        try:
            if self.socket.exists():
                unix_request(str(self.socket), "GET", "/api/v1/health")
                return True
            if " ready (" in self.log():  # TCP only, maybe https: trust the log line
                return True
        except OSError:
            pass
        return False

    def get(self, path, **kw):
        kw.setdefault("timeout", 10)
        return requests.get(self.url + path, **kw)

    def request(self, method, path, **kw):
        kw.setdefault("timeout", 10)
        return requests.request(method, self.url + path, **kw)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.exit_code = self.proc.returncode
        self._log.close()
        return self.exit_code

    def sanitizer_report(self):
        text = self.log()
        return next((m for m in SANITIZER_MARKERS if m in text), None)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def tmp(request):
    d = tempfile.mkdtemp(prefix="imgd-test-")
    yield Path(d)
    subprocess.run(["rm", "-rf", d], check=False)


@pytest.fixture
def imgd_factory(request, tmp):
    """Start daemons with imgd_factory(args=..., env=..., config=...); each is stopped at the end
    and must exit 0 (and, under sanitizers, without a report)."""
    started = []
    counter = [0]

    def start(*args, **kw):
        counter[0] += 1
        d = tmp / f"d{counter[0]}"
        d.mkdir()
        inst = Imgd(d, *args, **kw)
        started.append(inst)
        return inst

    yield start
    stop_daemons(request, started)


def stop_daemons(request, started, then=None):
    """Stop the daemons a test started; print their logs when it failed or a sanitizer spoke,
    call then() (clean-up that needs them stopped), and fail the test when one exited other than
    expected (expect_exit, 0 by default) or with a sanitizer report."""
    failed = getattr(request.node, "rep_call", None) and request.node.rep_call.failed
    problems = []
    for inst in started:
        code = inst.stop() if inst.exit_code is None else inst.exit_code
        report = inst.sanitizer_report()
        if failed or report:
            print(f"\n--- imgd log ({' '.join(inst.cmd)}) ---\n{inst.log()}")
        if report:
            problems.append(f"sanitizer report in imgd log: {report}")
        if getattr(inst, "expect_exit", 0) is not None and code != getattr(inst, "expect_exit", 0):
            problems.append(f"imgd exited with {code}")
    if then:
        then()
    if problems and not failed:
        pytest.fail("; ".join(problems))


@pytest.fixture
def imgd(imgd_factory):
    return imgd_factory()


def run_imgd(args, env=None, timeout=20):
    """Run imgd to completion (for --print-config, --help, refused starts)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("IMGD_")}
    full_env.update(env or {})
    return subprocess.run([str(IMGD)] + list(args), capture_output=True, text=True,
                          env=full_env, timeout=timeout)


# ---- imgctl, as the imgctl test files run it ----

def imgctl_env(tmp, env=None):
    """The environment of an imgctl run: no IMGCTL_/IMGD_ settings of the caller's, a private
    HOME and XDG_CONFIG_HOME under tmp, then env."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("IMGCTL_", "IMGD_"))}
    full.update(HOME=str(Path(tmp) / "home"), XDG_CONFIG_HOME=str(Path(tmp) / "xdg"))
    full.update(env or {})
    return full


def run_imgctl(tmp, args, server=None, env=None, timeout=60, **kw):
    """Run imgctl to completion (against server when given); kw go to subprocess.run."""
    cmd = [str(IMGCTL)] + (["--server", str(server)] if server else []) + [str(a) for a in args]
    return subprocess.run(cmd, capture_output=True, text=True, env=imgctl_env(tmp, env),
                          timeout=timeout, **kw)


def ok(r, stderr=""):
    """r succeeded, wrote stderr (nothing by default) on stderr; its stdout."""
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    assert r.stderr == stderr
    return r.stdout


def one_line(text):
    """The single line of text (which must end with exactly one newline)."""
    assert text.endswith("\n") and text.count("\n") == 1, repr(text)
    return text[:-1]


def failed(r, *words, code=1, stdout=""):
    """r failed with exit code, one line on stderr holding words, and stdout as given."""
    assert r.returncode == code, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    assert r.stdout == stdout
    line = one_line(r.stderr)
    assert line.startswith("imgctl: ")
    for w in words:
        assert w in line, line
    return line


def aligned_table(text, headings):
    """The rows of an imgctl table as lists of cells, after checking the headings and that every
    cell starts in its heading's column."""
    lines = text.splitlines()
    assert lines[0].split() == headings, lines[0]
    starts = [lines[0].index(h) for h in headings]
    rows = []
    for line in lines[1:]:
        assert all(line[a - 1] == " " for a in starts[1:]), line
        rows.append([line[a:b].rstrip() for a, b in zip(starts, starts[1:] + [len(line)])])
    return rows
