/* SPDX-License-Identifier: MIT */
/* Docker-style auth files: key matching (schemes, paths, case, docker.io's aliases, preference),
 * the "auth" and username/password forms, malformed entries whose messages must not carry the
 * secret, and loading files from disk. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/registry/authfile.h"

static json_t *doc_of(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!v)
        fail_msg("bad test JSON: %s", jerr.text);
    return v;
}

static void expect_str(const char *got, const char *want)
{
    if (!want)
        assert_null(got);
    else
        assert_string_equal(got, want);
}

static const struct lookup_case {
    const char *doc, *host;
    const char *username, *password, *token;
} lookup_cases[] = {
    /* "auth" splits at the first ':' */
    {"{\"auths\":{\"quay.io\":{\"auth\":\"dXNlcjpwYTpzcw==\"}}}", "quay.io", "user", "pa:ss", NULL},
    /* missing padding is tolerated */
    {"{\"auths\":{\"quay.io\":{\"auth\":\"dXNlcjpwdw\"}}}", "quay.io", "user", "pw", NULL},
    {"{\"auths\":{\"quay.io\":{\"auth\":\"dXNlcjpwdw=\"}}}", "quay.io", "user", "pw", NULL},
    {"{\"auths\":{\"quay.io\":{\"auth\":\"Om9ubHlwYXNz\"}}}", "quay.io", "", "onlypass", NULL},
    {"{\"auths\":{\"quay.io\":{\"auth\":\"Ym9iOg==\"}}}", "quay.io", "bob", "", NULL},
    /* username and password members */
    {"{\"auths\":{\"quay.io\":{\"username\":\"alice\",\"password\":\"pw\"}}}", "quay.io", "alice",
     "pw", NULL},
    /* "auth" wins */
    {"{\"auths\":{\"quay.io\":{\"auth\":\"YWxpY2U6czNjcmV0\",\"username\":\"x\",\"password\":\"y\"}"
     "}}",
     "quay.io", "alice", "s3cret", NULL},
    /* identity tokens, alone or with "auth" */
    {"{\"auths\":{\"quay.io\":{\"identitytoken\":\"tok\"}}}", "quay.io", NULL, NULL, "tok"},
    {"{\"auths\":{\"quay.io\":{\"auth\":\"dXNlcjpwdw==\",\"identitytoken\":\"tok\"}}}", "quay.io",
     "user", "pw", "tok"},
    /* key forms: scheme, path, case, port */
    {"{\"auths\":{\"https://quay.io/v1/\":{\"auth\":\"dXNlcjpwdw==\"}}}", "quay.io", "user", "pw",
     NULL},
    {"{\"auths\":{\"http://quay.io\":{\"auth\":\"dXNlcjpwdw==\"}}}", "quay.io", "user", "pw", NULL},
    {"{\"auths\":{\"HTTPS://QUAY.IO\":{\"auth\":\"dXNlcjpwdw==\"}}}", "Quay.io", "user", "pw",
     NULL},
    {"{\"auths\":{\"localhost:5000\":{\"auth\":\"dXNlcjpwdw==\"},"
     "\"localhost\":{\"auth\":\"YWxpY2U6czNjcmV0\"}}}",
     "localhost:5000", "user", "pw", NULL},
    {"{\"auths\":{\"localhost:5000\":{\"auth\":\"dXNlcjpwdw==\"},"
     "\"localhost\":{\"auth\":\"YWxpY2U6czNjcmV0\"}}}",
     "localhost", "alice", "s3cret", NULL},
    /* a repository-specific key serves its host... */
    {"{\"auths\":{\"quay.io/team/app\":{\"auth\":\"dXNlcjpwdw==\"}}}", "quay.io", "user", "pw",
     NULL},
    /* ...but a host key is preferred */
    {"{\"auths\":{\"quay.io/team/app\":{\"auth\":\"dXNlcjpwdw==\"},"
     "\"quay.io\":{\"auth\":\"YWxpY2U6czNjcmV0\"}}}",
     "quay.io", "alice", "s3cret", NULL},
    /* docker.io under its legacy URL and aliases */
    {"{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"dXNlcjpwdw==\"}}}", "docker.io",
     "user", "pw", NULL},
    {"{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"dXNlcjpwdw==\"}}}",
     "registry-1.docker.io", "user", "pw", NULL},
    {"{\"auths\":{\"index.docker.io\":{\"auth\":\"dXNlcjpwdw==\"}}}", "docker.io", "user", "pw",
     NULL},
    {"{\"auths\":{\"registry-1.docker.io\":{\"auth\":\"dXNlcjpwdw==\"}}}", "docker.io", "user",
     "pw", NULL},
    {"{\"auths\":{\"docker.io\":{\"auth\":\"dXNlcjpwdw==\"}}}", "index.docker.io", "user", "pw",
     NULL},
    /* preference: the exact key, then the same host, then an alias */
    {"{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"dXNlcjpwdw==\"},"
     "\"docker.io\":{\"auth\":\"YWxpY2U6czNjcmV0\"}}}",
     "docker.io", "alice", "s3cret", NULL},
    {"{\"auths\":{\"docker.io\":{\"auth\":\"YWxpY2U6czNjcmV0\"},"
     "\"https://index.docker.io/v1/\":{\"auth\":\"dXNlcjpwdw==\"}}}",
     "index.docker.io", "user", "pw", NULL},
    /* an empty entry (credentials in a helper) gives way to another matching key */
    {"{\"auths\":{\"docker.io\":{},\"https://index.docker.io/v1/\":{\"auth\":\"dXNlcjpwdw==\"}},"
     "\"credsStore\":\"desktop\"}",
     "docker.io", "user", "pw", NULL},
    {"{\"auths\":{\"docker.io\":{\"auth\":\"\",\"email\":\"a@b\"},"
     "\"index.docker.io\":{\"auth\":\"dXNlcjpwdw==\"}}}",
     "docker.io", "user", "pw", NULL},
    /* a registry_host given as URL is reduced too */
    {"{\"auths\":{\"quay.io\":{\"auth\":\"dXNlcjpwdw==\"}}}", "https://quay.io/", "user", "pw",
     NULL},
};

