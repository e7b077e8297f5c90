/* SPDX-License-Identifier: MIT */
#include "db.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "util/cleanup.h"

struct imgd_db {
    sqlite3 *conn;
    pthread_mutex_t lock;
    char *path;
    dev_t dev;
    ino_t ino;
    char instance_id[33];
};

/* Migration N (1-based) brings the schema from version N-1 to N. Never edit a released entry:
 * add a new one. */
static const char *const migrations[] = {
    /* 1: instance metadata */
    "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);",
    /* 2: the image store: content blobs, unpacked layers, images and their names */
    "CREATE TABLE blobs (digest TEXT PRIMARY KEY NOT NULL, size INTEGER NOT NULL,"
    "  media_type TEXT NOT NULL, added INTEGER NOT NULL);"
    "CREATE TABLE layers (chain_id TEXT PRIMARY KEY NOT NULL, diff_id TEXT NOT NULL,"
    "  parent TEXT, size INTEGER NOT NULL, added INTEGER NOT NULL);"
    "CREATE TABLE layer_blobs (digest TEXT PRIMARY KEY NOT NULL, diff_id TEXT NOT NULL,"
    "  size INTEGER NOT NULL, media_type TEXT NOT NULL);"
    "CREATE TABLE images (id TEXT PRIMARY KEY NOT NULL, manifest_digest TEXT NOT NULL,"
    "  manifest_media_type TEXT NOT NULL, top_layer TEXT, os TEXT NOT NULL,"
    "  architecture TEXT NOT NULL, variant TEXT NOT NULL DEFAULT '', created TEXT,"
    "  size INTEGER NOT NULL, unpacked_size INTEGER NOT NULL, added INTEGER NOT NULL);"
    "CREATE TABLE image_layers (image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
    "  idx INTEGER NOT NULL, chain_id TEXT NOT NULL, digest TEXT NOT NULL, diff_id TEXT NOT NULL,"
    "  size INTEGER NOT NULL, media_type TEXT NOT NULL, PRIMARY KEY (image_id, idx));"
    "CREATE INDEX image_layers_chain ON image_layers (chain_id);"
    "CREATE TABLE tags (name TEXT PRIMARY KEY NOT NULL,"
    "  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE, added INTEGER NOT NULL);"
    "CREATE INDEX tags_image ON tags (image_id);"
    "CREATE TABLE repo_digests (name TEXT PRIMARY KEY NOT NULL,"
    "  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE);"
    "CREATE INDEX repo_digests_image ON repo_digests (image_id);"
    "CREATE TABLE image_users (image_id TEXT NOT NULL, user TEXT NOT NULL,"
    "  PRIMARY KEY (image_id, user));",
    /* 3: containers; state is what imgd last knew, brought up to date from the monitor's files */
    "CREATE TABLE containers (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL UNIQUE,"
    "  image TEXT NOT NULL, image_id TEXT NOT NULL, config TEXT NOT NULL,"
    "  state TEXT NOT NULL, created INTEGER NOT NULL, started INTEGER NOT NULL DEFAULT 0,"
    "  finished INTEGER NOT NULL DEFAULT 0, exit_code INTEGER NOT NULL DEFAULT 0,"
    "  pid INTEGER NOT NULL DEFAULT 0, last_error TEXT);",
    /* 4: ImageAPI attachments and mounts; AUTOINCREMENT: an id is never used twice */
    "CREATE TABLE mount_objects (id INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL,"
    "  kind TEXT NOT NULL, body TEXT NOT NULL, refs INTEGER NOT NULL, deps TEXT NOT NULL,"
    "  state TEXT NOT NULL, held INTEGER NOT NULL DEFAULT 0);",
    /* 5: the ImageAPI v0.1 paths number each type from 0: their ids, mapped to the objects' */
    "CREATE TABLE imageapi_legacy_ids (type TEXT NOT NULL, legacy INTEGER NOT NULL,"
    "  core INTEGER NOT NULL, PRIMARY KEY (type, legacy), UNIQUE (type, core));"
    "CREATE TABLE imageapi_legacy_next (type TEXT PRIMARY KEY NOT NULL, next INTEGER NOT NULL);",
    /* 6: IMS records in their API form; kind is core/ims's imgd_ims_kind, link the live link.path
     * (unique per kind among live records, checked by core/ims) */
    "CREATE TABLE ims_records (kind INTEGER NOT NULL, id TEXT NOT NULL,"
    "  deleted INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL, link TEXT,"
    "  body TEXT NOT NULL, PRIMARY KEY (kind, id));"
    "CREATE INDEX ims_records_list ON ims_records (kind, deleted);"
    "CREATE INDEX ims_records_link ON ims_records (kind, link) WHERE link IS NOT NULL;"
    "CREATE TABLE ims_artifacts (bucket TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL,"
    "  md5 TEXT NOT NULL, etag TEXT NOT NULL, content_type TEXT NOT NULL,"
    "  PRIMARY KEY (bucket, key));",
};

