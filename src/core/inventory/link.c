/* SPDX-License-Identifier: MIT */
#include "link.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/cleanup.h"
#include "util/strutil.h"

#define LINK_ERR(err, why) imgd_error_set(err, EINVAL, "invalid Link header: " why)

/* ---- the header ---- */

/* True when the space-separated relation types in value include "next". */
static bool link_rel_is_next(const char *value, size_t len)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && (value[i] == ' ' || value[i] == '\t'))
            i++;
        size_t start = i;
        while (i < len && value[i] != ' ' && value[i] != '\t')
            i++;
        if (i - start == 4 && strncasecmp(value + start, "next", 4) == 0)
            return true;
    }
    return false;
}

/* Read a parameter value (a quoted string, unescaped into val, or a token) at *pp and advance
 * past it. val holds at least as many bytes as the header. */
static int link_read_value(const char **pp, char *val, size_t *len, imgd_error **err)
{
    const char *p = *pp;
    size_t n = 0;
    if (*p == '"') {
        for (p++; *p != '"'; p++) {
            if (*p == '\\')
                p++;
            if (*p == '\0')
                return LINK_ERR(err, "unterminated quoted string");
            val[n++] = *p;
        }
        p++;
    } else {
        while (imgd_http_is_tchar(*p))
            val[n++] = *p++;
        if (n == 0)
            return LINK_ERR(err, "parameter without a value after '='");
    }
    *pp = p;
    *len = n;
    return 0;
}

/* Read the parameters of one link, up to (not past) the ',' that ends it or the end of the
 * header; *next tells whether its first rel parameter names "next". */
static int link_read_params(const char **pp, bool *next, char *val, imgd_error **err)
{
    const char *p = *pp;
    bool seen_rel = false;
    for (;;) {
        p = imgd_http_skip_ows(p);
        if (*p == ',' || *p == '\0')
            break;
        if (*p != ';')
            return LINK_ERR(err, "expected ';' or ',' after a link");
        p = imgd_http_skip_ows(p + 1);
        if (*p == ';' || *p == ',' || *p == '\0')
            continue; /* an empty parameter */
        const char *name = p;
        while (imgd_http_is_tchar(*p))
            p++;
        size_t name_len = (size_t)(p - name);
        if (name_len == 0)
            return LINK_ERR(err, "expected a parameter name");
        p = imgd_http_skip_ows(p);
        size_t len = 0;
        if (*p == '=') {
            p = imgd_http_skip_ows(p + 1);
            int r = link_read_value(&p, val, &len, err);
            if (r < 0)
                return r;
        }
        if (name_len == 3 && strncasecmp(name, "rel", 3) == 0 && !seen_rel) {
            seen_rel = true; /* RFC 8288: occurrences after the first are ignored */
            *next = link_rel_is_next(val, len);
        }
    }
    *pp = p;
    return 0;
}

int imgd_link_next(char **out, const char *header, imgd_error **err)
{
    size_t n = strnlen(header, IMGD_LINK_HEADER_MAX + 1);
    if (n > IMGD_LINK_HEADER_MAX)
        return LINK_ERR(err, "longer than 8192 bytes");
    for (size_t i = 0; i < n; i++) {
        if (imgd_http_is_ctl(header[i]))
            return LINK_ERR(err, "control character");
    }
    _cleanup_free_ char *val = malloc(n + 1);
    if (!val)
        return imgd_error_set(err, ENOMEM, "out of memory parsing a Link header");
    const char *p = header;
    for (;;) {
        p = imgd_http_skip_ows(p);
        if (*p == '\0')
            break;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p != '<')
            return LINK_ERR(err, "expected '<'");
        const char *target = ++p;
        while (*p != '>' && *p != '\0')
            p++;
        if (*p == '\0')
            return LINK_ERR(err, "unterminated '<'");
        size_t target_len = (size_t)(p - target);
        if (target_len == 0)
            return LINK_ERR(err, "empty link target");
        bool next = false;
        p++;
        int r = link_read_params(&p, &next, val, err);
        if (r < 0)
            return r;
        if (next) {
            char *url = strndup(target, target_len);
            if (!url)
                return imgd_error_set(err, ENOMEM, "out of memory parsing a Link header");
            *out = url;
            return 0;
        }
    }
    *out = NULL;
    return 0;
}

