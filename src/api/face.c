/* SPDX-License-Identifier: MIT */
#include "face.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

static const struct {
    const char *prefix;
    imgd_face face;
} face_prefixes[] = {
    {"/api/v1", IMGD_FACE_NATIVE},
    {"/local-images", IMGD_FACE_INVENTORY},
    {"/images", IMGD_FACE_INVENTORY},
    {"/imageapi/v1", IMGD_FACE_IMAGEAPI},
    {"/attach", IMGD_FACE_IMAGEAPI},
    {"/mount", IMGD_FACE_IMAGEAPI},
    {"/container", IMGD_FACE_IMAGEAPI},
    {"/apis/ims", IMGD_FACE_IMS},
    {"/v2", IMGD_FACE_IMS},
    {"/v3", IMGD_FACE_IMS},
    {"/version", IMGD_FACE_IMS},
    {"/healthz", IMGD_FACE_IMS},
    {"/artifacts", IMGD_FACE_NATIVE},
    {"/metrics", IMGD_FACE_OPS},
    {"/openapi.json", IMGD_FACE_OPS},
    {"/openapi.yaml", IMGD_FACE_OPS},
};

imgd_face imgd_face_for_path(const char *path)
{
    for (size_t i = 0; i < sizeof(face_prefixes) / sizeof(face_prefixes[0]); i++) {
        size_t n = strlen(face_prefixes[i].prefix);
        if (strncmp(path, face_prefixes[i].prefix, n) == 0 && (path[n] == '\0' || path[n] == '/'))
            return face_prefixes[i].face;
    }
    return IMGD_FACE_NATIVE;
}

char *imgd_face_route_path(const char *url)
{
    static const char gateway[] = "/apis/ims/";
    static const char *const v2_roots[] = {"public-keys", "recipes", "images", "jobs"};
    if (strncmp(url, gateway, sizeof gateway - 1) != 0)
        return strdup(url);
    const char *rest = url + sizeof gateway - 2; /* keeps the '/' */
    if (!strncmp(rest, "/v2/", 4) || !strncmp(rest, "/v3/", 4))
        return strdup(rest);
    for (size_t i = 0; i < sizeof v2_roots / sizeof v2_roots[0]; i++) {
        size_t n = strlen(v2_roots[i]);
        if (!strncmp(rest + 1, v2_roots[i], n) && (rest[n + 1] == '\0' || rest[n + 1] == '/')) {
            char *out = NULL;
            return asprintf(&out, "/v2%s", rest) < 0 ? NULL : out;
        }
    }
    return strdup(url);
}

const char *imgd_face_name(imgd_face face)
{
    switch (face) {
    case IMGD_FACE_NATIVE:
        return "native";
    case IMGD_FACE_INVENTORY:
        return "inventory";
    case IMGD_FACE_IMAGEAPI:
        return "imageapi";
    case IMGD_FACE_IMS:
        return "ims";
    case IMGD_FACE_OPS:
        return "ops";
    }
    return "unknown";
}

unsigned imgd_face_status(imgd_face face, int code)
{
    if (code < 0)
        code = -code;
    switch (code) {
    case ENOENT:
    case ENOTDIR:
        return 404;
    case EEXIST:
    case EBUSY:
    case ENOTEMPTY:
    case EADDRINUSE:
        return 409;
    case EINVAL:
    case EISDIR:
    case EDOM:
    case EILSEQ:
    case ENAMETOOLONG:
        return 400;
    case EPERM:
    case EACCES:
    case EROFS:
        return 403;
    case ETIMEDOUT:
        /* the container API of 003 documents 408; elsewhere a timeout is the server's */
        return face == IMGD_FACE_NATIVE ? 408 : 504;
    case ENOSPC:
    case EDQUOT:
        return 507;
    case EFBIG:
    case EMSGSIZE:
        return 413;
    case ENOSYS:
    case EOPNOTSUPP:
        return 501;
    case EAGAIN:
    case ECANCELED:
    case ECONNREFUSED:
    case EHOSTUNREACH:
        return 503;
    case EBADMSG:
        return 422;
    case EREMOTEIO:
        return 502; /* a service imgd depends on (S3) failed it */
    default:
        return 500;
    }
}

