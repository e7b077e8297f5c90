/* SPDX-License-Identifier: MIT */
#include "reference.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/cleanup.h"

#define DOCKER_DOMAIN    "docker.io"
#define DOCKER_API_HOST  "registry-1.docker.io"
#define DOCKER_LEGACY    "index.docker.io"
#define OFFICIAL_PREFIX  "library/"
#define DEFAULT_TAG      "latest"
#define TAG_MAX          128
#define PORT_DIGITS_MAX  5
#define IMAGE_ID_HEX_LEN 64
#define REF_ERR(err, text, fmt, ...)                                                               \
    imgd_error_set(err, EINVAL, "invalid reference '%s': " fmt, text, ##__VA_ARGS__)

/* A domain split into host and optional port; the host of an IPv6 literal excludes brackets. */
typedef struct reference_host {
    const char *host;
    size_t host_len;
    bool bracketed;
} reference_host;

static bool reference_is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool reference_is_alnum(char c)
{
    return reference_is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool reference_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool reference_is_hex(char c)
{
    return reference_is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* One path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
static bool reference_component_is_valid(const char *s, size_t len)
{
    size_t i = 0;
    for (;;) {
        if (i >= len || !reference_is_lower_alnum(s[i]))
            return false;
        while (i < len && reference_is_lower_alnum(s[i]))
            i++;
        if (i == len)
            return true;
        if (s[i] == '.') {
            i++;
        } else if (s[i] == '_') {
            i++;
            if (i < len && s[i] == '_')
                i++;
        } else if (s[i] == '-') {
            while (i < len && s[i] == '-')
                i++;
        } else {
            return false;
        }
    }
}

/* [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; the length is checked by the caller. */
static bool reference_tag_is_valid(const char *s, size_t len)
{
    if (len == 0 || !(reference_is_alnum(s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < len; i++) {
        if (!(reference_is_alnum(s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
            return false;
    }
    return true;
}

/* A port: 1 to 5 digits, value 1..65535. */
static bool reference_port_is_valid(const char *s, size_t len)
{
    if (len == 0 || len > PORT_DIGITS_MAX)
        return false;
    unsigned long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!reference_is_digit(s[i]))
            return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

/* Split "host[:port]" or "[v6][:port]" and check the port; the host is checked by the caller. */
static bool reference_split_host(reference_host *out, const char *s, size_t len)
{
    const char *port = NULL;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close)
            return false;
        out->host = s + 1;
        out->host_len = (size_t)(close - s) - 1;
        out->bracketed = true;
        size_t rest = len - (size_t)(close - s) - 1;
        if (rest > 0) {
            if (close[1] != ':')
                return false;
            port = close + 1;
        }
    } else {
        port = memchr(s, ':', len);
        out->host = s;
        out->host_len = port ? (size_t)(port - s) : len;
        out->bracketed = false;
    }
    if (port)
        return reference_port_is_valid(port + 1, len - (size_t)(port + 1 - s));
    return true;
}

/* DNS-ish labels [a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])? joined by '.' */
static bool reference_labels_are_valid(const char *s, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.')
            continue;
        size_t n = i - start;
        if (n == 0 || !reference_is_alnum(s[start]) || !reference_is_alnum(s[i - 1]))
            return false;
        for (size_t j = start; j < i; j++) {
            if (!reference_is_alnum(s[j]) && s[j] != '-')
                return false;
        }
        start = i + 1;
    }
    return true;
}

static bool reference_ipv6_is_valid(const char *s, size_t len, struct in6_addr *addr)
{
    char buf[INET6_ADDRSTRLEN];
    if (len == 0 || len >= sizeof(buf))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!reference_is_hex(s[i]) && s[i] != ':')
            return false;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    return inet_pton(AF_INET6, buf, addr) == 1;
}

static bool reference_domain_is_valid(const char *s, size_t len)
{
    reference_host h;
    if (!reference_split_host(&h, s, len))
        return false;
    if (h.bracketed) {
        struct in6_addr addr;
        return reference_ipv6_is_valid(h.host, h.host_len, &addr);
    }
    return reference_labels_are_valid(h.host, h.host_len);
}

bool imgd_reference_host_is_loopback(const char *domain)
{
    if (!domain)
        return false;
    reference_host h;
    if (!reference_split_host(&h, domain, strlen(domain)))
        return false;
    if (h.bracketed) {
        struct in6_addr addr;
        return reference_ipv6_is_valid(h.host, h.host_len, &addr) && IN6_IS_ADDR_LOOPBACK(&addr);
    }
    if (h.host_len == strlen("localhost") && strncasecmp(h.host, "localhost", h.host_len) == 0)
        return true;
    char buf[INET_ADDRSTRLEN];
    struct in_addr v4;
    if (h.host_len == 0 || h.host_len >= sizeof(buf))
        return false;
    memcpy(buf, h.host, h.host_len);
    buf[h.host_len] = '\0';
    if (inet_pton(AF_INET, buf, &v4) != 1)
        return false;
    return (ntohl(v4.s_addr) >> 24) == 127;
}

static int digest_fail(imgd_error **err, const char *digest, const char *why)
{
    return imgd_error_set(err, EINVAL, "invalid digest '%s': %s", digest, why);
}

/* Algorithm: components [a-z0-9]+ joined by one of [+._-]. */
static bool digest_algorithm_is_valid(const char *s, size_t len)
{
    bool need_alnum = true;
    for (size_t i = 0; i < len; i++) {
        if (reference_is_lower_alnum(s[i]))
            need_alnum = false;
        else if (!need_alnum && strchr("+._-", s[i]))
            need_alnum = true;
        else
            return false;
    }
    return !need_alnum;
}

static int digest_check_hex(imgd_error **err, const char *digest, const char *encoded, size_t want,
                            const char *alg)
{
    char why[64];
    if (strlen(encoded) != want) {
        snprintf(why, sizeof(why), "%s needs %zu hex digits", alg, want);
        return digest_fail(err, digest, why);
    }
    for (const char *p = encoded; *p; p++) {
        if (!reference_is_digit(*p) && !(*p >= 'a' && *p <= 'f')) {
            snprintf(why, sizeof(why), "%s needs lowercase hex digits", alg);
            return digest_fail(err, digest, why);
        }
    }
    return 0;
}

int imgd_digest_validate(const char *digest, imgd_error **err)
{
    if (!digest || !*digest)
        return imgd_error_set(err, EINVAL, "invalid digest '': digest is empty");
    const char *colon = strchr(digest, ':');
    if (!colon)
        return digest_fail(err, digest, "missing ':' between algorithm and encoded part");
    size_t alg_len = (size_t)(colon - digest);
    if (!digest_algorithm_is_valid(digest, alg_len))
        return digest_fail(err, digest, "invalid algorithm");
    const char *encoded = colon + 1;
    if (!*encoded)
        return digest_fail(err, digest, "encoded part is empty");
    for (const char *p = encoded; *p; p++) {
        if (!reference_is_alnum(*p) && *p != '=' && *p != '_' && *p != '-')
            return digest_fail(err, digest, "invalid character in encoded part");
    }
    if (alg_len == 6 && memcmp(digest, "sha256", 6) == 0)
        return digest_check_hex(err, digest, encoded, 64, "sha256");
    if (alg_len == 6 && memcmp(digest, "sha512", 6) == 0)
        return digest_check_hex(err, digest, encoded, 128, "sha512");
    return 0;
}

/* The pieces of a reference text, as spans into it, before any allocation. */
typedef struct reference_spans {
    const char *domain; /* NULL: docker.io */
    size_t domain_len;
    const char *path;
    size_t path_len;
    const char *tag; /* NULL: none */
    size_t tag_len;
    const char *digest; /* NULL: none */
} reference_spans;

static bool reference_is_image_id(const char *text, size_t len)
{
    if (len != IMAGE_ID_HEX_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!reference_is_digit(text[i]) && !(text[i] >= 'a' && text[i] <= 'f'))
            return false;
    }
    return true;
}

/* Split off "@digest" and ":tag" (the last ':' after the last '/'), checking both. */
static int reference_split_suffixes(reference_spans *s, size_t *name_len, const char *text,
                                    imgd_error **err)
{
    const char *at = strchr(text, '@');
    size_t n = at ? (size_t)(at - text) : strlen(text);
    if (at) {
        _cleanup_error_ imgd_error *derr = NULL;
        if (imgd_digest_validate(at + 1, &derr) < 0)
            return REF_ERR(err, text, "%s", derr ? derr->message : "invalid digest");
        s->digest = at + 1;
    }
    const char *colon = memrchr(text, ':', n);
    const char *slash = memrchr(text, '/', n);
    if (colon && (!slash || colon > slash)) {
        s->tag = colon + 1;
        s->tag_len = n - (size_t)(s->tag - text);
        n = (size_t)(colon - text);
        if (s->tag_len == 0)
            return REF_ERR(err, text, "tag is empty");
        if (s->tag_len > TAG_MAX)
            return REF_ERR(err, text, "invalid tag '%.*s': longer than %d characters",
                           (int)s->tag_len, s->tag, TAG_MAX);
        if (!reference_tag_is_valid(s->tag, s->tag_len))
            return REF_ERR(err, text, "invalid tag '%.*s'", (int)s->tag_len, s->tag);
    }
    if (n == 0)
        return REF_ERR(err, text, "repository name is empty");
    *name_len = n;
    return 0;
}

/* Docker's rule: the first component names a registry only if it looks like a host. */
static bool reference_first_is_domain(const char *s, size_t len)
{
    if (memchr(s, '.', len) || memchr(s, ':', len))
        return true;
    if (len == strlen("localhost") && memcmp(s, "localhost", len) == 0)
        return true;
    for (size_t i = 0; i < len; i++) {
        if (s[i] >= 'A' && s[i] <= 'Z')
            return true;
    }
    return false;
}

static int reference_check_path(const char *text, const char *path, size_t len, imgd_error **err)
{
    if (len == 0 || path[len - 1] == '/')
        return REF_ERR(err, text, "repository name must not end with '/'");
    if (path[0] == '/')
        return REF_ERR(err, text, "repository name must not start with '/'");
    for (size_t i = 0; i < len; i++) {
        if (path[i] >= 'A' && path[i] <= 'Z')
            return REF_ERR(err, text, "repository name '%.*s' must be lowercase", (int)len, path);
    }
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && path[i] != '/')
            continue;
        if (i == start)
            return REF_ERR(err, text, "repository name '%.*s' has an empty path component",
                           (int)len, path);
        if (!reference_component_is_valid(path + start, i - start))
            return REF_ERR(err, text, "invalid path component '%.*s'", (int)(i - start),
                           path + start);
        start = i + 1;
    }
    return 0;
}

static int reference_split_name(reference_spans *s, const char *text, size_t name_len,
                                imgd_error **err)
{
    const char *slash = memchr(text, '/', name_len);
    s->path = text;
    s->path_len = name_len;
    if (slash && slash != text && reference_first_is_domain(text, (size_t)(slash - text))) {
        size_t dlen = (size_t)(slash - text);
        if (!reference_domain_is_valid(text, dlen))
            return REF_ERR(err, text, "invalid domain '%.*s'", (int)dlen, text);
        if (!(dlen == strlen(DOCKER_LEGACY) && memcmp(text, DOCKER_LEGACY, dlen) == 0)) {
            s->domain = text;
            s->domain_len = dlen;
        }
        s->path = slash + 1;
        s->path_len = name_len - dlen - 1;
    }
    return reference_check_path(text, s->path, s->path_len, err);
}

static bool reference_is_docker(const char *domain, size_t len)
{
    return len == strlen(DOCKER_DOMAIN) && memcmp(domain, DOCKER_DOMAIN, len) == 0;
}

int imgd_reference_parse(imgd_reference *out, const char *text, imgd_error **err)
{
    assert(out);
    if (!text || !*text)
        return imgd_error_set(err, EINVAL, "invalid reference '': reference is empty");
    size_t len = strnlen(text, IMGD_REFERENCE_TEXT_MAX + 1);
    if (len > IMGD_REFERENCE_TEXT_MAX)
        return imgd_error_set(err, EINVAL, "invalid reference: longer than %d bytes",
                              IMGD_REFERENCE_TEXT_MAX);
    if (reference_is_image_id(text, len))
        return REF_ERR(err, text, "a 64-digit hex string is an image ID, not a repository name");

    reference_spans s = {0};
    size_t name_len = 0;
    int r = reference_split_suffixes(&s, &name_len, text, err);
    if (r < 0)
        return r;
    r = reference_split_name(&s, text, name_len, err);
    if (r < 0)
        return r;
    if (!s.domain) {
        s.domain = DOCKER_DOMAIN;
        s.domain_len = strlen(DOCKER_DOMAIN);
    }
    bool official = reference_is_docker(s.domain, s.domain_len) && !memchr(s.path, '/', s.path_len);
    size_t full = s.domain_len + 1 + (official ? strlen(OFFICIAL_PREFIX) : 0) + s.path_len;
    if (full > IMGD_REFERENCE_NAME_MAX)
        return REF_ERR(err, text, "repository name is longer than %d characters",
                       IMGD_REFERENCE_NAME_MAX);

    _cleanup_free_ char *domain = strndup(s.domain, s.domain_len);
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s%.*s", official ? OFFICIAL_PREFIX : "", (int)s.path_len, s.path) < 0)
        path = NULL;
    _cleanup_free_ char *tag =
        s.tag ? strndup(s.tag, s.tag_len) : (s.digest ? NULL : strdup(DEFAULT_TAG));
    _cleanup_free_ char *digest = s.digest ? strdup(s.digest) : NULL;
    if (!domain || !path || (!tag && (s.tag || !s.digest)) || (!digest && s.digest))
        return imgd_error_set(err, ENOMEM, "out of memory parsing reference");
    out->domain = TAKE_PTR(domain);
    out->path = TAKE_PTR(path);
    out->tag = TAKE_PTR(tag);
    out->digest = TAKE_PTR(digest);
    return 0;
}

void imgd_reference_dispose(imgd_reference *ref)
{
    if (!ref)
        return;
    free(ref->domain);
    free(ref->path);
    free(ref->tag);
    free(ref->digest);
    *ref = (imgd_reference){0};
}

/* "[domain/]path[:tag][@digest]" */
static char *reference_join(const char *domain, const char *path, const char *tag,
                            const char *digest)
{
    char *s = NULL;
    if (asprintf(&s, "%s%s%s%s%s%s%s", domain ? domain : "", domain ? "/" : "", path,
                 tag ? ":" : "", tag ? tag : "", digest ? "@" : "", digest ? digest : "") < 0)
        return NULL;
    return s;
}

char *imgd_reference_format(const imgd_reference *ref)
{
    assert(ref && ref->domain && ref->path);
    return reference_join(ref->domain, ref->path, ref->tag, ref->digest);
}

char *imgd_reference_repository(const imgd_reference *ref)
{
    assert(ref && ref->domain && ref->path);
    return reference_join(ref->domain, ref->path, NULL, NULL);
}

char *imgd_reference_familiar(const imgd_reference *ref)
{
    assert(ref && ref->domain && ref->path);
    if (strcmp(ref->domain, DOCKER_DOMAIN) != 0)
        return reference_join(ref->domain, ref->path, ref->tag, ref->digest);
    const char *path = ref->path;
    size_t prefix = strlen(OFFICIAL_PREFIX);
    if (strncmp(path, OFFICIAL_PREFIX, prefix) == 0 && !strchr(path + prefix, '/'))
        path += prefix;
    /* Docker would print "a.b/c" for docker.io/a.b/c, which reads back as domain "a.b" */
    const char *slash = strchr(path, '/');
    if (slash && reference_first_is_domain(path, (size_t)(slash - path)))
        return reference_join(ref->domain, ref->path, ref->tag, ref->digest);
    return reference_join(NULL, path, ref->tag, ref->digest);
}

const char *imgd_reference_api_host(const imgd_reference *ref)
{
    assert(ref && ref->domain);
    return strcmp(ref->domain, DOCKER_DOMAIN) == 0 ? DOCKER_API_HOST : ref->domain;
}
