/* ingest/ingest_internal.h - shared by ingest.c (MQTT in) and commands.c
 * (device jobs, MQTT out). Not for other modules.
 * Uses: core, registry, jobs, ingest.
 */
#ifndef HT_GW_INGEST_INTERNAL_H
#define HT_GW_INGEST_INTERNAL_H

#include "gateway/core/gw.h"
#include "gateway/ingest/ingest.h"
#include "gateway/jobs/jobs.h"
#include "gateway/registry/registry.h"

#include "ht_topic.h"

#include <mosquitto.h>

#define INGEST_MOD "event"
#define INGEST_MAX_SUBS 4

/* Commands answered 504, remembered so that a late ack is recorded next
 * to the timeout in the audit log instead of dropped (bounded: the oldest
 * is forgotten first). */
#define INGEST_LATE_MAX 256
struct ingest_late {
    uint64_t corr; /* 0 = empty */
    char dev[65];
    char cmd_id[24];
    int64_t sent_ms;
};

struct gw_ingest {
    /* Commands waiting for their ack, and the next correlation id. */
    struct gw_job *pending;
    uint64_t next_corr;
    char ack_topic[HT_TOPIC_MAX]; /* the legacy shared ack topic */
    /* SUBACKs still awaited since the last connect; /healthz reports
     * mqtt_ready once none are left (read by the HTTP thread). */
    _Atomic int subs_pending;
    struct ht_timer *flush_timer;
    struct ht_timer *retention_timer;
    struct ht_timer *ping_timer;
    struct ingest_late late[INGEST_LATE_MAX];
    size_t late_next;
    const struct gw_ingest_sub *subs[INGEST_MAX_SUBS];
    size_t nsubs;
    /* Topic kinds other modules handle (gw__ingest_route). */
    struct {
        enum ht_topic_kind kind;
        gw_ingest_topic_fn fn;
    } routes[INGEST_MAX_SUBS];
    size_t nroutes;
};

/* A device record changed: an SSE "device" event with the change. */
void ingest__emit_device(struct ht_gw *g, struct gw_dev *d, const char *change);
/* Tell the subscribers (approved devices only: the caller checks). */
void ingest__notify_td(struct ht_gw *g, const char *dev,
                       const struct ht_sem_thing *thing);
void ingest__notify_removed(struct ht_gw *g, const char *dev);
/* A command ack (dev: the device whose ack topic it came on, or NULL for
 * the shared topic); props borrowed. */
void ingest__ack(struct ht_gw *g, const char *dev, const char *payload,
                 size_t len, const mosquitto_property *props);
/* Register the device job handlers with the jobs module. */
void ingest__commands_init(struct ht_gw *g);

#endif