static void test_lookup_found(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(lookup_cases) / sizeof(lookup_cases[0]); i++) {
        const struct lookup_case *c = &lookup_cases[i];
        json_t *doc = doc_of(c->doc);
        imgd_credentials cred = {0};
        imgd_error *err = NULL;
        if (imgd_authfile_lookup(&cred, doc, c->host, &err) != 0)
            fail_msg("case %zu: %s", i, err ? err->message : "?");
        assert_null(err);
        expect_str(cred.username, c->username);
        expect_str(cred.password, c->password);
        expect_str(cred.identity_token, c->token);
        imgd_credentials_dispose(&cred);
        assert_null(cred.username);
        assert_null(cred.password);
        assert_null(cred.identity_token);
        json_decref(doc);
    }
}

static void test_lookup_not_found(void **state)
{
    static const struct {
        const char *doc, *host;
    } cases[] = {
        {"{}", "quay.io"},
        {"{\"auths\":null}", "quay.io"},
        {"{\"auths\":{}}", "quay.io"},
        {"{\"auths\":{\"quay.io\":{\"auth\":\"dXNlcjpwdw==\"}}}", "docker.io"},
        {"{\"auths\":{\"quay.io\":{\"auth\":\"dXNlcjpwdw==\"}}}", "quay.io:443"},
        {"{\"auths\":{\"quay.io:443\":{\"auth\":\"dXNlcjpwdw==\"}}}", "quay.io"},
        {"{\"auths\":{\"docker.io\":{\"auth\":\"dXNlcjpwdw==\"}}}", "quay.io"},
        {"{\"auths\":{\"quay.io.evil\":{\"auth\":\"dXNlcjpwdw==\"}}}", "quay.io"},
        {"{\"auths\":{\"quay.io\":{}},\"credHelpers\":{\"quay.io\":\"ecr-login\"}}", "quay.io"},
        {"{\"auths\":{\"quay.io\":{\"auth\":null,\"username\":\"\",\"password\":\"\"}}}",
         "quay.io"},
        {"{\"auths\":{\"\":{\"auth\":\"dXNlcjpwdw==\"},\"https://\":{\"auth\":\"dXNlcjpwdw==\"}}}",
         ""},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *doc = doc_of(cases[i].doc);
        char sentinel = 0;
        imgd_credentials cred = {&sentinel, &sentinel, &sentinel};
        imgd_error *err = NULL;
        int r = imgd_authfile_lookup(&cred, doc, cases[i].host, &err);
        if (r != -ENOENT)
            fail_msg("case %zu: %d", i, r);
        assert_non_null(err);
        assert_int_equal(err->code, ENOENT);
        assert_ptr_equal(cred.username, &sentinel);
        assert_ptr_equal(cred.password, &sentinel);
        imgd_error_free(err);
        json_decref(doc);
    }
}

