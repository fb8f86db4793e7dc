/* gateway.c - the composition root: creates the modules in dependency
 * order (store, metrics, SSE log, auth, provisioning, registry, jobs,
 * ingest, twin glue, broker), starts them, and stops them so that nothing
 * is left suspended or unflushed. The only file that knows every module. */
#include "gateway/gateway.h"

#include "gateway/alarms/alarms.h"
#include "gateway/apps/apps.h"
#include "gateway/auth/auth.h"
#include "gateway/broker/broker.h"
#include "gateway/broker/provision.h"
#include "gateway/control/control.h"
#include "gateway/core/gw.h"
#include "gateway/ha/ha.h"
#include "gateway/http/http.h"
#include "gateway/ingest/ingest.h"
#include "gateway/jobs/jobs.h"
#include "gateway/mdns/mdns.h"
#include "gateway/metrics/metrics.h"
#include "gateway/plant/plant.h"
#include "gateway/registry/registry.h"
#include "gateway/security/security.h"
#include "gateway/sse/sse.h"
#include "gateway/store/store.h"
#include "gateway/tdd/tdd.h"
#include "gateway/twinglue/twinglue.h"
#include "gateway/upstream/upstream.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"
#include "ht_topic.h"
#include "ht_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Store writer thread: metrics of each committed batch. */
static void on_batch(void *ud, size_t rows, double seconds)
{
    struct ht_gw *g = ud;
    gw__hist_observe(g->metrics, &g->metrics->batch_time, seconds);
    pthread_mutex_lock(&g->metrics->mu);
    g->metrics->batch_rows += rows;
    pthread_mutex_unlock(&g->metrics->mu);
}

/* Any thread that writes an audit record: a copy for the plant. */
static void on_audit(void *ud, int64_t id, const struct ht_store_audit *a)
{
    struct ht_gw *g = ud;
    gw__upstream_audit(g->upstream, id, a);
}

/* The restored directory is opened like a start would (same journal size)
 * so that a schema migration, or a database it cannot read, shows now. */
int ht_gw_restore(const struct ht_gw_conf *conf, const char *file, char *err,
                  size_t errlen)
{
    int rc = ht_store_restore(file, conf->data_dir, err, errlen);
    if (rc != HT_OK)
        return rc;
    struct ht_store_opts so = {
        .journal_size = (size_t)conf->history_journal_kb << 10,
    };
    struct ht_store *s = NULL;
    rc = ht_store_open(conf->data_dir, &so, &s, err, errlen);
    if (rc == HT_OK) {
        ht_log(LOG_NOTICE, GW_MOD, "%s restored into %s (schema version %d)",
               file, conf->data_dir, ht_store_schema_version(s));
        ht_store_close(s);
    }
    return rc;
}

