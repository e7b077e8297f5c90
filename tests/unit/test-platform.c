/* SPDX-License-Identifier: MIT */
/* Platforms: parsing, containerd's normalisation, matching, formatting and OCI descriptor
 * platform objects. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/registry/platform.h"

static void expect_platform(const imgd_platform *p, const char *os, const char *arch,
                            const char *variant)
{
    assert_string_equal(p->os, os);
    assert_string_equal(p->architecture, arch);
    assert_string_equal(p->variant, variant);
}

static imgd_platform make(const char *os, const char *arch, const char *variant)
{
    imgd_platform p;
    memset(&p, 0, sizeof(p));
    strcpy(p.os, os);
    strcpy(p.architecture, arch);
    strcpy(p.variant, variant);
    return p;
}

static void test_parse_valid(void **state)
{
    static const struct {
        const char *text, *os, *arch, *variant, *formatted;
    } cases[] = {
        {"linux/amd64", "linux", "amd64", "", "linux/amd64"},
        {"linux/arm64/v8", "linux", "arm64", "", "linux/arm64"},
        {"linux/arm64/v8.2", "linux", "arm64", "v8.2", "linux/arm64/v8.2"},
        {"linux/arm/v7", "linux", "arm", "v7", "linux/arm/v7"},
        {"linux/arm", "linux", "arm", "v7", "linux/arm/v7"},
        {"linux/arm/6", "linux", "arm", "v6", "linux/arm/v6"},
        {"linux/arm/v5", "linux", "arm", "v5", "linux/arm/v5"},
        {"arm64", "linux", "arm64", "", "linux/arm64"},
        {"aarch64", "linux", "arm64", "", "linux/arm64"},
        {"x86_64", "linux", "amd64", "", "linux/amd64"},
        {"armhf", "linux", "arm", "v7", "linux/arm/v7"},
        {"linux", "linux", "amd64", "", "linux/amd64"},
        {"windows", "windows", "amd64", "", "windows/amd64"},
        {"Linux/AMD64", "linux", "amd64", "", "linux/amd64"},
        {"macos/arm64", "darwin", "arm64", "", "darwin/arm64"},
        {"linux/x86-64/v1", "linux", "amd64", "", "linux/amd64"},
        {"linux/amd64/v3", "linux", "amd64", "v3", "linux/amd64/v3"},
        {"linux/i386", "linux", "386", "", "linux/386"},
        {"linux/ppc64le", "linux", "ppc64le", "", "linux/ppc64le"},
        {"linux/riscv64/rva20u64", "linux", "riscv64", "rva20u64", "linux/riscv64/rva20u64"},
        {"linux/mips64_le.x-y", "linux", "mips64_le.x-y", "", "linux/mips64_le.x-y"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        imgd_platform p;
        imgd_error *err = NULL;
        memset(&p, 'x', sizeof(p));
        if (imgd_platform_parse(&p, cases[i].text, &err) != 0)
            fail_msg("'%s': %s", cases[i].text, err ? err->message : "?");
        assert_null(err);
        expect_platform(&p, cases[i].os, cases[i].arch, cases[i].variant);
        char buf[128];
        imgd_platform_format(buf, sizeof(buf), &p);
        assert_string_equal(buf, cases[i].formatted);
    }
}

static void test_parse_invalid(void **state)
{
    static const struct {
        const char *text, *message;
    } cases[] = {
        {"", "invalid platform '': platform is empty"},
        {"/", "invalid platform '/': empty part"},
        {"linux/", "invalid platform 'linux/': empty part"},
        {"/amd64", "empty part"},
        {"linux//v7", "empty part"},
        {"linux/arm/v7/x", "invalid platform 'linux/arm/v7/x': more than os/architecture/variant"},
        {"linux/arm/v7/", "more than os/architecture/variant"},
        {"linux/amd 64", "invalid platform 'linux/amd 64': invalid character"},
        {"linux/amd64:v2", "invalid character"},
        {"linux/amd64\n", "invalid character"},
        {"linux/\xc3\xa9", "invalid character"},
        {"linux/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "a part is longer than 31 characters"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        imgd_platform p = make("o", "a", "v");
        imgd_error *err = NULL;
        assert_int_equal(imgd_platform_parse(&p, cases[i].text, &err), -EINVAL);
        assert_non_null(err);
        assert_int_equal(err->code, EINVAL);
        if (!strstr(err->message, cases[i].message))
            fail_msg("message '%s' lacks '%s'", err->message, cases[i].message);
        assert_null(strchr(err->message, '\n'));
        expect_platform(&p, "o", "a", "v"); /* untouched */
        imgd_error_free(err);
    }
    imgd_platform p = make("o", "a", "v");
    assert_int_equal(imgd_platform_parse(&p, NULL, NULL), -EINVAL);
    /* 31 characters fit */
    assert_int_equal(imgd_platform_parse(&p, "linux/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL), 0);
    assert_int_equal(strlen(p.architecture), 31);
}

static void test_normalize(void **state)
{
    static const struct {
        const char *os, *arch, *variant;
        const char *want_os, *want_arch, *want_variant;
    } cases[] = {
        {"Linux", "AMD64", "", "linux", "amd64", ""},
        {"MacOS", "arm64", "", "darwin", "arm64", ""},
        {"linux", "x86_64", "v1", "linux", "amd64", ""},
        {"linux", "x86-64", "", "linux", "amd64", ""},
        {"linux", "x86_64", "v2", "linux", "amd64", "v2"},
        {"linux", "amd64", "V1", "linux", "amd64", ""},
        {"linux", "aarch64", "8", "linux", "arm64", ""},
        {"linux", "aarch64", "v8", "linux", "arm64", ""},
        {"linux", "aarch64", "v8.1", "linux", "arm64", "v8.1"},
        {"linux", "arm64", "v8", "linux", "arm64", ""},
        {"linux", "arm64", "8", "linux", "arm64", ""},
        {"linux", "armhf", "", "linux", "arm", "v7"},
        {"linux", "armhf", "v6", "linux", "arm", "v7"},
        {"linux", "armel", "", "linux", "arm", "v6"},
        {"linux", "arm", "", "linux", "arm", "v7"},
        {"linux", "arm", "7", "linux", "arm", "v7"},
        {"linux", "arm", "6", "linux", "arm", "v6"},
        {"linux", "arm", "8", "linux", "arm", "v8"},
        {"linux", "arm", "v6", "linux", "arm", "v6"},
        {"linux", "i386", "", "linux", "386", ""},
        {"windows", "s390x", "", "windows", "s390x", ""},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        imgd_platform p = make(cases[i].os, cases[i].arch, cases[i].variant);
        imgd_platform_normalize(&p);
        expect_platform(&p, cases[i].want_os, cases[i].want_arch, cases[i].want_variant);
        /* idempotent */
        imgd_platform q = p;
        imgd_platform_normalize(&q);
        assert_memory_equal(&p, &q, sizeof(p));
    }
}

static void test_default(void **state)
{
    imgd_platform p;
    (void)state;
    memset(&p, 'x', sizeof(p));
    imgd_platform_default(&p);
    expect_platform(&p, "linux", "amd64", "");
}

static void test_match(void **state)
{
    static const struct {
        imgd_platform want, have;
        bool match;
    } cases[] = {
        {{"linux", "amd64", ""}, {"linux", "amd64", ""}, true},
        {{"linux", "amd64", ""}, {"linux", "x86_64", ""}, true},
        {{"linux", "amd64", ""}, {"linux", "amd64", "v3"}, true},
        {{"linux", "amd64", "v3"}, {"linux", "amd64", ""}, false},
        {{"linux", "amd64", "v3"}, {"linux", "amd64", "v3"}, true},
        {{"linux", "amd64", ""}, {"linux", "arm64", ""}, false},
        {{"linux", "amd64", ""}, {"windows", "amd64", ""}, false},
        {{"linux", "arm64", ""}, {"linux", "arm64", "v8"}, true},
        {{"linux", "arm64", "v8"}, {"linux", "aarch64", ""}, true},
        {{"linux", "arm64", ""}, {"linux", "arm64", "v8.2"}, true},
        {{"linux", "arm", ""}, {"linux", "arm", "v7"}, true},
        {{"linux", "arm", ""}, {"linux", "arm", "v6"}, false}, /* bare arm means v7 */
        {{"linux", "arm", "v6"}, {"linux", "armel", ""}, true},
        {{"linux", "arm", "v7"}, {"linux", "armhf", ""}, true},
        {{"Linux", "AMD64", ""}, {"linux", "amd64", ""}, true},
        {{"darwin", "arm64", ""}, {"macos", "arm64", ""}, true},
        {{"linux", "386", ""}, {"linux", "i386", ""}, true},
        {{"linux", "amd64", ""}, {"unknown", "unknown", ""}, false},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        imgd_platform want = cases[i].want, have = cases[i].have;
        if (imgd_platform_match(&want, &have) != cases[i].match)
            fail_msg("case %zu: want %s/%s/%s have %s/%s/%s", i, want.os, want.architecture,
                     want.variant, have.os, have.architecture, have.variant);
        /* the arguments are not normalised in place */
        assert_memory_equal(&want, &cases[i].want, sizeof(want));
        assert_memory_equal(&have, &cases[i].have, sizeof(have));
    }
}

static void test_format_truncates(void **state)
{
    imgd_platform p = make("linux", "arm", "v7");
    char buf[8];
    (void)state;
    memset(buf, 'x', sizeof(buf));
    imgd_platform_format(buf, sizeof(buf), &p);
    assert_string_equal(buf, "linux/a");
    imgd_platform_format(buf, 1, &p);
    assert_string_equal(buf, "");
    buf[0] = 'x';
    imgd_platform_format(buf, 0, &p); /* writes nothing */
    assert_int_equal(buf[0], 'x');
}

static void test_from_json(void **state)
{
    static const struct {
        const char *json;
        int result;
        const char *os, *arch, *variant;
    } cases[] = {
        {"{\"os\":\"linux\",\"architecture\":\"amd64\"}", 0, "linux", "amd64", ""},
        {"{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v7\"}", 0, "linux", "arm", "v7"},
        {"{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":null}", 0, "linux", "arm64", ""},
        {"{\"os\":\"Linux\",\"architecture\":\"x86_64\",\"os.version\":\"1\",\"features\":[]}", 0,
         "Linux", "x86_64", ""},
        {"{\"os\":\"unknown\",\"architecture\":\"unknown\"}", 0, "unknown", "unknown", ""},
        {"{\"architecture\":\"amd64\"}", -EINVAL, NULL, NULL, NULL},
        {"{\"os\":\"linux\"}", -EINVAL, NULL, NULL, NULL},
        {"{\"os\":\"\",\"architecture\":\"amd64\"}", -EINVAL, NULL, NULL, NULL},
        {"{\"os\":\"linux\",\"architecture\":7}", -EINVAL, NULL, NULL, NULL},
        {"{\"os\":null,\"architecture\":\"amd64\"}", -EINVAL, NULL, NULL, NULL},
        {"{\"os\":\"linux\",\"architecture\":\"amd64\",\"variant\":1}", -EINVAL, NULL, NULL, NULL},
        {"{\"os\":\"linux\",\"architecture\":\"a\\u0000b\"}", -EINVAL, NULL, NULL, NULL},
        {"{\"os\":\"linux\",\"architecture\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", -EINVAL, NULL,
         NULL, NULL},
        {"[\"linux\",\"amd64\"]", -EINVAL, NULL, NULL, NULL},
        {"\"linux/amd64\"", -EINVAL, NULL, NULL, NULL},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_error_t jerr;
        json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        assert_non_null(v);
        imgd_platform p = make("o", "a", "v");
        if (imgd_platform_from_json(&p, v) != cases[i].result)
            fail_msg("case %zu: %s", i, cases[i].json);
        if (cases[i].result == 0)
            expect_platform(&p, cases[i].os, cases[i].arch, cases[i].variant);
        else
            expect_platform(&p, "o", "a", "v");
        json_decref(v);
    }
    imgd_platform p = make("o", "a", "v");
    assert_int_equal(imgd_platform_from_json(&p, NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid), cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_normalize),   cmocka_unit_test(test_default),
        cmocka_unit_test(test_match),       cmocka_unit_test(test_format_truncates),
        cmocka_unit_test(test_from_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
