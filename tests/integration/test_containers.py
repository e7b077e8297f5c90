# SPDX-License-Identifier: MIT
"""The container API of the 003 service (/api/v1/containers...) against the real imgd, real runc
and a busybox image: the seed's walkthrough and Python client, then each behaviour in turn."""
import ctypes
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

import ocibuild as ob
from conftest import Imgd, free_port
from containers import (busybox_applets, busybox_layout, ctr, ctr_factory,  # noqa: F401
                        logs_of, pids_running, status_of, wait_exited, wait_for)

pytest_plugins = ["registry"]

ERROR_KEYS = {"success", "error", "timestamp"}

_libcrypt = ctypes.CDLL("libcrypt.so.1")
_libcrypt.crypt.restype = ctypes.c_char_p


def crypt(password, setting):
    return _libcrypt.crypt(password.encode(), setting.encode()).decode()


def assert_error(r, status, *words):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == ERROR_KEYS
    assert body["success"] is False
    assert body["error"]["code"] == status
    assert set(body["error"]) == {"message", "code", "type"}
    for w in words:
        assert w in body["error"]["message"], body
    return body


def create(d, name, command=None, **kw):
    body = {"image": kw.pop("image", "busybox:latest"), "name": name, **kw}
    if command is not None:
        body["command"] = command
    return d.request("POST", "/api/v1/containers", json=body, timeout=30)


def run(d, name, command, **kw):
    r = create(d, name, command, **kw)
    assert r.status_code == 200, r.text
    return r.json()["container"]


def exec_(d, name, command, **kw):
    return d.request("POST", f"/api/v1/containers/{name}/exec", json={"command": command, **kw},
                     timeout=60)


# ---- the seed's walkthrough and client ----


