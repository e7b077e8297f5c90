# SPDX-License-Identifier: MIT
"""The registry-catalog inventory source (src/core/inventory/catalog.c), driven through
tests/tools/inv-probe against real docker-registry instances (registry.py): rows match what was
pushed (digests, sizes counted as Harbor counts them, project/repository split), pagination of
the catalog and of tags lists by Link headers, and Basic and token authentication."""
import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

import ocibuild as ob
from inv_probe import probe

pytest_plugins = ["registry"]


def catalog_rows(host, *args):
    code, out = probe("catalog", host, *args)
    assert code == 0, out
    return out["rows"]


def _image_size(body, doc):
    return len(body) + doc["config"]["size"] + sum(layer["size"] for layer in doc["layers"])


def expected_size(reg, repo, body):
    """What the size should be, computed independently: manifest bytes + config + layers; an
    index: its bytes + each child counted that way (the first 16 children; later ones by their
    descriptor size)."""
    doc = json.loads(body)
    if "manifests" not in doc:
        return _image_size(body, doc)
    total = len(body)
    for i, child in enumerate(doc["manifests"]):
        if i >= 16:
            total += child["size"]
            continue
        child_body, _, _ = reg.manifest(repo, child["digest"])
        child_doc = json.loads(child_body)
        total += (_image_size(child_body, child_doc) if "layers" in child_doc
                  else len(child_body))
    return total


def expected_rows(reg):
    """Every tag of every repository of reg, read directly (one catalog page: distribution
    allows up to 1000 entries)."""
    r = reg.request("GET", "/v2/_catalog?n=1000")
    r.raise_for_status()
    rows = []
    for repo in sorted(r.json()["repositories"]):
        for tag in sorted(reg.tags(repo)):
            body, _, digest = reg.manifest(repo, tag)
            project, _, rest = repo.partition("/")
            rows.append({"project": project, "repository": rest or repo, "tag": tag,
                         "digest": digest, "size": expected_size(reg, repo, body)})
    return rows


@pytest.fixture(scope="module")
def paged(registry, test_images):
    """Extra repositories on `registry` for pagination: pg/r1..pg/r5 (one tag each), pg/many
    (seven tags on one image) and "solo" (a name of one component)."""
    image = ob.build_image([ob.build_layer([ob.File("pg", b"page me\n")])])
    for i in range(1, 6):
        registry.push_raw(image, f"pg/r{i}:latest")
    registry.push_raw(image, "pg/many:t0")
    for i in range(1, 7):
        registry.put_manifest("pg/many", f"t{i}", image.manifest_blob.data, image.media_type)
    registry.push_raw(image, "solo:1.0")
    return image


def test_rows_match_the_registry(registry, test_images, paged):
    rows = catalog_rows(registry.host)
    assert rows == expected_rows(registry)
    by_ref = {(r["project"], r["repository"], r["tag"]): r for r in rows}
    for name, info in test_images.items():
        row = by_ref[("test", name, "latest")]
        assert row["digest"] == info.digest
    solo = by_ref[("solo", "solo", "1.0")]
    assert solo["digest"] == paged.digest
    assert solo["size"] == len(paged.manifest_blob.data) + paged.config_blob.descriptor()["size"] \
        + sum(layer.descriptor()["size"] for layer in paged.layers)


def test_index_size_counts_its_children(registry, test_images):
    rows = {(r["repository"], r["tag"]): r for r in catalog_rows(registry.host)}
    for name in ("multiarch", "multiarch-v2s2"):
        body, _, digest = registry.manifest(f"test/{name}", "latest")
        row = rows[(name, "latest")]
        assert row["digest"] == digest
        children = json.loads(body)["manifests"]
        assert row["size"] > len(body) + sum(c["size"] for c in children)
        assert row["size"] == expected_size(registry, f"test/{name}", body)


def test_pagination_by_link_headers(registry, test_images, paged):
    start = len(registry.access_log())
    rows = catalog_rows(registry.host, "--page-size", "2")
    assert rows == expected_rows(registry)
    uris = [e["uri"] for e in registry.access_log()[start:]
            if e["method"] == "GET" and e["useragent"] == "imgd"]
    catalog = [u for u in uris if u.startswith("/v2/_catalog")]
    assert catalog[0] == "/v2/_catalog?n=2"
    assert len(catalog) > 3 and all("last=" in u for u in catalog[1:])
    # distribution 2.8 ignores n on tags lists: one page, no Link (TagPager tests the paging)
    assert [u for u in uris if u.startswith("/v2/pg/many/tags/list")] == \
        ["/v2/pg/many/tags/list?n=2"]
    assert [r["tag"] for r in rows if r["repository"] == "many"] == [f"t{i}" for i in range(7)]


