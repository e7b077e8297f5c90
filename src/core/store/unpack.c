/* SPDX-License-Identifier: MIT */
#include "unpack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "tar.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/fs.h"

#define OUT_CHUNK       (128 * 1024)
#define WHITEOUT        ".wh."
#define OPAQUE          ".wh..wh..opq"
#define PATH_MAX_ENTRY  4096
#define EARLY_WRITEBACK (8u * 1024u * 1024u)

typedef struct dir_time {
    char *path;
    struct timespec mtime;
} dir_time;

struct imgd_unpacker {
    int rootfd;
    bool as_root;
    imgd_unpack_limits lim;
    imgd_compression compression;
    unsigned char magic[4]; /* first bytes, while detecting the compression */
    size_t magic_len;
    z_stream zs;
    bool zs_live;
    ZSTD_DCtx *zstd;
    unsigned char *out; /* decompressed chunk */
    imgd_sha256 diff;
    uint64_t tar_bytes;
    imgd_tar_parser *tar;
    /* the entry being written */
    int file_fd;
    uint64_t file_written;
    uint64_t flushed; /* bytes of the file whose writeback was started */
    int64_t uid, gid;
    uint32_t mode;
    struct timespec mtime;
    unsigned char caps[64]; /* security.capability, set after chown (which clears it) */
    size_t caps_len;
    char path[PATH_MAX_ENTRY + 1]; /* cleaned, for messages */
    dir_time *dirs;
    size_t n_dirs, cap_dirs;
};

/* ---- paths ---- */

/* Clean an entry name: no leading "/" or "./", no "." components, no empty components. A ".."
 * component is refused rather than resolved: a layer has no business naming its parent. The
 * root itself comes out as "". */
static int clean_path(char *out, size_t len, const char *in)
{
    size_t n = 0;
    const char *p = in;
    while (*p) {
        while (*p == '/')
            p++;
        const char *end = strchr(p, '/');
        size_t c = end ? (size_t)(end - p) : strlen(p);
        if (c == 0)
            break;
        if (c == 2 && p[0] == '.' && p[1] == '.')
            return -EXDEV;
        if (!(c == 1 && p[0] == '.')) {
            if (n + c + 2 > len)
                return -ENAMETOOLONG;
            if (n)
                out[n++] = '/';
            memcpy(out + n, p, c);
            n += c;
        }
        p += c;
    }
    out[n] = '\0';
    return 0;
}

static int open_beneath(int rootfd, const char *path, int flags)
{
    return imgd_open_in_root(rootfd, path, flags, true);
}

/* Open the directory path below root, creating missing components (mode 0755, as tar does for
 * parents an archive leaves out). Returns an O_PATH fd or a negative errno. */
static int open_parent(int rootfd, const char *path)
{
    int fd = open_beneath(rootfd, path, O_PATH | O_DIRECTORY);
    if (fd != -ENOENT)
        return fd;
    fd = dup(rootfd);
    if (fd < 0)
        return -errno;
    char comp[PATH_MAX_ENTRY + 1];
    for (const char *p = path; *p;) {
        const char *end = strchr(p, '/');
        size_t c = end ? (size_t)(end - p) : strlen(p);
        memcpy(comp, p, c);
        comp[c] = '\0';
        bool made = mkdirat(fd, comp, 0755) == 0;
        if (!made && errno != EEXIST) {
            int r = -errno;
            close(fd);
            return r;
        }
        /* 0755 whatever the umask: in an upper layer this directory's mode is what users see */
        if (made && fchmodat(fd, comp, 0755, 0) < 0) {
            int r = -errno;
            close(fd);
            return r;
        }
        int next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int r = -errno;
        close(fd);
        if (next < 0)
            return r == -ENOTDIR ? -ELOOP : r; /* a symlink (or file) where a dir must be */
        fd = next;
        p += c + (end ? 1 : 0);
    }
    return fd;
}

