/* SPDX-License-Identifier: MIT */
/* ImageAPI face, v0.1 generation: the resource paths at the root (/attach/rbd, /mount/rbd,
 * /mount/overlay, /mount, /container, /container/{id}/{state}, /container/byname/{name}), with
 * their flat models and their per-type ids counted from 0. Every call is translated to the one
 * model of core/mounts and the runtime (objects made here are seen by /imageapi/v1 and the
 * other way round); /attach/loopback is the v0.1-style path for a loop file, where a node
 * without Ceph uses a loopback attachment in place of RBD. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/mounts/mounts.h"
#include "imageapi-private.h"
#include "imageapi.h"
#include "util/json.h"
#include "util/strutil.h"

static int64_t legacy_of(const imgd_api_ctx *ctx, const char *type, const json_t *obj)
{
    int64_t id = -1;
    json_int_t core = json_integer_value(json_object_get(obj, "id"));
    if (core > 0)
        (void)imgd_mounts_legacy_id(ctx->mounts, type, core, &id, NULL);
    return id;
}

static int64_t legacy(imgd_request *req, const char *type, const json_t *obj)
{
    return legacy_of(req->ctx, type, obj);
}

static int param_id(imgd_request *req, const char *type, int64_t *core, imgd_error **err)
{
    int64_t v = 0;
    const char *s = imgd_req_param(req, "id");
    if (!s || imgd_parse_int64(&v, s) < 0 || v < 0)
        return imgd_error_set(err, EINVAL, "%s id '%s' is not a number", type, s ? s : "");
    return imgd_mounts_core_id(req->ctx->mounts, type, v, core, err);
}

/* ---- models ---- */

static json_t *v1_attach(imgd_request *req, const json_t *a)
{
    const char *kind = json_string_value(json_object_get(a, "kind"));
    json_t *sub = json_deep_copy(json_object_get(a, kind ? kind : ""));
    json_t *o = json_is_object(sub) ? sub : json_object();
    if (o != sub)
        json_decref(sub);
    json_object_del(o, "mount");
    json_t *opts = json_object_get(o, "options");
    if (json_object_get(opts, "secret"))
        json_object_set_new(opts, "secret", json_string("********"));
    json_object_set_new(o, "id", json_integer(legacy(req, "attach", a)));
    json_object_set(o, "device_file", json_object_get(a, "device_file"));
    json_object_set(o, "refs", json_object_get(a, "refs"));
    return o;
}

static json_t *v1_mount(imgd_request *req, const json_t *m)
{
    const char *kind = json_string_value(json_object_get(m, "kind"));
    const json_t *sub = json_object_get(m, kind ? kind : "");
    json_t *o =
        json_pack("{s:I, s:O, s:O}", "id", (json_int_t)legacy(req, "mount", m), "mountpoint",
                  json_object_get(m, "mountpoint"), "refs", json_object_get(m, "refs"));
    if (o && kind && !strcmp(kind, "attach")) {
        const json_t *att = json_object_get(sub, "attach");
        json_object_set_new(o, "rbd_id", json_integer(legacy(req, "attach", att)));
        json_object_set_new(o, "rbd", v1_attach(req, att));
        json_object_set(o, "fs_type", json_object_get(sub, "fs_type"));
        json_object_set(o, "mount_options", json_object_get(sub, "mount_options"));
    } else if (o && kind && !strcmp(kind, "overlay")) {
        json_t *lower = json_array();
        size_t i;
        const json_t *l;
        json_array_foreach (json_object_get(sub, "lower"), i, l)
            json_array_append_new(lower, json_integer(legacy(req, "mount", l)));
        json_object_set_new(o, "lower", lower);
        json_object_set(o, "upperdir", json_object_get(sub, "upperdir"));
        json_object_set(o, "workdir", json_object_get(sub, "workdir"));
    } else if (o) {
        json_object_set_new(o, "kind", json_string(kind ? kind : ""));
    }
    return o;
}

/* v0.1's mount kinds: "rbd" is a filesystem on an attachment. */
static const char *v1_kind(const json_t *m)
{
    const char *kind = json_string_value(json_object_get(m, "kind"));
    return kind && !strcmp(kind, "attach") ? "rbd" : kind ? kind : "";
}

