/* SPDX-License-Identifier: MIT */
/* The pure parts of the Harbor source: the double encoding of repository names, the project
 * prefix, decoding Project/Repository/Artifact pages into names and rows (untagged artifacts
 * included), and the next-page decision from Link and X-Total-Count. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/inventory/harbor.h"
#include "util/strutil.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    if (!v)
        fail_msg("bad test JSON: %s", e.text);
    return v;
}

static void test_escape(void **state)
{
    static const char *const cases[][2] = {
        {"nginx", "nginx"},
        {"team/app", "team%252Fapp"},
        {"a/b/c", "a%252Fb%252Fc"},
        {"x.y_z-~0", "x.y_z-~0"},
        {"a b", "a%2520b"},
        {"%", "%2525"},
        {"", ""},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = imgd_harbor_escape_repository(cases[i][0]);
        assert_non_null(got);
        assert_string_equal(got, cases[i][1]);
        free(got);
    }
    char *p = imgd_harbor_escape_project("my project/1");
    assert_string_equal(p, "my%20project%2F1");
    free(p);
    p = imgd_harbor_escape_project("library");
    assert_string_equal(p, "library");
    free(p);
}

static void test_strip_project(void **state)
{
    (void)state;
    assert_string_equal(imgd_harbor_strip_project("library/nginx", "library"), "nginx");
    assert_string_equal(imgd_harbor_strip_project("library/a/b", "library"), "a/b");
    assert_string_equal(imgd_harbor_strip_project("other/x", "library"), "other/x");
    assert_string_equal(imgd_harbor_strip_project("libraryx/y", "library"), "libraryx/y");
    assert_string_equal(imgd_harbor_strip_project("library", "library"), "library");
    assert_string_equal(imgd_harbor_strip_project("library/", "library"), "library/");
    assert_string_equal(imgd_harbor_strip_project("library/nginx", NULL), "library/nginx");
    assert_string_equal(imgd_harbor_strip_project("library/nginx", ""), "library/nginx");
}

static void test_decode_names(void **state)
{
    (void)state;
    json_t *page = parse("[{\"project_id\":1,\"name\":\"library\",\"metadata\":{\"public\":"
                         "\"true\"}},{\"name\":\"apps\"}]");
    char **names = NULL;
    assert_int_equal(imgd_harbor_decode_names(&names, page, NULL, NULL), 0);
    assert_int_equal(imgd_strv_length(names), 2);
    assert_string_equal(names[0], "library");
    assert_string_equal(names[1], "apps");
    imgd_strv_free(names);
    json_decref(page);

    page = parse("[{\"id\":3,\"name\":\"library/team/app\",\"artifact_count\":1},"
                 "{\"name\":\"library/nginx\"},{\"name\":\"elsewhere/x\"}]");
    assert_int_equal(imgd_harbor_decode_names(&names, page, "library", NULL), 0);
    assert_int_equal(imgd_strv_length(names), 3);
    assert_string_equal(names[0], "team/app");
    assert_string_equal(names[1], "nginx");
    assert_string_equal(names[2], "elsewhere/x");
    imgd_strv_free(names);
    json_decref(page);

    page = parse("[]");
    names = NULL;
    assert_int_equal(imgd_harbor_decode_names(&names, page, NULL, NULL), 0);
    assert_non_null(names);
    assert_null(names[0]);
    imgd_strv_free(names);
    json_decref(page);
}

static void test_decode_names_invalid(void **state)
{
    static const char *const pages[] = {
        "{\"name\":\"x\"}",  "[{\"id\":1}]",  "[{\"name\":1}]",
        "[{\"name\":\"\"}]", "[\"library\"]", "null",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        json_t *page = parse(pages[i]);
        char **names = (char **)(uintptr_t)1;
        imgd_error *err = NULL;
        assert_int_equal(imgd_harbor_decode_names(&names, page, NULL, &err), -EPROTO);
        assert_non_null(err);
        assert_ptr_equal(names, (char **)(uintptr_t)1);
        imgd_error_free(err);
        json_decref(page);
    }
}

static void expect_row(const imgd_remote_image *r, const char *tag, const char *digest,
                       int64_t size)
{
    assert_string_equal(r->project, "library");
    assert_string_equal(r->repository, "team/app");
    assert_string_equal(r->tag, tag);
    assert_string_equal(r->digest, digest);
    assert_int_equal(r->size, size);
}

static void test_decode_artifacts(void **state)
{
    (void)state;
    json_t *page = parse("["
                         "{\"id\":9,\"digest\":\"" D1 "\",\"size\":250000000,\"tags\":["
                         "{\"id\":1,\"name\":\"1.25\",\"immutable\":false},{\"name\":\"latest\"}],"
                         "\"references\":null,\"extra_attrs\":{\"os\":\"linux\"}},"
                         "{\"digest\":\"" D2 "\",\"size\":117234567,\"tags\":null},"
                         "{\"digest\":\"" D3 "\",\"size\":5000000000000,\"tags\":[]},"
                         "{\"digest\":\"" D1 "\"},"
                         "{\"digest\":\"" D2 "\",\"size\":-5}"
                         "]");
    imgd_remote_image *rows = NULL;
    size_t n = 0;
    assert_int_equal(imgd_harbor_decode_artifacts(&rows, &n, page, "library", "team/app", NULL), 0);
    assert_int_equal(n, 6);
    expect_row(&rows[0], "1.25", D1, 250000000);
    expect_row(&rows[1], "latest", D1, 250000000);
    expect_row(&rows[2], "<none>", D2, 117234567);
    expect_row(&rows[3], "<none>", D3, 5000000000000);
    expect_row(&rows[4], "<none>", D1, 0);
    expect_row(&rows[5], "<none>", D2, 0);
    imgd_remote_images_free(rows, n);
    json_decref(page);

    page = parse("[]");
    rows = (imgd_remote_image *)(uintptr_t)1;
    assert_int_equal(imgd_harbor_decode_artifacts(&rows, &n, page, "p", "r", NULL), 0);
    assert_null(rows);
    assert_int_equal(n, 0);
    json_decref(page);
    imgd_remote_images_free(NULL, 0);
}

static void test_decode_artifacts_invalid(void **state)
{
    static const char *const pages[] = {
        "{}",
        "[{\"size\":1}]",
        "[{\"digest\":\"sha256:xyz\"}]",
        "[{\"digest\":7}]",
        "[{\"digest\":\"" D1 "\",\"tags\":\"latest\"}]",
        "[{\"digest\":\"" D1 "\",\"tags\":[{\"id\":1}]}]",
        "[{\"digest\":\"" D1 "\",\"tags\":[{\"name\":\"\"}]}]",
        "[{\"digest\":\"" D1 "\"}, 5]",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        json_t *page = parse(pages[i]);
        imgd_remote_image *rows = (imgd_remote_image *)(uintptr_t)1;
        size_t n = 77;
        imgd_error *err = NULL;
        int r = imgd_harbor_decode_artifacts(&rows, &n, page, "p", "r", &err);
        if (r != -EPROTO)
            fail_msg("case %zu gave %d", i, r);
        assert_int_equal(err->code, EPROTO);
        assert_ptr_equal(rows, (imgd_remote_image *)(uintptr_t)1);
        assert_int_equal(n, 77);
        imgd_error_free(err);
        json_decref(page);
    }
}

static void test_has_next(void **state)
{
    (void)state;
    const char *harbor = "</api/v2.0/projects?page=1&page_size=10>; rel=\"prev\" , "
                         "</api/v2.0/projects?page=3&page_size=10>; rel=\"next\"";
    assert_true(imgd_harbor_has_next(harbor, "25", 2, 10));
    /* a Link header decides over X-Total-Count */
    assert_false(imgd_harbor_has_next("</x?page=1>; rel=\"prev\"", "1000", 2, 10));
    assert_true(imgd_harbor_has_next(harbor, "0", 2, 10));
    /* without one, the total does */
    assert_true(imgd_harbor_has_next(NULL, "150", 1, 100));
    assert_false(imgd_harbor_has_next(NULL, "150", 2, 100));
    assert_false(imgd_harbor_has_next("", "100", 1, 100));
    assert_true(imgd_harbor_has_next("", "101", 1, 100));
    assert_false(imgd_harbor_has_next(NULL, "0", 1, 100));
    assert_false(imgd_harbor_has_next(NULL, "-4", 1, 100));
    assert_false(imgd_harbor_has_next(NULL, "12x", 1, 100));
    assert_false(imgd_harbor_has_next(NULL, NULL, 1, 100));
    /* a malformed Link counts as absent */
    assert_true(imgd_harbor_has_next("garbage", "30", 1, 10));
    assert_false(imgd_harbor_has_next(NULL, "9223372036854775807", 4294967295u, 4294967295u));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),           cmocka_unit_test(test_strip_project),
        cmocka_unit_test(test_decode_names),     cmocka_unit_test(test_decode_names_invalid),
        cmocka_unit_test(test_decode_artifacts), cmocka_unit_test(test_decode_artifacts_invalid),
        cmocka_unit_test(test_has_next),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
