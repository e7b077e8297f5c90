/* SPDX-License-Identifier: MIT */
/* The artifact store under IMS: objects named by bucket and key, as S3 names them, so a link
 * keeps IMS's "s3://bucket/key" form whichever backend holds the bytes.
 *
 * Two backends behind one interface:
 *  - fs (the default): files under <artifacts_dir>/<bucket>/<key>, with size, md5, ETag (the md5,
 *    as S3 gives for a single-part upload) and content type recorded in the database. An object
 *    appears whole or not at all: it is written to a staging file and renamed into place.
 *  - s3: any S3 service at s3_endpoint, every request signed with AWS SigV4; large objects go up
 *    in parts (multipart upload); GET URLs are presigned by imgd.
 *
 * Keys are checked before use: no empty, "." or ".." segment, no leading or trailing '/', at
 * most 1024 bytes. Thread-safe. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config/config.h"
#include "core/db/db.h"
#include "util/error.h"

typedef struct imgd_artifacts imgd_artifacts;

#define IMGD_MD5_HEX_LEN 32

typedef struct imgd_artifact_info {
    uint64_t size;
    char etag[80];                  /* without quotes */
    char md5[IMGD_MD5_HEX_LEN + 1]; /* "" when the backend does not know it */
    char content_type[128];
} imgd_artifact_info;

/* Open the backend the config names (s3 when s3_endpoint is set, else fs). */
int imgd_artifacts_open(imgd_artifacts **out, const imgd_config *cfg, imgd_db *db,
                        imgd_error **err);
void imgd_artifacts_free(imgd_artifacts *a);

/* "fs" or "s3". */
const char *imgd_artifacts_backend(const imgd_artifacts *a);

/* Check a bucket name (S3 rules: 3-63 of a-z 0-9 . -) and a key. -EINVAL with a message. */
int imgd_artifacts_check_name(const char *bucket, const char *key, imgd_error **err);

/* Split "s3://bucket/key" into its parts (malloc'd). -EINVAL when it is not that form. */
int imgd_artifacts_parse_link(const char *path, char **bucket, char **key, imgd_error **err);

/* What is known of an object; -ENOENT when there is none. */
int imgd_artifacts_head(imgd_artifacts *a, const char *bucket, const char *key,
                        imgd_artifact_info *info, imgd_error **err);

/* The whole object, when it has at most max bytes (-EFBIG otherwise). *data is NUL-terminated. */
int imgd_artifacts_read(imgd_artifacts *a, const char *bucket, const char *key, size_t max,
                        char **data, size_t *len, imgd_artifact_info *info, imgd_error **err);

/* A staging file for an upload: *fd open for writing, *path its name (caller frees). Write the
 * bytes, then hand it to imgd_artifacts_put_staged, or unlink it. */
int imgd_artifacts_stage(imgd_artifacts *a, int *fd, char **path, imgd_error **err);

/* Store the staged file at path as bucket/key, replacing any object there; the staging file is
 * consumed whatever happens. md5 is the hex md5 of its bytes when the caller computed it while
 * writing (NULL: computed here). *created tells whether no object was there before. */
int imgd_artifacts_put_staged(imgd_artifacts *a, const char *bucket, const char *key,
                              const char *path, const char *md5, const char *content_type,
                              imgd_artifact_info *info, bool *created, imgd_error **err);

/* Store bytes from memory (a manifest). */
int imgd_artifacts_put(imgd_artifacts *a, const char *bucket, const char *key, const void *data,
                       size_t len, const char *content_type, imgd_artifact_info *info,
                       imgd_error **err);

/* Move an object to another key of the same bucket (S3: copy, then delete). */
int imgd_artifacts_move(imgd_artifacts *a, const char *bucket, const char *from, const char *to,
                        imgd_error **err);

/* Remove an object; -ENOENT when there was none. */
int imgd_artifacts_delete(imgd_artifacts *a, const char *bucket, const char *key, imgd_error **err);

/* Open an object for reading: fs gives a file descriptor (*fd >= 0); s3 gives *fd = -1 and a
 * presigned GET URL in *url (caller frees) valid for the configured expiry. */
int imgd_artifacts_open_read(imgd_artifacts *a, const char *bucket, const char *key, int *fd,
                             char **url, imgd_artifact_info *info, imgd_error **err);

/* A URL a job can download the object from without credentials: s3 presigns it; fs gives NULL
 * (the object is served by imgd at /artifacts/<bucket>/<key>). */
int imgd_artifacts_download_url(imgd_artifacts *a, const char *bucket, const char *key, char **url,
                                imgd_error **err);
