/* auth/auth.h - bearer tokens and roles: the admin token written on first
 * start, token creation, and resolving an Authorization header into a role
 * (with a small cache of token -> hash, never of the verdict).
 * Owns: struct gw_auth (g->auth): the token cache and the admin token path.
 * Uses: core, store.
 * Threads: gw__auth_init on the loop thread before HTTP starts; the rest
 * from any thread (the store and the cache's mutex serialise).
 */
#ifndef HT_GW_AUTH_H
#define HT_GW_AUTH_H

#include "gateway/core/gw.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- roles ---- */
enum gw_role {
    GW_ROLE_NONE = 0, /* open route */
    GW_ROLE_VIEWER,
    GW_ROLE_OPERATOR,
    GW_ROLE_TECHNICIAN,
    GW_ROLE_ADMIN,
};
const char *gw__role_name(enum gw_role r);
/* GW_ROLE_NONE if s is not a role name. */
enum gw_role gw__role_parse(const char *s);

/* Bearer tokens seen recently -> their SHA-256 (hex): hashing was 70 % of
 * a cached REST read. Only the token -> hash step is cached; the hash is
 * looked up in the live token table every time, so a revoked token is
 * refused at once. Slots picked by a keyed hash, compared in constant
 * time. */
#define GW_TOKCACHE 64
struct gw_tokcache {
    pthread_mutex_t mu;
    uint64_t key;
    struct {
        size_t len; /* 0 = empty */
        char tok[257];
        char hash[65];
    } e[GW_TOKCACHE];
};

struct gw_auth {
    struct gw_tokcache tokcache;
    char *admin_token_path;
    /* Key of stream tickets (gw__ticket_make): random per start, so a
     * restart revokes every ticket. */
    uint8_t ticket_key[32];
};

/* ---- auth (auth.c) ---- */
/* Create the admin token on first start (file 0600 in the data dir). */
int gw__auth_init(struct ht_gw *g, char *err, size_t errlen);
/* Resolve "Bearer X" (NULL ok) into role and actor name (actor buffer of
 * len bytes). GW_ROLE_NONE when absent/unknown. */
enum gw_role gw__auth_check(struct ht_gw *g, const char *authz, char *actor,
                            size_t len);
/* Create a token: returns the secret (new string) and fills id (33 bytes). */
int gw__token_create(struct ht_gw *g, const char *name, enum gw_role role,
                     char id[33], char **secret);

/* ---- stream tickets (auth.c) ----
 * WoT consumers such as node-wot open Server-Sent Event streams with an
 * EventSource that sends no Authorization header. The TDs the gateway
 * serves to an authenticated reader therefore carry, in the href of each
 * SSE form, a ticket: "t1.EXP.MAC" with MAC an HMAC-SHA256 (key random per
 * start) over the path and EXP (Unix seconds). A ticket grants the viewer
 * role for GET of that one path until EXP; it names no token, so it is
 * the same for every reader of the same TD. */
#define GW_TICKET_LEN 96
/* Write the ticket for path (borrowed, no query) valid until exp_s into
 * out (GW_TICKET_LEN bytes). Any thread once gw__auth_init returned. */
void gw__ticket_make(const struct ht_gw *g, const char *path, int64_t exp_s,
                     char out[GW_TICKET_LEN]);
/* True when ticket (borrowed) was made for path and now_s < its EXP.
 * Compared in constant time. Any thread. */
bool gw__ticket_check(const struct ht_gw *g, const char *ticket,
                      const char *path, int64_t now_s);
/* Free g->auth (wipes the cache). Safe when it is NULL. */
void gw__auth_clear(struct ht_gw *g);

#endif
