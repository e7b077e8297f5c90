/* SPDX-License-Identifier: MIT */
/* The route matcher ({param}, greedy {ref*}, exact matching) and the table lookup (HEAD via GET,
 * 405 with an Allow list), on small tables of our own and on the daemon's real table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/face.h"
#include "api/router.h"

static int dummy_handler(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    (void)req;
    (void)resp;
    (void)err;
    return 0;
}

/* Match and check the outcome; returns the number of parameters. */
static size_t match(const char *pattern, const char *path, imgd_route_param *params, size_t max,
                    bool expected)
{
    size_t n = 99;
    bool r = imgd_route_match(pattern, path, params, max, &n);
    if (r != expected)
        fail_msg("'%s' vs '%s': expected %s", pattern, path, expected ? "a match" : "no match");
    if (!r)
        assert_int_equal(n, 0);
    assert_true(n <= max);
    return n;
}

/* Check parameter i: its name and value, both pointing into pattern and path. */
static void check_param(const imgd_route_param *p, const char *pattern, const char *path,
                        const char *name, const char *value)
{
    size_t plen = strlen(pattern), len = strlen(path);
    assert_true(p->name >= pattern && p->name + p->name_len <= pattern + plen);
    assert_true(p->value >= path && p->value + p->value_len <= path + len);
    if (p->name_len != strlen(name) || memcmp(p->name, name, p->name_len) != 0)
        fail_msg("name '%.*s', expected '%s'", (int)p->name_len, p->name, name);
    if (p->value_len != strlen(value) || memcmp(p->value, value, p->value_len) != 0)
        fail_msg("value '%.*s', expected '%s'", (int)p->value_len, p->value, value);
}

static void test_match_literal(void **state)
{
    imgd_route_param p[4];
    (void)state;
    assert_int_equal(match("/api/v1/health", "/api/v1/health", p, 4, true), 0);
    assert_int_equal(match("/", "/", p, 4, true), 0);
    /* a literal pattern needs no parameter slots */
    assert_int_equal(match("/api/v1/health", "/api/v1/health", NULL, 0, true), 0);
    match("/api/v1/health", "/api/v1/health/", p, 4, false); /* no trailing slash */
    match("/api/v1/health", "/api/v1/healthz", p, 4, false); /* no prefix match */
    match("/api/v1/health", "/api/v1/healt", p, 4, false);
    match("/api/v1/health", "/api/v1", p, 4, false);
    match("/api/v1/health", "/API/v1/health", p, 4, false);
    match("/api/v1/health", "", p, 4, false);
    match("/api/v1/health", "//api/v1/health", p, 4, false);
    match("/", "", p, 4, false);
    match("/", "//", p, 4, false);
}

static void test_match_param(void **state)
{
    imgd_route_param p[4];
    const char *pat = "/containers/{id}";
    const char *path = "/containers/abc123";
    (void)state;
    assert_int_equal(match(pat, path, p, 4, true), 1);
    check_param(&p[0], pat, path, "id", "abc123");
    assert_ptr_equal(p[0].value, path + strlen("/containers/"));
    assert_ptr_equal(p[0].name, pat + strlen("/containers/{"));

    match(pat, "/containers/", p, 4, false);    /* empty segment */
    match(pat, "/containers", p, 4, false);     /* missing segment */
    match(pat, "/containers/a/b", p, 4, false); /* no slash inside */
    match(pat, "/containers/a/", p, 4, false);
    match(pat, "/containers//", p, 4, false);

    const char *pat2 = "/containers/{id}/logs";
    assert_int_equal(match(pat2, "/containers/x/logs", p, 4, true), 1);
    check_param(&p[0], pat2, "/containers/x/logs", "id", "x");
    match(pat2, "/containers//logs", p, 4, false);
    match(pat2, "/containers/x/logs/", p, 4, false);
    match(pat2, "/containers/x/y/logs", p, 4, false);

    /* characters other than '/' are fine in a segment, including braces and percent escapes */
    const char *odd = "/containers/a%2Fb:{x}@!";
    assert_int_equal(match(pat, odd, p, 4, true), 1);
    check_param(&p[0], pat, odd, "id", "a%2Fb:{x}@!");
}

