/* SPDX-License-Identifier: MIT */
/* imgd-monitor: one small process per running container, as conmon is for podman.
 *
 * imgd starts it for every container start. It detaches (so it outlives imgd restarts), becomes
 * the child subreaper, runs `<runtime> run --detach` and so becomes the parent of the container's
 * init process when the runtime exits. From then on it owns the container's stdout and stderr,
 * writes them to the log one line at a time (CRI format: "<RFC3339Nano> <stream> <F|P> <text>"),
 * forwards published host ports into the container's network namespace, and when the container
 * exits records the exit status in exit.json and deletes the runtime's state.
 *
 * Files in the bundle directory (passed with --bundle):
 *   monitor.lock   locked (F_OFD_SETLK) for the monitor's whole life: imgd's liveness test
 *   monitor.pid    the monitor's pid
 *   pid            the container's init pid (written by the runtime)
 *   ctr.log        the container log (ctr.log.1 after rotation), unless --log names another
 *   runtime.log    the runtime's own log, JSON lines
 *   exit.json      {"exit_code","signal","started","finished"} when the container has exited
 *
 * The start result goes to descriptor 3 as one JSON line: {"ok":true,"pid":N} or
 * {"ok":false,"error":"..."}. Published ports arrive as listening sockets on descriptors 4.. with
 * "--publish FD:PORT". The monitor is single-threaded, so setns() for a port connection affects
 * exactly the socket created in between. */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MON_MAX_PORTS 64
#define MON_MAX_CONNS 256
#define MON_CONN_BUF  65536
#define MON_LINE_MAX  16384
#define MON_DRAIN_MS  2000
#define MON_STATUS_FD 3
#define MON_PATH_MAX  4096

typedef struct mon_args {
    const char *id, *bundle, *runtime, *root;
    bool private_cgroup; /* hide the cgroup2 mount of a hybrid host from crun */
    int64_t log_max;     /* rotate ctr.log beyond this size; 0 = never */
    const char *log;     /* the log file; NULL: <bundle>/ctr.log */
    size_t n_ports;
    int port_fd[MON_MAX_PORTS];
    uint16_t port_to[MON_MAX_PORTS];
} mon_args;

typedef struct mon_stream {
    int fd;
    const char *name;
    char line[MON_LINE_MAX];
    size_t len;
} mon_stream;

typedef struct mon_conn {
    int fd[2];                 /* 0: the client on the host, 1: the container's side */
    char buf[2][MON_CONN_BUF]; /* buf[i]: read from fd[i], to be written to fd[1 - i] */
    size_t len[2], off[2];
    bool eof[2], shut[2], connecting;
} mon_conn;

typedef struct mon_state {
    mon_args a;
    int log_fd;
    int64_t log_size;
    mon_stream out, err;
    int sfd;
    pid_t ctr_pid;
    bool exited;
    int wait_status;
    int netns, hostns;
    mon_conn *conns[MON_MAX_CONNS];
    uint64_t started;
} mon_state;

static char path_buf[MON_PATH_MAX];

static const char *bpath(const mon_args *a, const char *name)
{
    snprintf(path_buf, sizeof path_buf, "%s/%s", a->bundle, name);
    return path_buf;
}

