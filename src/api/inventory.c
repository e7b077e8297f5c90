/* SPDX-License-Identifier: MIT */
#include "inventory.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/inventory/catalog.h"
#include "core/inventory/harbor.h"
#include "core/inventory/ignore.h"
#include "core/inventory/local.h"
#include "util/humanize.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/json.h"
#include "util/strutil.h"

#define CACHE_SLOTS 8

typedef struct cached_answer {
    uint64_t generation;
    unsigned long ignore_version;
    unsigned variant;
    char *body;
    size_t len;
} cached_answer;

/* The registry's listings: the rows of the last one that succeeded (reused for
 * inventory_cache_ttl seconds), and the one in flight, which requests arriving meanwhile share
 * rather than each listing the registry again. */
typedef struct remote_cache {
    imgd_remote_image *rows;
    size_t n;
    uint64_t taken; /* monotonic usec when the listing of rows started */
    bool valid;
    bool busy;          /* a listing is in flight */
    uint64_t done;      /* listings finished */
    int last_code;      /* of the last one finished: 0, or its errno */
    char *last_message; /* its error message */
    pthread_cond_t finished;
} remote_cache;

struct imgd_inventory_face {
    imgd_ignore_file *ignore;
    pthread_mutex_t lock;       /* guards cache, next_slot, remote */
    pthread_mutex_t build_lock; /* one encoding at a time: the waiters of a snapshot share it */
    cached_answer cache[CACHE_SLOTS];
    unsigned next_slot;
    remote_cache remote;
};

imgd_inventory_face *imgd_inventory_face_new(const char *ignore_file)
{
    imgd_inventory_face *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->ignore = imgd_ignore_file_new(ignore_file);
    pthread_mutex_init(&f->lock, NULL);
    pthread_mutex_init(&f->build_lock, NULL);
    pthread_cond_init(&f->remote.finished, NULL);
    return f;
}

void imgd_inventory_face_free(imgd_inventory_face *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        free(f->cache[i].body);
    imgd_remote_images_free(f->remote.rows, f->remote.n);
    free(f->remote.last_message);
    pthread_cond_destroy(&f->remote.finished);
    imgd_ignore_file_free(f->ignore);
    pthread_mutex_destroy(&f->lock);
    pthread_mutex_destroy(&f->build_lock);
    free(f);
}

/* ---- query options beyond the seeds (the default shape stays exact) ---- */

enum {
    OPT_NO_TRUNC = 1,
    OPT_DETAIL = 2,
    OPT_SOURCE_STORE = 4,
    OPT_SOURCE_CRI = 8,
    OPT_SOURCE_REGISTRY = 16,
};

static int flag_param(const imgd_request *req, const char *name, unsigned bit, unsigned *opts,
                      imgd_error **err)
{
    const char *v = imgd_req_query(req, name);
    bool on = false;
    if (!v)
        return 0;
    if (imgd_parse_bool(&on, v) < 0)
        return imgd_error_set(err, EINVAL, "'%s' must be 1 or 0, not '%.20s'", name, v);
    if (on)
        *opts |= bit;
    return 0;
}

/* registry: whether source=registry is allowed (GET /images). */
static int parse_options(const imgd_request *req, unsigned *opts, bool registry, imgd_error **err)
{
    *opts = 0;
    int r = flag_param(req, "no_trunc", OPT_NO_TRUNC, opts, err);
    if (r == 0)
        r = flag_param(req, "detail", OPT_DETAIL, opts, err);
    const char *source = imgd_req_query(req, "source");
    if (r == 0 && source) {
        if (strcmp(source, "store") == 0)
            *opts |= OPT_SOURCE_STORE;
        else if (strcmp(source, "cri") == 0)
            *opts |= OPT_SOURCE_CRI;
        else if (registry && strcmp(source, "registry") == 0)
            *opts |= OPT_SOURCE_REGISTRY;
        else
            r = imgd_error_set(err, EINVAL, "'source' must be store, cri%s, not '%.20s'",
                               registry ? " or registry" : "", source);
    }
    return r;
}

static const char *source_of(unsigned opts)
{
    return (opts & OPT_SOURCE_STORE) ? "store" : (opts & OPT_SOURCE_CRI) ? "cri" : NULL;
}

/* ---- rows ---- */

static json_t *row_json(const imgd_inventory_row *r, unsigned opts)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "repository", r->repository, "tag", r->tag,
                          "image_id", r->image_id, "size", r->size);
    if (o && (opts & OPT_DETAIL)) {
        json_t *digests = json_array();
        for (char **d = r->image->repo_digests; digests && d && *d; d++)
            json_array_append_new(digests, json_string(*d));
        json_object_set_new(o, "bytes", json_integer((json_int_t)r->image->size));
        json_object_set_new(o, "id", json_string(r->image->id));
        json_object_set_new(o, "repo_digests", digests ? digests : json_array());
        json_object_set_new(o, "source", json_string(r->image->source));
    }
    return o;
}

