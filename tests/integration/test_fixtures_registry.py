# SPDX-License-Identifier: MIT
"""The registry fixtures work: real docker-registry instances, the test images in them (checked
with skopeo and tarfile), Basic and token auth (checked with curl and skopeo), local archives,
and ocibuild's own rules (merged view, reproducible digests)."""
import base64
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

import ocibuild as ob
from registry import (ACCEPT_ALL, TEST_IMAGE_NAMES, SkopeoError, build_big_image,
                      build_test_images, push_big_image, skopeo, temp_dir)

pytest_plugins = ["registry"]


def curl(*args):
    """Run curl; returns (status, {lower-case header: value}, body bytes) of the last
    response (after redirects with -L)."""
    p = subprocess.run(["curl", "-s", "-D", "-", "--max-time", "20", *args],
                       capture_output=True, check=True)
    body = p.stdout
    while True:
        head, _, body = body.partition(b"\r\n\r\n")
        if not body.startswith(b"HTTP/"):
            break
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), headers, body


def oci_blob(layout, digest):
    return (Path(layout) / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()


def oci_index(layout):
    return json.loads((Path(layout) / "index.json").read_text())


@pytest.fixture
def scratch():
    with temp_dir("fixture-test") as d:
        yield d


# --------------------------------------------------------------------------------------------
# The plain registry and the test images


def test_registry_answers(registry):
    status, headers, body = curl(registry.url + "/v2/")
    assert status == 200 and body == b"{}"
    assert headers["docker-distribution-api-version"] == "registry/2.0"
    assert registry.host.startswith("127.0.0.1:")
    assert registry.storage.is_dir()


@pytest.mark.parametrize("name", TEST_IMAGE_NAMES)
def test_image_copies_back_out(registry, test_images, scratch, name):
    """skopeo copies each image back out byte for byte; all blobs match their digests."""
    info = test_images[name]
    out = scratch / "out"
    assert registry.manifest_digest(info.repo, info.tag) == info.digest
    if info.media_type == ob.DOCKER_LIST:  # oci: cannot hold a Docker list unconverted
        assert registry.pull(info.path_ref, out, transport="dir") == info.digest
        assert ob.sha256((out / "manifest.json").read_bytes()) == info.digest
        for child in info.platforms.values():
            m = (out / (child.digest.split(":")[1] + ".manifest.json")).read_bytes()
            assert ob.sha256(m) == child.digest
            for li in child.layers:
                assert ob.sha256((out / li.digest.split(":")[1]).read_bytes()) == li.digest
        return
    assert registry.pull(info.path_ref, out, dest_ref="x") == info.digest
    index = oci_index(out)
    assert [m["digest"] for m in index["manifests"]] == [info.digest]
    for p in (out / "blobs" / "sha256").iterdir():
        assert ob.sha256(p.read_bytes()) == "sha256:" + p.name
    if not info.platforms:
        manifest = json.loads(oci_blob(out, info.digest))
        assert manifest["config"]["digest"] == info.config_digest
        assert [d["digest"] for d in manifest["layers"]] == [li.digest for li in info.layers]
        for li in info.layers:
            blob = oci_blob(out, li.digest)
            assert len(blob) == li.size
            assert ob.sha256(ob.decompress(blob)) == li.diff_id


def test_image_infos(test_images, registry):
    bb = test_images["busybox-oci"]
    assert bb.ref == f"{registry.host}/test/busybox-oci:latest"
    assert bb.media_type == ob.OCI_MANIFEST and len(bb.layers) == 1
    assert bb.layers[0].media_type == ob.OCI_LAYER_GZIP
    assert bb.config["config"]["Cmd"] == ["/bin/sh"] and bb.config["os"] == "linux"
    assert bb.files["/bin/busybox"]["type"] == "file"
    assert bb.files["/bin/busybox"]["mode"] == 0o755
    assert bb.files["/bin/sh"] == {"type": "symlink", "target": "/bin/busybox", "mode": 0o777,
                                   "uid": 0, "gid": 0}
    assert bb.files["/etc/passwd"]["content"].startswith(b"root:x:0:0:")
    assert bb.files["/tmp"]["mode"] == 0o1777
    assert bb.ref_by_digest == f"{registry.host}/test/busybox-oci@{bb.digest}"

    v2 = test_images["busybox-v2s2"]
    assert v2.media_type == ob.DOCKER_MANIFEST and v2.digest != bb.digest
    body, ctype, _ = registry.manifest(v2.repo, v2.tag)
    m = json.loads(body)
    assert m["config"]["mediaType"] == ob.DOCKER_CONFIG
    assert [d["mediaType"] for d in m["layers"]] == [ob.DOCKER_LAYER_GZIP]
    # same blobs, new manifest: skopeo keeps the config and layer bytes
    assert v2.config_digest == bb.config_digest
    assert [li.digest for li in v2.layers] == [li.digest for li in bb.layers]

    zs = test_images["zstd"]
    assert [li.media_type for li in zs.layers] == [ob.OCI_LAYER_GZIP, ob.OCI_LAYER_ZSTD]
    assert registry.blob(zs.repo, zs.layers[1].digest)[:4] == b"\x28\xb5\x2f\xfd"
    assert zs.files["/zstd/hello"]["content"] == b"hello from a zstd layer\n"
    un = test_images["uncompressed"]
    assert [li.media_type for li in un.layers] == [ob.OCI_LAYER_GZIP, ob.OCI_LAYER]
    assert un.layers[1].digest == un.layers[1].diff_id
    assert registry.blob(un.repo, un.layers[1].digest)[257:262] == b"ustar"


def test_multiarch_index(registry, test_images):
    info = test_images["multiarch"]
    body, ctype, digest = registry.manifest(info.repo, info.tag)
    assert ctype == ob.OCI_INDEX and digest == info.digest
    plats = [(d["platform"]["os"], d["platform"]["architecture"], d["platform"].get("variant"))
             for d in json.loads(body)["manifests"]]
    assert plats == [("linux", "amd64", None), ("linux", "arm64", "v8"),
                     ("unknown", "unknown", None)]
    assert sorted(info.platforms) == ["linux/amd64", "linux/arm64/v8"]
    assert info.extra["skip"] == [info.extra["attestation"]]
    amd, arm = info.platforms["linux/amd64"], info.platforms["linux/arm64/v8"]
    assert amd.config_digest != arm.config_digest
    assert (amd.config["architecture"], arm.config["architecture"]) == ("amd64", "arm64")
    assert arm.config["variant"] == "v8" and "variant" not in amd.config
    assert amd.files["/etc/arch"]["content"] == b"amd64\n"
    assert arm.files["/etc/arch"]["content"] == b"arm64\n"
    for child, arch in ((amd, b"amd64\n"), (arm, b"arm64\n")):
        members = dict((ti.name, data) for ti, data in
                       ob.tar_members(registry.blob(info.repo, child.layers[-1].digest)))
        assert members["etc/arch"] == arch
    # the attestation: an in-toto layer, nothing to unpack
    att, ctype, _ = registry.manifest(info.repo, info.extra["attestation"])
    att = json.loads(att)
    assert [d["mediaType"] for d in att["layers"]] == [ob.IN_TOTO]

    dl = test_images["multiarch-v2s2"]
    body, ctype, _ = registry.manifest(dl.repo, dl.tag)
    assert ctype == ob.DOCKER_LIST
    assert sorted(dl.platforms) == ["linux/amd64", "linux/arm64/v8"]
    assert dl.platforms["linux/amd64"].media_type == ob.DOCKER_MANIFEST


def test_layered_view_matches_umoci(registry, test_images, scratch):
    """The expected merged view of "layered" is what umoci (a real unpacker) produces."""
    info = test_images["layered"]
    assert "/data/a" in info.absent and "/data/dir/x" in info.absent
    assert "/data/.wh.a" in info.absent and "/data/dir/.wh..wh..opq" in info.absent
    for p in ("/data/b", "/data/dir/y", "/data/keep/k", "/bin/busybox"):
        assert p in info.files
    if shutil.which("umoci") is None:
        pytest.skip("missing prerequisite: `umoci` (package umoci)")
    registry.pull(info.path_ref, scratch / "oci", dest_ref="layered")
    args = ["umoci", "unpack", "--image", f"{scratch / 'oci'}:layered", str(scratch / "b")]
    if os.geteuid() != 0:
        args.insert(2, "--rootless")
    subprocess.run(args, check=True, capture_output=True)
    root = scratch / "b" / "rootfs"
    for path, want in info.files.items():
        p = root / path.lstrip("/")
        assert os.path.lexists(p), path
        if want["type"] == "file":
            assert p.is_file() and not p.is_symlink() and p.stat().st_size == want["size"]
            if "content" in want:
                assert p.read_bytes() == want["content"], path
        elif want["type"] == "symlink":
            assert os.readlink(p) == want["target"]
        elif want["type"] == "dir":
            assert p.is_dir()
    for path in info.absent:
        assert not os.path.lexists(root / path.lstrip("/")), path
    found = {"/" + str(p.relative_to(root)) for p in root.rglob("*")}
    assert found == set(info.files)


def test_evil_layers_hold_evil_members(registry, test_images):
    def members(name):
        info = test_images[name]
        return [(ti.name, ti.type, ti.linkname)
                for ti, _ in ob.tar_members(registry.blob(info.repo, info.layers[-1].digest))]

    names = [m[0] for m in members("evil-dotdot")]
    assert "../escape-dotdot" in names and "a/../../escape2" in names
    assert members("evil-absolute") == [("/abs-escape", tarfile.REGTYPE, "")]
    sym = members("evil-symlink")
    assert sym.index(("link", tarfile.SYMTYPE, "/tmp")) < sym.index(
        ("link/escape-symlink", tarfile.REGTYPE, ""))
    assert ("uplink", tarfile.SYMTYPE, "../../../../../../../../../../tmp") in sym
    assert ("passwd-hardlink", tarfile.LNKTYPE, "/etc/passwd") in sym
    assert ("passwd-hardlink-rel", tarfile.LNKTYPE, "../../../../../../../../etc/passwd") in sym
    assert test_images["evil-symlink"].extra["host_paths"] == ["/tmp/escape-symlink",
                                                               "/tmp/escape-symlink-rel"]
    # the rest of the image is a normal busybox
    assert "/bin/busybox" in test_images["evil-absolute"].files


def test_corrupt_blob_fails_the_copy(registry, fresh_image, scratch):
    info = fresh_image()
    layer = info.layers[-1]
    path = registry.blob_path(layer.digest)
    assert path.is_file() and path.stat().st_size == layer.size
    with registry.corrupted(layer.digest):
        assert path.stat().st_size == layer.size
        assert ob.sha256(path.read_bytes()) != layer.digest
        with pytest.raises(SkopeoError) as e:
            registry.pull(info.path_ref, scratch / "bad")
        assert layer.digest.split(":")[1] in e.value.stderr or "digest" in e.value.stderr
    assert registry.pull(info.path_ref, scratch / "good") == info.digest


def test_access_log_and_raw_push(registry, scratch):
    image = ob.build_image([ob.build_layer([ob.File("hello", "raw push\n")])], media="docker")
    digest = registry.push_raw(image, "raw/hello:v1")
    assert digest == image.digest
    assert registry.manifest_digest("raw/hello", "v1") == image.digest
    log = registry.access_log()
    assert {"method": "PUT", "uri": "/v2/raw/hello/manifests/v1", "status": 201} in [
        {k: e[k] for k in ("method", "uri", "status")} for e in log]


# --------------------------------------------------------------------------------------------
# Basic auth


def test_basic_auth_registry(auth_registry, scratch):
    status, headers, _ = curl(auth_registry.url + "/v2/")
    assert status == 401 and headers["www-authenticate"] == 'Basic realm="basic-realm"'
    status, _, _ = curl("-u", auth_registry.creds, auth_registry.url + "/v2/")
    assert status == 200
    status, _, _ = curl("-u", auth_registry.username + ":wrong", auth_registry.url + "/v2/")
    assert status == 401
    info = auth_registry.images["private/busybox:latest"]
    assert (info.layout_ref, info.ref) == ("busybox-oci",
                                           f"{auth_registry.host}/private/busybox:latest")
    assert auth_registry.pull("private/busybox:latest", scratch / "ok") == info.digest
    with pytest.raises(SkopeoError):
        auth_registry.pull("private/busybox:latest", scratch / "anon", creds=False)


# --------------------------------------------------------------------------------------------
# Token auth


def test_token_flow_with_curl(token_registry, token_server):
    reg, ts = token_registry, token_server
    status, headers, _ = curl(reg.url + "/v2/")
    assert status == 401
    assert headers["www-authenticate"] == (f'Bearer realm="{ts.realm}",'
                                           f'service="{ts.service}"')
    accept = ["-H", f"Accept: {ACCEPT_ALL}"]
    manifest = "/v2/{}/manifests/latest"
    status, headers, _ = curl(*accept, reg.url + manifest.format("public/busybox"))
    assert status == 401
    assert headers["www-authenticate"] == (
        f'Bearer realm="{ts.realm}",service="{ts.service}",'
        'scope="repository:public/busybox:pull"')

    def token(scope, *auth):
        return curl(*auth, "-G", ts.realm, "--data-urlencode", f"service={ts.service}",
                    "--data-urlencode", f"scope={scope}")

    # anonymous pull of public/: granted
    status, _, body = token("repository:public/busybox:pull")
    assert status == 200
    tok = json.loads(body)
    assert tok["token"] == tok["access_token"] and tok["expires_in"] == 300
    assert tok["issued_at"].endswith("Z")
    bearer = ["-H", f"Authorization: Bearer {tok['token']}"]
    status, headers, body = curl(*accept, *bearer, reg.url + manifest.format("public/busybox"))
    assert status == 200 and headers["content-type"] == ob.OCI_MANIFEST
    assert headers["docker-content-digest"] == reg.images["public/busybox:latest"].digest

    # anonymous token for private/: empty grant, the registry says no
    status, _, body = token("repository:private/busybox:pull")
    assert status == 200
    bearer = ["-H", f"Authorization: Bearer {json.loads(body)['token']}"]
    status, headers, _ = curl(*accept, *bearer, reg.url + manifest.format("private/busybox"))
    assert status == 401
    assert headers["www-authenticate"] == (
        f'Bearer realm="{ts.realm}",service="{ts.service}",'
        'scope="repository:private/busybox:pull",error="insufficient_scope"')

    # with credentials: granted
    status, _, body = token("repository:private/busybox:pull", "-u",
                            f"{ts.username}:{ts.password}")
    assert status == 200
    bearer = ["-H", f"Authorization: Bearer {json.loads(body)['token']}"]
    status, headers, _ = curl(*accept, *bearer, reg.url + manifest.format("private/busybox"))
    assert status == 200
    assert headers["docker-content-digest"] == reg.images["private/busybox:latest"].digest

    # wrong password: the token server refuses
    status, _, _ = token("repository:private/busybox:pull", "-u", f"{ts.username}:nope")
    assert status == 401

    # the record
    rec = [(r["path"], r["scopes"], r["authorization"], r["user"], r["status"])
           for r in ts.requests]
    assert rec == [
        ("/token", ["repository:public/busybox:pull"], False, None, 200),
        ("/token", ["repository:private/busybox:pull"], False, None, 200),
        ("/token", ["repository:private/busybox:pull"], True, ts.username, 200),
        ("/token", ["repository:private/busybox:pull"], True, None, 401),
    ]
    assert ts.requests[0]["granted"] == [{"type": "repository", "name": "public/busybox",
                                          "actions": ["pull"]}]
    assert ts.requests[1]["granted"][0]["actions"] == []
    assert ts.requests[0]["service"] == ts.service


def test_token_jwt_shape_and_manual_signer(token_registry, token_server):
    """The JWT header/claims the registry accepts, and the hand-rolled ES256 signer (used
    when python3-jwt is missing) is accepted too."""
    ts, reg = token_server, token_registry
    access = [{"type": "repository", "name": "private/busybox", "actions": ["pull"]}]
    for signer in ("manual", None):
        tok = ts.make_token("someone", access, signer=signer)
        h, c, _ = tok.split(".")
        header = json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))
        claims = json.loads(base64.urlsafe_b64decode(c + "=" * (-len(c) % 4)))
        assert header["alg"] == "ES256" and header["typ"] == "JWT"
        assert header["x5c"] == [ts.x5c]
        assert claims["aud"] == ts.service and claims["iss"] == ts.issuer
        assert claims["exp"] - claims["iat"] == 300 and claims["access"] == access
        status, _, _ = curl("-H", f"Accept: {ACCEPT_ALL}", "-H", f"Authorization: Bearer {tok}",
                            reg.url + "/v2/private/busybox/manifests/latest")
        assert status == 200, signer
    # an expired token is refused (distribution allows 60 s of leeway)
    tok = ts.make_token("someone", access, expires_in=-120)
    status, headers, _ = curl("-H", f"Authorization: Bearer {tok}", reg.url + "/v2/")
    assert status == 401 and 'error="invalid_token"' in headers["www-authenticate"]


