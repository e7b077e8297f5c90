# SPDX-License-Identifier: MIT
"""The ImageAPI face's attachments and mounts (/imageapi/v1/attach, /mount) against the real
kernel: a busybox root filesystem packed with mksquashfs and mkfs.erofs, attached to loop devices,
mounted, overlaid; references, persistence across restarts, and the error codes."""
import json
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import Imgd
from containers import (busybox_applets, busybox_layout, ctr_factory, import_image,  # noqa: F401
                        reap_containers)

BASE = "/imageapi/v1"


def require(*tools):
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        pytest.skip("missing prerequisite: " + ", ".join(missing)
                    + " (packages squashfs-tools, erofs-utils)")


@pytest.fixture(scope="session")
def rootfs_images(tmp_path_factory):
    """busybox root filesystems as squashfs and erofs files, and the directory they came from."""
    require("mksquashfs", "mkfs.erofs")
    d = tmp_path_factory.mktemp("bootimg")
    root = d / "rootfs"
    for sub in ("bin", "etc", "proc", "sys", "dev", "tmp", "run", "var/lib"):
        (root / sub).mkdir(parents=True)
    shutil.copy("/bin/busybox", root / "bin" / "busybox")
    for applet in busybox_applets():
        (root / "bin" / applet).symlink_to("/bin/busybox")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "os-release").write_text("NAME=bootimg\n")
    # a stand-in for systemd at its usual path, for the walkthrough: it ends on SIGRTMIN+3
    init = root / "usr" / "lib" / "systemd" / "systemd"
    init.parent.mkdir(parents=True)
    init.write_text("#!/bin/sh\ntrap 'echo init-stopped; exit 0' 37 TERM\necho init-up\n"
                    "while :; do sleep 0.05; done\n")
    init.chmod(0o755)
    subprocess.run(["mksquashfs", str(root), str(d / "root.sqsh"), "-quiet", "-noappend"],
                   check=True, capture_output=True)
    subprocess.run(["mkfs.erofs", str(d / "root.erofs"), str(root)], check=True,
                   capture_output=True)
    return {"squashfs": d / "root.sqsh", "erofs": d / "root.erofs", "dir": root}


def call(d, method, path, body=None, **params):
    kw = {"params": params, "timeout": 30}
    if body is not None:
        kw["json"] = body
    return d.request(method, BASE + path, **kw)


def ok(r, status=200):
    assert r.status_code == status, r.text
    return r.json()


def err(r, status, *words):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"code", "message"} and body["code"] == status
    for w in words:
        assert w in body["message"], body
    return body


def loopback(path, **extra):
    return {"kind": "loopback", "loopback": {"path": str(path), "base": "root", **extra}}


def fs_mount(attach, fs_type, options=("ro",)):
    return {"kind": "attach",
            "attach": {"attach": attach, "fs_type": fs_type, "mount_options": list(options)}}


def overlay(*lower):
    return {"kind": "overlay", "overlay": {"lower": list(lower)}}


def loop_devices_of(path):
    out = subprocess.run(["losetup", "-j", str(path)], capture_output=True, text=True).stdout
    return [line.split(":")[0] for line in out.splitlines()]


@pytest.fixture
def api(ctr_factory):
    return ctr_factory(import_images=False)


