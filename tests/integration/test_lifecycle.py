# SPDX-License-Identifier: MIT
"""Start, readiness notification, graceful stop with requests in flight, crash recovery, and the
database health check."""
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import free_port, read_http_response, run_imgd, unix_request


def test_sigterm_idle_exits_0_and_removes_socket(imgd):
    assert imgd.socket.exists()
    t0 = time.monotonic()
    assert imgd.stop(signal.SIGTERM) == 0
    assert time.monotonic() - t0 < 3
    assert not imgd.socket.exists()
    assert "imgd stopped" in imgd.log()


def test_sigint_exits_0(imgd):
    assert imgd.stop(signal.SIGINT) == 0


def partial_put(port, payload=b'{"log_level": "INFO"}'):
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    head = (f"PUT /api/v1/system/log-level HTTP/1.1\r\nHost: t\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            f"X-Request-Id: inflight-1\r\n\r\n").encode()
    s.sendall(head + payload[:5])
    return s, payload[5:]


def test_sigterm_lets_a_request_in_flight_finish(imgd):
    s, rest = partial_put(imgd.port)
    time.sleep(0.3)
    imgd.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert imgd.proc.poll() is None, "imgd exited with a request in flight"
    # no new connections while draining
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", imgd.port), timeout=2).close()
    s.sendall(rest)
    head, body = read_http_response(s)
    s.close()
    assert head.startswith("HTTP/1.1 200"), head
    assert "connection: close" in head.lower()
    assert b'"log_level":"INFO"' in body
    t0 = time.monotonic()
    imgd.proc.wait(5)
    assert time.monotonic() - t0 < 2
    assert imgd.stop() == 0


def test_drain_gives_up_after_10_seconds(imgd):
    s, _ = partial_put(imgd.port)  # never completed
    time.sleep(0.2)
    t0 = time.monotonic()
    imgd.proc.send_signal(signal.SIGTERM)
    imgd.proc.wait(20)
    elapsed = time.monotonic() - t0
    s.close()
    assert imgd.stop() == 0
    assert 9 <= elapsed < 13, elapsed
    assert "still in flight after 10 s" in imgd.log()


def test_sd_notify_ready(imgd_factory, tmp):
    path = str(tmp / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    try:
        d = imgd_factory(env={"NOTIFY_SOCKET": path})
        msg = sock.recv(4096).decode()
        assert "READY=1" in msg.split("\n")
        # it is sent once the listeners serve
        assert d.get("/api/v1/health").status_code == 200
        d.proc.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in sock.recv(4096).decode()
    finally:
        sock.close()


def test_restart_after_kill_9(imgd_factory):
    d = imgd_factory()
    ident = d.get("/api/v1/version").json()["instance_id"]
    d.proc.kill()
    d.proc.wait()
    d.expect_exit = None
    assert d.socket.exists()  # stale socket left behind by the crash
    again = imgd_factory(args=["--state-dir", str(d.state_dir), "--run-dir", str(d.run_dir)])
    assert again.get("/api/v1/version").json()["instance_id"] == ident
    status, _, _ = unix_request(str(d.socket), "GET", "/api/v1/health")
    assert status == 200


def test_second_daemon_on_same_socket_refuses(imgd, tmp):
    p = run_imgd(["--config", "none", "--state-dir", str(tmp / "other"), "--run-dir",
                  str(imgd.run_dir), "--listen", f"127.0.0.1:{free_port()}"])
    assert p.returncode == 1
    assert "another process is serving the unix socket" in p.stderr
    # the first daemon's socket still works
    assert unix_request(str(imgd.socket), "GET", "/api/v1/health")[0] == 200


def test_socket_path_that_is_not_a_socket(tmp):
    run = tmp / "run"
    run.mkdir()
    (run / "imgd.sock").write_text("precious")
    p = run_imgd(["--config", "none", "--state-dir", str(tmp / "s"), "--run-dir", str(run),
                  "--listen", f"127.0.0.1:{free_port()}"])
    assert p.returncode == 1
    assert "exists and is not a socket" in p.stderr
    assert (run / "imgd.sock").read_text() == "precious"


def test_unix_socket_can_be_disabled(imgd_factory):
    d = imgd_factory(args=["--socket", "none"])
    assert not d.socket.exists()
    assert d.get("/api/v1/health").status_code == 200


def test_tcp_can_be_disabled(imgd_factory):
    d = imgd_factory(args=["--listen", "none"], listen=False)
    assert "listening on http" not in d.log()
    assert unix_request(str(d.socket), "GET", "/api/v1/health")[0] == 200


def test_deleted_database_makes_health_unhealthy(imgd):
    assert imgd.get("/api/v1/health").status_code == 200
    os.unlink(imgd.state_dir / "imgd.db")
    time.sleep(1.1)  # component probes are cached for a second
    r = imgd.get("/api/v1/health")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "unhealthy"
    assert body["components"]["db"]["status"] == "error"
    assert "imgd.db" in body["components"]["db"]["message"]
    r = imgd.get("/apis/ims/healthz/ready")
    assert r.status_code == 503 and r.headers["Content-Type"] == "application/problem+json"
    assert "imgd_up 0" in imgd.get("/metrics").text
    assert imgd.get("/apis/ims/healthz/live").status_code == 200


def test_corrupt_database_refuses_to_start(imgd_factory, tmp):
    d = imgd_factory()
    assert d.stop() == 0
    db = d.state_dir / "imgd.db"
    for extra in ("-wal", "-shm"):
        if os.path.exists(str(db) + extra):
            os.unlink(str(db) + extra)
    db.write_bytes(os.urandom(8192))
    p = run_imgd(["--config", "none", "--state-dir", str(d.state_dir), "--run-dir",
                  str(tmp / "r"), "--listen", f"127.0.0.1:{free_port()}"])
    assert p.returncode == 1
    assert "imgd.db" in p.stderr and "not a database" in p.stderr


def test_database_from_a_newer_imgd_refuses_to_start(imgd_factory, tmp):
    d = imgd_factory()
    assert d.stop() == 0
    db = d.state_dir / "imgd.db"
    subprocess.run(["sqlite3", str(db), "PRAGMA user_version = 999"], check=False)
    if subprocess.run(["sqlite3", str(db), "PRAGMA user_version"], capture_output=True,
                      text=True).stdout.strip() != "999":
        import sqlite3
        con = sqlite3.connect(str(db))
        con.execute("PRAGMA user_version = 999")
        con.commit()
        con.close()
    p = run_imgd(["--config", "none", "--state-dir", str(d.state_dir), "--run-dir",
                  str(tmp / "r"), "--listen", f"127.0.0.1:{free_port()}"])
    assert p.returncode == 1
    assert "schema version 999 is newer" in p.stderr


def test_state_is_private(imgd):
    assert (imgd.state_dir.stat().st_mode & 0o777) == 0o700
    db = imgd.state_dir / "imgd.db"
    assert (db.stat().st_mode & 0o077) == 0, oct(db.stat().st_mode)


def test_database_is_wal_with_migrations(imgd):
    import sqlite3
    con = sqlite3.connect(str(imgd.state_dir / "imgd.db"))
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        version = con.execute("PRAGMA user_version").fetchone()[0]
        assert version >= 1
        assert imgd.get("/api/v1/version").json()["schema_version"] == version
    finally:
        con.close()
