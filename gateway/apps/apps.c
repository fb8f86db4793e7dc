/* apps.c - MQTT accounts for apps and their command requests (apps.h).
 *
 * Why a request topic and not the devices' cmd topics: a command from an
 * app must pass the same gate as one from a REST client (the device is
 * approved, known, writable, online; the value is checked; the audit log
 * holds it before the answer), and only the gateway may write a cmd topic
 * (docs/security.md). So the broker's ACL lets an operator account write
 * exactly one topic, its own request topic; the broker therefore vouches
 * for who sent it, and the gateway turns it into the job a PUT would have
 * made, with the account as the actor.
 */
#include "gateway/apps/apps.h"

#include "gateway/auth/auth.h"
#include "gateway/broker/provision.h"
#include "gateway/ingest/ingest.h"
#include "gateway/jobs/jobs.h"
#include "gateway/security/security.h"

#include "ht_err.h"
#include "ht_id.h"
#include "ht_log.h"
#include "ht_mem.h"
#include "ht_mqtt.h"
#include "ht_topic.h"
#include "ht_util.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MOD "apps"

/* ---- accounts (jobs from POST/DELETE /api/v1/mqtt-accounts) ---- */

/* The account's topics, for its answer: what it may read and, for an
 * operator, where it sends requests and hears answers. */
static json_t *topics(const struct ht_gw *g, const char *name, int role)
{
    char req[HT_TOPIC_MAX], rep[HT_TOPIC_MAX];
    char *read = ht_asprintf("%s/twins/#", g->conf->mqtt_prefix);
    json_t *t = json_pack("{s:s}", "read", read);
    free(read);
    if (role == GW_PROV_APP_OPERATOR &&
        ht_topic_build(req, sizeof req, g->conf->mqtt_prefix, HT_TOPIC_APP_REQ,
                       name, NULL) > 0 &&
        ht_topic_build(rep, sizeof rep, g->conf->mqtt_prefix,
                       HT_TOPIC_APP_REPLY, name, NULL) > 0) {
        json_object_set_new(t, "request", json_string(req));
        json_object_set_new(t, "reply", json_string(rep));
    }
    return t;
}

static void account_add(struct ht_gw *g, struct gw_job *j)
{
    int role = !strcmp(j->prop, "viewer")     ? GW_PROV_APP_VIEWER
               : !strcmp(j->prop, "operator") ? GW_PROV_APP_OPERATOR
                                              : GW_PROV_APP_NONE;
    json_t *body = json_pack("{s:s, s:s}", "name", j->dev, "role", j->prop);
    int rc = gw__prov_app_add(g, j->dev, role, body);
    if (rc == HT_EEXIST) {
        json_decref(body);
        gw__job_fail(g, j, 409, "exists", "Account exists",
                     "an MQTT account with this name exists");
        return;
    }
    if (rc == HT_ESTATE) {
        json_decref(body);
        gw__job_fail(g, j, 409, "no_provisioning", "No broker accounts",
                     "the gateway manages no broker accounts (external "
                     "broker or --insecure)");
        return;
    }
    if (rc) {
        json_decref(body);
        gw__job_fail(g, j, rc == HT_EINVAL ? 400 : 500, "provisioning",
                     "Account not created", ht_strerror(rc));
        return;
    }
    json_t *mqtt =
        json_pack("{s:s, s:i}", "host", g->broker_host, "port", g->broker_port);
    gw__sec_device_mqtt(g->sec, mqtt); /* TLS port and CA */
    json_object_set_new(body, "mqtt", mqtt);
    json_object_set_new(body, "topics", topics(g, j->dev, role));
    gw__job_complete(g, j, 201, body, "ok");
}

static void account_delete(struct ht_gw *g, struct gw_job *j)
{
    int rc = gw__prov_app_remove(g, j->dev);
    if (rc == HT_ENOENT || rc == HT_ESTATE)
        gw__job_fail(g, j, 404, "unknown", "Not Found", "unknown account");
    else if (rc)
        gw__job_fail(g, j, 500, "provisioning", "Account not removed",
                     ht_strerror(rc));
    else
        gw__job_complete(g, j, 204, NULL, "ok");
}

/* ---- requests ---- */

int gw__apps_parse_request(const void *payload, size_t len, int *kind, char *id,
                           char *prop, json_t **value, char *err, size_t errlen)
{
    *value = NULL;
    json_error_t je;
    json_t *r = json_loadb(payload, len, 0, &je);
    const char *dev = json_string_value(json_object_get(r, "device"));
    const char *twin = json_string_value(json_object_get(r, "twin"));
    const char *p = json_string_value(json_object_get(r, "property"));
    json_t *v = json_object_get(r, "value");
    const char *ctl = json_string_value(json_object_get(r, "control"));
    int rc = HT_EINVAL;
    if (!json_is_object(r)) {
        snprintf(err, errlen, "not a JSON object");
    } else if (json_object_get(r, "control")) {
        if (!twin || dev || p || v || !ctl ||
            (strcmp(ctl, "take") && strcmp(ctl, "release") &&
             strcmp(ctl, "request")))
            snprintf(err, errlen,
                     "expected {\"twin\": ID, \"control\": \"take\" | "
                     "\"release\" | \"request\"}");
        else if (!ht_id_valid(twin))
            snprintf(err, errlen, "not a valid twin id");
        else {
            *kind = 2;
            ht_strlcpy(id, twin, HT_ID_MAX + 1);
            ht_strlcpy(prop, ctl, 72);
            rc = HT_OK;
        }
    } else if (!v || !p || !(dev ? !twin : twin != NULL)) {
        snprintf(err, errlen,
                 "expected {\"device\"|\"twin\": ID, \"property\": NAME, "
                 "\"value\": V}");
    } else if (!ht_id_valid(dev ? dev : twin)) {
        snprintf(err, errlen, "not a valid %s id", dev ? "device" : "twin");
    } else if (dev ? !ht_name_valid(p) : (strlen(p) >= 72 || !strchr(p, '.'))) {
        snprintf(err, errlen, "not a valid property %s",
                 dev ? "name" : "reference (COMPONENT.PROPERTY)");
    } else {
        *kind = dev ? 0 : 1;
        ht_strlcpy(id, dev ? dev : twin, HT_ID_MAX + 1);
        ht_strlcpy(prop, p, 72);
        *value = json_incref(v);
        rc = HT_OK;
    }
    json_decref(r);
    return rc;
}

