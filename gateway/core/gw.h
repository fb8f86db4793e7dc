/* core/gw.h - the composition root's handles: struct ht_gw holds one
 * handle per module plus what every module reads (config, loop, the MQTT
 * client, the store, the broker's address). No module state lives here:
 * each module keeps its own behind its handle.
 * Owns: nothing (gateway.c creates and frees the handles), except the
 * offset that turns the loop's clock into wall-clock time.
 * Uses: nothing (only common/ and store's opaque type).
 * Threads: the fields are set before the gateway starts and read-only
 * afterwards; what a handle points to follows its module's rules.
 */
#ifndef HT_GW_CORE_H
#define HT_GW_CORE_H

#include "gateway/core/conf.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Log module name of the composition root. */
#define GW_MOD "gateway"

struct ht_loop;
struct ht_mqtt;
struct ht_store;
struct gw_metrics;
struct gw_auth;
struct gw_broker;
struct gw_prov;
struct gw_registry;
struct gw_sse_log;
struct gw_jobs;
struct gw_ingest;
struct gw_twins;
struct gw_alarms;
struct gw_control;
struct gw_server;
struct gw_mdns;
struct gw_sec;
struct gw_upstream;
struct gw_plant;
struct gw_tdd;
struct gw_ha;

struct ht_gw {
    const struct ht_gw_conf *conf;
    struct ht_loop *loop;
    struct ht_store *store; /* the semantic module (store/) */
    struct ht_mqtt *mqtt;   /* the gateway's client, created by ingest */
    char broker_host[256];  /* where the gateway and devices reach it */
    int broker_port;
    struct gw_metrics *metrics;
    struct gw_auth *auth;
    struct gw_broker *broker; /* NULL with an external broker */
    struct gw_prov *prov;     /* NULL unless provisioning is on */
    struct gw_registry *reg;
    struct gw_sse_log *log;
    struct gw_jobs *jobs;
    struct gw_ingest *ingest;
    struct gw_twins *twins;
    struct gw_alarms *alarms;
    struct gw_control *control;
    struct gw_server *server; /* NULL until the HTTP server runs */
    struct gw_mdns *mdns;
    struct gw_sec *sec; /* listener rules, CA, broker TLS (security/) */
    struct gw_upstream *upstream; /* NULL without upstream.url */
    struct gw_plant *plant;       /* NULL unless plant.enabled */
    struct gw_tdd *tdd;           /* third-party TDs of the directory (tdd/) */
    struct gw_ha *ha;             /* Home Assistant discovery (ha/) */
    /* Wall clock minus the loop's clock (ms): see gw__now_ms. */
    int64_t clock_offset_ms;
    bool started, stopped;
};

/* Loop thread: the time (ms since the epoch) for everything the gateway
 * stamps: the loop's cached clock (read once per loop iteration) plus the
 * offset to the wall clock that gw__clock_sync took. */
int64_t gw__now_ms(const struct ht_gw *g);
/* Loop thread: re-take the wall-clock offset (at start, then from a
 * timer, so a stepped system clock is followed). */
void gw__clock_sync(struct ht_gw *g);

/* Base URL of this gateway's HTTP API ("http://host:port", new). Any
 * thread. */
char *gw__http_base(const struct ht_gw *g);
/* mqtt://host:port of the broker devices use (new). Any thread. */
char *gw__mqtt_base(const struct ht_gw *g);
/* Where the MQTT forms of the TDs this gateway serves point (new): the
 * embedded broker's TLS listener, mqtts://host:tls_port, when accounts
 * are on (WoT consumers need a broker account, and the plain port is
 * loopback-only), else gw__mqtt_base. *basic (may be NULL) is set when
 * those forms need a broker account. Any thread. */
char *gw__mqtt_td_base(const struct ht_gw *g, bool *basic);

/* The HTTP status of a failed store write: 507 (Insufficient Storage)
 * when the disk is full (-ENOSPC: nothing was changed, try again when
 * space returns), else 500. */
static inline int gw__store_status(int rc)
{
    return rc == -ENOSPC ? 507 : 500;
}
/* Its problem title (static). */
static inline const char *gw__store_title(int rc)
{
    return rc == -ENOSPC ? "Insufficient Storage" : "Store error";
}

#endif
