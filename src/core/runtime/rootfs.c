/* SPDX-License-Identifier: MIT */
#include "rootfs.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/cleanup.h"
#include "util/fs.h"

#define MAX_LINKS    40          /* the kernel's MAXSYMLINKS */
#define ID_AUTO_MIN  1000        /* UID_MIN / GID_MIN of login.defs */
#define ID_AUTO_MAX  60000       /* UID_MAX / GID_MAX of login.defs */
#define ID_MAX       4294967294u /* (uint32_t)-1 means "no change" to chown: never an id */
#define TMP_NAME_LEN 32
#define QUOTE_MAX    128
#define SPEC_PART    256
#define DB_FIELDS    8

static const char crypt_alphabet[] =
    "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* ---- small helpers ---- */

static bool is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* A copy of s fit for a one-line message: control characters become '?', long text is cut. */
static const char *quote(char buf[static QUOTE_MAX], const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < QUOTE_MAX; i++)
        buf[i] = is_control((unsigned char)s[i]) ? '?' : s[i];
    buf[i] = '\0';
    if (s[i])
        memcpy(buf + QUOTE_MAX - 4, "...", 4);
    return buf;
}

static int random_bytes(void *buf, size_t len)
{
    for (size_t off = 0; off < len;) {
        ssize_t n = getrandom((char *)buf + off, len - off, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        off += (size_t)n;
    }
    return 0;
}

/* ---- paths inside the root ---- */

static int path_check(const char *path)
{
    size_t n = strnlen(path, IMGD_ROOTFS_PATH_MAX + 1);
    if (n == 0 || path[0] != '/')
        return -EINVAL;
    return n > IMGD_ROOTFS_PATH_MAX ? -ENAMETOOLONG : 0;
}

static int path_error(imgd_error **err, int code, const char *path)
{
    char q[QUOTE_MAX];
    if (code == -ENAMETOOLONG)
        return imgd_error_set(err, ENAMETOOLONG, "path '%s' is longer than %d bytes",
                              quote(q, path), IMGD_ROOTFS_PATH_MAX);
    return imgd_error_set(err, EINVAL, "path '%s' is not an absolute path", quote(q, path));
}

/* openat2 with RESOLVE_IN_ROOT, retried on EAGAIN: the kernel returns it when a rename or mount
 * raced with the resolution of "..", which it cannot otherwise prove stayed inside. */
static int open_in_root(int rootfd, const char *path, int flags)
{
    int fd = -EAGAIN;
    for (int i = 0; i < 16 && fd == -EAGAIN; i++)
        fd = imgd_open_in_root(rootfd, path, flags, false);
    return fd;
}

/* One step of open_dir: the directory prefix (whose last component is name, a child of parent),
 * created 0755 root:root when missing. Attributes go through an fd opened with O_NOFOLLOW: by
 * name, a link swapped in by the container would be followed from the host's root. */
static int open_dir_step(int rootfd, int parent, const char *prefix, const char *name)
{
    int fd = open_in_root(rootfd, prefix, O_RDONLY | O_DIRECTORY);
    if (fd != -ENOENT)
        return fd;
    if (mkdirat(parent, name, 0700) < 0)
        return errno == EEXIST ? open_in_root(rootfd, prefix, O_RDONLY | O_DIRECTORY) : -errno;
    fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fchown(fd, 0, 0) < 0 || fchmod(fd, 0755) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    return fd;
}

/* Open the directory dir of the rootfs (O_RDONLY, so that it can be fsync'ed), creating missing
 * components when create. Every prefix is resolved from the root again, so ".." and links stay
 * inside it. A dangling link in the way is not followed to create its target: -ENOENT. */
static int open_dir(int rootfd, const char *dir, bool create)
{
    int first = open_in_root(rootfd, dir, O_RDONLY | O_DIRECTORY);
    if (first != -ENOENT || !create)
        return first;
    char prefix[IMGD_ROOTFS_PATH_MAX + 1];
    snprintf(prefix, sizeof(prefix), "%s", dir);
    _cleanup_close_ int cur = open_in_root(rootfd, "/", O_RDONLY | O_DIRECTORY);
    if (cur < 0)
        return cur;
    for (size_t i = 0, n = strlen(prefix); i < n;) {
        while (i < n && prefix[i] == '/')
            i++;
        size_t start = i;
        while (i < n && prefix[i] != '/')
            i++;
        if (i == start)
            break;
        char saved = prefix[i];
        prefix[i] = '\0';
        int next = open_dir_step(rootfd, cur, prefix, prefix + start);
        prefix[i] = saved;
        if (next < 0)
            return next;
        close(cur);
        cur = next;
    }
    return TAKE_FD(cur);
}

/* Split an absolute path into its directory ("/" for a top-level name) and last component.
 * -EISDIR when the path names a directory by its form ("/", "x/", "x/.", "x/.."). */
static int split_path(char dir[static IMGD_ROOTFS_PATH_MAX + 1], char name[static NAME_MAX + 1],
                      const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash + 1;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return -EISDIR;
    size_t bl = strlen(base);
    if (bl > NAME_MAX)
        return -ENAMETOOLONG;
    size_t dl = slash == path ? 1 : (size_t)(slash - path);
    memcpy(dir, path, dl);
    dir[dl] = '\0';
    memcpy(name, base, bl + 1);
    return 0;
}

/* The directory entry a write of a path replaces: a directory fd and a name in it. */
typedef struct target {
    int dirfd;               /* owned; -1 when unresolved */
    char name[NAME_MAX + 1]; /* missing, or neither a directory nor a link */
    bool exists;
    struct stat st; /* of the entry, when it exists */
} target;

static void target_dispose(target *t)
{
    if (t->dirfd >= 0)
        close(t->dirfd);
    t->dirfd = -1;
}

/* Replace cur (whose last component, in dir, is the link name in dfd) by the path the link
 * leads to. Following it as a string and resolving the result from the root again is what the
 * kernel does within RESOLVE_IN_ROOT: a relative link starts from its directory, ".." is taken
 * physically, "/" is the root. */
static int follow_link(char cur[static IMGD_ROOTFS_PATH_MAX + 1], const char *dir, int dfd,
                       const char *name)
{
    char link[IMGD_ROOTFS_PATH_MAX + 1];
    ssize_t n = readlinkat(dfd, name, link, sizeof(link));
    if (n < 0)
        return -errno;
    if ((size_t)n >= sizeof(link))
        return -ENAMETOOLONG;
    if (n == 0)
        return -ENOENT;
    link[n] = '\0';
    int w = link[0] == '/' ? snprintf(cur, IMGD_ROOTFS_PATH_MAX + 1, "%s", link)
                           : snprintf(cur, IMGD_ROOTFS_PATH_MAX + 1, "%s/%s", dir, link);
    return w < 0 || w > IMGD_ROOTFS_PATH_MAX ? -ENAMETOOLONG : 0;
}

/* Resolve path to the entry a write replaces, following links of the last component within
 * the root (so that the link stays and its target gets the content). Missing parents of path
 * itself are created when create_parents; those of a link's target are not. */
static int target_resolve(target *t, int rootfd, const char *path, bool create_parents)
{
    char cur[IMGD_ROOTFS_PATH_MAX + 1], dir[IMGD_ROOTFS_PATH_MAX + 1];
    snprintf(cur, sizeof(cur), "%s", path);
    for (int hop = 0; hop <= MAX_LINKS; hop++) {
        int r = split_path(dir, t->name, cur);
        if (r < 0)
            return r;
        _cleanup_close_ int dfd = open_dir(rootfd, dir, create_parents && hop == 0);
        if (dfd < 0)
            return dfd;
        if (fstatat(dfd, t->name, &t->st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT)
                return -errno;
            t->exists = false;
            t->dirfd = TAKE_FD(dfd);
            return 0;
        }
        if (S_ISDIR(t->st.st_mode))
            return -EISDIR;
        if (!S_ISLNK(t->st.st_mode)) {
            t->exists = true;
            t->dirfd = TAKE_FD(dfd);
            return 0;
        }
        r = follow_link(cur, dir, dfd, t->name);
        if (r < 0)
            return r;
    }
    return -ELOOP;
}

/* ---- reading and replacing files ---- */

/* Read the regular file behind the O_PATH fd pathfd (st is its stat). It is reopened through
 * /proc/self/fd, which reaches exactly the inode checked here: opening it by name again could
 * reach a device node the container swapped in, and opening some devices has effects (a
 * watchdog arms, a tape rewinds). */
static int read_pathfd(char **out, size_t *out_len, int pathfd, const struct stat *st, size_t max)
{
    if (S_ISDIR(st->st_mode))
        return -EISDIR;
    if (!S_ISREG(st->st_mode))
        return -EINVAL;
    if ((uint64_t)st->st_size > max)
        return -EFBIG;
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pathfd);
    return imgd_read_file(out, out_len, proc, max, NULL);
}

