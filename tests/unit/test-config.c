/* SPDX-License-Identifier: MIT */
/* The settings table: defaults, both seed config layouts, the environment, the command line, the
 * precedence between them, finalize's derived values and refusals, and the listen parser. */
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

#include "core/config/config.h"
#include "util/log.h"

/* A config initialised with the defaults, plus a scratch directory for config files. */
typedef struct config_fixture {
    imgd_config cfg;
    char dir[PATH_MAX];
    char file[PATH_MAX + 32];
} config_fixture;

static int fixture_setup(void **state)
{
    config_fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof(f->dir), "%s/imgd-test-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir) || imgd_config_init(&f->cfg, NULL) < 0) {
        free(f);
        return -1;
    }
    snprintf(f->file, sizeof(f->file), "%s/config.json", f->dir);
    *state = f;
    return 0;
}

static int fixture_teardown(void **state)
{
    config_fixture *f = *state;
    imgd_config_dispose(&f->cfg);
    (void)unlink(f->file);
    int r = rmdir(f->dir);
    free(f);
    return r;
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "we");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

/* Apply a JSON text (which must parse) and return what imgd_config_apply_json returned. */
static int apply_text(imgd_config *cfg, const char *text, const char *base_dir, imgd_error **err)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!doc)
        fail_msg("test JSON does not parse: %s: %s", text, jerr.text);
    int r = imgd_config_apply_json(cfg, doc, base_dir, err);
    json_decref(doc);
    return r;
}

static bool strv_contains(char *const *strv, const char *s)
{
    for (; strv && *strv; strv++) {
        if (strcmp(*strv, s) == 0)
            return true;
    }
    return false;
}

static size_t strv_len(char *const *strv)
{
    size_t n = 0;
    while (strv && strv[n])
        n++;
    return n;
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (!haystack || !strstr(haystack, needle))
        fail_msg("'%s' does not contain '%s'", haystack ? haystack : "(null)", needle);
}

static void test_defaults(void **state)
{
    config_fixture *f = *state;
    const imgd_config *c = &f->cfg;
    assert_string_equal(c->state_dir, "/var/lib/imgd");
    assert_string_equal(c->run_dir, "/run/imgd");
    assert_null(c->socket);
    assert_null(c->listen);
    assert_string_equal(c->host, "127.0.0.1");
    assert_int_equal(c->port, 5375);
    assert_false(c->insecure_listen);
    assert_null(c->tls_cert);
    assert_null(c->tls_key);
    assert_null(c->tls_client_ca);
    assert_null(c->tokens_file);
    assert_int_equal(c->max_workers, 0);
    assert_int_equal(c->max_connections, 4096);
    assert_int_equal(c->request_timeout, 30);
    assert_int_equal(c->max_body_bytes, 1048576);
    assert_int_equal(c->json_max_depth, 64);
    assert_false(c->json_pretty);
    assert_false(c->debug);
    assert_int_equal(c->log_level, IMGD_LOG_INFO);
    assert_int_equal(c->log_file_level, IMGD_LOG_INFO);
    assert_null(c->log_file);
    assert_int_equal(c->log_max_bytes, 10485760);
    assert_int_equal(c->log_backup_count, 3);
    assert_null(c->ignore_file);
    assert_null(c->cri_endpoint); /* found as crictl finds it */
    assert_int_equal(c->cri_timeout, 2);
    assert_null(c->harbor_url);
    assert_null(c->harbor_username);
    assert_null(c->harbor_password);
    assert_true(c->harbor_verify_tls);
    assert_string_equal(c->runtime, "runc");
    assert_null(c->config_file);
    assert_null(c->warnings);
    assert_non_null(c->source);
}

static void test_dispose_zeroed_and_twice(void **state)
{
    imgd_config c;
    (void)state;
    memset(&c, 0, sizeof(c));
    imgd_config_dispose(&c);
    assert_int_equal(imgd_config_init(&c, NULL), 0);
    imgd_config_dispose(&c);
    assert_null(c.state_dir);
    assert_null(c.source);
    imgd_config_dispose(&c);
}

static void test_apply_own_keys(void **state)
{
    config_fixture *f = *state;
    imgd_error *err = NULL;
    const char *doc = "{\"state_dir\": \"/srv/imgd\", \"port\": 8080, \"max_workers\": 8,"
                      " \"json_pretty\": true, \"log_level\": \"debug\","
                      " \"log_file_level\": 40, \"request_timeout\": \"45\", \"debug\": \"yes\","
                      " \"listen\": [\"127.0.0.1:1\", \"[::1]:2\"], \"harbor_password\": \"pw\","
                      " \"runtime\": \"crun\", \"max_body_bytes\": 4294967296,"
                      " \"cri_endpoint\": null, \"insecure_listen\": false}";
    assert_int_equal(apply_text(&f->cfg, doc, NULL, &err), 0);
    assert_null(err);
    const imgd_config *c = &f->cfg;
    assert_string_equal(c->state_dir, "/srv/imgd");
    assert_int_equal(c->port, 8080);
    assert_int_equal(c->max_workers, 8);
    assert_true(c->json_pretty);
    assert_int_equal(c->log_level, IMGD_LOG_DEBUG);
    assert_int_equal(c->log_file_level, IMGD_LOG_ERROR);
    assert_int_equal(c->request_timeout, 45);
    assert_true(c->debug);
    assert_int_equal(strv_len(c->listen), 2);
    assert_string_equal(c->listen[0], "127.0.0.1:1");
    assert_string_equal(c->listen[1], "[::1]:2");
    assert_string_equal(c->harbor_password, "pw");
    assert_string_equal(c->runtime, "crun");
    assert_true(c->max_body_bytes == INT64_C(4294967296));
    /* null keeps the default */
    assert_null(c->cri_endpoint);
    assert_null(c->warnings);

    /* a comma-separated string is a list too, and replaces the previous one */
    assert_int_equal(
        apply_text(&f->cfg, "{\"listen\": \" 127.0.0.1:3 ,,localhost:4 \"}", NULL, &err), 0);
    assert_int_equal(strv_len(c->listen), 2);
    assert_string_equal(c->listen[0], "127.0.0.1:3");
    assert_string_equal(c->listen[1], "localhost:4");
    /* an integer is accepted for a string setting */
    assert_int_equal(apply_text(&f->cfg, "{\"harbor_username\": 1000}", NULL, &err), 0);
    assert_string_equal(c->harbor_username, "1000");
}

