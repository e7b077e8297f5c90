/* SPDX-License-Identifier: MIT */
/* The runtime's pure parts: the OCI spec built from a container's configuration, and the CRI log
 * record parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/runtime/logs.h"
#include "core/runtime/spec.h"
#include "util/error.h"

static json_t *config(const char *extra)
{
    char text[2048];
    snprintf(text, sizeof text,
             "{\"args\":[\"sleep\",\"60\"],\"env\":[\"PATH=/bin\"],\"workdir\":\"/srv\","
             "\"network\":\"none\",\"volumes\":[],\"memory\":0,\"cpu_millis\":0,"
             "\"pids_limit\":0%s}",
             extra);
    json_t *c = json_loads(text, 0, NULL);
    assert_non_null(c);
    return c;
}

static json_t *build(const json_t *cfg, uint32_t uid, uint64_t nofile)
{
    imgd_user_ids ids = {.uid = uid, .gid = uid, .n_gids = 1, .gids = {27}};
    imgd_spec_inputs in = {.config = cfg,
                           .ids = &ids,
                           .id = "abc",
                           .hostname = "box",
                           .hosts_file = "/state/abc/hosts",
                           .hostname_file = "/state/abc/hostname",
                           .nofile_max = nofile,
                           .cgroup_parent = "imgd"};
    json_t *spec = NULL;
    imgd_error *err = NULL;
    assert_int_equal(imgd_spec_build(&spec, &in, &err), 0);
    assert_null(err);
    return spec;
}

static bool has_namespace(const json_t *spec, const char *type)
{
    size_t i;
    json_t *ns;
    json_array_foreach (json_object_get(json_object_get(spec, "linux"), "namespaces"), i, ns)
        if (!strcmp(json_string_value(json_object_get(ns, "type")), type))
            return true;
    return false;
}

static const json_t *mount_at(const json_t *spec, const char *dest)
{
    size_t i;
    json_t *m;
    json_array_foreach (json_object_get(spec, "mounts"), i, m)
        if (!strcmp(json_string_value(json_object_get(m, "destination")), dest))
            return m;
    return NULL;
}

static void test_spec_defaults(void **state)
{
    (void)state;
    json_t *cfg = config("");
    json_t *spec = build(cfg, 0, 20000);
    const json_t *proc = json_object_get(spec, "process");
    assert_string_equal(json_string_value(json_object_get(proc, "cwd")), "/srv");
    assert_false(json_is_true(json_object_get(proc, "terminal")));
    assert_int_equal(json_array_size(json_object_get(proc, "args")), 2);
    const json_t *caps = json_object_get(proc, "capabilities");
    assert_int_equal(json_array_size(json_object_get(caps, "bounding")), 14);
    assert_int_equal(json_array_size(json_object_get(caps, "effective")), 14);
    /* the host's hard limit, not podman's 1048576: the runtime could not raise it */
    const json_t *rl = json_array_get(json_object_get(proc, "rlimits"), 0);
    assert_int_equal(json_integer_value(json_object_get(rl, "hard")), 20000);
    assert_int_equal(json_integer_value(json_object_get(rl, "soft")), 20000);
    const json_t *user = json_object_get(proc, "user");
    assert_int_equal(json_array_size(json_object_get(user, "additionalGids")), 1);
    for (const char *const *t =
             (const char *const[]){"pid", "ipc", "uts", "mount", "network", NULL};
         *t; t++)
        assert_true(has_namespace(spec, *t));
    const json_t *lin = json_object_get(spec, "linux");
    assert_string_equal(json_string_value(json_object_get(lin, "cgroupsPath")), "/imgd/abc");
    const json_t *res = json_object_get(lin, "resources");
    assert_null(json_object_get(res, "memory"));
    assert_null(json_object_get(res, "pids"));
    assert_non_null(mount_at(spec, "/proc"));
    assert_non_null(mount_at(spec, "/etc/hosts"));
    assert_null(mount_at(spec, "/etc/resolv.conf"));
    assert_string_equal(json_string_value(json_object_get(spec, "hostname")), "box");
    json_decref(spec);
    json_decref(cfg);
}

static void test_spec_non_root_has_no_effective_caps(void **state)
{
    (void)state;
    json_t *cfg = config("");
    json_t *spec = build(cfg, 1000, 1u << 30);
    const json_t *caps = json_object_get(json_object_get(spec, "process"), "capabilities");
    assert_int_equal(json_array_size(json_object_get(caps, "bounding")), 14);
    assert_int_equal(json_array_size(json_object_get(caps, "effective")), 0);
    assert_int_equal(json_array_size(json_object_get(caps, "permitted")), 0);
    const json_t *rl =
        json_array_get(json_object_get(json_object_get(spec, "process"), "rlimits"), 0);
    assert_int_equal(json_integer_value(json_object_get(rl, "hard")), 1048576);
    json_decref(spec);
    json_decref(cfg);
}

