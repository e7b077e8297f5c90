/* SPDX-License-Identifier: MIT */
#include "proto.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

size_t imgd_proto_varint_encode(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

int imgd_proto_put_varint(imgd_buf *b, uint64_t v)
{
    uint8_t tmp[IMGD_PROTO_VARINT_MAX];
    return imgd_buf_append(b, tmp, imgd_proto_varint_encode(tmp, v));
}

int imgd_proto_put_key(imgd_buf *b, uint32_t field, imgd_proto_wire wire)
{
    assert(field >= 1 && field <= IMGD_PROTO_FIELD_MAX);
    assert(wire == IMGD_PROTO_VARINT || wire == IMGD_PROTO_I64 || wire == IMGD_PROTO_LEN ||
           wire == IMGD_PROTO_I32);
    return imgd_proto_put_varint(b, (uint64_t)field << 3 | (uint64_t)wire);
}

int imgd_proto_put_uint(imgd_buf *b, uint32_t field, uint64_t v)
{
    int r = imgd_proto_put_key(b, field, IMGD_PROTO_VARINT);
    return r < 0 ? r : imgd_proto_put_varint(b, v);
}

static int proto_put_le(imgd_buf *b, uint64_t v, size_t width)
{
    uint8_t tmp[8];
    for (size_t i = 0; i < width; i++)
        tmp[i] = (uint8_t)(v >> (8 * i));
    return imgd_buf_append(b, tmp, width);
}

int imgd_proto_put_fixed64(imgd_buf *b, uint32_t field, uint64_t v)
{
    int r = imgd_proto_put_key(b, field, IMGD_PROTO_I64);
    return r < 0 ? r : proto_put_le(b, v, 8);
}

int imgd_proto_put_fixed32(imgd_buf *b, uint32_t field, uint32_t v)
{
    int r = imgd_proto_put_key(b, field, IMGD_PROTO_I32);
    return r < 0 ? r : proto_put_le(b, v, 4);
}

int imgd_proto_put_bytes(imgd_buf *b, uint32_t field, const void *data, size_t len)
{
    assert(len <= IMGD_PROTO_MSG_MAX);
    int r = imgd_proto_put_key(b, field, IMGD_PROTO_LEN);
    if (r == 0)
        r = imgd_proto_put_varint(b, len);
    if (r == 0 && len > 0)
        r = imgd_buf_append(b, data, len);
    return r;
}

int imgd_proto_put_string(imgd_buf *b, uint32_t field, const char *s)
{
    return imgd_proto_put_bytes(b, field, s, strlen(s));
}

int imgd_proto_varint_decode(uint64_t *out, const uint8_t *p, size_t len)
{
    uint64_t v = 0;
    for (size_t i = 0; i < IMGD_PROTO_VARINT_MAX; i++) {
        if (i == len)
            return -EBADMSG; /* truncated */
        uint8_t byte = p[i];
        /* the tenth byte holds bit 63 only: anything more would overflow */
        if (i == IMGD_PROTO_VARINT_MAX - 1 && byte > 1)
            return -EBADMSG;
        v |= (uint64_t)(byte & 0x7f) << (7 * i);
        if (!(byte & 0x80)) {
            *out = v;
            return (int)i + 1;
        }
    }
    return -EBADMSG; /* an eleventh byte would follow */
}

int imgd_proto_reader_init(imgd_proto_reader *r, const void *data, size_t len)
{
    r->pos = r->end = data;
    r->depth = 0;
    if (len > IMGD_PROTO_MSG_MAX)
        return -E2BIG;
    if (len > 0)
        r->end = r->pos + len;
    return 0;
}

bool imgd_proto_reader_done(const imgd_proto_reader *r)
{
    return r->pos == r->end;
}

static size_t reader_left(const imgd_proto_reader *r)
{
    return (size_t)(r->end - r->pos);
}

static int reader_varint(imgd_proto_reader *r, uint64_t *out)
{
    int n = imgd_proto_varint_decode(out, r->pos, reader_left(r));
    if (n > 0)
        r->pos += n;
    return n < 0 ? n : 0;
}

static int reader_fixed(imgd_proto_reader *r, size_t width, uint64_t *out)
{
    if (reader_left(r) < width)
        return -EBADMSG;
    uint64_t v = 0;
    for (size_t i = 0; i < width; i++)
        v |= (uint64_t)r->pos[i] << (8 * i);
    r->pos += width;
    *out = v;
    return 0;
}

static int reader_len(imgd_proto_reader *r, const uint8_t **data, size_t *len)
{
    uint64_t n = 0;
    int ret = reader_varint(r, &n);
    if (ret < 0)
        return ret;
    if (n > reader_left(r))
        return -EBADMSG; /* also catches lengths beyond the message bound */
    *data = r->pos;
    *len = (size_t)n;
    r->pos += n;
    return 0;
}

int imgd_proto_read_key(imgd_proto_reader *r, uint32_t *field, imgd_proto_wire *wire)
{
    uint64_t key = 0;
    int ret = reader_varint(r, &key);
    if (ret < 0)
        return ret;
    uint64_t number = key >> 3, type = key & 7;
    if (number == 0 || number > IMGD_PROTO_FIELD_MAX)
        return -EBADMSG;
    if (type != IMGD_PROTO_VARINT && type != IMGD_PROTO_I64 && type != IMGD_PROTO_LEN &&
        type != IMGD_PROTO_I32)
        return -EBADMSG; /* groups (3, 4) and the undefined types 6 and 7 */
    *field = (uint32_t)number;
    *wire = (imgd_proto_wire)type;
    return 0;
}

/* Read the value of a field of the given wire type into f. */
static int reader_value(imgd_proto_reader *r, imgd_proto_wire wire, imgd_proto_field *f)
{
    f->value = 0;
    f->data = NULL;
    f->len = 0;
    switch (wire) {
    case IMGD_PROTO_VARINT:
        return reader_varint(r, &f->value);
    case IMGD_PROTO_I64:
        return reader_fixed(r, 8, &f->value);
    case IMGD_PROTO_I32:
        return reader_fixed(r, 4, &f->value);
    case IMGD_PROTO_LEN:
        return reader_len(r, &f->data, &f->len);
    case IMGD_PROTO_SGROUP:
    case IMGD_PROTO_EGROUP:
        break;
    }
    return -EBADMSG;
}

int imgd_proto_skip(imgd_proto_reader *r, imgd_proto_wire wire)
{
    imgd_proto_field f;
    return reader_value(r, wire, &f);
}

int imgd_proto_next(imgd_proto_reader *r, imgd_proto_field *f)
{
    if (imgd_proto_reader_done(r))
        return 0;
    uint32_t number = 0;
    imgd_proto_wire wire = IMGD_PROTO_VARINT;
    int ret = imgd_proto_read_key(r, &number, &wire);
    if (ret == 0)
        ret = reader_value(r, wire, f);
    if (ret < 0)
        return ret;
    f->number = number;
    f->wire = wire;
    return 1;
}

int imgd_proto_reader_sub(imgd_proto_reader *sub, const imgd_proto_reader *parent,
                          const imgd_proto_field *f)
{
    if (f->wire != IMGD_PROTO_LEN)
        return -EBADMSG;
    if (parent->depth >= IMGD_PROTO_DEPTH_MAX)
        return -E2BIG;
    sub->pos = f->data;
    sub->end = f->data + f->len;
    sub->depth = parent->depth + 1;
    return 0;
}

/* Length of the UTF-8 sequence starting at s[0] (of at most left bytes), or 0 when invalid. */
static size_t utf8_sequence(const uint8_t *s, size_t left)
{
    uint8_t c = s[0];
    if (c >= 0x01 && c < 0x80)
        return 1;
    size_t n;
    uint8_t lo = 0x80, hi = 0xbf; /* range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
    } else {
        return 0; /* NUL, a continuation byte, 0xc0/0xc1 or 0xf5.. */
    }
    if (left < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    }
    return n;
}

bool imgd_proto_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_sequence(s + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

int imgd_proto_field_string(char **out, const imgd_proto_field *f)
{
    if (f->wire != IMGD_PROTO_LEN || !imgd_proto_utf8_valid(f->data, f->len))
        return -EBADMSG;
    char *s = malloc(f->len + 1);
    if (!s)
        return -ENOMEM;
    if (f->len > 0)
        memcpy(s, f->data, f->len);
    s[f->len] = '\0';
    free(*out);
    *out = s;
    return 0;
}
