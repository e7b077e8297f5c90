# SPDX-License-Identifier: MIT
"""Pulling from real registries (docker-registry with no auth, Basic auth, bearer tokens,
redirects to another host): formats, platforms, whiteouts, compression, hostile layers, digest
checks, crash recovery, retries and resumed downloads, mirrors, deduplication."""
import json
import os
import socket
import threading
import http.server
import urllib.request

import pytest
import requests

from imagecheck import check_files, merged_view

pytest_plugins = ["registry"]


def pull(d, reference, timeout=120, **extra):
    return d.request("POST", "/api/v1/images/pull", json={"reference": reference, **extra},
                     timeout=timeout)


def pull_stream(d, reference, **extra):
    r = d.request("POST", "/api/v1/images/pull", json={"reference": reference, **extra},
                  headers={"Accept": "application/x-ndjson"}, stream=True, timeout=120)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/x-ndjson"
    return [json.loads(line) for line in r.iter_lines() if line]


def inspect(d, ref):
    r = d.get(f"/api/v1/images/{ref}")
    assert r.status_code == 200, r.text
    return r.json()["image"]


@pytest.mark.parametrize("name", ["busybox-oci", "busybox-v2s2", "layered", "zstd",
                                  "uncompressed"])
def test_pull_formats_and_merged_view(imgd, test_images, name):
    info = test_images[name]
    r = pull(imgd, info.ref)
    assert r.status_code == 200, r.text
    img = r.json()["image"]
    assert img["id"] == info.config_digest
    assert img["manifest_digest"] == info.digest
    assert img["repo_tags"] == [info.ref]
    assert img["repo_digests"] == [info.ref_by_digest]
    full = inspect(imgd, info.ref)
    assert [layer["diff_id"] for layer in full["layers"]] == info.diff_ids
    with merged_view(imgd.state_dir, full) as root:
        check_files(root, info.files, info.absent)


def test_multiarch_index(imgd, test_images):
    info = test_images["multiarch"]
    img = pull(imgd, info.ref).json()["image"]
    assert img["architecture"] == "amd64"
    amd64 = info.platforms["linux/amd64"]
    assert img["id"] == amd64.config_digest
    # the image is named by the index digest, as containerd does
    assert img["repo_digests"] == [info.ref_by_digest]
    arm = pull(imgd, info.ref, platform="linux/arm64").json()["image"]
    assert arm["architecture"] == "arm64"
    with merged_view(imgd.state_dir, inspect(imgd, arm["id"])) as root:
        assert (root / "etc" / "arch").read_text().strip() in ("arm64", "aarch64")
    r = pull(imgd, info.ref, platform="linux/s390x")
    assert r.status_code == 404
    msg = r.json()["error"]["message"]
    assert "no image for platform linux/s390x" in msg
    assert "linux/amd64" in msg and "linux/arm64" in msg and "unknown" not in msg
    v2s2 = pull(imgd, test_images["multiarch-v2s2"].ref, platform="linux/arm64/v8")
    assert v2s2.status_code == 200 and v2s2.json()["image"]["architecture"] == "arm64"


def test_pull_by_digest(imgd, test_images):
    info = test_images["busybox-oci"]
    img = pull(imgd, info.ref_by_digest).json()["image"]
    assert img["repo_tags"] == []
    assert img["repo_digests"] == [info.ref_by_digest]
    assert inspect(imgd, info.ref_by_digest)["id"] == img["id"]


@pytest.mark.parametrize("name,needle", [
    ("evil-dotdot", "leaves the layer directory"),
    ("evil-symlink", "symbolic link in its directory path"),
])
def test_hostile_layers_fail_and_write_nothing_outside(imgd, test_images, name, needle):
    info = test_images[name]
    before = set(os.listdir("/tmp"))
    r = pull(imgd, info.ref)
    assert r.status_code == 400, r.text
    msg = r.json()["error"]["message"]
    assert needle in msg and info.ref in msg
    for path in info.extra.get("host_paths", []) + ["/tmp/escape-symlink", "/abs-escape",
                                                    "/tmp/escape-dotdot"]:
        assert not os.path.lexists(path), path
    assert not any(n.startswith("escape") for n in set(os.listdir("/tmp")) - before)
    assert imgd.get("/api/v1/images").json()["images"] == []
    assert os.listdir(imgd.state_dir / "tmp") == []


def test_absolute_member_stays_inside(imgd, test_images):
    info = test_images["evil-absolute"]
    r = pull(imgd, info.ref)
    assert r.status_code == 200, r.text
    assert not os.path.lexists("/abs-escape")
    with merged_view(imgd.state_dir, inspect(imgd, info.ref)) as root:
        assert (root / "abs-escape").exists()


