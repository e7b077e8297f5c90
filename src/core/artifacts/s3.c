/* SPDX-License-Identifier: MIT */
/* The s3 backend: path-style requests (<endpoint>/<bucket>/<key>) signed with AWS SigV4 by
 * libcurl (CURLOPT_AWS_SIGV4), and GET URLs presigned here (SigV4 query signing with OpenSSL's
 * HMAC). libcurl signs the URL as it is given, so every URL is built in canonical form: path
 * segments RFC 3986-encoded with uppercase hex, query parameters sorted by name, each with "=".
 * Every request carries x-amz-content-sha256, which SigV4 for S3 requires. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "artifacts-private.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/log.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct s3_backend {
    char *endpoint; /* scheme://host[:port], no trailing '/' */
    char *host;     /* host[:port] as the Host header carries it */
    char *access_key;
    char *secret_key;
    char *region;
    char *sigv4; /* "aws:amz:<region>:s3" */
    bool verify;
    long connect_timeout, read_timeout, url_expiration;
    uint64_t part_size;
};

/* ---- encoding ---- */

/* RFC 3986 encoding as SigV4 wants it; '/' kept when keep_slash. */
static int uri_encode(imgd_buf *b, const char *s, bool keep_slash)
{
    static const char digits[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/');
        if (plain)
            imgd_buf_append(b, p, 1);
        else
            imgd_buf_printf(b, "%%%c%c", digits[c >> 4], digits[c & 15]);
    }
    return b->failed ? -ENOMEM : 0;
}

/* "/<bucket>/<encoded key>" */
static char *canonical_path(const char *bucket, const char *key)
{
    imgd_buf b = {0};
    imgd_buf_append(&b, "/", 1);
    uri_encode(&b, bucket, false);
    if (key) {
        imgd_buf_append(&b, "/", 1);
        uri_encode(&b, key, true);
    }
    return imgd_buf_steal(&b, NULL);
}

/* ---- requests ---- */

typedef struct s3_call {
    /* response */
    long status;
    imgd_buf body;
    size_t max_body;
    bool too_big;
    imgd_artifact_info info;
    char upload_id[256];
    /* request body from a file */
    int fd;
    uint64_t remaining;
} s3_call;

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    s3_call *c = ctx;
    size_t len = size * n;
    if (c->body.len + len > c->max_body) {
        c->too_big = true;
        return 0;
    }
    return imgd_buf_append(&c->body, data, len) < 0 ? 0 : len;
}

static void header_value(char *out, size_t cap, const char *v, size_t n)
{
    while (n && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
        n--;
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v++;
        n -= 2;
    }
    snprintf(out, cap, "%.*s", (int)n, v);
}

static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
    s3_call *c = ctx;
    size_t len = size * n;
    const char *colon = memchr(data, ':', len);
    if (!colon)
        return len;
    size_t name_len = (size_t)(colon - data);
    const char *v = colon + 1;
    size_t vlen = len - name_len - 1;
    char tmp[64];
#define IS(name) (name_len == sizeof(name) - 1 && strncasecmp(data, name, name_len) == 0)
    if (IS("etag")) {
        header_value(c->info.etag, sizeof c->info.etag, v, vlen);
    } else if (IS("x-amz-meta-md5sum")) {
        header_value(c->info.md5, sizeof c->info.md5, v, vlen);
    } else if (IS("content-type")) {
        header_value(c->info.content_type, sizeof c->info.content_type, v, vlen);
    } else if (IS("content-length")) {
        header_value(tmp, sizeof tmp, v, vlen);
        c->info.size = strtoull(tmp, NULL, 10);
    }
#undef IS
    return len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ctx)
{
    s3_call *c = ctx;
    size_t want = size * n;
    if (want > c->remaining)
        want = (size_t)c->remaining;
    if (want == 0)
        return 0;
    ssize_t got;
    do
        got = read(c->fd, buf, want);
    while (got < 0 && errno == EINTR);
    if (got <= 0)
        return CURL_READFUNC_ABORT;
    c->remaining -= (uint64_t)got;
    return (size_t)got;
}