/* The list of rows of a snapshot; NULL with *err on failure. */
static json_t *rows_json(imgd_inventory_face *f, const imgd_local_snapshot *snap, unsigned opts,
                         imgd_error **err)
{
    imgd_inventory_row *rows = NULL;
    size_t n = 0;
    if (imgd_inventory_rows(&rows, &n, snap, f->ignore, opts & OPT_NO_TRUNC, source_of(opts), err) <
        0)
        return NULL;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, row_json(&rows[i], opts));
    imgd_inventory_rows_free(rows, n);
    if (!arr)
        imgd_error_set(err, ENOMEM, "out of memory");
    return arr;
}

/* "source: message; source: message" of the failed sources. */
static char *errors_text(const imgd_local_snapshot *snap)
{
    size_t len = 1;
    for (char **e = snap->errors; *e; e++)
        len += strlen(*e) + 4;
    char *text = calloc(1, len);
    size_t used = 0;
    for (char **e = snap->errors; text && *e; e++) {
        const char *tab = strchr(*e, '\t'); /* "cri\tmsg" -> "cri: msg" */
        int source_len = tab ? (int)(tab - *e) : 0;
        used += (size_t)snprintf(text + used, len - used, "%s%.*s%s%s", used ? "; " : "",
                                 source_len, *e, tab ? ": " : "", tab ? tab + 1 : *e);
    }
    return text;
}

/* ---- the cache of encoded answers ---- */

static bool cache_get(imgd_inventory_face *f, imgd_response *resp, uint64_t gen,
                      unsigned long ignore_version, unsigned variant)
{
    bool hit = false;
    pthread_mutex_lock(&f->lock);
    for (size_t i = 0; i < CACHE_SLOTS && !hit; i++) {
        cached_answer *c = &f->cache[i];
        if (c->body && c->generation == gen && c->ignore_version == ignore_version &&
            c->variant == variant)
            hit = imgd_resp_text(resp, 200, "application/json", c->body, c->len) == 0;
    }
    pthread_mutex_unlock(&f->lock);
    return hit;
}

static void cache_put(imgd_inventory_face *f, const imgd_response *resp, uint64_t gen,
                      unsigned long ignore_version, unsigned variant)
{
    char *copy = malloc(resp->body_len);
    if (!copy)
        return;
    memcpy(copy, resp->body, resp->body_len);
    pthread_mutex_lock(&f->lock);
    cached_answer *c = &f->cache[f->next_slot++ % CACHE_SLOTS];
    free(c->body);
    *c = (cached_answer){gen, ignore_version, variant, copy, resp->body_len};
    pthread_mutex_unlock(&f->lock);
}

/* ---- GET /local-images ---- */

