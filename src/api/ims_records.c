/* SPDX-License-Identifier: MIT */
/* IMS face: public keys, recipes and images (/v2, /v3 and /apis/ims/...), and the deleted
 * collections of /v3/deleted. v2 deletes are hard (for recipes and images `cascade`, default
 * true, also removes the objects); v3 deletes are soft: the record moves to the deleted collection
 * and its objects under deleted/ in their bucket, and an image gets a deleted_manifest.json
 * listing where everything went, which restore reads to move it all back. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ims-private.h"
#include "ims.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/timeutil.h"

#define DELETED_PREFIX   "deleted/"
#define ROOTFS_TYPE      "application/vnd.cray.image.rootfs.squashfs"
#define MANIFEST_TYPE    "application/vnd.cray.image.manifest"
#define DELETED_MANIFEST "deleted_manifest.json"

static const char DETAIL_TAIL[] = "Please determine the specific information that is missing or "
                                  "invalid and then re-run the request with valid information.";

/* ---- schemas ---- */

static const char *const link_types[] = {"s3", NULL};
static const char *const arches[] = {"aarch64", "x86_64", NULL};
static const char *const recipe_types[] = {"kiwi-ng", "packer", NULL};
static const char *const distros[] = {"sles12", "sles15", "centos7", NULL};
static const char *const undelete_ops[] = {"undelete", NULL};
static const char *const metadata_ops[] = {"set", "remove", NULL};

static const ims_field link_fields[] = {
    {.name = "path",
     .type = IMS_STR,
     .required = true,
     .blank_msg = "name field must not be blank"},
    {.name = "etag", .type = IMS_STR},
    {.name = "type",
     .type = IMS_STR,
     .required = true,
     .choices = link_types,
     .choice_msg = "Type must be one of: %s."},
};
const ims_schema ims_artifact_link_schema = IMS_SCHEMA(link_fields);

static const ims_field public_key_fields[] = {
    {.name = "name",
     .type = IMS_STR,
     .required = true,
     .blank_msg = "name field must not be blank"},
    {.name = "public_key",
     .type = IMS_STR,
     .required = true,
     .blank_msg = "public_key field must not be blank"},
};
static const ims_schema public_key_schema = IMS_SCHEMA(public_key_fields);

static const ims_field key_value_fields[] = {
    {.name = "key", .type = IMS_STR, .required = true},
    {.name = "value", .type = IMS_STR, .required = true},
};
static const ims_schema key_value_schema = IMS_SCHEMA(key_value_fields);

#define LINK_FIELD(null)                                                                           \
    {                                                                                              \
        .name = "link", .type = IMS_NESTED, .nullable = (null),                                    \
        .nested = &ims_artifact_link_schema                                                        \
    }
#define ARCH_FIELD                                                                                 \
    {                                                                                              \
        .name = "arch", .type = IMS_STR, .choices = arches                                         \
    }
#define TEMPLATE_FIELD                                                                             \
    {                                                                                              \
        .name = "template_dictionary", .type = IMS_LIST, .nullable = true,                         \
        .nested = &key_value_schema                                                                \
    }

static const ims_field recipe_fields[] = {
    {.name = "name",
     .type = IMS_STR,
     .required = true,
     .blank_msg = "name field must not be blank"},
    LINK_FIELD(true),
    {.name = "recipe_type",
     .type = IMS_STR,
     .required = true,
     .choices = recipe_types,
     .choice_msg = "Recipe type must be one of: %s."},
    {.name = "linux_distribution",
     .type = IMS_STR,
     .required = true,
     .choices = distros,
     .choice_msg = "Recipe type must be one of: %s."},
    TEMPLATE_FIELD,
    {.name = "require_dkms", .type = IMS_BOOL},
    ARCH_FIELD,
};
static const ims_schema recipe_schema = IMS_SCHEMA(recipe_fields);

static const ims_field recipe_patch_fields[] = {
    LINK_FIELD(false),
    ARCH_FIELD,
    {.name = "require_dkms", .type = IMS_BOOL},
    TEMPLATE_FIELD,
};
static const ims_schema recipe_patch_schema = IMS_SCHEMA(recipe_patch_fields);

static const ims_field image_fields[] = {
    {.name = "name",
     .type = IMS_STR,
     .required = true,
     .blank_msg = "name field must not be blank"},
    LINK_FIELD(true),
    ARCH_FIELD,
    {.name = "metadata", .type = IMS_ANY, .nullable = true},
};
static const ims_schema image_schema = IMS_SCHEMA(image_fields);

static const ims_field image_patch_fields[] = {
    LINK_FIELD(false),
    ARCH_FIELD,
    {.name = "metadata", .type = IMS_ANY},
};
static const ims_schema image_patch_schema = IMS_SCHEMA(image_patch_fields);

static const ims_field metadata_op_fields[] = {
    {.name = "operation", .type = IMS_STR, .required = true, .choices = metadata_ops},
    {.name = "key", .type = IMS_STR, .required = true},
    {.name = "value", .type = IMS_STR},
};
static const ims_schema metadata_op_schema = IMS_SCHEMA(metadata_op_fields);

static const ims_field undelete_fields[] = {
    {.name = "operation",
     .type = IMS_STR,
     .required = true,
     .choices = undelete_ops,
     .choice_msg = "Recipe type must be one of: %s."},
};
static const ims_schema undelete_schema = IMS_SCHEMA(undelete_fields);

/* ---- shared answers ---- */

int ims_send_owned(imgd_response *resp, unsigned status, char *text)
{
    size_t n = strlen(text);
    char *t = realloc(text, n + 2);
    if (!t) {
        free(text);
        return -ENOMEM;
    }
    t[n] = '\n';
    t[n + 1] = '\0';
    imgd_resp_take(resp, status, "application/json", t, n + 1);
    return 0;
}