@pytest.mark.parametrize("fs_type", ["squashfs", "erofs"])
def test_attach_mount_overlay_chain(api, rootfs_images, fs_type):
    image = rootfs_images[fs_type]
    a = ok(call(api, "POST", "/attach", loopback(image, ro=True)), 201)
    assert a["id"] == 1 and a["refs"] == 1 and a["kind"] == "loopback"
    dev = a["device_file"]
    assert dev.startswith("/dev/loop") and loop_devices_of(image) == [dev]
    assert Path(f"/sys/block/{Path(dev).name}/ro").read_text().strip() == "1"
    ov = ok(call(api, "POST", "/mount", overlay(fs_mount({"id": 1}, fs_type))), 201)
    # the resolved tree comes back: the nested mount created, the attachment referenced
    assert ov["id"] == 3 and ov["kind"] == "overlay" and ov["refs"] == 1
    (lower,) = ov["overlay"]["lower"]
    assert lower["id"] == 2 and lower["attach"]["attach"]["id"] == 1
    assert lower["attach"]["attach"]["refs"] == 2 and lower["attach"]["fs_type"] == fs_type
    merged = Path(ov["mountpoint"])
    assert (merged / "etc" / "os-release").read_text() == "NAME=bootimg\n"
    (merged / "etc" / "written").write_text("upper\n")
    assert (Path(ov["overlay"]["upperdir"]) / "etc" / "written").read_text() == "upper\n"
    lower_mp = Path(lower["mountpoint"])
    assert not (lower_mp / "etc" / "written").exists()
    # lists, filters and lookups; a lookup adds no reference
    assert [m["id"] for m in ok(call(api, "GET", "/mount"))] == [2, 3]
    assert [m["id"] for m in ok(call(api, "GET", "/mount", kind="overlay"))] == [3]
    assert ok(call(api, "GET", "/mount", id=3))[0]["refs"] == 1
    assert ok(call(api, "GET", "/attach", kind="loopback"))[0]["refs"] == 2
    assert ok(call(api, "GET", "/attach", kind="rbd")) == []
    # references: what others hold is 409, the nested mount belongs to the overlay
    err(call(api, "DELETE", "/attach", id=1), 409, "in use")
    err(call(api, "DELETE", "/mount", id=2), 409, "inside another object")
    gone = ok(call(api, "DELETE", "/mount", id=3))
    assert gone["id"] == 3 and gone["refs"] == 0
    assert not merged.exists() and not lower_mp.exists()  # the cascade took the nested mount
    assert ok(call(api, "GET", "/attach", id=1))[0]["refs"] == 1
    ok(call(api, "DELETE", "/attach", id=1))
    assert loop_devices_of(image) == []
    assert ok(call(api, "GET", "/attach")) == [] and ok(call(api, "GET", "/mount")) == []


def test_whole_chain_in_one_request_and_force(api, rootfs_images):
    img = rootfs_images["squashfs"]
    ov = ok(call(api, "POST", "/mount", overlay(fs_mount(loopback(img), "squashfs"))), 201)
    assert [o["id"] for o in (ov, ov["overlay"]["lower"][0],
                              ov["overlay"]["lower"][0]["attach"]["attach"])] == [3, 2, 1]
    # a second overlay on the same lower mount references it
    ov2 = ok(call(api, "POST", "/mount", overlay({"id": 2})), 201)
    assert ov2["overlay"]["lower"][0]["refs"] == 2
    ok(call(api, "DELETE", "/mount", id=3))
    assert ok(call(api, "GET", "/mount", id=2))[0]["refs"] == 1  # ov2 still holds it
    assert (Path(ov2["mountpoint"]) / "bin" / "busybox").exists()
    ok(call(api, "DELETE", "/mount", id=4))
    assert ok(call(api, "GET", "/mount")) == [] and ok(call(api, "GET", "/attach")) == []
    assert loop_devices_of(img) == []
    # force drops the client's reference only: the object stays while another holds it
    a = ok(call(api, "POST", "/attach", loopback(img)), 201)
    m = ok(call(api, "POST", "/mount", fs_mount({"id": a["id"]}, "squashfs")), 201)
    err(call(api, "DELETE", "/attach", id=a["id"]), 409)
    ok(call(api, "DELETE", "/attach", id=a["id"], force="true"))
    assert ok(call(api, "GET", "/attach", id=a["id"]))[0]["refs"] == 1
    err(call(api, "DELETE", "/attach", id=a["id"]), 409)  # no longer the client's to drop
    ok(call(api, "DELETE", "/mount", id=m["id"]))
    err(call(api, "GET", "/attach", id=a["id"]), 404)
    assert loop_devices_of(img) == []


