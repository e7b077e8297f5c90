/* SPDX-License-Identifier: MIT */
/* The faces: which path belongs to which, the errno -> status tables, every error dialect, the
 * 404 and 405 responses, and the request/response helpers the faces build on. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/face.h"
#include "api/http.h"

static const imgd_face all_faces[] = {IMGD_FACE_NATIVE, IMGD_FACE_INVENTORY, IMGD_FACE_IMAGEAPI,
                                      IMGD_FACE_IMS, IMGD_FACE_OPS};
#define N_FACES (sizeof(all_faces) / sizeof(all_faces[0]))

static const char ims_not_found[] =
    "The requested URL was not found on the server. If you entered the URL manually please check "
    "your spelling and try again.";

/* Parse a JSON response body; checks the body is one JSON value followed by a newline. */
static json_t *body_json(const imgd_response *resp)
{
    assert_non_null(resp->body);
    assert_int_equal(resp->body_len, strlen(resp->body));
    assert_true(resp->body_len > 0);
    assert_int_equal(resp->body[resp->body_len - 1], '\n');
    json_error_t jerr;
    json_t *v = json_loadb(resp->body, resp->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!v)
        fail_msg("body is not JSON (%s): %s", jerr.text, resp->body);
    return v;
}

/* Check that obj has exactly the given keys (NULL-terminated). */
static void assert_keys(const json_t *obj, const char *const *keys)
{
    size_t n = 0;
    assert_true(json_is_object(obj));
    for (; keys[n]; n++) {
        if (!json_object_get(obj, keys[n]))
            fail_msg("key '%s' is missing", keys[n]);
    }
    assert_int_equal(json_object_size(obj), n);
}

static const char *header(const imgd_response *resp, const char *name)
{
    for (size_t i = 0; i < resp->n_headers; i++) {
        if (strcmp(resp->headers[i].name, name) == 0)
            return resp->headers[i].value;
    }
    return NULL;
}

static void test_face_for_path(void **state)
{
    static const struct {
        const char *path;
        imgd_face face;
    } cases[] = {
        {"/api/v1", IMGD_FACE_NATIVE},
        {"/api/v1/health", IMGD_FACE_NATIVE},
        {"/local-images", IMGD_FACE_INVENTORY},
        {"/local-images/", IMGD_FACE_INVENTORY},
        {"/local-images/sha256:abc", IMGD_FACE_INVENTORY},
        {"/images", IMGD_FACE_INVENTORY},
        {"/images/", IMGD_FACE_INVENTORY},
        {"/images/busybox", IMGD_FACE_INVENTORY},
        {"/imagesx", IMGD_FACE_NATIVE},
        {"/images.json", IMGD_FACE_NATIVE},
        {"/imageapi/v1", IMGD_FACE_IMAGEAPI},
        {"/imageapi/v1/images", IMGD_FACE_IMAGEAPI},
        {"/imageapi", IMGD_FACE_NATIVE},
        {"/imageapi/v2", IMGD_FACE_NATIVE},
        {"/attach", IMGD_FACE_IMAGEAPI},
        {"/attach/abc", IMGD_FACE_IMAGEAPI},
        {"/attachx", IMGD_FACE_NATIVE},
        {"/mount", IMGD_FACE_IMAGEAPI},
        {"/mount/abc", IMGD_FACE_IMAGEAPI},
        {"/mounts", IMGD_FACE_NATIVE},
        {"/container", IMGD_FACE_IMAGEAPI},
        {"/container/abc/exec", IMGD_FACE_IMAGEAPI},
        {"/containers", IMGD_FACE_NATIVE},
        {"/apis/ims", IMGD_FACE_IMS},
        {"/apis/ims/version", IMGD_FACE_IMS},
        {"/apis/imsx", IMGD_FACE_NATIVE},
        {"/apis", IMGD_FACE_NATIVE},
        {"/v2", IMGD_FACE_IMS},
        {"/v2/", IMGD_FACE_IMS},
        {"/v2/images", IMGD_FACE_IMS},
        {"/v2x", IMGD_FACE_NATIVE},
        {"/v3", IMGD_FACE_IMS},
        {"/v3/jobs/1", IMGD_FACE_IMS},
        {"/v1", IMGD_FACE_NATIVE},
        {"/v4", IMGD_FACE_NATIVE},
        {"/metrics", IMGD_FACE_OPS},
        {"/metrics/", IMGD_FACE_OPS},
        {"/metricsx", IMGD_FACE_NATIVE},
        {"/openapi.json", IMGD_FACE_OPS},
        {"/openapi.yaml", IMGD_FACE_OPS},
        {"/openapi.jsonx", IMGD_FACE_NATIVE},
        {"/openapi", IMGD_FACE_NATIVE},
        {"/", IMGD_FACE_NATIVE},
        {"", IMGD_FACE_NATIVE},
        {"/unknown/path", IMGD_FACE_NATIVE},
        {"images", IMGD_FACE_NATIVE},
        {"/IMAGES", IMGD_FACE_NATIVE},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        imgd_face f = imgd_face_for_path(cases[i].path);
        if (f != cases[i].face)
            fail_msg("'%s' is %s, expected %s", cases[i].path, imgd_face_name(f),
                     imgd_face_name(cases[i].face));
    }
}