def test_token_registry_with_skopeo(token_registry, token_server, scratch):
    reg, ts = token_registry, token_server
    want = reg.images["public/busybox:latest"].digest
    assert reg.pull("public/busybox:latest", scratch / "pub", creds=False) == want
    anon = [r for r in ts.requests if not r["authorization"]]
    assert anon and all(r["status"] == 200 for r in anon)
    assert any("repository:public/busybox:pull" in r["scopes"] for r in anon)
    with pytest.raises(SkopeoError):
        reg.pull("private/busybox:latest", scratch / "anon", creds=False)
    ts.reset()
    assert reg.pull("private/busybox:latest", scratch / "priv") == want
    assert ts.requests and all(r["authorization"] and r["user"] == ts.username
                               for r in ts.requests)


def test_token_server_knobs(token_server):
    ts = token_server
    ts.send_token = False
    ts.expires_in = 5
    status, _, body = curl("-G", ts.realm, "-d", f"service={ts.service}")
    body = json.loads(body)
    assert status == 200 and "token" not in body and body["expires_in"] == 5
    ts.force_status = 503
    status, _, _ = curl("-G", ts.realm, "-d", f"service={ts.service}")
    assert status == 503
    ts.reset()
    assert ts.requests == [] and ts.force_status is None
    status, _, _ = curl("-X", "POST", "-d", "grant_type=password", ts.realm)
    assert status == 404 and ts.requests[0]["method"] == "POST"
    status, _, _ = curl("-G", ts.realm, "-d", "service=other")
    assert status == 400
    assert ts.parse_scope("repository:127.0.0.1:5000/a/b:pull,push") == (
        "repository", "127.0.0.1:5000/a/b", ["pull", "push"])


