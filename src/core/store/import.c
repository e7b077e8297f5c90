/* SPDX-License-Identifier: MIT */
#include "import.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assemble.h"
#include "core/registry/reference.h"
#include "store-private.h"
#include "unpack.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/strutil.h"

#define READ_CHUNK (1024 * 1024)
#define MAX_IMAGES 256

typedef struct import_ctx {
    imgd_store *store;
    int dirfd;
    const imgd_import_options *opts;
    imgd_platform platform;
    imgd_image *images;
    size_t n_images;
} import_ctx;

/* ---- reading files beneath the layout ---- */

static int read_beneath(int dirfd, const char *path, size_t max, char **out, size_t *out_len,
                        imgd_error **err)
{
    int fd = imgd_open_in_root(dirfd, path, O_RDONLY, false);
    if (fd < 0)
        return imgd_error_errno(err, -fd, "open '%.200s'", path);
    char fdpath[64];
    snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
    int r = imgd_read_file(out, out_len, fdpath, max, err);
    close(fd);
    return r < 0 ? imgd_error_prefix(err, "'%.200s'", path) : 0;
}

static int blob_path(char *out, size_t len, const char *digest)
{
    return snprintf(out, len, "blobs/sha256/%s", digest + 7) < (int)len ? 0 : -ENAMETOOLONG;
}

/* Read a blob of the layout and check that it hashes to its digest. */
static int read_blob(int dirfd, const char *digest, size_t max, char **out, size_t *len,
                     imgd_error **err)
{
    char path[128];
    blob_path(path, sizeof(path), digest);
    int r = read_beneath(dirfd, path, max, out, len, err);
    if (r < 0)
        return r;
    char got[IMGD_DIGEST_LEN + 1];
    imgd_sha256_digest(got, *out, *len);
    if (strcmp(got, digest) != 0) {
        free(*out);
        *out = NULL;
        return imgd_error_set(err, EBADMSG, "blob %s hashes to %s", digest, got);
    }
    return 0;
}

typedef struct file_source {
    int dirfd;
    char **paths; /* per layer */
} file_source;

