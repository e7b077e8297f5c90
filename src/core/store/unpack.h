/* SPDX-License-Identifier: MIT */
/* Layer unpacking: compressed bytes in, an overlayfs-ready directory out, in one pass.
 *
 *   bytes -> gunzip / zstd (or none) -> sha256 (the DiffID) -> tar reader -> files
 *
 * Files are created under a directory the caller owns, through openat2(RESOLVE_IN_ROOT |
 * RESOLVE_NO_SYMLINKS), so no entry lands outside it: a ".." that leaves the directory, or a
 * path that runs through a symbolic link, fails the layer with a message naming the entry.
 * Whiteouts become what overlayfs expects: ".wh.x" a 0:0 character device "x", ".wh..wh..opq"
 * the xattr trusted.overlay.opaque=y on its directory. Ownership, modes, times and xattrs are
 * kept (except trusted.overlay.*, which an image must not set); device nodes only as root.
 *
 * An unpacker is used by one thread. */
#pragma once

#include <stdint.h>

#include "util/digest.h"
#include "util/error.h"

typedef enum imgd_compression {
    IMGD_COMPRESSION_NONE,
    IMGD_COMPRESSION_GZIP,
    IMGD_COMPRESSION_ZSTD,
    IMGD_COMPRESSION_DETECT, /* by magic bytes: gzip 1f 8b, zstd 28 b5 2f fd, else none */
} imgd_compression;

typedef struct imgd_unpack_limits {
    uint64_t max_layer_bytes; /* uncompressed tar stream; 0: 256 GiB */
    uint64_t max_entry_bytes; /* one file; 0: 64 GiB */
} imgd_unpack_limits;

typedef struct imgd_unpacker imgd_unpacker;

/* Unpack into the directory dirfd (borrowed, should be empty). limits may be NULL. Returns 0 or
 * -ENOMEM. */
int imgd_unpacker_new(imgd_unpacker **out, int dirfd, imgd_compression compression,
                      const imgd_unpack_limits *limits, imgd_error **err);

/* Feed the next compressed bytes. Fails with -EINVAL (bad compression or tar, an entry that
 * would leave the directory), -EFBIG (over a limit) or the errno of a file operation. After a
 * failure the directory holds a partial layer: the caller removes it. */
int imgd_unpacker_feed(imgd_unpacker *u, const void *data, size_t len, imgd_error **err);

/* All bytes were fed: finish the tar stream, set directory times, and give the DiffID (sha256 of
 * the uncompressed tar) and the uncompressed size. */
int imgd_unpacker_finish(imgd_unpacker *u, char diff_id[IMGD_DIGEST_LEN + 1], uint64_t *out_size,
                         imgd_error **err);

/* Free; accepts NULL. Does not remove anything from the directory. */
void imgd_unpacker_free(imgd_unpacker *u);

/* Remove the entry name in the directory parentfd, recursively when it is a directory, never
 * following symbolic links. Returns 0 (also when name does not exist) or a negative errno. */
int imgd_remove_tree_at(int parentfd, const char *name);