static void test_lookup_malformed(void **state)
{
    static const struct {
        const char *doc, *message;
    } cases[] = {
        {"[]", "auth file is not a JSON object"},
        {"{\"auths\":[]}", "'auths' is not an object"},
        {"{\"auths\":{\"quay.io\":\"dXNlcjpwdw==\"}}", "auth file entry 'quay.io': not an object"},
        {"{\"auths\":{\"quay.io\":{\"auth\":5}}}", "'auth' is not a string"},
        {"{\"auths\":{\"quay.io\":{\"auth\":\"c2VjcmV0!!\"}}}", "'auth' is not valid base64"},
        {"{\"auths\":{\"quay.io\":{\"auth\":\"c2VjcmV0c\"}}}", "'auth' is not valid base64"},
        {"{\"auths\":{\"quay.io\":{\"auth\":\"c2Vj=cmV0\"}}}", "'auth' is not valid base64"},
        {"{\"auths\":{\"quay.io\":{\"auth\":\"c2VjcmV0===\"}}}", "'auth' is not valid base64"},
        /* "secret" without a colon */
        {"{\"auths\":{\"quay.io\":{\"auth\":\"c2VjcmV0\"}}}",
         "'auth' does not decode to user:password"},
        /* a NUL in the decoded text */
        {"{\"auths\":{\"quay.io\":{\"auth\":\"dToAeA==\"}}}",
         "'auth' does not decode to user:password"},
        {"{\"auths\":{\"quay.io\":{\"username\":\"secret\"}}}", "'username' without 'password'"},
        {"{\"auths\":{\"quay.io\":{\"password\":\"secret\"}}}", "'password' without 'username'"},
        {"{\"auths\":{\"quay.io\":{\"username\":\"u\",\"password\":[\"secret\"]}}}",
         "'password' is not a string"},
        {"{\"auths\":{\"quay.io\":{\"username\":{},\"password\":\"secret\"}}}",
         "'username' is not a string"},
        {"{\"auths\":{\"quay.io\":{\"identitytoken\":true}}}", "'identitytoken' is not a string"},
        {"{\"auths\":{\"quay.io\":{\"username\":\"u\",\"password\":\"sec\\u0000ret\"}}}",
         "'password' is not a string"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_error_t jerr;
        json_t *doc = json_loads(cases[i].doc, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        assert_non_null(doc);
        char sentinel = 0;
        imgd_credentials cred = {&sentinel, &sentinel, &sentinel};
        imgd_error *err = NULL;
        int r = imgd_authfile_lookup(&cred, doc, "quay.io", &err);
        if (r != -EINVAL)
            fail_msg("case %zu: %d", i, r);
        assert_non_null(err);
        assert_int_equal(err->code, EINVAL);
        if (!strstr(err->message, cases[i].message))
            fail_msg("message '%s' lacks '%s'", err->message, cases[i].message);
        /* never the secret, encoded or not */
        assert_null(strstr(err->message, "secret"));
        assert_null(strstr(err->message, "c2Vj"));
        assert_null(strstr(err->message, "dXNlcjpwdw"));
        assert_ptr_equal(cred.username, &sentinel);
        imgd_error_free(err);
        json_decref(doc);
    }
}

/* A scratch file in TMPDIR, removed by the test. */
static void write_temp(char *path, size_t size, const char *data, size_t len)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, size, "%s/imgd-authfile-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        assert_true(n > 0);
        done += (size_t)n;
    }
    close(fd);
}

