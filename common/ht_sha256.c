/* ht_sha256.c - SHA-256 through nettle's sha256_* (checked against the
 * FIPS 180-4 vectors in tests/unit/test_common.c). */
#include "ht_sha256.h"
#include "ht_id.h"

void ht_sha256_init(struct ht_sha256 *c)
{
    sha256_init(&c->ctx);
}

void ht_sha256_update(struct ht_sha256 *c, const void *data, size_t len)
{
    sha256_update(&c->ctx, len, data);
}

void ht_sha256_final(struct ht_sha256 *c, uint8_t out[HT_SHA256_LEN])
{
    sha256_digest(&c->ctx, HT_SHA256_LEN, out);
}

void ht_sha256_hex(const void *data, size_t len, char hex[65])
{
    struct ht_sha256 c;
    uint8_t d[HT_SHA256_LEN];
    ht_sha256_init(&c);
    ht_sha256_update(&c, data, len);
    ht_sha256_final(&c, d);
    ht_hex(d, sizeof d, hex);
}
