"""imgd ims-import: moving a site from IMS's data directory to imgd, all records or none."""
import json
import subprocess
import uuid

from conftest import IMGD

KEY = {"id": str(uuid.uuid4()), "created": "2024-03-01T10:00:00.123456", "name": "admin",
       "public_key": "ssh-rsa AAA", "obsolete_field": "dropped"}
DKEY = {"id": str(uuid.uuid4()), "created": "2024-03-01T10:00:00", "name": "old",
        "public_key": "ssh-rsa BBB", "deleted": "2024-04-01T00:00:00"}
RECIPE = {"id": str(uuid.uuid4()), "created": "2023-01-01T00:00:00", "name": "sles",
          "recipe_type": "kiwi-ng", "linux_distribution": "sles15",
          "link": {"path": "s3://ims/recipes/x/recipe.tar.gz", "type": "s3"}}
IMAGE = {"id": str(uuid.uuid4()), "created": "2023-01-02T00:00:00", "name": "img",
         "link": None, "arch": "aarch64", "metadata": {"a": "b"}}
JOB = {"id": str(uuid.uuid4()), "created": "2023-01-03T00:00:00", "job_type": "create",
       "artifact_id": RECIPE["id"], "public_key_id": KEY["id"], "image_root_archive_name": "x",
       "status": "success"}


def write_dir(path, **files):
    path.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (path / name).write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def run_import(state, data):
    return subprocess.run([str(IMGD), "--config", "none", "--state-dir", str(state),
                           "ims-import", str(data)], capture_output=True, text=True, timeout=30)


def test_import_records_with_defaults(tmp, imgd_factory):
    data = write_dir(tmp / "data", **{
        "v2_public_keys.json": [KEY], "v3_deleted_public_keys.json": [DKEY],
        "v2_recipes.json": [RECIPE],  # an older file version, used as the newest is absent
        "v2.1_images.json": [IMAGE], "v3.1_deleted_images.json": [],
        "v2.4_jobs.json": [JOB], "v2.0_remote_build_nodes.json": [{"xname": "x3000c0s1b0n0"}]})
    state = tmp / "state"
    r = run_import(state, data)
    assert r.returncode == 0, r.stderr
    assert "public keys         1 (1 of them deleted)" not in r.stdout
    assert "public keys         2 (1 of them deleted)" in r.stdout
    assert "jobs                1" in r.stdout
    d = imgd_factory(args=["--state-dir", str(state)])
    keys = d.get("/v3/public-keys").json()
    assert keys == [{k: v for k, v in KEY.items() if k != "obsolete_field"}]
    assert d.get("/v3/deleted/public-keys").json() == [DKEY]
    recipe = d.get(f"/v3/recipes/{RECIPE['id']}").json()
    assert recipe["link"] == dict(RECIPE["link"], etag="")
    assert recipe["template_dictionary"] == [] and recipe["require_dkms"] is True
    assert recipe["arch"] == "x86_64"
    assert d.get(f"/v3/images/{IMAGE['id']}").json() == IMAGE
    job = d.get(f"/v3/jobs/{JOB['id']}").json()
    assert job["status"] == "success" and job["kubernetes_namespace"] == "default"
    assert job["build_env_size"] == 60 and job["kernel_file_name"] == "vmlinuz" and len(job) == 24
    assert d.get("/v3/remote-build-nodes").json() == [{"xname": "x3000c0s1b0n0"}]
    # imported records behave as any other: the age filter sees their created time
    assert d.request("DELETE", "/v3/jobs?age=52w").status_code == 204
    assert d.get("/v3/jobs").json() == []
    d.stop()
    # importing again skips what is there; other content under an id is refused
    r = run_import(state, data)
    assert r.returncode == 0 and "already in imgd    5" in r.stdout, r.stdout
    write_dir(data, **{"v2_public_keys.json": [dict(KEY, name="changed")]})
    r = run_import(state, data)
    assert r.returncode != 0 and KEY["id"] in r.stderr and "nothing was imported" in r.stderr


def test_malformed_file_imports_nothing(tmp, imgd_factory):
    state = tmp / "state"
    good = {"v2_public_keys.json": [KEY], "v2.1_images.json": [IMAGE]}
    for bad_name, bad in (("v2.4_jobs.json", "[{"), ("v2.4_jobs.json", {"not": "a list"}),
                          ("v2.2_recipes.json", [{"id": "nope", "name": "x"}]),
                          ("v2.2_recipes.json", [dict(RECIPE, name=None)]),
                          ("v2.2_recipes.json", [{k: v for k, v in RECIPE.items() if k != "recipe_type"}])):
        data = write_dir(tmp / f"bad-{uuid.uuid4()}", **good, **{bad_name: bad})
        r = run_import(state, data)
        assert r.returncode != 0, (bad_name, bad)
        assert bad_name in r.stderr or "record" in r.stderr, r.stderr
    r = run_import(state, tmp / "missing-dir")
    assert r.returncode != 0 and "missing-dir" in r.stderr
    empty = write_dir(tmp / "empty")
    r = run_import(state, empty)
    assert r.returncode != 0 and "no IMS data file" in r.stderr
    d = imgd_factory(args=["--state-dir", str(state)])
    assert d.get("/v3/public-keys").json() == [] and d.get("/v3/images").json() == []
