/* SPDX-License-Identifier: MIT */
#include "images.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/registry/reference.h"
#include "store-private.h"
#include "unpack.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/strutil.h"

/* ---- small SQLite helpers; all run with the connection acquired ---- */

static int sql_error(sqlite3 *db, int rc, imgd_error **err, const char *what)
{
    return imgd_error_set(err, imgd_db_errno(rc), "%s: %s", what, sqlite3_errmsg(db));
}

static int exec_sql(sqlite3 *db, const char *sql, imgd_error **err)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : sql_error(db, rc, err, "database");
}

static char *column_dup(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? strdup((const char *)t) : NULL;
}

static void column_copy(char *out, size_t len, sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, len, "%s", t ? (const char *)t : "");
}

/* Run a one-parameter query and collect its first column as a sorted vector. */
static int query_strings(sqlite3 *db, const char *sql, const char *param, char ***out,
                         imgd_error **err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sql_error(db, rc, err, "database");
    if (param)
        sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);
    char **v = calloc(1, sizeof(char *));
    int r = v ? 0 : -ENOMEM;
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
        r = imgd_strv_push(&v, (const char *)sqlite3_column_text(st, 0));
    if (r == 0 && rc != SQLITE_DONE)
        r = sql_error(db, rc, err, "database");
    sqlite3_finalize(st);
    if (r < 0) {
        imgd_strv_free(v);
        return err && *err ? r : imgd_error_set(err, ENOMEM, "out of memory");
    }
    *out = v;
    return 0;
}

/* ---- loading ---- */

void imgd_image_dispose(imgd_image *img)
{
    free(img->manifest_media_type);
    free(img->os);
    free(img->architecture);
    free(img->variant);
    free(img->created);
    imgd_strv_free(img->repo_tags);
    imgd_strv_free(img->repo_digests);
    free(img->layers);
    memset(img, 0, sizeof(*img));
}

#define IMAGE_COLUMNS                                                                              \
    "id, manifest_digest, manifest_media_type, os, architecture, variant, created, size, "         \
    "unpacked_size, added"

static int image_from_row(imgd_image *img, sqlite3_stmt *st)
{
    memset(img, 0, sizeof(*img));
    column_copy(img->id, sizeof(img->id), st, 0);
    column_copy(img->manifest_digest, sizeof(img->manifest_digest), st, 1);
    img->manifest_media_type = column_dup(st, 2);
    img->os = column_dup(st, 3);
    img->architecture = column_dup(st, 4);
    img->variant = column_dup(st, 5);
    img->created = column_dup(st, 6);
    img->size = sqlite3_column_int64(st, 7);
    img->unpacked_size = sqlite3_column_int64(st, 8);
    img->added = sqlite3_column_int64(st, 9);
    return img->manifest_media_type && img->os && img->architecture && img->variant ? 0 : -ENOMEM;
}

static int load_layers(sqlite3 *db, imgd_image *img, imgd_error **err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT digest, diff_id, chain_id, size, media_type FROM "
                                "image_layers WHERE image_id = ? ORDER BY idx",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sql_error(db, rc, err, "database");
    sqlite3_bind_text(st, 1, img->id, -1, SQLITE_STATIC);
    size_t cap = 0;
    int r = 0;
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (imgd_array_reserve(&img->layers, &cap, img->n_layers + 1, sizeof(*img->layers), 8) <
            0) {
            r = imgd_error_set(err, ENOMEM, "out of memory");
            break;
        }
        imgd_image_layer *l = &img->layers[img->n_layers++];
        column_copy(l->digest, sizeof(l->digest), st, 0);
        column_copy(l->diff_id, sizeof(l->diff_id), st, 1);
        column_copy(l->chain_id, sizeof(l->chain_id), st, 2);
        l->size = sqlite3_column_int64(st, 3);
        column_copy(l->media_type, sizeof(l->media_type), st, 4);
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = sql_error(db, rc, err, "database");
    sqlite3_finalize(st);
    return r;
}

static int load_details(sqlite3 *db, imgd_image *img, imgd_error **err)
{
    int r = query_strings(db, "SELECT name FROM tags WHERE image_id = ? ORDER BY name", img->id,
                          &img->repo_tags, err);
    if (r == 0)
        r = query_strings(db, "SELECT name FROM repo_digests WHERE image_id = ? ORDER BY name",
                          img->id, &img->repo_digests, err);
    if (r == 0)
        r = load_layers(db, img, err);
    return r;
}

