/* SPDX-License-Identifier: MIT */
/* Native face, images: list, inspect, import, tag, remove, prune. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/registry/platform.h"
#include "core/registry/reference.h"
#include "core/store/images.h"
#include "core/store/import.h"
#include "core/store/manifest.h"
#include "core/store/pull.h"
#include "face.h"
#include "native.h"
#include "util/cleanup.h"
#include "util/json.h"
#include "util/strutil.h"
#include "util/timeutil.h"

static json_t *strv_json(char *const *v)
{
    json_t *a = json_array();
    for (char *const *p = v; a && p && *p; p++)
        json_array_append_new(a, json_string(*p));
    return a;
}

static json_t *image_json(const imgd_image *img)
{
    char added[32];
    imgd_time_format_rfc3339(added, sizeof(added), (uint64_t)img->added * 1000000u);
    json_t *o = json_pack(
        "{s:s, s:o, s:o, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s?}", "id", img->id, "repo_tags",
        strv_json(img->repo_tags), "repo_digests", strv_json(img->repo_digests), "size",
        (json_int_t)img->size, "unpacked_size", (json_int_t)img->unpacked_size, "architecture",
        img->architecture, "os", img->os, "manifest_digest", img->manifest_digest,
        "manifest_media_type", img->manifest_media_type, "added", added, "created", img->created);
    if (o && img->variant && *img->variant)
        json_object_set_new(o, "variant", json_string(img->variant));
    return o;
}

/* Encode and dispose an array of images (as the store returns them). */
static json_t *images_json(imgd_image *images, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        if (arr)
            json_array_append_new(arr, image_json(&images[i]));
        imgd_image_dispose(&images[i]);
    }
    free(images);
    return arr;
}

int native_images_list(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    imgd_image *images = NULL;
    size_t n = 0;
    int r = imgd_store_image_list(req->ctx->store, &images, &n, err);
    if (r < 0)
        return r;
    return imgd_resp_json_or_fail(
        resp, 200, json_pack("{s:b, s:o*}", "success", 1, "images", images_json(images, n)), err);
}

static json_t *layers_json(const imgd_image *img)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < img->n_layers; i++) {
        const imgd_image_layer *l = &img->layers[i];
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I, s:s}", "digest", l->digest,
                                             "diff_id", l->diff_id, "chain_id", l->chain_id, "size",
                                             (json_int_t)l->size, "media_type", l->media_type));
    }
    return arr;
}

