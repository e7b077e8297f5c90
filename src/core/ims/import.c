/* SPDX-License-Identifier: MIT */
#include "import.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/timeutil.h"

#define FILE_MAX (256u * 1024u * 1024u)

/* A field of a record: its name, and the value a record without it gets (JSON text), or NULL
 * when it is required. */
typedef struct field {
    const char *name;
    const char *def;
} field;

static const field key_fields[] = {{"name", NULL}, {"public_key", NULL}};
static const field recipe_fields[] = {
    {"name", NULL},         {"recipe_type", NULL},         {"linux_distribution", NULL},
    {"link", "null"},       {"template_dictionary", "[]"}, {"require_dkms", "true"},
    {"arch", "\"x86_64\""},
};
static const field image_fields[] = {
    {"name", NULL}, {"link", "null"}, {"arch", "\"x86_64\""}, {"metadata", "{}"}};
static const field job_fields[] = {
    {"job_type", NULL},
    {"artifact_id", NULL},
    {"public_key_id", "null"},
    {"image_root_archive_name", NULL},
    {"enable_debug", "false"},
    {"build_env_size", NULL}, /* from the config */
    {"job_mem_size", NULL},   /* from the config */
    {"kernel_file_name", "\"vmlinuz\""},
    {"initrd_file_name", "\"initrd\""},
    {"kernel_parameters_file_name", "\"kernel-parameters\""},
    {"ssh_containers", "null"},
    {"status", "\"creating\""},
    {"resultant_image_id", "null"},
    {"arch", "\"x86_64\""},
    {"require_dkms", "true"},
    {"kubernetes_job", "null"},
    {"kubernetes_service", "null"},
    {"kubernetes_configmap", "null"},
    {"kubernetes_namespace", "\"default\""},
    {"kubernetes_pvc", "null"},
    {"kubernetes_secret", "null"},
    {"remote_build_node", "\"\""},
};

typedef struct collection {
    imgd_ims_kind kind;
    bool deleted;
    const char *const files[6]; /* newest first */
} collection;

static const collection collections[] = {
    {IMGD_IMS_PUBLIC_KEY, false, {"v2_public_keys.json"}},
    {IMGD_IMS_PUBLIC_KEY, true, {"v3_deleted_public_keys.json"}},
    {IMGD_IMS_RECIPE, false, {"v2.2_recipes.json", "v2.1_recipes.json", "v2_recipes.json"}},
    {IMGD_IMS_RECIPE,
     true,
     {"v3.2_deleted_recipes.json", "v3.1_deleted_recipes.json", "v3_deleted_recipes.json"}},
    {IMGD_IMS_IMAGE, false, {"v2.1_images.json", "v2_images.json"}},
    {IMGD_IMS_IMAGE, true, {"v3.1_deleted_images.json", "v3_deleted_images.json"}},
    {IMGD_IMS_JOB,
     false,
     {"v2.4_jobs.json", "v2.3_jobs.json", "v2.2_jobs.json", "v2.1_jobs.json", "v2_jobs.json"}},
    {IMGD_IMS_NODE, false, {"v2.0_remote_build_nodes.json", "v3_remote_build_nodes.json"}},
};

typedef struct item {
    imgd_ims_kind kind;
    bool deleted;
    char *id;
    uint64_t created_usec;
    char *text;
    char *link;
} item;

static void items_free(item *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].id);
        free(v[i].text);
        free(v[i].link);
    }
    free(v);
}

/* A naive local "2026-11-22T10:25:48.687134" (or with ' ', or a trailing zone, ignored) in usec;
 * 0 when it is not one. */
static uint64_t parse_stamp(const char *s)
{
    struct tm tm = {0};
    const char *p = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!p && s)
        p = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
    if (!p)
        return 0;
    uint64_t frac = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; isdigit((unsigned char)*p); p++) {
            if (digits < 6) {
                frac = frac * 10 + (uint64_t)(*p - '0');
                digits++;
            }
        }
        while (digits++ < 6)
            frac *= 10;
    }
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    return t < 0 ? 0 : (uint64_t)t * 1000000u + frac;
}