static json_t *v1_mount_generic(imgd_request *req, const json_t *m)
{
    json_t *inner = v1_mount(req, m);
    return json_pack("{s:O, s:s, s:o}", "mount_id", json_object_get(inner, "id"), "kind",
                     v1_kind(m), v1_kind(m), inner);
}

static json_t *v1_container(const imgd_api_ctx *ctx, const json_t *c)
{
    json_t *o = json_deep_copy(c);
    const json_t *m = json_object_get(c, "mount");
    const char *kind = json_string_value(json_object_get(m, "kind"));
    json_object_set_new(o, "id", json_integer(legacy_of(ctx, "container", c)));
    json_object_set_new(o, "mount",
                        json_pack("{s:I, s:s}", "id", (json_int_t)legacy_of(ctx, "mount", m),
                                  "kind",
                                  kind && !strcmp(kind, "attach") ? "rbd"
                                  : kind                          ? kind
                                                                  : ""));
    return o;
}

/* ---- listing and lookups through the v0.2 core calls ---- */

static int list_of(imgd_request *req, imgd_mobj_type type, const char *kind,
                   json_t *(*conv)(imgd_request *, const json_t *), json_t **out, imgd_error **err)
{
    json_auto_t *all = NULL;
    int r = imgd_mounts_list(req->ctx->mounts, type, 0, kind, &all, err);
    if (r < 0)
        return r;
    json_t *arr = json_array();
    size_t i;
    json_t *o;
    json_array_foreach (all, i, o)
        json_array_append_new(arr, conv(req, o));
    *out = arr;
    return 0;
}

static int get_one(imgd_request *req, imgd_mobj_type type, const char *kind,
                   json_t *(*conv)(imgd_request *, const json_t *), json_t **out, imgd_error **err)
{
    int64_t core = 0;
    json_auto_t *found = NULL;
    const char *tname = type == IMGD_MOBJ_ATTACH ? "attach" : "mount";
    int r = param_id(req, tname, &core, err);
    if (r == 0)
        r = imgd_mounts_list(req->ctx->mounts, type, core, kind, &found, err);
    const char *got = json_string_value(json_object_get(json_array_get(found, 0), "kind"));
    if (r == 0 && (json_array_size(found) == 0 || (kind && (!got || strcmp(got, kind) != 0))))
        r = imgd_error_set(err, ENOENT, "%s %s not found", tname, imgd_req_param(req, "id"));
    if (r == 0)
        *out = conv(req, json_array_get(found, 0));
    return r;
}

static int delete_one(imgd_request *req, imgd_response *resp, imgd_mobj_type type, const char *kind,
                      json_t *(*conv)(imgd_request *, const json_t *), imgd_error **err)
{
    json_t *probe = NULL, *gone = NULL;
    int64_t core = 0;
    const char *tname = type == IMGD_MOBJ_ATTACH ? "attach" : "mount";
    int r = get_one(req, type, kind, conv, &probe, err); /* the kind must match */
    json_decref(probe);
    if (r == 0)
        r = param_id(req, tname, &core, err);
    if (r == 0)
        r = imgd_mounts_delete(req->ctx->mounts, type, core, false, &gone, err);
    json_t *body = r == 0 ? conv(req, gone) : NULL;
    json_decref(gone);
    return r < 0 ? r : imgd_resp_json_or_fail(resp, 200, body, err);
}

static int create_one(imgd_request *req, imgd_response *resp, imgd_mobj_type type, json_t *spec,
                      json_t *(*conv)(imgd_request *, const json_t *), imgd_error **err)
{
    json_t *made = NULL;
    int r = spec ? imgd_mounts_create(req->ctx->mounts, type, spec, &made, err)
                 : imgd_error_set(err, ENOMEM, "out of memory");
    json_decref(spec);
    json_t *body = r == 0 ? conv(req, made) : NULL;
    json_decref(made);
    return r < 0 ? r : imgd_resp_json_or_fail(resp, 201, body, err);
}

