/* SPDX-License-Identifier: MIT */
#include "harbor.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/registry/reference.h"
#include "link.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/json.h"
#include "util/strutil.h"

#define HARBOR_PARALLEL_DEFAULT 8u
#define HARBOR_PARALLEL_MAX     64u
#define HARBOR_TIMEOUT_DEFAULT  30000L
#define HARBOR_ATTEMPTS         3u     /* tries per request for 429, 502-504, dropped connections */
#define HARBOR_PAGES_MAX        10000u /* per listing */
#define HARBOR_JSON_DEPTH       64u
#define HARBOR_UNTAGGED         "<none>"

/* ---- rows ---- */

void imgd_remote_images_free(imgd_remote_image *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++) {
        free(v[i].repository);
        free(v[i].tag);
        free(v[i].digest);
        free(v[i].project);
    }
    free(v);
}

static int harbor_row_set(imgd_remote_image *row, const char *project, const char *repository,
                          const char *tag, const char *digest, int64_t size)
{
    row->project = strdup(project);
    row->repository = strdup(repository);
    row->tag = strdup(tag);
    row->digest = strdup(digest);
    row->size = size;
    return row->project && row->repository && row->tag && row->digest ? 0 : -ENOMEM;
}

/* ---- pure parts ---- */

static bool harbor_is_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Percent-encode every byte but the unreserved ones; twice when twice is set, which turns
 * "%2F" into "%252F". */
static char *harbor_escape(const char *s, bool twice)
{
    static const char hex[] = "0123456789ABCDEF";
    imgd_buf b = {0};
    imgd_buf_append(&b, "", 0);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (harbor_is_unreserved(*p)) {
            imgd_buf_append(&b, p, 1);
            continue;
        }
        char esc[5] = {'%', '2', '5', hex[*p >> 4], hex[*p & 15]};
        if (twice)
            imgd_buf_append(&b, esc, 5);
        else
            imgd_buf_append(&b, (const char[]){'%', esc[3], esc[4]}, 3);
    }
    return imgd_buf_steal(&b, NULL);
}

char *imgd_harbor_escape_repository(const char *name)
{
    return harbor_escape(name, true);
}

char *imgd_harbor_escape_project(const char *name)
{
    return harbor_escape(name, false);
}

const char *imgd_harbor_strip_project(const char *name, const char *project)
{
    size_t n = project ? strlen(project) : 0;
    if (n && strncmp(name, project, n) == 0 && name[n] == '/' && name[n + 1] != '\0')
        return name + n + 1;
    return name;
}

int imgd_harbor_decode_names(char ***out, const json_t *page, const char *strip_project,
                             imgd_error **err)
{
    if (!json_is_array(page))
        return imgd_error_set(err, EPROTO, "expected a JSON array");
    size_t count = json_array_size(page);
    char **v = calloc(count + 1, sizeof(*v));
    if (!v)
        return imgd_error_set(err, ENOMEM, "out of memory");
    for (size_t i = 0; i < count; i++) {
        const char *name = imgd_json_get_string(json_array_get(page, i), "name");
        if (!name || !*name) {
            imgd_strv_free(v);
            return imgd_error_set(err, EPROTO, "entry %zu has no name", i);
        }
        if (!(v[i] = strdup(imgd_harbor_strip_project(name, strip_project)))) {
            imgd_strv_free(v);
            return imgd_error_set(err, ENOMEM, "out of memory");
        }
    }
    *out = v;
    return 0;
}

/* How many rows an artifact gives, after checking its digest and tags. */
static int harbor_artifact_rows(size_t *rows, const json_t *a, size_t i, imgd_error **err)
{
    const char *digest = imgd_json_get_string(a, "digest");
    if (!digest || imgd_digest_validate(digest, NULL) < 0)
        return imgd_error_set(err, EPROTO, "artifact %zu has no valid digest", i);
    const json_t *tags = json_object_get(a, "tags");
    if (tags && !json_is_null(tags) && !json_is_array(tags))
        return imgd_error_set(err, EPROTO, "artifact %zu has tags that are not an array", i);
    size_t n = json_array_size(tags);
    for (size_t k = 0; k < n; k++) {
        const char *name = imgd_json_get_string(json_array_get(tags, k), "name");
        if (!name || !*name)
            return imgd_error_set(err, EPROTO, "artifact %zu has a tag without a name", i);
    }
    *rows = n ? n : 1;
    return 0;
}

