/* SPDX-License-Identifier: MIT */
/* The protobuf wire codec: varints (the 64-bit extremes, negative int64 as 10 bytes), keys,
 * skipping each wire type, truncated and over-long input, the bounds, UTF-8 strings, and round
 * trips of the CRI messages (ListImagesResponse, Image, ImageSpec, VersionResponse) encoded
 * here and walked back field by field. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/cri/proto.h"

typedef struct varint_case {
    uint64_t value;
    size_t len;
    uint8_t bytes[10];
} varint_case;

static const varint_case varint_cases[] = {
    {0, 1, {0x00}},
    {1, 1, {0x01}},
    {127, 1, {0x7f}},
    {128, 2, {0x80, 0x01}},
    {300, 2, {0xac, 0x02}},
    {16383, 2, {0xff, 0x7f}},
    {16384, 3, {0x80, 0x80, 0x01}},
    {UINT32_MAX, 5, {0xff, 0xff, 0xff, 0xff, 0x0f}},
    {(uint64_t)1 << 63, 10, {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}},
    {UINT64_MAX, 10, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
    /* int64 -2 as protobuf sends it: sign-extended to 64 bits, so 10 bytes */
    {(uint64_t)(int64_t)-2, 10, {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
};

static void test_varint_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(varint_cases) / sizeof(varint_cases[0]); i++) {
        const varint_case *c = &varint_cases[i];
        uint8_t out[IMGD_PROTO_VARINT_MAX];
        assert_int_equal(imgd_proto_varint_encode(out, c->value), c->len);
        assert_memory_equal(out, c->bytes, c->len);
        uint64_t v = 0;
        assert_int_equal(imgd_proto_varint_decode(&v, c->bytes, c->len), (int)c->len);
        assert_true(v == c->value);
        /* every strict prefix is truncated */
        for (size_t n = 0; n < c->len; n++)
            assert_int_equal(imgd_proto_varint_decode(&v, c->bytes, n), -EBADMSG);
    }
}

static void test_varint_negative_int64(void **state)
{
    (void)state;
    const int64_t values[] = {-1, INT64_MIN, INT64_MAX, -1000, 0};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        uint8_t out[IMGD_PROTO_VARINT_MAX];
        size_t n = imgd_proto_varint_encode(out, (uint64_t)values[i]);
        assert_int_equal(n, values[i] < 0 ? 10 : (values[i] == 0 ? 1 : 9));
        uint64_t v = 0;
        assert_int_equal(imgd_proto_varint_decode(&v, out, n), (int)n);
        assert_true((int64_t)v == values[i]);
    }
}

static void test_varint_bad(void **state)
{
    (void)state;
    uint64_t v = 42;
    /* eleven bytes: the tenth still has the continuation bit */
    const uint8_t eleven[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x00};
    assert_int_equal(imgd_proto_varint_decode(&v, eleven, sizeof(eleven)), -EBADMSG);
    /* ten bytes whose last carries more than bit 63 */
    const uint8_t overflow[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    assert_int_equal(imgd_proto_varint_decode(&v, overflow, sizeof(overflow)), -EBADMSG);
    const uint8_t cont[] = {0x80, 0x80};
    assert_int_equal(imgd_proto_varint_decode(&v, cont, sizeof(cont)), -EBADMSG);
    assert_int_equal(imgd_proto_varint_decode(&v, NULL, 0), -EBADMSG);
    assert_int_equal(v, 42); /* untouched on failure */
    /* a non-canonical (padded) encoding is valid protobuf */
    const uint8_t padded[] = {0x81, 0x80, 0x00};
    assert_int_equal(imgd_proto_varint_decode(&v, padded, sizeof(padded)), 3);
    assert_int_equal(v, 1);
}

static void expect_bytes(const imgd_buf *b, const void *want, size_t len)
{
    assert_int_equal(b->len, len);
    assert_memory_equal(b->data, want, len);
}

static void test_keys(void **state)
{
    (void)state;
    imgd_buf b = {0};
    assert_int_equal(imgd_proto_put_key(&b, 1, IMGD_PROTO_LEN), 0);
    assert_int_equal(imgd_proto_put_key(&b, 2, IMGD_PROTO_VARINT), 0);
    assert_int_equal(imgd_proto_put_key(&b, 15, IMGD_PROTO_I32), 0);
    assert_int_equal(imgd_proto_put_key(&b, 16, IMGD_PROTO_I64), 0);
    assert_int_equal(imgd_proto_put_key(&b, IMGD_PROTO_FIELD_MAX, IMGD_PROTO_LEN), 0);
    const uint8_t want[] = {0x0a, 0x10, 0x7d, 0x81, 0x01, 0xfa, 0xff, 0xff, 0xff, 0x0f};
    expect_bytes(&b, want, sizeof(want));

    imgd_proto_reader r;
    assert_int_equal(imgd_proto_reader_init(&r, b.data, b.len), 0);
    const struct {
        uint32_t field;
        imgd_proto_wire wire;
    } keys[] = {{1, IMGD_PROTO_LEN},
                {2, IMGD_PROTO_VARINT},
                {15, IMGD_PROTO_I32},
                {16, IMGD_PROTO_I64},
                {IMGD_PROTO_FIELD_MAX, IMGD_PROTO_LEN}};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        uint32_t field = 0;
        imgd_proto_wire wire = IMGD_PROTO_VARINT;
        assert_int_equal(imgd_proto_read_key(&r, &field, &wire), 0);
        assert_int_equal(field, keys[i].field);
        assert_int_equal(wire, keys[i].wire);
    }
    assert_true(imgd_proto_reader_done(&r));
    imgd_buf_dispose(&b);
}

