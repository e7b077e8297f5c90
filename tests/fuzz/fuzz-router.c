/* SPDX-License-Identifier: MIT */
/* Route matching. Input: "<pattern>\n<path>" (without a newline, the whole input is the path).
 * The pattern is matched against the path with several parameter limits, and the path is looked
 * up in the daemon's real route table with every method. A match must rebuild the path exactly
 * from the pattern's literals and the parameter values. */
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Paths are bounded by the HTTP server long before routing; so is the work here. */
#define FUZZ_MAX_INPUT 4096

/* Backtracking over greedy parameters costs segments^k for k of them in one pattern. The route
 * table's patterns have at most one; fuzzed patterns get at most two, so that a slow input is a
 * finding about real shapes of patterns rather than about arbitrary ones. */
#define FUZZ_MAX_GREEDY 2

/* Check a successful match: parameters lie inside pattern and path, in order, are non-empty, a
 * plain parameter holds no slash, and literals plus values give back the path. */
static void check_match(const char *pattern, const char *path, const imgd_route_param *params,
                        size_t n, size_t max)
{
    assert(n <= max);
    size_t plen = strlen(pattern), len = strlen(path);
    const char *pp = pattern, *out = path;
    for (size_t i = 0; i < n; i++) {
        const imgd_route_param *p = &params[i];
        assert(p->name > pattern && p->name + p->name_len <= pattern + plen);
        assert(p->name[-1] == '{');
        bool greedy = p->name[p->name_len] == '*';
        assert(greedy ? p->name[p->name_len + 1] == '}' : p->name[p->name_len] == '}');
        assert(p->value >= path && p->value_len > 0 && p->value + p->value_len <= path + len);
        assert(p->value[0] != '/' && p->value[p->value_len - 1] != '/');
        if (!greedy)
            assert(!memchr(p->value, '/', p->value_len));
        /* the literal text before this parameter */
        size_t lit = (size_t)(p->name - 1 - pp);
        assert(p->value == out + lit);
        assert(memcmp(pp, out, lit) == 0);
        out = p->value + p->value_len;
        pp = strchr(p->name, '}') + 1;
    }
    /* the literal tail */
    assert(strchr(pp, '{') == NULL);
    assert(strcmp(pp, out) == 0);
}

static size_t count_greedy(const char *pattern)
{
    size_t n = 0;
    for (const char *p = pattern; (p = strstr(p, "*}")) != NULL; p += 2)
        n++;
    return n;
}

static void fuzz_match(const char *pattern, const char *path)
{
    if (count_greedy(pattern) > FUZZ_MAX_GREEDY)
        return;
    imgd_route_param params[IMGD_ROUTE_MAX_PARAMS + 1];
    size_t n_full = 0;
    bool full = imgd_route_match(pattern, path, params, IMGD_ROUTE_MAX_PARAMS, &n_full);
    if (full)
        check_match(pattern, path, params, n_full, IMGD_ROUTE_MAX_PARAMS);
    else
        assert(n_full == 0);

    /* fewer slots: a match is the same match, and a pattern needing more never matches */
    for (size_t max = 0; max < IMGD_ROUTE_MAX_PARAMS; max++) {
        size_t n = 99;
        imgd_route_param few[IMGD_ROUTE_MAX_PARAMS];
        bool r = imgd_route_match(pattern, path, max ? few : NULL, max, &n);
        if (!r) {
            assert(n == 0);
            continue;
        }
        assert(full && n == n_full && n <= max);
        for (size_t i = 0; i < n; i++)
            assert(few[i].value == params[i].value && few[i].value_len == params[i].value_len);
    }
}

static bool method_answers(const char *route_method, const char *method)
{
    return strcmp(route_method, method) == 0 ||
           (strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

static void fuzz_find(const char *path)
{
    static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"};
    size_t n_routes = 0;
    const imgd_route *routes = imgd_api_routes(&n_routes);
    for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
        imgd_route_param params[IMGD_ROUTE_MAX_PARAMS];
        size_t index = SIZE_MAX, n = 99;
        char allow[64];
        imgd_route_result r = imgd_router_find(&index, params, &n, allow, sizeof(allow), routes,
                                               n_routes, methods[m], path);
        assert(strlen(allow) < sizeof(allow));
        bool any = false, any_method = false;
        size_t first = SIZE_MAX;
        for (size_t i = 0; i < n_routes; i++) {
            imgd_route_param p[IMGD_ROUTE_MAX_PARAMS];
            size_t np = 0;
            if (!imgd_route_match(routes[i].pattern, path, p, IMGD_ROUTE_MAX_PARAMS, &np))
                continue;
            any = true;
            if (method_answers(routes[i].method, methods[m]) && first == SIZE_MAX) {
                any_method = true;
                first = i;
            }
        }
        switch (r) {
        case IMGD_ROUTE_FOUND:
            assert(any_method && index == first && n <= IMGD_ROUTE_MAX_PARAMS);
            check_match(routes[index].pattern, path, params, n, IMGD_ROUTE_MAX_PARAMS);
            break;
        case IMGD_ROUTE_METHOD_NOT_ALLOWED:
            /* no method name is a substring of another, so strstr finds whole entries */
            assert(any && !any_method && n == 0 && allow[0] != '\0');
            assert(strstr(allow, methods[m]) == NULL);
            break;
        case IMGD_ROUTE_NOT_FOUND:
            assert(!any && n == 0 && allow[0] == '\0');
            break;
        default:
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    const uint8_t *nl = memchr(data, '\n', size);
    size_t pattern_len = nl ? (size_t)(nl - data) : 0;
    size_t path_off = nl ? pattern_len + 1 : 0;
    /* exact-size copies, so a read past either string's end is caught */
    char *pattern = malloc(pattern_len + 1);
    char *path = malloc(size - path_off + 1);
    if (!pattern || !path) {
        free(pattern);
        free(path);
        return 0;
    }
    memcpy(pattern, data, pattern_len);
    pattern[pattern_len] = '\0';
    memcpy(path, data + path_off, size - path_off);
    path[size - path_off] = '\0';
    /* the strings end at the first NUL byte, as C strings from the server would */
    if (nl)
        fuzz_match(pattern, path);
    fuzz_find(path);
    free(pattern);
    free(path);
    return 0;
}
