/* metrics/metrics.h - the counters and histograms behind GET /metrics.
 * Owns: struct gw_metrics (g->metrics) and its mutex.
 * Uses: nothing.
 * Threads: any thread updates or reads under m->mu (the loop, the store's
 * writer thread and the HTTP thread all do).
 */
#ifndef HT_GW_METRICS_H
#define HT_GW_METRICS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define GW_HIST_BUCKETS 12
struct gw_hist {
    uint64_t buckets[GW_HIST_BUCKETS]; /* cumulative on output */
    uint64_t count;
    double sum;
};

/* Why ingest refused a value (the "reason" label: a fixed set). */
enum gw_reject {
    GW_REJECT_TYPE,  /* "bad_type": not the affordance's type */
    GW_REJECT_RANGE, /* "out_of_range": min/max/multipleOf/enum/maxLength */
    GW_REJECT_TS,    /* "timestamp": outside the sane window */
    GW_REJECT_RATE,  /* "rate": beyond the board's ingest.rate */
    GW_REJECT_SIZE,  /* "too_large": a payload over mqtt.max_payload */
    GW_REJECT_N
};
/* Boards with a "device" label of their own in the reject counters; the
 * rejects of any further board are summed under device="_other", so the
 * series stay at most (GW_METRICS_BOARDS + 1) x GW_REJECT_N. */
#define GW_METRICS_BOARDS 128
struct gw_board_rejects {
    char dev[65];
    uint64_t n[GW_REJECT_N];
};

struct gw_metrics {
    pthread_mutex_t mu;
    uint64_t mqtt_in, mqtt_in_td, mqtt_in_status, mqtt_in_props, mqtt_bad;
    uint64_t cmd_by_status[6]; /* 200, 400, 403/404/409, 503, 504, other */
    uint64_t http_requests;
    struct gw_hist cmd_latency; /* seconds */
    struct gw_hist batch_time;  /* seconds */
    uint64_t batch_rows;
    uint64_t broker_restarts;
    /* Alarms (ISA-18.2): every life-cycle transition, and the
     * annunciations among them (an alarm newly active unacknowledged: the
     * alarm rate that ISA-18.2 asks to keep low). */
    uint64_t alarm_transitions, alarm_annunciations;
    /* Values refused at ingest: per board (in order of their first
     * reject), then everyone else. */
    struct gw_board_rejects boards[GW_METRICS_BOARDS];
    size_t nboards;
    uint64_t rejects_other[GW_REJECT_N];
    /* Upstream (upstream/, docs/fleet.md): records queued for the plant
     * cluster, acknowledged by it, dropped from a full outbox, failed
     * batches (retried); the outbox's backlog and the uplink's state. */
    uint64_t up_queued, up_forwarded, up_dropped, up_retries, up_disconnects;
    uint64_t up_backlog, up_backlog_bytes;
    uint64_t up_oversize; /* records or documents above GW_UP_RECORD_MAX */
    /* upstream.values_mode "direct": samples handed to the connection,
     * and those dropped (uplink down, or the queue to it full). */
    uint64_t up_samples_sent, up_samples_dropped;
    int up_connected; /* -1: no upstream configured, 0: down, 1: up */
};

/* Upper bounds (seconds) of the histogram buckets. */
extern const double gw__hist_bounds[GW_HIST_BUCKETS];

/* New zeroed metrics; free with gw__metrics_free (NULL is a no-op). */
struct gw_metrics *gw__metrics_new(void);
void gw__metrics_free(struct gw_metrics *m);
/* Add v to histogram h of m (takes m->mu). Any thread. */
void gw__hist_observe(struct gw_metrics *m, struct gw_hist *h, double v);
/* Add one to the counter c of m (takes m->mu). Any thread. */
void gw__metrics_inc(struct gw_metrics *m, uint64_t *c);

/* The label of reason r: "bad_type", "out_of_range", "timestamp", "rate"
 * or "too_large" (static). */
const char *gw__reject_name(enum gw_reject r);
/* The reject slot of board dev (borrowed, copied): its index in
 * m->boards (taken on first use), or -1 once every slot is taken (then
 * its rejects count under "_other"). Takes m->mu; call once per board and
 * keep the answer. Any thread. */
int gw__metrics_board_slot(struct gw_metrics *m, const char *dev);
/* Count one value of the board in slot (from gw__metrics_board_slot)
 * refused for reason r. Takes m->mu. Any thread. */
void gw__metrics_reject(struct gw_metrics *m, int slot, enum gw_reject r);

#endif
