/* SPDX-License-Identifier: MIT */
/* Image references: docker's normalisation, the formatted forms, the bad inputs and their
 * messages, loopback hosts and the digest grammar. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/registry/reference.h"

#define SHA256_A                                                                                   \
    "sha256:"                                                                                      \
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SHA512_A                                                                                   \
    "sha512:"                                                                                      \
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"                             \
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void expect_str(const char *got, const char *want)
{
    if (!want)
        assert_null(got);
    else
        assert_string_equal(got, want);
}

/* A failure with EINVAL, a one-line message holding want, and err->code set. */
static void expect_error(int r, imgd_error **errp, int code, const char *want)
{
    imgd_error *err = *errp;
    assert_int_equal(r, -code);
    assert_non_null(err);
    assert_int_equal(err->code, code);
    if (!strstr(err->message, want))
        fail_msg("message '%s' lacks '%s'", err->message, want);
    assert_null(strchr(err->message, '\n'));
}

static const struct valid_case {
    const char *text;
    const char *domain, *path, *tag, *digest;
    const char *format, *familiar;
} valid_cases[] = {
    {"busybox", "docker.io", "library/busybox", "latest", NULL, "docker.io/library/busybox:latest",
     "busybox:latest"},
    {"busybox:1.36", "docker.io", "library/busybox", "1.36", NULL, "docker.io/library/busybox:1.36",
     "busybox:1.36"},
    {"library/busybox", "docker.io", "library/busybox", "latest", NULL,
     "docker.io/library/busybox:latest", "busybox:latest"},
    {"docker.io/busybox", "docker.io", "library/busybox", "latest", NULL,
     "docker.io/library/busybox:latest", "busybox:latest"},
    {"index.docker.io/library/busybox:x", "docker.io", "library/busybox", "x", NULL,
     "docker.io/library/busybox:x", "busybox:x"},
    {"index.docker.io/busybox", "docker.io", "library/busybox", "latest", NULL,
     "docker.io/library/busybox:latest", "busybox:latest"},
    {"user/app:1", "docker.io", "user/app", "1", NULL, "docker.io/user/app:1", "user/app:1"},
    {"docker.io/library/a/b", "docker.io", "library/a/b", "latest", NULL,
     "docker.io/library/a/b:latest", "library/a/b:latest"},
    {"quay.io/x/y:2", "quay.io", "x/y", "2", NULL, "quay.io/x/y:2", "quay.io/x/y:2"},
    {"quay.io/busybox", "quay.io", "busybox", "latest", NULL, "quay.io/busybox:latest",
     "quay.io/busybox:latest"},
    {"localhost/app", "localhost", "app", "latest", NULL, "localhost/app:latest",
     "localhost/app:latest"},
    {"localhost:5000/app:v1", "localhost:5000", "app", "v1", NULL, "localhost:5000/app:v1",
     "localhost:5000/app:v1"},
    {"localhost:5000", "docker.io", "library/localhost", "5000", NULL,
     "docker.io/library/localhost:5000", "localhost:5000"},
    {"127.0.0.1:5000/team/app", "127.0.0.1:5000", "team/app", "latest", NULL,
     "127.0.0.1:5000/team/app:latest", "127.0.0.1:5000/team/app:latest"},
    {"[::1]:5000/app", "[::1]:5000", "app", "latest", NULL, "[::1]:5000/app:latest",
     "[::1]:5000/app:latest"},
    {"[fe80::1]/app:t", "[fe80::1]", "app", "t", NULL, "[fe80::1]/app:t", "[fe80::1]/app:t"},
    {"registry.example.com:5000/team/app@" SHA256_A, "registry.example.com:5000", "team/app", NULL,
     SHA256_A, "registry.example.com:5000/team/app@" SHA256_A,
     "registry.example.com:5000/team/app@" SHA256_A},
    {"host.example/x:t@" SHA256_A, "host.example", "x", "t", SHA256_A, "host.example/x:t@" SHA256_A,
     "host.example/x:t@" SHA256_A},
    {"busybox@" SHA256_A, "docker.io", "library/busybox", NULL, SHA256_A,
     "docker.io/library/busybox@" SHA256_A, "busybox@" SHA256_A},
    {"busybox@" SHA512_A, "docker.io", "library/busybox", NULL, SHA512_A,
     "docker.io/library/busybox@" SHA512_A, "busybox@" SHA512_A},
    {"x@sha384+b64u:abc=_-Z", "docker.io", "library/x", NULL, "sha384+b64u:abc=_-Z",
     "docker.io/library/x@sha384+b64u:abc=_-Z", "x@sha384+b64u:abc=_-Z"},
    {"Foo/bar", "Foo", "bar", "latest", NULL, "Foo/bar:latest", "Foo/bar:latest"},
    {"docker.io/a-b_c__d.e/f---g:T_a.g-1", "docker.io", "a-b_c__d.e/f---g", "T_a.g-1", NULL,
     "docker.io/a-b_c__d.e/f---g:T_a.g-1", "docker.io/a-b_c__d.e/f---g:T_a.g-1"},
    {"docker.io/localhost/x", "docker.io", "localhost/x", "latest", NULL,
     "docker.io/localhost/x:latest", "docker.io/localhost/x:latest"},
    {"docker.io/a-b/c", "docker.io", "a-b/c", "latest", NULL, "docker.io/a-b/c:latest",
     "a-b/c:latest"},
    {"xn--bcher-kva.example/a/b/c/d:_x", "xn--bcher-kva.example", "a/b/c/d", "_x", NULL,
     "xn--bcher-kva.example/a/b/c/d:_x", "xn--bcher-kva.example/a/b/c/d:_x"},
    {"a", "docker.io", "library/a", "latest", NULL, "docker.io/library/a:latest", "a:latest"},
    {"0", "docker.io", "library/0", "latest", NULL, "docker.io/library/0:latest", "0:latest"},
    {"reg:65535/a", "reg:65535", "a", "latest", NULL, "reg:65535/a:latest", "reg:65535/a:latest"},
    {"reg:1/a", "reg:1", "a", "latest", NULL, "reg:1/a:latest", "reg:1/a:latest"},
    /* a 64-hex path component is fine when it is not the whole reference */
    {"x/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "docker.io",
     "x/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "latest", NULL,
     "docker.io/x/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef:latest",
     "x/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef:latest"},
};