static int harbor_fill_rows(imgd_remote_image *v, size_t count, const json_t *page,
                            const char *project, const char *repository)
{
    size_t k = 0, i;
    const json_t *a;
    json_array_foreach (page, i, a) {
        const char *digest = imgd_json_get_string(a, "digest");
        const json_t *size = json_object_get(a, "size");
        int64_t bytes = json_is_integer(size) && json_integer_value(size) > 0
                            ? (int64_t)json_integer_value(size)
                            : 0;
        const json_t *tags = json_object_get(a, "tags");
        size_t n = json_array_size(tags);
        for (size_t t = 0; t < (n ? n : 1) && k < count; t++) {
            const char *tag =
                n ? imgd_json_get_string(json_array_get(tags, t), "name") : HARBOR_UNTAGGED;
            if (harbor_row_set(&v[k++], project, repository, tag, digest, bytes) < 0)
                return -ENOMEM;
        }
    }
    return 0;
}

int imgd_harbor_decode_artifacts(imgd_remote_image **out, size_t *n, const json_t *page,
                                 const char *project, const char *repository, imgd_error **err)
{
    if (!json_is_array(page))
        return imgd_error_set(err, EPROTO, "expected a JSON array");
    size_t total = 0, i;
    const json_t *a;
    json_array_foreach (page, i, a) {
        size_t rows = 0;
        int r = harbor_artifact_rows(&rows, a, i, err);
        if (r < 0)
            return r;
        total += rows;
        if (total > IMGD_REMOTE_ITEMS_MAX)
            return imgd_error_set(err, E2BIG, "more than %d rows in one page",
                                  IMGD_REMOTE_ITEMS_MAX);
    }
    if (total == 0) {
        *out = NULL;
        *n = 0;
        return 0;
    }
    imgd_remote_image *v = calloc(total, sizeof(*v));
    if (!v)
        return imgd_error_set(err, ENOMEM, "out of memory");
    if (harbor_fill_rows(v, total, page, project, repository) < 0) {
        imgd_remote_images_free(v, total);
        return imgd_error_set(err, ENOMEM, "out of memory");
    }
    *out = v;
    *n = total;
    return 0;
}

bool imgd_harbor_has_next(const char *link, const char *total, unsigned page, unsigned page_size)
{
    if (link && *link) {
        char *next = NULL;
        if (imgd_link_next(&next, link, NULL) == 0) {
            bool more = next != NULL;
            free(next);
            return more;
        }
    }
    int64_t t = 0;
    if (!total || imgd_parse_int64(&t, total) < 0 || t <= 0)
        return false;
    return (uint64_t)page * page_size < (uint64_t)t;
}

/* ---- the crawl: jobs on one curl multi handle ---- */

typedef enum harbor_kind {
    HARBOR_USER,      /* GET /users/current: are the credentials good? */
    HARBOR_PROJECTS,  /* a page of all projects */
    HARBOR_PROJECT,   /* the one project asked for */
    HARBOR_REPOS,     /* a page of a project's repositories */
    HARBOR_ARTIFACTS, /* a page of a repository's artifacts */
} harbor_kind;

typedef struct harbor_job {
    harbor_kind kind;
    size_t project, repo; /* indices into the crawl's arrays (which grow) */
    unsigned page, attempt;
    int64_t not_before; /* ms, monotonic: a retry waits until then */
    struct harbor_job *next;
    /* while in flight */
    CURL *curl;
    struct curl_slist *headers;
    char *url;
    char *errbuf;
    imgd_buf body, link;
    char total[32];
    bool too_big, link_too_long;
} harbor_job;

typedef struct harbor_repo {
    char *name; /* without the project */
    imgd_remote_image *rows;
    size_t n_rows;
} harbor_repo;

typedef struct harbor_project {
    char *name;
    harbor_repo *repos;
    size_t n_repos;
} harbor_project;

typedef struct harbor_crawl {
    const imgd_harbor_options *o;
    char *base; /* the URL without trailing '/' */
    unsigned parallel, page_size, running;
    long timeout_ms;
    CURLM *multi;
    harbor_job *queue, *queue_tail; /* ready to start, first in first out */
    harbor_job *delayed;            /* retries waiting for their time */
    harbor_job *active;             /* in flight */
    harbor_project *projects;
    size_t n_projects, n_repos, n_rows;
} harbor_crawl;

