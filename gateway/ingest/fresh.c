/* fresh.c - quality "stale" for a value whose heartbeat is late: a
 * property whose TD promises a republish at least every N ms
 * ("ht:maxIntervalMs", ht_sem_prop.max_interval_ms) is stale once 2 N ms
 * pass without a value while its board is online. The registry, the SSE
 * log and the subscribers (the twins) hear the change; the next value
 * makes it good again (ingest's deliver and confirm).
 *
 * Cost on the hot path: one store of the arrival time per value of such a
 * property (an array per device, indexed like its thing's properties).
 * One loop timer, armed only while some such value is due, sweeps the
 * devices at most every FRESH_MIN_GAP_MS.
 */
#include "gateway/ingest/ingest_internal.h"
#include "gateway/sse/sse.h"
#include "gateway/store/store.h"

#include "ht_log.h"
#include "ht_loop.h"
#include "ht_mem.h"

#include <stdlib.h>
#include <string.h>

/* Sweeps are at least this far apart (a value is marked stale between 2 N
 * and 2 N + this late); many boards with staggered heartbeats then cost
 * two sweeps a second, not one per heartbeat. */
#define FRESH_MIN_GAP_MS 500

/* The arrival times of d, sized for its current thing (a new TD starts
 * them anew). */
static int64_t *rx_times(struct gw_dev *d)
{
    if (d->rx_thing != d->thing) {
        free(d->rx_ms);
        d->rx_ms =
            d->thing ? ht_calloc(d->thing->nprops + 1, sizeof *d->rx_ms) : NULL;
        d->rx_thing = d->thing;
    }
    return d->rx_ms;
}

static void arm(struct ht_gw *g, int64_t due, int64_t now)
{
    struct ht_timer *tm = g->ingest->fresh_timer;
    if (due < now + FRESH_MIN_GAP_MS)
        due = now + FRESH_MIN_GAP_MS;
    uint64_t after = (uint64_t)(due - now);
    if (ht_timer_active(tm) && g->ingest->fresh_due <= due)
        return;
    g->ingest->fresh_due = due;
    ht_timer_start(tm, after, 0);
}

void ingest__fresh_seen(struct ht_gw *g, struct gw_dev *d,
                        const struct ht_sem_prop *p, int64_t now)
{
    int64_t *rx = rx_times(d);
    if (!rx || !g->ingest->fresh_timer)
        return;
    rx[p - d->thing->props] = now;
    if (!ht_timer_active(g->ingest->fresh_timer))
        arm(g, now + 2 * (int64_t)p->max_interval_ms, now);
}

/* Mark one late value stale everywhere it is shown. */
static void go_stale(struct ht_gw *g, struct gw_dev *d,
                     const struct ht_sem_prop *p)
{
    if (!gw__dev_value_quality(g, d, p->name, "stale"))
        return;
    const json_t *rec = json_object_get(d->values, p->name);
    char *vtext =
        json_dumps(json_object_get(rec, "v"), JSON_COMPACT | JSON_ENCODE_ANY);
    gw__sse_value_quality(g, d->id, p->name, vtext ? vtext : "null",
                          json_integer_value(json_object_get(rec, "ts")),
                          json_integer_value(json_object_get(rec, "seq")),
                          "stale");
    free(vtext);
    ht_log(LOG_INFO, INGEST_MOD, "%s/%s: no value for %u ms: stale", d->id,
           p->name, 2 * p->max_interval_ms);
    if (d->state == GW_APPROVED)
        for (size_t k = 0; k < g->ingest->nsubs; k++)
            if (g->ingest->subs[k]->on_stale)
                g->ingest->subs[k]->on_stale(g, d->id, p->name);
    /* The past must know it too (after the live clients: a journal
     * append, never before what they wait for). */
    ht_store_quality_add(g->store, d->id, p->name, false, gw__now_ms(g));
}

static void on_fresh(struct ht_timer *tm, void *ud)
{
    (void)tm;
    struct ht_gw *g = ud;
    int64_t now = gw__now_ms(g), next = -1;
    for (size_t i = 0; i < g->reg->ndevs; i++) {
        struct gw_dev *d = g->reg->devs[i];
        if (!d->rx_ms || d->rx_thing != d->thing || !d->online)
            continue;
        for (size_t k = 0; k < d->thing->nprops; k++) {
            const struct ht_sem_prop *p = &d->thing->props[k];
            if (!p->max_interval_ms || !d->rx_ms[k])
                continue;
            int64_t due = d->rx_ms[k] + 2 * (int64_t)p->max_interval_ms;
            if (due <= now) {
                d->rx_ms[k] = 0; /* until the next value */
                go_stale(g, d, p);
            } else if (next < 0 || due < next) {
                next = due;
            }
        }
    }
    if (next >= 0)
        arm(g, next, now);
}

void ingest__fresh_init(struct ht_gw *g)
{
    g->ingest->fresh_timer = ht_timer_new(g->loop, on_fresh, g);
}

void ingest__fresh_clear(struct ht_gw *g)
{
    ht_timer_free(g->ingest->fresh_timer);
    g->ingest->fresh_timer = NULL;
}
