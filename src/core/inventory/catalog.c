/* SPDX-License-Identifier: MIT */
#include "catalog.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/store/manifest.h"
#include "link.h"
#include "util/cleanup.h"
#include "util/json.h"
#include "util/strutil.h"

#define CATALOG_PARALLEL_DEFAULT 8u
#define CATALOG_PARALLEL_MAX     64u
#define CATALOG_PAGES_MAX        10000u
#define CATALOG_PAGE_BODY_MAX    (4u * 1024u * 1024u)
#define CATALOG_JSON_DEPTH       16u

/* ---- pure parts ---- */

static bool catalog_is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
static bool catalog_component_is_valid(const char *p, size_t n)
{
    size_t i = 0;
    for (;;) {
        size_t start = i;
        while (i < n && catalog_is_lower_alnum(p[i]))
            i++;
        if (i == start)
            return false;
        if (i == n)
            return true;
        if (p[i] == '.') {
            i++;
        } else if (p[i] == '_') {
            i += i + 1 < n && p[i + 1] == '_' ? 2 : 1;
        } else if (p[i] == '-') {
            while (i < n && p[i] == '-')
                i++;
        } else {
            return false;
        }
    }
}

bool imgd_catalog_name_is_valid(const char *name)
{
    size_t len = strnlen(name, IMGD_REFERENCE_NAME_MAX + 1);
    if (len == 0 || len > IMGD_REFERENCE_NAME_MAX)
        return false;
    const char *p = name;
    for (;;) {
        size_t n = strcspn(p, "/");
        if (!catalog_component_is_valid(p, n))
            return false;
        if (p[n] == '\0')
            return true;
        p += n + 1;
    }
}

bool imgd_catalog_tag_is_valid(const char *tag)
{
    size_t n = strnlen(tag, 129);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = tag[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || (i > 0 && (c == '.' || c == '-'));
        if (!ok)
            return false;
    }
    return true;
}

int imgd_catalog_next_path(char **next, const char *origin, const char *path, const char *link,
                           imgd_error **err)
{
    _cleanup_free_ char *target = NULL, *base = NULL, *url = NULL;
    imgd_error *inner = NULL;
    int r = link && *link ? imgd_link_next(&target, link, &inner) : 0;
    if (r == 0 && !target) {
        *next = NULL;
        return 0;
    }
    if (r == 0 && asprintf(&base, "%s%s", origin, path) < 0)
        r = -ENOMEM;
    if (r == 0)
        r = imgd_link_resolve(&url, base, target, &inner);
    if (r == -ENOMEM || (r == 0 && !url)) {
        imgd_error_free(inner);
        return imgd_error_set(err, ENOMEM, "out of memory");
    }
    if (r != 0) {
        r = imgd_error_set(err, EPROTO, "%s%s: %s", origin, path,
                           inner ? inner->message : "malformed Link header");
        imgd_error_free(inner);
        return r;
    }
    size_t n = strlen(origin);
    if (!imgd_link_same_origin(url, origin) || url[n] != '/')
        return imgd_error_set(err, EPROTO, "%s%s: the next page is on another server", origin,
                              path);
    if (!(*next = strdup(url + n)))
        return imgd_error_set(err, ENOMEM, "out of memory");
    return 0;
}

/* ---- the run ---- */

typedef struct catalog_repo {
    char *name;
    char **tags; /* NULL-terminated, or NULL */
    size_t n_tags;
    imgd_registry_session *session; /* after its tags were listed: authenticated, idle */
} catalog_repo;

typedef struct catalog_task {
    size_t repo;
    const char *tag; /* borrowed from the repo's tags */
    char digest[IMGD_DIGEST_LEN + 1];
    int64_t size;
    bool found;
} catalog_task;

typedef struct catalog_run {
    imgd_registry *reg;
    const char *host;
    const imgd_credentials *creds;
    unsigned parallel, page_size;
    catalog_repo *repos;
    size_t n_repos;
    catalog_task *tasks;
    size_t n_tasks;
    /* shared by the workers of a phase */
    pthread_mutex_t lock;
    size_t next;
    int error;
    imgd_error *err;
} catalog_run;

