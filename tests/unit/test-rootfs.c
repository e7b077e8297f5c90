/* SPDX-License-Identifier: MIT */
/* Edits of a container rootfs on real directories: users and groups added to busybox-like and
 * hostile /etc files, user specs resolved as runc does, files written and read, and links that try
 * to lead a write or a read out of the rootfs. Runs as root (chown must work). */
#include <crypt.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/runtime/rootfs.h"

/* ---- fixture: <outer>/root is the rootfs, <outer>/outside plays the host ---- */

typedef struct fixture {
    char outer[64];
    char root[96];
    int fd;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    snprintf(f->outer, sizeof(f->outer), "/tmp/imgd-rootfs-XXXXXX");
    if (!mkdtemp(f->outer))
        return -1;
    snprintf(f->root, sizeof(f->root), "%s/root", f->outer);
    mkdir(f->root, 0755);
    f->fd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    *state = f;
    return f->fd < 0 ? -1 : 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void remove_tree(const char *path)
{
    nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int teardown(void **state)
{
    fixture *f = *state;
    close(f->fd);
    remove_tree(f->outer);
    free(f);
    return 0;
}

static void at(char *out, size_t len, const fixture *f, const char *rel)
{
    snprintf(out, len, "%s/%s", f->root, rel);
}

/* mkdir -p of a host path. */
static void mkdir_p(const char *path)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", path);
    for (char *s = dir + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(dir, 0755);
            *s = '/';
        }
    mkdir(dir, 0755);
}

/* Create a file of the rootfs (parents included) with content and mode. */
static void put(const fixture *f, const char *rel, const char *content, mode_t mode)
{
    char p[512];
    at(p, sizeof(p), f, rel);
    *strrchr(p, '/') = '\0';
    mkdir_p(p);
    at(p, sizeof(p), f, rel);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs(content, fp);
    fclose(fp);
    assert_int_equal(chmod(p, mode), 0);
}

/* The content of a host path; NULL when missing. */
static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return NULL;
    char *buf = calloc(1, 8 * 1024 * 1024);
    size_t n = fread(buf, 1, 8 * 1024 * 1024 - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return buf;
}

static char *slurp_in(const fixture *f, const char *rel)
{
    char p[512];
    at(p, sizeof(p), f, rel);
    return slurp(p);
}

/* The line of a database file that starts with "name:"; NULL when none. */
static char *line_of(const char *content, const char *name)
{
    size_t n = strlen(name);
    for (const char *l = content; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, name, n) == 0 && l[n] == ':')
            return strndup(l, strcspn(l, "\n"));
    return NULL;
}

static void expect_line(const fixture *f, const char *rel, const char *name, const char *line)
{
    char *content = slurp_in(f, rel);
    assert_non_null(content);
    char *got = line_of(content, name);
    if (!got)
        fail_msg("no line '%s' in %s:\n%s", name, rel, content);
    assert_string_equal(got, line);
    free(got);
    free(content);
}

/* No temporary file is left behind in a directory of the rootfs. */
static void expect_no_tmp(const fixture *f, const char *rel)
{
    char p[512];
    at(p, sizeof(p), f, rel);
    DIR *d = opendir(p);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, ".imgd-tmp-", 10) == 0)
            fail_msg("temporary file %s left in %s", de->d_name, rel);
    closedir(d);
}

static void expect_unchanged(const fixture *f, const char *rel, const char *before)
{
    char *now = slurp_in(f, rel);
    if (!before)
        assert_null(now);
    else
        assert_string_equal(now, before);
    free(now);
}

static void put_busybox_etc(const fixture *f)
{
    put(f, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0644);
    put(f, "etc/group", "root:x:0:\n", 0644);
}

/* ---- user_add ---- */

