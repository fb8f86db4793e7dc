/* twinglue.c - the twin engine inside gatewayd.
 *
 * The engine (twins/) runs on the loop thread. As a subscriber of ingest it
 * hears the values, statuses and TDs of approved devices; GW_JOB_TWIN_* jobs
 * from the HTTP thread change twins and write through them. Engine events are
 * queued during an engine call and turned into gateway events afterwards (the
 * engine must not be re-entered from its callback, and the state it reports
 * is only consistent once the call returned): SSE events ("state",
 * "alarm-raised", "alarm-cleared", "stable-changed", "descriptor", "twin")
 * and the retained MQTT twin topics (state and ui/{web,hmd}).
 *
 * The HTTP thread never touches the engine: it reads the twin table under
 * tw->mu (documents and state as JSON text) and builds TDs and UI
 * descriptors itself from copies.
 */
#include "gateway/twinglue/twinglue.h"
#include "gateway/ingest/ingest.h"
#include "gateway/jobs/jobs.h"
#include "gateway/registry/registry.h"
#include "gateway/sse/sse.h"
#include "gateway/store/store.h"

#include "ht_loop.h"
#include "ht_mqtt.h"
#include "ht_topic.h"

#include "ht_err.h"
#include "ht_json.h"
#include "ht_log.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <dirent.h>
#include <inttypes.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "twins"
#define TWIN_FILE_MAX (1 << 20)

static const char *const target_names[2] = {"web", "hmd"};

/* ---- the table ---- */

_Static_assert(offsetof(struct tw_entry, id) == 0, "ht_id_bsearch needs it");

static struct tw_entry *search(struct gw_twins *tw, const char *id, size_t *pos)
{
    long i = ht_id_bsearch((void *const *)tw->v, tw->n, id, pos);
    return i < 0 ? NULL : tw->v[i];
}

static void entry_free(struct tw_entry *e)
{
    if (!e)
        return;
    free(e->title);
    free(e->doc);
    free(e->state);
    free(e);
}

/* Insert or update a twin (loop thread). doc borrowed (serialised). */
static struct tw_entry *entry_set(struct gw_twins *tw, const char *id,
                                  const json_t *doc, int version, bool is_auto,
                                  const char *dev)
{
    char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    const char *title = json_string_value(json_object_get(doc, "title"));
    pthread_mutex_lock(&tw->mu);
    size_t pos;
    struct tw_entry *e = search(tw, id, &pos);
    if (!e) {
        e = ht_calloc(1, sizeof *e);
        ht_strlcpy(e->id, id, sizeof e->id);
        if (tw->n == tw->cap) {
            tw->cap = tw->cap ? tw->cap * 2 : 16;
            tw->v = ht_realloc(tw->v, tw->cap * sizeof *tw->v);
        }
        memmove(&tw->v[pos + 1], &tw->v[pos], (tw->n - pos) * sizeof *tw->v);
        tw->v[pos] = e;
        tw->n++;
    }
    free(e->doc);
    e->doc = text;
    free(e->title);
    e->title = ht_strdup(title ? title : id);
    e->version = version;
    e->updated = gw__now_ms(tw->g);
    e->is_auto = is_auto;
    ht_strlcpy(e->dev, is_auto && dev ? dev : "", sizeof e->dev);
    tw->gen++;
    pthread_mutex_unlock(&tw->mu);
    if (tw->alarm_sub.on_twin)
        tw->alarm_sub.on_twin(tw->g, id, tw->alarm_sub.ud);
    return e;
}

static void entry_remove(struct gw_twins *tw, const char *id)
{
    size_t pos;
    pthread_mutex_lock(&tw->mu);
    struct tw_entry *e = search(tw, id, &pos);
    if (e) {
        memmove(&tw->v[pos], &tw->v[pos + 1],
                (tw->n - pos - 1) * sizeof *tw->v);
        tw->n--;
        tw->gen++;
    }
    pthread_mutex_unlock(&tw->mu);
    entry_free(e);
}

/* ---- MQTT twin topics ---- */

/* target: NULL for the state topic, else the UI target ("web", "hmd"). */
static void publish(struct ht_gw *g, const char *id, const char *target,
                    const void *buf, size_t len)
{
    if (!g->mqtt || !ht_mqtt_connected(g->mqtt))
        return; /* republished on the next connect (on_prepare) */
    char topic[HT_TOPIC_MAX];
    if (ht_topic_build(topic, sizeof topic, g->conf->mqtt_prefix,
                       target ? HT_TOPIC_TWIN_UI : HT_TOPIC_TWIN_STATE, id,
                       target) < 0)
        return;
    /* QoS 0: nothing waits in memory for a PUBACK (10,000 twins' retained
     * descriptors are 160 MB), and what a lost connection drops is
     * republished on the next connect anyway (on_prepare). Not so a clear
     * (empty payload) of a removed twin: nothing would repeat it. */
    int rc = ht_mqtt_publish(g->mqtt, topic, buf, len, len ? 0 : 1, true, NULL,
                             NULL);
    if (rc)
        ht_log(LOG_DEBUG, MOD, "publish %s: %s", topic, ht_strerror(rc));
}

/* Retained topics are cleared with empty payloads, so a removed twin does
 * not linger in the broker for HMD apps. */
static void unpublish(struct ht_gw *g, const char *id)
{
    publish(g, id, NULL, "", 0);
    publish(g, id, "web", "", 0);
    publish(g, id, "hmd", "", 0);
}

/* ---- engine events -> gateway events ---- */

static struct tw_qev *queue_add(struct gw_twins *tw)
{
    if (tw->nq == tw->capq) {
        tw->capq = tw->capq ? 2 * tw->capq : 16;
        tw->q = ht_realloc(tw->q, tw->capq * sizeof *tw->q);
    }
    struct tw_qev *e = &tw->q[tw->nq++];
    memset(e, 0, sizeof *e);
    return e;
}

static void on_engine_event(const struct ht_twin_event *ev, void *ud)
{
    struct gw_twins *tw = ud;
    if (ev->type == HT_TWIN_EV_STATE) {
        /* One per value: kept as fields, no tree; the list by reference
         * (the engine never changes it after the call, twin.h). */
        struct tw_qev *e = queue_add(tw);
        e->twin = ht_strdup(ev->twin);
        e->ts = ev->ts;
        e->changed =
            ev->changed ? json_incref((json_t *)ev->changed) : json_array();
        return;
    }
    json_t *o =
        json_pack("{s:s, s:I}", "twin", ev->twin, "ts", (json_int_t)ev->ts);
    switch (ev->type) {
    case HT_TWIN_EV_STATE:
        break;
    case HT_TWIN_EV_ALARM_RAISED:
    case HT_TWIN_EV_ALARM_CLEARED:
        json_object_set_new(o, "kind",
                            json_string(ev->type == HT_TWIN_EV_ALARM_RAISED
                                            ? "alarm-raised"
                                            : "alarm-cleared"));
        json_object_set_new(o, "rule", json_string(ev->rule ? ev->rule : ""));
        json_object_set_new(o, "severity",
                            json_string(ht_twin_severity_name(ev->severity)));
        json_object_set_new(o, "message",
                            json_string(ev->message ? ev->message : ""));
        json_object_set_new(o, "stable", json_boolean(ev->stable));
        break;
    case HT_TWIN_EV_STABLE:
        json_object_set_new(o, "kind", json_string("stable-changed"));
        json_object_set_new(o, "stable", json_boolean(ev->stable));
        break;
    }
    queue_add(tw)->ev = o;
}

/* An alarm transition (ISA-18.2 life cycle): queued in engine order like
 * the other events, as the data of the SSE "alarm" event it becomes. Its
 * top-level "active", "severity" and "message" are the condition's, as
 * clients that read "alarm" events like "alarm-raised"/"alarm-cleared"
 * expect (web/src/common/twin.js). */
