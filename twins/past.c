/* past.c - a twin's state at an instant, rebuilt (twin.h, "the past"). */
#include "twins/twin.h"

#include "ht_err.h"
#include "ht_mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One recorded happening, replayed in time order. */
struct past_ev {
    int64_t ts;
    const struct ht_twin_past_value *v;  /* or */
    const struct ht_twin_past_status *s; /* this */
    size_t ord;                          /* input order breaks ties */
    bool stale;                          /* v: its going stale */
};

/* Time order; at one instant a device's status first (see below). */
static int ev_cmp(const void *a, const void *b)
{
    const struct past_ev *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    if (!x->v != !y->v)
        return x->v ? 1 : -1;
    return x->ord < y->ord ? -1 : x->ord > y->ord;
}

/* A value carries the board's time stamp, a status the gateway's. A value
 * stamped during the device's last outage (after it went offline, before
 * the gateway saw it back: typically sampled while reconnecting) reached
 * the gateway after it came back, so it is replayed then. */
static int64_t arrival(const struct ht_twin_past_status *sts, size_t nsts,
                       const char *device, int64_t ts, int64_t at)
{
    int64_t off = 0, on = 0;
    for (size_t i = 0; i < nsts; i++) {
        if (sts[i].ts > at || strcmp(sts[i].device, device))
            continue;
        int64_t *t = sts[i].online ? &on : &off;
        if (sts[i].ts > *t)
            *t = sts[i].ts;
    }
    return off && on > off && ts >= off && ts < on ? on : ts;
}

/* Whether a journaled alarm state has its condition active. */
static bool journal_active(const json_t *st)
{
    return json_is_true(json_object_get(st, "active"));
}

json_t *ht_twin_state_at(const json_t *doc,
                         const struct ht_twin_past_value *vals, size_t nvals,
                         const struct ht_twin_past_status *sts, size_t nsts,
                         const json_t *alarms, int64_t at, char *err,
                         size_t errlen)
{
    size_t n = 0;
    struct past_ev *evs = ht_malloc((3 * nvals + nsts + 1) * sizeof *evs);
    for (size_t i = 0; i < nvals; i++) {
        const struct ht_twin_past_value *v = &vals[i];
        if (!v->v || v->ts > at)
            continue;
        evs[n] = (struct past_ev){arrival(sts, nsts, v->device, v->ts, at), v,
                                  NULL, n, false},
        n++;
        /* A confirmation is the value again; both only after the value. */
        if (v->good_ts > v->ts && v->good_ts <= at)
            evs[n] = (struct past_ev){v->good_ts, v, NULL, n, false}, n++;
        if (v->stale_ts > v->ts && v->stale_ts <= at)
            evs[n] = (struct past_ev){v->stale_ts, v, NULL, n, true}, n++;
    }
    for (size_t i = 0; i < nsts; i++)
        if (sts[i].ts <= at)
            evs[n] = (struct past_ev){sts[i].ts, NULL, &sts[i], n, false}, n++;
    qsort(evs, n, sizeof *evs, ev_cmp);
    struct ht_twin_engine *e = ht_twin_engine_new(NULL, NULL);
    json_t *out = NULL;
    int64_t t0 = n ? evs[0].ts : at;
    if (ht_twin_engine_put(e, doc, t0, err, errlen) == HT_OK) {
        for (size_t i = 0; i < n; i++) {
            if (evs[i].v && evs[i].stale)
                ht_twin_engine_set_stale(e, evs[i].v->device, evs[i].v->prop,
                                         evs[i].ts);
            else if (evs[i].v)
                ht_twin_engine_set_value(e, evs[i].v->device, evs[i].v->prop,
                                         evs[i].v->v, evs[i].ts);
            else
                ht_twin_engine_set_device_status(e, evs[i].s->device,
                                                 evs[i].s->online, evs[i].ts);
        }
        ht_twin_engine_tick(e, at);
        const char *id = json_string_value(json_object_get(doc, "id"));
        out = ht_twin_engine_state(e, id ? id : "");
    }
    free(evs);
    const struct ht_twin_model *m =
        out ? ht_twin_engine_model(
                  e, json_string_value(json_object_get(out, "id")))
            : NULL;
    if (!out || !m) {
        ht_twin_engine_free(e);
        return out;
    }
    /* Alarms from the journal: the life cycle and whether the condition
     * was active then, which on-delays make unknowable from the last
     * values alone. */
    json_t *rules = json_object_get(out, "rules");
    json_t *list = json_array();
    json_t *states = json_object();
    bool stable = true;
    for (size_t r = 0; r < m->nrules; r++) {
        const struct ht_twin_rule *rule = &m->rules[r];
        json_t *ro = json_object_get(rules, rule->id);
        const json_t *js =
            rule->alarm ? json_object_get(alarms, rule->id) : NULL;
        if (js) {
            json_object_set_new(states, rule->id, json_deep_copy(js));
            const char *as = json_string_value(json_object_get(js, "state"));
            json_object_set_new(ro, "alarm", json_string(as ? as : "normal"));
            const char *rs = json_string_value(json_object_get(ro, "state"));
            /* An input unknown then (offline, stale) leaves the rule
             * unknown, as the live engine had it. */
            if (rs && !strcmp(rs, "unknown"))
                ;
            else if (journal_active(js))
                json_object_set_new(ro, "state", json_string("active"));
            else if (rs && !strcmp(rs, "active"))
                json_object_set_new(ro, "state", json_string("inactive"));
        } else if (rule->alarm) {
            /* Nothing journaled at or before that instant: the alarm was
             * normal (a device stamps a value before the gateway sees it,
             * so its condition may look raised a moment early). */
            json_object_set_new(ro, "alarm", json_string("normal"));
            const char *rs = json_string_value(json_object_get(ro, "state"));
            if (rs && !strcmp(rs, "active"))
                json_object_set_new(ro, "state", json_string("inactive"));
        }
        const char *rs = json_string_value(json_object_get(ro, "state"));
        bool active = rs && !strcmp(rs, "active");
        if (rule->severity >= HT_TWIN_SEV_WARNING &&
            (active || (rs && !strcmp(rs, "unknown"))))
            stable = false;
        if (active) {
            json_t *since = js ? json_object_get(js, "raised") : NULL;
            json_t *a =
                json_pack("{s:s, s:s, s:s}", "rule", rule->id, "severity",
                          ht_twin_severity_name(rule->severity), "message",
                          rule->message);
            /* The live engine's "since": when the condition became active. */
            int64_t s = json_is_integer(since) ? json_integer_value(since) : 0;
            if (!s) {
                json_t *old = json_object_get(out, "alarms");
                size_t k;
                json_t *o;
                json_array_foreach(
                    old, k,
                    o) if (!strcmp(json_string_value(json_object_get(o,
                                                                     "rule")),
                                   rule->id)) s =
                    json_integer_value(json_object_get(o, "since"));
            }
            json_object_set_new(a, "since", json_integer(s));
            json_array_append_new(list, a);
        }
    }
    json_object_set_new(out, "alarms", list);
    json_object_set_new(out, "alarm_states", states);
    json_object_set_new(out, "stable", json_boolean(stable));
    json_object_set_new(out, "at", json_integer(at));
    json_object_set_new(out, "ts", json_integer(at));
    ht_twin_engine_free(e);
    return out;
}
