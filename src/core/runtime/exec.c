/* SPDX-License-Identifier: MIT */
/* Processes run in a running container: `<runtime> exec --process FILE`, with the process object
 * built like the container's own (capabilities, rlimits), output collected under a deadline. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rootfs.h"
#include "runtime-private.h"
#include "spec.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/child.h"
#include "util/strutil.h"

#define EXEC_MAX_OUTPUT (8u << 20)

void imgd_exec_result_dispose(imgd_exec_result *r)
{
    if (!r)
        return;
    free(r->output);
    r->output = NULL;
    r->output_len = 0;
}

typedef struct exec_kill {
    const char *pid_file;
} exec_kill;

/* The deadline passed: kill the process in the container, not only the runtime's exec, which
 * would leave it running there. */
static void exec_on_timeout(void *arg)
{
    const exec_kill *k = arg;
    _cleanup_free_ char *text = NULL;
    int64_t pid = 0;
    if (imgd_read_file(&text, NULL, k->pid_file, 64, NULL) == 0) {
        text[strcspn(text, "\n")] = '\0';
        if (imgd_parse_int64(&pid, text) == 0 && pid > 1)
            kill((pid_t)pid, SIGKILL);
    }
}

static json_t *exec_env(const json_t *base, char **extra)
{
    json_t *env = json_deep_copy(base);
    for (size_t k = 0; env && extra && extra[k]; k++) {
        size_t klen = strcspn(extra[k], "="), i;
        json_t *e;
        bool set = false;
        json_array_foreach (env, i, e) {
            const char *s = json_string_value(e);
            if (!set && s && !strncmp(s, extra[k], klen) && (s[klen] == '=' || !s[klen])) {
                json_array_set_new(env, i, json_string(extra[k]));
                set = true;
            }
        }
        if (!set)
            json_array_append_new(env, json_string(extra[k]));
    }
    return env;
}

static int exec_process_file(imgd_runtime *rt, const imgd_container *c, const imgd_exec_spec *spec,
                             const char *path, imgd_error **err)
{
    char root[4096];
    runtime_root_dir(root, sizeof root, rt, c);
    _cleanup_close_ int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return imgd_error_errno(err, errno, "container '%s': open rootfs", c->name);
    imgd_user_ids ids;
    const char *user = spec->user ? spec->user : imgd_json_get_string(c->config, "user");
    int r = imgd_rootfs_user_resolve(&ids, rootfd, user ? user : "", err);
    if (r < 0)
        return r;
    json_auto_t *args = json_array();
    for (size_t i = 0; args && spec->argv[i]; i++)
        json_array_append_new(args, json_string(spec->argv[i]));
    json_auto_t *env = exec_env(json_object_get(c->config, "env"), spec->env);
    const char *cwd = spec->workdir ? spec->workdir : imgd_json_get_string(c->config, "workdir");
    json_auto_t *proc = imgd_spec_process(args, env, cwd, &ids, rt->nofile_max);
    _cleanup_free_ char *text = proc ? json_dumps(proc, JSON_COMPACT) : NULL;
    if (!text)
        return imgd_error_set(err, ENOMEM, "out of memory");
    return imgd_write_file_atomic(path, text, strlen(text), 0600, err);
}

/* The runtime's last error, from its JSON log: {"level":"error","msg":"..."} lines. */
static char *runtime_log_error(const char *path)
{
    _cleanup_free_ char *text = NULL;
    char *msg = NULL;
    if (imgd_read_file(&text, NULL, path, 65536, NULL) < 0)
        return NULL;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        json_auto_t *j = json_loads(line, 0, NULL);
        const char *m = imgd_json_get_string(j, "msg");
        if (m && !strcmp(imgd_json_get_string(j, "level") ?: "", "error")) {
            free(msg);
            msg = strdup(m);
        }
    }
    return msg;
}

