# SPDX-License-Identifier: MIT
"""The S3 fixture works: s3rver stores and serves objects through the SigV4 proxy; requests
signed the way S3 wants (by botocore, by curl --aws-sigv4 with a canonical URL, presigned URLs)
pass, and the signing mistakes S3 refuses (wrong secret, unsorted query, path not RFC 3986
encoded, `?uploads` without `=`, missing or wrong x-amz-content-sha256, unsigned x-amz-*
header, tampered or expired presigned URL) are answered with S3's error and recorded."""
import hashlib
import os
import resource
import shutil
import subprocess
import time

import pytest
import requests

import s3 as s3mod
from s3 import EMPTY_SHA256, require_botocore

pytest_plugins = ["s3"]


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for piece in iter(lambda: f.read(1 << 20), b""):
            digest.update(piece)
    return digest.hexdigest()


def curl(stack, path, *args, payload_hash=EMPTY_SHA256, secret=None, output="-"):
    """curl --aws-sigv4 to stack.endpoint + path (path and query passed exactly as given);
    payload_hash goes into x-amz-content-sha256 (None: no such header), the body into output
    ("-": returned). Returns (status, body bytes)."""
    if shutil.which("curl") is None:
        pytest.skip("missing prerequisite: `curl` (Debian package curl)")
    cmd = ["curl", "-s", "--max-time", "120", "-o", str(output), "-w", "\n%{http_code}",
           "--aws-sigv4", f"aws:amz:{stack.region}:s3",
           "--user", f"{stack.access_key}:{secret or stack.secret_key}"]
    if payload_hash is not None:
        cmd += ["-H", f"x-amz-content-sha256: {payload_hash}"]
    p = subprocess.run(cmd + list(args) + ["--", stack.endpoint + path],
                       capture_output=True, check=True)
    body, _, status = p.stdout.rpartition(b"\n")
    return int(status), body


def direct_get(stack, bucket, key):
    """(status, bytes) of an anonymous GET straight to s3rver (it does not check auth)."""
    r = requests.get(f"{stack.direct}/{bucket}/{key}", timeout=30)
    return r.status_code, r.content


def client_error(call, *args, **kw):
    """The botocore ClientError `call` raises: (HTTP status, S3 error code)."""
    from botocore.exceptions import ClientError
    with pytest.raises(ClientError) as info:
        call(*args, **kw)
    resp = info.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"]


def assert_rejected(stack, code, method=None):
    """The proxy recorded exactly one rejection, with S3 error code `code`."""
    assert len(stack.proxy.rejected) == 1, stack.proxy.report()
    rej = stack.proxy.rejected[0]
    assert rej.code == code, rej
    if method:
        assert rej.method == method, rej
    return rej


# --------------------------------------------------------------------------------------------
# Set-up and the stack itself


def test_missing_s3rver_skips_naming_the_make_target(monkeypatch, tmp_path):
    monkeypatch.setattr(s3mod, "S3RVER_BIN", tmp_path / "no-such" / "s3rver")
    with pytest.raises(pytest.skip.Exception, match=r"s3rver not installed.*make test-deps"):
        s3mod.ensure_s3rver()


def test_buckets_exist_and_only_the_proxy_checks_auth(s3):
    r = requests.get(s3.direct + "/", timeout=10)  # anonymous, straight to s3rver
    assert r.status_code == 200
    for bucket in ("ims", "boot-images"):
        assert f"<Name>{bucket}</Name>" in r.text
    r = requests.get(s3.endpoint + "/", timeout=10)  # anonymous, through the proxy
    assert r.status_code == 403
    assert "<Code>AccessDenied</Code>" in r.text
    assert_rejected(s3, "AccessDenied", "GET")
    assert s3.proxy.count == 1


def test_factory_stack_has_its_buckets_and_its_secret(s3_stack_factory):
    stack = s3_stack_factory(buckets=["alpha", "beta"], secret_key="not-the-default")
    assert stack.endpoint != stack.direct
    names = [b["Name"] for b in stack.client().list_buckets()["Buckets"]]
    assert sorted(names) == ["alpha", "beta"]
    assert stack.proxy.rejected == []
    status, code = client_error(stack.client(secret_key="S3RVER").list_buckets)
    assert (status, code) == (403, "SignatureDoesNotMatch")
    assert_rejected(stack, "SignatureDoesNotMatch")


