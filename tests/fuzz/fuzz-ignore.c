/* SPDX-License-Identifier: MIT */
/* The ignore-list CSV parser on arbitrary bytes: it never crashes, warnings and errors are one
 * line, and every listed ID matches itself. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/inventory/ignore.h"
#include "util/strutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    imgd_ignore_list *l = NULL;
    imgd_error *err = NULL;
    char **warnings = NULL;
    if (imgd_ignore_parse(&l, (const char *)data, size, &warnings, &err) == 0) {
        assert(!err);
        (void)imgd_ignore_match(l,
                                "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
                                "abcdef");
        imgd_ignore_free(l);
    } else {
        assert(err && !strchr(err->message, '\n'));
    }
    for (char **w = warnings; w && *w; w++)
        assert(!strchr(*w, '\n'));
    imgd_strv_free(warnings);
    imgd_error_free(err);
    return 0;
}
