/* SPDX-License-Identifier: MIT */
/* Building an image in the store from its parts, whatever their source: the layers (fetched in
 * parallel, each once, skipped when already unpacked) and then the record that makes the image
 * visible. Used by import (files) and pull (a registry). */
#pragma once

#include <stdint.h>

#include "images.h"
#include "ingest.h"
#include "manifest.h"

/* Where layer blobs come from. fetch streams the blob of layers[index] into ing with
 * imgd_layer_ingest_feed. It may run on several threads at once (different indexes). */
typedef struct imgd_layer_source {
    int (*fetch)(void *ctx, size_t index, const imgd_descriptor *desc, imgd_layer_ingest *ing,
                 imgd_error **err);
    void *ctx;
    unsigned parallel; /* layers in flight at once; 0 or 1: one after another */
} imgd_layer_source;

/* What became of each layer. */
typedef struct imgd_layer_result {
    char digest[IMGD_DIGEST_LEN + 1]; /* as received (computed when the descriptor had none) */
    int64_t size;
    char chain_id[IMGD_DIGEST_LEN + 1];
    bool skipped; /* already in the store */
} imgd_layer_result;

/* Bring every layer into the store. descs[i] may have an empty digest and size -1 when the source
 * cannot say in advance. diff_ids come from the config. Two callers asking for the same layer at
 * once fetch it once. On failure nothing partial stays. */
int imgd_store_fetch_layers(imgd_store *s, const imgd_descriptor *descs, size_t n,
                            char (*diff_ids)[IMGD_DIGEST_LEN + 1], const imgd_layer_source *src,
                            imgd_layer_result *results, imgd_error **err);

/* Store the manifest and config blobs and record the image with its names. config must be parsed
 * from config_bytes; layers from imgd_store_fetch_layers. out (may be NULL) receives the image. */
typedef struct imgd_image_parts {
    const char *manifest;
    size_t manifest_len;
    const char *manifest_media_type;
    const char *config;
    size_t config_len;
    const char *config_media_type;
    const imgd_image_config *parsed_config;
    const imgd_layer_result *layers;
    const imgd_descriptor *layer_descs; /* media types */
    size_t n_layers;
    char *const *tags;         /* full names; may be NULL */
    char *const *repo_digests; /* may be NULL */
    const char *extra_blob;    /* an index the image was chosen from (stored too), or NULL */
    size_t extra_blob_len;
    const char *extra_blob_media_type;
} imgd_image_parts;

int imgd_store_record_image(imgd_store *s, const imgd_image_parts *parts, imgd_image *out,
                            imgd_error **err);
