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
    /* Late heartbeats (fresh.c): one timer, due at fresh_due (loop ms). */
    struct ht_timer *fresh_timer;
    int64_t fresh_due;
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
    /* Exact topics outside the contract (gw__ingest_route_raw). */
    struct {
        char topic[HT_TOPIC_HA_MAX];
        gw_ingest_raw_fn fn;
    } raw[INGEST_MAX_SUBS];
    size_t nraw;
    struct ingest_check *check; /* check.c */
};

/* ---- late heartbeats (fresh.c; loop thread) ---- */
/* The fresh timer (at init) and its end (at clear). */
void ingest__fresh_init(struct ht_gw *g);
void ingest__fresh_clear(struct ht_gw *g);
/* A value of p (a property of d->thing with a max_interval_ms) arrived at
 * now: it is stale if nothing follows within 2 max_interval_ms. */
void ingest__fresh_seen(struct ht_gw *g, struct gw_dev *d,
                        const struct ht_sem_prop *p, int64_t now);

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
/* ---- payloads (payload.c: pure, any thread) ---- */
/* Parse and validate a TD received on id's topic (borrowed; payload len
 * bytes). HT_OK with *td and *thing new; else HT_EPARSE/HT_EINVAL, both
 * NULL and a message in err. */
int ingest__td_parse(const char *id, const char *payload, size_t len,
                     json_t **td, struct ht_sem_thing **thing, char *err,
                     size_t errlen);
/* {"state":"online"|"offline",...}: HT_OK and *online, or HT_EINVAL. */
int ingest__status_parse(const char *payload, size_t len, bool *online);
/* A property value {"v":value,"ts":ms,"seq":n}, parsed once. */
struct ingest_value_msg {
    json_t *doc;     /* the payload, or only its "v" (owned) */
    const json_t *v; /* borrowed from doc */
    char *text;      /* v as compact JSON (owned) */
    int64_t ts, seq; /* ts: now when absent */
    bool ts_bad;     /* "ts" present but not an integer */
};
/* HT_OK with *out filled (free with ingest__value_msg_clear), or HT_EINVAL
 * (no "v", not JSON) with *out zeroed. */
int ingest__value_parse(const char *payload, size_t len, int64_t now,
                        struct ingest_value_msg *out);
void ingest__value_msg_clear(struct ingest_value_msg *m);

/* ---- what ingest lets in (check.c, loop thread) ---- */
/* The earliest timestamp a value may have: 2000-01-01T00:00:00Z in ms. */
#define INGEST_TS_MIN INT64_C(946684800000)
struct ingest_board;
/* At init: g->ingest->check (empty); clear frees it (NULL-safe). */
void ingest__check_init(struct ht_gw *g);
void ingest__check_clear(struct ht_gw *g);
/* The rate and reject state of board dev (borrowed, copied), made on
 * first use; borrowed, valid until ingest__check_clear. Look it up once
 * per message. */
struct ingest_board *ingest__board(struct ht_gw *g, const char *dev);
/* One value of b within its rate (conf ingest.rate, ingest.burst: a token
 * bucket)? False: over it, counted ("rate") and logged; drop the value. */
bool ingest__rate_take(struct ht_gw *g, struct ingest_board *b);
/* A message of len bytes within mqtt.max_payload? False: drop it unread;
 * counted ("too_large") and logged for board b, only logged when b is
 * NULL (not a known board's topic). */
bool ingest__size_ok(struct ht_gw *g, struct ingest_board *b, size_t len);
/* m (borrowed) checked against p, the affordance looked up once by the
 * caller (borrowed; NULL for a device without TD: the value must then be a
 * scalar), with ht_sem_value_valid, and its ts against [INGEST_TS_MIN,
 * now + ingest.max_future_s] (a ts that is present must be an integer).
 * HT_OK, or HT_EINVAL when refused: counted per board and reason, logged
 * (rate-limited); the caller drops the value. */
int ingest__value_check(struct ht_gw *g, struct ingest_board *b,
                        const struct ht_sem_prop *p,
                        const struct ingest_value_msg *m, int64_t now);

/* Register the device job handlers with the jobs module. */
void ingest__commands_init(struct ht_gw *g);

#endif
