/* SPDX-License-Identifier: MIT */
/* The IMS commands of imgctl. The records are IMS's (/v3/public-keys, /v3/recipes, /v3/images,
 * /v3/jobs, /v3/deleted/images); the files behind recipes and images go into imgd's artifact
 * store (/artifacts/BUCKET/KEY), laid out as IMS's own tools lay them out: a recipe is
 * s3://ims/recipes/<id>/recipe.tar.gz, an image is s3://boot-images/<id>/manifest.json naming
 * its rootfs, kernel, initrd and boot parameters beside it, each with its md5.
 *
 * A create makes the record first, since the keys hold its id, then uploads and links. A record
 * without its files is a half-made thing other tools would trip over, so when a later step fails
 * (or the user interrupts) the record is removed with a v2 (hard, cascading) delete. Files are
 * streamed from disk with their md5 computed on the way and checked against the md5 imgd
 * computed; a directory is packed first (tar, mksquashfs) in a private temporary directory. */
#include "ims.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "images.h"
#include "table.h"
#include "util/buf.h"
#include "util/child.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/strutil.h"

#define IMS_V3          "/v3"
#define IMS_V2          "/v2" /* hard deletes: what a failed create made goes for good */
#define ARTIFACTS       "/artifacts"
#define RECIPE_BUCKET   "ims"
#define IMAGE_BUCKET    "boot-images"
#define KEY_FILE_MAX    (64u * 1024u)
#define PACK_TIMEOUT_MS (6 * 3600 * 1000) /* tar or mksquashfs of one tree */
#define PACK_OUTPUT_MAX 4096u             /* bytes of a packer's messages kept */
#define MESSAGE_MAX     300               /* bytes of a packer's or IMS's message shown */
#define MD5_HEX_LEN     32
#define TAB_PADDING     3u
#define TIME_SHOWN      19 /* "YYYY-MM-DD HH:MM:SS" of a record's timestamp */
#define SQUASHFS_MAGIC  "hsqs"
#define GZIP_MAGIC      "\x1f\x8b"

/* The signal that interrupted a create, or 0. */
static volatile sig_atomic_t ims_interrupted;

/* The options of all IMS commands; each command accepts a part of them. Strings are borrowed
 * from argv. */
typedef struct ims_opts {
    const char *key, *key_file, *from, *type, *distro, *arch, *bucket;
    const char *rootfs, *kernel, *initrd, *boot_params;
    const char *status, *job_type, *age;
    bool deleted, all;
} ims_opts;

typedef struct ims_ctx ims_ctx;

typedef struct ims_command {
    const char *resource, *verb;
    const char *synopsis; /* the options and arguments, for usage lines */
    const struct option *longs;
    int min_args, max_args;
    int (*run)(ims_ctx *x); /* returns the exit status */
} ims_command;

struct ims_ctx {
    const imgd_cli_container_args *a;
    const ims_command *cmd;
    char name[64]; /* "ims images create", for messages */
    ims_opts o;
    char **args; /* the arguments after the options, never "" */
    int n_args;
    imgd_client *client; /* owned */
    char **uploaded;     /* owned: the artifact paths a create stored, removed when it fails */
};

static void ims_ctx_dispose(ims_ctx *x)
{
    imgd_client_free(x->client);
    imgd_strv_free(x->uploaded);
    x->client = NULL;
    x->uploaded = NULL;
}

/* ---- requests ---- */

/* imgd_client_response_error(), with two IMS habits read too: a 400 of DELETE /v3/jobs says why
 * in "title" alone (no "detail"), and a 422 names the fields that were wrong in "errors" only
 * ("Input data was understood, but failed validation..." does not say which). */