static void test_user_add_busybox(void **state)
{
    fixture *f = *state;
    put_busybox_etc(f);
    char p[512];
    at(p, sizeof(p), f, "etc/passwd");
    assert_int_equal(chmod(p, 0640), 0);
    assert_int_equal(chown(p, 0, 5), 0);
    imgd_user_request req = {.username = "app", .password = "s3cret:\n$", .uid = -1};
    imgd_user_ids ids;
    imgd_error *err = NULL;
    assert_int_equal(imgd_rootfs_user_add(&ids, f->fd, &req, &err), 0);
    assert_null(err);
    assert_int_equal(ids.uid, 1000);
    assert_int_equal(ids.gid, 1000);
    assert_int_equal(ids.n_gids, 0);
    assert_string_equal(ids.home, "/home/app");
    expect_line(f, "etc/passwd", "root", "root:x:0:0:root:/root:/bin/sh");
    expect_line(f, "etc/passwd", "app", "app:x:1000:1000::/home/app:/bin/sh");
    expect_line(f, "etc/group", "app", "app:x:1000:");

    struct stat st;
    assert_int_equal(stat(p, &st), 0); /* mode and owner of a rewritten file are kept */
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(st.st_gid, 5);
    at(p, sizeof(p), f, "etc/shadow"); /* created: busybox-like, no "shadow" group */
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(st.st_uid, 0);
    assert_int_equal(st.st_gid, 0);

    char *shadow = slurp(p), *line = line_of(shadow, "app");
    assert_non_null(line);
    char hash[256], *end = NULL;
    assert_true(strncmp(line, "app:$6$", 7) == 0);
    snprintf(hash, sizeof(hash), "%.*s", (int)strcspn(line + 4, ":"), line + 4);
    long long day = strtoll(line + 4 + strlen(hash) + 1, &end, 10);
    assert_string_equal(end, ":0:99999:7:::");
    assert_int_equal(strchr(hash + 3, '$') - (hash + 3), 16); /* 16 salt characters */
    assert_true(llabs(day - (long long)(time(NULL) / 86400)) <= 1);
    struct crypt_data cd;
    memset(&cd, 0, sizeof(cd));
    assert_string_equal(crypt_r("s3cret:\n$", hash, &cd), hash);
    memset(&cd, 0, sizeof(cd));
    assert_string_not_equal(crypt_r("wrong", hash, &cd), hash);
    free(line);
    free(shadow);

    at(p, sizeof(p), f, "home/app");
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(st.st_uid, 1000);
    assert_int_equal(st.st_gid, 1000);
    at(p, sizeof(p), f, "home");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    expect_no_tmp(f, "etc");
}

static void test_user_add_exists(void **state)
{
    fixture *f = *state;
    put_busybox_etc(f);
    imgd_user_request req = {.username = "app", .uid = -1};
    imgd_user_ids ids;
    imgd_error *err = NULL;
    assert_int_equal(imgd_rootfs_user_add(&ids, f->fd, &req, &err), 0);
    char *passwd = slurp_in(f, "etc/passwd"), *group = slurp_in(f, "etc/group");
    char *shadow = slurp_in(f, "etc/shadow");
    assert_true(strncmp(shadow, "app:!:", 6) == 0); /* created; no password: locked */

    assert_int_equal(imgd_rootfs_user_add(&ids, f->fd, &req, &err), -EEXIST);
    assert_string_equal(err->message, "user 'app' already exists in the container");
    imgd_error_free(err);
    err = NULL;

    imgd_user_request other = {.username = "other", .uid = 0}; /* root's uid */
    assert_int_equal(imgd_rootfs_user_add(&ids, f->fd, &other, &err), -EEXIST);
    assert_non_null(strstr(err->message, "uid 0"));
    imgd_error_free(err);
    err = NULL;
    other.uid = 1000; /* app's */
    assert_int_equal(imgd_rootfs_user_add(&ids, f->fd, &other, &err), -EEXIST);
    imgd_error_free(err);

    expect_unchanged(f, "etc/passwd", passwd);
    expect_unchanged(f, "etc/group", group);
    expect_unchanged(f, "etc/shadow", shadow);
    expect_no_tmp(f, "etc");
    free(passwd);
    free(group);
    free(shadow);
}

