/* SPDX-License-Identifier: MIT */
/* Image platforms (os/architecture/variant), normalised as containerd does before comparing:
 * lower case, "macos" is darwin, x86_64 is amd64, aarch64 is arm64 (its v8 is the default and
 * drops), armhf is arm/v7, armel is arm/v6, bare arm is arm/v7, i386 is 386.
 *
 * Values live in fixed arrays, so a platform needs no disposal. All functions are pure and
 * thread-safe on distinct arguments. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

/* Size of each field, NUL included: values are at most 31 characters. */
#define IMGD_PLATFORM_FIELD_MAX 32

typedef struct imgd_platform {
    char os[IMGD_PLATFORM_FIELD_MAX];
    char architecture[IMGD_PLATFORM_FIELD_MAX];
    char variant[IMGD_PLATFORM_FIELD_MAX]; /* "" when none */
} imgd_platform;

/* Parse "os/arch[/variant]" ("linux/amd64", "linux/arm64/v8", "linux/arm/v7") or a bare
 * architecture ("arm64": os linux), then normalise. A bare known OS name ("linux", "windows")
 * means that OS on amd64, imgd's default architecture. Returns 0, or -EINVAL naming the text for
 * empty parts, more than three parts, a part over 31 characters, or a character outside
 * [a-z0-9._-] after lower-casing. *out is untouched on failure. Thread-safe. */
int imgd_platform_parse(imgd_platform *out, const char *text, imgd_error **err);

/* Normalise p in place (see the top of this file). Idempotent. Thread-safe on distinct p. */
void imgd_platform_normalize(imgd_platform *p);

/* linux/amd64, no variant. Thread-safe. */
void imgd_platform_default(imgd_platform *out);

/* True when a platform offered by an image (have) satisfies the wanted one. Both are normalised
 * on copies first; os and architecture must be equal, and the variants equal unless want has no
 * variant (then any variant matches). Thread-safe; the arguments are
 * not modified. */
bool imgd_platform_match(const imgd_platform *want, const imgd_platform *have);

/* Write "os/arch" or "os/arch/variant" into buf (truncated to len - 1 characters; nothing is
 * written when len is 0). Thread-safe. */
void imgd_platform_format(char *buf, size_t len, const imgd_platform *p);

/* Read an OCI descriptor "platform" object {os, architecture, variant?} as given (not
 * normalised; imgd_platform_match() normalises). Returns 0, or -EINVAL when obj is not an object,
 * os or architecture is missing, empty or not a string, variant is neither absent, null nor a
 * string, or a value is over 31 characters. *out is untouched on failure. Thread-safe (jansson
 * reads of a shared value). */
int imgd_platform_from_json(imgd_platform *out, const json_t *obj);