static void test_apply_crictl_flat_seed(void **state)
{
    config_fixture *f = *state;
    imgd_error *err = NULL;
    const char *doc = "{\"ignore_file_path\": \"images_to_ignore.txt\","
                      " \"log_file\": \"crictl_api.log\", \"log_max_bytes\": 10485760,"
                      " \"log_backup_count\": 3, \"app_host\": \"0.0.0.0\", \"app_port\": 5000,"
                      " \"app_debug\": false, \"file_handler_log_level\": \"WARNING\","
                      " \"app_log_level\": \"WARNING\", \"jsonify_prettyprint_regular\": true}";
    assert_int_equal(apply_text(&f->cfg, doc, "/etc/inventory", &err), 0);
    assert_null(err);
    const imgd_config *c = &f->cfg;
    assert_string_equal(c->ignore_file, "/etc/inventory/images_to_ignore.txt");
    assert_string_equal(c->log_file, "/etc/inventory/crictl_api.log");
    assert_int_equal(c->log_max_bytes, 10485760);
    assert_int_equal(c->log_backup_count, 3);
    assert_string_equal(c->host, "0.0.0.0");
    assert_int_equal(c->port, 5000);
    assert_false(c->debug);
    assert_int_equal(c->log_file_level, IMGD_LOG_WARNING);
    assert_int_equal(c->log_level, IMGD_LOG_WARNING);
    assert_true(c->json_pretty);
    assert_null(c->warnings);
}

static void test_apply_nested_seed(void **state)
{
    config_fixture *f = *state;
    imgd_error *err = NULL;
    const char *doc =
        "{\"crictl_config\": {\"ignore_file_path\": \"ignore.csv\","
        "   \"runtime_endpoint\": \"unix:///run/crio/crio.sock\", \"timeout\": 5},"
        " \"harbor_config\": {\"url\": \"https://harbor.example\", \"username\": \"robot$inv\","
        "   \"password\": \"hunter2\", \"verify_ssl\": false},"
        " \"app_config\": {\"host\": \"127.0.0.5\", \"port\": 5001, \"debug\": true,"
        "   \"log_file\": \"/var/log/inventory.log\", \"log_level\": \"ERROR\","
        "   \"file_handler_log_level\": \"DEBUG\", \"log_max_bytes\": 2048,"
        "   \"log_backup_count\": 1, \"jsonify_prettyprint_regular\": true}}";
    assert_int_equal(apply_text(&f->cfg, doc, NULL, &err), 0);
    assert_null(err);
    const imgd_config *c = &f->cfg;
    assert_string_equal(c->ignore_file, "ignore.csv"); /* no base_dir: kept as given */
    assert_string_equal(c->cri_endpoint, "unix:///run/crio/crio.sock");
    assert_int_equal(c->cri_timeout, 5);
    assert_string_equal(c->harbor_url, "https://harbor.example");
    assert_string_equal(c->harbor_username, "robot$inv");
    assert_string_equal(c->harbor_password, "hunter2");
    assert_false(c->harbor_verify_tls);
    assert_string_equal(c->host, "127.0.0.5");
    assert_int_equal(c->port, 5001);
    assert_true(c->debug);
    assert_string_equal(c->log_file, "/var/log/inventory.log");
    assert_int_equal(c->log_level, IMGD_LOG_ERROR);
    assert_int_equal(c->log_file_level, IMGD_LOG_DEBUG);
    assert_int_equal(c->log_max_bytes, 2048);
    assert_int_equal(c->log_backup_count, 1);
    assert_true(c->json_pretty);
    assert_null(c->warnings);

    /* the other spellings of the same sections */
    const char *alt = "{\"crictl_config\": {\"ignore_file\": \"/x.csv\", \"endpoint\": \"e\"},"
                      " \"harbor_config\": {\"harbor_url\": \"h\", \"user\": \"u\","
                      "   \"verify\": true},"
                      " \"app_config\": {\"app_host\": \"127.0.0.6\", \"app_port\": 5002,"
                      "   \"app_debug\": false, \"app_log_level\": \"CRITICAL\","
                      "   \"file_log_level\": \"WARNING\"}}";
    assert_int_equal(apply_text(&f->cfg, alt, NULL, &err), 0);
    assert_string_equal(c->ignore_file, "/x.csv");
    assert_string_equal(c->cri_endpoint, "e");
    assert_string_equal(c->harbor_url, "h");
    assert_string_equal(c->harbor_username, "u");
    assert_true(c->harbor_verify_tls);
    assert_string_equal(c->host, "127.0.0.6");
    assert_int_equal(c->port, 5002);
    assert_false(c->debug);
    assert_int_equal(c->log_level, IMGD_LOG_CRITICAL);
    assert_int_equal(c->log_file_level, IMGD_LOG_WARNING);
    assert_null(c->warnings);
}

static void test_unknown_keys_warn(void **state)
{
    config_fixture *f = *state;
    imgd_error *err = NULL;
    const char *doc = "{\"nonsense\": 1, \"app_config\": {\"bogus\": true, \"port\": 6001},"
                      " \"crictl_config\": {\"x\": [1]}, \"harbor_config\": 7, \"port\": 6002}";
    assert_int_equal(apply_text(&f->cfg, doc, NULL, &err), 0);
    assert_null(err);
    assert_int_equal(strv_len(f->cfg.warnings), 4);
    assert_true(strv_contains(f->cfg.warnings, "unknown config key 'nonsense' ignored"));
    assert_true(strv_contains(f->cfg.warnings, "unknown config key 'app_config.bogus' ignored"));
    assert_true(strv_contains(f->cfg.warnings, "unknown config key 'crictl_config.x' ignored"));
    /* a section that is not an object is not a setting either */
    assert_true(strv_contains(f->cfg.warnings, "unknown config key 'harbor_config' ignored"));
    /* the known keys around them still apply */
    assert_int_equal(f->cfg.port, 6002);

    /* warnings accumulate over several documents */
    assert_int_equal(apply_text(&f->cfg, "{\"other\": null}", NULL, &err), 0);
    assert_int_equal(strv_len(f->cfg.warnings), 5);
}

typedef struct bad_case {
    const char *doc;
    const char *needles[4]; /* each must be in the message */
} bad_case;

