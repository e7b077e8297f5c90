/* SPDX-License-Identifier: MIT */
/* private-exec PROGRAM [ARG...]: run PROGRAM in a private mount namespace without
 * /sys/fs/cgroup/unified, set up as imgd's monitor sets it up for crun on a hybrid cgroup host
 * (child_exec_runtime() in src/monitor/monitor.c): unshare(CLONE_NEWNS), / made private
 * recursively, the cgroup2 mount detached, then the exec.
 * Built with -DRUNTIME='"/usr/bin/crun"' it is a drop-in runtime instead: its arguments are the
 * runtime's, and it execs RUNTIME with them (podman's runtime path, named crun).
 * bench/containers/run.sh builds both, so that the bare crun and podman's crun pay for one
 * unshare and one small exec per runtime call, close to what imgd's monitor pays (one unshare
 * in a forked child): not for a fork of the Python driver (subprocess cannot use vfork with a
 * preexec_fn), nor for the sh, unshare and umount processes of a shell wrapper (~4.5 ms). */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <unistd.h>

int main(int argc, char **argv)
{
#ifndef RUNTIME
    if (argc < 2) {
        fprintf(stderr, "usage: private-exec PROGRAM [ARG...]\n");
        return 125;
    }
#endif
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        perror("private-exec: private mount namespace");
        return 126;
    }
    umount2("/sys/fs/cgroup/unified", MNT_DETACH);
#ifdef RUNTIME
    (void)argc;
    argv[0] = RUNTIME;
    execv(RUNTIME, argv);
#else
    execvp(argv[1], argv + 1);
#endif
    perror("private-exec: exec");
    return 127;
}
