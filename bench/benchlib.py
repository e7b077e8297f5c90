# SPDX-License-Identifier: MIT
"""What the benchmark drivers share. A driver in bench/<name>/ imports it after putting bench/ on
sys.path."""
import http.client
import json


def call(conn, method, url, body=None):
    """One request on a kept-alive connection, with body (when given) as JSON; returns (status,
    body bytes). http.client opens a new connection by itself when the server closed the last
    one."""
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, url, body=data, headers=headers)
        resp = conn.getresponse()
        out = resp.read()
    except (http.client.HTTPException, OSError):
        conn.close()
        raise
    if resp.will_close:
        conn.close()
    return resp.status, out