static int read_one_key(const uint8_t *data, size_t len)
{
    imgd_proto_reader r;
    uint32_t field = 0;
    imgd_proto_wire wire = IMGD_PROTO_VARINT;
    assert_int_equal(imgd_proto_reader_init(&r, data, len), 0);
    return imgd_proto_read_key(&r, &field, &wire);
}

static void test_bad_keys(void **state)
{
    (void)state;
    const uint8_t field0[] = {0x02};                          /* field 0 */
    const uint8_t sgroup[] = {0x0b};                          /* field 1, start group */
    const uint8_t egroup[] = {0x0c};                          /* field 1, end group */
    const uint8_t wire6[] = {0x0e}, wire7[] = {0x0f};         /* undefined types */
    const uint8_t too_big[] = {0x80, 0x80, 0x80, 0x80, 0x10}; /* field 2^29 */
    const uint8_t huge[] = {0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    const uint8_t truncated[] = {0x80};
    assert_int_equal(read_one_key(field0, sizeof(field0)), -EBADMSG);
    assert_int_equal(read_one_key(sgroup, sizeof(sgroup)), -EBADMSG);
    assert_int_equal(read_one_key(egroup, sizeof(egroup)), -EBADMSG);
    assert_int_equal(read_one_key(wire6, sizeof(wire6)), -EBADMSG);
    assert_int_equal(read_one_key(wire7, sizeof(wire7)), -EBADMSG);
    assert_int_equal(read_one_key(too_big, sizeof(too_big)), -EBADMSG);
    assert_int_equal(read_one_key(huge, sizeof(huge)), -EBADMSG);
    assert_int_equal(read_one_key(truncated, sizeof(truncated)), -EBADMSG);
}

/* A message with one field of each wire type, then field 9 = 1 as an end marker. */
static void build_all_types(imgd_buf *b)
{
    assert_int_equal(imgd_proto_put_uint(b, 1, 300), 0);
    assert_int_equal(imgd_proto_put_fixed64(b, 2, 0x0102030405060708ULL), 0);
    assert_int_equal(imgd_proto_put_string(b, 3, "abc"), 0);
    assert_int_equal(imgd_proto_put_fixed32(b, 4, 0xdeadbeef), 0);
    assert_int_equal(imgd_proto_put_uint(b, 9, 1), 0);
}

static void test_skip_each_wire_type(void **state)
{
    (void)state;
    imgd_buf b = {0};
    build_all_types(&b);
    const uint8_t want[] = {0x08, 0xac, 0x02, 0x11, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
                            0x1a, 0x03, 'a',  'b',  'c',  0x25, 0xef, 0xbe, 0xad, 0xde, 0x48, 0x01};
    expect_bytes(&b, want, sizeof(want));

    imgd_proto_reader r;
    assert_int_equal(imgd_proto_reader_init(&r, b.data, b.len), 0);
    const size_t ends[] = {3, 12, 17, 22}; /* offset after each skipped field */
    for (size_t i = 0; i < 4; i++) {
        uint32_t field = 0;
        imgd_proto_wire wire = IMGD_PROTO_VARINT;
        assert_int_equal(imgd_proto_read_key(&r, &field, &wire), 0);
        assert_int_equal(field, i + 1);
        assert_int_equal(imgd_proto_skip(&r, wire), 0);
        assert_int_equal((size_t)(r.pos - (const uint8_t *)b.data), ends[i]);
    }
    imgd_proto_field f;
    assert_int_equal(imgd_proto_next(&r, &f), 1);
    assert_int_equal(f.number, 9);
    assert_int_equal(f.value, 1);
    assert_int_equal(imgd_proto_next(&r, &f), 0);
    /* groups cannot be skipped */
    assert_int_equal(imgd_proto_skip(&r, IMGD_PROTO_SGROUP), -EBADMSG);
    assert_int_equal(imgd_proto_skip(&r, IMGD_PROTO_EGROUP), -EBADMSG);
    imgd_buf_dispose(&b);
}

static void test_next_values(void **state)
{
    (void)state;
    imgd_buf b = {0};
    build_all_types(&b);
    imgd_proto_reader r;
    imgd_proto_field f;
    assert_int_equal(imgd_proto_reader_init(&r, b.data, b.len), 0);
    assert_int_equal(imgd_proto_next(&r, &f), 1);
    assert_true(f.number == 1 && f.wire == IMGD_PROTO_VARINT && f.value == 300);
    assert_int_equal(imgd_proto_next(&r, &f), 1);
    assert_true(f.number == 2 && f.wire == IMGD_PROTO_I64 && f.value == 0x0102030405060708ULL);
    assert_int_equal(imgd_proto_next(&r, &f), 1);
    assert_true(f.number == 3 && f.wire == IMGD_PROTO_LEN && f.len == 3);
    assert_memory_equal(f.data, "abc", 3);
    assert_int_equal(imgd_proto_next(&r, &f), 1);
    assert_true(f.number == 4 && f.wire == IMGD_PROTO_I32 && f.value == 0xdeadbeef);
    imgd_buf_dispose(&b);
}

/* Every strict prefix of a well-formed message that cuts a field fails; the prefixes that end
 * between fields read fine. */
static void test_truncated_everywhere(void **state)
{
    (void)state;
    imgd_buf b = {0};
    build_all_types(&b);
    const size_t boundaries[] = {0, 3, 12, 17, 22, 24};
    for (size_t n = 0; n <= b.len; n++) {
        bool boundary = false;
        for (size_t i = 0; i < sizeof(boundaries) / sizeof(boundaries[0]); i++)
            boundary |= boundaries[i] == n;
        uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees any overread */
        assert_non_null(copy);
        memcpy(copy, b.data, n);
        imgd_proto_reader r;
        imgd_proto_field f;
        int ret;
        assert_int_equal(imgd_proto_reader_init(&r, copy, n), 0);
        while ((ret = imgd_proto_next(&r, &f)) > 0)
            ;
        assert_int_equal(ret, boundary ? 0 : -EBADMSG);
        free(copy);
    }
    imgd_buf_dispose(&b);
}

static void test_length_beyond_message(void **state)
{
    (void)state;
    imgd_proto_reader r;
    imgd_proto_field f;
    const uint8_t over[] = {0x0a, 0x05, 'a', 'b'};
    assert_int_equal(imgd_proto_reader_init(&r, over, sizeof(over)), 0);
    assert_int_equal(imgd_proto_next(&r, &f), -EBADMSG);
    /* a length near 2^63: must not wrap the pointer arithmetic */
    const uint8_t huge[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 'x'};
    assert_int_equal(imgd_proto_reader_init(&r, huge, sizeof(huge)), 0);
    assert_int_equal(imgd_proto_next(&r, &f), -EBADMSG);
    /* a message above the bound is refused before it is read */
    assert_int_equal(imgd_proto_reader_init(&r, huge, (size_t)IMGD_PROTO_MSG_MAX + 1), -E2BIG);
    assert_true(imgd_proto_reader_done(&r));
    assert_int_equal(imgd_proto_reader_init(&r, NULL, 0), 0);
    assert_int_equal(imgd_proto_next(&r, &f), 0);
}

static void test_depth_bound(void **state)
{
    (void)state;
    /* IMGD_PROTO_DEPTH_MAX + 1 nested empty-ish messages: field 1 inside field 1 ... */
    imgd_buf inner = {0};
    for (unsigned i = 0; i <= IMGD_PROTO_DEPTH_MAX; i++) {
        imgd_buf outer = {0};
        assert_int_equal(imgd_proto_put_bytes(&outer, 1, inner.data, inner.len), 0);
        imgd_buf_dispose(&inner);
        inner = outer;
    }
    imgd_proto_reader levels[IMGD_PROTO_DEPTH_MAX + 2];
    imgd_proto_field f;
    assert_int_equal(imgd_proto_reader_init(&levels[0], inner.data, inner.len), 0);
    unsigned depth = 0;
    int ret = 0;
    while (imgd_proto_next(&levels[depth], &f) == 1) {
        ret = imgd_proto_reader_sub(&levels[depth + 1], &levels[depth], &f);
        if (ret < 0)
            break;
        depth++;
        assert_int_equal(levels[depth].depth, depth);
    }
    assert_int_equal(ret, -E2BIG);
    assert_int_equal(depth, IMGD_PROTO_DEPTH_MAX);
    /* a sub-reader needs a LEN field */
    f.wire = IMGD_PROTO_VARINT;
    assert_int_equal(imgd_proto_reader_sub(&levels[1], &levels[0], &f), -EBADMSG);
    imgd_buf_dispose(&inner);
}

static imgd_proto_field len_field(const char *data, size_t len)
{
    imgd_proto_field f = {.number = 1, .wire = IMGD_PROTO_LEN};
    f.data = (const uint8_t *)data;
    f.len = len;
    return f;
}

static void test_strings(void **state)
{
    (void)state;
    char *s = NULL;
    const char *text = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9d\x84\x9e";
    imgd_proto_field f = len_field(text, strlen(text));
    assert_int_equal(imgd_proto_field_string(&s, &f), 0);
    assert_string_equal(s, text);
    f = len_field("", 0);
    assert_int_equal(imgd_proto_field_string(&s, &f), 0); /* replaces, frees the old one */
    assert_string_equal(s, "");

    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
        {"a\0b", 3},             /* NUL: not representable in a C string */
        {"\xc0\x80", 2},         /* overlong NUL */
        {"\xe0\x80\x80", 3},     /* overlong */
        {"\xed\xa0\x80", 3},     /* surrogate */
        {"\xf4\x90\x80\x80", 4}, /* above U+10FFFF */
        {"\xe2\x82", 2},         /* truncated */
        {"\x80", 1},             /* lone continuation */
        {"\xf5\x80\x80\x80", 4}, /* invalid lead */
        {"\xc3\x28", 2},         /* bad continuation */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        f = len_field(bad[i].bytes, bad[i].len);
        assert_false(imgd_proto_utf8_valid(f.data, f.len));
        assert_int_equal(imgd_proto_field_string(&s, &f), -EBADMSG);
        assert_string_equal(s, ""); /* untouched */
    }
    f.wire = IMGD_PROTO_VARINT;
    assert_int_equal(imgd_proto_field_string(&s, &f), -EBADMSG);
    free(s);
}

