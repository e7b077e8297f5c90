/* SPDX-License-Identifier: MIT */
/* The image commands of imgctl: images, pull, import, tag, rmi, inspect, prune. Their output
 * follows docker's and crictl's, so that eyes and scripts used to those read it. Text from the
 * server, and references as typed, are printed with control characters replaced. */
#include "images.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "table.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/humanize.h"
#include "util/json.h"
#include "util/strutil.h"

#define IMAGES_API      "/api/v1/images"
#define NDJSON          "application/x-ndjson"
#define NONE            "<none>"
#define ID_SHORT_LEN    13    /* characters of an image ID in the table, as crictl shows */
#define LAYER_SHORT_LEN 12u   /* hex digits of a layer digest in pull progress, as docker shows */
#define PULL_LAYERS_MAX 1000u /* layers of one pull that get a line of progress */
#define PULL_BAR_WIDTH  30u
#define COLUMN_GAP      3u /* spaces between table columns, as docker's */

/* ---- requests ---- */

/* Characters that stand for themselves in a URL path (RFC 3986 pchar), and '/': the server
 * matches {ref*} across slashes. */
static bool images_path_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch != '\0' && strchr("-._~!$&'()*+,;=:@", ch));
}

/* IMAGES_API "/" ref suffix, with ref percent-encoded where a URL path needs it. A "." or ".."
 * segment is encoded too: a client or proxy would otherwise resolve it into another path.
 * Returns an owned string, or NULL when out of memory. */
static char *images_ref_path(const char *ref, const char *suffix)
{
    imgd_buf b = {0};
    imgd_buf_printf(&b, "%s/", IMAGES_API);
    for (const char *p = ref;;) {
        size_t n = strcspn(p, "/");
        bool dots = n > 0 && n <= 2 && strspn(p, ".") >= n;
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)p[i];
            if (dots || !images_path_char(ch))
                imgd_buf_printf(&b, "%%%02X", ch);
            else
                imgd_buf_append(&b, &p[i], 1);
        }
        if (p[n] == '\0')
            break;
        imgd_buf_append(&b, "/", 1);
        p += n + 1;
    }
    imgd_buf_printf(&b, "%s", suffix);
    return imgd_buf_steal(&b, NULL);
}

/* One request whose answer is a JSON object on success. */
static int images_call(json_t **out, imgd_client *c, const char *method, const char *path,
                       const json_t *body, imgd_error **err)
{
    long status = 0;
    if (!path)
        return imgd_error_set(err, ENOMEM, "out of memory");
    return imgd_client_call(out, &status, c, method, path, body, 0, err);
}

static void images_put_line(const char *label, const char *text)
{
    fputs(label, stdout);
    imgd_cli_put_clean(text, 0);
    putchar('\n');
}

/* ---- images ---- */

/* The number of the n decimal digits at s, or -1 when one is not a digit. */
static int images_digits(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* RFC 3339 ("2024-01-19T15:47:19.123Z", "...+02:00") to seconds since the epoch. */
static int images_parse_time(time_t *out, const char *s)
{
    static const char seps[] = "--T::"; /* after the year, month, day, hour and minute */
    static const size_t at[] = {0, 5, 8, 11, 14, 17}, width[] = {4, 2, 2, 2, 2, 2};
    int f[6];
    for (size_t i = 0; i < 6; i++) {
        /* the digits stop at the NUL, so no field is read past the end */
        f[i] = images_digits(s + at[i], width[i]);
        if (f[i] < 0 || (i < 5 && s[at[i] + width[i]] != seps[i]))
            return -EINVAL;
    }
    const char *p = s + 19;
    if (*p == '.')
        p += 1 + strspn(p + 1, "0123456789");
    long offset = 0;
    if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':' && images_digits(p + 1, 2) >= 0 &&
        images_digits(p + 4, 2) >= 0)
        offset = (*p == '-' ? -1L : 1L) *
                 (images_digits(p + 1, 2) * 3600L + images_digits(p + 4, 2) * 60L);
    else if (strcmp(p, "Z") != 0 && strcmp(p, "z") != 0)
        return -EINVAL;
    struct tm tm = {.tm_year = f[0] - 1900,
                    .tm_mon = f[1] - 1,
                    .tm_mday = f[2],
                    .tm_hour = f[3],
                    .tm_min = f[4],
                    .tm_sec = f[5]};
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -EINVAL;
    *out = t - offset;
    return 0;
}

