/* engine.c - the twin engine: latest device values, twin bindings, rule
 * evaluation and events.
 *
 * Incremental by construction: every device property value lives in one
 * slot, each slot knows which (twin, property) bindings use it, and each
 * bound property knows which rules read it. A value change therefore costs
 * the rules that reference it, not the whole twin set. Duration rules keep
 * the time their condition became true; the earliest pending deadline is
 * what the caller arms a single loop timer for.
 *
 * Alarms (ISA-18.2) sit on top of the rule states: a rule's condition
 * (with its on/off delays and deadband) decides ACTIVE, and the alarm's
 * life cycle (acknowledged, shelved, suppressed, out of service) moves
 * with it and with operators' commands. Time only ever comes from the
 * caller's now_ms; every deadline (delays, shelf expiry) is folded into
 * one next_deadline.
 */
#include "twin_internal.h"

#include "ht_err.h"
#include "ht_id.h"
#include "ht_json.h"
#include "ht_mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 1024 /* initial; both tables double at load factor 1 */
/* Values of unbound properties are remembered for twins added later, up
 * to this many slots; beyond it only bound properties are kept. */
#define MAX_SLOTS 65536

struct slot;

/* A device: a hash chain member, with its slots so that a status change
 * costs that device's properties, not every slot. */
struct dev {
    char *id;
    bool offline;
    uint64_t gen; /* changes with offline (see struct skey) */
    struct slot **slots;
    size_t nslots, cap;
    struct dev *next;
};

struct twin;

struct sub {
    struct twin *t;
    size_t flat; /* index into twin->fp */
};

struct slot {
    char *device, *prop;
    struct dev *dev;
    json_t *v; /* last scalar value or NULL */
    int64_t ts;
    bool stale;   /* predates the device's last outage */
    uint64_t gen; /* changes with v, ts and stale (see struct skey) */
    struct sub *subs;
    size_t nsubs, cap;
    struct slot *next;
};

/* Run-time data of one bound component property. */
struct fprop {
    const struct ht_twin_prop *p;
    char *ref;    /* "component.property" */
    json_t *jref; /* ref as a JSON string, shared by the STATE events */
    struct slot *slot;
    size_t *rules; /* rules reading it */
    size_t nrules;
    bool changed;          /* scratch: changed in this call */
    bool dev_changed;      /* the device reported since the last drive check */
    int cmd;               /* "driven_by": last value commanded, -1 none */
    struct twin__val last; /* the input as actions last saw it */
};

struct rrule {
    enum ht_twin_rule_state state;
    int64_t true_since;           /* -1 when the condition is not true */
    int64_t false_since;          /* off-delay running since, or -1 */
    int64_t since;                /* when the alarm was raised */
    size_t *flat;                 /* reference i -> fp index */
    size_t *sflat;                /* suppression reference i -> fp index */
    bool dirty;                   /* scratch */
    bool suppressed;              /* the suppression condition is true */
    enum ht_twin_alarm_state ast; /* the life cycle */
    int64_t ast_since;            /* when ast was entered */
    int64_t shelved_until;
    char *by, *note; /* the last command's who and note, or NULL */
};

struct twin {
    struct ht_twin_model *m;
    struct fprop *fp;
    size_t nfp;
    struct rrule *rr;
    bool stable;
    int64_t ts;
    bool touched;  /* scratch */
    int first_out; /* the rule that raised first, or -1 */
    size_t ntimed; /* rules with a deadline */
    /* The snapshot's keys in the order its text has them (sorted, one
     * entry per key: a later duplicate wins, as in a JSON object), built
     * once with the twin: properties, then rule indices by id. */
    struct skey *pkeys;
    size_t npkeys;
    size_t *rorder;
    size_t nrorder;
};

struct skey {
    char *key;
    size_t flat, seq;
    bool invert;
    /* A property's text in the snapshot, kept with the generations of its
     * slot and device it was written from: a snapshot rewrites only the
     * properties that changed (they were 85 % of its cost). Generations
     * come from one engine counter, so no two states share one. */
    char *frag; /* NULL: none yet */
    size_t flen;
    bool fok; /* prop_text wrote it (false: the property is left out) */
    uint64_t sgen, dgen;
};

struct ht_twin_engine {
    ht_twin_event_fn cb;
    void *ud;
    struct slot **buckets; /* hash chains by (device, property) */
    size_t nbuckets, nslots;
    struct dev **devs; /* hash chains by device id */
    size_t ndevb, ndevs;
    struct twin **twins; /* sorted by id */
    size_t ntwins;
    size_t ntimed; /* rules with a deadline, all twins */
    uint64_t evals;
    ht_twin_alarm_fn alarm_cb;
    void *alarm_ud;
    ht_twin_drive_fn drive_cb;
    void *drive_ud;
    ht_twin_action_fn action_cb;
    void *action_ud;
    uint64_t gen; /* the last slot or device generation given out */
};

static uint32_t fnv(const char *a, const char *b)
{
    uint32_t h = 2166136261u;
    for (; *a; a++)
        h = (h ^ (unsigned char)*a) * 16777619u;
    h = (h ^ '/') * 16777619u;
    for (; *b; b++)
        h = (h ^ (unsigned char)*b) * 16777619u;
    return h;
}

static uint32_t fnv1(const char *a)
{
    uint32_t h = 2166136261u;
    for (; *a; a++)
        h = (h ^ (unsigned char)*a) * 16777619u;
    return h;
}

static struct dev *dev_get(const struct ht_twin_engine *e, const char *id)
{
    for (struct dev *d = e->devs[fnv1(id) % e->ndevb]; d; d = d->next)
        if (!strcmp(d->id, id))
            return d;
    return NULL;
}

/* Double the device table: chains stay short with 10,000 boards. */
static void dev_grow(struct ht_twin_engine *e)
{
    size_t n = 2 * e->ndevb;
    struct dev **v = ht_calloc(n, sizeof *v);
    for (size_t b = 0; b < e->ndevb; b++)
        for (struct dev *d = e->devs[b], *next; d; d = next) {
            next = d->next;
            uint32_t k = fnv1(d->id) % n;
            d->next = v[k];
            v[k] = d;
        }
    free(e->devs);
    e->devs = v;
    e->ndevb = n;
}

static struct dev *dev_make(struct ht_twin_engine *e, const char *id)
{
    struct dev *d = dev_get(e, id);
    if (d)
        return d;
    if (e->ndevs >= e->ndevb)
        dev_grow(e);
    uint32_t b = fnv1(id) % e->ndevb;
    d = ht_calloc(1, sizeof *d);
    d->id = ht_strdup(id);
    d->gen = ++e->gen;
    d->next = e->devs[b];
    e->devs[b] = d;
    e->ndevs++;
    return d;
}

static void slot_grow(struct ht_twin_engine *e)
{
    size_t n = 2 * e->nbuckets;
    struct slot **v = ht_calloc(n, sizeof *v);
    for (size_t b = 0; b < e->nbuckets; b++)
        for (struct slot *sl = e->buckets[b], *next; sl; sl = next) {
            next = sl->next;
            uint32_t k = fnv(sl->device, sl->prop) % n;
            sl->next = v[k];
            v[k] = sl;
        }
    free(e->buckets);
    e->buckets = v;
    e->nbuckets = n;
}

static struct slot *slot_get(struct ht_twin_engine *e, const char *device,
                             const char *prop, bool create)
{
    uint32_t h = fnv(device, prop);
    for (struct slot *s = e->buckets[h % e->nbuckets]; s; s = s->next)
        if (!strcmp(s->device, device) && !strcmp(s->prop, prop))
            return s;
    if (!create)
        return NULL;
    if (e->nslots >= e->nbuckets)
        slot_grow(e);
    uint32_t b = h % e->nbuckets;
    struct slot *s = ht_calloc(1, sizeof *s);
    s->gen = ++e->gen;
    s->device = ht_strdup(device);
    s->prop = ht_strdup(prop);
    s->dev = dev_make(e, device);
    struct dev *d = s->dev;
    if (d->nslots == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 4;
        d->slots = ht_realloc(d->slots, d->cap * sizeof *d->slots);
    }
    d->slots[d->nslots++] = s;
    s->next = e->buckets[b];
    e->buckets[b] = s;
    e->nslots++;
    return s;
}

static enum ht_twin_quality slot_quality(const struct slot *s)
{
    if (s->dev->offline)
        return HT_TWIN_Q_OFFLINE;
    if (!s->v)
        return HT_TWIN_Q_UNKNOWN;
    return s->stale ? HT_TWIN_Q_STALE : HT_TWIN_Q_GOOD;
}

static bool identity(const struct ht_twin_prop *p)
{
    return p->scale == 1 && p->offset == 0 && p->conv_a == 1 && p->conv_b == 0;
}

/* The twin-side JSON value of a bound property (new) or JSON null. */
static json_t *twin_value(const struct fprop *f)
{
    const json_t *v = f->slot->v;
    if (!v)
        return json_null();
    if (json_is_number(v) && !identity(f->p))
        return json_real(ht_twin_prop_to_twin(f->p, json_number_value(v)));
    return json_copy((json_t *)v);
}

/* ---- events ---- */

static void emit(struct ht_twin_engine *e, struct ht_twin_event *ev)
{
    if (e->cb)
        e->cb(ev, e->ud);
}

static void emit_alarm(struct ht_twin_engine *e, struct twin *t, size_t r,
                       bool raised, int64_t now)
{
    const struct ht_twin_rule *rule = &t->m->rules[r];
    struct ht_twin_event ev = {
        .type = raised ? HT_TWIN_EV_ALARM_RAISED : HT_TWIN_EV_ALARM_CLEARED,
        .twin = t->m->id,
        .ts = now,
        .rule = rule->id,
        .severity = rule->severity,
        .message = rule->message,
        .stable = t->stable,
    };
    emit(e, &ev);
}

