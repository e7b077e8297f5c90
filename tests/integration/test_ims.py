"""The IMS face over HTTP against the real imgd: records, validation texts, soft delete and
restore with the artifacts they hold (fs backend), jobs and their DELETE filters, remote build
nodes, and the gateway prefix. The behaviours follow the reference's test table (IMS §6)."""
import hashlib
import http.client
import json
import re
import threading
import time
import uuid

import pytest

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$")
NO_INPUT = ("No input provided. Determine the specific information that is missing or invalid "
            "and then re-run the request with valid information.")
NOT_FOUND = "Requested resource does not exist. Re-run request with valid ID."
INVALID = ("Input data was understood, but failed validation. Re-run request with valid input "
           "values for the fields indicated in the response.")
CONFLICT = ("Requested resource exists, but cannot be patched due to a patch conflict. Re-run "
            "request with valid input values.")
JOB_KEYS = {"id", "created", "job_type", "artifact_id", "public_key_id", "image_root_archive_name",
            "enable_debug", "build_env_size", "job_mem_size", "kernel_file_name",
            "initrd_file_name", "kernel_parameters_file_name", "ssh_containers", "status",
            "resultant_image_id", "arch", "require_dkms", "kubernetes_job", "kubernetes_service",
            "kubernetes_configmap", "kubernetes_namespace", "kubernetes_pvc", "kubernetes_secret",
            "remote_build_node"}


def call(imgd, method, path, body=None, **kw):
    if body is not None:
        kw["data"] = json.dumps(body)
        kw.setdefault("headers", {"Content-Type": "application/json"})
    return imgd.request(method, path, **kw)


def problem(r, status, detail=None):
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status
    if detail is not None:
        assert body["detail"] == detail
    return body


def put_object(imgd, bucket, key, data, ctype="application/octet-stream"):
    r = imgd.request("PUT", f"/artifacts/{bucket}/{key}", data=data,
                     headers={"Content-Type": ctype})
    assert r.status_code in (200, 201), r.text
    return r.json()


def make_image_objects(imgd, image_id, bucket="boot-images", rootfs=b"hsqs-rootfs"):
    arts = []
    for name, mime, data in (("rootfs", "application/vnd.cray.image.rootfs.squashfs", rootfs),
                             ("kernel", "application/vnd.cray.image.kernel", b"kernel"),
                             ("initrd", "application/vnd.cray.image.initrd", b"initrd")):
        info = put_object(imgd, bucket, f"{image_id}/{name}", data)
        assert info["md5"] == hashlib.md5(data).hexdigest()
        arts.append({"link": info["link"], "type": mime, "md5": info["md5"]})
    manifest = {"version": "1.0", "created": "2026-12-01 10:00:00", "artifacts": arts}
    info = put_object(imgd, bucket, f"{image_id}/manifest.json",
                      json.dumps(manifest).encode(), "application/json")
    return manifest, info["link"]


@pytest.fixture
def ims(imgd):
    return imgd


# ---- public keys ----

@pytest.mark.parametrize("prefix", ["/v2", "/v3", "/apis/ims", "/apis/ims/v2", "/apis/ims/v3"])
def test_public_key_create_get_list(ims, prefix):
    r = call(ims, "POST", f"{prefix}/public-keys", {"name": "admin", "public_key": "ssh-rsa AAA"})
    assert r.status_code == 201 and r.headers["Content-Type"] == "application/json"
    rec = r.json()
    assert set(rec) == {"created", "name", "public_key", "id"}
    assert UUID4.match(rec["id"]) and STAMP.match(rec["created"])
    assert call(ims, "GET", f"{prefix}/public-keys/{rec['id']}").json() == rec
    assert rec in call(ims, "GET", f"{prefix}/public-keys").json()
    # every family sees the same records
    assert call(ims, "GET", f"/v3/public-keys/{rec['id']}").json() == rec


