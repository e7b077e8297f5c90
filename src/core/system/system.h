/* SPDX-License-Identifier: MIT */
/* Process-level facts the health and metrics endpoints report: uptime, thread count, and the
 * state of the components (database, store, container runtime). Component probes touch the disk,
 * so their result is cached for a second: a load balancer polling health cannot turn into I/O. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "core/config/config.h"
#include "core/db/db.h"
#include "util/error.h"

typedef struct imgd_component_state {
    bool ok;
    char detail[256]; /* "ok", or what is wrong */
} imgd_component_state;

typedef struct imgd_health {
    bool healthy; /* database and store usable */
    imgd_component_state db;
    imgd_component_state store;
    imgd_component_state runtime; /* the OCI runtime binary is present and executable */
    char runtime_path[256];       /* resolved runtime binary, or "" */
} imgd_health;

typedef struct imgd_system imgd_system;

/* Create the system facts for a running daemon. cfg and db are borrowed and must outlive it. */
int imgd_system_new(imgd_system **out, const imgd_config *cfg, imgd_db *db, imgd_error **err);

/* Free; accepts NULL. */
void imgd_system_free(imgd_system *sys);

/* Current component states (at most one second old). Thread-safe. */
void imgd_system_health(imgd_system *sys, imgd_health *out);

/* Microseconds since imgd_system_new. */
uint64_t imgd_system_uptime_usec(const imgd_system *sys);

/* Realtime (usec since epoch) at which the daemon started. */
uint64_t imgd_system_started_usec(const imgd_system *sys);

/* Number of threads of this process, or -1 when /proc is unreadable. */
int imgd_system_thread_count(void);