/* ---- URL resolution ---- */

/* The components of a URI reference, as the regular expression of RFC 3986 appendix B splits
 * them: ^(([^:/?#]+):)?(//([^/?#]*))?([^?#]*)(\?([^#]*))?(#(.*))? */
typedef struct link_url {
    const char *scheme, *auth, *path, *query;
    size_t scheme_len, auth_len, path_len, query_len;
    bool has_scheme, has_auth, has_query;
} link_url;

static void link_split(link_url *u, const char *s)
{
    memset(u, 0, sizeof(*u));
    size_t k = strcspn(s, ":/?#");
    if (k > 0 && s[k] == ':') {
        u->scheme = s;
        u->scheme_len = k;
        u->has_scheme = true;
        s += k + 1;
    }
    if (s[0] == '/' && s[1] == '/') {
        s += 2;
        u->auth = s;
        u->auth_len = strcspn(s, "/?#");
        u->has_auth = true;
        s += u->auth_len;
    }
    u->path = s;
    u->path_len = strcspn(s, "?#");
    s += u->path_len;
    if (*s == '?') {
        u->query = ++s;
        u->query_len = strcspn(s, "#");
        u->has_query = true;
    }
}

static bool link_is_http(const link_url *u)
{
    return u->has_scheme && ((u->scheme_len == 4 && strncasecmp(u->scheme, "http", 4) == 0) ||
                             (u->scheme_len == 5 && strncasecmp(u->scheme, "https", 5) == 0));
}

static bool link_starts(const char *p, size_t rest, const char *prefix)
{
    size_t n = strlen(prefix);
    return rest >= n && memcmp(p, prefix, n) == 0;
}

/* Drop the last segment of out[0..o) and the '/' before it; returns the new length. */
static size_t link_pop_segment(const char *out, size_t o)
{
    while (o > 0 && out[o - 1] != '/')
        o--;
    return o > 0 ? o - 1 : 0;
}

/* RFC 3986 §5.2.4 remove_dot_segments of in[0..len) into out (at least len bytes, as the result
 * is never longer than the input); returns the length written. */
static size_t link_remove_dots(char *out, const char *in, size_t len)
{
    size_t i = 0, o = 0;
    while (i < len) {
        const char *p = in + i;
        size_t rest = len - i;
        if (link_starts(p, rest, "../")) {
            i += 3;
        } else if (link_starts(p, rest, "./") || link_starts(p, rest, "/./")) {
            i += 2;
        } else if (rest == 2 && memcmp(p, "/.", 2) == 0) {
            out[o++] = '/';
            i += 2;
        } else if (link_starts(p, rest, "/../")) {
            o = link_pop_segment(out, o);
            i += 3;
        } else if (rest == 3 && memcmp(p, "/..", 3) == 0) {
            o = link_pop_segment(out, o);
            out[o++] = '/';
            i += 3;
        } else if ((rest == 1 && p[0] == '.') || (rest == 2 && memcmp(p, "..", 2) == 0)) {
            i = len;
        } else {
            size_t k = p[0] == '/' ? 1 : 0;
            while (k < rest && p[k] != '/')
                k++;
            memcpy(out + o, p, k);
            o += k;
            i += k;
        }
    }
    return o;
}

/* Append s[0..len), percent-encoding the bytes a URL may not hold. */
static void link_append_encoded(imgd_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || strchr("\"<>\\^`{|}", c)) {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            imgd_buf_append(b, esc, 3);
        } else {
            imgd_buf_append(b, &s[i], 1);
        }
    }
}

/* Append the path of the result: the reference's (or the base's, or the two merged), dot
 * segments removed (from the base's too, which RFC 3986 leaves as it is: the result is the same
 * resource and needs no further normalisation). */
