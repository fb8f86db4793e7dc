/* control.c - shared control of twins and the gate of every command.
 *
 * A holder is a token (its "name:id" actor): it takes control with POST
 * /api/v1/twins/{id}/control and keeps it while it has an open SSE stream;
 * once its last stream has been gone for control.lease_ms, the lease
 * ends. A technician may take control from a holder (?force), audited as
 * control-force, and the holder sees it (the "control" SSE event names
 * who took it). Anyone may ask the holder for it (?request): the holder
 * sees a "control" event with cause "request" naming who asks (audited as
 * control-request); nothing changes hands. Commands from anyone else on a
 * held twin, or on a twin whose model says "control": "required" while
 * nobody holds it, are refused with 423 before anything is sent.
 *
 * The same gate runs the twin engine's checks (interlock rules evaluated
 * with the commanded values substituted, permissives) without side
 * effects: a refusal is 409 naming the rule or permissive, unless a
 * technician gave ?override=REASON, which is audited as "override".
 *
 * The lease check is a timer that runs only while a twin is held: the SSE
 * streams live on the HTTP thread, and counting a holder's streams
 * (gw__sse_owned) a few times per lease is cheaper than a notice per
 * stream open and close. An MQTT app ("mqtt:NAME", control taken on its
 * request topic) is live while its retained status topic says "online":
 * the app publishes it with a Will of "offline", so the broker says when
 * its connection is gone.
 */
#include "gateway/control/control.h"
#include "gateway/auth/auth.h"
#include "gateway/ingest/ingest.h"
#include "gateway/jobs/jobs.h"
#include "gateway/sse/sse.h"
#include "gateway/store/store.h"
#include "gateway/twinglue/twinglue.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_loop.h"
#include "ht_mem.h"
#include "ht_mqtt.h"
#include "ht_topic.h"
#include "ht_util.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "control"

struct lease {
    char twin[65];
    char actor[160]; /* the holder's token: "name:id" */
    int64_t since;   /* when it took control */
    int64_t live;    /* last time it had a live stream */
    bool forced;     /* taken from another holder */
};

struct gw_control {
    pthread_mutex_t mu; /* v, n: the HTTP thread reads them */
    struct lease *v;
    size_t n, cap;
    struct ht_timer *timer; /* lease checks, while anything is held */
    struct ht_prepare *prep;
    unsigned connects;
    struct gw_job_gate gate;
    /* MQTT apps whose status topic says "online" (loop thread): an app
     * holding control keeps its lease while it is connected. */
    char (*apps)[HT_ID_MAX + 1];
    size_t napps, capapps;
};

/* Loop thread (the only writer): no lock needed to read. */
static struct lease *find(struct gw_control *c, const char *twin)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->v[i].twin, twin))
            return &c->v[i];
    return NULL;
}

/* {"name", "token"?, "since", "forced"} of a holder (new). A token's actor
 * is "name:id"; an MQTT app's "mqtt:name" has no token id. */
static json_t *holder_json(const struct lease *l)
{
    const char *colon = strrchr(l->actor, ':');
    bool app = !strncmp(l->actor, "mqtt:", 5);
    json_t *o = json_object();
    if (colon && !app) {
        json_object_set_new(o, "name",
                            json_stringn(l->actor, (size_t)(colon - l->actor)));
        json_object_set_new(o, "token", json_string(colon + 1));
    } else {
        json_object_set_new(o, "name", json_string(l->actor));
    }
    json_object_set_new(o, "since", json_integer(l->since));
    json_object_set_new(o, "forced", json_boolean(l->forced));
    return o;
}

static json_t *holder_of(struct gw_control *c, const char *twin)
{
    const struct lease *l = find(c, twin);
    return l ? holder_json(l) : json_null();
}

/* The retained twins/{id}/control topic: who holds it now. */
static void publish(struct ht_gw *g, const char *twin, const json_t *holder)
{
    char topic[HT_TOPIC_MAX];
    if (!g->mqtt || !ht_mqtt_connected(g->mqtt) ||
        ht_topic_build(topic, sizeof topic, g->conf->mqtt_prefix,
                       HT_TOPIC_TWIN_CONTROL, twin, NULL) < 0)
        return; /* republished on the next connect (on_prepare) */
    json_t *o = json_pack("{s:s, s:O}", "twin", twin, "holder", holder);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    int rc = ht_mqtt_publish(g->mqtt, topic, text, strlen(text), 1, true, NULL,
                             NULL);
    if (rc)
        ht_log(LOG_DEBUG, MOD, "publish %s: %s", topic, ht_strerror(rc));
    free(text);
}