static int64_t harbor_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void harbor_job_reset(harbor_job *j)
{
    if (j->curl)
        curl_easy_cleanup(j->curl);
    j->curl = NULL;
    curl_slist_free_all(j->headers);
    j->headers = NULL;
    free(j->url);
    j->url = NULL;
    free(j->errbuf);
    j->errbuf = NULL;
    imgd_buf_dispose(&j->body);
    imgd_buf_dispose(&j->link);
    j->total[0] = '\0';
    j->too_big = j->link_too_long = false;
}

static void harbor_job_free(harbor_job *j)
{
    if (!j)
        return;
    harbor_job_reset(j);
    free(j);
}

static void harbor_free_list(harbor_job *j)
{
    while (j) {
        harbor_job *next = j->next;
        harbor_job_free(j);
        j = next;
    }
}

static int harbor_enqueue(harbor_crawl *c, harbor_kind kind, size_t project, size_t repo,
                          unsigned page, imgd_error **err)
{
    harbor_job *j = calloc(1, sizeof(*j));
    if (!j)
        return imgd_error_set(err, ENOMEM, "out of memory");
    *j = (harbor_job){.kind = kind, .project = project, .repo = repo, .page = page};
    if (c->queue_tail)
        c->queue_tail->next = j;
    else
        c->queue = j;
    c->queue_tail = j;
    return 0;
}

static harbor_job *harbor_dequeue(harbor_crawl *c)
{
    harbor_job *j = c->queue;
    c->queue = j->next;
    if (!c->queue)
        c->queue_tail = NULL;
    j->next = NULL;
    return j;
}

/* Move the retries whose time has come to the front of the queue; returns how long until the
 * next one is due (ms), or -1 when none waits. */
static long harbor_promote(harbor_crawl *c)
{
    int64_t now = harbor_now_ms(), wait = -1;
    harbor_job **pp = &c->delayed;
    while (*pp) {
        harbor_job *j = *pp;
        if (j->not_before <= now) {
            *pp = j->next;
            j->next = c->queue;
            c->queue = j;
            if (!c->queue_tail)
                c->queue_tail = j;
            continue;
        }
        if (wait < 0 || j->not_before - now < wait)
            wait = j->not_before - now;
        pp = &j->next;
    }
    return (long)wait;
}

static void harbor_unlink_active(harbor_crawl *c, harbor_job *j)
{
    for (harbor_job **pp = &c->active; *pp; pp = &(*pp)->next) {
        if (*pp == j) {
            *pp = j->next;
            j->next = NULL;
            return;
        }
    }
}

/* ---- one request ---- */

static size_t harbor_on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    harbor_job *j = userdata;
    size_t n = size * nmemb;
    if (j->body.len + n > IMGD_HARBOR_BODY_MAX) {
        j->too_big = true;
        return 0;
    }
    return imgd_buf_append(&j->body, data, n) == 0 ? n : 0;
}

/* The value of a header line "Name: value\r\n" after name_len bytes, trimmed. */
static void harbor_header_value(const char **v, size_t *vn, const char *line, size_t n,
                                size_t name_len)
{
    *v = line + name_len;
    *vn = n - name_len;
    while (*vn && (**v == ' ' || **v == '\t')) {
        (*v)++;
        (*vn)--;
    }
    while (*vn && ((*v)[*vn - 1] == '\r' || (*v)[*vn - 1] == '\n' || (*v)[*vn - 1] == ' '))
        (*vn)--;
}

static size_t harbor_on_header(char *line, size_t size, size_t nitems, void *userdata)
{
    harbor_job *j = userdata;
    size_t n = size * nitems, vn = 0;
    const char *v = NULL;
    if (n > 5 && strncmp(line, "HTTP/", 5) == 0) { /* a new response, after a redirect */
        imgd_buf_dispose(&j->link);
        j->total[0] = '\0';
        j->link_too_long = false;
    } else if (n > 14 && strncasecmp(line, "x-total-count:", 14) == 0) {
        harbor_header_value(&v, &vn, line, n, 14);
        snprintf(j->total, sizeof(j->total), "%.*s", (int)(vn < 31 ? vn : 31), v);
    } else if (n > 5 && strncasecmp(line, "link:", 5) == 0) {
        harbor_header_value(&v, &vn, line, n, 5);
        if (j->link.len + vn + 2 > IMGD_LINK_HEADER_MAX)
            j->link_too_long = true;
        else if (j->link.len) /* several Link headers are one list */
            imgd_buf_append(&j->link, ", ", 2);
        if (!j->link_too_long)
            imgd_buf_append(&j->link, v, vn);
    }
    return n;
}