static void test_user_add_groups(void **state)
{
    fixture *f = *state;
    put(f, "etc/passwd", "root:x:0:0:root:/root:/bin/bash\r\n", 0644);
    put(f, "etc/group",
        "root:x:0:\n# a comment:x:10:\nwheel:x:10:root\r\nshadow:x:42:\nvideo:x:44\n"
        "taken:x:2000:\naudio:x:29:app,\nwheel:x:11:\nplugdev:x:46:root",
        0644);
    const char *groups[] = {"wheel", "video", "audio", "wheel", NULL};
    imgd_user_request req = {.username = "app",
                             .password = "pw",
                             .shell = "/bin/bash",
                             .uid = 2000,
                             .home = "/srv/app",
                             .groups = groups};
    imgd_user_ids ids;
    imgd_error *err = NULL;
    assert_int_equal(imgd_rootfs_user_add(&ids, f->fd, &req, &err), 0);
    assert_int_equal(ids.uid, 2000);
    assert_int_equal(ids.gid, 1000); /* 2000 is taken by a group */
    assert_int_equal(ids.n_gids, 3);
    assert_int_equal(ids.gids[0], 10);
    assert_int_equal(ids.gids[1], 44);
    assert_int_equal(ids.gids[2], 29);
    assert_string_equal(ids.home, "/srv/app");
    char *group = slurp_in(f, "etc/group");
    assert_string_equal(group, "root:x:0:\n# a comment:x:10:\nwheel:x:10:root,app\r\n"
                               "shadow:x:42:\nvideo:x:44:app\ntaken:x:2000:\naudio:x:29:app,\n"
                               "wheel:x:11:\nplugdev:x:46:root\napp:x:1000:\n");
    free(group);
    expect_line(f, "etc/passwd", "app", "app:x:2000:1000::/srv/app:/bin/bash");
    char p[512];
    struct stat st;
    at(p, sizeof(p), f, "etc/shadow"); /* Debian-like: root:shadow */
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_gid, 42);
    at(p, sizeof(p), f, "srv/app");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_uid, 2000);
    assert_int_equal(st.st_gid, 1000);

    /* an unknown group: nothing changes */
    char *passwd = slurp_in(f, "etc/passwd");
    group = slurp_in(f, "etc/group");
    const char *unknown[] = {"wheel", "nosuch", NULL};
    imgd_user_request req2 = {.username = "bob", .uid = -1, .groups = unknown};
    assert_int_equal(imgd_rootfs_user_add(&ids, f->fd, &req2, &err), -ENOENT);
    assert_string_equal(err->message, "group 'nosuch' not found in the container's /etc/group");
    imgd_error_free(err);
    expect_unchanged(f, "etc/passwd", passwd);
    expect_unchanged(f, "etc/group", group);
    at(p, sizeof(p), f, "home/bob");
    assert_int_equal(access(p, F_OK), -1);
    expect_no_tmp(f, "etc");
    free(passwd);
    free(group);
}

static void test_user_add_empty_rootfs(void **state)
{
    fixture *f = *state; /* distroless-like at worst: not even /etc */
    imgd_user_request req = {.username = "_svc.x-1", .uid = -1, .home = "/"};
    imgd_user_ids ids;
    imgd_error *err = NULL;
    assert_int_equal(imgd_rootfs_user_add(&ids, f->fd, &req, &err), 0);
    assert_null(err);
    assert_int_equal(ids.uid, 1000);
    expect_line(f, "etc/passwd", "_svc.x-1", "_svc.x-1:x:1000:1000::/:/bin/sh");
    expect_line(f, "etc/group", "_svc.x-1", "_svc.x-1:x:1000:");
    char p[512];
    struct stat st;
    const char *files[] = {"etc", "etc/passwd", "etc/group", "etc/shadow"};
    const mode_t modes[] = {0755, 0644, 0644, 0640};
    for (size_t i = 0; i < 4; i++) {
        at(p, sizeof(p), f, files[i]);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, modes[i]);
        assert_int_equal(st.st_uid, 0);
    }
}

