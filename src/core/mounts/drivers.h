/* SPDX-License-Identifier: MIT */
/* The kernel side of attachments and mounts: loop devices, mount option words, mount and
 * unmount. No records, no reference counts: mounts.c keeps those. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

/* Mount option words split as mount(8) does: words naming flags (ro, rw, nosuid, nodev,
 * noexec, noatime, nodiratime, relatime, strictatime, sync, dirsync, bind, rbind) become MS_*
 * flags, the rest is comma-joined into data. -EINVAL for an empty word or one holding a comma,
 * and for "loop" (use a loopback attachment), with the word named. Pure. */
typedef struct imgd_mount_opts {
    unsigned long flags;
    char data[4096];
} imgd_mount_opts;
int imgd_mount_opts_parse(imgd_mount_opts *out, const char *const *words, size_t n,
                          imgd_error **err);

/* Attach file to a free loop device with LOOP_CONFIGURE: autoclear (the device goes when its
 * last user does), read-only when readonly or when the file cannot be opened for writing,
 * partition scan when partscan. Returns an open descriptor of the device (keep it to keep the
 * device) and its path in dev. -ENOENT/-EINVAL when file is missing or not a regular file. */
int imgd_loop_attach(int *out_fd, char *dev, size_t dev_len, const char *file, bool readonly,
                     bool partscan, imgd_error **err);

/* The loop device whose backing file is file, opened (for re-adoption after a restart), or
 * -ENOENT. */
int imgd_loop_find(int *out_fd, char *dev, size_t dev_len, const char *file);

/* Detach: clear the device (it stays attached while still mounted, and goes when unmounted,
 * thanks to autoclear) and close fd. */
void imgd_loop_detach(int fd);

/* Whether path is a mount point (its device differs from its parent's, or it is a bind of its
 * own directory per mountinfo). */
bool imgd_path_is_mountpoint(const char *path);

/* Lazily unmount path (MNT_DETACH) until nothing is mounted there. */
void imgd_unmount_all(const char *path);

/* Whether the running kernel knows the filesystem type (per /proc/filesystems). */
bool imgd_kernel_has_fs(const char *fs_type);