/* Load the image with this exact ID; -ENOENT when there is none. */
static int load_image(sqlite3 *db, const char *id, imgd_image *out, imgd_error **err)
{
    sqlite3_stmt *st = NULL;
    int rc =
        sqlite3_prepare_v2(db, "SELECT " IMAGE_COLUMNS " FROM images WHERE id = ?", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sql_error(db, rc, err, "database");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    int r = 0;
    if (rc == SQLITE_ROW)
        r = image_from_row(out, st) < 0 ? imgd_error_set(err, ENOMEM, "out of memory") : 0;
    else
        r = rc == SQLITE_DONE ? -ENOENT : sql_error(db, rc, err, "database");
    sqlite3_finalize(st);
    if (r == 0 && (r = load_details(db, out, err)) < 0)
        imgd_image_dispose(out);
    return r;
}

int imgd_store_image_list(imgd_store *s, imgd_image **out, size_t *n, imgd_error **err)
{
    sqlite3 *db = imgd_db_acquire(imgd_store_db(s));
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT " IMAGE_COLUMNS " FROM images ORDER BY added DESC, id",
                                -1, &st, NULL);
    imgd_image *v = NULL;
    size_t count = 0, cap = 0;
    int r = rc == SQLITE_OK ? 0 : sql_error(db, rc, err, "database");
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (imgd_array_reserve(&v, &cap, count + 1, sizeof(*v), 16) < 0) {
            r = imgd_error_set(err, ENOMEM, "out of memory");
            break;
        }
        if (image_from_row(&v[count], st) < 0)
            r = imgd_error_set(err, ENOMEM, "out of memory");
        count++;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = sql_error(db, rc, err, "database");
    sqlite3_finalize(st);
    for (size_t i = 0; r == 0 && i < count; i++)
        r = load_details(db, &v[i], err);
    imgd_db_release(imgd_store_db(s));
    if (r < 0) {
        for (size_t i = 0; i < count; i++)
            imgd_image_dispose(&v[i]);
        free(v);
        return r;
    }
    *out = v;
    *n = count;
    return 0;
}

/* ---- finding ---- */

typedef enum lookup_kind {
    BY_TAG,
    BY_DIGEST,
    BY_ID,
} lookup_kind;

static int lookup_name(sqlite3 *db, const char *table, const char *name, char *id_out)
{
    char sql[96];
    snprintf(sql, sizeof(sql), "SELECT image_id FROM %s WHERE name = ?", table);
    sqlite3_stmt *st = NULL;
    int r = -ENOENT;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            column_copy(id_out, IMGD_DIGEST_LEN + 1, st, 0);
            r = 0;
        }
    }
    sqlite3_finalize(st);
    return r;
}

static bool is_hex(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return false;
    for (; *s; s++) {
        if (!isxdigit((unsigned char)*s) || isupper((unsigned char)*s))
            return false;
    }
    return true;
}

/* An ID or unique ID prefix. 0, -ENOENT, or -EINVAL (ambiguous) with *err set. */
static int lookup_id(sqlite3 *db, const char *text, char *id_out, imgd_error **err)
{
    const char *hex = strncmp(text, "sha256:", 7) == 0 ? text + 7 : text;
    if (!is_hex(hex, 4, 64))
        return -ENOENT;
    char pattern[IMGD_DIGEST_LEN + 2];
    snprintf(pattern, sizeof(pattern), "sha256:%s%%", hex);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT id FROM images WHERE id LIKE ? LIMIT 2", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sql_error(db, rc, err, "database");
    sqlite3_bind_text(st, 1, pattern, -1, SQLITE_STATIC);
    int found = 0;
    while (sqlite3_step(st) == SQLITE_ROW && found < 2) {
        if (found == 0)
            column_copy(id_out, IMGD_DIGEST_LEN + 1, st, 0);
        found++;
    }
    sqlite3_finalize(st);
    if (found > 1)
        return imgd_error_set(err, EINVAL, "image ID prefix '%s' is ambiguous", text);
    return found ? 0 : -ENOENT;
}

