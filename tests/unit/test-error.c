/* SPDX-License-Identifier: MIT */
/* The error object: negative returns, the innermost error wins, context prefixes, and messages
 * that stay on one line whatever text they quote. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/error.h"

static void test_set_returns_negative_code(void **state)
{
    imgd_error *err = NULL;
    (void)state;
    assert_int_equal(imgd_error_set(&err, ENOENT, "image '%s' not found", "busybox"), -ENOENT);
    assert_non_null(err);
    assert_int_equal(err->code, ENOENT);
    assert_string_equal(err->message, "image 'busybox' not found");
    imgd_error_free(err);
    /* a negative code is accepted, zero becomes EIO, NULL err still returns the code */
    err = NULL;
    assert_int_equal(imgd_error_set(&err, -EBUSY, "busy"), -EBUSY);
    assert_int_equal(err->code, EBUSY);
    imgd_error_free(err);
    err = NULL;
    assert_int_equal(imgd_error_set(&err, 0, "zero"), -EIO);
    imgd_error_free(err);
    assert_int_equal(imgd_error_set(NULL, EINVAL, "nobody listens"), -EINVAL);
}

static void test_first_error_wins(void **state)
{
    imgd_error *err = NULL;
    (void)state;
    imgd_error_set(&err, ENOENT, "inner");
    assert_int_equal(imgd_error_set(&err, EINVAL, "outer"), -EINVAL);
    assert_int_equal(err->code, ENOENT);
    assert_string_equal(err->message, "inner");
    imgd_error_free(err);
}

static void test_errno_and_prefix(void **state)
{
    imgd_error *err = NULL;
    (void)state;
    assert_int_equal(imgd_error_errno(&err, ECONNREFUSED, "fetch layer %d", 3), -ECONNREFUSED);
    assert_string_equal(err->message, "fetch layer 3: Connection refused");
    assert_int_equal(imgd_error_prefix(&err, "pull '%s'", "busybox"), -ECONNREFUSED);
    assert_string_equal(err->message, "pull 'busybox': fetch layer 3: Connection refused");
    imgd_error_free(err);
    err = NULL;
    assert_int_equal(imgd_error_prefix(&err, "nothing"), -EIO);
    assert_null(err);
    imgd_error_free(NULL);
}

static void test_messages_are_one_line(void **state)
{
    imgd_error *err = NULL;
    (void)state;
    imgd_error_set(&err, EINVAL, "invalid value '%s'", "a\nb\rc\td\x7f");
    assert_string_equal(err->message, "invalid value 'a b c d '");
    imgd_error_prefix(&err, "key '%s'", "x\ny");
    assert_string_equal(err->message, "key 'x y': invalid value 'a b c d '");
    imgd_error_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_returns_negative_code),
        cmocka_unit_test(test_first_error_wins),
        cmocka_unit_test(test_errno_and_prefix),
        cmocka_unit_test(test_messages_are_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
