/* SPDX-License-Identifier: MIT */
#include "cri.h"

#include <assert.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "proto.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define CRI_DEFAULT_TIMEOUT_MS 2000L   /* crictl's default */
#define CRI_GRPC_MESSAGE_MAX   1024u   /* bytes of a grpc-message kept for an error */
#define CRI_YAML_MAX           65536u  /* bytes of a crictl.yaml */
#define CRI_WIRE_VERSION       "0.1.0" /* VersionRequest.version, as kubelet and crictl send */
#define CRI_API_SLOTS          16u     /* endpoints whose API version is remembered */
#define GRPC_UNIMPLEMENTED     12
#define GRPC_NOT_FOUND         5
#define CRI_SUN_PATH_MAX       sizeof(((struct sockaddr_un *)NULL)->sun_path)

/* Field numbers (the same in runtime.v1 and runtime.v1alpha2). */
enum {
    F_LIST_IMAGES_RESPONSE_IMAGES = 1,
    F_IMAGE_ID = 1,
    F_IMAGE_REPO_TAGS = 2,
    F_IMAGE_REPO_DIGESTS = 3,
    F_IMAGE_SIZE = 4,
    F_IMAGE_UID = 5,
    F_IMAGE_USERNAME = 6,
    F_IMAGE_PINNED = 8,
    F_INT64VALUE_VALUE = 1,
    F_IMAGE_STATUS_REQUEST_IMAGE = 1,
    F_IMAGE_SPEC_IMAGE = 1,
    F_IMAGE_STATUS_RESPONSE_IMAGE = 1,
    F_VERSION_REQUEST_VERSION = 1,
};

/* Index 0 is tried first unless an endpoint is known to answer the other. */
static const char *const cri_packages[] = {"runtime.v1", "runtime.v1alpha2"};

/* ---- images -------------------------------------------------------------------------------- */

void imgd_cri_image_dispose(imgd_cri_image *img)
{
    if (!img)
        return;
    free(img->id);
    imgd_strv_free(img->repo_tags);
    imgd_strv_free(img->repo_digests);
    free(img->username);
    memset(img, 0, sizeof(*img));
}

void imgd_cri_images_free(imgd_cri_image *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        imgd_cri_image_dispose(&v[i]);
    free(v);
}

void imgd_cri_version_dispose(imgd_cri_version *v)
{
    if (!v)
        return;
    free(v->version);
    free(v->runtime_name);
    free(v->runtime_version);
    free(v->runtime_api_version);
    memset(v, 0, sizeof(*v));
}

/* ---- decoding ------------------------------------------------------------------------------ */

/* A string vector that grows by doubling (imgd_strv_push is quadratic). */
typedef struct cri_names {
    char **v; /* NULL-terminated once it has an entry */
    size_t n, cap;
} cri_names;

static void cri_names_dispose(cri_names *names)
{
    imgd_strv_free(names->v);
    memset(names, 0, sizeof(*names));
}

static int cri_names_push(cri_names *names, const imgd_proto_field *f)
{
    if (names->n >= IMGD_CRI_NAMES_MAX)
        return -E2BIG;
    if (imgd_array_reserve(&names->v, &names->cap, names->n + 2, sizeof(*names->v), 4) < 0)
        return -ENOMEM;
    names->v[names->n] = NULL;
    int r = imgd_proto_field_string(&names->v[names->n], f);
    if (r < 0)
        return r;
    names->v[++names->n] = NULL;
    return 0;
}

/* Hand over a vector, never NULL: an empty one when nothing was pushed. */
static char **cri_names_steal(cri_names *names)
{
    char **v = names->v ? names->v : calloc(1, sizeof(*v));
    memset(names, 0, sizeof(*names));
    return v;
}

/* The uid of an image: an Int64Value{int64 value = 1} message in the LEN field f, read from
 * parent. A negative value is a 10-byte varint. */
static int cri_decode_uid(imgd_cri_image *img, const imgd_proto_reader *parent,
                          const imgd_proto_field *f)
{
    imgd_proto_reader r;
    imgd_proto_field vf;
    int64_t value = 0;
    int ret = imgd_proto_reader_sub(&r, parent, f);
    while (ret == 0 && (ret = imgd_proto_next(&r, &vf)) > 0) {
        ret = 0;
        if (vf.number == F_INT64VALUE_VALUE && vf.wire == IMGD_PROTO_VARINT)
            value = (int64_t)vf.value;
    }
    if (ret < 0)
        return ret;
    img->uid = value;
    img->has_uid = true;
    return 0;
}

/* One field of an Image message; fields of unknown number or wire type are ignored, as
 * protobuf does. */
