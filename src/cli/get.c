/* SPDX-License-Identifier: MIT */
/* imgctl get: the lists of the inventory face. Tables are laid out as crictl's are (Go's
 * text/tabwriter with minwidth 20 and padding 3: each column as wide as its widest cell plus 3,
 * at least 20, the last one unpadded), so that eyes and scripts used to the crictl service's
 * lists read them. Text from servers is printed with control characters replaced. */
#include "get.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "images.h"
#include "table.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/json.h"
#include "util/strutil.h"

#define LOCAL_PATH       "/local-images"
#define INVENTORY_PATH   "/images"
#define NODE_PORT        "5375" /* imgd's, and the crictl service's, default port */
#define NODES_MAX        256u
#define NODES_PARALLEL   16u /* requests in flight at once */
#define TAB_MINWIDTH     20u
#define TAB_PADDING      3u
#define ID_SHORT_LEN     13   /* characters of an image ID, as crictl shows */
#define DIGEST_SHORT_LEN 12   /* hex digits of a digest, as docker shows */
#define MESSAGE_MAX      1000 /* characters of a server's error message shown */

typedef enum get_which {
    GET_LOCAL,
    GET_HARBOR,
    GET_ALL,
} get_which;

/* ---- tables ---- */

/* One field as RFC 4180 writes it: quoted, with quotes doubled, when it holds a comma or a
 * quote. Control characters are replaced as in tables, so no field breaks a line. */
static void get_csv_field(const char *s)
{
    bool quote = s[strcspn(s, ",\"")] != '\0';
    if (quote)
        putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"')
            putchar('"');
        putchar(*p < 0x20 || *p == 0x7f ? '?' : *p);
    }
    if (quote)
        putchar('"');
}

static void get_table_print_csv(const imgd_cli_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        get_csv_field(t->cells[i]);
        putchar(i % t->n_cols == t->n_cols - 1 ? '\n' : ',');
    }
}

static int get_table_output(const imgd_cli_table *t, imgd_cli_get_format format)
{
    if (t->failed)
        return imgd_cli_fail(NULL);
    if (format == IMGD_CLI_GET_CSV)
        get_table_print_csv(t);
    else
        imgd_cli_table_print(t);
    return EXIT_SUCCESS;
}

/* ---- rows ---- */

static const char *get_str(const json_t *row, const char *key)
{
    const char *s = imgd_json_get_string(row, key);
    return s ? s : "";
}

/* An image ID or a digest as shown: whole with --no-trunc, else the first n characters after
 * its "sha256:" (crictl shows 13 of an ID, docker 12 of a digest). Owned; NULL when out of
 * memory. */
static char *get_short(const char *s, int n, bool no_trunc)
{
    const char *colon = strchr(s, ':');
    return no_trunc ? strdup(s) : strndup(colon ? colon + 1 : s, (size_t)n);
}

static void get_add_local_row(imgd_cli_table *t, const json_t *row, bool no_trunc)
{
    _cleanup_free_ char *id = get_short(get_str(row, "image_id"), ID_SHORT_LEN, no_trunc);
    const char *cells[] = {get_str(row, "repository"), get_str(row, "tag"), id,
                           get_str(row, "size")};
    if (!id)
        t->failed = true;
    else
        imgd_cli_table_add(t, cells);
}

/* REPOSITORY is project/repository, the name the image is pulled by. */
static void get_add_harbor_row(imgd_cli_table *t, const json_t *row, bool no_trunc)
{
    const char *project = get_str(row, "project");
    _cleanup_free_ char *digest = get_short(get_str(row, "digest"), DIGEST_SHORT_LEN, no_trunc);
    _cleanup_free_ char *name = NULL;
    if (asprintf(&name, "%s%s%s", project, *project ? "/" : "", get_str(row, "repository")) < 0)
        name = NULL; /* undefined after a failed asprintf */
    const char *cells[] = {name, get_str(row, "tag"), digest, get_str(row, "size"), project};
    if (!name || !digest)
        t->failed = true;
    else
        imgd_cli_table_add(t, cells);
}

