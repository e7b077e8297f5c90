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

/* An archive arriving in pieces (an upload): unpacked as it comes into a staging directory of
 * the store, imported when complete. */
typedef struct imgd_archive_receiver imgd_archive_receiver;

int imgd_archive_receiver_new(imgd_archive_receiver **out, imgd_store *s, imgd_error **err);

/* The next bytes of the archive (tar, or gzip/zstd-compressed tar). */
int imgd_archive_receiver_feed(imgd_archive_receiver *r, const void *data, size_t len,
                               imgd_error **err);

/* The archive is complete: import what it holds, as imgd_store_import_path does. */
int imgd_archive_receiver_import(imgd_archive_receiver *r, const imgd_import_options *opts,
                                 imgd_image **out, size_t *n_out, imgd_error **err);

/* Free, removing the staging directory; accepts NULL. */
void imgd_archive_receiver_free(imgd_archive_receiver *r);
