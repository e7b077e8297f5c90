# SPDX-License-Identifier: MIT
"""imgctl's container commands against the real imgd, real runc and a busybox image: run, ps,
start, stop, rm, logs (also -f), exec, push-file and adduser, their docker-like output, and their
errors. Every run gets HOME and XDG_CONFIG_HOME inside the test's temp dir and talks to imgd over
its unix socket. `sleep` as PID 1 ignores SIGTERM, so containers are stopped with -t 0 or 1."""
import base64
import ctypes
import json
import os
import re
import select
import subprocess
import time

import pytest

from conftest import IMGCTL, failed, free_port, imgctl_env, ok, one_line, run_imgctl
from containers import (busybox_layout, ctr, ctr_factory, status_of,  # noqa: F401
                        wait_exited, wait_for)

TIMEOUT = 60
FULL_ID = re.compile(r"[0-9a-f]{64}")
HEADINGS = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"

_libcrypt = ctypes.CDLL("libcrypt.so.1")
_libcrypt.crypt.restype = ctypes.c_char_p


def crypt(password, setting):
    return _libcrypt.crypt(password.encode(), setting.encode()).decode()


def ctl(d, *args, input=None, env=None, timeout=TIMEOUT):
    """Run imgctl to completion against d (an Imgd) over its unix socket."""
    return run_imgctl(d.tmp, args, server=f"unix://{d.socket}", env=env, timeout=timeout,
                      input=input)


def run(d, *args):
    """imgctl run; returns the full ID it printed."""
    cid = one_line(ok(ctl(d, "run", *args)))
    assert FULL_ID.fullmatch(cid), cid
    return cid


def table(text):
    """The rows of a docker-style table as lists of cells, after checking that every cell starts
    in its heading's column."""
    lines = text.splitlines()
    starts = [lines[0].index(h) for h in HEADINGS]
    assert lines[0].split("   ")[0] == HEADINGS[0] and starts == sorted(starts)
    rows = []
    for line in lines[1:]:
        cells = [line[a:b].rstrip() for a, b in zip(starts, starts[1:] + [len(line)])]
        assert all(line[a - 1] == " " for a in starts[1:]), line
        rows.append(cells)
    return rows


# ---- run, ps, exec, logs ----


def test_run_ps_exec_logs(ctr):
    d = ctr
    port = free_port()
    web = run(d, "--name", "web", "-p", f"{port}:80", "-e", "FOO=bar", "busybox:latest",
              "sh", "-c", 'echo hello; echo; echo "$FOO"; exec sleep 300')
    assert status_of(d, "web")["full_id"] == web
    done = run(d, "busybox", "sh", "-c", "echo done; exit 3")
    (made,) = [c for c in d.get("/api/v1/containers").json()["containers"]
               if c["full_id"] == done]
    assert re.fullmatch(r"imgd-[0-9a-f]{8}", made["name"])  # no --name: one is made up
    wait_exited(d, made["name"])
    wait_for(lambda: logs_text(d, "web") == "hello\n\nbar\n", what="web's log")

    rows = table(ok(ctl(d, "ps")))  # running ones only
    assert rows == [[web[:12], "busybox:latest", '"sh -c echo hello; e\u2026"', rows[0][3],
                     rows[0][4], f"127.0.0.1:{port}->80/tcp", "web"]]
    assert re.fullmatch(r"(Less than a second|\d+ seconds?) ago", rows[0][3])
    assert re.fullmatch(r"Up (Less than a second|\d+ seconds?)", rows[0][4])

    rows = table(ok(ctl(d, "ps", "-a")))  # newest first
    assert [r[6] for r in rows] == [made["name"], "web"]
    assert rows[0][2] == '"sh -c echo done; ex\u2026"'
    assert re.fullmatch(r"Exited \(3\) (Less than a second|\d+ seconds?) ago", rows[0][4])
    assert rows[0][5] == ""
    assert table(ok(ctl(d, "ps", "-a", "--no-trunc")))[1][:3] == [
        web, "busybox:latest", '"sh -c echo hello; echo; echo \\"$FOO\\"; exec sleep 300"']

    assert ok(ctl(d, "ps", "-q")) == web[:12] + "\n"
    assert ok(ctl(d, "ps", "-aq")) == f"{done[:12]}\n{web[:12]}\n"
    listed = json.loads(ok(ctl(d, "ps", "--json")))["containers"]
    assert [c["name"] for c in listed] == ["web"]

    r = ctl(d, "exec", "web", "sh", "-c", "echo out; exit 7")
    assert (r.returncode, r.stdout, r.stderr) == (7, "out\n", "")
    # the options after the container belong to the command
    assert ok(ctl(d, "exec", "-e", "A=1", "-w", "/tmp", "web", "sh", "-c", "echo $A; pwd",
                  "-e")) == "1\n/tmp\n"
    r = ctl(d, "exec", "web", "nosuchcmd")
    assert r.returncode == 127 and "nosuchcmd" in r.stdout

    assert ok(ctl(d, "logs", "web")) == "hello\n\nbar\n"
    assert ok(ctl(d, "logs", "--tail", "1", "web")) == "bar\n"
    assert re.fullmatch(f"{TIMESTAMP} hello\n{TIMESTAMP} \n{TIMESTAMP} bar\n",
                        ok(ctl(d, "logs", "-t", "web")))
    assert ok(ctl(d, "logs", "--since", "10m", "web")) == "hello\n\nbar\n"
    assert ok(ctl(d, "logs", "--since", "2100-01-01T00:00:00Z", "web")) == ""
    ok(ctl(d, "rm", "-f", "web"))


