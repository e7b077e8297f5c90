# SPDX-License-Identifier: MIT
"""GET /local-images against a real containerd: the rows equal what CRI reports, formatted as
crictl formats them; a runtime that stops is reported, never a failed request when another
source still answers."""
import concurrent.futures
import signal
import socket
import threading
import time

from formats import crictl_size

pytest_plugins = ["containerd", "registry"]


def expected_rows(images):
    """What `crictl images` prints for these CRI images, as /local-images rows."""
    out = []
    for img in images:
        short = img.config_digest.split(":")[1][:13]
        size = crictl_size(img.size)
        if img.repo_tags:
            for t in img.repo_tags:
                repo, tag = t.rsplit(":", 1)
                out.append({"repository": repo, "tag": tag, "image_id": short, "size": size})
        else:
            name = img.repo_digests[0].split("@")[0] if img.repo_digests else "<none>"
            out.append({"repository": name, "tag": "<none>", "image_id": short, "size": size})
    return sorted(out, key=lambda r: (r["repository"], r["tag"]))


def cri_imgd(imgd_factory, containerd, *sources):
    args = ["--cri-endpoint", containerd.endpoint]
    if sources:
        args += ["--inventory-sources", ",".join(sources)]
    return imgd_factory(args=args)


def test_local_images_equal_cri(imgd_factory, containerd, cri_images):
    d = cri_imgd(imgd_factory, containerd, "cri")
    r = d.get("/local-images")
    assert r.status_code == 200, r.text
    got = sorted(r.json(), key=lambda x: (x["repository"], x["tag"]))
    assert got == expected_rows(cri_images.all())
    detail = d.get("/local-images?detail=1&no_trunc=1").json()
    second = next(x for x in detail if x["repository"] == "docker.io/imgd-test/second")
    assert second["id"] == cri_images.second.config_digest
    assert second["image_id"] == cri_images.second.config_digest.split(":")[1]
    assert second["repo_digests"] == cri_images.second.repo_digests
    assert second["source"] == "cri"


def test_store_and_cri_together(imgd_factory, containerd, cri_images, archives):
    d = cri_imgd(imgd_factory, containerd)  # default sources: the store, and CRI
    r = d.request("POST", "/api/v1/images/import",
                  json={"path": str(archives.layered.layout), "tag": "localhost/own:1"})
    assert r.status_code == 200
    rows = d.get("/local-images").json()
    assert {"repository": "localhost/own", "tag": "1"}.items() <= next(
        x for x in rows if x["repository"] == "localhost/own").items()
    assert len(rows) == len(expected_rows(cri_images.all())) + 1
    assert "localhost/own" not in {x["repository"] for x in d.get("/local-images?source=cri")
                                   .json()}


def test_images_equal_cri(imgd_factory, containerd, cri_images):
    d = cri_imgd(imgd_factory, containerd, "cri")
    body = d.get("/images").json()
    got = sorted(body["containerd_images"], key=lambda x: (x["repository"], x["tag"]))
    assert got == expected_rows(cri_images.all())
    assert body["errors"] == [{"source": "harbor", "error": "Harbor configuration incomplete"}]


def test_runtime_stopped(imgd_factory, containerd, archives):
    both = cri_imgd(imgd_factory, containerd, "store", "cri")
    both.request("POST", "/api/v1/images/import",
                 json={"path": str(archives.busybox.layout), "tag": "localhost/own:1"})
    only_cri = cri_imgd(imgd_factory, containerd, "cri")
    containerd.stop(signal.SIGKILL)
    # another source still answers: 200 with its rows
    r = both.get("/local-images")
    assert r.status_code == 200
    assert [x["repository"] for x in r.json()] == ["localhost/own"]
    # /images: the runtime's failure is an entry in errors, the request still 200
    r = both.get("/images")
    assert r.status_code == 200
    body = r.json()
    assert [x["repository"] for x in body["containerd_images"]] == ["localhost/own"]
    cri_errors = [e for e in body["errors"] if e["source"] == "cri"]
    assert len(cri_errors) == 1 and containerd.endpoint in cri_errors[0]["error"]
    r = only_cri.get("/images")
    assert r.status_code == 200 and r.json()["containerd_images"] == []
    # every source failed: the seed's 500 {"error","details"}
    r = only_cri.get("/local-images")
    assert r.status_code == 500
    assert set(r.json()) == {"error", "details"}
    assert containerd.endpoint in r.json()["details"]
    containerd.start()
    containerd.wait_cri_images([])
    assert only_cri.get("/local-images").status_code == 200


def test_every_answer_is_fresh(imgd_factory, containerd, cri_images, archives):
    d = cri_imgd(imgd_factory, containerd, "cri")
    before = {x["repository"] for x in d.get("/local-images").json()}
    containerd.ctr("images", "tag", "docker.io/imgd-test/second:1.0",
                   "docker.io/imgd-test/fresh:now")
    containerd.wait_cri_images([cri_images.second.config_digest])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # CRI follows ctr asynchronously; imgd adds no lag
        after = {x["repository"] for x in d.get("/local-images").json()}
        if "docker.io/imgd-test/fresh" in after:
            break
        time.sleep(0.05)
    assert "docker.io/imgd-test/fresh" in after and "docker.io/imgd-test/fresh" not in before
    containerd.ctr("images", "rm", "docker.io/imgd-test/fresh:now")


class CountingProxy:
    """A unix socket in front of the runtime's that relays bytes and counts connections: imgd
    opens one connection per CRI call, so this counts its calls. Each connection is held for
    `delay` seconds first (a slow runtime), so that concurrent requests surely overlap one."""

    def __init__(self, path, target, delay=0.0):
        self.path, self.target, self.delay = str(path), str(target), delay
        self.connections = 0
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.path)
        self._sock.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client):
        time.sleep(self.delay)
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.connect(self.target)
        threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()
        self._pipe(client, upstream)

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self._sock.close()


def test_each_request_asks_the_runtime_and_concurrent_ones_share(imgd_factory, containerd,
                                                                 cri_images, tmp):
    proxy = CountingProxy(tmp / "cri-proxy.sock", containerd.socket, delay=0.2)
    try:
        d = imgd_factory(args=["--cri-endpoint", f"unix://{proxy.path}",
                               "--inventory-sources", "cri"])
        expected = expected_rows(cri_images.all())
        # one after another: every answer comes from a call of its own (nothing is reused)
        start = proxy.connections
        for _ in range(5):
            rows = d.get("/local-images").json()
            assert sorted(rows, key=lambda x: (x["repository"], x["tag"])) == expected
        assert proxy.connections - start == 5
        # at once: the requests share calls instead of making one each
        start = proxy.connections
        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            answers = list(pool.map(lambda _: d.get("/local-images", timeout=30), range(32)))
        assert all(a.status_code == 200 and len(a.json()) == len(expected) for a in answers)
        calls = proxy.connections - start
        assert 1 <= calls < 32, f"{calls} CRI calls for 32 concurrent requests"
    finally:
        proxy.close()