static void test_match_several_params(void **state)
{
    imgd_route_param p[4];
    const char *pat = "/a/{x}/b/{y}";
    const char *path = "/a/1/b/22";
    (void)state;
    assert_int_equal(match(pat, path, p, 4, true), 2);
    check_param(&p[0], pat, path, "x", "1");
    check_param(&p[1], pat, path, "y", "22");
    match(pat, "/a/1/c/22", p, 4, false);

    /* adjacent parameter segments */
    const char *pat2 = "/{a}/{b}/{c}/{d}";
    const char *path2 = "/w/x/y/z";
    assert_int_equal(match(pat2, path2, p, 4, true), 4);
    check_param(&p[3], pat2, path2, "d", "z");
}

static void test_match_max_params(void **state)
{
    imgd_route_param p[4];
    (void)state;
    /* a pattern with more parameters than slots never matches */
    match("/a/{x}/b/{y}", "/a/1/b/2", p, 1, false);
    match("/a/{x}", "/a/1", p, 0, false);
    match("/{a}/{b}/{c}/{d}", "/w/x/y/z", p, 3, false);
    match("/v2/{name*}/tags/list", "/v2/a/b/tags/list", p, 0, false);
    assert_int_equal(match("/a/{x}/b/{y}", "/a/1/b/2", p, 2, true), 2);

    /* slots beyond max_params are never written */
    imgd_route_param guard[3];
    memset(guard, 0xa5, sizeof(guard));
    match("/a/{x}/b/{y}", "/a/1/b/2", guard, 1, false);
    const unsigned char *bytes = (const unsigned char *)&guard[1];
    for (size_t i = 0; i < 2 * sizeof(guard[0]); i++)
        assert_int_equal(bytes[i], 0xa5);
}

static void test_match_greedy(void **state)
{
    imgd_route_param p[4];
    const char *pat = "/api/v1/images/{ref*}/tag";
    const char *path = "/api/v1/images/docker.io/library/busybox:latest/tag";
    (void)state;
    assert_int_equal(match(pat, path, p, 4, true), 1);
    check_param(&p[0], pat, path, "ref", "docker.io/library/busybox:latest");

    const char *one = "/api/v1/images/busybox/tag";
    assert_int_equal(match(pat, one, p, 4, true), 1);
    check_param(&p[0], pat, one, "ref", "busybox");

    match(pat, "/api/v1/images/tag", p, 4, false);  /* one or more segments */
    match(pat, "/api/v1/images//tag", p, 4, false); /* an empty segment is none */
    match(pat, "/api/v1/images/busybox/", p, 4, false);
    match(pat, "/api/v1/images/busybox/tag/", p, 4, false);
    match(pat, "/api/v1/images/busybox/tagx", p, 4, false);
    match(pat, "/api/v1/images/busybox", p, 4, false);
    match(pat, "/api/v1/images/a/b/", p, 4, false);
    match(pat, "/api/v1/images/a//b/tag", p, 4, false); /* nor inside the value */
    match(pat, "/api/v1/images/a/b//tag", p, 4, false);

    /* the literal after the parameter may appear inside it: the longest value wins */
    const char *twice = "/api/v1/images/a/tag/b/tag";
    assert_int_equal(match(pat, twice, p, 4, true), 1);
    check_param(&p[0], pat, twice, "ref", "a/tag/b");

    /* greedy at the end of the pattern */
    const char *tail = "/v2/{name*}";
    const char *tail_path = "/v2/library/busy.box/x";
    assert_int_equal(match(tail, tail_path, p, 4, true), 1);
    check_param(&p[0], tail, tail_path, "name", "library/busy.box/x");
    match(tail, "/v2/library/", p, 4, false);
    match(tail, "/v2/", p, 4, false);
    match(tail, "/v2", p, 4, false);

    /* greedy followed by literals and another parameter, as in the registry API */
    const char *reg = "/v2/{name*}/manifests/{reference}";
    const char *reg_path = "/v2/library/busybox/manifests/sha256:abc";
    assert_int_equal(match(reg, reg_path, p, 4, true), 2);
    check_param(&p[0], reg, reg_path, "name", "library/busybox");
    check_param(&p[1], reg, reg_path, "reference", "sha256:abc");
    const char *nested = "/v2/a/manifests/b/manifests/c";
    assert_int_equal(match(reg, nested, p, 4, true), 2);
    check_param(&p[0], reg, nested, "name", "a/manifests/b");
    check_param(&p[1], reg, nested, "reference", "c");
    match(reg, "/v2/a/manifests/", p, 4, false);
    match(reg, "/v2/manifests/x", p, 4, false);
    match(reg, "/v2/a/manifests/x/y", p, 4, false);
}

