/* SPDX-License-Identifier: MIT */
#include "tar.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

#define BLOCK 512

typedef enum tar_state {
    ST_HEADER,  /* collecting a 512-byte header */
    ST_DATA,    /* regular file data, handed to the data callback */
    ST_META,    /* pax or GNU long-name data, collected for the next header */
    ST_SKIP,    /* data nobody needs (global pax headers, data of non-files) */
    ST_PADDING, /* zero fill up to the next block */
    ST_END,     /* after the end-of-archive marker, or after an error */
} tar_state;

typedef enum meta_kind {
    META_PAX,
    META_LONGNAME,
    META_LONGLINK,
} meta_kind;

/* What a pax header or GNU long name says about the next entry. */
typedef struct pending {
    imgd_buf pax; /* the raw pax records; xattr names and values point into it */
    imgd_buf longname;
    imgd_buf longlink;
    const char *path, *linkpath; /* into pax */
    bool has_size, has_uid, has_gid, has_mtime;
    uint64_t size;
    int64_t uid, gid, mtime;
    uint32_t mtime_nsec;
    size_t n_xattrs;
    imgd_tar_xattr xattrs[IMGD_TAR_MAX_XATTRS];
} pending;

struct imgd_tar_parser {
    const imgd_tar_callbacks *cb;
    void *ctx;
    imgd_tar_limits lim;
    tar_state state;
    unsigned char header[BLOCK];
    size_t header_len;
    uint64_t remaining; /* bytes of data, meta or skip left */
    size_t padding;     /* bytes of padding left */
    bool entry_open;    /* entry_end is due after the data / skip */
    meta_kind meta;
    pending next;
    uint64_t entries;
    unsigned zero_blocks;
    char path[BLOCK + 2]; /* ustar prefix + "/" + name */
    char linkname[101];
};

static const imgd_tar_limits default_limits = {
    .max_entry_size = UINT64_C(64) << 30,
    .max_entries = 10u * 1000u * 1000u,
    .max_path = 4096,
    .max_pax_header = 1024 * 1024,
};

imgd_tar_parser *imgd_tar_parser_new(const imgd_tar_callbacks *cb, void *ctx,
                                     const imgd_tar_limits *limits)
{
    imgd_tar_parser *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->cb = cb;
    p->ctx = ctx;
    p->lim = limits ? *limits : default_limits;
    return p;
}

static void pending_reset(pending *n)
{
    imgd_buf_dispose(&n->pax);
    imgd_buf_dispose(&n->longname);
    imgd_buf_dispose(&n->longlink);
    memset(n, 0, sizeof(*n));
}

void imgd_tar_parser_free(imgd_tar_parser *p)
{
    if (!p)
        return;
    pending_reset(&p->next);
    free(p);
}

uint64_t imgd_tar_parser_entries(const imgd_tar_parser *p)
{
    return p->entries;
}

static int fail(imgd_tar_parser *p, imgd_error **err, const char *fmt, const char *what)
{
    p->state = ST_END;
    return imgd_error_set(err, EINVAL, fmt, what);
}

/* ---- header fields ---- */

/* A numeric field: octal digits (space or NUL terminated), or GNU base-256 when the high bit of
 * the first byte is set. Returns false when malformed or out of range. */
static bool parse_number(const unsigned char *f, size_t len, int64_t *out)
{
    if (f[0] & 0x80) {
        bool negative = f[0] & 0x40;
        uint64_t v = negative ? UINT64_MAX : 0;
        v = (v << 8) | (f[0] & (negative ? 0xff : 0x7f));
        for (size_t i = 1; i < len; i++) {
            if (!negative && v >> 55)
                return false;
            v = (v << 8) | f[i];
        }
        *out = (int64_t)v;
        return !negative || *out < 0;
    }
    size_t i = 0;
    while (i < len && (f[i] == ' ' || f[i] == '\0'))
        i++;
    uint64_t v = 0;
    bool digits = false;
    for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v >> 60)
            return false;
        v = v * 8 + (uint64_t)(f[i] - '0');
        digits = true;
    }
    for (; i < len; i++) {
        if (f[i] != ' ' && f[i] != '\0')
            return false;
    }
    *out = digits ? (int64_t)v : 0;
    return true;
}

/* A string field: up to len bytes, NUL-terminated when shorter. */
static size_t field_len(const unsigned char *f, size_t len)
{
    const unsigned char *nul = memchr(f, '\0', len);
    return nul ? (size_t)(nul - f) : len;
}

static bool checksum_ok(const unsigned char *h)
{
    int64_t stored;
    if (!parse_number(h + 148, 8, &stored))
        return false;
    int64_t unsigned_sum = 0, signed_sum = 0;
    for (size_t i = 0; i < BLOCK; i++) {
        unsigned char c = (i >= 148 && i < 156) ? ' ' : h[i];
        unsigned_sum += c;
        signed_sum += (signed char)c;
    }
    return stored == unsigned_sum || stored == signed_sum;
}

