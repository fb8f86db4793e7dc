/* ingest.c - MQTT in: subscriptions, dispatch by topic, and the TD, status
 * and value messages of devices. A message is parsed once; a value becomes
 * one struct gw_value handed to the registry, the store, the SSE log and
 * the subscribers (see deliver). The registry is written only here and in
 * commands.c, on the loop thread.
 */
#include "gateway/broker/provision.h"
#include "gateway/ingest/ingest_internal.h"
#include "gateway/metrics/metrics.h"
#include "gateway/sse/sse.h"
#include "gateway/store/store.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_loop.h"
#include "ht_mem.h"
#include "ht_mqtt.h"
#include "ht_topic.h"
#include "ht_util.h"

#include <assert.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ingest__emit_device(struct ht_gw *g, struct gw_dev *d, const char *change)
{
    pthread_mutex_lock(&g->reg->mu);
    json_t *o = gw__dev_json(d, false);
    pthread_mutex_unlock(&g->reg->mu);
    json_object_set_new(o, "change", json_string(change));
    gw__sse_emit(g, "device", d->id, NULL, NULL, NULL, o);
}

void gw__ingest_mdns_seen(struct ht_gw *g, const char *id)
{
    if (!ht_id_valid(id))
        return;
    struct gw_dev *d = gw__dev_find(g, id);
    if (d)
        return;
    d = gw__dev_add(g, id, GW_DISCOVERED);
    d->mdns_seen = true;
    ht_log(LOG_INFO, INGEST_MOD, "device %s discovered over mDNS", id);
    gw__dev_persist(g, d);
    ingest__emit_device(g, d, "discovered");
}

/* ---- ingest ---- */

/* Seen but not yet known: discovered, until a technician registers
 * (pending) or approves it -- unless approval is automatic. */
static enum gw_state initial_state(struct ht_gw *g)
{
    return g->conf->auto_approve ? GW_APPROVED : GW_DISCOVERED;
}

/* Empty payload: the agent deregistered. Devices nobody registered
 * vanish; registered, approved or blocked ones keep their record (and
 * blocked stays blocked). */
static void on_deregister(struct ht_gw *g, struct gw_dev *d)
{
    if (d->state == GW_DISCOVERED) {
        char id[65];
        ht_strlcpy(id, d->id, sizeof id);
        ht_store_device_delete(g->store, id);
        ingest__emit_device(g, d, "removed");
        gw__dev_remove(g, id);
        ht_log(LOG_INFO, INGEST_MOD, "device %s deregistered and removed", id);
        return;
    }
    pthread_mutex_lock(&g->reg->mu);
    d->online = false;
    pthread_mutex_unlock(&g->reg->mu);
    gw__dev_persist(g, d);
    ingest__emit_device(g, d, "deregistered");
}

static void ingest_td(struct ht_gw *g, const char *id, const char *payload,
                      size_t len)
{
    struct gw_dev *d = gw__dev_find(g, id);
    if (len == 0) {
        if (d)
            on_deregister(g, d);
        return;
    }
    json_t *td = NULL;
    char err[256];
    struct ht_sem_thing *thing = NULL;
    if (ingest__td_parse(id, payload, len, &td, &thing, err, sizeof err)) {
        ht_log(LOG_WARNING, INGEST_MOD, "TD of %s rejected: %s", id, err);
        goto bad;
    }
    bool added = !d;
    if (!d)
        d = gw__dev_add(g, id, initial_state(g));
    else if (d->state == GW_DISCOVERED && g->conf->auto_approve) {
        pthread_mutex_lock(&g->reg->mu);
        d->state = GW_APPROVED;
        pthread_mutex_unlock(&g->reg->mu);
    }
    if (d->state == GW_BLOCKED) {
        ht_log(LOG_DEBUG, INGEST_MOD, "TD of blocked device %s ignored", id);
        goto out;
    }
    int version = d->td_version;
    int rc = ht_store_td_add(g->store, id, td, thing, gw__now_ms(g), &version);
    if (rc) {
        ht_log(LOG_ERR, INGEST_MOD, "cannot store the TD of %s: %s", id,
               ht_strerror(rc));
        goto out;
    }
    bool changed = version != d->td_version || !d->thing;
    pthread_mutex_lock(&g->reg->mu);
    free(d->title);
    d->title = thing->title ? ht_strdup(thing->title) : NULL;
    ht_sem_thing_free(d->thing);
    d->thing = thing;
    thing = NULL;
    d->td_version = version;
    d->last_seen = gw__now_ms(g);
    pthread_mutex_unlock(&g->reg->mu);
    gw__dev_persist(g, d);
    if (added || changed) {
        ht_log(LOG_INFO, INGEST_MOD, "device %s: TD version %d (%s)", id,
               version, gw__state_name(d->state));
        ingest__emit_device(g, d, added ? "added" : "td");
        if (d->state == GW_APPROVED)
            ingest__notify_td(g, id, d->thing);
    }
    goto out;
bad:
    pthread_mutex_lock(&g->metrics->mu);
    g->metrics->mqtt_bad++;
    pthread_mutex_unlock(&g->metrics->mu);
out:
    ht_sem_thing_free(thing);
    json_decref(td);
}

