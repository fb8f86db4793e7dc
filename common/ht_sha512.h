/* ht_sha512.h - SHA-512 (FIPS 180-4), HMAC-SHA-512 (RFC 2104) and
 * PBKDF2-HMAC-SHA-512 (RFC 8018), so the gateway can write mosquitto
 * password hashes ("$7$...") without a crypto library.
 * Pure computation: thread-safe, no allocation. */
#ifndef HT_SHA512_H
#define HT_SHA512_H

#include <stddef.h>
#include <stdint.h>

#define HT_SHA512_LEN 64

struct ht_sha512 {
    uint64_t h[8];
    uint64_t len; /* bytes hashed so far (messages < 2^61 bytes) */
    uint8_t buf[128];
    size_t nbuf;
};

/* Start a hash in caller storage. */
void ht_sha512_init(struct ht_sha512 *c);
/* Add len bytes of data (borrowed). */
void ht_sha512_update(struct ht_sha512 *c, const void *data, size_t len);
/* Finish into out (64 bytes); c must be re-initialised before reuse. */
void ht_sha512_final(struct ht_sha512 *c, uint8_t out[HT_SHA512_LEN]);

/* HMAC-SHA-512 of msg under key (both borrowed) into out (64 bytes). */
void ht_hmac_sha512(const void *key, size_t keylen, const void *msg,
                    size_t msglen, uint8_t out[HT_SHA512_LEN]);

/* PBKDF2-HMAC-SHA-512: derive outlen bytes into out from password and salt
 * (borrowed) with iterations >= 1 rounds. */
void ht_pbkdf2_sha512(const void *pass, size_t passlen, const void *salt,
                      size_t saltlen, unsigned iterations, uint8_t *out,
                      size_t outlen);

#endif