static void test_parse_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
        const struct valid_case *c = &valid_cases[i];
        imgd_reference ref = {0};
        imgd_error *err = NULL;
        int r = imgd_reference_parse(&ref, c->text, &err);
        if (r != 0)
            fail_msg("'%s': %s", c->text, err ? err->message : "?");
        assert_null(err);
        expect_str(ref.domain, c->domain);
        expect_str(ref.path, c->path);
        expect_str(ref.tag, c->tag);
        expect_str(ref.digest, c->digest);
        char *s = imgd_reference_format(&ref);
        expect_str(s, c->format);
        free(s);
        s = imgd_reference_familiar(&ref);
        expect_str(s, c->familiar);
        free(s);
        imgd_reference_dispose(&ref);
        assert_null(ref.domain);
        assert_null(ref.path);
    }
}

/* Parsing the formatted form gives the same reference back. */
static void test_format_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
        imgd_reference a = {0}, b = {0};
        assert_int_equal(imgd_reference_parse(&a, valid_cases[i].text, NULL), 0);
        char *text = imgd_reference_format(&a);
        assert_non_null(text);
        assert_int_equal(imgd_reference_parse(&b, text, NULL), 0);
        char *again = imgd_reference_format(&b);
        assert_string_equal(again, text);
        expect_str(b.tag, a.tag);
        expect_str(b.digest, a.digest);
        /* the familiar form names the same image, too */
        char *familiar = imgd_reference_familiar(&a);
        imgd_reference c = {0};
        if (imgd_reference_parse(&c, familiar, NULL) != 0)
            fail_msg("familiar form '%s' does not parse", familiar);
        char *via_familiar = imgd_reference_format(&c);
        assert_string_equal(via_familiar, text);
        free(via_familiar);
        free(familiar);
        free(again);
        free(text);
        imgd_reference_dispose(&a);
        imgd_reference_dispose(&b);
        imgd_reference_dispose(&c);
    }
}

