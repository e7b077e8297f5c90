/* SPDX-License-Identifier: MIT */
/* Containers on an OCI runtime (runc by default, crun when configured).
 *
 * A container is a record in the database plus a directory under the state dir:
 *
 *   containers/<id>/config.json   the OCI runtime spec, generated from the image and request
 *   containers/<id>/rootfs/       overlay: the image's layers (lower) + upper/ + work/
 *   containers/<id>/hosts, hostname
 *   containers/<id>/ctr.log       written by the container's monitor (see src/monitor)
 *
 * Every start spawns an imgd-monitor that detaches, runs the runtime and outlives imgd; its lock
 * file says whether the container runs, its exit.json how it ended. A container is "created"
 * (never started), "running", or "exited". Operations on one container are serialised by a lock
 * file of their own; operations on different containers run in parallel. Thread-safe. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config/config.h"
#include "core/db/db.h"
#include "core/store/store.h"
#include "util/buf.h"
#include "util/error.h"

#define IMGD_CONTAINER_ID_LEN   64
#define IMGD_CONTAINER_NAME_MAX 128

typedef struct imgd_runtime imgd_runtime;

typedef struct imgd_port_map {
    uint16_t host;
    uint16_t container;
} imgd_port_map;

typedef struct imgd_volume {
    char *host;      /* absolute, existing */
    char *container; /* absolute */
    bool readonly;
} imgd_volume;

/* What a create request asks for, decoded and checked for form by the face. */
typedef struct imgd_container_spec {
    const char *name;
    const char *image;   /* name or id in the store */
    char **command;      /* NULL: the image's Cmd */
    char **entrypoint;   /* NULL: the image's Entrypoint; an empty array clears it */
    char **env;          /* "KEY=value", added to (and overriding) the image's Env */
    const char *user;    /* NULL: the image's User */
    const char *workdir; /* NULL: the image's WorkingDir */
    bool network_host;   /* false: a network namespace of its own (loopback only) */
    size_t n_ports;
    imgd_port_map *ports;
    size_t n_volumes;
    imgd_volume *volumes;
    int64_t memory;     /* bytes, 0: no limit */
    int64_t cpu_millis; /* 1000 = one CPU, 0: no limit */
    int64_t pids_limit; /* 0: no limit */
    json_t *labels;     /* object of strings, or NULL; borrowed */
    /* for system containers on a mount (the ImageAPI face): */
    const char *rootfs;            /* an existing directory as "/", instead of image's layers */
    const char *const *namespaces; /* NULL: mnt pid ipc uts, + net unless network_host; else
                                    * exactly these of cgroup ipc mnt net pid time user uts */
    bool systemd;                  /* tmpfs /run /tmp /var/lib/journal, container=imgd in the
                                    * environment, stopped with SIGRTMIN+3 */
    const char *log_path;          /* NULL: the container's directory */
    json_t *annotations;           /* kept in the configuration as is; borrowed */
} imgd_container_spec;

typedef enum imgd_container_state {
    IMGD_CONTAINER_CREATED,
    IMGD_CONTAINER_RUNNING,
    IMGD_CONTAINER_EXITED,
} imgd_container_state;

typedef struct imgd_container {
    char id[IMGD_CONTAINER_ID_LEN + 1];
    char name[IMGD_CONTAINER_NAME_MAX + 1];
    char *image;    /* as requested */
    char *image_id; /* config digest */
    imgd_container_state state;
    int64_t created, started, finished; /* usec since the epoch; 0 when not yet */
    int exit_code;                      /* valid when state is EXITED */
    int pid;                            /* init pid while running, else 0 */
    char *last_error;                   /* why the last start failed, or NULL */
    bool stopping;                      /* running, and a stop is under way */
    json_t *config; /* the normalised request: command, env, ports, volumes, ... (owned) */
} imgd_container;

void imgd_container_dispose(imgd_container *c);

/* "created", "running", "exited". */
const char *imgd_container_state_name(imgd_container_state s);

/* Open the runtime layer: check that the runtime binary and imgd-monitor exist, create the
 * container and runtime-state directories, and bring the records up to date with what happened
 * while imgd was down (containers that exited). cfg, db and store are borrowed. */
int imgd_runtime_new(imgd_runtime **out, const imgd_config *cfg, imgd_db *db, imgd_store *store,
                     imgd_error **err);

void imgd_runtime_free(imgd_runtime *rt);

/* Called after a container is removed, whichever face removed it, with its configuration
 * (annotations included): the face that made it releases what it holds for it. */