static void test_spec_host_network_limits_and_volumes(void **state)
{
    (void)state;
    json_t *cfg = config("");
    json_object_set_new(cfg, "network", json_string("host"));
    json_object_set_new(cfg, "memory", json_integer(64 << 20));
    json_object_set_new(cfg, "cpu_millis", json_integer(1500));
    json_object_set_new(cfg, "pids_limit", json_integer(32));
    json_object_set_new(cfg, "volumes",
                        json_loads("[{\"host\":\"/h\",\"container\":\"/c\",\"readonly\":true},"
                                   "{\"host\":\"/h2\",\"container\":\"/d\",\"readonly\":false}]",
                                   0, NULL));
    json_t *spec = build(cfg, 0, 1024);
    assert_false(has_namespace(spec, "network"));
    assert_true(has_namespace(spec, "pid"));
    const json_t *res = json_object_get(json_object_get(spec, "linux"), "resources");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "memory"), "limit")),
                     64 << 20);
    const json_t *cpu = json_object_get(res, "cpu");
    assert_int_equal(json_integer_value(json_object_get(cpu, "quota")), 150000);
    assert_int_equal(json_integer_value(json_object_get(cpu, "period")), 100000);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "pids"), "limit")),
                     32);
    const json_t *ro = mount_at(spec, "/c"), *rw = mount_at(spec, "/d");
    assert_non_null(ro);
    assert_non_null(rw);
    assert_string_equal(json_string_value(json_object_get(ro, "source")), "/h");
    json_t *opts = json_object_get(ro, "options");
    assert_string_equal(json_string_value(json_array_get(opts, json_array_size(opts) - 1)), "ro");
    opts = json_object_get(rw, "options");
    assert_string_not_equal(json_string_value(json_array_get(opts, json_array_size(opts) - 1)),
                            "ro");
    json_decref(spec);
    json_decref(cfg);
}

static void test_spec_without_a_command_fails(void **state)
{
    (void)state;
    json_t *cfg = config("");
    json_object_set_new(cfg, "args", json_array());
    imgd_user_ids ids = {0};
    imgd_spec_inputs in = {.config = cfg,
                           .ids = &ids,
                           .id = "x",
                           .hostname = "x",
                           .hosts_file = "/h",
                           .nofile_max = 1024,
                           .cgroup_parent = "imgd"};
    json_t *spec = NULL;
    imgd_error *err = NULL;
    assert_int_equal(imgd_spec_build(&spec, &in, &err), -EINVAL);
    assert_null(spec);
    assert_non_null(strstr(err->message, "command"));
    imgd_error_free(err);
    json_decref(cfg);
}

static void test_log_record_parse(void **state)
{
    (void)state;
    imgd_log_record r;
    const char *line = "2026-12-02T10:00:01.123456789Z stdout F hello world";
    assert_int_equal(imgd_log_record_parse(&r, line, strlen(line)), 0);
    assert_false(r.is_stderr);
    assert_false(r.partial);
    assert_int_equal(r.text_len, 11);
    assert_memory_equal(r.text, "hello world", 11);
    assert_int_equal(r.time_len, 30);
    assert_int_equal(r.time_usec % 1000000, 123456);
    assert_int_equal(r.time_usec / 1000000, 1796205601);
    line = "2026-12-02T10:00:01.5Z stderr P ";
    assert_int_equal(imgd_log_record_parse(&r, line, strlen(line)), 0);
    assert_true(r.is_stderr);
    assert_true(r.partial);
    assert_int_equal(r.text_len, 0);
    assert_int_equal(r.time_usec % 1000000, 500000);
    line = "2026-12-02T10:00:01Z stdout F"; /* an empty line, written without the last blank */
    assert_int_equal(imgd_log_record_parse(&r, line, strlen(line)), 0);
    assert_int_equal(r.text_len, 0);
    static const char *const bad[] = {
        "",
        "garbage",
        "2026-12-02T10:00:01Z",
        "2026-12-02T10:00:01Z stdout X text",
        "2026-12-02T10:00:01 stdout F text",
        "2026-13-45Txx stdout F x",
        "2026-12-02T10:00:01Z stdout Fx",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(imgd_log_record_parse(&r, bad[i], strlen(bad[i])), -EBADMSG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_defaults),
        cmocka_unit_test(test_spec_non_root_has_no_effective_caps),
        cmocka_unit_test(test_spec_host_network_limits_and_volumes),
        cmocka_unit_test(test_spec_without_a_command_fails),
        cmocka_unit_test(test_log_record_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