def test_public_key_validation(ims):
    problem(call(ims, "POST", "/v3/public-keys", {}), 400, NO_INPUT)
    problem(call(ims, "POST", "/v3/public-keys", []), 400, NO_INPUT)
    body = problem(call(ims, "POST", "/v3/public-keys", {"name": "x"}), 422, INVALID)
    assert set(body) == {"status", "title", "detail", "errors"}
    assert body["title"] == "Unprocessable Entity"
    assert body["errors"] == {"public_key": ["Missing data for required field."]}
    body = problem(call(ims, "POST", "/v3/public-keys",
                        {"name": "", "public_key": 5, "id": "x", "created": "y"}), 422)
    assert body["errors"] == {"name": ["name field must not be blank"],
                              "public_key": ["Not a valid string."],
                              "id": ["Unknown field."], "created": ["Unknown field."]}
    body = problem(call(ims, "POST", "/v3/public-keys", [1]), 422)
    assert body["errors"] == {"_schema": ["Invalid input type."]}
    r = ims.request("POST", "/v3/public-keys", data="{", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "message" in r.json()
    r = ims.request("POST", "/v3/public-keys", data="name=x")
    assert r.status_code == 400 and "Content-Type" in r.json()["message"]
    assert call(ims, "GET", "/v3/public-keys").json() == []


def test_not_found_and_method_not_allowed(ims):
    body = problem(call(ims, "GET", f"/v3/public-keys/{uuid.uuid4()}"), 404, NOT_FOUND)
    assert set(body) == {"status", "title", "detail"}
    problem(call(ims, "GET", "/v3/recipes/not-a-uuid"), 404, NOT_FOUND)
    problem(call(ims, "DELETE", f"/v2/images/{uuid.uuid4()}"), 404, NOT_FOUND)
    body = problem(call(ims, "GET", "/v3/nothing-here"), 404)
    assert body["detail"].startswith("The requested URL was not found on the server.")
    problem(call(ims, "GET", "/v3/public-keys/"), 404)  # no trailing slash
    problem(call(ims, "GET", "/apis/ims/remote-build-nodes"), 404)  # v3 only
    r = call(ims, "PUT", "/v3/public-keys")
    assert r.status_code == 405 and r.headers["Content-Type"] == "application/json"
    assert set(r.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST", "DELETE"}
    assert r.json() == {"message": "The method is not allowed for the requested URL.",
                        "status": 405, "title": "Method Not Allowed",
                        "detail": "The method is not allowed for the requested URL."}


def test_v2_delete_is_hard_v3_delete_is_soft(ims):
    a = call(ims, "POST", "/v2/public-keys", {"name": "a", "public_key": "k"}).json()
    b = call(ims, "POST", "/v2/public-keys", {"name": "b", "public_key": "k"}).json()
    r = call(ims, "DELETE", f"/v2/public-keys/{a['id']}")
    assert r.status_code == 204 and r.content == b""
    assert call(ims, "GET", "/v3/deleted/public-keys").json() == []
    r = call(ims, "DELETE", f"/v3/public-keys/{b['id']}")
    assert r.status_code == 204
    deleted = call(ims, "GET", "/v3/deleted/public-keys").json()
    assert len(deleted) == 1 and set(deleted[0]) == set(b) | {"deleted"}
    assert STAMP.match(deleted[0]["deleted"])
    problem(call(ims, "GET", f"/v3/public-keys/{b['id']}"), 404)
    # restore: the same id and created, without "deleted"
    problem(call(ims, "PATCH", f"/v3/deleted/public-keys/{b['id']}", {"operation": "x"}), 422)
    body = problem(call(ims, "PATCH", f"/v3/deleted/public-keys/{b['id']}", {"op": "undelete"}), 422)
    assert body["errors"] == {"operation": ["Missing data for required field."],
                              "op": ["Unknown field."]}
    r = call(ims, "PATCH", f"/v3/deleted/public-keys/{b['id']}", {"operation": "undelete"})
    assert r.status_code == 204 and r.content == b""
    assert call(ims, "GET", f"/v3/public-keys/{b['id']}").json() == b
    # delete all (v3) then purge all
    call(ims, "POST", "/v3/public-keys", {"name": "c", "public_key": "k"})
    assert call(ims, "DELETE", "/v3/public-keys").status_code == 204
    assert call(ims, "GET", "/v3/public-keys").json() == []
    assert len(call(ims, "GET", "/v3/deleted/public-keys").json()) == 2
    assert call(ims, "PATCH", "/v3/deleted/public-keys", {"operation": "undelete"}).status_code == 204
    assert len(call(ims, "GET", "/v3/public-keys").json()) == 2
    assert call(ims, "DELETE", "/v3/public-keys").status_code == 204
    assert call(ims, "DELETE", "/v3/deleted/public-keys").status_code == 204
    assert call(ims, "GET", "/v3/deleted/public-keys").json() == []


def test_v2_delete_all_is_kept_across_restart(imgd_factory):
    """The original forgot a v2 "delete all" at restart; imgd keeps it, and what came after."""
    d = imgd_factory()
    for i in range(3):
        call(d, "POST", "/v2/public-keys", {"name": f"k{i}", "public_key": "k"})
    assert call(d, "DELETE", "/v2/public-keys").status_code == 204
    call(d, "POST", "/v2/public-keys", {"name": "after", "public_key": "k"})
    assert d.stop() == 0
    again = imgd_factory(args=["--state-dir", str(d.state_dir)])
    assert [k["name"] for k in call(again, "GET", "/v2/public-keys").json()] == ["after"]


# ---- recipes ----

RECIPE = {"name": "r", "recipe_type": "kiwi-ng", "linux_distribution": "sles15"}


@pytest.mark.parametrize("distro", ["sles12", "sles15", "centos7"])
def test_recipe_defaults(ims, distro):
    r = call(ims, "POST", "/v3/recipes", dict(RECIPE, linux_distribution=distro))
    assert r.status_code == 201
    rec = r.json()
    assert set(rec) == {"id", "created", "name", "recipe_type", "linux_distribution", "link",
                        "template_dictionary", "require_dkms", "arch"}
    assert rec["link"] is None and rec["template_dictionary"] == [] and rec["require_dkms"] is True
    assert rec["arch"] == "x86_64" and rec["linux_distribution"] == distro


def test_recipe_validation_messages(ims):
    body = problem(call(ims, "POST", "/v3/recipes",
                        {"name": "r", "recipe_type": "kiwi", "linux_distribution": "rhel",
                         "arch": "sparc", "require_dkms": "maybe",
                         "template_dictionary": [{"key": "a", "value": "b"}, {"key": "c"}],
                         "link": {"path": "", "type": "nfs", "x": 1}}), 422, INVALID)
    assert body["errors"] == {
        "recipe_type": ["Recipe type must be one of: kiwi-ng, packer."],
        "linux_distribution": ["Recipe type must be one of: sles12, sles15, centos7."],
        "arch": ["Must be one of: aarch64, x86_64."],
        "require_dkms": ["Not a valid boolean."],
        "template_dictionary": {"1": {"value": ["Missing data for required field."]}},
        "link": {"path": ["name field must not be blank"], "type": ["Type must be one of: s3."],
                 "x": ["Unknown field."]},
    }
    body = problem(call(ims, "POST", "/v3/recipes", {"name": "r"}), 422)
    assert set(body["errors"]) == {"recipe_type", "linux_distribution"}
    body = problem(call(ims, "POST", "/v3/recipes", dict(RECIPE, link="s3://x")), 422)
    assert body["errors"] == {"link": {"_schema": ["Invalid input type."]}}
    body = problem(call(ims, "POST", "/v3/recipes", dict(RECIPE, template_dictionary={})), 422)
    assert body["errors"] == {"template_dictionary": ["Not a valid list."]}
    # marshmallow's coercions: "yes" is a boolean
    assert call(ims, "POST", "/v3/recipes", dict(RECIPE, require_dkms="no")).json()["require_dkms"] is False
    assert call(ims, "GET", "/v3/recipes").status_code == 200


def test_recipe_link_checked_unique_and_patch_rules(ims):
    link = put_object(ims, "ims", "recipes/r1/recipe.tar.gz", b"tgz")["link"]
    body = problem(call(ims, "POST", "/v3/recipes",
                        dict(RECIPE, link={"path": "s3://ims/missing.tgz", "type": "s3"})), 422)
    assert set(body) == {"status", "title", "detail"} and "cannot be validated" in body["detail"]
    rec = call(ims, "POST", "/v3/recipes", dict(RECIPE, link=link)).json()
    assert rec["link"] == link
    dup = problem(call(ims, "POST", "/v3/recipes", dict(RECIPE, link=link)), 422)
    assert rec["id"] in dup["detail"]
    # same link: 200 no-op; a different one: 409
    r = call(ims, "PATCH", f"/v3/recipes/{rec['id']}", {"link": link})
    assert r.status_code == 200 and r.json() == rec
    other = put_object(ims, "ims", "recipes/r2/recipe.tar.gz", b"tgz2")["link"]
    problem(call(ims, "PATCH", f"/v3/recipes/{rec['id']}", {"link": other}), 409, CONFLICT)
    r = call(ims, "PATCH", f"/v3/recipes/{rec['id']}",
             {"arch": "aarch64", "require_dkms": False,
              "template_dictionary": [{"key": "k", "value": "v"}]})
    assert r.status_code == 200
    got = r.json()
    assert got["arch"] == "aarch64" and got["require_dkms"] is False
    assert got["template_dictionary"] == [{"key": "k", "value": "v"}] and got["link"] == link
    body = problem(call(ims, "PATCH", f"/v3/recipes/{rec['id']}", {"name": "new"}), 422)
    assert body["errors"] == {"name": ["Unknown field."]}
    problem(call(ims, "PATCH", f"/v3/recipes/{rec['id']}", {"link": None}), 422)
    problem(call(ims, "PATCH", f"/v3/recipes/{uuid.uuid4()}", {"arch": "x86_64"}), 404)
    # a recipe without a link gets one through PATCH, checked against the store
    bare = call(ims, "POST", "/v3/recipes", RECIPE).json()
    problem(call(ims, "PATCH", f"/v3/recipes/{bare['id']}",
                 {"link": {"path": "s3://ims/none", "type": "s3"}}), 422)
    assert call(ims, "PATCH", f"/v3/recipes/{bare['id']}", {"link": other}).json()["link"] == other


def test_recipe_soft_delete_moves_the_archive(ims):
    link = put_object(ims, "ims", "recipes/sd/recipe.tar.gz", b"archive")["link"]
    rec = call(ims, "POST", "/v3/recipes", dict(RECIPE, link=link)).json()
    assert call(ims, "DELETE", f"/v3/recipes/{rec['id']}").status_code == 204
    assert ims.get("/artifacts/ims/recipes/sd/recipe.tar.gz").status_code == 404
    assert ims.get("/artifacts/ims/deleted/recipes/sd/recipe.tar.gz").content == b"archive"
    d = call(ims, "GET", f"/v3/deleted/recipes/{rec['id']}").json()
    assert d["link"]["path"] == "s3://ims/deleted/recipes/sd/recipe.tar.gz"
    assert call(ims, "PATCH", f"/v3/deleted/recipes/{rec['id']}",
                {"operation": "undelete"}).status_code == 204
    assert call(ims, "GET", f"/v3/recipes/{rec['id']}").json() == rec
    assert ims.get("/artifacts/ims/recipes/sd/recipe.tar.gz").content == b"archive"
    # a restore whose link another live record took meanwhile is refused, moving nothing
    assert call(ims, "DELETE", f"/v3/recipes/{rec['id']}").status_code == 204
    put_object(ims, "ims", "recipes/sd/recipe.tar.gz", b"new archive")
    other = call(ims, "POST", "/v3/recipes", dict(RECIPE, link=link)).json()
    problem(call(ims, "PATCH", f"/v3/deleted/recipes/{rec['id']}", {"operation": "undelete"}),
            409, CONFLICT)
    assert ims.get("/artifacts/ims/deleted/recipes/sd/recipe.tar.gz").content == b"archive"
    assert ims.get("/artifacts/ims/recipes/sd/recipe.tar.gz").content == b"new archive"
    assert call(ims, "DELETE", f"/v2/recipes/{other['id']}?cascade=false").status_code == 204
    ims.request("DELETE", "/artifacts/ims/recipes/sd/recipe.tar.gz")
    assert call(ims, "PATCH", f"/v3/deleted/recipes/{rec['id']}",
                {"operation": "undelete"}).status_code == 204
    assert ims.get("/artifacts/ims/recipes/sd/recipe.tar.gz").content == b"archive"
    # v2 cascade=false keeps the object, the default removes it
    assert call(ims, "DELETE", f"/v2/recipes/{rec['id']}?cascade=false").status_code == 204
    assert ims.get("/artifacts/ims/recipes/sd/recipe.tar.gz").status_code == 200
    rec = call(ims, "POST", "/v3/recipes", dict(RECIPE, link=link)).json()
    assert call(ims, "DELETE", f"/v2/recipes/{rec['id']}").status_code == 204
    assert ims.get("/artifacts/ims/recipes/sd/recipe.tar.gz").status_code == 404


# ---- images ----

def test_image_create_defaults_and_metadata(ims):
    rec = call(ims, "POST", "/v3/images", {"name": "img"}).json()
    assert set(rec) == {"created", "name", "link", "id", "arch", "metadata"}
    assert rec["link"] is None and rec["arch"] == "x86_64" and rec["metadata"] == {}
    rec = call(ims, "POST", "/v3/images", {"name": "m", "metadata": {"key": "a", "value": "b"}}).json()
    assert rec["metadata"] == {"a": "b"}
    rec = call(ims, "POST", "/v3/images", {"name": "m", "metadata": {"x": "1", "y": "2"}}).json()
    assert rec["metadata"] == {"x": "1", "y": "2"}
    problem(call(ims, "POST", "/v3/images", {"name": "m", "metadata": {"x": 1}}), 422)
    iid = rec["id"]
    r = call(ims, "PATCH", f"/v3/images/{iid}", {"metadata": {"operation": "set", "key": "z", "value": "9"}})
    assert r.status_code == 200 and r.json()["metadata"] == {"x": "1", "y": "2", "z": "9"}
    r = call(ims, "PATCH", f"/v3/images/{iid}", {"metadata": {"operation": "remove", "key": "x"}})
    assert r.json()["metadata"] == {"y": "2", "z": "9"}
    r = call(ims, "PATCH", f"/v3/images/{iid}", {"metadata": {"operation": "remove", "key": "nope"}})
    assert r.status_code == 200
    body = problem(call(ims, "PATCH", f"/v3/images/{iid}", {"metadata": {"operation": "drop", "key": "y"}}), 422)
    assert "operation" in body["errors"]["metadata"]
    problem(call(ims, "PATCH", f"/v3/images/{iid}", {"name": "n"}), 422)
    assert call(ims, "PATCH", f"/v3/images/{iid}", {"arch": "aarch64"}).json()["arch"] == "aarch64"


def test_image_manifest_validation(ims):
    iid = str(uuid.uuid4())
    manifest, link = make_image_objects(ims, iid)
    rec = call(ims, "POST", "/v3/images", {"name": "img", "link": link}).json()
    assert rec["link"] == link
    # a manifest naming a missing artifact, two rootfs, a bad version, none at all
    bad = dict(manifest, artifacts=manifest["artifacts"] + [
        {"link": {"path": f"s3://boot-images/{iid}/gone", "type": "s3"}, "type": "x"}])
    l2 = put_object(ims, "boot-images", f"{iid}/m2.json", json.dumps(bad).encode())["link"]
    assert "cannot be validated" in problem(call(ims, "POST", "/v3/images", {"name": "x", "link": l2}), 422)["detail"]
    two = dict(manifest, artifacts=manifest["artifacts"] + manifest["artifacts"][:1])
    l3 = put_object(ims, "boot-images", f"{iid}/m3.json", json.dumps(two).encode())["link"]
    assert "multiple rootfs" in problem(call(ims, "POST", "/v3/images", {"name": "x", "link": l3}), 400)["detail"]
    none = dict(manifest, artifacts=manifest["artifacts"][1:])
    l4 = put_object(ims, "boot-images", f"{iid}/m4.json", json.dumps(none).encode())["link"]
    assert "any rootfs" in problem(call(ims, "POST", "/v3/images", {"name": "x", "link": l4}), 400)["detail"]
    v2 = dict(manifest, version="2.0")
    l5 = put_object(ims, "boot-images", f"{iid}/m5.json", json.dumps(v2).encode())["link"]
    problem(call(ims, "POST", "/v3/images", {"name": "x", "link": l5}), 422)
    l6 = put_object(ims, "boot-images", f"{iid}/m6.json", b"not json")["link"]
    problem(call(ims, "POST", "/v3/images", {"name": "x", "link": l6}), 422)
    big = put_object(ims, "boot-images", f"{iid}/big.json", b" " * (1024 * 1024))["link"]
    problem(call(ims, "POST", "/v3/images", {"name": "x", "link": big}), 400)
    # nothing half-made stayed
    assert [i["id"] for i in call(ims, "GET", "/v3/images").json()] == [rec["id"]]


def test_image_soft_delete_restore_purge(ims):
    rec = call(ims, "POST", "/v3/images", {"name": "img"}).json()
    iid = rec["id"]
    manifest, link = make_image_objects(ims, iid)
    rec = call(ims, "PATCH", f"/v3/images/{iid}", {"link": link}).json()
    assert call(ims, "DELETE", f"/v3/images/{iid}").status_code == 204
    for name in ("rootfs", "kernel", "initrd", "manifest.json"):
        assert ims.get(f"/artifacts/boot-images/{iid}/{name}").status_code == 404
        assert ims.get(f"/artifacts/boot-images/deleted/{iid}/{name}").status_code == 200
    d = call(ims, "GET", f"/v3/deleted/images/{iid}").json()
    assert d["link"]["path"] == f"s3://boot-images/deleted/{iid}/deleted_manifest.json"
    dm = ims.get(f"/artifacts/boot-images/deleted/{iid}/deleted_manifest.json").json()
    assert dm["version"] == "1.0" and re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", dm["created"])
    types = [a["type"] for a in dm["artifacts"]]
    assert types.count("application/vnd.cray.image.manifest") == 1 and len(types) == 4
    for a in dm["artifacts"]:
        assert a["link"]["path"].startswith(f"s3://boot-images/deleted/{iid}/")
    assert call(ims, "PATCH", f"/v3/deleted/images/{iid}", {"operation": "undelete"}).status_code == 204
    back = call(ims, "GET", f"/v3/images/{iid}").json()
    assert back["id"] == iid and back["created"] == rec["created"]
    assert back["link"]["path"] == link["path"]
    assert ims.get(f"/artifacts/boot-images/{iid}/rootfs").content == b"hsqs-rootfs"
    assert ims.get(f"/artifacts/boot-images/deleted/{iid}/deleted_manifest.json").status_code == 404
    # purge: record and objects gone
    call(ims, "DELETE", f"/v3/images/{iid}")
    assert call(ims, "DELETE", f"/v3/deleted/images/{iid}").status_code == 204
    problem(call(ims, "GET", f"/v3/deleted/images/{iid}"), 404)
    for name in ("rootfs", "manifest.json", "deleted_manifest.json"):
        assert ims.get(f"/artifacts/boot-images/deleted/{iid}/{name}").status_code == 404


# ---- jobs ----

def job_setup(ims):
    key = call(ims, "POST", "/v3/public-keys", {"name": "k", "public_key": "ssh-ed25519 AAA"}).json()
    link = put_object(ims, "ims", f"recipes/{uuid.uuid4()}/recipe.tar.gz", b"tgz")["link"]
    recipe = call(ims, "POST", "/v3/recipes", dict(RECIPE, link=link, require_dkms=False)).json()
    image = call(ims, "POST", "/v3/images", {"name": "i"}).json()
    _, ilink = make_image_objects(ims, image["id"])
    image = call(ims, "PATCH", f"/v3/images/{image['id']}", {"link": ilink, "arch": "aarch64"}).json()
    return key, recipe, image


def test_job_create_and_customize(ims):
    key, recipe, image = job_setup(ims)
    r = call(ims, "POST", "/v3/jobs", {"job_type": "create", "artifact_id": recipe["id"],
                                       "public_key_id": key["id"],
                                       "image_root_archive_name": "out"})
    assert r.status_code == 201, r.text
    job = r.json()
    assert set(job) == JOB_KEYS and UUID4.match(job["id"])
    assert job["status"] == "creating" and job["ssh_containers"] is None
    assert job["build_env_size"] == 60 and job["job_mem_size"] == 8
    assert job["kernel_file_name"] == "vmlinuz" and job["initrd_file_name"] == "initrd"
    assert job["kernel_parameters_file_name"] == "kernel-parameters"
    assert job["require_dkms"] is False and job["arch"] == "x86_64"
    assert job["kubernetes_job"] == f"cray-ims-{job['id']}-create"
    assert job["kubernetes_namespace"] == "ims" and job["remote_build_node"] == ""
    assert job["resultant_image_id"] is None and job["kubernetes_secret"] is None
    debug = call(ims, "POST", "/v3/jobs", {"job_type": "create", "artifact_id": recipe["id"],
                                           "public_key_id": key["id"], "enable_debug": True,
                                           "image_root_archive_name": "out"}).json()
    assert [c["name"] for c in debug["ssh_containers"]] == ["debug"]
    c = call(ims, "POST", "/v3/jobs", {"job_type": "customize", "artifact_id": image["id"],
                                       "public_key_id": key["id"],
                                       "image_root_archive_name": "out"}).json()
    assert c["arch"] == "aarch64" and c["kernel_file_name"] == "Image" and c["require_dkms"] is True
    ssh = c["ssh_containers"]
    assert len(ssh) == 1 and ssh[0]["name"] == "customize" and ssh[0]["jail"] is False
    assert ssh[0]["status"] == "pending"
    info = ssh[0]["connection_info"]
    assert info["customer_access"] == {"host": f"{c['id']}.ims.cmn.shasta.local", "port": 22}
    assert info["cluster.local"] == {
        "host": f"cray-ims-{c['id']}-service.ims.svc.cluster.local", "port": 22}
    assert call(ims, "GET", f"/v2/jobs/{c['id']}").json() == c


def test_job_validation_and_lookups(ims):
    key, recipe, image = job_setup(ims)
    base = {"job_type": "create", "artifact_id": recipe["id"], "public_key_id": key["id"],
            "image_root_archive_name": "out"}
    body = problem(call(ims, "POST", "/v3/jobs", dict(base, job_type="build", artifact_id="x",
                                                      build_env_size=0, status="success",
                                                      image_root_archive_name="")), 422)
    assert body["errors"] == {"job_type": ["Job type must be one of: create, customize."],
                              "artifact_id": ["Not a valid UUID."],
                              "build_env_size": ["build_env_size must be greater than or equal to 1"],
                              "status": ["Unknown field."],
                              "image_root_archive_name": ["image_root_archive_name field must not be blank"]}
    assert "not currently supported" in problem(call(ims, "POST", "/v3/jobs", dict(
        base, ssh_containers=[{"name": "a"}])), 400)["detail"]
    assert "Only one SSH container" in problem(call(ims, "POST", "/v3/jobs", dict(
        base, job_type="customize", artifact_id=image["id"],
        ssh_containers=[{"name": "a"}, {"name": "b"}])), 400)["detail"]
    missing = str(uuid.uuid4())
    assert f"No IMS recipe record found matching id={missing}" in problem(call(
        ims, "POST", "/v3/jobs", dict(base, artifact_id=missing)), 400)["detail"]
    bare = call(ims, "POST", "/v3/recipes", RECIPE).json()
    assert "does not have an artifact_link" in problem(call(
        ims, "POST", "/v3/jobs", dict(base, artifact_id=bare["id"])), 400)["detail"]
    assert "No IMS public-key record" in problem(call(
        ims, "POST", "/v3/jobs", dict(base, public_key_id=missing)), 400)["detail"]
    # the recipe's archive gone: 422
    ims.request("DELETE", "/artifacts/" + recipe["link"]["path"][5:])
    problem(call(ims, "POST", "/v3/jobs", base), 422)
    assert call(ims, "GET", "/v3/jobs").json() == []


def test_job_patch_and_delete_filters(ims):
    key, recipe, image = job_setup(ims)
    base = {"artifact_id": recipe["id"], "public_key_id": key["id"], "image_root_archive_name": "o"}
    jobs = [call(ims, "POST", "/v3/jobs", dict(base, job_type="create")).json() for _ in range(3)]
    cust = call(ims, "POST", "/v3/jobs", dict(base, job_type="customize", artifact_id=image["id"])).json()
    for status in ("fetching_image", "fetching_recipe", "waiting_for_repos", "building_image",
                   "packaging_artifacts", "waiting_on_user", "error", "success", "creating"):
        r = call(ims, "PATCH", f"/v3/jobs/{jobs[0]['id']}", {"status": status})
        assert r.status_code == 200 and r.json()["status"] == status
    rid = str(uuid.uuid4())
    assert call(ims, "PATCH", f"/v3/jobs/{jobs[1]['id']}",
                {"status": "success", "resultant_image_id": rid}).json()["resultant_image_id"] == rid
    body = problem(call(ims, "PATCH", f"/v3/jobs/{jobs[1]['id']}", {"status": "done"}), 422)
    assert body["errors"]["status"][0].startswith("Job state must be one of: creating,")
    problem(call(ims, "PATCH", f"/v3/jobs/{uuid.uuid4()}", {"status": "error"}), 404)
    # filters: invalid values are 400 with the message as the title
    for q in ("status=finished", "job_type=build", "age=soon", "age=5x"):
        r = call(ims, "DELETE", f"/v3/jobs?{q}")
        body = problem(r, 400)
        assert "detail" not in body and body["title"].startswith("Unsupported")
    assert len(call(ims, "GET", "/v3/jobs").json()) == 4
    # age: nothing is a day old yet
    assert call(ims, "DELETE", "/v3/jobs?age=1d6h").status_code == 204
    assert len(call(ims, "GET", "/v3/jobs").json()) == 4
    assert call(ims, "DELETE", "/v3/jobs?status=SUCCESS&status=error").status_code == 204
    left = {j["id"] for j in call(ims, "GET", "/v3/jobs").json()}
    assert left == {jobs[0]["id"], jobs[2]["id"], cust["id"]}
    assert call(ims, "DELETE", "/v3/jobs?job_type=customize").status_code == 204
    assert {j["id"] for j in call(ims, "GET", "/v3/jobs").json()} == {jobs[0]["id"], jobs[2]["id"]}
    time.sleep(1.1)
    assert call(ims, "DELETE", "/v2/jobs?age=0m").status_code == 204
    assert call(ims, "GET", "/v3/jobs").json() == []
    problem(call(ims, "DELETE", f"/v3/jobs/{uuid.uuid4()}"), 404)


# ---- remote build nodes ----

def test_remote_build_nodes(ims):
    problem(call(ims, "POST", "/v3/remote-build-nodes", {}), 400)
    body = problem(call(ims, "POST", "/v3/remote-build-nodes", {"xname": "", "arch": 1}), 422)
    assert body["errors"] == {"xname": ["name field must not be blank"], "arch": ["Unknown field."]}
    problem(call(ims, "POST", "/v3/remote-build-nodes", {"xname": 5}), 422)
    r = call(ims, "POST", "/v3/remote-build-nodes", {"xname": "127.0.0.1"})
    assert r.status_code == 201 and r.json() == {"xname": "127.0.0.1"}
    assert call(ims, "POST", "/v3/remote-build-nodes", {"xname": "127.0.0.1"}).status_code == 201
    assert call(ims, "GET", "/v3/remote-build-nodes").json() == [{"xname": "127.0.0.1"}]
    assert call(ims, "GET", "/v3/remote-build-nodes/127.0.0.1").json() == {"xname": "127.0.0.1"}
    problem(call(ims, "GET", "/v3/remote-build-nodes/x9c0s0b0n0"), 404)
    call(ims, "POST", "/v3/remote-build-nodes", {"xname": "-oProxyCommand=touch"})
    st = call(ims, "GET", "/v3/remote-build-nodes/status").json()
    assert isinstance(st, list) and len(st) == 2
    bad = [s for s in st if s["xname"].startswith("-")][0]
    assert bad["sshStatus"].startswith("Unable to connect to node. Error:")
    one = call(ims, "GET", "/v3/remote-build-nodes/status/127.0.0.1").json()
    assert set(one) == {"xname", "sshStatus", "podmanStatus", "nodeArch", "numCurrentJobs",
                        "ableToRunJobs"}
    assert one["ableToRunJobs"] is False
    assert call(ims, "DELETE", "/v3/remote-build-nodes/127.0.0.1").status_code == 204
    problem(call(ims, "DELETE", "/v3/remote-build-nodes/127.0.0.1"), 404)
    assert call(ims, "DELETE", "/v3/remote-build-nodes").status_code == 204
    assert call(ims, "GET", "/v3/remote-build-nodes").json() == []


def test_unreachable_node_status(imgd_factory):
    from conftest import free_port
    d = imgd_factory(args=["--ims-ssh-port", str(free_port()), "--ims-ssh-timeout", "2"])
    call(d, "POST", "/v3/remote-build-nodes", {"xname": "127.0.0.1"})
    st = call(d, "GET", "/v3/remote-build-nodes/status/127.0.0.1").json()
    assert st == {"xname": "127.0.0.1", "sshStatus": st["sshStatus"], "podmanStatus": "Unknown",
                  "nodeArch": "Unknown", "numCurrentJobs": -1, "ableToRunJobs": False}
    assert st["sshStatus"].startswith("Unable to connect to node. Error:")
    assert "refused" in st["sshStatus"].lower()


# ---- artifacts and concurrency ----

def test_artifacts_put_get_head_delete(ims):
    data = bytes(range(256)) * 4096
    r = ims.request("PUT", "/artifacts/boot-images/a/b/c.bin", data=data)
    assert r.status_code == 201
    info = r.json()
    md5 = hashlib.md5(data).hexdigest()
    assert info["md5"] == md5 and info["etag"] == md5 and info["size"] == len(data)
    assert info["link"] == {"path": "s3://boot-images/a/b/c.bin", "etag": md5, "type": "s3"}
    assert r.headers["ETag"] == f'"{md5}"'
    assert ims.request("PUT", "/artifacts/boot-images/a/b/c.bin", data=b"x").status_code == 200
    g = ims.get("/artifacts/boot-images/a/b/c.bin")
    assert g.content == b"x" and g.headers["x-amz-meta-md5sum"] == hashlib.md5(b"x").hexdigest()
    h = ims.request("HEAD", "/artifacts/boot-images/a/b/c.bin")
    assert h.status_code == 200 and h.headers["Content-Length"] == "1"
    for bad in ("/artifacts/boot-images/a/../x", "/artifacts/BAD_BUCKET/x",
                "/artifacts/boot-images/a/%2e%2e/x", "/artifacts/boot-images/a//b"):
        conn = http.client.HTTPConnection("127.0.0.1", ims.port, timeout=10)
        conn.request("PUT", bad, body=b"x")  # the path as written, not normalised
        r = conn.getresponse()
        assert r.status in (400, 404), bad
        assert json.loads(r.read())["success"] is False
        conn.close()
    assert ims.request("PUT", "/artifacts/boot-images/a/b", data=b"x").status_code == 409
    r = ims.request("PUT", "/artifacts/no-such-bucket/x", data=b"x")
    assert r.status_code == 404 and "no bucket" in r.json()["error"]["message"]
    assert ims.request("DELETE", "/artifacts/boot-images/a/b/c.bin").status_code == 204
    assert ims.request("DELETE", "/artifacts/boot-images/a/b/c.bin").status_code == 404
    assert ims.get("/artifacts/boot-images/a/b/c.bin").status_code == 404
    # nothing of an object stays on disk, no staging file either
    left = [p for p in (ims.state_dir / "artifacts").rglob("*") if p.is_file()]
    assert left == []
    assert sorted(p.name for p in (ims.state_dir / "artifacts").iterdir()) == [
        ".staging", "boot-images", "ims"]


def test_concurrent_creates_lose_nothing(ims):
    errors = []

    def client(n):
        import requests
        s = requests.Session()
        for i in range(200):
            r = s.post(ims.url + "/v3/public-keys", json={"name": f"c{n}-{i}", "public_key": "k"})
            if r.status_code != 201:
                errors.append(r.text)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    keys = call(ims, "GET", "/v3/public-keys").json()
    assert len(keys) == 1600 and len({k["id"] for k in keys}) == 1600
    assert {k["name"] for k in keys} == {f"c{n}-{i}" for n in range(8) for i in range(200)}


def test_concurrent_patches_lose_no_update(ims):
    rec = call(ims, "POST", "/v3/images", {"name": "m"}).json()
    errors = []

    def client(n):
        import requests
        s = requests.Session()
        for i in range(25):
            r = s.patch(ims.url + f"/v3/images/{rec['id']}",
                        json={"metadata": {"operation": "set", "key": f"k{n}-{i}", "value": "v"}})
            if r.status_code != 200:
                errors.append(r.text)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    md = call(ims, "GET", f"/v3/images/{rec['id']}").json()["metadata"]
    assert len(md) == 150


def test_reachable_node_status(imgd_factory, tmp):
    """A real sshd on 127.0.0.1: imgd logs in as root with its key, learns the host key, reads the
    architecture, looks for /usr/bin/podman and counts the /tmp/ims_* job directories."""
    import glob
    import os
    from sshd import Sshd
    sshd = Sshd(tmp)
    job_dir = f"/tmp/ims_{uuid.uuid4()}"
    os.mkdir(job_dir)
    try:
        d = imgd_factory(args=["--ims-ssh-port", str(sshd.port), "--ims-ssh-key",
                               str(sshd.client_key), "--ims-ssh-timeout", "10"])
        call(d, "POST", "/v3/remote-build-nodes", {"xname": "127.0.0.1"})
        st = call(d, "GET", "/v3/remote-build-nodes/status/127.0.0.1").json()
        assert st["sshStatus"] == "SSH connection established.", st
        assert st["nodeArch"] == "x86_64"
        assert "ssh-ed25519" in (d.state_dir / "ims_known_hosts").read_text()
        key, recipe, _ = job_setup(d)
        job = call(d, "POST", "/v3/jobs", {"job_type": "create", "artifact_id": recipe["id"],
                                           "public_key_id": key["id"],
                                           "image_root_archive_name": "o"}).json()
        if os.path.exists("/usr/bin/podman"):
            assert st["podmanStatus"] == "Podman present at /usr/bin/podman"
            assert st["ableToRunJobs"] is True
            assert st["numCurrentJobs"] == len(glob.glob("/tmp/ims_*")) >= 1
            assert job["remote_build_node"] == "127.0.0.1"  # the one usable x86_64 node
        else:
            assert st["podmanStatus"].startswith("Unable to determine if podman is installed")
            assert st["ableToRunJobs"] is False and st["numCurrentJobs"] == -1
            assert job["remote_build_node"] == ""
        # another key than the one authorized: refused, and said so
        other = tmp / "other_key"
        import subprocess
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
        d2 = imgd_factory(args=["--ims-ssh-port", str(sshd.port), "--ims-ssh-key", str(other),
                                "--ims-ssh-known-hosts", str(d.state_dir / "ims_known_hosts")])
        call(d2, "POST", "/v3/remote-build-nodes", {"xname": "127.0.0.1"})
        st = call(d2, "GET", "/v3/remote-build-nodes/status/127.0.0.1").json()
        assert st["sshStatus"].startswith("Unable to connect to node. Error:")
        assert "Permission denied" in st["sshStatus"]
    finally:
        os.rmdir(job_dir)
        sshd.stop()


def test_status_of_silent_nodes(imgd_factory):
    """Nodes that accept TCP but never speak SSH: every probe ends at the timeout, each status
    says so, in the order the nodes were registered (the probes run at once)."""
    import socket
    from conftest import free_port
    port = free_port()
    listeners = []
    for i in range(1, 7):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((f"127.0.0.{i}", port))
        s.listen(8)
        listeners.append(s)
    try:
        d = imgd_factory(args=["--ims-ssh-port", str(port), "--ims-ssh-timeout", "1"])
        names = [f"127.0.0.{i}" for i in range(1, 7)]
        for n in names:
            call(d, "POST", "/v3/remote-build-nodes", {"xname": n})
        r = d.request("GET", "/v3/remote-build-nodes/status", timeout=60)
        st = r.json()
        assert [s["xname"] for s in st] == names
        for s in st:
            assert s["sshStatus"].startswith("Unable to connect to node. Error:"), s
            assert s["ableToRunJobs"] is False and s["nodeArch"] == "Unknown"
    finally:
        for s in listeners:
            s.close()


def test_soft_delete_under_concurrent_patches(ims):
    """A soft delete that has to retry its write (patches keep changing the record) moves the
    archive once, and the deleted record links where it went."""
    import requests
    errors = []
    for n in range(5):
        link = put_object(ims, "ims", f"recipes/race{n}/recipe.tar.gz", b"archive")["link"]
        rec = call(ims, "POST", "/v3/recipes", dict(RECIPE, link=link)).json()
        stop = threading.Event()

        def patcher(rid=rec["id"]):
            s = requests.Session()
            i = 0
            while not stop.is_set():
                r = s.patch(ims.url + f"/v3/recipes/{rid}",
                            json={"arch": "aarch64" if i % 2 else "x86_64"})
                if r.status_code not in (200, 404):
                    errors.append(r.text)
                i += 1

        threads = [threading.Thread(target=patcher) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.05)
        r = call(ims, "DELETE", f"/v3/recipes/{rec['id']}")
        stop.set()
        for t in threads:
            t.join()
        assert r.status_code == 204, r.text
        d = call(ims, "GET", f"/v3/deleted/recipes/{rec['id']}").json()
        assert d["link"]["path"] == f"s3://ims/deleted/recipes/race{n}/recipe.tar.gz"
        assert ims.get(f"/artifacts/ims/deleted/recipes/race{n}/recipe.tar.gz").content == b"archive"
        assert ims.get(f"/artifacts/ims/recipes/race{n}/recipe.tar.gz").status_code == 404
    assert errors == []