static void images_created(char *buf, size_t len, const char *created, time_t now)
{
    time_t t = 0;
    char ago[48];
    if (!created || images_parse_time(&t, created) < 0) {
        snprintf(buf, len, "N/A");
        return;
    }
    imgd_humanize_go_duration(ago, sizeof(ago), (int64_t)(now - t));
    snprintf(buf, len, "%s ago", ago);
}

/* Length of the repository of "repo:tag": the tag starts at the last ':' after the last '/',
 * since a registry host may have a port. */
static size_t images_repo_len(const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *colon = strrchr(slash ? slash : name, ':');
    return colon ? (size_t)(colon - name) : strlen(name);
}

/* The digest repo has in the image's repo_digests ("repo@sha256:..."), or NONE. Borrowed. */
static const char *images_digest_of(const json_t *img, const char *repo, size_t repo_len)
{
    size_t i;
    const json_t *d;
    json_array_foreach (json_object_get(img, "repo_digests"), i, d) {
        const char *s = json_string_value(d);
        if (s && strncmp(s, repo, repo_len) == 0 && s[repo_len] == '@')
            return s + repo_len + 1;
    }
    return NONE;
}

typedef struct images_view {
    imgd_cli_table table;
    bool digests, no_trunc;
    time_t now;
} images_view;

static void images_view_dispose(images_view *v)
{
    imgd_cli_table_dispose(&v->table);
}

static void images_add_row(images_view *v, const char *repo, const char *tag, const char *digest,
                           const char *const *rest)
{
    const char *row[IMGD_CLI_TABLE_COLS_MAX] = {repo, tag};
    size_t n = 2;
    if (v->digests)
        row[n++] = digest;
    for (size_t i = 0; i < 3; i++)
        row[n++] = rest[i];
    imgd_cli_table_add(&v->table, row);
}

/* One row per name of the image; an image without names gets one, named by its digest. */
static void images_add_image(images_view *v, const json_t *img)
{
    const char *id = imgd_json_get_string(img, "id");
    char short_id[ID_SHORT_LEN + 1], size[32], created[64];
    id = id ? id : "";
    const char *hex = strchr(id, ':') ? strchr(id, ':') + 1 : id;
    snprintf(short_id, sizeof(short_id), "%s", hex);
    imgd_humanize_crictl(size, sizeof(size),
                         (double)json_integer_value(json_object_get(img, "size")));
    images_created(created, sizeof(created), imgd_json_get_string(img, "created"), v->now);
    const char *rest[3] = {v->no_trunc ? id : short_id, size, created};
    size_t i, rows = 0;
    const json_t *tag;
    json_array_foreach (json_object_get(img, "repo_tags"), i, tag) {
        const char *name = json_string_value(tag);
        if (!name)
            continue;
        size_t repo_len = images_repo_len(name);
        _cleanup_free_ char *repo = strndup(name, repo_len);
        v->table.failed |= !repo;
        if (repo)
            images_add_row(v, repo, name[repo_len] ? name + repo_len + 1 : NONE,
                           images_digest_of(img, repo, repo_len), rest);
        rows++;
    }
    const char *named = json_string_value(json_array_get(json_object_get(img, "repo_digests"), 0));
    if (rows > 0)
        return;
    _cleanup_free_ char *repo = named ? strndup(named, strcspn(named, "@")) : strdup(NONE);
    const char *at = named ? strchr(named, '@') : NULL;
    v->table.failed |= !repo;
    if (repo)
        images_add_row(v, repo, NONE, at ? at + 1 : NONE, rest);
}

/* Each image ID once, one per line. */
static int images_print_ids(const json_t *list)
{
    _cleanup_strv_ char **seen = NULL;
    size_t i;
    const json_t *img;
    json_array_foreach (list, i, img) {
        const char *id = imgd_json_get_string(img, "id");
        bool dup = false;
        for (char **s = seen; id && s && *s && !dup; s++)
            dup = strcmp(*s, id) == 0;
        if (!id || dup)
            continue;
        if (imgd_strv_push(&seen, id) < 0)
            return imgd_cli_fail(NULL);
        images_put_line("", id);
    }
    return EXIT_SUCCESS;
}

