/* SPDX-License-Identifier: MIT */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "timeutil.h"

extern char **environ;

#define SPAWN_MAX_PASS_FDS 64
#define SPAWN_HIGH_FD      100
#define RUN_MAX_ERRORS     (64 * 1024)

/* The child's descriptors are set up from copies above SPAWN_HIGH_FD, so that a source that
 * happens to have the number of a target (the daemon's fd 3 passed as the child's fd 4 while the
 * daemon's fd 4 becomes the child's 3) is never overwritten before it is copied. */
static int spawn_dup_high(int fd)
{
    return fcntl(fd, F_DUPFD_CLOEXEC, SPAWN_HIGH_FD);
}

static void spawn_close_all(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

static int spawn_stdio(posix_spawn_file_actions_t *fa, int *copy, int fd, int target)
{
    if (fd < 0)
        return posix_spawn_file_actions_addopen(fa, target, "/dev/null",
                                                target == 0 ? O_RDONLY : O_WRONLY, 0);
    *copy = spawn_dup_high(fd);
    if (*copy < 0)
        return errno;
    return posix_spawn_file_actions_adddup2(fa, *copy, target);
}

static int spawn_actions(posix_spawn_file_actions_t *fa, int *copies, const imgd_spawn_opts *o)
{
    int stdio[3] = {o->stdin_fd, o->stdout_fd, o->stderr_fd};
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++)
        rc = spawn_stdio(fa, &copies[i], stdio[i], i);
    for (size_t i = 0; i < o->n_pass_fds && rc == 0; i++) {
        copies[3 + i] = spawn_dup_high(o->pass_fds[i]);
        if (copies[3 + i] < 0)
            return errno;
        rc = posix_spawn_file_actions_adddup2(fa, copies[3 + i], (int)(3 + i));
    }
    return rc;
}

static int spawn_attrs(posix_spawnattr_t *attr, bool setsid)
{
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (setsid)
        flags |= POSIX_SPAWN_SETSID;
    int rc = posix_spawnattr_setflags(attr, flags);
    if (rc == 0)
        rc = posix_spawnattr_setsigmask(attr, &none);
    if (rc == 0)
        rc = posix_spawnattr_setsigdefault(attr, &all);
    return rc;
}

int imgd_spawn(pid_t *out_pid, const imgd_spawn_opts *o, imgd_error **err)
{
    if (!o->argv || !o->argv[0])
        return imgd_error_set(err, EINVAL, "spawn: empty argv");
    if (o->n_pass_fds > SPAWN_MAX_PASS_FDS)
        return imgd_error_set(err, E2BIG, "spawn '%s': too many descriptors", o->argv[0]);

    int copies[3 + SPAWN_MAX_PASS_FDS];
    for (size_t i = 0; i < IMGD_ARRAY_SIZE(copies); i++)
        copies[i] = -1;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    int rc = spawn_actions(&fa, copies, o);
    if (rc == 0)
        rc = spawn_attrs(&attr, o->setsid);
    pid_t pid = -1;
    if (rc == 0)
        rc = posix_spawn(&pid, o->argv[0], &fa, &attr, (char *const *)o->argv,
                         o->envp ? (char *const *)o->envp : environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    spawn_close_all(copies, 3 + o->n_pass_fds);
    if (rc != 0)
        return imgd_error_errno(err, rc, "start '%s'", o->argv[0]);
    *out_pid = pid;
    return 0;
}

const char *imgd_wait_status_describe(char *buf, size_t len, int status)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, len, "ended with wait status %#x", (unsigned)status);
    return buf;
}

void imgd_run_result_dispose(imgd_run_result *r)
{
    if (!r)
        return;
    free(r->output);
    free(r->errors);
    r->output = r->errors = NULL;
    r->output_len = r->errors_len = 0;
}

