/* SPDX-License-Identifier: MIT */
#include "error.h"

#include "strutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int error_code(int code)
{
    if (code < 0)
        code = -code;
    return code ? code : EIO;
}

static int error_vset(imgd_error **err, int code, const char *suffix, const char *fmt, va_list ap)
{
    code = error_code(code);
    if (!err || *err)
        return -code;
    imgd_error *e = calloc(1, sizeof(*e));
    if (!e)
        return -code;
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    if (msg && suffix) {
        char *full = NULL;
        if (asprintf(&full, "%s: %s", msg, suffix) >= 0) {
            free(msg);
            msg = full;
        }
    }
    e->code = code;
    e->message = msg ? msg : strdup("out of memory");
    if (e->message) /* one line, whatever the input quoted in it held */
        imgd_str_strip_controls(e->message, strlen(e->message));
    *err = e;
    return -code;
}

int imgd_error_set(imgd_error **err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = error_vset(err, code, NULL, fmt, ap);
    va_end(ap);
    return r;
}

int imgd_error_errno(imgd_error **err, int code, const char *fmt, ...)
{
    char buf[128];
    const char *s = strerror_r(error_code(code), buf, sizeof(buf));
    va_list ap;
    va_start(ap, fmt);
    int r = error_vset(err, code, s, fmt, ap);
    va_end(ap);
    return r;
}

int imgd_error_prefix(imgd_error **err, const char *fmt, ...)
{
    if (!err || !*err)
        return -EIO;
    char *ctx = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&ctx, fmt, ap);
    va_end(ap);
    char *full = NULL;
    if (n >= 0 && asprintf(&full, "%s: %s", ctx, (*err)->message) >= 0) {
        free((*err)->message);
        (*err)->message = imgd_str_strip_controls(full, strlen(full));
    }
    if (n >= 0)
        free(ctx);
    return -(*err)->code;
}

void imgd_error_free(imgd_error *e)
{
    if (!e)
        return;
    free(e->message);
    free(e);
}
