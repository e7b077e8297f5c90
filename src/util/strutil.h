/* SPDX-License-Identifier: MIT */
/* Small string helpers: strict number and boolean parsing, NULL-terminated string vectors. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parse a whole decimal integer (optional sign, no trailing junk) into *out.
 * Returns 0, -EINVAL (not a number) or -ERANGE. */
int imgd_parse_int64(int64_t *out, const char *s);

/* Parse true/false, yes/no, on/off, 1/0 (any case). Returns 0 or -EINVAL. */
int imgd_parse_bool(bool *out, const char *s);

/* True when s starts with prefix / ends with suffix. */
bool imgd_str_has_prefix(const char *s, const char *prefix);
bool imgd_str_has_suffix(const char *s, const char *suffix);

/* Number of entries of a NULL-terminated vector; 0 for NULL. */
size_t imgd_strv_length(char *const *strv);

/* Append a copy of s to *strv (reallocating). Returns 0 or -ENOMEM. */
int imgd_strv_push(char ***strv, const char *s);

/* Deep copy of a vector; NULL for NULL input or on allocation failure (check the input). */
char **imgd_strv_copy(char *const *strv);

/* Free a vector and its strings; accepts NULL. */
void imgd_strv_free(char **strv);

/* Replace every control character (below 0x20, and 0x7f) of s[0..len) with a space, so text
 * that came from input stays on one line. Returns s. */
char *imgd_str_strip_controls(char *s, size_t len);

/* Constant-time comparison of two equally long buffers; true when equal. */
bool imgd_memeq_const(const void *a, const void *b, size_t len);

/* HTTP header grammar (RFC 9110): a tchar of a token; a control character (not HTAB) that no
 * header value may hold; p past optional whitespace (spaces and tabs). */
bool imgd_http_is_tchar(char c);
bool imgd_http_is_ctl(char c);
const char *imgd_http_skip_ows(const char *p);