/* ---- evaluation ---- */

static struct twin__val input(const struct fprop *f)
{
    struct twin__val v = {.t = TWIN_V_UNKNOWN};
    if (slot_quality(f->slot) != HT_TWIN_Q_GOOD)
        return v;
    const json_t *j = f->slot->v;
    if (json_is_boolean(j)) {
        v.t = TWIN_V_BOOL;
        v.b = json_is_true(j);
    } else if (json_is_number(j)) {
        v.t = TWIN_V_NUM;
        v.n = ht_twin_prop_to_twin(f->p, json_number_value(j));
    }
    return v;
}

/* ---- actions ---- */

static size_t pref_flat(const struct ht_twin_model *m,
                        const struct ht_twin_pref *p)
{
    size_t f = p->prop;
    for (size_t c = 0; c < p->comp; c++)
        f += m->comps[c].nprops;
    return f;
}

/* A twin value as JSON (new): integral numbers stay integers. */
static json_t *val_json(struct twin__val v)
{
    if (v.t == TWIN_V_BOOL)
        return json_boolean(v.b);
    if (v.n == (double)(json_int_t)v.n)
        return json_integer((json_int_t)v.n);
    return json_real(v.n);
}

static void fire(struct ht_twin_engine *e, const struct twin *t,
                 const struct ht_twin_action *a, struct twin__val v,
                 int64_t now)
{
    if (!e->action_cb)
        return;
    json_t *jv = a->value ? json_incref(a->value) : val_json(v);
    e->action_cb(t->m->id, a->name, a->write, jv, now, e->action_ud);
    json_decref(jv);
}

/* The edge actions of the inputs that changed in this call: an edge needs
 * a known value before and after, so a value that arrives after a
 * restart, a reconnect or an outage starts nothing. */
static void edge_actions(struct ht_twin_engine *e, struct twin *t, int64_t now)
{
    const struct ht_twin_model *m = t->m;
    for (size_t i = 0; i < m->nactions; i++) {
        const struct ht_twin_action *a = &m->actions[i];
        if (a->trigger == HT_TWIN_TRIG_ALARM)
            continue;
        struct fprop *f = &t->fp[pref_flat(m, &a->on)];
        if (!f->changed)
            continue;
        struct twin__val o = f->last, n = input(f);
        bool go = false;
        if (o.t == TWIN_V_BOOL && n.t == TWIN_V_BOOL)
            go = a->trigger == HT_TWIN_TRIG_RISING    ? !o.b && n.b
                 : a->trigger == HT_TWIN_TRIG_FALLING ? o.b && !n.b
                                                      : o.b != n.b;
        else if (o.t == TWIN_V_NUM && n.t == TWIN_V_NUM)
            go = a->trigger == HT_TWIN_TRIG_CHANGE && o.n != n.n;
        if (go)
            fire(e, t, a, n, now);
    }
    for (size_t i = 0; i < t->nfp; i++)
        if (t->fp[i].changed)
            t->fp[i].last = input(&t->fp[i]);
}

static void alarm_actions(struct ht_twin_engine *e, const struct twin *t,
                          size_t r, int64_t now)
{
    for (size_t i = 0; i < t->m->nactions; i++)
        if (t->m->actions[i].trigger == HT_TWIN_TRIG_ALARM &&
            t->m->actions[i].rule == r)
            fire(e, t, &t->m->actions[i], (struct twin__val){0}, now);
}

/* When rule r next needs the clock, or -1: an on-delay ending, an
 * off-delay ending, a shelf expiring. */
static int64_t rule_deadline(const struct twin *t, size_t r)
{
    const struct rrule *rr = &t->rr[r];
    const struct ht_twin_rule *rule = &t->m->rules[r];
    int64_t d = -1;
    if (rr->state == HT_TWIN_RULE_PENDING)
        d = rr->true_since + rule->for_ms;
    else if (rr->state == HT_TWIN_RULE_ACTIVE && rr->false_since >= 0)
        d = rr->false_since + rule->off_delay_ms;
    if (rr->ast == HT_TWIN_ALARM_SHELVED && (d < 0 || rr->shelved_until < d))
        d = rr->shelved_until;
    return d;
}

/* Recount a twin's timed rules after a call touched it, so that the
 * deadline query and tick are free when nothing waits for the clock. */
static void timed_recount(struct ht_twin_engine *e, struct twin *t)
{
    size_t n = 0;
    for (size_t r = 0; r < t->m->nrules; r++)
        n += rule_deadline(t, r) >= 0;
    e->ntimed = e->ntimed - t->ntimed + n;
    t->ntimed = n;
}

/* ---- alarms ---- */

static bool unacked(enum ht_twin_alarm_state s)
{
    return s == HT_TWIN_ALARM_ACTIVE_UNACK || s == HT_TWIN_ALARM_RETURNED_UNACK;
}

/* In annunciation: raised, or returned but not yet acknowledged. */
static bool annunciated(enum ht_twin_alarm_state s)
{
    return unacked(s) || s == HT_TWIN_ALARM_ACTIVE_ACKED;
}

static json_t *alarm_json(const struct twin *t, size_t r)
{
    const struct ht_twin_rule *rule = &t->m->rules[r];
    const struct rrule *rr = &t->rr[r];
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:s, s:s, s:s, s:I}", "twin",
        t->m->id, "rule", rule->id, "state", ht_twin_alarm_state_name(rr->ast),
        "active", rr->state == HT_TWIN_RULE_ACTIVE, "unacknowledged",
        unacked(rr->ast), "suppressed", rr->suppressed, "first_out",
        t->first_out == (int)r, "priority",
        ht_twin_priority_name(rule->priority), "severity",
        ht_twin_severity_name(rule->severity), "message", rule->message,
        "since", (json_int_t)rr->ast_since);
    if (rule->action)
        json_object_set_new(o, "action", json_string(rule->action));
    if (rr->state == HT_TWIN_RULE_ACTIVE)
        json_object_set_new(o, "raised", json_integer(rr->since));
    if (rr->ast == HT_TWIN_ALARM_SHELVED)
        json_object_set_new(o, "shelved_until",
                            json_integer(rr->shelved_until));
    if (rr->by)
        json_object_set_new(o, "by", json_string(rr->by));
    if (rr->note)
        json_object_set_new(o, "note", json_string(rr->note));
    return o;
}

/* Move alarm r to state `to` and report the transition. A command's who
 * and note are kept until the next command or a fresh annunciation. The
 * first-out alarm is the one that raised while nothing else of its twin
 * was in annunciation; it keeps the mark until it leaves annunciation. */
static void alarm_set(struct ht_twin_engine *e, struct twin *t, size_t r,
                      enum ht_twin_alarm_state to, const char *cause,
                      const char *who, const char *note, int64_t now)
{
    struct rrule *rr = &t->rr[r];
    enum ht_twin_alarm_state from = rr->ast;
    if (from == to)
        return;
    rr->ast = to;
    rr->ast_since = now;
    if (to != HT_TWIN_ALARM_SHELVED)
        rr->shelved_until = -1;
    if (who || to == HT_TWIN_ALARM_ACTIVE_UNACK || to == HT_TWIN_ALARM_NORMAL) {
        free(rr->by);
        free(rr->note);
        rr->by = who ? ht_strdup(who) : NULL;
        rr->note = who && note && *note ? ht_strdup(note) : NULL;
    }
    if (to == HT_TWIN_ALARM_ACTIVE_UNACK && !annunciated(from) &&
        t->first_out < 0) {
        bool alone = true;
        for (size_t o = 0; o < t->m->nrules && alone; o++)
            alone = o == r || !annunciated(t->rr[o].ast);
        if (alone)
            t->first_out = (int)r;
    }
    if (t->first_out == (int)r && !annunciated(to))
        t->first_out = -1;
    if (!e->alarm_cb)
        return;
    json_t *a = alarm_json(t, r);
    struct ht_twin_alarm_event ev = {.twin = t->m->id,
                                     .rule = t->m->rules[r].id,
                                     .from = from,
                                     .to = to,
                                     .cause = cause,
                                     .who = who,
                                     .note = note,
                                     .ts = now,
                                     .alarm = a};
    e->alarm_cb(&ev, e->alarm_ud);
    json_decref(a);
}

/* Where an alarm goes when it comes back from shelving or service. */
static enum ht_twin_alarm_state alarm_resume(const struct rrule *rr)
{
    if (rr->suppressed)
        return HT_TWIN_ALARM_SUPPRESSED;
    return rr->state == HT_TWIN_RULE_ACTIVE ? HT_TWIN_ALARM_ACTIVE_UNACK
                                            : HT_TWIN_ALARM_NORMAL;
}

/* Follow the condition and the suppression with the life cycle. Shelved
 * and out-of-service alarms wait for their operator or their clock. An
 * unknown condition (a device offline, values not received yet after a
 * restart) moves nothing: a lost input is no evidence that the alarm
 * returned, so an unacknowledged alarm stays so. */