static void on_engine_alarm(const struct ht_twin_alarm_event *ev, void *ud)
{
    struct gw_twins *tw = ud;
    json_t *alarm = json_deep_copy(ev->alarm);
    char *id = ht_asprintf("%s:%s", ev->twin, ev->rule);
    json_object_set_new(alarm, "id", json_string(id));
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s?, s:o}",
                          "kind", "alarm", "twin", ev->twin, "rule", ev->rule,
                          "id", id, "ts", (json_int_t)ev->ts, "from",
                          ht_twin_alarm_state_name(ev->from), "to",
                          ht_twin_alarm_state_name(ev->to), "cause", ev->cause,
                          "who", ev->who, "alarm", alarm);
    free(id);
    if (ev->note)
        json_object_set_new(o, "note", json_string(ev->note));
    static const char *const copied[] = {"active", "severity", "message",
                                         "priority"};
    for (size_t i = 0; i < sizeof copied / sizeof *copied; i++)
        json_object_set(o, copied[i], json_object_get(alarm, copied[i]));
    queue_add(tw)->ev = o;
}

/* A twin-owned output ("driven_by", e.g. the alarm lamp) must change: a
 * command like a twin write's, with no HTTP request behind it. */
static void drive_done(struct ht_gw *g, struct gw_job *c)
{
    pthread_mutex_lock(&g->jobs->mu);
    int status = c->status;
    pthread_mutex_unlock(&g->jobs->mu);
    if (status != 200)
        ht_log(LOG_INFO, MOD, "driven output %s/%s not set (HTTP %d)", c->dev,
               c->prop, status);
    gw__job_unref(g, c);
}

static void on_engine_drive(const char *twin, const struct ht_twin_write *w,
                            int64_t ts, void *ud)
{
    (void)twin;
    (void)ts;
    struct ht_gw *g = ud;
    struct gw_job *c = gw__job_new(GW_JOB_WRITE, w->device, "twins");
    ht_strlcpy(c->prop, w->prop, sizeof c->prop);
    c->value = json_incref(w->value);
    c->on_complete = drive_done;
    c->gated = true; /* the twin itself owns a driven output */
    if (gw__jobs_queue(g, &c, 1))
        gw__job_unref(g, c);
}

/* An action's twin write finished: refusals (423 while someone else holds
 * control, 409 interlock) are in the audit log; say it in the log too. */
static void action_done(struct ht_gw *g, struct gw_job *c)
{
    pthread_mutex_lock(&g->jobs->mu);
    int status = c->status;
    pthread_mutex_unlock(&g->jobs->mu);
    ht_log(status == 200 ? LOG_INFO : LOG_NOTICE, MOD, "%s: %s = HTTP %d",
           c->actor, c->ref, status);
    gw__job_unref(g, c);
}

/* A twin-model action fired (an input's edge, a rule into alarm): a twin
 * write like an operator's, through control, interlocks and deadlines,
 * audited with the actor "action:<twin>/<name>". */
static void on_engine_action(const char *twin, const char *action,
                             const char *ref, const json_t *value, int64_t ts,
                             void *ud)
{
    (void)ts;
    struct ht_gw *g = ud;
    char actor[160];
    snprintf(actor, sizeof actor, "action:%s/%s", twin, action);
    struct gw_job *c = gw__job_new(GW_JOB_TWIN_WRITE, twin, actor);
    ht_strlcpy(c->ref, ref, sizeof c->ref);
    c->value = json_incref((json_t *)value);
    c->on_complete = action_done;
    if (gw__jobs_queue(g, &c, 1))
        gw__job_unref(g, c);
}

/* Store a twin's state snapshot from the engine and publish it
 * (retained). */
/* Retained state publishes per twin: every change reaches SSE clients at
 * once; the MQTT topic carries the newest state at most this often. */
#define GW_TWIN_PUB_MS 20

static void state_publish(struct ht_gw *g, struct tw_entry *e, uint64_t now)
{
    e->pub_ms = now;
    e->pub_due = false;
    if (!e->state)
        return;
    publish(g, e->id, NULL, e->state, strlen(e->state));
    struct gw_twins_uplink_sub *u = &g->twins->uplink_sub;
    if (u->on_state)
        u->on_state(g, e->id, e->state, strlen(e->state), u->ud);
}

static void on_pub_timer(struct ht_timer *t, void *ud)
{
    (void)t;
    struct ht_gw *g = ud;
    struct gw_twins *tw = g->twins;
    uint64_t now = ht_loop_now(g->loop), wait = 0;
    size_t keep = 0;
    for (size_t i = 0; i < tw->npubq; i++) {
        struct tw_entry *e = search(tw, tw->pubq[i], NULL);
        if (e && e->pub_due && now - e->pub_ms < GW_TWIN_PUB_MS) {
            uint64_t w = GW_TWIN_PUB_MS - (now - e->pub_ms);
            wait = !wait || w < wait ? w : wait;
            tw->pubq[keep++] = tw->pubq[i];
            continue;
        }
        if (e && e->pub_due)
            state_publish(g, e, now);
        free(tw->pubq[i]);
    }
    tw->npubq = keep;
    if (keep)
        ht_timer_start(tw->pub_timer, wait, 0);
}

static void state_refresh(struct ht_gw *g, const char *id)
{
    struct gw_twins *tw = g->twins;
    /* The text straight from the engine: no tree built and dumped. */
    size_t nal;
    char *text = ht_twin_engine_state_text(tw->eng, id, NULL, &nal);
    if (!text)
        return;
    bool stable = ht_twin_engine_stable(tw->eng, id);
    pthread_mutex_lock(&tw->mu);
    struct tw_entry *e = search(tw, id, NULL);
    if (e) {
        free(e->state);
        e->state = text;
        e->stable = stable;
        e->nalarms = nal;
        text = NULL;
    }
    pthread_mutex_unlock(&tw->mu);
    free(text);
    if (!e)
        return;
    uint64_t now = ht_loop_now(g->loop);
    if (now - e->pub_ms >= GW_TWIN_PUB_MS) {
        state_publish(g, e, now);
    } else if (!e->pub_due) {
        e->pub_due = true;
        if (tw->npubq == tw->cappubq) {
            tw->cappubq = tw->cappubq ? 2 * tw->cappubq : 16;
            tw->pubq = ht_realloc(tw->pubq, tw->cappubq * sizeof *tw->pubq);
        }
        tw->pubq[tw->npubq++] = ht_strdup(e->id);
        if (!ht_timer_active(tw->pub_timer))
            ht_timer_start(tw->pub_timer, GW_TWIN_PUB_MS - (now - e->pub_ms),
                           0);
    }
}

static void timer_rearm(struct ht_gw *g)
{
    struct gw_twins *tw = g->twins;
    int64_t due = ht_twin_engine_next_deadline(tw->eng);
    if (due < 0) {
        ht_timer_stop(tw->timer);
        return;
    }
    int64_t now = gw__now_ms(g);
    ht_timer_start(tw->timer, due > now ? (uint64_t)(due - now) : 0, 0);
}

/* Note that a twin's state snapshot is stale (loop thread). */
static void mark_dirty(struct gw_twins *tw, const char *id)
{
    struct tw_entry *e = search(tw, id, NULL);
    if (!e || e->dirty)
        return;
    e->dirty = true;
    if (tw->ndirty == tw->capdirty) {
        tw->capdirty = tw->capdirty ? 2 * tw->capdirty : 16;
        tw->dirty = ht_realloc(tw->dirty, tw->capdirty * sizeof *tw->dirty);
    }
    tw->dirty[tw->ndirty++] = ht_strdup(id);
}

/* Rebuild, store and publish the state of every dirty twin, once each,
 * then emit the held SSE events in engine order: a client that reads the
 * state after an event (or after its stream went live) never gets a
 * snapshot older than the events it saw. A twin removed since it was
 * marked is skipped (its entry is gone, or a new entry of the same id has
 * its own mark). */
/* budget_ns > 0: stop after about that long and finish in later loop
 * iterations (thousands of twins after start-up); the held events wait
 * until every snapshot is rebuilt, as the ordering above requires. */
