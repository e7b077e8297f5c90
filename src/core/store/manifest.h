/* SPDX-License-Identifier: MIT */
/* OCI image-spec and Docker schema 2 documents: manifests, indexes (manifest lists) and image
 * configs, parsed from untrusted bytes with every count and length bounded. Pure. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/registry/platform.h"
#include "unpack.h"
#include "util/digest.h"
#include "util/error.h"

#define IMGD_MANIFEST_MAX  (4u * 1024u * 1024u) /* registries must accept 4 MB manifests */
#define IMGD_CONFIG_MAX    (8u * 1024u * 1024u)
#define IMGD_MAX_LAYERS    1024
#define IMGD_MAX_MANIFESTS 1024

#define IMGD_MT_OCI_INDEX     "application/vnd.oci.image.index.v1+json"
#define IMGD_MT_OCI_MANIFEST  "application/vnd.oci.image.manifest.v1+json"
#define IMGD_MT_OCI_CONFIG    "application/vnd.oci.image.config.v1+json"
#define IMGD_MT_DOCKER_LIST   "application/vnd.docker.distribution.manifest.list.v2+json"
#define IMGD_MT_DOCKER_IMAGE  "application/vnd.docker.distribution.manifest.v2+json"
#define IMGD_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define IMGD_MT_DOCKER_LAYER  "application/vnd.docker.image.rootfs.diff.tar.gzip"

typedef struct imgd_descriptor {
    char media_type[128];
    char digest[IMGD_DIGEST_LEN + 1];
    int64_t size;
    char **urls;    /* NULL-terminated or NULL */
    char *ref_name; /* annotation org.opencontainers.image.ref.name, or NULL */
    bool has_platform;
    imgd_platform platform;
} imgd_descriptor;

typedef enum imgd_manifest_kind {
    IMGD_MANIFEST_IMAGE,
    IMGD_MANIFEST_INDEX,
} imgd_manifest_kind;

typedef struct imgd_manifest {
    imgd_manifest_kind kind;
    char media_type[128];
    imgd_descriptor config; /* image */
    size_t n_layers;
    imgd_descriptor *layers; /* image, base first */
    size_t n_manifests;
    imgd_descriptor *manifests; /* index */
} imgd_manifest;

/* Parse a manifest or index. content_type (a response's Content-Type, parameters ignored) may be
 * NULL; the kind is taken from it, else from "mediaType", else from the structure. A mediaType
 * that contradicts content_type, schema 1, or a malformed document is -EINVAL; a sha512 (or
 * other non-sha256) digest is -EOPNOTSUPP. */
int imgd_manifest_parse(imgd_manifest *out, const char *body, size_t len, const char *content_type,
                        imgd_error **err);

void imgd_manifest_dispose(imgd_manifest *m);

/* The first entry of an index for the platform, skipping entries of unknown media types and
 * attestations (unknown/unknown). -ENOENT naming the platform and listing those offered. */
int imgd_manifest_select(const imgd_descriptor **out, const imgd_manifest *index,
                         const imgd_platform *want, imgd_error **err);

typedef struct imgd_image_config {
    char *os, *architecture, *variant; /* variant "" when none */
    char *created;                     /* NULL when absent */
    size_t n_diff_ids;
    char (*diff_ids)[IMGD_DIGEST_LEN + 1];
} imgd_image_config;

/* Parse an image config: os, architecture, rootfs.diff_ids (type "layers"). */
int imgd_image_config_parse(imgd_image_config *out, const char *body, size_t len, imgd_error **err);

void imgd_image_config_dispose(imgd_image_config *c);

/* How a layer of this media type is compressed. -EOPNOTSUPP for types that cannot be unpacked
 * (encrypted, unknown). Docker's plain "tar" type may hold gzip: it is sniffed. */
int imgd_layer_compression(imgd_compression *out, const char *media_type);

/* True for media types of manifests this store can record (OCI or Docker image manifests). */
bool imgd_media_type_is_image_manifest(const char *media_type);
bool imgd_media_type_is_index(const char *media_type);