def test_bind_read_only_and_image_mounts(ctr_factory, rootfs_images, tmp):
    d = ctr_factory()  # with the busybox image in the store
    src = tmp / "bindsrc"
    src.mkdir()
    (src / "f").write_text("bound\n")
    b = ok(call(d, "POST", "/mount", {"kind": "bind", "bind": {"path": str(src), "base": "root",
                                                             "ro": True}}), 201)
    mp = Path(b["mountpoint"])
    assert (mp / "f").read_text() == "bound\n"
    with pytest.raises(OSError):
        (mp / "new").write_text("x")  # read-only that really is read-only
    ok(call(d, "DELETE", "/mount", id=b["id"]))
    im = ok(call(d, "POST", "/mount", {"kind": "image", "image": {"image": "busybox:latest"}}),
            201)
    assert (Path(im["mountpoint"]) / "bin" / "busybox").exists()
    assert im["image"]["image_id"].startswith("sha256:")
    # the store keeps an image a mount uses
    assert d.request("DELETE", f"/api/v1/images/{im['image']['image_id']}?force=false")\
        .status_code == 409
    ov = ok(call(d, "POST", "/mount", overlay({"id": im["id"]})), 201)
    assert (Path(ov["mountpoint"]) / "bin" / "sh").exists()
    ok(call(d, "DELETE", "/mount", id=ov["id"]))
    ok(call(d, "DELETE", "/mount", id=im["id"]))


def test_restart_readopts_and_ids_are_never_reused(ctr_factory, rootfs_images, tmp):
    img = rootfs_images["squashfs"]
    d = ctr_factory(dirname="keep", import_images=False)
    ov = ok(call(d, "POST", "/mount", overlay(fs_mount(loopback(img), "squashfs"))), 201)
    merged = Path(ov["mountpoint"])
    (merged / "tmp" / "state").write_text("kept\n")
    scratch = ok(call(d, "POST", "/attach", loopback(img)), 201)  # attached, not mounted
    ok(call(d, "DELETE", "/attach", id=scratch["id"]))
    d.proc.send_signal(signal.SIGKILL)  # a crash: nothing is cleaned on the way out
    d.proc.wait()
    d.exit_code = 0
    d2 = Imgd(tmp / "keep")
    try:
        assert [m["id"] for m in ok(call(d2, "GET", "/mount"))] == [2, 3]
        assert (merged / "tmp" / "state").read_text() == "kept\n"  # the same overlay
        assert len(loop_devices_of(img)) == 1  # re-adopted, not attached twice
        new = ok(call(d2, "POST", "/attach", loopback(img)), 201)
        assert new["id"] == 5  # 4 was used and released before the crash
        ok(call(d2, "DELETE", "/attach", id=new["id"]))
        ok(call(d2, "DELETE", "/mount", id=3))
        assert ok(call(d2, "GET", "/attach")) == [] and loop_devices_of(img) == []
    finally:
        assert d2.stop() == 0


def test_unmounted_attachment_comes_back_after_restart(ctr_factory, rootfs_images, tmp):
    img = rootfs_images["erofs"]
    d = ctr_factory(dirname="again", import_images=False)
    a = ok(call(d, "POST", "/attach", loopback(img)), 201)
    assert d.stop() == 0  # autoclear takes the unused device with imgd's descriptor
    d2 = Imgd(tmp / "again")
    try:
        (got,) = ok(call(d2, "GET", "/attach"))
        assert got["id"] == a["id"] and loop_devices_of(img) == [got["device_file"]]
        m = ok(call(d2, "POST", "/mount", fs_mount({"id": a["id"]}, "erofs")), 201)
        assert (Path(m["mountpoint"]) / "bin" / "busybox").exists()
        ok(call(d2, "DELETE", "/mount", id=m["id"]))
        ok(call(d2, "DELETE", "/attach", id=a["id"]))
    finally:
        assert d2.stop() == 0


