/* SPDX-License-Identifier: MIT */
#include "assemble.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store-private.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/strutil.h"

#define MAX_PARALLEL 16

typedef struct fetch_job {
    imgd_store *store;
    const imgd_descriptor *descs;
    char (*diff_ids)[IMGD_DIGEST_LEN + 1];
    const imgd_layer_source *src;
    imgd_layer_result *results;
    size_t n;
    pthread_mutex_t lock;
    size_t next;     /* the next layer index to take */
    imgd_error *err; /* the first failure; later layers are not started */
    int failed;
} fetch_job;

static int fetch_one(fetch_job *job, size_t i, imgd_error **err)
{
    const imgd_descriptor *d = &job->descs[i];
    imgd_layer_result *res = &job->results[i]; /* chain_id set up front from the config */
    snprintf(res->digest, sizeof(res->digest), "%s", d->digest);
    res->size = d->size;
    if (imgd_store_layer_has(job->store, res->chain_id) && *d->digest) {
        res->skipped = true;
        return 0;
    }
    imgd_store_claim(job->store, res->chain_id);
    int r = 0;
    if (imgd_store_layer_has(job->store, res->chain_id) && *d->digest) {
        res->skipped = true; /* another pull finished it while we waited */
    } else {
        imgd_layer_ingest ing;
        r = imgd_layer_ingest_begin(&ing, job->store, d->media_type, d->digest, d->size,
                                    i ? job->results[i - 1].chain_id : NULL, job->diff_ids[i], err);
        if (r == 0)
            r = job->src->fetch(job->src->ctx, i, d, &ing, err);
        if (r == 0)
            r = imgd_layer_ingest_commit(&ing, err);
        else
            imgd_layer_ingest_abort(&ing);
        if (r == 0) {
            snprintf(res->digest, sizeof(res->digest), "%s", ing.digest);
            res->size = (int64_t)ing.received;
        }
    }
    imgd_store_release(job->store, res->chain_id);
    return r;
}

static void *fetch_worker(void *arg)
{
    fetch_job *job = arg;
    for (;;) {
        pthread_mutex_lock(&job->lock);
        size_t i = job->next++;
        bool stop = job->failed || i >= job->n;
        pthread_mutex_unlock(&job->lock);
        if (stop)
            return NULL;
        imgd_error *err = NULL;
        int r = fetch_one(job, i, &err);
        if (r < 0) {
            pthread_mutex_lock(&job->lock);
            if (!job->failed) {
                job->failed = r;
                job->err = err;
                err = NULL;
            }
            pthread_mutex_unlock(&job->lock);
            imgd_error_free(err);
        }
    }
}

int imgd_store_fetch_layers(imgd_store *s, const imgd_descriptor *descs, size_t n,
                            char (*diff_ids)[IMGD_DIGEST_LEN + 1], const imgd_layer_source *src,
                            imgd_layer_result *results, imgd_error **err)
{
    for (size_t i = 0; i < n; i++) {
        memset(&results[i], 0, sizeof(results[i]));
        if (imgd_chain_id(results[i].chain_id, i ? results[i - 1].chain_id : NULL, diff_ids[i]) < 0)
            return imgd_error_set(err, ENOMEM, "out of memory");
    }
    fetch_job job = {
        .store = s, .descs = descs, .diff_ids = diff_ids, .src = src, .results = results, .n = n};
    pthread_mutex_init(&job.lock, NULL);
    unsigned workers = src->parallel > 1 ? src->parallel : 1;
    if (workers > MAX_PARALLEL)
        workers = MAX_PARALLEL;
    if (workers > n)
        workers = n ? (unsigned)n : 1;
    pthread_t threads[MAX_PARALLEL];
    unsigned started = 0;
    for (unsigned w = 1; w < workers; w++) {
        if (pthread_create(&threads[started], NULL, fetch_worker, &job) == 0)
            started++;
    }
    fetch_worker(&job); /* the calling thread takes its share too */
    for (unsigned w = 0; w < started; w++)
        pthread_join(threads[w], NULL);
    pthread_mutex_destroy(&job.lock);
    if (job.failed) {
        if (err && !*err)
            *err = job.err;
        else
            imgd_error_free(job.err);
        return job.failed;
    }
    return 0;
}