static void alarm_update(struct ht_twin_engine *e, struct twin *t, size_t r,
                         int64_t now)
{
    const struct rrule *rr = &t->rr[r];
    if (!t->m->rules[r].alarm)
        return;
    bool cond = rr->state == HT_TWIN_RULE_ACTIVE;
    enum ht_twin_alarm_state to = rr->ast;
    const char *cause = "condition";
    switch (rr->ast) {
    case HT_TWIN_ALARM_SHELVED:
    case HT_TWIN_ALARM_OUT_OF_SERVICE:
        return;
    case HT_TWIN_ALARM_SUPPRESSED:
        if (rr->suppressed)
            return;
        to = alarm_resume(rr);
        cause = "unsuppressed";
        break;
    default:
        if (rr->suppressed) {
            to = HT_TWIN_ALARM_SUPPRESSED;
            cause = "suppressed";
        } else if (rr->state == HT_TWIN_RULE_UNKNOWN) {
            return;
        } else if (cond) {
            if (rr->ast == HT_TWIN_ALARM_NORMAL ||
                rr->ast == HT_TWIN_ALARM_RETURNED_UNACK)
                to = HT_TWIN_ALARM_ACTIVE_UNACK;
        } else if (rr->ast == HT_TWIN_ALARM_ACTIVE_UNACK) {
            to = HT_TWIN_ALARM_RETURNED_UNACK;
        } else if (rr->ast == HT_TWIN_ALARM_ACTIVE_ACKED) {
            to = HT_TWIN_ALARM_NORMAL;
        }
    }
    alarm_set(e, t, r, to, cause, NULL, NULL, now);
}

/* Command the "driven_by" properties of a twin when their value changed,
 * or when the device reported something else (it restarted, or someone
 * wrote to it): the twin, not the last writer, owns a driven output. */
static void drive_check(struct ht_twin_engine *e, struct twin *t, int64_t now)
{
    int unack = -1, active = -1;
    for (size_t i = 0; i < t->nfp; i++) {
        struct fprop *f = &t->fp[i];
        if (f->p->drive == HT_TWIN_DRIVE_NONE)
            continue;
        if (unack < 0) {
            unack = active = 0;
            for (size_t r = 0; r < t->m->nrules; r++) {
                unack |= unacked(t->rr[r].ast);
                active |= t->rr[r].ast == HT_TWIN_ALARM_ACTIVE_UNACK ||
                          t->rr[r].ast == HT_TWIN_ALARM_ACTIVE_ACKED;
            }
        }
        int want = f->p->drive == HT_TWIN_DRIVE_UNACKED ? unack : active;
        const json_t *v = f->slot->v;
        bool differs = f->dev_changed &&
                       slot_quality(f->slot) == HT_TWIN_Q_GOOD &&
                       json_is_boolean(v) && json_is_true(v) != want;
        f->dev_changed = false;
        if (f->cmd == want && !differs)
            continue;
        f->cmd = want;
        if (!e->drive_cb)
            continue;
        struct ht_twin_write w = {.device = f->p->device,
                                  .prop = f->p->device_prop,
                                  .value = json_boolean(want)};
        e->drive_cb(t->m->id, &w, now, e->drive_ud);
        json_decref(w.value);
    }
}

/* ---- rule evaluation ---- */

/* Re-evaluate one rule at now and report a raised/cleared alarm. An
 * active rule is evaluated with its deadband, and returns only after its
 * off-delay; the suppression condition is read in the same pass. */
static void eval_rule(struct ht_twin_engine *e, struct twin *t, size_t r,
                      int64_t now)
{
    const struct ht_twin_rule *rule = &t->m->rules[r];
    struct rrule *rr = &t->rr[r];
    size_t n = twin__expr_nrefs(rule->expr);
    struct twin__val vals[32];
    for (size_t i = 0; i < n && i < 32; i++)
        vals[i] = input(&t->fp[rr->flat[i]]);
    enum ht_twin_rule_state old = rr->state, st;
    struct twin__val res = twin__expr_eval_hold(
        rule->expr, vals, old == HT_TWIN_RULE_ACTIVE ? rule->deadband : 0);
    e->evals++;
    if (rule->suppress) {
        n = twin__expr_nrefs(rule->suppress);
        for (size_t i = 0; i < n && i < 32; i++)
            vals[i] = input(&t->fp[rr->sflat[i]]);
        struct twin__val sup = twin__expr_eval(rule->suppress, vals);
        rr->suppressed = sup.t == TWIN_V_BOOL && sup.b;
    }
    if (res.t != TWIN_V_BOOL) {
        st = HT_TWIN_RULE_UNKNOWN;
        rr->true_since = rr->false_since = -1;
    } else if (!res.b) {
        rr->true_since = -1;
        st = HT_TWIN_RULE_INACTIVE;
        if (old == HT_TWIN_RULE_ACTIVE && rule->off_delay_ms > 0) {
            if (rr->false_since < 0)
                rr->false_since = now;
            if (now - rr->false_since < rule->off_delay_ms)
                st = HT_TWIN_RULE_ACTIVE;
        }
        if (st != HT_TWIN_RULE_ACTIVE)
            rr->false_since = -1;
    } else {
        rr->false_since = -1;
        if (rr->true_since < 0)
            rr->true_since = now;
        st = (rule->for_ms == 0 || now - rr->true_since >= rule->for_ms)
                 ? HT_TWIN_RULE_ACTIVE
                 : HT_TWIN_RULE_PENDING;
        if (old == HT_TWIN_RULE_ACTIVE)
            st = HT_TWIN_RULE_ACTIVE;
    }
    rr->state = st;
    if (st == HT_TWIN_RULE_ACTIVE && old != HT_TWIN_RULE_ACTIVE) {
        rr->since = now;
        emit_alarm(e, t, r, true, now);
        alarm_actions(e, t, r, now);
    } else if (st != HT_TWIN_RULE_ACTIVE && old == HT_TWIN_RULE_ACTIVE) {
        emit_alarm(e, t, r, false, now);
    }
    alarm_update(e, t, r, now);
}

/* Stable: every rule of severity warning or above is known to be inactive
 * (or only pending). An unknown rule is not stable: we cannot vouch for a
 * machine whose inputs we cannot see (docs/twins.md). */
static bool compute_stable(const struct twin *t)
{
    for (size_t r = 0; r < t->m->nrules; r++) {
        if (t->m->rules[r].severity < HT_TWIN_SEV_WARNING)
            continue;
        if (t->rr[r].state == HT_TWIN_RULE_ACTIVE ||
            t->rr[r].state == HT_TWIN_RULE_UNKNOWN)
            return false;
    }
    return true;
}

static void update_stable(struct ht_twin_engine *e, struct twin *t, int64_t now,
                          bool force)
{
    bool s = compute_stable(t);
    if (s == t->stable && !force)
        return;
    t->stable = s;
    t->ts = now;
    struct ht_twin_event ev = {
        .type = HT_TWIN_EV_STABLE, .twin = t->m->id, .ts = now, .stable = s};
    emit(e, &ev);
}

/* Emit the state event, run the dirty rules, then the stable event; the
 * order lets consumers apply state before alarms. */
static void process(struct ht_twin_engine *e, struct twin *t, int64_t now)
{
    edge_actions(e, t, now);
    json_t *changed = json_array();
    for (size_t i = 0; i < t->nfp; i++)
        if (t->fp[i].changed)
            json_array_append(changed, t->fp[i].jref);
    /* A twin-level property mirrors its first target: it changed with it,
     * so live clients see it without re-reading the whole state. */
    const struct ht_twin_model *m = t->m;
    for (size_t i = 0; i < m->ntprops; i++) {
        const struct ht_twin_target *tg = &m->tprops[i].targets[0];
        size_t flat = tg->prop;
        for (size_t c = 0; c < tg->comp; c++)
            flat += m->comps[c].nprops;
        if (flat < t->nfp && t->fp[flat].changed)
            json_array_append_new(
                changed, json_sprintf(HT_TWIN_SELF ".%s", m->tprops[i].name));
    }
    for (size_t i = 0; i < t->nfp; i++)
        t->fp[i].changed = false;
    if (json_array_size(changed)) {
        t->ts = now;
        struct ht_twin_event ev = {.type = HT_TWIN_EV_STATE,
                                   .twin = t->m->id,
                                   .ts = now,
                                   .changed = changed,
                                   .stable = t->stable};
        emit(e, &ev);
    }
    json_decref(changed);
    for (size_t r = 0; r < t->m->nrules; r++)
        if (t->rr[r].dirty) {
            t->rr[r].dirty = false;
            eval_rule(e, t, r, now);
        }
    update_stable(e, t, now, false);
    drive_check(e, t, now);
    timed_recount(e, t);
    t->touched = false;
}

/* Mark what a slot change affects; collects the touched twins. */
static void mark(struct slot *s, struct twin **touched, size_t *ntouched)
{
    for (size_t i = 0; i < s->nsubs; i++) {
        struct twin *t = s->subs[i].t;
        struct fprop *f = &t->fp[s->subs[i].flat];
        f->changed = true;
        f->dev_changed = true;
        for (size_t k = 0; k < f->nrules; k++)
            t->rr[f->rules[k]].dirty = true;
        if (!t->touched) {
            t->touched = true;
            touched[(*ntouched)++] = t;
        }
    }
}

static bool json_scalar_equal(const json_t *a, const json_t *b)
{
    if (!a || !b)
        return a == b;
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal((json_t *)a, (json_t *)b);
}

int ht_twin_engine_set_value(struct ht_twin_engine *e, const char *device_id,
                             const char *prop, const json_t *v, int64_t now_ms)
{
    if (!e || !device_id || !prop || !ht_id_valid(device_id) ||
        !ht_sem_name_valid(prop))
        return HT_EINVAL;
    struct slot *s = slot_get(e, device_id, prop, false);
    if (!s) {
        if (e->nslots >= MAX_SLOTS)
            return HT_OK;
        s = slot_get(e, device_id, prop, true);
    }
    json_t *nv = NULL;
    if (json_is_boolean(v) || json_is_number(v) || json_is_string(v))
        nv = json_copy((json_t *)v);
    if (json_is_real(nv) && !isfinite(json_real_value(nv))) {
        json_decref(nv);
        nv = NULL;
    }
    enum ht_twin_quality oldq = slot_quality(s);
    bool same = json_scalar_equal(s->v, nv);
    json_decref(s->v);
    s->v = nv;
    s->ts = now_ms;
    s->stale = false;
    s->gen = ++e->gen;
    if (same && oldq == slot_quality(s))
        return HT_OK;    /* a repeat: nothing to re-evaluate */
    struct twin *few[8]; /* a value feeds one or a few twins */
    struct twin **touched =
        s->nsubs < 8 ? few : ht_malloc((s->nsubs + 1) * sizeof *touched);
    size_t nt = 0;
    mark(s, touched, &nt);
    for (size_t i = 0; i < nt; i++)
        process(e, touched[i], now_ms);
    if (touched != few)
        free(touched);
    return HT_OK;
}

