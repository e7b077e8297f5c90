/* SPDX-License-Identifier: MIT */
/* Layer unpacking on real directories: entry types and attributes, whiteouts in overlayfs form,
 * compressions, and entries that try to leave the layer. Archives are built here, byte by byte. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cmocka.h>

#include "core/store/unpack.h"
#include "util/buf.h"

/* ---- a small tar writer ---- */

static void put_octal(char *field, size_t len, uint64_t v)
{
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "%0*llo", (int)len - 1, (unsigned long long)v);
    memcpy(field, tmp, len - 1); /* the last byte of the field stays NUL */
}

static void tar_header(imgd_buf *b, const char *name, char type, uint32_t mode, uint64_t size,
                       const char *link)
{
    char h[512];
    memset(h, 0, sizeof(h));
    snprintf(h, 100, "%s", name);
    put_octal(h + 100, 8, mode);
    put_octal(h + 108, 8, 0);
    put_octal(h + 116, 8, 0);
    put_octal(h + 124, 12, size);
    put_octal(h + 136, 12, 1600000000);
    h[156] = type;
    if (link)
        snprintf(h + 157, 100, "%s", link);
    memcpy(h + 257,
           "ustar\0"
           "00",
           8);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < sizeof(h); i++)
        sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", sum);
    imgd_buf_append(b, h, sizeof(h));
}

static void tar_data(imgd_buf *b, const char *data, size_t len)
{
    static const char zero[512];
    imgd_buf_append(b, data, len);
    if (len % 512)
        imgd_buf_append(b, zero, 512 - len % 512);
}

static void tar_file(imgd_buf *b, const char *name, const char *content, uint32_t mode)
{
    tar_header(b, name, '0', mode, strlen(content), NULL);
    tar_data(b, content, strlen(content));
}

static void tar_pax(imgd_buf *b, const char *records)
{
    tar_header(b, "PaxHeaders/x", 'x', 0644, strlen(records), NULL);
    tar_data(b, records, strlen(records));
}

/* Append one pax record "<len> key=value\n"; the length counts its own digits. */
static void pax_record(char *out, size_t cap, const char *key, const char *value)
{
    size_t body = 1 + strlen(key) + 1 + strlen(value) + 1; /* " key=value\n" */
    size_t total = body + 1;
    while (snprintf(NULL, 0, "%zu", total) + body != total)
        total++;
    size_t used = strlen(out);
    snprintf(out + used, cap - used, "%zu %s=%s\n", total, key, value);
}

static void tar_end(imgd_buf *b)
{
    static const char zero[1024];
    imgd_buf_append(b, zero, sizeof(zero));
}

/* ---- fixture: a fresh directory per test ---- */

typedef struct fixture {
    char dir[96];   /* the layer directory */
    char outer[64]; /* its parent, to see that nothing escaped */
    int fd;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    snprintf(f->outer, sizeof(f->outer), "/tmp/imgd-unpack-XXXXXX");
    if (!mkdtemp(f->outer))
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/layer", f->outer);
    mkdir(f->dir, 0755);
    f->fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    *state = f;
    return f->fd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    int parent = open(f->outer, O_RDONLY | O_DIRECTORY);
    imgd_remove_tree_at(parent, "layer");
    close(parent);
    rmdir(f->outer);
    close(f->fd);
    free(f);
    return 0;
}

/* Unpack in pieces of `chunk` bytes; returns the result and fills diff_id / err. */
static int unpack(fixture *f, const void *data, size_t len, imgd_compression c, size_t chunk,
                  char *diff_id, imgd_error **err)
{
    imgd_unpacker *u = NULL;
    assert_int_equal(imgd_unpacker_new(&u, f->fd, c, NULL, err), 0);
    int r = 0;
    for (size_t off = 0; r == 0 && off < len; off += chunk)
        r = imgd_unpacker_feed(u, (const char *)data + off, len - off < chunk ? len - off : chunk,
                               err);
    uint64_t size = 0;
    if (r == 0)
        r = imgd_unpacker_finish(u, diff_id, &size, err);
    imgd_unpacker_free(u);
    return r;
}

static void at(char *out, size_t len, const fixture *f, const char *rel)
{
    snprintf(out, len, "%s/%s", f->dir, rel);
}

static void expect_content(const fixture *f, const char *rel, const char *content)
{
    char p[1024], buf[256] = "";
    at(p, sizeof(p), f, rel);
    FILE *fp = fopen(p, "r");
    if (!fp)
        fail_msg("%s missing", rel);
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    assert_string_equal(buf, content);
}

