/* SPDX-License-Identifier: MIT */
#include "records.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/cleanup.h"

static const char *const kind_names[IMGD_IMS_N_KINDS] = {"public-key", "recipe", "image", "job",
                                                         "remote build node"};

const char *imgd_ims_kind_name(imgd_ims_kind kind)
{
    return (unsigned)kind < IMGD_IMS_N_KINDS ? kind_names[kind] : "record";
}

void imgd_ims_record_dispose(imgd_ims_record *r)
{
    free(r->id);
    free(r->text);
    json_decref(r->body);
    memset(r, 0, sizeof *r);
}

void imgd_ims_records_free(imgd_ims_record *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        imgd_ims_record_dispose(&v[i]);
    free(v);
}

char *imgd_ims_encode(const json_t *body)
{
    return json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
}

static int db_fail(imgd_error **err, sqlite3 *db, int rc, const char *what)
{
    return imgd_error_set(err, imgd_db_errno(rc), "IMS records: %s: %s", what, sqlite3_errmsg(db));
}

/* The link path a live record holds, or NULL. Borrowed from body. */
static const char *link_path(const json_t *body)
{
    json_t *p = json_object_get(json_object_get(body, "link"), "path");
    return json_is_string(p) ? json_string_value(p) : NULL;
}

/* One statement with its text; finalized by the cleanup. */
static void finalizep(sqlite3_stmt **st)
{
    sqlite3_finalize(*st);
}
#define _cleanup_stmt_ _cleanup_(finalizep)

static int prepare(sqlite3 *db, sqlite3_stmt **st, const char *sql, imgd_error **err)
{
    int rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);
    return rc == SQLITE_OK ? 0 : db_fail(err, db, rc, "prepare");
}

static int load_row(sqlite3_stmt *st, imgd_ims_record *out)
{
    const char *id = (const char *)sqlite3_column_text(st, 0);
    const char *text = (const char *)sqlite3_column_text(st, 1);
    imgd_ims_record r = {
        .id = strdup(id ? id : ""),
        .text = strdup(text ? text : ""),
        .created_usec = (uint64_t)sqlite3_column_int64(st, 2),
        .deleted = sqlite3_column_int(st, 3) != 0,
    };
    if (r.text)
        r.body = json_loads(r.text, 0, NULL);
    if (!r.id || !r.text || !r.body) {
        int e = r.id && r.text ? -EBADMSG : -ENOMEM;
        imgd_ims_record_dispose(&r);
        return e;
    }
    *out = r;
    return 0;
}

#define SELECT_COLS "SELECT id, body, created, deleted FROM ims_records "

int imgd_ims_list_text(imgd_db *db, imgd_ims_kind kind, bool deleted, char **out, size_t *out_len,
                       imgd_error **err)
{
    sqlite3 *conn = imgd_db_acquire(db);
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    imgd_buf b = {0};
    int r = prepare(conn, &st,
                    "SELECT body FROM ims_records WHERE kind = ?1 AND deleted = ?2 ORDER BY rowid",
                    err);
    if (r == 0) {
        sqlite3_bind_int(st, 1, (int)kind);
        sqlite3_bind_int(st, 2, deleted);
        imgd_buf_append(&b, "[", 1);
        int rc;
        bool first = true;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (!first)
                imgd_buf_append(&b, ",", 1);
            imgd_buf_append(&b, sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0));
            first = false;
        }
        if (rc != SQLITE_DONE)
            r = db_fail(err, conn, rc, "list");
        imgd_buf_append(&b, "]\n", 2);
    }
    imgd_db_release(db);
    if (r < 0) {
        imgd_buf_dispose(&b);
        return r;
    }
    *out = imgd_buf_steal(&b, out_len);
    return *out ? 0 : imgd_error_set(err, ENOMEM, "out of memory");
}

