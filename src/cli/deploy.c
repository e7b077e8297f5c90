/* SPDX-License-Identifier: MIT */
/* The boot-image commands of imgctl: a file holding a root filesystem (squashfs, erofs) attached
 * to a loop device, mounted, overlaid with a writable layer and run as a system container; step
 * by step (attach, mount) or the whole chain in one nested request (deploy). The lists are
 * laid out as the container commands lay out ps; -o json prints imgd's answers as they came.
 */
#include "deploy.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "images.h"
#include "table.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/json.h"
#include "util/strutil.h"

#define API_ATTACH    "/imageapi/v1/attach"
#define API_MOUNT     "/imageapi/v1/mount"
#define API_CONTAINER "/imageapi/v1/container"
#define MESSAGE_MAX   1000 /* bytes of imgd's error message shown */
#define TAB_MINWIDTH  10u  /* columns as the container commands' ps lays them out */
#define TAB_PADDING   3u
#define WAIT_MAX      86400 /* undeploy --timeout */
#define DEFAULT_INIT  "/sbin/init"

/* The options of all boot-image commands; each command accepts a part of them. Strings are
 * borrowed from argv. */
typedef struct dep_opts {
    const char *name, *fs, *command, *namespaces, *options, *overlay;
    int64_t timeout; /* 0: not given */
    bool ro, partscan, force, systemd, created, json;
} dep_opts;

typedef struct dep_ctx dep_ctx;

typedef struct dep_command {
    const char *name;
    const char *synopsis; /* the options and arguments, for usage lines */
    const char *shorts;   /* getopt's short options */
    const struct option *longs;
    int min_args, max_args;
    int (*run)(dep_ctx *x); /* returns the exit status */
} dep_command;

struct dep_ctx {
    const imgd_cli_container_args *a;
    const dep_command *cmd;
    dep_opts o;
    char **args; /* the arguments after the options, never "" */
    int n_args;
    imgd_client *client; /* owned */
};

static void dep_ctx_dispose(dep_ctx *x)
{
    imgd_client_free(x->client);
    x->client = NULL;
}

/* ---- requests ---- */

/* One request; a 2xx answer is decoded into *out (a new reference). path NULL: out of memory. */
static int dep_call(json_t **out, const dep_ctx *x, const char *method, const char *path,
                    const json_t *body, imgd_error **err)
{
    _cleanup_(imgd_client_response_dispose) imgd_client_response resp = {0};
    if (!path)
        return imgd_error_set(err, ENOMEM, "out of memory");
    int r = imgd_client_request(&resp, x->client, method, path, body, err);
    if (r < 0)
        return r;
    if (resp.status < 200 || resp.status >= 300)
        return imgd_client_response_error(err, &resp, method, path);
    return imgd_client_response_json(out, &resp, method, path, err);
}

/* base?key=VALUE then extra ("&state=exited", or ""), VALUE percent-encoded. Owned; NULL when
 * out of memory. */
static char *dep_path(const char *base, const char *key, const char *value, const char *extra)
{
    char *enc = curl_easy_escape(NULL, value, 0); /* a NULL handle is fine since curl 7.82 */
    char *path = NULL;
    if (enc && asprintf(&path, "%s?%s=%s%s", base, key, enc, extra) < 0)
        path = NULL;
    curl_free(enc);
    return path;
}

/* The path is the server's: a relative one is made absolute here, where it was typed. */
static int dep_abs_path(char **out, const dep_ctx *x, const char *path, imgd_error **err)
{
    char *abs = path[0] == '/' ? strdup(path) : realpath(path, NULL);
    if (!abs && path[0] == '/')
        return imgd_error_set(err, ENOMEM, "out of memory");
    if (!abs) {
        int r = imgd_error_errno(err, errno, "%s '%s': cannot make the path absolute", x->cmd->name,
                                 path);
        if (err && *err)
            imgd_str_strip_controls((*err)->message, strlen((*err)->message));
        return r;
    }
    *out = abs;
    return 0;
}

