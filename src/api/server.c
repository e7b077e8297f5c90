/* SPDX-License-Identifier: MIT */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "face.h"
#include "jobs.h"
#include "metrics.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define MAX_LISTENERS  17 /* 16 TCP addresses + the unix socket */
#define REQUEST_ID_MAX 128
#define TOKEN_FILE_MAX (1024 * 1024)
#define PEM_FILE_MAX   (1024 * 1024)
#define LISTEN_BACKLOG 1024
#define TOKEN_HASH_LEN 32
#define JOB_STOP_USEC  (5u * 1000u * 1000u)  /* for cancelled jobs to return */
#define DRAIN_MAX      (16u * 1024u * 1024u) /* most body bytes read only to be dropped */

typedef struct listener {
    struct imgd_server *srv;
    struct MHD_Daemon *mhd;
    int fd;
    bool is_unix;
    bool tls;
    char name[300];
} listener;

struct imgd_server {
    const imgd_api_ctx *ctx;
    const imgd_route *routes;
    size_t n_routes;
    listener listeners[MAX_LISTENERS];
    size_t n_listeners;
    unsigned char (*tokens)[TOKEN_HASH_LEN];
    size_t n_tokens;
    char *tls_key;
    char *tls_cert;
    char *tls_ca;
    char *socket_path; /* set when this server created the unix socket */
    int draining;
    job_list *jobs;
    char rid_prefix[9];
    uint64_t rid_counter;
};

/* Per TLS connection: whether its client certificate was verified already. */
typedef struct conn_state {
    bool cert_verified;
} conn_state;

/* Per request, from the first callback to the completion notice. */
typedef struct request_state {
    listener *l;
    struct MHD_Connection *conn;
    imgd_request req;
    imgd_response resp;
    uint64_t start_usec;
    size_t route_index; /* n_routes when unmatched */
    unsigned status;    /* what was sent, for the access log */
    size_t bytes;
    char *path;
    char method[16];
    char request_id[REQUEST_ID_MAX + 1];
    imgd_buf body;
    size_t drained; /* bytes of a refused body read and dropped */
    bool has_body;
    bool too_large;
    bool prepared; /* resp holds an answer decided before the handler (401/404/405) */
    bool responded;
    imgd_job *job;            /* a long operation this request waits for or streams */
    bool streaming;           /* the body goes to bstream, not to body */
    imgd_body_stream bstream; /* when streaming */
    imgd_error *stream_err;   /* bstream.data failed: the rest of the body is dropped */
} request_state;

/* ---- request ids ---- */

static bool request_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  strchr("-_.:@/+=", c) != NULL;
        if (!ok)
            return false;
    }
    return true;
}

static void request_id_init(request_state *rs)
{
    const char *given = MHD_lookup_connection_value(rs->conn, MHD_HEADER_KIND, "X-Request-Id");
    if (given && request_id_valid(given)) {
        snprintf(rs->request_id, sizeof(rs->request_id), "%s", given);
        return;
    }
    uint64_t n = __atomic_add_fetch(&rs->l->srv->rid_counter, 1, __ATOMIC_RELAXED);
    snprintf(rs->request_id, sizeof(rs->request_id), "%s%08llx", rs->l->srv->rid_prefix,
             (unsigned long long)(n & 0xffffffffu));
}

/* ---- responses ---- */

static const char *conn_lookup(void *conn, imgd_lookup_kind kind, const char *key)
{
    return MHD_lookup_connection_value(
        conn, kind == IMGD_LOOKUP_HEADER ? MHD_HEADER_KIND : MHD_GET_ARGUMENT_KIND, key);
}

typedef struct values_ctx {
    const char *key;
    const char **out;
    size_t max, n;
} values_ctx;

static enum MHD_Result collect_value(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    values_ctx *v = cls;
    if (key && !strcmp(key, v->key)) {
        if (v->n < v->max)
            v->out[v->n] = value ? value : "";
        v->n++;
    }
    return MHD_YES;
}

static size_t conn_lookup_all(void *conn, const char *key, const char **out, size_t max)
{
    values_ctx v = {.key = key, .out = out, .max = max};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_value, &v);
    return v.n;
}

