/* SPDX-License-Identifier: MIT */
/* Records, references and the create/delete/re-adopt logic of attachments and mounts. The
 * kernel work is in drivers.c. */
#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/store/images.h"
#include "core/store/unpack.h"
#include "drivers.h"
#include "mounts-private.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"

#define MAX_DEPTH 16

static const char *const type_names[] = {"attach", "mount"};

/* ---- records ---- */

static int db_fail(imgd_error **err, sqlite3 *db, int rc, const char *what)
{
    return imgd_error_set(err, imgd_db_errno(rc), "%s: %s", what, sqlite3_errmsg(db));
}

void mobj_dispose(mobj *o)
{
    json_decref(o->body);
    json_decref(o->deps);
    memset(o, 0, sizeof *o);
}

int mobj_load(imgd_mounts *m, int64_t id, mobj *out)
{
    sqlite3 *db = imgd_db_acquire(m->db);
    sqlite3_stmt *st = NULL;
    int r = -ENOENT;
    if (sqlite3_prepare_v2(db,
                           "SELECT type, kind, body, refs, deps, state, held FROM mount_objects "
                           "WHERE id = ?1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            mobj o = {.id = id};
            snprintf(o.type, sizeof o.type, "%s", (const char *)sqlite3_column_text(st, 0));
            snprintf(o.kind, sizeof o.kind, "%s", (const char *)sqlite3_column_text(st, 1));
            o.body = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
            o.refs = sqlite3_column_int64(st, 3);
            o.deps = json_loads((const char *)sqlite3_column_text(st, 4), 0, NULL);
            o.ready = !strcmp((const char *)sqlite3_column_text(st, 5), "ready");
            o.held = sqlite3_column_int(st, 6) != 0;
            r = o.body && o.deps ? 0 : -EBADMSG;
            if (r == 0)
                *out = o;
            else
                mobj_dispose(&o);
        }
    }
    sqlite3_finalize(st);
    imgd_db_release(m->db);
    return r;
}

int mobj_insert(imgd_mounts *m, const char *type, const char *kind, int64_t *out_id,
                imgd_error **err)
{
    sqlite3 *db = imgd_db_acquire(m->db);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO mount_objects (type, kind, body, refs, deps, state) "
                                "VALUES (?1, ?2, '{}', 1, '[]', 'pending')",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    int r = rc == SQLITE_DONE ? 0 : db_fail(err, db, rc, "record object");
    if (r == 0)
        *out_id = sqlite3_last_insert_rowid(db);
    sqlite3_finalize(st);
    imgd_db_release(m->db);
    return r;
}

int mobj_save(imgd_mounts *m, const mobj *o, imgd_error **err)
{
    _cleanup_free_ char *body = json_dumps(o->body, JSON_COMPACT);
    _cleanup_free_ char *deps = json_dumps(o->deps, JSON_COMPACT);
    if (!body || !deps)
        return imgd_error_set(err, ENOMEM, "out of memory");
    sqlite3 *db = imgd_db_acquire(m->db);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "UPDATE mount_objects SET body = ?2, refs = ?3, deps = ?4, "
                                "state = ?5, held = ?6 WHERE id = ?1",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, o->id);
        sqlite3_bind_text(st, 2, body, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, o->refs);
        sqlite3_bind_text(st, 4, deps, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, o->ready ? "ready" : "pending", -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 6, o->held);
        rc = sqlite3_step(st);
    }
    int r = rc == SQLITE_DONE ? 0 : db_fail(err, db, rc, "update object");
    sqlite3_finalize(st);
    imgd_db_release(m->db);
    return r;
}

void mobj_delete(imgd_mounts *m, int64_t id)
{
    sqlite3 *db = imgd_db_acquire(m->db);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "DELETE FROM mount_objects WHERE id = ?1", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        (void)sqlite3_step(st);
    }
    sqlite3_finalize(st);
    imgd_db_release(m->db);
}