static char *harbor_job_url(const harbor_crawl *c, const harbor_job *j)
{
    const harbor_project *p = j->kind >= HARBOR_REPOS ? &c->projects[j->project] : NULL;
    const char *project = p ? p->name : j->kind == HARBOR_PROJECT ? c->o->project : NULL;
    _cleanup_free_ char *proj = project ? imgd_harbor_escape_project(project) : NULL;
    _cleanup_free_ char *repo = p && j->kind == HARBOR_ARTIFACTS
                                    ? imgd_harbor_escape_repository(p->repos[j->repo].name)
                                    : NULL;
    char *url = NULL;
    int r = -1;
    if ((project && !proj) || (j->kind == HARBOR_ARTIFACTS && !repo))
        return NULL;
    if (j->kind == HARBOR_USER)
        r = asprintf(&url, "%s/api/v2.0/users/current", c->base);
    else if (j->kind == HARBOR_PROJECTS)
        r = asprintf(&url, "%s/api/v2.0/projects?page=%u&page_size=%u", c->base, j->page,
                     c->page_size);
    else if (j->kind == HARBOR_PROJECT)
        r = asprintf(&url, "%s/api/v2.0/projects/%s", c->base, proj);
    else if (j->kind == HARBOR_REPOS)
        r = asprintf(&url, "%s/api/v2.0/projects/%s/repositories?page=%u&page_size=%u", c->base,
                     proj, j->page, c->page_size);
    else
        r = asprintf(&url,
                     "%s/api/v2.0/projects/%s/repositories/%s/artifacts?with_tag=true"
                     "&page=%u&page_size=%u",
                     c->base, proj, repo, j->page, c->page_size);
    return r < 0 ? NULL : url;
}

static int harbor_setup(const harbor_crawl *c, harbor_job *j)
{
    CURL *h = j->curl;
    bool bad = false;
    bad |= curl_easy_setopt(h, CURLOPT_URL, j->url) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, j->headers) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK;
    /* a redirect to another host does not get the credentials (no CURLOPT_UNRESTRICTED_AUTH) */
    bad |= curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_USERAGENT, "imgd") != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, harbor_on_header) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_HEADERDATA, j) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, harbor_on_body) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_WRITEDATA, j) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_PRIVATE, j) != CURLE_OK;
    bad |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, j->errbuf) != CURLE_OK;
    if (!c->o->verify_tls) {
        bad |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L) != CURLE_OK;
        bad |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK;
    }
    if (c->o->username && *c->o->username) {
        bad |= curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) != CURLE_OK;
        bad |= curl_easy_setopt(h, CURLOPT_USERNAME, c->o->username) != CURLE_OK;
        bad |=
            curl_easy_setopt(h, CURLOPT_PASSWORD, c->o->password ? c->o->password : "") != CURLE_OK;
    }
    return bad ? -ENOMEM : 0;
}

static int harbor_start(harbor_crawl *c, harbor_job *j, imgd_error **err)
{
    j->url = harbor_job_url(c, j);
    j->curl = curl_easy_init();
    j->errbuf = calloc(1, CURL_ERROR_SIZE);
    j->headers = curl_slist_append(NULL, "Accept: application/json");
    struct curl_slist *h = j->headers;
    if (h && j->kind == HARBOR_PROJECT) /* {name} is a name even when it looks like an ID */
        h = curl_slist_append(h, "X-Is-Resource-Name: true");
    int r = j->url && j->curl && j->errbuf && h ? harbor_setup(c, j) : -ENOMEM;
    if (r == 0 && curl_multi_add_handle(c->multi, j->curl) != CURLM_OK)
        r = -ENOMEM;
    if (r < 0) {
        harbor_job_free(j);
        return imgd_error_set(err, ENOMEM, "out of memory");
    }
    j->next = c->active;
    c->active = j;
    c->running++;
    return 0;
}