int ims_not_found(imgd_response *resp)
{
    return ims_problem(resp, 404, NULL, IMS_DETAIL_NOT_FOUND, NULL);
}

int ims_store_failed(imgd_response *resp, int r, imgd_error **err, imgd_error *own)
{
    if (r == -ENOENT) {
        imgd_error_free(own);
        return ims_not_found(resp);
    }
    if (r == -ESTALE) {
        imgd_error_free(own);
        return imgd_error_set(err, EAGAIN, "the record kept changing under concurrent writes");
    }
    if (err && !*err)
        *err = own;
    else
        imgd_error_free(own);
    return r;
}

int ims_send_record(imgd_response *resp, unsigned status, const json_t *body)
{
    char *text = imgd_ims_encode(body);
    return text ? ims_send_owned(resp, status, text) : -ENOMEM;
}

static int invalid(imgd_response *resp, json_t *errors)
{
    return ims_problem(resp, 422, NULL, IMS_DETAIL_INVALID, errors);
}

/* ---- links ---- */

json_t *ims_link_normal(const json_t *link)
{
    const char *etag = json_string_value(json_object_get(link, "etag"));
    return json_pack(
        "{s:s, s:s, s:s}", "path", json_string_value(json_object_get(link, "path")) ?: "", "etag",
        etag ? etag : "", "type", json_string_value(json_object_get(link, "type")) ?: "s3");
}

void ims_link_repr(char *out, size_t cap, const json_t *link)
{
    size_t used = 0;
    const char *key;
    json_t *v;
    used += (size_t)snprintf(out, cap, "{");
    bool first = true;
    json_object_foreach ((json_t *)link, key, v) {
        if (used >= cap)
            break;
        const char *s = json_string_value(v);
        used += (size_t)snprintf(out + used, cap - used, "%s'%s': '%s'", first ? "" : ", ", key,
                                 s ? s : "");
        first = false;
    }
    if (used < cap)
        snprintf(out + used, cap - used, "}");
}

static bool link_parts(const json_t *link, char **bucket, char **key)
{
    const char *path = json_string_value(json_object_get(link, "path"));
    return path && imgd_artifacts_parse_link(path, bucket, key, NULL) == 0;
}

int ims_validate_artifact(imgd_request *req, imgd_response *resp, const json_t *link,
                          imgd_artifact_info *info)
{
    _cleanup_free_ char *bucket = NULL;
    _cleanup_free_ char *key = NULL;
    imgd_error *e = NULL;
    int r = link_parts(link, &bucket, &key)
                ? imgd_artifacts_head(req->ctx->artifacts, bucket, key, info, &e)
                : -EINVAL;
    if (r == 0)
        return 0;
    if (e)
        log_info("IMS: artifact %s cannot be validated: %s",
                 json_string_value(json_object_get(link, "path")), e->message);
    imgd_error_free(e);
    char repr[1200], detail[1600];
    ims_link_repr(repr, sizeof repr, link);
    snprintf(detail, sizeof detail, "The s3 artifact %s cannot be validated. %s", repr,
             DETAIL_TAIL);
    r = ims_problem(resp, 422, NULL, detail, NULL);
    return r < 0 ? r : 1;
}

int ims_read_manifest(imgd_request *req, imgd_response *resp, const json_t *link, json_t **manifest)
{
    imgd_artifact_info info;
    int r = ims_validate_artifact(req, resp, link, &info);
    if (r != 0)
        return r;
    char repr[1200], detail[1800];
    ims_link_repr(repr, sizeof repr, link);
    if (info.size >= IMS_MANIFEST_MAX) {
        snprintf(detail, sizeof detail,
                 "Image manifest file is larger than the expected maximum size for the s3 "
                 "artifact %s. %s",
                 repr, DETAIL_TAIL);
        r = ims_problem(resp, 400, NULL, detail, NULL);
        return r < 0 ? r : 1;
    }
    _cleanup_free_ char *bucket = NULL;
    _cleanup_free_ char *key = NULL;
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    imgd_error *e = NULL;
    (void)link_parts(link, &bucket, &key);
    r = imgd_artifacts_read(req->ctx->artifacts, bucket, key, IMS_MANIFEST_MAX - 1, &data, &len,
                            &info, &e);
    imgd_error_free(e);
    if (r < 0) {
        snprintf(detail, sizeof detail, "Unable to read manifest file for the s3 artifact %s. %s",
                 repr, DETAIL_TAIL);
        r = ims_problem(resp, r == -EFBIG ? 400 : 422, NULL, detail, NULL);
        return r < 0 ? r : 1;
    }
    json_t *m = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
    if (!m) {
        snprintf(detail, sizeof detail,
                 "Manifest file is not valid Json for the s3 artifact %s. %s", repr, DETAIL_TAIL);
        r = ims_problem(resp, 422, NULL, detail, NULL);
        return r < 0 ? r : 1;
    }
    *manifest = m;
    return 0;
}

static int malformed(imgd_response *resp, const char *what)
{
    char detail[300];
    snprintf(detail, sizeof detail, "The image's manifest.json is malformed. %s", what);
    int r = ims_problem(resp, 422, NULL, detail, NULL);
    return r < 0 ? r : 1;
}

