/* routes_wot.c - the WoT Thing Description Directory (/things,
 * /things/{id}, /.well-known/wot), Prometheus /metrics and the OpenAPI
 * document. Device TDs are rebuilt from the ingested thing with forms that
 * point at this gateway (REST, SSE observe, and the broker's MQTT). */

#include "gateway/aas/aas.h"
#include "gateway/alarms/alarms.h"
#include "gateway/auth/auth.h"
#include "gateway/http/http.h"
#include "gateway/metrics/metrics.h"
#include "gateway/registry/registry.h"
#include "gateway/sse/sse.h"
#include "gateway/store/store.h"
#include "gateway/tdd/tdd.h"
#include "gateway/twinglue/twinglue.h"

#include "twins/twin.h"

#include "ht_err.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- metrics ---- */

struct sbuf {
    char *s;
    size_t len, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)(n > 0 ? n : 0) + 256;
        b->s = ht_realloc(b->s, b->cap);
    }
}

static void hist_out(struct sbuf *b, const char *name, const char *help,
                     const struct gw_hist *h)
{
    sb_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i < GW_HIST_BUCKETS; i++) {
        cum += h->buckets[i];
        sb_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, gw__hist_bounds[i],
                  (unsigned long long)cum);
    }
    sb_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %g\n%s_count %llu\n",
              name, (unsigned long long)h->count, name, h->sum, name,
              (unsigned long long)h->count);
}

