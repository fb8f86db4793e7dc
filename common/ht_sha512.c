/* ht_sha512.c - SHA-512, HMAC and PBKDF2 for mosquitto password hashes
 * (see ht_sha512.h). Checked against the FIPS 180-4 and RFC 4231 vectors
 * and against mosquitto_passwd in tests/unit/test_gw_provision.c. */
#include "ht_sha512.h"

#include <string.h>

static const uint64_t K[80] = {
    0x428a2f98d728ae22ULL, 0x7137449123ef65cdULL, 0xb5c0fbcfec4d3b2fULL,
    0xe9b5dba58189dbbcULL, 0x3956c25bf348b538ULL, 0x59f111f1b605d019ULL,
    0x923f82a4af194f9bULL, 0xab1c5ed5da6d8118ULL, 0xd807aa98a3030242ULL,
    0x12835b0145706fbeULL, 0x243185be4ee4b28cULL, 0x550c7dc3d5ffb4e2ULL,
    0x72be5d74f27b896fULL, 0x80deb1fe3b1696b1ULL, 0x9bdc06a725c71235ULL,
    0xc19bf174cf692694ULL, 0xe49b69c19ef14ad2ULL, 0xefbe4786384f25e3ULL,
    0x0fc19dc68b8cd5b5ULL, 0x240ca1cc77ac9c65ULL, 0x2de92c6f592b0275ULL,
    0x4a7484aa6ea6e483ULL, 0x5cb0a9dcbd41fbd4ULL, 0x76f988da831153b5ULL,
    0x983e5152ee66dfabULL, 0xa831c66d2db43210ULL, 0xb00327c898fb213fULL,
    0xbf597fc7beef0ee4ULL, 0xc6e00bf33da88fc2ULL, 0xd5a79147930aa725ULL,
    0x06ca6351e003826fULL, 0x142929670a0e6e70ULL, 0x27b70a8546d22ffcULL,
    0x2e1b21385c26c926ULL, 0x4d2c6dfc5ac42aedULL, 0x53380d139d95b3dfULL,
    0x650a73548baf63deULL, 0x766a0abb3c77b2a8ULL, 0x81c2c92e47edaee6ULL,
    0x92722c851482353bULL, 0xa2bfe8a14cf10364ULL, 0xa81a664bbc423001ULL,
    0xc24b8b70d0f89791ULL, 0xc76c51a30654be30ULL, 0xd192e819d6ef5218ULL,
    0xd69906245565a910ULL, 0xf40e35855771202aULL, 0x106aa07032bbd1b8ULL,
    0x19a4c116b8d2d0c8ULL, 0x1e376c085141ab53ULL, 0x2748774cdf8eeb99ULL,
    0x34b0bcb5e19b48a8ULL, 0x391c0cb3c5c95a63ULL, 0x4ed8aa4ae3418acbULL,
    0x5b9cca4f7763e373ULL, 0x682e6ff3d6b2b8a3ULL, 0x748f82ee5defb2fcULL,
    0x78a5636f43172f60ULL, 0x84c87814a1f0ab72ULL, 0x8cc702081a6439ecULL,
    0x90befffa23631e28ULL, 0xa4506cebde82bde9ULL, 0xbef9a3f7b2c67915ULL,
    0xc67178f2e372532bULL, 0xca273eceea26619cULL, 0xd186b8c721c0c207ULL,
    0xeada7dd6cde0eb1eULL, 0xf57d4f7fee6ed178ULL, 0x06f067aa72176fbaULL,
    0x0a637dc5a2c898a6ULL, 0x113f9804bef90daeULL, 0x1b710b35131c471bULL,
    0x28db77f523047d84ULL, 0x32caab7b40c72493ULL, 0x3c9ebe0a15c9bebcULL,
    0x431d67c49c100d4cULL, 0x4cc5d4becb3e42b6ULL, 0x597f299cfc657e2aULL,
    0x5fcb6fab3ad6faecULL, 0x6c44198c4a475817ULL};

#define ROR(x, n) (((x) >> (n)) | ((x) << (64 - (n))))

static void block(struct ht_sha512 *c, const uint8_t *p)
{
    uint64_t w[80];
    for (int i = 0; i < 16; i++) {
        uint64_t v = 0;
        for (int k = 0; k < 8; k++)
            v = v << 8 | p[8 * i + k];
        w[i] = v;
    }
    for (int i = 16; i < 80; i++) {
        uint64_t s0 = ROR(w[i - 15], 1) ^ ROR(w[i - 15], 8) ^ (w[i - 15] >> 7);
        uint64_t s1 = ROR(w[i - 2], 19) ^ ROR(w[i - 2], 61) ^ (w[i - 2] >> 6);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint64_t a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3];
    uint64_t e = c->h[4], f = c->h[5], g = c->h[6], h = c->h[7];
    for (int i = 0; i < 80; i++) {
        uint64_t t1 = h + (ROR(e, 14) ^ ROR(e, 18) ^ ROR(e, 41)) +
                      ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint64_t t2 = (ROR(a, 28) ^ ROR(a, 34) ^ ROR(a, 39)) +
                      ((a & b) ^ (a & cc) ^ (b & cc));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = cc;
        cc = b;
        b = a;
        a = t1 + t2;
    }
    c->h[0] += a;
    c->h[1] += b;
    c->h[2] += cc;
    c->h[3] += d;
    c->h[4] += e;
    c->h[5] += f;
    c->h[6] += g;
    c->h[7] += h;
}