static void flush_budget(struct ht_gw *g, uint64_t budget_ns)
{
    struct gw_twins *tw = g->twins;
    ht_timer_stop(tw->flush);
    if (tw->loading)
        return; /* rebuilt once, when the load is done */
    uint64_t t0 = budget_ns ? ht_mono_ns() : 0;
    size_t i = 0;
    for (; i < tw->ndirty; i++) {
        if (budget_ns && (i & 31) == 31 && ht_mono_ns() - t0 > budget_ns)
            break;
        struct tw_entry *e = search(tw, tw->dirty[i], NULL);
        if (e && e->dirty) {
            e->dirty = false;
            state_refresh(g, e->id);
        }
        free(tw->dirty[i]);
    }
    if (i < tw->ndirty) {
        memmove(tw->dirty, tw->dirty + i, (tw->ndirty - i) * sizeof *tw->dirty);
        tw->ndirty -= i;
        ht_timer_start(tw->flush, 0, 0);
        return;
    }
    tw->ndirty = 0;
    if (tw->alarm_sub.on_flush)
        tw->alarm_sub.on_flush(g, tw->alarm_sub.ud);
    /* Taken first: emitting may not add to it, but stay safe if it does. */
    struct tw_held *held = tw->held;
    size_t n = tw->nheld, cap = tw->capheld;
    tw->held = NULL;
    tw->nheld = tw->capheld = 0;
    for (size_t k = 0; k < n; k++) {
        gw__sse_push(g, held[k].kind, NULL, NULL, held[k].twin, NULL,
                     held[k].data, held[k].dlen);
        free(held[k].twin);
        free(held[k].data);
    }
    if (tw->held) { /* something was added meanwhile: keep that */
        free(held);
    } else { /* kept for the next iteration: one per value at low rates */
        tw->held = held;
        tw->capheld = cap;
    }
}

static void flush(struct ht_gw *g)
{
    flush_budget(g, 0);
}

static void on_flush(struct ht_timer *t, void *ud)
{
    (void)t;
    flush_budget(ud, 4000000);
}

/* A STATE engine event as its SSE data: {"twin","ts","changed"}, then
 * "properties" (the changed ones' states) and "stable" (new text). */
static char *state_event_text(struct gw_twins *tw, const struct tw_qev *e,
                              size_t *len)
{
    struct ht_jbuf b = {0};
    ht_jbuf_raw(&b, "{\"twin\":", 8);
    ht_jbuf_str(&b, e->twin, strlen(e->twin));
    ht_jbuf_raw(&b, ",\"ts\":", 6);
    ht_jbuf_int(&b, e->ts);
    ht_jbuf_raw(&b, ",\"changed\":", 11);
    ht_jbuf_json(&b, e->changed, false);
    ht_jbuf_raw(&b, ",\"properties\":", 14);
    if (!ht_twin_engine_props_state_text(tw->eng, e->twin, e->changed, &b))
        ht_jbuf_raw(&b, "{}", 2);
    bool st = ht_twin_engine_stable(tw->eng, e->twin);
    ht_jbuf_raw(&b, st ? ",\"stable\":true}" : ",\"stable\":false}",
                st ? 15 : 16);
    return ht_jbuf_take(&b, len);
}

static void hold(struct gw_twins *tw, const char *kind, char *twin, char *text,
                 size_t tlen)
{
    if (tw->nheld == tw->capheld) {
        tw->capheld = tw->capheld ? 2 * tw->capheld : 64;
        tw->held = ht_realloc(tw->held, tw->capheld * sizeof *tw->held);
    }
    tw->held[tw->nheld++] = (struct tw_held){kind, twin, text, tlen};
}

/* Turn the queued engine events into SSE events (in engine order, held
 * for flush()), mark the twins they touched dirty, then re-arm the
 * duration timer. Called after every engine call. flush() rebuilds the
 * full state snapshots (REST and the retained MQTT topic) and emits the
 * events: at once in callers that change twins, at the end of the loop
 * iteration (zero-delay timer) for the value stream, so a burst of values
 * costs one snapshot per twin. */
static void drain(struct ht_gw *g)
{
    struct gw_twins *tw = g->twins;
    if (tw->nq == 0) {
        timer_rearm(g);
        return;
    }
    /* Taken first: what the alarm subscriber's work queues meanwhile goes
     * to a new queue. */
    struct tw_qev *q = tw->q;
    size_t n = tw->nq, cap = tw->capq;
    tw->q = NULL;
    tw->nq = tw->capq = 0;
    static const char *const kinds[] = {
        "state", "alarm-raised", "alarm-cleared", "stable-changed", "alarm"};
    for (size_t i = 0; i < n; i++) {
        struct tw_qev *e = &q[i];
        if (!e->ev) {
            mark_dirty(tw, e->twin);
            /* Loading: twins rebuilt from the store change from "unknown"
             * to their stored values; that is not news (no stream is open
             * yet). */
            if (tw->loading) {
                free(e->twin);
            } else {
                size_t tlen;
                char *text = state_event_text(tw, e, &tlen);
                hold(tw, kinds[0], e->twin, text, tlen);
            }
            json_decref(e->changed);
            continue;
        }
        json_t *ev = e->ev;
        const char *twin = json_string_value(json_object_get(ev, "twin"));
        const char *kind = json_string_value(json_object_get(ev, "kind"));
        const char *k = NULL;
        for (size_t x = 1; kind && x < sizeof kinds / sizeof *kinds; x++)
            if (!strcmp(kind, kinds[x]))
                k = kinds[x];
        if (twin && kind)
            mark_dirty(tw, twin);
        if (!twin || !k) {
            json_decref(ev);
            continue;
        }
        char *tid = ht_strdup(twin);
        /* The queue is ours: the event becomes the data in place. */
        json_object_del(ev, "kind");
        if (k == kinds[4] && tw->alarm_sub.on_alarm)
            tw->alarm_sub.on_alarm(g, ev, tw->alarm_sub.ud);
        size_t tlen;
        char *text = ht_json_dumps(ev, false, &tlen);
        json_decref(ev);
        hold(tw, k, tid, text, tlen);
    }
    if (tw->q) { /* queued meanwhile: keep those, drop the taken array */
        free(q);
    } else {
        tw->q = q;
        tw->capq = cap;
    }
    if (!ht_timer_active(tw->flush))
        ht_timer_start(tw->flush, 0, 0);
    timer_rearm(g);
}

static void on_timer(struct ht_timer *t, void *ud)
{
    (void)t;
    struct ht_gw *g = ud;
    ht_twin_engine_tick(g->twins->eng, gw__now_ms(g));
    drain(g);
}

/* Retained topics may be lost with a broker restart (or were never sent
 * while disconnected): republish everything after each new connection. */
static void desc_queue_all(struct ht_gw *g, bool force);

static void on_prepare(struct ht_prepare *p, void *ud)
{
    (void)p;
    struct ht_gw *g = ud;
    struct gw_twins *tw = g->twins;
    if (!g->mqtt || !ht_mqtt_connected(g->mqtt))
        return;
    unsigned c = ht_mqtt_connects(g->mqtt);
    if (c == tw->connects)
        return;
    tw->connects = c;
    /* Retained topics may be gone with the broker's state: the states are
     * at hand, the descriptors are rendered again in the background. */
    for (size_t i = 0; i < tw->n; i++)
        if (tw->v[i]->state)
            publish(g, tw->v[i]->id, NULL, tw->v[i]->state,
                    strlen(tw->v[i]->state));
    desc_queue_all(g, true);
}

/* ---- things and descriptors ---- */

