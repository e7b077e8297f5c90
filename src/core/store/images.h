/* SPDX-License-Identifier: MIT */
/* Image records of the store: what was pulled or imported, under which names, made of which
 * layers; tagging, removal and garbage collection. Names are full references as
 * imgd_reference_format writes them ("docker.io/library/busybox:latest",
 * "registry:5000/app@sha256:..."); an image's ID is its config digest. Thread-safe. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

typedef struct imgd_image_layer {
    char digest[IMGD_DIGEST_LEN + 1]; /* the blob as the manifest lists it */
    char diff_id[IMGD_DIGEST_LEN + 1];
    char chain_id[IMGD_DIGEST_LEN + 1];
    int64_t size; /* compressed, as listed */
    char media_type[128];
} imgd_image_layer;

typedef struct imgd_image {
    char id[IMGD_DIGEST_LEN + 1]; /* config digest */
    char manifest_digest[IMGD_DIGEST_LEN + 1];
    char *manifest_media_type;
    char *os, *architecture, *variant; /* variant "" when none */
    char *created;                     /* from the config; may be NULL */
    int64_t size;                      /* manifest + config + compressed layers */
    int64_t unpacked_size;
    int64_t added;       /* seconds since the epoch */
    char **repo_tags;    /* NULL-terminated, sorted */
    char **repo_digests; /* NULL-terminated, sorted */
    size_t n_layers;
    imgd_image_layer *layers; /* base first */
} imgd_image;

/* Free what an image owns; accepts a zeroed one. */
void imgd_image_dispose(imgd_image *img);

/* Record an image whose blobs and layers are all in the store, in one transaction, and give it
 * the names in img->repo_tags and img->repo_digests (a tag already naming another image moves).
 * Fails with -ENOENT when a layer or blob is missing. */
int imgd_store_image_commit(imgd_store *s, const imgd_image *img, imgd_error **err);

/* All images, newest first. *out is an array of *n images; free each with imgd_image_dispose
 * and the array with free(). */
int imgd_store_image_list(imgd_store *s, imgd_image **out, size_t *n, imgd_error **err);

/* Find an image by name ("busybox", "busybox:1", "host/app@sha256:..."), by ID or by an ID
 * prefix of at least 4 hex digits. -ENOENT "image '...' not found"; -EINVAL for a name that is
 * neither; -EEXIST... never. An ambiguous prefix is -EINVAL. */
int imgd_store_image_find(imgd_store *s, const char *name_or_id, imgd_image *out, imgd_error **err);

/* Give the image found by source the name target (a reference with a tag). */
int imgd_store_image_tag(imgd_store *s, const char *source, const char *target, char **out_name,
                         imgd_error **err);

typedef struct imgd_removal {
    char **untagged; /* names removed; NULL-terminated */
    char **deleted;  /* image IDs deleted; NULL-terminated */
    uint64_t reclaimed_bytes;
} imgd_removal;

void imgd_removal_dispose(imgd_removal *r);

/* Remove by name: that name goes; the image goes with its last name. Remove by ID: the image and
 * all its names, which needs force when it has several. An image a container uses is kept
 * (-EBUSY) unless force. Layers and blobs nothing else uses are deleted at once. */
int imgd_store_image_remove(imgd_store *s, const char *name_or_id, bool force, imgd_removal *out,
                            imgd_error **err);

/* Delete images without names that nothing uses, then every blob and layer no image references.
 * Waits for pulls and imports in progress. */
int imgd_store_prune(imgd_store *s, imgd_removal *out, imgd_error **err);

/* Mark an image as used by user (a container ID) or drop that mark. */
int imgd_store_image_use(imgd_store *s, const char *image_id, const char *user, bool used,
                         imgd_error **err);