static void ingest_status(struct ht_gw *g, const char *id, const char *payload,
                          size_t len)
{
    struct gw_dev *d = gw__dev_find(g, id);
    if (!d || len == 0 || d->state == GW_BLOCKED)
        return; /* status alone never creates a device: the TD does */
    bool online;
    if (ingest__status_parse(payload, len, &online)) {
        ht_log(LOG_WARNING, INGEST_MOD, "bad status from %s", id);
        return;
    }
    const char *s = online ? "online" : "offline";
    if (online == d->online)
        return;
    pthread_mutex_lock(&g->reg->mu);
    d->online = online;
    d->last_seen = gw__now_ms(g);
    pthread_mutex_unlock(&g->reg->mu);
    /* Back online, its values predate the outage until the board
     * republishes them (it sends a snapshot on every connect). */
    gw__dev_values_quality(g, d, online ? "stale" : "offline");
    gw__dev_persist(g, d);
    /* The quality of its values at any instant, for time travel. */
    ht_store_presence_add(g->store, id, online, d->last_seen);
    ht_log(LOG_INFO, INGEST_MOD, "device %s is %s", id, s);
    ingest__emit_device(g, d, "status");
    if (d->state == GW_APPROVED)
        for (size_t k = 0; k < g->ingest->nsubs; k++)
            if (g->ingest->subs[k]->on_status)
                g->ingest->subs[k]->on_status(g, id, online);
}

/* The subscribers hear values of approved devices only. */
static void notify_value(struct ht_gw *g, const struct gw_dev *d,
                         const struct gw_value *val)
{
    if (d->state != GW_APPROVED)
        return;
    for (size_t k = 0; k < g->ingest->nsubs; k++)
        if (g->ingest->subs[k]->on_value)
            g->ingest->subs[k]->on_value(g, val);
}

/* One value to everyone who needs it, in this order: the registry (so a
 * read sees it), the store's journal, the SSE log (its frame is built
 * once here), then the subscribers of approved devices. */
static void deliver(struct ht_gw *g, struct gw_dev *d,
                    const struct gw_value *val, int64_t now)
{
    gw__dev_value_set(g, d, val->prop, val->v, val->ts, val->seq, now);
    ht_store_value_add(g->store, val->dev, val->prop, val->v, val->text,
                       val->ts, val->seq);
    gw__sse_value(g, val->dev, val->prop, val->text, val->ts, val->seq);
    notify_value(g, d, val);
}

/* The latest value again (a board's snapshot after a reconnect or a sync
 * request, a QoS 1 redelivery): no history row, no second sample; the
 * value is confirmed (quality good again, an SSE state event if that
 * changed it) and the twins hear it, which clears a stale input. */
static void confirm(struct ht_gw *g, struct gw_dev *d,
                    const struct gw_value *val, int64_t now)
{
    if (gw__dev_value_confirm(g, d, val->prop, now)) {
        gw__sse_value(g, val->dev, val->prop, val->text, val->ts, val->seq);
        /* Good again with no value row: the past must know it. */
        ht_store_quality_add(g->store, val->dev, val->prop, true, now);
    }
    notify_value(g, d, val);
}

