/* agent.c - the agent core: MQTT registration (retained TD and status with
 * a Will), property values with a per-device sequence number, the offline
 * ring, and commands with MQTT 5 request/response acks.
 *
 * The broker connection comes and goes; everything the agent emits while it
 * is away waits in a bounded ring and is flushed in order on reconnect, so a
 * consumer sees a gap-free "seq" unless the ring overflowed (then "dropped"
 * in the status says how many were lost).
 */
#include "agent_internal.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Commands larger than this are refused before parsing. */
#define CMD_MAX_PAYLOAD 4096

/* ---- offline ring ---- */

static void ring_push(struct ht_agent *a, size_t idx, uint64_t seq,
                      const char *topic, char *payload, size_t len)
{
    if (a->ring_count == a->ring_size) {
        struct ring_entry *old = &a->ring[a->ring_head];
        free(old->topic);
        free(old->payload);
        a->ring_head = (a->ring_head + 1) % a->ring_size;
        a->ring_count--;
        a->dropped++;
    }
    struct ring_entry *e =
        &a->ring[(a->ring_head + a->ring_count) % a->ring_size];
    e->topic = ht_strdup(topic);
    e->payload = payload;
    e->len = len;
    e->idx = idx;
    e->seq = seq;
    a->ring_count++;
}

/* The latest value of property idx reached the broker on this
 * connection when seq is its latest. */
static void mark_sent(struct ht_agent *a, size_t idx, uint64_t seq)
{
    if (a->last[idx].seq == seq)
        a->last[idx].sent_conn = a->conn_no;
}

/* Publish queued values oldest first; stop at the first failure and keep
 * the rest for the next connection. */
static void ring_flush(struct ht_agent *a)
{
    while (a->ring_count && a->mqtt && ht_mqtt_connected(a->mqtt)) {
        struct ring_entry *e = &a->ring[a->ring_head];
        if (ht_mqtt_publish(a->mqtt, e->topic, e->payload, e->len,
                            a->conf->value_qos, false, NULL, NULL) != HT_OK)
            break;
        mark_sent(a, e->idx, e->seq);
        free(e->topic);
        free(e->payload);
        a->ring_head = (a->ring_head + 1) % a->ring_size;
        a->ring_count--;
    }
}

/* The value topic of property name (valid: checked by the config). */
static void prop_topic(const struct ht_agent *a, const char *name,
                       char topic[HT_TOPIC_MAX])
{
    ht_topic_build(topic, HT_TOPIC_MAX, a->conf->prefix, HT_TOPIC_DEV_PROP,
                   a->conf->id, name);
}

/* A capability's value to publish (the caps set's publish callback):
 * numbered, remembered for snapshots, then published, or queued while the
 * broker is away. */
static void emit(void *ud, const struct cap *cap, const json_t *v,
                 int64_t ts_ms)
{
    struct ht_agent *a = ud;
    const char *name = cap->c->name;
    uint64_t seq = ++a->seq;
    if (a->emit_cb)
        a->emit_cb(a->emit_ud, name, v, ts_ms, seq);
    json_t *msg = json_pack("{s:O, s:I, s:I}", "v", (json_t *)v, "ts",
                            (json_int_t)ts_ms, "seq", (json_int_t)seq);
    char *payload = json_dumps(msg, JSON_COMPACT | JSON_REAL_PRECISION(12));
    json_decref(msg);
    char topic[HT_TOPIC_MAX];
    prop_topic(a, name, topic);
    size_t len = strlen(payload);
    struct prop_last *last = &a->last[cap->idx];
    free(last->payload);
    last->payload = ht_strdup(payload);
    last->seq = seq;
    last->sent_conn = 0;
    bool up = a->mqtt && ht_mqtt_connected(a->mqtt);
    if (up && a->ring_count == 0 &&
        ht_mqtt_publish(a->mqtt, topic, payload, len, a->conf->value_qos, false,
                        NULL, NULL) == HT_OK) {
        last->sent_conn = a->conn_no;
        free(payload);
    } else {
        /* Behind older queued values: keep the order. */
        ring_push(a, cap->idx, seq, topic, payload, len);
        if (up)
            ring_flush(a);
    }
}

/* ---- snapshots ---- */

/* Republish the latest value of every property exactly as it was first
 * published (same ts and seq), so a receiver that lost its state (a
 * restarted gateway, a reconnect) learns every value without mistaking it
 * for a new sample. A property never sampled is sampled first. With full
 * false (a reconnect) a property whose latest value already went out on
 * this connection, from the offline ring, is not sent twice. */
