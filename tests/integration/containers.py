# SPDX-License-Identifier: MIT
"""Helpers for the container tests: a busybox image with every applet (built offline into an OCI
layout and imported into imgd), a daemon with it, polling helpers, and the reaper that leaves no
container, monitor, cgroup or mount behind a test, whatever happened in it."""
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

import ocibuild as ob
from conftest import Imgd, stop_daemons

BUSYBOX = Path("/bin/busybox")
RUNC = shutil.which("runc") or "/usr/sbin/runc"

# The seed's walkthrough asks for alpine:latest; the tests' image answers to that name too.
IMAGE_NAMES = ("busybox:latest", "alpine:latest")


def require_runtime():
    missing = [p for p in (BUSYBOX, Path(RUNC)) if not p.exists()]
    if missing:
        pytest.skip("container tests need " + " and ".join(map(str, missing))
                    + " (packages busybox-static, runc)")
    if os.geteuid() != 0:
        pytest.skip("container tests need root (mounts, namespaces, cgroups)")


def busybox_applets():
    out = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True)
    return tuple(a for a in out.stdout.split() if a and a != "busybox")


def build_layout(workdir):
    """OCI layout with the full busybox image under the ref 'busybox'."""
    entries = ob.busybox_entries(applets=busybox_applets())
    image = ob.build_image([ob.build_layer(entries)], cmd=("/bin/sh",),
                           env=("PATH=/usr/sbin:/usr/bin:/sbin:/bin",))
    layout = ob.Layout(Path(workdir) / "oci")
    layout.add(image, ref="busybox")
    return Path(workdir) / "oci"


def import_image(d, layout):
    for name in IMAGE_NAMES:
        r = d.request("POST", "/api/v1/images/import", json={"path": str(layout), "tag": name},
                      timeout=60)
        assert r.status_code == 200, r.text


def wait_for(fn, timeout=10, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def status_of(d, name):
    r = d.get(f"/api/v1/containers/{name}")
    assert r.status_code == 200, r.text
    return r.json()["container"]


def wait_exited(d, name, timeout=10):
    return wait_for(lambda: (c := status_of(d, name))["status"] == "exited" and c,
                    timeout, what=f"container {name} to exit")


def logs_of(d, name, **params):
    r = d.get(f"/api/v1/containers/{name}/logs", params=params)
    assert r.status_code == 200, r.text
    return r.json()["container"]["logs"]


def pids_running(argv):
    """PIDs of host processes whose argv is exactly argv (the container's pid namespace is a
    child of ours, so its processes are visible here)."""
    want = ("\0".join(argv) + "\0").encode()
    pids = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            if (p / "cmdline").read_bytes() == want:
                pids.append(int(p.name))
        except OSError:
            pass
    return pids


def _mounts_under(root):
    root = str(root)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mnt = line.split()[4].replace("\\040", " ")
            if mnt == root or mnt.startswith(root + "/"):
                found.append(mnt)
    return sorted(found, key=len, reverse=True)


def reap_containers(root):
    """Kill every container, monitor and runtime state a test left under root, and unmount
    every mount there. Safe to call when nothing is left."""
    root = Path(root)
    for rt_root in root.glob("**/run/runc"):
        ids = subprocess.run([RUNC, "--root", str(rt_root), "list", "-q"], capture_output=True,
                             text=True).stdout.split()
        for cid in ids:
            subprocess.run([RUNC, "--root", str(rt_root), "kill", cid, "KILL"],
                           capture_output=True)
            subprocess.run([RUNC, "--root", str(rt_root), "delete", "--force", cid],
                           capture_output=True)
    for pidfile in root.glob("**/containers/*/monitor.pid"):
        try:
            os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
        except (ValueError, OSError):
            pass
    for mnt in _mounts_under(root):
        subprocess.run(["umount", "-l", mnt], capture_output=True)


@pytest.fixture(scope="session")
def busybox_layout(tmp_path_factory):
    require_runtime()
    return build_layout(tmp_path_factory.mktemp("ctr-image"))


@pytest.fixture
def ctr_factory(request, tmp, busybox_layout):
    """Start daemons that have the busybox image (as busybox:latest and alpine:latest). The
    state of every one is reaped at the end."""
    started = []
    counter = [0]

    def start(args=(), env=None, config=None, dirname=None, import_images=True):
        counter[0] += 1
        d_dir = tmp / (dirname or f"c{counter[0]}")
        d_dir.mkdir(exist_ok=True)
        inst = Imgd(d_dir, args, env=env, config=config)
        started.append(inst)
        if import_images:
            import_image(inst, busybox_layout)
        return inst

    yield start
    stop_daemons(request, started, then=lambda: reap_containers(tmp))


@pytest.fixture
def ctr(ctr_factory):
    return ctr_factory()
