# SPDX-License-Identifier: MIT
"""imgctl against the real imgd: server selection, transports (TCP, unix socket, TLS), output
formats, error lines and exit statuses. Every run gets HOME and XDG_CONFIG_HOME inside the test's
temp dir, so the user's own config is never read or written."""
import json
import socket
import stat
import subprocess
import threading
import time

import pytest

from conftest import free_port, one_line, run_imgctl

TOKEN = "t0k-5f1c2e9a7d4b"


def ctl(tmp, *args, env=None, timeout=30):
    """Run imgctl to completion with a private HOME and XDG_CONFIG_HOME."""
    return run_imgctl(tmp, args, env=env, timeout=timeout)


def user_config(tmp):
    return tmp / "xdg" / "imgctl" / "config"


def dead_url():
    return f"http://127.0.0.1:{free_port()}"


def table_rows(stdout):
    return [line.split(None, 2) for line in stdout.splitlines() if line.strip()]


# ---- health ----

@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_health_table(imgd, tmp, transport):
    server = imgd.url if transport == "tcp" else f"unix://{imgd.socket}"
    r = ctl(tmp, "--server", server, "health")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    expected = imgd.get("/api/v1/health").json()
    rows = table_rows(r.stdout)
    assert rows[0] == ["STATUS", "healthy"]
    assert rows[1] == ["RUNTIME", expected["podman"]]
    assert rows[2] == ["COMPONENT", "STATUS", "MESSAGE"]
    assert [row[0] for row in rows[3:]] == ["db", "store", "runtime"]
    for name, status, message in rows[3:]:
        assert status == expected["components"][name]["status"]
        assert message == expected["components"][name]["message"]
    # the columns line up: every row starts its STATUS column at the same offset
    lines = [line for line in r.stdout.splitlines() if line.strip()][2:]
    offsets = {line.index(line.split()[1], len(line.split()[0])) for line in lines}
    assert len(offsets) == 1


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_health_json(imgd, tmp, transport):
    server = imgd.url if transport == "tcp" else f"unix://{imgd.socket}"
    r = ctl(tmp, "-s", server, "health", "-o", "json")
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["status"] == "healthy"
    assert body["podman"] in ("connected", "disconnected")
    assert set(body["components"]) >= {"db", "store", "runtime"}
    assert body["components"]["db"] == {"status": "ok", "message": "ok"}
    assert r.stdout.startswith('{\n  "components": {\n    "db": {')  # 2-space indent


def test_health_runtime_connected(imgd_factory, tmp):
    d = imgd_factory(args=["--runtime", "true"])
    r = ctl(tmp, "-s", d.url, "health")
    assert r.returncode == 0, r.stderr
    rows = table_rows(r.stdout)
    assert rows[1] == ["RUNTIME", "connected"]
    # the message is the runtime's --version line (here coreutils' `true`)
    assert ["runtime", "ok", "true (GNU coreutils) 9.1"] in rows or any(
        r[:2] == ["runtime", "ok"] and "true" in r[2] for r in rows)


def test_health_unhealthy_is_a_table_and_exit_1(imgd, tmp):
    """A 503 from /health is an answer, not a transport error: the table, then exit 1."""
    moved = imgd.state_dir.with_name("state-moved")
    imgd.state_dir.rename(moved)
    try:
        deadline = time.monotonic() + 10
        while True:  # the daemon caches its probe for a second
            r = ctl(tmp, "-s", imgd.url, "health")
            if r.returncode != 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert r.returncode == 1, r.stdout
        assert r.stderr == ""
        rows = table_rows(r.stdout)
        assert rows[0] == ["STATUS", "unhealthy"]
        store = next(row for row in rows if row[0] == "store")
        assert store[1] == "error" and str(imgd.state_dir) in store[2]
        j = ctl(tmp, "-s", imgd.url, "health", "-o", "json")
        assert j.returncode == 1
        assert json.loads(j.stdout)["status"] == "unhealthy"
    finally:
        moved.rename(imgd.state_dir)


# ---- choosing the server ----

def test_server_from_env(imgd, tmp):
    r = ctl(tmp, "health", env={"IMGCTL_SERVER": imgd.url})
    assert r.returncode == 0, r.stderr
    assert table_rows(r.stdout)[0] == ["STATUS", "healthy"]
    shown = ctl(tmp, "config", env={"IMGCTL_SERVER": imgd.url})
    assert shown.returncode == 0
    assert f"server: {imgd.url} (from IMGCTL_SERVER)" in shown.stdout.splitlines()
    assert "token: not set" in shown.stdout.splitlines()


