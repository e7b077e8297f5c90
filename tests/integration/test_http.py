# SPDX-License-Identifier: MIT
"""The HTTP front: health and metrics shapes, error dialects per face, body limits, request ids,
access log, Prometheus metrics, the OpenAPI document."""
import json
import re
import socket
import stat
import subprocess

import requests
import yaml

from conftest import IMGD, read_http_response, unix_request

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$")


def test_health_shape(imgd):
    r = imgd.get("/api/v1/health")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert body["status"] == "healthy"
    assert body["podman"] in ("connected", "disconnected")
    assert ISO.match(body["timestamp"]), body["timestamp"]
    assert set(body["components"]) == {"db", "store", "runtime"}
    assert body["components"]["db"] == {"status": "ok", "message": "ok"}
    assert body["components"]["store"]["status"] == "ok"
    runtime_ok = body["components"]["runtime"]["status"] == "ok"
    assert (body["podman"] == "connected") == runtime_ok
    # Flask jsonify form: compact, sorted keys, trailing newline
    assert r.text.endswith("}\n")
    assert list(body) == sorted(body)


def test_health_reports_missing_runtime(imgd_factory):
    d = imgd_factory(args=["--runtime", "/nonexistent/runc"])
    body = d.get("/api/v1/health").json()
    assert body["podman"] == "disconnected"
    assert body["components"]["runtime"]["status"] == "error"
    assert "/nonexistent/runc" in body["components"]["runtime"]["message"]
    # the 003 service answered 503 when podman was unreachable; imgd does when its runtime is
    r = d.get("/api/v1/health")
    assert r.status_code == 503 and body["status"] == "unhealthy"


def test_metrics_shape_and_counters(imgd):
    for _ in range(3):
        imgd.get("/api/v1/health")
    imgd.get("/api/v1/nothing-here")
    body = imgd.get("/api/v1/metrics").json()
    assert isinstance(body["uptime_seconds"], int) and body["uptime_seconds"] >= 0
    assert re.match(r"^\d+:\d\d:\d\d$", body["uptime_human"])
    assert body["active_threads"] >= 2
    assert body["max_workers"] >= 1
    assert ISO.match(body["timestamp"])
    assert body["requests_total"] >= 4
    assert body["requests_by_status"]["2xx"] >= 3
    assert body["requests_by_status"]["4xx"] >= 1
    assert body["requests_in_flight"] >= 1  # this request


def test_version(imgd):
    body = imgd.get("/api/v1/version").json()
    out = subprocess.run([str(IMGD), "--version"], capture_output=True, text=True).stdout
    assert out.strip() == f"imgd {body['version']}"
    assert body["api_version"] == "v1"
    assert re.match(r"^[0-9a-f]{32}$", body["instance_id"])
    assert body["schema_version"] >= 1


def test_instance_id_survives_restart(imgd_factory, tmp):
    d = imgd_factory()
    first = d.get("/api/v1/version").json()["instance_id"]
    assert d.stop() == 0
    again = imgd_factory(args=["--state-dir", str(d.state_dir)])
    assert again.get("/api/v1/version").json()["instance_id"] == first


def check_native_error(r, status):
    assert r.status_code == status
    body = r.json()
    assert set(body) == {"success", "error", "timestamp"}
    assert body["success"] is False
    assert set(body["error"]) == {"message", "code", "type"}
    assert body["error"]["code"] == status
    assert ISO.match(body["timestamp"])
    return body


def test_not_found_in_each_dialect(imgd):
    body = check_native_error(imgd.get("/api/v1/no-such-thing"), 404)
    assert "/api/v1/no-such-thing" in body["error"]["message"]
    assert body["error"]["type"] == "PodmanAPIError"
    check_native_error(imgd.get("/totally/unknown"), 404)

    r = imgd.get("/apis/ims/no-such-thing")
    assert r.status_code == 404
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.json() == {
        "status": 404, "title": "Not Found",
        "detail": "The requested URL was not found on the server. If you entered the URL "
                  "manually please check your spelling and try again."}
    for p in ("/v2/nothing", "/v3/nothing"):
        assert imgd.get(p).headers["Content-Type"] == "application/problem+json"

    r = imgd.get("/images/unknown/sub")
    assert r.status_code == 404
    assert set(r.json()) == {"error", "details"}
    assert r.json()["error"] == "Not Found"

    r = imgd.get("/attach/unknown")
    assert r.status_code == 404
    assert r.json()["code"] == 404 and "message" in r.json()
    assert set(r.json()) == {"code", "message"}

    r = imgd.get("/metrics/unknown")
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("text/plain")


