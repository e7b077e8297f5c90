/* SPDX-License-Identifier: MIT */
/* inv-probe: the remote inventory sources (src/core/inventory harbor.c and catalog.c) without a
 * daemon around them, for the integration tests.
 *
 *   inv-probe harbor URL [--user U --password P] [--project P] [--no-verify] [--parallel N]
 *                        [--page-size N] [--timeout-ms N]
 *   inv-probe catalog HOST [--user U --password P] [--parallel N] [--page-size N]
 *
 * Prints {"rows": [{"project","repository","tag","digest","size"}, ...]} and exits 0, or
 * {"error": {"errno": N, "code": "EACCES", "message": "..."}} and exits 1; 2 for usage errors. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/inventory/catalog.h"
#include "core/inventory/harbor.h"
#include "core/registry/client.h"
#include "util/error.h"

typedef struct probe_args {
    const char *user, *password, *project;
    bool verify;
    unsigned parallel, page_size;
    long timeout_ms;
} probe_args;

static int probe_usage(void)
{
    fprintf(stderr, "usage: inv-probe harbor URL [--user U --password P] [--project P] "
                    "[--no-verify] [--parallel N] [--page-size N] [--timeout-ms N]\n"
                    "       inv-probe catalog HOST [--user U --password P] [--parallel N] "
                    "[--page-size N]\n");
    return 2;
}

static int probe_print_rows(const imgd_remote_image *rows, size_t n)
{
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:I}", "project",
                                              rows[i].project, "repository", rows[i].repository,
                                              "tag", rows[i].tag, "digest", rows[i].digest, "size",
                                              (json_int_t)rows[i].size));
    json_t *doc = json_pack("{s:o}", "rows", list);
    json_dumpf(doc, stdout, JSON_INDENT(1) | JSON_SORT_KEYS);
    fputc('\n', stdout);
    json_decref(doc);
    return 0;
}

static int probe_print_error(int r, const imgd_error *e)
{
    const char *name = strerrorname_np(-r);
    json_t *doc = json_pack("{s:{s:i, s:s, s:s}}", "error", "errno", -r, "code", name ? name : "?",
                            "message", e ? e->message : "(no message)");
    json_dumpf(doc, stdout, JSON_INDENT(1) | JSON_SORT_KEYS);
    fputc('\n', stdout);
    json_decref(doc);
    return 1;
}

static int probe_harbor(const char *url, const probe_args *a)
{
    imgd_harbor_options o = {
        .url = url,
        .username = a->user,
        .password = a->password,
        .verify_tls = a->verify,
        .project = a->project,
        .timeout_ms = a->timeout_ms,
        .parallel = a->parallel,
        .page_size = a->page_size,
    };
    imgd_remote_image *rows = NULL;
    size_t n = 0;
    imgd_error *err = NULL;
    int r = imgd_harbor_list(&rows, &n, &o, &err);
    r = r < 0 ? probe_print_error(r, err) : probe_print_rows(rows, n);
    imgd_remote_images_free(rows, n);
    imgd_error_free(err);
    return r;
}

static int probe_catalog(const char *host, const probe_args *a)
{
    imgd_registry_options ro = {.connect_timeout = 5, .stall_timeout = 30, .attempts = 2};
    imgd_credentials creds = {.username = (char *)a->user, .password = (char *)a->password};
    imgd_registry *reg = NULL;
    imgd_remote_image *rows = NULL;
    size_t n = 0;
    imgd_error *err = NULL;
    int r = imgd_registry_new(&reg, &ro, &err);
    if (r == 0)
        r = imgd_catalog_list_paged(&rows, &n, reg, host, a->user ? &creds : NULL, a->parallel,
                                    a->page_size ? a->page_size : IMGD_CATALOG_PAGE_SIZE, &err);
    r = r < 0 ? probe_print_error(r, err) : probe_print_rows(rows, n);
    imgd_remote_images_free(rows, n);
    imgd_registry_free(reg);
    imgd_error_free(err);
    return r;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"user", required_argument, NULL, 'u'},       {"password", required_argument, NULL, 'p'},
        {"project", required_argument, NULL, 'P'},    {"no-verify", no_argument, NULL, 'k'},
        {"parallel", required_argument, NULL, 'j'},   {"page-size", required_argument, NULL, 'n'},
        {"timeout-ms", required_argument, NULL, 't'}, {NULL, 0, NULL, 0},
    };
    probe_args a = {.verify = true};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'u')
            a.user = optarg;
        else if (c == 'p')
            a.password = optarg;
        else if (c == 'P')
            a.project = optarg;
        else if (c == 'k')
            a.verify = false;
        else if (c == 'j')
            a.parallel = (unsigned)strtoul(optarg, NULL, 10);
        else if (c == 'n')
            a.page_size = (unsigned)strtoul(optarg, NULL, 10);
        else if (c == 't')
            a.timeout_ms = strtol(optarg, NULL, 10);
        else
            return probe_usage();
    }
    if (argc - optind != 2)
        return probe_usage();
    if (strcmp(argv[optind], "harbor") == 0)
        return probe_harbor(argv[optind + 1], &a);
    if (strcmp(argv[optind], "catalog") == 0) {
        if (a.page_size > 1000)
            return probe_usage();
        return probe_catalog(argv[optind + 1], &a);
    }
    return probe_usage();
}