/* ---- tests ---- */

static void test_entry_types(void **state)
{
    fixture *f = *state;
    imgd_buf b = {0};
    tar_header(&b, "./", '5', 0755, 0, NULL);
    tar_header(&b, "./etc/", '5', 0750, 0, NULL);
    tar_file(&b, "./etc/hosts", "127.0.0.1 localhost\n", 0640);
    tar_file(&b, "bin/tool", "#!/bin/sh\n", 04755); /* parent not in the archive */
    tar_header(&b, "etc/link", '2', 0777, 0, "hosts");
    tar_header(&b, "etc/abs", '2', 0777, 0, "/etc/hosts");
    tar_header(&b, "etc/hard", '1', 0640, 0, "etc/hosts");
    tar_header(&b, "dev/null", '3', 0666, 0, NULL);
    tar_header(&b, "fifo", '6', 0600, 0, NULL);
    tar_file(&b, "/abs-file", "inside", 0644); /* absolute names stay inside */
    tar_end(&b);
    char diff[IMGD_DIGEST_LEN + 1], expect[IMGD_DIGEST_LEN + 1];
    imgd_error *err = NULL;
    mode_t old_umask = umask(077); /* as the daemon runs */
    assert_int_equal(unpack(f, b.data, b.len, IMGD_COMPRESSION_NONE, 100, diff, &err), 0);
    umask(old_umask);
    assert_null(err);
    imgd_sha256_digest(expect, b.data, b.len);
    assert_string_equal(diff, expect); /* DiffID = sha256 of the uncompressed tar */

    char p[256], link[64] = "";
    struct stat st;
    expect_content(f, "etc/hosts", "127.0.0.1 localhost\n");
    at(p, sizeof(p), f, "etc");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0750);
    assert_int_equal(st.st_mtime, 1600000000); /* set after its children were written */
    at(p, sizeof(p), f, "bin/tool");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 04755);
    at(p, sizeof(p), f, "bin"); /* a parent the archive left out: 0755 whatever the umask */
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    at(p, sizeof(p), f, "etc/link");
    assert_int_equal(readlink(p, link, sizeof(link) - 1), 5);
    assert_string_equal(link, "hosts");
    at(p, sizeof(p), f, "etc/hard");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_nlink, 2);
    expect_content(f, "abs-file", "inside");
    at(p, sizeof(p), f, "fifo");
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    if (geteuid() == 0) {
        at(p, sizeof(p), f, "dev/null");
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISCHR(st.st_mode));
    }
    imgd_buf_dispose(&b);
}

static void test_whiteouts(void **state)
{
    fixture *f = *state;
    if (geteuid() != 0)
        skip(); /* whiteout devices and trusted.* xattrs need root */
    imgd_buf b = {0};
    tar_header(&b, "data/", '5', 0755, 0, NULL);
    tar_file(&b, "data/.wh.gone", "", 0644);
    tar_file(&b, "data/kept", "mine", 0644);
    tar_file(&b, "data/.wh.kept", "", 0644); /* never hides a file of the same layer */
    tar_header(&b, "data/dir/", '5', 0755, 0, NULL);
    tar_file(&b, "data/dir/.wh..wh..opq", "", 0644);
    tar_file(&b, "data/dir/y", "y", 0644);
    tar_end(&b);
    char diff[IMGD_DIGEST_LEN + 1];
    imgd_error *err = NULL;
    assert_int_equal(unpack(f, b.data, b.len, IMGD_COMPRESSION_NONE, 4096, diff, &err), 0);
    char p[256], v[8] = "";
    struct stat st;
    at(p, sizeof(p), f, "data/gone");
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(st.st_rdev, makedev(0, 0));
    at(p, sizeof(p), f, "data/.wh.gone");
    assert_int_equal(lstat(p, &st), -1); /* the marker itself is never written */
    expect_content(f, "data/kept", "mine");
    at(p, sizeof(p), f, "data/dir");
    assert_int_equal(getxattr(p, "trusted.overlay.opaque", v, sizeof(v)), 1);
    assert_int_equal(v[0], 'y');
    at(p, sizeof(p), f, "data/dir/.wh..wh..opq");
    assert_int_equal(lstat(p, &st), -1);
    expect_content(f, "data/dir/y", "y");
    imgd_buf_dispose(&b);
}