/* Tell everyone: the "control" SSE event and the retained topic. cause is
 * take, force, release or expired; by names who did it (NULL: the
 * gateway); previous (may be NULL) is the holder it replaced. */
static void announce(struct ht_gw *g, const char *twin, const char *cause,
                     const char *by, json_t *previous)
{
    json_t *holder = holder_of(g->control, twin);
    publish(g, twin, holder);
    json_t *o =
        json_pack("{s:s, s:o, s:s, s:I}", "twin", twin, "holder", holder,
                  "cause", cause, "ts", (json_int_t)gw__now_ms(g));
    if (by)
        json_object_set_new(o, "by", json_string(by));
    if (previous)
        json_object_set_new(o, "previous", previous);
    gw__sse_emit(g, "control", NULL, NULL, twin, NULL, o);
}

static void lease_remove(struct gw_control *c, struct lease *l)
{
    pthread_mutex_lock(&c->mu);
    *l = c->v[--c->n];
    pthread_mutex_unlock(&c->mu);
}

static uint64_t check_period(const struct ht_gw *g)
{
    int p = g->conf->control_lease_ms / 4;
    return (uint64_t)(p < 25 ? 25 : p);
}

/* PREFIX/apps/NAME/status: "online" or "offline" (retained, the Will). */
static void on_app_status(struct ht_gw *g, const struct ht_topic *t,
                          const void *payload, size_t len,
                          const mosquitto_property *props)
{
    (void)props;
    struct gw_control *c = g->control;
    bool online = len == 6 && !memcmp(payload, "online", 6);
    size_t i = 0;
    while (i < c->napps && strcmp(c->apps[i], t->id))
        i++;
    if (online && i == c->napps) {
        if (c->napps == c->capapps) {
            c->capapps = c->capapps ? 2 * c->capapps : 8;
            c->apps = ht_realloc(c->apps, c->capapps * sizeof *c->apps);
        }
        ht_strlcpy(c->apps[c->napps++], t->id, sizeof *c->apps);
    } else if (!online && i < c->napps) {
        memcpy(c->apps[i], c->apps[--c->napps], sizeof *c->apps);
    }
}

/* True when actor is an MQTT app ("mqtt:NAME") that is online. */
static bool app_online(const struct gw_control *c, const char *actor)
{
    if (strncmp(actor, "mqtt:", 5))
        return false;
    for (size_t i = 0; i < c->napps; i++)
        if (!strcmp(c->apps[i], actor + 5))
            return true;
    return false;
}

/* A holder whose last live stream (or, for an app, its MQTT connection)
 * has been gone for the lease loses control; the expiry is audited (actor
 * "gateway"). */
static void on_timer(struct ht_timer *t, void *ud)
{
    (void)t;
    struct ht_gw *g = ud;
    struct gw_control *c = g->control;
    int64_t now = gw__now_ms(g);
    for (size_t i = 0; i < c->n;) {
        struct lease *l = &c->v[i];
        if (gw__sse_owned(g, l->actor) > 0 || app_online(c, l->actor))
            l->live = now;
        if (now - l->live < g->conf->control_lease_ms) {
            i++;
            continue;
        }
        char twin[65], target[80];
        ht_strlcpy(twin, l->twin, sizeof twin);
        snprintf(target, sizeof target, "twin:%s", twin);
        json_t *prev = holder_json(l);
        char *val = json_dumps(prev, JSON_COMPACT);
        struct ht_store_audit a = {.ts = now,
                                   .actor = "gateway",
                                   .action = "control-expire",
                                   .target = target,
                                   .value = val,
                                   .result = "ok"};
        int rc = ht_store_audit_add(g->store, &a);
        if (rc)
            ht_log(LOG_ERR, MOD, "audit of the expiry on %s: %s", twin,
                   ht_strerror(rc));
        free(val);
        ht_log(LOG_NOTICE, MOD, "control of %s by %s expired (no live stream)",
               twin, l->actor);
        lease_remove(c, l);
        announce(g, twin, "expired", NULL, prev);
    }
    if (!c->n)
        ht_timer_stop(c->timer);
    else
        gw__sse_ping(g); /* a write is how a dropped stream is noticed */
}

