/* SPDX-License-Identifier: MIT */
/* Link headers (distribution's and Harbor's forms, quoting, several relations, the malformed
 * ones), URL resolution (RFC 3986 §5.4 examples, Harbor's unescaped queries) and the
 * same-origin check. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/inventory/link.h"

static const struct next_case {
    const char *header;
    const char *next; /* NULL: no next link */
} next_cases[] = {
    {"</v2/_catalog?last=t%2Flatest&n=2>; rel=\"next\"", "/v2/_catalog?last=t%2Flatest&n=2"},
    /* Harbor: entries joined by " , " */
    {"</api/v2.0/projects?page=1&page_size=10>; rel=\"prev\" , "
     "</api/v2.0/projects?page=3&page_size=10>; rel=\"next\"",
     "/api/v2.0/projects?page=3&page_size=10"},
    {"</api/v2.0/projects?page=1&page_size=10>; rel=\"prev\"", NULL},
    {"", NULL},
    {"   ", NULL},
    {" , ,", NULL},
    /* unquoted, upper-case, in a list of relation types, extra spaces and tabs */
    {"<a>; rel=next", "a"},
    {"<a>;rel=NEXT", "a"},
    {"<a>; rel=\"prev next\"", "a"},
    {"<a> ;\trel = \"next\" ", "a"},
    {"<a>; rel=\"nextpage\"", NULL},
    /* only the first rel of a link counts */
    {"<a>; rel=\"prev\"; rel=\"next\"", NULL},
    {"<a>; rel=\"prev\"; rel=\"next\", <b>; rel=next", "b"},
    /* other parameters, with commas and escapes in quoted values */
    {"<a>; title=\"x, y; z\"; rel=\"next\"", "a"},
    {"<a>; title=\"\\\"q\\\"\"; rel=next; type=\"text/html\"", "a"},
    {"<a>; anchor; rel=next", "a"},
    {"<a>;; rel=next;", "a"},
    /* commas and (Harbor's unescaped query) spaces inside the target */
    {"</x?a=1,2&q=name=~a b>; rel=\"next\"", "/x?a=1,2&q=name=~a b"},
    /* the first next link wins; empty list elements are skipped */
    {", <a>; rel=next , <b>; rel=next ,", "a"},
    {"<https://other.example/v2/x>; rel=\"next\"", "https://other.example/v2/x"},
    /* whatever follows the next link is not looked at */
    {"<a>; rel=next, garbage", "a"},
};

static void test_next(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(next_cases) / sizeof(next_cases[0]); i++) {
        const struct next_case *c = &next_cases[i];
        char *out = (char *)"untouched";
        imgd_error *err = NULL;
        int r = imgd_link_next(&out, c->header, &err);
        if (r != 0)
            fail_msg("case %zu (%s): %s", i, c->header, err ? err->message : "?");
        assert_null(err);
        if (c->next)
            assert_string_equal(out, c->next);
        else
            assert_null(out);
        free(out);
    }
}

static const char *const bad_headers[] = {
    "garbage",
    "a, <b>; rel=next", /* a malformed entry before the next link */
    "<unterminated; rel=next",
    "<>; rel=next",
    "<a> rel=next",
    "<a>; rel=",
    "<a>; rel=\"next",
    "<a>; =\"x\"",
    "<a>; rel=next <b>",
    "<a>; rel=\"next\"\r\nX-Injected: 1",
    "<a\x01>; rel=next",
    "<a>; rel=@",
};

static void test_next_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_headers) / sizeof(bad_headers[0]); i++) {
        char *out = (char *)"untouched";
        imgd_error *err = NULL;
        int r = imgd_link_next(&out, bad_headers[i], &err);
        if (r != -EINVAL)
            fail_msg("case %zu (%s) gave %d", i, bad_headers[i], r);
        assert_non_null(err);
        assert_int_equal(err->code, EINVAL);
        assert_non_null(strstr(err->message, "invalid Link header"));
        assert_null(strchr(err->message, '\n'));
        assert_string_equal(out, "untouched");
        imgd_error_free(err);
    }
}

