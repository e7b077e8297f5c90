/* SPDX-License-Identifier: MIT */
#include "drivers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"

static const struct {
    const char *word;
    unsigned long set, clear;
} flag_words[] = {
    {"ro", MS_RDONLY, 0},
    {"rdonly", MS_RDONLY, 0},
    {"rw", 0, MS_RDONLY},
    {"nosuid", MS_NOSUID, 0},
    {"suid", 0, MS_NOSUID},
    {"nodev", MS_NODEV, 0},
    {"dev", 0, MS_NODEV},
    {"noexec", MS_NOEXEC, 0},
    {"exec", 0, MS_NOEXEC},
    {"noatime", MS_NOATIME, 0},
    {"nodiratime", MS_NODIRATIME, 0},
    {"relatime", MS_RELATIME, 0},
    {"strictatime", MS_STRICTATIME, 0},
    {"sync", MS_SYNCHRONOUS, 0},
    {"async", 0, MS_SYNCHRONOUS},
    {"dirsync", MS_DIRSYNC, 0},
    {"bind", MS_BIND, 0},
    {"rbind", MS_BIND | MS_REC, 0},
    {"defaults", 0, 0},
};

int imgd_mount_opts_parse(imgd_mount_opts *out, const char *const *words, size_t n,
                          imgd_error **err)
{
    imgd_mount_opts o = {0};
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        const char *w = words[i];
        if (!w || !*w || strchr(w, ','))
            return imgd_error_set(err, EINVAL, "mount option '%s' is empty or holds a comma",
                                  w ? w : "");
        if (!strcmp(w, "loop"))
            return imgd_error_set(err, EINVAL,
                                  "mount option 'loop' is not supported: attach the file with a "
                                  "loopback attachment");
        bool flag = false;
        for (size_t k = 0; k < sizeof flag_words / sizeof flag_words[0] && !flag; k++)
            if (!strcmp(w, flag_words[k].word)) {
                o.flags = (o.flags | flag_words[k].set) & ~flag_words[k].clear;
                flag = true;
            }
        if (flag)
            continue;
        int len = snprintf(o.data + used, sizeof o.data - used, "%s%s", used ? "," : "", w);
        if (len < 0 || (size_t)len >= sizeof o.data - used)
            return imgd_error_set(err, E2BIG, "mount options are longer than %zu bytes",
                                  sizeof o.data - 1);
        used += (size_t)len;
    }
    *out = o;
    return 0;
}

static int loop_configure(int *out_fd, char *dev, size_t dev_len, int file_fd, const char *file,
                          unsigned flags)
{
    _cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0)
        return -errno;
    /* Another process may take the free device between GET_FREE and CONFIGURE: try again. */
    for (int attempt = 0; attempt < 16; attempt++) {
        int n = ioctl(ctl, LOOP_CTL_GET_FREE);
        if (n < 0)
            return -errno;
        snprintf(dev, dev_len, "/dev/loop%d", n);
        int fd = open(dev, O_RDWR | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        struct loop_config cfg = {.fd = (unsigned)file_fd};
        cfg.info.lo_flags = flags;
        snprintf((char *)cfg.info.lo_file_name, sizeof cfg.info.lo_file_name, "%s", file);
        if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0) {
            *out_fd = fd;
            return 0;
        }
        int e = errno;
        close(fd);
        if (e != EBUSY)
            return -e;
    }
    return -EBUSY;
}

int imgd_loop_attach(int *out_fd, char *dev, size_t dev_len, const char *file, bool readonly,
                     bool partscan, imgd_error **err)
{
    _cleanup_close_ int fd = open(file, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0 && !readonly && (errno == EROFS || errno == EACCES || errno == EPERM)) {
        readonly = true;
        fd = open(file, O_RDONLY | O_CLOEXEC);
    }
    struct stat st;
    if (fd < 0)
        return imgd_error_set(err, errno == ENOENT ? ENOENT : EINVAL, "file '%s': %s", file,
                              strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return imgd_error_set(err, EINVAL, "'%s' is not a regular file", file);
    unsigned flags = LO_FLAGS_AUTOCLEAR | (readonly ? LO_FLAGS_READ_ONLY : 0) |
                     (partscan ? LO_FLAGS_PARTSCAN : 0);
    int r = loop_configure(out_fd, dev, dev_len, fd, file, flags);
    if (r < 0)
        return imgd_error_errno(err, -r, "attach '%s' to a loop device", file);
    return 0;
}

int imgd_loop_find(int *out_fd, char *dev, size_t dev_len, const char *file)
{
    _cleanup_free_ char *want = realpath(file, NULL);
    DIR *d = opendir("/sys/block");
    struct dirent *de;
    int r = -ENOENT;
    while (want && d && r == -ENOENT && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "loop", 4) != 0)
            continue;
        char path[512];
        _cleanup_free_ char *backing = NULL;
        snprintf(path, sizeof path, "/sys/block/%s/loop/backing_file", de->d_name);
        if (imgd_read_file(&backing, NULL, path, 8192, NULL) < 0)
            continue;
        backing[strcspn(backing, "\n")] = '\0';
        if (strcmp(backing, want) != 0)
            continue;
        snprintf(dev, dev_len, "/dev/%s", de->d_name);
        int fd = open(dev, O_RDONLY | O_CLOEXEC);
        r = fd < 0 ? -errno : 0;
        if (fd >= 0)
            *out_fd = fd;
    }
    if (d)
        closedir(d);
    return r;
}

void imgd_loop_detach(int fd)
{
    if (fd < 0)
        return;
    (void)ioctl(fd, LOOP_CLR_FD, 0);
    close(fd);
}

bool imgd_path_is_mountpoint(const char *path)
{
    _cleanup_free_ char *copy = strdup(path);
    struct stat a, b;
    if (!copy || stat(path, &a) < 0 || stat(dirname(copy), &b) < 0)
        return false;
    if (a.st_dev != b.st_dev)
        return true;
    /* a bind mount of a directory of the same filesystem: only mountinfo knows */
    _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[8192];
    while (f && fgets(line, sizeof line, f)) {
        char mnt[4096];
        if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1 && !strcmp(mnt, path))
            return true;
    }
    return false;
}

void imgd_unmount_all(const char *path)
{
    for (int i = 0; i < 64 && imgd_path_is_mountpoint(path); i++)
        if (umount2(path, MNT_DETACH) < 0)
            break;
}

bool imgd_kernel_has_fs(const char *fs_type)
{
    _cleanup_free_ char *text = NULL;
    if (imgd_read_file(&text, NULL, "/proc/filesystems", 65536, NULL) < 0)
        return true; /* cannot tell: let the mount say */
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *name = strrchr(line, '\t');
        if (name && !strcmp(name + 1, fs_type))
            return true;
    }
    return false;
}