static int cri_decode_image_field(imgd_cri_image *img, cri_names *tags, cri_names *digests,
                                  const imgd_proto_reader *r, const imgd_proto_field *f)
{
    bool len = f->wire == IMGD_PROTO_LEN, varint = f->wire == IMGD_PROTO_VARINT;

    if (f->number == F_IMAGE_ID && len)
        return imgd_proto_field_string(&img->id, f);
    if (f->number == F_IMAGE_REPO_TAGS && len)
        return cri_names_push(tags, f);
    if (f->number == F_IMAGE_REPO_DIGESTS && len)
        return cri_names_push(digests, f);
    if (f->number == F_IMAGE_USERNAME && len)
        return imgd_proto_field_string(&img->username, f);
    if (f->number == F_IMAGE_UID && len)
        return cri_decode_uid(img, r, f);
    if (f->number == F_IMAGE_SIZE && varint)
        img->size = f->value;
    if (f->number == F_IMAGE_PINNED && varint)
        img->pinned = f->value != 0;
    return 0; /* spec (7) is not kept */
}

/* Decode an Image message into *out (zeroed first). Fills the never-NULL fields. */
static int cri_decode_image(imgd_cri_image *out, imgd_proto_reader *r)
{
    _cleanup_(imgd_cri_image_dispose) imgd_cri_image img = {0};
    _cleanup_(cri_names_dispose) cri_names tags = {0};
    _cleanup_(cri_names_dispose) cri_names digests = {0};
    imgd_proto_field f;
    int ret;

    while ((ret = imgd_proto_next(r, &f)) > 0) {
        ret = cri_decode_image_field(&img, &tags, &digests, r, &f);
        if (ret < 0)
            return ret;
    }
    if (ret < 0)
        return ret;
    img.repo_tags = cri_names_steal(&tags);
    img.repo_digests = cri_names_steal(&digests);
    if (!img.id)
        img.id = strdup("");
    if (!img.username)
        img.username = strdup("");
    if (!img.repo_tags || !img.repo_digests || !img.id || !img.username)
        return -ENOMEM;
    *out = img;
    memset(&img, 0, sizeof(img));
    return 0;
}

/* The error of a failed decode of the message called what. */
static int cri_decode_error(imgd_error **err, int r, const char *what)
{
    if (r == -E2BIG)
        return imgd_error_set(err, E2BIG,
                              "%s exceeds the limits (%u images, %u names per image, %u MiB, "
                              "nesting depth %u)",
                              what, IMGD_CRI_IMAGES_MAX, IMGD_CRI_NAMES_MAX,
                              IMGD_CRI_RESPONSE_MAX >> 20, IMGD_PROTO_DEPTH_MAX);
    if (r == -ENOMEM)
        return imgd_error_set(err, ENOMEM, "%s: out of memory", what);
    return imgd_error_set(err, EBADMSG, "malformed %s message", what);
}

typedef struct cri_image_list {
    imgd_cri_image *v;
    size_t n, cap;
} cri_image_list;

static void cri_image_list_dispose(cri_image_list *l)
{
    imgd_cri_images_free(l->v, l->n);
    memset(l, 0, sizeof(*l));
}

static int cri_image_list_add(cri_image_list *l, imgd_proto_reader *sub)
{
    if (l->n >= IMGD_CRI_IMAGES_MAX)
        return -E2BIG;
    if (imgd_array_reserve(&l->v, &l->cap, l->n + 1, sizeof(*l->v), 16) < 0)
        return -ENOMEM;
    int r = cri_decode_image(&l->v[l->n], sub);
    if (r == 0)
        l->n++;
    return r;
}

int imgd_cri_decode_images(imgd_cri_image **out, size_t *n, const void *msg, size_t len,
                           imgd_error **err)
{
    _cleanup_(cri_image_list_dispose) cri_image_list list = {0};
    imgd_proto_reader r, sub;
    imgd_proto_field f;
    int ret = imgd_proto_reader_init(&r, msg, len);

    while (ret == 0 && (ret = imgd_proto_next(&r, &f)) > 0) {
        ret = 0;
        if (f.number != F_LIST_IMAGES_RESPONSE_IMAGES || f.wire != IMGD_PROTO_LEN)
            continue;
        ret = imgd_proto_reader_sub(&sub, &r, &f);
        if (ret == 0)
            ret = cri_image_list_add(&list, &sub);
    }
    if (ret < 0)
        return cri_decode_error(err, ret, "ListImagesResponse");
    *n = list.n;
    *out = list.n ? list.v : NULL;
    if (!list.n)
        free(list.v);
    memset(&list, 0, sizeof(list));
    return 0;
}

