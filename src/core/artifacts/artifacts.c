/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifacts-private.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"

#define KEY_MAX 1024

/* ---- names ---- */

int imgd_artifacts_check_name(const char *bucket, const char *key, imgd_error **err)
{
    size_t bl = bucket ? strlen(bucket) : 0;
    bool ok = bl >= 3 && bl <= 63 && bucket[0] != '.' && bucket[0] != '-' &&
              bucket[bl - 1] != '.' && bucket[bl - 1] != '-';
    for (size_t i = 0; ok && i < bl; i++) {
        char c = bucket[i];
        ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
    }
    if (!ok)
        return imgd_error_set(err, EINVAL,
                              "invalid bucket name '%.80s': 3 to 63 of a-z, 0-9, '.' and '-'",
                              bucket ? bucket : "");
    if (!key)
        return 0;
    size_t kl = strlen(key);
    if (kl == 0 || kl > KEY_MAX)
        return imgd_error_set(err, EINVAL, "invalid key: 1 to %d bytes", KEY_MAX);
    const char *seg = key;
    for (;;) {
        const char *slash = strchr(seg, '/');
        size_t n = slash ? (size_t)(slash - seg) : strlen(seg);
        if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return imgd_error_set(err, EINVAL,
                                  "invalid key '%.200s': an empty, '.' or '..' segment", key);
        if (!slash)
            break;
        seg = slash + 1;
    }
    for (const char *p = key; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return imgd_error_set(err, EINVAL, "invalid key: a control character");
    }
    return 0;
}

int imgd_artifacts_parse_link(const char *path, char **bucket, char **key, imgd_error **err)
{
    static const char scheme[] = "s3://";
    if (!path || strncmp(path, scheme, sizeof scheme - 1) != 0)
        return imgd_error_set(err, EINVAL, "'%.200s' is not an s3://bucket/key link",
                              path ? path : "");
    const char *b = path + sizeof scheme - 1;
    const char *slash = strchr(b, '/');
    if (!slash || slash == b || !slash[1])
        return imgd_error_set(err, EINVAL, "'%.200s' is not an s3://bucket/key link", path);
    _cleanup_free_ char *bk = strndup(b, (size_t)(slash - b));
    _cleanup_free_ char *k = strdup(slash + 1);
    if (!bk || !k)
        return imgd_error_set(err, ENOMEM, "out of memory");
    int r = imgd_artifacts_check_name(bk, k, err);
    if (r < 0)
        return r;
    *bucket = TAKE_PTR(bk);
    *key = TAKE_PTR(k);
    return 0;
}

/* ---- md5 ---- */

void artifacts_hex(char *out, const unsigned char *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int md5_fd(int fd, char out[IMGD_MD5_HEX_LEN + 1], imgd_error **err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return imgd_error_set(err, ENOMEM, "md5: out of memory");
    }
    _cleanup_free_ char *buf = malloc(1 << 20);
    int r = buf ? 0 : imgd_error_set(err, ENOMEM, "out of memory");
    ssize_t n;
    while (r == 0 && (n = read(fd, buf, 1 << 20)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = imgd_error_errno(err, errno, "read for md5");
            break;
        }
        EVP_DigestUpdate(ctx, buf, (size_t)n);
    }
    if (r == 0) {
        unsigned char d[16];
        unsigned len = 0;
        EVP_DigestFinal_ex(ctx, d, &len);
        artifacts_hex(out, d, 16);
    }
    EVP_MD_CTX_free(ctx);
    return r;
}

int artifacts_md5_file(const char *path, char out[IMGD_MD5_HEX_LEN + 1], imgd_error **err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return imgd_error_errno(err, errno, "open '%s'", path);
    return md5_fd(fd, out, err);
}

/* ---- fs backend: metadata rows ---- */

