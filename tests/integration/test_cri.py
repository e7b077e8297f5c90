# SPDX-License-Identifier: MIT
"""The CRI ImageService client (src/core/cri) against a real containerd 1.6, through
tests/tools/cri-probe (which prints the client's answers as crictl-style JSON).

The images are the containerd fixture's standard set: busybox with three tags, `second` with a
tag and a digest ref, `untagged` with only a digest ref, `anonymous` with neither. What the
client reports is compared with what `ctr images ls` and the content store say.

The v1alpha2 fallback runs against the real daemon too: cri-probe's --v1-package hook makes the
client ask a package containerd does not serve in place of runtime.v1, which containerd answers
UNIMPLEMENTED exactly as a runtime without v1 would; the client must then use
runtime.v1alpha2 (which containerd 1.6 still serves) and stay with it. The unit tests
(test-cri) cover the same logic with a fake transport, plus a runtime that drops v1alpha2."""
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import BUILD, SANITIZER_MARKERS

pytest_plugins = ["containerd"]

PROBE = BUILD / "tests" / "tools" / "cri-probe"
PROBE_TIMEOUT = 60


@pytest.fixture(scope="module", autouse=True)
def _probe_built():
    if not PROBE.is_file():
        pytest.skip(f"missing prerequisite: {PROBE} (built by tests/tools/meson.build)")


def probe(*args, check=True):
    """Run cri-probe; returns (exit code, parsed JSON or None, stderr). Fails the test on a
    sanitizer report; with check, also on a non-zero exit."""
    env = dict(os.environ)
    env.pop("CONTAINER_RUNTIME_ENDPOINT", None)
    p = subprocess.run([str(PROBE), *map(str, args)], capture_output=True, text=True, env=env,
                       timeout=PROBE_TIMEOUT)
    marker = next((m for m in SANITIZER_MARKERS if m in p.stderr), None)
    assert marker is None, f"sanitizer report from cri-probe {args}:\n{p.stderr}"
    if check:
        assert p.returncode == 0, f"cri-probe {args} exited {p.returncode}: {p.stderr}"
    out = json.loads(p.stdout) if p.returncode == 0 else None
    return p.returncode, out, p.stderr


def expected_from_ctr(ctd):
    """{config digest: (sorted tags, sorted digest refs, manifest digest)} from `ctr images
    ls`: containerd's CRI groups image records by config, and names every config with a
    "sha256:CONFIG" record of its own."""
    refs = ctd.images()
    out = {}
    for name, rec in refs.items():
        if not name.startswith("sha256:"):
            continue
        manifest = rec["digest"]
        same = [n for n, r in refs.items() if r["digest"] == manifest and n != name]
        out[name] = (sorted(n for n in same if "@" not in n),
                     sorted(n for n in same if "@" in n), manifest)
    return out


def by_id(images):
    return {img["id"]: img for img in images}


def summary(images):
    """{id: (sorted tags, sorted digests, size)}: what two listings must agree on."""
    return {i["id"]: (sorted(i["repoTags"]), sorted(i["repoDigests"]), i["size"])
            for i in images}


# -------------------------------------------------------------------------------------------
# ListImages


def test_list_matches_ctr(containerd, cri_images):
    _, out, _ = probe("list", containerd.endpoint)
    assert out["api"] == "runtime.v1"
    assert out["requests"] == ["/runtime.v1.ImageService/ListImages"]
    listed = by_id(out["images"])
    assert len(listed) == len(out["images"]), "an id listed twice"
    expected = expected_from_ctr(containerd)
    assert set(listed) == set(expected)
    for image_id, (tags, digests, manifest) in expected.items():
        img = listed[image_id]
        assert sorted(img["repoTags"]) == tags, image_id
        assert sorted(img["repoDigests"]) == digests, image_id
        assert containerd.config_digest(manifest) == image_id
    # and the fixture's own record of what it imported agrees
    assert set(listed) == {i.config_digest for i in cri_images.all()}


