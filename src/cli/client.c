/* SPDX-License-Identifier: MIT */
#include "client.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/cleanup.h"
#include "util/json.h"
#include "util/strutil.h"

#define RAW_MESSAGE_MAX  200u  /* characters of a non-JSON error body shown */
#define JSON_MESSAGE_MAX 1000u /* characters of a server's error message shown */

struct imgd_client {
    char *base;        /* URL prefix of every request; http://localhost for a unix socket */
    char *socket_path; /* NULL unless the server is a unix socket */
    char *target;      /* the server as named in messages */
    char *auth;        /* "Authorization: Bearer ..." or NULL; wiped before free */
    char *cacert, *cert, *key;
    bool insecure;
    long timeout_sec;
};

/* Where the body of an answer goes. A buffered request collects it in b. A stream collects each
 * line in b and hands it to on_line, once the status says success; otherwise it buffers. */
typedef struct client_buf {
    imgd_buf b;
    bool too_big;
    imgd_client_line_fn on_line; /* NULL for a buffered request */
    void *line_ctx;
    bool no_deadline; /* an upload: bounded by stalls, as a stream, not by timeout_sec */
    CURL *curl;
    int lines;            /* streams: -1 until the first bytes, then 1 (lines) or 0 (buffered) */
    int line_r;           /* what on_line returned when it ended the request */
    imgd_error *line_err; /* owned; its error */
} client_buf;

static void client_curl_cleanupp(CURL **curl)
{
    if (*curl)
        curl_easy_cleanup(*curl);
}

/* The header list may hold the token: wipe each entry before curl frees it. */
static void client_slist_freep(struct curl_slist **list)
{
    for (struct curl_slist *l = *list; l; l = l->next)
        explicit_bzero(l->data, strlen(l->data));
    curl_slist_free_all(*list);
}

static int client_strdup_opt(char **out, const char *s)
{
    if (!s)
        return 0;
    *out = strdup(s);
    return *out ? 0 : -ENOMEM;
}

/* The URL for messages: user information (user:password@) is replaced, since it may hold a
 * secret. */
static char *client_display_url(const char *url)
{
    const char *auth = strstr(url, "://");
    auth = auth ? auth + 3 : url;
    size_t host_end = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', host_end);
    char *out = NULL;
    if (!at)
        return strdup(url);
    if (asprintf(&out, "%.*s***%s", (int)(auth - url), url, at) < 0)
        return NULL;
    return out;
}

/* Fill the addressing fields of c from the server URL. */
static int client_set_server(imgd_client *c, const char *server, imgd_error **err)
{
    for (const unsigned char *p = (const unsigned char *)server; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return imgd_error_set(err, EINVAL, "the server URL holds control characters");
    }
    if (imgd_str_has_prefix(server, "unix://")) {
        const char *path = server + strlen("unix://");
        if (*path == '\0')
            return imgd_error_set(err, EINVAL, "server URL '%.200s' names no socket path", server);
        c->socket_path = strdup(path);
        c->base = strdup("http://localhost");
        if (!c->socket_path || !c->base || asprintf(&c->target, "unix socket %s", path) < 0) {
            c->target = NULL; /* undefined after a failed asprintf */
            return imgd_error_set(err, ENOMEM, "out of memory");
        }
        return 0;
    }
    size_t scheme = imgd_str_has_prefix(server, "http://")    ? strlen("http://")
                    : imgd_str_has_prefix(server, "https://") ? strlen("https://")
                                                              : 0;
    if (scheme == 0)
        return imgd_error_set(err, EINVAL,
                              "invalid server URL '%.200s': expected http://HOST:PORT, "
                              "https://HOST:PORT or unix:///PATH",
                              server);
    size_t len = strlen(server);
    while (len > scheme && server[len - 1] == '/')
        len--;
    if (len == scheme)
        return imgd_error_set(err, EINVAL, "server URL '%.200s' names no host", server);
    c->base = strndup(server, len);
    c->target = c->base ? client_display_url(c->base) : NULL;
    if (!c->target)
        return imgd_error_set(err, ENOMEM, "out of memory");
    return 0;
}

