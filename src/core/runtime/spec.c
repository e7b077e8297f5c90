/* SPDX-License-Identifier: MIT */
#include "spec.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/cleanup.h"

/* Docker's and podman's default capability set. */
static const char *const default_caps[] = {
    "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",      "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID",       "CAP_SETUID",           "CAP_SETFCAP",     "CAP_SETPCAP",
    "CAP_KILL",    "CAP_SYS_CHROOT",   "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE",
};

static const char *const masked_paths[] = {
    "/proc/acpi",          "/proc/asound",     "/proc/kcore",       "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/sys/firmware",       "/proc/scsi",
};

static const char *const readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

static json_t *strings_json(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

json_t *imgd_spec_process(const json_t *args, const json_t *env, const char *cwd,
                          const imgd_user_ids *ids, uint64_t nofile_max)
{
    json_t *gids = json_array();
    for (size_t i = 0; gids && i < ids->n_gids; i++)
        json_array_append_new(gids, json_integer(ids->gids[i]));
    json_t *caps = strings_json(default_caps, IMGD_ARRAY_SIZE(default_caps));
    /* A non-root process gets the set as its bounding set only, as docker does since 20.10:
     * effective capabilities would let it bypass file permissions (CAP_DAC_OVERRIDE). */
    json_t *held = ids->uid == 0 ? json_incref(caps) : json_array();
    /* 1048576 as podman asks, but never above the host's hard limit: without CAP_SYS_RESOURCE
     * the runtime cannot raise it and the start would fail. */
    json_int_t nofile = (json_int_t)(nofile_max < 1048576 ? nofile_max : 1048576);
    return json_pack("{s:b, s:{s:I, s:I, s:o}, s:O, s:O, s:s, s:{s:o, s:O, s:o}, s:[{s:s, s:I, "
                     "s:I}], s:b}",
                     "terminal", 0, "user", "uid", (json_int_t)ids->uid, "gid",
                     (json_int_t)ids->gid, "additionalGids", gids, "args", args, "env", env, "cwd",
                     cwd && *cwd ? cwd : "/", "capabilities", "bounding", caps, "effective", held,
                     "permitted", held, "rlimits", "type", "RLIMIT_NOFILE", "hard", nofile, "soft",
                     nofile, "noNewPrivileges", 0);
}

static json_t *mount_json(const char *dest, const char *type, const char *source,
                          const char *options)
{
    json_t *opts = json_array();
    char buf[256];
    snprintf(buf, sizeof buf, "%s", options);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok && opts;
         tok = strtok_r(NULL, ",", &save))
        json_array_append_new(opts, json_string(tok));
    return json_pack("{s:s, s:s, s:s, s:o}", "destination", dest, "type", type, "source", source,
                     "options", opts);
}

static int spec_mounts(json_t *mounts, const imgd_spec_inputs *in)
{
    json_array_append_new(mounts, mount_json("/proc", "proc", "proc", "nosuid,noexec,nodev"));
    json_array_append_new(
        mounts, mount_json("/dev", "tmpfs", "tmpfs", "nosuid,strictatime,mode=755,size=65536k"));
    json_array_append_new(mounts, mount_json("/dev/pts", "devpts", "devpts",
                                             "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,"
                                             "gid=5"));
    json_array_append_new(mounts, mount_json("/dev/shm", "tmpfs", "shm",
                                             "nosuid,noexec,nodev,mode=1777,size=65536k"));
    json_array_append_new(mounts,
                          mount_json("/dev/mqueue", "mqueue", "mqueue", "nosuid,noexec,nodev"));
    json_array_append_new(mounts, mount_json("/sys", "sysfs", "sysfs", "nosuid,noexec,nodev,ro"));
    bool systemd = json_is_true(json_object_get(in->config, "systemd"));
    /* systemd wants to write its cgroups, and tmpfs at /run, /tmp and /var/lib/journal */
    json_array_append_new(mounts, mount_json("/sys/fs/cgroup", "cgroup", "cgroup",
                                             systemd ? "nosuid,noexec,nodev,relatime"
                                                     : "nosuid,noexec,nodev,relatime,ro"));
    if (systemd) {
        json_array_append_new(mounts,
                              mount_json("/run", "tmpfs", "tmpfs", "nosuid,nodev,mode=755"));
        json_array_append_new(mounts,
                              mount_json("/tmp", "tmpfs", "tmpfs", "nosuid,nodev,mode=1777"));
        json_array_append_new(
            mounts, mount_json("/var/lib/journal", "tmpfs", "tmpfs", "nosuid,nodev,mode=755"));
    }
    json_array_append_new(mounts, mount_json("/etc/hosts", "bind", in->hosts_file, "rbind,ro"));
    if (in->hostname_file)
        json_array_append_new(mounts,
                              mount_json("/etc/hostname", "bind", in->hostname_file, "rbind,ro"));
    if (in->resolv_file)
        json_array_append_new(mounts,
                              mount_json("/etc/resolv.conf", "bind", in->resolv_file, "rbind,ro"));
    size_t i;
    json_t *v;
    json_array_foreach (json_object_get(in->config, "volumes"), i, v) {
        const char *host = json_string_value(json_object_get(v, "host"));
        const char *ctr = json_string_value(json_object_get(v, "container"));
        if (!host || !ctr)
            return -EINVAL;
        json_array_append_new(mounts, mount_json(ctr, "bind", host,
                                                 json_is_true(json_object_get(v, "readonly"))
                                                     ? "rbind,rprivate,ro"
                                                     : "rbind,rprivate"));
    }
    return 0;
}

