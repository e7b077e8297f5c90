/* SPDX-License-Identifier: MIT */
/* Native face, containers: create, list, inspect, start, stop, remove, logs — the bodies of the
 * 003 service, with imgd's extra fields beside them. Operations that wait for a process (create,
 * start, stop, remove, follow) run as jobs, so no server thread waits with them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/registry/reference.h"
#include "core/runtime/runtime.h"
#include "core/store/images.h"
#include "core/store/pull.h"
#include "face.h"
#include "native.h"
#include "native_containers.h"
#include "util/cleanup.h"
#include "util/json.h"
#include "util/shsplit.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define SHORT_ID_LEN 12

int ctr_respond(imgd_response *resp, json_t *body, imgd_error **err)
{
    return imgd_resp_json_or_fail(resp, 200, body, err);
}

/* ---- decoding ---- */

int ctr_argv(char ***out, const json_t *v, const char *key, imgd_error **err)
{
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v)) {
        size_t n = 0;
        int r = imgd_shell_split(out, &n, json_string_value(v), err);
        return r < 0 ? imgd_error_prefix(err, "'%s'", key) : 0;
    }
    if (!json_is_array(v))
        return imgd_error_set(err, EINVAL, "'%s' must be a string or an array of strings", key);
    char **a = calloc(json_array_size(v) + 1, sizeof *a);
    size_t i;
    json_t *e;
    if (!a)
        return imgd_error_set(err, ENOMEM, "out of memory");
    json_array_foreach (v, i, e) {
        if (!json_is_string(e) || !(a[i] = strdup(json_string_value(e)))) {
            imgd_strv_free(a);
            return imgd_error_set(err, EINVAL, "'%s' must be a string or an array of strings", key);
        }
    }
    *out = a;
    return 0;
}

/* {"K": "v"} (numbers and booleans as text) or ["K=v", ...]. */
int ctr_env(char ***out, const json_t *v, imgd_error **err)
{
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_array(v))
        return ctr_argv(out, v, "environment", err);
    if (!json_is_object(v))
        return imgd_error_set(err, EINVAL, "'environment' must be an object or an array");
    const char *k;
    json_t *e;
    json_object_foreach ((json_t *)v, k, e) {
        char num[64];
        const char *val =
            json_is_string(e)  ? json_string_value(e)
            : json_is_true(e)  ? "true"
            : json_is_false(e) ? "false"
            : json_is_integer(e)
                ? (snprintf(num, sizeof num, "%lld", (long long)json_integer_value(e)), num)
            : json_is_real(e) ? (snprintf(num, sizeof num, "%g", json_real_value(e)), num)
                              : NULL;
        if (!*k || strchr(k, '=') || !val) {
            imgd_strv_free(*out);
            *out = NULL;
            return imgd_error_set(err, EINVAL, "environment variable '%s' is invalid", k);
        }
        _cleanup_free_ char *kv = NULL;
        if (asprintf(&kv, "%s=%s", k, val) < 0 || imgd_strv_push(out, kv) < 0) {
            imgd_strv_free(*out);
            *out = NULL;
            return imgd_error_set(err, ENOMEM, "out of memory");
        }
    }
    return 0;
}

static int port_number(const json_t *v, const char *what, uint16_t *out, imgd_error **err)
{
    char buf[32];
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        s = buf;
    }
    int64_t n = 0;
    char copy[32];
    snprintf(copy, sizeof copy, "%s", s ? s : "");
    char *slash = strchr(copy, '/');
    if (slash && strcmp(slash, "/tcp") != 0)
        return imgd_error_set(err, EINVAL, "port '%s': only tcp ports can be published", copy);
    if (slash)
        *slash = '\0';
    if (imgd_parse_int64(&n, copy) < 0 || n < 1 || n > 65535)
        return imgd_error_set(err, EINVAL, "%s port '%s' must be a number from 1 to 65535", what,
                              s ? s : "?");
    *out = (uint16_t)n;
    return 0;
}

