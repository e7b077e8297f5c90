/* SPDX-License-Identifier: MIT */
#include "client.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "challenge.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/strutil.h"

#define ACCEPT_MANIFESTS                                                                           \
    "Accept: application/vnd.oci.image.index.v1+json, "                                            \
    "application/vnd.oci.image.manifest.v1+json, "                                                 \
    "application/vnd.docker.distribution.manifest.list.v2+json, "                                  \
    "application/vnd.docker.distribution.manifest.v2+json"
#define MANIFEST_MAX    (4u * 1024u * 1024u)
#define ERROR_BODY_MAX  (64u * 1024u)
#define TOKEN_BODY_MAX  (1024u * 1024u)
#define MAX_TOKENS      64
#define MAX_ENDPOINTS   9 /* mirrors + the registry itself */
#define RETRY_AFTER_MAX 30

typedef struct cached_token {
    char *key; /* realm \n service \n scope */
    char *token;
    time_t expires;
} cached_token;

struct imgd_registry {
    json_t *hosts;
    json_t *auth;
    long connect_timeout, stall_timeout;
    unsigned attempts;
    pthread_mutex_t lock;
    cached_token tokens[MAX_TOKENS];
};

struct imgd_registry_session {
    imgd_registry *reg;
    CURL *curl;
    char domain[256]; /* as the reference names it: settings and credentials */
    char *repo;
    char *ca_file;
    char *username, *password; /* secrets */
    char *auth;                /* the Authorization header line that worked last */
    char *endpoints[MAX_ENDPOINTS];
    bool verify[MAX_ENDPOINTS];   /* check the TLS certificate of that endpoint */
    unsigned host[MAX_ENDPOINTS]; /* endpoints of one host (https, http) share a number */
    size_t n_endpoints;
    size_t current; /* index into endpoints */
};

/* ---- the shared registry ---- */

int imgd_registry_new(imgd_registry **out, const imgd_registry_options *opts, imgd_error **err)
{
    /* curl_global_init is not thread-safe: this runs once, at start, before any pull */
    static bool curl_ready;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return imgd_error_set(err, EIO, "libcurl failed to initialise");
        curl_ready = true;
    }
    imgd_registry *reg = calloc(1, sizeof(*reg));
    if (!reg)
        return imgd_error_set(err, ENOMEM, "out of memory");
    pthread_mutex_init(&reg->lock, NULL);
    reg->hosts = opts->registries ? json_deep_copy(opts->registries) : json_object();
    reg->connect_timeout = opts->connect_timeout > 0 ? opts->connect_timeout : 30;
    reg->stall_timeout = opts->stall_timeout > 0 ? opts->stall_timeout : 60;
    reg->attempts = opts->attempts ? opts->attempts : 4;
    int r = reg->hosts ? 0 : imgd_error_set(err, ENOMEM, "out of memory");
    if (r == 0 && opts->auth_file && *opts->auth_file) {
        imgd_error *inner = NULL;
        r = imgd_authfile_load(&reg->auth, opts->auth_file, &inner);
        if (r == -ENOENT) { /* no file, no credentials from it */
            imgd_error_free(inner);
            r = 0;
        } else if (r < 0) {
            if (err && !*err)
                *err = inner;
            else
                imgd_error_free(inner);
        }
    }
    if (r < 0) {
        imgd_registry_free(reg);
        return r;
    }
    *out = reg;
    return 0;
}

void imgd_registry_free(imgd_registry *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < MAX_TOKENS; i++) {
        free(reg->tokens[i].key);
        imgd_secret_free(reg->tokens[i].token);
    }
    json_decref(reg->hosts);
    json_decref(reg->auth);
    pthread_mutex_destroy(&reg->lock);
    free(reg);
}

static char *token_lookup(imgd_registry *reg, const char *key)
{
    char *found = NULL;
    if (!key)
        return NULL;
    time_t now = time(NULL);
    pthread_mutex_lock(&reg->lock);
    for (size_t i = 0; i < MAX_TOKENS; i++) {
        cached_token *t = &reg->tokens[i];
        if (t->key && t->token && strcmp(t->key, key) == 0 && t->expires > now) {
            found = strdup(t->token);
            break;
        }
    }
    pthread_mutex_unlock(&reg->lock);
    return found;
}

