# SPDX-License-Identifier: MIT
"""A real S3 peer for the integration tests: s3rver 3.7.1 (an S3 server in Node) on
127.0.0.1:<random port>, behind SigV4Proxy, a small HTTP proxy that checks the AWS Signature V4
of every request the way S3 does and forwards the good ones to s3rver.

Why the proxy: s3rver stores and serves objects faithfully but does not verify SigV4 (a wrong
secret, an anonymous request or a tampered presigned URL all get 200). The proxy recomputes each
signature with Debian's botocore (the signer the AWS SDK for Python uses) from the request as S3
would canonicalise it: the path decoded and re-encoded per RFC 3986 (A-Z a-z 0-9 - . _ ~ and /
kept, upper-case hex), the query decoded, re-encoded and sorted, `name=` for an empty value. A
client that signs anything else (an unsorted query, `?uploads` without `=`, a raw `(` or
lower-case `%c3`, a wrong secret) gets 403 SignatureDoesNotMatch, as from AWS.

Use it from a test module with

    pytest_plugins = ["s3"]

Fixtures: s3_stack (one stack for the session), s3 (that stack with its proxy record cleared for
the test), s3_stack_factory (start(buckets=..., secret_key=...) for stacks of a test's own).
A stack (S3Stack) has .endpoint (proxy URL: give this to imgd), .direct (s3rver itself, no
checks), .access_key, .secret_key, .region, .buckets, .proxy (.count, .rejected, .requests,
.chunked, .reset(), .report()), .server, .client() (a botocore S3 client through the proxy),
.restart_server() and .stop().

What a request must do to pass (as on AWS): sign host and every x-amz-* header it sends; send
x-amz-content-sha256 (the body's hex sha256, checked, or UNSIGNED-PAYLOAD); carry a
Content-Length body (`Transfer-Encoding: chunked` gets 501 NotImplemented, as from S3, unless
the stack was started with allow_chunked=True); be signed within 15 minutes, or for presigned
URLs before X-Amz-Date + X-Amz-Expires.

Without pytest (bench scripts, by hand):

    /usr/bin/python3 tests/integration/s3.py serve [BUCKET...]

Prerequisites: s3rver in tests/.s3rver (`make test-deps`), node, and python3-botocore; a fixture
skips naming whichever is missing.

(PYTEST_DONT_REWRITE: test modules import helpers from here before pytest loads it as a
plugin; the marker keeps pytest from warning that it cannot rewrite it.)
"""
import calendar
import hashlib
import hmac
import http.client
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import namedtuple
from datetime import timezone
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import quote, unquote_to_bytes
from xml.sax.saxutils import escape as xml_escape

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from localserver import LocalProcess, LocalServer  # noqa: E402

try:
    import botocore.session
    from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.compat import HTTPHeaders
    from botocore.config import Config
    from botocore.credentials import Credentials
except ImportError:  # the fixtures skip, naming the package
    botocore = None
    S3SigV4Auth = S3SigV4QueryAuth = object

__all__ = ["s3_stack", "s3", "s3_stack_factory", "S3Stack", "S3Server", "SigV4Proxy",
           "Rejection", "start_s3_stack", "ensure_s3rver", "require_botocore", "botocore_client",
           "ACCESS_KEY", "SECRET_KEY", "REGION", "DEFAULT_BUCKETS", "EMPTY_SHA256",
           "S3RVER_VERSION"]

ROOT = Path(__file__).resolve().parents[2]
S3RVER_VERSION = "3.7.1"
S3RVER_DIR = ROOT / "tests" / ".s3rver"
S3RVER_BIN = S3RVER_DIR / "node_modules" / ".bin" / "s3rver"
ACCESS_KEY = SECRET_KEY = "S3RVER"  # fixed in s3rver (DUMMY_ACCOUNT); it checks the key id only
REGION, SERVICE = "us-east-1", "s3"
DEFAULT_BUCKETS = ("ims", "boot-images")
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_SKEW = 15 * 60          # seconds S3 allows between a header-signed request and its clock
MAX_EXPIRES = 7 * 24 * 3600  # the longest X-Amz-Expires S3 accepts
START_TIMEOUT = 15.0
UPSTREAM_TIMEOUT = 120
COPY_CHUNK = 1 << 20
SPOOL_IN_MEMORY = 8 << 20   # bodies up to this stay in memory while their hash is checked
# Hop-by-hop headers: the proxy speaks for itself on each side of the connection.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
              "trailer", "upgrade", "expect", "content-length"}


