/* SPDX-License-Identifier: MIT */
/* Bounded parsing of untrusted JSON and Flask-compatible encoding. */
#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/json.h"

static unsigned depth_of(const char *text, unsigned limit)
{
    return imgd_json_depth(text, strlen(text), limit);
}

static void test_depth_counts_brackets(void **state)
{
    (void)state;
    assert_int_equal(depth_of("", 64), 0);
    assert_int_equal(depth_of("1", 64), 0);
    assert_int_equal(depth_of("\"x\"", 64), 0);
    assert_int_equal(depth_of("[]", 64), 1);
    assert_int_equal(depth_of("{}", 64), 1);
    assert_int_equal(depth_of("[[{}]]", 64), 3);
    assert_int_equal(depth_of("[][][]", 64), 1);
    assert_int_equal(depth_of("[[],[[]],[]]", 64), 3);
    assert_int_equal(depth_of("{\"a\":{\"b\":[1,{\"c\":[]}]}}", 64), 5);
    /* closers without openers never drive the depth below zero */
    assert_int_equal(depth_of("]]]}}[", 64), 1);
    assert_int_equal(depth_of("]][[", 64), 2);
}

static void test_depth_ignores_strings(void **state)
{
    (void)state;
    assert_int_equal(depth_of("\"[[[{{{\"", 64), 0);
    assert_int_equal(depth_of("[\"]]]]\"]", 64), 1);
    /* an escaped quote does not end the string */
    assert_int_equal(depth_of("[\"\\\"[[[\"]", 64), 1);
    /* an escaped backslash does: the quote after it closes the string */
    assert_int_equal(depth_of("[\"\\\\\",[[]]]", 64), 3);
    assert_int_equal(depth_of("{\"k\\u005b\":[\"\\\\\\\"[\"]}", 64), 2);
    /* an unterminated string hides everything after it */
    assert_int_equal(depth_of("[\"[[[[", 64), 1);
    /* a trailing backslash must not read past the end */
    assert_int_equal(imgd_json_depth("[\"\\", 3, 64), 1);
}

static void test_depth_limit(void **state)
{
    (void)state;
    assert_int_equal(depth_of("[[[]]]", 3), 3);
    assert_int_equal(depth_of("[[[]]]", 2), 3);
    assert_int_equal(depth_of("[[[[[[[[[[[[[[[[[[[[", 3), 4);
    assert_int_equal(depth_of("[[[[[[[[[[[[[[[[[[[[", 0), 1);
    assert_int_equal(depth_of("[]", 0), 1);
    assert_int_equal(depth_of("1", 0), 0);
    /* only len bytes are read */
    assert_int_equal(imgd_json_depth("[[[[[[", 2, 64), 2);
    assert_int_equal(imgd_json_depth("[[[[[[", 0, 64), 0);

    /* a long run of openers stops at limit + 1 */
    size_t n = 100000;
    char *deep = malloc(n);
    assert_non_null(deep);
    memset(deep, '[', n);
    assert_int_equal(imgd_json_depth(deep, n, 64), 65);
    assert_int_equal(imgd_json_depth(deep, n, 200000), 100000);
    free(deep);
}

static void test_parse_empty(void **state)
{
    json_t *const sentinel = json_integer(7); /* *out must stay untouched on failure */
    json_t *v = sentinel;
    imgd_error *err = NULL;
    (void)state;
    assert_int_equal(imgd_json_parse(&v, "", 0, 64, &err), -EINVAL);
    assert_ptr_equal(v, sentinel);
    assert_non_null(err);
    assert_int_equal(err->code, EINVAL);
    assert_non_null(strstr(err->message, "empty"));
    imgd_error_free(err);

    /* a length of 0 wins over the text */
    err = NULL;
    assert_int_equal(imgd_json_parse(&v, "{}", 0, 64, &err), -EINVAL);
    assert_non_null(err);
    imgd_error_free(err);

    /* a NULL err is allowed */
    assert_int_equal(imgd_json_parse(&v, "", 0, 64, NULL), -EINVAL);
    assert_ptr_equal(v, sentinel);
    json_decref(sentinel);
}

