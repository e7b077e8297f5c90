# SPDX-License-Identifier: MIT
"""The floor of bench/ims: the least an IMS server in Python can do, NOT a peer.

The original IMS is a Flask service that cannot run here. This is Python's standard library
only: http.server's ThreadingHTTPServer (a thread per connection), HTTP/1.1 keep-alive, records
in a dict in memory, nothing written to disk, no schema library. It serves what bench/ims/run.sh
loads:

    GET  /v3/images          every image record, a JSON array serialised per request
    GET  /v3/images/{id}     one image record
    POST /v3/images          {"name": ...} -> 201 with the record
    GET  /v3/public-keys     every public-key record
    POST /v3/public-keys     {"name": ..., "public_key": ...} -> 201 with the record

Records have the same fields as imgd's (id uuid4, created, and the defaults of ims.md §3), and
the JSON is encoded the way imgd encodes it (compact, keys sorted, ASCII).

Usage: /usr/bin/python3 bench/ims/floor.py PORT
"""

import datetime
import http.server
import json
import sys
import threading
import uuid

FIELDS = {
    "images": ({"name"}, {"name", "link", "arch", "metadata"}),
    "public-keys": ({"name", "public_key"}, {"name", "public_key"}),
}
STORE = {"images": {}, "public-keys": {}}
LOCK = threading.Lock()


def encode(value):
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as imgd
    # headers and body go out in two writes: without TCP_NODELAY, Nagle holds the body back until
    # the client's delayed ACK (40 ms per request)
    disable_nagle_algorithm = True
    server_version = "floor"
    sys_version = ""

    def log_message(self, *args):  # no access log (imgd runs at --log-level WARNING)
        pass

    def answer(self, status, body):
        data = encode(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def problem(self, status, detail):
        self.answer(status, {"status": status, "title": self.responses[status][0], "detail": detail})

    def route(self):
        parts = self.path.split("/")
        if len(parts) in (3, 4) and parts[0] == "" and parts[1] == "v3" and parts[2] in STORE:
            return parts[2], (parts[3] if len(parts) == 4 else None)
        return None, None

    def do_GET(self):
        kind, rid = self.route()
        if kind is None:
            return self.problem(404, "not found")
        with LOCK:
            if rid is None:
                records = list(STORE[kind].values())
            else:
                records = STORE[kind].get(rid)
        if records is None:
            return self.problem(404, "Requested resource does not exist.")
        self.answer(200, records)

    def do_POST(self):
        kind, rid = self.route()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        if kind is None or rid is not None:
            return self.problem(404, "not found")
        if self.headers.get_content_type() != "application/json":
            return self.problem(415, "Content-Type must be application/json")
        try:
            body = json.loads(raw)
        except ValueError:
            return self.problem(400, "invalid JSON")
        if not body:
            return self.problem(400, "No input provided.")
        required, allowed = FIELDS[kind]
        if not isinstance(body, dict):
            return self.problem(422, "Invalid input type.")
        bad = [k for k in body if k not in allowed]
        bad += [k for k in required if not isinstance(body.get(k), str) or not body.get(k)]
        if bad:
            return self.problem(422, "invalid fields: " + ", ".join(sorted(bad)))
        record = dict(body)
        record["id"] = str(uuid.uuid4())
        record["created"] = datetime.datetime.now().isoformat()
        if kind == "images":
            record.setdefault("link", None)
            record.setdefault("arch", "x86_64")
            record.setdefault("metadata", {})
        with LOCK:
            STORE[kind][record["id"]] = record
        self.answer(201, record)


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 drops SYNs when wrk opens its 32 connections at once
    daemon_threads = True


def main():
    server = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
