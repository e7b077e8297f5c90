# SPDX-License-Identifier: MIT
"""imgctl's image commands against the real imgd and real registries: pull (plain lines, quiet,
a terminal, errors, registry credentials), images, inspect, tag, rmi, import, prune. Every run
gets HOME and XDG_CONFIG_HOME inside the test's temp dir, and talks to imgd over its unix socket
unless a test says otherwise."""
import json
import os
import pty
import re
import select
import socket
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from conftest import IMGCTL, ok, one_line, run_imgctl
from formats import crictl_size

pytest_plugins = ["registry"]

TIMEOUT = 180


def ctl(tmp, server, *args, env=None, cwd=None, timeout=TIMEOUT):
    """Run imgctl to completion with a private HOME and XDG_CONFIG_HOME against server."""
    return run_imgctl(tmp, args, server=server, env=env, cwd=cwd, timeout=timeout)


def sock(imgd):
    return f"unix://{imgd.socket}"


def short(digest):
    return digest.split(":", 1)[1][:12]


def api_image(imgd, ref):
    r = imgd.get(f"/api/v1/images/{ref}")
    assert r.status_code == 200, r.text
    return r.json()["image"]


def api_list(imgd):
    return imgd.get("/api/v1/images").json()["images"]


def human_duration(secs):
    """go-units HumanDuration, as docker prints CREATED."""
    minutes, hours = secs // 60, int(secs / 3600 + 0.5)
    if secs < 1:
        return "Less than a second"
    if secs == 1:
        return "1 second"
    if secs < 60:
        return f"{secs} seconds"
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{secs // 3600 // 24 // 365} years"


def created_column(created):
    t = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return human_duration(int(time.time() - t.timestamp())) + " ago"


def table(stdout):
    """Rows of a table whose cells are separated by at least two spaces (header first)."""
    return [re.split(r" {2,}", line.rstrip()) for line in stdout.splitlines() if line.strip()]


def pull_q(tmp, imgd, ref):
    return one_line(ok(ctl(tmp, sock(imgd), "pull", "-q", ref)))


# ---- pull ----

def test_pull_plain_lines(imgd, tmp, test_images):
    info = test_images["layered"]
    out = ok(ctl(tmp, sock(imgd), "pull", info.ref))
    lines = out.splitlines()
    assert "\x1b" not in out
    assert lines[0].startswith(f"Pulling {info.ref} (sha256:")
    assert lines[0].endswith(f", {len(info.layers)} layers)")
    for layer in info.layers:
        mine = [line for line in lines if line.startswith(short(layer.digest) + ": ")]
        # one line per change of state, not one per progress event
        assert mine == [f"{short(layer.digest)}: downloading {crictl_size(layer.size)}",
                        f"{short(layer.digest)}: done {crictl_size(layer.size)}"], lines
    assert lines[-2] == f"Pulled {info.ref}"
    assert lines[-1] == info.config_digest
    assert api_image(imgd, info.ref)["id"] == info.config_digest

    again = ok(ctl(tmp, sock(imgd), "pull", info.ref)).splitlines()
    assert [line for line in again if ": " in line and not line.startswith("Pulling")] == \
        [f"{short(layer.digest)}: exists" for layer in info.layers]
    assert again[-1] == info.config_digest


def test_pull_quiet_and_json(imgd, tmp, test_images):
    info = test_images["busybox-oci"]
    r = ctl(tmp, sock(imgd), "pull", "-q", info.ref)
    assert ok(r) == info.config_digest + "\n"
    j = ok(ctl(tmp, imgd.url, "pull", "--quiet", "-o", "json", info.ref))
    image = json.loads(j)
    assert image["id"] == info.config_digest
    assert info.ref in image["repo_tags"]
    assert image == next(img for img in api_list(imgd) if img["id"] == info.config_digest)


def test_pull_platform(imgd, tmp, test_images):
    info = test_images["multiarch"]
    arm = info.platforms["linux/arm64/v8"]
    out = ok(ctl(tmp, sock(imgd), "pull", "--platform", "linux/arm64/v8", info.ref))
    assert out.splitlines()[-1] == arm.config_digest
    assert api_image(imgd, arm.config_digest)["architecture"] == "arm64"


def test_pull_missing_tag(imgd, tmp, test_images, registry):
    ref = f"{registry.host}/test/busybox-oci:no-such-tag"
    r = ctl(tmp, sock(imgd), "pull", ref)
    assert r.returncode == 1
    assert r.stdout == ""
    line = one_line(r.stderr)
    assert line.startswith(f"imgctl: pull {ref}: ")
    assert "manifest unknown" in line.lower()
    assert api_list(imgd) == []


def test_pull_invalid_reference(imgd, tmp):
    r = ctl(tmp, sock(imgd), "pull", "Bad Reference")
    assert r.returncode == 1
    assert one_line(r.stderr).startswith(
        "imgctl: pull Bad Reference: POST /api/v1/images/pull: 400 invalid reference")


def test_pull_with_registry_credentials(imgd, tmp, auth_registry):
    ref = f"{auth_registry.host}/private/busybox:latest"
    user, pw = auth_registry.username, auth_registry.password
    runs = []
    anonymous = ctl(tmp, sock(imgd), "pull", ref)
    runs.append(anonymous)
    assert anonymous.returncode == 1
    assert one_line(anonymous.stderr).startswith(f"imgctl: pull {ref}: ")
    wrong = ctl(tmp, sock(imgd), "pull", "--creds", f"{user}:{pw}-wrong", ref)
    runs.append(wrong)
    assert wrong.returncode == 1
    assert one_line(wrong.stderr).startswith(f"imgctl: pull {ref}: ")

    good = ctl(tmp, sock(imgd), "pull", "--creds", f"{user}:{pw}", ref)
    runs.append(good)
    image_id = ok(good).splitlines()[-1]
    assert image_id == api_image(imgd, ref)["id"]
    ok(ctl(tmp, sock(imgd), "rmi", ref))
    # --username with the password from the environment
    from_env = ctl(tmp, sock(imgd), "pull", "--username", user, "-q", ref,
                   env={"IMGCTL_REGISTRY_PASSWORD": pw})
    runs.append(from_env)
    assert ok(from_env) == image_id + "\n"
    ok(ctl(tmp, sock(imgd), "rmi", ref))
    separate = ctl(tmp, sock(imgd), "pull", "--username", user, "--password", pw, ref)
    runs.append(separate)
    assert ok(separate).splitlines()[-1] == image_id
    for r in runs:
        assert pw not in r.stdout and pw not in r.stderr
    assert pw not in imgd.log()


def test_pull_credentials_usage(tmp):
    for args, needle in [
        (["--password", "s3cret-pw", "x"], "--password needs --username"),
        (["--creds", "u:s3cret-pw", "--username", "u", "x"], "not both"),
        (["--creds", ":s3cret-pw", "x"], "user name is empty"),
        (["--username", "u", "x"], "no registry password"),
    ]:
        r = ctl(tmp, "http://127.0.0.1:9", "pull", *args)
        assert r.returncode == 2, r.stderr
        assert r.stdout == ""
        assert needle in one_line(r.stderr)
        assert "s3cret-pw" not in r.stderr


def read_pty(master, proc, timeout):
    """Everything written to the terminal until the process exits and the slave side closes."""
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: no writer is left
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    return out.decode(errors="replace")


def test_pull_on_a_terminal_redraws_in_place(imgd, tmp, test_images):
    info = test_images["zstd"]
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMGCTL_", "IMGD_"))}
    env.update({"HOME": str(tmp / "home"), "XDG_CONFIG_HOME": str(tmp / "xdg"),
                "TERM": "xterm"})
    proc = subprocess.Popen([str(IMGCTL), "-s", sock(imgd), "pull", info.ref], stdout=slave,
                            stderr=subprocess.PIPE, env=env)
    os.close(slave)
    try:
        out = read_pty(master, proc, TIMEOUT)
        assert proc.wait(TIMEOUT) == 0, proc.stderr.read()
    finally:
        os.close(master)
        proc.stderr.close()
    assert re.search(r"\x1b\[\d+A", out), repr(out)  # cursor up to a layer's line
    assert "\x1b[2K" in out
    for layer in info.layers:
        assert f"{short(layer.digest)}: done" in out
    assert out.rstrip("\r\n").endswith("\n" + info.config_digest), repr(out[-200:])


# ---- images, inspect, tag ----

def test_images_table(imgd, tmp, test_images):
    names = ["busybox-oci", "layered"]
    for name in names:
        pull_q(tmp, imgd, test_images[name].ref)
    r = ctl(tmp, sock(imgd), "images")
    rows = table(ok(r))
    assert rows[0] == ["IMAGE", "TAG", "IMAGE ID", "SIZE", "CREATED"]
    listing = {img["id"]: img for img in api_list(imgd)}
    assert len(rows) == 1 + len(names)
    for name in names:
        info = test_images[name]
        img = listing[info.config_digest]
        row = next(row for row in rows if row[0] == info.ref.rsplit(":", 1)[0])
        assert row[1] == "latest"
        assert row[2] == info.config_digest[len("sha256:"):][:13]
        assert row[3] == crictl_size(img["size"])
        assert re.fullmatch(r"\d+(\.\d+)?(B|kB|MB)", row[3])
        assert row[4] == created_column(img["created"])
    # columns line up: each header starts where its column's cells start
    lines = r.stdout.splitlines()
    for head in ("TAG", "IMAGE ID", "SIZE", "CREATED"):
        col = lines[0].index(head)
        assert all(line[col - 1] == " " and line[col] != " " for line in lines[1:])

    quiet = ok(ctl(tmp, sock(imgd), "images", "-q")).splitlines()
    assert sorted(quiet) == sorted(listing)
    full = table(ok(ctl(tmp, sock(imgd), "images", "--no-trunc")))
    assert sorted(row[2] for row in full[1:]) == sorted(listing)
    digests = table(ok(ctl(tmp, sock(imgd), "images", "--digests")))
    assert digests[0] == ["IMAGE", "TAG", "DIGEST", "IMAGE ID", "SIZE", "CREATED"]
    for name in names:
        info = test_images[name]
        row = next(row for row in digests if row[0] == info.ref.rsplit(":", 1)[0])
        assert row[2] == info.digest
    j = ok(ctl(tmp, imgd.url, "images", "-o", "json"))
    assert json.loads(j) == imgd.get("/api/v1/images").json()


def test_images_empty(imgd, tmp):
    assert table(ok(ctl(tmp, sock(imgd), "images"))) == [
        ["IMAGE", "TAG", "IMAGE ID", "SIZE", "CREATED"]]
    assert ok(ctl(tmp, sock(imgd), "images", "-q")) == ""


def test_inspect(imgd, tmp, test_images):
    info = test_images["layered"]
    pull_q(tmp, imgd, info.ref)
    expected = api_image(imgd, info.ref)
    out = ok(ctl(tmp, sock(imgd), "inspect", info.ref))
    assert json.loads(out) == expected
    assert out.startswith('{\n  "added": ')  # pretty, keys sorted
    assert [layer["digest"] for layer in expected["layers"]] == \
        [layer.digest for layer in info.layers]
    assert ok(ctl(tmp, sock(imgd), "-o", "json", "inspect", info.ref)) == out
    # by ID prefix
    assert json.loads(ok(ctl(tmp, sock(imgd), "inspect", info.config_digest[7:19]))) == expected
    r = ctl(tmp, sock(imgd), "inspect", "localhost/nothing:here")
    assert r.returncode == 1 and r.stdout == ""
    assert one_line(r.stderr) == ("imgctl: GET /api/v1/images/localhost/nothing:here: 404 "
                                  "image 'localhost/nothing:here' not found")


def test_refs_are_escaped_in_the_path(imgd, tmp):
    r = ctl(tmp, sock(imgd), "inspect", "a b?c#d")
    assert r.returncode == 1
    assert one_line(r.stderr).startswith("imgctl: GET /api/v1/images/a%20b%3Fc%23d: 400 ")
    # dot segments reach imgd as part of the reference, never as another path (/api/v1/health)
    r = ctl(tmp, sock(imgd), "inspect", "../../health")
    assert r.returncode == 1, r.stdout
    assert r.stdout == ""
    assert "/api/v1/images/%2E%2E/%2E%2E/health: 400 " in one_line(r.stderr)


def test_tag_then_images_shows_both_names(imgd, tmp, test_images):
    info = test_images["busybox-oci"]
    pull_q(tmp, imgd, info.ref)
    assert ok(ctl(tmp, sock(imgd), "tag", info.ref, "localhost/mine:v1")) == ""
    rows = table(ok(ctl(tmp, sock(imgd), "images")))[1:]
    short_id = info.config_digest[7:20]
    assert sorted((row[0], row[1], row[2]) for row in rows) == sorted([
        (info.ref.rsplit(":", 1)[0], "latest", short_id),
        ("localhost/mine", "v1", short_id)])
    assert ok(ctl(tmp, sock(imgd), "images", "-q")) == info.config_digest + "\n"
    r = ctl(tmp, sock(imgd), "tag", "localhost/absent:1", "localhost/x:1")
    assert r.returncode == 1
    assert "404" in one_line(r.stderr)


# ---- rmi ----

def test_rmi_by_name(imgd, tmp, test_images):
    info = test_images["busybox-oci"]
    pull_q(tmp, imgd, info.ref)
    ok(ctl(tmp, sock(imgd), "tag", info.ref, "localhost/mine:v1"))
    assert ok(ctl(tmp, sock(imgd), "rmi", "localhost/mine:v1")) == \
        "Untagged: localhost/mine:v1\n"
    out = ok(ctl(tmp, sock(imgd), "rmi", info.ref)).splitlines()
    assert f"Untagged: {info.ref}" in out
    assert out[-1] == f"Deleted: {info.config_digest}"
    assert all(line.startswith(("Untagged: ", "Deleted: ")) for line in out)
    assert api_list(imgd) == []


def test_rmi_continues_after_an_error(imgd, tmp, test_images):
    a, b = test_images["busybox-oci"], test_images["layered"]
    pull_q(tmp, imgd, a.ref)
    pull_q(tmp, imgd, b.ref)
    r = ctl(tmp, sock(imgd), "rmi", a.ref, "localhost/unknown:1", b.ref)
    assert r.returncode == 1
    assert one_line(r.stderr) == ("imgctl: DELETE /api/v1/images/localhost/unknown:1: 404 "
                                  "image 'localhost/unknown:1' not found")
    deleted = [line for line in r.stdout.splitlines() if line.startswith("Deleted: ")]
    assert deleted == [f"Deleted: {a.config_digest}", f"Deleted: {b.config_digest}"]
    assert api_list(imgd) == []


def test_rmi_by_id_with_several_names_needs_force(imgd, tmp, test_images):
    info = test_images["busybox-oci"]
    pull_q(tmp, imgd, info.ref)
    ok(ctl(tmp, sock(imgd), "tag", info.ref, "localhost/mine:v1"))
    r = ctl(tmp, sock(imgd), "rmi", info.config_digest)
    assert r.returncode == 1
    assert ": 409 " in one_line(r.stderr)
    out = ok(ctl(tmp, sock(imgd), "rmi", "-f", info.config_digest)).splitlines()
    assert "Untagged: localhost/mine:v1" in out and f"Untagged: {info.ref}" in out
    assert out[-1] == f"Deleted: {info.config_digest}"
    j = ctl(tmp, sock(imgd), "rmi", "-o", "json", info.config_digest)
    assert j.returncode == 1 and json.loads(j.stdout) == []


# ---- import, prune ----

def test_import_layout_and_docker_archive(imgd, tmp, archives):
    a = archives.busybox
    out = ok(ctl(tmp, sock(imgd), "import", "--tag", "localhost/imported:1", a.layout))
    assert out == (f"Imported image: localhost/imported:1\n"
                   f"Imported image ID: {a.config_digest}\n")
    # a docker-archive names its images itself; a relative path is resolved where it is typed
    out = ok(ctl(tmp, sock(imgd), "import", a.docker_archive.name,
                 cwd=a.docker_archive.parent))
    lines = out.splitlines()
    assert lines[0] == f"Imported image: docker.io/{a.repo_tag}"
    assert lines[1].startswith("Imported image ID: sha256:")
    rows = table(ok(ctl(tmp, sock(imgd), "images")))[1:]
    assert ("localhost/imported", "1") in [(row[0], row[1]) for row in rows]
    assert (f"docker.io/{a.repo_tag.split(':')[0]}", "latest") in \
        [(row[0], row[1]) for row in rows]
    r = ctl(tmp, sock(imgd), "import", "does-not-exist.tar", cwd=tmp)
    assert r.returncode == 1
    assert one_line(r.stderr) == ("imgctl: import 'does-not-exist.tar': cannot make the path "
                                  "absolute: No such file or directory")
    r = ctl(tmp, sock(imgd), "import", tmp / "absent.tar")
    assert r.returncode == 1
    assert one_line(r.stderr).startswith("imgctl: POST /api/v1/images/import: 404 ")


def test_prune(imgd, tmp, archives):
    layered = archives.layered
    ok(ctl(tmp, sock(imgd), "import", layered.layout))  # ref "latest" names nothing: dangling
    rows = table(ok(ctl(tmp, sock(imgd), "images")))
    assert [row[:3] for row in rows[1:]] == [["<none>", "<none>", layered.config_digest[7:20]]]
    out = ok(ctl(tmp, sock(imgd), "prune")).splitlines()
    assert out[0] == f"Deleted: {layered.config_digest}"
    m = re.fullmatch(r"Total reclaimed space: (\d+(\.\d+)?(kB|MB))", out[-1])
    assert m, out
    assert len(out) == 2
    assert api_list(imgd) == []
    assert ok(ctl(tmp, sock(imgd), "prune")) == "Total reclaimed space: 0B\n"
    j = json.loads(ok(ctl(tmp, sock(imgd), "prune", "-o", "json")))
    assert j["deleted"] == [] and j["space_reclaimed"] == 0


# ---- usage and odd servers ----

@pytest.mark.parametrize("args, needle", [
    (["pull"], "usage: imgctl pull "),
    (["pull", "a", "b"], "usage: imgctl pull "),
    (["images", "x"], "images takes no arguments"),
    (["images", "--force"], "images does not take --force"),
    (["rmi"], "usage: imgctl rmi [-f] REF..."),
    (["rmi", ""], "rmi: an argument is empty"),
    (["tag", "a"], "usage: imgctl tag SOURCE TARGET"),
    (["health", "-q"], "health does not take --quiet"),
    (["import", "--platform"], "missing argument for option '--platform'"),
    (["pull", "--tag", "x", "ref"], "pull does not take --tag"),
])
def test_usage_errors(tmp, args, needle):
    r = ctl(tmp, "http://127.0.0.1:9", *args)
    assert r.returncode == 2
    assert r.stdout == ""
    line = one_line(r.stderr)
    assert needle in line and "imgctl --help" in line


def test_help_lists_the_image_commands(tmp):
    r = ctl(tmp, "http://127.0.0.1:9", "--help")
    assert r.returncode == 0
    for word in ("images", "pull", "import", "tag", "rmi", "inspect", "prune", "--no-trunc",
                 "--digests", "--creds", "--platform", "IMGCTL_REGISTRY_PASSWORD"):
        assert word in r.stdout


class StreamServer:
    """Answers every request with a canned HTTP response, for the answers imgd never sends.
    response: bytes, or a list of bytes to send and seconds to pause in between."""

    def __init__(self, response):
        self.response = response if isinstance(response, list) else [response]
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        data += conn.recv(65536)
                    for part in self.response:
                        if isinstance(part, bytes):
                            conn.sendall(part)
                        else:
                            time.sleep(part)
                except OSError:
                    pass

    def close(self):
        self.sock.close()


def ndjson_response(body):
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)) + body