static void snapshot(struct ht_agent *a, bool full)
{
    ring_flush(a);
    if (!a->mqtt || !ht_mqtt_connected(a->mqtt) || a->ring_count) {
        ht_log(LOG_INFO, "agent", "snapshot deferred: broker not ready");
        return;
    }
    size_t sent = 0;
    for (size_t i = 0; i < caps__count(a->caps); i++) {
        struct cap *cap = caps__at(a->caps, i);
        struct prop_last *last = &a->last[i];
        bool fresh = !last->payload;
        if (fresh)
            caps__sample(cap);
        if (!last->payload)
            continue;
        if (last->sent_conn == a->conn_no && (fresh || !full))
            continue;
        char topic[HT_TOPIC_MAX];
        prop_topic(a, cap->c->name, topic);
        int rc = ht_mqtt_publish(a->mqtt, topic, last->payload,
                                 strlen(last->payload), a->conf->value_qos,
                                 false, NULL, NULL);
        if (rc != HT_OK) {
            ht_log(LOG_WARNING, "agent", "snapshot incomplete: %s",
                   ht_strerror(rc));
            return;
        }
        last->sent_conn = a->conn_no;
        sent++;
    }
    ht_log(LOG_INFO, "agent", "snapshot: %zu values republished", sent);
}

/* Sync requests and connects only mark a snapshot as due; it runs once in
 * the next loop iteration, however many requests arrived in this one. */
static void on_snapshot(struct ht_timer *t, void *ud)
{
    (void)t;
    struct ht_agent *a = ud;
    bool full = a->snap_full;
    a->snap_due = a->snap_full = false;
    if (!a->shutting_down)
        snapshot(a, full);
}

static void snapshot_due(struct ht_agent *a, bool full)
{
    a->snap_full = a->snap_full || full;
    if (!a->snap_due) {
        a->snap_due = true;
        ht_timer_start(a->snap_tm, 0, 0);
    }
}

/* ---- status and TD ---- */

static char *status_payload(const struct ht_agent *a, bool online)
{
    json_t *s = json_pack("{s:s, s:I}", "state", online ? "online" : "offline",
                          "ts", (json_int_t)ht_time_ms());
    if (online && a->dropped)
        json_object_set_new(s, "dropped", json_integer((json_int_t)a->dropped));
    char *p = json_dumps(s, JSON_COMPACT | JSON_REAL_PRECISION(12));
    json_decref(s);
    return p;
}

static void publish_registration(struct ht_agent *a)
{
    int rc = ht_mqtt_publish(a->mqtt, a->topic_td, a->td_text,
                             strlen(a->td_text), 1, true, NULL, NULL);
    char *st = status_payload(a, true);
    if (rc == HT_OK)
        rc = ht_mqtt_publish(a->mqtt, a->topic_status, st, strlen(st), 1, true,
                             NULL, NULL);
    free(st);
    if (rc == HT_OK)
        rc = ht_mqtt_subscribe(a->mqtt, a->topic_cmd, 1);
    if (rc == HT_OK)
        rc = ht_mqtt_subscribe(a->mqtt, a->topic_sync, 1);
    if (rc == HT_OK)
        rc = ht_mqtt_subscribe(a->mqtt, a->topic_sync_all, 1);
    if (rc != HT_OK)
        ht_log(LOG_WARNING, "agent", "registration incomplete: %s",
               ht_strerror(rc));
}

/* Build the TD for the current broker and HTTP endpoint. */
static void rebuild_td(struct ht_agent *a)
{
    char *mqtt_base = NULL, *td_href = NULL;
    if (a->broker_host)
        mqtt_base = ht_asprintf("mqtt://%s:%d", a->broker_host, a->broker_port);
    int port = a->http ? agent__http_port(a->http) : 0;
    if (port) {
        const char *bind = a->conf->http_bind;
        char host[256] = "127.0.0.1";
        if (bind && strcmp(bind, "0.0.0.0") && strcmp(bind, "::"))
            ht_strlcpy(host, bind, sizeof host);
        else if (gethostname(host, sizeof host - 8) == 0 && !strchr(host, '.'))
            strcat(host, ".local");
        td_href = ht_asprintf("http://%s:%d/.well-known/wot", host, port);
    }
    struct ht_sem_forms f = {
        .mqtt_base = mqtt_base,
        .topic_prefix = a->conf->prefix,
        .http_td_href = td_href,
        .kind = "device",
        .security = a->conf->username ? "basic" : "nosec",
    };
    json_decref(a->td);
    a->td = ht_sem_td_build(a->thing, &f);
    free(a->td_text);
    a->td_text = json_dumps(a->td, JSON_COMPACT | JSON_REAL_PRECISION(12));
    free(mqtt_base);
    free(td_href);
}

