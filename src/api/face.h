/* SPDX-License-Identifier: MIT */
/* The faces' error dialects and their errno -> HTTP status tables (DESIGN.md):
 *
 *   inventory  {"error": <reason>, "details": <message>}
 *   native     {"success": false, "error": {"message", "code", "type"}, "timestamp"}
 *   imageapi   {"code": <status>, "message"}
 *   ims        application/problem+json {"status", "title", "detail"}
 *   ops        text/plain message
 */
#pragma once

#include "http.h"

/* The face that owns a path (by prefix); native for paths no face claims. */
imgd_face imgd_face_for_path(const char *path);

/* Stable lower-case name of a face ("native", "ims", ...). */
const char *imgd_face_name(imgd_face face);

/* HTTP status for a core error code (positive errno) in a face. */
unsigned imgd_face_status(imgd_face face, int code);

/* Reason phrase of a status ("Not Found"); "Unknown" for unlisted codes. */
const char *imgd_http_reason(unsigned status);

/* Fill resp with an error in the face's dialect. message is the one-line, client-safe text.
 * Returns 0 or -ENOMEM. */
int imgd_face_error(imgd_response *resp, imgd_face face, unsigned status, const char *message);

/* The 404 for a path no route knows, in the face's dialect (IMS keeps Flask's fixed detail). */
int imgd_face_not_found(imgd_response *resp, imgd_face face, const char *path);

/* The path a request is routed by (malloc'd; NULL when out of memory). IMS clients address the
 * service through the gateway prefix /apis/ims: /apis/ims/v2/... and /apis/ims/v3/... are
 * /v2/... and /v3/..., and the unprefixed /apis/ims/{public-keys,recipes,images,jobs}... are v2.
 * Every other path is itself. */
char *imgd_face_route_path(const char *url);

/* The 405 for a known path and a wrong method, with an Allow header, in the face's dialect. */
int imgd_face_method_not_allowed(imgd_response *resp, imgd_face face, const char *method,
                                 const char *path, const char *allow);