struct ht_sem_thing **gw__twin_things(struct ht_gw *g,
                                      const struct ht_twin_model *m, size_t *n)
{
    *n = 0;
    size_t cap = 0;
    for (size_t c = 0; c < m->ncomps; c++)
        cap += m->comps[c].nprops;
    struct ht_sem_thing **v = ht_calloc(cap + 1, sizeof *v);
    for (size_t c = 0; c < m->ncomps; c++)
        for (size_t p = 0; p < m->comps[c].nprops; p++) {
            const char *dev = m->comps[c].props[p].device;
            bool seen = false;
            for (size_t k = 0; k < *n && !seen; k++)
                seen = !strcmp(v[k]->id, dev);
            struct ht_sem_thing *t;
            if (!seen && gw__device_thing(g, dev, &t) == HT_OK)
                v[(*n)++] = t;
        }
    return v;
}

void gw__things_free(struct ht_sem_thing **t, size_t n)
{
    for (size_t i = 0; t && i < n; i++)
        ht_sem_thing_free(t[i]);
    free(t);
}

static int render(struct ht_gw *g, const struct ht_twin_model *m,
                  enum ht_ui_target target, enum ht_ui_role role, char **out,
                  size_t *len, char etag[HT_UI_ETAG_LEN], char *err,
                  size_t errlen)
{
    size_t n;
    struct ht_sem_thing **things = gw__twin_things(g, m, &n);
    char *http = gw__http_base(g);
    char *mqtt = gw__mqtt_base(g);
    struct ht_ui_input in = {
        .model = m,
        .devs = (const struct ht_sem_thing *const *)things,
        .ndevs = n,
        .target = target,
        .role = role,
        .http_base = http,
        .mqtt_base = mqtt,
        .topic_prefix = g->conf->mqtt_prefix,
    };
    int rc = ht_ui_render(&in, out, len, etag, err, errlen);
    free(http);
    free(mqtt);
    gw__things_free(things, n);
    return rc;
}

/* Regenerate a twin's descriptors (operator role, as published over MQTT
 * and served to operators) and push the ones whose bytes changed. */
static void desc_update(struct ht_gw *g, const char *id)
{
    struct gw_twins *tw = g->twins;
    if (tw->loading)
        return; /* all queued once the load is done */
    struct tw_entry *e = search(tw, id, NULL);
    const struct ht_twin_model *m = ht_twin_engine_model(tw->eng, id);
    if (!e || !m)
        return;
    bool force = e->desc_force;
    e->desc_force = false;
    for (int t = 0; t < 2; t++) {
        char *out = NULL, etag[HT_UI_ETAG_LEN], err[256];
        size_t len = 0;
        if (render(g, m, (enum ht_ui_target)t, HT_UI_OPERATOR, &out, &len, etag,
                   err, sizeof err) != HT_OK) {
            ht_log(LOG_WARNING, MOD, "%s: %s descriptor: %s", id,
                   target_names[t], err);
            continue;
        }
        bool same = e->has_etag[t] && !strcmp(etag, e->etag[t]);
        if (same && !force) {
            free(out);
            continue;
        }
        e->has_etag[t] = true;
        memcpy(e->etag[t], etag, HT_UI_ETAG_LEN);
        publish(g, id, target_names[t], out, len);
        if (!same && tw->uplink_sub.on_descriptor)
            tw->uplink_sub.on_descriptor(g, id, target_names[t], etag,
                                         e->version, out, len,
                                         tw->uplink_sub.ud);
        free(out);
        if (same)
            continue; /* republished, not changed: no event */
        gw__sse_emit(g, "descriptor", NULL, NULL, id, NULL,
                     json_pack("{s:s, s:s, s:s, s:i, s:I}", "twin", id,
                               "target", target_names[t], "etag", etag,
                               "version", e->version, "ts",
                               (json_int_t)gw__now_ms(g)));
    }
}

/* Background generation: render queued twins for up to a few ms, then
 * give the loop back (zero-delay timer) until the queue is empty. */
static void on_desc_timer(struct ht_timer *t, void *ud)
{
    (void)t;
    struct ht_gw *g = ud;
    struct gw_twins *tw = g->twins;
    uint64_t t0 = ht_mono_ns();
    while (tw->descq_pos < tw->ndescq && ht_mono_ns() - t0 < 4000000) {
        char *id = tw->descq[tw->descq_pos];
        tw->descq[tw->descq_pos++] = NULL;
        desc_update(g, id);
        free(id);
    }
    if (tw->descq_pos < tw->ndescq) {
        ht_timer_start(tw->desc_timer, 0, 0);
        return;
    }
    free(tw->descq);
    tw->descq = NULL;
    tw->ndescq = tw->capdescq = tw->descq_pos = 0;
    /* Thousands of renders leave freed heap behind: give it back. */
    malloc_trim(0);
}

static void desc_queue_all(struct ht_gw *g, bool force)
{
    struct gw_twins *tw = g->twins;
    for (size_t i = 0; i < tw->n; i++) {
        if (tw->ndescq == tw->capdescq) {
            tw->capdescq = tw->capdescq ? 2 * tw->capdescq : 64;
            tw->descq = ht_realloc(tw->descq, tw->capdescq * sizeof *tw->descq);
        }
        tw->v[i]->desc_force |= force;
        tw->descq[tw->ndescq++] = ht_strdup(tw->v[i]->id);
    }
    if (tw->descq_pos < tw->ndescq && !ht_timer_active(tw->desc_timer))
        ht_timer_start(tw->desc_timer, 0, 0);
}

/* Twins that bind dev get new descriptors (a TD changed or the device
 * came or went). */
static void desc_update_dev(struct ht_gw *g, const char *dev)
{
    json_t *ids = ht_twin_engine_device_twins(g->twins->eng, dev);
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id) desc_update(g, json_string_value(id));
    json_decref(ids);
}

static void emit_twin(struct ht_gw *g, const char *id, const char *change,
                      int version)
{
    if (g->twins->loading)
        return; /* rebuilt from the store at start-up: not a change */
    gw__sse_emit(g, "twin", NULL, NULL, id, NULL,
                 json_pack("{s:s, s:s, s:i, s:I}", "twin", id, "change", change,
                           "version", version, "ts",
                           (json_int_t)gw__now_ms(g)));
}

/* Remove a twin from the engine and the table (loop thread). */
static void twin_remove(struct ht_gw *g, const char *id)
{
    struct gw_twins *tw = g->twins;
    char copy[65];
    ht_strlcpy(copy, id, sizeof copy);
    ht_twin_engine_remove(tw->eng, copy);
    entry_remove(tw, copy);
    drain(g);
    flush(g);
    if (tw->alarm_sub.on_removed)
        tw->alarm_sub.on_removed(g, copy, tw->alarm_sub.ud);
    unpublish(g, copy);
    emit_twin(g, copy, "removed", 0);
}

/* ---- automatic twins ---- */

/* The automatic twin of dev: auto_sync names it dev or "<dev>.auto". */
static struct tw_entry *auto_of(struct gw_twins *tw, const char *dev)
{
    char id[80];
    struct tw_entry *e = search(tw, dev, NULL);
    if (e && e->is_auto && !strcmp(e->dev, dev))
        return e;
    snprintf(id, sizeof id, "%s.auto", dev);
    e = search(tw, id, NULL);
    return e && e->is_auto && !strcmp(e->dev, dev) ? e : NULL;
}

/* Keep the automatic twin of an approved device in step with its TD
 * (thing NULL: the device left). Its id is the device id, or "<id>.auto"
 * when a composed twin already uses the device id. */
