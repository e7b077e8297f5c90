/* SPDX-License-Identifier: MIT */
/* What every face handler sees: the request (method, path, route parameters, query, headers,
 * body) and the response it fills. Nothing here includes microhttpd.h: server.c adapts the
 * connection through the lookup callback, so handlers and faces are testable without a server. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config/config.h"
#include "core/db/db.h"
#include "core/system/system.h"
#include "util/error.h"

typedef struct imgd_metrics imgd_metrics;
typedef struct imgd_store imgd_store;
typedef struct imgd_registry imgd_registry;
typedef struct imgd_inventory imgd_inventory;
typedef struct imgd_inventory_face imgd_inventory_face;
typedef struct imgd_runtime imgd_runtime;
typedef struct imgd_mounts imgd_mounts;

/* The faces of imgd: each owns path prefixes and an error dialect (DESIGN.md). */
typedef enum imgd_face {
    IMGD_FACE_NATIVE = 0,
    IMGD_FACE_INVENTORY,
    IMGD_FACE_IMAGEAPI,
    IMGD_FACE_IMS,
    IMGD_FACE_OPS,
} imgd_face;

/* Everything a handler may use; built once at start, read-only afterwards. */
typedef struct imgd_api_ctx {
    const imgd_config *cfg;
    imgd_db *db;
    imgd_system *sys;
    imgd_metrics *metrics;
    imgd_store *store;
    imgd_registry *registry;
    imgd_inventory *inventory;
    imgd_inventory_face *inventory_face;
    imgd_runtime *runtime;
    imgd_mounts *mounts;
    struct imgd_artifacts *artifacts;
} imgd_api_ctx;

#define IMGD_ROUTE_MAX_PARAMS 4

typedef enum imgd_lookup_kind {
    IMGD_LOOKUP_HEADER,
    IMGD_LOOKUP_QUERY,
} imgd_lookup_kind;

typedef struct imgd_request {
    const imgd_api_ctx *ctx;
    const char *method;
    const char *path;
    const char *request_id;
    imgd_face face;
    size_t n_params;
    const char *param_names[IMGD_ROUTE_MAX_PARAMS]; /* borrowed from the route pattern */
    size_t param_name_lens[IMGD_ROUTE_MAX_PARAMS];
    char *param_values[IMGD_ROUTE_MAX_PARAMS]; /* owned by the server */
    const char *body;                          /* NULL when the request had none */
    size_t body_len;
    /* header / query lookup on the underlying connection; returns a borrowed value or NULL */
    const char *(*lookup)(void *conn, imgd_lookup_kind kind, const char *key);
    /* every value of a repeated query parameter: fills out[0..max), returns how many there are */
    size_t (*lookup_all)(void *conn, const char *key, const char **out, size_t max);
    void *conn;
} imgd_request;

#define IMGD_RESPONSE_MAX_HEADERS 4

/* A long operation running on its own thread while the connection waits (suspended, so no
 * event-loop thread is held). */
typedef struct imgd_job imgd_job;
typedef struct imgd_response imgd_response;

/* The operation. For a streaming job it writes its output with imgd_job_write and the return
 * value only decides the log line; otherwise it fills resp, or fails with *err, which the face
 * encodes as for any handler. */
typedef int (*imgd_job_fn)(void *arg, imgd_job *job, imgd_response *resp, imgd_error **err);

/* Streaming output, from the job's thread. Returns 0, or -EPIPE once the client is gone (the job
 * may finish or stop early; nothing waits for it). */
int imgd_job_write(imgd_job *job, const void *data, size_t len);

/* True once the daemon is stopping: the job should stop soon (its work is abandoned). */
bool imgd_job_cancelled(const imgd_job *job);

typedef struct imgd_job_spec {
    imgd_job_fn fn;
    void *arg;
    void (*free_arg)(void *arg); /* called once the job is over; may be NULL */
    bool stream;                 /* answer 200 at once and send what the job writes */
    const char *content_type;    /* of the stream (static) */
} imgd_job_spec;