static bool uuid_like(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

static int normalise(const imgd_config *cfg, const collection *c, const char *file, size_t index,
                     const json_t *in, item *out, imgd_error **err)
{
    if (!json_is_object(in))
        return imgd_error_set(err, EBADMSG, "%s: record %zu is not an object", file, index);
    const field *fields = NULL;
    size_t n = 0;
    switch (c->kind) {
    case IMGD_IMS_PUBLIC_KEY:
        fields = key_fields, n = IMGD_ARRAY_SIZE(key_fields);
        break;
    case IMGD_IMS_RECIPE:
        fields = recipe_fields, n = IMGD_ARRAY_SIZE(recipe_fields);
        break;
    case IMGD_IMS_IMAGE:
        fields = image_fields, n = IMGD_ARRAY_SIZE(image_fields);
        break;
    case IMGD_IMS_JOB:
        fields = job_fields, n = IMGD_ARRAY_SIZE(job_fields);
        break;
    default:
        break;
    }
    json_t *rec = json_object();
    const char *id;
    char created_now[40];
    uint64_t created_usec = 0;
    if (c->kind == IMGD_IMS_NODE) {
        id = json_string_value(json_object_get(in, "xname"));
        if (!id || !*id) {
            json_decref(rec);
            return imgd_error_set(err, EBADMSG, "%s: record %zu has no xname", file, index);
        }
        json_object_set_new(rec, "xname", json_string(id));
        created_usec = imgd_now_realtime_usec();
    } else {
        id = json_string_value(json_object_get(in, "id"));
        if (!uuid_like(id)) {
            json_decref(rec);
            return imgd_error_set(err, EBADMSG, "%s: record %zu has no valid id", file, index);
        }
        const char *created = json_string_value(json_object_get(in, "created"));
        created_usec = parse_stamp(created);
        if (!created_usec) {
            created_usec = imgd_now_realtime_usec();
            imgd_time_format_python_iso(created_now, sizeof created_now, created_usec);
            created = created_now;
        }
        json_object_set_new(rec, "id", json_string(id));
        json_object_set_new(rec, "created", json_string(created));
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_object_get(in, fields[i].name);
        bool required = !fields[i].def && strcmp(fields[i].name, "build_env_size") != 0 &&
                        strcmp(fields[i].name, "job_mem_size") != 0;
        if (v && json_is_null(v) && required) {
            json_decref(rec);
            return imgd_error_set(err, EBADMSG, "%s: record %s has a null '%s'", file, id,
                                  fields[i].name);
        }
        if (v) {
            json_object_set(rec, fields[i].name, v);
            continue;
        }
        if (!strcmp(fields[i].name, "build_env_size")) {
            json_object_set_new(rec, fields[i].name, json_integer(cfg->ims_image_size));
        } else if (!strcmp(fields[i].name, "job_mem_size")) {
            json_object_set_new(rec, fields[i].name, json_integer(cfg->ims_job_mem_size));
        } else if (fields[i].def) {
            json_object_set_new(rec, fields[i].name,
                                json_loads(fields[i].def, JSON_DECODE_ANY, NULL));
        } else {
            json_decref(rec);
            return imgd_error_set(err, EBADMSG, "%s: record %s has no '%s'", file, id,
                                  fields[i].name);
        }
    }
    json_t *link = json_object_get(rec, "link");
    if (json_is_object(link) && !json_object_get(link, "etag"))
        json_object_set_new(link, "etag", json_string(""));
    if (c->deleted) {
        json_t *d = json_object_get(in, "deleted");
        json_object_set(rec, "deleted", json_is_string(d) ? d : json_object_get(rec, "created"));
    }
    const char *path = json_string_value(json_object_get(link, "path"));
    *out = (item){.kind = c->kind,
                  .deleted = c->deleted,
                  .id = strdup(id),
                  .created_usec = created_usec,
                  .text = imgd_ims_encode(rec),
                  .link = path && !c->deleted ? strdup(path) : NULL};
    json_decref(rec);
    if (!out->id || !out->text || (path && !c->deleted && !out->link))
        return imgd_error_set(err, ENOMEM, "out of memory");
    return 0;
}

/* Read one collection's file (the newest present) into items. */
static int read_collection(const imgd_config *cfg, int dirfd, const char *dir, const collection *c,
                           item **v, size_t *n, size_t *cap, imgd_ims_import_report *rep,
                           imgd_error **err)
{
    const char *file = NULL;
    _cleanup_close_ int fd = -1;
    for (size_t i = 0; i < IMGD_ARRAY_SIZE(c->files) && c->files[i] && fd < 0; i++) {
        fd = imgd_open_in_root(dirfd, c->files[i], O_RDONLY, true);
        if (fd >= 0)
            file = c->files[i];
        else if (fd != -ENOENT)
            return imgd_error_errno(err, -fd, "%s/%s", dir, c->files[i]);
    }
    if (fd < 0)
        return 0;
    rep->files++;
    json_error_t jerr;
    json_t *arr = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr);
    if (!arr)
        return imgd_error_set(err, EBADMSG, "%s/%s: not JSON: %s (line %d)", dir, file, jerr.text,
                              jerr.line);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return imgd_error_set(err, EBADMSG, "%s/%s: not a JSON array of records", dir, file);
    }
    size_t i;
    json_t *rec;
    int r = 0;
    json_array_foreach (arr, i, rec) {
        if (imgd_array_reserve(v, cap, *n + 1, sizeof **v, 64) < 0) {
            r = imgd_error_set(err, ENOMEM, "out of memory");
            break;
        }
        memset(&(*v)[*n], 0, sizeof **v);
        r = normalise(cfg, c, file, i, rec, &(*v)[*n], err);
        if (r < 0) {
            free((*v)[*n].id);
            free((*v)[*n].text);
            free((*v)[*n].link);
            imgd_error_prefix(err, "%s", dir);
            break;
        }
        (*n)++;
    }
    json_decref(arr);
    return r;
}

