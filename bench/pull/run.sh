#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Pull benchmark: one ~200 MB image (busybox + 4 x 50 MiB random layers) from a local
# docker-registry on 127.0.0.1, pulled by three tools, interleaved round by round:
#   imgd    pull through imgd's API: download + unpack into its store (`imgctl pull -q`, or the
#           non-streaming POST /api/v1/images/pull while imgctl has no pull command)
#   skopeo  skopeo copy docker://... oci:DIR:big        (download only, no unpack)
#   podman  podman pull                                  (download + unpack into overlay storage)
# Every run starts from nothing: imgd is started on a new state dir, skopeo copies into a new
# dir, podman gets a new graphroot/runroot/libpod dir; none of that is timed. Before each timed
# run the previous run's files are removed and `sync` runs, so no tool pays for another's
# writeback. The registry's blobs are read once before round 1, so every run (round 1 too)
# reads them from the page cache.
# Usage: bench/pull/run.sh               (or `make bench`)
#        ROUNDS=9 bench/pull/run.sh
# Prints a table and writes it with every run to bench/results/pull-<timestamp>.txt.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ROUNDS=${ROUNDS:-5}
PYTHON=/usr/bin/python3    # Debian's Python: the one python3-requests and python3-pytest are for
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"
TOOLS=(imgd skopeo podman)
REPO_TAG=test/big:latest

cd "$REPO"
scripts/install-deps.sh packaging/bench-deps.txt
{ [ -x build/imgd ] && [ -x build/imgctl ]; } || make -C "$REPO" build

T=$(mktemp -d)
IMGD_PID=""
REG_PID=""
HAD_VARLIB=0; [ -e /var/lib/containers ] && HAD_VARLIB=1
HAD_RUN_CONTAINERS=0; [ -e /run/containers ] && HAD_RUN_CONTAINERS=1

