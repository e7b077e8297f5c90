/* SPDX-License-Identifier: MIT */
/* Inside core/artifacts: the object and the s3 backend's entry points. */
#pragma once

#include <curl/curl.h>
#include <pthread.h>

#include "artifacts.h"

typedef struct s3_backend s3_backend;

struct imgd_artifacts {
    bool s3;
    imgd_db *db;
    /* fs */
    char *root; /* <artifacts_dir> */
    int root_fd;
    int tmp_fd; /* <root>/.staging */
    char *tmp_dir;
    /* s3 */
    s3_backend *s3b;
    char *staging_dir; /* s3: where uploads are staged before they go up */
};

/* n bytes as 2n lowercase hex digits and a NUL. */
void artifacts_hex(char *out, const unsigned char *in, size_t n);

/* md5 of a file, hex. */
int artifacts_md5_file(const char *path, char out[IMGD_MD5_HEX_LEN + 1], imgd_error **err);

int s3_open(s3_backend **out, const imgd_config *cfg, imgd_error **err);
void s3_free(s3_backend *b);
int s3_head(s3_backend *b, const char *bucket, const char *key, imgd_artifact_info *info,
            imgd_error **err);
int s3_get(s3_backend *b, const char *bucket, const char *key, size_t max, char **data, size_t *len,
           imgd_artifact_info *info, imgd_error **err);
int s3_put_file(s3_backend *b, const char *bucket, const char *key, const char *path,
                const char *md5, const char *content_type, imgd_artifact_info *info,
                imgd_error **err);
int s3_copy(s3_backend *b, const char *bucket, const char *from, const char *to, imgd_error **err);
int s3_delete(s3_backend *b, const char *bucket, const char *key, imgd_error **err);
int s3_presign(s3_backend *b, const char *method, const char *bucket, const char *key, long expires,
               char **url, imgd_error **err);
long s3_url_expiration(const s3_backend *b);