/* ---- answers ---- */

static const char *harbor_path(const harbor_crawl *c, const harbor_job *j)
{
    return j->url + strlen(c->base);
}

static bool harbor_transient(CURLcode rc)
{
    return rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR || rc == CURLE_GOT_NOTHING ||
           rc == CURLE_PARTIAL_FILE || rc == CURLE_HTTP2 || rc == CURLE_HTTP2_STREAM;
}

static int harbor_curl_error(const harbor_crawl *c, const harbor_job *j, CURLcode rc,
                             imgd_error **err)
{
    if (j->too_big)
        return imgd_error_set(err, EPROTO, "Harbor at %s: GET %s: answer larger than %u bytes",
                              c->base, harbor_path(c, j), IMGD_HARBOR_BODY_MAX);
    int code = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                       rc == CURLE_COULDNT_RESOLVE_PROXY
                   ? ECONNREFUSED
               : rc == CURLE_OPERATION_TIMEDOUT ? ETIMEDOUT
                                                : EPROTO;
    const char *detail = j->errbuf && *j->errbuf ? j->errbuf : curl_easy_strerror(rc);
    return imgd_error_set(err, code, "Harbor at %s: %s", c->base, detail);
}

/* "CODE: message" of a Harbor error body ({"errors":[{"code","message"}]}), or "". */
static void harbor_error_text(char *out, size_t len, const imgd_buf *body)
{
    out[0] = '\0';
    if (!body->data || body->len > 65536)
        return;
    json_auto_t *doc = json_loadb(body->data, body->len, 0, NULL);
    const json_t *first = json_array_get(json_object_get(doc, "errors"), 0);
    const char *code = imgd_json_get_string(first, "code");
    const char *msg = imgd_json_get_string(first, "message");
    if (code || msg)
        snprintf(out, len, "%s%s%s", code ? code : "", code && msg ? ": " : "", msg ? msg : "");
}

static int harbor_status_error(const harbor_crawl *c, const harbor_job *j, long status,
                               imgd_error **err)
{
    const char *who = c->o->username && *c->o->username ? c->o->username : "anonymous";
    if (j->kind == HARBOR_PROJECT && status == 404)
        return imgd_error_set(err, ENOENT, "Harbor at %s has no project '%s'", c->base,
                              c->o->project);
    if (j->kind == HARBOR_PROJECT && (status == 401 || status == 403))
        return imgd_error_set(err, EACCES, "Harbor at %s: project '%s' is not visible to %s",
                              c->base, c->o->project, who);
    char text[256];
    harbor_error_text(text, sizeof(text), &j->body);
    int code = status == 401 || status == 403 ? EACCES : EPROTO;
    return imgd_error_set(err, code, "Harbor at %s: GET %s: HTTP %ld%s%.200s", c->base,
                          harbor_path(c, j), status, *text ? " " : "", text);
}

/* Queue the next page of j's listing when there is one. */
static int harbor_next_page(harbor_crawl *c, const harbor_job *j, size_t got, imgd_error **err)
{
    if (got == 0 || j->link_too_long ||
        !imgd_harbor_has_next(j->link.data, j->total, j->page, c->page_size))
        return 0;
    if (j->page >= HARBOR_PAGES_MAX)
        return imgd_error_set(err, E2BIG, "Harbor at %s: GET %s: more than %u pages", c->base,
                              harbor_path(c, j), HARBOR_PAGES_MAX);
    return harbor_enqueue(c, j->kind, j->project, j->repo, j->page + 1, err);
}

static int harbor_add_project(harbor_crawl *c, const char *name, imgd_error **err)
{
    if (c->n_projects >= IMGD_REMOTE_ITEMS_MAX)
        return imgd_error_set(err, E2BIG, "Harbor at %s lists more than %d projects", c->base,
                              IMGD_REMOTE_ITEMS_MAX);
    harbor_project *v = realloc(c->projects, (c->n_projects + 1) * sizeof(*v));
    if (!v)
        return imgd_error_set(err, ENOMEM, "out of memory");
    c->projects = v;
    v[c->n_projects] = (harbor_project){.name = strdup(name)};
    if (!v[c->n_projects].name)
        return imgd_error_set(err, ENOMEM, "out of memory");
    c->n_projects++;
    return harbor_enqueue(c, HARBOR_REPOS, c->n_projects - 1, 0, 1, err);
}