/* ---- commands ---- */

static json_t *ack_error(const char *code, const char *msg)
{
    return json_pack("{s:b, s:{s:s, s:s}}", "ok", 0, "error", "code", code,
                     "message", msg);
}

static struct corr_entry *corr_find(struct ht_agent *a, const void *corr,
                                    size_t len)
{
    for (size_t i = 0; i < AGENT_CORR_CACHE; i++) {
        struct corr_entry *e = &a->corr[i];
        if (e->corr && e->len == len && !memcmp(e->corr, corr, len))
            return e;
    }
    return NULL;
}

static void corr_remember(struct ht_agent *a, const void *corr, size_t len,
                          const json_t *ack)
{
    struct corr_entry *e = &a->corr[a->corr_next];
    a->corr_next = (a->corr_next + 1) % AGENT_CORR_CACHE;
    free(e->corr);
    free(e->ack);
    e->corr = ht_malloc(len ? len : 1);
    memcpy(e->corr, corr, len);
    e->len = len;
    e->ack = json_dumps(ack, JSON_COMPACT | JSON_REAL_PRECISION(12));
}

/* Check and apply value v to cap; the ack (new). */
static json_t *apply(struct cap *cap, const json_t *v)
{
    char msg[200];
    enum ht_sem_check chk = ht_sem_value_check(cap->prop, v, msg, sizeof msg);
    if (chk != HT_SEM_OK)
        return ack_error(ht_sem_check_code(chk), msg);
    const char *code = "hw_error";
    json_t *out = caps__write(cap, v, &code, msg, sizeof msg);
    if (!out)
        return ack_error(code, msg);
    return json_pack("{s:b, s:o, s:I}", "ok", 1, "v", out, "ts",
                     (json_int_t)ht_time_ms());
}

/* The optional "id" and "deadline" of a command object; an ack (new) when
 * either is malformed, else NULL. */
static json_t *cmd_meta(const json_t *doc, const char **id, int64_t *deadline)
{
    const json_t *jid = json_object_get(doc, "id");
    const json_t *jdl = json_object_get(doc, "deadline");
    if (jid &&
        !(json_is_string(jid) && ht_agent_cmd_id_valid(json_string_value(jid))))
        return ack_error("bad_json", "\"id\" must be 1-64 of [A-Za-z0-9._-]");
    if (jdl && !(json_is_number(jdl) && json_number_value(jdl) >= 0 &&
                 json_number_value(jdl) < 9e15))
        return ack_error("bad_json", "\"deadline\" must be milliseconds "
                                     "since the epoch");
    *id = jid ? json_string_value(jid) : NULL;
    *deadline = jdl ? (int64_t)json_number_value(jdl) : -1;
    return NULL;
}

/* One command: a repeated id gets its first ack back, a command past its
 * deadline is refused with "expired", anything else is checked and
 * applied. The deadline is checked here, just before applying, because
 * that is the last moment the board can still keep its promise. */