def test_bad_inputs(api, rootfs_images, tmp):
    err(call(api, "POST", "/attach", loopback(tmp / "missing.sqsh")), 400, "missing.sqsh")
    err(call(api, "POST", "/attach", {"kind": "floppy", "floppy": {}}), 422, "floppy")
    err(call(api, "POST", "/attach", {"kind": "loopback"}), 400, "loopback")
    err(call(api, "POST", "/attach", {"kind": "loopback", "loopback": {"base": "root"}}), 422,
        "path")
    err(call(api, "POST", "/attach", {"kind": "loopback",
                                      "loopback": {"path": "/x", "base": "moon"}}), 422, "base")
    err(call(api, "POST", "/attach", {"kind": "local", "local": {"path": str(tmp)}}), 400,
        "block device")
    err(call(api, "POST", "/attach", {"kind": "iscsi", "iscsi": {}}), 501, "iSCSI")
    if not Path("/sys/bus/rbd").exists():
        r = call(api, "POST", "/attach", {"kind": "rbd", "rbd": {
            "monitors": ["192.0.2.1"], "pool": "rbd", "image": "systemd.sqsh",
            "options": {"name": "admin", "secret": "c2VjcmV0"}}})
        body = err(r, 501, "rbd")
        assert "c2VjcmV0" not in json.dumps(body)
    err(call(api, "POST", "/attach", {"id": 7, **loopback(rootfs_images["squashfs"])}), 400)
    err(call(api, "POST", "/mount", {"kind": "uri", "uri": {}}), 501, "uri")
    if "nfs" not in Path("/proc/filesystems").read_text():
        err(call(api, "POST", "/mount", {"kind": "nfs", "nfs": {"host": "127.0.0.1",
                                                                "path": "/export"}}), 501, "NFS")
    err(call(api, "POST", "/mount", overlay()), 400, "lower")
    err(call(api, "POST", "/mount", overlay({"id": 99})), 404, "99")
    err(call(api, "POST", "/mount", fs_mount({"id": 42}, "squashfs")), 404, "42")
    err(call(api, "POST", "/mount", fs_mount(loopback(rootfs_images["squashfs"]),
                                             "squashfs", ["loop"])), 400, "loop")
    err(call(api, "POST", "/mount", fs_mount(loopback(rootfs_images["squashfs"]),
                                             "nosuchfs")), 501, "nosuchfs")
    err(call(api, "GET", "/mount", id=12345), 404)
    err(call(api, "GET", "/mount", id="abc"), 422)
    err(call(api, "GET", "/attach", kind="floppy"), 422)
    err(call(api, "DELETE", "/mount"), 422, "id")
    err(call(api, "DELETE", "/attach", id=3), 404)
    # nothing half-made is left behind by any of these
    assert ok(call(api, "GET", "/attach")) == [] and ok(call(api, "GET", "/mount")) == []
    assert loop_devices_of(rootfs_images["squashfs"]) == []
    assert not any((api.run_dir / "mounts").iterdir())


# ---- system containers on mounts ----

def chain(image, fs_type="squashfs"):
    """The kraken shape: overlay -> attach mount (read-only) -> loopback attachment."""
    return overlay(fs_mount(loopback(image, ro=True), fs_type))


def container(d, body):
    return call(d, "POST", "/container", body)


def wait_state(d, name, want, timeout=10):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (c,) = ok(call(d, "GET", "/container", name=name))
        if c["state"] == want:
            return c
        time.sleep(0.05)
    raise AssertionError(f"container {name} never reached {want}: {c}")


SCRIPT = ("/bin/sh -c 'trap \"echo stopping; exit 0\" TERM; echo written > /tmp/state; "
          "echo first line; while :; do sleep 0.05; done'")