static void auto_sync(struct ht_gw *g, const char *dev,
                      const struct ht_sem_thing *thing, int td_version)
{
    struct gw_twins *tw = g->twins;
    struct tw_entry *old = auto_of(tw, dev);
    if (!thing) {
        if (old)
            twin_remove(g, old->id);
        return;
    }
    char id[80];
    struct tw_entry *same = search(tw, dev, NULL);
    if (!same || same == old) {
        ht_strlcpy(id, dev, sizeof id);
    } else {
        snprintf(id, sizeof id, "%s.auto", dev);
        struct tw_entry *x = search(tw, id, NULL);
        if (!ht_id_valid(id) || (x && x != old)) {
            ht_log(LOG_WARNING, MOD,
                   "device %s: no automatic twin (ids %s "
                   "and %s.auto are taken)",
                   dev, dev, dev);
            if (old)
                twin_remove(g, old->id);
            return;
        }
    }
    if (old && strcmp(old->id, id))
        twin_remove(g, old->id);
    json_t *doc = ht_twin_auto_doc(thing, id);
    if (!doc)
        return;
    json_object_set_new(doc, "version", json_integer(td_version));
    char err[256];
    bool existed = search(tw, id, NULL) != NULL;
    int rc = ht_twin_engine_put(tw->eng, doc, gw__now_ms(g), err, sizeof err);
    if (rc) {
        ht_log(LOG_WARNING, MOD, "device %s: automatic twin: %s", dev, err);
        json_decref(doc);
        return;
    }
    entry_set(tw, id, doc, td_version, true, dev);
    json_decref(doc);
    drain(g);
    flush(g);
    desc_update(g, id);
    emit_twin(g, id, existed ? "updated" : "created", td_version);
}

/* Give the engine what the registry knows about a device: its latest
 * values (received while it was pending, or before a restart) and status. */
static void feed_device(struct ht_gw *g, const struct gw_dev *d)
{
    struct gw_twins *tw = g->twins;
    int64_t now = gw__now_ms(g);
    const char *name;
    json_t *rec;
    json_object_foreach(d->values, name, rec) ht_twin_engine_set_value(
        tw->eng, d->id, name, json_object_get(rec, "v"), now);
    ht_twin_engine_set_device_status(tw->eng, d->id, d->online, now);
}

/* ---- ingest subscription (approved devices) ---- */

static void on_value(struct ht_gw *g, const struct gw_value *val)
{
    if (!g->twins)
        return;
    ht_twin_engine_set_value(g->twins->eng, val->dev, val->prop, val->v,
                             gw__now_ms(g));
    drain(g);
}

static void on_status(struct ht_gw *g, const char *dev, bool online)
{
    if (!g->twins)
        return;
    ht_twin_engine_set_device_status(g->twins->eng, dev, online, gw__now_ms(g));
    drain(g);
}

static void on_stale(struct ht_gw *g, const char *dev, const char *prop)
{
    if (!g->twins)
        return;
    ht_twin_engine_set_stale(g->twins->eng, dev, prop, gw__now_ms(g));
    drain(g);
}

static void on_td(struct ht_gw *g, const char *dev,
                  const struct ht_sem_thing *thing)
{
    if (!g->twins)
        return;
    struct gw_dev *d = gw__dev_find(g, dev);
    auto_sync(g, dev, thing, d ? d->td_version : 0);
    if (d) {
        feed_device(g, d);
        drain(g);
        flush(g);
    }
    desc_update_dev(g, dev);
}

static void on_removed(struct ht_gw *g, const char *dev)
{
    if (!g->twins)
        return;
    auto_sync(g, dev, NULL, 0);
    /* Its values stop feeding the composed twins: mark them offline. */
    ht_twin_engine_set_device_status(g->twins->eng, dev, false, gw__now_ms(g));
    drain(g);
    flush(g);
    desc_update_dev(g, dev);
}

/* ---- jobs ---- */

static const char *job_name(enum gw_job_kind k)
{
    return k == GW_JOB_TWIN_PUT      ? "twin-put"
           : k == GW_JOB_TWIN_DELETE ? "twin-delete"
                                     : "twin-write";
}

/* Finish a twin job: audit it durably, then resume its connection (the
 * same contract as the event module's jobs). */
static void job_finish(struct ht_gw *g, struct gw_job *j, int status,
                       json_t *body, const char *result)
{
    char *val = j->kind == GW_JOB_TWIN_WRITE && j->value
                    ? json_dumps(j->value, JSON_COMPACT | JSON_ENCODE_ANY)
                    : NULL;
    char target[160];
    snprintf(target, sizeof target, "twin:%s%s%s", j->dev, j->ref[0] ? "/" : "",
             j->ref);
    struct ht_store_audit a = {
        .ts = gw__now_ms(g),
        .actor = j->actor,
        .action = job_name(j->kind),
        .target = target,
        .value = val,
        .result = result,
        .status = status,
        .latency_ms = (int64_t)(ht_mono_ms() - j->t0_ms),
    };
    int rc = ht_store_audit_add(g->store, &a);
    free(val);
    if (rc == -ENOSPC && status < 300) {
        /* The change is made (and durable): say so, not 500; the missing
         * audit record is logged. */
        ht_log(LOG_ERR, MOD, "disk full: no audit record of %s %s by %s",
               job_name(j->kind), j->dev, j->actor);
    } else if (rc) {
        json_decref(body);
        status = 500;
        body = gw__problem(500, "Audit log unavailable",
                           "the change could not be recorded");
    }
    pthread_mutex_lock(&g->jobs->mu);
    j->status = status;
    j->body = body;
    j->done = true;
    pthread_mutex_unlock(&g->jobs->mu);
    if (j->on_complete)
        j->on_complete(g, j); /* no connection: an app's MQTT request */
    else
        MHD_resume_connection(j->conn);
    gw__job_unref(g, j);
}

static void job_fail(struct ht_gw *g, struct gw_job *j, int status,
                     const char *code, const char *title, const char *detail)
{
    json_t *p = gw__problem(status, title, detail);
    json_object_set_new(p, "code", json_string(code));
    job_finish(g, j, status, p, code);
}

static void job_put(struct ht_gw *g, struct gw_job *j)
{
    struct gw_twins *tw = g->twins;
    char err[512], ptr[128] = "";
    struct ht_twin_model *m = NULL;
    if (!json_is_object(j->value) ||
        ht_twin_model_parse(j->value, &m, err, sizeof err, ptr, sizeof ptr)) {
        if (!json_is_object(j->value))
            snprintf(err, sizeof err, "a twin document must be an object");
        json_t *p = gw__problem(400, "Invalid twin", err);
        json_object_set_new(p, "code", json_string("invalid_twin"));
        json_object_set_new(p, "pointer", json_string(ptr));
        job_finish(g, j, 400, p, "invalid_twin");
        return;
    }
    bool id_ok = !strcmp(m->id, j->dev);
    ht_twin_model_free(m);
    if (!id_ok) {
        job_fail(g, j, 400, "invalid_twin", "Invalid twin",
                 "/id: must equal the id in the path");
        return;
    }
    struct tw_entry *e = search(tw, j->dev, NULL);
    bool created = !e || e->is_auto;
    char displaced[65] = "";
    if (e && e->is_auto)
        ht_strlcpy(displaced, e->dev, sizeof displaced);
    /* The version is the gateway's: one more than the stored one. */
    json_t *doc = json_deep_copy(j->value);
    int version = created ? 1 : e->version + 1;
    json_object_set_new(doc, "version", json_integer(version));
    int rc = ht_store_twin_put(g->store, j->dev, doc, gw__now_ms(g), &version);
    if (rc) {
        json_decref(doc);
        job_fail(g, j, gw__store_status(rc), "store", gw__store_title(rc),
                 ht_strerror(rc));
        return;
    }
    json_object_set_new(doc, "version", json_integer(version));
    rc = ht_twin_engine_put(tw->eng, doc, gw__now_ms(g), err, sizeof err);
    if (rc) {
        ht_log(LOG_ERR, MOD, "twin %s stored but not applied: %s", j->dev, err);
        json_decref(doc);
        job_fail(g, j, 500, "engine", "Twin not applied", err);
        return;
    }
    entry_set(tw, j->dev, doc, version, false, NULL);
    drain(g);
    flush(g);
    desc_update(g, j->dev);
    ht_log(LOG_NOTICE, MOD, "twin %s version %d %s by %s", j->dev, version,
           created ? "created" : "updated", j->actor);
    emit_twin(g, j->dev, created ? "created" : "updated", version);
    if (displaced[0]) {
        /* The automatic twin of that device moves to "<id>.auto". */
        struct gw_dev *d = gw__dev_find(g, displaced);
        if (d && d->state == GW_APPROVED && d->thing)
            auto_sync(g, displaced, d->thing, d->td_version);
    }
    job_finish(g, j, created ? 201 : 200, doc, "ok");
}

