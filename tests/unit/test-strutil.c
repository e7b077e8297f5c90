/* SPDX-License-Identifier: MIT */
/* Strict number and boolean parsing, string vectors and the constant-time comparison. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/strutil.h"

static void test_parse_int64_valid(void **state)
{
    static const struct {
        const char *text;
        int64_t value;
    } cases[] = {
        {"0", 0},
        {"42", 42},
        {"-7", -7},
        {"+5", 5},
        {"007", 7},
        {"9223372036854775807", INT64_MAX},
        {"-9223372036854775808", INT64_MIN},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t v = -1;
        assert_int_equal(imgd_parse_int64(&v, cases[i].text), 0);
        assert_true(v == cases[i].value);
    }
}

static void test_parse_int64_invalid(void **state)
{
    static const char *const bad[] = {
        "",     " 1",  "1 ",  "abc", "12x", "-",   "+",
        "0x10", "1.5", "1e3", "--1", "+-1", "\t3", "\xd9\xa3",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v = 1234;
        assert_int_equal(imgd_parse_int64(&v, bad[i]), -EINVAL);
        assert_true(v == 1234); /* untouched on failure */
    }
    int64_t v = 1234;
    assert_int_equal(imgd_parse_int64(&v, NULL), -EINVAL);
    assert_true(v == 1234);
}

static void test_parse_int64_range(void **state)
{
    int64_t v = 99;
    (void)state;
    assert_int_equal(imgd_parse_int64(&v, "9223372036854775808"), -ERANGE);
    assert_int_equal(imgd_parse_int64(&v, "-9223372036854775809"), -ERANGE);
    assert_int_equal(imgd_parse_int64(&v, "99999999999999999999999"), -ERANGE);
    assert_true(v == 99);
}

static void test_parse_bool(void **state)
{
    static const char *const yes[] = {"1",  "true", "TRUE", "True", "yes", "YeS",
                                      "on", "ON",   "y",    "Y",    "t",   "T"};
    static const char *const no[] = {"0",   "false", "FALSE", "False", "no", "NO",
                                     "off", "Off",   "n",     "N",     "f",  "F"};
    static const char *const bad[] = {"",      "2",    "tru", "yes!", " true",
                                      "true ", "nope", "-1",  "onn"};
    (void)state;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        bool b = false;
        assert_int_equal(imgd_parse_bool(&b, yes[i]), 0);
        assert_true(b);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        bool b = true;
        assert_int_equal(imgd_parse_bool(&b, no[i]), 0);
        assert_false(b);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bool b = true;
        assert_int_equal(imgd_parse_bool(&b, bad[i]), -EINVAL);
        assert_true(b);
    }
    bool b = false;
    assert_int_equal(imgd_parse_bool(&b, NULL), -EINVAL);
    assert_false(b);
}

static void test_prefix_suffix(void **state)
{
    (void)state;
    assert_true(imgd_str_has_prefix("/api/v1/health", "/api/v1"));
    assert_true(imgd_str_has_prefix("abc", ""));
    assert_true(imgd_str_has_prefix("abc", "abc"));
    assert_false(imgd_str_has_prefix("ab", "abc"));
    assert_false(imgd_str_has_prefix("xabc", "abc"));
    assert_true(imgd_str_has_suffix("imgd.log", ".log"));
    assert_true(imgd_str_has_suffix("abc", ""));
    assert_true(imgd_str_has_suffix("abc", "abc"));
    assert_false(imgd_str_has_suffix("bc", "abc"));
    assert_false(imgd_str_has_suffix("abcx", "abc"));
}

static void test_strv(void **state)
{
    char **v = NULL;
    (void)state;
    assert_int_equal(imgd_strv_length(NULL), 0);
    assert_null(imgd_strv_copy(NULL));
    imgd_strv_free(NULL);

    char word[] = "first";
    assert_int_equal(imgd_strv_push(&v, word), 0);
    word[0] = 'X'; /* the vector holds a copy */
    assert_int_equal(imgd_strv_push(&v, ""), 0);
    assert_int_equal(imgd_strv_push(&v, "third"), 0);
    assert_int_equal(imgd_strv_length(v), 3);
    assert_string_equal(v[0], "first");
    assert_string_equal(v[1], "");
    assert_string_equal(v[2], "third");
    assert_null(v[3]);

    char **c = imgd_strv_copy(v);
    assert_non_null(c);
    assert_int_equal(imgd_strv_length(c), 3);
    for (size_t i = 0; i < 3; i++) {
        assert_ptr_not_equal(c[i], v[i]);
        assert_string_equal(c[i], v[i]);
    }
    assert_null(c[3]);
    imgd_strv_free(v);
    assert_string_equal(c[2], "third"); /* deep: survives the original */
    imgd_strv_free(c);

    char *empty_vec[] = {NULL};
    char **e = imgd_strv_copy(empty_vec);
    assert_non_null(e);
    assert_null(e[0]);
    assert_int_equal(imgd_strv_length(e), 0);
    imgd_strv_free(e);
}

static void test_memeq_const(void **state)
{
    const unsigned char a[] = {1, 2, 3, 4, 5, 6, 7, 8};
    unsigned char b[sizeof(a)];
    (void)state;
    memcpy(b, a, sizeof(a));
    assert_true(imgd_memeq_const(a, b, sizeof(a)));
    assert_true(imgd_memeq_const(a, b, 0));
    b[0] ^= 0x80;
    assert_false(imgd_memeq_const(a, b, sizeof(a)));
    assert_true(imgd_memeq_const(a + 1, b + 1, sizeof(a) - 1));
    b[0] = a[0];
    b[sizeof(b) - 1] ^= 1;
    assert_false(imgd_memeq_const(a, b, sizeof(a)));
    assert_true(imgd_memeq_const(a, b, sizeof(a) - 1));
    assert_true(imgd_memeq_const("token", "token", 5));
    assert_false(imgd_memeq_const("token", "tokeN", 5));
}

static void test_http_grammar(void **state)
{
    (void)state;
    for (const char *c = "!#$%&'*+-.^_`|~azAZ09"; *c; c++)
        assert_true(imgd_http_is_tchar(*c));
    for (const char *c = " \t\"(),/:;<=>?@[\\]{}"; *c; c++)
        assert_false(imgd_http_is_tchar(*c));
    assert_false(imgd_http_is_tchar('\0'));
    assert_false(imgd_http_is_tchar((char)0xc3));
    assert_true(imgd_http_is_ctl('\r'));
    assert_true(imgd_http_is_ctl('\0'));
    assert_true(imgd_http_is_ctl(0x7f));
    assert_false(imgd_http_is_ctl('\t'));
    assert_false(imgd_http_is_ctl(' '));
    assert_string_equal(imgd_http_skip_ows(" \t x "), "x ");
    assert_string_equal(imgd_http_skip_ows(""), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_int64_valid), cmocka_unit_test(test_parse_int64_invalid),
        cmocka_unit_test(test_parse_int64_range), cmocka_unit_test(test_parse_bool),
        cmocka_unit_test(test_prefix_suffix),     cmocka_unit_test(test_strv),
        cmocka_unit_test(test_memeq_const),       cmocka_unit_test(test_http_grammar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
