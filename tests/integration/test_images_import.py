# SPDX-License-Identifier: MIT
"""Importing images from files: OCI layout, oci-archive, docker-archive; list, inspect, tag,
remove, prune."""
import os

import pytest

from imagecheck import check_files, merged_view

pytest_plugins = ["registry"]


def import_path(d, path, **extra):
    return d.request("POST", "/api/v1/images/import", json={"path": str(path), **extra},
                     timeout=120)


def inspect(d, ref):
    r = d.get(f"/api/v1/images/{ref}")
    assert r.status_code == 200, r.text
    return r.json()["image"]


@pytest.mark.parametrize("kind", ["layout", "oci_archive", "docker_archive"])
def test_import_formats(imgd, archives, kind):
    a = archives.layered
    r = import_path(imgd, getattr(a, kind), tag="localhost/imported:v1")
    assert r.status_code == 200, r.text
    images = r.json()["images"]
    assert len(images) == 1
    img = images[0]
    assert img["repo_tags"] == ["localhost/imported:v1"]
    assert img["architecture"] == "amd64" and img["os"] == "linux"
    if kind != "docker_archive":
        assert img["id"] == a.config_digest
        assert img["manifest_digest"] == a.manifest_digest
    full = inspect(imgd, "localhost/imported:v1")
    assert [layer["diff_id"] for layer in full["layers"]] == a.diff_ids
    assert full["config"]["rootfs"]["diff_ids"] == a.diff_ids
    with merged_view(imgd.state_dir, full) as root:
        check_files(root, a.files, a.absent)


def test_docker_archive_names_come_from_repo_tags(imgd, archives):
    r = import_path(imgd, archives.busybox.docker_archive)
    assert r.status_code == 200, r.text
    assert r.json()["images"][0]["repo_tags"] == [
        "docker.io/" + archives.busybox.repo_tag]
    # docker's short names find it
    assert inspect(imgd, archives.busybox.repo_tag)["id"] == r.json()["images"][0]["id"]


def test_import_twice_reuses_layers(imgd, archives):
    assert import_path(imgd, archives.busybox.layout, tag="localhost/a:1").status_code == 200
    layers = sorted(os.listdir(imgd.state_dir / "layers"))
    assert import_path(imgd, archives.busybox.oci_archive, tag="localhost/b:1").status_code == 200
    assert sorted(os.listdir(imgd.state_dir / "layers")) == layers
    listing = imgd.get("/api/v1/images").json()["images"]
    assert len(listing) == 1  # one image (same config), two names
    assert listing[0]["repo_tags"] == ["localhost/a:1", "localhost/b:1"]


def test_list_and_inspect_shapes(imgd, archives):
    import_path(imgd, archives.busybox.layout, tag="localhost/bb:1")
    body = imgd.get("/api/v1/images").json()
    assert body["success"] is True
    img = body["images"][0]
    for key in ("id", "repo_tags", "repo_digests", "size", "created", "architecture", "os"):
        assert key in img, key
    assert img["size"] > 0 and img["unpacked_size"] > img["size"] / 10
    full = inspect(imgd, "localhost/bb:1")
    assert full["config"]["config"]["Cmd"]
    short = img["id"].split(":")[1][:12]
    assert inspect(imgd, short)["id"] == img["id"]
    assert inspect(imgd, img["id"])["id"] == img["id"]


def test_missing_and_invalid(imgd, tmp):
    r = import_path(imgd, tmp / "absent")
    assert r.status_code == 404
    assert "absent" in r.json()["error"]["message"]
    (tmp / "notimage").mkdir()
    r = import_path(imgd, tmp / "notimage")
    assert r.status_code == 400
    assert "neither an OCI image layout" in r.json()["error"]["message"]
    r = imgd.request("POST", "/api/v1/images/import", json={"path": "relative/path"})
    assert r.status_code == 400
    r = imgd.get("/api/v1/images/no/such:image")
    assert r.status_code == 404
    assert "image 'no/such:image' not found" in r.json()["error"]["message"]
    r = imgd.get("/api/v1/images/Bad:Name!")
    assert r.status_code == 400


def test_corrupt_layout_blob_stores_nothing(imgd, archives, tmp):
    import shutil
    broken = tmp / "broken"
    shutil.copytree(archives.layered.layout, broken)
    digest = archives.layered.image.layers[-1].digest
    blob = broken / "blobs" / "sha256" / digest.split(":")[1]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    r = import_path(imgd, broken, tag="localhost/broken:1")
    assert r.status_code in (400, 422, 500), r.text
    assert digest in r.json()["error"]["message"] or "gzip" in r.json()["error"]["message"]
    assert imgd.get("/api/v1/images").json()["images"] == []
    assert os.listdir(imgd.state_dir / "tmp") == []


