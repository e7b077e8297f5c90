/* SPDX-License-Identifier: MIT */
/* ImageAPI face, containers (v0.2: /imageapi/v1/container): system containers on a mount, run
 * by the same runtime layer as /api/v1/containers (they are listed there too). The container
 * holds a reference on its mount, released when the container is removed by either face. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mounts/mounts.h"
#include "core/runtime/runtime.h"
#include "imageapi-private.h"
#include "imageapi.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/shsplit.h"
#include "util/strutil.h"
#include "util/timeutil.h"

static const char *const namespaces_known[] = {"cgroup", "ipc",  "mnt", "net", "pid",
                                               "time",   "user", "uts", NULL};
static const char *const default_namespaces[] = {"mnt", "pid", "ipc", "uts", NULL};

static bool one_of(const char *s, const char *const *list)
{
    for (; s && *list; list++)
        if (!strcmp(s, *list))
            return true;
    return false;
}

/* created / running / exited (exit 0) / dead (any other end, or a start that failed). */
static const char *state_of(const imgd_container *c)
{
    if (c->state == IMGD_CONTAINER_RUNNING)
        return c->stopping ? "stopping" : "running";
    if (c->state == IMGD_CONTAINER_EXITED)
        return c->exit_code == 0 ? "exited" : "dead";
    return c->last_error ? "dead" : "created";
}

static json_t *container_json(imgd_mounts *mounts, const imgd_container *c)
{
    const json_t *ann = json_object_get(c->config, "annotations");
    json_int_t mount_id = json_integer_value(json_object_get(ann, "imageapi_mount"));
    json_t *mount = imgd_mounts_render(mounts, mount_id);
    json_t *o = json_pack("{s:I, s:o, s:O, s:b, s:O, s:s, s:s?, s:i}", "id",
                          json_integer_value(json_object_get(ann, "imageapi_id")), "mount",
                          mount ? mount : json_pack("{s:I}", "id", mount_id), "command",
                          json_object_get(ann, "imageapi_command"), "systemd",
                          json_is_true(json_object_get(c->config, "systemd")), "namespaces",
                          json_object_get(c->config, "namespaces"), "state", state_of(c), "logfile",
                          json_string_value(json_object_get(c->config, "log_path")), "refs", 1);
    const char *name = json_string_value(json_object_get(ann, "imageapi_name"));
    if (o && name)
        json_object_set_new(o, "name", json_string(name));
    if (o && c->state == IMGD_CONTAINER_EXITED)
        json_object_set_new(o, "exit_code", json_integer(c->exit_code));
    if (o && c->last_error)
        json_object_set_new(o, "last_error", json_string(c->last_error));
    return o;
}

static bool is_imageapi(const imgd_container *c)
{
    return json_integer_value(
               json_object_get(json_object_get(c->config, "annotations"), "imageapi_id")) > 0;
}

/* The containers the ImageAPI face made, matching id (> 0), else name, else state. */
static int find(const imgd_api_ctx *ctx, int64_t id, const char *name, const char *state,
                imgd_container **out, size_t *n, imgd_error **err)
{
    imgd_container *all = NULL;
    size_t count = 0, kept = 0;
    int r = imgd_runtime_list(ctx->runtime, &all, &count, err);
    for (size_t i = 0; r == 0 && i < count; i++) {
        const json_t *ann = json_object_get(all[i].config, "annotations");
        bool match = is_imageapi(&all[i]);
        if (match && id > 0)
            match = json_integer_value(json_object_get(ann, "imageapi_id")) == id;
        else if (match && name)
            match = !strcmp(json_string_value(json_object_get(ann, "imageapi_name")) ?: "", name);
        else if (match && state)
            match = !strcmp(state_of(&all[i]), state);
        if (match)
            all[kept++] = all[i];
        else
            imgd_container_dispose(&all[i]);
    }
    if (r < 0)
        return r;
    *out = all;
    *n = kept;
    return 0;
}

static void free_list(imgd_container *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        imgd_container_dispose(&v[i]);
    free(v);
}

