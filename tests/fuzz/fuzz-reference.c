/* SPDX-License-Identifier: MIT */
/* Image references. Input: any bytes, as text up to the first NUL. Whatever the input, parsing
 * returns cleanly with a one-line EINVAL message or a reference whose canonical form parses back
 * to itself, whose short (familiar) form names the same image, and whose repository name fits
 * docker's limit. The digest and loopback predicates run on the raw text as well. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/registry/reference.h"
#include "fuzz-text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Twice the parser's own bound, so the early length check is exercised too. */
#define FUZZ_MAX_INPUT (2 * IMGD_REFERENCE_TEXT_MAX)

static void check_error(int r, imgd_error *err)
{
    if (r == 0) {
        assert(err == NULL);
        return;
    }
    assert(r == -EINVAL || r == -ENOMEM);
    assert(err != NULL && err->message != NULL);
    assert(err->code == -r);
    assert(strchr(err->message, '\n') == NULL);
}

/* Parse text, which must succeed, and return its canonical form. */
static char *reformat(const char *text)
{
    imgd_reference ref = {0};
    imgd_error *err = NULL;
    int r = imgd_reference_parse(&ref, text, &err);
    assert(r == 0 && err == NULL);
    char *s = imgd_reference_format(&ref);
    assert(s != NULL);
    imgd_reference_dispose(&ref);
    return s;
}

static void check_reference(const imgd_reference *ref)
{
    assert(ref->domain && *ref->domain && ref->path && *ref->path);
    assert(ref->tag || ref->digest);
    if (ref->digest)
        assert(imgd_digest_validate(ref->digest, NULL) == 0);

    char *text = imgd_reference_format(ref);
    assert(text != NULL);
    char *again = reformat(text);
    assert(strcmp(again, text) == 0);

    char *familiar = imgd_reference_familiar(ref);
    assert(familiar != NULL);
    char *via_familiar = reformat(familiar);
    assert(strcmp(via_familiar, text) == 0);

    char *repo = imgd_reference_repository(ref);
    assert(repo != NULL);
    assert(strlen(repo) <= IMGD_REFERENCE_NAME_MAX);
    assert(strncmp(text, repo, strlen(repo)) == 0);

    const char *host = imgd_reference_api_host(ref);
    assert(host != NULL && *host);
    (void)imgd_reference_host_is_loopback(ref->domain);

    free(repo);
    free(via_familiar);
    free(familiar);
    free(again);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size, FUZZ_MAX_INPUT);
    if (!text)
        return 0;

    imgd_reference ref = {0};
    imgd_error *err = NULL;
    int r = imgd_reference_parse(&ref, text, &err);
    check_error(r, err);
    if (r == 0)
        check_reference(&ref);
    else
        assert(ref.domain == NULL && ref.path == NULL && ref.tag == NULL && ref.digest == NULL);
    imgd_reference_dispose(&ref);
    imgd_error_free(err);

    err = NULL;
    r = imgd_digest_validate(text, &err);
    check_error(r, err);
    imgd_error_free(err);
    (void)imgd_reference_host_is_loopback(text);

    free(text);
    return 0;
}
