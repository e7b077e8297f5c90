/* SPDX-License-Identifier: MIT */
/* The OCI distribution (Docker registry v2) client, on libcurl.
 *
 * imgd_registry holds what all pulls share: per-registry settings (insecure, CA file, mirrors,
 * credentials), the auth file, and the bearer tokens it obtained, cached per realm, service and
 * scope. It is thread-safe. A session talks to one repository from one thread and does the
 * dance every request needs: anonymous first; on 401 the challenge is answered (Basic, or a token
 * fetched from the realm with the credentials, if any) and the request repeated; 429 and 5xx and
 * dropped connections are retried with backoff, honouring Retry-After; a blob download that breaks
 * resumes with a Range request where it stopped. Redirects are followed, and libcurl does not send
 * the Authorization header to another host.
 *
 * Registries on loopback addresses are reached over plain HTTP, as docker does; others over HTTPS
 * unless configured "insecure". */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "authfile.h"
#include "reference.h"
#include "util/buf.h"
#include "util/digest.h"
#include "util/error.h"

typedef struct imgd_registry_options {
    const json_t *registries; /* {"host[:port]": {insecure, ca_file, mirrors[], username,
                                 password}}; may be NULL; copied */
    const char *auth_file;    /* docker-style auth file, or NULL; read when present */
    long connect_timeout;     /* seconds */
    long stall_timeout;       /* seconds without a byte before a transfer is given up */
    unsigned attempts;        /* tries per request (>= 1) */
} imgd_registry_options;

typedef struct imgd_registry imgd_registry;

int imgd_registry_new(imgd_registry **out, const imgd_registry_options *opts, imgd_error **err);
void imgd_registry_free(imgd_registry *reg);

typedef struct imgd_registry_session imgd_registry_session;

/* Open a session for ref's repository. creds (may be NULL) override configured ones. */
int imgd_registry_session_open(imgd_registry_session **out, imgd_registry *reg,
                               const imgd_reference *ref, const imgd_credentials *creds,
                               imgd_error **err);

/* Another session to the same repository and endpoint, for a second thread. */
int imgd_registry_session_clone(imgd_registry_session **out, const imgd_registry_session *s,
                                imgd_error **err);

void imgd_registry_session_free(imgd_registry_session *s);

/* Where the session talks to, e.g. "http://127.0.0.1:5000" (for messages). Borrowed. */
const char *imgd_registry_session_endpoint(const imgd_registry_session *s);

/* GET a manifest or index by tag or digest, sending all four modern Accept types. Fills body
 * (at most 4 MiB), content_type (a buffer of 128 bytes) and digest (of the bytes received;
 * checked against the reference when it is a digest: -EBADMSG). -ENOENT when the registry does
 * not have it, -EACCES when credentials are missing or refused. */
int imgd_registry_get_manifest(imgd_registry_session *s, const char *reference, imgd_buf *body,
                               char *content_type, char digest[IMGD_DIGEST_LEN + 1],
                               imgd_error **err);

/* A sink for blob bytes; returns 0 or a negative errno with *err set to stop the transfer. */
typedef int (*imgd_registry_sink)(void *ctx, const void *data, size_t len, imgd_error **err);

/* Stream a blob into sink. The bytes are not verified here (the sink hashes them). *delivered
 * counts what the sink received; on a broken connection the download resumes from there. url,
 * when not NULL, fetches from that address instead of the registry (a foreign layer), without
 * credentials. */
int imgd_registry_get_blob(imgd_registry_session *s, const char *digest, const char *url,
                           imgd_registry_sink sink, void *ctx, uint64_t *delivered,
                           imgd_error **err);

/* A small blob (a config) into a buffer, verified against its digest. */
int imgd_registry_get_blob_buf(imgd_registry_session *s, const char *digest, size_t max,
                               imgd_buf *out, imgd_error **err);

/* Longest Link header value imgd_registry_session_get() keeps (several headers joined). */
#define IMGD_REGISTRY_LINK_MAX 8192

/* GET path, an absolute path below the endpoint root with its query ("/v2/_catalog?n=100",
 * "/v2/team/app/tags/list?n=100"), with the authentication, retries and mirrors of every
 * request of the session (a bearer token is requested for the scope the registry's challenge
 * names, e.g. "registry:catalog:*"). Fills body (at most max bytes, else -EFBIG) and, when link
 * is not NULL, *link with the response's Link header value: a malloc'd string the caller frees,
 * "" when there is none; several Link headers are joined with ", "; more than
 * IMGD_REGISTRY_LINK_MAX bytes of them are -EPROTO. -ENOENT for 404, -EACCES when credentials are
 * missing or refused, -ECONNREFUSED or -ETIMEDOUT when the registry cannot be reached, -EAGAIN when
 * it kept failing with 429/5xx, -EPROTO for other statuses; messages name the URL. Like every
 * request of a session: one thread at a time. */
int imgd_registry_session_get(imgd_registry_session *s, const char *path, size_t max,
                              imgd_buf *body, char **link, imgd_error **err);