static int catalog_session(imgd_registry_session **out, const catalog_run *run, const char *name,
                           imgd_error **err)
{
    imgd_reference ref = {.domain = (char *)run->host, .path = (char *)name};
    return imgd_registry_session_open(out, run->reg, &ref, run->creds, err);
}

/* The string members of page[key] (an array, or null for none) that pass valid(); others are
 * skipped. Appended to *v (n entries), at most IMGD_REMOTE_ITEMS_MAX in all. */
static int catalog_decode(char ***v, size_t *n, const imgd_buf *body, const char *key,
                          bool (*valid)(const char *), imgd_error **err)
{
    json_auto_t *doc = NULL;
    imgd_error *inner = NULL;
    if (!body->data ||
        imgd_json_parse(&doc, body->data, body->len, CATALOG_JSON_DEPTH, &inner) < 0) {
        int r = imgd_error_set(err, EPROTO, "%s", inner ? inner->message : "empty answer");
        imgd_error_free(inner);
        return r;
    }
    const json_t *list = json_object_get(doc, key);
    if (!json_is_object(doc) || (list && !json_is_null(list) && !json_is_array(list)))
        return imgd_error_set(err, EPROTO, "\"%s\" is not a list", key);
    size_t i;
    const json_t *e;
    json_array_foreach (list, i, e) {
        const char *s = json_string_value(e);
        if (!s || !valid(s))
            continue;
        if (*n >= IMGD_REMOTE_ITEMS_MAX)
            return imgd_error_set(err, E2BIG, "more than %d entries", IMGD_REMOTE_ITEMS_MAX);
        char **grown = realloc(*v, (*n + 2) * sizeof(char *));
        if (!grown)
            return imgd_error_set(err, ENOMEM, "out of memory");
        *v = grown;
        if (!(grown[*n] = strdup(s)))
            return imgd_error_set(err, ENOMEM, "out of memory");
        grown[++*n] = NULL;
    }
    return 0;
}

/* Read every page of a listing, starting at path, into *v (NULL-terminated, n entries). */
static int catalog_pages(imgd_registry_session *s, const char *first, const char *key,
                         bool (*valid)(const char *), char ***v, size_t *n, imgd_error **err)
{
    _cleanup_free_ char *path = strdup(first);
    if (!path)
        return imgd_error_set(err, ENOMEM, "out of memory");
    for (unsigned page = 0; path; page++) {
        if (page >= CATALOG_PAGES_MAX)
            return imgd_error_set(err, E2BIG, "%s%s: more than %u pages",
                                  imgd_registry_session_endpoint(s), first, CATALOG_PAGES_MAX);
        imgd_buf body = {0};
        _cleanup_free_ char *link = NULL;
        int r = imgd_registry_session_get(s, path, CATALOG_PAGE_BODY_MAX, &body, &link, err);
        if (r == 0 && (r = catalog_decode(v, n, &body, key, valid, err)) < 0)
            imgd_error_prefix(err, "%s%s", imgd_registry_session_endpoint(s), path);
        imgd_buf_dispose(&body);
        char *next = NULL;
        if (r == 0)
            r = imgd_catalog_next_path(&next, imgd_registry_session_endpoint(s), path, link, err);
        if (r < 0)
            return r;
        free(path);
        path = next;
    }
    return 0;
}

/* Record the first failure of a phase (taking e); later ones are dropped. */
static void catalog_fail(catalog_run *run, int r, imgd_error *e)
{
    pthread_mutex_lock(&run->lock);
    if (!run->error) {
        run->error = r;
        run->err = e;
        e = NULL;
    }
    pthread_mutex_unlock(&run->lock);
    imgd_error_free(e);
}

