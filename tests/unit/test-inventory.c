/* SPDX-License-Identifier: MIT */
/* The inventory's pure parts: crictl's split of repo tags, the ignore-list CSV, and rows. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/inventory/ignore.h"
#include "core/inventory/local.h"
#include "util/strutil.h"

#define HEX "4f2e41b83c7427ea948e15f099278a8182f0b365d2da50372b2e7b2b19b79671"

static void split(const char *in, const char *repo, const char *tag)
{
    char *r = NULL, *t = NULL;
    assert_int_equal(imgd_inventory_split_tag(&r, &t, in), 0);
    assert_string_equal(r, repo);
    assert_string_equal(t, tag);
    free(r);
    free(t);
}

static void test_split(void **state)
{
    (void)state;
    split("docker.io/library/busybox:latest", "docker.io/library/busybox", "latest");
    split("localhost:5000/busybox", "localhost", "5000/busybox"); /* crictl's own quirk */
    split("localhost:5000/busybox:1", "localhost:5000/busybox", "1");
    split("nocolon", "errorRepoTag", "errorRepoTag");
    split("<none>:<none>", "<none>", "<none>");
}

static imgd_ignore_list *parse_ok(const char *text, size_t expect, char ***warnings)
{
    imgd_ignore_list *l = NULL;
    imgd_error *err = NULL;
    assert_int_equal(imgd_ignore_parse(&l, text, strlen(text), warnings, &err), 0);
    assert_null(err);
    assert_int_equal(imgd_ignore_count(l), expect);
    return l;
}

static void test_ignore_csv(void **state)
{
    (void)state;
    char **warnings = NULL;
    imgd_ignore_list *l = parse_ok("\xef\xbb\xbfREPOSITORY,TAG,IMAGE ID,SIZE\r\n"
                                   "\"some/repo\",latest,4f2e41b83c742,100MB\r\n"
                                   "\"quoted, comma\",x,\"ABCDEF012345\",1\r\n"
                                   "\r\n"
                                   "short,row\r\n"
                                   "bad,id,not-hex!,1\r\n"
                                   "last,line,sha256:" HEX ",1",
                                   3, &warnings);
    assert_true(imgd_ignore_match(l, "sha256:" HEX));
    assert_true(imgd_ignore_match(l, HEX));
    assert_true(imgd_ignore_match(l, "sha256:abcdef0123456789"));     /* upper case listed */
    assert_false(imgd_ignore_match(l, "sha256:4f2e41b83c743aaaaaa")); /* differs within 13 */
    assert_int_equal(imgd_strv_length(warnings), 2);
    assert_non_null(strstr(warnings[0], "line 5"));
    assert_non_null(strstr(warnings[1], "line 6"));
    imgd_strv_free(warnings);
    imgd_ignore_free(l);

    l = parse_ok("IMAGE ID\n", 0, NULL);
    assert_false(imgd_ignore_match(l, HEX));
    imgd_ignore_free(l);

    imgd_error *err = NULL;
    assert_int_equal(imgd_ignore_parse(&l, "NAME,ID\nx,y\n", 12, NULL, &err), -EINVAL);
    assert_non_null(strstr(err->message, "IMAGE ID"));
    imgd_error_free(err);
    err = NULL;
    assert_int_equal(imgd_ignore_parse(&l, "", 0, NULL, &err), -EINVAL);
    imgd_error_free(err);
}

static void test_rows(void **state)
{
    (void)state;
    char *tags1[] = {"docker.io/library/b:2", "docker.io/library/b:1", NULL};
    char *digests1[] = {"docker.io/library/b@sha256:" HEX, NULL};
    char *none[] = {NULL};
    char *digests2[] = {"quay.io/x/untagged@sha256:" HEX, NULL};
    imgd_local_image images[] = {
        {.id = "sha256:" HEX,
         .repo_tags = tags1,
         .repo_digests = digests1,
         .size = 117234567,
         .source = "cri"},
        {.id = "sha256:" HEX,
         .repo_tags = tags1,
         .repo_digests = digests1,
         .size = 117234567,
         .source = "store"}, /* the same image in both sources */
        {.id = "sha256:1234" HEX,
         .repo_tags = none,
         .repo_digests = digests2,
         .size = 1234,
         .source = "cri"},
        {.id = "sha256:9999" HEX,
         .repo_tags = none,
         .repo_digests = none,
         .size = 0,
         .source = "cri"},
    };
    imgd_local_snapshot snap = {.images = images, .n = 4};
    imgd_inventory_row *rows = NULL;
    size_t n = 0;
    imgd_error *err = NULL;
    assert_int_equal(imgd_inventory_rows(&rows, &n, &snap, NULL, false, NULL, &err), 0);
    assert_int_equal(n, 4); /* 2 tags once, the untagged one, the nameless one */
    assert_string_equal(rows[0].repository, "docker.io/library/b");
    assert_string_equal(rows[0].tag, "2");
    assert_string_equal(rows[0].image_id, "4f2e41b83c742");
    assert_string_equal(rows[0].size, "117MB");
    assert_string_equal(rows[1].tag, "1");
    assert_string_equal(rows[2].repository, "quay.io/x/untagged");
    assert_string_equal(rows[2].tag, "<none>");
    assert_string_equal(rows[2].size, "1.23kB");
    assert_string_equal(rows[3].repository, "<none>");
    assert_string_equal(rows[3].size, "0B");
    imgd_inventory_rows_free(rows, n);
    assert_int_equal(imgd_inventory_rows(&rows, &n, &snap, NULL, true, "store", &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].image_id, HEX);
    imgd_inventory_rows_free(rows, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_ignore_csv),
        cmocka_unit_test(test_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