int imgd_cri_decode_image_status(imgd_cri_image *out, bool *found, const void *msg, size_t len,
                                 imgd_error **err)
{
    _cleanup_(imgd_cri_image_dispose) imgd_cri_image img = {0};
    bool have = false;
    imgd_proto_reader r, sub;
    imgd_proto_field f;
    int ret = imgd_proto_reader_init(&r, msg, len);

    while (ret == 0 && (ret = imgd_proto_next(&r, &f)) > 0) {
        ret = 0;
        if (f.number != F_IMAGE_STATUS_RESPONSE_IMAGE || f.wire != IMGD_PROTO_LEN)
            continue;                 /* info (2), a map filled only for verbose requests */
        imgd_cri_image_dispose(&img); /* a repeated field: the last one wins */
        ret = imgd_proto_reader_sub(&sub, &r, &f);
        if (ret == 0)
            ret = cri_decode_image(&img, &sub);
        have = true;
    }
    if (ret < 0)
        return cri_decode_error(err, ret, "ImageStatusResponse");
    *found = have;
    *out = img;
    memset(&img, 0, sizeof(img));
    return 0;
}

int imgd_cri_decode_version(imgd_cri_version *out, const void *msg, size_t len, imgd_error **err)
{
    _cleanup_(imgd_cri_version_dispose) imgd_cri_version v = {0};
    char **slots[] = {NULL, &v.version, &v.runtime_name, &v.runtime_version,
                      &v.runtime_api_version};
    imgd_proto_reader r;
    imgd_proto_field f;
    int ret = imgd_proto_reader_init(&r, msg, len);

    while (ret == 0 && (ret = imgd_proto_next(&r, &f)) > 0) {
        ret = 0;
        if (f.number >= 1 && f.number < IMGD_ARRAY_SIZE(slots) && f.wire == IMGD_PROTO_LEN)
            ret = imgd_proto_field_string(slots[f.number], &f);
    }
    for (size_t i = 1; ret == 0 && i < IMGD_ARRAY_SIZE(slots); i++) {
        if (!*slots[i] && !(*slots[i] = strdup("")))
            ret = -ENOMEM;
    }
    if (ret < 0)
        return cri_decode_error(err, ret, "VersionResponse");
    *out = v;
    memset(&v, 0, sizeof(v));
    return 0;
}

/* ---- gRPC framing and status --------------------------------------------------------------- */