enum MHD_Result gw__route_metrics(struct gw_req *r)
{
    struct ht_gw *g = r->g;
    struct gw_metrics m;
    pthread_mutex_lock(&g->metrics->mu);
    m = *g->metrics;
    pthread_mutex_unlock(&g->metrics->mu);
    json_t *counts = gw__device_counts(g);
    struct sbuf b = {ht_malloc(4096), 0, 4096};
    sb_printf(&b, "# HELP holotwin_mqtt_messages_in_total MQTT messages "
                  "received, by kind.\n# TYPE holotwin_mqtt_messages_in_total "
                  "counter\n");
    sb_printf(&b, "holotwin_mqtt_messages_in_total{kind=\"td\"} %llu\n",
              (unsigned long long)m.mqtt_in_td);
    sb_printf(&b, "holotwin_mqtt_messages_in_total{kind=\"status\"} %llu\n",
              (unsigned long long)m.mqtt_in_status);
    sb_printf(&b, "holotwin_mqtt_messages_in_total{kind=\"props\"} %llu\n",
              (unsigned long long)m.mqtt_in_props);
    sb_printf(&b, "holotwin_mqtt_messages_in_total{kind=\"other\"} %llu\n",
              (unsigned long long)(m.mqtt_in - m.mqtt_in_td - m.mqtt_in_status -
                                   m.mqtt_in_props));
    sb_printf(&b,
              "# HELP holotwin_mqtt_rejected_total Malformed or invalid "
              "MQTT messages.\n# TYPE holotwin_mqtt_rejected_total "
              "counter\nholotwin_mqtt_rejected_total %llu\n",
              (unsigned long long)m.mqtt_bad);
    sb_printf(&b,
              "# HELP holotwin_ingest_rejected_total Values refused at "
              "ingest, by board (the first %d boards with rejects, then "
              "\"_other\") and reason.\n# TYPE "
              "holotwin_ingest_rejected_total counter\n",
              GW_METRICS_BOARDS);
    for (size_t i = 0; i <= m.nboards; i++) {
        const uint64_t *n = i < m.nboards ? m.boards[i].n : m.rejects_other;
        const char *dev = i < m.nboards ? m.boards[i].dev : "_other";
        for (int k = 0; k < GW_REJECT_N; k++)
            if (i < m.nboards || n[k])
                sb_printf(&b,
                          "holotwin_ingest_rejected_total{device=\"%s\","
                          "reason=\"%s\"} %llu\n",
                          dev, gw__reject_name((enum gw_reject)k),
                          (unsigned long long)n[k]);
    }
    static const char *const outcome[] = {"200", "400", "403_404_409",
                                          "503", "504", "other"};
    sb_printf(&b, "# HELP holotwin_commands_total Property writes by HTTP "
                  "status.\n# TYPE holotwin_commands_total counter\n");
    for (int i = 0; i < 6; i++)
        sb_printf(&b, "holotwin_commands_total{status=\"%s\"} %llu\n",
                  outcome[i], (unsigned long long)m.cmd_by_status[i]);
    hist_out(&b, "holotwin_command_latency_seconds",
             "Time from request to answer of property writes.", &m.cmd_latency);
    hist_out(&b, "holotwin_sqlite_batch_seconds",
             "Duration of one batched history/event commit.", &m.batch_time);
    sb_printf(&b,
              "# HELP holotwin_sqlite_rows_total Rows written by batches."
              "\n# TYPE holotwin_sqlite_rows_total counter\n"
              "holotwin_sqlite_rows_total %llu\n",
              (unsigned long long)m.batch_rows);
    struct ht_store_batch_stats bs;
    ht_store_batch_stats(g->store, &bs);
    sb_printf(&b,
              "# HELP holotwin_journal_bytes Journaled, not yet "
              "committed.\n# TYPE holotwin_journal_bytes gauge\n"
              "holotwin_journal_bytes %llu\n"
              "# HELP holotwin_journal_full_waits_total Appends that "
              "waited for the writer (journal full).\n"
              "# TYPE holotwin_journal_full_waits_total counter\n"
              "holotwin_journal_full_waits_total %llu\n"
              "# HELP holotwin_sqlite_dropped_rows_total Rows of failed "
              "batches.\n# TYPE holotwin_sqlite_dropped_rows_total "
              "counter\nholotwin_sqlite_dropped_rows_total %llu\n",
              (unsigned long long)bs.journal_bytes,
              (unsigned long long)bs.full_waits,
              (unsigned long long)bs.dropped);
    sb_printf(&b,
              "# HELP holotwin_degraded 1 while a fault keeps the gateway "
              "from doing all of its work, by reason (disk_full: batches "
              "wait in the journal).\n# TYPE holotwin_degraded gauge\n"
              "holotwin_degraded{reason=\"disk_full\"} %d\n"
              "# HELP holotwin_degraded_since_seconds When the current "
              "degradation began (Unix time; 0: none).\n"
              "# TYPE holotwin_degraded_since_seconds gauge\n"
              "holotwin_degraded_since_seconds %lld\n"
              "# HELP holotwin_store_retries_total Batches tried again "
              "because the disk was full (their rows kept).\n"
              "# TYPE holotwin_store_retries_total counter\n"
              "holotwin_store_retries_total %llu\n",
              bs.degraded_since_ms ? 1 : 0,
              (long long)(bs.degraded_since_ms / 1000),
              (unsigned long long)bs.retries);
    sb_printf(&b,
              "# HELP holotwin_http_requests_total HTTP requests.\n"
              "# TYPE holotwin_http_requests_total counter\n"
              "holotwin_http_requests_total %llu\n",
              (unsigned long long)m.http_requests);
    sb_printf(&b,
              "# HELP holotwin_sse_clients Open event streams.\n"
              "# TYPE holotwin_sse_clients gauge\nholotwin_sse_clients "
              "%zu\n",
              gw__sse_clients(g));
    pthread_mutex_lock(&g->server->conn_mu);
    size_t nconn = g->server->nconn;
    unsigned long long refused = (unsigned long long)g->server->refused;
    pthread_mutex_unlock(&g->server->conn_mu);
    sb_printf(&b,
              "# HELP holotwin_http_connections Open HTTP connections.\n"
              "# TYPE holotwin_http_connections gauge\n"
              "holotwin_http_connections %zu\n"
              "# HELP holotwin_http_refused_total Connections refused at "
              "accept (per-address limit, full, reserve).\n"
              "# TYPE holotwin_http_refused_total counter\n"
              "holotwin_http_refused_total %llu\n",
              nconn, refused);
    sb_printf(&b,
              "# HELP holotwin_events_ring_bytes Memory of the event ring "
              "(bounded by events.ring_kb).\n"
              "# TYPE holotwin_events_ring_bytes gauge\n"
              "holotwin_events_ring_bytes %zu\n",
              gw__sse_ring_bytes(g));
    sb_printf(&b, "# HELP holotwin_devices Devices by lifecycle state.\n"
                  "# TYPE holotwin_devices gauge\n");
    static const char *const st[] = {"discovered", "pending", "approved",
                                     "blocked"};
    for (int i = 0; i < 4; i++)
        sb_printf(
            &b, "holotwin_devices{state=\"%s\"} %lld\n", st[i],
            (long long)json_integer_value(json_object_get(counts, st[i])));
    sb_printf(&b,
              "# HELP holotwin_devices_online Devices online.\n"
              "# TYPE holotwin_devices_online gauge\n"
              "holotwin_devices_online %lld\n",
              (long long)json_integer_value(json_object_get(counts, "online")));
    sb_printf(&b,
              "# HELP holotwin_broker_restarts_total Embedded broker "
              "restarts.\n# TYPE holotwin_broker_restarts_total counter\n"
              "holotwin_broker_restarts_total %llu\n",
              (unsigned long long)m.broker_restarts);
    json_decref(counts);
    struct gw_alarm_filter af = {.unacked = true};
    json_t *unacked = gw__alarms_list(r->g, &af);
    sb_printf(&b,
              "# HELP holotwin_alarm_transitions_total Alarm life-cycle "
              "transitions.\n# TYPE holotwin_alarm_transitions_total "
              "counter\nholotwin_alarm_transitions_total %llu\n"
              "# HELP holotwin_alarm_annunciations_total Alarms newly "
              "active and unacknowledged (the ISA-18.2 alarm rate).\n"
              "# TYPE holotwin_alarm_annunciations_total counter\n"
              "holotwin_alarm_annunciations_total %llu\n"
              "# HELP holotwin_alarms_unacknowledged Alarms waiting for an "
              "acknowledgement.\n# TYPE holotwin_alarms_unacknowledged "
              "gauge\nholotwin_alarms_unacknowledged %zu\n",
              (unsigned long long)m.alarm_transitions,
              (unsigned long long)m.alarm_annunciations,
              json_array_size(unacked));
    json_decref(unacked);
    if (m.up_connected >= 0)
        sb_printf(
            &b,
            "# HELP holotwin_upstream_connected 1 while the uplink to the "
            "plant cluster is up.\n# TYPE holotwin_upstream_connected gauge\n"
            "holotwin_upstream_connected %d\n"
            "# HELP holotwin_upstream_records_total Records queued for the "
            "plant.\n# TYPE holotwin_upstream_records_total counter\n"
            "holotwin_upstream_records_total %llu\n"
            "# HELP holotwin_upstream_forwarded_total Records the cluster "
            "acknowledged.\n# TYPE holotwin_upstream_forwarded_total "
            "counter\nholotwin_upstream_forwarded_total %llu\n"
            "# HELP holotwin_upstream_dropped_total Records dropped (outbox "
            "full or unwritable).\n# TYPE holotwin_upstream_dropped_total "
            "counter\nholotwin_upstream_dropped_total %llu\n"
            "# HELP holotwin_upstream_retries_total Batches re-sent after a "
            "missing or failed ack.\n# TYPE holotwin_upstream_retries_total "
            "counter\nholotwin_upstream_retries_total %llu\n"
            "# HELP holotwin_upstream_disconnects_total Uplink connections "
            "lost.\n# TYPE holotwin_upstream_disconnects_total counter\n"
            "holotwin_upstream_disconnects_total %llu\n"
            "# HELP holotwin_upstream_backlog Records in the outbox waiting "
            "for the cluster.\n# TYPE holotwin_upstream_backlog gauge\n"
            "holotwin_upstream_backlog %llu\n"
            "# HELP holotwin_upstream_backlog_bytes Bytes of those records."
            "\n# TYPE holotwin_upstream_backlog_bytes gauge\n"
            "holotwin_upstream_backlog_bytes %llu\n"
            "# HELP holotwin_upstream_oversize_total Records or descriptor "
            "documents too large for a NATS message (dropped, or sent "
            "without the document).\n# TYPE holotwin_upstream_oversize_total "
            "counter\nholotwin_upstream_oversize_total %llu\n"
            "# HELP holotwin_upstream_samples_sent_total Value samples "
            "published directly (upstream.values_mode direct).\n# TYPE "
            "holotwin_upstream_samples_sent_total counter\n"
            "holotwin_upstream_samples_sent_total %llu\n"
            "# HELP holotwin_upstream_samples_dropped_total Value samples "
            "not published (uplink down or behind).\n# TYPE "
            "holotwin_upstream_samples_dropped_total counter\n"
            "holotwin_upstream_samples_dropped_total %llu\n",
            m.up_connected, (unsigned long long)m.up_queued,
            (unsigned long long)m.up_forwarded,
            (unsigned long long)m.up_dropped, (unsigned long long)m.up_retries,
            (unsigned long long)m.up_disconnects,
            (unsigned long long)m.up_backlog,
            (unsigned long long)m.up_backlog_bytes,
            (unsigned long long)m.up_oversize,
            (unsigned long long)m.up_samples_sent,
            (unsigned long long)m.up_samples_dropped);
    enum MHD_Result ret = gw__reply_buf(
        r, 200, "text/plain; version=0.0.4; charset=utf-8", b.s, b.len);
    free(b.s);
    return ret;
}