static int body_object(imgd_request *req, json_t **out, imgd_error **err)
{
    int r = imgd_req_json(req, out, err);
    if (r == 0 && !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return imgd_error_set(err, EBADMSG, "the body must be a JSON object");
    }
    return r;
}

/* ---- /attach/rbd, /attach/loopback ---- */

int legacy_attach_rbd_list(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_t *out = NULL;
    int r = list_of(req, IMGD_MOBJ_ATTACH, "rbd", v1_attach, &out, err);
    return r < 0 ? r : imgd_resp_json_or_fail(resp, 200, out, err);
}

int legacy_attach_loopback_list(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_t *out = NULL;
    int r = list_of(req, IMGD_MOBJ_ATTACH, "loopback", v1_attach, &out, err);
    return r < 0 ? r : imgd_resp_json_or_fail(resp, 200, out, err);
}

int legacy_attach_rbd_create(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_t *in = NULL;
    int r = body_object(req, &in, err);
    if (r < 0)
        return r;
    json_object_del(in, "id");
    return create_one(req, resp, IMGD_MOBJ_ATTACH,
                      json_pack("{s:s, s:o}", "kind", "rbd", "rbd", in), v1_attach, err);
}

int legacy_attach_loopback_create(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_t *in = NULL;
    int r = body_object(req, &in, err);
    if (r < 0)
        return r;
    json_object_del(in, "id");
    if (!json_object_get(in, "base"))
        json_object_set_new(in, "base", json_string("root"));
    return create_one(req, resp, IMGD_MOBJ_ATTACH,
                      json_pack("{s:s, s:o}", "kind", "loopback", "loopback", in), v1_attach, err);
}

int legacy_attach_rbd_get(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_t *out = NULL;
    int r = get_one(req, IMGD_MOBJ_ATTACH, "rbd", v1_attach, &out, err);
    return r < 0 ? r : imgd_resp_json_or_fail(resp, 200, out, err);
}

int legacy_attach_loopback_get(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_t *out = NULL;
    int r = get_one(req, IMGD_MOBJ_ATTACH, "loopback", v1_attach, &out, err);
    return r < 0 ? r : imgd_resp_json_or_fail(resp, 200, out, err);
}

int legacy_attach_rbd_delete(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    return delete_one(req, resp, IMGD_MOBJ_ATTACH, "rbd", v1_attach, err);
}

int legacy_attach_loopback_delete(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    return delete_one(req, resp, IMGD_MOBJ_ATTACH, "loopback", v1_attach, err);
}

/* ---- /mount/rbd, /mount/overlay, /mount ---- */

/* {rbd_id (default 0, the first attachment), fs_type, mount_options} -> a mount of kind
 * attach. The walkthrough's "id" is the mount's own, read-only, id: ignored. */
static int mount_rbd_spec(imgd_request *req, const json_t *in, json_t **out, imgd_error **err)
{
    int64_t att = 0;
    json_int_t rbd_id = json_integer_value(json_object_get(in, "rbd_id"));
    int r = imgd_mounts_core_id(req->ctx->mounts, "attach", rbd_id, &att, err);
    if (r < 0)
        return r;
    json_t *sub = json_pack("{s:{s:I}, s:O?, s:O?}", "attach", "id", (json_int_t)att, "fs_type",
                            json_object_get(in, "fs_type"), "mount_options",
                            json_object_get(in, "mount_options"));
    *out = json_pack("{s:s, s:o}", "kind", "attach", "attach", sub);
    return *out ? 0 : imgd_error_set(err, ENOMEM, "out of memory");
}

/* {lower: [v0.1 mount ids]} -> an overlay. */
static int mount_overlay_spec(imgd_request *req, const json_t *in, json_t **out, imgd_error **err)
{
    const json_t *lower = json_object_get(in, "lower");
    if (!json_is_array(lower))
        return imgd_error_set(err, EBADMSG, "'lower' must be an array of mount ids");
    json_t *ids = json_array();
    size_t i;
    const json_t *l;
    json_array_foreach (lower, i, l) {
        int64_t core = 0;
        int r =
            json_is_integer(l)
                ? imgd_mounts_core_id(req->ctx->mounts, "mount", json_integer_value(l), &core, err)
                : imgd_error_set(err, EBADMSG, "'lower' must be an array of mount ids");
        if (r < 0) {
            json_decref(ids);
            return r;
        }
        json_array_append_new(ids, json_pack("{s:I}", "id", (json_int_t)core));
    }
    *out = json_pack("{s:s, s:{s:o}}", "kind", "overlay", "overlay", "lower", ids);
    return *out ? 0 : imgd_error_set(err, ENOMEM, "out of memory");
}