/* ---- round trips of the CRI messages --------------------------------------------------- */

/* ImageSpec{image = 1, annotations = 2 (map entries {key 1, value 2}), v1: 18, 19, 20}. */
static void encode_spec(imgd_buf *b)
{
    imgd_buf entry = {0};
    assert_int_equal(imgd_proto_put_string(b, 1, "docker.io/library/busybox:1.36"), 0);
    assert_int_equal(imgd_proto_put_string(&entry, 1, "k"), 0);
    assert_int_equal(imgd_proto_put_string(&entry, 2, "v"), 0);
    assert_int_equal(imgd_proto_put_bytes(b, 2, entry.data, entry.len), 0);
    assert_int_equal(imgd_proto_put_string(b, 18, "busybox:1.36"), 0);
    assert_int_equal(imgd_proto_put_string(b, 20, "sha256:ref"), 0);
    imgd_buf_dispose(&entry);
}

/* Image{id 1, repo_tags 2, repo_digests 3, size 4, uid 5 {value 1}, username 6, spec 7,
 * pinned 8}. */
static void encode_image(imgd_buf *b, int64_t uid)
{
    imgd_buf sub = {0};
    assert_int_equal(imgd_proto_put_string(b, 1, "sha256:abc"), 0);
    assert_int_equal(imgd_proto_put_string(b, 2, "busybox:1.36"), 0);
    assert_int_equal(imgd_proto_put_string(b, 2, "busybox:latest"), 0);
    assert_int_equal(imgd_proto_put_string(b, 3, "busybox@sha256:def"), 0);
    assert_int_equal(imgd_proto_put_uint(b, 4, UINT64_MAX), 0);
    assert_int_equal(imgd_proto_put_uint(&sub, 1, (uint64_t)uid), 0);
    assert_int_equal(imgd_proto_put_bytes(b, 5, sub.data, sub.len), 0);
    imgd_buf_dispose(&sub);
    encode_spec(&sub);
    assert_int_equal(imgd_proto_put_bytes(b, 7, sub.data, sub.len), 0);
    assert_int_equal(imgd_proto_put_uint(b, 8, 1), 0);
    imgd_buf_dispose(&sub);
}

