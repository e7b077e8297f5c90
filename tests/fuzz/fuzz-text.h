/* SPDX-License-Identifier: MIT */
/* For fuzz targets of text parsers: the input as a NUL-terminated string. */
#pragma once

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A malloc'd copy of data with a NUL after it, or NULL when size exceeds max (inputs the parser
 * would refuse by length anyway) or memory is short. Embedded NULs stay: the parser sees the
 * text up to the first one, as it would from a C string. */
static inline char *fuzz_text(const uint8_t *data, size_t size, size_t max)
{
    char *text = size <= max ? malloc(size + 1) : NULL;
    if (text) {
        memcpy(text, data, size);
        text[size] = '\0';
    }
    return text;
}