static int cmd_images(const imgd_cli_image_args *a)
{
    _cleanup_error_ imgd_error *err = NULL;
    json_auto_t *v = NULL;
    if (images_call(&v, a->client, "GET", IMAGES_API, NULL, &err) < 0)
        return imgd_cli_fail(err);
    if (a->json)
        return imgd_cli_print_json(v);
    const json_t *list = json_object_get(v, "images");
    if (!json_is_array(list)) {
        imgd_error_set(&err, EBADMSG, "GET %s: the answer holds no image list", IMAGES_API);
        return imgd_cli_fail(err);
    }
    if (a->opts & IMGD_CLI_OPT_QUIET)
        return images_print_ids(list);
    _cleanup_(images_view_dispose) images_view view = {
        .digests = a->opts & IMGD_CLI_OPT_DIGESTS,
        .no_trunc = a->opts & IMGD_CLI_OPT_NO_TRUNC,
        .now = time(NULL),
    };
    view.table.n_cols = view.digests ? 6 : 5;
    view.table.pad = COLUMN_GAP;
    static const char *const heads[] = {"IMAGE", "TAG", "DIGEST", "IMAGE ID", "SIZE", "CREATED"};
    images_add_row(&view, heads[0], heads[1], heads[2], heads + 3);
    size_t i;
    const json_t *img;
    json_array_foreach (list, i, img)
        images_add_image(&view, img);
    if (view.table.failed)
        return imgd_cli_fail(NULL);
    imgd_cli_table_print(&view.table);
    return EXIT_SUCCESS;
}

/* ---- inspect, tag, rmi, prune, import ---- */

static int cmd_inspect(const imgd_cli_image_args *a)
{
    _cleanup_error_ imgd_error *err = NULL;
    _cleanup_free_ char *path = images_ref_path(a->args[0], "");
    json_auto_t *v = NULL;
    if (images_call(&v, a->client, "GET", path, NULL, &err) < 0)
        return imgd_cli_fail(err);
    const json_t *image = json_object_get(v, "image");
    return imgd_cli_print_json(image ? image : v);
}

static int cmd_tag(const imgd_cli_image_args *a)
{
    _cleanup_error_ imgd_error *err = NULL;
    _cleanup_free_ char *path = images_ref_path(a->args[0], "/tag");
    json_auto_t *body = json_pack("{s:s}", "tag", a->args[1]);
    json_auto_t *v = NULL;
    if (!body)
        return imgd_cli_usage_error("the target name must be UTF-8 text");
    if (images_call(&v, a->client, "POST", path, body, &err) < 0)
        return imgd_cli_fail(err);
    /* silent like docker tag, unless the answer is asked for */
    return a->json ? imgd_cli_print_json(v) : EXIT_SUCCESS;
}

/* "Untagged: NAME" and "Deleted: ID" lines of a removal, as docker prints them. */
static void images_print_removal(const json_t *v)
{
    size_t i;
    const json_t *s;
    json_array_foreach (json_object_get(v, "untagged"), i, s) {
        if (json_is_string(s))
            images_put_line("Untagged: ", json_string_value(s));
    }
    json_array_foreach (json_object_get(v, "deleted"), i, s) {
        if (json_is_string(s))
            images_put_line("Deleted: ", json_string_value(s));
    }
}

static int rmi_one(json_t *answers, const imgd_cli_image_args *a, const char *ref, imgd_error **err)
{
    bool force = a->opts & IMGD_CLI_OPT_FORCE;
    _cleanup_free_ char *path = images_ref_path(ref, force ? "?force=true" : "");
    json_auto_t *v = NULL;
    int r = images_call(&v, a->client, "DELETE", path, NULL, err);
    if (r < 0)
        return r;
    if (!a->json)
        images_print_removal(v);
    else if (json_array_append(answers, v) < 0)
        return imgd_error_set(err, ENOMEM, "out of memory");
    return 0;
}