#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

int imgd_db_schema_latest(void)
{
    return N_MIGRATIONS;
}

static int sqlite_errno(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_READONLY:
        return EROFS;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return EACCES;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return EBUSY;
    case SQLITE_FULL:
        return ENOSPC;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return EUCLEAN;
    case SQLITE_CANTOPEN:
        return ENOENT;
    case SQLITE_NOMEM:
        return ENOMEM;
    default:
        return EIO;
    }
}

static int db_exec(imgd_db *db, const char *sql, const char *what, imgd_error **err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db->conn, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        int r =
            imgd_error_set(err, sqlite_errno(rc), "%s: %s", what, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return r;
    }
    return 0;
}

static int query_int(imgd_db *db, const char *sql, int *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->conn, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int(st, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

static int integrity_check(imgd_db *db, imgd_error **err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->conn, "PRAGMA quick_check", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return imgd_error_set(err, sqlite_errno(rc), "integrity check: %s", sqlite3_errstr(rc));
    rc = sqlite3_step(st);
    int r = 0;
    if (rc != SQLITE_ROW)
        r = imgd_error_set(err, sqlite_errno(rc), "integrity check: %s", sqlite3_errmsg(db->conn));
    else if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
        r = imgd_error_set(err, EUCLEAN, "integrity check failed: %s",
                           (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return r;
}

static int migrate(imgd_db *db, imgd_error **err)
{
    int version = 0;
    int rc = query_int(db, "PRAGMA user_version", &version);
    if (rc != SQLITE_OK)
        return imgd_error_set(err, sqlite_errno(rc), "read schema version: %s", sqlite3_errstr(rc));
    if (version > N_MIGRATIONS)
        return imgd_error_set(err, EPROTO,
                              "database schema version %d is newer than this imgd knows (%d); "
                              "run a newer imgd or restore a backup",
                              version, N_MIGRATIONS);
    for (int v = version; v < N_MIGRATIONS; v++) {
        _cleanup_free_ char *sql = NULL;
        if (asprintf(&sql, "BEGIN IMMEDIATE; %s PRAGMA user_version = %d; COMMIT;", migrations[v],
                     v + 1) < 0)
            return imgd_error_set(err, ENOMEM, "out of memory");
        int r = db_exec(db, sql, "apply schema migration", err);
        if (r < 0) {
            sqlite3_exec(db->conn, "ROLLBACK", NULL, NULL, NULL);
            return imgd_error_prefix(err, "migration %d", v + 1);
        }
    }
    return 0;
}

static int load_instance_id(imgd_db *db, imgd_error **err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->conn, "SELECT value FROM meta WHERE key = 'instance_id'", -1,
                                &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        snprintf(db->instance_id, sizeof(db->instance_id), "%s",
                 (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        return 0;
    }
    sqlite3_finalize(st);
    unsigned char raw[16];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return imgd_error_errno(err, errno, "generate instance id");
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(db->instance_id + 2 * i, 3, "%02x", raw[i]);
    rc = sqlite3_prepare_v2(db->conn, "INSERT INTO meta (key, value) VALUES ('instance_id', ?)", -1,
                            &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, db->instance_id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db->conn);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        return imgd_error_set(err, sqlite_errno(rc), "store instance id: %s",
                              sqlite3_errmsg(db->conn));
    return 0;
}

static int db_setup(imgd_db *db, imgd_error **err)
{
    sqlite3_busy_timeout(db->conn, 5000);
    int r = db_exec(db,
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
                    "PRAGMA foreign_keys = ON;",
                    "configure database", err);
    if (r < 0)
        return r;
    r = integrity_check(db, err);
    if (r < 0)
        return r;
    r = migrate(db, err);
    if (r < 0)
        return r;
    return load_instance_id(db, err);
}

int imgd_db_open(imgd_db **out, const char *path, imgd_error **err)
{
    imgd_db *db = calloc(1, sizeof(*db));
    if (!db)
        return imgd_error_set(err, ENOMEM, "out of memory");
    pthread_mutex_init(&db->lock, NULL);
    db->path = strdup(path);
    int rc = sqlite3_open_v2(path, &db->conn,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX |
                                 SQLITE_OPEN_EXRESCODE,
                             NULL);
    int r = 0;
    if (!db->path)
        r = imgd_error_set(err, ENOMEM, "out of memory");
    else if (rc != SQLITE_OK)
        r = imgd_error_set(err, sqlite_errno(rc), "open database '%s': %s", path,
                           db->conn ? sqlite3_errmsg(db->conn) : sqlite3_errstr(rc));
    if (r == 0) {
        r = db_setup(db, err);
        if (r < 0)
            imgd_error_prefix(err, "database '%s'", path);
    }
    struct stat st;
    if (r == 0 && stat(path, &st) < 0)
        r = imgd_error_errno(err, errno, "database '%s'", path);
    if (r != 0) {
        imgd_db_free(db);
        return r;
    }
    db->dev = st.st_dev;
    db->ino = st.st_ino;
    *out = db;
    return 0;
}

void imgd_db_free(imgd_db *db)
{
    if (!db)
        return;
    if (db->conn)
        sqlite3_close_v2(db->conn);
    pthread_mutex_destroy(&db->lock);
    free(db->path);
    free(db);
}

int imgd_db_schema_version(imgd_db *db)
{
    int v = -1;
    pthread_mutex_lock(&db->lock);
    (void)query_int(db, "PRAGMA user_version", &v);
    pthread_mutex_unlock(&db->lock);
    return v;
}

const char *imgd_db_instance_id(const imgd_db *db)
{
    return db->instance_id;
}

sqlite3 *imgd_db_acquire(imgd_db *db)
{
    pthread_mutex_lock(&db->lock);
    return db->conn;
}

void imgd_db_release(imgd_db *db)
{
    pthread_mutex_unlock(&db->lock);
}

int imgd_db_errno(int sqlite_rc)
{
    return sqlite_errno(sqlite_rc);
}

int imgd_db_check(imgd_db *db, imgd_error **err)
{
    /* An open SQLite handle keeps working on a file that was deleted or replaced underneath it,
     * and every write would then be lost at the next start: compare the path with the handle. */
    struct stat st;
    if (stat(db->path, &st) < 0)
        return imgd_error_errno(err, errno, "database file '%s'", db->path);
    if (st.st_dev != db->dev || st.st_ino != db->ino)
        return imgd_error_set(err, ESTALE, "database file '%s' was replaced while open", db->path);
    int n = 0;
    pthread_mutex_lock(&db->lock);
    int rc = query_int(db, "SELECT count(*) FROM meta", &n);
    pthread_mutex_unlock(&db->lock);
    if (rc != SQLITE_OK)
        return imgd_error_set(err, sqlite_errno(rc), "database query failed: %s",
                              sqlite3_errstr(rc));
    return 0;
}