int imgd_cri_grpc_frame(imgd_buf *b, const void *msg, size_t len)
{
    assert(len <= UINT32_MAX);
    uint8_t prefix[5] = {0, (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                         (uint8_t)len};
    int r = imgd_buf_append(b, prefix, sizeof(prefix));
    if (r == 0 && len > 0)
        r = imgd_buf_append(b, msg, len);
    return r;
}

int imgd_cri_grpc_unframe(const uint8_t **msg, size_t *msg_len, const void *body, size_t len,
                          imgd_error **err)
{
    const uint8_t *p = body;
    if (len == 0)
        return imgd_error_set(err, EBADMSG, "gRPC response without a message");
    if (len < 5)
        return imgd_error_set(err, EBADMSG, "truncated gRPC message prefix (%zu bytes)", len);
    if (p[0] != 0)
        return imgd_error_set(err, EBADMSG, "gRPC message with flags 0x%02x (compressed?)", p[0]);
    size_t n = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | (size_t)p[4];
    if (n > IMGD_CRI_RESPONSE_MAX)
        return imgd_error_set(err, E2BIG, "gRPC message of %zu bytes exceeds the limit of %u MiB",
                              n, IMGD_CRI_RESPONSE_MAX >> 20);
    if (n > len - 5)
        return imgd_error_set(err, EBADMSG, "truncated gRPC message: %zu of %zu bytes", len - 5, n);
    if (n < len - 5)
        return imgd_error_set(err, EBADMSG, "more than one message in a unary gRPC response");
    *msg = p + 5;
    *msg_len = n;
    return 0;
}

int imgd_cri_grpc_errno(long grpc_status)
{
    switch (grpc_status) {
    case 0:
        return 0;
    case 4:
        return ETIMEDOUT;
    case 5:
        return ENOENT;
    case 7:
    case 16:
        return EACCES;
    case 14:
        return ECONNREFUSED;
    default:
        return EIO;
    }
}

const char *imgd_cri_grpc_status_name(long grpc_status)
{
    static const char *const names[] = {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    };
    if (grpc_status < 0 || (size_t)grpc_status >= IMGD_ARRAY_SIZE(names))
        return "UNKNOWN_STATUS";
    return names[grpc_status];
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

char *imgd_cri_grpc_message_decode(char *s)
{
    char *w = s;
    for (const char *p = s; *p; p++) {
        int hi, lo;
        if (*p == '%' && (hi = hex_value(p[1])) >= 0 && (lo = hex_value(p[2])) >= 0) {
            *w++ = (char)(hi << 4 | lo);
            p += 2;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
    return s;
}

/* ---- endpoints ----------------------------------------------------------------------------- */

int imgd_cri_endpoint_socket(const char **path, const char *endpoint, imgd_error **err)
{
    const char *p = endpoint, *problem = NULL;
    if (imgd_str_has_prefix(p, "unix://"))
        p += strlen("unix://");
    else if (strstr(p, "://"))
        problem = "only unix:// sockets are supported";
    if (!problem && p[0] != '/')
        problem = "the socket path must be absolute";
    else if (!problem && strlen(p) >= CRI_SUN_PATH_MAX)
        problem = "the socket path is too long";
    if (problem) {
        imgd_error_set(err, EINVAL, "invalid CRI endpoint '%s': %s", endpoint, problem);
        return -EINVAL; /* spelled out: the analyzer cannot see imgd_error_set's result */
    }
    *path = p;
    return 0;
}

/* Which package each endpoint last answered with. A small table: a process talks to one or two
 * runtimes; when it is full the oldest slot is reused, which only costs one retry later. */
static struct {
    pthread_mutex_t lock;
    struct {
        char socket[CRI_SUN_PATH_MAX];
        unsigned api;
    } slots[CRI_API_SLOTS];
    unsigned used, next;
    imgd_cri_transport_fn transport;
    char v1_package[64];
} cri_state = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The slot of socket, or -1. Called with the lock held. */
static int cri_api_slot(const char *socket)
{
    for (unsigned i = 0; i < cri_state.used; i++) {
        if (strcmp(cri_state.slots[i].socket, socket) == 0)
            return (int)i;
    }
    return -1;
}

static unsigned cri_api_lookup(const char *socket)
{
    pthread_mutex_lock(&cri_state.lock);
    int i = cri_api_slot(socket);
    unsigned api = i >= 0 ? cri_state.slots[i].api : 0;
    pthread_mutex_unlock(&cri_state.lock);
    return api;
}

static void cri_api_remember(const char *socket, unsigned api)
{
    pthread_mutex_lock(&cri_state.lock);
    int i = cri_api_slot(socket);
    if (i < 0) {
        if (cri_state.used < CRI_API_SLOTS) {
            i = (int)cri_state.used++;
        } else {
            i = (int)cri_state.next;
            cri_state.next = (cri_state.next + 1) % CRI_API_SLOTS;
        }
        snprintf(cri_state.slots[i].socket, sizeof(cri_state.slots[i].socket), "%s", socket);
    }
    cri_state.slots[i].api = api;
    pthread_mutex_unlock(&cri_state.lock);
}

const char *imgd_cri_endpoint_api(const char *endpoint)
{
    const char *socket = NULL;
    if (imgd_cri_endpoint_socket(&socket, endpoint, NULL) < 0)
        return NULL;
    pthread_mutex_lock(&cri_state.lock);
    int i = cri_api_slot(socket);
    const char *pkg = i >= 0 ? cri_packages[cri_state.slots[i].api] : NULL;
    pthread_mutex_unlock(&cri_state.lock);
    return pkg;
}

void imgd_cri_test_set_hooks(const imgd_cri_test_hooks *hooks)
{
    pthread_mutex_lock(&cri_state.lock);
    cri_state.used = cri_state.next = 0;
    cri_state.transport = hooks ? hooks->transport : NULL;
    snprintf(cri_state.v1_package, sizeof(cri_state.v1_package), "%s",
             hooks && hooks->v1_package ? hooks->v1_package : "");
    pthread_mutex_unlock(&cri_state.lock);
}

/* ---- the libcurl transport ----------------------------------------------------------------- */

typedef struct cri_transfer {
    imgd_buf *body;
    bool too_big;
    long grpc_status; /* -1 until a grpc-status header or trailer is seen */
    char *grpc_message;
} cri_transfer;

static void cri_transfer_dispose(cri_transfer *t)
{
    free(t->grpc_message);
}

static size_t cri_on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    cri_transfer *t = userdata;
    size_t len = size * nmemb;
    if (t->body->len + len > IMGD_CRI_RESPONSE_MAX + 5) {
        t->too_big = true;
        return 0;
    }
    return imgd_buf_append(t->body, data, len) == 0 ? len : 0;
}

/* Headers, and the trailers of the response, which libcurl passes here too: only grpc-status
 * and grpc-message matter. A Trailers-Only response carries them in its headers. */
static size_t cri_on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    cri_transfer *t = userdata;
    size_t len = size * nmemb;
    const char *colon = memchr(data, ':', len);
    if (!colon)
        return len;
    size_t name_len = (size_t)(colon - data);
    const char *v = colon + 1, *end = data + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vlen = (size_t)(end - v);
    if (name_len == strlen("grpc-status") && strncasecmp(data, "grpc-status", name_len) == 0) {
        char num[16];
        int64_t code = -1;
        snprintf(num, sizeof(num), "%.*s", (int)(vlen < sizeof(num) ? vlen : sizeof(num) - 1), v);
        t->grpc_status = imgd_parse_int64(&code, num) == 0 && code >= 0 && code <= 0xffff
                             ? (long)code
                             : 0xffff; /* unparsable: an unknown status, never OK */
    } else if (name_len == strlen("grpc-message") &&
               strncasecmp(data, "grpc-message", name_len) == 0) {
        free(t->grpc_message);
        t->grpc_message = strndup(v, vlen < CRI_GRPC_MESSAGE_MAX ? vlen : CRI_GRPC_MESSAGE_MAX);
    }
    return len;
}

/* "grpc-timeout: <at most 8 digits><unit>" for the time left. */
static void cri_grpc_timeout_header(char *out, size_t len, long timeout_ms)
{
    if (timeout_ms <= 99999999L)
        snprintf(out, len, "grpc-timeout: %ldm", timeout_ms);
    else
        snprintf(out, len, "grpc-timeout: %ldS",
                 timeout_ms / 1000 > 99999999L ? 99999999L : timeout_ms / 1000);
}

static void cri_curl_cleanup(CURL **c)
{
    if (*c)
        curl_easy_cleanup(*c);
}

static void cri_slist_free(struct curl_slist **l)
{
    curl_slist_free_all(*l);
}

static int cri_curl_setup(CURL *c, struct curl_slist **headers, cri_transfer *t, const char *socket,
                          const char *url, const imgd_buf *req, long timeout_ms, char *errbuf)
{
    char timeout_header[48];
    cri_grpc_timeout_header(timeout_header, sizeof(timeout_header), timeout_ms);
    const char *lines[] = {"content-type: application/grpc", "te: trailers",
                           "accept:", timeout_header};
    for (size_t i = 0; i < IMGD_ARRAY_SIZE(lines); i++) {
        struct curl_slist *l = curl_slist_append(*headers, lines[i]);
        if (!l)
            return -ENOMEM;
        *headers = l;
    }
    bool bad = false;
    bad |= curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE) !=
           CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http") != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_USERAGENT, "imgd") != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, *headers) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_POST, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->data ? req->data : "") != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->len) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, cri_on_header) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_HEADERDATA, t) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cri_on_body) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_WRITEDATA, t) != CURLE_OK;
    bad |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK;
    return bad ? -ENOMEM : 0;
}

/* The error of a failed transfer. path is the gRPC method's path, for the message. */
static int cri_curl_error(imgd_error **err, CURL *c, CURLcode rc, const cri_transfer *t,
                          const char *socket, const char *path, long timeout_ms, const char *errbuf)
{
    const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    long os_errno = 0;
    if (t->too_big)
        return imgd_error_set(err, E2BIG, "CRI runtime at unix://%s: %s: response exceeds %u MiB",
                              socket, path, IMGD_CRI_RESPONSE_MAX >> 20);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return imgd_error_set(err, ETIMEDOUT,
                              "CRI runtime at unix://%s: %s: no answer within %ld ms", socket, path,
                              timeout_ms);
    if (rc == CURLE_COULDNT_CONNECT) {
        curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
        int code = os_errno == ENOENT || os_errno == EACCES ? (int)os_errno : ECONNREFUSED;
        return imgd_error_errno(err, code, "CRI runtime at unix://%s is not reachable", socket);
    }
    if (rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING)
        return imgd_error_set(err, ECONNREFUSED,
                              "CRI runtime at unix://%s is not reachable: %s: connection lost: %s",
                              socket, path, detail);
    if (rc == CURLE_OUT_OF_MEMORY)
        return imgd_error_set(err, ENOMEM, "CRI runtime at unix://%s: %s: out of memory", socket,
                              path);
    return imgd_error_set(err, EIO, "CRI runtime at unix://%s: %s: %s", socket, path, detail);
}

/* The default transport: one gRPC unary exchange with libcurl, on a handle of its own. */
int imgd_cri_transport_curl(imgd_buf *body, long *grpc_status, char **grpc_message,
                            const char *socket, const char *path, const void *request,
                            size_t request_len, long timeout_ms, imgd_error **err)
{
    _cleanup_(cri_curl_cleanup) CURL *c = curl_easy_init();
    _cleanup_(cri_slist_free) struct curl_slist *headers = NULL;
    _cleanup_(imgd_buf_dispose) imgd_buf req = {0};
    _cleanup_free_ char *url = NULL;
    _cleanup_(cri_transfer_dispose) cri_transfer t = {.body = body, .grpc_status = -1};
    char errbuf[CURL_ERROR_SIZE] = "";

    if (!c || (request && imgd_cri_grpc_frame(&req, request, request_len) < 0) ||
        asprintf(&url, "http://localhost%s", path) < 0 ||
        cri_curl_setup(c, &headers, &t, socket, url, &req, timeout_ms, errbuf) < 0)
        return imgd_error_set(err, ENOMEM, "CRI call %s: out of memory", path);
    CURLcode rc = curl_easy_perform(c);
    long http_status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http_status);
    /* grpc-go answers an unknown method (the UNIMPLEMENTED that triggers the fallback) before
     * reading the request: a Trailers-Only response, then RST_STREAM(NO_ERROR) to stop the
     * upload (RFC 7540 8.1). libcurl 7.88 sends a request body only after the headers, and
     * when that answer arrives in between it drops it and fails the upload with a stream
     * error. Say so distinctly: the caller asks again without a body, which cannot race. */
    if (rc == CURLE_HTTP2_STREAM && t.grpc_status < 0 && http_status == 0 && request)
        return imgd_error_set(err, ECONNRESET,
                              "CRI runtime at unix://%s: %s: stream closed before an answer",
                              socket, path);
    if (rc != CURLE_OK)
        return cri_curl_error(err, c, rc, &t, socket, path, timeout_ms, errbuf);
    if (t.grpc_status < 0)
        return imgd_error_set(err, EIO,
                              "CRI runtime at unix://%s: %s: HTTP status %ld without grpc-status",
                              socket, path, http_status);
    *grpc_status = t.grpc_status;
    *grpc_message = TAKE_PTR(t.grpc_message);
    return 0;
}

