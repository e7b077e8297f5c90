/* SPDX-License-Identifier: MIT */
/* WWW-Authenticate challenges: quoting, spacing, case, duplicates, several challenges, the bad
 * forms and their messages, and the token URL with its percent-encoding. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/registry/challenge.h"

static void expect_str(const char *got, const char *want)
{
    if (!want)
        assert_null(got);
    else
        assert_string_equal(got, want);
}

static const struct parse_case {
    const char *header;
    const char *scheme, *realm, *service, *scope, *error;
} parse_cases[] = {
    {"Bearer realm=\"https://auth.example/token\",service=\"registry.example\","
     "scope=\"repository:a/b:pull,push\"",
     "bearer", "https://auth.example/token", "registry.example", "repository:a/b:pull,push", NULL},
    {"Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\"", "bearer",
     "https://auth.docker.io/token", "registry.docker.io", NULL, NULL},
    {"Basic realm=\"harbor\"", "basic", "harbor", NULL, NULL, NULL},
    {"Basic", "basic", NULL, NULL, NULL, NULL},
    {"  BASIC  ", "basic", NULL, NULL, NULL, NULL},
    /* spaces around '=' and ',' */
    {"Bearer realm = \"r\" , service= s ,scope =\"x y\"", "bearer", "r", "s", "x y", NULL},
    /* unquoted (token) values */
    {"Bearer realm=https://a.example/t?x=1,service=svc", "bearer", "https://a.example/t?x=1", "svc",
     NULL, NULL},
    /* parameter names are case-insensitive, unknown ones ignored */
    {"bearer REALM=\"r\",Service=\"s\",Scope=\"sc\",foo=\"bar\",Error=\"invalid_token\"", "bearer",
     "r", "s", "sc", "invalid_token"},
    /* escaped quotes and backslashes inside quotes */
    {"Bearer realm=\"a\\\"b\\\\c\\d\",service=\"x,y\"", "bearer", "a\"b\\cd", "x,y", NULL, NULL},
    /* several scopes */
    {"Bearer realm=\"r\",scope=\"repository:a:pull repository:b:pull,push\"", "bearer", "r", NULL,
     "repository:a:pull repository:b:pull,push", NULL},
    /* duplicates: the first wins */
    {"Bearer realm=\"first\",realm=\"second\",service=a,SERVICE=b", "bearer", "first", "a", NULL,
     NULL},
    /* several challenges: the first is taken */
    {"Basic realm=\"x\", Bearer realm=\"y\",service=\"z\"", "basic", "x", NULL, NULL, NULL},
    {"Bearer realm=\"y\", Basic realm=\"x\"", "bearer", "y", NULL, NULL, NULL},
    {"Bearer realm=\"y\", Basic", "bearer", "y", NULL, NULL, NULL},
    {"Basic, Bearer realm=\"y\"", "basic", NULL, NULL, NULL, NULL},
    /* a parameter after a comma belongs to the challenge before it */
    {"Bearer , realm=\"r\"", "bearer", "r", NULL, NULL, NULL},
    {"Basic,realm=\"x\", Bearer realm=\"y\"", "basic", "x", NULL, NULL, NULL},
    /* token68 credentials */
    {"Negotiate YIIBhwYGKwYBBQUCoIIBezCCAXeg==", "negotiate", NULL, NULL, NULL, NULL},
    {"Negotiate abc=, Bearer realm=\"r\"", "negotiate", NULL, NULL, NULL, NULL},
    /* "realm=" alone is a token68 by the RFC grammar, not an empty parameter */
    {"Bearer realm=", "bearer", NULL, NULL, NULL, NULL},
    /* empty list elements and trailing commas */
    {", ,Bearer realm=\"r\",,  ,service=\"s\",", "bearer", "r", "s", NULL, NULL},
    /* empty quoted values */
    {"Bearer realm=\"\",service=\"\"", "bearer", "", "", NULL, NULL},
    /* harbor */
    {"Bearer realm=\"https://harbor.example/service/token\",service=\"harbor-registry\","
     "scope=\"repository:library/nginx:pull\"",
     "bearer", "https://harbor.example/service/token", "harbor-registry",
     "repository:library/nginx:pull", NULL},
    /* tabs are whitespace */
    {"Bearer\trealm=\"r\"\t,\tservice=\"s\"", "bearer", "r", "s", NULL, NULL},
    /* error parameters of a rejected token */
    {"Bearer realm=\"r\",error=\"insufficient_scope\",error_description=\"no\"", "bearer", "r",
     NULL, NULL, "insufficient_scope"},
};

