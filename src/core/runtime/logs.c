/* SPDX-License-Identifier: MIT */
/* Reading container logs. The monitor writes one record per line in the CRI format:
 *
 *     2026-12-02T10:00:00.123456789Z stdout F the text
 *
 * F ends a line, P is a piece of a longer one (or the last bytes before EOF without a newline).
 * ctr.log.1 holds the records from before the last rotation. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "logs.h"
#include "runtime-private.h"
#include "util/cleanup.h"

#define LOGS_MAX_READ  (256u << 20)
#define LOGS_TAIL_STEP (64u << 10)
#define FOLLOW_NAP_US  50000

int imgd_log_record_parse(imgd_log_record *out, const char *line, size_t len)
{
    const char *end = line + len;
    const char *sp1 = memchr(line, ' ', len);
    if (!sp1 || sp1 - line < 20)
        return -EBADMSG;
    struct tm tm = {0};
    const char *p = strptime(line, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p || p > sp1)
        return -EBADMSG;
    int64_t frac_us = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; p < sp1 && *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 6)
                frac_us = frac_us * 10 + (*p - '0');
        for (; digits < 6; digits++)
            frac_us *= 10;
    }
    if (p >= sp1 || *p != 'Z')
        return -EBADMSG;
    const char *stream = sp1 + 1;
    const char *sp2 = memchr(stream, ' ', (size_t)(end - stream));
    if (!sp2 || sp2 + 2 >= end + 1 || (sp2[1] != 'F' && sp2[1] != 'P') ||
        (sp2 + 2 < end && sp2[2] != ' '))
        return -EBADMSG;
    out->time_usec = (int64_t)timegm(&tm) * 1000000 + frac_us;
    out->time = line;
    out->time_len = (size_t)(sp1 - line);
    out->is_stderr = (size_t)(sp2 - stream) == 6 && !memcmp(stream, "stderr", 6);
    out->partial = sp2[1] == 'P';
    out->text = sp2 + 2 < end ? sp2 + 3 : end;
    out->text_len = (size_t)(end - out->text);
    return 0;
}

/* Render records of buf[0..len) into out; at_line_start carries across calls. */
static void render(imgd_buf *out, const char *buf, size_t len, const imgd_log_opts *o,
                   bool *at_line_start)
{
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (buf + pos)) : len - pos;
        imgd_log_record rec;
        if (imgd_log_record_parse(&rec, buf + pos, n) == 0 && rec.time_usec >= o->since_usec &&
            !(o->stdout_only && rec.is_stderr) && !(o->stderr_only && !rec.is_stderr)) {
            if (o->timestamps && *at_line_start) {
                imgd_buf_append(out, rec.time, rec.time_len);
                imgd_buf_append(out, " ", 1);
            }
            imgd_buf_append(out, rec.text, rec.text_len);
            if (!rec.partial)
                imgd_buf_append(out, "\n", 1);
            *at_line_start = !rec.partial;
        }
        pos += n + 1;
    }
}

/* The start offset of the last `lines` lines of fd's first `size` bytes (complete lines). */
static off_t tail_offset(int fd, off_t size, int64_t lines)
{
    char chunk[LOGS_TAIL_STEP];
    int64_t seen = 0;
    off_t pos = size;
    while (pos > 0) {
        size_t n = pos > (off_t)sizeof chunk ? sizeof chunk : (size_t)pos;
        pos -= (off_t)n;
        if (pread(fd, chunk, n, pos) != (ssize_t)n)
            return 0;
        for (size_t i = n; i-- > 0;) {
            if (chunk[i] != '\n' || pos + (off_t)i == size - 1)
                continue;
            if (++seen == lines)
                return pos + (off_t)i + 1;
        }
    }
    return 0;
}

static int read_range(char **out, size_t *len, int fd, off_t from, off_t to)
{
    if (to - from > (off_t)LOGS_MAX_READ)
        from = to - (off_t)LOGS_MAX_READ;
    size_t n = (size_t)(to - from);
    char *buf = malloc(n + 1);
    if (!buf)
        return -ENOMEM;
    ssize_t got = n ? pread(fd, buf, n, from) : 0;
    if (got < 0) {
        free(buf);
        return -errno;
    }
    buf[got] = '\0';
    *out = buf;
    *len = (size_t)got;
    return 0;
}

/* Records to show from one file: the whole file, or its last `want` lines. Returns the number of
 * lines taken (counting by newlines; P pieces make this an upper bound, as in crictl). */
static int64_t read_file_tail(imgd_buf *out, const char *path, const imgd_log_opts *o, int64_t want,
                              bool *at_line_start, off_t *out_end)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return 0;
    off_t from = want < 0 ? 0 : tail_offset(fd, st.st_size, want);
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    if (want == 0 || read_range(&buf, &len, fd, from, st.st_size) < 0) {
        if (out_end)
            *out_end = st.st_size;
        return 0;
    }
    int64_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += buf[i] == '\n';
    render(out, buf, len, o, at_line_start);
    if (out_end)
        *out_end = from + (off_t)len;
    return lines;
}