static void token_store(imgd_registry *reg, const char *key, const char *token, long lifetime)
{
    time_t now = time(NULL);
    if (!key || !token)
        return;
    pthread_mutex_lock(&reg->lock);
    size_t slot = 0;
    for (size_t i = 0; i < MAX_TOKENS; i++) {
        if (!reg->tokens[i].key || reg->tokens[i].expires <= now ||
            strcmp(reg->tokens[i].key, key) == 0) {
            slot = i;
            break;
        }
        if (reg->tokens[i].expires < reg->tokens[slot].expires)
            slot = i; /* full: replace the one closest to expiring */
    }
    cached_token *t = &reg->tokens[slot];
    free(t->key);
    imgd_secret_free(t->token);
    t->key = strdup(key);
    t->token = strdup(token);
    /* renew a little early: a token must not expire between lookup and use */
    t->expires = now + (lifetime > 20 ? lifetime - 10 : lifetime / 2);
    if (!t->key || !t->token) {
        free(t->key);
        imgd_secret_free(t->token);
        t->key = t->token = NULL;
    }
    pthread_mutex_unlock(&reg->lock);
}

/* ---- sessions ---- */

static const json_t *host_settings(const imgd_registry *reg, const char *domain)
{
    return json_object_get(reg->hosts, domain);
}

