/* SPDX-License-Identifier: MIT */
/* Importing images from files: an OCI image layout directory, an oci-archive (a tar of one), or a
 * docker-archive (`docker save`: manifest.json, configs and layer tars), plain or compressed.
 * Paths inside the layout or archive are untrusted and opened only beneath it. */
#pragma once

#include "core/registry/platform.h"
#include "images.h"

typedef struct imgd_import_options {
    const char *tag;               /* name for the imported image (one image only), or NULL */
    const imgd_platform *platform; /* for indexes; NULL: linux/amd64 */
    unsigned parallel;             /* layers at once */
} imgd_import_options;

/* Import everything path holds. out receives the imported images (an array of *n_out; dispose
 * each and free the array). -ENOENT when path does not exist, -EINVAL when it is not a known
 * format (the message says which files were expected). */
int imgd_store_import_path(imgd_store *s, const char *path, const imgd_import_options *opts,
                           imgd_image **out, size_t *n_out, imgd_error **err);