static int read_in_root(char **out, size_t *out_len, struct stat *out_st, int rootfd,
                        const char *path, size_t max)
{
    _cleanup_close_ int fd = open_in_root(rootfd, path, O_PATH);
    if (fd < 0)
        return fd;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    int r = read_pathfd(out, out_len, fd, &st, max);
    if (r == 0 && out_st)
        *out_st = st;
    return r;
}

/* Write data to a new temporary file in dirfd with its owner and mode, and fsync it. Its name
 * is random, so neither a concurrent writer nor a file the container made can collide with it,
 * and O_EXCL | O_NOFOLLOW create it or fail. tmp gets the name, "" on failure. */
static int stage_at(char tmp[static TMP_NAME_LEN], int dirfd, const void *data, size_t len,
                    mode_t mode, uid_t uid, gid_t gid)
{
    _cleanup_close_ int fd = -1;
    for (int i = 0; fd < 0 && i < 16; i++) {
        uint64_t rnd = 0;
        int r = random_bytes(&rnd, sizeof(rnd));
        if (r < 0)
            return r;
        snprintf(tmp, TMP_NAME_LEN, ".imgd-tmp-%016llx", (unsigned long long)rnd);
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        int r = -errno;
        tmp[0] = '\0';
        return r;
    }
    int r = imgd_write_all(fd, data, len);
    /* owner before mode: chown clears the set-id bits */
    if (r == 0 && fchown(fd, uid, gid) < 0)
        r = -errno;
    if (r == 0 && fchmod(fd, mode & 07777) < 0)
        r = -errno;
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (r < 0) {
        unlinkat(dirfd, tmp, 0);
        tmp[0] = '\0';
    }
    return r;
}

/* Rename a staged file over name. A failed fsync of the directory is not reported: the file is
 * whole either way, only its durability across a crash is in doubt. */
static int commit_at(int dirfd, char tmp[static TMP_NAME_LEN], const char *name)
{
    int r = renameat(dirfd, tmp, dirfd, name) < 0 ? -errno : 0;
    if (r < 0)
        unlinkat(dirfd, tmp, 0);
    else
        (void)fsync(dirfd);
    tmp[0] = '\0';
    return r;
}