def test_missing_image_and_bad_reference(imgd, registry):
    r = pull(imgd, f"{registry.host}/test/nope:latest")
    assert r.status_code == 404
    assert "MANIFEST_UNKNOWN" in r.json()["error"]["message"]
    r = pull(imgd, "Bad Reference")
    assert r.status_code == 400
    r = imgd.request("POST", "/api/v1/images/pull", json={"reference": 5})
    assert r.status_code == 400
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    r = pull(imgd, f"127.0.0.1:{port}/x/y:1")
    assert r.status_code == 503
    assert "Connection refused" in r.json()["error"]["message"] or \
        "connect" in r.json()["error"]["message"]


def test_corrupt_blob_fails_and_stores_nothing(imgd, fresh_image, registry):
    info = fresh_image()
    digest = info.layers[-1].digest
    with registry.corrupted(digest):
        r = pull(imgd, info.ref)
        assert r.status_code in (400, 422, 500), r.text
        msg = r.json()["error"]["message"]
        assert digest in msg
    assert imgd.get("/api/v1/images").json()["images"] == []
    assert os.listdir(imgd.state_dir / "tmp") == []
    # with the blob repaired the same pull works
    assert pull(imgd, info.ref).status_code == 200


def test_progress_stream(imgd, test_images):
    info = test_images["layered"]
    lines = pull_stream(imgd, info.ref)
    assert lines[0]["status"] == "resolved" and lines[0]["layers"] == 3
    assert lines[0]["digest"] == info.digest
    done = {ln["layer"] for ln in lines if ln.get("state") == "done"}
    assert done == {layer.digest for layer in info.layers}
    assert lines[-1]["status"] == "complete"
    assert lines[-1]["image"]["id"] == info.config_digest
    # again: every layer exists now
    again = pull_stream(imgd, info.ref)
    states = [ln["state"] for ln in again if "state" in ln]
    assert states == ["exists"] * 3
    err = pull_stream(imgd, info.ref.replace(":latest", ":missing"))
    assert "error" in err[-1] and err[-1]["error"]["code"] == 404


def test_basic_auth_registry(imgd_factory, auth_registry, tmp):
    ref = f"{auth_registry.host}/private/busybox:latest"
    d = imgd_factory()
    r = pull(d, ref)
    assert r.status_code == 403
    assert "requires credentials" in r.json()["error"]["message"]
    r = pull(d, ref, credentials={"username": auth_registry.username, "password": "wrong"})
    assert r.status_code == 403
    r = pull(d, ref, credentials={"username": auth_registry.username,
                                  "password": auth_registry.password})
    assert r.status_code == 200, r.text
    assert auth_registry.password not in d.log()
    # credentials from the config
    cfg = {"registries": {auth_registry.host: {"username": auth_registry.username,
                                               "password": auth_registry.password}}}
    d2 = imgd_factory(config=cfg)
    assert pull(d2, ref).status_code == 200
    # credentials from a docker-style auth file
    import base64
    auth_file = tmp / "auth.json"
    token = base64.b64encode(f"{auth_registry.username}:{auth_registry.password}".encode())
    auth_file.write_text(json.dumps({"auths": {auth_registry.host: {"auth": token.decode()}}}))
    d3 = imgd_factory(args=["--registry-auth-file", str(auth_file)])
    assert pull(d3, ref).status_code == 200


def test_token_registry(imgd, token_registry, token_server):
    public = f"{token_registry.host}/public/busybox:latest"
    private = f"{token_registry.host}/private/busybox:latest"
    r = pull(imgd, public)
    assert r.status_code == 200, r.text
    reqs = token_server.requests
    assert reqs and all(not q["authorization"] for q in reqs)  # anonymous
    assert any("repository:public/busybox:pull" in q["scopes"] for q in reqs)
    token_server.reset()
    r = pull(imgd, private)
    assert r.status_code == 403
    r = pull(imgd, private, credentials={"username": token_registry.username,
                                         "password": token_registry.password})
    assert r.status_code == 200, r.text
    assert any(q["authorization"] and q["user"] == token_registry.username
               for q in token_server.requests)
    # tokens are cached per realm, service and scope: a second pull asks for none
    imgd.request("DELETE", f"/api/v1/images/{public}")
    token_server.reset()
    assert pull(imgd, public).status_code == 200
    assert token_server.requests == []


def test_redirects_do_not_forward_credentials(imgd, redirect_registry):
    blobs = redirect_registry.blob_server
    blobs.reset()
    ref = f"{redirect_registry.host}/test/layered:latest"
    r = pull(imgd, ref, credentials={"username": redirect_registry.username,
                                     "password": redirect_registry.password})
    assert r.status_code == 200, r.text
    got = [q for q in blobs.requests if q["method"] == "GET"]
    assert got, "blobs were not fetched through the redirect"
    assert not any(q["authorization"] for q in got)


