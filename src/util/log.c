/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "strutil.h"

#define LOG_LINE_MAX 8192

static int stderr_level = IMGD_LOG_INFO;
static int stderr_enabled = 1;
static int file_level = IMGD_LOG_CRITICAL + 1; /* no file sink */

static pthread_mutex_t file_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char *path;
    int fd;
    size_t size;
    size_t max_bytes;
    unsigned backup_count;
} sink = {.fd = -1};

static __thread const char *thread_request_id;

static const struct {
    const char *name;
    imgd_log_level level;
} level_names[] = {
    {"DEBUG", IMGD_LOG_DEBUG},    {"INFO", IMGD_LOG_INFO},   {"WARNING", IMGD_LOG_WARNING},
    {"WARN", IMGD_LOG_WARNING},   {"ERROR", IMGD_LOG_ERROR}, {"CRITICAL", IMGD_LOG_CRITICAL},
    {"FATAL", IMGD_LOG_CRITICAL},
};

int imgd_log_level_parse(imgd_log_level *out, const char *name)
{
    for (size_t i = 0; i < IMGD_ARRAY_SIZE(level_names); i++) {
        if (strcasecmp(name, level_names[i].name) == 0) {
            *out = level_names[i].level;
            return 0;
        }
    }
    return -EINVAL;
}

const char *imgd_log_level_name(imgd_log_level level)
{
    switch (level) {
    case IMGD_LOG_DEBUG:
        return "DEBUG";
    case IMGD_LOG_INFO:
        return "INFO";
    case IMGD_LOG_WARNING:
        return "WARNING";
    case IMGD_LOG_ERROR:
        return "ERROR";
    case IMGD_LOG_CRITICAL:
        return "CRITICAL";
    }
    return "UNKNOWN";
}

void imgd_log_set_level(imgd_log_level level)
{
    __atomic_store_n(&stderr_level, (int)level, __ATOMIC_RELAXED);
}

imgd_log_level imgd_log_get_level(void)
{
    return (imgd_log_level)__atomic_load_n(&stderr_level, __ATOMIC_RELAXED);
}

void imgd_log_set_stderr(bool enabled)
{
    __atomic_store_n(&stderr_enabled, enabled ? 1 : 0, __ATOMIC_RELAXED);
}

void imgd_log_set_request_id(const char *id)
{
    thread_request_id = id;
}

bool imgd_log_enabled(imgd_log_level level)
{
    if (__atomic_load_n(&stderr_enabled, __ATOMIC_RELAXED) &&
        (int)level >= __atomic_load_n(&stderr_level, __ATOMIC_RELAXED))
        return true;
    return (int)level >= __atomic_load_n(&file_level, __ATOMIC_RELAXED);
}

static int open_log_fd(const char *path, size_t *out_size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0)
        return -errno;
    struct stat st;
    *out_size = fstat(fd, &st) == 0 ? (size_t)st.st_size : 0;
    return fd;
}

/* Python's RotatingFileHandler order: path.N-1 -> path.N, ..., path -> path.1, then a new path.
 * Called with file_lock held. */
static void rotate_locked(void)
{
    if (sink.backup_count == 0) {
        if (ftruncate(sink.fd, 0) == 0)
            sink.size = 0;
        return;
    }
    size_t n = strlen(sink.path) + 16;
    _cleanup_free_ char *from = malloc(n);
    _cleanup_free_ char *to = malloc(n);
    if (!from || !to)
        return;
    for (unsigned i = sink.backup_count; i > 1; i--) {
        snprintf(from, n, "%s.%u", sink.path, i - 1);
        snprintf(to, n, "%s.%u", sink.path, i);
        (void)rename(from, to);
    }
    snprintf(to, n, "%s.1", sink.path);
    (void)rename(sink.path, to);
    size_t size = 0;
    int fd = open_log_fd(sink.path, &size);
    if (fd < 0)
        return; /* keep writing to the renamed file rather than lose lines */
    close(sink.fd);
    sink.fd = fd;
    sink.size = size;
}

static void write_file_locked(const char *line, size_t len)
{
    if (sink.fd < 0)
        return;
    if (sink.max_bytes > 0 && sink.size > 0 && sink.size + len > sink.max_bytes)
        rotate_locked();
    ssize_t w = write(sink.fd, line, len);
    if (w > 0)
        sink.size += (size_t)w;
}

int imgd_log_open_file(const char *path, size_t max_bytes, unsigned backup_count,
                       imgd_log_level level, imgd_error **err)
{
    size_t size = 0;
    int fd = open_log_fd(path, &size);
    if (fd < 0)
        return imgd_error_errno(err, -fd, "open log file '%s'", path);
    char *copy = strdup(path);
    if (!copy) {
        close(fd);
        return imgd_error_set(err, ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&file_lock);
    if (sink.fd >= 0)
        close(sink.fd);
    free(sink.path);
    sink.path = copy;
    sink.fd = fd;
    sink.size = size;
    sink.max_bytes = max_bytes;
    sink.backup_count = backup_count;
    __atomic_store_n(&file_level, (int)level, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&file_lock);
    return 0;
}

int imgd_log_reopen(imgd_error **err)
{
    int r = 0;
    pthread_mutex_lock(&file_lock);
    if (sink.path) {
        size_t size = 0;
        int fd = open_log_fd(sink.path, &size);
        if (fd < 0) {
            r = imgd_error_errno(err, -fd, "reopen log file '%s'", sink.path);
        } else {
            close(sink.fd);
            sink.fd = fd;
            sink.size = size;
        }
    }
    pthread_mutex_unlock(&file_lock);
    return r;
}

void imgd_log_close(void)
{
    pthread_mutex_lock(&file_lock);
    __atomic_store_n(&file_level, IMGD_LOG_CRITICAL + 1, __ATOMIC_RELAXED);
    if (sink.fd >= 0)
        close(sink.fd);
    sink.fd = -1;
    free(sink.path);
    sink.path = NULL;
    pthread_mutex_unlock(&file_lock);
}

void imgd_log_write(imgd_log_level level, const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    const char *rid = thread_request_id;
    int k = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s %s%s%s", ts.tv_nsec / 1000000L,
                     imgd_log_level_name(level), rid ? "[" : "", rid ? rid : "", rid ? "] " : "");
    if (k < 0)
        return;
    n += (size_t)k;
    size_t msg_start = n;
    va_list ap;
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (k < 0)
        return;
    n += (size_t)k < sizeof(line) - n - 1 ? (size_t)k : sizeof(line) - n - 2;
    /* a message built from input can never forge a second log line */
    imgd_str_strip_controls(line + msg_start, n - msg_start);
    line[n++] = '\n';

    if (__atomic_load_n(&stderr_enabled, __ATOMIC_RELAXED) &&
        (int)level >= __atomic_load_n(&stderr_level, __ATOMIC_RELAXED)) {
        /* one write(2) per line keeps lines whole when threads log at once */
        ssize_t w = write(STDERR_FILENO, line, n);
        (void)w;
    }
    if ((int)level >= __atomic_load_n(&file_level, __ATOMIC_RELAXED)) {
        pthread_mutex_lock(&file_lock);
        write_file_locked(line, n);
        pthread_mutex_unlock(&file_lock);
    }
}
