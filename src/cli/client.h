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
#include <stdint.h>
#include <sys/types.h>

#include "util/error.h"

/* Largest response body accepted; a longer one fails the request with -EFBIG. */
#define IMGD_CLIENT_MAX_BODY (16u * 1024u * 1024u)

/* Deepest JSON nesting accepted in a response. */
#define IMGD_CLIENT_JSON_MAX_DEPTH 64u

/* Seconds a streamed answer may stay silent (not one byte) before it fails; a longer
 * timeout_sec raises it. */
#define IMGD_CLIENT_STALL_SEC 300L

typedef struct imgd_client_options {
    const char *server; /* http://, https:// or unix:// URL; required */
    const char *token;  /* bearer token, or NULL for none */
    const char *cacert; /* CA bundle to verify an https server with, or NULL for the system's */
    const char *cert;   /* client certificate (PEM), or NULL */
    const char *key;    /* private key of cert, or NULL when cert holds it */
    bool insecure;      /* skip verification of the server's certificate */
    long timeout_sec;   /* whole-request time limit (streams: connecting); > 0 */
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

/* Called with each line of a streamed answer as soon as it is complete: NUL-terminated, without
 * its "\n" or "\r\n", never empty (blank lines are skipped). Return 0 to go on, or a negative
 * errno with *err filled to end the request with that error. */
typedef int (*imgd_client_line_fn)(void *ctx, const char *line, size_t len, imgd_error **err);

/* Send a request whose answer streams, such as a pull with "Accept: application/x-ndjson". With a
 * 2xx status each line of the body goes to on_line while the body arrives (the last one also
 * without a final newline), and out->body is left empty; with any other status the body is
 * collected into out as imgd_client_request() does, for imgd_client_response_error(). No time
 * limits the whole request: timeout_sec bounds connecting, and a stream silent for
 * max(IMGD_CLIENT_STALL_SEC, timeout_sec) seconds fails with -ETIMEDOUT. A line (or an error body)
 * longer than IMGD_CLIENT_MAX_BODY fails with -EFBIG. The request body is wiped after sending, as
 * it may hold credentials. Other errors as for imgd_client_request(), and those of on_line. */
int imgd_client_stream(imgd_client_response *out, imgd_client *c, const char *method,
                       const char *path, const json_t *body, const char *accept,
                       imgd_client_line_fn on_line, void *ctx, imgd_error **err);

/* Supplies the body of an upload: copy at most size bytes into buf. Returns how many were copied
 * (0 only once the whole body is given), or a negative errno with *err filled to end the request
 * with that error. */
typedef ssize_t (*imgd_client_read_fn)(void *ctx, char *buf, size_t size, imgd_error **err);

/* Send a request whose body, exactly length bytes of type content_type, comes from read piece by
 * piece while it is sent (a multi-GiB file is never held in memory), and collect the answer as
 * imgd_client_request() does. No time limits the whole request: timeout_sec bounds connecting,
 * and a transfer in which no byte moves for max(IMGD_CLIENT_STALL_SEC, timeout_sec) seconds fails
 * with -ETIMEDOUT. When read fails, returns its error. Other errors as for
 * imgd_client_request(). */
int imgd_client_upload(imgd_client_response *out, imgd_client *c, const char *method,
                       const char *path, const char *content_type, uint64_t length,
                       imgd_client_read_fn read, void *ctx, imgd_error **err);

/* One request of imgd_client_request_all(): the caller fills client, method and path; the call
 * fills r and either response (r == 0) or err (r < 0). */
typedef struct imgd_client_batch_item {
    imgd_client *client;           /* borrowed; several items may share one */
    const char *method;            /* borrowed */
    const char *path;              /* borrowed; starts with '/' */
    int r;                         /* 0, or the negative errno imgd_client_request() would return */
    imgd_client_response response; /* owned by the caller after the call when r == 0 */
    imgd_error *err;               /* owned by the caller after the call when r < 0 */
} imgd_client_batch_item;

/* Send the bodiless requests of items[0..n) concurrently on one curl multi handle, at most
 * max_parallel (> 0) in flight, each as imgd_client_request() would send it and with its own
 * client's timeout, counted from its own start; a request that fails does not stop the others.
 * Returns when every item has its outcome. A failure of the multi handle itself (out of memory)
 * becomes the error of each item it cut short. Single-threaded, like the rest of the client. */
void imgd_client_request_all(imgd_client_batch_item *items, size_t n, size_t max_parallel);

/* imgd_client_request() with the answer decoded: returns 0 with a new reference in *out and the
 * status in *out_status when the status is 2xx, or is also_ok (when not 0) with a JSON object
 * body that holds no "error". Any other status becomes -EIO with the message of
 * imgd_client_response_error(); a 2xx answer that is not JSON -EBADMSG. */
int imgd_client_call(json_t **out, long *out_status, imgd_client *c, const char *method,
                     const char *path, const json_t *body, long also_ok, imgd_error **err);

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