# --------------------------------------------------------------------------------------------
# Prerequisites


def ensure_s3rver():
    """Path of the s3rver script `make test-deps` installs; skips the test (naming what is
    missing) when it or node is absent."""
    if not S3RVER_BIN.exists():
        pytest.skip(f"s3rver not installed (no {S3RVER_BIN}): run `make test-deps`")
    if shutil.which("node") is None:
        pytest.skip("missing prerequisite: `node` (Debian package nodejs), which runs s3rver")
    return S3RVER_BIN


def require_botocore():
    """Skip the test unless Debian's botocore can be imported."""
    if botocore is None:
        pytest.skip("missing prerequisite: python module botocore (Debian package "
                    "python3-botocore): run `make deps`")


def botocore_client(endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY, region=REGION,
                    **config):
    """A botocore S3 client for endpoint with path-style addressing and SigV4 (boto3 is not
    needed). Extra keyword arguments go to botocore.config.Config."""
    require_botocore()
    config.setdefault("s3", {"addressing_style": "path"})
    config.setdefault("signature_version", "s3v4")
    config.setdefault("retries", {"total_max_attempts": 1})  # no retries: counts stay exact
    session = botocore.session.get_session()
    return session.create_client("s3", endpoint_url=endpoint, region_name=region,
                                 aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                                 config=Config(**config))


# --------------------------------------------------------------------------------------------
# s3rver