static void test_parse_depth_bound(void **state)
{
    const char *text = "{\"a\":[[1]]}";
    json_t *v = NULL;
    imgd_error *err = NULL;
    (void)state;
    assert_int_equal(imgd_json_parse(&v, text, strlen(text), 2, &err), -EINVAL);
    assert_null(v);
    assert_non_null(err);
    assert_int_equal(err->code, EINVAL);
    assert_string_equal(err->message, "JSON nesting is deeper than 2 levels");
    imgd_error_free(err);
    err = NULL;

    assert_int_equal(imgd_json_parse(&v, text, strlen(text), 3, &err), 0);
    assert_null(err);
    assert_true(json_is_object(v));
    json_decref(v);
    v = NULL;

    /* the bound applies before parsing: deep but malformed input reports the depth */
    char deep[200];
    memset(deep, '[', sizeof(deep));
    assert_int_equal(imgd_json_parse(&v, deep, sizeof(deep), 64, &err), -EINVAL);
    assert_non_null(err);
    assert_string_equal(err->message, "JSON nesting is deeper than 64 levels");
    imgd_error_free(err);
    assert_null(v);
}

static void test_parse_malformed(void **state)
{
    static const struct {
        const char *text;
        const char *where;
    } cases[] = {
        {"{\"a\": }", "line 1, column 7"},
        {"{\n  \"a\": 1,\n  \"b\": tru\n}", "line 3,"},
        {"[1, 2", "line 1,"},
        {"[1] x", "line 1,"},
        {"{'a': 1}", "line 1, column 2"},
        {"nul", "line 1,"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *v = NULL;
        imgd_error *err = NULL;
        assert_int_equal(imgd_json_parse(&v, cases[i].text, strlen(cases[i].text), 64, &err),
                         -EINVAL);
        assert_null(v);
        assert_non_null(err);
        assert_int_equal(err->code, EINVAL);
        assert_non_null(strstr(err->message, "malformed JSON at "));
        if (!strstr(err->message, cases[i].where))
            fail_msg("'%s': message '%s' lacks '%s'", cases[i].text, err->message, cases[i].where);
        assert_null(strchr(err->message, '\n'));
        imgd_error_free(err);
    }
}

static void test_parse_rejects_duplicates(void **state)
{
    static const char *const texts[] = {
        "{\"a\":1,\"a\":2}",
        "{\"x\":{\"k\":true,\"k\":true}}",
        "[{\"a\":1},{\"b\":1,\"b\":1}]",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        json_t *v = NULL;
        imgd_error *err = NULL;
        assert_int_equal(imgd_json_parse(&v, texts[i], strlen(texts[i]), 64, &err), -EINVAL);
        assert_null(v);
        assert_non_null(err);
        assert_non_null(strstr(err->message, "duplicate"));
        imgd_error_free(err);
    }
}

static void test_parse_values(void **state)
{
    json_t *v = NULL;
    imgd_error *err = NULL;
    (void)state;

    assert_int_equal(imgd_json_parse(&v, "42", 2, 64, &err), 0);
    assert_true(json_is_integer(v));
    assert_int_equal(json_integer_value(v), 42);
    json_decref(v);

    assert_int_equal(imgd_json_parse(&v, "\"s\"", 3, 64, &err), 0);
    assert_string_equal(json_string_value(v), "s");
    json_decref(v);

    assert_int_equal(imgd_json_parse(&v, "null", 4, 64, &err), 0);
    assert_true(json_is_null(v));
    json_decref(v);

    assert_int_equal(imgd_json_parse(&v, " true ", 6, 64, &err), 0);
    assert_true(json_is_true(v));
    json_decref(v);

    /* only len bytes are parsed; the rest of the buffer is not JSON */
    const char *buf = "[1,2]garbage";
    assert_int_equal(imgd_json_parse(&v, buf, 5, 64, &err), 0);
    assert_int_equal(json_array_size(v), 2);
    json_decref(v);

    const char *obj = "{\"name\":\"busybox\",\"tags\":[\"latest\"],\"n\":{\"x\":1.5}}";
    assert_int_equal(imgd_json_parse(&v, obj, strlen(obj), 64, &err), 0);
    assert_string_equal(imgd_json_get_string(v, "name"), "busybox");
    assert_null(imgd_json_get_string(v, "tags"));
    assert_null(imgd_json_get_string(v, "missing"));
    json_decref(v);
    assert_null(err);
}

/* Lower-case the hex digits of \uXXXX escapes: Python writes "\u00e9", jansson "\u00E9", and
 * JSON readers take either. */
static void lower_escapes(char *s)
{
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] == '\\') {
            s++;
            continue;
        }
        if (s[0] != '\\' || s[1] != 'u')
            continue;
        int i = 2;
        for (; i < 6 && s[i]; i++)
            s[i] = (char)tolower((unsigned char)s[i]);
        s += i - 1;
    }
}

