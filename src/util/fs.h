/* SPDX-License-Identifier: MIT */
/* File-system helpers: directory creation, bounded reads, crash-safe writes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* Create a directory and its missing parents with the given mode (existing ones are kept).
 * Returns 0 or a negative errno with *err naming the path that failed. */
int imgd_mkdir_p(const char *path, mode_t mode, imgd_error **err);

/* Read a whole regular file of at most max_bytes. Returns 0 with a malloc'd NUL-terminated
 * buffer in *out (length in *out_len when not NULL), -EFBIG when larger, or another negative
 * errno. *err names the file. */
int imgd_read_file(char **out, size_t *out_len, const char *path, size_t max_bytes,
                   imgd_error **err);

/* Write all of data to fd, retrying short writes and EINTR. Returns 0 or a negative errno. */
int imgd_write_all(int fd, const void *data, size_t len);

/* Write data to path crash-safely: a temp file in the same directory, fsync, rename, fsync of
 * the directory. Readers see the old or the new content, never a part. */
int imgd_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                           imgd_error **err);

/* Like imgd_write_file_atomic without the fsyncs: readers still see the old or the new
 * content, but after a power loss the file may be empty. For files rebuilt from a durable
 * source when found empty or missing. */
int imgd_write_file_replace(const char *path, const void *data, size_t len, mode_t mode,
                            imgd_error **err);

/* Check that dir is a directory this process can create files in, by creating and removing a
 * probe file (access(2) says yes to root on read-only mounts). */
int imgd_dir_check_writable(const char *dir, imgd_error **err);

/* Open path below dirfd the way untrusted paths must be opened: openat2 with RESOLVE_IN_ROOT (so
 * ".." and absolute symlinks stay inside dirfd) and RESOLVE_NO_MAGICLINKS, plus
 * RESOLVE_NO_SYMLINKS when no_symlinks. O_CLOEXEC is added. Returns an fd or a negative errno. */
int imgd_open_in_root(int dirfd, const char *path, int flags, bool no_symlinks);
