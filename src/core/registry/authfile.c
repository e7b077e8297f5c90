/* SPDX-License-Identifier: MIT */
#include "authfile.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"

#define AUTHFILE_DEPTH_MAX 32
/* Keys quoted in messages are cut to this length. */
#define KEY_SHOWN 200
#define ENTRY_ERR(err, key, why)                                                                   \
    imgd_error_set(err, EINVAL, "auth file entry '%.*s': %s", KEY_SHOWN, key, why)

/* Where docker.io's credentials may be filed, besides "docker.io" itself. */
static const char *const authfile_docker_hosts[] = {"docker.io", "index.docker.io",
                                                    "registry-1.docker.io"};

/* A key or host reduced to "host[:port]": scheme and path dropped. */
typedef struct authfile_host {
    const char *host;
    size_t len;
    bool repository; /* a "host/repository" key (no scheme, something after the '/') */
} authfile_host;

static authfile_host authfile_host_of(const char *key)
{
    authfile_host h = {key, 0, false};
    bool url = false;
    if (strncasecmp(key, "https://", 8) == 0) {
        h.host += 8;
        url = true;
    } else if (strncasecmp(key, "http://", 7) == 0) {
        h.host += 7;
        url = true;
    }
    const char *slash = strchr(h.host, '/');
    h.len = slash ? (size_t)(slash - h.host) : strlen(h.host);
    h.repository = !url && slash && slash[1] != '\0';
    return h;
}

static bool authfile_host_eq(const authfile_host *a, const authfile_host *b)
{
    return a->len == b->len && strncasecmp(a->host, b->host, a->len) == 0;
}

static bool authfile_is_docker(const authfile_host *h)
{
    for (size_t i = 0; i < IMGD_ARRAY_SIZE(authfile_docker_hosts); i++) {
        const char *d = authfile_docker_hosts[i];
        if (h->len == strlen(d) && strncasecmp(h->host, d, h->len) == 0)
            return true;
    }
    return false;
}

/* How well a key names the wanted host: 0 is best, -1 is no match. */
static int authfile_rank(const char *key, const authfile_host *want)
{
    authfile_host k = authfile_host_of(key);
    if (k.len == 0)
        return -1;
    int penalty = k.repository ? 3 : 0;
    if (strlen(key) == want->len && strncasecmp(key, want->host, want->len) == 0)
        return 0;
    if (authfile_host_eq(&k, want))
        return 1 + penalty;
    if (authfile_is_docker(want) && authfile_is_docker(&k))
        return 2 + penalty;
    return -1;
}

/* A member that is absent, null or "" is not set; anything else is (and may be malformed). */
static bool authfile_member_set(const json_t *entry, const char *name)
{
    const json_t *v = json_object_get(entry, name);
    if (!v || json_is_null(v))
        return false;
    return !json_is_string(v) || json_string_length(v) > 0;
}

/* An entry with nothing in it defers to a credential helper, which is not supported: skip it. */
static bool authfile_entry_has_credentials(const json_t *entry)
{
    if (!json_is_object(entry))
        return true; /* malformed: reported when chosen */
    return authfile_member_set(entry, "auth") || authfile_member_set(entry, "username") ||
           authfile_member_set(entry, "password") || authfile_member_set(entry, "identitytoken");
}

static int authfile_b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decode standard base64, with or without '=' padding. Returns 0 with a malloc'd, NUL-terminated
 * buffer (length in *out_len), -EINVAL or -ENOMEM. */