def logs_text(d, name):
    r = d.get(f"/api/v1/containers/{name}/logs", params={"tail": "all"})
    return r.json()["container"]["logs"] if r.status_code == 200 else None


def test_run_options_reach_the_container(ctr, tmp):
    d = ctr
    vol = tmp / "vol"
    vol.mkdir()
    (vol / "a").write_text("from the host\n")
    r = ctl(d, "run", "--name", "opts", "-v", f"{vol}:/data:ro", "-w", "/data", "-u", "0",
            "--memory", "64m", "--cpus", "0.5", "--pids-limit", "50", "--label", "team=infra",
            "--label", "flag", "--network", "host", "-e", "FROM_HERE", "-e", "UNSET_HERE",
            "-e", "K=v", "--entrypoint", "/bin/sh", "busybox",
            "-c", 'cat a; touch b 2>/dev/null || echo ro; echo "$FROM_HERE $K ${UNSET_HERE-unset}"',
            env={"FROM_HERE": "passed"})
    assert FULL_ID.fullmatch(one_line(ok(r)))
    c = wait_exited(d, "opts")
    assert c["exit_code"] == 0
    assert logs_text(d, "opts") == "from the host\nro\npassed v unset\n"
    assert c["volumes"] == [{"host": str(vol), "container": "/data", "readonly": True}]
    assert (c["workdir"], c["user"], c["network"]) == ("/data", "0", "host")
    assert (c["memory"], c["cpus"], c["pids_limit"]) == (64 << 20, 0.5, 50)
    assert c["labels"] == {"team": "infra", "flag": ""}
    assert c["entrypoint"] == ["/bin/sh"]

    # a command word keeps its spaces; --create-only makes a container that start starts
    run(d, "--name", "later", "--create-only", "busybox", "echo", "a  b")
    assert status_of(d, "later")["status"] == "created"
    assert table(ok(ctl(d, "ps", "-a")))[0][4] == "Created"
    assert ok(ctl(d, "start", "later")) == "later\n"
    wait_exited(d, "later")
    assert logs_text(d, "later") == "a  b\n"


# ---- logs -f ----


