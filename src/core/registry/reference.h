/* SPDX-License-Identifier: MIT */
/* Image references ("busybox", "quay.io/team/app:1", "host:5000/x@sha256:...") parsed and
 * normalised as docker does: a first path component is a registry domain only when it looks like
 * one ('.' or ':' in it, "localhost", or an upper-case letter), otherwise the image lives on
 * docker.io, where a one-component path gets "library/". A reference without tag or digest gets
 * the tag "latest"; "name:tag@digest" keeps both.
 *
 * All functions are pure and keep no state: they are thread-safe on distinct arguments. */
#pragma once

#include <stdbool.h>

#include "util/error.h"

/* Longest reference text accepted; longer input is rejected before any parsing. */
#define IMGD_REFERENCE_TEXT_MAX 4096
/* Longest repository name ("<domain>/<path>") docker accepts. */
#define IMGD_REFERENCE_NAME_MAX 255

typedef struct imgd_reference {
    char *domain; /* owned; "docker.io", "registry.example.com:5000", "[::1]:5000" */
    char *path;   /* owned; repository path without domain: "library/busybox", "team/app" */
    char *tag;    /* owned; NULL when absent (parse sets "latest" when neither tag nor digest) */
    char *digest; /* owned; "algorithm:encoded" or NULL */
} imgd_reference;

/* Parse and normalise an image reference into *out (which the caller disposes with
 * imgd_reference_dispose()). Returns 0, or -EINVAL with a one-line message naming the reference
 * and the bad part ("invalid reference 'busybox:la$t': invalid tag 'la$t'"), or -ENOMEM. *out is
 * untouched on failure. Thread-safe. */
int imgd_reference_parse(imgd_reference *out, const char *text, imgd_error **err);

/* Free the strings of ref and zero it; accepts NULL and a zeroed or disposed struct. Not for a ref
 * another thread reads. */
void imgd_reference_dispose(imgd_reference *ref);

/* The canonical text: "docker.io/library/busybox:latest", "host/x@sha256:...",
 * "host/x:t@sha256:...". Parsing it gives the same reference. Returns a malloc'd string the
 * caller frees, or NULL on allocation failure. Thread-safe. */
char *imgd_reference_format(const imgd_reference *ref);

/* The repository name "<domain>/<path>" ("docker.io/library/busybox"). Malloc'd, caller frees;
 * NULL on allocation failure. Thread-safe. */
char *imgd_reference_repository(const imgd_reference *ref);

/* Docker's short form: docker.io and a "library/" prefix of a one-component name are dropped
 * ("busybox:latest", "user/app:1", "quay.io/x/y:2"), tag and digest kept. Unlike docker, docker.io
 * stays when the path's first component would read back as a domain ("docker.io/a.b/c:1"), so the
 * short form always parses to the same reference. Malloc'd, caller frees; NULL on allocation
 * failure. Thread-safe. */
char *imgd_reference_familiar(const imgd_reference *ref);

/* The host to send registry API requests to: "registry-1.docker.io" for docker.io, else the
 * domain itself. Borrowed from ref (or static); valid while ref is. Thread-safe. */
const char *imgd_reference_api_host(const imgd_reference *ref);

/* True for a loopback registry domain: "localhost", "127.x.x.x" or an IPv6 loopback literal
 * ("[::1]"), each with an optional ":port". False for NULL. Thread-safe. */
bool imgd_reference_host_is_loopback(const char *domain);

/* Check a digest: "algorithm:encoded", algorithm components [a-z0-9]+ joined by [+._-], encoded
 * [a-zA-Z0-9=_-]+; sha256 needs 64 and sha512 128 lowercase hex digits. Other algorithms are
 * accepted by grammar. Returns 0 or -EINVAL with a message like
 * "invalid digest 'sha256:12': sha256 needs 64 hex digits". Thread-safe. */
int imgd_digest_validate(const char *digest, imgd_error **err);
