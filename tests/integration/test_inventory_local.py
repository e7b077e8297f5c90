# SPDX-License-Identifier: MIT
"""GET /local-images: the crictl service's rows, from imgd's store (and, in test_inventory_cri,
from a real containerd): crictl's splitting and formatting, the ignore list, pretty printing."""
import os
import time

import pytest

from conftest import run_imgd
from formats import crictl_size

pytest_plugins = ["registry"]


def store_only(imgd_factory, **kw):
    args = list(kw.pop("args", [])) + ["--inventory-sources", "store"]
    return imgd_factory(args=args, **kw)


def import_layout(d, path, tag):
    r = d.request("POST", "/api/v1/images/import", json={"path": str(path), "tag": tag},
                  timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["images"][0]


def test_rows_like_crictl(imgd_factory, archives):
    d = store_only(imgd_factory)
    bb = import_layout(d, archives.busybox.layout, "localhost/tools/busybox:1.36")
    d.request("POST", "/api/v1/images/localhost/tools/busybox:1.36/tag",
              json={"tag": "localhost:5000/busybox"})  # stored as ...:latest
    lay = import_layout(d, archives.layered.layout, "docker.io/library/layered:latest")
    r = d.get("/local-images")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    rows = r.json()
    short = lambda img: img["id"].split(":")[1][:13]
    expected = sorted([
        {"repository": "localhost/tools/busybox", "tag": "1.36", "image_id": short(bb),
         "size": crictl_size(bb["size"])},
        {"repository": "localhost:5000/busybox", "tag": "latest", "image_id": short(bb),
         "size": crictl_size(bb["size"])},
        {"repository": "docker.io/library/layered", "tag": "latest", "image_id": short(lay),
         "size": crictl_size(lay["size"])},
    ], key=lambda x: (x["repository"], x["tag"]))
    assert sorted(rows, key=lambda x: (x["repository"], x["tag"])) == expected
    assert all(set(row) == {"repository", "tag", "image_id", "size"} for row in rows)


def test_untagged_image_row(imgd_factory, archives):
    d = store_only(imgd_factory)
    import_layout(d, archives.busybox.layout, "localhost/x:1")
    d.request("DELETE", "/api/v1/images/localhost/x:1")
    d.request("POST", "/api/v1/images/import", json={"path": str(archives.busybox.layout)})
    rows = d.get("/local-images").json()
    assert len(rows) == 1
    assert rows[0]["repository"] == "<none>" and rows[0]["tag"] == "<none>"


def test_query_options(imgd_factory, archives):
    d = store_only(imgd_factory)
    bb = import_layout(d, archives.busybox.layout, "localhost/bb:1")
    row = d.get("/local-images?no_trunc=1").json()[0]
    assert row["image_id"] == bb["id"].split(":")[1]
    row = d.get("/local-images?detail=1").json()[0]
    assert row["id"] == bb["id"] and row["bytes"] == bb["size"] and row["source"] == "store"
    assert row["repo_digests"] == []
    assert d.get("/local-images?source=cri").json() == []
    assert len(d.get("/local-images?source=store").json()) == 1
    r = d.get("/local-images?source=elsewhere")
    assert r.status_code == 400
    assert set(r.json()) == {"error", "details"} and "source" in r.json()["details"]
    r = d.get("/local-images?no_trunc=maybe")
    assert r.status_code == 400


def test_pretty_and_compact(imgd_factory, archives, tmp):
    pretty = store_only(imgd_factory, config={"jsonify_prettyprint_regular": True})
    import_layout(pretty, archives.busybox.layout, "localhost/bb:1")
    text = pretty.get("/local-images").text
    assert text.startswith("[\n  {\n    \"image_id\": ")
    assert text.endswith("]\n")
    keys = [line.split('"')[1] for line in text.splitlines() if line.startswith('    "')]
    assert keys == ["image_id", "repository", "size", "tag"]  # sorted, as Flask does
    compact = store_only(imgd_factory, config={"jsonify_prettyprint_regular": False})
    import_layout(compact, archives.busybox.layout, "localhost/bb:1")
    text = compact.get("/local-images").text
    assert text.startswith('[{"image_id":"') and text.endswith("}]\n")


def test_ignore_list(imgd_factory, archives, tmp):
    ignore = tmp / "images_to_ignore.txt"
    d = store_only(imgd_factory, config={"ignore_file_path": str(ignore)})
    bb = import_layout(d, archives.busybox.layout, "localhost/bb:1")
    lay = import_layout(d, archives.layered.layout, "localhost/lay:1")
    short = bb["id"].split(":")[1][:13]
    assert len(d.get("/local-images").json()) == 2  # a missing file hides nothing
    assert "ignore list" in d.log() and "missing" in d.log()
    # BOM, CRLF, the column not first, a quoted field, a bad row
    ignore.write_bytes(("\ufeffREPOSITORY,TAG,IMAGE ID,SIZE\r\n"
                        f"\"localhost/bb\",1,{short},1MB\r\n"
                        "broken,row\r\n").encode())
    rows = d.get("/local-images").json()
    assert [r["repository"] for r in rows] == ["localhost/lay"]
    assert "line 3" in d.log()
    # changed without a restart: now by a prefix of the full ID
    time.sleep(0.01)
    ignore.write_text("IMAGE ID\n" + lay["id"].split(":")[1][:20] + "\n")
    os.utime(ignore, (time.time() + 1, time.time() + 1))
    rows = d.get("/local-images").json()
    assert [r["repository"] for r in rows] == ["localhost/bb"]
    # no IMAGE ID column: nothing ignored, and said so
    ignore.write_text("NAME\nfoo\n")
    os.utime(ignore, (time.time() + 2, time.time() + 2))
    assert len(d.get("/local-images").json()) == 2
    assert "no 'IMAGE ID' column" in d.log()


def test_inventory_face_errors(imgd_factory):
    d = store_only(imgd_factory)
    r = d.request("POST", "/local-images")
    assert r.status_code == 405 and set(r.json()) == {"error", "details"}


@pytest.mark.parametrize("args, message", [
    (["--inventory-sources", "store,podman"], "invalid inventory source 'podman'"),
    (["--harbor-type", "quay"], "'harbor_type'"),
])
def test_bad_inventory_settings_refused(args, message, tmp):
    p = run_imgd(["--config", "none", "--state-dir", str(tmp / "s"), "--run-dir", str(tmp / "r"),
                  *args])
    assert p.returncode != 0
    assert message in p.stderr
