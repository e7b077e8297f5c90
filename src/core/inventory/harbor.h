/* SPDX-License-Identifier: MIT */
/* The images of a Harbor registry, through its REST API v2.0: projects, their repositories and
 * the repositories' artifacts, as one row per (artifact, tag).
 *
 * Every request carries Basic credentials when some are given (never a session cookie, so
 * Harbor's CSRF check does not apply). Listings are read page by page (page_size at most 100,
 * Harbor's maximum), following Link rel="next" or X-Total-Count. The repositories' artifact
 * listings, and everything else that does not wait on an earlier answer, run concurrently on one
 * curl multi handle, at most `parallel` requests at a time, so hundreds of repositories do not
 * cost hundreds of serial round trips. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/* Most rows (and, separately, projects and repositories) one listing returns: -E2BIG beyond. */
#define IMGD_REMOTE_ITEMS_MAX 100000
/* Harbor's largest page_size; larger ones fail its parameter validation with 400. */
#define IMGD_HARBOR_PAGE_SIZE_MAX 100
/* Largest response body read (a page of 100 artifacts with their extra_attrs). */
#define IMGD_HARBOR_BODY_MAX (16u * 1024u * 1024u)

/* An image in a remote registry: one tag of one artifact. */
typedef struct imgd_remote_image {
    char *repository; /* owned; without the project prefix: "my-app", "team/app" */
    char *tag;        /* owned; "<none>" for an untagged artifact */
    char *digest;     /* owned; "sha256:..." */
    int64_t size;     /* bytes, as Harbor counts them (manifest + config + compressed layers;
                         an index: its bytes + its children's sizes) */
    char *project;    /* owned */
} imgd_remote_image;

/* Free n rows and the array; accepts NULL. */
void imgd_remote_images_free(imgd_remote_image *v, size_t n);

typedef struct imgd_harbor_options {
    const char *url;                 /* base, e.g. https://harbor.example.com (no /api) */
    const char *username, *password; /* may be NULL: anonymous (public projects only) */
    bool verify_tls;
    const char *project; /* NULL or "": all projects the caller sees; else that exact name */
    long timeout_ms;     /* per HTTP request; <= 0: 30 s */
    unsigned parallel;   /* requests in flight at most; 0: 8; capped at 64 */
    unsigned page_size;  /* 0: 100; capped at 100 (tests use small pages) */
} imgd_harbor_options;

/* List the images of the Harbor at o->url: one row per (artifact, tag), or one row with tag
 * "<none>" for an artifact without tags, in Harbor's order (projects, then each project's
 * repositories, then each repository's artifacts, as the API lists them). Untagged children of
 * an index are not listed (Harbor hides them by default).
 *
 * With credentials, GET /api/v2.0/users/current checks them first (Harbor treats wrong
 * credentials as anonymous on list endpoints): a 401 there is -EACCES; robot accounts get 412
 * there, which is fine.
 *
 * Returns 0 with *out (an array the caller frees with imgd_remote_images_free; NULL when *n is 0)
 * and *n. Errors: -EINVAL "Harbor configuration incomplete" when the URL is empty, or a URL that
 * is not http(s) or holds credentials; -EACCES for refused credentials or a project the caller
 * may not see; -ENOENT when o->project does not exist; -ECONNREFUSED (also for a host that does
 * not resolve), -ETIMEDOUT, -EPROTO (TLS failures, unexpected statuses, malformed answers),
 * -E2BIG past IMGD_REMOTE_ITEMS_MAX, -ENOMEM. Messages are one line, name the URL, and never
 * hold the password. Outputs are untouched on failure. Thread-safe (no shared state). */
int imgd_harbor_list(imgd_remote_image **out, size_t *n, const imgd_harbor_options *o,
                     imgd_error **err);

/* ---- pure parts, exposed for tests ---- */

/* A repository name (without the project) as a path segment of the artifacts endpoint:
 * percent-encoded twice, as Harbor wants it ("a/b" -> "a%252Fb"; only A-Z a-z 0-9 - . _ ~ stay
 * as they are). Malloc'd, caller frees; NULL on allocation failure. */
char *imgd_harbor_escape_repository(const char *name);

/* A project name as a path segment: percent-encoded once. Malloc'd; NULL on allocation failure. */
char *imgd_harbor_escape_project(const char *name);

/* The Repository object's name with "<project>/" removed ("library/nginx" -> "nginx"); the whole
 * name when it lacks that prefix. Borrowed from name. */
const char *imgd_harbor_strip_project(const char *name, const char *project);

/* The "name" members of a page of Project or Repository objects (a JSON array), with
 * strip_project (may be NULL) removed from each as imgd_harbor_strip_project does. Returns 0 with
 * a NULL-terminated vector (free with imgd_strv_free; an empty page gives an empty vector),
 * -EPROTO when the page is not an array of objects with a non-empty string name, -ENOMEM. */
int imgd_harbor_decode_names(char ***out, const json_t *page, const char *strip_project,
                             imgd_error **err);

/* The rows of a page of Artifact objects (a JSON array) of one repository: one per tag (its
 * "name"), in the order of "tags", or one with tag "<none>" when "tags" is null, absent or empty.
 * A missing or negative size counts as 0. Returns 0 with *out (NULL when *n is 0) and *n, -EPROTO
 * for a page that is not an array, an artifact without a digest imgd_digest_validate() accepts,
 * tags that are not an array, or a tag without a name; -ENOMEM. */
int imgd_harbor_decode_artifacts(imgd_remote_image **out, size_t *n, const json_t *page,
                                 const char *project, const char *repository, imgd_error **err);

/* Whether another page follows page number `page` of size page_size: when a Link header value
 * is given (non-empty), it decides (a rel="next" link in it); else X-Total-Count (total, may be
 * NULL) does (page * page_size < total); with neither, there is no next page. A Link value that
 * does not parse counts as absent. */
bool imgd_harbor_has_next(const char *link, const char *total, unsigned page, unsigned page_size);