static int get_print_local(const json_t *rows, const imgd_cli_get_args *a)
{
    static const char *const table_heads[] = {"IMAGE", "TAG", "IMAGE ID", "SIZE"};
    /* the ignore list's header, so that the output can serve as one */
    static const char *const csv_heads[] = {"REPOSITORY", "TAG", "IMAGE ID", "SIZE"};
    _cleanup_(imgd_cli_table_dispose)
        imgd_cli_table t = {.n_cols = 4, .pad = TAB_PADDING, .min_width = TAB_MINWIDTH};
    imgd_cli_table_add(&t, a->format == IMGD_CLI_GET_CSV ? csv_heads : table_heads);
    size_t i;
    const json_t *row;
    json_array_foreach (rows, i, row) {
        if (json_is_object(row))
            get_add_local_row(&t, row, a->no_trunc);
    }
    return get_table_output(&t, a->format);
}

static int get_print_harbor(const json_t *rows, const imgd_cli_get_args *a)
{
    static const char *const heads[] = {"REPOSITORY", "TAG", "DIGEST", "SIZE", "PROJECT"};
    _cleanup_(imgd_cli_table_dispose)
        imgd_cli_table t = {.n_cols = 5, .pad = TAB_PADDING, .min_width = TAB_MINWIDTH};
    imgd_cli_table_add(&t, heads);
    size_t i;
    const json_t *row;
    json_array_foreach (rows, i, row) {
        if (json_is_object(row))
            get_add_harbor_row(&t, row, a->no_trunc);
    }
    return get_table_output(&t, a->format);
}

/* ---- answers ---- */

/* /local-images for the local list, /images for the others (for harbor, without the local part);
 * whole IDs when asked for, and always for --nodes, which compares them and cuts them itself. */
static const char *get_path(get_which which, bool whole_ids)
{
    if (which == GET_HARBOR)
        return INVENTORY_PATH "?source=registry";
    if (which == GET_LOCAL)
        return whole_ids ? LOCAL_PATH "?no_trunc=1" : LOCAL_PATH;
    return whole_ids ? INVENTORY_PATH "?no_trunc=1" : INVENTORY_PATH;
}

/* A failed answer as "GET <path>: <status> <error>: <details>" from the inventory face's
 * {"error","details"}, else as imgd_client_response_error() words it. Returns -EIO. */
static int get_answer_error(imgd_error **err, const imgd_client_response *r, const char *path)
{
    json_auto_t *body = NULL;
    if (imgd_json_parse(&body, r->body, r->len, IMGD_CLIENT_JSON_MAX_DEPTH, NULL) < 0 ||
        !imgd_json_get_string(body, "error"))
        return imgd_client_response_error(err, r, "GET", path);
    const char *details = imgd_json_get_string(body, "details");
    imgd_error_set(err, EIO, "GET %s: %ld %.*s%s%.*s", path, r->status, MESSAGE_MAX,
                   imgd_json_get_string(body, "error"), details ? ": " : "", MESSAGE_MAX,
                   details ? details : "");
    if (err && *err)
        imgd_str_strip_controls((*err)->message, strlen((*err)->message));
    return -EIO;
}

/* A list of rows for /local-images; for /images an object whose lists are lists. */
static bool get_answer_shaped(const json_t *v, get_which which)
{
    static const char *const lists[] = {"containerd_images", "harbor_images", "errors"};
    if (which == GET_LOCAL)
        return json_is_array(v);
    if (!json_is_object(v))
        return false;
    for (size_t i = 0; i < IMGD_ARRAY_SIZE(lists); i++) {
        const json_t *list = json_object_get(v, lists[i]);
        if (list && !json_is_array(list))
            return false;
    }
    return true;
}

/* The answer of GET path decoded into *out (a new reference), when it is a success and has the
 * shape of the list asked for. */
static int get_answer(json_t **out, const imgd_client_response *r, const char *path,
                      get_which which, imgd_error **err)
{
    json_auto_t *v = NULL;
    if (r->status < 200 || r->status >= 300)
        return get_answer_error(err, r, path);
    int rc = imgd_client_response_json(&v, r, "GET", path, err);
    if (rc < 0)
        return rc;
    if (!get_answer_shaped(v, which))
        return imgd_error_set(err, EBADMSG, "GET %s: the answer is not %s", path,
                              which == GET_LOCAL ? "a list of images" : "an object of image lists");
    *out = TAKE_PTR(v);
    return 0;
}

