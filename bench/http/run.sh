#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# HTTP benchmark: GET /api/v1/health on imgd versus the Flask service it replaces (bench/http/peer_app.py
# under gunicorn, sync workers, 2 x cores + 1 of them). Each server runs alone while it is measured:
# start, wait until it answers, 2 s warm-up, measured wrk run, stop.
#   imgd  --log-level WARNING  (no access log; gunicorn's access log is off by default too)
#   imgd  --log-level INFO     (one access line per request on stderr, written to a file)
#   peer  gunicorn + Flask
# Usage: bench/http/run.sh            (or `make bench`)
#        DURATION=30s bench/http/run.sh
# Prints a table and writes the raw wrk outputs to bench/results/http-<timestamp>.txt.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
DURATION=${DURATION:-10s}
WARMUP=2s
THREADS=2
CONNECTIONS=32
PYTHON=/usr/bin/python3    # Debian's Python: the one gunicorn and python3-flask are installed for
GUNICORN=/usr/bin/gunicorn
URL_PATH=/api/v1/health

cd "$REPO"
scripts/install-deps.sh packaging/bench-deps.txt
[ -x build/imgd ] || make -C "$REPO" build

T=$(mktemp -d)
SERVER_PID=""
stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
cleanup() {
    stop_server
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

# wait_ready PORT ERRFILE: until the server answers URL_PATH on PORT
wait_ready() {
    wait_http "http://127.0.0.1:$1$URL_PATH" "$SERVER_PID" "$2" server
}

# measure NAME PORT: warm-up, then the measured run; raw output in $T/NAME.wrk
measure() {
    local name=$1 port=$2 url="http://127.0.0.1:$2$URL_PATH"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$url" >/dev/null
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url" >"$T/$name.wrk"
}

# --- imgd, without and with the access log ---------------------------------------------------
run_imgd() {
    local name=$1 level=$2 port
    port=$(free_port)
    mkdir -p "$T/$name"
    build/imgd --config none --state-dir "$T/$name/state" --run-dir "$T/$name/run" \
        --listen "127.0.0.1:$port" --log-level "$level" 2>"$T/$name.err" &
    SERVER_PID=$!
    wait_ready "$port" "$T/$name.err"
    measure "$name" "$port"
    stop_server
}
run_imgd imgd WARNING
run_imgd imgd-accesslog INFO

# --- the peer: Flask under gunicorn --------------------------------------------------------------
WORKERS=$(($(nproc) * 2 + 1))
PEER_PORT=$(free_port)
"$GUNICORN" --chdir "$HERE" --workers "$WORKERS" --worker-class sync \
    --bind "127.0.0.1:$PEER_PORT" --log-level warning peer_app:app 2>"$T/peer.err" &
SERVER_PID=$!
wait_ready "$PEER_PORT" "$T/peer.err"
measure peer "$PEER_PORT"
stop_server

# --- report ----------------------------------------------------------------------------------------
# to_ms VALUE: wrk's "512.00us" / "1.23ms" / "1.01s" in milliseconds
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; else if (v ~ /m$/) n *= 60000
        printf "%.3f", n }'
}
rps() { awk '/^Requests\/sec:/ { print $2 }' "$T/$1.wrk"; }
pct() { to_ms "$(awk -v p="$2%" '$1 == p { print $2 }' "$T/$1.wrk")"; }
errors() {
    awk '/Socket errors:/ { sub(/^ *Socket errors: */, ""); printf "socket errors: %s; ", $0 }
         /Non-2xx or 3xx responses:/ { printf "non-2xx/3xx: %s; ", $NF }' "$T/$1.wrk"
}

WRK_VERSION=$(wrk -v 2>&1 | awk 'NR == 1 { print $2 }' || true)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
FACTS="machine: nproc=$(nproc) kernel=$(uname -r) wrk=$WRK_VERSION gunicorn=$("$GUNICORN" --version | awk '{ print $3 }' | tr -d ')') flask=$("$PYTHON" -c 'import flask; print(flask.__version__)')"
COMMAND="wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency http://127.0.0.1:\$PORT$URL_PATH (after a $WARMUP warm-up)"
PEER_RPS=$(rps peer)
ACCESS_LINES=$(grep -c " $URL_PATH " "$T/imgd-accesslog.err" || true)

report() {
    echo "$FACTS"
    echo "load:    $COMMAND"
    echo "imgd:    build/imgd --config none --state-dir \$T/state --run-dir \$T/run --listen 127.0.0.1:\$PORT --log-level WARNING|INFO"
    echo "peer:    $GUNICORN --chdir bench/http --workers $WORKERS --worker-class sync --bind 127.0.0.1:\$PORT peer_app:app"
    echo
    printf '%-16s %12s %10s %10s %12s\n' target "requests/s" "p50 ms" "p99 ms" "imgd/peer"
    local name ratio
    for name in imgd imgd-accesslog peer; do
        ratio=$(awk -v a="$(rps "$name")" -v b="$PEER_RPS" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
        printf '%-16s %12s %10s %10s %12s\n' "$name" "$(rps "$name")" "$(pct "$name" 50)" "$(pct "$name" 99)" "$ratio"
    done
    echo
    for name in imgd imgd-accesslog peer; do
        [ -n "$(errors "$name")" ] && echo "$name: $(errors "$name")"
    done
    echo "imgd-accesslog wrote $ACCESS_LINES access lines to its stderr file"
    awk -v r="$(rps imgd)" -v p="$(pct imgd 99)" 'BEGIN {
        printf "aim for imgd (>= 30000 requests/s and p99 < 5 ms at -t2 -c32 -d10s): %s\n",
               (r >= 30000 && p < 5) ? "met" : "not met" }'
}

mkdir -p bench/results
OUT="bench/results/http-$STAMP.txt"
{
    report
    for name in imgd imgd-accesslog peer; do
        echo
        echo "===== raw wrk output: $name ====="
        cat "$T/$name.wrk"
    done
} >"$OUT"
report
echo
echo "raw wrk outputs: $OUT"
