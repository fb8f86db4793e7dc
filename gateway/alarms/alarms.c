/* alarms.c - the gateway's alarm glue: every transition the twin engine
 * reports is journaled (store), each touched twin's alarm list is rebuilt
 * once per loop iteration for the HTTP thread and published as a retained
 * MQTT summary, operators' commands arrive as GW_JOB_ALARM jobs, and the
 * newest journaled state of every alarm is restored at start-up so that a
 * restart does not forget what was acknowledged, shelved or taken out of
 * service.
 *
 * The twin glue owns the engine and calls us through the subscription
 * registered in gw__alarms_init; we never include anything that includes
 * us, so the module graph stays one-way (scripts/check-deps).
 */
#include "gateway/alarms/alarms.h"
#include "gateway/jobs/jobs.h"
#include "gateway/metrics/metrics.h"
#include "gateway/store/store.h"
#include "gateway/twinglue/twinglue.h"

#include "twins/twin.h"

#include "ht_err.h"
#include "ht_id.h"
#include "ht_log.h"
#include "ht_loop.h"
#include "ht_mem.h"
#include "ht_mqtt.h"
#include "ht_topic.h"
#include "ht_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "alarms"

struct gw_alarms {
    pthread_mutex_t mu; /* snap, for the HTTP thread */
    json_t *snap;       /* twin -> its alarms' states, most urgent first */
    json_t *dirty;      /* loop: twins whose list is rebuilt at next flush */
    json_t *summaries;  /* loop: twin -> last published summary (string) */
    struct ht_prepare *prep;
    unsigned connects;
};

/* ---- retained summaries ---- */

static void publish(struct ht_gw *g, const char *twin, const char *text)
{
    char topic[HT_TOPIC_MAX];
    if (!g->mqtt || !ht_mqtt_connected(g->mqtt) ||
        ht_topic_build(topic, sizeof topic, g->conf->mqtt_prefix,
                       HT_TOPIC_TWIN_ALARMS, twin, NULL) < 0)
        return; /* republished on the next connect (on_prepare) */
    size_t len = strlen(text);
    /* As the twin topics: QoS 0, and QoS 1 for the clear of a removed twin
     * (nothing would repeat it). */
    int rc = ht_mqtt_publish(g->mqtt, topic, text, len, len ? 0 : 1, true, NULL,
                             NULL);
    if (rc)
        ht_log(LOG_DEBUG, MOD, "publish %s: %s", topic, ht_strerror(rc));
}

/* What an HMD app needs at a glance: counts, the most urgent priority
 * waiting for an acknowledgement, the first-out alarm, and the alarms that
 * are not normal (new). */
static json_t *summary(const char *twin, const json_t *all, int64_t now)
{
    json_t *open = json_array(), *highest = json_null(), *first = json_null();
    size_t unacked = 0, active = 0, i;
    json_t *a;
    json_array_foreach(all, i, a)
    {
        const char *st = json_string_value(json_object_get(a, "state"));
        if (!st || !strcmp(st, "normal"))
            continue;
        json_array_append(open, a);
        if (json_is_true(json_object_get(a, "unacknowledged"))) {
            /* The list is most urgent first: the first one is highest. */
            if (!unacked++)
                highest = json_incref(json_object_get(a, "priority"));
        }
        active += !strncmp(st, "active_", 7);
        if (json_is_true(json_object_get(a, "first_out"))) {
            json_decref(first);
            first = json_incref(json_object_get(a, "rule"));
        }
    }
    return json_pack("{s:s, s:I, s:I, s:I, s:o, s:o, s:o}", "twin", twin, "ts",
                     (json_int_t)now, "unacknowledged", (json_int_t)unacked,
                     "active", (json_int_t)active, "highest", highest,
                     "first_out", first, "alarms", open);
}

/* ---- the twin glue's subscription (loop thread) ---- */

static void mark(struct gw_alarms *al, const char *twin)
{
    json_object_set_new(al->dirty, twin, json_true());
}

/* One transition: journal it (batched with the values; survives a kill -9
 * like them) and rebuild the twin's list at the end of the iteration. */
