#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Deploy benchmark: one nested POST /imageapi/v1/container (a loop device on a busybox squashfs
# file, the filesystem mounted read-only, an overlay on it with upper and work on a tmpfs, and a
# running container on the overlay) until the container's first log line, and the teardown
# (PATCH ?state=exited, DELETE, which releases the overlay, the filesystem and the loop device),
# for imgd and for the floor, interleaved:
#   imgd    build/imgd's ImageAPI face (--runtime $RUNTIME), one kept-alive HTTP connection; the
#           first line is seen in the logfile its monitor writes (CRI format)
#   floor   the same chain by hand with the real tools, each one process exec'd by the driver
#           (no shell): `losetup --find --show --read-only FILE`, `mount -t squashfs -o ro`,
#           `mount -t tmpfs`, `mount -t overlay`, `$RUNTIME run -d` of a bundle on the overlay
#           (runc spec: terminal false, the same command, namespaces mnt pid ipc uts as imgd's
#           default, no network namespace) with its stdout to a file; teardown `$RUNTIME kill
#           KILL` + wait, `$RUNTIME delete`, three umounts, `losetup -d`.
# The floor is not a peer: the original ImageAPI (Go) cannot be installed here. It is the least
# any service must do with these tools: no records, no API, no monitor, no log formatting.
# The container runs /bin/sh -c 'trap "exit 0" TERM; echo first line; sleep 300 & wait': it
# prints its line at once and exits at once on imgd's SIGTERM (`wait` returns on a trapped
# signal; a plain `sleep` as PID 1 would ignore SIGTERM and cost imgd's 10 s stop timeout, and
# a `while :; do sleep 0.05; done` loop would delay the trap by up to 50 ms).
# The filesystem: busybox-static and its applet links, /etc/passwd and /etc/group, packed with
# mksquashfs once per run; when mkfs.erofs is installed, the same tree as erofs is a second
# column (EROFS=0 leaves it out). Rounds: 20 (ROUNDS=N), one untimed warm-up cycle per tool; in
# each round imgd and the floor alternate which goes first, and the filesystems' order rotates.
# bench/deploy/driver.py does the timing (time.perf_counter(); the first line through inotify)
# and checks that nothing is left after each teardown.
# Everything lives in a temp dir that is removed on exit, also on ^C, with this run's
# containers, mounts and loop devices (found by the files' paths, which are below it).
# Usage: bench/deploy/run.sh
#        ROUNDS=40 bench/deploy/run.sh
#        RUNTIME=crun bench/deploy/run.sh   (imgd --runtime crun and the bare crun as the floor)
#        EROFS=0 bench/deploy/run.sh        (squashfs only)
# Prints a table and writes it with every cycle's figures to bench/results/deploy-<timestamp>.txt.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ROUNDS=${ROUNDS:-20}
WARMUP=${WARMUP:-1}
RUNTIME=${RUNTIME:-runc}
EROFS=${EROFS:-1}
PYTHON=/usr/bin/python3    # Debian's Python (stdlib only here)
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

cd "$REPO"
scripts/install-deps.sh packaging/bench-deps.txt ||
    echo "warning: could not install packaging/bench-deps.txt; continuing with what is installed" >&2
# squashfs-tools and erofs-utils are not in packaging/bench-deps.txt (the integration tests'
# prerequisites): say so rather than fail obscurely
command -v mksquashfs >/dev/null ||
    { echo "error: mksquashfs is needed (Debian package squashfs-tools)" >&2; exit 1; }
for tool in losetup mount umount busybox curl "$RUNTIME"; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 1; }
done
case "$RUNTIME" in runc | crun) ;; *) echo "error: RUNTIME is runc or crun" >&2; exit 1 ;; esac
{ [ -x build/imgd ] && [ -x build/imgd-monitor ]; } || make -C "$REPO" build

if [ "$(id -u)" -ne 0 ]; then
    echo "error: attaches loop devices, mounts and runs containers: run as root" >&2
    exit 1