static int store(imgd_db *db, item *v, size_t n, imgd_ims_import_report *rep, imgd_error **err)
{
    sqlite3 *conn = imgd_db_acquire(db);
    sqlite3_stmt *sel = NULL, *ins = NULL;
    int rc = sqlite3_exec(conn, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(conn,
                                "SELECT body, deleted FROM ims_records WHERE kind = ?1 AND id = ?2",
                                -1, &sel, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(conn,
                                "INSERT INTO ims_records (kind, id, deleted, created, link, body) "
                                "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                                -1, &ins, NULL);
    int r = rc == SQLITE_OK
                ? 0
                : imgd_error_set(err, imgd_db_errno(rc), "import: %s", sqlite3_errmsg(conn));
    for (size_t i = 0; r == 0 && i < n; i++) {
        sqlite3_reset(sel);
        sqlite3_bind_int(sel, 1, (int)v[i].kind);
        sqlite3_bind_text(sel, 2, v[i].id, -1, SQLITE_STATIC);
        rc = sqlite3_step(sel);
        if (rc == SQLITE_ROW) {
            const char *have = (const char *)sqlite3_column_text(sel, 0);
            if (have && !strcmp(have, v[i].text) &&
                (sqlite3_column_int(sel, 1) != 0) == v[i].deleted) {
                rep->present++;
                continue;
            }
            r = imgd_error_set(err, EEXIST, "%s %s is already in imgd, with other content",
                               imgd_ims_kind_name(v[i].kind), v[i].id);
            break;
        }
        sqlite3_reset(ins);
        sqlite3_bind_int(ins, 1, (int)v[i].kind);
        sqlite3_bind_text(ins, 2, v[i].id, -1, SQLITE_STATIC);
        sqlite3_bind_int(ins, 3, v[i].deleted);
        sqlite3_bind_int64(ins, 4, (sqlite3_int64)v[i].created_usec);
        sqlite3_bind_text(ins, 5, v[i].link, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 6, v[i].text, -1, SQLITE_STATIC);
        rc = sqlite3_step(ins);
        if (rc == SQLITE_CONSTRAINT || (rc & 0xff) == SQLITE_CONSTRAINT) {
            r = imgd_error_set(err, EEXIST, "%s %s is in the import twice",
                               imgd_ims_kind_name(v[i].kind), v[i].id);
        } else if (rc != SQLITE_DONE) {
            r = imgd_error_set(err, imgd_db_errno(rc), "import: %s", sqlite3_errmsg(conn));
        } else {
            rep->imported[v[i].kind]++;
            rep->deleted[v[i].kind] += v[i].deleted;
        }
    }
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    if (r == 0 && sqlite3_exec(conn, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        r = imgd_error_set(err, EIO, "import: commit: %s", sqlite3_errmsg(conn));
    if (r < 0)
        (void)sqlite3_exec(conn, "ROLLBACK", NULL, NULL, NULL);
    imgd_db_release(db);
    return r;
}

int imgd_ims_import(imgd_db *db, const imgd_config *cfg, const char *dir,
                    imgd_ims_import_report *report, imgd_error **err)
{
    memset(report, 0, sizeof *report);
    _cleanup_close_ int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return imgd_error_errno(err, errno, "IMS data directory '%s'", dir);
    item *v = NULL;
    size_t n = 0, cap = 0;
    int r = 0;
    for (size_t i = 0; r == 0 && i < IMGD_ARRAY_SIZE(collections); i++)
        r = read_collection(cfg, dirfd, dir, &collections[i], &v, &n, &cap, report, err);
    if (r == 0 && report->files == 0)
        r = imgd_error_set(err, ENOENT, "'%s' holds no IMS data file (v2_public_keys.json, ...)",
                           dir);
    if (r == 0)
        r = store(db, v, n, report, err);
    items_free(v, n);
    return r;
}
