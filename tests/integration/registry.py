# SPDX-License-Identifier: MIT
"""Real registries for the image-pull tests: docker-registry (distribution 2.8) on 127.0.0.1
random ports with temp storage, with no auth, htpasswd Basic auth, Docker token auth (served
by a small token server in this process) or blob downloads redirected to another host; and
the test images pushed into them with skopeo.

Use it from a test module with

    pytest_plugins = ["registry"]

(or `from registry import *`; do not mix both styles in one session, or the session-scoped
fixtures are created twice). Fixtures: registry, auth_registry, token_registry, token_server,
redirect_registry, test_images, built_images, big_image, archives, fresh_image.
Without pytest (bench scripts):

    /usr/bin/python3 tests/integration/registry.py serve [--big]    # registry + test images
    /usr/bin/python3 tests/integration/registry.py push-big HOST:PORT REPO:TAG

Every process is stopped and every temp dir removed at the end, also after failures. skopeo
runs with its blob-info cache, auth file and temp files in the fixture's temp dir.

(PYTEST_DONT_REWRITE: test modules import helpers from here before pytest loads it as a
plugin; the marker keeps pytest from warning that it cannot rewrite it.)
"""
import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ocibuild as ob  # noqa: E402
from localserver import LocalProcess, LocalServer  # noqa: E402

__all__ = ["registry", "built_images", "auth_registry", "token_registry", "token_server",
           "redirect_registry", "test_images", "big_image", "archives", "fresh_image",
           "Registry", "TokenServer", "BlobServer",
           "ImageInfo", "LayerInfo", "SkopeoError", "ACCEPT_ALL", "TEST_IMAGE_NAMES",
           "build_test_images", "push_test_images", "build_big_image", "push_big_image",
           "skopeo", "free_port", "temp_dir"]

