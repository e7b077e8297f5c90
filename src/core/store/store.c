/* SPDX-License-Identifier: MIT */
#include "store-private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "unpack.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"

#define MAX_CLAIMS 256

typedef struct claim {
    char key[IMGD_DIGEST_LEN + 1];
    bool used;
} claim;

struct imgd_store {
    imgd_db *db;
    char *root;
    int blobs_fd;  /* blobs/sha256 */
    int layers_fd; /* layers */
    int tmp_fd;    /* tmp */
    pthread_mutex_t lock;
    pthread_cond_t released;
    claim claims[MAX_CLAIMS];
    pthread_rwlock_t gc; /* shared: pulls and imports; exclusive: collection */
};

/* ---- opening and crash recovery ---- */

static int open_dir(int *out, const char *root, const char *rel, imgd_error **err)
{
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/%s", root, rel) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    int r = imgd_mkdir_p(path, 0700, err);
    if (r < 0)
        return r;
    *out = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return *out < 0 ? imgd_error_errno(err, errno, "open '%s'", path) : 0;
}

/* Whatever is in tmp/ was being written when imgd stopped: none of it is referenced. */
static int clean_tmp(imgd_store *s)
{
    int fd = dup(s->tmp_fd);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -errno;
    }
    struct dirent *de;
    unsigned n = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (imgd_remove_tree_at(s->tmp_fd, de->d_name) == 0)
            n++;
    }
    closedir(d);
    if (n)
        log_info("store: removed %u unfinished item(s) left by an earlier run", n);
    return 0;
}

int imgd_store_open(imgd_store **out, const char *state_dir, imgd_db *db, imgd_error **err)
{
    imgd_store *s = calloc(1, sizeof(*s));
    if (!s)
        return imgd_error_set(err, ENOMEM, "out of memory");
    s->db = db;
    s->blobs_fd = s->layers_fd = s->tmp_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->released, NULL);
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    /* a waiting collection must not starve behind a stream of pulls */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&s->gc, &attr);
    pthread_rwlockattr_destroy(&attr);
    s->root = strdup(state_dir);
    int r = s->root ? 0 : imgd_error_set(err, ENOMEM, "out of memory");
    if (r == 0)
        r = open_dir(&s->blobs_fd, state_dir, "blobs/sha256", err);
    if (r == 0)
        r = open_dir(&s->layers_fd, state_dir, "layers", err);
    if (r == 0)
        r = open_dir(&s->tmp_fd, state_dir, "tmp", err);
    if (r == 0 && (r = clean_tmp(s)) < 0)
        imgd_error_errno(err, -r, "clean '%s/tmp'", state_dir);
    if (r < 0) {
        imgd_store_free(s);
        return imgd_error_prefix(err, "store");
    }
    *out = s;
    return 0;
}

void imgd_store_free(imgd_store *s)
{
    if (!s)
        return;
    if (s->blobs_fd >= 0)
        close(s->blobs_fd);
    if (s->layers_fd >= 0)
        close(s->layers_fd);
    if (s->tmp_fd >= 0)
        close(s->tmp_fd);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->released);
    pthread_rwlock_destroy(&s->gc);
    free(s->root);
    free(s);
}

const char *imgd_store_root(const imgd_store *s)
{
    return s->root;
}

/* ---- blobs ---- */

static const char *hex_of(const char *digest)
{
    return digest + 7; /* after "sha256:"; callers have checked the form */
}

bool imgd_store_blob_has(imgd_store *s, const char *digest)
{
    struct stat st;
    return imgd_digest_is_sha256(digest) && fstatat(s->blobs_fd, hex_of(digest), &st, 0) == 0 &&
           S_ISREG(st.st_mode);
}

static int db_record_blob(imgd_store *s, const char *digest, size_t len, const char *media_type)
{
    sqlite3 *db = imgd_db_acquire(s->db);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT OR IGNORE INTO blobs (digest, size, media_type, added) "
                                "VALUES (?, ?, ?, ?)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)len);
        sqlite3_bind_text(st, 3, media_type ? media_type : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    }
    sqlite3_finalize(st);
    imgd_db_release(s->db);
    return rc == SQLITE_OK ? 0 : -imgd_db_errno(rc);
}

