/* commands.c - the device jobs on the loop thread: a property write goes
 * out as an MQTT 5 command with a correlation id and waits for the
 * device's ack (or times out); approve, block, delete and register change
 * the registry and the store, then answer. */
#include "gateway/broker/provision.h"
#include "gateway/ingest/ingest_internal.h"
#include "gateway/store/store.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_loop.h"
#include "ht_mem.h"
#include "ht_mqtt.h"
#include "ht_topic.h"
#include "ht_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void pending_remove(struct ht_gw *g, struct gw_job *j)
{
    for (struct gw_job **pp = &g->ingest->pending; *pp; pp = &(*pp)->pnext)
        if (*pp == j) {
            *pp = j->pnext;
            return;
        }
}

/* No ack in time: the command is answered 504. The device saw (or will
 * see) the command's deadline pass, so it refuses it; whatever it answers
 * later is recorded next to the 504 (see late_ack). */
static void cmd_timeout(struct ht_timer *t, void *ud)
{
    (void)t;
    struct gw_job *j = ud;
    struct ht_gw *g = j->gw;
    pending_remove(g, j);
    struct gw_ingest *in = g->ingest;
    struct ingest_late *l = &in->late[in->late_next++ % INGEST_LATE_MAX];
    l->corr = j->corr;
    ht_strlcpy(l->dev, j->dev, sizeof l->dev);
    ht_strlcpy(l->cmd_id, j->cmd_id, sizeof l->cmd_id);
    l->sent_ms = j->sent_ms;
    char detail[160];
    snprintf(detail, sizeof detail, "no acknowledgement from %s within %d ms",
             j->dev, g->conf->command_timeout_ms);
    gw__job_fail(g, j, 504, "timeout", "Device did not answer", detail);
}