static int layer_unpacked_size(imgd_store *s, const char *chain_id, int64_t *out)
{
    sqlite3 *db = imgd_db_acquire(imgd_store_db(s));
    sqlite3_stmt *st = NULL;
    *out = 0;
    if (sqlite3_prepare_v2(db, "SELECT size FROM layers WHERE chain_id = ?", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, chain_id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            *out = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    imgd_db_release(imgd_store_db(s));
    return 0;
}

static int fill_image(imgd_image *img, imgd_store *s, const imgd_image_parts *p,
                      const char *manifest_digest, const char *config_digest)
{
    memset(img, 0, sizeof(*img));
    snprintf(img->id, sizeof(img->id), "%s", config_digest);
    snprintf(img->manifest_digest, sizeof(img->manifest_digest), "%s", manifest_digest);
    const imgd_image_config *c = p->parsed_config;
    img->manifest_media_type = strdup(p->manifest_media_type);
    img->os = strdup(c->os);
    img->architecture = strdup(c->architecture);
    img->variant = strdup(c->variant ? c->variant : "");
    img->created = c->created ? strdup(c->created) : NULL;
    img->repo_tags = p->tags ? imgd_strv_copy(p->tags) : calloc(1, sizeof(char *));
    img->repo_digests =
        p->repo_digests ? imgd_strv_copy(p->repo_digests) : calloc(1, sizeof(char *));
    img->layers = calloc(p->n_layers ? p->n_layers : 1, sizeof(imgd_image_layer));
    if (!img->manifest_media_type || !img->os || !img->architecture || !img->variant ||
        !img->repo_tags || !img->repo_digests || !img->layers)
        return -ENOMEM;
    img->n_layers = p->n_layers;
    img->added = (int64_t)time(NULL);
    img->size = (int64_t)p->manifest_len + (int64_t)p->config_len;
    for (size_t i = 0; i < p->n_layers; i++) {
        imgd_image_layer *l = &img->layers[i];
        snprintf(l->digest, sizeof(l->digest), "%s", p->layers[i].digest);
        snprintf(l->diff_id, sizeof(l->diff_id), "%s", c->diff_ids[i]);
        snprintf(l->chain_id, sizeof(l->chain_id), "%s", p->layers[i].chain_id);
        snprintf(l->media_type, sizeof(l->media_type), "%s", p->layer_descs[i].media_type);
        l->size = p->layers[i].size;
        img->size += l->size;
        int64_t unpacked = 0;
        layer_unpacked_size(s, l->chain_id, &unpacked);
        img->unpacked_size += unpacked;
    }
    return 0;
}

int imgd_store_record_image(imgd_store *s, const imgd_image_parts *p, imgd_image *out,
                            imgd_error **err)
{
    char manifest_digest[IMGD_DIGEST_LEN + 1], config_digest[IMGD_DIGEST_LEN + 1];
    int r = imgd_store_blob_put(s, p->config, p->config_len, NULL, p->config_media_type,
                                config_digest, err);
    if (r == 0)
        r = imgd_store_blob_put(s, p->manifest, p->manifest_len, NULL, p->manifest_media_type,
                                manifest_digest, err);
    if (r == 0 && p->extra_blob)
        r = imgd_store_blob_put(s, p->extra_blob, p->extra_blob_len, NULL, p->extra_blob_media_type,
                                NULL, err);
    if (r < 0)
        return r;
    imgd_image img;
    if (fill_image(&img, s, p, manifest_digest, config_digest) < 0) {
        imgd_image_dispose(&img);
        return imgd_error_set(err, ENOMEM, "out of memory");
    }
    r = imgd_store_image_commit(s, &img, err);
    if (r == 0 && out)
        *out = img;
    else
        imgd_image_dispose(&img);
    return r;
}
