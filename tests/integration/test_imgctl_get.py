# SPDX-License-Identifier: MIT
"""imgctl get against real imgd daemons listing only their own store: crictl's table layout,
--no-trunc, the server's JSON, CSV (and that it works as imgd's ignore file), /images with and
without a (fake) Harbor, and --nodes across several daemons, one of them unreachable. Every run
gets HOME and XDG_CONFIG_HOME inside the test's temp dir."""
import csv
import io
import json
import socket
import threading

import pytest

from conftest import ok, run_imgctl
from harbor_fake import ADMIN, ADMIN_PASSWORD, HarborFake

pytest_plugins = ["registry", "harbor_fake"]

TIMEOUT = 120
UNCONFIGURED = "error: harbor: Harbor configuration incomplete\n"


def ctl(tmp, *args, server=None, env=None):
    """Run imgctl to completion with a private HOME and XDG_CONFIG_HOME."""
    return run_imgctl(tmp, args, server=server, env=env, timeout=TIMEOUT)


def store_only(imgd_factory, **kw):
    return imgd_factory(args=["--inventory-sources", "store"] + kw.pop("args", []), **kw)


def import_layout(d, path, tag):
    r = d.request("POST", "/api/v1/images/import", json={"path": str(path), "tag": tag},
                  timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["images"][0]


def sock(d):
    return f"unix://{d.socket}"


def hostport(d):
    return f"127.0.0.1:{d.port}"


def tabwriter(rows):
    """crictl's layout, written independently of imgctl: Go text/tabwriter with minwidth 20 and
    padding 3 gives each column but the last max(20, widest cell + 3) characters."""
    widths = [max(20, max(len(row[i]) for row in rows) + 3) for i in range(len(rows[0]) - 1)]
    return "".join("".join(c.ljust(w) for c, w in zip(row, widths)) + row[-1] + "\n"
                   for row in rows)


def local_rows(d, no_trunc=False):
    r = d.get("/local-images" + ("?no_trunc=1" if no_trunc else ""))
    assert r.status_code == 200, r.text
    return [[x["repository"], x["tag"], x["image_id"], x["size"]] for x in r.json()]


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LONG_REPO = "localhost/a-rather-long-repository/busybox"  # 42 characters: a 45 wide column
LONG_TAG = "1.36-with-a-long-tag-name"                    # 25: 28 wide


@pytest.fixture
def two_images(imgd_factory, archives):
    """A daemon holding busybox (by a long name and tag) and layered; (daemon, bb, layered)."""
    d = store_only(imgd_factory)
    bb = import_layout(d, archives.busybox.layout, f"{LONG_REPO}:{LONG_TAG}")
    lay = import_layout(d, archives.layered.layout, "docker.io/library/layered:latest")
    return d, bb, lay


# ---- one server ----

def test_local_table_is_laid_out_like_crictl(tmp, two_images):
    d, bb, lay = two_images
    out = ok(ctl(tmp, "get", server=sock(d)))
    assert ok(ctl(tmp, "get", "local", server=d.url)) == out
    lines = out.splitlines()
    # The widths by hand: IMAGE 42+3, TAG 25+3, IMAGE ID (13 characters) the minimum 20.
    assert lines[0] == "IMAGE" + " " * 40 + "TAG" + " " * 25 + "IMAGE ID" + " " * 12 + "SIZE"
    bb_line = next(line for line in lines if line.startswith(LONG_REPO))
    short = bb["id"].split(":")[1][:13]
    assert bb_line == f"{LONG_REPO}   {LONG_TAG}   {short}       {bb_line.split()[-1]}"
    assert not bb_line.endswith(" ")
    assert out == tabwriter([["IMAGE", "TAG", "IMAGE ID", "SIZE"]] + local_rows(d))
    assert len(lines) == 3


def test_empty_list_is_the_header(tmp, imgd_factory):
    d = store_only(imgd_factory)
    assert ok(ctl(tmp, "get", server=d.url)) == (
        "IMAGE               TAG                 IMAGE ID            SIZE\n")


def test_no_trunc_shows_whole_ids(tmp, two_images):
    d, bb, lay = two_images
    out = ok(ctl(tmp, "get", "--no-trunc", server=sock(d)))
    rows = local_rows(d, no_trunc=True)
    assert {r[2] for r in rows} == {bb["id"].split(":")[1], lay["id"].split(":")[1]}
    assert out == tabwriter([["IMAGE", "TAG", "IMAGE ID", "SIZE"]] + rows)
    assert out.splitlines()[0].index("SIZE") == 45 + 28 + 64 + 3


def test_json_is_the_servers_answer(tmp, two_images):
    d, _, _ = two_images
    assert ok(ctl(tmp, "get", "-o", "json", server=sock(d))) == d.get("/local-images").text
    assert (ok(ctl(tmp, "get", "--no-trunc", "-o", "json", server=sock(d)))
            == d.get("/local-images?no_trunc=1").text)
    # /images holds the errors itself: none on stderr
    assert ok(ctl(tmp, "get", "all", "-o", "json", server=sock(d))) == d.get("/images").text
    harbor = json.loads(ok(ctl(tmp, "get", "harbor", "-o", "json", server=sock(d))))
    assert harbor["harbor_images"] == [] and harbor["containerd_images"] == []
    assert harbor["errors"] == [{"source": "harbor", "error": "Harbor configuration incomplete"}]


def test_pretty_json_stays_as_the_server_wrote_it(tmp, imgd_factory, archives):
    d = store_only(imgd_factory, config={"jsonify_prettyprint_regular": True})
    import_layout(d, archives.busybox.layout, "localhost/bb:1")
    out = ok(ctl(tmp, "get", "-o", "json", server=d.url))
    assert out.startswith("[\n  {\n") and out == d.get("/local-images").text


def test_csv_serves_as_the_ignore_list(tmp, imgd_factory, archives):
    ignore = tmp / "images_to_ignore.csv"
    d = store_only(imgd_factory, config={"ignore_file_path": str(ignore)})
    import_layout(d, archives.busybox.layout, f"{LONG_REPO}:1")
    import_layout(d, archives.layered.layout, "localhost/layered:2")
    out = ok(ctl(tmp, "get", "-o", "csv", server=sock(d)))
    lines = out.splitlines()
    assert lines[0] == "REPOSITORY,TAG,IMAGE ID,SIZE"
    assert sorted(list(csv.reader(io.StringIO(out)))[1:]) == sorted(local_rows(d))
    assert len(lines) == 3
    ignore.write_text(out)
    assert d.get("/local-images").json() == []
    assert ok(ctl(tmp, "get", server=sock(d))).count("\n") == 1


def test_csv_of_whole_ids_serves_as_the_ignore_list(tmp, imgd_factory, archives):
    ignore = tmp / "ignore.csv"
    d = store_only(imgd_factory, config={"ignore_file_path": str(ignore)})
    import_layout(d, archives.busybox.layout, "localhost/bb:1")
    import_layout(d, archives.layered.layout, "localhost/layered:2")
    ignore.write_text(ok(ctl(tmp, "get", "--no-trunc", "-o", "csv", server=sock(d))))
    assert d.get("/local-images").json() == []


def test_all_without_harbor(tmp, two_images):
    d, _, _ = two_images
    r = ctl(tmp, "get", "all", server=sock(d))
    out = ok(r, stderr=UNCONFIGURED)  # a source's error leaves the exit status 0
    local = tabwriter([["IMAGE", "TAG", "IMAGE ID", "SIZE"]] + local_rows(d))
    harbor = tabwriter([["REPOSITORY", "TAG", "DIGEST", "SIZE", "PROJECT"]])
    assert out == f"Local images:\n{local}\nHarbor images:\n{harbor}"
    out = ok(ctl(tmp, "get", "harbor", server=sock(d)), stderr=UNCONFIGURED)
    assert out == harbor
    assert ok(ctl(tmp, "get", "harbor", "-o", "csv", server=sock(d)),
              stderr=UNCONFIGURED) == "REPOSITORY,TAG,DIGEST,SIZE,PROJECT\n"


def harbor_with(*names):
    """A fake Harbor holding each project/repository:tag of names (not started)."""
    h = HarborFake()
    projects = {}
    for i, name in enumerate(names):
        path, tag = name.rsplit(":", 1)
        project, repo = path.split("/", 1)
        if project not in projects:
            projects[project] = h.add_project(project)
        h.add_artifact(h.add_repo(projects[project], repo), tags=[tag], size=117234567 + i)
    return h


def harbor_config(h, **extra):
    return dict({"harbor_config": {"url": h.url, "username": ADMIN,
                                   "password": ADMIN_PASSWORD}}, **extra)


def test_harbor_table(tmp, imgd_factory):
    with harbor_with("team/app:v1", "team/tools/busybox:1.36", "other/x:latest") as h:
        d = store_only(imgd_factory, config=harbor_config(h))
        rows = d.get("/images?source=registry", timeout=30).json()["harbor_images"]
        assert len(rows) == 3
        out = ok(ctl(tmp, "get", "harbor", server=sock(d)))
        expected = [[f"{x['project']}/{x['repository']}", x["tag"],
                     x["digest"].split(":")[1][:12], x["size"], x["project"]] for x in rows]
        assert out == tabwriter([["REPOSITORY", "TAG", "DIGEST", "SIZE", "PROJECT"]] + expected)
        assert "team/tools/busybox   1.36" in out and "117.2 MB" in out
        out = ok(ctl(tmp, "get", "harbor", "--no-trunc", server=sock(d)))
        assert all(x["digest"] in out for x in rows)
        out = ok(ctl(tmp, "get", "harbor", "-o", "csv", server=sock(d)))
        assert list(csv.reader(io.StringIO(out))) == [
            ["REPOSITORY", "TAG", "DIGEST", "SIZE", "PROJECT"]] + expected


def test_every_local_source_failing_is_exit_1(tmp, imgd_factory):
    d = imgd_factory(args=["--inventory-sources", "cri", "--cri-endpoint",
                           f"unix://{tmp}/no-runtime.sock", "--cri-timeout", "1"])
    r = ctl(tmp, "get", server=sock(d))
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.count("\n") == 1
    assert r.stderr.startswith("imgctl: GET /local-images: 500 Failed to retrieve local images: ")
    assert "no-runtime.sock" in r.stderr
    # /images never fails for a source: both lists, and each failed source on stderr
    r = ctl(tmp, "get", "all", server=sock(d))
    assert r.returncode == 0 and r.stdout.startswith("Local images:\n")
    assert r.stderr.startswith("error: cri: ") and r.stderr.endswith(UNCONFIGURED)


# ---- --nodes ----

@pytest.fixture
def two_nodes(imgd_factory, archives):
    """Two daemons: busybox on both by one name, layered on each by a name of its own."""
    d1, d2 = store_only(imgd_factory), store_only(imgd_factory)
    bb = import_layout(d1, archives.busybox.layout, "localhost/common/busybox:1")
    same = import_layout(d2, archives.busybox.layout, "localhost/common/busybox:1")
    assert same["id"] == bb["id"]  # ("added" may differ by a second)
    lay = import_layout(d1, archives.layered.layout, "localhost/only-one:1")
    import_layout(d2, archives.layered.layout, "localhost/only-two:1")
    return d1, d2, bb, lay


def short(image):
    return image["id"].split(":")[1][:13]


def test_nodes_table(tmp, two_nodes):
    d1, d2, bb, lay = two_nodes
    n1, n2 = hostport(d1), sock(d2)  # a host:port, and a unix:// URL
    out = ok(ctl(tmp, "get", "--nodes", f"{n1},{n2}"))
    assert out == tabwriter([
        ["IMAGE", "TAG", "IMAGE ID", "NODES"],
        ["localhost/common/busybox", "1", short(bb), "all"],
        ["localhost/only-one", "1", short(lay), n1],
        ["localhost/only-two", "1", short(lay), n2],
    ])
    assert out.splitlines()[0] == "IMAGE" + " " * 22 + "TAG" + " " * 17 + "IMAGE ID" + " " * 12 \
        + "NODES"
    # whole IDs, the same with a full URL and spaces around the names
    out = ok(ctl(tmp, "get", "local", "--no-trunc", "--nodes", f" {d1.url} , {n2}"))
    assert f"{bb['id'].split(':')[1]}   all\n" in out


def test_nodes_json_and_csv(tmp, two_nodes):
    d1, d2, bb, lay = two_nodes
    n1, n2 = hostport(d1), sock(d2)
    j = json.loads(ok(ctl(tmp, "get", "-o", "json", "--nodes", f"{n1},{n2}")))
    assert j["errors"] == [] and "not_in_registry" not in j
    assert [(x["repository"], x["image_id"], x["nodes"]) for x in j["images"]] == [
        ("localhost/common/busybox", short(bb), [n1, n2]),
        ("localhost/only-one", short(lay), [n1]),
        ("localhost/only-two", short(lay), [n2]),
    ]
    assert j["images"][0]["size"] == d1.get("/local-images").json()[0]["size"]
    out = ok(ctl(tmp, "get", "-o", "csv", "--nodes", f"{n1},{n2}"))
    assert out.splitlines()[0] == "REPOSITORY,TAG,IMAGE ID,NODES"
    assert f"localhost/common/busybox,1,{short(bb)},all\n" in out


def test_unreachable_node(tmp, two_nodes):
    d1, d2, bb, lay = two_nodes
    n1, n2, dead = hostport(d1), sock(d2), f"127.0.0.1:{closed_port()}"
    r = ctl(tmp, "get", "--nodes", f"{n1},{dead},{n2}")
    assert r.returncode == 1
    assert r.stdout == tabwriter([
        ["IMAGE", "TAG", "IMAGE ID", "NODES"],
        ["localhost/common/busybox", "1", short(bb), f"{n1},{n2}"],  # not "all": one is unknown
        ["localhost/only-one", "1", short(lay), n1],
        ["localhost/only-two", "1", short(lay), n2],
    ])
    assert r.stderr.count("\n") == 1
    assert r.stderr.startswith(f"imgctl: node {dead}: cannot reach imgd at http://{dead}")
    # CSV quotes the list of names; JSON names the failed node
    r = ctl(tmp, "get", "-o", "csv", "--nodes", f"{n1},{dead},{n2}")
    assert r.returncode == 1
    assert f'localhost/common/busybox,1,{short(bb)},"{n1},{n2}"\n' in r.stdout
    r = ctl(tmp, "get", "-o", "json", "--nodes", f"{n1},{dead},{n2}")
    assert r.returncode == 1 and r.stderr.startswith(f"imgctl: node {dead}: ")
    assert [e["node"] for e in json.loads(r.stdout)["errors"]] == [dead]


def test_nodes_that_all_fail(tmp):
    r = ctl(tmp, "--timeout", "10", "get", "--nodes",
            f"127.0.0.1:{closed_port()},imgd-node.invalid,unix://{tmp}/none.sock")
    assert r.returncode == 1 and r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 3
    # a bare host name gets imgd's port
    assert lines[1].startswith("imgctl: node imgd-node.invalid: cannot reach imgd at "
                               "http://imgd-node.invalid:5375")
    assert lines[2].startswith(f"imgctl: node unix://{tmp}/none.sock: ")


def test_nodes_are_asked_concurrently_and_boundedly(tmp):
    """Twenty nodes that each hold their answer for a second: sixteen are asked at once, and
    the other four as answers come back."""
    flight = InFlight()
    servers = [SlowServer(1.0, flight=flight) for _ in range(20)]
    try:
        r = ctl(tmp, "get", "--nodes", ",".join(s.hostport for s in servers))
    finally:
        for s in servers:
            s.close()
    assert r.returncode == 0, r.stderr
    assert r.stdout == tabwriter([["IMAGE", "TAG", "IMAGE ID", "NODES"],
                                  ["localhost/slow", "1", "0123456789abc", "all"]])
    assert all(s.requests == ["GET /local-images?no_trunc=1"] for s in servers)
    assert flight.most == 16


def test_nodes_timeout_is_per_node(tmp, imgd_factory):
    d = store_only(imgd_factory)
    slow = SlowServer(30)
    try:
        r = ctl(tmp, "--timeout", "1", "get", "--nodes", f"{hostport(d)},{slow.hostport}")
    finally:
        slow.close()
    assert r.returncode == 1
    assert r.stdout == tabwriter([["IMAGE", "TAG", "IMAGE ID", "NODES"]])
    assert r.stderr == (f"imgctl: node {slow.hostport}: imgd at http://{slow.hostport} did not "
                        "answer within 1 s\n")


def test_token_goes_to_every_node(tmp, imgd_factory):
    tokens = tmp / "tokens"
    tokens.write_text("s3cret-token-for-get\n")
    d1 = store_only(imgd_factory, args=["--tokens-file", str(tokens)])
    d2 = store_only(imgd_factory, args=["--tokens-file", str(tokens)])
    nodes = f"{hostport(d1)},{hostport(d2)}"
    r = ctl(tmp, "get", "--nodes", nodes)
    assert r.returncode == 1 and r.stderr.count("\n") == 2 and " 401 " in r.stderr
    out = ok(ctl(tmp, "get", "--nodes", nodes, env={"IMGCTL_TOKEN": "s3cret-token-for-get"}))
    assert out.startswith("IMAGE ")


def test_nodes_with_a_registry(tmp, imgd_factory, archives):
    """With `all`, the images no node's registry holds by name and tag (the registry host
    aside); a node without a registry says so on stderr, which leaves the exit status 0."""
    with harbor_with("imgd-test/busybox:1", "library/layered:2") as h:
        d1 = store_only(imgd_factory, config=harbor_config(h))
        d2 = store_only(imgd_factory)
        bb = import_layout(d1, archives.busybox.layout, "harbor.example.com:8443/imgd-test/busybox:1")
        import_layout(d2, archives.busybox.layout, "harbor.example.com:8443/imgd-test/busybox:1")
        lay = import_layout(d1, archives.layered.layout, "docker.io/library/layered:2")
        import_layout(d2, archives.layered.layout, "localhost/imgd-test/busybox:2")  # other tag
        import_layout(d2, archives.layered.layout, "layered:2")  # docker.io/library/layered:2
        n1, n2 = hostport(d1), sock(d2)
        r = ctl(tmp, "get", "all", "--nodes", f"{n1},{n2}")
        out = ok(r, stderr=f"error: {n2}: harbor: Harbor configuration incomplete\n")
        head = ["IMAGE", "TAG", "IMAGE ID", "NODES"]
        placed = tabwriter([
            head,
            ["docker.io/library/layered", "2", short(lay), "all"],
            ["harbor.example.com:8443/imgd-test/busybox", "1", short(bb), "all"],
            ["localhost/imgd-test/busybox", "2", short(lay), n2],
        ])
        missing = tabwriter([head, ["localhost/imgd-test/busybox", "2", short(lay), n2]])
        assert out == f"Local images:\n{placed}\nNot in registry:\n{missing}"
        j = json.loads(ok(ctl(tmp, "get", "all", "-o", "json", "--nodes", f"{n1},{n2}")))
        assert [x["repository"] for x in j["not_in_registry"]] == ["localhost/imgd-test/busybox"]
        assert j["errors"] == [{"node": n2, "source": "harbor",
                                "error": "Harbor configuration incomplete"}]


# ---- answers imgd never sends ----

class InFlight:
    """Counts the requests several SlowServers hold at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now = self.most = 0

    def change(self, by):
        with self.lock:
            self.now += by
            self.most = max(self.most, self.now)


class SlowServer:
    """Answers each request with one canned /local-images row after `delay` seconds, and
    records the request lines (and, in flight, how many requests are held at once)."""

    def __init__(self, delay, body=None, flight=None):
        self.delay = delay
        self.flight = flight or InFlight()
        self.body = body or json.dumps([{"repository": "localhost/slow", "tag": "1",
                                         "image_id": "0123456789abcdef", "size": "1MB"}])
        self.requests = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.hostport = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.closed = threading.Event()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn):
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            line = data.split(b"\r\n", 1)[0].decode()
            self.requests.append(line.rsplit(" ", 1)[0])
            self.flight.change(+1)
            closed = self.closed.wait(self.delay)
            self.flight.change(-1)
            if closed:
                return
            body = self.body.encode()
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                             % (len(body), body))
            except OSError:
                pass

    def close(self):
        self.closed.set()
        self.sock.close()


def test_csv_quotes_and_cleans_fields(tmp):
    rows = [{"repository": 'we,ird"name', "tag": "a\x1b[2Jb", "image_id": "0123456789abcdef",
             "size": "1MB"}]
    s = SlowServer(0, json.dumps(rows))
    try:
        out = ok(ctl(tmp, "get", "-o", "csv", server=f"http://{s.hostport}"))
        table = ok(ctl(tmp, "get", server=f"http://{s.hostport}"))
    finally:
        s.close()
    assert out == 'REPOSITORY,TAG,IMAGE ID,SIZE\n"we,ird""name",a?[2Jb,0123456789abc,1MB\n'
    assert "\x1b" not in table and 'we,ird"name' in table


def test_an_answer_of_another_shape_is_an_error(tmp):
    s = SlowServer(0, json.dumps({"images": []}))
    try:
        r = ctl(tmp, "get", server=f"http://{s.hostport}")
    finally:
        s.close()
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == "imgctl: GET /local-images: the answer is not a list of images\n"


# ---- usage ----

@pytest.mark.parametrize("args, needle", [
    (["get", "remote"], "get: unknown list 'remote': use local, harbor or all"),
    (["get", "local", "all"], "usage: imgctl get [local|harbor|all]"),
    (["get", "all", "-o", "csv"], "use -o csv with local or harbor"),
    (["get", "harbor", "--nodes", "a"], "get --nodes compares the nodes' local images"),
    (["get", "--nodes", "a,,b"], "--nodes: an entry is empty"),
    (["get", "--nodes", "a,b,a"], "--nodes names 'a' twice"),
    (["get", "--nodes", "a b"], "--nodes: 'a b' is neither a URL nor a host name"),
    (["get", "--nodes", ",".join(f"n{i}" for i in range(257))], "--nodes: at most 256 nodes"),
    (["--server", "http://127.0.0.1:9", "get", "--nodes", "a"], "give --server or --nodes"),
    (["get", "--digests"], "get does not take --digests"),
    (["images", "--nodes", "a"], "images does not take --nodes"),
    (["health", "--nodes", "a"], "health does not take --nodes"),
    (["health", "-o", "csv"], "health does not print CSV"),
    (["images", "-o", "csv"], "images does not print CSV"),
    (["get", "-o", "xml"], "unknown output format 'xml'"),
])
def test_usage_errors(tmp, args, needle):
    r = ctl(tmp, *args)
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1
    assert needle in r.stderr and "imgctl --help" in r.stderr


def test_help_describes_get(tmp):
    out = ok(ctl(tmp, "--help"))
    for word in ("get [local|harbor|all]", "--nodes", "csv", "error: SOURCE: MESSAGE",
                 "do not change the exit status", "http://HOST:5375"):
        assert word in out
    assert all(len(line) <= 100 for line in out.splitlines())