/* Ids of the records of a type ("" for all), in id order. */
static int mobj_ids(imgd_mounts *m, const char *type, int64_t **out, size_t *n)
{
    sqlite3 *db = imgd_db_acquire(m->db);
    sqlite3_stmt *st = NULL;
    int64_t *v = NULL;
    size_t count = 0, cap = 0;
    int r = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT id FROM mount_objects WHERE ?1 = '' OR type = ?1 ORDER BY id",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
        while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
            r = imgd_array_reserve(&v, &cap, count + 1, sizeof *v, 16);
            if (r == 0)
                v[count++] = sqlite3_column_int64(st, 0);
        }
    }
    sqlite3_finalize(st);
    imgd_db_release(m->db);
    if (r < 0) {
        free(v);
        return r;
    }
    *out = v;
    *n = count;
    return 0;
}

/* ---- loop descriptors held while an attachment exists ---- */

void mounts_loop_keep(imgd_mounts *m, int64_t id, int fd)
{
    if (imgd_array_reserve(&m->loops, &m->cap_loops, m->n_loops + 1, sizeof *m->loops, 8) < 0) {
        close(fd); /* the device stays while mounted; autoclear drops it after */
        return;
    }
    m->loops[m->n_loops++] = (mounts_loop){.id = id, .fd = fd};
}

int mounts_loop_take(imgd_mounts *m, int64_t id)
{
    for (size_t i = 0; i < m->n_loops; i++)
        if (m->loops[i].id == id) {
            int fd = m->loops[i].fd;
            m->loops[i] = m->loops[--m->n_loops];
            return fd;
        }
    return -1;
}

/* ---- rendering ---- */

/* Replace every {"id": N} placeholder of a nested object at key in parent by the rendered
 * object N. */
static void render_ref(imgd_mounts *m, json_t *parent, const char *key, int depth)
{
    json_t *ref = json_object_get(parent, key);
    json_int_t id = json_integer_value(json_object_get(ref, "id"));
    json_t *child = id > 0 && depth < MAX_DEPTH ? mounts_render_depth(m, id, depth + 1) : NULL;
    if (child)
        json_object_set_new(parent, key, child);
}

json_t *mounts_render_depth(imgd_mounts *m, int64_t id, int depth)
{
    mobj o = {0};
    if (mobj_load(m, id, &o) < 0)
        return NULL;
    if (!o.ready) {
        mobj_dispose(&o);
        return NULL;
    }
    json_t *out = json_deep_copy(o.body);
    json_object_del(out, "_internal");
    json_object_set_new(out, "id", json_integer(o.id));
    json_object_set_new(out, "refs", json_integer(o.refs));
    json_object_set_new(out, "kind", json_string(o.kind));
    json_t *sub = json_object_get(out, o.kind);
    if (json_is_object(sub)) {
        render_ref(m, sub, "mount", depth);
        render_ref(m, sub, "attach", depth);
        json_t *lower = json_object_get(sub, "lower");
        size_t i;
        json_t *l;
        json_array_foreach (lower, i, l) {
            json_int_t lid = json_integer_value(json_object_get(l, "id"));
            json_t *child =
                lid > 0 && depth < MAX_DEPTH ? mounts_render_depth(m, lid, depth + 1) : NULL;
            if (child)
                json_array_set_new(lower, i, child);
        }
    }
    mobj_dispose(&o);
    return out;
}

json_t *imgd_mounts_render(imgd_mounts *m, int64_t id)
{
    pthread_mutex_lock(&m->lock);
    json_t *out = mounts_render_depth(m, id, 0);
    pthread_mutex_unlock(&m->lock);
    return out;
}

/* ---- references ---- */

int mounts_ref_add(imgd_mounts *m, int64_t id, const char *type, imgd_error **err)
{
    mobj o = {0};
    int r = mobj_load(m, id, &o);
    if (r < 0 || !o.ready || (type && strcmp(o.type, type) != 0)) {
        mobj_dispose(&o);
        return imgd_error_set(err, ENOENT, "%s %lld not found", type ? type : "object",
                              (long long)id);
    }
    o.refs++;
    r = mobj_save(m, &o, err);
    mobj_dispose(&o);
    return r;
}

