/* SPDX-License-Identifier: MIT */
/* The IMS face's pure parts: the gateway paths, UUIDs, job ages, the marshmallow-style schema
 * loader and its messages, and the artifact names and links. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/face.h"
#include "api/ims_schema.h"
#include "core/artifacts/artifacts.h"

static void route_path_is(const char *url, const char *want)
{
    char *got = imgd_face_route_path(url);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_gateway_paths(void **state)
{
    (void)state;
    route_path_is("/apis/ims/v3/images", "/v3/images");
    route_path_is("/apis/ims/v2/jobs/x", "/v2/jobs/x");
    route_path_is("/apis/ims/images", "/v2/images");
    route_path_is("/apis/ims/public-keys/abc", "/v2/public-keys/abc");
    route_path_is("/apis/ims/recipes", "/v2/recipes");
    route_path_is("/apis/ims/jobs", "/v2/jobs");
    /* not v2 without a prefix: stays, and the router answers 404 */
    route_path_is("/apis/ims/remote-build-nodes", "/apis/ims/remote-build-nodes");
    route_path_is("/apis/ims/deleted/images", "/apis/ims/deleted/images");
    route_path_is("/apis/ims/imagesx", "/apis/ims/imagesx");
    route_path_is("/apis/ims/version", "/apis/ims/version");
    route_path_is("/images", "/images");
    route_path_is("/apis/imsx/images", "/apis/imsx/images");
    assert_int_equal(imgd_face_for_path("/v3/images"), IMGD_FACE_IMS);
    assert_int_equal(imgd_face_for_path("/artifacts/ims/x"), IMGD_FACE_NATIVE);
}

static void test_uuids(void **state)
{
    (void)state;
    char out[37];
    char a[37], b[37];
    ims_uuid4(a);
    ims_uuid4(b);
    assert_int_equal(strlen(a), 36);
    assert_string_not_equal(a, b);
    assert_int_equal(a[14], '4');
    assert_non_null(strchr("89ab", a[19]));
    assert_true(ims_uuid_normalize(a, out));
    assert_string_equal(out, a);
    assert_true(ims_uuid_normalize("{12345678-1234-5678-1234-567812345678}", out));
    assert_string_equal(out, "12345678-1234-5678-1234-567812345678");
    assert_true(ims_uuid_normalize("urn:uuid:ABCDEF0012345678ABCDEF0012345678", out));
    assert_string_equal(out, "abcdef00-1234-5678-abcd-ef0012345678");
    assert_false(ims_uuid_normalize("1234", out));
    assert_false(ims_uuid_normalize("12345678-1234-5678-1234-56781234567g", out));
    assert_false(ims_uuid_normalize("12345678-1234-5678-1234-5678123456789", out));
    assert_false(ims_uuid_normalize("", out));
}

static void test_ages(void **state)
{
    (void)state;
    assert_int_equal(ims_parse_age("2w"), 2 * 604800);
    assert_int_equal(ims_parse_age("3d"), 3 * 86400);
    assert_int_equal(ims_parse_age("6h"), 6 * 3600);
    assert_int_equal(ims_parse_age("30m"), 30 * 60);
    assert_int_equal(ims_parse_age("1d6h"), 86400 + 6 * 3600);
    assert_int_equal(ims_parse_age("1W2D"), 604800 + 2 * 86400);
    assert_int_equal(ims_parse_age("2weeks"), 2 * 604800);
    assert_int_equal(ims_parse_age("90min"), 90 * 60);
    assert_int_equal(ims_parse_age("0m"), 0);
    assert_int_equal(ims_parse_age(""), -1);
    assert_int_equal(ims_parse_age("5"), -1);
    assert_int_equal(ims_parse_age("d"), -1);
    assert_int_equal(ims_parse_age("5x"), -1);
    assert_int_equal(ims_parse_age("5 d"), -1);
    assert_int_equal(ims_parse_age("-5d"), -1);
    assert_int_equal(ims_parse_age("999999999999d"), -1);
}

static const char *const colours[] = {"red", "blue", NULL};

static const ims_field inner_fields[] = {
    {.name = "key", .type = IMS_STR, .required = true},
};
static const ims_schema inner = IMS_SCHEMA(inner_fields);

static const ims_field fields[] = {
    {.name = "name",
     .type = IMS_STR,
     .required = true,
     .blank_msg = "name field must not be blank"},
    {.name = "colour", .type = IMS_STR, .choices = colours, .choice_msg = "Colour: %s."},
    {.name = "size", .type = IMS_INT, .has_min = true, .min = 1},
    {.name = "on", .type = IMS_BOOL},
    {.name = "id", .type = IMS_UUID},
    {.name = "sub", .type = IMS_NESTED, .nullable = true, .nested = &inner},
    {.name = "list", .type = IMS_LIST, .nested = &inner},
};
static const ims_schema schema = IMS_SCHEMA(fields);

static json_t *load(const char *text, json_t **errors)
{
    json_t *in = json_loads(text, JSON_DECODE_ANY, NULL);
    assert_non_null(in);
    *errors = json_object();
    json_t *out = ims_schema_load(&schema, in, *errors);
    json_decref(in);
    return out;
}

static void errors_are(json_t *errors, const char *want)
{
    json_t *w = json_loads(want, 0, NULL);
    assert_non_null(w);
    if (!json_equal(errors, w)) {
        char *got = json_dumps(errors, JSON_SORT_KEYS);
        fail_msg("errors %s, wanted %s", got, want);
    }
    json_decref(w);
}