def test_trailing_slash_is_not_a_match(imgd):
    assert imgd.get("/api/v1/health/").status_code == 404
    assert imgd.get("/apis/ims/version/").status_code == 404


def test_method_not_allowed_in_each_dialect(imgd):
    r = imgd.request("POST", "/api/v1/health")
    body = check_native_error(r, 405)
    assert r.headers["Allow"] == "GET, HEAD"
    assert "POST" in body["error"]["message"]

    r = imgd.request("DELETE", "/api/v1/system/log-level")
    check_native_error(r, 405)
    assert set(r.headers["Allow"].split(", ")) == {"GET", "HEAD", "PUT"}

    r = imgd.request("DELETE", "/apis/ims/version")
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, HEAD"
    assert r.headers["Content-Type"] == "application/json"  # Flask's own 405, not problem+json
    assert r.json() == {"message": "The method is not allowed for the requested URL.",
                        "status": 405, "title": "Method Not Allowed",
                        "detail": "The method is not allowed for the requested URL."}

    r = imgd.request("POST", "/metrics")
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, HEAD"
    assert r.headers["Content-Type"].startswith("text/plain")


def test_head_answers_like_get_without_body(imgd):
    r = imgd.request("HEAD", "/api/v1/health")
    assert r.status_code == 200
    assert r.content == b""


def test_malformed_json_is_400(imgd):
    r = imgd.request("PUT", "/api/v1/system/log-level", data=b'{"log_level": ')
    body = check_native_error(r, 400)
    assert body["error"]["type"] == "ValidationError"
    assert "malformed JSON" in body["error"]["message"]
    assert "line 1" in body["error"]["message"]

    r = imgd.request("PUT", "/api/v1/system/log-level", data=b"")
    check_native_error(r, 400)

    r = imgd.request("PUT", "/api/v1/system/log-level", json=["not", "an", "object"])
    body = check_native_error(r, 400)
    assert "log_level" in body["error"]["message"]


def test_json_depth_is_bounded(imgd):
    deep = b"[" * 10000 + b"]" * 10000
    body = check_native_error(imgd.request("PUT", "/api/v1/system/log-level", data=deep), 400)
    assert "deeper than 64" in body["error"]["message"]


def test_json_depth_limit_is_configurable(imgd_factory):
    d = imgd_factory(args=["--json-max-depth", "3"])
    data = json.dumps({"log_level": "INFO", "x": [[[1]]]}).encode()  # depth 4
    body = check_native_error(d.request("PUT", "/api/v1/system/log-level", data=data), 400)
    assert "deeper than 3" in body["error"]["message"]


def test_body_limit_is_413(imgd):
    big = b"x" * (1024 * 1024 + 1)
    body = check_native_error(imgd.request("PUT", "/api/v1/system/log-level", data=big), 413)
    assert "1048576" in body["error"]["message"]
    assert body["error"]["type"] == "ValidationError"

    def chunks():
        for _ in range(40):
            yield b"y" * 65536

    # chunked: no Content-Length, the limit is found while reading
    r = imgd.request("PUT", "/api/v1/system/log-level", data=chunks())
    check_native_error(r, 413)
    # the daemon is still fine afterwards
    assert imgd.get("/api/v1/health").status_code == 200


def test_body_limit_is_configurable(imgd_factory):
    d = imgd_factory(args=["--max-body-bytes", "2048"])
    r = d.request("PUT", "/api/v1/system/log-level", data=b" " * 3000)
    check_native_error(r, 413)
    r = d.request("PUT", "/api/v1/system/log-level", data=b'{"log_level":"INFO"}' + b" " * 1000)
    assert r.status_code == 200


