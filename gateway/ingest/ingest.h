/* ingest/ingest.h - the device side of MQTT: subscribes to the devices'
 * topics, dispatches each message by topic, parses it once into a record
 * and hands that record on: to the registry, the store, the SSE log and
 * then to its subscribers (the twin glue). It also runs the device jobs
 * (commands with their acks, approve/block/delete/register).
 * Owns: struct gw_ingest (g->ingest), the gateway's MQTT client (g->mqtt),
 * the pending commands, the flush/retention/ping timers, the per-board
 * rate buckets and reject state (check.c).
 * Uses: core, metrics, store, registry, sse, jobs, broker (provisioning).
 * Threads: loop thread only, except gw__ingest_mqtt_ready (any thread).
 */
#ifndef HT_GW_INGEST_H
#define HT_GW_INGEST_H

#include "gateway/core/gw.h"

#include "semantics/semantics.h"

#include "ht_mqtt.h"
#include "ht_topic.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One property value as it arrived, parsed once. Every pointer is
 * borrowed for the duration of the call it is passed to. */
struct gw_value {
    const char *dev;
    const char *prop;
    const json_t *v;
    const char *text; /* v as compact JSON */
    int64_t ts, seq;
};

/* What a subscriber hears, for approved devices only, on the loop thread.
 * Any callback may be NULL. */
struct gw_ingest_sub {
    void (*on_value)(struct ht_gw *g, const struct gw_value *val);
    void (*on_status)(struct ht_gw *g, const char *dev, bool online);
    /* A value whose heartbeat is late (its board still online) became
     * stale; the next value of it makes it good again (on_value). */
    void (*on_stale)(struct ht_gw *g, const char *dev, const char *prop);
    /* thing borrowed; NULL for a device without TD. */
    void (*on_td)(struct ht_gw *g, const char *dev,
                  const struct ht_sem_thing *thing);
    /* The device left the approved state or was removed. */
    void (*on_removed)(struct ht_gw *g, const char *dev);
};

/* A handler for the messages of one topic kind of the contract that
 * ingest does not consume itself (app requests): t, payload (len bytes)
 * and props borrowed for the call; loop thread. */
typedef void (*gw_ingest_topic_fn)(struct ht_gw *g, const struct ht_topic *t,
                                   const void *payload, size_t len,
                                   const mosquitto_property *props);
/* At init: subscribe to kind's filter (every id) at each connect, like the
 * devices' topics (so /healthz waits for it too), and hand its messages
 * to fn. */
void gw__ingest_route(struct ht_gw *g, enum ht_topic_kind kind,
                      gw_ingest_topic_fn fn);

/* A handler for a filter outside the contract (Home Assistant's birth
 * topic and discovery configs): topic and payload (len bytes) borrowed
 * for the call; loop thread. */
typedef void (*gw_ingest_raw_fn)(struct ht_gw *g, const char *topic,
                                 const void *payload, size_t len);
/* At init: subscribe to filter (copied, shorter than HT_TOPIC_HA_MAX, not
 * under mqtt.prefix) at each connect and hand the messages that match it
 * to fn. HT_EINVAL for a filter that cannot be one. */
int gw__ingest_route_raw(struct ht_gw *g, const char *filter,
                         gw_ingest_raw_fn fn);

/* Load the registry from the store, create the MQTT client and register
 * the device job handlers. Needs g->reg, g->log, g->jobs; err gets a
 * one-line message. */
int gw__ingest_init(struct ht_gw *g, char *err, size_t errlen);
/* Add a subscriber (borrowed, must outlive the gateway). At init. */
void gw__ingest_subscribe(struct ht_gw *g, const struct gw_ingest_sub *s);
/* Connect and start the timers. */
int gw__ingest_start(struct ht_gw *g);
/* Close the job queue, answer everything waiting 503, disconnect, flush
 * last-seen times and answer the jobs whose audit is committed. */
void gw__ingest_stop(struct ht_gw *g);
/* Free the client, the timers and g->ingest. Safe when NULL. */
void gw__ingest_clear(struct ht_gw *g);
/* mDNS sighting of an agent: a discovered device if unknown. */
void gw__ingest_mdns_seen(struct ht_gw *g, const char *id);
/* Any thread: connected and every subscription acknowledged. */
bool gw__ingest_mqtt_ready(const struct ht_gw *g);

#endif
