/* registry.c - the device registry: an id-sorted array of records that
 * only the loop thread changes (under reg->mu, so the HTTP thread can copy
 * consistent snapshots), each change written through to the store. */
#include "gateway/registry/registry.h"
#include "gateway/store/store.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD "event"

static const char *const state_names[] = {"discovered", "pending", "approved",
                                          "blocked"};

const char *gw__state_name(enum gw_state s)
{
    return (unsigned)s < 4 ? state_names[s] : "unknown";
}

int gw__state_parse(const char *s, enum gw_state *out)
{
    for (int i = 0; i < 4; i++)
        if (s && !strcmp(s, state_names[i])) {
            *out = (enum gw_state)i;
            return HT_OK;
        }
    return HT_EINVAL;
}

/* ---- registry ---- */

_Static_assert(offsetof(struct gw_dev, id) == 0, "ht_id_bsearch needs it");

/* Binary search over the id-sorted array; *pos gets the insert point. */
static struct gw_dev *dev_search(struct ht_gw *g, const char *id, size_t *pos)
{
    long i = ht_id_bsearch((void *const *)g->reg->devs, g->reg->ndevs, id, pos);
    return i < 0 ? NULL : g->reg->devs[i];
}

struct gw_dev *gw__dev_find(struct ht_gw *g, const char *id)
{
    return dev_search(g, id, NULL);
}

/* Takes reg->mu for the insertion only: the loop reads without it. */
struct gw_dev *gw__dev_add(struct ht_gw *g, const char *id, enum gw_state st)
{
    size_t pos;
    struct gw_dev *d = dev_search(g, id, &pos);
    if (d)
        return d;
    d = ht_calloc(1, sizeof *d);
    ht_strlcpy(d->id, id, sizeof d->id);
    d->state = st;
    d->created = gw__now_ms(g);
    d->values = json_object();
    pthread_mutex_lock(&g->reg->mu);
    if (g->reg->ndevs == g->reg->capdevs) {
        g->reg->capdevs = g->reg->capdevs ? g->reg->capdevs * 2 : 16;
        g->reg->devs =
            ht_realloc(g->reg->devs, g->reg->capdevs * sizeof *g->reg->devs);
    }
    memmove(&g->reg->devs[pos + 1], &g->reg->devs[pos],
            (g->reg->ndevs - pos) * sizeof *g->reg->devs);
    g->reg->devs[pos] = d;
    g->reg->ndevs++;
    pthread_mutex_unlock(&g->reg->mu);
    return d;
}

static void dev_free(struct gw_dev *d)
{
    if (!d)
        return;
    free(d->title);
    ht_sem_thing_free(d->thing);
    json_decref(d->values);
    free(d->rx_ms);
    free(d);
}

void gw__dev_remove(struct ht_gw *g, const char *id)
{
    size_t pos;
    pthread_mutex_lock(&g->reg->mu);
    struct gw_dev *d = dev_search(g, id, &pos);
    if (d) {
        memmove(&g->reg->devs[pos], &g->reg->devs[pos + 1],
                (g->reg->ndevs - pos - 1) * sizeof *g->reg->devs);
        g->reg->ndevs--;
    }
    pthread_mutex_unlock(&g->reg->mu);
    dev_free(d);
    gw__things_changed(g);
}

static void dev_row(const struct gw_dev *d, struct ht_store_device *r)
{
    memset(r, 0, sizeof *r);
    ht_strlcpy(r->id, d->id, sizeof r->id);
    if (d->title)
        ht_strlcpy(r->title, d->title, sizeof r->title);
    ht_strlcpy(r->state, gw__state_name(d->state), sizeof r->state);
    r->online = d->online;
    r->last_seen = d->last_seen;
    r->created = d->created;
    r->td_version = d->td_version;
}

void gw__things_changed(struct ht_gw *g)
{
    __atomic_add_fetch(&g->reg->things_gen, 1, __ATOMIC_RELEASE);
}