class S3Server(LocalProcess):
    """s3rver on 127.0.0.1:<port chosen by the kernel>, data in workdir/data, log in
    workdir/s3rver.log. The buckets are created at start. .url, .port, .log()."""
    stop_timeout = 5  # SIGTERM, then SIGKILL

    def __init__(self, workdir, buckets=DEFAULT_BUCKETS):
        self.workdir = Path(workdir)
        self.buckets = tuple(buckets)
        self.data = self.workdir / "data"
        self.log_path = self.workdir / "s3rver.log"
        self.port = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        binary = ensure_s3rver()
        self.data.mkdir(parents=True, exist_ok=True)
        argv = [str(binary), "-d", str(self.data), "-a", "127.0.0.1", "-p", "0"]
        for bucket in self.buckets:
            # one flag per bucket: the flag's further arguments would be config files
            argv += ["--configure-bucket", bucket]
        # the log is appended to across restarts: read this run's part only
        start = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._spawn(argv)
        try:
            self.port = self._wait_port(start)
            self._wait_answers()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_port(self, start):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            with open(self.log_path, "rb") as f:
                f.seek(start)
                m = re.search(rb"listening on 127\.0\.0\.1:(\d+)", f.read())
            if m:
                return int(m.group(1))
            if self.proc.poll() is not None:
                raise RuntimeError(f"s3rver exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.02)
        raise RuntimeError(f"s3rver did not report its port in {START_TIMEOUT} s:\n{self.log()}")

    def _wait_answers(self):
        """Until GET / (ListBuckets, anonymous: s3rver allows it) answers 200."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", "/")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            finally:
                conn.close()
            if time.monotonic() > deadline:
                raise RuntimeError(f"s3rver on port {self.port} does not answer:\n{self.log()}")
            time.sleep(0.05)


# --------------------------------------------------------------------------------------------
# SigV4 verification


class Rejection(namedtuple("Rejection", "method path reason")):
    """A request the proxy refused: reason is '<S3 error code>: <why>'."""

    @property
    def code(self):
        return self.reason.split(":", 1)[0]


class S3Error(Exception):
    """An S3-style error answer: HTTP status, <Code>, <Message> and extra XML elements."""

    def __init__(self, status, code, message, detail=None, **extra):
        super().__init__(f"{code}: {message}" + (f" ({detail})" if detail else ""))
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def xml(self, resource):
        fields = {"Code": self.code, "Message": self.message, **self.extra,
                  "Resource": resource}
        inner = "".join(f"<{k}>{xml_escape(str(v))}</{k}>" for k, v in fields.items())
        return f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{inner}</Error>'.encode()


class _SignedHeadersOnly:
    """botocore signs every header of a request except a blacklist (User-Agent, Expect, …);
    a verifier must use exactly the headers the client named in SignedHeaders, as S3 does."""

    def headers_to_sign(self, request):
        return request.context["signed_headers"]


class _HeaderSigner(_SignedHeadersOnly, S3SigV4Auth):
    pass


class _QuerySigner(_SignedHeadersOnly, S3SigV4QueryAuth):
    pass


def s3_uri_encode(raw, safe):
    """Decode %XX (a '+' stays a '+') and encode the bytes as SigV4 wants: unreserved characters
    and `safe` kept, everything else %XX with upper-case hex."""
    return quote(unquote_to_bytes(raw), safe=safe)


def parse_query(query):
    """[(name, value)] of a raw query string, both decoded ('' for `name` and `name=`)."""
    pairs = []
    for part in query.split("&") if query else ():
        name, _, value = part.partition("=")
        pairs.append((unquote_to_bytes(name).decode("utf-8", "replace"),
                      unquote_to_bytes(value).decode("utf-8", "replace")))
    return pairs


def canonical_target(target, drop=()):
    """(path, query) of a raw request target in the form S3 signs: each path byte and each query
    name and value RFC 3986-encoded, the query sorted by name then value, without the names in
    drop (X-Amz-Signature for presigned URLs)."""
    raw_path, _, raw_query = target.partition("?")
    path = s3_uri_encode(raw_path or "/", safe="/")
    pairs = []
    for part in raw_query.split("&") if raw_query else ():
        name, _, value = part.partition("=")
        name = s3_uri_encode(name, safe="")
        if name not in drop:
            pairs.append((name, s3_uri_encode(value, safe="")))
    return path, "&".join(f"{n}={v}" for n, v in sorted(pairs))


def header_value(headers, name):
    """All values of header `name` joined by ',' (None when absent), as UTF-8 text where the
    bytes are UTF-8 (http.server decodes headers as Latin-1)."""
    values = headers.get_all(name)
    if values is None:
        return None
    out = []
    for v in values:
        try:
            out.append(v.encode("latin-1").decode("utf-8"))
        except UnicodeError:
            out.append(v)
    return ",".join(out)


def parse_amz_date(text):
    """Seconds since the epoch of an X-Amz-Date (20261122T101500Z) value; S3Error if bad."""
    try:
        return calendar.timegm(time.strptime(text, AMZ_DATE_FORMAT))
    except (TypeError, ValueError):
        raise S3Error(403, "AccessDenied",
                      f"AWS authentication requires a valid X-Amz-Date, not {text!r}") from None


class SigV4Verifier:
    """Recomputes the SigV4 signature of a request for one access key, secret and region with
    botocore's signer and compares. verify() returns the request's payload hash claim (a hex
    sha256, UNSIGNED-PAYLOAD or None for presigned requests) or raises S3Error."""

    def __init__(self, access_key=ACCESS_KEY, secret_key=SECRET_KEY, region=REGION):
        self.access_key, self.secret_key, self.region = access_key, secret_key, region

    def verify(self, method, target, headers, now=None):
        now = time.time() if now is None else now
        _, _, raw_query = target.partition("?")
        query_names = {n for n, _ in parse_query(raw_query)}
        auth = headers.get("Authorization")
        if auth is not None and "X-Amz-Algorithm" in query_names:
            raise S3Error(400, "InvalidArgument", "only one auth mechanism allowed")
        if auth is not None:
            return self._verify_header(method, target, headers, auth, now)
        if "X-Amz-Algorithm" in query_names:
            self._verify_query(method, target, headers, now)
            return None
        raise S3Error(403, "AccessDenied", "request without SigV4 authentication")

    def _verify_header(self, method, target, headers, auth, now):
        algorithm, _, rest = auth.partition(" ")
        if algorithm != "AWS4-HMAC-SHA256":
            raise S3Error(400, "InvalidArgument",
                          f"unsupported Authorization type {algorithm!r} (SigV4 only)")
        parts = dict(p.strip().partition("=")[::2] for p in rest.split(","))
        if set(parts) != {"Credential", "SignedHeaders", "Signature"}:
            raise S3Error(400, "AuthorizationHeaderMalformed",
                          "the Authorization header needs Credential, SignedHeaders, Signature")
        claim = headers.get("x-amz-content-sha256")
        if claim is None:
            raise S3Error(400, "InvalidRequest",
                          "Missing required header for this request: x-amz-content-sha256")
        if claim == STREAMING_PAYLOAD:
            raise S3Error(501, "NotImplemented",
                          "aws-chunked (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) bodies are not "
                          "checked by this test proxy")
        if claim != UNSIGNED_PAYLOAD and not re.fullmatch(r"[0-9a-f]{64}", claim):
            raise S3Error(400, "InvalidArgument",
                          f"x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a lower-case hex "
                          f"sha256, not {claim!r}")
        amz_date = self._request_date(headers)
        if abs(now - parse_amz_date(amz_date)) > MAX_SKEW:
            raise S3Error(403, "RequestTimeTooSkewed",
                          f"the difference between the request time {amz_date} and the "
                          "server's time is too large")
        self._check_credential(parts["Credential"], amz_date)
        signed = self._signed_headers(parts["SignedHeaders"], headers)
        expected, creq = self._signature(_HeaderSigner, method, target, signed, amz_date,
                                         {"X-Amz-Content-SHA256": claim})
        self._compare(parts["Signature"], expected, creq)
        return claim

    def _verify_query(self, method, target, headers, now):
        params = dict(parse_query(target.partition("?")[2]))
        needed = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                  "X-Amz-SignedHeaders", "X-Amz-Signature")
        missing = [n for n in needed if n not in params]
        if missing:
            raise S3Error(400, "AuthorizationQueryParametersError",
                          "presigned URL without " + ", ".join(missing))
        if params["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
            raise S3Error(400, "AuthorizationQueryParametersError",
                          f"X-Amz-Algorithm {params['X-Amz-Algorithm']!r} is not supported")
        amz_date = params["X-Amz-Date"]
        signed_at = parse_amz_date(amz_date)
        try:
            expires = int(params["X-Amz-Expires"])
        except ValueError:
            expires = -1
        if not 1 <= expires <= MAX_EXPIRES:
            raise S3Error(400, "AuthorizationQueryParametersError",
                          f"X-Amz-Expires must be 1…{MAX_EXPIRES}, not "
                          f"{params['X-Amz-Expires']!r}")
        if now > signed_at + expires:
            raise S3Error(403, "AccessDenied", "Request has expired",
                          Expires=time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                time.gmtime(signed_at + expires)))
        if signed_at > now + MAX_SKEW:
            raise S3Error(403, "AccessDenied", "Request is not valid yet")
        self._check_credential(params["X-Amz-Credential"], amz_date)
        signed = self._signed_headers(params["X-Amz-SignedHeaders"], headers)
        expected, creq = self._signature(_QuerySigner, method, target, signed, amz_date, {})
        self._compare(params["X-Amz-Signature"], expected, creq)

    @staticmethod
    def _request_date(headers):
        """The request's timestamp in X-Amz-Date form (X-Amz-Date, else Date)."""
        if headers.get("x-amz-date") is not None:
            return headers["x-amz-date"]
        if headers.get("date") is not None:
            try:
                return parsedate_to_datetime(headers["date"]).astimezone(
                    timezone.utc).strftime(AMZ_DATE_FORMAT)
            except (TypeError, ValueError):
                pass
        raise S3Error(403, "AccessDenied",
                      "AWS authentication requires a valid Date or x-amz-date header")

    def _check_credential(self, credential, amz_date):
        fields = credential.split("/")
        if len(fields) != 5 or fields[4] != "aws4_request":
            raise S3Error(400, "AuthorizationHeaderMalformed",
                          f"credential {credential!r} is not KEY/DATE/REGION/SERVICE/"
                          "aws4_request")
        key, date, region, service, _ = fields
        if key != self.access_key:
            raise S3Error(403, "InvalidAccessKeyId",
                          f"The AWS Access Key Id {key!r} does not exist in our records.")
        if date != amz_date[:8]:
            raise S3Error(400, "AuthorizationHeaderMalformed",
                          f"credential date {date} is not the date of X-Amz-Date {amz_date}")
        if region != self.region:
            raise S3Error(400, "AuthorizationHeaderMalformed",
                          f"the region {region!r} is wrong; expecting {self.region!r}")
        if service != SERVICE:
            raise S3Error(400, "AuthorizationHeaderMalformed",
                          f"the service {service!r} is wrong; expecting 's3'")

    @staticmethod
    def _signed_headers(signed_list, headers):
        """HTTPHeaders of the headers the client signed; S3Error when host is not among them,
        one is absent, or an x-amz-* header of the request is not signed."""
        names = signed_list.split(";")
        if "host" not in names:
            raise S3Error(403, "AccessDenied", "the host header must be signed")
        unsigned = sorted({k.lower() for k in headers.keys()
                           if k.lower().startswith("x-amz-") and k.lower() not in names})
        if unsigned:
            raise S3Error(403, "AccessDenied",
                          "There were headers present in the request which were not signed",
                          HeadersNotSigned=", ".join(unsigned))
        signed = HTTPHeaders()
        for name in names:
            value = header_value(headers, name)
            if value is None:
                raise S3Error(403, "AccessDenied", f"signed header {name!r} is not in the "
                              "request")
            signed[name] = value
        return signed

    def _signature(self, signer_class, method, target, signed, amz_date, headers):
        """(signature, canonical request) botocore computes for the request in S3's canonical
        form: the signed headers as sent, the client's timestamp, our secret."""
        path, query = canonical_target(target, drop=("X-Amz-Signature",))
        url = f"http://{signed['host']}{path}" + (f"?{query}" if query else "")
        request = AWSRequest(method=method, url=url, headers=headers)
        request.context["timestamp"] = amz_date
        request.context["signed_headers"] = signed
        signer = signer_class(Credentials(self.access_key, self.secret_key), SERVICE,
                              self.region)
        creq = signer.canonical_request(request)
        return signer.signature(signer.string_to_sign(request, creq), request), creq

    @staticmethod
    def _compare(provided, expected, creq):
        if not hmac.compare_digest(provided.encode(), expected.encode()):
            raise S3Error(403, "SignatureDoesNotMatch",
                          "The request signature we calculated does not match the signature "
                          "you provided. Check your key and signing method.",
                          detail=f"expected canonical request {creq!r}",
                          CanonicalRequest=creq, SignatureProvided=provided)


# --------------------------------------------------------------------------------------------
# The proxy


def read_body(rfile, headers):
    """Iterate over the request body in pieces: Content-Length or chunked (decoded). A short
    body raises ConnectionError; a bad length S3Error."""
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        while True:
            line = rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise ConnectionError(f"bad chunk size line {line!r}") from None
            if size == 0:
                while rfile.readline(8192).strip():  # trailers
                    pass
                return
            while size:
                piece = rfile.read(min(size, COPY_CHUNK))
                if not piece:
                    raise ConnectionError("chunked body ended early")
                size -= len(piece)
                yield piece
            rfile.readline(8)
    length = headers.get("Content-Length")
    if length is None:
        return
    if not length.isdigit():
        raise S3Error(400, "InvalidArgument", f"bad Content-Length {length!r}")
    left = int(length)
    while left:
        piece = rfile.read(min(left, COPY_CHUNK))
        if not piece:
            raise ConnectionError(f"body ended {left} bytes early")
        left -= len(piece)
        yield piece


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and Expect: 100-continue is answered
    timeout = 120  # idle keep-alive connections end

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.server.owner.handle(self)

    do_HEAD = do_PUT = do_POST = do_DELETE = do_OPTIONS = do_GET


class SigV4Proxy(LocalServer):
    """HTTP proxy on 127.0.0.1:<free port> in front of an S3 server: checks each request's SigV4
    (SigV4Verifier), answers an S3 XML error (and records a Rejection) for a bad one, and relays
    the good ones verbatim (bodies streamed; a body with a hex x-amz-content-sha256 is spooled
    to disk and checked first).

    Record: .count (requests seen), .requests [(method, target, status)], .rejected
    [Rejection(method, target, reason)]; .reset() clears it. allow_chunked=False answers
    `Transfer-Encoding: chunked` uploads 501 NotImplemented like S3 does; True decodes them and
    forwards them with a Content-Length. .chunked counts them either way."""
    handler = _ProxyHandler

    def __init__(self, upstream_port, access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                 region=REGION, spool_dir=None, allow_chunked=False):
        self.upstream_port = upstream_port
        self.verifier = SigV4Verifier(access_key, secret_key, region)
        self.spool_dir = spool_dir
        self.allow_chunked = allow_chunked
        self._lock = threading.Lock()
        self.reset()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def secret_key(self):
        return self.verifier.secret_key

    def reset(self):
        """Clear the record."""
        with self._lock:
            self.count, self.chunked = 0, 0
            self.requests, self.rejected = [], []

    def report(self):
        """The record as text, for a failing test's output."""
        lines = [f"proxy: {self.count} requests, {len(self.rejected)} rejected"]
        lines += [f"  {m} {t} -> {s}" for m, t, s in self.requests]
        lines += [f"  REJECTED {r.method} {r.path}: {r.reason}" for r in self.rejected]
        return "\n".join(lines)

    # -- one request ----------------------------------------------------------------------

    def handle(self, h):
        """Serve one request on handler h (a _ProxyHandler). The record is written before the
        answer goes out, so a test that has its answer also sees it recorded."""
        with self._lock:
            self.count += 1
        h.recorded = False
        body = read_body(h.rfile, h.headers)
        try:
            try:
                self._forward(h, body, self._admit(h))
            except S3Error as e:
                self._drain(h, body)
                self._record(h, e.status, Rejection(h.command, h.path, str(e)))
                self._answer_error(h, e)
        except (ConnectionError, TimeoutError, http.client.HTTPException) as e:
            h.close_connection = True
            if not h.recorded:
                self._record(h, f"connection failed: {e}")

    def _record(self, h, status, rejection=None):
        with self._lock:
            self.requests.append((h.command, h.path, status))
            if rejection is not None:
                self.rejected.append(rejection)
        h.recorded = True

    def _admit(self, h):
        te = (h.headers.get("Transfer-Encoding") or "").lower()
        if te:
            with self._lock:
                self.chunked += "chunked" in te
            if te != "chunked" or not self.allow_chunked:
                raise S3Error(501, "NotImplemented", "A header you provided implies "
                              "functionality that is not implemented",
                              Header="Transfer-Encoding")
        return self.verifier.verify(h.command, h.path, h.headers)

    @staticmethod
    def _drain(h, body):
        """Read what is left of the body, so the client sees the answer instead of a reset."""
        try:
            for _ in body:
                pass
        except (ConnectionError, TimeoutError, S3Error):
            h.close_connection = True

    def _spool(self, body, claim):
        """(file, length) of the whole body, checked against a hex payload hash claim."""
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, dir=self.spool_dir)
        digest, length = hashlib.sha256(), 0
        for piece in body:
            digest.update(piece)
            spool.write(piece)
            length += len(piece)
        if claim not in (None, UNSIGNED_PAYLOAD) and digest.hexdigest() != claim:
            spool.close()
            raise S3Error(400, "XAmzContentSHA256Mismatch",
                          "The provided 'x-amz-content-sha256' header does not match what "
                          "was computed.", ClientComputedContentSHA256=claim,
                          S3ComputedContentSHA256=digest.hexdigest())
        spool.seek(0)
        return spool, length

    def _forward(self, h, body, claim):
        """Send the request to the S3 server and relay its answer."""
        chunked = "Transfer-Encoding" in h.headers
        must_check = claim not in (None, UNSIGNED_PAYLOAD)
        spool = None
        if chunked or must_check:
            spool, length = self._spool(body, claim)
            pieces = iter(lambda: spool.read(COPY_CHUNK), b"")
        else:
            length, pieces = h.headers.get("Content-Length"), body
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port,
                                          timeout=UPSTREAM_TIMEOUT)
        try:
            try:
                conn.putrequest(h.command, h.path, skip_host=True, skip_accept_encoding=True)
                for name, value in h.headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        conn.putheader(name, value)
                if length is not None and (chunked or h.headers.get("Content-Length")):
                    conn.putheader("Content-Length", str(length))
                conn.endheaders()
            except OSError as e:
                raise S3Error(502, "BadGateway", f"cannot reach s3rver: {e}") from None
            for piece in pieces:  # an error reading the client's body propagates
                try:
                    conn.send(piece)
                except OSError:
                    # s3rver may have answered before reading it all (404 NoSuchBucket);
                    # its answer is relayed, and the rest of the body ends the connection
                    h.close_connection = True
                    break
            try:
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as e:
                raise S3Error(502, "BadGateway", f"no answer from s3rver: {e}") from None
            self._record(h, resp.status)
            self._relay(h, resp)
        finally:
            conn.close()
            if spool is not None:
                spool.close()

    @staticmethod
    def _relay(h, resp):
        h.send_response_only(resp.status, resp.reason)
        for name, value in resp.getheaders():
            if name.lower() not in HOP_BY_HOP:
                h.send_header(name, value)
        length = resp.getheader("Content-Length")
        no_body = h.command == "HEAD" or resp.status in (204, 304) or resp.status < 200
        if length is not None:
            h.send_header("Content-Length", length)
        elif not no_body:
            h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        if no_body:
            return
        while True:
            piece = resp.read(COPY_CHUNK)
            if not piece:
                break
            h.wfile.write(piece if length is not None else
                          b"%x\r\n%b\r\n" % (len(piece), piece))
        if length is None:
            h.wfile.write(b"0\r\n\r\n")
        h.wfile.flush()

    @staticmethod
    def _answer_error(h, err):
        xml = err.xml(h.path.partition("?")[0])
        h.send_response_only(err.status)
        h.send_header("Content-Type", "application/xml")
        h.send_header("Content-Length", str(len(xml)))
        h.send_header("Date", h.date_time_string())
        h.send_header("x-amz-request-id", "imgd-test-proxy")
        if h.close_connection:
            h.send_header("Connection", "close")
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(xml)
        h.wfile.flush()