/* ---- calls --------------------------------------------------------------------------------- */

typedef struct cri_call {
    const char *socket;
    const char *service; /* "ImageService" */
    const char *method;  /* "ListImages" */
    const imgd_buf *request;
    long timeout_ms;
    bool not_found_ok; /* NOT_FOUND is an answer, not an error */
} cri_call;

/* The transport and the name of the package at index api, as the hooks say. */
static imgd_cri_transport_fn cri_hooks_get(char *pkg, size_t len, unsigned api)
{
    pthread_mutex_lock(&cri_state.lock);
    imgd_cri_transport_fn fn = cri_state.transport ? cri_state.transport : imgd_cri_transport_curl;
    const char *name =
        api == 0 && cri_state.v1_package[0] ? cri_state.v1_package : cri_packages[api];
    snprintf(pkg, len, "%s", name);
    pthread_mutex_unlock(&cri_state.lock);
    return fn;
}

/* One exchange on path within the time left before deadline_us; without_message sends no
 * request message at all. */
static int cri_attempt(imgd_buf *body, long *status, char **message, const cri_call *c,
                       const char *path, uint64_t deadline_us, bool without_message,
                       imgd_cri_transport_fn transport, imgd_error **err)
{
    uint64_t now = imgd_now_monotonic_usec();
    if (now >= deadline_us)
        return imgd_error_set(err, ETIMEDOUT,
                              "CRI runtime at unix://%s: %s: no answer within %ld ms", c->socket,
                              path, c->timeout_ms);
    long left_ms = (long)((deadline_us - now + 999) / 1000);
    imgd_buf_dispose(body);
    free(*message);
    *message = NULL;
    const void *req = without_message ? NULL : c->request->data ? c->request->data : "";
    return transport(body, status, message, c->socket, path, req, c->request->len, left_ms, err);
}

