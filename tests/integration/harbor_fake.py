# SPDX-License-Identifier: MIT
"""A fake Harbor v2.0 REST API for the inventory tests (Harbor itself cannot run on this
machine), written from the published API (docs/reference registry-cri.md §3): the endpoints the
inventory reads, with Harbor's pagination, visibility and auth rules.

    pytest_plugins = ["harbor_fake"]

    def test_x(harbor):                    # a started HarborFake with the standard content
        harbor.add_bulk("bulk", 200)       # more repositories
        harbor.delay = 0.02                # seconds added to every request
        ... harbor.url, harbor.requests, harbor.max_in_flight ...

What it implements:
- GET /api/v2.0/projects (page, page_size, name (fuzzy), public, q=name=v / name=~v),
  GET /api/v2.0/projects/{name_or_id} (a name with `X-Is-Resource-Name: true`, else an
  all-digit value is an ID; the routes below it take a name),
  GET /api/v2.0/projects/{p}/repositories,
  GET /api/v2.0/projects/{p}/repositories/{r}/artifacts (with_tag, default true; q=tags=*,
  tags=nil, base=*; untagged children of an index are hidden unless base=*),
  GET /api/v2.0/users/current, GET /api/v2.0/ping, GET /api/v2.0/health.
- Paths are decoded once, as Go's net/http does, before routing; the repository segment is
  then decoded once more, so only a double-encoded "a%252Fb" reaches repository "a/b" (a single
  "a%2Fb" becomes two path segments: 404).
- Pagination: page (default 1), page_size (default 10, more than 100 → 400 with a Harbor error
  body); X-Total-Count; Link `<path?query>; rel="prev" , <path?query>; rel="next"`: the request's
  path as received and its query with page/page_size reset, unescaped; next when
  page*page_size < total, prev when page > 1 and (page-1)*page_size < total.
- Orders: projects by ID, repositories by -creation_time,-id, artifacts by -push_time,-id.
- Auth: Basic only. Wrong credentials are anonymous on every endpoint but
  /users/current (401 there); robot accounts (`robot$<project>+<name>`) get 412 there.
  Anonymous callers see public projects; the admin sees all; a user sees public projects and
  those they are a member of; a project robot sees public projects and its own. A private
  project an anonymous caller may not see is 401 (UNAUTHORIZED), another caller's 403.
- Every request is recorded (method, raw path, path, query, user, auth header sent, status,
  X-Is-Resource-Name, times) and the most requests in flight at once is kept.

(PYTEST_DONT_REWRITE: test modules import from here before pytest loads it as a plugin.)
"""
import base64
import hashlib
import json
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from localserver import LocalServer

__all__ = ["harbor", "HarborFake", "Project", "Repository", "Artifact", "ADMIN", "ADMIN_PASSWORD",
           "DEV", "DEV_PASSWORD", "ROBOT", "ROBOT_SECRET", "PAGE_SIZE_MAX"]

PAGE_SIZE_MAX = 100
ADMIN, ADMIN_PASSWORD = "admin", "Harbor12345"
DEV, DEV_PASSWORD = "dev", "dev-pass-1"
ROBOT, ROBOT_SECRET = "robot$private-proj+ci", "robot-secret-9"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
BASE_TIME = 1700000000