static int push_endpoint(imgd_registry_session *s, const char *scheme, const char *host,
                         bool verify, imgd_error **err)
{
    if (s->n_endpoints >= MAX_ENDPOINTS)
        return 0;
    if (asprintf(&s->endpoints[s->n_endpoints], "%s://%s", scheme, host) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    s->verify[s->n_endpoints] = verify;
    /* a new host unless the previous endpoint is the same host by another scheme */
    const char *prev = s->n_endpoints ? strstr(s->endpoints[s->n_endpoints - 1], "://") : NULL;
    bool same = prev && strcmp(prev + 3, host) == 0;
    s->host[s->n_endpoints] = s->n_endpoints == 0 ? 0
                              : same              ? s->host[s->n_endpoints - 1]
                                                  : s->host[s->n_endpoints - 1] + 1;
    s->n_endpoints++;
    return 0;
}

/* A registry is tried over HTTPS. An insecure one (configured so, or on a loopback address, as
 * docker treats those) is tried over HTTPS without checking the certificate, then over plain
 * HTTP; with a CA file configured, over HTTPS checked against it only. */
static int add_endpoint(imgd_registry_session *s, const char *host, imgd_error **err)
{
    const json_t *settings = host_settings(s->reg, host);
    bool insecure = json_is_true(json_object_get(settings, "insecure")) ||
                    imgd_reference_host_is_loopback(host);
    bool has_ca = json_is_string(json_object_get(settings, "ca_file"));
    const char *api_host = strcmp(host, "docker.io") == 0 ? "registry-1.docker.io" : host;
    int r = push_endpoint(s, "https", api_host, !insecure || has_ca, err);
    if (r == 0 && insecure && !has_ca) /* a CA file says the registry speaks TLS */
        r = push_endpoint(s, "http", api_host, false, err);
    return r;
}

static int session_settings(imgd_registry_session *s, const imgd_credentials *creds,
                            imgd_error **err)
{
    const json_t *settings = host_settings(s->reg, s->domain);
    const json_t *mirrors = json_object_get(settings, "mirrors");
    size_t i;
    json_t *m;
    json_array_foreach (mirrors, i, m) {
        if (json_is_string(m) && add_endpoint(s, json_string_value(m), err) < 0)
            return -ENOMEM;
    }
    if (add_endpoint(s, s->domain, err) < 0)
        return -ENOMEM;
    const char *ca = json_string_value(json_object_get(settings, "ca_file"));
    if (ca && !(s->ca_file = strdup(ca)))
        return imgd_error_set(err, ENOMEM, "out of memory");
    const char *user = creds ? creds->username : NULL, *pass = creds ? creds->password : NULL;
    if (!user) {
        user = json_string_value(json_object_get(settings, "username"));
        pass = json_string_value(json_object_get(settings, "password"));
    }
    imgd_credentials from_file = {0};
    if (!user && s->reg->auth &&
        imgd_authfile_lookup(&from_file, s->reg->auth, s->domain, NULL) == 0) {
        user = from_file.username;
        pass = from_file.password;
    }
    int r = 0;
    if (user && (!(s->username = strdup(user)) || !(s->password = strdup(pass ? pass : ""))))
        r = imgd_error_set(err, ENOMEM, "out of memory");
    imgd_credentials_dispose(&from_file);
    return r;
}

int imgd_registry_session_open(imgd_registry_session **out, imgd_registry *reg,
                               const imgd_reference *ref, const imgd_credentials *creds,
                               imgd_error **err)
{
    imgd_registry_session *s = calloc(1, sizeof(*s));
    if (!s)
        return imgd_error_set(err, ENOMEM, "out of memory");
    s->reg = reg;
    snprintf(s->domain, sizeof(s->domain), "%s", ref->domain);
    s->repo = strdup(ref->path);
    s->curl = curl_easy_init();
    int r = s->repo && s->curl ? 0 : imgd_error_set(err, ENOMEM, "out of memory");
    if (r == 0)
        r = session_settings(s, creds, err);
    if (r < 0) {
        imgd_registry_session_free(s);
        return r;
    }
    *out = s;
    return 0;
}

int imgd_registry_session_clone(imgd_registry_session **out, const imgd_registry_session *src,
                                imgd_error **err)
{
    imgd_registry_session *s = calloc(1, sizeof(*s));
    if (!s)
        return imgd_error_set(err, ENOMEM, "out of memory");
    s->reg = src->reg;
    memcpy(s->domain, src->domain, sizeof(s->domain));
    s->repo = strdup(src->repo);
    s->curl = curl_easy_init();
    s->current = src->current;
    memcpy(s->verify, src->verify, sizeof(s->verify));
    memcpy(s->host, src->host, sizeof(s->host));
    bool ok = s->repo && s->curl;
    if (ok && src->ca_file)
        ok = (s->ca_file = strdup(src->ca_file)) != NULL;
    if (ok && src->username)
        ok = (s->username = strdup(src->username)) && (s->password = strdup(src->password));
    if (ok && src->auth)
        ok = (s->auth = strdup(src->auth)) != NULL;
    for (size_t i = 0; ok && i < src->n_endpoints; i++) {
        ok = (s->endpoints[i] = strdup(src->endpoints[i])) != NULL;
        s->n_endpoints = i + 1;
    }
    if (!ok) {
        imgd_registry_session_free(s);
        return imgd_error_set(err, ENOMEM, "out of memory");
    }
    *out = s;
    return 0;
}

void imgd_registry_session_free(imgd_registry_session *s)
{
    if (!s)
        return;
    if (s->curl)
        curl_easy_cleanup(s->curl);
    free(s->repo);
    free(s->ca_file);
    imgd_secret_free(s->username);
    imgd_secret_free(s->password);
    imgd_secret_free(s->auth);
    for (size_t i = 0; i < s->n_endpoints; i++)
        free(s->endpoints[i]);
    free(s);
}

const char *imgd_registry_session_endpoint(const imgd_registry_session *s)
{
    return s->n_endpoints ? s->endpoints[s->current] : "";
}

/* ---- one HTTP exchange ---- */

typedef struct transfer {
    long status;
    char content_type[128];
    char www_auth[2048];
    long retry_after;
    /* buffered bodies (manifests, configs) */
    imgd_buf *body;
    size_t body_max;
    bool too_big;
    /* streamed bodies (layers) */
    imgd_registry_sink sink;
    void *sink_ctx;
    uint64_t *delivered;
    uint64_t resume_offset; /* the Range asked for */
    uint64_t skip;          /* bytes the server sent again because it ignored our Range */
    int sink_error;
    imgd_error *sink_err;
    imgd_buf error_body;
    /* requests below the endpoint root instead of /v2/<repo> (imgd_registry_session_get) */
    const char *root_path;
    char *link; /* when not NULL, the Link header values are kept here */
    size_t link_size;
    bool link_cut; /* they did not fit */
} transfer;

static void transfer_reset(transfer *t)
{
    t->status = 0;
    t->content_type[0] = t->www_auth[0] = '\0';
    t->retry_after = 0;
    t->too_big = false;
    t->skip = 0;
    t->link_cut = false;
    if (t->link)
        t->link[0] = '\0';
    imgd_buf_dispose(&t->error_body);
    if (t->body)
        imgd_buf_dispose(t->body);
}

/* Copy the trimmed value into out (cut to len - 1 bytes); returns its length before cutting. */
static size_t header_value(char *out, size_t len, const char *line, size_t n, size_t name_len)
{
    const char *v = line + name_len;
    size_t vn = n - name_len;
    while (vn && (*v == ' ' || *v == '\t')) {
        v++;
        vn--;
    }
    while (vn && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' '))
        vn--;
    snprintf(out, len, "%.*s", (int)(vn < len ? vn : len - 1), v);
    return vn;
}