/* Call path once. When the runtime closed the stream before answering (-ECONNRESET from the
 * transport: it answered without reading the request, which grpc-go does for UNIMPLEMENTED),
 * ask again without a request message, which cannot race; that answer is kept only when it
 * is UNIMPLEMENTED, else the first error stands (as EIO). */
static int cri_call_path(imgd_buf *body, long *status, char **message, const cri_call *c,
                         const char *path, uint64_t deadline_us, imgd_cri_transport_fn transport,
                         imgd_error **err)
{
    _cleanup_error_ imgd_error *first = NULL;
    int r = cri_attempt(body, status, message, c, path, deadline_us, false, transport, &first);
    if (r == -ECONNRESET) {
        r = cri_attempt(body, status, message, c, path, deadline_us, true, transport, NULL);
        if (r == 0 && *status == GRPC_UNIMPLEMENTED)
            return 0;
        r = -EIO;
        if (first)
            first->code = EIO;
    }
    if (r < 0 && err && !*err)
        *err = TAKE_PTR(first);
    return r;
}

/* Make the call, on the API version the endpoint is known to speak, and on the other one when
 * that is UNIMPLEMENTED. On success body holds the response (framed). */
static int cri_invoke(imgd_buf *body, long *grpc_status, const cri_call *c, imgd_error **err)
{
    _cleanup_free_ char *message = NULL;
    char pkg[64], path[160];
    uint64_t deadline = imgd_now_monotonic_usec() + (uint64_t)c->timeout_ms * 1000;
    unsigned api = cri_api_lookup(c->socket);
    long status = -1;

    for (int attempt = 0; attempt < 2; attempt++) {
        if (attempt > 0)
            api = 1 - api;
        imgd_cri_transport_fn transport = cri_hooks_get(pkg, sizeof(pkg), api);
        snprintf(path, sizeof(path), "/%s.%s/%s", pkg, c->service, c->method);
        int r = cri_call_path(body, &status, &message, c, path, deadline, transport, err);
        if (r < 0)
            return r;
        if (status != GRPC_UNIMPLEMENTED)
            break;
    }
    if (status != GRPC_UNIMPLEMENTED)
        cri_api_remember(c->socket, api);
    *grpc_status = status;
    if (status == 0 || (status == GRPC_NOT_FOUND && c->not_found_ok))
        return 0;
    if (message)
        imgd_cri_grpc_message_decode(message);
    return imgd_error_set(err, imgd_cri_grpc_errno(status), "CRI runtime at unix://%s: %s: %s%s%s",
                          c->socket, path, imgd_cri_grpc_status_name(status),
                          message && *message ? ": " : "", message ? message : "");
}