int gw__dev_persist(struct ht_gw *g, struct gw_dev *d)
{
    /* Every change of a device's TD, state or title goes through here. */
    gw__things_changed(g);
    struct ht_store_device r;
    dev_row(d, &r);
    d->dirty = false;
    int rc = ht_store_device_put(g->store, &r);
    if (rc)
        ht_log(LOG_ERR, MOD, "cannot persist device %s: %s", d->id,
               ht_strerror(rc));
    return rc;
}

static json_t *prop_json(const struct ht_sem_prop *p, const json_t *val)
{
    json_t *o = json_object();
    if (p) {
        json_object_set_new(o, "title",
                            json_string(p->title ? p->title : p->name));
        json_object_set_new(o, "type",
                            json_string(ht_sem_dtype_name(p->dtype)));
        if (p->sem_type)
            json_object_set_new(o, "sem_type", json_string(p->sem_type));
        if (p->unit)
            json_object_set_new(o, "unit", json_string(p->unit));
        if (p->has_min)
            json_object_set_new(o, "minimum", json_real(p->min));
        if (p->has_max)
            json_object_set_new(o, "maximum", json_real(p->max));
        json_object_set_new(o, "writable", json_boolean(!p->read_only));
    }
    if (val) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)val, k, v)
            json_object_set_new(o, k, json_deep_copy(v));
    } else {
        json_object_set_new(o, "v", json_null());
        json_object_set_new(o, "ts", json_integer(0));
        json_object_set_new(o, "quality", json_string("unknown"));
    }
    return o;
}

json_t *gw__dev_json(const struct gw_dev *d, bool detail)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(d->id));
    json_object_set_new(o, "title",
                        d->title ? json_string(d->title) : json_string(d->id));
    json_object_set_new(o, "state", json_string(gw__state_name(d->state)));
    json_object_set_new(o, "online", json_boolean(d->online));
    json_object_set_new(o, "last_seen", json_integer(d->last_seen));
    json_object_set_new(o, "created", json_integer(d->created));
    json_object_set_new(o, "td_version", json_integer(d->td_version));
    if (!detail)
        return o;
    json_t *props = json_object();
    for (size_t i = 0; d->thing && i < d->thing->nprops; i++) {
        const struct ht_sem_prop *p = &d->thing->props[i];
        json_object_set_new(props, p->name,
                            prop_json(p, json_object_get(d->values, p->name)));
    }
    const char *k;
    json_t *v;
    json_object_foreach(d->values, k, v) if (!json_object_get(props, k))
        json_object_set_new(props, k, prop_json(NULL, v));
    json_object_set_new(o, "properties", props);
    return o;
}

json_t *gw__devices_list(struct ht_gw *g, const char *state)
{
    json_t *a = json_array();
    pthread_mutex_lock(&g->reg->mu);
    for (size_t i = 0; i < g->reg->ndevs; i++)
        if (!state || !strcmp(state, gw__state_name(g->reg->devs[i]->state)))
            json_array_append_new(a, gw__dev_json(g->reg->devs[i], false));
    pthread_mutex_unlock(&g->reg->mu);
    return a;
}

int gw__device_get(struct ht_gw *g, const char *id, json_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&g->reg->mu);
    struct gw_dev *d = gw__dev_find(g, id);
    bool has_td = d && d->td_version > 0;
    if (d)
        *out = gw__dev_json(d, true);
    pthread_mutex_unlock(&g->reg->mu);
    if (!d)
        return HT_ENOENT;
    json_t *td = NULL;
    int version = 0;
    if (has_td)
        ht_store_td_latest(g->store, id, &td, &version);
    json_object_set_new(*out, "td", td ? td : json_null());
    return HT_OK;
}

