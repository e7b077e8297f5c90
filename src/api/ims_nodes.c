/* SPDX-License-Identifier: MIT */
/* Remote build nodes: records keyed by xname (a re-POST overwrites), and their status, probed
 * live over SSH as root as IMS does: the node answers, its architecture, podman at
 * /usr/bin/podman, and how many /tmp/ims_* job directories it has. One SSH connection runs the
 * three commands; ssh is run with an argv array and the host name is checked first, so a node
 * name can never become an option or a shell word on this side. */
#include <ctype.h>
#include <pthread.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "ims-private.h"
#include "ims.h"
#include "ims_nodes.h"
#include "core/system/system.h"
#include "util/child.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/timeutil.h"

#define UNKNOWN "Unknown"

static const ims_field node_fields[] = {
    {.name = "xname",
     .type = IMS_STR,
     .required = true,
     .blank_msg = "name field must not be blank"},
};
static const ims_schema node_schema = IMS_SCHEMA(node_fields);

/* ---- records ---- */

int ims_nodes_list(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    return ims_send_collection(req, resp, IMGD_IMS_NODE, false, err);
}

int ims_nodes_get(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    return ims_send_one(req, resp, IMGD_IMS_NODE, false, imgd_req_param(req, "xname"), err);
}

int ims_nodes_post(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    json_t *in = NULL;
    int r = ims_read_body(req, resp, &in);
    if (r != 0)
        return r < 0 ? r : 0;
    json_t *errors = json_object();
    json_t *node = ims_schema_load(&node_schema, in, errors);
    json_decref(in);
    if (json_object_size(errors) || !node) {
        json_decref(node);
        return ims_problem(resp, 422, NULL, IMS_DETAIL_INVALID, errors);
    }
    json_decref(errors);
    imgd_error *own = NULL;
    r = imgd_ims_insert(req->ctx->db, IMGD_IMS_NODE,
                        json_string_value(json_object_get(node, "xname")), imgd_now_realtime_usec(),
                        false, node, true, NULL, &own);
    if (r == 0) {
        r = ims_send_record(resp, 201, node);
    } else {
        r = ims_store_failed(resp, r, err, own);
    }
    json_decref(node);
    return r;
}

int ims_nodes_delete(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    imgd_error *own = NULL;
    int r = imgd_ims_remove(req->ctx->db, IMGD_IMS_NODE, false, imgd_req_param(req, "xname"), NULL,
                            &own);
    if (r < 0)
        return ims_store_failed(resp, r, err, own);
    return imgd_resp_text(resp, 204, NULL, "", 0);
}

int ims_nodes_delete_all(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    int r = imgd_ims_remove_all(req->ctx->db, IMGD_IMS_NODE, false, NULL, NULL, err);
    return r < 0 ? r : imgd_resp_text(resp, 204, NULL, "", 0);
}

/* ---- the probe ---- */

typedef struct node_status {
    char ssh[1200];
    char podman[1200];
    char arch[1200];
    long jobs;
    bool able;
} node_status;

/* A host name ssh can take as one: letters, digits, '.', '-', '_', ':' (IPv6), not starting with
 * '-'. */
static bool valid_host(const char *s)
{
    if (!*s || *s == '-' || strlen(s) > 253)
        return false;
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s) && !strchr(".-_:", *s))
            return false;
    }
    return true;
}

/* The first line of text, trimmed, for a message. */
static void first_line(char *out, size_t cap, const char *text)
{
    while (text && (*text == '\n' || *text == '\r' || *text == ' '))
        text++;
    size_t n = text ? strcspn(text, "\r\n") : 0;
    snprintf(out, cap, "%.*s", (int)n, text ? text : "");
}