def test_stop_ends_both_servers_and_removes_the_temp_dir(s3_stack_factory):
    stack = s3_stack_factory(buckets=["gone"])
    pid, workdir = stack.server.proc.pid, stack.workdir
    stack.stop()
    assert stack.server.proc is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not workdir.exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(stack.endpoint + "/", timeout=5)


def test_crashed_s3rver_shows_as_bad_gateway_and_restarts(s3_stack_factory):
    stack = s3_stack_factory(buckets=["crash"])
    c = stack.client()
    c.put_object(Bucket="crash", Key="kept", Body=b"survives")
    up = c.create_multipart_upload(Bucket="crash", Key="mp")
    # s3rver 3.7.1 dies on a part that was never uploaded (an unhandled ENOENT)
    status, code = client_error(c.complete_multipart_upload, Bucket="crash", Key="mp",
                                UploadId=up["UploadId"],
                                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]})
    assert (status, code) == (502, "BadGateway")
    stack.server.proc.wait(10)
    assert not stack.server.running
    stack.restart_server()
    assert c.get_object(Bucket="crash", Key="kept")["Body"].read() == b"survives"


# --------------------------------------------------------------------------------------------
# botocore (the AWS SDK's own signer) passes


def test_botocore_object_round_trip(s3):
    c = s3.client()
    c.create_bucket(Bucket="fixture-rt")
    key = "dir one/näme+(1)~.txt"
    put = c.put_object(Bucket="fixture-rt", Key=key, Body=b"hello s3",
                       ContentType="text/x-test", Metadata={"origin": "imgd test"})
    assert put["ETag"] == '"%s"' % hashlib.md5(b"hello s3").hexdigest()
    head = c.head_object(Bucket="fixture-rt", Key=key)
    assert head["ContentLength"] == 8
    assert head["ContentType"] == "text/x-test"
    assert head["Metadata"] == {"origin": "imgd test"}
    got = c.get_object(Bucket="fixture-rt", Key=key)
    assert got["Body"].read() == b"hello s3"
    c.put_object(Bucket="fixture-rt", Key="other/x", Body=b"x")
    listed = c.list_objects_v2(Bucket="fixture-rt", Prefix="dir one/")
    assert [o["Key"] for o in listed["Contents"]] == [key]
    # s3rver decodes x-amz-copy-source with decodeURI, so a source key with %2B (or another
    # encoded reserved character) is not found there; AWS decodes it fully
    c.copy_object(Bucket="fixture-rt", Key="copy/y",
                  CopySource={"Bucket": "fixture-rt", "Key": "other/x"})
    assert c.get_object(Bucket="fixture-rt", Key="copy/y")["Body"].read() == b"x"
    c.delete_object(Bucket="fixture-rt", Key=key)
    c.delete_object(Bucket="fixture-rt", Key="other/x")
    assert client_error(c.head_object, Bucket="fixture-rt", Key=key) == (404, "404")
    # (s3rver writes a non-ASCII key in an error body as an HTML entity, &auml;, which is not
    # XML: botocore then reports the bare status; an ASCII key shows the real code)
    assert client_error(c.get_object, Bucket="fixture-rt", Key="other/x") == (404, "NoSuchKey")
    assert s3.proxy.rejected == [], s3.proxy.report()
    assert s3.proxy.count == 12


def test_botocore_multipart_upload(s3):
    c = s3.client()
    part1, part2 = os.urandom(5 << 20), os.urandom(1234)
    up = c.create_multipart_upload(Bucket="ims", Key="mp/obj")
    parts = []
    for n, data in enumerate((part1, part2), 1):
        r = c.upload_part(Bucket="ims", Key="mp/obj", UploadId=up["UploadId"], PartNumber=n,
                          Body=data)
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    c.complete_multipart_upload(Bucket="ims", Key="mp/obj", UploadId=up["UploadId"],
                                MultipartUpload={"Parts": parts})
    assert c.get_object(Bucket="ims", Key="mp/obj")["Body"].read() == part1 + part2
    assert s3.proxy.rejected == [], s3.proxy.report()
    assert s3.proxy.count == 5


def test_botocore_with_wrong_secret_is_rejected(s3):
    bad = s3.client(secret_key="wrong-secret")
    status, code = client_error(bad.put_object, Bucket="ims", Key="wrong/secret", Body=b"x")
    assert (status, code) == (403, "SignatureDoesNotMatch")
    rej = assert_rejected(s3, "SignatureDoesNotMatch", "PUT")
    assert rej.path == "/ims/wrong/secret"
    assert direct_get(s3, "ims", "wrong/secret")[0] == 404  # never reached s3rver


