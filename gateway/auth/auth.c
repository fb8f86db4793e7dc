/* auth.c - bearer tokens and roles. Only SHA-256 hashes of tokens are
 * stored; the secret is shown once (and, for the first admin token, written
 * to DATA_DIR/admin.token with mode 0600). */
#include "gateway/auth/auth.h"
#include "gateway/store/store.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"
#include "ht_sha256.h"
#include "ht_util.h"

#include <errno.h>
#include <nettle/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define MOD "auth"

static const char *const role_names[] = {"none", "viewer", "operator",
                                         "technician", "admin"};

const char *gw__role_name(enum gw_role r)
{
    return (unsigned)r <= GW_ROLE_ADMIN ? role_names[r] : "none";
}

enum gw_role gw__role_parse(const char *s)
{
    for (int i = 1; s && i <= GW_ROLE_ADMIN; i++)
        if (!strcmp(s, role_names[i]))
            return (enum gw_role)i;
    return GW_ROLE_NONE;
}

static int random_hex(char *out, size_t nbytes)
{
    unsigned char b[64];
    if (nbytes > sizeof b)
        return HT_EINVAL;
    size_t got = 0;
    while (got < nbytes) {
        ssize_t n = getrandom(b + got, nbytes - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)n;
    }
    ht_hex(b, nbytes, out);
    return HT_OK;
}

int gw__token_create(struct ht_gw *g, const char *name, enum gw_role role,
                     char id[33], char **secret)
{
    *secret = NULL;
    char rnd[65];
    int rc = random_hex(id, 8);
    if (rc == HT_OK)
        rc = random_hex(rnd, 32);
    if (rc)
        return rc;
    char *tok = ht_asprintf("ht_%s", rnd);
    char hash[65];
    ht_sha256_hex(tok, strlen(tok), hash);
    struct ht_store_token t = {.created = ht_time_ms()};
    ht_strlcpy(t.id, id, sizeof t.id);
    ht_strlcpy(t.name, name, sizeof t.name);
    ht_strlcpy(t.role, gw__role_name(role), sizeof t.role);
    rc = ht_store_token_add(g->store, &t, hash);
    if (rc) {
        free(tok);
        return rc;
    }
    *secret = tok;
    return HT_OK;
}

/* First start = no token in the database: create an admin token and write
 * it where the operator (and the tests) can read it. */
int gw__auth_init(struct ht_gw *g, char *err, size_t errlen)
{
    g->auth = ht_calloc(1, sizeof *g->auth);
    pthread_mutex_init(&g->auth->tokcache.mu, NULL);
    if (getrandom(&g->auth->tokcache.key, sizeof g->auth->tokcache.key, 0) !=
        (ssize_t)sizeof g->auth->tokcache.key)
        g->auth->tokcache.key = (uint64_t)ht_time_ms() * 0x9e3779b97f4a7c15u;
    if (getrandom(g->auth->ticket_key, sizeof g->auth->ticket_key, 0) !=
        (ssize_t)sizeof g->auth->ticket_key) {
        snprintf(err, errlen, "no randomness for the ticket key");
        return HT_EIO;
    }
    g->auth->admin_token_path =
        ht_asprintf("%s/admin.token", g->conf->data_dir);
    int64_t n = ht_store_token_count(g->store);
    if (n < 0) {
        snprintf(err, errlen, "cannot read tokens: %s", ht_strerror((int)n));
        return (int)n;
    }
    if (n > 0)
        return HT_OK;
    char id[33], *secret = NULL;
    int rc = gw__token_create(g, "admin", GW_ROLE_ADMIN, id, &secret);
    if (rc) {
        snprintf(err, errlen, "cannot create the admin token: %s",
                 ht_strerror(rc));
        return rc;
    }
    char *line = ht_asprintf("%s\n", secret);
    rc = ht_file_write_atomic(g->auth->admin_token_path, line, strlen(line),
                              0600);
    free(line);
    free(secret);
    if (rc) {
        snprintf(err, errlen, "%s: %s", g->auth->admin_token_path,
                 ht_strerror(rc));
        ht_store_token_delete(g->store, id);
        return rc;
    }
    ht_log(LOG_NOTICE, MOD, "first start: admin token written to %s",
           g->auth->admin_token_path);
    return HT_OK;
}