/* Several Link header lines are one list (RFC 9110 §5.3): join them with ", ". */
static void append_link(transfer *t, const char *line, size_t n)
{
    size_t used = strlen(t->link);
    if (used && used + 3 >= t->link_size) {
        t->link_cut = true;
        return;
    }
    if (used) {
        memcpy(t->link + used, ", ", 3);
        used += 2;
    }
    if (header_value(t->link + used, t->link_size - used, line, n, 5) >= t->link_size - used)
        t->link_cut = true;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *userdata)
{
    transfer *t = userdata;
    size_t n = size * nitems;
    if (n > 5 && strncmp(line, "HTTP/", 5) == 0) { /* a new response (after a redirect) */
        const char *sp = memchr(line, ' ', n);
        t->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        /* a 206 starts where we asked; a 200 starts over, and what we have is dropped again */
        t->skip = t->status == 206 ? 0 : t->resume_offset;
        t->content_type[0] = t->www_auth[0] = '\0';
        t->retry_after = 0;
        t->link_cut = false;
        if (t->link)
            t->link[0] = '\0';
        return n;
    }
    char tmp[32];
    if (n > 13 && strncasecmp(line, "content-type:", 13) == 0)
        header_value(t->content_type, sizeof(t->content_type), line, n, 13);
    else if (n > 17 && strncasecmp(line, "www-authenticate:", 17) == 0)
        header_value(t->www_auth, sizeof(t->www_auth), line, n, 17);
    else if (n > 12 && strncasecmp(line, "retry-after:", 12) == 0) {
        header_value(tmp, sizeof(tmp), line, n, 12);
        long v = strtol(tmp, NULL, 10); /* an HTTP-date gives 0: the default backoff then */
        t->retry_after = v > 0 ? (v < RETRY_AFTER_MAX ? v : RETRY_AFTER_MAX) : 0;
    } else if (t->link && n > 5 && strncasecmp(line, "link:", 5) == 0) {
        append_link(t, line, n);
    }
    return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    transfer *t = userdata;
    size_t n = size * nmemb;
    if (t->status < 200 || t->status >= 300) {
        if (t->error_body.len + n <= ERROR_BODY_MAX)
            imgd_buf_append(&t->error_body, data, n);
        return n;
    }
    if (t->body) {
        if (t->body->len + n > t->body_max) {
            t->too_big = true;
            return 0;
        }
        return imgd_buf_append(t->body, data, n) == 0 ? n : 0;
    }
    const char *p = data;
    size_t len = n;
    if (t->skip) {
        size_t k = t->skip < len ? (size_t)t->skip : len;
        t->skip -= k;
        p += k;
        len -= k;
    }
    if (len == 0)
        return n;
    int r = t->sink(t->sink_ctx, p, len, &t->sink_err);
    if (r < 0) {
        t->sink_error = r;
        return 0;
    }
    *t->delivered += len;
    return n;
}

