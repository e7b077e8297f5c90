/* SPDX-License-Identifier: MIT */
#include "timeutil.h"

#include <stdio.h>
#include <time.h>

static uint64_t clock_usec(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t imgd_now_monotonic_usec(void)
{
    return clock_usec(CLOCK_MONOTONIC);
}

uint64_t imgd_now_realtime_usec(void)
{
    return clock_usec(CLOCK_REALTIME);
}

char *imgd_time_format_python_iso(char *buf, size_t len, uint64_t realtime_usec)
{
    time_t sec = (time_t)(realtime_usec / 1000000u);
    unsigned usec = (unsigned)(realtime_usec % 1000000u);
    struct tm tm;
    localtime_r(&sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    if (usec && n < len)
        snprintf(buf + n, len - n, ".%06u", usec);
    return buf;
}

char *imgd_time_format_rfc3339(char *buf, size_t len, uint64_t realtime_usec)
{
    time_t sec = (time_t)(realtime_usec / 1000000u);
    struct tm tm;
    gmtime_r(&sec, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}
