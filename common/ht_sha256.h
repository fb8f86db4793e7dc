/* ht_sha256.h - SHA-256 (FIPS 180-4), used for token hashes and ETags.
 * Pure computation: thread-safe, no allocation. */
#ifndef HT_SHA256_H
#define HT_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define HT_SHA256_LEN 32

struct ht_sha256 {
    uint32_t h[8];
    uint64_t len; /* bytes hashed so far */
    uint8_t buf[64];
    size_t nbuf;
};

/* Start a hash in caller storage. */
void ht_sha256_init(struct ht_sha256 *c);
/* Add len bytes of data (borrowed). */
void ht_sha256_update(struct ht_sha256 *c, const void *data, size_t len);
/* Finish into out (32 bytes); c must be re-initialised before reuse. */
void ht_sha256_final(struct ht_sha256 *c, uint8_t out[HT_SHA256_LEN]);
/* One-shot digest as 64 lowercase hex chars + NUL into hex (65 bytes). */
void ht_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