static int setup_curl(imgd_registry_session *s, CURL *c, const char *url,
                      struct curl_slist *headers, transfer *t)
{
    curl_easy_reset(c);
    bool bad = false;
    bad |= curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK;
    /* blob GETs are commonly redirected to object storage; libcurl keeps the Authorization
     * header to the original host (CURLOPT_UNRESTRICTED_AUTH stays off) */
    bad |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, s->reg->connect_timeout) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, s->reg->stall_timeout) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_USERAGENT, "imgd") != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_HEADERDATA, t) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_WRITEDATA, t) != CURLE_OK;
    if (s->ca_file)
        bad |= curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file) != CURLE_OK;
    if (s->n_endpoints && !s->verify[s->current]) {
        bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L) != CURLE_OK;
        bad |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK;
    }
    return bad ? -ENOMEM : 0;
}

/* What messages name: the URL below the endpoint root, or /v2/<repo> and what. */
static void request_target(char *out, size_t len, const imgd_registry_session *s, const char *what,
                           const transfer *t)
{
    if (t->root_path)
        snprintf(out, len, "%s%s", imgd_registry_session_endpoint(s), t->root_path);
    else
        snprintf(out, len, "%s/v2/%s%s", imgd_registry_session_endpoint(s), s->repo, what);
}

/* "CODE: message" of a registry's JSON error body, else the status. */
static void error_text(char *out, size_t len, const transfer *t)
{
    json_t *doc =
        t->error_body.data ? json_loadb(t->error_body.data, t->error_body.len, 0, NULL) : NULL;
    json_t *first = json_array_get(json_object_get(doc, "errors"), 0);
    const char *code = json_string_value(json_object_get(first, "code"));
    const char *msg = json_string_value(json_object_get(first, "message"));
    if (code || msg)
        snprintf(out, len, "%s%s%s", code ? code : "", code && msg ? ": " : "", msg ? msg : "");
    else
        snprintf(out, len, "HTTP %ld", t->status);
    json_decref(doc);
    imgd_str_strip_controls(out, strlen(out));
}

static void backoff(unsigned attempt, long retry_after)
{
    long ms = retry_after > 0 ? retry_after * 1000 : 200L << (attempt < 5 ? attempt : 5);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool transient(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

/* ---- authentication ---- */

static char *basic_header(const char *user, const char *pass)
{
    _cleanup_secret_ char *plain = NULL;
    if (asprintf(&plain, "%s:%s", user, pass ? pass : "") < 0)
        return NULL;
    size_t n = strlen(plain);
    _cleanup_secret_ char *b64 = malloc(4 * ((n + 2) / 3) + 1);
    if (!b64)
        return NULL;
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)plain, (int)n);
    char *line = NULL;
    return asprintf(&line, "Authorization: Basic %s", b64) < 0 ? NULL : line;
}

static int parse_token(const imgd_buf *body, char **token, long *lifetime)
{
    json_t *doc = body->data ? json_loadb(body->data, body->len, 0, NULL) : NULL;
    const char *t = json_string_value(json_object_get(doc, "token"));
    if (!t || !*t)
        t = json_string_value(json_object_get(doc, "access_token"));
    json_t *exp = json_object_get(doc, "expires_in");
    *lifetime = json_is_integer(exp) && json_integer_value(exp) > 0 ? json_integer_value(exp) : 60;
    *token = t && *t ? strdup(t) : NULL;
    json_decref(doc);
    return *token ? 0 : -EPROTO;
}

/* GET a bearer token from the challenge's realm, with Basic credentials when the session has
 * them. A separate handle keeps the session's own request untouched. */