static void on_prepare(struct ht_prepare *p, void *ud)
{
    (void)p;
    struct ht_gw *g = ud;
    struct gw_control *c = g->control;
    if (!g->mqtt || !ht_mqtt_connected(g->mqtt))
        return;
    unsigned n = ht_mqtt_connects(g->mqtt);
    if (n == c->connects)
        return;
    c->connects = n;
    for (size_t i = 0; i < c->n; i++) {
        json_t *h = holder_json(&c->v[i]);
        publish(g, c->v[i].twin, h);
        json_decref(h);
    }
}

/* 423 naming the holder (or saying that control is required). */
static int refuse_held(const struct lease *l, const char *twin,
                       json_t **problem)
{
    char d[320];
    if (l) {
        json_t *h = holder_json(l);
        snprintf(d, sizeof d, "twin %s is controlled by %s", twin,
                 json_string_value(json_object_get(h, "name")));
        *problem = gw__problem(423, "Controlled by someone else", d);
        json_object_set_new(*problem, "code", json_string("held"));
        json_object_set_new(*problem, "holder", h);
    } else {
        snprintf(d, sizeof d,
                 "twin %s takes commands only from its control holder: "
                 "take control first (POST /api/v1/twins/%s/control)",
                 twin, twin);
        *problem = gw__problem(423, "Control required", d);
        json_object_set_new(*problem, "code", json_string("control_required"));
        json_object_set_new(*problem, "holder", json_null());
    }
    json_object_set_new(*problem, "twin", json_string(twin));
    return 423;
}

/* ---- jobs (loop thread) ---- */

/* A request for control of a twin l holds for someone else: nothing
 * changes hands; the holder (and everyone) gets a "control" event with
 * cause "request" naming who asks, and the request is audited. */
static void job_request(struct ht_gw *g, struct gw_job *j,
                        const struct lease *l)
{
    json_t *holder = holder_json(l);
    const char *colon = strrchr(j->actor, ':');
    bool app = !strncmp(j->actor, "mqtt:", 5);
    json_t *who = colon && !app
                      ? json_stringn(j->actor, (size_t)(colon - j->actor))
                      : json_string(j->actor);
    j->action = "control-request";
    j->value = json_pack("{s:O}", "holder", json_object_get(holder, "name"));
    ht_log(LOG_NOTICE, MOD, "%s asks %s for control of %s", j->actor, l->actor,
           j->dev);
    json_t *o = json_pack("{s:s, s:o, s:s, s:I, s:s, s:{s:o}}", "twin", j->dev,
                          "holder", holder, "cause", "request", "ts",
                          (json_int_t)gw__now_ms(g), "by", j->actor,
                          "requester", "name", who);
    gw__sse_emit(g, "control", NULL, NULL, j->dev, NULL, o);
    gw__job_complete(g, j, 202, gw__control_get(g, j->dev), "ok");
}

static void job_take(struct ht_gw *g, struct gw_job *j)
{
    struct gw_control *c = g->control;
    snprintf(j->target, sizeof j->target, "twin:%s", j->dev);
    if (!ht_twin_engine_model(g->twins->eng, j->dev)) {
        gw__job_fail(g, j, 404, "unknown_twin", "Unknown twin", j->dev);
        return;
    }
    struct lease *l = find(c, j->dev);
    json_t *prev = NULL;
    if (l && strcmp(l->actor, j->actor)) {
        json_t *p;
        if (j->request && !j->force) {
            job_request(g, j, l);
            return;
        }
        if (!j->force) {
            int st = refuse_held(l, j->dev, &p);
            gw__job_complete(g, j, st, p, "held");
            return;
        }
        if (j->role < GW_ROLE_TECHNICIAN) {
            gw__job_fail(g, j, 403, "forbidden", "Forbidden",
                         "taking control from its holder (force) needs the "
                         "technician role");
            return;
        }
        prev = holder_json(l);
        char *pv = json_dumps(prev, JSON_COMPACT);
        j->value = json_pack("{s:s}", "previous", pv);
        free(pv);
    }
    int64_t now = gw__now_ms(g);
    pthread_mutex_lock(&c->mu);
    if (!l) {
        if (c->n == c->cap) {
            c->cap = c->cap ? 2 * c->cap : 8;
            c->v = ht_realloc(c->v, c->cap * sizeof *c->v);
        }
        l = &c->v[c->n++];
        memset(l, 0, sizeof *l);
        ht_strlcpy(l->twin, j->dev, sizeof l->twin);
    }
    if (prev || strcmp(l->actor, j->actor)) {
        ht_strlcpy(l->actor, j->actor, sizeof l->actor);
        l->since = now;
    }
    l->forced = prev != NULL;
    l->live = now;
    pthread_mutex_unlock(&c->mu);
    if (!ht_timer_active(c->timer))
        ht_timer_start(c->timer, check_period(g), check_period(g));
    j->action = prev ? "control-force" : "control-take";
    ht_log(LOG_NOTICE, MOD, "%s takes control of %s%s", j->actor, j->dev,
           prev ? " (forced)" : "");
    announce(g, j->dev, prev ? "force" : "take", j->actor, prev);
    gw__job_complete(g, j, 200, gw__control_get(g, j->dev), "ok");
}