static int query_target(imgd_request *req, int64_t *id, const char **name, bool required,
                        imgd_error **err)
{
    const char *v = imgd_req_query(req, "id");
    *id = 0;
    *name = imgd_req_query(req, "name");
    if (v && imgd_parse_int64(id, v) < 0)
        return imgd_error_set(err, EBADMSG, "query parameter 'id' must be an integer");
    if (required && *id <= 0 && !*name)
        return imgd_error_set(err, EINVAL, "give the container's 'id' or 'name'");
    return 0;
}

/* The one container with this id (> 0), else this name, or -ENOENT. */
int imageapi_ctr_find(const imgd_api_ctx *ctx, int64_t id, const char *name, imgd_container *out,
                      imgd_error **err)
{
    imgd_container *v = NULL;
    size_t n = 0;
    int r = find(ctx, id, id > 0 ? NULL : name, NULL, &v, &n, err);
    if (r == 0 && n == 0)
        r = id > 0 ? imgd_error_set(err, ENOENT, "container %lld not found", (long long)id)
                   : imgd_error_set(err, ENOENT, "container '%s' not found", name ? name : "");
    if (r == 0) {
        *out = v[0];
        v[0] = (imgd_container){0};
    }
    free_list(v, n);
    return r;
}

int imageapi_ctr_get(imgd_request *req, int64_t id, const char *name, json_t **out,
                     imgd_error **err)
{
    imgd_container c = {0};
    int r = imageapi_ctr_find(req->ctx, id, name, &c, err);
    if (r < 0)
        return r;
    *out = container_json(req->ctx->mounts, &c);
    imgd_container_dispose(&c);
    return *out ? 0 : imgd_error_set(err, ENOMEM, "out of memory");
}

/* The containers as a JSON array; v is disposed of. */
static json_t *containers_json(const imgd_api_ctx *ctx, imgd_container *v, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, container_json(ctx->mounts, &v[i]));
    free_list(v, n);
    return arr;
}

int imageapi_ctr_list(imgd_request *req, json_t **out, imgd_error **err)
{
    imgd_container *v = NULL;
    size_t n = 0;
    int r = find(req->ctx, 0, NULL, NULL, &v, &n, err);
    if (r < 0)
        return r;
    *out = containers_json(req->ctx, v, n);
    return 0;
}

int imageapi_container_list(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    int64_t id = 0;
    const char *name = NULL, *state = imgd_req_query(req, "state");
    static const char *const states[] = {"created", "running", "stopping", "exited", "dead", NULL};
    int r = query_target(req, &id, &name, false, err);
    if (r == 0 && state && !one_of(state, states))
        r = imgd_error_set(err, EBADMSG, "query parameter 'state' has an unknown value '%s'",
                           state);
    imgd_container *v = NULL;
    size_t n = 0;
    if (r == 0)
        r = find(req->ctx, id, id > 0 ? NULL : name, id > 0 || name ? NULL : state, &v, &n, err);
    if (r == 0 && n == 0 && (id > 0 || name))
        r = imgd_error_set(err, ENOENT, "container not found");
    if (r < 0)
        return r;
    return imgd_resp_json_or_fail(resp, 200, containers_json(req->ctx, v, n), err);
}

/* ---- create ---- */

typedef struct create_req {
    const char *name, *command, *state;
    bool systemd;
    const char *ns[16];
    json_t *mount;
} create_req;

static int decode_namespaces(create_req *q, const json_t *v, imgd_error **err)
{
    size_t i, n = 0;
    const json_t *e;
    if (!v || json_is_null(v)) {
        memcpy(q->ns, default_namespaces, sizeof default_namespaces);
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) > 8)
        return imgd_error_set(err, EBADMSG, "'namespaces' must be an array of namespace names");
    json_array_foreach (v, i, e) {
        const char *s = json_string_value(e);
        if (!one_of(s, namespaces_known))
            return imgd_error_set(err, EBADMSG,
                                  "namespace '%s' is not one of cgroup, ipc, mnt, "
                                  "net, pid, time, user, uts",
                                  s ? s : "?");
        q->ns[n++] = s;
    }
    if (n == 0)
        memcpy(q->ns, default_namespaces, sizeof default_namespaces);
    return 0;
}

