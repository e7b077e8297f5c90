/* SPDX-License-Identifier: MIT */
#include "pull.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assemble.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/strutil.h"

#define PROGRESS_STEP (512u * 1024u) /* bytes between two progress events of a layer */

typedef struct pull_ctx {
    imgd_registry_session *session;
    const imgd_pull_options *opts;
    size_t n_layers;
} pull_ctx;

static void emit(const pull_ctx *p, imgd_pull_event ev)
{
    if (p->opts->progress) {
        ev.count = p->n_layers;
        p->opts->progress(p->opts->progress_ctx, &ev);
    }
}

typedef struct layer_sink {
    const pull_ctx *pull;
    imgd_layer_ingest *ing;
    size_t index;
    const char *digest;
    uint64_t total;
    uint64_t reported;
} layer_sink;

static int feed_layer(void *ctx, const void *data, size_t len, imgd_error **err)
{
    layer_sink *ls = ctx;
    const imgd_pull_options *o = ls->pull->opts;
    if (o->cancelled && o->cancelled(o->cancel_ctx))
        return imgd_error_set(err, ECANCELED, "the pull was cancelled");
    int r = imgd_layer_ingest_feed(ls->ing, data, len, err);
    if (r == 0 && ls->ing->received - ls->reported >= PROGRESS_STEP) {
        ls->reported = ls->ing->received;
        emit(ls->pull, (imgd_pull_event){.kind = IMGD_PULL_LAYER,
                                         .digest = ls->digest,
                                         .state = "downloading",
                                         .index = ls->index,
                                         .done = ls->reported,
                                         .total = ls->total});
    }
    return r;
}

/* Download one layer into ing, from the registry or, for a foreign layer the registry lacks,
 * from the descriptor's urls. Runs on the fetch threads: each uses its own session. */
static int fetch_layer(void *ctx, size_t index, const imgd_descriptor *desc, imgd_layer_ingest *ing,
                       imgd_error **err)
{
    pull_ctx *p = ctx;
    imgd_registry_session *s = NULL;
    int r = imgd_registry_session_clone(&s, p->session, err);
    if (r < 0)
        return r;
    layer_sink ls = {.pull = p,
                     .ing = ing,
                     .index = index,
                     .digest = desc->digest,
                     .total = (uint64_t)desc->size};
    uint64_t delivered = 0;
    emit(p, (imgd_pull_event){.kind = IMGD_PULL_LAYER,
                              .digest = desc->digest,
                              .state = "downloading",
                              .index = index,
                              .total = ls.total});
    imgd_error *first = NULL;
    r = imgd_registry_get_blob(s, desc->digest, NULL, feed_layer, &ls, &delivered, &first);
    for (char **url = desc->urls; r == -ENOENT && delivered == 0 && url && *url; url++) {
        imgd_error_free(first);
        first = NULL;
        r = imgd_registry_get_blob(s, desc->digest, *url, feed_layer, &ls, &delivered, &first);
    }
    imgd_registry_session_free(s);
    if (r < 0) {
        if (err && !*err)
            *err = first;
        else
            imgd_error_free(first);
        return imgd_error_prefix(err, "layer %s", desc->digest);
    }
    emit(p, (imgd_pull_event){.kind = IMGD_PULL_LAYER,
                              .digest = desc->digest,
                              .state = "done",
                              .index = index,
                              .done = delivered,
                              .total = ls.total});
    return 0;
}

/* The image manifest for the platform: the top manifest itself, or the index entry chosen. */
static int resolve(imgd_registry_session *s, const imgd_reference *ref,
                   const imgd_platform *platform, imgd_buf *index, char *index_digest,
                   imgd_buf *manifest, char *manifest_ct, char *manifest_digest, imgd_manifest *out,
                   imgd_error **err)
{
    char ct[128];
    const char *top = ref->digest ? ref->digest : ref->tag;
    int r = imgd_registry_get_manifest(s, top, manifest, ct, manifest_digest, err);
    if (r < 0)
        return r;
    r = imgd_manifest_parse(out, manifest->data, manifest->len, ct, err);
    if (r < 0 || out->kind == IMGD_MANIFEST_IMAGE) {
        snprintf(manifest_ct, 128, "%s", out->media_type);
        return r;
    }
    const imgd_descriptor *chosen = NULL;
    r = imgd_manifest_select(&chosen, out, platform, err);
    char digest[IMGD_DIGEST_LEN + 1];
    if (r == 0)
        snprintf(digest, sizeof(digest), "%s", chosen->digest);
    imgd_manifest_dispose(out);
    if (r < 0)
        return r;
    /* keep the index: its digest is the name the image is pulled by */
    *index = *manifest;
    memset(manifest, 0, sizeof(*manifest));
    snprintf(index_digest, IMGD_DIGEST_LEN + 1, "%s", manifest_digest);
    r = imgd_registry_get_manifest(s, digest, manifest, ct, manifest_digest, err);
    if (r == 0)
        r = imgd_manifest_parse(out, manifest->data, manifest->len, ct, err);
    if (r == 0 && out->kind != IMGD_MANIFEST_IMAGE) {
        imgd_manifest_dispose(out);
        r = imgd_error_set(err, EINVAL, "index entry %s is not an image manifest", digest);
    }
    if (r == 0)
        snprintf(manifest_ct, 128, "%s", out->media_type);
    return r;
}

typedef struct pull_state {
    imgd_reference ref;
    imgd_registry_session *session;
    imgd_buf index, manifest, config;
    char index_digest[IMGD_DIGEST_LEN + 1];
    char manifest_digest[IMGD_DIGEST_LEN + 1];
    char manifest_ct[128];
    imgd_manifest m;
    imgd_image_config cfg;
    imgd_layer_result *results;
    char **tags, **digests;
} pull_state;