def test_request_id_is_echoed_or_generated(imgd):
    r = imgd.get("/api/v1/health", headers={"X-Request-Id": "abc-123.trace:7"})
    assert r.headers["X-Request-Id"] == "abc-123.trace:7"
    r1 = imgd.get("/api/v1/health")
    r2 = imgd.get("/api/v1/health")
    assert re.match(r"^[0-9a-f]{16}$", r1.headers["X-Request-Id"])
    assert r1.headers["X-Request-Id"] != r2.headers["X-Request-Id"]
    # an id that could forge log lines is replaced, not echoed
    r = imgd.get("/api/v1/health", headers={"X-Request-Id": "bad id with spaces"})
    assert r.headers["X-Request-Id"] != "bad id with spaces"
    # errors carry it too
    r = imgd.get("/api/v1/missing", headers={"X-Request-Id": "err-42"})
    assert r.status_code == 404 and r.headers["X-Request-Id"] == "err-42"


def test_access_log_line_per_request(imgd):
    imgd.get("/api/v1/health", headers={"X-Request-Id": "trace-one"})
    imgd.get("/api/v1/nope", headers={"X-Request-Id": "trace-two"})
    imgd.request("PUT", "/api/v1/system/log-level", data=b"{bad",
                 headers={"X-Request-Id": "trace-three"})
    log = imgd.log()
    one = [line for line in log.splitlines() if "[trace-one]" in line]
    assert len(one) == 1
    assert re.search(r"INFO \[trace-one\] GET /api/v1/health 200 \d+B \d+us$", one[0])
    assert re.search(r"\[trace-two\] GET /api/v1/nope 404 \d+B \d+us$", log, re.M)
    three = [line for line in log.splitlines() if "[trace-three]" in line]
    # the failure is logged once with the request id, plus the access line
    assert len(three) == 2
    assert any("malformed JSON" in line for line in three)
    assert any(re.search(r"PUT /api/v1/system/log-level 400 \d+B \d+us$", line) for line in three)


def test_prometheus_metrics(imgd):
    imgd.get("/api/v1/health")
    imgd.get("/api/v1/health")
    imgd.get("/no/where")
    r = imgd.get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = r.text
    m = re.search(r'^imgd_http_requests_total\{method="GET",route="/api/v1/health",status="200"\}'
                  r' (\d+)$', text, re.M)
    assert m and int(m.group(1)) >= 2
    assert re.search(r'^imgd_http_requests_total\{method="",route="unmatched",status="404"\} 1$',
                     text, re.M)
    assert re.search(r'^imgd_http_request_duration_seconds_bucket\{method="GET",'
                     r'route="/api/v1/health",le="\+Inf"\} \d+$', text, re.M)
    assert re.search(r'^imgd_http_request_duration_seconds_count\{method="GET",'
                     r'route="/api/v1/health"\} \d+$', text, re.M)
    assert re.search(r'^imgd_build_info\{version="[^"]+"\} 1$', text, re.M)
    assert re.search(r"^imgd_up 1$", text, re.M)
    # every sample line is well formed
    for line in text.splitlines():
        assert line.startswith("#") or re.match(r"^[a-z_]+(\{[^}]*\})? [0-9.e+-]+$", line), line


def test_openapi_served_and_matches_route_table(imgd):
    rj = imgd.get("/openapi.json")
    assert rj.status_code == 200 and rj.headers["Content-Type"] == "application/json"
    ry = imgd.get("/openapi.yaml")
    assert ry.status_code == 200
    spec = rj.json()
    assert yaml.safe_load(ry.text) == spec
    assert spec["openapi"].startswith("3.")
    ops = set()
    for path, item in spec["paths"].items():
        for method in item:
            if method in ("get", "put", "post", "delete", "patch", "head", "options"):
                ops.add((method.upper(), path))
    out = subprocess.run([str(IMGD), "--list-routes"], capture_output=True, text=True, check=True)
    routes = set()
    for line in out.stdout.splitlines():
        method, pattern = line.split(" ", 1)
        routes.add((method, pattern.replace("*}", "}")))
    assert routes == ops, (routes - ops, ops - routes)
    ids = [op["operationId"] for item in spec["paths"].values() for m, op in item.items()
           if isinstance(op, dict) and "operationId" in op]
    assert len(ids) == len(set(ids)) == len(ops)


