/* SPDX-License-Identifier: MIT */
/* The pure parts of the catalog source: repository-name and tag grammar, and the next page's
 * path from a Link header (relative, query-only, absolute, on another server, malformed). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/inventory/catalog.h"

static void test_names(void **state)
{
    static const char *const good[] = {
        "a", "library/nginx", "a.b", "a_b", "a__b", "a---b", "a/b/c", "0abc", "x-1.y_z/w",
    };
    static const char *const bad[] = {
        "",   "A",  "a/", "/a",  "a//b", "a..b", "a___b", "-a",
        "a-", "a.", "_a", "a b", "a:b",  "a/B",  "a/.b",  "a/_catalog",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!imgd_catalog_name_is_valid(good[i]))
            fail_msg("'%s' should be valid", good[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (imgd_catalog_name_is_valid(bad[i]))
            fail_msg("'%s' should be invalid", bad[i]);
    }
    char longest[257];
    memset(longest, 'a', sizeof(longest));
    longest[255] = '\0';
    assert_true(imgd_catalog_name_is_valid(longest));
    longest[255] = 'a';
    longest[256] = '\0';
    assert_false(imgd_catalog_name_is_valid(longest));
}

static void test_tags(void **state)
{
    (void)state;
    assert_true(imgd_catalog_tag_is_valid("latest"));
    assert_true(imgd_catalog_tag_is_valid("v1.0"));
    assert_true(imgd_catalog_tag_is_valid("_x"));
    assert_true(imgd_catalog_tag_is_valid("A-b.c_D"));
    assert_false(imgd_catalog_tag_is_valid(""));
    assert_false(imgd_catalog_tag_is_valid(".x"));
    assert_false(imgd_catalog_tag_is_valid("-x"));
    assert_false(imgd_catalog_tag_is_valid("a/b"));
    assert_false(imgd_catalog_tag_is_valid("a:b"));
    assert_false(imgd_catalog_tag_is_valid("a b"));
    char tag[130];
    memset(tag, 'x', sizeof(tag));
    tag[128] = '\0';
    assert_true(imgd_catalog_tag_is_valid(tag));
    tag[128] = 'x';
    tag[129] = '\0';
    assert_false(imgd_catalog_tag_is_valid(tag));
}

#define ORIGIN "http://127.0.0.1:5000"

static const struct next_case {
    const char *path, *link, *want;
} next_cases[] = {
    {"/v2/_catalog?n=2", "</v2/_catalog?last=t%2Flatest&n=2>; rel=\"next\"",
     "/v2/_catalog?last=t%2Flatest&n=2"},
    {"/v2/a/b/tags/list?n=2", "</v2/a/b/tags/list?last=v1&n=2>; rel=\"next\"",
     "/v2/a/b/tags/list?last=v1&n=2"},
    {"/v2/_catalog?n=2", "<?last=x&n=2>; rel=next", "/v2/_catalog?last=x&n=2"},
    {"/v2/_catalog?n=2", "<http://127.0.0.1:5000/v2/_catalog?last=x>; rel=next",
     "/v2/_catalog?last=x"},
    {"/v2/_catalog?n=2", "</v2/_catalog?n=1>; rel=\"prev\"", NULL},
    {"/v2/_catalog?n=2", "", NULL},
    {"/v2/_catalog?n=2", NULL, NULL},
};

static void test_next_path(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(next_cases) / sizeof(next_cases[0]); i++) {
        const struct next_case *c = &next_cases[i];
        char *next = (char *)"untouched";
        imgd_error *err = NULL;
        int r = imgd_catalog_next_path(&next, ORIGIN, c->path, c->link, &err);
        if (r != 0)
            fail_msg("case %zu: %s", i, err ? err->message : "?");
        if (c->want)
            assert_string_equal(next, c->want);
        else
            assert_null(next);
        free(next);
    }
}

static void test_next_path_invalid(void **state)
{
    static const char *const links[] = {
        "<http://evil.example/v2/_catalog?last=x>; rel=next",
        "<https://127.0.0.1:5000/v2/_catalog?last=x>; rel=next",
        "<//127.0.0.1:5001/v2/_catalog>; rel=next",
        "<ftp://127.0.0.1:5000/x>; rel=next",
        "</v2/_catalog?last=x; rel=next",
        "garbage",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        char *next = (char *)"untouched";
        imgd_error *err = NULL;
        int r = imgd_catalog_next_path(&next, ORIGIN, "/v2/_catalog?n=2", links[i], &err);
        if (r != -EPROTO)
            fail_msg("case %zu gave %d", i, r);
        assert_int_equal(err->code, EPROTO);
        assert_non_null(strstr(err->message, ORIGIN "/v2/_catalog?n=2"));
        assert_string_equal(next, "untouched");
        imgd_error_free(err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_next_path),
        cmocka_unit_test(test_next_path_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