int ht_twin_engine_set_stale(struct ht_twin_engine *e, const char *device_id,
                             const char *prop, int64_t now_ms)
{
    if (!e || !device_id || !prop || !ht_id_valid(device_id) ||
        !ht_sem_name_valid(prop))
        return HT_EINVAL;
    struct slot *s = slot_get(e, device_id, prop, false);
    if (!s || !s->v || s->stale)
        return HT_OK;
    s->stale = true;
    s->gen = ++e->gen;
    struct twin **touched = ht_malloc((s->nsubs + 1) * sizeof *touched);
    size_t nt = 0;
    mark(s, touched, &nt);
    for (size_t i = 0; i < nt; i++)
        process(e, touched[i], now_ms);
    free(touched);
    return HT_OK;
}

int ht_twin_engine_set_device_status(struct ht_twin_engine *e,
                                     const char *device_id, bool online,
                                     int64_t now_ms)
{
    if (!e || !device_id || !ht_id_valid(device_id))
        return HT_EINVAL;
    struct dev *d = online ? dev_get(e, device_id) : dev_make(e, device_id);
    if (!d || d->offline == !online)
        return HT_OK;
    d->offline = !online;
    d->gen = ++e->gen;
    size_t nsubs = 0;
    for (size_t i = 0; i < d->nslots; i++)
        nsubs += d->slots[i]->nsubs;
    struct twin **touched = ht_malloc((nsubs + 1) * sizeof *touched);
    size_t nt = 0;
    for (size_t i = 0; i < d->nslots; i++) {
        struct slot *s = d->slots[i];
        if (online && s->v) {
            s->stale = true;
            s->gen = ++e->gen;
        }
        mark(s, touched, &nt);
    }
    for (size_t i = 0; i < nt; i++)
        process(e, touched[i], now_ms);
    free(touched);
    return HT_OK;
}

int64_t ht_twin_engine_next_deadline(const struct ht_twin_engine *e)
{
    int64_t best = -1;
    if (!e || !e->ntimed)
        return best;
    for (size_t i = 0; i < e->ntwins; i++) {
        const struct twin *t = e->twins[i];
        for (size_t r = 0; t->ntimed && r < t->m->nrules; r++) {
            int64_t d = rule_deadline(t, r);
            if (d >= 0 && (best < 0 || d < best))
                best = d;
        }
    }
    return best;
}

/* The deadlines due at now: an on-delay ends (raise), an off-delay ends
 * (return), a shelf expires. Conditions are not re-evaluated: any input
 * change would have done so already. */
void ht_twin_engine_tick(struct ht_twin_engine *e, int64_t now_ms)
{
    if (!e || !e->ntimed)
        return;
    for (size_t i = 0; i < e->ntwins; i++) {
        struct twin *t = e->twins[i];
        bool any = false;
        for (size_t r = 0; t->ntimed && r < t->m->nrules; r++) {
            struct rrule *rr = &t->rr[r];
            const struct ht_twin_rule *rule = &t->m->rules[r];
            if (rr->state == HT_TWIN_RULE_PENDING &&
                rr->true_since + rule->for_ms <= now_ms) {
                rr->state = HT_TWIN_RULE_ACTIVE;
                rr->since = now_ms;
                any = true;
                emit_alarm(e, t, r, true, now_ms);
                alarm_actions(e, t, r, now_ms);
                alarm_update(e, t, r, now_ms);
            } else if (rr->state == HT_TWIN_RULE_ACTIVE &&
                       rr->false_since >= 0 &&
                       rr->false_since + rule->off_delay_ms <= now_ms) {
                rr->state = HT_TWIN_RULE_INACTIVE;
                rr->false_since = -1;
                any = true;
                emit_alarm(e, t, r, false, now_ms);
                alarm_update(e, t, r, now_ms);
            }
            if (rr->ast == HT_TWIN_ALARM_SHELVED &&
                rr->shelved_until <= now_ms) {
                any = true;
                alarm_set(e, t, r, alarm_resume(rr), "shelve-expired", NULL,
                          NULL, now_ms);
            }
        }
        if (any) {
            update_stable(e, t, now_ms, false);
            drive_check(e, t, now_ms);
            timed_recount(e, t);
        }
    }
}

/* ---- twins ---- */

static void twin_free(struct ht_twin_engine *e, struct twin *t)
{
    if (!t)
        return;
    e->ntimed -= t->ntimed;
    for (size_t i = 0; i < t->nfp; i++) {
        struct slot *s = t->fp[i].slot;
        for (size_t k = 0; s && k < s->nsubs;) {
            if (s->subs[k].t == t)
                s->subs[k] = s->subs[--s->nsubs];
            else
                k++;
        }
        free(t->fp[i].ref);
        json_decref(t->fp[i].jref);
        free(t->fp[i].rules);
    }
    for (size_t r = 0; t->rr && r < t->m->nrules; r++) {
        free(t->rr[r].flat);
        free(t->rr[r].sflat);
        free(t->rr[r].by);
        free(t->rr[r].note);
    }
    free(t->fp);
    free(t->rr);
    for (size_t i = 0; i < t->npkeys; i++) {
        free(t->pkeys[i].key);
        free(t->pkeys[i].frag);
    }
    free(t->pkeys);
    free(t->rorder);
    ht_twin_model_free(t->m);
    free(t);
}

static int cmp_skey(const void *a, const void *b)
{
    const struct skey *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* The key order of the snapshot text (see struct twin): what
 * ht_twin_engine_state's object would hold, sorted as json_dumps's
 * JSON_SORT_KEYS sorts it. */
static void twin_keys(struct twin *t)
{
    const struct ht_twin_model *m = t->m;
    size_t n = t->nfp + m->ntprops;
    struct skey *k = ht_calloc(n + 1, sizeof *k);
    for (size_t i = 0; i < t->nfp; i++)
        k[i] =
            (struct skey){.key = ht_strdup(t->fp[i].ref), .flat = i, .seq = i};
    for (size_t i = 0; i < m->ntprops; i++) {
        const struct ht_twin_target *tg = &m->tprops[i].targets[0];
        size_t flat = tg->prop;
        for (size_t c = 0; c < tg->comp; c++)
            flat += m->comps[c].nprops;
        k[t->nfp + i] = (struct skey){
            .key = ht_asprintf(HT_TWIN_SELF ".%s", m->tprops[i].name),
            .flat = flat,
            .seq = t->nfp + i,
            .invert = tg->invert};
    }
    qsort(k, n, sizeof *k, cmp_skey);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && !strcmp(k[i].key, k[i + 1].key)) {
            free(k[i].key);
            continue;
        }
        k[w++] = k[i];
    }
    t->pkeys = k;
    t->npkeys = w;
    struct skey *r = ht_calloc(m->nrules + 1, sizeof *r);
    for (size_t i = 0; i < m->nrules; i++)
        r[i] =
            (struct skey){.key = (char *)m->rules[i].id, .flat = i, .seq = i};
    qsort(r, m->nrules, sizeof *r, cmp_skey);
    t->rorder = ht_calloc(m->nrules + 1, sizeof *t->rorder);
    for (size_t i = 0; i < m->nrules; i++)
        if (i + 1 == m->nrules || strcmp(r[i].key, r[i + 1].key))
            t->rorder[t->nrorder++] = r[i].flat;
    free(r);
}

/* Map the references of one of rule r's expressions to flat property
 * indices (new array), and subscribe the rule to each property once. */
static size_t *wire_refs(struct twin *t, size_t r, const struct ht_twin_expr *x)
{
    const struct ht_twin_model *m = t->m;
    size_t n = twin__expr_nrefs(x);
    size_t *flats = ht_calloc(n + 1, sizeof *flats);
    for (size_t i = 0; i < n; i++) {
        size_t ci, pi;
        /* Resolved by the parser already; cannot fail here. */
        ht_twin_model_find_prop(m, twin__expr_ref(x, i), &ci, &pi);
        size_t flat = 0;
        for (size_t c = 0; c < ci; c++)
            flat += m->comps[c].nprops;
        flat += pi;
        flats[i] = flat;
        struct fprop *f = &t->fp[flat];
        if (f->nrules && f->rules[f->nrules - 1] == r)
            continue;
        f->rules = ht_realloc(f->rules, (f->nrules + 1) * sizeof(size_t));
        f->rules[f->nrules++] = r;
    }
    return flats;
}

/* Wire a parsed model into the engine: slots, subscriptions, rule refs. */
static struct twin *twin_build(struct ht_twin_engine *e,
                               struct ht_twin_model *m)
{
    struct twin *t = ht_calloc(1, sizeof *t);
    t->m = m;
    for (size_t c = 0; c < m->ncomps; c++)
        t->nfp += m->comps[c].nprops;
    t->fp = ht_calloc(t->nfp + 1, sizeof *t->fp);
    size_t k = 0;
    for (size_t c = 0; c < m->ncomps; c++)
        for (size_t p = 0; p < m->comps[c].nprops; p++, k++) {
            struct fprop *f = &t->fp[k];
            f->p = &m->comps[c].props[p];
            f->cmd = -1;
            f->ref = ht_asprintf("%s.%s", m->comps[c].id, f->p->name);
            f->jref = json_string(f->ref);
            f->slot = slot_get(e, f->p->device, f->p->device_prop, true);
            struct slot *s = f->slot;
            if (s->nsubs == s->cap) {
                s->cap = s->cap ? 2 * s->cap : 4;
                s->subs = ht_realloc(s->subs, s->cap * sizeof *s->subs);
            }
            s->subs[s->nsubs++] = (struct sub){t, k};
        }
    t->rr = ht_calloc(m->nrules + 1, sizeof *t->rr);
    t->first_out = -1;
    for (size_t r = 0; r < m->nrules; r++) {
        struct rrule *rr = &t->rr[r];
        rr->true_since = rr->false_since = rr->shelved_until = -1;
        rr->flat = wire_refs(t, r, m->rules[r].expr);
        if (m->rules[r].suppress)
            rr->sflat = wire_refs(t, r, m->rules[r].suppress);
    }
    twin_keys(t);
    return t;
}

