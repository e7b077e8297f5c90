/* SPDX-License-Identifier: MIT */
#include "router.h"

#include <stdio.h>
#include <string.h>

/* Length of the segment starting at p (up to '/' or the end). */
static size_t segment_len(const char *p)
{
    size_t n = 0;
    while (p[n] && p[n] != '/')
        n++;
    return n;
}

static bool match_from(const char *pat, const char *path, imgd_route_param *params,
                       size_t max_params, size_t *n_params)
{
    while (*pat) {
        if (*pat != '{') {
            if (*pat != *path)
                return false;
            pat++;
            path++;
            continue;
        }
        const char *close = strchr(pat, '}');
        if (!close || *n_params >= max_params)
            return false;
        size_t name_len = (size_t)(close - pat - 1);
        bool greedy = name_len > 0 && pat[name_len] == '*';
        imgd_route_param *p = &params[(*n_params)++];
        p->name = pat + 1;
        p->name_len = greedy ? name_len - 1 : name_len;
        p->value = path;
        const char *rest = close + 1;
        size_t seg = segment_len(path);
        if (seg == 0) {
            (*n_params)--;
            return false;
        }
        if (!greedy) {
            p->value_len = seg;
            pat = rest;
            path += seg;
            continue;
        }
        /* Greedy: try the longest run of whole segments first, shrinking one at a time. Every
         * candidate end is a segment boundary, so the work is bounded by the segment count.
         * The run never spans an empty segment ("a//b"). */
        size_t total = strlen(path);
        const char *empty = strstr(path, "//");
        if (empty && (size_t)(empty - path) < total)
            total = (size_t)(empty - path);
        for (size_t end = total; end >= seg; end--) {
            if (path[end] != '\0' && path[end] != '/')
                continue;
            if (path[end - 1] == '/')
                continue; /* an empty last segment is not a segment */
            size_t saved = *n_params;
            p->value_len = end;
            if (match_from(rest, path + end, params, max_params, n_params))
                return true;
            *n_params = saved;
        }
        (*n_params)--;
        return false;
    }
    return *path == '\0';
}

bool imgd_route_match(const char *pattern, const char *path, imgd_route_param *params,
                      size_t max_params, size_t *n_params)
{
    *n_params = 0;
    if (!match_from(pattern, path, params, max_params, n_params)) {
        *n_params = 0;
        return false;
    }
    return true;
}

static bool method_matches(const char *route_method, const char *method)
{
    return strcmp(route_method, method) == 0 ||
           (strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

static void allow_add(char *allow, size_t len, const char *method)
{
    /* keep each method once */
    size_t m = strlen(method);
    for (const char *p = allow; (p = strstr(p, method)) != NULL; p += m) {
        if ((p == allow || p[-1] == ' ') && (p[m] == ',' || p[m] == '\0'))
            return;
    }
    size_t used = strlen(allow);
    snprintf(allow + used, len - used, "%s%s", used ? ", " : "", method);
}

imgd_route_result imgd_router_find(size_t *out_index, imgd_route_param *params, size_t *n_params,
                                   char *allow, size_t allow_len, const imgd_route *table, size_t n,
                                   const char *method, const char *path)
{
    bool path_known = false;
    if (allow_len)
        allow[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t np = 0;
        if (!imgd_route_match(table[i].pattern, path, params, IMGD_ROUTE_MAX_PARAMS, &np))
            continue;
        if (method_matches(table[i].method, method)) {
            *out_index = i;
            *n_params = np;
            return IMGD_ROUTE_FOUND;
        }
        path_known = true;
        if (allow_len) {
            allow_add(allow, allow_len, table[i].method);
            if (strcmp(table[i].method, "GET") == 0)
                allow_add(allow, allow_len, "HEAD");
        }
    }
    *n_params = 0;
    return path_known ? IMGD_ROUTE_METHOD_NOT_ALLOWED : IMGD_ROUTE_NOT_FOUND;
}
