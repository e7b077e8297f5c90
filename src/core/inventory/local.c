/* SPDX-License-Identifier: MIT */
#include "local.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/cri/cri.h"
#include "core/store/images.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/humanize.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define CRICTL_YAML "/etc/crictl.yaml"
#define ID_SHORT    13

struct imgd_inventory {
    imgd_store *store;
    char endpoint[512];
    const char *endpoint_source;
    bool cri_required; /* named by config, environment or crictl.yaml: failures are reported */
    bool use_store, use_cri;
    long cri_timeout_ms;
    pthread_mutex_t lock;
    pthread_cond_t fetched;
    bool fetching;
    uint64_t started, finished;
    uint64_t last_end_usec, last_duration_usec; /* of the last fetch (monotonic) */
    unsigned callers;                           /* inside imgd_inventory_local now */
    unsigned last_callers;                      /* ... when the last fetch ended */
    pthread_cond_t arrived;                     /* a caller came in (CLOCK_MONOTONIC) */
    imgd_local_snapshot *latest;
};

/* Under load, fetches run back to back: the requests answered by one fetch come back (the
 * client reads its answer and asks again) just after the next has started, so they wait for
 * the one after it, and the clients split into two groups that each wait two fetches. A fetch
 * that would start right after the previous one ended therefore first waits until as many
 * callers are in as were when that one ended, or at most this fraction of its time
 * (GATHER_MAX_USEC at most), so that those requests join it: every answer still comes from a
 * fetch that started after its request arrived. A lone client never waits. */
#define GATHER_DIVISOR  2
#define GATHER_MAX_USEC 5000

/* ---- snapshots ---- */

static void local_image_dispose(imgd_local_image *img)
{
    free(img->id);
    imgd_strv_free(img->repo_tags);
    imgd_strv_free(img->repo_digests);
}

void imgd_local_snapshot_unref(imgd_local_snapshot *s)
{
    if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    for (size_t i = 0; i < s->n; i++)
        local_image_dispose(&s->images[i]);
    free(s->images);
    imgd_strv_free(s->errors);
    free(s);
}

static int snapshot_add(imgd_local_snapshot *s, size_t *cap, imgd_local_image img)
{
    if (imgd_array_reserve(&s->images, cap, s->n + 1, sizeof(*s->images), 64) < 0) {
        local_image_dispose(&img);
        return -ENOMEM;
    }
    s->images[s->n++] = img;
    return 0;
}

static void source_failed(imgd_local_snapshot *s, const char *source, const char *message)
{
    char line[600];
    snprintf(line, sizeof(line), "%s\t%s", source, message);
    s->failed++;
    (void)imgd_strv_push(&s->errors, line);
}

static void fetch_store(imgd_inventory *inv, imgd_local_snapshot *s, size_t *cap)
{
    imgd_image *images = NULL;
    size_t n = 0;
    imgd_error *err = NULL;
    s->sources++;
    if (imgd_store_image_list(inv->store, &images, &n, &err) < 0) {
        source_failed(s, "store", err ? err->message : "failed");
        imgd_error_free(err);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        imgd_local_image img = {.id = strdup(images[i].id),
                                .repo_tags = images[i].repo_tags,
                                .repo_digests = images[i].repo_digests,
                                .size = (uint64_t)images[i].size,
                                .source = "store"};
        images[i].repo_tags = images[i].repo_digests = NULL; /* moved */
        imgd_image_dispose(&images[i]);
        if (!img.id || snapshot_add(s, cap, img) < 0) {
            source_failed(s, "store", "out of memory");
            for (size_t j = i + 1; j < n; j++)
                imgd_image_dispose(&images[j]);
            break;
        }
    }
    free(images);
}

