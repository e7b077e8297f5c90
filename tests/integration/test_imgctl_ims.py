# SPDX-License-Identifier: MIT
"""imgctl's IMS commands (imgctl ims RESOURCE VERB) against the real imgd: public keys, recipes
made from a directory (packed with tar) or a .tgz, images made from a directory (packed with
mksquashfs) or a squashfs file with their kernel, initrd and boot parameters and the manifest
naming them, the soft delete / restore / purge of images, jobs, and the failures: usage errors
before any request, server refusals before a record exists, and a failure (or an interrupt)
after the record was made, which removes it. The artifacts are read back through imgd's
/artifacts face and checked against the local files. imgctl talks to imgd over its unix socket,
with HOME, XDG_CONFIG_HOME and TMPDIR inside the test's temp dir. The round trips run on both
artifact backends: files (the default) and a real S3 service (s3rver behind a SigV4 check)."""
import gzip
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import tarfile
import time

import pytest

from conftest import IMGCTL, aligned_table as table, failed, ok, one_line, run_imgctl

pytest_plugins = ["s3"]

TIMEOUT = 120
KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGp9yV0a2G3tOGfN3vLQ0nL8pXbUj6a6k3vOa7w4lXQ1 "
       "alice@example")
MANIFEST_CREATED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
TYPES = {"rootfs": "application/vnd.cray.image.rootfs.squashfs",
         "kernel": "application/vnd.cray.image.kernel",
         "initrd": "application/vnd.cray.image.initrd",
         "boot_parameters": "application/vnd.cray.image.parameters.boot"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
NOT_FOUND = "Requested resource does not exist"


def ctl(d, *args, env=None):
    (d.tmp / "ctl-tmp").mkdir(exist_ok=True)
    env = dict(env or {}, TMPDIR=str(d.tmp / "ctl-tmp"))
    return run_imgctl(d.tmp, args, server=f"unix://{d.socket}", env=env, timeout=TIMEOUT)


def made(r):
    """The id a create printed."""
    out = one_line(ok(r))
    assert UUID.fullmatch(out), out
    return out


def api(d, path, method="GET", **kw):
    r = d.request(method, path, **kw)
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r.json()


def artifact(d, bucket, key):
    r = d.get(f"/artifacts/{bucket}/{key}", timeout=60)
    assert r.status_code == 200, (bucket, key, r.status_code, r.text)
    return r.content


def md5(data):
    return hashlib.md5(data).hexdigest()


def nothing_left(d):
    """No record, live or deleted, and no temporary file of imgctl."""
    assert api(d, "/v3/images") == [] and api(d, "/v3/deleted/images") == []
    assert api(d, "/v3/recipes") == [] and api(d, "/v3/deleted/recipes") == []
    assert list((d.tmp / "ctl-tmp").iterdir()) == []


@pytest.fixture(params=["fs", "s3"])
def ims_imgd(request, imgd_factory):
    """imgd with its artifacts in files, or in S3 (the stack's buckets are ims and
    boot-images)."""
    if request.param == "fs":
        return imgd_factory()
    s3 = request.getfixturevalue("s3")
    return imgd_factory(config={"s3_endpoint": s3.endpoint, "s3_access_key": s3.access_key,
                                "s3_secret_key": s3.secret_key, "s3_region": s3.region})


@pytest.fixture
def tree(tmp):
    """A small root file system, and a boot kernel, initrd and parameters beside it."""
    root = tmp / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text("NAME=test\n")
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_bytes(os.urandom(300_000))
    (root / "bin" / "link").symlink_to("tool")
    files = {"kernel": tmp / "vmlinuz", "initrd": tmp / "initrd.img",
             "boot_parameters": tmp / "kernel-parameters"}
    files["kernel"].write_bytes(os.urandom(1_500_000))
    files["initrd"].write_bytes(os.urandom(700_000))
    files["boot_parameters"].write_text("console=ttyS0 root=live:s3://x\n")
    return root, files


def squashfs(src, dest):
    subprocess.run(["mksquashfs", str(src), str(dest), "-noappend", "-quiet", "-comp", "gzip"],
                   check=True, capture_output=True)
    return dest


def squashfs_listing(path):
    out = subprocess.run(["unsquashfs", "-l", "-d", "", str(path)], check=True,
                         capture_output=True, text=True).stdout
    return sorted(line for line in out.splitlines() if line.startswith("/"))


# ---- public keys ----

def test_public_keys(imgd, tmp):
    first = made(ctl(imgd, "ims", "public-keys", "create", "alice", "--key", KEY))
    key_file = tmp / "id.pub"
    key_file.write_text("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 bob@host\n\n")
    second = json.loads(ok(ctl(imgd, "-o", "json", "ims", "public-keys", "create", "bob",
                               "--key-file", key_file)))
    # the file's trailing newlines are not part of the key
    assert second["public_key"] == "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 bob@host"
    assert set(second) == {"id", "created", "name", "public_key"}
    assert api(imgd, f"/v3/public-keys/{first}")["public_key"] == KEY

    rows = table(ok(ctl(imgd, "ims", "public-keys", "list")), ["ID", "NAME", "CREATED", "KEY"])
    assert sorted(r[:2] for r in rows) == sorted([[first, "alice"], [second["id"], "bob"]])
    assert {r[3] for r in rows} == {"ssh-ed25519 ... alice@example", "ssh-rsa ... bob@host"}
    assert all(MANIFEST_CREATED.fullmatch(r[2]) for r in rows)
    assert json.loads(ok(ctl(imgd, "-o", "json", "ims", "public-keys", "list"))) == \
        api(imgd, "/v3/public-keys")

    assert ok(ctl(imgd, "ims", "public-keys", "delete", first)) == f"{first}\n"
    assert [k["id"] for k in api(imgd, "/v3/public-keys")] == [second["id"]]
    assert [k["id"] for k in api(imgd, "/v3/deleted/public-keys")] == [first]
    failed(ctl(imgd, "ims", "public-keys", "delete", first),
           f"DELETE /v3/public-keys/{first}: 404", NOT_FOUND)

    private = tmp / "id_ed25519"
    private.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
                       "-----END OPENSSH PRIVATE KEY-----\n")
    failed(ctl(imgd, "ims", "public-keys", "create", "oops", "--key-file", private),
           "private key", code=2)
    failed(ctl(imgd, "ims", "public-keys", "create", "x", "--key-file", tmp / "missing.pub"),
           "--key-file", "missing.pub", code=2)
    failed(ctl(imgd, "ims", "public-keys", "create", "", "--key", KEY), "argument is empty",
           code=2)
    assert len(api(imgd, "/v3/public-keys")) == 1


