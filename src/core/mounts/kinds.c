/* SPDX-License-Identifier: MIT */
/* Each kind of attachment and mount: its schema, its kernel work, its undoing, its re-adoption
 * after a restart. Runs under the module's lock. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/store/images.h"
#include "core/store/unpack.h"
#include "drivers.h"
#include "mounts-private.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/json.h"

#define RBD_SYSFS "/sys/bus/rbd"

/* ---- schema helpers: a violation of the API's schema is -EBADMSG (422) ---- */

static int req_string(const json_t *sub, const char *key, const char **out, imgd_error **err)
{
    const char *v = json_string_value(json_object_get(sub, key));
    if (!v || !*v)
        return imgd_error_set(err, EBADMSG, "'%s' is required and must be a non-empty string", key);
    *out = v;
    return 0;
}

static int opt_bool(const json_t *sub, const char *key, bool *out, imgd_error **err)
{
    const json_t *v = json_object_get(sub, key);
    *out = false;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return imgd_error_set(err, EBADMSG, "'%s' must be a boolean", key);
    *out = json_is_true(v);
    return 0;
}

static int opt_strings(const json_t *sub, const char *key, json_t **out, imgd_error **err)
{
    const json_t *v = json_object_get(sub, key);
    *out = json_array();
    if (!v || json_is_null(v))
        return 0;
    size_t i;
    const json_t *e;
    if (!json_is_array(v))
        return imgd_error_set(err, EBADMSG, "'%s' must be an array of strings", key);
    json_array_foreach (v, i, e) {
        if (!json_is_string(e))
            return imgd_error_set(err, EBADMSG, "'%s' must be an array of strings", key);
        json_array_append(*out, (json_t *)e);
    }
    return 0;
}

static int base_enum(const json_t *sub, const char **out, imgd_error **err)
{
    int r = req_string(sub, "base", out, err);
    if (r == 0 && *out && strcmp(*out, "root") != 0 && strcmp(*out, "mount") != 0)
        return imgd_error_set(err, EBADMSG, "'base' must be 'root' or 'mount', not '%s'", *out);
    return r;
}

/* The base mount of a loopback attachment or a bind mount: resolved (created or referenced). */
static int base_mount(imgd_mounts *m, const json_t *sub, const char *base, json_t *deps,
                      json_t *out_sub, int depth, imgd_error **err)
{
    if (!base || strcmp(base, "mount") != 0)
        return 0;
    const json_t *spec = json_object_get(sub, "mount");
    if (!spec || json_is_null(spec))
        return imgd_error_set(err, EINVAL, "base 'mount' needs a 'mount'");
    int64_t id = 0;
    int r = mounts_resolve(m, "mount", spec, deps, &id, depth, err);
    if (r == 0)
        json_object_set_new(out_sub, "mount", json_pack("{s:I}", "id", (json_int_t)id));
    return r;
}

static json_t *dep_render(imgd_mounts *m, const json_t *sub, const char *key)
{
    json_int_t id = json_integer_value(json_object_get(json_object_get(sub, key), "id"));
    return id > 0 ? mounts_render_depth(m, id, 1) : NULL;
}

/* A path below the base ("/" or a mount's mountpoint), opened the way untrusted paths are:
 * inside the base, whatever its symbolic links say. */
static int base_open(imgd_mounts *m, const json_t *sub, int flags, imgd_error **err)
{
    const char *path = json_string_value(json_object_get(sub, "path"));
    const char *base = json_string_value(json_object_get(sub, "base"));
    json_auto_t *bm = !strcmp(base, "mount") ? dep_render(m, sub, "mount") : NULL;
    const char *root = bm ? json_string_value(json_object_get(bm, "mountpoint")) : "/";
    _cleanup_close_ int rootfd = root ? open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (rootfd < 0)
        return imgd_error_errno(err, errno, "open the base of '%s'", path);
    int fd = imgd_open_in_root(rootfd, path, flags, false);
    if (fd < 0)
        return imgd_error_set(err, EINVAL, "'%s' below %s: %s", path, root, strerror(-fd));
    return fd;
}

/* ---- attachments ---- */

