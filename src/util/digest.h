/* SPDX-License-Identifier: MIT */
/* Streaming SHA-256 in the OCI digest form "sha256:<64 lowercase hex>". */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define IMGD_DIGEST_LEN 71 /* "sha256:" + 64 hex */

typedef struct imgd_sha256 {
    void *ctx; /* EVP_MD_CTX, owned */
} imgd_sha256;

/* Start a hash. Returns 0 or -ENOMEM. Dispose with imgd_sha256_dispose (also after final). */
int imgd_sha256_init(imgd_sha256 *h);

/* Add bytes. Cannot fail once initialised. */
void imgd_sha256_update(imgd_sha256 *h, const void *data, size_t len);

/* Write "sha256:<hex>" (NUL-terminated, IMGD_DIGEST_LEN + 1 bytes) into out. The hash cannot be
 * updated afterwards. */
void imgd_sha256_final(imgd_sha256 *h, char out[IMGD_DIGEST_LEN + 1]);

/* Free; accepts a zeroed struct. */
void imgd_sha256_dispose(imgd_sha256 *h);

/* One-shot digest of a buffer. Returns 0 or -ENOMEM. */
int imgd_sha256_digest(char out[IMGD_DIGEST_LEN + 1], const void *data, size_t len);

/* True when s is exactly "sha256:" followed by 64 lowercase hex digits. */
bool imgd_digest_is_sha256(const char *s);