static void job_delete(struct ht_gw *g, struct gw_job *j)
{
    struct gw_twins *tw = g->twins;
    struct tw_entry *e = search(tw, j->dev, NULL);
    if (!e) {
        job_fail(g, j, 404, "unknown_twin", "Unknown twin", j->dev);
        return;
    }
    if (e->is_auto) {
        char d[256];
        snprintf(d, sizeof d,
                 "%s is the automatic twin of device %s: remove "
                 "or block the device instead",
                 e->id, e->dev);
        job_fail(g, j, 409, "automatic_twin", "Automatic twin", d);
        return;
    }
    int rc = ht_store_twin_delete(g->store, j->dev);
    if (rc && rc != HT_ENOENT) {
        job_fail(g, j, gw__store_status(rc), "store", gw__store_title(rc),
                 ht_strerror(rc));
        return;
    }
    twin_remove(g, j->dev);
    gw__assets_remove_twin(g, j->dev);
    ht_log(LOG_NOTICE, MOD, "twin %s deleted by %s", j->dev, j->actor);
    /* A device of the same id gets its automatic twin back under its id. */
    struct gw_dev *d = gw__dev_find(g, j->dev);
    if (d && d->state == GW_APPROVED && d->thing)
        auto_sync(g, d->id, d->thing, d->td_version);
    job_finish(g, j, 204, NULL, "ok");
}

/* A twin write fans out to device commands (GW_JOB_WRITE sub-jobs on the
 * event module's command path); the answer waits for all of their acks. */
struct tw_write {
    struct gw_job *parent;
    size_t left, n;
    json_t *results; /* per command: {"device","property","status",...} */
    int fail_status;
    json_t *fail_body;
    /* Converts the first command's confirmed value back to twin units. */
    struct ht_twin_prop conv;
    bool numeric, invert;
};

static void write_finish(struct ht_gw *g, struct tw_write *w)
{
    struct gw_job *j = w->parent;
    if (w->fail_status) {
        json_t *p = w->fail_body
                        ? w->fail_body
                        : gw__problem(w->fail_status, "Command failed", NULL);
        json_object_set_new(p, "commands", w->results);
        const char *code = json_string_value(json_object_get(p, "code"));
        job_finish(g, j, w->fail_status, p, code ? code : "error");
    } else {
        json_t *first = json_array_get(w->results, 0);
        json_t *v = json_object_get(first, "v");
        json_t *tv;
        if (w->numeric && json_is_number(v))
            tv =
                json_real(ht_twin_prop_to_twin(&w->conv, json_number_value(v)));
        else if (w->invert && json_is_boolean(v))
            tv = json_boolean(!json_is_true(v));
        else
            tv = v ? json_incref(v) : json_null();
        /* Integral results stay integers, as they were sent. */
        if (json_is_real(tv) &&
            json_real_value(tv) == (double)(json_int_t)json_real_value(tv)) {
            json_t *iv = json_integer((json_int_t)json_real_value(tv));
            json_decref(tv);
            tv = iv;
        }
        json_t *ts = json_object_get(first, "ts");
        json_t *body = json_pack("{s:s, s:s, s:o, s:o, s:o}", "twin", j->dev,
                                 "property", j->ref, "v", tv, "ts",
                                 ts ? json_incref(ts) : json_integer(0),
                                 "commands", w->results);
        job_finish(g, j, 200, body, "ok");
    }
    free(w);
}

static void write_child_done(struct ht_gw *g, struct gw_job *c)
{
    struct tw_write *w = c->ud;
    size_t idx = (size_t)strtoul(c->ref, NULL, 10);
    pthread_mutex_lock(&g->jobs->mu);
    int status = c->status;
    json_t *body = c->body;
    c->body = NULL;
    pthread_mutex_unlock(&g->jobs->mu);
    json_t *r = json_pack("{s:s, s:s, s:i}", "device", c->dev, "property",
                          c->prop, "status", status);
    if (status == 200) {
        json_object_set(r, "v", json_object_get(body, "v"));
        json_object_set(r, "ts", json_object_get(body, "ts"));
        json_decref(body);
    } else {
        const char *code = json_string_value(json_object_get(body, "code"));
        const char *detail = json_string_value(json_object_get(body, "detail"));
        if (code)
            json_object_set_new(r, "code", json_string(code));
        if (detail)
            json_object_set_new(r, "detail", json_string(detail));
        if (!w->fail_status) {
            w->fail_status = status;
            w->fail_body = body;
        } else {
            json_decref(body);
        }
    }
    json_array_set_new(w->results, idx, r);
    gw__job_unref(g, c); /* our reference; the event module drops its own */
    if (--w->left == 0)
        write_finish(g, w);
}

static void job_write(struct ht_gw *g, struct gw_job *j)
{
    struct gw_twins *tw = g->twins;
    struct ht_twin_write *cmds = NULL;
    size_t n = 0;
    char err[256];
    int rc = ht_twin_engine_resolve_write(tw->eng, j->dev, j->ref, j->value,
                                          &cmds, &n, err, sizeof err);
    if (rc == HT_OK && n == 0) {
        rc = HT_EINVAL;
        snprintf(err, sizeof err, "the property has no device target");
    }
    if (rc) {
        ht_twin_writes_free(cmds, n);
        int st = rc == HT_ENOENT ? 404 : rc == HT_ERDONLY ? 409 : 400;
        const char *code = rc == HT_ENOENT    ? "unknown_property"
                           : rc == HT_ERDONLY ? "read_only"
                           : rc == HT_ETYPE   ? "bad_type"
                           : rc == HT_ERANGE  ? "out_of_range"
                                              : "bad_request";
        job_fail(g, j, st, code,
                 st == 404   ? "Unknown twin property"
                 : st == 409 ? "Property is read-only"
                             : "Invalid value",
                 err);
        return;
    }
    /* Control, interlocks and permissives see all the commands of the
     * write at once, before any is sent. */
    struct gw_cmd gc[HT_TWIN_MAX_TARGETS];
    size_t ng = n < HT_TWIN_MAX_TARGETS ? n : HT_TWIN_MAX_TARGETS;
    for (size_t i = 0; i < ng; i++)
        gc[i] = (struct gw_cmd){cmds[i].device, cmds[i].prop, cmds[i].value};
    json_t *problem = NULL;
    int gst = gw__job_gate(g, j, j->dev, gc, ng, &problem);
    if (gst) {
        ht_twin_writes_free(cmds, n);
        const char *code = json_string_value(json_object_get(problem, "code"));
        job_finish(g, j, gst, problem, code ? code : "refused");
        return;
    }
    struct tw_write *w = ht_calloc(1, sizeof *w);
    w->parent = j;
    w->n = w->left = n;
    w->results = json_array();
    w->conv.conv_a = w->conv.scale = 1;
    const struct ht_twin_model *m = ht_twin_engine_model(tw->eng, j->dev);
    size_t ci, pi;
    const struct ht_twin_prop *tp = NULL;
    if (!strncmp(j->ref, HT_TWIN_SELF ".", strlen(HT_TWIN_SELF) + 1)) {
        const struct ht_twin_tprop *t =
            ht_twin_model_tprop(m, j->ref + strlen(HT_TWIN_SELF) + 1);
        if (t && t->ntargets) {
            tp = &m->comps[t->targets[0].comp].props[t->targets[0].prop];
            w->invert = t->targets[0].invert;
        }
    } else if (ht_twin_model_find_prop(m, j->ref, &ci, &pi) == HT_OK) {
        tp = &m->comps[ci].props[pi];
    }
    if (tp) {
        w->conv.conv_a = tp->conv_a;
        w->conv.conv_b = tp->conv_b;
        w->conv.scale = tp->scale;
        w->conv.offset = tp->offset;
        w->numeric = json_is_number(j->value);
    }
    struct gw_job *kids[HT_TWIN_MAX_TARGETS] = {0};
    size_t nk = n < HT_TWIN_MAX_TARGETS ? n : HT_TWIN_MAX_TARGETS;
    for (size_t i = 0; i < nk; i++) {
        json_array_append_new(w->results, json_null());
        struct gw_job *c = gw__job_new(GW_JOB_WRITE, cmds[i].device, j->actor);
        ht_strlcpy(c->prop, cmds[i].prop, sizeof c->prop);
        c->value = json_incref(cmds[i].value);
        snprintf(c->ref, sizeof c->ref, "%zu", i);
        c->on_complete = write_child_done;
        c->ud = w;
        c->gated = true;
        kids[i] = c;
    }
    w->n = w->left = nk;
    ht_twin_writes_free(cmds, n);
    /* Queue the commands behind whatever the HTTP thread sent; the event
     * module runs them on its next wake-up like any property write. */
    if (gw__jobs_queue(g, kids, nk)) {
        for (size_t i = 0; i < nk; i++)
            gw__job_unref(g, kids[i]);
        json_decref(w->results);
        free(w);
        job_fail(g, j, 503, "shutting_down", "Gateway stopping",
                 "the gateway is shutting down");
    }
}