static void test_match_malformed_patterns(void **state)
{
    imgd_route_param p[4];
    (void)state;
    match("/a/{x", "/a/1", p, 4, false);
    match("/a/{x", "/a/{x", p, 4, false);
    /* a literal '}' is an ordinary character */
    match("/a/}", "/a/}", p, 4, true);
}

static const imgd_route table[] = {
    {"GET", "/things", dummy_handler, IMGD_FACE_NATIVE, "list", NULL},
    {"POST", "/things", dummy_handler, IMGD_FACE_NATIVE, "create", NULL},
    {"GET", "/things/{id}", dummy_handler, IMGD_FACE_NATIVE, "inspect", NULL},
    {"DELETE", "/things/{id}", dummy_handler, IMGD_FACE_NATIVE, "remove", NULL},
    {"PUT", "/things/{id}", dummy_handler, IMGD_FACE_NATIVE, "replace", NULL},
    {"GET", "/blobs/{ref*}/data", dummy_handler, IMGD_FACE_NATIVE, "blob", NULL},
    {"POST", "/only-post", dummy_handler, IMGD_FACE_NATIVE, "post only", NULL},
    {"GET", "/dup/{a}", dummy_handler, IMGD_FACE_NATIVE, "first get", NULL},
    {"GET", "/dup/{b*}", dummy_handler, IMGD_FACE_NATIVE, "second get", NULL},
    {"PUT", "/dup/{a}", dummy_handler, IMGD_FACE_NATIVE, "put", NULL},
    {"HEAD", "/dup/{a}", dummy_handler, IMGD_FACE_NATIVE, "explicit head", NULL},
};
#define N_TABLE (sizeof(table) / sizeof(table[0]))

typedef struct find_result {
    imgd_route_result result;
    size_t index;
    size_t n_params;
    imgd_route_param params[IMGD_ROUTE_MAX_PARAMS];
    char allow[128];
} find_result;

static find_result find(const char *method, const char *path)
{
    find_result r;
    memset(&r, 0, sizeof(r));
    r.index = 999;
    r.n_params = 99;
    memset(r.allow, 'x', sizeof(r.allow));
    r.result = imgd_router_find(&r.index, r.params, &r.n_params, r.allow, sizeof(r.allow), table,
                                N_TABLE, method, path);
    return r;
}

static void test_find_found(void **state)
{
    (void)state;
    find_result r = find("GET", "/things");
    assert_int_equal(r.result, IMGD_ROUTE_FOUND);
    assert_int_equal(r.index, 0);
    assert_int_equal(r.n_params, 0);

    r = find("POST", "/things");
    assert_int_equal(r.result, IMGD_ROUTE_FOUND);
    assert_int_equal(r.index, 1);

    r = find("DELETE", "/things/42");
    assert_int_equal(r.result, IMGD_ROUTE_FOUND);
    assert_int_equal(r.index, 3);
    assert_int_equal(r.n_params, 1);
    check_param(&r.params[0], table[3].pattern, "/things/42", "id", "42");

    const char *blob = "/blobs/sha256/ab/cd/data";
    r = find("GET", blob);
    assert_int_equal(r.result, IMGD_ROUTE_FOUND);
    assert_int_equal(r.index, 5);
    assert_int_equal(r.n_params, 1);
    check_param(&r.params[0], table[5].pattern, blob, "ref", "sha256/ab/cd");
}

