/* SPDX-License-Identifier: MIT */
/* Container records and lifecycle: create, start, stop, remove, and the state kept up to date
 * with each container's monitor. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/store/images.h"
#include "core/store/unpack.h"
#include "core/system/system.h"
#include "rootfs.h"
#include "runtime-private.h"
#include "spec.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/child.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "version.h"

#define CONTAINER_COLUMNS                                                                          \
    "id, name, image, image_id, config, state, created, started, finished, exit_code, pid, "       \
    "last_error"

static const char *const state_names[] = {"created", "running", "exited"};

const char *imgd_container_state_name(imgd_container_state s)
{
    return (unsigned)s < IMGD_ARRAY_SIZE(state_names) ? state_names[s] : "unknown";
}

static imgd_container_state state_parse(const char *s)
{
    for (size_t i = 0; i < IMGD_ARRAY_SIZE(state_names); i++)
        if (s && !strcmp(s, state_names[i]))
            return (imgd_container_state)i;
    return IMGD_CONTAINER_EXITED;
}

void imgd_container_dispose(imgd_container *c)
{
    if (!c)
        return;
    free(c->image);
    free(c->image_id);
    free(c->last_error);
    json_decref(c->config);
    memset(c, 0, sizeof *c);
}

int runtime_path(char *out, size_t len, const imgd_runtime *rt, const char *id, const char *name)
{
    int n =
        snprintf(out, len, "%s/%s%s%s", rt->containers_dir, id, name ? "/" : "", name ? name : "");
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int runtime_root_dir(char *out, size_t len, const imgd_runtime *rt, const imgd_container *c)
{
    const char *root = json_string_value(json_object_get(c->config, "rootfs"));
    if (!root)
        return runtime_path(out, len, rt, c->id, "rootfs");
    int n = snprintf(out, len, "%s", root);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int runtime_log_file(char *out, size_t len, const imgd_runtime *rt, const imgd_container *c,
                     const char *suffix)
{
    const char *log = json_string_value(json_object_get(c->config, "log_path"));
    char base[4096];
    if (!log && runtime_path(base, sizeof base, rt, c->id, "ctr.log") < 0)
        return -ENAMETOOLONG;
    int n = snprintf(out, len, "%s%s", log ? log : base, suffix);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

bool runtime_monitor_alive(const imgd_runtime *rt, const char *id)
{
    char path[4096];
    if (runtime_path(path, sizeof path, rt, id, "monitor.lock") < 0)
        return false;
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
        return false;
    return fl.l_type != F_UNLCK;
}

int runtime_op_lock(const imgd_runtime *rt, const char *id)
{
    char path[4096];
    if (runtime_path(path, sizeof path, rt, id, "op.lock") < 0)
        return -ENAMETOOLONG;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    while (fcntl(fd, F_OFD_SETLKW, &fl) < 0) {
        if (errno != EINTR) {
            int e = -errno;
            close(fd);
            return e;
        }
    }
    return fd;
}

int runtime_require(const imgd_runtime *rt, imgd_error **err)
{
    if (!rt->runtime_path[0])
        return imgd_error_set(err, EAGAIN, "OCI runtime '%s' not found or not executable",
                              rt->cfg->runtime);
    if (!rt->monitor_path[0])
        return imgd_error_set(err, EAGAIN, "imgd-monitor not found beside imgd or in %s",
                              IMGD_LIBEXECDIR);
    return 0;
}

/* ---- records ---- */

static int db_fail(imgd_error **err, sqlite3 *db, int rc, const char *what)
{
    return imgd_error_set(err, imgd_db_errno(rc), "%s: %s", what, sqlite3_errmsg(db));
}

static char *column_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