/* The next item of the phase, or false once all are taken or one failed. */
static bool catalog_claim(catalog_run *run, size_t count, size_t *i)
{
    pthread_mutex_lock(&run->lock);
    bool ok = !run->error && run->next < count;
    if (ok)
        *i = run->next++;
    pthread_mutex_unlock(&run->lock);
    return ok;
}

/* Run worker on `count` items with up to run->parallel threads; the first failure wins. */
static int catalog_phase(catalog_run *run, void *(*worker)(void *), size_t count, imgd_error **err)
{
    pthread_t threads[CATALOG_PARALLEL_MAX];
    size_t want = count < run->parallel ? count : run->parallel, started = 0;
    run->next = 0;
    while (want > 1 && started < want && pthread_create(&threads[started], NULL, worker, run) == 0)
        started++;
    if (started == 0) /* one item, one thread wanted, or no thread could start */
        worker(run);
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    if (!run->error)
        return 0;
    if (err && !*err)
        *err = run->err;
    else
        imgd_error_free(run->err);
    run->err = NULL;
    return run->error;
}

/* ---- phase 1: the catalog ---- */

static int catalog_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int catalog_repositories(catalog_run *run, imgd_error **err)
{
    imgd_registry_session *s = NULL;
    int r = catalog_session(&s, run, "_catalog", err);
    _cleanup_free_ char *path = NULL;
    if (r == 0 && asprintf(&path, "/v2/_catalog?n=%u", run->page_size) < 0)
        r = imgd_error_set(err, ENOMEM, "out of memory");
    _cleanup_strv_ char **names = NULL;
    size_t n = 0;
    if (r == 0)
        r = catalog_pages(s, path, "repositories", imgd_catalog_name_is_valid, &names, &n, err);
    imgd_registry_session_free(s);
    if (r < 0 || !names || n == 0)
        return r;
    /* registries that filter the catalog need not keep its order */
    qsort(names, n, sizeof(char *), catalog_strcmp);
    if (!(run->repos = calloc(n, sizeof(*run->repos))))
        return imgd_error_set(err, ENOMEM, "out of memory");
    for (size_t i = 0; i < n && names[i]; i++)
        run->repos[i].name = TAKE_PTR(names[i]);
    run->n_repos = n;
    return 0;
}

/* ---- phase 2: tags ---- */

static int catalog_list_tags(catalog_run *run, catalog_repo *repo, imgd_error **err)
{
    imgd_error *inner = NULL;
    int r = catalog_session(&repo->session, run, repo->name, &inner);
    _cleanup_free_ char *path = NULL;
    if (r == 0 && asprintf(&path, "/v2/%s/tags/list?n=%u", repo->name, run->page_size) < 0)
        r = imgd_error_set(&inner, ENOMEM, "out of memory");
    if (r == 0)
        r = catalog_pages(repo->session, path, "tags", imgd_catalog_tag_is_valid, &repo->tags,
                          &repo->n_tags, &inner);
    if (r == 0 && repo->n_tags) /* the spec says lexical; distribution 2.8 sends them unsorted */
        qsort(repo->tags, repo->n_tags, sizeof(char *), catalog_strcmp);
    if (r == -ENOENT || r == -EACCES) { /* deleted meanwhile, or not ours to see */
        imgd_strv_free(repo->tags);
        repo->tags = NULL;
        repo->n_tags = 0;
        r = 0;
    }
    if (r < 0 && err && !*err)
        *err = TAKE_PTR(inner);
    imgd_error_free(inner);
    return r;
}

static void *catalog_tags_worker(void *arg)
{
    catalog_run *run = arg;
    size_t i;
    while (catalog_claim(run, run->n_repos, &i)) {
        imgd_error *e = NULL;
        int r = catalog_list_tags(run, &run->repos[i], &e);
        if (r < 0)
            catalog_fail(run, r, e);
        else
            imgd_error_free(e);
    }
    return NULL;
}

/* ---- phase 3: manifests ---- */