# ---- recipes ----

def recipe_dir(tmp):
    d = tmp / "recipe"
    (d / "root" / "etc").mkdir(parents=True)
    (d / "config.xml").write_text("<image schemaversion='6.8' name='x'/>\n")
    (d / "root" / "etc" / "motd").write_text("hello\n")
    (d / "config.sh").write_text("#!/bin/sh\n")
    return d


def test_recipe_from_a_directory(ims_imgd, tmp):
    imgd = ims_imgd
    src = recipe_dir(tmp)
    rid = made(ctl(imgd, "ims", "recipes", "create", "base", "--from", src))
    rec = api(imgd, f"/v3/recipes/{rid}")
    key = f"recipes/{rid}/recipe.tar.gz"
    assert rec["name"] == "base" and rec["recipe_type"] == "kiwi-ng"
    assert rec["linux_distribution"] == "sles15" and rec["arch"] == "x86_64"
    assert rec["link"]["path"] == f"s3://ims/{key}" and rec["link"]["type"] == "s3"
    head = imgd.request("HEAD", f"/artifacts/ims/{key}")
    assert head.status_code == 200
    assert head.headers["ETag"].strip('"') == rec["link"]["etag"].strip('"')
    data = artifact(imgd, "ims", key)
    assert data[:2] == b"\x1f\x8b"
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        files = {os.path.normpath(m.name): tar.extractfile(m).read()
                 for m in tar.getmembers() if m.isfile()}
    # the directory's contents, not the directory itself
    assert files == {"config.xml": (src / "config.xml").read_bytes(),
                     "config.sh": b"#!/bin/sh\n", "root/etc/motd": b"hello\n"}
    assert list((imgd.tmp / "ctl-tmp").iterdir()) == []

    rows = table(ok(ctl(imgd, "ims", "recipes", "list")),
                 ["ID", "NAME", "TYPE", "DISTRO", "ARCH", "CREATED", "LINK"])
    assert [r[:5] + r[6:] for r in rows] == [[rid, "base", "kiwi-ng", "sles15", "x86_64",
                                              f"s3://ims/{key}"]]