static void test_user_add_reuses_group(void **state)
{
    fixture *f = *state;
    put_busybox_etc(f);
    put(f, "etc/group", "root:x:0:\napp:x:1500:\n", 0644);
    put(f, "etc/shadow", "root:*:19000:0:99999:7:::\napp:stale:1:0:99999:7:::\n", 0600);
    imgd_user_request req = {.username = "app", .uid = -1};
    imgd_user_ids ids;
    imgd_error *err = NULL;
    assert_int_equal(imgd_rootfs_user_add(&ids, f->fd, &req, &err), 0);
    assert_int_equal(ids.gid, 1500);
    char *group = slurp_in(f, "etc/group");
    assert_string_equal(group, "root:x:0:\napp:x:1500:\n");
    free(group);
    char *shadow = slurp_in(f, "etc/shadow");
    assert_null(strstr(shadow, "stale"));
    assert_true(strncmp(shadow, "root:*:19000:0:99999:7:::\napp:!:", 32) == 0);
    free(shadow);
    char p[512];
    struct stat st;
    at(p, sizeof(p), f, "etc/shadow");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_user_add_invalid(void **state)
{
    fixture *f = *state;
    put_busybox_etc(f);
    const char *bad_names[] = {
        "", "Root", "1abc", "-x", ".x", "a:b", "a\nb", "a b", "abcdefghijklmnopqrstuvwxyz0123456"};
    imgd_user_ids ids;
    imgd_error *err = NULL;
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(*bad_names); i++) {
        imgd_user_request req = {.username = bad_names[i], .uid = -1};
        assert_int_equal(imgd_rootfs_user_add(&ids, f->fd, &req, &err), -EINVAL);
        assert_null(strchr(err->message, '\n'));
        imgd_error_free(err);
        err = NULL;
    }
    const char *groups[] = {"wh:eel", NULL};
    imgd_user_request bad[] = {
        {.username = NULL, .uid = -1},
        {.username = "app", .uid = -1, .shell = "bin/sh"},
        {.username = "app", .uid = -1, .shell = "/bin/sh:x"},
        {.username = "app", .uid = -1, .shell = "/bin/sh\n"},
        {.username = "app", .uid = -1, .home = "home/app"},
        {.username = "app", .uid = -1, .home = "/home/../etc"},
        {.username = "app", .uid = -1, .home = "/home/app/"},
        {.username = "app", .uid = -1, .home = "/home//app"},
        {.username = "app", .uid = -1, .home = "/home/a\tb"},
        {.username = "app", .uid = -2},
        {.username = "app", .uid = 4294967295},
        {.username = "app", .uid = -1, .groups = groups},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        assert_int_equal(imgd_rootfs_user_add(&ids, f->fd, &bad[i], &err), -EINVAL);
        imgd_error_free(err);
        err = NULL;
    }
    char longpw[600];
    memset(longpw, 'a', sizeof(longpw) - 1);
    longpw[sizeof(longpw) - 1] = '\0';
    imgd_user_request req = {.username = "app", .uid = -1, .password = longpw};
    assert_int_equal(imgd_rootfs_user_add(&ids, f->fd, &req, &err), -EINVAL);
    assert_null(strstr(err->message, "aaaa")); /* never the secret */
    imgd_error_free(err);
    expect_unchanged(f, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
    expect_unchanged(f, "etc/shadow", NULL);
}

static void test_user_add_hostile_files(void **state)
{
    fixture *f = *state;
    static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\r\n"
                                 "\n"
                                 "# comment\n"
                                 "short\n"
                                 "x:y\n"
                                 "::::::\n"
                                 "big:x:99999999999:0::/:/bin/sh\n"
                                 "neg:x:-5:0::/:/bin/sh\n"
                                 "hex:x:0x3e8:0::/:/bin/sh\n"
                                 "used:x:1000:1000::/:/bin/sh\n"
                                 "+nis\n"
                                 "nul\0:x:1001:0::/:/bin/sh\n"
                                 "last:x:1002:0:no newline";
    char p[512];
    put(f, "etc/group", "root:x:0:\n:::\nx\n", 0644);
    at(p, sizeof(p), f, "etc/passwd");
    FILE *fp = fopen(p, "w");
    fwrite(passwd, 1, sizeof(passwd) - 1, fp);
    fclose(fp);
    imgd_user_request req = {.username = "app", .uid = -1};
    imgd_user_ids ids;
    imgd_error *err = NULL;
    assert_int_equal(imgd_rootfs_user_add(&ids, f->fd, &req, &err), 0);
    assert_int_equal(ids.uid, 1003); /* 1000 to 1002 are in use, junk lines count for nothing */
    fp = fopen(p, "r");
    char got[1024];
    size_t n = fread(got, 1, sizeof(got), fp);
    fclose(fp);
    static const char added[] = "\napp:x:1003:1003::/home/app:/bin/sh\n";
    assert_int_equal(n, sizeof(passwd) - 1 + sizeof(added) - 1);
    assert_memory_equal(got, passwd, sizeof(passwd) - 1); /* kept byte for byte */
    assert_memory_equal(got + sizeof(passwd) - 1, added, sizeof(added) - 1);
    expect_line(f, "etc/group", "app", "app:x:1003:");

    /* a name that is the first field of a malformed line still counts as taken */
    imgd_user_request again = {.username = "short", .uid = -1};
    assert_int_equal(imgd_rootfs_user_add(&ids, f->fd, &again, &err), -EEXIST);
    imgd_error_free(err);
}

static void test_db_too_large(void **state)
{
    fixture *f = *state;
    put_busybox_etc(f);
    char p[512];
    at(p, sizeof(p), f, "etc/group");
    assert_int_equal(truncate(p, IMGD_ROOTFS_DB_MAX + 1), 0);
    imgd_user_request req = {.username = "app", .uid = -1};
    imgd_user_ids ids;
    imgd_error *err = NULL;
    assert_int_equal(imgd_rootfs_user_add(&ids, f->fd, &req, &err), -EFBIG);
    imgd_error_free(err);
    err = NULL;
    assert_int_equal(imgd_rootfs_user_resolve(&ids, f->fd, "root", &err), -EFBIG);
    imgd_error_free(err);
    expect_unchanged(f, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
}

/* ---- user_resolve ---- */

static void put_resolve_etc(const fixture *f)
{
    put(f, "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\n"
        "app:x:1000:1001::/home/app:/bin/sh\n"
        "nohome:x:1002:1002\n"
        "dup:x:7:7::/first:/bin/sh\n"
        "dup:x:8:8::/second:/bin/sh\n",
        0644);
    put(f, "etc/group",
        "root:x:0:\n"
        "wheel:x:10:root,app\n"
        "audio:x:29:app\r\n"
        "appgrp:x:1001:\n"
        "again:x:10:app\n"
        "broken:x:zz:app\n"
        "video:x:44:application,ap\n",
        0644);
}

static void expect_ids(const fixture *f, const char *spec, uint32_t uid, uint32_t gid,
                       const char *home, size_t n_gids, const uint32_t *gids)
{
    imgd_user_ids ids;
    memset(&ids, 0xa5, sizeof(ids));
    imgd_error *err = NULL;
    int r = imgd_rootfs_user_resolve(&ids, f->fd, spec, &err);
    if (r < 0)
        fail_msg("'%s': %s", spec, err->message);
    assert_int_equal(ids.uid, uid);
    assert_int_equal(ids.gid, gid);
    assert_string_equal(ids.home, home);
    assert_int_equal(ids.n_gids, n_gids);
    for (size_t i = 0; i < n_gids; i++)
        assert_int_equal(ids.gids[i], gids[i]);
}

static void expect_resolve_error(const fixture *f, const char *spec, int code, const char *msg)
{
    imgd_user_ids ids;
    memset(&ids, 0, sizeof(ids));
    ids.uid = 4242;
    imgd_error *err = NULL;
    assert_int_equal(imgd_rootfs_user_resolve(&ids, f->fd, spec, &err), code);
    if (msg)
        assert_string_equal(err->message, msg);
    assert_int_equal(ids.uid, 4242); /* untouched */
    imgd_error_free(err);
}

static void test_user_resolve(void **state)
{
    fixture *f = *state;
    put_resolve_etc(f);
    const uint32_t root_groups[] = {10}, app_groups[] = {10, 29};
    expect_ids(f, "", 0, 0, "/root", 1, root_groups);
    expect_ids(f, "root", 0, 0, "/root", 1, root_groups);
    expect_ids(f, "0", 0, 0, "/root", 1, root_groups);
    expect_ids(f, "app", 1000, 1001, "/home/app", 2, app_groups);
    expect_ids(f, "1000", 1000, 1001, "/home/app", 2, app_groups);
    expect_ids(f, "nohome", 1002, 1002, "/", 0, NULL);
    expect_ids(f, "dup", 7, 7, "/first", 0, NULL); /* the first entry wins */
    expect_ids(f, "4242", 4242, 0, "/", 0, NULL);  /* no entry needed */
    expect_ids(f, "app:audio", 1000, 29, "/home/app", 0, NULL);
    expect_ids(f, "app:555", 1000, 555, "/home/app", 0, NULL);
    expect_ids(f, "1000:wheel", 1000, 10, "/home/app", 0, NULL);
    expect_ids(f, "4242:audio", 4242, 29, "/", 0, NULL);
    expect_ids(f, "4242:4343", 4242, 4343, "/", 0, NULL);
    expect_ids(f, "4294967294:0", 4294967294u, 0, "/", 0, NULL);

    expect_resolve_error(f, "nobody", -ENOENT,
                         "user 'nobody' not found in the container's /etc/passwd");
    expect_resolve_error(f, "app:nogroup", -ENOENT,
                         "group 'nogroup' not found in the container's /etc/group");
    expect_resolve_error(f, "nobody:0", -ENOENT, NULL);
    expect_resolve_error(f, "app:broken", -ENOENT, NULL); /* malformed gid: no entry */
    const char *malformed[] = {"a:b:c", ":1", "1:", ":", "app\n", "4294967295", "1:99999999999"};
    for (size_t i = 0; i < sizeof(malformed) / sizeof(*malformed); i++)
        expect_resolve_error(f, malformed[i], -EINVAL, NULL);
}

static void test_user_resolve_missing_files(void **state)
{
    fixture *f = *state;
    expect_ids(f, "", 0, 0, "/", 0, NULL);
    expect_ids(f, "1000:1000", 1000, 1000, "/", 0, NULL);
    expect_resolve_error(f, "app", -ENOENT, NULL);
    put(f, "etc/passwd", "app:x:1000:1000::/home/app:/bin/sh", 0644); /* no newline, no group */
    expect_ids(f, "app", 1000, 1000, "/home/app", 0, NULL);
    expect_resolve_error(f, "app:staff", -ENOENT, NULL);
}

static void test_user_resolve_many_groups(void **state)
{
    fixture *f = *state;
    char *group = calloc(1, 65536), *p = group;
    for (int i = 0; i < IMGD_USER_MAX_GIDS + 1; i++)
        p += sprintf(p, "g%d:x:%d:app\n", i, 100 + i);
    put(f, "etc/passwd", "app:x:1000:1000::/:/bin/sh\n", 0644);
    put(f, "etc/group", group, 0644);
    expect_resolve_error(f, "app", -E2BIG, NULL);
    const uint32_t none[] = {0};
    expect_ids(f, "app:g0", 1000, 100, "/", 0, none);
    free(group);
}

/* ---- file_write / file_read ---- */

static void test_file_round_trip(void **state)
{
    fixture *f = *state;
    imgd_error *err = NULL;
    mode_t old = umask(077);
    assert_int_equal(imgd_rootfs_file_write(f->fd, "/a/b/c.txt", "hello", 5, 04750, 123, 456, &err),
                     0);
    umask(old);
    assert_null(err);
    char p[512];
    struct stat st;
    at(p, sizeof(p), f, "a/b/c.txt");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 04750); /* set-id bits survive the chown */
    assert_int_equal(st.st_uid, 123);
    assert_int_equal(st.st_gid, 456);
    at(p, sizeof(p), f, "a/b");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    assert_int_equal(st.st_uid, 0);

    char *data = NULL;
    size_t len = 0;
    struct stat rst;
    assert_int_equal(imgd_rootfs_file_read(&data, &len, &rst, f->fd, "/a/b/c.txt", 100, &err), 0);
    assert_int_equal(len, 5);
    assert_string_equal(data, "hello");
    assert_int_equal(rst.st_uid, 123);
    free(data);

    /* replaced, with the default owner; empty content is fine */
    assert_int_equal(imgd_rootfs_file_write(f->fd, "/a/b/c.txt", NULL, 0, 0600, -1, -1, &err), 0);
    at(p, sizeof(p), f, "a/b/c.txt");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, 0);
    assert_int_equal(st.st_uid, 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    expect_no_tmp(f, "a/b");

    data = NULL;
    assert_int_equal(imgd_rootfs_file_write(f->fd, "/big", "0123456789", 10, 0644, 0, 0, &err), 0);
    assert_int_equal(imgd_rootfs_file_read(&data, NULL, NULL, f->fd, "/big", 9, &err), -EFBIG);
    assert_null(data);
    imgd_error_free(err);
    err = NULL;
    assert_int_equal(imgd_rootfs_file_read(&data, NULL, NULL, f->fd, "/big", 10, &err), 0);
    free(data);
}

static void test_file_errors(void **state)
{
    fixture *f = *state;
    imgd_error *err = NULL;
    char longpath[IMGD_ROOTFS_PATH_MAX + 2];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    put(f, "dir/file", "x", 0644);
    struct {
        const char *path;
        int code;
    } cases[] = {
        {"", -EINVAL},      {"rel/x", -EINVAL},        {"/dir", -EISDIR},
        {"/dir/", -EISDIR}, {"/dir/.", -EISDIR},       {"/dir/..", -EISDIR},
        {"/", -EISDIR},     {longpath, -ENAMETOOLONG}, {"/dir/file/x", -ENOTDIR},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        int r = imgd_rootfs_file_write(f->fd, cases[i].path, "x", 1, 0644, 0, 0, &err);
        if (r != cases[i].code)
            fail_msg("'%.40s': %d, expected %d", cases[i].path, r, cases[i].code);
        imgd_error_free(err);
        err = NULL;
    }
    assert_int_equal(imgd_rootfs_file_write(f->fd, "/x", "x", 1, 0644, -2, 0, &err), -EINVAL);
    imgd_error_free(err);
    err = NULL;

    char *data = NULL;
    assert_int_equal(imgd_rootfs_file_read(&data, NULL, NULL, f->fd, "/dir", 10, &err), -EISDIR);
    imgd_error_free(err);
    err = NULL;
    assert_int_equal(imgd_rootfs_file_read(&data, NULL, NULL, f->fd, "/nope", 10, &err), -ENOENT);
    imgd_error_free(err);
    err = NULL;
    assert_int_equal(imgd_rootfs_file_read(&data, NULL, NULL, f->fd, "dir/file", 10, &err),
                     -EINVAL);
    imgd_error_free(err);
    err = NULL;
    /* special files are refused without being opened: a FIFO would block an open */
    char p[512];
    at(p, sizeof(p), f, "dir/fifo");
    assert_int_equal(mkfifo(p, 0644), 0);
    at(p, sizeof(p), f, "dir/null");
    assert_int_equal(mknod(p, S_IFCHR | 0666, makedev(1, 3)), 0);
    assert_int_equal(symlink("/dir/fifo", (at(p, sizeof(p), f, "passwd"), p)), 0);
    assert_int_equal(imgd_rootfs_file_read(&data, NULL, NULL, f->fd, "/passwd", 10, &err), -EINVAL);
    imgd_error_free(err);
    err = NULL;
    assert_int_equal(imgd_rootfs_file_read(&data, NULL, NULL, f->fd, "/dir/null", 10, &err),
                     -EINVAL);
    imgd_error_free(err);
    assert_null(data);
}

/* ---- escapes ---- */

static void put_host_file(const fixture *f, const char *rel, const char *content)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", f->outer, rel);
    *strrchr(p, '/') = '\0';
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/%s", f->outer, rel);
    FILE *fp = fopen(p, "w");
    fputs(content, fp);
    fclose(fp);
}