static void test_bad_values(void **state)
{
    static const bad_case cases[] = {
        {"{\"port\": 99999}",
         {"invalid value '99999' for 'port'", "config key 'port'", "an integer from 0 to 65535"}},
        {"{\"app_port\": \"http\"}",
         {"'http'", "'port'", "config key 'app_port'", "an integer from 0 to 65535"}},
        {"{\"port\": -1}", {"'-1'", "'port'", "an integer from 0 to 65535"}},
        {"{\"port\": 1.5}", {"'1.5'", "'port'", "an integer"}},
        {"{\"max_connections\": 15}", {"'15'", "'max_connections'", "from 16 to 16384"}},
        {"{\"request_timeout\": \"soon\"}", {"'soon'", "'request_timeout'", "from 1 to 86400"}},
        {"{\"debug\": \"maybe\"}", {"'maybe'", "'debug'", "true or false"}},
        {"{\"debug\": 1}", {"'1'", "'debug'", "true or false"}},
        {"{\"app_config\": {\"log_level\": \"LOUD\"}}",
         {"'LOUD'", "'log_level'", "config key 'app_config.log_level'",
          "one of DEBUG, INFO, WARNING, ERROR, CRITICAL"}},
        {"{\"log_level\": 15}", {"'15'", "'log_level'", "one of DEBUG"}},
        {"{\"log_level\": 60}", {"'60'", "'log_level'"}},
        {"{\"host\": true}", {"'true'", "'host'", "a string"}},
        {"{\"state_dir\": [\"/a\"]}", {"'[\"/a\"]'", "'state_dir'", "a string"}},
        {"{\"listen\": [1]}", {"'listen'", "a list of strings"}},
        {"{\"listen\": {\"a\": 1}}", {"'listen'", "a list of strings"}},
        {"{\"harbor_config\": {\"verify_ssl\": \"sometimes\"}}",
         {"'sometimes'", "'harbor_verify_tls'", "harbor_config.verify_ssl", "true or false"}},
        {"{\"listen\": \"127.0.0.1:1,127.0.0.1:2,127.0.0.1:3,127.0.0.1:4,127.0.0.1:5,"
         "127.0.0.1:6,127.0.0.1:7,127.0.0.1:8,127.0.0.1:9,127.0.0.1:10,127.0.0.1:11,"
         "127.0.0.1:12,127.0.0.1:13,127.0.0.1:14,127.0.0.1:15,127.0.0.1:16,127.0.0.1:17\"}",
         {"too many entries for 'listen'", "at most 16"}},
        {"[1, 2]", {"the config must be a JSON object"}},
        {"\"text\"", {"the config must be a JSON object"}},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        imgd_config c;
        imgd_error *err = NULL;
        assert_int_equal(imgd_config_init(&c, NULL), 0);
        int r = apply_text(&c, cases[i].doc, NULL, &err);
        if (r != -EINVAL)
            fail_msg("%s: expected -EINVAL, got %d", cases[i].doc, r);
        assert_non_null(err);
        assert_int_equal(err->code, EINVAL);
        for (size_t j = 0; j < 4 && cases[i].needles[j]; j++)
            assert_contains(err->message, cases[i].needles[j]);
        assert_null(strchr(err->message, '\n'));
        imgd_error_free(err);
        imgd_config_dispose(&c);
    }
}

static void test_bad_secret_is_not_echoed(void **state)
{
    config_fixture *f = *state;
    imgd_error *err = NULL;
    assert_int_equal(
        apply_text(&f->cfg, "{\"harbor_config\": {\"password\": [\"hunter2\"]}}", NULL, &err),
        -EINVAL);
    assert_non_null(err);
    assert_contains(err->message, "'harbor_password'");
    assert_contains(err->message, "<redacted>");
    assert_null(strstr(err->message, "hunter2"));
    imgd_error_free(err);
}

static void test_relative_paths(void **state)
{
    config_fixture *f = *state;
    imgd_error *err = NULL;
    const char *doc = "{\"state_dir\": \"state\", \"run_dir\": \"/abs/run\","
                      " \"tokens_file\": \"tokens.txt\", \"log_file\": \"logs/imgd.log\","
                      " \"socket\": \"none\", \"tls_cert\": \"\", \"tls_key\": \"../key.pem\","
                      " \"runtime\": \"bin/runc\", \"host\": \"localhost\","
                      " \"harbor_url\": \"harbor\"}";
    assert_int_equal(apply_text(&f->cfg, doc, "/etc/imgd", &err), 0);
    const imgd_config *c = &f->cfg;
    assert_string_equal(c->state_dir, "/etc/imgd/state");
    assert_string_equal(c->run_dir, "/abs/run");
    assert_string_equal(c->tokens_file, "/etc/imgd/tokens.txt");
    assert_string_equal(c->log_file, "/etc/imgd/logs/imgd.log");
    assert_string_equal(c->socket, "none");
    assert_string_equal(c->tls_cert, "");
    assert_string_equal(c->tls_key, "/etc/imgd/../key.pem");
    /* only path settings resolve */
    assert_string_equal(c->runtime, "bin/runc");
    assert_string_equal(c->host, "localhost");
    assert_string_equal(c->harbor_url, "harbor");
}

static void test_apply_file(void **state)
{
    config_fixture *f = *state;
    imgd_error *err = NULL;
    write_text(f->file, "{\"ignore_file_path\": \"ignore.txt\", \"app_port\": 5000,\n"
                        " \"surprise\": 1}\n");
    assert_int_equal(imgd_config_apply_file(&f->cfg, f->file, &err), 0);
    assert_null(err);
    char expected[PATH_MAX + 32];
    snprintf(expected, sizeof(expected), "%s/ignore.txt", f->dir);
    assert_string_equal(f->cfg.ignore_file, expected);
    assert_int_equal(f->cfg.port, 5000);
    assert_string_equal(f->cfg.config_file, f->file);
    assert_true(strv_contains(f->cfg.warnings, "unknown config key 'surprise' ignored"));

    /* a bad value names the file, the key and the value */
    write_text(f->file, "{\"app_port\": 70000}");
    assert_int_equal(imgd_config_apply_file(&f->cfg, f->file, &err), -EINVAL);
    assert_non_null(err);
    assert_contains(err->message, f->file);
    assert_contains(err->message, "'70000'");
    assert_contains(err->message, "'port'");
    imgd_error_free(err);
    err = NULL;

    /* malformed JSON names line and column */
    write_text(f->file, "{\n  \"port\": 1,\n  \"host\" \"x\"\n}\n");
    assert_int_equal(imgd_config_apply_file(&f->cfg, f->file, &err), -EINVAL);
    assert_non_null(err);
    assert_contains(err->message, f->file);
    assert_contains(err->message, "line 3 column");
    imgd_error_free(err);
    err = NULL;

    /* duplicate keys are an error, not a silent last-wins */
    write_text(f->file, "{\"port\": 1, \"port\": 2}");
    assert_int_equal(imgd_config_apply_file(&f->cfg, f->file, &err), -EINVAL);
    assert_non_null(err);
    assert_contains(err->message, "duplicate");
    imgd_error_free(err);
    err = NULL;

    /* a directory is not a config file */
    assert_int_equal(imgd_config_apply_file(&f->cfg, f->dir, &err), -EINVAL);
    assert_non_null(err);
    assert_contains(err->message, "not a regular file");
    imgd_error_free(err);
    err = NULL;

    /* a missing file */
    char missing[PATH_MAX + 32];
    snprintf(missing, sizeof(missing), "%s/missing.json", f->dir);
    assert_int_equal(imgd_config_apply_file(&f->cfg, missing, &err), -ENOENT);
    assert_non_null(err);
    assert_contains(err->message, "config file");
    assert_contains(err->message, missing);
    imgd_error_free(err);
    assert_int_equal(f->cfg.port, 5000); /* no failed file changed it */
}