static int decode_create(create_req *q, json_t *in, imgd_error **err)
{
    if (!json_is_object(in))
        return imgd_error_set(err, EBADMSG, "the container must be a JSON object");
    json_t *name = json_object_get(in, "name"), *sys = json_object_get(in, "systemd");
    q->command = json_string_value(json_object_get(in, "command"));
    q->state = json_string_value(json_object_get(in, "state"));
    q->mount = json_object_get(in, "mount");
    if (!q->command || !json_is_object(q->mount))
        return imgd_error_set(err, EBADMSG, "'mount' and 'command' are required");
    if (json_integer_value(json_object_get(in, "id")) != 0)
        return imgd_error_set(err, EINVAL, "a new container cannot have an id");
    if (name && !json_is_null(name)) {
        q->name = json_string_value(name);
        if (!q->name || !*q->name || strlen(q->name) > 128 ||
            strspn(q->name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
                strlen(q->name))
            return imgd_error_set(err, EBADMSG,
                                  "'name' must be 1 to 128 of the characters A-Z a-z 0-9 . _ -");
    }
    if (sys && !json_is_boolean(sys))
        return imgd_error_set(err, EBADMSG, "'systemd' must be a boolean");
    q->systemd = json_is_true(sys);
    if (q->state && strcmp(q->state, "created") != 0 && strcmp(q->state, "running") != 0)
        return imgd_error_set(err, EINVAL, "a new container's state is 'created' or 'running'");
    return decode_namespaces(q, json_object_get(in, "namespaces"), err);
}

static int create_on_mount(imgd_request *req, const create_req *q, int64_t id, int64_t mount_id,
                           const char *mountpoint, char **argv, imgd_container *out,
                           imgd_error **err)
{
    const imgd_config *cfg = req->ctx->cfg;
    char log_dir[4096], log[4200], name[160];
    snprintf(log_dir, sizeof log_dir, "%s", cfg->log_dir ? cfg->log_dir : "");
    if (!cfg->log_dir)
        snprintf(log_dir, sizeof log_dir, "%s/logs", cfg->run_dir);
    int r = imgd_mkdir_p(log_dir, 0700, err);
    snprintf(log, sizeof log, "%s/%lld-%lld.log", log_dir, (long long)id,
             (long long)(imgd_now_realtime_usec() / 1000000));
    snprintf(name, sizeof name, "%s", q->name ? q->name : "");
    if (!q->name)
        snprintf(name, sizeof name, "imageapi-%lld", (long long)id);
    bool net = false;
    for (size_t i = 0; q->ns[i]; i++)
        net = net || !strcmp(q->ns[i], "net");
    json_auto_t *ann =
        json_pack("{s:I, s:I, s:s, s:s?}", "imageapi_id", (json_int_t)id, "imageapi_mount",
                  (json_int_t)mount_id, "imageapi_command", q->command, "imageapi_name", q->name);
    imgd_container_spec spec = {.name = name,
                                .command = argv,
                                .rootfs = mountpoint,
                                .namespaces = q->ns,
                                .network_host = !net,
                                .systemd = q->systemd,
                                .log_path = log,
                                .annotations = ann};
    if (r == 0)
        r = imgd_runtime_create(req->ctx->runtime, &spec, q->state && !strcmp(q->state, "running"),
                                out, err);
    return r;
}

int imageapi_ctr_create(imgd_request *req, json_t *in, json_t **out, imgd_error **err)
{
    create_req q = {0};
    _cleanup_strv_ char **argv = NULL;
    size_t argc = 0;
    int r = decode_create(&q, in, err);
    if (r == 0)
        r = imgd_shell_split(&argv, &argc, q.command, err);
    if (r == 0 && argc == 0)
        r = imgd_error_set(err, EINVAL, "'command' is empty");
    int64_t id = 0, mount_id = 0;
    _cleanup_free_ char *mountpoint = NULL;
    /* bottom-up, as the original registered them: attach 1, mount 2, overlay 3, container 4 */
    if (r == 0)
        r = imgd_mounts_acquire(req->ctx->mounts, q.mount, &mount_id, &mountpoint, NULL, err);
    if (r < 0)
        return r;
    r = imgd_mounts_reserve_id(req->ctx->mounts, "container", &id, err);
    if (r < 0) {
        (void)imgd_mounts_release(req->ctx->mounts, mount_id, NULL);
        return r;
    }
    imgd_container c = {0};
    r = create_on_mount(req, &q, id, mount_id, mountpoint, argv, &c, err);
    if (r < 0 && !c.id[0]) {
        (void)imgd_mounts_release(req->ctx->mounts, mount_id, NULL);
        imgd_mounts_forget_id(req->ctx->mounts, id);
        return r;
    }
    /* A start that failed keeps the container, 201 with state dead, as the original did. */
    if (r < 0 && err && *err) {
        imgd_error_free(*err);
        *err = NULL;
    }
    *out = container_json(req->ctx->mounts, &c);
    imgd_container_dispose(&c);
    return *out ? 0 : imgd_error_set(err, ENOMEM, "out of memory");
}

int imageapi_container_create(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_auto_t *in = NULL;
    json_t *out = NULL;
    int r = imgd_req_json(req, &in, err);
    if (r == 0)
        r = imageapi_ctr_create(req, in, &out, err);
    return r < 0 ? r : imgd_resp_json_or_fail(resp, 201, out, err);
}

/* ---- state changes, delete ---- */

int imageapi_ctr_set_state(const imgd_api_ctx *ctx, int64_t id, const char *name, const char *state,
                           json_t **out, imgd_error **err)
{
    static const char *const states[] = {"running", "exited", "paused", NULL};
    if (!one_of(state, states))
        return imgd_error_set(err, EBADMSG, "the state must be running, exited or paused, not '%s'",
                              state ? state : "");
    if (!strcmp(state, "paused"))
        return imgd_error_set(err, EINVAL, "pausing a container is not supported");
    imgd_container c = {0};
    int r = imageapi_ctr_find(ctx, id, name, &c, err);
    if (r < 0)
        return r;
    imgd_container after = {0};
    if (!strcmp(state, "running") && c.state != IMGD_CONTAINER_RUNNING)
        r = imgd_runtime_start(ctx->runtime, c.id, &after, err);
    else if (!strcmp(state, "exited") && c.state == IMGD_CONTAINER_RUNNING)
        r = imgd_runtime_stop(ctx->runtime, c.id, -1, &after, err);
    else
        r = imgd_runtime_get(ctx->runtime, c.id, &after, err);
    imgd_container_dispose(&c);
    json_t *o = after.id[0] ? container_json(ctx->mounts, &after) : NULL;
    imgd_container_dispose(&after);
    if (r < 0) {
        json_decref(o);
        return r;
    }
    *out = o;
    return o ? 0 : imgd_error_set(err, ENOMEM, "out of memory");
}

static void state_job_free(void *arg)
{
    imageapi_state_job *j = arg;
    if (!j)
        return;
    free(j->name);
    free(j->state);
    free(j);
}

/* A stop waits for the container to end (up to stop_timeout): on a thread of its own, as the
 * native face's stop, not on one of the server's. */
static int run_state_job(void *arg, imgd_job *job, imgd_response *resp, imgd_error **err)
{
    (void)job;
    imageapi_state_job *j = arg;
    json_t *out = NULL;
    int r = j->state ? imageapi_ctr_set_state(j->ctx, j->id, j->name, j->state, &out, err)
                     : imageapi_ctr_remove(j->ctx, j->id, j->name, j->force, &out, err);
    if (r == 0 && j->conv) {
        json_t *conv = j->conv(j->ctx, out);
        json_decref(out);
        out = conv;
    }
    return r < 0 ? r : imgd_resp_json_or_fail(resp, 200, out, err);
}

int imageapi_state_job_answer(imgd_response *resp, const imgd_api_ctx *ctx, int64_t id,
                              const char *name, const char *state, bool force,
                              imageapi_conv_fn conv, imgd_error **err)
{
    imageapi_state_job *j = calloc(1, sizeof *j);
    if (j) {
        *j = (imageapi_state_job){.ctx = ctx, .id = id, .force = force, .conv = conv};
        j->name = name ? strdup(name) : NULL;
        j->state = state ? strdup(state) : NULL;
    }
    if (!j || (name && !j->name) || (state && !j->state)) {
        state_job_free(j);
        return imgd_error_set(err, ENOMEM, "out of memory");
    }
    imgd_job_spec spec = {.fn = run_state_job, .arg = j, .free_arg = state_job_free};
    return imgd_resp_job(resp, &spec) < 0 ? imgd_error_set(err, ENOMEM, "out of memory") : 0;
}

int imageapi_container_patch(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    int64_t id = 0;
    const char *name = NULL;
    const char *state = imgd_req_query(req, "state");
    static const char *const states[] = {"running", "exited", "paused", NULL};
    int r = one_of(state, states) ? 0
                                  : imgd_error_set(err, EBADMSG,
                                                   "query parameter 'state' must be running, "
                                                   "exited or paused");
    if (r == 0 && !strcmp(state, "paused"))
        r = imgd_error_set(err, EINVAL, "pausing a container is not supported");
    if (r == 0)
        r = query_target(req, &id, &name, true, err);
    imgd_container c = {0}; /* a 404 now, not from the job */
    if (r == 0)
        r = imageapi_ctr_find(req->ctx, id, name, &c, err);
    imgd_container_dispose(&c);
    return r < 0 ? r : imageapi_state_job_answer(resp, req->ctx, id, name, state, false, NULL, err);
}

int imageapi_ctr_remove(const imgd_api_ctx *ctx, int64_t id, const char *name, bool force,
                        json_t **out, imgd_error **err)
{
    imgd_container c = {0};
    int r = imageapi_ctr_find(ctx, id, name, &c, err);
    if (r < 0)
        return r;
    json_t *o = container_json(ctx->mounts, &c);
    if (c.state == IMGD_CONTAINER_RUNNING && !force)
        r = imgd_error_set(err, EBUSY, "container %s is running: set its state to exited first",
                           c.name);
    if (r == 0)
        r = imgd_runtime_remove(ctx->runtime, c.id, force, NULL, err);
    imgd_container_dispose(&c);
    if (r < 0) {
        json_decref(o);
        return r;
    }
    *out = o;
    return o ? 0 : imgd_error_set(err, ENOMEM, "out of memory");
}

int imageapi_container_delete(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    bool force = false;
    int64_t id = 0;
    const char *name = NULL;
    const char *f = imgd_req_query(req, "force");
    int r = f && imgd_parse_bool(&force, f) < 0
                ? imgd_error_set(err, EBADMSG, "query parameter 'force' must be true or false")
                : 0;
    if (r == 0)
        r = query_target(req, &id, &name, true, err);
    imgd_container c = {0};
    if (r == 0)
        r = imageapi_ctr_find(req->ctx, id, name, &c, err);
    if (r == 0 && c.state == IMGD_CONTAINER_RUNNING && !force)
        r = imgd_error_set(err, EBUSY, "container %s is running: set its state to exited first",
                           c.name);
    imgd_container_dispose(&c);
    return r < 0 ? r : imageapi_state_job_answer(resp, req->ctx, id, name, NULL, force, NULL, err);
}

/* The runtime removed a container the ImageAPI made (through either face): its mount
 * reference goes with it. */
void imageapi_container_removed(void *arg, const imgd_container *c)
{
    imgd_mounts *mounts = arg;
    json_int_t mount_id = json_integer_value(
        json_object_get(json_object_get(c->config, "annotations"), "imageapi_mount"));
    json_int_t id = json_integer_value(
        json_object_get(json_object_get(c->config, "annotations"), "imageapi_id"));
    if (mount_id > 0)
        (void)imgd_mounts_release(mounts, mount_id, NULL);
    if (id > 0)
        imgd_mounts_forget_id(mounts, id);
}