def test_kraken_sequence(api, rootfs_images):
    c = ok(container(api, {"name": "compute", "command": SCRIPT, "state": "running",
                           "mount": chain(rootfs_images["squashfs"])}), 201)
    assert c["state"] == "running" and c["name"] == "compute" and c["id"] == 4
    assert c["namespaces"] == ["mnt", "pid", "ipc", "uts"] and c["systemd"] is False
    assert c["mount"]["id"] == 3 and c["mount"]["kind"] == "overlay"
    log = Path(c["logfile"])
    import time
    deadline = time.monotonic() + 10
    while "first line" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "no first line in the log"
        time.sleep(0.02)
    upper = Path(c["mount"]["overlay"]["upperdir"])
    assert (upper / "tmp" / "state").read_text() == "written\n"  # written to the overlay
    # the device nodes and /dev links a system container needs (the reference's list)
    out = api.request("POST", "/api/v1/containers/compute/exec", timeout=30, json={
        "command": ["sh", "-c", "for d in null zero full tty random urandom; do "
                    "[ -c /dev/$d ] && echo $d; done; for l in ptmx fd stdin stdout stderr; do "
                    "readlink /dev/$l; done"]}).json()["execution"]["output"]
    assert out.split() == ["null", "zero", "full", "tty", "random", "urandom", "pts/ptmx",
                           "/proc/self/fd", "/proc/self/fd/0", "/proc/self/fd/1",
                           "/proc/self/fd/2"]
    # poll, as kraken does, then stop by name and delete by name
    assert [x["name"] for x in ok(call(api, "GET", "/container"))] == ["compute"]
    assert ok(call(api, "GET", "/container", state="running"))[0]["id"] == c["id"]
    assert ok(call(api, "GET", "/container", state="exited")) == []
    # the native face lists it too
    native = api.get("/api/v1/containers").json()["containers"]
    assert [n["name"] for n in native] == ["compute"]
    err(call(api, "DELETE", "/container", name="compute"), 409, "running")
    stopped = ok(call(api, "PATCH", "/container", name="compute", state="exited"))
    assert stopped["state"] == "exited" and stopped["exit_code"] == 0
    assert "stopping" in log.read_text()
    ok(call(api, "PATCH", "/container", name="compute", state="exited"))  # no-op
    ok(call(api, "DELETE", "/container", name="compute"))
    # the whole chain went with it
    assert ok(call(api, "GET", "/mount")) == [] and ok(call(api, "GET", "/attach")) == []
    assert loop_devices_of(rootfs_images["squashfs"]) == []
    err(call(api, "GET", "/container", name="compute"), 404)
    # and no record is left behind (the container's id was reserved in the shared sequence)
    import sqlite3
    db = sqlite3.connect(api.state_dir / "imgd.db")
    assert db.execute("SELECT count(*) FROM mount_objects").fetchone()[0] == 0
    db.close()


