/* SPDX-License-Identifier: MIT */
/* A push-mode tar reader: bytes are fed as they arrive (from a download, a decompressor, a file)
 * and entries come out through callbacks. It reads ustar, pax (path, linkpath, size, uid, gid,
 * mtime, SCHILY.xattr.*) and GNU long names, the forms Go's archive/tar and GNU tar write into
 * image layers. Push mode is why this is not libarchive: a layer is hashed, decompressed, parsed
 * and extracted in one pass on the thread that receives it, with no second thread to pull from.
 *
 * The input is untrusted: every length is bounded before it is allocated, and a malformed
 * archive fails with -EINVAL and a message naming what was wrong. A parser is used by one thread
 * at a time. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef enum imgd_tar_type {
    IMGD_TAR_FILE,
    IMGD_TAR_HARDLINK,
    IMGD_TAR_SYMLINK,
    IMGD_TAR_CHAR,
    IMGD_TAR_BLOCK,
    IMGD_TAR_DIR,
    IMGD_TAR_FIFO,
} imgd_tar_type;

typedef struct imgd_tar_xattr {
    const char *name;
    const char *value; /* binary; value_len bytes */
    size_t value_len;
} imgd_tar_xattr;

#define IMGD_TAR_MAX_XATTRS 64

typedef struct imgd_tar_entry {
    imgd_tar_type type;
    const char *path;     /* as stored (not cleaned); borrowed for the callback's duration */
    const char *linkname; /* symlink target or hardlink source; "" for others */
    uint32_t mode;        /* permission bits incl. setuid/setgid/sticky (07777) */
    int64_t uid, gid;
    uint64_t size; /* data bytes that follow (regular files only) */
    int64_t mtime; /* seconds */
    uint32_t mtime_nsec;
    uint32_t devmajor, devminor;
    size_t n_xattrs;
    imgd_tar_xattr xattrs[IMGD_TAR_MAX_XATTRS];
} imgd_tar_entry;

typedef struct imgd_tar_callbacks {
    /* An entry's header; for a regular file its data follows through data(). */
    int (*entry)(void *ctx, const imgd_tar_entry *e, imgd_error **err);
    /* A piece of the current file's data (never more than the entry's size in total). */
    int (*data)(void *ctx, const void *buf, size_t len, imgd_error **err);
    /* The current entry is complete (after all its data). */
    int (*entry_end)(void *ctx, imgd_error **err);
} imgd_tar_callbacks;

typedef struct imgd_tar_limits {
    uint64_t max_entry_size; /* largest regular file */
    uint64_t max_entries;
    size_t max_path;       /* longest path or link name */
    size_t max_pax_header; /* largest pax extended header */
} imgd_tar_limits;

typedef struct imgd_tar_parser imgd_tar_parser;

/* Create a parser; cb and ctx are borrowed. limits NULL gives the defaults (64 GiB entries,
 * 10 million entries, 4096-byte paths, 1 MiB pax headers). Returns NULL on allocation failure. */
imgd_tar_parser *imgd_tar_parser_new(const imgd_tar_callbacks *cb, void *ctx,
                                     const imgd_tar_limits *limits);

/* Feed bytes. A callback's error stops parsing and is returned. After an error or after the
 * end-of-archive marker, further bytes are ignored (trailing zero padding is normal). */
int imgd_tar_parser_feed(imgd_tar_parser *p, const void *data, size_t len, imgd_error **err);

/* The input ended: fails with -EINVAL when it stopped inside an entry. An archive may end with
 * or without the two zero blocks. */
int imgd_tar_parser_finish(imgd_tar_parser *p, imgd_error **err);

/* Entries seen so far. */
uint64_t imgd_tar_parser_entries(const imgd_tar_parser *p);

/* Free; accepts NULL. */
void imgd_tar_parser_free(imgd_tar_parser *p);
