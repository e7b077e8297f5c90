/* SPDX-License-Identifier: MIT */
/* Mount option words: which become MS_* flags, which stay as data, which are refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>

#include <cmocka.h>

#include "core/mounts/drivers.h"

static void test_flags_and_data(void **state)
{
    (void)state;
    const char *words[] = {"ro", "nosuid", "noatime", "lowerdir=/a", "errors=continue", "nodev"};
    imgd_mount_opts o;
    assert_int_equal(imgd_mount_opts_parse(&o, words, 6, NULL), 0);
    assert_int_equal(o.flags, MS_RDONLY | MS_NOSUID | MS_NOATIME | MS_NODEV);
    assert_string_equal(o.data, "lowerdir=/a,errors=continue");
}

static void test_later_words_win(void **state)
{
    (void)state;
    const char *words[] = {"ro", "rw", "noexec", "exec", "rbind", "defaults"};
    imgd_mount_opts o;
    assert_int_equal(imgd_mount_opts_parse(&o, words, 6, NULL), 0);
    assert_int_equal(o.flags, MS_BIND | MS_REC);
    assert_string_equal(o.data, "");
}

static void test_refused_words(void **state)
{
    (void)state;
    static const char *const bad[] = {"", "a,b", "loop"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        imgd_mount_opts o;
        imgd_error *err = NULL;
        const char *w[] = {bad[i]};
        assert_int_equal(imgd_mount_opts_parse(&o, w, 1, &err), -EINVAL);
        assert_non_null(err);
        imgd_error_free(err);
    }
}

static void test_data_bound(void **state)
{
    (void)state;
    static char big[3000];
    memset(big, 'x', sizeof big - 1);
    const char *words[] = {big, big};
    imgd_mount_opts o;
    imgd_error *err = NULL;
    assert_int_equal(imgd_mount_opts_parse(&o, words, 2, &err), -E2BIG);
    imgd_error_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags_and_data),
        cmocka_unit_test(test_later_words_win),
        cmocka_unit_test(test_refused_words),
        cmocka_unit_test(test_data_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
