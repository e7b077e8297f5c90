#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# IMS benchmark: imgd's IMS records API under wrk (-t2 -c32), three loads:
#   list    GET /v3/images over RECORDS (100) image records, made first with POST /v3/images
#   get     GET /v3/images/{id} of one of them
#   create  POST /v3/public-keys with a JSON body (bench/ims/create.lua): every request creates a
#           record; the script then checks with GET /v3/public-keys that the records number the
#           201s wrk counted (no lost writes; both printed)
# against a floor, not a peer: the original IMS is a Flask service that cannot run here, so
# bench/ims/floor.py stands in as the least a Python server does: the standard library's
# ThreadingHTTPServer, keep-alive, records in a dict in memory, nothing on disk.
# ROUNDS (3) rounds; in each, each server is started on a new temp state dir and a free port,
# waited for, seeded, warmed up (1 s of list), loaded with list, get and create, checked and
# stopped; the order of the two servers alternates from round to round. Medians are reported.
# Usage: bench/ims/run.sh                    (or `make bench`)
#        DURATION=10s ROUNDS=5 bench/ims/run.sh
#        IMGD_BUILD=/path/to/build bench/ims/run.sh
# Prints a table and writes it with the raw wrk outputs to bench/results/ims-<timestamp>.txt.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=${IMGD_BUILD:-$REPO/build}
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
RECORDS=${RECORDS:-100}
WARMUP=1s
THREADS=2
CONNECTIONS=32
PYTHON=/usr/bin/python3    # Debian's Python (stdlib only here)
AIM_LIST_RPS=10000
AIM_CREATE_RPS=2000
export PYTHONDONTWRITEBYTECODE=1

cd "$REPO"
# only what this benchmark uses from the shared list: wrk (load) and curl (readiness probe)
grep -E '^(wrk|curl)[[:space:]]' packaging/bench-deps.txt | scripts/install-deps.sh /dev/stdin
if [ ! -x "$BUILD/imgd" ]; then
    if [ -n "${IMGD_BUILD:-}" ]; then
        echo "error: IMGD_BUILD=$IMGD_BUILD holds no imgd" >&2
        exit 1
    fi
    make -C "$REPO" build
fi

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

# a copy, so that a rebuild of $BUILD while this runs (minutes) does not mix two binaries
mkdir "$T/bin"
cp "$BUILD/imgd" "$T/bin/imgd"
[ -x "$BUILD/imgd-monitor" ] && cp "$BUILD/imgd-monitor" "$T/bin/"
IMGD=$T/bin/imgd
IMGD_BUILT=$(date -u -r "$BUILD/imgd" +%Y-%m-%dT%H:%M:%SZ)
IMGD_SHA=$(sha256sum "$IMGD" | cut -c1-12)
COMMIT=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)

# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

# wait_ready PORT ERRFILE: until the server answers GET /v3/images on PORT
wait_ready() {
    wait_http "http://127.0.0.1:$1/v3/images" "$SERVER_PID" "$2" server
}

# cpu_s PID: user + system seconds the process has used so far
CLK_TCK=$(getconf CLK_TCK)
cpu_s() {
    sed 's/.*) //' "/proc/$1/stat" | awk -v hz="$CLK_TCK" '{ printf "%.2f", ($12 + $13) / hz }'
}

# load OUT URL [wrk args...]: one measured wrk run into OUT.wrk, with the server's CPU use
load() {
    local out=$1 url=$2 c0 c1 t0 t1
    shift 2
    c0=$(cpu_s "$SERVER_PID"); t0=$(date +%s.%N)
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url" >"$out.wrk"
    t1=$(date +%s.%N); c1=$(cpu_s "$SERVER_PID")
    awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" 'BEGIN { printf "server_cpu_pct: %.0f\n", 100 * (b - a) / (e - s) }' >>"$out.wrk"
}