static void ingest_value(struct ht_gw *g, const char *id, const char *name,
                         const char *payload, size_t len)
{
    struct gw_dev *d = gw__dev_find(g, id);
    if (!d || d->state == GW_BLOCKED)
        return;
    if (!ht_sem_name_valid(name))
        return;
    struct ingest_board *b = ingest__board(g, id);
    if (!ingest__rate_take(g, b))
        return; /* before parsing: a flood costs little */
    const struct ht_sem_prop *p =
        d->thing ? ht_sem_thing_prop(d->thing, name) : NULL;
    if (d->thing && !p) {
        ht_log(LOG_DEBUG, INGEST_MOD, "%s: value of unknown property %s", id,
               name);
        return;
    }
    int64_t now = gw__now_ms(g);
    struct ingest_value_msg m;
    if (ingest__value_parse(payload, len, now, &m)) {
        ht_log(LOG_WARNING, INGEST_MOD, "bad value from %s/%s", id, name);
        return;
    }
    if (ingest__value_check(g, b, p, &m, now) != HT_OK) {
        ingest__value_msg_clear(&m);
        return;
    }
    struct gw_value val = {.dev = id,
                           .prop = name,
                           .v = m.v,
                           .text = m.text,
                           .ts = m.ts,
                           .seq = m.seq};
    switch (gw__dev_value_order(d, name, m.ts, m.seq)) {
    case GW_VALUE_NEW:
        deliver(g, d, &val, now);
        if (p && p->max_interval_ms)
            ingest__fresh_seen(g, d, p, now);
        break;
    case GW_VALUE_REPEAT:
        confirm(g, d, &val, now);
        if (p && p->max_interval_ms)
            ingest__fresh_seen(g, d, p, now);
        break;
    case GW_VALUE_OLD:
        ht_log(LOG_DEBUG, INGEST_MOD,
               "%s/%s: ts %" PRId64 " seq %" PRId64 " is older than the "
               "latest value: dropped",
               id, name, m.ts, m.seq);
        break;
    }
    ingest__value_msg_clear(&m);
}

/* ---- MQTT ---- */

static void on_connect(void *ud, int rc, bool session_present)
{
    struct ht_gw *g = ud;
    if (rc)
        return;
    static const enum ht_topic_kind subs[] = {
        HT_TOPIC_DEV_TD, HT_TOPIC_DEV_STATUS, HT_TOPIC_DEV_PROP,
        HT_TOPIC_DEV_ACK};
    size_t nr = g->ingest->nroutes;
    g->ingest->subs_pending = 5 + (int)nr;
    for (size_t i = 0; i < 4 + nr; i++) {
        char f[HT_TOPIC_MAX];
        enum ht_topic_kind k = i < 4 ? subs[i] : g->ingest->routes[i - 4].kind;
        if (ht_topic_filter(f, sizeof f, g->conf->mqtt_prefix, k, NULL) < 0 ||
            ht_mqtt_subscribe(g->mqtt, f, 1) != HT_OK)
            g->ingest->subs_pending--;
    }
    if (ht_mqtt_subscribe(g->mqtt, g->ingest->ack_topic, 1) != HT_OK)
        g->ingest->subs_pending--;
    g->ingest->subs_pending += (int)g->ingest->nraw;
    for (size_t i = 0; i < g->ingest->nraw; i++)
        if (ht_mqtt_subscribe(g->mqtt, g->ingest->raw[i].topic, 1) != HT_OK)
            g->ingest->subs_pending--;
    ht_log(LOG_INFO, INGEST_MOD, "subscribed (session %s)",
           session_present ? "resumed" : "new");
    /* Ask every board for a snapshot: whatever happened while we were
     * away (a restart, a broker that lost its store, a session whose queue
     * overflowed), every value is confirmed or corrected within a round
     * trip. After the SUBSCRIBEs on the same connection, so the broker has
     * them in place before any board answers. */
    char sync[HT_TOPIC_MAX], body[48];
    snprintf(body, sizeof body, "{\"ts\":%" PRId64 "}", gw__now_ms(g));
    if (ht_topic_build(sync, sizeof sync, g->conf->mqtt_prefix, HT_TOPIC_SYNC,
                       NULL, NULL) > 0)
        ht_mqtt_publish(g->mqtt, sync, body, strlen(body), 1, false, NULL,
                        NULL);
}