static ssize_t no_body_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls, (void)pos, (void)buf, (void)max;
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

static enum MHD_Result send_response(request_state *rs)
{
    imgd_response *resp = &rs->resp;
    struct MHD_Response *r;
    if (resp->has_file && resp->file_fd < 0) {
        /* HEAD of an object held elsewhere: its length, and no body to read */
        r = MHD_create_response_from_callback(resp->file_size, 4096, no_body_reader, NULL, NULL);
    } else if (resp->has_file) {
        r = MHD_create_response_from_fd64(resp->file_size, resp->file_fd);
        if (r)
            resp->has_file = false; /* MHD closes it now */
    } else if (resp->body) {
        r = MHD_create_response_from_buffer(resp->body_len, resp->body, MHD_RESPMEM_MUST_FREE);
        if (r)
            resp->body = NULL; /* MHD frees it now */
    } else {
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!r)
        return MHD_NO;
    if (resp->content_type && (resp->body_len || resp->file_size))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    MHD_add_response_header(r, "X-Request-Id", rs->request_id);
    for (size_t i = 0; i < resp->n_headers; i++)
        MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
    if (__atomic_load_n(&rs->l->srv->draining, __ATOMIC_RELAXED))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    rs->status = resp->status;
    rs->bytes = resp->body_len;
    rs->responded = true;
    enum MHD_Result ret = MHD_queue_response(rs->conn, resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Replace the response with an error in the request's face dialect. Returns 0 or -ENOMEM. */
static int prepare_error(request_state *rs, unsigned status, const char *message)
{
    imgd_resp_dispose(&rs->resp);
    return imgd_face_error(&rs->resp, rs->req.face, status, message);
}

/* ---- authentication ---- */

static void token_hash(unsigned char out[TOKEN_HASH_LEN], const char *token, size_t len)
{
    unsigned int n = TOKEN_HASH_LEN;
    EVP_Digest(token, len, out, &n, EVP_sha256(), NULL);
}

/* Compare the presented token's hash with every configured one, without an early exit, so the
 * time taken says nothing about which bytes matched. */
static bool token_valid(const imgd_server *srv, const char *authorization)
{
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return false;
    const char *token = authorization + 7;
    while (*token == ' ')
        token++;
    unsigned char h[TOKEN_HASH_LEN];
    token_hash(h, token, strlen(token));
    bool ok = false;
    for (size_t i = 0; i < srv->n_tokens; i++)
        ok |= imgd_memeq_const(h, srv->tokens[i], TOKEN_HASH_LEN);
    return ok && *token != '\0';
}

static bool client_cert_valid(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    conn_state *cs = ci ? ci->socket_context : NULL;
    if (cs && cs->cert_verified)
        return true;
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return false;
    gnutls_session_t session = ci->tls_session;
    unsigned int n = 0;
    if (!gnutls_certificate_get_peers(session, &n) || n == 0)
        return false;
    unsigned int status = 0;
    if (gnutls_certificate_verify_peers2(session, &status) < 0 || status != 0)
        return false;
    if (cs)
        cs->cert_verified = true;
    return true;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    (void)conn;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_context = calloc(1, sizeof(conn_state));
    } else {
        free(*socket_context);
        *socket_context = NULL;
    }
}

/* Returns 0 when the request may proceed, 1 when a 401 response was prepared instead, or a
 * negative errno. */
static int authorize(request_state *rs)
{
    const imgd_server *srv = rs->l->srv;
    if (rs->l->is_unix) /* guarded by the socket's owner and mode */
        return 0;
    if (srv->tls_ca && !client_cert_valid(rs->conn)) {
        int r =
            prepare_error(rs, 401, "a client certificate signed by the configured CA is required");
        return r < 0 ? r : 1;
    }
    if (srv->n_tokens > 0 &&
        !token_valid(srv, MHD_lookup_connection_value(rs->conn, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_AUTHORIZATION))) {
        int r = prepare_error(rs, 401, "missing or invalid bearer token");
        if (r == 0)
            r = imgd_resp_header(&rs->resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                 "Bearer realm=\"imgd\"");
        return r < 0 ? r : 1;
    }
    return 0;
}

/* ---- request lifecycle ---- */

static request_state *request_begin(listener *l, struct MHD_Connection *conn, const char *url,
                                    const char *method)
{
    request_state *rs = calloc(1, sizeof(*rs));
    if (!rs)
        return NULL;
    rs->path = imgd_face_route_path(url);
    if (!rs->path) {
        free(rs);
        return NULL;
    }
    rs->l = l;
    rs->conn = conn;
    rs->start_usec = imgd_now_monotonic_usec();
    rs->route_index = l->srv->n_routes;
    snprintf(rs->method, sizeof(rs->method), "%s", method);
    request_id_init(rs);
    rs->req.ctx = l->srv->ctx;
    rs->req.method = rs->method;
    rs->req.path = rs->path;
    rs->req.request_id = rs->request_id;
    rs->req.face = imgd_face_for_path(rs->path);
    rs->req.lookup = conn_lookup;
    rs->req.lookup_all = conn_lookup_all;
    rs->req.conn = conn;
    imgd_metrics_request_started(l->srv->ctx->metrics);
    return rs;
}

static void request_free(request_state *rs)
{
    if (rs->bstream.free)
        rs->bstream.free(rs->bstream.state);
    imgd_error_free(rs->stream_err);
    for (size_t i = 0; i < rs->req.n_params; i++)
        free(rs->req.param_values[i]);
    imgd_resp_dispose(&rs->resp);
    imgd_buf_dispose(&rs->body);
    free(rs->path);
    free(rs);
}

/* Match the route. Returns 0 when one was found (params filled), 1 when a 404/405 response was
 * prepared instead, or a negative errno. */
static int route(request_state *rs)
{
    const imgd_server *srv = rs->l->srv;
    imgd_route_param params[IMGD_ROUTE_MAX_PARAMS];
    size_t n_params = 0, index = 0;
    char allow[128];
    imgd_route_result rr = imgd_router_find(&index, params, &n_params, allow, sizeof(allow),
                                            srv->routes, srv->n_routes, rs->method, rs->path);
    if (rr == IMGD_ROUTE_NOT_FOUND) {
        int r = imgd_face_not_found(&rs->resp, rs->req.face, rs->path);
        return r < 0 ? r : 1;
    }
    if (rr == IMGD_ROUTE_METHOD_NOT_ALLOWED) {
        int r = imgd_face_method_not_allowed(&rs->resp, rs->req.face, rs->method, rs->path, allow);
        return r < 0 ? r : 1;
    }
    rs->route_index = index;
    rs->req.face = srv->routes[index].face;
    for (size_t i = 0; i < n_params; i++) {
        rs->req.param_names[i] = params[i].name;
        rs->req.param_name_lens[i] = params[i].name_len;
        rs->req.param_values[i] = strndup(params[i].value, params[i].value_len);
        if (!rs->req.param_values[i])
            return -ENOMEM;
        rs->req.n_params = i + 1;
    }
    return 0;
}

/* The route takes non-JSON bodies as a stream and this request sends one. */
static bool wants_stream(const request_state *rs)
{
    const imgd_route *r = &rs->l->srv->routes[rs->route_index];
    if (!r->stream || !rs->has_body)
        return false;
    const char *ct =
        MHD_lookup_connection_value(rs->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    return !ct || strncasecmp(ct, "application/json", 16) != 0;
}

/* Returns 0, 1 when an error response was prepared, or a negative errno. */
static int start_body_stream(request_state *rs)
{
    const imgd_route *r = &rs->l->srv->routes[rs->route_index];
    imgd_error *err = NULL;
    int rc = r->stream(&rs->req, &rs->bstream, &err);
    if (rc == 0) {
        rs->streaming = true;
        return 0;
    }
    rc = prepare_error(rs, imgd_face_status(rs->req.face, err ? err->code : -rc),
                       err ? err->message : "internal error");
    imgd_error_free(err);
    return rc < 0 ? rc : 1;
}

/* The handler answered with a job: run it; a streaming job's answer starts at once, otherwise
 * the connection waits, suspended, until the job ends (see finish_job). */
static enum MHD_Result start_job(request_state *rs)
{
    imgd_job_spec spec = *rs->resp.job;
    free(rs->resp.job);
    rs->resp.job = NULL;
    struct MHD_Response *stream = NULL;
    if (job_start(&rs->job, rs->l->srv->jobs, &spec, rs->conn, rs->request_id, &stream) < 0)
        return prepare_error(rs, 500, "out of memory") < 0 ? MHD_NO : send_response(rs);
    if (!stream)
        return MHD_YES;
    MHD_add_response_header(stream, MHD_HTTP_HEADER_CONTENT_TYPE,
                            spec.content_type ? spec.content_type : "application/x-ndjson");
    MHD_add_response_header(stream, "X-Request-Id", rs->request_id);
    if (__atomic_load_n(&rs->l->srv->draining, __ATOMIC_RELAXED))
        MHD_add_response_header(stream, MHD_HTTP_HEADER_CONNECTION, "close");
    rs->status = 200;
    rs->responded = true;
    enum MHD_Result ret = MHD_queue_response(rs->conn, 200, stream);
    MHD_destroy_response(stream);
    return ret;
}

/* What a handler (or a job, or a streamed body's finish) produced: a failure in the face's
 * dialect, logged once; a job to start; or the response. Consumes err. */
static enum MHD_Result answer(request_state *rs, int rc, imgd_error *err)
{
    if (rc < 0) {
        unsigned status = imgd_face_status(rs->req.face, err ? err->code : -rc);
        const char *msg = err ? err->message : "internal error";
        if (status >= 500)
            log_error("%s %s: %s", rs->method, rs->path, msg);
        else
            log_info("%s %s: %s", rs->method, rs->path, msg);
        rc = prepare_error(rs, status, msg);
        imgd_error_free(err);
        return rc < 0 ? MHD_NO : send_response(rs);
    }
    imgd_error_free(err);
    if (rs->resp.job)
        return start_job(rs);
    if (rs->resp.status == 0)
        rs->resp.status = 200;
    return send_response(rs);
}

/* Called again after the job resumed the connection: answer with its result. */
static enum MHD_Result finish_job(request_state *rs)
{
    if (!job_ready(rs->job))
        return MHD_YES; /* suspended again */
    imgd_error *err = NULL;
    int rc = job_result(rs->job, &rs->resp, &err);
    return answer(rs, rc, err);
}

static enum MHD_Result dispatch(request_state *rs)
{
    const imgd_route *route_entry = &rs->l->srv->routes[rs->route_index];
    rs->req.body = rs->body.data;
    rs->req.body_len = rs->body.len;
    imgd_error *err = NULL;
    int rc = route_entry->handler(&rs->req, &rs->resp, &err);
    return answer(rs, rc, err);
}

static bool request_has_body(struct MHD_Connection *conn, int64_t *content_length)
{
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    *content_length = -1;
    if (cl && imgd_parse_int64(content_length, cl) == 0 && *content_length == 0 && !te)
        return false;
    return cl || te;
}

/* Take a chunk of the body. Returns false when the connection should be dropped: a body that
 * will be refused anyway is read and discarded (closing with unread data makes the kernel reset
 * the connection before the client has read the answer), but only up to DRAIN_MAX. */
static bool body_append(request_state *rs, const char *data, size_t len)
{
    if (rs->streaming && !rs->prepared && !rs->stream_err) {
        if (rs->bstream.data(rs->bstream.state, data, len, &rs->stream_err) == 0)
            return true;
        if (!rs->stream_err)
            imgd_error_set(&rs->stream_err, EIO, "request body rejected");
    }
    size_t limit = (size_t)rs->l->srv->ctx->cfg->max_body_bytes;
    if (rs->streaming || rs->prepared || rs->too_large || rs->body.len + len > limit) {
        rs->too_large = !rs->prepared && !rs->streaming;
        rs->drained += len;
        return rs->drained <= DRAIN_MAX;
    }
    return imgd_buf_append(&rs->body, data, len) == 0;
}

static bool expects_continue(struct MHD_Connection *conn)
{
    const char *expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
    return expect && strcasecmp(expect, "100-continue") == 0;
}

/* The first callback has the headers only. MHD 0.9.75 closes the connection after any response
 * queued this early, so a request without a body gets its answer on the second callback and
 * keeps the connection alive. A body that will be refused (401, 413, 404, 405) is not kept: the
 * answer goes out at once when the client waits for "100 Continue" or announces more than
 * DRAIN_MAX bytes, else after the body was read and dropped. */
static enum MHD_Result first_call(request_state *rs)
{
    int64_t length = -1;
    int64_t limit = rs->l->srv->ctx->cfg->max_body_bytes;
    rs->has_body = request_has_body(rs->conn, &length);
    /* order: who asks; then how much they send (known from the headers, whatever the path,
     * unless the route takes the body as a stream); then where it goes */
    int r = authorize(rs);
    int routed = r == 0 ? route(rs) : 1; /* a prepared 404/405 gives way to a 413 */
    bool stream = routed == 0 && wants_stream(rs);
    if (r == 0 && !stream && length > limit) {
        char msg[128];
        snprintf(msg, sizeof(msg), "request body of %lld bytes exceeds the limit of %lld bytes",
                 (long long)length, (long long)limit);
        r = prepare_error(rs, 413, msg);
        r = r < 0 ? r : 1;
    }
    if (r == 0)
        r = routed;
    if (r == 0 && stream)
        r = start_body_stream(rs);
    if (r < 0)
        return MHD_NO;
    rs->prepared = r == 1;
    if (!rs->has_body)
        return MHD_YES;
    if (rs->prepared && (expects_continue(rs->conn) || length > (int64_t)DRAIN_MAX))
        return send_response(rs);
    return MHD_YES;
}

/* A streamed body is all in: its finish() answers like a handler. */
static enum MHD_Result finish_stream(request_state *rs)
{
    imgd_error *err = TAKE_PTR(rs->stream_err);
    int rc = err ? -err->code : rs->bstream.finish(rs->bstream.state, &rs->req, &rs->resp, &err);
    /* whatever the stream staged goes before the answer does */
    if (rs->bstream.free)
        rs->bstream.free(rs->bstream.state);
    rs->bstream.free = NULL;
    return answer(rs, rc, err);
}

static enum MHD_Result last_call(request_state *rs)
{
    if (rs->job)
        return finish_job(rs);
    if (rs->prepared)
        return send_response(rs);
    if (rs->streaming)
        return finish_stream(rs);
    if (rs->too_large) {
        char msg[96];
        snprintf(msg, sizeof(msg), "request body exceeds the limit of %lld bytes",
                 (long long)rs->l->srv->ctx->cfg->max_body_bytes);
        return prepare_error(rs, 413, msg) < 0 ? MHD_NO : send_response(rs);
    }
    return dispatch(rs);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    listener *l = cls;
    request_state *rs = *con_cls;
    enum MHD_Result ret = MHD_YES;
    if (!rs) {
        rs = request_begin(l, conn, url, method);
        if (!rs)
            return MHD_NO;
        *con_cls = rs;
        imgd_log_set_request_id(rs->request_id);
        ret = first_call(rs);
    } else if (*upload_data_size > 0) {
        if (!rs->responded && !body_append(rs, upload_data, *upload_data_size))
            ret = MHD_NO;
        *upload_data_size = 0;
    } else if (!rs->responded) {
        imgd_log_set_request_id(rs->request_id);
        ret = last_call(rs);
    }
    imgd_log_set_request_id(NULL);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    listener *l = cls;
    request_state *rs = *con_cls;
    if (!rs)
        return;
    uint64_t usec = imgd_now_monotonic_usec() - rs->start_usec;
    unsigned status = rs->responded ? rs->status : 0;
    imgd_metrics_observe(l->srv->ctx->metrics, rs->route_index, status, usec);
    imgd_log_set_request_id(rs->request_id);
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        log_info("%s %s %u %zuB %lluus", rs->method, rs->path, status, rs->bytes,
                 (unsigned long long)usec);
    else
        log_info("%s %s %u %zuB %lluus (connection ended early: %d)", rs->method, rs->path, status,
                 rs->bytes, (unsigned long long)usec, (int)toe);
    imgd_log_set_request_id(NULL);
    if (rs->job)
        job_detach(rs->job);
    request_free(rs);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    log_debug("http: %s", msg);
}

/* ---- listeners ---- */

static int tcp_socket(listener *l, const char *addr, imgd_error **err)
{
    char host[256];
    uint16_t port;
    if (imgd_config_parse_listen(host, sizeof(host), &port, addr) < 0)
        return imgd_error_set(err, EINVAL, "invalid listen address '%s'", addr);
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    struct sockaddr_storage ss;
    socklen_t slen;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        slen = sizeof(*a4);
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        slen = sizeof(*a6);
    } else {
        return imgd_error_set(err, EINVAL, "invalid listen address '%s'", addr);
    }
    _cleanup_close_ int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return imgd_error_errno(err, errno, "socket for %s", addr);
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, slen) < 0)
        return imgd_error_errno(err, errno, "listen on %s", addr);
    if (listen(fd, LISTEN_BACKLOG) < 0)
        return imgd_error_errno(err, errno, "listen on %s", addr);
    /* report the real port when 0 asked the kernel to pick one */
    if (getsockname(fd, (struct sockaddr *)&ss, &slen) == 0) {
        char ip[INET6_ADDRSTRLEN] = "";
        if (ss.ss_family == AF_INET) {
            inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof(ip));
            port = ntohs(a4->sin_port);
        } else {
            inet_ntop(AF_INET6, &a6->sin6_addr, ip, sizeof(ip));
            port = ntohs(a6->sin6_port);
        }
        snprintf(l->name, sizeof(l->name), ss.ss_family == AF_INET6 ? "%s://[%s]:%u" : "%s://%s:%u",
                 l->tls ? "https" : "http", ip, port);
    }
    l->fd = TAKE_FD(fd);
    return 0;
}

