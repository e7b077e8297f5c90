/* SPDX-License-Identifier: MIT */
/* A client of a container runtime's CRI ImageService (containerd, CRI-O), read-only: ListImages,
 * ImageStatus and RuntimeService/Version.
 *
 * Calls are gRPC unary calls over HTTP/2 cleartext (prior knowledge) on the runtime's unix
 * socket, made with libcurl; the protobuf messages are encoded and decoded by hand (proto.h).
 * Each call tries the "runtime.v1" API first; when the runtime answers UNIMPLEMENTED (an old
 * runtime that serves "runtime.v1alpha2" only, whose messages are the same) it retries once with
 * the other version, and remembers per endpoint which one answered.
 *
 * Errors: -ENOENT (socket missing), -ECONNREFUSED (nobody listening, or grpc UNAVAILABLE),
 * -ETIMEDOUT (timeout_ms passed, or grpc DEADLINE_EXCEEDED), -EACCES (PERMISSION_DENIED,
 * UNAUTHENTICATED), -EINVAL (bad endpoint), -EBADMSG (a malformed answer), -E2BIG (an answer
 * above the bounds below), -ENOMEM, else -EIO; each with a one-line message naming the endpoint
 * and the method. Every call uses its own curl handle: all functions are thread-safe, given that
 * curl_global_init() has been called (once, at start). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/error.h"

#define IMGD_CRI_RESPONSE_MAX     (64u << 20) /* bytes of one response message */
#define IMGD_CRI_IMAGES_MAX       1000000u    /* images in one ListImages answer */
#define IMGD_CRI_NAMES_MAX        100000u     /* repo tags (or digests) of one image */
#define IMGD_CRI_ENDPOINT_MAX     4096u       /* a big enough out for imgd_cri_endpoint_resolve */
#define IMGD_CRI_DEFAULT_ENDPOINT "unix:///run/containerd/containerd.sock"

/* One image as the runtime reports it (CRI's Image message). containerd 1.6 lists one entry per
 * config digest (its id), whatever the number of names: every tag in repo_tags, every
 * "name@sha256:<manifest>" record in repo_digests; an image whose tags were all removed has
 * repo_tags empty (crictl shows <none>), and may have neither. Its size is the sum of the sizes
 * of the manifest, the config and the layer blobs as stored: compressed for pulled and OCI
 * images, but the uncompressed tars of a `ctr import`ed docker-archive. */
typedef struct imgd_cri_image {
    char *id;            /* "sha256:..."; containerd: the config digest */
    char **repo_tags;    /* NULL-terminated, never NULL; "name:tag" */
    char **repo_digests; /* NULL-terminated, never NULL; "name@sha256:..." */
    uint64_t size;       /* bytes; containerd: manifest + config + layers as stored (above) */
    char *username;      /* may be "" (never NULL) */
    bool pinned;
    bool has_uid; /* the runtime sent a numeric uid (exclusive with username) */
    int64_t uid;
} imgd_cri_image;

/* Free the strings of one image and zero it; accepts NULL and a zeroed image. */
void imgd_cri_image_dispose(imgd_cri_image *img);

/* Free an array of n images from imgd_cri_list_images(); accepts NULL. */
void imgd_cri_images_free(imgd_cri_image *v, size_t n);

/* ListImages with no filter. On success *out is a malloc'd array of *n images (NULL when n is 0)
 * owned by the caller (imgd_cri_images_free), in the runtime's order (containerd: unordered).
 * endpoint: "unix:///path" or an absolute path. timeout_ms bounds the whole call, the fallback
 * retry included; 0 or less means crictl's default, 2 s. */
int imgd_cri_list_images(imgd_cri_image **out, size_t *n, const char *endpoint, long timeout_ms,
                         imgd_error **err);

/* ImageStatus of image (a reference "name:tag", "name@digest", or an image id). On success
 * *found says whether the runtime has it; when it does, *out is filled (owned by the caller:
 * imgd_cri_image_dispose), else *out is zeroed. A runtime that answers NOT_FOUND instead of an
 * empty response also gives 0 with *found false. */
int imgd_cri_image_status(imgd_cri_image *out, bool *found, const char *endpoint, const char *image,
                          long timeout_ms, imgd_error **err);

/* What RuntimeService/Version answers. Fields are owned, never NULL after a successful call
 * (absent ones are ""). */
typedef struct imgd_cri_version {
    char *version;             /* the CRI wire version, "0.1.0" */
    char *runtime_name;        /* "containerd" */
    char *runtime_version;     /* "1.6.20~ds1" */
    char *runtime_api_version; /* "v1" (or "v1alpha2") */
} imgd_cri_version;

/* RuntimeService/Version. On success *out is filled (imgd_cri_version_dispose). (Named _get_:
 * imgd_cri_version is the type.) */
int imgd_cri_get_version(imgd_cri_version *out, const char *endpoint, long timeout_ms,
                         imgd_error **err);

/* Free the strings and zero the struct; accepts NULL. */
void imgd_cri_version_dispose(imgd_cri_version *v);