int ims_validate_manifest(imgd_request *req, imgd_response *resp, const json_t *link)
{
    json_t *m = NULL;
    int r = ims_read_manifest(req, resp, link, &m);
    if (r != 0)
        return r;
    json_t *artifacts = json_object_get(m, "artifacts");
    const char *version = json_string_value(json_object_get(m, "version"));
    if (!json_is_object(m))
        r = malformed(resp, "It is not a json dictionary.");
    else if (!version || strcmp(version, "1.0") != 0)
        r = malformed(resp, "Its version is missing or not supported (supported: 1.0).");
    else if (!artifacts)
        r = malformed(resp, "It does not contain an artifacts map.");
    else if (!json_is_array(artifacts))
        r = malformed(resp, "The artifacts property is not a json list.");
    size_t i, rootfs = 0;
    json_t *a;
    json_array_foreach (r == 0 ? artifacts : NULL, i, a) {
        json_t *l = json_object_get(a, "link");
        const char *lt = json_string_value(json_object_get(l, "type"));
        if (!json_is_object(a))
            r = malformed(resp, "A listed artifact is not a json dictionary.");
        else if (!l)
            r = malformed(resp, "An artifact does not have a link value");
        else if (!json_object_get(l, "type"))
            r = malformed(resp, "An artifact does not have a link type field");
        else if (!lt || strcmp(lt, "s3") != 0) {
            char what[200];
            snprintf(what, sizeof what, "An artifact link type '%.60s' not supported",
                     lt ? lt : "?");
            r = malformed(resp, what);
        } else if (!json_object_get(l, "path"))
            r = malformed(resp, "An artifact does not have a link path field");
        else {
            imgd_artifact_info info;
            r = ims_validate_artifact(req, resp, l, &info);
        }
        if (r != 0)
            break;
    }
    json_array_foreach (r == 0 ? artifacts : NULL, i, a) {
        const char *t = json_string_value(json_object_get(a, "type"));
        if (!t) {
            r = malformed(resp, "An artifact does not have a type field");
            break;
        }
        rootfs += !strncmp(t, ROOTFS_TYPE, strlen(ROOTFS_TYPE));
    }
    if (r == 0 && rootfs != 1) {
        char detail[1600];
        snprintf(detail, sizeof detail,
                 "Error reading the manifest.json for IMS %s. The manifest %s. Determine the "
                 "specific information that is missing or invalid and then re-run the request "
                 "with valid information.",
                 json_string_value(json_object_get(link, "path")),
                 rootfs ? "includes multiple rootfs artifacts"
                        : "does not include any rootfs artifacts");
        r = ims_problem(resp, 400, NULL, detail, NULL);
        r = r < 0 ? r : 1;
    }
    json_decref(m);
    return r;
}

/* 422 for a link path another live record holds. */
static int link_taken(imgd_response *resp, imgd_ims_kind kind, const char *path, const char *other)
{
    char detail[1600];
    snprintf(detail, sizeof detail,
             "The link path %s matches the link path for the IMS %s record %s. The link value "
             "must be unique and cannot be duplicated. Determine the specific information that "
             "is missing or invalid and then re-run the request with valid information.",
             path, imgd_ims_kind_name(kind), other);
    int r = ims_problem(resp, 422, NULL, detail, NULL);
    return r < 0 ? r : 1;
}

/* A new link for a recipe or image: held by no other live record, and there in the store. */
static int check_new_link(imgd_request *req, imgd_response *resp, imgd_ims_kind kind,
                          const char *self, const json_t *link)
{
    const char *path = json_string_value(json_object_get(link, "path"));
    _cleanup_free_ char *holder = NULL;
    int r = path ? imgd_ims_link_holder(req->ctx->db, kind, path, self, &holder, NULL) : 0;
    if (r == 0 && holder)
        r = link_taken(resp, kind, path, holder);
    if (r != 0)
        return r;
    if (kind == IMGD_IMS_IMAGE)
        return ims_validate_manifest(req, resp, link);
    imgd_artifact_info info;
    return ims_validate_artifact(req, resp, link, &info);
}

/* ---- which kind, which version ---- */

static bool is_v3(const imgd_request *req)
{
    return !strncmp(req->path, "/v3/", 4);
}

static imgd_ims_kind path_kind(const imgd_request *req)
{
    const char *p = strchr(req->path + 1, '/');
    if (p && !strncmp(p, "/deleted/", 9))
        p += 8;
    if (p && !strncmp(p, "/public-keys", 12))
        return IMGD_IMS_PUBLIC_KEY;
    if (p && !strncmp(p, "/recipes", 8))
        return IMGD_IMS_RECIPE;
    return IMGD_IMS_IMAGE;
}

/* ---- GET ---- */

int ims_send_collection(imgd_request *req, imgd_response *resp, imgd_ims_kind kind, bool deleted,
                        imgd_error **err)
{
    char *text = NULL;
    size_t len = 0;
    int r = imgd_ims_list_text(req->ctx->db, kind, deleted, &text, &len, err);
    if (r == 0)
        imgd_resp_take(resp, 200, "application/json", text, len);
    return r;
}

int ims_send_one(imgd_request *req, imgd_response *resp, imgd_ims_kind kind, bool deleted,
                 const char *id, imgd_error **err)
{
    char *text = NULL;
    imgd_error *own = NULL;
    int r = imgd_ims_get_text(req->ctx->db, kind, deleted, id, &text, &own);
    return r < 0 ? ims_store_failed(resp, r, err, own) : ims_send_owned(resp, 200, text);
}

int ims_records_list(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    return ims_send_collection(req, resp, path_kind(req), false, err);
}

int ims_records_get(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    return ims_send_one(req, resp, path_kind(req), false, imgd_req_param(req, "id"), err);
}

int ims_deleted_list(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    return ims_send_collection(req, resp, path_kind(req), true, err);
}

int ims_deleted_get(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    return ims_send_one(req, resp, path_kind(req), true, imgd_req_param(req, "id"), err);
}