# bench NAME ROUND: the three loads on the running server SERVER_PID at PORT
bench() {
    local name=$1 round=$2 base="http://127.0.0.1:$PORT" out id keys
    out="$T/r$round-$name"
    id=$("$PYTHON" "$HERE/client.py" seed "$PORT" "$RECORDS")
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$base/v3/images" >/dev/null
    load "$out-list" "$base/v3/images"
    load "$out-get" "$base/v3/images/$id"
    load "$out-create" "$base/v3/public-keys" -s "$HERE/create.lua"
    sleep 0.2   # requests still in flight when wrk stopped are answered to nobody, but done
    keys=$("$PYTHON" "$HERE/client.py" count "$PORT" /v3/public-keys)
    echo "records_after: $keys" >>"$out-create.wrk"
}

run_imgd() {
    local round=$1 dir="$T/r$1-imgd"
    mkdir -p "$dir"
    PORT=$(free_port)
    "$IMGD" --config none --state-dir "$dir/state" --run-dir "$dir/run" --socket none \
        --listen "127.0.0.1:$PORT" --log-level WARNING 2>"$dir.err" &
    SERVER_PID=$!
    wait_ready "$PORT" "$dir.err"
    bench imgd "$round"
    stop_server
    rm -rf "$dir"
}

run_floor() {
    local round=$1
    PORT=$(free_port)
    "$PYTHON" "$HERE/floor.py" "$PORT" 2>"$T/r$round-floor.err" &
    SERVER_PID=$!
    wait_ready "$PORT" "$T/r$round-floor.err"
    bench floor "$round"
    stop_server
}

START=$(date +%s)
for round in $(seq "$ROUNDS"); do
    echo "round $round of $ROUNDS ..." >&2
    if [ $((round % 2)) -eq 1 ]; then
        run_imgd "$round"; run_floor "$round"
    else
        run_floor "$round"; run_imgd "$round"
    fi
done
ELAPSED=$(($(date +%s) - START))