static void expect_refused(fixture *f, imgd_buf *b, const char *message)
{
    char diff[IMGD_DIGEST_LEN + 1];
    imgd_error *err = NULL;
    assert_int_equal(unpack(f, b->data, b->len, IMGD_COMPRESSION_NONE, 512, diff, &err), -EINVAL);
    assert_non_null(err);
    if (!strstr(err->message, message))
        fail_msg("message '%s' does not say '%s'", err->message, message);
    imgd_error_free(err);
    /* nothing next to the layer directory */
    char p[128];
    struct stat st;
    snprintf(p, sizeof(p), "%s/escape", f->outer);
    assert_int_equal(lstat(p, &st), -1);
    assert_int_equal(lstat("/tmp/escape-imgd-test", &st), -1);
}

static void test_dotdot_is_refused(void **state)
{
    fixture *f = *state;
    imgd_buf b = {0};
    tar_file(&b, "../escape", "x", 0644);
    tar_end(&b);
    expect_refused(f, &b, "layer entry '../escape' leaves the layer directory");
    imgd_buf_dispose(&b);
    tar_file(&b, "a/../../escape", "x", 0644);
    tar_end(&b);
    expect_refused(f, &b, "leaves the layer directory");
    imgd_buf_dispose(&b);
}

static void test_symlink_stepping_stone_is_refused(void **state)
{
    fixture *f = *state;
    imgd_buf b = {0};
    tar_header(&b, "link", '2', 0777, 0, "/tmp");
    tar_file(&b, "link/escape-imgd-test", "x", 0644);
    tar_end(&b);
    expect_refused(f, &b, "layer entry 'link/escape-imgd-test' has a symbolic link in its");
    imgd_buf_dispose(&b);
    tar_header(&b, "up", '2', 0777, 0, "..");
    tar_file(&b, "up/escape", "x", 0644);
    tar_end(&b);
    expect_refused(f, &b, "symbolic link");
    imgd_buf_dispose(&b);
}

static void test_hardlink_outside_is_refused(void **state)
{
    fixture *f = *state;
    imgd_buf b = {0};
    tar_header(&b, "passwd", '1', 0644, 0, "/etc/passwd");
    tar_end(&b);
    expect_refused(f, &b, "links to '/etc/passwd', which is not in this layer");
    imgd_buf_dispose(&b);
    tar_header(&b, "x", '1', 0644, 0, "../../etc/passwd");
    tar_end(&b);
    expect_refused(f, &b, "outside the layer");
    imgd_buf_dispose(&b);
}

static void test_compressions(void **state)
{
    fixture *f = *state;
    imgd_buf b = {0};
    tar_file(&b, "hello", "hello world", 0644);
    tar_end(&b);
    char raw[IMGD_DIGEST_LEN + 1], diff[IMGD_DIGEST_LEN + 1];
    imgd_sha256_digest(raw, b.data, b.len);

    /* gzip, as two concatenated members (pigz and some registries produce that) */
    uLong cap = compressBound(b.len) + 64;
    unsigned char *gz = malloc(2 * cap);
    size_t gz_len = 0;
    for (int part = 0; part < 2; part++) {
        z_stream zs = {0};
        deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
        size_t half = b.len / 2;
        zs.next_in = (unsigned char *)b.data + (part ? half : 0);
        zs.avail_in = (uInt)(part ? b.len - half : half);
        zs.next_out = gz + gz_len;
        zs.avail_out = (uInt)cap;
        assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
        gz_len += zs.total_out;
        deflateEnd(&zs);
    }
    imgd_error *err = NULL;
    assert_int_equal(unpack(f, gz, gz_len, IMGD_COMPRESSION_GZIP, 7, diff, &err), 0);
    assert_string_equal(diff, raw);
    assert_int_equal(unpack(f, gz, gz_len, IMGD_COMPRESSION_DETECT, 3, diff, &err), 0);
    assert_string_equal(diff, raw);
    expect_content(f, "hello", "hello world");

    size_t zcap = ZSTD_compressBound(b.len);
    void *zs = malloc(zcap);
    size_t zlen = ZSTD_compress(zs, zcap, b.data, b.len, 3);
    assert_false(ZSTD_isError(zlen));
    assert_int_equal(unpack(f, zs, zlen, IMGD_COMPRESSION_ZSTD, 5, diff, &err), 0);
    assert_string_equal(diff, raw);
    assert_int_equal(unpack(f, zs, zlen, IMGD_COMPRESSION_DETECT, 1, diff, &err), 0);
    assert_string_equal(diff, raw);
    assert_int_equal(unpack(f, b.data, b.len, IMGD_COMPRESSION_DETECT, 1000, diff, &err), 0);
    assert_string_equal(diff, raw);

    /* garbage announced as gzip */
    assert_int_equal(unpack(f, b.data, b.len, IMGD_COMPRESSION_GZIP, 1000, diff, &err), -EINVAL);
    assert_non_null(strstr(err->message, "gzip"));
    imgd_error_free(err);
    free(gz);
    free(zs);
    imgd_buf_dispose(&b);
}