int imgd_client_new(imgd_client **out, const imgd_client_options *opts, imgd_error **err)
{
    assert(opts->server);
    assert(opts->timeout_sec > 0);
    _cleanup_(imgd_client_freep) imgd_client *c = calloc(1, sizeof(*c));
    if (!c)
        return imgd_error_set(err, ENOMEM, "out of memory");
    int r = client_set_server(c, opts->server, err);
    if (r < 0)
        return r;
    if (opts->token && asprintf(&c->auth, "Authorization: Bearer %s", opts->token) < 0) {
        c->auth = NULL;
        return imgd_error_set(err, ENOMEM, "out of memory");
    }
    if (client_strdup_opt(&c->cacert, opts->cacert) < 0 ||
        client_strdup_opt(&c->cert, opts->cert) < 0 || client_strdup_opt(&c->key, opts->key) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    c->insecure = opts->insecure;
    c->timeout_sec = opts->timeout_sec;
    *out = TAKE_PTR(c);
    return 0;
}

void imgd_client_free(imgd_client *c)
{
    if (!c)
        return;
    free(c->base);
    free(c->socket_path);
    free(c->target);
    imgd_secret_free(c->auth);
    free(c->cacert);
    free(c->cert);
    free(c->key);
    free(c);
}

const char *imgd_client_target(const imgd_client *c)
{
    return c->target;
}

void imgd_client_response_dispose(imgd_client_response *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

static size_t client_on_data(char *data, size_t size, size_t nmemb, void *userdata)
{
    client_buf *buf = userdata;
    size_t n = size * nmemb;
    if (n > IMGD_CLIENT_MAX_BODY - buf->b.len) {
        buf->too_big = true;
        return 0; /* makes curl fail with CURLE_WRITE_ERROR */
    }
    return imgd_buf_append(&buf->b, data, n) == 0 ? n : 0;
}

/* Hand the complete line in buf->b to on_line, then empty the buffer (keeping its memory). */
static int client_deliver_line(client_buf *buf)
{
    size_t len = buf->b.len;
    if (len > 0 && buf->b.data[len - 1] == '\r')
        len--;
    buf->b.len = 0;
    if (len == 0)
        return 0;
    buf->b.data[len] = '\0';
    int r = buf->on_line(buf->line_ctx, buf->b.data, len, &buf->line_err);
    if (r < 0)
        buf->line_r = r;
    return r;
}

/* The body of a streamed answer: lines for a 2xx status, else collected like any answer. curl
 * knows the status before it hands over the first bytes of the body. */
static size_t client_on_stream(char *data, size_t size, size_t nmemb, void *userdata)
{
    client_buf *buf = userdata;
    size_t n = size * nmemb;
    if (buf->lines < 0) {
        long status = 0;
        if (curl_easy_getinfo(buf->curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
            status = 0;
        buf->lines = status >= 200 && status < 300;
    }
    if (!buf->lines)
        return client_on_data(data, size, nmemb, userdata);
    for (size_t pos = 0; pos < n;) {
        const char *nl = memchr(data + pos, '\n', n - pos);
        size_t seg = nl ? (size_t)(nl - (data + pos)) : n - pos;
        if (seg > IMGD_CLIENT_MAX_BODY - buf->b.len) {
            buf->too_big = true;
            return 0;
        }
        if (imgd_buf_append(&buf->b, data + pos, seg) < 0)
            return 0;
        pos += seg;
        if (!nl)
            break;
        pos++;
        if (client_deliver_line(buf) < 0)
            return 0;
    }
    return n;
}

static long client_stall_sec(const imgd_client *c)
{
    return c->timeout_sec > IMGD_CLIENT_STALL_SEC ? c->timeout_sec : IMGD_CLIENT_STALL_SEC;
}

/* Options that do not depend on the request. Each fails only on allocation or when libcurl
 * lacks a feature, so one flag covers them all. */
static int client_setup(const imgd_client *c, CURL *curl, client_buf *buf, char *errbuf)
{
    bool bad = false;
    bad |= curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK;
    bad |= curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    /* a reference such as "a/../b" must reach imgd as typed, not as another path */
    bad |= curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L) != CURLE_OK;
    if (buf->on_line || buf->no_deadline) {
        /* at least one byte per second over curl's window: a silence of the whole stall time */
        bad |= curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, c->timeout_sec) != CURLE_OK;
        bad |= curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L) != CURLE_OK;
        bad |= curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, client_stall_sec(c)) != CURLE_OK;
    }
    if (buf->on_line) {
        bad |= curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, client_on_stream) != CURLE_OK;
    } else if (buf->no_deadline) {
        bad |= curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE,
                                (curl_off_t)IMGD_CLIENT_MAX_BODY) != CURLE_OK;
        bad |= curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, client_on_data) != CURLE_OK;
    } else {
        bad |= curl_easy_setopt(curl, CURLOPT_TIMEOUT, c->timeout_sec) != CURLE_OK;
        bad |= curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE,
                                (curl_off_t)IMGD_CLIENT_MAX_BODY) != CURLE_OK;
        bad |= curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, client_on_data) != CURLE_OK;
    }
    bad |= curl_easy_setopt(curl, CURLOPT_WRITEDATA, buf) != CURLE_OK;
    bad |= curl_easy_setopt(curl, CURLOPT_USERAGENT, "imgctl") != CURLE_OK;
    if (c->socket_path)
        bad |= curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, c->socket_path) != CURLE_OK;
    if (c->cacert)
        bad |= curl_easy_setopt(curl, CURLOPT_CAINFO, c->cacert) != CURLE_OK;
    if (c->cert)
        bad |= curl_easy_setopt(curl, CURLOPT_SSLCERT, c->cert) != CURLE_OK;
    if (c->key)
        bad |= curl_easy_setopt(curl, CURLOPT_SSLKEY, c->key) != CURLE_OK;
    if (c->insecure) {
        bad |= curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L) != CURLE_OK;
        bad |= curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK;
    }
    return bad ? -ENOMEM : 0;
}