static void job_write(struct ht_gw *g, struct gw_job *j)
{
    struct gw_dev *d = gw__dev_find(g, j->dev);
    char msg[256];
    if (!d) {
        gw__job_fail(g, j, 404, "unknown_device", "Unknown device", j->dev);
        return;
    }
    const struct ht_sem_prop *p =
        d->thing ? ht_sem_thing_prop(d->thing, j->prop) : NULL;
    if (!p) {
        snprintf(msg, sizeof msg, "%s has no property %s", j->dev, j->prop);
        gw__job_fail(g, j, 404, "unknown_property", "Unknown property", msg);
        return;
    }
    if (d->state != GW_APPROVED) {
        snprintf(msg, sizeof msg,
                 "%s is %s: only approved devices take "
                 "commands",
                 j->dev, gw__state_name(d->state));
        gw__job_fail(g, j, 403, "not_approved", "Device not approved", msg);
        return;
    }
    enum ht_sem_check c = ht_sem_value_check(p, j->value, msg, sizeof msg);
    if (c == HT_SEM_READ_ONLY) {
        gw__job_fail(g, j, 409, "read_only", "Property is read-only", msg);
        return;
    }
    if (c != HT_SEM_OK) {
        gw__job_fail(g, j, 400, ht_sem_check_code(c), "Invalid value", msg);
        return;
    }
    /* Shared control and interlocks of the twins this property is part of
     * (a twin write's sub-command passed them as the twin write). */
    json_t *problem = NULL;
    struct gw_cmd cmd = {j->dev, j->prop, j->value};
    int gst = j->gated ? 0 : gw__job_gate(g, j, NULL, &cmd, 1, &problem);
    if (gst) {
        const char *code = json_string_value(json_object_get(problem, "code"));
        gw__job_complete(g, j, gst, problem, code ? code : "refused");
        return;
    }
    if (!d->online || !ht_mqtt_connected(g->mqtt)) {
        snprintf(msg, sizeof msg, "%s",
                 !d->online ? "the device is offline"
                            : "the broker is unreachable");
        gw__job_fail(g, j, 503, "offline", "Device unavailable", msg);
        return;
    }
    /* The ack comes back under the device's own subtree, where the
     * provisioning ACLs let only that device write: an ack is trusted only
     * from the device that got the command (see ingest__ack). */
    char topic[HT_TOPIC_MAX], resp[HT_TOPIC_MAX];
    const char *pfx = g->conf->mqtt_prefix;
    if (ht_topic_build(topic, sizeof topic, pfx, HT_TOPIC_DEV_CMD, j->dev,
                       j->prop) < 0 ||
        ht_topic_build(resp, sizeof resp, pfx, HT_TOPIC_DEV_ACK, j->dev, NULL) <
            0) {
        gw__job_fail(g, j, 400, "bad_request", "Invalid command",
                     "no topic for this device and property");
        return;
    }
    /* The correlation id doubles as the command id (unique across
     * restarts: seeded from the clock): the device applies an id once, so
     * a redelivery never acts twice. The deadline is when the gateway
     * gives up (504): past it the device must not act, and a broker drops
     * the command after the same time (MQTT 5 message expiry). */
    int timeout = g->conf->command_timeout_ms;
    j->corr = ++g->ingest->next_corr;
    char corr[24];
    snprintf(corr, sizeof corr, "%016" PRIx64, j->corr);
    ht_strlcpy(j->cmd_id, corr, sizeof j->cmd_id);
    j->sent_ms = gw__now_ms(g);
    j->deadline_ms = j->sent_ms + timeout;
    json_t *body = json_pack("{s:O, s:s, s:I}", "v", j->value, "id", corr,
                             "deadline", (json_int_t)j->deadline_ms);
    char *payload = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    mosquitto_property *props = NULL;
    mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, resp);
    mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, corr,
                                  (uint16_t)strlen(corr));
    mosquitto_property_add_int32(&props, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL,
                                 (uint32_t)((timeout + 999) / 1000));
    int rc = ht_mqtt_publish(g->mqtt, topic, payload, strlen(payload), 1, false,
                             props, NULL);
    mosquitto_property_free_all(&props);
    free(payload);
    if (rc) {
        j->cmd_id[0] = '\0'; /* never sent: no command to record */
        j->sent_ms = j->deadline_ms = 0;
        gw__job_fail(g, j, 503, "offline", "Broker unavailable",
                     ht_strerror(rc));
        return;
    }
    j->gw = g;
    j->timer = ht_timer_new(g->loop, cmd_timeout, j);
    ht_timer_start(j->timer, (uint64_t)timeout, 0);
    j->pnext = g->ingest->pending;
    g->ingest->pending = j;
}

/* An ack for a command answered 504 already: the audit record of that
 * command gets it (result "ok" or the device's code, such as "expired"),
 * never silently dropped. Unknown ones (another gateway's, or older than
 * what is remembered) are logged. */
static void late_ack(struct ht_gw *g, const char *dev, uint64_t id,
                     const char *corr, const char *payload, size_t len)
{
    struct ingest_late *l = NULL;
    for (size_t i = 0; i < INGEST_LATE_MAX && !l; i++)
        if (id && g->ingest->late[i].corr == id)
            l = &g->ingest->late[i];
    if (!l || (dev && strcmp(dev, l->dev))) {
        ht_log(LOG_INFO, INGEST_MOD, "unknown ack %s dropped", corr);
        return;
    }
    json_t *a = json_loadb(payload, len, 0, NULL);
    const char *code =
        json_string_value(json_object_get(json_object_get(a, "error"), "code"));
    const char *result = json_is_true(json_object_get(a, "ok")) ? "ok"
                         : code                                 ? code
                                : "device_error";
    int64_t now = gw__now_ms(g);
    ht_log(LOG_NOTICE, INGEST_MOD,
           "late ack of command %s to %s: %s, %" PRId64 " ms after it was sent",
           l->cmd_id, l->dev, result, now - l->sent_ms);
    ht_store_audit_late_ack(g->store, l->cmd_id, result, now, now - l->sent_ms);
    l->corr = 0; /* recorded once */
    json_decref(a);
}

/* Matched to its command by correlation id, trusted only from the device
 * that got the command. */