static bool id_arg_ok(int64_t id)
{
    return id == -1 || (id >= 0 && id <= (int64_t)ID_MAX);
}

int imgd_rootfs_file_write(int rootfd, const char *path, const void *data, size_t len, mode_t mode,
                           int64_t uid, int64_t gid, imgd_error **err)
{
    char q[QUOTE_MAX];
    int r = path_check(path);
    if (r < 0)
        return path_error(err, r, path);
    if (!id_arg_ok(uid) || !id_arg_ok(gid))
        return imgd_error_set(err, EINVAL, "owner %lld:%lld of '%s' is out of range",
                              (long long)uid, (long long)gid, quote(q, path));
    _cleanup_(target_dispose) target t = {.dirfd = -1};
    r = target_resolve(&t, rootfd, path, true);
    char tmp[TMP_NAME_LEN] = "";
    if (r == 0)
        r = stage_at(tmp, t.dirfd, data, len, mode, uid < 0 ? 0 : (uid_t)uid,
                     gid < 0 ? 0 : (gid_t)gid);
    if (r == 0)
        r = commit_at(t.dirfd, tmp, t.name);
    if (r < 0)
        return imgd_error_errno(err, -r, "write '%s' in the container", quote(q, path));
    return 0;
}

int imgd_rootfs_file_read(char **out, size_t *out_len, struct stat *out_st, int rootfd,
                          const char *path, size_t max, imgd_error **err)
{
    char q[QUOTE_MAX];
    int r = path_check(path);
    if (r < 0)
        return path_error(err, r, path);
    r = read_in_root(out, out_len, out_st, rootfd, path, max);
    if (r == -EFBIG)
        return imgd_error_set(err, EFBIG, "'%s' in the container is larger than %zu bytes",
                              quote(q, path), max);
    if (r == -EINVAL)
        return imgd_error_set(err, EINVAL, "'%s' in the container is not a regular file",
                              quote(q, path));
    if (r < 0)
        return imgd_error_errno(err, -r, "read '%s' in the container", quote(q, path));
    return 0;
}

/* ---- passwd, group and shadow: parsing ---- */

/* The container owns these files: they are parsed in place, by length (they may hold NUL
 * bytes), a line at a time, and a line that is not a well-formed entry is skipped, never
 * rewritten. */

typedef struct span {
    const char *s;
    size_t n;
} span;

typedef struct db_line {
    const char *start; /* the line with its terminator */
    size_t len;
    size_t content_len; /* without "\n" or "\r\n" */
    span f[DB_FIELDS];  /* the first fields */
    size_t n_fields;    /* all fields, also those beyond DB_FIELDS */
} db_line;

/* The next line of buf[*pos..len), split at ':'. False at the end. */
static bool db_next(db_line *l, const char *buf, size_t len, size_t *pos)
{
    if (*pos >= len)
        return false;
    const char *s = buf + *pos;
    const char *nl = memchr(s, '\n', len - *pos);
    l->start = s;
    l->len = nl ? (size_t)(nl - s) + 1 : len - *pos;
    size_t c = nl ? l->len - 1 : l->len;
    if (c > 0 && s[c - 1] == '\r')
        c--;
    l->content_len = c;
    l->n_fields = 0;
    for (size_t i = 0;;) {
        const char *colon = memchr(s + i, ':', c - i);
        size_t fl = colon ? (size_t)(colon - (s + i)) : c - i;
        if (l->n_fields < DB_FIELDS)
            l->f[l->n_fields] = (span){s + i, fl};
        l->n_fields++;
        if (!colon)
            break;
        i += fl + 1;
    }
    *pos += l->len;
    return true;
}

/* An entry rather than a blank line, a comment or a NIS "+"/"-" line, with at least min fields. */
static bool db_is_entry(const db_line *l, size_t min)
{
    return l->content_len > 0 && !strchr("#+-", l->start[0]) && l->n_fields >= min;
}

static bool span_eq(span a, const char *s)
{
    return a.n == strlen(s) && memcmp(a.s, s, a.n) == 0;
}

/* A decimal id of 1 to 10 digits, at most ID_MAX; -1 otherwise. */
static int64_t parse_id(span f)
{
    if (f.n == 0 || f.n > 10)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < f.n; i++) {
        if (f.s[i] < '0' || f.s[i] > '9')
            return -1;
        v = v * 10 + (f.s[i] - '0');
    }
    return v <= (int64_t)ID_MAX ? v : -1;
}

/* An entry of passwd (name:pw:uid:gid[:gecos:home:shell]) or group (name:pw:gid[:members]). */
typedef struct db_entry {
    span name;
    uint32_t id;  /* uid, or gid for a group */
    uint32_t gid; /* passwd only */
    span extra;   /* passwd: home; group: members; empty when absent */
} db_entry;

static bool pw_parse(db_entry *e, const db_line *l)
{
    int64_t uid = db_is_entry(l, 4) ? parse_id(l->f[2]) : -1;
    int64_t gid = uid >= 0 ? parse_id(l->f[3]) : -1;
    if (gid < 0)
        return false;
    *e = (db_entry){l->f[0], (uint32_t)uid, (uint32_t)gid, {"", 0}};
    if (l->n_fields > 5)
        e->extra = l->f[5];
    return true;
}

