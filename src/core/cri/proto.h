/* SPDX-License-Identifier: MIT */
/* A small protocol-buffers wire codec: just what a hand-written CRI client needs.
 *
 * Encoding appends keys, varints and length-delimited fields to an imgd_buf; a nested message
 * is encoded into its own buffer first and then appended as bytes. Decoding walks a byte range
 * with a reader that never reads past its end: every length is checked against what is left,
 * varints are at most 10 bytes, messages at most IMGD_PROTO_MSG_MAX bytes, and nested readers
 * at most IMGD_PROTO_DEPTH_MAX deep. Unknown fields are skipped by wire type; groups (wire
 * types 3 and 4, deprecated and never used by CRI) are rejected.
 *
 * All functions are pure functions of their arguments: thread-safe on distinct buffers. Decode
 * errors are -EBADMSG (malformed or truncated input) or -E2BIG (a bound exceeded); encode errors
 * are -ENOMEM. None fills an imgd_error: callers name the message being decoded. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define IMGD_PROTO_VARINT_MAX 10u              /* bytes of the longest varint (a uint64) */
#define IMGD_PROTO_MSG_MAX    (64u << 20)      /* bytes of a message, nested ones included */
#define IMGD_PROTO_DEPTH_MAX  32u              /* nesting of sub-messages below the top level */
#define IMGD_PROTO_FIELD_MAX  ((1u << 29) - 1) /* the largest field number */

typedef enum imgd_proto_wire {
    IMGD_PROTO_VARINT = 0, /* int32/64, uint32/64, bool, enum */
    IMGD_PROTO_I64 = 1,    /* fixed64, sfixed64, double */
    IMGD_PROTO_LEN = 2,    /* string, bytes, sub-message, packed repeated */
    IMGD_PROTO_SGROUP = 3, /* start group: rejected */
    IMGD_PROTO_EGROUP = 4, /* end group: rejected */
    IMGD_PROTO_I32 = 5,    /* fixed32, sfixed32, float */
} imgd_proto_wire;

/* ---- encoding ---------------------------------------------------------------------------- */

/* Write v as a varint into out (at least IMGD_PROTO_VARINT_MAX bytes). Returns the length, 1 to
 * 10. A negative int64 passed as (uint64_t) takes all 10 bytes, as protobuf requires. */
size_t imgd_proto_varint_encode(uint8_t *out, uint64_t v);

/* Append a bare varint. Returns 0 or -ENOMEM. */
int imgd_proto_put_varint(imgd_buf *b, uint64_t v);

/* Append the key of a field: varint (field << 3 | wire). field is 1..IMGD_PROTO_FIELD_MAX
 * (asserted). Returns 0 or -ENOMEM. */
int imgd_proto_put_key(imgd_buf *b, uint32_t field, imgd_proto_wire wire);

/* Append a varint field (key + value); proto3 callers skip zero values themselves. */
int imgd_proto_put_uint(imgd_buf *b, uint32_t field, uint64_t v);

/* Append a fixed 64- or 32-bit field, little-endian. */
int imgd_proto_put_fixed64(imgd_buf *b, uint32_t field, uint64_t v);
int imgd_proto_put_fixed32(imgd_buf *b, uint32_t field, uint32_t v);

/* Append a length-delimited field: key, varint length, then len bytes of data (a string, bytes
 * or an encoded sub-message). len must not exceed IMGD_PROTO_MSG_MAX (asserted). */
int imgd_proto_put_bytes(imgd_buf *b, uint32_t field, const void *data, size_t len);

/* imgd_proto_put_bytes() of a NUL-terminated string. */
int imgd_proto_put_string(imgd_buf *b, uint32_t field, const char *s);

/* ---- decoding ---------------------------------------------------------------------------- */

/* Decode a varint from p[0..len). Returns the number of bytes used (1..10), -EBADMSG when the
 * input ends inside the varint, or when it is longer than 10 bytes or overflows 64 bits. */
int imgd_proto_varint_decode(uint64_t *out, const uint8_t *p, size_t len);

/* A cursor over one message's bytes. Borrowed: the bytes must outlive the reader. */
typedef struct imgd_proto_reader {
    const uint8_t *pos;
    const uint8_t *end;
    unsigned depth; /* 0 for a top-level message */
} imgd_proto_reader;

/* One decoded field. For IMGD_PROTO_LEN, data/len point into the reader's bytes (borrowed). */
typedef struct imgd_proto_field {
    uint32_t number;
    imgd_proto_wire wire;
    uint64_t value; /* VARINT, I64 and I32 (zero-extended) */
    const uint8_t *data;
    size_t len;
} imgd_proto_field;

/* Start reading a top-level message of len bytes. -E2BIG when len exceeds IMGD_PROTO_MSG_MAX
 * (the reader is then empty). */
int imgd_proto_reader_init(imgd_proto_reader *r, const void *data, size_t len);

/* True when every byte has been consumed. */
bool imgd_proto_reader_done(const imgd_proto_reader *r);

/* Read the next key. Field number 0, a field number above IMGD_PROTO_FIELD_MAX, wire types
 * 3/4 (groups) and 6/7 (undefined) give -EBADMSG. */
int imgd_proto_read_key(imgd_proto_reader *r, uint32_t *field, imgd_proto_wire *wire);

/* Consume the value of a field whose key was just read. -EBADMSG when it is truncated or the
 * wire type is not one of 0, 1, 2, 5. */
int imgd_proto_skip(imgd_proto_reader *r, imgd_proto_wire wire);

/* Read the next whole field (key and value). Returns 1 with *f filled, 0 at the end of the
 * message, or -EBADMSG. A caller skips an unknown field by ignoring it. */
int imgd_proto_next(imgd_proto_reader *r, imgd_proto_field *f);

/* A reader over the sub-message held by a LEN field read from parent, one level deeper.
 * -E2BIG when that passes IMGD_PROTO_DEPTH_MAX; -EBADMSG when f is not a LEN field. */
int imgd_proto_reader_sub(imgd_proto_reader *sub, const imgd_proto_reader *parent,
                          const imgd_proto_field *f);

/* Copy a LEN field as a NUL-terminated string into *out (malloc'd, owned by the caller; a
 * previous *out is freed). proto3 strings are UTF-8: invalid UTF-8 and NUL bytes (which a C
 * string cannot hold) give -EBADMSG; -ENOMEM on allocation failure. *out is unchanged on
 * failure. */
int imgd_proto_field_string(char **out, const imgd_proto_field *f);

/* True when s[0..len) is well-formed UTF-8 (no overlong forms, surrogates or code points above
 * U+10FFFF) without NUL bytes. */
bool imgd_proto_utf8_valid(const uint8_t *s, size_t len);
