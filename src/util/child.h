/* SPDX-License-Identifier: MIT */
/* Child processes from a multi-threaded daemon: posix_spawn with an argv array (never a shell),
 * explicit stdio and inherited descriptors, and a runner that captures output under a deadline.
 * Thread-safe: nothing here touches process-wide state except the children it creates. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

typedef struct imgd_spawn_opts {
    const char *const *argv; /* argv[0] is the executable's path; NULL-terminated */
    const char *const *envp; /* NULL: the daemon's environment */
    int stdin_fd;            /* -1: /dev/null */
    int stdout_fd;           /* -1: /dev/null */
    int stderr_fd;           /* -1: /dev/null; may equal stdout_fd */
    const int *pass_fds;     /* become descriptors 3, 4, ... in the child */
    size_t n_pass_fds;
    bool setsid; /* start a new session (no controlling terminal, own process group) */
} imgd_spawn_opts;

/* Start a child. Every other descriptor of the daemon is O_CLOEXEC and does not leak into it.
 * Returns 0 with the child's pid in *out_pid, or a negative errno (-ENOENT when argv[0] does not
 * exist) with *err naming the executable. The caller reaps the child. */
int imgd_spawn(pid_t *out_pid, const imgd_spawn_opts *opts, imgd_error **err);

/* Called once when the deadline passes: it kills what the child started (the process a
 * runtime's exec runs), and the child has 5 s to end by itself before it is killed with
 * SIGKILL. */
typedef void (*imgd_run_timeout_fn)(void *arg);

typedef struct imgd_run_opts {
    const char *const *argv;
    const char *const *envp; /* NULL: the daemon's environment */
    int timeout_ms;          /* <= 0: no deadline */
    size_t max_output;       /* bytes kept; the rest is read and dropped */
    bool merge_stderr;       /* stderr into the same buffer as stdout, in order */
    imgd_run_timeout_fn on_timeout;
    void *on_timeout_arg;
} imgd_run_opts;

typedef struct imgd_run_result {
    int status;     /* waitpid status */
    bool timed_out; /* the deadline passed and the child was killed */
    bool truncated; /* output beyond max_output was dropped */
    char *output;   /* owned; NUL-terminated, may hold NULs */
    size_t output_len;
    char *errors; /* owned; stderr (when not merged), at most 64 KiB, NUL-terminated */
    size_t errors_len;
} imgd_run_result;

void imgd_run_result_dispose(imgd_run_result *r);

/* Run a child to completion with stdin on /dev/null, capturing its output. Returns 0 when the
 * child ran (whatever its exit status; see out->status and out->timed_out), or a negative errno
 * when it could not be started or waited for. */
int imgd_run(imgd_run_result *out, const imgd_run_opts *opts, imgd_error **err);

/* "exited with status 3", "killed by signal 9": a waitpid status in words. */
const char *imgd_wait_status_describe(char *buf, size_t len, int status);

/* Find an executable by name in PATH (the usual default when PATH is unset), or check an
 * absolute or relative path. Writes the resolved path into out. Returns 0 or -ENOENT. */
int imgd_find_executable(char *out, size_t len, const char *name);
