/* SPDX-License-Identifier: MIT */
/* Manifests, indexes and configs from arbitrary bytes: parsing never crashes, errors are one
 * line, and what parses is consistent (counts within bounds, digests well formed). */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "core/store/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const types[] = {NULL, IMGD_MT_OCI_MANIFEST, IMGD_MT_OCI_INDEX,
                                        IMGD_MT_DOCKER_IMAGE, IMGD_MT_DOCKER_LIST};
    if (size < 1)
        return 0;
    const char *ct = types[data[0] % 5];
    imgd_manifest m;
    imgd_error *err = NULL;
    if (imgd_manifest_parse(&m, (const char *)data + 1, size - 1, ct, &err) == 0) {
        assert(!err);
        assert(m.n_layers <= IMGD_MAX_LAYERS && m.n_manifests <= IMGD_MAX_MANIFESTS);
        for (size_t i = 0; i < m.n_layers; i++) {
            assert(imgd_digest_is_sha256(m.layers[i].digest) && m.layers[i].size >= 0);
            imgd_compression c;
            (void)imgd_layer_compression(&c, m.layers[i].media_type);
        }
        if (m.kind == IMGD_MANIFEST_INDEX) {
            const imgd_descriptor *d = NULL;
            imgd_platform p;
            imgd_platform_default(&p);
            if (imgd_manifest_select(&d, &m, &p, &err) == 0)
                assert(d && imgd_media_type_is_image_manifest(d->media_type));
        }
        imgd_manifest_dispose(&m);
    }
    if (err)
        assert(!strchr(err->message, '\n'));
    imgd_error_free(err);
    err = NULL;
    imgd_image_config c;
    if (imgd_image_config_parse(&c, (const char *)data + 1, size - 1, &err) == 0) {
        for (size_t i = 0; i < c.n_diff_ids; i++)
            assert(imgd_digest_is_sha256(c.diff_ids[i]));
        imgd_image_config_dispose(&c);
    }
    imgd_error_free(err);
    return 0;
}