static json_t *command(struct ht_agent *a, const char *name,
                       const void *payload, size_t len)
{
    struct cap *cap = caps__find(a->caps, name);
    if (!cap)
        return ack_error("unknown", "no such property");
    if (len > CMD_MAX_PAYLOAD)
        return ack_error("bad_json", "payload too large");
    json_error_t je;
    json_t *doc = json_loadb(
        payload, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
        &je);
    if (!doc) {
        char msg[200];
        snprintf(msg, sizeof msg, "malformed JSON: %s", je.text);
        return ack_error("bad_json", msg);
    }
    /* {"v": value} per the contract; a bare value is what WoT consumers
     * send for a writeproperty, so it is accepted too. */
    const json_t *v = doc;
    const char *id = NULL;
    int64_t deadline = -1;
    json_t *ack = NULL;
    if (json_is_object(doc)) {
        v = json_object_get(doc, "v");
        if (!v)
            ack = ack_error("bad_json", "expected {\"v\": value}");
        else
            ack = cmd_meta(doc, &id, &deadline);
    }
    const char *seen = id ? ht_agent_ids_find(a->ids, id) : NULL;
    int64_t now = ht_time_ms();
    if (ack) {
        /* malformed: answered, not remembered */
    } else if (seen) {
        ht_log(LOG_INFO, "agent",
               "%s: command %s seen before, not applied "
               "again",
               name, id);
        ack = json_loads(seen, 0, NULL);
    } else if (deadline >= 0 && now > deadline) {
        char msg[120];
        snprintf(msg, sizeof msg, "deadline passed %lld ms ago, not applied",
                 (long long)(now - deadline));
        ht_log(LOG_NOTICE, "agent", "%s: %s", name, msg);
        ack = ack_error("expired", msg);
    } else {
        ack = apply(cap, v);
    }
    if (id && !seen) {
        char *text = json_dumps(ack, JSON_COMPACT | JSON_REAL_PRECISION(12));
        ht_agent_ids_put(a->ids, id, text);
        free(text);
    }
    json_decref(doc);
    return ack;
}

json_t *ht_agent_command(struct ht_agent *a, const char *name,
                         const void *payload, size_t len, const void *corr,
                         size_t corrlen)
{
    if (corr) {
        struct corr_entry *e = corr_find(a, corr, corrlen);
        if (e) {
            ht_log(LOG_INFO, "agent",
                   "%s: repeated correlation id, not "
                   "applied again",
                   name);
            return json_loads(e->ack, 0, NULL);
        }
    }
    json_t *ack = command(a, name, payload, len);
    if (corr)
        corr_remember(a, corr, corrlen, ack);
    return ack;
}

/* ---- MQTT callbacks ---- */

static void on_connect(void *ud, int rc, bool session_present)
{
    (void)session_present;
    struct ht_agent *a = ud;
    if (rc != 0)
        return;
    a->conn_no++;
    publish_registration(a);
    if (a->dropped > a->dropped_reported) {
        ht_log(LOG_WARNING, "agent",
               "offline ring overflowed: %llu values dropped",
               (unsigned long long)(a->dropped - a->dropped_reported));
        a->dropped_reported = a->dropped;
    }
    ring_flush(a);
    snapshot_due(a, false);
}

static void on_message(void *ud, const struct mosquitto_message *msg,
                       const mosquitto_property *props)
{
    struct ht_agent *a = ud;
    struct ht_topic tp;
    ht_topic_parse(msg->topic, a->conf->prefix, &tp);
    if (tp.kind == HT_TOPIC_SYNC ||
        (tp.kind == HT_TOPIC_DEV_SYNC && !strcmp(tp.id, a->conf->id))) {
        snapshot_due(a, true);
        return;
    }
    /* A command level that is no valid name still gets its "unknown" ack:
     * the sender is waiting for one. */
    size_t plen = strlen(a->topic_cmd) - 1; /* without the '+' */
    if (strncmp(msg->topic, a->topic_cmd, plen))
        return;
    const char *name = msg->topic + plen;
    uint16_t clen = 0;
    void *corr = ht_mqtt_prop_correlation(props, &clen);
    char *resp = ht_mqtt_prop_response_topic(props);
    json_t *ack = ht_agent_command(
        a, name, msg->payload ? (const void *)msg->payload : (const void *)"",
        msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0, corr, clen);
    if (resp && !strpbrk(resp, "+#")) {
        char *text = json_dumps(ack, JSON_COMPACT | JSON_REAL_PRECISION(12));
        mosquitto_property *out = NULL;
        if (corr)
            mosquitto_property_add_binary(&out, MQTT_PROP_CORRELATION_DATA,
                                          corr, clen);
        ht_mqtt_publish(a->mqtt, resp, text, strlen(text), 1, false, out, NULL);
        mosquitto_property_free_all(&out);
        free(text);
    }
    json_decref(ack);
    free(resp);
    free(corr);
}

