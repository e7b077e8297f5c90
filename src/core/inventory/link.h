/* SPDX-License-Identifier: MIT */
/* Pagination links: the `Link` response header (RFC 8288, formerly RFC 5988) that registries
 * and Harbor send with a partial listing, and the resolution of its (usually relative) target
 * against the URL that was requested (RFC 3986 §5.2).
 *
 * distribution sends   </v2/_catalog?last=t%2Flatest&n=2>; rel="next"
 * Harbor sends         </api/v2.0/projects?page=1&page_size=10>; rel="prev" , <...>; rel="next"
 *
 * Pure functions without state: thread-safe on distinct arguments. */
#pragma once

#include <stdbool.h>

#include "util/error.h"

/* Longest header value accepted; longer ones are rejected before parsing. */
#define IMGD_LINK_HEADER_MAX 8192
/* Longest URL imgd_link_resolve() produces (after percent-encoding). */
#define IMGD_LINK_URL_MAX 16384

/* The target of the first link whose relation types (rel, a space-separated list compared
 * case-insensitively; later rel parameters of a link are ignored) include "next". Links are
 * separated by commas with optional spaces and tabs around them; empty elements are skipped; the
 * target is whatever stands between '<' and the first '>' (commas and, as Harbor sends its query
 * unescaped, spaces included); parameter values may be tokens or quoted strings.
 *
 * Returns 0 with *out a malloc'd copy of the target as written (the caller frees it), or with
 * *out = NULL when no link is "next". Returns -EINVAL for a value over IMGD_LINK_HEADER_MAX, a
 * control character, an empty target or other malformed syntax (a one-line message that does
 * not quote the header), or -ENOMEM; *out is untouched then. Thread-safe. */
int imgd_link_next(char **out, const char *header, imgd_error **err);

/* Resolve reference (absolute, network-path, absolute-path, relative-path, query-only or empty)
 * against base, an absolute http or https URL, removing dot segments as RFC 3986 does and
 * dropping any fragment. Bytes that may not appear in a URL (controls, space, non-ASCII, and
 * " < > \ ^ ` { | }) are percent-encoded, so that a query sent unescaped, as Harbor sends it,
 * becomes a URL libcurl accepts; existing escapes are kept as they are.
 *
 * Returns 0 with *out a malloc'd URL the caller frees. Returns -EINVAL when base is not an
 * absolute http(s) URL with a host, when reference has a scheme other than http or https, or
 * when the result would be longer than IMGD_LINK_URL_MAX; -ENOMEM. *out is untouched on failure.
 * Thread-safe. */
int imgd_link_resolve(char **out, const char *base, const char *reference, imgd_error **err);

/* True when url starts with the scheme and authority of origin (an absolute URL, compared
 * case-insensitively) and continues with '/', '?' or nothing: a link that stays on the server
 * it came from, where credentials may be sent. Thread-safe. */
bool imgd_link_same_origin(const char *url, const char *origin);