stop_imgd() { stop_pid "$IMGD_PID"; IMGD_PID=""; }
# unmount_under DIR: every mount below DIR (podman's overlay driver may leave some), deepest first
unmount_under() {
    local m
    awk -v d="$1/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
}
cleanup() {
    stop_imgd
    stop_pid "$REG_PID"
    REG_PID=""
    unmount_under "$T"
    rm -rf "$T"
    # podman (rootful) writes /var/lib/containers/cache unless told otherwise; say so if it did
    if [ "$HAD_VARLIB" = 0 ] && [ -e /var/lib/containers ]; then
        echo "warning: /var/lib/containers appeared during the benchmark" >&2
    fi
    if [ "$HAD_RUN_CONTAINERS" = 0 ] && [ -e /run/containers ]; then
        echo "warning: /run/containers appeared during the benchmark" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Everything the tools and helpers write goes below $T.
export TMPDIR="$T/tmp"
mkdir -p "$TMPDIR"
echo '{}' >"$T/auth.json"                                   # no credentials for anyone
echo '{"default": [{"type": "insecureAcceptAnything"}]}' >"$T/policy.json"
export REGISTRY_AUTH_FILE="$T/auth.json"

# --- the registry and the image ---------------------------------------------------------------
REG_PORT=$(free_port)
mkdir -p "$T/registry/storage"
cat >"$T/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $T/registry/storage
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$REG_PORT
EOF
# docker-registry reads REGISTRY_* variables as config overrides: REGISTRY_AUTH_FILE would be one
env -u REGISTRY_AUTH_FILE docker-registry serve "$T/registry/config.yml" >"$T/registry/log" 2>&1 &
REG_PID=$!
wait_http "http://127.0.0.1:$REG_PORT/v2/" "$REG_PID" "$T/registry/log" docker-registry
REG="127.0.0.1:$REG_PORT"
REF="$REG/$REPO_TAG"
echo "building and pushing $REF ..."
DIGEST=$("$PYTHON" tests/integration/registry.py push-big "$REG" "$REPO_TAG")
# image size = config + layers as the registry serves them
IMAGE_BYTES=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$REG/v2/${REPO_TAG%:*}/manifests/${REPO_TAG##*:}" |
    "$PYTHON" -c 'import json, sys; m = json.load(sys.stdin); print(m["config"]["size"] + sum(l["size"] for l in m["layers"]))')
# warm the page cache with the registry's blobs, so round 1 reads them from memory like the rest
find "$T/registry/storage" -type f -name data -exec cat {} + >/dev/null

# --- imgd: pull through imgctl when it has a pull command, else the API -----------------------
if build/imgctl --help 2>&1 | grep -qE '^ +pull( |$)'; then
    IMGD_CLIENT=imgctl
    IMGD_CMD_TEXT="build/imgctl --server http://127.0.0.1:\$PORT pull -q $REF"
else
    IMGD_CLIENT=curl
    IMGD_CMD_TEXT="curl -s -X POST -d '{\"reference\":\"$REF\"}' http://127.0.0.1:\$PORT/api/v1/images/pull"
fi
CLK_TCK=$(getconf CLK_TCK)
# cpu_ticks PID: user + system clock ticks the process has used so far
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# Each prepare_* sets RUN_DIR and CMD (an array) for one run; each check_* verifies the result.
prepare_imgd() {
    local port
    port=$(free_port)
    build/imgd --config none --state-dir "$RUN_DIR/state" --run-dir "$RUN_DIR/run" \
        --socket none --listen "127.0.0.1:$port" --log-level WARNING 2>"$RUN_DIR/imgd.err" &
    IMGD_PID=$!
    wait_http "http://127.0.0.1:$port/api/v1/health" "$IMGD_PID" "$RUN_DIR/imgd.err" imgd
    if [ "$IMGD_CLIENT" = imgctl ]; then
        CMD=(build/imgctl --server "http://127.0.0.1:$port" pull -q "$REF")
    else
        CMD=(curl -s -X POST -d "{\"reference\":\"$REF\"}" "http://127.0.0.1:$port/api/v1/images/pull")
    fi
}
check_imgd() {
    if [ "$IMGD_CLIENT" = curl ]; then
        grep -q '"success":true' "$RUN_DIR/out" || die "imgd pull failed: $(cat "$RUN_DIR/out")"
    else
        grep -q '^sha256:[0-9a-f]\{64\}$' "$RUN_DIR/out" ||
            die "imgctl pull printed no image ID: $(cat "$RUN_DIR/out" "$RUN_DIR/err")"
    fi
    local n
    n=$(find "$RUN_DIR/state" -path '*/data/l*.bin' -size 51200k | wc -l)
    [ "$n" = 4 ] || die "imgd: expected the 4 unpacked 50 MiB files, found $n"
}
prepare_skopeo() {
    mkdir -p "$RUN_DIR/xdg"
    CMD=(env XDG_DATA_HOME="$RUN_DIR/xdg" XDG_RUNTIME_DIR="$RUN_DIR/xdg" _CONTAINERS_ROOTLESS_UID=1000
         skopeo --policy "$T/policy.json" copy -q --src-tls-verify=false
         "docker://$REF" "oci:$RUN_DIR/dir:big")
}
check_skopeo() {
    grep -q "${DIGEST#sha256:}" "$RUN_DIR/dir/index.json" || die "skopeo: $DIGEST is not in the OCI layout"
}
prepare_podman() {
    local p=$RUN_DIR
    mkdir -p "$p/tmp" "$p/xdg"
    # runtime-feasibility.md §2: runc and cgroupfs (crun fails on the hybrid cgroups), ulimits within
    # root's hard limits, file events, no systemd. Those matter for `podman run`; a pull only
    # needs the storage and the paths below $T. network_backend = "cni": with netavark, rootful
    # podman creates /run/containers/networks on every start.
    cat >"$p/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "none"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$p/events.log"
tmp_dir = "$p/tmp"
static_dir = "$p/libpod"
volume_path = "$p/volumes"
[network]
network_backend = "cni"
network_config_dir = "$p/networks"
EOF
    printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/root"\nrunroot = "%s/runroot"\n' "$p" "$p" \
        >"$p/storage.conf"
    printf 'unqualified-search-registries = []\n[[registry]]\nlocation = "%s"\ninsecure = true\n' "$REG" \
        >"$p/registries.conf"
    # _CONTAINERS_ROOTLESS_UID only moves containers/image's blob-info cache from
    # /var/lib/containers/cache to $XDG_DATA_HOME (as for skopeo); podman stays rootful.
    CMD=(env CONTAINERS_CONF="$p/containers.conf" CONTAINERS_STORAGE_CONF="$p/storage.conf"
         CONTAINERS_REGISTRIES_CONF="$p/registries.conf" XDG_DATA_HOME="$p/xdg"
         XDG_RUNTIME_DIR="$p/xdg" XDG_CONFIG_HOME="$p/xdg" TMPDIR="$p/tmp" _CONTAINERS_ROOTLESS_UID=1000
         podman pull -q --tls-verify=false --signature-policy "$T/policy.json" "$REF")
}
check_podman() {
    grep -q "^[0-9a-f]\{64\}$" "$RUN_DIR/out" || die "podman pull printed no image ID: $(cat "$RUN_DIR/out" "$RUN_DIR/err")"
    local n
    n=$(find "$RUN_DIR/root/overlay" -path '*/diff/data/l*.bin' -size 51200k | wc -l)
    [ "$n" = 4 ] || die "podman: expected the 4 unpacked 50 MiB files, found $n"
}
finish_run() {
    stop_imgd
    unmount_under "$RUN_DIR"
    rm -rf "$RUN_DIR"
}

# run_one TOOL ROUND: one fresh, timed pull; appends "ROUND TOOL WALL_S CPU_S SYNC_S" to $T/runs.
# SYNC_S, not part of WALL_S: how long a `sync` right after the pull takes, i.e. how much of what
# the tool wrote it left unwritten (imgd syncfs()es each layer, skopeo fsync()s each blob).
run_one() {
    local tool=$1 round=$2 t0 t1 c0=0 c1=0 wall cpu times s0 s1
    RUN_DIR="$T/run/$round-$tool"
    mkdir -p "$RUN_DIR"
    "prepare_$tool"
    sync
    [ "$tool" = imgd ] && c0=$(cpu_ticks "$IMGD_PID")
    TIMEFORMAT='%3U %3S'
    t0=$(date +%s%N)
    { time "${CMD[@]}" >"$RUN_DIR/out" 2>"$RUN_DIR/err"; } 2>"$RUN_DIR/times" ||
        die "$tool failed: $(cat "$RUN_DIR/out" "$RUN_DIR/err")"
    t1=$(date +%s%N)
    [ "$tool" = imgd ] && c1=$(cpu_ticks "$IMGD_PID")
    s0=$(date +%s%N)
    sync
    s1=$(date +%s%N)
    "check_$tool"
    read -r -a times <"$RUN_DIR/times"
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    # CPU of the command and its children, plus for imgd the daemon's own
    cpu=$(awk -v u="${times[0]}" -v s="${times[1]}" -v d="$((c1 - c0))" -v hz="$CLK_TCK" \
        'BEGIN { printf "%.2f", u + s + d / hz }')
    echo "$round $tool $wall $cpu $(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')" >>"$T/runs"
    printf '  round %d  %-7s %7.3f s  (cpu %5.2f s)\n' "$round" "$tool" "$wall" "$cpu"
    finish_run
    sync
}

echo "pulling $REF ($IMAGE_BYTES bytes), $ROUNDS rounds of ${TOOLS[*]}"
: >"$T/runs"
for round in $(seq "$ROUNDS"); do
    for tool in "${TOOLS[@]}"; do
        run_one "$tool" "$round"
    done
done

# --- report ----------------------------------------------------------------------------------
# stats TOOL COLUMN: "median min max" of column 3 (wall), 4 (cpu) or 5 (sync after) of that tool's runs
stats() {
    awk -v t="$1" -v c="$2" '$2 == t { print $c }' "$T/runs" | sort -g |
        awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
                                  printf "%.3f %.3f %.3f\n", m, v[1], v[NR] }'
}
wall_of() { awk -v t="$1" -v r="$2" '$1 == r && $2 == t { print $3 }' "$T/runs"; }

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src 2>/dev/null || COMMIT="$COMMIT+dirty-src"
FACTS="machine: nproc=$(nproc) kernel=$(uname -r) fs=$(findmnt -n -o FSTYPE -T "$T") imgd=$(build/imgd --version | awk '{ print $NF }')@$COMMIT skopeo=$(skopeo --version | awk '{ print $3 }') podman=$(podman --version | awk '{ print $3 }') docker-registry=$(dpkg-query -W -f='${Version}' docker-registry)"
read -r IMGD_MED _ _ < <(stats imgd 3)
read -r SKOPEO_MED _ _ < <(stats skopeo 3)
read -r PODMAN_MED _ _ < <(stats podman 3)