static void on_alarm(struct ht_gw *g, const json_t *d, void *ud)
{
    struct gw_alarms *al = ud;
    const json_t *state = json_object_get(d, "alarm");
    const char *twin = json_string_value(json_object_get(d, "twin"));
    struct ht_store_alarm a = {
        .ts = json_integer_value(json_object_get(d, "ts")),
        .twin = twin,
        .rule = json_string_value(json_object_get(d, "rule")),
        .from = json_string_value(json_object_get(d, "from")),
        .to = json_string_value(json_object_get(d, "to")),
        .cause = json_string_value(json_object_get(d, "cause")),
        .who = json_string_value(json_object_get(d, "who")),
        .note = json_string_value(json_object_get(d, "note")),
        .priority = json_string_value(json_object_get(state, "priority")),
        .state = state,
    };
    if (!a.twin || !a.rule || !a.from || !a.to || !a.cause)
        return;
    int rc = ht_store_alarm_add(g->store, &a);
    if (rc)
        ht_log(LOG_ERR, MOD, "alarm %s:%s %s -> %s not journaled: %s", a.twin,
               a.rule, a.from, a.to, ht_strerror(rc));
    pthread_mutex_lock(&g->metrics->mu);
    g->metrics->alarm_transitions++;
    g->metrics->alarm_annunciations += !strcmp(a.to, "active_unacknowledged");
    pthread_mutex_unlock(&g->metrics->mu);
    mark(al, twin);
}

static void on_twin(struct ht_gw *g, const char *twin, void *ud)
{
    (void)g;
    mark(ud, twin);
}

/* A twin was deleted: its alarms that were not normal end in the journal
 * with cause "removed" (the engine reports nothing for a removal), so the
 * journal never shows an alarm that stays open for ever. */
static void on_removed(struct ht_gw *g, const char *twin, void *ud)
{
    struct gw_alarms *al = ud;
    pthread_mutex_lock(&al->mu);
    json_t *last = json_incref(json_object_get(al->snap, twin));
    json_object_del(al->snap, twin);
    pthread_mutex_unlock(&al->mu);
    size_t i;
    json_t *a;
    int64_t now = gw__now_ms(g);
    json_array_foreach(last, i, a)
    {
        const char *st = json_string_value(json_object_get(a, "state"));
        if (!st || !strcmp(st, "normal"))
            continue;
        json_t *end = json_deep_copy(a);
        json_object_set_new(end, "state", json_string("normal"));
        json_object_set_new(end, "since", json_integer(now));
        struct ht_store_alarm r = {
            .ts = now,
            .twin = twin,
            .rule = json_string_value(json_object_get(a, "rule")),
            .from = st,
            .to = "normal",
            .cause = "removed",
            .priority = json_string_value(json_object_get(a, "priority")),
            .state = end,
        };
        if (r.rule)
            ht_store_alarm_add(g->store, &r);
        json_decref(end);
    }
    json_decref(last);
    json_object_del(al->dirty, twin);
    if (json_object_get(al->summaries, twin)) {
        json_object_del(al->summaries, twin);
        publish(g, twin, "");
    }
}

/* Rebuild the lists of the twins touched since the last flush and publish
 * their summaries, before the held SSE events go out: a client that reads
 * GET /api/v1/alarms after an "alarm" event sees that transition. */
