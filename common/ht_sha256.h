/* ht_sha256.h - SHA-256 for token hashes and ETags, computed by nettle
 * (the library GnuTLS and libmicrohttpd already bring): no hand-written
 * crypto here, only the names the rest of the tree uses.
 * Pure computation: thread-safe, no allocation. */
#ifndef HT_SHA256_H
#define HT_SHA256_H

#include <nettle/sha2.h>

#include <stddef.h>
#include <stdint.h>

#define HT_SHA256_LEN 32

struct ht_sha256 {
    struct sha256_ctx ctx;
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
