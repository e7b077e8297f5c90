/* SPDX-License-Identifier: MIT */
/* The static route table and its matcher.
 *
 * A pattern is a path whose segments are literals or parameters: "{name}" matches one non-empty
 * segment, "{name*}" one or more segments (an image reference such as docker.io/library/busybox
 * contains slashes, never an empty segment). Matching is exact: no trailing slash, no prefix
 * match. The matcher backtracks over a greedy parameter, so a pattern has at most one. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

typedef struct imgd_route {
    const char *method; /* "GET", "POST", ...; a GET route also answers HEAD */
    const char *pattern;
    imgd_handler handler;
    imgd_face face;
    const char *summary; /* one line, for --list-routes and the spec test */
    /* Optional: takes a request body that is not JSON as a stream, without the body limit (an
     * image archive). Called once the headers are in. */
    imgd_stream_handler stream;
} imgd_route;

/* One matched parameter: pointers into the pattern and the path. */
typedef struct imgd_route_param {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} imgd_route_param;

/* Match path against pattern. On success returns true and fills params[0..*n_params). At most
 * max_params parameters are recorded; a pattern with more never matches. Pure and reentrant. */
bool imgd_route_match(const char *pattern, const char *path, imgd_route_param *params,
                      size_t max_params, size_t *n_params);

typedef enum imgd_route_result {
    IMGD_ROUTE_FOUND = 0,
    IMGD_ROUTE_NOT_FOUND,          /* no pattern matches the path: 404 */
    IMGD_ROUTE_METHOD_NOT_ALLOWED, /* patterns match, none for this method: 405 + allow */
} imgd_route_result;

/* Find the route for method and path in table[0..n). On FOUND, *out_index and params are set.
 * On METHOD_NOT_ALLOWED, allow receives the comma-separated methods that would match. */
imgd_route_result imgd_router_find(size_t *out_index, imgd_route_param *params, size_t *n_params,
                                   char *allow, size_t allow_len, const imgd_route *table, size_t n,
                                   const char *method, const char *path);

/* The daemon's route table (static storage). */
const imgd_route *imgd_api_routes(size_t *out_n);