static void test_face_names(void **state)
{
    static const char *const names[] = {"native", "inventory", "imageapi", "ims", "ops"};
    (void)state;
    for (size_t i = 0; i < N_FACES; i++)
        assert_string_equal(imgd_face_name(all_faces[i]), names[i]);
}

static void test_face_status(void **state)
{
    static const struct {
        int code;
        unsigned status;
    } common[] = {
        {ENOENT, 404},  {EEXIST, 409},    {EBUSY, 409},   {EINVAL, 400},       {EPERM, 403},
        {EACCES, 403},  {ENOSPC, 507},    {EIO, 500},     {ENOMEM, 500},       {0, 500},
        {ENOTDIR, 404}, {ENOTEMPTY, 409}, {EROFS, 403},   {EDQUOT, 507},       {EFBIG, 413},
        {ENOSYS, 501},  {EAGAIN, 503},    {EBADMSG, 422}, {ECONNREFUSED, 503}, {EPIPE, 500},
    };
    (void)state;
    for (size_t f = 0; f < N_FACES; f++) {
        for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++) {
            unsigned s = imgd_face_status(all_faces[f], common[i].code);
            unsigned neg = imgd_face_status(all_faces[f], -common[i].code);
            if (s != common[i].status || neg != common[i].status)
                fail_msg("%s: code %d -> %u/%u, expected %u", imgd_face_name(all_faces[f]),
                         common[i].code, s, neg, common[i].status);
        }
        unsigned timeout = all_faces[f] == IMGD_FACE_NATIVE ? 408 : 504;
        assert_int_equal(imgd_face_status(all_faces[f], ETIMEDOUT), timeout);
        assert_int_equal(imgd_face_status(all_faces[f], -ETIMEDOUT), timeout);
    }
}

static void test_http_reason(void **state)
{
    (void)state;
    assert_string_equal(imgd_http_reason(200), "OK");
    assert_string_equal(imgd_http_reason(400), "Bad Request");
    assert_string_equal(imgd_http_reason(404), "Not Found");
    assert_string_equal(imgd_http_reason(405), "Method Not Allowed");
    assert_string_equal(imgd_http_reason(409), "Conflict");
    assert_string_equal(imgd_http_reason(500), "Internal Server Error");
    assert_string_equal(imgd_http_reason(504), "Gateway Timeout");
    assert_string_equal(imgd_http_reason(507), "Insufficient Storage");
    assert_string_equal(imgd_http_reason(999), "Unknown");
    assert_string_equal(imgd_http_reason(0), "Unknown");
}