static void test_apply_file_too_large(void **state)
{
    config_fixture *f = *state;
    imgd_error *err = NULL;
    FILE *fp = fopen(f->file, "we");
    assert_non_null(fp);
    fputs("{\"runtime\": \"", fp);
    for (int i = 0; i < 1024 * 1024; i++)
        fputc('r', fp);
    fputs("\"}", fp);
    assert_int_equal(fclose(fp), 0);
    int r = imgd_config_apply_file(&f->cfg, f->file, &err);
    assert_true(r < 0);
    assert_non_null(err);
    assert_contains(err->message, "config file");
    imgd_error_free(err);
    assert_string_equal(f->cfg.runtime, "runc");
}

static void test_apply_env(void **state)
{
    config_fixture *f = *state;
    imgd_error *err = NULL;
    char *env[] = {
        "PATH=/usr/bin",
        "IMGD_PORT=6000",
        "IMGD_STATE_DIR=relative/state",
        "IMGD_LISTEN=127.0.0.1:1,127.0.0.1:2",
        "IMGD_HARBOR_VERIFY_TLS=no",
        "IMGD_LOG_LEVEL=warn",
        "MAX_WORKERS=7",
        "REQUEST_TIMEOUT=9",
        "DEBUG=1",
        "IMGD_PORTX=1",
        "PORT=2",
        "IMGD_HOST",
        NULL,
    };
    assert_int_equal(imgd_config_apply_env(&f->cfg, env, &err), 0);
    assert_null(err);
    const imgd_config *c = &f->cfg;
    assert_int_equal(c->port, 6000);
    assert_string_equal(c->state_dir, "relative/state"); /* env values are not resolved */
    assert_int_equal(strv_len(c->listen), 2);
    assert_string_equal(c->listen[1], "127.0.0.1:2");
    assert_false(c->harbor_verify_tls);
    assert_int_equal(c->log_level, IMGD_LOG_WARNING);
    assert_int_equal(c->max_workers, 7);
    assert_int_equal(c->request_timeout, 9);
    assert_true(c->debug);
    assert_string_equal(c->host, "127.0.0.1");

    /* a NULL environment changes nothing */
    assert_int_equal(imgd_config_apply_env(&f->cfg, NULL, &err), 0);
    assert_int_equal(c->port, 6000);
}

static void test_env_imgd_wins_over_legacy(void **state)
{
    config_fixture *f = *state;
    imgd_error *err = NULL;
    char *first[] = {"MAX_WORKERS=7", "IMGD_MAX_WORKERS=3", "IMGD_DEBUG=false", "DEBUG=true", NULL};
    assert_int_equal(imgd_config_apply_env(&f->cfg, first, &err), 0);
    assert_int_equal(f->cfg.max_workers, 3);
    assert_false(f->cfg.debug);

    char *second[] = {"IMGD_REQUEST_TIMEOUT=12", "REQUEST_TIMEOUT=99", "IMGD_DEBUG=on", "DEBUG=off",
                      NULL};
    assert_int_equal(imgd_config_apply_env(&f->cfg, second, &err), 0);
    assert_int_equal(f->cfg.request_timeout, 12);
    assert_true(f->cfg.debug);
    assert_null(err);
}

static void test_env_bad_values(void **state)
{
    config_fixture *f = *state;
    imgd_error *err = NULL;
    char *env[] = {"IMGD_PORT=abc", NULL};
    assert_int_equal(imgd_config_apply_env(&f->cfg, env, &err), -EINVAL);
    assert_non_null(err);
    assert_contains(err->message, "'abc'");
    assert_contains(err->message, "'port'");
    assert_contains(err->message, "environment IMGD_PORT");
    assert_contains(err->message, "an integer from 0 to 65535");
    imgd_error_free(err);
    err = NULL;

    char *legacy[] = {"REQUEST_TIMEOUT=0", NULL};
    assert_int_equal(imgd_config_apply_env(&f->cfg, legacy, &err), -EINVAL);
    assert_non_null(err);
    assert_contains(err->message, "environment REQUEST_TIMEOUT");
    assert_contains(err->message, "'0'");
    imgd_error_free(err);
    err = NULL;

    char *secret[] = {"IMGD_HARBOR_PASSWORD=fine", "IMGD_DEBUG=sure", NULL};
    assert_int_equal(imgd_config_apply_env(&f->cfg, secret, &err), -EINVAL);
    assert_contains(err->message, "'sure'");
    imgd_error_free(err);
}

/* Load with argv; config files in the tests always come from argv, never /etc. */
static int load(imgd_config *cfg, imgd_config_mode *mode, char *const *argv, char *const *envp,
                imgd_error **err)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    return imgd_config_load(cfg, mode, argc, argv, envp, err);
}

