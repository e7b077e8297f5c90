"""The IMS face with its artifacts in S3: a real s3rver behind a proxy that recomputes every
SigV4 signature with botocore, so each request imgd makes, and each URL it presigns, must be
signed exactly as AWS wants. Soft delete and restore move the objects in S3."""
import hashlib
import json
import uuid

import pytest
import requests

pytest_plugins = ["s3"]


@pytest.fixture
def ims_s3(s3, imgd_factory):
    d = imgd_factory(args=["--s3-part-size", str(5 * 1024 * 1024)],
                     env={"S3_ENDPOINT": s3.endpoint, "S3_ACCESS_KEY": s3.access_key,
                          "S3_SECRET_KEY": s3.secret_key, "S3_URL_EXPIRATION": "600"})
    return d, s3


def call(d, method, path, body=None):
    kw = {}
    if body is not None:
        kw = {"data": json.dumps(body), "headers": {"Content-Type": "application/json"}}
    return d.request(method, path, **kw)


def put(d, bucket, key, data, ctype="application/octet-stream"):
    r = d.request("PUT", f"/artifacts/{bucket}/{key}", data=data, headers={"Content-Type": ctype})
    assert r.status_code in (200, 201), r.text
    return r.json()


def head(s3, bucket, key):
    from botocore.exceptions import ClientError
    try:
        return s3.client().head_object(Bucket=bucket, Key=key)
    except ClientError:
        return None


def test_objects_go_to_s3_signed(ims_s3):
    d, s3 = ims_s3
    key = f"{uuid.uuid4()}/file name+(1).bin"  # characters a canonical path must encode
    info = put(d, "boot-images", key, b"payload")
    md5 = hashlib.md5(b"payload").hexdigest()
    assert info["md5"] == md5 and info["etag"] == md5 and info["size"] == 7
    assert info["link"]["path"] == f"s3://boot-images/{key}"
    obj = s3.client().get_object(Bucket="boot-images", Key=key)
    assert obj["Body"].read() == b"payload" and obj["Metadata"]["md5sum"] == md5
    assert s3.proxy.rejected == [] and s3.proxy.count >= 2
    # GET redirects to a URL imgd presigned; it passes the check, and a changed one does not
    r = d.get(f"/artifacts/boot-images/{key}", allow_redirects=False)
    assert r.status_code == 307 and r.headers["x-amz-meta-md5sum"] == md5
    url = r.headers["Location"]
    assert "X-Amz-Signature=" in url and url.startswith(s3.endpoint)
    assert requests.get(url, timeout=10).content == b"payload"
    h = d.request("HEAD", f"/artifacts/boot-images/{key}")
    assert h.status_code == 200 and h.headers["Content-Length"] == "7"
    assert h.headers["ETag"] == f'"{md5}"'
    assert s3.proxy.rejected == []
    sig = url[-1]
    tampered = url[:-1] + ("0" if sig != "0" else "1")
    assert requests.get(tampered, timeout=10).status_code == 403
    assert [r.reason for r in s3.proxy.rejected][0].startswith("SignatureDoesNotMatch")
    s3.proxy.reset()
    assert d.request("DELETE", f"/artifacts/boot-images/{key}").status_code == 204
    assert head(s3, "boot-images", key) is None
    assert d.get(f"/artifacts/boot-images/{key}", allow_redirects=False).status_code == 404
    assert s3.proxy.rejected == []


def test_large_object_goes_up_in_parts(ims_s3):
    d, s3 = ims_s3
    data = bytes(range(256)) * (12 * 4096 + 7)  # a little over 12 MiB: three 5 MiB parts
    key = f"{uuid.uuid4()}/rootfs"
    info = put(d, "boot-images", key, data, "application/vnd.cray.image.rootfs.squashfs")
    assert info["size"] == len(data) and info["md5"] == hashlib.md5(data).hexdigest()
    methods = [(m, p) for m, p, _ in s3.proxy.requests]
    assert any(m == "POST" and "uploads=" in p for m, p in methods)
    assert sum(1 for m, p in methods if m == "PUT" and "partNumber=" in p) == 3
    got = s3.client().get_object(Bucket="boot-images", Key=key)["Body"].read()
    assert hashlib.md5(got).hexdigest() == info["md5"]
    assert s3.proxy.rejected == []


