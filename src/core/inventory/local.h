/* SPDX-License-Identifier: MIT */
/* The node's local images, from its sources (imgd's own store, the CRI runtime), as rows the way
 * `crictl images` prints them.
 *
 * Every answer is fresh and shared: a snapshot is always taken by a fetch that started after the
 * caller asked, and callers asking while a fetch runs all get the next one together, so a burst
 * of requests costs one CRI call per round, never one each. Thread-safe. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "core/store/store.h"
#include "ignore.h"
#include "util/error.h"

typedef struct imgd_local_image {
    char *id; /* "sha256:..." */
    char **repo_tags;
    char **repo_digests;
    uint64_t size;
    const char *source; /* "store" or "cri" (static) */
} imgd_local_image;

/* What one fetch saw. Shared between callers: read-only, released with unref. */
typedef struct imgd_local_snapshot {
    imgd_local_image *images;
    size_t n;
    char **errors;       /* "source\\tmessage" per failed source; NULL-terminated, never NULL */
    unsigned sources;    /* sources asked */
    unsigned failed;     /* of which failed */
    uint64_t generation; /* increases with every fetch */
    int refs;
} imgd_local_snapshot;

void imgd_local_snapshot_unref(imgd_local_snapshot *s);

typedef struct imgd_inventory_options {
    imgd_store *store;        /* may be NULL */
    const char *cri_endpoint; /* configured endpoint; NULL/"": found as crictl does */
    const char *crictl_yaml;  /* NULL: /etc/crictl.yaml */
    long cri_timeout_ms;
    char *const *sources; /* "store", "cri"; NULL: the store, and CRI when it answers */
} imgd_inventory_options;

typedef struct imgd_inventory imgd_inventory;

int imgd_inventory_new(imgd_inventory **out, const imgd_inventory_options *o, imgd_error **err);
void imgd_inventory_free(imgd_inventory *inv);

/* A snapshot taken after this call started. */
int imgd_inventory_local(imgd_inventory *inv, imgd_local_snapshot **out, imgd_error **err);

/* The CRI endpoint in use and where it came from ("config", "environment", "crictl.yaml",
 * "default"). Borrowed. */
const char *imgd_inventory_cri_endpoint(const imgd_inventory *inv, const char **source);

/* ---- rows ---- */

typedef struct imgd_inventory_row {
    char *repository;
    char *tag;
    char image_id[IMGD_DIGEST_LEN + 1]; /* 13 characters, or the full hex with no_trunc */
    char size[24];                      /* crictl's form: "117MB" */
    const imgd_local_image *image;      /* borrowed from the snapshot */
} imgd_inventory_row;

/* Rows of a snapshot as crictl prints them: one per repo tag (split at the last ':'); an image
 * without tags is one row named from its first repo digest with tag "<none>"; images the
 * ignore list names are left out; sorted as crictl sorts. Rows equal in repository, tag and ID
 * (an image both in the store and the runtime) appear once. source NULL: every source. */
int imgd_inventory_rows(imgd_inventory_row **out, size_t *n, const imgd_local_snapshot *snap,
                        imgd_ignore_file *ignore, bool no_trunc, const char *source,
                        imgd_error **err);

void imgd_inventory_rows_free(imgd_inventory_row *rows, size_t n);

/* crictl's split of a repo tag into repository and tag, and of a repo digest's name. Pure;
 * exposed for tests. Allocates both outputs. */
int imgd_inventory_split_tag(char **repository, char **tag, const char *repo_tag);