void ingest__ack(struct ht_gw *g, const char *dev, const char *payload,
                 size_t len, const mosquitto_property *props)
{
    uint16_t clen = 0;
    char *corr = ht_mqtt_prop_correlation(props, &clen);
    if (!corr)
        return;
    char buf[24] = {0};
    memcpy(buf, corr, clen < sizeof buf - 1 ? clen : sizeof buf - 1);
    free(corr);
    uint64_t id = strtoull(buf, NULL, 16);
    struct gw_job *j = g->ingest->pending;
    while (j && j->corr != id)
        j = j->pnext;
    if (!j) {
        late_ack(g, dev, id, buf, payload, len);
        return;
    }
    if (dev && strcmp(dev, j->dev)) {
        ht_log(LOG_WARNING, INGEST_MOD, "ack %s for %s came on the topic of %s",
               buf, j->dev, dev);
        return;
    }
    pending_remove(g, j);
    json_t *a = json_loadb(payload, len, 0, NULL);
    if (json_is_true(json_object_get(a, "ok"))) {
        json_t *v = json_object_get(a, "v");
        json_t *tsj = json_object_get(a, "ts");
        json_int_t ts =
            json_is_integer(tsj) ? json_integer_value(tsj) : gw__now_ms(g);
        json_t *body = json_pack("{s:O, s:I}", "v", v ? v : j->value, "ts", ts);
        /* The device confirmed the value: a read right after the write
         * must see it, even before the device's own value message. */
        struct gw_dev *d = gw__dev_find(g, j->dev);
        if (d) {
            pthread_mutex_lock(&g->reg->mu);
            json_t *old = json_object_get(d->values, j->prop);
            json_int_t seq = json_integer_value(json_object_get(old, "seq"));
            json_object_set_new(d->values, j->prop,
                                json_pack("{s:O, s:I, s:I, s:s}", "v",
                                          v ? v : j->value, "ts", ts, "seq",
                                          seq, "quality", "good"));
            pthread_mutex_unlock(&g->reg->mu);
        }
        gw__job_complete(g, j, 200, body, "ok");
    } else {
        json_t *e = json_object_get(a, "error");
        const char *code = json_string_value(json_object_get(e, "code"));
        const char *m = json_string_value(json_object_get(e, "message"));
        if (!code)
            code = "device_error";
        int st = !strcmp(code, "read_only") ? 409
                 : !strcmp(code, "bad_type") || !strcmp(code, "out_of_range") ||
                         !strcmp(code, "bad_request")
                     ? 400
                 : !strcmp(code, "unknown_property") || !strcmp(code, "unknown")
                     ? 404
                     : 502;
        gw__job_fail(g, j, st, code, "Device refused the command",
                     m ? m : code);
    }
    json_decref(a);
}