def test_list_fields(containerd, cri_images):
    _, out, _ = probe("list", containerd.endpoint)
    listed = by_id(out["images"])
    for std in cri_images.all():
        img = listed[std.config_digest]
        assert img["id"].startswith("sha256:") and len(img["id"]) == 71
        assert sorted(img["repoTags"]) == std.repo_tags, std.name
        assert sorted(img["repoDigests"]) == std.repo_digests, std.name
        # containerd: manifest + config + layers as stored (compressed for the OCI archives,
        # the docker-archive's uncompressed tars for the docker ones)
        assert int(img["size"]) == std.size > 0, std.name
        assert img["username"] == "" and "uid" not in img, std.name
        assert img["pinned"] is False


def test_list_untagged_and_anonymous(containerd, cri_images):
    _, out, _ = probe("list", containerd.endpoint)
    listed = by_id(out["images"])
    untagged = listed[cri_images.untagged.config_digest]
    assert untagged["repoTags"] == []
    assert untagged["repoDigests"] == [
        f"docker.io/imgd-test/untagged@{cri_images.untagged.manifest_digest}"]
    anonymous = listed[cri_images.anonymous.config_digest]
    assert anonymous["repoTags"] == [] and anonymous["repoDigests"] == []
    names = [n for img in out["images"] for n in img["repoTags"] + img["repoDigests"]]
    for removed in cri_images.removed_refs:
        assert removed not in names
    # several tags of one image come as one entry
    busybox = listed[cri_images.busybox.config_digest]
    assert len(busybox["repoTags"]) == 3 and busybox["repoDigests"] == []


def test_list_tag_added_and_removed(containerd, cri_images):
    tag = "docker.io/imgd-test/busybox:added"
    containerd.ctr("images", "tag", "docker.io/imgd-test/busybox:latest", tag)
    try:
        containerd.wait_cri_images([tag])
        _, out, _ = probe("list", containerd.endpoint)
        assert tag in by_id(out["images"])[cri_images.busybox.config_digest]["repoTags"]
    finally:
        containerd.ctr("images", "rm", tag)
    containerd.wait_cri_images([], [tag])
    _, out, _ = probe("list", containerd.endpoint)
    assert tag not in by_id(out["images"])[cri_images.busybox.config_digest]["repoTags"]


def test_list_bare_socket_path(containerd, cri_images):
    _, out, _ = probe("list", str(containerd.socket))
    assert set(by_id(out["images"])) == {i.config_digest for i in cri_images.all()}


# -------------------------------------------------------------------------------------------
# ImageStatus and Version


@pytest.mark.parametrize("which", ["tag", "other-tag", "familiar", "digest-ref", "id",
                                   "short-id"])
def test_status_found(containerd, cri_images, which):
    std = cri_images.second if which == "digest-ref" else cri_images.busybox
    ref = {"tag": "docker.io/imgd-test/busybox:latest",
           "other-tag": "localhost:5000/imgd-test/bb:v1",
           "familiar": "imgd-test/busybox:1.36",  # containerd normalises it to docker.io/...
           "digest-ref": cri_images.second.repo_digests[0],
           "id": cri_images.busybox.config_digest,
           "short-id": cri_images.busybox.config_digest[len("sha256:"):][:12],
           }[which]
    _, out, _ = probe("status", containerd.endpoint, ref)
    assert out["found"] is True
    img = out["image"]
    assert img["id"] == std.config_digest
    assert sorted(img["repoTags"]) == std.repo_tags
    assert sorted(img["repoDigests"]) == std.repo_digests
    assert int(img["size"]) == std.size
    _, listed, _ = probe("list", containerd.endpoint)
    assert by_id(listed["images"])[std.config_digest]["size"] == img["size"]


def test_status_untagged_by_digest(containerd, cri_images):
    _, out, _ = probe("status", containerd.endpoint, cri_images.untagged.repo_digests[0])
    assert out["found"] is True
    assert out["image"]["id"] == cri_images.untagged.config_digest
    assert out["image"]["repoTags"] == []