static int row_load(imgd_container *out, sqlite3_stmt *st)
{
    imgd_container c = {0};
    snprintf(c.id, sizeof c.id, "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(c.name, sizeof c.name, "%s", (const char *)sqlite3_column_text(st, 1));
    c.image = column_dup(st, 2);
    c.image_id = column_dup(st, 3);
    c.config = json_loads((const char *)sqlite3_column_text(st, 4), 0, NULL);
    c.state = state_parse((const char *)sqlite3_column_text(st, 5));
    c.created = sqlite3_column_int64(st, 6);
    c.started = sqlite3_column_int64(st, 7);
    c.finished = sqlite3_column_int64(st, 8);
    c.exit_code = sqlite3_column_int(st, 9);
    c.pid = sqlite3_column_int(st, 10);
    c.last_error = column_dup(st, 11);
    if (!c.image || !c.image_id || !c.config) {
        imgd_container_dispose(&c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

/* Exactly one match by name, id, or id prefix. */
static int record_find(imgd_runtime *rt, const char *key, imgd_container *out, imgd_error **err)
{
    sqlite3 *db = imgd_db_acquire(rt->db);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT " CONTAINER_COLUMNS " FROM containers WHERE name = ?1 OR "
                                "id = ?1 UNION ALL SELECT " CONTAINER_COLUMNS
                                " FROM containers WHERE ?2 AND substr(id, 1, length(?1)) = ?1 "
                                "AND NOT EXISTS (SELECT 1 FROM containers WHERE name = ?1 OR "
                                "id = ?1) LIMIT 2",
                                -1, &st, NULL);
    bool hex = *key && strspn(key, "0123456789abcdef") == strlen(key);
    int found = 0, r = 0;
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, hex);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && found < 2)
            if (found++ == 0)
                r = row_load(out, st);
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        r = db_fail(err, db, rc, "find container");
    sqlite3_finalize(st);
    imgd_db_release(rt->db);
    if (r < 0)
        return r == -ENOMEM ? imgd_error_set(err, ENOMEM, "out of memory") : r;
    if (found == 0)
        return imgd_error_set(err, ENOENT, "container '%s' not found", key);
    if (found > 1) {
        imgd_container_dispose(out);
        return imgd_error_set(err, EINVAL, "container id prefix '%s' is ambiguous", key);
    }
    return 0;
}

int runtime_record_update(imgd_runtime *rt, const imgd_container *c, imgd_error **err)
{
    sqlite3 *db = imgd_db_acquire(rt->db);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "UPDATE containers SET state = ?2, started = ?3, finished = ?4, "
                                "exit_code = ?5, pid = ?6, last_error = ?7 WHERE id = ?1",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, imgd_container_state_name(c->state), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, c->started);
        sqlite3_bind_int64(st, 4, c->finished);
        sqlite3_bind_int(st, 5, c->exit_code);
        sqlite3_bind_int(st, 6, c->pid);
        sqlite3_bind_text(st, 7, c->last_error, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    int r = rc == SQLITE_DONE ? 0 : db_fail(err, db, rc, "update container");
    sqlite3_finalize(st);
    imgd_db_release(rt->db);
    return r;
}

int runtime_record_insert(imgd_runtime *rt, const imgd_container *c, imgd_error **err)
{
    _cleanup_free_ char *config = json_dumps(c->config, JSON_COMPACT);
    if (!config)
        return imgd_error_set(err, ENOMEM, "out of memory");
    sqlite3 *db = imgd_db_acquire(rt->db);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO containers (id, name, image, image_id, config, "
                                "state, created) VALUES (?1, ?2, ?3, ?4, ?5, 'created', ?6)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, c->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, c->image, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, c->image_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, config, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, c->created);
        rc = sqlite3_step(st);
    }
    int r = 0;
    if (rc == SQLITE_CONSTRAINT)
        r = imgd_error_set(err, EEXIST, "container name '%s' is already in use", c->name);
    else if (rc != SQLITE_DONE)
        r = db_fail(err, db, rc, "record container");
    sqlite3_finalize(st);
    imgd_db_release(rt->db);
    return r;
}

int runtime_record_delete(imgd_runtime *rt, const char *id, imgd_error **err)
{
    sqlite3 *db = imgd_db_acquire(rt->db);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "DELETE FROM containers WHERE id = ?1", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    int r = rc == SQLITE_DONE ? 0 : db_fail(err, db, rc, "delete container");
    sqlite3_finalize(st);
    imgd_db_release(rt->db);
    return r;
}

/* ---- state from the monitor ---- */

static int read_exit(const imgd_runtime *rt, const char *id, int *code, int64_t *finished)
{
    char path[4096];
    _cleanup_free_ char *text = NULL;
    if (runtime_path(path, sizeof path, rt, id, "exit.json") < 0 ||
        imgd_read_file(&text, NULL, path, 4096, NULL) < 0)
        return -ENOENT;
    json_auto_t *j = json_loads(text, 0, NULL);
    if (!json_is_integer(json_object_get(j, "exit_code")))
        return -EBADMSG;
    *code = (int)json_integer_value(json_object_get(j, "exit_code"));
    *finished = json_integer_value(json_object_get(j, "finished"));
    return 0;
}

int runtime_read_pid(const imgd_runtime *rt, const char *id, const char *name)
{
    char path[4096];
    _cleanup_free_ char *text = NULL;
    int64_t pid = 0;
    if (runtime_path(path, sizeof path, rt, id, name) < 0 ||
        imgd_read_file(&text, NULL, path, 64, NULL) < 0)
        return -ENOENT;
    text[strcspn(text, "\n")] = '\0';
    return imgd_parse_int64(&pid, text) == 0 && pid > 1 && pid <= INT_MAX ? (int)pid : -EBADMSG;
}

/* Bring c up to date: a "running" container whose monitor is gone has exited (while imgd was
 * down, perhaps); a container whose monitor runs although the record does not say so was being
 * started when imgd stopped. Writes the record when it changed. */
void runtime_refresh(imgd_runtime *rt, imgd_container *c)
{
    bool alive = runtime_monitor_alive(rt, c->id);
    bool running = c->state == IMGD_CONTAINER_RUNNING;
    char marker[4096];
    c->stopping = alive && runtime_path(marker, sizeof marker, rt, c->id, "stopping") == 0 &&
                  access(marker, F_OK) == 0;
    if (alive == running)
        return;
    if (alive) {
        int pid = runtime_read_pid(rt, c->id, "pid");
        c->state = IMGD_CONTAINER_RUNNING;
        c->pid = pid > 0 ? pid : 0;
        if (!c->started)
            c->started = (int64_t)imgd_now_realtime_usec();
    } else {
        int code = -1;
        int64_t finished = 0;
        runtime_children_reap(rt);
        c->state = IMGD_CONTAINER_EXITED;
        c->pid = 0;
        if (read_exit(rt, c->id, &code, &finished) == 0) {
            c->exit_code = code;
            c->finished = finished;
        } else {
            c->exit_code = -1;
            c->finished = (int64_t)imgd_now_realtime_usec();
            free(c->last_error);
            c->last_error = strdup("the container's monitor ended without recording an exit");
        }
    }
    (void)runtime_record_update(rt, c, NULL);
}

int runtime_record_by_name(imgd_runtime *rt, const char *name, imgd_container *out)
{
    sqlite3 *db = imgd_db_acquire(rt->db);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT " CONTAINER_COLUMNS " FROM containers WHERE name = ?1",
                                -1, &st, NULL);
    int r = -ENOENT;
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            r = row_load(out, st);
    }
    sqlite3_finalize(st);
    imgd_db_release(rt->db);
    return r;
}

