# SPDX-License-Identifier: MIT
"""A real containerd (Debian's 1.6) for the CRI client tests: config, root, state and sockets
in a temp dir, the CRI plugin on (restrict_oom_score_adj = true, which this VM needs: root lacks
CAP_SYS_RESOURCE), and test images imported into the k8s.io namespace with ctr.

Use it from a test module with

    pytest_plugins = ["containerd"]

Fixtures:

- `containerd` (function-scoped view of one session daemon): a running Containerd holding the
  standard images below; a test may stop it (.stop(), .stop(signal.SIGKILL)) and start it
  again (.start()); it is restarted after a test that left it stopped, and its log is printed
  when a test fails. Attributes and methods: .socket (Path), .endpoint ("unix://..."),
  .ctr(*args) (`ctr --address SOCKET -n k8s.io ...`, returns stdout), .import_archive(path,
  *tags, digests=False, base_name=None), .images() (`ctr images ls` as {ref: {...}}),
  .content(digest), .manifest(digest), .config_digest(manifest_digest), .cri_size(manifest
  digest), .cri_list_raw() (ListImages through curl), .wait_cri_images(ids, absent_names),
  .log(), .running.
- `containerd_daemon` (session): the same daemon, without the guarantee that it runs.
- `cri_images` (session): the standard images, a StandardImages (each a StandardImage: name,
  repo_tags, repo_digests, manifest_digest, config_digest, size; plus .removed_refs).

The standard images (built offline with ocibuild, busybox-static inside; none is pulled). The
CRI plugin adds a "sha256:<config digest>" record for each, which `ctr images ls` shows too.

- busybox: the busybox layer. Imported from a docker-archive with RepoTags
  [imgd-test/busybox:latest], then `ctr images tag` adds docker.io/imgd-test/busybox:1.36 and
  localhost:5000/imgd-test/bb:v1. CRI: those three repoTags, no repoDigests.
- second: busybox + /data/second. Imported from an oci-archive (ref "1.0") with --base-name
  docker.io/imgd-test/second --digests. CRI: repoTags [docker.io/imgd-test/second:1.0],
  repoDigests [docker.io/imgd-test/second@<manifest digest>].
- untagged: busybox + /data/untagged. Imported like `second` (ref "gone"), then the tag is
  removed. CRI: repoTags [], repoDigests [docker.io/imgd-test/untagged@<manifest digest>].
- anonymous: busybox + /data/anonymous. Imported from a docker-archive with RepoTags
  [imgd-test/anonymous:gone], then the tag is removed. CRI: repoTags [], repoDigests []; only
  containerd's "sha256:<config>" record keeps it.

Sizes (CRI `size`: manifest + config + layers as stored) are about 2.0 MB for the two
docker-archive images (containerd keeps their layers as uncompressed tars) and 1.0 MB for the
OCI ones (gzip). Images are imported with --no-unpack: CRI lists images without snapshots, and
nothing gets mounted. The CRI plugin follows image events asynchronously: wait_cri_images()
waits until ListImages shows a change.

Without pytest, for trying things by hand:

    /usr/bin/python3 tests/integration/containerd.py serve     # prints the socket; ^C stops

Every process is stopped and every temp dir removed at the end, also after failures.
containerd 1.6 would create /run/containerd for shims and FIFOs even with root/state moved;
no container is run here, and the directory is removed afterwards if this module made it and
it is empty.

(PYTEST_DONT_REWRITE)
"""
import contextlib
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ocibuild as ob  # noqa: E402
from localserver import LocalProcess  # noqa: E402

__all__ = ["containerd_daemon", "containerd", "cri_images", "Containerd", "StandardImages",
           "CtrError", "require_containerd", "build_standard_images"]

START_TIMEOUT = 20.0
CTR_TIMEOUT = 60
NAMESPACE = "k8s.io"
RUN_CONTAINERD = Path("/run/containerd")
PACKAGES = {"containerd": "Debian package containerd", "ctr": "Debian package containerd",
            "curl": "package curl"}