static int mqtt_start(struct ht_agent *a, char *err, size_t errlen)
{
    char *will = ht_asprintf("{\"state\":\"offline\",\"ts\":%lld}",
                             (long long)ht_time_ms());
    char *cid = ht_asprintf("ht-agent-%s", a->conf->id);
    struct ht_mqtt_opts o = {
        .host = a->broker_host,
        .port = a->broker_port,
        .client_id = cid,
        .username = a->conf->username,
        .password = a->conf->password,
        .keepalive = a->conf->keepalive,
        .clean_start = true,
        .will_topic = a->topic_status,
        .will_payload = will,
        .will_qos = 1,
        .will_retain = true,
        .cafile = a->conf->cafile,
        .ca_pem = a->conf->ca_pem,
        .certfile = a->conf->certfile,
        .keyfile = a->conf->keyfile,
        /* A board is back within ~2 s of its broker (the library's 30 s
         * cap made it 10 s and more); jitter spreads a cell's boards. */
        .backoff_max_ms = (unsigned)a->conf->reconnect_max_ms,
    };
    struct ht_mqtt_cbs cbs = {.on_connect = on_connect,
                              .on_message = on_message};
    int rc = ht_mqtt_new(a->loop, &o, &cbs, a, &a->mqtt);
    free(will);
    free(cid);
    if (rc != HT_OK) {
        snprintf(err, errlen, "MQTT client: %s", ht_strerror(rc));
        return rc;
    }
    return ht_mqtt_start(a->mqtt);
}

void agent__broker_found(struct ht_agent *a, const char *host, int port)
{
    if (a->mqtt || a->shutting_down)
        return;
    ht_log(LOG_NOTICE, "agent", "broker found by mDNS: %s:%d", host, port);
    free(a->broker_host);
    a->broker_host = ht_strdup(host);
    a->broker_port = port;
    rebuild_td(a);
    char err[256];
    if (mqtt_start(a, err, sizeof err) != HT_OK)
        ht_log(LOG_ERR, "agent", "%s", err);
}

/* ---- lifecycle ---- */

/* Every fixed topic of the board, once; fails only for an id or prefix
 * that ht_agent_conf_check would refuse. */
static int set_topics(struct ht_agent *a)
{
    const char *p = a->conf->prefix, *id = a->conf->id;
    int rc;
    if ((rc = ht_topic_build(a->topic_td, HT_TOPIC_MAX, p, HT_TOPIC_DEV_TD, id,
                             NULL)) < 0 ||
        (rc = ht_topic_build(a->topic_status, HT_TOPIC_MAX, p,
                             HT_TOPIC_DEV_STATUS, id, NULL)) < 0 ||
        (rc = ht_topic_filter(a->topic_cmd, HT_TOPIC_MAX, p, HT_TOPIC_DEV_CMD,
                              id)) < 0 ||
        (rc = ht_topic_build(a->topic_sync, HT_TOPIC_MAX, p, HT_TOPIC_DEV_SYNC,
                             id, NULL)) < 0 ||
        (rc = ht_topic_build(a->topic_sync_all, HT_TOPIC_MAX, p, HT_TOPIC_SYNC,
                             NULL, NULL)) < 0)
        return rc;
    return HT_OK;
}

int ht_agent_new(struct ht_loop *l, const struct ht_agent_conf *conf,
                 struct ht_agent **out, char *err, size_t errlen)
{
    *out = NULL;
    int rc = ht_agent_conf_check(conf, err, errlen);
    if (rc != HT_OK)
        return rc;
    struct ht_agent *a = ht_calloc(1, sizeof *a);
    a->loop = l;
    a->conf = conf;
    a->thing = ht_agent_conf_thing(conf);
    a->ring_size = (size_t)conf->ring_size;
    a->ring = ht_calloc(a->ring_size, sizeof *a->ring);
    a->last = ht_calloc(conf->ncaps + 1, sizeof *a->last);
    a->ids = ht_agent_ids_new(AGENT_CMD_IDS);
    a->snap_tm = ht_timer_new(l, on_snapshot, a);
    rc = set_topics(a);
    if (rc != HT_OK) {
        snprintf(err, errlen, "topics for id '%s' under prefix '%.80s': %s",
                 conf->id, conf->prefix, ht_strerror(rc));
        goto fail;
    }
    if (conf->broker) {
        char host[256];
        ht_parse_hostport(conf->broker, host, sizeof host, &a->broker_port);
        a->broker_host = ht_strdup(host);
    }
    a->sim = !strcmp(conf->backend, "sim");
    for (size_t i = 0; i < conf->ncaps; i++) {
        if (conf->caps[i].sim && !a->sim) {
            snprintf(err, errlen, "%s: \"sim\": true needs the sim backend",
                     conf->caps[i].name);
            rc = HT_EINVAL;
            goto fail;
        }
    }
    if (a->sim) {
        rc = agent__sim_board_new(l, conf, &a->gpio, &a->analog, err, errlen);
        if (rc != HT_OK)
            goto fail;
    } else {
#ifdef HT_WITH_GPIOD
        rc = ht_gpio_new_gpiod(conf->chip, "holotwin-agent", &a->gpio);
        if (rc != HT_OK) {
            snprintf(err, errlen, "GPIO backend %s (%s): %s", conf->backend,
                     conf->chip, ht_strerror(rc));
            goto fail;
        }
#else
        rc = HT_EINVAL;
        snprintf(err, errlen,
                 "this build has no gpiod backend "
                 "(WITH_GPIOD=no)");
        goto fail;
#endif
    }
    rc = caps__new(l, a->gpio, a->analog, conf, a->thing, emit, a, &a->caps,
                   err, errlen);
    if (rc != HT_OK)
        goto fail;
    if (a->sim && conf->control) {
        rc = agent__ctl_new(l, a->caps, a->gpio, a->analog, conf->control,
                            &a->ctl, err, errlen);
        if (rc != HT_OK)
            goto fail;
    }
    rebuild_td(a);
    *out = a;
    return HT_OK;
fail:
    ht_agent_free(a);
    return rc;
}