static void test_parse_invalid(void **state)
{
    static const struct {
        const char *text;
        const char *message;
    } cases[] = {
        {"", "invalid reference '': reference is empty"},
        {"Busybox", "invalid reference 'Busybox': repository name 'Busybox' must be lowercase"},
        {"foo/Bar", "invalid reference 'foo/Bar': repository name 'foo/Bar' must be lowercase"},
        {"quay.io/Team/app", "repository name 'Team/app' must be lowercase"},
        {"busybox:la$t", "invalid reference 'busybox:la$t': invalid tag 'la$t'"},
        {"busybox:-t", "invalid tag '-t'"},
        {"busybox:.t", "invalid tag '.t'"},
        {"busybox:", "invalid reference 'busybox:': tag is empty"},
        {"x@sha256:12",
         "invalid reference 'x@sha256:12': invalid digest 'sha256:12': sha256 needs 64 hex digits"},
        {"x@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
         "sha256 needs lowercase hex digits"},
        {"x@sha512:0123", "sha512 needs 128 hex digits"},
        {"x@md5", "missing ':' between algorithm and encoded part"},
        {"x@:abc", "invalid digest ':abc': invalid algorithm"},
        {"x@SHA256:abc", "invalid algorithm"},
        {"x@sha256+:abc", "invalid algorithm"},
        {"x@sha256:", "encoded part is empty"},
        {"x@sha256:ab@cd", "invalid character in encoded part"},
        {"x@", "invalid digest '': digest is empty"},
        {"a//b", "invalid reference 'a//b': repository name 'a//b' has an empty path component"},
        {"busybox/", "invalid reference 'busybox/': repository name must not end with '/'"},
        {"quay.io/", "must not end with '/'"},
        {"/busybox", "invalid reference '/busybox': repository name must not start with '/'"},
        {":tag", "invalid reference ':tag': repository name is empty"},
        {"@" SHA256_A, "repository name is empty"},
        {"a..b", "invalid path component 'a..b'"},
        {"a___b", "invalid path component 'a___b'"},
        {"a_-b", "invalid path component 'a_-b'"},
        {"-a", "invalid path component '-a'"},
        {"a-", "invalid path component 'a-'"},
        {"x/.a", "invalid path component '.a'"},
        {"a b", "invalid path component 'a b'"},
        {"busybox:latest:1", "invalid path component 'busybox:latest'"},
        {"Foo_x/bar", "invalid reference 'Foo_x/bar': invalid domain 'Foo_x'"},
        {"my_host.com/x", "invalid domain 'my_host.com'"},
        {"-host.com/x", "invalid domain '-host.com'"},
        {"host-.com/x", "invalid domain 'host-.com'"},
        {"a..com/x", "invalid domain 'a..com'"},
        {".com/x", "invalid domain '.com'"},
        {"host:0/x", "invalid domain 'host:0'"},
        {"host:65536/x", "invalid domain 'host:65536'"},
        {"host:123456/x", "invalid domain 'host:123456'"},
        {"host:/x", "invalid domain 'host:'"},
        {"host:8a/x", "invalid domain 'host:8a'"},
        {":5000/x", "invalid domain ':5000'"},
        {"[::1/x", "invalid domain '[::1'"},
        {"[::g]:5000/x", "invalid domain '[::g]:5000'"},
        {"[]/x", "invalid path component '[]'"},
        {"[::1]5000/x", "invalid domain '[::1]5000'"},
        {"[1:2]/x", "invalid domain '[1:2]'"},
        {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
         "is an image ID, not a repository name"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char sentinel = 0;
        imgd_reference ref = {&sentinel, &sentinel, &sentinel, &sentinel};
        imgd_error *err = NULL;
        int r = imgd_reference_parse(&ref, cases[i].text, &err);
        if (r == 0)
            fail_msg("'%s' parsed", cases[i].text);
        expect_error(r, &err, EINVAL, cases[i].message);
        /* untouched on failure */
        assert_ptr_equal(ref.domain, &sentinel);
        assert_ptr_equal(ref.path, &sentinel);
        assert_ptr_equal(ref.tag, &sentinel);
        assert_ptr_equal(ref.digest, &sentinel);
        imgd_error_free(err);
    }
}

static void test_parse_null_and_no_err(void **state)
{
    imgd_reference ref = {0};
    imgd_error *err = NULL;
    (void)state;
    expect_error(imgd_reference_parse(&ref, NULL, &err), &err, EINVAL, "reference is empty");
    imgd_error_free(err);
    /* err is optional */
    assert_int_equal(imgd_reference_parse(&ref, "a//b", NULL), -EINVAL);
    assert_null(ref.domain);
}

/* The longest repository name is 255 characters, library/ included. */
static void test_name_length(void **state)
{
    char text[300];
    imgd_reference ref = {0};
    imgd_error *err = NULL;
    (void)state;
    /* "example.com/" is 12 characters: 243 more make 255 */
    strcpy(text, "example.com/");
    memset(text + 12, 'a', 243);
    text[255] = '\0';
    assert_int_equal(imgd_reference_parse(&ref, text, &err), 0);
    assert_int_equal(strlen(ref.path), 243);
    char *repo = imgd_reference_repository(&ref);
    assert_int_equal(strlen(repo), 255);
    assert_string_equal(repo, text);
    free(repo);
    imgd_reference_dispose(&ref);

    text[255] = 'a';
    text[256] = '\0';
    expect_error(imgd_reference_parse(&ref, text, &err), &err, EINVAL,
                 "repository name is longer than 255 characters");
    imgd_error_free(err);
    err = NULL;

    /* docker.io/library/ (18) counts: 237 characters fit, 238 do not */
    memset(text, 'b', 237);
    text[237] = '\0';
    assert_int_equal(imgd_reference_parse(&ref, text, &err), 0);
    imgd_reference_dispose(&ref);
    text[237] = 'b';
    text[238] = '\0';
    expect_error(imgd_reference_parse(&ref, text, &err), &err, EINVAL, "longer than 255");
    imgd_error_free(err);
}

static void test_tag_length(void **state)
{
    char text[200];
    imgd_reference ref = {0};
    imgd_error *err = NULL;
    (void)state;
    strcpy(text, "a:");
    memset(text + 2, 't', 128);
    text[130] = '\0';
    assert_int_equal(imgd_reference_parse(&ref, text, &err), 0);
    assert_int_equal(strlen(ref.tag), 128);
    imgd_reference_dispose(&ref);
    text[130] = 't';
    text[131] = '\0';
    expect_error(imgd_reference_parse(&ref, text, &err), &err, EINVAL,
                 "longer than 128 characters");
    imgd_error_free(err);
}

static void test_input_bound(void **state)
{
    imgd_reference ref = {0};
    imgd_error *err = NULL;
    char *text = malloc(IMGD_REFERENCE_TEXT_MAX + 2);
    (void)state;
    assert_non_null(text);
    memset(text, 'a', IMGD_REFERENCE_TEXT_MAX + 1);
    text[IMGD_REFERENCE_TEXT_MAX + 1] = '\0';
    expect_error(imgd_reference_parse(&ref, text, &err), &err, EINVAL,
                 "invalid reference: longer than 4096 bytes");
    /* the message does not quote the whole input */
    assert_true(strlen(err->message) < 100);
    imgd_error_free(err);
    err = NULL;
    /* 4096 bytes are parsed (and refused for the name length, not the input length) */
    text[IMGD_REFERENCE_TEXT_MAX] = '\0';
    expect_error(imgd_reference_parse(&ref, text, &err), &err, EINVAL, "longer than 255");
    imgd_error_free(err);
    free(text);
}

static void test_repository_and_api_host(void **state)
{
    static const struct {
        const char *text, *repository, *api_host;
    } cases[] = {
        {"busybox", "docker.io/library/busybox", "registry-1.docker.io"},
        {"user/app:1", "docker.io/user/app", "registry-1.docker.io"},
        {"index.docker.io/x/y", "docker.io/x/y", "registry-1.docker.io"},
        {"quay.io/x/y@" SHA256_A, "quay.io/x/y", "quay.io"},
        {"localhost:5000/a", "localhost:5000/a", "localhost:5000"},
        {"[::1]:5000/a", "[::1]:5000/a", "[::1]:5000"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        imgd_reference ref = {0};
        assert_int_equal(imgd_reference_parse(&ref, cases[i].text, NULL), 0);
        char *repo = imgd_reference_repository(&ref);
        assert_string_equal(repo, cases[i].repository);
        free(repo);
        assert_string_equal(imgd_reference_api_host(&ref), cases[i].api_host);
        imgd_reference_dispose(&ref);
    }
}

static void test_host_is_loopback(void **state)
{
    static const char *const yes[] = {
        "localhost", "localhost:5000",     "LocalHost:1", "127.0.0.1",  "127.0.0.1:5000",
        "127.1.2.3", "127.255.255.255:80", "[::1]",       "[::1]:5000", "[0:0::1]:443",
    };
    static const char *const no[] = {
        "",
        "example.com",
        "localhost.localdomain",
        "localhost:abc",
        "localhost:0",
        "localhost:",
        "128.0.0.1",
        "10.0.0.1:5000",
        "127.0.0",
        "127.0.0.1.2",
        "::1",
        "[::2]",
        "[::1]x",
        "[::1",
        "127.0.0.1:99999",
        "docker.io",
        "mylocalhost:5000",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (!imgd_reference_host_is_loopback(yes[i]))
            fail_msg("'%s' is loopback", yes[i]);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        if (imgd_reference_host_is_loopback(no[i]))
            fail_msg("'%s' is not loopback", no[i]);
    }
    assert_false(imgd_reference_host_is_loopback(NULL));
}

static void test_digest_validate(void **state)
{
    static const char *const good[] = {
        SHA256_A,
        SHA512_A,
        "sha384:abc",
        "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
        "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
        "a.b_c-d:=",
        "x9:Z",
    };
    static const struct {
        const char *digest, *message;
    } bad[] = {
        {"", "invalid digest '': digest is empty"},
        {"sha256", "invalid digest 'sha256': missing ':'"},
        {"sha256:12", "invalid digest 'sha256:12': sha256 needs 64 hex digits"},
        {SHA256_A "0", "sha256 needs 64 hex digits"},
        {"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg",
         "sha256 needs lowercase hex digits"},
        {"sha512:"
         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
         "sha512 needs 128 hex digits"},
        {"Sha256:abc", "invalid algorithm"},
        {"sha-:abc", "invalid algorithm"},
        {"-sha:abc", "invalid algorithm"},
        {"sha..256:abc", "invalid algorithm"},
        {":abc", "invalid algorithm"},
        {"sha256:", "encoded part is empty"},
        {"sha384:ab/c", "invalid character in encoded part"},
        {"sha384:ab:c", "invalid character in encoded part"},
        {"sha384:ab c", "invalid character in encoded part"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        imgd_error *err = NULL;
        if (imgd_digest_validate(good[i], &err) != 0)
            fail_msg("'%s': %s", good[i], err ? err->message : "?");
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        imgd_error *err = NULL;
        expect_error(imgd_digest_validate(bad[i].digest, &err), &err, EINVAL, bad[i].message);
        imgd_error_free(err);
    }
    assert_int_equal(imgd_digest_validate(NULL, NULL), -EINVAL);
}

static void test_dispose_accepts_null_and_twice(void **state)
{
    imgd_reference ref = {0};
    (void)state;
    imgd_reference_dispose(NULL);
    imgd_reference_dispose(&ref);
    assert_int_equal(imgd_reference_parse(&ref, "quay.io/a:b", NULL), 0);
    imgd_reference_dispose(&ref);
    imgd_reference_dispose(&ref);
    assert_null(ref.tag);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_parse_null_and_no_err),
        cmocka_unit_test(test_name_length),
        cmocka_unit_test(test_tag_length),
        cmocka_unit_test(test_input_bound),
        cmocka_unit_test(test_repository_and_api_host),
        cmocka_unit_test(test_host_is_loopback),
        cmocka_unit_test(test_digest_validate),
        cmocka_unit_test(test_dispose_accepts_null_and_twice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