/* Each SUBACK brings the gateway closer to ready: until all are in, values
 * that agents publish may not reach it (a new session has no queue yet). */
static void on_subscribe(void *ud, int mid, int granted_qos)
{
    (void)mid;
    struct ht_gw *g = ud;
    if (granted_qos >= 128)
        ht_log(LOG_ERR, INGEST_MOD, "the broker refused a subscription (%d)",
               granted_qos);
    else if (g->ingest->subs_pending > 0)
        g->ingest->subs_pending--;
}

/* Topic: PREFIX/devices/ID/(td|status|props/NAME|ack), or the legacy
 * shared ack topic; split by the topic contract (ht_topic), which also
 * refuses ids and names that are not valid. */
static void on_message(void *ud, const struct mosquitto_message *msg,
                       const mosquitto_property *props)
{
    struct ht_gw *g = ud;
    pthread_mutex_lock(&g->metrics->mu);
    g->metrics->mqtt_in++;
    pthread_mutex_unlock(&g->metrics->mu);
    size_t len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    if (!strcmp(msg->topic, g->ingest->ack_topic)) {
        if (ingest__size_ok(g, NULL, len))
            ingest__ack(g, NULL, msg->payload, len, props);
        return;
    }
    for (size_t i = 0; i < g->ingest->nraw; i++) {
        bool match = false;
        if (mosquitto_topic_matches_sub(g->ingest->raw[i].topic, msg->topic,
                                        &match) == MOSQ_ERR_SUCCESS &&
            match) {
            g->ingest->raw[i].fn(g, msg->topic, msg->payload, len);
            return;
        }
    }
    struct ht_topic t;
    if (ht_topic_parse(msg->topic, g->conf->mqtt_prefix, &t) != HT_OK) {
        ht_log(LOG_WARNING, INGEST_MOD,
               "message for an invalid device id or name dropped");
        return;
    }
    /* Oversize: dropped before the payload is read, counted for a known
     * board (the broker itself does not limit it: the gateway's own
     * retained descriptors may be larger). */
    if (len > (size_t)g->conf->mqtt_max_payload) {
        bool dev = t.kind == HT_TOPIC_DEV_TD || t.kind == HT_TOPIC_DEV_STATUS ||
                   t.kind == HT_TOPIC_DEV_PROP || t.kind == HT_TOPIC_DEV_ACK;
        ingest__size_ok(
            g, dev && gw__dev_find(g, t.id) ? ingest__board(g, t.id) : NULL,
            len);
        return;
    }
    uint64_t *ctr = NULL;
    switch (t.kind) {
    case HT_TOPIC_DEV_TD:
        ctr = &g->metrics->mqtt_in_td;
        ingest_td(g, t.id, msg->payload, len);
        break;
    case HT_TOPIC_DEV_STATUS:
        ctr = &g->metrics->mqtt_in_status;
        ingest_status(g, t.id, msg->payload, len);
        break;
    case HT_TOPIC_DEV_PROP:
        ctr = &g->metrics->mqtt_in_props;
        ingest_value(g, t.id, t.name, msg->payload, len);
        break;
    case HT_TOPIC_DEV_ACK:
        ingest__ack(g, t.id, msg->payload, len, props);
        break;
    default:
        /* Another module's (gw__ingest_route), else the gateway's own
         * topics (commands, twins, sync). */
        for (size_t i = 0; i < g->ingest->nroutes; i++)
            if (g->ingest->routes[i].kind == t.kind)
                g->ingest->routes[i].fn(g, &t, msg->payload, len, props);
        break;
    }
    if (ctr) {
        pthread_mutex_lock(&g->metrics->mu);
        (*ctr)++;
        pthread_mutex_unlock(&g->metrics->mu);
    }
}