/* Release one reference; at zero, tear down and release what the object references. */
int mounts_release_locked(imgd_mounts *m, int64_t id, int depth, imgd_error **err)
{
    mobj o = {0};
    int r = mobj_load(m, id, &o);
    if (r < 0)
        return imgd_error_set(err, ENOENT, "object %lld not found", (long long)id);
    if (--o.refs > 0) {
        r = mobj_save(m, &o, err);
        mobj_dispose(&o);
        return r;
    }
    if (o.ready)
        mounts_teardown(m, &o);
    mobj_delete(m, id);
    size_t i;
    json_t *dep;
    json_array_foreach (o.deps, i, dep)
        if (depth < MAX_DEPTH)
            (void)mounts_release_locked(m, json_integer_value(dep), depth + 1, NULL);
    mobj_dispose(&o);
    return 0;
}

/* A nested spec: a reference by id (a reference is added) or a new object (created with one
 * reference, the parent's). The id goes to deps either way. */
int mounts_resolve(imgd_mounts *m, const char *type, const json_t *spec, json_t *deps,
                   int64_t *out_id, int depth, imgd_error **err)
{
    if (!json_is_object(spec))
        return imgd_error_set(err, EBADMSG, "a nested %s must be an object", type);
    json_t *idv = json_object_get(spec, "id");
    if (idv && !json_is_integer(idv))
        return imgd_error_set(err, EBADMSG, "'id' of a nested %s must be an integer", type);
    int64_t id = json_integer_value(idv);
    int r =
        id > 0
            ? mounts_ref_add(m, id, type, err)
            : mounts_create_locked(m, !strcmp(type, "attach") ? IMGD_MOBJ_ATTACH : IMGD_MOBJ_MOUNT,
                                   spec, &id, depth + 1, err);
    if (r < 0)
        return r;
    json_array_append_new(deps, json_integer(id));
    *out_id = id;
    return 0;
}

/* ---- create ---- */

static const char *const attach_kinds[] = {"iscsi", "local", "loopback", "rbd", NULL};
static const char *const mount_kinds[] = {"attach", "bind", "nfs", "overlay", "uri", "image", NULL};

static bool in_list(const char *s, const char *const *list)
{
    for (; s && *list; list++)
        if (!strcmp(s, *list))
            return true;
    return false;
}

int mounts_create_locked(imgd_mounts *m, imgd_mobj_type type, const json_t *spec, int64_t *out_id,
                         int depth, imgd_error **err)
{
    const char *tname = type_names[type];
    if (depth > MAX_DEPTH)
        return imgd_error_set(err, EINVAL, "objects nested deeper than %d", MAX_DEPTH);
    if (!json_is_object(spec))
        return imgd_error_set(err, EBADMSG, "%s must be a JSON object", tname);
    const char *kind = json_string_value(json_object_get(spec, "kind"));
    const char *const *kinds = type == IMGD_MOBJ_ATTACH ? attach_kinds : mount_kinds;
    if (!kind)
        return imgd_error_set(err, EBADMSG, "%s: 'kind' is required", tname);
    if (!in_list(kind, kinds))
        return imgd_error_set(err, EBADMSG, "%s: kind '%s' is not one of the %s kinds", tname, kind,
                              tname);
    const json_t *sub = json_object_get(spec, kind);
    if (!json_is_object(sub))
        return imgd_error_set(err, EINVAL, "%s of kind '%s' needs a '%s' object", tname, kind,
                              kind);
    json_auto_t *deps = json_array();
    json_auto_t *body = NULL;
    int r = type == IMGD_MOBJ_ATTACH ? mounts_attach_prepare(m, kind, sub, deps, &body, depth, err)
                                     : mounts_mount_prepare(m, kind, sub, deps, &body, depth, err);
    int64_t id = 0;
    if (r == 0)
        r = mobj_insert(m, tname, kind, &id, err);
    mobj o = {.id = id, .body = body, .deps = deps, .refs = 1};
    snprintf(o.type, sizeof o.type, "%s", tname);
    snprintf(o.kind, sizeof o.kind, "%s", kind);
    if (r == 0)
        r = mobj_save(m, &o, err); /* pending, with its deps: a crash now is undone at start */
    if (r == 0)
        r = mounts_setup(m, &o, err);
    if (r == 0) {
        o.ready = true;
        r = mobj_save(m, &o, err);
        if (r < 0)
            mounts_teardown(m, &o);
    }
    if (r < 0) {
        if (id > 0)
            mobj_delete(m, id);
        size_t i;
        json_t *dep;
        json_array_foreach (deps, i, dep)
            (void)mounts_release_locked(m, json_integer_value(dep), depth + 1, NULL);
        return r;
    }
    *out_id = id;
    return 0;
}

