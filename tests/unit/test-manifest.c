/* SPDX-License-Identifier: MIT */
/* OCI / Docker manifests, indexes and configs: kinds, platform choice, and what is refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/store/manifest.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static int parse(imgd_manifest *m, const char *text, const char *ct, imgd_error **err)
{
    return imgd_manifest_parse(m, text, strlen(text), ct, err);
}

static void expect_error(const char *text, const char *ct, int code, const char *needle)
{
    imgd_manifest m;
    imgd_error *err = NULL;
    assert_int_equal(parse(&m, text, ct, &err), -code);
    assert_non_null(err);
    if (!strstr(err->message, needle))
        fail_msg("'%s' does not say '%s'", err->message, needle);
    imgd_error_free(err);
}

static void test_image_manifest(void **state)
{
    (void)state;
    static const char oci[] =
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" D1
        "\",\"size\":10},\"layers\":[{\"mediaType\":\"application/"
        "vnd.oci.image.layer.v1.tar+gzip\","
        "\"digest\":\"" D2 "\",\"size\":20,\"urls\":[\"http://x/y\"]}]}";
    imgd_manifest m;
    imgd_error *err = NULL;
    assert_int_equal(
        parse(&m, oci, "application/vnd.oci.image.manifest.v1+json; charset=utf-8", &err), 0);
    assert_int_equal(m.kind, IMGD_MANIFEST_IMAGE);
    assert_string_equal(m.media_type, IMGD_MT_OCI_MANIFEST);
    assert_string_equal(m.config.digest, D1);
    assert_int_equal(m.config.size, 10);
    assert_int_equal(m.n_layers, 1);
    assert_string_equal(m.layers[0].digest, D2);
    assert_string_equal(m.layers[0].urls[0], "http://x/y");
    imgd_manifest_dispose(&m);
    /* no content type and no mediaType: the structure decides */
    static const char bare[] =
        "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a\",\"digest\":\"" D1
        "\",\"size\":1},\"layers\":[]}";
    assert_int_equal(parse(&m, bare, NULL, &err), 0);
    assert_int_equal(m.kind, IMGD_MANIFEST_IMAGE);
    imgd_manifest_dispose(&m);
}

static const char index_json[] =
    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":["
    "{\"mediaType\":\"application/vnd.in-toto+json\",\"digest\":\"" D3 "\",\"size\":1,"
    "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D3 "\","
    "\"size\":1,\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"}},"
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D1 "\","
    "\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
    "{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"digest\":\"" D2
    "\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}}"
    "]}";

static void test_index_and_platforms(void **state)
{
    (void)state;
    imgd_manifest m;
    imgd_error *err = NULL;
    assert_int_equal(parse(&m, index_json, NULL, &err), 0);
    assert_int_equal(m.kind, IMGD_MANIFEST_INDEX);
    assert_int_equal(m.n_manifests, 4);
    const imgd_descriptor *d = NULL;
    imgd_platform p;
    imgd_platform_default(&p);
    assert_int_equal(imgd_manifest_select(&d, &m, &p, &err), 0);
    assert_string_equal(d->digest, D1); /* the attestation and the in-toto entry are skipped */
    assert_int_equal(imgd_platform_parse(&p, "linux/aarch64", &err), 0);
    assert_int_equal(imgd_manifest_select(&d, &m, &p, &err), 0);
    assert_string_equal(d->digest, D2);
    assert_int_equal(imgd_platform_parse(&p, "linux/s390x", &err), 0);
    assert_int_equal(imgd_manifest_select(&d, &m, &p, &err), -ENOENT);
    assert_non_null(strstr(err->message, "no image for platform linux/s390x"));
    assert_non_null(strstr(err->message, "offered: linux/amd64, linux/arm64"));
    assert_null(strstr(err->message, "unknown"));
    imgd_error_free(err);
    imgd_manifest_dispose(&m);
}

