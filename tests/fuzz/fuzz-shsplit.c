/* SPDX-License-Identifier: MIT */
/* Command splitting. Input: text up to the first NUL. Splitting either fails cleanly with a
 * one-line EINVAL/E2BIG message and untouched outputs, or gives out_n words, NULL-terminated,
 * none holding a byte the input lacks, no more bytes in all than the input; every word is freed.
 * Quoting each word as shlex.quote() does and splitting the joined result gives the same words
 * back. */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-text.h"
#include "util/shsplit.h"
#include "util/strutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT (IMGD_SHELL_SPLIT_MAX_LEN + 16)

/* words joined by spaces, each in single quotes with ' written as '"'"' (shlex.quote()). */
static char *quote_join(char **words, size_t n, size_t total)
{
    char *s = malloc(5 * total + 3 * n + 1);
    if (!s)
        return NULL;
    char *p = s;
    for (size_t i = 0; i < n; i++) {
        *p++ = '\'';
        for (const char *c = words[i]; *c; c++) {
            if (*c == '\'') {
                memcpy(p, "'\"'\"'", 5);
                p += 5;
            } else {
                *p++ = *c;
            }
        }
        *p++ = '\'';
        *p++ = ' ';
    }
    *p = '\0';
    return s;
}

static void check_round_trip(char **words, size_t n, size_t total)
{
    char *joined = quote_join(words, n, total);
    if (!joined)
        return;
    char **again = NULL;
    size_t again_n = 0;
    int r = imgd_shell_split(&again, &again_n, joined, NULL);
    if (r == 0) {
        assert(again_n == n);
        for (size_t i = 0; i < n; i++)
            assert(strcmp(again[i], words[i]) == 0);
        imgd_strv_free(again);
    } else {
        /* only a quoted form too long to split again may fail */
        assert(r == -E2BIG || r == -ENOMEM);
        assert(strlen(joined) > IMGD_SHELL_SPLIT_MAX_LEN || r == -ENOMEM);
    }
    free(joined);
}

static void check_words(char **words, size_t n, const char *text)
{
    bool seen[256] = {false};
    size_t text_len = 0;
    for (; text[text_len]; text_len++)
        seen[(unsigned char)text[text_len]] = true;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        assert(words[i]);
        size_t len = strlen(words[i]);
        for (size_t k = 0; k < len; k++)
            assert(seen[(unsigned char)words[i][k]]);
        total += len;
    }
    assert(words[n] == NULL);
    assert(n <= IMGD_SHELL_SPLIT_MAX_WORDS);
    assert(total <= text_len);
    check_round_trip(words, n, total);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size, FUZZ_MAX_INPUT);
    if (!text)
        return 0;
    char **words = (char **)&text; /* a marker: untouched on failure */
    size_t n = SIZE_MAX;
    imgd_error *err = NULL;
    int r = imgd_shell_split(&words, &n, text, &err);
    if (r == 0) {
        assert(err == NULL);
        assert(imgd_strv_length(words) == n);
        check_words(words, n, text);
        imgd_strv_free(words);
    } else {
        assert(r == -EINVAL || r == -E2BIG || r == -ENOMEM);
        assert(err && err->code == -r && !strchr(err->message, '\n'));
        assert(words == (char **)&text && n == SIZE_MAX);
        if (r == -E2BIG)
            assert(strlen(text) > IMGD_SHELL_SPLIT_MAX_LEN ||
                   strlen(text) > 2 * IMGD_SHELL_SPLIT_MAX_WORDS);
    }
    imgd_error_free(err);
    free(text);
    return 0;
}