static int client_header_add(struct curl_slist **list, const char *line)
{
    struct curl_slist *n = curl_slist_append(*list, line);
    if (!n)
        return -ENOMEM;
    *list = n;
    return 0;
}

/* Method, URL, headers and body of one request. *headers is owned by the caller, also on
 * failure. */
static int client_setup_request(const imgd_client *c, CURL *curl, struct curl_slist **headers,
                                const char *method, const char *path, const char *accept,
                                const char *body)
{
    _cleanup_free_ char *url = NULL;
    _cleanup_free_ char *accept_line = NULL;
    if (asprintf(&url, "%s%s", c->base, path) < 0) {
        url = NULL; /* undefined after a failed asprintf */
        return -ENOMEM;
    }
    if (asprintf(&accept_line, "Accept: %s", accept) < 0) {
        accept_line = NULL;
        return -ENOMEM;
    }
    if (client_header_add(headers, accept_line) < 0 ||
        (body && client_header_add(headers, "Content-Type: application/json") < 0) ||
        (c->auth && client_header_add(headers, c->auth) < 0))
        return -ENOMEM;
    bool bad = curl_easy_setopt(curl, CURLOPT_URL, url) != CURLE_OK;
    bad |= curl_easy_setopt(curl, CURLOPT_HTTPHEADER, *headers) != CURLE_OK;
    if (strcmp(method, "GET") != 0)
        bad |= curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK;
    if (body) {
        bad |= curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body) != CURLE_OK;
        bad |= curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body)) !=
               CURLE_OK;
    }
    return bad ? -ENOMEM : 0;
}

