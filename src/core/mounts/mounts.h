/* SPDX-License-Identifier: MIT */
/* Attachments (loop files, block devices, kernel RBD) and mounts (a filesystem on an
 * attachment, overlay, bind, NFS, an OCI image's layer stack) of the ImageAPI model.
 *
 * Objects are JSON in the ImageAPI's own shapes, because the model is polymorphic (a "kind"
 * plus one sub-object) and nested: a sub-object with a non-zero "id" references an existing
 * object, one without creates it. Every object is a database record (ids from one sequence,
 * never reused) with a reference count: 1 for its creator (or the parent that created it), one
 * more per object that references it. Releasing the last reference tears the object down and
 * releases what it references in turn. Lookups never add references.
 *
 * After a restart every record is re-adopted: loop devices are found again by their backing
 * file (or attached again), mounts found in place (or mounted again), in id order so that what
 * an object depends on comes first.
 *
 * Errors: -EBADMSG for a body that breaks the schema (422), -EINVAL for invalid data (400),
 * -ENOENT (404), -EBUSY while referenced (409), -EOPNOTSUPP where there is no driver or kernel
 * support (501), -EIO and others when the kernel refuses (500). Thread-safe (one lock). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config/config.h"
#include "core/db/db.h"
#include "core/store/store.h"
#include "util/error.h"

typedef struct imgd_mounts imgd_mounts;

typedef enum imgd_mobj_type {
    IMGD_MOBJ_ATTACH,
    IMGD_MOBJ_MOUNT,
} imgd_mobj_type;

/* Open the module: create mount_dir, re-adopt every record. cfg, db and store are borrowed. */
int imgd_mounts_new(imgd_mounts **out, const imgd_config *cfg, imgd_db *db, imgd_store *store,
                    imgd_error **err);

void imgd_mounts_free(imgd_mounts *m);

/* Create an attachment or a mount from a request body; *out is the resolved object (new
 * reference), nested objects expanded. A top-level non-zero "id" is -EINVAL. */
int imgd_mounts_create(imgd_mounts *m, imgd_mobj_type type, const json_t *spec, json_t **out,
                       imgd_error **err);

/* Objects of a type as a JSON array: one (or -ENOENT) when id > 0, else all, filtered by kind
 * when kind is not NULL. In id order. */
int imgd_mounts_list(imgd_mounts *m, imgd_mobj_type type, int64_t id, const char *kind,
                     json_t **out, imgd_error **err);

/* Drop the creator's reference: -EBUSY while others hold the object, unless force (then only
 * the creator's reference goes, and the object stays until the others release it). *out is
 * the object as it was. */
int imgd_mounts_delete(imgd_mounts *m, imgd_mobj_type type, int64_t id, bool force, json_t **out,
                       imgd_error **err);

/* For containers: take a reference on a mount given as a spec (created, or referenced by id),
 * with its mountpoint and resolved object; give it back with imgd_mounts_release. */
int imgd_mounts_acquire(imgd_mounts *m, const json_t *spec, int64_t *out_id, char **out_mountpoint,
                        json_t **out_resolved, imgd_error **err);
int imgd_mounts_release(imgd_mounts *m, int64_t id, imgd_error **err);

/* The resolved object with this id (any type), or NULL. New reference. */
json_t *imgd_mounts_render(imgd_mounts *m, int64_t id);

/* The next object id, for a caller (containers) sharing the sequence: a record of that type
 * holds it until imgd_mounts_forget_id (the sequence never gives it again). */
int imgd_mounts_reserve_id(imgd_mounts *m, const char *type, int64_t *out, imgd_error **err);
void imgd_mounts_forget_id(imgd_mounts *m, int64_t id);

/* The ImageAPI v0.1 paths number attachments, mounts and containers each from 0. The v0.1 id
 * of an object (type "attach", "mount", "container"), given one when it has none yet (ids of a
 * type are never reused); and the object of a v0.1 id (-ENOENT). */
int imgd_mounts_legacy_id(imgd_mounts *m, const char *type, int64_t core_id, int64_t *out,
                          imgd_error **err);
int imgd_mounts_core_id(imgd_mounts *m, const char *type, int64_t legacy, int64_t *out,
                        imgd_error **err);