int imgd_remove_tree_at(int parentfd, const char *name)
{
    if (unlinkat(parentfd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -errno;
    int fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -errno;
    }
    int r = 0;
    struct dirent *de;
    while (r == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        r = imgd_remove_tree_at(dirfd(d), de->d_name);
    }
    closedir(d);
    if (r == 0 && unlinkat(parentfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        r = -errno;
    return r;
}

/* ---- entries ---- */

static int entry_error(imgd_unpacker *u, imgd_error **err, int code, const char *what)
{
    if (code == -EXDEV)
        return imgd_error_set(err, EINVAL, "layer entry '%s' leaves the layer directory", u->path);
    if (code == -ELOOP)
        return imgd_error_set(
            err, EINVAL, "layer entry '%s' has a symbolic link in its directory path", u->path);
    return imgd_error_errno(err, -code, "layer entry '%s': %s", u->path, what);
}

/* Make room for a new entry at parentfd/base: an existing directory stays when the new entry is
 * a directory too (its attributes are replaced); anything else is removed first. Returns 1 when
 * a directory was kept, 0 when the name is free, or a negative errno. */
static int make_room(int parentfd, const char *base, bool new_is_dir)
{
    struct stat st;
    if (fstatat(parentfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (new_is_dir && S_ISDIR(st.st_mode))
        return 1;
    int r = S_ISDIR(st.st_mode) ? imgd_remove_tree_at(parentfd, base)
                                : (unlinkat(parentfd, base, 0) < 0 ? -errno : 0);
    return r;
}

/* Ownership, then mode (chown clears set-id bits), then xattrs, on an open fd. */
static int apply_attrs_fd(imgd_unpacker *u, int fd, const imgd_tar_entry *e)
{
    if (u->as_root && fchown(fd, (uid_t)e->uid, (gid_t)e->gid) < 0)
        return -errno;
    if (fchmod(fd, (mode_t)e->mode) < 0)
        return -errno;
    for (size_t i = 0; i < e->n_xattrs; i++) {
        const imgd_tar_xattr *x = &e->xattrs[i];
        /* overlayfs trusts these on a lower layer: an image must never set them */
        if (strncmp(x->name, "trusted.overlay.", 16) == 0)
            continue;
        if (fsetxattr(fd, x->name, x->value, x->value_len, 0) < 0 && errno != ENOTSUP &&
            errno != EOPNOTSUPP && errno != EPERM && errno != EACCES)
            return -errno;
    }
    return 0;
}

static int record_dir_time(imgd_unpacker *u, const imgd_tar_entry *e)
{
    if (imgd_array_reserve(&u->dirs, &u->cap_dirs, u->n_dirs + 1, sizeof(*u->dirs), 64) < 0)
        return -ENOMEM;
    char *copy = strdup(u->path);
    if (!copy)
        return -ENOMEM;
    u->dirs[u->n_dirs++] = (dir_time){copy, {.tv_sec = e->mtime, .tv_nsec = (long)e->mtime_nsec}};
    return 0;
}

static int make_dir(imgd_unpacker *u, int parentfd, const char *base, const imgd_tar_entry *e)
{
    int r = *base ? make_room(parentfd, base, true) : 1;
    if (r < 0)
        return r;
    if (r == 0 && mkdirat(parentfd, base, 0700) < 0)
        return -errno;
    int fd = *base ? openat(parentfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                   : dup(u->rootfd);
    if (fd < 0)
        return -errno;
    r = apply_attrs_fd(u, fd, e);
    close(fd);
    return r < 0 ? r : record_dir_time(u, e);
}

static int make_file(imgd_unpacker *u, int parentfd, const char *base, const imgd_tar_entry *e)
{
    int r = make_room(parentfd, base, false);
    if (r < 0)
        return r;
    int fd = openat(parentfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    u->file_fd = fd;
    u->file_written = 0;
    u->flushed = 0;
    u->uid = e->uid;
    u->gid = e->gid;
    u->mode = e->mode;
    u->mtime = (struct timespec){.tv_sec = e->mtime, .tv_nsec = (long)e->mtime_nsec};
    u->caps_len = 0;
    /* xattrs now: their strings live only for this callback */
    for (size_t i = 0; i < e->n_xattrs; i++) {
        const imgd_tar_xattr *x = &e->xattrs[i];
        if (strncmp(x->name, "trusted.overlay.", 16) == 0)
            continue;
        if (strcmp(x->name, "security.capability") == 0) {
            if (x->value_len <= sizeof(u->caps)) { /* set at the end: chown clears it */
                memcpy(u->caps, x->value, x->value_len);
                u->caps_len = x->value_len;
            }
            continue;
        }
        if (fsetxattr(fd, x->name, x->value, x->value_len, 0) < 0 && errno != ENOTSUP &&
            errno != EOPNOTSUPP && errno != EPERM && errno != EACCES)
            return -errno;
    }
    return 0;
}

static int set_times_at(int parentfd, const char *base, const imgd_tar_entry *e)
{
    struct timespec ts[2] = {{.tv_sec = e->mtime, .tv_nsec = (long)e->mtime_nsec},
                             {.tv_sec = e->mtime, .tv_nsec = (long)e->mtime_nsec}};
    return utimensat(parentfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int make_symlink(imgd_unpacker *u, int parentfd, const char *base, const imgd_tar_entry *e)
{
    int r = make_room(parentfd, base, false);
    if (r < 0)
        return r;
    if (symlinkat(e->linkname, parentfd, base) < 0)
        return -errno;
    if (u->as_root &&
        fchownat(parentfd, base, (uid_t)e->uid, (gid_t)e->gid, AT_SYMLINK_NOFOLLOW) < 0)
        return -errno;
    return set_times_at(parentfd, base, e);
}

static int make_hardlink(imgd_unpacker *u, int parentfd, const char *base, const imgd_tar_entry *e,
                         imgd_error **err)
{
    char target[PATH_MAX_ENTRY + 1];
    int r = clean_path(target, sizeof(target), e->linkname);
    if (r < 0)
        return imgd_error_set(err, EINVAL, "layer entry '%s' links to '%s', outside the layer",
                              u->path, e->linkname);
    int tfd = open_beneath(u->rootfd, target, O_PATH | O_NOFOLLOW);
    if (tfd < 0)
        return imgd_error_set(err, EINVAL,
                              "layer entry '%s' links to '%s', which is not in this layer", u->path,
                              e->linkname);
    struct stat st;
    r = fstat(tfd, &st) < 0 ? -errno : 0;
    if (r == 0 && S_ISDIR(st.st_mode))
        r = -EPERM;
    if (r == 0)
        r = make_room(parentfd, base, false);
    if (r == 0 && linkat(tfd, "", parentfd, base, AT_EMPTY_PATH) < 0)
        r = -errno;
    close(tfd);
    return r < 0 ? entry_error(u, err, r, "hard link") : 0;
}

static int make_node(imgd_unpacker *u, int parentfd, const char *base, const imgd_tar_entry *e)
{
    mode_t type = e->type == IMGD_TAR_CHAR    ? S_IFCHR
                  : e->type == IMGD_TAR_BLOCK ? S_IFBLK
                                              : S_IFIFO;
    if (type != S_IFIFO && !u->as_root)
        return 0; /* device nodes need CAP_MKNOD: leave them out, as rootless unpacking does */
    int r = make_room(parentfd, base, false);
    if (r < 0)
        return r;
    if (mknodat(parentfd, base, type | (e->mode & 07777), makedev(e->devmajor, e->devminor)) < 0)
        return -errno;
    if (u->as_root &&
        fchownat(parentfd, base, (uid_t)e->uid, (gid_t)e->gid, AT_SYMLINK_NOFOLLOW) < 0)
        return -errno;
    if (fchmodat(parentfd, base, e->mode & 07777, 0) < 0 && errno != EOPNOTSUPP)
        return -errno;
    return set_times_at(parentfd, base, e);
}

/* ".wh.name": hide name of the lower layers with a 0:0 character device; a file of the same name
 * in this layer wins, whichever comes first in the archive. ".wh..wh..opq": hide all of the
 * directory's lower contents. */
static int make_whiteout(int parentfd, const char *base)
{
    if (strcmp(base, OPAQUE) == 0) {
        int fd = openat(parentfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        int r = fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0) < 0 ? -errno : 0;
        close(fd);
        return r;
    }
    const char *name = base + strlen(WHITEOUT);
    if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return -EINVAL;
    struct stat st;
    if (fstatat(parentfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return 0;
    if (mknodat(parentfd, name, S_IFCHR | 0000, makedev(0, 0)) < 0)
        return -errno;
    return 0;
}

static int on_entry(void *ctx, const imgd_tar_entry *e, imgd_error **err)
{
    imgd_unpacker *u = ctx;
    int r = clean_path(u->path, sizeof(u->path), e->path);
    if (r < 0) {
        snprintf(u->path, sizeof(u->path), "%.4000s", e->path);
        return entry_error(u, err, r, "path");
    }
    char *slash = strrchr(u->path, '/');
    char parent[PATH_MAX_ENTRY + 1];
    const char *base = slash ? slash + 1 : u->path;
    snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - u->path) : 0, u->path);
    if (!*u->path && e->type != IMGD_TAR_DIR)
        return imgd_error_set(err, EINVAL, "layer entry '%s' names the layer root", e->path);
    int parentfd = *u->path ? open_parent(u->rootfd, parent) : dup(u->rootfd);
    if (parentfd < 0)
        return entry_error(u, err, parentfd < -1 ? parentfd : -errno, "parent directory");
    bool whiteout = strncmp(base, WHITEOUT, strlen(WHITEOUT)) == 0;
    if (whiteout)
        r = make_whiteout(parentfd, base);
    else if (e->type == IMGD_TAR_DIR)
        r = make_dir(u, parentfd, base, e);
    else if (e->type == IMGD_TAR_FILE)
        r = make_file(u, parentfd, base, e);
    else if (e->type == IMGD_TAR_SYMLINK)
        r = make_symlink(u, parentfd, base, e);
    else if (e->type == IMGD_TAR_HARDLINK)
        r = make_hardlink(u, parentfd, base, e, err);
    else
        r = make_node(u, parentfd, base, e);
    close(parentfd);
    if (r < 0 && !(err && *err))
        return entry_error(u, err, r, whiteout ? "whiteout" : "create");
    return r;
}

static int on_data(void *ctx, const void *buf, size_t len, imgd_error **err)
{
    imgd_unpacker *u = ctx;
    if (u->file_fd < 0)
        return 0;
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(u->file_fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return entry_error(u, err, -errno, "write");
        p += w;
        len -= (size_t)w;
        u->file_written += (uint64_t)w;
    }
    /* Start writing a large file out as it arrives, a few MiB at a time: the syncfs at the
     * layer's commit then has little left to wait for, and the disk works while the network
     * does. SYNC_FILE_RANGE_WRITE only starts the writeback; it does not wait. */
    if (u->file_written - u->flushed >= EARLY_WRITEBACK) {
        (void)sync_file_range(u->file_fd, (off64_t)u->flushed,
                              (off64_t)(u->file_written - u->flushed), SYNC_FILE_RANGE_WRITE);
        u->flushed = u->file_written;
    }
    return 0;
}

static int on_entry_end(void *ctx, imgd_error **err)
{
    imgd_unpacker *u = ctx;
    if (u->file_fd < 0)
        return 0;
    int fd = u->file_fd;
    u->file_fd = -1;
    int r = 0;
    if (u->as_root && fchown(fd, (uid_t)u->uid, (gid_t)u->gid) < 0)
        r = -errno;
    if (r == 0 && fchmod(fd, (mode_t)u->mode) < 0)
        r = -errno;
    if (r == 0 && u->caps_len &&
        fsetxattr(fd, "security.capability", u->caps, u->caps_len, 0) < 0 && errno != ENOTSUP &&
        errno != EOPNOTSUPP && errno != EPERM)
        r = -errno;
    struct timespec ts[2] = {u->mtime, u->mtime};
    if (r == 0 && futimens(fd, ts) < 0)
        r = -errno;
    close(fd);
    return r < 0 ? entry_error(u, err, r, "attributes") : 0;
}

static const imgd_tar_callbacks extract_callbacks = {
    .entry = on_entry,
    .data = on_data,
    .entry_end = on_entry_end,
};

/* ---- the byte pipeline ---- */

static int feed_tar(imgd_unpacker *u, const void *data, size_t len, imgd_error **err)
{
    if (len == 0)
        return 0;
    u->tar_bytes += len;
    if (u->tar_bytes > u->lim.max_layer_bytes)
        return imgd_error_set(err, EFBIG, "layer is larger than %llu bytes uncompressed",
                              (unsigned long long)u->lim.max_layer_bytes);
    imgd_sha256_update(&u->diff, data, len);
    return imgd_tar_parser_feed(u->tar, data, len, err);
}

static int feed_gzip(imgd_unpacker *u, const unsigned char *data, size_t len, imgd_error **err)
{
    u->zs.next_in = (unsigned char *)data;
    u->zs.avail_in = (uInt)len;
    while (u->zs.avail_in > 0) {
        u->zs.next_out = u->out;
        u->zs.avail_out = OUT_CHUNK;
        int zr = inflate(&u->zs, Z_NO_FLUSH);
        if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
            return imgd_error_set(err, EINVAL, "layer is not valid gzip: %s",
                                  u->zs.msg ? u->zs.msg : "corrupt data");
        int r = feed_tar(u, u->out, OUT_CHUNK - u->zs.avail_out, err);
        if (r < 0)
            return r;
        if (zr == Z_STREAM_END && u->zs.avail_in > 0 && inflateReset(&u->zs) != Z_OK)
            return imgd_error_set(err, EINVAL, "layer is not valid gzip");
        if (zr == Z_BUF_ERROR && u->zs.avail_out == OUT_CHUNK)
            break;
    }
    return 0;
}

static int feed_zstd(imgd_unpacker *u, const unsigned char *data, size_t len, imgd_error **err)
{
    ZSTD_inBuffer in = {data, len, 0};
    while (in.pos < in.size) {
        ZSTD_outBuffer out = {u->out, OUT_CHUNK, 0};
        size_t zr = ZSTD_decompressStream(u->zstd, &out, &in);
        if (ZSTD_isError(zr))
            return imgd_error_set(err, EINVAL, "layer is not valid zstd: %s",
                                  ZSTD_getErrorName(zr));
        int r = feed_tar(u, u->out, out.pos, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int start_decompression(imgd_unpacker *u, imgd_error **err)
{
    if (u->compression == IMGD_COMPRESSION_GZIP) {
        if (inflateInit2(&u->zs, 15 + 16) != Z_OK)
            return imgd_error_set(err, ENOMEM, "out of memory");
        u->zs_live = true;
    } else if (u->compression == IMGD_COMPRESSION_ZSTD) {
        u->zstd = ZSTD_createDCtx();
        if (!u->zstd)
            return imgd_error_set(err, ENOMEM, "out of memory");
    }
    return 0;
}

static int feed_decompressed(imgd_unpacker *u, const void *data, size_t len, imgd_error **err)
{
    switch (u->compression) {
    case IMGD_COMPRESSION_GZIP:
        return feed_gzip(u, data, len, err);
    case IMGD_COMPRESSION_ZSTD:
        return feed_zstd(u, data, len, err);
    default:
        return feed_tar(u, data, len, err);
    }
}

/* Docker's plain "tar" media type may still be compressed: look at the first bytes. */
static imgd_compression sniff(const unsigned char *m, size_t len)
{
    if (len >= 2 && m[0] == 0x1f && m[1] == 0x8b)
        return IMGD_COMPRESSION_GZIP;
    if (len >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
        return IMGD_COMPRESSION_ZSTD;
    return IMGD_COMPRESSION_NONE;
}

int imgd_unpacker_feed(imgd_unpacker *u, const void *data, size_t len, imgd_error **err)
{
    if (u->compression != IMGD_COMPRESSION_DETECT)
        return feed_decompressed(u, data, len, err);
    size_t n = sizeof(u->magic) - u->magic_len < len ? sizeof(u->magic) - u->magic_len : len;
    memcpy(u->magic + u->magic_len, data, n);
    u->magic_len += n;
    if (u->magic_len < sizeof(u->magic))
        return 0;
    u->compression = sniff(u->magic, u->magic_len);
    int r = start_decompression(u, err);
    if (r == 0)
        r = feed_decompressed(u, u->magic, u->magic_len, err);
    if (r == 0)
        r = feed_decompressed(u, (const char *)data + n, len - n, err);
    return r;
}

static int set_dir_times(imgd_unpacker *u, imgd_error **err)
{
    /* children first, so setting a child's time cannot touch its parent's again */
    for (size_t i = u->n_dirs; i-- > 0;) {
        int fd = open_beneath(u->rootfd, u->dirs[i].path, O_RDONLY | O_DIRECTORY);
        if (fd < 0)
            continue; /* replaced later in the archive */
        struct timespec ts[2] = {u->dirs[i].mtime, u->dirs[i].mtime};
        int r = futimens(fd, ts) < 0 ? -errno : 0;
        close(fd);
        if (r < 0)
            return imgd_error_errno(err, -r, "layer entry '%s': times", u->dirs[i].path);
    }
    return 0;
}

int imgd_unpacker_finish(imgd_unpacker *u, char diff_id[IMGD_DIGEST_LEN + 1], uint64_t *out_size,
                         imgd_error **err)
{
    int r = 0;
    if (u->compression == IMGD_COMPRESSION_DETECT) { /* fewer than 4 bytes in all */
        u->compression = sniff(u->magic, u->magic_len);
        r = start_decompression(u, err);
        if (r == 0)
            r = feed_decompressed(u, u->magic, u->magic_len, err);
    }
    if (r == 0 && u->compression == IMGD_COMPRESSION_GZIP && u->zs.total_in == 0)
        r = imgd_error_set(err, EINVAL, "layer is empty, gzip data was expected");
    if (r == 0)
        r = imgd_tar_parser_finish(u->tar, err);
    if (r == 0)
        r = set_dir_times(u, err);
    if (r < 0)
        return r;
    imgd_sha256_final(&u->diff, diff_id);
    if (out_size)
        *out_size = u->tar_bytes;
    return 0;
}

int imgd_unpacker_new(imgd_unpacker **out, int dirfd, imgd_compression compression,
                      const imgd_unpack_limits *limits, imgd_error **err)
{
    imgd_unpacker *u = calloc(1, sizeof(*u));
    if (!u)
        return imgd_error_set(err, ENOMEM, "out of memory");
    u->rootfd = dirfd;
    u->file_fd = -1;
    u->as_root = geteuid() == 0;
    u->compression = compression;
    u->lim.max_layer_bytes =
        limits && limits->max_layer_bytes ? limits->max_layer_bytes : UINT64_C(256) << 30;
    u->lim.max_entry_bytes =
        limits && limits->max_entry_bytes ? limits->max_entry_bytes : UINT64_C(64) << 30;
    imgd_tar_limits tl = {.max_entry_size = u->lim.max_entry_bytes,
                          .max_entries = 10u * 1000u * 1000u,
                          .max_path = PATH_MAX_ENTRY,
                          .max_pax_header = 1024 * 1024};
    u->out = malloc(OUT_CHUNK);
    u->tar = imgd_tar_parser_new(&extract_callbacks, u, &tl);
    int r = (!u->out || !u->tar || imgd_sha256_init(&u->diff) < 0)
                ? imgd_error_set(err, ENOMEM, "out of memory")
                : 0;
    if (r == 0 && compression != IMGD_COMPRESSION_DETECT)
        r = start_decompression(u, err);
    if (r < 0) {
        imgd_unpacker_free(u);
        return r;
    }
    *out = u;
    return 0;
}

void imgd_unpacker_free(imgd_unpacker *u)
{
    if (!u)
        return;
    if (u->file_fd >= 0)
        close(u->file_fd);
    if (u->zs_live)
        inflateEnd(&u->zs);
    ZSTD_freeDCtx(u->zstd);
    imgd_tar_parser_free(u->tar);
    imgd_sha256_dispose(&u->diff);
    for (size_t i = 0; i < u->n_dirs; i++)
        free(u->dirs[i].path);
    free(u->dirs);
    free(u->out);
    free(u);
}