/* One line saying why no answer came. */
static int client_transport_error(const imgd_client *c, CURL *curl, CURLcode rc,
                                  const client_buf *buf, char *errbuf, imgd_error **err)
{
    if (buf->too_big || rc == CURLE_FILESIZE_EXCEEDED)
        return imgd_error_set(err, EFBIG, "%s of imgd at %s is larger than %u MiB",
                              buf->lines > 0 ? "a line of the answer" : "answer", c->target,
                              IMGD_CLIENT_MAX_BODY / (1024u * 1024u));
    /* a stream that got its status went silent; one that did not may still be connecting */
    if (rc == CURLE_OPERATION_TIMEDOUT && buf->on_line && buf->lines >= 0)
        return imgd_error_set(err, ETIMEDOUT, "imgd at %s sent nothing for %ld s", c->target,
                              client_stall_sec(c));
    curl_off_t connected = 0;
    if (rc == CURLE_OPERATION_TIMEDOUT && buf->no_deadline &&
        curl_easy_getinfo(curl, CURLINFO_CONNECT_TIME_T, &connected) == CURLE_OK && connected > 0)
        return imgd_error_set(err, ETIMEDOUT, "no data moved to or from imgd at %s for %ld s",
                              c->target, client_stall_sec(c));
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return imgd_error_set(err, ETIMEDOUT, "imgd at %s did not answer within %ld s", c->target,
                              c->timeout_sec);
    if (rc == CURLE_OUT_OF_MEMORY || (rc == CURLE_WRITE_ERROR && !buf->too_big))
        return imgd_error_set(err, ENOMEM, "out of memory reading the answer of imgd at %s",
                              c->target);
    long os_errno = 0;
    if (curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno) != CURLE_OK)
        os_errno = 0;
    /* curl's text for a refused connection ("Couldn't connect to server") hides the cause */
    if (rc == CURLE_COULDNT_CONNECT && os_errno > 0)
        return imgd_error_errno(err, (int)os_errno, "cannot reach imgd at %s", c->target);
    size_t n = strlen(errbuf);
    while (n > 0 && (errbuf[n - 1] == '\n' || errbuf[n - 1] == '\r'))
        errbuf[--n] = '\0';
    const char *why = n ? errbuf : curl_easy_strerror(rc);
    if (rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_CACERT_BADFILE)
        return imgd_error_set(err, EINVAL, "cannot use the TLS files for imgd at %s: %s", c->target,
                              why);
    int code =
        rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ? ECONNREFUSED : EPROTO;
    return imgd_error_set(err, code, "cannot reach imgd at %s: %s", c->target, why);
}

/* After a stream: the last line, when the body did not end with a newline. */
static int client_stream_finish(client_buf *buf)
{
    if (buf->lines <= 0 || buf->b.len == 0)
        return 0;
    return client_deliver_line(buf);
}

/* What one request holds while it runs. It stays in place from start to finish: curl keeps
 * pointers to errbuf and buf. */
typedef struct client_xfer {
    CURL *curl;
    struct curl_slist *headers;
    char *body_text; /* the request body; wiped, as a pull's holds registry credentials */
    client_buf *buf; /* borrowed: where the answer goes */
    char errbuf[CURL_ERROR_SIZE];
} client_xfer;

static void client_xfer_dispose(client_xfer *x)
{
    client_curl_cleanupp(&x->curl);
    client_slist_freep(&x->headers);
    imgd_secret_free(x->body_text);
    if (x->buf)
        imgd_buf_dispose(&x->buf->b);
    x->curl = NULL;
    x->headers = NULL;
    x->body_text = NULL;
}

/* Make the easy handle of a request, ready to perform; the body goes where x->buf says. */
static int client_xfer_start(client_xfer *x, const imgd_client *c, const char *method,
                             const char *path, const json_t *body, const char *accept,
                             imgd_error **err)
{
    x->errbuf[0] = '\0';
    if (body && !(x->body_text = json_dumps(body, JSON_COMPACT)))
        return imgd_error_set(err, ENOMEM, "out of memory");
    x->curl = curl_easy_init();
    x->buf->curl = x->curl;
    if (!x->curl || client_setup(c, x->curl, x->buf, x->errbuf) < 0 ||
        client_setup_request(c, x->curl, &x->headers, method, path, accept, x->body_text) < 0)
        return imgd_error_set(err, ENOMEM, "cannot set up a request to imgd at %s", c->target);
    return 0;
}

/* The outcome of a performed request that ended with rc: the answer into *out, or why none
 * came. */
