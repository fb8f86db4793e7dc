/* idem.c - Idempotency-Key (draft-ietf-httpapi-idempotency-key-header) on
 * POST and PUT: a client that retries a request whose answer it lost gets
 * the first answer again instead of a second command. Keys belong to the
 * token that sent them (the actor), so one client cannot replay another's
 * answer. The cache is a fixed table: at most GW_IDEM_SLOTS answers of at
 * most GW_IDEM_BODY_MAX bytes each, kept GW_IDEM_TTL_MS; when it is full
 * the oldest finished entry goes first. A request still being answered
 * holds its slot (a concurrent retry is 409). */
#include "gateway/http/http.h"

#include "ht_mem.h"
#include "ht_sha256.h"
#include "ht_util.h"

#include <stdlib.h>
#include <string.h>

struct gw_idem_entry {
    char key[65]; /* SHA-256 of actor and key (hex); "" = free */
    char fp[65];  /* SHA-256 of method, URL and body */
    bool done;
    unsigned status;
    char ctype[64];
    char *body;
    size_t len;
    uint64_t born_ms; /* monotonic */
    uint64_t order;   /* insertion order, for eviction */
};

struct gw_idem {
    pthread_mutex_t mu;
    struct gw_idem_entry e[GW_IDEM_SLOTS];
    uint64_t next;
};

struct gw_idem *gw__idem_new(void)
{
    struct gw_idem *c = ht_calloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void entry_clear(struct gw_idem_entry *e)
{
    free(e->body);
    memset(e, 0, sizeof *e);
}

void gw__idem_free(struct gw_idem *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < GW_IDEM_SLOTS; i++)
        entry_clear(&c->e[i]);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

bool gw__idem_key_valid(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++)
        if (key[i] < 0x20 || key[i] > 0x7e)
            return false;
    return true;
}

/* Two hashes: where the answer is filed (actor + key) and what was asked
 * (method + URL + body), NUL-separated so no field can run into the next. */
static void hashes(const char *actor, const char *key, const char *method,
                   const char *url, const char *body, size_t len, char k[65],
                   char fp[65])
{
    struct ht_sha256 h;
    uint8_t d[HT_SHA256_LEN];
    ht_sha256_init(&h);
    ht_sha256_update(&h, actor, strlen(actor) + 1);
    ht_sha256_update(&h, key, strlen(key));
    ht_sha256_final(&h, d);
    ht_hex(d, sizeof d, k);
    ht_sha256_init(&h);
    ht_sha256_update(&h, method, strlen(method) + 1);
    ht_sha256_update(&h, url, strlen(url) + 1);
    if (body)
        ht_sha256_update(&h, body, len);
    ht_sha256_final(&h, d);
    ht_hex(d, sizeof d, fp);
}

int gw__idem_begin(struct gw_idem *c, const char *actor, const char *key,
                   const char *method, const char *url, const char *body,
                   size_t len, uint64_t now_ms, struct gw_idem_ticket *t,
                   struct gw_idem_answer *out)
{
    memset(out, 0, sizeof *out);
    hashes(actor, key, method, url, body, len, t->key, t->fp);
    pthread_mutex_lock(&c->mu);
    struct gw_idem_entry *free_e = NULL, *oldest = NULL;
    int rc = GW_IDEM_NEW;
    for (size_t i = 0; i < GW_IDEM_SLOTS; i++) {
        struct gw_idem_entry *e = &c->e[i];
        if (e->key[0] && e->done && now_ms - e->born_ms > GW_IDEM_TTL_MS)
            entry_clear(e);
        if (!e->key[0]) {
            if (!free_e)
                free_e = e;
            continue;
        }
        if (strcmp(e->key, t->key)) {
            if (e->done && (!oldest || e->order < oldest->order))
                oldest = e;
            continue;
        }
        /* The same key from the same token. */
        if (strcmp(e->fp, t->fp))
            rc = GW_IDEM_MISMATCH;
        else if (!e->done)
            rc = GW_IDEM_BUSY;
        else {
            rc = GW_IDEM_REPLAY;
            out->status = e->status;
            ht_strlcpy(out->ctype, e->ctype, sizeof out->ctype);
            out->body = ht_malloc(e->len + 1);
            memcpy(out->body, e->body, e->len);
            out->body[e->len] = '\0';
            out->len = e->len;
        }
        pthread_mutex_unlock(&c->mu);
        return rc;
    }
    struct gw_idem_entry *e = free_e ? free_e : oldest;
    if (!e) {
        /* Every slot waits for an answer: remember nothing this time. */
        pthread_mutex_unlock(&c->mu);
        t->key[0] = '\0';
        return GW_IDEM_NEW;
    }
    entry_clear(e);
    memcpy(e->key, t->key, sizeof e->key);
    memcpy(e->fp, t->fp, sizeof e->fp);
    e->born_ms = now_ms;
    e->order = ++c->next;
    pthread_mutex_unlock(&c->mu);
    return GW_IDEM_NEW;
}

/* The slot of a ticket, if still there (mu held). */
static struct gw_idem_entry *find(struct gw_idem *c,
                                  const struct gw_idem_ticket *t)
{
    for (size_t i = 0; t->key[0] && i < GW_IDEM_SLOTS; i++)
        if (!c->e[i].done && !strcmp(c->e[i].key, t->key))
            return &c->e[i];
    return NULL;
}

void gw__idem_finish(struct gw_idem *c, struct gw_idem_ticket *t,
                     unsigned status, const char *ctype, const void *body,
                     size_t len)
{
    pthread_mutex_lock(&c->mu);
    struct gw_idem_entry *e = find(c, t);
    if (e && len > GW_IDEM_BODY_MAX) {
        entry_clear(e); /* too big to keep: a retry is a new request */
    } else if (e) {
        e->done = true;
        e->status = status;
        ht_strlcpy(e->ctype, ctype ? ctype : "", sizeof e->ctype);
        e->body = ht_malloc(len + 1);
        memcpy(e->body, body, len);
        e->len = len;
    }
    pthread_mutex_unlock(&c->mu);
    t->key[0] = '\0';
}

void gw__idem_abort(struct gw_idem *c, struct gw_idem_ticket *t)
{
    pthread_mutex_lock(&c->mu);
    struct gw_idem_entry *e = find(c, t);
    if (e)
        entry_clear(e);
    pthread_mutex_unlock(&c->mu);
    t->key[0] = '\0';
}