/* Invoke and unframe: *msg and *len borrow from body. *msg is NULL when not_found_ok applied. */
static int cri_unary(imgd_buf *body, const uint8_t **msg, size_t *len, const cri_call *c,
                     imgd_error **err)
{
    long status = -1;
    int r = cri_invoke(body, &status, c, err);
    if (r < 0)
        return r;
    *msg = NULL;
    *len = 0;
    if (status != 0)
        return 0;
    r = imgd_cri_grpc_unframe(msg, len, body->data, body->len, err);
    if (r < 0)
        return imgd_error_prefix(err, "CRI runtime at unix://%s: %s.%s", c->socket, c->service,
                                 c->method);
    return 0;
}

static long cri_timeout(long timeout_ms)
{
    return timeout_ms > 0 ? timeout_ms : CRI_DEFAULT_TIMEOUT_MS;
}

int imgd_cri_list_images(imgd_cri_image **out, size_t *n, const char *endpoint, long timeout_ms,
                         imgd_error **err)
{
    _cleanup_(imgd_buf_dispose) imgd_buf body = {0};
    imgd_buf request = {0}; /* ListImagesRequest{}: no filter, no bytes */
    cri_call c = {.service = "ImageService",
                  .method = "ListImages",
                  .request = &request,
                  .timeout_ms = cri_timeout(timeout_ms)};
    const uint8_t *msg = NULL;
    size_t len = 0;

    assert(out && n && endpoint);
    int r = imgd_cri_endpoint_socket(&c.socket, endpoint, err);
    if (r == 0)
        r = cri_unary(&body, &msg, &len, &c, err);
    if (r == 0 && (r = imgd_cri_decode_images(out, n, msg, len, err)) < 0)
        imgd_error_prefix(err, "CRI runtime at unix://%s: ListImages", c.socket);
    return r;
}

int imgd_cri_image_status(imgd_cri_image *out, bool *found, const char *endpoint, const char *image,
                          long timeout_ms, imgd_error **err)
{
    _cleanup_(imgd_buf_dispose) imgd_buf body = {0};
    _cleanup_(imgd_buf_dispose) imgd_buf spec = {0};
    _cleanup_(imgd_buf_dispose) imgd_buf request = {0};
    cri_call c = {.service = "ImageService",
                  .method = "ImageStatus",
                  .request = &request,
                  .timeout_ms = cri_timeout(timeout_ms),
                  .not_found_ok = true};
    const uint8_t *msg = NULL;
    size_t len = 0;

    assert(out && found && endpoint && image);
    int r = imgd_cri_endpoint_socket(&c.socket, endpoint, err);
    if (r < 0)
        return r;
    /* ImageStatusRequest{ImageSpec image = 1 {string image = 1}}; verbose (2) stays false */
    if ((*image && imgd_proto_put_string(&spec, F_IMAGE_SPEC_IMAGE, image) < 0) ||
        imgd_proto_put_bytes(&request, F_IMAGE_STATUS_REQUEST_IMAGE, spec.data, spec.len) < 0)
        return imgd_error_set(err, ENOMEM, "CRI ImageStatus: out of memory");
    r = cri_unary(&body, &msg, &len, &c, err);
    if (r < 0)
        return r;
    if (!msg) { /* NOT_FOUND */
        memset(out, 0, sizeof(*out));
        *found = false;
        return 0;
    }
    r = imgd_cri_decode_image_status(out, found, msg, len, err);
    return r < 0 ? imgd_error_prefix(err, "CRI runtime at unix://%s: ImageStatus", c.socket) : 0;
}

