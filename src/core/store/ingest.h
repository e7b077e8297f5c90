/* SPDX-License-Identifier: MIT */
/* Taking one layer into the store from a stream of its blob's bytes, whatever the source (a
 * registry download, a file of an archive): the bytes are hashed and counted against the
 * descriptor, unpacked in the same pass into a staging directory, and the result committed under
 * its ChainID only when digest, size and DiffID all check out. One thread per ingest. */
#pragma once

#include <stdint.h>

#include "manifest.h"
#include "store.h"

typedef struct imgd_layer_ingest {
    imgd_store *store;
    imgd_layer_stage stage;
    imgd_unpacker *unpacker;
    imgd_sha256 blob_hash;
    uint64_t received;
    int64_t expected_size;                     /* -1: unknown */
    char expected_digest[IMGD_DIGEST_LEN + 1]; /* "" : unknown (docker-archive layers) */
    char expected_diff_id[IMGD_DIGEST_LEN + 1];
    char parent[IMGD_DIGEST_LEN + 1]; /* "" for the base layer */
    char chain_id[IMGD_DIGEST_LEN + 1];
    char media_type[128];
    /* results after commit */
    char digest[IMGD_DIGEST_LEN + 1];
    uint64_t unpacked_size;
} imgd_layer_ingest;

/* Prepare to receive a layer. expected_digest "" and expected_size -1 when the source does not
 * say (the digest is computed then). parent is the ChainID below, or NULL for the base layer.
 * -EOPNOTSUPP for a media type that cannot be unpacked. */
int imgd_layer_ingest_begin(imgd_layer_ingest *ing, imgd_store *s, const char *media_type,
                            const char *expected_digest, int64_t expected_size, const char *parent,
                            const char *expected_diff_id, imgd_error **err);

/* The next bytes of the blob. -EFBIG when more arrive than the descriptor's size. */
int imgd_layer_ingest_feed(imgd_layer_ingest *ing, const void *data, size_t len, imgd_error **err);

/* Verify (-EBADMSG on a digest, size or DiffID mismatch) and commit; ends the ingest either way. */
int imgd_layer_ingest_commit(imgd_layer_ingest *ing, imgd_error **err);

/* Drop a partial layer; accepts a finished or never begun ingest (zeroed). */
void imgd_layer_ingest_abort(imgd_layer_ingest *ing);