static size_t twin_index(const struct ht_twin_engine *e, const char *id,
                         bool *found)
{
    size_t lo = 0, hi = e->ntwins;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(e->twins[mid]->m->id, id);
        if (!c) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static struct twin *twin_find(const struct ht_twin_engine *e, const char *id)
{
    bool found;
    if (!e || !id)
        return NULL;
    size_t i = twin_index(e, id, &found);
    return found ? e->twins[i] : NULL;
}

struct ht_twin_engine *ht_twin_engine_new(ht_twin_event_fn cb, void *ud)
{
    struct ht_twin_engine *e = ht_calloc(1, sizeof *e);
    e->cb = cb;
    e->ud = ud;
    e->nbuckets = e->ndevb = NBUCKETS;
    e->buckets = ht_calloc(e->nbuckets, sizeof *e->buckets);
    e->devs = ht_calloc(e->ndevb, sizeof *e->devs);
    return e;
}

void ht_twin_engine_free(struct ht_twin_engine *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->ntwins; i++)
        twin_free(e, e->twins[i]);
    free(e->twins);
    for (size_t b = 0; b < e->nbuckets; b++) {
        struct slot *s = e->buckets[b];
        while (s) {
            struct slot *n = s->next;
            free(s->device);
            free(s->prop);
            json_decref(s->v);
            free(s->subs);
            free(s);
            s = n;
        }
    }
    for (size_t b = 0; b < e->ndevb; b++) {
        struct dev *d = e->devs[b];
        while (d) {
            struct dev *n = d->next;
            free(d->id);
            free(d->slots);
            free(d);
            d = n;
        }
    }
    free(e->buckets);
    free(e->devs);
    free(e);
}

int ht_twin_engine_put(struct ht_twin_engine *e, const json_t *doc,
                       int64_t now_ms, char *err, size_t errlen)
{
    struct ht_twin_model *m;
    int rc = ht_twin_model_parse(doc, &m, err, errlen, NULL, 0);
    if (rc)
        return rc;
    bool found;
    size_t idx = twin_index(e, m->id, &found);
    struct twin *old = found ? e->twins[idx] : NULL;
    struct twin *t = twin_build(e, m);
    t->ts = now_ms;
    /* Carry the state of unchanged rules over a replacement, so editing
     * a title does not re-raise every alarm; an alarm keeps its life cycle
     * (acknowledged, shelved, ...) under its rule id. */
    for (size_t r = 0; r < m->nrules; r++)
        t->rr[r].ast_since = now_ms;
    for (size_t r = 0; old && r < m->nrules; r++)
        for (size_t o = 0; o < old->m->nrules; o++) {
            if (strcmp(old->m->rules[o].id, m->rules[r].id))
                continue;
            struct rrule *n = &t->rr[r], *p = &old->rr[o];
            if (!strcmp(old->m->rules[o].expr_src, m->rules[r].expr_src)) {
                n->state = p->state;
                n->true_since = p->true_since;
                n->false_since = p->false_since;
                n->since = p->since;
            }
            if (!m->rules[r].alarm || !old->m->rules[o].alarm)
                continue;
            n->ast = p->ast;
            n->ast_since = p->ast_since;
            n->shelved_until = p->shelved_until;
            n->suppressed = p->suppressed;
            n->by = p->by ? ht_strdup(p->by) : NULL;
            n->note = p->note ? ht_strdup(p->note) : NULL;
            p->ast = HT_TWIN_ALARM_NORMAL; /* moved: not "removed" below */
            if (old->first_out == (int)o)
                t->first_out = (int)r;
        }
    timed_recount(e, t);
    if (old) {
        for (size_t o = 0; o < old->m->nrules; o++)
            if (old->rr[o].ast != HT_TWIN_ALARM_NORMAL)
                alarm_set(e, old, o, HT_TWIN_ALARM_NORMAL, "removed", NULL,
                          NULL, now_ms);
        for (size_t o = 0; o < old->m->nrules; o++) {
            if (old->rr[o].state != HT_TWIN_RULE_ACTIVE)
                continue;
            bool kept = false;
            for (size_t r = 0; r < m->nrules && !kept; r++)
                kept = t->rr[r].state == HT_TWIN_RULE_ACTIVE &&
                       !strcmp(old->m->rules[o].id, m->rules[r].id);
            if (!kept)
                emit_alarm(e, old, o, false, now_ms);
        }
        t->stable = old->stable;
        twin_free(e, old);
        e->twins[idx] = t;
    } else {
        e->twins = ht_realloc(e->twins, (e->ntwins + 1) * sizeof *e->twins);
        memmove(e->twins + idx + 1, e->twins + idx,
                (e->ntwins - idx) * sizeof *e->twins);
        e->twins[idx] = t;
        e->ntwins++;
    }
    for (size_t i = 0; i < t->nfp; i++) {
        t->fp[i].changed = true;
        t->fp[i].last = input(&t->fp[i]); /* a put fires no edge */
    }
    for (size_t r = 0; r < m->nrules; r++)
        t->rr[r].dirty = true;
    t->touched = true;
    json_t *changed = json_array();
    for (size_t i = 0; i < t->nfp; i++) {
        json_array_append(changed, t->fp[i].jref);
        t->fp[i].changed = false;
    }
    struct ht_twin_event ev = {.type = HT_TWIN_EV_STATE,
                               .twin = m->id,
                               .ts = now_ms,
                               .changed = changed,
                               .stable = t->stable};
    emit(e, &ev);
    json_decref(changed);
    for (size_t r = 0; r < m->nrules; r++) {
        t->rr[r].dirty = false;
        eval_rule(e, t, r, now_ms);
    }
    t->touched = false;
    /* A new twin always announces its stability; a replacement only when
     * it changed. */
    update_stable(e, t, now_ms, !old);
    drive_check(e, t, now_ms);
    timed_recount(e, t);
    return HT_OK;
}

int ht_twin_engine_remove(struct ht_twin_engine *e, const char *twin_id)
{
    bool found;
    if (!e || !twin_id)
        return HT_ENOENT;
    size_t idx = twin_index(e, twin_id, &found);
    if (!found)
        return HT_ENOENT;
    twin_free(e, e->twins[idx]);
    memmove(e->twins + idx, e->twins + idx + 1,
            (e->ntwins - idx - 1) * sizeof *e->twins);
    e->ntwins--;
    return HT_OK;
}

const struct ht_twin_model *ht_twin_engine_model(const struct ht_twin_engine *e,
                                                 const char *twin_id)
{
    struct twin *t = twin_find(e, twin_id);
    return t ? t->m : NULL;
}

size_t ht_twin_engine_count(const struct ht_twin_engine *e)
{
    return e ? e->ntwins : 0;
}

const char *ht_twin_engine_id(const struct ht_twin_engine *e, size_t i)
{
    return e && i < e->ntwins ? e->twins[i]->m->id : NULL;
}

bool ht_twin_engine_stable(const struct ht_twin_engine *e, const char *twin_id)
{
    struct twin *t = twin_find(e, twin_id);
    return t ? t->stable : false;
}

uint64_t ht_twin_engine_eval_count(const struct ht_twin_engine *e)
{
    return e ? e->evals : 0;
}

static json_t *prop_state(const struct fprop *f, bool invert)
{
    json_t *v = twin_value(f);
    if (invert && json_is_boolean(v)) {
        bool b = json_is_true(v);
        json_decref(v);
        v = json_boolean(!b);
    }
    return json_pack("{s:o, s:o, s:s}", "value", v, "ts",
                     f->slot->v ? json_integer(f->slot->ts) : json_null(),
                     "quality", ht_twin_quality_name(slot_quality(f->slot)));
}

json_t *ht_twin_engine_state(const struct ht_twin_engine *e,
                             const char *twin_id)
{
    const struct twin *t = twin_find(e, twin_id);
    if (!t)
        return NULL;
    const struct ht_twin_model *m = t->m;
    json_t *props = json_object();
    for (size_t i = 0; i < t->nfp; i++)
        json_object_set_new(props, t->fp[i].ref, prop_state(&t->fp[i], false));
    /* Twin-level properties mirror their first target. */
    for (size_t i = 0; i < m->ntprops; i++) {
        const struct ht_twin_target *tg = &m->tprops[i].targets[0];
        size_t flat = tg->prop;
        for (size_t c = 0; c < tg->comp; c++)
            flat += m->comps[c].nprops;
        char *key = ht_asprintf(HT_TWIN_SELF ".%s", m->tprops[i].name);
        json_object_set_new(props, key, prop_state(&t->fp[flat], tg->invert));
        free(key);
    }
    json_t *alarms = json_array();
    json_t *rules = json_object();
    for (size_t r = 0; r < m->nrules; r++) {
        const struct ht_twin_rule *rule = &m->rules[r];
        json_t *ro = json_pack(
            "{s:s, s:s}", "state", ht_twin_rule_state_name(t->rr[r].state),
            "severity", ht_twin_severity_name(rule->severity));
        if (rule->alarm) {
            json_object_set_new(
                ro, "priority",
                json_string(ht_twin_priority_name(rule->priority)));
            json_object_set_new(
                ro, "alarm",
                json_string(ht_twin_alarm_state_name(t->rr[r].ast)));
        }
        json_object_set_new(rules, rule->id, ro);
        if (t->rr[r].state == HT_TWIN_RULE_ACTIVE)
            json_array_append_new(
                alarms,
                json_pack("{s:s, s:s, s:s, s:I}", "rule", rule->id, "severity",
                          ht_twin_severity_name(rule->severity), "message",
                          rule->message, "since", (json_int_t)t->rr[r].since));
    }
    return json_pack("{s:s, s:I, s:I, s:b, s:o, s:o, s:o}", "id", m->id,
                     "version", (json_int_t)m->version, "ts", (json_int_t)t->ts,
                     "stable", t->stable, "properties", props, "alarms", alarms,
                     "rules", rules);
}