int imgd_cri_get_version(imgd_cri_version *out, const char *endpoint, long timeout_ms,
                         imgd_error **err)
{
    _cleanup_(imgd_buf_dispose) imgd_buf body = {0};
    _cleanup_(imgd_buf_dispose) imgd_buf request = {0};
    cri_call c = {.service = "RuntimeService",
                  .method = "Version",
                  .request = &request,
                  .timeout_ms = cri_timeout(timeout_ms)};
    const uint8_t *msg = NULL;
    size_t len = 0;

    assert(out && endpoint);
    int r = imgd_cri_endpoint_socket(&c.socket, endpoint, err);
    if (r < 0)
        return r;
    if (imgd_proto_put_string(&request, F_VERSION_REQUEST_VERSION, CRI_WIRE_VERSION) < 0)
        return imgd_error_set(err, ENOMEM, "CRI Version: out of memory");
    r = cri_unary(&body, &msg, &len, &c, err);
    if (r == 0 && (r = imgd_cri_decode_version(out, msg, len, err)) < 0)
        imgd_error_prefix(err, "CRI runtime at unix://%s: Version", c.socket);
    return r;
}

/* ---- where crictl looks -------------------------------------------------------------------- */

/* Strip a "# comment" (at the start or after a blank, outside quotes) and surrounding blanks
 * of a YAML scalar, then one pair of matching quotes. Works in place; returns the start. */
static char *cri_yaml_scalar(char *s)
{
    char quote = 0;
    for (char *p = s; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if ((*p == '"' || *p == '\'') && (p == s || isspace((unsigned char)p[-1]))) {
            quote = *p;
        } else if (*p == '#' && (p == s || isspace((unsigned char)p[-1]))) {
            *p = '\0';
            break;
        }
    }
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) {
        s[n - 1] = '\0';
        s++;
    }
    return s;
}

/* The value of a top-level key of a flat "key: value" YAML text (modified in place), or NULL. */
static const char *cri_yaml_get(char *text, const char *key)
{
    size_t klen = strlen(key);
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (strncmp(line, key, klen) != 0)
            continue;
        char *rest = line + klen;
        while (*rest == ' ' || *rest == '\t')
            rest++;
        if (*rest == ':')
            return cri_yaml_scalar(rest + 1);
    }
    return NULL;
}

/* runtime-endpoint of a crictl.yaml: *value is NULL when the file or the key is missing. */
static int cri_yaml_endpoint(char **text, const char **value, const char *path, imgd_error **err)
{
    *value = NULL;
    if (!path || !*path)
        return 0;
    _cleanup_error_ imgd_error *read_err = NULL;
    int r = imgd_read_file(text, NULL, path, CRI_YAML_MAX, &read_err);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return imgd_error_set(err, -r, "CRI endpoint from crictl config: %s",
                              read_err ? read_err->message : path);
    *value = cri_yaml_get(*text, "runtime-endpoint");
    return 0;
}

int imgd_cri_endpoint_resolve(char *out, size_t len, const char **source, const char *configured,
                              const char *crictl_yaml, imgd_error **err)
{
    _cleanup_free_ char *text = NULL;
    const char *value = configured, *src = "config";
    int r;

    if (!value || !*value) {
        value = getenv("CONTAINER_RUNTIME_ENDPOINT");
        src = "environment";
    }
    if (!value || !*value) {
        if ((r = cri_yaml_endpoint(&text, &value, crictl_yaml, err)) < 0)
            return r;
        src = "crictl.yaml";
    }
    if (!value || !*value) {
        value = IMGD_CRI_DEFAULT_ENDPOINT;
        src = "default";
    }
    const char *scheme = value[0] == '/' ? "unix://" : "";
    if (strlen(scheme) + strlen(value) >= len)
        return imgd_error_set(err, ENAMETOOLONG, "CRI endpoint '%s' (from %s) is too long", value,
                              src);
    snprintf(out, len, "%s%s", scheme, value);
    *source = src;
    return 0;
}