# --------------------------------------------------------------------------------------------
# The stack and the fixtures


class S3Stack:
    """s3rver plus the SigV4Proxy in front of it, in a temp dir removed by stop().
    .endpoint (proxy URL), .direct (s3rver URL), .access_key, .secret_key, .region,
    .buckets, .proxy, .server, .workdir."""

    def __init__(self, buckets=DEFAULT_BUCKETS, secret_key=SECRET_KEY, allow_chunked=False):
        self.buckets = tuple(buckets)
        self.access_key, self.secret_key, self.region = ACCESS_KEY, secret_key, REGION
        self.workdir = Path(tempfile.mkdtemp(prefix="imgd-s3-"))
        self.server = S3Server(self.workdir, self.buckets)
        self.proxy = None
        self._allow_chunked = allow_chunked

    def start(self):
        try:
            self.server.start()
            spool = self.workdir / "spool"
            spool.mkdir()
            self.proxy = SigV4Proxy(self.server.port, self.access_key, self.secret_key,
                                    self.region, spool_dir=spool,
                                    allow_chunked=self._allow_chunked).start()
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def endpoint(self):
        return self.proxy.url

    @property
    def direct(self):
        return self.server.url

    def client(self, secret_key=None, **config):
        """A botocore S3 client through the proxy (with this stack's secret unless given)."""
        return botocore_client(self.endpoint, self.access_key,
                               self.secret_key if secret_key is None else secret_key,
                               self.region, **config)

    def restart_server(self):
        """Start s3rver again on the same data (after it died: a CompleteMultipartUpload that
        names a part never uploaded kills s3rver 3.7.1) and point the proxy at it."""
        self.server.stop()
        self.server.start()
        self.proxy.upstream_port = self.server.port

    def report(self):
        """The proxy record and the s3rver log, for a failing test's output."""
        proxy = self.proxy.report() if self.proxy else "proxy: not started"
        return f"{proxy}\n--- s3rver log ---\n{self.server.log()[-20000:]}"

    def stop(self):
        """Stop the proxy and s3rver and remove the temp dir; idempotent."""
        if self.proxy is not None:
            self.proxy.stop()
        self.server.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def start_s3_stack(buckets=DEFAULT_BUCKETS, secret_key=SECRET_KEY, allow_chunked=False):
    """A started S3Stack; skips (naming it) when a prerequisite is missing."""
    require_botocore()
    ensure_s3rver()
    return S3Stack(buckets, secret_key, allow_chunked).start()


