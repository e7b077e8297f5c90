/* SPDX-License-Identifier: MIT */
#include "ignore.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/strutil.h"

#define IGNORE_FILE_MAX (8u * 1024u * 1024u)
#define MAX_FIELDS      256
#define ID_MAX          71

struct imgd_ignore_list {
    char **ids; /* lower-case hex, without "sha256:" */
    size_t n;
};

/* One CSV record from *p (quotes, doubled quotes, CR LF). Fields are written NUL-terminated into
 * buf; returns the number of fields, 0 at the end of the text. */
static size_t csv_record(const char **p, const char *end, char *buf, size_t cap, char **fields,
                         size_t max_fields)
{
    if (*p >= end)
        return 0;
    size_t n = 0, used = 0;
    const char *s = *p;
    bool quoted = false;
    fields[n++] = buf;
    for (; s < end; s++) {
        char c = *s;
        if (quoted) {
            if (c == '"' && s + 1 < end && s[1] == '"')
                s++;
            else if (c == '"') {
                quoted = false;
                continue;
            }
        } else if (c == '"') {
            quoted = true;
            continue;
        } else if (c == ',') {
            if (used < cap)
                buf[used++] = '\0';
            if (n < max_fields)
                fields[n++] = buf + used;
            continue;
        } else if (c == '\n' || c == '\r') {
            if (c == '\r' && s + 1 < end && s[1] == '\n')
                s++;
            s++;
            break;
        }
        if (used + 1 < cap)
            buf[used++] = c;
    }
    buf[used < cap ? used : cap - 1] = '\0';
    *p = s;
    return n;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Normalise an ID as listed: "sha256:" dropped, lower case; NULL when it is not hex. */
static char *normalise_id(const char *raw)
{
    if (strncasecmp(raw, "sha256:", 7) == 0)
        raw += 7;
    size_t n = strlen(raw);
    if (n == 0 || n > 64)
        return NULL;
    char *id = strdup(raw);
    for (char *c = id; id && *c; c++) {
        if (!isxdigit((unsigned char)*c)) {
            free(id);
            return NULL;
        }
        *c = (char)tolower((unsigned char)*c);
    }
    return id;
}

static int warn(char ***warnings, const char *fmt, unsigned line, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof(msg), fmt, line, what);
    imgd_str_strip_controls(msg, strlen(msg));
    return warnings ? imgd_strv_push(warnings, msg) : 0;
}

int imgd_ignore_parse(imgd_ignore_list **out, const char *text, size_t len, char ***warnings,
                      imgd_error **err)
{
    const char *p = text, *end = text + len;
    if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
        p += 3; /* a BOM, as spreadsheet programs write */
    _cleanup_free_ char *buf = calloc(1, len + 1);
    char *fields[MAX_FIELDS];
    if (!buf)
        return imgd_error_set(err, ENOMEM, "out of memory");
    size_t nf = csv_record(&p, end, buf, len + 1, fields, MAX_FIELDS);
    long column = -1;
    for (size_t i = 0; i < nf; i++) {
        if (strcasecmp(trim(fields[i]), "IMAGE ID") == 0)
            column = (long)i;
    }
    if (nf == 0 || column < 0)
        return imgd_error_set(err, EINVAL, "ignore list: the header row has no 'IMAGE ID' column");
    imgd_ignore_list *l = calloc(1, sizeof(*l));
    if (!l)
        return imgd_error_set(err, ENOMEM, "out of memory");
    unsigned line = 1;
    while ((nf = csv_record(&p, end, buf, len + 1, fields, MAX_FIELDS)) > 0) {
        line++;
        if (nf == 1 && !*trim(fields[0]))
            continue; /* a blank line */
        char *id = (long)nf > column ? normalise_id(trim(fields[column])) : NULL;
        if (!id) {
            warn(warnings, "ignore list line %u: no valid IMAGE ID%s", line, "");
            continue;
        }
        if (imgd_strv_push(&l->ids, id) < 0) {
            free(id);
            imgd_ignore_free(l);
            return imgd_error_set(err, ENOMEM, "out of memory");
        }
        free(id);
        l->n++;
    }
    *out = l;
    return 0;
}