/* ---- POST ---- */

/* image metadata on POST: {key, value} becomes {key: value}; another object is kept when every
 * value is a string. 0 with *out, or errors filled. */
static json_t *image_metadata(const json_t *m, json_t *errors)
{
    if (!m || json_is_null(m))
        return json_object();
    if (!json_is_object(m)) {
        json_t *e = json_object();
        ims_error_add(e, "_schema", "Invalid input type.");
        json_object_set_new(errors, "metadata", e);
        return NULL;
    }
    json_t *key = json_object_get(m, "key");
    if (key) {
        json_t *value = json_object_get(m, "value");
        json_t *e = json_object();
        if (!json_is_string(key))
            ims_error_add(e, "key", "Not a valid string.");
        else if (!json_string_length(key))
            ims_error_add(e, "key", "name field must not be blank");
        if (value && !json_is_string(value))
            ims_error_add(e, "value", "Not a valid string.");
        if (json_object_size(e)) {
            json_object_set_new(errors, "metadata", e);
            return NULL;
        }
        json_decref(e);
        return json_pack("{s:s}", json_string_value(key), value ? json_string_value(value) : "");
    }
    const char *k;
    json_t *v;
    json_t *e = json_object();
    json_object_foreach ((json_t *)m, k, v) {
        if (!json_is_string(v))
            ims_error_add(e, k, "Not a valid string.");
    }
    if (json_object_size(e)) {
        json_object_set_new(errors, "metadata", e);
        return NULL;
    }
    json_decref(e);
    return json_deep_copy(m);
}

static json_t *build_record(imgd_ims_kind kind, const json_t *in, json_t *errors)
{
    char id[37], created[40];
    ims_uuid4(id);
    (void)ims_now(created);
    json_t *link = json_object_get(in, "link");
    json_t *rec = json_pack("{s:s, s:s, s:s}", "id", id, "created", created, "name",
                            json_string_value(json_object_get(in, "name")));
    if (!rec)
        return NULL;
    json_t *arch = json_object_get(in, "arch");
    switch (kind) {
    case IMGD_IMS_PUBLIC_KEY:
        json_object_set(rec, "public_key", json_object_get(in, "public_key"));
        break;
    case IMGD_IMS_RECIPE: {
        json_t *td = json_object_get(in, "template_dictionary");
        json_t *dkms = json_object_get(in, "require_dkms");
        json_object_set(rec, "recipe_type", json_object_get(in, "recipe_type"));
        json_object_set(rec, "linux_distribution", json_object_get(in, "linux_distribution"));
        json_object_set_new(rec, "link",
                            json_is_object(link) ? ims_link_normal(link) : json_null());
        json_object_set_new(rec, "template_dictionary", td ? json_incref(td) : json_array());
        json_object_set_new(rec, "require_dkms", dkms ? json_incref(dkms) : json_true());
        json_object_set_new(rec, "arch", arch ? json_incref(arch) : json_string("x86_64"));
        break;
    }
    default: {
        json_t *md = image_metadata(json_object_get(in, "metadata"), errors);
        json_object_set_new(rec, "link",
                            json_is_object(link) ? ims_link_normal(link) : json_null());
        json_object_set_new(rec, "arch", arch ? json_incref(arch) : json_string("x86_64"));
        json_object_set_new(rec, "metadata", md ? md : json_object());
        break;
    }
    }
    return rec;
}

static const ims_schema *post_schema(imgd_ims_kind kind)
{
    return kind == IMGD_IMS_PUBLIC_KEY ? &public_key_schema
           : kind == IMGD_IMS_RECIPE   ? &recipe_schema
                                       : &image_schema;
}

int ims_records_post(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    imgd_ims_kind kind = path_kind(req);
    json_t *in = NULL;
    int r = ims_read_body(req, resp, &in);
    if (r != 0)
        return r < 0 ? r : 0;
    json_t *errors = json_object();
    json_t *loaded = ims_schema_load(post_schema(kind), in, errors);
    json_decref(in);
    json_t *rec = loaded && !json_object_size(errors) ? build_record(kind, loaded, errors) : NULL;
    json_decref(loaded);
    if (json_object_size(errors) || !rec) {
        json_decref(rec);
        return json_object_size(errors) ? invalid(resp, errors) : (json_decref(errors), -ENOMEM);
    }
    json_decref(errors);
    json_t *link = json_object_get(rec, "link");
    if (json_is_object(link)) {
        r = check_new_link(req, resp, kind, NULL, link);
        if (r != 0) {
            json_decref(rec);
            return r < 0 ? r : 0;
        }
    }
    _cleanup_free_ char *conflict = NULL;
    imgd_error *own = NULL;
    const char *id = json_string_value(json_object_get(rec, "id"));
    r = imgd_ims_insert(req->ctx->db, kind, id, imgd_now_realtime_usec(), false, rec, false,
                        &conflict, &own);
    if (r == -EEXIST && conflict) {
        imgd_error_free(own);
        r = link_taken(resp, kind, json_string_value(json_object_get(link, "path")), conflict);
        json_decref(rec);
        return r < 0 ? r : 0;
    }
    if (r < 0) {
        json_decref(rec);
        return ims_store_failed(resp, r, err, own);
    }
    r = ims_send_record(resp, 201, rec);
    json_decref(rec);
    return r;
}

/* ---- PATCH ---- */

