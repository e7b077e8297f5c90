/* SPDX-License-Identifier: MIT */
/* /artifacts/{bucket}/{key...}: the objects IMS links name, served by imgd itself so clients can
 * upload and download them without an S3 service (and through it when the s3 backend is used).
 * PUT takes the bytes as the body (streamed to a staging file, md5 computed on the way) and
 * answers with the object's link; GET and HEAD give the bytes with ETag and x-amz-meta-md5sum
 * (with the s3 backend GET redirects to a presigned URL); DELETE removes. Errors use the native
 * face's dialect. */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/artifacts/artifacts.h"
#include "ims.h"
#include "util/cleanup.h"
#include "util/fs.h"

typedef struct upload {
    const imgd_api_ctx *ctx;
    int fd;
    char *path;
    EVP_MD_CTX *md5;
    uint64_t size;
} upload;

static void upload_free(void *state)
{
    upload *u = state;
    if (!u)
        return;
    if (u->fd >= 0)
        close(u->fd);
    if (u->path)
        (void)unlink(u->path);
    free(u->path);
    EVP_MD_CTX_free(u->md5);
    free(u);
}

static int upload_new(const imgd_api_ctx *ctx, upload **out, imgd_error **err)
{
    upload *u = calloc(1, sizeof *u);
    if (!u)
        return imgd_error_set(err, ENOMEM, "out of memory");
    u->ctx = ctx;
    u->fd = -1;
    u->md5 = EVP_MD_CTX_new();
    int r = u->md5 && EVP_DigestInit_ex(u->md5, EVP_md5(), NULL) == 1
                ? imgd_artifacts_stage(ctx->artifacts, &u->fd, &u->path, err)
                : imgd_error_set(err, ENOMEM, "out of memory");
    if (r < 0) {
        upload_free(u);
        return r;
    }
    *out = u;
    return 0;
}

static int upload_data(void *state, const void *buf, size_t len, imgd_error **err)
{
    upload *u = state;
    int r = imgd_write_all(u->fd, buf, len);
    if (r < 0)
        return imgd_error_errno(err, -r, "write the upload");
    EVP_DigestUpdate(u->md5, buf, len);
    u->size += len;
    return 0;
}

static int check_names(imgd_request *req, imgd_error **err)
{
    return imgd_artifacts_check_name(imgd_req_param(req, "bucket"), imgd_req_param(req, "key"),
                                     err);
}

static int upload_finish(void *state, imgd_request *req, imgd_response *resp, imgd_error **err)
{
    upload *u = state;
    unsigned char d[16];
    unsigned dl = 0;
    EVP_DigestFinal_ex(u->md5, d, &dl);
    char md5[33];
    for (int i = 0; i < 16; i++)
        snprintf(md5 + 2 * i, 3, "%02x", d[i]);
    close(u->fd);
    u->fd = -1;
    const char *bucket = imgd_req_param(req, "bucket");
    const char *key = imgd_req_param(req, "key");
    const char *ct = imgd_req_header(req, "Content-Type");
    imgd_artifact_info info;
    bool created = false;
    int r = imgd_artifacts_put_staged(req->ctx->artifacts, bucket, key, u->path, md5, ct, &info,
                                      &created, err);
    free(u->path);
    u->path = NULL; /* consumed */
    if (r < 0)
        return r;
    char path[1200], etag[100];
    snprintf(path, sizeof path, "s3://%s/%s", bucket, key);
    json_t *body =
        json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:{s:s, s:s, s:s}}", "bucket", bucket, "key", key,
                  "size", (json_int_t)info.size, "etag", info.etag, "md5", info.md5, "content_type",
                  info.content_type, "link", "path", path, "etag", info.etag, "type", "s3");
    r = imgd_resp_json_or_fail(resp, created ? 201 : 200, body, err);
    snprintf(etag, sizeof etag, "\"%s\"", info.etag);
    return r < 0 ? r : imgd_resp_header(resp, "ETag", etag);
}

int artifacts_put_stream(imgd_request *req, imgd_body_stream *out, imgd_error **err)
{
    int r = check_names(req, err);
    upload *u = NULL;
    if (r == 0)
        r = upload_new(req->ctx, &u, err);
    if (r < 0 || !u)
        return r < 0 ? r : -ENOMEM;
    *out = (imgd_body_stream){
        .state = u, .data = upload_data, .finish = upload_finish, .free = upload_free};
    return 0;
}

/* A body the server buffered (a JSON manifest, or an empty object). */
int artifacts_put(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    upload *u = NULL;
    int r = check_names(req, err);
    if (r == 0)
        r = upload_new(req->ctx, &u, err);
    if (r < 0 || !u)
        return r < 0 ? r : -ENOMEM;
    if (req->body_len)
        r = upload_data(u, req->body, req->body_len, err);
    if (r == 0)
        r = upload_finish(u, req, resp, err);
    upload_free(u);
    return r;
}

static int info_headers(imgd_response *resp, const imgd_artifact_info *info)
{
    char etag[100];
    snprintf(etag, sizeof etag, "\"%s\"", info->etag);
    int r = imgd_resp_header(resp, "ETag", etag);
    if (r == 0 && info->md5[0])
        r = imgd_resp_header(resp, "x-amz-meta-md5sum", info->md5);
    return r;
}

int artifacts_get(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    int r = check_names(req, err);
    if (r < 0)
        return r;
    imgd_artifact_info info;
    int fd = -1;
    _cleanup_free_ char *url = NULL;
    r = imgd_artifacts_open_read(req->ctx->artifacts, imgd_req_param(req, "bucket"),
                                 imgd_req_param(req, "key"), &fd, &url, &info, err);
    if (r < 0)
        return r;
    if (url && !strcmp(req->method, "HEAD")) {
        /* a URL presigned for GET would not do for HEAD: answer from S3's HEAD */
        r = imgd_resp_file(resp, 200, "application/octet-stream", -1, info.size);
        return r < 0 ? r : info_headers(resp, &info);
    }
    if (url) {
        r = imgd_resp_text(resp, 307, NULL, "", 0);
        if (r == 0)
            r = imgd_resp_header(resp, "Location", url);
        return r < 0 ? r : info_headers(resp, &info);
    }
    /* the content type is the object's own; keep a static copy of the common ones */
    static const char *const types[] = {"application/octet-stream",
                                        "application/json",
                                        "application/gzip",
                                        "application/x-gzip",
                                        "application/vnd.cray.image.rootfs.squashfs",
                                        "application/vnd.cray.image.kernel",
                                        "application/vnd.cray.image.initrd",
                                        "application/vnd.cray.image.parameters.boot",
                                        "text/plain"};
    const char *ct = types[0];
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (!strcmp(types[i], info.content_type))
            ct = types[i];
    }
    r = imgd_resp_file(resp, 200, ct, fd, info.size);
    return r < 0 ? r : info_headers(resp, &info);
}

int artifacts_delete(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    int r = check_names(req, err);
    if (r == 0)
        r = imgd_artifacts_delete(req->ctx->artifacts, imgd_req_param(req, "bucket"),
                                  imgd_req_param(req, "key"), err);
    return r < 0 ? r : imgd_resp_text(resp, 204, NULL, "", 0);
}
