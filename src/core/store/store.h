/* SPDX-License-Identifier: MIT */
/* The OCI content store under the state directory:
 *
 *   blobs/sha256/<hex>   manifests, indexes, configs (and layer blobs when kept)
 *   layers/<chain hex>/  each layer unpacked once per ChainID, in overlayfs form
 *   tmp/                 blobs and layers being written; emptied at every start
 *
 * Everything lands under a temporary name and is renamed into place only when complete and
 * synced, and an image is recorded in the database only after all its parts are in place, so a
 * crash at any moment leaves no half image visible. Thread-safe. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/db/db.h"
#include "util/digest.h"
#include "util/error.h"

typedef struct imgd_store imgd_store;

/* Open the store in state_dir (creating its directories) and clean what a crash left behind.
 * db is borrowed. */
int imgd_store_open(imgd_store **out, const char *state_dir, imgd_db *db, imgd_error **err);

/* Free; accepts NULL. */
void imgd_store_free(imgd_store *s);

/* ---- blobs ---- */

/* Store bytes as a blob. When expected_digest is not NULL the bytes must hash to it (-EBADMSG
 * otherwise). The digest is written to out_digest (may be NULL). Idempotent. */
int imgd_store_blob_put(imgd_store *s, const void *data, size_t len, const char *expected_digest,
                        const char *media_type, char *out_digest, imgd_error **err);

/* Read a blob of at most max bytes. -ENOENT when absent. out is malloc'd and NUL-terminated. */
int imgd_store_blob_get(imgd_store *s, const char *digest, size_t max, char **out, size_t *out_len,
                        imgd_error **err);

bool imgd_store_blob_has(imgd_store *s, const char *digest);

/* ---- layers ---- */

/* A layer being unpacked: a private directory under tmp/. */
typedef struct imgd_layer_stage {
    int dirfd; /* O_RDONLY|O_DIRECTORY, owned */
    char name[64];
} imgd_layer_stage;

/* ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln)); ChainID(L0) = DiffID(L0).
 * parent NULL for the base layer. */
int imgd_chain_id(char out[IMGD_DIGEST_LEN + 1], const char *parent, const char *diff_id);

bool imgd_store_layer_has(imgd_store *s, const char *chain_id);

/* Path of an unpacked layer directory (for overlay lowerdir). */
int imgd_store_layer_path(char *out, size_t len, const imgd_store *s, const char *chain_id);

/* Create a staging directory. */
int imgd_store_layer_stage(imgd_store *s, imgd_layer_stage *out, imgd_error **err);

/* Sync the staged directory, move it into place as chain_id and record it. When another pull
 * committed the same layer meanwhile, the staged copy is dropped. Consumes the stage. */
int imgd_store_layer_commit(imgd_store *s, imgd_layer_stage *st, const char *chain_id,
                            const char *parent, const char *diff_id, uint64_t size,
                            imgd_error **err);

/* Remove a staging directory; accepts an unused (dirfd -1) stage. */
void imgd_store_layer_abort(imgd_store *s, imgd_layer_stage *st);

/* Remember which DiffID a compressed layer blob unpacks to, so the next image that lists the
 * blob skips it before downloading anything. */
int imgd_store_layer_blob_record(imgd_store *s, const char *digest, const char *diff_id,
                                 int64_t size, const char *media_type, imgd_error **err);

/* The DiffID a layer blob is known to unpack to, or -ENOENT. */
int imgd_store_layer_blob_diff_id(imgd_store *s, const char *digest, char out[IMGD_DIGEST_LEN + 1]);

/* ---- claims and uses ---- */

/* Claim key (a digest or ChainID) for writing. Blocks while another thread holds it, then
 * returns holding it: the caller checks whether the content appeared meanwhile, so two pulls of
 * the same layer fetch it once. Held for one blob or layer at a time, never nested. */
void imgd_store_claim(imgd_store *s, const char *key);
void imgd_store_release(imgd_store *s, const char *key);

/* A pull or import in progress: while any is, garbage collection waits, so nothing it wrote and
 * has not yet recorded in an image can be collected. */
void imgd_store_use_begin(imgd_store *s);
void imgd_store_use_end(imgd_store *s);

/* Directory paths for callers that build on the store (import reads, overlay mounts). */
const char *imgd_store_root(const imgd_store *s);