static void job_release(struct ht_gw *g, struct gw_job *j)
{
    struct gw_control *c = g->control;
    snprintf(j->target, sizeof j->target, "twin:%s", j->dev);
    struct lease *l = find(c, j->dev);
    if (!l) {
        gw__job_complete(g, j, 204, NULL, "ok");
        return;
    }
    bool other = strcmp(l->actor, j->actor) != 0;
    if (other && !(j->force && j->role >= GW_ROLE_TECHNICIAN)) {
        json_t *p;
        int st = refuse_held(l, j->dev, &p);
        gw__job_complete(g, j, st, p, "held");
        return;
    }
    json_t *prev = holder_json(l);
    lease_remove(c, l);
    if (other)
        j->action = "control-force-release";
    ht_log(LOG_NOTICE, MOD, "%s releases control of %s", j->actor, j->dev);
    announce(g, j->dev, "release", j->actor, prev);
    gw__job_complete(g, j, 204, NULL, "ok");
}

static void control_job(struct ht_gw *g, struct gw_job *j)
{
    if (j->kind == GW_JOB_CONTROL_TAKE)
        job_take(g, j);
    else
        job_release(g, j);
}

/* ---- the gate (loop thread) ---- */

static bool binds(const struct ht_twin_model *m, const struct gw_cmd *cmds,
                  size_t n)
{
    for (size_t c = 0; c < m->ncomps; c++)
        for (size_t p = 0; p < m->comps[c].nprops; p++)
            for (size_t i = 0; i < n; i++)
                if (!strcmp(m->comps[c].props[p].device, cmds[i].dev) &&
                    !strcmp(m->comps[c].props[p].device_prop, cmds[i].prop))
                    return true;
    return false;
}

/* A technician's override of an interlock or a permissive: its own audit
 * record, next to the command's. */
static void audit_override(struct ht_gw *g, const struct gw_job *j,
                           const char *twin, const struct ht_twin_refusal *rf)
{
    char target[160];
    snprintf(target, sizeof target, "twin:%s%s%s", twin, j->ref[0] ? "/" : "",
             j->ref[0] ? j->ref : j->prop);
    json_t *o = json_pack("{s:s, s:s, s:s}", "reason", j->reason,
                          rf->kind == HT_TWIN_REFUSE_INTERLOCK ? "interlock"
                                                               : "permissive",
                          rf->id, "message", rf->message);
    char *val = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    struct ht_store_audit a = {.ts = gw__now_ms(g),
                               .actor = j->actor,
                               .action = "override",
                               .target = target,
                               .value = val,
                               .result = "ok"};
    int rc = ht_store_audit_add(g->store, &a);
    if (rc)
        ht_log(LOG_ERR, MOD, "audit of an override: %s", ht_strerror(rc));
    ht_log(LOG_WARNING, MOD, "%s overrides %s %s of %s: %s", j->actor,
           rf->kind == HT_TWIN_REFUSE_INTERLOCK ? "interlock" : "permissive",
           rf->id, twin, j->reason);
    free(val);
}