static void test_next_bound(void **state)
{
    (void)state;
    size_t n = IMGD_LINK_HEADER_MAX + 1;
    char *h = malloc(n + 1);
    assert_non_null(h);
    memset(h, ' ', n);
    memcpy(h, "<a>; rel=next", 13);
    h[n] = '\0';
    char *out = NULL;
    imgd_error *err = NULL;
    assert_int_equal(imgd_link_next(&out, h, &err), -EINVAL);
    assert_null(out);
    imgd_error_free(err);
    h[n - 1] = '\0'; /* exactly the limit */
    assert_int_equal(imgd_link_next(&out, h, NULL), 0);
    assert_string_equal(out, "a");
    free(out);
    free(h);
}

#define RFC_BASE "http://a/b/c/d;p?q"

static const struct resolve_case {
    const char *base, *ref, *want;
} resolve_cases[] = {
    /* RFC 3986 §5.4.1 normal examples (fragments are dropped) */
    {RFC_BASE, "g", "http://a/b/c/g"},
    {RFC_BASE, "./g", "http://a/b/c/g"},
    {RFC_BASE, "g/", "http://a/b/c/g/"},
    {RFC_BASE, "/g", "http://a/g"},
    {RFC_BASE, "//g", "http://g"},
    {RFC_BASE, "?y", "http://a/b/c/d;p?y"},
    {RFC_BASE, "g?y", "http://a/b/c/g?y"},
    {RFC_BASE, "#s", "http://a/b/c/d;p?q"},
    {RFC_BASE, "g#s", "http://a/b/c/g"},
    {RFC_BASE, "g?y#s", "http://a/b/c/g?y"},
    {RFC_BASE, ";x", "http://a/b/c/;x"},
    {RFC_BASE, "g;x", "http://a/b/c/g;x"},
    {RFC_BASE, "g;x?y#s", "http://a/b/c/g;x?y"},
    {RFC_BASE, "", "http://a/b/c/d;p?q"},
    {RFC_BASE, ".", "http://a/b/c/"},
    {RFC_BASE, "./", "http://a/b/c/"},
    {RFC_BASE, "..", "http://a/b/"},
    {RFC_BASE, "../", "http://a/b/"},
    {RFC_BASE, "../g", "http://a/b/g"},
    {RFC_BASE, "../..", "http://a/"},
    {RFC_BASE, "../../", "http://a/"},
    {RFC_BASE, "../../g", "http://a/g"},
    /* §5.4.2 abnormal examples */
    {RFC_BASE, "../../../g", "http://a/g"},
    {RFC_BASE, "../../../../g", "http://a/g"},
    {RFC_BASE, "/./g", "http://a/g"},
    {RFC_BASE, "/../g", "http://a/g"},
    {RFC_BASE, "g.", "http://a/b/c/g."},
    {RFC_BASE, ".g", "http://a/b/c/.g"},
    {RFC_BASE, "g..", "http://a/b/c/g.."},
    {RFC_BASE, "..g", "http://a/b/c/..g"},
    {RFC_BASE, "./../g", "http://a/b/g"},
    {RFC_BASE, "./g/.", "http://a/b/c/g/"},
    {RFC_BASE, "g/./h", "http://a/b/c/g/h"},
    {RFC_BASE, "g/../h", "http://a/b/c/h"},
    {RFC_BASE, "g;x=1/./y", "http://a/b/c/g;x=1/y"},
    {RFC_BASE, "g;x=1/../y", "http://a/b/c/y"},
    {RFC_BASE, "g?y/./x", "http://a/b/c/g?y/./x"},
    {RFC_BASE, "g?y/../x", "http://a/b/c/g?y/../x"},
    {RFC_BASE, "g#s/./x", "http://a/b/c/g"},
    /* registries */
    {"http://127.0.0.1:5000/v2/_catalog?n=2", "/v2/_catalog?last=t%2Flatest&n=2",
     "http://127.0.0.1:5000/v2/_catalog?last=t%2Flatest&n=2"},
    {"http://127.0.0.1:5000/v2/a/b/tags/list?n=2", "?last=x&n=2",
     "http://127.0.0.1:5000/v2/a/b/tags/list?last=x&n=2"},
    {"https://h:443/x", "HTTPS://Other.Example/v2/", "https://Other.Example/v2/"},
    {"http://h", "g", "http://h/g"},
    {"http://h", "", "http://h"},
    {"http://h?x", "?y", "http://h?y"},
    /* Harbor's unescaped query; existing escapes stay */
    {"https://harbor/api/v2.0/projects?page=1&page_size=10",
     "/api/v2.0/projects?page=2&page_size=10&q=name=~a b,tags={x|y}",
     "https://harbor/api/v2.0/projects?page=2&page_size=10&q=name=~a%20b,tags=%7Bx%7Cy%7D"},
    {"https://harbor/api/v2.0/x", "/api/v2.0/projects/p/repositories/a%252Fb/artifacts?page=2",
     "https://harbor/api/v2.0/projects/p/repositories/a%252Fb/artifacts?page=2"},
    {"http://h/", "/\"<>\\^`\x7f\xc3\xa9", "http://h/%22%3C%3E%5C%5E%60%7F%C3%A9"},
};

