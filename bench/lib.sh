# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Helpers the benchmark scripts share; source it after setting PYTHON (a python3 for free_port).

die() { echo "error: $*" >&2; exit 1; }

# stop_pid PID [SIG]: signal a child of this script (TERM by default) and reap it; "" is nothing
stop_pid() {
    local pid=$1 sig=${2:-TERM}
    [ -n "$pid" ] || return 0
    kill -"$sig" "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# pids_under DIR [COMM]: processes (of command name COMM, when given) whose command line names a
# path below DIR: a run's own monitors, runtimes and the like, its temp dir being its own
pids_under() {
    local p
    for p in /proc/[0-9]*; do
        [ "${p#/proc/}" = "$$" ] && continue
        if [ -n "${2:-}" ] && [ "$(cat "$p/comm" 2>/dev/null)" != "$2" ]; then
            continue
        fi
        tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF "$1/" && echo "${p#/proc/}"
    done
    return 0
}

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