int ht_gw_new(struct ht_loop *l, const struct ht_gw_conf *conf,
              struct ht_gw **out, char *err, size_t errlen)
{
    *out = NULL;
    struct ht_gw *g = ht_calloc(1, sizeof *g);
    g->conf = conf;
    g->loop = l;
    gw__clock_sync(g);
    g->metrics = gw__metrics_new();
    int rc;
    if (!ht_id_valid(conf->gateway_id)) {
        snprintf(err, errlen, "gateway.id '%s' is not a valid id",
                 conf->gateway_id ? conf->gateway_id : "");
        rc = HT_EINVAL;
        goto fail;
    }
    if (!ht_topic_prefix_valid(conf->mqtt_prefix)) {
        snprintf(err, errlen,
                 "mqtt.prefix must be a topic of at most %d bytes without "
                 "wildcards or a trailing /",
                 HT_TOPIC_PREFIX_MAX);
        rc = HT_EINVAL;
        goto fail;
    }
    if (conf->broker) {
        rc = ht_parse_hostport(conf->broker, g->broker_host,
                               sizeof g->broker_host, &g->broker_port);
        if (rc) {
            snprintf(err, errlen, "--broker '%s': expected HOST:PORT",
                     conf->broker);
            goto fail;
        }
    } else {
        const char *h = conf->mqtt_bind;
        if (!h || !strcmp(h, "0.0.0.0"))
            h = "127.0.0.1";
        ht_strlcpy(g->broker_host, h, sizeof g->broker_host);
        g->broker_port = conf->mqtt_port;
    }
    if ((rc = gw__sec_check_conf(conf, err, errlen)) ||
        (rc = gw__sec_new(conf, &g->sec, err, errlen)))
        goto fail;
    struct ht_store_opts so = {
        .history_max_age_ms = (int64_t)conf->history_max_age_s * 1000,
        .history_max_rows = conf->history_max_rows,
        .rollup_max_age_ms = {(int64_t)conf->rollup_1m_days * 86400000,
                              (int64_t)conf->rollup_1h_days * 86400000},
        .flush_ms = conf->history_flush_ms,
        .journal_size = (size_t)conf->history_journal_kb << 10,
        .on_batch = on_batch,
        .on_audit = on_audit,
        .ud = g,
    };
    rc = ht_store_open(conf->data_dir, &so, &g->store, err, errlen);
    if (rc)
        goto fail;
    gw__reg_init(g);
    gw__jobs_init(g);
    if ((rc = gw__sse_init(g)) || (rc = gw__auth_init(g, err, errlen)) ||
        (rc = gw__tdd_init(g, err, errlen)) ||
        (rc = gw__prov_init(g, err, errlen)) ||
        (rc = gw__ingest_init(g, err, errlen)) ||
        (rc = gw__twins_init(g, err, errlen)) ||
        (rc = gw__alarms_init(g, err, errlen)) ||
        (rc = gw__control_init(g, err, errlen)) || (rc = gw__apps_init(g)) ||
        (rc = gw__ha_init(g, err, errlen)) ||
        (rc = gw__upstream_new(g, &g->upstream, err, errlen)) ||
        (rc = gw__plant_new(g, &g->plant, err, errlen)))
        goto fail;
    if (!conf->broker && (rc = gw__broker_new(g, &g->broker, err, errlen)))
        goto fail;
    *out = g;
    return HT_OK;
fail:
    ht_gw_free(g);
    return rc;
}

int ht_gw_start(struct ht_gw *g, char *err, size_t errlen)
{
    int rc;
    if (g->broker && (rc = gw__broker_start(g->broker, err, errlen)))
        return rc;
    if ((rc = gw__upstream_start(g->upstream, err, errlen)) ||
        (rc = gw__plant_start(g->plant, err, errlen)))
        return rc;
    if ((rc = gw__server_start(g, err, errlen)))
        return rc;
    if ((rc = gw__ingest_start(g))) {
        snprintf(err, errlen, "MQTT: %s", ht_strerror(rc));
        return rc;
    }
    if (g->conf->mdns)
        gw__mdns_start(g);
    g->started = true;
    ht_log(LOG_NOTICE, GW_MOD,
           "gatewayd %s ready: http %s:%d, broker %s:%d "
           "(%s), data %s",
           HT_VERSION, g->conf->http_bind, g->conf->http_port, g->broker_host,
           g->broker_port, g->broker ? "embedded" : "external",
           g->conf->data_dir);
    return HT_OK;
}

void ht_gw_stop(struct ht_gw *g)
{
    if (!g || g->stopped)
        return;
    g->stopped = true;
    gw__mdns_stop(g);
    if (g->mqtt)
        gw__ingest_stop(g);
    gw__server_stop(g);
    if (g->broker)
        gw__broker_stop(g->broker);
    if (g->store)
        ht_store_flush(g->store, NULL);
    gw__upstream_stop(g->upstream);
}

void ht_gw_free(struct ht_gw *g)
{
    if (!g)
        return;
    ht_gw_stop(g);
    gw__ha_clear(g);
    gw__control_clear(g);
    gw__alarms_clear(g);
    gw__twins_clear(g);
    gw__ingest_clear(g);
    gw__reg_clear(g);
    gw__broker_free(g->broker);
    gw__prov_free(g);
    gw__sec_free(g->sec);
    gw__sse_clear(g);
    ht_store_close(g->store);
    g->store = NULL;
    gw__upstream_free(g->upstream);
    g->upstream = NULL;
    gw__plant_free(g->plant);
    g->plant = NULL;
    gw__jobs_clear(g);
    gw__auth_clear(g);
    gw__tdd_clear(g);
    gw__metrics_free(g->metrics);
    free(g);
}
