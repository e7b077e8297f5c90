/* SPDX-License-Identifier: MIT */
/* Level names, the rotating file sink, reopening after an external rotation, request ids and the
 * scrubbing of control characters. Each test works in its own temporary directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/log.h"

typedef struct log_fixture {
    char dir[PATH_MAX];
    char path[PATH_MAX + 16];
} log_fixture;

static int fixture_setup(void **state)
{
    log_fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof(f->dir), "%s/imgd-test-log-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/imgd.log", f->dir);
    imgd_log_set_stderr(false);
    imgd_log_set_request_id(NULL);
    *state = f;
    return 0;
}

static int fixture_teardown(void **state)
{
    log_fixture *f = *state;
    imgd_log_close();
    imgd_log_set_request_id(NULL);
    char name[PATH_MAX + 32];
    static const char *const suffixes[] = {"", ".1", ".2", ".3", ".4", ".old"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(name, sizeof(name), "%s%s", f->path, suffixes[i]);
        (void)unlink(name);
    }
    int r = rmdir(f->dir);
    free(f);
    return r;
}

/* Whole content of a file (NUL-terminated, owned by the caller), or NULL when it is missing. */
static char *read_all(const char *path, size_t *out_len)
{
    FILE *fp = fopen(path, "re");
    if (!fp)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            char *n = realloc(buf, cap + 1);
            assert_non_null(n);
            buf = n;
        }
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0)
            break;
    }
    fclose(fp);
    buf[len] = '\0';
    if (out_len)
        *out_len = len;
    return buf;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Number of directory entries besides "." and "..". */
static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static size_t count_char(const char *s, char c)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

static void test_level_parse(void **state)
{
    static const struct {
        const char *name;
        imgd_log_level level;
    } cases[] = {
        {"DEBUG", IMGD_LOG_DEBUG},       {"debug", IMGD_LOG_DEBUG},
        {"Info", IMGD_LOG_INFO},         {"INFO", IMGD_LOG_INFO},
        {"WARNING", IMGD_LOG_WARNING},   {"warning", IMGD_LOG_WARNING},
        {"WARN", IMGD_LOG_WARNING},      {"Warn", IMGD_LOG_WARNING},
        {"ERROR", IMGD_LOG_ERROR},       {"eRRoR", IMGD_LOG_ERROR},
        {"CRITICAL", IMGD_LOG_CRITICAL}, {"critical", IMGD_LOG_CRITICAL},
        {"FATAL", IMGD_LOG_CRITICAL},    {"fatal", IMGD_LOG_CRITICAL},
    };
    static const char *const bad[] = {"", "TRACE", "WARNINGS", "WARNIN", "10", " INFO", "INFO "};
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        imgd_log_level l = (imgd_log_level)0;
        assert_int_equal(imgd_log_level_parse(&l, cases[i].name), 0);
        assert_int_equal(l, cases[i].level);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        imgd_log_level l = IMGD_LOG_ERROR;
        assert_int_equal(imgd_log_level_parse(&l, bad[i]), -EINVAL);
        assert_int_equal(l, IMGD_LOG_ERROR);
    }
}

static void test_level_name_round_trip(void **state)
{
    static const imgd_log_level levels[] = {IMGD_LOG_DEBUG, IMGD_LOG_INFO, IMGD_LOG_WARNING,
                                            IMGD_LOG_ERROR, IMGD_LOG_CRITICAL};
    static const char *const names[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};
    (void)state;
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        assert_string_equal(imgd_log_level_name(levels[i]), names[i]);
        imgd_log_level l = (imgd_log_level)0;
        assert_int_equal(imgd_log_level_parse(&l, imgd_log_level_name(levels[i])), 0);
        assert_int_equal(l, levels[i]);
    }
}

static void test_level_and_enabled(void **state)
{
    log_fixture *f = *state;
    imgd_log_level saved = imgd_log_get_level();

    imgd_log_set_level(IMGD_LOG_WARNING);
    assert_int_equal(imgd_log_get_level(), IMGD_LOG_WARNING);
    imgd_log_set_stderr(true);
    assert_false(imgd_log_enabled(IMGD_LOG_INFO));
    assert_true(imgd_log_enabled(IMGD_LOG_WARNING));
    assert_true(imgd_log_enabled(IMGD_LOG_CRITICAL));

    /* no sink at all: nothing is enabled */
    imgd_log_set_stderr(false);
    assert_false(imgd_log_enabled(IMGD_LOG_CRITICAL));

    /* the file sink has its own level */
    assert_int_equal(imgd_log_open_file(f->path, 0, 0, IMGD_LOG_DEBUG, NULL), 0);
    assert_true(imgd_log_enabled(IMGD_LOG_DEBUG));
    imgd_log_close();
    assert_false(imgd_log_enabled(IMGD_LOG_CRITICAL));

    imgd_log_set_level(saved);
}