/* Apply image metadata operations ({operation, key, value} or a list of them) to md. */
static bool apply_metadata(json_t *md, const json_t *ops, json_t *errors)
{
    json_t *list = json_is_array(ops) ? json_incref((json_t *)ops) : json_pack("[O]", ops);
    size_t i;
    json_t *op;
    json_t *errs = json_object();
    json_array_foreach (list, i, op) {
        json_t *e = json_object();
        json_t *loaded = ims_schema_load(&metadata_op_schema, op, e);
        if (json_object_size(e)) {
            if (json_is_array(ops)) {
                char idx[24];
                snprintf(idx, sizeof idx, "%zu", i);
                json_object_set(errs, idx, e);
            } else {
                json_object_update(errs, e);
            }
        } else {
            const char *o = json_string_value(json_object_get(loaded, "operation"));
            const char *k = json_string_value(json_object_get(loaded, "key"));
            const char *v = json_string_value(json_object_get(loaded, "value"));
            if (o && k && !strcmp(o, "set"))
                json_object_set_new(md, k, json_string(v ? v : ""));
            else if (k)
                json_object_del(md, k);
        }
        json_decref(loaded);
        json_decref(e);
    }
    json_decref(list);
    if (json_object_size(errs)) {
        json_object_set_new(errors, "metadata", errs);
        return false;
    }
    json_decref(errs);
    return true;
}

int ims_records_patch(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    imgd_ims_kind kind = path_kind(req);
    const char *id = imgd_req_param(req, "id");
    imgd_ims_record rec = {0};
    imgd_error *own = NULL;
    int r = imgd_ims_get(req->ctx->db, kind, false, id, &rec, &own);
    if (r < 0)
        return ims_store_failed(resp, r, err, own);
    json_t *in = NULL;
    r = ims_read_body(req, resp, &in);
    if (r != 0) {
        imgd_ims_record_dispose(&rec);
        return r < 0 ? r : 0;
    }
    json_t *errors = json_object();
    json_t *patch = ims_schema_load(
        kind == IMGD_IMS_RECIPE ? &recipe_patch_schema : &image_patch_schema, in, errors);
    json_decref(in);
    if (json_object_size(errors) || !patch) {
        json_decref(patch);
        imgd_ims_record_dispose(&rec);
        return invalid(resp, errors);
    }
    for (int tries = 0;; tries++) {
        json_t *body = json_deep_copy(rec.body);
        json_t *link = json_object_get(patch, "link");
        r = 0;
        if (link) {
            json_t *cur = json_object_get(body, "link");
            const char *cp = json_string_value(json_object_get(cur, "path"));
            const char *np = json_string_value(json_object_get(link, "path"));
            if (json_is_object(cur) && cp && np && strcmp(cp, np) != 0) {
                r = ims_problem(resp, 409, NULL, IMS_DETAIL_CONFLICT, NULL);
                r = r < 0 ? r : 1;
            } else if (!json_is_object(cur)) {
                r = check_new_link(req, resp, kind, id, link);
                if (r == 0)
                    json_object_set_new(body, "link", ims_link_normal(link));
            }
        }
        const char *k;
        json_t *v;
        json_object_foreach (r == 0 ? patch : NULL, k, v) {
            if (!strcmp(k, "link"))
                continue;
            if (!strcmp(k, "metadata")) {
                json_t *md = json_object_get(body, "metadata");
                if (!json_is_object(md)) {
                    md = json_object();
                    json_object_set_new(body, "metadata", md);
                }
                if (!apply_metadata(md, v, errors))
                    r = 2;
            } else {
                json_object_set(body, k, v);
            }
        }
        if (r == 2) {
            json_decref(body);
            r = invalid(resp, json_incref(errors));
            break;
        }
        if (r != 0) {
            json_decref(body);
            r = r < 0 ? r : 0;
            break;
        }
        _cleanup_free_ char *conflict = NULL;
        r = imgd_ims_update(req->ctx->db, kind, &rec, false, body, &conflict, &own);
        if (r == 0)
            r = ims_send_record(resp, 200, body);
        else if (r == -EEXIST && conflict) {
            imgd_error_free(own);
            own = NULL;
            r = link_taken(resp, kind, json_string_value(json_object_get(link, "path")), conflict);
            r = r < 0 ? r : 0;
        }
        json_decref(body);
        if (r != -ESTALE || tries >= IMS_CAS_TRIES) {
            if (r < 0)
                r = ims_store_failed(resp, r, err, own);
            break;
        }
        imgd_error_free(own);
        own = NULL;
        imgd_ims_record_dispose(&rec);
        r = imgd_ims_get(req->ctx->db, kind, false, id, &rec, &own);
        if (r < 0) {
            r = ims_store_failed(resp, r, err, own);
            break;
        }
    }
    json_decref(errors);
    json_decref(patch);
    imgd_ims_record_dispose(&rec);
    return r;
}

/* ---- objects of records ---- */

static void obj_delete(imgd_artifacts *a, const char *bucket, const char *key)
{
    imgd_error *e = NULL;
    if (imgd_artifacts_delete(a, bucket, key, &e) < 0 && e->code != ENOENT)
        log_warning("IMS: remove %s/%s: %s", bucket, key, e->message);
    imgd_error_free(e);
}

/* Move bucket/from to bucket/to; false (logged) when it failed. */
static bool obj_move(imgd_artifacts *a, const char *bucket, const char *from, const char *to)
{
    imgd_error *e = NULL;
    int r = imgd_artifacts_move(a, bucket, from, to, &e);
    if (r < 0)
        log_warning("IMS: move %s/%s to %s: %s", bucket, from, to, e->message);
    imgd_error_free(e);
    return r == 0;
}