/* Resolve a name or ID to an image ID. For names, *out_name gets the full name matched. */
static int resolve(sqlite3 *db, const char *text, char *id_out, char **out_name, lookup_kind *kind,
                   imgd_error **err)
{
    imgd_reference ref;
    imgd_error *parse_err = NULL;
    if (imgd_reference_parse(&ref, text, &parse_err) == 0) {
        _cleanup_free_ char *repo = imgd_reference_repository(&ref);
        _cleanup_free_ char *name = NULL;
        bool by_digest = ref.digest != NULL;
        if (repo && asprintf(&name, "%s%s%s", repo, by_digest ? "@" : ":",
                             by_digest ? ref.digest : ref.tag) < 0)
            name = NULL;
        imgd_reference_dispose(&ref);
        if (!name)
            return imgd_error_set(err, ENOMEM, "out of memory");
        if (lookup_name(db, by_digest ? "repo_digests" : "tags", name, id_out) == 0) {
            *kind = by_digest ? BY_DIGEST : BY_TAG;
            if (out_name)
                *out_name = TAKE_PTR(name);
            imgd_error_free(parse_err);
            return 0;
        }
    }
    int r = lookup_id(db, text, id_out, err);
    if (r == 0) {
        *kind = BY_ID;
        imgd_error_free(parse_err);
        return 0;
    }
    if (r == -ENOENT) {
        if (parse_err && !is_hex(text, 1, 71) && strncmp(text, "sha256:", 7) != 0) {
            r = parse_err->code ? -parse_err->code : -EINVAL;
            if (err && !*err)
                *err = TAKE_PTR(parse_err);
        } else {
            r = imgd_error_set(err, ENOENT, "image '%s' not found", text);
        }
    }
    imgd_error_free(parse_err);
    return r;
}

int imgd_store_image_find(imgd_store *s, const char *name_or_id, imgd_image *out, imgd_error **err)
{
    sqlite3 *db = imgd_db_acquire(imgd_store_db(s));
    char id[IMGD_DIGEST_LEN + 1];
    lookup_kind kind;
    int r = resolve(db, name_or_id, id, NULL, &kind, err);
    if (r == 0) {
        r = load_image(db, id, out, err);
        if (r == -ENOENT)
            r = imgd_error_set(err, ENOENT, "image '%s' not found", name_or_id);
    }
    imgd_db_release(imgd_store_db(s));
    return r;
}

/* ---- recording ---- */

static int bind_exec(sqlite3 *db, const char *sql, const char *const *texts, size_t n,
                     const int64_t *ints, size_t n_ints, imgd_error **err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sql_error(db, rc, err, "database");
    for (size_t i = 0; i < n; i++) {
        if (texts[i])
            sqlite3_bind_text(st, (int)i + 1, texts[i], -1, SQLITE_STATIC);
    }
    for (size_t i = 0; i < n_ints; i++)
        sqlite3_bind_int64(st, (int)(n + i) + 1, ints[i]);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : sql_error(db, rc, err, "database");
}

static int commit_rows(sqlite3 *db, const imgd_image *img, imgd_error **err)
{
    const char *top = img->n_layers ? img->layers[img->n_layers - 1].chain_id : NULL;
    const char *texts[] = {
        img->id, img->manifest_digest, img->manifest_media_type,         top,
        img->os, img->architecture,    img->variant ? img->variant : "", img->created};
    int64_t ints[] = {img->size, img->unpacked_size, (int64_t)time(NULL)};
    int r = bind_exec(db,
                      "INSERT INTO images (id, manifest_digest, manifest_media_type, top_layer, "
                      "os, architecture, variant, created, size, unpacked_size, added) VALUES "
                      "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                      "manifest_digest = excluded.manifest_digest, manifest_media_type = "
                      "excluded.manifest_media_type, size = excluded.size, added = excluded.added",
                      texts, 8, ints, 3, err);
    const char *del[] = {img->id};
    if (r == 0)
        r = bind_exec(db, "DELETE FROM image_layers WHERE image_id = ?", del, 1, NULL, 0, err);
    for (size_t i = 0; r == 0 && i < img->n_layers; i++) {
        const imgd_image_layer *l = &img->layers[i];
        const char *lt[] = {img->id, l->chain_id, l->digest, l->diff_id, l->media_type};
        int64_t li[] = {l->size};
        /* idx comes first in the table but is bound last: name the columns */
        r = bind_exec(db,
                      "INSERT INTO image_layers (image_id, chain_id, digest, diff_id, media_type, "
                      "size, idx) VALUES (?, ?, ?, ?, ?, ?, ?)",
                      lt, 5, (int64_t[]){li[0], (int64_t)i}, 2, err);
    }
    for (char **t = img->repo_tags; r == 0 && t && *t; t++) {
        const char *tt[] = {*t, img->id};
        int64_t now = (int64_t)time(NULL);
        r = bind_exec(db,
                      "INSERT INTO tags (name, image_id, added) VALUES (?, ?, ?) ON CONFLICT "
                      "(name) DO UPDATE SET image_id = excluded.image_id, added = excluded.added",
                      tt, 2, &now, 1, err);
    }
    for (char **d = img->repo_digests; r == 0 && d && *d; d++) {
        const char *dt[] = {*d, img->id};
        r = bind_exec(db, "INSERT OR REPLACE INTO repo_digests (name, image_id) VALUES (?, ?)", dt,
                      2, NULL, 0, err);
    }
    return r;
}

