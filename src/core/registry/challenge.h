/* SPDX-License-Identifier: MIT */
/* WWW-Authenticate challenges of registries (RFC 7235 syntax), and the token URL of the
 * docker/distribution Bearer flow built from one.
 *
 * Pure functions without state: thread-safe on distinct arguments. */
#pragma once

#include "util/error.h"

/* Longest header value accepted; longer ones are rejected before parsing. */
#define IMGD_CHALLENGE_HEADER_MAX 8192

typedef struct imgd_challenge {
    char *scheme;  /* owned; lower-cased: "bearer", "basic" */
    char *realm;   /* owned; NULL when absent */
    char *service; /* owned; NULL when absent */
    char *scope;   /* owned; NULL when absent; may hold several scopes separated by spaces */
    char *error;   /* owned; NULL when absent ("invalid_token", "insufficient_scope") */
} imgd_challenge;

/* Parse the first challenge of a WWW-Authenticate value, e.g.
 *
 *     Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push"
 *
 * Quoted values may hold commas, spaces and backslash escapes; unquoted (token) values are
 * accepted; spaces around '=' and ',' are optional; parameter names are case-insensitive; the
 * first of duplicate parameters wins; unknown parameters and later challenges are ignored.
 * The caller disposes *out with imgd_challenge_dispose(). Returns 0, or -EINVAL for a value over
 * 8192 bytes, a missing scheme, an unterminated quote, a control character or other malformed
 * syntax, or -ENOMEM. *out is untouched on failure. Thread-safe. */
int imgd_challenge_parse(imgd_challenge *out, const char *header, imgd_error **err);

/* Free the strings of c and zero it; accepts NULL and a zeroed or disposed struct. Not for a c
 * another thread reads. */
void imgd_challenge_dispose(imgd_challenge *c);

/* The token request URL "<realm>?service=<service>&scope=<s1>&scope=<s2>": values are
 * percent-encoded (everything but A-Z a-z 0-9 - . _ ~), '&' continues a realm that already has a
 * query, service is left out when absent. scopes is a NULL-terminated list; when scopes is NULL
 * the challenge's own scope value is used, split at spaces. Empty scopes are skipped. Returns a
 * malloc'd string the caller frees, or NULL when the challenge has no (or an empty) realm or on
 * allocation failure. Thread-safe. */
char *imgd_challenge_token_url(const imgd_challenge *c, const char *const *scopes);