static void check_native_error(unsigned status, const char *type)
{
    imgd_response resp;
    memset(&resp, 0, sizeof(resp));
    assert_int_equal(imgd_face_error(&resp, IMGD_FACE_NATIVE, status, "bad thing"), 0);
    assert_int_equal(resp.status, status);
    assert_string_equal(resp.content_type, "application/json");
    /* Flask's jsonify sorts keys: "error" before "success" before "timestamp" */
    assert_int_equal(strncmp(resp.body, "{\"error\":{\"code\":", 17), 0);
    json_t *v = body_json(&resp);
    static const char *const top[] = {"success", "error", "timestamp", NULL};
    static const char *const inner[] = {"message", "code", "type", NULL};
    assert_keys(v, top);
    assert_true(json_is_false(json_object_get(v, "success")));
    json_t *e = json_object_get(v, "error");
    assert_keys(e, inner);
    assert_string_equal(json_string_value(json_object_get(e, "message")), "bad thing");
    assert_true(json_is_integer(json_object_get(e, "code")));
    assert_int_equal(json_integer_value(json_object_get(e, "code")), status);
    assert_string_equal(json_string_value(json_object_get(e, "type")), type);
    /* Python's datetime.now().isoformat(): 2025-01-19T15:47:19[.123456] */
    const char *ts = json_string_value(json_object_get(v, "timestamp"));
    assert_non_null(ts);
    size_t tl = strlen(ts);
    assert_true(tl == 19 || tl == 26);
    assert_int_equal(ts[4], '-');
    assert_int_equal(ts[7], '-');
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[13], ':');
    assert_int_equal(ts[16], ':');
    if (tl == 26)
        assert_int_equal(ts[19], '.');
    json_decref(v);
    imgd_resp_dispose(&resp);
}

static void test_error_native(void **state)
{
    (void)state;
    check_native_error(400, "ValidationError");
    check_native_error(413, "ValidationError");
    check_native_error(404, "PodmanAPIError");
    check_native_error(409, "PodmanAPIError");
    check_native_error(500, "InternalError");
    check_native_error(503, "InternalError");
    check_native_error(504, "InternalError");
}

static void test_error_inventory(void **state)
{
    imgd_response resp;
    (void)state;
    memset(&resp, 0, sizeof(resp));
    assert_int_equal(
        imgd_face_error(&resp, IMGD_FACE_INVENTORY, 404, "image 'busybox:latest' not found"), 0);
    assert_int_equal(resp.status, 404);
    assert_string_equal(resp.content_type, "application/json");
    assert_string_equal(resp.body,
                        "{\"details\":\"image 'busybox:latest' not found\",\"error\":\"Not "
                        "Found\"}\n");
    json_t *v = body_json(&resp);
    static const char *const keys[] = {"error", "details", NULL};
    assert_keys(v, keys);
    json_decref(v);

    /* the response is reusable: a second error replaces the first body */
    assert_int_equal(imgd_face_error(&resp, IMGD_FACE_INVENTORY, 500, "crictl failed"), 0);
    assert_int_equal(resp.status, 500);
    v = body_json(&resp);
    assert_string_equal(json_string_value(json_object_get(v, "error")), "Internal Server Error");
    assert_string_equal(json_string_value(json_object_get(v, "details")), "crictl failed");
    json_decref(v);
    imgd_resp_dispose(&resp);
}

static void test_error_imageapi(void **state)
{
    imgd_response resp;
    (void)state;
    memset(&resp, 0, sizeof(resp));
    assert_int_equal(imgd_face_error(&resp, IMGD_FACE_IMAGEAPI, 409, "mount busy"), 0);
    assert_int_equal(resp.status, 409);
    assert_string_equal(resp.content_type, "application/json");
    assert_string_equal(resp.body, "{\"code\":409,\"message\":\"mount busy\"}\n");
    json_t *v = body_json(&resp);
    static const char *const keys[] = {"code", "message", NULL};
    assert_keys(v, keys);
    assert_true(json_is_integer(json_object_get(v, "code")));
    json_decref(v);
    imgd_resp_dispose(&resp);
}

static void test_error_ims(void **state)
{
    imgd_response resp;
    (void)state;
    memset(&resp, 0, sizeof(resp));
    assert_int_equal(imgd_face_error(&resp, IMGD_FACE_IMS, 400, "bad field 'arch'"), 0);
    assert_int_equal(resp.status, 400);
    assert_string_equal(resp.content_type, "application/problem+json");
    json_t *v = body_json(&resp);
    static const char *const keys[] = {"status", "title", "detail", NULL};
    assert_keys(v, keys);
    assert_int_equal(json_integer_value(json_object_get(v, "status")), 400);
    assert_string_equal(json_string_value(json_object_get(v, "title")), "Bad Request");
    assert_string_equal(json_string_value(json_object_get(v, "detail")), "bad field 'arch'");
    json_decref(v);

    /* an unlisted status still gets a title */
    assert_int_equal(imgd_face_error(&resp, IMGD_FACE_IMS, 418, "teapot"), 0);
    v = body_json(&resp);
    assert_string_equal(json_string_value(json_object_get(v, "title")), "Unknown");
    json_decref(v);
    imgd_resp_dispose(&resp);
}