@pytest.mark.parametrize("ref", ["docker.io/imgd-test/nothere:1",
                                 "docker.io/imgd-test/busybox:nope",
                                 "docker.io/imgd-test/untagged:gone", "sha256:" + "0" * 64])
def test_status_not_found(containerd, ref):
    code, out, err = probe("status", containerd.endpoint, ref)
    assert out["found"] is False and out["image"] is None
    assert err == ""


def test_version(containerd):
    _, out, _ = probe("version", containerd.endpoint)
    assert out["runtimeName"] == "containerd"
    assert out["runtimeApiVersion"] == "v1"
    assert out["version"] == "0.1.0"
    server = containerd.ctr("version").split("Server:", 1)[1]
    assert f"Version:  {out['runtimeVersion']}" in server
    assert out["requests"] == ["/runtime.v1.RuntimeService/Version"]


# -------------------------------------------------------------------------------------------
# The v1alpha2 fallback (see the module doc)


def calls(requests):
    """The requests a probe made, without the client's re-asks without a message (made when
    containerd answered UNIMPLEMENTED before libcurl had sent the message: a race), after
    checking that each re-ask repeats the request before it."""
    out = []
    for r in requests:
        if r.endswith(" (no message)"):
            assert out and out[-1] == r[:-len(" (no message)")], requests
        else:
            out.append(r)
    return out


def test_fallback_to_v1alpha2_and_remembered(containerd, cri_images):
    _, v1, _ = probe("list", containerd.endpoint)
    _, out, _ = probe("--v1-package", "runtime.v1imgdtest", "--repeat", "3", "list",
                      containerd.endpoint)
    assert calls(out["requests"]) == ["/runtime.v1imgdtest.ImageService/ListImages",
                                      "/runtime.v1alpha2.ImageService/ListImages",
                                      "/runtime.v1alpha2.ImageService/ListImages",
                                      "/runtime.v1alpha2.ImageService/ListImages"]
    assert out["api"] == "runtime.v1alpha2"
    assert summary(out["images"]) == summary(v1["images"])


def test_fallback_version_and_status(containerd, cri_images):
    _, out, _ = probe("--v1-package", "runtime.v1imgdtest", "version", containerd.endpoint)
    assert out["runtimeApiVersion"] == "v1alpha2"
    assert out["api"] == "runtime.v1alpha2"
    _, out, _ = probe("--v1-package", "runtime.v1imgdtest", "status", containerd.endpoint,
                      "docker.io/imgd-test/second:1.0")
    assert out["found"] and out["image"]["id"] == cri_images.second.config_digest
    assert calls(out["requests"]) == ["/runtime.v1imgdtest.ImageService/ImageStatus",
                                      "/runtime.v1alpha2.ImageService/ImageStatus"]


def test_fallback_is_deterministic(containerd):
    """containerd answers an unknown package before reading the request; libcurl 7.88 loses
    that answer about one time in three when it arrives before the request message is sent.
    The client's re-ask without a message must make every call succeed."""
    reasks = 0
    for _ in range(30):
        _, out, _ = probe("--v1-package", "runtime.v1imgdtest", "version", containerd.endpoint)
        assert out["runtimeApiVersion"] == "v1alpha2"
        reasks += sum(r.endswith(" (no message)") for r in out["requests"])
    print(f"re-asks without a message: {reasks} of 30 calls")


# -------------------------------------------------------------------------------------------
# Failures


