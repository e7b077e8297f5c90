/* SPDX-License-Identifier: MIT */
/* A growable byte buffer, always NUL-terminated after its bytes, for bodies and rendered text.
 * Size limits belong to the caller: check len before appending untrusted input. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef struct imgd_buf {
    char *data; /* owned; NULL until the first append */
    size_t len;
    size_t cap;
    bool failed; /* an append ran out of memory: the content is incomplete */
} imgd_buf;

/* Append len bytes. Returns 0, or -ENOMEM (and sets failed; later appends do nothing). */
int imgd_buf_append(imgd_buf *b, const void *data, size_t len);

/* Append formatted text. Returns 0 or -ENOMEM (as above). */
int imgd_buf_printf(imgd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Hand over the bytes (NUL-terminated, length in *out_len when not NULL) and reset the buffer.
 * Returns NULL when an append failed (the buffer is freed then) or nothing was appended. */
char *imgd_buf_steal(imgd_buf *b, size_t *out_len);

/* Free the bytes and reset; accepts a zeroed buffer. */
void imgd_buf_dispose(imgd_buf *b);

/* Room for at least need elements of size bytes in a growing array: array is the address of
 * the array's pointer (e.g. &v, with v NULL at first) and *cap its capacity in elements, doubled
 * from initial until it suffices. Returns 0, or -ENOMEM with the array and *cap unchanged. */
int imgd_array_reserve(void *array, size_t *cap, size_t need, size_t size, size_t initial);