static int link_append_path(imgd_buf *b, const link_url *base, const link_url *ref)
{
    _cleanup_free_ char *merged = NULL;
    bool relative = !ref->has_scheme && !ref->has_auth;
    const char *path = relative && ref->path_len == 0 ? base->path : ref->path;
    size_t len = relative && ref->path_len == 0 ? base->path_len : ref->path_len;
    if (relative && ref->path_len > 0 && ref->path[0] != '/') {
        /* merge: the base path up to its last '/', or "/" when the base has none */
        size_t dir = base->path_len;
        while (dir > 0 && base->path[dir - 1] != '/')
            dir--;
        bool slash = dir == 0;
        if (!(merged = malloc(dir + slash + len + 1)))
            return -ENOMEM;
        memcpy(merged, slash ? "/" : base->path, slash ? 1 : dir);
        memcpy(merged + (slash ? 1 : dir), ref->path, len);
        path = merged;
        len += slash ? 1 : dir;
    }
    _cleanup_free_ char *clean = malloc(len + 1);
    if (!clean)
        return -ENOMEM;
    link_append_encoded(b, clean, link_remove_dots(clean, path, len));
    return 0;
}

static int link_build(imgd_buf *b, const link_url *base, const link_url *ref)
{
    const link_url *top = ref->has_scheme ? ref : base;
    for (size_t i = 0; i < top->scheme_len; i++) {
        char c = top->scheme[i];
        imgd_buf_append(b, (const char[]){c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c}, 1);
    }
    imgd_buf_append(b, "://", 3);
    const link_url *auth = ref->has_scheme || ref->has_auth ? ref : base;
    link_append_encoded(b, auth->auth, auth->auth_len);
    if (link_append_path(b, base, ref) < 0)
        return -ENOMEM;
    bool keep_base_query =
        ref->path_len == 0 && !ref->has_scheme && !ref->has_auth && !ref->has_query;
    const link_url *q = keep_base_query ? base : ref;
    if (q->has_query) {
        imgd_buf_append(b, "?", 1);
        link_append_encoded(b, q->query, q->query_len);
    }
    return b->failed ? -ENOMEM : 0;
}

int imgd_link_resolve(char **out, const char *base, const char *reference, imgd_error **err)
{
    link_url b, r;
    link_split(&b, base);
    link_split(&r, reference);
    if (!link_is_http(&b) || !b.has_auth || b.auth_len == 0)
        return imgd_error_set(err, EINVAL, "base URL is not an absolute http(s) URL");
    if (r.has_scheme && (!link_is_http(&r) || !r.has_auth))
        return imgd_error_set(err, EINVAL, "link target is not an http(s) URL");
    if (r.has_auth && r.auth_len == 0)
        return imgd_error_set(err, EINVAL, "link target has an empty host");
    if (strlen(base) > IMGD_LINK_URL_MAX || strlen(reference) > IMGD_LINK_URL_MAX)
        return imgd_error_set(err, EINVAL, "URL longer than %d bytes", IMGD_LINK_URL_MAX);
    imgd_buf buf = {0};
    if (link_build(&buf, &b, &r) < 0) {
        imgd_buf_dispose(&buf);
        return imgd_error_set(err, ENOMEM, "out of memory resolving a URL");
    }
    if (buf.len > IMGD_LINK_URL_MAX) {
        imgd_buf_dispose(&buf);
        return imgd_error_set(err, EINVAL, "URL longer than %d bytes", IMGD_LINK_URL_MAX);
    }
    char *url = imgd_buf_steal(&buf, NULL);
    if (!url)
        return imgd_error_set(err, ENOMEM, "out of memory resolving a URL");
    *out = url;
    return 0;
}

bool imgd_link_same_origin(const char *url, const char *origin)
{
    link_url o;
    link_split(&o, origin);
    if (!o.has_scheme || !o.has_auth)
        return false;
    size_t n = (size_t)(o.auth + o.auth_len - origin);
    return strncasecmp(url, origin, n) == 0 && (url[n] == '\0' || url[n] == '/' || url[n] == '?');
}