static int fetch_token(imgd_registry_session *s, const imgd_challenge *c, const char *scope,
                       char **token, long *lifetime, imgd_error **err)
{
    const char *scopes[] = {scope, NULL};
    _cleanup_free_ char *url = imgd_challenge_token_url(c, c->scope ? NULL : scopes);
    if (!url)
        return imgd_error_set(err, EPROTO, "registry %s sent a bearer challenge without a realm",
                              s->domain);
    CURL *curl = curl_easy_init();
    if (!curl)
        return imgd_error_set(err, ENOMEM, "out of memory");
    imgd_buf body = {0};
    transfer t = {.body = &body, .body_max = TOKEN_BODY_MAX};
    int r = setup_curl(s, curl, url, NULL, &t);
    if (r == 0 && s->username) {
        curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(curl, CURLOPT_USERNAME, s->username);
        curl_easy_setopt(curl, CURLOPT_PASSWORD, s->password);
    }
    CURLcode rc = r == 0 ? curl_easy_perform(curl) : CURLE_OUT_OF_MEMORY;
    if (rc != CURLE_OK)
        r = imgd_error_set(err, ECONNREFUSED, "token service of %s: %s", s->domain,
                           curl_easy_strerror(rc));
    else if (t.status == 401 || t.status == 403)
        r = imgd_error_set(err, EACCES, "token service of %s refused %s", s->domain,
                           s->username ? "the credentials" : "anonymous access");
    else if (t.status != 200 || parse_token(&body, token, lifetime) < 0)
        r = imgd_error_set(err, EPROTO, "token service of %s answered HTTP %ld without a token",
                           s->domain, t.status);
    curl_easy_cleanup(curl);
    imgd_buf_dispose(&t.error_body);
    if (body.data)
        explicit_bzero(body.data, body.len);
    imgd_buf_dispose(&body);
    return r;
}

static int authenticate(imgd_registry_session *s, const char *header, imgd_error **err)
{
    imgd_challenge c;
    if (!*header || imgd_challenge_parse(&c, header, NULL) < 0)
        return imgd_error_set(err, EACCES,
                              "registry %s refused access without a usable "
                              "challenge",
                              s->domain);
    int r = 0;
    char *line = NULL;
    if (strcmp(c.scheme, "basic") == 0) {
        if (!s->username)
            r = imgd_error_set(err, EACCES, "registry %s requires credentials", s->domain);
        else if (!(line = basic_header(s->username, s->password)))
            r = imgd_error_set(err, ENOMEM, "out of memory");
    } else if (strcmp(c.scheme, "bearer") == 0) {
        /* the cache key names who asked too: an anonymous token for a scope must never be
         * reused by a caller with credentials (it may grant nothing) */
        char who[IMGD_DIGEST_LEN + 1] = "anonymous";
        if (s->username) {
            _cleanup_secret_ char *id = NULL;
            if (asprintf(&id, "%s:%s", s->username, s->password) < 0 ||
                imgd_sha256_digest(who, id, strlen(id)) < 0)
                r = imgd_error_set(err, ENOMEM, "out of memory");
        }
        _cleanup_free_ char *scope = NULL, *key = NULL;
        if (r == 0 && (asprintf(&scope, "repository:%s:pull", s->repo) < 0 ||
                       asprintf(&key, "%s\n%s\n%s\n%s", c.realm ? c.realm : "",
                                c.service ? c.service : "", c.scope ? c.scope : scope, who) < 0))
            r = imgd_error_set(err, ENOMEM, "out of memory");
        _cleanup_secret_ char *token = r == 0 ? token_lookup(s->reg, key) : NULL;
        long lifetime = 0;
        if (r == 0 && !token && (r = fetch_token(s, &c, scope, &token, &lifetime, err)) == 0)
            token_store(s->reg, key, token, lifetime);
        if (r == 0 && (!token || asprintf(&line, "Authorization: Bearer %s", token) < 0))
            r = imgd_error_set(err, ENOMEM, "out of memory");
    } else {
        r = imgd_error_set(err, EACCES, "registry %s asks for unsupported authentication '%s'",
                           s->domain, c.scheme);
    }
    imgd_challenge_dispose(&c);
    if (r == 0) {
        imgd_secret_free(s->auth);
        s->auth = line;
    }
    return r;
}

/* ---- requests: authentication, retries, mirrors ---- */

static int status_error(imgd_registry_session *s, const char *what, const transfer *t,
                        imgd_error **err)
{
    char text[300], target[2048];
    error_text(text, sizeof(text), t);
    request_target(target, sizeof(target), s, what, t);
    int code = t->status == 404                       ? ENOENT
               : t->status == 401 || t->status == 403 ? EACCES
               : t->status == 429 || t->status >= 500 ? EAGAIN
                                                      : EPROTO;
    return imgd_error_set(err, code, "%s: %s", target, text);
}