static int rbd_prepare(const json_t *sub, json_t *body_sub, imgd_error **err)
{
    const char *pool = NULL, *image = NULL;
    const json_t *mons = json_object_get(sub, "monitors");
    int r = req_string(sub, "pool", &pool, err);
    if (r == 0)
        r = req_string(sub, "image", &image, err);
    if (r == 0 && (!json_is_array(mons) || json_array_size(mons) == 0))
        r = imgd_error_set(err, EBADMSG, "'monitors' is required: an array of addresses");
    if (r < 0)
        return r;
    if (access(RBD_SYSFS, F_OK) != 0)
        return imgd_error_set(err, EOPNOTSUPP,
                              "the kernel has no rbd support (%s is missing: load the rbd "
                              "module)",
                              RBD_SYSFS);
    json_object_update(body_sub, (json_t *)sub);
    return 0;
}

int mounts_attach_prepare(imgd_mounts *m, const char *kind, const json_t *sub, json_t *deps,
                          json_t **out_body, int depth, imgd_error **err)
{
    json_auto_t *bs = json_object();
    const char *path = NULL, *base = NULL;
    bool ro = false, parts = false;
    int r = 0;
    if (!strcmp(kind, "iscsi"))
        return imgd_error_set(err, EOPNOTSUPP, "iSCSI attachments are not implemented");
    if (!strcmp(kind, "rbd")) {
        r = rbd_prepare(sub, bs, err);
    } else if (!strcmp(kind, "local")) {
        r = req_string(sub, "path", &path, err);
        if (r == 0)
            json_object_set_new(bs, "path", json_string(path));
    } else { /* loopback */
        r = req_string(sub, "path", &path, err);
        if (r == 0)
            r = base_enum(sub, &base, err);
        if (r == 0)
            r = opt_bool(sub, "readPartitions", &parts, err);
        if (r == 0)
            r = opt_bool(sub, "ro", &ro, err);
        if (r == 0)
            json_object_set_new(bs, "path", json_string(path));
        if (r == 0)
            json_object_set_new(bs, "base", json_string(base));
        if (r == 0)
            json_object_set_new(bs, "readPartitions", json_boolean(parts));
        if (r == 0)
            json_object_set_new(bs, "ro", json_boolean(ro));
        if (r == 0)
            r = base_mount(m, sub, base, deps, bs, depth, err);
    }
    if (r < 0)
        return r;
    *out_body = json_pack("{s:s, s:O, s:s}", "kind", kind, kind, bs, "device_file", "");
    return *out_body ? 0 : imgd_error_set(err, ENOMEM, "out of memory");
}