def test_logs_follow_streams_until_the_container_exits(ctr, tmp):
    d = ctr
    gate = tmp / "gate"
    gate.mkdir()
    run(d, "--name", "talker", "-v", f"{gate}:/gate", "busybox", "sh", "-c",
        "echo one; echo; while [ ! -e /gate/go ]; do sleep 0.05; done; echo two")
    p = subprocess.Popen([str(IMGCTL), "--server", f"unix://{d.socket}", "logs", "-f", "talker"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=imgctl_env(tmp))
    try:
        # the first lines come while the container still waits: they were streamed
        got = b""
        deadline = time.monotonic() + 10
        while got != b"one\n\n" and time.monotonic() < deadline:
            if select.select([p.stdout], [], [], 0.2)[0]:
                got += os.read(p.stdout.fileno(), 4096)
        assert got == b"one\n\n"
        assert p.poll() is None and status_of(d, "talker")["status"] == "running"
        (gate / "go").touch()
        out, err = p.communicate(timeout=15)
    finally:
        p.kill()
        p.wait()
    assert (p.returncode, got + out, err) == (0, b"one\n\ntwo\n", b"")
    wait_exited(d, "talker")
    # after the exit -f prints the whole log and ends; -t keeps the times
    assert ok(ctl(d, "logs", "-f", "talker")) == "one\n\ntwo\n"
    assert re.fullmatch(f"{TIMESTAMP} one\n{TIMESTAMP} \n{TIMESTAMP} two\n",
                        ok(ctl(d, "logs", "-f", "-t", "talker")))
    failed(ctl(d, "logs", "-f", "nosuch"), "404", "container 'nosuch' not found")


# ---- stop, start, rm ----


def test_stop_start_rm(ctr):
    d = ctr
    run(d, "--name", "s1", "busybox", "sleep", "300")
    run(d, "--name", "s2", "busybox", "sleep", "300")
    failed(ctl(d, "rm", "s1"), "409", "container 's1' is running")
    assert status_of(d, "s1")["status"] == "running"

    t0 = time.monotonic()
    assert ok(ctl(d, "stop", "-t", "1", "s1", "s2")) == "s1\ns2\n"
    assert time.monotonic() - t0 < 10
    for name in ("s1", "s2"):
        c = status_of(d, name)
        assert (c["status"], c["exit_code"]) == ("exited", 137)  # SIGTERM ignored: killed
    assert table(ok(ctl(d, "ps"))) == []

    assert ok(ctl(d, "start", "s2")) == "s2\n"
    assert status_of(d, "s2")["status"] == "running"
    assert ok(ctl(d, "rm", "s1")) == "s1\n"
    assert d.get("/api/v1/containers/s1").status_code == 404
    # a name that fails does not stop the others; the exit status says so
    r = ctl(d, "stop", "-t", "0", "nosuch", "s2")
    assert r.returncode == 1 and r.stdout == "s2\n"
    assert "container 'nosuch' not found" in one_line(r.stderr)
    ok(ctl(d, "start", "s2"))
    assert ok(ctl(d, "rm", "-f", "s2")) == "s2\n"
    assert d.get("/api/v1/containers/s2").status_code == 404


# ---- push-file, adduser ----


def test_push_file(ctr, tmp):
    d = ctr
    run(d, "--name", "box", "busybox", "sleep", "300")
    text = tmp / "hello.txt"
    text.write_text("hello from the host\n")
    text.chmod(0o750)
    assert ok(ctl(d, "push-file", text, "box:/tmp/hello.txt")) == \
        "Successfully copied 20B to box:/tmp/hello.txt\n"
    assert ok(ctl(d, "exec", "box", "cat", "/tmp/hello.txt")) == "hello from the host\n"
    assert ok(ctl(d, "exec", "box", "stat", "-c", "%a", "/tmp/hello.txt")) == "750\n"  # kept

    blob = bytes(range(256)) * 40  # not UTF-8, with NULs: goes as base64
    r = subprocess.run([str(IMGCTL), "--server", f"unix://{d.socket}", "push-file", "--mode",
                        "0600", "-", "box:/etc/blob"], input=blob, capture_output=True,
                       env=imgctl_env(tmp), timeout=TIMEOUT)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"Successfully copied 10.24kB to "
                                                     b"box:/etc/blob\n", b"")
    got = d.get("/api/v1/containers/box/files",
                params={"path": "/etc/blob", "encoding": "base64"}).json()["file"]
    assert base64.b64decode(got["content"]) == blob and got["mode"] == "0600"

    # standard input has no mode to keep: imgd's default; --owner is the container's user
    ok(ctl(d, "adduser", "box", "dave"))
    assert ok(ctl(d, "push-file", "--owner", "dave", "-", "box:/tmp/piped", input="piped\n")) \
        == "Successfully copied 6B to box:/tmp/piped\n"
    assert ok(ctl(d, "exec", "box", "stat", "-c", "%a %U", "/tmp/piped")) == "644 dave\n"
    assert ok(ctl(d, "exec", "box", "cat", "/tmp/piped")) == "piped\n"

    failed(ctl(d, "push-file", tmp / "nosuch", "box:/x"), "nosuch", "No such file")
    failed(ctl(d, "push-file", text, "nosuch:/x"), "404", "container 'nosuch' not found")
    failed(ctl(d, "push-file", text, "box:relative"), "CONTAINER:/PATH", code=2)