static int meta_get(imgd_artifacts *a, const char *bucket, const char *key,
                    imgd_artifact_info *info)
{
    sqlite3 *db = imgd_db_acquire(a->db);
    sqlite3_stmt *st = NULL;
    int r = -EIO;
    if (sqlite3_prepare_v2(db,
                           "SELECT size, md5, etag, content_type FROM ims_artifacts "
                           "WHERE bucket = ?1 AND key = ?2",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            memset(info, 0, sizeof *info);
            info->size = (uint64_t)sqlite3_column_int64(st, 0);
            snprintf(info->md5, sizeof info->md5, "%s", sqlite3_column_text(st, 1));
            snprintf(info->etag, sizeof info->etag, "%s", sqlite3_column_text(st, 2));
            snprintf(info->content_type, sizeof info->content_type, "%s",
                     sqlite3_column_text(st, 3));
            r = 0;
        } else if (rc == SQLITE_DONE) {
            r = -ENOENT;
        }
    }
    sqlite3_finalize(st);
    imgd_db_release(a->db);
    return r;
}

static int meta_exec(imgd_artifacts *a, const char *sql, const char *bucket, const char *key,
                     const char *key2, const imgd_artifact_info *info)
{
    sqlite3 *db = imgd_db_acquire(a->db);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
        if (key2)
            sqlite3_bind_text(st, 3, key2, -1, SQLITE_STATIC);
        if (info) {
            sqlite3_bind_int64(st, 3, (sqlite3_int64)info->size);
            sqlite3_bind_text(st, 4, info->md5, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 5, info->etag, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 6, info->content_type, -1, SQLITE_STATIC);
        }
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    imgd_db_release(a->db);
    return rc == SQLITE_DONE ? 0 : -imgd_db_errno(rc);
}

/* ---- fs backend: files ---- */

/* Open (creating with create) the directory holding key's last segment inside the bucket;
 * *base points at that segment in key. */
static int fs_parent(imgd_artifacts *a, const char *bucket, const char *key, bool create,
                     const char **base, imgd_error **err)
{
    int fd = imgd_open_in_root(a->root_fd, bucket, O_RDONLY | O_DIRECTORY, true);
    if (fd == -ENOENT && create)
        return imgd_error_set(err, ENOENT,
                              "no bucket '%s' (a bucket is a directory of artifacts_dir; imgd "
                              "makes those of s3_ims_bucket and s3_boot_images_bucket)",
                              bucket);
    if (fd < 0)
        return fd == -ENOENT ? imgd_error_set(err, ENOENT, "no object %s/%s", bucket, key)
                             : imgd_error_errno(err, -fd, "open bucket '%s'", bucket);
    const char *seg = key;
    const char *slash;
    while ((slash = strchr(seg, '/'))) {
        char name[KEY_MAX + 1];
        snprintf(name, sizeof name, "%.*s", (int)(slash - seg), seg);
        if (create && mkdirat(fd, name, 0755) < 0 && errno != EEXIST) {
            int e = errno;
            close(fd);
            return imgd_error_errno(err, e, "create the directories of key '%s'", key);
        }
        int next = imgd_open_in_root(fd, name, O_RDONLY | O_DIRECTORY, true);
        close(fd);
        if (next < 0)
            return next == -ENOENT ? imgd_error_set(err, ENOENT, "no object %s/%s", bucket, key)
                   : next == -ENOTDIR
                       ? imgd_error_set(err, EEXIST, "key '%s' runs through an object", key)
                       : imgd_error_errno(err, -next, "open the directories of key '%s'", key);
        fd = next;
        seg = slash + 1;
    }
    *base = seg;
    return fd;
}

/* Remove the directories of key that became empty, deepest first (best effort). */
static void fs_prune_dirs(imgd_artifacts *a, const char *bucket, const char *key)
{
    char path[KEY_MAX + 80];
    snprintf(path, sizeof path, "%s/%s", bucket, key);
    char *slash;
    while ((slash = strrchr(path, '/')) && slash > path + strlen(bucket)) {
        *slash = '\0';
        if (unlinkat(a->root_fd, path, AT_REMOVEDIR) < 0)
            break;
    }
}

static int fs_open_object(imgd_artifacts *a, const char *bucket, const char *key, imgd_error **err)
{
    const char *base = NULL;
    _cleanup_close_ int dir = fs_parent(a, bucket, key, false, &base, err);
    if (dir < 0)
        return dir;
    int fd = imgd_open_in_root(dir, base, O_RDONLY, true);
    if (fd == -ENOENT || fd == -EISDIR)
        return imgd_error_set(err, ENOENT, "no object %s/%s", bucket, key);
    return fd < 0 ? imgd_error_errno(err, -fd, "open object %s/%s", bucket, key) : fd;
}

