/* SPDX-License-Identifier: MIT */
#include "humanize.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

char *imgd_humanize_crictl(char *buf, size_t len, double size)
{
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
    size_t i = 0;
    /* go-units divides while size >= base; the same loop gives the same unit choice, including
     * the "1e+03MB" quirk for values that round up across a unit boundary. */
    while (size >= 1000.0 && i < sizeof(units) / sizeof(units[0]) - 1) {
        size /= 1000.0;
        i++;
    }
    snprintf(buf, len, "%.3g%s", size, units[i]);
    return buf;
}

char *imgd_humanize_natural(char *buf, size_t len, int64_t size)
{
    static const char *const units[] = {"kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB", "RB", "QB"};
    double abs_size = fabs((double)size);
    if (abs_size == 1.0) {
        snprintf(buf, len, "%" PRId64 " Byte", size);
        return buf;
    }
    if (abs_size < 1000.0) {
        snprintf(buf, len, "%" PRId64 " Bytes", size);
        return buf;
    }
    /* humanize >= 4.16 picks the unit from the value as printed, so 999999 is "1.0 MB", never
     * "1000.0 kB"; checking the printed digits keeps printf's own rounding decisive. */
    size_t i = 0;
    double v = (double)size / 1000.0;
    char digits[48];
    for (;;) {
        snprintf(digits, sizeof(digits), "%.1f", fabs(v));
        if (strtod(digits, NULL) < 1000.0 || i == sizeof(units) / sizeof(units[0]) - 1)
            break;
        v /= 1000.0;
        i++;
    }
    snprintf(buf, len, "%.1f %s", v, units[i]);
    return buf;
}

char *imgd_humanize_duration(char *buf, size_t len, int64_t seconds)
{
    if (seconds < 0)
        seconds = 0;
    int64_t days = seconds / 86400;
    int64_t rest = seconds % 86400;
    int h = (int)(rest / 3600), m = (int)(rest % 3600 / 60), s = (int)(rest % 60);
    if (days > 0)
        snprintf(buf, len, "%" PRId64 " day%s, %d:%02d:%02d", days, days == 1 ? "" : "s", h, m, s);
    else
        snprintf(buf, len, "%d:%02d:%02d", h, m, s);
    return buf;
}

char *imgd_humanize_go_duration(char *buf, size_t len, int64_t secs)
{
    int64_t minutes = secs / 60, hours = (secs + 1800) / 3600;
    if (secs < 1)
        snprintf(buf, len, "Less than a second");
    else if (secs == 1)
        snprintf(buf, len, "1 second");
    else if (secs < 60)
        snprintf(buf, len, "%lld seconds", (long long)secs);
    else if (minutes == 1)
        snprintf(buf, len, "About a minute");
    else if (minutes < 60)
        snprintf(buf, len, "%lld minutes", (long long)minutes);
    else if (hours == 1)
        snprintf(buf, len, "About an hour");
    else if (hours < 48)
        snprintf(buf, len, "%lld hours", (long long)hours);
    else if (hours < 24 * 7 * 2)
        snprintf(buf, len, "%lld days", (long long)(hours / 24));
    else if (hours < 24 * 30 * 2)
        snprintf(buf, len, "%lld weeks", (long long)(hours / 24 / 7));
    else if (hours < 24 * 365 * 2)
        snprintf(buf, len, "%lld months", (long long)(hours / 24 / 30));
    else
        snprintf(buf, len, "%lld years", (long long)(secs / 3600 / 24 / 365));
    return buf;
}
