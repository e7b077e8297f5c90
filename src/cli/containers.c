/* SPDX-License-Identifier: MIT */
/* The container commands of imgctl: run, ps, start, stop, rm, logs, exec, push-file, adduser.
 * Their options and output follow docker's (ps's table, the names start, stop and rm print,
 * exec's exit status), so that eyes and scripts used to docker read them. Text from the server
 * is printed with control characters replaced; a container's own output (logs, exec) is written
 * as it came, as docker writes it. */
#include "containers.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "images.h"
#include "table.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/humanize.h"
#include "util/json.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define CTR_API        "/api/v1/containers"
#define ID_SHORT_LEN   12u /* hex digits of a container ID, as docker shows */
#define COMMAND_TRUNC  20u /* characters of COMMAND in ps, as docker shows */
#define TAB_MINWIDTH   10u /* docker's text/tabwriter: cells of at least 10, padding 3 */
#define TAB_PADDING    3u
#define PS_COLS        7u
#define PS_PARALLEL    8u                    /* inspect requests of ps in flight at once */
#define FILE_MAX       (16u * 1024u * 1024u) /* largest file push-file sends; imgd reads 16 MiB */
#define PASSWORD_MAX   4096u
#define WAIT_MARGIN    30L    /* seconds a request may take beyond a wait the server does */
#define FOLLOW_TIMEOUT 86400L /* logs -f: imgd_client_stream's longest stall limit */
#define STOP_MAX       3600   /* imgd's bound of ?timeout= */
#define EXEC_MAX       86400.0

/* The options of all container commands; each command accepts a part of them. Strings are
 * borrowed from argv, lists owned. */
typedef struct ctr_opts {
    const char *name, *user, *workdir, *network, *memory, *entrypoint, *tail, *since, *mode, *owner,
        *shell, *home, *groups;
    char **env, **publish, **volumes, **labels;
    double cpus, timeout; /* 0: not given */
    int64_t pids_limit;   /* 0: not given */
    int64_t stop_time;    /* -1: not given */
    int64_t uid;          /* -1: not given */
    bool pull, create_only, all, quiet, json, no_trunc, force, follow, timestamps, password_stdin;
} ctr_opts;

typedef struct ctr_ctx ctr_ctx;

typedef struct ctr_command {
    const char *name;
    const char *synopsis; /* the options and arguments, for usage lines */
    const char *shorts;   /* getopt's short options; "+" first: stop at the first argument */
    const struct option *longs;
    int min_args, max_args; /* max_args < 0: no limit */
    int (*run)(ctr_ctx *x); /* returns the exit status */
} ctr_command;

struct ctr_ctx {
    const imgd_cli_container_args *a;
    const ctr_command *cmd;
    ctr_opts o;
    char **args; /* the arguments after the options, never "" */
    int n_args;
};

static void ctr_ctx_dispose(ctr_ctx *x)
{
    imgd_strv_free(x->o.env);
    imgd_strv_free(x->o.publish);
    imgd_strv_free(x->o.volumes);
    imgd_strv_free(x->o.labels);
}

/* ---- requests ---- */

/* A client for the effective server whose requests may take timeout_sec when that is longer
 * than the --timeout given. */
static int ctr_client_open(imgd_client **out, const ctr_ctx *x, long timeout_sec, imgd_error **err)
{
    imgd_client_options opts = *x->a->client;
    if (timeout_sec > opts.timeout_sec)
        opts.timeout_sec = timeout_sec;
    return imgd_client_new(out, &opts, err);
}

/* s percent-encoded but for RFC 3986's unreserved characters; a name of dots only is encoded
 * whole, as a client or proxy would resolve "." and ".." into another path. */
static void ctr_encode(imgd_buf *b, const char *s)
{
    bool dots = strspn(s, ".") == strlen(s);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '~' || *p == '.';
        if (plain && !dots)
            imgd_buf_append(b, p, 1);
        else
            imgd_buf_printf(b, "%%%02X", *p);
    }
}

/* CTR_API "/" name suffix, the name one path segment. Owned; NULL when out of memory. */
static char *ctr_path(const char *name, const char *suffix)
{
    imgd_buf b = {0};
    imgd_buf_printf(&b, "%s/", CTR_API);
    ctr_encode(&b, name);
    imgd_buf_printf(&b, "%s", suffix);
    return imgd_buf_steal(&b, NULL);
}

/* One request whose answer is a JSON object on success. */
static int ctr_call(json_t **out, imgd_client *c, const char *method, const char *path,
                    const json_t *body, imgd_error **err)
{
    long status = 0;
    if (!path)
        return imgd_error_set(err, ENOMEM, "out of memory");
    return imgd_client_call(out, &status, c, method, path, body, 0, err);
}