def test_created_then_patched_running_and_natural_exits(api, rootfs_images):
    m = ok(call(api, "POST", "/mount", chain(rootfs_images["erofs"], "erofs")), 201)
    c = ok(container(api, {"name": "later", "command": "/bin/sh -c 'exit 0'",
                           "mount": {"id": m["id"]}}), 201)
    assert c["state"] == "created"
    assert ok(call(api, "GET", "/mount", id=m["id"]))[0]["refs"] == 2  # the client's + the container's
    ok(call(api, "PATCH", "/container", id=c["id"], state="running"))
    assert wait_state(api, "later", "exited")["exit_code"] == 0
    bad = ok(container(api, {"name": "fails", "command": "/bin/sh -c 'exit 3'",
                             "state": "running", "mount": {"id": m["id"]}}), 201)
    assert wait_state(api, "fails", "dead")["exit_code"] == 3  # rc != 0 is dead
    # a start that fails: 201 with state dead, as the original answered
    dead = ok(container(api, {"name": "noinit", "command": "/sbin/no-such-init",
                              "state": "running", "mount": {"id": m["id"]}}), 201)
    assert dead["state"] == "dead" and "no-such-init" in dead["last_error"]
    err(call(api, "PATCH", "/container", name="later", state="paused"), 400, "paus")
    err(call(api, "PATCH", "/container", state="running"), 400, "id")
    err(call(api, "PATCH", "/container", name="ghost", state="running"), 404)
    err(container(api, {"name": "later", "command": "/bin/true", "mount": {"id": m["id"]}}), 409)
    err(container(api, {"name": "bad name", "command": "/bin/true",
                        "mount": {"id": m["id"]}}), 422)
    err(container(api, {"name": "x", "command": "/bin/true", "state": "exited",
                        "mount": {"id": m["id"]}}), 400)
    err(container(api, {"name": "y", "command": "/bin/true", "namespaces": ["bogus"],
                        "mount": {"id": m["id"]}}), 422, "bogus")
    err(container(api, {"name": "z", "command": "/bin/true", "mount": {"id": 999}}), 404)
    for name in ("later", "fails", "noinit"):
        ok(call(api, "DELETE", "/container", name=name))
    assert ok(call(api, "GET", "/mount", id=m["id"]))[0]["refs"] == 1
    ok(call(api, "DELETE", "/mount", id=m["id"]))
    assert ok(call(api, "GET", "/attach")) == [] and bad["id"] > 0


def test_systemd_mode(api, rootfs_images, tmp):
    # a test init: checks what systemd needs, reports, and ends on SIGRTMIN+3 (signal 37)
    init = ("/bin/sh -c 'trap \"echo got-rtmin3; exit 0\" 37; "
            "grep -q \" /run tmpfs\" /proc/mounts && echo run-is-tmpfs; "
            "grep -q \" /tmp tmpfs\" /proc/mounts && echo tmp-is-tmpfs; "
            "echo container=$container; while :; do sleep 0.05; done'")
    c = ok(container(api, {"name": "sysd", "command": init, "systemd": True, "state": "running",
                           "mount": chain(rootfs_images["squashfs"])}), 201)
    assert c["systemd"] is True
    log = Path(c["logfile"])
    import time
    deadline = time.monotonic() + 10
    while "container=imgd" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, log.read_text() if log.exists() else "no log"
        time.sleep(0.02)
    text = log.read_text()
    assert "run-is-tmpfs" in text and "tmp-is-tmpfs" in text
    stopped = ok(call(api, "PATCH", "/container", name="sysd", state="exited"))
    assert stopped["exit_code"] == 0 and "got-rtmin3" in log.read_text()
    ok(call(api, "DELETE", "/container", name="sysd"))


def test_restart_mid_run_then_stop_and_delete(ctr_factory, rootfs_images, tmp):
    d = ctr_factory(dirname="mid", import_images=False)
    c = ok(container(d, {"name": "survivor", "command": SCRIPT, "state": "running",
                         "mount": chain(rootfs_images["squashfs"])}), 201)
    assert d.stop() == 0
    d2 = Imgd(tmp / "mid")
    try:
        (again,) = ok(call(d2, "GET", "/container"))
        assert again["id"] == c["id"] and again["state"] == "running"
        assert [m["id"] for m in ok(call(d2, "GET", "/mount"))] == [2, 3]
        assert len(loop_devices_of(rootfs_images["squashfs"])) == 1
        ok(call(d2, "PATCH", "/container", name="survivor", state="exited"))
        ok(call(d2, "DELETE", "/container", name="survivor"))
        assert ok(call(d2, "GET", "/mount")) == []
        assert loop_devices_of(rootfs_images["squashfs"]) == []
        new = ok(container(d2, {"name": "next", "command": "/bin/true",
                                "mount": chain(rootfs_images["squashfs"])}), 201)
        assert new["id"] > c["id"]  # ids are never reused
        ok(call(d2, "DELETE", "/container", name="next"))
    finally:
        assert d2.stop() == 0