class _PagerHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.owner.handle(self)

    do_HEAD = do_GET


class TagPager:
    """A proxy in front of a registry that pages tags lists as the distribution spec says
    (n caps the count, last is exclusive, Link: </v2/<name>/tags/list?last=X&n=N>;
    rel="next"), which distribution 2.8 does not do. Records the tags list URIs."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.tag_uris = []

    def __enter__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _PagerHandler)
        self.server.daemon_threads = True
        self.server.owner = self
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def handle(self, h):
        url = urllib.parse.urlsplit(h.path)
        headers = {k: v for k, v in h.headers.items() if k.lower() in ("accept", "authorization")}
        r = requests.request(h.command, self.upstream.url + url.path, headers=headers,
                             timeout=30)
        body, extra = r.content, {}
        m = re.fullmatch(r"/v2/(.+)/tags/list", url.path)
        if m and r.status_code == 200:
            self.tag_uris.append(h.path)
            q = urllib.parse.parse_qs(url.query)
            n, last = int(q.get("n", ["1000"])[0]), q.get("last", [""])[0]
            tags = [t for t in sorted(r.json()["tags"] or []) if t > last]
            if len(tags) > n:
                nq = urllib.parse.urlencode({"last": tags[n - 1], "n": n})
                extra["Link"] = f'</v2/{m.group(1)}/tags/list?{nq}>; rel="next"'
            body = json.dumps({"name": m.group(1), "tags": tags[:n]}).encode()
        h.send_response(r.status_code)
        for k in ("Content-Type", "Docker-Content-Digest", "WWW-Authenticate"):
            if k in r.headers:
                h.send_header(k, r.headers[k])
        for k, v in extra.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)


def test_tags_list_pagination(registry, test_images, paged):
    with TagPager(registry) as pager:
        rows = catalog_rows(pager.host, "--page-size", "2")
    assert rows == expected_rows(registry)
    many = [u for u in pager.tag_uris if u.startswith("/v2/pg/many/")]
    assert many == ["/v2/pg/many/tags/list?n=2", "/v2/pg/many/tags/list?last=t1&n=2",
                    "/v2/pg/many/tags/list?last=t3&n=2", "/v2/pg/many/tags/list?last=t5&n=2"]
    assert [r["tag"] for r in rows if r["repository"] == "many"] == [f"t{i}" for i in range(7)]


def test_parallel_one_gives_the_same_rows(registry, test_images, paged):
    assert catalog_rows(registry.host, "--parallel", "1") == catalog_rows(registry.host)


def test_basic_auth_registry(auth_registry):
    rows = catalog_rows(auth_registry.host, "--user", auth_registry.username, "--password",
                        auth_registry.password)
    assert rows == expected_rows(auth_registry)
    assert [(r["project"], r["repository"], r["tag"]) for r in rows] == \
        [("private", "busybox", "latest")]
    code, out = probe("catalog", auth_registry.host)
    assert code == 1 and out["error"]["code"] == "EACCES"
    code, out = probe("catalog", auth_registry.host, "--user", auth_registry.username,
                      "--password", "wrong-password")
    assert code == 1 and out["error"]["code"] == "EACCES"
    assert "wrong-password" not in out["error"]["message"]
    assert auth_registry.host in out["error"]["message"]


def test_token_auth_registry(token_registry, token_server):
    rows = catalog_rows(token_registry.host, "--user", token_registry.username, "--password",
                        token_registry.password)
    assert rows == expected_rows(token_registry)
    assert {(r["project"], r["repository"]) for r in rows} == \
        {("public", "busybox"), ("private", "busybox")}
    scopes = {s for req in token_server.requests for s in req["scopes"]}
    assert "registry:catalog:*" in scopes
    assert "repository:private/busybox:pull" in scopes
    # anonymous callers get no catalog access from this token server
    code, out = probe("catalog", token_registry.host)
    assert code == 1 and out["error"]["code"] == "EACCES"


def test_unreachable_registry():
    from registry import free_port
    host = f"127.0.0.1:{free_port()}"
    code, out = probe("catalog", host)
    assert code == 1 and out["error"]["code"] == "ECONNREFUSED"
    assert host in out["error"]["message"]