def test_pull_stream_outlasts_the_timeout(tmp):
    """--timeout bounds connecting; a stream that pauses longer still completes."""
    image_id = "sha256:" + "e" * 64
    lines = [b'{"status":"resolved","reference":"x","digest":"sha256:' + b"a" * 64 +
             b'","layers":0}\n',
             json.dumps({"status": "complete", "image": {"id": image_id}}).encode() + b"\n"]
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % sum(map(len, lines)))
    srv = StreamServer([head, lines[0], 2.5, lines[1]])
    try:
        r = ctl(tmp, srv.url, "--timeout", "1", "pull", "x")
    finally:
        srv.close()
    assert ok(r).splitlines() == [f"Pulling x (sha256:{'a' * 64}, 0 layers)", "Pulled x",
                                  image_id]


def test_pull_stream_without_a_result(tmp):
    body = (b'{"status":"resolved","reference":"x","digest":"sha256:' + b"a" * 64 +
            b'","layers":1}\n{"layer":"sha256:' + b"b" * 64 +
            b'","index":0,"state":"downloading","done":0,"total":10}\n')
    srv = StreamServer(ndjson_response(body))
    try:
        r = ctl(tmp, srv.url, "pull", "x")
    finally:
        srv.close()
    assert r.returncode == 1
    assert r.stdout.splitlines()[-1] == "bbbbbbbbbbbb: downloading 10B"
    assert one_line(r.stderr) == \
        f"imgctl: pull x: imgd at {srv.url} ended the pull without a result"


