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

static void ring_push(struct ht_agent *a, const char *topic, char *payload,
                      size_t len)
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
    a->ring_count++;
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
        free(e->topic);
        free(e->payload);
        a->ring_head = (a->ring_head + 1) % a->ring_size;
        a->ring_count--;
    }
}

void agent__emit(struct ht_agent *a, const char *name, const json_t *v,
                 int64_t ts_ms)
{
    uint64_t seq = ++a->seq;
    if (a->emit_cb)
        a->emit_cb(a->emit_ud, name, v, ts_ms, seq);
    json_t *msg = json_pack("{s:O, s:I, s:I}", "v", (json_t *)v, "ts",
                            (json_int_t)ts_ms, "seq", (json_int_t)seq);
    char *payload = json_dumps(msg, JSON_COMPACT | JSON_REAL_PRECISION(12));
    json_decref(msg);
    char *topic = ht_asprintf("%s/%s", a->topic_props, name);
    size_t len = strlen(payload);
    bool up = a->mqtt && ht_mqtt_connected(a->mqtt);
    if (up && a->ring_count == 0 &&
        ht_mqtt_publish(a->mqtt, topic, payload, len, a->conf->value_qos,
                        false, NULL, NULL) == HT_OK) {
        free(payload);
    } else {
        /* Behind older queued values: keep the order. */
        ring_push(a, topic, payload, len);
        if (up)
            ring_flush(a);
    }
    free(topic);
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
    if (rc != HT_OK)
        ht_log(LOG_WARNING, "agent", "registration incomplete: %s",
               ht_strerror(rc));
}