/* Approve/block/delete/pre-register: registry + store, then the answer. */
static void job_admin(struct ht_gw *g, struct gw_job *j)
{
    struct gw_dev *d = gw__dev_find(g, j->dev);
    if (j->kind == GW_JOB_PREREG) {
        /* A device only seen over mDNS may be registered; a known one not. */
        bool seen = d && d->state == GW_DISCOVERED;
        if (d && !seen) {
            gw__job_fail(g, j, 409, "exists", "Device exists",
                         "a device with this id is already registered");
            return;
        }
        if (seen) {
            pthread_mutex_lock(&g->reg->mu);
            d->state = GW_PENDING;
            pthread_mutex_unlock(&g->reg->mu);
        } else {
            d = gw__dev_add(g, j->dev, GW_PENDING);
        }
        int prc = gw__dev_persist(g, d);
        if (prc) {
            gw__dev_remove(g, j->dev);
            gw__job_fail(g, j, gw__store_status(prc), "store",
                         gw__store_title(prc), "cannot record it");
            return;
        }
        json_t *body = json_pack("{s:s, s:s, s:{s:s, s:i}}", "id", d->id,
                                 "state", "pending", "mqtt", "host",
                                 g->broker_host, "port", g->broker_port);
        /* Provisioning: its broker account, the password shown only in
         * this answer. Without one the registration is undone. */
        if (gw__prov_device_add(g, d->id, json_object_get(body, "mqtt"))) {
            json_decref(body);
            if (seen) {
                pthread_mutex_lock(&g->reg->mu);
                d->state = GW_DISCOVERED;
                pthread_mutex_unlock(&g->reg->mu);
                gw__dev_persist(g, d);
            } else {
                ht_store_device_delete(g->store, j->dev);
                gw__dev_remove(g, j->dev);
            }
            gw__job_fail(g, j, 500, "provisioning", "Provisioning failed",
                         "cannot create the device's broker credentials");
            return;
        }
        ingest__emit_device(g, d, "added");
        gw__job_complete(g, j, 201, body, "ok");
        return;
    }
    if (!d) {
        gw__job_fail(g, j, 404, "unknown_device", "Unknown device", j->dev);
        return;
    }
    if (j->kind == GW_JOB_DELETE) {
        /* Revoke its broker account first: a device that keeps its
         * credentials is not removed. */
        int prc = gw__prov_device_remove(g, d->id);
        if (prc) {
            gw__job_fail(g, j, 500, "provisioning", "Provisioning failed",
                         ht_strerror(prc));
            return;
        }
        /* Clear the device's retained topics so it does not come back as a
         * ghost from the broker's store. */
        static const enum ht_topic_kind retained[] = {HT_TOPIC_DEV_TD,
                                                      HT_TOPIC_DEV_STATUS};
        for (int i = 0; i < 2; i++) {
            char t[HT_TOPIC_MAX];
            if (ht_topic_build(t, sizeof t, g->conf->mqtt_prefix, retained[i],
                               d->id, NULL) > 0)
                ht_mqtt_publish(g->mqtt, t, "", 0, 1, true, NULL, NULL);
        }
        int rc = ht_store_device_delete(g->store, d->id);
        if (rc && rc != HT_ENOENT) {
            gw__job_fail(g, j, gw__store_status(rc), "store",
                         gw__store_title(rc), ht_strerror(rc));
            return;
        }
        bool approved = d->state == GW_APPROVED;
        ingest__emit_device(g, d, "removed");
        if (approved)
            ingest__notify_removed(g, j->dev);
        gw__dev_remove(g, j->dev);
        ht_log(LOG_NOTICE, INGEST_MOD, "device %s removed by %s", j->dev,
               j->actor);
        gw__job_complete(g, j, 204, NULL, "ok");
        return;
    }
    enum gw_state to = j->kind == GW_JOB_APPROVE ? GW_APPROVED : GW_BLOCKED;
    enum gw_state was = d->state;
    pthread_mutex_lock(&g->reg->mu);
    d->state = to;
    pthread_mutex_unlock(&g->reg->mu);
    int prc = gw__dev_persist(g, d);
    if (prc) {
        pthread_mutex_lock(&g->reg->mu);
        d->state = was;
        pthread_mutex_unlock(&g->reg->mu);
        gw__job_fail(g, j, gw__store_status(prc), "store", gw__store_title(prc),
                     "cannot record it");
        return;
    }
    if (was != to) {
        ht_log(LOG_NOTICE, INGEST_MOD, "device %s %s by %s", d->id,
               gw__state_name(to), j->actor);
        ingest__emit_device(g, d, gw__state_name(to));
        if (to == GW_APPROVED && d->thing)
            ingest__notify_td(g, d->id, d->thing);
        if (was == GW_APPROVED)
            ingest__notify_removed(g, d->id);
    }
    pthread_mutex_lock(&g->reg->mu);
    json_t *body = gw__dev_json(d, false);
    pthread_mutex_unlock(&g->reg->mu);
    gw__job_complete(g, j, 200, body, "ok");
}

void ingest__commands_init(struct ht_gw *g)
{
    gw__jobs_handle(g, GW_JOB_WRITE, job_write);
    gw__jobs_handle(g, GW_JOB_APPROVE, job_admin);
    gw__jobs_handle(g, GW_JOB_BLOCK, job_admin);
    gw__jobs_handle(g, GW_JOB_DELETE, job_admin);
    gw__jobs_handle(g, GW_JOB_PREREG, job_admin);
}
