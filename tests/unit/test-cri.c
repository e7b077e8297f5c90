/* SPDX-License-Identifier: MIT */
/* The CRI client's pure parts and its call logic: where the endpoint comes from (configured,
 * $CONTAINER_RUNTIME_ENDPOINT, a temp crictl.yaml, the default), decoding of hand-built
 * ListImagesResponse / ImageStatusResponse / VersionResponse messages (unknown fields of every
 * wire type, an Int64Value uid, wrong wire types), malformed messages and gRPC frames, the
 * grpc-status mapping, and, with a fake transport, the request bytes, the v1 → v1alpha2
 * fallback, what is remembered per endpoint, and errors naming endpoint and method. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/cri/cri.h"
#include "core/cri/proto.h"

static void expect_error(int r, imgd_error **errp, int code, const char *want)
{
    imgd_error *err = *errp;
    assert_int_equal(r, -code);
    assert_non_null(err);
    assert_int_equal(err->code, code);
    if (!strstr(err->message, want))
        fail_msg("message '%s' lacks '%s'", err->message, want);
    assert_null(strchr(err->message, '\n'));
    imgd_error_free(err);
    *errp = NULL;
}

static void expect_strv(char **got, const char *const *want)
{
    assert_non_null(got);
    size_t i = 0;
    for (; want[i]; i++) {
        assert_non_null(got[i]);
        assert_string_equal(got[i], want[i]);
    }
    assert_null(got[i]);
}

/* ---- endpoint resolution ------------------------------------------------------------------ */

typedef struct resolve_fixture {
    char dir[64];
    char yaml[96];
} resolve_fixture;

static int resolve_setup(void **state)
{
    resolve_fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/imgd-test-cri-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->yaml, sizeof(f->yaml), "%s/crictl.yaml", f->dir);
    unsetenv("CONTAINER_RUNTIME_ENDPOINT");
    *state = f;
    return 0;
}

static int resolve_teardown(void **state)
{
    resolve_fixture *f = *state;
    unlink(f->yaml);
    rmdir(f->dir);
    free(f);
    unsetenv("CONTAINER_RUNTIME_ENDPOINT");
    return 0;
}