int imgd_mounts_create(imgd_mounts *m, imgd_mobj_type type, const json_t *spec, json_t **out,
                       imgd_error **err)
{
    if (json_is_object(spec) && json_integer_value(json_object_get(spec, "id")) != 0)
        return imgd_error_set(err, EINVAL,
                              "a new %s cannot have an id: give an id only to reference an "
                              "existing object inside another",
                              type_names[type]);
    pthread_mutex_lock(&m->lock);
    int64_t id = 0;
    int r = mounts_create_locked(m, type, spec, &id, 0, err);
    mobj created = {0};
    if (r == 0 && (r = mobj_load(m, id, &created)) == 0) {
        created.held = true; /* the client's reference, which its DELETE drops */
        r = mobj_save(m, &created, err);
    }
    mobj_dispose(&created);
    json_t *o = r == 0 ? mounts_render_depth(m, id, 0) : NULL;
    pthread_mutex_unlock(&m->lock);
    if (r == 0 && !o)
        return imgd_error_set(err, ENOMEM, "out of memory");
    if (r == 0)
        *out = o;
    return r;
}

/* ---- list, delete ---- */

int imgd_mounts_list(imgd_mounts *m, imgd_mobj_type type, int64_t id, const char *kind,
                     json_t **out, imgd_error **err)
{
    pthread_mutex_lock(&m->lock);
    json_t *arr = json_array();
    int64_t *ids = NULL;
    size_t n = 0;
    int r = 0;
    if (id > 0) {
        mobj o = {0};
        if (mobj_load(m, id, &o) < 0 || !o.ready || strcmp(o.type, type_names[type]) != 0)
            r = imgd_error_set(err, ENOENT, "%s %lld not found", type_names[type], (long long)id);
        else
            json_array_append_new(arr, mounts_render_depth(m, id, 0));
        mobj_dispose(&o);
    } else if ((r = mobj_ids(m, type_names[type], &ids, &n)) < 0) {
        r = imgd_error_set(err, ENOMEM, "out of memory");
    }
    for (size_t i = 0; r == 0 && i < n; i++) {
        json_t *o = mounts_render_depth(m, ids[i], 0);
        const char *k = json_string_value(json_object_get(o, "kind"));
        if (o && (!kind || (k && !strcmp(k, kind))))
            json_array_append_new(arr, o);
        else
            json_decref(o);
    }
    free(ids);
    pthread_mutex_unlock(&m->lock);
    if (r < 0) {
        json_decref(arr);
        return r;
    }
    *out = arr;
    return 0;
}

