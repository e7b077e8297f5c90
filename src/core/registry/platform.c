/* SPDX-License-Identifier: MIT */
#include "platform.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define PLATFORM_PARTS_MAX 3
#define PLATFORM_VALUE_MAX (IMGD_PLATFORM_FIELD_MAX - 1)
/* Messages quote at most this much of the text: a valid one is shorter. */
#define PLATFORM_ERR(err, text, why)                                                               \
    imgd_error_set(err, EINVAL, "invalid platform '%.128s': %s", text, why)

/* A bare word naming one of these is an OS, not an architecture (GOOS values). */
static const char *const platform_known_os[] = {
    "aix",   "android", "darwin", "dragonfly", "freebsd", "illumos", "ios",
    "linux", "macos",   "netbsd", "openbsd",   "plan9",   "solaris", "windows",
};

/* Copy len bytes of src as a field value; len is at most PLATFORM_VALUE_MAX. */
static void platform_copy(char *field, const char *src, size_t len)
{
    assert(len <= PLATFORM_VALUE_MAX);
    memcpy(field, src, len);
    field[len] = '\0';
}

static void platform_set(char *field, const char *value)
{
    platform_copy(field, value, strlen(value));
}

static void platform_lower(char *s)
{
    for (; *s; s++) {
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
    }
}

static bool platform_is(const char *value, const char *a, const char *b)
{
    return strcmp(value, a) == 0 || (b && strcmp(value, b) == 0);
}

void imgd_platform_normalize(imgd_platform *p)
{
    assert(p);
    platform_lower(p->os);
    platform_lower(p->architecture);
    platform_lower(p->variant);
    if (strcmp(p->os, "macos") == 0)
        platform_set(p->os, "darwin");

    char *arch = p->architecture, *variant = p->variant;
    if (strcmp(arch, "i386") == 0) {
        platform_set(arch, "386");
        variant[0] = '\0';
    } else if (platform_is(arch, "x86_64", "x86-64") || strcmp(arch, "amd64") == 0) {
        platform_set(arch, "amd64");
        if (strcmp(variant, "v1") == 0)
            variant[0] = '\0';
    } else if (platform_is(arch, "aarch64", "arm64")) {
        platform_set(arch, "arm64");
        if (platform_is(variant, "8", "v8"))
            variant[0] = '\0';
    } else if (strcmp(arch, "armhf") == 0) {
        platform_set(arch, "arm");
        platform_set(variant, "v7");
    } else if (strcmp(arch, "armel") == 0) {
        platform_set(arch, "arm");
        platform_set(variant, "v6");
    } else if (strcmp(arch, "arm") == 0) {
        if (platform_is(variant, "", "7"))
            platform_set(variant, "v7");
        else if (strcmp(variant, "6") == 0)
            platform_set(variant, "v6");
        else if (strcmp(variant, "8") == 0)
            platform_set(variant, "v8");
    }
}

void imgd_platform_default(imgd_platform *out)
{
    assert(out);
    *out = (imgd_platform){0};
    platform_set(out->os, "linux");
    platform_set(out->architecture, "amd64");
}

static bool platform_is_known_os(const char *word)
{
    for (size_t i = 0; i < sizeof(platform_known_os) / sizeof(platform_known_os[0]); i++) {
        if (strcmp(word, platform_known_os[i]) == 0)
            return true;
    }
    return false;
}

static bool platform_char_is_valid(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* Split text at '/' into lower-cased, checked parts. Returns the part count or -EINVAL. */
static int platform_split(char parts[PLATFORM_PARTS_MAX][IMGD_PLATFORM_FIELD_MAX], const char *text,
                          imgd_error **err)
{
    int n = 0;
    const char *p = text;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (n == PLATFORM_PARTS_MAX)
            return PLATFORM_ERR(err, text, "more than os/architecture/variant");
        if (len == 0)
            return PLATFORM_ERR(err, text, "empty part");
        if (len > PLATFORM_VALUE_MAX)
            return PLATFORM_ERR(err, text, "a part is longer than 31 characters");
        platform_copy(parts[n], p, len);
        platform_lower(parts[n]);
        for (const char *c = parts[n]; *c; c++) {
            if (!platform_char_is_valid(*c))
                return PLATFORM_ERR(err, text, "invalid character (allowed: a-z 0-9 . _ -)");
        }
        n++;
        if (!slash)
            return n;
        p = slash + 1;
    }
}

int imgd_platform_parse(imgd_platform *out, const char *text, imgd_error **err)
{
    assert(out);
    if (!text || !*text)
        return PLATFORM_ERR(err, "", "platform is empty");
    char parts[PLATFORM_PARTS_MAX][IMGD_PLATFORM_FIELD_MAX] = {0};
    int n = platform_split(parts, text, err);
    if (n < 0)
        return n;
    imgd_platform p = {0};
    if (n == 1 && platform_is_known_os(parts[0])) {
        imgd_platform_default(&p);
        platform_set(p.os, parts[0]);
    } else if (n == 1) {
        platform_set(p.os, "linux");
        platform_set(p.architecture, parts[0]);
    } else {
        platform_set(p.os, parts[0]);
        platform_set(p.architecture, parts[1]);
        platform_set(p.variant, parts[2]);
    }
    imgd_platform_normalize(&p);
    *out = p;
    return 0;
}

bool imgd_platform_match(const imgd_platform *want, const imgd_platform *have)
{
    assert(want && have);
    imgd_platform w = *want, h = *have;
    imgd_platform_normalize(&w);
    imgd_platform_normalize(&h);
    if (strcmp(w.os, h.os) != 0 || strcmp(w.architecture, h.architecture) != 0)
        return false;
    return w.variant[0] == '\0' || strcmp(w.variant, h.variant) == 0;
}

void imgd_platform_format(char *buf, size_t len, const imgd_platform *p)
{
    assert(p && (buf || len == 0));
    if (len == 0)
        return;
    snprintf(buf, len, "%s/%s%s%s", p->os, p->architecture, p->variant[0] ? "/" : "", p->variant);
}

/* A JSON string value fitting a field: no embedded NUL, 1..31 bytes (0..31 when optional). */
static int platform_json_value(const char **out, const json_t *v, bool optional)
{
    if (optional && (!v || json_is_null(v))) {
        *out = "";
        return 0;
    }
    if (!json_is_string(v))
        return -EINVAL;
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (strlen(s) != len || len > PLATFORM_VALUE_MAX || (!optional && len == 0))
        return -EINVAL;
    *out = s;
    return 0;
}

int imgd_platform_from_json(imgd_platform *out, const json_t *obj)
{
    assert(out);
    if (!json_is_object(obj))
        return -EINVAL;
    const char *os = NULL, *arch = NULL, *variant = NULL;
    if (platform_json_value(&os, json_object_get(obj, "os"), false) < 0 ||
        platform_json_value(&arch, json_object_get(obj, "architecture"), false) < 0 ||
        platform_json_value(&variant, json_object_get(obj, "variant"), true) < 0)
        return -EINVAL;
    imgd_platform p = {0};
    platform_set(p.os, os);
    platform_set(p.architecture, arch);
    platform_set(p.variant, variant);
    *out = p;
    return 0;
}
