/* SPDX-License-Identifier: MIT */
/* Registry credentials from a docker-style auth file (~/.docker/config.json, REGISTRY_AUTH_FILE,
 * containers-auth.json):
 *
 *     {"auths": {"<key>": {"auth": "<base64 of user:password>", "username": "...",
 *                          "password": "...", "identitytoken": "..."}}}
 *
 * Keys may be "host[:port]", a URL ("https://index.docker.io/v1/") or "host/repository"; the
 * scheme and path are dropped and hosts compare case-insensitively. docker.io is also found under
 * index.docker.io, registry-1.docker.io and the legacy v1 URL. credsStore and credHelpers are not
 * supported and are ignored.
 *
 * Error messages never contain a secret. Functions keep no state: thread-safe on distinct
 * arguments (a json_t document may be shared by readers). */
#pragma once

#include <jansson.h>

#include "util/error.h"

/* Largest auth file read. */
#define IMGD_AUTHFILE_MAX (1024 * 1024)

typedef struct imgd_credentials {
    char *username;       /* owned; NULL when the entry has only an identity token */
    char *password;       /* owned secret; NULL with username */
    char *identity_token; /* owned secret; NULL when absent */
} imgd_credentials;

/* Find the credentials for registry_host ("quay.io", "localhost:5000", "docker.io") in a parsed
 * auth file. An "auth" value wins over "username"/"password". When several keys match, an exact
 * key beats a URL or alias, a host key beats a "host/repository" key, and the remaining ties go
 * to the key that sorts first. Returns 0 with *out filled (dispose with
 * imgd_credentials_dispose()), -ENOENT when there are no credentials for the host (including
 * entries that defer to a credential helper), -EINVAL for a malformed document or entry, or
 * -ENOMEM. *out is untouched on failure. Thread-safe: doc is only read. */
int imgd_authfile_lookup(imgd_credentials *out, const json_t *doc, const char *registry_host,
                         imgd_error **err);

/* Read (at most IMGD_AUTHFILE_MAX bytes) and parse the auth file at path. Returns 0 with a new
 * reference in *out (a JSON object), -ENOENT when the file does not exist, -EFBIG when it is too
 * large, -EINVAL when it is not a JSON object (the message gives line and column only), or another
 * negative errno from reading. The read buffer is wiped before it is freed. Thread-safe. */
int imgd_authfile_load(json_t **out, const char *path, imgd_error **err);

/* Wipe and free the strings of c and zero it; accepts NULL and a zeroed struct. Not for a c another
 * thread reads. */
void imgd_credentials_dispose(imgd_credentials *c);