static int all_failed(imgd_response *resp, const imgd_local_snapshot *snap, imgd_error **err)
{
    char *details = errors_text(snap);
    json_t *body = json_pack("{s:s, s:s}", "error", "Failed to retrieve local images", "details",
                             details ? details : "every image source failed");
    free(details);
    if (!body || imgd_resp_json(resp, 500, body, false) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    return 0;
}

/* The answer for a snapshot, from the cache or encoded (and cached). The requests woken by one
 * snapshot arrive together: the first encodes while the others wait, then copy its answer. */
static int local_answer(imgd_inventory_face *f, const imgd_api_ctx *ctx,
                        const imgd_local_snapshot *snap, unsigned opts, imgd_response *resp,
                        imgd_error **err)
{
    unsigned long ignore_version = imgd_ignore_file_version(f->ignore);
    int r = 0;
    pthread_mutex_lock(&f->build_lock);
    if (!cache_get(f, resp, snap->generation, ignore_version, opts)) {
        json_t *rows = rows_json(f, snap, opts, err);
        if (rows && imgd_resp_json(resp, 200, rows, ctx->cfg->json_pretty) == 0)
            cache_put(f, resp, snap->generation, ignore_version, opts);
        else if (rows || !(err && *err))
            r = imgd_error_set(err, ENOMEM, "out of memory");
        else
            r = -(*err)->code;
    }
    pthread_mutex_unlock(&f->build_lock);
    return r;
}

typedef struct inventory_job {
    const imgd_api_ctx *ctx;
    unsigned opts;
} inventory_job;

/* Answer with fn as a job: waiting for the runtime (or a registry) holds a thread of its own,
 * not one of the server's, whose other connections would queue behind it. */
static int answer_with_job(imgd_request *req, imgd_response *resp, imgd_job_fn fn, bool registry,
                           imgd_error **err)
{
    unsigned opts = 0;
    int r = parse_options(req, &opts, registry, err);
    if (r < 0)
        return r;
    inventory_job *j = calloc(1, sizeof(*j));
    if (!j)
        return imgd_error_set(err, ENOMEM, "out of memory");
    *j = (inventory_job){req->ctx, opts};
    imgd_job_spec spec = {.fn = fn, .arg = j, .free_arg = free};
    return imgd_resp_job(resp, &spec) < 0 ? imgd_error_set(err, ENOMEM, "out of memory") : 0;
}

static int run_local_images(void *arg, imgd_job *job, imgd_response *resp, imgd_error **err)
{
    (void)job;
    const inventory_job *j = arg;
    imgd_local_snapshot *snap = NULL;
    int r = imgd_inventory_local(j->ctx->inventory, &snap, err);
    if (r < 0)
        return r;
    if (snap->sources > 0 && snap->failed == snap->sources)
        r = all_failed(resp, snap, err);
    else
        r = local_answer(j->ctx->inventory_face, j->ctx, snap, j->opts, resp, err);
    imgd_local_snapshot_unref(snap);
    return r;
}

int inventory_local_images(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    return answer_with_job(req, resp, run_local_images, false, err);
}

/* ---- GET /images ---- */

/* The registry's host[:port] in a base URL ("https://reg.example.com:5000/x" ->
 * "reg.example.com:5000"). */
static int url_host(char *host, size_t len, const char *url, imgd_error **err)
{
    const char *start = strstr(url, "://");
    start = start ? start + 3 : url;
    size_t n = strcspn(start, "/?#");
    if (n == 0 || n >= len || memchr(start, '@', n))
        return imgd_error_set(err, EINVAL, "registry URL '%.200s' names no host", url);
    memcpy(host, start, n);
    host[n] = '\0';
    return 0;
}

/* List the configured registry, live. */
static int registry_list(const imgd_api_ctx *ctx, imgd_remote_image **rows, size_t *n,
                         imgd_error **err)
{
    const imgd_config *cfg = ctx->cfg;
    if (!cfg->harbor_url || !*cfg->harbor_url)
        return imgd_error_set(err, EINVAL, "Harbor configuration incomplete");
    if (cfg->harbor_type && strcmp(cfg->harbor_type, "distribution") == 0) {
        char host[256];
        int r = url_host(host, sizeof(host), cfg->harbor_url, err);
        if (r < 0)
            return r;
        imgd_credentials creds = {.username = cfg->harbor_username,
                                  .password = cfg->harbor_password};
        return imgd_catalog_list(rows, n, ctx->registry, host, cfg->harbor_username ? &creds : NULL,
                                 (unsigned)cfg->harbor_parallel, err);
    }
    imgd_harbor_options o = {.url = cfg->harbor_url,
                             .username = cfg->harbor_username,
                             .password = cfg->harbor_password,
                             .verify_tls = cfg->harbor_verify_tls,
                             .project = cfg->harbor_project,
                             .timeout_ms = (long)cfg->harbor_timeout * 1000,
                             .parallel = (unsigned)cfg->harbor_parallel};
    return imgd_harbor_list(rows, n, &o, err);
}

static json_t *registry_rows_json(const imgd_remote_image *rows, size_t n, unsigned opts)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        char size[32];
        imgd_humanize_natural(size, sizeof(size), rows[i].size);
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "repository", rows[i].repository, "tag",
                              rows[i].tag, "digest", rows[i].digest, "size", size, "project",
                              rows[i].project);
        if (o && (opts & OPT_DETAIL))
            json_object_set_new(o, "bytes", json_integer((json_int_t)rows[i].size));
        if (!o || json_array_append_new(arr, o) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* The rows (or the error) of the last listing, as the caller wants them; under f->lock. */
static json_t *last_listing(const imgd_inventory_face *f, unsigned opts, imgd_error **err)
{
    if (f->remote.last_code) {
        imgd_error_set(err, f->remote.last_code, "%s",
                       f->remote.last_message ? f->remote.last_message : "out of memory");
        return NULL;
    }
    json_t *arr = registry_rows_json(f->remote.rows, f->remote.n, opts);
    if (!arr)
        imgd_error_set(err, ENOMEM, "out of memory");
    return arr;
}

/* The registry's rows: from the last listing while it is younger than inventory_cache_ttl; else
 * from the listing in flight, or a new one. Failures are never reused by later requests. */
static json_t *registry_json(imgd_inventory_face *f, const imgd_api_ctx *ctx, unsigned opts,
                             imgd_error **err)
{
    uint64_t ttl = (uint64_t)ctx->cfg->inventory_cache_ttl * 1000000u;
    json_t *arr = NULL;
    pthread_mutex_lock(&f->lock);
    if (ttl > 0 && f->remote.valid && imgd_now_monotonic_usec() - f->remote.taken < ttl) {
        arr = registry_rows_json(f->remote.rows, f->remote.n, opts);
        pthread_mutex_unlock(&f->lock);
        if (!arr)
            imgd_error_set(err, ENOMEM, "out of memory");
        return arr;
    }
    if (f->remote.busy) {
        uint64_t target = f->remote.done + 1;
        while (f->remote.done < target)
            pthread_cond_wait(&f->remote.finished, &f->lock);
        arr = last_listing(f, opts, err);
        pthread_mutex_unlock(&f->lock);
        return arr;
    }
    f->remote.busy = true;
    pthread_mutex_unlock(&f->lock);

    imgd_remote_image *rows = NULL;
    size_t n = 0;
    imgd_error *e = NULL;
    uint64_t started = imgd_now_monotonic_usec();
    int r = registry_list(ctx, &rows, &n, &e);

    pthread_mutex_lock(&f->lock);
    free(f->remote.last_message);
    f->remote.last_message = r < 0 ? strdup(e->message) : NULL;
    f->remote.last_code = r < 0 ? (f->remote.last_message ? -r : ENOMEM) : 0;
    if (r == 0) {
        imgd_remote_images_free(f->remote.rows, f->remote.n);
        f->remote.rows = rows;
        f->remote.n = n;
        f->remote.taken = started;
        f->remote.valid = true;
    }
    f->remote.busy = false;
    f->remote.done++;
    pthread_cond_broadcast(&f->remote.finished);
    arr = last_listing(f, opts, err);
    pthread_mutex_unlock(&f->lock);
    imgd_error_free(e);
    return arr;
}

static int add_error(json_t *errors, const char *source, const char *message)
{
    return json_array_append_new(errors,
                                 json_pack("{s:s, s:s}", "source", source, "error", message));
}

/* The local rows into *rows and the failed sources into errors; never fails the answer. */
static void local_part(imgd_inventory_face *f, const imgd_api_ctx *ctx, unsigned opts,
                       json_t **rows, json_t *errors)
{
    imgd_error *e = NULL;
    imgd_local_snapshot *snap = NULL;
    if (imgd_inventory_local(ctx->inventory, &snap, &e) < 0) {
        add_error(errors, "local", e->message);
        imgd_error_free(e);
        return;
    }
    for (char **p = snap->errors; *p; p++) {
        char *tab = strchr(*p, '\t');
        char source[16];
        snprintf(source, sizeof(source), "%.*s", tab ? (int)(tab - *p) : 0, *p);
        add_error(errors, tab ? source : "local", tab ? tab + 1 : *p);
    }
    *rows = rows_json(f, snap, opts, &e);
    if (!*rows) {
        add_error(errors, "local", e ? e->message : "out of memory");
        imgd_error_free(e);
    }
    imgd_local_snapshot_unref(snap);
}

static int run_images(void *arg, imgd_job *job, imgd_response *resp, imgd_error **err)
{
    (void)job;
    const inventory_job *j = arg;
    imgd_inventory_face *f = j->ctx->inventory_face;
    json_t *local = NULL, *registry = NULL, *errors = json_array();
    if (!errors)
        return imgd_error_set(err, ENOMEM, "out of memory");
    if (!(j->opts & OPT_SOURCE_REGISTRY))
        local_part(f, j->ctx, j->opts, &local, errors);
    if (!(j->opts & (OPT_SOURCE_STORE | OPT_SOURCE_CRI))) {
        imgd_error *e = NULL;
        registry = registry_json(f, j->ctx, j->opts, &e);
        if (!registry) {
            if (j->ctx->cfg->harbor_url && *j->ctx->cfg->harbor_url)
                log_warning("inventory: registry listing failed: %s", e->message);
            add_error(errors, "harbor", e->message);
            imgd_error_free(e);
        }
    }
    json_t *body = json_pack("{s:o, s:o, s:o}", "containerd_images", local ? local : json_array(),
                             "harbor_images", registry ? registry : json_array(), "errors", errors);
    if (!body || imgd_resp_json(resp, 200, body, j->ctx->cfg->json_pretty) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    return 0;
}

int inventory_images(imgd_request *req, imgd_response *resp, imgd_error **err)
{
    return answer_with_job(req, resp, run_images, true, err);
}