static int collect(sqlite3 *conn, sqlite3_stmt *st, imgd_ims_record **out, size_t *n,
                   imgd_error **err)
{
    imgd_ims_record *v = NULL;
    size_t len = 0, cap = 0;
    int rc, r = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (imgd_array_reserve(&v, &cap, len + 1, sizeof *v, 16) < 0) {
            r = imgd_error_set(err, ENOMEM, "out of memory");
            break;
        }
        r = load_row(st, &v[len]);
        if (r < 0) {
            imgd_error_set(err, -r, "IMS records: a stored record cannot be read");
            break;
        }
        len++;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = db_fail(err, conn, rc, "read");
    if (r < 0) {
        imgd_ims_records_free(v, len);
        return r;
    }
    *out = v;
    *n = len;
    return 0;
}

int imgd_ims_list(imgd_db *db, imgd_ims_kind kind, bool deleted, imgd_ims_record **out, size_t *n,
                  imgd_error **err)
{
    sqlite3 *conn = imgd_db_acquire(db);
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prepare(conn, &st, SELECT_COLS "WHERE kind = ?1 AND deleted = ?2 ORDER BY rowid", err);
    if (r == 0) {
        sqlite3_bind_int(st, 1, (int)kind);
        sqlite3_bind_int(st, 2, deleted);
        r = collect(conn, st, out, n, err);
    }
    imgd_db_release(db);
    return r;
}

int imgd_ims_get(imgd_db *db, imgd_ims_kind kind, bool deleted, const char *id,
                 imgd_ims_record *out, imgd_error **err)
{
    sqlite3 *conn = imgd_db_acquire(db);
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prepare(conn, &st, SELECT_COLS "WHERE kind = ?1 AND id = ?2 AND deleted = ?3", err);
    if (r == 0) {
        sqlite3_bind_int(st, 1, (int)kind);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, deleted);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            r = load_row(st, out);
            if (r < 0)
                imgd_error_set(err, -r, "IMS records: %s %s cannot be read", kind_names[kind], id);
        } else if (rc == SQLITE_DONE) {
            r = imgd_error_set(err, ENOENT, "no %s %s", kind_names[kind], id);
        } else {
            r = db_fail(err, conn, rc, "read");
        }
    }
    imgd_db_release(db);
    return r;
}

int imgd_ims_get_text(imgd_db *db, imgd_ims_kind kind, bool deleted, const char *id, char **out,
                      imgd_error **err)
{
    sqlite3 *conn = imgd_db_acquire(db);
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r =
        prepare(conn, &st,
                "SELECT body FROM ims_records WHERE kind = ?1 AND id = ?2 AND deleted = ?3", err);
    if (r == 0) {
        sqlite3_bind_int(st, 1, (int)kind);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, deleted);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *text = (const char *)sqlite3_column_text(st, 0);
            *out = strdup(text ? text : "");
            if (!*out)
                r = imgd_error_set(err, ENOMEM, "out of memory");
        } else if (rc == SQLITE_DONE) {
            r = imgd_error_set(err, ENOENT, "no %s %s", kind_names[kind], id);
        } else {
            r = db_fail(err, conn, rc, "read");
        }
    }
    imgd_db_release(db);
    return r;
}

/* Under the lock: -EEXIST with *conflict when another live record of kind holds path. */
static int check_link(sqlite3 *conn, imgd_ims_kind kind, const char *id, const char *path,
                      char **conflict, imgd_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prepare(conn, &st,
                    "SELECT id FROM ims_records WHERE kind = ?1 AND deleted = 0 AND link = ?2 "
                    "AND id != ?3 LIMIT 1",
                    err);
    if (r < 0)
        return r;
    sqlite3_bind_int(st, 1, (int)kind);
    sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return db_fail(err, conn, rc, "check link");
    const char *other = (const char *)sqlite3_column_text(st, 0);
    if (conflict)
        *conflict = strdup(other ? other : "");
    return imgd_error_set(err, EEXIST, "the link path %s is held by %s %s", path, kind_names[kind],
                          other ? other : "");
}