static int loopback_setup(imgd_mounts *m, mobj *o, json_t *sub, imgd_error **err)
{
    bool ro = json_is_true(json_object_get(sub, "ro"));
    _cleanup_close_ int ffd = base_open(m, sub, ro ? O_RDONLY : O_RDWR, err);
    if (ffd < 0 && !ro && err && *err) {
        /* a read-only file or filesystem: attach read-only, as losetup does */
        imgd_error_free(*err);
        *err = NULL;
        ro = true;
        ffd = base_open(m, sub, O_RDONLY, err);
        json_object_set_new(sub, "ro", json_true()); /* and so after a restart */
    }
    if (ffd < 0)
        return ffd;
    char proc[64], dev[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", ffd);
    _cleanup_free_ char *file = realpath(proc, NULL);
    int fd = -1;
    int r = imgd_loop_attach(&fd, dev, sizeof dev, proc, ro,
                             json_is_true(json_object_get(sub, "readPartitions")), err);
    if (r < 0)
        return r;
    mounts_loop_keep(m, o->id, fd);
    json_object_set_new(o->body, "device_file", json_string(dev));
    json_object_set_new(o->body, "_internal", json_pack("{s:s?}", "file", file));
    return 0;
}

/* "mon1,mon2 name=N,secret=S[,ro][,_pool_ns=NS] pool image [snap]" into the kernel. */
static int rbd_setup(mobj *o, json_t *sub, imgd_error **err)
{
    const json_t *opts = json_object_get(sub, "options");
    const char *name = json_string_value(json_object_get(opts, "name"));
    const char *secret = json_string_value(json_object_get(opts, "secret"));
    const char *ns = json_string_value(json_object_get(opts, "namespace"));
    const char *snap = json_string_value(json_object_get(sub, "snapshot"));
    if (!name || !*name || !secret || !*secret)
        return imgd_error_set(err, EINVAL, "rbd options 'name' and 'secret' are required");
    imgd_buf b = {0};
    size_t i;
    const json_t *mon;
    json_array_foreach (json_object_get(sub, "monitors"), i, mon)
        imgd_buf_printf(&b, "%s%s", i ? "," : "", json_string_value(mon) ?: "");
    imgd_buf_printf(&b, " name=%s,secret=%s%s%s%s %s %s%s%s", name, secret,
                    json_is_true(json_object_get(opts, "ro")) ? ",ro" : "", ns ? ",_pool_ns=" : "",
                    ns ? ns : "", json_string_value(json_object_get(sub, "pool")),
                    json_string_value(json_object_get(sub, "image")), snap ? " " : "",
                    snap ? snap : "");
    int fd = open(RBD_SYSFS "/add_single_major", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        fd = open(RBD_SYSFS "/add", O_WRONLY | O_CLOEXEC);
    int r = fd < 0 || b.failed ? -EIO : imgd_write_all(fd, b.data, b.len);
    explicit_bzero(b.data, b.len); /* it held the secret */
    imgd_buf_dispose(&b);
    if (fd >= 0)
        close(fd);
    if (r < 0)
        return imgd_error_set(err, EIO, "map rbd image '%s': the kernel refused it",
                              json_string_value(json_object_get(sub, "image")));
    (void)o;
    return 0;
}

static int local_setup(mobj *o, json_t *sub, imgd_error **err)
{
    const char *path = json_string_value(json_object_get(sub, "path"));
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISBLK(st.st_mode))
        return imgd_error_set(err, EINVAL, "'%s' is not a block device", path);
    json_object_set_new(o->body, "device_file", json_string(path));
    return 0;
}

/* ---- mounts ---- */

static int overlay_prepare(imgd_mounts *m, const json_t *sub, json_t *deps, json_t *bs, int depth,
                           imgd_error **err)
{
    const json_t *lower = json_object_get(sub, "lower");
    const json_t *persistent = json_object_get(sub, "persistent");
    if (lower && !json_is_array(lower))
        return imgd_error_set(err, EBADMSG, "'lower' must be an array of mounts");
    if (json_array_size(lower) == 0)
        return imgd_error_set(err, EINVAL, "an overlay needs at least one lower mount");
    if (persistent && !json_is_null(persistent) &&
        (!json_is_string(persistent) || json_string_value(persistent)[0] != '/'))
        return imgd_error_set(err, EINVAL, "'persistent' must be an absolute directory");
    json_t *ids = json_array();
    json_object_set_new(bs, "lower", ids);
    size_t i;
    const json_t *l;
    json_array_foreach (lower, i, l) {
        int64_t id = 0;
        int r = mounts_resolve(m, "mount", l, deps, &id, depth, err);
        if (r < 0)
            return r;
        json_array_append_new(ids, json_pack("{s:I}", "id", (json_int_t)id));
    }
    if (json_is_string(persistent))
        json_object_set(bs, "persistent", (json_t *)persistent);
    return 0;
}

static int attach_mount_prepare(imgd_mounts *m, const json_t *sub, json_t *deps, json_t *bs,
                                int depth, imgd_error **err)
{
    const char *fs = NULL;
    json_auto_t *opts = NULL;
    int r = req_string(sub, "fs_type", &fs, err);
    if (r == 0)
        r = opt_strings(sub, "mount_options", &opts, err);
    if (r == 0 && !json_is_object(json_object_get(sub, "attach")))
        r = imgd_error_set(err, EBADMSG, "'attach' is required: an attachment or {\"id\": N}");
    if (r < 0)
        return r;
    const char *words[64];
    size_t n = 0, i;
    const json_t *w;
    json_array_foreach (opts, i, w)
        if (n < 64)
            words[n++] = json_string_value(w);
    imgd_mount_opts parsed;
    r = json_array_size(opts) > 64 ? imgd_error_set(err, EINVAL, "more than 64 mount options")
                                   : imgd_mount_opts_parse(&parsed, words, n, err);
    if (r == 0 && !imgd_kernel_has_fs(fs))
        r = imgd_error_set(err, EOPNOTSUPP, "filesystem type '%s' is not supported by this kernel",
                           fs);
    int64_t id = 0;
    if (r == 0)
        r = mounts_resolve(m, "attach", json_object_get(sub, "attach"), deps, &id, depth, err);
    if (r < 0)
        return r;
    json_object_set_new(bs, "attach", json_pack("{s:I}", "id", (json_int_t)id));
    json_object_set_new(bs, "fs_type", json_string(fs));
    json_object_set(bs, "mount_options", opts);
    return 0;
}

static int bind_prepare(imgd_mounts *m, const json_t *sub, json_t *deps, json_t *bs, int depth,
                        imgd_error **err)
{
    const char *path = NULL, *base = NULL;
    bool rec = false, ro = false;
    int r = req_string(sub, "path", &path, err);
    if (r == 0)
        r = base_enum(sub, &base, err);
    if (r == 0)
        r = opt_bool(sub, "recursive", &rec, err);
    if (r == 0)
        r = opt_bool(sub, "ro", &ro, err);
    if (r < 0)
        return r;
    json_object_set_new(bs, "path", json_string(path));
    json_object_set_new(bs, "base", json_string(base));
    json_object_set_new(bs, "recursive", json_boolean(rec));
    json_object_set_new(bs, "ro", json_boolean(ro));
    return base_mount(m, sub, base, deps, bs, depth, err);
}

static int nfs_prepare(const json_t *sub, json_t *bs, imgd_error **err)
{
    const char *host = NULL, *path = NULL;
    json_auto_t *opts = NULL;
    bool ro = false;
    int r = req_string(sub, "host", &host, err);
    if (r == 0)
        r = req_string(sub, "path", &path, err);
    if (r == 0)
        r = opt_bool(sub, "ro", &ro, err);
    if (r == 0)
        r = opt_strings(sub, "options", &opts, err);
    if (r < 0)
        return r;
    if (!imgd_kernel_has_fs("nfs") && !imgd_kernel_has_fs("nfs4"))
        return imgd_error_set(err, EOPNOTSUPP,
                              "the kernel has no NFS client (no nfs in /proc/filesystems)");
    const char *version = json_string_value(json_object_get(sub, "version"));
    json_object_set_new(bs, "host", json_string(host));
    json_object_set_new(bs, "path", json_string(path));
    json_object_set_new(bs, "ro", json_boolean(ro));
    json_object_set_new(bs, "version", json_string(version ? version : "4.2"));
    json_object_set(bs, "options", opts);
    return 0;
}

static int image_prepare(imgd_mounts *m, const json_t *sub, json_t *bs, imgd_error **err)
{
    const char *name = NULL;
    int r = req_string(sub, "image", &name, err);
    imgd_image img = {0};
    if (r == 0)
        r = imgd_store_image_find(m->store, name, &img, err);
    if (r == 0) {
        json_object_set_new(bs, "image", json_string(name));
        json_object_set_new(bs, "image_id", json_string(img.id));
    }
    imgd_image_dispose(&img);
    return r;
}

int mounts_mount_prepare(imgd_mounts *m, const char *kind, const json_t *sub, json_t *deps,
                         json_t **out_body, int depth, imgd_error **err)
{
    json_auto_t *bs = json_object();
    int r;
    if (!strcmp(kind, "uri"))
        return imgd_error_set(err, EOPNOTSUPP, "mounts of kind 'uri' are not implemented");
    if (!strcmp(kind, "attach"))
        r = attach_mount_prepare(m, sub, deps, bs, depth, err);
    else if (!strcmp(kind, "overlay"))
        r = overlay_prepare(m, sub, deps, bs, depth, err);
    else if (!strcmp(kind, "bind"))
        r = bind_prepare(m, sub, deps, bs, depth, err);
    else if (!strcmp(kind, "nfs"))
        r = nfs_prepare(sub, bs, err);
    else
        r = image_prepare(m, sub, bs, err);
    if (r < 0)
        return r;
    *out_body = json_pack("{s:s, s:O, s:s}", "kind", kind, kind, bs, "mountpoint", "");
    return *out_body ? 0 : imgd_error_set(err, ENOMEM, "out of memory");
}

static int do_mount(const char *src, const char *target, const char *type, unsigned long flags,
                    const char *data, const char *what, imgd_error **err)
{
    if (mount(src, target, type, flags, data) == 0)
        return 0;
    int e = errno;
    if (e == ENODEV)
        return imgd_error_set(err, EOPNOTSUPP, "mount %s: filesystem type '%s' not supported", what,
                              type ? type : "");
    return imgd_error_set(err, EIO, "mount %s: %s", what, strerror(e));
}

static int attach_mount_setup(imgd_mounts *m, json_t *sub, const char *mp, imgd_error **err)
{
    json_auto_t *att = dep_render(m, sub, "attach");
    const char *dev = json_string_value(json_object_get(att, "device_file"));
    const char *fs = json_string_value(json_object_get(sub, "fs_type"));
    const char *words[64];
    size_t n = 0, i;
    const json_t *w;
    json_array_foreach (json_object_get(sub, "mount_options"), i, w)
        if (n < 64)
            words[n++] = json_string_value(w);
    imgd_mount_opts o;
    int r = imgd_mount_opts_parse(&o, words, n, err);
    if (r == 0 && (!dev || !*dev))
        r = imgd_error_set(err, EIO, "the attachment has no device");
    return r < 0 ? r : do_mount(dev, mp, fs, o.flags, o.data[0] ? o.data : NULL, dev, err);
}

static int overlay_setup(imgd_mounts *m, mobj *o, json_t *sub, const char *mp, imgd_error **err)
{
    char top[4200], upper[4300], work[4300];
    const char *persistent = json_string_value(json_object_get(sub, "persistent"));
    int r = 0;
    if (persistent) {
        snprintf(top, sizeof top, "%s", persistent);
        r = imgd_mkdir_p(top, 0755, err);
    } else {
        /* upper and work on a tmpfs of their own: writes are lost with the overlay */
        snprintf(top, sizeof top, "%s/overlay_%lld", m->mount_dir, (long long)o->id);
        r = imgd_mkdir_p(top, 0700, err);
        if (r == 0 && !imgd_path_is_mountpoint(top))
            r = do_mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", top, err);
    }
    snprintf(upper, sizeof upper, "%s/upper", top);
    snprintf(work, sizeof work, "%s/work", top);
    if (r == 0)
        r = imgd_mkdir_p(upper, 0755, err);
    if (r == 0)
        r = imgd_mkdir_p(work, 0700, err);
    imgd_buf opts = {0};
    imgd_buf_printf(&opts, "lowerdir=");
    size_t i;
    json_t *l;
    json_array_foreach (json_object_get(sub, "lower"), i, l) {
        json_auto_t *lo = mounts_render_depth(m, json_integer_value(json_object_get(l, "id")), 1);
        imgd_buf_printf(&opts, "%s%s", i ? ":" : "",
                        json_string_value(json_object_get(lo, "mountpoint")) ?: "");
    }
    imgd_buf_printf(&opts, ",upperdir=%s,workdir=%s", upper, work);
    if (r == 0 && (opts.failed || opts.len >= 4096))
        r = imgd_error_set(err, E2BIG, "overlay options exceed one page");
    if (r == 0)
        r = do_mount("overlay", mp, "overlay", 0, opts.data, "overlay", err);
    imgd_buf_dispose(&opts);
    json_object_set_new(sub, "upperdir", json_string(upper));
    json_object_set_new(sub, "workdir", json_string(work));
    json_object_set_new(o->body, "_internal",
                        json_pack("{s:s, s:b}", "top", top, "tmpfs", persistent == NULL));
    return r;
}

static int bind_setup(imgd_mounts *m, json_t *sub, const char *mp, imgd_error **err)
{
    _cleanup_close_ int fd = base_open(m, sub, O_PATH, err);
    if (fd < 0)
        return fd;
    char src[64];
    snprintf(src, sizeof src, "/proc/self/fd/%d", fd);
    unsigned long rec = json_is_true(json_object_get(sub, "recursive")) ? MS_REC : 0;
    int r = do_mount(src, mp, NULL, MS_BIND | rec, NULL, "bind", err);
    /* MS_RDONLY is ignored in the bind itself: a read-only bind is a remount */
    if (r == 0 && json_is_true(json_object_get(sub, "ro")))
        r = do_mount(NULL, mp, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | rec, NULL, "bind ro", err);
    if (r < 0)
        imgd_unmount_all(mp);
    return r;
}

static int nfs_setup(json_t *sub, const char *mp, imgd_error **err)
{
    const char *host = json_string_value(json_object_get(sub, "host"));
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    char ip[64] = "";
    if (getaddrinfo(host, NULL, &hints, &ai) != 0 || !ai)
        return imgd_error_set(err, EINVAL, "NFS server '%s' cannot be resolved", host);
    getnameinfo(ai->ai_addr, ai->ai_addrlen, ip, sizeof ip, NULL, 0, NI_NUMERICHOST);
    freeaddrinfo(ai);
    imgd_buf data = {0}, src = {0};
    size_t i;
    json_t *w;
    json_array_foreach (json_object_get(sub, "options"), i, w)
        imgd_buf_printf(&data, "%s,", json_string_value(w));
    imgd_buf_printf(&data, "addr=%s,vers=%s", ip,
                    json_string_value(json_object_get(sub, "version")));
    imgd_buf_printf(&src, "%s:%s", host, json_string_value(json_object_get(sub, "path")));
    int r = data.failed || src.failed
                ? imgd_error_set(err, ENOMEM, "out of memory")
                : do_mount(src.data, mp, "nfs",
                           json_is_true(json_object_get(sub, "ro")) ? MS_RDONLY : 0, data.data,
                           src.data, err);
    imgd_buf_dispose(&data);
    imgd_buf_dispose(&src);
    return r;
}

/* An OCI image of the store as a read-only tree: its layers as an overlay's lower stack, or
 * the one layer bound read-only. */
static int image_setup(imgd_mounts *m, mobj *o, json_t *sub, const char *mp, imgd_error **err)
{
    imgd_image img = {0};
    const char *id = json_string_value(json_object_get(sub, "image_id"));
    int r = imgd_store_image_find(m->store, id, &img, err);
    char user[64], path[4096];
    snprintf(user, sizeof user, "imageapi:%lld", (long long)o->id);
    if (r == 0)
        r = imgd_store_image_use(m->store, img.id, user, true, err);
    imgd_buf opts = {0};
    imgd_buf_printf(&opts, "lowerdir=");
    for (size_t i = img.n_layers; r == 0 && i-- > 0;) {
        imgd_store_layer_path(path, sizeof path, m->store, img.layers[i].chain_id);
        imgd_buf_printf(&opts, "%s%s", i + 1 < img.n_layers ? ":" : "", path);
    }
    if (r == 0 && img.n_layers == 1)
        r = do_mount(path, mp, NULL, MS_BIND, NULL, "image layer", err);
    if (r == 0 && img.n_layers == 1)
        r = do_mount(NULL, mp, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL, "image ro", err);
    else if (r == 0 && img.n_layers > 1)
        r = do_mount("overlay", mp, "overlay", MS_RDONLY, opts.data, "image layers", err);
    else if (r == 0)
        r = imgd_error_set(err, EINVAL, "image '%s' has no layers", id);
    imgd_buf_dispose(&opts);
    imgd_image_dispose(&img);
    return r;
}

static int mount_setup(imgd_mounts *m, mobj *o, imgd_error **err)
{
    char mp[4200];
    snprintf(mp, sizeof mp, "%s/mount_%lld", m->mount_dir, (long long)o->id);
    if (mkdir(mp, 0755) < 0 && errno != EEXIST)
        return imgd_error_errno(err, errno, "create %s", mp);
    json_object_set_new(o->body, "mountpoint", json_string(mp));
    json_t *sub = json_object_get(o->body, o->kind);
    int r;
    if (!strcmp(o->kind, "attach"))
        r = attach_mount_setup(m, sub, mp, err);
    else if (!strcmp(o->kind, "overlay"))
        r = overlay_setup(m, o, sub, mp, err);
    else if (!strcmp(o->kind, "bind"))
        r = bind_setup(m, sub, mp, err);
    else if (!strcmp(o->kind, "nfs"))
        r = nfs_setup(sub, mp, err);
    else
        r = image_setup(m, o, sub, mp, err);
    if (r < 0)
        mounts_teardown(m, o);
    return r;
}

int mounts_setup(imgd_mounts *m, mobj *o, imgd_error **err)
{
    if (!strcmp(o->type, "mount"))
        return mount_setup(m, o, err);
    json_t *sub = json_object_get(o->body, o->kind);
    if (!strcmp(o->kind, "loopback"))
        return loopback_setup(m, o, sub, err);
    if (!strcmp(o->kind, "local"))
        return local_setup(o, sub, err);
    return rbd_setup(o, sub, err);
}

/* ---- teardown, re-adoption ---- */

static void rbd_teardown(const mobj *o)
{
    const char *dev = json_string_value(json_object_get(o->body, "device_file"));
    const char *n = dev ? strpbrk(dev, "0123456789") : NULL;
    int fd = n ? open(RBD_SYSFS "/remove_single_major", O_WRONLY | O_CLOEXEC) : -1;
    if (n && fd < 0)
        fd = open(RBD_SYSFS "/remove", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)imgd_write_all(fd, n, strlen(n));
        close(fd);
    }
}