/* ---- Thing Descriptions ---- */

/* Stream tickets in TDs last one to two hours: the expiry is rounded up
 * to the next hour but one, so every reader of the same TD within an hour
 * gets the same bytes (the /things cache keys on the hour). */
#define TICKET_BUCKET_S 3600

static int64_t ticket_bucket(void)
{
    return ht_time_ms() / 1000 / TICKET_BUCKET_S;
}

/* The href of an SSE form: the gateway's URL of path with its ticket. */
static json_t *sse_href(struct ht_gw *g, const char *http, const char *path,
                        int64_t bucket)
{
    char ticket[GW_TICKET_LEN];
    gw__ticket_make(g, path, (bucket + 2) * TICKET_BUCKET_S, ticket);
    return json_sprintf("%s%s?access_token=%s", http, path, ticket);
}

/* An SSE form for op (observeproperty or subscribeevent). */
static json_t *sse_form(struct ht_gw *g, const char *http, const char *path,
                        bool event, int64_t bucket)
{
    return json_pack("{s:o, s:[s,s], s:s, s:s}", "href",
                     sse_href(g, http, path, bucket), "op",
                     event ? "subscribeevent" : "observeproperty",
                     event ? "unsubscribeevent" : "unobserveproperty",
                     "subprotocol", "sse", "contentType", "application/json");
}