def test_complete_container_workflow_of_the_seed(ctr_factory):
    # the default stop timeout is 10 s and `sleep 300` as PID 1 ignores SIGTERM; a shorter
    # configured timeout keeps the walkthrough's own requests unchanged
    d = ctr_factory(args=["--stop-timeout", "1"])
    base = d.url + "/api/v1"
    # 1. health
    r = requests.get(f"{base}/health", timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "healthy"
    assert r.json()["podman"] == "connected"
    # 2. create and start
    r = requests.post(f"{base}/containers", headers={"Content-Type": "application/json"},
                      data=json.dumps({"image": "alpine:latest", "name": "demo-container",
                                       "command": "sleep 300"}), timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True
    assert {"id", "name", "status"} <= set(body["container"])
    assert body["container"]["name"] == "demo-container"
    assert body["container"]["status"] == "running"
    assert len(body["container"]["id"]) == 12
    # 3. add a user
    r = requests.post(f"{base}/containers/demo-container/users",
                      json={"username": "testuser", "password": "testpass", "shell": "/bin/sh"},
                      timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True
    assert r.json()["user"]["username"] == "testuser" and r.json()["user"]["created"] is True
    # 4. create a file
    r = requests.post(f"{base}/containers/demo-container/files",
                      json={"dest_path": "/tmp/demo.txt", "content": "Hello from the API!"},
                      timeout=30)
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "file": {"dest_path": "/tmp/demo.txt", "size": 19}}
    # 5. execute
    r = requests.post(f"{base}/containers/demo-container/exec",
                      json={"command": "cat /tmp/demo.txt"}, timeout=30)
    assert r.status_code == 200, r.text
    ex = r.json()["execution"]
    assert ex["exit_code"] == 0 and ex["success"] is True
    assert ex["output"] == "Hello from the API!"
    # 6. logs
    r = requests.get(f"{base}/containers/demo-container/logs?tail=20", timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True and isinstance(r.json()["container"]["logs"], str)
    # 7. stop and remove
    r = requests.post(f"{base}/containers/demo-container/stop", timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True
    assert r.json()["container"]["name"] == "demo-container"
    assert r.json()["container"]["status"] == "stopped"
    r = requests.delete(f"{base}/containers/demo-container?force=true", timeout=30)
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "container": {"name": "demo-container", "removed": True}}
    assert requests.get(f"{base}/containers", timeout=10).json() == {"success": True,
                                                                     "containers": []}


class PodmanAPIClient:
    """The seed's Python client, verbatim but for the base URL."""

    def __init__(self, base_url="http://localhost:5000/api/v1"):
        self.base_url = base_url

    def create_container(self, image, name, **kwargs):
        data = {"image": image, "name": name, **kwargs}
        response = requests.post(f"{self.base_url}/containers", json=data)
        return response.json()

    def execute_command(self, container_name, command, user=None):
        data = {"command": command}
        if user:
            data["user"] = user
        response = requests.post(
            f"{self.base_url}/containers/{container_name}/exec",
            json=data
        )
        return response.json()


def test_the_seeds_python_client(ctr):
    client = PodmanAPIClient(ctr.url + "/api/v1")
    result = client.create_container("alpine:latest", "test-container")
    assert result["success"] is True and result["container"]["name"] == "test-container"
    result = client.create_container("alpine:latest", "sleeper", command="sleep 60")
    assert result["container"]["status"] == "running"
    run(ctr, "adder", "sleep 60")
    client.execute_command("adder", "adduser -D -u 1234 bob")
    out = client.execute_command("sleeper", "id", user="nobody")
    assert out["success"] is False  # no such user in the image: a clear error, not a crash
    assert "nobody" in out["error"]["message"]
    out = client.execute_command("sleeper", "echo hi")
    assert out == {"success": True, "execution": {"exit_code": 0, "output": "hi\n",
                                                  "success": True, "truncated": False}}


# ---- lifecycle ----


def test_list_and_inspect(ctr):
    c = run(ctr, "lister", "sleep 60", labels={"team": "hpc"}, environment={"A": "1", "B": 2})
    r = ctr.get("/api/v1/containers")
    assert r.status_code == 200
    (row,) = r.json()["containers"]
    assert {"id", "name", "status", "image"} <= set(row)
    assert row["id"] == c["id"] and row["name"] == "lister" and row["status"] == "running"
    assert row["image"] == "busybox:latest" and row["exit_code"] is None
    info = status_of(ctr, "lister")
    assert info["full_id"].startswith(info["id"]) and len(info["full_id"]) == 64
    assert info["args"] == ["sleep", "60"]
    assert "A=1" in info["env"] and "B=2" in info["env"]
    assert info["labels"] == {"team": "hpc"} and info["network"] == "none"
    assert info["pid"] > 0 and info["started_at"]
    # any unique id prefix names the container too
    assert status_of(ctr, info["full_id"][:5])["name"] == "lister"


def test_natural_exit_is_recorded_with_its_code(ctr):
    run(ctr, "quitter", ["sh", "-c", "echo bye; exit 7"])
    c = wait_exited(ctr, "quitter")
    assert c["exit_code"] == 7 and c["finished_at"] and c["pid"] is None
    assert logs_of(ctr, "quitter") == "bye\n"
    row = ctr.get("/api/v1/containers").json()["containers"][0]
    assert row["status"] == "exited" and row["exit_code"] == 7
    # a stopped container starts again, and its log goes on
    r = ctr.request("POST", "/api/v1/containers/quitter/start")
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "container": {"name": "quitter", "status": "started"}}
    wait_exited(ctr, "quitter")
    assert logs_of(ctr, "quitter") == "bye\nbye\n"


def test_stop_escalates_to_sigkill_for_a_process_ignoring_sigterm(ctr):
    run(ctr, "stubborn", ["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"])
    wait_for(lambda: logs_of(ctr, "stubborn") == "ready\n", what="ready")
    pid = status_of(ctr, "stubborn")["pid"]
    t0 = time.monotonic()
    r = ctr.request("POST", "/api/v1/containers/stubborn/stop?timeout=1", timeout=30)
    took = time.monotonic() - t0
    assert r.status_code == 200, r.text
    assert r.json()["container"]["status"] == "stopped"
    assert r.json()["container"]["exit_code"] == 137  # SIGKILL
    assert took >= 1.0
    assert not Path(f"/proc/{pid}").exists()  # gone when the answer comes
    assert status_of(ctr, "stubborn")["status"] == "exited"


def test_stop_uses_sigterm_first(ctr):
    run(ctr, "polite", ["sh", "-c", "trap 'echo term; exit 0' TERM; echo ready; "
                                    "while :; do sleep 0.05; done"])
    wait_for(lambda: logs_of(ctr, "polite") == "ready\n", what="ready")
    t0 = time.monotonic()
    r = ctr.request("POST", "/api/v1/containers/polite/stop?timeout=20", timeout=30)
    assert r.status_code == 200 and r.json()["container"]["exit_code"] == 0
    assert time.monotonic() - t0 < 5
    assert logs_of(ctr, "polite") == "ready\nterm\n"
    # stopping a stopped container is fine
    assert ctr.request("POST", "/api/v1/containers/polite/stop").status_code == 200


def test_create_only_then_start(ctr):
    r = create(ctr, "later", "sleep 60", start=False)
    assert r.status_code == 200 and r.json()["container"]["status"] == "created"
    assert status_of(ctr, "later")["status"] == "created"
    assert exec_(ctr, "later", "true").status_code == 409
    assert ctr.request("POST", "/api/v1/containers/later/start").status_code == 200
    assert status_of(ctr, "later")["status"] == "running"
    # starting a running container changes nothing
    assert ctr.request("POST", "/api/v1/containers/later/start").status_code == 200


def test_remove(ctr):
    run(ctr, "rmme", "sleep 60")
    full = status_of(ctr, "rmme")["full_id"]
    state = ctr.state_dir / "containers" / full
    assert state.is_dir()
    assert_error(ctr.request("DELETE", "/api/v1/containers/rmme"), 409, "running")
    r = ctr.request("DELETE", "/api/v1/containers/rmme?force=1")
    assert r.status_code == 200, r.text
    assert not state.exists()
    assert not any(str(state) in line for line in open("/proc/self/mountinfo"))
    assert_error(ctr.get("/api/v1/containers/rmme"), 404, "rmme")
    # the name is free again
    run(ctr, "rmme", "true")


def test_image_in_use_is_kept(ctr):
    run(ctr, "user1", "sleep 60")
    image_id = status_of(ctr, "user1")["image_id"]
    assert_error(ctr.request("DELETE", f"/api/v1/images/{image_id}?force=false"), 409)
    ctr.request("DELETE", "/api/v1/containers/user1?force=true")
    assert ctr.request("DELETE", f"/api/v1/images/{image_id}?force=true").status_code == 200


# ---- logs ----


def test_logs_tail_since_timestamps_and_streams(ctr):
    run(ctr, "counter", ["sh", "-c", "for i in $(seq 1 300); do echo line$i; done; "
                                     "echo oops >&2"])
    wait_exited(ctr, "counter")
    lines = logs_of(ctr, "counter").splitlines()
    assert len(lines) == 100 and lines[-1] == "oops" and lines[0] == "line202"  # default tail
    assert logs_of(ctr, "counter", tail=3) == "line299\nline300\noops\n"
    assert len(logs_of(ctr, "counter", tail="all").splitlines()) == 301
    assert logs_of(ctr, "counter", tail=0) == ""
    assert logs_of(ctr, "counter", tail=2, stream="stdout") == "line299\nline300\n"
    assert logs_of(ctr, "counter", stream="stderr") == "oops\n"
    stamped = logs_of(ctr, "counter", tail=1, timestamps="true")
    ts, _, text = stamped.rstrip("\n").partition(" ")
    assert text == "oops" and ts.endswith("Z") and "T" in ts
    assert logs_of(ctr, "counter", since="2000-01-01T00:00:00Z", tail=1) == "oops\n"
    assert logs_of(ctr, "counter", since=str(int(time.time()) + 3600)) == ""
    assert_error(ctr.get("/api/v1/containers/counter/logs?tail=x"), 400, "tail")
    assert_error(ctr.get("/api/v1/containers/counter/logs?since=yesterday"), 400, "since")


def test_logs_follow_streams_until_exit(ctr):
    run(ctr, "ticker", ["sh", "-c", "echo first; sleep 1; for i in 1 2 3; do echo tick$i; "
                                    "sleep 0.2; done"])
    t0 = time.monotonic()
    r = ctr.get("/api/v1/containers/ticker/logs?follow=1&tail=all", stream=True, timeout=30)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    chunks = []
    for chunk in r.iter_content(chunk_size=None):
        chunks.append((time.monotonic() - t0, chunk.decode()))
    text = "".join(c for _, c in chunks)
    assert text == "first\ntick1\ntick2\ntick3\n"
    assert chunks[0][0] < 0.9  # the first line came before the container ended
    assert_error(ctr.get("/api/v1/containers/nope/logs?follow=1"), 404)


# ---- exec ----


def test_exec_output_codes_env_user_and_workdir(ctr):
    run(ctr, "box", "sleep 60", environment={"GREETING": "hello"})
    ex = exec_(ctr, "box", ["sh", "-c", "echo $GREETING $EXTRA; pwd; echo err >&2; exit 3"],
               env={"EXTRA": "world"}, workdir="/tmp").json()["execution"]
    # the runtime copies stdout and stderr through pipes of its own: their interleaving is
    # not kept (as with docker and podman exec), each stream's order is
    assert sorted(ex["output"].splitlines()) == ["/tmp", "err", "hello world"]
    assert ex["output"].replace("err\n", "") == "hello world\n/tmp\n"
    assert ex["exit_code"] == 3 and ex["success"] is False and ex["truncated"] is False
    ex = exec_(ctr, "box", "no-such-command").json()["execution"]
    assert ex["exit_code"] == 127 and "no-such-command" in ex["output"]
    ex = exec_(ctr, "box", "id", user="65534:65534").json()["execution"]
    assert ex["output"] == "uid=65534 gid=65534\n"  # runc's rule: uid:gid sets no groups
    assert_error(exec_(ctr, "box", "id", user="ghost"), 404, "ghost")
    assert_error(ctr.request("POST", "/api/v1/containers/box/exec", json={}), 400, "command")
    assert_error(exec_(ctr, "box", "echo 'unterminated"), 400, "quote")


def test_exec_timeout_is_408_and_kills_the_process(ctr):
    run(ctr, "slow", "sleep 60")
    t0 = time.monotonic()
    r = exec_(ctr, "slow", ["sleep", "37"], timeout=1)
    assert_error(r, 408, "timed out")
    assert time.monotonic() - t0 < 10
    assert pids_running(["sleep", "37"]) == []


def test_exec_timeout_default_is_request_timeout(ctr_factory):
    d = ctr_factory(env={"REQUEST_TIMEOUT": "1"})
    run(d, "slow", "sleep 60")
    assert_error(exec_(d, "slow", ["sleep", "38"]), 408)
    assert pids_running(["sleep", "38"]) == []


# ---- users and files ----


def test_user_added_on_busybox(ctr):
    run(ctr, "users", "sleep 60")
    r = ctr.request("POST", "/api/v1/containers/users/users",
                    json={"username": "alice", "password": "s3cret", "shell": "/bin/sh",
                          "groups": ["root"]})
    assert r.status_code == 200, r.text
    u = r.json()["user"]
    assert u["username"] == "alice" and u["created"] is True and u["uid"] == 1000
    out = exec_(ctr, "users", "id alice").json()["execution"]["output"]
    assert out.startswith("uid=1000(alice) gid=1000(alice) groups=")
    assert sorted(out.split("groups=")[1].strip().split(",")) == ["0(root)", "1000(alice)"]
    out = exec_(ctr, "users", ["su", "-", "alice", "-c", "id -un; echo $HOME; pwd"]).json()
    assert out["execution"]["output"] == "alice\n/home/alice\n/home/alice\n", out
    shadow = ctr.get("/api/v1/containers/users/files", params={"path": "/etc/shadow"}).json()
    line = next(ln for ln in shadow["file"]["content"].splitlines() if ln.startswith("alice:"))
    hashed = line.split(":")[1]
    assert hashed.startswith("$6$") and crypt("s3cret", hashed) == hashed
    assert_error(ctr.request("POST", "/api/v1/containers/users/users",
                             json={"username": "alice"}), 409, "alice")
    assert_error(ctr.request("POST", "/api/v1/containers/users/users", json={}), 400, "username")
    assert_error(ctr.request("POST", "/api/v1/containers/users/users",
                             json={"username": "bad:name"}), 400)


def test_file_write_read_and_options(ctr):
    run(ctr, "files", "sleep 60")
    r = ctr.request("POST", "/api/v1/containers/files/files",
                    json={"dest_path": "/opt/app/conf.d/x.conf", "content": "a=1\n",
                          "mode": "0600", "owner": "65534:65534"})
    assert r.status_code == 200, r.text
    out = exec_(ctr, "files", ["stat", "-c", "%a %u %g %s", "/opt/app/conf.d/x.conf"]).json()
    assert out["execution"]["output"] == "600 65534 65534 4\n"
    r = ctr.request("POST", "/api/v1/containers/files/files",
                    json={"dest_path": "/bin/blob", "content": "AAEC/w==", "encoding": "base64"})
    assert r.json()["file"]["size"] == 4
    got = ctr.get("/api/v1/containers/files/files", params={"path": "/bin/blob"}).json()["file"]
    assert got["encoding"] == "base64" and got["content"] == "AAEC/w==" and got["size"] == 4
    got = ctr.get("/api/v1/containers/files/files", params={"path": "/opt/app/conf.d/x.conf"})
    assert got.json()["file"]["content"] == "a=1\n" and got.json()["file"]["mode"] == "0600"
    r = ctr.request("POST", "/api/v1/containers/files/files",
                    json={"dest_path": "/tmp/nulls", "content": "", "mode": None, "owner": None})
    assert r.status_code == 200, r.text  # null is absent, as for every optional field
    assert_error(ctr.get("/api/v1/containers/files/files", params={"path": "/nope"}), 404)
    assert_error(ctr.request("POST", "/api/v1/containers/files/files",
                             json={"dest_path": "/tmp/x"}), 400, "content")
    assert_error(ctr.request("POST", "/api/v1/containers/files/files",
                             json={"dest_path": "/tmp", "content": "x"}), 400)


def test_file_write_through_a_symlink_never_touches_the_host(ctr, tmp):
    host_dir = tmp / "host-victim"
    host_dir.mkdir()
    victim = host_dir / "victim"
    victim.write_text("host content\n")
    run(ctr, "evil", "sleep 60")
    # the host's path exists in the container too, so a write through the links can land
    setup = (f"mkdir -p {host_dir} && ln -s {victim} /tmp/abs-link && "
             f"ln -s ../../../../../../..{victim} /tmp/rel-link && "
             f"mkdir -p /x && ln -s {host_dir} /x/dirlink")
    assert exec_(ctr, "evil", ["sh", "-c", setup]).json()["execution"]["exit_code"] == 0
    for dest in ("/tmp/abs-link", "/tmp/rel-link", "/x/dirlink/victim"):
        r = ctr.request("POST", "/api/v1/containers/evil/files",
                        json={"dest_path": dest, "content": "owned\n"})
        assert r.status_code in (200, 400, 404), r.text
    assert victim.read_text() == "host content\n"
    assert sorted(p.name for p in host_dir.iterdir()) == ["victim"]
    # what was written landed inside the container, at the path the link names there
    out = exec_(ctr, "evil", ["cat", str(victim)]).json()["execution"]
    assert out["output"] == "owned\n"
    r = ctr.get("/api/v1/containers/evil/files", params={"path": "/tmp/abs-link"})
    assert r.json()["file"]["content"] == "owned\n"


# ---- network, ports, volumes, limits ----


def test_port_forward_to_httpd_in_the_container(ctr):
    port = free_port()
    run(ctr, "web", ["sh", "-c", "mkdir -p /www && exec httpd -f -p 8080 -h /www"],
        ports={str(port): "8080"})
    ctr.request("POST", "/api/v1/containers/web/files",
                json={"dest_path": "/www/index.html", "content": "<h1>imgd</h1>\n"})

    def fetch():
        try:
            return requests.get(f"http://127.0.0.1:{port}/", timeout=2)
        except requests.ConnectionError:
            return None
    r = wait_for(fetch, what="httpd through the forwarded port")
    assert r.status_code == 200 and r.text == "<h1>imgd</h1>\n"
    out = subprocess.run(["curl", "-sS", "--max-time", "5", f"http://127.0.0.1:{port}/"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout == "<h1>imgd</h1>\n", out.stderr
    big = "x" * 300000
    ctr.request("POST", "/api/v1/containers/web/files",
                json={"dest_path": "/www/big", "content": big})
    assert requests.get(f"http://127.0.0.1:{port}/big", timeout=5).text == big
    assert status_of(ctr, "web")["ports"] == {str(port): "8080"}
    assert status_of(ctr, "web")["port_bindings"] == [
        {"host_ip": "127.0.0.1", "host_port": port, "container_port": 8080, "protocol": "tcp"}]
    # the port is taken while the container runs
    assert_error(create(ctr, "web2", "sleep 5", ports={str(port): "80"}), 409, str(port))
    ctr.request("POST", "/api/v1/containers/web/stop?timeout=0")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/", timeout=2)


def test_network_none_has_only_loopback_and_host_shares_the_host(ctr):
    run(ctr, "isolated", "sleep 60")
    devs = exec_(ctr, "isolated", "cat /proc/net/dev").json()["execution"]["output"]
    ifaces = {ln.split(":")[0].strip() for ln in devs.splitlines()[2:]}
    assert ifaces == {"lo"}
    run(ctr, "hostnet", "sleep 60", network="host")
    devs = exec_(ctr, "hostnet", "cat /proc/net/dev").json()["execution"]["output"]
    host = {ln.split(":")[0].strip() for ln in open("/proc/net/dev").read().splitlines()[2:]}
    assert {ln.split(":")[0].strip() for ln in devs.splitlines()[2:]} == host
    assert_error(create(ctr, "x", "true", network="bridge"), 400, "bridge")
    assert_error(create(ctr, "y", "true", network="host", ports={"1234": "80"}), 400, "host")


def test_volumes_bind_and_read_only(ctr, tmp):
    rw, ro = tmp / "rw", tmp / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "given").write_text("from host\n")
    run(ctr, "vols", "sleep 60", volumes={str(rw): "/data", str(ro): "/conf:ro"})
    out = exec_(ctr, "vols", ["sh", "-c", "echo hi > /data/out; cat /conf/given"]).json()
    assert out["execution"]["output"] == "from host\n"
    assert (rw / "out").read_text() == "hi\n"
    out = exec_(ctr, "vols", ["sh", "-c", "echo x > /conf/new"]).json()["execution"]
    assert out["exit_code"] != 0 and "Read-only" in out["output"]
    assert not (ro / "new").exists()
    assert_error(create(ctr, "v2", "true", volumes={str(tmp / "missing"): "/m"}), 400,
                 "missing")
    assert_error(create(ctr, "v3", "true", volumes={str(rw): "relative"}), 400)


def test_resource_limits_reach_the_cgroup(ctr):
    run(ctr, "limited", "sleep 60", memory="64m", pids_limit=32, cpus=0.5)
    full = status_of(ctr, "limited")["full_id"]
    base = Path("/sys/fs/cgroup")
    mem = base / "memory" / "imgd" / full / "memory.limit_in_bytes"
    pids = base / "pids" / "imgd" / full / "pids.max"
    quota = base / "cpu" / "imgd" / full / "cpu.cfs_quota_us"
    if not mem.exists():
        pytest.skip(f"no cgroup v1 memory controller at {mem.parent}")
    assert mem.read_text().strip() == str(64 << 20)
    assert pids.read_text().strip() == "32"
    assert quota.read_text().strip() == "50000"
    info = status_of(ctr, "limited")
    assert info["memory"] == 64 << 20 and info["pids_limit"] == 32 and info["cpus"] == 0.5
    ctr.request("DELETE", "/api/v1/containers/limited?force=1")
    assert not mem.parent.exists()  # the runtime removed the cgroup


# ---- imgd restarts ----


def test_containers_outlive_an_imgd_restart(ctr_factory, tmp):
    d = ctr_factory(dirname="keep")
    run(d, "survivor", ["sh", "-c", "echo before; trap 'echo bye; exit 0' TERM; "
                                    "while :; do sleep 0.05; done"])
    run(d, "shortlived", ["sh", "-c", "sleep 1; exit 5"])
    wait_for(lambda: logs_of(d, "survivor") == "before\n", what="first line")
    pid = status_of(d, "survivor")["pid"]
    assert d.stop() == 0
    assert Path(f"/proc/{pid}").exists()  # the container did not go with imgd
    time.sleep(1.5)  # shortlived exits while imgd is down
    d2 = Imgd(tmp / "keep")
    try:
        rows = {c["name"]: c for c in d2.get("/api/v1/containers").json()["containers"]}
        assert rows["survivor"]["status"] == "running"
        assert rows["shortlived"]["status"] == "exited" and rows["shortlived"]["exit_code"] == 5
        assert logs_of(d2, "survivor") == "before\n"
        r = d2.request("POST", "/api/v1/containers/survivor/stop?timeout=5", timeout=30)
        assert r.status_code == 200 and r.json()["container"]["exit_code"] == 0
        assert logs_of(d2, "survivor") == "before\nbye\n"
        assert not Path(f"/proc/{pid}").exists()
    finally:
        assert d2.stop() == 0


# ---- errors ----


def test_error_paths_in_the_seed_format(ctr):
    assert_error(ctr.request("POST", "/api/v1/containers", json={"name": "x"}), 400, "image")
    assert_error(ctr.request("POST", "/api/v1/containers", json={"image": "busybox"}), 400,
                 "name")
    assert_error(ctr.request("POST", "/api/v1/containers", data="not json"), 400)
    assert_error(create(ctr, "bad name!", "true"), 400, "name")
    assert_error(create(ctr, "-dash", "true"), 400)
    assert_error(create(ctr, "a" * 129, "true"), 400)
    assert_error(create(ctr, "noimage", "true", image="does/not:exist"), 404, "not found")
    assert_error(create(ctr, "x1", "true", ports={"99999": "80"}), 400, "port")
    assert_error(create(ctr, "x2", "true", memory="lots"), 400, "memory")
    assert_error(create(ctr, "x3", "true", user="ghost"), 400, "ghost")
    assert ctr.get("/api/v1/containers").json()["containers"] == []  # nothing half-made
    assert not any((ctr.state_dir / "containers").iterdir())
    run(ctr, "dup", "sleep 60")
    assert_error(create(ctr, "dup", "true"), 409, "dup")
    for method, path in (("GET", ""), ("DELETE", ""), ("POST", "/start"), ("POST", "/stop"),
                         ("GET", "/logs"), ("GET", "/files?path=/x")):
        assert_error(ctr.request(method, f"/api/v1/containers/ghost{path}"), 404, "ghost")
    for path, body in (("/exec", {"command": "true"}), ("/users", {"username": "u"}),
                       ("/files", {"dest_path": "/x", "content": ""})):
        assert_error(ctr.request("POST", f"/api/v1/containers/ghost{path}", json=body), 404)
    # a command the image lacks: the start fails, the container is kept as created
    r = create(ctr, "broken", "/no/such/binary")
    assert_error(r, 500, "/no/such/binary")
    info = status_of(ctr, "broken")
    assert info["status"] == "created" and "no/such/binary" in info["last_error"]


def test_health_without_a_runtime_is_503(ctr_factory, tmp):
    d = ctr_factory(args=["--runtime", str(tmp / "no-runc")], import_images=False)
    r = d.get("/api/v1/health")
    assert r.status_code == 503
    assert r.json()["podman"] == "disconnected" and r.json()["status"] == "unhealthy"
    assert_error(create(d, "x", "true"), 503, "no-runc")


def test_container_stops_quickly_after_an_exec_timeout(ctr):
    # an exec killed at its deadline must not leave a zombie that holds the container's pid
    # namespace open (the stop would then wait for SIGKILL in vain)
    run(ctr, "after408", "sleep 60")
    assert_error(exec_(ctr, "after408", ["sleep", "39"], timeout=1), 408)
    assert exec_(ctr, "after408", "true").json()["execution"]["exit_code"] == 0
    t0 = time.monotonic()
    r = ctr.request("POST", "/api/v1/containers/after408/stop?timeout=0", timeout=30)
    assert r.status_code == 200, r.text
    assert time.monotonic() - t0 < 5
    assert ctr.request("DELETE", "/api/v1/containers/after408").status_code == 200


def test_crun_in_a_private_mount_namespace(ctr_factory):
    crun = shutil.which("crun")
    if not crun:
        pytest.skip("crun is not installed (package crun)")
    d = ctr_factory(args=["--runtime", "crun"])
    health = d.get("/api/v1/health").json()
    assert health["podman"] == "connected"
    message = health["components"]["runtime"]["message"]
    assert message.startswith("crun version")
    hybrid = Path("/sys/fs/cgroup/unified/cgroup.controllers")
    if hybrid.exists() and hybrid.read_text().strip():
        # crun refuses such a host unless it runs where the cgroup2 mount is hidden
        assert "private mount namespace (hybrid cgroups)" in message
    run(d, "crunbox", ["sh", "-c", "echo from-crun; sleep 60"], memory="64m")
    wait_for(lambda: logs_of(d, "crunbox") == "from-crun\n", what="the first line")
    assert exec_(d, "crunbox", "echo hi").json()["execution"]["output"] == "hi\n"
    full = status_of(d, "crunbox")["full_id"]
    mem = Path("/sys/fs/cgroup/memory/imgd") / full / "memory.limit_in_bytes"
    if mem.exists():
        assert mem.read_text().strip() == str(64 << 20)
    r = d.request("POST", "/api/v1/containers/crunbox/stop?timeout=0", timeout=30)
    assert r.status_code == 200 and r.json()["container"]["exit_code"] == 137
    assert d.request("DELETE", "/api/v1/containers/crunbox").status_code == 200
    # the host's mounts are untouched by the runtime's private namespace
    assert any(" /sys/fs/cgroup/unified " in line for line in open("/proc/self/mountinfo")) \
        or not hybrid.exists()


# ---- the image's config, and images pulled on demand ----


def _import_custom(d, tmp, name, **config):
    """Import a busybox image whose config has the given fields (StopSignal, Entrypoint...)."""
    entries = ob.busybox_entries(applets=busybox_applets())
    layer = ob.build_layer(entries)
    conf = ob.build_config([layer.diff_id], cmd=config.pop("Cmd", ("/bin/sh",)),
                           env=("PATH=/bin",))
    conf["config"].update(config)
    layout = ob.Layout(tmp / f"layout-{name}")
    layout.add(ob.build_image([layer], config=conf), ref="x")
    r = d.request("POST", "/api/v1/images/import",
                  json={"path": str(tmp / f"layout-{name}"), "tag": f"{name}:latest"}, timeout=60)
    assert r.status_code == 200, r.text


def test_image_config_entrypoint_workdir_user_and_stop_signal(ctr, tmp):
    _import_custom(ctr, tmp, "custom", Entrypoint=["/bin/sh", "-c"],
                   Cmd=["echo cmd; id -u; pwd"], WorkingDir="/tmp", User="65534",
                   StopSignal="SIGUSR1")
    run(ctr, "defaults", None, image="custom:latest")
    wait_exited(ctr, "defaults")
    assert logs_of(ctr, "defaults") == "cmd\n65534\n/tmp\n"
    # a command replaces Cmd and goes to the entrypoint; an entrypoint replaces both
    run(ctr, "argsonly", ["echo given"], image="custom:latest")
    wait_exited(ctr, "argsonly")
    assert logs_of(ctr, "argsonly") == "given\n"
    run(ctr, "newentry", ["-n", "x"], image="custom:latest", entrypoint=["echo"], user="0",
        workdir="/")
    wait_exited(ctr, "newentry")
    assert logs_of(ctr, "newentry") == "x"
    # the image's StopSignal is what stop sends first
    run(ctr, "usr1", ["trap 'echo got-usr1; exit 0' USR1; echo ready; "
                      "while :; do sleep 0.05; done"], image="custom:latest")
    wait_for(lambda: logs_of(ctr, "usr1") == "ready\n", what="ready")
    r = ctr.request("POST", "/api/v1/containers/usr1/stop?timeout=20", timeout=30)
    assert r.status_code == 200 and r.json()["container"]["exit_code"] == 0
    assert logs_of(ctr, "usr1") == "ready\ngot-usr1\n"
    assert status_of(ctr, "usr1")["stop_signal"] == "SIGUSR1"


def test_missing_image_is_404_unless_pull(ctr_factory, test_images):
    d = ctr_factory(import_images=False)
    ref = test_images["busybox-oci"].ref
    assert_error(create(d, "nopull", "sleep 30", image=ref), 404, "not found")
    r = create(d, "pulled", "sleep 30", image=ref, pull=True)
    assert r.status_code == 200, r.text
    assert r.json()["container"]["status"] == "running"
    assert status_of(d, "pulled")["image_id"] == test_images["busybox-oci"].config_digest
    # the second one finds it in the store
    assert create(d, "again", "sleep 30", image=ref, pull=True).status_code == 200


def test_bundle_files_lost_in_a_crash_are_rebuilt(ctr):
    # hosts, hostname and config.json are written without fsync: the record is the durable copy
    run(ctr, "rebuilt", ["sh", "-c", "cat /etc/hostname; exit 0"])
    wait_exited(ctr, "rebuilt")
    bundle = ctr.state_dir / "containers" / status_of(ctr, "rebuilt")["full_id"]
    (bundle / "config.json").write_text("")  # what a power loss may leave
    (bundle / "hosts").unlink()
    assert ctr.request("POST", "/api/v1/containers/rebuilt/start").status_code == 200
    wait_exited(ctr, "rebuilt")
    assert logs_of(ctr, "rebuilt") == "rebuilt\nrebuilt\n"
    assert json.loads((bundle / "config.json").read_text())["process"]["args"][0] == "sh"


@pytest.mark.parametrize("runtime", ["runc", "crun"])
def test_stop_right_after_start(ctr_factory, runtime):
    # crun returns before its intermediate process, the container's parent, has exited; a stop
    # at once must still reach the container
    if not shutil.which(runtime):
        pytest.skip(f"{runtime} is not installed (package {runtime})")
    d = ctr_factory(args=["--runtime", runtime])
    for i in range(10):
        run(d, f"quick{i}", "sleep 60")
        r = d.request("POST", f"/api/v1/containers/quick{i}/stop?timeout=0", timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["container"]["exit_code"] == 137