/* Append a string literal (its length known at compile time). */
#define LIT(b, s) ht_jbuf_raw((b), (s), sizeof(s) - 1)

static void jkey(struct ht_jbuf *b, const char *k)
{
    ht_jbuf_str(b, k, strlen(k));
    LIT(b, ":");
}

static void jstr(struct ht_jbuf *b, const char *s)
{
    ht_jbuf_str(b, s, strlen(s));
}

/* prop_state's object as text, as "key":{...}; false when prop_state
 * would give NULL (a converted value that is not a finite number) and
 * nothing written. sorted: keys (and those of an object value) in
 * JSON_SORT_KEYS order, else in prop_state's insertion order. */
static bool prop_text(struct ht_jbuf *b, const char *key, const struct fprop *f,
                      bool invert, bool sorted)
{
    const json_t *v = f->slot->v;
    double d = 0;
    bool conv = v && json_is_number(v) && !identity(f->p);
    if (conv) {
        d = ht_twin_prop_to_twin(f->p, json_number_value(v));
        if (!isfinite(d))
            return false;
    }
    jkey(b, key);
    if (sorted) {
        LIT(b, "{\"quality\":");
        jstr(b, ht_twin_quality_name(slot_quality(f->slot)));
        LIT(b, ",\"ts\":");
    } else {
        LIT(b, "{\"value\":");
    }
    if (sorted && v)
        ht_jbuf_int(b, f->slot->ts);
    else if (sorted)
        LIT(b, "null");
    if (sorted)
        LIT(b, ",\"value\":");
    if (!v) {
        LIT(b, "null");
    } else if (conv) {
        json_t *r = json_real(d);
        ht_jbuf_json(b, r, sorted);
        json_decref(r);
    } else if (invert && json_is_boolean(v)) {
        ht_jbuf_raw(b, json_is_true(v) ? "false" : "true",
                    json_is_true(v) ? 5 : 4);
    } else {
        ht_jbuf_json(b, v, sorted);
    }
    if (!sorted) {
        LIT(b, ",\"ts\":");
        if (v)
            ht_jbuf_int(b, f->slot->ts);
        else
            LIT(b, "null");
        LIT(b, ",\"quality\":");
        jstr(b, ht_twin_quality_name(slot_quality(f->slot)));
    }
    LIT(b, "}");
    return true;
}

char *ht_twin_engine_state_text(const struct ht_twin_engine *e,
                                const char *twin_id, size_t *len,
                                size_t *nalarms)
{
    if (len)
        *len = 0;
    if (nalarms)
        *nalarms = 0;
    const struct twin *t = twin_find(e, twin_id);
    if (!t)
        return NULL;
    const struct ht_twin_model *m = t->m;
    struct ht_jbuf b = {0};
    LIT(&b, "{\"alarms\":[");
    bool first = true;
    for (size_t r = 0; r < m->nrules; r++) {
        const struct ht_twin_rule *rule = &m->rules[r];
        if (t->rr[r].state != HT_TWIN_RULE_ACTIVE || !rule->message)
            continue; /* json_pack of a NULL message: no entry */
        if (!first)
            LIT(&b, ",");
        first = false;
        if (nalarms)
            (*nalarms)++;
        LIT(&b, "{\"message\":");
        jstr(&b, rule->message);
        LIT(&b, ",\"rule\":");
        jstr(&b, rule->id);
        LIT(&b, ",\"severity\":");
        jstr(&b, ht_twin_severity_name(rule->severity));
        LIT(&b, ",\"since\":");
        ht_jbuf_int(&b, t->rr[r].since);
        LIT(&b, "}");
    }
    LIT(&b, "],\"id\":");
    jstr(&b, m->id);
    LIT(&b, ",\"properties\":{");
    first = true;
    for (size_t i = 0; i < t->npkeys; i++) {
        struct skey *k = &t->pkeys[i]; /* its cached text only */
        const struct fprop *f = &t->fp[k->flat];
        if (!k->frag || k->sgen != f->slot->gen ||
            k->dgen != f->slot->dev->gen) {
            struct ht_jbuf fb = {0};
            k->fok = prop_text(&fb, k->key, f, k->invert, true);
            free(k->frag);
            k->frag = ht_jbuf_take(&fb, &k->flen);
            k->sgen = f->slot->gen;
            k->dgen = f->slot->dev->gen;
        }
        if (!k->fok)
            continue;
        if (!first)
            LIT(&b, ",");
        first = false;
        ht_jbuf_raw(&b, k->frag, k->flen);
    }
    LIT(&b, "},\"rules\":{");
    for (size_t i = 0; i < t->nrorder; i++) {
        size_t r = t->rorder[i];
        const struct ht_twin_rule *rule = &m->rules[r];
        if (i)
            LIT(&b, ",");
        jkey(&b, rule->id);
        LIT(&b, "{");
        if (rule->alarm) {
            LIT(&b, "\"alarm\":");
            jstr(&b, ht_twin_alarm_state_name(t->rr[r].ast));
            LIT(&b, ",\"priority\":");
            jstr(&b, ht_twin_priority_name(rule->priority));
            LIT(&b, ",");
        }
        LIT(&b, "\"severity\":");
        jstr(&b, ht_twin_severity_name(rule->severity));
        LIT(&b, ",\"state\":");
        jstr(&b, ht_twin_rule_state_name(t->rr[r].state));
        LIT(&b, "}");
    }
    LIT(&b, "},\"stable\":");
    ht_jbuf_raw(&b, t->stable ? "true" : "false", t->stable ? 4 : 5);
    LIT(&b, ",\"ts\":");
    ht_jbuf_int(&b, t->ts);
    LIT(&b, ",\"version\":");
    ht_jbuf_int(&b, m->version);
    LIT(&b, "}");
    return ht_jbuf_take(&b, len);
}

/* The flat index of a twin property ref ("component.property" or
 * "twin.name", the latter resolved to its first target); false if unknown. */
static bool ref_flat(const struct twin *t, const char *ref, size_t *flat,
                     bool *invert)
{
    const struct ht_twin_model *m = t->m;
    size_t c, p;
    *invert = false;
    if (!strncmp(ref, HT_TWIN_SELF ".", strlen(HT_TWIN_SELF) + 1)) {
        const struct ht_twin_tprop *tp =
            ht_twin_model_tprop(m, ref + strlen(HT_TWIN_SELF) + 1);
        if (!tp || !tp->ntargets)
            return false;
        c = tp->targets[0].comp;
        p = tp->targets[0].prop;
        *invert = tp->targets[0].invert;
    } else if (ht_twin_model_find_prop(m, ref, &c, &p) != HT_OK) {
        return false;
    }
    size_t f = p;
    for (size_t i = 0; i < c; i++)
        f += m->comps[i].nprops;
    if (f >= t->nfp)
        return false;
    *flat = f;
    return true;
}

json_t *ht_twin_engine_props_state(const struct ht_twin_engine *e,
                                   const char *twin_id, const json_t *refs)
{
    const struct twin *t = twin_find(e, twin_id);
    if (!t)
        return NULL;
    json_t *o = json_object();
    size_t i;
    json_t *r;
    json_array_foreach(refs, i, r)
    {
        const char *ref = json_string_value(r);
        size_t flat;
        bool invert;
        if (ref && ref_flat(t, ref, &flat, &invert))
            json_object_set_new(o, ref, prop_state(&t->fp[flat], invert));
    }
    return o;
}

bool ht_twin_engine_props_state_text(const struct ht_twin_engine *e,
                                     const char *twin_id, const json_t *refs,
                                     struct ht_jbuf *b)
{
    const struct twin *t = twin_find(e, twin_id);
    if (!t)
        return false;
    LIT(b, "{");
    bool first = true;
    size_t n = json_array_size(refs);
    for (size_t i = 0; i < n; i++) {
        const char *ref = json_string_value(json_array_get(refs, i));
        size_t flat;
        bool invert, dup = false;
        if (!ref || !ref_flat(t, ref, &flat, &invert))
            continue;
        /* A repeated ref keeps its first place (json_object_set_new), and
         * its state is the same text. */
        for (size_t k = 0; k < i && !dup; k++) {
            const char *o = json_string_value(json_array_get(refs, k));
            dup = o && !strcmp(o, ref);
        }
        if (dup)
            continue;
        size_t mark = b->n;
        if (!first)
            LIT(b, ",");
        if (prop_text(b, ref, &t->fp[flat], invert, false))
            first = false;
        else
            b->n = mark;
    }
    LIT(b, "}");
    return true;
}

static int cmp_twin_id(const void *a, const void *b)
{
    return strcmp((*(struct twin *const *)a)->m->id,
                  (*(struct twin *const *)b)->m->id);
}