/* "error: [NODE: ]SOURCE: MESSAGE" on stderr for each source a server could not list. */
static void get_print_source_errors(const json_t *answer, const char *node)
{
    size_t i;
    const json_t *e;
    json_array_foreach (json_object_get(answer, "errors"), i, e) {
        _cleanup_free_ char *line = NULL;
        if (asprintf(&line, "error: %s%s%.100s: %.*s", node ? node : "", node ? ": " : "",
                     get_str(e, "source"), MESSAGE_MAX, get_str(e, "error")) < 0) {
            fputs("imgctl: out of memory\n", stderr);
            return;
        }
        imgd_str_strip_controls(line, strlen(line));
        fprintf(stderr, "%s\n", line);
    }
}

/* ---- one server ---- */

static int get_print_answer(const json_t *v, const imgd_cli_get_args *a, get_which which)
{
    const json_t *local = which == GET_LOCAL ? v : json_object_get(v, "containerd_images");
    int r = EXIT_SUCCESS;
    if (which == GET_ALL)
        fputs("Local images:\n", stdout);
    if (which != GET_HARBOR)
        r = get_print_local(local, a);
    if (r == EXIT_SUCCESS && which == GET_ALL)
        fputs("\nHarbor images:\n", stdout);
    if (r == EXIT_SUCCESS && which != GET_LOCAL)
        r = get_print_harbor(json_object_get(v, "harbor_images"), a);
    fflush(stdout); /* the errors after the lists */
    if (which != GET_LOCAL)
        get_print_source_errors(v, NULL);
    return r;
}

static int get_single(const imgd_cli_get_args *a, get_which which)
{
    _cleanup_(imgd_client_freep) imgd_client *c = NULL;
    _cleanup_error_ imgd_error *err = NULL;
    _cleanup_(imgd_client_response_dispose) imgd_client_response resp = {0};
    json_auto_t *v = NULL;
    const char *path = get_path(which, a->no_trunc);
    if (imgd_client_new(&c, a->client, &err) < 0 ||
        imgd_client_request(&resp, c, "GET", path, NULL, &err) < 0 ||
        get_answer(&v, &resp, path, which, &err) < 0)
        return imgd_cli_fail(err);
    if (a->format != IMGD_CLI_GET_JSON)
        return get_print_answer(v, a, which);
    /* the server's own text; it parsed as JSON, so it holds no control characters but line
     * breaks and tabs between tokens */
    fwrite(resp.body, 1, resp.len, stdout);
    if (resp.len == 0 || resp.body[resp.len - 1] != '\n')
        putchar('\n');
    return EXIT_SUCCESS;
}

/* ---- several servers: --nodes ---- */

/* Characters of a node given as a host name, IPv4 or [IPv6] address, with an optional port. */
#define NODE_HOST_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:[]"

typedef struct get_node {
    char *name;          /* owned: as given */
    imgd_client *client; /* owned; NULL when no request could be made */
    json_t *answer;      /* owned; NULL when the node failed */
    imgd_error *err;     /* owned: why it failed; NULL when it answered (or out of memory) */
} get_node;

/* An image on a node. */
typedef struct get_place {
    const char *repository, *tag, *id, *size; /* borrowed from the node's answer */
    size_t node;
} get_place;

/* The nodes, their answers, and what the answers say together. */
typedef struct get_view {
    get_node *nodes; /* owned; NODES_MAX of them */
    size_t n_nodes;
    get_place *places; /* owned; sorted by image (repository, tag, ID), then node */
    size_t n_places, cap_places;
    char **registry; /* owned; sorted "project/repository\ttag" of the registries' images */
    size_t n_registry, cap_registry;
    bool has_registry; /* some node listed its registry */
    bool failed;       /* out of memory */
} get_view;