static void expect_host_file(const fixture *f, const char *rel, const char *content)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", f->outer, rel);
    char *now = slurp(p);
    assert_non_null(now);
    assert_string_equal(now, content);
    free(now);
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    while (d && readdir(d))
        n++;
    if (d)
        closedir(d);
    return n;
}

/* /etc is a link to an absolute host directory: it means <root>/<that directory>. */
static void test_escape_etc_link(void **state)
{
    fixture *f = *state;
    char host[128], p[512];
    snprintf(host, sizeof(host), "%s/outside", f->outer);
    put_host_file(f, "outside/passwd", "host:x:0:0::/:/bin/sh\n");
    put_host_file(f, "outside/group", "host:x:0:\n");
    at(p, sizeof(p), f, "etc");
    assert_int_equal(symlink(host, p), 0);
    imgd_user_request req = {.username = "app", .password = "pw", .uid = -1};
    imgd_user_ids ids;
    imgd_error *err = NULL;
    /* <root>/<host> does not exist: the edit fails */
    assert_int_not_equal(imgd_rootfs_user_add(&ids, f->fd, &req, &err), 0);
    imgd_error_free(err);
    err = NULL;
    assert_int_not_equal(imgd_rootfs_file_write(f->fd, "/etc/hosts", "x", 1, 0644, 0, 0, &err), 0);
    imgd_error_free(err);
    err = NULL;
    assert_int_equal(imgd_rootfs_user_resolve(&ids, f->fd, "host", &err), -ENOENT);
    imgd_error_free(err);
    err = NULL;

    /* once it exists, the edits land there */
    char inner[300];
    snprintf(inner, sizeof(inner), "%s%s", f->root, host);
    mkdir_p(inner);
    assert_int_equal(imgd_rootfs_user_add(&ids, f->fd, &req, &err), 0);
    assert_int_equal(imgd_rootfs_file_write(f->fd, "/etc/hosts", "x", 1, 0644, 0, 0, &err), 0);
    snprintf(p, sizeof(p), "%s/passwd", inner);
    char *passwd = slurp(p);
    assert_non_null(passwd);
    assert_string_equal(passwd, "app:x:1000:1000::/home/app:/bin/sh\n");
    free(passwd);
    snprintf(p, sizeof(p), "%s/hosts", inner);
    assert_int_equal(access(p, F_OK), 0);

    expect_host_file(f, "outside/passwd", "host:x:0:0::/:/bin/sh\n");
    expect_host_file(f, "outside/group", "host:x:0:\n");
    assert_int_equal(count_entries(host), 4); /* ".", "..", passwd, group */
}

