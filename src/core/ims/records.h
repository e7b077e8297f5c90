/* SPDX-License-Identifier: MIT */
/* The records of the Image Management Service in imgd's database: public keys, recipes, images,
 * jobs and remote build nodes, live or soft-deleted.
 *
 * A record is kept in its API form (the JSON object clients see, encoded once, keys sorted), so a
 * list is the stored texts joined, without decoding. Every call is one transaction. Changes are
 * compare-and-swap: an update names the text it read, and fails with -ESTALE when another writer
 * changed the record meanwhile (the caller reads again and retries), so two clients writing at
 * once never lose an update. A live record whose link.path another live record of its kind holds
 * is refused with -EEXIST. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/db/db.h"
#include "util/error.h"

typedef enum imgd_ims_kind {
    IMGD_IMS_PUBLIC_KEY = 0,
    IMGD_IMS_RECIPE,
    IMGD_IMS_IMAGE,
    IMGD_IMS_JOB,
    IMGD_IMS_NODE, /* remote build node; its id is the xname */
    IMGD_IMS_N_KINDS,
} imgd_ims_kind;

/* Singular noun for messages: "public-key", "recipe", ... (static). */
const char *imgd_ims_kind_name(imgd_ims_kind kind);

/* One record as stored. */
typedef struct imgd_ims_record {
    char *id;
    char *text;   /* the stored API form */
    json_t *body; /* decoded text */
    uint64_t created_usec;
    bool deleted;
} imgd_ims_record;

void imgd_ims_record_dispose(imgd_ims_record *r);

/* The records of a kind (live, or the deleted collection), oldest first, as JSON array text
 * ending in a newline: what GET on the collection answers. */
int imgd_ims_list_text(imgd_db *db, imgd_ims_kind kind, bool deleted, char **out, size_t *out_len,
                       imgd_error **err);

/* The same records decoded: *out is an array of imgd_ims_record (*n of them; free each with
 * imgd_ims_record_dispose, then the array). */
int imgd_ims_list(imgd_db *db, imgd_ims_kind kind, bool deleted, imgd_ims_record **out, size_t *n,
                  imgd_error **err);

/* One record; -ENOENT when there is none with this id in that collection. */
int imgd_ims_get(imgd_db *db, imgd_ims_kind kind, bool deleted, const char *id,
                 imgd_ims_record *out, imgd_error **err);

/* The stored text of one record (caller frees), without decoding it: what GET answers. */
int imgd_ims_get_text(imgd_db *db, imgd_ims_kind kind, bool deleted, const char *id, char **out,
                      imgd_error **err);

/* The live record of kind (other than self, which may be NULL) holding link path, in *holder
 * (caller frees), or NULL when none does. The write itself checks again. */
int imgd_ims_link_holder(imgd_db *db, imgd_ims_kind kind, const char *path, const char *self,
                         char **holder, imgd_error **err);

/* Add a record (live unless deleted). With replace, a record with the same id is overwritten
 * (remote build nodes); otherwise that is -EEXIST. A live record whose link.path is held by another
 * live record of the kind is -EEXIST with *conflict set to that record's id (caller frees). */
int imgd_ims_insert(imgd_db *db, imgd_ims_kind kind, const char *id, uint64_t created_usec,
                    bool deleted, const json_t *body, bool replace, char **conflict,
                    imgd_error **err);

/* Replace the record read as *old (same id) with body, in the collection named by deleted (a
 * move between the live and deleted collections when it differs from old->deleted). -ESTALE
 * when the stored text is no longer old->text; -ENOENT when it is gone; -EEXIST (with
 * *conflict) as for insert. */
int imgd_ims_update(imgd_db *db, imgd_ims_kind kind, const imgd_ims_record *old, bool deleted,
                    const json_t *body, char **conflict, imgd_error **err);

/* Remove a record. With expect_text, only if it still has that text (-ESTALE otherwise).
 * -ENOENT when absent. */
int imgd_ims_remove(imgd_db *db, imgd_ims_kind kind, bool deleted, const char *id,
                    const char *expect_text, imgd_error **err);

/* Remove every record of a collection in one transaction; what was removed is returned as in
 * imgd_ims_list (out may be NULL when the caller does not need them). */
int imgd_ims_remove_all(imgd_db *db, imgd_ims_kind kind, bool deleted, imgd_ims_record **out,
                        size_t *n, imgd_error **err);

/* Free an array from imgd_ims_list / imgd_ims_remove_all. */
void imgd_ims_records_free(imgd_ims_record *v, size_t n);

/* Encode a body in the stored form (compact, keys sorted, no newline); NULL on no memory. */
char *imgd_ims_encode(const json_t *body);
