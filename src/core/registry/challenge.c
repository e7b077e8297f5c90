/* SPDX-License-Identifier: MIT */
#include "challenge.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/cleanup.h"
#include "util/strutil.h"

#define CHALLENGE_ERR(err, why, ...)                                                               \
    imgd_error_set(err, EINVAL, "invalid WWW-Authenticate header: " why, ##__VA_ARGS__)
/* Parameter names quoted in messages are cut to this length. */
#define NAME_SHOWN 64

/* RFC 7235 token68, without its trailing '=' padding */
static bool challenge_is_token68(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("-._~+/", c));
}

static const char *challenge_skip_token(const char *p)
{
    while (imgd_http_is_tchar(*p))
        p++;
    return p;
}

/* True when p starts a token68 credential that fills the rest of this challenge. */
static bool challenge_at_token68(const char *p)
{
    const char *q = p;
    while (challenge_is_token68(*q))
        q++;
    if (q == p)
        return false;
    while (*q == '=')
        q++;
    q = imgd_http_skip_ows(q);
    return *q == '\0' || *q == ',';
}

/* The field a parameter name is kept in, or NULL for the ones we ignore. */
static char **challenge_field(imgd_challenge *c, const char *name, size_t len)
{
    static const struct {
        const char *name;
        size_t offset;
    } fields[] = {
        {"realm", offsetof(imgd_challenge, realm)},
        {"service", offsetof(imgd_challenge, service)},
        {"scope", offsetof(imgd_challenge, scope)},
        {"error", offsetof(imgd_challenge, error)},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (strlen(fields[i].name) == len && strncasecmp(fields[i].name, name, len) == 0)
            return (char **)((char *)c + fields[i].offset);
    }
    return NULL;
}

/* Read a quoted-string at *pp (just past the opening quote). When out is not NULL, store the
 * unescaped value there. Advances *pp past the closing quote. */
static int challenge_read_quoted(char **out, const char **pp, const char *name, size_t name_len,
                                 imgd_error **err)
{
    const char *p = *pp;
    size_t n = 0, i = 0;
    while (p[i] != '"') {
        if (p[i] == '\\')
            i++;
        if (p[i] == '\0')
            return CHALLENGE_ERR(err, "unterminated quoted value of '%.*s'", (int)name_len, name);
        if (imgd_http_is_ctl(p[i]))
            return CHALLENGE_ERR(err, "control character in the value of '%.*s'", (int)name_len,
                                 name);
        i++;
        n++;
    }
    *pp = p + i + 1;
    if (!out)
        return 0;
    char *v = malloc(n + 1);
    if (!v)
        return imgd_error_set(err, ENOMEM, "out of memory parsing WWW-Authenticate");
    size_t k = 0;
    for (size_t j = 0; j < i; j++) {
        if (p[j] == '\\')
            j++;
        v[k++] = p[j];
    }
    v[k] = '\0';
    *out = v;
    return 0;
}

/* Read a quoted or bare value at *pp and advance past it. */
static int challenge_read_value(char **out, const char **pp, const char *name, size_t name_len,
                                imgd_error **err)
{
    const char *p = *pp;
    if (*p == '"') {
        *pp = p + 1;
        return challenge_read_quoted(out, pp, name, name_len, err);
    }
    const char *end = p;
    while (*end && *end != ',' && *end != ' ' && *end != '\t' && *end != '"' &&
           !imgd_http_is_ctl(*end))
        end++;
    if (end == p)
        return CHALLENGE_ERR(err, "parameter '%.*s' has no value", (int)name_len, name);
    if (out) {
        *out = strndup(p, (size_t)(end - p));
        if (!*out)
            return imgd_error_set(err, ENOMEM, "out of memory parsing WWW-Authenticate");
    }
    *pp = end;
    return 0;
}

/* Parse "name = value" items separated by commas, from p up to the end of the header or the
 * start of the next challenge. after_comma: p follows a comma, so a bare token there is the next
 * challenge's scheme rather than an error. */