bool imgd_ignore_match(const imgd_ignore_list *l, const char *image_id)
{
    if (!l || !image_id)
        return false;
    const char *hex = strncmp(image_id, "sha256:", 7) == 0 ? image_id + 7 : image_id;
    for (size_t i = 0; i < l->n; i++) {
        size_t n = strlen(l->ids[i]);
        /* the 13-character ID crictl prints, or any prefix of the full ID */
        if (strncmp(hex, l->ids[i], n) == 0)
            return true;
    }
    return false;
}

size_t imgd_ignore_count(const imgd_ignore_list *l)
{
    return l ? l->n : 0;
}

void imgd_ignore_free(imgd_ignore_list *l)
{
    if (!l)
        return;
    imgd_strv_free(l->ids);
    free(l);
}

/* ---- the file ---- */

struct imgd_ignore_file {
    char *path;
    pthread_mutex_t lock;
    imgd_ignore_list *list;
    bool seen;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    unsigned long version;
};

imgd_ignore_file *imgd_ignore_file_new(const char *path)
{
    imgd_ignore_file *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->path = path && *path ? strdup(path) : NULL;
    pthread_mutex_init(&f->lock, NULL);
    return f;
}

void imgd_ignore_file_free(imgd_ignore_file *f)
{
    if (!f)
        return;
    imgd_ignore_free(f->list);
    pthread_mutex_destroy(&f->lock);
    free(f->path);
    free(f);
}

static void reload_locked(imgd_ignore_file *f)
{
    imgd_ignore_free(f->list);
    f->list = NULL;
    f->version++;
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    imgd_error *err = NULL;
    char **warnings = NULL;
    if (imgd_read_file(&text, &len, f->path, IGNORE_FILE_MAX, &err) == 0 &&
        imgd_ignore_parse(&f->list, text, len, &warnings, &err) == 0)
        log_info("ignore list '%s': %zu image(s)", f->path, imgd_ignore_count(f->list));
    for (char **w = warnings; w && *w; w++)
        log_warning("%s", *w);
    imgd_strv_free(warnings);
    if (err)
        log_warning("ignore list: %s; nothing is ignored", err->message);
    imgd_error_free(err);
}

/* Re-read the file when it changed; called with the lock held. */
static void refresh_locked(imgd_ignore_file *f)
{
    struct stat st;
    if (stat(f->path, &st) < 0) {
        if (f->seen || f->version == 0) {
            log_warning("ignore list '%s' is missing; nothing is ignored", f->path);
            imgd_ignore_free(f->list);
            f->list = NULL;
            f->version++;
        }
        f->seen = false;
        return;
    }
    if (f->seen && st.st_dev == f->dev && st.st_ino == f->ino && st.st_size == f->size &&
        st.st_mtim.tv_sec == f->mtime.tv_sec && st.st_mtim.tv_nsec == f->mtime.tv_nsec)
        return;
    f->seen = true;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->size = st.st_size;
    f->mtime = st.st_mtim;
    reload_locked(f);
}

bool imgd_ignore_file_match(imgd_ignore_file *f, const char *image_id)
{
    if (!f || !f->path)
        return false;
    pthread_mutex_lock(&f->lock);
    bool m = imgd_ignore_match(f->list, image_id);
    pthread_mutex_unlock(&f->lock);
    return m;
}

unsigned long imgd_ignore_file_version(imgd_ignore_file *f)
{
    if (!f || !f->path)
        return 0;
    pthread_mutex_lock(&f->lock);
    refresh_locked(f);
    unsigned long v = f->version;
    pthread_mutex_unlock(&f->lock);
    return v;
}