static int unix_socket(listener *l, const char *path, imgd_error **err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return imgd_error_set(err, ENAMETOOLONG, "unix socket path '%s' is too long", path);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return imgd_error_errno(err, errno, "unix socket '%s'", path);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return imgd_error_set(err, EEXIST, "'%s' exists and is not a socket", path);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return imgd_error_set(err, EADDRINUSE,
                                  "another process is serving the unix socket '%s'", path);
        close(fd);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return imgd_error_errno(err, errno, "unix socket '%s'", path);
        unlink(path); /* stale: left by a process that died */
    }
    /* the mode must be right from the first moment the socket exists */
    mode_t old = umask(0117);
    int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r < 0)
        return imgd_error_errno(err, errno, "bind unix socket '%s'", path);
    if (listen(fd, LISTEN_BACKLOG) < 0) {
        r = -errno;
        unlink(path);
        return imgd_error_errno(err, -r, "listen on unix socket '%s'", path);
    }
    snprintf(l->name, sizeof(l->name), "unix://%s", path);
    l->fd = TAKE_FD(fd);
    return 0;
}

static int start_daemon(listener *l, imgd_error **err)
{
    const imgd_server *srv = l->srv;
    const imgd_config *cfg = srv->ctx->cfg;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                         MHD_USE_ERROR_LOG | MHD_USE_TURBO | MHD_ALLOW_SUSPEND_RESUME;
    struct MHD_OptionItem opts[16];
    size_t n = 0;
#define OPT(o, v, p) opts[n++] = (struct MHD_OptionItem){(o), (intptr_t)(v), (p)}
    OPT(MHD_OPTION_LISTEN_SOCKET, l->fd, NULL);
    OPT(MHD_OPTION_THREAD_POOL_SIZE, cfg->max_workers, NULL);
    OPT(MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections, NULL);
    OPT(MHD_OPTION_CONNECTION_TIMEOUT, cfg->request_timeout, NULL);
    OPT(MHD_OPTION_NOTIFY_COMPLETED, on_completed, l);
    OPT(MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL);
    OPT(MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1, NULL);
    if (l->tls) {
        flags |= MHD_USE_TLS;
        OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key);
        OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert);
        if (srv->tls_ca) {
            OPT(MHD_OPTION_HTTPS_MEM_TRUST, 0, srv->tls_ca);
            OPT(MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL);
        }
    }
    OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
    l->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, l, MHD_OPTION_ARRAY, opts,
                              MHD_OPTION_END);
    if (!l->mhd)
        return imgd_error_set(err, EIO, "start HTTP server on %s%s", l->name,
                              l->tls ? " (check tls_cert and tls_key)" : "");
    return 0;
}