json_t *ht_twin_engine_device_twins(struct ht_twin_engine *e,
                                    const char *device_id)
{
    json_t *a = json_array();
    struct dev *d = e && device_id ? dev_get(e, device_id) : NULL;
    if (!d)
        return a;
    size_t n = 0;
    for (size_t i = 0; i < d->nslots; i++)
        n += d->slots[i]->nsubs;
    struct twin **v = ht_malloc((n + 1) * sizeof *v);
    size_t nv = 0;
    /* touched is free scratch outside set_value/set_device_status. */
    for (size_t i = 0; i < d->nslots; i++)
        for (size_t k = 0; k < d->slots[i]->nsubs; k++) {
            struct twin *t = d->slots[i]->subs[k].t;
            if (!t->touched) {
                t->touched = true;
                v[nv++] = t;
            }
        }
    if (nv > 1)
        qsort(v, nv, sizeof *v, cmp_twin_id);
    for (size_t i = 0; i < nv; i++) {
        v[i]->touched = false;
        json_array_append_new(a, json_string(v[i]->m->id));
    }
    free(v);
    return a;
}

/* ---- writes ---- */

static int wfail(char *err, size_t errlen, int rc, const char *fmt,
                 const char *a, const char *b)
{
    if (err && errlen)
        snprintf(err, errlen, fmt, a, b);
    return rc;
}

/* Check v against a declared type and range (twin units). */
static int check_value(bool has_type, enum ht_sem_dtype type, bool has_min,
                       double min, bool has_max, double max, const char *ref,
                       const json_t *v, char *err, size_t errlen)
{
    if (!json_is_boolean(v) && !json_is_number(v) && !json_is_string(v))
        return wfail(err, errlen, HT_ETYPE, "%s: value must be a %s", ref,
                     "boolean, number or string");
    if (!has_type)
        return HT_OK;
    bool ok = type == HT_SEM_BOOLEAN  ? json_is_boolean(v)
              : type == HT_SEM_STRING ? json_is_string(v)
              : type == HT_SEM_INTEGER
                  ? json_is_number(v) &&
                        floor(json_number_value(v)) == json_number_value(v)
                  : json_is_number(v);
    if (!ok)
        return wfail(err, errlen, HT_ETYPE, "%s: value must be a %s", ref,
                     ht_sem_dtype_name(type));
    if (json_is_number(v)) {
        double d = json_number_value(v);
        if (!isfinite(d) || (has_min && d < min) || (has_max && d > max))
            return wfail(err, errlen, HT_ERANGE, "%s: value out of range%s",
                         ref, "");
    }
    return HT_OK;
}

/* The device-side value of a component property write (new). */
static json_t *device_value(const struct ht_twin_prop *p, const json_t *v)
{
    if (!json_is_number(v) || identity(p))
        return json_copy((json_t *)v);
    double d = ht_twin_prop_to_device(p, json_number_value(v));
    double r = nearbyint(d);
    if (fabs(d - r) < 1e-9 && fabs(r) < 9e15)
        return json_integer((json_int_t)r);
    return json_real(d);
}

void ht_twin_writes_free(struct ht_twin_write *w, size_t n)
{
    for (size_t i = 0; w && i < n; i++) {
        free(w[i].device);
        free(w[i].prop);
        json_decref(w[i].value);
    }
    free(w);
}

int ht_twin_engine_resolve_write(const struct ht_twin_engine *e,
                                 const char *twin_id, const char *ref,
                                 const json_t *v, struct ht_twin_write **out,
                                 size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    const struct twin *t = twin_find(e, twin_id);
    if (!t)
        return wfail(err, errlen, HT_ENOENT, "no twin \"%.64s\"%s",
                     twin_id ? twin_id : "", "");
    const struct ht_twin_model *m = t->m;
    if (!ref || strlen(ref) > 80)
        return wfail(err, errlen, HT_ENOENT, "no property%s%s", "", "");
    const struct ht_twin_prop *props[HT_TWIN_MAX_TARGETS];
    bool invert[HT_TWIN_MAX_TARGETS] = {0};
    size_t np = 0;
    int rc;
    if (!strncmp(ref, HT_TWIN_SELF ".", strlen(HT_TWIN_SELF) + 1)) {
        const struct ht_twin_tprop *tp =
            ht_twin_model_tprop(m, ref + strlen(HT_TWIN_SELF) + 1);
        if (!tp)
            return wfail(err, errlen, HT_ENOENT,
                         "twin \"%s\" has no property \"%s\"", m->id, ref);
        if ((rc = check_value(true, tp->type, tp->has_min, tp->min, tp->has_max,
                              tp->max, ref, v, err, errlen)))
            return rc;
        for (size_t i = 0; i < tp->ntargets; i++) {
            props[np] =
                &m->comps[tp->targets[i].comp].props[tp->targets[i].prop];
            invert[np++] = tp->targets[i].invert;
        }
    } else {
        size_t c, p;
        if (ht_twin_model_find_prop(m, ref, &c, &p))
            return wfail(err, errlen, HT_ENOENT,
                         "twin \"%s\" has no property \"%s\"", m->id, ref);
        const struct ht_twin_prop *pp = &m->comps[c].props[p];
        if (!pp->writable)
            return wfail(err, errlen, HT_ERDONLY, "%s of twin %s is read-only",
                         ref, m->id);
        props[np++] = pp;
    }
    struct ht_twin_write *w = ht_calloc(np, sizeof *w);
    for (size_t i = 0; i < np; i++) {
        const struct ht_twin_prop *pp = props[i];
        json_t *tv =
            invert[i] ? json_boolean(!json_is_true(v)) : json_copy((json_t *)v);
        rc = check_value(pp->has_type, pp->type, pp->has_min, pp->min,
                         pp->has_max, pp->max, ref, tv, err, errlen);
        if (rc) {
            json_decref(tv);
            ht_twin_writes_free(w, np);
            return rc;
        }
        w[i].device = ht_strdup(pp->device);
        w[i].prop = ht_strdup(pp->device_prop);
        w[i].value = device_value(pp, tv);
        json_decref(tv);
    }
    *out = w;
    *n = np;
    return HT_OK;
}

/* ---- alarm commands and queries ---- */

void ht_twin_engine_on_alarm(struct ht_twin_engine *e, ht_twin_alarm_fn cb,
                             void *ud)
{
    e->alarm_cb = cb;
    e->alarm_ud = ud;
}

void ht_twin_engine_on_drive(struct ht_twin_engine *e, ht_twin_drive_fn cb,
                             void *ud)
{
    e->drive_cb = cb;
    e->drive_ud = ud;
}

void ht_twin_engine_on_action(struct ht_twin_engine *e, ht_twin_action_fn cb,
                              void *ud)
{
    e->action_cb = cb;
    e->action_ud = ud;
}

/* Evaluate x with the inputs of its references (flats), each replaced by
 * subst[flat] where has[flat]. */
static struct twin__val
eval_with(const struct twin *t, const struct ht_twin_expr *x,
          const size_t *flats, const struct twin__val *subst, const bool *has)
{
    struct twin__val vals[32];
    size_t n = twin__expr_nrefs(x);
    for (size_t i = 0; i < n && i < 32; i++)
        vals[i] =
            has && has[flats[i]] ? subst[flats[i]] : input(&t->fp[flats[i]]);
    return twin__expr_eval(x, vals);
}

/* A command's value as its twin property reads it. */
static struct twin__val cmd_val(const struct fprop *f, const json_t *v)
{
    struct twin__val r = {.t = TWIN_V_UNKNOWN};
    if (json_is_boolean(v)) {
        r.t = TWIN_V_BOOL;
        r.b = json_is_true(v);
    } else if (json_is_number(v)) {
        r.t = TWIN_V_NUM;
        r.n = ht_twin_prop_to_twin(f->p, json_number_value(v));
    }
    return r;
}

int ht_twin_engine_check_write(const struct ht_twin_engine *e,
                               const char *twin_id,
                               const struct ht_twin_write *w, size_t n,
                               struct ht_twin_refusal *out)
{
    memset(out, 0, sizeof *out);
    const struct twin *t = twin_find(e, twin_id);
    if (!t)
        return HT_ENOENT;
    const struct ht_twin_model *m = t->m;
    struct twin__val *subst = ht_calloc(t->nfp + 1, sizeof *subst);
    bool *has = ht_calloc(t->nfp + 1, sizeof *has);
    bool any = false;
    for (size_t f = 0; f < t->nfp; f++)
        for (size_t i = 0; i < n; i++)
            if (!strcmp(t->fp[f].p->device, w[i].device) &&
                !strcmp(t->fp[f].p->device_prop, w[i].prop)) {
                subst[f] = cmd_val(&t->fp[f], w[i].value);
                has[f] = any = true;
            }
    /* Permissives read the machine as it is now. */
    for (size_t p = 0; any && p < m->npermissives && !out->kind; p++) {
        const struct ht_twin_permissive *pm = &m->permissives[p];
        bool guarded = false;
        for (size_t i = 0; i < pm->napplies && !guarded; i++)
            guarded = has[pref_flat(m, &pm->applies[i])];
        if (!guarded)
            continue;
        size_t nr = twin__expr_nrefs(pm->expr);
        size_t flats[32];
        for (size_t i = 0; i < nr && i < 32; i++) {
            size_t ci = 0, pi = 0;
            ht_twin_model_find_prop(m, twin__expr_ref(pm->expr, i), &ci, &pi);
            flats[i] = pref_flat(m, &(struct ht_twin_pref){ci, pi});
        }
        struct twin__val v = eval_with(t, pm->expr, flats, NULL, NULL);
        if (v.t == TWIN_V_BOOL && v.b)
            continue;
        out->kind = HT_TWIN_REFUSE_PERMISSIVE;
        snprintf(out->id, sizeof out->id, "%s", pm->id);
        snprintf(out->message, sizeof out->message, "%s%s(%s is %s)",
                 pm->message ? pm->message : "", pm->message ? " " : "",
                 pm->expr_src, v.t == TWIN_V_BOOL ? "false" : "unknown");
    }
    /* Interlocks: the condition with the commanded values in place. */
    for (size_t r = 0; any && r < m->nrules && !out->kind; r++) {
        const struct ht_twin_rule *rule = &m->rules[r];
        if (!rule->interlock)
            continue;
        struct twin__val now =
            eval_with(t, rule->expr, t->rr[r].flat, NULL, NULL);
        struct twin__val then =
            eval_with(t, rule->expr, t->rr[r].flat, subst, has);
        if (then.t != TWIN_V_BOOL || !then.b || (now.t == TWIN_V_BOOL && now.b))
            continue;
        out->kind = HT_TWIN_REFUSE_INTERLOCK;
        snprintf(out->id, sizeof out->id, "%s", rule->id);
        snprintf(out->message, sizeof out->message, "%s", rule->message);
    }
    free(subst);
    free(has);
    return HT_OK;
}