/* What the gateway adds to the TDs it serves (devices and twins): HTTP
 * forms before MQTT ones (consumers take the first usable form), an SSE
 * observe form per observable property, whose href carries a stream
 * ticket (auth.h) because EventSource clients send no Authorization
 * header, and that ticket's security scheme, "ticket_sc". The SSE forms
 * do not name it in a form-level "security": the TD's bearer scheme is
 * accepted there too, and node-wot 0.9 applies a form's security to every
 * later request of its HTTP client (and cannot build an apikey
 * credential from it), so consumers keep the bearer scheme and the
 * ticket travels in the href. */
static void gateway_forms(struct ht_gw *g, json_t *td, bool twin,
                          const char *id, const char *http, int64_t bucket)
{
    json_object_set_new(
        json_object_get(td, "securityDefinitions"), "ticket_sc",
        json_pack("{s:s, s:s, s:s, s:s}", "scheme", "apikey", "in", "query",
                  "name", "access_token", "description",
                  "Server-Sent Event forms carry a read-only ticket for their "
                  "own path in their href (for EventSource clients, which "
                  "cannot send the bearer token); a bearer token is "
                  "accepted there too."));
    json_t *props = json_object_get(td, "properties");
    const char *name;
    json_t *p;
    json_object_foreach(props, name, p)
    {
        json_t *forms = json_object_get(p, "forms");
        if (!json_is_array(forms))
            continue;
        json_t *http_forms = json_array(), *other = json_array();
        size_t i;
        json_t *form;
        json_array_foreach(forms, i, form)
        {
            const char *href = json_string_value(json_object_get(form, "href"));
            json_array_append(
                href && !strncmp(href, "http", 4) ? http_forms : other, form);
        }
        if (json_is_true(json_object_get(p, "observable"))) {
            char *path = ht_asprintf("/api/v1/%s/%s/properties/%s/observe",
                                     twin ? "twins" : "devices", id, name);
            json_t *f = sse_form(g, http, path, false, bucket);
            json_array_append_new(http_forms, f);
            free(path);
        }
        json_array_extend(http_forms, other);
        json_decref(other);
        json_object_set_new(p, "forms", http_forms);
    }
}

/* The actions and events of a twin TD: acknowledging and shelving one of
 * its alarms (the REST alarm commands: operator role, audited) and the
 * twin's alarm and stability events as SSE streams. */