static void twins_job(struct ht_gw *g, struct gw_job *j)
{
    if (!g->twins) {
        job_fail(g, j, 503, "unavailable", "Twins unavailable", NULL);
        return;
    }
    switch (j->kind) {
    case GW_JOB_TWIN_PUT:
        job_put(g, j);
        break;
    case GW_JOB_TWIN_DELETE:
        job_delete(g, j);
        break;
    default:
        job_write(g, j);
        break;
    }
}

/* ---- start-up ---- */

static void load_stored(struct ht_gw *g)
{
    struct gw_twins *tw = g->twins;
    json_t *list = ht_store_twin_list(g->store);
    size_t i;
    json_t *it;
    json_array_foreach(list, i, it)
    {
        const char *id = json_string_value(json_object_get(it, "id"));
        json_t *doc = NULL;
        int version = 0;
        if (!id || ht_store_twin_get(g->store, id, &doc, &version) != HT_OK)
            continue;
        json_object_set_new(doc, "version", json_integer(version));
        char err[512];
        if (ht_twin_engine_put(tw->eng, doc, gw__now_ms(g), err, sizeof err))
            ht_log(LOG_ERR, MOD, "stored twin %s not loaded: %s", id, err);
        else
            entry_set(tw, id, doc, version, false, NULL);
        json_decref(doc);
    }
    json_decref(list);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One twin file: applied (stored as a new version) unless the store
 * already holds the same document. */
static int load_file(struct ht_gw *g, const char *path, char *err,
                     size_t errlen)
{
    struct gw_twins *tw = g->twins;
    json_error_t je;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column,
                 je.text);
        return HT_EPARSE;
    }
    struct ht_twin_model *m = NULL;
    char msg[512];
    int rc = ht_twin_model_parse(doc, &m, msg, sizeof msg, NULL, 0);
    if (rc) {
        snprintf(err, errlen, "%s: %s", path, msg);
        json_decref(doc);
        return rc;
    }
    char id[65];
    ht_strlcpy(id, m->id, sizeof id);
    ht_twin_model_free(m);
    json_t *old = NULL;
    int version = 0;
    if (ht_store_twin_get(g->store, id, &old, &version) == HT_OK) {
        json_object_set_new(doc, "version", json_integer(version));
        if (json_equal(old, doc)) {
            json_decref(old);
            json_decref(doc);
            return HT_OK;
        }
        json_decref(old);
    }
    json_object_set_new(doc, "version", json_integer(version + 1));
    rc = ht_store_twin_put(g->store, id, doc, gw__now_ms(g), &version);
    if (rc == HT_OK) {
        json_object_set_new(doc, "version", json_integer(version));
        rc = ht_twin_engine_put(tw->eng, doc, gw__now_ms(g), msg, sizeof msg);
        if (rc)
            snprintf(err, errlen, "%s: %s", path, msg);
        else
            entry_set(tw, id, doc, version, false, NULL);
    } else {
        snprintf(err, errlen, "%s: cannot store: %s", path, ht_strerror(rc));
    }
    if (rc == HT_OK)
        ht_log(LOG_INFO, MOD, "twin %s version %d from %s", id, version, path);
    json_decref(doc);
    return rc;
}

static int load_dir(struct ht_gw *g, const char *dir, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "twins.dir %s: cannot open", dir);
        return HT_EIO;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l < 6 ||
            strcmp(de->d_name + l - 5, ".json"))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = ht_realloc(names, cap * sizeof *names);
        }
        names[n++] = ht_asprintf("%s/%s", dir, de->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    int rc = HT_OK;
    for (size_t i = 0; i < n; i++) {
        if (rc == HT_OK)
            rc = load_file(g, names[i], err, errlen);
        free(names[i]);
    }
    free(names);
    return rc;
}

static const struct gw_ingest_sub ingest_sub = {
    .on_value = on_value,
    .on_status = on_status,
    .on_stale = on_stale,
    .on_td = on_td,
    .on_removed = on_removed,
};

int gw__twins_init(struct ht_gw *g, char *err, size_t errlen)
{
    struct gw_twins *tw = ht_calloc(1, sizeof *tw);
    pthread_mutex_init(&tw->mu, NULL);
    pthread_mutex_init(&tw->asset_mu, NULL);
    tw->eng = ht_twin_engine_new(on_engine_event, tw);
    ht_twin_engine_on_alarm(tw->eng, on_engine_alarm, tw);
    ht_twin_engine_on_drive(tw->eng, on_engine_drive, g);
    ht_twin_engine_on_action(tw->eng, on_engine_action, g);
    tw->timer = ht_timer_new(g->loop, on_timer, g);
    tw->flush = ht_timer_new(g->loop, on_flush, g);
    tw->prep = ht_prepare_new(g->loop, on_prepare, g);
    tw->desc_timer = ht_timer_new(g->loop, on_desc_timer, g);
    tw->pub_timer = ht_timer_new(g->loop, on_pub_timer, g);
    tw->loading = true;
    tw->g = g;
    g->twins = tw;
    gw__ingest_subscribe(g, &ingest_sub);
    for (int k = GW_JOB_TWIN_PUT; k <= GW_JOB_TWIN_WRITE; k++)
        gw__jobs_handle(g, (enum gw_job_kind)k, twins_job);
    int rc = gw__assets_init(g, err, errlen);
    if (rc)
        return rc;
    load_stored(g);
    const char *dir = g->conf->twins_dir;
    if (dir && *dir && (rc = load_dir(g, dir, err, errlen)))
        return rc;
    /* Automatic twins and what the registry already knows. */
    for (size_t i = 0; i < g->reg->ndevs; i++) {
        struct gw_dev *d = g->reg->devs[i];
        if (d->state != GW_APPROVED || !d->thing)
            continue;
        auto_sync(g, d->id, d->thing, d->td_version);
        feed_device(g, d);
    }
    drain(g);
    for (size_t i = 0; i < tw->n; i++)
        mark_dirty(tw, tw->v[i]->id);
    /* State snapshots and descriptors in the background, in slices:
     * serving starts without waiting for thousands of them (a state read
     * meanwhile is 503 "being computed"). */
    tw->loading = false;
    ht_timer_start(tw->flush, 0, 0);
    desc_queue_all(g, false);
    ht_log(LOG_INFO, MOD, "%zu twins loaded", tw->n);
    return HT_OK;
}