static struct curl_slist *request_headers(imgd_registry_session *s, const char *accept,
                                          bool with_auth, uint64_t offset)
{
    struct curl_slist *h = NULL, *n;
    char range[64];
    if (accept && !(h = curl_slist_append(h, accept)))
        return NULL;
    if (with_auth && s->auth) {
        if (!(n = curl_slist_append(h, s->auth)))
            goto fail;
        h = n;
    }
    if (offset) {
        snprintf(range, sizeof(range), "Range: bytes=%llu-", (unsigned long long)offset);
        if (!(n = curl_slist_append(h, range)))
            goto fail;
        h = n;
    }
    return h ? h : curl_slist_append(NULL, "Expect:"); /* never an empty list */
fail:
    curl_slist_free_all(h);
    return NULL;
}

static void wipe_slist(struct curl_slist *l)
{
    for (struct curl_slist *p = l; p; p = p->next)
        explicit_bzero(p->data, strlen(p->data));
    curl_slist_free_all(l);
}

/* Decide what to do after one exchange: 1 to try again, 0 when done, or an error. */
static int after_exchange(imgd_registry_session *s, const char *what, CURLcode rc, transfer *t,
                          bool foreign, unsigned *attempt, unsigned *auth_tries, imgd_error **err)
{
    if (t->sink_error)
        return t->sink_error; /* the sink's own error, already in t->sink_err */
    char target[2048];
    request_target(target, sizeof(target), s, what, t);
    if (t->too_big)
        return imgd_error_set(err, EFBIG, "%s: larger than allowed", target);
    bool last_endpoint = foreign || s->current + 1 >= s->n_endpoints;
    if (rc != CURLE_OK && transient(rc) && ++*attempt < s->reg->attempts) {
        backoff(*attempt, 0);
        return 1;
    }
    if (rc != CURLE_OK && !last_endpoint) { /* a mirror that does not answer: the next one */
        s->current++;
        *attempt = 0;
        return 1;
    }
    if (rc != CURLE_OK)
        return imgd_error_set(err, rc == CURLE_OPERATION_TIMEDOUT ? ETIMEDOUT : ECONNREFUSED,
                              "%s: %s", target, curl_easy_strerror(rc));
    if (t->status >= 200 && t->status < 300)
        return 0;
    if (t->status == 401 && !foreign && (*auth_tries)++ < 2) {
        int r = authenticate(s, t->www_auth, err);
        return r < 0 ? r : 1;
    }
    if (t->status == 404 && !foreign) { /* a mirror without the content: the next host */
        size_t next = s->current + 1;
        while (next < s->n_endpoints && s->host[next] == s->host[s->current])
            next++;
        if (next < s->n_endpoints) {
            s->current = next;
            imgd_secret_free(s->auth); /* another host, another challenge */
            s->auth = NULL;
            *attempt = *auth_tries = 0;
            return 1;
        }
    }
    if ((t->status == 429 || t->status >= 500) && ++*attempt < s->reg->attempts) {
        backoff(*attempt, t->retry_after);
        return 1;
    }
    return status_error(s, what, t, err);
}

/* The URL of one exchange: the override, the path below the endpoint root, or /v2/<repo><path>.
 * NULL when out of memory. */
static char *request_url(const imgd_registry_session *s, const char *path, const char *url_override,
                         const transfer *t)
{
    if (url_override)
        return strdup(url_override);
    const char *endpoint = imgd_registry_session_endpoint(s);
    char *url = NULL;
    int n = t->root_path ? asprintf(&url, "%s%s", endpoint, t->root_path)
                         : asprintf(&url, "%s/v2/%s%s", endpoint, s->repo, path);
    return n < 0 ? NULL : url;
}