static void check_spec(const imgd_proto_reader *parent, const imgd_proto_field *pf)
{
    imgd_proto_reader r, entry;
    imgd_proto_field f;
    assert_int_equal(imgd_proto_reader_sub(&r, parent, pf), 0);
    const uint32_t want[] = {1, 2, 18, 20};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(imgd_proto_next(&r, &f), 1);
        assert_int_equal(f.number, want[i]);
        if (f.number == 2) {
            assert_int_equal(imgd_proto_reader_sub(&entry, &r, &f), 0);
            assert_int_equal(imgd_proto_next(&entry, &f), 1);
            assert_true(f.number == 1 && f.len == 1 && f.data[0] == 'k');
            assert_int_equal(imgd_proto_next(&entry, &f), 1);
            assert_true(f.number == 2 && f.len == 1 && f.data[0] == 'v');
            assert_int_equal(imgd_proto_next(&entry, &f), 0);
        }
    }
    assert_int_equal(imgd_proto_next(&r, &f), 0);
}

static void check_image(const imgd_proto_reader *parent, const imgd_proto_field *pf, int64_t uid)
{
    imgd_proto_reader r, sub;
    imgd_proto_field f;
    char *s = NULL;
    int tags = 0;
    assert_int_equal(imgd_proto_reader_sub(&r, parent, pf), 0);
    while (imgd_proto_next(&r, &f) == 1) {
        if (f.number == 1 || f.number == 2 || f.number == 3)
            assert_int_equal(imgd_proto_field_string(&s, &f), 0);
        if (f.number == 1)
            assert_string_equal(s, "sha256:abc");
        else if (f.number == 2)
            assert_string_equal(s, tags++ ? "busybox:latest" : "busybox:1.36");
        else if (f.number == 3)
            assert_string_equal(s, "busybox@sha256:def");
        else if (f.number == 4)
            assert_true(f.value == UINT64_MAX);
        else if (f.number == 5) {
            assert_int_equal(imgd_proto_reader_sub(&sub, &r, &f), 0);
            assert_int_equal(imgd_proto_next(&sub, &f), 1);
            assert_true((int64_t)f.value == uid);
        } else if (f.number == 7)
            check_spec(&r, &f);
        else
            assert_true(f.number == 8 && f.value == 1);
    }
    assert_int_equal(tags, 2);
    assert_true(imgd_proto_reader_done(&r));
    free(s);
}