static void probe(const imgd_config *cfg, const char *xname, node_status *st)
{
    *st = (node_status){.jobs = -1};
    snprintf(st->ssh, sizeof st->ssh, UNKNOWN);
    snprintf(st->podman, sizeof st->podman, UNKNOWN);
    snprintf(st->arch, sizeof st->arch, UNKNOWN);
    if (!valid_host(xname)) {
        snprintf(st->ssh, sizeof st->ssh,
                 "Unable to connect to node. Error: '%.200s' is not a valid host name", xname);
        return;
    }
    char port[16], timeout[32], dest[300], known[1200];
    snprintf(port, sizeof port, "%lld", (long long)cfg->ims_ssh_port);
    snprintf(timeout, sizeof timeout, "ConnectTimeout=%lld", (long long)cfg->ims_ssh_timeout);
    snprintf(dest, sizeof dest, "root@%s", xname);
    if (cfg->ims_ssh_known_hosts)
        snprintf(known, sizeof known, "UserKnownHostsFile=%s", cfg->ims_ssh_known_hosts);
    else
        snprintf(known, sizeof known, "UserKnownHostsFile=%s/ims_known_hosts", cfg->state_dir);
    char ssh[4096];
    if (imgd_find_executable(ssh, sizeof ssh, "ssh") < 0) {
        snprintf(st->ssh, sizeof st->ssh,
                 "Unable to connect to node. Error: no ssh client (openssh-client) on this host");
        return;
    }
    const char *argv[24];
    size_t n = 0;
    argv[n++] = ssh;
    argv[n++] = "-p";
    argv[n++] = port;
    argv[n++] = "-o";
    argv[n++] = "BatchMode=yes";
    argv[n++] = "-o";
    argv[n++] = timeout;
    argv[n++] = "-o";
    argv[n++] = "StrictHostKeyChecking=accept-new";
    argv[n++] = "-o";
    argv[n++] = known;
    argv[n++] = "-o";
    argv[n++] = "LogLevel=ERROR";
    if (cfg->ims_ssh_key) {
        argv[n++] = "-o";
        argv[n++] = "IdentitiesOnly=yes";
        argv[n++] = "-i";
        argv[n++] = cfg->ims_ssh_key;
    }
    argv[n++] = "--";
    argv[n++] = dest;
    argv[n++] = "uname -m; echo @@; which podman; echo \"@@$?\"; "
                "ls -d1 /tmp/* 2>/dev/null | grep -c /tmp/ims_";
    argv[n] = NULL;
    imgd_run_result res = {0};
    imgd_error *e = NULL;
    imgd_run_opts o = {.argv = argv,
                       .timeout_ms = (int)(cfg->ims_ssh_timeout * 1000 + 2000),
                       .max_output = 64 * 1024};
    if (imgd_run(&res, &o, &e) < 0) {
        snprintf(st->ssh, sizeof st->ssh, "Unable to connect to node. Error: %s", e->message);
        imgd_error_free(e);
        return;
    }
    char line[500];
    if (res.timed_out || !WIFEXITED(res.status) || WEXITSTATUS(res.status) == 255) {
        first_line(line, sizeof line, res.errors);
        snprintf(st->ssh, sizeof st->ssh, "Unable to connect to node. Error: %s",
                 res.timed_out ? "timed out"
                 : *line       ? line
                               : "ssh failed");
        imgd_run_result_dispose(&res);
        return;
    }
    snprintf(st->ssh, sizeof st->ssh, "SSH connection established.");
    const char *out = res.output ? res.output : "";
    const char *sep1 = strstr(out, "@@\n");
    const char *sep2 = sep1 ? strstr(sep1 + 3, "@@") : NULL;
    first_line(line, sizeof line, out);
    if (!sep1 || !sep2) {
        first_line(line, sizeof line, res.errors);
        snprintf(st->arch, sizeof st->arch, "Unable to determine architecture of node. Error: %s",
                 line);
    } else if (strstr(line, "aarch64")) {
        snprintf(st->arch, sizeof st->arch, "aarch64");
    } else if (strstr(line, "x86")) {
        snprintf(st->arch, sizeof st->arch, "x86_64");
    } else {
        snprintf(st->arch, sizeof st->arch, "Undefined architecture type for node, result: %s",
                 line);
    }
    if (sep1 && sep2 && (!strcmp(st->arch, "aarch64") || !strcmp(st->arch, "x86_64"))) {
        char which[300];
        first_line(which, sizeof which, sep1 + 3 == sep2 ? "" : sep1 + 3);
        long rc = strtol(sep2 + 2, NULL, 10);
        if (rc != 0) {
            first_line(line, sizeof line, res.errors);
            snprintf(st->podman, sizeof st->podman,
                     "Unable to determine if podman is installed on node. Error: %s %s", which,
                     line);
        } else if (!strstr(which, "/usr/bin/podman")) {
            snprintf(st->podman, sizeof st->podman, "Podman not installed on node.");
        } else {
            snprintf(st->podman, sizeof st->podman, "Podman present at /usr/bin/podman");
            st->able = true;
            const char *count = strchr(sep2, '\n');
            if (count && isdigit((unsigned char)count[1]))
                st->jobs = strtol(count + 1, NULL, 10);
        }
    }
    imgd_run_result_dispose(&res);
}