/* The manifest a link names, or NULL. */
static json_t *read_json(imgd_artifacts *a, const json_t *link)
{
    _cleanup_free_ char *bucket = NULL;
    _cleanup_free_ char *key = NULL;
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    imgd_artifact_info info;
    if (!link_parts(link, &bucket, &key) ||
        imgd_artifacts_read(a, bucket, key, IMS_MANIFEST_MAX, &data, &len, &info, NULL) < 0)
        return NULL;
    return json_loadb(data, len, 0, NULL);
}

/* Remove what a record holds: a recipe's archive; an image's artifacts and manifest (or, for a
 * deleted image, those its deleted manifest lists, and that file). */
static void purge_objects(imgd_artifacts *a, imgd_ims_kind kind, const json_t *body)
{
    json_t *link = json_object_get(body, "link");
    if (kind == IMGD_IMS_PUBLIC_KEY || !json_is_object(link))
        return;
    if (kind == IMGD_IMS_IMAGE) {
        json_t *m = read_json(a, link);
        size_t i;
        json_t *art;
        json_array_foreach (json_object_get(m, "artifacts"), i, art) {
            _cleanup_free_ char *b = NULL;
            _cleanup_free_ char *k = NULL;
            if (link_parts(json_object_get(art, "link"), &b, &k))
                obj_delete(a, b, k);
        }
        json_decref(m);
    }
    _cleanup_free_ char *b = NULL;
    _cleanup_free_ char *k = NULL;
    if (link_parts(link, &b, &k))
        obj_delete(a, b, k);
}

static json_t *moved_link(const char *bucket, const char *key, const char *etag)
{
    char path[1200];
    snprintf(path, sizeof path, "s3://%s/%s", bucket, key);
    return json_pack("{s:s, s:s, s:s}", "path", path, "etag", etag ? etag : "", "type", "s3");
}

/* Soft delete of a record's objects (its record is already in the deleted collection, linked
 * where deleted_link() said): a recipe's archive moves to deleted/<key>; an image's artifacts and
 * manifest move under deleted/, and deleted/<id>/deleted_manifest.json lists where each went.
 * Failures are logged and the rest goes on, as in IMS. */
