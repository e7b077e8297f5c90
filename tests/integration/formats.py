# SPDX-License-Identifier: MIT
"""Size formats of the peers, written independently of imgd's (util/humanize.c) from their
published behaviour (reference registry-cri.md §4, §6), for tests to compute expectations.

(PYTEST_DONT_REWRITE: a helper module, imported by test modules.)
"""

__all__ = ["crictl_size", "naturalsize"]


def crictl_size(n):
    """docker/go-units HumanSizeWithPrecision(n, 3): how crictl (and docker) print SIZE."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    size, i = float(n), 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000
        i += 1
    return "%.3g%s" % (size, units[i])


def naturalsize(n):
    """Python humanize.naturalsize(n) (>= 4.16), written independently of imgd's."""
    if n == 1:
        return "1 Byte"
    if abs(n) < 1000:
        return f"{n} Bytes"
    units = ["kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    v, i = n / 1000.0, 0
    while abs(v) >= 1000 and i < len(units) - 1:
        if round(abs(v) / 1000.0, 1) < 1.0 and round(abs(v), 1) < 1000:
            break
        v /= 1000.0
        i += 1
    text = "%.1f" % v
    if text == "1000.0" and i < len(units) - 1:
        text, i = "%.1f" % (v / 1000.0), i + 1
    return f"{text} {units[i]}"