# --------------------------------------------------------------------------------------------
# Redirected blob downloads


def test_redirect_registry(redirect_registry, test_images, scratch):
    reg, blobs = redirect_registry, redirect_registry.blob_server
    info = test_images["layered"]
    layer = info.layers[1]
    blob_url = f"{reg.url}/v2/{info.repo}/blobs/{layer.digest}"
    status, headers, _ = curl("-u", reg.creds, blob_url)
    assert status == 307
    assert headers["location"] == (f"http://{blobs.host}/docker/registry/v2/blobs/sha256/"
                                   f"{layer.digest[7:9]}/{layer.digest[7:]}/data")
    status, headers, _ = curl("-I", "-u", reg.creds, blob_url)
    assert status == 307
    blobs.reset()
    status, _, body = curl("-L", "-u", reg.creds, blob_url)  # curl drops -u on another host
    assert status == 200 and ob.sha256(body) == layer.digest
    status, headers, body = curl("-H", "Range: bytes=0-9", headers["location"])
    assert status == 206 and len(body) == 10
    assert [r["authorization"] for r in blobs.requests] == [False, False]
    # manifests are not redirected
    status, _, _ = curl("-u", reg.creds, "-H", f"Accept: {ACCEPT_ALL}",
                        f"{reg.url}/v2/{info.repo}/manifests/latest")
    assert status == 200
    # skopeo follows the redirects and does not forward the credentials
    blobs.reset()
    assert reg.pull(info.path_ref, scratch / "out") == info.digest
    got = {r["path"].split("/")[-2] for r in blobs.requests if r["method"] == "GET"}
    assert {li.digest[7:] for li in info.layers} | {info.config_digest[7:]} <= got
    assert not any(r["authorization"] for r in blobs.requests)