static json_t *spec_resources(const json_t *config)
{
    json_t *r = json_pack("{s:[{s:b, s:s}]}", "devices", "allow", 0, "access", "rwm");
    json_int_t memory = json_integer_value(json_object_get(config, "memory"));
    json_int_t cpu = json_integer_value(json_object_get(config, "cpu_millis"));
    json_int_t pids = json_integer_value(json_object_get(config, "pids_limit"));
    if (r && memory > 0)
        json_object_set_new(r, "memory", json_pack("{s:I}", "limit", memory));
    if (r && cpu > 0)
        json_object_set_new(
            r, "cpu", json_pack("{s:I, s:I}", "quota", cpu * 100, "period", (json_int_t)100000));
    if (r && pids > 0)
        json_object_set_new(r, "pids", json_pack("{s:I}", "limit", pids));
    return r;
}

/* The ImageAPI's namespace names as the OCI spec's types; NULL for an unknown one. */
static const char *ns_type(const char *name)
{
    static const char *const map[][2] = {
        {"mnt", "mount"},   {"pid", "pid"},       {"ipc", "ipc"},   {"uts", "uts"},
        {"net", "network"}, {"cgroup", "cgroup"}, {"user", "user"}, {"time", "time"},
    };
    for (size_t i = 0; name && i < IMGD_ARRAY_SIZE(map); i++)
        if (!strcmp(name, map[i][0]))
            return map[i][1];
    return NULL;
}

static json_t *spec_linux(const imgd_spec_inputs *in)
{
    bool host_net =
        !strcmp(json_string_value(json_object_get(in->config, "network")) ?: "none", "host");
    const json_t *asked = json_object_get(in->config, "namespaces");
    json_t *ns = NULL;
    bool user = false;
    if (json_is_array(asked)) {
        ns = json_array();
        size_t i;
        const json_t *n;
        json_array_foreach (asked, i, n) {
            const char *t = ns_type(json_string_value(n));
            user = user || (t && !strcmp(t, "user"));
            if (t)
                json_array_append_new(ns, json_pack("{s:s}", "type", t));
        }
    } else {
        ns = json_pack("[{s:s}, {s:s}, {s:s}, {s:s}]", "type", "pid", "type", "ipc", "type", "uts",
                       "type", "mount");
        if (ns && !host_net)
            json_array_append_new(ns, json_pack("{s:s}", "type", "network"));
    }
    char cgroup[256];
    snprintf(cgroup, sizeof cgroup, "/%s/%s", in->cgroup_parent, in->id);
    json_t *lin =
        json_pack("{s:o, s:s, s:o, s:o, s:o}", "namespaces", ns, "cgroupsPath", cgroup, "resources",
                  spec_resources(in->config), "maskedPaths",
                  strings_json(masked_paths, IMGD_ARRAY_SIZE(masked_paths)), "readonlyPaths",
                  strings_json(readonly_paths, IMGD_ARRAY_SIZE(readonly_paths)));
    /* A user namespace without a mapping has no root: map the whole id range onto itself (the
     * namespace separates, the ids stay the host's). */
    if (lin && user) {
        json_object_set_new(lin, "uidMappings",
                            json_pack("[{s:i, s:i, s:I}]", "containerID", 0, "hostID", 0, "size",
                                      (json_int_t)4294967295LL));
        json_object_set_new(lin, "gidMappings",
                            json_pack("[{s:i, s:i, s:I}]", "containerID", 0, "hostID", 0, "size",
                                      (json_int_t)4294967295LL));
    }
    return lin;
}

int imgd_spec_build(json_t **out, const imgd_spec_inputs *in, imgd_error **err)
{
    const json_t *args = json_object_get(in->config, "args");
    const json_t *env = json_object_get(in->config, "env");
    if (!json_is_array(args) || json_array_size(args) == 0 || !json_is_array(env))
        return imgd_error_set(err, EINVAL, "container has no command to run");
    json_t *process =
        imgd_spec_process(args, env, json_string_value(json_object_get(in->config, "workdir")),
                          in->ids, in->nofile_max);
    json_auto_t *mounts = json_array();
    if (!process || !mounts || spec_mounts(mounts, in) < 0) {
        json_decref(process);
        return imgd_error_set(err, EINVAL, "container configuration is malformed");
    }
    json_t *spec =
        json_pack("{s:s, s:o, s:{s:s, s:b}, s:s, s:O, s:o}", "ociVersion", "1.0.2", "process",
                  process, "root", "path", in->root_path ? in->root_path : "rootfs", "readonly", 0,
                  "hostname", in->hostname, "mounts", mounts, "linux", spec_linux(in));
    if (!spec)
        return imgd_error_set(err, ENOMEM, "out of memory");
    *out = spec;
    return 0;
}