static bool same(const char *a, const char *b, size_t n)
{
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

/* hex = SHA-256 of tok (tl <= 256 bytes), from the cache when seen. */
static void token_hash(struct gw_tokcache *c, const char *tok, size_t tl,
                       char hex[65])
{
    uint64_t h = c->key ^ 1469598103934665603u;
    for (size_t i = 0; i < tl; i++)
        h = (h ^ (unsigned char)tok[i]) * 1099511628211u;
    size_t slot = (size_t)((h ^ (h >> 29)) % GW_TOKCACHE);
    pthread_mutex_lock(&c->mu);
    if (c->e[slot].len == tl && same(c->e[slot].tok, tok, tl)) {
        memcpy(hex, c->e[slot].hash, 65);
        pthread_mutex_unlock(&c->mu);
        return;
    }
    pthread_mutex_unlock(&c->mu);
    ht_sha256_hex(tok, tl, hex);
    pthread_mutex_lock(&c->mu);
    c->e[slot].len = tl;
    memcpy(c->e[slot].tok, tok, tl);
    memcpy(c->e[slot].hash, hex, 65);
    pthread_mutex_unlock(&c->mu);
}

enum gw_role gw__auth_check(struct ht_gw *g, const char *authz, char *actor,
                            size_t len)
{
    if (actor && len)
        actor[0] = '\0';
    if (!authz || strncasecmp(authz, "Bearer ", 7))
        return GW_ROLE_NONE;
    const char *tok = authz + 7;
    while (*tok == ' ')
        tok++;
    size_t tl = strlen(tok);
    if (tl == 0 || tl > 256)
        return GW_ROLE_NONE;
    char hash[65];
    token_hash(&g->auth->tokcache, tok, tl, hash);
    struct ht_store_token t;
    if (ht_store_token_find(g->store, hash, &t) != HT_OK)
        return GW_ROLE_NONE;
    if (actor)
        snprintf(actor, len, "%s:%s", t.name, t.id);
    return gw__role_parse(t.role);
}

/* HMAC-SHA256(key, "EXP|path") as 64 hex digits. */
static void ticket_mac(const struct ht_gw *g, const char *path, int64_t exp_s,
                       char hex[65])
{
    struct hmac_sha256_ctx h;
    char head[32];
    int n = snprintf(head, sizeof head, "%lld|", (long long)exp_s);
    uint8_t d[SHA256_DIGEST_SIZE];
    hmac_sha256_set_key(&h, sizeof g->auth->ticket_key, g->auth->ticket_key);
    hmac_sha256_update(&h, (size_t)n, (const uint8_t *)head);
    hmac_sha256_update(&h, strlen(path), (const uint8_t *)path);
    hmac_sha256_digest(&h, sizeof d, d);
    for (size_t i = 0; i < sizeof d; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

void gw__ticket_make(const struct ht_gw *g, const char *path, int64_t exp_s,
                     char out[GW_TICKET_LEN])
{
    char hex[65];
    ticket_mac(g, path, exp_s, hex);
    snprintf(out, GW_TICKET_LEN, "t1.%lld.%s", (long long)exp_s, hex);
}

bool gw__ticket_check(const struct ht_gw *g, const char *ticket,
                      const char *path, int64_t now_s)
{
    if (!ticket || strncmp(ticket, "t1.", 3) || !g->auth)
        return false;
    char *end;
    errno = 0;
    long long exp = strtoll(ticket + 3, &end, 10);
    if (errno || end == ticket + 3 || *end != '.' || exp <= now_s ||
        strlen(end + 1) != 64)
        return false;
    char hex[65];
    ticket_mac(g, path, exp, hex);
    unsigned char diff = 0;
    for (size_t i = 0; i < 64; i++)
        diff |= (unsigned char)(hex[i] ^ end[1 + i]);
    return diff == 0;
}

void gw__auth_clear(struct ht_gw *g)
{
    struct gw_auth *a = g->auth;
    if (!a)
        return;
    free(a->admin_token_path);
    explicit_bzero(&a->tokcache.e, sizeof a->tokcache.e);
    explicit_bzero(a->ticket_key, sizeof a->ticket_key);
    pthread_mutex_destroy(&a->tokcache.mu);
    free(a);
    g->auth = NULL;
}