static void on_flush(struct ht_gw *g, void *ud)
{
    struct gw_alarms *al = ud;
    if (!json_object_size(al->dirty))
        return;
    json_t *dirty = al->dirty;
    al->dirty = json_object();
    const char *twin;
    json_t *v;
    json_object_foreach(dirty, twin, v)
    {
        if (!ht_twin_engine_model(g->twins->eng, twin))
            continue; /* removed meanwhile */
        json_t *all = ht_twin_engine_alarms(g->twins->eng, twin, true);
        size_t i;
        json_t *a;
        json_array_foreach(all, i, a)
        {
            char *id = ht_asprintf(
                "%s:%s", twin, json_string_value(json_object_get(a, "rule")));
            json_object_set_new(a, "id", json_string(id));
            free(id);
        }
        json_t *sum = summary(twin, all, gw__now_ms(g));
        char *text = json_dumps(sum, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(sum);
        pthread_mutex_lock(&al->mu);
        json_object_set_new(al->snap, twin, all);
        pthread_mutex_unlock(&al->mu);
        if (text) {
            publish(g, twin, text);
            json_object_set_new(al->summaries, twin, json_string(text));
            free(text);
        }
    }
    json_decref(dirty);
}

/* Retained topics may be gone with the broker's state: republish after
 * each new connection. */
static void on_prepare(struct ht_prepare *p, void *ud)
{
    (void)p;
    struct ht_gw *g = ud;
    struct gw_alarms *al = g->alarms;
    if (!g->mqtt || !ht_mqtt_connected(g->mqtt))
        return;
    unsigned c = ht_mqtt_connects(g->mqtt);
    if (c == al->connects)
        return;
    al->connects = c;
    const char *twin;
    json_t *v;
    json_object_foreach(al->summaries, twin, v)
        publish(g, twin, json_string_value(v));
}

/* ---- commands (GW_JOB_ALARM, loop thread) ---- */

/* The job carries the command in its audit action ("alarm-ack", ...),
 * the twin in dev and {"rule","note"?,"duration_ms"?} in value. */
static void alarm_job(struct ht_gw *g, struct gw_job *j)
{
    enum ht_twin_alarm_cmd cmd;
    const char *rule = json_string_value(json_object_get(j->value, "rule"));
    if (!g->twins || !j->action || strncmp(j->action, "alarm-", 6) ||
        ht_twin_alarm_cmd_parse(j->action + 6, &cmd) || !rule) {
        gw__job_fail(g, j, 400, "bad_request", "Bad Request",
                     "unknown alarm command");
        return;
    }
    struct ht_twin_alarm_req rq = {
        .twin = j->dev,
        .rule = rule,
        .who = j->actor,
        .note = json_string_value(json_object_get(j->value, "note")),
        .shelve_ms =
            json_integer_value(json_object_get(j->value, "duration_ms")),
    };
    char err[256];
    int rc = gw__twins_alarm_cmd(g, cmd, &rq, err, sizeof err);
    if (rc == HT_ENOENT) {
        gw__job_fail(g, j, 404, "unknown_alarm", "Unknown alarm", err);
    } else if (rc == HT_ESTATE) {
        gw__job_fail(g, j, 409, "alarm_state", "Not in this state", err);
    } else if (rc) {
        gw__job_fail(g, j, 400, "bad_request", "Bad Request", err);
    } else {
        json_t *a = ht_twin_engine_alarm(g->twins->eng, j->dev, rule);
        char *id = ht_asprintf("%s:%s", j->dev, rule);
        json_object_set_new(a, "id", json_string(id));
        free(id);
        ht_log(LOG_NOTICE, MOD, "alarm %s:%s %s by %s", j->dev, rule,
               j->action + 6, j->actor);
        gw__job_complete(g, j, 200, a, "ok");
    }
}

/* The commands: verb, audit action (static: the job keeps the pointer)
 * and the least role, as the REST routes (routes_api.c) have them. */
static const struct {
    const char *verb, *action;
    enum gw_role role;
} cmds[] = {
    {"ack", "alarm-ack", GW_ROLE_OPERATOR},
    {"shelve", "alarm-shelve", GW_ROLE_OPERATOR},
    {"unshelve", "alarm-unshelve", GW_ROLE_OPERATOR},
    {"out-of-service", "alarm-out-of-service", GW_ROLE_TECHNICIAN},
    {"in-service", "alarm-in-service", GW_ROLE_TECHNICIAN},
};

int gw__alarms_cmd_parse(const char *verb, const char *rule, const json_t *body,
                         const char **action, json_t **value,
                         enum gw_role *role, char *err, size_t errlen)
{
    size_t i = 0;
    while (i < sizeof cmds / sizeof *cmds && strcmp(cmds[i].verb, verb))
        i++;
    if (i == sizeof cmds / sizeof *cmds)
        return HT_ENOENT;
    if (!rule || !ht_id_valid(rule)) {
        snprintf(err, errlen, "the rule must be an id");
        return HT_EINVAL;
    }
    if (body && !json_is_object(body)) {
        snprintf(err, errlen, "the body must be a JSON object");
        return HT_EINVAL;
    }
    bool shelve = !strcmp(verb, "shelve");
    json_t *v = json_pack("{s:s}", "rule", rule);
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)body, k, x)
    {
        if (!strcmp(k, "note") && json_is_string(x) &&
            json_string_length(x) <= HT_TWIN_MAX_STR) {
            json_object_set(v, k, x);
        } else if (!strcmp(k, "duration_ms") && shelve && json_is_integer(x) &&
                   json_integer_value(x) >= 1 &&
                   json_integer_value(x) <= HT_TWIN_MAX_SHELVE_MS) {
            json_object_set(v, k, x);
        } else {
            snprintf(err, errlen, "\"%.40s\": %s", k,
                     !strcmp(k, "note") ? "a string of at most 256 bytes"
                     : shelve && !strcmp(k, "duration_ms")
                         ? "an integer from 1 to 86400000 (ms)"
                         : "unknown member");
            json_decref(v);
            return HT_EINVAL;
        }
    }
    if (shelve && !json_object_get(v, "duration_ms")) {
        snprintf(err, errlen, "shelve needs {\"duration_ms\": 1..86400000}");
        json_decref(v);
        return HT_EINVAL;
    }
    *action = cmds[i].action;
    *value = v;
    *role = cmds[i].role;
    return HT_OK;
}

/* ---- set-up ---- */

static void restore_one(void *ud, const char *twin, const char *rule,
                        const json_t *state)
{
    struct ht_gw *g = ud;
    int rc = gw__twins_alarm_restore(g, twin, rule, state);
    if (rc && rc != HT_ENOENT)
        ht_log(LOG_WARNING, MOD, "alarm %s:%s not restored: %s", twin, rule,
               ht_strerror(rc));
}