def test_config_write_then_use(imgd, tmp):
    r = ctl(tmp, "config", "--server", imgd.url)
    assert r.returncode == 0, r.stderr
    path = user_config(tmp)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.read_text() == f"server={imgd.url}\n"
    assert r.stdout == f"wrote {path}\n"
    h = ctl(tmp, "health")
    assert h.returncode == 0, h.stderr
    shown = ctl(tmp, "config")
    assert f"server: {imgd.url} (from {path})" in shown.stdout.splitlines()


def test_config_write_keeps_other_lines(tmp):
    path = user_config(tmp)
    path.parent.mkdir(parents=True)
    path.write_text("# mine\ncolor = always\nserver = http://old:1\n\ntoken=keepme\n")
    r = ctl(tmp, "config", "--server", "unix:///run/imgd/imgd.sock")
    assert r.returncode == 0, r.stderr
    assert path.read_text() == ("# mine\ncolor = always\nserver=unix:///run/imgd/imgd.sock\n\n"
                                "token=keepme\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_config_without_xdg_uses_home(imgd, tmp):
    env = {"XDG_CONFIG_HOME": ""}
    r = ctl(tmp, "config", "--server", imgd.url, env=env)
    assert r.returncode == 0, r.stderr
    path = tmp / "home" / ".config" / "imgctl" / "config"
    assert path.read_text() == f"server={imgd.url}\n"
    assert not user_config(tmp).exists()
    assert ctl(tmp, "health", env=env).returncode == 0


def test_config_refuses_bad_server(tmp):
    r = ctl(tmp, "config", "--server", "ftp://example.org")
    assert r.returncode == 1
    assert "invalid server URL 'ftp://example.org'" in one_line(r.stderr)
    assert not user_config(tmp).exists()


def test_flag_beats_env_beats_file(imgd, tmp):
    file_url, env_url = dead_url(), dead_url()
    assert ctl(tmp, "config", "--server", file_url).returncode == 0
    env = {"IMGCTL_SERVER": env_url}
    # flag over env and file
    r = ctl(tmp, "--server", imgd.url, "health", env=env)
    assert r.returncode == 0, r.stderr
    # env over file: the error names the env's server
    r = ctl(tmp, "health", env=env)
    assert r.returncode == 1
    assert env_url in one_line(r.stderr)
    # file when nothing else
    r = ctl(tmp, "health")
    assert r.returncode == 1
    assert file_url in one_line(r.stderr)
    # and a live server in the file is used
    assert ctl(tmp, "config", "--server", imgd.url).returncode == 0
    assert ctl(tmp, "health").returncode == 0
    assert ctl(tmp, "health", env=env).returncode == 1


# ---- version ----

def test_version(imgd, tmp):
    server = imgd.get("/api/v1/version").json()
    client = ctl(tmp, "--version")
    assert client.returncode == 0
    client_version = one_line(client.stdout).split()[1]
    r = ctl(tmp, "-s", imgd.url, "version")
    assert r.returncode == 0, r.stderr
    assert r.stdout == (f"Client: imgctl {client_version}\n"
                        f"Server: imgd {server['version']} (api {server['api_version']}, "
                        f"instance {server['instance_id']})\n")
    j = ctl(tmp, "-s", imgd.url, "version", "-o", "json")
    assert j.returncode == 0
    assert json.loads(j.stdout) == {"client": {"name": "imgctl", "version": client_version},
                                    "server": server}


def test_version_server_down(tmp):
    url = dead_url()
    r = ctl(tmp, "-s", url, "version")
    assert r.returncode == 1
    assert r.stdout.startswith("Client: imgctl ")
    assert one_line(r.stdout)
    assert one_line(r.stderr) == f"imgctl: cannot reach imgd at {url}: Connection refused"


# ---- failures ----

@pytest.mark.parametrize("args", [["health"], ["log-level"], ["log-level", "DEBUG"],
                                  ["health", "-o", "json"]])
def test_connection_refused_is_one_line(tmp, args):
    url = dead_url()
    r = ctl(tmp, "--server", url, *args)
    assert r.returncode == 1
    assert r.stdout == ""
    assert one_line(r.stderr) == f"imgctl: cannot reach imgd at {url}: Connection refused"


def test_missing_unix_socket_is_one_line(tmp):
    path = tmp / "nobody.sock"
    r = ctl(tmp, "-s", f"unix://{path}", "health")
    assert r.returncode == 1
    assert r.stdout == ""
    assert one_line(r.stderr) == f"imgctl: cannot reach imgd at unix socket {path}: " \
                                 "No such file or directory"


def test_timeout(tmp):
    """A peer that accepts the connection and never answers."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        url = f"http://127.0.0.1:{srv.getsockname()[1]}"
        r = ctl(tmp, "-s", url, "--timeout", "1", "health", timeout=20)
    assert r.returncode == 1
    assert one_line(r.stderr) == f"imgctl: imgd at {url} did not answer within 1 s"


class OddServer:
    """Answers every connection with one canned HTTP response. imgd cannot be made to send an
    oversized or non-JSON answer, so this stands in for a broken peer (or a proxy) in front of
    it."""

    def __init__(self, response):
        self.response = response
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                try:
                    conn.sendall(self.response)
                except OSError:
                    pass

    def close(self):
        self.sock.close()


def test_oversized_answer_is_refused(tmp):
    body = b"x" * (16 * 1024 * 1024 + 1)
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" \
           b"Connection: close\r\n\r\n" % len(body)
    srv = OddServer(head + body)
    try:
        r = ctl(tmp, "-s", srv.url, "health")
    finally:
        srv.close()
    assert r.returncode == 1
    assert r.stdout == ""
    assert one_line(r.stderr) == f"imgctl: answer of imgd at {srv.url} is larger than 16 MiB"


def test_non_native_error_body_is_cut(tmp):
    body = b"<html>\n" + b"gateway trouble " * 40 + b"</html>"
    head = b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: %d\r\n" \
           b"Connection: close\r\n\r\n" % len(body)
    srv = OddServer(head + body)
    try:
        r = ctl(tmp, "-s", srv.url, "log-level")
    finally:
        srv.close()
    assert r.returncode == 1
    line = one_line(r.stderr)
    assert line.startswith("imgctl: GET /api/v1/system/log-level: 502 <html> gateway trouble")
    shown = line[len("imgctl: GET /api/v1/system/log-level: 502 "):]
    assert shown.endswith("...") and len(shown) == 200 + 3


# ---- log level ----

def test_log_level_round_trip(imgd, tmp):
    def level(*args):
        r = ctl(tmp, "-s", imgd.url, "log-level", *args)
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""
        return one_line(r.stdout)

    assert level() == "INFO"
    assert level("DEBUG") == "DEBUG"
    assert level() == "DEBUG"
    assert imgd.get("/api/v1/system/log-level").json() == {"log_level": "DEBUG"}
    assert level("INFO") == "INFO"
    j = ctl(tmp, "-s", imgd.url, "log-level", "-o", "json")
    assert json.loads(j.stdout) == {"log_level": "INFO"}


def test_log_level_invalid(imgd, tmp):
    r = ctl(tmp, "-s", imgd.url, "log-level", "LOUD")
    assert r.returncode == 1
    assert r.stdout == ""
    line = one_line(r.stderr)
    assert line.startswith("imgctl: PUT /api/v1/system/log-level: 400 invalid log_level 'LOUD'")
    assert imgd.get("/api/v1/system/log-level").json() == {"log_level": "INFO"}


# ---- tokens ----

@pytest.fixture
def token_imgd(imgd_factory, tmp):
    tokens = tmp / "tokens"
    tokens.write_text(f"# imgctl tests\n{TOKEN}\n")
    return imgd_factory(args=["--tokens-file", str(tokens)])


def test_token_required(token_imgd, tmp):
    r = ctl(tmp, "-s", token_imgd.url, "health")
    assert r.returncode == 1
    assert r.stdout == ""
    assert one_line(r.stderr) == \
        "imgctl: GET /api/v1/health: 401 missing or invalid bearer token"
    wrong = ctl(tmp, "-s", token_imgd.url, "--token", "not-" + TOKEN, "log-level")
    assert wrong.returncode == 1
    assert "401" in one_line(wrong.stderr)
    assert TOKEN not in wrong.stdout + wrong.stderr


def test_token_from_flag_env_and_file(token_imgd, tmp):
    runs = [
        ctl(tmp, "-s", token_imgd.url, "--token", TOKEN, "health"),
        ctl(tmp, "-s", token_imgd.url, "health", env={"IMGCTL_TOKEN": TOKEN}),
        ctl(tmp, "-s", token_imgd.url, "version", env={"IMGCTL_TOKEN": TOKEN}),
    ]
    for r in runs:
        assert r.returncode == 0, r.stderr
    written = ctl(tmp, "config", "--server", token_imgd.url, "--token", TOKEN)
    assert written.returncode == 0, written.stderr
    assert user_config(tmp).read_text() == f"server={token_imgd.url}\ntoken={TOKEN}\n"
    assert stat.S_IMODE(user_config(tmp).stat().st_mode) == 0o600
    runs.append(written)
    runs.append(ctl(tmp, "log-level"))
    assert runs[-1].returncode == 0, runs[-1].stderr
    shown = ctl(tmp, "config")
    assert f"token: set (from {user_config(tmp)})" in shown.stdout.splitlines()
    runs.append(shown)
    runs.append(ctl(tmp, "config", "-o", "json"))
    assert json.loads(runs[-1].stdout)["token_set"] is True
    # a dead server with the token configured: the error line names the server, not the token
    runs.append(ctl(tmp, "-s", dead_url(), "health"))
    assert runs[-1].returncode == 1
    for r in runs:
        assert TOKEN not in r.stdout and TOKEN not in r.stderr


def test_token_with_control_characters_is_refused(token_imgd, tmp):
    r = ctl(tmp, "-s", token_imgd.url, "health", env={"IMGCTL_TOKEN": TOKEN + "\r\nX-Evil: 1"})
    assert r.returncode == 1
    assert one_line(r.stderr) == \
        "imgctl: the token from IMGCTL_TOKEN holds characters a token cannot have"
    assert TOKEN not in r.stderr


# ---- TLS ----

def openssl(*args):
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


@pytest.fixture
def pki(tmp):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by it."""
    d = tmp / "pki"
    d.mkdir()
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", d / "ca.key", "-out", d / "ca.pem", "-days", "2",
            "-subj", "/CN=imgctl test CA")
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name in ("server", "client"):
        openssl("req", *ec, "-keyout", d / f"{name}.key", "-out", d / f"{name}.csr",
                "-subj", f"/CN={name}")
        openssl("x509", "-req", "-in", d / f"{name}.csr", "-CA", d / "ca.pem", "-CAkey",
                d / "ca.key", "-CAcreateserial", "-out", d / f"{name}.pem", "-days", "2",
                "-extfile", d / f"{name}.ext")
    return d


