# SPDX-License-Identifier: MIT
"""Stand-in for the health endpoint of the Flask service imgd replaces (the "003" podman REST API).

Only GET /api/v1/health, answering what the original answered through jsonify. The original also
asked podman whether it was reachable before answering; this stand-in does not, which makes the
peer faster than it really was. Run it the way the original's docs said: under gunicorn, e.g.
    /usr/bin/gunicorn --chdir bench/http --workers 5 --worker-class sync peer_app:app
"""
from datetime import datetime

from flask import Flask, jsonify

app = Flask(__name__)


@app.route("/api/v1/health", methods=["GET"])
def health():
    return jsonify({"status": "healthy", "podman": "connected", "timestamp": datetime.now().isoformat()})