fi
for fs in squashfs overlay; do
    grep -qw "$fs" /proc/filesystems || modprobe "$fs" 2>/dev/null ||
        { echo "error: the kernel has no $fs" >&2; exit 1; }
done
EROFS_NOTE=""
if [ "$EROFS" = 1 ]; then
    if ! command -v mkfs.erofs >/dev/null; then
        EROFS=0; EROFS_NOTE="erofs: mkfs.erofs NOT INSTALLED (Debian package erofs-utils), so squashfs only"
    elif ! grep -qw erofs /proc/filesystems && ! modprobe erofs 2>/dev/null; then
        EROFS=0; EROFS_NOTE="erofs: the kernel has no erofs, so squashfs only"
    fi
else
    EROFS_NOTE="erofs: left out (EROFS=0)"
fi
[ -n "$EROFS_NOTE" ] && echo "$EROFS_NOTE"
# crun on a hybrid cgroup host whose cgroup2 mount has controllers: imgd's monitor runs it in a
# private mount namespace without that mount, the floor through bench/containers/private-exec.c
PRIVATE_CGROUP=0
[ "$RUNTIME" = crun ] && [ -n "$(tr -d ' \n' </sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null)" ] &&
    PRIVATE_CGROUP=1

T=$(mktemp -d)
D="$T/imgd"
F="$T/floor"
IMGD_PID=""
IMGD_PORT=""
DRIVER_PID=""
# cgroup parents the containers go below (v1 hierarchies: one directory per controller)
declare -A HAD_CG=()
[ -n "$(find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -name imgd 2>/dev/null)" ] && HAD_CG[imgd]=1
export PYTHONDONTWRITEBYTECODE=1