int imgd_ims_link_holder(imgd_db *db, imgd_ims_kind kind, const char *path, const char *self,
                         char **holder, imgd_error **err)
{
    *holder = NULL;
    sqlite3 *conn = imgd_db_acquire(db);
    int r = check_link(conn, kind, self ? self : "", path, holder, err);
    imgd_db_release(db);
    if (r == -EEXIST && *holder) {
        if (err) {
            imgd_error_free(*err);
            *err = NULL;
        }
        return 0;
    }
    return r;
}

static int exec(sqlite3 *conn, const char *sql, imgd_error **err)
{
    int rc = sqlite3_exec(conn, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : db_fail(err, conn, rc, sql);
}

/* Run body(ctx) inside BEGIN IMMEDIATE ... COMMIT (ROLLBACK on failure), under the db lock. */
static int transaction(imgd_db *db, int (*fn)(sqlite3 *conn, void *ctx, imgd_error **err),
                       void *ctx, imgd_error **err)
{
    sqlite3 *conn = imgd_db_acquire(db);
    int r = exec(conn, "BEGIN IMMEDIATE", err);
    if (r == 0) {
        r = fn(conn, ctx, err);
        if (r == 0)
            r = exec(conn, "COMMIT", err);
        if (r < 0)
            (void)sqlite3_exec(conn, "ROLLBACK", NULL, NULL, NULL);
    }
    imgd_db_release(db);
    return r;
}

typedef struct write_op {
    imgd_ims_kind kind;
    const char *id;
    uint64_t created_usec;
    bool deleted;
    const char *text;
    const char *link; /* NULL: none, or not checked (deleted) */
    bool replace;
    const imgd_ims_record *old;
    char **conflict;
    const char *expect_text;
    imgd_ims_record **removed;
    size_t *n_removed;
} write_op;

static int do_insert(sqlite3 *conn, void *ctx, imgd_error **err)
{
    write_op *op = ctx;
    int r = op->link ? check_link(conn, op->kind, op->id, op->link, op->conflict, err) : 0;
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = prepare(conn, &st,
                op->replace
                    ? "INSERT INTO ims_records (kind, id, deleted, created, link, body) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (kind, id) DO UPDATE SET "
                      "deleted = excluded.deleted, created = excluded.created, "
                      "link = excluded.link, body = excluded.body"
                    : "INSERT INTO ims_records (kind, id, deleted, created, link, body) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                err);
    if (r < 0)
        return r;
    sqlite3_bind_int(st, 1, (int)op->kind);
    sqlite3_bind_text(st, 2, op->id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, op->deleted);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)op->created_usec);
    sqlite3_bind_text(st, 5, op->link, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, op->text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return 0;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return imgd_error_set(err, EEXIST, "%s %s already exists", kind_names[op->kind], op->id);
    return db_fail(err, conn, rc, "insert");
}

int imgd_ims_insert(imgd_db *db, imgd_ims_kind kind, const char *id, uint64_t created_usec,
                    bool deleted, const json_t *body, bool replace, char **conflict,
                    imgd_error **err)
{
    _cleanup_free_ char *text = imgd_ims_encode(body);
    if (!text)
        return imgd_error_set(err, ENOMEM, "out of memory");
    write_op op = {.kind = kind,
                   .id = id,
                   .created_usec = created_usec,
                   .deleted = deleted,
                   .text = text,
                   .link = deleted ? NULL : link_path(body),
                   .replace = replace,
                   .conflict = conflict};
    return transaction(db, do_insert, &op, err);
}

static int do_update(sqlite3 *conn, void *ctx, imgd_error **err)
{
    write_op *op = ctx;
    int r = op->link ? check_link(conn, op->kind, op->old->id, op->link, op->conflict, err) : 0;
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = prepare(conn, &st,
                "UPDATE ims_records SET deleted = ?4, link = ?5, body = ?6 "
                "WHERE kind = ?1 AND id = ?2 AND deleted = ?3 AND body = ?7",
                err);
    if (r < 0)
        return r;
    sqlite3_bind_int(st, 1, (int)op->kind);
    sqlite3_bind_text(st, 2, op->old->id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, op->old->deleted);
    sqlite3_bind_int(st, 4, op->deleted);
    sqlite3_bind_text(st, 5, op->link, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, op->text, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, op->old->text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return db_fail(err, conn, rc, "update");
    if (sqlite3_changes(conn) == 1)
        return 0;
    return imgd_error_set(err, ESTALE, "%s %s changed meanwhile", kind_names[op->kind],
                          op->old->id);
}

int imgd_ims_update(imgd_db *db, imgd_ims_kind kind, const imgd_ims_record *old, bool deleted,
                    const json_t *body, char **conflict, imgd_error **err)
{
    _cleanup_free_ char *text = imgd_ims_encode(body);
    if (!text)
        return imgd_error_set(err, ENOMEM, "out of memory");
    write_op op = {.kind = kind,
                   .deleted = deleted,
                   .text = text,
                   .link = deleted ? NULL : link_path(body),
                   .old = old,
                   .conflict = conflict};
    return transaction(db, do_update, &op, err);
}

static int do_remove(sqlite3 *conn, void *ctx, imgd_error **err)
{
    write_op *op = ctx;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = prepare(conn, &st,
                    "DELETE FROM ims_records WHERE kind = ?1 AND id = ?2 AND deleted = ?3 "
                    "AND (?4 IS NULL OR body = ?4)",
                    err);
    if (r < 0)
        return r;
    sqlite3_bind_int(st, 1, (int)op->kind);
    sqlite3_bind_text(st, 2, op->id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, op->deleted);
    sqlite3_bind_text(st, 4, op->expect_text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return db_fail(err, conn, rc, "delete");
    if (sqlite3_changes(conn) == 1)
        return 0;
    return op->expect_text ? imgd_error_set(err, ESTALE, "%s %s changed meanwhile",
                                            kind_names[op->kind], op->id)
                           : imgd_error_set(err, ENOENT, "no %s %s", kind_names[op->kind], op->id);
}

int imgd_ims_remove(imgd_db *db, imgd_ims_kind kind, bool deleted, const char *id,
                    const char *expect_text, imgd_error **err)
{
    write_op op = {.kind = kind, .id = id, .deleted = deleted, .expect_text = expect_text};
    return transaction(db, do_remove, &op, err);
}

static int do_remove_all(sqlite3 *conn, void *ctx, imgd_error **err)
{
    write_op *op = ctx;
    int r = 0;
    if (op->removed) {
        _cleanup_stmt_ sqlite3_stmt *sel = NULL;
        r = prepare(conn, &sel, SELECT_COLS "WHERE kind = ?1 AND deleted = ?2 ORDER BY rowid", err);
        if (r < 0)
            return r;
        sqlite3_bind_int(sel, 1, (int)op->kind);
        sqlite3_bind_int(sel, 2, op->deleted);
        r = collect(conn, sel, op->removed, op->n_removed, err);
        if (r < 0)
            return r;
    }
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = prepare(conn, &st, "DELETE FROM ims_records WHERE kind = ?1 AND deleted = ?2", err);
    if (r == 0) {
        sqlite3_bind_int(st, 1, (int)op->kind);
        sqlite3_bind_int(st, 2, op->deleted);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
            r = db_fail(err, conn, rc, "delete all");
    }
    if (r < 0 && op->removed) {
        imgd_ims_records_free(*op->removed, *op->n_removed);
        *op->removed = NULL;
        *op->n_removed = 0;
    }
    return r;
}

int imgd_ims_remove_all(imgd_db *db, imgd_ims_kind kind, bool deleted, imgd_ims_record **out,
                        size_t *n, imgd_error **err)
{
    size_t dummy = 0;
    write_op op = {.kind = kind, .deleted = deleted, .removed = out, .n_removed = n ? n : &dummy};
    return transaction(db, do_remove_all, &op, err);
}