static void test_find_head_uses_get(void **state)
{
    (void)state;
    find_result r = find("HEAD", "/things");
    assert_int_equal(r.result, IMGD_ROUTE_FOUND);
    assert_int_equal(r.index, 0);

    r = find("HEAD", "/things/7");
    assert_int_equal(r.result, IMGD_ROUTE_FOUND);
    assert_int_equal(r.index, 2);
    assert_int_equal(r.n_params, 1);

    /* GET does not answer for HEAD, only the other way round */
    r = find("GET", "/only-post");
    assert_int_equal(r.result, IMGD_ROUTE_METHOD_NOT_ALLOWED);
    r = find("HEAD", "/only-post");
    assert_int_equal(r.result, IMGD_ROUTE_METHOD_NOT_ALLOWED);
    assert_string_equal(r.allow, "POST");
}

static void test_find_method_not_allowed(void **state)
{
    (void)state;
    find_result r = find("PATCH", "/things/42");
    assert_int_equal(r.result, IMGD_ROUTE_METHOD_NOT_ALLOWED);
    assert_int_equal(r.n_params, 0);
    assert_string_equal(r.allow, "GET, HEAD, DELETE, PUT");

    r = find("DELETE", "/things");
    assert_int_equal(r.result, IMGD_ROUTE_METHOD_NOT_ALLOWED);
    assert_string_equal(r.allow, "GET, HEAD, POST");

    r = find("GET", "/only-post");
    assert_string_equal(r.allow, "POST");

    /* each method once, even when several patterns allow it */
    r = find("POST", "/dup/1");
    assert_int_equal(r.result, IMGD_ROUTE_METHOD_NOT_ALLOWED);
    assert_string_equal(r.allow, "GET, HEAD, PUT");

    /* methods are case-sensitive */
    r = find("get", "/things");
    assert_int_equal(r.result, IMGD_ROUTE_METHOD_NOT_ALLOWED);
    assert_string_equal(r.allow, "GET, HEAD, POST");
}

static void test_find_not_found(void **state)
{
    static const char *const paths[] = {
        "/nothing", "/things/", "/things/1/2", "/thing", "", "/", "/blobs/data", "/blobs//data",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        find_result r = find("GET", paths[i]);
        if (r.result != IMGD_ROUTE_NOT_FOUND)
            fail_msg("'%s' was found (%d)", paths[i], (int)r.result);
        assert_int_equal(r.n_params, 0);
        assert_string_equal(r.allow, "");
    }
}

static void test_find_allow_buffer(void **state)
{
    size_t index = 0, n = 0;
    imgd_route_param params[IMGD_ROUTE_MAX_PARAMS];
    (void)state;
    /* no buffer at all */
    assert_int_equal(
        imgd_router_find(&index, params, &n, NULL, 0, table, N_TABLE, "PATCH", "/things/1"),
        IMGD_ROUTE_METHOD_NOT_ALLOWED);

    /* a short buffer is truncated, never overrun */
    char allow[12];
    memset(allow, 'x', sizeof(allow));
    assert_int_equal(
        imgd_router_find(&index, params, &n, allow, 8, table, N_TABLE, "PATCH", "/things/1"),
        IMGD_ROUTE_METHOD_NOT_ALLOWED);
    assert_true(strlen(allow) < 8);
    assert_int_equal(strncmp(allow, "GET, HE", strlen(allow)), 0);
    for (size_t i = 8; i < sizeof(allow); i++)
        assert_int_equal(allow[i], 'x');

    /* an empty table knows no path */
    assert_int_equal(
        imgd_router_find(&index, params, &n, allow, sizeof(allow), table, 0, "GET", "/things"),
        IMGD_ROUTE_NOT_FOUND);
}