static bool gr_parse(db_entry *e, const db_line *l)
{
    int64_t gid = db_is_entry(l, 3) ? parse_id(l->f[2]) : -1;
    if (gid < 0)
        return false;
    *e = (db_entry){l->f[0], (uint32_t)gid, (uint32_t)gid, {"", 0}};
    if (l->n_fields > 3)
        e->extra = l->f[3];
    return true;
}

typedef bool (*db_parse_fn)(db_entry *e, const db_line *l);

/* The first entry named name, or when name is NULL the first with the given id. */
static bool db_find(db_entry *out, const char *buf, size_t len, db_parse_fn parse, const char *name,
                    uint32_t id)
{
    size_t pos = 0;
    db_line l;
    db_entry e;
    while (db_next(&l, buf, len, &pos)) {
        if (!parse(&e, &l) || (name ? !span_eq(e.name, name) : e.id != id))
            continue;
        *out = e;
        return true;
    }
    return false;
}

/* Whether any line, well-formed or not, starts with the field name. */
static bool db_has_name(const char *buf, size_t len, const char *name)
{
    size_t pos = 0;
    db_line l;
    while (db_next(&l, buf, len, &pos))
        if (db_is_entry(&l, 1) && span_eq(l.f[0], name))
            return true;
    return false;
}

/* Whether any entry (of at least three fields) has id in its third field, which is the uid of
 * passwd and the gid of group. */
static bool db_id_used(const char *buf, size_t len, uint32_t id)
{
    size_t pos = 0;
    db_line l;
    while (db_next(&l, buf, len, &pos))
        if (db_is_entry(&l, 3) && parse_id(l.f[2]) == (int64_t)id)
            return true;
    return false;
}

/* The first id from ID_AUTO_MIN to ID_AUTO_MAX that no entry has in its third field, or -1. */
static int64_t db_first_free_id(const char *buf, size_t len)
{
    uint8_t used[(ID_AUTO_MAX - ID_AUTO_MIN) / 8 + 1] = {0};
    size_t pos = 0;
    db_line l;
    while (db_next(&l, buf, len, &pos)) {
        int64_t id = db_is_entry(&l, 3) ? parse_id(l.f[2]) : -1;
        if (id >= ID_AUTO_MIN && id <= ID_AUTO_MAX)
            used[(id - ID_AUTO_MIN) / 8] |= (uint8_t)(1u << ((id - ID_AUTO_MIN) % 8));
    }
    for (int64_t id = ID_AUTO_MIN; id <= ID_AUTO_MAX; id++)
        if (!(used[(id - ID_AUTO_MIN) / 8] & (1u << ((id - ID_AUTO_MIN) % 8))))
            return id;
    return -1;
}

static bool members_has(span members, const char *name)
{
    for (size_t i = 0; i <= members.n;) {
        const char *comma = memchr(members.s + i, ',', members.n - i);
        size_t n = comma ? (size_t)(comma - (members.s + i)) : members.n - i;
        if (span_eq((span){members.s + i, n}, name))
            return true;
        i += n + 1;
    }
    return false;
}

static int add_gid(imgd_user_ids *ids, uint32_t gid)
{
    for (size_t i = 0; i < ids->n_gids; i++)
        if (ids->gids[i] == gid)
            return 0;
    if (ids->n_gids == IMGD_USER_MAX_GIDS)
        return -E2BIG;
    ids->gids[ids->n_gids++] = gid;
    return 0;
}

/* ---- resolving a user spec ---- */

/* Read one of the databases for a lookup: a missing file has no entries. */
static int db_read(char **out, size_t *out_len, int rootfd, const char *path, imgd_error **err)
{
    int r = read_in_root(out, out_len, NULL, rootfd, path, IMGD_ROOTFS_DB_MAX);
    if (r == -ENOENT) {
        *out = strdup("");
        *out_len = 0;
        r = *out ? 0 : -ENOMEM;
    }
    if (r == -EFBIG)
        return imgd_error_set(err, EFBIG, "'%s' in the container is larger than %u bytes", path,
                              IMGD_ROOTFS_DB_MAX);
    if (r < 0)
        return imgd_error_errno(err, -r, "read '%s' in the container", path);
    return 0;
}

/* 1 when s is all digits (*id the value), 0 when it is a name, -EINVAL when out of range. */
static int spec_id(int64_t *id, const char *s)
{
    if (strspn(s, "0123456789") != strlen(s))
        return 0;
    *id = parse_id((span){s, strlen(s)});
    return *id < 0 ? -EINVAL : 1;
}

/* Split "user[:group]" into its parts; has_group tells whether a group was given. */
static int spec_split(char user[static SPEC_PART + 1], char group[static SPEC_PART + 1],
                      bool *has_group, const char *spec, imgd_error **err)
{
    char q[QUOTE_MAX];
    const char *colon = strchr(spec, ':');
    size_t un = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *g = colon ? colon + 1 : "";
    bool bad =
        un > SPEC_PART || strlen(g) > SPEC_PART || strchr(g, ':') || (colon && (un == 0 || !*g));
    for (const char *p = spec; !bad && *p; p++)
        bad = is_control((unsigned char)*p);
    if (bad)
        return imgd_error_set(err, EINVAL, "user spec '%s' is malformed: user[:group] expected",
                              quote(q, spec));
    memcpy(user, spec, un);
    user[un] = '\0';
    snprintf(group, SPEC_PART + 1, "%s", g);
    *has_group = colon != NULL;
    return 0;
}