/* ---- configuration files ---- */

static int load_tokens(imgd_server *srv, const char *path, imgd_error **err)
{
    _cleanup_free_ char *text = NULL;
    size_t text_len = 0;
    int r = imgd_read_file(&text, &text_len, path, TOKEN_FILE_MAX, err);
    if (r < 0)
        return imgd_error_prefix(err, "tokens_file");
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        while (*line == ' ' || *line == '\t')
            line++;
        size_t len = strlen(line);
        while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        void *t = realloc(srv->tokens, (srv->n_tokens + 1) * sizeof(*srv->tokens));
        if (!t)
            return imgd_error_set(err, ENOMEM, "out of memory");
        srv->tokens = t;
        token_hash(srv->tokens[srv->n_tokens++], line, len);
    }
    explicit_bzero(text, text_len); /* strtok_r put NULs in: clear the whole buffer */
    if (srv->n_tokens == 0)
        return imgd_error_set(err, EINVAL, "tokens_file '%s' holds no token", path);
    return 0;
}

static int load_tls(imgd_server *srv, const imgd_config *cfg, imgd_error **err)
{
    int r = imgd_read_file(&srv->tls_cert, NULL, cfg->tls_cert, PEM_FILE_MAX, err);
    if (r == 0)
        r = imgd_read_file(&srv->tls_key, NULL, cfg->tls_key, PEM_FILE_MAX, err);
    if (r == 0 && cfg->tls_client_ca && *cfg->tls_client_ca)
        r = imgd_read_file(&srv->tls_ca, NULL, cfg->tls_client_ca, PEM_FILE_MAX, err);
    return r < 0 ? imgd_error_prefix(err, "TLS") : 0;
}