def require_containerd():
    """Skip the test (naming what is missing) unless containerd, ctr, curl and busybox exist."""
    missing = [f"`{t}` ({PACKAGES[t]})" for t in ("containerd", "ctr", "curl")
               if shutil.which(t) is None]
    if not ob.BUSYBOX.is_file():
        missing.append(f"{ob.BUSYBOX} (package busybox-static)")
    if missing:
        pytest.skip("missing prerequisite: " + ", ".join(missing))


class CtrError(RuntimeError):
    """ctr exited non-zero; .stderr holds its message."""

    def __init__(self, cmd, code, stderr):
        super().__init__(f"{' '.join(cmd)} exited {code}: {stderr.strip()}")
        self.cmd, self.code, self.stderr = cmd, code, stderr


CONFIG = """\
version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/imgd-test/pause:none"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{d}/cni/bin"
    conf_dir = "{d}/cni/conf"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = false
"""


class Containerd(LocalProcess):
    """A containerd process on a temp dir. Attributes: workdir, socket (Path), endpoint
    ("unix://..."), config_path, log_path, proc (None while stopped)."""

    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.socket = self.workdir / "containerd.sock"
        self.endpoint = f"unix://{self.socket}"
        self.config_path = self.workdir / "containerd.toml"
        self.log_path = self.workdir / "containerd.log"
        self.config_path.write_text(CONFIG.format(d=self.workdir))

    # -- lifecycle
    def start(self):
        """Start the daemon and wait until ctr and the CRI socket answer."""
        assert self.proc is None, "already running"
        self._spawn(["containerd", "--config", str(self.config_path), "--log-level", "info"])
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"containerd exited {self.proc.returncode}:\n{self.log()}")
            if self.socket.exists():
                p = subprocess.run(self._ctr_cmd("plugins", "ls"), capture_output=True,
                                   text=True, timeout=CTR_TIMEOUT)
                if p.returncode == 0:
                    cri = [line for line in p.stdout.splitlines() if " cri " in f" {line} "]
                    if not cri or not cri[0].split()[-1] == "ok":
                        raise RuntimeError(f"the CRI plugin did not load: {cri}\n{self.log()}")
                    return
            time.sleep(0.02)
        raise RuntimeError(f"containerd not ready after {START_TIMEOUT}s:\n{self.log()}")

    def stop(self, sig=signal.SIGTERM):
        """Stop the daemon: SIGTERM (then SIGKILL after 10 s) lets it remove its socket;
        sig=signal.SIGKILL leaves the socket file behind with nobody listening."""
        super().stop(sig)

    # -- ctr
    def _ctr_cmd(self, *args):
        return ["ctr", "--address", str(self.socket), "-n", NAMESPACE, *map(str, args)]

    def ctr(self, *args, check=True, timeout=CTR_TIMEOUT):
        """Run `ctr --address SOCKET -n k8s.io ARGS`; returns stdout (text). Raises CtrError."""
        cmd = self._ctr_cmd(*args)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise CtrError(cmd, p.returncode, p.stderr)
        return p.stdout

    def import_archive(self, path, *tags, digests=False, base_name=None):
        """Import an oci-archive or docker-archive into k8s.io (--no-unpack: nothing is
        mounted, and the CRI image list does not need snapshots), then add each of tags as a
        further name of the imported image (`ctr images tag`; the archive must hold one
        image). digests=True also creates NAME@sha256:MANIFEST images; without base_name
        their NAME is "import-YYYY-MM-DD", as ctr does. Returns the sorted new refs, without
        the "sha256:CONFIG" ref the CRI plugin adds for each image."""
        before = set(self.images())
        args = ["images", "import", "--no-unpack"]
        if digests:
            args.append("--digests")
        if base_name:
            args += ["--base-name", base_name]
        self.ctr(*args, path)
        names = sorted(n for n in set(self.images()) - before if not n.startswith("sha256:"))
        named = [n for n in names if "@" not in n]
        for tag in tags:
            self.ctr("images", "tag", "--force", named[0], tag)
        return sorted(names + list(tags))

    def images(self):
        """{ref: {"type", "digest", "size", "platforms", "labels"}} from `ctr images ls`."""
        out = self.ctr("images", "ls")
        lines = out.splitlines()
        result = {}
        for line in lines[1:]:
            cols = line.split()
            if len(cols) < 6:
                continue
            # REF TYPE DIGEST SIZE(2 words) PLATFORMS LABELS
            result[cols[0]] = {"type": cols[1], "digest": cols[2], "size": " ".join(cols[3:5]),
                               "platforms": cols[5], "labels": " ".join(cols[6:])}
        return result

    def content(self, digest):
        """The bytes of a blob in the content store (`ctr content get`)."""
        cmd = self._ctr_cmd("content", "get", digest)
        p = subprocess.run(cmd, capture_output=True, timeout=CTR_TIMEOUT)
        if p.returncode != 0:
            raise CtrError(cmd, p.returncode, p.stderr.decode(errors="replace"))
        return p.stdout

    def manifest(self, manifest_digest):
        """The parsed manifest of an image by its manifest digest."""
        return json.loads(self.content(manifest_digest))

    def config_digest(self, manifest_digest):
        """The config digest (what CRI calls the image id) of an image by manifest digest."""
        return self.manifest(manifest_digest)["config"]["digest"]

    def cri_list_raw(self, package="runtime.v1"):
        """The raw gRPC response body of ListImages, made with curl (independent of the C
        client): a 5-byte prefix and a ListImagesResponse message. The trailers are not read."""
        p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "--unix-socket",
                            str(self.socket), "--max-time", "10", "-X", "POST",
                            "-H", "content-type: application/grpc", "-H", "te: trailers",
                            "--data-binary", "@-", "-o", "-",
                            f"http://localhost/{package}.ImageService/ListImages"],
                           input=b"\0\0\0\0\0", capture_output=True, timeout=20)
        if p.returncode != 0:
            raise RuntimeError(f"curl ListImages failed: {p.stderr.decode(errors='replace')}")
        return p.stdout

    def wait_cri_images(self, present, absent=(), timeout=START_TIMEOUT):
        """Wait until the CRI plugin, which follows image events asynchronously, lists every
        id of present and none of the names of absent."""
        deadline = time.monotonic() + timeout
        while True:
            raw = self.cri_list_raw()
            if (all(i.encode() in raw for i in present)
                    and not any(n.encode() in raw for n in absent)):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"CRI did not catch up: present={present} absent={absent}")
            time.sleep(0.05)

    def cri_size(self, manifest_digest):
        """What containerd's CRI reports as `size`: manifest + config + layers, as stored."""
        m = self.manifest(manifest_digest)
        return (len(self.content(manifest_digest)) + m["config"]["size"]
                + sum(layer["size"] for layer in m["layers"]))