int gw__property_get(struct ht_gw *g, const char *id, const char *name,
                     json_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&g->reg->mu);
    struct gw_dev *d = gw__dev_find(g, id);
    const struct ht_sem_prop *p =
        d && d->thing ? ht_sem_thing_prop(d->thing, name) : NULL;
    json_t *val = d ? json_object_get(d->values, name) : NULL;
    if (p || val) {
        *out = prop_json(p, val);
        json_object_set_new(*out, "name", json_string(name));
        json_object_set_new(*out, "device", json_string(id));
    }
    pthread_mutex_unlock(&g->reg->mu);
    return *out ? HT_OK : HT_ENOENT;
}

/* Deep copy of a thing so the HTTP thread can build TDs without the lock. */
static struct ht_sem_thing *thing_copy(const struct ht_sem_thing *t)
{
    struct ht_sem_thing *c = ht_calloc(1, sizeof *c);
    c->id = t->id ? ht_strdup(t->id) : NULL;
    c->title = t->title ? ht_strdup(t->title) : NULL;
    c->description = t->description ? ht_strdup(t->description) : NULL;
    if (t->types) {
        size_t n = 0;
        while (t->types[n])
            n++;
        c->types = ht_calloc(n + 1, sizeof *c->types);
        for (size_t i = 0; i < n; i++)
            c->types[i] = ht_strdup(t->types[i]);
    }
    c->nprops = t->nprops;
    c->props = ht_calloc(t->nprops ? t->nprops : 1, sizeof *c->props);
    for (size_t i = 0; i < t->nprops; i++) {
        const struct ht_sem_prop *p = &t->props[i];
        struct ht_sem_prop *q = &c->props[i];
        *q = *p;
        q->name = p->name ? ht_strdup(p->name) : NULL;
        q->title = p->title ? ht_strdup(p->title) : NULL;
        q->sem_type = p->sem_type ? ht_strdup(p->sem_type) : NULL;
        q->unit = p->unit ? ht_strdup(p->unit) : NULL;
        q->enum_vals = NULL;
        if (p->enum_vals) {
            size_t n = 0;
            while (p->enum_vals[n])
                n++;
            q->enum_vals = ht_calloc(n + 1, sizeof *q->enum_vals);
            for (size_t k = 0; k < n; k++)
                q->enum_vals[k] = ht_strdup(p->enum_vals[k]);
        }
    }
    return c;
}

int gw__device_thing(struct ht_gw *g, const char *id, struct ht_sem_thing **out)
{
    *out = NULL;
    pthread_mutex_lock(&g->reg->mu);
    struct gw_dev *d = gw__dev_find(g, id);
    if (d && d->thing && d->state != GW_BLOCKED)
        *out = thing_copy(d->thing);
    pthread_mutex_unlock(&g->reg->mu);
    return *out ? HT_OK : HT_ENOENT;
}

json_t *gw__device_ids_with_td(struct ht_gw *g)
{
    json_t *a = json_array();
    pthread_mutex_lock(&g->reg->mu);
    for (size_t i = 0; i < g->reg->ndevs; i++)
        if (g->reg->devs[i]->thing && g->reg->devs[i]->state != GW_BLOCKED)
            json_array_append_new(a, json_string(g->reg->devs[i]->id));
    pthread_mutex_unlock(&g->reg->mu);
    return a;
}

json_t *gw__device_counts(struct ht_gw *g)
{
    json_int_t n[4] = {0}, online = 0;
    pthread_mutex_lock(&g->reg->mu);
    for (size_t i = 0; i < g->reg->ndevs; i++) {
        n[g->reg->devs[i]->state]++;
        online += g->reg->devs[i]->online;
    }
    pthread_mutex_unlock(&g->reg->mu);
    return json_pack("{s:I, s:I, s:I, s:I, s:I}", "discovered", n[0], "pending",
                     n[1], "approved", n[2], "blocked", n[3], "online", online);
}

/* A "device" event carries the device summary and what changed. */

void gw__reg_init(struct ht_gw *g)
{
    g->reg = ht_calloc(1, sizeof *g->reg);
    pthread_mutex_init(&g->reg->mu, NULL);
}