/* Each REF in turn; one that fails does not stop the others, as with docker rmi. */
static int cmd_rmi(const imgd_cli_image_args *a)
{
    json_auto_t *answers = json_array();
    int status = EXIT_SUCCESS;
    if (!answers)
        return imgd_cli_fail(NULL);
    for (int i = 0; i < a->n_args; i++) {
        _cleanup_error_ imgd_error *err = NULL;
        int r = rmi_one(answers, a, a->args[i], &err);
        if (r == 0)
            continue;
        fflush(stdout); /* the error line after the lines of the REFs before */
        status = imgd_cli_fail(err);
        if (r != -EIO && r != -EBADMSG)
            break; /* no answer: the next REF would get none either */
    }
    if (a->json && imgd_cli_print_json(answers) != EXIT_SUCCESS)
        return EXIT_FAILURE;
    return status;
}

static int cmd_prune(const imgd_cli_image_args *a)
{
    _cleanup_error_ imgd_error *err = NULL;
    json_auto_t *v = NULL;
    if (images_call(&v, a->client, "POST", IMAGES_API "/prune", NULL, &err) < 0)
        return imgd_cli_fail(err);
    if (a->json)
        return imgd_cli_print_json(v);
    char size[32];
    images_print_removal(v);
    imgd_humanize_crictl(size, sizeof(size),
                         (double)json_integer_value(json_object_get(v, "space_reclaimed")));
    printf("Total reclaimed space: %s\n", size);
    return EXIT_SUCCESS;
}

/* The path is the server's: a relative one is made absolute here, where it was typed. */
static int cmd_import(const imgd_cli_image_args *a)
{
    _cleanup_error_ imgd_error *err = NULL;
    _cleanup_free_ char *abs = NULL;
    const char *path = a->args[0];
    if (path[0] != '/' && !(abs = realpath(path, NULL))) {
        imgd_error_errno(&err, errno, "import '%s': cannot make the path absolute", path);
        imgd_str_strip_controls(err->message, strlen(err->message));
        return imgd_cli_fail(err);
    }
    json_auto_t *body = json_pack("{s:s, s:s?, s:s?}", "path", abs ? abs : path, "tag", a->tag,
                                  "platform", a->platform);
    json_auto_t *v = NULL;
    if (!body)
        return imgd_cli_usage_error("import: the path, --tag and --platform must be UTF-8 text");
    if (images_call(&v, a->client, "POST", IMAGES_API "/import", body, &err) < 0)
        return imgd_cli_fail(err);
    if (a->json)
        return imgd_cli_print_json(v);
    size_t i, j;
    const json_t *img, *name;
    json_array_foreach (json_object_get(v, "images"), i, img) {
        json_array_foreach (json_object_get(img, "repo_tags"), j, name) {
            if (json_is_string(name))
                images_put_line("Imported image: ", json_string_value(name));
        }
        if (imgd_json_get_string(img, "id"))
            images_put_line("Imported image ID: ", imgd_json_get_string(img, "id"));
    }
    return EXIT_SUCCESS;
}

/* ---- pull ---- */

typedef struct pull_layer {
    char id[LAYER_SHORT_LEN + 1]; /* short digest; "" until an event names the layer */
    char state[16];               /* the last state, cleaned; "" before the first */
    int64_t done, total;
} pull_layer;

/* What the progress lines of a pull said so far. */
typedef struct pull_view {
    const char *reference;
    bool show; /* print progress (not -q, not -o json) */
    bool tty;  /* redraw a block of lines in place, else a line per change of state */
    bool resolved;
    pull_layer *layers; /* owned */
    size_t n_layers;
    json_t *image; /* owned: the image of the last line */
    char *error;   /* owned: the message of an error line */
} pull_view;

static void pull_view_dispose(pull_view *v)
{
    free(v->layers);
    json_decref(v->image);
    free(v->error);
}

/* jansson frees strings without wiping them: wipe the password in a pull body first. */
static void pull_body_freep(json_t **body)
{
    json_t *pw = json_object_get(json_object_get(*body, "credentials"), "password");
    if (json_is_string(pw))
        explicit_bzero((char *)json_string_value(pw), json_string_length(pw));
    json_decref(*body);
}

static void pull_copy_clean(char *out, size_t size, const char *s)
{
    size_t n = 0;
    for (; s[n] && n + 1 < size; n++)
        out[n] = (unsigned char)s[n] < 0x20 || s[n] == 0x7f ? '?' : s[n];
    out[n] = '\0';
}