static int harbor_add_repo(harbor_crawl *c, size_t project, const char *name, imgd_error **err)
{
    harbor_project *p = &c->projects[project];
    if (c->n_repos >= IMGD_REMOTE_ITEMS_MAX)
        return imgd_error_set(err, E2BIG, "Harbor at %s lists more than %d repositories", c->base,
                              IMGD_REMOTE_ITEMS_MAX);
    harbor_repo *v = realloc(p->repos, (p->n_repos + 1) * sizeof(*v));
    if (!v)
        return imgd_error_set(err, ENOMEM, "out of memory");
    p->repos = v;
    v[p->n_repos] = (harbor_repo){.name = strdup(name)};
    if (!v[p->n_repos].name)
        return imgd_error_set(err, ENOMEM, "out of memory");
    p->n_repos++;
    c->n_repos++;
    return harbor_enqueue(c, HARBOR_ARTIFACTS, project, p->n_repos - 1, 1, err);
}

static int harbor_on_projects(harbor_crawl *c, const harbor_job *j, const json_t *doc,
                              imgd_error **err)
{
    _cleanup_strv_ char **names = NULL;
    int r = imgd_harbor_decode_names(&names, doc, NULL, err);
    if (r < 0 || !names)
        return r;
    for (size_t i = 0; r == 0 && names[i]; i++)
        r = harbor_add_project(c, names[i], err);
    return r < 0 ? r : harbor_next_page(c, j, imgd_strv_length(names), err);
}

static int harbor_on_project(harbor_crawl *c, const json_t *doc, imgd_error **err)
{
    const char *name = imgd_json_get_string(doc, "name");
    if (!name || strcmp(name, c->o->project) != 0) /* a Harbor that took the name for an ID */
        return imgd_error_set(err, ENOENT, "Harbor at %s has no project '%s'", c->base,
                              c->o->project);
    return harbor_add_project(c, name, err);
}

static int harbor_on_repos(harbor_crawl *c, const harbor_job *j, const json_t *doc,
                           imgd_error **err)
{
    _cleanup_strv_ char **names = NULL;
    int r = imgd_harbor_decode_names(&names, doc, c->projects[j->project].name, err);
    if (r < 0 || !names)
        return r;
    for (size_t i = 0; r == 0 && names[i]; i++)
        r = harbor_add_repo(c, j->project, names[i], err);
    return r < 0 ? r : harbor_next_page(c, j, imgd_strv_length(names), err);
}

static int harbor_on_artifacts(harbor_crawl *c, const harbor_job *j, const json_t *doc,
                               imgd_error **err)
{
    harbor_project *p = &c->projects[j->project];
    harbor_repo *repo = &p->repos[j->repo];
    imgd_remote_image *rows = NULL;
    size_t n = 0;
    int r = imgd_harbor_decode_artifacts(&rows, &n, doc, p->name, repo->name, err);
    if (r < 0 || !rows)
        return r;
    if (c->n_rows + n > IMGD_REMOTE_ITEMS_MAX) {
        imgd_remote_images_free(rows, n);
        return imgd_error_set(err, E2BIG, "Harbor at %s lists more than %d images", c->base,
                              IMGD_REMOTE_ITEMS_MAX);
    }
    imgd_remote_image *v = realloc(repo->rows, (repo->n_rows + n) * sizeof(*v));
    if (!v) {
        imgd_remote_images_free(rows, n);
        return imgd_error_set(err, ENOMEM, "out of memory");
    }
    memcpy(v + repo->n_rows, rows, n * sizeof(*v));
    repo->rows = v;
    repo->n_rows += n;
    c->n_rows += n;
    free(rows); /* the strings moved */
    return harbor_next_page(c, j, json_array_size(doc), err);
}