/* A process the runtime could not start: its status 255 and "exec failed" in its log. Docker
 * and podman answer 127 (not found) or 126 (not executable) and the reason as the output. */
static void exec_result_set(imgd_exec_result *out, imgd_run_result *res, const char *log_path)
{
    _cleanup_free_ char *failure = NULL;
    int code = WIFSIGNALED(res->status) ? 128 + WTERMSIG(res->status) : WEXITSTATUS(res->status);
    if (code == 255)
        failure = runtime_log_error(log_path);
    if (failure && strstr(failure, "exec failed")) {
        bool missing = strstr(failure, "not found") || strstr(failure, "no such file");
        out->exit_code = missing ? 127 : 126;
        char *text = NULL;
        int n = asprintf(&text, "%s\n", failure);
        if (n >= 0) {
            free(res->output);
            res->output = text;
            res->output_len = (size_t)n;
        }
    } else {
        out->exit_code = code;
    }
    out->output = res->output;
    out->output_len = res->output_len;
    out->truncated = res->truncated;
    res->output = NULL;
}

static int exec_run(imgd_runtime *rt, const imgd_container *c, const imgd_exec_spec *spec,
                    imgd_exec_result *out, imgd_error **err)
{
    char tag[17], proc[4096], pidf[4096], logf[4096], name[64];
    unsigned char raw[8];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return imgd_error_set(err, EIO, "no random bytes");
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(tag + 2 * i, 3, "%02x", raw[i]);
    snprintf(name, sizeof name, "exec-%s.json", tag);
    runtime_path(proc, sizeof proc, rt, c->id, name);
    snprintf(name, sizeof name, "exec-%s.pid", tag);
    runtime_path(pidf, sizeof pidf, rt, c->id, name);
    snprintf(name, sizeof name, "exec-%s.log", tag);
    runtime_path(logf, sizeof logf, rt, c->id, name);
    int r = exec_process_file(rt, c, spec, proc, err);
    if (r < 0)
        return r;
    const char *argv[] = {rt->runtime_path,
                          "--root",
                          rt->runtime_root,
                          "--log",
                          logf,
                          "--log-format",
                          "json",
                          "exec",
                          "--process",
                          proc,
                          "--pid-file",
                          pidf,
                          c->id,
                          NULL};
    exec_kill k = {.pid_file = pidf};
    imgd_run_opts o = {.argv = argv,
                       .timeout_ms = spec->timeout_ms,
                       .max_output = EXEC_MAX_OUTPUT,
                       .merge_stderr = true,
                       .on_timeout = exec_on_timeout,
                       .on_timeout_arg = &k};
    imgd_run_result res = {0};
    r = imgd_run(&res, &o, err);
    unlink(proc);
    unlink(pidf);
    if (r < 0) {
        unlink(logf);
        return r;
    }
    if (res.timed_out) {
        unlink(logf);
        imgd_run_result_dispose(&res);
        return imgd_error_set(err, ETIMEDOUT,
                              "command in container '%s' timed out after %d s and was killed",
                              c->name, (spec->timeout_ms + 999) / 1000);
    }
    exec_result_set(out, &res, logf);
    unlink(logf);
    imgd_run_result_dispose(&res);
    return 0;
}

int imgd_runtime_exec(imgd_runtime *rt, const char *name_or_id, const imgd_exec_spec *spec,
                      imgd_exec_result *out, imgd_error **err)
{
    imgd_container c = {0};
    if (!spec->argv || !spec->argv[0])
        return imgd_error_set(err, EINVAL, "empty command");
    int r = runtime_require(rt, err);
    if (r == 0)
        r = runtime_lookup(rt, name_or_id, &c, err);
    if (r == 0 && c.state != IMGD_CONTAINER_RUNNING)
        r = imgd_error_set(err, EBUSY, "container '%s' is not running", c.name);
    if (r == 0)
        r = exec_run(rt, &c, spec, out, err);
    imgd_container_dispose(&c);
    return r;
}
