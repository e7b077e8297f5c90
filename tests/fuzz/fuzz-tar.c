/* SPDX-License-Identifier: MIT */
/* The tar reader on arbitrary bytes, fed in pieces whose sizes come from the input: every call
 * returns cleanly, data never exceeds what the entry announced, and entries never nest. */
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/store/tar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct state {
    bool open;
    uint64_t announced;
    uint64_t seen;
} state;

static int on_entry(void *ctx, const imgd_tar_entry *e, imgd_error **err)
{
    (void)err;
    state *s = ctx;
    assert(!s->open);
    assert(e->path && e->linkname);
    assert(e->type == IMGD_TAR_FILE || e->size == 0);
    assert(e->n_xattrs <= IMGD_TAR_MAX_XATTRS);
    s->open = true;
    s->announced = e->size;
    s->seen = 0;
    return 0;
}

static int on_data(void *ctx, const void *buf, size_t len, imgd_error **err)
{
    (void)buf;
    (void)err;
    state *s = ctx;
    assert(s->open);
    s->seen += len;
    assert(s->seen <= s->announced);
    return 0;
}

static int on_end(void *ctx, imgd_error **err)
{
    (void)err;
    state *s = ctx;
    assert(s->open && s->seen == s->announced);
    s->open = false;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const imgd_tar_callbacks cb = {on_entry, on_data, on_end};
    static const imgd_tar_limits lim = {
        .max_entry_size = 1 << 20, .max_entries = 1000, .max_path = 4096, .max_pax_header = 65536};
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] * 7 + 1; /* vary the piece size with the input */
    data++;
    size--;
    state s = {0};
    imgd_tar_parser *p = imgd_tar_parser_new(&cb, &s, &lim);
    assert(p);
    imgd_error *err = NULL;
    int r = 0;
    for (size_t off = 0; r == 0 && off < size; off += chunk)
        r = imgd_tar_parser_feed(p, data + off, size - off < chunk ? size - off : chunk, &err);
    if (r == 0)
        r = imgd_tar_parser_finish(p, &err);
    assert((r == 0) == (err == NULL));
    if (err)
        assert(strchr(err->message, '\n') == NULL);
    imgd_error_free(err);
    imgd_tar_parser_free(p);
    return 0;
}