int legacy_mount_rbd_list(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_t *out = NULL;
    int r = list_of(req, IMGD_MOBJ_MOUNT, "attach", v1_mount, &out, err);
    return r < 0 ? r : imgd_resp_json_or_fail(resp, 200, out, err);
}

int legacy_mount_overlay_list(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_t *out = NULL;
    int r = list_of(req, IMGD_MOBJ_MOUNT, "overlay", v1_mount, &out, err);
    return r < 0 ? r : imgd_resp_json_or_fail(resp, 200, out, err);
}

int legacy_mount_list(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_t *out = NULL;
    int r = list_of(req, IMGD_MOBJ_MOUNT, NULL, v1_mount_generic, &out, err);
    return r < 0 ? r : imgd_resp_json_or_fail(resp, 200, out, err);
}

int legacy_mount_rbd_create(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_auto_t *in = NULL;
    json_t *spec = NULL;
    int r = body_object(req, &in, err);
    if (r == 0)
        r = mount_rbd_spec(req, in, &spec, err);
    return r < 0 ? r : create_one(req, resp, IMGD_MOBJ_MOUNT, spec, v1_mount, err);
}

int legacy_mount_overlay_create(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_auto_t *in = NULL;
    json_t *spec = NULL;
    int r = body_object(req, &in, err);
    if (r == 0)
        r = mount_overlay_spec(req, in, &spec, err);
    return r < 0 ? r : create_one(req, resp, IMGD_MOBJ_MOUNT, spec, v1_mount, err);
}

/* POST /mount: {kind: rbd|overlay, rbd: {...}, overlay: {...}} */
int legacy_mount_create(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_auto_t *in = NULL;
    json_t *spec = NULL;
    int r = body_object(req, &in, err);
    const char *kind = json_string_value(json_object_get(in, "kind"));
    if (r == 0 && (!kind || (strcmp(kind, "rbd") != 0 && strcmp(kind, "overlay") != 0)))
        r = imgd_error_set(err, EBADMSG, "'kind' must be 'rbd' or 'overlay'");
    const json_t *sub = r == 0 ? json_object_get(in, kind) : NULL;
    if (r == 0 && !json_is_object(sub))
        r = imgd_error_set(err, EINVAL, "a mount of kind '%s' needs a '%s' object", kind, kind);
    if (r == 0)
        r = kind && !strcmp(kind, "rbd") ? mount_rbd_spec(req, sub, &spec, err)
                                         : mount_overlay_spec(req, sub, &spec, err);
    return r < 0 ? r : create_one(req, resp, IMGD_MOBJ_MOUNT, spec, v1_mount_generic, err);
}

int legacy_mount_rbd_get(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_t *out = NULL;
    int r = get_one(req, IMGD_MOBJ_MOUNT, "attach", v1_mount, &out, err);
    return r < 0 ? r : imgd_resp_json_or_fail(resp, 200, out, err);
}

int legacy_mount_overlay_get(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_t *out = NULL;
    int r = get_one(req, IMGD_MOBJ_MOUNT, "overlay", v1_mount, &out, err);
    return r < 0 ? r : imgd_resp_json_or_fail(resp, 200, out, err);
}

int legacy_mount_rbd_delete(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    return delete_one(req, resp, IMGD_MOBJ_MOUNT, "attach", v1_mount, err);
}

int legacy_mount_overlay_delete(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    return delete_one(req, resp, IMGD_MOBJ_MOUNT, "overlay", v1_mount, err);
}