def test_recipe_from_a_tgz_with_options(imgd, tmp):
    tgz = tmp / "recipe.tgz"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("config.xml")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"<x/>\n"))
    tgz.write_bytes(gzip.compress(buf.getvalue()))
    out = json.loads(ok(ctl(imgd, "-o", "json", "ims", "recipes", "create", "pk", "--from", tgz,
                            "--type", "packer", "--distro", "centos7", "--arch", "aarch64")))
    assert out == api(imgd, f"/v3/recipes/{out['id']}")
    assert (out["recipe_type"], out["linux_distribution"], out["arch"]) == \
        ("packer", "centos7", "aarch64")
    # the file is uploaded as it is
    assert artifact(imgd, "ims", f"recipes/{out['id']}/recipe.tar.gz") == tgz.read_bytes()


def test_recipe_refused_leaves_nothing(imgd, tmp):
    src = recipe_dir(tmp)
    # refused by the server before a record exists
    failed(ctl(imgd, "ims", "recipes", "create", "r", "--from", src, "--distro", "sles99"),
           "ims recipes create 'r'", "POST /v3/recipes: 422",
           '(errors: {"linux_distribution":[')
    failed(ctl(imgd, "ims", "recipes", "create", "r", "--from", src, "--type", "bogus"), "422")
    # refused after the record was made: the record goes again
    line = failed(ctl(imgd, "ims", "recipes", "create", "r", "--from", src,
                      "--bucket", "Bad_Bucket"), "PUT /artifacts/Bad_Bucket/recipes/", ": 400 ",
                  "invalid bucket name")
    assert re.search(r"; the new record \S+ was removed$", line), line
    nothing_left(imgd)


# ---- images ----

def check_manifest(d, iid, files, rootfs_bytes=None):
    """The image's record links its manifest, which lists each file with the right md5; returns
    the manifest."""
    rec = api(d, f"/v3/images/{iid}")
    assert rec["link"]["path"] == f"s3://boot-images/{iid}/manifest.json"
    manifest = json.loads(artifact(d, "boot-images", f"{iid}/manifest.json"))
    assert manifest["version"] == "1.0"
    assert MANIFEST_CREATED.fullmatch(manifest["created"]), manifest["created"]
    by_type = {a["type"]: a for a in manifest["artifacts"]}
    assert len(by_type) == len(manifest["artifacts"]) == 1 + len(files)
    for name, local in [("rootfs", None)] + list(files.items()):
        a = by_type[TYPES[name]]
        assert a["link"]["path"] == f"s3://boot-images/{iid}/{name}"
        assert a["link"]["type"] == "s3" and a["link"]["etag"]
        stored = artifact(d, "boot-images", f"{iid}/{name}")
        assert a["md5"] == md5(stored)
        if local is not None:
            assert stored == local.read_bytes()
        elif rootfs_bytes is not None:
            assert stored == rootfs_bytes
    return manifest


IMAGES = ["ID", "NAME", "ARCH", "CREATED", "MANIFEST"]
DELETED = ["ID", "NAME", "ARCH", "CREATED", "DELETED"]


