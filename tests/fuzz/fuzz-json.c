/* SPDX-License-Identifier: MIT */
/* Untrusted JSON bodies. Input: any bytes, parsed within a depth of 64 as request bodies are. The
 * depth counter must agree with itself across limits and with the parser's verdict, and whatever
 * parses must encode to ASCII JSON that parses back to an equal value. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_DEPTH 64

static void check_encoding(const json_t *v, bool pretty)
{
    size_t len = 0;
    char *text = imgd_json_encode(v, pretty, &len);
    assert(text != NULL);
    assert(len > 0 && len == strlen(text) && text[len - 1] == '\n');
    for (size_t i = 0; i < len; i++)
        assert((unsigned char)text[i] < 0x80);
    if (!pretty)
        assert(memchr(text, '\n', len - 1) == NULL);
    json_t *back = NULL;
    imgd_error *err = NULL;
    int r = imgd_json_parse(&back, text, len, FUZZ_MAX_DEPTH, &err);
    assert(r == 0 && err == NULL);
    assert(json_equal(v, back));
    json_decref(back);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    unsigned depth = imgd_json_depth(text, size, FUZZ_MAX_DEPTH);
    assert(depth <= FUZZ_MAX_DEPTH + 1);
    /* a smaller limit stops at limit + 1 or agrees */
    unsigned small = imgd_json_depth(text, size, 8);
    assert(small == (depth > 8 ? 9 : depth));
    /* a prefix is never deeper */
    assert(imgd_json_depth(text, size / 2, FUZZ_MAX_DEPTH) <= depth);

    json_t *v = NULL;
    imgd_error *err = NULL;
    int r = imgd_json_parse(&v, text, size, FUZZ_MAX_DEPTH, &err);
    if (r < 0) {
        assert(v == NULL && err != NULL && err->message != NULL);
        assert(strchr(err->message, '\n') == NULL);
        if (size == 0)
            assert(strstr(err->message, "empty") != NULL);
        else if (depth > FUZZ_MAX_DEPTH)
            assert(strstr(err->message, "deeper than 64") != NULL);
        else
            assert(strncmp(err->message, "malformed JSON at line ", 23) == 0);
        imgd_error_free(err);
        return 0;
    }
    assert(err == NULL && v != NULL && size > 0 && depth <= FUZZ_MAX_DEPTH);
    check_encoding(v, false);
    check_encoding(v, true);
    json_decref(v);
    return 0;
}