static void test_load_precedence(void **state)
{
    config_fixture *f = *state;
    imgd_error *err = NULL;
    imgd_config_mode mode = IMGD_MODE_HELP;
    write_text(f->file, "{\"port\": 6000, \"host\": \"127.0.0.2\", \"max_workers\": 5,"
                        " \"request_timeout\": 11, \"runtime\": \"crun\"}");
    char *env[] = {"IMGD_PORT=6500", "IMGD_MAX_WORKERS=6", NULL};
    char *argv[] = {"imgd", "--config", f->file, "--port", "7000", NULL};
    assert_int_equal(load(&f->cfg, &mode, argv, env, &err), 0);
    assert_null(err);
    assert_int_equal(mode, IMGD_MODE_RUN);
    const imgd_config *c = &f->cfg;
    assert_int_equal(c->port, 7000);            /* flag over env over file */
    assert_int_equal(c->max_workers, 6);        /* env over file */
    assert_int_equal(c->request_timeout, 11);   /* file over default */
    assert_string_equal(c->runtime, "crun");    /* file */
    assert_string_equal(c->host, "127.0.0.2");  /* file */
    assert_int_equal(c->max_connections, 4096); /* default */
    assert_string_equal(c->config_file, f->file);
}

static void test_load_config_sources(void **state)
{
    config_fixture *f = *state;
    imgd_error *err = NULL;
    imgd_config_mode mode;
    write_text(f->file, "{\"port\": 6001}");

    /* IMGD_CONFIG names the file when --config does not */
    char env_path[PATH_MAX + 64];
    snprintf(env_path, sizeof(env_path), "IMGD_CONFIG=%s", f->file);
    char *env[] = {env_path, NULL};
    char *argv[] = {"imgd", NULL};
    assert_int_equal(load(&f->cfg, &mode, argv, env, &err), 0);
    assert_int_equal(f->cfg.port, 6001);

    /* --config=FILE, and --config none reads nothing even when IMGD_CONFIG is set */
    imgd_config c;
    assert_int_equal(imgd_config_init(&c, NULL), 0);
    char flag[PATH_MAX + 64];
    snprintf(flag, sizeof(flag), "--config=%s", f->file);
    char *argv2[] = {"imgd", flag, NULL};
    assert_int_equal(load(&c, &mode, argv2, NULL, &err), 0);
    assert_int_equal(c.port, 6001);
    imgd_config_dispose(&c);

    assert_int_equal(imgd_config_init(&c, NULL), 0);
    char *argv3[] = {"imgd", "--config", "none", NULL};
    assert_int_equal(load(&c, &mode, argv3, env, &err), 0);
    assert_int_equal(c.port, 5375);
    assert_null(c.config_file);
    imgd_config_dispose(&c);

    /* a missing config file given explicitly is an error */
    assert_int_equal(imgd_config_init(&c, NULL), 0);
    char *argv4[] = {"imgd", "--config", "/nonexistent/imgd.json", NULL};
    assert_true(load(&c, &mode, argv4, NULL, &err) < 0);
    assert_non_null(err);
    assert_contains(err->message, "/nonexistent/imgd.json");
    imgd_error_free(err);
    imgd_config_dispose(&c);
}

static void test_load_repeated_listen(void **state)
{
    config_fixture *f = *state;
    imgd_error *err = NULL;
    imgd_config_mode mode;
    write_text(f->file, "{\"listen\": [\"127.0.0.1:10\", \"127.0.0.1:11\"]}");
    char *env[] = {"IMGD_LISTEN=127.0.0.1:20", NULL};
    char config_flag[PATH_MAX + 64];
    snprintf(config_flag, sizeof(config_flag), "--config=%s", f->file);
    char *argv[] = {"imgd",
                    config_flag,
                    "--listen",
                    "127.0.0.1:1",
                    "--port",
                    "1234",
                    "--listen",
                    "localhost:3,127.0.0.9:4",
                    "--listen=[::1]:2",
                    NULL};
    assert_int_equal(load(&f->cfg, &mode, argv, env, &err), 0);
    assert_null(err);
    char **l = f->cfg.listen;
    assert_int_equal(strv_len(l), 4);
    assert_string_equal(l[0], "127.0.0.1:1");
    assert_string_equal(l[1], "localhost:3");
    assert_string_equal(l[2], "127.0.0.9:4");
    assert_string_equal(l[3], "[::1]:2");

    /* without a --listen flag the environment's list replaces the file's */
    imgd_config c;
    assert_int_equal(imgd_config_init(&c, NULL), 0);
    char *argv2[] = {"imgd", "--config", f->file, NULL};
    assert_int_equal(load(&c, &mode, argv2, env, &err), 0);
    assert_int_equal(strv_len(c.listen), 1);
    assert_string_equal(c.listen[0], "127.0.0.1:20");
    imgd_config_dispose(&c);
}

static void test_load_flag_forms(void **state)
{
    config_fixture *f = *state;
    imgd_error *err = NULL;
    imgd_config_mode mode;
    char *argv[] = {"imgd",
                    "--config=none",
                    "--max-workers=12",
                    "--log-level=error",
                    "--harbor-verify-tls=false",
                    "--state-dir",
                    "relative",
                    "--harbor-password",
                    "--looks-like-a-flag",
                    "--json-max-depth=2",
                    "--runtime=",
                    NULL};
    assert_int_equal(load(&f->cfg, &mode, argv, NULL, &err), 0);
    assert_null(err);
    const imgd_config *c = &f->cfg;
    assert_int_equal(c->max_workers, 12);
    assert_int_equal(c->log_level, IMGD_LOG_ERROR);
    assert_false(c->harbor_verify_tls);
    assert_string_equal(c->state_dir, "relative"); /* flags are not resolved */
    assert_string_equal(c->harbor_password, "--looks-like-a-flag");
    assert_int_equal(c->json_max_depth, 2);
    assert_string_equal(c->runtime, "");
}

typedef struct bad_args {
    const char *argv[6];
    const char *needles[3];
} bad_args;