static void test_resolve(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(resolve_cases) / sizeof(resolve_cases[0]); i++) {
        const struct resolve_case *c = &resolve_cases[i];
        char *out = NULL;
        imgd_error *err = NULL;
        int r = imgd_link_resolve(&out, c->base, c->ref, &err);
        if (r != 0)
            fail_msg("case %zu (%s): %s", i, c->ref, err ? err->message : "?");
        if (strcmp(out, c->want) != 0)
            fail_msg("case %zu (%s): got %s, want %s", i, c->ref, out, c->want);
        free(out);
    }
}

static const struct resolve_case bad_resolves[] = {
    {"ftp://a/b", "g", NULL},   {"/relative", "g", NULL},       {"http:///x", "g", NULL},
    {"http:x", "g", NULL},      {RFC_BASE, "g:h", NULL},        {RFC_BASE, "ftp://other/x", NULL},
    {RFC_BASE, "http:g", NULL}, {RFC_BASE, "https:///x", NULL},
};

static void test_resolve_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_resolves) / sizeof(bad_resolves[0]); i++) {
        char *out = (char *)"untouched";
        imgd_error *err = NULL;
        int r = imgd_link_resolve(&out, bad_resolves[i].base, bad_resolves[i].ref, &err);
        if (r != -EINVAL)
            fail_msg("case %zu gave %d", i, r);
        assert_non_null(err);
        assert_string_equal(out, "untouched");
        imgd_error_free(err);
    }
    /* a result past the limit: 6000 spaces become 18000 bytes */
    char *ref = malloc(6001);
    assert_non_null(ref);
    memset(ref, ' ', 6000);
    ref[0] = '/';
    ref[6000] = '\0';
    char *out = NULL;
    assert_int_equal(imgd_link_resolve(&out, "http://h/", ref, NULL), -EINVAL);
    assert_null(out);
    free(ref);
}

static void test_same_origin(void **state)
{
    (void)state;
    assert_true(imgd_link_same_origin("http://a:5000/v2/x", "http://a:5000"));
    assert_true(imgd_link_same_origin("HTTP://A:5000/v2/x", "http://a:5000"));
    assert_true(imgd_link_same_origin("http://a:5000", "http://a:5000"));
    assert_true(imgd_link_same_origin("http://a:5000?x", "http://a:5000"));
    assert_true(imgd_link_same_origin("http://a:5000/x", "http://a:5000/ignored/path"));
    assert_false(imgd_link_same_origin("http://a:50000/x", "http://a:5000"));
    assert_false(imgd_link_same_origin("https://a:5000/x", "http://a:5000"));
    assert_false(imgd_link_same_origin("http://a:5000@evil/x", "http://a:5000"));
    assert_false(imgd_link_same_origin("http://a.evil/x", "http://a"));
    assert_false(imgd_link_same_origin("http://a/x", "not a url"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next),
        cmocka_unit_test(test_next_invalid),
        cmocka_unit_test(test_next_bound),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_resolve_invalid),
        cmocka_unit_test(test_same_origin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
