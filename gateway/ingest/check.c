/* check.c - what ingest lets in: each board's rate (a token bucket per
 * board, checked before its payload is parsed) and each value against its
 * TD affordance (ht_sem_value_valid: type, range, enum, maxLength) and its
 * timestamp against a sane window. A refused value is counted per board
 * and reason in /metrics and logged (one warning per board per
 * CHECK_WARN_MS at most, the rest at debug level); the caller then drops
 * it: it is not stored, not shown, not passed to twins.
 *
 * Cost per value: one hash lookup of the board (ingest__board) shared by
 * both checks, then O(1) work (ht_sem_value_valid is O(1) but for an enum's
 * list and the string length). Loop thread only.
 */
#include "gateway/ingest/ingest_internal.h"
#include "gateway/metrics/metrics.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_WARN_MS 10000

struct ingest_board {
    char id[65];        /* "" = free slot */
    double tokens;      /* values it may send now */
    uint64_t refill_ms; /* monotonic ms of the last refill */
    int slot;           /* its reject counters (gw__metrics_board_slot) */
    bool has_slot;
    int64_t warn_ms;  /* monotonic ms of its last warning */
    uint64_t quiet;   /* rejects not warned about since */
    bool rate_warned; /* this flood already logged */
};

struct ingest_check {
    struct ingest_board *tab; /* open addressing, power of two */
    size_t cap, n;
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static struct ingest_board *slot_of(struct ingest_board *tab, size_t cap,
                                    const char *id)
{
    size_t i = (size_t)hash(id) & (cap - 1);
    while (tab[i].id[0] && strcmp(tab[i].id, id))
        i = (i + 1) & (cap - 1);
    return &tab[i];
}

static void grow(struct ingest_check *c)
{
    size_t cap = c->cap ? 2 * c->cap : 64;
    struct ingest_board *tab = ht_calloc(cap, sizeof *tab);
    for (size_t i = 0; i < c->cap; i++)
        if (c->tab[i].id[0])
            *slot_of(tab, cap, c->tab[i].id) = c->tab[i];
    free(c->tab);
    c->tab = tab;
    c->cap = cap;
}

void ingest__check_init(struct ht_gw *g)
{
    g->ingest->check = ht_calloc(1, sizeof *g->ingest->check);
}

void ingest__check_clear(struct ht_gw *g)
{
    if (!g->ingest || !g->ingest->check)
        return;
    free(g->ingest->check->tab);
    free(g->ingest->check);
    g->ingest->check = NULL;
}

struct ingest_board *ingest__board(struct ht_gw *g, const char *dev)
{
    struct ingest_check *c = g->ingest->check;
    if (strlen(dev) >= sizeof c->tab[0].id)
        return NULL; /* never: ids are checked by the topic contract */
    if (2 * (c->n + 1) > c->cap)
        grow(c);
    struct ingest_board *b = slot_of(c->tab, c->cap, dev);
    if (!b->id[0]) {
        ht_strlcpy(b->id, dev, sizeof b->id);
        b->tokens = (double)g->conf->ingest_burst;
        b->refill_ms = ht_mono_ms();
        c->n++;
    }
    return b;
}

/* Count a reject of b and log it: a warning at most every CHECK_WARN_MS
 * per board (saying how many were not logged since), else debug. */
static void reject(struct ht_gw *g, struct ingest_board *b, enum gw_reject r,
                   const char *what)
{
    if (!b->has_slot) {
        b->slot = gw__metrics_board_slot(g->metrics, b->id);
        b->has_slot = true;
    }
    gw__metrics_reject(g->metrics, b->slot, r);
    uint64_t now = ht_mono_ms();
    if (b->warn_ms == 0 || now - (uint64_t)b->warn_ms >= CHECK_WARN_MS) {
        ht_log(LOG_WARNING, INGEST_MOD,
               "%s: value rejected (%s): %s; %" PRIu64 " more rejected "
               "since the last warning (/metrics: "
               "holotwin_ingest_rejected_total)",
               b->id, gw__reject_name(r), what, b->quiet);
        b->warn_ms = (int64_t)now;
        b->quiet = 0;
    } else {
        b->quiet++;
        ht_log(LOG_DEBUG, INGEST_MOD, "%s: value rejected (%s): %s", b->id,
               gw__reject_name(r), what);
    }
}

bool ingest__rate_take(struct ht_gw *g, struct ingest_board *b)
{
    int rate = g->conf->ingest_rate;
    if (!b || rate <= 0)
        return true;
    uint64_t now = ht_mono_ms();
    double burst = (double)g->conf->ingest_burst;
    if (now > b->refill_ms) {
        b->tokens += (double)(now - b->refill_ms) * rate / 1000.0;
        if (b->tokens > burst)
            b->tokens = burst;
        b->refill_ms = now;
    }
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return true;
    }
    char what[96];
    snprintf(what, sizeof what, "more than %d values/s (burst %d)", rate,
             g->conf->ingest_burst);
    reject(g, b, GW_REJECT_RATE, what);
    return false;
}

bool ingest__size_ok(struct ht_gw *g, struct ingest_board *b, size_t len)
{
    if (len <= (size_t)g->conf->mqtt_max_payload)
        return true;
    char what[96];
    snprintf(what, sizeof what,
             "payload of %zu bytes, more than mqtt.max_payload (%d)", len,
             g->conf->mqtt_max_payload);
    if (b)
        reject(g, b, GW_REJECT_SIZE, what);
    else
        ht_log(LOG_WARNING, INGEST_MOD, "message dropped: %s", what);
    return false;
}

int ingest__value_check(struct ht_gw *g, struct ingest_board *b,
                        const struct ht_sem_prop *p,
                        const struct ingest_value_msg *m, int64_t now)
{
    if (!b)
        return HT_OK;
    char msg[160];
    int64_t max_ts = now + (int64_t)g->conf->ingest_max_future_s * 1000;
    if (m->ts_bad || m->ts < INGEST_TS_MIN || m->ts > max_ts) {
        snprintf(msg, sizeof msg,
                 "ts %" PRId64 " outside [%" PRId64 ", now + %d s]", m->ts,
                 (int64_t)INGEST_TS_MIN, g->conf->ingest_max_future_s);
        if (m->ts_bad)
            snprintf(msg, sizeof msg, "ts is not an integer");
        reject(g, b, GW_REJECT_TS, msg);
        return HT_EINVAL;
    }
    enum ht_sem_check c;
    if (p) {
        c = ht_sem_value_valid(p, m->v, msg, sizeof msg);
    } else {
        /* No TD yet: nothing to check against but the data model, whose
         * values are scalars. */
        c = json_is_boolean(m->v) || json_is_number(m->v) ||
                    json_is_string(m->v)
                ? HT_SEM_OK
                : HT_SEM_BAD_TYPE;
        snprintf(msg, sizeof msg, "not a boolean, number or string");
    }
    if (c == HT_SEM_OK)
        return HT_OK;
    reject(g, b, c == HT_SEM_BAD_TYPE ? GW_REJECT_TYPE : GW_REJECT_RANGE, msg);
    return HT_EINVAL;
}
