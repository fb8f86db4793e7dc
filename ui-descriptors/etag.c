/* etag.c - descriptor ETags: the first 64 bits of the SHA-256 of the
 * canonical bytes, enough to tell versions apart and short in headers. */
#include "uidesc.h"

#include "ht_id.h"
#include "ht_sha256.h"

#include <stdio.h>

void ht_ui_etag(const void *buf, size_t len, char etag[HT_UI_ETAG_LEN])
{
    struct ht_sha256 c;
    uint8_t d[HT_SHA256_LEN];
    ht_sha256_init(&c);
    ht_sha256_update(&c, buf, len);
    ht_sha256_final(&c, d);
    etag[0] = '"';
    ht_hex(d, 8, etag + 1);
    etag[17] = '"';
    etag[18] = '\0';
}