static void write_yaml(const resolve_fixture *f, const char *text)
{
    FILE *fp = fopen(f->yaml, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void expect_resolved(const char *configured, const char *yaml, const char *endpoint,
                            const char *source)
{
    char out[256];
    const char *src = NULL;
    imgd_error *err = NULL;
    assert_int_equal(imgd_cri_endpoint_resolve(out, sizeof(out), &src, configured, yaml, &err), 0);
    assert_null(err);
    assert_string_equal(out, endpoint);
    assert_string_equal(src, source);
}

static void test_resolve_order(void **state)
{
    resolve_fixture *f = *state;
    write_yaml(f, "runtime-endpoint: unix:///yaml.sock\nimage-endpoint: unix:///img.sock\n");
    setenv("CONTAINER_RUNTIME_ENDPOINT", "unix:///env.sock", 1);
    expect_resolved("unix:///cfg.sock", f->yaml, "unix:///cfg.sock", "config");
    expect_resolved("", f->yaml, "unix:///env.sock", "environment");
    expect_resolved(NULL, f->yaml, "unix:///env.sock", "environment");
    setenv("CONTAINER_RUNTIME_ENDPOINT", "", 1); /* empty counts as unset */
    expect_resolved(NULL, f->yaml, "unix:///yaml.sock", "crictl.yaml");
    unsetenv("CONTAINER_RUNTIME_ENDPOINT");
    expect_resolved(NULL, f->yaml, "unix:///yaml.sock", "crictl.yaml");
    unlink(f->yaml); /* a missing crictl.yaml is no error */
    expect_resolved(NULL, f->yaml, IMGD_CRI_DEFAULT_ENDPOINT, "default");
    expect_resolved(NULL, NULL, IMGD_CRI_DEFAULT_ENDPOINT, "default");
    expect_resolved("", "", IMGD_CRI_DEFAULT_ENDPOINT, "default");
}

static void test_resolve_yaml_forms(void **state)
{
    resolve_fixture *f = *state;
    static const struct {
        const char *yaml, *endpoint, *source;
    } cases[] = {
        {"runtime-endpoint: \"unix:///q.sock\"\n", "unix:///q.sock", "crictl.yaml"},
        {"runtime-endpoint: 'unix:///s.sock' # set by hand\n", "unix:///s.sock", "crictl.yaml"},
        {"# runtime-endpoint: unix:///commented.sock\n", IMGD_CRI_DEFAULT_ENDPOINT, "default"},
        {"---\ntimeout: 2\r\nruntime-endpoint: unix:///crlf.sock\r\ndebug: false\r\n",
         "unix:///crlf.sock", "crictl.yaml"},
        {"runtime-endpoint:unix:///tight.sock", "unix:///tight.sock", "crictl.yaml"},
        {"runtime-endpoint :  /bare/path.sock  \n", "unix:///bare/path.sock", "crictl.yaml"},
        {"  runtime-endpoint: unix:///nested.sock\n", IMGD_CRI_DEFAULT_ENDPOINT, "default"},
        {"runtime-endpoint-x: unix:///other.sock\n", IMGD_CRI_DEFAULT_ENDPOINT, "default"},
        {"runtime-endpoint:\n", IMGD_CRI_DEFAULT_ENDPOINT, "default"},
        {"runtime-endpoint: \"\"\n", IMGD_CRI_DEFAULT_ENDPOINT, "default"},
        {"image-endpoint: unix:///img.sock\n", IMGD_CRI_DEFAULT_ENDPOINT, "default"},
        {"runtime-endpoint: unix:///a#b.sock\n", "unix:///a#b.sock", "crictl.yaml"},
        {"", IMGD_CRI_DEFAULT_ENDPOINT, "default"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        write_yaml(f, cases[i].yaml);
        expect_resolved(NULL, f->yaml, cases[i].endpoint, cases[i].source);
    }
}

static void test_resolve_errors(void **state)
{
    resolve_fixture *f = *state;
    char out[24] = "untouched";
    const char *src = "untouched";
    imgd_error *err = NULL;
    /* a bare path gains unix:// */
    expect_resolved("/run/x.sock", NULL, "unix:///run/x.sock", "config");
    /* too long for out: nothing written */
    int r = imgd_cri_endpoint_resolve(out, sizeof(out), &src, "unix:///a/very/long/path.sock", NULL,
                                      &err);
    expect_error(r, &err, ENAMETOOLONG, "unix:///a/very/long/path.sock");
    assert_string_equal(out, "untouched");
    assert_string_equal(src, "untouched");
    /* exactly fitting */
    assert_int_equal(imgd_cri_endpoint_resolve(out, 16, &src, "unix:///abc.sock", NULL, &err),
                     -ENAMETOOLONG);
    imgd_error_free(err);
    err = NULL;
    assert_int_equal(imgd_cri_endpoint_resolve(out, 17, &src, "unix:///abc.sock", NULL, &err), 0);
    assert_string_equal(out, "unix:///abc.sock");
    /* a crictl.yaml that cannot be read is an error, not a silent default */
    r = imgd_cri_endpoint_resolve(out, sizeof(out), &src, NULL, f->dir, &err);
    expect_error(r, &err, EINVAL, f->dir);
}

static void test_endpoint_socket(void **state)
{
    (void)state;
    const char *path = NULL;
    imgd_error *err = NULL;
    assert_int_equal(imgd_cri_endpoint_socket(&path, "unix:///run/c.sock", &err), 0);
    assert_string_equal(path, "/run/c.sock");
    assert_int_equal(imgd_cri_endpoint_socket(&path, "/run/d.sock", &err), 0);
    assert_string_equal(path, "/run/d.sock");
    expect_error(imgd_cri_endpoint_socket(&path, "tcp://127.0.0.1:1", &err), &err, EINVAL,
                 "only unix:// sockets");
    expect_error(imgd_cri_endpoint_socket(&path, "npipe:////./pipe/x", &err), &err, EINVAL,
                 "npipe:");
    expect_error(imgd_cri_endpoint_socket(&path, "unix://run/c.sock", &err), &err, EINVAL,
                 "must be absolute");
    expect_error(imgd_cri_endpoint_socket(&path, "", &err), &err, EINVAL, "must be absolute");
    char longer[200] = "unix:///";
    memset(longer + 8, 'x', 120);
    expect_error(imgd_cri_endpoint_socket(&path, longer, &err), &err, EINVAL, "too long");
    assert_null(err);
}

/* ---- decoding ----------------------------------------------------------------------------- */

/* A ListImagesResponse written out byte by byte. Three images: A with every field, unknown
 * fields of each wire type, a uid of -1 (a 10-byte varint in an Int64Value) and an id field
 * sent once more with the wrong wire type (ignored); B untagged with a username; C empty. Plus
 * unknown top-level fields before and between them. */
/* clang-format off */
static const char hand_built[] =
    "\x12\x00"                                 /* unknown field 2, LEN 0 */
    "\x0a\x72"                                 /* images: Image A, 114 bytes */
    "\x0a\x0a" "sha256:abc"                    /*   id */
    "\x12\x0e" "busybox:latest"                /*   repo_tags */
    "\x12\x0c" "busybox:1.36"                  /*   repo_tags */
    "\x1a\x12" "busybox@sha256:def"            /*   repo_digests */
    "\x20\xc0\x84\x3d"                         /*   size 1000000 */
    "\x2a\x0b\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01" /* uid {value -1} */
    "\x90\x03\x07"                             /*   field 50, varint */
    "\x9d\x03\x01\x02\x03\x04"                 /*   field 51, fixed32 */
    "\xa1\x03\x01\x02\x03\x04\x05\x06\x07\x08" /*   field 52, fixed64 */
    "\xaa\x03\x02" "hi"                        /*   field 53, LEN */
    "\x3a\x05\x0a\x03" "x:1"                   /*   spec {image "x:1"} */
    "\x40\x01"                                 /*   pinned */
    "\x08\x05"                                 /*   id as a varint: wrong type, ignored */
    "\x78\x01"                                 /* unknown field 15, varint */
    "\x0a\x22"                                 /* images: Image B, 34 bytes */
    "\x0a\x0a" "sha256:123"                    /*   id */
    "\x1a\x0c" "x@sha256:999"                  /*   repo_digests */
    "\x32\x04" "root"                          /*   username */
    "\x20\x01"                                 /*   size 1 */
    "\x0a\x00";                                /* images: Image C, empty */
/* clang-format on */

static void test_decode_hand_built(void **state)
{
    (void)state;
    imgd_cri_image *v = NULL;
    size_t n = 0;
    imgd_error *err = NULL;
    assert_int_equal(imgd_cri_decode_images(&v, &n, hand_built, sizeof(hand_built) - 1, &err), 0);
    assert_null(err);
    assert_int_equal(n, 3);

    assert_string_equal(v[0].id, "sha256:abc");
    expect_strv(v[0].repo_tags, (const char *[]){"busybox:latest", "busybox:1.36", NULL});
    expect_strv(v[0].repo_digests, (const char *[]){"busybox@sha256:def", NULL});
    assert_int_equal(v[0].size, 1000000);
    assert_true(v[0].has_uid);
    assert_int_equal(v[0].uid, -1);
    assert_string_equal(v[0].username, "");
    assert_true(v[0].pinned);

    assert_string_equal(v[1].id, "sha256:123");
    expect_strv(v[1].repo_tags, (const char *[]){NULL});
    expect_strv(v[1].repo_digests, (const char *[]){"x@sha256:999", NULL});
    assert_string_equal(v[1].username, "root");
    assert_false(v[1].has_uid);
    assert_false(v[1].pinned);
    assert_int_equal(v[1].size, 1);

    assert_string_equal(v[2].id, "");
    expect_strv(v[2].repo_tags, (const char *[]){NULL});
    expect_strv(v[2].repo_digests, (const char *[]){NULL});
    assert_string_equal(v[2].username, "");
    assert_int_equal(v[2].size, 0);
    imgd_cri_images_free(v, n);
}

static void test_decode_empty_and_last_wins(void **state)
{
    (void)state;
    imgd_cri_image *v = (imgd_cri_image *)&v; /* must become NULL */
    size_t n = 7;
    imgd_error *err = NULL;
    assert_int_equal(imgd_cri_decode_images(&v, &n, "", 0, &err), 0);
    assert_null(v);
    assert_int_equal(n, 0);

    /* proto3: a repeated scalar takes the last value; uid 0 still counts as set */
    static const char twice[] = "\x0a\x0c"
                                "\x0a\x01"
                                "a"
                                "\x0a\x01"
                                "b"
                                "\x20\x05"
                                "\x20\x06"
                                "\x2a\x00";
    assert_int_equal(imgd_cri_decode_images(&v, &n, twice, sizeof(twice) - 1, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].id, "b");
    assert_int_equal(v[0].size, 6);
    assert_true(v[0].has_uid);
    assert_int_equal(v[0].uid, 0);
    imgd_cri_images_free(v, n);
    imgd_cri_images_free(NULL, 0);
    imgd_cri_image_dispose(NULL);
}

static void test_decode_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
        /* clang-format off */
        {"\x0a", 1},                       /* key without its length */
        {"\x0a\x05\x0a\x01", 4},           /* image longer than the message */
        {"\x0a\x03\x0a\x05" "ab", 6},      /* id longer than the image */
        {"\x0a\x04\x12\x02\xff\xfe", 6},   /* repo tag not UTF-8 */
        {"\x0a\x04\x0a\x02" "a\0", 6},     /* id with a NUL */
        {"\x0a\x02\x0b\x0c", 4},           /* a group inside an image */
        {"\x0b", 1},                       /* a group at the top */
        {"\x0a\x04\x2a\x02\x08\x80", 6},   /* uid value truncated */
        {"\x0a\x02\x20\x80", 4},           /* size truncated */
        {"\x00\x00", 2},                   /* field 0 */
        {"\x0a\x03\x3d\x01\x02", 5},       /* fixed32 cut short */
        /* clang-format on */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        imgd_cri_image *v = NULL;
        size_t n = 0;
        imgd_error *err = NULL;
        int r = imgd_cri_decode_images(&v, &n, bad[i].bytes, bad[i].len, &err);
        expect_error(r, &err, EBADMSG, "malformed ListImagesResponse message");
        assert_null(v);
    }
}

/* n copies of the two bytes pair, as one message. */
static char *repeat_pair(const char *pair, size_t n, size_t prefix_len, const char *prefix)
{
    char *buf = malloc(prefix_len + 2 * n);
    assert_non_null(buf);
    memcpy(buf, prefix, prefix_len);
    for (size_t i = 0; i < n; i++)
        memcpy(buf + prefix_len + 2 * i, pair, 2);
    return buf;
}

static void test_decode_bounds(void **state)
{
    (void)state;
    imgd_cri_image *v = NULL;
    size_t n = 0;
    imgd_error *err = NULL;
    /* one image more than allowed: "0a 00" each */
    char *buf = repeat_pair("\x0a\x00", IMGD_CRI_IMAGES_MAX + 1, 0, "");
    int r = imgd_cri_decode_images(&v, &n, buf, 2 * ((size_t)IMGD_CRI_IMAGES_MAX + 1), &err);
    expect_error(r, &err, E2BIG, "exceeds the limits");
    free(buf);
    /* exactly the limit is fine */
    buf = repeat_pair("\x0a\x00", IMGD_CRI_IMAGES_MAX, 0, "");
    assert_int_equal(imgd_cri_decode_images(&v, &n, buf, 2 * (size_t)IMGD_CRI_IMAGES_MAX, &err), 0);
    assert_int_equal(n, IMGD_CRI_IMAGES_MAX);
    imgd_cri_images_free(v, n);
    free(buf);
    /* one repo tag more than allowed in one image: 0a <varint len> then "12 00" each */
    size_t tags = IMGD_CRI_NAMES_MAX + 1, inner = 2 * tags;
    uint8_t prefix[1 + IMGD_PROTO_VARINT_MAX] = {0x0a};
    size_t plen = 1 + imgd_proto_varint_encode(prefix + 1, inner);
    buf = repeat_pair("\x12\x00", tags, plen, (const char *)prefix);
    r = imgd_cri_decode_images(&v, &n, buf, plen + inner, &err);
    expect_error(r, &err, E2BIG, "exceeds the limits");
    free(buf);
}

static void test_decode_image_status(void **state)
{
    (void)state;
    imgd_cri_image img = {0};
    bool found = true;
    imgd_error *err = NULL;
    /* only info (a map entry), no image: not found */
    static const char info_only[] = "\x12\x0a\x0a\x04"
                                    "info\x12\x02{}";
    assert_int_equal(
        imgd_cri_decode_image_status(&img, &found, info_only, sizeof(info_only) - 1, &err), 0);
    assert_false(found);
    assert_null(img.id);
    assert_int_equal(imgd_cri_decode_image_status(&img, &found, "", 0, &err), 0);
    assert_false(found);

    static const char with_image[] = "\x0a\x06\x0a\x04"
                                     "sha1"
                                     "\x12\x00";
    assert_int_equal(
        imgd_cri_decode_image_status(&img, &found, with_image, sizeof(with_image) - 1, &err), 0);
    assert_true(found);
    assert_string_equal(img.id, "sha1");
    expect_strv(img.repo_tags, (const char *[]){NULL});
    imgd_cri_image_dispose(&img);
    assert_null(img.id);

    imgd_cri_image keep = {.size = 99};
    int r = imgd_cri_decode_image_status(&keep, &found, "\x0a\x02\x0a", 3, &err);
    expect_error(r, &err, EBADMSG, "malformed ImageStatusResponse message");
    assert_int_equal(keep.size, 99);
}

static void test_decode_version(void **state)
{
    (void)state;
    imgd_cri_version v = {0};
    imgd_error *err = NULL;
    static const char full[] = "\x0a\x05"
                               "0.1.0"
                               "\x12\x0a"
                               "containerd"
                               "\x1a\x0a"
                               "1.6.20~ds1"
                               "\x22\x02"
                               "v1"
                               "\x28\x01";
    assert_int_equal(imgd_cri_decode_version(&v, full, sizeof(full) - 1, &err), 0);
    assert_string_equal(v.version, "0.1.0");
    assert_string_equal(v.runtime_name, "containerd");
    assert_string_equal(v.runtime_version, "1.6.20~ds1");
    assert_string_equal(v.runtime_api_version, "v1");
    imgd_cri_version_dispose(&v);
    assert_null(v.version);

    static const char partial[] = "\x12\x04"
                                  "crio";
    assert_int_equal(imgd_cri_decode_version(&v, partial, sizeof(partial) - 1, &err), 0);
    assert_string_equal(v.runtime_name, "crio");
    assert_string_equal(v.version, "");
    assert_string_equal(v.runtime_api_version, "");
    imgd_cri_version_dispose(&v);
    imgd_cri_version_dispose(NULL);

    int r = imgd_cri_decode_version(&v, "\x22\x03v1", 4, &err);
    expect_error(r, &err, EBADMSG, "malformed VersionResponse message");
    assert_null(v.version);
}

/* ---- gRPC framing and status -------------------------------------------------------------- */

static void test_frame_and_unframe(void **state)
{
    (void)state;
    imgd_buf b = {0};
    const uint8_t *msg = NULL;
    size_t len = 0;
    imgd_error *err = NULL;
    assert_int_equal(imgd_cri_grpc_frame(&b, "abc", 3), 0);
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.data,
                        "\0\0\0\0\x03"
                        "abc",
                        8);
    assert_int_equal(imgd_cri_grpc_unframe(&msg, &len, b.data, b.len, &err), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(msg, "abc", 3);
    imgd_buf_dispose(&b);
    /* an empty message is a valid frame */
    assert_int_equal(imgd_cri_grpc_frame(&b, NULL, 0), 0);
    assert_int_equal(imgd_cri_grpc_unframe(&msg, &len, b.data, b.len, &err), 0);
    assert_int_equal(len, 0);
    imgd_buf_dispose(&b);
    /* a large length is big-endian */
    static const char big[] = "\x00\x00\x01\x00\x00";
    char *body = calloc(1, 5 + 65536);
    assert_non_null(body);
    memcpy(body, big, 5);
    assert_int_equal(imgd_cri_grpc_unframe(&msg, &len, body, 5 + 65536, &err), 0);
    assert_int_equal(len, 65536);
    free(body);
}

static void test_unframe_malformed(void **state)
{
    (void)state;
    const uint8_t *msg = NULL;
    size_t len = 0;
    imgd_error *err = NULL;
    expect_error(imgd_cri_grpc_unframe(&msg, &len, "", 0, &err), &err, EBADMSG,
                 "without a message");
    expect_error(imgd_cri_grpc_unframe(&msg, &len, "\0\0\0", 3, &err), &err, EBADMSG,
                 "truncated gRPC message prefix");
    expect_error(imgd_cri_grpc_unframe(&msg, &len,
                                       "\x01\0\0\0\x01"
                                       "a",
                                       6, &err),
                 &err, EBADMSG, "compressed");
    expect_error(imgd_cri_grpc_unframe(&msg, &len,
                                       "\0\0\0\0\x05"
                                       "ab",
                                       7, &err),
                 &err, EBADMSG, "truncated gRPC message: 2 of 5 bytes");
    expect_error(imgd_cri_grpc_unframe(&msg, &len,
                                       "\0\0\0\0\x01"
                                       "a\0\0\0\0\0",
                                       11, &err),
                 &err, EBADMSG, "more than one message");
    expect_error(imgd_cri_grpc_unframe(&msg, &len,
                                       "\0\x04\0\0\x01"
                                       "a",
                                       6, &err),
                 &err, E2BIG, "exceeds the limit of 64 MiB");
    expect_error(imgd_cri_grpc_unframe(&msg, &len, "\0\xff\xff\xff\xff", 5, &err), &err, E2BIG,
                 "exceeds");
    assert_null(msg);
}

static void test_status_mapping(void **state)
{
    (void)state;
    assert_int_equal(imgd_cri_grpc_errno(0), 0);
    assert_int_equal(imgd_cri_grpc_errno(5), ENOENT);
    assert_int_equal(imgd_cri_grpc_errno(4), ETIMEDOUT);
    assert_int_equal(imgd_cri_grpc_errno(14), ECONNREFUSED);
    assert_int_equal(imgd_cri_grpc_errno(7), EACCES);
    assert_int_equal(imgd_cri_grpc_errno(16), EACCES);
    const long others[] = {1, 2, 3, 6, 8, 9, 10, 11, 12, 13, 15, 17, -1, 0xffff};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        assert_int_equal(imgd_cri_grpc_errno(others[i]), EIO);
    assert_string_equal(imgd_cri_grpc_status_name(0), "OK");
    assert_string_equal(imgd_cri_grpc_status_name(5), "NOT_FOUND");
    assert_string_equal(imgd_cri_grpc_status_name(12), "UNIMPLEMENTED");
    assert_string_equal(imgd_cri_grpc_status_name(16), "UNAUTHENTICATED");
    assert_string_equal(imgd_cri_grpc_status_name(17), "UNKNOWN_STATUS");
    assert_string_equal(imgd_cri_grpc_status_name(-3), "UNKNOWN_STATUS");
}

static void test_message_decode(void **state)
{
    (void)state;
    char a[] = "image %22x%22 not found: 100%25";
    assert_string_equal(imgd_cri_grpc_message_decode(a), "image \"x\" not found: 100%");
    char b[] = "bad %zz and %4 and %";
    assert_string_equal(imgd_cri_grpc_message_decode(b), "bad %zz and %4 and %");
    char c[] = "caf%C3%A9%0aline";
    assert_string_equal(imgd_cri_grpc_message_decode(c), "caf\xc3\xa9\nline");
    char d[] = "";
    assert_string_equal(imgd_cri_grpc_message_decode(d), "");
}

/* ---- calls, with a fake transport --------------------------------------------------------- */

/* How the fake runtime answers one package: a grpc-status, a message and a response body, or
 * a transport error when error is set. */
typedef struct fake_answer {
    long status;
    const char *message;
    const char *body; /* unframed message; framed by the fake */
    size_t body_len;
    int error;
    bool reset;        /* the stream is closed before the answer unless no message is sent */
    unsigned delay_ms; /* answer this late */
} fake_answer;

static struct {
    pthread_mutex_t lock;
    fake_answer v1, v1alpha2;
    char paths[8][160];
    size_t calls;
    char request[256];
    size_t request_len;
    long timeout_ms;
} fake = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int fake_transport(imgd_buf *body, long *grpc_status, char **grpc_message,
                          const char *socket, const char *path, const void *request,
                          size_t request_len, long timeout_ms, imgd_error **err)
{
    (void)socket;
    pthread_mutex_lock(&fake.lock);
    if (fake.calls < 8)
        snprintf(fake.paths[fake.calls], sizeof(fake.paths[0]), "%s%s", path,
                 request ? "" : " (no message)");
    fake.calls++;
    fake.request_len = request_len;
    if (request)
        memcpy(fake.request, request, request_len < 256 ? request_len : 256);
    fake.timeout_ms = timeout_ms;
    fake_answer a = strncmp(path, "/runtime.v1alpha2.", 18) == 0 ? fake.v1alpha2 : fake.v1;
    pthread_mutex_unlock(&fake.lock);
    if (a.delay_ms)
        usleep(a.delay_ms * 1000);
    if (a.reset && request)
        return imgd_error_set(err, ECONNRESET, "stream closed before an answer");
    if (a.error)
        return imgd_error_set(err, a.error, "fake transport failed");
    if (a.status == 0 && imgd_cri_grpc_frame(body, a.body, a.body_len) < 0)
        return -ENOMEM;
    *grpc_status = a.status;
    *grpc_message = a.message ? strdup(a.message) : NULL;
    return 0;
}

static const char list_body[] = "\x0a\x06\x0a\x04"
                                "sha1"
                                "\x0a\x06\x0a\x04"
                                "sha2";

static void fake_reset(fake_answer v1, fake_answer v1alpha2)
{
    static const imgd_cri_test_hooks hooks = {.transport = fake_transport};
    imgd_cri_test_set_hooks(&hooks); /* also forgets the endpoints */
    fake.v1 = v1;
    fake.v1alpha2 = v1alpha2;
    fake.calls = 0;
}

static const fake_answer unimplemented = {.status = 12, .message = "unknown service"};
static const fake_answer list_ok = {.body = list_body, .body_len = sizeof(list_body) - 1};

static int fake_teardown(void **state)
{
    (void)state;
    imgd_cri_test_set_hooks(NULL);
    return 0;
}

static size_t list_count(const char *endpoint, imgd_error **err)
{
    imgd_cri_image *v = NULL;
    size_t n = 0;
    int r = imgd_cri_list_images(&v, &n, endpoint, 1000, err);
    imgd_cri_images_free(v, n);
    return r < 0 ? (size_t)-1 : n;
}

static void test_call_v1(void **state)
{
    (void)state;
    imgd_error *err = NULL;
    fake_reset(list_ok, unimplemented);
    assert_null(imgd_cri_endpoint_api("unix:///a.sock"));
    assert_int_equal(list_count("unix:///a.sock", &err), 2);
    assert_int_equal(fake.calls, 1);
    assert_string_equal(fake.paths[0], "/runtime.v1.ImageService/ListImages");
    assert_int_equal(fake.request_len, 0); /* ListImagesRequest{} */
    assert_true(fake.timeout_ms > 0 && fake.timeout_ms <= 1000);
    assert_string_equal(imgd_cri_endpoint_api("unix:///a.sock"), "runtime.v1");
    assert_string_equal(imgd_cri_endpoint_api("/a.sock"), "runtime.v1"); /* same socket */
    assert_null(imgd_cri_endpoint_api("tcp://x"));
}

static void test_call_fallback_remembered(void **state)
{
    (void)state;
    imgd_error *err = NULL;
    fake_reset(unimplemented, list_ok);
    assert_int_equal(list_count("unix:///old.sock", &err), 2);
    assert_int_equal(fake.calls, 2);
    assert_string_equal(fake.paths[0], "/runtime.v1.ImageService/ListImages");
    assert_string_equal(fake.paths[1], "/runtime.v1alpha2.ImageService/ListImages");
    assert_string_equal(imgd_cri_endpoint_api("unix:///old.sock"), "runtime.v1alpha2");
    /* the next call goes to v1alpha2 directly; another endpoint still starts with v1 */
    assert_int_equal(list_count("unix:///old.sock", &err), 2);
    assert_int_equal(fake.calls, 3);
    assert_string_equal(fake.paths[2], "/runtime.v1alpha2.ImageService/ListImages");
    assert_int_equal(list_count("unix:///other.sock", &err), 2);
    assert_string_equal(fake.paths[3], "/runtime.v1.ImageService/ListImages");
    assert_string_equal(fake.paths[4], "/runtime.v1alpha2.ImageService/ListImages");
    /* the runtime is upgraded and drops v1alpha2: back to v1, remembered again */
    fake.v1 = list_ok;
    fake.v1alpha2 = unimplemented;
    assert_int_equal(list_count("unix:///old.sock", &err), 2);
    assert_string_equal(fake.paths[5], "/runtime.v1alpha2.ImageService/ListImages");
    assert_string_equal(fake.paths[6], "/runtime.v1.ImageService/ListImages");
    assert_string_equal(imgd_cri_endpoint_api("unix:///old.sock"), "runtime.v1");
    assert_null(err);
}

static void test_call_both_unimplemented(void **state)
{
    (void)state;
    imgd_error *err = NULL;
    imgd_cri_image *v = (imgd_cri_image *)&v;
    size_t n = 5;
    fake_reset(unimplemented, unimplemented);
    int r = imgd_cri_list_images(&v, &n, "unix:///none.sock", 1000, &err);
    expect_error(r, &err, EIO,
                 "CRI runtime at unix:///none.sock: /runtime.v1alpha2.ImageService/ListImages: "
                 "UNIMPLEMENTED: unknown service");
    assert_int_equal(fake.calls, 2);
    assert_null(imgd_cri_endpoint_api("unix:///none.sock"));
    assert_int_equal(n, 5); /* outputs untouched */
}

static void test_call_status_errors(void **state)
{
    (void)state;
    static const struct {
        long status;
        int code;
        const char *name;
    } cases[] = {{5, ENOENT, "NOT_FOUND"},
                 {4, ETIMEDOUT, "DEADLINE_EXCEEDED"},
                 {14, ECONNREFUSED, "UNAVAILABLE"},
                 {7, EACCES, "PERMISSION_DENIED"},
                 {16, EACCES, "UNAUTHENTICATED"},
                 {13, EIO, "INTERNAL"},
                 {2, EIO, "UNKNOWN"},
                 {99, EIO, "UNKNOWN_STATUS"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        imgd_error *err = NULL;
        fake_answer a = {.status = cases[i].status, .message = "it%20failed%0Atwice"};
        fake_reset(a, list_ok);
        char want[160];
        snprintf(want, sizeof(want),
                 "CRI runtime at unix:///e.sock: /runtime.v1.ImageService/ListImages: %s: "
                 "it failed twice",
                 cases[i].name);
        imgd_cri_image *v = NULL;
        size_t n = 0;
        expect_error(imgd_cri_list_images(&v, &n, "unix:///e.sock", 1000, &err), &err,
                     cases[i].code, want);
        assert_int_equal(fake.calls, 1); /* no fallback for these */
        assert_string_equal(imgd_cri_endpoint_api("/e.sock"), "runtime.v1");
    }
}

static void test_call_transport_and_frame_errors(void **state)
{
    (void)state;
    imgd_error *err = NULL;
    imgd_cri_image *v = NULL;
    size_t n = 0;
    fake_answer broken = {.error = ECONNREFUSED};
    fake_reset(broken, list_ok);
    expect_error(imgd_cri_list_images(&v, &n, "unix:///t.sock", 1000, &err), &err, ECONNREFUSED,
                 "fake transport failed");
    assert_int_equal(fake.calls, 1);

    fake_answer no_body = {.status = 0};
    fake_reset(no_body, list_ok);
    imgd_cri_version ver = {0};
    /* status 0 with an empty message is a valid empty VersionResponse */
    assert_int_equal(imgd_cri_get_version(&ver, "unix:///t.sock", 1000, &err), 0);
    assert_string_equal(ver.runtime_name, "");
    imgd_cri_version_dispose(&ver);

    fake_answer bad = {.status = 0, .body = "\x0a\x05", .body_len = 2};
    fake_reset(bad, list_ok);
    expect_error(imgd_cri_list_images(&v, &n, "unix:///t.sock", 1000, &err), &err, EBADMSG,
                 "CRI runtime at unix:///t.sock: ListImages: malformed ListImagesResponse");
    expect_error(imgd_cri_list_images(&v, &n, "tcp://h:1", 1000, &err), &err, EINVAL,
                 "only unix:// sockets");
}

/* The runtime answers before the request message went out and the transport lost the answer:
 * the client asks once more without a message and falls back when that says UNIMPLEMENTED. */
static void test_call_reset_then_fallback(void **state)
{
    (void)state;
    imgd_error *err = NULL;
    fake_answer early = {.status = 12, .reset = true};
    fake_reset(early, list_ok);
    assert_int_equal(list_count("unix:///r.sock", &err), 2);
    assert_null(err);
    assert_int_equal(fake.calls, 3);
    assert_string_equal(fake.paths[0], "/runtime.v1.ImageService/ListImages");
    assert_string_equal(fake.paths[1], "/runtime.v1.ImageService/ListImages (no message)");
    assert_string_equal(fake.paths[2], "/runtime.v1alpha2.ImageService/ListImages");
    assert_string_equal(imgd_cri_endpoint_api("unix:///r.sock"), "runtime.v1alpha2");

    /* the re-ask says something else: the first failure is reported, as EIO */
    fake_answer other = {.status = 2, .message = "EOF", .reset = true};
    fake_reset(other, list_ok);
    imgd_cri_image *v = NULL;
    size_t n = 0;
    expect_error(imgd_cri_list_images(&v, &n, "unix:///r.sock", 1000, &err), &err, EIO,
                 "stream closed before an answer");
    assert_int_equal(fake.calls, 2);
    assert_null(imgd_cri_endpoint_api("unix:///r.sock"));

    /* both versions unimplemented, both answers lost */
    fake_reset(early, early);
    expect_error(imgd_cri_list_images(&v, &n, "unix:///r.sock", 1000, &err), &err, EIO,
                 "/runtime.v1alpha2.ImageService/ListImages: UNIMPLEMENTED");
    assert_int_equal(fake.calls, 4);
}

/* timeout_ms covers the whole call: a slow UNIMPLEMENTED leaves no time for the fallback. */
static void test_call_deadline_spans_fallback(void **state)
{
    (void)state;
    imgd_error *err = NULL;
    fake_answer slow = {.status = 12, .delay_ms = 80};
    fake_reset(slow, list_ok);
    imgd_cri_image *v = NULL;
    size_t n = 0;
    expect_error(imgd_cri_list_images(&v, &n, "unix:///slow.sock", 50, &err), &err, ETIMEDOUT,
                 "CRI runtime at unix:///slow.sock: /runtime.v1alpha2.ImageService/ListImages: "
                 "no answer within 50 ms");
    assert_int_equal(fake.calls, 1);
}

static void test_call_image_status(void **state)
{
    (void)state;
    imgd_error *err = NULL;
    imgd_cri_image img = {0};
    bool found = true;
    static const char resp[] = "\x0a\x08\x0a\x04"
                               "sha1"
                               "\x40\x01";
    fake_answer ok = {.body = resp, .body_len = sizeof(resp) - 1};
    fake_reset(ok, unimplemented);
    assert_int_equal(imgd_cri_image_status(&img, &found, "unix:///s.sock", "busybox", 1000, &err),
                     0);
    assert_true(found);
    assert_string_equal(img.id, "sha1");
    assert_true(img.pinned);
    imgd_cri_image_dispose(&img);
    assert_string_equal(fake.paths[0], "/runtime.v1.ImageService/ImageStatus");
    /* ImageStatusRequest{image: ImageSpec{image: "busybox"}} */
    assert_int_equal(fake.request_len, 11);
    assert_memory_equal(fake.request,
                        "\x0a\x09\x0a\x07"
                        "busybox",
                        11);

    /* an empty answer, and a runtime that answers NOT_FOUND: both "not found" */
    fake_answer empty = {.body = "", .body_len = 0};
    fake_reset(empty, unimplemented);
    assert_int_equal(imgd_cri_image_status(&img, &found, "unix:///s.sock", "x", 1000, &err), 0);
    assert_false(found);
    fake_answer not_found = {.status = 5, .message = "no such image"};
    fake_reset(not_found, unimplemented);
    found = true;
    assert_int_equal(imgd_cri_image_status(&img, &found, "unix:///s.sock", "x", 1000, &err), 0);
    assert_false(found);
    assert_null(img.id);
    assert_null(err);
}

static void test_call_version_request(void **state)
{
    (void)state;
    imgd_error *err = NULL;
    static const char resp[] = "\x12\x0a"
                               "containerd"
                               "\x22\x08"
                               "v1alpha2";
    fake_answer ok = {.body = resp, .body_len = sizeof(resp) - 1};
    fake_reset(unimplemented, ok);
    imgd_cri_version v = {0};
    assert_int_equal(imgd_cri_get_version(&v, "/v.sock", 0, &err), 0); /* 0: the default */
    assert_string_equal(v.runtime_name, "containerd");
    assert_string_equal(v.runtime_api_version, "v1alpha2");
    imgd_cri_version_dispose(&v);
    assert_string_equal(fake.paths[0], "/runtime.v1.RuntimeService/Version");
    assert_string_equal(fake.paths[1], "/runtime.v1alpha2.RuntimeService/Version");
    assert_int_equal(fake.request_len, 7);
    assert_memory_equal(fake.request,
                        "\x0a\x05"
                        "0.1.0",
                        7);
    assert_true(fake.timeout_ms > 1000 && fake.timeout_ms <= 2000);
}

static void test_call_v1_package_hook(void **state)
{
    (void)state;
    imgd_error *err = NULL;
    static const imgd_cri_test_hooks hooks = {.transport = fake_transport,
                                              .v1_package = "runtime.v1test"};
    imgd_cri_test_set_hooks(&hooks);
    fake.v1 = unimplemented; /* the fake answers any non-v1alpha2 package like v1 */
    fake.v1alpha2 = list_ok;
    fake.calls = 0;
    assert_int_equal(list_count("unix:///h.sock", &err), 2);
    assert_string_equal(fake.paths[0], "/runtime.v1test.ImageService/ListImages");
    assert_string_equal(fake.paths[1], "/runtime.v1alpha2.ImageService/ListImages");
}

static void *list_thread(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    for (unsigned i = 0; i < 200; i++) {
        char endpoint[64];
        snprintf(endpoint, sizeof(endpoint), "unix:///thread-%u.sock", (id * 7 + i) % 40);
        imgd_error *err = NULL;
        if (list_count(endpoint, &err) != 2)
            return (void *)1;
        (void)imgd_cri_endpoint_api(endpoint);
    }
    return NULL;
}

/* Many threads on more endpoints than the table remembers: no crash, every call answered. */
static void test_call_threads(void **state)
{
    (void)state;
    fake_reset(unimplemented, list_ok);
    pthread_t t[8];
    for (unsigned i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&t[i], NULL, list_thread, (void *)(uintptr_t)i), 0);
    for (unsigned i = 0; i < 8; i++) {
        void *ret = NULL;
        assert_int_equal(pthread_join(t[i], &ret), 0);
        assert_null(ret);
    }
    assert_true(fake.calls >= 8 * 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_resolve_order, resolve_setup, resolve_teardown),
        cmocka_unit_test_setup_teardown(test_resolve_yaml_forms, resolve_setup, resolve_teardown),
        cmocka_unit_test_setup_teardown(test_resolve_errors, resolve_setup, resolve_teardown),
        cmocka_unit_test(test_endpoint_socket),
        cmocka_unit_test(test_decode_hand_built),
        cmocka_unit_test(test_decode_empty_and_last_wins),
        cmocka_unit_test(test_decode_malformed),
        cmocka_unit_test(test_decode_bounds),
        cmocka_unit_test(test_decode_image_status),
        cmocka_unit_test(test_decode_version),
        cmocka_unit_test(test_frame_and_unframe),
        cmocka_unit_test(test_unframe_malformed),
        cmocka_unit_test(test_status_mapping),
        cmocka_unit_test(test_message_decode),
        cmocka_unit_test_teardown(test_call_v1, fake_teardown),
        cmocka_unit_test_teardown(test_call_fallback_remembered, fake_teardown),
        cmocka_unit_test_teardown(test_call_both_unimplemented, fake_teardown),
        cmocka_unit_test_teardown(test_call_status_errors, fake_teardown),
        cmocka_unit_test_teardown(test_call_transport_and_frame_errors, fake_teardown),
        cmocka_unit_test_teardown(test_call_reset_then_fallback, fake_teardown),
        cmocka_unit_test_teardown(test_call_deadline_spans_fallback, fake_teardown),
        cmocka_unit_test_teardown(test_call_image_status, fake_teardown),
        cmocka_unit_test_teardown(test_call_version_request, fake_teardown),
        cmocka_unit_test_teardown(test_call_v1_package_hook, fake_teardown),
        cmocka_unit_test_teardown(test_call_threads, fake_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