# ---- the v0.1 paths: the 004 walkthrough, a loopback attachment in place of RBD ----

def test_v01_walkthrough_with_a_loopback_attach(api, rootfs_images):
    img = str(rootfs_images["squashfs"])
    # 3. attach (RBD in the original; a loop file here) and 4. mount it
    a = ok(api.request("POST", "/attach/loopback", json={"path": img, "ro": True}), 201)
    assert a["id"] == 0 and a["device_file"].startswith("/dev/loop")
    m = ok(api.request("POST", "/mount/rbd", json={"id": 0, "fs_type": "squashfs",
                                                   "mount_options": ["ro"]}), 201)
    assert m["id"] == 0 and m["fs_type"] == "squashfs" and m["mount_options"] == ["ro"]
    assert (Path(m["mountpoint"]) / "etc" / "os-release").exists()
    # 5. overlay on it
    ov = ok(api.request("POST", "/mount/overlay", json={"lower": [0]}), 201)
    assert ov["id"] == 1 and ov["lower"] == [0]
    assert ov["mountpoint"] and ov["upperdir"] and ov["workdir"]
    # 6. the container, created
    c = ok(api.request("POST", "/container", json={
        "mount": {"id": 1, "kind": "overlay"}, "command": "/usr/lib/systemd/systemd",
        "state": "created", "systemd": True}), 201)
    assert c["id"] == 0 and c["state"] == "created" and c["systemd"] is True
    assert c["mount"] == {"id": 1, "kind": "overlay"} and c["logfile"]
    # 7. started with a GET, and listed
    c = ok(api.request("GET", "/container/0/running"))
    assert c["state"] == "running"
    listed = ok(api.request("GET", "/container"))
    assert [x["id"] for x in listed] == [0] and listed[0]["state"] == "running"
    assert ok(api.request("GET", "/mount/rbd/0"))["rbd_id"] == 0
    generic = ok(api.request("GET", "/mount"))
    assert sorted((g["mount_id"], g["kind"]) for g in generic) == [(0, "rbd"), (1, "overlay")]
    # 8. tear it all down, in the walkthrough's order
    ok(api.request("DELETE", "/container/0"))
    ok(api.request("DELETE", "/mount/overlay/1"))
    ok(api.request("DELETE", "/mount/rbd/0"))
    ok(api.request("DELETE", "/attach/loopback/0"))
    assert loop_devices_of(img) == []
    assert ok(call(api, "GET", "/mount")) == [] and ok(call(api, "GET", "/attach")) == []
    # the same objects seen by both generations, and v0.1 ids never reused
    a2 = ok(api.request("POST", "/attach/loopback", json={"path": img}), 201)
    assert a2["id"] == 1
    assert ok(call(api, "GET", "/attach"))[0]["device_file"] == a2["device_file"]
    err(api.request("DELETE", "/attach/rbd/1"), 404)  # a loopback one, not an rbd one
    ok(api.request("DELETE", "/attach/loopback/1"))
    err(api.request("GET", "/container/7"), 404)
    err(api.request("GET", "/container/byname/ghost"), 404)
    err(api.request("POST", "/mount/overlay", json={"lower": [42]}), 404)
    if not Path("/sys/bus/rbd").exists():
        err(api.request("POST", "/attach/rbd", json={
            "monitors": ["192.0.2.1"], "pool": "rbd", "image": "systemd.sqsh",
            "options": {"ro": True, "name": "admin", "secret": "XXXX"}}), 501, "rbd")