static void fetch_cri(imgd_inventory *inv, imgd_local_snapshot *s, size_t *cap)
{
    imgd_cri_image *images = NULL;
    size_t n = 0;
    imgd_error *err = NULL;
    int r = imgd_cri_list_images(&images, &n, inv->endpoint, inv->cri_timeout_ms, &err);
    if (r < 0) {
        /* nothing listens where crictl would look by default: this node has no CRI runtime */
        if (inv->cri_required || (r != -ENOENT && r != -ECONNREFUSED)) {
            s->sources++;
            source_failed(s, "cri", err ? err->message : "failed");
        }
        imgd_error_free(err);
        return;
    }
    s->sources++;
    for (size_t i = 0; i < n; i++) {
        imgd_local_image img = {.id = images[i].id,
                                .repo_tags = images[i].repo_tags,
                                .repo_digests = images[i].repo_digests,
                                .size = images[i].size,
                                .source = "cri"};
        images[i].id = NULL;
        images[i].repo_tags = images[i].repo_digests = NULL;
        if (snapshot_add(s, cap, img) < 0) {
            source_failed(s, "cri", "out of memory");
            break;
        }
    }
    imgd_cri_images_free(images, n);
}

static imgd_local_snapshot *fetch(imgd_inventory *inv, uint64_t generation)
{
    imgd_local_snapshot *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->refs = 1;
    s->generation = generation;
    s->errors = calloc(1, sizeof(char *));
    size_t cap = 0;
    if (inv->use_store && inv->store)
        fetch_store(inv, s, &cap);
    if (inv->use_cri)
        fetch_cri(inv, s, &cap);
    if (!s->errors) {
        imgd_local_snapshot_unref(s);
        return NULL;
    }
    return s;
}

int imgd_inventory_local(imgd_inventory *inv, imgd_local_snapshot **out, imgd_error **err)
{
    pthread_mutex_lock(&inv->lock);
    inv->callers++;
    pthread_cond_signal(&inv->arrived);
    /* the next fetch to start is the first one that starts after this call did */
    uint64_t need = inv->started + 1;
    while (inv->finished < need) {
        if (inv->fetching) {
            pthread_cond_wait(&inv->fetched, &inv->lock);
            continue;
        }
        inv->fetching = true;
        uint64_t window = inv->last_duration_usec / GATHER_DIVISOR;
        window = window < GATHER_MAX_USEC ? window : GATHER_MAX_USEC;
        uint64_t since = imgd_now_monotonic_usec() - inv->last_end_usec;
        if (inv->last_callers > 1 && since < window) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_nsec += (long)(window - since) * 1000;
            until.tv_sec += until.tv_nsec / 1000000000;
            until.tv_nsec %= 1000000000;
            /* requests arriving now wait for this fetch */
            while (inv->callers < inv->last_callers &&
                   pthread_cond_timedwait(&inv->arrived, &inv->lock, &until) == 0)
                ;
        }
        uint64_t mine = ++inv->started;
        pthread_mutex_unlock(&inv->lock);
        uint64_t t0 = imgd_now_monotonic_usec();
        imgd_local_snapshot *s = fetch(inv, mine);
        uint64_t t1 = imgd_now_monotonic_usec();
        pthread_mutex_lock(&inv->lock);
        inv->last_end_usec = t1;
        inv->last_duration_usec = t1 - t0;
        inv->last_callers = inv->callers;
        if (s) {
            imgd_local_snapshot_unref(inv->latest);
            inv->latest = s;
        }
        inv->finished = mine;
        inv->fetching = false;
        pthread_cond_broadcast(&inv->fetched);
    }
    imgd_local_snapshot *s = inv->latest;
    if (s && s->generation >= need)
        __atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
    else
        s = NULL;
    inv->callers--;
    pthread_mutex_unlock(&inv->lock);
    if (!s)
        return imgd_error_set(err, ENOMEM, "out of memory listing local images");
    *out = s;
    return 0;
}

/* ---- setup ---- */

int imgd_inventory_new(imgd_inventory **out, const imgd_inventory_options *o, imgd_error **err)
{
    imgd_inventory *inv = calloc(1, sizeof(*inv));
    if (!inv)
        return imgd_error_set(err, ENOMEM, "out of memory");
    inv->store = o->store;
    inv->cri_timeout_ms = o->cri_timeout_ms > 0 ? o->cri_timeout_ms : 2000;
    pthread_mutex_init(&inv->lock, NULL);
    pthread_cond_init(&inv->fetched, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&inv->arrived, &attr);
    pthread_condattr_destroy(&attr);
    int r = imgd_cri_endpoint_resolve(inv->endpoint, sizeof(inv->endpoint), &inv->endpoint_source,
                                      o->cri_endpoint,
                                      o->crictl_yaml ? o->crictl_yaml : CRICTL_YAML, err);
    inv->cri_required = r == 0 && strcmp(inv->endpoint_source, "default") != 0;
    if (r == 0 && !o->sources) {
        inv->use_store = inv->use_cri = true;
    }
    for (char *const *s = o->sources; r == 0 && s && *s; s++) {
        if (strcmp(*s, "store") == 0) {
            inv->use_store = true;
        } else if (strcmp(*s, "cri") == 0) {
            inv->use_cri = true;
            inv->cri_required = true; /* asked for by name: its failures are reported */
        } else {
            r = imgd_error_set(err, EINVAL,
                               "invalid inventory source '%s': expected 'store' or 'cri'", *s);
        }
    }
    if (r < 0) {
        imgd_inventory_free(inv);
        return r;
    }
    *out = inv;
    return 0;
}

