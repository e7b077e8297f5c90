/* SPDX-License-Identifier: MIT */
#include "strutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int imgd_parse_int64(int64_t *out, const char *s)
{
    if (!s || !*s)
        return -EINVAL;
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    if (*end != '\0')
        return -EINVAL;
    *out = v;
    return 0;
}

int imgd_parse_bool(bool *out, const char *s)
{
    static const char *const yes[] = {"1", "true", "yes", "on", "y", "t"};
    static const char *const no[] = {"0", "false", "no", "off", "n", "f"};
    if (!s)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}

bool imgd_str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool imgd_str_has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

size_t imgd_strv_length(char *const *strv)
{
    size_t n = 0;
    while (strv && strv[n])
        n++;
    return n;
}

int imgd_strv_push(char ***strv, const char *s)
{
    size_t n = imgd_strv_length(*strv);
    char *copy = strdup(s);
    if (!copy)
        return -ENOMEM;
    char **v = realloc(*strv, (n + 2) * sizeof(char *));
    if (!v) {
        free(copy);
        return -ENOMEM;
    }
    v[n] = copy;
    v[n + 1] = NULL;
    *strv = v;
    return 0;
}

char **imgd_strv_copy(char *const *strv)
{
    if (!strv)
        return NULL;
    size_t n = imgd_strv_length(strv);
    char **v = calloc(n + 1, sizeof(char *));
    if (!v)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        v[i] = strdup(strv[i]);
        if (!v[i]) {
            imgd_strv_free(v);
            return NULL;
        }
    }
    return v;
}

void imgd_strv_free(char **strv)
{
    if (!strv)
        return;
    for (char **s = strv; *s; s++)
        free(*s);
    free(strv);
}

char *imgd_str_strip_controls(char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            s[i] = ' ';
    }
    return s;
}

bool imgd_memeq_const(const void *a, const void *b, size_t len)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char diff = 0;
    for (size_t i = 0; i < len; i++)
        diff |= x[i] ^ y[i];
    return diff == 0;
}

bool imgd_http_is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

bool imgd_http_is_ctl(char c)
{
    return ((unsigned char)c < 0x20 && c != '\t') || c == 0x7f;
}

const char *imgd_http_skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}
