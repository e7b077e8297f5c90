#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Inventory benchmark: GET /local-images over 500 images held by a real containerd (Debian's 1.6,
# CRI plugin on, everything in a temp dir), imgd versus services that run a lister process per
# request, as the crictl service did (`sudo crictl images` on every request; crictl is not
# packaged in Debian 12, so ctr stands in for it):
#   imgd      build/imgd --inventory-sources cri: each answer comes from the first CRI ListImages
#             that started after its request arrived; requests waiting together share that call
#   peer      bench/http's deployment (Flask under gunicorn, sync workers, 2 x cores + 1), running
#             `ctr -n k8s.io images ls -q` per request (one List call: the cost closest to crictl's)
#   peer-ls   the same with `ctr -n k8s.io images ls` (ctr also reads every image's manifest and
#             config to print its size: far slower than crictl; PEER_LS=0 skips it)
# Also measured: one CRI ListImages on its own (curl over the socket), and the cost of one
# `ctr images ls` / `ctr images ls -q` / curl ListImages process (hyperfine).
# The images: IMAGES (500) distinct images built offline with tests/integration/ocibuild.py (the
# busybox layer shared, one tiny layer and a label of their own), each named
# docker.io/bench/app-NNN:1.X and docker.io/bench/app-NNN@sha256:<manifest>, imported with one
# `ctr images import --no-unpack` of one oci-archive, then waited for until CRI lists them all.
# Each server runs alone while it is measured: start, check its answer, single requests
# (wrk -t1 -c1), 2 s warm-up, measured wrk run, stop. During imgd's run `perf stat` counts its
# connect() calls: imgd opens one connection per ListImages, so that is its CRI calls.
# Usage: bench/inventory/run.sh        (or `make bench`)
#        DURATION=30s CONNECTIONS=64 IMGD_EXTRA='--max-workers 64' bench/inventory/run.sh
# Prints a table and writes it with the raw outputs to bench/results/inventory-<timestamp>.txt.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
IMAGES=${IMAGES:-500}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16}
IMGD_EXTRA=${IMGD_EXTRA:-}     # extra imgd arguments, e.g. '--max-workers 64'
PEER_LS=${PEER_LS:-1}
WARMUP=2s
SINGLE=5s                      # wrk -t1 -c1: one request at a time
THREADS=2
PYTHON=/usr/bin/python3        # Debian's Python: the one gunicorn, flask and pytest are for
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"
GUNICORN=/usr/bin/gunicorn
URL_PATH=/local-images
AIM_RPS=10000
AIM_P99_MS=10

cd "$REPO"
scripts/install-deps.sh packaging/bench-deps.txt
[ -x build/imgd ] || make -C "$REPO" build

T=$(mktemp -d)
SERVER_PID=""
CTD_PID=""
PERF_PID=""
HAD_RUN_CONTAINERD=0; [ -e /run/containerd ] && HAD_RUN_CONTAINERD=1
export PYTHONDONTWRITEBYTECODE=1   # no __pycache__ below tests/ from the helpers