int imgd_store_blob_put(imgd_store *s, const void *data, size_t len, const char *expected_digest,
                        const char *media_type, char *out_digest, imgd_error **err)
{
    char digest[IMGD_DIGEST_LEN + 1];
    if (imgd_sha256_digest(digest, data, len) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    if (expected_digest && strcmp(digest, expected_digest) != 0)
        return imgd_error_set(err, EBADMSG, "content does not match its digest %s (got %s)",
                              expected_digest, digest);
    if (out_digest)
        memcpy(out_digest, digest, sizeof(digest));
    if (imgd_store_blob_has(s, digest))
        return db_record_blob(s, digest, len, media_type) < 0
                   ? imgd_error_set(err, EIO, "record blob %s", digest)
                   : 0;
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "blob-%.16s-XXXXXX", hex_of(digest));
    _cleanup_free_ char *tmp_path = NULL;
    if (asprintf(&tmp_path, "%s/tmp/%s", s->root, tmp) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    _cleanup_close_ int fd = mkostemp(tmp_path, O_CLOEXEC);
    if (fd < 0)
        return imgd_error_errno(err, errno, "store blob %s", digest);
    const char *tmp_name = strrchr(tmp_path, '/') + 1;
    int r = imgd_write_all(fd, data, len);
    if (r == 0 && fchmod(fd, 0644) < 0)
        r = -errno;
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (r == 0 && renameat(s->tmp_fd, tmp_name, s->blobs_fd, hex_of(digest)) < 0)
        r = -errno;
    if (r < 0) {
        unlinkat(s->tmp_fd, tmp_name, 0);
        return imgd_error_errno(err, -r, "store blob %s", digest);
    }
    (void)fsync(s->blobs_fd);
    r = db_record_blob(s, digest, len, media_type);
    return r < 0 ? imgd_error_errno(err, -r, "record blob %s", digest) : 0;
}

int imgd_store_blob_get(imgd_store *s, const char *digest, size_t max, char **out, size_t *out_len,
                        imgd_error **err)
{
    if (!imgd_digest_is_sha256(digest))
        return imgd_error_set(err, EINVAL, "invalid digest '%.80s'", digest);
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/blobs/sha256/%s", s->root, hex_of(digest)) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    imgd_error *inner = NULL;
    int r = imgd_read_file(out, out_len, path, max, &inner);
    if (r == -ENOENT) {
        imgd_error_free(inner);
        return imgd_error_set(err, ENOENT, "blob %s is not in the store", digest);
    }
    if (r < 0) {
        if (err && !*err)
            *err = inner;
        else
            imgd_error_free(inner);
        return r;
    }
    return 0;
}

/* ---- layers ---- */

int imgd_chain_id(char out[IMGD_DIGEST_LEN + 1], const char *parent, const char *diff_id)
{
    if (!parent) {
        snprintf(out, IMGD_DIGEST_LEN + 1, "%s", diff_id);
        return 0;
    }
    char joined[2 * IMGD_DIGEST_LEN + 2];
    int n = snprintf(joined, sizeof(joined), "%s %s", parent, diff_id);
    return imgd_sha256_digest(out, joined, (size_t)n);
}

bool imgd_store_layer_has(imgd_store *s, const char *chain_id)
{
    struct stat st;
    return imgd_digest_is_sha256(chain_id) &&
           fstatat(s->layers_fd, hex_of(chain_id), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
           S_ISDIR(st.st_mode);
}

int imgd_store_layer_path(char *out, size_t len, const imgd_store *s, const char *chain_id)
{
    if (!imgd_digest_is_sha256(chain_id))
        return -EINVAL;
    int n = snprintf(out, len, "%s/layers/%s", s->root, hex_of(chain_id));
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int imgd_store_layer_stage(imgd_store *s, imgd_layer_stage *out, imgd_error **err)
{
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/tmp/layer-XXXXXX", s->root) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    if (!mkdtemp(path))
        return imgd_error_errno(err, errno, "create a layer staging directory");
    chmod(path, 0755); /* the layer root; the archive may set its own mode */
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        rmdir(path);
        return imgd_error_errno(err, e, "open '%s'", path);
    }
    out->dirfd = fd;
    snprintf(out->name, sizeof(out->name), "%s", strrchr(path, '/') + 1);
    return 0;
}

void imgd_store_layer_abort(imgd_store *s, imgd_layer_stage *st)
{
    if (st->dirfd < 0)
        return;
    close(st->dirfd);
    st->dirfd = -1;
    (void)imgd_remove_tree_at(s->tmp_fd, st->name);
}

static int db_record_layer(imgd_store *s, const char *chain_id, const char *parent,
                           const char *diff_id, uint64_t size)
{
    sqlite3 *db = imgd_db_acquire(s->db);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT OR IGNORE INTO layers (chain_id, diff_id, parent, size, "
                                "added) VALUES (?, ?, ?, ?, ?)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, chain_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, diff_id, -1, SQLITE_STATIC);
        if (parent)
            sqlite3_bind_text(st, 3, parent, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)size);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    }
    sqlite3_finalize(st);
    imgd_db_release(s->db);
    return rc == SQLITE_OK ? 0 : -imgd_db_errno(rc);
}

int imgd_store_layer_commit(imgd_store *s, imgd_layer_stage *st, const char *chain_id,
                            const char *parent, const char *diff_id, uint64_t size,
                            imgd_error **err)
{
    /* one syncfs for the whole tree instead of an fsync per file: the layer is durable before
     * its name says it is complete */
    int r = syncfs(st->dirfd) < 0 ? -errno : 0;
    close(st->dirfd);
    st->dirfd = -1;
    if (r == 0 && renameat(s->tmp_fd, st->name, s->layers_fd, hex_of(chain_id)) < 0) {
        r = -errno;
        if (r == -EEXIST || r == -ENOTEMPTY) /* committed by another pull meanwhile */
            r = 0;
    }
    (void)imgd_remove_tree_at(s->tmp_fd, st->name);
    if (r < 0)
        return imgd_error_errno(err, -r, "commit layer %s", chain_id);
    (void)fsync(s->layers_fd);
    r = db_record_layer(s, chain_id, parent, diff_id, size);
    return r < 0 ? imgd_error_errno(err, -r, "record layer %s", chain_id) : 0;
}

int imgd_store_layer_blob_record(imgd_store *s, const char *digest, const char *diff_id,
                                 int64_t size, const char *media_type, imgd_error **err)
{
    sqlite3 *db = imgd_db_acquire(s->db);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT OR REPLACE INTO layer_blobs (digest, diff_id, size, "
                                "media_type) VALUES (?, ?, ?, ?)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, diff_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, size);
        sqlite3_bind_text(st, 4, media_type ? media_type : "", -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    }
    sqlite3_finalize(st);
    imgd_db_release(s->db);
    return rc == SQLITE_OK ? 0
                           : imgd_error_set(err, imgd_db_errno(rc), "record layer blob %s: %s",
                                            digest, sqlite3_errstr(rc));
}

int imgd_store_layer_blob_diff_id(imgd_store *s, const char *digest, char out[IMGD_DIGEST_LEN + 1])
{
    sqlite3 *db = imgd_db_acquire(s->db);
    sqlite3_stmt *st = NULL;
    int r = -ENOENT;
    if (sqlite3_prepare_v2(db, "SELECT diff_id FROM layer_blobs WHERE digest = ?", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            snprintf(out, IMGD_DIGEST_LEN + 1, "%s", (const char *)sqlite3_column_text(st, 0));
            r = 0;
        }
    }
    sqlite3_finalize(st);
    imgd_db_release(s->db);
    return r;
}

/* ---- claims ---- */

static claim *claim_find(imgd_store *s, const char *key)
{
    for (size_t i = 0; i < MAX_CLAIMS; i++) {
        if (s->claims[i].used && strcmp(s->claims[i].key, key) == 0)
            return &s->claims[i];
    }
    return NULL;
}

void imgd_store_claim(imgd_store *s, const char *key)
{
    pthread_mutex_lock(&s->lock);
    for (;;) {
        if (!claim_find(s, key)) {
            for (size_t i = 0; i < MAX_CLAIMS; i++) {
                if (!s->claims[i].used) {
                    s->claims[i].used = true;
                    snprintf(s->claims[i].key, sizeof(s->claims[i].key), "%s", key);
                    pthread_mutex_unlock(&s->lock);
                    return;
                }
            }
        }
        pthread_cond_wait(&s->released, &s->lock); /* held elsewhere, or the table is full */
    }
}

void imgd_store_release(imgd_store *s, const char *key)
{
    pthread_mutex_lock(&s->lock);
    claim *c = claim_find(s, key);
    if (c)
        c->used = false;
    pthread_cond_broadcast(&s->released);
    pthread_mutex_unlock(&s->lock);
}

void imgd_store_use_begin(imgd_store *s)
{
    pthread_rwlock_rdlock(&s->gc);
}

void imgd_store_use_end(imgd_store *s)
{
    pthread_rwlock_unlock(&s->gc);
}

void imgd_store_gc_begin(imgd_store *s)
{
    pthread_rwlock_wrlock(&s->gc);
}

void imgd_store_gc_end(imgd_store *s)
{
    pthread_rwlock_unlock(&s->gc);
}

int imgd_store_blobs_fd(const imgd_store *s)
{
    return s->blobs_fd;
}

int imgd_store_layers_fd(const imgd_store *s)
{
    return s->layers_fd;
}

imgd_db *imgd_store_db(const imgd_store *s)
{
    return s->db;
}