cleanup() {
    set +e
    local n id root m f dev
    stop_pid "$DRIVER_PID"
    DRIVER_PID=""
    # imgd: remove its containers while it runs (each releases its overlay, filesystem and loop
    # device), then stop it; it closes, but does not detach, loop devices still held at exit
    if [ -n "$IMGD_PID" ] && kill -0 "$IMGD_PID" 2>/dev/null; then
        curl -s --max-time 10 "http://127.0.0.1:$IMGD_PORT/imageapi/v1/container" 2>/dev/null |
            "$PYTHON" -c 'import json, sys
for c in json.load(sys.stdin): print(c.get("name") or "")' 2>/dev/null |
            while read -r n; do
                [ -n "$n" ] && curl -s --max-time 30 -o /dev/null -X DELETE \
                    "http://127.0.0.1:$IMGD_PORT/imageapi/v1/container?name=$n&force=true"
            done
    fi
    stop_pid "$IMGD_PID"
    IMGD_PID=""
    # containers left in the runtime's state of imgd or of the floor
    for root in "$D/run/$RUNTIME" "$F/state"; do
        [ -d "$root" ] || continue
        for id in $("$RUNTIME" --root "$root" list -q 2>/dev/null); do
            "$RUNTIME" --root "$root" delete --force "$id" >/dev/null 2>&1
        done
    done
    for m in $(pids_under "$T"); do
        kill -KILL "$m" 2>/dev/null
    done
    # mounts below $T, deepest first (the overlays before the filesystems under them)
    awk -v d="$T/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
    done
    # loop devices on this run's files
    for f in "$T"/img/root.*; do
        [ -f "$f" ] || continue
        for dev in $(losetup -j "$f" 2>/dev/null | cut -d: -f1); do
            losetup -d "$dev" 2>/dev/null
        done
    done
    rm -rf "$T"
    # an empty imgd cgroup parent this run created
    if [ -z "${HAD_CG[imgd]:-}" ]; then
        for m in /sys/fs/cgroup/*/imgd; do
            [ -d "$m" ] && find "$m" -depth -type d -exec rmdir {} + 2>/dev/null
        done
    fi
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


# --- the filesystems -----------------------------------------------------------------------------
echo "building the busybox filesystems ..."
R="$T/rootfs"
mkdir -p "$R"/{bin,proc,sys,dev,tmp,run,etc,root} "$T/img"
cp /bin/busybox "$R/bin/"
chroot "$R" /bin/busybox --install -s /bin
echo 'root:x:0:0:root:/root:/bin/sh' >"$R/etc/passwd"
echo 'root:x:0:' >"$R/etc/group"
mksquashfs "$R" "$T/img/root.sqsh" -quiet -no-progress -noappend >/dev/null
IMAGES=(--image "squashfs=$T/img/root.sqsh")
SIZES="squashfs $(stat -c %s "$T/img/root.sqsh") bytes (mksquashfs defaults: gzip)"
if [ "$EROFS" = 1 ]; then
    mkfs.erofs "$T/img/root.erofs" "$R" >/dev/null
    IMAGES+=(--image "erofs=$T/img/root.erofs")
    SIZES="$SIZES, erofs $(stat -c %s "$T/img/root.erofs") bytes (mkfs.erofs defaults: uncompressed)"
fi

# --- imgd ------------------------------------------------------------------------------------------
# a copy of the binaries: the tree may be rebuilt while the benchmark runs, and imgd starts
# imgd-monitor from beside its own binary for every container start
mkdir -p "$T/bin" "$D/state" "$D/run/logs"
chmod 700 "$D/run/logs"
cp build/imgd build/imgd-monitor "$T/bin/"
IMGD_VERSION=$("$T/bin/imgd" --version | awk '{ print $NF }')
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
{ git diff --quiet HEAD -- src 2>/dev/null && [ -z "$(git ls-files --others --exclude-standard src 2>/dev/null)" ]; } ||
    COMMIT="$COMMIT+dirty-src"
if command -v ninja >/dev/null && [ -f build/build.ninja ] &&
    ! ninja -C build -n 2>/dev/null | grep -q 'no work to do'; then
    COMMIT="$COMMIT+stale-build"
fi
IMGD_PORT=$(free_port)
"$T/bin/imgd" --config none --state-dir "$D/state" --run-dir "$D/run" --socket none \
    --listen "127.0.0.1:$IMGD_PORT" --runtime "$RUNTIME" --log-level WARNING 2>"$D/imgd.err" &
IMGD_PID=$!
for i in $(seq 300); do
    curl -fsS --max-time 1 -o /dev/null "http://127.0.0.1:$IMGD_PORT/api/v1/health" 2>/dev/null && break
    kill -0 "$IMGD_PID" 2>/dev/null || die "imgd exited before answering: $(cat "$D/imgd.err")"
    [ "$i" = 300 ] && die "imgd did not answer within 30 s: $(cat "$D/imgd.err")"
    sleep 0.1
done
IMGD_RUNTIME=$(curl -fsS --max-time 5 "http://127.0.0.1:$IMGD_PORT/api/v1/health" |
    "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["components"]["runtime"]["message"])')
case "$IMGD_RUNTIME" in
"$RUNTIME version"*) ;;
*) die "imgd --runtime $RUNTIME reports its runtime as: $IMGD_RUNTIME" ;;
esac

# --- the floor: a bundle whose root is the overlay the driver mounts for each cycle ---------------
mkdir -p "$F/bundle" "$F/lower" "$F/top" "$F/merged" "$F/state" "$F/out"
PRIVATE_EXEC=""
HELPER_NOTE=""
if [ "$PRIVATE_CGROUP" = 1 ]; then
    if cc -O2 -o "$T/bin/private-exec" "$REPO/bench/containers/private-exec.c" 2>"$T/cc.err"; then
        PRIVATE_EXEC="$T/bin/private-exec"
    else
        die "crun on this hybrid cgroup host needs bench/containers/private-exec.c built: $(head -c 200 "$T/cc.err")"
    fi
    HELPER_NOTE="floor: crun run -d through bench/containers/private-exec (unshare(CLONE_NEWNS), / private, umount /sys/fs/cgroup/unified, exec), as imgd's monitor runs it"
fi
(cd "$F/bundle" && "$RUNTIME" spec)
"$PYTHON" - "$F/bundle/config.json" "$F/merged" <<'EOF'
import json, sys
path, merged = sys.argv[1], sys.argv[2]
spec = json.load(open(path))
spec["process"]["terminal"] = False
spec["process"]["args"] = ["/bin/sh", "-c", 'trap "exit 0" TERM; echo first line; sleep 300 & wait']
spec["root"] = {"path": merged, "readonly": False}
# imgd's default for ImageAPI containers: mnt, pid, ipc, uts (no network namespace)
spec["linux"]["namespaces"] = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
json.dump(spec, open(path, "w"), indent=1)
EOF

# --- the runs ----------------------------------------------------------------------------------------
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
LOAD_AT_START=$(cut -d' ' -f1 /proc/loadavg)
FACTS="machine: nproc=$(nproc) kernel=$(uname -r) fs=$(findmnt -n -o FSTYPE -T "$T") load1-at-start=$LOAD_AT_START imgd=$IMGD_VERSION@$COMMIT $RUNTIME=$("$RUNTIME" --version | awk 'NR == 1 { print $3 }')"
FACTS="$FACTS squashfs-tools=$(dpkg-query -W -f='${Version}' squashfs-tools 2>/dev/null || echo '?')"
[ "$EROFS" = 1 ] && FACTS="$FACTS erofs-utils=$(dpkg-query -W -f='${Version}' erofs-utils 2>/dev/null || echo '?')"
FACTS="$FACTS util-linux=$(dpkg-query -W -f='${Version}' util-linux 2>/dev/null || echo '?')"
echo "$FACTS"
echo "$WARMUP warm-up and $ROUNDS measured cycles per tool ..."
"$PYTHON" "$HERE/driver.py" --imgd "127.0.0.1:$IMGD_PORT" --logs "$D/run/logs" --floor "$F" \
    --runtime "$RUNTIME" ${PRIVATE_EXEC:+--private-exec "$PRIVATE_EXEC"} "${IMAGES[@]}" \
    --rounds "$ROUNDS" --warmup "$WARMUP" --out "$T/cycles" >"$T/report" &
DRIVER_PID=$!
wait "$DRIVER_PID" || die "the driver failed (imgd's log: $(tail -n 20 "$D/imgd.err"))"
DRIVER_PID=""

report() {
    echo "$FACTS"
    echo "filesystems: busybox-static $(dpkg-query -W -f='${Version}' busybox-static) + links, passwd, group: $SIZES"
    [ -n "$EROFS_NOTE" ] && echo "$EROFS_NOTE"
    echo "imgd:  build/imgd --config none --state-dir \$T/imgd/state --run-dir \$T/imgd/run --socket none --listen 127.0.0.1:\$PORT --runtime $RUNTIME --log-level WARNING (health: $IMGD_RUNTIME)"
    echo "       POST /imageapi/v1/container {name, command: \"/bin/sh -c '<script>'\", state: running, mount: overlay <- attach(FS, ro) <- loopback(FILE, ro)}"
    echo "       teardown: PATCH /imageapi/v1/container?name=N&state=exited, DELETE /imageapi/v1/container?name=N"
    echo "floor: losetup --find --show --read-only FILE; mount -t FS -o ro DEV \$F/lower; mount -t tmpfs; mount -t overlay \$F/merged; $RUNTIME --root \$F/state run -d -b \$F/bundle ID (stdout to a file)"
    echo "       teardown: $RUNTIME kill ID KILL + wait; $RUNTIME delete ID; umount x3; losetup -d DEV (a FLOOR, not a peer: the original ImageAPI is not installable here)"
    [ -n "$HELPER_NOTE" ] && echo "$HELPER_NOTE"
    echo "script: /bin/sh -c 'trap \"exit 0\" TERM; echo first line; sleep 300 & wait'"
    echo "rounds: $ROUNDS, imgd and the floor alternating first, after $WARMUP untimed warm-up cycle(s) per tool"
    echo
    cat "$T/report"
}

mkdir -p bench/results
OUT="bench/results/deploy-$STAMP.txt"
{
    report
    echo
    echo "===== cycles: milliseconds ====="
    cat "$T/cycles"
} >"$OUT"
echo
report
echo
echo "cycles: $OUT"