def test_concurrent_pulls_fetch_each_blob_once(imgd, fresh_image, registry):
    info = fresh_image()
    layer = info.layers[-1].digest
    start = len(registry.access_log())
    results = []

    def one():
        results.append(pull(imgd, info.ref).status_code)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200, 200, 200]
    gets = [e for e in registry.access_log()[start:]
            if e["method"] == "GET" and e["uri"].endswith(layer)]
    assert len(gets) == 1, gets


def test_kill_9_mid_pull_leaves_nothing(imgd_factory, big_image):
    d = imgd_factory()
    r = d.request("POST", "/api/v1/images/pull", json={"reference": big_image.ref},
                  headers={"Accept": "application/x-ndjson"}, stream=True, timeout=120)
    for line in r.iter_lines():
        if line and json.loads(line).get("state") == "downloading" and \
                json.loads(line).get("done", 0) > 0:
            break
    d.proc.kill()
    d.proc.wait()
    d.expect_exit = None
    assert os.listdir(d.state_dir / "tmp") != []  # it was mid-way
    again = imgd_factory(args=["--state-dir", str(d.state_dir)])
    assert os.listdir(d.state_dir / "tmp") == []
    assert "removed" in again.log() and "unfinished" in again.log()
    assert again.get("/api/v1/images").json()["images"] == []
    r = pull(again, big_image.ref, timeout=300)
    assert r.status_code == 200, r.text
    assert len(r.json()["image"]["repo_tags"]) == 1