/* ---- timers ---- */

static void on_flush(struct ht_timer *t, void *ud)
{
    (void)t;
    struct ht_gw *g = ud;
    /* last_seen of the devices heard from since the last tick, journaled
     * like values (the store's writer commits them with the next batch),
     * not once per value. */
    for (size_t i = 0; i < g->reg->ndevs; i++) {
        struct gw_dev *d = g->reg->devs[i];
        if (d->dirty &&
            ht_store_seen_add(g->store, d->id, d->last_seen) == HT_OK)
            d->dirty = false;
    }
}

static void on_retention(struct ht_timer *t, void *ud)
{
    (void)t;
    struct ht_gw *g = ud;
    int64_t n = 0;
    ht_store_retention(g->store, gw__now_ms(g), &n);
    if (n)
        ht_log(LOG_INFO, INGEST_MOD,
               "retention removed %" PRId64 " history rows", n);
}

static void on_ping(struct ht_timer *t, void *ud)
{
    (void)t;
    gw__clock_sync(ud);
    gw__sse_ping(ud);
    /* Bursts (registrations, broker reconnects) leave freed heap pages
     * behind that glibc does not return by itself. */
    malloc_trim(0);
}

/* ---- load and lifecycle ---- */

/* Store callbacks run under the store's lock, so rows are collected first
 * and TDs read afterwards. */
struct rows {
    struct ht_store_device *v;
    size_t n, cap;
};

static void collect_device(void *ud, const struct ht_store_device *r)
{
    struct rows *rs = ud;
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 16;
        rs->v = ht_realloc(rs->v, rs->cap * sizeof *rs->v);
    }
    rs->v[rs->n++] = *r;
}

static void load_device(struct ht_gw *g, const struct ht_store_device *r)
{
    enum gw_state st = GW_PENDING;
    gw__state_parse(r->state, &st);
    struct gw_dev *d = gw__dev_add(g, r->id, st);
    d->title = r->title[0] ? ht_strdup(r->title) : NULL;
    d->online = false; /* until its retained status arrives again */
    d->last_seen = r->last_seen;
    d->created = r->created;
}

/* Start-up: the newest TD of every device, parsed on two threads (JSON
 * parsing is most of a large start-up, and nothing else runs yet). */
struct td_load {
    struct gw_dev **dev;
    char **text;
    int *version;
    struct ht_sem_thing **thing;
    size_t n, cap;
};

static void load_td(void *ud, const char *id, const char *td, int version)
{
    struct ht_gw *g = ((void **)ud)[0];
    struct td_load *l = ((void **)ud)[1];
    struct gw_dev *d = gw__dev_find(g, id);
    if (!d)
        return;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->dev = ht_realloc(l->dev, l->cap * sizeof *l->dev);
        l->text = ht_realloc(l->text, l->cap * sizeof *l->text);
        l->version = ht_realloc(l->version, l->cap * sizeof *l->version);
        l->thing = ht_realloc(l->thing, l->cap * sizeof *l->thing);
    }
    l->dev[l->n] = d;
    l->text[l->n] = ht_strdup(td);
    l->version[l->n] = version;
    l->thing[l->n] = NULL;
    l->n++;
}

struct td_part {
    struct td_load *l;
    size_t from, to;
};

static void *parse_tds(void *arg)
{
    struct td_part *p = arg;
    for (size_t i = p->from; i < p->to; i++) {
        json_t *td = json_loads(p->l->text[i], 0, NULL);
        char err[256];
        if (td)
            ht_sem_td_parse(td, &p->l->thing[i], err, sizeof err);
        json_decref(td);
        free(p->l->text[i]);
        p->l->text[i] = NULL;
    }
    return NULL;
}