static void test_load(void **state)
{
    char path[PATH_MAX];
    const char *text = "{\"auths\":{\"quay.io\":{\"auth\":\"dXNlcjpwdw==\"}}}";
    json_t *doc = NULL;
    imgd_error *err = NULL;
    (void)state;
    write_temp(path, sizeof(path), text, strlen(text));
    assert_int_equal(imgd_authfile_load(&doc, path, &err), 0);
    assert_null(err);
    imgd_credentials cred = {0};
    assert_int_equal(imgd_authfile_lookup(&cred, doc, "quay.io", NULL), 0);
    assert_string_equal(cred.password, "pw");
    imgd_credentials_dispose(&cred);
    json_decref(doc);
    unlink(path);

    /* an empty file has no credentials */
    doc = NULL;
    write_temp(path, sizeof(path), "", 0);
    assert_int_equal(imgd_authfile_load(&doc, path, &err), 0);
    assert_true(json_is_object(doc) && json_object_size(doc) == 0);
    assert_int_equal(imgd_authfile_lookup(&cred, doc, "quay.io", NULL), -ENOENT);
    json_decref(doc);
    unlink(path);
}

static void test_load_errors(void **state)
{
    static const struct {
        const char *text;
        const char *message;
    } cases[] = {
        /* jansson would quote the text near the error: the password */
        {"{\"auths\":{\"quay.io\":{\"password\":\"secret\" \"x\"}}}", "is not valid JSON (line 1,"},
        {"{\"auths\":{\"quay.io\":{\"password\":secret}}}", "is not valid JSON"},
        {"[\"secret\"]", "is not a JSON object"},
        {"\"secret\"", "is not valid JSON"},
        {"{\"a\":1,\"a\":2}", "is not valid JSON"},
        {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
         "nests deeper than 32 levels"},
    };
    char path[PATH_MAX];
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *doc = NULL;
        imgd_error *err = NULL;
        write_temp(path, sizeof(path), cases[i].text, strlen(cases[i].text));
        assert_int_equal(imgd_authfile_load(&doc, path, &err), -EINVAL);
        assert_null(doc);
        assert_non_null(err);
        if (!strstr(err->message, cases[i].message))
            fail_msg("message '%s' lacks '%s'", err->message, cases[i].message);
        assert_non_null(strstr(err->message, path));
        assert_null(strstr(err->message, "secret"));
        imgd_error_free(err);
        unlink(path);
    }
}

static void test_load_missing_and_large(void **state)
{
    char path[PATH_MAX];
    json_t *doc = NULL;
    imgd_error *err = NULL;
    (void)state;
    write_temp(path, sizeof(path), "", 0);
    unlink(path);
    assert_int_equal(imgd_authfile_load(&doc, path, &err), -ENOENT);
    assert_non_null(err);
    assert_int_equal(err->code, ENOENT);
    assert_non_null(strstr(err->message, "auth file"));
    assert_null(doc);
    imgd_error_free(err);
    err = NULL;

    size_t len = IMGD_AUTHFILE_MAX + 1;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, ' ', len);
    big[0] = '{';
    big[len - 1] = '}';
    write_temp(path, sizeof(path), big, len);
    assert_int_equal(imgd_authfile_load(&doc, path, &err), -EFBIG);
    assert_null(doc);
    imgd_error_free(err);
    err = NULL;
    unlink(path);
    /* a file of exactly the limit is read */
    big[1] = '{';
    write_temp(path, sizeof(path), big + 1, len - 1);
    assert_int_equal(imgd_authfile_load(&doc, path, &err), 0);
    assert_true(json_is_object(doc));
    json_decref(doc);
    unlink(path);
    free(big);
}

static void test_dispose(void **state)
{
    imgd_credentials c = {strdup("u"), strdup("p"), strdup("t")};
    (void)state;
    imgd_credentials_dispose(&c);
    assert_null(c.username);
    assert_null(c.password);
    assert_null(c.identity_token);
    imgd_credentials_dispose(&c);
    imgd_credentials_dispose(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_found),     cmocka_unit_test(test_lookup_not_found),
        cmocka_unit_test(test_lookup_malformed), cmocka_unit_test(test_load),
        cmocka_unit_test(test_load_errors),      cmocka_unit_test(test_load_missing_and_large),
        cmocka_unit_test(test_dispose),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