/* ---- interface ---- */

int imgd_artifacts_open(imgd_artifacts **out, const imgd_config *cfg, imgd_db *db, imgd_error **err)
{
    imgd_artifacts *a = calloc(1, sizeof *a);
    if (!a)
        return imgd_error_set(err, ENOMEM, "out of memory");
    a->db = db;
    a->root_fd = a->tmp_fd = -1;
    int r = 0;
    if (cfg->artifacts_dir)
        a->root = strdup(cfg->artifacts_dir);
    else if (asprintf(&a->root, "%s/artifacts", cfg->state_dir) < 0)
        a->root = NULL;
    if (!a->root || asprintf(&a->tmp_dir, "%s/.staging", a->root) < 0) {
        a->tmp_dir = NULL;
        imgd_error_set(err, ENOMEM, "out of memory");
        imgd_artifacts_free(a);
        return -ENOMEM;
    }
    r = imgd_mkdir_p(a->tmp_dir, 0700, err);
    if (r == 0) {
        a->root_fd = open(a->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        a->tmp_fd = open(a->tmp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (a->root_fd < 0 || a->tmp_fd < 0)
            r = imgd_error_errno(err, errno, "open artifacts directory '%s'", a->root);
    }
    /* the buckets IMS uses exist from the start, as they would in S3 */
    const char *buckets[] = {cfg->s3_ims_bucket, cfg->s3_boot_images_bucket};
    for (size_t i = 0; r == 0 && i < 2; i++) {
        if (!buckets[i] || imgd_artifacts_check_name(buckets[i], NULL, err) < 0) {
            r = imgd_error_prefix(err, "s3_ims_bucket / s3_boot_images_bucket");
            break;
        }
        if (mkdirat(a->root_fd, buckets[i], 0755) < 0 && errno != EEXIST)
            r = imgd_error_errno(err, errno, "create bucket directory '%s'", buckets[i]);
    }
    /* staging files left by a crash are never objects */
    if (r == 0) {
        DIR *d = fdopendir(dup(a->tmp_fd));
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] != '.')
                (void)unlinkat(a->tmp_fd, e->d_name, 0);
        }
        if (d)
            closedir(d);
    }
    if (r == 0 && cfg->s3_endpoint && *cfg->s3_endpoint) {
        a->s3 = true;
        r = s3_open(&a->s3b, cfg, err);
    }
    if (r < 0) {
        imgd_artifacts_free(a);
        return r;
    }
    *out = a;
    return 0;
}

void imgd_artifacts_free(imgd_artifacts *a)
{
    if (!a)
        return;
    if (a->root_fd >= 0)
        close(a->root_fd);
    if (a->tmp_fd >= 0)
        close(a->tmp_fd);
    s3_free(a->s3b);
    free(a->root);
    free(a->tmp_dir);
    free(a->staging_dir);
    free(a);
}

const char *imgd_artifacts_backend(const imgd_artifacts *a)
{
    return a->s3 ? "s3" : "fs";
}

int imgd_artifacts_head(imgd_artifacts *a, const char *bucket, const char *key,
                        imgd_artifact_info *info, imgd_error **err)
{
    int r = imgd_artifacts_check_name(bucket, key, err);
    if (r < 0)
        return r;
    if (a->s3)
        return s3_head(a->s3b, bucket, key, info, err);
    _cleanup_close_ int fd = fs_open_object(a, bucket, key, err);
    if (fd < 0)
        return fd;
    r = meta_get(a, bucket, key, info);
    if (r == -ENOENT)
        return imgd_error_set(err, ENOENT, "no object %s/%s", bucket, key);
    return r < 0 ? imgd_error_errno(err, -r, "read the record of %s/%s", bucket, key) : 0;
}

