# SPDX-License-Identifier: MIT
"""imgctl's boot-image commands on the ImageAPI face against the real imgd, runc and kernel:
attach/attachments/detach, mount/mounts/umount (also overlays), deploy of a busybox squashfs or
erofs as a system container (also in systemd mode), containers, undeploy taking the whole chain
down, and the errors. imgctl talks to imgd over its unix socket, with HOME and XDG_CONFIG_HOME
inside the test's temp dir."""
import json
import re
import time
from pathlib import Path

from conftest import aligned_table as table, failed, ok, one_line, run_imgctl
from containers import busybox_layout, ctr_factory  # noqa: F401
from test_imageapi import loop_devices_of, rootfs_images  # noqa: F401

TIMEOUT = 60
SCRIPT = "/bin/sh -c 'trap \"exit 0\" TERM; echo up; while :; do sleep 0.05; done'"
# a test init that ends on SIGRTMIN+3 (signal 37) only; the trap is set before the line the
# test waits for, so the signal cannot come first
INIT = ("/bin/sh -c 'trap \"echo got-rtmin3; exit 0\" 37; echo container=$container; "
        "while :; do sleep 0.05; done'")


def ctl(d, *args, cwd=None):
    return run_imgctl(d.tmp, args, server=f"unix://{d.socket}", cwd=cwd, timeout=TIMEOUT)


ATTACHMENTS = ["ID", "KIND", "DEVICE", "PATH", "REFS"]
MOUNTS = ["ID", "KIND", "MOUNTPOINT", "REFS", "SOURCE"]
CONTAINERS = ["ID", "NAME", "STATE", "EXIT", "MOUNT", "LOGFILE"]


def assert_nothing_left(d, image):
    assert table(ok(ctl(d, "attachments")), ATTACHMENTS) == []
    assert table(ok(ctl(d, "mounts")), MOUNTS) == []
    assert table(ok(ctl(d, "containers")), CONTAINERS) == []
    assert loop_devices_of(image) == []


def wait_log(path, text, timeout=10):
    deadline = time.monotonic() + timeout
    while text not in (path.read_text() if path.exists() else ""):
        assert time.monotonic() < deadline, f"no {text!r} in {path}"
        time.sleep(0.02)


def test_attach_mount_overlay_step_by_step(ctr_factory, rootfs_images):
    d = ctr_factory(import_images=False)
    image = rootfs_images["squashfs"]
    # a relative FILE is made absolute where it was typed
    aid, dev = one_line(ok(ctl(d, "attach", "--ro", image.name, cwd=image.parent))).split(" ")
    assert aid == "1" and loop_devices_of(image) == [dev]
    assert Path(f"/sys/block/{Path(dev).name}/ro").read_text().strip() == "1"
    assert table(ok(ctl(d, "attachments")), ATTACHMENTS) == [["1", "loopback", dev, str(image),
                                                              "1"]]
    (listed,) = json.loads(ok(ctl(d, "-o", "json", "attachments")))
    assert listed["loopback"]["ro"] is True and listed["loopback"]["readPartitions"] is False

    mid, mp = one_line(ok(ctl(d, "mount", "-o", "ro,nodev", "1", "squashfs"))).split(" ")
    assert mid == "2" and (Path(mp) / "bin" / "busybox").exists()
    made = json.loads(ok(ctl(d, "-o", "json", "mount", "--overlay", "2")))
    assert made["id"] == 3 and made["overlay"]["lower"][0]["id"] == 2
    merged = Path(made["mountpoint"])
    (merged / "etc" / "written").write_text("upper\n")  # writable, the lower one is not touched
    assert not (Path(mp) / "etc" / "written").exists()
    assert table(ok(ctl(d, "mounts")), MOUNTS) == [
        ["2", "attach", mp, "2", f"squashfs on {dev} (attach 1)"],
        ["3", "overlay", str(merged), "1", "lower 2"]]
    assert [m["id"] for m in json.loads(ok(ctl(d, "mounts", "--json")))] == [2, 3]

    # what others hold is imgd's 409, with its message
    failed(ctl(d, "detach", "1"), "DELETE /imageapi/v1/attach?id=1: 409", "in use")
    failed(ctl(d, "umount", "2"), "DELETE /imageapi/v1/mount?id=2: 409")
    assert ok(ctl(d, "umount", "3")) == "3\n"
    assert not merged.exists()
    assert table(ok(ctl(d, "mounts")), MOUNTS)[0][3] == "1"
    # -f drops imgctl's reference only: the attachment stays while the mount holds it
    assert ok(ctl(d, "detach", "-f", "1")) == "1\n"
    assert table(ok(ctl(d, "attachments")), ATTACHMENTS)[0][4] == "1"
    gone = json.loads(ok(ctl(d, "-o", "json", "umount", "2")))
    assert gone["id"] == 2 and gone["refs"] == 0
    assert_nothing_left(d, image)


