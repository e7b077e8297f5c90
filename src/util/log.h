/* SPDX-License-Identifier: MIT */
/* Logging: levels as in Python's logging module (the seeds' configs name them), a stderr sink and
 * an optional size-rotated file sink (imgd.log, imgd.log.1 ... imgd.log.N) with its own level.
 * Each line carries the request id of the calling thread when one is set.
 *
 * All functions are thread-safe. The levels are the only mutable globals of the process. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

typedef enum imgd_log_level {
    IMGD_LOG_DEBUG = 10,
    IMGD_LOG_INFO = 20,
    IMGD_LOG_WARNING = 30,
    IMGD_LOG_ERROR = 40,
    IMGD_LOG_CRITICAL = 50,
} imgd_log_level;

/* Parse a level name (DEBUG, INFO, WARNING/WARN, ERROR, CRITICAL/FATAL; any case).
 * Returns 0 and sets *out, or -EINVAL. */
int imgd_log_level_parse(imgd_log_level *out, const char *name);

/* Canonical upper-case name of a level; static string. */
const char *imgd_log_level_name(imgd_log_level level);

/* Level of the stderr sink (default INFO). */
void imgd_log_set_level(imgd_log_level level);
imgd_log_level imgd_log_get_level(void);

/* Enable or disable the stderr sink. */
void imgd_log_set_stderr(bool enabled);

/* Open (or replace) the file sink. max_bytes 0 disables rotation; with backup_count 0 the file is
 * truncated when it reaches max_bytes. Returns 0 or a negative errno with *err filled. */
int imgd_log_open_file(const char *path, size_t max_bytes, unsigned backup_count,
                       imgd_log_level level, imgd_error **err);

/* Reopen the file sink at the same path (after an external logrotate; called on SIGHUP). */
int imgd_log_reopen(imgd_error **err);

/* Close the file sink. */
void imgd_log_close(void);

/* Set the calling thread's request id (borrowed; must outlive its use) or NULL to clear. */
void imgd_log_set_request_id(const char *id);

/* True when a message at this level would be written by some sink. */
bool imgd_log_enabled(imgd_log_level level);

void imgd_log_write(imgd_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define imgd_log_full(level, ...)                                                                  \
    do {                                                                                           \
        if (imgd_log_enabled(level))                                                               \
            imgd_log_write(level, __VA_ARGS__);                                                    \
    } while (0)

#define log_debug(...)    imgd_log_full(IMGD_LOG_DEBUG, __VA_ARGS__)
#define log_info(...)     imgd_log_full(IMGD_LOG_INFO, __VA_ARGS__)
#define log_warning(...)  imgd_log_full(IMGD_LOG_WARNING, __VA_ARGS__)
#define log_error(...)    imgd_log_full(IMGD_LOG_ERROR, __VA_ARGS__)
#define log_critical(...) imgd_log_full(IMGD_LOG_CRITICAL, __VA_ARGS__)
