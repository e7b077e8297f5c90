/* SPDX-License-Identifier: MIT */
/* JSON helpers on top of jansson: bounded parsing of untrusted input and response encoding. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Parse untrusted JSON text. Rejects input nested deeper than max_depth arrays/objects before
 * jansson sees it, so a hostile body cannot exhaust the stack. The top level may be any value.
 * Returns 0 and a new reference in *out, or -EINVAL with a message naming line and column. */
int imgd_json_parse(json_t **out, const char *text, size_t len, unsigned max_depth,
                    imgd_error **err);

/* Maximum array/object nesting depth of JSON text, counting brackets outside strings; stops
 * counting once limit is exceeded and returns limit + 1. Pure; exposed for tests. */
unsigned imgd_json_depth(const char *text, size_t len, unsigned limit);

/* Encode as Flask's jsonify does: keys sorted, a trailing newline; compact separators, or
 * two-space indentation when pretty. Returns a malloc'd string (length in *out_len) or NULL on
 * allocation failure. */
char *imgd_json_encode(const json_t *value, bool pretty, size_t *out_len);

/* String member of an object, or NULL when absent or not a string. Borrowed. */
const char *imgd_json_get_string(const json_t *obj, const char *key);