/* Build the TD for the current broker and HTTP endpoint. */
static void rebuild_td(struct ht_agent *a)
{
    char *mqtt_base = NULL, *td_href = NULL;
    if (a->broker_host)
        mqtt_base = ht_asprintf("mqtt://%s:%d", a->broker_host,
                                a->broker_port);
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

static json_t *command(struct ht_agent *a, const char *name,
                       const void *payload, size_t len)
{
    struct cap *cap = agent__cap_find(a, name);
    if (!cap)
        return ack_error("unknown", "no such property");
    if (len > CMD_MAX_PAYLOAD)
        return ack_error("bad_json", "payload too large");
    json_error_t je;
    json_t *doc = json_loadb(payload, len,
                             JSON_DECODE_ANY | JSON_REJECT_DUPLICATES |
                                 JSON_ALLOW_NUL, &je);
    if (!doc) {
        char msg[200];
        snprintf(msg, sizeof msg, "malformed JSON: %s", je.text);
        return ack_error("bad_json", msg);
    }
    /* {"v": value} per the contract; a bare value is what WoT consumers
     * send for a writeproperty, so it is accepted too. */
    const json_t *v = doc;
    if (json_is_object(doc)) {
        v = json_object_get(doc, "v");
        if (!v) {
            json_decref(doc);
            return ack_error("bad_json", "expected {\"v\": value}");
        }
    }
    char msg[200];
    enum ht_sem_check chk = ht_sem_value_check(cap->prop, v, msg, sizeof msg);
    json_t *ack;
    if (chk != HT_SEM_OK) {
        ack = ack_error(ht_sem_check_code(chk), msg);
    } else {
        const char *code = "hw_error";
        json_t *out = agent__cap_write(cap, v, &code, msg, sizeof msg);
        if (out)
            ack = json_pack("{s:b, s:o, s:I}", "ok", 1, "v", out, "ts",
                            (json_int_t)ht_time_ms());
        else
            ack = ack_error(code, msg);
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
            ht_log(LOG_INFO, "agent", "%s: repeated correlation id, not "
                                      "applied again", name);
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
    publish_registration(a);
    if (a->dropped > a->dropped_reported) {
        ht_log(LOG_WARNING, "agent",
               "offline ring overflowed: %llu values dropped",
               (unsigned long long)(a->dropped - a->dropped_reported));
        a->dropped_reported = a->dropped;
    }
    ring_flush(a);
}

static void on_message(void *ud, const struct mosquitto_message *msg,
                       const mosquitto_property *props)
{
    struct ht_agent *a = ud;
    size_t plen = strlen(a->topic_cmd) - 1; /* without the '+' */
    if (strncmp(msg->topic, a->topic_cmd, plen))
        return;
    const char *name = msg->topic + plen;
    uint16_t clen = 0;
    void *corr = ht_mqtt_prop_correlation(props, &clen);
    char *resp = ht_mqtt_prop_response_topic(props);
    json_t *ack = ht_agent_command(a, name,
                                   msg->payload ? (const void *)msg->payload
                                                : (const void *)"",
                                   msg->payloadlen > 0 ? (size_t)msg->payloadlen
                                                       : 0,
                                   corr, clen);
    if (resp && !strpbrk(resp, "+#")) {
        char *text = json_dumps(ack, JSON_COMPACT | JSON_REAL_PRECISION(12));
        mosquitto_property *out = NULL;
        if (corr)
            mosquitto_property_add_binary(&out, MQTT_PROP_CORRELATION_DATA,
                                          corr, clen);
        ht_mqtt_publish(a->mqtt, resp, text, strlen(text), 1, false, out,
                        NULL);
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

static void set_topics(struct ht_agent *a)
{
    const char *p = a->conf->prefix, *id = a->conf->id;
    a->topic_td = ht_asprintf("%s/devices/%s/td", p, id);
    a->topic_status = ht_asprintf("%s/devices/%s/status", p, id);
    a->topic_cmd = ht_asprintf("%s/devices/%s/cmd/+", p, id);
    a->topic_props = ht_asprintf("%s/devices/%s/props", p, id);
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
    set_topics(a);
    if (conf->broker) {
        char host[256];
        ht_parse_hostport(conf->broker, host, sizeof host, &a->broker_port);
        a->broker_host = ht_strdup(host);
    }
    a->sim = !strcmp(conf->backend, "sim");
    if (a->sim) {
        rc = ht_gpio_new_sim((unsigned)conf->lines, &a->gpio);
    } else {
#ifdef HT_WITH_GPIOD
        rc = ht_gpio_new_gpiod(conf->chip, "holotwin-agent", &a->gpio);
#else
        rc = HT_EINVAL;
        snprintf(err, errlen, "this build has no gpiod backend "
                              "(WITH_GPIOD=no)");
        goto fail;
#endif
    }
    if (rc != HT_OK) {
        snprintf(err, errlen, "GPIO backend %s (%s): %s", conf->backend,
                 a->sim ? "sim" : conf->chip, ht_strerror(rc));
        goto fail;
    }
    a->ncaps = conf->ncaps;
    a->caps = ht_calloc(a->ncaps + 1, sizeof *a->caps);
    for (size_t i = 0; i < a->ncaps; i++) {
        a->caps[i].a = a;
        a->caps[i].c = &conf->caps[i];
        a->caps[i].prop = &a->thing->props[i];
        if (conf->caps[i].sim && !a->sim) {
            snprintf(err, errlen, "%s: \"sim\": true needs the sim backend",
                     conf->caps[i].name);
            rc = HT_EINVAL;
            goto fail;
        }
    }
    if (a->sim) {
        rc = agent__plant_new(a, conf->plant, &a->plant, err, errlen);
        if (rc != HT_OK)
            goto fail;
    }
    rc = agent__caps_start(a, err, errlen);
    if (rc != HT_OK)
        goto fail;
    if (a->sim && conf->control) {
        rc = agent__ctl_new(a, conf->control, &a->ctl, err, errlen);
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
    agent__caps_stop(a, true);
    if (a->mqtt && ht_mqtt_connected(a->mqtt)) {
        ring_flush(a);
        char *st = status_payload(a, false);
        ht_mqtt_publish(a->mqtt, a->topic_status, st, strlen(st), 1, true,
                        NULL, NULL);
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
    agent__caps_stop(a, false);
    agent__ctl_free(a->ctl);
    agent__mdns_free(a->mdns);
    agent__http_free(a->http);
    ht_mqtt_free(a->mqtt);
    agent__plant_free(a->plant);
    ht_gpio_free(a->gpio);
    for (size_t i = 0; i < a->ring_count; i++) {
        struct ring_entry *e = &a->ring[(a->ring_head + i) % a->ring_size];
        free(e->topic);
        free(e->payload);
    }
    free(a->ring);
    for (size_t i = 0; i < AGENT_CORR_CACHE; i++) {
        free(a->corr[i].corr);
        free(a->corr[i].ack);
    }
    free(a->caps);
    json_decref(a->td);
    free(a->td_text);
    ht_sem_thing_free(a->thing);
    free(a->broker_host);
    free(a->topic_td);
    free(a->topic_status);
    free(a->topic_cmd);
    free(a->topic_props);
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
    struct cap *cap = agent__cap_find((struct ht_agent *)a, name);
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
        snprintf(err, errlen, "deregister: a valid --id (or \"id\") is "
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
    char *td = ht_asprintf("%s/devices/%s/td", conf->prefix, conf->id);
    char *status = ht_asprintf("%s/devices/%s/status", conf->prefix, conf->id);
    char *cid = ht_asprintf("ht-agent-%s", conf->id);
    struct dereg d = {.loop = l, .td = td, .status = status,
                      .mids = {-1, -1}};
    struct ht_mqtt_opts o = {.host = host, .port = port, .client_id = cid,
                             .username = conf->username,
                             .password = conf->password, .clean_start = true,
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
            snprintf(err, errlen, "deregister: broker %s:%d did not confirm "
                                  "within 10 s", host, port);
            rc = HT_ETIMEDOUT;
        }
    } else {
        snprintf(err, errlen, "deregister: MQTT client: %s", ht_strerror(rc));
    }
    ht_timer_free(to);
    ht_mqtt_free(d.mqtt);
    free(td);
    free(status);
    free(cid);
    return rc;
}
