/* SPDX-License-Identifier: MIT */
#include "json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

unsigned imgd_json_depth(const char *text, size_t len, unsigned limit)
{
    unsigned depth = 0, max = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++; /* skip the escaped character, whatever it is */
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max) {
                max = depth;
                if (max > limit)
                    return limit + 1;
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return max;
}

int imgd_json_parse(json_t **out, const char *text, size_t len, unsigned max_depth,
                    imgd_error **err)
{
    if (len == 0)
        return imgd_error_set(err, EINVAL, "request body is empty; JSON was expected");
    if (imgd_json_depth(text, len, max_depth) > max_depth)
        return imgd_error_set(err, EINVAL, "JSON nesting is deeper than %u levels", max_depth);
    json_error_t jerr;
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!v)
        return imgd_error_set(err, EINVAL, "malformed JSON at line %d, column %d: %s", jerr.line,
                              jerr.column, jerr.text);
    *out = v;
    return 0;
}

char *imgd_json_encode(const json_t *value, bool pretty, size_t *out_len)
{
    size_t flags = JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_ENSURE_ASCII;
    flags |= pretty ? JSON_INDENT(2) : JSON_COMPACT;
    char *s = json_dumps(value, flags);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *r = realloc(s, n + 2);
    if (!r) {
        free(s);
        return NULL;
    }
    r[n] = '\n';
    r[n + 1] = '\0';
    if (out_len)
        *out_len = n + 1;
    return r;
}

const char *imgd_json_get_string(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}