def test_deploy_containers_undeploy(ctr_factory, rootfs_images):
    d = ctr_factory(import_images=False)
    image = rootfs_images["squashfs"]
    cid, state, log = one_line(ok(ctl(d, "deploy", image, "--name", "web",
                                      "--command", SCRIPT))).split(" ")
    # the whole chain in one request: attachment 1, mount 2, overlay 3, container 4
    assert (cid, state) == ("4", "running")
    wait_log(Path(log), "up\n")
    ((dev, path, refs),) = [r[2:] for r in table(ok(ctl(d, "attachments")), ATTACHMENTS)]
    assert loop_devices_of(image) == [dev] and path == str(image) and refs == "1"
    assert Path(f"/sys/block/{Path(dev).name}/ro").read_text().strip() == "1"
    mounts = table(ok(ctl(d, "mounts")), MOUNTS)
    assert [m[:2] + m[3:] for m in mounts] == [
        ["2", "attach", "1", f"squashfs on {dev} (attach 1)"], ["3", "overlay", "1", "lower 2"]]
    assert table(ok(ctl(d, "containers")), CONTAINERS) == [
        ["4", "web", "running", "-", mounts[1][2], log]]
    (listed,) = json.loads(ok(ctl(d, "containers", "--json")))
    assert listed["name"] == "web" and listed["command"] == SCRIPT
    assert listed["mount"]["overlay"]["lower"][0]["attach"]["mount_options"] == ["ro"]

    failed(ctl(d, "deploy", image, "--name", "web", "--command", "/bin/true"), "409")
    assert ok(ctl(d, "undeploy", "web")) == "web\n"  # stopped by TERM, then removed
    assert_nothing_left(d, image)
    failed(ctl(d, "undeploy", "web"), "404", "container 'web' not found")


def test_deploy_systemd_created_and_a_failed_start(ctr_factory, rootfs_images):
    d = ctr_factory(import_images=False)
    image = rootfs_images["erofs"]
    out = json.loads(ok(ctl(d, "-o", "json", "deploy", "--systemd", "--command", INIT,
                            "--name", "sysd", "--namespaces", "mnt,pid,uts", image)))
    assert out["systemd"] is True and out["namespaces"] == ["mnt", "pid", "uts"]
    wait_log(Path(out["logfile"]), "container=imgd\n")
    # the file's suffix picked the filesystem
    assert table(ok(ctl(d, "mounts")), MOUNTS)[0][4].startswith("erofs on /dev/loop")
    # stopped by signal 37: without it the init would not exit 0
    gone = json.loads(ok(ctl(d, "-o", "json", "undeploy", "--timeout", "20", "sysd")))
    assert gone["name"] == "sysd" and gone["state"] == "exited" and gone["exit_code"] == 0
    assert "got-rtmin3" in Path(out["logfile"]).read_text()

    cid, state, _ = one_line(ok(ctl(d, "deploy", "--created", "--name", "later",
                                    "--command", "/bin/true", image))).split(" ")
    assert state == "created"
    assert table(ok(ctl(d, "containers")), CONTAINERS)[0][:4] == [cid, "later", "created", "-"]
    assert ok(ctl(d, "undeploy", "later")) == "later\n"

    # --systemd alone runs /sbin/init, which this image lacks: imgd keeps the dead container
    r = ctl(d, "deploy", "--systemd", "--name", "noinit", image)
    line = failed(r, "deploy 'noinit': the container did not start", "/sbin/init",
                  stdout=r.stdout)
    assert re.fullmatch(r"\d+ dead /\S+\n", r.stdout), (r.stdout, line)
    assert table(ok(ctl(d, "containers")), CONTAINERS)[0][1:3] == ["noinit", "dead"]
    assert ok(ctl(d, "undeploy", "noinit")) == "noinit\n"
    assert_nothing_left(d, image)


def test_errors(ctr_factory, rootfs_images, tmp):
    d = ctr_factory(import_images=False)
    missing = tmp / "missing.sqsh"
    failed(ctl(d, "attach", missing), "POST /imageapi/v1/attach: 400", "missing.sqsh")
    failed(ctl(d, "attach", "missing.sqsh", cwd=tmp), "cannot make the path absolute")
    failed(ctl(d, "deploy", missing, "--name", "x", "--command", "/bin/true"), "400",
           "missing.sqsh")
    failed(ctl(d, "deploy", rootfs_images["squashfs"], "--name", "x", "--command", "/bin/true",
               "--namespaces", "mnt,bogus"), "422", "bogus")
    failed(ctl(d, "deploy", rootfs_images["squashfs"], "--name", "bad name", "--command",
               "/bin/true"), "422", "name")
    failed(ctl(d, "undeploy", "ghost"), "PATCH /imageapi/v1/container?name=ghost&state=exited: 404",
           "container 'ghost' not found")
    failed(ctl(d, "umount", "99"), "404")
    failed(ctl(d, "mount", "--overlay", "42"), "404", "42")
    failed(ctl(d, "detach", "7"), "404")
    # usage errors: exit 2 before any request
    for args, words in [(("deploy", "f.sqsh", "--command", "/bin/true"), "--name"),
                        (("deploy", "f.sqsh", "--name", "n"), "--command"),
                        (("mount", "1"), "usage"),
                        (("mount", "--overlay", "2,,3"), "empty"),
                        (("mount", "--overlay", "2", "1", "squashfs"), "--overlay"),
                        (("detach", "one"), "not an ID"),
                        (("undeploy", "--timeout", "0", "n"), "--timeout"),
                        (("containers", "-o", "json"), "imgctl's own options go before")]:
        failed(ctl(d, *args), words, code=2)
    assert_nothing_left(d, rootfs_images["squashfs"])