static void test_error_ops(void **state)
{
    imgd_response resp;
    (void)state;
    memset(&resp, 0, sizeof(resp));
    assert_int_equal(imgd_face_error(&resp, IMGD_FACE_OPS, 503, "database unavailable"), 0);
    assert_int_equal(resp.status, 503);
    assert_non_null(strstr(resp.content_type, "text/plain"));
    assert_string_equal(resp.body, "database unavailable\n");
    assert_int_equal(resp.body_len, strlen("database unavailable\n"));
    imgd_resp_dispose(&resp);

    /* a very long message is cut, never overrun */
    char big[3000];
    memset(big, 'm', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memset(&resp, 0, sizeof(resp));
    assert_int_equal(imgd_face_error(&resp, IMGD_FACE_OPS, 500, big), 0);
    assert_true(resp.body_len < sizeof(big));
    assert_int_equal(resp.body_len, strlen(resp.body));
    assert_true(resp.body_len >= 1000);
    imgd_resp_dispose(&resp);
}

static void test_error_non_ascii_message(void **state)
{
    (void)state;
    for (size_t f = 0; f < N_FACES; f++) {
        imgd_response resp;
        memset(&resp, 0, sizeof(resp));
        assert_int_equal(imgd_face_error(&resp, all_faces[f], 400, "caf\xc3\xa9 \"q\"\n"), 0);
        if (all_faces[f] == IMGD_FACE_OPS) {
            imgd_resp_dispose(&resp);
            continue;
        }
        /* JSON bodies are ASCII, with the message intact after decoding */
        for (size_t i = 0; i < resp.body_len; i++)
            assert_true((unsigned char)resp.body[i] < 0x80);
        assert_non_null(strcasestr(resp.body, "caf\\u00e9")); /* hex digits in either case */
        json_t *v = body_json(&resp);
        assert_non_null(v);
        json_decref(v);
        imgd_resp_dispose(&resp);
    }
}

static void test_not_found(void **state)
{
    imgd_response resp;
    (void)state;
    memset(&resp, 0, sizeof(resp));
    assert_int_equal(imgd_face_not_found(&resp, IMGD_FACE_IMS, "/apis/ims/nothing"), 0);
    assert_int_equal(resp.status, 404);
    assert_string_equal(resp.content_type, "application/problem+json");
    json_t *v = body_json(&resp);
    assert_int_equal(json_integer_value(json_object_get(v, "status")), 404);
    assert_string_equal(json_string_value(json_object_get(v, "title")), "Not Found");
    assert_string_equal(json_string_value(json_object_get(v, "detail")), ims_not_found);
    json_decref(v);
    imgd_resp_dispose(&resp);

    memset(&resp, 0, sizeof(resp));
    assert_int_equal(imgd_face_not_found(&resp, IMGD_FACE_NATIVE, "/api/v1/nothing"), 0);
    assert_int_equal(resp.status, 404);
    v = body_json(&resp);
    json_t *e = json_object_get(v, "error");
    assert_non_null(strstr(json_string_value(json_object_get(e, "message")), "/api/v1/nothing"));
    assert_string_equal(json_string_value(json_object_get(e, "type")), "PodmanAPIError");
    json_decref(v);
    imgd_resp_dispose(&resp);

    memset(&resp, 0, sizeof(resp));
    assert_int_equal(imgd_face_not_found(&resp, IMGD_FACE_INVENTORY, "/images/x/y"), 0);
    v = body_json(&resp);
    assert_string_equal(json_string_value(json_object_get(v, "error")), "Not Found");
    assert_non_null(strstr(json_string_value(json_object_get(v, "details")), "/images/x/y"));
    json_decref(v);
    imgd_resp_dispose(&resp);

    memset(&resp, 0, sizeof(resp));
    assert_int_equal(imgd_face_not_found(&resp, IMGD_FACE_IMAGEAPI, "/mount/x/y"), 0);
    v = body_json(&resp);
    assert_int_equal(json_integer_value(json_object_get(v, "code")), 404);
    json_decref(v);
    imgd_resp_dispose(&resp);

    memset(&resp, 0, sizeof(resp));
    assert_int_equal(imgd_face_not_found(&resp, IMGD_FACE_OPS, "/metrics/x"), 0);
    assert_int_equal(resp.status, 404);
    assert_non_null(strstr(resp.body, "/metrics/x"));
    imgd_resp_dispose(&resp);
}

static void test_not_found_long_path(void **state)
{
    char path[5000];
    (void)state;
    path[0] = '/';
    memset(path + 1, 'p', sizeof(path) - 2);
    path[sizeof(path) - 1] = '\0';
    for (size_t f = 0; f < N_FACES; f++) {
        imgd_response resp;
        memset(&resp, 0, sizeof(resp));
        assert_int_equal(imgd_face_not_found(&resp, all_faces[f], path), 0);
        assert_int_equal(resp.status, 404);
        assert_true(resp.body_len < 1024); /* the path is quoted in part only */
        imgd_resp_dispose(&resp);
    }
}

static void test_method_not_allowed(void **state)
{
    imgd_response resp;
    (void)state;
    memset(&resp, 0, sizeof(resp));
    assert_int_equal(imgd_face_method_not_allowed(&resp, IMGD_FACE_IMS, "DELETE",
                                                  "/apis/ims/version", "GET, HEAD"),
                     0);
    assert_int_equal(resp.status, 405);
    assert_string_equal(resp.content_type, "application/json");
    assert_string_equal(header(&resp, "Allow"), "GET, HEAD");
    json_t *v = body_json(&resp);
    static const char *const keys[] = {"message", "status", "title", "detail", NULL};
    assert_keys(v, keys);
    assert_int_equal(json_integer_value(json_object_get(v, "status")), 405);
    assert_string_equal(json_string_value(json_object_get(v, "title")), "Method Not Allowed");
    assert_string_equal(json_string_value(json_object_get(v, "detail")),
                        "The method is not allowed for the requested URL.");
    assert_string_equal(json_string_value(json_object_get(v, "message")),
                        "The method is not allowed for the requested URL.");
    json_decref(v);
    imgd_resp_dispose(&resp);

    memset(&resp, 0, sizeof(resp));
    assert_int_equal(imgd_face_method_not_allowed(&resp, IMGD_FACE_NATIVE, "POST", "/api/v1/health",
                                                  "GET, HEAD"),
                     0);
    assert_int_equal(resp.status, 405);
    assert_int_equal(resp.n_headers, 1);
    assert_string_equal(header(&resp, "Allow"), "GET, HEAD");
    v = body_json(&resp);
    json_t *e = json_object_get(v, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));
    assert_non_null(strstr(msg, "POST"));
    assert_non_null(strstr(msg, "/api/v1/health"));
    assert_non_null(strstr(msg, "GET, HEAD"));
    assert_int_equal(json_integer_value(json_object_get(e, "code")), 405);
    json_decref(v);
    imgd_resp_dispose(&resp);

    static const imgd_face others[] = {IMGD_FACE_INVENTORY, IMGD_FACE_IMAGEAPI, IMGD_FACE_OPS};
    for (size_t i = 0; i < 3; i++) {
        memset(&resp, 0, sizeof(resp));
        assert_int_equal(
            imgd_face_method_not_allowed(&resp, others[i], "PATCH", "/images", "GET, HEAD, POST"),
            0);
        assert_int_equal(resp.status, 405);
        assert_string_equal(header(&resp, "Allow"), "GET, HEAD, POST");
        assert_non_null(strstr(resp.body, "PATCH"));
        imgd_resp_dispose(&resp);
    }
}