static int load_tds(struct ht_gw *g)
{
    struct td_load l = {0};
    void *ud[2] = {g, &l};
    int rc = ht_store_td_latest_each(g->store, load_td, ud);
    struct td_part a = {&l, 0, l.n / 2}, b = {&l, l.n / 2, l.n};
    pthread_t t;
    bool two = l.n > 64 && pthread_create(&t, NULL, parse_tds, &b) == 0;
    parse_tds(&a);
    if (two)
        pthread_join(t, NULL);
    else
        parse_tds(&b);
    for (size_t i = 0; i < l.n; i++)
        if (l.thing[i]) {
            ht_sem_thing_free(l.dev[i]->thing);
            l.dev[i]->thing = l.thing[i];
            l.dev[i]->td_version = l.version[i];
        }
    free(l.dev);
    free(l.text);
    free(l.version);
    free(l.thing);
    return rc;
}

static void load_value(void *ud, const char *id, const char *name,
                       const json_t *v, int64_t ts, int64_t seq)
{
    struct ht_gw *g = ud;
    struct gw_dev *d = gw__dev_find(g, id);
    if (d)
        json_object_set_new(d->values, name,
                            json_pack("{s:O, s:I, s:I, s:s}", "v", (json_t *)v,
                                      "ts", (json_int_t)ts, "seq",
                                      (json_int_t)seq, "quality", "offline"));
}

int gw__ingest_init(struct ht_gw *g, char *err, size_t errlen)
{
    g->ingest = ht_calloc(1, sizeof *g->ingest);
    struct rows rs = {0};
    int rc = ht_store_device_each(g->store, collect_device, &rs);
    for (size_t i = 0; rc == HT_OK && i < rs.n; i++)
        load_device(g, &rs.v[i]);
    free(rs.v);
    if (rc == HT_OK)
        rc = load_tds(g);
    if (rc == HT_OK)
        rc = ht_store_latest_each(g->store, load_value, g);
    if (rc) {
        snprintf(err, errlen, "cannot load devices: %s", ht_strerror(rc));
        return rc;
    }
    rc = ht_topic_build(g->ingest->ack_topic, sizeof g->ingest->ack_topic,
                        g->conf->mqtt_prefix, HT_TOPIC_GW_ACK,
                        g->conf->gateway_id, NULL);
    if (rc < 0) {
        snprintf(err, errlen, "mqtt.prefix: no valid topics under it");
        return rc;
    }
    struct ht_mqtt_opts o = {
        .host = g->broker_host,
        .port = g->broker_port,
        .client_id = g->conf->mqtt_client_id,
        .username = gw__prov_user(g), /* provisioned, else configured */
        .password = gw__prov_password(g),
        /* External broker over TLS (embedded: plain loopback listener). */
        .cafile = g->conf->broker ? g->conf->mqtt_cafile : NULL,
        .certfile = g->conf->broker ? g->conf->mqtt_certfile : NULL,
        .keyfile = g->conf->broker ? g->conf->mqtt_keyfile : NULL,
        .clean_start = false,
        .session_expiry = (uint32_t)g->conf->mqtt_session_expiry,
        .backoff_min_ms = 100,
        .backoff_max_ms = 5000,
        /* Every board's QoS 1 values come in over this one connection: with
         * libmosquitto's 20 in flight the broker waits for our PUBACKs every
         * 20 messages (ingest at QoS 1 bounded by round trips, not work). */
        .receive_maximum = 1000,
    };
    struct ht_mqtt_cbs cbs = {
        .on_connect = on_connect,
        .on_message = on_message,
        .on_subscribe = on_subscribe,
    };
    rc = ht_mqtt_new(g->loop, &o, &cbs, g, &g->mqtt);
    if (rc) {
        snprintf(err, errlen, "MQTT client: %s", ht_strerror(rc));
        return rc;
    }
    /* Correlation ids must not repeat across restarts: agents cache recent
     * ids to drop duplicates, and would answer a reused one from cache. */
    g->ingest->next_corr = (uint64_t)ht_time_ms() << 16;
    ingest__commands_init(g);
    ingest__check_init(g);
    g->ingest->flush_timer = ht_timer_new(g->loop, on_flush, g);
    g->ingest->retention_timer = ht_timer_new(g->loop, on_retention, g);
    g->ingest->ping_timer = ht_timer_new(g->loop, on_ping, g);
    ingest__fresh_init(g);
    return HT_OK;
}

