/* SPDX-License-Identifier: MIT */
/* Native face, operations on one container: start, stop, remove, logs, exec, users, files. */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/runtime/rootfs.h"
#include "core/runtime/runtime.h"
#include "face.h"
#include "native.h"
#include "native_containers.h"
#include "util/cleanup.h"
#include "util/json.h"
#include "util/strutil.h"

#define FILE_MAX_BYTES (16u << 20)

typedef struct op_job {
    const imgd_api_ctx *ctx;
    char *name;
    int timeout_s;
    bool force;
    imgd_log_opts logs;
    imgd_exec_spec exec;
} op_job;

static void op_job_free(void *arg)
{
    op_job *j = arg;
    if (!j)
        return;
    free(j->name);
    imgd_strv_free(j->exec.argv);
    imgd_strv_free(j->exec.env);
    free((char *)j->exec.user);
    free((char *)j->exec.workdir);
    free(j);
}

static op_job *op_job_new(imgd_request *req, imgd_error **err)
{
    op_job *j = calloc(1, sizeof *j);
    if (j)
        j->name = strdup(imgd_req_param(req, "name"));
    if (!j || !j->name) {
        op_job_free(j);
        imgd_error_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    j->ctx = req->ctx;
    j->timeout_s = -1;
    return j;
}

static int op_answer(imgd_response *resp, op_job *j, imgd_job_fn fn, bool stream, imgd_error **err)
{
    imgd_job_spec spec = {.fn = fn,
                          .arg = j,
                          .free_arg = op_job_free,
                          .stream = stream,
                          .content_type = "text/plain; charset=utf-8"};
    return imgd_resp_job(resp, &spec) < 0 ? imgd_error_set(err, ENOMEM, "out of memory") : 0;
}

static int query_bool(imgd_request *req, const char *key, bool *out, imgd_error **err)
{
    const char *v = imgd_req_query(req, key);
    *out = false;
    if (!v)
        return 0;
    if (imgd_parse_bool(out, v) < 0)
        return imgd_error_set(err, EINVAL, "query parameter '%s' must be true or false", key);
    return 0;
}

static int query_int(imgd_request *req, const char *key, int64_t min, int64_t max, int64_t *out,
                     imgd_error **err)
{
    const char *v = imgd_req_query(req, key);
    if (!v)
        return 0;
    if (imgd_parse_int64(out, v) < 0 || *out < min || *out > max)
        return imgd_error_set(err, EINVAL,
                              "query parameter '%s' must be an integer from %lld to %lld", key,
                              (long long)min, (long long)max);
    return 0;
}

/* ---- start, stop, remove ---- */

static int run_start(void *arg, imgd_job *job, imgd_response *resp, imgd_error **err)
{
    (void)job;
    op_job *j = arg;
    imgd_container c = {0};
    int r = imgd_runtime_start(j->ctx->runtime, j->name, &c, err);
    json_t *body = r == 0 ? json_pack("{s:b, s:{s:s, s:s}}", "success", 1, "container", "name",
                                      c.name, "status", "started")
                          : NULL;
    imgd_container_dispose(&c);
    return r < 0 ? r : ctr_respond(resp, body, err);
}

int native_containers_start(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    op_job *j = op_job_new(req, err);
    return j ? op_answer(resp, j, run_start, false, err) : -ENOMEM;
}

static int run_stop(void *arg, imgd_job *job, imgd_response *resp, imgd_error **err)
{
    (void)job;
    op_job *j = arg;
    imgd_container c = {0};
    int r = imgd_runtime_stop(j->ctx->runtime, j->name, j->timeout_s, &c, err);
    json_t *body = r == 0 ? json_pack("{s:b, s:{s:s, s:s, s:o}}", "success", 1, "container", "name",
                                      c.name, "status", "stopped", "exit_code",
                                      c.state == IMGD_CONTAINER_EXITED ? json_integer(c.exit_code)
                                                                       : json_null())
                          : NULL;
    imgd_container_dispose(&c);
    return r < 0 ? r : ctr_respond(resp, body, err);
}

int native_containers_stop(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    int64_t timeout = -1;
    int r = query_int(req, "timeout", 0, 3600, &timeout, err);
    op_job *j = r == 0 ? op_job_new(req, err) : NULL;
    if (!j)
        return r < 0 ? r : -ENOMEM;
    j->timeout_s = (int)timeout;
    return op_answer(resp, j, run_stop, false, err);
}

static int run_remove(void *arg, imgd_job *job, imgd_response *resp, imgd_error **err)
{
    (void)job;
    op_job *j = arg;
    imgd_container c = {0};
    int r = imgd_runtime_remove(j->ctx->runtime, j->name, j->force, &c, err);
    json_t *body = r == 0 ? json_pack("{s:b, s:{s:s, s:b}}", "success", 1, "container", "name",
                                      c.name, "removed", 1)
                          : NULL;
    imgd_container_dispose(&c);
    return r < 0 ? r : ctr_respond(resp, body, err);
}

int native_containers_remove(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    bool force = false;
    int r = query_bool(req, "force", &force, err);
    op_job *j = r == 0 ? op_job_new(req, err) : NULL;
    if (!j)
        return r < 0 ? r : -ENOMEM;
    j->force = force;
    return op_answer(resp, j, run_remove, false, err);
}

/* ---- logs ---- */

/* since: RFC 3339 ("2026-12-02T10:00:00Z", fractions allowed) or seconds since the epoch. */
static int parse_since(int64_t *out, const char *s, imgd_error **err)
{
    char *end = NULL;
    double secs = strtod(s, &end);
    if (end != s && *end == '\0' && secs >= 0) {
        *out = (int64_t)(secs * 1e6);
        return 0;
    }
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    int64_t frac = 0, scale = 1000000;
    if (p && *p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            if (scale > 1) {
                scale /= 10;
                frac += (*p - '0') * scale;
            }
    if (!p || strcmp(p, "Z") != 0)
        return imgd_error_set(err, EINVAL,
                              "query parameter 'since' must be RFC 3339 UTC time "
                              "(2026-01-02T15:04:05Z) or seconds since the epoch");
    *out = (int64_t)timegm(&tm) * 1000000 + frac;
    return 0;
}

static int decode_logs(imgd_request *req, imgd_log_opts *o, bool *follow, imgd_error **err)
{
    const char *tail = imgd_req_query(req, "tail"), *since = imgd_req_query(req, "since");
    const char *stream = imgd_req_query(req, "stream");
    o->tail = 100;
    int r = 0;
    if (tail && !strcmp(tail, "all"))
        o->tail = -1;
    else if (tail)
        r = query_int(req, "tail", 0, INT64_MAX, &o->tail, err);
    if (r == 0)
        r = query_bool(req, "timestamps", &o->timestamps, err);
    if (r == 0)
        r = query_bool(req, "follow", follow, err);
    if (r == 0 && since)
        r = parse_since(&o->since_usec, since, err);
    if (r == 0 && stream) {
        o->stdout_only = !strcmp(stream, "stdout");
        o->stderr_only = !strcmp(stream, "stderr");
        if (!o->stdout_only && !o->stderr_only)
            r = imgd_error_set(err, EINVAL, "query parameter 'stream' must be stdout or stderr");
    }
    return r;
}

static int logs_write(void *arg, const char *data, size_t len)
{
    return imgd_job_write(arg, data, len);
}

static int run_follow(void *arg, imgd_job *job, imgd_response *resp, imgd_error **err)
{
    (void)resp;
    op_job *j = arg;
    return imgd_runtime_logs_follow(j->ctx->runtime, j->name, &j->logs, logs_write, job, err);
}

/* Text for a JSON string: invalid UTF-8 becomes U+FFFD, as the Python service's decode with
 * errors="replace" would give. Returns a new string value. */
static json_t *text_json(const char *s, size_t len)
{
    json_t *valid = json_stringn(s, len);
    if (valid)
        return valid;
    imgd_buf b = {0};
    for (size_t i = 0; i < len;) {
        size_t n = 1;
        unsigned char c = (unsigned char)s[i];
        n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        json_t *probe = n && i + n <= len ? json_stringn(s + i, n) : NULL;
        if (probe)
            imgd_buf_append(&b, s + i, n);
        else
            imgd_buf_append(&b, "\xef\xbf\xbd", 3);
        json_decref(probe);
        i += probe ? n : 1;
    }
    json_t *v = b.failed ? NULL : json_stringn(b.data ? b.data : "", b.len);
    imgd_buf_dispose(&b);
    return v;
}

int native_containers_logs(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    imgd_log_opts o = {0};
    bool follow = false;
    int r = decode_logs(req, &o, &follow, err);
    if (r < 0)
        return r;
    if (follow) {
        imgd_container c = {0}; /* a 404 now, not a 200 with an empty stream */
        r = imgd_runtime_get(req->ctx->runtime, imgd_req_param(req, "name"), &c, err);
        imgd_container_dispose(&c);
        op_job *j = r == 0 ? op_job_new(req, err) : NULL;
        if (!j)
            return r < 0 ? r : -ENOMEM;
        j->logs = o;
        return op_answer(resp, j, run_follow, true, err);
    }
    imgd_buf text = {0};
    r = imgd_runtime_logs(req->ctx->runtime, imgd_req_param(req, "name"), &o, &text, err);
    json_t *logs = r == 0 ? text_json(text.data ? text.data : "", text.len) : NULL;
    imgd_buf_dispose(&text);
    if (r < 0)
        return r;
    return ctr_respond(resp, json_pack("{s:b, s:{s:o*}}", "success", 1, "container", "logs", logs),
                       err);
}

/* ---- exec ---- */

static int run_exec(void *arg, imgd_job *job, imgd_response *resp, imgd_error **err)
{
    (void)job;
    op_job *j = arg;
    imgd_exec_result res = {0};
    int r = imgd_runtime_exec(j->ctx->runtime, j->name, &j->exec, &res, err);
    if (r < 0)
        return r;
    json_t *body =
        json_pack("{s:b, s:{s:i, s:o*, s:b, s:b}}", "success", 1, "execution", "exit_code",
                  res.exit_code, "output", text_json(res.output, res.output_len), "success",
                  res.exit_code == 0, "truncated", res.truncated);
    imgd_exec_result_dispose(&res);
    return ctr_respond(resp, body, err);
}

static int decode_exec(op_job *j, const json_t *in, int64_t default_timeout, imgd_error **err)
{
    const char *user = NULL, *workdir = NULL;
    if (!json_is_object(in))
        return imgd_error_set(err, EINVAL, "body must be a JSON object");
    if (!json_object_get(in, "command") || json_is_null(json_object_get(in, "command")))
        return imgd_error_set(err, EINVAL, "Missing required field: command");
    int r = ctr_argv(&j->exec.argv, json_object_get(in, "command"), "command", err);
    if (r == 0 && !j->exec.argv[0])
        r = imgd_error_set(err, EINVAL, "'command' is empty");
    if (r == 0)
        r = ctr_env(&j->exec.env, json_object_get(in, "env"), err);
    if (r == 0)
        r = native_optional_string(in, "user", &user, err);
    if (r == 0)
        r = native_optional_string(in, "workdir", &workdir, err);
    if (r == 0 && workdir && workdir[0] != '/')
        r = imgd_error_set(err, EINVAL, "'workdir' must be an absolute path");
    json_t *t = json_object_get(in, "timeout");
    double timeout = (double)default_timeout;
    if (r == 0 && t && !json_is_null(t)) {
        timeout = json_number_value(t);
        if (!json_is_number(t) || timeout <= 0 || timeout > 86400)
            r = imgd_error_set(err, EINVAL, "'timeout' must be seconds from 0 to 86400");
    }
    if (r < 0)
        return r;
    j->exec.timeout_ms = (int)(timeout * 1000);
    j->exec.user = user && *user ? strdup(user) : NULL;
    j->exec.workdir = workdir ? strdup(workdir) : NULL;
    return 0;
}

int native_containers_exec(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_auto_t *in = NULL;
    int r = imgd_req_json(req, &in, err);
    op_job *j = r == 0 ? op_job_new(req, err) : NULL;
    if (!j)
        return r < 0 ? r : -ENOMEM;
    r = decode_exec(j, in, req->ctx->cfg->request_timeout, err);
    if (r < 0) {
        op_job_free(j);
        return r;
    }
    return op_answer(resp, j, run_exec, false, err);
}

/* ---- users ---- */

static int decode_groups(char ***out, const json_t *v, imgd_error **err)
{
    if (json_is_string(v)) {
        char *copy = strdup(json_string_value(v));
        for (char *save = NULL, *t = copy ? strtok_r(copy, ",", &save) : NULL; t;
             t = strtok_r(NULL, ",", &save))
            if (imgd_strv_push(out, t) < 0)
                break;
        free(copy);
        return 0;
    }
    return ctr_argv(out, v, "groups", err);
}

int native_containers_user_add(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_auto_t *in = NULL;
    _cleanup_strv_ char **groups = NULL;
    imgd_user_request u = {.uid = -1};
    int r = imgd_req_json(req, &in, err);
    if (r == 0 && !json_is_object(in))
        r = imgd_error_set(err, EINVAL, "body must be a JSON object");
    if (r == 0 && !json_is_string(json_object_get(in, "username")))
        r = imgd_error_set(err, EINVAL, "Missing required field: username");
    if (r == 0)
        r = native_optional_string(in, "password", &u.password, err);
    if (r == 0)
        r = native_optional_string(in, "shell", &u.shell, err);
    if (r == 0)
        r = native_optional_string(in, "home", &u.home, err);
    json_t *uid = json_object_get(in, "uid");
    if (r == 0 && uid && !json_is_null(uid)) {
        if (!json_is_integer(uid) || json_integer_value(uid) < 0 ||
            json_integer_value(uid) > 2147483647)
            r = imgd_error_set(err, EINVAL, "'uid' must be a non-negative integer");
        u.uid = json_integer_value(uid);
    }
    if (r == 0 && json_object_get(in, "groups"))
        r = decode_groups(&groups, json_object_get(in, "groups"), err);
    if (r < 0)
        return r;
    u.username = json_string_value(json_object_get(in, "username"));
    u.groups = (const char *const *)groups;
    _cleanup_close_ int rootfd =
        imgd_runtime_rootfs_open(req->ctx->runtime, imgd_req_param(req, "name"), NULL, err);
    if (rootfd < 0)
        return rootfd;
    imgd_user_ids ids;
    r = imgd_rootfs_user_add(&ids, rootfd, &u, err);
    if (r < 0)
        return r;
    return ctr_respond(resp,
                       json_pack("{s:b, s:{s:s, s:b, s:I, s:I, s:s}}", "success", 1, "user",
                                 "username", u.username, "created", 1, "uid", (json_int_t)ids.uid,
                                 "gid", (json_int_t)ids.gid, "home", ids.home),
                       err);
}

/* ---- files ---- */

static int decode_mode(mode_t *out, const json_t *v, imgd_error **err)
{
    int64_t m = -1;
    if (json_is_integer(v))
        m = json_integer_value(v);
    else if (json_is_string(v)) {
        char *end = NULL;
        m = strtol(json_string_value(v), &end, 8);
        if (!*json_string_value(v) || *end)
            m = -1;
    }
    if (m < 0 || m > 07777)
        return imgd_error_set(err, EINVAL, "'mode' must be octal permissions such as \"0644\"");
    *out = (mode_t)m;
    return 0;
}

static int decode_content(char **out, size_t *len, const json_t *in, imgd_error **err)
{
    const char *enc = NULL;
    int r = native_optional_string(in, "encoding", &enc, err);
    json_t *c = json_object_get(in, "content");
    if (r < 0)
        return r;
    if (!json_is_string(c))
        return imgd_error_set(err, EINVAL, "'content' must be a string");
    const char *s = json_string_value(c);
    size_t n = json_string_length(c);
    if (!enc || !strcmp(enc, "utf-8") || !strcmp(enc, "utf8")) {
        *out = malloc(n + 1);
        if (!*out)
            return imgd_error_set(err, ENOMEM, "out of memory");
        memcpy(*out, s, n + 1);
        *len = n;
        return 0;
    }
    if (strcmp(enc, "base64") != 0)
        return imgd_error_set(err, EINVAL, "'encoding' must be 'utf-8' or 'base64'");
    if (n % 4 != 0)
        return imgd_error_set(err, EINVAL, "'content' is not valid base64");
    *out = malloc(n / 4 * 3 + 1);
    int got = *out ? EVP_DecodeBlock((unsigned char *)*out, (const unsigned char *)s, (int)n) : -1;
    if (got < 0) {
        free(*out);
        *out = NULL;
        return imgd_error_set(err, EINVAL, "'content' is not valid base64");
    }
    for (size_t i = n; i > 0 && s[i - 1] == '='; i--)
        got--;
    *len = (size_t)got;
    return 0;
}

/* "uid:gid", "name", "name:group": resolved in the container's own /etc/passwd. */
static int decode_owner(int64_t *uid, int64_t *gid, int rootfd, const char *owner, imgd_error **err)
{
    *uid = *gid = -1;
    if (!owner)
        return 0;
    imgd_user_ids ids;
    int r = imgd_rootfs_user_resolve(&ids, rootfd, owner, err);
    if (r < 0)
        return r == -ENOENT && err && *err ? ((*err)->code = EINVAL, -EINVAL) : r;
    *uid = ids.uid;
    *gid = ids.gid;
    return 0;
}

int native_containers_file_put(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_auto_t *in = NULL;
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    const char *owner = NULL;
    mode_t mode = 0644;
    int r = imgd_req_json(req, &in, err);
    if (r == 0 && !json_is_object(in))
        r = imgd_error_set(err, EINVAL, "body must be a JSON object");
    if (r == 0 && !json_is_string(json_object_get(in, "dest_path")))
        r = imgd_error_set(err, EINVAL, "Missing required field: dest_path");
    if (r == 0 && !json_object_get(in, "content"))
        r = imgd_error_set(err, EINVAL, "Missing required field: content");
    if (r == 0)
        r = decode_content(&data, &len, in, err);
    json_t *mode_v = json_object_get(in, "mode");
    if (r == 0 && mode_v && !json_is_null(mode_v))
        r = decode_mode(&mode, mode_v, err);
    if (r == 0)
        r = native_optional_string(in, "owner", &owner, err);
    if (r < 0)
        return r;
    const char *dest = json_string_value(json_object_get(in, "dest_path"));
    _cleanup_close_ int rootfd =
        imgd_runtime_rootfs_open(req->ctx->runtime, imgd_req_param(req, "name"), NULL, err);
    if (rootfd < 0)
        return rootfd;
    int64_t uid = -1, gid = -1;
    r = decode_owner(&uid, &gid, rootfd, owner, err);
    if (r == 0)
        r = imgd_rootfs_file_write(rootfd, dest, data, len, mode, uid, gid, err);
    if (r < 0)
        return r;
    return ctr_respond(resp,
                       json_pack("{s:b, s:{s:s, s:I}}", "success", 1, "file", "dest_path", dest,
                                 "size", (json_int_t)len),
                       err);
}

static json_t *file_content_json(const char *data, size_t len, bool want_base64)
{
    json_t *text = want_base64 ? NULL : json_stringn(data, len);
    if (text)
        return json_pack("{s:o, s:s}", "content", text, "encoding", "utf-8");
    char *b64 = malloc(4 * ((len + 2) / 3) + 1);
    if (!b64)
        return NULL;
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)data, (int)len);
    json_t *o = json_pack("{s:s, s:s}", "content", b64, "encoding", "base64");
    free(b64);
    return o;
}

int native_containers_file_get(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    const char *path = imgd_req_query(req, "path"), *enc = imgd_req_query(req, "encoding");
    if (!path || !*path)
        return imgd_error_set(err, EINVAL, "query parameter 'path' is required");
    _cleanup_close_ int rootfd =
        imgd_runtime_rootfs_open(req->ctx->runtime, imgd_req_param(req, "name"), NULL, err);
    if (rootfd < 0)
        return rootfd;
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    struct stat st;
    int r = imgd_rootfs_file_read(&data, &len, &st, rootfd, path, FILE_MAX_BYTES, err);
    if (r < 0)
        return r;
    json_t *o = file_content_json(data, len, enc && !strcmp(enc, "base64"));
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", (unsigned)(st.st_mode & 07777));
    if (o)
        json_object_update_new(o, json_pack("{s:s, s:I, s:s, s:I, s:I}", "path", path, "size",
                                            (json_int_t)len, "mode", mode, "uid",
                                            (json_int_t)st.st_uid, "gid", (json_int_t)st.st_gid));
    return ctr_respond(resp, json_pack("{s:b, s:o*}", "success", 1, "file", o), err);
}