def test_adduser_password_from_stdin(ctr):
    d = ctr
    run(d, "--name", "box", "busybox", "sleep", "300")
    r = ctl(d, "adduser", "--password-stdin", "--shell", "/bin/sh", "box", "alice",
            input="s3cret\n")
    assert ok(r) == "Added user alice (uid 1000, gid 1000, home /home/alice) to box\n"
    assert "s3cret" not in r.stdout + r.stderr
    out = ok(ctl(d, "exec", "box", "su", "alice", "-c", "id"))
    assert out.startswith("uid=1000(alice) gid=1000(alice)")
    (entry,) = [ln for ln in ok(ctl(d, "exec", "box", "cat", "/etc/shadow")).splitlines()
                if ln.startswith("alice:")]
    hashed = entry.split(":")[1]
    assert crypt("s3cret", hashed) == hashed  # the line end is not part of the password

    failed(ctl(d, "adduser", "--password-stdin", "box", "alice", input="other\n"),
           "409", "already exists")
    failed(ctl(d, "adduser", "--password-stdin", "box", "bob", input=""), "empty")
    assert ok(ctl(d, "adduser", "--uid", "1500", "--home", "/srv/bob", "box", "bob")) == \
        "Added user bob (uid 1500, gid 1500, home /srv/bob) to box\n"
    # there is no way to give the password on the command line, and a try is not echoed
    line = failed(ctl(d, "adduser", "--password=hunter2", "box", "carol"),
                  "'--password-stdin' takes no value", code=2)
    assert "hunter2" not in line


# ---- errors ----


@pytest.mark.parametrize("args, words", [
    (["exec", "nosuch", "true"], ["404", "container 'nosuch' not found"]),
    (["logs", "nosuch"], ["404", "container 'nosuch' not found"]),
    (["start", "nosuch"], ["404", "container 'nosuch' not found"]),
    (["stop", "nosuch"], ["404", "container 'nosuch' not found"]),
    (["rm", "-f", "nosuch"], ["404", "container 'nosuch' not found"]),
    (["adduser", "nosuch", "bob"], ["404", "container 'nosuch' not found"]),
    (["run", "nosuch:img"], ["404", "image 'nosuch:img' not found"]),
    (["run", "--network", "bridge", "busybox"], ["400", "network 'bridge' is not supported"]),
])
def test_errors_carry_the_message_of_imgd(ctr, args, words):
    failed(ctl(ctr, *args), *words)


def test_run_with_a_taken_name_fails(ctr):
    run(ctr, "--name", "dup", "busybox", "sleep", "300")
    failed(ctl(ctr, "run", "--name", "dup", "busybox", "true"), "409", "'dup' is already in use")


@pytest.mark.parametrize("args, needle", [
    (["run"], "usage: imgctl run"),
    (["run", "-p", "80", "busybox"], "-p '80'"),
    (["run", "-p", "127.0.0.1:80:80", "busybox"], "address"),
    (["run", "-p", "80:80", "-p", "80:81", "busybox"], "host port 80 is published twice"),
    (["run", "--cpus", "lots", "busybox"], "--cpus"),
    (["run", "-e", "=x", "busybox"], "-e needs KEY=VALUE"),
    (["ps", "extra"], "ps takes no arguments"),
    (["-q", "ps"], "ps does not take --quiet before the command word"),
    (["ps", "--server", "x"], "unknown option '--server'"),
    (["stop", "-t", "soon", "c"], "-t needs a whole number"),
    (["logs", "--tail", "some", "c"], "--tail"),
    (["logs", "c", "d"], "usage: imgctl logs"),
    (["exec", "c"], "usage: imgctl exec"),
    (["exec", "--timeout", "0", "c", "true"], "--timeout"),
    (["push-file", "--mode", "999", "f", "c:/f"], "--mode"),
    (["rm", ""], "an argument is empty"),
])
def test_usage_errors(tmp, args, needle):
    r = subprocess.run([str(IMGCTL), "--server", f"unix://{tmp}/none.sock"] + args,
                       capture_output=True, text=True, env=imgctl_env(tmp), timeout=TIMEOUT)
    line = failed(r, needle, code=2)
    assert "imgctl --help" in line


def test_help_lists_the_container_commands(tmp):
    r = subprocess.run([str(IMGCTL), "--help"], capture_output=True, text=True,
                       env=imgctl_env(tmp), timeout=TIMEOUT)
    assert r.returncode == 0
    for word in ("run [--name N]", "imgd-XXXXXXXX", "ps [-a]", "stop [-t SECONDS]", "rm [-f]",
                 "logs [-f]", "exec [-u USER]", "push-file", "adduser [--password-stdin]"):
        assert word in r.stdout
    r = subprocess.run([str(IMGCTL), "run", "--help"], capture_output=True, text=True,
                       env=imgctl_env(tmp), timeout=TIMEOUT)
    assert r.returncode == 0 and r.stdout.startswith("Usage: imgctl [OPTION]... run ")
