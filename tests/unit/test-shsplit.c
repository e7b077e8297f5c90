/* SPDX-License-Identifier: MIT */
/* Splitting a command string as Python's shlex.split() does. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/shsplit.h"
#include "util/strutil.h"

/* Every expected output below was produced by CPython 3.11's shlex.split() (Debian
 * /usr/bin/python3) on the same input, encoded as UTF-8; none was written by hand. */
static void test_split_like_shlex(void **state)
{
    static const struct {
        const char *in;
        size_t n;
        const char *words[6];
    } cases[] = {
        {"sleep 300", 2, {"sleep", "300"}},
        {"a\\ b", 1, {"a b"}},
        {"\"a\\\"b\"", 1, {"a\"b"}},
        {"\"a\\\\b\"", 1, {"a\\b"}},
        {"\"a\\b\"", 1, {"a\\b"}},
        {"'a\\'", 1, {"a\\"}},
        {"'a\\\"b'", 1, {"a\\\"b"}},
        {"a\"b c\"d", 1, {"ab cd"}},
        {"\"\"", 1, {""}},
        {"''", 1, {""}},
        {"a \"\" b", 3, {"a", "", "b"}},
        {"a''b", 1, {"ab"}},
        {"''''", 1, {""}},
        {"a\tb\nc\rd", 4, {"a", "b", "c", "d"}},
        {"  lead \t trail\n", 2, {"lead", "trail"}},
        {"a\013b\014c", 1, {"a\013b\014c"}},
        {"", 0, {NULL}},
        {" \t\r\n", 0, {NULL}},
        {"h\303\251llo w\303\266rld \303\261", 3, {"h\303\251llo", "w\303\266rld", "\303\261"}},
        {"x\302\240y", 1, {"x\302\240y"}},
        {"$HOME", 1, {"$HOME"}},
        {"\"$HOME\"", 1, {"$HOME"}},
        {"a;b", 1, {"a;b"}},
        {"a # b", 3, {"a", "#", "b"}},
        {"#x", 1, {"#x"}},
        {"\"a\\$b\"", 1, {"a\\$b"}},
        {"\"a\\`b\"", 1, {"a\\`b"}},
        {"\"a\\\nb\"", 1, {"a\\\nb"}},
        {"a\\\nb", 1, {"a\nb"}},
        {"\\\"", 1, {"\""}},
        {"\\'", 1, {"'"}},
        {"\\\\", 1, {"\\"}},
        {"\\n", 1, {"n"}},
        {"'\\n'", 1, {"\\n"}},
        {"\\\"x", 1, {"\"x"}},
        {"\"'\"", 1, {"'"}},
        {"'\"'", 1, {"\""}},
        {"a|b&c>d<e(f)g", 1, {"a|b&c>d<e(f)g"}},
        {"sh -c \"echo $HOME; ls | wc -l\"", 3, {"sh", "-c", "echo $HOME; ls | wc -l"}},
        {"x=1 y=\"2 3\"", 2, {"x=1", "y=2 3"}},
        {"\"a\" \"b\"c'd'", 2, {"a", "bcd"}},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char **words = NULL;
        size_t n = 99;
        imgd_error *err = NULL;
        print_message("input %zu: [%s]\n", i, cases[i].in);
        assert_int_equal(imgd_shell_split(&words, &n, cases[i].in, &err), 0);
        assert_null(err);
        assert_int_equal(n, cases[i].n);
        assert_int_equal(imgd_strv_length(words), cases[i].n);
        for (size_t k = 0; k < n; k++)
            assert_string_equal(words[k], cases[i].words[k]);
        imgd_strv_free(words);
    }
}

/* shlex.split() raises ValueError("No closing quotation") / ("No escaped character") on each
 * of these (checked with the same python3); the offset is that of the opening quote or of the
 * trailing backslash. */
static void test_split_errors(void **state)
{
    static const struct {
        const char *in;
        const char *message;
    } cases[] = {
        {"\"abc", "unterminated quote at byte 0"},   {"'abc", "unterminated quote at byte 0"},
        {"ab\"c", "unterminated quote at byte 2"},   {"a'b", "unterminated quote at byte 1"},
        {"\"\\\"", "unterminated quote at byte 0"},  {"\"a\\\"", "unterminated quote at byte 0"},
        {"x 'y", "unterminated quote at byte 2"},    {"ok 'it'\"s", "unterminated quote at byte 7"},
        {"a\\", "no escaped character at byte 1"},   {"\"abc\\", "no escaped character at byte 4"},
        {"ok \\", "no escaped character at byte 3"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char **words = (char **)&words; /* a marker: untouched on failure */
        size_t n = 99;
        imgd_error *err = NULL;
        print_message("input %zu: [%s]\n", i, cases[i].in);
        assert_int_equal(imgd_shell_split(&words, &n, cases[i].in, &err), -EINVAL);
        assert_non_null(err);
        assert_int_equal(err->code, EINVAL);
        assert_string_equal(err->message, cases[i].message);
        assert_ptr_equal(words, (char **)&words);
        assert_int_equal(n, 99);
        imgd_error_free(err);
    }
    /* err may be NULL */
    char **words = NULL;
    size_t n = 0;
    assert_int_equal(imgd_shell_split(&words, &n, "'", NULL), -EINVAL);
    assert_null(words);
}

/* A string of n copies of unit. */
static char *repeat(const char *unit, size_t n)
{
    size_t len = strlen(unit);
    char *s = malloc(len * n + 1);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * len, unit, len);
    s[len * n] = '\0';
    return s;
}

static void test_split_bounds(void **state)
{
    char **words = NULL;
    size_t n = 0;
    imgd_error *err = NULL;
    (void)state;

    char *s = repeat("a", IMGD_SHELL_SPLIT_MAX_LEN);
    assert_int_equal(imgd_shell_split(&words, &n, s, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(strlen(words[0]), IMGD_SHELL_SPLIT_MAX_LEN);
    imgd_strv_free(words);
    words = NULL;
    free(s);

    s = repeat("a", IMGD_SHELL_SPLIT_MAX_LEN + 1);
    assert_int_equal(imgd_shell_split(&words, &n, s, &err), -E2BIG);
    assert_int_equal(err->code, E2BIG);
    assert_string_equal(err->message, "command longer than 65536 bytes");
    assert_null(words);
    imgd_error_free(err);
    err = NULL;
    free(s);

    s = repeat("a ", IMGD_SHELL_SPLIT_MAX_WORDS);
    assert_int_equal(imgd_shell_split(&words, &n, s, &err), 0);
    assert_int_equal(n, IMGD_SHELL_SPLIT_MAX_WORDS);
    assert_string_equal(words[IMGD_SHELL_SPLIT_MAX_WORDS - 1], "a");
    assert_null(words[IMGD_SHELL_SPLIT_MAX_WORDS]);
    imgd_strv_free(words);
    words = NULL;
    free(s);

    s = repeat("'' ", IMGD_SHELL_SPLIT_MAX_WORDS + 1);
    assert_int_equal(imgd_shell_split(&words, &n, s, &err), -E2BIG);
    assert_int_equal(err->code, E2BIG);
    assert_string_equal(err->message, "command has more than 4096 words");
    assert_null(words);
    imgd_error_free(err);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_like_shlex),
        cmocka_unit_test(test_split_errors),
        cmocka_unit_test(test_split_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