static uint64_t now_realtime_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t now_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* JSON string body: the error texts come from the runtime and may hold anything. */
static void json_escape(char *out, size_t len, const char *s)
{
    size_t o = 0;
    for (; *s && o + 7 < len; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, len - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
}

static void status_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void status_report(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    write_all(MON_STATUS_FD, msg, strlen(msg));
    close(MON_STATUS_FD);
}

static void status_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void status_fail(const char *fmt, ...)
{
    char msg[1024], esc[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_escape(esc, sizeof esc, msg);
    status_report("{\"ok\":false,\"monitor\":%d,\"error\":\"%s\"}\n", (int)getpid(), esc);
}

static int write_file_atomic(const mon_args *a, const char *name, const char *data, bool durable)
{
    char tmp[MON_PATH_MAX], dst[MON_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", a->bundle, name);
    snprintf(dst, sizeof dst, "%s/%s", a->bundle, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int rc = write_all(fd, data, strlen(data));
    if (rc == 0 && durable)
        rc = fsync(fd);
    close(fd);
    if (rc == 0)
        rc = rename(tmp, dst);
    if (rc != 0)
        unlink(tmp);
    return rc;
}

/* ---- arguments ---- */

static int parse_port(mon_args *a, const char *spec)
{
    char *end = NULL;
    long fd = strtol(spec, &end, 10);
    if (a->n_ports >= MON_MAX_PORTS || end == spec || *end != ':' || fd < 4 || fd > 1024)
        return -1;
    long port = strtol(end + 1, &end, 10);
    if (*end || port < 1 || port > 65535)
        return -1;
    a->port_fd[a->n_ports] = (int)fd;
    a->port_to[a->n_ports++] = (uint16_t)port;
    return 0;
}

static int parse_args(mon_args *a, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(k, "--private-cgroup")) {
            a->private_cgroup = true;
            continue;
        }
        if (!v)
            return -1;
        i++;
        if (!strcmp(k, "--id"))
            a->id = v;
        else if (!strcmp(k, "--bundle"))
            a->bundle = v;
        else if (!strcmp(k, "--runtime"))
            a->runtime = v;
        else if (!strcmp(k, "--root"))
            a->root = v;
        else if (!strcmp(k, "--log"))
            a->log = v;
        else if (!strcmp(k, "--log-max"))
            a->log_max = strtoll(v, NULL, 10);
        else if (!strcmp(k, "--publish")) {
            if (parse_port(a, v) < 0)
                return -1;
        } else
            return -1;
    }
    return a->id && a->bundle && a->runtime && a->root ? 0 : -1;
}

/* ---- the runtime ---- */

static void child_exec_runtime(const mon_args *a, int out_w, int err_w, char *const *argv)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0)
        _exit(126);
    /* crun refuses hybrid cgroup hosts when the cgroup2 mount has controllers; in a private
     * mount namespace without that mount it sees a v1 host and works. The host is untouched. */
    if (a->private_cgroup) {
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
            _exit(126);
        umount2("/sys/fs/cgroup/unified", MNT_DETACH);
    }
    execv(a->runtime, argv);
    _exit(127);
}

static pid_t runtime_spawn(const mon_args *a, int out_w, int err_w, char *const *argv)
{
    pid_t pid = fork();
    if (pid == 0)
        child_exec_runtime(a, out_w, err_w, argv);
    return pid;
}

