/* SPDX-License-Identifier: MIT */
#include "manifest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strutil.h"

bool imgd_media_type_is_image_manifest(const char *mt)
{
    return strcmp(mt, IMGD_MT_OCI_MANIFEST) == 0 || strcmp(mt, IMGD_MT_DOCKER_IMAGE) == 0;
}

bool imgd_media_type_is_index(const char *mt)
{
    return strcmp(mt, IMGD_MT_OCI_INDEX) == 0 || strcmp(mt, IMGD_MT_DOCKER_LIST) == 0;
}

static void descriptor_dispose(imgd_descriptor *d)
{
    imgd_strv_free(d->urls);
    free(d->ref_name);
    d->urls = NULL;
    d->ref_name = NULL;
}

void imgd_manifest_dispose(imgd_manifest *m)
{
    descriptor_dispose(&m->config);
    for (size_t i = 0; i < m->n_layers; i++)
        descriptor_dispose(&m->layers[i]);
    for (size_t i = 0; i < m->n_manifests; i++)
        descriptor_dispose(&m->manifests[i]);
    free(m->layers);
    free(m->manifests);
    memset(m, 0, sizeof(*m));
}

/* "application/json; charset=utf-8" -> "application/json" */
static void media_type_copy(char *out, size_t len, const char *in)
{
    size_t n = strcspn(in, "; \t");
    snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), in);
}

static int parse_descriptor(imgd_descriptor *d, const json_t *o, const char *where,
                            imgd_error **err)
{
    const char *mt = json_string_value(json_object_get(o, "mediaType"));
    const char *digest = json_string_value(json_object_get(o, "digest"));
    json_t *size = json_object_get(o, "size");
    if (!json_is_object(o) || !mt || !digest || !json_is_integer(size) ||
        json_integer_value(size) < 0)
        return imgd_error_set(err, EINVAL,
                              "%s: a descriptor needs mediaType, digest and a size >= 0", where);
    if (strlen(mt) >= sizeof(d->media_type))
        return imgd_error_set(err, EINVAL, "%s: media type is too long", where);
    if (!imgd_digest_is_sha256(digest)) {
        bool other = strchr(digest, ':') && strncmp(digest, "sha256:", 7) != 0;
        return imgd_error_set(err, other ? EOPNOTSUPP : EINVAL, "%s: %s digest '%.80s'", where,
                              other ? "unsupported" : "invalid", digest);
    }
    snprintf(d->media_type, sizeof(d->media_type), "%s", mt);
    snprintf(d->digest, sizeof(d->digest), "%s", digest);
    d->size = json_integer_value(size);
    json_t *urls = json_object_get(o, "urls");
    size_t i;
    json_t *u;
    json_array_foreach (urls, i, u) {
        if (i >= 16 || !json_is_string(u) || imgd_strv_push(&d->urls, json_string_value(u)) < 0)
            return imgd_error_set(err, EINVAL, "%s: invalid urls", where);
    }
    const char *ref_name = json_string_value(
        json_object_get(json_object_get(o, "annotations"), "org.opencontainers.image.ref.name"));
    if (ref_name && !(d->ref_name = strdup(ref_name)))
        return imgd_error_set(err, ENOMEM, "out of memory");
    json_t *platform = json_object_get(o, "platform");
    if (platform && imgd_platform_from_json(&d->platform, platform) == 0)
        d->has_platform = true;
    return 0;
}