static void twin_affordances(struct ht_gw *g, json_t *td, const char *id,
                             const char *http, int64_t bucket)
{
    struct ht_twin_model *m = gw__twin_model(g, id);
    if (!m)
        return;
    json_t *rules = json_array();
    for (size_t i = 0; i < m->nrules; i++)
        if (m->rules[i].alarm)
            json_array_append_new(rules, json_string(m->rules[i].id));
    ht_twin_model_free(m);
    if (json_array_size(rules)) {
        json_t *uv = json_pack("{s:{s:s, s:s, s:O}}", "rule", "title",
                               "Alarm rule", "type", "string", "enum", rules);
        json_t *ack = json_pack(
            "{s:s, s:s, s:O, s:{s:s, s:{s:{s:s, s:i}}}, s:{s:s}, s:b, s:b, "
            "s:[{s:o, s:s, s:s, s:s}]}",
            "title", "Acknowledge an alarm", "description",
            "Acknowledge the alarm of the rule in the URI variable (ISA-18.2); "
            "an optional note goes into the audit trail.",
            "uriVariables", uv, "input", "type", "object", "properties", "note",
            "type", "string", "maxLength", 256, "output", "type", "object",
            "safe", false, "idempotent", false, "forms", "href",
            json_sprintf("%s/api/v1/alarms/%s:{rule}/ack", http, id), "op",
            "invokeaction", "htv:methodName", "POST", "contentType",
            "application/json");
        json_t *shelve = json_pack(
            "{s:s, s:s, s:O, s:{s:s, s:{s:{s:s, s:i, s:i}, s:{s:s, s:i}}, "
            "s:[s]}, s:{s:s}, s:b, s:b, s:[{s:o, s:s, s:s, s:s}]}",
            "title", "Shelve an alarm", "description",
            "Shelve the alarm of the rule in the URI variable for duration_ms.",
            "uriVariables", uv, "input", "type", "object", "properties",
            "duration_ms", "type", "integer", "minimum", 1, "maximum", 86400000,
            "note", "type", "string", "maxLength", 256, "required",
            "duration_ms", "output", "type", "object", "safe", false,
            "idempotent", false, "forms", "href",
            json_sprintf("%s/api/v1/alarms/%s:{rule}/shelve", http, id), "op",
            "invokeaction", "htv:methodName", "POST", "contentType",
            "application/json");
        json_decref(uv);
        json_object_set_new(td, "actions",
                            json_pack("{s:o, s:o}", "acknowledge_alarm", ack,
                                      "shelve_alarm", shelve));
    }
    json_decref(rules);
    static const char *const ev[][3] = {
        {"alarm_raised", "Alarm raised",
         "A rule's condition became true: {twin, ts, rule, severity, message, "
         "stable}."},
        {"alarm_cleared", "Alarm cleared",
         "A rule's condition became false: {twin, ts, rule, severity, "
         "message, stable}."},
        {"stable_changed", "Stability changed",
         "The twin became stable or unstable: {twin, ts, stable}."},
    };
    json_t *events = json_object();
    for (size_t i = 0; i < sizeof ev / sizeof *ev; i++) {
        char *path = ht_asprintf("/api/v1/twins/%s/events/%s", id, ev[i][0]);
        json_t *f = sse_form(g, http, path, true, bucket);
        json_t *data = json_pack(
            "{s:s, s:{s:{s:s}, s:{s:s}, s:{s:s}}, s:[s,s,s]}", "type", "object",
            "properties", "twin", "type", "string", "ts", "type", "integer",
            "stable", "type", "boolean", "required", "twin", "ts", "stable");
        if (i < 2) {
            json_t *pp = json_object_get(data, "properties");
            json_object_set_new(pp, "rule",
                                json_pack("{s:s}", "type", "string"));
            json_object_set_new(pp, "severity",
                                json_pack("{s:s}", "type", "string"));
            json_object_set_new(pp, "message",
                                json_pack("{s:s}", "type", "string"));
        }
        json_object_set_new(events, ev[i][0],
                            json_pack("{s:s, s:s, s:o, s:[o]}", "title",
                                      ev[i][1], "description", ev[i][2], "data",
                                      data, "forms", f));
        free(path);
    }
    json_object_set_new(td, "events", events);
}

