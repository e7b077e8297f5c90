#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Containers benchmark: the lifecycle of a busybox container running `sleep 300`, in four timed
# phases (create+start, exec `echo hi`, stop, remove), by three tools per OCI runtime X (runc,
# crun), all interleaved in one run:
#   imgd(X)    imgd's API (build/imgd --runtime X, its monitor running X), over a kept-alive HTTP
#              connection; one imgd per runtime, each with its own state and run dirs and port
#   podman(X)  podman's REST API (`podman system service`, libpod endpoints, runtime X), over a
#              kept-alive connection to its unix socket; one service per runtime, own storage
#   X          the bare runtime on an equivalent bundle (`X run -d`, `X exec`, `X kill` + wait,
#              `X delete`): the floor
# crun refuses a hybrid cgroup host whose cgroup2 mount (/sys/fs/cgroup/unified) has
# controllers, as this one's has, unless that mount is hidden from it (runtime-feasibility.md
# §1). Then imgd's monitor runs crun in a private mount namespace without it (unshare in the
# forked child); the bare crun's `run -d` gets the same from bench/containers/private-exec.c
# (unshare, / private, umount, exec), its exec, kill and delete run in the host's namespace, as
# imgd's do; podman's runtime is a wrapper named crun doing the same for every runtime call:
# private-exec.c built as a drop-in (without a C compiler, the shell wrapper of §1,
# `unshare -m --propagation private sh -c 'umount ...; exec crun "$@"'`, ~4.5 ms more per call).
# The same image for all: a rootfs of busybox-static with its applet links, /etc/passwd and
# /etc/group, built offline, made an OCI layout with umoci, imported by each imgd
# (POST /api/v1/images/import) and copied into each podman's storage (`skopeo copy oci:...
# containers-storage:...`); the bare runtimes' bundle holds the same rootfs as a plain
# directory. Each round runs one cycle per tool, the order rotating round by round, after one
# untimed warm-up cycle per tool. bench/containers/driver.py does the timing
# (time.perf_counter() around each call) and the checks (outside the timed part).
# Network: none everywhere (imgd "network": "none", podman netns none, bare a new network ns).
# Stop: `sleep` as PID 1 of a pid namespace ignores SIGTERM (no handler), so every tool stops
# with a 0 s grace period: imgd and podman ?timeout=0, bare `kill KILL`.
# Everything (each imgd's state, each podman's storage and service, the bare runtimes' state)
# lives in a temp dir that is removed on exit, also on ^C, with the containers, processes and
# mounts below it.
# Usage: bench/containers/run.sh                 (runc and crun; runc alone when crun is missing)
#        ROUNDS=40 bench/containers/run.sh
#        RUNTIMES=runc bench/containers/run.sh   (runc only: the run before crun was added)
#        RUNTIMES=crun bench/containers/run.sh
#        NO_PODMAN=1 bench/containers/run.sh     (imgd and the bare runtimes; also when podman is missing)
# Prints a table and writes it with every cycle's figures to bench/results/containers-<timestamp>.txt.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ROUNDS=${ROUNDS:-20}
WARMUP=${WARMUP:-1}
NO_PODMAN=${NO_PODMAN:-0}
RUNTIMES_ASKED=${RUNTIMES:-}
PYTHON=/usr/bin/python3    # Debian's Python (stdlib only here)
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"
TAG=bench/busybox:latest

cd "$REPO"
# the shared list (runc, umoci, podman among them): a failure leaves out what is missing
scripts/install-deps.sh packaging/bench-deps.txt ||
    echo "warning: could not install packaging/bench-deps.txt; continuing with what is installed" >&2
for tool in umoci busybox curl; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed (packaging/bench-deps.txt)" >&2; exit 1; }
done
{ [ -x build/imgd ] && [ -x build/imgd-monitor ]; } || make -C "$REPO" build

if [ "$(id -u)" -ne 0 ]; then
    echo "error: runs containers with runc, crun, imgd and rootful podman: run as root" >&2
    exit 1
