/* metrics.c - counters and fixed-bucket histograms, cheap enough to update
 * on every message: one short critical section, no allocation. */
#include "gateway/metrics/metrics.h"

#include "ht_mem.h"

#include <stdlib.h>
#include <string.h>

const double gw__hist_bounds[GW_HIST_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};

struct gw_metrics *gw__metrics_new(void)
{
    struct gw_metrics *m = ht_calloc(1, sizeof *m);
    m->up_connected = -1; /* no upstream until one starts */
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

void gw__metrics_free(struct gw_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void gw__metrics_inc(struct gw_metrics *m, uint64_t *c)
{
    pthread_mutex_lock(&m->mu);
    (*c)++;
    pthread_mutex_unlock(&m->mu);
}

void gw__hist_observe(struct gw_metrics *m, struct gw_hist *h, double v)
{
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < GW_HIST_BUCKETS; i++)
        if (v <= gw__hist_bounds[i]) {
            h->buckets[i]++;
            break;
        }
    h->count++;
    h->sum += v;
    pthread_mutex_unlock(&m->mu);
}

const char *gw__reject_name(enum gw_reject r)
{
    static const char *const names[GW_REJECT_N] = {
        "bad_type", "out_of_range", "timestamp", "rate", "too_large"};
    return (unsigned)r < GW_REJECT_N ? names[r] : "other";
}

int gw__metrics_board_slot(struct gw_metrics *m, const char *dev)
{
    int slot = -1;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->nboards; i++)
        if (!strcmp(m->boards[i].dev, dev)) {
            slot = (int)i;
            break;
        }
    if (slot < 0 && m->nboards < GW_METRICS_BOARDS &&
        strlen(dev) < sizeof m->boards[0].dev) {
        slot = (int)m->nboards++;
        strcpy(m->boards[slot].dev, dev);
    }
    pthread_mutex_unlock(&m->mu);
    return slot;
}

void gw__metrics_reject(struct gw_metrics *m, int slot, enum gw_reject r)
{
    if ((unsigned)r >= GW_REJECT_N)
        return;
    pthread_mutex_lock(&m->mu);
    if (slot >= 0 && (size_t)slot < m->nboards)
        m->boards[slot].n[r]++;
    else
        m->rejects_other[r]++;
    pthread_mutex_unlock(&m->mu);
}