def test_image_from_a_directory_delete_restore_purge(ims_imgd, tmp, tree):
    imgd = ims_imgd
    root, files = tree
    iid = made(ctl(imgd, "ims", "images", "create", "compute", "--rootfs", root,
                   "--kernel", files["kernel"], "--initrd", files["initrd"],
                   "--boot-parameters", files["boot_parameters"]))
    check_manifest(imgd, iid, files)
    rootfs = tmp / "fetched.squashfs"
    rootfs.write_bytes(artifact(imgd, "boot-images", f"{iid}/rootfs"))
    assert squashfs_listing(rootfs) == squashfs_listing(squashfs(root, tmp / "local.squashfs"))
    # mksquashfs wrote its file in a private directory under $TMPDIR, removed afterwards
    assert list((imgd.tmp / "ctl-tmp").iterdir()) == []

    (row,) = table(ok(ctl(imgd, "ims", "images", "list")), IMAGES)
    assert row[:3] + row[4:] == [iid, "compute", "x86_64",
                                 f"s3://boot-images/{iid}/manifest.json"]
    assert table(ok(ctl(imgd, "ims", "images", "get", iid)), IMAGES) == [row]
    assert json.loads(ok(ctl(imgd, "-o", "json", "ims", "images", "get", iid))) == \
        api(imgd, f"/v3/images/{iid}")

    assert ok(ctl(imgd, "ims", "images", "delete", iid)) == f"{iid}\n"
    assert api(imgd, "/v3/images") == []
    assert [i["id"] for i in api(imgd, "/v3/deleted/images")] == [iid]
    (gone,) = table(ok(ctl(imgd, "ims", "images", "list", "--deleted")), DELETED)
    assert gone[:3] == [iid, "compute", "x86_64"] and MANIFEST_CREATED.fullmatch(gone[4])
    assert table(ok(ctl(imgd, "ims", "images", "get", "--deleted", iid)), DELETED) == [gone]
    failed(ctl(imgd, "ims", "images", "get", iid), f"GET /v3/images/{iid}: 404", NOT_FOUND)

    assert json.loads(ok(ctl(imgd, "-o", "json", "ims", "images", "restore", iid))) == \
        {"id": iid}
    assert api(imgd, "/v3/deleted/images") == []
    check_manifest(imgd, iid, files)  # back with the same id, and its files with it
    failed(ctl(imgd, "ims", "images", "restore", iid), "404")

    ok(ctl(imgd, "ims", "images", "delete", iid))
    assert ok(ctl(imgd, "ims", "images", "purge", iid)) == f"{iid}\n"
    nothing_left(imgd)
    assert imgd.get(f"/artifacts/boot-images/{iid}/manifest.json").status_code == 404
    failed(ctl(imgd, "ims", "images", "purge", iid), f"DELETE /v3/deleted/images/{iid}: 404")


def test_image_from_a_squashfs_file(ims_imgd, tmp, tree):
    imgd = ims_imgd
    root, files = tree
    sqfs = squashfs(root, tmp / "image.squashfs")
    rec = json.loads(ok(ctl(imgd, "-o", "json", "ims", "images", "create", "small",
                            "--rootfs", sqfs, "--kernel", files["kernel"],
                            "--initrd", files["initrd"], "--arch", "aarch64")))
    assert rec == api(imgd, f"/v3/images/{rec['id']}")
    assert rec["name"] == "small" and rec["arch"] == "aarch64"
    del files["boot_parameters"]  # not given: not in the manifest
    check_manifest(imgd, rec["id"], files, rootfs_bytes=sqfs.read_bytes())


def test_image_with_only_a_rootfs(imgd, tmp, tree):
    root, _ = tree
    iid = made(ctl(imgd, "ims", "images", "create", "bare", "--rootfs", root))
    check_manifest(imgd, iid, {})


def test_image_refused_leaves_nothing(imgd, tmp, tree):
    root, files = tree
    # the server refuses the arch: no record was made
    failed(ctl(imgd, "ims", "images", "create", "x", "--rootfs", root, "--arch", "bogus"),
           "ims images create 'x'", "POST /v3/images: 422")
    # refused after the record was made: the record goes again, with what was uploaded
    line = failed(ctl(imgd, "ims", "images", "create", "x", "--rootfs", root,
                      "--kernel", files["kernel"], "--bucket", "Bad_Bucket"),
                  "PUT /artifacts/Bad_Bucket/", "/rootfs: 400 ", "invalid bucket name")
    assert re.search(r"; the new record \S+ was removed$", line), line
    nothing_left(imgd)