# --------------------------------------------------------------------------------------------
# Local archives


@pytest.mark.parametrize("name", ["busybox", "layered"])
def test_archives(archives, scratch, name):
    a = getattr(archives, name)
    assert (a.layout / "oci-layout").is_file()
    assert oci_index(a.layout)["manifests"][0]["annotations"] == {
        ob.REF_NAME: a.layout_ref}
    with tarfile.open(a.oci_archive) as tf:
        assert {"oci-layout", "index.json"} <= set(tf.getnames())
    with tarfile.open(a.docker_archive) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))
        assert manifest[0]["RepoTags"] == [a.repo_tag]
        assert manifest[0]["Config"] == a.config_digest.split(":")[1] + ".json"
        assert len(manifest[0]["Layers"]) == len(a.diff_ids)
        for layer, diff_id in zip(manifest[0]["Layers"], a.diff_ids):
            assert ob.sha256(tf.extractfile(layer).read()) == diff_id
        assert json.load(tf.extractfile("repositories"))
    for i, src in enumerate([f"oci:{a.layout}:{a.layout_ref}", f"oci-archive:{a.oci_archive}",
                             f"docker-archive:{a.docker_archive}"]):
        out = scratch / f"o{i}"
        skopeo(["copy", "--quiet", src, f"oci:{out}:x"], scratch)
        digest = oci_index(out)["manifests"][0]["digest"]
        m = json.loads(oci_blob(out, digest))
        cfg = json.loads(oci_blob(out, m["config"]["digest"]))
        assert cfg["rootfs"]["diff_ids"] == a.diff_ids
        if not src.startswith("docker-archive:"):
            assert digest == a.manifest_digest
    assert "/bin/busybox" in a.files