class FaultyProxy:
    """An HTTP proxy in front of a registry: the first GET of each blob gets 503 with
    Retry-After: 1, the second is cut off after 64 KiB; later ones pass. Records Range headers."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.seen = {}
        self.ranges = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                proxy.handle(self)

            do_HEAD = do_GET

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(self, h):
        n = self.seen.get(h.path, 0)
        self.seen[h.path] = n + 1
        is_blob = "/blobs/" in h.path
        if h.headers.get("Range"):
            self.ranges.append((h.path, h.headers["Range"]))
        if is_blob and n == 0:
            h.send_response(503)
            h.send_header("Retry-After", "1")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        headers = {k: v for k, v in h.headers.items() if k.lower() in ("accept", "range")}
        req = urllib.request.Request(f"http://{self.upstream}{h.path}", headers=headers,
                                     method=h.command)
        try:
            resp = urllib.request.urlopen(req, timeout=30)
        except urllib.error.HTTPError as e:
            resp = e
        body = resp.read()
        h.send_response(resp.status)
        for k, v in resp.headers.items():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if is_blob and n == 1 and len(body) > 128 * 1024:
            h.wfile.write(body[:64 * 1024])  # then drop the connection
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        h.wfile.write(body)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_retries_and_resumed_downloads(imgd, registry, big_image):
    proxy = FaultyProxy(registry.host)
    try:
        ref = f"{proxy.host}/{big_image.repo}:{big_image.tag}"
        r = pull(imgd, ref, timeout=300)
        assert r.status_code == 200, r.text
        blob_gets = {p: n for p, n in proxy.seen.items() if "/blobs/" in p}
        assert all(n >= 2 for n in blob_gets.values())  # the 503s were retried
        assert any(rng.startswith("bytes=65536-") for _, rng in proxy.ranges), proxy.ranges
        assert r.json()["image"]["id"] == big_image.config_digest
    finally:
        proxy.close()


def test_mirror_serves_an_unreachable_registry(imgd_factory, registry, test_images):
    info = test_images["busybox-oci"]
    cfg = {"registries": {"registry.invalid:5000": {"mirrors": [registry.host]}}}
    d = imgd_factory(config=cfg)
    r = pull(d, f"registry.invalid:5000/{info.repo}:{info.tag}")
    assert r.status_code == 200, r.text
    assert r.json()["image"]["id"] == info.config_digest
    assert r.json()["image"]["repo_tags"] == [f"registry.invalid:5000/{info.repo}:{info.tag}"]


def _openssl(*args, cwd):
    import subprocess
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def tls_registry(registry, tmp):
    """docker-registry over HTTPS (a certificate for 127.0.0.1 from a test CA) on the storage of
    `registry`, so the test images are there. Yields (host, ca path, other CA path)."""
    import subprocess
    import time
    from conftest import free_port
    d = tmp / "tls"
    d.mkdir()
    for ca in ("ca", "other"):
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "2", "-subj",
                 f"/CN={ca}", cwd=d)
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=registry", cwd=d)
    _openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", "ext", cwd=d)
    port = free_port()
    cfg = {"version": "0.1", "log": {"level": "error"},
           "storage": {"filesystem": {"rootdirectory": str(registry.storage)}},
           "http": {"addr": f"127.0.0.1:{port}",
                    "tls": {"certificate": str(d / "srv.pem"), "key": str(d / "srv.key")}}}
    (d / "config.yml").write_text(json.dumps(cfg))
    proc = subprocess.Popen(["docker-registry", "serve", str(d / "config.yml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                if requests.get(f"https://127.0.0.1:{port}/v2/", verify=str(d / "ca.pem"),
                                timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.05)
        yield f"127.0.0.1:{port}", d / "ca.pem", d / "other.pem"
    finally:
        proc.terminate()
        proc.wait(10)


def test_tls_registry_and_ca_file(imgd_factory, tls_registry, test_images):
    host, ca, other = tls_registry
    info = test_images["busybox-oci"]
    ref = f"{host}/{info.repo}:{info.tag}"
    # loopback counts as insecure, as for docker: TLS without checking the certificate
    assert pull(imgd_factory(), ref).status_code == 200
    # with the CA configured the certificate is checked, and passes
    d = imgd_factory(config={"registries": {host: {"ca_file": str(ca)}}})
    assert pull(d, ref).status_code == 200
    # a CA that did not sign it: refused, and no fallback to plain HTTP
    d = imgd_factory(config={"registries": {host: {"ca_file": str(other)}}})
    r = pull(d, ref)
    assert r.status_code == 503, r.text
    assert "certificate" in r.json()["error"]["message"].lower()


def test_foreign_layer_from_urls(imgd, tmp):
    """A layer the registry does not hold, listed with "urls": fetched from there, without the
    registry's credentials, and verified like any other."""
    import ocibuild as ob
    from registry import Registry
    base = ob.busybox_layer()
    foreign = ob.build_layer([ob.Dir("foreign"), ob.File("foreign/data", b"from elsewhere\n")],
                             media="docker")
    # a plain HTTP server holding the foreign blob
    blob_dir = tmp / "cdn"
    blob_dir.mkdir()
    (blob_dir / "layer.tgz").write_bytes(foreign.data)
    seen = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(blob_dir), **kw)

        def log_message(self, *a):
            seen.append(self.headers.get("Authorization"))

    cdn = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=cdn.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{cdn.server_address[1]}/layer.tgz"
    allow = {"validation": {"manifests": {"urls": {"allow": ["^http://"]}}}}
    try:
        with Registry(tmp / "reg", extra_config=allow) as reg:
            config = ob.build_config([base.diff_id, foreign.diff_id], "amd64", "linux", None)
            config_bytes = json.dumps(config).encode()
            reg.put_blob("test/foreign", base.data)
            reg.put_blob("test/foreign", config_bytes)
            manifest = {
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                           "size": len(config_bytes), "digest": ob.sha256(config_bytes)},
                "layers": [
                    {"mediaType": base.media_type, "size": len(base.data),
                     "digest": base.digest},
                    {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                     "size": len(foreign.data), "digest": foreign.digest, "urls": [url]}]}
            reg.put_manifest("test/foreign", "v1", json.dumps(manifest).encode(),
                             manifest["mediaType"])
            r = pull(imgd, f"{reg.host}/test/foreign:v1")
            assert r.status_code == 200, r.text
            with merged_view(imgd.state_dir, inspect(imgd, f"{reg.host}/test/foreign:v1")) as root:
                assert (root / "foreign" / "data").read_bytes() == b"from elsewhere\n"
            assert seen and not any(seen)
    finally:
        cdn.shutdown()
        cdn.server_close()


def test_prune_waits_for_a_pull_in_progress(imgd, big_image):
    import time
    r = imgd.request("POST", "/api/v1/images/pull", json={"reference": big_image.ref},
                     headers={"Accept": "application/x-ndjson"}, stream=True, timeout=300)
    lines = r.iter_lines()
    for line in lines:
        if line and json.loads(line).get("state") == "downloading":
            break
    pruned = {}

    def prune():
        pruned["response"] = imgd.request("POST", "/api/v1/images/prune", timeout=300)
        pruned["at"] = time.monotonic()

    t = threading.Thread(target=prune)
    t.start()
    last = None
    for line in lines:
        if line:
            last = json.loads(line)
    done_at = time.monotonic()
    t.join()
    assert last["status"] == "complete", last
    assert pruned["response"].status_code == 200
    assert pruned["at"] >= done_at - 0.5  # it waited for the pull
    img = inspect(imgd, big_image.ref)
    with merged_view(imgd.state_dir, img) as root:
        assert (root / "data").is_dir()