def test_https_verification(imgd_factory, tmp, pki):
    d = imgd_factory(args=["--tls-cert", pki / "server.pem", "--tls-key", pki / "server.key"])
    url = f"https://127.0.0.1:{d.port}"
    unverified = ctl(tmp, "-s", url, "health")
    assert unverified.returncode == 1
    assert one_line(unverified.stderr).startswith(f"imgctl: cannot reach imgd at {url}: SSL")
    ok = ctl(tmp, "-s", url, "--cacert", pki / "ca.pem", "health")
    assert ok.returncode == 0, ok.stderr
    insecure = ctl(tmp, "-s", url, "-k", "health")
    assert insecure.returncode == 0, insecure.stderr


def test_https_client_certificate(imgd_factory, tmp, pki):
    d = imgd_factory(args=["--tls-cert", pki / "server.pem", "--tls-key", pki / "server.key",
                           "--tls-client-ca", pki / "ca.pem"])
    url = f"https://127.0.0.1:{d.port}"
    anonymous = ctl(tmp, "-s", url, "--cacert", pki / "ca.pem", "log-level")
    assert anonymous.returncode == 1
    assert one_line(anonymous.stderr).startswith("imgctl: GET /api/v1/system/log-level: 401 ")
    r = ctl(tmp, "-s", url, "--cacert", pki / "ca.pem", "--cert", pki / "client.pem",
            "--key", pki / "client.key", "log-level")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "INFO\n"