static int client_xfer_finish(imgd_client_response *out, client_xfer *x, const imgd_client *c,
                              CURLcode rc, imgd_error **err)
{
    client_buf *buf = x->buf;
    int r = rc == CURLE_OK ? client_stream_finish(buf) : buf->line_r;
    size_t len = buf->b.len;
    _cleanup_free_ char *data = buf->b.data; /* the buffer is done with: own its bytes directly */
    buf->b = (imgd_buf){0};
    if (r < 0) { /* on_line ended the request */
        if (err && !*err)
            *err = TAKE_PTR(buf->line_err);
        return r;
    }
    if (rc != CURLE_OK)
        return client_transport_error(c, x->curl, rc, buf, x->errbuf, err);
    long status = 0;
    if (curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
        return imgd_error_set(err, EPROTO, "no HTTP status from imgd at %s", c->target);
    if (!data && !(data = strdup("")))
        return imgd_error_set(err, ENOMEM, "out of memory");
    data[len] = '\0'; /* a stream leaves its last line's bytes behind len */
    *out = (imgd_client_response){.status = status, .body = TAKE_PTR(data), .len = len};
    return 0;
}

/* One request, performed at once; the body goes where buf says. */
static int client_perform(imgd_client_response *out, imgd_client *c, const char *method,
                          const char *path, const json_t *body, const char *accept, client_buf *buf,
                          imgd_error **err)
{
    _cleanup_(client_xfer_dispose) client_xfer x = {.buf = buf};
    int r = client_xfer_start(&x, c, method, path, body, accept, err);
    if (r < 0)
        return r;
    return client_xfer_finish(out, &x, c, curl_easy_perform(x.curl), err);
}

int imgd_client_request(imgd_client_response *out, imgd_client *c, const char *method,
                        const char *path, const json_t *body, imgd_error **err)
{
    client_buf buf = {.lines = -1};
    return client_perform(out, c, method, path, body, "application/json", &buf, err);
}

int imgd_client_stream(imgd_client_response *out, imgd_client *c, const char *method,
                       const char *path, const json_t *body, const char *accept,
                       imgd_client_line_fn on_line, void *ctx, imgd_error **err)
{
    assert(on_line);
    client_buf buf = {.on_line = on_line, .line_ctx = ctx, .lines = -1};
    int r = client_perform(out, c, method, path, body, accept, &buf, err);
    imgd_error_free(buf.line_err);
    return r;
}

/* The body of an upload, handed to curl piece by piece. */
typedef struct client_upload {
    imgd_client_read_fn read;
    void *ctx;
    int r;           /* what read returned when it ended the request */
    imgd_error *err; /* owned; its error */
} client_upload;

static size_t client_on_read(char *data, size_t size, size_t nitems, void *userdata)
{
    client_upload *up = userdata;
    ssize_t n = up->read(up->ctx, data, size * nitems, &up->err);
    if (n >= 0)
        return (size_t)n;
    up->r = (int)n;
    return CURL_READFUNC_ABORT;
}

int imgd_client_upload(imgd_client_response *out, imgd_client *c, const char *method,
                       const char *path, const char *content_type, uint64_t length,
                       imgd_client_read_fn read, void *ctx, imgd_error **err)
{
    assert(read && content_type);
    client_buf buf = {.lines = -1, .no_deadline = true};
    client_upload up = {.read = read, .ctx = ctx};
    _cleanup_(client_xfer_dispose) client_xfer x = {.buf = &buf};
    _cleanup_free_ char *type_line = NULL;
    int r = client_xfer_start(&x, c, method, path, NULL, "application/json", err);
    if (r < 0)
        return r;
    if (asprintf(&type_line, "Content-Type: %s", content_type) < 0) {
        type_line = NULL; /* undefined after a failed asprintf */
        return imgd_error_set(err, ENOMEM, "out of memory");
    }
    bool bad = client_header_add(&x.headers, type_line) < 0;
    bad = bad || curl_easy_setopt(x.curl, CURLOPT_HTTPHEADER, x.headers) != CURLE_OK;
    bad = bad || curl_easy_setopt(x.curl, CURLOPT_UPLOAD, 1L) != CURLE_OK;
    bad = bad || curl_easy_setopt(x.curl, CURLOPT_READFUNCTION, client_on_read) != CURLE_OK;
    bad = bad || curl_easy_setopt(x.curl, CURLOPT_READDATA, &up) != CURLE_OK;
    bad = bad || curl_easy_setopt(x.curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)length) != CURLE_OK;
    if (bad)
        return imgd_error_set(err, ENOMEM, "cannot set up a request to imgd at %s", c->target);
    CURLcode rc = curl_easy_perform(x.curl);
    if (up.r < 0) { /* read ended the request */
        if (err && !*err)
            *err = TAKE_PTR(up.err);
        imgd_error_free(up.err);
        return up.r;
    }
    imgd_error_free(up.err);
    return client_xfer_finish(out, &x, c, rc, err);
}