int ht_agent_start(struct ht_agent *a, char *err, size_t errlen)
{
    const struct ht_agent_conf *c = a->conf;
    int port = c->http_port;
    if (port || c->mdns) {
        int rc = agent__http_new(a, c->http_bind, port, &a->http, err, errlen);
        if (rc != HT_OK)
            return rc;
    }
    bool browse = !a->broker_host && c->mdns;
    if (!a->broker_host && !c->mdns) {
        a->broker_host = ht_strdup("127.0.0.1");
        a->broker_port = 1883;
    }
    rebuild_td(a);
    if (c->mdns) {
        const char *name = c->mdns_name ? c->mdns_name : c->id;
        agent__mdns_new(a, name, a->http ? agent__http_port(a->http) : 0,
                        browse, &a->mdns);
    }
    if (!browse)
        return mqtt_start(a, err, errlen);
    ht_log(LOG_NOTICE, "agent", "no broker configured: browsing _mqtt._tcp");
    return HT_OK;
}

void ht_agent_shutdown(struct ht_agent *a)
{
    if (a->shutting_down)
        return;
    a->shutting_down = true;
    caps__stop(a->caps, true);
    if (a->mqtt && ht_mqtt_connected(a->mqtt)) {
        ring_flush(a);
        char *st = status_payload(a, false);
        ht_mqtt_publish(a->mqtt, a->topic_status, st, strlen(st), 1, true, NULL,
                        NULL);
        free(st);
    }
    if (a->mqtt)
        ht_mqtt_stop(a->mqtt);
    agent__mdns_free(a->mdns);
    a->mdns = NULL;
    ht_loop_stop(a->loop);
}

void ht_agent_free(struct ht_agent *a)
{
    if (!a)
        return;
    caps__stop(a->caps, false);
    agent__ctl_free(a->ctl);
    agent__mdns_free(a->mdns);
    agent__http_free(a->http);
    ht_mqtt_free(a->mqtt);
    caps__free(a->caps);
    ht_analog_free(a->analog);
    ht_gpio_free(a->gpio);
    for (size_t i = 0; i < a->ring_count; i++) {
        struct ring_entry *e = &a->ring[(a->ring_head + i) % a->ring_size];
        free(e->topic);
        free(e->payload);
    }
    free(a->ring);
    for (size_t i = 0; i < a->conf->ncaps; i++)
        free(a->last[i].payload);
    free(a->last);
    ht_agent_ids_free(a->ids);
    ht_timer_free(a->snap_tm);
    for (size_t i = 0; i < AGENT_CORR_CACHE; i++) {
        free(a->corr[i].corr);
        free(a->corr[i].ack);
    }
    json_decref(a->td);
    free(a->td_text);
    ht_sem_thing_free(a->thing);
    free(a->broker_host);
    free(a);
}

void ht_agent_on_emit(struct ht_agent *a, ht_agent_emit_cb cb, void *ud)
{
    a->emit_cb = cb;
    a->emit_ud = ud;
}

const json_t *ht_agent_td(const struct ht_agent *a)
{
    return a->td;
}