static int rule_index(const struct twin *t, const char *rule)
{
    for (size_t r = 0; rule && r < t->m->nrules; r++)
        if (!strcmp(t->m->rules[r].id, rule))
            return (int)r;
    return -1;
}

/* Refuse a command that does not apply in the alarm's state, naming both
 * (the REST layer passes the text on as the problem's detail). */
static int refuse(char *err, size_t errlen, const struct twin *t, size_t r,
                  const char *why)
{
    if (err && errlen)
        snprintf(err, errlen, "alarm %s/%s is %s: %s", t->m->id,
                 t->m->rules[r].id, ht_twin_alarm_state_name(t->rr[r].ast),
                 why);
    return HT_ESTATE;
}

int ht_twin_engine_alarm_cmd(struct ht_twin_engine *e,
                             enum ht_twin_alarm_cmd cmd,
                             const struct ht_twin_alarm_req *rq, int64_t now_ms,
                             char *err, size_t errlen)
{
    struct twin *t = rq ? twin_find(e, rq->twin) : NULL;
    if (!t)
        return wfail(err, errlen, HT_ENOENT, "no twin \"%.64s\"%s",
                     rq && rq->twin ? rq->twin : "", "");
    int ri = rule_index(t, rq->rule);
    if (ri < 0)
        return wfail(err, errlen, HT_ENOENT, "twin %s has no rule \"%.64s\"",
                     t->m->id, rq->rule ? rq->rule : "");
    size_t r = (size_t)ri;
    struct rrule *rr = &t->rr[r];
    if (!t->m->rules[r].alarm)
        return wfail(err, errlen, HT_EINVAL,
                     "rule %s/%s is not an alarm (severity info, no priority)",
                     t->m->id, t->m->rules[r].id);
    if (!rq->who || !*rq->who)
        return wfail(err, errlen, HT_EINVAL, "an alarm command needs a who%s%s",
                     "", "");
    enum ht_twin_alarm_state ast = rr->ast, to = ast;
    switch (cmd) {
    case HT_TWIN_ACMD_ACK:
        if (ast == HT_TWIN_ALARM_ACTIVE_UNACK)
            to = HT_TWIN_ALARM_ACTIVE_ACKED;
        else if (ast == HT_TWIN_ALARM_RETURNED_UNACK)
            to = HT_TWIN_ALARM_NORMAL;
        else
            return refuse(err, errlen, t, r, "nothing to acknowledge");
        break;
    case HT_TWIN_ACMD_SHELVE:
        if (rq->shelve_ms < 1 || rq->shelve_ms > HT_TWIN_MAX_SHELVE_MS)
            return wfail(err, errlen, HT_EINVAL,
                         "a shelf lasts from 1 ms to 24 h%s%s", "", "");
        if (ast == HT_TWIN_ALARM_SHELVED)
            return refuse(err, errlen, t, r, "unshelve it first");
        if (ast == HT_TWIN_ALARM_SUPPRESSED ||
            ast == HT_TWIN_ALARM_OUT_OF_SERVICE)
            return refuse(err, errlen, t, r,
                          "not annunciated, nothing to "
                          "shelve");
        to = HT_TWIN_ALARM_SHELVED;
        rr->shelved_until = now_ms + rq->shelve_ms;
        break;
    case HT_TWIN_ACMD_UNSHELVE:
        if (ast != HT_TWIN_ALARM_SHELVED)
            return refuse(err, errlen, t, r, "not shelved");
        to = alarm_resume(rr);
        break;
    case HT_TWIN_ACMD_OUT_OF_SERVICE:
        if (ast == HT_TWIN_ALARM_OUT_OF_SERVICE)
            return refuse(err, errlen, t, r, "already out of service");
        to = HT_TWIN_ALARM_OUT_OF_SERVICE;
        break;
    case HT_TWIN_ACMD_IN_SERVICE:
        if (ast != HT_TWIN_ALARM_OUT_OF_SERVICE)
            return refuse(err, errlen, t, r, "not out of service");
        to = alarm_resume(rr);
        break;
    default:
        return wfail(err, errlen, HT_EINVAL, "unknown alarm command%s%s", "",
                     "");
    }
    alarm_set(e, t, r, to, ht_twin_alarm_cmd_name(cmd), rq->who, rq->note,
              now_ms);
    drive_check(e, t, now_ms);
    timed_recount(e, t);
    return HT_OK;
}

int ht_twin_engine_alarm_restore(struct ht_twin_engine *e, const char *twin_id,
                                 const char *rule, const json_t *state,
                                 int64_t now_ms)
{
    struct twin *t = twin_find(e, twin_id);
    int ri = t ? rule_index(t, rule) : -1;
    if (ri < 0 || !t->m->rules[ri].alarm)
        return HT_ENOENT;
    enum ht_twin_alarm_state ast;
    const json_t *since = json_object_get(state, "since");
    const json_t *until = json_object_get(state, "shelved_until");
    if (ht_twin_alarm_state_parse(
            json_string_value(json_object_get(state, "state")), &ast) ||
        !json_is_integer(since) ||
        (ast == HT_TWIN_ALARM_SHELVED && !json_is_integer(until)))
        return HT_EINVAL;
    /* Suppression is recomputed from the values; it is not restored. */
    if (ast == HT_TWIN_ALARM_SUPPRESSED)
        ast = HT_TWIN_ALARM_NORMAL;
    struct rrule *rr = &t->rr[ri];
    const char *by = json_string_value(json_object_get(state, "by"));
    const char *note = json_string_value(json_object_get(state, "note"));
    rr->ast = ast;
    rr->ast_since = json_integer_value(since);
    rr->shelved_until =
        ast == HT_TWIN_ALARM_SHELVED ? json_integer_value(until) : -1;
    free(rr->by);
    free(rr->note);
    rr->by = by ? ht_strdup(by) : NULL;
    rr->note = note ? ht_strdup(note) : NULL;
    if (json_is_true(json_object_get(state, "first_out")) && annunciated(ast))
        t->first_out = ri;
    else if (t->first_out == ri)
        t->first_out = -1;
    /* Values may be known already (a gateway feeds the latest ones before
     * it restores): reconcile as any evaluation would. */
    alarm_update(e, t, (size_t)ri, now_ms);
    drive_check(e, t, now_ms);
    timed_recount(e, t);
    return HT_OK;
}

json_t *ht_twin_engine_alarm(const struct ht_twin_engine *e,
                             const char *twin_id, const char *rule)
{
    const struct twin *t = twin_find(e, twin_id);
    int r = t ? rule_index(t, rule) : -1;
    if (r < 0 || !t->m->rules[r].alarm)
        return NULL;
    return alarm_json(t, (size_t)r);
}

struct aref {
    const struct twin *t;
    size_t r;
};

/* Most urgent first: priority, unacknowledged, newest, then a stable
 * order by twin and rule so equal alarms never swap between calls. */
static int cmp_aref(const void *pa, const void *pb)
{
    const struct aref *a = pa, *b = pb;
    const struct rrule *ra = &a->t->rr[a->r], *rb = &b->t->rr[b->r];
    int pa_ = a->t->m->rules[a->r].priority,
        pb_ = b->t->m->rules[b->r].priority;
    if (pa_ != pb_)
        return pa_ - pb_;
    if (unacked(ra->ast) != unacked(rb->ast))
        return unacked(ra->ast) ? -1 : 1;
    if (ra->ast_since != rb->ast_since)
        return ra->ast_since > rb->ast_since ? -1 : 1;
    int c = strcmp(a->t->m->id, b->t->m->id);
    if (c)
        return c;
    return a->r < b->r ? -1 : a->r > b->r;
}

json_t *ht_twin_engine_alarms(const struct ht_twin_engine *e,
                              const char *twin_id, bool with_normal)
{
    json_t *out = json_array();
    if (!e)
        return out;
    size_t n = 0, cap = 0;
    struct aref *v = NULL;
    for (size_t i = 0; i < e->ntwins; i++) {
        const struct twin *t = e->twins[i];
        if (twin_id && strcmp(t->m->id, twin_id))
            continue;
        for (size_t r = 0; r < t->m->nrules; r++) {
            if (!t->m->rules[r].alarm ||
                (!with_normal && t->rr[r].ast == HT_TWIN_ALARM_NORMAL))
                continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                v = ht_realloc(v, cap * sizeof *v);
            }
            v[n++] = (struct aref){t, r};
        }
    }
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_aref);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(out, alarm_json(v[i].t, v[i].r));
    free(v);
    return out;
}

size_t ht_twin_engine_unacked(const struct ht_twin_engine *e,
                              const char *twin_id)
{
    const struct twin *t = twin_find(e, twin_id);
    size_t n = 0;
    for (size_t r = 0; t && r < t->m->nrules; r++)
        n += unacked(t->rr[r].ast);
    return n;
}