void gw__reg_clear(struct ht_gw *g)
{
    struct gw_registry *r = g->reg;
    if (!r)
        return;
    for (size_t i = 0; i < r->ndevs; i++)
        dev_free(r->devs[i]);
    free(r->devs);
    pthread_mutex_destroy(&r->mu);
    free(r);
    g->reg = NULL;
}

/* Updated in place once the property has a record (readers copy it under
 * reg->mu): no allocation per value. */
void gw__dev_value_set(struct ht_gw *g, struct gw_dev *d, const char *name,
                       const json_t *v, int64_t ts, int64_t seq, int64_t now)
{
    pthread_mutex_lock(&g->reg->mu);
    json_t *rec = json_object_get(d->values, name);
    json_t *rts = json_object_get(rec, "ts"),
           *rseq = json_object_get(rec, "seq");
    if (json_is_integer(rts) && json_is_integer(rseq)) {
        json_object_set(rec, "v", (json_t *)v);
        json_integer_set(rts, (json_int_t)ts);
        json_integer_set(rseq, (json_int_t)seq);
        const char *q = json_string_value(json_object_get(rec, "quality"));
        if (!q || strcmp(q, "good")) /* no allocation for the usual case */
            json_object_set_new(rec, "quality", json_string("good"));
    } else {
        json_object_set_new(d->values, name,
                            json_pack("{s:O, s:I, s:I, s:s}", "v", v, "ts",
                                      (json_int_t)ts, "seq", (json_int_t)seq,
                                      "quality", "good"));
    }
    d->last_seen = now;
    d->dirty = true;
    pthread_mutex_unlock(&g->reg->mu);
}

enum gw_value_order gw__dev_value_order(const struct gw_dev *d,
                                        const char *name, int64_t ts,
                                        int64_t seq)
{
    const json_t *rec = json_object_get(d->values, name);
    const json_t *rts = json_object_get(rec, "ts");
    const json_t *rseq = json_object_get(rec, "seq");
    if (!json_is_integer(rts) || !json_is_integer(rseq))
        return GW_VALUE_NEW;
    int64_t t0 = json_integer_value(rts), s0 = json_integer_value(rseq);
    if (seq > s0 || ts > t0)
        return GW_VALUE_NEW;
    /* The same seq: the same value again. Its ts may be below the stored
     * one when a command's ack stamped the value after the board did. */
    if (seq == s0 && (ts == t0 || seq != 0))
        return GW_VALUE_REPEAT;
    return GW_VALUE_OLD;
}

bool gw__dev_value_confirm(struct ht_gw *g, struct gw_dev *d, const char *name,
                           int64_t now)
{
    pthread_mutex_lock(&g->reg->mu);
    json_t *rec = json_object_get(d->values, name);
    const char *q = json_string_value(json_object_get(rec, "quality"));
    bool changed = rec && (!q || strcmp(q, "good"));
    if (changed)
        json_object_set_new(rec, "quality", json_string("good"));
    d->last_seen = now;
    d->dirty = true;
    pthread_mutex_unlock(&g->reg->mu);
    return changed;
}

bool gw__dev_value_quality(struct ht_gw *g, struct gw_dev *d, const char *name,
                           const char *q)
{
    pthread_mutex_lock(&g->reg->mu);
    json_t *rec = json_object_get(d->values, name);
    const char *old = json_string_value(json_object_get(rec, "quality"));
    bool changed = rec && (!old || strcmp(old, q));
    if (changed)
        json_object_set_new(rec, "quality", json_string(q));
    pthread_mutex_unlock(&g->reg->mu);
    return changed;
}

void gw__dev_values_quality(struct ht_gw *g, struct gw_dev *d, const char *q)
{
    pthread_mutex_lock(&g->reg->mu);
    const char *k;
    json_t *rec;
    json_object_foreach(d->values, k, rec)
        json_object_set_new(rec, "quality", json_string(q));
    pthread_mutex_unlock(&g->reg->mu);
}