def test_records_check_links_in_s3(ims_s3):
    d, s3 = ims_s3
    rid = str(uuid.uuid4())
    # an object uploaded by another client, straight to S3
    s3.client().put_object(Bucket="ims", Key=f"recipes/{rid}/recipe.tar.gz", Body=b"tgz")
    link = {"path": f"s3://ims/recipes/{rid}/recipe.tar.gz", "type": "s3"}
    r = call(d, "POST", "/v3/recipes", {"name": "r", "recipe_type": "kiwi-ng",
                                        "linux_distribution": "sles15", "link": link})
    assert r.status_code == 201, r.text
    missing = dict(link, path=f"s3://ims/recipes/{rid}/nothing")
    r = call(d, "POST", "/v3/recipes", {"name": "r", "recipe_type": "kiwi-ng",
                                        "linux_distribution": "sles15", "link": missing})
    assert r.status_code == 422 and "cannot be validated" in r.json()["detail"]
    assert s3.proxy.rejected == []


def test_image_soft_delete_restore_purge_in_s3(ims_s3):
    d, s3 = ims_s3
    img = call(d, "POST", "/v3/images", {"name": "img"}).json()
    iid = img["id"]
    arts = []
    for name, mime in (("rootfs", "application/vnd.cray.image.rootfs.squashfs"),
                       ("kernel", "application/vnd.cray.image.kernel")):
        info = put(d, "boot-images", f"{iid}/{name}", name.encode() * 100)
        arts.append({"link": info["link"], "type": mime, "md5": info["md5"]})
    manifest = {"version": "1.0", "created": "2026-12-01 10:00:00", "artifacts": arts}
    ml = put(d, "boot-images", f"{iid}/manifest.json", json.dumps(manifest).encode(),
             "application/json")["link"]
    r = call(d, "PATCH", f"/v3/images/{iid}", {"link": ml})
    assert r.status_code == 200, r.text
    assert call(d, "DELETE", f"/v3/images/{iid}").status_code == 204
    for name in ("rootfs", "kernel", "manifest.json"):
        assert head(s3, "boot-images", f"{iid}/{name}") is None
        assert head(s3, "boot-images", f"deleted/{iid}/{name}") is not None
    dm = json.loads(s3.client().get_object(
        Bucket="boot-images", Key=f"deleted/{iid}/deleted_manifest.json")["Body"].read())
    assert {a["type"] for a in dm["artifacts"]} == {
        "application/vnd.cray.image.rootfs.squashfs", "application/vnd.cray.image.kernel",
        "application/vnd.cray.image.manifest"}
    assert call(d, "PATCH", f"/v3/deleted/images/{iid}",
                {"operation": "undelete"}).status_code == 204
    assert call(d, "GET", f"/v3/images/{iid}").json()["link"]["path"] == ml["path"]
    for name in ("rootfs", "kernel", "manifest.json"):
        assert head(s3, "boot-images", f"{iid}/{name}") is not None
    assert head(s3, "boot-images", f"deleted/{iid}/deleted_manifest.json") is None
    # v2 delete with cascade removes every object the manifest names
    assert call(d, "DELETE", f"/v2/images/{iid}").status_code == 204
    for name in ("rootfs", "kernel", "manifest.json"):
        assert head(s3, "boot-images", f"{iid}/{name}") is None
    assert s3.proxy.rejected == []


def test_wrong_secret_is_refused_by_s3(s3, imgd_factory):
    d = imgd_factory(env={"S3_ENDPOINT": s3.endpoint, "S3_ACCESS_KEY": s3.access_key,
                          "S3_SECRET_KEY": "not-the-secret"})
    r = d.request("PUT", f"/artifacts/ims/{uuid.uuid4()}", data=b"x")
    assert r.status_code == 502 and r.json()["success"] is False
    assert "S3" in r.json()["error"]["message"]
    assert s3.proxy.rejected and "SignatureDoesNotMatch" in s3.proxy.rejected[0].reason
    # the secret never shows in the answer or the log
    assert "not-the-secret" not in r.text and "not-the-secret" not in d.log()


def test_s3_settings_are_checked(imgd_factory, tmp):
    from conftest import run_imgd
    r = run_imgd(["--state-dir", str(tmp / "s"), "--run-dir", str(tmp / "r"),
                  "--s3-endpoint", "ftp://x"], env={})
    assert r.returncode != 0 and "s3_endpoint" in r.stderr
    r = run_imgd(["--state-dir", str(tmp / "s"), "--run-dir", str(tmp / "r"),
                  "--s3-endpoint", "http://127.0.0.1:1"], env={})
    assert r.returncode != 0 and "s3_secret_key" in r.stderr