/* "b2cc7312de68: downloading [=====>   ] 536kB/1.03MB" on a terminal, else without the bar. */
static void pull_layer_text(char *buf, size_t len, const pull_view *v, size_t i, bool bar)
{
    const pull_layer *l = &v->layers[i];
    char name[32], done[24], total[24], meter[PULL_BAR_WIDTH + 1];
    if (*l->id)
        snprintf(name, sizeof(name), "%s", l->id);
    else
        snprintf(name, sizeof(name), "layer %zu/%zu", i + 1, v->n_layers);
    imgd_humanize_crictl(done, sizeof(done), (double)l->done);
    imgd_humanize_crictl(total, sizeof(total), (double)l->total);
    int pad = bar ? 11 : 0; /* strlen("downloading"): the sizes line up */
    if (!*l->state) {
        snprintf(buf, len, "%-12s: waiting", name);
    } else if (strcmp(l->state, "downloading") == 0 && bar) {
        size_t fill = l->total > 0 && l->done > 0
                          ? (size_t)((double)l->done / (double)l->total * PULL_BAR_WIDTH)
                          : 0;
        for (size_t k = 0; k < PULL_BAR_WIDTH; k++)
            meter[k] = k < fill ? '=' : k == fill ? '>' : ' ';
        meter[PULL_BAR_WIDTH] = '\0';
        snprintf(buf, len, "%-12s: %-*s [%s] %s/%s", name, pad, l->state, meter, done, total);
    } else if (strcmp(l->state, "downloading") == 0) {
        snprintf(buf, len, "%s: %s %s", name, l->state, total);
    } else if (strcmp(l->state, "done") == 0) {
        snprintf(buf, len, "%-*s: %-*s %s", bar ? 12 : 0, name, pad, l->state, done);
    } else {
        snprintf(buf, len, "%-*s: %s", bar ? 12 : 0, name, l->state);
    }
}

/* The cursor waits below the block of layer lines: up to the layer's line, rewrite it, back. */
static void pull_redraw(const pull_view *v, size_t i)
{
    char text[160];
    size_t up = v->n_layers - i;
    pull_layer_text(text, sizeof(text), v, i, true);
    printf("\033[%zuA\r\033[2K%s\033[%zuB\r", up, text, up);
    fflush(stdout);
}

static int pull_on_resolved(pull_view *v, const json_t *ev, imgd_error **err)
{
    json_int_t n = json_integer_value(json_object_get(ev, "layers"));
    const char *digest = imgd_json_get_string(ev, "digest");
    if (v->resolved)
        return 0;
    /* more layers than lines worth showing: the pull goes on without them */
    size_t lines = n > 0 && n <= (json_int_t)PULL_LAYERS_MAX ? (size_t)n : 0;
    if (!(v->layers = calloc(lines + 1, sizeof(*v->layers))))
        return imgd_error_set(err, ENOMEM, "out of memory");
    v->n_layers = lines;
    v->resolved = true;
    struct winsize ws;
    /* a block taller than the terminal cannot be redrawn in place */
    if (v->tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 &&
        v->n_layers >= ws.ws_row)
        v->tty = false;
    if (!v->show)
        return 0;
    fputs("Pulling ", stdout);
    imgd_cli_put_clean(v->reference, 0);
    fputs(" (", stdout);
    imgd_cli_put_clean(digest ? digest : "?", 0);
    printf(", %lld layer%s)\n", (long long)n, n == 1 ? "" : "s");
    for (size_t i = 0; v->tty && i < v->n_layers; i++) {
        char text[160];
        pull_layer_text(text, sizeof(text), v, i, true);
        puts(text);
    }
    fflush(stdout);
    return 0;
}