def _digest(seed):
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def _time(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


def _error(code, message):
    return {"errors": [{"code": code, "message": message}]}


@dataclass
class Artifact:
    digest: str
    size: int
    tags: list
    push_time: int
    id: int = 0
    children: list = field(default_factory=list)  # Artifacts of an index (untagged)
    is_child: bool = False
    media_type: str = OCI_MANIFEST


@dataclass
class Repository:
    name: str  # without the project
    id: int = 0
    creation_time: int = 0
    artifacts: list = field(default_factory=list)


@dataclass
class Project:
    name: str
    public: bool
    id: int = 0
    members: set = field(default_factory=set)
    repos: list = field(default_factory=list)
    creation_time: int = 0


class _Handler(BaseHTTPRequestHandler):
    server_version = "harbor-fake/2.0"
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm holds the
    # body until the client's delayed ACK (40 ms) on a kept-alive connection
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.owner._handle(self)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many clients connect at once; a small backlog drops SYNs

    def handle_error(self, request, client_address):
        pass  # a client that gave up (a timeout test) closed its end: nothing to report


class HarborFake(LocalServer):
    """See the module doc. Attributes: url, port, projects, users ({name: password}), robots
    ({name: (secret, project)}), admins, delay (s), requests, max_in_flight; inject()."""
    handler = _Handler
    server_class = _Server

    def __init__(self):
        self.projects = []
        self.users = {ADMIN: ADMIN_PASSWORD, DEV: DEV_PASSWORD}
        self.admins = {ADMIN}
        self.robots = {ROBOT: (ROBOT_SECRET, "private-proj")}
        self.delay = 0.0
        self.requests = []
        self.in_flight = self.max_in_flight = 0
        self._ids = 0
        self._clock = BASE_TIME
        self._lock = threading.Lock()
        self._inject = []

    # -- content
    def _next_id(self):
        self._ids += 1
        return self._ids

    def _tick(self):
        self._clock += 60
        return self._clock

    def add_project(self, name, public=True, members=()):
        p = Project(name, public, id=self._next_id(), members=set(members),
                    creation_time=self._tick())
        self.projects.append(p)
        return p

    def project(self, name):
        return next(p for p in self.projects if p.name == name)

    def add_repo(self, project, name):
        p = self.project(project) if isinstance(project, str) else project
        r = Repository(name, id=self._next_id(), creation_time=self._tick())
        p.repos.append(r)
        return r

    def add_artifact(self, repo, tags=(), size=None, seed=None, children=0):
        """An artifact (an index with `children` untagged image children when children > 0)."""
        seed = seed or f"{repo.name}-{self._next_id()}"
        kids = [Artifact(_digest(f"{seed}-child{i}"), 1000 + i, [], self._tick(),
                         id=self._next_id(), is_child=True) for i in range(children)]
        size = size if size is not None else 5000 + len(seed) * 131
        if kids:
            size += sum(k.size for k in kids)
        a = Artifact(_digest(seed), size, list(tags), self._tick(), id=self._next_id(),
                     children=kids, media_type=OCI_INDEX if kids else OCI_MANIFEST)
        repo.artifacts.extend([a, *kids])
        return a

    def add_bulk(self, project, count, public=True):
        """A project with `count` repositories "r000".. each holding one tagged artifact."""
        p = self.add_project(project, public=public)
        for i in range(count):
            r = self.add_repo(p, f"r{i:03d}")
            self.add_artifact(r, tags=["latest"], size=10000 + i, seed=f"{project}/{r.name}")
        return p

    def standard_content(self):
        """Public "library" (nginx: tags 1.25 and latest on one artifact plus an untagged one;
        team/app and a/b/c: names needing double encoding), public "library-extra" (so that a
        fuzzy name match would pick two), private "private-proj" (member: dev; robot ROBOT),
        public "apps" (an index tagged v2 with two hidden untagged children)."""
        lib = self.add_project("library")
        nginx = self.add_repo(lib, "nginx")
        self.add_artifact(nginx, tags=[], size=117234567, seed="nginx-old")
        self.add_artifact(nginx, tags=["1.25", "latest"], size=250000000, seed="nginx-new")
        self.add_artifact(self.add_repo(lib, "team/app"), tags=["v1"], size=3000000)
        self.add_artifact(self.add_repo(lib, "a/b/c"), tags=["x"], size=1234)
        extra = self.add_project("library-extra")
        self.add_artifact(self.add_repo(extra, "tool"), tags=["1"], size=999)
        priv = self.add_project("private-proj", public=False, members={DEV})
        self.add_artifact(self.add_repo(priv, "secret-app"), tags=["1.0"], size=42000)
        apps = self.add_project("apps")
        self.add_artifact(self.add_repo(apps, "multi"), tags=["v2"], size=800, children=2)
        return self

    # -- what a caller sees (the expectation of tests)
    def visible(self, user=None):
        """Projects `user` (None: anonymous) may see, in listing order."""
        return [p for p in sorted(self.projects, key=lambda p: p.id) if self._can_see(user, p)]

    def expected_rows(self, user=None, project=None):
        """The rows imgd_harbor_list should return, in Harbor's order."""
        rows = []
        for p in self.visible(user):
            if project is not None and p.name != project:
                continue
            for r in self._repo_order(p):
                for a in self._artifact_order(r, base_all=False):
                    for tag in (a.tags or ["<none>"]):
                        rows.append({"project": p.name, "repository": r.name, "tag": tag,
                                     "digest": a.digest, "size": a.size})
        return rows

    def _can_see(self, user, p):
        if p.public or user in self.admins:
            return True
        if user in self.robots:
            return self.robots[user][1] == p.name
        return user in p.members

    @staticmethod
    def _repo_order(p):
        return sorted(p.repos, key=lambda r: (-r.creation_time, -r.id))

    @staticmethod
    def _artifact_order(r, base_all):
        arts = [a for a in r.artifacts if base_all or not (a.is_child and not a.tags)]
        return sorted(arts, key=lambda a: (-a.push_time, -a.id))

    # -- test hooks
    def inject(self, path_part, status, times=1):
        """Answer the next `times` requests whose raw path contains path_part with `status`
        (a Harbor error body)."""
        with self._lock:
            self._inject.append([path_part, status, times])

    def reset_record(self):
        with self._lock:
            self.requests.clear()
            self.max_in_flight = 0

    # -- lifecycle
    def start(self):
        super().start()
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    # -- HTTP
    def _caller(self, h):
        """(user or None, credentials_sent, credentials_valid)."""
        authz = h.headers.get("Authorization")
        if not authz:
            return None, False, False
        scheme, _, cred = authz.partition(" ")
        try:
            u, _, pw = base64.b64decode(cred, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None, True, False
        if scheme.lower() != "basic":
            return None, True, False
        if self.users.get(u) == pw or (u in self.robots and self.robots[u][0] == pw):
            return u, True, True
        return None, True, False

    def _handle(self, h):
        start = time.monotonic()
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            raw_path, _, raw_query = h.path.partition("?")
            user, sent, valid = self._caller(h)
            rec = {"method": "GET", "raw_path": raw_path, "raw_query": raw_query,
                   "query": urllib.parse.parse_qs(raw_query, keep_blank_values=True),
                   "user": user, "auth_sent": sent, "auth_valid": valid,
                   "resource_name": h.headers.get("X-Is-Resource-Name"), "status": None}
            status, body, headers = self._injected(raw_path) or self._route(
                h, raw_path, raw_query, rec, user, sent)
            rec["status"] = status
        finally:
            with self._lock:
                self.in_flight -= 1
        rec["start"], rec["end"] = start, time.monotonic()
        with self._lock:
            self.requests.append(rec)
        self._send(h, status, body, headers)

    def _injected(self, raw_path):
        with self._lock:
            for item in self._inject:
                if item[0] in raw_path and item[2] > 0:
                    item[2] -= 1
                    return item[1], _error("UNKNOWN", "injected by the test"), {}
        return None

    @staticmethod
    def _send(h, status, body, headers):
        text = isinstance(body, str)  # /ping answers text/plain
        data = body.encode() if text else json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "text/plain; charset=utf-8" if text
                      else "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        h.send_header("X-Request-Id", str(uuid.uuid4()))
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    def _route(self, h, raw_path, raw_query, rec, user, sent):
        # Go's net/http decodes the path once; the router splits the decoded path
        path = urllib.parse.unquote(raw_path)
        rec["path"] = path
        parts = path.strip("/").split("/")
        if parts[:2] != ["api", "v2.0"]:
            return 404, _error("NOT_FOUND", "not found"), {}
        rest = parts[2:]
        q = rec["query"]
        if rest == ["ping"]:
            return 200, "Pong", {}
        if rest == ["health"]:
            return 200, {"status": "healthy", "components": []}, {}
        if rest == ["users", "current"]:
            return self._current_user(user, sent)
        if rest == ["projects"]:
            return self._list(raw_path, raw_query, q, self._projects(user, q),
                              lambda p: self._project_json(p, user))
        if len(rest) >= 2 and rest[0] == "projects":
            return self._project_routes(h, raw_path, raw_query, q, rest, user)
        return 404, _error("NOT_FOUND", f"no route for {path}"), {}

    def _current_user(self, user, sent):
        if user is None:
            return 401, _error("UNAUTHORIZED", "unauthorized"), {}
        if user in self.robots:
            return 412, _error("PRECONDITION",
                               "cannot get the current user of a robot account"), {}
        return 200, {"user_id": 1 + sorted(self.users).index(user), "username": user,
                     "email": f"{user}@example.com", "realname": user,
                     "sysadmin_flag": user in self.admins, "admin_role_in_auth": False}, {}

    def _projects(self, user, q):
        items = self.visible(user)
        name = (q.get("name") or [None])[0]
        if name:  # Harbor's `name` parameter is a fuzzy match
            items = [p for p in items if name in p.name]
        public = (q.get("public") or [None])[0]
        if public in ("true", "false"):
            items = [p for p in items if p.public == (public == "true")]
        for cond in ((q.get("q") or [""])[0].split(",") if q.get("q") else []):
            key, _, val = cond.partition("=")
            if key == "name" and val.startswith("~"):
                items = [p for p in items if val[1:] in p.name]
            elif key == "name":
                items = [p for p in items if p.name == val]
        return items

    def _find_project(self, h, ident, by_id):
        if by_id and h.headers.get("X-Is-Resource-Name", "").lower() != "true" and \
                ident.isdigit():
            return next((p for p in self.projects if p.id == int(ident)), None)
        return next((p for p in self.projects if p.name == ident), None)

    def _project_routes(self, h, raw_path, raw_query, q, rest, user):
        # only GET /projects/{project_name_or_id} takes an ID; the routes below it take names
        p = self._find_project(h, rest[1], by_id=len(rest) == 2)
        if p is None:
            return 404, _error("NOT_FOUND", f"project {rest[1]} not found"), {}
        if not self._can_see(user, p):
            if user is None:
                return 401, _error("UNAUTHORIZED", "unauthorized"), {}
            return 403, _error("FORBIDDEN", "forbidden"), {}
        if len(rest) == 2:
            return 200, self._project_json(p, user), {}
        if len(rest) == 3 and rest[2] == "repositories":
            return self._list(raw_path, raw_query, q, self._repo_order(p),
                              lambda r: self._repo_json(p, r))
        if len(rest) == 5 and rest[2] == "repositories" and rest[4] == "artifacts":
            name = urllib.parse.unquote(rest[3])  # the second decoding: "a%2Fb" -> "a/b"
            r = next((r for r in p.repos if r.name == name), None)
            if r is None:
                return 404, _error("NOT_FOUND", f"repository {p.name}/{name} not found"), {}
            return self._artifacts(raw_path, raw_query, q, p, r)
        return 404, _error("NOT_FOUND", "not found"), {}

    def _artifacts(self, raw_path, raw_query, q, p, r):
        cond = (q.get("q") or [""])[0]
        arts = self._artifact_order(r, base_all="base=*" in cond)
        if "tags=*" in cond:
            arts = [a for a in arts if a.tags]
        elif "tags=nil" in cond:
            arts = [a for a in arts if not a.tags]
        with_tag = (q.get("with_tag") or ["true"])[0] != "false"
        return self._list(raw_path, raw_query, q, arts,
                          lambda a: self._artifact_json(p, r, a, with_tag))

    def _list(self, raw_path, raw_query, q, items, encode):
        try:
            page = int((q.get("page") or ["1"])[0])
            size = int((q.get("page_size") or ["10"])[0])
        except ValueError:
            return 400, _error("BAD_REQUEST", "page and page_size must be integers"), {}
        if size > PAGE_SIZE_MAX:
            return 400, _error("BAD_REQUEST", "validation failure list:\npage_size in query "
                               f"should be less than or equal to {PAGE_SIZE_MAX}"), {}
        if page < 1 or size < 1:
            return 400, _error("BAD_REQUEST", "page and page_size must be positive"), {}
        total = len(items)
        chunk = items[(page - 1) * size:page * size]
        headers = {"X-Total-Count": str(total)}
        links = []
        if page > 1 and (page - 1) * size < total:
            links.append(self._link(raw_path, raw_query, page - 1, size, "prev"))
        if page * size < total:
            links.append(self._link(raw_path, raw_query, page + 1, size, "next"))
        if links:
            headers["Link"] = " , ".join(links)
        return 200, [encode(x) for x in chunk], headers

    @staticmethod
    def _link(raw_path, raw_query, page, size, rel):
        q = [(k, v) for k, v in urllib.parse.parse_qsl(raw_query, keep_blank_values=True)
             if k not in ("page", "page_size")]
        q += [("page", str(page)), ("page_size", str(size))]
        query = urllib.parse.unquote(urllib.parse.urlencode(q))  # Harbor leaves it unescaped
        return f'<{raw_path}?{query}>; rel="{rel}"'

    # -- objects
    def _project_json(self, p, user):
        return {"project_id": p.id, "name": p.name, "owner_id": 1, "owner_name": ADMIN,
                "registry_id": None, "creation_time": _time(p.creation_time),
                "update_time": _time(p.creation_time), "deleted": False,
                "repo_count": len(p.repos),
                "current_user_role_id": 1 if user in p.members else 0,
                "current_user_role_ids": [1] if user in p.members else None,
                "metadata": {"public": "true" if p.public else "false"},
                "cve_allowlist": {"id": p.id, "project_id": p.id, "items": [],
                                  "creation_time": _time(p.creation_time)}}

    @staticmethod
    def _repo_json(p, r):
        return {"id": r.id, "project_id": p.id, "name": f"{p.name}/{r.name}",
                "description": "", "artifact_count": len(r.artifacts), "pull_count": 3,
                "creation_time": _time(r.creation_time), "update_time": _time(r.creation_time)}

    @staticmethod
    def _artifact_json(p, r, a, with_tag):
        tags = [{"id": a.id * 100 + i, "repository_id": r.id, "artifact_id": a.id, "name": t,
                 "push_time": _time(a.push_time), "pull_time": _time(a.push_time),
                 "immutable": False} for i, t in enumerate(a.tags)]
        refs = [{"parent_id": a.id, "child_id": c.id, "child_digest": c.digest,
                 "platform": {"architecture": "amd64" if i == 0 else "arm64", "os": "linux"},
                 "annotations": None, "urls": None} for i, c in enumerate(a.children)]
        return {"id": a.id, "type": "IMAGE",
                "media_type": OCI_INDEX if a.children else OCI_CONFIG,
                "manifest_media_type": a.media_type, "artifact_type": OCI_CONFIG,
                "project_id": p.id, "repository_id": r.id,
                "repository_name": f"{p.name}/{r.name}", "digest": a.digest, "size": a.size,
                "icon": "", "push_time": _time(a.push_time), "pull_time": _time(a.push_time),
                "extra_attrs": {"architecture": "amd64", "os": "linux",
                                "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["/bin/sh"]}},
                "annotations": None, "references": refs or None,
                "tags": (tags or None) if with_tag else None,
                "addition_links": {"build_history": {"absolute": False, "href": "/x"}},
                "labels": None, "scan_overview": None, "sbom_overview": None,
                "accessories": None}


@pytest.fixture
def harbor():
    """A started HarborFake with the standard content (see HarborFake.standard_content),
    stopped after the test."""
    with HarborFake().standard_content() as h:
        yield h