/* The <Code> and <Message> of an S3 error body, for messages. */
static void s3_error_text(char *out, size_t cap, const char *body)
{
    const char *code = body ? strstr(body, "<Code>") : NULL;
    const char *end = code ? strstr(code, "</Code>") : NULL;
    if (code && end)
        snprintf(out, cap, "%.*s", (int)(end - code - 6), code + 6);
    else
        snprintf(out, cap, "no S3 error code");
}

typedef struct s3_req {
    const char *method;
    const char *bucket;
    const char *key;     /* NULL: the bucket */
    const char *query;   /* canonical (sorted, encoded) or NULL */
    const char *payload; /* x-amz-content-sha256 value; NULL: EMPTY_SHA256 */
    const void *mem;     /* body from memory */
    size_t mem_len;
    int fd; /* body from a file (-1: none) */
    uint64_t fd_len;
    const char *content_type;
    const char *md5;         /* x-amz-meta-md5sum */
    const char *copy_source; /* x-amz-copy-source */
    size_t max_body;
} s3_req;

static int s3_perform(s3_backend *b, const s3_req *q, s3_call *c, imgd_error **err)
{
    _cleanup_free_ char *path = canonical_path(q->bucket, q->key);
    _cleanup_free_ char *url = NULL;
    if (!path || asprintf(&url, "%s%s%s%s", b->endpoint, path, q->query ? "?" : "",
                          q->query ? q->query : "") < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    CURL *h = curl_easy_init();
    if (!h)
        return imgd_error_set(err, ENOMEM, "S3: cannot make a request handle");
    struct curl_slist *headers = NULL;
    char line[1200];
    snprintf(line, sizeof line, "x-amz-content-sha256: %s", q->payload ? q->payload : EMPTY_SHA256);
    headers = curl_slist_append(headers, line);
    if (q->content_type) {
        snprintf(line, sizeof line, "Content-Type: %s", q->content_type);
        headers = curl_slist_append(headers, line);
    }
    if (q->md5 && *q->md5) {
        snprintf(line, sizeof line, "x-amz-meta-md5sum: %s", q->md5);
        headers = curl_slist_append(headers, line);
    }
    if (q->copy_source) {
        snprintf(line, sizeof line, "x-amz-copy-source: %s", q->copy_source);
        headers = curl_slist_append(headers, line);
    }
    /* no "Expect:" to switch 100-continue off: curl would sign that header, not send it */
    c->max_body = q->max_body ? q->max_body : 1u << 20;
    c->fd = q->fd;
    c->remaining = q->fd_len;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, b->sigv4);
    curl_easy_setopt(h, CURLOPT_USERNAME, b->access_key);
    curl_easy_setopt(h, CURLOPT_PASSWORD, b->secret_key);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, b->connect_timeout);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, b->read_timeout);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, b->verify ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, b->verify ? 2L : 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    if (!strcmp(q->method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(q->method, "GET")) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (q->fd >= 0) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, c);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->fd_len);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->mem ? q->mem : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->mem_len);
    }
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    if (c->too_big)
        return imgd_error_set(err, EFBIG, "S3 object %s/%s is larger than %zu bytes", q->bucket,
                              q->key ? q->key : "", c->max_body);
    if (rc != CURLE_OK)
        return imgd_error_set(err, rc == CURLE_OPERATION_TIMEDOUT ? ETIMEDOUT : EREMOTEIO,
                              "S3 %s %s/%s: %s", q->method, q->bucket, q->key ? q->key : "",
                              curl_easy_strerror(rc));
    if (c->status >= 200 && c->status < 300)
        return 0;
    char code[128];
    s3_error_text(code, sizeof code, c->body.data);
    /* the service refusing imgd (a wrong secret, a clock off) is not the client's fault: 502 */
    int e = c->status == 404 ? ENOENT : EREMOTEIO;
    return imgd_error_set(err, e, "S3 %s %s/%s: HTTP %ld (%s)", q->method, q->bucket,
                          q->key ? q->key : "", c->status, c->status == 404 ? "not found" : code);
}

static void call_dispose(s3_call *c)
{
    imgd_buf_dispose(&c->body);
}