/* A device TD whose forms point at this gateway. */
static json_t *device_td(struct ht_gw *g, const char *id, int64_t bucket)
{
    struct ht_sem_thing *t;
    if (gw__device_thing(g, id, &t) != HT_OK)
        return NULL;
    char *http = gw__http_base(g);
    bool basic;
    char *mqtt = gw__mqtt_td_base(g, &basic);
    struct ht_sem_forms f = {
        .mqtt_base = mqtt,
        .topic_prefix = g->conf->mqtt_prefix,
        .http_base = http,
        .gateway = true,
        .kind = "device",
        .security = "bearer",
        .mqtt_security = basic ? "basic" : NULL,
        .mqtt_no_commands = true,
    };
    json_t *td = ht_sem_td_build(t, &f);
    if (td)
        gateway_forms(g, td, false, id, http, bucket);
    free(http);
    free(mqtt);
    ht_sem_thing_free(t);
    return td;
}

/* A twin TD as served: the model's TD plus the gateway's forms, actions
 * and events. */
static json_t *twin_td(struct ht_gw *g, const char *id, int64_t bucket)
{
    json_t *td = gw__twin_td(g, id);
    if (!td)
        return NULL;
    char *http = gw__http_base(g);
    gateway_forms(g, td, true, id, http, bucket);
    twin_affordances(g, td, id, http, bucket);
    free(http);
    return td;
}

json_t *gw__directory_tds(struct ht_gw *g)
{
    int64_t bucket = ticket_bucket();
    json_t *out = json_array();
    json_t *ids = gw__device_ids_with_td(g);
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        json_t *td = device_td(g, json_string_value(v), bucket);
        if (td)
            json_array_append_new(out, td);
    }
    json_decref(ids);
    ids = gw__twin_ids(g);
    json_array_foreach(ids, i, v)
    {
        json_t *td = twin_td(g, json_string_value(v), bucket);
        if (td)
            json_array_append_new(out, td);
    }
    json_decref(ids);
    json_t *regs = gw__tdd_list(g);
    json_array_extend(out, regs);
    json_decref(regs);
    return out;
}

json_t *gw__served_twin_td(struct ht_gw *g, const char *id)
{
    return twin_td(g, id, ticket_bucket());
}

/* The AAS environment is built from the TDs as /things serves them, so
 * the interfaces it describes are the ones consumers use. */
enum MHD_Result gw__route_twin_aas(struct gw_req *r)
{
    struct ht_gw *g = r->g;
    int64_t bucket = ticket_bucket();
    json_t *ttd = twin_td(g, r->id, bucket);
    struct ht_twin_model *m = ttd ? gw__twin_model(g, r->id) : NULL;
    if (!m) {
        json_decref(ttd);
        return gw__reply_problem(r, 404, "Not Found", "unknown twin");
    }
    size_t n = 0;
    struct ht_sem_thing **things = gw__twin_things(g, m, &n);
    ht_twin_model_free(m);
    json_t **dtds = ht_calloc(n ? n : 1, sizeof *dtds);
    for (size_t i = 0; i < n; i++)
        dtds[i] = device_td(g, things[i]->id, bucket);
    gw__things_free(things, n);
    json_t *env = gw__aas_environment(ttd, (const json_t *const *)dtds, n,
                                      g->conf->gateway_id);
    for (size_t i = 0; i < n; i++)
        json_decref(dtds[i]);
    free(dtds);
    json_decref(ttd);
    if (!env)
        return gw__reply_problem(r, 500, "Internal error", "AAS build");
    return gw__reply_json(r, 200, env);
}

/* /things/{id}: a device id or its URN urn:holotwin:device:{id}. */
enum MHD_Result gw__route_thing(struct gw_req *r)
{
    const char *id = r->thing;
    if (!strncmp(id, "urn:holotwin:device:", 20))
        id += 20;
    else if (!strncmp(id, "urn:holotwin:twin:", 18)) {
        if (!ht_id_valid(id + 18))
            return gw__reply_problem(r, 400, "Bad Request",
                                     "expected a twin id in the URN");
        return gw__route_twin_thing(r, id + 18); /* twins.c */
    }
    if (!ht_id_valid(id)) {
        json_t *reg = gw__tdd_get(r->g, r->thing); /* a registered TD */
        if (!reg)
            return gw__reply_problem(r, 404, "Not Found", "no TD for this id");
        char *s = json_dumps(reg, JSON_COMPACT);
        json_decref(reg);
        enum MHD_Result ret =
            gw__reply_buf(r, 200, "application/td+json", s, strlen(s));
        free(s);
        return ret;
    }
    int64_t bucket = ticket_bucket();
    json_t *td = device_td(r->g, id, bucket);
    if (!td)
        td = twin_td(r->g, id, bucket); /* a bare twin id (devices win) */
    if (!td)
        td = gw__tdd_get(r->g, r->thing); /* registered by a third party */
    if (!td)
        return gw__reply_problem(r, 404, "Not Found", "no TD for this id");
    char *s = json_dumps(td, JSON_COMPACT);
    json_decref(td);
    enum MHD_Result ret =
        gw__reply_buf(r, 200, "application/td+json", s, strlen(s));
    free(s);
    return ret;
}

