/* SPDX-License-Identifier: MIT */
#include "ingest.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int imgd_layer_ingest_begin(imgd_layer_ingest *ing, imgd_store *s, const char *media_type,
                            const char *expected_digest, int64_t expected_size, const char *parent,
                            const char *expected_diff_id, imgd_error **err)
{
    memset(ing, 0, sizeof(*ing));
    ing->stage.dirfd = -1;
    ing->store = s;
    imgd_compression c;
    if (imgd_layer_compression(&c, media_type) < 0)
        return imgd_error_set(err, EOPNOTSUPP, "layer media type '%.100s' cannot be unpacked",
                              media_type);
    snprintf(ing->media_type, sizeof(ing->media_type), "%s", media_type);
    snprintf(ing->expected_digest, sizeof(ing->expected_digest), "%s", expected_digest);
    snprintf(ing->expected_diff_id, sizeof(ing->expected_diff_id), "%s", expected_diff_id);
    snprintf(ing->parent, sizeof(ing->parent), "%s", parent ? parent : "");
    ing->expected_size = expected_size;
    if (imgd_chain_id(ing->chain_id, parent, expected_diff_id) < 0 ||
        imgd_sha256_init(&ing->blob_hash) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    int r = imgd_store_layer_stage(s, &ing->stage, err);
    if (r == 0)
        r = imgd_unpacker_new(&ing->unpacker, ing->stage.dirfd, c, NULL, err);
    if (r < 0)
        imgd_layer_ingest_abort(ing);
    return r;
}

int imgd_layer_ingest_feed(imgd_layer_ingest *ing, const void *data, size_t len, imgd_error **err)
{
    ing->received += len;
    if (ing->expected_size >= 0 && ing->received > (uint64_t)ing->expected_size)
        return imgd_error_set(err, EFBIG, "layer %s is larger than its descriptor's %lld bytes",
                              ing->expected_digest, (long long)ing->expected_size);
    imgd_sha256_update(&ing->blob_hash, data, len);
    return imgd_unpacker_feed(ing->unpacker, data, len, err);
}

static int verify(imgd_layer_ingest *ing, const char *diff_id, imgd_error **err)
{
    const char *what = *ing->expected_digest ? ing->expected_digest : ing->digest;
    if (ing->expected_size >= 0 && ing->received != (uint64_t)ing->expected_size)
        return imgd_error_set(err, EBADMSG, "layer %s: got %llu bytes, the manifest says %lld",
                              what, (unsigned long long)ing->received,
                              (long long)ing->expected_size);
    if (*ing->expected_digest && strcmp(ing->digest, ing->expected_digest) != 0)
        return imgd_error_set(err, EBADMSG, "layer %s: the content hashes to %s instead",
                              ing->expected_digest, ing->digest);
    if (strcmp(diff_id, ing->expected_diff_id) != 0)
        return imgd_error_set(err, EBADMSG,
                              "layer %s: unpacked content hashes to %s, the config says %s", what,
                              diff_id, ing->expected_diff_id);
    return 0;
}

int imgd_layer_ingest_commit(imgd_layer_ingest *ing, imgd_error **err)
{
    char diff_id[IMGD_DIGEST_LEN + 1];
    int r = imgd_unpacker_finish(ing->unpacker, diff_id, &ing->unpacked_size, err);
    if (r == 0) {
        imgd_sha256_final(&ing->blob_hash, ing->digest);
        r = verify(ing, diff_id, err);
    }
    imgd_unpacker_free(ing->unpacker);
    ing->unpacker = NULL;
    if (r == 0)
        r = imgd_store_layer_commit(ing->store, &ing->stage, ing->chain_id,
                                    *ing->parent ? ing->parent : NULL, diff_id, ing->unpacked_size,
                                    err);
    if (r == 0)
        r = imgd_store_layer_blob_record(ing->store, ing->digest, diff_id, (int64_t)ing->received,
                                         ing->media_type, err);
    imgd_layer_ingest_abort(ing);
    return r;
}

void imgd_layer_ingest_abort(imgd_layer_ingest *ing)
{
    if (!ing->store)
        return;
    imgd_unpacker_free(ing->unpacker);
    ing->unpacker = NULL;
    imgd_store_layer_abort(ing->store, &ing->stage);
    imgd_sha256_dispose(&ing->blob_hash);
}
