/* SPDX-License-Identifier: MIT */
/* cri-probe: the CRI client (core/cri) from the command line, for the integration tests.
 *
 *     cri-probe [OPTIONS] list ENDPOINT
 *     cri-probe [OPTIONS] version ENDPOINT
 *     cri-probe [OPTIONS] status ENDPOINT IMAGE
 *     cri-probe [OPTIONS] resolve [CONFIGURED [CRICTL_YAML]]
 *
 * Prints one JSON object on stdout: the answer in crictl's `-o json` shape (size as a decimal
 * string, uid as {"value": "N"} and only when set), plus "api" (the package that answered) and
 * "requests" (every gRPC path sent, in order; " (no message)" marks a request sent without a
 * message). On failure: the error message on stderr and exit
 * status 1 (2 for usage errors).
 *
 * Options: --timeout MS (default 5000); --repeat N (make the call N times; the output describes
 * the last one, "requests" lists all); --v1-package NAME (test hook: ask NAME instead of
 * runtime.v1, which a runtime answers UNIMPLEMENTED, to exercise the v1alpha2 fallback). */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cri/cri.h"
#include "util/strutil.h"

static json_t *requests_sent; /* paths seen by the counting transport */

static int counting_transport(imgd_buf *body, long *grpc_status, char **grpc_message,
                              const char *socket, const char *path, const void *request,
                              size_t request_len, long timeout_ms, imgd_error **err)
{
    /* a request without a message is the client's race-free re-ask (see cri.c) */
    char entry[512];
    snprintf(entry, sizeof(entry), "%s%s", path, request ? "" : " (no message)");
    json_array_append_new(requests_sent, json_string(entry));
    return imgd_cri_transport_curl(body, grpc_status, grpc_message, socket, path, request,
                                   request_len, timeout_ms, err);
}

