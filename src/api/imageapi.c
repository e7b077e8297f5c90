/* SPDX-License-Identifier: MIT */
/* ImageAPI face, v0.2 generation: /imageapi/v1/attach and /imageapi/v1/mount, with the query
 * parameters, bodies, status codes and {code, message} errors of kraken's ImageAPI. */
#include "imageapi.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/mounts/mounts.h"
#include "util/strutil.h"

static const char *const attach_kinds[] = {"iscsi", "local", "loopback", "rbd", NULL};
static const char *const mount_kinds[] = {"attach", "bind", "nfs", "overlay", "uri", "image", NULL};

/* The framework's parameter validation answered 422 in the original. */
static int query_id(imgd_request *req, bool required, int64_t *out, imgd_error **err)
{
    const char *v = imgd_req_query(req, "id");
    *out = 0;
    if (!v)
        return required ? imgd_error_set(err, EBADMSG, "query parameter 'id' is required") : 0;
    if (imgd_parse_int64(out, v) < 0)
        return imgd_error_set(err, EBADMSG, "query parameter 'id' must be an integer, not '%s'", v);
    return 0;
}

static int query_enum(imgd_request *req, const char *key, const char *const *allowed,
                      const char **out, imgd_error **err)
{
    const char *v = imgd_req_query(req, key);
    *out = v;
    if (!v)
        return 0;
    for (const char *const *a = allowed; *a; a++)
        if (!strcmp(v, *a))
            return 0;
    return imgd_error_set(err, EBADMSG, "query parameter '%s' has an unknown value '%s'", key, v);
}

static int list(imgd_request *req, imgd_response *resp, imgd_mobj_type type,
                const char *const *kinds, imgd_error **err)
{
    int64_t id = 0;
    const char *kind = NULL;
    int r = query_id(req, false, &id, err);
    if (r == 0)
        r = query_enum(req, "kind", kinds, &kind, err);
    json_t *out = NULL;
    if (r == 0)
        r = imgd_mounts_list(req->ctx->mounts, type, id, kind, &out, err);
    return r < 0 ? r : imgd_resp_json_or_fail(resp, 200, out, err);
}

static int create(imgd_request *req, imgd_response *resp, imgd_mobj_type type, imgd_error **err)
{
    json_t *in = NULL;
    int r = imgd_req_json(req, &in, err);
    json_t *out = NULL;
    if (r == 0)
        r = imgd_mounts_create(req->ctx->mounts, type, in, &out, err);
    json_decref(in);
    return r < 0 ? r : imgd_resp_json_or_fail(resp, 201, out, err);
}

static int delete (imgd_request *req, imgd_response *resp, imgd_mobj_type type, imgd_error **err)
{
    int64_t id = 0;
    bool force = false;
    const char *f = imgd_req_query(req, "force");
    int r = query_id(req, true, &id, err);
    if (r == 0 && f && imgd_parse_bool(&force, f) < 0)
        r = imgd_error_set(err, EBADMSG, "query parameter 'force' must be true or false");
    json_t *out = NULL;
    if (r == 0)
        r = imgd_mounts_delete(req->ctx->mounts, type, id, force, &out, err);
    return r < 0 ? r : imgd_resp_json_or_fail(resp, 200, out, err);
}

int imageapi_attach_list(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    return list(req, resp, IMGD_MOBJ_ATTACH, attach_kinds, err);
}

int imageapi_attach_create(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    return create(req, resp, IMGD_MOBJ_ATTACH, err);
}

int imageapi_attach_delete(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    return delete (req, resp, IMGD_MOBJ_ATTACH, err);
}

int imageapi_mount_list(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    return list(req, resp, IMGD_MOBJ_MOUNT, mount_kinds, err);
}

int imageapi_mount_create(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    return create(req, resp, IMGD_MOBJ_MOUNT, err);
}

int imageapi_mount_delete(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    return delete (req, resp, IMGD_MOBJ_MOUNT, err);
}
