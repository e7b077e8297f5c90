# SPDX-License-Identifier: MIT
"""Bearer tokens and TLS (with client certificates) on the TCP listeners."""
import subprocess

import pytest
import requests

from conftest import free_port, run_imgd, unix_request

TOKEN = "t0k3n-Ab9-very-secret"


@pytest.fixture
def tokens_file(tmp):
    path = tmp / "tokens"
    path.write_text(f"# admins\n\n  {TOKEN}  \nsecond-token\n")
    return path


def test_token_required_on_tcp(imgd_factory, tokens_file):
    d = imgd_factory(args=["--tokens-file", str(tokens_file)])
    r = d.get("/api/v1/health")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="imgd"'
    assert r.json()["success"] is False and r.json()["error"]["code"] == 401
    r = d.get("/api/v1/health", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    r = d.get("/api/v1/health", headers={"Authorization": f"Bearer {TOKEN}x"})
    assert r.status_code == 401
    r = d.get("/api/v1/health", headers={"Authorization": "Bearer "})
    assert r.status_code == 401
    r = d.get("/api/v1/health", headers={"Authorization": f"Basic {TOKEN}"})
    assert r.status_code == 401
    r = d.get("/api/v1/health", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200
    r = d.get("/api/v1/health", headers={"Authorization": "bearer second-token"})
    assert r.status_code == 200
    # the 401 speaks the dialect of the face that owns the path
    r = d.get("/apis/ims/version")
    assert r.status_code == 401 and r.headers["Content-Type"] == "application/problem+json"
    # unknown paths are not revealed before authentication
    r = d.get("/api/v1/secret-path")
    assert r.status_code == 401
    # a body is not read from an unauthenticated client
    r = d.request("PUT", "/api/v1/system/log-level", json={"log_level": "DEBUG"})
    assert r.status_code == 401
    assert d.get("/api/v1/system/log-level",
                 headers={"Authorization": f"Bearer {TOKEN}"}).json()["log_level"] == "INFO"
    assert TOKEN not in d.log()


def test_unix_socket_needs_no_token(imgd_factory, tokens_file):
    d = imgd_factory(args=["--tokens-file", str(tokens_file)])
    status, _, _ = unix_request(str(d.socket), "GET", "/api/v1/health")
    assert status == 200


def test_empty_tokens_file_is_refused(tmp):
    path = tmp / "empty"
    path.write_text("# nothing here\n\n")
    p = run_imgd(["--config", "none", "--state-dir", str(tmp / "s"), "--run-dir", str(tmp / "r"),
                  "--listen", f"127.0.0.1:{free_port()}", "--tokens-file", str(path)])
    assert p.returncode == 1
    assert "holds no token" in p.stderr


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def pki(tmp):
    """A CA, a server certificate for 127.0.0.1, a client certificate from the CA and a
    self-signed client certificate the CA never saw."""
    d = tmp / "pki"
    d.mkdir()
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=imgd test CA", cwd=d)
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "server.key", "-out",
            "server.csr", "-subj", "/CN=localhost", cwd=d)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext", cwd=d)
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "client.key", "-out",
            "client.csr", "-subj", "/CN=admin", cwd=d)
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "client.pem", "-days", "2", "-extfile", "client.ext",
            cwd=d)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "rogue.key", "-out",
            "rogue.pem", "-days", "2", "-subj", "/CN=rogue", cwd=d)
    return d


def test_https(imgd_factory, pki):
    d = imgd_factory(args=["--tls-cert", str(pki / "server.pem"), "--tls-key",
                           str(pki / "server.key")])
    url = f"https://127.0.0.1:{d.port}/api/v1/health"
    r = requests.get(url, verify=str(pki / "ca.pem"), timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "healthy"
    assert f"listening on https://127.0.0.1:{d.port}" in d.wait_log("listening on https")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{d.port}/api/v1/health", timeout=5)
    # the unix socket stays plain HTTP
    assert unix_request(str(d.socket), "GET", "/api/v1/health")[0] == 200


def test_client_certificates(imgd_factory, pki):
    d = imgd_factory(args=["--tls-cert", str(pki / "server.pem"), "--tls-key",
                           str(pki / "server.key"), "--tls-client-ca", str(pki / "ca.pem")])
    url = f"https://127.0.0.1:{d.port}/api/v1/health"
    ca = str(pki / "ca.pem")
    r = requests.get(url, verify=ca, timeout=10)
    assert r.status_code == 401
    assert "client certificate" in r.json()["error"]["message"]
    try:
        r = requests.get(url, verify=ca, timeout=10,
                         cert=(str(pki / "rogue.pem"), str(pki / "rogue.key")))
        assert r.status_code == 401
    except requests.exceptions.SSLError:
        pass  # refusing the handshake is as good
    with requests.Session() as s:
        s.cert = (str(pki / "client.pem"), str(pki / "client.key"))
        for _ in range(3):  # verified once per connection, then remembered
            r = s.get(url, verify=ca, timeout=10)
            assert r.status_code == 200


def test_client_ca_allows_non_loopback(tmp, pki):
    p = run_imgd(["--config", "none", "--print-config", "--state-dir", str(tmp),
                  "--listen", "0.0.0.0:5999", "--tls-cert", str(pki / "server.pem"),
                  "--tls-key", str(pki / "server.key"), "--tls-client-ca", str(pki / "ca.pem")])
    assert p.returncode == 0, p.stderr


def test_bad_tls_files_fail_clearly(tmp, pki):
    p = run_imgd(["--config", "none", "--state-dir", str(tmp / "s"), "--run-dir", str(tmp / "r"),
                  "--listen", f"127.0.0.1:{free_port()}", "--tls-cert", str(pki / "missing.pem"),
                  "--tls-key", str(pki / "server.key")])
    assert p.returncode == 1
    assert "missing.pem" in p.stderr
    p = run_imgd(["--config", "none", "--state-dir", str(tmp / "s"), "--run-dir", str(tmp / "r"),
                  "--listen", f"127.0.0.1:{free_port()}", "--tls-cert", str(pki / "ca.key"),
                  "--tls-key", str(pki / "server.key")])
    assert p.returncode == 1
    assert "tls_cert" in p.stderr


def test_unauthenticated_body_gets_the_401(imgd_factory, tokens_file):
    d = imgd_factory(args=["--tokens-file", str(tokens_file)])
    for _ in range(3):
        r = d.request("PUT", "/api/v1/system/log-level", data=b"{" + b" " * 300000 + b"}")
        assert r.status_code == 401
