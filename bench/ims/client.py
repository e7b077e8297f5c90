# SPDX-License-Identifier: MIT
"""Set-up and checks of bench/ims/run.sh (not timed), over one kept-alive connection.

    client.py seed PORT N      POST N images {"name": "bench-image-NNN"} to /v3/images (each must
                               answer 201 with an id), check GET /v3/images lists exactly N, and
                               print the first record's id
    client.py count PORT PATH  GET PATH (a collection), print the length of the JSON array
"""

import http.client
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import benchlib  # noqa: E402


def call(conn, method, path, body=None):
    status, raw = benchlib.call(conn, method, path, body)
    return status, (json.loads(raw) if raw else None)


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    if cmd == "seed":
        n = int(sys.argv[3])
        ids = []
        for i in range(n):
            status, rec = call(conn, "POST", "/v3/images", {"name": "bench-image-%03d" % i})
            if status != 201 or not isinstance(rec, dict) or not rec.get("id"):
                sys.exit("seed: POST /v3/images answered %d: %r" % (status, rec))
            ids.append(rec["id"])
        status, listed = call(conn, "GET", "/v3/images")
        if status != 200 or len(listed) != n:
            sys.exit("seed: GET /v3/images answered %d with %s records, not %d"
                     % (status, len(listed) if isinstance(listed, list) else "no", n))
        status, one = call(conn, "GET", "/v3/images/" + ids[0])
        if status != 200 or one.get("id") != ids[0]:
            sys.exit("seed: GET /v3/images/%s answered %d: %r" % (ids[0], status, one))
        print(ids[0])
    elif cmd == "count":
        status, listed = call(conn, "GET", sys.argv[3])
        if status != 200 or not isinstance(listed, list):
            sys.exit("count: GET %s answered %d" % (sys.argv[3], status))
        print(len(listed))
    else:
        sys.exit("usage: client.py seed PORT N | count PORT PATH")


if __name__ == "__main__":
    main()