const char *imgd_http_reason(unsigned status)
{
    static const struct {
        unsigned status;
        const char *reason;
    } reasons[] = {
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {204, "No Content"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {408, "Request Timeout"},
        {409, "Conflict"},
        {411, "Length Required"},
        {413, "Request Entity Too Large"},
        {415, "Unsupported Media Type"},
        {422, "Unprocessable Entity"},
        {429, "Too Many Requests"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
        {507, "Insufficient Storage"},
    };
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (reasons[i].status == status)
            return reasons[i].reason;
    }
    return "Unknown";
}

/* The 003 service's error types: validation of input, the container engine's own failures, and
 * everything else. */
static const char *native_error_type(unsigned status)
{
    if (status >= 500)
        return "InternalError";
    if (status == 400 || status == 411 || status == 413 || status == 415 || status == 422)
        return "ValidationError";
    return "PodmanAPIError";
}

int imgd_face_error(imgd_response *resp, imgd_face face, unsigned status, const char *message)
{
    char ts[40];
    json_t *body = NULL;
    switch (face) {
    case IMGD_FACE_NATIVE:
        imgd_time_format_python_iso(ts, sizeof(ts), imgd_now_realtime_usec());
        body = json_pack("{s:b, s:{s:s, s:i, s:s}, s:s}", "success", 0, "error", "message", message,
                         "code", (int)status, "type", native_error_type(status), "timestamp", ts);
        break;
    case IMGD_FACE_INVENTORY:
        body = json_pack("{s:s, s:s}", "error", imgd_http_reason(status), "details", message);
        break;
    case IMGD_FACE_IMAGEAPI:
        body = json_pack("{s:i, s:s}", "code", (int)status, "message", message);
        break;
    case IMGD_FACE_IMS: {
        body = json_pack("{s:i, s:s, s:s}", "status", (int)status, "title",
                         imgd_http_reason(status), "detail", message);
        int r = imgd_resp_json(resp, status, body, false);
        if (r == 0)
            resp->content_type = "application/problem+json";
        return r;
    }
    case IMGD_FACE_OPS: {
        char text[1024];
        int n = snprintf(text, sizeof(text), "%s\n", message);
        size_t len = n < 0 ? 0 : (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1;
        return imgd_resp_text(resp, status, "text/plain; charset=utf-8", text, len);
    }
    }
    return body ? imgd_resp_json(resp, status, body, false) : -ENOMEM;
}

int imgd_face_not_found(imgd_response *resp, imgd_face face, const char *path)
{
    if (face == IMGD_FACE_IMS)
        return imgd_face_error(resp, face, 404,
                               "The requested URL was not found on the server. If you entered "
                               "the URL manually please check your spelling and try again.");
    char msg[512];
    snprintf(msg, sizeof(msg), "no route for path '%.400s'", path);
    return imgd_face_error(resp, face, 404, msg);
}

int imgd_face_method_not_allowed(imgd_response *resp, imgd_face face, const char *method,
                                 const char *path, const char *allow)
{
    int r;
    if (face == IMGD_FACE_IMS) {
        /* Flask answers a wrong method itself: application/json, not problem+json */
        static const char text[] = "The method is not allowed for the requested URL.";
        json_t *body = json_pack("{s:s, s:i, s:s, s:s}", "message", text, "status", 405, "title",
                                 "Method Not Allowed", "detail", text);
        r = body ? imgd_resp_json(resp, 405, body, false) : -ENOMEM;
    } else {
        char msg[600];
        snprintf(msg, sizeof(msg), "method %.16s is not allowed for '%.400s'; allowed: %s", method,
                 path, allow);
        r = imgd_face_error(resp, face, 405, msg);
    }
    return r < 0 ? r : imgd_resp_header(resp, "Allow", allow);
}