static void set_home(imgd_user_ids *ids, span home)
{
    bool ok = home.n > 0 && home.n < sizeof(ids->home) && home.s[0] == '/';
    for (size_t i = 0; ok && i < home.n; i++)
        ok = home.s[i] != '\0' && !is_control((unsigned char)home.s[i]);
    snprintf(ids->home, sizeof(ids->home), "%.*s", ok ? (int)home.n : 1, ok ? home.s : "/");
}

/* The user part: its uid, and gid and home from its passwd entry (*found tells whether there is
 * one; a numeric uid needs none). "" is uid 0. */
static int resolve_user(imgd_user_ids *ids, db_entry *e, bool *found, const char *pw, size_t len,
                        const char *user, imgd_error **err)
{
    char q[QUOTE_MAX];
    int64_t uid = 0;
    int numeric = *user ? spec_id(&uid, user) : 1;
    if (numeric < 0)
        return imgd_error_set(err, EINVAL, "uid %s is out of range", quote(q, user));
    *found = db_find(e, pw, len, pw_parse, numeric ? NULL : user, (uint32_t)uid);
    if (!*found && !numeric)
        return imgd_error_set(err, ENOENT, "user '%s' not found in the container's /etc/passwd",
                              quote(q, user));
    ids->uid = *found ? e->id : (uint32_t)uid;
    ids->gid = *found ? e->gid : 0;
    set_home(ids, *found ? e->extra : (span){"", 0});
    return 0;
}

static int resolve_group(imgd_user_ids *ids, const char *gr, size_t len, const char *group,
                         imgd_error **err)
{
    char q[QUOTE_MAX];
    int64_t gid = 0;
    int numeric = spec_id(&gid, group);
    if (numeric < 0)
        return imgd_error_set(err, EINVAL, "gid %s is out of range", quote(q, group));
    if (numeric) {
        ids->gid = (uint32_t)gid;
        return 0;
    }
    db_entry e;
    if (!db_find(&e, gr, len, gr_parse, group, 0))
        return imgd_error_set(err, ENOENT, "group '%s' not found in the container's /etc/group",
                              quote(q, group));
    ids->gid = e.id;
    return 0;
}

/* Supplementary groups: every group entry listing the name among its members. */
static int resolve_sgids(imgd_user_ids *ids, const char *gr, size_t len, span name,
                         imgd_error **err)
{
    char q[QUOTE_MAX], user[SPEC_PART + 1];
    if (name.n > SPEC_PART)
        return 0;
    snprintf(user, sizeof(user), "%.*s", (int)name.n, name.s);
    size_t pos = 0;
    db_line l;
    db_entry e;
    while (db_next(&l, gr, len, &pos)) {
        if (!gr_parse(&e, &l) || !members_has(e.extra, user))
            continue;
        if (add_gid(ids, e.id) < 0)
            return imgd_error_set(err, E2BIG, "user '%s' is in more than %d groups", quote(q, user),
                                  IMGD_USER_MAX_GIDS);
    }
    return 0;
}