static int runtime_wait(pid_t pid)
{
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void runtime_delete(const mon_args *a)
{
    char *argv[] = {(char *)a->runtime, "--root", (char *)a->root, "delete", "--force",
                    (char *)a->id,      NULL};
    pid_t pid = runtime_spawn(a, 2, 2, argv);
    if (pid > 0)
        runtime_wait(pid);
}

/* The last "error" entry of the runtime's JSON log: {"level":"error","msg":"...",...}. */
static void runtime_last_error(const mon_args *a, char *out, size_t len)
{
    snprintf(out, len, "the runtime failed");
    int fd = open(bpath(a, "runtime.log"), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    static char buf[65536];
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > (off_t)sizeof buf - 1 ? size - (off_t)sizeof buf + 1 : 0;
    ssize_t n = pread(fd, buf, sizeof buf - 1, from);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    char *last = NULL;
    for (char *p = strstr(buf, "\"level\":\"error\""); p; p = strstr(p + 1, "\"level\":\"error\""))
        last = p;
    char *msg = last ? strstr(last, "\"msg\":\"") : NULL;
    if (!msg)
        return;
    msg += 7;
    size_t o = 0;
    for (; *msg && *msg != '"' && o + 1 < len; msg++) {
        if (*msg == '\\' && msg[1]) {
            msg++;
            if (*msg == 'n' || *msg == 't')
                *msg = ' ';
        }
        out[o++] = *msg;
    }
    out[o] = '\0';
}

static pid_t read_pid_file(const mon_args *a)
{
    char buf[32] = {0};
    int fd = open(bpath(a, "pid"), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    long pid = n > 0 ? strtol(buf, NULL, 10) : -1;
    return pid > 1 && pid <= INT_MAX ? (pid_t)pid : -1;
}

static pid_t parent_of(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* "pid (comm) state ppid": comm may hold anything, so from the last ')' */
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] && p[3] == ' ' ? (pid_t)strtol(p + 4, NULL, 10) : -1;
}

/* The runtime may return before its intermediate process, the container's parent, has exited
 * (crun does, by up to a few ms). imgd signals the container only once its parent is this
 * monitor (a pid from a file could name another process by then), so report the start when
 * the container has been handed to the monitor as subreaper. */
static void wait_adopted(pid_t ctr)
{
    for (int i = 0; i < 4000; i++) {
        pid_t parent = parent_of(ctr);
        if (parent == getpid() || parent < 0)
            return;
        usleep(250);
    }
}

/* Run `runtime run --detach`; the container's stdio are the pipes' write ends. */
static int container_start(mon_state *m, int out_w, int err_w)
{
    const mon_args *a = &m->a;
    char logp[MON_PATH_MAX], pidp[MON_PATH_MAX];
    snprintf(logp, sizeof logp, "%s/runtime.log", a->bundle);
    snprintf(pidp, sizeof pidp, "%s/pid", a->bundle);
    unlink(pidp);
    /* State a crash may have left with this id (runc and crun keep it in <root>/<id>); a
     * delete costs a runtime run, so only when there is something to delete. */
    char state[MON_PATH_MAX];
    snprintf(state, sizeof state, "%s/%s", a->root, a->id);
    if (access(state, F_OK) == 0)
        runtime_delete(a);
    char *argv[] = {(char *)a->runtime,
                    "--root",
                    (char *)a->root,
                    "--log",
                    logp,
                    "--log-format",
                    "json",
                    "run",
                    "--detach",
                    "--bundle",
                    (char *)a->bundle,
                    "--pid-file",
                    pidp,
                    (char *)a->id,
                    NULL};
    m->started = now_realtime_usec();
    pid_t pid = runtime_spawn(a, out_w, err_w, argv);
    if (pid < 0) {
        status_fail("fork: %s", strerror(errno));
        return -1;
    }
    int rc = runtime_wait(pid);
    if (rc != 0) {
        /* Clean up before answering: imgd takes a live monitor for a running container. */
        char msg[1024];
        runtime_last_error(a, msg, sizeof msg);
        runtime_delete(a);
        status_fail("%s", msg);
        return -1;
    }
    m->ctr_pid = read_pid_file(a);
    if (m->ctr_pid < 0) {
        status_fail("the runtime wrote no pid file");
        return -1;
    }
    wait_adopted(m->ctr_pid);
    return 0;
}

/* ---- the log ---- */

static const char *log_path(const mon_args *a)
{
    return a->log ? a->log : bpath(a, "ctr.log");
}

static void log_rotate(mon_state *m)
{
    char old[MON_PATH_MAX + 8];
    const char *cur = log_path(&m->a);
    snprintf(old, sizeof old, "%s.1", cur);
    if (rename(cur, old) < 0)
        return;
    int fd = open(log_path(&m->a), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    close(m->log_fd);
    m->log_fd = fd;
    m->log_size = 0;
}

static void log_record(mon_state *m, const char *stream, bool partial, const char *text, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char head[96];
    size_t h = strftime(head, sizeof head, "%Y-%m-%dT%H:%M:%S", &tm);
    h += (size_t)snprintf(head + h, sizeof head - h, ".%09ldZ %s %c ", ts.tv_nsec, stream,
                          partial ? 'P' : 'F');
    struct {
        const char *p;
        size_t n;
    } parts[3] = {{head, h}, {text, len}, {"\n", 1}};
    for (size_t i = 0; i < 3; i++)
        if (write_all(m->log_fd, parts[i].p, parts[i].n) == 0)
            m->log_size += (int64_t)parts[i].n;
    if (m->a.log_max > 0 && m->log_size > m->a.log_max)
        log_rotate(m);
}

/* Read from a stream; returns false at EOF. Complete lines are logged with F, a line longer than
 * the buffer in P pieces, as the CRI log format does. */
static bool stream_read(mon_state *m, mon_stream *s)
{
    ssize_t n = read(s->fd, s->line + s->len, sizeof s->line - s->len);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN;
    if (n == 0) {
        if (s->len > 0)
            log_record(m, s->name, true, s->line, s->len);
        s->len = 0;
        return false;
    }
    s->len += (size_t)n;
    size_t start = 0;
    for (size_t i = 0; i < s->len; i++)
        if (s->line[i] == '\n') {
            log_record(m, s->name, false, s->line + start, i - start);
            start = i + 1;
        }
    memmove(s->line, s->line + start, s->len - start);
    s->len -= start;
    if (s->len == sizeof s->line) {
        log_record(m, s->name, true, s->line, s->len);
        s->len = 0;
    }
    return true;
}

/* ---- published ports ---- */

static void conn_free(mon_state *m, size_t i)
{
    mon_conn *c = m->conns[i];
    close(c->fd[0]);
    close(c->fd[1]);
    free(c);
    m->conns[i] = NULL;
}

/* A socket of the container's network namespace: created while this (single) thread is in it.
 * The socket stays in that namespace after the thread goes back. */
static int conn_socket_in_container(mon_state *m)
{
    if (m->netns >= 0 && setns(m->netns, CLONE_NEWNET) < 0)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int e = errno;
    if (m->netns >= 0 && setns(m->hostns, CLONE_NEWNET) < 0)
        abort(); /* stuck in the container's namespace: never serve the host from there */
    errno = e;
    return fd;
}

static void conn_accept(mon_state *m, size_t port)
{
    int client = accept4(m->a.port_fd[port], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client < 0)
        return;
    size_t slot = 0;
    while (slot < MON_MAX_CONNS && m->conns[slot])
        slot++;
    int up = slot < MON_MAX_CONNS ? conn_socket_in_container(m) : -1;
    mon_conn *c = up >= 0 ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        close(client);
        if (up >= 0)
            close(up);
        return;
    }
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons(m->a.port_to[port]),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    c->fd[0] = client;
    c->fd[1] = up;
    if (connect(up, (struct sockaddr *)&sin, sizeof sin) < 0 && errno != EINPROGRESS) {
        close(client);
        close(up);
        free(c);
        return;
    }
    c->connecting = true;
    m->conns[slot] = c;
}

static short conn_events(const mon_conn *c, int side)
{
    short ev = 0;
    if (side == 1 && c->connecting)
        return POLLOUT;
    if (!c->eof[side] && c->len[side] < MON_CONN_BUF)
        ev |= POLLIN;
    if (c->len[1 - side] > c->off[1 - side])
        ev |= POLLOUT;
    return ev;
}

/* Move bytes one step; returns false when the connection is finished. */
static bool conn_step(mon_conn *c, int side, short revents)
{
    if (side == 1 && c->connecting) {
        int e = 0;
        socklen_t l = sizeof e;
        if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
            return true;
        if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &e, &l) < 0 || e != 0)
            return false;
        c->connecting = false;
        return true;
    }
    if (revents & (POLLIN | POLLHUP | POLLERR) && !c->eof[side] && c->len[side] < MON_CONN_BUF) {
        ssize_t n = read(c->fd[side], c->buf[side] + c->len[side], MON_CONN_BUF - c->len[side]);
        if (n > 0)
            c->len[side] += (size_t)n;
        else if (n == 0 || (errno != EAGAIN && errno != EINTR))
            c->eof[side] = true;
    }
    int from = 1 - side;
    if (revents & POLLOUT && c->len[from] > c->off[from]) {
        ssize_t n = write(c->fd[side], c->buf[from] + c->off[from], c->len[from] - c->off[from]);
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return false;
        if (n > 0)
            c->off[from] += (size_t)n;
        if (c->off[from] == c->len[from])
            c->off[from] = c->len[from] = 0;
    }
    for (int s = 0; s < 2; s++)
        if (c->eof[s] && c->len[s] == 0 && !c->shut[s]) {
            shutdown(c->fd[1 - s], SHUT_WR);
            c->shut[s] = true;
        }
    return !(c->shut[0] && c->shut[1]);
}