static void test_schema(void **state)
{
    (void)state;
    json_t *errors;
    json_t *out = load("{\"name\": \"x\", \"size\": \"5\", \"on\": \"yes\", \"id\": "
                       "\"{ABCDEF00-1234-5678-abcd-ef0012345678}\", \"sub\": null, "
                       "\"list\": [{\"key\": \"k\"}], \"colour\": \"red\"}",
                       &errors);
    assert_int_equal(json_object_size(errors), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "size")), 5);
    assert_true(json_is_true(json_object_get(out, "on")));
    assert_string_equal(json_string_value(json_object_get(out, "id")),
                        "abcdef00-1234-5678-abcd-ef0012345678");
    assert_true(json_is_null(json_object_get(out, "sub")));
    json_decref(out);
    json_decref(errors);

    out = load("{\"name\": \"\", \"size\": 0, \"on\": 2, \"id\": \"x\", \"colour\": \"green\", "
               "\"sub\": [], \"list\": [{}, {\"key\": 1, \"more\": 2}], \"extra\": true}",
               &errors);
    errors_are(errors,
               "{\"name\": [\"name field must not be blank\"],"
               " \"size\": [\"Must be greater than or equal to 1.\"],"
               " \"on\": [\"Not a valid boolean.\"], \"id\": [\"Not a valid UUID.\"],"
               " \"colour\": [\"Colour: red, blue.\"],"
               " \"sub\": {\"_schema\": [\"Invalid input type.\"]},"
               " \"list\": {\"0\": {\"key\": [\"Missing data for required field.\"]},"
               "  \"1\": {\"key\": [\"Not a valid string.\"], \"more\": [\"Unknown field.\"]}},"
               " \"extra\": [\"Unknown field.\"]}");
    json_decref(out);
    json_decref(errors);

    out = load("{\"size\": true, \"name\": null, \"list\": {}}", &errors);
    errors_are(errors, "{\"size\": [\"Not a valid integer.\"], \"name\": [\"Field may not be "
                       "null.\"], \"list\": [\"Not a valid list.\"]}");
    json_decref(out);
    json_decref(errors);

    out = load("[1]", &errors);
    assert_null(out);
    errors_are(errors, "{\"_schema\": [\"Invalid input type.\"]}");
    json_decref(errors);

    out = load("{\"size\": 2.5}", &errors);
    errors_are(errors, "{\"name\": [\"Missing data for required field.\"], \"size\": [\"Not a "
                       "valid integer.\"]}");
    json_decref(out);
    json_decref(errors);
}

static void test_problem(void **state)
{
    (void)state;
    imgd_response resp = {0};
    json_t *errors = json_pack("{s:[s]}", "name", "Unknown field.");
    assert_int_equal(ims_problem(&resp, 422, NULL, IMS_DETAIL_INVALID, errors), 0);
    assert_int_equal(resp.status, 422);
    assert_string_equal(resp.content_type, "application/problem+json");
    json_t *body = json_loads(resp.body, 0, NULL);
    assert_int_equal(json_object_size(body), 4);
    assert_string_equal(json_string_value(json_object_get(body, "title")), "Unprocessable Entity");
    json_decref(body);
    imgd_resp_dispose(&resp);
    assert_int_equal(ims_problem(&resp, 400, "Unsupported age x", NULL, NULL), 0);
    body = json_loads(resp.body, 0, NULL);
    assert_int_equal(json_object_size(body), 2);
    assert_null(json_object_get(body, "detail"));
    json_decref(body);
    imgd_resp_dispose(&resp);
}

static void test_artifact_names(void **state)
{
    (void)state;
    assert_int_equal(imgd_artifacts_check_name("boot-images", "a/b/c.json", NULL), 0);
    assert_int_equal(imgd_artifacts_check_name("ims", "deleted/recipes/x", NULL), 0);
    const char *bad_keys[] = {"", "/a", "a/", "a//b", "a/../b", "..", ".", "a/./b", "a\nb"};
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++)
        assert_int_equal(imgd_artifacts_check_name("ims", bad_keys[i], NULL), -EINVAL);
    const char *bad_buckets[] = {"ab", "Ims", "a_b", "-ims", "ims-", ".ims", ""};
    for (size_t i = 0; i < sizeof bad_buckets / sizeof bad_buckets[0]; i++)
        assert_int_equal(imgd_artifacts_check_name(bad_buckets[i], "k", NULL), -EINVAL);
    char *b = NULL, *k = NULL;
    assert_int_equal(imgd_artifacts_parse_link("s3://boot-images/x/manifest.json", &b, &k, NULL),
                     0);
    assert_string_equal(b, "boot-images");
    assert_string_equal(k, "x/manifest.json");
    free(b);
    free(k);
    const char *bad_links[] = {"http://a/b",   "s3://",   "s3://bucket",
                               "s3://bucket/", "s3:///k", "s3://bucket/../x"};
    for (size_t i = 0; i < sizeof bad_links / sizeof bad_links[0]; i++)
        assert_int_equal(imgd_artifacts_parse_link(bad_links[i], &b, &k, NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gateway_paths), cmocka_unit_test(test_uuids),
        cmocka_unit_test(test_ages),          cmocka_unit_test(test_schema),
        cmocka_unit_test(test_problem),       cmocka_unit_test(test_artifact_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
