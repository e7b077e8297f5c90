/* SPDX-License-Identifier: MIT */
/* Native face, images: list, inspect, import, tag, remove, prune. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/registry/platform.h"
#include "core/store/images.h"
#include "core/store/import.h"
#include "core/store/manifest.h"
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

static int respond(imgd_response *resp, unsigned status, json_t *body, imgd_error **err)
{
    if (!body || imgd_resp_json(resp, status, body, false) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    return 0;
}

int native_images_list(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    imgd_image *images = NULL;
    size_t n = 0;
    int r = imgd_store_image_list(req->ctx->store, &images, &n, err);
    if (r < 0)
        return r;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        if (arr)
            json_array_append_new(arr, image_json(&images[i]));
        imgd_image_dispose(&images[i]);
    }
    free(images);
    return respond(resp, 200, json_pack("{s:b, s:o*}", "success", 1, "images", arr), err);
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
    return respond(resp, 200, json_pack("{s:b, s:o*}", "success", 1, "image", o), err);
}

/* Optional string member; -EINVAL when present with another type. */
static int optional_string(const json_t *in, const char *key, const char **out, imgd_error **err)
{
    json_t *v = json_object_get(in, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return imgd_error_set(err, EINVAL, "'%s' must be a string", key);
    *out = json_string_value(v);
    return 0;
}

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
        r = optional_string(in, "path", &path, err);
    if (r == 0)
        r = optional_string(in, "tag", &tag, err);
    if (r == 0)
        r = optional_string(in, "platform", &platform, err);
    if (r == 0 && (!path || path[0] != '/'))
        r = imgd_error_set(err, EINVAL, "'path' must be an absolute path on the server");
    imgd_platform p;
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
    return respond(resp, 200,
                   json_pack("{s:b, s:o*}", "success", 1, "images", images_json(images, n)), err);
}

int native_images_tag(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_t *in = NULL;
    int r = imgd_req_json(req, &in, err);
    if (r < 0)
        return r;
    const char *tag = NULL;
    r = json_is_object(in) ? optional_string(in, "tag", &tag, err)
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
    return respond(resp, 201, body, err);
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
    return respond(resp, 200, body, err);
}

int native_images_prune(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    imgd_removal rm;
    int r = imgd_store_prune(req->ctx->store, &rm, err);
    if (r < 0)
        return r;
    json_t *body = removal_json(&rm);
    imgd_removal_dispose(&rm);
    return respond(resp, 200, body, err);
}
