/* SPDX-License-Identifier: MIT */
/* The size and duration strings clients parse: go-units (crictl), Python humanize.naturalsize and
 * str(timedelta). Expected values were produced by the reference implementations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/humanize.h"

static void test_crictl_sizes(void **state)
{
    static const struct {
        double size;
        const char *text;
    } cases[] = {
        {117234567, "117MB"},
        {1234, "1.23kB"},
        {5000, "5kB"},
        {12500000, "12.5MB"},
        {0, "0B"},
        {1, "1B"},
        {999, "999B"},
        {1000, "1kB"},
        {1001, "1kB"},
        {999499, "999kB"},
        {1e9, "1GB"},
        {1.5e12, "1.5TB"},
        {2e15, "2PB"},
        {3e18, "3EB"},
        {4e21, "4ZB"},
        {5e24, "5YB"},
        /* YB is the last unit: larger values stay in YB */
        {5e27, "5e+03YB"},
        /* go-units divides first and rounds later, so 999.95 MB prints as 1e+03MB */
        {999950000, "1e+03MB"},
        {999999, "1e+03kB"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[24];
        memset(buf, 'x', sizeof(buf));
        char *r = imgd_humanize_crictl(buf, sizeof(buf), cases[i].size);
        assert_ptr_equal(r, buf);
        assert_string_equal(buf, cases[i].text);
    }
}

static void test_crictl_truncates(void **state)
{
    char buf[4];
    (void)state;
    imgd_humanize_crictl(buf, sizeof(buf), 117234567);
    assert_string_equal(buf, "117");
}

static void test_natural_sizes(void **state)
{
    static const struct {
        int64_t size;
        const char *text;
    } cases[] = {
        {0, "0 Bytes"},
        {1, "1 Byte"},
        {2, "2 Bytes"},
        {999, "999 Bytes"},
        {1000, "1.0 kB"},
        {1500, "1.5 kB"},
        {3000000, "3.0 MB"},
        {250000000, "250.0 MB"},
        {117234567, "117.2 MB"},
        {1234567890, "1.2 GB"},
        {INT64_C(1000000000000), "1.0 TB"},
        {999999, "1.0 MB"},
        {999999999, "1.0 GB"},
        {999949, "999.9 kB"},
        {INT64_C(1000000000000000), "1.0 PB"},
        {INT64_MAX, "9.2 EB"},
        /* humanize keeps the sign */
        {-1, "-1 Byte"},
        {-2, "-2 Bytes"},
        {-999, "-999 Bytes"},
        {-1500, "-1.5 kB"},
        {-999999, "-1.0 MB"},
        {INT64_MIN, "-9.2 EB"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[32];
        memset(buf, 'x', sizeof(buf));
        char *r = imgd_humanize_natural(buf, sizeof(buf), cases[i].size);
        assert_ptr_equal(r, buf);
        assert_string_equal(buf, cases[i].text);
    }
}

static void test_durations(void **state)
{
    static const struct {
        int64_t seconds;
        const char *text;
    } cases[] = {
        {0, "0:00:00"},
        {5, "0:00:05"},
        {59, "0:00:59"},
        {60, "0:01:00"},
        {3599, "0:59:59"},
        {3600, "1:00:00"},
        {36000, "10:00:00"},
        {86399, "23:59:59"},
        {86400, "1 day, 0:00:00"},
        {86400 + 7384, "1 day, 2:03:04"},
        {2 * 86400 + 1, "2 days, 0:00:01"},
        {3 * 86400, "3 days, 0:00:00"},
        {100 * 86400 + 36000, "100 days, 10:00:00"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[64];
        memset(buf, 'x', sizeof(buf));
        char *r = imgd_humanize_duration(buf, sizeof(buf), cases[i].seconds);
        assert_ptr_equal(r, buf);
        assert_string_equal(buf, cases[i].text);
    }
}

/* go-units HumanDuration, as docker prints CREATED and STATUS */
static void test_go_durations(void **state)
{
    (void)state;
    static const struct {
        int64_t secs;
        const char *want;
    } cases[] = {
        {0, "Less than a second"}, {1, "1 second"},          {59, "59 seconds"},
        {60, "About a minute"},    {119, "About a minute"},  {120, "2 minutes"},
        {3599, "59 minutes"},      {3600, "About an hour"},  {5399, "About an hour"},
        {5400, "2 hours"},         {47 * 3600, "47 hours"},  {48 * 3600, "2 days"},
        {14 * 86400, "2 weeks"},   {60 * 86400, "2 months"}, {730 * 86400, "2 years"},
    };
    char buf[48];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_string_equal(imgd_humanize_go_duration(buf, sizeof(buf), cases[i].secs),
                            cases[i].want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crictl_sizes),  cmocka_unit_test(test_crictl_truncates),
        cmocka_unit_test(test_natural_sizes), cmocka_unit_test(test_durations),
        cmocka_unit_test(test_go_durations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