/* An ID argument: a whole number above 0. Returns -1 to go on, or the exit status. */
static int dep_id(int64_t *out, const dep_ctx *x, const char *arg)
{
    if (imgd_parse_int64(out, arg) < 0 || *out < 1)
        return imgd_cli_usage_error("%s: '%s' is not an ID (a whole number above 0)", x->cmd->name,
                                    arg);
    return -1;
}

/* The comma-separated items of list as a JSON array: {"id": N} objects when ids, else strings.
 * what names the option in messages. Returns -1 to go on, or the exit status. */
static int dep_list_json(json_t **out, const dep_ctx *x, const char *what, const char *list,
                         bool ids)
{
    json_auto_t *arr = json_array();
    for (const char *p = list; arr;) {
        size_t n = strcspn(p, ",");
        _cleanup_free_ char *item = strndup(p, n);
        int64_t id = 0;
        if (!item)
            return imgd_cli_fail(NULL);
        if (n == 0)
            return imgd_cli_usage_error("%s: %s has an empty item", x->cmd->name, what);
        if (ids && (imgd_parse_int64(&id, item) < 0 || id < 1))
            return imgd_cli_usage_error("%s: %s: '%s' is not an ID (a whole number above 0)",
                                        x->cmd->name, what, item);
        json_t *e = ids ? json_pack("{s:I}", "id", (json_int_t)id) : json_string(item);
        if (json_array_append_new(arr, e) < 0)
            return imgd_cli_usage_error("%s: %s must be UTF-8 text", x->cmd->name, what);
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    if (!arr)
        return imgd_cli_fail(NULL);
    *out = TAKE_PTR(arr);
    return -1;
}

/* ---- output ---- */

/* "ID VALUE" of an object imgd made, or its answer with -o json. */
static int dep_print_made(const dep_ctx *x, const json_t *v, const char *key)
{
    if (x->a->json)
        return imgd_cli_print_json(v);
    printf("%lld ", (long long)json_integer_value(json_object_get(v, "id")));
    imgd_cli_put_clean(imgd_json_get_string(v, key) ?: "-", 0);
    putchar('\n');
    return EXIT_SUCCESS;
}

/* An integer member as text, "-" when there is none. Returns buf. */
static const char *dep_int(char *buf, size_t len, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    snprintf(buf, len, json_is_integer(v) ? "%lld" : "-", (long long)json_integer_value(v));
    return buf;
}

static const char *dep_str(const json_t *obj, const char *key)
{
    const char *s = imgd_json_get_string(obj, key);
    return s && *s ? s : "-";
}

/* GET path, and a row of the table per object of the answer (an array). heads is taken over. */
static int dep_list(const dep_ctx *x, const char *path, json_t *heads,
                    json_t *(*row)(const json_t *))
{
    _cleanup_error_ imgd_error *err = NULL;
    json_auto_t *first = heads;
    json_auto_t *rows = json_array();
    json_auto_t *v = NULL;
    if (!rows || json_array_append(rows, first) < 0)
        return imgd_cli_fail(NULL);
    if (dep_call(&v, x, "GET", path, NULL, &err) < 0)
        return imgd_cli_fail(err);
    if (!json_is_array(v)) {
        imgd_error_set(&err, EBADMSG, "GET %s: the answer is not a list", path);
        return imgd_cli_fail(err);
    }
    if (x->o.json || x->a->json)
        return imgd_cli_print_json(v);
    size_t i;
    const json_t *obj;
    json_array_foreach (v, i, obj) {
        if (json_array_append_new(rows, row(obj)) < 0)
            return imgd_cli_fail(NULL);
    }
    _cleanup_(imgd_cli_table_dispose) imgd_cli_table t = {
        .n_cols = json_array_size(first), .pad = TAB_PADDING, .min_width = TAB_MINWIDTH};
    json_array_foreach (rows, i, obj)
        imgd_cli_table_add_json(&t, obj);
    if (t.failed)
        return imgd_cli_fail(NULL);
    imgd_cli_table_print(&t);
    return EXIT_SUCCESS;
}

/* ---- attach, attachments, detach ---- */

static int cmd_attach(dep_ctx *x)
{
    _cleanup_error_ imgd_error *err = NULL;
    _cleanup_free_ char *abs = NULL;
    json_auto_t *v = NULL;
    if (dep_abs_path(&abs, x, x->args[0], &err) < 0)
        return imgd_cli_fail(err);
    json_auto_t *body =
        json_pack("{s:s, s:{s:s, s:s, s:b, s:b}}", "kind", "loopback", "loopback", "path", abs,
                  "base", "root", "ro", x->o.ro, "readPartitions", x->o.partscan);
    if (!body)
        return imgd_cli_usage_error("attach: the path must be UTF-8 text");
    if (dep_call(&v, x, "POST", API_ATTACH, body, &err) < 0)
        return imgd_cli_fail(err);
    return dep_print_made(x, v, "device_file");
}

/* ID KIND DEVICE PATH REFS; the PATH of an RBD image is POOL/IMAGE. */
static json_t *attach_row(const json_t *a)
{
    char id[24], refs[24];
    const char *kind = dep_str(a, "kind");
    const json_t *sub = json_object_get(a, kind);
    _cleanup_free_ char *rbd = NULL;
    const char *pool = imgd_json_get_string(sub, "pool");
    if (pool && asprintf(&rbd, "%s/%s", pool, dep_str(sub, "image")) < 0)
        rbd = NULL;
    return json_pack("[s, s, s, s, s]", dep_int(id, sizeof(id), a, "id"), kind,
                     dep_str(a, "device_file"), rbd ? rbd : dep_str(sub, "path"),
                     dep_int(refs, sizeof(refs), a, "refs"));
}

static int cmd_attachments(dep_ctx *x)
{
    return dep_list(x, API_ATTACH,
                    json_pack("[s, s, s, s, s]", "ID", "KIND", "DEVICE", "PATH", "REFS"),
                    attach_row);
}

/* DELETE base?id=ID; prints the ID. */
static int dep_delete(const dep_ctx *x, const char *base)
{
    _cleanup_error_ imgd_error *err = NULL;
    _cleanup_free_ char *path = NULL;
    json_auto_t *v = NULL;
    int64_t id = 0;
    int r = dep_id(&id, x, x->args[0]);
    if (r >= 0)
        return r;
    if (asprintf(&path, "%s?id=%lld%s", base, (long long)id, x->o.force ? "&force=true" : "") < 0)
        path = NULL;
    if (dep_call(&v, x, "DELETE", path, NULL, &err) < 0)
        return imgd_cli_fail(err);
    if (x->a->json)
        return imgd_cli_print_json(v);
    printf("%lld\n", (long long)id);
    return EXIT_SUCCESS;
}

static int cmd_detach(dep_ctx *x)
{
    return dep_delete(x, API_ATTACH);
}

/* ---- mount, mounts, umount ---- */

static int mount_body(json_t **out, const dep_ctx *x)
{
    const dep_opts *o = &x->o;
    json_t *list = NULL;
    int64_t id = 0;
    int r = -1;
    if (o->overlay)
        r = dep_list_json(&list, x, "--overlay", o->overlay, true);
    else if ((r = dep_id(&id, x, x->args[0])) < 0 && o->options)
        r = dep_list_json(&list, x, "-o", o->options, false);
    if (r >= 0)
        return r;
    if (o->overlay)
        *out = json_pack("{s:s, s:{s:o}}", "kind", "overlay", "overlay", "lower", list);
    else
        *out = json_pack("{s:s, s:{s:{s:I}, s:s, s:o}}", "kind", "attach", "attach", "attach", "id",
                         (json_int_t)id, "fs_type", x->args[1], "mount_options",
                         list ? list : json_array());
    return *out ? -1 : imgd_cli_usage_error("mount: FSTYPE must be UTF-8 text");
}

static int cmd_mount(dep_ctx *x)
{
    const dep_opts *o = &x->o;
    if (o->overlay && (x->n_args > 0 || o->options))
        return imgd_cli_usage_error("mount: --overlay takes neither ATTACH_ID FSTYPE nor -o");
    if (!o->overlay && x->n_args != 2)
        return imgd_cli_usage_error("usage: imgctl mount %s", x->cmd->synopsis);
    _cleanup_error_ imgd_error *err = NULL;
    json_auto_t *body = NULL;
    json_auto_t *v = NULL;
    int r = mount_body(&body, x);
    if (r >= 0)
        return r;
    if (dep_call(&v, x, "POST", API_MOUNT, body, &err) < 0)
        return imgd_cli_fail(err);
    return dep_print_made(x, v, "mountpoint");
}

/* Where a mount's tree comes from: "FSTYPE on DEVICE (attach N)", "lower N,M", a path,
 * HOST:PATH or an image. Owned; NULL when out of memory. */
static char *mount_source(const json_t *m)
{
    const char *kind = dep_str(m, "kind");
    const json_t *sub = json_object_get(m, kind), *e;
    const json_t *att = json_object_get(sub, "attach");
    imgd_buf b = {0};
    size_t i;
    if (strcmp(kind, "attach") == 0)
        imgd_buf_printf(&b, "%s on %s (attach %lld)", dep_str(sub, "fs_type"),
                        dep_str(att, "device_file"),
                        (long long)json_integer_value(json_object_get(att, "id")));
    else if (strcmp(kind, "overlay") == 0)
        json_array_foreach (json_object_get(sub, "lower"), i, e)
            imgd_buf_printf(&b, "%s%lld", i ? "," : "lower ",
                            (long long)json_integer_value(json_object_get(e, "id")));
    else if (strcmp(kind, "nfs") == 0)
        imgd_buf_printf(&b, "%s:%s", dep_str(sub, "host"), dep_str(sub, "path"));
    else if (strcmp(kind, "image") == 0)
        imgd_buf_printf(&b, "%s", dep_str(sub, "image"));
    else
        imgd_buf_printf(&b, "%s", dep_str(sub, "path"));
    return imgd_buf_steal(&b, NULL);
}

/* ID KIND MOUNTPOINT REFS SOURCE */
static json_t *mount_row(const json_t *m)
{
    char id[24], refs[24];
    _cleanup_free_ char *source = mount_source(m);
    if (!source)
        return NULL;
    return json_pack("[s, s, s, s, s]", dep_int(id, sizeof(id), m, "id"), dep_str(m, "kind"),
                     dep_str(m, "mountpoint"), dep_int(refs, sizeof(refs), m, "refs"), source);
}

static int cmd_mounts(dep_ctx *x)
{
    return dep_list(x, API_MOUNT,
                    json_pack("[s, s, s, s, s]", "ID", "KIND", "MOUNTPOINT", "REFS", "SOURCE"),
                    mount_row);
}

static int cmd_umount(dep_ctx *x)
{
    return dep_delete(x, API_MOUNT);
}

/* ---- deploy, containers, undeploy ---- */

/* The container on the whole chain: an overlay on a read-only mount of a read-only loop
 * device of the file, as kraken deploys a boot image. Returns -1 to go on, or the exit
 * status. */
static int deploy_body(json_t **out, const dep_ctx *x, const char *path)
{
    const dep_opts *o = &x->o;
    const char *fs = o->fs ? o->fs : imgd_str_has_suffix(path, ".erofs") ? "erofs" : "squashfs";
    json_t *ns = NULL;
    int r = o->namespaces ? dep_list_json(&ns, x, "--namespaces", o->namespaces, false) : -1;
    if (r >= 0)
        return r;
    json_t *loop = json_pack("{s:s, s:{s:s, s:s, s:b}}", "kind", "loopback", "loopback", "path",
                             path, "base", "root", "ro", true);
    json_t *fs_mount = json_pack("{s:s, s:{s:o, s:s, s:[s]}}", "kind", "attach", "attach", "attach",
                                 loop, "fs_type", fs, "mount_options", "ro");
    json_t *overlay =
        json_pack("{s:s, s:{s:[o]}}", "kind", "overlay", "overlay", "lower", fs_mount);
    *out = json_pack("{s:s, s:s, s:b, s:s, s:o, s:o*}", "name", o->name, "command",
                     o->command ? o->command : DEFAULT_INIT, "systemd", o->systemd, "state",
                     o->created ? "created" : "running", "mount", overlay, "namespaces", ns);
    if (!*out)
        return imgd_cli_usage_error("deploy: the path, --name, --command and --fs must be UTF-8 "
                                    "text");
    return -1;
}

/* "ID STATE LOGFILE", or imgd's answer; a container whose start failed (state dead) is an
 * error, though it stays until undeployed, as imgd keeps it. */
static int deploy_print(const dep_ctx *x, const json_t *v)
{
    const char *state = dep_str(v, "state");
    int status = EXIT_SUCCESS;
    if (x->a->json) {
        status = imgd_cli_print_json(v);
    } else {
        printf("%lld ", (long long)json_integer_value(json_object_get(v, "id")));
        imgd_cli_put_clean(state, 0);
        putchar(' ');
        imgd_cli_put_clean(dep_str(v, "logfile"), 0);
        putchar('\n');
    }
    if (strcmp(state, "dead") != 0)
        return status;
    _cleanup_error_ imgd_error *err = NULL;
    imgd_error_set(&err, EIO,
                   "deploy '%s': the container did not start: %.*s (undeploy removes it)",
                   x->o.name, MESSAGE_MAX, dep_str(v, "last_error"));
    if (err)
        imgd_str_strip_controls(err->message, strlen(err->message));
    fflush(stdout); /* the error line after the container's */
    return imgd_cli_fail(err);
}

static int cmd_deploy(dep_ctx *x)
{
    if (!x->o.name)
        return imgd_cli_usage_error("deploy: --name N is required");
    if (!x->o.command && !x->o.systemd)
        return imgd_cli_usage_error(
            "deploy: give --command CMD, or --systemd to run " DEFAULT_INIT);
    _cleanup_error_ imgd_error *err = NULL;
    _cleanup_free_ char *path = NULL;
    json_auto_t *body = NULL;
    json_auto_t *v = NULL;
    if (dep_abs_path(&path, x, x->args[0], &err) < 0)
        return imgd_cli_fail(err);
    int r = deploy_body(&body, x, path);
    if (r >= 0)
        return r;
    if (dep_call(&v, x, "POST", API_CONTAINER, body, &err) < 0)
        return imgd_cli_fail(err);
    return deploy_print(x, v);
}

/* ID NAME STATE EXIT MOUNT LOGFILE */
static json_t *container_row(const json_t *c)
{
    char id[24], exit_code[24];
    return json_pack("[s, s, s, s, s, s]", dep_int(id, sizeof(id), c, "id"), dep_str(c, "name"),
                     dep_str(c, "state"), dep_int(exit_code, sizeof(exit_code), c, "exit_code"),
                     dep_str(json_object_get(c, "mount"), "mountpoint"), dep_str(c, "logfile"));
}

static int cmd_containers(dep_ctx *x)
{
    return dep_list(
        x, API_CONTAINER,
        json_pack("[s, s, s, s, s, s]", "ID", "NAME", "STATE", "EXIT", "MOUNT", "LOGFILE"),
        container_row);
}

/* Stop, then remove, and with the container its mount chain goes. The stop is asked for
 * whatever the state: imgd makes it a no-op for one that does not run, and its 404 names the
 * container, where the list's says only "container not found". */
static int cmd_undeploy(dep_ctx *x)
{
    _cleanup_error_ imgd_error *err = NULL;
    _cleanup_free_ char *stop = dep_path(API_CONTAINER, "name", x->args[0], "&state=exited");
    _cleanup_free_ char *rm = dep_path(API_CONTAINER, "name", x->args[0], "");
    json_auto_t *stopped = NULL;
    json_auto_t *v = NULL;
    if (dep_call(&stopped, x, "PATCH", stop, NULL, &err) < 0 ||
        dep_call(&v, x, "DELETE", rm, NULL, &err) < 0)
        return imgd_cli_fail(err);
    if (x->a->json)
        return imgd_cli_print_json(v);
    imgd_cli_put_clean(x->args[0], 0);
    putchar('\n');
    return EXIT_SUCCESS;
}

/* ---- options ---- */

enum {
    OPT_RO = 0x100,
    OPT_PARTSCAN,
    OPT_OVERLAY,
    OPT_NAME,
    OPT_SYSTEMD,
    OPT_FS,
    OPT_COMMAND,
    OPT_NAMESPACES,
    OPT_CREATED,
    OPT_TIMEOUT,
    OPT_JSON,
    OPT_HELP,
};

#define HELP_OPTION                                                                                \
    {                                                                                              \
        "help", no_argument, NULL, OPT_HELP                                                        \
    }
#define END_OPTION                                                                                 \
    {                                                                                              \
        NULL, 0, NULL, 0                                                                           \
    }

static const struct option attach_longs[] = {
    {"ro", no_argument, NULL, OPT_RO},
    {"partscan", no_argument, NULL, OPT_PARTSCAN},
    HELP_OPTION,
    END_OPTION,
};
static const struct option list_longs[] = {
    {"json", no_argument, NULL, OPT_JSON},
    HELP_OPTION,
    END_OPTION,
};
static const struct option force_longs[] = {
    {"force", no_argument, NULL, 'f'},
    HELP_OPTION,
    END_OPTION,
};
static const struct option mount_longs[] = {
    {"options", required_argument, NULL, 'o'},
    {"overlay", required_argument, NULL, OPT_OVERLAY},
    HELP_OPTION,
    END_OPTION,
};
static const struct option deploy_longs[] = {
    {"name", required_argument, NULL, OPT_NAME},
    {"systemd", no_argument, NULL, OPT_SYSTEMD},
    {"fs", required_argument, NULL, OPT_FS},
    {"command", required_argument, NULL, OPT_COMMAND},
    {"namespaces", required_argument, NULL, OPT_NAMESPACES},
    {"created", no_argument, NULL, OPT_CREATED},
    HELP_OPTION,
    END_OPTION,
};
static const struct option undeploy_longs[] = {
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    HELP_OPTION,
    END_OPTION,
};

static const dep_command dep_commands[] = {
    {"attach", "[--ro] [--partscan] FILE", ":", attach_longs, 1, 1, cmd_attach},
    {"attachments", "[--json]", ":", list_longs, 0, 0, cmd_attachments},
    {"detach", "[-f] ID", ":f", force_longs, 1, 1, cmd_detach},
    {"mount", "[-o OPT[,OPT...]] ATTACH_ID FSTYPE | --overlay LOWER_ID[,LOWER_ID...]",
     ":o:", mount_longs, 0, 2, cmd_mount},
    {"mounts", "[--json]", ":", list_longs, 0, 0, cmd_mounts},
    {"umount", "[-f] ID", ":f", force_longs, 1, 1, cmd_umount},
    {"deploy",
     "--name N (--command CMD | --systemd [--command INIT]) [--fs TYPE] [--namespaces NS,...] "
     "[--created] FILE",
     ":", deploy_longs, 1, 1, cmd_deploy},
    {"containers", "[--json]", ":", list_longs, 0, 0, cmd_containers},
    {"undeploy", "[--timeout SECONDS] NAME", ":", undeploy_longs, 1, 1, cmd_undeploy},
};

static const dep_command *dep_command_find(const char *name)
{
    for (size_t i = 0; i < IMGD_ARRAY_SIZE(dep_commands); i++) {
        if (strcmp(dep_commands[i].name, name) == 0)
            return &dep_commands[i];
    }
    return NULL;
}

bool imgd_cli_deploy_command_is(const char *name)
{
    return dep_command_find(name) != NULL;
}

/* Handle one option of getopt_long. Returns -1 to go on, or the exit status. */
static int dep_option(dep_ctx *x, int opt, char **argv)
{
    dep_opts *o = &x->o;
    const char **str = opt == OPT_NAME         ? &o->name
                       : opt == OPT_FS         ? &o->fs
                       : opt == OPT_COMMAND    ? &o->command
                       : opt == OPT_NAMESPACES ? &o->namespaces
                       : opt == 'o'            ? &o->options
                       : opt == OPT_OVERLAY    ? &o->overlay
                                               : NULL;
    bool *flag = opt == OPT_RO         ? &o->ro
                 : opt == OPT_PARTSCAN ? &o->partscan
                 : opt == 'f'          ? &o->force
                 : opt == OPT_SYSTEMD  ? &o->systemd
                 : opt == OPT_CREATED  ? &o->created
                 : opt == OPT_JSON     ? &o->json
                                       : NULL;
    if (str) {
        *str = optarg;
        return -1;
    }
    if (flag) {
        *flag = true;
        return -1;
    }
    if (opt == OPT_TIMEOUT) {
        if (imgd_parse_int64(&o->timeout, optarg) < 0 || o->timeout < 1 || o->timeout > WAIT_MAX)
            return imgd_cli_usage_error("%s: --timeout needs whole seconds from 1 to %d",
                                        x->cmd->name, WAIT_MAX);
        return -1;
    }
    if (opt == OPT_HELP) {
        printf("Usage: imgctl [OPTION]... %s %s\n(see 'imgctl --help')\n", x->cmd->name,
               x->cmd->synopsis);
        return EXIT_SUCCESS;
    }
    return imgd_cli_bad_option(x->cmd->name, x->cmd->longs, opt, argv[optind - 1], "the command");
}

/* Options, then the number of arguments. Returns -1 to go on, or the exit status. */
static int dep_parse(dep_ctx *x)
{
    const imgd_cli_container_args *a = x->a;
    int opt;
    opterr = 0;
    optind = 0; /* glibc: start over */
    while ((opt = getopt_long(a->argc, a->argv, x->cmd->shorts, x->cmd->longs, NULL)) != -1) {
        int r = dep_option(x, opt, a->argv);
        if (r >= 0)
            return r;
    }
    x->args = a->argv + optind;
    x->n_args = a->argc - optind;
    if (x->n_args < x->cmd->min_args || x->n_args > x->cmd->max_args)
        return x->cmd->max_args == 0
                   ? imgd_cli_usage_error("%s takes no arguments", x->cmd->name)
                   : imgd_cli_usage_error("usage: imgctl %s %s", x->cmd->name, x->cmd->synopsis);
    for (int i = 0; i < x->n_args; i++) {
        if (x->args[i][0] == '\0')
            return imgd_cli_usage_error("%s: an argument is empty", x->cmd->name);
    }
    return -1;
}

int imgd_cli_deploy_main(const imgd_cli_container_args *a)
{
    _cleanup_(dep_ctx_dispose) dep_ctx x = {.a = a, .cmd = dep_command_find(a->argv[0])};
    _cleanup_error_ imgd_error *err = NULL;
    assert(x.cmd);
    int r = dep_parse(&x);
    if (r >= 0)
        return r;
    /* undeploy waits while imgd stops the container */
    imgd_client_options opts = *a->client;
    if (x.o.timeout > 0)
        opts.timeout_sec = (long)x.o.timeout;
    if (imgd_client_new(&x.client, &opts, &err) < 0)
        return imgd_cli_fail(err);
    return x.cmd->run(&x);
}