/* ---- the loop ---- */

static void reap(mon_state *m)
{
    struct signalfd_siginfo si;
    while (read(m->sfd, &si, sizeof si) > 0) {
    }
    for (;;) {
        int st = 0;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid <= 0)
            break;
        if (pid == m->ctr_pid) {
            m->exited = true;
            m->wait_status = st;
        }
    }
}

typedef struct poll_set {
    struct pollfd p[4 + MON_MAX_PORTS + 2 * MON_MAX_CONNS];
    size_t n;
} poll_set;

static size_t poll_add(poll_set *ps, int fd, short events)
{
    ps->p[ps->n] = (struct pollfd){.fd = fd, .events = events};
    return ps->n++;
}

static void loop_once(mon_state *m, int timeout_ms)
{
    poll_set ps = {.n = 0};
    size_t i_sfd = poll_add(&ps, m->sfd, POLLIN);
    size_t i_out = poll_add(&ps, m->out.fd, m->out.fd >= 0 ? POLLIN : 0);
    size_t i_err = poll_add(&ps, m->err.fd, m->err.fd >= 0 ? POLLIN : 0);
    size_t i_port = ps.n;
    for (size_t i = 0; i < m->a.n_ports; i++)
        poll_add(&ps, m->exited ? -1 : m->a.port_fd[i], POLLIN);
    size_t i_conn = ps.n;
    for (size_t i = 0; i < MON_MAX_CONNS; i++) {
        mon_conn *c = m->conns[i];
        poll_add(&ps, c ? c->fd[0] : -1, c ? conn_events(c, 0) : 0);
        poll_add(&ps, c ? c->fd[1] : -1, c ? conn_events(c, 1) : 0);
    }
    if (poll(ps.p, ps.n, timeout_ms) <= 0)
        return;
    if (ps.p[i_sfd].revents)
        reap(m);
    if (ps.p[i_out].revents && !stream_read(m, &m->out)) {
        close(m->out.fd);
        m->out.fd = -1;
    }
    if (ps.p[i_err].revents && !stream_read(m, &m->err)) {
        close(m->err.fd);
        m->err.fd = -1;
    }
    for (size_t i = 0; i < m->a.n_ports; i++)
        if (ps.p[i_port + i].revents & POLLIN)
            conn_accept(m, i);
    for (size_t i = 0; i < MON_MAX_CONNS; i++) {
        mon_conn *c = m->conns[i];
        short r0 = ps.p[i_conn + 2 * i].revents, r1 = ps.p[i_conn + 2 * i + 1].revents;
        if (c && ps.p[i_conn + 2 * i].fd == c->fd[0] && (r0 || r1)) {
            if (!conn_step(c, 1, r1) || !conn_step(c, 0, r0))
                conn_free(m, i);
        }
    }
}