static void get_view_dispose(get_view *v)
{
    for (size_t i = 0; v->nodes && i < v->n_nodes; i++) {
        free(v->nodes[i].name);
        imgd_client_free(v->nodes[i].client);
        json_decref(v->nodes[i].answer);
        imgd_error_free(v->nodes[i].err);
    }
    for (size_t i = 0; i < v->n_registry; i++)
        free(v->registry[i]);
    free(v->nodes);
    free(v->places);
    free(v->registry);
}

static char *get_trim(char *s)
{
    s += strspn(s, " \t");
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* Split --nodes into v->nodes. Returns -1 to go on, or the exit status. */
static int get_nodes_parse(get_view *v, const char *list)
{
    _cleanup_free_ char *copy = strdup(list);
    if (!copy || !(v->nodes = calloc(NODES_MAX, sizeof(*v->nodes))))
        return imgd_cli_fail(NULL);
    char *rest = copy, *node;
    while ((node = strsep(&rest, ","))) {
        node = get_trim(node);
        if (*node == '\0')
            return imgd_cli_usage_error("--nodes: an entry is empty");
        if (v->n_nodes == NODES_MAX)
            return imgd_cli_usage_error("--nodes: at most %u nodes", NODES_MAX);
        if (!strstr(node, "://") && node[strspn(node, NODE_HOST_CHARS)] != '\0')
            return imgd_cli_usage_error("--nodes: '%s' is neither a URL nor a host name", node);
        for (size_t i = 0; i < v->n_nodes; i++) {
            if (strcmp(v->nodes[i].name, node) == 0)
                return imgd_cli_usage_error("--nodes names '%s' twice", node);
        }
        if (!(v->nodes[v->n_nodes].name = strdup(node)))
            return imgd_cli_fail(NULL);
        v->n_nodes++;
    }
    return -1;
}

/* The server URL of a node: as given when it names a scheme, else http://HOST:5375, or
 * http://HOST:PORT when the port is given; a bare IPv6 address gets its brackets. Owned; NULL
 * when out of memory. */
static char *get_node_url(const char *node)
{
    const char *last = strrchr(node, ':'), *close = strchr(node, ']');
    bool bare_v6 = node[0] != '[' && last && strchr(node, ':') != last;
    bool port = last && !bare_v6 && (node[0] != '[' || (close && last > close)) && last[1] &&
                last[1 + strspn(last + 1, "0123456789")] == '\0';
    char *url = NULL;
    int n;
    if (strstr(node, "://"))
        return strdup(node);
    if (bare_v6)
        n = asprintf(&url, "http://[%s]:" NODE_PORT, node);
    else if (port)
        n = asprintf(&url, "http://%s", node);
    else
        n = asprintf(&url, "http://%s:" NODE_PORT, node);
    return n < 0 ? NULL : url;
}

/* Ask every node at once; each gets its answer or its error. */
static void get_nodes_fetch(get_view *v, const imgd_cli_get_args *a, get_which which)
{
    const char *path = get_path(which, true);
    assert(v->n_nodes > 0); /* get_nodes_parse() refuses an empty entry */
    _cleanup_free_ imgd_client_batch_item *items = calloc(v->n_nodes, sizeof(*items));
    size_t n = 0;
    if (!items) {
        v->failed = true;
        return;
    }
    for (size_t i = 0; i < v->n_nodes; i++) {
        get_node *node = &v->nodes[i];
        _cleanup_free_ char *url = get_node_url(node->name);
        imgd_client_options o = *a->client;
        o.server = url;
        if (!url)
            imgd_error_set(&node->err, ENOMEM, "out of memory");
        else if (imgd_client_new(&node->client, &o, &node->err) == 0)
            items[n++] =
                (imgd_client_batch_item){.client = node->client, .method = "GET", .path = path};
    }
    imgd_client_request_all(items, n, NODES_PARALLEL);
    for (size_t i = 0, k = 0; i < v->n_nodes; i++) {
        get_node *node = &v->nodes[i];
        if (!node->client)
            continue;
        imgd_client_batch_item *it = &items[k++];
        if (it->r < 0)
            node->err = TAKE_PTR(it->err);
        else
            get_answer(&node->answer, &it->response, path, which, &node->err);
        imgd_client_response_dispose(&it->response);
    }
}

static void get_place_add(get_view *v, const json_t *row, size_t node)
{
    if (imgd_array_reserve(&v->places, &v->cap_places, v->n_places + 1, sizeof(*v->places), 64) <
        0) {
        v->failed = true;
        return;
    }
    v->places[v->n_places++] = (get_place){get_str(row, "repository"), get_str(row, "tag"),
                                           get_str(row, "image_id"), get_str(row, "size"), node};
}

/* The key a registry image is known by: "project/path\ttag", or "path\ttag" without a project.
 * Owned; NULL when out of memory. */
static char *get_registry_key(const char *project, const char *path, const char *tag)
{
    char *key = NULL;
    if (asprintf(&key, "%s%s%s\t%s", project, *project ? "/" : "", path, tag) < 0)
        return NULL;
    return key;
}

static void get_registry_add(get_view *v, const json_t *row)
{
    if (imgd_array_reserve(&v->registry, &v->cap_registry, v->n_registry + 1, sizeof(*v->registry),
                           64) < 0) {
        v->failed = true;
        return;
    }
    char *key =
        get_registry_key(get_str(row, "project"), get_str(row, "repository"), get_str(row, "tag"));
    if (key)
        v->registry[v->n_registry++] = key;
    v->failed |= !key;
}

/* Whether the node listed its registry: /images says so by naming no "harbor" error. */
static bool get_registry_listed(const json_t *answer)
{
    size_t i;
    const json_t *e;
    json_array_foreach (json_object_get(answer, "errors"), i, e) {
        if (strcmp(get_str(e, "source"), "harbor") == 0)
            return false;
    }
    return true;
}

static int get_place_cmp(const void *a, const void *b)
{
    const get_place *x = a, *y = b;
    int c = strcmp(x->repository, y->repository);
    c = c ? c : strcmp(x->tag, y->tag);
    c = c ? c : strcmp(x->id, y->id);
    return c ? c : (x->node > y->node) - (x->node < y->node);
}

static int get_key_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Gather the local images of every node that answered, and the registry images of those that
 * listed their registry (with `all`). */
static void get_view_collect(get_view *v, get_which which)
{
    for (size_t i = 0; i < v->n_nodes && !v->failed; i++) {
        const json_t *answer = v->nodes[i].answer;
        const json_t *rows =
            which == GET_LOCAL ? answer : json_object_get(answer, "containerd_images");
        size_t k;
        const json_t *row;
        json_array_foreach (rows, k, row) {
            if (json_is_object(row))
                get_place_add(v, row, i);
        }
        if (!answer || which != GET_ALL || !get_registry_listed(answer))
            continue;
        v->has_registry = true;
        json_array_foreach (json_object_get(answer, "harbor_images"), k, row) {
            if (json_is_object(row))
                get_registry_add(v, row);
        }
    }
    if (v->n_places > 0)
        qsort(v->places, v->n_places, sizeof(*v->places), get_place_cmp);
    if (v->n_registry > 0)
        qsort(v->registry, v->n_registry, sizeof(*v->registry), get_key_cmp);
}

/* The end of the run of places that are the image at places[i]. */
static size_t get_group_end(const get_view *v, size_t i)
{
    const get_place *p = &v->places[i];
    size_t end = i + 1;
    while (end < v->n_places && strcmp(v->places[end].repository, p->repository) == 0 &&
           strcmp(v->places[end].tag, p->tag) == 0 && strcmp(v->places[end].id, p->id) == 0)
        end++;
    return end;
}

/* The repository of a local image without its registry host, as a registry names it
 * ("harbor.example.com/proj/app" -> "proj/app"). The first component is a host when it has a
 * '.' or a ':' or is "localhost", as docker decides. Borrowed from repo. */
static const char *get_repo_path(const char *repo)
{
    const char *slash = strchr(repo, '/');
    size_t n = slash ? (size_t)(slash - repo) : 0;
    bool host = slash && (memchr(repo, '.', n) || memchr(repo, ':', n) ||
                          (n == strlen("localhost") && strncmp(repo, "localhost", n) == 0));
    return host ? slash + 1 : repo;
}

static bool get_registry_has(get_view *v, const char *project, const char *path, const char *tag)
{
    _cleanup_free_ char *key = get_registry_key(project, path, tag);
    v->failed |= !key;
    return key && bsearch(&key, v->registry, v->n_registry, sizeof(*v->registry), get_key_cmp);
}

/* Whether a registry holds the image by name and tag (the registry host aside); a name of one
 * component is also looked for in "library", as docker names official images. */
static bool get_in_registry(get_view *v, const get_place *p)
{
    const char *path = get_repo_path(p->repository);
    return get_registry_has(v, "", path, p->tag) ||
           (!strchr(path, '/') && get_registry_has(v, "library", path, p->tag));
}

/* The nodes holding the image at places[i, end): "all" when every node given does, else their
 * names, in the order given. Owned; NULL when out of memory. */
static char *get_nodes_text(const get_view *v, size_t i, size_t end)
{
    imgd_buf b = {0};
    size_t count = 0;
    for (size_t k = i; k < end; k++) {
        if (k > i && v->places[k].node == v->places[k - 1].node)
            continue; /* a node that lists the image twice */
        imgd_buf_printf(&b, "%s%s", count++ ? "," : "", v->nodes[v->places[k].node].name);
    }
    if (count == v->n_nodes) {
        imgd_buf_dispose(&b);
        return strdup("all");
    }
    return imgd_buf_steal(&b, NULL);
}

/* The images and where they are; with missing, only those no registry holds. */
static int get_nodes_table(get_view *v, const imgd_cli_get_args *a, bool missing)
{
    static const char *const table_heads[] = {"IMAGE", "TAG", "IMAGE ID", "NODES"};
    static const char *const csv_heads[] = {"REPOSITORY", "TAG", "IMAGE ID", "NODES"};
    _cleanup_(imgd_cli_table_dispose)
        imgd_cli_table t = {.n_cols = 4, .pad = TAB_PADDING, .min_width = TAB_MINWIDTH};
    imgd_cli_table_add(&t, a->format == IMGD_CLI_GET_CSV ? csv_heads : table_heads);
    for (size_t i = 0, end = 0; i < v->n_places; i = end) {
        const get_place *p = &v->places[i];
        end = get_group_end(v, i);
        if (missing && get_in_registry(v, p))
            continue;
        _cleanup_free_ char *id = get_short(p->id, ID_SHORT_LEN, a->no_trunc);
        _cleanup_free_ char *nodes = get_nodes_text(v, i, end);
        const char *cells[] = {p->repository, p->tag, id, nodes};
        if (!id || !nodes)
            t.failed = true;
        else
            imgd_cli_table_add(&t, cells);
    }
    t.failed |= v->failed;
    return get_table_output(&t, a->format);
}

/* The image at places[i, end) as {"repository","tag","image_id","size","nodes":[...]}; NULL when
 * out of memory. */
static json_t *get_group_json(const get_view *v, size_t i, size_t end, bool no_trunc)
{
    const get_place *p = &v->places[i];
    _cleanup_free_ char *id = get_short(p->id, ID_SHORT_LEN, no_trunc);
    json_t *names = json_array();
    for (size_t k = i; names && k < end; k++) {
        if (k > i && v->places[k].node == v->places[k - 1].node)
            continue;
        if (json_array_append_new(names, json_string(v->nodes[v->places[k].node].name)) < 0) {
            json_decref(names);
            names = NULL;
        }
    }
    if (!id || !names) {
        json_decref(names);
        return NULL;
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:o}", "repository", p->repository, "tag", p->tag,
                     "image_id", id, "size", p->size, "nodes", names);
}