int imgd_rootfs_user_resolve(imgd_user_ids *out, int rootfd, const char *spec, imgd_error **err)
{
    char user[SPEC_PART + 1] = "", group[SPEC_PART + 1] = "";
    bool has_group = false, found = false;
    int r = spec_split(user, group, &has_group, spec, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *pw = NULL;
    _cleanup_free_ char *gr = NULL;
    size_t pw_len = 0, gr_len = 0;
    r = db_read(&pw, &pw_len, rootfd, "/etc/passwd", err);
    if (r == 0)
        r = db_read(&gr, &gr_len, rootfd, "/etc/group", err);
    imgd_user_ids ids = {0};
    db_entry e = {{"", 0}, 0, 0, {"", 0}};
    if (r == 0)
        r = resolve_user(&ids, &e, &found, pw, pw_len, user, err);
    /* as runc: an explicit group replaces the supplementary groups */
    if (r == 0 && has_group)
        r = resolve_group(&ids, gr, gr_len, group, err);
    else if (r == 0 && found)
        r = resolve_sgids(&ids, gr, gr_len, e.name, err);
    if (r < 0)
        return r;
    *out = ids;
    return 0;
}

/* ---- adding a user ---- */

/* One of /etc/passwd, /etc/group, /etc/shadow while it is edited. */
typedef struct db_file {
    const char *path;
    int rootfd; /* borrowed */
    target t;   /* where it is; dirfd -1 while its directory does not exist */
    char *data; /* current content, "" when missing; owned */
    size_t len;
    mode_t mode; /* kept when rewritten, the default when created */
    uid_t uid;
    gid_t gid;
    imgd_buf out;           /* the new content */
    char tmp[TMP_NAME_LEN]; /* the staged temporary file, "" when none */
} db_file;

#define DB_FILE_INIT(path_, rootfd_)                                                               \
    {                                                                                              \
        .path = (path_), .rootfd = (rootfd_), .t = {.dirfd = -1 }                                  \
    }

/* Free a db_file; a temporary file still staged is removed, so an aborted edit leaves none. */
static void db_dispose(db_file *f)
{
    if (f->tmp[0] && f->t.dirfd >= 0)
        unlinkat(f->t.dirfd, f->tmp, 0);
    target_dispose(&f->t);
    free(f->data);
    imgd_buf_dispose(&f->out);
}

static int db_read_at(db_file *f)
{
    _cleanup_close_ int fd = openat(f->t.dirfd, f->t.name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    int r = read_pathfd(&f->data, &f->len, fd, &st, IMGD_ROOTFS_DB_MAX);
    if (r < 0)
        return r;
    f->mode = st.st_mode & 07777;
    f->uid = st.st_uid;
    f->gid = st.st_gid;
    return 0;
}

/* Load f, noting its mode and owner; mode and gid are the defaults for a file to create. */
static int db_load(db_file *f, mode_t mode, gid_t gid, imgd_error **err)
{
    f->mode = mode;
    f->uid = 0;
    f->gid = gid;
    int r = target_resolve(&f->t, f->rootfd, f->path, false);
    if (r == 0 && f->t.exists)
        r = db_read_at(f);
    else if (r == 0 || r == -ENOENT)
        r = (f->data = strdup("")) ? 0 : -ENOMEM;
    if (r == -EFBIG)
        return imgd_error_set(err, EFBIG, "'%s' in the container is larger than %u bytes", f->path,
                              IMGD_ROOTFS_DB_MAX);
    if (r == -EINVAL)
        return imgd_error_set(err, EINVAL, "'%s' in the container is not a regular file", f->path);
    if (r < 0)
        return imgd_error_errno(err, -r, "read '%s' in the container", f->path);
    return 0;
}

static int db_stage(db_file *f, imgd_error **err)
{
    int r = f->t.dirfd >= 0 ? 0 : target_resolve(&f->t, f->rootfd, f->path, true);
    if (r == 0 && f->out.failed)
        r = -ENOMEM;
    if (r == 0)
        r = stage_at(f->tmp, f->t.dirfd, f->out.data, f->out.len, f->mode, f->uid, f->gid);
    return r < 0 ? imgd_error_errno(err, -r, "write '%s' in the container", f->path) : 0;
}

static int db_commit(db_file *f, imgd_error **err)
{
    int r = commit_at(f->t.dirfd, f->tmp, f->t.name);
    return r < 0 ? imgd_error_errno(err, -r, "replace '%s' in the container", f->path) : 0;
}

/* Start a new line of ours: the file's last line may lack its newline. */
static void buf_newline(imgd_buf *b)
{
    if (b->len > 0 && b->data[b->len - 1] != '\n')
        imgd_buf_append(b, "\n", 1);
}

/* What user_add will write, validated before anything is touched. */
typedef struct user_plan {
    const imgd_user_request *req;
    const char *shell;
    char home[IMGD_USER_HOME_MAX];
    uint32_t uid, gid;
    bool new_group; /* false: a group named like the user exists and becomes its primary group */
    imgd_user_ids joined;         /* gids of req->groups */
    char hash[CRYPT_OUTPUT_SIZE]; /* for /etc/shadow */
} user_plan;

static bool user_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 32 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static bool group_name_ok(const char *s)
{
    size_t n = strlen(s);
    bool ok = n > 0 && n <= SPEC_PART && !strpbrk(s, ":,");
    for (size_t i = 0; ok && i < n; i++)
        ok = !is_control((unsigned char)s[i]);
    return ok;
}

/* An absolute path that can be a passwd field: no ':', no control characters, shorter than max;
 * when clean, also without empty, "." or ".." components. */
static bool field_path_ok(const char *s, size_t max, bool clean)
{
    size_t n = strlen(s);
    bool ok = n > 0 && n < max && s[0] == '/' && !strchr(s, ':');
    for (size_t i = 0; ok && i < n; i++)
        ok = !is_control((unsigned char)s[i]);
    if (!ok || !clean || n == 1)
        return ok;
    for (const char *p = s; p; p = strchr(p + 1, '/')) {
        size_t c = strcspn(p + 1, "/");
        if (c == 0 || (c == 1 && p[1] == '.') || (c == 2 && p[1] == '.' && p[2] == '.'))
            return false;
    }
    return true;
}

static int plan_validate_groups(const imgd_user_request *req, imgd_error **err)
{
    char q[QUOTE_MAX];
    size_t n = 0;
    for (const char *const *g = req->groups; g && *g; g++, n++)
        if (!group_name_ok(*g))
            return imgd_error_set(err, EINVAL, "group name '%s' is invalid", quote(q, *g));
    if (n > IMGD_USER_MAX_GIDS)
        return imgd_error_set(err, EINVAL, "more than %d groups to join", IMGD_USER_MAX_GIDS);
    return 0;
}

static int plan_validate(user_plan *p, const imgd_user_request *req, imgd_error **err)
{
    char q[QUOTE_MAX];
    p->req = req;
    if (!req->username || !user_name_ok(req->username))
        return imgd_error_set(err, EINVAL,
                              "user name '%s' is invalid: 1 to 32 of a-z 0-9 _ . - expected, "
                              "starting with a-z or _",
                              quote(q, req->username ? req->username : ""));
    p->shell = req->shell ? req->shell : "/bin/sh";
    if (!field_path_ok(p->shell, IMGD_ROOTFS_PATH_MAX, false))
        return imgd_error_set(err, EINVAL, "shell '%s' is not an absolute path without ':'",
                              quote(q, p->shell));
    if (req->home)
        snprintf(p->home, sizeof(p->home), "%s", req->home);
    else
        snprintf(p->home, sizeof(p->home), "/home/%s", req->username);
    if (req->home && !field_path_ok(req->home, sizeof(p->home), true))
        return imgd_error_set(err, EINVAL,
                              "home '%s' is not a clean absolute path without ':' shorter than "
                              "%d bytes",
                              quote(q, req->home), IMGD_USER_HOME_MAX);
    if (req->uid < -1 || req->uid > (int64_t)ID_MAX)
        return imgd_error_set(err, EINVAL, "uid %lld is out of range", (long long)req->uid);
    if (req->password && strlen(req->password) >= CRYPT_MAX_PASSPHRASE_SIZE)
        return imgd_error_set(err, EINVAL, "password is longer than %d bytes",
                              CRYPT_MAX_PASSPHRASE_SIZE - 1);
    return plan_validate_groups(req, err);
}

/* The uid: the explicit one when free, else the first free from ID_AUTO_MIN. */
static int plan_uid(user_plan *p, const db_file *pw, imgd_error **err)
{
    char q[QUOTE_MAX];
    const char *name = p->req->username;
    if (db_has_name(pw->data, pw->len, name))
        return imgd_error_set(err, EEXIST, "user '%s' already exists in the container",
                              quote(q, name));
    if (p->req->uid >= 0 && db_id_used(pw->data, pw->len, (uint32_t)p->req->uid))
        return imgd_error_set(err, EEXIST, "uid %lld is already in use in the container",
                              (long long)p->req->uid);
    int64_t uid = p->req->uid >= 0 ? p->req->uid : db_first_free_id(pw->data, pw->len);
    if (uid < 0)
        return imgd_error_set(err, ENOSPC, "no uid from %d to %d is free in the container",
                              ID_AUTO_MIN, ID_AUTO_MAX);
    p->uid = (uint32_t)uid;
    return 0;
}

/* The primary gid: that of a group named like the user, else uid when free, else the first free
 * from ID_AUTO_MIN. Then the gids of the groups to join. */
static int plan_gids(user_plan *p, const db_file *gr, imgd_error **err)
{
    char q[QUOTE_MAX];
    const char *name = p->req->username;
    db_entry e;
    p->new_group = !db_find(&e, gr->data, gr->len, gr_parse, name, 0);
    if (p->new_group && db_has_name(gr->data, gr->len, name))
        return imgd_error_set(err, EEXIST, "group '%s' exists but is malformed in the container",
                              quote(q, name));
    int64_t gid = !p->new_group                            ? e.id
                  : !db_id_used(gr->data, gr->len, p->uid) ? p->uid
                                                           : db_first_free_id(gr->data, gr->len);
    if (gid < 0)
        return imgd_error_set(err, ENOSPC, "no gid from %d to %d is free in the container",
                              ID_AUTO_MIN, ID_AUTO_MAX);
    p->gid = (uint32_t)gid;
    for (const char *const *g = p->req->groups; g && *g; g++) {
        if (!db_find(&e, gr->data, gr->len, gr_parse, *g, 0))
            return imgd_error_set(err, ENOENT, "group '%s' not found in the container's /etc/group",
                                  quote(q, *g));
        (void)add_gid(&p->joined, e.id); /* at most IMGD_USER_MAX_GIDS groups, validated */
    }
    return 0;
}

/* SHA-512 crypt with 16 salt characters, or "!" (locked) without a password. */
static int plan_hash(user_plan *p, imgd_error **err)
{
    if (!p->req->password) {
        snprintf(p->hash, sizeof(p->hash), "!");
        return 0;
    }
    unsigned char rnd[16];
    int r = random_bytes(rnd, sizeof(rnd));
    if (r < 0)
        return imgd_error_errno(err, -r, "random salt");
    char setting[3 + sizeof(rnd) + 2] = "$6$";
    for (size_t i = 0; i < sizeof(rnd); i++) /* 256 is a multiple of 64: no bias */
        setting[3 + i] = crypt_alphabet[rnd[i] % 64];
    setting[3 + sizeof(rnd)] = '$';
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (!cd)
        return imgd_error_set(err, ENOMEM, "out of memory");
    /* crypt_rn, not crypt_r: ASan's crypt_r interceptor calls a NULL pointer when libcrypt
     * is linked directly (the sanitizer build); crypt_rn is the same function, not intercepted. */
    const char *h = crypt_rn(p->req->password, setting, cd, (int)sizeof(*cd));
    /* failure is NULL or a string starting with '*'; a hash is "$6$salt$..." in the alphabet */
    bool ok = h && strncmp(h, setting, sizeof(setting) - 1) == 0 && strlen(h) < sizeof(p->hash);
    for (const char *c = h; ok && *c; c++)
        ok = *c == '$' || strchr(crypt_alphabet, *c);
    if (ok)
        snprintf(p->hash, sizeof(p->hash), "%s", h);
    explicit_bzero(cd, sizeof(*cd)); /* it held the password */
    free(cd);
    return ok ? 0 : imgd_error_set(err, EINVAL, "hashing the password failed");
}

/* Copy a group line, the user appended to its member list (its fourth field). */
static void append_member(imgd_buf *b, const db_line *l, const char *user)
{
    size_t c = l->content_len;
    if (l->n_fields < 4) {
        imgd_buf_append(b, l->start, c);
        imgd_buf_printf(b, ":%s", user);
    } else {
        span m = l->f[3];
        size_t head = (size_t)(m.s + m.n - l->start);
        imgd_buf_append(b, l->start, head);
        imgd_buf_printf(b, "%s%s", m.n > 0 && m.s[m.n - 1] != ',' ? "," : "", user);
        imgd_buf_append(b, l->start + head, c - head); /* fields beyond, if any */
    }
    imgd_buf_append(b, l->start + c, l->len - c); /* the line's own terminator */
}

/* Whether the line is the first entry of a group the user joins (marking it done). */
static bool joins(const user_plan *p, const db_line *l, bool done[static IMGD_USER_MAX_GIDS])
{
    db_entry e;
    bool hit = false;
    if (!p->req->groups || !gr_parse(&e, l))
        return false;
    for (size_t i = 0; p->req->groups[i]; i++) {
        if (done[i] || !span_eq(e.name, p->req->groups[i]))
            continue;
        done[i] = true;
        hit = !members_has(e.extra, p->req->username);
    }
    return hit;
}

static void render_group(db_file *gr, const user_plan *p)
{
    bool done[IMGD_USER_MAX_GIDS] = {false};
    size_t pos = 0;
    db_line l;
    while (db_next(&l, gr->data, gr->len, &pos)) {
        if (joins(p, &l, done))
            append_member(&gr->out, &l, p->req->username);
        else
            imgd_buf_append(&gr->out, l.start, l.len);
    }
    if (!p->new_group)
        return;
    buf_newline(&gr->out);
    imgd_buf_printf(&gr->out, "%s:x:%u:\n", p->req->username, p->gid);
}

/* Every line but an earlier entry of the user's name, then the user's. */
static void render_shadow(db_file *sh, const user_plan *p)
{
    size_t pos = 0;
    db_line l;
    while (db_next(&l, sh->data, sh->len, &pos))
        if (!(db_is_entry(&l, 1) && span_eq(l.f[0], p->req->username)))
            imgd_buf_append(&sh->out, l.start, l.len);
    buf_newline(&sh->out);
    long long today = (long long)(time(NULL) / 86400);
    imgd_buf_printf(&sh->out, "%s:%s:%lld:0:99999:7:::\n", p->req->username, p->hash, today);
}

static void render_passwd(db_file *pw, const user_plan *p)
{
    imgd_buf_append(&pw->out, pw->data, pw->len);
    buf_newline(&pw->out);
    imgd_buf_printf(&pw->out, "%s:x:%u:%u::%s:%s\n", p->req->username, p->uid, p->gid, p->home,
                    p->shell);
}

/* Create the home 0700 owned by the user, its parents 0755 root:root. An existing home (or
 * whatever is in its place) is left as it is, as useradd -m does. */
static int make_home(int rootfd, const user_plan *p, imgd_error **err)
{
    char q[QUOTE_MAX], dir[IMGD_ROOTFS_PATH_MAX + 1], name[NAME_MAX + 1];
    if (strcmp(p->home, "/") == 0)
        return 0;
    int r = split_path(dir, name, p->home);
    _cleanup_close_ int dfd = r < 0 ? r : open_dir(rootfd, dir, true);
    if (dfd < 0)
        return imgd_error_errno(err, -dfd, "create home '%s'", quote(q, p->home));
    if (mkdirat(dfd, name, 0700) < 0)
        return errno == EEXIST
                   ? 0
                   : imgd_error_errno(err, errno, "create home '%s'", quote(q, p->home));
    _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fchown(fd, p->uid, p->gid) < 0 || fchmod(fd, 0700) < 0)
        return imgd_error_errno(err, errno, "create home '%s'", quote(q, p->home));
    return 0;
}

/* Debian's /etc/shadow is root:shadow 0640 so that unix_chkpwd (setgid shadow) can read it. */
static gid_t shadow_gid(const db_file *gr)
{
    db_entry e;
    return db_find(&e, gr->data, gr->len, gr_parse, "shadow", 0) ? e.id : 0;
}

static int plan_prepare(user_plan *p, db_file *pw, db_file *gr, db_file *sh, imgd_error **err)
{
    int r = db_load(pw, 0644, 0, err);
    if (r == 0)
        r = db_load(gr, 0644, 0, err);
    if (r == 0)
        r = db_load(sh, 0640, shadow_gid(gr), err);
    if (r == 0)
        r = plan_uid(p, pw, err);
    if (r == 0)
        r = plan_gids(p, gr, err);
    if (r == 0)
        r = plan_hash(p, err);
    if (r < 0)
        return r;
    render_group(gr, p);
    render_shadow(sh, p);
    render_passwd(pw, p);
    return 0;
}

int imgd_rootfs_user_add(imgd_user_ids *out, int rootfd, const imgd_user_request *req,
                         imgd_error **err)
{
    user_plan p = {0};
    int r = plan_validate(&p, req, err);
    if (r < 0)
        return r;
    _cleanup_(db_dispose) db_file pw = DB_FILE_INIT("/etc/passwd", rootfd);
    _cleanup_(db_dispose) db_file gr = DB_FILE_INIT("/etc/group", rootfd);
    _cleanup_(db_dispose) db_file sh = DB_FILE_INIT("/etc/shadow", rootfd);
    /* passwd last: the user exists once it is replaced */
    db_file *order[] = {&gr, &sh, &pw};
    r = plan_prepare(&p, &pw, &gr, &sh, err);
    for (size_t i = 0; r == 0 && i < IMGD_ARRAY_SIZE(order); i++)
        r = db_stage(order[i], err);
    if (r == 0)
        r = make_home(rootfd, &p, err);
    for (size_t i = 0; r == 0 && i < IMGD_ARRAY_SIZE(order); i++)
        r = db_commit(order[i], err);
    explicit_bzero(p.hash, sizeof(p.hash));
    if (r < 0)
        return r;
    imgd_user_ids ids = p.joined;
    ids.uid = p.uid;
    ids.gid = p.gid;
    snprintf(ids.home, sizeof(ids.home), "%s", p.home);
    *out = ids;
    return 0;
}