static void pull_on_layer(pull_view *v, const json_t *ev)
{
    json_int_t i = json_integer_value(json_object_get(ev, "index"));
    const char *digest = imgd_json_get_string(ev, "layer");
    const char *state = imgd_json_get_string(ev, "state");
    if (!v->resolved || i < 0 || (size_t)i >= v->n_layers || !digest || !state)
        return; /* no line to show it on */
    pull_layer *l = &v->layers[i];
    char clean[sizeof(l->state)];
    pull_copy_clean(clean, sizeof(clean), state);
    bool changed = strcmp(clean, l->state) != 0;
    memcpy(l->state, clean, sizeof(l->state));
    const char *hex = strchr(digest, ':') ? strchr(digest, ':') + 1 : digest;
    size_t n = strspn(hex, "0123456789abcdefABCDEF");
    snprintf(l->id, sizeof(l->id), "%.*s", (int)(n < LAYER_SHORT_LEN ? n : LAYER_SHORT_LEN), hex);
    l->done = json_integer_value(json_object_get(ev, "done"));
    l->total = json_integer_value(json_object_get(ev, "total"));
    if (!v->show)
        return;
    if (v->tty) {
        pull_redraw(v, (size_t)i);
    } else if (changed) { /* "downloading" once, not for every chunk */
        char text[160];
        pull_layer_text(text, sizeof(text), v, (size_t)i, false);
        puts(text);
        fflush(stdout);
    }
}

/* One line of the stream: "resolved", a layer's progress, and last "complete" with the image or
 * an error. The whole answer of a server that does not stream is taken as "complete". */
static int pull_on_line(void *ctx, const char *line, size_t len, imgd_error **err)
{
    pull_view *v = ctx;
    json_auto_t *ev = NULL;
    if (imgd_json_parse(&ev, line, len, IMGD_CLIENT_JSON_MAX_DEPTH, NULL) < 0 ||
        !json_is_object(ev))
        return imgd_error_set(err, EBADMSG, "a line of the pull stream is not a JSON object");
    const json_t *error = json_object_get(ev, "error");
    const char *status = imgd_json_get_string(ev, "status");
    const json_t *image = json_object_get(ev, "image");
    if (error) {
        const char *msg = json_is_string(error) ? json_string_value(error)
                                                : imgd_json_get_string(error, "message");
        free(v->error);
        if (!(v->error = strdup(msg ? msg : "the pull failed")))
            return imgd_error_set(err, ENOMEM, "out of memory");
    } else if (json_object_get(ev, "layer")) {
        pull_on_layer(v, ev);
    } else if (status && strcmp(status, "resolved") == 0) {
        return pull_on_resolved(v, ev, err);
    } else if (json_is_object(image)) {
        json_decref(v->image);
        v->image = json_incref((json_t *)image);
    }
    return 0; /* other lines belong to newer servers */
}

/* The registry credentials: --creds USER[:PASS], or --username with --password; a password not
 * given comes from $IMGCTL_REGISTRY_PASSWORD. Returns -1 to go on, or the exit status. */
static int pull_credentials(char **out_user, char **out_pass, const imgd_cli_image_args *a)
{
    const char *user = a->username, *pass = a->password;
    if (a->creds && (a->username || a->password))
        return imgd_cli_usage_error("give --creds or --username and --password, not both");
    if (!a->creds && !a->username)
        return a->password ? imgd_cli_usage_error("--password needs --username") : -1;
    size_t user_len = user ? strlen(user) : strcspn(a->creds, ":");
    if (a->creds) {
        user = a->creds;
        pass = a->creds[user_len] == ':' ? a->creds + user_len + 1 : NULL;
    }
    const char *env = getenv("IMGCTL_REGISTRY_PASSWORD");
    if (!pass && env && *env)
        pass = env;
    if (user_len == 0)
        return imgd_cli_usage_error("the registry user name is empty");
    if (!pass)
        return imgd_cli_usage_error("no registry password: give USER:PASS, --password or "
                                    "$IMGCTL_REGISTRY_PASSWORD");
    if (!(*out_user = strndup(user, user_len)) || !(*out_pass = strdup(pass)))
        return imgd_cli_fail(NULL);
    return -1;
}

static json_t *pull_body(const imgd_cli_image_args *a, const char *user, const char *pass)
{
    json_t *body = json_pack("{s:s, s:s?}", "reference", a->args[0], "platform", a->platform);
    if (body && user &&
        json_object_set_new(body, "credentials",
                            json_pack("{s:s, s:s}", "username", user, "password", pass)) < 0) {
        pull_body_freep(&body);
        return NULL;
    }
    return body;
}