static void test_load_bad_args(void **state)
{
    static const bad_args cases[] = {
        {{"imgd", "--bogus", "1"}, {"unknown option '--bogus'"}},
        {{"imgd", "--bogus=1"}, {"unknown option '--bogus'"}},
        {{"imgd", "--help", "--bogus"}, {"unknown option '--bogus'"}},
        {{"imgd", "extra"}, {"unexpected argument 'extra'"}},
        {{"imgd", "-p", "80"}, {"unexpected argument '-p'"}},
        {{"imgd", "--config", "none", "--port"}, {"option '--port' needs a value"}},
        {{"imgd", "--config"}, {"option '--config' needs a value"}},
        {{"imgd", "--config", "none", "--port", "70000"}, {"'70000'", "'port'", "option --port"}},
        {{"imgd", "--config", "none", "--port=abc"}, {"'abc'", "option --port)", "0 to 65535"}},
        {{"imgd", "--config", "none", "--debug", "2"}, {"'2'", "'debug'", "true or false"}},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        imgd_config c;
        imgd_error *err = NULL;
        imgd_config_mode mode;
        assert_int_equal(imgd_config_init(&c, NULL), 0);
        int argc = 0;
        while (cases[i].argv[argc])
            argc++;
        int r = imgd_config_load(&c, &mode, argc, (char *const *)cases[i].argv, NULL, &err);
        if (r != -EINVAL)
            fail_msg("case %zu: expected -EINVAL, got %d", i, r);
        assert_non_null(err);
        for (size_t j = 0; j < 3 && cases[i].needles[j]; j++)
            assert_contains(err->message, cases[i].needles[j]);
        imgd_error_free(err);
        imgd_config_dispose(&c);
    }
}

static void test_load_modes(void **state)
{
    static const struct {
        const char *argv[5];
        imgd_config_mode mode;
    } cases[] = {
        {{"imgd", "--config", "none"}, IMGD_MODE_RUN},
        {{"imgd", "--config", "none", "--print-config"}, IMGD_MODE_PRINT_CONFIG},
        {{"imgd", "--version"}, IMGD_MODE_VERSION},
        {{"imgd", "--help"}, IMGD_MODE_HELP},
        {{"imgd", "-h"}, IMGD_MODE_HELP},
        {{"imgd", "--config", "none", "--list-routes"}, IMGD_MODE_LIST_ROUTES},
        /* the first mode flag wins */
        {{"imgd", "--version", "--help"}, IMGD_MODE_VERSION},
        {{"imgd", "--help", "--version"}, IMGD_MODE_HELP},
        /* --help and --version read no config file, so a broken one does not stop them */
        {{"imgd", "--config", "/nonexistent.json", "--help"}, IMGD_MODE_HELP},
        {{"imgd", "--version", "--config", "/nonexistent.json"}, IMGD_MODE_VERSION},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        imgd_config c;
        imgd_error *err = NULL;
        imgd_config_mode mode = (imgd_config_mode)-1;
        assert_int_equal(imgd_config_init(&c, NULL), 0);
        int argc = 0;
        while (cases[i].argv[argc])
            argc++;
        int r = imgd_config_load(&c, &mode, argc, (char *const *)cases[i].argv, NULL, &err);
        if (r != 0)
            fail_msg("case %zu: %s", i, err ? err->message : "?");
        assert_int_equal(mode, cases[i].mode);
        imgd_config_dispose(&c);
    }

    /* settings still apply alongside --print-config */
    imgd_config c;
    imgd_error *err = NULL;
    imgd_config_mode mode;
    assert_int_equal(imgd_config_init(&c, NULL), 0);
    char *argv[] = {"imgd", "--print-config", "--config", "none", "--port", "1", NULL};
    assert_int_equal(load(&c, &mode, argv, NULL, &err), 0);
    assert_int_equal(mode, IMGD_MODE_PRINT_CONFIG);
    assert_int_equal(c.port, 1);
    imgd_config_dispose(&c);
}

static void test_finalize_defaults(void **state)
{
    config_fixture *f = *state;
    imgd_error *err = NULL;
    assert_int_equal(imgd_config_finalize(&f->cfg, &err), 0);
    assert_null(err);
    const imgd_config *c = &f->cfg;
    assert_int_equal(strv_len(c->listen), 1);
    assert_string_equal(c->listen[0], "127.0.0.1:5375");
    assert_string_equal(c->socket, "/run/imgd/imgd.sock");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int64_t expected = (cores > 0 ? cores : 1) * 4;
    assert_int_equal(c->max_workers, expected > 1024 ? 1024 : expected);
    assert_int_equal(c->log_level, IMGD_LOG_INFO);
    assert_false(c->debug);
}

static void test_finalize_derived(void **state)
{
    config_fixture *f = *state;
    imgd_error *err = NULL;
    assert_int_equal(apply_text(&f->cfg,
                                "{\"host\": \"::1\", \"port\": 80, \"run_dir\": \"/tmp/r\","
                                " \"max_workers\": 5}",
                                NULL, &err),
                     0);
    assert_int_equal(imgd_config_finalize(&f->cfg, &err), 0);
    assert_null(err);
    assert_int_equal(strv_len(f->cfg.listen), 1);
    assert_string_equal(f->cfg.listen[0], "[::1]:80");
    assert_string_equal(f->cfg.socket, "/tmp/r/imgd.sock");
    assert_int_equal(f->cfg.max_workers, 5);

    /* an explicit socket and listen list are kept; "none" disables TCP */
    imgd_config c;
    assert_int_equal(imgd_config_init(&c, NULL), 0);
    assert_int_equal(apply_text(&c,
                                "{\"socket\": \"none\", \"listen\": \"none\","
                                " \"host\": \"0.0.0.0\"}",
                                NULL, &err),
                     0);
    assert_int_equal(imgd_config_finalize(&c, &err), 0);
    assert_string_equal(c.socket, "none");
    assert_non_null(c.listen);
    assert_null(c.listen[0]);
    imgd_config_dispose(&c);
}

static void test_finalize_debug_level(void **state)
{
    config_fixture *f = *state;
    imgd_error *err = NULL;
    imgd_config_mode mode;

    /* debug alone: DEBUG */
    assert_int_equal(apply_text(&f->cfg, "{\"app_debug\": true}", NULL, &err), 0);
    assert_int_equal(imgd_config_finalize(&f->cfg, &err), 0);
    assert_int_equal(f->cfg.log_level, IMGD_LOG_DEBUG);

    /* debug with an explicit level, even the default one, keeps that level */
    static const char *const docs[] = {
        "{\"app_debug\": true, \"app_log_level\": \"WARNING\"}",
        "{\"app_config\": {\"debug\": true, \"log_level\": \"INFO\"}}",
    };
    static const imgd_log_level levels[] = {IMGD_LOG_WARNING, IMGD_LOG_INFO};
    for (size_t i = 0; i < 2; i++) {
        imgd_config c;
        assert_int_equal(imgd_config_init(&c, NULL), 0);
        assert_int_equal(apply_text(&c, docs[i], NULL, &err), 0);
        assert_int_equal(imgd_config_finalize(&c, &err), 0);
        assert_true(c.debug);
        assert_int_equal(c.log_level, levels[i]);
        imgd_config_dispose(&c);
    }

    /* the legacy DEBUG variable, and a level from a flag */
    imgd_config c;
    assert_int_equal(imgd_config_init(&c, NULL), 0);
    char *env[] = {"DEBUG=1", NULL};
    char *argv[] = {"imgd", "--config", "none", NULL};
    assert_int_equal(load(&c, &mode, argv, env, &err), 0);
    assert_int_equal(imgd_config_finalize(&c, &err), 0);
    assert_int_equal(c.log_level, IMGD_LOG_DEBUG);
    imgd_config_dispose(&c);

    assert_int_equal(imgd_config_init(&c, NULL), 0);
    char *argv2[] = {"imgd", "--config", "none", "--log-level", "error", NULL};
    assert_int_equal(load(&c, &mode, argv2, env, &err), 0);
    assert_int_equal(imgd_config_finalize(&c, &err), 0);
    assert_int_equal(c.log_level, IMGD_LOG_ERROR);
    imgd_config_dispose(&c);
    assert_null(err);
}