static int server_setup(imgd_server *srv, imgd_error **err)
{
    const imgd_config *cfg = srv->ctx->cfg;
    int r;
    if (cfg->tokens_file && *cfg->tokens_file && (r = load_tokens(srv, cfg->tokens_file, err)) < 0)
        return r;
    bool tls = cfg->tls_cert && *cfg->tls_cert;
    if (tls && (r = load_tls(srv, cfg, err)) < 0)
        return r;
    for (char **a = cfg->listen; a && *a; a++) {
        listener *l = &srv->listeners[srv->n_listeners];
        *l = (listener){.srv = srv, .fd = -1, .tls = tls};
        srv->n_listeners++;
        if ((r = tcp_socket(l, *a, err)) < 0)
            return r;
    }
    if (strcmp(cfg->socket, "none") != 0) {
        listener *l = &srv->listeners[srv->n_listeners];
        *l = (listener){.srv = srv, .fd = -1, .is_unix = true};
        srv->n_listeners++;
        if ((r = unix_socket(l, cfg->socket, err)) < 0)
            return r;
        srv->socket_path = strdup(cfg->socket);
    }
    if (srv->n_listeners == 0)
        return imgd_error_set(err, EINVAL, "nothing to listen on: listen and socket are both none");
    for (size_t i = 0; i < srv->n_listeners; i++) {
        if ((r = start_daemon(&srv->listeners[i], err)) < 0)
            return r;
    }
    return 0;
}