static void loop_run(mon_state *m)
{
    uint64_t drain_until = 0;
    for (;;) {
        if (m->exited && drain_until == 0) {
            drain_until = now_monotonic_ms() + MON_DRAIN_MS;
            for (size_t i = 0; i < MON_MAX_CONNS; i++)
                if (m->conns[i])
                    conn_free(m, i);
        }
        if (m->exited && ((m->out.fd < 0 && m->err.fd < 0) || now_monotonic_ms() >= drain_until))
            return;
        loop_once(m, m->exited ? 50 : -1);
    }
}

static void record_exit(mon_state *m)
{
    int st = m->wait_status, code = 0, sig = 0;
    if (WIFEXITED(st)) {
        code = WEXITSTATUS(st);
    } else if (WIFSIGNALED(st)) {
        sig = WTERMSIG(st);
        code = 128 + sig;
    }
    char json[256];
    snprintf(json, sizeof json,
             "{\"exit_code\":%d,\"signal\":%d,\"started\":%llu,\"finished\":%llu}\n", code, sig,
             (unsigned long long)m->started, (unsigned long long)now_realtime_usec());
    write_file_atomic(&m->a, "exit.json", json, true);
}

/* ---- main ---- */

static int take_lock(const mon_args *a)
{
    /* An open-file-description lock, so that imgd can test it with F_OFD_GETLK without ever
     * holding it (a test by taking the lock could make a concurrent start fail). */
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    int fd = open(bpath(a, "monitor.lock"), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || fcntl(fd, F_OFD_SETLK, &fl) < 0)
        return -1;
    char pid[32];
    snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    write_file_atomic(a, "monitor.pid", pid, false); /* meaningless after a reboot */
    return fd;
}