static void test_file_level_filters(void **state)
{
    log_fixture *f = *state;
    assert_int_equal(imgd_log_open_file(f->path, 0, 0, IMGD_LOG_WARNING, NULL), 0);
    log_info("info-line-%d", 1);
    log_warning("warning-line-%d", 2);
    log_error("error-line-%d", 3);
    log_debug("debug-line-%d", 4);
    imgd_log_close();
    log_critical("after-close");

    char *text = read_all(f->path, NULL);
    assert_non_null(text);
    assert_null(strstr(text, "info-line-1"));
    assert_null(strstr(text, "debug-line-4"));
    assert_non_null(strstr(text, " WARNING warning-line-2\n"));
    assert_non_null(strstr(text, " ERROR error-line-3\n"));
    assert_null(strstr(text, "after-close"));
    assert_int_equal(count_char(text, '\n'), 2);
    free(text);
}

static void test_open_file_error(void **state)
{
    log_fixture *f = *state;
    char path[PATH_MAX + 48];
    imgd_error *err = NULL;
    snprintf(path, sizeof(path), "%s/missing-dir/imgd.log", f->dir);
    assert_int_equal(imgd_log_open_file(path, 1000, 2, IMGD_LOG_INFO, &err), -ENOENT);
    assert_non_null(err);
    assert_int_equal(err->code, ENOENT);
    assert_non_null(strstr(err->message, path));
    imgd_error_free(err);
    /* nothing was opened */
    assert_false(imgd_log_enabled(IMGD_LOG_CRITICAL));
}

/* The number in "line-<n>-" of the first line of text at or after p. */
static long line_number(const char *p)
{
    const char *m = strstr(p, "line-");
    assert_non_null(m);
    return strtol(m + 5, NULL, 10);
}

static long last_line_number(const char *text)
{
    const char *last = text, *m = text;
    while ((m = strstr(m, "line-")) != NULL)
        last = m++;
    return line_number(last);
}

static void test_rotation(void **state)
{
    log_fixture *f = *state;
    const size_t max_bytes = 1000;
    assert_int_equal(imgd_log_open_file(f->path, max_bytes, 2, IMGD_LOG_DEBUG, NULL), 0);
    for (int i = 0; i < 200; i++)
        log_info("line-%03d-%s", i, "................................................");
    imgd_log_close();

    char name[PATH_MAX + 32];
    char *text[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {
        size_t len = 0;
        if (i == 0)
            snprintf(name, sizeof(name), "%s", f->path);
        else
            snprintf(name, sizeof(name), "%s.%d", f->path, i);
        text[i] = read_all(name, &len);
        if (!text[i])
            fail_msg("%s is missing", name);
        assert_true(len > 0);
        assert_true(len <= max_bytes);
        assert_int_equal(text[i][len - 1], '\n'); /* whole lines only */
    }
    snprintf(name, sizeof(name), "%s.3", f->path);
    assert_false(file_exists(name));
    assert_int_equal(count_entries(f->dir), 3);

    /* newest in the file, older in .1, oldest in .2, without gaps between them */
    assert_int_equal(last_line_number(text[0]), 199);
    assert_int_equal(line_number(text[0]), last_line_number(text[1]) + 1);
    assert_int_equal(line_number(text[1]), last_line_number(text[2]) + 1);
    for (int i = 0; i < 3; i++)
        free(text[i]);
}

static void test_rotation_counts_existing_size(void **state)
{
    log_fixture *f = *state;
    /* 900 bytes already in the file; the next line of about 200 bytes must rotate first */
    FILE *fp = fopen(f->path, "we");
    assert_non_null(fp);
    for (int i = 0; i < 9; i++)
        fprintf(fp, "old content %087d\n", i);
    fclose(fp);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_size, 900);

    char pad[161];
    memset(pad, '.', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    assert_int_equal(imgd_log_open_file(f->path, 1000, 1, IMGD_LOG_DEBUG, NULL), 0);
    log_info("line-001-%s", pad);
    imgd_log_close();

    char name[PATH_MAX + 32];
    snprintf(name, sizeof(name), "%s.1", f->path);
    char *old = read_all(name, NULL);
    char *cur = read_all(f->path, NULL);
    assert_non_null(old);
    assert_non_null(cur);
    assert_non_null(strstr(old, "old content"));
    assert_null(strstr(old, "line-001"));
    assert_non_null(strstr(cur, "line-001"));
    assert_null(strstr(cur, "old content"));
    free(old);
    free(cur);
}

static void test_backup_count_zero_truncates(void **state)
{
    log_fixture *f = *state;
    const size_t max_bytes = 500;
    assert_int_equal(imgd_log_open_file(f->path, max_bytes, 0, IMGD_LOG_DEBUG, NULL), 0);
    for (int i = 0; i < 50; i++)
        log_warning("line-%03d-%s", i, "........................................");
    imgd_log_close();

    size_t len = 0;
    char *text = read_all(f->path, &len);
    assert_non_null(text);
    assert_true(len > 0);
    assert_true(len <= max_bytes);
    assert_int_equal(last_line_number(text), 49);
    assert_true(line_number(text) > 0); /* the first lines were truncated away */
    free(text);
    char name[PATH_MAX + 32];
    snprintf(name, sizeof(name), "%s.1", f->path);
    assert_false(file_exists(name));
}

static void test_max_bytes_zero_never_rotates(void **state)
{
    log_fixture *f = *state;
    assert_int_equal(imgd_log_open_file(f->path, 0, 3, IMGD_LOG_DEBUG, NULL), 0);
    for (int i = 0; i < 100; i++)
        log_error("line-%03d-%s", i, "........................................");
    imgd_log_close();

    size_t len = 0;
    char *text = read_all(f->path, &len);
    assert_non_null(text);
    assert_true(len > 5000);
    assert_int_equal(line_number(text), 0);
    assert_int_equal(count_char(text, '\n'), 100);
    free(text);
    char name[PATH_MAX + 32];
    snprintf(name, sizeof(name), "%s.1", f->path);
    assert_false(file_exists(name));
}

static void test_reopen_after_rename(void **state)
{
    log_fixture *f = *state;
    char old[PATH_MAX + 32];
    snprintf(old, sizeof(old), "%s.old", f->path);

    assert_int_equal(imgd_log_open_file(f->path, 0, 0, IMGD_LOG_INFO, NULL), 0);
    log_info("before-rename");
    assert_int_equal(rename(f->path, old), 0);
    log_info("after-rename");
    assert_false(file_exists(f->path));
    imgd_error *err = NULL;
    assert_int_equal(imgd_log_reopen(&err), 0);
    assert_null(err);
    assert_true(file_exists(f->path));
    log_info("after-reopen");
    imgd_log_close();

    char *a = read_all(old, NULL);
    char *b = read_all(f->path, NULL);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(strstr(a, "before-rename"));
    assert_non_null(strstr(a, "after-rename"));
    assert_null(strstr(a, "after-reopen"));
    assert_non_null(strstr(b, "after-reopen"));
    assert_null(strstr(b, "rename"));
    free(a);
    free(b);

    /* without a file sink, reopening is a no-op */
    assert_int_equal(imgd_log_reopen(&err), 0);
    assert_null(err);
}

static void test_request_id(void **state)
{
    log_fixture *f = *state;
    assert_int_equal(imgd_log_open_file(f->path, 0, 0, IMGD_LOG_DEBUG, NULL), 0);
    imgd_log_set_request_id("req-7f3a");
    log_warning("with-id");
    imgd_log_set_request_id(NULL);
    log_warning("without-id");
    imgd_log_close();

    char *text = read_all(f->path, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, " WARNING [req-7f3a] with-id\n"));
    assert_non_null(strstr(text, " WARNING without-id\n"));
    assert_null(strstr(text, "] without-id"));
    /* "2025-01-19T15:47:19.123Z WARNING ..." */
    assert_int_equal(text[4], '-');
    assert_int_equal(text[10], 'T');
    assert_int_equal(text[19], '.');
    assert_int_equal(text[23], 'Z');
    free(text);
}

