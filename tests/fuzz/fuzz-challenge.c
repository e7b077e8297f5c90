/* SPDX-License-Identifier: MIT */
/* WWW-Authenticate values. Input: any bytes, as text up to the first NUL. Parsing returns cleanly
 * with a one-line EINVAL message or a challenge with a lower-case scheme; the token URL built from
 * it starts with the realm and adds nothing but percent-encoded query parameters. */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/registry/challenge.h"
#include "fuzz-text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT (2 * IMGD_CHALLENGE_HEADER_MAX)

static bool url_char_is_expected(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("-._~%=&?", c) != NULL;
}

static void check_token_url(const imgd_challenge *c, const char *const *scopes)
{
    char *url = imgd_challenge_token_url(c, scopes);
    if (!c->realm || !*c->realm) {
        assert(url == NULL);
        return;
    }
    assert(url != NULL);
    size_t n = strlen(c->realm);
    assert(strncmp(url, c->realm, n) == 0);
    for (const char *p = url + n; *p; p++)
        assert(url_char_is_expected(*p));
    free(url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const scopes[] = {"repository:a/b:pull,push", "", "x y", NULL};
    char *text = fuzz_text(data, size, FUZZ_MAX_INPUT);
    if (!text)
        return 0;

    imgd_challenge c = {0};
    imgd_error *err = NULL;
    int r = imgd_challenge_parse(&c, text, &err);
    if (r == 0) {
        assert(err == NULL);
        assert(c.scheme && *c.scheme);
        for (const char *p = c.scheme; *p; p++)
            assert(!(*p >= 'A' && *p <= 'Z'));
        check_token_url(&c, NULL);
        check_token_url(&c, scopes);
    } else {
        assert(r == -EINVAL || r == -ENOMEM);
        assert(err && err->code == -r && strchr(err->message, '\n') == NULL);
        assert(c.scheme == NULL && c.realm == NULL);
    }
    imgd_challenge_dispose(&c);
    imgd_error_free(err);
    free(text);
    return 0;
}
