/* SPDX-License-Identifier: MIT */
/* The HTTP side of imgctl: one libcurl request at a time against an imgd reached over TCP
 * (http://, https://) or its unix socket (unix:///path), with bounded bodies and a timeout.
 *
 * curl_global_init() must have been called before imgd_client_new(). A client is not
 * thread-safe; use one per thread. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

/* Largest response body accepted; a longer one fails the request with -EFBIG. */
#define IMGD_CLIENT_MAX_BODY (16u * 1024u * 1024u)

/* Deepest JSON nesting accepted in a response. */
#define IMGD_CLIENT_JSON_MAX_DEPTH 64u

typedef struct imgd_client_options {
    const char *server; /* http://, https:// or unix:// URL; required */
    const char *token;  /* bearer token, or NULL for none */
    const char *cacert; /* CA bundle to verify an https server with, or NULL for the system's */
    const char *cert;   /* client certificate (PEM), or NULL */
    const char *key;    /* private key of cert, or NULL when cert holds it */
    bool insecure;      /* skip verification of the server's certificate */
    long timeout_sec;   /* whole-request time limit; > 0 */
} imgd_client_options;

typedef struct imgd_client imgd_client;

typedef struct imgd_client_response {
    long status; /* HTTP status */
    char *body;  /* owned, NUL-terminated; never NULL after a successful request */
    size_t len;  /* length of body without the NUL */
} imgd_client_response;

/* Make a client for opts->server. Every string of opts is copied, so opts may go away after the
 * call. Returns 0 with an owned client in *out, or -EINVAL when the URL is not http://,
 * https:// or unix://PATH, or -ENOMEM. */
int imgd_client_new(imgd_client **out, const imgd_client_options *opts, imgd_error **err);

/* Free a client, wiping its copy of the token; accepts NULL. */
void imgd_client_free(imgd_client *c);

static inline void imgd_client_freep(imgd_client **c)
{
    imgd_client_free(*c);
}

/* How the server is named in messages: its URL without user information, or
 * "unix socket PATH". Borrowed; valid as long as the client. */
const char *imgd_client_target(const imgd_client *c);

/* Send one request: method ("GET", "PUT", ...), path (starting with '/') and an optional JSON
 * body (NULL for none). Any HTTP status counts as an answer: returns 0 with *out filled (the
 * caller disposes it). When no answer arrives, returns a negative errno and a one-line message
 * naming the server: -ECONNREFUSED (cannot connect), -ETIMEDOUT, -EFBIG (body larger than
 * IMGD_CLIENT_MAX_BODY), -EPROTO (TLS or protocol failure), -ENOMEM. */
int imgd_client_request(imgd_client_response *out, imgd_client *c, const char *method,
                        const char *path, const json_t *body, imgd_error **err);

/* Release the body of a response; accepts a zeroed one. */
void imgd_client_response_dispose(imgd_client_response *r);

/* Decode the body of a response as JSON (depth-bounded). Returns 0 with a new reference in *out,
 * or -EBADMSG with a message saying the answer of "<method> <path>" is not JSON. */
int imgd_client_response_json(json_t **out, const imgd_client_response *r, const char *method,
                              const char *path, imgd_error **err);

/* Turn an error response into *err: "<method> <path>: <status> <message>", the message taken
 * from a native-face error body ({"error": {"message": ...}}), else the raw body cut to 200
 * characters. Control characters are replaced, so the result stays one line. Returns -EIO. */
int imgd_client_response_error(imgd_error **err, const imgd_client_response *r, const char *method,
                               const char *path);