static json_t *get_nodes_json_images(get_view *v, bool no_trunc, bool missing)
{
    json_t *arr = json_array();
    for (size_t i = 0, end = 0; arr && i < v->n_places; i = end) {
        end = get_group_end(v, i);
        if (missing && get_in_registry(v, &v->places[i]))
            continue;
        if (json_array_append_new(arr, get_group_json(v, i, end, no_trunc)) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

/* The nodes that failed, as {"node","error"}, and the sources a node could not list, as
 * {"node","source","error"}. */
static json_t *get_nodes_json_errors(const get_view *v)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < v->n_nodes; i++) {
        const get_node *node = &v->nodes[i];
        const char *why = node->err ? node->err->message : "out of memory";
        bool bad =
            !node->answer && json_array_append_new(arr, json_pack("{s:s, s:s}", "node", node->name,
                                                                  "error", why)) < 0;
        size_t k;
        const json_t *e;
        json_array_foreach (json_object_get(node->answer, "errors"), k, e) {
            bad |= json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "node", node->name,
                                                        "source", get_str(e, "source"), "error",
                                                        get_str(e, "error"))) < 0;
        }
        if (bad) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

static int get_nodes_print_json(get_view *v, bool no_trunc)
{
    json_auto_t *out = json_pack("{s:o, s:o}", "images", get_nodes_json_images(v, no_trunc, false),
                                 "errors", get_nodes_json_errors(v));
    if (out && v->has_registry &&
        json_object_set_new(out, "not_in_registry", get_nodes_json_images(v, no_trunc, true)) < 0)
        return imgd_cli_fail(NULL);
    if (!out || v->failed)
        return imgd_cli_fail(NULL);
    return imgd_cli_print_json(out);
}

static int get_nodes_print(get_view *v, const imgd_cli_get_args *a, get_which which)
{
    bool answered = false;
    for (size_t i = 0; i < v->n_nodes; i++)
        answered |= v->nodes[i].answer != NULL;
    if (a->format == IMGD_CLI_GET_JSON)
        return get_nodes_print_json(v, a->no_trunc);
    if (!answered)
        return EXIT_SUCCESS;
    if (which == GET_ALL)
        fputs("Local images:\n", stdout);
    int r = get_nodes_table(v, a, false);
    if (r == EXIT_SUCCESS && v->has_registry) {
        fputs("\nNot in registry:\n", stdout);
        r = get_nodes_table(v, a, true);
    }
    return r;
}

/* A line on stderr for each node that failed and, unless the output is JSON (which holds them),
 * for each source a node could not list. Returns whether a node failed. */
static bool get_nodes_report(const get_view *v, bool json)
{
    bool failed = false;
    for (size_t i = 0; i < v->n_nodes; i++) {
        const get_node *node = &v->nodes[i];
        if (node->answer && !json)
            get_print_source_errors(node->answer, node->name);
        if (node->answer)
            continue;
        fprintf(stderr, "imgctl: node %s: %s\n", node->name,
                node->err ? node->err->message : "out of memory");
        failed = true;
    }
    return failed;
}

static int get_nodes_run(const imgd_cli_get_args *a, get_which which)
{
    _cleanup_(get_view_dispose) get_view v = {0};
    int r = get_nodes_parse(&v, a->nodes);
    if (r >= 0)
        return r;
    get_nodes_fetch(&v, a, which);
    get_view_collect(&v, which);
    if (v.failed)
        return imgd_cli_fail(NULL);
    r = get_nodes_print(&v, a, which);
    fflush(stdout); /* the errors after the lists */
    bool node_failed = get_nodes_report(&v, a->format == IMGD_CLI_GET_JSON);
    return r == EXIT_SUCCESS && node_failed ? EXIT_FAILURE : r;
}

/* ---- the command ---- */

int imgd_cli_get(const imgd_cli_get_args *a)
{
    static const char *const lists[] = {"local", "harbor", "all"}; /* in get_which order */
    size_t which = GET_LOCAL;
    while (a->which && which < IMGD_ARRAY_SIZE(lists) && strcmp(lists[which], a->which) != 0)
        which++;
    if (which == IMGD_ARRAY_SIZE(lists))
        return imgd_cli_usage_error("get: unknown list '%s': use local, harbor or all", a->which);
    if (which == GET_ALL && a->format == IMGD_CLI_GET_CSV)
        return imgd_cli_usage_error("get all prints two lists and a CSV holds one: use -o csv "
                                    "with local or harbor");
    if (which == GET_HARBOR && a->nodes)
        return imgd_cli_usage_error("get --nodes compares the nodes' local images: use local "
                                    "or all");
    return a->nodes ? get_nodes_run(a, (get_which)which) : get_single(a, (get_which)which);
}