int imgd_mounts_delete(imgd_mounts *m, imgd_mobj_type type, int64_t id, bool force, json_t **out,
                       imgd_error **err)
{
    pthread_mutex_lock(&m->lock);
    mobj o = {0};
    int r = 0;
    if (mobj_load(m, id, &o) < 0 || !o.ready || strcmp(o.type, type_names[type]) != 0)
        r = imgd_error_set(err, ENOENT, "%s %lld not found", type_names[type], (long long)id);
    else if (!o.held)
        r = imgd_error_set(err, EBUSY,
                           "%s %lld was created inside another object, which holds it: delete "
                           "that one",
                           type_names[type], (long long)id);
    else if (o.refs > 1 && !force)
        r = imgd_error_set(err, EBUSY, "%s %lld is in use: %lld other reference%s hold%s it",
                           type_names[type], (long long)id, (long long)(o.refs - 1),
                           o.refs == 2 ? "" : "s", o.refs == 2 ? "s" : "");
    json_t *before = r == 0 ? mounts_render_depth(m, id, 0) : NULL;
    if (r == 0) {
        o.held = false; /* the client's reference goes; the others keep theirs */
        r = mobj_save(m, &o, err);
    }
    if (r == 0)
        r = mounts_release_locked(m, id, 0, err);
    if (before && r == 0)
        json_object_set_new(before, "refs", json_integer(o.refs - 1));
    mobj_dispose(&o);
    pthread_mutex_unlock(&m->lock);
    if (r < 0) {
        json_decref(before);
        return r;
    }
    *out = before;
    return 0;
}

int imgd_mounts_acquire(imgd_mounts *m, const json_t *spec, int64_t *out_id, char **out_mountpoint,
                        json_t **out_resolved, imgd_error **err)
{
    pthread_mutex_lock(&m->lock);
    json_auto_t *deps = json_array();
    int64_t id = 0;
    int r = mounts_resolve(m, "mount", spec, deps, &id, 0, err);
    json_t *o = r == 0 ? mounts_render_depth(m, id, 0) : NULL;
    const char *mp = json_string_value(json_object_get(o, "mountpoint"));
    char *copy = mp ? strdup(mp) : NULL;
    if (r == 0 && !copy) {
        (void)mounts_release_locked(m, id, 0, NULL);
        r = imgd_error_set(err, ENOMEM, "out of memory");
    }
    pthread_mutex_unlock(&m->lock);
    if (r < 0) {
        json_decref(o);
        return r;
    }
    *out_id = id;
    *out_mountpoint = copy;
    if (out_resolved)
        *out_resolved = o;
    else
        json_decref(o);
    return 0;
}

int imgd_mounts_release(imgd_mounts *m, int64_t id, imgd_error **err)
{
    pthread_mutex_lock(&m->lock);
    int r = mounts_release_locked(m, id, 0, err);
    pthread_mutex_unlock(&m->lock);
    return r;
}

int imgd_mounts_reserve_id(imgd_mounts *m, const char *type, int64_t *out, imgd_error **err)
{
    pthread_mutex_lock(&m->lock);
    int64_t id = 0;
    int r = mobj_insert(m, type, type, &id, err);
    pthread_mutex_unlock(&m->lock);
    if (r == 0)
        *out = id;
    return r;
}

void imgd_mounts_forget_id(imgd_mounts *m, int64_t id)
{
    pthread_mutex_lock(&m->lock);
    mobj o = {0};
    /* only a reserved id: never an attachment's or a mount's record */
    if (mobj_load(m, id, &o) == 0 && strcmp(o.type, "attach") != 0 && strcmp(o.type, "mount") != 0)
        mobj_delete(m, id);
    mobj_dispose(&o);
    pthread_mutex_unlock(&m->lock);
}

/* ---- open, re-adopt ---- */

/* Records left pending by a crash during a create: undo what may have been done and release
 * what they referenced. Ready records: bring the kernel state back (re-attach, re-mount). */
static void readopt(imgd_mounts *m)
{
    int64_t *ids = NULL;
    size_t n = 0;
    if (mobj_ids(m, "", &ids, &n) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        mobj o = {0};
        if (mobj_load(m, ids[i], &o) < 0)
            continue;
        if (strcmp(o.type, "attach") != 0 && strcmp(o.type, "mount") != 0) {
            mobj_dispose(&o);
            continue;
        }
        if (!o.ready) {
            mounts_teardown(m, &o);
            o.refs = 1;
            (void)mobj_save(m, &o, NULL);
            (void)mounts_release_locked(m, o.id, 0, NULL);
        } else {
            (void)mounts_readopt_one(m, &o);
        }
        mobj_dispose(&o);
    }
    free(ids);
}