static void test_control_characters_scrubbed(void **state)
{
    log_fixture *f = *state;
    assert_int_equal(imgd_log_open_file(f->path, 0, 0, IMGD_LOG_DEBUG, NULL), 0);
    log_error("user '%s' done", "evil\n2025-01-01T00:00:00.000Z CRITICAL forged\r\t\x1b[0m\x7f!");
    imgd_log_close();

    char *text = read_all(f->path, NULL);
    assert_non_null(text);
    assert_int_equal(count_char(text, '\n'), 1);
    assert_null(strchr(text, '\r'));
    assert_null(strchr(text, '\t'));
    assert_null(strchr(text, '\x1b'));
    assert_null(strchr(text, '\x7f'));
    assert_non_null(
        strstr(text, "user 'evil 2025-01-01T00:00:00.000Z CRITICAL forged   [0m !' done\n"));
    free(text);
}

static void test_long_message_is_one_line(void **state)
{
    log_fixture *f = *state;
    size_t n = 20000;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'a', n);
    big[n] = '\0';
    assert_int_equal(imgd_log_open_file(f->path, 0, 0, IMGD_LOG_DEBUG, NULL), 0);
    log_info("%s", big);
    log_info("next");
    imgd_log_close();
    free(big);

    size_t len = 0;
    char *text = read_all(f->path, &len);
    assert_non_null(text);
    assert_int_equal(count_char(text, '\n'), 2);
    assert_true(len < n);
    assert_non_null(strstr(text, "aaaa\n"));
    assert_non_null(strstr(text, " INFO next\n"));
    free(text);
}

#define LOG_TEST(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_parse),
        cmocka_unit_test(test_level_name_round_trip),
        LOG_TEST(test_level_and_enabled),
        LOG_TEST(test_file_level_filters),
        LOG_TEST(test_open_file_error),
        LOG_TEST(test_rotation),
        LOG_TEST(test_rotation_counts_existing_size),
        LOG_TEST(test_backup_count_zero_truncates),
        LOG_TEST(test_max_bytes_zero_never_rotates),
        LOG_TEST(test_reopen_after_rename),
        LOG_TEST(test_request_id),
        LOG_TEST(test_control_characters_scrubbed),
        LOG_TEST(test_long_message_is_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
