/* SPDX-License-Identifier: MIT */
/* The one error object threaded through every fallible call.
 *
 * A fallible function returns 0 on success or a negative errno-style code, and on failure fills
 * `*err` (when err is not NULL) with the positive code and a one-line message. Making the error
 * returns the negative code, so a failure path is one line:
 *
 *     return imgd_error_set(err, ENOENT, "image '%s' not found", ref);
 *
 * Callers add context on the way up with imgd_error_prefix(). */
#pragma once

#include <stdarg.h>

typedef struct imgd_error {
    int code;      /* positive errno value (ENOENT, EINVAL, ...) */
    char *message; /* owned; one line, never NULL */
} imgd_error;

/* Fill *err (if err != NULL and *err is NULL) with code and a formatted message. An already set
 * *err is kept: the first, innermost error wins. Returns -abs(code). Thread-safe. */
int imgd_error_set(imgd_error **err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like imgd_error_set() with the message "<text>: strerror(code)". */
int imgd_error_errno(imgd_error **err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the message of *err with formatted context and ": ". No-op when err or *err is NULL.
 * Returns -(*err)->code, or -EIO when there is no error to prefix. */
int imgd_error_prefix(imgd_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Free an error; accepts NULL. */
void imgd_error_free(imgd_error *e);

static inline void imgd_error_freep(imgd_error **e)
{
    imgd_error_free(*e);
}
#define _cleanup_error_ __attribute__((cleanup(imgd_error_freep)))