/* ---- operations ---- */

int s3_head(s3_backend *b, const char *bucket, const char *key, imgd_artifact_info *info,
            imgd_error **err)
{
    s3_call c = {0};
    s3_req q = {.method = "HEAD", .bucket = bucket, .key = key, .fd = -1};
    int r = s3_perform(b, &q, &c, err);
    if (r == 0)
        *info = c.info;
    call_dispose(&c);
    return r;
}

int s3_get(s3_backend *b, const char *bucket, const char *key, size_t max, char **data, size_t *len,
           imgd_artifact_info *info, imgd_error **err)
{
    s3_call c = {0};
    s3_req q = {.method = "GET", .bucket = bucket, .key = key, .fd = -1, .max_body = max};
    int r = s3_perform(b, &q, &c, err);
    if (r == 0) {
        *info = c.info;
        if (c.body.len == 0)
            imgd_buf_append(&c.body, "", 0);
        size_t n = c.body.len;
        char *d = imgd_buf_steal(&c.body, NULL);
        if (!d && n == 0)
            d = strdup("");
        if (!d)
            r = imgd_error_set(err, ENOMEM, "out of memory");
        *data = d;
        *len = n;
    }
    call_dispose(&c);
    return r;
}

/* The text between <tag> and </tag> in body. */
static bool xml_value(char *out, size_t cap, const char *body, const char *tag)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *s = body ? strstr(body, open) : NULL;
    const char *e = s ? strstr(s, close) : NULL;
    if (!s || !e)
        return false;
    s += strlen(open);
    snprintf(out, cap, "%.*s", (int)(e - s), s);
    return true;
}

static int multipart(s3_backend *b, const char *bucket, const char *key, int fd, uint64_t size,
                     const char *md5, const char *content_type, imgd_error **err)
{
    s3_call c = {0};
    s3_req q = {.method = "POST",
                .bucket = bucket,
                .key = key,
                .query = "uploads=",
                .fd = -1,
                .content_type = content_type,
                .md5 = md5};
    int r = s3_perform(b, &q, &c, err);
    char upload_id[256];
    if (r == 0 && !xml_value(upload_id, sizeof upload_id, c.body.data, "UploadId"))
        r = imgd_error_set(err, EPROTO, "S3 multipart upload of %s/%s: no UploadId", bucket, key);
    call_dispose(&c);
    if (r < 0)
        return r;
    imgd_buf enc = {0};
    uri_encode(&enc, upload_id, false);
    _cleanup_free_ char *id = imgd_buf_steal(&enc, NULL);
    imgd_buf done = {0};
    imgd_buf_printf(&done, "<CompleteMultipartUpload>");
    unsigned part = 0;
    for (uint64_t off = 0; r == 0 && off < size; off += b->part_size) {
        part++;
        uint64_t n = size - off < b->part_size ? size - off : b->part_size;
        char query[400];
        snprintf(query, sizeof query, "partNumber=%u&uploadId=%s", part, id ? id : "");
        if (lseek(fd, (off_t)off, SEEK_SET) < 0) {
            r = imgd_error_errno(err, errno, "seek the staging file");
            break;
        }
        s3_call pc = {0};
        s3_req pq = {.method = "PUT",
                     .bucket = bucket,
                     .key = key,
                     .query = query,
                     .payload = "UNSIGNED-PAYLOAD",
                     .fd = fd,
                     .fd_len = n};
        r = s3_perform(b, &pq, &pc, err);
        if (r == 0)
            imgd_buf_printf(&done, "<Part><PartNumber>%u</PartNumber><ETag>\"%s\"</ETag></Part>",
                            part, pc.info.etag);
        call_dispose(&pc);
    }
    imgd_buf_printf(&done, "</CompleteMultipartUpload>");
    size_t dlen = 0;
    _cleanup_free_ char *xml = imgd_buf_steal(&done, &dlen);
    char query[400];
    snprintf(query, sizeof query, "uploadId=%s", id ? id : "");
    if (r == 0 && !xml)
        r = imgd_error_set(err, ENOMEM, "out of memory");
    if (r == 0) {
        s3_call cc = {0};
        s3_req cq = {.method = "POST",
                     .bucket = bucket,
                     .key = key,
                     .query = query,
                     .payload = "UNSIGNED-PAYLOAD",
                     .mem = xml,
                     .mem_len = dlen,
                     .fd = -1,
                     .content_type = "application/xml"};
        r = s3_perform(b, &cq, &cc, err);
        if (r == 0 && cc.body.data && strstr(cc.body.data, "<Error>"))
            r = imgd_error_set(err, EIO, "S3 multipart upload of %s/%s failed to complete", bucket,
                               key);
        call_dispose(&cc);
    }
    if (r < 0) {
        /* let the service drop the parts (not every S3 service can) */
        s3_call ac = {0};
        s3_req aq = {.method = "DELETE", .bucket = bucket, .key = key, .query = query, .fd = -1};
        (void)s3_perform(b, &aq, &ac, NULL);
        call_dispose(&ac);
    }
    return r;
}