struct imgd_response {
    unsigned status;
    char *body; /* owned (malloc); NULL for an empty body */
    size_t body_len;
    const char *content_type; /* static string */
    size_t n_headers;
    struct {
        const char *name; /* static string */
        char *value;      /* owned */
    } headers[IMGD_RESPONSE_MAX_HEADERS];
    imgd_job_spec *job; /* set by imgd_resp_job: the server runs it */
    bool has_file;      /* set by imgd_resp_file: the body is file_size bytes of file_fd */
    int file_fd;        /* owned */
    uint64_t file_size;
};

/* A handler decodes and validates, makes one core call and encodes. It returns 0 with *resp
 * filled, or a negative errno with *err set: the face maps the code to a status and its dialect.
 * Handlers run on the server's worker threads concurrently. */
typedef int (*imgd_handler)(imgd_request *req, imgd_response *resp, imgd_error **err);

/* A request body taken as it arrives (for routes that stream, such as an archive upload):
 * data() gets each piece on the server's thread (keep it quick), finish() answers once it is all
 * in (it may answer with a job), free() releases state whatever happened. */
typedef struct imgd_body_stream {
    void *state;
    int (*data)(void *state, const void *buf, size_t len, imgd_error **err);
    int (*finish)(void *state, imgd_request *req, imgd_response *resp, imgd_error **err);
    void (*free)(void *state);
} imgd_body_stream;

/* Set up *out for the request (its headers and query are available), or fail. */
typedef int (*imgd_stream_handler)(imgd_request *req, imgd_body_stream *out, imgd_error **err);

/* Route parameter by name; borrowed, or NULL. */
const char *imgd_req_param(const imgd_request *req, const char *name);

/* Query parameter / request header; borrowed, or NULL. */
const char *imgd_req_query(const imgd_request *req, const char *key);
const char *imgd_req_header(const imgd_request *req, const char *key);

/* Every value of a query parameter given more than once (?status=a&status=b), in order: fills
 * out[0..max) and returns the count (which may exceed max). */
size_t imgd_req_query_all(const imgd_request *req, const char *key, const char **out, size_t max);

/* Parse the body as JSON within the configured depth bound. Returns 0 and a new reference, or
 * -EINVAL with a message for the client. */
int imgd_req_json(const imgd_request *req, json_t **out, imgd_error **err);

/* Set a JSON body (Flask jsonify form: sorted keys, trailing newline; indented when pretty).
 * Steals the reference to body. Returns 0 or -ENOMEM. */
int imgd_resp_json(imgd_response *resp, unsigned status, json_t *body, bool pretty);

/* imgd_resp_json (compact) for a handler's answer: a NULL body (a json_pack that ran out of
 * memory) or a failure is -ENOMEM with *err set. Steals body. */
int imgd_resp_json_or_fail(imgd_response *resp, unsigned status, json_t *body, imgd_error **err);

/* Set a body from a copy of text. */
int imgd_resp_text(imgd_response *resp, unsigned status, const char *content_type, const char *text,
                   size_t len);

/* Set a body the response takes over (malloc'd, len bytes and a NUL after them), without a copy.
 * Cannot fail. */
void imgd_resp_take(imgd_response *resp, unsigned status, const char *content_type, char *body,
                    size_t len);

/* Add a header (name static, value copied). Returns 0, -ENOMEM or -ENOSPC. */
int imgd_resp_header(imgd_response *resp, const char *name, const char *value);

/* Answer with a job instead of a body: the server starts it on a thread of its own. Takes
 * ownership of spec->arg (freed with spec->free_arg even on failure). Returns 0 or -ENOMEM. */
int imgd_resp_job(imgd_response *resp, const imgd_job_spec *spec);

/* Answer with the first size bytes of an open file (sent by the kernel, never copied through
 * memory). Takes ownership of fd, closed even on failure. fd -1 answers a HEAD request: the
 * length of a body that is not sent. Returns 0. */
int imgd_resp_file(imgd_response *resp, unsigned status, const char *content_type, int fd,
                   uint64_t size);

/* Release what the response owns and reset it; accepts a zeroed response. */
void imgd_resp_dispose(imgd_response *resp);
