/* SPDX-License-Identifier: MIT */
/* The runtime layer's setup: which runtime binary and monitor to use, how crun must be run on
 * this host, the directories, and the clean-up of what a crash left behind. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/system/system.h"
#include "runtime-private.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/child.h"
#include "util/strutil.h"
#include "util/timeutil.h"
#include "version.h"

#define CHECK_TTL_USEC (5 * 1000000ull)

/* imgd-monitor beside the imgd binary (the build tree, a relocated install), else where meson
 * installed it. */
static void find_monitor(char *out, size_t len)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        int w = snprintf(out, len, "%s/imgd-monitor", dirname(self));
        if (w > 0 && (size_t)w < len && access(out, X_OK) == 0)
            return;
    }
    snprintf(out, len, "%s/imgd-monitor", IMGD_LIBEXECDIR);
    if (access(out, X_OK) != 0)
        out[0] = '\0';
}

/* crun refuses a hybrid cgroup host whose cgroup2 mount carries controllers; the monitor then
 * runs it in a private mount namespace without that mount. runc handles hybrid hosts itself. */
static bool needs_private_cgroup(const char *runtime_path)
{
    _cleanup_free_ char *copy = strdup(runtime_path);
    if (!copy || !strstr(basename(copy), "crun"))
        return false;
    _cleanup_free_ char *controllers = NULL;
    size_t len = 0;
    if (imgd_read_file(&controllers, &len, "/sys/fs/cgroup/unified/cgroup.controllers", 4096,
                       NULL) < 0)
        return false;
    return strspn(controllers, " \n") < len;
}

static int dir_has_record(imgd_runtime *rt, const char *id)
{
    imgd_container c = {0};
    int r = runtime_lookup(rt, id, &c, NULL);
    bool exact = r == 0 && !strcmp(c.id, id);
    imgd_container_dispose(&c);
    return exact;
}

/* Directories without a record are what a crash during create or remove left: remove them.
 * Records are brought up to date with their monitors on the way. */
static void startup_clean(imgd_runtime *rt)
{
    DIR *d = opendir(rt->containers_dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || strlen(de->d_name) != IMGD_CONTAINER_ID_LEN)
            continue;
        if (!dir_has_record(rt, de->d_name) && !runtime_monitor_alive(rt, de->d_name))
            (void)runtime_dir_remove(rt, de->d_name);
    }
    if (d)
        closedir(d);
}

int imgd_runtime_new(imgd_runtime **out, const imgd_config *cfg, imgd_db *db, imgd_store *store,
                     imgd_error **err)
{
    imgd_runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return imgd_error_set(err, ENOMEM, "out of memory");
    rt->cfg = cfg;
    rt->db = db;
    rt->store = store;
    pthread_mutex_init(&rt->check_lock, NULL);
    pthread_mutex_init(&rt->children_lock, NULL);
    /* Each monitor detaches with a double fork; as the subreaper, imgd becomes its parent and
     * reaps it, instead of leaving that to an init that may not reap (a container's, a VM's). */
    (void)prctl(PR_SET_CHILD_SUBREAPER, 1);
    if (imgd_find_executable(rt->runtime_path, sizeof rt->runtime_path, cfg->runtime) < 0)
        rt->runtime_path[0] = '\0';
    find_monitor(rt->monitor_path, sizeof rt->monitor_path);
    rt->private_cgroup = rt->runtime_path[0] && needs_private_cgroup(rt->runtime_path);
    struct rlimit rl;
    rt->nofile_max =
        getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY ? rl.rlim_max : 1048576;
    _cleanup_free_ char *name = strdup(rt->runtime_path[0] ? rt->runtime_path : cfg->runtime);
    snprintf(rt->containers_dir, sizeof rt->containers_dir, "%s/containers", cfg->state_dir);
    snprintf(rt->runtime_root, sizeof rt->runtime_root, "%s/%s", cfg->run_dir,
             name ? basename(name) : "runtime");
    int r = imgd_mkdir_p(rt->containers_dir, 0700, err);
    if (r == 0)
        r = imgd_mkdir_p(rt->runtime_root, 0700, err);
    if (r < 0) {
        imgd_runtime_free(rt);
        return r;
    }
    startup_clean(rt);
    *out = rt;
    return 0;
}