int imgd_store_image_commit(imgd_store *s, const imgd_image *img, imgd_error **err)
{
    for (size_t i = 0; i < img->n_layers; i++) {
        if (!imgd_store_layer_has(s, img->layers[i].chain_id))
            return imgd_error_set(err, ENOENT, "layer %s of image %s is not in the store",
                                  img->layers[i].chain_id, img->id);
    }
    if (!imgd_store_blob_has(s, img->id) || !imgd_store_blob_has(s, img->manifest_digest))
        return imgd_error_set(err, ENOENT, "the config or manifest of image %s is not stored",
                              img->id);
    sqlite3 *db = imgd_db_acquire(imgd_store_db(s));
    int r = exec_sql(db, "BEGIN IMMEDIATE", err);
    if (r == 0)
        r = commit_rows(db, img, err);
    if (r == 0)
        r = exec_sql(db, "COMMIT", err);
    else
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    imgd_db_release(imgd_store_db(s));
    return r < 0 ? imgd_error_prefix(err, "record image %s", img->id) : 0;
}

int imgd_store_image_tag(imgd_store *s, const char *source, const char *target, char **out_name,
                         imgd_error **err)
{
    imgd_reference ref;
    int r = imgd_reference_parse(&ref, target, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *name = ref.digest ? NULL : imgd_reference_format(&ref);
    bool has_digest = ref.digest != NULL;
    imgd_reference_dispose(&ref);
    if (has_digest)
        return imgd_error_set(err, EINVAL, "cannot tag with a digest reference '%s'", target);
    if (!name)
        return imgd_error_set(err, ENOMEM, "out of memory");
    sqlite3 *db = imgd_db_acquire(imgd_store_db(s));
    char id[IMGD_DIGEST_LEN + 1];
    lookup_kind kind;
    r = resolve(db, source, id, NULL, &kind, err);
    if (r == 0) {
        const char *t[] = {name, id};
        int64_t now = (int64_t)time(NULL);
        r = bind_exec(db,
                      "INSERT INTO tags (name, image_id, added) VALUES (?, ?, ?) ON CONFLICT "
                      "(name) DO UPDATE SET image_id = excluded.image_id, added = excluded.added",
                      t, 2, &now, 1, err);
    }
    imgd_db_release(imgd_store_db(s));
    if (r == 0 && out_name)
        *out_name = TAKE_PTR(name);
    return r;
}

int imgd_store_image_use(imgd_store *s, const char *image_id, const char *user, bool used,
                         imgd_error **err)
{
    sqlite3 *db = imgd_db_acquire(imgd_store_db(s));
    const char *t[] = {image_id, user};
    int r = bind_exec(db,
                      used ? "INSERT OR IGNORE INTO image_users (image_id, user) VALUES (?, ?)"
                           : "DELETE FROM image_users WHERE image_id = ? AND user = ?",
                      t, 2, NULL, 0, err);
    imgd_db_release(imgd_store_db(s));
    return r;
}

/* ---- removal and garbage collection ---- */

void imgd_removal_dispose(imgd_removal *r)
{
    imgd_strv_free(r->untagged);
    imgd_strv_free(r->deleted);
    memset(r, 0, sizeof(*r));
}

static int count_rows(sqlite3 *db, const char *sql, const char *param, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        rc = rc == SQLITE_ROW ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : -imgd_db_errno(rc);
}

/* Delete the image row (names and layer rows go with it). */
static int delete_image(sqlite3 *db, const char *id, bool force, imgd_removal *out,
                        imgd_error **err)
{
    int64_t users = 0;
    if (count_rows(db, "SELECT count(*) FROM image_users WHERE image_id = ?", id, &users) < 0)
        return imgd_error_set(err, EIO, "database");
    if (users > 0 && !force)
        return imgd_error_set(err, EBUSY, "image %s is in use by %lld container(s)", id,
                              (long long)users);
    int r = query_strings(db,
                          "SELECT name FROM tags WHERE image_id = ? UNION ALL "
                          "SELECT name FROM repo_digests WHERE image_id = ?1",
                          id, &out->untagged, err);
    const char *t[] = {id};
    if (r == 0)
        r = bind_exec(db, "DELETE FROM images WHERE id = ?", t, 1, NULL, 0, err);
    if (r == 0)
        r = bind_exec(db, "DELETE FROM image_users WHERE image_id = ?", t, 1, NULL, 0, err);
    if (r == 0 && imgd_strv_push(&out->deleted, id) < 0)
        r = imgd_error_set(err, ENOMEM, "out of memory");
    return r;
}

/* Remove one name; the image goes too when that was its last name. */
static int remove_name(sqlite3 *db, const char *id, const char *name, lookup_kind kind, bool force,
                       imgd_removal *out, imgd_error **err)
{
    int64_t tags = 0, digests = 0, users = 0;
    if (count_rows(db, "SELECT count(*) FROM tags WHERE image_id = ?", id, &tags) < 0 ||
        count_rows(db, "SELECT count(*) FROM repo_digests WHERE image_id = ?", id, &digests) < 0 ||
        count_rows(db, "SELECT count(*) FROM image_users WHERE image_id = ?", id, &users) < 0)
        return imgd_error_set(err, EIO, "database");
    bool last = kind == BY_TAG ? tags == 1 : (tags == 0 && digests == 1);
    if (last)
        return delete_image(db, id, force, out, err);
    const char *t[] = {name};
    int r = bind_exec(db,
                      kind == BY_TAG ? "DELETE FROM tags WHERE name = ?"
                                     : "DELETE FROM repo_digests WHERE name = ?",
                      t, 1, NULL, 0, err);
    if (r == 0 && imgd_strv_push(&out->untagged, name) < 0)
        r = imgd_error_set(err, ENOMEM, "out of memory");
    return r;
}

static int remove_by_id(sqlite3 *db, const char *id, bool force, imgd_removal *out,
                        imgd_error **err)
{
    int64_t tags = 0;
    if (count_rows(db, "SELECT count(*) FROM tags WHERE image_id = ?", id, &tags) < 0)
        return imgd_error_set(err, EIO, "database");
    if (tags > 1 && !force)
        return imgd_error_set(err, EBUSY, "image %s has %lld names; remove them by name, or force",
                              id, (long long)tags);
    return delete_image(db, id, force, out, err);
}

/* Move a directory entry out of sight into tmp/ (where a crash leaves it to the next start's
 * cleaning), then delete it. */
static void discard_at(imgd_store *s, int dirfd, const char *name, const char *prefix)
{
    char tmp_name[128];
    snprintf(tmp_name, sizeof(tmp_name), "%s-%s", prefix, name);
    _cleanup_free_ char *tmp_path = NULL;
    if (asprintf(&tmp_path, "%s/tmp", imgd_store_root(s)) < 0)
        return;
    _cleanup_close_ int tmpfd = open(tmp_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (tmpfd < 0 || renameat(dirfd, name, tmpfd, tmp_name) < 0) {
        (void)imgd_remove_tree_at(dirfd, name);
        return;
    }
    (void)imgd_remove_tree_at(tmpfd, tmp_name);
}

/* Delete what the rows selected by sql name (first column: digest or ChainID, second: size) and
 * the rows themselves. */
static int collect(imgd_store *s, sqlite3 *db, const char *select, const char *table,
                   const char *key, int dirfd, const char *prefix, imgd_removal *out,
                   imgd_error **err)
{
    char **keys = NULL;
    int r = query_strings(db, select, NULL, &keys, err);
    if (r < 0 || !keys)
        return r;
    for (char **k = keys; *k; k++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT size FROM %s WHERE %s = ?", table, key);
        int64_t size = 0;
        (void)count_rows(db, sql, *k, &size);
        snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE %s = ?", table, key);
        const char *t[] = {*k};
        r = bind_exec(db, sql, t, 1, NULL, 0, err);
        if (r < 0)
            break;
        if (imgd_digest_is_sha256(*k))
            discard_at(s, dirfd, *k + 7, prefix);
        out->reclaimed_bytes += (uint64_t)(size > 0 ? size : 0);
    }
    imgd_strv_free(keys);
    return r;
}

/* Files in blobs/ or directories in layers/ that no row names: left by a crash between the
 * rename and the database write. */
static void collect_orphans(imgd_store *s, sqlite3 *db, int dirfd, const char *table,
                            const char *key, const char *prefix)
{
    int fd = dup(dirfd);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE %s = ?", table, key);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char digest[IMGD_DIGEST_LEN + 1];
        if (snprintf(digest, sizeof(digest), "sha256:%s", de->d_name) != IMGD_DIGEST_LEN ||
            !imgd_digest_is_sha256(digest))
            continue;
        int64_t n = 1;
        if (count_rows(db, sql, digest, &n) == 0 && n == 0)
            discard_at(s, dirfd, de->d_name, prefix);
    }
    closedir(d);
}

static int collect_garbage(imgd_store *s, sqlite3 *db, imgd_removal *out, imgd_error **err)
{
    int r = collect(s, db,
                    "SELECT chain_id FROM layers WHERE chain_id NOT IN "
                    "(SELECT chain_id FROM image_layers)",
                    "layers", "chain_id", imgd_store_layers_fd(s), "gc-layer", out, err);
    if (r == 0)
        r = collect(s, db,
                    "SELECT digest FROM blobs WHERE digest NOT IN (SELECT id FROM images) AND "
                    "digest NOT IN (SELECT manifest_digest FROM images) AND digest NOT IN "
                    "(SELECT digest FROM image_layers) AND digest NOT IN (SELECT substr(name, "
                    "instr(name, '@') + 1) FROM repo_digests)",
                    "blobs", "digest", imgd_store_blobs_fd(s), "gc-blob", out, err);
    if (r == 0)
        r = exec_sql(db,
                     "DELETE FROM layer_blobs WHERE digest NOT IN (SELECT digest FROM "
                     "image_layers)",
                     err);
    if (r == 0) {
        collect_orphans(s, db, imgd_store_layers_fd(s), "layers", "chain_id", "gc-layer");
        collect_orphans(s, db, imgd_store_blobs_fd(s), "blobs", "digest", "gc-blob");
    }
    return r;
}

int imgd_store_image_remove(imgd_store *s, const char *name_or_id, bool force, imgd_removal *out,
                            imgd_error **err)
{
    memset(out, 0, sizeof(*out));
    imgd_store_gc_begin(s);
    sqlite3 *db = imgd_db_acquire(imgd_store_db(s));
    char id[IMGD_DIGEST_LEN + 1] = "";
    _cleanup_free_ char *name = NULL;
    lookup_kind kind = BY_ID;
    int r = resolve(db, name_or_id, id, &name, &kind, err);
    if (r == 0)
        r = exec_sql(db, "BEGIN IMMEDIATE", err);
    if (r == 0) {
        r = kind == BY_ID ? remove_by_id(db, id, force, out, err)
                          : remove_name(db, id, name, kind, force, out, err);
        if (r == 0)
            r = exec_sql(db, "COMMIT", err);
        else
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    if (r == 0 && out->deleted)
        r = collect_garbage(s, db, out, err);
    imgd_db_release(imgd_store_db(s));
    imgd_store_gc_end(s);
    if (r < 0)
        imgd_removal_dispose(out);
    return r;
}

int imgd_store_prune(imgd_store *s, imgd_removal *out, imgd_error **err)
{
    memset(out, 0, sizeof(*out));
    imgd_store_gc_begin(s);
    sqlite3 *db = imgd_db_acquire(imgd_store_db(s));
    char **dangling = NULL;
    int r = query_strings(db,
                          "SELECT id FROM images WHERE id NOT IN (SELECT image_id FROM tags) AND "
                          "id NOT IN (SELECT image_id FROM repo_digests) AND id NOT IN (SELECT "
                          "image_id FROM image_users)",
                          NULL, &dangling, err);
    if (r == 0)
        r = exec_sql(db, "BEGIN IMMEDIATE", err);
    for (char **id = dangling; r == 0 && id && *id; id++)
        r = delete_image(db, *id, false, out, err);
    if (r == 0)
        r = exec_sql(db, "COMMIT", err);
    else if (dangling)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    if (r == 0)
        r = collect_garbage(s, db, out, err);
    imgd_strv_free(dangling);
    imgd_db_release(imgd_store_db(s));
    imgd_store_gc_end(s);
    if (r < 0)
        imgd_removal_dispose(out);
    return r;
}