/* A JSON array of the strings of v; NULL when one is not UTF-8 or out of memory. */
static json_t *ctr_strings_json(char *const *v, int n)
{
    json_t *arr = json_array();
    for (int i = 0; arr && (n < 0 ? v && v[i] : i < n); i++) {
        if (json_array_append_new(arr, json_string(v[i])) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* -e KEY=VALUE as docker takes it: KEY alone is KEY's value here, or nothing when it is unset.
 * The values may be secrets: messages name the key only. Returns -1 to go on, or the exit
 * status. */
static int ctr_env_json(json_t **out, const char *cmd, char *const *env)
{
    json_auto_t *arr = json_array();
    for (size_t i = 0; arr && env && env[i]; i++) {
        size_t key_len = strcspn(env[i], "=");
        const char *val = env[i][key_len] ? NULL : getenv(env[i]);
        _cleanup_free_ char *kv = NULL;
        if (key_len == 0)
            return imgd_cli_usage_error("%s: -e needs KEY=VALUE or KEY", cmd);
        if (!env[i][key_len] && !val)
            continue;
        if (val && asprintf(&kv, "%s=%s", env[i], val) < 0)
            return imgd_cli_fail(NULL);
        if (json_array_append_new(arr, json_string(kv ? kv : env[i])) < 0)
            return imgd_cli_usage_error("%s: environment variable '%.*s' is not UTF-8 text", cmd,
                                        (int)key_len, env[i]);
    }
    if (!arr)
        return imgd_cli_fail(NULL);
    *out = TAKE_PTR(arr);
    return -1;
}

/* ---- run ---- */

/* "imgd-" and 8 random hex digits: imgd wants a name, docker would make one up. */
static int run_random_name(char *buf, size_t len)
{
    uint32_t n = 0;
    if (getrandom(&n, sizeof(n), 0) != (ssize_t)sizeof(n))
        return -errno;
    snprintf(buf, len, "imgd-%08x", n);
    return 0;
}

/* Add "key": value to obj from "KEY<sep>VALUE" (what, e.g. "-p", names the option). Returns -1
 * to go on, or the exit status. */
static int run_add_pair(json_t *obj, const char *arg, char sep, bool need_value, const char *what)
{
    const char *at = strchr(arg, sep);
    _cleanup_free_ char *key = strndup(arg, at ? (size_t)(at - arg) : strlen(arg));
    if (!key)
        return imgd_cli_fail(NULL);
    if (*key == '\0' || (need_value && (!at || at[1] == '\0')))
        return strcmp(what, "-p") == 0
                   ? imgd_cli_usage_error("run: -p '%s': give HOST_PORT:CONTAINER_PORT[/tcp]", arg)
               : strcmp(what, "-v") == 0
                   ? imgd_cli_usage_error("run: -v '%s': give /HOST/PATH:/CONTAINER/PATH[:ro]", arg)
                   : imgd_cli_usage_error("run: %s '%s': give KEY=VALUE", what, arg);
    if (strcmp(what, "-p") == 0 && strchr(at + 1, ':'))
        return imgd_cli_usage_error("run: -p '%s': imgd publishes on the address it is "
                                    "configured with; give HOST_PORT:CONTAINER_PORT[/tcp]",
                                    arg);
    /* docker lets a later --label win; a port or host path twice the API cannot say */
    if (strcmp(what, "-p") == 0 && json_object_get(obj, key))
        return imgd_cli_usage_error("run: host port %s is published twice", key);
    if (strcmp(what, "-v") == 0 && json_object_get(obj, key))
        return imgd_cli_usage_error("run: host path %s is mounted twice; imgd takes each once",
                                    key);
    if (json_object_set_new(obj, key, json_string(at ? at + 1 : "")) < 0)
        return imgd_cli_usage_error("run: %s '%s' is not UTF-8 text", what, key);
    return -1;
}

/* The object of a list of KEY<sep>VALUE options into body[member], when any was given. */
static int run_add_pairs(json_t *body, const char *member, char *const *list, char sep,
                         bool need_value, const char *what)
{
    if (!list)
        return -1;
    json_t *obj = json_object();
    if (!obj || json_object_set_new(body, member, obj) < 0)
        return imgd_cli_fail(NULL);
    for (size_t i = 0; list[i]; i++) {
        int r = run_add_pair(obj, list[i], sep, need_value, what);
        if (r >= 0)
            return r;
    }
    return -1;
}

/* command, entrypoint, environment, limits: the members of the body beside the strings. */
static int run_body_rest(json_t *body, const ctr_ctx *x)
{
    const ctr_opts *o = &x->o;
    json_t *env = NULL;
    int r = ctr_env_json(&env, "run", o->env);
    if (r >= 0)
        return r;
    bool bad = json_object_set_new(body, "environment", env) < 0;
    if (x->n_args > 1)
        bad |=
            json_object_set_new(body, "command", ctr_strings_json(x->args + 1, x->n_args - 1)) < 0;
    /* docker's --entrypoint is one word, not split; "" clears the image's */
    if (o->entrypoint)
        bad |= json_object_set_new(body, "entrypoint",
                                   *o->entrypoint ? json_pack("[s]", o->entrypoint)
                                                  : json_array()) < 0;
    if (o->cpus > 0)
        bad |= json_object_set_new(body, "cpus", json_real(o->cpus)) < 0;
    if (o->pids_limit != 0)
        bad |= json_object_set_new(body, "pids_limit", json_integer(o->pids_limit)) < 0;
    if (bad)
        return imgd_cli_usage_error("run: the command and --entrypoint must be UTF-8 text");
    if ((r = run_add_pairs(body, "ports", o->publish, ':', true, "-p")) >= 0 ||
        (r = run_add_pairs(body, "volumes", o->volumes, ':', true, "-v")) >= 0)
        return r;
    return run_add_pairs(body, "labels", o->labels, '=', false, "--label");
}

static int cmd_run(ctr_ctx *x)
{
    const ctr_opts *o = &x->o;
    char generated[32];
    if (!o->name && run_random_name(generated, sizeof(generated)) < 0)
        return imgd_cli_fail(NULL);
    json_auto_t *body =
        json_pack("{s:s, s:s, s:s*, s:s*, s:s*, s:s*, s:b, s:b}", "image", x->args[0], "name",
                  o->name ? o->name : generated, "user", o->user, "workdir", o->workdir, "network",
                  o->network, "memory", o->memory, "pull", o->pull, "start", !o->create_only);
    if (!body)
        return imgd_cli_usage_error("run: the image, --name, -u, -w, --network and --memory must "
                                    "be UTF-8 text");
    int r = run_body_rest(body, x);
    if (r >= 0)
        return r;
    _cleanup_(imgd_client_freep) imgd_client *c = NULL;
    _cleanup_error_ imgd_error *err = NULL;
    json_auto_t *v = NULL;
    /* a create with --pull may pull the image first */
    long timeout = o->pull ? x->a->client->timeout_sec + 300L : 0;
    if (ctr_client_open(&c, x, timeout, &err) < 0 ||
        ctr_call(&v, c, "POST", CTR_API, body, &err) < 0)
        return imgd_cli_fail(err);
    if (x->a->json)
        return imgd_cli_print_json(v);
    const json_t *ctr = json_object_get(v, "container");
    const char *id = imgd_json_get_string(ctr, "full_id");
    imgd_cli_put_clean(id ? id : imgd_json_get_string(ctr, "id") ?: "?", 0);
    putchar('\n');
    return EXIT_SUCCESS;
}

/* ---- ps ---- */

/* imgd's times: RFC 3339 UTC, "2026-01-19T15:47:19Z", a fraction allowed. */
static int ps_parse_time(time_t *out, const json_t *v)
{
    const char *s = json_string_value(v);
    struct tm tm = {0};
    const char *p = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (p && *p == '.')
        p += 1 + strspn(p + 1, "0123456789");
    if (!p || strcmp(p, "Z") != 0)
        return -EINVAL;
    *out = timegm(&tm);
    return 0;
}

/* "<duration> ago" since the time v, or "" when v is not a time. */
static void ps_ago(char *buf, size_t len, const json_t *v, time_t now)
{
    time_t t = 0;
    char d[48];
    if (ps_parse_time(&t, v) < 0) {
        snprintf(buf, len, "%s", "");
        return;
    }
    imgd_humanize_go_duration(d, sizeof(d), (int64_t)(now - t));
    snprintf(buf, len, "%s ago", d);
}

/* docker's STATUS: "Up 3 seconds", "Exited (0) 2 minutes ago", "Created". */
static void ps_status(char *buf, size_t len, const json_t *c, time_t now)
{
    const char *state = imgd_json_get_string(c, "status");
    char ago[64];
    time_t t = 0;
    if (state && strcmp(state, "running") == 0 &&
        ps_parse_time(&t, json_object_get(c, "started_at")) == 0) {
        imgd_humanize_go_duration(ago, sizeof(ago), (int64_t)(now - t));
        snprintf(buf, len, "Up %s", ago);
    } else if (state && strcmp(state, "exited") == 0) {
        ps_ago(ago, sizeof(ago), json_object_get(c, "finished_at"), now);
        snprintf(buf, len, "Exited (%lld)%s%s",
                 (long long)json_integer_value(json_object_get(c, "exit_code")), *ago ? " " : "",
                 ago);
    } else if (state && strcmp(state, "created") == 0) {
        snprintf(buf, len, "Created");
    } else {
        snprintf(buf, len, "%s", state ? state : "?");
    }
}

/* One character of COMMAND as Go's strconv.Quote writes it. */
static void ps_quote_char(imgd_buf *b, unsigned char ch)
{
    if (ch == '"' || ch == '\\')
        imgd_buf_printf(b, "\\%c", ch);
    else if (ch == '\n')
        imgd_buf_printf(b, "\\n");
    else if (ch == '\t')
        imgd_buf_printf(b, "\\t");
    else if (ch == '\r')
        imgd_buf_printf(b, "\\r");
    else if (ch < 0x20 || ch == 0x7f)
        imgd_buf_printf(b, "\\x%02x", ch);
    else
        imgd_buf_append(b, &ch, 1);
}

/* docker's COMMAND: the arguments joined by spaces, cut to 20 characters with "…" as docker's
 * Ellipsis does (unless no_trunc), then quoted. Owned; NULL when out of memory. */
static char *ps_command(const json_t *args, bool no_trunc)
{
    imgd_buf joined = {0}, b = {0};
    size_t i;
    const json_t *arg;
    json_array_foreach (args, i, arg)
        imgd_buf_printf(&joined, "%s%s", i ? " " : "", json_string_value(arg) ?: "");
    const char *s = joined.data ? joined.data : "";
    size_t chars = imgd_cli_text_width(s), kept = 0;
    bool cut = !no_trunc && chars > COMMAND_TRUNC;
    imgd_buf_append(&b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        kept += (*p & 0xc0) != 0x80;
        if (cut && kept == COMMAND_TRUNC)
            break;
        ps_quote_char(&b, *p);
    }
    if (cut)
        imgd_buf_append(&b, "\xe2\x80\xa6", 3); /* … */
    imgd_buf_append(&b, "\"", 1);
    imgd_buf_dispose(&joined);
    return imgd_buf_steal(&b, NULL);
}

/* docker's PORTS, "127.0.0.1:8080->80/tcp", from port_bindings; an imgd without that field
 * gives only the "ports" map, and the address is left out. */
static char *ps_ports(const json_t *row)
{
    imgd_buf b = {0};
    const json_t *bindings = json_object_get(row, "port_bindings");
    size_t i;
    const json_t *p;
    json_array_foreach (bindings, i, p)
        imgd_buf_printf(&b, "%s%s:%lld->%lld/%s", b.len ? ", " : "",
                        json_string_value(json_object_get(p, "host_ip")) ?: "",
                        (long long)json_integer_value(json_object_get(p, "host_port")),
                        (long long)json_integer_value(json_object_get(p, "container_port")),
                        json_string_value(json_object_get(p, "protocol")) ?: "tcp");
    const char *host;
    const json_t *ctr;
    if (!bindings)
        json_object_foreach ((json_t *)json_object_get(row, "ports"), host, ctr)
            imgd_buf_printf(&b, "%s%s->%s/tcp", b.len ? ", " : "", host,
                            json_string_value(ctr) ?: "?");
    if (!b.data)
        imgd_buf_append(&b, "", 0);
    return imgd_buf_steal(&b, NULL);
}

typedef struct ps_view {
    imgd_cli_table table;
    bool no_trunc;
    time_t now;
} ps_view;

static void ps_view_dispose(ps_view *v)
{
    imgd_cli_table_dispose(&v->table);
}

/* A row from the summary of the list and the container's detail (started_at, args, ...). */
static void ps_add_row(ps_view *v, const json_t *sum, const json_t *det)
{
    char id[ID_SHORT_LEN + 1], created[64], status[128];
    const char *full = imgd_json_get_string(sum, "full_id") ?: "";
    snprintf(id, sizeof(id), "%s", full);
    ps_ago(created, sizeof(created), json_object_get(sum, "created"), v->now);
    ps_status(status, sizeof(status), det, v->now);
    _cleanup_free_ char *command = ps_command(json_object_get(det, "args"), v->no_trunc);
    _cleanup_free_ char *ports = ps_ports(sum);
    const char *row[PS_COLS] = {v->no_trunc ? full : id,
                                imgd_json_get_string(sum, "image") ?: "",
                                command ? command : "",
                                created,
                                status,
                                ports ? ports : "",
                                imgd_json_get_string(sum, "name") ?: ""};
    v->table.failed |= !command || !ports;
    imgd_cli_table_add(&v->table, row);
}

/* The detail of each container of list, in its order: GET CTR_API/{id} for all at once. A
 * container removed since the list was made gets null. Returns 0 with a new array in *out. */
static int ps_inspect_all(json_t **out, imgd_client *c, const json_t *list, imgd_error **err)
{
    size_t n = json_array_size(list);
    _cleanup_free_ imgd_client_batch_item *items = calloc(n ? n : 1, sizeof(*items));
    _cleanup_strv_ char **paths = calloc(n + 1, sizeof(*paths));
    json_auto_t *details = json_array();
    if (!items || !paths || !details)
        return imgd_error_set(err, ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *sum = json_array_get(list, i);
        const char *id = imgd_json_get_string(sum, "full_id") ?: imgd_json_get_string(sum, "name");
        if (!(paths[i] = ctr_path(id ? id : "?", "")))
            return imgd_error_set(err, ENOMEM, "out of memory");
        items[i] = (imgd_client_batch_item){.client = c, .method = "GET", .path = paths[i]};
    }
    imgd_client_request_all(items, n, PS_PARALLEL);
    int r = 0;
    for (size_t i = 0; i < n; i++) {
        imgd_client_batch_item *it = &items[i];
        json_auto_t *v = NULL;
        if (r == 0 && it->r < 0) {
            r = it->r;
            if (err && !*err)
                *err = TAKE_PTR(it->err);
        } else if (r == 0 && it->response.status == 404)
            json_array_append_new(details, json_null());
        else if (r == 0 && (it->response.status < 200 || it->response.status >= 300))
            r = imgd_client_response_error(err, &it->response, "GET", it->path);
        else if (r == 0 &&
                 (r = imgd_client_response_json(&v, &it->response, "GET", it->path, err)) == 0)
            json_array_append(details, json_object_get(v, "container") ?: json_null());
        imgd_client_response_dispose(&it->response);
        imgd_error_free(it->err);
    }
    if (r == 0)
        *out = TAKE_PTR(details);
    return r;
}

static int ps_print_table(const json_t *shown, imgd_client *c, bool no_trunc)
{
    _cleanup_error_ imgd_error *err = NULL;
    json_auto_t *details = NULL;
    if (ps_inspect_all(&details, c, shown, &err) < 0)
        return imgd_cli_fail(err);
    _cleanup_(ps_view_dispose)
        ps_view v = {.table = {.n_cols = PS_COLS, .pad = TAB_PADDING, .min_width = TAB_MINWIDTH},
                     .no_trunc = no_trunc,
                     .now = time(NULL)};
    static const char *const heads[PS_COLS] = {"CONTAINER ID", "IMAGE", "COMMAND", "CREATED",
                                               "STATUS",       "PORTS", "NAMES"};
    imgd_cli_table_add(&v.table, heads);
    size_t i;
    const json_t *sum;
    json_array_foreach (shown, i, sum) {
        const json_t *det = json_array_get(details, i);
        if (json_is_object(det))
            ps_add_row(&v, sum, det);
    }
    if (v.table.failed)
        return imgd_cli_fail(NULL);
    imgd_cli_table_print(&v.table);
    return EXIT_SUCCESS;
}

static int cmd_ps(ctr_ctx *x)
{
    _cleanup_(imgd_client_freep) imgd_client *c = NULL;
    _cleanup_error_ imgd_error *err = NULL;
    json_auto_t *v = NULL;
    json_auto_t *shown = json_array();
    if (ctr_client_open(&c, x, 0, &err) < 0 || ctr_call(&v, c, "GET", CTR_API, NULL, &err) < 0)
        return imgd_cli_fail(err);
    const json_t *list = json_object_get(v, "containers");
    if (!json_is_array(list)) {
        imgd_error_set(&err, EBADMSG, "GET %s: the answer holds no container list", CTR_API);
        return imgd_cli_fail(err);
    }
    /* imgd lists the oldest first, docker the newest */
    for (size_t i = json_array_size(list); shown && i-- > 0;) {
        json_t *sum = json_array_get(list, i);
        const char *state = imgd_json_get_string(sum, "status");
        if (x->o.all || (state && strcmp(state, "running") == 0))
            json_array_append(shown, sum);
    }
    if (!shown)
        return imgd_cli_fail(NULL);
    if (x->o.json || x->a->json) {
        json_auto_t *out = json_pack("{s:O}", "containers", shown);
        return out ? imgd_cli_print_json(out) : imgd_cli_fail(NULL);
    }
    if (!x->o.quiet)
        return ps_print_table(shown, c, x->o.no_trunc);
    size_t i;
    const json_t *sum;
    json_array_foreach (shown, i, sum) {
        char id[ID_SHORT_LEN + 1];
        const char *full = imgd_json_get_string(sum, "full_id") ?: "";
        snprintf(id, sizeof(id), "%s", full);
        imgd_cli_put_clean(x->o.no_trunc ? full : id, 0);
        putchar('\n');
    }
    return EXIT_SUCCESS;
}

/* ---- start, stop, rm ---- */

/* method CTR_API/{name}suffix for each name, printing the name as given (as docker does) or the
 * error; a failure goes on with the next name unless imgd did not answer. */
static int ctr_each(const ctr_ctx *x, const char *method, const char *suffix, long timeout_sec)
{
    _cleanup_(imgd_client_freep) imgd_client *c = NULL;
    _cleanup_error_ imgd_error *open_err = NULL;
    json_auto_t *answers = json_array();
    int status = EXIT_SUCCESS;
    if (!answers)
        return imgd_cli_fail(NULL);
    if (ctr_client_open(&c, x, timeout_sec, &open_err) < 0)
        return imgd_cli_fail(open_err);
    for (int i = 0; i < x->n_args; i++) {
        _cleanup_error_ imgd_error *err = NULL;
        _cleanup_free_ char *path = ctr_path(x->args[i], suffix);
        json_auto_t *v = NULL;
        int r = ctr_call(&v, c, method, path, NULL, &err);
        if (r == 0 && x->a->json) {
            json_array_append(answers, v);
        } else if (r == 0) {
            imgd_cli_put_clean(x->args[i], 0);
            putchar('\n');
        } else {
            fflush(stdout); /* the error line after the names before */
            status = imgd_cli_fail(err);
            if (r != -EIO && r != -EBADMSG)
                break; /* no answer: the next name would get none either */
        }
    }
    if (x->a->json && imgd_cli_print_json(answers) != EXIT_SUCCESS)
        return EXIT_FAILURE;
    return status;
}

static int cmd_start(ctr_ctx *x)
{
    return ctr_each(x, "POST", "/start", 0);
}

static int cmd_stop(ctr_ctx *x)
{
    char suffix[64] = "/stop";
    if (x->o.stop_time >= 0)
        snprintf(suffix, sizeof(suffix), "/stop?timeout=%lld", (long long)x->o.stop_time);
    long wait = x->o.stop_time >= 0 ? (long)x->o.stop_time + WAIT_MARGIN : 0;
    return ctr_each(x, "POST", suffix, wait);
}

static int cmd_rm(ctr_ctx *x)
{
    return ctr_each(x, "DELETE", x->o.force ? "?force=true" : "", 0);
}

/* ---- logs ---- */

/* A Go duration as docker's --since takes it ("10m", "1h30m", "2.5s"), in seconds. */
static bool logs_duration(double *out, const char *s)
{
    static const struct {
        const char *unit;
        double secs;
    } units[] = {{"ns", 1e-9}, {"us", 1e-6}, {"ms", 1e-3}, {"s", 1}, {"m", 60}, {"h", 3600}};
    double total = 0;
    if (*s == '\0')
        return false;
    for (const char *p = s; *p;) {
        char *end = NULL;
        if ((*p < '0' || *p > '9') && *p != '.')
            return false;
        double n = strtod(p, &end);
        size_t u = 0;
        while (u < IMGD_ARRAY_SIZE(units) && !imgd_str_has_prefix(end, units[u].unit))
            u++;
        if (end == p || u == IMGD_ARRAY_SIZE(units))
            return false;
        total += n * units[u].secs;
        p = end + strlen(units[u].unit);
    }
    *out = total;
    return true;
}

/* The query of a logs request. Owned; NULL when out of memory. */
static char *logs_query(const ctr_ctx *x)
{
    const ctr_opts *o = &x->o;
    imgd_buf b = {0};
    char since[64];
    double back = 0;
    bool relative = o->since && logs_duration(&back, o->since);
    /* imgd shows the last 100 lines unless told; docker all of them */
    imgd_buf_printf(&b, "/logs?tail=");
    ctr_encode(&b, o->tail ? o->tail : "all");
    /* -f without -t asks for the times all the same, and cuts them off: the stream hands over
     * lines without the empty ones, and a time makes no line empty */
    if (o->timestamps || o->follow)
        imgd_buf_printf(&b, "&timestamps=true");
    if (o->follow)
        imgd_buf_printf(&b, "&follow=true");
    if (relative) {
        double at = (double)imgd_now_realtime_usec() / 1e6 - back;
        snprintf(since, sizeof(since), "%.6f", at > 0 ? at : 0);
    }
    if (o->since) {
        imgd_buf_printf(&b, "&since=");
        ctr_encode(&b, relative ? since : o->since);
    }
    return imgd_buf_steal(&b, NULL);
}

static int logs_on_line(void *ctx, const char *line, size_t len, imgd_error **err)
{
    const bool *strip_time = ctx;
    const char *sp = *strip_time ? memchr(line, ' ', len) : NULL;
    if (sp) {
        len -= (size_t)(sp + 1 - line);
        line = sp + 1;
    }
    if (fwrite(line, 1, len, stdout) != len || putchar('\n') == EOF || fflush(stdout) != 0)
        return imgd_error_errno(err, errno, "write error on standard output");
    return 0;
}

/* The log as it grows, until the container is not running and its log is read. */
static int logs_follow(imgd_client *c, const char *path, bool timestamps, imgd_error **err)
{
    bool strip_time = !timestamps;
    imgd_client_response resp = {0};
    int r = imgd_client_stream(&resp, c, "GET", path, NULL, "text/plain", logs_on_line, &strip_time,
                               err);
    if (r == 0 && (resp.status < 200 || resp.status >= 300))
        r = imgd_client_response_error(err, &resp, "GET", path);
    imgd_client_response_dispose(&resp);
    return r;
}

static int cmd_logs(ctr_ctx *x)
{
    if (x->o.follow && x->a->json)
        return imgd_cli_usage_error("logs: -f streams text; it does not take -o json");
    _cleanup_(imgd_client_freep) imgd_client *c = NULL;
    _cleanup_error_ imgd_error *err = NULL;
    _cleanup_free_ char *query = logs_query(x);
    _cleanup_free_ char *path = query ? ctr_path(x->args[0], query) : NULL;
    json_auto_t *v = NULL;
    if (!path)
        return imgd_cli_fail(NULL);
    if (ctr_client_open(&c, x, x->o.follow ? FOLLOW_TIMEOUT : 0, &err) < 0)
        return imgd_cli_fail(err);
    if (x->o.follow)
        return logs_follow(c, path, x->o.timestamps, &err) < 0 ? imgd_cli_fail(err) : EXIT_SUCCESS;
    if (ctr_call(&v, c, "GET", path, NULL, &err) < 0)
        return imgd_cli_fail(err);
    if (x->a->json)
        return imgd_cli_print_json(v);
    const json_t *logs = json_object_get(json_object_get(v, "container"), "logs");
    fwrite(json_string_value(logs) ?: "", 1, json_string_length(logs), stdout);
    return EXIT_SUCCESS;
}

/* ---- exec ---- */

static int cmd_exec(ctr_ctx *x)
{
    const ctr_opts *o = &x->o;
    json_auto_t *env = NULL;
    int r = ctr_env_json(&env, "exec", o->env);
    if (r >= 0)
        return r;
    json_auto_t *body =
        json_pack("{s:o, s:O, s:s*, s:s*}", "command", ctr_strings_json(x->args + 1, x->n_args - 1),
                  "env", env, "user", o->user, "workdir", o->workdir);
    if (!body)
        return imgd_cli_usage_error("exec: the command, -u and -w must be UTF-8 text");
    if (o->timeout > 0 && json_object_set_new(body, "timeout", json_real(o->timeout)) < 0)
        return imgd_cli_fail(NULL);
    /* without --timeout imgd allows its request_timeout, which imgctl does not know */
    long wait = (o->timeout > 0 ? (long)o->timeout + 1 : x->a->client->timeout_sec) + WAIT_MARGIN;
    _cleanup_(imgd_client_freep) imgd_client *c = NULL;
    _cleanup_error_ imgd_error *err = NULL;
    _cleanup_free_ char *path = ctr_path(x->args[0], "/exec");
    json_auto_t *v = NULL;
    if (ctr_client_open(&c, x, wait, &err) < 0 || ctr_call(&v, c, "POST", path, body, &err) < 0)
        return imgd_cli_fail(err);
    const json_t *ex = json_object_get(v, "execution");
    const json_t *code = json_object_get(ex, "exit_code");
    if (!json_is_integer(code)) {
        imgd_error_set(&err, EBADMSG, "POST %s: the answer holds no exit code", path);
        return imgd_cli_fail(err);
    }
    if (x->a->json && imgd_cli_print_json(v) != EXIT_SUCCESS)
        return EXIT_FAILURE;
    const json_t *out = json_object_get(ex, "output");
    if (!x->a->json)
        fwrite(json_string_value(out) ?: "", 1, json_string_length(out), stdout);
    if (json_is_true(json_object_get(ex, "truncated"))) {
        fflush(stdout);
        fputs("imgctl: exec: imgd kept only the start of the output\n", stderr);
    }
    json_int_t n = json_integer_value(code);
    return n >= 0 && n <= 255 ? (int)n : EXIT_FAILURE;
}

/* ---- push-file ---- */

/* Read all of fd, at most max bytes. */
static int ctr_read_all(char **out, size_t *out_len, int fd, size_t max, imgd_error **err)
{
    imgd_buf b = {0};
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            imgd_buf_dispose(&b);
            return imgd_error_errno(err, e, "read");
        }
        if (n == 0)
            break;
        if ((size_t)n > max - b.len) {
            imgd_buf_dispose(&b);
            return imgd_error_set(err, EFBIG, "larger than %zu MiB", max / (1024u * 1024u));
        }
        imgd_buf_append(&b, chunk, (size_t)n);
    }
    if (!b.data)
        imgd_buf_append(&b, "", 0);
    *out = imgd_buf_steal(&b, out_len);
    return *out ? 0 : imgd_error_set(err, ENOMEM, "out of memory");
}

/* RFC 4648 base64 with padding. Owned; NULL when out of memory. */
static char *ctr_base64(const unsigned char *data, size_t len)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((len + 2) / 3 * 4 + 1);
    size_t o = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        v |= i + 1 < len ? (uint32_t)data[i + 1] << 8 : 0;
        v |= i + 2 < len ? data[i + 2] : 0;
        out[o++] = abc[v >> 18];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = i + 1 < len ? abc[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? abc[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

/* The local file ("-": standard input) and, through *mode, its permission bits as "0755" when
 * it is a regular file (docker cp keeps them). */
static int push_read(char **out, size_t *len, char *mode, size_t mode_len, const char *local,
                     imgd_error **err)
{
    _cleanup_close_ int fd = -1;
    struct stat st;
    bool in = strcmp(local, "-") == 0;
    if (!in && (fd = open(local, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
        return imgd_error_errno(err, errno, "push-file '%s'", local);
    if (fstat(in ? STDIN_FILENO : fd, &st) == 0 && S_ISREG(st.st_mode))
        snprintf(mode, mode_len, "%04o", (unsigned)(st.st_mode & 07777));
    else if (!in && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
        return imgd_error_set(err, EISDIR, "push-file '%s': is a directory", local);
    int r = ctr_read_all(out, len, in ? STDIN_FILENO : fd, FILE_MAX, err);
    return r < 0 ? imgd_error_prefix(err, "push-file '%s'", in ? "standard input" : local) : 0;
}

static int cmd_push_file(ctr_ctx *x)
{
    const char *target = x->args[1], *colon = strchr(target, ':');
    if (!colon || colon == target || colon[1] != '/')
        return imgd_cli_usage_error("push-file: the target must be CONTAINER:/PATH");
    _cleanup_free_ char *name = strndup(target, (size_t)(colon - target));
    _cleanup_free_ char *data = NULL;
    _cleanup_free_ char *b64 = NULL;
    _cleanup_error_ imgd_error *err = NULL;
    char mode[8] = "";
    size_t len = 0;
    if (!name)
        return imgd_cli_fail(NULL);
    if (push_read(&data, &len, mode, sizeof(mode), x->args[0], &err) < 0) {
        imgd_str_strip_controls(err->message, strlen(err->message));
        return imgd_cli_fail(err);
    }
    if (!(b64 = ctr_base64((const unsigned char *)data, len)))
        return imgd_cli_fail(NULL);
    json_auto_t *body = json_pack("{s:s, s:s, s:s, s:s*, s:s*}", "dest_path", colon + 1, "content",
                                  b64, "encoding", "base64", "mode",
                                  x->o.mode ? x->o.mode
                                  : *mode   ? mode
                                            : NULL,
                                  "owner", x->o.owner);
    if (!body)
        return imgd_cli_usage_error("push-file: the path and --owner must be UTF-8 text");
    _cleanup_(imgd_client_freep) imgd_client *c = NULL;
    _cleanup_free_ char *path = ctr_path(name, "/files");
    json_auto_t *v = NULL;
    if (ctr_client_open(&c, x, 0, &err) < 0 || ctr_call(&v, c, "POST", path, body, &err) < 0)
        return imgd_cli_fail(err);
    if (x->a->json)
        return imgd_cli_print_json(v);
    /* docker cp's line, with go-units HumanSize (4 digits, decimal units) */
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB"};
    double size = (double)json_integer_value(json_object_get(json_object_get(v, "file"), "size"));
    size_t u = 0;
    for (; size >= 1000 && u + 1 < IMGD_ARRAY_SIZE(units); u++)
        size /= 1000;
    printf("Successfully copied %.4g%s to ", size, units[u]);
    imgd_cli_put_clean(target, 0);
    putchar('\n');
    return EXIT_SUCCESS;
}

/* ---- adduser ---- */

/* The password on standard input, without its line end (as docker login --password-stdin takes
 * it). On a terminal it is asked for, with echo off, and ends with the line. */
static int adduser_read_password(char **out, imgd_error **err)
{
    struct termios saved, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (tty) {
        quiet = saved;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        fputs("Password: ", stderr);
        if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) < 0)
            return imgd_error_errno(err, errno, "cannot turn off the echo of the terminal");
    }
    char buf[PASSWORD_MAX + 2];
    size_t len = 0;
    int e = 0;
    while (len < sizeof(buf) - 1 && !(tty && len > 0 && buf[len - 1] == '\n')) {
        ssize_t n = read(STDIN_FILENO, buf + len, tty ? 1 : sizeof(buf) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            e = n < 0 ? errno : 0;
            break;
        }
        len += (size_t)n;
    }
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        fputc('\n', stderr);
    }
    buf[len] = '\0';
    if (len > 0 && buf[len - 1] == '\n')
        buf[--len] = '\0';
    if (len > 0 && buf[len - 1] == '\r')
        buf[--len] = '\0';
    int r = 0;
    if (e)
        r = imgd_error_errno(err, e, "cannot read the password");
    else if (len > PASSWORD_MAX)
        r = imgd_error_set(err, EINVAL, "the password is longer than %u bytes", PASSWORD_MAX);
    else if (len == 0)
        r = imgd_error_set(err, EINVAL, "the password on standard input is empty");
    else if (strlen(buf) != len)
        r = imgd_error_set(err, EINVAL, "the password holds a NUL byte");
    else if (!(*out = strdup(buf)))
        r = imgd_error_set(err, ENOMEM, "out of memory");
    explicit_bzero(buf, sizeof(buf));
    return r;
}

/* jansson frees strings without wiping them: wipe the password in the body first. */
static void adduser_body_freep(json_t **body)
{
    json_t *pw = json_object_get(*body, "password");
    if (json_is_string(pw))
        explicit_bzero((char *)json_string_value(pw), json_string_length(pw));
    json_decref(*body);
}

static json_t *adduser_body(const ctr_ctx *x, const char *password)
{
    const ctr_opts *o = &x->o;
    json_t *body = json_pack("{s:s, s:s*, s:s*, s:s*}", "username", x->args[1], "password",
                             password, "shell", o->shell, "home", o->home);
    _cleanup_free_ char *copy = NULL;
    bool bad = !body;
    if (!bad && o->uid >= 0)
        bad = json_object_set_new(body, "uid", json_integer(o->uid)) < 0;
    if (!bad && o->groups) {
        json_t *groups = json_array();
        bad = json_object_set_new(body, "groups", groups) < 0 || !(copy = strdup(o->groups));
        char *save = NULL;
        for (char *g = bad ? NULL : strtok_r(copy, ",", &save); g; g = strtok_r(NULL, ",", &save))
            bad |= json_array_append_new(groups, json_string(g)) < 0;
    }
    if (bad)
        adduser_body_freep(&body);
    return bad ? NULL : body;
}

static int cmd_adduser(ctr_ctx *x)
{
    _cleanup_secret_ char *password = NULL;
    _cleanup_error_ imgd_error *err = NULL;
    if (x->o.password_stdin && adduser_read_password(&password, &err) < 0) {
        imgd_error_prefix(&err, "adduser");
        return imgd_cli_fail(err);
    }
    _cleanup_(adduser_body_freep) json_t *body = adduser_body(x, password);
    if (!body)
        return imgd_cli_usage_error("adduser: the user name, password, --shell, --home and "
                                    "--groups must be UTF-8 text");
    _cleanup_(imgd_client_freep) imgd_client *c = NULL;
    _cleanup_free_ char *path = ctr_path(x->args[0], "/users");
    json_auto_t *v = NULL;
    if (ctr_client_open(&c, x, 0, &err) < 0 || ctr_call(&v, c, "POST", path, body, &err) < 0)
        return imgd_cli_fail(err);
    if (x->a->json)
        return imgd_cli_print_json(v);
    const json_t *u = json_object_get(v, "user");
    fputs("Added user ", stdout);
    imgd_cli_put_clean(imgd_json_get_string(u, "username") ?: x->args[1], 0);
    printf(" (uid %lld, gid %lld, home ", (long long)json_integer_value(json_object_get(u, "uid")),
           (long long)json_integer_value(json_object_get(u, "gid")));
    imgd_cli_put_clean(imgd_json_get_string(u, "home") ?: "?", 0);
    fputs(") to ", stdout);
    imgd_cli_put_clean(x->args[0], 0);
    putchar('\n');
    return EXIT_SUCCESS;
}

/* ---- options ---- */

enum {
    OPT_NAME = 0x100,
    OPT_NETWORK,
    OPT_CPUS,
    OPT_PIDS_LIMIT,
    OPT_ENTRYPOINT,
    OPT_PULL,
    OPT_CREATE_ONLY,
    OPT_JSON,
    OPT_NO_TRUNC,
    OPT_SINCE,
    OPT_TIMEOUT,
    OPT_MODE,
    OPT_OWNER,
    OPT_PASSWORD_STDIN,
    OPT_SHELL,
    OPT_UID,
    OPT_HOME,
    OPT_GROUPS,
    OPT_HELP,
    /* the short options whose meaning depends on the command */
    OPT_FOLLOW,
    OPT_TIMESTAMPS,
    OPT_FORCE,
    OPT_TIME,
};

#define HELP_OPTION                                                                                \
    {                                                                                              \
        "help", no_argument, NULL, OPT_HELP                                                        \
    }
#define END_OPTION                                                                                 \
    {                                                                                              \
        NULL, 0, NULL, 0                                                                           \
    }

static const struct option run_longs[] = {
    {"name", required_argument, NULL, OPT_NAME},
    {"env", required_argument, NULL, 'e'},
    {"publish", required_argument, NULL, 'p'},
    {"volume", required_argument, NULL, 'v'},
    {"user", required_argument, NULL, 'u'},
    {"workdir", required_argument, NULL, 'w'},
    {"network", required_argument, NULL, OPT_NETWORK},
    {"memory", required_argument, NULL, 'm'},
    {"cpus", required_argument, NULL, OPT_CPUS},
    {"pids-limit", required_argument, NULL, OPT_PIDS_LIMIT},
    {"entrypoint", required_argument, NULL, OPT_ENTRYPOINT},
    {"label", required_argument, NULL, 'l'},
    {"pull", no_argument, NULL, OPT_PULL},
    {"create-only", no_argument, NULL, OPT_CREATE_ONLY},
    {"detach", no_argument, NULL, 'd'},
    HELP_OPTION,
    END_OPTION,
};
static const struct option ps_longs[] = {
    {"all", no_argument, NULL, 'a'},
    {"quiet", no_argument, NULL, 'q'},
    {"json", no_argument, NULL, OPT_JSON},
    {"no-trunc", no_argument, NULL, OPT_NO_TRUNC},
    HELP_OPTION,
    END_OPTION,
};
static const struct option stop_longs[] = {
    {"time", required_argument, NULL, 't'},
    {"timeout", required_argument, NULL, 't'},
    HELP_OPTION,
    END_OPTION,
};
static const struct option rm_longs[] = {
    {"force", no_argument, NULL, 'f'},
    HELP_OPTION,
    END_OPTION,
};
static const struct option logs_longs[] = {
    {"follow", no_argument, NULL, 'f'},
    {"tail", required_argument, NULL, 'n'},
    {"timestamps", no_argument, NULL, 't'},
    {"since", required_argument, NULL, OPT_SINCE},
    HELP_OPTION,
    END_OPTION,
};
static const struct option exec_longs[] = {
    {"user", required_argument, NULL, 'u'},
    {"workdir", required_argument, NULL, 'w'},
    {"env", required_argument, NULL, 'e'},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    HELP_OPTION,
    END_OPTION,
};
static const struct option push_longs[] = {
    {"mode", required_argument, NULL, OPT_MODE},
    {"owner", required_argument, NULL, OPT_OWNER},
    HELP_OPTION,
    END_OPTION,
};
static const struct option adduser_longs[] = {
    {"password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN},
    {"shell", required_argument, NULL, OPT_SHELL},
    {"uid", required_argument, NULL, OPT_UID},
    {"home", required_argument, NULL, OPT_HOME},
    {"groups", required_argument, NULL, OPT_GROUPS},
    HELP_OPTION,
    END_OPTION,
};
static const struct option help_longs[] = {HELP_OPTION, END_OPTION};

static const ctr_command ctr_commands[] = {
    {"run",
     "[--name N] [-e K=V]... [-p HOST:CTR]... [-v /HOST:/CTR[:ro]]... [-u USER] [-w DIR] "
     "[--network none|host] [--memory SIZE] [--cpus N] [--pids-limit N] [--entrypoint CMD] "
     "[--label K=V]... [--pull] [--create-only] IMAGE [COMMAND [ARG...]]",
     "+:e:p:v:u:w:m:l:d", run_longs, 1, -1, cmd_run},
    {"ps", "[-a] [-q] [--no-trunc] [--json]", ":aq", ps_longs, 0, 0, cmd_ps},
    {"start", "CONTAINER...", ":", help_longs, 1, -1, cmd_start},
    {"stop", "[-t SECONDS] CONTAINER...", ":t:", stop_longs, 1, -1, cmd_stop},
    {"rm", "[-f] CONTAINER...", ":f", rm_longs, 1, -1, cmd_rm},
    {"logs", "[-f] [--tail N|all] [-t] [--since T] CONTAINER", ":fn:t", logs_longs, 1, 1, cmd_logs},
    {"exec", "[-u USER] [-w DIR] [-e K=V]... [--timeout SECONDS] CONTAINER COMMAND [ARG...]",
     "+:u:w:e:", exec_longs, 2, -1, cmd_exec},
    {"push-file", "[--mode MODE] [--owner USER[:GROUP]] LOCAL_FILE|- CONTAINER:/PATH", ":",
     push_longs, 2, 2, cmd_push_file},
    {"adduser",
     "[--password-stdin] [--shell S] [--uid N] [--home DIR] [--groups G1,G2] CONTAINER USERNAME",
     ":", adduser_longs, 2, 2, cmd_adduser},
};

static const ctr_command *ctr_command_find(const char *name)
{
    for (size_t i = 0; i < IMGD_ARRAY_SIZE(ctr_commands); i++) {
        if (strcmp(ctr_commands[i].name, name) == 0)
            return &ctr_commands[i];
    }
    return NULL;
}

bool imgd_cli_container_command_is(const char *name)
{
    return ctr_command_find(name) != NULL;
}

/* The option as typed, without an "=value" that may be a secret. */
static int ctr_bad_option(const ctr_ctx *x, const char *what, const char *arg)
{
    return imgd_cli_usage_error("%s: %s '%.*s'", x->cmd->name, what, (int)strcspn(arg, "="), arg);
}

/* A number of an option: an integer from min to max. Returns -1 to go on, or the exit status. */
static int ctr_int_option(int64_t *out, const ctr_ctx *x, const char *what, int64_t min,
                          int64_t max)
{
    if (imgd_parse_int64(out, optarg) < 0 || *out < min || *out > max)
        return imgd_cli_usage_error("%s: %s needs a whole number from %lld to %lld", x->cmd->name,
                                    what, (long long)min, (long long)max);
    return -1;
}

static int ctr_real_option(double *out, const ctr_ctx *x, const char *what, double max)
{
    char *end = NULL;
    double v = strtod(optarg, &end);
    if (end == optarg || *end != '\0' || !(v > 0) || v > max)
        return imgd_cli_usage_error("%s: %s needs a number above 0, at most %g", x->cmd->name, what,
                                    max);
    *out = v;
    return -1;
}

/* Options that take a string or a list. Returns -1 to go on, -2 when opt is not one, or the
 * exit status. */
static int ctr_string_option(ctr_opts *o, int opt)
{
    static const struct {
        int opt;
        size_t off;
    } strings[] = {
        {OPT_NAME, offsetof(ctr_opts, name)},   {'u', offsetof(ctr_opts, user)},
        {'w', offsetof(ctr_opts, workdir)},     {OPT_NETWORK, offsetof(ctr_opts, network)},
        {'m', offsetof(ctr_opts, memory)},      {OPT_ENTRYPOINT, offsetof(ctr_opts, entrypoint)},
        {'n', offsetof(ctr_opts, tail)},        {OPT_SINCE, offsetof(ctr_opts, since)},
        {OPT_OWNER, offsetof(ctr_opts, owner)}, {OPT_SHELL, offsetof(ctr_opts, shell)},
        {OPT_HOME, offsetof(ctr_opts, home)},   {OPT_GROUPS, offsetof(ctr_opts, groups)},
    };
    char ***list = opt == 'e'   ? &o->env
                   : opt == 'p' ? &o->publish
                   : opt == 'v' ? &o->volumes
                   : opt == 'l' ? &o->labels
                                : NULL;
    if (list)
        return imgd_strv_push(list, optarg) < 0 ? imgd_cli_fail(NULL) : -1;
    for (size_t i = 0; i < IMGD_ARRAY_SIZE(strings); i++) {
        if (strings[i].opt == opt) {
            *(const char **)((char *)o + strings[i].off) = optarg;
            return -1;
        }
    }
    return -2;
}

/* Flags, and options whose value is checked here. Returns -1 to go on, -2 when opt is not one,
 * or the exit status. */
static int ctr_checked_option(ctr_ctx *x, int opt)
{
    ctr_opts *o = &x->o;
    char *end = NULL;
    bool *flag = opt == OPT_PULL             ? &o->pull
                 : opt == OPT_CREATE_ONLY    ? &o->create_only
                 : opt == 'a'                ? &o->all
                 : opt == 'q'                ? &o->quiet
                 : opt == OPT_JSON           ? &o->json
                 : opt == OPT_NO_TRUNC       ? &o->no_trunc
                 : opt == OPT_FORCE          ? &o->force
                 : opt == OPT_FOLLOW         ? &o->follow
                 : opt == OPT_TIMESTAMPS     ? &o->timestamps
                 : opt == OPT_PASSWORD_STDIN ? &o->password_stdin
                                             : NULL;
    if (flag) {
        *flag = true;
        return -1;
    }
    switch (opt) {
    case 'd':
        return -1; /* a container always runs detached from imgctl */
    case OPT_CPUS:
        return ctr_real_option(&o->cpus, x, "--cpus", 1024);
    case OPT_TIMEOUT:
        return ctr_real_option(&o->timeout, x, "--timeout", EXEC_MAX);
    case OPT_PIDS_LIMIT:
        return ctr_int_option(&o->pids_limit, x, "--pids-limit", 1, INT64_MAX);
    case OPT_TIME:
        return ctr_int_option(&o->stop_time, x, "-t", 0, STOP_MAX);
    case OPT_UID:
        return ctr_int_option(&o->uid, x, "--uid", 0, INT32_MAX);
    case OPT_MODE:
        if (strtol(optarg, &end, 8) > 07777 || end == optarg || *end || *optarg == '-')
            return imgd_cli_usage_error("push-file: --mode needs octal permissions like 0644");
        o->mode = optarg;
        return -1;
    default:
        return -2;
    }
}

/* Handle one option of getopt_long. Returns -1 to go on, or the exit status. */
static int ctr_option(ctr_ctx *x, int opt, char **argv)
{
    bool logs = strcmp(x->cmd->name, "logs") == 0;
    if (opt == 'f')
        opt = logs ? OPT_FOLLOW : OPT_FORCE;
    else if (opt == 't')
        opt = logs ? OPT_TIMESTAMPS : OPT_TIME;
    int r = ctr_string_option(&x->o, opt);
    if (r == -2)
        r = ctr_checked_option(x, opt);
    if (r != -2)
        return r;
    if (opt == OPT_HELP) {
        printf("Usage: imgctl [OPTION]... %s %s\n(see 'imgctl --help')\n", x->cmd->name,
               x->cmd->synopsis);
        return EXIT_SUCCESS;
    }
    if (opt == ':')
        return ctr_bad_option(x, "missing argument for option", argv[optind - 1]);
    /* glibc sets optopt to a long option's value too, when it was given an argument it does
     * not take */
    const char *arg = argv[optind - 1];
    if (optopt && !imgd_str_has_prefix(arg, "--"))
        return imgd_cli_usage_error("%s: unknown option '-%c'", x->cmd->name, optopt);
    size_t len = strcspn(arg, "=");
    for (const struct option *l = x->cmd->longs; arg[len] && len > 2 && l->name; l++) {
        if (l->has_arg == no_argument && strncmp(l->name, arg + 2, len - 2) == 0)
            return imgd_cli_usage_error("%s: option '--%s' takes no value", x->cmd->name, l->name);
    }
    return imgd_cli_usage_error("%s: unknown option '%.*s' (imgctl's own options go before the "
                                "command)",
                                x->cmd->name, (int)len, arg);
}

/* Options, then the number of arguments. Returns -1 to go on, or the exit status. */
static int ctr_parse(ctr_ctx *x)
{
    const imgd_cli_container_args *a = x->a;
    int opt;
    x->o.stop_time = -1;
    x->o.uid = -1;
    opterr = 0;
    optind = 0; /* glibc: start over, and read the "+" of the new option string */
    while ((opt = getopt_long(a->argc, a->argv, x->cmd->shorts, x->cmd->longs, NULL)) != -1) {
        int r = ctr_option(x, opt, a->argv);
        if (r >= 0)
            return r;
    }
    x->args = a->argv + optind;
    x->n_args = a->argc - optind;
    if (x->n_args < x->cmd->min_args || (x->cmd->max_args >= 0 && x->n_args > x->cmd->max_args))
        return x->cmd->max_args == 0
                   ? imgd_cli_usage_error("%s takes no arguments", x->cmd->name)
                   : imgd_cli_usage_error("usage: imgctl %s %s", x->cmd->name, x->cmd->synopsis);
    for (int i = 0; i < x->n_args; i++) {
        /* run's and exec's command may hold an empty word */
        bool may_be_empty = i >= x->cmd->min_args && x->cmd->shorts[0] == '+';
        if (!may_be_empty && x->args[i][0] == '\0')
            return imgd_cli_usage_error("%s: an argument is empty", x->cmd->name);
    }
    if (x->o.tail && strcmp(x->o.tail, "all") != 0 && strcmp(x->o.tail, "-1") != 0 &&
        (!*x->o.tail || strspn(x->o.tail, "0123456789") != strlen(x->o.tail)))
        return imgd_cli_usage_error("logs: --tail needs a number of lines or 'all'");
    if (x->o.tail && strcmp(x->o.tail, "-1") == 0)
        x->o.tail = "all";
    return -1;
}

int imgd_cli_container_main(const imgd_cli_container_args *a)
{
    _cleanup_(ctr_ctx_dispose) ctr_ctx x = {.a = a, .cmd = ctr_command_find(a->argv[0])};
    if (!x.cmd)
        return imgd_cli_usage_error("unknown command '%s'", a->argv[0]);
    int r = ctr_parse(&x);
    if (r >= 0)
        return r;
    return x.cmd->run(&x);
}