/* Where crictl would look: configured (may be NULL or ""), else $CONTAINER_RUNTIME_ENDPOINT,
 * else runtime-endpoint in crictl_yaml (a path, normally /etc/crictl.yaml; a flat "key: value"
 * YAML, optional quotes and # comments; may be NULL; a missing file is skipped), else
 * IMGD_CRI_DEFAULT_ENDPOINT. A bare absolute path is written as "unix://PATH". Writes the
 * NUL-terminated endpoint into out (len bytes) and sets *source (static string) to "config",
 * "environment", "crictl.yaml" or "default". -ENAMETOOLONG when it does not fit, or errors of
 * reading crictl_yaml (other than ENOENT); outputs untouched on failure. Reads the environment:
 * thread-safe unless the environment changes meanwhile. */
int imgd_cri_endpoint_resolve(char *out, size_t len, const char **source, const char *configured,
                              const char *crictl_yaml, imgd_error **err);

/* The socket path of an endpoint ("unix:///path" or "/path"), borrowed from endpoint; -EINVAL
 * (with a message) for other schemes, relative paths and paths too long for a unix socket. */
int imgd_cri_endpoint_socket(const char **path, const char *endpoint, imgd_error **err);

/* The API package last seen to answer on endpoint, "runtime.v1" or "runtime.v1alpha2" (static
 * strings), or NULL before the first successful call. Thread-safe. */
const char *imgd_cri_endpoint_api(const char *endpoint);

/* ---- pure parts, exposed for tests and fuzzing ------------------------------------------- */

/* Decode a ListImagesResponse message. Images are owned by the caller. Unknown fields are
 * skipped; -EBADMSG for malformed input, -E2BIG past IMGD_CRI_IMAGES_MAX/IMGD_CRI_NAMES_MAX. */
int imgd_cri_decode_images(imgd_cri_image **out, size_t *n, const void *msg, size_t len,
                           imgd_error **err);

/* Decode an ImageStatusResponse: *found is false when its image field is unset. */
int imgd_cri_decode_image_status(imgd_cri_image *out, bool *found, const void *msg, size_t len,
                                 imgd_error **err);

/* Decode a VersionResponse. */
int imgd_cri_decode_version(imgd_cri_version *out, const void *msg, size_t len, imgd_error **err);

/* Find the one message of a unary gRPC response body (5-byte prefix: flag 0, big-endian
 * length; then the message). *msg borrows from body. -EBADMSG when the body is empty, short,
 * compressed, or holds more than one message; -E2BIG when the length passes
 * IMGD_CRI_RESPONSE_MAX. */
int imgd_cri_grpc_unframe(const uint8_t **msg, size_t *msg_len, const void *body, size_t len,
                          imgd_error **err);

/* Append the 5-byte prefix and msg to b. Returns 0 or -ENOMEM. */
int imgd_cri_grpc_frame(imgd_buf *b, const void *msg, size_t len);

/* The errno a grpc-status maps to (0 for 0 OK): 5→ENOENT, 4→ETIMEDOUT, 14→ECONNREFUSED,
 * 7/16→EACCES, else EIO. */
int imgd_cri_grpc_errno(long grpc_status);

/* The name of a grpc-status ("NOT_FOUND"), or "UNKNOWN_STATUS". Static. */
const char *imgd_cri_grpc_status_name(long grpc_status);

/* Percent-decode a grpc-message value in place ("%XX" sequences; a malformed one is kept as
 * it is). Returns s. */
char *imgd_cri_grpc_message_decode(char *s);

/* ---- test hooks ---------------------------------------------------------------------------
 * For tests only; set them before any call, not while calls run. */

/* One gRPC exchange: POST request (framed here) to path on socket; request NULL sends no
 * message at all (an empty body). On 0, *grpc_status and *grpc_message (malloc'd or NULL) are
 * set and body holds the response body. -ECONNRESET (internal, never returned by the calls
 * above) means the runtime closed the stream before any answer: see cri.c. */
typedef int (*imgd_cri_transport_fn)(imgd_buf *body, long *grpc_status, char **grpc_message,
                                     const char *socket, const char *path, const void *request,
                                     size_t request_len, long timeout_ms, imgd_error **err);

/* The default transport (libcurl), for a hook that wraps it. */
int imgd_cri_transport_curl(imgd_buf *body, long *grpc_status, char **grpc_message,
                            const char *socket, const char *path, const void *request,
                            size_t request_len, long timeout_ms, imgd_error **err);

typedef struct imgd_cri_test_hooks {
    imgd_cri_transport_fn transport; /* NULL: libcurl */
    const char *v1_package;          /* NULL: "runtime.v1"; another name (copied, < 64 bytes)
                                        plays a runtime without v1: it answers UNIMPLEMENTED */
} imgd_cri_test_hooks;

/* Install hooks (copied; NULL restores the defaults) and forget which API each endpoint spoke. */
void imgd_cri_test_set_hooks(const imgd_cri_test_hooks *hooks);
