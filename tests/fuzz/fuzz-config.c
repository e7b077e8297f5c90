/* SPDX-License-Identifier: MIT */
/* Config documents. Input: a JSON text, applied to a default config as a config file would be,
 * then finalized and printed as --print-config does. Whatever the input, every call returns
 * cleanly, errors carry a one-line message, and a set secret never leaves the process. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT (64 * 1024)

static void check_error(int r, imgd_error *err)
{
    if (r == 0) {
        assert(err == NULL);
        return;
    }
    assert(r < 0);
    assert(err != NULL && err->message != NULL);
    assert(err->code == -r);
    assert(strchr(err->message, '\n') == NULL);
}

/* The printed config: a set password is replaced, an empty one is shown, none is null. */
static void check_printed(const imgd_config *cfg)
{
    json_t *o = imgd_config_to_json(cfg);
    assert(o != NULL);
    json_t *pw = json_object_get(o, "harbor_password");
    if (cfg->harbor_password && *cfg->harbor_password)
        assert(json_is_string(pw) && strcmp(json_string_value(pw), "<redacted>") == 0);
    else if (cfg->harbor_password)
        assert(json_is_string(pw) && json_string_length(pw) == 0);
    else
        assert(json_is_null(pw));
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    assert(text != NULL);
    free(text);
    json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    json_error_t jerr;
    json_t *doc =
        json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        return 0;

    imgd_config cfg;
    imgd_error *err = NULL;
    int r = imgd_config_init(&cfg, &err);
    assert(r == 0);
    /* odd lengths resolve relative paths, as a config file in /etc/imgd would */
    r = imgd_config_apply_json(&cfg, doc, (size & 1) ? "/etc/imgd" : NULL, &err);
    check_error(r, err);
    if (r < 0)
        assert(err->code == EINVAL);
    imgd_error_free(err);
    err = NULL;
    for (char **w = cfg.warnings; w && *w; w++)
        assert(strchr(*w, '\n') == NULL);

    /* a failed apply leaves a config that can still be finalized and printed */
    r = imgd_config_finalize(&cfg, &err);
    check_error(r, err);
    if (r == 0) {
        assert(cfg.socket != NULL && cfg.listen != NULL);
        assert(cfg.max_workers > 0);
        for (char **a = cfg.listen; *a; a++) {
            char host[256];
            uint16_t port;
            assert(imgd_config_parse_listen(host, sizeof(host), &port, *a) == 0);
        }
    }
    imgd_error_free(err);
    check_printed(&cfg);

    imgd_config_dispose(&cfg);
    json_decref(doc);
    return 0;
}