static int check_twin(struct ht_gw *g, const struct gw_job *j, const char *twin,
                      const struct gw_cmd *cmds, size_t n, bool direct,
                      json_t **problem)
{
    const struct ht_twin_model *m = ht_twin_engine_model(g->twins->eng, twin);
    if (!m || (direct && !binds(m, cmds, n)))
        return 0;
    const struct lease *l = find(g->control, twin);
    if ((l && strcmp(l->actor, j->actor)) || (!l && m->control_required))
        return refuse_held(l, twin, problem);
    struct ht_twin_write w[HT_TWIN_MAX_TARGETS];
    size_t nw = n < HT_TWIN_MAX_TARGETS ? n : HT_TWIN_MAX_TARGETS;
    for (size_t i = 0; i < nw; i++)
        w[i] = (struct ht_twin_write){(char *)cmds[i].dev, (char *)cmds[i].prop,
                                      (json_t *)cmds[i].value};
    struct ht_twin_refusal rf;
    if (ht_twin_engine_check_write(g->twins->eng, twin, w, nw, &rf) ||
        rf.kind == HT_TWIN_REFUSE_NONE)
        return 0;
    if (j->reason[0] && j->role >= GW_ROLE_TECHNICIAN) {
        audit_override(g, j, twin, &rf);
        return 0;
    }
    bool il = rf.kind == HT_TWIN_REFUSE_INTERLOCK;
    char d[400];
    snprintf(d, sizeof d, "%s %s of twin %s: %s%s",
             il ? "interlock" : "permissive", rf.id, twin, rf.message,
             j->reason[0] ? " (an override needs the technician role)" : "");
    int st = j->reason[0] ? 403 : 409;
    *problem = gw__problem(
        st, il ? "Refused by an interlock" : "Permissive does not hold", d);
    json_object_set_new(*problem, "code",
                        json_string(il ? "interlock" : "permissive"));
    json_object_set_new(*problem, il ? "rule" : "permissive",
                        json_string(rf.id));
    json_object_set_new(*problem, "twin", json_string(twin));
    return st;
}

static int gate(struct ht_gw *g, const struct gw_job *j, const char *twin,
                const struct gw_cmd *cmds, size_t n, json_t **problem, void *ud)
{
    (void)ud;
    if (!g->twins || !n)
        return 0;
    if (twin)
        return check_twin(g, j, twin, cmds, n, false, problem);
    /* A device's own property: every twin it is part of has its say. */
    json_t *ids = ht_twin_engine_device_twins(g->twins->eng, cmds[0].dev);
    int st = 0;
    for (size_t i = 0; i < json_array_size(ids) && !st; i++)
        st = check_twin(g, j, json_string_value(json_array_get(ids, i)), cmds,
                        n, true, problem);
    json_decref(ids);
    return st;
}

/* ---- life cycle ---- */

int gw__control_init(struct ht_gw *g, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct gw_control *c = ht_calloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->timer = ht_timer_new(g->loop, on_timer, g);
    c->prep = ht_prepare_new(g->loop, on_prepare, g);
    c->gate = (struct gw_job_gate){gate, NULL};
    g->control = c;
    gw__jobs_handle(g, GW_JOB_CONTROL_TAKE, control_job);
    gw__jobs_handle(g, GW_JOB_CONTROL_RELEASE, control_job);
    gw__jobs_gate(g, &c->gate);
    gw__ingest_route(g, HT_TOPIC_APP_STATUS, on_app_status);
    return HT_OK;
}

void gw__control_clear(struct ht_gw *g)
{
    struct gw_control *c = g ? g->control : NULL;
    if (!c)
        return;
    gw__jobs_gate(g, NULL);
    ht_timer_free(c->timer);
    ht_prepare_free(c->prep);
    pthread_mutex_destroy(&c->mu);
    free(c->v);
    free(c->apps);
    free(c);
    g->control = NULL;
}

json_t *gw__control_get(struct ht_gw *g, const char *twin)
{
    json_t *doc = gw__twin_doc(g, twin);
    const char *req = json_string_value(json_object_get(doc, "control"));
    json_t *o = json_pack("{s:s, s:b}", "twin", twin, "required",
                          req && !strcmp(req, "required"));
    json_decref(doc);
    struct gw_control *c = g->control;
    pthread_mutex_lock(&c->mu);
    json_object_set_new(o, "holder", holder_of(c, twin));
    pthread_mutex_unlock(&c->mu);
    return o;
}

json_t *gw__control_holder(struct ht_gw *g, const char *twin)
{
    struct gw_control *c = g->control;
    pthread_mutex_lock(&c->mu);
    const struct lease *l = find(c, twin);
    json_t *h = l ? holder_json(l) : NULL;
    pthread_mutex_unlock(&c->mu);
    return h;
}