def test_pull_stream_line_too_long(tmp):
    srv = StreamServer(ndjson_response(b'{"status":"' + b"x" * (16 * 1024 * 1024) + b'"}\n'))
    try:
        r = ctl(tmp, srv.url, "pull", "x")
    finally:
        srv.close()
    assert r.returncode == 1
    assert one_line(r.stderr) == \
        f"imgctl: pull x: a line of the answer of imgd at {srv.url} is larger than 16 MiB"


def test_pull_stream_error_line_without_newline(tmp):
    body = b'{"error":{"code":404,"message":"pull \'x\': not\\u001b[31m here"}}'
    srv = StreamServer(ndjson_response(body))
    try:
        r = ctl(tmp, srv.url, "pull", "x")
    finally:
        srv.close()
    assert r.returncode == 1
    assert one_line(r.stderr) == "imgctl: pull x: not [31m here"


def test_images_table_from_crafted_answer(tmp):
    """Shapes imgd's own images do not take: offsets and fractions in created, a missing or
    malformed created, an image named only by digest, control characters in a name."""
    def rfc3339(seconds_ago, suffix="Z", fraction=""):
        t = datetime.fromtimestamp(time.time() - seconds_ago, timezone.utc)
        if suffix != "Z":
            sign = 1 if suffix[0] == "+" else -1
            t = t.astimezone(timezone(sign * timedelta(hours=int(suffix[1:3]),
                                                       minutes=int(suffix[4:6]))))
        return t.strftime("%Y-%m-%dT%H:%M:%S") + fraction + suffix

    digest = "sha256:" + "d" * 64
    images = [
        {"id": "sha256:" + "1" * 64, "repo_tags": ["localhost/a:1"], "repo_digests": [],
         "size": 999, "created": rfc3339(3 * 3600 + 60, "+02:00", ".123456789")},
        {"id": "sha256:" + "2" * 64, "repo_tags": [], "repo_digests": [f"localhost/b@{digest}"],
         "size": 1234567, "created": rfc3339(90, "-05:30")},
        {"id": "sha256:" + "3" * 64, "repo_tags": ["localhost/c\x1b[2J:x"], "repo_digests": [],
         "size": 0},
        {"id": "sha256:" + "4" * 64, "repo_tags": ["localhost/d:1"], "repo_digests": [],
         "size": 10 ** 10, "created": "yesterday"},
    ]
    body = json.dumps({"success": True, "images": images}).encode()
    srv = StreamServer(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    try:
        r = ctl(tmp, srv.url, "images", "--digests")
    finally:
        srv.close()
    assert "\x1b" not in r.stdout
    assert table(ok(r))[1:] == [
        ["localhost/a", "1", "<none>", "1" * 13, "999B", "3 hours ago"],
        ["localhost/b", "<none>", digest, "2" * 13, "1.23MB", "About a minute ago"],
        ["localhost/c?[2J", "x", "<none>", "3" * 13, "0B", "N/A"],
        ["localhost/d", "1", "<none>", "4" * 13, "10GB", "N/A"],
    ]