/* Keep the last `lines` lines of the rendered text (a last line without a newline counts). */
static void keep_last_lines(imgd_buf *b, int64_t lines)
{
    if (lines < 0 || b->len == 0)
        return;
    size_t pos = b->len;
    int64_t seen = 0;
    if (lines == 0) {
        b->len = 0;
        return;
    }
    for (size_t i = b->len - 1; i-- > 0;)
        if (b->data[i] == '\n' && ++seen == lines) {
            pos = i + 1;
            break;
        }
    if (seen < lines)
        return;
    memmove(b->data, b->data + pos, b->len - pos);
    b->len -= pos;
    b->data[b->len] = '\0';
}

static int logs_collect(imgd_runtime *rt, const imgd_container *c, const imgd_log_opts *o,
                        imgd_buf *out, off_t *end)
{
    char cur[4096], old[4096];
    runtime_log_file(cur, sizeof cur, rt, c, "");
    runtime_log_file(old, sizeof old, rt, c, ".1");
    /* Filters apply before the tail (the last 5 stderr lines, not the stderr lines among the
     * last 5), so with a filter the whole log is read. Without, the current file's last lines
     * first, to know how many the older one must give; rendered in order: older, current. */
    bool filtered = o->since_usec > 0 || o->stdout_only || o->stderr_only;
    int64_t want = filtered ? -1 : o->tail;
    imgd_buf tmp = {0};
    bool start = true;
    int64_t got = read_file_tail(&tmp, cur, o, want, &start, end);
    if (want < 0 || got < want) {
        start = true;
        read_file_tail(out, old, o, want < 0 ? -1 : want - got, &start, NULL);
    }
    if (tmp.len)
        imgd_buf_append(out, tmp.data, tmp.len);
    imgd_buf_dispose(&tmp);
    keep_last_lines(out, o->tail);
    return out->failed ? -ENOMEM : 0;
}

int imgd_runtime_logs(imgd_runtime *rt, const char *name_or_id, const imgd_log_opts *opts,
                      imgd_buf *out, imgd_error **err)
{
    imgd_container c = {0};
    int r = runtime_lookup(rt, name_or_id, &c, err);
    if (r == 0 && logs_collect(rt, &c, opts, out, NULL) < 0)
        r = imgd_error_set(err, ENOMEM, "out of memory");
    imgd_container_dispose(&c);
    return r;
}

/* Follow: render complete new lines from offset as they arrive; the end comes when the monitor
 * is gone and nothing more is in the file. A rotation (the file shrank or was replaced) restarts
 * from the new file's beginning. */
static int follow_loop(imgd_runtime *rt, const imgd_container *c, const imgd_log_opts *o,
                       off_t offset, imgd_log_write_fn write, void *arg)
{
    char path[4096];
    runtime_log_file(path, sizeof path, rt, c, "");
    bool start = true;
    for (;;) {
        bool alive = runtime_monitor_alive(rt, c->id);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
            if (!alive)
                return 0;
            usleep(FOLLOW_NAP_US);
            continue;
        }
        if (st.st_size < offset)
            offset = 0;
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        if (st.st_size > offset && read_range(&buf, &len, fd, offset, st.st_size) == 0 && buf) {
            char *last = memrchr(buf, '\n', len);
            size_t take = last ? (size_t)(last - buf) + 1 : 0;
            imgd_buf chunk = {0};
            render(&chunk, buf, take, o, &start);
            int r = chunk.len ? write(arg, chunk.data, chunk.len) : 0;
            imgd_buf_dispose(&chunk);
            if (r < 0)
                return r;
            offset += (off_t)take;
            if (take)
                continue;
        }
        if (!alive)
            return 0;
        usleep(FOLLOW_NAP_US);
    }
}

int imgd_runtime_logs_follow(imgd_runtime *rt, const char *name_or_id, const imgd_log_opts *opts,
                             imgd_log_write_fn write, void *arg, imgd_error **err)
{
    imgd_container c = {0};
    int r = runtime_lookup(rt, name_or_id, &c, err);
    if (r < 0)
        return r;
    imgd_buf first = {0};
    off_t end = 0;
    r = logs_collect(rt, &c, opts, &first, &end);
    if (r == 0 && first.len)
        r = write(arg, first.data, first.len);
    imgd_buf_dispose(&first);
    if (r == 0)
        r = follow_loop(rt, &c, opts, end, write, arg);
    imgd_container_dispose(&c);
    return r < 0 && r != -EPIPE ? imgd_error_set(err, -r, "follow logs") : 0;
}