/* Copy at most max bytes of s, cut at a UTF-8 character boundary, with control characters
 * replaced so that a hostile or odd answer cannot break the line or drive the terminal. */
static char *client_clean_text(const char *s, size_t len, size_t max)
{
    bool cut = len > max;
    if (cut) {
        len = max;
        while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
            len--;
    }
    char *out = malloc(len + sizeof("..."));
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[i] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    memcpy(out + len, cut ? "..." : "", cut ? sizeof("...") : 1);
    return out;
}

/* The message of a native-face error body, or NULL when the body has another shape. */
static char *client_native_message(const imgd_client_response *r)
{
    json_auto_t *body = NULL;
    if (imgd_json_parse(&body, r->body, r->len, IMGD_CLIENT_JSON_MAX_DEPTH, NULL) < 0)
        return NULL;
    /* the native face's {"error": {"message"}}, the ImageAPI's {"code", "message"}, IMS's
     * problem+json {"detail"} */
    const char *msg = imgd_json_get_string(json_object_get(body, "error"), "message");
    if (!msg)
        msg = imgd_json_get_string(body, "message");
    if (!msg)
        msg = imgd_json_get_string(body, "detail");
    return msg ? client_clean_text(msg, strlen(msg), JSON_MESSAGE_MAX) : NULL;
}

int imgd_client_response_json(json_t **out, const imgd_client_response *r, const char *method,
                              const char *path, imgd_error **err)
{
    if (r->len == 0)
        return imgd_error_set(err, EBADMSG, "%s %s: %ld answer is empty; JSON was expected", method,
                              path, r->status);
    _cleanup_error_ imgd_error *parse_err = NULL;
    if (imgd_json_parse(out, r->body, r->len, IMGD_CLIENT_JSON_MAX_DEPTH, &parse_err) == 0)
        return 0;
    const char *why = parse_err ? parse_err->message : "out of memory";
    _cleanup_free_ char *clean = client_clean_text(why, strlen(why), JSON_MESSAGE_MAX);
    return imgd_error_set(err, EBADMSG, "%s %s: %ld answer is not valid JSON: %s", method, path,
                          r->status, clean ? clean : "out of memory");
}

int imgd_client_response_error(imgd_error **err, const imgd_client_response *r, const char *method,
                               const char *path)
{
    _cleanup_free_ char *msg = client_native_message(r);
    if (!msg) {
        size_t n = r->len;
        while (n > 0 && (r->body[n - 1] == '\n' || r->body[n - 1] == '\r' || r->body[n - 1] == ' '))
            n--;
        msg = n ? client_clean_text(r->body, n, RAW_MESSAGE_MAX) : strdup("(empty body)");
    }
    imgd_error_set(err, EIO, "%s %s: %ld %s", method, path, r->status,
                   msg ? msg : "(out of memory)");
    return -EIO;
}

