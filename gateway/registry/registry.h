/* registry/registry.h - the device registry: every known device, its
 * lifecycle state, presence, newest thing and latest property values.
 * Owns: struct gw_registry (g->reg), the gw_dev records.
 * Uses: core, store (each change of a record is persisted through it).
 * Threads: the loop thread is the only writer, and takes reg->mu for every
 * write; it may read without the lock. The HTTP thread reads under
 * reg->mu through the snapshot functions, which copy what they return.
 */
#ifndef HT_GW_REGISTRY_H
#define HT_GW_REGISTRY_H

#include "gateway/core/gw.h"

#include "semantics/semantics.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

enum gw_state {
    GW_DISCOVERED,
    GW_PENDING,
    GW_APPROVED,
    GW_BLOCKED,
};
const char *gw__state_name(enum gw_state s);
/* HT_EINVAL if s names no state. */
int gw__state_parse(const char *s, enum gw_state *out);

struct gw_dev {
    char id[65];
    char *title;
    enum gw_state state;
    bool online;
    int64_t last_seen;
    int64_t created;
    struct ht_sem_thing *thing; /* from the newest TD, or NULL */
    /* The TD itself is not kept (27 KB as a jansson tree, 3.7 KB as text,
     * for a typical board): detail requests read it from the store. */
    int td_version;
    json_t *values; /* {name: {"v","ts","seq","quality"}} */
    bool mdns_seen;
    bool dirty; /* last_seen changed since the last persist */
    /* When each property of rx_thing last had a value (loop ms; 0: none
     * since it was checked): ingest's late-heartbeat check, loop only. */
    int64_t *rx_ms;
    const struct ht_sem_thing *rx_thing;
};

struct gw_registry {
    pthread_mutex_t mu;
    struct gw_dev **devs; /* sorted by id */
    size_t ndevs, capdevs;
    /* GET /things: bumped (atomically) by every device change. */
    uint64_t things_gen;
};

/* Create g->reg (empty). Loop thread, before anything else uses it. */
void gw__reg_init(struct ht_gw *g);
/* Free g->reg and every record. Safe when NULL. */
void gw__reg_clear(struct ht_gw *g);

/* Find a device (reg->mu held by the caller, or loop thread). Borrowed. */
struct gw_dev *gw__dev_find(struct ht_gw *g, const char *id);
/* Loop thread: a new record (taken by the registry, returned borrowed). */
struct gw_dev *gw__dev_add(struct ht_gw *g, const char *id, enum gw_state st);
/* Loop thread: drop a record (and free it). No-op for an unknown id. */
void gw__dev_remove(struct ht_gw *g, const char *id);
/* Loop thread: write d's row to the store. HT_OK or the store's error. */
int gw__dev_persist(struct ht_gw *g, struct gw_dev *d);
/* Loop thread: the latest value of property name of d (v borrowed, kept
 * by reference), quality "good", and d seen at now (ms since epoch). */
void gw__dev_value_set(struct ht_gw *g, struct gw_dev *d, const char *name,
                       const json_t *v, int64_t ts, int64_t seq, int64_t now);
/* How a value's (ts, seq) compares with the latest of its property:
 * NEW (store it), REPEAT (the same value again: a snapshot or a
 * redelivery; refresh its quality only) or OLD (older than what is stored:
 * drop it). A newer ts or a higher seq is new (a restarted board counts
 * seq from 1 again, with a newer ts). */
enum gw_value_order { GW_VALUE_NEW, GW_VALUE_REPEAT, GW_VALUE_OLD };
/* Loop thread (reads without the lock). */
enum gw_value_order gw__dev_value_order(const struct gw_dev *d,
                                        const char *name, int64_t ts,
                                        int64_t seq);
/* Loop thread: a repeated value confirms the stored one: quality "good"
 * and d seen at now. True when the quality changed. */
bool gw__dev_value_confirm(struct ht_gw *g, struct gw_dev *d, const char *name,
                           int64_t now);
/* Loop thread: the value of property name of d gets quality q (static);
 * true when that changed it. */
bool gw__dev_value_quality(struct ht_gw *g, struct gw_dev *d, const char *name,
                           const char *q);
/* Loop thread: every value of d gets quality q ("stale" when d comes back
 * online, "offline" when it leaves; q static). */
void gw__dev_values_quality(struct ht_gw *g, struct gw_dev *d, const char *q);
/* The device as API JSON (reg->mu held). detail adds properties. New. */
json_t *gw__dev_json(const struct gw_dev *d, bool detail);
/* Snapshot helpers for the HTTP thread (take reg->mu). New references. */
json_t *gw__devices_list(struct ht_gw *g, const char *state);
/* HT_ENOENT if unknown. */
int gw__device_get(struct ht_gw *g, const char *id, json_t **out);
/* {"v","ts","seq"} plus schema fields of one property; HT_ENOENT if the
 * device or property is unknown. */
int gw__property_get(struct ht_gw *g, const char *id, const char *name,
                     json_t **out);
/* A copy of a device's thing for TD building (new, free with
 * ht_sem_thing_free); HT_ENOENT if none. */
int gw__device_thing(struct ht_gw *g, const char *id,
                     struct ht_sem_thing **out);
/* Ids of devices with a TD (new array of strings). */
json_t *gw__device_ids_with_td(struct ht_gw *g);
/* Any thread: a device's TD, state or presence changed (drops the cached
 * GET /things answer). */
void gw__things_changed(struct ht_gw *g);
/* Counts of devices by state as {"discovered":n,...} plus "online". */
json_t *gw__device_counts(struct ht_gw *g);

#endif