static void test_resp_helpers(void **state)
{
    imgd_response resp;
    (void)state;
    memset(&resp, 0, sizeof(resp));
    imgd_resp_dispose(&resp); /* a zeroed response is fine */

    json_t *body = json_pack("{s:i, s:s}", "b", 2, "a", "x");
    assert_int_equal(imgd_resp_json(&resp, 201, body, true), 0);
    assert_int_equal(resp.status, 201);
    assert_string_equal(resp.content_type, "application/json");
    assert_string_equal(resp.body, "{\n  \"a\": \"x\",\n  \"b\": 2\n}\n");
    assert_int_equal(resp.body_len, strlen(resp.body));

    assert_int_equal(imgd_resp_text(&resp, 200, "text/plain", "a\0b", 3), 0);
    assert_int_equal(resp.body_len, 3);
    assert_memory_equal(resp.body, "a\0b", 4); /* NUL-terminated as well */
    assert_string_equal(resp.content_type, "text/plain");

    char value[] = "v0";
    for (int i = 0; i < IMGD_RESPONSE_MAX_HEADERS; i++) {
        value[1] = (char)('0' + i);
        assert_int_equal(imgd_resp_header(&resp, "X-Test", value), 0);
    }
    assert_int_equal(imgd_resp_header(&resp, "X-Test", "overflow"), -ENOSPC);
    assert_int_equal(resp.n_headers, IMGD_RESPONSE_MAX_HEADERS);
    assert_string_equal(resp.headers[0].value, "v0"); /* copied, not borrowed */
    assert_string_equal(resp.headers[3].value, "v3");

    imgd_resp_dispose(&resp);
    assert_null(resp.body);
    assert_int_equal(resp.n_headers, 0);
    assert_int_equal(resp.status, 0);
}