# ---- usage ----

@pytest.mark.parametrize("args, needle", [
    (["frobnicate"], "unknown command 'frobnicate'"),
    ([], "no command given"),
    (["--frob", "health"], "unknown option '--frob'"),
    (["-x", "health"], "unknown option '-x'"),
    (["health", "--server"], "missing argument for option '--server'"),
    (["-o", "yaml", "health"], "unknown output format 'yaml'"),
    (["--timeout", "soon", "health"], "--timeout"),
    (["health", "now"], "health takes no arguments"),
    (["log-level", "DEBUG", "INFO"], "log-level takes at most one argument"),
    (["--key", "k.pem", "health"], "--key needs --cert"),
])
def test_usage_errors(tmp, args, needle):
    r = ctl(tmp, *args)
    assert r.returncode == 2
    assert r.stdout == ""
    line = one_line(r.stderr)
    assert line.startswith("imgctl: ") and needle in line
    assert "imgctl --help" in line


def test_misspelt_option_does_not_echo_its_value(tmp):
    r = ctl(tmp, f"--tokn={TOKEN}", "health")
    assert r.returncode == 2
    assert TOKEN not in r.stderr
    assert "unknown option '--tokn'" in one_line(r.stderr)


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["help"]])
def test_help(tmp, args):
    r = ctl(tmp, *args)
    assert r.returncode == 0
    assert r.stdout.startswith("Usage: imgctl ")
    for word in ("health", "version", "log-level", "config", "--server", "--token", "--output"):
        assert word in r.stdout


def test_client_version_flag(tmp):
    r = ctl(tmp, "--version")
    assert r.returncode == 0
    assert one_line(r.stdout).startswith("imgctl ")