def test_push_from_archives(registry, archives):
    a = archives.layered
    assert registry.push(a.oci_archive, "archive/layered:oci") == a.manifest_digest
    digest = registry.push(a.docker_archive, "archive/layered:docker")
    body, ctype, served = registry.manifest("archive/layered", "docker")
    assert served == digest and ctype == ob.OCI_MANIFEST
    # skopeo re-serialises the config when it converts Docker to OCI: same rootfs, new digest
    cfg = json.loads(registry.blob("archive/layered", json.loads(body)["config"]["digest"]))
    assert cfg["rootfs"]["diff_ids"] == a.diff_ids
    digest = registry.push(a.docker_archive, "archive/layered:v2s2", format="v2s2")
    body, ctype, _ = registry.manifest("archive/layered", "v2s2")
    assert ctype == ob.DOCKER_MANIFEST
    assert json.loads(body)["config"]["digest"] == a.config_digest


# --------------------------------------------------------------------------------------------
# ocibuild


def test_build_is_quick_and_reproducible(scratch):
    t = time.monotonic()
    first = build_test_images(scratch / "a")
    elapsed = time.monotonic() - t
    assert elapsed < 10, f"building the test images took {elapsed:.1f} s"
    second = build_test_images(scratch / "b")
    assert {n: s.obj.digest for n, s in first.items()} == {
        n: s.obj.digest for n, s in second.items()}