/* One logical request: path below /v2/<repo> (or a full url for a foreign layer). */
static int request(imgd_registry_session *s, const char *path, const char *url_override,
                   const char *accept, transfer *t, imgd_error **err)
{
    unsigned attempt = 0, auth_tries = 0;
    for (;;) {
        _cleanup_free_ char *url = request_url(s, path, url_override, t);
        uint64_t offset = t->delivered ? *t->delivered : 0;
        struct curl_slist *headers = request_headers(s, accept, !url_override, offset);
        transfer_reset(t);
        t->resume_offset = offset;
        CURLcode rc = url && headers && setup_curl(s, s->curl, url, headers, t) == 0
                          ? curl_easy_perform(s->curl)
                          : CURLE_OUT_OF_MEMORY;
        wipe_slist(headers);
        if (rc == CURLE_OUT_OF_MEMORY && !t->sink_error)
            return imgd_error_set(err, ENOMEM, "out of memory");
        int r = after_exchange(s, path, rc, t, url_override != NULL, &attempt, &auth_tries, err);
        if (r <= 0) {
            if (t->sink_err) {
                if (err && !*err)
                    *err = t->sink_err;
                else
                    imgd_error_free(t->sink_err);
                t->sink_err = NULL;
            }
            imgd_buf_dispose(&t->error_body);
            return r;
        }
        log_debug("registry: retrying %s (attempt %u)", path, attempt + 1);
    }
}

/* ---- the public requests ---- */

int imgd_registry_get_manifest(imgd_registry_session *s, const char *reference, imgd_buf *body,
                               char *content_type, char digest[IMGD_DIGEST_LEN + 1],
                               imgd_error **err)
{
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "/manifests/%s", reference) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    transfer t = {.body = body, .body_max = MANIFEST_MAX};
    int r = request(s, path, NULL, ACCEPT_MANIFESTS, &t, err);
    if (r < 0)
        return r;
    snprintf(content_type, 128, "%s", t.content_type);
    imgd_sha256_digest(digest, body->data ? body->data : "", body->len);
    if (strchr(reference, ':') && strcmp(reference, digest) != 0)
        return imgd_error_set(err, EBADMSG, "manifest %s from %s hashes to %s", reference,
                              imgd_registry_session_endpoint(s), digest);
    return 0;
}

int imgd_registry_get_blob(imgd_registry_session *s, const char *digest, const char *url,
                           imgd_registry_sink sink, void *ctx, uint64_t *delivered,
                           imgd_error **err)
{
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "/blobs/%s", digest) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    transfer t = {.sink = sink, .sink_ctx = ctx, .delivered = delivered};
    return request(s, path, url, NULL, &t, err);
}

int imgd_registry_get_blob_buf(imgd_registry_session *s, const char *digest, size_t max,
                               imgd_buf *out, imgd_error **err)
{
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "/blobs/%s", digest) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    transfer t = {.body = out, .body_max = max};
    int r = request(s, path, NULL, NULL, &t, err);
    if (r < 0)
        return r;
    char got[IMGD_DIGEST_LEN + 1];
    imgd_sha256_digest(got, out->data ? out->data : "", out->len);
    if (strcmp(got, digest) != 0)
        return imgd_error_set(err, EBADMSG, "blob %s from %s hashes to %s", digest,
                              imgd_registry_session_endpoint(s), got);
    return 0;
}

int imgd_registry_session_get(imgd_registry_session *s, const char *path, size_t max,
                              imgd_buf *body, char **link, imgd_error **err)
{
    assert(path[0] == '/');
    char link_buf[IMGD_REGISTRY_LINK_MAX + 1] = "";
    transfer t = {.body = body,
                  .body_max = max,
                  .root_path = path,
                  .link = link ? link_buf : NULL,
                  .link_size = sizeof(link_buf)};
    int r = request(s, path, NULL, NULL, &t, err);
    if (r < 0)
        return r;
    if (t.link_cut)
        return imgd_error_set(err, EPROTO, "%s%s: Link header longer than %d bytes",
                              imgd_registry_session_endpoint(s), path, IMGD_REGISTRY_LINK_MAX);
    if (link && !(*link = strdup(link_buf)))
        return imgd_error_set(err, ENOMEM, "out of memory");
    return 0;
}