def test_stopped_containerd(containerd, cri_images):
    containerd.stop()
    assert not containerd.socket.exists()
    start = time.monotonic()
    code, out, err = probe("list", containerd.endpoint, check=False)
    assert code == 1 and out is None
    assert time.monotonic() - start < 5
    assert err.count("\n") == 1
    assert f"CRI runtime at {containerd.endpoint} is not reachable" in err
    assert "No such file or directory" in err
    code, _, err = probe("version", containerd.endpoint, check=False)
    assert code == 1 and f"CRI runtime at {containerd.endpoint} is not reachable" in err

    containerd.start()
    containerd.wait_cri_images([i.config_digest for i in cri_images.all()])
    _, out, _ = probe("list", containerd.endpoint)
    assert set(by_id(out["images"])) == {i.config_digest for i in cri_images.all()}


def test_killed_containerd_leaves_socket(containerd, cri_images):
    containerd.stop(signal.SIGKILL)
    assert containerd.socket.exists()
    code, _, err = probe("list", containerd.endpoint, check=False)
    assert code == 1
    assert f"CRI runtime at {containerd.endpoint} is not reachable: Connection refused" in err
    containerd.start()
    _, out, _ = probe("version", containerd.endpoint)
    assert out["runtimeName"] == "containerd"


class _UnixServer:
    """A unix socket that accepts connections and answers them with `reply` (bytes, or None
    to stay silent until closed)."""

    def __init__(self, path, reply=None):
        self.path, self.reply = str(path), reply
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.conns = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            if self.reply is not None:
                try:
                    conn.recv(65536)
                    conn.sendall(self.reply)
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()
        self.thread.join(5)


def test_silent_runtime_times_out(tmp):
    server = _UnixServer(tmp / "silent.sock")
    try:
        start = time.monotonic()
        code, _, err = probe("--timeout", "300", "list", f"unix://{tmp}/silent.sock",
                             check=False)
        elapsed = time.monotonic() - start
    finally:
        server.close()
    assert code == 1
    assert f"CRI runtime at unix://{tmp}/silent.sock" in err and "no answer within" in err
    assert elapsed < 5


def test_http1_server_is_an_error(tmp):
    reply = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n"
             b"Connection: close\r\n\r\nbad request")
    server = _UnixServer(tmp / "http1.sock", reply)
    try:
        code, _, err = probe("--timeout", "3000", "list", f"unix://{tmp}/http1.sock",
                             check=False)
    finally:
        server.close()
    assert code == 1
    assert f"CRI runtime at unix://{tmp}/http1.sock" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("endpoint,message", [
    ("tcp://127.0.0.1:1", "only unix:// sockets are supported"),
    ("unix://relative/x.sock", "the socket path must be absolute"),
    ("unix:///" + "x" * 200, "the socket path is too long"),
])
def test_bad_endpoint(endpoint, message):
    code, _, err = probe("list", endpoint, check=False)
    assert code == 1 and message in err and endpoint in err


def test_missing_socket(tmp):
    code, _, err = probe("list", f"unix://{tmp}/nothing.sock", check=False)
    assert code == 1
    assert (f"CRI runtime at unix://{tmp}/nothing.sock is not reachable: "
            "No such file or directory") in err


def test_resolve_from_environment_and_crictl_yaml(tmp):
    yaml = tmp / "crictl.yaml"
    yaml.write_text("runtime-endpoint: 'unix:///from/yaml.sock'  # comment\ntimeout: 2\n")
    env = dict(os.environ, CONTAINER_RUNTIME_ENDPOINT="unix:///from/env.sock")
    p = subprocess.run([str(PROBE), "resolve", "", str(yaml)], capture_output=True, text=True,
                       env=env, timeout=PROBE_TIMEOUT, check=True)
    assert json.loads(p.stdout)["endpoint"] == "unix:///from/env.sock"
    assert json.loads(p.stdout)["source"] == "environment"
    _, out, _ = probe("resolve", "", str(yaml))
    assert (out["endpoint"], out["source"]) == ("unix:///from/yaml.sock", "crictl.yaml")
    _, out, _ = probe("resolve", "", str(tmp / "absent.yaml"))
    assert (out["endpoint"], out["source"]) == ("unix:///run/containerd/containerd.sock",
                                                "default")