/* A last component that links out of the root, absolutely or relatively. */
static void test_escape_final_link(void **state)
{
    fixture *f = *state;
    char p[512];
    put_host_file(f, "outside/file", "host secret\n");
    put(f, "tmp/keep", "", 0644);
    at(p, sizeof(p), f, "tmp/abs");
    assert_int_equal(symlink("/../../../outside/file", p), 0);
    at(p, sizeof(p), f, "tmp/rel");
    assert_int_equal(symlink("../../outside/file", p), 0); /* from the host: <outer>/outside */
    at(p, sizeof(p), f, "tmp/loop1");
    assert_int_equal(symlink("loop2", p), 0);
    at(p, sizeof(p), f, "tmp/loop2");
    assert_int_equal(symlink("/tmp/loop1", p), 0);
    imgd_error *err = NULL;
    char *data = NULL;
    const char *links[] = {"/tmp/abs", "/tmp/rel"};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(imgd_rootfs_file_write(f->fd, links[i], "pwned", 5, 0644, 0, 0, &err),
                         -ENOENT);
        imgd_error_free(err);
        err = NULL;
        assert_int_equal(imgd_rootfs_file_read(&data, NULL, NULL, f->fd, links[i], 100, &err),
                         -ENOENT);
        imgd_error_free(err);
        err = NULL;
    }
    assert_int_equal(imgd_rootfs_file_write(f->fd, "/tmp/loop1", "x", 1, 0644, 0, 0, &err), -ELOOP);
    imgd_error_free(err);
    err = NULL;

    /* inside the root, the link's target is written (atomically) and the link stays */
    at(p, sizeof(p), f, "outside");
    assert_int_equal(mkdir(p, 0755), 0);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(imgd_rootfs_file_write(f->fd, links[i], "inside", 6, 0644, 0, 0, &err), 0);
        assert_int_equal(imgd_rootfs_file_read(&data, NULL, NULL, f->fd, links[i], 100, &err), 0);
        assert_string_equal(data, "inside");
        free(data);
        data = NULL;
    }
    struct stat st;
    at(p, sizeof(p), f, "tmp/abs");
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    char *in = slurp_in(f, "outside/file");
    assert_string_equal(in, "inside");
    free(in);
    expect_host_file(f, "outside/file", "host secret\n");
    expect_no_tmp(f, "outside");
}