static void test_refused_documents(void **state)
{
    (void)state;
    expect_error("{\"schemaVersion\":1,\"name\":\"x\"}", NULL, EINVAL, "schema 1");
    expect_error("{}", "application/vnd.docker.distribution.manifest.v1+prettyjws", EINVAL,
                 "schema 1");
    expect_error("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
                 "\"manifests\":[]}",
                 IMGD_MT_OCI_MANIFEST, EINVAL, "contradicts");
    expect_error("[1,2]", NULL, EINVAL, "not a JSON object");
    expect_error("{\"mediaType\":\"text/plain\"}", NULL, EOPNOTSUPP, "unsupported media type");
    expect_error("{\"config\":{\"mediaType\":\"a\",\"digest\":\"sha512:abc\",\"size\":1},"
                 "\"layers\":[]}",
                 NULL, EOPNOTSUPP, "unsupported digest");
    expect_error("{\"config\":{\"mediaType\":\"a\",\"digest\":\"" D1 "\",\"size\":-1},"
                 "\"layers\":[]}",
                 NULL, EINVAL, "size >= 0");
    expect_error("{\"config\":{\"mediaType\":\"a\",\"digest\":\"" D1 "\",\"size\":1},"
                 "\"layers\":{}}",
                 NULL, EINVAL, "must be an array");
    expect_error("{\"config\":{\"mediaType\":\"a\",\"digest\":\"sha256:XYZ\",\"size\":1},"
                 "\"layers\":[]}",
                 NULL, EINVAL, "invalid digest");
}

static void test_config(void **state)
{
    (void)state;
    static const char cfg[] =
        "{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\","
        "\"created\":\"2024-01-01T00:00:00Z\",\"rootfs\":{\"type\":\"layers\","
        "\"diff_ids\":[\"" D1 "\",\"" D2 "\"]},\"config\":{\"Cmd\":null}}";
    imgd_image_config c;
    imgd_error *err = NULL;
    assert_int_equal(imgd_image_config_parse(&c, cfg, strlen(cfg), &err), 0);
    assert_string_equal(c.architecture, "arm64");
    assert_string_equal(c.variant, "v8");
    assert_string_equal(c.created, "2024-01-01T00:00:00Z");
    assert_int_equal(c.n_diff_ids, 2);
    assert_string_equal(c.diff_ids[1], D2);
    imgd_image_config_dispose(&c);
    static const char bad[] = "{\"architecture\":\"x\",\"os\":\"linux\",\"rootfs\":{\"type\":"
                              "\"other\",\"diff_ids\":[]}}";
    assert_int_equal(imgd_image_config_parse(&c, bad, strlen(bad), &err), -EINVAL);
    assert_non_null(strstr(err->message, "type 'layers'"));
    imgd_error_free(err);
    err = NULL;
    static const char no_os[] = "{\"architecture\":\"x\",\"rootfs\":{\"type\":\"layers\","
                                "\"diff_ids\":[]}}";
    assert_int_equal(imgd_image_config_parse(&c, no_os, strlen(no_os), &err), -EINVAL);
    imgd_error_free(err);
}

static void test_layer_compression(void **state)
{
    (void)state;
    static const struct {
        const char *mt;
        int r;
        imgd_compression c;
    } cases[] = {
        {"application/vnd.oci.image.layer.v1.tar", 0, IMGD_COMPRESSION_NONE},
        {"application/vnd.oci.image.layer.v1.tar+gzip", 0, IMGD_COMPRESSION_GZIP},
        {"application/vnd.oci.image.layer.v1.tar+zstd", 0, IMGD_COMPRESSION_ZSTD},
        {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", 0, IMGD_COMPRESSION_GZIP},
        {"application/vnd.docker.image.rootfs.diff.tar.gzip", 0, IMGD_COMPRESSION_GZIP},
        {"application/vnd.docker.image.rootfs.diff.tar", 0, IMGD_COMPRESSION_DETECT},
        {"application/vnd.docker.image.rootfs.diff.tar.zstd", 0, IMGD_COMPRESSION_ZSTD},
        {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", 0, IMGD_COMPRESSION_GZIP},
        {"application/vnd.oci.image.layer.v1.tar+gzip+encrypted", -EOPNOTSUPP, 0},
        {"application/vnd.in-toto+json", -EOPNOTSUPP, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        imgd_compression c = IMGD_COMPRESSION_NONE;
        int r = imgd_layer_compression(&c, cases[i].mt);
        if (r != cases[i].r || (r == 0 && c != cases[i].c))
            fail_msg("%s: got %d/%d", cases[i].mt, r, c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_image_manifest),    cmocka_unit_test(test_index_and_platforms),
        cmocka_unit_test(test_refused_documents), cmocka_unit_test(test_config),
        cmocka_unit_test(test_layer_compression),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