/* The error of a failed pull, as "pull REF: why". imgd's own message of a failed pull starts
 * with "pull 'REF': ", which would say the same twice. */
static int pull_error(imgd_error **err, const pull_view *v)
{
    _cleanup_free_ char *dup = NULL;
    const char *msg = v->error;
    if (asprintf(&dup, "pull '%s': ", v->reference) < 0)
        dup = NULL; /* undefined after a failed asprintf */
    if (dup && imgd_str_has_prefix(msg, dup))
        msg += strlen(dup);
    return imgd_error_set(err, EIO, "%s", msg);
}

static int pull_print_result(const pull_view *v, bool json)
{
    const char *id = imgd_json_get_string(v->image, "id");
    if (json)
        return imgd_cli_print_json(v->image);
    if (v->show)
        images_put_line("Pulled ", v->reference);
    images_put_line("", id ? id : "?");
    return EXIT_SUCCESS;
}

static int cmd_pull(const imgd_cli_image_args *a)
{
    _cleanup_secret_ char *user = NULL;
    _cleanup_secret_ char *pass = NULL;
    int r = pull_credentials(&user, &pass, a);
    if (r >= 0)
        return r;
    _cleanup_(pull_body_freep) json_t *body = pull_body(a, user, pass);
    if (!body)
        return imgd_cli_usage_error("pull: the reference, --platform and credentials must be "
                                    "UTF-8 text");
    const char *term = getenv("TERM");
    _cleanup_(pull_view_dispose) pull_view v = {
        .reference = a->args[0],
        .show = !(a->opts & IMGD_CLI_OPT_QUIET) && !a->json,
        .tty = isatty(STDOUT_FILENO) && !(term && strcmp(term, "dumb") == 0),
    };
    _cleanup_error_ imgd_error *err = NULL;
    imgd_client_response resp = {0};
    r = imgd_client_stream(&resp, a->client, "POST", IMAGES_API "/pull", body, NDJSON, pull_on_line,
                           &v, &err);
    if (r == 0 && (resp.status < 200 || resp.status >= 300))
        r = imgd_client_response_error(&err, &resp, "POST", IMAGES_API "/pull");
    else if (r == 0 && v.error)
        r = pull_error(&err, &v);
    else if (r == 0 && !json_is_object(v.image))
        r = imgd_error_set(&err, EPROTO, "imgd at %s ended the pull without a result",
                           imgd_client_target(a->client));
    imgd_client_response_dispose(&resp);
    if (r == 0)
        return pull_print_result(&v, a->json);
    fflush(stdout); /* the error line after the progress */
    imgd_error_prefix(&err, "pull %s", a->args[0]);
    if (err)
        imgd_str_strip_controls(err->message, strlen(err->message));
    return imgd_cli_fail(err);
}

/* ---- the table ---- */

static const imgd_cli_image_command images_commands[] = {
    {"images", "[-q] [--no-trunc] [--digests]", 0, 0,
     IMGD_CLI_OPT_QUIET | IMGD_CLI_OPT_NO_TRUNC | IMGD_CLI_OPT_DIGESTS, cmd_images},
    {"pull", "[--platform P] [--creds USER[:PASS]] [-q] REFERENCE", 1, 1,
     IMGD_CLI_OPT_PLATFORM | IMGD_CLI_OPT_CREDS | IMGD_CLI_OPT_QUIET, cmd_pull},
    {"import", "[--tag NAME] [--platform P] PATH", 1, 1, IMGD_CLI_OPT_TAG | IMGD_CLI_OPT_PLATFORM,
     cmd_import},
    {"tag", "SOURCE TARGET", 2, 2, 0, cmd_tag},
    {"rmi", "[-f] REF...", 1, -1, IMGD_CLI_OPT_FORCE, cmd_rmi},
    {"inspect", "REF", 1, 1, 0, cmd_inspect},
    {"prune", "", 0, 0, 0, cmd_prune},
};

const imgd_cli_image_command *imgd_cli_image_command_find(const char *name)
{
    for (size_t i = 0; i < IMGD_ARRAY_SIZE(images_commands); i++) {
        if (strcmp(images_commands[i].name, name) == 0)
            return &images_commands[i];
    }
    return NULL;
}