static int parse_list(imgd_descriptor **out, size_t *n, const json_t *arr, size_t max,
                      const char *what, imgd_error **err)
{
    if (!json_is_array(arr))
        return imgd_error_set(err, EINVAL, "manifest: '%s' must be an array", what);
    size_t count = json_array_size(arr);
    if (count > max)
        return imgd_error_set(err, EINVAL, "manifest: more than %zu %s", max, what);
    *out = calloc(count ? count : 1, sizeof(imgd_descriptor));
    if (!*out)
        return imgd_error_set(err, ENOMEM, "out of memory");
    *n = count;
    for (size_t i = 0; i < count; i++) {
        char where[64];
        snprintf(where, sizeof(where), "manifest %s[%zu]", what, i);
        int r = parse_descriptor(&(*out)[i], json_array_get(arr, i), where, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int manifest_kind(imgd_manifest *m, const json_t *doc, const char *content_type,
                         imgd_error **err)
{
    char ct[128] = "";
    if (content_type)
        media_type_copy(ct, sizeof(ct), content_type);
    const char *field = json_string_value(json_object_get(doc, "mediaType"));
    json_t *version = json_object_get(doc, "schemaVersion");
    if ((json_is_integer(version) && json_integer_value(version) == 1) ||
        strstr(ct, "distribution.manifest.v1") ||
        (field && strstr(field, "distribution.manifest.v1")))
        return imgd_error_set(err, EINVAL,
                              "manifest: Docker schema 1 is not supported (deprecated since "
                              "2017); push the image again with a current client");
    bool ct_known = imgd_media_type_is_image_manifest(ct) || imgd_media_type_is_index(ct);
    if (field && ct_known && strcmp(field, ct) != 0)
        return imgd_error_set(err, EINVAL, "manifest: mediaType '%s' contradicts '%s'", field, ct);
    const char *mt = ct_known ? ct : field;
    if (!mt)
        mt = json_object_get(doc, "manifests") ? IMGD_MT_OCI_INDEX : IMGD_MT_OCI_MANIFEST;
    if (!imgd_media_type_is_image_manifest(mt) && !imgd_media_type_is_index(mt))
        return imgd_error_set(err, EOPNOTSUPP, "manifest: unsupported media type '%.100s'", mt);
    m->kind = imgd_media_type_is_index(mt) ? IMGD_MANIFEST_INDEX : IMGD_MANIFEST_IMAGE;
    snprintf(m->media_type, sizeof(m->media_type), "%s", mt);
    return 0;
}

int imgd_manifest_parse(imgd_manifest *out, const char *body, size_t len, const char *content_type,
                        imgd_error **err)
{
    if (len > IMGD_MANIFEST_MAX)
        return imgd_error_set(err, EFBIG, "manifest is larger than %u bytes", IMGD_MANIFEST_MAX);
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return imgd_error_set(err, EINVAL, "manifest is not a JSON object: %s", jerr.text);
    }
    imgd_manifest m;
    memset(&m, 0, sizeof(m));
    int r = manifest_kind(&m, doc, content_type, err);
    if (r == 0 && m.kind == IMGD_MANIFEST_INDEX)
        r = parse_list(&m.manifests, &m.n_manifests, json_object_get(doc, "manifests"),
                       IMGD_MAX_MANIFESTS, "manifests", err);
    if (r == 0 && m.kind == IMGD_MANIFEST_IMAGE) {
        r = parse_descriptor(&m.config, json_object_get(doc, "config"), "manifest config", err);
        if (r == 0)
            r = parse_list(&m.layers, &m.n_layers, json_object_get(doc, "layers"), IMGD_MAX_LAYERS,
                           "layers", err);
    }
    json_decref(doc);
    if (r < 0) {
        imgd_manifest_dispose(&m);
        return r;
    }
    *out = m;
    return 0;
}

int imgd_manifest_select(const imgd_descriptor **out, const imgd_manifest *index,
                         const imgd_platform *want, imgd_error **err)
{
    char offered[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < index->n_manifests; i++) {
        const imgd_descriptor *d = &index->manifests[i];
        if (!imgd_media_type_is_image_manifest(d->media_type) || !d->has_platform ||
            strcmp(d->platform.os, "unknown") == 0)
            continue;
        if (imgd_platform_match(want, &d->platform)) {
            *out = d;
            return 0;
        }
        char p[100];
        imgd_platform_format(p, sizeof(p), &d->platform);
        int n = snprintf(offered + used, sizeof(offered) - used, "%s%s", used ? ", " : "", p);
        if (n > 0 && (size_t)n < sizeof(offered) - used)
            used += (size_t)n;
    }
    char w[100];
    imgd_platform_format(w, sizeof(w), want);
    return imgd_error_set(err, ENOENT, "no image for platform %s (offered: %s)", w,
                          used ? offered : "none");
}

void imgd_image_config_dispose(imgd_image_config *c)
{
    free(c->os);
    free(c->architecture);
    free(c->variant);
    free(c->created);
    free(c->diff_ids);
    memset(c, 0, sizeof(*c));
}

static int config_fields(imgd_image_config *c, const json_t *doc, imgd_error **err)
{
    const char *os = json_string_value(json_object_get(doc, "os"));
    const char *arch = json_string_value(json_object_get(doc, "architecture"));
    const char *variant = json_string_value(json_object_get(doc, "variant"));
    const char *created = json_string_value(json_object_get(doc, "created"));
    if (!os || !arch)
        return imgd_error_set(err, EINVAL, "image config: 'os' and 'architecture' are required");
    c->os = strdup(os);
    c->architecture = strdup(arch);
    c->variant = strdup(variant ? variant : "");
    c->created = created ? strdup(created) : NULL;
    if (!c->os || !c->architecture || !c->variant || (created && !c->created))
        return imgd_error_set(err, ENOMEM, "out of memory");
    return 0;
}

int imgd_image_config_parse(imgd_image_config *out, const char *body, size_t len, imgd_error **err)
{
    json_error_t jerr;
    json_t *doc = len <= IMGD_CONFIG_MAX ? json_loadb(body, len, 0, &jerr) : NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        return imgd_error_set(err, EINVAL, "image config is not a JSON object");
    }
    imgd_image_config c;
    memset(&c, 0, sizeof(c));
    int r = config_fields(&c, doc, err);
    json_t *rootfs = json_object_get(doc, "rootfs");
    json_t *ids = json_object_get(rootfs, "diff_ids");
    const char *type = json_string_value(json_object_get(rootfs, "type"));
    if (r == 0 && (!type || strcmp(type, "layers") != 0 || !json_is_array(ids) ||
                   json_array_size(ids) > IMGD_MAX_LAYERS))
        r = imgd_error_set(err, EINVAL,
                           "image config: rootfs must be of type 'layers' with "
                           "diff_ids");
    if (r == 0) {
        c.n_diff_ids = json_array_size(ids);
        c.diff_ids = calloc(c.n_diff_ids ? c.n_diff_ids : 1, sizeof(*c.diff_ids));
        if (!c.diff_ids)
            r = imgd_error_set(err, ENOMEM, "out of memory");
    }
    for (size_t i = 0; r == 0 && i < c.n_diff_ids; i++) {
        const char *d = json_string_value(json_array_get(ids, i));
        if (!d || !imgd_digest_is_sha256(d))
            r = imgd_error_set(err, EINVAL, "image config: diff_ids[%zu] is not a sha256 digest",
                               i);
        else
            snprintf(c.diff_ids[i], sizeof(c.diff_ids[i]), "%s", d);
    }
    json_decref(doc);
    if (r < 0) {
        imgd_image_config_dispose(&c);
        return r;
    }
    *out = c;
    return 0;
}

int imgd_layer_compression(imgd_compression *out, const char *mt)
{
    static const struct {
        const char *suffix;
        imgd_compression c;
    } kinds[] = {
        {"tar+gzip", IMGD_COMPRESSION_GZIP}, {"tar+zstd", IMGD_COMPRESSION_ZSTD},
        {"tar.gzip", IMGD_COMPRESSION_GZIP}, {"tar.zstd", IMGD_COMPRESSION_ZSTD},
        {".tar", IMGD_COMPRESSION_DETECT},
    };
    bool oci = imgd_str_has_prefix(mt, "application/vnd.oci.image.layer.");
    bool docker = imgd_str_has_prefix(mt, "application/vnd.docker.image.rootfs.");
    if (!oci && !docker)
        return -EOPNOTSUPP;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (imgd_str_has_suffix(mt, kinds[i].suffix)) {
            /* OCI's plain "tar" is exactly that; Docker's may be compressed anyway */
            *out =
                oci && kinds[i].c == IMGD_COMPRESSION_DETECT ? IMGD_COMPRESSION_NONE : kinds[i].c;
            return 0;
        }
    }
    return -EOPNOTSUPP;
}