static bool block_is_zero(const unsigned char *h)
{
    for (size_t i = 0; i < BLOCK; i++) {
        if (h[i])
            return false;
    }
    return true;
}

/* ---- pax records: "<len> <key>=<value>\n" ---- */

static int pax_record(imgd_tar_parser *p, char *key, char *value, size_t value_len,
                      imgd_error **err)
{
    pending *n = &p->next;
    int64_t v;
    if (strcmp(key, "path") == 0) {
        n->path = value;
    } else if (strcmp(key, "linkpath") == 0) {
        n->linkpath = value;
    } else if (strcmp(key, "size") == 0 || strcmp(key, "uid") == 0 || strcmp(key, "gid") == 0) {
        char *end = NULL;
        errno = 0;
        unsigned long long u = strtoull(value, &end, 10);
        if (errno || end == value || *end || value[0] == '-' || u > INT64_MAX)
            return fail(p, err, "tar: invalid pax number for '%s'", key);
        v = (int64_t)u;
        if (key[0] == 's') {
            n->size = (uint64_t)v;
            n->has_size = true;
        } else if (key[0] == 'u') {
            n->uid = v;
            n->has_uid = true;
        } else {
            n->gid = v;
            n->has_gid = true;
        }
    } else if (strcmp(key, "mtime") == 0) {
        char *end = NULL;
        errno = 0;
        long long sec = strtoll(value, &end, 10);
        if (errno || end == value || (*end && *end != '.'))
            return fail(p, err, "tar: invalid pax number for '%s'", key);
        uint32_t nsec = 0;
        if (*end == '.') {
            uint32_t scale = 100000000;
            for (const char *d = end + 1; *d >= '0' && *d <= '9'; d++, scale /= 10)
                nsec += scale ? (uint32_t)(*d - '0') * scale : 0;
        }
        n->mtime = sec;
        n->mtime_nsec = nsec;
        n->has_mtime = true;
    } else if (strncmp(key, "SCHILY.xattr.", 13) == 0) {
        if (n->n_xattrs >= IMGD_TAR_MAX_XATTRS)
            return fail(p, err, "tar: more than %s extended attributes on one entry", "64");
        n->xattrs[n->n_xattrs++] = (imgd_tar_xattr){key + 13, value, value_len};
    } else if (strncmp(key, "GNU.sparse.", 11) == 0) {
        return fail(p, err, "tar: sparse files (%s) are not supported", key);
    }
    return 0;
}

static int parse_pax(imgd_tar_parser *p, imgd_error **err)
{
    char *s = p->next.pax.data;
    size_t len = p->next.pax.len;
    size_t pos = 0;
    while (pos < len) {
        size_t rec_len = 0, i = pos;
        while (i < len && s[i] >= '0' && s[i] <= '9' && rec_len < len)
            rec_len = rec_len * 10 + (size_t)(s[i++] - '0');
        if (i >= len || s[i] != ' ' || rec_len <= i - pos + 1 || rec_len > len - pos ||
            s[pos + rec_len - 1] != '\n')
            return fail(p, err, "tar: malformed pax header%s", "");
        char *key = s + i + 1;
        char *end = s + pos + rec_len - 1; /* the '\n' */
        char *eq = memchr(key, '=', (size_t)(end - key));
        if (!eq || eq == key)
            return fail(p, err, "tar: malformed pax header%s", "");
        *eq = '\0';
        *end = '\0'; /* values are NUL-terminated in place; xattr values may hold NULs too */
        int r = pax_record(p, key, eq + 1, (size_t)(end - eq - 1), err);
        if (r < 0)
            return r;
        pos += rec_len;
    }
    return 0;
}

/* ---- entries ---- */

static int type_of(char flag, imgd_tar_type *out)
{
    switch (flag) {
    case '0':
    case '\0':
    case '7':
        *out = IMGD_TAR_FILE;
        return 0;
    case '1':
        *out = IMGD_TAR_HARDLINK;
        return 0;
    case '2':
        *out = IMGD_TAR_SYMLINK;
        return 0;
    case '3':
        *out = IMGD_TAR_CHAR;
        return 0;
    case '4':
        *out = IMGD_TAR_BLOCK;
        return 0;
    case '5':
        *out = IMGD_TAR_DIR;
        return 0;
    case '6':
        *out = IMGD_TAR_FIFO;
        return 0;
    default:
        return -EINVAL;
    }
}