static void pull_state_dispose(pull_state *st)
{
    imgd_reference_dispose(&st->ref);
    imgd_registry_session_free(st->session);
    imgd_buf_dispose(&st->index);
    imgd_buf_dispose(&st->manifest);
    imgd_buf_dispose(&st->config);
    imgd_manifest_dispose(&st->m);
    imgd_image_config_dispose(&st->cfg);
    free(st->results);
    imgd_strv_free(st->tags);
    imgd_strv_free(st->digests);
}

/* The names a pulled image gets: the tag it was pulled by, and repository@digest of what the
 * reference resolved to first (the index, when there was one), as containerd records. */
static int pull_names(pull_state *st, imgd_error **err)
{
    _cleanup_free_ char *repo = imgd_reference_repository(&st->ref);
    _cleanup_free_ char *tagged = NULL, *digested = NULL;
    const char *top = *st->index_digest ? st->index_digest : st->manifest_digest;
    st->tags = calloc(1, sizeof(char *));
    st->digests = calloc(1, sizeof(char *));
    if (!repo || !st->tags || !st->digests || asprintf(&digested, "%s@%s", repo, top) < 0 ||
        imgd_strv_push(&st->digests, digested) < 0 ||
        (st->ref.tag && (asprintf(&tagged, "%s:%s", repo, st->ref.tag) < 0 ||
                         imgd_strv_push(&st->tags, tagged) < 0)))
        return imgd_error_set(err, ENOMEM, "out of memory");
    return 0;
}

static int pull_layers(imgd_store *s, pull_state *st, const imgd_pull_options *opts,
                       imgd_error **err)
{
    pull_ctx p = {.session = st->session, .opts = opts, .n_layers = st->m.n_layers};
    st->results = calloc(st->m.n_layers + 1, sizeof(*st->results));
    if (!st->results)
        return imgd_error_set(err, ENOMEM, "out of memory");
    emit(&p, (imgd_pull_event){.kind = IMGD_PULL_RESOLVED, .digest = st->manifest_digest});
    char parent[IMGD_DIGEST_LEN + 1] = "";
    for (size_t i = 0; i < st->m.n_layers; i++) {
        char chain[IMGD_DIGEST_LEN + 1];
        imgd_chain_id(chain, i ? parent : NULL, st->cfg.diff_ids[i]);
        memcpy(parent, chain, sizeof(parent));
        if (imgd_store_layer_has(s, chain))
            emit(&p, (imgd_pull_event){.kind = IMGD_PULL_LAYER,
                                       .digest = st->m.layers[i].digest,
                                       .state = "exists",
                                       .index = i,
                                       .total = (uint64_t)st->m.layers[i].size});
    }
    imgd_layer_source src = {.fetch = fetch_layer, .ctx = &p, .parallel = opts->parallel};
    return imgd_store_fetch_layers(s, st->m.layers, st->m.n_layers, st->cfg.diff_ids, &src,
                                   st->results, err);
}

static int pull_run(imgd_store *s, imgd_registry *reg, const imgd_pull_options *opts,
                    pull_state *st, imgd_image *out, imgd_error **err)
{
    imgd_platform platform;
    if (opts->platform)
        platform = *opts->platform;
    else
        imgd_platform_default(&platform);
    int r = imgd_reference_parse(&st->ref, opts->reference, err);
    if (r == 0)
        r = imgd_registry_session_open(&st->session, reg, &st->ref, opts->credentials, err);
    if (r == 0)
        r = resolve(st->session, &st->ref, &platform, &st->index, st->index_digest, &st->manifest,
                    st->manifest_ct, st->manifest_digest, &st->m, err);
    if (r == 0)
        r = imgd_registry_get_blob_buf(st->session, st->m.config.digest, IMGD_CONFIG_MAX,
                                       &st->config, err);
    if (r == 0)
        r = imgd_image_config_parse(&st->cfg, st->config.data, st->config.len, err);
    if (r == 0 && st->cfg.n_diff_ids != st->m.n_layers)
        r = imgd_error_set(err, EINVAL, "the manifest lists %zu layers, the config %zu",
                           st->m.n_layers, st->cfg.n_diff_ids);
    if (r == 0)
        r = pull_layers(s, st, opts, err);
    if (r == 0)
        r = pull_names(st, err);
    if (r < 0)
        return r;
    imgd_image_parts parts = {
        .manifest = st->manifest.data,
        .manifest_len = st->manifest.len,
        .manifest_media_type = st->manifest_ct,
        .config = st->config.data,
        .config_len = st->config.len,
        .config_media_type = st->m.config.media_type,
        .parsed_config = &st->cfg,
        .layers = st->results,
        .layer_descs = st->m.layers,
        .n_layers = st->m.n_layers,
        .tags = st->tags,
        .repo_digests = st->digests,
        .extra_blob = st->index.data,
        .extra_blob_len = st->index.len,
        .extra_blob_media_type = IMGD_MT_OCI_INDEX,
    };
    return imgd_store_record_image(s, &parts, out, err);
}

int imgd_store_pull(imgd_store *s, imgd_registry *reg, const imgd_pull_options *opts,
                    imgd_image *out, imgd_error **err)
{
    pull_state st;
    memset(&st, 0, sizeof(st));
    imgd_store_use_begin(s);
    int r = pull_run(s, reg, opts, &st, out, err);
    imgd_store_use_end(s);
    pull_state_dispose(&st);
    return r < 0 ? imgd_error_prefix(err, "pull '%s'", opts->reference) : 0;
}