typedef void (*imgd_runtime_removed_fn)(void *arg, const imgd_container *c);
void imgd_runtime_on_removed(imgd_runtime *rt, imgd_runtime_removed_fn fn, void *arg);

/* Whether the runtime binary answers `--version`; detail says which runtime and how it is run
 * ("runc 1.1.5", "crun 1.8.1 in a private mount namespace (hybrid cgroups)"). Cached. */
bool imgd_runtime_check(imgd_runtime *rt, char *detail, size_t len);

/* Create a container and, when start, start it. Errors: -EINVAL (bad spec: name, volume host
 * path missing, ...), -ENOENT (image not in the store), -EEXIST (name taken), -EADDRINUSE (a
 * host port is taken), -EIO with the runtime's message when the start fails. A failed start
 * keeps the container, "created" with last_error set, as docker and podman do; *out is filled
 * whenever a record exists (out->id[0] != 0). */
int imgd_runtime_create(imgd_runtime *rt, const imgd_container_spec *spec, bool start,
                        imgd_container *out, imgd_error **err);

/* Find by name, full id or an id prefix that matches exactly one container. -ENOENT "container
 * 'x' not found"; -EINVAL when the prefix is ambiguous. */
int imgd_runtime_get(imgd_runtime *rt, const char *name_or_id, imgd_container *out,
                     imgd_error **err);

/* All containers, oldest first. Free each with imgd_container_dispose and the array with free. */
int imgd_runtime_list(imgd_runtime *rt, imgd_container **out, size_t *n, imgd_error **err);

/* Start a created or exited container; starting a running one changes nothing and is 0.
 * -EADDRINUSE when a published host port is taken, -EIO when the runtime fails. */
int imgd_runtime_start(imgd_runtime *rt, const char *name_or_id, imgd_container *out,
                       imgd_error **err);

/* Stop: the image's StopSignal (default SIGTERM), up to timeout_s seconds, then SIGKILL. Returns
 * when the container's processes are gone. Stopping a container that is not running is 0. */
int imgd_runtime_stop(imgd_runtime *rt, const char *name_or_id, int timeout_s, imgd_container *out,
                      imgd_error **err);

/* Remove a container that is not running (-EBUSY), or with force kill it first. Its directory,
 * mounts, log and record go; the image is no longer marked as used by it. */
int imgd_runtime_remove(imgd_runtime *rt, const char *name_or_id, bool force, imgd_container *out,
                        imgd_error **err);

typedef struct imgd_log_opts {
    int64_t tail;       /* last lines; < 0: all */
    int64_t since_usec; /* only records at or after; 0: all */
    bool timestamps;    /* prefix each line with its RFC 3339 time */
    bool stdout_only, stderr_only;
} imgd_log_opts;

/* The container's log as text (one line per record). */
int imgd_runtime_logs(imgd_runtime *rt, const char *name_or_id, const imgd_log_opts *opts,
                      imgd_buf *out, imgd_error **err);

/* Follow the log: write what is there (as imgd_runtime_logs), then new records as they come,
 * until the container is not running and the log is read, or write returns < 0. */
typedef int (*imgd_log_write_fn)(void *arg, const char *data, size_t len);
int imgd_runtime_logs_follow(imgd_runtime *rt, const char *name_or_id, const imgd_log_opts *opts,
                             imgd_log_write_fn write, void *arg, imgd_error **err);

typedef struct imgd_exec_spec {
    char **argv;         /* required */
    const char *user;    /* NULL: the container's user */
    const char *workdir; /* NULL: the container's */
    char **env;          /* added to the container's */
    int timeout_ms;      /* <= 0: none */
} imgd_exec_spec;

typedef struct imgd_exec_result {
    int exit_code; /* 126: not executable, 127: not found, 128+n: killed by signal n */
    char *output;  /* stdout and stderr as they came; owned */
    size_t output_len;
    bool truncated;
} imgd_exec_result;

void imgd_exec_result_dispose(imgd_exec_result *r);

/* Run a process in a running container (-EBUSY when it is not running) and collect its output.
 * Past timeout_ms the process is killed and -ETIMEDOUT returned; -ENOENT when the user is unknown
 * in the container. */
int imgd_runtime_exec(imgd_runtime *rt, const char *name_or_id, const imgd_exec_spec *spec,
                      imgd_exec_result *out, imgd_error **err);

/* A descriptor of the container's root filesystem (mounted if needed), for the rootfs_* edits.
 * The caller closes it. */
int imgd_runtime_rootfs_open(imgd_runtime *rt, const char *name_or_id, imgd_container *out,
                             imgd_error **err);