void imgd_inventory_free(imgd_inventory *inv)
{
    if (!inv)
        return;
    imgd_local_snapshot_unref(inv->latest);
    pthread_mutex_destroy(&inv->lock);
    pthread_cond_destroy(&inv->fetched);
    pthread_cond_destroy(&inv->arrived);
    free(inv);
}

const char *imgd_inventory_cri_endpoint(const imgd_inventory *inv, const char **source)
{
    if (source)
        *source = inv->endpoint_source;
    return inv->endpoint;
}

/* ---- rows ---- */

int imgd_inventory_split_tag(char **repository, char **tag, const char *repo_tag)
{
    const char *colon = strrchr(repo_tag, ':');
    /* crictl splits at the last ':', even when it is a port ("host:5000/x" has no tag) */
    *repository = colon ? strndup(repo_tag, (size_t)(colon - repo_tag)) : strdup("errorRepoTag");
    *tag = strdup(colon ? colon + 1 : "errorRepoTag");
    if (!*repository || !*tag) {
        free(*repository);
        free(*tag);
        return -ENOMEM;
    }
    return 0;
}

/* The name crictl shows for an image without tags: its first repo digest's name, or <none>. */
static char *digest_name(const imgd_local_image *img)
{
    const char *d = img->repo_digests && img->repo_digests[0] ? img->repo_digests[0] : NULL;
    const char *at = d ? strchr(d, '@') : NULL;
    return at ? strndup(d, (size_t)(at - d)) : strdup("<none>");
}

/* crictl's order: by first repo tag when both have one, else by first repo digest, else by
 * ID. */
static int by_ref(const void *a, const void *b)
{
    const imgd_local_image *x = *(const imgd_local_image *const *)a;
    const imgd_local_image *y = *(const imgd_local_image *const *)b;
    if (x->repo_tags && x->repo_tags[0] && y->repo_tags && y->repo_tags[0])
        return strcmp(x->repo_tags[0], y->repo_tags[0]);
    if (x->repo_digests && x->repo_digests[0] && y->repo_digests && y->repo_digests[0])
        return strcmp(x->repo_digests[0], y->repo_digests[0]);
    return strcmp(x->id, y->id);
}

/* Rows already made, by repository, tag and ID: an image both in the store and the runtime
 * gives its rows once. Open addressing over row indexes; grows with the rows. */
typedef struct row_set {
    size_t *slots; /* row index + 1; 0 = empty */
    size_t cap;    /* a power of two */
} row_set;

static uint64_t row_hash(const char *repo, const char *tag, const char *id)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (const char *parts[] = {repo, "\n", tag, "\n", id, NULL}, **p = parts; *p; p++) {
        for (const unsigned char *c = (const unsigned char *)*p; *c; c++)
            h = (h ^ *c) * 1099511628211u;
    }
    return h;
}

static bool row_same(const imgd_inventory_row *r, const char *repo, const char *tag, const char *id)
{
    return strcmp(r->repository, repo) == 0 && strcmp(r->tag, tag) == 0 &&
           strcmp(r->image->id, id) == 0;
}