int imgd_artifacts_read(imgd_artifacts *a, const char *bucket, const char *key, size_t max,
                        char **data, size_t *len, imgd_artifact_info *info, imgd_error **err)
{
    int r = imgd_artifacts_check_name(bucket, key, err);
    if (r < 0)
        return r;
    if (a->s3)
        return s3_get(a->s3b, bucket, key, max, data, len, info, err);
    r = imgd_artifacts_head(a, bucket, key, info, err);
    if (r < 0)
        return r;
    if (info->size > max)
        return imgd_error_set(err, EFBIG, "object %s/%s is %llu bytes, more than %zu", bucket, key,
                              (unsigned long long)info->size, max);
    _cleanup_close_ int fd = fs_open_object(a, bucket, key, err);
    if (fd < 0)
        return fd;
    _cleanup_free_ char *buf = malloc(info->size + 1);
    if (!buf)
        return imgd_error_set(err, ENOMEM, "out of memory");
    size_t got = 0;
    while (got < info->size) {
        ssize_t n = read(fd, buf + got, info->size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return imgd_error_errno(err, n < 0 ? errno : EIO, "read object %s/%s", bucket, key);
        got += (size_t)n;
    }
    buf[got] = '\0';
    *data = TAKE_PTR(buf);
    *len = got;
    return 0;
}

int imgd_artifacts_stage(imgd_artifacts *a, int *fd, char **path, imgd_error **err)
{
    _cleanup_free_ char *p = NULL;
    if (asprintf(&p, "%s/upload-XXXXXX", a->tmp_dir) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    int f = mkostemp(p, O_CLOEXEC);
    if (f < 0)
        return imgd_error_errno(err, errno, "create a staging file in '%s'", a->tmp_dir);
    *fd = f;
    *path = TAKE_PTR(p);
    return 0;
}

static int fs_put_staged(imgd_artifacts *a, const char *bucket, const char *key, const char *path,
                         const imgd_artifact_info *info, bool *created, imgd_error **err)
{
    const char *base = NULL;
    _cleanup_close_ int dir = fs_parent(a, bucket, key, true, &base, err);
    if (dir < 0)
        return dir;
    struct stat st;
    bool existed = fstatat(dir, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (existed && S_ISDIR(st.st_mode))
        return imgd_error_set(err, EEXIST, "key '%s' is a prefix of other objects", key);
    if (renameat(AT_FDCWD, path, dir, base) < 0)
        return imgd_error_errno(err, errno, "store object %s/%s", bucket, key);
    int r = meta_exec(a,
                      "INSERT INTO ims_artifacts (bucket, key, size, md5, etag, content_type) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (bucket, key) DO UPDATE SET "
                      "size = excluded.size, md5 = excluded.md5, etag = excluded.etag, "
                      "content_type = excluded.content_type",
                      bucket, key, NULL, info);
    if (r < 0) {
        (void)unlinkat(dir, base, 0);
        return imgd_error_errno(err, -r, "record object %s/%s", bucket, key);
    }
    if (created)
        *created = !existed;
    return 0;
}

int imgd_artifacts_put_staged(imgd_artifacts *a, const char *bucket, const char *key,
                              const char *path, const char *md5, const char *content_type,
                              imgd_artifact_info *info, bool *created, imgd_error **err)
{
    imgd_artifact_info in = {0};
    struct stat st;
    if (!path)
        return imgd_error_set(err, EINVAL, "no staging file");
    int r = imgd_artifacts_check_name(bucket, key, err);
    if (r == 0 && stat(path, &st) < 0)
        r = imgd_error_errno(err, errno, "staging file");
    if (r == 0) {
        in.size = (uint64_t)st.st_size;
        snprintf(in.content_type, sizeof in.content_type, "%s",
                 content_type && *content_type ? content_type : "application/octet-stream");
        if (md5)
            snprintf(in.md5, sizeof in.md5, "%s", md5);
        else
            r = artifacts_md5_file(path, in.md5, err);
        snprintf(in.etag, sizeof in.etag, "%s", in.md5);
    }
    if (r == 0 && a->s3) {
        bool existed = false;
        if (created) {
            imgd_artifact_info old;
            existed = s3_head(a->s3b, bucket, key, &old, NULL) == 0;
        }
        r = s3_put_file(a->s3b, bucket, key, path, in.md5, in.content_type, &in, err);
        if (r == 0 && created)
            *created = !existed;
    } else if (r == 0) {
        r = fs_put_staged(a, bucket, key, path, &in, created, err);
    }
    (void)unlink(path);
    if (r == 0 && info)
        *info = in;
    return r;
}

int imgd_artifacts_put(imgd_artifacts *a, const char *bucket, const char *key, const void *data,
                       size_t len, const char *content_type, imgd_artifact_info *info,
                       imgd_error **err)
{
    int fd = -1;
    _cleanup_free_ char *path = NULL;
    int r = imgd_artifacts_stage(a, &fd, &path, err);
    if (r < 0 || !path)
        return r < 0 ? r : -EIO;
    r = imgd_write_all(fd, data, len);
    close(fd);
    if (r < 0) {
        (void)unlink(path);
        return imgd_error_errno(err, -r, "write staging file");
    }
    return imgd_artifacts_put_staged(a, bucket, key, path, NULL, content_type, info, NULL, err);
}

int imgd_artifacts_move(imgd_artifacts *a, const char *bucket, const char *from, const char *to,
                        imgd_error **err)
{
    int r = imgd_artifacts_check_name(bucket, from, err);
    if (r == 0)
        r = imgd_artifacts_check_name(bucket, to, err);
    if (r < 0)
        return r;
    if (a->s3) {
        r = s3_copy(a->s3b, bucket, from, to, err);
        return r < 0 ? r : s3_delete(a->s3b, bucket, from, err);
    }
    imgd_artifact_info info;
    r = imgd_artifacts_head(a, bucket, from, &info, err);
    if (r < 0)
        return r;
    const char *fbase = NULL, *tbase = NULL;
    _cleanup_close_ int fdir = fs_parent(a, bucket, from, false, &fbase, err);
    if (fdir < 0)
        return fdir;
    _cleanup_close_ int tdir = fs_parent(a, bucket, to, true, &tbase, err);
    if (tdir < 0)
        return tdir;
    if (renameat(fdir, fbase, tdir, tbase) < 0)
        return imgd_error_errno(err, errno, "move object %s/%s to %s", bucket, from, to);
    r = meta_exec(a, "DELETE FROM ims_artifacts WHERE bucket = ?1 AND key = ?2", bucket, to, NULL,
                  NULL);
    if (r == 0)
        r = meta_exec(a, "UPDATE ims_artifacts SET key = ?3 WHERE bucket = ?1 AND key = ?2", bucket,
                      from, to, NULL);
    if (r < 0) {
        (void)renameat(tdir, tbase, fdir, fbase);
        return imgd_error_errno(err, -r, "record the move of %s/%s", bucket, from);
    }
    fs_prune_dirs(a, bucket, from);
    return 0;
}

int imgd_artifacts_delete(imgd_artifacts *a, const char *bucket, const char *key, imgd_error **err)
{
    int r = imgd_artifacts_check_name(bucket, key, err);
    if (r < 0)
        return r;
    if (a->s3)
        return s3_delete(a->s3b, bucket, key, err);
    const char *base = NULL;
    _cleanup_close_ int dir = fs_parent(a, bucket, key, false, &base, err);
    if (dir < 0)
        return dir;
    if (unlinkat(dir, base, 0) < 0)
        return errno == ENOENT || errno == EISDIR
                   ? imgd_error_set(err, ENOENT, "no object %s/%s", bucket, key)
                   : imgd_error_errno(err, errno, "remove object %s/%s", bucket, key);
    (void)meta_exec(a, "DELETE FROM ims_artifacts WHERE bucket = ?1 AND key = ?2", bucket, key,
                    NULL, NULL);
    fs_prune_dirs(a, bucket, key);
    return 0;
}

int imgd_artifacts_open_read(imgd_artifacts *a, const char *bucket, const char *key, int *fd,
                             char **url, imgd_artifact_info *info, imgd_error **err)
{
    int r = imgd_artifacts_head(a, bucket, key, info, err);
    if (r < 0)
        return r;
    *fd = -1;
    *url = NULL;
    if (a->s3)
        return s3_presign(a->s3b, "GET", bucket, key, s3_url_expiration(a->s3b), url, err);
    int f = fs_open_object(a, bucket, key, err);
    if (f < 0)
        return f;
    *fd = f;
    return 0;
}

int imgd_artifacts_download_url(imgd_artifacts *a, const char *bucket, const char *key, char **url,
                                imgd_error **err)
{
    *url = NULL;
    int r = imgd_artifacts_check_name(bucket, key, err);
    if (r < 0 || !a->s3)
        return r;
    return s3_presign(a->s3b, "GET", bucket, key, s3_url_expiration(a->s3b), url, err);
}