static int run_pidfd_open(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

typedef struct run_sink {
    int fd;
    imgd_buf buf;
    size_t max;
    bool truncated;
} run_sink;

/* Read what is there; returns 1 at EOF, 0 otherwise, negative errno on failure. */
static int run_sink_read(run_sink *s)
{
    char chunk[16384];
    ssize_t n = read(s->fd, chunk, sizeof chunk);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : -errno;
    if (n == 0)
        return 1;
    size_t room = s->buf.len < s->max ? s->max - s->buf.len : 0;
    size_t keep = (size_t)n < room ? (size_t)n : room;
    if (keep < (size_t)n)
        s->truncated = true;
    if (keep > 0 && imgd_buf_append(&s->buf, chunk, keep) < 0)
        return -ENOMEM;
    return 0;
}

/* After the child is gone, whatever it left running may still hold the pipes: give them a
 * moment to close, then stop waiting. */
#define RUN_DRAIN_MS      100
#define RUN_KILL_GRACE_MS 5000

static int run_loop(imgd_run_result *out, const imgd_run_opts *o, pid_t pid, int pidfd,
                    run_sink *sinks, size_t n_sinks)
{
    uint64_t deadline =
        o->timeout_ms > 0 ? imgd_now_monotonic_usec() + (uint64_t)o->timeout_ms * 1000 : UINT64_MAX;
    bool exited = false;
    uint64_t drain_until = UINT64_MAX;
    for (;;) {
        struct pollfd p[3];
        size_t np = 0, open_sinks = 0;
        for (size_t i = 0; i < n_sinks; i++)
            if (sinks[i].fd >= 0) {
                p[np++] = (struct pollfd){.fd = sinks[i].fd, .events = POLLIN};
                open_sinks++;
            }
        if (exited && (open_sinks == 0 || imgd_now_monotonic_usec() >= drain_until))
            return 0;
        if (!exited)
            p[np++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
        uint64_t now = imgd_now_monotonic_usec();
        uint64_t until = exited ? drain_until : deadline;
        int wait_ms = until == UINT64_MAX ? -1
                      : until <= now      ? 0
                                          : (int)((until - now + 999) / 1000);
        int r = poll(p, np, wait_ms);
        if (r < 0 && errno != EINTR)
            return -errno;
        if (!exited && imgd_now_monotonic_usec() >= deadline) {
            /* With a hook, the child gets a moment to end by itself once the hook has killed
             * what it started: a runtime's exec killed first would orphan its process, and the
             * orphan's new parent (the daemon, a subreaper) would hold it as a zombie that
             * keeps the container's pid namespace from ever ending. */
            bool grace = o->on_timeout && !out->timed_out;
            if (grace)
                o->on_timeout(o->on_timeout_arg);
            else
                kill(pid, SIGKILL);
            out->timed_out = true;
            deadline = grace ? imgd_now_monotonic_usec() + RUN_KILL_GRACE_MS * 1000 : UINT64_MAX;
        }
        for (size_t i = 0, k = 0; i < n_sinks; i++) {
            if (sinks[i].fd < 0)
                continue;
            if (p[k++].revents) {
                int e = run_sink_read(&sinks[i]);
                if (e < 0)
                    return e;
                if (e == 1) {
                    close(sinks[i].fd);
                    sinks[i].fd = -1;
                }
            }
        }
        if (!exited && p[np - 1].revents) {
            if (waitpid(pid, &out->status, 0) < 0)
                return -errno;
            exited = true;
            drain_until = imgd_now_monotonic_usec() + RUN_DRAIN_MS * 1000;
        }
    }
}

static int run_take(char **out, size_t *out_len, imgd_buf *b)
{
    if (b->failed)
        return -ENOMEM;
    if (b->len == 0) {
        *out_len = 0;
        *out = strdup("");
    } else {
        *out = imgd_buf_steal(b, out_len);
    }
    return *out ? 0 : -ENOMEM;
}

int imgd_run(imgd_run_result *out, const imgd_run_opts *o, imgd_error **err)
{
    int outp[2] = {-1, -1}, errp[2] = {-1, -1};
    if (pipe2(outp, O_CLOEXEC) < 0)
        return imgd_error_errno(err, errno, "run '%s': pipe", o->argv[0]);
    if (!o->merge_stderr && pipe2(errp, O_CLOEXEC) < 0) {
        int e = errno;
        spawn_close_all(outp, 2);
        return imgd_error_errno(err, e, "run '%s': pipe", o->argv[0]);
    }
    imgd_spawn_opts so = {.argv = o->argv,
                          .envp = o->envp,
                          .stdin_fd = -1,
                          .stdout_fd = outp[1],
                          .stderr_fd = o->merge_stderr ? outp[1] : errp[1]};
    pid_t pid = -1;
    int rc = imgd_spawn(&pid, &so, err);
    close(outp[1]);
    if (errp[1] >= 0)
        close(errp[1]);
    run_sink sinks[2] = {{.fd = outp[0], .max = o->max_output},
                         {.fd = errp[0], .max = RUN_MAX_ERRORS}};
    if (rc < 0) {
        spawn_close_all((int[]){outp[0], errp[0]}, 2);
        return rc;
    }
    imgd_run_result res = {0};
    int pidfd = run_pidfd_open(pid);
    if (pidfd < 0) {
        rc = imgd_error_errno(err, errno, "run '%s': pidfd_open", o->argv[0]);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    } else {
        rc = run_loop(&res, o, pid, pidfd, sinks, o->merge_stderr ? 1 : 2);
        if (rc < 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            rc = imgd_error_errno(err, -rc, "run '%s'", o->argv[0]);
        }
        close(pidfd);
    }
    for (size_t i = 0; i < 2; i++)
        if (sinks[i].fd >= 0)
            close(sinks[i].fd);
    if (rc == 0) {
        res.truncated = sinks[0].truncated;
        rc = run_take(&res.output, &res.output_len, &sinks[0].buf);
        if (rc == 0)
            rc = run_take(&res.errors, &res.errors_len, &sinks[1].buf);
        if (rc < 0) {
            imgd_run_result_dispose(&res);
            rc = imgd_error_set(err, ENOMEM, "run '%s': out of memory", o->argv[0]);
        } else {
            *out = res;
        }
    }
    imgd_buf_dispose(&sinks[0].buf);
    imgd_buf_dispose(&sinks[1].buf);
    return rc;
}

int imgd_find_executable(char *out, size_t len, const char *name)
{
    if (!name || !*name)
        return -ENOENT;
    if (strchr(name, '/')) {
        if (access(name, X_OK) < 0)
            return -ENOENT;
        snprintf(out, len, "%s", name);
        return 0;
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (const char *p = path; *p;) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > 0 && (size_t)snprintf(out, len, "%.*s/%s", (int)n, p, name) < len &&
            access(out, X_OK) == 0)
            return 0;
        p += n + (end ? 1 : 0);
    }
    out[0] = '\0';
    return -ENOENT;
}