static int challenge_parse_params(imgd_challenge *c, const char *p, bool after_comma,
                                  imgd_error **err)
{
    for (;; after_comma = true) {
        const char *name = p;
        p = challenge_skip_token(p);
        size_t name_len = (size_t)(p - name);
        if (name_len == 0)
            return CHALLENGE_ERR(err, "expected a parameter name");
        int shown = name_len > NAME_SHOWN ? NAME_SHOWN : (int)name_len;
        p = imgd_http_skip_ows(p);
        if (*p != '=') {
            if (after_comma) /* a bare token after a comma: the next challenge's scheme */
                return 0;
            return CHALLENGE_ERR(err, "expected '=' after '%.*s'", shown, name);
        }
        p = imgd_http_skip_ows(p + 1);
        char **field = challenge_field(c, name, name_len);
        int r = challenge_read_value(field && !*field ? field : NULL, &p, name, (size_t)shown, err);
        if (r < 0)
            return r;
        p = imgd_http_skip_ows(p);
        if (*p == '\0')
            return 0;
        if (*p != ',')
            return CHALLENGE_ERR(err, "expected ',' after parameter '%.*s'", shown, name);
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            return 0;
    }
}

int imgd_challenge_parse(imgd_challenge *out, const char *header, imgd_error **err)
{
    assert(out);
    if (!header)
        return CHALLENGE_ERR(err, "missing authentication scheme");
    if (strnlen(header, IMGD_CHALLENGE_HEADER_MAX + 1) > IMGD_CHALLENGE_HEADER_MAX)
        return CHALLENGE_ERR(err, "longer than %d bytes", IMGD_CHALLENGE_HEADER_MAX);
    const char *p = header;
    while (*p == ',' || *p == ' ' || *p == '\t')
        p++;
    const char *scheme = p;
    p = challenge_skip_token(p);
    if (p == scheme || *p == '=')
        return CHALLENGE_ERR(err, "missing authentication scheme");
    if (*p != '\0' && *p != ' ' && *p != '\t' && *p != ',')
        return CHALLENGE_ERR(err, "invalid character after the authentication scheme");

    _cleanup_(imgd_challenge_dispose) imgd_challenge c = {0};
    c.scheme = strndup(scheme, (size_t)(p - scheme));
    if (!c.scheme)
        return imgd_error_set(err, ENOMEM, "out of memory parsing WWW-Authenticate");
    for (char *s = c.scheme; *s; s++) {
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
    }
    p = imgd_http_skip_ows(p);
    if (!challenge_at_token68(p)) {
        /* "Basic, realm=x" and "Bearer , realm=x": a parameter after the comma still belongs
         * to this challenge, since a challenge cannot start with one */
        bool after_comma = false;
        for (; *p == ',' || *p == ' ' || *p == '\t'; p++)
            after_comma = after_comma || *p == ',';
        int r = *p ? challenge_parse_params(&c, p, after_comma, err) : 0;
        if (r < 0)
            return r;
    }
    *out = c;
    c = (imgd_challenge){0};
    return 0;
}

void imgd_challenge_dispose(imgd_challenge *c)
{
    if (!c)
        return;
    free(c->scheme);
    free(c->realm);
    free(c->service);
    free(c->scope);
    free(c->error);
    *c = (imgd_challenge){0};
}

static bool challenge_is_unreserved(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Append "<sep><key>=<percent-encoded value[0..len)>" and make the separator '&'. */
static void challenge_append_param(imgd_buf *b, const char **sep, const char *key,
                                   const char *value, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    imgd_buf_printf(b, "%s%s=", *sep, key);
    *sep = "&";
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)value[i];
        if (challenge_is_unreserved((char)ch)) {
            imgd_buf_append(b, &value[i], 1);
        } else {
            char enc[3] = {'%', hex[ch >> 4], hex[ch & 0xf]};
            imgd_buf_append(b, enc, sizeof(enc));
        }
    }
}

char *imgd_challenge_token_url(const imgd_challenge *c, const char *const *scopes)
{
    assert(c);
    if (!c->realm || !*c->realm)
        return NULL;
    imgd_buf b = {0};
    imgd_buf_append(&b, c->realm, strlen(c->realm));
    const char *sep = "?";
    if (strchr(c->realm, '?')) {
        char last = c->realm[strlen(c->realm) - 1];
        sep = last == '?' || last == '&' ? "" : "&";
    }
    if (c->service)
        challenge_append_param(&b, &sep, "service", c->service, strlen(c->service));
    if (scopes) {
        for (const char *const *s = scopes; *s; s++) {
            if (**s)
                challenge_append_param(&b, &sep, "scope", *s, strlen(*s));
        }
    } else if (c->scope) {
        for (const char *s = c->scope; *s;) {
            size_t n = strcspn(s, " ");
            if (n > 0)
                challenge_append_param(&b, &sep, "scope", s, n);
            s += n;
            while (*s == ' ')
                s++;
        }
    }
    return imgd_buf_steal(&b, NULL);
}