static void soft_delete_objects(imgd_artifacts *a, imgd_ims_kind kind, const char *id,
                                const json_t *link)
{
    _cleanup_free_ char *bucket = NULL;
    _cleanup_free_ char *key = NULL;
    _cleanup_free_ char *to = NULL;
    if (kind == IMGD_IMS_PUBLIC_KEY || !json_is_object(link) || !link_parts(link, &bucket, &key) ||
        asprintf(&to, DELETED_PREFIX "%s", key) < 0)
        return;
    if (kind == IMGD_IMS_RECIPE) {
        (void)obj_move(a, bucket, key, to);
        return;
    }
    const char *etag = json_string_value(json_object_get(link, "etag"));
    json_t *m = read_json(a, link);
    char now[32];
    time_t t = time(NULL);
    struct tm tm;
    strftime(now, sizeof now, "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
    json_t *arts = json_array();
    size_t i;
    json_t *art;
    json_array_foreach (json_object_get(m, "artifacts"), i, art) {
        json_t *al = json_object_get(art, "link");
        _cleanup_free_ char *ab = NULL;
        _cleanup_free_ char *ak = NULL;
        _cleanup_free_ char *ato = NULL;
        if (!link_parts(al, &ab, &ak) || asprintf(&ato, DELETED_PREFIX "%s", ak) < 0)
            continue;
        if (!obj_move(a, ab, ak, ato))
            continue;
        json_t *md5 = json_object_get(art, "md5");
        json_array_append_new(
            arts, json_pack("{s:o, s:O, s:s}", "link",
                            moved_link(ab, ato, json_string_value(json_object_get(al, "etag"))),
                            "type", json_object_get(art, "type") ?: json_null(), "md5",
                            json_string_value(md5) ?: ""));
    }
    json_decref(m);
    imgd_artifact_info info = {0};
    (void)imgd_artifacts_head(a, bucket, key, &info, NULL);
    if (obj_move(a, bucket, key, to))
        json_array_append_new(arts,
                              json_pack("{s:o, s:s, s:s}", "link", moved_link(bucket, to, etag),
                                        "type", MANIFEST_TYPE, "md5", info.md5));
    json_t *dm = json_pack("{s:s, s:s, s:o}", "version", "1.0", "created", now, "artifacts", arts);
    _cleanup_free_ char *text = dm ? json_dumps(dm, JSON_INDENT(2)) : NULL;
    json_decref(dm);
    _cleanup_free_ char *dkey = NULL;
    if (!text || asprintf(&dkey, DELETED_PREFIX "%s/" DELETED_MANIFEST, id) < 0)
        return;
    imgd_error *e = NULL;
    imgd_artifact_info dinfo;
    if (imgd_artifacts_put(a, bucket, dkey, text, strlen(text), "application/json", &dinfo, &e) <
        0) {
        log_warning("IMS: write %s/%s: %s", bucket, dkey, e->message);
        imgd_error_free(e);
    }
}

/* Strip "deleted/" from a key; NULL when it has no such prefix. */
static const char *undeleted_key(const char *key)
{
    return !strncmp(key, DELETED_PREFIX, strlen(DELETED_PREFIX)) ? key + strlen(DELETED_PREFIX)
                                                                 : NULL;
}

/* Restore of a deleted record's objects (its record is already live again, linked where
 * restored_link() said): each moves back out of deleted/; an image's deleted manifest goes once
 * its manifest is back. */
static void restore_objects(imgd_artifacts *a, imgd_ims_kind kind, const json_t *link)
{
    _cleanup_free_ char *bucket = NULL;
    _cleanup_free_ char *key = NULL;
    if (kind == IMGD_IMS_PUBLIC_KEY || !json_is_object(link) || !link_parts(link, &bucket, &key))
        return;
    if (kind == IMGD_IMS_RECIPE) {
        if (undeleted_key(key))
            (void)obj_move(a, bucket, key, undeleted_key(key));
        return;
    }
    json_t *m = read_json(a, link);
    bool manifest_back = false;
    size_t i;
    json_t *art;
    json_array_foreach (json_object_get(m, "artifacts"), i, art) {
        _cleanup_free_ char *ab = NULL;
        _cleanup_free_ char *ak = NULL;
        if (!link_parts(json_object_get(art, "link"), &ab, &ak) || !undeleted_key(ak) ||
            !obj_move(a, ab, ak, undeleted_key(ak)))
            continue;
        const char *type = json_string_value(json_object_get(art, "type"));
        manifest_back |= type && !strcmp(type, MANIFEST_TYPE);
    }
    json_decref(m);
    if (manifest_back)
        obj_delete(a, bucket, key);
}

/* The link a record gets when soft-deleted (its objects moving under deleted/), computed without
 * touching them: the record is written first, so a retried write never moves anything twice.
 * NULL for none. */
static json_t *deleted_link(imgd_ims_kind kind, const char *id, const json_t *link)
{
    _cleanup_free_ char *bucket = NULL;
    _cleanup_free_ char *key = NULL;
    if (kind == IMGD_IMS_PUBLIC_KEY || !json_is_object(link) || !link_parts(link, &bucket, &key))
        return json_is_object(link) ? json_incref((json_t *)link) : NULL;
    _cleanup_free_ char *to = NULL;
    if (kind == IMGD_IMS_RECIPE)
        return asprintf(&to, DELETED_PREFIX "%s", key) < 0
                   ? NULL
                   : moved_link(bucket, to, json_string_value(json_object_get(link, "etag")));
    return asprintf(&to, DELETED_PREFIX "%s/" DELETED_MANIFEST, id) < 0
               ? NULL
               : moved_link(bucket, to, "");
}

/* The link a deleted record gets back on restore: the recipe's archive without "deleted/", or the
 * original manifest its deleted manifest lists (read; nothing moves). NULL for none. */
static json_t *restored_link(imgd_artifacts *a, imgd_ims_kind kind, const json_t *link)
{
    _cleanup_free_ char *bucket = NULL;
    _cleanup_free_ char *key = NULL;
    if (kind == IMGD_IMS_PUBLIC_KEY || !json_is_object(link) || !link_parts(link, &bucket, &key))
        return json_is_object(link) ? json_incref((json_t *)link) : NULL;
    if (kind == IMGD_IMS_RECIPE)
        return undeleted_key(key) ? moved_link(bucket, undeleted_key(key),
                                               json_string_value(json_object_get(link, "etag")))
                                  : json_incref((json_t *)link);
    json_t *m = read_json(a, link);
    json_t *restored = NULL;
    size_t i;
    json_t *art;
    json_array_foreach (json_object_get(m, "artifacts"), i, art) {
        const char *type = json_string_value(json_object_get(art, "type"));
        json_t *al = json_object_get(art, "link");
        _cleanup_free_ char *ab = NULL;
        _cleanup_free_ char *ak = NULL;
        if (type && !strcmp(type, MANIFEST_TYPE) && link_parts(al, &ab, &ak) && undeleted_key(ak)) {
            json_decref(restored);
            restored =
                moved_link(ab, undeleted_key(ak), json_string_value(json_object_get(al, "etag")));
        }
    }
    json_decref(m);
    return restored ? restored : json_incref((json_t *)link);
}

/* ---- DELETE ---- */

static bool cascade(const imgd_request *req)
{
    const char *v = imgd_req_query(req, "cascade");
    if (!v)
        return true;
    return !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "t") ||
           !strcmp(v, "1");
}

/* Soft-delete one live record; -ENOENT when it is gone. */
static int soft_delete(imgd_request *req, imgd_ims_kind kind, const char *id, imgd_error **err)
{
    for (int tries = 0;; tries++) {
        imgd_ims_record rec = {0};
        int r = imgd_ims_get(req->ctx->db, kind, false, id, &rec, err);
        if (r < 0)
            return r;
        json_t *body = json_deep_copy(rec.body);
        char deleted[40];
        (void)ims_now(deleted);
        json_object_set_new(body, "deleted", json_string(deleted));
        json_t *link = json_incref(json_object_get(rec.body, "link"));
        if (kind != IMGD_IMS_PUBLIC_KEY) {
            json_t *l = deleted_link(kind, id, link);
            json_object_set_new(body, "link", l ? l : json_null());
        }
        r = imgd_ims_update(req->ctx->db, kind, &rec, true, body, NULL, err);
        json_decref(body);
        imgd_ims_record_dispose(&rec);
        if (r == 0)
            soft_delete_objects(req->ctx->artifacts, kind, id, link);
        json_decref(link);
        if (r != -ESTALE || tries >= IMS_CAS_TRIES)
            return r;
        imgd_error_free(*err);
        *err = NULL;
    }
}

static int hard_delete(imgd_request *req, imgd_ims_kind kind, bool deleted, const char *id,
                       bool objects, imgd_error **err)
{
    imgd_ims_record rec = {0};
    int r = imgd_ims_get(req->ctx->db, kind, deleted, id, &rec, err);
    if (r < 0)
        return r;
    r = imgd_ims_remove(req->ctx->db, kind, deleted, id, NULL, err);
    if (r == 0 && objects)
        purge_objects(req->ctx->artifacts, kind, rec.body);
    imgd_ims_record_dispose(&rec);
    return r;
}