@dataclass
class StandardImage:
    """One of the standard images: name, the repo_tags and repo_digests CRI must report (sorted),
    manifest_digest, config_digest (= the CRI id) and size (= what CRI reports: manifest +
    config + layers as stored) of what containerd holds."""
    name: str
    repo_tags: list = field(default_factory=list)
    repo_digests: list = field(default_factory=list)
    manifest_digest: str = ""
    config_digest: str = ""
    size: int = 0


@dataclass
class StandardImages:
    busybox: StandardImage
    second: StandardImage
    untagged: StandardImage
    anonymous: StandardImage
    removed_refs: list  # names that were removed again: CRI must not report them

    def all(self):
        return [self.busybox, self.second, self.untagged, self.anonymous]


def _layer(name):
    return ob.build_layer([ob.Dir("data"), ob.File(f"data/{name}", f"{name}\n")])


def _oci_archive(workdir, name, image, ref):
    layout = ob.Layout(Path(workdir) / f"{name}-oci")
    layout.add(image, ref=ref)
    return ob.write_oci_archive(layout.path, Path(workdir) / f"{name}-oci.tar")


def _standard_image(ctd, name, manifest_digest, names):
    config = ctd.config_digest(manifest_digest)
    return StandardImage(name, sorted(n for n in names if "@" not in n),
                         sorted(n for n in names if "@" in n), manifest_digest, config,
                         ctd.cri_size(manifest_digest))