static const char *fake_lookup(void *conn, imgd_lookup_kind kind, const char *key)
{
    const char *tag = conn;
    if (kind == IMGD_LOOKUP_HEADER && strcmp(key, "X-Request-Id") == 0)
        return tag;
    if (kind == IMGD_LOOKUP_QUERY && strcmp(key, "all") == 0)
        return "true";
    return NULL;
}

static void test_request_helpers(void **state)
{
    imgd_request req;
    (void)state;
    memset(&req, 0, sizeof(req));
    char v0[] = "abc", v1[] = "docker.io/library/busybox";
    const char *pattern = "/x/{id}/{ref*}";
    req.n_params = 2;
    req.param_names[0] = pattern + 4;
    req.param_name_lens[0] = 2;
    req.param_values[0] = v0;
    req.param_names[1] = pattern + 9;
    req.param_name_lens[1] = 3;
    req.param_values[1] = v1;
    assert_string_equal(imgd_req_param(&req, "id"), "abc");
    assert_string_equal(imgd_req_param(&req, "ref"), "docker.io/library/busybox");
    assert_null(imgd_req_param(&req, "i"));
    assert_null(imgd_req_param(&req, "ref*"));
    assert_null(imgd_req_param(&req, "other"));

    /* without a connection there are no headers or query parameters */
    assert_null(imgd_req_header(&req, "X-Request-Id"));
    assert_null(imgd_req_query(&req, "all"));
    char tag[] = "rid-1";
    req.lookup = fake_lookup;
    req.conn = tag;
    assert_string_equal(imgd_req_header(&req, "X-Request-Id"), "rid-1");
    assert_null(imgd_req_query(&req, "X-Request-Id"));
    assert_string_equal(imgd_req_query(&req, "all"), "true");

    /* the body: none is an error, the configured depth bounds it */
    json_t *v = NULL;
    imgd_error *err = NULL;
    assert_int_equal(imgd_req_json(&req, &v, &err), -EINVAL);
    assert_non_null(err);
    imgd_error_free(err);
    err = NULL;

    imgd_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.json_max_depth = 2;
    imgd_api_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.cfg = &cfg;
    req.ctx = &ctx;
    req.body = "{\"a\":[1]}";
    req.body_len = strlen(req.body);
    assert_int_equal(imgd_req_json(&req, &v, &err), 0);
    assert_true(json_is_object(v));
    json_decref(v);
    v = NULL;
    req.body = "{\"a\":[[1]]}";
    req.body_len = strlen(req.body);
    assert_int_equal(imgd_req_json(&req, &v, &err), -EINVAL);
    assert_null(v);
    assert_non_null(strstr(err->message, "deeper than 2"));
    imgd_error_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_face_for_path),      cmocka_unit_test(test_face_names),
        cmocka_unit_test(test_face_status),        cmocka_unit_test(test_http_reason),
        cmocka_unit_test(test_error_native),       cmocka_unit_test(test_error_inventory),
        cmocka_unit_test(test_error_imageapi),     cmocka_unit_test(test_error_ims),
        cmocka_unit_test(test_error_ops),          cmocka_unit_test(test_error_non_ascii_message),
        cmocka_unit_test(test_not_found),          cmocka_unit_test(test_not_found_long_path),
        cmocka_unit_test(test_method_not_allowed), cmocka_unit_test(test_resp_helpers),
        cmocka_unit_test(test_request_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