static int authfile_base64_decode(char **out, size_t *out_len, const char *in, size_t len)
{
    size_t pad = 0;
    while (len > 0 && in[len - 1] == '=' && pad < 2) {
        len--;
        pad++;
    }
    if (len % 4 == 1)
        return -EINVAL;
    char *buf = malloc(len / 4 * 3 + 3);
    if (!buf)
        return -ENOMEM;
    size_t n = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = authfile_b64_value(in[i]);
        if (v < 0) {
            explicit_bzero(buf, len / 4 * 3 + 3);
            free(buf);
            return -EINVAL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return 0;
}

/* A string member without embedded NUL; NULL when unset. -EINVAL when of another type. */
static int authfile_get_string(const char **out, const json_t *entry, const char *name)
{
    const json_t *v = json_object_get(entry, name);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
        return -EINVAL;
    if (json_string_length(v) > 0)
        *out = json_string_value(v);
    return 0;
}

/* Split the decoded "user:password" of an "auth" member into c. */
static int authfile_decode_auth(imgd_credentials *c, const char *auth, const char *key,
                                imgd_error **err)
{
    char *plain = NULL;
    size_t len = 0;
    int r = authfile_base64_decode(&plain, &len, auth, strlen(auth));
    if (r == -ENOMEM)
        return imgd_error_set(err, ENOMEM, "out of memory reading auth file entry");
    if (r < 0)
        return ENTRY_ERR(err, key, "'auth' is not valid base64");
    char *colon = memchr(plain, ':', len);
    if (!colon || strlen(plain) != len) {
        explicit_bzero(plain, len);
        free(plain);
        return ENTRY_ERR(err, key, "'auth' does not decode to user:password");
    }
    c->username = strndup(plain, (size_t)(colon - plain));
    c->password = strdup(colon + 1);
    explicit_bzero(plain, len);
    free(plain);
    if (!c->username || !c->password)
        return imgd_error_set(err, ENOMEM, "out of memory reading auth file entry");
    return 0;
}

static int authfile_decode_entry(imgd_credentials *out, const json_t *entry, const char *key,
                                 imgd_error **err)
{
    if (!json_is_object(entry))
        return ENTRY_ERR(err, key, "not an object");
    const char *auth = NULL, *user = NULL, *pass = NULL, *token = NULL;
    if (authfile_get_string(&auth, entry, "auth") < 0)
        return ENTRY_ERR(err, key, "'auth' is not a string");
    if (authfile_get_string(&user, entry, "username") < 0)
        return ENTRY_ERR(err, key, "'username' is not a string");
    if (authfile_get_string(&pass, entry, "password") < 0)
        return ENTRY_ERR(err, key, "'password' is not a string");
    if (authfile_get_string(&token, entry, "identitytoken") < 0)
        return ENTRY_ERR(err, key, "'identitytoken' is not a string");

    _cleanup_(imgd_credentials_dispose) imgd_credentials c = {0};
    if (auth) {
        int r = authfile_decode_auth(&c, auth, key, err);
        if (r < 0)
            return r;
    } else if (user || pass) {
        if (!user || !pass)
            return ENTRY_ERR(
                err, key, user ? "'username' without 'password'" : "'password' without 'username'");
        c.username = strdup(user);
        c.password = strdup(pass);
        if (!c.username || !c.password)
            return imgd_error_set(err, ENOMEM, "out of memory reading auth file entry");
    }
    if (token && !(c.identity_token = strdup(token)))
        return imgd_error_set(err, ENOMEM, "out of memory reading auth file entry");
    if (!c.username && !c.identity_token)
        return imgd_error_set(err, ENOENT, "auth file entry '%.*s' holds no credentials", KEY_SHOWN,
                              key);
    *out = c;
    c = (imgd_credentials){0};
    return 0;
}

int imgd_authfile_lookup(imgd_credentials *out, const json_t *doc, const char *registry_host,
                         imgd_error **err)
{
    assert(out && registry_host);
    if (!json_is_object(doc))
        return imgd_error_set(err, EINVAL, "auth file is not a JSON object");
    const json_t *auths = json_object_get(doc, "auths");
    if (!auths || json_is_null(auths))
        return imgd_error_set(err, ENOENT, "no credentials for '%s' in the auth file",
                              registry_host);
    if (!json_is_object(auths))
        return imgd_error_set(err, EINVAL, "auth file: 'auths' is not an object");

    authfile_host want = authfile_host_of(registry_host);
    const char *best_key = NULL;
    const json_t *best = NULL;
    int best_rank = -1;
    const char *key;
    json_t *entry;
    json_object_foreach ((json_t *)auths, key, entry) {
        int rank = authfile_rank(key, &want);
        if (rank < 0 || !authfile_entry_has_credentials(entry))
            continue;
        if (best_rank < 0 || rank < best_rank || (rank == best_rank && strcmp(key, best_key) < 0)) {
            best_rank = rank;
            best_key = key;
            best = entry;
        }
    }
    if (!best)
        return imgd_error_set(err, ENOENT, "no credentials for '%s' in the auth file",
                              registry_host);
    return authfile_decode_entry(out, best, best_key, err);
}

int imgd_authfile_load(json_t **out, const char *path, imgd_error **err)
{
    assert(out && path);
    char *text = NULL;
    size_t len = 0;
    int r = imgd_read_file(&text, &len, path, IMGD_AUTHFILE_MAX, err);
    if (r < 0) {
        imgd_error_prefix(err, "auth file");
        return r;
    }
    json_t *doc = NULL;
    json_error_t jerr = {0};
    if (len == 0) {
        doc = json_object(); /* an empty file, as tools create it: no credentials */
    } else if (imgd_json_depth(text, len, AUTHFILE_DEPTH_MAX) > AUTHFILE_DEPTH_MAX) {
        r = imgd_error_set(err, EINVAL, "auth file '%s' nests deeper than %d levels", path,
                           AUTHFILE_DEPTH_MAX);
    } else {
        doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        /* jansson's own message quotes the text near the error, which may be a secret */
        if (!doc)
            r = imgd_error_set(err, EINVAL, "auth file '%s' is not valid JSON (line %d, column %d)",
                               path, jerr.line, jerr.column);
    }
    explicit_bzero(text, len);
    free(text);
    if (r < 0)
        return r;
    if (!doc)
        return imgd_error_set(err, ENOMEM, "out of memory reading auth file '%s'", path);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return imgd_error_set(err, EINVAL, "auth file '%s' is not a JSON object", path);
    }
    *out = doc;
    return 0;
}

void imgd_credentials_dispose(imgd_credentials *c)
{
    if (!c)
        return;
    imgd_secret_free(c->username);
    imgd_secret_free(c->password);
    imgd_secret_free(c->identity_token);
    *c = (imgd_credentials){0};
}