static int setup_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static int monitor_main(mon_state *m)
{
    mon_args *a = &m->a;
    if (take_lock(a) < 0) {
        status_fail("container '%s' already has a monitor", a->id);
        return 1;
    }
    unlink(bpath(a, "exit.json"));
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    m->sfd = setup_signals();
    m->log_fd = open(log_path(a), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int outp[2], errp[2];
    if (m->sfd < 0 || m->log_fd < 0 || pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        status_fail("monitor setup: %s", strerror(errno));
        return 1;
    }
    struct stat st;
    m->log_size = fstat(m->log_fd, &st) == 0 ? st.st_size : 0;
    m->out = (mon_stream){.fd = outp[0], .name = "stdout"};
    m->err = (mon_stream){.fd = errp[0], .name = "stderr"};
    int rc = container_start(m, outp[1], errp[1]);
    close(outp[1]);
    close(errp[1]);
    if (rc < 0)
        return 1;
    char netns[64];
    snprintf(netns, sizeof netns, "/proc/%d/ns/net", (int)m->ctr_pid);
    m->netns = a->n_ports ? open(netns, O_RDONLY | O_CLOEXEC) : -1;
    m->hostns = a->n_ports ? open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC) : -1;
    status_report("{\"ok\":true,\"monitor\":%d,\"pid\":%d}\n", (int)getpid(), (int)m->ctr_pid);
    loop_run(m);
    record_exit(m);
    runtime_delete(a);
    return 0;
}

int main(int argc, char **argv)
{
    static mon_state m = {.netns = -1, .hostns = -1, .ctr_pid = -1};
    if (parse_args(&m.a, argc, argv) < 0) {
        fprintf(stderr,
                "usage: imgd-monitor --id ID --bundle DIR --runtime PATH --root DIR "
                "[--private-cgroup] [--log FILE] [--log-max BYTES] [--publish FD:PORT]...\n");
        return 2;
    }
    if (fcntl(MON_STATUS_FD, F_GETFD) < 0) {
        fprintf(stderr, "imgd-monitor: descriptor 3 (status) is not open\n");
        return 2;
    }
    /* Detach: imgd reaps this first process at once; the monitor proper is reparented to init
     * (or the nearest subreaper) and lives on in its own session when imgd restarts. */
    pid_t pid = fork();
    if (pid < 0) {
        status_fail("fork: %s", strerror(errno));
        return 1;
    }
    if (pid > 0)
        _exit(0);
    setsid();
    return monitor_main(&m);
}