struct ht_gpio *ht_agent_gpio(struct ht_agent *a)
{
    return a->gpio;
}

json_t *ht_agent_value(const struct ht_agent *a, const char *name)
{
    struct cap *cap = a->caps ? caps__find(a->caps, name) : NULL;
    return cap && cap->value ? json_incref(cap->value) : NULL;
}

uint64_t ht_agent_dropped(const struct ht_agent *a)
{
    return a->dropped;
}

size_t ht_agent_queued(const struct ht_agent *a)
{
    return a->ring_count;
}

int ht_agent_http_port(const struct ht_agent *a)
{
    return a->http ? agent__http_port(a->http) : 0;
}

/* ---- --deregister ---- */

struct dereg {
    struct ht_loop *loop;
    struct ht_mqtt *mqtt;
    const char *td, *status;
    int mids[2];
    int acked;
    bool sent;
};

static void dereg_connect(void *ud, int rc, bool sp)
{
    (void)sp;
    struct dereg *d = ud;
    if (rc != 0 || d->sent)
        return;
    d->sent = true;
    ht_mqtt_publish(d->mqtt, d->td, "", 0, 1, true, NULL, &d->mids[0]);
    ht_mqtt_publish(d->mqtt, d->status, "", 0, 1, true, NULL, &d->mids[1]);
}

static void dereg_publish(void *ud, int mid, int reason)
{
    (void)reason;
    struct dereg *d = ud;
    if (mid == d->mids[0] || mid == d->mids[1])
        if (++d->acked == 2)
            ht_loop_stop(d->loop);
}

static void dereg_timeout(struct ht_timer *t, void *ud)
{
    (void)t;
    ht_loop_stop(((struct dereg *)ud)->loop);
}

int ht_agent_deregister(struct ht_loop *l, const struct ht_agent_conf *conf,
                        char *err, size_t errlen)
{
    int rc;
    if (!ht_id_valid(conf->id)) {
        snprintf(err, errlen,
                 "deregister: a valid --id (or \"id\") is "
                 "needed");
        return HT_EINVAL;
    }
    char host[256] = "127.0.0.1";
    int port = 1883;
    if (conf->broker &&
        ht_parse_hostport(conf->broker, host, sizeof host, &port) != HT_OK) {
        snprintf(err, errlen, "invalid broker '%.80s'", conf->broker);
        return HT_EINVAL;
    }
    char td[HT_TOPIC_MAX], status[HT_TOPIC_MAX];
    if (ht_topic_build(td, sizeof td, conf->prefix, HT_TOPIC_DEV_TD, conf->id,
                       NULL) < 0 ||
        ht_topic_build(status, sizeof status, conf->prefix, HT_TOPIC_DEV_STATUS,
                       conf->id, NULL) < 0) {
        snprintf(err, errlen, "deregister: invalid mqtt.prefix '%.80s'",
                 conf->prefix);
        return HT_EINVAL;
    }
    char *cid = ht_asprintf("ht-agent-%s", conf->id);
    struct dereg d = {.loop = l, .td = td, .status = status, .mids = {-1, -1}};
    struct ht_mqtt_opts o = {.host = host,
                             .port = port,
                             .client_id = cid,
                             .username = conf->username,
                             .password = conf->password,
                             .clean_start = true,
                             .cafile = conf->cafile,
                             .ca_pem = conf->ca_pem,
                             .certfile = conf->certfile,
                             .keyfile = conf->keyfile};
    struct ht_mqtt_cbs cbs = {.on_connect = dereg_connect,
                              .on_publish = dereg_publish};
    struct ht_timer *to = ht_timer_new(l, dereg_timeout, &d);
    rc = ht_mqtt_new(l, &o, &cbs, &d, &d.mqtt);
    if (rc == HT_OK) {
        ht_timer_start(to, 10000, 0);
        ht_mqtt_start(d.mqtt);
        ht_loop_run(l);
        ht_mqtt_stop(d.mqtt);
        if (d.acked < 2) {
            snprintf(err, errlen,
                     "deregister: broker %s:%d did not confirm "
                     "within 10 s",
                     host, port);
            rc = HT_ETIMEDOUT;
        }
    } else {
        snprintf(err, errlen, "deregister: MQTT client: %s", ht_strerror(rc));
    }
    ht_timer_free(to);
    ht_mqtt_free(d.mqtt);
    free(cid);
    return rc;
}