void gw__twins_clear(struct ht_gw *g)
{
    struct gw_twins *tw = g->twins;
    if (!tw)
        return;
    ht_timer_free(tw->timer);
    ht_timer_free(tw->flush);
    ht_timer_free(tw->desc_timer);
    ht_timer_free(tw->pub_timer);
    for (size_t i = 0; i < tw->npubq; i++)
        free(tw->pubq[i]);
    free(tw->pubq);
    ht_prepare_free(tw->prep);
    for (size_t i = tw->descq_pos; i < tw->ndescq; i++)
        free(tw->descq[i]);
    free(tw->descq);
    for (size_t i = 0; i < tw->ndirty; i++)
        free(tw->dirty[i]);
    free(tw->dirty);
    ht_twin_engine_free(tw->eng);
    for (size_t i = 0; i < tw->nq; i++) {
        json_decref(tw->q[i].ev);
        free(tw->q[i].twin);
        json_decref(tw->q[i].changed);
    }
    free(tw->q);
    for (size_t i = 0; i < tw->nheld; i++) {
        free(tw->held[i].twin);
        free(tw->held[i].data);
    }
    free(tw->held);
    for (size_t i = 0; i < tw->n; i++)
        entry_free(tw->v[i]);
    free(tw->v);
    free(tw->asset_dir);
    pthread_mutex_destroy(&tw->mu);
    pthread_mutex_destroy(&tw->asset_mu);
    free(tw);
    g->twins = NULL;
}

void gw__twins_uplink_subscribe(struct ht_gw *g,
                                const struct gw_twins_uplink_sub *s)
{
    if (s)
        g->twins->uplink_sub = *s;
    else
        memset(&g->twins->uplink_sub, 0, sizeof g->twins->uplink_sub);
}

/* ---- alarms ---- */

void gw__twins_alarm_subscribe(struct ht_gw *g,
                               const struct gw_twins_alarm_sub *s)
{
    g->twins->alarm_sub = *s;
}

int gw__twins_alarm_cmd(struct ht_gw *g, enum ht_twin_alarm_cmd cmd,
                        const struct ht_twin_alarm_req *rq, char *err,
                        size_t errlen)
{
    int rc = ht_twin_engine_alarm_cmd(g->twins->eng, cmd, rq, gw__now_ms(g),
                                      err, errlen);
    if (rc == HT_OK) {
        drain(g);
        flush(g);
    }
    return rc;
}

int gw__twins_alarm_restore(struct ht_gw *g, const char *twin, const char *rule,
                            const json_t *state)
{
    struct gw_twins *tw = g->twins;
    int rc =
        ht_twin_engine_alarm_restore(tw->eng, twin, rule, state, gw__now_ms(g));
    if (rc == HT_OK) {
        mark_dirty(tw, twin);
        drain(g); /* a reconciling transition, the shelf timer */
    }
    return rc;
}

/* ---- snapshots for the HTTP thread ---- */

/* One entry as the twin list shows it (tw->mu held; new). */
static json_t *entry_info(const struct tw_entry *e)
{
    json_t *o = json_pack("{s:s, s:s, s:i, s:I, s:b, s:b, s:I}", "id", e->id,
                          "title", e->title, "version", e->version, "updated",
                          (json_int_t)e->updated, "auto", e->is_auto, "stable",
                          e->stable, "alarms", (json_int_t)e->nalarms);
    if (e->is_auto)
        json_object_set_new(o, "device", json_string(e->dev));
    return o;
}

json_t *gw__twins_list(struct ht_gw *g)
{
    struct gw_twins *tw = g->twins;
    json_t *a = json_array();
    pthread_mutex_lock(&tw->mu);
    for (size_t i = 0; i < tw->n; i++)
        json_array_append_new(a, entry_info(tw->v[i]));
    pthread_mutex_unlock(&tw->mu);
    return a;
}

json_t *gw__twin_info(struct ht_gw *g, const char *id)
{
    struct gw_twins *tw = g->twins;
    pthread_mutex_lock(&tw->mu);
    struct tw_entry *e = search(tw, id, NULL);
    json_t *o = e ? entry_info(e) : NULL;
    pthread_mutex_unlock(&tw->mu);
    return o;
}

bool gw__twin_exists(struct ht_gw *g, const char *id, bool *is_auto)
{
    struct gw_twins *tw = g->twins;
    pthread_mutex_lock(&tw->mu);
    struct tw_entry *e = search(tw, id, NULL);
    if (e && is_auto)
        *is_auto = e->is_auto;
    pthread_mutex_unlock(&tw->mu);
    return e != NULL;
}

/* A copy of a text field of one entry (new) or NULL. */
static char *entry_text(struct ht_gw *g, const char *id, bool state)
{
    struct gw_twins *tw = g->twins;
    char *s = NULL;
    pthread_mutex_lock(&tw->mu);
    struct tw_entry *e = search(tw, id, NULL);
    const char *src = e ? (state ? e->state : e->doc) : NULL;
    if (src)
        s = ht_strdup(src);
    pthread_mutex_unlock(&tw->mu);
    return s;
}

json_t *gw__twin_doc(struct ht_gw *g, const char *id)
{
    char *s = entry_text(g, id, false);
    json_t *j = s ? json_loads(s, 0, NULL) : NULL;
    free(s);
    return j;
}

char *gw__twin_state_text(struct ht_gw *g, const char *id, size_t *len)
{
    struct gw_twins *tw = g->twins;
    char *s = NULL;
    pthread_mutex_lock(&tw->mu);
    struct tw_entry *e = search(tw, id, NULL);
    if (e && e->state) {
        size_t n = strlen(e->state);
        s = ht_malloc(n + 2);
        memcpy(s, e->state, n);
        s[n] = '\n';
        s[n + 1] = '\0';
        *len = n + 1;
    }
    pthread_mutex_unlock(&tw->mu);
    return s;
}

struct ht_twin_model *gw__twin_model(struct ht_gw *g, const char *id)
{
    json_t *doc = gw__twin_doc(g, id);
    struct ht_twin_model *m = NULL;
    char err[256];
    if (doc)
        ht_twin_model_parse(doc, &m, err, sizeof err, NULL, 0);
    json_decref(doc);
    return m;
}

uint64_t gw__twins_gen(struct ht_gw *g)
{
    struct gw_twins *tw = g->twins;
    if (!tw)
        return 0;
    pthread_mutex_lock(&tw->mu);
    uint64_t gen = tw->gen;
    pthread_mutex_unlock(&tw->mu);
    return gen;
}

json_t *gw__twin_ids(struct ht_gw *g)
{
    struct gw_twins *tw = g->twins;
    json_t *a = json_array();
    pthread_mutex_lock(&tw->mu);
    for (size_t i = 0; i < tw->n; i++)
        json_array_append_new(a, json_string(tw->v[i]->id));
    pthread_mutex_unlock(&tw->mu);
    return a;
}

json_t *gw__twin_td(struct ht_gw *g, const char *id)
{
    struct ht_twin_model *m = gw__twin_model(g, id);
    if (!m)
        return NULL;
    size_t n;
    struct ht_sem_thing **things = gw__twin_things(g, m, &n);
    char *http = gw__http_base(g);
    bool basic;
    char *mqtt = gw__mqtt_td_base(g, &basic);
    struct ht_sem_forms f = {
        .mqtt_base = mqtt,
        .topic_prefix = g->conf->mqtt_prefix,
        .http_base = http,
        .gateway = true,
        .kind = "twin",
        .security = "bearer",
        .mqtt_security = basic ? "basic" : NULL,
        .mqtt_no_commands = true,
    };
    json_t *td =
        ht_twin_td_build(m, (const struct ht_sem_thing *const *)things, n, &f);
    free(http);
    free(mqtt);
    gw__things_free(things, n);
    ht_twin_model_free(m);
    return td;
}

int gw__twin_ui(struct ht_gw *g, const char *id, enum ht_ui_target target,
                enum ht_ui_role role, char **out, size_t *len,
                char etag[HT_UI_ETAG_LEN], char *err, size_t errlen)
{
    *out = NULL;
    struct ht_twin_model *m = gw__twin_model(g, id);
    if (!m)
        return HT_ENOENT;
    int rc = render(g, m, target, role, out, len, etag, err, errlen);
    ht_twin_model_free(m);
    return rc;
}