static int decode_ports(imgd_container_spec *spec, const json_t *v, imgd_error **err)
{
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return imgd_error_set(err, EINVAL, "'ports' must be an object {\"host port\": \"port\"}");
    spec->ports = calloc(json_object_size(v) + 1, sizeof *spec->ports);
    if (!spec->ports)
        return imgd_error_set(err, ENOMEM, "out of memory");
    const char *k;
    json_t *e;
    json_object_foreach ((json_t *)v, k, e) {
        json_auto_t *key = json_string(k);
        imgd_port_map *p = &spec->ports[spec->n_ports];
        int r = port_number(key, "host", &p->host, err);
        if (r == 0)
            r = port_number(e, "container", &p->container, err);
        if (r < 0)
            return r;
        spec->n_ports++;
    }
    return 0;
}

/* {"/host": "/ctr"}, {"/host": "/ctr:ro"} or docker-py's {"/host": {"bind": "/ctr", "mode": "ro"}}.
 */
static int decode_volume(imgd_volume *vol, const char *host, const json_t *e, imgd_error **err)
{
    const char *target =
        json_is_string(e) ? json_string_value(e) : json_string_value(json_object_get(e, "bind"));
    const char *mode = json_string_value(json_object_get(e, "mode"));
    if (!target || host[0] != '/')
        return imgd_error_set(err, EINVAL,
                              "volume '%s': give an absolute host path and a container path", host);
    vol->host = strdup(host);
    vol->container = strdup(target);
    if (!vol->host || !vol->container)
        return imgd_error_set(err, ENOMEM, "out of memory");
    char *colon = strrchr(vol->container, ':');
    if (colon && (!strcmp(colon, ":ro") || !strcmp(colon, ":rw"))) {
        mode = colon + 1;
        *colon = '\0';
    }
    if (mode && strcmp(mode, "ro") != 0 && strcmp(mode, "rw") != 0)
        return imgd_error_set(err, EINVAL, "volume '%s': mode must be 'ro' or 'rw'", host);
    vol->readonly = mode && !strcmp(mode, "ro");
    if (vol->container[0] != '/' || strstr(vol->container, "/../") ||
        imgd_str_has_suffix(vol->container, "/.."))
        return imgd_error_set(err, EINVAL, "volume '%s': container path '%s' must be absolute",
                              host, vol->container);
    return 0;
}