def test_botocore_with_unknown_access_key_is_rejected(s3):
    c = s3mod.botocore_client(s3.endpoint, access_key="NOBODY", secret_key=s3.secret_key)
    assert client_error(c.list_buckets) == (403, "InvalidAccessKeyId")
    assert_rejected(s3, "InvalidAccessKeyId")


def test_unsigned_amz_header_is_rejected(s3):
    require_botocore()
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    req = AWSRequest("PUT", s3.endpoint + "/ims/unsigned-meta", data=b"x")
    S3SigV4Auth(Credentials(s3.access_key, s3.secret_key), "s3", s3.region).add_auth(req)
    headers = dict(req.headers.items())
    ok = requests.put(req.url, data=b"x", headers=headers, timeout=10)
    assert ok.status_code == 200
    headers["x-amz-meta-late"] = "added after signing"
    r = requests.put(req.url, data=b"x", headers=headers, timeout=10)
    assert r.status_code == 403 and "x-amz-meta-late" in r.text
    assert_rejected(s3, "AccessDenied", "PUT")


# --------------------------------------------------------------------------------------------
# curl --aws-sigv4 (what the daemon's libcurl does): canonical URLs pass, others do not


def test_curl_put_get_head_delete(s3, tmp_path):
    data = os.urandom(300_000)
    (tmp_path / "f").write_bytes(data)
    assert curl(s3, "/ims/curl/f", "-T", str(tmp_path / "f"), payload_hash=sha256(data))[0] == 200
    assert curl(s3, "/ims/curl/g", "-T", str(tmp_path / "f"),
                payload_hash="UNSIGNED-PAYLOAD")[0] == 200
    assert curl(s3, "/ims/curl/f") == (200, data)
    status, head = curl(s3, "/ims/curl/f", "-I")
    assert status == 200 and b"Content-Length: 300000" in head
    status, head = curl(s3, "/ims/curl/missing", "-I")
    assert status == 404 and b"Content-Length" in head
    assert curl(s3, "/ims/curl/f", "-X", "DELETE")[0] == 204
    assert curl(s3, "/ims/curl/f")[0] == 404
    assert s3.proxy.rejected == [], s3.proxy.report()


def test_curl_sorted_query_passes_unsorted_is_rejected(s3):
    status, body = curl(s3, "/ims?list-type=2&prefix=a")
    assert status == 200 and b"<ListBucketResult" in body
    assert s3.proxy.rejected == []
    status, body = curl(s3, "/ims?prefix=a&list-type=2")
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body
    assert_rejected(s3, "SignatureDoesNotMatch", "GET")


def test_curl_query_values_must_be_encoded(s3):
    assert curl(s3, "/ims?list-type=2&prefix=a%2Fb")[0] == 200
    assert curl(s3, "/ims?list-type=2&prefix=a/b")[0] == 403
    assert_rejected(s3, "SignatureDoesNotMatch")


@pytest.mark.parametrize("good, bad", [
    ("/ims/enc/%28x%29", "/ims/enc/(x)"),           # reserved characters: encoded
    ("/ims/enc/%C3%A9", "/ims/enc/%c3%a9"),         # upper-case hex only
    ("/ims/enc/a%20b", None),                        # a space is %20
    ("/ims/enc/a~b-c_d.e", "/ims/enc/a%7Eb"),        # unreserved characters: never encoded
])
def test_curl_path_must_be_rfc3986_encoded(s3, good, bad):
    assert curl(s3, good, "-X", "PUT", "--data-binary", "")[0] == 200
    assert s3.proxy.rejected == [], s3.proxy.report()
    if bad:
        status, body = curl(s3, bad, "-X", "PUT", "--data-binary", "")
        assert status == 403 and b"SignatureDoesNotMatch" in body
        assert_rejected(s3, "SignatureDoesNotMatch", "PUT")


def test_curl_create_multipart_needs_uploads_with_equals(s3):
    status, body = curl(s3, "/ims/mp/curl?uploads", "-X", "POST")
    assert status == 403
    assert_rejected(s3, "SignatureDoesNotMatch", "POST")
    status, body = curl(s3, "/ims/mp/curl?uploads=", "-X", "POST")
    assert status == 200 and b"<UploadId>" in body


def test_curl_without_content_sha256_is_rejected(s3):
    status, body = curl(s3, "/ims", payload_hash=None)
    assert status == 400 and b"<Code>InvalidRequest</Code>" in body
    assert_rejected(s3, "InvalidRequest", "GET")