int imgd_client_call(json_t **out, long *out_status, imgd_client *c, const char *method,
                     const char *path, const json_t *body, long also_ok, imgd_error **err)
{
    imgd_client_response resp = {0};
    int r = imgd_client_request(&resp, c, method, path, body, err);
    if (r < 0)
        return r;
    bool success = resp.status >= 200 && resp.status < 300;
    bool answer = success || (also_ok != 0 && resp.status == also_ok);
    json_t *v = NULL;
    if (answer && imgd_client_response_json(&v, &resp, method, path, success ? err : NULL) < 0 &&
        success)
        r = -EBADMSG;
    else if (!v || (!success && (!json_is_object(v) || json_object_get(v, "error"))))
        r = imgd_client_response_error(err, &resp, method, path); /* also_ok with an error body */
    if (r == 0) {
        *out_status = resp.status;
        *out = TAKE_PTR(v);
    }
    json_decref(v);
    imgd_client_response_dispose(&resp);
    return r;
}

/* ---- several requests at once ---- */

/* The state of one item of a batch while its request runs. */
typedef struct client_slot {
    client_xfer x;
    client_buf buf;
    bool running; /* its easy handle is on the multi handle */
} client_slot;

static void client_batch_start(CURLM *multi, imgd_client_batch_item *it, client_slot *s)
{
    s->buf = (client_buf){.lines = -1};
    s->x.buf = &s->buf;
    it->r = client_xfer_start(&s->x, it->client, it->method, it->path, NULL, "application/json",
                              &it->err);
    if (it->r == 0 && curl_multi_add_handle(multi, s->x.curl) != CURLM_OK)
        it->r = imgd_error_set(&it->err, ENOMEM, "cannot set up a request to imgd at %s",
                               it->client->target);
    s->running = it->r == 0;
    if (!s->running)
        client_xfer_dispose(&s->x);
}

/* Take the item off the multi handle and record its outcome; mc is set when the multi handle
 * failed before the request could end. */
static void client_batch_end(CURLM *multi, imgd_client_batch_item *it, client_slot *s, CURLcode rc,
                             CURLMcode mc)
{
    curl_multi_remove_handle(multi, s->x.curl);
    s->running = false;
    if (mc != CURLM_OK)
        it->r = imgd_error_set(&it->err, ENOMEM, "request to imgd at %s cut short: %s",
                               it->client->target, curl_multi_strerror(mc));
    else
        it->r = client_xfer_finish(&it->response, &s->x, it->client, rc, &it->err);
    client_xfer_dispose(&s->x);
}

/* Record the requests that ended; returns how many did. */
static size_t client_batch_collect(CURLM *multi, imgd_client_batch_item *items, client_slot *slots,
                                   size_t n)
{
    size_t ended = 0;
    int left = 0;
    const CURLMsg *m;
    while ((m = curl_multi_info_read(multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        size_t i = 0;
        while (i < n && !(slots[i].running && slots[i].x.curl == m->easy_handle))
            i++;
        assert(i < n);
        client_batch_end(multi, &items[i], &slots[i], m->data.result, CURLM_OK);
        ended++;
    }
    return ended;
}

void imgd_client_request_all(imgd_client_batch_item *items, size_t n, size_t max_parallel)
{
    assert(max_parallel > 0);
    _cleanup_free_ client_slot *slots = calloc(n ? n : 1, sizeof(*slots));
    CURLM *multi = slots ? curl_multi_init() : NULL;
    CURLMcode mc = multi ? CURLM_OK : CURLM_OUT_OF_MEMORY;
    size_t next = 0, running = 0;
    while (mc == CURLM_OK && (next < n || running > 0)) {
        for (; next < n && running < max_parallel; next++) {
            client_batch_start(multi, &items[next], &slots[next]);
            running += slots[next].running;
        }
        int still = 0;
        mc = curl_multi_perform(multi, &still);
        running -= client_batch_collect(multi, items, slots, n);
        if (mc == CURLM_OK && running > 0)
            mc = curl_multi_poll(multi, NULL, 0, 1000, NULL);
    }
    for (size_t i = 0; i < n; i++) {
        if (slots && slots[i].running)
            client_batch_end(multi, &items[i], &slots[i], CURLE_OK, mc);
        else if (i >= next)
            items[i].r = imgd_error_set(&items[i].err, ENOMEM, "request to imgd at %s not made: %s",
                                        items[i].client->target, curl_multi_strerror(mc));
    }
    if (multi)
        curl_multi_cleanup(multi);
}