/* Finalize a fresh config after applying doc; returns finalize's result and fills *err. */
static int finalize_doc(const char *doc, imgd_error **err)
{
    imgd_config c;
    assert_int_equal(imgd_config_init(&c, NULL), 0);
    if (apply_text(&c, doc, NULL, err) < 0)
        fail_msg("%s: %s", doc, (*err)->message);
    int r = imgd_config_finalize(&c, err);
    imgd_config_dispose(&c);
    return r;
}

static void test_finalize_refuses_open_listener(void **state)
{
    static const char *const refused[] = {
        "{\"host\": \"0.0.0.0\"}",
        "{\"app_host\": \"10.1.2.3\", \"app_port\": 5000}",
        "{\"listen\": [\"127.0.0.1:1\", \"[::]:2\"]}",
        "{\"listen\": \"192.168.1.1:80\", \"tls_cert\": \"/c\", \"tls_key\": \"/k\"}",
        "{\"listen\": \"0.0.0.0:80\", \"tokens_file\": \"\"}",
    };
    static const char *const accepted[] = {
        "{\"host\": \"0.0.0.0\", \"tokens_file\": \"/etc/imgd/tokens\"}",
        "{\"host\": \"::\", \"tls_client_ca\": \"/ca\", \"tls_cert\": \"/c\", \"tls_key\": \"/k\"}",
        "{\"host\": \"0.0.0.0\", \"insecure_listen\": true}",
        "{\"listen\": [\"127.0.0.1:1\", \"127.9.9.9:2\", \"[::1]:3\", \"localhost:4\"]}",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        imgd_error *err = NULL;
        if (finalize_doc(refused[i], &err) != -EINVAL)
            fail_msg("%s was accepted", refused[i]);
        assert_contains(err->message, "refusing to listen on ");
        assert_contains(err->message, "tokens_file");
        assert_contains(err->message, "tls_client_ca");
        assert_contains(err->message, "insecure_listen");
        imgd_error_free(err);
    }
    imgd_error *err = NULL;
    assert_int_equal(finalize_doc(refused[0], &err), -EINVAL);
    assert_contains(err->message, "refusing to listen on 0.0.0.0:5375:");
    imgd_error_free(err);
    err = NULL;
    assert_int_equal(finalize_doc(refused[2], &err), -EINVAL);
    assert_contains(err->message, "[::]:2");
    imgd_error_free(err);

    for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
        err = NULL;
        if (finalize_doc(accepted[i], &err) != 0)
            fail_msg("%s was refused: %s", accepted[i], err ? err->message : "?");
    }
}

static void test_finalize_other_errors(void **state)
{
    static const struct {
        const char *doc;
        const char *needle;
    } cases[] = {
        {"{\"tls_cert\": \"/c.pem\"}", "tls_cert and tls_key must be set together"},
        {"{\"tls_key\": \"/k.pem\"}", "tls_cert and tls_key must be set together"},
        {"{\"tls_client_ca\": \"/ca.pem\", \"tokens_file\": \"/t\"}",
         "tls_client_ca needs tls_cert and tls_key"},
        {"{\"state_dir\": \"\"}", "'state_dir'"},
        {"{\"run_dir\": \"\"}", "'run_dir'"},
        {"{\"listen\": [\"host:80\"]}", "invalid value 'host:80' for 'listen'"},
        {"{\"listen\": [\"127.0.0.1\"]}", "invalid value '127.0.0.1' for 'listen'"},
        {"{\"host\": \"\"}", "for 'listen'"},
        {"{\"socket\": \"/run/a-very-long-directory-name-for-a-unix-socket/which-does-not-fit"
         "/into-sun-path-of-108-bytes/imgd-daemon.sock\"}",
         "for 'socket': longer than 107 bytes"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        imgd_error *err = NULL;
        if (finalize_doc(cases[i].doc, &err) != -EINVAL)
            fail_msg("%s: finalize succeeded", cases[i].doc);
        assert_contains(err->message, cases[i].needle);
        imgd_error_free(err);
    }
    imgd_error *err = NULL;
    assert_int_equal(finalize_doc("{\"tls_cert\": \"/c.pem\", \"tls_key\": \"/k.pem\"}", &err), 0);
    assert_null(err);
}

static void test_to_json(void **state)
{
    config_fixture *f = *state;
    imgd_error *err = NULL;
    json_t *o = imgd_config_to_json(&f->cfg);
    assert_non_null(o);
    assert_true(json_is_null(json_object_get(o, "harbor_password")));
    assert_string_equal(json_string_value(json_object_get(o, "state_dir")), "/var/lib/imgd");
    assert_int_equal(json_integer_value(json_object_get(o, "port")), 5375);
    assert_true(json_is_false(json_object_get(o, "debug")));
    assert_true(json_is_true(json_object_get(o, "harbor_verify_tls")));
    assert_string_equal(json_string_value(json_object_get(o, "log_level")), "INFO");
    assert_true(json_is_array(json_object_get(o, "listen")));
    assert_true(json_is_null(json_object_get(o, "socket")));
    json_decref(o);

    assert_int_equal(apply_text(&f->cfg,
                                "{\"harbor_config\": {\"password\": \"s3cret-pw\","
                                " \"username\": \"robot\"}, \"log_level\": \"ERROR\"}",
                                NULL, &err),
                     0);
    assert_int_equal(imgd_config_finalize(&f->cfg, &err), 0);
    o = imgd_config_to_json(&f->cfg);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "harbor_password")), "<redacted>");
    assert_string_equal(json_string_value(json_object_get(o, "harbor_username")), "robot");
    assert_string_equal(json_string_value(json_object_get(o, "log_level")), "ERROR");
    json_t *listen = json_object_get(o, "listen");
    assert_int_equal(json_array_size(listen), 1);
    assert_string_equal(json_string_value(json_array_get(listen, 0)), "127.0.0.1:5375");
    assert_string_equal(json_string_value(json_object_get(o, "socket")), "/run/imgd/imgd.sock");
    char *dump = json_dumps(o, 0);
    assert_non_null(dump);
    assert_null(strstr(dump, "s3cret"));
    free(dump);
    /* only settings, no bookkeeping fields */
    assert_null(json_object_get(o, "warnings"));
    assert_null(json_object_get(o, "config_file"));
    json_decref(o);

    /* an empty password is not a secret worth hiding */
    assert_int_equal(apply_text(&f->cfg, "{\"harbor_password\": \"\"}", NULL, &err), 0);
    o = imgd_config_to_json(&f->cfg);
    assert_string_equal(json_string_value(json_object_get(o, "harbor_password")), "");
    json_decref(o);
}