int s3_put_file(s3_backend *b, const char *bucket, const char *key, const char *path,
                const char *md5, const char *content_type, imgd_artifact_info *info,
                imgd_error **err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return imgd_error_errno(err, errno, "open the staging file");
    uint64_t size = (uint64_t)st.st_size;
    if (size > b->part_size) {
        int r = multipart(b, bucket, key, fd, size, md5, content_type, err);
        if (r < 0)
            return r;
        /* a multipart ETag is not the md5: take it as the service reports it */
        imgd_artifact_info now;
        r = s3_head(b, bucket, key, &now, err);
        if (r == 0)
            snprintf(info->etag, sizeof info->etag, "%s", now.etag);
        return r;
    }
    s3_call c = {0};
    s3_req q = {.method = "PUT",
                .bucket = bucket,
                .key = key,
                .payload = "UNSIGNED-PAYLOAD",
                .fd = fd,
                .fd_len = size,
                .content_type = content_type,
                .md5 = md5};
    int r = s3_perform(b, &q, &c, err);
    if (r == 0 && c.info.etag[0]) /* the PUT's own answer names it */
        snprintf(info->etag, sizeof info->etag, "%s", c.info.etag);
    call_dispose(&c);
    return r;
}

int s3_copy(s3_backend *b, const char *bucket, const char *from, const char *to, imgd_error **err)
{
    _cleanup_free_ char *src = canonical_path(bucket, from);
    if (!src)
        return imgd_error_set(err, ENOMEM, "out of memory");
    s3_call c = {0};
    s3_req q = {.method = "PUT", .bucket = bucket, .key = to, .fd = -1, .copy_source = src};
    int r = s3_perform(b, &q, &c, err);
    if (r == 0 && c.body.data && strstr(c.body.data, "<Error>"))
        r = imgd_error_set(err, EIO, "S3 copy of %s/%s failed", bucket, from);
    call_dispose(&c);
    return r;
}

int s3_delete(s3_backend *b, const char *bucket, const char *key, imgd_error **err)
{
    s3_call c = {0};
    s3_req q = {.method = "DELETE", .bucket = bucket, .key = key, .fd = -1};
    int r = s3_perform(b, &q, &c, err);
    call_dispose(&c);
    return r;
}

/* ---- presigning ---- */

static void hmac(unsigned char out[32], const void *key, size_t key_len, const char *msg)
{
    unsigned len = 32;
    HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), out, &len);
}

