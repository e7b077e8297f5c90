# SPDX-License-Identifier: MIT
"""GET /images: the crictl + Harbor service's object (seed 001) from imgd's store and the fake
Harbor (harbor_fake.py) or a real docker-registry catalog: the exact shape, humanize sizes, one
failing source never failing the request, the seed's pretty printing, the cache TTL."""
import concurrent.futures
import json
import socket

import pytest

from formats import naturalsize
from harbor_fake import ADMIN, ADMIN_PASSWORD, ROBOT, ROBOT_SECRET
from inv_probe import probe

pytest_plugins = ["registry", "harbor_fake"]


def harbor_config(harbor, **extra):
    cfg = {"harbor_config": {"url": harbor.url, "username": ADMIN, "password": ADMIN_PASSWORD,
                             "verify_ssl": False},
           "inventory_sources": ["store"]}
    cfg["harbor_config"].update(extra)
    return cfg


def expected_harbor(harbor, user=ADMIN, project=None):
    return [dict(row, size=naturalsize(row["size"]))
            for row in harbor.expected_rows(user, project)]


def import_layout(d, path, tag):
    r = d.request("POST", "/api/v1/images/import", json={"path": str(path), "tag": tag},
                  timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["images"][0]


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_naturalsize_helper():
    # The reference's examples, so the expectation above is itself checked.
    cases = {0: "0 Bytes", 1: "1 Byte", 999: "999 Bytes", 1000: "1.0 kB", 1500: "1.5 kB",
             3000000: "3.0 MB", 250000000: "250.0 MB", 117234567: "117.2 MB",
             1234567890: "1.2 GB", 10**12: "1.0 TB", 999999: "1.0 MB"}
    assert {k: naturalsize(k) for k in cases} == cases


def test_unconfigured_harbor_is_an_error_entry(imgd_factory, archives):
    d = imgd_factory(args=["--inventory-sources", "store"])
    import_layout(d, archives.busybox.layout, "localhost/bb:1")
    r = d.get("/images")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert list(body) == sorted(body)  # jsonify sorts keys
    assert set(body) == {"containerd_images", "harbor_images", "errors"}
    assert body["containerd_images"] == d.get("/local-images").json()
    assert len(body["containerd_images"]) == 1
    assert body["harbor_images"] == []
    assert body["errors"] == [{"source": "harbor", "error": "Harbor configuration incomplete"}]


def test_harbor_rows(imgd_factory, harbor, archives):
    d = imgd_factory(config=harbor_config(harbor))
    import_layout(d, archives.busybox.layout, "localhost/bb:1")
    body = d.get("/images", timeout=30).json()
    assert body["errors"] == []
    assert body["harbor_images"] == expected_harbor(harbor)
    assert {"project": "library", "repository": "nginx", "tag": "latest",
            "digest": harbor.project("library").repos[0].artifacts[1].digest,
            "size": "250.0 MB"} in body["harbor_images"]
    assert all(set(row) == {"repository", "tag", "digest", "size", "project"}
               for row in body["harbor_images"])
    assert [row["repository"] for row in body["containerd_images"]] == ["localhost/bb"]


def test_harbor_project_and_robot(imgd_factory, harbor):
    d = imgd_factory(config=harbor_config(harbor, project_name="private-proj", username=ROBOT,
                                          password=ROBOT_SECRET))
    body = d.get("/images", timeout=30).json()
    assert body["errors"] == []
    assert body["harbor_images"] == expected_harbor(harbor, ROBOT, "private-proj")
    assert [row["repository"] for row in body["harbor_images"]] == ["secret-app"]


def test_bad_credentials_reported_not_hidden(imgd_factory, harbor, archives):
    secret = "wrong-secret-51f3"
    d = imgd_factory(config=harbor_config(harbor, password=secret))
    import_layout(d, archives.busybox.layout, "localhost/bb:1")
    r = d.get("/images", timeout=30)
    assert r.status_code == 200
    body = r.json()
    assert body["harbor_images"] == []  # not the public projects an anonymous caller would see
    assert len(body["containerd_images"]) == 1
    assert [e["source"] for e in body["errors"]] == ["harbor"]
    assert "credential" in body["errors"][0]["error"].lower()
    assert secret not in r.text and secret not in d.log()


def test_unreachable_harbor(imgd_factory, archives):
    url = f"http://127.0.0.1:{closed_port()}"
    d = imgd_factory(args=["--inventory-sources", "store", "--harbor-url", url])
    import_layout(d, archives.busybox.layout, "localhost/bb:1")
    r = d.get("/images", timeout=30)
    assert r.status_code == 200
    body = r.json()
    assert len(body["containerd_images"]) == 1 and body["harbor_images"] == []
    assert [e["source"] for e in body["errors"]] == ["harbor"]
    assert url in body["errors"][0]["error"]


def test_failed_local_source_is_an_entry(imgd_factory, harbor, tmp):
    cfg = harbor_config(harbor)
    cfg["inventory_sources"] = ["cri"]
    cfg["crictl_config"] = {"runtime_endpoint": f"unix://{tmp}/no-such.sock"}
    d = imgd_factory(config=cfg)
    r = d.get("/images", timeout=30)
    assert r.status_code == 200
    body = r.json()
    assert body["containerd_images"] == []
    assert body["harbor_images"] == expected_harbor(harbor)
    assert [e["source"] for e in body["errors"]] == ["cri"]
    assert "no-such.sock" in body["errors"][0]["error"]


@pytest.mark.parametrize("pretty", [True, False])
def test_pretty_printing(imgd_factory, harbor, archives, pretty):
    cfg = harbor_config(harbor)
    cfg["app_config"] = {"jsonify_prettyprint_regular": pretty}
    d = imgd_factory(config=cfg)
    import_layout(d, archives.busybox.layout, "localhost/bb:1")
    text = d.get("/images", timeout=30).text
    obj = json.loads(text)
    if pretty:
        assert text == json.dumps(obj, indent=2, sort_keys=True) + "\n"
    else:
        assert text == json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n"


def test_query_options(imgd_factory, harbor, archives):
    d = imgd_factory(config=harbor_config(harbor))
    bb = import_layout(d, archives.busybox.layout, "localhost/bb:1")
    body = d.get("/images?source=registry", timeout=30).json()
    assert body["containerd_images"] == [] and body["errors"] == []
    assert len(body["harbor_images"]) == len(harbor.expected_rows(ADMIN))
    harbor.reset_record()
    body = d.get("/images?source=store").json()
    assert body["harbor_images"] == [] and body["errors"] == []
    assert len(body["containerd_images"]) == 1
    assert harbor.requests == []  # the registry was not asked
    body = d.get("/images?detail=1&no_trunc=1", timeout=30).json()
    row = body["containerd_images"][0]
    assert row["image_id"] == bb["id"].split(":")[1] and row["bytes"] == bb["size"]
    expected = harbor.expected_rows(ADMIN)
    assert [row["bytes"] for row in body["harbor_images"]] == [e["size"] for e in expected]
    r = d.get("/images?source=nowhere")
    assert r.status_code == 400
    assert set(r.json()) == {"error", "details"} and "source" in r.json()["details"]
    r = d.get("/images?detail=maybe")
    assert r.status_code == 400 and "detail" in r.json()["details"]


def test_cache_ttl(imgd_factory, harbor):
    live = imgd_factory(config=harbor_config(harbor))
    first = live.get("/images", timeout=30).json()
    harbor.reset_record()
    assert live.get("/images", timeout=30).json() == first
    assert harbor.requests, "with no TTL every request lists the registry live"

    cfg = harbor_config(harbor)
    cfg["inventory_cache_ttl"] = 3600
    cached = imgd_factory(config=cfg)
    first = cached.get("/images", timeout=30).json()
    assert first["harbor_images"] == expected_harbor(harbor)
    harbor.reset_record()
    harbor.add_bulk("later", 2)  # not seen until the TTL runs out
    assert cached.get("/images", timeout=30).json() == first
    assert harbor.requests == []


def test_failures_are_not_cached(imgd_factory, harbor):
    cfg = harbor_config(harbor)
    cfg["inventory_cache_ttl"] = 3600
    d = imgd_factory(config=cfg)
    harbor.inject("/api/v2.0/projects", 500, times=1)
    body = d.get("/images", timeout=30).json()
    assert body["harbor_images"] == [] and [e["source"] for e in body["errors"]] == ["harbor"]
    body = d.get("/images", timeout=30).json()
    assert body["errors"] == [] and body["harbor_images"] == expected_harbor(harbor)


def test_distribution_registry(imgd_factory, registry, test_images):
    d = imgd_factory(args=["--inventory-sources", "store", "--harbor-url", registry.url,
                           "--harbor-type", "distribution"])
    body = d.get("/images?source=registry&detail=1", timeout=60).json()
    assert body["errors"] == []
    code, out = probe("catalog", registry.host)
    assert code == 0, out
    rows = body["harbor_images"]
    assert [(r["project"], r["repository"], r["tag"], r["digest"], r["bytes"]) for r in rows] == \
        [(r["project"], r["repository"], r["tag"], r["digest"], r["size"]) for r in out["rows"]]
    assert all(r["size"] == naturalsize(r["bytes"]) for r in rows)
    by_name = {f'{r["project"]}/{r["repository"]}:{r["tag"]}': r for r in rows}
    for name in ("busybox-oci", "multiarch"):
        row = by_name[f"test/{name}:latest"]
        assert row["digest"] == registry.manifest_digest(f"test/{name}", "latest")


def test_concurrent_requests_share_one_listing(imgd_factory, harbor):
    d = imgd_factory(config=harbor_config(harbor))
    harbor.delay = 0.2  # every Harbor answer takes a while: the requests below overlap
    harbor.reset_record()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(lambda _: d.get("/images", timeout=60).json(), range(8)))
    assert all(b["harbor_images"] == expected_harbor(harbor) and b["errors"] == []
               for b in bodies)
    listings = [r for r in harbor.requests if r["path"] == "/api/v2.0/projects"]
    assert 1 <= len(listings) < 8, f"{len(listings)} listings for 8 concurrent requests"