static json_t *status_json(const char *xname, const node_status *st)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:b}", "xname", xname, "sshStatus", st->ssh,
                     "podmanStatus", st->podman, "nodeArch", st->arch, "numCurrentJobs",
                     (json_int_t)st->jobs, "ableToRunJobs", st->able);
}

int ims_nodes_status_one(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    imgd_ims_record rec = {0};
    imgd_error *own = NULL;
    int r =
        imgd_ims_get(req->ctx->db, IMGD_IMS_NODE, false, imgd_req_param(req, "xname"), &rec, &own);
    if (r < 0)
        return ims_store_failed(resp, r, err, own);
    node_status st;
    probe(req->ctx->cfg, rec.id, &st);
    json_t *body = status_json(rec.id, &st);
    imgd_ims_record_dispose(&rec);
    return imgd_resp_json_or_fail(resp, 200, body, err);
}

/* ---- every node at once ---- */

#define PROBES_AT_ONCE 16

typedef struct probe_set {
    const imgd_config *cfg;
    const imgd_ims_record *nodes;
    node_status *status;
    size_t n;
    size_t next; /* atomic */
} probe_set;

static void *probe_worker(void *arg)
{
    probe_set *ps = arg;
    size_t i;
    while ((i = __atomic_fetch_add(&ps->next, 1, __ATOMIC_RELAXED)) < ps->n)
        probe(ps->cfg, ps->nodes[i].id, &ps->status[i]);
    return NULL;
}

/* Probe every node of the list, PROBES_AT_ONCE at a time, so a status of many nodes (some of
 * them unreachable) takes about one probe's time, not one per node. Returns the statuses
 * (caller frees), or NULL when out of memory. */
static node_status *probe_all(const imgd_config *cfg, const imgd_ims_record *nodes, size_t n)
{
    node_status *status = calloc(n ? n : 1, sizeof *status);
    if (!status)
        return NULL;
    probe_set ps = {.cfg = cfg, .nodes = nodes, .status = status, .n = n};
    pthread_t threads[PROBES_AT_ONCE];
    size_t started = 0;
    for (; started < n && started < PROBES_AT_ONCE; started++) {
        if (pthread_create(&threads[started], NULL, probe_worker, &ps) != 0)
            break;
    }
    probe_worker(&ps); /* this thread helps, and does it all when no thread could start */
    for (size_t t = 0; t < started; t++)
        pthread_join(threads[t], NULL);
    return status;
}

int ims_nodes_status_all(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    imgd_ims_record *v = NULL;
    size_t n = 0;
    int r = imgd_ims_list(req->ctx->db, IMGD_IMS_NODE, false, &v, &n, err);
    if (r < 0)
        return r;
    _cleanup_free_ node_status *st = probe_all(req->ctx->cfg, v, n);
    json_t *list = st ? json_array() : NULL;
    for (size_t i = 0; list && i < n; i++)
        json_array_append_new(list, status_json(v[i].id, &st[i]));
    imgd_ims_records_free(v, n);
    return imgd_resp_json_or_fail(resp, 200, list, err);
}

int ims_nodes_choose(const imgd_api_ctx *ctx, const char *arch, char **out, imgd_error **err)
{
    *out = NULL;
    imgd_ims_record *v = NULL;
    size_t n = 0;
    int r = imgd_ims_list(ctx->db, IMGD_IMS_NODE, false, &v, &n, err);
    if (r < 0 || n == 0) {
        imgd_ims_records_free(v, n);
        return r;
    }
    _cleanup_free_ node_status *status = probe_all(ctx->cfg, v, n);
    if (!status) {
        imgd_ims_records_free(v, n);
        return imgd_error_set(err, ENOMEM, "out of memory");
    }
    long best = -1;
    for (size_t i = 0; i < n; i++) {
        const node_status *st = &status[i];
        if (!st->able || strcmp(st->arch, arch ? arch : "x86_64") != 0)
            continue;
        long jobs = st->jobs < 0 ? 10000 : st->jobs;
        if (best < 0 || jobs < best) {
            free(*out);
            *out = strdup(v[i].id);
            best = jobs;
        }
    }
    imgd_ims_records_free(v, n);
    return 0;
}