def test_tag_remove_prune(imgd, archives):
    import_path(imgd, archives.layered.layout, tag="localhost/l:1")
    r = imgd.request("POST", "/api/v1/images/localhost/l:1/tag", json={"tag": "localhost/l:2"})
    assert r.status_code == 201, r.text
    assert r.json()["image"]["tag"] == "localhost/l:2"
    assert inspect(imgd, "localhost/l:2")["repo_tags"] == ["localhost/l:1", "localhost/l:2"]
    # by ID with two names needs force
    img_id = inspect(imgd, "localhost/l:1")["id"]
    r = imgd.request("DELETE", f"/api/v1/images/{img_id}")
    assert r.status_code == 409
    # by name: only that name goes
    r = imgd.request("DELETE", "/api/v1/images/localhost/l:1")
    assert r.status_code == 200 and r.json()["untagged"] == ["localhost/l:1"]
    assert r.json()["deleted"] == []
    layers_before = len(os.listdir(imgd.state_dir / "layers"))
    assert layers_before == 3
    r = imgd.request("DELETE", "/api/v1/images/localhost/l:2")
    assert r.status_code == 200
    assert r.json()["deleted"] == [img_id] and r.json()["space_reclaimed"] > 0
    assert os.listdir(imgd.state_dir / "layers") == []
    assert imgd.get("/api/v1/images").json()["images"] == []
    assert imgd.request("DELETE", "/api/v1/images/localhost/l:2").status_code == 404
    r = imgd.request("POST", "/api/v1/images/prune")
    assert r.status_code == 200 and r.json()["deleted"] == []


def test_prune_removes_dangling_and_orphans(imgd, archives):
    import_path(imgd, archives.busybox.layout)  # ref "latest" alone names nothing: dangling
    assert imgd.get("/api/v1/images").json()["images"][0]["repo_tags"] == []
    orphan = imgd.state_dir / "layers" / ("ab" * 32)
    orphan.mkdir()
    r = imgd.request("POST", "/api/v1/images/prune")
    assert r.status_code == 200, r.text
    assert len(r.json()["deleted"]) == 1
    assert imgd.get("/api/v1/images").json()["images"] == []
    assert os.listdir(imgd.state_dir / "layers") == []
    assert not any((imgd.state_dir / "blobs" / "sha256").iterdir())


@pytest.mark.parametrize("kind", ["oci_archive", "docker_archive"])
def test_import_uploaded_archive(imgd, archives, kind, tmp):
    import gzip
    a = archives.layered
    data = getattr(a, kind).read_bytes()
    assert len(data) > 1024 * 1024 or True
    r = imgd.request("POST", "/api/v1/images/import?tag=localhost/up:1", data=data,
                     headers={"Content-Type": "application/x-tar"}, timeout=120)
    assert r.status_code == 200, r.text
    assert r.json()["images"][0]["repo_tags"] == ["localhost/up:1"]
    with merged_view(imgd.state_dir, inspect(imgd, "localhost/up:1")) as root:
        check_files(root, a.files, a.absent)
    # compressed, in chunks, larger than the JSON body limit
    gz = gzip.compress(data + b"\0" * (2 * 1024 * 1024))  # zero padding after the archive end

    def chunks():
        for i in range(0, len(gz), 100000):
            yield gz[i:i + 100000]

    r = imgd.request("POST", "/api/v1/images/import?tag=localhost/up:2", data=chunks(),
                     headers={"Content-Type": "application/gzip"}, timeout=120)
    assert r.status_code == 200, r.text
    assert os.listdir(imgd.state_dir / "tmp") == []


def test_import_upload_errors(imgd):
    r = imgd.request("POST", "/api/v1/images/import", data=b"this is not a tar archive" * 100,
                     headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 400, r.text
    assert "archive" in r.json()["error"]["message"]
    assert os.listdir(imgd.state_dir / "tmp") == []
    r = imgd.request("POST", "/api/v1/images/import?tag=Bad:Tag!", data=b"x",
                     headers={"Content-Type": "application/x-tar"})
    assert r.status_code == 400


def test_image_in_use_is_kept(imgd, archives):
    """A container's use (recorded by the runtime in image_users) keeps the image: removal
    answers 409 unless forced, and prune leaves it alone even when it has no name."""
    import sqlite3
    img = import_path(imgd, archives.busybox.layout, tag="localhost/used:1").json()["images"][0]
    con = sqlite3.connect(str(imgd.state_dir / "imgd.db"), timeout=10)
    con.execute("INSERT INTO image_users (image_id, user) VALUES (?, 'container-1')", (img["id"],))
    con.commit()
    r = imgd.request("DELETE", "/api/v1/images/localhost/used:1")
    assert r.status_code == 409, r.text
    assert "in use by 1 container" in r.json()["error"]["message"]
    # untagged, it stays through prune
    con.execute("DELETE FROM tags")
    con.commit()
    assert imgd.request("POST", "/api/v1/images/prune").json()["deleted"] == []
    r = imgd.request("DELETE", f"/api/v1/images/{img['id']}?force=true")
    assert r.status_code == 200 and r.json()["deleted"] == [img["id"]]
    con.close()