/* libmicrohttpd 0.9.75 races in MHD_quiesce_daemon: it marks each worker quiesced, then takes the
 * listening socket out of that worker's epoll set, which the worker, woken meanwhile, may have
 * done itself; the second removal fails and MHD panics (abort, exit 134, while stopping). The
 * socket is out of the set either way, so that one panic is logged and survived; any other
 * aborts, as MHD's own handler does. */
static void mhd_panic(void *cls, const char *file, unsigned int line, const char *reason)
{
    (void)cls;
    char text[256];
    snprintf(text, sizeof text, "%s", reason ? reason : "panic");
    text[strcspn(text, "\n")] = '\0';
    if (strstr(text, "Failed to remove listen FD from epoll set")) {
        log_warning("libmicrohttpd %s:%u: %s (a known race while stopping; ignored)",
                    file ? file : "?", line, text);
        return;
    }
    log_error("libmicrohttpd %s:%u: %s", file ? file : "?", line, text);
    abort();
}

int imgd_server_new(imgd_server **out, const imgd_api_ctx *ctx, const imgd_route *routes,
                    size_t n_routes, imgd_error **err)
{
    imgd_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return imgd_error_set(err, ENOMEM, "out of memory");
    srv->ctx = ctx;
    srv->routes = routes;
    srv->n_routes = n_routes;
    uint32_t seed = 0;
    if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
        seed = (uint32_t)time(NULL) ^ (uint32_t)getpid();
    snprintf(srv->rid_prefix, sizeof(srv->rid_prefix), "%08x", seed);
    MHD_set_panic_func(mhd_panic, NULL);
    srv->jobs = job_list_new();
    int r = srv->jobs ? server_setup(srv, err) : imgd_error_set(err, ENOMEM, "out of memory");
    if (r < 0) {
        imgd_server_free(srv);
        return r;
    }
    *out = srv;
    return 0;
}