/* DELETE /mount with a body {mount_id, kind}. */
int legacy_mount_delete(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_auto_t *in = NULL;
    int64_t core = 0;
    json_t *gone = NULL;
    int r = body_object(req, &in, err);
    if (r == 0 && !json_is_integer(json_object_get(in, "mount_id")))
        r = imgd_error_set(err, EBADMSG, "'mount_id' is required");
    if (r == 0)
        r = imgd_mounts_core_id(req->ctx->mounts, "mount",
                                json_integer_value(json_object_get(in, "mount_id")), &core, err);
    if (r == 0)
        r = imgd_mounts_delete(req->ctx->mounts, IMGD_MOBJ_MOUNT, core, false, &gone, err);
    json_t *body = r == 0 ? v1_mount_generic(req, gone) : NULL;
    json_decref(gone);
    return r < 0 ? r : imgd_resp_json_or_fail(resp, 200, body, err);
}

/* ---- /container ---- */

int legacy_container_list(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_auto_t *all = NULL;
    int r = imageapi_ctr_list(req, &all, err);
    if (r < 0)
        return r;
    json_t *arr = json_array();
    size_t i;
    json_t *c;
    json_array_foreach (all, i, c)
        json_array_append_new(arr, v1_container(req->ctx, c));
    return imgd_resp_json_or_fail(resp, 200, arr, err);
}

int legacy_container_create(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_auto_t *in = NULL;
    json_t *made = NULL;
    int64_t core = 0;
    int r = body_object(req, &in, err);
    const json_t *mount = json_object_get(in, "mount");
    if (r == 0 && !json_is_integer(json_object_get(mount, "id")))
        r = imgd_error_set(err, EBADMSG, "'mount' must be {\"id\": N, \"kind\": K}");
    if (r == 0)
        r = imgd_mounts_core_id(req->ctx->mounts, "mount",
                                json_integer_value(json_object_get(mount, "id")), &core, err);
    if (r == 0) {
        json_object_set_new(in, "mount", json_pack("{s:I}", "id", (json_int_t)core));
        json_object_del(in, "id");
        r = imageapi_ctr_create(req, in, &made, err);
    }
    json_t *body = r == 0 ? v1_container(req->ctx, made) : NULL;
    json_decref(made);
    return r < 0 ? r : imgd_resp_json_or_fail(resp, 201, body, err);
}

/* The container of the path: {id} (a v0.1 id) or {name}. */
static int path_target(imgd_request *req, int64_t *core, const char **name, imgd_error **err)
{
    *name = imgd_req_param(req, "name");
    *core = 0;
    if (*name)
        return 0;
    return param_id(req, "container", core, err);
}

int legacy_container_get(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    int64_t core = 0;
    const char *name = NULL;
    json_t *cur = NULL;
    int r = path_target(req, &core, &name, err);
    if (r == 0)
        r = imageapi_ctr_get(req, core, name, &cur, err);
    json_t *body = r == 0 ? v1_container(req->ctx, cur) : NULL;
    json_decref(cur);
    return r < 0 ? r : imgd_resp_json_or_fail(resp, 200, body, err);
}

/* GET /container/{id}/{state}: v0.1 changed state with a GET. */
int legacy_container_state(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    int64_t core = 0;
    const char *name = NULL;
    imgd_container c = {0}; /* a 404 now, not from the job */
    int r = path_target(req, &core, &name, err);
    if (r == 0)
        r = imageapi_ctr_find(req->ctx, core, name, &c, err);
    imgd_container_dispose(&c);
    return r < 0
               ? r
               : imageapi_state_job_answer(resp, req->ctx, core, name, imgd_req_param(req, "state"),
                                           false, v1_container, err);
}

int legacy_container_delete(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    int64_t core = 0;
    const char *name = NULL;
    imgd_container c = {0};
    int r = path_target(req, &core, &name, err);
    if (r == 0)
        r = imageapi_ctr_find(req->ctx, core, name, &c, err);
    imgd_container_dispose(&c);
    /* v0.1 removed a running container on DELETE */
    return r < 0 ? r
                 : imageapi_state_job_answer(resp, req->ctx, core, name, NULL, true, v1_container,
                                             err);
}