void imgd_runtime_on_removed(imgd_runtime *rt, imgd_runtime_removed_fn fn, void *arg)
{
    rt->removed = fn;
    rt->removed_arg = arg;
}

void imgd_runtime_free(imgd_runtime *rt)
{
    if (!rt)
        return;
    pthread_mutex_destroy(&rt->check_lock);
    pthread_mutex_destroy(&rt->children_lock);
    free(rt->children);
    free(rt);
}

void runtime_child_add(imgd_runtime *rt, pid_t pid)
{
    pthread_mutex_lock(&rt->children_lock);
    if (imgd_array_reserve(&rt->children, &rt->cap_children, rt->n_children + 1,
                           sizeof *rt->children, 16) == 0)
        rt->children[rt->n_children++] = pid;
    pthread_mutex_unlock(&rt->children_lock);
}

void runtime_children_reap(imgd_runtime *rt)
{
    pthread_mutex_lock(&rt->children_lock);
    for (size_t i = 0; i < rt->n_children;) {
        pid_t r = waitpid(rt->children[i], NULL, WNOHANG);
        if (r == rt->children[i] || (r < 0 && errno == ECHILD))
            rt->children[i] = rt->children[--rt->n_children];
        else
            i++;
    }
    pthread_mutex_unlock(&rt->children_lock);
}

static void check_probe(imgd_runtime *rt)
{
    imgd_error *e = NULL;
    rt->check_ok = false;
    if (runtime_require(rt, &e) < 0) {
        snprintf(rt->check_detail, sizeof rt->check_detail, "%s", e->message);
        imgd_error_free(e);
        return;
    }
    const char *argv[] = {rt->runtime_path, "--version", NULL};
    imgd_run_opts o = {.argv = argv, .timeout_ms = 5000, .max_output = 4096};
    imgd_run_result res = {0};
    if (imgd_run(&res, &o, &e) < 0 || res.timed_out || res.status != 0) {
        snprintf(rt->check_detail, sizeof rt->check_detail, "'%.120s --version' failed%s%.100s",
                 rt->runtime_path, e ? ": " : "", e ? e->message : "");
        imgd_error_free(e);
        imgd_run_result_dispose(&res);
        return;
    }
    /* "runc version 1.1.5" / "crun version 1.8.1": the first line. */
    res.output[strcspn(res.output, "\n")] = '\0';
    snprintf(rt->check_detail, sizeof rt->check_detail, "%s%s", res.output,
             rt->private_cgroup ? " in a private mount namespace (hybrid cgroups)" : "");
    rt->check_ok = true;
    imgd_run_result_dispose(&res);
}

bool imgd_runtime_check(imgd_runtime *rt, char *detail, size_t len)
{
    pthread_mutex_lock(&rt->check_lock);
    uint64_t now = imgd_now_monotonic_usec();
    if (rt->checked_at == 0 || now - rt->checked_at > CHECK_TTL_USEC) {
        check_probe(rt);
        rt->checked_at = now;
    }
    bool ok = rt->check_ok;
    if (detail)
        snprintf(detail, len, "%s", rt->check_detail);
    pthread_mutex_unlock(&rt->check_lock);
    return ok;
}

int imgd_runtime_rootfs_open(imgd_runtime *rt, const char *name_or_id, imgd_container *out,
                             imgd_error **err)
{
    imgd_container c = {0};
    int r = runtime_lookup(rt, name_or_id, &c, err);
    if (r < 0)
        return r;
    char path[4096];
    r = runtime_rootfs_mount(rt, &c, err);
    if (r == 0 && runtime_root_dir(path, sizeof path, rt, &c) == 0)
        r = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r < 0 && !(err && *err))
        r = imgd_error_errno(err, errno, "container '%s': open rootfs", c.name);
    if (out && r >= 0)
        *out = c;
    else
        imgd_container_dispose(&c);
    return r;
}