int imgd_mounts_new(imgd_mounts **out, const imgd_config *cfg, imgd_db *db, imgd_store *store,
                    imgd_error **err)
{
    imgd_mounts *m = calloc(1, sizeof *m);
    if (!m)
        return imgd_error_set(err, ENOMEM, "out of memory");
    m->cfg = cfg;
    m->db = db;
    m->store = store;
    pthread_mutex_init(&m->lock, NULL);
    if (cfg->mount_dir && *cfg->mount_dir)
        snprintf(m->mount_dir, sizeof m->mount_dir, "%s", cfg->mount_dir);
    else
        snprintf(m->mount_dir, sizeof m->mount_dir, "%s/mounts", cfg->run_dir);
    int r = imgd_mkdir_p(m->mount_dir, 0700, err);
    if (r < 0) {
        imgd_mounts_free(m);
        return r;
    }
    pthread_mutex_lock(&m->lock);
    readopt(m);
    pthread_mutex_unlock(&m->lock);
    *out = m;
    return 0;
}

void imgd_mounts_free(imgd_mounts *m)
{
    if (!m)
        return;
    /* Loop descriptors are closed, not detached: a mounted device stays (and goes with its
     * unmount, autoclear); an unmounted one goes now and is attached again at the next start. */
    for (size_t i = 0; i < m->n_loops; i++)
        close(m->loops[i].fd);
    free(m->loops);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* ---- v0.1 ids ---- */

static int legacy_lookup(sqlite3 *db, const char *sql, const char *type, int64_t key, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int r = -ENOENT;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, key);
        if (sqlite3_step(st) == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            r = 0;
        }
    }
    sqlite3_finalize(st);
    return r;
}

static int legacy_assign(sqlite3 *db, const char *type, int64_t core_id, int64_t *out)
{
    int64_t next = 0;
    (void)legacy_lookup(db, "SELECT next FROM imageapi_legacy_next WHERE type = ?1 AND ?2 = 0",
                        type, 0, &next);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "INSERT INTO imageapi_legacy_ids (type, legacy, core) "
                                "VALUES (?1, ?2, ?3)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, next);
        sqlite3_bind_int64(st, 3, core_id);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "INSERT INTO imageapi_legacy_next (type, next) VALUES (?1, ?2) "
                                "ON CONFLICT (type) DO UPDATE SET next = excluded.next",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, next + 1);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    sqlite3_exec(db, rc == SQLITE_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return -EIO;
    *out = next;
    return 0;
}

int imgd_mounts_legacy_id(imgd_mounts *m, const char *type, int64_t core_id, int64_t *out,
                          imgd_error **err)
{
    pthread_mutex_lock(&m->lock);
    sqlite3 *db = imgd_db_acquire(m->db);
    int r =
        legacy_lookup(db, "SELECT legacy FROM imageapi_legacy_ids WHERE type = ?1 AND core = ?2",
                      type, core_id, out);
    if (r == -ENOENT)
        r = legacy_assign(db, type, core_id, out);
    imgd_db_release(m->db);
    pthread_mutex_unlock(&m->lock);
    return r < 0 ? imgd_error_set(err, EIO, "number %s %lld for the v0.1 API", type,
                                  (long long)core_id)
                 : 0;
}

int imgd_mounts_core_id(imgd_mounts *m, const char *type, int64_t legacy, int64_t *out,
                        imgd_error **err)
{
    pthread_mutex_lock(&m->lock);
    sqlite3 *db = imgd_db_acquire(m->db);
    int r =
        legacy_lookup(db, "SELECT core FROM imageapi_legacy_ids WHERE type = ?1 AND legacy = ?2",
                      type, legacy, out);
    imgd_db_release(m->db);
    pthread_mutex_unlock(&m->lock);
    return r < 0 ? imgd_error_set(err, ENOENT, "%s %lld not found", type, (long long)legacy) : 0;
}
