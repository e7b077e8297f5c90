/* SPDX-License-Identifier: MIT */
/* Edits of a container's root filesystem from the host: files, and users and groups.
 *
 * The rootfs and everything in it belong to the container, so every path is resolved with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) relative to rootfd: ".." and symbolic links
 * (absolute or relative) are resolved as the container would see them and never lead to a host
 * file. Existing files are only ever opened through an O_PATH descriptor that was checked to be a
 * regular file, so a device node or FIFO planted by the image is never opened. Files are replaced
 * atomically (a temporary file in the same directory, fsync, renameat, fsync of the directory).
 *
 * Paths are absolute in-container paths ("/etc/passwd") of at most IMGD_ROOTFS_PATH_MAX bytes.
 * rootfd is a directory fd of the rootfs, borrowed. The functions keep no state and are safe to
 * call from several threads, but two edits of the same file of one rootfs must be serialised by
 * the caller (as /etc/.pwd.lock does for shadow-utils; that lock belongs to the container, so
 * imgd does not take it). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "util/error.h"

#define IMGD_ROOTFS_PATH_MAX 4096
#define IMGD_ROOTFS_DB_MAX   (4u * 1024u * 1024u) /* /etc/passwd, group, shadow */
#define IMGD_USER_MAX_GIDS   64
#define IMGD_USER_HOME_MAX   256

typedef struct imgd_user_ids {
    uint32_t uid, gid;
    size_t n_gids;
    uint32_t gids[IMGD_USER_MAX_GIDS]; /* supplementary groups, without duplicates */
    char home[IMGD_USER_HOME_MAX];     /* from /etc/passwd, "/" when unknown */
} imgd_user_ids;

/* Resolve a user spec as docker and podman do (runc's GetExecUser): "" is uid 0; "name", "uid",
 * "name:group", "uid:gid", "name:gid", "uid:group". Names are looked up in the rootfs's /etc/passwd
 * and /etc/group (the first matching line wins; a missing file has no entries). A numeric uid
 * needs no passwd entry: when it has one, its gid and home are used, else gid 0 and home "/". A
 * numeric gid needs no group entry. Supplementary groups are the gids of every /etc/group line
 * that lists the user's name, and only when no group is given in the spec (as runc does: an
 * explicit group replaces them).
 *
 * Returns 0 and fills *out; -ENOENT for a name with no entry ("user 'x' not found in the
 * container's /etc/passwd", same for groups); -EINVAL for a malformed spec or an id out of range;
 * -E2BIG when the user is in more than IMGD_USER_MAX_GIDS groups; -EFBIG for a passwd or group
 * file over IMGD_ROOTFS_DB_MAX; another negative errno when a file cannot be read. */
int imgd_rootfs_user_resolve(imgd_user_ids *out, int rootfd, const char *spec, imgd_error **err);

typedef struct imgd_user_request {
    const char *username;      /* required; [a-z_][a-z0-9_.-]{0,31} */
    const char *password;      /* NULL: the account is locked ("!" in /etc/shadow) */
    const char *shell;         /* NULL: "/bin/sh"; absolute, no ':' or control characters */
    int64_t uid;               /* -1: the first uid from 1000 to 60000 free in /etc/passwd */
    const char *home;          /* NULL: "/home/<username>"; absolute, same rules, no "." or ".."
                                * components, shorter than IMGD_USER_HOME_MAX */
    const char *const *groups; /* NULL-terminated names of existing groups to join, or NULL */
} imgd_user_request;

/* Add a user to the rootfs by rewriting /etc/group, /etc/shadow and /etc/passwd, which works on
 * images without useradd (busybox, distroless):
 *  - /etc/passwd gets "name:x:uid:gid::home:shell".
 *  - /etc/group gets a personal group "name:x:gid:" with gid = uid when no group has it, else the
 *    first free gid from 1000. A group already named like the user is taken as the primary group
 *    instead (this also makes a retry after a failed call converge). The user is appended to the
 *    member list of each group of req->groups (unless already there).
 *  - /etc/shadow gets "name:<hash>:<today>:0:99999:7:::", the hash being SHA-512 crypt ("$6$",
 *    16 salt characters from getrandom) or "!" without a password; a stale line of that name is
 *    replaced.
 *  - The home directory is created mode 0700 (as useradd -m with HOME_MODE 0700 and Debian's
 *    adduser do), owned by uid:gid; missing parents are created 0755 root:root. An existing home
 *    is left as it is. Nothing is copied from /etc/skel.
 * Rewritten files keep their mode and owner. A missing passwd or group is created 0644 root:root;
 * a missing shadow 0640 owned by root and the group "shadow" when the image has one (Debian's
 * unix_chkpwd reads it as that group), else root (busybox reads it as root). Lines we do not
 * change are kept byte for byte (comments, CRLF, a missing final newline).
 *
 * All three new files are computed, validated and written to fsync'ed temporary files before the
 * first rename, so any failure up to then leaves the files unchanged (parents created for /etc or
 * the home may stay). The renames go group, shadow, passwd: the user exists once passwd is
 * replaced, so a failure between renames leaves at most a group and shadow line with no user,
 * which the next call reuses or replaces.
 *
 * Returns 0 and fills *out with the new user's ids (gids: the joined groups). -EEXIST when the
 * name (or the explicit uid) is already in /etc/passwd; -EINVAL for a bad name, shell, home, uid,
 * password (over 512 bytes) or group name; -ENOENT for an unknown group; -ENOSPC when no uid or
 * gid is free; -EFBIG for a file over IMGD_ROOTFS_DB_MAX; another negative errno on I/O errors. */
int imgd_rootfs_user_add(imgd_user_ids *out, int rootfd, const imgd_user_request *req,
                         imgd_error **err);

/* Write len bytes to path in the rootfs, creating missing parent directories (0755, root:root),
 * with mode (& 07777) and owner uid:gid (-1 means 0). The file is replaced atomically. When path
 * (or what it links to) is a symbolic link, the link is followed within the rootfs and its target
 * is replaced atomically, the link kept; the target's parents are not created (-ENOENT).
 *
 * Returns 0, -EINVAL for an empty or relative path or an id out of range, -ENAMETOOLONG for a path
 * over IMGD_ROOTFS_PATH_MAX, -EISDIR when path is a directory (or ends in "/", "." or ".."),
 * -ELOOP for more than 40 links, another negative errno on I/O errors. */
int imgd_rootfs_file_write(int rootfd, const char *path, const void *data, size_t len, mode_t mode,
                           int64_t uid, int64_t gid, imgd_error **err);

/* Read the regular file path (links followed within the rootfs) of at most max bytes. Returns 0
 * with *out malloc'd (owned by the caller) and NUL-terminated after its *out_len bytes (out_len
 * may be NULL), its stat in *out_st when not NULL; -EFBIG when larger than max, -EISDIR for a
 * directory, -EINVAL for another non-regular file or a bad path, -ENOENT, another negative errno.
 * Outputs are untouched on failure. */
int imgd_rootfs_file_read(char **out, size_t *out_len, struct stat *out_st, int rootfd,
                          const char *path, size_t max, imgd_error **err);