/* W3C Discovery: offset/limit pagination with a Link rel="next". */
enum MHD_Result gw__route_things(struct gw_req *r)
{
    long long offset = 0, limit = 100;
    const char *so = gw__query(r, "offset"), *sl = gw__query(r, "limit");
    char *end;
    if (so) {
        errno = 0;
        offset = strtoll(so, &end, 10);
        if (errno || end == so || *end || offset < 0)
            return gw__reply_problem(r, 400, "Bad Request", "bad offset");
    }
    if (sl) {
        errno = 0;
        limit = strtoll(sl, &end, 10);
        if (errno || end == sl || *end || limit < 1 || limit > 1000)
            return gw__reply_problem(r, 400, "Bad Request",
                                     "limit must be 1..1000");
    }
    /* The directory changes only with devices and twins: the same page is
     * answered from the last build until one of them changes. Generations
     * are read before building, so a change during the build is seen by
     * the next request. */
    struct ht_gw *g = r->g;
    uint64_t dgen = __atomic_load_n(&g->reg->things_gen, __ATOMIC_ACQUIRE);
    uint64_t tgen = gw__twins_gen(g);
    uint64_t rgen = gw__tdd_gen(g);
    int64_t bucket = ticket_bucket();
    pthread_mutex_lock(&g->server->things_mu);
    struct MHD_Response *cached = NULL;
    if (g->server->things_resp && g->server->things_dgen == dgen &&
        g->server->things_tgen == tgen && g->server->things_rgen == rgen &&
        g->server->things_bucket == bucket && g->server->things_off == offset &&
        g->server->things_lim == limit)
        cached = g->server->things_resp;
    enum MHD_Result ret =
        cached ? MHD_queue_response(r->conn, 200, cached) : MHD_NO;
    pthread_mutex_unlock(&g->server->things_mu);
    if (cached)
        return ret;
    json_t *ids = gw__device_ids_with_td(r->g);
    json_t *tids = gw__twin_ids(r->g); /* twins follow the devices */
    json_t *regs = gw__tdd_list(r->g); /* then registered TDs */
    size_t ndev = json_array_size(ids), ntw = json_array_size(tids);
    size_t total = ndev + ntw + json_array_size(regs);
    json_t *out = json_array();
    for (size_t i = (size_t)offset; i < total && i < (size_t)(offset + limit);
         i++) {
        json_t *td =
            i < ndev
                ? device_td(r->g, json_string_value(json_array_get(ids, i)),
                            bucket)
            : i < ndev + ntw
                ? twin_td(r->g,
                          json_string_value(json_array_get(tids, i - ndev)),
                          bucket)
                : json_incref(json_array_get(regs, i - ndev - ntw));
        if (td)
            json_array_append_new(out, td);
    }
    json_decref(ids);
    json_decref(tids);
    json_decref(regs);
    char *s = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "application/ld+json");
    if ((size_t)(offset + limit) < total) {
        char link[128];
        snprintf(link, sizeof link,
                 "</things?offset=%lld&limit=%lld>; "
                 "rel=\"next\"",
                 offset + limit, limit);
        MHD_add_response_header(resp, "Link", link);
    }
    ret = MHD_queue_response(r->conn, 200, resp);
    pthread_mutex_lock(&g->server->things_mu);
    if (g->server->things_resp)
        MHD_destroy_response(g->server->things_resp);
    g->server->things_resp = resp; /* our reference; MHD holds its own */
    g->server->things_dgen = dgen;
    g->server->things_tgen = tgen;
    g->server->things_rgen = rgen;
    g->server->things_bucket = bucket;
    g->server->things_off = offset;
    g->server->things_lim = limit;
    pthread_mutex_unlock(&g->server->things_mu);
    return ret;
}

/* One action of the directory's TD: method on href (a URI template
 * with {id} when id_var), with a TD as input when td_in. */