/* ".." in a requested path stops at the root. */
static void test_escape_dotdot(void **state)
{
    fixture *f = *state;
    put_host_file(f, "outside/file", "host secret\n");
    imgd_error *err = NULL;
    assert_int_equal(imgd_rootfs_file_write(f->fd, "/../../outside/file", "a", 1, 0644, 0, 0, &err),
                     0);
    assert_int_equal(imgd_rootfs_file_write(f->fd, "/x/../../../y", "b", 1, 0644, 0, 0, &err), 0);
    char *a = slurp_in(f, "outside/file"), *b = slurp_in(f, "y");
    assert_string_equal(a, "a");
    assert_string_equal(b, "b");
    free(a);
    free(b);
    expect_host_file(f, "outside/file", "host secret\n");
    char p[512];
    snprintf(p, sizeof(p), "%s/y", f->outer);
    assert_int_equal(access(p, F_OK), -1);

    char *data = NULL;
    at(p, sizeof(p), f, "outside/file");
    unlink(p);
    assert_int_equal(imgd_rootfs_file_read(&data, NULL, NULL, f->fd, "/../outside/file", 100, &err),
                     -ENOENT);
    imgd_error_free(err);
    assert_null(data);
}

/* The home directory is made inside the root too, through a link to the host. */
static void test_escape_home_link(void **state)
{
    fixture *f = *state;
    char host[128], p[512];
    put_busybox_etc(f);
    snprintf(host, sizeof(host), "%s/outside", f->outer);
    put_host_file(f, "outside/keep", "");
    at(p, sizeof(p), f, "home");
    assert_int_equal(symlink(host, p), 0);
    imgd_user_request req = {.username = "app", .uid = -1};
    imgd_user_ids ids;
    imgd_error *err = NULL;
    assert_int_not_equal(imgd_rootfs_user_add(&ids, f->fd, &req, &err), 0);
    imgd_error_free(err);
    assert_int_equal(count_entries(host), 3);
    expect_unchanged(f, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
    expect_no_tmp(f, "etc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_user_add_busybox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_add_exists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_add_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_add_empty_rootfs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_add_reuses_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_add_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_add_hostile_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_resolve_missing_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_resolve_many_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escape_etc_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escape_final_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escape_dotdot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escape_home_link, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