void imgd_server_quiesce(imgd_server *srv)
{
    __atomic_store_n(&srv->draining, 1, __ATOMIC_RELAXED);
    for (size_t i = 0; i < srv->n_listeners; i++) {
        listener *l = &srv->listeners[i];
        if (l->mhd) {
            MHD_socket fd = MHD_quiesce_daemon(l->mhd);
            if (fd != MHD_INVALID_SOCKET)
                close(fd);
            l->fd = -1;
        }
    }
    if (srv->socket_path) {
        unlink(srv->socket_path);
        free(srv->socket_path);
        srv->socket_path = NULL;
    }
}

bool imgd_server_wait_idle(imgd_server *srv, uint64_t timeout_usec)
{
    uint64_t deadline = imgd_now_monotonic_usec() + timeout_usec;
    while (imgd_metrics_in_flight(srv->ctx->metrics) > 0) {
        if (imgd_now_monotonic_usec() >= deadline)
            return false;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return true;
}

void imgd_server_free(imgd_server *srv)
{
    if (!srv)
        return;
    /* jobs still running are cancelled, and their suspended connections resumed: MHD must not
     * be stopped while it holds one */
    bool jobs_done = !srv->jobs || job_list_shutdown(srv->jobs, JOB_STOP_USEC);
    if (srv->jobs) {
        struct timespec ts = {0, 50 * 1000 * 1000}; /* let the daemons see the resumptions */
        nanosleep(&ts, NULL);
    }
    for (size_t i = 0; i < srv->n_listeners; i++) {
        listener *l = &srv->listeners[i];
        if (l->mhd)
            MHD_stop_daemon(l->mhd); /* also closes a listening socket not yet quiesced */
        else if (l->fd >= 0)
            close(l->fd);
    }
    if (srv->socket_path)
        unlink(srv->socket_path);
    free(srv->socket_path);
    if (jobs_done)
        job_list_free(srv->jobs); /* else a stuck job thread still points at it: leave it */
    free(srv->tokens);
    if (srv->tls_key)
        explicit_bzero(srv->tls_key, strlen(srv->tls_key));
    free(srv->tls_key);
    free(srv->tls_cert);
    free(srv->tls_ca);
    free(srv);
}

size_t imgd_server_listener_count(const imgd_server *srv)
{
    return srv->n_listeners;
}

const char *imgd_server_listener_name(const imgd_server *srv, size_t i)
{
    return srv->listeners[i].name;
}
