# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Helpers the benchmark scripts share; source it after setting PYTHON (a python3 for free_port).

die() { echo "error: $*" >&2; exit 1; }

# free_port: a TCP port free on 127.0.0.1 now
free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL PID ERRFILE WHAT: until URL answers 2xx; exits the script (showing ERRFILE) when
# PID dies first or 15 s pass
wait_http() {
    local url=$1 pid=$2 errfile=$3 what=$4
    for _ in $(seq 150); do
        curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "error: $what exited before answering; its output:" >&2
            cat "$errfile" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "error: $what did not answer $url within 15 s; its output:" >&2
    cat "$errfile" >&2
    exit 1
}