static int decode_volumes(imgd_container_spec *spec, const json_t *v, imgd_error **err)
{
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return imgd_error_set(err, EINVAL, "'volumes' must be an object {\"/host\": \"/path\"}");
    spec->volumes = calloc(json_object_size(v) + 1, sizeof *spec->volumes);
    if (!spec->volumes)
        return imgd_error_set(err, ENOMEM, "out of memory");
    const char *k;
    json_t *e;
    json_object_foreach ((json_t *)v, k, e) {
        int r = decode_volume(&spec->volumes[spec->n_volumes++], k, e, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Bytes as docker takes them: a number, or "512m", "1g", "100k", "1024b". */
static int decode_memory(int64_t *out, const json_t *v, imgd_error **err)
{
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = json_integer_value(v);
        return 0;
    }
    const char *s = json_string_value(v);
    char *end = NULL;
    long long n = s ? strtoll(s, &end, 10) : -1;
    int64_t mult = 1;
    if (end && *end) {
        const char *units = "bkmg";
        const char *u = strchr(units, end[0] | 0x20);
        if (!u || (end[1] && ((end[1] | 0x20) != 'b' || end[2])))
            n = -1;
        else
            mult = (int64_t)1 << (10 * (u - units));
    }
    if (n < 0 || end == s || n > INT64_MAX / mult)
        return imgd_error_set(err, EINVAL, "'memory' must be bytes or a size like '512m'");
    *out = n * mult;
    return 0;
}

static int decode_limits(imgd_container_spec *spec, const json_t *in, imgd_error **err)
{
    int r = decode_memory(&spec->memory, json_object_get(in, "memory"), err);
    const json_t *cpus = json_object_get(in, "cpus");
    const json_t *pids = json_object_get(in, "pids_limit");
    if (r == 0 && cpus && !json_is_null(cpus)) {
        double c = json_number_value(cpus);
        if (!json_is_number(cpus) || c < 0.01 || c > 1024)
            return imgd_error_set(err, EINVAL, "'cpus' must be a number from 0.01 to 1024");
        spec->cpu_millis = (int64_t)(c * 1000 + 0.5);
    }
    if (r == 0 && pids && !json_is_null(pids)) {
        if (!json_is_integer(pids) || json_integer_value(pids) < 1)
            return imgd_error_set(err, EINVAL, "'pids_limit' must be a positive integer");
        spec->pids_limit = json_integer_value(pids);
    }
    return r;
}

int native_optional_string(const json_t *in, const char *key, const char **out, imgd_error **err)
{
    json_t *v = json_object_get(in, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return imgd_error_set(err, EINVAL, "'%s' must be a string", key);
    *out = json_string_value(v);
    return 0;
}

static int decode_network(imgd_container_spec *spec, const json_t *in, imgd_error **err)
{
    const char *net = NULL;
    int r = native_optional_string(in, "network", &net, err);
    if (r < 0 || !net || !strcmp(net, "none"))
        return r;
    if (strcmp(net, "host") != 0)
        return imgd_error_set(err, EINVAL,
                              "network '%s' is not supported: use 'none' (loopback only, the "
                              "default) or 'host'",
                              net);
    spec->network_host = true;
    return 0;
}

static int decode_labels(imgd_container_spec *spec, json_t *in, imgd_error **err)
{
    json_t *labels = json_object_get(in, "labels");
    if (!labels || json_is_null(labels))
        return 0;
    const char *k;
    json_t *v;
    if (!json_is_object(labels))
        return imgd_error_set(err, EINVAL, "'labels' must be an object of strings");
    json_object_foreach (labels, k, v)
        if (!json_is_string(v))
            return imgd_error_set(err, EINVAL, "label '%s' must be a string", k);
    spec->labels = labels;
    return 0;
}

typedef struct create_job {
    const imgd_api_ctx *ctx;
    json_t *in;
    imgd_container_spec spec;
    bool start, pull;
} create_job;

static void create_job_free(void *arg)
{
    create_job *j = arg;
    if (!j)
        return;
    imgd_strv_free(j->spec.command);
    imgd_strv_free(j->spec.entrypoint);
    imgd_strv_free(j->spec.env);
    for (size_t i = 0; i < j->spec.n_volumes; i++) {
        free(j->spec.volumes[i].host);
        free(j->spec.volumes[i].container);
    }
    free(j->spec.volumes);
    free(j->spec.ports);
    json_decref(j->in);
    free(j);
}

static int decode_flags(create_job *j, imgd_error **err)
{
    json_t *start = json_object_get(j->in, "start"), *pull = json_object_get(j->in, "pull");
    if ((start && !json_is_boolean(start)) || (pull && !json_is_boolean(pull)))
        return imgd_error_set(err, EINVAL, "'start' and 'pull' must be booleans");
    j->start = !start || json_is_true(start);
    j->pull = json_is_true(pull);
    return 0;
}

static int decode_create(create_job *j, imgd_error **err)
{
    imgd_container_spec *s = &j->spec;
    json_t *in = j->in;
    if (!json_is_object(in))
        return imgd_error_set(err, EINVAL, "body must be a JSON object");
    const char *missing = !json_is_string(json_object_get(in, "image"))  ? "image"
                          : !json_is_string(json_object_get(in, "name")) ? "name"
                                                                         : NULL;
    if (missing)
        return imgd_error_set(err, EINVAL, "Missing required field: %s", missing);
    s->image = json_string_value(json_object_get(in, "image"));
    s->name = json_string_value(json_object_get(in, "name"));
    int r = ctr_argv(&s->command, json_object_get(in, "command"), "command", err);
    if (r == 0)
        r = ctr_argv(&s->entrypoint, json_object_get(in, "entrypoint"), "entrypoint", err);
    if (r == 0)
        r = ctr_env(&s->env, json_object_get(in, "environment"), err);
    if (r == 0)
        r = native_optional_string(in, "user", &s->user, err);
    if (r == 0)
        r = native_optional_string(in, "workdir", &s->workdir, err);
    if (r == 0 && s->workdir && s->workdir[0] != '/')
        r = imgd_error_set(err, EINVAL, "'workdir' must be an absolute path");
    if (r == 0)
        r = decode_network(s, in, err);
    if (r == 0)
        r = decode_ports(s, json_object_get(in, "ports"), err);
    if (r == 0)
        r = decode_volumes(s, json_object_get(in, "volumes"), err);
    if (r == 0)
        r = decode_limits(s, in, err);
    if (r == 0)
        r = decode_labels(s, in, err);
    return r == 0 ? decode_flags(j, err) : r;
}

/* ---- encoding ---- */

static void short_id(char out[SHORT_ID_LEN + 1], const char *id)
{
    memcpy(out, id, SHORT_ID_LEN);
    out[SHORT_ID_LEN] = '\0';
}

static json_t *time_json(int64_t usec)
{
    char buf[40];
    return usec > 0 ? json_string(imgd_time_format_rfc3339(buf, sizeof buf, (uint64_t)usec))
                    : json_null();
}

/* {"8080": "80"}: the request's form. */
static json_t *ports_json(const json_t *ports)
{
    json_t *o = json_object();
    size_t i;
    json_t *p;
    json_array_foreach (ports, i, p) {
        char host[16], ctr[16];
        snprintf(host, sizeof host, "%lld",
                 (long long)json_integer_value(json_object_get(p, "host")));
        snprintf(ctr, sizeof ctr, "%lld",
                 (long long)json_integer_value(json_object_get(p, "container")));
        json_object_set_new(o, host, json_string(ctr));
    }
    return o;
}

/* [{"host_ip","host_port","container_port","protocol"}]: where each port is published. */
static json_t *port_bindings_json(const json_t *ports)
{
    json_t *a = json_array();
    size_t i;
    json_t *p;
    json_array_foreach (ports, i, p) {
        const char *ip = imgd_json_get_string(p, "host_ip");
        json_array_append_new(a,
                              json_pack("{s:s, s:O, s:O, s:s}", "host_ip", ip ? ip : "",
                                        "host_port", json_object_get(p, "host"), "container_port",
                                        json_object_get(p, "container"), "protocol", "tcp"));
    }
    return a;
}

static json_t *container_summary(const imgd_container *c)
{
    char sid[SHORT_ID_LEN + 1];
    short_id(sid, c->id);
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o}", "id", sid, "full_id", c->id, "name",
                  c->name, "status", c->stopping ? "stopping" : imgd_container_state_name(c->state),
                  "image", c->image, "image_id", c->image_id, "created", time_json(c->created),
                  "ports", ports_json(json_object_get(c->config, "ports")));
    if (o)
        json_object_set_new(o, "port_bindings",
                            port_bindings_json(json_object_get(c->config, "ports")));
    if (o)
        json_object_set_new(o, "exit_code",
                            c->state == IMGD_CONTAINER_EXITED ? json_integer(c->exit_code)
                                                              : json_null());
    return o;
}

static json_t *container_detail(const imgd_container *c)
{
    json_t *o = container_summary(c);
    json_t *cfg = c->config;
    if (!o)
        return NULL;
    json_object_set_new(o, "started_at", time_json(c->started));
    json_object_set_new(o, "finished_at", time_json(c->finished));
    json_object_set_new(o, "pid", c->pid > 0 ? json_integer(c->pid) : json_null());
    json_object_set_new(o, "last_error", c->last_error ? json_string(c->last_error) : json_null());
    static const char *const keys[] = {
        "args",    "command", "entrypoint",  "env",    "workdir",    "user",      "network",
        "volumes", "labels",  "stop_signal", "memory", "cpu_millis", "pids_limit"};
    for (size_t i = 0; i < IMGD_ARRAY_SIZE(keys); i++)
        json_object_set(o, keys[i], json_object_get(cfg, keys[i]) ?: json_null());
    json_object_set_new(
        o, "cpus",
        json_real((double)json_integer_value(json_object_get(cfg, "cpu_millis")) / 1000.0));
    return o;
}

/* ---- handlers ---- */

static int pull_missing(const imgd_api_ctx *ctx, const char *image, imgd_error **err)
{
    imgd_image img = {0};
    imgd_error *e = NULL;
    int r = imgd_store_image_find(ctx->store, image, &img, &e);
    imgd_image_dispose(&img);
    imgd_error_free(e);
    if (r != -ENOENT)
        return 0; /* found, or a bad name the create reports */
    imgd_pull_options opts = {.reference = image, .parallel = (unsigned)ctx->cfg->pull_parallel};
    r = imgd_store_pull(ctx->store, ctx->registry, &opts, &img, err);
    imgd_image_dispose(&img);
    return r < 0 ? imgd_error_prefix(err, "pull '%s'", image) : 0;
}

static int run_create(void *arg, imgd_job *job, imgd_response *resp, imgd_error **err)
{
    (void)job;
    create_job *j = arg;
    imgd_container c = {0};
    int r = j->pull ? pull_missing(j->ctx, j->spec.image, err) : 0;
    if (r == 0)
        r = imgd_runtime_create(j->ctx->runtime, &j->spec, j->start, &c, err);
    if (r < 0) {
        imgd_container_dispose(&c);
        return r;
    }
    char sid[SHORT_ID_LEN + 1];
    short_id(sid, c.id);
    json_t *body = json_pack("{s:b, s:{s:s, s:s, s:s, s:s, s:s}}", "success", 1, "container", "id",
                             sid, "full_id", c.id, "name", c.name, "status",
                             imgd_container_state_name(c.state), "image", c.image);
    imgd_container_dispose(&c);
    return ctr_respond(resp, body, err);
}

int native_containers_create(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    create_job *j = calloc(1, sizeof *j);
    if (!j)
        return imgd_error_set(err, ENOMEM, "out of memory");
    j->ctx = req->ctx;
    int r = imgd_req_json(req, &j->in, err);
    if (r == 0)
        r = decode_create(j, err);
    if (r < 0) {
        create_job_free(j);
        return r;
    }
    imgd_job_spec spec = {.fn = run_create, .arg = j, .free_arg = create_job_free};
    return imgd_resp_job(resp, &spec) < 0 ? imgd_error_set(err, ENOMEM, "out of memory") : 0;
}

int native_containers_list(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    imgd_container *v = NULL;
    size_t n = 0;
    int r = imgd_runtime_list(req->ctx->runtime, &v, &n, err);
    if (r < 0)
        return r;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        if (arr)
            json_array_append_new(arr, container_summary(&v[i]));
        imgd_container_dispose(&v[i]);
    }
    free(v);
    return ctr_respond(resp, json_pack("{s:b, s:o*}", "success", 1, "containers", arr), err);
}

int native_containers_inspect(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    imgd_container c = {0};
    int r = imgd_runtime_get(req->ctx->runtime, imgd_req_param(req, "name"), &c, err);
    if (r < 0)
        return r;
    json_t *o = container_detail(&c);
    imgd_container_dispose(&c);
    return ctr_respond(resp, json_pack("{s:b, s:o*}", "success", 1, "container", o), err);
}