static json_t *dir_action(const char *http, const char *title,
                          const char *method, const char *path, bool id_var,
                          bool td_in, const char *ct, bool safe)
{
    json_t *a =
        json_pack("{s:s, s:b, s:b, s:[{s:o, s:s, s:s, s:s}]}", "title", title,
                  "safe", safe, "idempotent", safe || strcmp(method, "POST"),
                  "forms", "href", json_sprintf("%s%s", http, path), "op",
                  "invokeaction", "htv:methodName", method, "contentType", ct);
    if (id_var)
        json_object_set_new(a, "uriVariables",
                            json_pack("{s:{s:s, s:s, s:s}}", "id", "title",
                                      "Thing id", "type", "string", "format",
                                      "iri-reference"));
    if (td_in)
        json_object_set_new(a, "input",
                            json_pack("{s:s, s:s}", "description",
                                      "a W3C WoT Thing Description (TD 1.1)",
                                      "type", "object"));
    return a;
}

/* The registration and search API of W3C WoT Discovery, as the actions
 * of the directory's TD (the spec's names). */
static void directory_affordances(json_t *td, const char *http)
{
    json_t *a = json_object();
    json_object_set_new(a, "retrieveThing",
                        dir_action(http, "Retrieve a TD", "GET", "/things/{id}",
                                   true, false, "application/td+json", true));
    json_object_set_new(a, "createThing",
                        dir_action(http, "Create or replace a TD", "PUT",
                                   "/things/{id}", true, true,
                                   "application/td+json", false));
    json_object_set_new(a, "createAnonymousThing",
                        dir_action(http, "Register an anonymous TD", "POST",
                                   "/things", false, true,
                                   "application/td+json", false));
    json_object_set_new(a, "updateThing",
                        dir_action(http, "Replace a TD", "PUT", "/things/{id}",
                                   true, true, "application/td+json", false));
    json_object_set_new(a, "partiallyUpdateThing",
                        dir_action(http, "Update a TD (JSON merge patch)",
                                   "PATCH", "/things/{id}", true, true,
                                   "application/merge-patch+json", false));
    json_object_set_new(a, "deleteThing",
                        dir_action(http, "Delete a TD", "DELETE",
                                   "/things/{id}", true, false,
                                   "application/td+json", false));
    json_t *search = dir_action(http, "Search with JSONPath", "GET",
                                "/search/jsonpath?query={query}", false, false,
                                "application/json", true);
    json_object_set_new(search, "uriVariables",
                        json_pack("{s:{s:s, s:s}}", "query", "title",
                                  "A JSONPath expression", "type", "string"));
    json_object_set_new(search, "output",
                        json_pack("{s:s, s:s}", "description",
                                  "the values the query selects in the "
                                  "array of every TD",
                                  "type", "array"));
    json_object_set_new(a, "searchJSONPath", search);
    json_object_set_new(td, "actions", a);
}

/* The gateway's own TD: a Thing Description Directory. */
enum MHD_Result gw__route_wellknown(struct gw_req *r)
{
    struct ht_gw *g = r->g;
    char *http = gw__http_base(g);
    json_t *td = json_pack(
        "{s:o, s:[s], s:o, s:s, s:s, s:{s:{s:s, s:s, s:s}}, s:[s], "
        "s:{s:{s:s, s:s, s:b, s:[{s:o, s:s, s:s}]}}}",
        "@context", ht_sem_context(), "@type", "ThingDirectory", "id",
        json_sprintf("urn:holotwin:gateway:%s", g->conf->gateway_id), "title",
        "Holotwin gateway", "base", http, "securityDefinitions", "bearer_sc",
        "scheme", "bearer", "in", "header", "name", "Authorization", "security",
        "bearer_sc", "properties", "things", "title", "Things", "type", "array",
        "readOnly", true, "forms", "href", json_sprintf("%s/things", http),
        "op", "readproperty", "contentType", "application/ld+json");
    if (td)
        directory_affordances(td, http);
    free(http);
    if (!td)
        return gw__reply_problem(r, 500, "Internal error", "TD build");
    char *s = json_dumps(td, JSON_COMPACT);
    json_decref(td);
    enum MHD_Result ret =
        gw__reply_buf(r, 200, "application/td+json", s, strlen(s));
    free(s);
    return ret;
}

enum MHD_Result gw__route_openapi(struct gw_req *r)
{
    return gw__reply_buf(r, 200, "application/yaml", gw__openapi_yaml,
                         strlen(gw__openapi_yaml));
}