/* Header names: GNU long name, else pax path, else ustar prefix + "/" + name. */
static const char *entry_path(imgd_tar_parser *p)
{
    const unsigned char *h = p->header;
    if (p->next.longname.data)
        return p->next.longname.data;
    if (p->next.path)
        return p->next.path;
    size_t name_len = field_len(h, 100);
    bool ustar = memcmp(h + 257, "ustar\0", 6) == 0; /* GNU's "ustar  " has no prefix */
    size_t prefix_len = ustar ? field_len(h + 345, 155) : 0;
    size_t n = 0;
    if (prefix_len) {
        memcpy(p->path, h + 345, prefix_len);
        n = prefix_len;
        p->path[n++] = '/';
    }
    memcpy(p->path + n, h, name_len);
    p->path[n + name_len] = '\0';
    return p->path;
}

static const char *entry_linkname(imgd_tar_parser *p)
{
    if (p->next.longlink.data)
        return p->next.longlink.data;
    if (p->next.linkpath)
        return p->next.linkpath;
    size_t n = field_len(p->header + 157, 100);
    memcpy(p->linkname, p->header + 157, n);
    p->linkname[n] = '\0';
    return p->linkname;
}

static int header_numbers(imgd_tar_parser *p, imgd_tar_entry *e, int64_t *size)
{
    const unsigned char *h = p->header;
    int64_t mode, uid, gid, mtime, major, minor;
    if (!parse_number(h + 100, 8, &mode) || !parse_number(h + 108, 8, &uid) ||
        !parse_number(h + 116, 8, &gid) || !parse_number(h + 124, 12, size) ||
        !parse_number(h + 136, 12, &mtime) || !parse_number(h + 329, 8, &major) ||
        !parse_number(h + 337, 8, &minor) || *size < 0 || uid < 0 || gid < 0 || major < 0 ||
        minor < 0 || major > UINT32_MAX || minor > UINT32_MAX)
        return -EINVAL;
    const pending *n = &p->next;
    e->mode = (uint32_t)(mode & 07777);
    e->uid = n->has_uid ? n->uid : uid;
    e->gid = n->has_gid ? n->gid : gid;
    e->mtime = n->has_mtime ? n->mtime : mtime;
    e->mtime_nsec = n->has_mtime ? n->mtime_nsec : 0;
    e->devmajor = (uint32_t)major;
    e->devminor = (uint32_t)minor;
    if (n->has_size)
        *size = (int64_t)n->size;
    return 0;
}