fi

# the runtimes: RUNTIMES as given, else runc, and crun too when it is installed
CRUN_NOTE=""
if [ -n "$RUNTIMES_ASKED" ]; then
    RUNTIMES=""
    for rt in $RUNTIMES_ASKED; do
        case "$rt" in
        runc | crun) ;;
        *) echo "error: RUNTIMES: '$rt' is neither runc nor crun" >&2; exit 1 ;;
        esac
        command -v "$rt" >/dev/null ||
            { echo "error: RUNTIMES names $rt, which is NOT INSTALLED (Debian package $rt)" >&2; exit 1; }
        case " $RUNTIMES " in *" $rt "*) ;; *) RUNTIMES="${RUNTIMES:+$RUNTIMES }$rt" ;; esac
    done
    [ -n "$RUNTIMES" ] || { echo "error: RUNTIMES names no runtime" >&2; exit 1; }
else
    command -v runc >/dev/null || { echo "error: runc is needed (packaging/bench-deps.txt)" >&2; exit 1; }
    RUNTIMES=runc
    if command -v crun >/dev/null; then
        RUNTIMES="runc crun"
    else
        CRUN_NOTE="crun: NOT INSTALLED (Debian package crun), so only runc is measured"
        echo "$CRUN_NOTE"
    fi
fi
# a hybrid cgroup host whose cgroup2 mount has controllers: crun needs that mount hidden (the
# test of needs_private_cgroup() in src/core/runtime/runtime.c)
PRIVATE_CGROUP=0
[ -n "$(tr -d ' \n' </sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null)" ] && PRIVATE_CGROUP=1
crun_private() { [ "$1" = crun ] && [ "$PRIVATE_CGROUP" = 1 ]; }
has_runtime() { case " $RUNTIMES " in *" $1 "*) return 0 ;; esac; return 1; }

PODMAN=1
PODMAN_NOTE=""
if [ "$NO_PODMAN" = 1 ]; then
    PODMAN=0; PODMAN_NOTE="podman: left out (NO_PODMAN=1)"
elif ! command -v podman >/dev/null || ! command -v conmon >/dev/null; then
    PODMAN=0; PODMAN_NOTE="podman: NOT INSTALLED, so only imgd and the bare runtimes are measured"
elif ! command -v skopeo >/dev/null; then
    PODMAN=0; PODMAN_NOTE="podman: left out, skopeo (which puts the image into its storage) is NOT INSTALLED"
fi
[ -n "$PODMAN_NOTE" ] && echo "$PODMAN_NOTE"

T=$(mktemp -d)
# per runtime: each imgd's PID, port and runtime (as its health says), each podman service's PID, directory and socket
declare -A IMGD_PID=() IMGD_PORT=() IMGD_RUNTIME=() PODMAN_PID=() PODMAN_DIR=() PODMAN_SOCK=()
DRIVER_PID=""
BLOB_CACHE=/var/lib/containers/cache/blob-info-cache-v1.boltdb
IPAM_DB=/run/containers/networks/ipam.db
HAD_BLOB_CACHE=0; [ -e "$BLOB_CACHE" ] && HAD_BLOB_CACHE=1
HAD_IPAM_DB=0; [ -e "$IPAM_DB" ] && HAD_IPAM_DB=1
HAD_VARLIB=0; [ -e /var/lib/containers ] && HAD_VARLIB=1
HAD_RUN_CONTAINERS=0; [ -e /run/containers ] && HAD_RUN_CONTAINERS=1
HAD_RUN_RUNC=0; [ -e /run/runc ] && HAD_RUN_RUNC=1
HAD_RUN_CRUN=0; [ -e /run/crun ] && HAD_RUN_CRUN=1
# cgroup parents the containers go below (v1 hierarchies: one directory per controller)
CG_PARENTS=(imgd libpod_parent)
declare -A HAD_CG=()
for cg in "${CG_PARENTS[@]}"; do
    [ -n "$(find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -name "$cg" 2>/dev/null)" ] && HAD_CG[$cg]=1
