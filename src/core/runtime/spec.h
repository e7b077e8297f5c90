/* SPDX-License-Identifier: MIT */
/* The OCI runtime spec (config.json) of a container, built in C from the container's resolved
 * configuration. Pure: no I/O, so it is unit-tested as a function. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "rootfs.h"
#include "util/error.h"

typedef struct imgd_spec_inputs {
    const json_t *config;     /* the container's resolved configuration (see container.c) */
    const imgd_user_ids *ids; /* the process user, resolved in the rootfs */
    const char *id;           /* container id, for the cgroup path */
    const char *hostname;
    const char *hosts_file;    /* absolute paths of files bind-mounted read-only */
    const char *hostname_file; /* may be NULL */
    const char *resolv_file;   /* NULL: none */
    uint64_t nofile_max;       /* the host's hard RLIMIT_NOFILE: never ask for more */
    const char *cgroup_parent; /* "imgd" */
    const char *root_path;     /* "rootfs" (in the bundle), or an absolute directory */
} imgd_spec_inputs;

/* Build the spec. *out is a new reference. -EINVAL when config lacks a field it must have. */
int imgd_spec_build(json_t **out, const imgd_spec_inputs *in, imgd_error **err);

/* The "process" object alone (for exec): args, env, cwd and user given, the container's
 * capabilities and rlimits. */
json_t *imgd_spec_process(const json_t *args, const json_t *env, const char *cwd,
                          const imgd_user_ids *ids, uint64_t nofile_max);
