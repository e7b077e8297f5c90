/* SPDX-License-Identifier: MIT */
/* Container lifecycle: create (configuration resolved from the image and the request, rootfs
 * overlay, OCI spec), start (through a monitor), stop (signal, deadline, SIGKILL) and remove. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/store/images.h"
#include "core/store/unpack.h"
#include "rootfs.h"
#include "runtime-private.h"
#include "spec.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/child.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#define START_TIMEOUT_MS 60000
#define IMAGE_CONFIG_MAX (4u << 20)
#define KILL_WAIT_MS     10000
#define DEFAULT_PATH     "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- names and signals ---- */

static bool name_is_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > IMGD_CONTAINER_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
            return false;
    }
    return true;
}

/* "SIGTERM", "TERM", "15", "SIGRTMIN+3" -> the number, or -1. */
static int signal_parse(const char *s)
{
    static const struct {
        const char *name;
        int sig;
    } sigs[] = {{"HUP", SIGHUP},   {"INT", SIGINT},     {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
                {"USR1", SIGUSR1}, {"USR2", SIGUSR2},   {"TERM", SIGTERM}, {"STOP", SIGSTOP},
                {"CONT", SIGCONT}, {"WINCH", SIGWINCH}, {"PWR", SIGPWR},   {"ALRM", SIGALRM}};
    int64_t n = 0;
    if (!s || !*s)
        return SIGTERM;
    if (imgd_parse_int64(&n, s) == 0)
        return n > 0 && n < NSIG ? (int)n : -1;
    if (imgd_str_has_prefix(s, "SIG"))
        s += 3;
    for (size_t i = 0; i < IMGD_ARRAY_SIZE(sigs); i++)
        if (!strcmp(s, sigs[i].name))
            return sigs[i].sig;
    if (imgd_str_has_prefix(s, "RTMIN")) {
        int64_t off = 0;
        if (!s[5])
            return SIGRTMIN;
        if (s[5] == '+' && imgd_parse_int64(&off, s + 6) == 0 && off >= 0 &&
            SIGRTMIN + off <= SIGRTMAX)
            return SIGRTMIN + (int)off;
    }
    return -1;
}

/* ---- configuration ---- */

static int image_config(json_t **out, imgd_runtime *rt, const imgd_image *img, imgd_error **err)
{
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    int r = imgd_store_blob_get(rt->store, img->id, IMAGE_CONFIG_MAX, &text, &len, err);
    if (r < 0)
        return r;
    json_t *j = json_loadb(text, len, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return imgd_error_set(err, EBADMSG, "image %s: config is not a JSON object", img->id);
    }
    json_t *c = json_incref(json_object_get(j, "config"));
    json_decref(j);
    *out = json_is_object(c) ? c : json_object();
    if (c && !json_is_object(c))
        json_decref(c);
    return 0;
}

static json_t *strv_json(char **v)
{
    json_t *a = json_array();
    for (size_t i = 0; a && v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *strings_of(const json_t *v)
{
    json_t *a = json_array();
    size_t i;
    json_t *e;
    json_array_foreach (v, i, e)
        if (json_is_string(e))
            json_array_append(a, e);
    return a;
}

/* Set KEY=value in env (an array of "K=V"), replacing an earlier KEY. */
static void env_set(json_t *env, const char *kv)
{
    size_t klen = strcspn(kv, "=");
    size_t i;
    json_t *e;
    json_array_foreach (env, i, e) {
        const char *s = json_string_value(e);
        if (s && strncmp(s, kv, klen) == 0 && (s[klen] == '=' || s[klen] == '\0')) {
            json_array_set_new(env, i, json_string(kv));
            return;
        }
    }
    json_array_append_new(env, json_string(kv));
}

static json_t *resolve_env(const json_t *image_env, char **request_env)
{
    json_t *env = json_array();
    bool has_path = false;
    size_t i;
    json_t *e;
    json_array_foreach (image_env, i, e)
        if (json_is_string(e))
            env_set(env, json_string_value(e));
    for (size_t k = 0; request_env && request_env[k]; k++)
        env_set(env, request_env[k]);
    json_array_foreach (env, i, e)
        has_path |= imgd_str_has_prefix(json_string_value(e), "PATH=");
    if (!has_path)
        json_array_append_new(env, json_string(DEFAULT_PATH));
    return env;
}

/* Ports keep the address they are published on (port_bind_address when created), so a later
 * change of the setting does not move a container's ports. */
static json_t *resolve_ports_volumes(const imgd_container_spec *spec, const char *host_ip,
                                     json_t **volumes)
{
    json_t *ports = json_array();
    for (size_t i = 0; ports && i < spec->n_ports; i++)
        json_array_append_new(ports,
                              json_pack("{s:i, s:i, s:s}", "host", spec->ports[i].host, "container",
                                        spec->ports[i].container, "host_ip", host_ip));
    *volumes = json_array();
    for (size_t i = 0; *volumes && i < spec->n_volumes; i++)
        json_array_append_new(*volumes, json_pack("{s:s, s:s, s:b}", "host", spec->volumes[i].host,
                                                  "container", spec->volumes[i].container,
                                                  "readonly", spec->volumes[i].readonly));
    return ports;
}

/* What a system container on a mount adds: its root, namespaces, systemd mode, log, and the
 * annotations of the face that made it. */
static void system_config(json_t *c, const imgd_container_spec *spec)
{
    if (spec->rootfs)
        json_object_set_new(c, "rootfs", json_string(spec->rootfs));
    if (spec->namespaces) {
        json_t *ns = json_array();
        for (const char *const *n = spec->namespaces; *n; n++)
            json_array_append_new(ns, json_string(*n));
        json_object_set_new(c, "namespaces", ns);
    }
    if (spec->systemd) {
        json_object_set_new(c, "systemd", json_true());
        json_object_set_new(c, "stop_signal", json_string("SIGRTMIN+3"));
        env_set(json_object_get(c, "env"), "container=imgd");
    }
    if (spec->log_path)
        json_object_set_new(c, "log_path", json_string(spec->log_path));
    if (spec->annotations)
        json_object_set(c, "annotations", spec->annotations);
}

/* The container's configuration, fully resolved against the image at create time: later changes
 * to the image (a new pull under the same name) do not change the container. */
static int resolve_config(json_t **out, const imgd_runtime *rt, const imgd_container_spec *spec,
                          const json_t *icfg, imgd_error **err)
{
    json_auto_t *entry = spec->entrypoint ? strv_json(spec->entrypoint)
                                          : strings_of(json_object_get(icfg, "Entrypoint"));
    json_auto_t *cmd =
        spec->command ? strv_json(spec->command) : strings_of(json_object_get(icfg, "Cmd"));
    /* Docker's rule: a command given with the image's entrypoint is its arguments, unless the
     * request gives its own entrypoint too. */
    json_auto_t *args = json_array();
    json_array_extend(args, entry);
    json_array_extend(args, cmd);
    if (json_array_size(args) == 0)
        return imgd_error_set(err, EINVAL,
                              "no command: the image has neither Entrypoint nor Cmd and the "
                              "request gives no command");
    const char *workdir = spec->workdir ? spec->workdir : imgd_json_get_string(icfg, "WorkingDir");
    const char *user = spec->user ? spec->user : imgd_json_get_string(icfg, "User");
    const char *stop = imgd_json_get_string(icfg, "StopSignal");
    if (!stop || signal_parse(stop) < 0)
        stop = "SIGTERM";
    json_t *volumes = NULL;
    json_t *ports = resolve_ports_volumes(spec, rt->cfg->port_bind_address, &volumes);
    json_t *labels = spec->labels ? json_incref(spec->labels) : json_object();
    json_t *c = json_pack("{s:O, s:O, s:O, s:o, s:s, s:s, s:s, s:o, s:o, s:I, s:I, s:I, s:o, s:s}",
                          "args", args, "command", cmd, "entrypoint", entry, "env",
                          resolve_env(json_object_get(icfg, "Env"), spec->env), "workdir",
                          workdir && *workdir ? workdir : "/", "user", user ? user : "", "network",
                          spec->network_host ? "host" : "none", "ports", ports, "volumes", volumes,
                          "memory", (json_int_t)spec->memory, "cpu_millis",
                          (json_int_t)spec->cpu_millis, "pids_limit", (json_int_t)spec->pids_limit,
                          "labels", labels, "stop_signal", stop);
    if (!c)
        return imgd_error_set(err, ENOMEM, "out of memory");
    system_config(c, spec);
    *out = c;
    return 0;
}

/* ---- the container directory ---- */

static int random_id(char out[IMGD_CONTAINER_ID_LEN + 1])
{
    unsigned char raw[IMGD_CONTAINER_ID_LEN / 2];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return -EIO;
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

static bool rootfs_is_mounted(const imgd_runtime *rt, const char *id)
{
    char dir[4096], root[4096];
    struct stat a, b;
    return runtime_path(dir, sizeof dir, rt, id, NULL) == 0 &&
           runtime_path(root, sizeof root, rt, id, "rootfs") == 0 && stat(dir, &a) == 0 &&
           stat(root, &b) == 0 && a.st_dev != b.st_dev;
}

/* Overlay of the image's layers (top first) with the container's upper and work dirs. */
static int rootfs_mount(imgd_runtime *rt, const imgd_container *c, imgd_error **err)
{
    const char *external = json_string_value(json_object_get(c->config, "rootfs"));
    struct stat st;
    if (external && (stat(external, &st) < 0 || !S_ISDIR(st.st_mode)))
        return imgd_error_set(err, ENOENT, "container '%s': its root '%s' is gone", c->name,
                              external);
    if (external || rootfs_is_mounted(rt, c->id))
        return 0;
    imgd_image img = {0};
    int r = imgd_store_image_find(rt->store, c->image_id, &img, err);
    if (r < 0)
        return imgd_error_prefix(err, "container '%s'", c->name);
    imgd_buf opts = {0};
    imgd_buf_printf(&opts, "lowerdir=");
    char path[4096];
    for (size_t i = img.n_layers; i-- > 0;) {
        imgd_store_layer_path(path, sizeof path, rt->store, img.layers[i].chain_id);
        imgd_buf_printf(&opts, "%s%s", i + 1 < img.n_layers ? ":" : "", path);
    }
    if (img.n_layers == 0) {
        runtime_path(path, sizeof path, rt, c->id, "empty");
        imgd_buf_printf(&opts, "%s", path);
    }
    imgd_image_dispose(&img);
    runtime_path(path, sizeof path, rt, c->id, "upper");
    imgd_buf_printf(&opts, ",upperdir=%s", path);
    runtime_path(path, sizeof path, rt, c->id, "work");
    imgd_buf_printf(&opts, ",workdir=%s", path);
    runtime_path(path, sizeof path, rt, c->id, "rootfs");
    if (opts.failed || opts.len >= 4096) {
        imgd_buf_dispose(&opts);
        return imgd_error_set(err, E2BIG,
                              "container '%s': the image's layer paths exceed the overlay mount "
                              "options limit (one page)",
                              c->name);
    }
    r = mount("overlay", path, "overlay", MS_NODEV, opts.data);
    int e = errno;
    imgd_buf_dispose(&opts);
    if (r < 0)
        return imgd_error_errno(err, e, "container '%s': mount the overlay rootfs", c->name);
    return 0;
}

static void rootfs_unmount(imgd_runtime *rt, const char *id)
{
    char path[4096];
    if (runtime_path(path, sizeof path, rt, id, "rootfs") == 0)
        while (rootfs_is_mounted(rt, id) && umount2(path, MNT_DETACH) == 0) {
        }
}

/* Remove a container's directory; its rootfs must be unmounted first, or the removal would
 * reach through the overlay. */
static int container_dir_remove(imgd_runtime *rt, const char *id)
{
    rootfs_unmount(rt, id);
    if (rootfs_is_mounted(rt, id))
        return -EBUSY;
    _cleanup_close_ int fd = open(rt->containers_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -errno : imgd_remove_tree_at(fd, id);
}

static int write_etc_files(imgd_runtime *rt, const imgd_container *c, imgd_error **err)
{
    char path[4096], text[512];
    snprintf(text, sizeof text,
             "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t%.63s\n",
             c->name);
    runtime_path(path, sizeof path, rt, c->id, "hosts");
    int r = imgd_write_file_replace(path, text, strlen(text), 0644, err);
    snprintf(text, sizeof text, "%.63s\n", c->name);
    runtime_path(path, sizeof path, rt, c->id, "hostname");
    return r < 0 ? r : imgd_write_file_replace(path, text, strlen(text), 0644, err);
}

static int write_spec(imgd_runtime *rt, const imgd_container *c, imgd_error **err)
{
    char root[4096], hosts[4096], hostname[4096], path[4096], name[64];
    runtime_root_dir(root, sizeof root, rt, c);
    runtime_path(hosts, sizeof hosts, rt, c->id, "hosts");
    runtime_path(hostname, sizeof hostname, rt, c->id, "hostname");
    runtime_path(path, sizeof path, rt, c->id, "config.json");
    snprintf(name, sizeof name, "%.63s", c->name);
    _cleanup_close_ int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return imgd_error_errno(err, errno, "container '%s': open rootfs", c->name);
    imgd_user_ids ids;
    int r =
        imgd_rootfs_user_resolve(&ids, rootfd, imgd_json_get_string(c->config, "user") ?: "", err);
    if (r == -ENOENT && err && *err) {
        (*err)->code = EINVAL; /* a request naming a user the image lacks is a bad request */
        return -EINVAL;
    }
    if (r < 0)
        return r;
    bool host_net = !strcmp(imgd_json_get_string(c->config, "network") ?: "", "host");
    imgd_spec_inputs in = {.config = c->config,
                           .ids = &ids,
                           .id = c->id,
                           .hostname = name,
                           .hosts_file = hosts,
                           .hostname_file = hostname,
                           .resolv_file = host_net && access("/etc/resolv.conf", R_OK) == 0
                                              ? "/etc/resolv.conf"
                                              : NULL,
                           .nofile_max = rt->nofile_max,
                           .cgroup_parent = "imgd",
                           .root_path = json_object_get(c->config, "rootfs") ? root : "rootfs"};
    json_auto_t *spec = NULL;
    r = imgd_spec_build(&spec, &in, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *text = json_dumps(spec, JSON_COMPACT);
    if (!text)
        return imgd_error_set(err, ENOMEM, "out of memory");
    return imgd_write_file_replace(path, text, strlen(text), 0600, err);
}

/* The bundle's files are written without fsync (the record in the database is the durable
 * copy); after a crash or power loss one may be missing or empty, and is rebuilt here. */
static int bundle_check(imgd_runtime *rt, const imgd_container *c, imgd_error **err)
{
    static const char *const files[] = {"hosts", "hostname", "config.json"};
    bool whole = true;
    for (size_t i = 0; i < IMGD_ARRAY_SIZE(files); i++) {
        char path[4096];
        struct stat st;
        runtime_path(path, sizeof path, rt, c->id, files[i]);
        whole = whole && stat(path, &st) == 0 && st.st_size > 0;
    }
    if (whole)
        return 0;
    int r = write_etc_files(rt, c, err);
    return r < 0 ? r : write_spec(rt, c, err);
}

static int container_dir_make(imgd_runtime *rt, const imgd_container *c, imgd_error **err)
{
    static const char *const dirs[] = {NULL, "upper", "work", "rootfs", "empty"};
    char path[4096];
    bool external = json_object_get(c->config, "rootfs") != NULL;
    for (size_t i = 0; i < (external ? 1 : IMGD_ARRAY_SIZE(dirs)); i++) {
        runtime_path(path, sizeof path, rt, c->id, dirs[i]);
        /* chmod: the daemon's umask is 077, and the upper dir's mode is the mode of the
         * container's "/" (0700 would lock every non-root user out). */
        if (mkdir(path, 0700) < 0 || chmod(path, i == 0 ? 0700 : 0755) < 0)
            return imgd_error_errno(err, errno, "create %s", path);
    }
    int r = write_etc_files(rt, c, err);
    if (r == 0)
        r = rootfs_mount(rt, c, err);
    if (r == 0)
        r = write_spec(rt, c, err);
    return r;
}

static int check_volumes(const imgd_container_spec *spec, imgd_error **err)
{
    for (size_t i = 0; i < spec->n_volumes; i++) {
        struct stat st;
        if (stat(spec->volumes[i].host, &st) < 0)
            return imgd_error_set(err, EINVAL, "volume host path '%s' does not exist",
                                  spec->volumes[i].host);
    }
    return 0;
}

static bool wait_gone(imgd_runtime *rt, const char *id, int64_t timeout_ms);

/* Find the container, take its operation lock (held until *lock is closed) and re-read its
 * state, which another operation may have changed while this one waited. */
static int op_begin(imgd_runtime *rt, const char *name_or_id, imgd_container *c, int *lock,
                    imgd_error **err)
{
    int r = runtime_lookup(rt, name_or_id, c, err);
    if (r < 0)
        return r;
    *lock = runtime_op_lock(rt, c->id);
    if (*lock < 0) {
        r = imgd_error_errno(err, -*lock, "container '%s': lock", c->name);
        imgd_container_dispose(c);
        return r;
    }
    runtime_refresh(rt, c);
    return 0;
}

/* Hand c to out (when the caller wants it) or dispose of it; returns r. */
static int op_end(imgd_container *c, imgd_container *out, int r)
{
    if (out)
        *out = *c;
    else
        imgd_container_dispose(c);
    return r;
}

/* ---- start ---- */

static int ports_bind(imgd_runtime *rt, const imgd_container *c, int *fds, size_t *n,
                      imgd_error **err)
{
    size_t i;
    json_t *p;
    json_array_foreach (json_object_get(c->config, "ports"), i, p) {
        int host = (int)json_integer_value(json_object_get(p, "host"));
        const char *ip = imgd_json_get_string(p, "host_ip") ?: rt->cfg->port_bind_address;
        struct in_addr addr;
        if (inet_pton(AF_INET, ip, &addr) != 1)
            return imgd_error_set(err, EINVAL, "port address '%s' is not an IPv4 address", ip);
        struct sockaddr_in sin = {
            .sin_family = AF_INET, .sin_port = htons((uint16_t)host), .sin_addr = addr};
        int one = 1;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return imgd_error_errno(err, errno, "socket");
        fds[(*n)++] = fd;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(fd, 128) < 0)
            return imgd_error_errno(err, errno, "publish host port %s:%d", ip, host);
    }
    return 0;
}

/* The monitor's one status line, within the deadline. */
static int status_read(json_t **out, int fd, int timeout_ms)
{
    char buf[4096];
    size_t len = 0;
    uint64_t deadline = imgd_now_monotonic_usec() + (uint64_t)timeout_ms * 1000;
    while (len < sizeof buf - 1) {
        uint64_t now = imgd_now_monotonic_usec();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (now >= deadline)
            return -ETIMEDOUT;
        int r = poll(&p, 1, (int)((deadline - now) / 1000 + 1));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : -ETIMEDOUT;
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (memchr(buf, '\n', len))
            break;
    }
    buf[len] = '\0';
    *out = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL);
    return *out ? 0 : -EPIPE;
}

static int monitor_spawn(imgd_runtime *rt, const imgd_container *c, int status_w, const int *ports,
                         size_t n_ports, imgd_error **err)
{
    char bundle[4096], log_max[32], publish[64][32];
    const char *argv[32 + 2 * 64];
    size_t a = 0;
    runtime_path(bundle, sizeof bundle, rt, c->id, NULL);
    snprintf(log_max, sizeof log_max, "%lld", (long long)rt->cfg->container_log_max_bytes);
    const char *fixed[] = {rt->monitor_path, "--id",   c->id,
                           "--bundle",       bundle,   "--runtime",
                           rt->runtime_path, "--root", rt->runtime_root,
                           "--log-max",      log_max};
    for (size_t i = 0; i < IMGD_ARRAY_SIZE(fixed); i++)
        argv[a++] = fixed[i];
    if (rt->private_cgroup)
        argv[a++] = "--private-cgroup";
    const char *log = json_string_value(json_object_get(c->config, "log_path"));
    if (log) {
        argv[a++] = "--log";
        argv[a++] = log;
    }
    json_t *pm = json_object_get(c->config, "ports");
    for (size_t i = 0; i < n_ports && i < 64; i++) {
        snprintf(
            publish[i], sizeof publish[i], "%zu:%lld", 4 + i,
            (long long)json_integer_value(json_object_get(json_array_get(pm, i), "container")));
        argv[a++] = "--publish";
        argv[a++] = publish[i];
    }
    argv[a] = NULL;
    int pass[1 + 64];
    pass[0] = status_w;
    for (size_t i = 0; i < n_ports; i++)
        pass[1 + i] = ports[i];
    imgd_spawn_opts o = {.argv = argv,
                         .stdin_fd = -1,
                         .stdout_fd = -1,
                         .stderr_fd = -1,
                         .pass_fds = pass,
                         .n_pass_fds = 1 + n_ports,
                         .setsid = true};
    pid_t pid = -1;
    int r = imgd_spawn(&pid, &o, err);
    if (r < 0)
        return r;
    /* The monitor forks at once and its first process exits: reap it here. The monitor proper
     * becomes imgd's child (imgd is the subreaper) and is reaped when it ends. */
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    return 0;
}

static int container_start(imgd_runtime *rt, imgd_container *c, imgd_error **err)
{
    int ports[64] = {0};
    size_t n_ports = 0;
    int status[2] = {-1, -1};
    json_auto_t *st = NULL;
    int r = rootfs_mount(rt, c, err);
    if (r == 0)
        r = bundle_check(rt, c, err);
    if (r == 0 && json_array_size(json_object_get(c->config, "ports")) > IMGD_ARRAY_SIZE(ports))
        r = imgd_error_set(err, E2BIG, "too many published ports");
    if (r == 0)
        r = ports_bind(rt, c, ports, &n_ports, err);
    if (r == 0 && pipe2(status, O_CLOEXEC) < 0)
        r = imgd_error_errno(err, errno, "pipe");
    if (r == 0)
        r = monitor_spawn(rt, c, status[1], ports, n_ports, err);
    for (size_t i = 0; i < n_ports; i++)
        close(ports[i]);
    if (status[1] >= 0)
        close(status[1]);
    if (r == 0) {
        r = status_read(&st, status[0], START_TIMEOUT_MS);
        if (r < 0)
            r = imgd_error_errno(err, -r, "container '%s': no word from its monitor", c->name);
    }
    if (status[0] >= 0)
        close(status[0]);
    if (r < 0)
        return r;
    if (json_integer_value(json_object_get(st, "monitor")) > 1)
        runtime_child_add(rt, (pid_t)json_integer_value(json_object_get(st, "monitor")));
    free(c->last_error);
    c->last_error = NULL;
    if (json_is_true(json_object_get(st, "ok"))) {
        c->state = IMGD_CONTAINER_RUNNING;
        c->pid = (int)json_integer_value(json_object_get(st, "pid"));
        c->started = (int64_t)imgd_now_realtime_usec();
        c->finished = 0;
        c->exit_code = 0;
        return runtime_record_update(rt, c, err);
    }
    const char *msg = imgd_json_get_string(st, "error");
    (void)wait_gone(rt, c->id, KILL_WAIT_MS); /* the monitor is on its way out */
    c->last_error = strdup(msg ? msg : "the runtime failed");
    (void)runtime_record_update(rt, c, NULL);
    return imgd_error_set(err, EIO, "start container '%s': %s", c->name,
                          msg ? msg : "the runtime failed");
}

int imgd_runtime_start(imgd_runtime *rt, const char *name_or_id, imgd_container *out,
                       imgd_error **err)
{
    imgd_container c = {0};
    _cleanup_close_ int lock = -1;
    int r = runtime_require(rt, err);
    if (r == 0)
        r = op_begin(rt, name_or_id, &c, &lock, err);
    if (r < 0)
        return r;
    if (c.state != IMGD_CONTAINER_RUNNING)
        r = container_start(rt, &c, err);
    return op_end(&c, out, r);
}

/* ---- stop ---- */

/* Signal the container's init through a pidfd, after checking that the pid still names the
 * process the monitor is the parent of: a pid read from a file may have been reused. */
static int container_signal(imgd_runtime *rt, const imgd_container *c, int sig)
{
    int pid = runtime_read_pid(rt, c->id, "pid");
    int monitor = runtime_read_pid(rt, c->id, "monitor.pid");
    if (pid <= 0 || monitor <= 0)
        return -ESRCH;
    _cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0)
        return -errno;
    char path[64];
    _cleanup_free_ char *stat = NULL;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (imgd_read_file(&stat, NULL, path, 4096, NULL) < 0)
        return -ESRCH;
    /* "pid (comm) state ppid ...": comm may hold anything, so from the last ')' */
    const char *p = strrchr(stat, ')');
    char *end = NULL;
    long ppid = p && p[1] == ' ' && p[2] && p[3] == ' ' ? strtol(p + 4, &end, 10) : 0;
    if (!end || *end != ' ' || ppid != monitor)
        return -ESRCH;
    return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}

/* Wait for the monitor to end: on a pidfd of it when one can be had (the answer comes at the
 * exit, not at the next poll), else by polling its lock. The lock is checked after the pidfd
 * is open, so a reused pid cannot stand in for the monitor. */
static bool wait_gone(imgd_runtime *rt, const char *id, int64_t timeout_ms)
{
    uint64_t deadline = imgd_now_monotonic_usec() + (uint64_t)timeout_ms * 1000;
    int monitor = runtime_read_pid(rt, id, "monitor.pid");
    _cleanup_close_ int pidfd = monitor > 0 ? (int)syscall(SYS_pidfd_open, monitor, 0) : -1;
    useconds_t nap = 1000;
    while (runtime_monitor_alive(rt, id)) {
        uint64_t now = imgd_now_monotonic_usec();
        if (now >= deadline)
            return false;
        if (pidfd >= 0) {
            struct pollfd p = {.fd = pidfd, .events = POLLIN};
            int ms = (int)((deadline - now + 999) / 1000);
            if (poll(&p, 1, ms > 1000 ? 1000 : ms) < 0 && errno != EINTR) {
                close(pidfd);
                pidfd = -1; /* fall back to polling */
            }
            continue;
        }
        usleep(nap);
        nap = nap < 20000 ? nap * 2 : 20000;
    }
    return true;
}

static int container_stop(imgd_runtime *rt, imgd_container *c, int sig, int64_t timeout_ms,
                          imgd_error **err)
{
    if (c->state != IMGD_CONTAINER_RUNNING)
        return 0;
    /* While the stop is under way others see the container "stopping" (the marker goes with
     * the stop; one a crash left is ignored once the container is not running). */
    char marker[4096];
    runtime_path(marker, sizeof marker, rt, c->id, "stopping");
    (void)imgd_write_file_replace(marker, "", 0, 0600, NULL);
    int r = 0;
    if (sig != SIGKILL && container_signal(rt, c, sig) == 0 && wait_gone(rt, c->id, timeout_ms)) {
        runtime_refresh(rt, c);
    } else {
        (void)container_signal(rt, c, SIGKILL);
        if (!wait_gone(rt, c->id, KILL_WAIT_MS))
            r = imgd_error_set(err, EIO, "container '%s' did not exit after SIGKILL", c->name);
        else
            runtime_refresh(rt, c);
    }
    unlink(marker);
    c->stopping = false;
    return r;
}

int imgd_runtime_stop(imgd_runtime *rt, const char *name_or_id, int timeout_s, imgd_container *out,
                      imgd_error **err)
{
    imgd_container c = {0};
    _cleanup_close_ int lock = -1;
    int r = op_begin(rt, name_or_id, &c, &lock, err);
    if (r < 0)
        return r;
    int sig = signal_parse(imgd_json_get_string(c.config, "stop_signal"));
    r = container_stop(rt, &c, sig < 0 ? SIGTERM : sig,
                       (int64_t)(timeout_s < 0 ? rt->cfg->stop_timeout : timeout_s) * 1000, err);
    return op_end(&c, out, r);
}

/* ---- create and remove ---- */

static int name_check_free(imgd_runtime *rt, const char *name, imgd_error **err)
{
    imgd_container c = {0};
    int r = runtime_record_by_name(rt, name, &c);
    imgd_container_dispose(&c);
    if (r == 0)
        return imgd_error_set(err, EEXIST, "container name '%s' is already in use", name);
    return 0;
}

static int spec_check(imgd_runtime *rt, const imgd_container_spec *spec, imgd_error **err)
{
    if (!spec->name || !name_is_valid(spec->name))
        return imgd_error_set(err, EINVAL,
                              "invalid container name '%s': it must match "
                              "[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}",
                              spec->name ? spec->name : "");
    for (size_t i = 0; i < spec->n_ports; i++)
        for (size_t k = 0; k < i; k++)
            if (spec->ports[i].host == spec->ports[k].host)
                return imgd_error_set(err, EINVAL, "host port %u is published twice",
                                      spec->ports[i].host);
    if (spec->n_ports && spec->network_host)
        return imgd_error_set(err, EINVAL,
                              "ports cannot be published with network 'host': the container "
                              "uses the host's ports directly");
    if (!spec->image && !spec->rootfs)
        return imgd_error_set(err, EINVAL, "a container needs an image or a root directory");
    if (spec->rootfs && !spec->command)
        return imgd_error_set(err, EINVAL, "a container on a root directory needs a command");
    int r = check_volumes(spec, err);
    return r < 0 ? r : name_check_free(rt, spec->name, err);
}

static void create_undo(imgd_runtime *rt, const imgd_container *c)
{
    (void)container_dir_remove(rt, c->id);
    if (c->image_id && *c->image_id)
        (void)imgd_store_image_use(rt->store, c->image_id, c->id, false, NULL);
}

int imgd_runtime_create(imgd_runtime *rt, const imgd_container_spec *spec, bool start,
                        imgd_container *out, imgd_error **err)
{
    imgd_image img = {0};
    json_auto_t *icfg = NULL;
    imgd_container c = {0};
    int r = runtime_require(rt, err);
    if (r == 0)
        r = spec_check(rt, spec, err);
    if (r == 0 && spec->rootfs)
        icfg = json_object(); /* a system container: no image, its command given */
    else if (r == 0)
        r = imgd_store_image_find(rt->store, spec->image, &img, err);
    if (r == 0 && !icfg)
        r = image_config(&icfg, rt, &img, err);
    if (r == 0)
        r = resolve_config(&c.config, rt, spec, icfg, err);
    if (r == 0 && random_id(c.id) < 0)
        r = imgd_error_set(err, EIO, "no random bytes for a container id");
    if (r < 0) {
        imgd_image_dispose(&img);
        imgd_container_dispose(&c);
        return r;
    }
    snprintf(c.name, sizeof c.name, "%s", spec->name);
    c.image = strdup(spec->rootfs ? "" : spec->image);
    c.image_id = strdup(spec->rootfs ? "" : img.id);
    c.created = (int64_t)imgd_now_realtime_usec();
    c.state = IMGD_CONTAINER_CREATED;
    imgd_image_dispose(&img);
    r = !c.image || !c.image_id ? imgd_error_set(err, ENOMEM, "out of memory") : 0;
    if (r == 0 && c.image_id && *c.image_id)
        r = imgd_store_image_use(rt->store, c.image_id, c.id, true, err);
    if (r == 0 && (r = container_dir_make(rt, &c, err)) == 0)
        r = runtime_record_insert(rt, &c, err);
    if (r < 0) {
        if (c.image_id)
            create_undo(rt, &c);
        imgd_container_dispose(&c);
        return r;
    }
    if (start) {
        _cleanup_close_ int lock = runtime_op_lock(rt, c.id);
        r = lock < 0 ? imgd_error_errno(err, -lock, "container '%s': lock", c.name)
                     : container_start(rt, &c, err);
    }
    *out = c;
    return r;
}

int imgd_runtime_remove(imgd_runtime *rt, const char *name_or_id, bool force, imgd_container *out,
                        imgd_error **err)
{
    imgd_container c = {0};
    _cleanup_close_ int lock = -1;
    int r = op_begin(rt, name_or_id, &c, &lock, err);
    if (r < 0)
        return r;
    if (c.state == IMGD_CONTAINER_RUNNING && !force)
        r = imgd_error_set(err, EBUSY,
                           "container '%s' is running: stop it first, or remove it with force",
                           c.name);
    if (r == 0)
        r = container_stop(rt, &c, SIGKILL, 0, err);
    if (r == 0)
        r = runtime_record_delete(rt, c.id, err);
    if (r == 0) {
        /* The record is gone first: a crash from here on leaves a directory without a record,
         * which the next start removes, never a record without its files. */
        if (c.image_id && *c.image_id)
            (void)imgd_store_image_use(rt->store, c.image_id, c.id, false, NULL);
        (void)container_dir_remove(rt, c.id);
        if (rt->removed)
            rt->removed(rt->removed_arg, &c);
    }
    return op_end(&c, out, r);
}

/* ---- for the other files ---- */

int runtime_rootfs_mount(imgd_runtime *rt, const imgd_container *c, imgd_error **err)
{
    return rootfs_mount(rt, c, err);
}

int runtime_dir_remove(imgd_runtime *rt, const char *id)
{
    return container_dir_remove(rt, id);
}