int gw__ingest_start(struct ht_gw *g)
{
    ht_timer_start(g->ingest->flush_timer, (uint64_t)g->conf->history_flush_ms,
                   (uint64_t)g->conf->history_flush_ms);
    ht_timer_start(g->ingest->retention_timer, 60000, 3600000);
    ht_timer_start(g->ingest->ping_timer, 15000, 15000);
    return ht_mqtt_start(g->mqtt);
}

/* Answer everything still waiting with 503 so no connection stays
 * suspended when the HTTP daemon stops. */
void gw__ingest_stop(struct ht_gw *g)
{
    gw__jobs_close(g);
    while (g->ingest->pending) {
        struct gw_job *j = g->ingest->pending;
        g->ingest->pending = j->pnext;
        gw__job_fail(g, j, 503, "shutting_down", "Gateway stopping",
                     "the gateway is shutting down");
    }
    if (g->mqtt)
        ht_mqtt_stop(g->mqtt);
    ht_timer_stop(g->ingest->flush_timer);
    ht_timer_stop(g->ingest->retention_timer);
    ht_timer_stop(g->ingest->ping_timer);
    ht_timer_stop(g->ingest->fresh_timer);
    on_flush(NULL, g);
    /* Every audit record committed, every job answered: no connection may
     * stay suspended when the HTTP daemon stops. */
    ht_store_flush(g->store, NULL);
    gw__jobs_finish_done(g);
}

void gw__ingest_clear(struct ht_gw *g)
{
    struct gw_ingest *in = g->ingest;
    if (!in)
        return;
    ht_mqtt_free(g->mqtt);
    g->mqtt = NULL;
    ht_timer_free(in->flush_timer);
    ht_timer_free(in->retention_timer);
    ht_timer_free(in->ping_timer);
    ingest__fresh_clear(g);
    ingest__check_clear(g);
    free(in);
    g->ingest = NULL;
}

void gw__ingest_subscribe(struct ht_gw *g, const struct gw_ingest_sub *s)
{
    assert(g->ingest->nsubs < INGEST_MAX_SUBS);
    g->ingest->subs[g->ingest->nsubs++] = s;
}

void gw__ingest_route(struct ht_gw *g, enum ht_topic_kind kind,
                      gw_ingest_topic_fn fn)
{
    assert(g->ingest->nroutes < INGEST_MAX_SUBS);
    g->ingest->routes[g->ingest->nroutes].kind = kind;
    g->ingest->routes[g->ingest->nroutes++].fn = fn;
}

int gw__ingest_route_raw(struct ht_gw *g, const char *filter,
                         gw_ingest_raw_fn fn)
{
    assert(g->ingest->nraw < INGEST_MAX_SUBS);
    if (!filter || strlen(filter) >= sizeof g->ingest->raw[0].topic ||
        mosquitto_sub_topic_check(filter) != MOSQ_ERR_SUCCESS)
        return HT_EINVAL;
    ht_strlcpy(g->ingest->raw[g->ingest->nraw].topic, filter,
               sizeof g->ingest->raw[0].topic);
    g->ingest->raw[g->ingest->nraw++].fn = fn;
    return HT_OK;
}

bool gw__ingest_mqtt_ready(const struct ht_gw *g)
{
    return g->mqtt && ht_mqtt_connected(g->mqtt) && g->ingest &&
           g->ingest->subs_pending == 0;
}

void ingest__notify_td(struct ht_gw *g, const char *dev,
                       const struct ht_sem_thing *thing)
{
    for (size_t k = 0; k < g->ingest->nsubs; k++)
        if (g->ingest->subs[k]->on_td)
            g->ingest->subs[k]->on_td(g, dev, thing);
}

void ingest__notify_removed(struct ht_gw *g, const char *dev)
{
    for (size_t k = 0; k < g->ingest->nsubs; k++)
        if (g->ingest->subs[k]->on_removed)
            g->ingest->subs[k]->on_removed(g, dev);
}