def test_merged_view_rules():
    F, D = ob.File, ob.Dir
    lower = [D("d"), F("d/a", "1"), D("d/sub"), F("d/sub/x", "x"), F("top", "t"),
             D("gone"), F("gone/f", "f")]
    upper = [F("d/sub/new", "n"), ob.Opaque("d/sub"), ob.Whiteout("gone"),
             ob.Whiteout("d/a"), F("d/a2", "2"), ob.Symlink("top", "d/a2")]
    files = ob.expected_files([lower, upper])
    assert sorted(files) == ["/d", "/d/a2", "/d/sub", "/d/sub/new", "/top"]
    assert files["/top"]["type"] == "symlink"
    # a whiteout does not hide files of its own layer
    assert "/x" in ob.expected_files([[F("x", "x"), ob.Whiteout("x")]])


def test_tar_details():
    layer = ob.build_layer([ob.Dir("d"), ob.File("d/f", "x", 0o4755), ob.CharDev("dev/null", 1, 3),
                            ob.Hardlink("d/h", "/d/f"), ob.Fifo("p")], dot_prefix=True)
    members = {ti.name: ti for ti, _ in ob.tar_members(layer.data)}
    assert set(members) == {"./d", "./d/f", "./dev/null", "./d/h", "./p"}
    assert members["./d/f"].mode == 0o4755 and members["./d/h"].linkname == "d/f"
    assert (members["./dev/null"].devmajor, members["./dev/null"].devminor) == (1, 3)
    assert layer.data[:2] == b"\x1f\x8b" and ob.sha256(layer.tar) == layer.diff_id
    assert all(ti.mtime == ob.EPOCH and ti.uid == 0 for ti in members.values())


def test_big_image_functions(registry, scratch):
    """build_big_image/push_big_image (what the bench scripts use), here at a small size."""
    layout, ref, image = build_big_image(scratch / "b", layers=2, layer_size=1 << 20)
    assert [layer.size > (1 << 20) for layer in image.layers[1:]] == [True, True]
    digest = push_big_image(registry.host, "test/small-big:latest", workdir=scratch / "p",
                            layers=2, layer_size=1 << 20)
    assert digest == image.digest
    assert registry.manifest_digest("test/small-big", "latest") == digest