def build_standard_images(ctd, workdir):
    """Build the four standard images (see the module doc), import them into ctd, wait until
    the CRI plugin has caught up, and return StandardImages."""
    workdir = Path(workdir)
    bb_repo, repo = "docker.io/imgd-test/busybox", "docker.io/imgd-test/{}".format
    tar = ob.write_docker_archive(ob.busybox_image(), workdir / "busybox-docker.tar",
                                  ["imgd-test/busybox:latest"])
    bb = ctd.import_archive(tar, f"{bb_repo}:1.36", "localhost:5000/imgd-test/bb:v1")
    second = ctd.import_archive(
        _oci_archive(workdir, "second", ob.busybox_image(extra_layers=[_layer("second")]), "1.0"),
        digests=True, base_name=repo("second"))
    untagged = ctd.import_archive(
        _oci_archive(workdir, "untagged", ob.busybox_image(extra_layers=[_layer("untagged")]),
                     "gone"), digests=True, base_name=repo("untagged"))
    tar = ob.write_docker_archive(ob.busybox_image(extra_layers=[_layer("anonymous")]),
                                  workdir / "anonymous-docker.tar", ["imgd-test/anonymous:gone"])
    anonymous = ctd.import_archive(tar)
    removed = [repo("untagged") + ":gone", repo("anonymous") + ":gone"]
    refs = ctd.images()
    digest_of = {n: refs[n]["digest"] for n in bb + second + untagged + anonymous}
    for ref in removed:
        ctd.ctr("images", "rm", ref)
    images = StandardImages(
        _standard_image(ctd, "busybox", digest_of[bb[0]], bb),
        _standard_image(ctd, "second", digest_of[second[0]], second),
        _standard_image(ctd, "untagged", digest_of[untagged[0]],
                        [n for n in untagged if n not in removed]),
        _standard_image(ctd, "anonymous", digest_of[anonymous[0]], []),
        removed)
    ctd.wait_cri_images([i.config_digest for i in images.all()], removed)
    return images


@contextlib.contextmanager
def _run_containerd_dir():
    """Remove /run/containerd afterwards if it did not exist before and is empty then."""
    existed = RUN_CONTAINERD.exists()
    try:
        yield
    finally:
        if not existed and RUN_CONTAINERD.is_dir():
            with contextlib.suppress(OSError):
                for d in sorted(RUN_CONTAINERD.rglob("*"), reverse=True):
                    if d.is_dir():
                        d.rmdir()
                RUN_CONTAINERD.rmdir()


@contextlib.contextmanager
def running_containerd(prefix):
    """A started Containerd in a fresh temp dir; stopped and removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix=f"imgd-{prefix}-", dir="/tmp"))
    try:
        with _run_containerd_dir(), Containerd(d / "ctd") as ctd:
            yield ctd, d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def _containerd_session():
    require_containerd()
    with running_containerd("containerd") as (ctd, d):
        yield ctd, d


@pytest.fixture(scope="session")
def containerd_daemon(_containerd_session):
    """A running Containerd without images (session-scoped)."""
    return _containerd_session[0]


@pytest.fixture(scope="session")
def cri_images(_containerd_session):
    """The standard images imported into the session's containerd (StandardImages)."""
    ctd, d = _containerd_session
    work = d / "images"
    work.mkdir(exist_ok=True)
    return build_standard_images(ctd, work)


@pytest.fixture
def containerd(_containerd_session, cri_images, request):
    """The session's containerd with the standard images, running; restarted after a test
    that stopped it. Its log is printed when the test fails."""
    ctd = _containerd_session[0]
    if not ctd.running:
        ctd.start()
    yield ctd
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(f"\n--- containerd log ({ctd.log_path}) ---\n{ctd.log()[-20000:]}")
    if not ctd.running:
        ctd.start()


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cmd", choices=["serve"])
    ap.parse_args(argv)
    with running_containerd("containerd-serve") as (ctd, d):
        imgs = build_standard_images(ctd, d)
        for img in imgs.all():
            print(f"{img.name:9} {img.config_digest} tags={img.repo_tags} "
                  f"digests={img.repo_digests}")
        print(f"containerd {ctd.endpoint} (log {ctd.log_path}); ^C stops it", flush=True)
        try:
            while ctd.running:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