void mounts_teardown(imgd_mounts *m, mobj *o)
{
    const json_t *internal = json_object_get(o->body, "_internal");
    if (!strcmp(o->type, "attach")) {
        int fd = mounts_loop_take(m, o->id);
        const char *file = json_string_value(json_object_get(internal, "file"));
        char dev[64];
        if (fd < 0 && file && !strcmp(o->kind, "loopback"))
            (void)imgd_loop_find(&fd, dev, sizeof dev, file);
        imgd_loop_detach(fd);
        if (!strcmp(o->kind, "rbd"))
            rbd_teardown(o);
        return;
    }
    const char *mp = json_string_value(json_object_get(o->body, "mountpoint"));
    if (mp && *mp) {
        imgd_unmount_all(mp);
        rmdir(mp);
    }
    const char *top = json_string_value(json_object_get(internal, "top"));
    if (top && json_is_true(json_object_get(internal, "tmpfs"))) {
        imgd_unmount_all(top);
        _cleanup_close_ int dfd = open(m->mount_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        const char *base = strrchr(top, '/');
        if (dfd >= 0 && base)
            (void)imgd_remove_tree_at(dfd, base + 1);
    }
    if (!strcmp(o->kind, "image")) {
        char user[64];
        snprintf(user, sizeof user, "imageapi:%lld", (long long)o->id);
        const char *id =
            json_string_value(json_object_get(json_object_get(o->body, "image"), "image_id"));
        if (id)
            (void)imgd_store_image_use(m->store, id, user, false, NULL);
    }
}

int mounts_readopt_one(imgd_mounts *m, mobj *o)
{
    if (!strcmp(o->type, "attach")) {
        if (strcmp(o->kind, "loopback") != 0)
            return 0;
        const char *file =
            json_string_value(json_object_get(json_object_get(o->body, "_internal"), "file"));
        char dev[64];
        int fd = -1;
        if (file && imgd_loop_find(&fd, dev, sizeof dev, file) == 0) {
            mounts_loop_keep(m, o->id, fd);
            json_object_set_new(o->body, "device_file", json_string(dev));
            return mobj_save(m, o, NULL);
        }
    } else {
        const char *mp = json_string_value(json_object_get(o->body, "mountpoint"));
        if (mp && *mp && imgd_path_is_mountpoint(mp))
            return 0;
    }
    int r = mounts_setup(m, o, NULL); /* gone with a reboot, or cleared: set it up again */
    return r < 0 ? r : mobj_save(m, o, NULL);
}