static int ims_response_error(imgd_error **err, const imgd_client_response *resp,
                              const char *method, const char *path)
{
    json_auto_t *body = NULL;
    bool fresh = err && !*err; /* an error already there is kept, as imgd_error_set() keeps it */
    int r = imgd_client_response_error(err, resp, method, path);
    if (!fresh || !*err ||
        imgd_json_parse(&body, resp->body, resp->len, IMGD_CLIENT_JSON_MAX_DEPTH, NULL) < 0)
        return r;
    const char *title = imgd_json_get_string(body, "title");
    const json_t *fields = json_object_get(body, "errors");
    _cleanup_free_ char *text =
        json_object_size(fields) > 0 ? json_dumps(fields, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char *more = NULL;
    int n = -1;
    if (title && !json_object_get(body, "detail") &&
        json_is_integer(json_object_get(body, "status")))
        n = asprintf(&more, "%s %s: %ld %.*s", method, path, resp->status, MESSAGE_MAX, title);
    else if (text)
        n = asprintf(&more, "%s (errors: %.*s%s)", (*err)->message, MESSAGE_MAX, text,
                     strlen(text) > MESSAGE_MAX ? "..." : "");
    if (n >= 0) {
        imgd_str_strip_controls(more, strlen(more));
        free((*err)->message);
        (*err)->message = more;
    }
    return r;
}

/* One request. A 2xx answer with a body is decoded into *out (a new reference; out may be
 * NULL), a 204 leaves *out NULL. path NULL: out of memory. */
static int ims_call(json_t **out, const ims_ctx *x, const char *method, const char *path,
                    const json_t *body, imgd_error **err)
{
    _cleanup_(imgd_client_response_dispose) imgd_client_response resp = {0};
    if (!path)
        return imgd_error_set(err, ENOMEM, "out of memory");
    int r = imgd_client_request(&resp, x->client, method, path, body, err);
    if (r < 0)
        return r;
    if (resp.status < 200 || resp.status >= 300)
        return ims_response_error(err, &resp, method, path);
    if (!out || resp.status == 204)
        return 0;
    return imgd_client_response_json(out, &resp, method, path, err);
}

/* prefix "/" id, the id percent-encoded, then suffix. Owned; NULL when out of memory. */
static char *ims_path(const char *prefix, const char *id, const char *suffix)
{
    char *enc = curl_easy_escape(NULL, id, 0); /* a NULL handle is fine since curl 7.82 */
    char *path = NULL;
    if (enc && asprintf(&path, "%s/%s%s", prefix, enc, suffix) < 0)
        path = NULL;
    curl_free(enc);
    return path;
}

/* ARTIFACTS/BUCKET/KEY, each segment percent-encoded. Owned; NULL when out of memory. */
static char *ims_artifact_path(const char *bucket, const char *key)
{
    imgd_buf b = {0};
    char *enc = curl_easy_escape(NULL, bucket, 0);
    imgd_buf_printf(&b, "%s/%s", ARTIFACTS, enc ? enc : "");
    b.failed |= !enc;
    curl_free(enc);
    for (const char *p = key; !b.failed;) {
        size_t n = strcspn(p, "/");
        enc = curl_easy_escape(NULL, p, (int)n);
        imgd_buf_printf(&b, "/%s", enc ? enc : "");
        b.failed |= !enc;
        curl_free(enc);
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    return imgd_buf_steal(&b, NULL);
}

/* ---- output ---- */

/* A string member, "-" when absent, null or empty. Borrowed. */
static const char *ims_str(const json_t *obj, const char *key)
{
    const char *s = imgd_json_get_string(obj, key);
    return s && *s ? s : "-";
}

/* IMS's "2026-11-22T10:25:48.687134" as "2026-11-22 10:25:48" (other text as it came). */
static const char *ims_time(char buf[TIME_SHOWN + 1], const json_t *obj, const char *key)
{
    const char *s = ims_str(obj, key);
    if (strlen(s) < TIME_SHOWN || s[10] != 'T')
        return s;
    memcpy(buf, s, TIME_SHOWN);
    buf[10] = ' ';
    buf[TIME_SHOWN] = '\0';
    return buf;
}

/* A table of the records at path (a list, or one record), or imgd's answer with -o json.
 * heads is taken over; row makes the cells of one record. */
static int ims_show(const ims_ctx *x, const char *path, json_t *heads,
                    json_t *(*row)(const json_t *))
{
    _cleanup_error_ imgd_error *err = NULL;
    json_auto_t *rows = json_array();
    json_auto_t *v = NULL;
    if (!rows || json_array_append_new(rows, heads) < 0)
        return imgd_cli_fail(NULL);
    if (ims_call(&v, x, "GET", path, NULL, &err) < 0)
        return imgd_cli_fail(err);
    if (!json_is_array(v) && !json_is_object(v)) {
        imgd_error_set(&err, EBADMSG, "GET %s: the answer is neither a list nor a record", path);
        return imgd_cli_fail(err);
    }
    if (x->a->json)
        return imgd_cli_print_json(v);
    json_auto_t *list = json_is_array(v) ? json_incref(v) : json_pack("[O]", v);
    size_t i;
    const json_t *rec;
    json_array_foreach (list, i, rec) {
        if (!json_is_object(rec) || json_array_append_new(rows, row(rec)) < 0)
            return imgd_cli_fail(NULL);
    }
    _cleanup_(imgd_cli_table_dispose)
        imgd_cli_table t = {.n_cols = json_array_size(heads), .pad = TAB_PADDING};
    json_array_foreach (rows, i, rec)
        imgd_cli_table_add_json(&t, rec);
    if (t.failed)
        return imgd_cli_fail(NULL);
    imgd_cli_table_print(&t);
    return EXIT_SUCCESS;
}

/* An action on one record answered 204: the id, or {"id": ID} with -o json. owned_path is
 * taken over (NULL: out of memory). */
static int ims_act(const ims_ctx *x, const char *method, char *owned_path, const json_t *body)
{
    _cleanup_error_ imgd_error *err = NULL;
    _cleanup_free_ char *path = owned_path;
    if (ims_call(NULL, x, method, path, body, &err) < 0)
        return imgd_cli_fail(err);
    if (x->a->json) {
        json_auto_t *v = json_pack("{s:s}", "id", x->args[0]);
        return v ? imgd_cli_print_json(v) : imgd_cli_usage_error("the ID must be UTF-8 text");
    }
    imgd_cli_put_clean(x->args[0], 0);
    putchar('\n');
    return EXIT_SUCCESS;
}

/* What a create made: its id, or the record with -o json. */
static int ims_print_made(const ims_ctx *x, const json_t *rec)
{
    if (x->a->json)
        return imgd_cli_print_json(rec);
    imgd_cli_put_clean(ims_str(rec, "id"), 0);
    putchar('\n');
    return EXIT_SUCCESS;
}

/* ---- local files ---- */

typedef enum ims_kind {
    IMS_MISSING,
    IMS_FILE,
    IMS_DIR,
    IMS_OTHER,
} ims_kind;

static ims_kind ims_kind_of(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return IMS_MISSING;
    return S_ISREG(st.st_mode) ? IMS_FILE : S_ISDIR(st.st_mode) ? IMS_DIR : IMS_OTHER;
}

/* Whether the file at path starts with magic (n bytes). */
static bool ims_has_magic(const char *path, const char *magic, size_t n)
{
    char head[8] = {0};
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    return fd >= 0 && n <= sizeof(head) && read(fd, head, n) == (ssize_t)n &&
           memcmp(head, magic, n) == 0;
}

/* A file option's value: a regular file. Returns -1 to go on, or the exit status. */
static int ims_need_file(const ims_ctx *x, const char *option, const char *path)
{
    ims_kind k = ims_kind_of(path);
    if (k == IMS_FILE)
        return -1;
    return imgd_cli_usage_error("%s: %s '%s' %s", x->name, option, path,
                                k == IMS_MISSING ? "does not exist" : "is not a regular file");
}

/* The private temporary directory of a create and the one file packed into it. */
typedef struct ims_tmp {
    char *dir, *file;
} ims_tmp;

static void ims_tmp_dispose(ims_tmp *t)
{
    if (t->file)
        unlink(t->file);
    if (t->dir)
        rmdir(t->dir);
    free(t->file);
    free(t->dir);
    *t = (ims_tmp){0};
}

/* A new directory (mode 0700) in $TMPDIR, else /tmp, and the path of name in it. */
static int ims_tmp_make(ims_tmp *t, const char *name, imgd_error **err)
{
    const char *base = getenv("TMPDIR");
    if (!base || base[0] != '/')
        base = "/tmp";
    if (asprintf(&t->dir, "%s/imgctl-ims.XXXXXX", base) < 0) {
        t->dir = NULL; /* undefined after a failed asprintf */
        return imgd_error_set(err, ENOMEM, "out of memory");
    }
    if (!mkdtemp(t->dir)) {
        int r = imgd_error_errno(err, errno, "cannot make a temporary directory in %s", base);
        free(TAKE_PTR(t->dir));
        return r;
    }
    if (asprintf(&t->file, "%s/%s", t->dir, name) < 0) {
        t->file = NULL;
        imgd_error_set(err, ENOMEM, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

/* Run argv (argv[0] a program name found in PATH) to its end, its stdin on /dev/null. A failure
 * names the program and quotes the first line it wrote. */
static int ims_run(const char **argv, imgd_error **err)
{
    char prog[4096];
    if (imgd_find_executable(prog, sizeof prog, argv[0]) < 0)
        return imgd_error_set(err, ENOENT, "'%s' is not installed (not found in PATH)", argv[0]);
    const char *name = argv[0];
    argv[0] = prog;
    int r;
    imgd_run_opts o = {.argv = argv,
                       .timeout_ms = PACK_TIMEOUT_MS,
                       .max_output = PACK_OUTPUT_MAX,
                       .merge_stderr = true};
    _cleanup_(imgd_run_result_dispose) imgd_run_result res = {0};
    r = imgd_run(&res, &o, err);
    argv[0] = name;
    if (r < 0)
        return r;
    if (ims_interrupted)
        return imgd_error_set(err, EINTR, "interrupted");
    if (res.timed_out)
        return imgd_error_set(err, ETIMEDOUT, "%s did not finish within %d hours", name,
                              PACK_TIMEOUT_MS / 3600000);
    if (res.status == 0)
        return 0;
    char how[64];
    char *text = res.output + strspn(res.output, " \t\r\n");
    int len = (int)strcspn(text, "\n");
    imgd_str_strip_controls(text, (size_t)len);
    return imgd_error_set(err, EIO, "%s %s%s%.*s", name,
                          imgd_wait_status_describe(how, sizeof(how), res.status), len ? ": " : "",
                          len < MESSAGE_MAX ? len : MESSAGE_MAX, text);
}

/* ---- uploads ---- */

static void ims_md5_freep(EVP_MD_CTX **md)
{
    EVP_MD_CTX_free(*md);
}

/* The body of one upload: a file or bytes in memory, hashed as curl takes it. */
typedef struct ims_source {
    const char *name; /* the local path, or what the bytes are, for messages */
    int fd;           /* -1: the bytes at data */
    const char *data;
    uint64_t size, done;
    EVP_MD_CTX *md5; /* borrowed */
} ims_source;

static ssize_t ims_source_read(void *ctx, char *buf, size_t size, imgd_error **err)
{
    ims_source *s = ctx;
    size_t want = s->size - s->done < size ? (size_t)(s->size - s->done) : size;
    ssize_t n = (ssize_t)want;
    if (ims_interrupted)
        return imgd_error_set(err, EINTR, "interrupted");
    if (want > 0 && s->fd < 0)
        memcpy(buf, s->data + s->done, want);
    else if (want > 0)
        while ((n = read(s->fd, buf, want)) < 0 && errno == EINTR && !ims_interrupted)
            ;
    if (n < 0 && ims_interrupted)
        return imgd_error_set(err, EINTR, "interrupted");
    if (n < 0)
        return imgd_error_errno(err, errno, "read '%s'", s->name);
    if (n == 0 && want > 0)
        return imgd_error_set(err, EIO, "'%s' became shorter while it was uploaded", s->name);
    EVP_DigestUpdate(s->md5, buf, (size_t)n);
    s->done += (uint64_t)n;
    return n;
}

/* What one upload stored: its link (path, etag, type s3) and the md5 of its bytes. */
typedef struct ims_stored {
    json_t *link; /* owned */
    char md5[MD5_HEX_LEN + 1];
} ims_stored;

static void ims_stored_dispose(ims_stored *s)
{
    json_decref(s->link);
    s->link = NULL;
}

/* Check imgd's answer to the upload of src against what was sent, and make the link. */
static int ims_stored_check(ims_stored *out, const json_t *v, const ims_source *src,
                            const char *bucket, const char *key, const char *path, imgd_error **err)
{
    const char *md5 = imgd_json_get_string(v, "md5");
    const char *etag = imgd_json_get_string(v, "etag");
    const json_t *size = json_object_get(v, "size");
    if (!etag || !*etag || !md5 || !*md5)
        return imgd_error_set(err, EBADMSG, "PUT %s: the answer holds no etag or md5", path);
    if (strcasecmp(md5, out->md5) != 0)
        return imgd_error_set(err, EIO, "PUT %s: imgd stored md5 %.40s, '%s' has md5 %s", path, md5,
                              src->name, out->md5);
    if (json_is_integer(size) && (uint64_t)json_integer_value(size) != src->size)
        return imgd_error_set(err, EIO, "PUT %s: imgd stored %lld bytes of %llu", path,
                              (long long)json_integer_value(size), (unsigned long long)src->size);
    out->link = json_pack("{s:s+++, s:s, s:s}", "path", "s3://", bucket, "/", key, "etag", etag,
                          "type", "s3");
    return out->link ? 0 : imgd_error_set(err, ENOMEM, "out of memory");
}

/* PUT src to BUCKET/KEY of the artifact store. */
static int ims_upload(ims_stored *out, ims_ctx *x, const char *bucket, const char *key,
                      const char *content_type, ims_source *src, imgd_error **err)
{
    _cleanup_(imgd_client_response_dispose) imgd_client_response resp = {0};
    _cleanup_(ims_md5_freep) EVP_MD_CTX *md5 = EVP_MD_CTX_new();
    _cleanup_free_ char *path = ims_artifact_path(bucket, key);
    json_auto_t *v = NULL;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (!md5 || !path || EVP_DigestInit_ex(md5, EVP_md5(), NULL) != 1)
        return imgd_error_set(err, ENOMEM, "out of memory");
    src->md5 = md5;
    int r = imgd_client_upload(&resp, x->client, "PUT", path, content_type, src->size,
                               ims_source_read, src, err);
    if (r < 0) {
        imgd_error_prefix(err, "PUT %s", path);
        return r;
    }
    if (resp.status < 200 || resp.status >= 300)
        return ims_response_error(err, &resp, "PUT", path);
    if (imgd_strv_push(&x->uploaded, path) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    if (imgd_client_response_json(&v, &resp, "PUT", path, err) < 0)
        return -EBADMSG;
    if (src->done != src->size || EVP_DigestFinal_ex(md5, digest, &n) != 1 || n != 16)
        return imgd_error_set(err, EIO, "PUT %s: answered before all of '%s' was sent", path,
                              src->name);
    for (unsigned i = 0; i < n; i++)
        snprintf(out->md5 + 2 * i, 3, "%02x", digest[i]);
    return ims_stored_check(out, v, src, bucket, key, path, err);
}

/* Upload the regular file at file. */
static int ims_upload_file(ims_stored *out, ims_ctx *x, const char *bucket, const char *key,
                           const char *content_type, const char *file, imgd_error **err)
{
    _cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return imgd_error_errno(err, errno, "cannot read '%s'", file);
    if (!S_ISREG(st.st_mode))
        return imgd_error_set(err, EINVAL, "'%s' is not a regular file", file);
    ims_source src = {.name = file, .fd = fd, .size = (uint64_t)st.st_size};
    return ims_upload(out, x, bucket, key, content_type, &src, err);
}

/* ---- creating: the record, then its files ---- */

/* End a create that failed after its record was made: remove the files it uploaded (the record
 * may not link them yet, so a cascading delete would not find them) and the record, with a v2
 * (hard, cascading) delete, and say what happened in one line. err is the first failure. */
static int ims_create_failed(const ims_ctx *x, const char *collection, const char *id,
                             const imgd_error *err)
{
    _cleanup_free_ char *prefix = NULL;
    _cleanup_free_ char *rm = NULL;
    _cleanup_error_ imgd_error *rm_err = NULL;
    _cleanup_error_ imgd_error *out = NULL;
    if (asprintf(&prefix, IMS_V2 "/%s", collection) < 0)
        prefix = NULL; /* undefined after a failed asprintf */
    else
        rm = ims_path(prefix, id, "?cascade=true");
    /* a second signal ends imgctl at once: the deletes do not wait for it */
    bool failed = false;
    for (char **p = x->uploaded; p && *p; p++)
        failed |= ims_call(NULL, x, "DELETE", *p, NULL, &rm_err) < 0;
    failed |= ims_call(NULL, x, "DELETE", rm, NULL, &rm_err) < 0;
    const char *what = err ? err->message : "out of memory";
    if (!failed)
        imgd_error_set(&out, EIO, "%s '%s': %s; the new record %s was removed", x->name, x->args[0],
                       what, id);
    else
        imgd_error_set(&out, EIO, "%s '%s': %s; removing the new record %s failed too: %s", x->name,
                       x->args[0], what, id, rm_err ? rm_err->message : "out of memory");
    if (out)
        imgd_str_strip_controls(out->message, strlen(out->message));
    return imgd_cli_fail(out);
}

/* POST the record, returning it and its id (borrowed from it). */
static int ims_create_record(json_t **out, const char **out_id, const ims_ctx *x,
                             const char *collection, const json_t *body, imgd_error **err)
{
    _cleanup_free_ char *path = NULL;
    json_auto_t *rec = NULL;
    if (asprintf(&path, IMS_V3 "/%s", collection) < 0) {
        path = NULL;
        return imgd_error_set(err, ENOMEM, "out of memory");
    }
    int r = ims_call(&rec, x, "POST", path, body, err);
    if (r < 0)
        return r;
    const char *id = imgd_json_get_string(rec, "id");
    if (!id || !*id)
        return imgd_error_set(err, EBADMSG, "POST %s: the answer holds no id", path);
    *out_id = id;
    *out = TAKE_PTR(rec);
    return 0;
}

/* PATCH the record's link; the patched record into *out. */
static int ims_link_record(json_t **out, const ims_ctx *x, const char *collection, const char *id,
                           const json_t *link, imgd_error **err)
{
    _cleanup_free_ char *prefix = NULL;
    json_auto_t *body = json_pack("{s:O}", "link", link);
    if (asprintf(&prefix, IMS_V3 "/%s", collection) < 0) {
        prefix = NULL;
        return imgd_error_set(err, ENOMEM, "out of memory");
    }
    _cleanup_free_ char *path = ims_path(prefix, id, "");
    if (!body)
        return imgd_error_set(err, ENOMEM, "out of memory");
    return ims_call(out, x, "PATCH", path, body, err);
}

/* Pack what a create was given: a directory is packed (argv, its output the temporary file),
 * a file is used as it is. *out is the file to upload, borrowed from t or the arguments. */
static int ims_pack(const char **out, ims_tmp *t, const char *given, const char *tmp_name,
                    const char **argv, int out_arg, imgd_error **err)
{
    if (ims_kind_of(given) != IMS_DIR) {
        *out = given;
        return 0;
    }
    int r = ims_tmp_make(t, tmp_name, err);
    if (r < 0)
        return r;
    argv[out_arg] = t->file;
    r = ims_run(argv, err);
    if (r < 0) {
        imgd_error_prefix(err, "pack '%s'", given);
        return r;
    }
    *out = t->file;
    return 0;
}

static void ims_on_signal(int sig)
{
    ims_interrupted = sig;
}

/* A create catches the signals that end a terminal session, so that it can remove what it made;
 * a second one ends imgctl at once. */
static void ims_catch_signals(void)
{
    struct sigaction sa = {.sa_handler = ims_on_signal, .sa_flags = SA_RESETHAND};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

static int ims_check_interrupted(imgd_error **err)
{
    return ims_interrupted ? imgd_error_set(err, EINTR, "interrupted") : 0;
}

/* ---- public-keys ---- */

/* A public key from --key or --key-file, trimmed; owned in *out. Returns -1 to go on, or the
 * exit status. */
static int pk_read_key(char **out, const ims_ctx *x)
{
    const ims_opts *o = &x->o;
    _cleanup_error_ imgd_error *err = NULL;
    _cleanup_free_ char *text = NULL;
    if (!o->key == !o->key_file)
        return imgd_cli_usage_error("%s: give --key-file FILE or --key KEY (one of them)", x->name);
    if (o->key_file && imgd_read_file(&text, NULL, o->key_file, KEY_FILE_MAX, &err) < 0)
        return imgd_cli_usage_error("%s: --key-file: %s", x->name,
                                    err ? err->message : "out of memory");
    if (!o->key_file && !(text = strdup(o->key)))
        return imgd_cli_fail(NULL);
    char *start = text + strspn(text, " \t\r\n");
    size_t n = strlen(start);
    while (n > 0 && strchr(" \t\r\n", start[n - 1]))
        n--;
    start[n] = '\0';
    if (n == 0)
        return imgd_cli_usage_error("%s: the public key is empty", x->name);
    /* a private key would be handed to the server and shown by every list */
    if (imgd_str_has_prefix(start, "-----BEGIN") || strstr(start, "PRIVATE KEY"))
        return imgd_cli_usage_error("%s: that is a private key; give the public one (.pub)",
                                    x->name);
    if (!(*out = strdup(start)))
        return imgd_cli_fail(NULL);
    return -1;
}

static int cmd_pk_create(ims_ctx *x)
{
    _cleanup_error_ imgd_error *err = NULL;
    _cleanup_free_ char *key = NULL;
    json_auto_t *rec = NULL;
    int r = pk_read_key(&key, x);
    if (r >= 0)
        return r;
    json_auto_t *body = json_pack("{s:s, s:s}", "name", x->args[0], "public_key", key);
    if (!body)
        return imgd_cli_usage_error("%s: NAME and the key must be UTF-8 text", x->name);
    if (ims_call(&rec, x, "POST", IMS_V3 "/public-keys", body, &err) < 0)
        return imgd_cli_fail(err);
    return ims_print_made(x, rec);
}

/* ID NAME CREATED KEY; the key as its type and comment, which tell keys apart. */
static json_t *pk_row(const json_t *k)
{
    char created[TIME_SHOWN + 1];
    const char *key = ims_str(k, "public_key");
    size_t type_len = strcspn(key, " ");
    const char *comment = strrchr(key, ' ');
    _cleanup_free_ char *shown = NULL;
    if (comment && comment != strchr(key, ' ') &&
        asprintf(&shown, "%.*s ...%s", (int)type_len, key, comment) < 0)
        shown = NULL;
    return json_pack("[s, s, s, s]", ims_str(k, "id"), ims_str(k, "name"),
                     ims_time(created, k, "created"), shown ? shown : key);
}

static int cmd_pk_list(ims_ctx *x)
{
    return ims_show(x, IMS_V3 "/public-keys",
                    json_pack("[s, s, s, s]", "ID", "NAME", "CREATED", "KEY"), pk_row);
}

static int cmd_pk_delete(ims_ctx *x)
{
    return ims_act(x, "DELETE", ims_path(IMS_V3 "/public-keys", x->args[0], ""), NULL);
}

/* ---- recipes ---- */

/* Upload the recipe's archive and link the record to it. */
static int recipe_fill(json_t **out, ims_ctx *x, const char *id, const char *archive,
                       imgd_error **err)
{
    _cleanup_(ims_stored_dispose) ims_stored st = {0};
    _cleanup_free_ char *key = NULL;
    const char *bucket = x->o.bucket ? x->o.bucket : RECIPE_BUCKET;
    if (asprintf(&key, "recipes/%s/recipe.tar.gz", id) < 0) {
        key = NULL;
        return imgd_error_set(err, ENOMEM, "out of memory");
    }
    int r = ims_upload_file(&st, x, bucket, key, "application/gzip", archive, err);
    if (r == 0)
        r = ims_check_interrupted(err);
    if (r == 0)
        r = ims_link_record(out, x, "recipes", id, st.link, err);
    return r;
}

static int cmd_recipe_create(ims_ctx *x)
{
    const ims_opts *o = &x->o;
    _cleanup_(ims_tmp_dispose) ims_tmp tmp = {0};
    _cleanup_error_ imgd_error *err = NULL;
    json_auto_t *rec = NULL;
    json_auto_t *done = NULL;
    const char *archive = NULL, *id = NULL;
    if (!o->from)
        return imgd_cli_usage_error("%s: --from DIR|FILE.tgz is required", x->name);
    ims_kind k = ims_kind_of(o->from);
    if (k != IMS_DIR && k != IMS_FILE)
        return imgd_cli_usage_error("%s: --from '%s' %s", x->name, o->from,
                                    k == IMS_MISSING ? "does not exist"
                                                     : "is neither a directory nor a file");
    if (k == IMS_FILE && !ims_has_magic(o->from, GZIP_MAGIC, 2))
        return imgd_cli_usage_error("%s: --from '%s' is not a gzipped tar file", x->name, o->from);
    json_auto_t *body = json_pack("{s:s, s:s, s:s, s:s*}", "name", x->args[0], "recipe_type",
                                  o->type ? o->type : "kiwi-ng", "linux_distribution",
                                  o->distro ? o->distro : "sles15", "arch", o->arch);
    if (!body)
        return imgd_cli_usage_error("%s: NAME and the options must be UTF-8 text", x->name);
    ims_catch_signals();
    const char *tar[] = {"tar", "-C", o->from, "-czf", NULL, ".", NULL};
    if (ims_pack(&archive, &tmp, o->from, "recipe.tar.gz", tar, 4, &err) < 0 ||
        ims_check_interrupted(&err) < 0 ||
        ims_create_record(&rec, &id, x, "recipes", body, &err) < 0) {
        imgd_error_prefix(&err, "%s '%s'", x->name, x->args[0]);
        return imgd_cli_fail(err);
    }
    if (recipe_fill(&done, x, id, archive, &err) < 0)
        return ims_create_failed(x, "recipes", id, err);
    return ims_print_made(x, done);
}

/* ID NAME TYPE DISTRO ARCH CREATED LINK */
static json_t *recipe_row(const json_t *r)
{
    char created[TIME_SHOWN + 1];
    return json_pack("[s, s, s, s, s, s, s]", ims_str(r, "id"), ims_str(r, "name"),
                     ims_str(r, "recipe_type"), ims_str(r, "linux_distribution"),
                     ims_str(r, "arch"), ims_time(created, r, "created"),
                     ims_str(json_object_get(r, "link"), "path"));
}

static int cmd_recipe_list(ims_ctx *x)
{
    return ims_show(x, IMS_V3 "/recipes",
                    json_pack("[s, s, s, s, s, s, s]", "ID", "NAME", "TYPE", "DISTRO", "ARCH",
                              "CREATED", "LINK"),
                    recipe_row);
}

/* ---- images ---- */

/* The files of a boot image: the key of each under the image's id, and its manifest type. */
static const struct image_part {
    const char *key, *type, *option;
} image_parts[] = {
    {"rootfs", "application/vnd.cray.image.rootfs.squashfs", "--rootfs"},
    {"kernel", "application/vnd.cray.image.kernel", "--kernel"},
    {"initrd", "application/vnd.cray.image.initrd", "--initrd"},
    {"boot_parameters", "application/vnd.cray.image.parameters.boot", "--boot-parameters"},
};

/* Upload the files (files[i] for image_parts[i], NULL when not given) and list them as the
 * artifacts of a manifest. */
static int image_upload_parts(json_t *artifacts, ims_ctx *x, const char *bucket, const char *id,
                              const char *const *files, imgd_error **err)
{
    for (size_t i = 0; i < IMGD_ARRAY_SIZE(image_parts); i++) {
        _cleanup_(ims_stored_dispose) ims_stored st = {0};
        _cleanup_free_ char *key = NULL;
        if (!files[i])
            continue;
        if (asprintf(&key, "%s/%s", id, image_parts[i].key) < 0) {
            key = NULL;
            return imgd_error_set(err, ENOMEM, "out of memory");
        }
        int r = ims_upload_file(&st, x, bucket, key, image_parts[i].type, files[i], err);
        if (r == 0)
            r = ims_check_interrupted(err);
        if (r < 0)
            return r;
        if (json_array_append_new(artifacts, json_pack("{s:O, s:s, s:s}", "link", st.link, "type",
                                                       image_parts[i].type, "md5", st.md5)) < 0)
            return imgd_error_set(err, ENOMEM, "out of memory");
    }
    return 0;
}

/* Upload the files, then the manifest naming them, and link the record to the manifest. */
static int image_fill(json_t **out, ims_ctx *x, const char *id, const char *const *files,
                      imgd_error **err)
{
    const char *bucket = x->o.bucket ? x->o.bucket : IMAGE_BUCKET;
    _cleanup_(ims_stored_dispose) ims_stored st = {0};
    _cleanup_free_ char *key = NULL;
    _cleanup_free_ char *text = NULL;
    json_auto_t *artifacts = json_array();
    char created[32];
    time_t now = time(NULL);
    struct tm tm;
    size_t len = 0;
    if (!artifacts || !localtime_r(&now, &tm) ||
        strftime(created, sizeof(created), "%Y-%m-%d %H:%M:%S", &tm) == 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    int r = image_upload_parts(artifacts, x, bucket, id, files, err);
    if (r < 0)
        return r;
    json_auto_t *manifest =
        json_pack("{s:s, s:s, s:O}", "version", "1.0", "created", created, "artifacts", artifacts);
    if (!manifest || !(text = imgd_json_encode(manifest, true, &len)) ||
        asprintf(&key, "%s/manifest.json", id) < 0) {
        key = NULL;
        return imgd_error_set(err, ENOMEM, "out of memory");
    }
    ims_source src = {.name = "the manifest", .fd = -1, .data = text, .size = len};
    r = ims_upload(&st, x, bucket, key, "application/json", &src, err);
    if (r == 0)
        r = ims_check_interrupted(err);
    if (r == 0)
        r = ims_link_record(out, x, "images", id, st.link, err);
    return r;
}

/* The files of images create, checked before anything is made: files[i] for image_parts[i].
 * Returns -1 to go on, or the exit status. */
static int image_files(const char **files, const ims_ctx *x)
{
    const ims_opts *o = &x->o;
    files[0] = o->rootfs;
    files[1] = o->kernel;
    files[2] = o->initrd;
    files[3] = o->boot_params;
    if (!o->rootfs)
        return imgd_cli_usage_error("%s: --rootfs DIR|FILE.squashfs is required", x->name);
    ims_kind k = ims_kind_of(o->rootfs);
    if (k != IMS_DIR && k != IMS_FILE)
        return imgd_cli_usage_error("%s: --rootfs '%s' %s", x->name, o->rootfs,
                                    k == IMS_MISSING ? "does not exist"
                                                     : "is neither a directory nor a file");
    if (k == IMS_FILE && !ims_has_magic(o->rootfs, SQUASHFS_MAGIC, 4))
        return imgd_cli_usage_error("%s: --rootfs '%s' is not a squashfs file", x->name, o->rootfs);
    for (size_t i = 1; i < IMGD_ARRAY_SIZE(image_parts); i++) {
        int r = files[i] ? ims_need_file(x, image_parts[i].option, files[i]) : -1;
        if (r >= 0)
            return r;
    }
    return -1;
}

static int cmd_image_create(ims_ctx *x)
{
    _cleanup_(ims_tmp_dispose) ims_tmp tmp = {0};
    _cleanup_error_ imgd_error *err = NULL;
    json_auto_t *rec = NULL;
    json_auto_t *done = NULL;
    const char *files[IMGD_ARRAY_SIZE(image_parts)];
    const char *id = NULL;
    int r = image_files(files, x);
    if (r >= 0)
        return r;
    json_auto_t *body = json_pack("{s:s, s:s*}", "name", x->args[0], "arch", x->o.arch);
    if (!body)
        return imgd_cli_usage_error("%s: NAME and --arch must be UTF-8 text", x->name);
    ims_catch_signals();
    const char *mksquashfs[] = {
        "mksquashfs",          files[0], NULL,     "-noappend", "-comp", "zstd",
        "-Xcompression-level", "3",      "-quiet", NULL};
    if (ims_pack(&files[0], &tmp, x->o.rootfs, "rootfs.squashfs", mksquashfs, 2, &err) < 0 ||
        ims_check_interrupted(&err) < 0 ||
        ims_create_record(&rec, &id, x, "images", body, &err) < 0) {
        imgd_error_prefix(&err, "%s '%s'", x->name, x->args[0]);
        return imgd_cli_fail(err);
    }
    if (image_fill(&done, x, id, files, &err) < 0)
        return ims_create_failed(x, "images", id, err);
    return ims_print_made(x, done);
}

/* ID NAME ARCH CREATED MANIFEST */
static json_t *image_row(const json_t *i)
{
    char created[TIME_SHOWN + 1];
    return json_pack("[s, s, s, s, s]", ims_str(i, "id"), ims_str(i, "name"), ims_str(i, "arch"),
                     ims_time(created, i, "created"), ims_str(json_object_get(i, "link"), "path"));
}

/* ID NAME ARCH CREATED DELETED */
static json_t *image_deleted_row(const json_t *i)
{
    char created[TIME_SHOWN + 1], deleted[TIME_SHOWN + 1];
    return json_pack("[s, s, s, s, s]", ims_str(i, "id"), ims_str(i, "name"), ims_str(i, "arch"),
                     ims_time(created, i, "created"), ims_time(deleted, i, "deleted"));
}

/* list and get, of the live images or (--deleted) of the deleted ones */
static int image_show(ims_ctx *x, const char *id)
{
    bool deleted = x->o.deleted;
    const char *base = deleted ? IMS_V3 "/deleted/images" : IMS_V3 "/images";
    _cleanup_free_ char *path = id ? ims_path(base, id, "") : strdup(base);
    if (!path)
        return imgd_cli_fail(NULL);
    json_t *heads = json_pack("[s, s, s, s, s]", "ID", "NAME", "ARCH", "CREATED",
                              deleted ? "DELETED" : "MANIFEST");
    return ims_show(x, path, heads, deleted ? image_deleted_row : image_row);
}

static int cmd_image_list(ims_ctx *x)
{
    return image_show(x, NULL);
}

static int cmd_image_get(ims_ctx *x)
{
    return image_show(x, x->args[0]);
}

static int cmd_image_delete(ims_ctx *x)
{
    return ims_act(x, "DELETE", ims_path(IMS_V3 "/images", x->args[0], ""), NULL);
}

static int cmd_image_restore(ims_ctx *x)
{
    json_auto_t *body = json_pack("{s:s}", "operation", "undelete");
    if (!body)
        return imgd_cli_fail(NULL);
    return ims_act(x, "PATCH", ims_path(IMS_V3 "/deleted/images", x->args[0], ""), body);
}

static int cmd_image_purge(ims_ctx *x)
{
    return ims_act(x, "DELETE", ims_path(IMS_V3 "/deleted/images", x->args[0], ""), NULL);
}

/* ---- jobs ---- */

/* ID TYPE STATUS ARTIFACT RESULT CREATED */
static json_t *job_row(const json_t *j)
{
    char created[TIME_SHOWN + 1];
    return json_pack("[s, s, s, s, s, s]", ims_str(j, "id"), ims_str(j, "job_type"),
                     ims_str(j, "status"), ims_str(j, "artifact_id"),
                     ims_str(j, "resultant_image_id"), ims_time(created, j, "created"));
}

static int cmd_job_list(ims_ctx *x)
{
    return ims_show(
        x, IMS_V3 "/jobs",
        json_pack("[s, s, s, s, s, s]", "ID", "TYPE", "STATUS", "ARTIFACT", "RESULT", "CREATED"),
        job_row);
}

static int cmd_job_get(ims_ctx *x)
{
    _cleanup_free_ char *path = ims_path(IMS_V3 "/jobs", x->args[0], "");
    if (!path)
        return imgd_cli_fail(NULL);
    return ims_show(
        x, path,
        json_pack("[s, s, s, s, s, s]", "ID", "TYPE", "STATUS", "ARTIFACT", "RESULT", "CREATED"),
        job_row);
}

/* IMS reads an age without a unit ("5") as 0, which deletes every job: only <n>w, <n>d, <n>h
 * and <n>m, combined ("1d6h"), pass. */
static bool job_age_valid(const char *age)
{
    const char *p = age;
    while (*p) {
        size_t digits = strspn(p, "0123456789");
        if (digits == 0 || !p[digits] || !strchr("wdhm", p[digits]))
            return false;
        p += digits + 1;
    }
    return p != age;
}

/* ?status=S&...&job_type=T&age=A of a bulk delete, values percent-encoded. Owned. */
static char *job_filter_query(const ims_opts *o)
{
    imgd_buf b = {0};
    char sep = '?';
    for (const char *p = o->status; p && !b.failed;) {
        size_t n = strcspn(p, ",");
        char *enc = curl_easy_escape(NULL, p, (int)n);
        imgd_buf_printf(&b, "%cstatus=%s", sep, enc ? enc : "");
        b.failed |= !enc;
        curl_free(enc);
        sep = '&';
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    const char *keys[] = {"job_type", "age"}, *values[] = {o->job_type, o->age};
    for (size_t i = 0; i < 2 && !b.failed; i++) {
        char *enc = values[i] ? curl_easy_escape(NULL, values[i], 0) : NULL;
        if (values[i])
            imgd_buf_printf(&b, "%c%s=%s", sep, keys[i], enc ? enc : "");
        b.failed |= values[i] && !enc;
        sep = values[i] ? '&' : sep;
        curl_free(enc);
    }
    return imgd_buf_steal(&b, NULL);
}

/* delete ID, or the jobs that --status, --type and --age pick (--all: every job) */
static int cmd_job_delete(ims_ctx *x)
{
    const ims_opts *o = &x->o;
    bool filtered = o->status || o->job_type || o->age;
    if (x->n_args == 1 && (filtered || o->all))
        return imgd_cli_usage_error("%s: give an ID or filters, not both", x->name);
    if (x->n_args == 1)
        return ims_act(x, "DELETE", ims_path(IMS_V3 "/jobs", x->args[0], ""), NULL);
    if (filtered == o->all)
        return imgd_cli_usage_error("%s: give an ID, --status/--type/--age, or --all", x->name);
    if (o->age && !job_age_valid(o->age))
        return imgd_cli_usage_error("%s: --age '%s' is not an age such as 2w, 3d, 6h, 30m or 1d6h",
                                    x->name, o->age);
    if (o->status && (!*o->status || strstr(o->status, ",,") || o->status[0] == ',' ||
                      imgd_str_has_suffix(o->status, ",")))
        return imgd_cli_usage_error("%s: --status has an empty item", x->name);
    _cleanup_error_ imgd_error *err = NULL;
    _cleanup_free_ char *query = o->all ? strdup("") : job_filter_query(o);
    _cleanup_free_ char *path = NULL;
    if (query && asprintf(&path, IMS_V3 "/jobs%s", query) < 0)
        path = NULL;
    if (ims_call(NULL, x, "DELETE", path, NULL, &err) < 0)
        return imgd_cli_fail(err);
    return EXIT_SUCCESS;
}

/* ---- options and commands ---- */

enum {
    OPT_KEY = 0x100,
    OPT_KEY_FILE,
    OPT_FROM,
    OPT_TYPE,
    OPT_DISTRO,
    OPT_ARCH,
    OPT_BUCKET,
    OPT_ROOTFS,
    OPT_KERNEL,
    OPT_INITRD,
    OPT_BOOT_PARAMS,
    OPT_DELETED,
    OPT_STATUS,
    OPT_ALL,
    OPT_AGE,
    OPT_HELP,
};

#define HELP_OPTION                                                                                \
    {                                                                                              \
        "help", no_argument, NULL, OPT_HELP                                                        \
    }
#define END_OPTION                                                                                 \
    {                                                                                              \
        NULL, 0, NULL, 0                                                                           \
    }

static const struct option plain_longs[] = {HELP_OPTION, END_OPTION};
static const struct option pk_create_longs[] = {
    {"key", required_argument, NULL, OPT_KEY},
    {"key-file", required_argument, NULL, OPT_KEY_FILE},
    HELP_OPTION,
    END_OPTION,
};
static const struct option recipe_create_longs[] = {
    {"from", required_argument, NULL, OPT_FROM},
    {"type", required_argument, NULL, OPT_TYPE},
    {"distro", required_argument, NULL, OPT_DISTRO},
    {"arch", required_argument, NULL, OPT_ARCH},
    {"bucket", required_argument, NULL, OPT_BUCKET},
    HELP_OPTION,
    END_OPTION,
};
static const struct option image_create_longs[] = {
    {"rootfs", required_argument, NULL, OPT_ROOTFS},
    {"kernel", required_argument, NULL, OPT_KERNEL},
    {"initrd", required_argument, NULL, OPT_INITRD},
    {"boot-parameters", required_argument, NULL, OPT_BOOT_PARAMS},
    {"arch", required_argument, NULL, OPT_ARCH},
    {"bucket", required_argument, NULL, OPT_BUCKET},
    HELP_OPTION,
    END_OPTION,
};
static const struct option deleted_longs[] = {
    {"deleted", no_argument, NULL, OPT_DELETED},
    HELP_OPTION,
    END_OPTION,
};
static const struct option job_delete_longs[] = {
    {"status", required_argument, NULL, OPT_STATUS},
    {"type", required_argument, NULL, OPT_TYPE},
    {"age", required_argument, NULL, OPT_AGE},
    {"all", no_argument, NULL, OPT_ALL},
    HELP_OPTION,
    END_OPTION,
};

static const ims_command ims_commands[] = {
    {"public-keys", "create", "NAME (--key-file FILE | --key 'TYPE KEY [COMMENT]')",
     pk_create_longs, 1, 1, cmd_pk_create},
    {"public-keys", "list", "", plain_longs, 0, 0, cmd_pk_list},
    {"public-keys", "delete", "ID", plain_longs, 1, 1, cmd_pk_delete},
    {"recipes", "create",
     "NAME --from DIR|FILE.tgz [--type kiwi-ng|packer] [--distro sles15|sles12|centos7] "
     "[--arch x86_64|aarch64] [--bucket B]",
     recipe_create_longs, 1, 1, cmd_recipe_create},
    {"recipes", "list", "", plain_longs, 0, 0, cmd_recipe_list},
    {"images", "create",
     "NAME --rootfs DIR|FILE.squashfs [--kernel FILE] [--initrd FILE] [--boot-parameters FILE] "
     "[--arch x86_64|aarch64] [--bucket B]",
     image_create_longs, 1, 1, cmd_image_create},
    {"images", "list", "[--deleted]", deleted_longs, 0, 0, cmd_image_list},
    {"images", "get", "[--deleted] ID", deleted_longs, 1, 1, cmd_image_get},
    {"images", "delete", "ID", plain_longs, 1, 1, cmd_image_delete},
    {"images", "restore", "ID", plain_longs, 1, 1, cmd_image_restore},
    {"images", "purge", "ID", plain_longs, 1, 1, cmd_image_purge},
    {"jobs", "list", "", plain_longs, 0, 0, cmd_job_list},
    {"jobs", "get", "ID", plain_longs, 1, 1, cmd_job_get},
    {"jobs", "delete", "ID | --all | [--status S[,S]...] [--type create|customize] [--age AGE]",
     job_delete_longs, 0, 1, cmd_job_delete},
};

bool imgd_cli_ims_command_is(const char *name)
{
    return strcmp(name, "ims") == 0;
}

/* The usage of every IMS command, from the table. */
static void ims_usage(FILE *f)
{
    fputs("Usage: imgctl [OPTION]... ims RESOURCE VERB [OPTION]... [ARG]...\n", f);
    for (size_t i = 0; i < IMGD_ARRAY_SIZE(ims_commands); i++) {
        const ims_command *c = &ims_commands[i];
        fprintf(f, "  ims %s %s%s%s\n", c->resource, c->verb, *c->synopsis ? " " : "", c->synopsis);
    }
    fputs("(see 'imgctl --help')\n", f);
}

/* The verbs of resource, comma-separated, for a usage error. */
static void ims_verbs(char *buf, size_t len, const char *resource)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < IMGD_ARRAY_SIZE(ims_commands) && used < len; i++) {
        if (strcmp(ims_commands[i].resource, resource) == 0)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
                                     ims_commands[i].verb);
    }
}

/* The command of argv[1] (resource) and argv[2] (verb). Returns -1 to go on, or the exit
 * status. */
static int ims_find(const ims_command **out, int argc, char **argv)
{
    static const char resources[] = "public-keys, recipes, images or jobs";
    char verbs[128];
    if (argc < 2)
        return imgd_cli_usage_error("ims: give a resource: %s", resources);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        ims_usage(stdout);
        return EXIT_SUCCESS;
    }
    ims_verbs(verbs, sizeof(verbs), argv[1]);
    if (!verbs[0])
        return imgd_cli_usage_error("ims: unknown resource '%s': use %s", argv[1], resources);
    if (argc < 3)
        return imgd_cli_usage_error("ims %s: give a verb: %s", argv[1], verbs);
    for (size_t i = 0; i < IMGD_ARRAY_SIZE(ims_commands); i++) {
        if (strcmp(ims_commands[i].resource, argv[1]) == 0 &&
            strcmp(ims_commands[i].verb, argv[2]) == 0) {
            *out = &ims_commands[i];
            return -1;
        }
    }
    return imgd_cli_usage_error("ims %s: unknown verb '%s': use %s", argv[1], argv[2], verbs);
}

/* Handle one option of getopt_long. Returns -1 to go on, or the exit status. */
static int ims_option(ims_ctx *x, int opt, char **argv)
{
    ims_opts *o = &x->o;
    const char **str = opt == OPT_KEY           ? &o->key
                       : opt == OPT_KEY_FILE    ? &o->key_file
                       : opt == OPT_FROM        ? &o->from
                       : opt == OPT_DISTRO      ? &o->distro
                       : opt == OPT_ARCH        ? &o->arch
                       : opt == OPT_BUCKET      ? &o->bucket
                       : opt == OPT_ROOTFS      ? &o->rootfs
                       : opt == OPT_KERNEL      ? &o->kernel
                       : opt == OPT_INITRD      ? &o->initrd
                       : opt == OPT_BOOT_PARAMS ? &o->boot_params
                       : opt == OPT_STATUS      ? &o->status
                       : opt == OPT_AGE         ? &o->age
                                                : NULL;
    if (opt == OPT_TYPE) /* a recipe's type, or a job's */
        str = strcmp(x->cmd->resource, "jobs") == 0 ? &o->job_type : &o->type;
    if (str) {
        *str = optarg;
        if (*optarg)
            return -1;
        for (const struct option *l = x->cmd->longs; l->name; l++) {
            if (l->val == opt)
                return imgd_cli_usage_error("%s: option '--%s' is empty", x->name, l->name);
        }
    }
    if (opt == OPT_DELETED || opt == OPT_ALL) {
        *(opt == OPT_DELETED ? &o->deleted : &o->all) = true;
        return -1;
    }
    if (opt == OPT_HELP) {
        printf("Usage: imgctl [OPTION]... %s %s\n(see 'imgctl --help')\n", x->name,
               x->cmd->synopsis);
        return EXIT_SUCCESS;
    }
    return imgd_cli_bad_option(x->name, x->cmd->longs, opt, argv[optind - 1], "'ims'");
}

/* Options, then the number of arguments, of argv[0..argc) (argv[0] is the verb). Returns -1 to
 * go on, or the exit status. */
static int ims_parse(ims_ctx *x, int argc, char **argv)
{
    int opt;
    opterr = 0;
    optind = 0; /* glibc: start over */
    while ((opt = getopt_long(argc, argv, ":", x->cmd->longs, NULL)) != -1) {
        int r = ims_option(x, opt, argv);
        if (r >= 0)
            return r;
    }
    x->args = argv + optind;
    x->n_args = argc - optind;
    if (x->n_args < x->cmd->min_args || x->n_args > x->cmd->max_args)
        return x->cmd->max_args == 0
                   ? imgd_cli_usage_error("%s takes no arguments", x->name)
                   : imgd_cli_usage_error("usage: imgctl %s %s", x->name, x->cmd->synopsis);
    for (int i = 0; i < x->n_args; i++) {
        if (x->args[i][0] == '\0')
            return imgd_cli_usage_error("%s: an argument is empty", x->name);
    }
    return -1;
}

int imgd_cli_ims_main(const imgd_cli_container_args *a)
{
    _cleanup_(ims_ctx_dispose) ims_ctx x = {.a = a};
    _cleanup_error_ imgd_error *err = NULL;
    int r = ims_find(&x.cmd, a->argc, a->argv);
    if (r >= 0)
        return r;
    assert(x.cmd);
    snprintf(x.name, sizeof(x.name), "ims %s %s", x.cmd->resource, x.cmd->verb);
    r = ims_parse(&x, a->argc - 2, a->argv + 2);
    if (r >= 0)
        return r;
    if (imgd_client_new(&x.client, a->client, &err) < 0)
        return imgd_cli_fail(err);
    return x.cmd->run(&x);
}