def _test_failed(request):
    rep = getattr(request.node, "rep_call", None)
    return rep is not None and rep.failed


@pytest.fixture(scope="session")
def s3_stack():
    """One S3Stack (buckets ims and boot-images, secret S3RVER) for the whole session."""
    stack = start_s3_stack()
    yield stack
    stack.stop()


@pytest.fixture
def s3(request, s3_stack):
    """The session's S3Stack with the proxy record cleared for this test; on failure the record
    and the s3rver log are printed. Objects of earlier tests stay: use keys of your own. An
    s3rver that died during the test fails it (and is restarted for the next one)."""
    if not s3_stack.server.running:
        s3_stack.restart_server()
    s3_stack.proxy.reset()
    yield s3_stack
    died = not s3_stack.server.running
    if died or _test_failed(request):
        print("\n" + s3_stack.report())
    if died:
        s3_stack.restart_server()
        pytest.fail("s3rver died during the test (its log is printed above)")


@pytest.fixture
def s3_stack_factory(request):
    """Factory: start(buckets=..., secret_key=..., allow_chunked=...) -> a fresh S3Stack,
    stopped at the end of the test (its record printed on failure)."""
    started = []

    def start(**kw):
        stack = start_s3_stack(**kw)
        started.append(stack)
        return stack

    yield start
    for stack in started:
        if _test_failed(request):
            print("\n" + stack.report())
        stack.stop()


def _serve(buckets):
    """`s3.py serve [BUCKET...]`: run a stack until SIGINT or SIGTERM."""
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    with S3Stack(buckets or DEFAULT_BUCKETS) as stack:
        print(f"endpoint {stack.endpoint} (SigV4 checked), direct {stack.direct}, "
              f"key {stack.access_key}/{stack.secret_key}, region {stack.region}, "
              f"buckets {' '.join(stack.buckets)}", flush=True)
        done.wait()
        print(stack.proxy.report(), flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "serve":
        sys.exit(__doc__)
    _serve(sys.argv[2:])