/* True when present; otherwise records index (the row about to be added) and returns false. */
static bool row_set_check(row_set *set, const imgd_inventory_row *rows, size_t index,
                          const char *repo, const char *tag, const char *id, int *r)
{
    if ((index + 1) * 2 > set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 128;
        size_t *slots = calloc(cap, sizeof(*slots));
        if (!slots) {
            *r = -ENOMEM;
            return true;
        }
        for (size_t i = 0; i < set->cap; i++) {
            if (!set->slots[i])
                continue;
            const imgd_inventory_row *x = &rows[set->slots[i] - 1];
            size_t j = row_hash(x->repository, x->tag, x->image->id) & (cap - 1);
            while (slots[j])
                j = (j + 1) & (cap - 1);
            slots[j] = set->slots[i];
        }
        free(set->slots);
        set->slots = slots;
        set->cap = cap;
    }
    size_t j = row_hash(repo, tag, id) & (set->cap - 1);
    for (; set->slots[j]; j = (j + 1) & (set->cap - 1)) {
        if (row_same(&rows[set->slots[j] - 1], repo, tag, id))
            return true;
    }
    set->slots[j] = index + 1;
    return false;
}

static int add_row(imgd_inventory_row **rows, size_t *n, size_t *cap, row_set *set,
                   const imgd_local_image *img, char *repo, char *tag, bool no_trunc)
{
    int dup_err = 0;
    if (row_set_check(set, *rows, *n, repo, tag, img->id, &dup_err)) {
        free(repo);
        free(tag);
        return dup_err;
    }
    if (imgd_array_reserve(rows, cap, *n + 1, sizeof(**rows), 64) < 0) {
        free(repo);
        free(tag);
        return -ENOMEM;
    }
    imgd_inventory_row *r = &(*rows)[(*n)++];
    memset(r, 0, sizeof(*r));
    r->repository = repo;
    r->tag = tag;
    r->image = img;
    const char *hex = strncmp(img->id, "sha256:", 7) == 0 ? img->id + 7 : img->id;
    snprintf(r->image_id, sizeof(r->image_id), "%.*s", no_trunc ? 64 : ID_SHORT, hex);
    imgd_humanize_crictl(r->size, sizeof(r->size), (double)img->size);
    return 0;
}

static int image_rows(imgd_inventory_row **rows, size_t *n, size_t *cap, row_set *set,
                      const imgd_local_image *img, bool no_trunc)
{
    if (!img->repo_tags || !img->repo_tags[0]) {
        char *repo = digest_name(img), *tag = strdup("<none>");
        if (!repo || !tag) {
            free(repo);
            free(tag);
            return -ENOMEM;
        }
        return add_row(rows, n, cap, set, img, repo, tag, no_trunc);
    }
    for (char **t = img->repo_tags; *t; t++) {
        char *repo = NULL, *tag = NULL;
        if (imgd_inventory_split_tag(&repo, &tag, *t) < 0)
            return -ENOMEM;
        if (strcmp(repo, "<none>") == 0) {
            free(repo);
            repo = digest_name(img);
        }
        if (!repo) {
            free(tag);
            return -ENOMEM;
        }
        int r = add_row(rows, n, cap, set, img, repo, tag, no_trunc);
        if (r < 0)
            return r;
    }
    return 0;
}

int imgd_inventory_rows(imgd_inventory_row **out, size_t *n_out, const imgd_local_snapshot *snap,
                        imgd_ignore_file *ignore, bool no_trunc, const char *source,
                        imgd_error **err)
{
    _cleanup_free_ const imgd_local_image **order =
        calloc(snap->n + 1, sizeof(const imgd_local_image *));
    if (!order)
        return imgd_error_set(err, ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < snap->n; i++) {
        const imgd_local_image *img = &snap->images[i];
        if ((source && strcmp(source, img->source) != 0) || imgd_ignore_file_match(ignore, img->id))
            continue;
        order[k++] = img;
    }
    qsort(order, k, sizeof(const imgd_local_image *), by_ref);
    imgd_inventory_row *rows = NULL;
    size_t n = 0, cap = 0;
    row_set set = {0};
    for (size_t i = 0; i < k; i++) {
        if (image_rows(&rows, &n, &cap, &set, order[i], no_trunc) < 0) {
            free(set.slots);
            imgd_inventory_rows_free(rows, n);
            return imgd_error_set(err, ENOMEM, "out of memory");
        }
    }
    free(set.slots);
    *out = rows;
    *n_out = n;
    return 0;
}

void imgd_inventory_rows_free(imgd_inventory_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].repository);
        free(rows[i].tag);
    }
    free(rows);
}
