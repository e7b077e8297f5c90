/* SPDX-License-Identifier: MIT */
/* One record of a container log (the CRI log format the monitor writes). Pure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct imgd_log_record {
    int64_t time_usec;
    const char *time; /* RFC 3339 text as written; borrowed from the line */
    size_t time_len;
    bool is_stderr;
    bool partial; /* P: the line goes on in the next record */
    const char *text;
    size_t text_len;
} imgd_log_record;

/* Parse "<RFC3339Nano> <stream> <F|P> <text>" (line without its newline). -EBADMSG otherwise. */
int imgd_log_record_parse(imgd_log_record *out, const char *line, size_t len);
