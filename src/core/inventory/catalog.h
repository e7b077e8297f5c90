/* SPDX-License-Identifier: MIT */
/* The images of any OCI distribution registry ("type: distribution"), through the Docker
 * registry v2 catalog: GET /v2/_catalog, then each repository's tags list, then each tag's
 * manifest, all with the authentication, retries and mirrors of imgd_registry sessions.
 *
 * Each tag costs one manifest GET: it gives the digest (of the bytes received) and the size,
 * counted as Harbor counts it, so both sources show the same figures: an image manifest's
 * bytes + its config's size + its (compressed) layers' sizes; an index's bytes + each child's
 * size counted the same way (one more GET per child, for the first
 * IMGD_CATALOG_INDEX_CHILDREN_MAX children; later children, and children that cannot be read,
 * count with the size their descriptor gives). A document that does not parse as a manifest or
 * index counts its own bytes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "core/registry/client.h"
#include "harbor.h"
#include "util/error.h"

/* Entries asked for per page of the catalog and of tags lists (?n=). */
#define IMGD_CATALOG_PAGE_SIZE 100
/* Children of an index whose manifests are fetched to count their sizes. */
#define IMGD_CATALOG_INDEX_CHILDREN_MAX 16

/* List the images of the registry at registry_host ("registry.example.com", "127.0.0.1:5000"):
 * one row per tag of every repository the catalog names, repositories and each one's tags in
 * lexical (strcmp) order, whatever order the registry sent. project is the first path component of
 * the repository name and repository the rest
 * ("team/app" -> "team", "app"); a name of one component is both ("app" -> "app", "app").
 * Pagination follows the Link rel="next" headers (resolved against the registry; a link to
 * another server is refused). Repositories and tags that vanish during the listing (404), or
 * that the credentials may not read (a token without pull on them), are left out.
 *
 * creds (may be NULL) override the configured ones. Repositories' tags and the manifests are
 * fetched by up to `parallel` threads (0: 8; capped at 64), each with its own session.
 *
 * Returns 0 with *out (free with imgd_remote_images_free; NULL when *n is 0) and *n. Errors:
 * -EACCES when the catalog needs credentials that are missing or refused, -ENOENT when the
 * registry has no catalog, -ECONNREFUSED / -ETIMEDOUT when it cannot be reached, -EPROTO for
 * malformed answers or links, -E2BIG past IMGD_REMOTE_ITEMS_MAX rows or repositories, -ENOMEM;
 * messages name the URL. Outputs are untouched on failure. Thread-safe (reg is). */
int imgd_catalog_list(imgd_remote_image **out, size_t *n, imgd_registry *reg,
                      const char *registry_host, const imgd_credentials *creds, unsigned parallel,
                      imgd_error **err);

/* The same with another page size (1 to 1000) for the catalog and tags lists; for tests that
 * need pagination on a handful of repositories. */
int imgd_catalog_list_paged(imgd_remote_image **out, size_t *n, imgd_registry *reg,
                            const char *registry_host, const imgd_credentials *creds,
                            unsigned parallel, unsigned page_size, imgd_error **err);

/* ---- pure parts, exposed for tests ---- */

/* True for a repository name of the distribution grammar (lower-case components of
 * [a-z0-9] joined by '.', '_', '__' or runs of '-', separated by '/'), at most 255 bytes. */
bool imgd_catalog_name_is_valid(const char *name);

/* True for a tag: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}. */
bool imgd_catalog_tag_is_valid(const char *tag);

/* The path and query to request after the page at path ("/v2/_catalog?n=100"), from that page's
 * Link header value (may be NULL or ""), relative to origin (e.g. "http://127.0.0.1:5000").
 * Returns 0 with *next a malloc'd path ("/v2/_catalog?last=a%2Fb&n=100") or NULL when there is
 * no next page; -EPROTO when the Link value is malformed or its target lies on another server;
 * -ENOMEM. */
int imgd_catalog_next_path(char **next, const char *origin, const char *path, const char *link,
                           imgd_error **err);