/* What a reply needs once the job is done: the account and the
 * request's correlation data. */
struct req_ctx {
    char name[HT_ID_MAX + 1];
    void *corr;
    uint16_t corr_len;
};

/* {"status": N, "body": the REST answer or problem} on the account's
 * reply topic, with the request's correlation data (MQTT 5). */
static void reply(struct ht_gw *g, const struct req_ctx *c, int status,
                  json_t *body /* taken, may be NULL */)
{
    char topic[HT_TOPIC_MAX];
    json_t *o = json_pack("{s:i, s:o}", "status", status, "body",
                          body ? body : json_null());
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    mosquitto_property *props = NULL;
    if (c->corr)
        mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA,
                                      c->corr, c->corr_len);
    if (ht_topic_build(topic, sizeof topic, g->conf->mqtt_prefix,
                       HT_TOPIC_APP_REPLY, c->name, NULL) > 0 &&
        ht_mqtt_publish(g->mqtt, topic, text, strlen(text), 1, false, props,
                        NULL) != HT_OK)
        ht_log(LOG_WARNING, MOD, "reply to %s not sent (broker gone)", c->name);
    mosquitto_property_free_all(&props);
    free(text);
}

static void ctx_free(struct req_ctx *c)
{
    if (c)
        free(c->corr);
    free(c);
}

/* The job (and its audit record) is done: answer the app. */
static void request_done(struct ht_gw *g, struct gw_job *j)
{
    struct req_ctx *c = j->ud;
    pthread_mutex_lock(&g->jobs->mu);
    int status = j->status;
    json_t *body = j->body;
    j->body = NULL;
    pthread_mutex_unlock(&g->jobs->mu);
    reply(g, c, status, body);
    ctx_free(c);
    j->ud = NULL;
    gw__job_unref(g, j); /* ours; the queue drops its own */
}

static void problem(struct ht_gw *g, const struct req_ctx *c, int status,
                    const char *code, const char *title, const char *detail)
{
    json_t *p = gw__problem(status, title, detail);
    json_object_set_new(p, "code", json_string(code));
    reply(g, c, status, p);
}

/* A request from account t->id: the broker let only "_operator.NAME"
 * write this topic; the account is checked again here (it may have been
 * removed or never have been an operator), then the same job as a REST
 * PUT runs with "mqtt:NAME" as the actor. */
static void on_request(struct ht_gw *g, const struct ht_topic *t,
                       const void *payload, size_t len,
                       const mosquitto_property *props)
{
    struct req_ctx *c = ht_calloc(1, sizeof *c);
    ht_strlcpy(c->name, t->id, sizeof c->name);
    c->corr = ht_mqtt_prop_correlation(props, &c->corr_len);
    int role = gw__prov_app_role(g, t->id);
    if (role != GW_PROV_APP_OPERATOR) {
        ht_log(LOG_WARNING, MOD, "request from %s refused: not an operator",
               t->id);
        problem(g, c, 403, "forbidden", "Forbidden",
                "this account may not send commands");
        ctx_free(c);
        return;
    }
    char id[HT_ID_MAX + 1], prop[72], err[160];
    int kind;
    json_t *value;
    if (gw__apps_parse_request(payload, len, &kind, id, prop, &value, err,
                               sizeof err) != HT_OK) {
        problem(g, c, 400, "bad_request", "Bad Request", err);
        ctx_free(c);
        return;
    }
    char actor[96];
    snprintf(actor, sizeof actor, "mqtt:%s", t->id);
    struct gw_job *j;
    if (kind == 2) { /* control: the same jobs as REST's .../control */
        j = gw__job_new(strcmp(prop, "release") ? GW_JOB_CONTROL_TAKE
                                                : GW_JOB_CONTROL_RELEASE,
                        id, actor);
        j->request = !strcmp(prop, "request");
    } else {
        j = gw__job_new(kind ? GW_JOB_TWIN_WRITE : GW_JOB_WRITE, id, actor);
        if (kind)
            ht_strlcpy(j->ref, prop, sizeof j->ref);
        else
            ht_strlcpy(j->prop, prop, sizeof j->prop);
    }
    j->role = GW_ROLE_OPERATOR; /* what the account's name says */
    j->value = value;
    j->on_complete = request_done;
    j->ud = c;
    if (gw__jobs_queue(g, &j, 1) != HT_OK) {
        problem(g, c, 503, "stopping", "Service Unavailable",
                "the gateway is stopping");
        j->ud = NULL;
        ctx_free(c);
        gw__job_unref(g, j);
    }
}

int gw__apps_init(struct ht_gw *g)
{
    gw__jobs_handle(g, GW_JOB_ACCOUNT_ADD, account_add);
    gw__jobs_handle(g, GW_JOB_ACCOUNT_DELETE, account_delete);
    gw__ingest_route(g, HT_TOPIC_APP_REQ, on_request);
    return HT_OK;
}