int native_images_inspect(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    imgd_image img;
    int r = imgd_store_image_find(req->ctx->store, imgd_req_param(req, "ref"), &img, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *config = NULL;
    size_t len = 0;
    r = imgd_store_blob_get(req->ctx->store, img.id, IMGD_CONFIG_MAX, &config, &len, err);
    json_t *o = r == 0 ? image_json(&img) : NULL;
    if (o) {
        json_object_set_new(o, "layers", layers_json(&img));
        json_object_set_new(o, "config", json_loadb(config, len, 0, NULL));
    }
    imgd_image_dispose(&img);
    if (r < 0)
        return r;
    return imgd_resp_json_or_fail(resp, 200, json_pack("{s:b, s:o*}", "success", 1, "image", o),
                                  err);
}

int native_images_import(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_t *in = NULL;
    int r = imgd_req_json(req, &in, err);
    if (r < 0)
        return r;
    const char *path = NULL, *tag = NULL, *platform = NULL;
    if (!json_is_object(in))
        r = imgd_error_set(err, EINVAL, "body must be an object with 'path'");
    if (r == 0)
        r = native_optional_string(in, "path", &path, err);
    if (r == 0)
        r = native_optional_string(in, "tag", &tag, err);
    if (r == 0)
        r = native_optional_string(in, "platform", &platform, err);
    if (r == 0 && (!path || path[0] != '/'))
        r = imgd_error_set(err, EINVAL, "'path' must be an absolute path on the server");
    imgd_platform p;
    imgd_platform_default(&p);
    if (r == 0 && platform)
        r = imgd_platform_parse(&p, platform, err);
    imgd_import_options opts = {.tag = tag,
                                .platform = platform ? &p : NULL,
                                .parallel = (unsigned)req->ctx->cfg->pull_parallel};
    imgd_image *images = NULL;
    size_t n = 0;
    if (r == 0)
        r = imgd_store_import_path(req->ctx->store, path, &opts, &images, &n, err);
    json_decref(in);
    if (r < 0)
        return r;
    return imgd_resp_json_or_fail(
        resp, 200, json_pack("{s:b, s:o*}", "success", 1, "images", images_json(images, n)), err);
}

int native_images_tag(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_t *in = NULL;
    int r = imgd_req_json(req, &in, err);
    if (r < 0)
        return r;
    const char *tag = NULL;
    r = json_is_object(in) ? native_optional_string(in, "tag", &tag, err)
                           : imgd_error_set(err, EINVAL, "body must be an object with 'tag'");
    if (r == 0 && !tag)
        r = imgd_error_set(err, EINVAL, "'tag' is required");
    _cleanup_free_ char *name = NULL;
    if (r == 0)
        r = imgd_store_image_tag(req->ctx->store, imgd_req_param(req, "ref"), tag, &name, err);
    json_decref(in);
    if (r < 0)
        return r;
    imgd_image img;
    r = imgd_store_image_find(req->ctx->store, name, &img, err);
    if (r < 0)
        return r;
    json_t *body =
        json_pack("{s:b, s:{s:s, s:s}}", "success", 1, "image", "id", img.id, "tag", name);
    imgd_image_dispose(&img);
    return imgd_resp_json_or_fail(resp, 201, body, err);
}

static json_t *removal_json(const imgd_removal *rm)
{
    return json_pack("{s:b, s:o, s:o, s:I}", "success", 1, "untagged", strv_json(rm->untagged),
                     "deleted", strv_json(rm->deleted), "space_reclaimed",
                     (json_int_t)rm->reclaimed_bytes);
}

int native_images_remove(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    const char *force_text = imgd_req_query(req, "force");
    bool force = false;
    if (force_text && imgd_parse_bool(&force, force_text) < 0)
        return imgd_error_set(err, EINVAL, "'force' must be true or false, not '%.20s'",
                              force_text);
    imgd_removal rm;
    int r = imgd_store_image_remove(req->ctx->store, imgd_req_param(req, "ref"), force, &rm, err);
    if (r < 0)
        return r;
    json_t *body = removal_json(&rm);
    imgd_removal_dispose(&rm);
    return imgd_resp_json_or_fail(resp, 200, body, err);
}

int native_images_prune(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    imgd_removal rm;
    int r = imgd_store_prune(req->ctx->store, &rm, err);
    if (r < 0)
        return r;
    json_t *body = removal_json(&rm);
    imgd_removal_dispose(&rm);
    return imgd_resp_json_or_fail(resp, 200, body, err);
}

/* ---- pull ---- */

typedef struct pull_job {
    const imgd_api_ctx *ctx;
    char *reference;
    bool has_platform;
    imgd_platform platform;
    imgd_credentials creds;
    bool has_creds;
    imgd_job *job;
} pull_job;

static void pull_job_free(void *arg)
{
    pull_job *p = arg;
    free(p->reference);
    imgd_credentials_dispose(&p->creds);
    free(p);
}

static void write_line(imgd_job *job, json_t *line)
{
    size_t len = 0;
    char *text = line ? json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(line);
    if (!text)
        return;
    len = strlen(text);
    text[len] = '\n'; /* replaces the NUL: written with its length */
    (void)imgd_job_write(job, text, len + 1);
    free(text);
}

static void on_pull_progress(void *ctx, const imgd_pull_event *ev)
{
    pull_job *p = ctx;
    if (ev->kind == IMGD_PULL_RESOLVED)
        write_line(p->job,
                   json_pack("{s:s, s:s, s:s, s:I}", "status", "resolved", "reference",
                             p->reference, "digest", ev->digest, "layers", (json_int_t)ev->count));
    else
        write_line(p->job, json_pack("{s:s, s:I, s:s, s:I, s:I}", "layer", ev->digest, "index",
                                     (json_int_t)ev->index, "state", ev->state, "done",
                                     (json_int_t)ev->done, "total", (json_int_t)ev->total));
}

static bool pull_cancelled(void *ctx)
{
    const pull_job *p = ctx;
    return imgd_job_cancelled(p->job);
}

static int run_pull(void *arg, imgd_job *job, imgd_response *resp, imgd_error **err)
{
    pull_job *p = arg;
    p->job = job;
    imgd_pull_options opts = {.reference = p->reference,
                              .platform = p->has_platform ? &p->platform : NULL,
                              .credentials = p->has_creds ? &p->creds : NULL,
                              .parallel = (unsigned)p->ctx->cfg->pull_parallel,
                              .progress = on_pull_progress,
                              .progress_ctx = p,
                              .cancelled = pull_cancelled,
                              .cancel_ctx = p};
    imgd_image img;
    int r = imgd_store_pull(p->ctx->store, p->ctx->registry, &opts, &img, err);
    if (r < 0)
        return r;
    json_t *o = image_json(&img);
    imgd_image_dispose(&img);
    return imgd_resp_json_or_fail(resp, 200, json_pack("{s:b, s:o*}", "success", 1, "image", o),
                                  err);
}

/* The streamed variant: progress lines, then the image or the error as the last line. */
static int run_pull_stream(void *arg, imgd_job *job, imgd_response *resp, imgd_error **err)
{
    (void)resp;
    imgd_response result;
    memset(&result, 0, sizeof(result));
    imgd_error *e = NULL;
    int r = run_pull(arg, job, &result, &e);
    if (r < 0) {
        unsigned status = imgd_face_status(IMGD_FACE_NATIVE, e ? e->code : -r);
        write_line(job, json_pack("{s:{s:s, s:i}}", "error", "message",
                                  e ? e->message : "pull failed", "code", (int)status));
        if (err && !*err)
            *err = e;
        else
            imgd_error_free(e);
    } else {
        json_t *body = json_loadb(result.body, result.body_len, 0, NULL);
        json_t *image = json_incref(json_object_get(body, "image"));
        json_decref(body);
        write_line(job, json_pack("{s:s, s:o*}", "status", "complete", "image", image));
    }
    imgd_resp_dispose(&result);
    return r;
}

static int parse_credentials(pull_job *p, const json_t *c, imgd_error **err)
{
    if (!c || json_is_null(c))
        return 0;
    const char *user = json_string_value(json_object_get(c, "username"));
    const char *pass = json_string_value(json_object_get(c, "password"));
    if (!json_is_object(c) || !user || !pass)
        return imgd_error_set(err, EINVAL,
                              "'credentials' must be an object with 'username' and 'password'");
    p->creds.username = strdup(user);
    p->creds.password = strdup(pass);
    p->has_creds = true;
    return p->creds.username && p->creds.password ? 0
                                                  : imgd_error_set(err, ENOMEM, "out of memory");
}

static int parse_pull(pull_job *p, const json_t *in, imgd_error **err)
{
    const char *reference = NULL, *platform = NULL;
    if (!json_is_object(in))
        return imgd_error_set(err, EINVAL, "body must be an object");
    int r = native_optional_string(in, "reference", &reference, err);
    if (r == 0)
        r = native_optional_string(in, "platform", &platform, err);
    if (r < 0)
        return r;
    if (!reference)
        return imgd_error_set(err, EINVAL, "'reference' is required");
    imgd_reference ref; /* fail now, with a 400, not later in the job */
    r = imgd_reference_parse(&ref, reference, err);
    if (r < 0)
        return r;
    imgd_reference_dispose(&ref);
    if (platform) {
        r = imgd_platform_parse(&p->platform, platform, err);
        if (r < 0)
            return r;
        p->has_platform = true;
    }
    r = parse_credentials(p, json_object_get(in, "credentials"), err);
    if (r < 0)
        return r;
    p->reference = strdup(reference);
    return p->reference ? 0 : imgd_error_set(err, ENOMEM, "out of memory");
}

int native_images_pull(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_t *in = NULL;
    int r = imgd_req_json(req, &in, err);
    if (r < 0)
        return r;
    pull_job *p = calloc(1, sizeof(*p));
    if (!p) {
        json_decref(in);
        return imgd_error_set(err, ENOMEM, "out of memory");
    }
    p->ctx = req->ctx;
    r = parse_pull(p, in, err);
    json_decref(in);
    if (r < 0) {
        pull_job_free(p);
        return r;
    }
    const char *accept = imgd_req_header(req, "Accept");
    bool stream = accept && strstr(accept, "application/x-ndjson");
    imgd_job_spec spec = {.fn = stream ? run_pull_stream : run_pull,
                          .arg = p,
                          .free_arg = pull_job_free,
                          .stream = stream,
                          .content_type = "application/x-ndjson"};
    return imgd_resp_job(resp, &spec) < 0 ? imgd_error_set(err, ENOMEM, "out of memory") : 0;
}

/* ---- import of an uploaded archive ---- */

typedef struct upload {
    const imgd_api_ctx *ctx;
    imgd_archive_receiver *receiver;
    char *tag;
    bool has_platform;
    imgd_platform platform;
} upload;

static void upload_free(void *arg)
{
    upload *u = arg;
    if (!u)
        return;
    imgd_archive_receiver_free(u->receiver);
    free(u->tag);
    free(u);
}

static int upload_data(void *state, const void *buf, size_t len, imgd_error **err)
{
    upload *u = state;
    return imgd_archive_receiver_feed(u->receiver, buf, len, err);
}

static int run_upload_import(void *arg, imgd_job *job, imgd_response *resp, imgd_error **err)
{
    (void)job;
    upload *u = arg;
    imgd_import_options opts = {.tag = u->tag,
                                .platform = u->has_platform ? &u->platform : NULL,
                                .parallel = (unsigned)u->ctx->cfg->pull_parallel};
    imgd_image *images = NULL;
    size_t n = 0;
    int r = imgd_archive_receiver_import(u->receiver, &opts, &images, &n, err);
    imgd_archive_receiver_free(u->receiver); /* the staged files go before the answer does */
    u->receiver = NULL;
    if (r < 0)
        return r;
    return imgd_resp_json_or_fail(
        resp, 200, json_pack("{s:b, s:o*}", "success", 1, "images", images_json(images, n)), err);
}

/* All bytes are in: the import itself (layers unpacked, possibly large) runs as a job. */
static int upload_finish(void *state, imgd_request *req, imgd_response *resp, imgd_error **err)
{
    (void)req;
    upload *u = state;
    upload *job_arg = calloc(1, sizeof(*job_arg));
    if (!job_arg)
        return imgd_error_set(err, ENOMEM, "out of memory");
    *job_arg = *u; /* the job takes everything over; the stream's state keeps nothing */
    memset(u, 0, sizeof(*u));
    imgd_job_spec spec = {.fn = run_upload_import, .arg = job_arg, .free_arg = upload_free};
    return imgd_resp_job(resp, &spec) < 0 ? imgd_error_set(err, ENOMEM, "out of memory") : 0;
}

int native_images_import_stream(imgd_request *req, imgd_body_stream *out, imgd_error **err)
{
    const char *tag = imgd_req_query(req, "tag");
    const char *platform = imgd_req_query(req, "platform");
    upload *u = calloc(1, sizeof(*u));
    if (!u)
        return imgd_error_set(err, ENOMEM, "out of memory");
    u->ctx = req->ctx;
    int r = 0;
    if (tag) {
        imgd_reference ref;
        r = imgd_reference_parse(&ref, tag, err);
        if (r == 0)
            imgd_reference_dispose(&ref);
        if (r == 0 && !(u->tag = strdup(tag)))
            r = imgd_error_set(err, ENOMEM, "out of memory");
    }
    if (r == 0 && platform) {
        r = imgd_platform_parse(&u->platform, platform, err);
        u->has_platform = r == 0;
    }
    if (r == 0)
        r = imgd_archive_receiver_new(&u->receiver, req->ctx->store, err);
    if (r < 0) {
        upload_free(u);
        return r;
    }
    *out = (imgd_body_stream){
        .state = u, .data = upload_data, .finish = upload_finish, .free = upload_free};
    return 0;
}
