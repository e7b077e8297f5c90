/* SPDX-License-Identifier: MIT */
/* Clocks and timestamp formats. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Microseconds of CLOCK_MONOTONIC. */
uint64_t imgd_now_monotonic_usec(void);

/* Microseconds since the epoch (CLOCK_REALTIME). */
uint64_t imgd_now_realtime_usec(void);

/* Python datetime.now().isoformat() of a realtime in usec: local time, no zone,
 * "2025-01-19T15:47:19.123456" (the fraction is omitted when it is zero, as Python does).
 * buf needs 32 bytes. Returns buf. */
char *imgd_time_format_python_iso(char *buf, size_t len, uint64_t realtime_usec);

/* RFC 3339 UTC with seconds: "2025-01-19T15:47:19Z". buf needs 24 bytes. Returns buf. */
char *imgd_time_format_rfc3339(char *buf, size_t len, uint64_t realtime_usec);