static void test_print_help(void **state)
{
    char *text = NULL;
    size_t len = 0;
    (void)state;
    FILE *fp = open_memstream(&text, &len);
    assert_non_null(fp);
    imgd_config_print_help(fp, "imgd");
    assert_int_equal(fclose(fp), 0);
    assert_contains(text, "Usage: imgd ");
    assert_contains(text, "--config FILE");
    assert_contains(text, "--state-dir");
    assert_contains(text, "--harbor-verify-tls");
    assert_contains(text, "(env MAX_WORKERS)");
    assert_contains(text, "[5375]");
    assert_null(strstr(text, "--state_dir"));
    free(text);
}

static void test_parse_listen_valid(void **state)
{
    static const struct {
        const char *addr;
        const char *host;
        uint16_t port;
    } cases[] = {
        {"127.0.0.1:5375", "127.0.0.1", 5375},     {"[::1]:80", "::1", 80},
        {"localhost:1", "localhost", 1},           {"0.0.0.0:0", "0.0.0.0", 0},
        {"[fe80::1:2]:65535", "fe80::1:2", 65535}, {"[::]:443", "::", 443},
        {"10.20.30.40:8080", "10.20.30.40", 8080},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char host[64];
        uint16_t port = 1;
        if (imgd_config_parse_listen(host, sizeof(host), &port, cases[i].addr) != 0)
            fail_msg("'%s' was rejected", cases[i].addr);
        assert_string_equal(host, cases[i].host);
        assert_int_equal(port, cases[i].port);
    }
}

static void test_parse_listen_invalid(void **state)
{
    static const char *const bad[] = {
        "1.2.3.4",         "::1:80",
        "host:99999",      "name.example:80",
        "127.0.0.1:",      ":80",
        "[::1]80",         "[::1",
        "[::1]:",          "127.0.0.1:-1",
        "127.0.0.1:80x",   "[]:80",
        "127.0.0.1:65536", "",
        "[::1]:80:1",      "256.0.0.1:80",
        "local host:1",    "127.0.0.1: 80",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char host[64] = "untouched";
        uint16_t port = 4242;
        if (imgd_config_parse_listen(host, sizeof(host), &port, bad[i]) != -EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
        assert_int_equal(port, 4242);
    }

    /* the host buffer bounds the host */
    char small[9];
    uint16_t port = 4242;
    assert_int_equal(imgd_config_parse_listen(small, sizeof(small), &port, "127.0.0.1:80"),
                     -EINVAL);
    assert_int_equal(port, 4242);
    char fits[10];
    assert_int_equal(imgd_config_parse_listen(fits, sizeof(fits), &port, "127.0.0.1:80"), 0);
    assert_string_equal(fits, "127.0.0.1");
}

static void test_host_is_loopback(void **state)
{
    static const char *const yes[] = {"127.0.0.1", "127.255.255.254", "127.1.2.3",
                                      "::1",       "0:0:0:0:0:0:0:1", "localhost"};
    static const char *const no[] = {"0.0.0.0",   "::",         "10.0.0.1",    "128.0.0.1",
                                     "126.0.0.1", "::2",        "fe80::1",     "localhost.",
                                     "",          "127.0.0.1x", "example.com", "192.168.0.1"};
    (void)state;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (!imgd_config_host_is_loopback(yes[i]))
            fail_msg("'%s' is loopback", yes[i]);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        if (imgd_config_host_is_loopback(no[i]))
            fail_msg("'%s' is not loopback", no[i]);
    }
}

#define CONFIG_TEST(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        CONFIG_TEST(test_defaults),
        cmocka_unit_test(test_dispose_zeroed_and_twice),
        CONFIG_TEST(test_apply_own_keys),
        CONFIG_TEST(test_apply_crictl_flat_seed),
        CONFIG_TEST(test_apply_nested_seed),
        CONFIG_TEST(test_unknown_keys_warn),
        cmocka_unit_test(test_bad_values),
        CONFIG_TEST(test_bad_secret_is_not_echoed),
        CONFIG_TEST(test_relative_paths),
        CONFIG_TEST(test_apply_file),
        CONFIG_TEST(test_apply_file_too_large),
        CONFIG_TEST(test_apply_env),
        CONFIG_TEST(test_env_imgd_wins_over_legacy),
        CONFIG_TEST(test_env_bad_values),
        CONFIG_TEST(test_load_precedence),
        CONFIG_TEST(test_load_config_sources),
        CONFIG_TEST(test_load_repeated_listen),
        CONFIG_TEST(test_load_flag_forms),
        cmocka_unit_test(test_load_bad_args),
        cmocka_unit_test(test_load_modes),
        CONFIG_TEST(test_finalize_defaults),
        CONFIG_TEST(test_finalize_derived),
        CONFIG_TEST(test_finalize_debug_level),
        cmocka_unit_test(test_finalize_refuses_open_listener),
        cmocka_unit_test(test_finalize_other_errors),
        CONFIG_TEST(test_to_json),
        cmocka_unit_test(test_print_help),
        cmocka_unit_test(test_parse_listen_valid),
        cmocka_unit_test(test_parse_listen_invalid),
        cmocka_unit_test(test_host_is_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
