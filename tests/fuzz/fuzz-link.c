/* SPDX-License-Identifier: MIT */
/* Link headers and URL resolution. Input: text up to the first NUL; when it holds a newline,
 * the part before it is the base URL and the rest the header (else a fixed registry base).
 * Parsing returns cleanly with a one-line EINVAL message or a non-empty target; the target and
 * the whole header, resolved against the base, give an absolute http(s) URL with nothing that
 * must be escaped and no dot segments in its path, which resolves to itself again. */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/inventory/link.h"
#include "fuzz-text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT (2 * IMGD_LINK_HEADER_MAX)
#define FUZZ_BASE      "https://registry.example:5000/v2/team/app/tags/list?n=100"

static void check_path(const char *url)
{
    const char *p = strstr(url, "://");
    assert(p);
    p += 3 + strcspn(p + 3, "/?");
    size_t path_len = strcspn(p, "?");
    /* no "." or ".." segment is left */
    for (size_t i = 0; i < path_len;) {
        assert(p[i] == '/');
        size_t k = 1;
        while (i + k < path_len && p[i + k] != '/')
            k++;
        bool dot = (k == 2 && p[i + 1] == '.') || (k == 3 && p[i + 1] == '.' && p[i + 2] == '.');
        assert(!dot);
        i += k;
    }
}

static void check_resolve(const char *base, const char *ref)
{
    char *url = NULL;
    imgd_error *err = NULL;
    int r = imgd_link_resolve(&url, base, ref, &err);
    if (r < 0) {
        assert(r == -EINVAL || r == -ENOMEM);
        assert(err && err->code == -r && !strchr(err->message, '\n'));
        assert(url == NULL);
        imgd_error_free(err);
        return;
    }
    assert(err == NULL && url);
    assert(strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0);
    assert(strlen(url) <= IMGD_LINK_URL_MAX);
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        assert(*p > 0x20 && *p < 0x7f && !strchr("\"<>\\^`{|}#", *p));
    check_path(url);
    assert(imgd_link_same_origin(url, url));
    char *again = NULL;
    assert(imgd_link_resolve(&again, FUZZ_BASE, url, NULL) == 0);
    assert(strcmp(again, url) == 0);
    free(again);
    free(url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size, FUZZ_MAX_INPUT);
    if (!text)
        return 0;
    const char *base = FUZZ_BASE, *header = text;
    char *nl = strchr(text, '\n');
    if (nl) {
        *nl = '\0';
        base = text;
        header = nl + 1;
    }
    char *next = NULL;
    imgd_error *err = NULL;
    int r = imgd_link_next(&next, header, &err);
    if (r == 0) {
        assert(err == NULL);
        if (next) {
            assert(*next && !strchr(next, '>'));
            check_resolve(base, next);
        }
    } else {
        assert(r == -EINVAL || r == -ENOMEM);
        assert(err && err->code == -r && !strchr(err->message, '\n'));
        assert(next == NULL);
    }
    check_resolve(base, header);
    imgd_link_same_origin(header, base);
    free(next);
    imgd_error_free(err);
    free(text);
    return 0;
}