done
export PYTHONDONTWRITEBYTECODE=1

# runc's imgd and podman keep the directories of the runs before crun was added
imgd_dir() { if [ "$1" = runc ]; then echo "$T/imgd"; else echo "$T/imgd-$1"; fi; }
podman_dir() { if [ "$1" = runc ]; then echo "$T/podman"; else echo "$T/podman-$1"; fi; }

# podman_env DIR CMD...: CMD with the podman set-up in DIR
podman_env() {
    local P=$1
    shift
    env CONTAINERS_CONF="$P/containers.conf" CONTAINERS_STORAGE_CONF="$P/storage.conf" \
        CONTAINERS_REGISTRIES_CONF="$P/registries.conf" REGISTRY_AUTH_FILE="$T/auth.json" \
        XDG_DATA_HOME="$P/xdg" XDG_CONFIG_HOME="$P/xdg" XDG_RUNTIME_DIR="$P/xdg" \
        TMPDIR="$P/tmp" "$@"
}
cleanup() {
    set +e
    local rt root id pid port
    stop_pid "$DRIVER_PID"
    DRIVER_PID=""
    # each imgd: remove what is left of its containers while it runs, then stop it
    for rt in "${!IMGD_PID[@]}"; do
        port=${IMGD_PORT[$rt]}
        if kill -0 "${IMGD_PID[$rt]}" 2>/dev/null; then
            curl -s --max-time 10 "http://127.0.0.1:$port/api/v1/containers" 2>/dev/null |
                "$PYTHON" -c 'import json, sys
for c in json.load(sys.stdin).get("containers", []): print(c["name"])' 2>/dev/null |
                while read -r n; do
                    curl -s --max-time 30 -o /dev/null -X DELETE "http://127.0.0.1:$port/api/v1/containers/$n?force=true"
                done
        fi
        stop_pid "${IMGD_PID[$rt]}"
        unset "IMGD_PID[$rt]"
    done
    # each podman: remove its containers through its own CLI, then stop the service
    for rt in "${!PODMAN_DIR[@]}"; do
        [ -f "${PODMAN_DIR[$rt]}/containers.conf" ] &&
            podman_env "${PODMAN_DIR[$rt]}" podman rm -a -f -t 0 >/dev/null 2>&1
        stop_pid "${PODMAN_PID[$rt]:-}"
        unset "PODMAN_DIR[$rt]" "PODMAN_PID[$rt]"
    done
    # the floors' containers, and any imgd's left with their runtime state (crun's delete works
    # from the host's namespace, runtime-feasibility.md §1)
    for rt in runc crun; do
        command -v "$rt" >/dev/null || continue
        for root in "$T/$rt" "$(imgd_dir "$rt")/run/$rt"; do
            [ -d "$root" ] || continue
            for id in $("$rt" --root "$root" list -q 2>/dev/null); do
                "$rt" --root "$root" delete --force "$id" >/dev/null 2>&1
            done
        done
    done
    # monitors and conmons of this run (conmons of podman's exec sessions linger for minutes)
    for pid in $(pids_under "$T"); do
        kill -KILL "$pid" 2>/dev/null
    done
    awk -v d="$T/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
    done
    rm -rf "$T"
    # files podman writes outside its configured dirs (runtime-feasibility.md §2)
    [ "$HAD_BLOB_CACHE" = 0 ] && rm -f "$BLOB_CACHE"
    [ "$HAD_IPAM_DB" = 0 ] && rm -f "$IPAM_DB"
    [ "$HAD_VARLIB" = 0 ] && [ -d /var/lib/containers ] && find /var/lib/containers -depth -type d -empty -delete
    [ "$HAD_RUN_CONTAINERS" = 0 ] && [ -d /run/containers ] && find /run/containers -depth -type d -empty -delete
    [ "$HAD_VARLIB" = 0 ] && [ -e /var/lib/containers ] && echo "warning: /var/lib/containers appeared during the benchmark" >&2
    [ "$HAD_RUN_CONTAINERS" = 0 ] && [ -e /run/containers ] && echo "warning: /run/containers appeared during the benchmark" >&2
    # podman's runc and crun keep their state in /run/runc and /run/crun (their default roots):
    # empty once all is deleted
    [ "$HAD_RUN_RUNC" = 0 ] && [ -d /run/runc ] && rmdir /run/runc 2>/dev/null
    [ "$HAD_RUN_CRUN" = 0 ] && [ -d /run/crun ] && rmdir /run/crun 2>/dev/null
    # empty cgroups this run created (podman's libpod_parent holds a conmon group), deepest first
    local cg d
    for cg in "${CG_PARENTS[@]}"; do
        [ -n "${HAD_CG[$cg]:-}" ] && continue
        for d in /sys/fs/cgroup/*/"$cg"; do
            [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
        done
    done
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for WHAT PID ERRFILE CMD...: until CMD succeeds, or PID dies, or 30 s pass
wait_for() {
    local what=$1 pid=$2 errfile=$3
    shift 3
    for _ in $(seq 300); do
        "$@" >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || die "$what exited before answering; its output: $(cat "$errfile")"
        sleep 0.1
    done
    die "$what did not answer within 30 s; its output: $(cat "$errfile")"
}

# --- the image ---------------------------------------------------------------------------------
# runtime-feasibility.md §0: busybox-static and its applet links, passwd and group
echo "building the busybox image ..."
R="$T/rootfs"
mkdir -p "$R"/{bin,proc,sys,dev,tmp,etc,root}
cp /bin/busybox "$R/bin/"
chroot "$R" /bin/busybox --install -s /bin
echo 'root:x:0:0:root:/root:/bin/sh' >"$R/etc/passwd"
echo 'root:x:0:' >"$R/etc/group"
(
    cd "$T"
    umoci init --layout oci
    umoci new --image oci:busybox
    umoci unpack --image oci:busybox ub >/dev/null
    cp -a rootfs/. ub/rootfs/
    umoci repack --image oci:busybox ub
    umoci config --image oci:busybox --config.cmd /bin/sh --config.env PATH=/bin \
        --architecture amd64 --os linux
    umoci gc --layout oci
    rm -rf ub
)
LAYOUT_BYTES=$(du -sb "$T/oci" | cut -f1)

# --- imgd: one per runtime -----------------------------------------------------------------------
# A copy of the binaries: the tree may be rebuilt while the benchmark runs, and imgd starts
# imgd-monitor from beside its own binary for every container start.
mkdir -p "$T/bin"
cp build/imgd build/imgd-monitor "$T/bin/"
IMGD_VERSION=$("$T/bin/imgd" --version | awk '{ print $NF }')
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
{ git diff --quiet HEAD -- src 2>/dev/null && [ -z "$(git ls-files --others --exclude-standard src 2>/dev/null)" ]; } ||
    COMMIT="$COMMIT+dirty-src"
# build/ older than the sources (make bench builds first; a direct run does not)
if command -v ninja >/dev/null && [ -f build/build.ninja ] &&
    ! ninja -C build -n 2>/dev/null | grep -q 'no work to do'; then
    COMMIT="$COMMIT+stale-build"
fi
IMAGE_ID=""
for rt in $RUNTIMES; do
    D=$(imgd_dir "$rt")
    mkdir -p "$D/state" "$D/run"
    IMGD_PORT[$rt]=$(free_port)
    "$T/bin/imgd" --config none --state-dir "$D/state" --run-dir "$D/run" --socket none \
        --listen "127.0.0.1:${IMGD_PORT[$rt]}" --runtime "$rt" --log-level WARNING 2>"$D/imgd.err" &
    IMGD_PID[$rt]=$!
    wait_for "imgd ($rt)" "${IMGD_PID[$rt]}" "$D/imgd.err" \
        curl -fsS --max-time 1 "http://127.0.0.1:${IMGD_PORT[$rt]}/api/v1/health"
    # the runtime it found, as its health says ("crun version 1.8.1 in a private mount namespace ...")
    IMGD_RUNTIME[$rt]=$(curl -fsS --max-time 5 "http://127.0.0.1:${IMGD_PORT[$rt]}/api/v1/health" |
        "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["components"]["runtime"]["message"])')
    case "${IMGD_RUNTIME[$rt]}" in
    "$rt version"*) ;;
    *) die "imgd --runtime $rt reports its runtime as: ${IMGD_RUNTIME[$rt]}" ;;
    esac
    curl -fsS --max-time 60 -H 'Content-Type: application/json' \
        -d "{\"path\": \"$T/oci\", \"tag\": \"$TAG\"}" "http://127.0.0.1:${IMGD_PORT[$rt]}/api/v1/images/import" \
        >"$D/import.json" || die "imgd ($rt) import failed: $(cat "$D/import.json")"
    IMAGE_ID=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["images"][0]["id"])' "$D/import.json")
done

# --- crun on a hybrid cgroup host: the helpers ----------------------------------------------------
# bench/containers/private-exec.c: PRIVATE_EXEC for the bare crun's `run -d`, and CRUN_WRAP, a
# drop-in crun for podman (named crun, so that podman treats it as crun: its
# runtime_supports_json and the like go by the name). Without a C compiler: the driver's
# preexec_fn (a fork of the Python driver, ~1 ms more) and the shell wrapper of
# runtime-feasibility.md §1 (~4.5 ms more per runtime call).
PRIVATE_EXEC=""
CRUN_WRAP=""
HELPER_NOTE=""
if has_runtime crun && [ "$PRIVATE_CGROUP" = 1 ]; then
    mkdir -p "$T/wrap"
    CRUN_WRAP="$T/wrap/crun"
    if cc -O2 -o "$T/bin/private-exec" "$HERE/private-exec.c" 2>"$T/cc.err" &&
        cc -O2 -DRUNTIME="\"$(command -v crun)\"" -o "$CRUN_WRAP" "$HERE/private-exec.c" 2>>"$T/cc.err"; then
        PRIVATE_EXEC="$T/bin/private-exec"
    else
        HELPER_NOTE="note: bench/containers/private-exec.c did not build ($(head -c 200 "$T/cc.err")): the bare crun's namespace is set up in the driver's preexec_fn (~1 ms more per create), podman's crun is the shell wrapper (~4.5 ms more per runtime call)"
        echo "$HELPER_NOTE"
        {
            echo '#!/bin/sh'
            echo "exec unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec $(command -v crun) \"\$@\"' crun \"\$@\""
        } >"$CRUN_WRAP"
        chmod 755 "$CRUN_WRAP"
    fi
fi

# --- podman: one service per runtime -------------------------------------------------------------
for rt in $RUNTIMES; do
    [ "$PODMAN" = 1 ] || break
    P=$(podman_dir "$rt")
    PODMAN_DIR[$rt]=$P
    mkdir -p "$P/tmp" "$P/xdg"
    [ -f "$T/auth.json" ] || echo '{}' >"$T/auth.json"
    # runtime-feasibility.md §2: runc, or crun through CRUN_WRAP on a hybrid cgroup host (crun
    # fails there otherwise, §1); cgroupfs, ulimits within root's hard limits, file events (no
    # systemd), no network; every path in $P.
    # network_backend = "cni": with netavark, rootful podman creates /run/containers/networks.
    RUNTIME_PATH=$rt
    crun_private "$rt" && RUNTIME_PATH=$CRUN_WRAP
    cat >"$P/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "none"
[engine]
runtime = "$RUNTIME_PATH"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$P/events.log"
tmp_dir = "$P/tmp"
static_dir = "$P/libpod"
volume_path = "$P/volumes"
[network]
network_backend = "cni"
network_config_dir = "$P/networks"
EOF
    printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/root"\nrunroot = "%s/runroot"\n' "$P" "$P" \
        >"$P/storage.conf"
    printf 'unqualified-search-registries = []\n' >"$P/registries.conf"
    echo '{"default": [{"type": "insecureAcceptAnything"}]}' >"$P/policy.json"
    # the same OCI layout, copied into podman's storage by skopeo (`podman pull oci:DIR` would name
    # the image after the temp dir, whose name may have capitals); _CONTAINERS_ROOTLESS_UID only
    # moves the blob-info cache from /var/lib/containers/cache to $XDG_DATA_HOME, as in bench/pull
    podman_env "$P" _CONTAINERS_ROOTLESS_UID=1000 skopeo --policy "$P/policy.json" copy -q \
        "oci:$T/oci:busybox" "containers-storage:localhost/$TAG" >"$P/copy.out" 2>&1 ||
        die "skopeo copy into the storage of podman ($rt) failed: $(cat "$P/copy.out")"
    podman_env "$P" podman system service --time=0 "unix://$P/podman.sock" >"$P/service.log" 2>&1 &
    PODMAN_PID[$rt]=$!
    PODMAN_SOCK[$rt]="$P/podman.sock"
    wait_for "podman system service ($rt)" "${PODMAN_PID[$rt]}" "$P/service.log" \
        curl -fsS --max-time 1 --unix-socket "${PODMAN_SOCK[$rt]}" http://d/_ping
done

# --- the bare runtimes: a bundle with the same rootfs ------------------------------------------
# `runc spec`, then: no terminal, the command, a writable root (as imgd's and podman's overlays
# are); its namespaces include a new network namespace (loopback only, as "none" elsewhere).
# runc and crun run the same bundle, each with its own root (state dir).
mkdir -p "$T/bundle"
for rt in $RUNTIMES; do mkdir -p "$T/$rt"; done
cp -a "$R" "$T/bundle/rootfs"
# (runc's spec also for crun: the same config for both; crun's own when runc is missing)
if command -v runc >/dev/null; then (cd "$T/bundle" && runc spec); else (cd "$T/bundle" && crun spec); fi
"$PYTHON" - "$T/bundle/config.json" <<'EOF'
import json, sys
path = sys.argv[1]
spec = json.load(open(path))
spec["process"]["terminal"] = False
spec["process"]["args"] = ["sleep", "300"]
spec["root"]["readonly"] = False
assert {"type": "network"} in spec["linux"]["namespaces"]
json.dump(spec, open(path, "w"), indent=1)
EOF

# --- the runs ------------------------------------------------------------------------------------
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
LOAD_AT_START=$(cut -d' ' -f1 /proc/loadavg)
FACTS="machine: nproc=$(nproc) kernel=$(uname -r) fs=$(findmnt -n -o FSTYPE -T "$T") load1-at-start=$LOAD_AT_START imgd=$IMGD_VERSION@$COMMIT"
for rt in $RUNTIMES; do
    FACTS="$FACTS $rt=$("$rt" --version | awk 'NR == 1 { print $3 }')"
done
if [ "$PODMAN" = 1 ]; then
    FACTS="$FACTS podman=$(podman --version | awk '{ print $3 }') conmon=$(conmon --version | awk 'NR == 1 { print $3 }')"
fi
echo "$FACTS"
echo "runtimes: $RUNTIMES; $WARMUP warm-up and $ROUNDS measured cycles per tool ..."
DRIVER_ARGS=()
for rt in $RUNTIMES; do DRIVER_ARGS+=(--imgd "$rt=127.0.0.1:${IMGD_PORT[$rt]}"); done
if [ "$PODMAN" = 1 ]; then
    for rt in $RUNTIMES; do DRIVER_ARGS+=(--podman "$rt=${PODMAN_SOCK[$rt]}"); done
fi
for rt in $RUNTIMES; do
    if crun_private "$rt"; then
        DRIVER_ARGS+=(--bare "$rt=$T/$rt:$T/bundle:private${PRIVATE_EXEC:+=$PRIVATE_EXEC}")
    else
        DRIVER_ARGS+=(--bare "$rt=$T/$rt:$T/bundle")
    fi
done
# in the background, so that a signal to this script runs the clean-up at once (it stops the driver)
"$PYTHON" "$HERE/driver.py" --rounds "$ROUNDS" --warmup "$WARMUP" "${DRIVER_ARGS[@]}" \
    --out "$T/cycles" >"$T/report" &
DRIVER_PID=$!
wait "$DRIVER_PID" || die "the driver failed (imgd's logs: $(for rt in $RUNTIMES; do tail -n 20 "$(imgd_dir "$rt")/imgd.err"; done))"
DRIVER_PID=""

report() {
    local rt
    echo "$FACTS"
    echo "image:   $TAG, busybox-static $(dpkg-query -W -f='${Version}' busybox-static) + links, passwd, group; OCI layout $LAYOUT_BYTES bytes (umoci), imgd ID $IMAGE_ID"
    [ -n "$CRUN_NOTE" ] && echo "$CRUN_NOTE"
    [ -n "$HELPER_NOTE" ] && echo "$HELPER_NOTE"
    for rt in $RUNTIMES; do
        echo "imgd($rt): build/imgd --config none --state-dir \$D/state --run-dir \$D/run --socket none --listen 127.0.0.1:\$PORT --runtime $rt --log-level WARNING (health: ${IMGD_RUNTIME[$rt]})"
    done
    echo "         POST /api/v1/containers {image, name, command: [sleep, 300], network: none}; POST .../exec {command: [echo, hi]}; POST .../stop?timeout=0; DELETE"
    if [ "$PODMAN" = 1 ]; then
        for rt in $RUNTIMES; do
            if crun_private "$rt"; then
                if [ -n "$PRIVATE_EXEC" ]; then
                    echo "podman($rt): podman system service --time=0 unix://\$P/podman.sock (runtime \$T/wrap/crun: bench/containers/private-exec.c built as a drop-in crun, one unshare per runtime call; cgroupfs, overlay, netns none)"
                else
                    echo "podman($rt): podman system service --time=0 unix://\$P/podman.sock (runtime \$T/wrap/crun: unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified; exec crun \"\$@\"'; cgroupfs, overlay, netns none)"
                fi
            else
                echo "podman($rt): podman system service --time=0 unix://\$P/podman.sock (runtime $rt, cgroupfs, overlay, netns none)"
            fi
        done
        echo "         POST /v4.0.0/libpod/containers/create + .../start; .../exec + /exec/{id}/start {Detach: false}; .../stop?timeout=0; DELETE"
    else
        echo "$PODMAN_NOTE"
    fi
    for rt in $RUNTIMES; do
        echo -n "$rt: $rt --root \$T/$rt run -d --pid-file F -b \$T/bundle ID; exec ID echo hi; kill ID KILL + wait for the exit; delete ID"
        if crun_private "$rt"; then
            if [ -n "$PRIVATE_EXEC" ]; then
                echo " (run -d through bench/containers/private-exec: unshare(CLONE_NEWNS), / private, umount /sys/fs/cgroup/unified, exec; as imgd's monitor)"
            else
                echo " (run -d: unshare(CLONE_NEWNS), / private, umount /sys/fs/cgroup/unified in the driver's preexec_fn)"
            fi
        else
            echo
        fi
    done
    echo "rounds:  $ROUNDS, order rotating per round, after $WARMUP untimed warm-up cycle(s) per tool"
    echo
    cat "$T/report"
}

mkdir -p bench/results
OUT="bench/results/containers-$STAMP.txt"
{
    report
    echo
    echo "===== cycles: milliseconds per phase ====="
    cat "$T/cycles"
} >"$OUT"
echo
report
echo
echo "cycles: $OUT"
