#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# IMS artifacts benchmark: seconds to upload and to download one SIZE_MB (256) MiB file through
# imgd's PUT/GET /artifacts/boot-images/<key> (fs backend: streamed to a staging file with its
# md5, renamed into place; served with sendfile), beside the same with s3rver, the S3 server the
# tests use (the peer: what a client does without imgd), driven by curl --aws-sigv4. ROUNDS (5)
# rounds, interleaved, medians; every download is compared with the file by md5.
# Usage: bench/ims/artifacts.sh       SIZE_MB=1024 ROUNDS=3 bench/ims/artifacts.sh
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=${IMGD_BUILD:-$REPO/build}
SIZE_MB=${SIZE_MB:-256}
ROUNDS=${ROUNDS:-5}
PYTHON=/usr/bin/python3
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"
S3RVER=$REPO/tests/.s3rver/node_modules/.bin/s3rver

cd "$REPO"
grep -E '^curl[[:space:]]' packaging/bench-deps.txt | scripts/install-deps.sh /dev/stdin
[ -x "$S3RVER" ] || make -C "$REPO" test-deps >/dev/null
[ -x "$BUILD/imgd" ] || make -C "$REPO" build

T=$(mktemp -d)
IMGD_PID="" S3_PID=""
cleanup() {
    stop_pid "$IMGD_PID"
    stop_pid "$S3_PID"
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

head -c $((SIZE_MB * 1024 * 1024)) /dev/urandom >"$T/file"
SUM=$(md5sum "$T/file" | cut -d' ' -f1)

PORT=$(free_port)
"$BUILD/imgd" --config none --state-dir "$T/imgd" --run-dir "$T/run" --socket none \
    --listen "127.0.0.1:$PORT" --log-level WARNING 2>"$T/imgd.err" &
IMGD_PID=$!
wait_http "http://127.0.0.1:$PORT/v3/images" "$IMGD_PID" "$T/imgd.err" imgd

mkdir -p "$T/s3"
"$S3RVER" -d "$T/s3" -a 127.0.0.1 -p 0 --configure-bucket boot-images >"$T/s3.log" 2>&1 &
S3_PID=$!
for _ in $(seq 100); do
    S3PORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$T/s3.log")
    [ -n "$S3PORT" ] && break
    sleep 0.1
done
[ -n "${S3PORT:-}" ] || die "s3rver did not start: $(cat "$T/s3.log")"
SIG=(--aws-sigv4 aws:amz:us-east-1:s3 --user S3RVER:S3RVER)

# timed NAME CMD...: run CMD (a curl printing %{time_total}), append "NAME seconds" to $T/times
timed() {
    local name=$1
    shift
    printf '%s %s\n' "$name" "$("$@")" >>"$T/times"
}
check() { [ "$(md5sum "$T/back" | cut -d' ' -f1)" = "$SUM" ] || die "$1: the download differs"; }

C=(curl -fsS -o /dev/null -w '%{time_total}')
for round in $(seq "$ROUNDS"); do
    key=bench/r$round
    timed imgd-put "${C[@]}" -T "$T/file" -H 'Content-Type: application/octet-stream' \
        "http://127.0.0.1:$PORT/artifacts/boot-images/$key"
    timed imgd-get curl -fsS -o "$T/back" -w '%{time_total}' \
        "http://127.0.0.1:$PORT/artifacts/boot-images/$key"
    check imgd
    timed s3rver-put "${C[@]}" "${SIG[@]}" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
        -H 'Content-Type: application/octet-stream' -T "$T/file" \
        "http://127.0.0.1:$S3PORT/boot-images/$key"
    timed s3rver-get curl -fsS -o "$T/back" -w '%{time_total}' "${SIG[@]}" \
        -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "http://127.0.0.1:$S3PORT/boot-images/$key"
    check s3rver
    rm -f "$T/back"
done

mkdir -p "$REPO/bench/results"
OUT="$REPO/bench/results/ims-artifacts-$(date -u +%Y%m%dT%H%M%SZ).txt"
"$PYTHON" - "$T/times" "$SIZE_MB" "$ROUNDS" <<'PY' | tee "$OUT"
import statistics, sys
times = {}
for line in open(sys.argv[1]):
    name, sec = line.split()
    times.setdefault(name, []).append(float(sec))
mb, rounds = int(sys.argv[2]), int(sys.argv[3])
print(f"{mb} MiB file, {rounds} rounds, medians (seconds; MiB/s)")
print(f"{'op':<6}{'imgd s':>10}{'MiB/s':>9}{'s3rver s':>11}{'MiB/s':>9}{'s3rver/imgd':>13}")
for op in ("put", "get"):
    a, b = statistics.median(times["imgd-" + op]), statistics.median(times["s3rver-" + op])
    print(f"{op:<6}{a:>10.3f}{mb / a:>9.0f}{b:>11.3f}{mb / b:>9.0f}{b / a:>13.2f}")
PY
echo "every download matched the file's md5 ($SUM)"
