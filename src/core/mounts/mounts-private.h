/* SPDX-License-Identifier: MIT */
/* Shared between mounts.c (records, references) and kinds.c (each kind's work). All of it runs
 * under the module's lock. */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "mounts.h"

typedef struct mounts_loop {
    int64_t id;
    int fd;
} mounts_loop;

struct imgd_mounts {
    const imgd_config *cfg;
    imgd_db *db;
    imgd_store *store;
    char mount_dir[4096];
    pthread_mutex_t lock;
    mounts_loop *loops; /* loop devices held open while their attachment exists */
    size_t n_loops, cap_loops;
};

/* A record: body is the object in API form with nested objects as {"id": N} placeholders and
 * what only imgd needs under "_internal"; deps the ids it holds a reference on. */
typedef struct mobj {
    int64_t id;
    char type[16];
    char kind[16];
    json_t *body;
    json_t *deps;
    int64_t refs;
    bool ready; /* set up in the kernel; false while being created */
    bool held;  /* one of refs is the client's, who created it at the top level */
} mobj;

void mobj_dispose(mobj *o);
int mobj_load(imgd_mounts *m, int64_t id, mobj *out);
int mobj_insert(imgd_mounts *m, const char *type, const char *kind, int64_t *out_id,
                imgd_error **err);
int mobj_save(imgd_mounts *m, const mobj *o, imgd_error **err);
void mobj_delete(imgd_mounts *m, int64_t id);

json_t *mounts_render_depth(imgd_mounts *m, int64_t id, int depth);
int mounts_ref_add(imgd_mounts *m, int64_t id, const char *type, imgd_error **err);
int mounts_release_locked(imgd_mounts *m, int64_t id, int depth, imgd_error **err);
int mounts_resolve(imgd_mounts *m, const char *type, const json_t *spec, json_t *deps,
                   int64_t *out_id, int depth, imgd_error **err);
int mounts_create_locked(imgd_mounts *m, imgd_mobj_type type, const json_t *spec, int64_t *out_id,
                         int depth, imgd_error **err);

void mounts_loop_keep(imgd_mounts *m, int64_t id, int fd);
int mounts_loop_take(imgd_mounts *m, int64_t id);

/* kinds.c: check a sub-object and build the record's body (nested objects resolved into deps);
 * do the kernel work for a record; undo it; bring it back after a restart. */
int mounts_attach_prepare(imgd_mounts *m, const char *kind, const json_t *sub, json_t *deps,
                          json_t **out_body, int depth, imgd_error **err);
int mounts_mount_prepare(imgd_mounts *m, const char *kind, const json_t *sub, json_t *deps,
                         json_t **out_body, int depth, imgd_error **err);
int mounts_setup(imgd_mounts *m, mobj *o, imgd_error **err);
void mounts_teardown(imgd_mounts *m, mobj *o);
int mounts_readopt_one(imgd_mounts *m, mobj *o);
