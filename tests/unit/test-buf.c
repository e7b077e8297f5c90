/* SPDX-License-Identifier: MIT */
/* The growable buffer: appends keep a NUL after the bytes, printf appends, steal hands over. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"

static void test_append_and_steal(void **state)
{
    imgd_buf b = {0};
    (void)state;
    assert_int_equal(imgd_buf_append(&b, "abc", 3), 0);
    assert_int_equal(imgd_buf_append(&b, "\0d", 2), 0); /* bytes, not strings */
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "abc\0d", 6);
    size_t len = 0;
    char *d = imgd_buf_steal(&b, &len);
    assert_int_equal(len, 5);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(d);
    assert_null(imgd_buf_steal(&b, NULL)); /* nothing appended */
}

static void test_growth(void **state)
{
    imgd_buf b = {0};
    char chunk[1000];
    (void)state;
    memset(chunk, 'x', sizeof(chunk));
    for (int i = 0; i < 300; i++)
        assert_int_equal(imgd_buf_append(&b, chunk, sizeof(chunk)), 0);
    assert_int_equal(b.len, 300000);
    assert_true(b.cap > b.len);
    assert_int_equal(b.data[b.len], '\0');
    assert_int_equal(strspn(b.data, "x"), 300000);
    imgd_buf_dispose(&b);
    assert_null(b.data);
    imgd_buf_dispose(&b); /* twice is fine */
}

static void test_printf(void **state)
{
    imgd_buf b = {0};
    (void)state;
    assert_int_equal(imgd_buf_printf(&b, "%s=%d;", "a", 1), 0);
    char big[10000];
    memset(big, 'y', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(imgd_buf_printf(&b, "%s", big), 0);
    assert_int_equal(b.len, 4 + sizeof(big) - 1);
    assert_memory_equal(b.data, "a=1;yyy", 7);
    assert_int_equal(b.data[b.len], '\0');
    imgd_buf_dispose(&b);
}

static void test_array_reserve(void **state)
{
    (void)state;
    int *v = NULL;
    size_t cap = 0;
    assert_int_equal(imgd_array_reserve(&v, &cap, 1, sizeof(*v), 4), 0);
    assert_non_null(v);
    assert_int_equal(cap, 4);
    for (int i = 0; i < 4; i++)
        v[i] = i;
    assert_int_equal(imgd_array_reserve(&v, &cap, 4, sizeof(*v), 4), 0); /* fits */
    assert_int_equal(cap, 4);
    assert_int_equal(imgd_array_reserve(&v, &cap, 9, sizeof(*v), 4), 0); /* 4 -> 8 -> 16 */
    assert_int_equal(cap, 16);
    for (int i = 0; i < 4; i++)
        assert_int_equal(v[i], i); /* kept */
    int *before = v;
    assert_int_equal(imgd_array_reserve(&v, &cap, SIZE_MAX, sizeof(*v), 4), -ENOMEM);
    assert_ptr_equal(v, before);
    assert_int_equal(cap, 16);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_steal),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_array_reserve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