static int harbor_on_json(harbor_crawl *c, const harbor_job *j, imgd_error **err)
{
    json_auto_t *doc = NULL;
    imgd_error *inner = NULL;
    int r = j->body.data
                ? imgd_json_parse(&doc, j->body.data, j->body.len, HARBOR_JSON_DEPTH, &inner)
                : -EINVAL;
    if (r < 0) {
        r = imgd_error_set(err, EPROTO, "Harbor at %s: GET %s: %s", c->base, harbor_path(c, j),
                           inner ? inner->message : "empty answer");
        imgd_error_free(inner);
        return r;
    }
    if (j->kind == HARBOR_PROJECTS)
        r = harbor_on_projects(c, j, doc, err);
    else if (j->kind == HARBOR_PROJECT)
        r = harbor_on_project(c, doc, err);
    else if (j->kind == HARBOR_REPOS)
        r = harbor_on_repos(c, j, doc, err);
    else
        r = harbor_on_artifacts(c, j, doc, err);
    if (r == -EPROTO) /* a malformed page: say which */
        imgd_error_prefix(err, "Harbor at %s: GET %s", c->base, harbor_path(c, j));
    return r;
}

static int harbor_answer(harbor_crawl *c, const harbor_job *j, CURLcode rc, long status,
                         imgd_error **err)
{
    if (rc != CURLE_OK)
        return harbor_curl_error(c, j, rc, err);
    if (j->kind == HARBOR_USER) {
        /* 412: a robot account, which has no user record; other answers say nothing about the
         * credentials (an old Harbor without the endpoint, a proxy) and the listing decides */
        if (status == 401)
            return imgd_error_set(err, EACCES, "Harbor at %s refused the credentials of '%s'",
                                  c->base, c->o->username);
        return 0;
    }
    if (status == 404 && (j->kind == HARBOR_REPOS || j->kind == HARBOR_ARTIFACTS))
        return 0; /* deleted while we were listing */
    if (status < 200 || status >= 300)
        return harbor_status_error(c, j, status, err);
    return harbor_on_json(c, j, err);
}

/* A request is done: answer it, or put it back for a retry. Takes j. */
static int harbor_finish(harbor_crawl *c, harbor_job *j, CURLcode rc, imgd_error **err)
{
    long status = 0;
    curl_easy_getinfo(j->curl, CURLINFO_RESPONSE_CODE, &status);
    bool again = rc == CURLE_OK ? status == 429 || (status >= 502 && status <= 504)
                                : harbor_transient(rc) && !j->too_big;
    if (again && j->attempt + 1 < HARBOR_ATTEMPTS) {
        harbor_job_reset(j);
        j->attempt++;
        j->not_before = harbor_now_ms() + (100L << j->attempt);
        j->next = c->delayed;
        c->delayed = j;
        return 0;
    }
    int r = harbor_answer(c, j, rc, status, err);
    harbor_job_free(j);
    return r;
}

/* ---- the loop ---- */

static int harbor_collect(harbor_crawl *c, imgd_error **err)
{
    CURLMsg *m;
    int left = 0, r = 0;
    while (r == 0 && (m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *h = m->easy_handle;
        CURLcode rc = m->data.result; /* m is gone once the handle is removed */
        harbor_job *j = NULL;
        curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&j);
        curl_multi_remove_handle(c->multi, h);
        harbor_unlink_active(c, j);
        c->running--;
        r = harbor_finish(c, j, rc, err);
    }
    return r;
}

static int harbor_run(harbor_crawl *c, imgd_error **err)
{
    int r = 0;
    while (r == 0 && (c->running || c->queue || c->delayed)) {
        harbor_promote(c);
        while (r == 0 && c->queue && c->running < c->parallel)
            r = harbor_start(c, harbor_dequeue(c), err);
        int still = 0;
        if (r == 0 && curl_multi_perform(c->multi, &still) != CURLM_OK)
            r = imgd_error_set(err, EIO, "Harbor at %s: libcurl failed", c->base);
        if (r == 0)
            r = harbor_collect(c, err);
        long wait = harbor_promote(c); /* the answers may have put retries aside */
        if (r < 0 || (c->queue && c->running < c->parallel))
            continue;
        if (c->running || c->delayed)
            curl_multi_poll(c->multi, NULL, 0, wait >= 0 && wait < 1000 ? (int)wait : 1000, NULL);
    }
    return r;
}

/* ---- the listing ---- */