int runtime_lookup(imgd_runtime *rt, const char *name_or_id, imgd_container *out, imgd_error **err)
{
    int r = record_find(rt, name_or_id, out, err);
    if (r == 0)
        runtime_refresh(rt, out);
    return r;
}

int imgd_runtime_get(imgd_runtime *rt, const char *name_or_id, imgd_container *out,
                     imgd_error **err)
{
    return runtime_lookup(rt, name_or_id, out, err);
}

int imgd_runtime_list(imgd_runtime *rt, imgd_container **out, size_t *n, imgd_error **err)
{
    imgd_container *v = NULL;
    size_t count = 0, cap = 0;
    sqlite3 *db = imgd_db_acquire(rt->db);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        db, "SELECT " CONTAINER_COLUMNS " FROM containers ORDER BY created, id", -1, &st, NULL);
    int r = 0;
    while (rc == SQLITE_OK && r == 0) {
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
            break;
        rc = SQLITE_OK;
        r = imgd_array_reserve(&v, &cap, count + 1, sizeof *v, 16);
        if (r == 0)
            r = row_load(&v[count], st);
        if (r == 0)
            count++;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = db_fail(err, db, rc, "list containers");
    else if (r < 0)
        r = imgd_error_set(err, ENOMEM, "out of memory");
    sqlite3_finalize(st);
    imgd_db_release(rt->db);
    for (size_t i = 0; i < count; i++) {
        if (r == 0)
            runtime_refresh(rt, &v[i]);
        else
            imgd_container_dispose(&v[i]);
    }
    if (r < 0) {
        free(v);
        return r;
    }
    *out = v;
    *n = count;
    return 0;
}