static void expect_encoding(json_t *value, bool pretty, const char *expected)
{
    size_t len = 0;
    char *text = imgd_json_encode(value, pretty, &len);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    lower_escapes(text);
    assert_string_equal(text, expected);
    assert_int_equal(len, strlen(expected));
    free(text);
}

static void test_encode_compact(void **state)
{
    (void)state;
    json_t *v = json_pack("{s:i, s:[i,i], s:{s:n, s:s}, s:b}", "b", 1, "a", 1, 2, "c", "z", "y",
                          "x", "A", 0);
    assert_non_null(v);
    expect_encoding(v, false, "{\"A\":false,\"a\":[1,2],\"b\":1,\"c\":{\"y\":\"x\",\"z\":null}}\n");
    /* out_len may be NULL */
    char *text = imgd_json_encode(v, false, NULL);
    assert_non_null(text);
    assert_int_equal(text[strlen(text) - 1], '\n');
    free(text);
    json_decref(v);

    json_t *empty = json_object();
    expect_encoding(empty, false, "{}\n");
    json_decref(empty);
}

static void test_encode_pretty(void **state)
{
    (void)state;
    json_t *v = json_pack("{s:i, s:[i,i], s:{}}", "b", 1, "a", 1, 2, "c");
    assert_non_null(v);
    expect_encoding(v, true, "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": 1,\n  \"c\": {}\n}\n");
    json_decref(v);
}

static void test_encode_scalars_and_ascii(void **state)
{
    (void)state;
    json_t *n = json_integer(-5);
    expect_encoding(n, false, "-5\n");
    json_decref(n);

    json_t *s = json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \"q\" \\ \x01");
    assert_non_null(s);
    expect_encoding(s, false, "\"caf\\u00e9 \\u20ac \\ud83d\\ude00 \\\"q\\\" \\\\ \\u0001\"\n");
    json_decref(s);

    json_t *o = json_pack("{s:s}", "cl\xc3\xa9", "v");
    expect_encoding(o, true, "{\n  \"cl\\u00e9\": \"v\"\n}\n");
    json_decref(o);
}

static void test_parse_encode_round_trip(void **state)
{
    const char *text = "{\"z\":[true,false,null],\"m\":\"\\u00e9\\n\",\"a\":{\"b\":-1}}";
    json_t *v = NULL;
    imgd_error *err = NULL;
    (void)state;
    assert_int_equal(imgd_json_parse(&v, text, strlen(text), 64, &err), 0);
    expect_encoding(v, false, "{\"a\":{\"b\":-1},\"m\":\"\\u00e9\\n\",\"z\":[true,false,null]}\n");
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_depth_counts_brackets),
        cmocka_unit_test(test_depth_ignores_strings),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_parse_empty),
        cmocka_unit_test(test_parse_depth_bound),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_parse_rejects_duplicates),
        cmocka_unit_test(test_parse_values),
        cmocka_unit_test(test_encode_compact),
        cmocka_unit_test(test_encode_pretty),
        cmocka_unit_test(test_encode_scalars_and_ascii),
        cmocka_unit_test(test_parse_encode_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