static int harbor_base(char **out, const char *url, imgd_error **err)
{
    if (!url || !*url)
        return imgd_error_set(err, EINVAL, "Harbor configuration incomplete");
    size_t skip = strncasecmp(url, "http://", 7) == 0    ? 7
                  : strncasecmp(url, "https://", 8) == 0 ? 8
                                                         : 0;
    if (!skip)
        return imgd_error_set(err, EINVAL, "Harbor URL must start with http:// or https://");
    size_t auth = strcspn(url + skip, "/?#");
    if (memchr(url + skip, '@', auth))
        return imgd_error_set(err, EINVAL, "Harbor URL must not hold credentials");
    if (auth == 0 || strpbrk(url, "?# \t\r\n"))
        return imgd_error_set(err, EINVAL, "Harbor URL must be scheme://host[:port][/path]");
    size_t n = strlen(url);
    while (n > skip + auth && url[n - 1] == '/')
        n--;
    if (!(*out = strndup(url, n)))
        return imgd_error_set(err, ENOMEM, "out of memory");
    return 0;
}

static void harbor_crawl_dispose(harbor_crawl *c)
{
    for (harbor_job *j = c->active; j; j = j->next)
        curl_multi_remove_handle(c->multi, j->curl);
    harbor_free_list(c->active);
    harbor_free_list(c->queue);
    harbor_free_list(c->delayed);
    if (c->multi)
        curl_multi_cleanup(c->multi);
    for (size_t i = 0; i < c->n_projects; i++) {
        for (size_t k = 0; k < c->projects[i].n_repos; k++) {
            free(c->projects[i].repos[k].name);
            imgd_remote_images_free(c->projects[i].repos[k].rows, c->projects[i].repos[k].n_rows);
        }
        free(c->projects[i].name);
        free(c->projects[i].repos);
    }
    free(c->projects);
    free(c->base);
}

/* Move every repository's rows into one array, in the order of the listings. */
static int harbor_rows(imgd_remote_image **out, size_t *n, harbor_crawl *c, imgd_error **err)
{
    if (c->n_rows == 0) {
        *out = NULL;
        *n = 0;
        return 0;
    }
    imgd_remote_image *v = calloc(c->n_rows, sizeof(*v));
    if (!v)
        return imgd_error_set(err, ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < c->n_projects; i++) {
        for (size_t r = 0; r < c->projects[i].n_repos; r++) {
            harbor_repo *repo = &c->projects[i].repos[r];
            assert(k + repo->n_rows <= c->n_rows);
            if (repo->n_rows)
                memcpy(v + k, repo->rows, repo->n_rows * sizeof(*v));
            k += repo->n_rows;
            free(repo->rows);
            repo->rows = NULL;
            repo->n_rows = 0;
        }
    }
    *out = v;
    *n = k;
    return 0;
}

static void harbor_curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int imgd_harbor_list(imgd_remote_image **out, size_t *n, const imgd_harbor_options *o,
                     imgd_error **err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, harbor_curl_init);
    harbor_crawl c = {
        .o = o,
        .parallel = o->parallel ? o->parallel : HARBOR_PARALLEL_DEFAULT,
        .page_size = o->page_size ? o->page_size : IMGD_HARBOR_PAGE_SIZE_MAX,
        .timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : HARBOR_TIMEOUT_DEFAULT,
    };
    if (c.parallel > HARBOR_PARALLEL_MAX)
        c.parallel = HARBOR_PARALLEL_MAX;
    if (c.page_size > IMGD_HARBOR_PAGE_SIZE_MAX)
        c.page_size = IMGD_HARBOR_PAGE_SIZE_MAX;
    int r = harbor_base(&c.base, o->url, err);
    if (r == 0 && !(c.multi = curl_multi_init()))
        r = imgd_error_set(err, ENOMEM, "out of memory");
    if (r == 0) {
        curl_multi_setopt(c.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)c.parallel);
        curl_multi_setopt(c.multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c.parallel);
    }
    if (r == 0 && o->username && *o->username)
        r = harbor_enqueue(&c, HARBOR_USER, 0, 0, 0, err);
    if (r == 0)
        r = harbor_enqueue(&c, o->project && *o->project ? HARBOR_PROJECT : HARBOR_PROJECTS, 0, 0,
                           1, err);
    if (r == 0)
        r = harbor_run(&c, err);
    if (r == 0)
        r = harbor_rows(out, n, &c, err);
    harbor_crawl_dispose(&c);
    return r;
}
