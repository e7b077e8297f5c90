/* SPDX-License-Identifier: MIT */
#include "digest.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

int imgd_sha256_init(imgd_sha256 *h)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        h->ctx = NULL;
        return -ENOMEM;
    }
    h->ctx = ctx;
    return 0;
}

void imgd_sha256_update(imgd_sha256 *h, const void *data, size_t len)
{
    if (len)
        EVP_DigestUpdate(h->ctx, data, len);
}

void imgd_sha256_final(imgd_sha256 *h, char out[IMGD_DIGEST_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[32];
    unsigned int n = sizeof(md);
    EVP_DigestFinal_ex(h->ctx, md, &n);
    memcpy(out, "sha256:", 7);
    for (size_t i = 0; i < sizeof(md); i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[8 + 2 * i] = hex[md[i] & 0xf];
    }
    out[IMGD_DIGEST_LEN] = '\0';
}

void imgd_sha256_dispose(imgd_sha256 *h)
{
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
}

int imgd_sha256_digest(char out[IMGD_DIGEST_LEN + 1], const void *data, size_t len)
{
    imgd_sha256 h;
    if (imgd_sha256_init(&h) < 0)
        return -ENOMEM;
    imgd_sha256_update(&h, data, len);
    imgd_sha256_final(&h, out);
    imgd_sha256_dispose(&h);
    return 0;
}

bool imgd_digest_is_sha256(const char *s)
{
    if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != IMGD_DIGEST_LEN)
        return false;
    for (const char *p = s + 7; *p; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    }
    return true;
}
