/* SPDX-License-Identifier: MIT */
/* Splitting a command string into argv exactly as Python's shlex.split() did in the original
 * service, so "command": "sleep 300" in the container API keeps its meaning. */
#pragma once

#include <stddef.h>

#include "util/error.h"

#define IMGD_SHELL_SPLIT_MAX_LEN   65536 /* bytes of input */
#define IMGD_SHELL_SPLIT_MAX_WORDS 4096  /* words of output */

/* Split s into words as Python's shlex.split(s) does (posix=True, comments=False, no
 * punctuation_chars), byte by byte (UTF-8 and other bytes >= 0x80 are ordinary characters):
 *   - only ' ', '\t', '\r' and '\n' separate words ('\v', '\f' and U+00A0 do not);
 *   - '...' is literal: a backslash inside it stays;
 *   - inside "...", a backslash is dropped before '"' and '\' only; before anything else,
 *     '$', '`' and newline included, it stays in the word;
 *   - outside quotes a backslash takes the next byte literally (also a newline) and is dropped;
 *   - quoted parts join adjacent text into one word (a"b c"d is "ab cd"); "" or '' alone is an
 *     empty word;
 *   - no expansions, no operators: '$', '#', ';', '|', '&' and the like are literal.
 * On success *out is a malloc'd NULL-terminated array of *out_n malloc'd strings (owned by the
 * caller; free with imgd_strv_free() from util/strutil.h); *out_n may be 0 (blank input), in
 * which case *out is an array holding only NULL.
 * Errors (outputs untouched): -EINVAL "unterminated quote at byte N" (N: offset of the opening
 * quote), -EINVAL "no escaped character at byte N" (N: offset of a trailing backslash, inside
 * double quotes or not); -E2BIG when s is longer than IMGD_SHELL_SPLIT_MAX_LEN bytes or holds
 * more than IMGD_SHELL_SPLIT_MAX_WORDS words; -ENOMEM. Thread-safe. */
int imgd_shell_split(char ***out, size_t *out_n, const char *s, imgd_error **err);