static void test_pax_and_long_names(void **state)
{
    fixture *f = *state;
    imgd_buf b = {0};
    char longname[300], records[1024] = "", xattrs[256] = "";
    memset(longname, 'n', 250);
    memcpy(longname + 250, "/file", 6);
    pax_record(records, sizeof(records), "path", longname);
    tar_pax(&b, records);
    tar_file(&b, "short", "pax", 0644);
    pax_record(xattrs, sizeof(xattrs), "SCHILY.xattr.user.color", "red");
    pax_record(xattrs, sizeof(xattrs), "SCHILY.xattr.trusted.overlay.x", "evil");
    tar_pax(&b, xattrs);
    tar_file(&b, "attrs", "x", 0644);
    tar_header(&b, "././@LongLink", 'L', 0644, 201, NULL);
    char gnu[201];
    memset(gnu, 'g', 199);
    gnu[199] = '\0';
    gnu[200] = '\0';
    tar_data(&b, gnu, 201);
    tar_file(&b, "ignored-name", "gnu", 0644);
    tar_end(&b);
    char diff[IMGD_DIGEST_LEN + 1];
    imgd_error *err = NULL;
    assert_int_equal(unpack(f, b.data, b.len, IMGD_COMPRESSION_NONE, 333, diff, &err), 0);
    expect_content(f, longname, "pax");
    gnu[199] = '\0';
    expect_content(f, gnu, "gnu");
    char p[256], v[16] = "";
    at(p, sizeof(p), f, "attrs");
    if (getxattr(p, "user.color", v, sizeof(v)) == 3) /* the file system may lack user xattrs */
        assert_memory_equal(v, "red", 3);
    if (geteuid() == 0)
        assert_int_equal(getxattr(p, "trusted.overlay.x", v, sizeof(v)), -1);
    imgd_buf_dispose(&b);
}

static void test_truncated_and_corrupt(void **state)
{
    fixture *f = *state;
    imgd_buf b = {0};
    tar_file(&b, "big", "0123456789abcdef", 0644);
    char diff[IMGD_DIGEST_LEN + 1];
    imgd_error *err = NULL;
    /* stops inside the data */
    assert_int_equal(unpack(f, b.data, 520, IMGD_COMPRESSION_NONE, 64, diff, &err), -EINVAL);
    assert_non_null(strstr(err->message, "ends in the middle of an entry"));
    imgd_error_free(err);
    err = NULL;
    b.data[0] ^= 1; /* the checksum no longer matches */
    assert_int_equal(unpack(f, b.data, b.len, IMGD_COMPRESSION_NONE, 512, diff, &err), -EINVAL);
    assert_non_null(strstr(err->message, "checksum"));
    imgd_error_free(err);
    imgd_buf_dispose(&b);
}

static void test_replacing_entries(void **state)
{
    fixture *f = *state;
    imgd_buf b = {0};
    tar_header(&b, "x/", '5', 0755, 0, NULL);
    tar_file(&b, "x/child", "c", 0644);
    tar_file(&b, "x", "now a file", 0644); /* a directory replaced by a file */
    tar_file(&b, "y", "first", 0644);
    tar_header(&b, "y", '2', 0777, 0, "x"); /* a file replaced by a symlink */
    tar_end(&b);
    char diff[IMGD_DIGEST_LEN + 1];
    imgd_error *err = NULL;
    assert_int_equal(unpack(f, b.data, b.len, IMGD_COMPRESSION_NONE, 512, diff, &err), 0);
    expect_content(f, "x", "now a file");
    char p[256];
    struct stat st;
    at(p, sizeof(p), f, "y");
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    imgd_buf_dispose(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_entry_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whiteouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dotdot_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_stepping_stone_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hardlink_outside_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compressions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pax_and_long_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_and_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replacing_entries, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
