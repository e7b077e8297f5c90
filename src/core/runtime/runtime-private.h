/* SPDX-License-Identifier: MIT */
/* Shared between the runtime's files; not for other modules. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime.h"

struct imgd_runtime {
    const imgd_config *cfg;
    imgd_db *db;
    imgd_store *store;
    imgd_runtime_removed_fn removed; /* told of every removed container */
    void *removed_arg;
    char containers_dir[4096]; /* <state>/containers */
    char runtime_root[4096];   /* <run>/<runtime name>: the runtime's own state */
    char runtime_path[4096];   /* resolved binary, "" when missing */
    char monitor_path[4096];
    bool private_cgroup; /* crun on a hybrid cgroup host */
    uint64_t nofile_max;
    pthread_mutex_t children_lock;
    pid_t *children; /* monitors this imgd started: its children (it is their subreaper) */
    size_t n_children, cap_children;
    pthread_mutex_t check_lock;
    uint64_t checked_at;
    bool check_ok;
    char check_detail[256];
};

/* Path of a file in a container's directory. */
int runtime_path(char *out, size_t len, const imgd_runtime *rt, const char *id, const char *name);

/* Remember a monitor this imgd started, and reap the ones that ended (no zombies while imgd
 * runs; a monitor from before a restart belongs to init). */
void runtime_child_add(imgd_runtime *rt, pid_t pid);
void runtime_children_reap(imgd_runtime *rt);

/* Whether the container's monitor is alive (its lock is held). */
bool runtime_monitor_alive(const imgd_runtime *rt, const char *id);

/* The container's root directory: its own overlay, or the directory it was created on. */
int runtime_root_dir(char *out, size_t len, const imgd_runtime *rt, const imgd_container *c);

/* The container's log file (suffix "" or ".1" for the rotated one). */
int runtime_log_file(char *out, size_t len, const imgd_runtime *rt, const imgd_container *c,
                     const char *suffix);

/* Records (container.c). */
int runtime_record_update(imgd_runtime *rt, const imgd_container *c, imgd_error **err);
int runtime_record_insert(imgd_runtime *rt, const imgd_container *c, imgd_error **err);
int runtime_record_delete(imgd_runtime *rt, const char *id, imgd_error **err);
/* Exact name, no state refresh: 0 or -ENOENT. */
int runtime_record_by_name(imgd_runtime *rt, const char *name, imgd_container *out);

/* A pid file of the container's directory ("pid", "monitor.pid"): the pid or a negative errno. */
int runtime_read_pid(const imgd_runtime *rt, const char *id, const char *name);

/* Bring c's state up to date with its monitor, writing the record when it changed. */
void runtime_refresh(imgd_runtime *rt, imgd_container *c);

/* Mount the container's overlay rootfs unless it is mounted (lifecycle.c). */
int runtime_rootfs_mount(imgd_runtime *rt, const imgd_container *c, imgd_error **err);

/* Unmount and delete a container's directory. */
int runtime_dir_remove(imgd_runtime *rt, const char *id);

/* Look up a container and bring its state up to date with its monitor. */
int runtime_lookup(imgd_runtime *rt, const char *name_or_id, imgd_container *out, imgd_error **err);

/* The serialising lock of one container's operations; returns the fd to close, or -errno. */
int runtime_op_lock(const imgd_runtime *rt, const char *id);

/* Require the runtime binary; -EAGAIN "OCI runtime 'x' not found" otherwise (503). */
int runtime_require(const imgd_runtime *rt, imgd_error **err);
