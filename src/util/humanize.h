/* SPDX-License-Identifier: MIT */
/* Human-readable sizes and durations in the exact forms existing clients parse. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* crictl / docker go-units HumanSizeWithPrecision(size, 3): decimal units B kB MB GB TB PB EB ZB
 * YB, printf "%.3g", no space: 117234567 -> "117MB", 1234 -> "1.23kB", 0 -> "0B".
 * Writes a NUL-terminated string into buf (24 bytes are always enough); returns buf. */
char *imgd_humanize_crictl(char *buf, size_t len, double size);

/* Python humanize.naturalsize(value) (>= 4.16 rounding): "0 Bytes", "1 Byte", "999 Bytes",
 * "1.0 kB", "117.2 MB". Writes into buf (32 bytes are always enough); returns buf. */
char *imgd_humanize_natural(char *buf, size_t len, int64_t size);

/* Python str(datetime.timedelta(seconds=s)) for whole seconds: "0:00:05", "1:00:00",
 * "1 day, 2:03:04", "3 days, 0:00:00". Returns buf. */
char *imgd_humanize_duration(char *buf, size_t len, int64_t seconds);

/* go-units HumanDuration, which docker prints in CREATED and STATUS: "Less than a second",
 * "1 second", "About a minute", "3 hours", "2 days", "5 weeks", "3 months", "2 years".
 * Returns buf. */
char *imgd_humanize_go_duration(char *buf, size_t len, int64_t secs);
