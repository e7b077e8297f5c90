/* SPDX-License-Identifier: MIT */
/* Scope-bound cleanup helpers: every owning local is declared with one of these and initialised
 * where it is declared, so each early return releases what it must. */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(fn) __attribute__((cleanup(fn)))

static inline void imgd_freep(void *p)
{
    free(*(void **)p);
}

static inline void imgd_closep(const int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}

static inline void imgd_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

static inline void imgd_strv_freep(char ***strv)
{
    if (!*strv)
        return;
    for (char **s = *strv; *s; s++)
        free(*s);
    free(*strv);
}

/* Free a NUL-terminated string that may hold a secret (a token, a password), wiping it first so
 * it does not linger in freed memory. Accepts NULL. */
static inline void imgd_secret_free(char *s)
{
    if (!s)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

static inline void imgd_secret_freep(char **s)
{
    imgd_secret_free(*s);
}

#define _cleanup_free_   _cleanup_(imgd_freep)
#define _cleanup_secret_ _cleanup_(imgd_secret_freep)
#define _cleanup_close_  _cleanup_(imgd_closep)
#define _cleanup_fclose_ _cleanup_(imgd_fclosep)
#define _cleanup_strv_   _cleanup_(imgd_strv_freep)

/* Take ownership out of a cleanup-managed variable: returns the value and leaves NULL / -1. */
#define TAKE_PTR(p)                                                                                \
    ({                                                                                             \
        __typeof__(p) _taken = (p);                                                                \
        (p) = NULL;                                                                                \
        _taken;                                                                                    \
    })

#define TAKE_FD(fd)                                                                                \
    ({                                                                                             \
        int _taken = (fd);                                                                         \
        (fd) = -1;                                                                                 \
        _taken;                                                                                    \
    })

#define IMGD_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