static json_t *strv_json(char *const *v)
{
    json_t *a = json_array();
    for (; v && *v; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

static json_t *image_json(const imgd_cri_image *img)
{
    char size[32];
    snprintf(size, sizeof(size), "%llu", (unsigned long long)img->size);
    json_t *o =
        json_pack("{s:s, s:o, s:o, s:s}", "id", img->id, "repoTags", strv_json(img->repo_tags),
                  "repoDigests", strv_json(img->repo_digests), "size", size);
    if (img->has_uid) {
        char uid[32];
        snprintf(uid, sizeof(uid), "%lld", (long long)img->uid);
        json_object_set_new(o, "uid", json_pack("{s:s}", "value", uid));
    }
    json_object_set_new(o, "username", json_string(img->username));
    json_object_set_new(o, "pinned", json_boolean(img->pinned));
    return o;
}

static int cmd_list(json_t *out, const char *endpoint, long timeout_ms, imgd_error **err)
{
    imgd_cri_image *v = NULL;
    size_t n = 0;
    int r = imgd_cri_list_images(&v, &n, endpoint, timeout_ms, err);
    if (r < 0)
        return r;
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, image_json(&v[i]));
    json_object_set_new(out, "images", a);
    imgd_cri_images_free(v, n);
    return 0;
}

static int cmd_status(json_t *out, const char *endpoint, const char *image, long timeout_ms,
                      imgd_error **err)
{
    imgd_cri_image img = {0};
    bool found = false;
    int r = imgd_cri_image_status(&img, &found, endpoint, image, timeout_ms, err);
    if (r < 0)
        return r;
    json_object_set_new(out, "found", json_boolean(found));
    json_object_set_new(out, "image", found ? image_json(&img) : json_null());
    imgd_cri_image_dispose(&img);
    return 0;
}

static int cmd_version(json_t *out, const char *endpoint, long timeout_ms, imgd_error **err)
{
    imgd_cri_version v = {0};
    int r = imgd_cri_get_version(&v, endpoint, timeout_ms, err);
    if (r < 0)
        return r;
    json_object_set_new(out, "version", json_string(v.version));
    json_object_set_new(out, "runtimeName", json_string(v.runtime_name));
    json_object_set_new(out, "runtimeVersion", json_string(v.runtime_version));
    json_object_set_new(out, "runtimeApiVersion", json_string(v.runtime_api_version));
    imgd_cri_version_dispose(&v);
    return 0;
}

static int cmd_resolve(json_t *out, int argc, char **argv, imgd_error **err)
{
    char endpoint[IMGD_CRI_ENDPOINT_MAX];
    const char *source = NULL;
    int r = imgd_cri_endpoint_resolve(endpoint, sizeof(endpoint), &source,
                                      argc > 0 ? argv[0] : NULL, argc > 1 ? argv[1] : NULL, err);
    if (r < 0)
        return r;
    json_object_set_new(out, "endpoint", json_string(endpoint));
    json_object_set_new(out, "source", json_string(source));
    return 0;
}

/* True when argv (command and operands) is a command run() knows. */
static bool valid_command(int argc, char **argv)
{
    const char *cmd = argv[0];
    return (strcmp(cmd, "resolve") == 0 && argc <= 3) ||
           ((strcmp(cmd, "list") == 0 || strcmp(cmd, "version") == 0) && argc == 2) ||
           (strcmp(cmd, "status") == 0 && argc == 3);
}

/* Run the command once; out is replaced by its answer. */
static int run(json_t **out, int argc, char **argv, long timeout_ms, imgd_error **err)
{
    json_decref(*out);
    *out = json_object();
    const char *cmd = argv[0];
    if (strcmp(cmd, "resolve") == 0)
        return cmd_resolve(*out, argc - 1, argv + 1, err);
    if (strcmp(cmd, "list") == 0)
        return cmd_list(*out, argv[1], timeout_ms, err);
    if (strcmp(cmd, "version") == 0)
        return cmd_version(*out, argv[1], timeout_ms, err);
    return cmd_status(*out, argv[1], argv[2], timeout_ms, err);
}

static void usage(FILE *f)
{
    fputs("usage: cri-probe [--timeout MS] [--repeat N] [--v1-package NAME]\n"
          "                 list ENDPOINT | version ENDPOINT | status ENDPOINT IMAGE |\n"
          "                 resolve [CONFIGURED [CRICTL_YAML]]\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"timeout", required_argument, NULL, 't'},
                                         {"repeat", required_argument, NULL, 'r'},
                                         {"v1-package", required_argument, NULL, 'p'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int64_t timeout_ms = 5000, repeat = 1;
    imgd_cri_test_hooks hooks = {.transport = counting_transport};
    int c;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        if ((c == 't' && imgd_parse_int64(&timeout_ms, optarg) == 0) ||
            (c == 'r' && imgd_parse_int64(&repeat, optarg) == 0 && repeat >= 1)) {
            continue;
        } else if (c == 'p') {
            hooks.v1_package = optarg;
        } else {
            usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    if (optind >= argc || !valid_command(argc - optind, argv + optind)) {
        usage(stderr);
        return 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("cri-probe: curl_global_init failed\n", stderr);
        return 1;
    }
    requests_sent = json_array();
    imgd_cri_test_set_hooks(&hooks);

    json_t *out = NULL;
    imgd_error *err = NULL;
    int r = 0;
    for (int64_t i = 0; i < repeat && r == 0; i++)
        r = run(&out, argc - optind, argv + optind, (long)timeout_ms, &err);
    int status = 0;
    if (r < 0) {
        fprintf(stderr, "cri-probe: %s\n", err ? err->message : strerror(-r));
        status = 1;
    } else {
        const char *api = argc - optind > 1 ? imgd_cri_endpoint_api(argv[optind + 1]) : NULL;
        json_object_set_new(out, "api", api ? json_string(api) : json_null());
        json_object_set(out, "requests", requests_sent);
        json_dumpf(out, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    }
    json_decref(out);
    json_decref(requests_sent);
    imgd_error_free(err);
    imgd_cri_test_set_hooks(NULL);
    curl_global_cleanup();
    return status;
}