def test_image_interrupted_leaves_nothing(imgd, tmp, tree):
    """SIGINT while the initrd uploads: the record made for the image and the rootfs and kernel
    already stored are removed before imgctl ends."""
    root, files = tree
    big = tmp / "big.initrd"
    with open(big, "wb") as f:
        f.truncate(4 << 30)  # sparse: a long upload that costs no disk here
    full = {k: v for k, v in os.environ.items() if not k.startswith(("IMGCTL_", "IMGD_"))}
    full.update(HOME=str(tmp / "home"), XDG_CONFIG_HOME=str(tmp / "xdg"))
    proc = subprocess.Popen([str(IMGCTL), "--server", f"unix://{imgd.socket}", "ims", "images",
                             "create", "big", "--rootfs", str(root), "--kernel",
                             str(files["kernel"]), "--initrd", str(big)], env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        iid = None
        while proc.poll() is None:
            assert time.monotonic() < deadline, "the kernel was not uploaded"
            images = api(imgd, "/v3/images")
            iid = images[0]["id"] if images else None
            if iid and imgd.request("HEAD", f"/artifacts/boot-images/{iid}/kernel").ok:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, (out, err)
    assert out == ""
    assert re.fullmatch(r"imgctl: ims images create 'big': PUT /artifacts/boot-images/\S+/initrd"
                        r".*interrupted; the new record \S+ was removed\n", err), err
    assert api(imgd, "/v3/images") == [] and api(imgd, "/v3/deleted/images") == []
    for name in ("rootfs", "kernel", "initrd"):
        assert imgd.request("HEAD", f"/artifacts/boot-images/{iid}/{name}").status_code == 404


# ---- jobs ----

JOBS = ["ID", "TYPE", "STATUS", "ARTIFACT", "RESULT", "CREATED"]


def post_job(d, recipe_id, key_id):
    job = {"job_type": "create", "artifact_id": recipe_id, "public_key_id": key_id,
           "image_root_archive_name": "built"}
    r = d.request("POST", "/v3/jobs", json=job)
    assert r.status_code == 201, r.text
    return r.json()


def test_jobs(imgd, tmp):
    assert table(ok(ctl(imgd, "ims", "jobs", "list")), JOBS) == []
    assert json.loads(ok(ctl(imgd, "-o", "json", "ims", "jobs", "list"))) == []
    key = made(ctl(imgd, "ims", "public-keys", "create", "k", "--key", KEY))
    recipe = made(ctl(imgd, "ims", "recipes", "create", "r", "--from", recipe_dir(tmp)))
    jobs = [post_job(imgd, recipe, key) for _ in range(3)]

    rows = table(ok(ctl(imgd, "ims", "jobs", "list")), JOBS)
    assert sorted(r[:5] for r in rows) == sorted([j["id"], "create", "creating", recipe, "-"]
                                                 for j in jobs)
    assert all(MANIFEST_CREATED.fullmatch(r[5]) for r in rows)
    (row,) = table(ok(ctl(imgd, "ims", "jobs", "get", jobs[0]["id"])), JOBS)
    assert row[:3] == [jobs[0]["id"], "create", "creating"]
    assert json.loads(ok(ctl(imgd, "-o", "json", "ims", "jobs", "get", jobs[0]["id"]))) == \
        api(imgd, f"/v3/jobs/{jobs[0]['id']}")

    assert ok(ctl(imgd, "ims", "jobs", "delete", jobs[0]["id"])) == f"{jobs[0]['id']}\n"
    failed(ctl(imgd, "ims", "jobs", "get", jobs[0]["id"]), f"GET /v3/jobs/{jobs[0]['id']}: 404",
           NOT_FOUND)
    failed(ctl(imgd, "ims", "jobs", "delete", jobs[0]["id"]), "404")
    # filters that pick none of the jobs left: another type, another status, younger than a day
    for args in [("--type", "customize"), ("--status", "error,success"), ("--age", "1d6h"),
                 ("--status", "creating", "--type", "create", "--age", "2w")]:
        assert ok(ctl(imgd, "ims", "jobs", "delete", *args)) == ""
        assert len(api(imgd, "/v3/jobs")) == 2, args
    assert ok(ctl(imgd, "ims", "jobs", "delete", "--status", "creating,error",
                  "--type", "create")) == ""
    assert api(imgd, "/v3/jobs") == []
    post_job(imgd, recipe, key)
    assert ok(ctl(imgd, "ims", "jobs", "delete", "--all")) == ""
    assert api(imgd, "/v3/jobs") == []
    # the server checks the statuses, and says why in the problem's title alone
    line = failed(ctl(imgd, "ims", "jobs", "delete", "--status", "exploded"),
                  "DELETE /v3/jobs?status=exploded: 400 Unsupported status exploded")
    assert "{" not in line


# ---- usage errors ----

def test_usage_errors_make_no_request(imgd, tmp, tree):
    root, files = tree
    tgz_not = tmp / "not.tgz"
    tgz_not.write_text("plain text\n")
    cases = [
        (("ims",), "give a resource"),
        (("ims", "boxes", "list"), "unknown resource 'boxes'"),
        (("ims", "images"), "give a verb: create, list, get, delete, restore, purge"),
        (("ims", "images", "frob"), "unknown verb 'frob'"),
        (("ims", "images", "create", "x"), "--rootfs DIR|FILE.squashfs is required"),
        (("ims", "images", "create", "x", "--rootfs", "/dev/null"),
         "--rootfs '/dev/null' is neither a directory nor a file"),
        (("ims", "images", "create", "x", "--rootfs", tmp / "nope"), "does not exist"),
        (("ims", "images", "create", "x", "--rootfs", files["kernel"]), "not a squashfs file"),
        (("ims", "images", "create", "x", "--rootfs", root, "--kernel", root),
         "--kernel '%s' is not a regular file" % root),
        (("ims", "images", "create", "--rootfs", root), "usage: imgctl ims images create NAME"),
        (("ims", "images", "create", "x", "--rootfs="), "option '--rootfs' is empty"),
        (("ims", "recipes", "create", "r"), "--from DIR|FILE.tgz is required"),
        (("ims", "recipes", "create", "r", "--from", tgz_not), "not a gzipped tar file"),
        (("ims", "public-keys", "create", "k"), "--key-file FILE or --key KEY"),
        (("ims", "public-keys", "create", "k", "--key", KEY, "--key-file", tgz_not),
         "--key-file FILE or --key KEY"),
        (("ims", "jobs", "delete"), "give an ID, --status/--type/--age, or --all"),
        (("ims", "jobs", "delete", "x", "--all"), "not both"),
        (("ims", "jobs", "delete", "--age", "5"), "--age '5' is not an age"),
        (("ims", "jobs", "delete", "--status", "error,,success"), "empty item"),
        (("ims", "images", "list", "extra"), "takes no arguments"),
        (("ims", "images", "list", "-o", "json"), "imgctl's own options go before 'ims'"),
        (("ims", "images", "list", "--deleted=yes"), "'--deleted' takes no value"),
        (("ims", "images", "delete", ""), "an argument is empty"),
    ]
    for args, words in cases:
        failed(ctl(imgd, *args), words, code=2)
    nothing_left(imgd)
    assert api(imgd, "/v3/public-keys") == []


def test_help(imgd):
    out = ok(ctl(imgd, "ims", "--help"))
    assert out.startswith("Usage: imgctl [OPTION]... ims RESOURCE VERB")
    assert "  ims images create NAME --rootfs DIR|FILE.squashfs" in out
    assert "ims public-keys" in ok(ctl(imgd, "--help"))