# --- report ----------------------------------------------------------------------------------------
# to_ms VALUE: wrk's "512.00us" / "1.23ms" / "1.01s" in milliseconds
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; else if (v ~ /m$/) n *= 60000
        printf "%.3f", n }'
}
# field FILE KEY: the value after "KEY:" in a raw output
field() { awk -v k="$2:" '$1 == k { print $2 }' "$1"; }
rps() { awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$1"; }
pct() { to_ms "$(awk -v p="$2%" '$1 == p { print $2 }' "$1")"; }
errors() {
    awk '/Socket errors:/ { sub(/^ *Socket errors: */, ""); printf "socket errors: %s; ", $0 }
         /Non-2xx or 3xx responses:/ { printf "non-2xx/3xx: %s; ", $NF }' "$1"
}
median() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) { print v[(NR + 1) / 2]; exit }
        m = sprintf("%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2); sub(/\.?0+$/, "", m); print m }'
}
# col NAME LOAD FN [ARG]: the median over the rounds of FN FILE [ARG]
col() {
    local name=$1 kind=$2 fn=$3 arg=${4:-} r
    for r in $(seq "$ROUNDS"); do "$fn" "$T/r$r-$name-$kind.wrk" ${arg:+"$arg"}; echo; done | median
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

WRK_VERSION=$(wrk -v 2>&1 | awk 'NR == 1 { print $2 }' || true)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
LOAD_AFTER=$(cut -d' ' -f1 /proc/loadavg)
FACTS="machine: nproc=$(nproc) kernel=$(uname -r) wrk=$WRK_VERSION python=$("$PYTHON" -c 'import platform; print(platform.python_version())') imgd=$("$IMGD" --version | awk '{ print $NF }')@$COMMIT (built $IMGD_BUILT, sha256 $IMGD_SHA) load1=$LOAD_BEFORE..$LOAD_AFTER"

report() {
    echo "$FACTS"
    echo "load:    wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency (list, get: after a $WARMUP warm-up of list; create: -s bench/ims/create.lua); $ROUNDS rounds, medians; $RECORDS image records"
    echo "imgd:    $BUILD/imgd (a copy) --config none --state-dir \$T/state --run-dir \$T/run --socket none --listen 127.0.0.1:\$PORT --log-level WARNING"
    echo "floor:   $PYTHON bench/ims/floor.py \$PORT   (stdlib ThreadingHTTPServer, dict in memory: a floor, not a peer)"
    echo
    printf '%-6s %-13s %10s %8s %8s %6s   %s\n' round target "req/s" "p50 ms" "p99 ms" "cpu %" "create check"
    local r name kind f
    for r in $(seq "$ROUNDS"); do
        for name in imgd floor; do
            for kind in list get create; do
                f="$T/r$r-$name-$kind.wrk"
                printf '%-6s %-13s %10s %8s %8s %6s   %s\n' "$r" "$name-$kind" "$(rps "$f")" "$(pct "$f" 50)" \
                    "$(pct "$f" 99)" "$(field "$f" server_cpu_pct)" \
                    "$([ "$kind" = create ] && echo "201s $(field "$f" created_201), other $(field "$f" other_status), records $(field "$f" records_after)")"
            done
        done
    done
    echo
    printf '%-7s %12s %8s %8s %12s %8s %8s %12s\n' load "imgd req/s" "p50 ms" "p99 ms" "floor req/s" "p50 ms" "p99 ms" "imgd/floor"
    for kind in list get create; do
        printf '%-7s %12s %8s %8s %12s %8s %8s %12s\n' "$kind" \
            "$(col imgd "$kind" rps)" "$(col imgd "$kind" pct 50)" "$(col imgd "$kind" pct 99)" \
            "$(col floor "$kind" rps)" "$(col floor "$kind" pct 50)" "$(col floor "$kind" pct 99)" \
            "$(ratio "$(col imgd "$kind" rps)" "$(col floor "$kind" rps)")"
    done
    echo
    local bad=0 c201 other recs e
    for r in $(seq "$ROUNDS"); do
        for name in imgd floor; do
            for kind in list get create; do
                e=$(errors "$T/r$r-$name-$kind.wrk")
                [ -n "$e" ] && echo "round $r $name-$kind: $e"
            done
            f="$T/r$r-$name-create.wrk"
            c201=$(field "$f" created_201); other=$(field "$f" other_status); recs=$(field "$f" records_after)
            [ "$other" -eq 0 ] || echo "round $r $name: $other create answers were not 201"
            if [ "$recs" -lt "$c201" ]; then
                echo "round $r $name: LOST WRITES: wrk counted $c201 answers 201, GET /v3/public-keys lists $recs records"
                bad=1
            elif [ "$recs" -gt $((c201 + CONNECTIONS)) ]; then
                echo "round $r $name: $recs records but only $c201 answers 201 (more than the $CONNECTIONS in flight at the stop)"
                bad=1
            elif [ "$recs" -ne "$c201" ]; then
                echo "round $r $name: $recs records, $c201 answers 201: $((recs - c201)) created by requests still in flight when wrk stopped"
            fi
        done
    done
    [ "$bad" -eq 0 ] && echo "create check: every 201 that wrk counted is a record in GET /v3/public-keys, in every round (no lost writes)"
    awk -v l="$(col imgd list rps)" -v c="$(col imgd create rps)" -v al="$AIM_LIST_RPS" -v ac="$AIM_CREATE_RPS" 'BEGIN {
        printf "aim for imgd (>= %d list requests/s): %s; (>= %d creates/s): %s\n",
               al, (l >= al) ? "met" : "NOT MET", ac, (c >= ac) ? "met" : "NOT MET" }'
    echo "took ${ELAPSED} s"
}

mkdir -p bench/results
OUT="bench/results/ims-$STAMP.txt"
{
    report
    for r in $(seq "$ROUNDS"); do
        for name in imgd floor; do
            for kind in list get create; do
                echo
                echo "===== raw wrk output: round $r, $name, $kind ====="
                cat "$T/r$r-$name-$kind.wrk"
            done
        done
    done
} >"$OUT"
report
echo
echo "raw wrk outputs: $OUT"