int s3_presign(s3_backend *b, const char *method, const char *bucket, const char *key, long expires,
               char **url, imgd_error **err)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char date[16], stamp[32];
    strftime(date, sizeof date, "%Y%m%d", &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    imgd_buf cred = {0};
    imgd_buf_printf(&cred, "%s/%s/%s/s3/aws4_request", b->access_key, date, b->region);
    _cleanup_free_ char *cred_s = imgd_buf_steal(&cred, NULL);
    imgd_buf q = {0};
    imgd_buf_printf(&q, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=");
    uri_encode(&q, cred_s ? cred_s : "", false);
    imgd_buf_printf(&q, "&X-Amz-Date=%s&X-Amz-Expires=%ld&X-Amz-SignedHeaders=host", stamp,
                    expires);
    _cleanup_free_ char *query = imgd_buf_steal(&q, NULL);
    _cleanup_free_ char *path = canonical_path(bucket, key);
    _cleanup_free_ char *creq = NULL;
    if (!cred_s || !query || !path ||
        asprintf(&creq, "%s\n%s\n%s\nhost:%s\n\nhost\nUNSIGNED-PAYLOAD", method, path, query,
                 b->host) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    unsigned char d[32];
    unsigned dl = 0;
    EVP_Digest(creq, strlen(creq), d, &dl, EVP_sha256(), NULL);
    char creq_hex[65];
    artifacts_hex(creq_hex, d, 32);
    _cleanup_free_ char *sts = NULL;
    _cleanup_free_ char *k0 = NULL;
    if (asprintf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/s3/aws4_request\n%s", stamp, date, b->region,
                 creq_hex) < 0 ||
        asprintf(&k0, "AWS4%s", b->secret_key) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    unsigned char k1[32], k2[32], k3[32], k4[32], sig[32];
    hmac(k1, k0, strlen(k0), date);
    explicit_bzero(k0, strlen(k0));
    hmac(k2, k1, 32, b->region);
    hmac(k3, k2, 32, "s3");
    hmac(k4, k3, 32, "aws4_request");
    hmac(sig, k4, 32, sts);
    char sig_hex[65];
    artifacts_hex(sig_hex, sig, 32);
    explicit_bzero(k4, sizeof k4);
    if (asprintf(url, "%s%s?%s&X-Amz-Signature=%s", b->endpoint, path, query, sig_hex) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    return 0;
}

long s3_url_expiration(const s3_backend *b)
{
    return b->url_expiration;
}

/* ---- setup ---- */

int s3_open(s3_backend **out, const imgd_config *cfg, imgd_error **err)
{
    const char *ep = cfg->s3_endpoint;
    const char *rest = NULL;
    if (!strncmp(ep, "http://", 7))
        rest = ep + 7;
    else if (!strncmp(ep, "https://", 8))
        rest = ep + 8;
    if (!rest || !*rest || *rest == '/')
        return imgd_error_set(
            err, EINVAL, "invalid s3_endpoint '%s': expected http://host[:port] or https://", ep);
    if (!cfg->s3_access_key || !*cfg->s3_access_key || !cfg->s3_secret_key || !*cfg->s3_secret_key)
        return imgd_error_set(err, EINVAL,
                              "s3_endpoint is set, but s3_access_key or s3_secret_key is not");
    s3_backend *b = calloc(1, sizeof *b);
    if (!b)
        return imgd_error_set(err, ENOMEM, "out of memory");
    size_t hl = strcspn(rest, "/?");
    b->endpoint = strndup(ep, (size_t)(rest - ep) + hl);
    b->host = strndup(rest, hl);
    b->access_key = strdup(cfg->s3_access_key);
    b->secret_key = strdup(cfg->s3_secret_key);
    b->region = strdup(cfg->s3_region ? cfg->s3_region : "us-east-1");
    if (b->region && asprintf(&b->sigv4, "aws:amz:%s:s3", b->region) < 0)
        b->sigv4 = NULL;
    b->verify = cfg->s3_ssl_validate;
    b->connect_timeout = (long)cfg->s3_connect_timeout;
    b->read_timeout = (long)cfg->s3_read_timeout;
    b->url_expiration = (long)cfg->s3_url_expiration;
    b->part_size = (uint64_t)cfg->s3_part_size;
    if (!b->endpoint || !b->host || !b->access_key || !b->secret_key || !b->region || !b->sigv4) {
        s3_free(b);
        return imgd_error_set(err, ENOMEM, "out of memory");
    }
    *out = b;
    return 0;
}

void s3_free(s3_backend *b)
{
    if (!b)
        return;
    if (b->secret_key)
        explicit_bzero(b->secret_key, strlen(b->secret_key));
    free(b->endpoint);
    free(b->host);
    free(b->access_key);
    free(b->secret_key);
    free(b->region);
    free(b->sigv4);
    free(b);
}