def test_ims_service_endpoints(imgd):
    r = imgd.get("/apis/ims/version")
    assert r.status_code == 200 and r.json() == {"version": imgd.get("/api/v1/version").json()["version"]}
    assert imgd.get("/apis/ims/healthz/live").json() == {}
    assert imgd.get("/apis/ims/healthz/ready").json() == {}
    assert imgd.get("/version").json() == r.json()
    assert imgd.get("/healthz/live").json() == {} and imgd.get("/healthz/ready").json() == {}


def test_unix_socket(imgd):
    st = imgd.socket.stat()
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    status, headers, body = unix_request(str(imgd.socket), "GET", "/api/v1/health")
    assert status == 200 and json.loads(body)["status"] == "healthy"
    assert "x-request-id" in headers
    status, _, body = unix_request(str(imgd.socket), "GET", "/apis/ims/nothing")
    assert status == 404 and json.loads(body)["status"] == 404


def test_keep_alive(imgd):
    with requests.Session() as s:
        for _ in range(5):
            r = s.get(imgd.url + "/api/v1/health", timeout=5)
            assert r.status_code == 200
            assert r.headers.get("Connection", "").lower() != "close"
        # an error response without a body also keeps the connection
        r = s.get(imgd.url + "/api/v1/nope", timeout=5)
        assert r.status_code == 404
        assert r.headers.get("Connection", "").lower() != "close"


def test_garbage_request_line_does_not_hurt(imgd):
    with socket.create_connection(("127.0.0.1", imgd.port), timeout=5) as s:
        s.sendall(b"\x00\x01\x02 garbage\r\n\r\n")
        try:
            s.recv(4096)
        except OSError:
            pass
    assert imgd.get("/api/v1/health").status_code == 200


def raw_exchange(port, head, body=b"", timeout=10):
    """Send a request head (and body) on a fresh socket; the response head."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head + body)
        return read_http_response(s)[0]


def test_refused_bodies_are_answered_not_reset(imgd):
    # a body sent to a path that does not exist is read and dropped, and the 404 arrives
    big = b"z" * (512 * 1024)
    for _ in range(3):
        r = imgd.request("POST", "/api/v1/nowhere", data=big)
        assert r.status_code == 404
        r = imgd.request("POST", "/api/v1/health", data=big)
        assert r.status_code == 405


def test_oversized_body_refused_before_it_is_sent(imgd):
    # a client that waits for "100 Continue" gets the 413 instead and never sends the body
    head = (b"PUT /api/v1/system/log-level HTTP/1.1\r\nHost: t\r\n"
            b"Content-Length: 5000000\r\nExpect: 100-continue\r\n\r\n")
    answer = raw_exchange(imgd.port, head)
    assert answer.startswith("HTTP/1.1 413"), answer
    assert "100 Continue" not in answer
    # a body announced far beyond what would be drained is refused at once too
    head = (b"PUT /api/v1/system/log-level HTTP/1.1\r\nHost: t\r\n"
            b"Content-Length: 100000000000\r\n\r\n")
    assert raw_exchange(imgd.port, head).startswith("HTTP/1.1 413")
    assert imgd.get("/api/v1/health").status_code == 200


def test_oversized_body_is_413_in_each_dialect(imgd):
    big = b"{" + b" " * (1024 * 1024) + b"}"
    r = imgd.request("POST", "/apis/ims/v3/images", data=big)
    assert r.status_code == 413
    assert r.headers["Content-Type"] == "application/problem+json"
    assert set(r.json()) == {"status", "title", "detail"}
    assert r.json()["title"] == "Request Entity Too Large"
    r = imgd.request("POST", "/v3/recipes", data=big)
    assert r.status_code == 413 and r.json()["status"] == 413
    r = imgd.request("POST", "/container", data=big)
    assert r.status_code == 413 and set(r.json()) == {"code", "message"}
    assert r.json()["code"] == 413 and "1048576" in r.json()["message"]
    r = imgd.request("POST", "/images", data=big)
    assert r.status_code == 413 and set(r.json()) == {"error", "details"}
    r = imgd.request("POST", "/api/v1/containers", data=big)
    check_native_error(r, 413)
    r = imgd.request("POST", "/metrics", data=big)
    assert r.status_code == 413 and r.headers["Content-Type"].startswith("text/plain")