START_TIMEOUT = 15.0
SKOPEO_TIMEOUT = 180
ACCEPT_ALL = ", ".join([ob.OCI_INDEX, ob.OCI_MANIFEST, ob.DOCKER_LIST, ob.DOCKER_MANIFEST])
TOKEN_SERVICE = "imgd-test-registry"
TOKEN_ISSUER = "imgd-test-token-issuer"
BIG_LAYERS, BIG_LAYER_SIZE = 4, 50 << 20
TEST_IMAGE_NAMES = ("busybox-oci", "busybox-v2s2", "multiarch", "multiarch-v2s2", "layered",
                    "zstd", "uncompressed", "evil-dotdot", "evil-symlink", "evil-absolute")


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require(*tools):
    """Skip the test (naming what is missing) unless each command is on PATH."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip("missing prerequisite: " + ", ".join(
            f"`{t}` ({PACKAGES.get(t, t)})" for t in missing))


PACKAGES = {"docker-registry": "Debian package docker-registry", "skopeo": "package skopeo",
            "htpasswd": "package apache2-utils", "openssl": "package openssl",
            "zstd": "package zstd", "umoci": "package umoci"}


@contextlib.contextmanager
def temp_dir(prefix):
    """A temp dir removed afterwards, whatever happens."""
    d = Path(tempfile.mkdtemp(prefix=f"imgd-{prefix}-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


class SkopeoError(RuntimeError):
    """skopeo exited non-zero; .stderr holds its message."""

    def __init__(self, cmd, code, stderr):
        super().__init__(f"{' '.join(cmd)} exited {code}: {stderr.strip()}")
        self.cmd, self.code, self.stderr = cmd, code, stderr


def skopeo_env(workdir):
    """Environment that keeps skopeo's state in workdir. As root, containers/image writes its
    blob-info cache to /var/lib/containers/cache; _CONTAINERS_ROOTLESS_UID makes it use
    $XDG_DATA_HOME instead. The auth file is an empty one of ours, the policy is --insecure."""
    workdir = Path(workdir)
    (workdir / "xdg").mkdir(parents=True, exist_ok=True)
    (workdir / "tmp").mkdir(exist_ok=True)
    auth = workdir / "auth.json"
    if not auth.exists():
        auth.write_text("{}")
    env = dict(os.environ)
    env.update({"REGISTRY_AUTH_FILE": str(auth), "XDG_DATA_HOME": str(workdir / "xdg"),
                "XDG_RUNTIME_DIR": str(workdir / "xdg"), "TMPDIR": str(workdir / "tmp"),
                "_CONTAINERS_ROOTLESS_UID": str(os.getuid() or 1000)})
    return env


def skopeo(args, workdir, timeout=SKOPEO_TIMEOUT, check=True):
    """Run `skopeo --insecure-policy ARGS` with state kept in workdir; raises SkopeoError."""
    cmd = ["skopeo", "--insecure-policy", *map(str, args)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=skopeo_env(workdir),
                       timeout=timeout)
    if check and p.returncode != 0:
        raise SkopeoError(cmd, p.returncode, p.stderr)
    return p


def _parse_challenge(header):
    scheme, _, rest = header.partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


def _source_spec(src, src_ref=None):
    """A skopeo source from a layout dir, an oci-/docker-archive tar, or a transport string."""
    if isinstance(src, str) and re.match(r"^(oci|oci-archive|docker-archive|dir|docker):", src):
        return src
    p = Path(src)
    if p.is_dir():
        if src_ref is None:
            refs = ob.Layout(p).refs()
            if len(refs) != 1:
                raise ValueError(f"{p} holds refs {refs}: pass src_ref")
            src_ref = refs[0]
        return f"oci:{p}:{src_ref}"
    with tarfile.open(p) as tf:
        names = {n.lstrip("./") for n in tf.getnames()}
    if "oci-layout" in names:
        return f"oci-archive:{p}" + (f":{src_ref}" if src_ref else "")
    if "manifest.json" in names:
        return f"docker-archive:{p}" + (f":{src_ref}" if src_ref else "")
    raise ValueError(f"{p} is neither an oci-archive nor a docker-archive")


# ---------------------------------------------------------------------------------------------
# docker-registry


class Registry(LocalProcess):
    """A docker-registry process. Attributes: host ("127.0.0.1:PORT"), url, port, storage,
    workdir, log_path, username/password (None without auth), auth_kind (None|"htpasswd"|
    "token"), token_server (token registries), blob_server (redirecting registries), images
    ({repo:tag: ImageInfo} pushed by the fixtures)."""

    stop_timeout = 5

    def __init__(self, workdir, auth=None, username=None, password=None, token_server=None,
                 storage=None, extra_config=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.storage = Path(storage) if storage else self.workdir / "storage"
        self.extra_config = extra_config or {}
        self.log_path = self.workdir / "registry.log"
        self.auth = auth
        self.auth_kind = next(iter(auth)) if auth else None
        self.username, self.password = username, password
        self.token_server = token_server
        self.blob_server = None
        self.images = {}
        self.port = None

    # -- lifecycle
    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    @property
    def url(self):
        return f"http://{self.host}"

    @property
    def creds(self):
        """"user:pass" for skopeo --creds, or None."""
        return f"{self.username}:{self.password}" if self.username else None

    def start(self):
        self.storage.mkdir(exist_ok=True)
        for _attempt in range(3):  # the port may be taken between free_port() and bind
            self.port = free_port()
            cfg = {"version": "0.1",
                   "log": {"level": "info", "formatter": "json",
                           "accesslog": {"disabled": True}},
                   "storage": {"filesystem": {"rootdirectory": str(self.storage)},
                               "delete": {"enabled": True},
                               "maintenance": {"uploadpurging": {"enabled": False}}},
                   "http": {"addr": self.host, "secret": secrets.token_hex(16)}}
            if self.auth:
                cfg["auth"] = self.auth
            cfg.update(self.extra_config)
            conf = self.workdir / "registry.yml"
            conf.write_text(json.dumps(cfg, indent=1))  # JSON is YAML
            self._spawn(["docker-registry", "serve", str(conf)])
            try:
                if self._wait_ready():
                    return self
            except BaseException:
                self.stop()
                raise
            self.stop()
        raise RuntimeError(f"docker-registry did not start:\n{self.log()}")

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if "address already in use" in self.log():
                    return False
                raise RuntimeError(f"docker-registry exited {self.proc.returncode}:\n"
                                   f"{self.log()}")
            try:
                r = requests.get(self.url + "/v2/", timeout=1)
                if r.status_code == (401 if self.auth else 200):
                    return True
            except requests.ConnectionError:
                pass
            time.sleep(0.01)
        raise RuntimeError(f"docker-registry not ready after {START_TIMEOUT}s:\n{self.log()}")

    def access_log(self):
        """Requests the registry answered, oldest first: [{method, uri, status, useragent}]
        (from its JSON log: "response completed" lines)."""
        out = []
        for line in self.log().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("msg") == "response completed":
                out.append({"method": rec.get("http.request.method"),
                            "uri": rec.get("http.request.uri"),
                            "status": rec.get("http.response.status"),
                            "useragent": rec.get("http.request.useragent")})
        return out

    # -- HTTP with the registry's own auth
    def request(self, method, path, headers=None, authenticate=True, **kw):
        """One request to the registry (path starts with /v2/). On a 401 it answers the
        challenge like a client would: Basic with .username/.password, or Bearer via the
        token server (with Basic credentials), then retries once."""
        kw.setdefault("timeout", 30)
        kw.setdefault("allow_redirects", False)
        headers = dict(headers or {})
        r = requests.request(method, self.url + path, headers=headers, **kw)
        if r.status_code != 401 or not authenticate or not self.auth:
            return r
        scheme, params = _parse_challenge(r.headers.get("WWW-Authenticate", ""))
        if scheme == "basic":
            headers["Authorization"] = "Basic " + base64.b64encode(
                f"{self.username}:{self.password}".encode()).decode()
        elif scheme == "bearer":
            q = {"service": params.get("service", "")}
            if params.get("scope"):
                q["scope"] = params["scope"]
            creds = (self.username, self.password) if self.username else None
            t = requests.get(params["realm"], params=q, auth=creds, timeout=10)
            t.raise_for_status()
            headers["Authorization"] = "Bearer " + t.json()["token"]
        else:
            return r
        return requests.request(method, self.url + path, headers=headers, **kw)

    def manifest(self, repo, ref, accept=ACCEPT_ALL):
        """(bytes, Content-Type, Docker-Content-Digest) of a manifest, or raises."""
        r = self.request("GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": accept})
        r.raise_for_status()
        return r.content, r.headers["Content-Type"], r.headers.get("Docker-Content-Digest")

    def manifest_digest(self, repo, tag):
        """Docker-Content-Digest of repo:tag from a HEAD with every modern Accept type."""
        r = self.request("HEAD", f"/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT_ALL})
        r.raise_for_status()
        return r.headers["Docker-Content-Digest"]

    def blob(self, repo, digest):
        r = self.request("GET", f"/v2/{repo}/blobs/{digest}", allow_redirects=True)
        r.raise_for_status()
        return r.content

    def tags(self, repo):
        r = self.request("GET", f"/v2/{repo}/tags/list")
        r.raise_for_status()
        return r.json().get("tags") or []

    # -- storage
    def blob_path(self, digest):
        """The file holding a blob in the registry storage."""
        alg, hexd = digest.split(":", 1)
        return (self.storage / "docker" / "registry" / "v2" / "blobs" / alg / hexd[:2] / hexd
                / "data")

    def corrupt_blob(self, digest, offset=None, count=16):
        """Flip `count` bytes in place (middle of the blob by default), keeping the size: the
        registry keeps serving it under the old digest. Returns the original bytes for
        restore_blob(). Only corrupt blobs no other test shares (see fresh_image)."""
        p = self.blob_path(digest)
        data = p.read_bytes()
        off = len(data) // 2 if offset is None else offset
        bad = bytearray(data)
        for i in range(off, min(off + count, len(bad))):
            bad[i] ^= 0xFF
        p.write_bytes(bytes(bad))
        return data

    def restore_blob(self, digest, data):
        self.blob_path(digest).write_bytes(data)

    @contextlib.contextmanager
    def corrupted(self, digest, **kw):
        """Context manager: the blob is corrupt inside, restored afterwards."""
        orig = self.corrupt_blob(digest, **kw)
        try:
            yield self.blob_path(digest)
        finally:
            self.restore_blob(digest, orig)

    # -- push / pull with skopeo
    def push(self, src, ref, format="oci", src_ref=None, all_images=True, extra_args=()):
        """Copy an image into this registry with skopeo and return its manifest digest.

        src: an OCI layout dir (src_ref picks the ref; needed when it holds several), an
        oci-archive or docker-archive tar, or a skopeo transport string ("oci:DIR:REF").
        format: "oci" (from OCI sources with --preserve-digests: blobs and manifests arrive
        byte for byte), "v2s2" (--format v2s2: Docker media types, new manifest digest) or
        None (keep, --preserve-digests)."""
        spec = _source_spec(src, src_ref)
        digestfile = self.workdir / f"digest-{secrets.token_hex(4)}"
        args = ["copy", "--quiet", "--dest-tls-verify=false", "--digestfile", digestfile]
        if all_images:
            args.append("--all")
        oci_src = spec.startswith(("oci:", "oci-archive:"))
        if format == "v2s2":
            args += ["--format", "v2s2"]
        elif format == "oci" and not oci_src:
            args += ["--format", "oci"]
        else:
            args.append("--preserve-digests")
        if self.creds:
            args += ["--dest-creds", self.creds]
        args += [*extra_args, spec, f"docker://{self.host}/{ref}"]
        skopeo(args, self.workdir)
        digest = digestfile.read_text().strip()
        digestfile.unlink()
        return digest

    def pull(self, ref, dest_dir, dest_ref=None, all_images=True, creds=True, extra_args=(),
             transport="oci"):
        """skopeo copy docker://HOST/REF oci:DEST_DIR:DEST_REF (digests preserved); returns
        the manifest digest skopeo wrote. transport="dir" writes skopeo's dir: format
        instead (needed for Docker manifest lists, which oci: cannot hold unconverted)."""
        digestfile = self.workdir / f"digest-{secrets.token_hex(4)}"
        tag = ref.rsplit("@", 1)[0].rsplit("/", 1)[-1].partition(":")[2] or "latest"
        args = ["copy", "--quiet", "--src-tls-verify=false", "--preserve-digests",
                "--digestfile", digestfile]
        if all_images:
            args.append("--all")
        if creds and self.creds:
            args += ["--src-creds", self.creds]
        dest = f"oci:{dest_dir}:{dest_ref or tag}" if transport == "oci" else f"dir:{dest_dir}"
        args += [*extra_args, f"docker://{self.host}/{ref}", dest]
        skopeo(args, self.workdir)
        digest = digestfile.read_text().strip()
        digestfile.unlink()
        return digest

    # -- push without skopeo (any manifest, any media type)
    def put_blob(self, repo, data):
        """Upload one blob (POST + PUT, the two-step path 2.8 needs); returns its digest."""
        digest = ob.sha256(data)
        if self.request("HEAD", f"/v2/{repo}/blobs/{digest}").status_code == 200:
            return digest
        r = self.request("POST", f"/v2/{repo}/blobs/uploads/")
        if r.status_code != 202:
            raise RuntimeError(f"upload start: {r.status_code} {r.text}")
        loc = urllib.parse.urljoin(self.url + "/", r.headers["Location"])
        sep = "&" if "?" in loc else "?"
        loc = loc[len(self.url):] + f"{sep}digest={urllib.parse.quote(digest)}"
        r = self.request("PUT", loc, data=data,
                         headers={"Content-Type": "application/octet-stream"})
        if r.status_code != 201:
            raise RuntimeError(f"upload {digest}: {r.status_code} {r.text}")
        return digest

    def put_manifest(self, repo, ref, data, media_type):
        """PUT raw manifest bytes under a tag or digest; returns Docker-Content-Digest."""
        r = self.request("PUT", f"/v2/{repo}/manifests/{ref}", data=data,
                         headers={"Content-Type": media_type})
        if r.status_code != 201:
            raise RuntimeError(f"manifest {repo}:{ref}: {r.status_code} {r.text}")
        return r.headers["Docker-Content-Digest"]

    def push_raw(self, obj, ref):
        """Push an ocibuild Image or Index over HTTP as built (Docker media types included,
        which skopeo's oci: transport refuses to read); returns the top digest."""
        repo, _, tag = ref.rpartition(":")
        images = obj.images if isinstance(obj, ob.Index) else [obj]
        for img in images:
            for blob in [*img.layers, *img.extra_blobs, img.config_blob]:
                self.put_blob(repo, blob.data)
            self.put_manifest(repo, img.digest, img.manifest_blob.data, img.media_type)
        top = obj.blob if isinstance(obj, ob.Index) else obj.manifest_blob
        return self.put_manifest(repo, tag, top.data, top.media_type)


# ---------------------------------------------------------------------------------------------
# Token server


class _TokenHandler(BaseHTTPRequestHandler):
    server_version = "imgd-test-token/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.owner._handle(self, "GET")

    def do_POST(self):
        self.server.owner._handle(self, "POST")


class TokenServer(LocalServer):
    """A Docker token server ("Bearer" flow, distribution's token spec) on 127.0.0.1.

    GET /token?service=S&scope=repository:NAME:ACTIONS[&scope=...]: anonymous callers get
    `pull` on repositories under "public/" only; Basic username/password get pull and push on
    every repository (and `*` on registry:catalog:*); a wrong password or another scheme →
    401; another service → 400; POST (OAuth2 form) → 404, so clients fall back to GET.
    Answers {"token", "access_token", "expires_in", "issued_at"} with an ES256 JWT whose header
    carries x5c = the certificate in the registry's rootcertbundle.

    Tweak (reset() restores): expires_in, send_token / send_access_token (drop either field),
    force_status (answer every request with this status and an error body).
    requests: one dict per request: method, path, query (dict of lists), scopes, service,
    authorization (bool), user, status, granted (the access claim)."""
    handler = _TokenHandler

    def __init__(self, workdir, username="imgd-user", password=None, service=TOKEN_SERVICE,
                 issuer=TOKEN_ISSUER):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.username = username
        self.password = password or "pw-" + secrets.token_hex(8)
        self.service, self.issuer = service, issuer
        self.requests = []
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        """Forget recorded requests and restore the default behaviour."""
        with self._lock:
            self.requests.clear()
        self.expires_in = 300
        self.send_token = True
        self.send_access_token = True
        self.force_status = None

    @property
    def realm(self):
        return f"http://127.0.0.1:{self.port}/token"

    def start(self):
        self.key_path = self.workdir / "token-key.pem"
        self.cert_path = self.workdir / "token-cert.pem"
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout",
                        "-out", str(self.key_path)], check=True, capture_output=True)
        subprocess.run(["openssl", "req", "-new", "-x509", "-key", str(self.key_path),
                        "-out", str(self.cert_path), "-days", "2", "-subj",
                        f"/CN={self.issuer}"], check=True, capture_output=True)
        pem = self.cert_path.read_text()
        body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
        self.x5c = "".join(body.split())  # base64 of the DER certificate
        self._key_pem = self.key_path.read_bytes()
        return super().start()

    # -- tokens
    def make_token(self, subject, access, expires_in=None, signer=None):
        """A signed JWT for the registry. signer: None (PyJWT when importable, else by hand),
        "pyjwt" or "manual"."""
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": subject, "aud": self.service,
                  "exp": now + (self.expires_in if expires_in is None else expires_in),
                  "nbf": now - 1, "iat": now, "jti": secrets.token_hex(16), "access": access}
        header = {"typ": "JWT", "alg": "ES256", "x5c": [self.x5c]}
        if signer in (None, "pyjwt"):
            try:
                import jwt
            except ImportError:
                if signer == "pyjwt":
                    raise
            else:
                return jwt.encode(claims, self._key_pem, algorithm="ES256",
                                  headers={"x5c": [self.x5c]})
        return _jwt_es256(header, claims, self._key_pem)

    @staticmethod
    def parse_scope(scope):
        """("repository", "name", ["pull", "push"]) from `type:name:actions`; the name may hold
        `host:port`, so split at the first and the last colon."""
        typ, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        return typ, name, [a for a in actions.split(",") if a]

    def allowed(self, user, typ, name):
        if typ == "repository":
            if user:
                return {"pull", "push"}
            return {"pull"} if name.startswith("public/") else set()
        if typ == "registry" and name == "catalog" and user:
            return {"*"}
        return set()

    def _handle(self, h, method):
        url = urllib.parse.urlsplit(h.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        if method == "POST":
            length = int(h.headers.get("Content-Length") or 0)
            body = h.rfile.read(length).decode(errors="replace") if length else ""
            query = {**query, **urllib.parse.parse_qs(body)}
        authz = h.headers.get("Authorization")
        scopes = [s for sc in query.get("scope", []) for s in sc.split(" ") if s]
        rec = {"method": method, "path": url.path, "query": query, "scopes": scopes,
               "service": (query.get("service") or [None])[0],
               "authorization": authz is not None, "user": None, "status": None,
               "granted": []}
        status, payload, extra_headers = self._answer(method, url.path, rec, authz, scopes)
        rec["status"] = status
        with self._lock:
            self.requests.append(rec)
        data = json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for k, v in extra_headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def _answer(self, method, path, rec, authz, scopes):
        if self.force_status is not None:
            return self.force_status, {"errors": [{"code": "FORCED", "message":
                                                   "forced by the test"}]}, {}
        if path != "/token" or method != "GET":
            return 404, {"errors": [{"code": "NOT_FOUND", "message": "GET /token only"}]}, {}
        user = None
        if authz is not None:
            scheme, _, cred = authz.partition(" ")
            try:
                u, _, p = base64.b64decode(cred, validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                u = p = None
            if scheme.lower() != "basic" or (u, p) != (self.username, self.password):
                return 401, {"details": "incorrect username or password"}, {
                    "WWW-Authenticate": 'Basic realm="imgd-test-token"'}
            user = u
        rec["user"] = user
        if rec["service"] != self.service:
            return 400, {"details": f"unknown service {rec['service']!r}"}, {}
        access = []
        for scope in scopes:
            typ, name, actions = self.parse_scope(scope)
            ok = self.allowed(user, typ, name)
            access.append({"type": typ, "name": name,
                           "actions": [a for a in actions if a in ok or "*" in ok]})
        rec["granted"] = access
        token = self.make_token(user or "", access)
        body = {"expires_in": self.expires_in,
                "issued_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        if self.send_token:
            body["token"] = token
        if self.send_access_token:
            body["access_token"] = token
        return 200, body, {}


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt_es256(header, claims, key_pem):
    """A compact JWS signed with ES256 (raw r||s), by hand with python3-cryptography."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    key = serialization.load_pem_private_key(key_pem, password=None)
    signing_input = (_b64url(ob.canonical_json(header)) + "." +
                     _b64url(ob.canonical_json(claims)))
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


# ---------------------------------------------------------------------------------------------
# Blob server (where a redirecting registry sends blob downloads)


class _BlobHandler(BaseHTTPRequestHandler):
    server_version = "imgd-test-blobs/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.owner._handle(self, "GET")

    def do_HEAD(self):
        self.server.owner._handle(self, "HEAD")


class BlobServer(LocalServer):
    """Stands in for the object store / CDN that registries redirect blob GETs to: serves the
    files of a registry storage dir (GET/HEAD, one `Range: bytes=a-b`), without any auth, on
    127.0.0.1 but named `localhost:PORT` in URLs, so it is another host than the registry
    and a client must not send the registry's Authorization there.

    requests: [{method, path, authorization (bool), range, status}]; reset() clears them."""
    handler = _BlobHandler

    PREFIX = "/docker/registry/v2/blobs/"

    def __init__(self, root):
        self.root = Path(root)
        self.requests = []
        self._lock = threading.Lock()

    @property
    def host(self):
        return f"localhost:{self.port}"

    @property
    def url(self):
        return f"http://{self.host}"

    def reset(self):
        with self._lock:
            self.requests.clear()


    def _handle(self, h, method):
        path = urllib.parse.urlsplit(h.path).path
        rng = h.headers.get("Range")
        rec = {"method": method, "path": path, "range": rng,
               "authorization": h.headers.get("Authorization") is not None, "status": 404}
        data = None
        rel = Path(path[len(self.PREFIX):]) if path.startswith(self.PREFIX) else None
        if rel is not None and ".." not in rel.parts:
            f = self.root / self.PREFIX.strip("/") / rel
            if f.is_file():
                data = f.read_bytes()
        headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
        status, body = 404, b""
        if data is not None:
            status, body = 200, data
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
            if m:
                start = int(m.group(1))
                end = int(m.group(2)) if m.group(2) else len(data) - 1
                if start >= len(data):
                    status, body = 416, b""
                    headers["Content-Range"] = f"bytes */{len(data)}"
                else:
                    end = min(end, len(data) - 1)
                    status, body = 206, data[start:end + 1]
                    headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        rec["status"] = status
        with self._lock:
            self.requests.append(rec)
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if method == "GET":
            h.wfile.write(body)


# ---------------------------------------------------------------------------------------------
# Test images


@dataclass
class LayerInfo:
    digest: str
    diff_id: str
    size: int
    media_type: str


@dataclass
class ImageInfo:
    """What a pull test needs to know about a pushed image.

    ref: "127.0.0.1:PORT/repo:tag"; repo, tag; digest: the manifest (or index) digest in the
    registry; media_type: its media type; config_digest, layers [LayerInfo], diff_ids (empty
    for an index); platforms: {"linux/amd64": ImageInfo, ...} for an index; files:
    {"/path": ocibuild.describe()} that must exist after unpacking (regular files also have
    "size" and "sha256"; "content" when small); absent: paths that must not exist; extra:
    image-specific facts (evil member names, host paths that must not appear, ...);
    layout/layout_ref: the OCI layout it was pushed from."""
    name: str
    ref: str
    repo: str
    tag: str
    digest: str
    media_type: str
    config_digest: str = None
    layers: list = field(default_factory=list)
    diff_ids: list = field(default_factory=list)
    platforms: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)
    absent: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    layout: Path = None
    layout_ref: str = None
    config: dict = None

    @property
    def ref_by_digest(self):
        return f"{self.ref.rsplit(':', 1)[0]}@{self.digest}"

    @property
    def path_ref(self):
        """repo:tag without the host, as push()/pull() take it."""
        return f"{self.repo}:{self.tag}"


def _file_facts(layers_entries):
    files = {}
    for path, entry in ob.merged_view(layers_entries).items():
        d = ob.describe(entry)
        if d["type"] == "file":
            data = d.pop("content")
            d["size"] = len(data)
            d["sha256"] = ob.sha256(data)
            if len(data) <= 4096:
                d["content"] = data
        files["/" + path] = d
    return files


def _absent(layers_entries):
    present = set(ob.merged_view(layers_entries))
    seen = {e.path for entries in layers_entries for e in entries}
    return sorted("/" + p for p in seen - present)


@dataclass
class _Spec:
    name: str
    obj: object  # ob.Image or ob.Index
    files: dict = field(default_factory=dict)
    absent: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    format: str = "oci"  # push format; "raw" = push_raw (no skopeo)


def _image_spec(name, image, **kw):
    entries = [layer.entries for layer in image.layers]
    return _Spec(name, image, _file_facts(entries), _absent(entries), **kw)


def build_test_images(workdir):
    """Build every standard test image into the OCI layout workdir/oci (refs = names).
    Returns {name: _Spec}. Offline; ~0.3 s."""
    F, D = ob.File, ob.Dir
    specs = {}
    bb = ob.busybox_layer()
    busybox = ob.busybox_image()
    specs["busybox-oci"] = _image_spec("busybox-oci", busybox)
    specs["busybox-v2s2"] = _image_spec("busybox-v2s2", busybox, format="v2s2")

    per_arch = {}
    for arch, variant in (("amd64", None), ("arm64", "v8")):
        layer = ob.build_layer([D("etc"), F("etc/arch", f"{arch}\n")])
        per_arch[(arch, variant)] = ob.build_image([bb, layer], arch=arch, variant=variant)
    amd64 = per_arch[("amd64", None)]
    index = ob.build_index(list(per_arch.values()), attestations=[amd64])
    specs["multiarch"] = _Spec("multiarch", index, extra={
        "attestation": index.images[-1].digest, "per_arch": per_arch})

    docker_per_arch = {}
    dbb = ob.busybox_layer(media="docker")
    for arch, variant in (("amd64", None), ("arm64", "v8")):
        layer = ob.build_layer([D("etc"), F("etc/arch", f"{arch}\n")], media="docker")
        docker_per_arch[(arch, variant)] = ob.build_image([dbb, layer], arch=arch,
                                                          variant=variant, media="docker")
    specs["multiarch-v2s2"] = _Spec("multiarch-v2s2",
                                    ob.build_index(list(docker_per_arch.values()),
                                                   media="docker"),
                                    format="raw", extra={"per_arch": docker_per_arch})

    l2 = ob.build_layer([D("data"), F("data/a", "a\n"), F("data/b", "b\n"), D("data/dir"),
                         F("data/dir/x", "x\n"), D("data/keep"), F("data/keep/k", "k\n")])
    l3 = ob.build_layer([ob.Whiteout("data/a"), ob.Opaque("data/dir"), F("data/dir/y", "y\n")])
    specs["layered"] = _image_spec("layered", ob.build_image([bb, l2, l3]))

    lz = ob.build_layer([D("zstd"), F("zstd/hello", "hello from a zstd layer\n")],
                        compression="zstd")
    specs["zstd"] = _image_spec("zstd", ob.build_image([bb, lz]))
    lu = ob.build_layer([D("plain"), F("plain/hello", "hello from a plain tar layer\n")],
                        compression="none")
    specs["uncompressed"] = _image_spec("uncompressed", ob.build_image([bb, lu]))

    base_files, base_absent = _file_facts([bb.entries]), []
    R = ob.Raw
    dotdot = ob.build_layer([D("a"), R("../escape-dotdot", data="escaped via ..\n"),
                             R("a/../../escape2", data="escaped via a/../..\n")])
    specs["evil-dotdot"] = _Spec(
        "evil-dotdot", ob.build_image([bb, dotdot]), base_files, base_absent,
        extra={"evil_members": ["../escape-dotdot", "a/../../escape2"],
               "outside_rootfs": ["../escape-dotdot", "../escape2"]})
    sym = ob.build_layer([
        ob.Symlink("link", "/tmp"),
        R("link/escape-symlink", data="escaped via an absolute symlink\n"),
        ob.Symlink("uplink", "../../../../../../../../../../tmp"),
        R("uplink/escape-symlink-rel", data="escaped via a relative symlink\n"),
        R("passwd-hardlink", tarfile.LNKTYPE, linkname="/etc/passwd"),
        R("passwd-hardlink-rel", tarfile.LNKTYPE, linkname="../../../../../../../../etc/passwd"),
    ])
    specs["evil-symlink"] = _Spec(
        "evil-symlink", ob.build_image([bb, sym]), base_files, base_absent,
        extra={"evil_members": ["link/escape-symlink", "uplink/escape-symlink-rel",
                                "passwd-hardlink", "passwd-hardlink-rel"],
               "host_paths": ["/tmp/escape-symlink", "/tmp/escape-symlink-rel"],
               "hardlink_targets": ["/etc/passwd"]})
    ab = ob.build_layer([R("/abs-escape", data="escaped via an absolute name\n")])
    specs["evil-absolute"] = _Spec(
        "evil-absolute", ob.build_image([bb, ab]), base_files, base_absent,
        extra={"evil_members": ["/abs-escape"], "host_paths": ["/abs-escape"]})

    layout = ob.Layout(Path(workdir) / "oci")
    for name, spec in specs.items():
        if spec.format != "raw":
            layout.add(spec.obj, ref=name)
    return specs


def _info_from_registry(reg, name, repo, tag, spec, layout):
    """Read the pushed manifest back and describe it."""
    body, ctype, digest = reg.manifest(repo, tag)
    m = json.loads(body)
    info = ImageInfo(name=name, ref=f"{reg.host}/{repo}:{tag}", repo=repo, tag=tag,
                     digest=digest, media_type=ctype.split(";")[0], files=spec.files,
                     absent=spec.absent, extra=dict(spec.extra),
                     layout=layout if spec.format != "raw" else None,
                     layout_ref=spec.name if spec.format != "raw" else None)
    info.extra.pop("per_arch", None)
    if "manifests" in m:
        per_arch = spec.extra.get("per_arch", {})
        for desc in m["manifests"]:
            p = desc.get("platform", {})
            key = "/".join(x for x in (p.get("os"), p.get("architecture"), p.get("variant"))
                           if x)
            if p.get("os") == "unknown":
                info.extra.setdefault("skip", []).append(desc["digest"])
                continue
            child = _info_from_registry(reg, name, repo, desc["digest"], _Spec(name, None),
                                        layout)
            child.ref, child.tag = info.ref, tag
            img = per_arch.get((p.get("architecture"), p.get("variant")))
            if img is not None:
                entries = [layer.entries for layer in img.layers]
                child.files, child.absent = _file_facts(entries), _absent(entries)
            info.platforms[key] = child
        return info
    cfg_desc = m["config"]
    info.config_digest = cfg_desc["digest"]
    info.config = json.loads(reg.blob(repo, cfg_desc["digest"]))
    info.diff_ids = list(info.config["rootfs"]["diff_ids"])
    info.layers = [LayerInfo(d["digest"], diff, d["size"], d["mediaType"])
                   for d, diff in zip(m["layers"], info.diff_ids)]
    return info


def push_test_images(reg, specs, layout, repo_prefix="test", names=None):
    """Push built specs to a Registry as REPO_PREFIX/NAME:latest; returns {name: ImageInfo}
    and checks that what the registry serves has the digests that were built."""
    out = {}
    for name, spec in specs.items():
        if names is not None and name not in names:
            continue
        repo, tag = f"{repo_prefix}/{name}", "latest"
        if spec.format == "raw":
            pushed = reg.push_raw(spec.obj, f"{repo}:{tag}")
        else:
            pushed = reg.push(layout, f"{repo}:{tag}", format=spec.format, src_ref=spec.name)
        info = _info_from_registry(reg, name, repo, tag, spec, layout)
        if pushed != info.digest:
            raise RuntimeError(f"{name}: pushed {pushed}, registry serves {info.digest}")
        if spec.format != "v2s2" and info.digest != spec.obj.digest:
            raise RuntimeError(f"{name}: built {spec.obj.digest}, registry has {info.digest}")
        out[name] = info
        reg.images[f"{repo}:{tag}"] = info
    return out


def build_big_image(workdir, layers=BIG_LAYERS, layer_size=BIG_LAYER_SIZE, seed=20261122):
    """busybox + `layers` layers of one `layer_size` random file each (/data/l<N>.bin, gzip
    stored blocks, reproducible per seed) into the layout workdir/oci-big, ref "big".
    Returns (layout_dir, ref, ocibuild.Image); the Image's blob data is dropped after
    writing. 4 × 50 MiB: ~1-2 s."""
    from concurrent.futures import ThreadPoolExecutor
    layout = ob.Layout(Path(workdir) / "oci-big")

    def one(i):
        layer = ob.random_layer(f"data/l{i}.bin", layer_size, seed + i)
        layout.write_blob(layer)
        layer.data = layer.tar = None
        layer.entries = [ob.Dir("data"), ob.File(f"data/l{i}.bin", b"")]
        return layer

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        big_layers = list(pool.map(one, range(1, layers + 1)))
    image = ob.build_image([ob.busybox_layer(), *big_layers])
    layout.add(image, ref="big")
    return layout.path, "big", image


def push_big_image(registry_host, ref="test/big:latest", workdir=None, creds=None, **build_kw):
    """Build the big image (in workdir, or a temp dir removed afterwards; build_kw go to
    build_big_image) and push it to a running registry at registry_host ("127.0.0.1:PORT")
    with skopeo; returns the manifest digest."""
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = stack.enter_context(temp_dir("big"))
        layout, src_ref, _ = build_big_image(workdir, **build_kw)
        reg = Registry(workdir)
        reg.port = int(registry_host.rsplit(":", 1)[1])
        if creds:
            reg.username, reg.password = creds.split(":", 1)
        return reg.push(layout, ref, src_ref=src_ref)


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="session")
def registry():
    """docker-registry on 127.0.0.1:<free port>, no auth, temp storage, delete enabled;
    stopped and removed at session end. A Registry: .host, .url, .storage, .push(),
    .pull(), .push_raw(), .blob_path(), .corrupt_blob()/.corrupted(), .manifest_digest(),
    .manifest(), .request(), .access_log(), .log()."""
    require("docker-registry", "skopeo")
    with temp_dir("registry") as d, Registry(d) as reg:
        yield reg


@pytest.fixture(scope="session")
def built_images():
    """The standard test images built once (offline) into one OCI layout, refs = image names:
    (specs {name: spec with .obj = ocibuild Image/Index, .files, .absent, .extra}, layout)."""
    require("zstd")
    if not ob.BUSYBOX.is_file():
        pytest.skip(f"missing prerequisite: {ob.BUSYBOX} (package busybox-static)")
    with temp_dir("images") as d:
        specs = build_test_images(d)
        yield specs, d / "oci"


@pytest.fixture(scope="session")
def auth_registry(built_images):
    """A second docker-registry with htpasswd Basic auth (realm "basic-realm"); .username,
    .password, .creds ("user:pass"); push()/pull() pass the credentials. Holds
    "private/busybox:latest" (busybox-oci) in .images."""
    require("docker-registry", "skopeo", "htpasswd")
    specs, layout = built_images
    with temp_dir("auth-registry") as d:
        user, pw = "imgd-user", "pw-" + secrets.token_hex(8)
        htp = subprocess.run(["htpasswd", "-Bbn", user, pw], capture_output=True, text=True,
                             check=True).stdout
        (d / "htpasswd").write_text(htp)
        auth = {"htpasswd": {"realm": "basic-realm", "path": str(d / "htpasswd")}}
        with Registry(d, auth=auth, username=user, password=pw) as reg:
            push_test_images(reg, {"busybox": specs["busybox-oci"]}, layout, "private")
            reg.images = {"private/busybox:latest": reg.images["private/busybox:latest"]}
            yield reg


@pytest.fixture(scope="session")
def token_registry(built_images):
    """A third docker-registry with token auth (realm = .token_server.realm, service
    "imgd-test-registry", issuer "imgd-test-token-issuer") and its TokenServer. .username/
    .password are the token server's user. Holds "public/busybox:latest" and
    "private/busybox:latest" (busybox-oci). Use the token_server fixture to get the server
    with its request record cleared."""
    require("docker-registry", "skopeo", "openssl")
    pytest.importorskip("cryptography", reason="missing prerequisite: python3-cryptography")
    specs, layout = built_images
    with temp_dir("token-registry") as d, TokenServer(d / "token") as ts:
        auth = {"token": {"realm": ts.realm, "service": ts.service, "issuer": ts.issuer,
                          "rootcertbundle": str(ts.cert_path)}}
        with Registry(d / "registry", auth=auth, username=ts.username, password=ts.password,
                      token_server=ts) as reg:
            for prefix in ("public", "private"):
                push_test_images(reg, {"busybox": specs["busybox-oci"]}, layout, prefix)
            ts.reset()
            yield reg


@pytest.fixture
def token_server(token_registry):
    """The token registry's TokenServer with its record cleared and defaults restored (also
    after the test)."""
    ts = token_registry.token_server
    ts.reset()
    yield ts
    ts.reset()


@pytest.fixture(scope="session")
def redirect_registry(registry, test_images):
    """A docker-registry on the same storage as `registry` (so every test image is there),
    with htpasswd Basic auth and distribution's `redirect` storage middleware: blob GET/HEAD
    answer 307 with Location http://localhost:PORT/docker/registry/v2/blobs/.../data, served
    by .blob_server (a BlobServer recording whether Authorization was forwarded). .images
    as in test_images; manifests are served directly."""
    require("docker-registry", "skopeo", "htpasswd")
    with temp_dir("redirect-registry") as d, BlobServer(registry.storage) as blobs:
        user, pw = "imgd-user", "pw-" + secrets.token_hex(8)
        htp = subprocess.run(["htpasswd", "-Bbn", user, pw], capture_output=True, text=True,
                             check=True).stdout
        (d / "htpasswd").write_text(htp)
        auth = {"htpasswd": {"realm": "basic-realm", "path": str(d / "htpasswd")}}
        mw = {"middleware": {"storage": [{"name": "redirect",
                                          "options": {"baseurl": blobs.url}}]}}
        with Registry(d, auth=auth, username=user, password=pw, storage=registry.storage,
                      extra_config=mw) as reg:
            reg.blob_server = blobs
            reg.images = dict(registry.images)
            yield reg


@pytest.fixture(scope="session")
def test_images(registry, built_images):
    """The standard images pushed once to `registry` as test/<name>:latest:
    {name: ImageInfo}. Names: busybox-oci, busybox-v2s2, multiarch (OCI index: linux/amd64 and
    linux/arm64/v8 with /etc/arch, plus an unknown/unknown attestation in extra["skip"]),
    multiarch-v2s2 (Docker manifest list, same two platforms), layered (whiteout + opaque),
    zstd, uncompressed, evil-dotdot, evil-symlink, evil-absolute."""
    specs, layout = built_images
    return push_test_images(registry, specs, layout)


@pytest.fixture(scope="session")
def big_image(registry):
    """busybox + 4 × 50 MiB random layers (~200 MB) pushed as test/big:latest (ImageInfo)."""
    if not ob.BUSYBOX.is_file():
        pytest.skip(f"missing prerequisite: {ob.BUSYBOX} (package busybox-static)")
    with temp_dir("big") as d:
        layout, ref, image = build_big_image(d)
        spec = _Spec("big", image)
        spec.files = {f"/data/l{i}.bin": {"type": "file", "size": BIG_LAYER_SIZE}
                      for i in range(1, BIG_LAYERS + 1)}
        yield push_test_images(registry, {"big": spec}, layout)["big"]


class _ArchiveSet:
    """Paths of one image in the three local formats, and what it must unpack to."""

    def __init__(self, name, image, layout, layout_ref, oci_archive, docker_archive,
                 repo_tag):
        self.name, self.image = name, image
        self.layout, self.layout_ref = layout, layout_ref
        self.oci_archive, self.docker_archive = oci_archive, docker_archive
        self.repo_tag = repo_tag
        entries = [layer.entries for layer in image.layers]
        self.files, self.absent = _file_facts(entries), _absent(entries)
        self.manifest_digest = image.digest
        self.config_digest = image.config_blob.digest
        self.diff_ids = image.diff_ids

    def __repr__(self):
        return f"<archives.{self.name} {self.layout}>"


class _Archives:
    pass


@pytest.fixture(scope="session")
def archives(built_images):
    """Local image files for import tests: archives.busybox and archives.layered, each with
    .layout (OCI layout dir, one ref .layout_ref "latest"), .oci_archive (tar of that layout),
    .docker_archive (`docker save` format, RepoTags [.repo_tag]), .manifest_digest and
    .config_digest (of the OCI manifest; a docker-archive has no manifest, its image ID is
    the config digest), .diff_ids, .files/.absent (expected rootfs)."""
    specs, _ = built_images
    with temp_dir("archives") as d:
        out = _Archives()
        for name, key in (("busybox", "busybox-oci"), ("layered", "layered")):
            image = specs[key].obj
            layout = ob.Layout(d / f"{name}-oci")
            layout.add(image, ref="latest")
            tag = f"imgd-test/{name}:latest"
            setattr(out, name, _ArchiveSet(
                name, image, layout.path, "latest",
                ob.write_oci_archive(layout.path, d / f"{name}-oci-archive.tar"),
                ob.write_docker_archive(image, d / f"{name}-docker-archive.tar", [tag]), tag))
        yield out


@pytest.fixture
def fresh_image(registry):
    """Factory: fresh_image(prefix="fresh") builds busybox + one small layer with random
    content (so no other image shares it), pushes it as PREFIX/fresh-<hex>:latest to
    `registry` and returns its ImageInfo; corrupt its last layer (info.layers[-1].digest)
    freely. Never corrupt the busybox layer: every test image shares it."""
    with temp_dir("fresh") as d:
        counter = [0]

        def make(prefix="fresh"):
            counter[0] += 1
            name = f"fresh-{secrets.token_hex(4)}"
            layer = ob.build_layer([ob.Dir("fresh"),
                                    ob.File("fresh/random", secrets.token_bytes(4096))])
            spec = _image_spec(name, ob.build_image([ob.busybox_layer(), layer]))
            layout = ob.Layout(d / f"oci{counter[0]}")
            layout.add(spec.obj, ref=name)
            return push_test_images(registry, {name: spec}, layout.path, prefix)[name]

        yield make


# ---------------------------------------------------------------------------------------------
# Command line (bench scripts)


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="start a registry, push the test images, wait for ^C")
    s.add_argument("--big", action="store_true", help="also push test/big:latest")
    p = sub.add_parser("push-big", help="build and push the big image to a running registry")
    p.add_argument("host", help="127.0.0.1:PORT")
    p.add_argument("ref", nargs="?", default="test/big:latest")
    p.add_argument("--creds", help="user:pass")
    a = ap.parse_args(argv)
    if a.cmd == "push-big":
        print(push_big_image(a.host, a.ref, creds=a.creds))
        return 0
    with temp_dir("serve") as d, Registry(d / "registry") as reg:
        specs = build_test_images(d)
        for name, info in push_test_images(reg, specs, d / "oci").items():
            print(f"{name:16} {info.ref} {info.digest}")
        if a.big:
            print(f"{'big':16} {reg.host}/test/big:latest",
                  push_big_image(reg.host, workdir=d / "big"))
        print(f"registry {reg.url} (storage {reg.storage}); ^C stops it", flush=True)
        try:
            while reg.running:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