static void test_round_trip_list_images_response(void **state)
{
    (void)state;
    imgd_buf msg = {0}, img = {0};
    const int64_t uids[] = {-5, 1000};
    for (size_t i = 0; i < 2; i++) {
        encode_image(&img, uids[i]);
        assert_int_equal(imgd_proto_put_bytes(&msg, 1, img.data, img.len), 0);
        imgd_buf_dispose(&img);
    }
    imgd_proto_reader r;
    imgd_proto_field f;
    assert_int_equal(imgd_proto_reader_init(&r, msg.data, msg.len), 0);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(imgd_proto_next(&r, &f), 1);
        assert_int_equal(f.number, 1);
        check_image(&r, &f, uids[i]);
    }
    assert_int_equal(imgd_proto_next(&r, &f), 0);
    imgd_buf_dispose(&msg);
}

static void test_round_trip_version(void **state)
{
    (void)state;
    const char *values[] = {"0.1.0", "containerd", "1.6.20~ds1", "v1"};
    imgd_buf msg = {0};
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(imgd_proto_put_string(&msg, i + 1, values[i]), 0);
    const uint8_t head[] = {0x0a, 0x05, '0', '.', '1', '.', '0', 0x12, 0x0a};
    assert_memory_equal(msg.data, head, sizeof(head));
    imgd_proto_reader r;
    imgd_proto_field f;
    char *s = NULL;
    assert_int_equal(imgd_proto_reader_init(&r, msg.data, msg.len), 0);
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(imgd_proto_next(&r, &f), 1);
        assert_int_equal(f.number, i + 1);
        assert_int_equal(imgd_proto_field_string(&s, &f), 0);
        assert_string_equal(s, values[i]);
    }
    assert_int_equal(imgd_proto_next(&r, &f), 0);
    free(s);
    imgd_buf_dispose(&msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint_table),
        cmocka_unit_test(test_varint_negative_int64),
        cmocka_unit_test(test_varint_bad),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_bad_keys),
        cmocka_unit_test(test_skip_each_wire_type),
        cmocka_unit_test(test_next_values),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_length_beyond_message),
        cmocka_unit_test(test_depth_bound),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_round_trip_list_images_response),
        cmocka_unit_test(test_round_trip_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