report() {
    echo "$FACTS"
    echo "image:   $REF  $DIGEST  $IMAGE_BYTES bytes (busybox + 4 x 50 MiB random, gzip)"
    echo "imgd:    build/imgd --config none --state-dir \$R/state --run-dir \$R/run --socket none --listen 127.0.0.1:\$PORT --log-level WARNING"
    echo "         $IMGD_CMD_TEXT"
    echo "skopeo:  skopeo --policy \$T/policy.json copy -q --src-tls-verify=false docker://$REF oci:\$R/dir:big"
    echo "podman:  podman pull -q --tls-verify=false --signature-policy \$T/policy.json $REF  (storage in \$R)"
    echo "each run: new \$R, sync before; registry blobs in the page cache for every run"
    echo "cpu: user + system of the command, plus imgd's daemon; sync: a \`sync\` right after the pull (not timed)"
    echo
    printf '%-6s' round
    local tool r
    for tool in "${TOOLS[@]}"; do printf ' %9s' "$tool s"; done
    printf ' %14s %14s\n' "skopeo/imgd" "podman/imgd"
    for r in $(seq "$ROUNDS"); do
        printf '%-6s' "$r"
        for tool in "${TOOLS[@]}"; do printf ' %9s' "$(wall_of "$tool" "$r")"; done
        awk -v i="$(wall_of imgd "$r")" -v s="$(wall_of skopeo "$r")" -v p="$(wall_of podman "$r")" \
            'BEGIN { printf " %14.2f %14.2f\n", s / i, p / i }'
    done
    echo
    printf '%-8s %9s %9s %9s %9s %11s %12s %11s\n' tool "median s" "min s" "max s" "MB/s" "cpu s med" "sync s med" "time/imgd"
    for tool in "${TOOLS[@]}"; do
        read -r med min max < <(stats "$tool" 3)
        read -r cmed _ _ < <(stats "$tool" 4)
        read -r smed _ _ < <(stats "$tool" 5)
        awk -v t="$tool" -v m="$med" -v a="$min" -v b="$max" -v c="$cmed" -v y="$smed" -v n="$IMAGE_BYTES" -v i="$IMGD_MED" \
            'BEGIN { printf "%-8s %9.3f %9.3f %9.3f %9.0f %11.2f %12.3f %10.2fx\n", t, m, a, b, n / m / 1e6, c, y, m / i }'
    done
    echo
    awk -v i="$IMGD_MED" -v s="$SKOPEO_MED" -v p="$PODMAN_MED" 'BEGIN {
        printf "aim 1, imgd (download + unpack) no slower than skopeo (download only): %s (imgd %.3f s, skopeo %.3f s, skopeo/imgd %.2f)\n",
               (i <= s) ? "met" : "NOT met", i, s, s / i
        printf "aim 2, imgd at least 2x faster than podman pull:                      %s (podman/imgd %.2f)\n",
               (p / i >= 2) ? "met" : "NOT met", p / i }'
}

mkdir -p bench/results
OUT="bench/results/pull-$STAMP.txt"
{
    report
    echo
    echo "===== runs: round tool wall_s cpu_s sync_after_s ====="
    cat "$T/runs"
} >"$OUT"
echo
report
echo
echo "runs: $OUT"