void ht_sha512_init(struct ht_sha512 *c)
{
    static const uint64_t h0[8] = {
        0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL,
        0xa54ff53a5f1d36f1ULL, 0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL,
        0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL};
    memcpy(c->h, h0, sizeof h0);
    c->len = 0;
    c->nbuf = 0;
}

void ht_sha512_update(struct ht_sha512 *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    c->len += len;
    while (len > 0) {
        size_t n = 128 - c->nbuf < len ? 128 - c->nbuf : len;
        memcpy(c->buf + c->nbuf, p, n);
        c->nbuf += n;
        p += n;
        len -= n;
        if (c->nbuf == 128) {
            block(c, c->buf);
            c->nbuf = 0;
        }
    }
}

void ht_sha512_final(struct ht_sha512 *c, uint8_t out[HT_SHA512_LEN])
{
    /* The length field is 128 bits; its high half is always zero here. */
    uint64_t bits = c->len * 8;
    uint8_t pad[128 + 16] = {0x80};
    size_t npad = c->nbuf < 112 ? 112 - c->nbuf : 240 - c->nbuf;
    for (int i = 0; i < 8; i++)
        pad[npad + 8 + i] = (uint8_t)(bits >> (56 - 8 * i));
    ht_sha512_update(c, pad, npad + 16);
    for (int i = 0; i < 8; i++)
        for (int k = 0; k < 8; k++)
            out[8 * i + k] = (uint8_t)(c->h[i] >> (56 - 8 * k));
}

/* The two keyed states of an HMAC, so PBKDF2 pads the key only once. */
struct hmac {
    struct ht_sha512 inner, outer;
};

static void hmac_init(struct hmac *m, const void *key, size_t keylen)
{
    uint8_t k[128] = {0}, pad[128];
    if (keylen > sizeof k) {
        struct ht_sha512 c;
        ht_sha512_init(&c);
        ht_sha512_update(&c, key, keylen);
        ht_sha512_final(&c, k);
    } else if (keylen) {
        memcpy(k, key, keylen);
    }
    for (int i = 0; i < 128; i++)
        pad[i] = k[i] ^ 0x36;
    ht_sha512_init(&m->inner);
    ht_sha512_update(&m->inner, pad, sizeof pad);
    for (int i = 0; i < 128; i++)
        pad[i] = k[i] ^ 0x5c;
    ht_sha512_init(&m->outer);
    ht_sha512_update(&m->outer, pad, sizeof pad);
}

/* MAC of msg from a keyed state (which is left untouched). */
static void hmac_run(const struct hmac *m, const void *msg, size_t len,
                     uint8_t out[HT_SHA512_LEN])
{
    struct ht_sha512 c = m->inner;
    uint8_t d[HT_SHA512_LEN];
    ht_sha512_update(&c, msg, len);
    ht_sha512_final(&c, d);
    c = m->outer;
    ht_sha512_update(&c, d, sizeof d);
    ht_sha512_final(&c, out);
}

void ht_hmac_sha512(const void *key, size_t keylen, const void *msg,
                    size_t msglen, uint8_t out[HT_SHA512_LEN])
{
    struct hmac m;
    hmac_init(&m, key, keylen);
    hmac_run(&m, msg, msglen, out);
}

void ht_pbkdf2_sha512(const void *pass, size_t passlen, const void *salt,
                      size_t saltlen, unsigned iterations, uint8_t *out,
                      size_t outlen)
{
    struct hmac m;
    hmac_init(&m, pass, passlen);
    if (iterations < 1)
        iterations = 1;
    for (uint32_t blk = 1; outlen > 0; blk++) {
        /* U1 = HMAC(P, S || INT(blk)); T = U1 ^ U2 ^ ... */
        struct ht_sha512 c = m.inner;
        uint8_t be[4] = {(uint8_t)(blk >> 24), (uint8_t)(blk >> 16),
                         (uint8_t)(blk >> 8), (uint8_t)blk};
        uint8_t u[HT_SHA512_LEN], t[HT_SHA512_LEN], d[HT_SHA512_LEN];
        ht_sha512_update(&c, salt, saltlen);
        ht_sha512_update(&c, be, 4);
        ht_sha512_final(&c, d);
        c = m.outer;
        ht_sha512_update(&c, d, sizeof d);
        ht_sha512_final(&c, u);
        memcpy(t, u, sizeof t);
        for (unsigned i = 1; i < iterations; i++) {
            hmac_run(&m, u, sizeof u, u);
            for (int k = 0; k < HT_SHA512_LEN; k++)
                t[k] ^= u[k];
        }
        size_t n = outlen < sizeof t ? outlen : sizeof t;
        memcpy(out, t, n);
        out += n;
        outlen -= n;
    }
}
