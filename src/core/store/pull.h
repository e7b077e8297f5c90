/* SPDX-License-Identifier: MIT */
/* Pulling an image from a registry into the store: resolve the reference (an index gives the
 * platform's manifest), fetch the config, then download and unpack the layers in parallel, each
 * streamed through its digest, decompression, the DiffID and extraction in one pass. Layers the
 * store has are not downloaded; two pulls needing the same layer fetch it once. The image becomes
 * visible only when complete. */
#pragma once

#include <stdint.h>

#include "core/registry/authfile.h"
#include "core/registry/client.h"
#include "core/registry/platform.h"
#include "images.h"

typedef enum imgd_pull_event_kind {
    IMGD_PULL_RESOLVED, /* manifest chosen: digest, count */
    IMGD_PULL_LAYER,    /* a layer changed: index, digest, state, done, total */
} imgd_pull_event_kind;

typedef struct imgd_pull_event {
    imgd_pull_event_kind kind;
    const char *digest;
    const char *state; /* "exists", "downloading", "done" */
    size_t index, count;
    uint64_t done, total;
} imgd_pull_event;

/* Called from the pulling threads (several at once); must be thread-safe and quick. */
typedef void (*imgd_pull_progress_fn)(void *ctx, const imgd_pull_event *ev);

typedef struct imgd_pull_options {
    const char *reference;
    const imgd_platform *platform;       /* NULL: linux/amd64 */
    const imgd_credentials *credentials; /* NULL: configured ones */
    unsigned parallel;                   /* layers at once */
    imgd_pull_progress_fn progress;      /* may be NULL */
    void *progress_ctx;
    bool (*cancelled)(void *ctx); /* polled while downloading; may be NULL */
    void *cancel_ctx;
} imgd_pull_options;

/* Pull opts->reference. out (may be NULL) receives the image. Errors name the reference and what
 * failed: -EINVAL (bad reference), -ENOENT (not in the registry, or no image for the platform),
 * -EACCES (credentials), -EBADMSG (content that does not match its digest), -ECONNREFUSED. */
int imgd_store_pull(imgd_store *s, imgd_registry *reg, const imgd_pull_options *opts,
                    imgd_image *out, imgd_error **err);