static int deleted_204(imgd_response *resp, int r, imgd_error **err, imgd_error *own)
{
    if (r < 0)
        return ims_store_failed(resp, r, err, own);
    return imgd_resp_text(resp, 204, NULL, "", 0);
}

int ims_records_delete(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    imgd_ims_kind kind = path_kind(req);
    const char *id = imgd_req_param(req, "id");
    imgd_error *own = NULL;
    int r = is_v3(req) ? soft_delete(req, kind, id, &own)
                       : hard_delete(req, kind, false, id, cascade(req), &own);
    return deleted_204(resp, r, err, own);
}

int ims_records_delete_all(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    imgd_ims_kind kind = path_kind(req);
    imgd_ims_record *v = NULL;
    size_t n = 0;
    imgd_error *own = NULL;
    int r;
    if (is_v3(req)) {
        r = imgd_ims_list(req->ctx->db, kind, false, &v, &n, &own);
        for (size_t i = 0; r == 0 && i < n; i++) {
            r = soft_delete(req, kind, v[i].id, &own);
            if (r == -ENOENT) {
                imgd_error_free(own);
                own = NULL;
                r = 0;
            }
        }
    } else {
        r = imgd_ims_remove_all(req->ctx->db, kind, false, &v, &n, &own);
        for (size_t i = 0; r == 0 && i < n && cascade(req); i++)
            purge_objects(req->ctx->artifacts, kind, v[i].body);
    }
    imgd_ims_records_free(v, n);
    if (r == -ENOENT)
        r = -EIO;
    return deleted_204(resp, r, err, own);
}

/* ---- /v3/deleted ---- */

static int restore(imgd_request *req, imgd_ims_kind kind, const char *id, imgd_error **err)
{
    for (int tries = 0;; tries++) {
        imgd_ims_record rec = {0};
        int r = imgd_ims_get(req->ctx->db, kind, true, id, &rec, err);
        if (r < 0)
            return r;
        json_t *body = json_deep_copy(rec.body);
        json_object_del(body, "deleted");
        /* the write comes first and checks the link is free: a live record that took it
         * meanwhile makes this -EEXIST (409) before any object moves */
        json_t *link = json_incref(json_object_get(rec.body, "link"));
        if (kind != IMGD_IMS_PUBLIC_KEY) {
            json_t *l = restored_link(req->ctx->artifacts, kind, link);
            json_object_set_new(body, "link", l ? l : json_null());
        }
        r = imgd_ims_update(req->ctx->db, kind, &rec, false, body, NULL, err);
        json_decref(body);
        imgd_ims_record_dispose(&rec);
        if (r == 0)
            restore_objects(req->ctx->artifacts, kind, link);
        json_decref(link);
        if (r != -ESTALE || tries >= IMS_CAS_TRIES)
            return r;
        imgd_error_free(*err);
        *err = NULL;
    }
}

/* The undelete body; 0, or 1 with the answer made. */
static int undelete_body(imgd_request *req, imgd_response *resp)
{
    json_t *in = NULL;
    int r = ims_read_body(req, resp, &in);
    if (r != 0)
        return r;
    json_t *errors = json_object();
    json_decref(ims_schema_load(&undelete_schema, in, errors));
    json_decref(in);
    if (json_object_size(errors)) {
        r = invalid(resp, errors);
        return r < 0 ? r : 1;
    }
    json_decref(errors);
    return 0;
}

static int restored(imgd_response *resp, int r, imgd_error **err, imgd_error *own)
{
    if (r == -EEXIST) {
        imgd_error_free(own);
        return ims_problem(resp, 409, NULL, IMS_DETAIL_CONFLICT, NULL);
    }
    return deleted_204(resp, r, err, own);
}

int ims_deleted_patch(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    imgd_ims_kind kind = path_kind(req);
    const char *id = imgd_req_param(req, "id");
    imgd_ims_record rec = {0};
    imgd_error *own = NULL;
    int r = imgd_ims_get(req->ctx->db, kind, true, id, &rec, &own);
    imgd_ims_record_dispose(&rec);
    if (r < 0)
        return ims_store_failed(resp, r, err, own);
    r = undelete_body(req, resp);
    if (r != 0)
        return r < 0 ? r : 0;
    return restored(resp, restore(req, kind, id, &own), err, own);
}

int ims_deleted_patch_all(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    imgd_ims_kind kind = path_kind(req);
    int r = undelete_body(req, resp);
    if (r != 0)
        return r < 0 ? r : 0;
    imgd_ims_record *v = NULL;
    size_t n = 0;
    imgd_error *own = NULL;
    r = imgd_ims_list(req->ctx->db, kind, true, &v, &n, &own);
    for (size_t i = 0; r == 0 && i < n; i++) {
        r = restore(req, kind, v[i].id, &own);
        if (r == -ENOENT) {
            imgd_error_free(own);
            own = NULL;
            r = 0;
        }
    }
    imgd_ims_records_free(v, n);
    return restored(resp, r, err, own);
}

int ims_deleted_delete(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    imgd_error *own = NULL;
    int r = hard_delete(req, path_kind(req), true, imgd_req_param(req, "id"), true, &own);
    return deleted_204(resp, r, err, own);
}

int ims_deleted_delete_all(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    imgd_ims_kind kind = path_kind(req);
    imgd_ims_record *v = NULL;
    size_t n = 0;
    imgd_error *own = NULL;
    int r = imgd_ims_remove_all(req->ctx->db, kind, true, &v, &n, &own);
    for (size_t i = 0; r == 0 && i < n; i++)
        purge_objects(req->ctx->artifacts, kind, v[i].body);
    imgd_ims_records_free(v, n);
    return deleted_204(resp, r, err, own);
}