/* The real table's patterns with each parameter replaced by a sample value. */
static void instantiate(char *out, size_t len, const char *pattern)
{
    size_t o = 0;
    for (const char *p = pattern; *p && o + 1 < len;) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            assert_non_null(close);
            bool greedy = close[-1] == '*';
            const char *v = greedy ? "docker.io/library/busybox:latest" : "sample";
            size_t vl = strlen(v);
            assert_true(o + vl < len);
            memcpy(out + o, v, vl);
            o += vl;
            p = close + 1;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

static void test_real_table(void **state)
{
    size_t n = 0;
    const imgd_route *routes = imgd_api_routes(&n);
    (void)state;
    assert_non_null(routes);
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++) {
        const imgd_route *r = &routes[i];
        assert_non_null(r->method);
        assert_non_null(r->pattern);
        assert_non_null(r->handler);
        assert_non_null(r->summary);
        assert_true(r->summary[0] != '\0');
        assert_int_equal(r->pattern[0], '/');
        assert_null(strchr(r->summary, '\n'));
        /* the face of a route is the face its path prefix selects */
        if (imgd_face_for_path(r->pattern) != r->face)
            fail_msg("%s %s: face %s, prefix says %s", r->method, r->pattern,
                     imgd_face_name(r->face), imgd_face_name(imgd_face_for_path(r->pattern)));
        /* the matcher backtracks over a greedy parameter: one per pattern at most */
        const char *greedy = strstr(r->pattern, "*}");
        if (greedy && strstr(greedy + 2, "*}"))
            fail_msg("%s %s has more than one greedy parameter", r->method, r->pattern);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(routes[j].method, r->method) == 0 &&
                strcmp(routes[j].pattern, r->pattern) == 0)
                fail_msg("%s %s is listed twice (%zu and %zu)", r->method, r->pattern, j, i);
        }
    }
}

static void test_real_table_routes_are_reachable(void **state)
{
    size_t n = 0;
    const imgd_route *routes = imgd_api_routes(&n);
    (void)state;
    for (size_t i = 0; i < n; i++) {
        char path[512];
        size_t index = 999, np = 99;
        imgd_route_param params[IMGD_ROUTE_MAX_PARAMS];
        char allow[128];
        instantiate(path, sizeof(path), routes[i].pattern);
        imgd_route_result res = imgd_router_find(&index, params, &np, allow, sizeof(allow), routes,
                                                 n, routes[i].method, path);
        if (res != IMGD_ROUTE_FOUND || index != i)
            fail_msg("%s %s (as %s) resolves to %d/%zu, not route %zu", routes[i].method,
                     routes[i].pattern, path, (int)res, index, i);
        if (strcmp(routes[i].method, "GET") == 0) {
            res = imgd_router_find(&index, params, &np, allow, sizeof(allow), routes, n, "HEAD",
                                   path);
            assert_int_equal(res, IMGD_ROUTE_FOUND);
            assert_int_equal(index, i);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_literal),
        cmocka_unit_test(test_match_param),
        cmocka_unit_test(test_match_several_params),
        cmocka_unit_test(test_match_max_params),
        cmocka_unit_test(test_match_greedy),
        cmocka_unit_test(test_match_malformed_patterns),
        cmocka_unit_test(test_find_found),
        cmocka_unit_test(test_find_head_uses_get),
        cmocka_unit_test(test_find_method_not_allowed),
        cmocka_unit_test(test_find_not_found),
        cmocka_unit_test(test_find_allow_buffer),
        cmocka_unit_test(test_real_table),
        cmocka_unit_test(test_real_table_routes_are_reachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