int gw__alarms_init(struct ht_gw *g, char *err, size_t errlen)
{
    struct gw_alarms *al = ht_calloc(1, sizeof *al);
    pthread_mutex_init(&al->mu, NULL);
    al->snap = json_object();
    al->dirty = json_object();
    al->summaries = json_object();
    al->prep = ht_prepare_new(g->loop, on_prepare, g);
    g->alarms = al;
    struct gw_twins_alarm_sub sub = {
        .on_alarm = on_alarm,
        .on_flush = on_flush,
        .on_twin = on_twin,
        .on_removed = on_removed,
        .ud = al,
    };
    gw__twins_alarm_subscribe(g, &sub);
    gw__jobs_handle(g, GW_JOB_ALARM, alarm_job);
    /* Every twin's list is built once the journal's newest state of each
     * alarm (its life cycle before the restart) is restored. */
    pthread_mutex_lock(&g->twins->mu);
    for (size_t i = 0; i < g->twins->n; i++)
        mark(al, g->twins->v[i]->id);
    pthread_mutex_unlock(&g->twins->mu);
    int rc = ht_store_alarm_latest_each(g->store, restore_one, g);
    if (rc)
        snprintf(err, errlen, "alarm journal: %s", ht_strerror(rc));
    else
        on_flush(g, al); /* the lists exist before HTTP serves them */
    return rc;
}

void gw__alarms_clear(struct ht_gw *g)
{
    struct gw_alarms *al = g->alarms;
    if (!al)
        return;
    if (g->twins) {
        struct gw_twins_alarm_sub none = {0};
        gw__twins_alarm_subscribe(g, &none);
    }
    ht_prepare_free(al->prep);
    json_decref(al->snap);
    json_decref(al->dirty);
    json_decref(al->summaries);
    pthread_mutex_destroy(&al->mu);
    free(al);
    g->alarms = NULL;
}

/* ---- the HTTP thread's reads ---- */

static int prio_rank(const json_t *a)
{
    enum ht_twin_priority p = HT_TWIN_PRIO_LOW;
    ht_twin_priority_parse(json_string_value(json_object_get(a, "priority")),
                           &p);
    return (int)p;
}

/* The engine's order across twins: priority, unacknowledged first,
 * newest, then by id so that equal alarms never swap. */
static int cmp_alarm(const void *pa, const void *pb)
{
    const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    int d = prio_rank(a) - prio_rank(b);
    if (d)
        return d;
    bool ua = json_is_true(json_object_get(a, "unacknowledged"));
    bool ub = json_is_true(json_object_get(b, "unacknowledged"));
    if (ua != ub)
        return ua ? -1 : 1;
    json_int_t sa = json_integer_value(json_object_get(a, "since"));
    json_int_t sb = json_integer_value(json_object_get(b, "since"));
    if (sa != sb)
        return sa > sb ? -1 : 1;
    return strcmp(json_string_value(json_object_get(a, "id")),
                  json_string_value(json_object_get(b, "id")));
}

static bool passes(const json_t *a, const struct gw_alarm_filter *f)
{
    const char *st = json_string_value(json_object_get(a, "state"));
    const char *pr = json_string_value(json_object_get(a, "priority"));
    if (!st || !pr)
        return false;
    if (!f->all && !f->state && !strcmp(st, "normal"))
        return false;
    if (f->state && strcmp(st, f->state))
        return false;
    if (f->priority && strcmp(pr, f->priority))
        return false;
    return !f->unacked || json_is_true(json_object_get(a, "unacknowledged"));
}

json_t *gw__alarms_list(struct ht_gw *g, const struct gw_alarm_filter *f)
{
    struct gw_alarms *al = g->alarms;
    json_t *out = json_array();
    if (!al)
        return out;
    size_t n = 0, cap = 16;
    json_t **v = ht_malloc(cap * sizeof *v);
    pthread_mutex_lock(&al->mu);
    const char *twin;
    json_t *list;
    json_object_foreach(al->snap, twin, list)
    {
        if (f->twin && strcmp(twin, f->twin))
            continue;
        size_t i;
        json_t *a;
        json_array_foreach(list, i, a)
        {
            if (!passes(a, f))
                continue;
            if (n == cap) {
                cap *= 2;
                v = ht_realloc(v, cap * sizeof *v);
            }
            /* A copy: the loop replaces the lists under mu, and the
             * reference counts of what it owns stay its own. */
            v[n++] = json_deep_copy(a);
        }
    }
    pthread_mutex_unlock(&al->mu);
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_alarm);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(out, v[i]);
    free(v);
    return out;
}