static int fetch_file(void *ctx, size_t index, const imgd_descriptor *desc, imgd_layer_ingest *ing,
                      imgd_error **err)
{
    (void)desc;
    file_source *fs = ctx;
    int fd = imgd_open_in_root(fs->dirfd, fs->paths[index], O_RDONLY, false);
    if (fd < 0)
        return imgd_error_errno(err, -fd, "open layer '%.200s'", fs->paths[index]);
    _cleanup_free_ char *buf = malloc(READ_CHUNK);
    int r = buf ? 0 : imgd_error_set(err, ENOMEM, "out of memory");
    while (r == 0) {
        ssize_t n = read(fd, buf, READ_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            r = imgd_error_errno(err, errno, "read layer '%.200s'", fs->paths[index]);
        if (n <= 0)
            break;
        r = imgd_layer_ingest_feed(ing, buf, (size_t)n, err);
    }
    close(fd);
    return r;
}

/* ---- names ---- */

/* The image's name: the request's tag, else the layout's ref.name when it names a repository.
 * A bare tag ("latest") names nothing on its own: such an image is imported without a name. */
static int choose_names(char ***out, const char *requested, const char *annotated, imgd_error **err)
{
    const char *text = requested ? requested : annotated;
    *out = calloc(1, sizeof(char *));
    if (!*out)
        return imgd_error_set(err, ENOMEM, "out of memory");
    if (!text || (!requested && !strchr(text, '/')))
        return 0;
    imgd_reference ref;
    int r = imgd_reference_parse(&ref, text, err);
    if (r < 0)
        return requested ? r : 0; /* a malformed annotation is ignored, a bad request is not */
    _cleanup_free_ char *name = ref.digest ? NULL : imgd_reference_format(&ref);
    imgd_reference_dispose(&ref);
    if (name && imgd_strv_push(out, name) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    return 0;
}

static int add_result(import_ctx *ctx, imgd_image *img, imgd_error **err)
{
    imgd_image *v = realloc(ctx->images, (ctx->n_images + 1) * sizeof(*v));
    if (!v) {
        imgd_image_dispose(img);
        return imgd_error_set(err, ENOMEM, "out of memory");
    }
    ctx->images = v;
    ctx->images[ctx->n_images++] = *img;
    return 0;
}

/* ---- OCI layout ---- */

static int import_layers_and_record(import_ctx *ctx, const imgd_manifest *m, const char *mbytes,
                                    size_t mlen, const char *cbytes, size_t clen,
                                    const imgd_image_config *cfg, char **paths, char **names,
                                    imgd_error **err)
{
    _cleanup_free_ imgd_layer_result *results = calloc(m->n_layers + 1, sizeof(*results));
    if (!results)
        return imgd_error_set(err, ENOMEM, "out of memory");
    file_source fs = {.dirfd = ctx->dirfd, .paths = paths};
    imgd_layer_source src = {.fetch = fetch_file, .ctx = &fs, .parallel = ctx->opts->parallel};
    int r = imgd_store_fetch_layers(ctx->store, m->layers, m->n_layers, cfg->diff_ids, &src,
                                    results, err);
    if (r < 0)
        return r;
    imgd_image_parts parts = {
        .manifest = mbytes,
        .manifest_len = mlen,
        .manifest_media_type = m->media_type,
        .config = cbytes,
        .config_len = clen,
        .config_media_type = m->config.media_type,
        .parsed_config = cfg,
        .layers = results,
        .layer_descs = m->layers,
        .n_layers = m->n_layers,
        .tags = names,
    };
    imgd_image img;
    r = imgd_store_record_image(ctx->store, &parts, &img, err);
    return r < 0 ? r : add_result(ctx, &img, err);
}

static int import_oci_image(import_ctx *ctx, const imgd_manifest *m, const char *mbytes,
                            size_t mlen, const char *ref_name, imgd_error **err)
{
    _cleanup_free_ char *cbytes = NULL;
    size_t clen = 0;
    int r = read_blob(ctx->dirfd, m->config.digest, IMGD_CONFIG_MAX, &cbytes, &clen, err);
    if (r < 0)
        return r;
    imgd_image_config cfg;
    r = imgd_image_config_parse(&cfg, cbytes, clen, err);
    if (r < 0)
        return r;
    _cleanup_strv_ char **paths = calloc(m->n_layers + 1, sizeof(char *));
    _cleanup_strv_ char **names = NULL;
    if (cfg.n_diff_ids != m->n_layers)
        r = imgd_error_set(err, EINVAL, "image has %zu layers but its config lists %zu",
                           m->n_layers, cfg.n_diff_ids);
    for (size_t i = 0; r == 0 && paths && i < m->n_layers; i++) {
        char p[128];
        blob_path(p, sizeof(p), m->layers[i].digest);
        if (!(paths[i] = strdup(p)))
            r = imgd_error_set(err, ENOMEM, "out of memory");
    }
    if (r == 0 && !paths)
        r = imgd_error_set(err, ENOMEM, "out of memory");
    if (r == 0)
        r = choose_names(&names, ctx->opts->tag, ref_name, err);
    if (r == 0)
        r = import_layers_and_record(ctx, m, mbytes, mlen, cbytes, clen, &cfg, paths, names, err);
    imgd_image_config_dispose(&cfg);
    return r;
}

/* One entry of index.json: an image, or an index to choose the platform's image from. */
static int import_oci_entry(import_ctx *ctx, const imgd_descriptor *d, unsigned depth,
                            imgd_error **err)
{
    _cleanup_free_ char *bytes = NULL;
    size_t len = 0;
    int r = read_blob(ctx->dirfd, d->digest, IMGD_MANIFEST_MAX, &bytes, &len, err);
    if (r < 0)
        return r;
    imgd_manifest m;
    r = imgd_manifest_parse(&m, bytes, len, d->media_type, err);
    if (r < 0)
        return r;
    if (m.kind == IMGD_MANIFEST_IMAGE) {
        r = import_oci_image(ctx, &m, bytes, len, d->ref_name, err);
    } else if (depth >= 2) {
        r = imgd_error_set(err, EINVAL, "index %s nests too deeply", d->digest);
    } else {
        const imgd_descriptor *chosen = NULL;
        r = imgd_manifest_select(&chosen, &m, &ctx->platform, err);
        if (r == 0) {
            imgd_descriptor pick = *chosen;
            pick.urls = NULL;
            pick.ref_name = d->ref_name; /* the index's name names the chosen image */
            r = import_oci_entry(ctx, &pick, depth + 1, err);
        }
    }
    imgd_manifest_dispose(&m);
    return r;
}

static int import_oci(import_ctx *ctx, imgd_error **err)
{
    _cleanup_free_ char *bytes = NULL;
    size_t len = 0;
    int r = read_beneath(ctx->dirfd, "index.json", IMGD_MANIFEST_MAX, &bytes, &len, err);
    if (r < 0)
        return r;
    imgd_manifest index;
    r = imgd_manifest_parse(&index, bytes, len, IMGD_MT_OCI_INDEX, err);
    if (r < 0)
        return imgd_error_prefix(err, "index.json");
    if (ctx->opts->tag && index.n_manifests != 1)
        r = imgd_error_set(err, EINVAL,
                           "the layout holds %zu images; a name can be given to one only",
                           index.n_manifests);
    for (size_t i = 0; r == 0 && i < index.n_manifests; i++)
        r = import_oci_entry(ctx, &index.manifests[i], 0, err);
    imgd_manifest_dispose(&index);
    return r;
}

/* ---- docker-archive ---- */

/* The v2s2 manifest docker would have pushed for these layers (the archive has none). */
static char *docker_manifest(const char *config, size_t config_len, const imgd_layer_result *layers,
                             size_t n, size_t *len)
{
    char digest[IMGD_DIGEST_LEN + 1];
    imgd_sha256_digest(digest, config, config_len);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr,
                              json_pack("{s:s, s:I, s:s}", "mediaType",
                                        "application/vnd.docker.image.rootfs.diff.tar", "size",
                                        (json_int_t)layers[i].size, "digest", layers[i].digest));
    json_t *m = json_pack("{s:i, s:s, s:{s:s, s:I, s:s}, s:o}", "schemaVersion", 2, "mediaType",
                          IMGD_MT_DOCKER_IMAGE, "config", "mediaType", IMGD_MT_DOCKER_CONFIG,
                          "size", (json_int_t)config_len, "digest", digest, "layers", arr);
    char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    if (text)
        *len = strlen(text);
    return text;
}

static int docker_names(char ***out, const json_t *tags, const char *requested, imgd_error **err)
{
    if (requested)
        return choose_names(out, requested, NULL, err);
    *out = calloc(1, sizeof(char *));
    if (!*out)
        return imgd_error_set(err, ENOMEM, "out of memory");
    size_t i;
    json_t *t;
    json_array_foreach (tags, i, t) {
        imgd_reference ref;
        if (!json_is_string(t) || imgd_reference_parse(&ref, json_string_value(t), NULL) < 0)
            continue; /* a name docker itself would not have written */
        _cleanup_free_ char *name = ref.digest ? NULL : imgd_reference_format(&ref);
        imgd_reference_dispose(&ref);
        if (name && imgd_strv_push(out, name) < 0)
            return imgd_error_set(err, ENOMEM, "out of memory");
    }
    return 0;
}

static int import_docker_item(import_ctx *ctx, const json_t *item, imgd_error **err)
{
    const char *config_path = json_string_value(json_object_get(item, "Config"));
    json_t *layers = json_object_get(item, "Layers");
    if (!config_path || !json_is_array(layers) || json_array_size(layers) > IMGD_MAX_LAYERS)
        return imgd_error_set(err, EINVAL, "manifest.json: an entry needs Config and Layers");
    _cleanup_free_ char *cbytes = NULL;
    size_t clen = 0;
    int r = read_beneath(ctx->dirfd, config_path, IMGD_CONFIG_MAX, &cbytes, &clen, err);
    imgd_image_config cfg;
    if (r < 0 || (r = imgd_image_config_parse(&cfg, cbytes, clen, err)) < 0)
        return r;
    size_t n = json_array_size(layers);
    imgd_manifest m = {.kind = IMGD_MANIFEST_IMAGE, .n_layers = n};
    m.layers = calloc(n + 1, sizeof(imgd_descriptor));
    _cleanup_strv_ char **paths = calloc(n + 1, sizeof(char *));
    _cleanup_strv_ char **names = NULL;
    _cleanup_free_ imgd_layer_result *results = calloc(n + 1, sizeof(*results));
    if (!m.layers || !paths || !results) {
        free(m.layers);
        imgd_image_config_dispose(&cfg);
        return imgd_error_set(err, ENOMEM, "out of memory");
    }
    if (cfg.n_diff_ids != n)
        r = imgd_error_set(err, EINVAL, "'%s' lists %zu layers, manifest.json %zu", config_path,
                           cfg.n_diff_ids, n);
    for (size_t i = 0; r == 0 && i < n; i++) {
        const char *p = json_string_value(json_array_get(layers, i));
        snprintf(m.layers[i].media_type, sizeof(m.layers[i].media_type),
                 "application/vnd.docker.image.rootfs.diff.tar");
        m.layers[i].size = -1;
        if (!p || !(paths[i] = strdup(p)))
            r = imgd_error_set(err, EINVAL, "manifest.json: Layers[%zu] is not a path", i);
    }
    if (r == 0)
        r = docker_names(&names, json_object_get(item, "RepoTags"), ctx->opts->tag, err);
    file_source fs = {.dirfd = ctx->dirfd, .paths = paths};
    imgd_layer_source src = {.fetch = fetch_file, .ctx = &fs, .parallel = ctx->opts->parallel};
    if (r == 0)
        r = imgd_store_fetch_layers(ctx->store, m.layers, n, cfg.diff_ids, &src, results, err);
    size_t mlen = 0;
    _cleanup_free_ char *mbytes = r == 0 ? docker_manifest(cbytes, clen, results, n, &mlen) : NULL;
    if (r == 0 && !mbytes)
        r = imgd_error_set(err, ENOMEM, "out of memory");
    imgd_image_parts parts = {.manifest = mbytes,
                              .manifest_len = mlen,
                              .manifest_media_type = IMGD_MT_DOCKER_IMAGE,
                              .config = cbytes,
                              .config_len = clen,
                              .config_media_type = IMGD_MT_DOCKER_CONFIG,
                              .parsed_config = &cfg,
                              .layers = results,
                              .layer_descs = m.layers,
                              .n_layers = n,
                              .tags = names};
    imgd_image img;
    if (r == 0 && (r = imgd_store_record_image(ctx->store, &parts, &img, err)) == 0)
        r = add_result(ctx, &img, err);
    imgd_manifest_dispose(&m);
    imgd_image_config_dispose(&cfg);
    return r;
}

static int import_docker(import_ctx *ctx, imgd_error **err)
{
    _cleanup_free_ char *bytes = NULL;
    size_t len = 0;
    int r = read_beneath(ctx->dirfd, "manifest.json", IMGD_MANIFEST_MAX, &bytes, &len, err);
    if (r < 0)
        return r;
    json_t *doc = json_loadb(bytes, len, 0, NULL);
    if (!json_is_array(doc) || json_array_size(doc) == 0 || json_array_size(doc) > MAX_IMAGES) {
        json_decref(doc);
        return imgd_error_set(err, EINVAL, "manifest.json must be a non-empty array of images");
    }
    if (ctx->opts->tag && json_array_size(doc) != 1)
        r = imgd_error_set(err, EINVAL,
                           "the archive holds %zu images; a name can be given to one only",
                           json_array_size(doc));
    for (size_t i = 0; r == 0 && i < json_array_size(doc); i++)
        r = import_docker_item(ctx, json_array_get(doc, i), err);
    json_decref(doc);
    return r;
}

/* ---- entry point ---- */

static int import_dir(import_ctx *ctx, const char *path, imgd_error **err)
{
    if (faccessat(ctx->dirfd, "index.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0 &&
        faccessat(ctx->dirfd, "oci-layout", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        return import_oci(ctx, err);
    if (faccessat(ctx->dirfd, "manifest.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        return import_docker(ctx, err);
    return imgd_error_set(err, EINVAL,
                          "'%s' is neither an OCI image layout (oci-layout, index.json) nor a "
                          "docker-archive (manifest.json)",
                          path);
}

/* Unpack an archive file into a staging directory to import from. */
static int open_archive(imgd_store *s, const char *path, imgd_layer_stage *stage, imgd_error **err)
{
    int r = imgd_store_layer_stage(s, stage, err);
    if (r < 0)
        return r;
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return imgd_error_errno(err, errno, "open '%s'", path);
    imgd_unpacker *u = NULL;
    r = imgd_unpacker_new(&u, stage->dirfd, IMGD_COMPRESSION_DETECT, NULL, err);
    _cleanup_free_ char *buf = malloc(READ_CHUNK);
    if (r == 0 && !buf)
        r = imgd_error_set(err, ENOMEM, "out of memory");
    while (r == 0) {
        ssize_t n = read(fd, buf, READ_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            r = imgd_error_errno(err, errno, "read '%s'", path);
        if (n <= 0)
            break;
        r = imgd_unpacker_feed(u, buf, (size_t)n, err);
    }
    char ignored[IMGD_DIGEST_LEN + 1];
    if (r == 0)
        r = imgd_unpacker_finish(u, ignored, NULL, err);
    imgd_unpacker_free(u);
    return r < 0 ? imgd_error_prefix(err, "archive '%s'", path) : 0;
}

static int import_from(imgd_store *s, int dirfd, const char *name, const imgd_import_options *opts,
                       imgd_image **out, size_t *n_out, imgd_error **err)
{
    import_ctx ctx = {.store = s, .dirfd = dirfd, .opts = opts};
    if (opts->platform)
        ctx.platform = *opts->platform;
    else
        imgd_platform_default(&ctx.platform);
    imgd_store_use_begin(s);
    int r = import_dir(&ctx, name, err);
    imgd_store_use_end(s);
    if (r < 0) {
        for (size_t i = 0; i < ctx.n_images; i++)
            imgd_image_dispose(&ctx.images[i]);
        free(ctx.images);
        return imgd_error_prefix(err, "import '%s'", name);
    }
    *out = ctx.images;
    *n_out = ctx.n_images;
    return 0;
}

int imgd_store_import_path(imgd_store *s, const char *path, const imgd_import_options *opts,
                           imgd_image **out, size_t *n_out, imgd_error **err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return imgd_error_errno(err, errno, "import '%s'", path);
    imgd_layer_stage stage = {.dirfd = -1};
    int dirfd = -1, r = 0;
    if (S_ISDIR(st.st_mode)) {
        dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
            r = imgd_error_errno(err, errno, "open '%s'", path);
    } else if (S_ISREG(st.st_mode)) {
        r = open_archive(s, path, &stage, err);
        dirfd = r == 0 ? dup(stage.dirfd) : -1;
    } else {
        r = imgd_error_set(err, EINVAL, "'%s' is neither a directory nor a file", path);
    }
    if (r == 0)
        r = import_from(s, dirfd, path, opts, out, n_out, err);
    else
        imgd_error_prefix(err, "import '%s'", path);
    if (dirfd >= 0)
        close(dirfd);
    imgd_store_layer_abort(s, &stage);
    return r;
}

/* ---- archives arriving as a stream ---- */

struct imgd_archive_receiver {
    imgd_store *store;
    imgd_layer_stage stage;
    imgd_unpacker *unpacker;
};

int imgd_archive_receiver_new(imgd_archive_receiver **out, imgd_store *s, imgd_error **err)
{
    imgd_archive_receiver *r = calloc(1, sizeof(*r));
    if (!r)
        return imgd_error_set(err, ENOMEM, "out of memory");
    r->store = s;
    r->stage.dirfd = -1;
    int rc = imgd_store_layer_stage(s, &r->stage, err);
    if (rc == 0)
        rc = imgd_unpacker_new(&r->unpacker, r->stage.dirfd, IMGD_COMPRESSION_DETECT, NULL, err);
    if (rc < 0) {
        imgd_archive_receiver_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int imgd_archive_receiver_feed(imgd_archive_receiver *r, const void *data, size_t len,
                               imgd_error **err)
{
    int rc = imgd_unpacker_feed(r->unpacker, data, len, err);
    return rc < 0 ? imgd_error_prefix(err, "archive") : 0;
}

int imgd_archive_receiver_import(imgd_archive_receiver *r, const imgd_import_options *opts,
                                 imgd_image **out, size_t *n_out, imgd_error **err)
{
    char ignored[IMGD_DIGEST_LEN + 1];
    int rc = imgd_unpacker_finish(r->unpacker, ignored, NULL, err);
    if (rc < 0)
        return imgd_error_prefix(err, "archive");
    return import_from(r->store, r->stage.dirfd, "uploaded archive", opts, out, n_out, err);
}

void imgd_archive_receiver_free(imgd_archive_receiver *r)
{
    if (!r)
        return;
    imgd_unpacker_free(r->unpacker);
    imgd_store_layer_abort(r->store, &r->stage);
    free(r);
}