static int start_meta(imgd_tar_parser *p, meta_kind kind, int64_t size, imgd_error **err)
{
    size_t max = kind == META_PAX ? p->lim.max_pax_header : p->lim.max_path;
    if ((uint64_t)size > max)
        return fail(p, err, "tar: %s is too long", kind == META_PAX ? "pax header" : "long name");
    imgd_buf *b = kind == META_PAX        ? &p->next.pax
                  : kind == META_LONGNAME ? &p->next.longname
                                          : &p->next.longlink;
    imgd_buf_dispose(b);
    if (imgd_buf_append(b, "", 0) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    p->meta = kind;
    p->remaining = (uint64_t)size;
    p->padding = (BLOCK - (size_t)(size % BLOCK)) % BLOCK;
    p->state = size ? ST_META : ST_PADDING;
    return 0;
}

static int emit_entry(imgd_tar_parser *p, imgd_tar_type type, int64_t size, imgd_tar_entry *e,
                      imgd_error **err)
{
    if (++p->entries > p->lim.max_entries)
        return fail(p, err, "tar: more entries than the limit%s", "");
    e->type = type;
    e->path = entry_path(p);
    e->linkname = entry_linkname(p);
    if (strlen(e->path) > p->lim.max_path || strlen(e->linkname) > p->lim.max_path)
        return fail(p, err, "tar: a path is longer than the limit%s", "");
    if (type == IMGD_TAR_FILE && (uint64_t)size > p->lim.max_entry_size)
        return fail(p, err, "tar: entry '%s' is larger than the limit", e->path);
    e->size = type == IMGD_TAR_FILE ? (uint64_t)size : 0;
    e->n_xattrs = p->next.n_xattrs;
    memcpy(e->xattrs, p->next.xattrs, e->n_xattrs * sizeof(e->xattrs[0]));
    int r = p->cb->entry(p->ctx, e, err);
    if (r < 0) {
        p->state = ST_END;
        return r;
    }
    p->entry_open = true;
    p->remaining = (uint64_t)size;
    p->padding = (BLOCK - (size_t)((uint64_t)size % BLOCK)) % BLOCK;
    p->state = size == 0 ? ST_PADDING : type == IMGD_TAR_FILE ? ST_DATA : ST_SKIP;
    return 0;
}

static int end_entry(imgd_tar_parser *p, imgd_error **err)
{
    if (!p->entry_open)
        return 0;
    p->entry_open = false;
    pending_reset(&p->next);
    int r = p->cb->entry_end(p->ctx, err);
    if (r < 0)
        p->state = ST_END;
    return r;
}

static int on_header(imgd_tar_parser *p, imgd_error **err)
{
    const unsigned char *h = p->header;
    if (block_is_zero(h)) {
        if (++p->zero_blocks >= 2)
            p->state = ST_END;
        return 0;
    }
    if (p->zero_blocks)
        return fail(p, err, "tar: data after an empty block%s", "");
    if (!checksum_ok(h))
        return fail(p, err, "tar: header checksum mismatch after %s entries",
                    p->entries ? "some" : "no");
    imgd_tar_entry e;
    memset(&e, 0, sizeof(e));
    int64_t size = 0;
    if (header_numbers(p, &e, &size) < 0)
        return fail(p, err, "tar: malformed numeric field in a header%s", "");
    char flag = (char)h[156];
    switch (flag) {
    case 'x':
        return start_meta(p, META_PAX, size, err);
    case 'L':
        return start_meta(p, META_LONGNAME, size, err);
    case 'K':
        return start_meta(p, META_LONGLINK, size, err);
    case 'g': /* global pax defaults: nothing in an image layer relies on them */
    case 'V': /* volume label */
        p->remaining = (uint64_t)size;
        p->padding = (BLOCK - (size_t)((uint64_t)size % BLOCK)) % BLOCK;
        p->state = size ? ST_SKIP : ST_PADDING;
        return 0;
    case 'D': /* GNU dump directory: a directory with a listing as data */
        return emit_entry(p, IMGD_TAR_DIR, size, &e, err);
    default:
        break;
    }
    imgd_tar_type type;
    if (type_of(flag, &type) < 0) {
        char what[8] = {flag >= 0x20 && flag < 0x7f ? flag : '?', '\0'};
        return fail(p, err, "tar: unsupported entry type '%s'", what);
    }
    return emit_entry(p, type, size, &e, err);
}

/* ---- feeding ---- */

static size_t take(uint64_t remaining, size_t avail)
{
    return remaining < avail ? (size_t)remaining : avail;
}

static int step(imgd_tar_parser *p, const unsigned char *d, size_t len, size_t *used,
                imgd_error **err)
{
    size_t n = 0;
    int r = 0;
    switch (p->state) {
    case ST_HEADER:
        n = BLOCK - p->header_len < len ? BLOCK - p->header_len : len;
        memcpy(p->header + p->header_len, d, n);
        p->header_len += n;
        *used = n;
        if (p->header_len == BLOCK) {
            p->header_len = 0;
            r = on_header(p, err);
        }
        return r;
    case ST_DATA:
        n = take(p->remaining, len);
        r = p->cb->data(p->ctx, d, n, err);
        if (r < 0)
            p->state = ST_END;
        break;
    case ST_META: {
        n = take(p->remaining, len);
        imgd_buf *b = p->meta == META_PAX        ? &p->next.pax
                      : p->meta == META_LONGNAME ? &p->next.longname
                                                 : &p->next.longlink;
        if (imgd_buf_append(b, d, n) < 0)
            return imgd_error_set(err, ENOMEM, "out of memory");
        break;
    }
    case ST_SKIP:
        n = take(p->remaining, len);
        break;
    case ST_PADDING:
        n = p->padding < len ? p->padding : len;
        p->padding -= n;
        *used = n;
        if (p->padding == 0) {
            p->state = ST_HEADER;
            r = end_entry(p, err);
        }
        return r;
    case ST_END:
        *used = len;
        return 0;
    }
    *used = n;
    p->remaining -= n;
    if (p->remaining == 0 && p->state != ST_END) {
        if (p->state == ST_META && p->meta == META_PAX && (r = parse_pax(p, err)) < 0)
            return r;
        p->state = ST_PADDING;
        if (p->padding == 0) {
            p->state = ST_HEADER;
            r = end_entry(p, err);
        }
    }
    return r;
}

int imgd_tar_parser_feed(imgd_tar_parser *p, const void *data, size_t len, imgd_error **err)
{
    const unsigned char *d = data;
    while (len > 0) {
        size_t used = 0;
        int r = step(p, d, len, &used, err);
        if (r < 0)
            return r;
        d += used;
        len -= used;
    }
    return 0;
}

int imgd_tar_parser_finish(imgd_tar_parser *p, imgd_error **err)
{
    if (p->state == ST_END || (p->state == ST_HEADER && p->header_len == 0 && !p->entry_open))
        return 0;
    p->state = ST_END;
    return imgd_error_set(err, EINVAL, "tar: the archive ends in the middle of an entry");
}