def test_v01_byname_state_changes(api, rootfs_images):
    ok(call(api, "POST", "/container", {"name": "byname", "command": "/usr/lib/systemd/systemd",
                                        "systemd": True, "mount": chain(rootfs_images["squashfs"])}),
       201)
    c = ok(api.request("GET", "/container/byname/byname/running"))
    assert c["state"] == "running"
    assert ok(api.request("GET", "/container/byname/byname"))["state"] == "running"
    import time
    deadline = time.monotonic() + 10  # its trap must be set before the stop signal comes
    while "init-up" not in Path(c["logfile"]).read_text():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    stopped = ok(api.request("GET", "/container/byname/byname/exited"))
    assert stopped["state"] == "exited"
    err(api.request("GET", "/container/byname/byname/paused"), 400)
    ok(api.request("DELETE", "/container/byname/byname"))
    assert ok(call(api, "GET", "/mount")) == []


def test_stopping_is_visible_while_a_stop_runs(ctr_factory, rootfs_images):
    import threading
    import time
    d = ctr_factory(args=["--stop-timeout", "6"], import_images=False)
    stubborn = "/bin/sh -c 'trap \"\" TERM; echo up; while :; do sleep 0.05; done'"
    c = ok(container(d, {"name": "slow", "command": stubborn, "state": "running",
                         "mount": chain(rootfs_images["squashfs"])}), 201)
    deadline = time.monotonic() + 10
    while "up" not in Path(c["logfile"]).read_text():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    result = {}
    t = threading.Thread(target=lambda: result.update(
        r=call(d, "PATCH", "/container", name="slow", state="exited")))
    t.start()
    seen = wait_state(d, "slow", "stopping", timeout=5)
    assert seen["state"] == "stopping"
    native = d.get("/api/v1/containers").json()["containers"][0]
    assert native["status"] == "stopping"
    t.join(30)
    assert ok(result["r"])["state"] == "dead"  # SIGKILL after the 6 s: rc 137
    assert ok(call(d, "GET", "/container", name="slow"))[0]["exit_code"] == 137
    ok(call(d, "DELETE", "/container", name="slow"))


def test_namespaces_on_request_and_loopback_on_a_base_mount(api, rootfs_images):
    import os
    # the squashfs is reached through a bind mount of its directory: base "mount"
    folder = ok(call(api, "POST", "/mount", {"kind": "bind", "bind": {
        "path": str(rootfs_images["squashfs"].parent), "base": "root", "ro": True}}), 201)
    nested = overlay(fs_mount({"kind": "loopback", "loopback": {
        "path": rootfs_images["squashfs"].name, "base": "mount", "mount": {"id": folder["id"]},
        "ro": True}}, "squashfs"))
    c = ok(container(api, {"name": "isolated", "state": "running", "mount": nested,
                           "namespaces": ["mnt", "pid", "ipc", "uts", "net", "cgroup", "user"],
                           "command": "/bin/sh -c 'trap \"exit 0\" TERM; echo up; "
                                      "while :; do sleep 0.05; done'"}), 201)
    assert c["state"] == "running", c
    loop = c["mount"]["overlay"]["lower"][0]["attach"]["attach"]
    assert loop["loopback"]["base"] == "mount" and loop["loopback"]["mount"]["id"] == folder["id"]

    def run(cmd):
        r = api.request("POST", "/api/v1/containers/isolated/exec", json={"command": cmd},
                        timeout=30)
        return r.json()["execution"]["output"]
    devs = {ln.split(":")[0].strip() for ln in run("cat /proc/net/dev").splitlines()[2:]}
    assert devs == {"lo"}  # net on request: a namespace of its own
    assert run("cat /proc/self/uid_map").split() == ["0", "0", "4294967295"]  # user
    inside = run("readlink /proc/self/ns/cgroup").strip()
    assert inside and inside != os.readlink("/proc/self/ns/cgroup")  # cgroup
    ok(call(api, "PATCH", "/container", name="isolated", state="exited"))
    ok(call(api, "DELETE", "/container", name="isolated"))
    assert ok(call(api, "GET", "/mount", id=folder["id"]))[0]["refs"] == 1
    ok(call(api, "DELETE", "/mount", id=folder["id"]))
    assert ok(call(api, "GET", "/mount")) == [] and ok(call(api, "GET", "/attach")) == []
