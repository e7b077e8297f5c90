/* SPDX-License-Identifier: MIT */
#include "buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Make room for extra more bytes plus the NUL. */
static int buf_reserve(imgd_buf *b, size_t extra)
{
    if (b->failed)
        return -ENOMEM;
    if (extra >= SIZE_MAX / 2 - b->len) {
        b->failed = true;
        return -ENOMEM;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        b->failed = true;
        return -ENOMEM;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

int imgd_buf_append(imgd_buf *b, const void *data, size_t len)
{
    if (buf_reserve(b, len) < 0)
        return -ENOMEM;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int imgd_buf_printf(imgd_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n) < 0) {
        b->failed = true;
        return -ENOMEM;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

char *imgd_buf_steal(imgd_buf *b, size_t *out_len)
{
    if (b->failed || !b->data) {
        imgd_buf_dispose(b);
        return NULL;
    }
    char *d = b->data;
    if (out_len)
        *out_len = b->len;
    memset(b, 0, sizeof(*b));
    return d;
}

void imgd_buf_dispose(imgd_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

int imgd_array_reserve(void *array, size_t *cap, size_t need, size_t size, size_t initial)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : (initial ? initial : 1);
    while (c < need) {
        if (c > SIZE_MAX / 2)
            return -ENOMEM;
        c *= 2;
    }
    void *old = NULL;
    memcpy(&old, array, sizeof(old)); /* array points to a T *, whatever T is */
    void *grown = reallocarray(old, c, size);
    if (!grown)
        return -ENOMEM;
    memcpy(array, &grown, sizeof(grown));
    *cap = c;
    return 0;
}
