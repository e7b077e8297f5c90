/* SPDX-License-Identifier: MIT */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"

int imgd_mkdir_p(const char *path, mode_t mode, imgd_error **err)
{
    _cleanup_free_ char *copy = strdup(path);
    if (!copy)
        return imgd_error_set(err, ENOMEM, "out of memory");
    size_t len = strlen(copy);
    while (len > 1 && copy[len - 1] == '/')
        copy[--len] = '\0';
    for (char *p = copy + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(copy, mode) < 0 && errno != EEXIST)
            return imgd_error_errno(err, errno, "create directory '%s'", copy);
        struct stat st;
        if (stat(copy, &st) < 0)
            return imgd_error_errno(err, errno, "create directory '%s'", copy);
        if (!S_ISDIR(st.st_mode))
            return imgd_error_set(err, ENOTDIR, "'%s' exists and is not a directory", copy);
        *p = saved;
        if (saved == '\0')
            break;
    }
    return 0;
}

int imgd_read_file(char **out, size_t *out_len, const char *path, size_t max_bytes,
                   imgd_error **err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return imgd_error_errno(err, errno, "open '%s'", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return imgd_error_errno(err, errno, "stat '%s'", path);
    if (!S_ISREG(st.st_mode))
        return imgd_error_set(err, EINVAL, "'%s' is not a regular file", path);
    if ((size_t)st.st_size > max_bytes)
        return imgd_error_set(err, EFBIG, "'%s' is larger than %zu bytes", path, max_bytes);
    /* room for the file, one byte more to see its end, and the NUL */
    size_t cap = (size_t)st.st_size + 2, len = 0;
    _cleanup_free_ char *buf = malloc(cap);
    if (!buf)
        return imgd_error_set(err, ENOMEM, "out of memory reading '%s'", path);
    for (;;) {
        if (len + 1 >= cap) { /* the file grew since fstat */
            if (len > max_bytes)
                return imgd_error_set(err, EFBIG, "'%s' is larger than %zu bytes", path, max_bytes);
            char *n = realloc(buf, cap * 2);
            if (!n)
                return imgd_error_set(err, ENOMEM, "out of memory reading '%s'", path);
            buf = n;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return imgd_error_errno(err, errno, "read '%s'", path);
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (len > max_bytes)
        return imgd_error_set(err, EFBIG, "'%s' is larger than %zu bytes", path, max_bytes);
    buf[len] = '\0';
    if (out_len)
        *out_len = len;
    *out = TAKE_PTR(buf);
    return 0;
}

int imgd_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int write_file_replace(const char *path, const void *data, size_t len, mode_t mode,
                              bool durable, imgd_error **err)
{
    _cleanup_free_ char *tmp = NULL;
    _cleanup_free_ char *dircopy = strdup(path);
    if (!dircopy || asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return imgd_error_errno(err, errno, "create temporary file for '%s'", path);
    int r = imgd_write_all(fd, data, len);
    if (r == 0 && fchmod(fd, mode) < 0)
        r = -errno;
    if (r == 0 && durable && fsync(fd) < 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        unlink(tmp);
        return imgd_error_errno(err, -r, "write '%s'", path);
    }
    if (!durable)
        return 0;
    _cleanup_close_ int dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0)
        (void)fsync(dfd);
    return 0;
}

int imgd_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                           imgd_error **err)
{
    return write_file_replace(path, data, len, mode, true, err);
}

int imgd_write_file_replace(const char *path, const void *data, size_t len, mode_t mode,
                            imgd_error **err)
{
    return write_file_replace(path, data, len, mode, false, err);
}

int imgd_dir_check_writable(const char *dir, imgd_error **err)
{
    struct stat st;
    if (stat(dir, &st) < 0)
        return imgd_error_errno(err, errno, "directory '%s'", dir);
    if (!S_ISDIR(st.st_mode))
        return imgd_error_set(err, ENOTDIR, "'%s' is not a directory", dir);
    _cleanup_free_ char *probe = NULL;
    if (asprintf(&probe, "%s/.imgd-write-probe.XXXXXX", dir) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    int fd = mkostemp(probe, O_CLOEXEC);
    if (fd < 0)
        return imgd_error_errno(err, errno, "directory '%s' is not writable", dir);
    close(fd);
    unlink(probe);
    return 0;
}

int imgd_open_in_root(int dirfd, const char *path, int flags, bool no_symlinks)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve =
            RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | (no_symlinks ? RESOLVE_NO_SYMLINKS : 0),
    };
    long fd = syscall(SYS_openat2, dirfd, *path ? path : ".", &how, sizeof(how));
    return fd < 0 ? -errno : (int)fd;
}