static int64_t catalog_add(int64_t a, int64_t b)
{
    if (b <= 0)
        return a;
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static int64_t catalog_image_size(const imgd_manifest *m, size_t manifest_len)
{
    int64_t total = catalog_add((int64_t)manifest_len, m->config.size);
    for (size_t i = 0; i < m->n_layers; i++)
        total = catalog_add(total, m->layers[i].size);
    return total;
}

/* The size of an index's child: its manifest fetched and counted, or, when it cannot be read,
 * what its descriptor says (left in *size). */
static int catalog_child_size(int64_t *size, imgd_registry_session *s, const imgd_descriptor *d,
                              imgd_error **err)
{
    imgd_buf body = {0};
    char ct[128], digest[IMGD_DIGEST_LEN + 1];
    imgd_error *inner = NULL;
    int r = imgd_registry_get_manifest(s, d->digest, &body, ct, digest, &inner);
    if (r == 0) {
        imgd_manifest m = {0};
        if (imgd_manifest_parse(&m, body.data ? body.data : "", body.len, ct, NULL) == 0 &&
            m.kind == IMGD_MANIFEST_IMAGE)
            *size = catalog_image_size(&m, body.len);
        else
            *size = (int64_t)body.len;
        imgd_manifest_dispose(&m);
    } else if (r == -ENOMEM) {
        if (err && !*err)
            *err = TAKE_PTR(inner);
    } else {
        r = 0; /* a child that cannot be read counts with its descriptor's size */
    }
    imgd_error_free(inner);
    imgd_buf_dispose(&body);
    return r;
}

static int catalog_size(int64_t *size, imgd_registry_session *s, const imgd_buf *body,
                        const char *content_type, imgd_error **err)
{
    imgd_manifest m = {0};
    if (imgd_manifest_parse(&m, body->data ? body->data : "", body->len, content_type, NULL) < 0) {
        *size = (int64_t)body->len; /* not an image: an artifact, schema 1 */
        return 0;
    }
    int64_t total = (int64_t)body->len;
    int r = 0;
    if (m.kind == IMGD_MANIFEST_IMAGE)
        total = catalog_image_size(&m, body->len);
    for (size_t i = 0; r == 0 && m.kind == IMGD_MANIFEST_INDEX && i < m.n_manifests; i++) {
        int64_t child = m.manifests[i].size;
        if (i < IMGD_CATALOG_INDEX_CHILDREN_MAX)
            r = catalog_child_size(&child, s, &m.manifests[i], err);
        total = catalog_add(total, child);
    }
    imgd_manifest_dispose(&m);
    if (r == 0)
        *size = total;
    return r;
}

static int catalog_manifest(imgd_registry_session *s, catalog_task *t, imgd_error **err)
{
    imgd_buf body = {0};
    char ct[128];
    int r = imgd_registry_get_manifest(s, t->tag, &body, ct, t->digest, err);
    if (r == 0)
        r = catalog_size(&t->size, s, &body, ct, err);
    t->found = r == 0;
    imgd_buf_dispose(&body);
    return r;
}

static void *catalog_manifest_worker(void *arg)
{
    catalog_run *run = arg;
    imgd_registry_session *s = NULL;
    size_t current = SIZE_MAX, i;
    while (catalog_claim(run, run->n_tasks, &i)) {
        catalog_task *t = &run->tasks[i];
        imgd_error *e = NULL;
        int r = 0;
        if (t->repo != current) { /* a copy of the repository's session keeps its token */
            imgd_registry_session_free(s);
            s = NULL;
            r = imgd_registry_session_clone(&s, run->repos[t->repo].session, &e);
            current = r == 0 ? t->repo : SIZE_MAX;
        }
        if (r == 0)
            r = catalog_manifest(s, t, &e);
        if (r == -ENOENT || r == -EACCES) /* deleted meanwhile, or not ours to see */
            r = 0;
        if (r < 0)
            catalog_fail(run, r, e);
        else
            imgd_error_free(e);
    }
    imgd_registry_session_free(s);
    return NULL;
}

static int catalog_make_tasks(catalog_run *run, imgd_error **err)
{
    size_t total = 0;
    for (size_t i = 0; i < run->n_repos; i++)
        total += run->repos[i].n_tags;
    if (total > IMGD_REMOTE_ITEMS_MAX)
        return imgd_error_set(err, E2BIG, "registry %s lists more than %d tags", run->host,
                              IMGD_REMOTE_ITEMS_MAX);
    if (total && !(run->tasks = calloc(total, sizeof(*run->tasks))))
        return imgd_error_set(err, ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < run->n_repos; i++) {
        for (size_t t = 0; t < run->repos[i].n_tags; t++)
            run->tasks[k++] = (catalog_task){.repo = i, .tag = run->repos[i].tags[t]};
    }
    run->n_tasks = total;
    return 0;
}

/* ---- rows ---- */

static int catalog_row(imgd_remote_image *row, const char *name, const catalog_task *t)
{
    const char *slash = strchr(name, '/');
    row->project = slash ? strndup(name, (size_t)(slash - name)) : strdup(name);
    row->repository = strdup(slash ? slash + 1 : name);
    row->tag = strdup(t->tag);
    row->digest = strdup(t->digest);
    row->size = t->size;
    return row->project && row->repository && row->tag && row->digest ? 0 : -ENOMEM;
}

static int catalog_rows(imgd_remote_image **out, size_t *n, const catalog_run *run,
                        imgd_error **err)
{
    size_t count = 0;
    for (size_t i = 0; i < run->n_tasks; i++)
        count += run->tasks[i].found;
    if (count == 0) {
        *out = NULL;
        *n = 0;
        return 0;
    }
    imgd_remote_image *v = calloc(count, sizeof(*v));
    if (!v)
        return imgd_error_set(err, ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < run->n_tasks && k < count; i++) {
        const catalog_task *t = &run->tasks[i];
        if (t->found && catalog_row(&v[k++], run->repos[t->repo].name, t) < 0) {
            imgd_remote_images_free(v, count);
            return imgd_error_set(err, ENOMEM, "out of memory");
        }
    }
    *out = v;
    *n = count;
    return 0;
}

static void catalog_run_dispose(catalog_run *run)
{
    for (size_t i = 0; i < run->n_repos; i++) {
        free(run->repos[i].name);
        imgd_strv_free(run->repos[i].tags);
        imgd_registry_session_free(run->repos[i].session);
    }
    free(run->repos);
    free(run->tasks);
    imgd_error_free(run->err);
    pthread_mutex_destroy(&run->lock);
}

int imgd_catalog_list_paged(imgd_remote_image **out, size_t *n, imgd_registry *reg,
                            const char *registry_host, const imgd_credentials *creds,
                            unsigned parallel, unsigned page_size, imgd_error **err)
{
    assert(page_size >= 1 && page_size <= 1000);
    catalog_run run = {
        .reg = reg,
        .host = registry_host,
        .creds = creds,
        .parallel = parallel ? parallel : CATALOG_PARALLEL_DEFAULT,
        .page_size = page_size,
    };
    if (run.parallel > CATALOG_PARALLEL_MAX)
        run.parallel = CATALOG_PARALLEL_MAX;
    pthread_mutex_init(&run.lock, NULL);
    int r = catalog_repositories(&run, err);
    if (r == 0)
        r = catalog_phase(&run, catalog_tags_worker, run.n_repos, err);
    if (r == 0)
        r = catalog_make_tasks(&run, err);
    if (r == 0)
        r = catalog_phase(&run, catalog_manifest_worker, run.n_tasks, err);
    if (r == 0)
        r = catalog_rows(out, n, &run, err);
    catalog_run_dispose(&run);
    return r;
}

int imgd_catalog_list(imgd_remote_image **out, size_t *n, imgd_registry *reg,
                      const char *registry_host, const imgd_credentials *creds, unsigned parallel,
                      imgd_error **err)
{
    return imgd_catalog_list_paged(out, n, reg, registry_host, creds, parallel,
                                   IMGD_CATALOG_PAGE_SIZE, err);
}