stop_server() { stop_pid "$SERVER_PID"; SERVER_PID=""; }
cleanup() {
    stop_pid "$PERF_PID" INT
    PERF_PID=""
    stop_server
    stop_pid "$CTD_PID"
    CTD_PID=""
    # nothing is mounted (--no-unpack, no containers), but never leave a mount below $T behind
    awk -v d="$T/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$T"
    # containerd 1.6 may create /run/containerd even with root and state moved
    if [ "$HAD_RUN_CONTAINERD" = 0 ] && [ -d /run/containerd ]; then
        find /run/containerd -depth -type d -empty -delete 2>/dev/null || true
        [ ! -e /run/containerd ] || echo "warning: /run/containerd appeared during the benchmark" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now_ns() { date +%s%N; }
LOAD_AT_START=$(cut -d' ' -f1 /proc/loadavg)

# --- containerd, configured as the integration tests run it -----------------------------------
# helper.py config DIR: write DIR/containerd.toml (tests/integration/containerd.py's config: CRI
#   on, restrict_oom_score_adj, root, state and sockets below DIR)
# helper.py images DIR N OUT: build N images into OUT, import them, wait until CRI lists them
cat >"$T/helper.py" <<'EOF'
import sys
import time
from pathlib import Path

sys.path.insert(0, "tests/integration")
import containerd as cd  # noqa: E402
import ocibuild as ob  # noqa: E402

cmd, work = sys.argv[1], Path(sys.argv[2])
ctd = cd.Containerd(work)  # writes work/containerd.toml (the same text every time)
if cmd == "images":
    n, out = int(sys.argv[3]), Path(sys.argv[4])
    t0 = time.monotonic()
    layout = ob.Layout(out / "layout")
    base = ob.busybox_layer()
    ids, names = [], []
    for i in range(n):
        own = ob.build_layer([ob.Dir("app"), ob.File("app/index", f"{i}\n")])
        img = ob.build_image([base, own], labels={"bench.index": str(i)})
        for blob in img.blobs():
            layout.write_blob(blob)
        name = f"docker.io/bench/app-{i:03d}"
        desc = img.descriptor(with_platform=False)
        # io.containerd.image.name is taken verbatim by `ctr images import`: a tag and a digest
        # name per image, as a pull through CRI leaves them
        for ref in (f"{name}:1.{i % 10}", f"{name}@{img.digest}"):
            layout.index["manifests"].append(dict(desc, annotations={"io.containerd.image.name": ref}))
            names.append(ref)
        ids.append(img.config_blob.digest)
    layout._save()
    archive = ob.write_oci_archive(layout.path, out / "images-oci.tar")
    t1 = time.monotonic()
    ctd.ctr("images", "import", "--no-unpack", archive, timeout=600)
    t2 = time.monotonic()
    ctd.wait_cri_images(ids + [r for r in names if "@" in r], timeout=120)
    t3 = time.monotonic()
    print(f"{n} images ({archive.stat().st_size} bytes of oci-archive): built in {t1 - t0:.1f} s, "
          f"imported in {t2 - t1:.1f} s, all listed by CRI {t3 - t2:.1f} s later")
EOF
mkdir -p "$T/ctd" "$T/images"
"$PYTHON" "$T/helper.py" config "$T/ctd"
SOCKET="$T/ctd/containerd.sock"
CTR=(ctr --address "$SOCKET" -n k8s.io)
containerd --config "$T/ctd/containerd.toml" --log-level warn >"$T/containerd.log" 2>&1 &
CTD_PID=$!
for _ in $(seq 200); do
    kill -0 "$CTD_PID" 2>/dev/null || die "containerd exited; its log: $(cat "$T/containerd.log")"
    if [ -S "$SOCKET" ] && "${CTR[@]}" plugins ls 2>/dev/null | grep -q ' cri .* ok *$'; then
        break
    fi
    sleep 0.1
done
"${CTR[@]}" plugins ls 2>/dev/null | grep -q ' cri .* ok *$' ||
    die "containerd's CRI plugin is not up after 20 s; its log: $(cat "$T/containerd.log")"
echo "building and importing $IMAGES images ..."
IMAGES_LINE=$("$PYTHON" "$T/helper.py" images "$T/ctd" "$IMAGES" "$T/images")
echo "$IMAGES_LINE"
rm -rf "$T/images"
RECORDS=$("${CTR[@]}" images ls -q | wc -l)

# --- one ListImages on its own, and one lister process -----------------------------------------
printf '\0\0\0\0\0' >"$T/list-request"     # gRPC frame of an empty ListImagesRequest
LIST_URL=http://localhost/runtime.v1.ImageService/ListImages
CURL_LIST=(curl -sS --http2-prior-knowledge --unix-socket "$SOCKET" -X POST
           -H content-type:application/grpc -H te:trailers --data-binary "@$T/list-request")
"${CURL_LIST[@]}" -o "$T/list-response" "$LIST_URL"
LIST_BYTES=$(stat -c %s "$T/list-response")
# curl's time_total: the call alone (connect, request, the whole answer), not curl's start-up
for _ in $(seq 50); do
    "${CURL_LIST[@]}" -o /dev/null -w '%{time_total}\n' "$LIST_URL"
done >"$T/list-times"
read -r LIST_MED_MS LIST_MIN_MS < <(sort -g "$T/list-times" |
    awk '{ v[NR] = $1 * 1000 } END { printf "%.2f %.2f\n", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[1] }')

echo "timing one lister process (hyperfine) ..."
hyperfine -N --warmup 1 --runs 10 --export-json "$T/hf-ls.json" \
    --command-name 'ctr -n k8s.io images ls' "${CTR[*]} images ls" >"$T/hf-ls.txt"
hyperfine -N --warmup 3 --runs 50 --export-json "$T/hf-ls-q.json" \
    --command-name 'ctr -n k8s.io images ls -q' "${CTR[*]} images ls -q" >"$T/hf-ls-q.txt"
hyperfine -N --warmup 3 --runs 50 --export-json "$T/hf-curl.json" \
    --command-name 'curl ListImages' "${CURL_LIST[*]} -o /dev/null $LIST_URL" >"$T/hf-curl.txt"
# hf NAME: "median_ms mean_ms stddev_ms user_ms system_ms" of one hyperfine export
hf() {
    "$PYTHON" -c 'import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(" ".join("%.1f" % (r[k] * 1000) for k in ("median", "mean", "stddev", "user", "system")))' "$T/hf-$1.json"
}

# --- the servers -----------------------------------------------------------------------------------
# wait_ready PORT ERRFILE: until GET /local-images answers 2xx, or the server dies, or 30 s pass
wait_ready() {
    local port=$1 errfile=$2
    for _ in $(seq 300); do
        if curl -fsS -o /dev/null --max-time 10 "http://127.0.0.1:$port$URL_PATH" 2>/dev/null; then
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || die "server exited before answering; its stderr: $(cat "$errfile")"
        sleep 0.1
    done
    die "server did not answer $URL_PATH on port $port within 30 s; its stderr: $(cat "$errfile")"
}
# check_rows NAME PORT: the answer is a JSON list of IMAGES rows
check_rows() {
    local n
    n=$(curl -fsS --max-time 30 "http://127.0.0.1:$2$URL_PATH" |
        "$PYTHON" -c 'import json, sys; print(len(json.load(sys.stdin)))')
    [ "$n" = "$IMAGES" ] || die "$1 answered $n rows, expected $IMAGES"
}
# ticks PID...: user + system (+ waited-for children) clock ticks of the processes
ticks() {
    local sum=0 p
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] && sum=$((sum + $(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$p/stat")))
    done
    echo "$sum"
}
# server_ticks: ticks of the server and its direct children (gunicorn's workers)
server_ticks() {
    local pids
    mapfile -t pids < <(pgrep -P "$SERVER_PID" || true)
    ticks "$SERVER_PID" "${pids[@]}"
}
CLK_TCK=$(getconf CLK_TCK)

# measure NAME PORT [warm]: single requests, warm-up, measured run; writes $T/NAME.{single,wrk,cpu}
measure() {
    local name=$1 url="http://127.0.0.1:$2$URL_PATH" warm=${3:-warm} t0 t1 s0 s1 c0 c1
    if [ "$warm" = warm ]; then
        wrk -t1 -c1 -d"$SINGLE" --latency "$url" >"$T/$name.single"
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$url" >/dev/null
        sleep 1                                   # let answers still in flight drain
    fi
    if [ "$name" = imgd ] && command -v perf >/dev/null; then
        perf stat -x, -e syscalls:sys_enter_connect -p "$SERVER_PID" -o "$T/imgd.connects" \
            2>"$T/imgd.perf-err" &
        PERF_PID=$!
        sleep 0.3
    fi
    s0=$(server_ticks); c0=$(ticks "$CTD_PID"); t0=$(now_ns)
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url" >"$T/$name.wrk"
    t1=$(now_ns); s1=$(server_ticks); c1=$(ticks "$CTD_PID")
    if [ -n "$PERF_PID" ]; then
        stop_pid "$PERF_PID" INT
        PERF_PID=""
    fi
    awk -v s="$((s1 - s0))" -v c="$((c1 - c0))" -v hz="$CLK_TCK" -v ns="$((t1 - t0))" \
        'BEGIN { d = ns / 1e9; printf "%.3f %.2f %.2f\n", d, s / hz / d, c / hz / d }' >"$T/$name.cpu"
}

# imgd
PORT=$(free_port)
mkdir -p "$T/imgd/s" "$T/imgd/r"
# shellcheck disable=SC2086  # IMGD_EXTRA is a list of arguments
build/imgd --config none --state-dir "$T/imgd/s" --run-dir "$T/imgd/r" --listen "127.0.0.1:$PORT" \
    --log-level WARNING --cri-endpoint "unix://$SOCKET" --inventory-sources cri $IMGD_EXTRA \
    2>"$T/imgd.err" &
SERVER_PID=$!
wait_ready "$PORT" "$T/imgd.err"
check_rows imgd "$PORT"
echo "measuring imgd ..."
measure imgd "$PORT"
stop_server

# the peers: Flask under gunicorn, a ctr process per request
mkdir -p "$T/peer"
cat >"$T/peer/peer_inventory.py" <<'EOF'
"""Stand-in for the crictl service's GET /local-images: a lister process per request, its table
parsed into rows. ctr replaces `sudo crictl images` (no sudo: root runs it)."""
import os
import shlex
import subprocess

from flask import Flask, jsonify

app = Flask(__name__)
LISTER = shlex.split(os.environ["PEER_LISTER"])
QUIET = LISTER[-1] == "-q"


@app.route("/local-images", methods=["GET"])
def local_images():
    try:
        out = subprocess.run(LISTER, capture_output=True, text=True, check=True, timeout=60).stdout
    except (subprocess.SubprocessError, OSError) as e:
        return jsonify({"error": "Failed to retrieve local images", "details": str(e)}), 500
    rows = []
    for line in out.splitlines()[0 if QUIET else 1:]:
        cols = line.split()
        # one row per tag, as crictl prints them: skip CRI's sha256:<id> and the name@digest records
        if not cols or cols[0].startswith("sha256:") or "@" in cols[0]:
            continue
        repository, _, tag = cols[0].rpartition(":")
        row = {"repository": repository, "tag": tag}
        if not QUIET and len(cols) >= 5:  # REF TYPE DIGEST SIZE(2 words) PLATFORMS LABELS
            row["image_id"] = cols[2].split(":", 1)[-1][:13]
            row["size"] = cols[3] + cols[4]
        rows.append(row)
    return jsonify(rows)
EOF
WORKERS=$(($(nproc) * 2 + 1))
run_peer() {
    local name=$1 lister=$2 warm=$3 port
    port=$(free_port)
    PEER_LISTER="$lister" "$GUNICORN" --chdir "$T/peer" --workers "$WORKERS" --worker-class sync \
        --graceful-timeout 5 --bind "127.0.0.1:$port" --log-level warning peer_inventory:app \
        2>"$T/$name.err" &
    SERVER_PID=$!
    wait_ready "$port" "$T/$name.err"
    check_rows "$name" "$port"
    echo "measuring $name ..."
    measure "$name" "$port" "$warm"
    stop_server
}
run_peer peer "${CTR[*]} images ls -q" warm
PEERS=(peer)
if [ "$PEER_LS" = 1 ]; then
    # no single requests and no warm-up: one request takes longer than wrk's 2 s warm-up, whose
    # unanswered requests would still occupy the workers during the measured run
    run_peer peer-ls "${CTR[*]} images ls" cold
    PEERS+=(peer-ls)
fi

# --- report ----------------------------------------------------------------------------------------
# to_ms VALUE: wrk's "512.00us" / "1.23ms" / "1.01s" in milliseconds
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; else if (v ~ /m$/) n *= 60000
        printf "%.2f", n }'
}
# lat NAME COLUMN: p50/p99 (50, 99) or max (max) in ms; "-" when wrk recorded none (all timed out)
lat() {
    local v
    if [ "$2" = max ]; then
        v=$(awk '/Latency/ && !/Distribution/ { print $4 }' "$T/$1")
    else
        v=$(awk -v p="$2%" '$1 == p { print $2 }' "$T/$1")
    fi
    v=$(to_ms "$v")
    [ "$v" = 0.00 ] && v="-"
    echo "$v"
}
rps() { awk '/^Requests\/sec:/ { printf "%.1f", $2 }' "$T/$1"; }
requests() { awk '/ requests in / { print $1 }' "$T/$1"; }
pct() { to_ms "$(awk -v p="$2%" '$1 == p { print $2 }' "$T/$1")"; }
errors() {
    awk '/Socket errors:/ { sub(/^ *Socket errors: */, ""); printf "socket errors: %s; ", $0 }
         /Non-2xx or 3xx responses:/ { printf "non-2xx/3xx: %s; ", $NF }' "$T/$1"
}
CONNECTS=$(awk -F, '$3 ~ /sys_enter_connect/ { print $1 }' "$T/imgd.connects" 2>/dev/null || true)
[[ "$CONNECTS" =~ ^[0-9]+$ ]] || CONNECTS=""
read -r IMGD_SECS _ _ <"$T/imgd.cpu"
IMGD_RPS=$(rps imgd.wrk)
IMGD_P99=$(pct imgd.wrk 99)

WRK_VERSION=$(wrk -v 2>&1 | awk 'NR == 1 { print $2 }' || true)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src 2>/dev/null && [ -z "$(git ls-files --others --exclude-standard src 2>/dev/null)" ] ||
    COMMIT="$COMMIT+dirty-src"
FACTS="machine: nproc=$(nproc) kernel=$(uname -r) load1-at-start=$LOAD_AT_START imgd=$(build/imgd --version | awk '{ print $NF }')@$COMMIT containerd=$(containerd --version | awk '{ print $3 }') wrk=$WRK_VERSION hyperfine=$(hyperfine --version | awk '{ print $2 }') gunicorn=$("$GUNICORN" --version | awk '{ print $3 }' | tr -d ')') flask=$("$PYTHON" -c 'import flask; print(flask.__version__)')"

report() {
    echo "$FACTS"
    echo "images:  $IMAGES_LINE"
    echo "         $RECORDS containerd image records in k8s.io (per image: tag, name@digest, CRI's sha256:<id>); ListImages answer $LIST_BYTES bytes"
    echo "load:    wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency http://127.0.0.1:\$PORT$URL_PATH (after wrk -t1 -c1 -d$SINGLE --latency and a $WARMUP warm-up)"
    echo "imgd:    build/imgd --config none --state-dir \$T/s --run-dir \$T/r --listen 127.0.0.1:\$PORT --log-level WARNING --cri-endpoint unix://\$SOCKET --inventory-sources cri${IMGD_EXTRA:+ $IMGD_EXTRA}"
    echo "peer:    $GUNICORN --workers $WORKERS --worker-class sync peer_inventory:app, per request: ctr --address \$SOCKET -n k8s.io images ls -q"
    [ "$PEER_LS" = 1 ] && echo "peer-ls: the same, per request: ctr --address \$SOCKET -n k8s.io images ls"
    echo
    echo "one CRI ListImages (curl over the socket, time_total, 50 calls): median $LIST_MED_MS ms, min $LIST_MIN_MS ms"
    echo "one lister process (hyperfine -N):"
    printf '  %-28s %10s %10s %10s %10s %10s\n' command "median ms" "mean ms" "stddev ms" "user ms" "sys ms"
    local h name f
    for h in ls:'ctr -n k8s.io images ls' ls-q:'ctr -n k8s.io images ls -q' curl:'curl ListImages'; do
        read -r -a f < <(hf "${h%%:*}")
        printf '  %-28s %10s %10s %10s %10s %10s\n' "${h#*:}" "${f[@]}"
    done
    echo
    printf '%-8s %11s %9s %9s %9s %11s %13s %11s %11s\n' target "requests/s" "p50 ms" "p99 ms" "max ms" "imgd/target" "single p50 ms" "cpu cores" "containerd"
    local targets=(imgd "${PEERS[@]}") single srv ctd
    for name in "${targets[@]}"; do
        single="-"
        [ -f "$T/$name.single" ] && single=$(pct "$name.single" 50)
        read -r _ srv ctd <"$T/$name.cpu"
        printf '%-8s %11s %9s %9s %9s %11s %13s %11s %11s\n' "$name" "$(rps "$name.wrk")" \
            "$(lat "$name.wrk" 50)" "$(lat "$name.wrk" 99)" "$(lat "$name.wrk" max)" \
            "$(awk -v a="$IMGD_RPS" -v b="$(rps "$name.wrk")" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "n/a" }')" \
            "$single" "$srv" "$ctd"
    done
    echo "(cpu cores: the server's processes, with the ctr processes they waited for; containerd: the daemon's own)"
    for name in "${targets[@]}"; do
        [ -n "$(errors "$name.wrk")" ] && echo "$name: $(errors "$name.wrk")"
    done
    echo
    if [ -n "$CONNECTS" ]; then
        awk -v c="$CONNECTS" -v r="$(requests imgd.wrk)" -v s="$IMGD_SECS" 'BEGIN {
            printf "imgd made %d CRI ListImages calls in %.1f s: %.0f per second, %.1f requests answered per call\n",
                   c, s, c / s, r / c }'
    else
        echo "imgd's CRI calls: not counted (perf stat failed: $(head -c 200 "$T/imgd.perf-err" 2>/dev/null))"
    fi
    awk -v c="$CONNECTIONS" -v m="$LIST_MED_MS" -v n="$LIST_MIN_MS" 'BEGIN {
        printf "bound: when every answer needs a ListImages started after its request, %d connections get at most %d / %.2f ms = %.0f requests/s (%.0f with the fastest call)\n",
               c, c, m, c / m * 1000, c / n * 1000 }'
    awk -v r="$IMGD_RPS" -v p="$IMGD_P99" -v ar="$AIM_RPS" -v ap="$AIM_P99_MS" -v c="$CONNECTIONS" -v d="$DURATION" 'BEGIN {
        printf "aim for imgd (>= %d requests/s and p99 < %d ms at -t2 -c%d -d%s): %s (requests/s %s: %s; p99 %s ms: %s)\n",
               ar, ap, c, d, (r >= ar && p < ap) ? "met" : "NOT met", r, (r >= ar) ? "met" : "not met",
               p, (p < ap) ? "met" : "not met" }'
}

mkdir -p bench/results
OUT="bench/results/inventory-$STAMP.txt"
{
    report
    echo
    echo "===== ListImages time_total, seconds ====="
    tr '\n' ' ' <"$T/list-times"; echo
    for h in ls ls-q curl; do
        echo
        echo "===== hyperfine: $h ====="
        cat "$T/hf-$h.txt"
    done
    for name in imgd "${PEERS[@]}"; do
        for kind in single wrk; do
            [ -f "$T/$name.$kind" ] || continue
            echo
            echo "===== raw wrk output: $name ($kind) ====="
            cat "$T/$name.$kind"
        done
    done
    echo
    echo "===== perf stat of imgd (connect calls) ====="
    cat "$T/imgd.connects" 2>/dev/null || true
} >"$OUT"
report
echo
echo "raw outputs: $OUT"