def test_curl_body_must_match_its_hash(s3, tmp_path):
    (tmp_path / "f").write_bytes(b"the real body")
    status, body = curl(s3, "/ims/hash/f", "-T", str(tmp_path / "f"),
                        payload_hash=sha256(b"another body"))
    assert status == 400 and b"<Code>XAmzContentSHA256Mismatch</Code>" in body
    assert_rejected(s3, "XAmzContentSHA256Mismatch", "PUT")
    assert direct_get(s3, "ims", "hash/f")[0] == 404


def test_curl_wrong_secret_head_is_rejected_without_body(s3):
    status, head = curl(s3, "/ims/anything", "-I", secret="wrong")
    assert status == 403 and head.startswith(b"HTTP/1.1 403")
    assert b"<Error>" not in head
    assert_rejected(s3, "SignatureDoesNotMatch", "HEAD")


def test_chunked_upload_is_refused_like_s3_or_forwarded_on_request(s3, s3_stack_factory,
                                                                   tmp_path):
    data = os.urandom(200_000)
    (tmp_path / "f").write_bytes(data)
    chunked = ("-T", str(tmp_path / "f"), "-H", "Transfer-Encoding: chunked")
    status, body = curl(s3, "/ims/chunked/f", *chunked, payload_hash=sha256(data))
    assert status == 501 and b"<Header>Transfer-Encoding</Header>" in body
    assert_rejected(s3, "NotImplemented", "PUT")
    lenient = s3_stack_factory(allow_chunked=True)
    assert curl(lenient, "/ims/chunked/f", *chunked, payload_hash=sha256(data))[0] == 200
    assert direct_get(lenient, "ims", "chunked/f") == (200, data)
    assert lenient.proxy.chunked == 1 and lenient.proxy.rejected == []


def test_large_bodies_stream_through_without_being_held_in_memory(s3, tmp_path):
    """96 MiB up (hashed and unsigned) and down; the proxy runs in this process, and its peak
    memory grows by far less than the body."""
    big, back, digest = tmp_path / "big", tmp_path / "back", hashlib.sha256()
    with open(big, "wb") as f:
        for _ in range(96):
            piece = os.urandom(1 << 20)
            digest.update(piece)
            f.write(piece)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    for key, payload_hash in (("big/hashed", digest.hexdigest()),
                              ("big/unsigned", "UNSIGNED-PAYLOAD")):
        assert curl(s3, f"/ims/{key}", "-T", str(big), payload_hash=payload_hash)[0] == 200
        assert curl(s3, f"/ims/{key}", output=back)[0] == 200
        assert back.stat().st_size == 96 << 20
        assert file_sha256(back) == digest.hexdigest()
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    assert growth < 48 << 10, f"peak memory grew by {growth} KiB"
    assert s3.proxy.rejected == [], s3.proxy.report()


# --------------------------------------------------------------------------------------------
# Presigned URLs


def test_presigned_get_passes_tampered_and_expired_do_not(s3):
    c = s3.client()
    c.put_object(Bucket="boot-images", Key="pre/kernel", Body=b"vmlinuz bytes")
    url = c.generate_presigned_url("get_object", ExpiresIn=300,
                                   Params={"Bucket": "boot-images", "Key": "pre/kernel"})
    assert "X-Amz-Signature=" in url
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.content == b"vmlinuz bytes"
    assert s3.proxy.rejected == [], s3.proxy.report()

    tampered = url[:-1] + ("0" if url[-1] != "0" else "1")
    r = requests.get(tampered, timeout=10)
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text
    assert_rejected(s3, "SignatureDoesNotMatch", "GET")

    s3.proxy.reset()
    short = c.generate_presigned_url("get_object", ExpiresIn=1,
                                     Params={"Bucket": "boot-images", "Key": "pre/kernel"})
    time.sleep(2)
    r = requests.get(short, timeout=10)
    assert r.status_code == 403 and "Request has expired" in r.text
    assert_rejected(s3, "AccessDenied", "GET")


def test_presigned_put_stores_the_object(s3):
    c = s3.client()
    url = c.generate_presigned_url("put_object", ExpiresIn=60,
                                   Params={"Bucket": "ims", "Key": "pre/put"})
    r = requests.put(url, data=b"uploaded by URL", timeout=10)
    assert r.status_code == 200, r.text
    assert direct_get(s3, "ims", "pre/put") == (200, b"uploaded by URL")
    assert s3.proxy.rejected == [], s3.proxy.report()
