/* SPDX-License-Identifier: MIT */
/* The protobuf codec and the CRI response decoders. Input: any bytes, decoded as a
 * ListImagesResponse, an ImageStatusResponse, a VersionResponse and a gRPC frame, and walked
 * field by field down every sub-message. Whatever the input, each decoder returns cleanly with
 * a one-line EBADMSG/E2BIG message, or with images whose fields are never NULL and hold valid
 * UTF-8; re-encoding those images and decoding them again gives the same images. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cri/cri.h"
#include "core/cri/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT (256 * 1024)

static void check_error(int r, imgd_error *err)
{
    if (r == 0) {
        assert(err == NULL);
        return;
    }
    assert(r == -EBADMSG || r == -E2BIG || r == -ENOMEM);
    assert(err != NULL && err->message != NULL);
    assert(err->code == -r);
    assert(strchr(err->message, '\n') == NULL);
}

static void check_string(const char *s)
{
    assert(s != NULL);
    assert(imgd_proto_utf8_valid((const uint8_t *)s, strlen(s)));
}

static void check_image(const imgd_cri_image *img)
{
    check_string(img->id);
    check_string(img->username);
    assert(img->repo_tags != NULL && img->repo_digests != NULL);
    for (char **s = img->repo_tags; *s; s++)
        check_string(*s);
    for (char **s = img->repo_digests; *s; s++)
        check_string(*s);
}

static void encode_strv(imgd_buf *b, uint32_t field, char **v)
{
    for (; *v; v++)
        assert(imgd_proto_put_string(b, field, *v) == 0);
}

/* Image back to bytes, the fields in declaration order, defaults omitted as proto3 does. */
static void encode_image(imgd_buf *b, const imgd_cri_image *img)
{
    if (*img->id)
        assert(imgd_proto_put_string(b, 1, img->id) == 0);
    encode_strv(b, 2, img->repo_tags);
    encode_strv(b, 3, img->repo_digests);
    if (img->size)
        assert(imgd_proto_put_uint(b, 4, img->size) == 0);
    if (img->has_uid) {
        imgd_buf uid = {0};
        if (img->uid)
            assert(imgd_proto_put_uint(&uid, 1, (uint64_t)img->uid) == 0);
        assert(imgd_proto_put_bytes(b, 5, uid.data, uid.len) == 0);
        imgd_buf_dispose(&uid);
    }
    if (*img->username)
        assert(imgd_proto_put_string(b, 6, img->username) == 0);
    if (img->pinned)
        assert(imgd_proto_put_uint(b, 8, 1) == 0);
}

static bool strv_equal(char **a, char **b)
{
    for (; *a && *b; a++, b++) {
        if (strcmp(*a, *b) != 0)
            return false;
    }
    return *a == NULL && *b == NULL;
}

static void check_same(const imgd_cri_image *a, const imgd_cri_image *b)
{
    assert(strcmp(a->id, b->id) == 0 && strcmp(a->username, b->username) == 0);
    assert(strv_equal(a->repo_tags, b->repo_tags));
    assert(strv_equal(a->repo_digests, b->repo_digests));
    assert(a->size == b->size && a->pinned == b->pinned && a->has_uid == b->has_uid);
    assert(a->uid == b->uid);
}

static void round_trip(const imgd_cri_image *v, size_t n)
{
    imgd_buf msg = {0};
    for (size_t i = 0; i < n; i++) {
        imgd_buf img = {0};
        encode_image(&img, &v[i]);
        assert(imgd_proto_put_bytes(&msg, 1, img.data, img.len) == 0);
        imgd_buf_dispose(&img);
    }
    imgd_cri_image *again = NULL;
    size_t m = 0;
    imgd_error *err = NULL;
    assert(imgd_cri_decode_images(&again, &m, msg.data, msg.len, &err) == 0);
    assert(m == n);
    for (size_t i = 0; i < n; i++)
        check_same(&v[i], &again[i]);
    imgd_cri_images_free(again, m);
    imgd_buf_dispose(&msg);
}

static void fuzz_list(const uint8_t *data, size_t size)
{
    imgd_cri_image *v = NULL;
    size_t n = 0;
    imgd_error *err = NULL;
    int r = imgd_cri_decode_images(&v, &n, data, size, &err);
    check_error(r, err);
    imgd_error_free(err);
    if (r < 0) {
        assert(v == NULL);
        return;
    }
    assert((n == 0) == (v == NULL));
    for (size_t i = 0; i < n; i++)
        check_image(&v[i]);
    round_trip(v, n);
    imgd_cri_images_free(v, n);
}

static void fuzz_status_and_version(const uint8_t *data, size_t size)
{
    imgd_cri_image img = {0};
    bool found = false;
    imgd_error *err = NULL;
    int r = imgd_cri_decode_image_status(&img, &found, data, size, &err);
    check_error(r, err);
    if (r == 0 && found)
        check_image(&img);
    if (r < 0 || !found)
        assert(img.id == NULL);
    imgd_cri_image_dispose(&img);
    imgd_error_free(err);

    imgd_cri_version v = {0};
    err = NULL;
    r = imgd_cri_decode_version(&v, data, size, &err);
    check_error(r, err);
    if (r == 0) {
        check_string(v.version);
        check_string(v.runtime_name);
        check_string(v.runtime_version);
        check_string(v.runtime_api_version);
    }
    imgd_cri_version_dispose(&v);
    imgd_error_free(err);
}

/* Walk every field, descending into each LEN field that parses as a message. */
static int walk(imgd_proto_reader *r)
{
    imgd_proto_field f;
    int ret;
    while ((ret = imgd_proto_next(r, &f)) > 0) {
        assert(f.number >= 1 && f.number <= IMGD_PROTO_FIELD_MAX);
        assert(r->pos <= r->end);
        if (f.wire == IMGD_PROTO_LEN) {
            assert(f.data + f.len <= r->pos);
            imgd_proto_reader sub;
            if (imgd_proto_reader_sub(&sub, r, &f) == 0)
                (void)walk(&sub);
        }
    }
    assert(ret == 0 || ret == -EBADMSG);
    return ret;
}

static void fuzz_frame(const uint8_t *data, size_t size)
{
    const uint8_t *msg = NULL;
    size_t len = 0;
    imgd_error *err = NULL;
    int r = imgd_cri_grpc_unframe(&msg, &len, data, size, &err);
    check_error(r, err);
    imgd_error_free(err);
    if (r == 0) {
        assert(msg == data + 5 && len == size - 5);
        fuzz_list(msg, len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    fuzz_list(data, size);
    fuzz_status_and_version(data, size);
    fuzz_frame(data, size);
    imgd_proto_reader r;
    if (imgd_proto_reader_init(&r, data, size) == 0)
        (void)walk(&r);
    if (size > 0) {
        uint64_t v = 0;
        int n = imgd_proto_varint_decode(&v, data, size);
        if (n > 0) {
            uint8_t out[IMGD_PROTO_VARINT_MAX];
            size_t m = imgd_proto_varint_encode(out, v);
            assert(m <= (size_t)n); /* canonical is never longer than what was read */
        }
    }
    return 0;
}