static void test_parse_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
        const struct parse_case *c = &parse_cases[i];
        imgd_challenge ch = {0};
        imgd_error *err = NULL;
        if (imgd_challenge_parse(&ch, c->header, &err) != 0)
            fail_msg("'%s': %s", c->header, err ? err->message : "?");
        assert_null(err);
        expect_str(ch.scheme, c->scheme);
        expect_str(ch.realm, c->realm);
        expect_str(ch.service, c->service);
        expect_str(ch.scope, c->scope);
        expect_str(ch.error, c->error);
        imgd_challenge_dispose(&ch);
        assert_null(ch.scheme);
    }
}

static void test_parse_invalid(void **state)
{
    static const struct {
        const char *header, *message;
    } cases[] = {
        {"", "invalid WWW-Authenticate header: missing authentication scheme"},
        {"   ", "missing authentication scheme"},
        {",", "missing authentication scheme"},
        {"realm=\"x\"", "missing authentication scheme"},
        {"=x", "missing authentication scheme"},
        {"\"Bearer\" realm=x", "missing authentication scheme"},
        {"Bearer realm=\"x", "unterminated quoted value of 'realm'"},
        {"Bearer realm=\"x\\", "unterminated quoted value of 'realm'"},
        {"Bearer realm=\"x\",service=\"abc\\\"", "unterminated quoted value of 'service'"},
        {"Bearer realm=\"r\",service=", "parameter 'service' has no value"},
        {"Bearer realm=\"r\",service=,scope=x", "parameter 'service' has no value"},
        {"Bearer realm=\"r\" service=\"s\"", "expected ',' after parameter 'realm'"},
        {"Bearer realm=\"r\"x", "expected ',' after parameter 'realm'"},
        {"Bearer foo bar", "expected '=' after 'foo'"},
        {"Bearer \"x\"", "expected a parameter name"},
        {"Bearer realm=\"r\",\"s\"", "expected a parameter name"},
        {"Bearer realm=\"a\nb\"", "control character in the value of 'realm'"},
        {"Bearer realm=\"a\\\rb\"", "control character in the value of 'realm'"},
        {"Bearer/x realm=y", "invalid character after the authentication scheme"},
        {"Bearer realm=a\x01", "expected ',' after parameter 'realm'"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char sentinel = 0;
        imgd_challenge ch = {&sentinel, &sentinel, &sentinel, &sentinel, &sentinel};
        imgd_error *err = NULL;
        int r = imgd_challenge_parse(&ch, cases[i].header, &err);
        if (r != -EINVAL)
            fail_msg("'%s': %d", cases[i].header, r);
        assert_non_null(err);
        assert_int_equal(err->code, EINVAL);
        if (!strstr(err->message, cases[i].message))
            fail_msg("message '%s' lacks '%s'", err->message, cases[i].message);
        assert_null(strchr(err->message, '\n'));
        assert_ptr_equal(ch.scheme, &sentinel); /* untouched */
        assert_ptr_equal(ch.realm, &sentinel);
        imgd_error_free(err);
    }
    imgd_challenge ch = {0};
    assert_int_equal(imgd_challenge_parse(&ch, NULL, NULL), -EINVAL);
    assert_null(ch.scheme);
}

static void test_parse_bound(void **state)
{
    char *h = malloc(IMGD_CHALLENGE_HEADER_MAX + 2);
    imgd_challenge ch = {0};
    imgd_error *err = NULL;
    (void)state;
    assert_non_null(h);
    /* exactly 8192 bytes: a long quoted realm is accepted */
    const char *head = "Bearer realm=\"";
    size_t n = strlen(head);
    memcpy(h, head, n);
    memset(h + n, 'a', IMGD_CHALLENGE_HEADER_MAX - n - 1);
    h[IMGD_CHALLENGE_HEADER_MAX - 1] = '"';
    h[IMGD_CHALLENGE_HEADER_MAX] = '\0';
    assert_int_equal(imgd_challenge_parse(&ch, h, &err), 0);
    assert_int_equal(strlen(ch.realm), IMGD_CHALLENGE_HEADER_MAX - n - 1);
    imgd_challenge_dispose(&ch);
    /* one more byte is refused */
    h[IMGD_CHALLENGE_HEADER_MAX - 1] = 'a';
    h[IMGD_CHALLENGE_HEADER_MAX] = '"';
    h[IMGD_CHALLENGE_HEADER_MAX + 1] = '\0';
    assert_int_equal(imgd_challenge_parse(&ch, h, &err), -EINVAL);
    assert_non_null(err);
    assert_non_null(strstr(err->message, "longer than 8192 bytes"));
    assert_true(strlen(err->message) < 100);
    assert_null(ch.scheme);
    imgd_error_free(err);
    free(h);
}

static void test_token_url(void **state)
{
    static const char *const two[] = {"repository:a/b:pull,push", "registry:catalog:*", NULL};
    static const char *const host_port[] = {"repository:host:5000/x:pull", NULL};
    static const char *const odd[] = {"", "a b~c-d._e", "ü", NULL};
    static const char *const none[] = {NULL};
    static const struct {
        const char *header;
        const char *const *scopes;
        const char *url;
    } cases[] = {
        {"Bearer realm=\"https://auth.example/token\",service=\"registry.example\"", two,
         "https://auth.example/token?service=registry.example"
         "&scope=repository%3Aa%2Fb%3Apull%2Cpush&scope=registry%3Acatalog%3A%2A"},
        {"Bearer realm=\"https://auth.example/token?x=1\",service=\"s\"", host_port,
         "https://auth.example/token?x=1&service=s&scope=repository%3Ahost%3A5000%2Fx%3Apull"},
        {"Bearer realm=\"https://a/t?\",service=\"s\"", none, "https://a/t?service=s"},
        {"Bearer realm=\"https://a/t?x=1&\",service=\"s\"", none, "https://a/t?x=1&service=s"},
        {"Bearer realm=\"https://a/t\"", two,
         "https://a/t?scope=repository%3Aa%2Fb%3Apull%2Cpush&scope=registry%3Acatalog%3A%2A"},
        {"Bearer realm=\"https://a/t\"", none, "https://a/t"},
        {"Bearer realm=\"https://a/t\",service=\"harbor registry&x=y\"", odd,
         "https://a/t?service=harbor%20registry%26x%3Dy&scope=a%20b~c-d._e&scope=%C3%BC"},
        /* NULL scopes: the challenge's own, split at spaces */
        {"Bearer realm=\"https://a/t\",service=\"s\",scope=\"repository:a:pull  "
         "repository:b:push\"",
         NULL, "https://a/t?service=s&scope=repository%3Aa%3Apull&scope=repository%3Ab%3Apush"},
        {"Bearer realm=\"https://a/t\",service=\"s\",scope=\" \"", NULL, "https://a/t?service=s"},
        {"Bearer realm=\"https://a/t\",scope=\"x\"", none, "https://a/t"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        imgd_challenge ch = {0};
        assert_int_equal(imgd_challenge_parse(&ch, cases[i].header, NULL), 0);
        char *url = imgd_challenge_token_url(&ch, cases[i].scopes);
        if (!url || strcmp(url, cases[i].url) != 0)
            fail_msg("case %zu: got '%s', want '%s'", i, url ? url : "(null)", cases[i].url);
        free(url);
        imgd_challenge_dispose(&ch);
    }
}

static void test_token_url_without_realm(void **state)
{
    imgd_challenge ch = {0};
    (void)state;
    assert_int_equal(imgd_challenge_parse(&ch, "Bearer service=\"s\"", NULL), 0);
    assert_null(imgd_challenge_token_url(&ch, NULL));
    imgd_challenge_dispose(&ch);
    assert_int_equal(imgd_challenge_parse(&ch, "Bearer realm=\"\",service=\"s\"", NULL), 0);
    assert_null(imgd_challenge_token_url(&ch, NULL));
    imgd_challenge_dispose(&ch);
    imgd_challenge_dispose(&ch);
    imgd_challenge_dispose(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_parse_bound),
        cmocka_unit_test(test_token_url),
        cmocka_unit_test(test_token_url_without_realm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
