/* event.c - the event module: MQTT ingest (TDs, status, values, command
 * acks), the device registry and lifecycle, and the loop side of the jobs
 * the HTTP thread submits (commands and device administration).
 *
 * The registry is written only here, on the loop thread, under reg_mu so
 * the HTTP thread can take consistent snapshots. Durable changes go to the
 * store before the job that caused them is answered.
 */
#include "gw_internal.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
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
    long i = ht_id_bsearch((void *const *)g->devs, g->ndevs, id, pos);
    return i < 0 ? NULL : g->devs[i];
}

struct gw_dev *gw__dev_find(struct ht_gw *g, const char *id)
{
    return dev_search(g, id, NULL);
}

/* Loop thread; takes reg_mu for the insertion only. */
static struct gw_dev *dev_add(struct ht_gw *g, const char *id, enum gw_state st)
{
    size_t pos;
    struct gw_dev *d = dev_search(g, id, &pos);
    if (d)
        return d;
    d = ht_calloc(1, sizeof *d);
    ht_strlcpy(d->id, id, sizeof d->id);
    d->state = st;
    d->created = ht_time_ms();
    d->values = json_object();
    pthread_mutex_lock(&g->reg_mu);
    if (g->ndevs == g->capdevs) {
        g->capdevs = g->capdevs ? g->capdevs * 2 : 16;
        g->devs = ht_realloc(g->devs, g->capdevs * sizeof *g->devs);
    }
    memmove(&g->devs[pos + 1], &g->devs[pos],
            (g->ndevs - pos) * sizeof *g->devs);
    g->devs[pos] = d;
    g->ndevs++;
    pthread_mutex_unlock(&g->reg_mu);
    return d;
}

static void dev_free(struct gw_dev *d)
{
    if (!d)
        return;
    free(d->title);
    ht_sem_thing_free(d->thing);
    json_decref(d->values);
    free(d);
}

static void dev_remove(struct ht_gw *g, const char *id)
{
    size_t pos;
    pthread_mutex_lock(&g->reg_mu);
    struct gw_dev *d = dev_search(g, id, &pos);
    if (d) {
        memmove(&g->devs[pos], &g->devs[pos + 1],
                (g->ndevs - pos - 1) * sizeof *g->devs);
        g->ndevs--;
    }
    pthread_mutex_unlock(&g->reg_mu);
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
    __atomic_add_fetch(&g->things_gen, 1, __ATOMIC_RELEASE);
}

static int dev_persist(struct ht_gw *g, struct gw_dev *d)
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
    pthread_mutex_lock(&g->reg_mu);
    for (size_t i = 0; i < g->ndevs; i++)
        if (!state || !strcmp(state, gw__state_name(g->devs[i]->state)))
            json_array_append_new(a, gw__dev_json(g->devs[i], false));
    pthread_mutex_unlock(&g->reg_mu);
    return a;
}

int gw__device_get(struct ht_gw *g, const char *id, json_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&g->reg_mu);
    struct gw_dev *d = gw__dev_find(g, id);
    bool has_td = d && d->td_version > 0;
    if (d)
        *out = gw__dev_json(d, true);
    pthread_mutex_unlock(&g->reg_mu);
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
    pthread_mutex_lock(&g->reg_mu);
    struct gw_dev *d = gw__dev_find(g, id);
    const struct ht_sem_prop *p =
        d && d->thing ? ht_sem_thing_prop(d->thing, name) : NULL;
    json_t *val = d ? json_object_get(d->values, name) : NULL;
    if (p || val) {
        *out = prop_json(p, val);
        json_object_set_new(*out, "name", json_string(name));
        json_object_set_new(*out, "device", json_string(id));
    }
    pthread_mutex_unlock(&g->reg_mu);
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
    pthread_mutex_lock(&g->reg_mu);
    struct gw_dev *d = gw__dev_find(g, id);
    if (d && d->thing && d->state != GW_BLOCKED)
        *out = thing_copy(d->thing);
    pthread_mutex_unlock(&g->reg_mu);
    return *out ? HT_OK : HT_ENOENT;
}

json_t *gw__device_ids_with_td(struct ht_gw *g)
{
    json_t *a = json_array();
    pthread_mutex_lock(&g->reg_mu);
    for (size_t i = 0; i < g->ndevs; i++)
        if (g->devs[i]->thing && g->devs[i]->state != GW_BLOCKED)
            json_array_append_new(a, json_string(g->devs[i]->id));
    pthread_mutex_unlock(&g->reg_mu);
    return a;
}

json_t *gw__device_counts(struct ht_gw *g)
{
    json_int_t n[4] = {0}, online = 0;
    pthread_mutex_lock(&g->reg_mu);
    for (size_t i = 0; i < g->ndevs; i++) {
        n[g->devs[i]->state]++;
        online += g->devs[i]->online;
    }
    pthread_mutex_unlock(&g->reg_mu);
    return json_pack("{s:I, s:I, s:I, s:I, s:I}", "discovered", n[0], "pending",
                     n[1], "approved", n[2], "blocked", n[3], "online", online);
}

/* A "device" event carries the device summary and what changed. */
static void emit_device(struct ht_gw *g, struct gw_dev *d, const char *change)
{
    pthread_mutex_lock(&g->reg_mu);
    json_t *o = gw__dev_json(d, false);
    pthread_mutex_unlock(&g->reg_mu);
    json_object_set_new(o, "change", json_string(change));
    gw__events_emit(g, "device", d->id, NULL, NULL, NULL, o);
}

void gw__dev_mdns_seen(struct ht_gw *g, const char *id)
{
    if (!ht_id_valid(id))
        return;
    struct gw_dev *d = gw__dev_find(g, id);
    if (d)
        return;
    d = dev_add(g, id, GW_DISCOVERED);
    d->mdns_seen = true;
    ht_log(LOG_INFO, MOD, "device %s discovered over mDNS", id);
    dev_persist(g, d);
    emit_device(g, d, "discovered");
}

/* ---- ingest ---- */

/* Seen but not yet known: discovered, until a technician registers
 * (pending) or approves it -- unless approval is automatic. */
static enum gw_state initial_state(struct ht_gw *g)
{
    return g->conf->auto_approve ? GW_APPROVED : GW_DISCOVERED;
}

/* Empty payload: the agent deregistered. Devices nobody registered
 * vanish; registered, approved or blocked ones keep their record (and
 * blocked stays blocked). */
static void on_deregister(struct ht_gw *g, struct gw_dev *d)
{
    if (d->state == GW_DISCOVERED) {
        char id[65];
        ht_strlcpy(id, d->id, sizeof id);
        ht_store_device_delete(g->store, id);
        emit_device(g, d, "removed");
        dev_remove(g, id);
        ht_log(LOG_INFO, MOD, "device %s deregistered and removed", id);
        return;
    }
    pthread_mutex_lock(&g->reg_mu);
    d->online = false;
    pthread_mutex_unlock(&g->reg_mu);
    dev_persist(g, d);
    emit_device(g, d, "deregistered");
}

static void ingest_td(struct ht_gw *g, const char *id, const char *payload,
                      size_t len)
{
    struct gw_dev *d = gw__dev_find(g, id);
    if (len == 0) {
        if (d)
            on_deregister(g, d);
        return;
    }
    json_error_t je;
    json_t *td = json_loadb(payload, len, 0, &je);
    char err[256];
    struct ht_sem_thing *thing = NULL;
    if (!td) {
        ht_log(LOG_WARNING, MOD, "TD of %s: line %d: %s", id, je.line, je.text);
        goto bad;
    }
    if (ht_sem_td_parse(td, &thing, err, sizeof err) != HT_OK) {
        ht_log(LOG_WARNING, MOD, "TD of %s rejected: %s", id, err);
        goto bad;
    }
    if (!thing->id || strcmp(thing->id, id)) {
        ht_log(LOG_WARNING, MOD, "TD on the topic of %s names %s: rejected", id,
               thing->id ? thing->id : "(none)");
        goto bad;
    }
    bool added = !d;
    if (!d)
        d = dev_add(g, id, initial_state(g));
    else if (d->state == GW_DISCOVERED && g->conf->auto_approve) {
        pthread_mutex_lock(&g->reg_mu);
        d->state = GW_APPROVED;
        pthread_mutex_unlock(&g->reg_mu);
    }
    if (d->state == GW_BLOCKED) {
        ht_log(LOG_DEBUG, MOD, "TD of blocked device %s ignored", id);
        goto out;
    }
    int version = d->td_version;
    int rc = ht_store_td_add(g->store, id, td, thing, ht_time_ms(), &version);
    if (rc) {
        ht_log(LOG_ERR, MOD, "cannot store the TD of %s: %s", id,
               ht_strerror(rc));
        goto out;
    }
    bool changed = version != d->td_version || !d->thing;
    pthread_mutex_lock(&g->reg_mu);
    free(d->title);
    d->title = thing->title ? ht_strdup(thing->title) : NULL;
    ht_sem_thing_free(d->thing);
    d->thing = thing;
    thing = NULL;
    d->td_version = version;
    d->last_seen = ht_time_ms();
    pthread_mutex_unlock(&g->reg_mu);
    dev_persist(g, d);
    if (added || changed) {
        ht_log(LOG_INFO, MOD, "device %s: TD version %d (%s)", id, version,
               gw__state_name(d->state));
        emit_device(g, d, added ? "added" : "td");
        if (d->state == GW_APPROVED)
            gw__twin_hook_td(g, id, d->thing);
    }
    goto out;
bad:
    pthread_mutex_lock(&g->metrics.mu);
    g->metrics.mqtt_bad++;
    pthread_mutex_unlock(&g->metrics.mu);
out:
    ht_sem_thing_free(thing);
    json_decref(td);
}

static void ingest_status(struct ht_gw *g, const char *id, const char *payload,
                          size_t len)
{
    struct gw_dev *d = gw__dev_find(g, id);
    if (!d || len == 0 || d->state == GW_BLOCKED)
        return; /* status alone never creates a device: the TD does */
    json_t *j = json_loadb(payload, len, 0, NULL);
    const char *s = json_string_value(json_object_get(j, "state"));
    if (!s || (strcmp(s, "online") && strcmp(s, "offline"))) {
        ht_log(LOG_WARNING, MOD, "bad status from %s", id);
        json_decref(j);
        return;
    }
    bool online = !strcmp(s, "online");
    json_decref(j);
    s = online ? "online" : "offline";
    if (online == d->online)
        return;
    pthread_mutex_lock(&g->reg_mu);
    d->online = online;
    d->last_seen = ht_time_ms();
    pthread_mutex_unlock(&g->reg_mu);
    dev_persist(g, d);
    ht_log(LOG_INFO, MOD, "device %s is %s", id, s);
    emit_device(g, d, "status");
    if (d->state == GW_APPROVED)
        gw__twin_hook_status(g, id, online);
}

static void ingest_value(struct ht_gw *g, const char *id, const char *name,
                         const char *payload, size_t len)
{
    struct gw_dev *d = gw__dev_find(g, id);
    if (!d || d->state == GW_BLOCKED)
        return;
    if (!ht_sem_name_valid(name))
        return;
    if (d->thing && !ht_sem_thing_prop(d->thing, name)) {
        ht_log(LOG_DEBUG, MOD, "%s: value of unknown property %s", id, name);
        return;
    }
    json_t *j = json_loadb(payload, len, 0, NULL);
    json_t *v = json_object_get(j, "v");
    if (!v) {
        ht_log(LOG_WARNING, MOD, "bad value from %s/%s", id, name);
        json_decref(j);
        return;
    }
    int64_t now = ht_time_ms();
    json_t *tsj = json_object_get(j, "ts");
    int64_t ts = json_is_integer(tsj) ? json_integer_value(tsj) : now;
    int64_t seq = json_integer_value(json_object_get(j, "seq"));
    /* The value's text once, for the journal, the event and observers. */
    char *vtext = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!vtext) {
        json_decref(j);
        return;
    }
    /* Updated in place once the property has a record (readers copy it
     * under reg_mu): no allocation per value. */
    pthread_mutex_lock(&g->reg_mu);
    json_t *rec = json_object_get(d->values, name);
    json_t *rts = json_object_get(rec, "ts"), *rseq = json_object_get(rec, "seq");
    if (json_is_integer(rts) && json_is_integer(rseq)) {
        json_object_set(rec, "v", v);
        json_integer_set(rts, (json_int_t)ts);
        json_integer_set(rseq, (json_int_t)seq);
    } else {
        json_object_set_new(d->values, name,
                            json_pack("{s:O, s:I, s:I}", "v", v, "ts",
                                      (json_int_t)ts, "seq", (json_int_t)seq));
    }
    d->last_seen = now;
    d->dirty = true;
    pthread_mutex_unlock(&g->reg_mu);
    ht_store_value_add(g->store, id, name, v, vtext, ts, seq);
    /* Ids and names are [a-z0-9._-]: nothing to escape. */
    char buf[512], *data = buf;
    const char *fmt = "{\"device\":\"%s\",\"property\":\"%s\",\"v\":%s,"
                      "\"ts\":%" PRId64 ",\"seq\":%" PRId64 "}";
    int n = snprintf(buf, sizeof buf, fmt, id, name, vtext, ts, seq);
    if (n >= (int)sizeof buf) {
        data = ht_malloc((size_t)n + 1);
        snprintf(data, (size_t)n + 1, fmt, id, name, vtext, ts, seq);
    }
    if (n > 0)
        gw__events_push(g, "state", id, name, NULL, vtext, data, (size_t)n);
    if (data != buf)
        free(data);
    free(vtext);
    if (d->state == GW_APPROVED)
        gw__twin_hook_value(g, id, name, v, ts);
    json_decref(j);
}

/* ---- jobs ---- */

struct gw_job *gw__job_new(enum gw_job_kind kind, const char *dev,
                           const char *actor)
{
    struct gw_job *j = ht_calloc(1, sizeof *j);
    j->kind = kind;
    if (dev)
        ht_strlcpy(j->dev, dev, sizeof j->dev);
    ht_strlcpy(j->actor, actor ? actor : "", sizeof j->actor);
    j->t0_ms = ht_mono_ms();
    j->refs = 1;
    return j;
}

void gw__job_unref(struct ht_gw *g, struct gw_job *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&g->jobs_mu);
    int left = --j->refs;
    pthread_mutex_unlock(&g->jobs_mu);
    if (left > 0)
        return;
    json_decref(j->value);
    json_decref(j->body);
    free(j);
}

int gw__job_submit(struct ht_gw *g, struct gw_job *j,
                   struct MHD_Connection *conn)
{
    pthread_mutex_lock(&g->jobs_mu);
    if (g->jobs_closed) {
        pthread_mutex_unlock(&g->jobs_mu);
        return HT_ESTATE;
    }
    /* Suspend before queueing: the loop may resume it right away. */
    j->conn = conn;
    MHD_suspend_connection(conn);
    j->refs++;
    j->next = NULL;
    if (g->jobs_tail)
        g->jobs_tail->next = j;
    else
        g->jobs_head = j;
    g->jobs_tail = j;
    pthread_mutex_unlock(&g->jobs_mu);
    ht_loop_wakeup(g->loop);
    return HT_OK;
}

bool gw__job_done(struct ht_gw *g, struct gw_job *j)
{
    pthread_mutex_lock(&g->jobs_mu);
    bool d = j->done;
    pthread_mutex_unlock(&g->jobs_mu);
    return d;
}

static void metrics_cmd(struct ht_gw *g, int status, uint64_t ms)
{
    int k = status == 200                                       ? 0
            : status == 400                                     ? 1
            : (status == 403 || status == 404 || status == 409) ? 2
            : status == 503                                     ? 3
            : status == 504                                     ? 4
                                                                : 5;
    pthread_mutex_lock(&g->metrics.mu);
    g->metrics.cmd_by_status[k]++;
    pthread_mutex_unlock(&g->metrics.mu);
    gw__hist_observe(&g->metrics, &g->metrics.cmd_latency, (double)ms / 1000.0);
}

static const char *job_action(enum gw_job_kind k)
{
    static const char *const n[] = {"write",       "approve",   "block",
                                    "delete",      "register",  "twin-put",
                                    "twin-delete", "twin-write"};
    return n[k];
}

/* Loop thread: the audit record of j is committed (or failed): answer. */
static void job_finish(struct ht_gw *g, struct gw_job *j, int audit_rc)
{
    pthread_mutex_lock(&g->jobs_mu);
    if (audit_rc) {
        /* Never acknowledge what the audit log does not hold. */
        json_decref(j->body);
        j->status = 500;
        j->body = gw__problem(500, "Audit log unavailable",
                              "the command could not be recorded");
    }
    int status = j->status;
    j->done = true;
    pthread_mutex_unlock(&g->jobs_mu);
    if (j->kind == GW_JOB_WRITE)
        metrics_cmd(g, status, j->ms);
    if (j->on_complete)
        j->on_complete(g, j); /* twin sub-command: no connection */
    else
        MHD_resume_connection(j->conn);
    gw__job_unref(g, j);
}

/* Store writer thread: hand the job back to the loop. */
static void audit_done(void *ud, int rc)
{
    struct gw_job *j = ud;
    struct ht_gw *g = j->gw;
    pthread_mutex_lock(&g->jobs_mu);
    j->audit_rc = rc;
    j->dnext = NULL;
    if (g->done_tail)
        g->done_tail->dnext = j;
    else
        g->done_head = j;
    g->done_tail = j;
    pthread_mutex_unlock(&g->jobs_mu);
    ht_loop_wakeup(g->loop);
}

static void finish_done(struct ht_gw *g)
{
    pthread_mutex_lock(&g->jobs_mu);
    struct gw_job *j = g->done_head;
    g->done_head = g->done_tail = NULL;
    pthread_mutex_unlock(&g->jobs_mu);
    while (j) {
        struct gw_job *next = j->dnext;
        job_finish(g, j, j->audit_rc);
        j = next;
    }
}

/* Finish a job: audit it durably, then hand the answer to HTTP. The
 * record goes to the store's writer, which commits the records of every
 * job finishing meanwhile with one fsync; the loop answers when told. */
static void job_complete(struct ht_gw *g, struct gw_job *j, int status,
                         json_t *body, const char *result)
{
    uint64_t ms = ht_mono_ms() - j->t0_ms;
    char *val =
        j->value ? json_dumps(j->value, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    struct ht_store_audit a = {
        .ts = ht_time_ms(),
        .actor = j->actor,
        .action = job_action(j->kind),
        .device = j->dev[0] ? j->dev : NULL,
        .target = j->prop[0] ? j->prop : NULL,
        .value = val,
        .result = result,
        .status = status,
        .latency_ms = (int64_t)ms,
    };
    if (j->timer) {
        ht_timer_free(j->timer);
        j->timer = NULL;
    }
    pthread_mutex_lock(&g->jobs_mu);
    j->status = status;
    j->body = body;
    pthread_mutex_unlock(&g->jobs_mu);
    j->gw = g;
    j->ms = ms;
    int rc = ht_store_audit_add_async(g->store, &a, audit_done, j);
    if (rc) {
        rc = ht_store_audit_add(g->store, &a);
        job_finish(g, j, rc);
    }
    free(val);
}

static void job_fail(struct ht_gw *g, struct gw_job *j, int status,
                     const char *code, const char *title, const char *detail)
{
    json_t *p = gw__problem(status, title, detail);
    json_object_set_new(p, "code", json_string(code));
    job_complete(g, j, status, p, code);
}

static void pending_remove(struct ht_gw *g, struct gw_job *j)
{
    for (struct gw_job **pp = &g->pending; *pp; pp = &(*pp)->pnext)
        if (*pp == j) {
            *pp = j->pnext;
            return;
        }
}

/* No ack in time: the command is answered 504 and forgotten; a late ack
 * finds nothing pending and is dropped. */
static void cmd_timeout(struct ht_timer *t, void *ud)
{
    (void)t;
    struct gw_job *j = ud;
    struct ht_gw *g = j->gw;
    pending_remove(g, j);
    char detail[160];
    snprintf(detail, sizeof detail, "no acknowledgement from %s within %d ms",
             j->dev, g->conf->command_timeout_ms);
    job_fail(g, j, 504, "timeout", "Device did not answer", detail);
}

static void job_write(struct ht_gw *g, struct gw_job *j)
{
    struct gw_dev *d = gw__dev_find(g, j->dev);
    char msg[256];
    if (!d) {
        job_fail(g, j, 404, "unknown_device", "Unknown device", j->dev);
        return;
    }
    const struct ht_sem_prop *p =
        d->thing ? ht_sem_thing_prop(d->thing, j->prop) : NULL;
    if (!p) {
        snprintf(msg, sizeof msg, "%s has no property %s", j->dev, j->prop);
        job_fail(g, j, 404, "unknown_property", "Unknown property", msg);
        return;
    }
    if (d->state != GW_APPROVED) {
        snprintf(msg, sizeof msg,
                 "%s is %s: only approved devices take "
                 "commands",
                 j->dev, gw__state_name(d->state));
        job_fail(g, j, 403, "not_approved", "Device not approved", msg);
        return;
    }
    enum ht_sem_check c = ht_sem_value_check(p, j->value, msg, sizeof msg);
    if (c == HT_SEM_READ_ONLY) {
        job_fail(g, j, 409, "read_only", "Property is read-only", msg);
        return;
    }
    if (c != HT_SEM_OK) {
        job_fail(g, j, 400, ht_sem_check_code(c), "Invalid value", msg);
        return;
    }
    if (!d->online || !ht_mqtt_connected(g->mqtt)) {
        snprintf(msg, sizeof msg, "%s",
                 !d->online ? "the device is offline"
                            : "the broker is unreachable");
        job_fail(g, j, 503, "offline", "Device unavailable", msg);
        return;
    }
    j->corr = ++g->next_corr;
    char corr[24];
    snprintf(corr, sizeof corr, "%016" PRIx64, j->corr);
    char *topic = ht_asprintf("%s/devices/%s/cmd/%s", g->conf->mqtt_prefix,
                              j->dev, j->prop);
    json_t *body = json_pack("{s:O}", "v", j->value);
    char *payload = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    /* The ack comes back under the device's own subtree, where the
     * provisioning ACLs let only that device write: an ack is trusted only
     * from the device that got the command (see ingest_ack). */
    char *resp = ht_asprintf("%s/devices/%s/ack", g->conf->mqtt_prefix, j->dev);
    mosquitto_property *props = NULL;
    mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, resp);
    free(resp);
    mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, corr,
                                  (uint16_t)strlen(corr));
    int rc = ht_mqtt_publish(g->mqtt, topic, payload, strlen(payload), 1, false,
                             props, NULL);
    mosquitto_property_free_all(&props);
    free(payload);
    free(topic);
    if (rc) {
        job_fail(g, j, 503, "offline", "Broker unavailable", ht_strerror(rc));
        return;
    }
    j->gw = g;
    j->timer = ht_timer_new(g->loop, cmd_timeout, j);
    ht_timer_start(j->timer, (uint64_t)g->conf->command_timeout_ms, 0);
    j->pnext = g->pending;
    g->pending = j;
}

/* dev: the device whose ack topic it came on (NULL: the shared legacy
 * topic g->ack_topic). */
static void ingest_ack(struct ht_gw *g, const char *dev, const char *payload,
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
    struct gw_job *j = g->pending;
    while (j && j->corr != id)
        j = j->pnext;
    if (!j) {
        ht_log(LOG_DEBUG, MOD, "late or unknown ack %s", buf);
        return;
    }
    if (dev && strcmp(dev, j->dev)) {
        ht_log(LOG_WARNING, MOD, "ack %s for %s came on the topic of %s", buf,
               j->dev, dev);
        return;
    }
    pending_remove(g, j);
    json_t *a = json_loadb(payload, len, 0, NULL);
    if (json_is_true(json_object_get(a, "ok"))) {
        json_t *v = json_object_get(a, "v");
        json_t *tsj = json_object_get(a, "ts");
        json_int_t ts =
            json_is_integer(tsj) ? json_integer_value(tsj) : ht_time_ms();
        json_t *body = json_pack("{s:O, s:I}", "v", v ? v : j->value, "ts", ts);
        /* The device confirmed the value: a read right after the write
         * must see it, even before the device's own value message. */
        struct gw_dev *d = gw__dev_find(g, j->dev);
        if (d) {
            pthread_mutex_lock(&g->reg_mu);
            json_t *old = json_object_get(d->values, j->prop);
            json_int_t seq = json_integer_value(json_object_get(old, "seq"));
            json_object_set_new(d->values, j->prop,
                                json_pack("{s:O, s:I, s:I}", "v",
                                          v ? v : j->value, "ts", ts, "seq",
                                          seq));
            pthread_mutex_unlock(&g->reg_mu);
        }
        job_complete(g, j, 200, body, "ok");
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
        job_fail(g, j, st, code, "Device refused the command", m ? m : code);
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
            job_fail(g, j, 409, "exists", "Device exists",
                     "a device with this id is already registered");
            return;
        }
        if (seen) {
            pthread_mutex_lock(&g->reg_mu);
            d->state = GW_PENDING;
            pthread_mutex_unlock(&g->reg_mu);
        } else {
            d = dev_add(g, j->dev, GW_PENDING);
        }
        if (dev_persist(g, d)) {
            dev_remove(g, j->dev);
            job_fail(g, j, 500, "store", "Store error", "cannot record it");
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
                pthread_mutex_lock(&g->reg_mu);
                d->state = GW_DISCOVERED;
                pthread_mutex_unlock(&g->reg_mu);
                dev_persist(g, d);
            } else {
                ht_store_device_delete(g->store, j->dev);
                dev_remove(g, j->dev);
            }
            job_fail(g, j, 500, "provisioning", "Provisioning failed",
                     "cannot create the device's broker credentials");
            return;
        }
        emit_device(g, d, "added");
        job_complete(g, j, 201, body, "ok");
        return;
    }
    if (!d) {
        job_fail(g, j, 404, "unknown_device", "Unknown device", j->dev);
        return;
    }
    if (j->kind == GW_JOB_DELETE) {
        /* Revoke its broker account first: a device that keeps its
         * credentials is not removed. */
        int prc = gw__prov_device_remove(g, d->id);
        if (prc) {
            job_fail(g, j, 500, "provisioning", "Provisioning failed",
                     ht_strerror(prc));
            return;
        }
        /* Clear the device's retained topics so it does not come back as a
         * ghost from the broker's store. */
        static const char *const sub[] = {"td", "status"};
        for (int i = 0; i < 2; i++) {
            char *t = ht_asprintf("%s/devices/%s/%s", g->conf->mqtt_prefix,
                                  d->id, sub[i]);
            ht_mqtt_publish(g->mqtt, t, "", 0, 1, true, NULL, NULL);
            free(t);
        }
        int rc = ht_store_device_delete(g->store, d->id);
        if (rc && rc != HT_ENOENT) {
            job_fail(g, j, 500, "store", "Store error", ht_strerror(rc));
            return;
        }
        bool approved = d->state == GW_APPROVED;
        emit_device(g, d, "removed");
        if (approved)
            gw__twin_hook_removed(g, j->dev);
        dev_remove(g, j->dev);
        ht_log(LOG_NOTICE, MOD, "device %s removed by %s", j->dev, j->actor);
        job_complete(g, j, 204, NULL, "ok");
        return;
    }
    enum gw_state to = j->kind == GW_JOB_APPROVE ? GW_APPROVED : GW_BLOCKED;
    enum gw_state was = d->state;
    pthread_mutex_lock(&g->reg_mu);
    d->state = to;
    pthread_mutex_unlock(&g->reg_mu);
    if (dev_persist(g, d)) {
        pthread_mutex_lock(&g->reg_mu);
        d->state = was;
        pthread_mutex_unlock(&g->reg_mu);
        job_fail(g, j, 500, "store", "Store error", "cannot record it");
        return;
    }
    if (was != to) {
        ht_log(LOG_NOTICE, MOD, "device %s %s by %s", d->id, gw__state_name(to),
               j->actor);
        emit_device(g, d, gw__state_name(to));
        if (to == GW_APPROVED && d->thing)
            gw__twin_hook_td(g, d->id, d->thing);
        if (was == GW_APPROVED)
            gw__twin_hook_removed(g, d->id);
    }
    pthread_mutex_lock(&g->reg_mu);
    json_t *body = gw__dev_json(d, false);
    pthread_mutex_unlock(&g->reg_mu);
    job_complete(g, j, 200, body, "ok");
}

static void run_job(struct ht_gw *g, struct gw_job *j)
{
    if (j->kind == GW_JOB_WRITE)
        job_write(g, j);
    else if (j->kind >= GW_JOB_TWIN_PUT)
        gw__twins_job(g, j); /* twins.c */
    else
        job_admin(g, j);
}

static void on_wakeup(struct ht_loop *l, void *ud)
{
    (void)l;
    struct ht_gw *g = ud;
    finish_done(g);
    pthread_mutex_lock(&g->jobs_mu);
    struct gw_job *j = g->jobs_head;
    g->jobs_head = g->jobs_tail = NULL;
    pthread_mutex_unlock(&g->jobs_mu);
    while (j) {
        struct gw_job *next = j->next;
        run_job(g, j);
        j = next;
    }
}

/* ---- MQTT ---- */

static void on_connect(void *ud, int rc, bool session_present)
{
    struct ht_gw *g = ud;
    if (rc)
        return;
    static const char *const subs[] = {"devices/+/td", "devices/+/status",
                                       "devices/+/props/+", "devices/+/ack"};
    g->subs_pending = 5;
    for (int i = 0; i < 4; i++) {
        char *p = ht_asprintf("%s/%s", g->conf->mqtt_prefix, subs[i]);
        if (ht_mqtt_subscribe(g->mqtt, p, 1) != HT_OK)
            g->subs_pending--;
        free(p);
    }
    if (ht_mqtt_subscribe(g->mqtt, g->ack_topic, 1) != HT_OK)
        g->subs_pending--;
    ht_log(LOG_INFO, MOD, "subscribed (session %s)",
           session_present ? "resumed" : "new");
}

/* Each SUBACK brings the gateway closer to ready: until all are in, values
 * that agents publish may not reach it (a new session has no queue yet). */
static void on_subscribe(void *ud, int mid, int granted_qos)
{
    (void)mid;
    struct ht_gw *g = ud;
    if (granted_qos >= 128)
        ht_log(LOG_ERR, MOD, "the broker refused a subscription (%d)",
               granted_qos);
    else if (g->subs_pending > 0)
        g->subs_pending--;
}

/* Topic: PREFIX/devices/ID/(td|status|props/NAME|ack), or the legacy
 * shared ack topic. */
static void on_message(void *ud, const struct mosquitto_message *msg,
                       const mosquitto_property *props)
{
    struct ht_gw *g = ud;
    pthread_mutex_lock(&g->metrics.mu);
    g->metrics.mqtt_in++;
    pthread_mutex_unlock(&g->metrics.mu);
    size_t len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    if (len > (size_t)g->conf->mqtt_max_payload) {
        ht_log(LOG_WARNING, MOD, "%s: payload of %zu bytes dropped", msg->topic,
               len);
        return;
    }
    if (!strcmp(msg->topic, g->ack_topic)) {
        ingest_ack(g, NULL, msg->payload, len, props);
        return;
    }
    size_t pl = strlen(g->conf->mqtt_prefix);
    if (strncmp(msg->topic, g->conf->mqtt_prefix, pl) ||
        strncmp(msg->topic + pl, "/devices/", 9))
        return;
    const char *rest = msg->topic + pl + 9;
    const char *slash = strchr(rest, '/');
    if (!slash || (size_t)(slash - rest) > 64)
        return;
    char id[65];
    memcpy(id, rest, (size_t)(slash - rest));
    id[slash - rest] = '\0';
    if (!ht_id_valid(id)) {
        ht_log(LOG_WARNING, MOD, "message for invalid device id dropped");
        return;
    }
    const char *kind = slash + 1;
    uint64_t *ctr = NULL;
    if (!strcmp(kind, "td")) {
        ctr = &g->metrics.mqtt_in_td;
        ingest_td(g, id, msg->payload, len);
    } else if (!strcmp(kind, "status")) {
        ctr = &g->metrics.mqtt_in_status;
        ingest_status(g, id, msg->payload, len);
    } else if (!strncmp(kind, "props/", 6)) {
        ctr = &g->metrics.mqtt_in_props;
        ingest_value(g, id, kind + 6, msg->payload, len);
    } else if (!strcmp(kind, "ack")) {
        ingest_ack(g, id, msg->payload, len, props);
    }
    if (ctr) {
        pthread_mutex_lock(&g->metrics.mu);
        (*ctr)++;
        pthread_mutex_unlock(&g->metrics.mu);
    }
}

/* ---- timers ---- */

static void on_flush(struct ht_timer *t, void *ud)
{
    (void)t;
    struct ht_gw *g = ud;
    /* last_seen of the devices heard from since the last tick, journaled
     * like values (the store's writer commits them with the next batch),
     * not once per value. */
    for (size_t i = 0; i < g->ndevs; i++) {
        struct gw_dev *d = g->devs[i];
        if (d->dirty && ht_store_seen_add(g->store, d->id, d->last_seen) ==
                            HT_OK)
            d->dirty = false;
    }
}

static void on_retention(struct ht_timer *t, void *ud)
{
    (void)t;
    struct ht_gw *g = ud;
    int64_t n = 0;
    ht_store_retention(g->store, ht_time_ms(), &n);
    if (n)
        ht_log(LOG_INFO, MOD, "retention removed %" PRId64 " history rows", n);
}

static void on_ping(struct ht_timer *t, void *ud)
{
    (void)t;
    gw__events_ping(ud);
    /* Bursts (registrations, broker reconnects) leave freed heap pages
     * behind that glibc does not return by itself. */
    malloc_trim(0);
}

/* ---- load and lifecycle ---- */

/* Store callbacks run under the store's lock, so rows are collected first
 * and TDs read afterwards. */
struct rows {
    struct ht_store_device *v;
    size_t n, cap;
};

static void collect_device(void *ud, const struct ht_store_device *r)
{
    struct rows *rs = ud;
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 16;
        rs->v = ht_realloc(rs->v, rs->cap * sizeof *rs->v);
    }
    rs->v[rs->n++] = *r;
}

static void load_device(struct ht_gw *g, const struct ht_store_device *r)
{
    enum gw_state st = GW_PENDING;
    gw__state_parse(r->state, &st);
    struct gw_dev *d = dev_add(g, r->id, st);
    d->title = r->title[0] ? ht_strdup(r->title) : NULL;
    d->online = false; /* until its retained status arrives again */
    d->last_seen = r->last_seen;
    d->created = r->created;
}

/* Start-up: the newest TD of every device, parsed on two threads (JSON
 * parsing is most of a large start-up, and nothing else runs yet). */
struct td_load {
    struct gw_dev **dev;
    char **text;
    int *version;
    struct ht_sem_thing **thing;
    size_t n, cap;
};

static void load_td(void *ud, const char *id, const char *td, int version)
{
    struct ht_gw *g = ((void **)ud)[0];
    struct td_load *l = ((void **)ud)[1];
    struct gw_dev *d = gw__dev_find(g, id);
    if (!d)
        return;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->dev = ht_realloc(l->dev, l->cap * sizeof *l->dev);
        l->text = ht_realloc(l->text, l->cap * sizeof *l->text);
        l->version = ht_realloc(l->version, l->cap * sizeof *l->version);
        l->thing = ht_realloc(l->thing, l->cap * sizeof *l->thing);
    }
    l->dev[l->n] = d;
    l->text[l->n] = ht_strdup(td);
    l->version[l->n] = version;
    l->thing[l->n] = NULL;
    l->n++;
}

struct td_part {
    struct td_load *l;
    size_t from, to;
};

static void *parse_tds(void *arg)
{
    struct td_part *p = arg;
    for (size_t i = p->from; i < p->to; i++) {
        json_t *td = json_loads(p->l->text[i], 0, NULL);
        char err[256];
        if (td)
            ht_sem_td_parse(td, &p->l->thing[i], err, sizeof err);
        json_decref(td);
        free(p->l->text[i]);
        p->l->text[i] = NULL;
    }
    return NULL;
}

static int load_tds(struct ht_gw *g)
{
    struct td_load l = {0};
    void *ud[2] = {g, &l};
    int rc = ht_store_td_latest_each(g->store, load_td, ud);
    struct td_part a = {&l, 0, l.n / 2}, b = {&l, l.n / 2, l.n};
    pthread_t t;
    bool two = l.n > 64 && pthread_create(&t, NULL, parse_tds, &b) == 0;
    parse_tds(&a);
    if (two)
        pthread_join(t, NULL);
    else
        parse_tds(&b);
    for (size_t i = 0; i < l.n; i++)
        if (l.thing[i]) {
            ht_sem_thing_free(l.dev[i]->thing);
            l.dev[i]->thing = l.thing[i];
            l.dev[i]->td_version = l.version[i];
        }
    free(l.dev);
    free(l.text);
    free(l.version);
    free(l.thing);
    return rc;
}

static void load_value(void *ud, const char *id, const char *name,
                       const json_t *v, int64_t ts, int64_t seq)
{
    struct ht_gw *g = ud;
    struct gw_dev *d = gw__dev_find(g, id);
    if (d)
        json_object_set_new(d->values, name,
                            json_pack("{s:O, s:I, s:I}", "v", (json_t *)v, "ts",
                                      (json_int_t)ts, "seq", (json_int_t)seq));
}

int gw__event_init(struct ht_gw *g, char *err, size_t errlen)
{
    struct rows rs = {0};
    int rc = ht_store_device_each(g->store, collect_device, &rs);
    for (size_t i = 0; rc == HT_OK && i < rs.n; i++)
        load_device(g, &rs.v[i]);
    free(rs.v);
    if (rc == HT_OK)
        rc = load_tds(g);
    if (rc == HT_OK)
        rc = ht_store_latest_each(g->store, load_value, g);
    if (rc) {
        snprintf(err, errlen, "cannot load devices: %s", ht_strerror(rc));
        return rc;
    }
    snprintf(g->ack_topic, sizeof g->ack_topic, "%s/gateway/%s/ack",
             g->conf->mqtt_prefix, g->conf->gateway_id);
    struct ht_mqtt_opts o = {
        .host = g->broker_host,
        .port = g->broker_port,
        .client_id = g->conf->mqtt_client_id,
        .username = gw__prov_user(g), /* provisioned, else configured */
        .password = gw__prov_password(g),
        .clean_start = false,
        .session_expiry = (uint32_t)g->conf->mqtt_session_expiry,
        .backoff_min_ms = 100,
        .backoff_max_ms = 5000,
    };
    struct ht_mqtt_cbs cbs = {
        .on_connect = on_connect,
        .on_message = on_message,
        .on_subscribe = on_subscribe,
    };
    rc = ht_mqtt_new(g->loop, &o, &cbs, g, &g->mqtt);
    if (rc) {
        snprintf(err, errlen, "MQTT client: %s", ht_strerror(rc));
        return rc;
    }
    /* Correlation ids must not repeat across restarts: agents cache recent
     * ids to drop duplicates, and would answer a reused one from cache. */
    g->next_corr = (uint64_t)ht_time_ms() << 16;
    ht_loop_on_wakeup(g->loop, on_wakeup, g);
    g->flush_timer = ht_timer_new(g->loop, on_flush, g);
    g->retention_timer = ht_timer_new(g->loop, on_retention, g);
    g->ping_timer = ht_timer_new(g->loop, on_ping, g);
    return HT_OK;
}

int gw__event_start(struct ht_gw *g)
{
    ht_timer_start(g->flush_timer, (uint64_t)g->conf->history_flush_ms,
                   (uint64_t)g->conf->history_flush_ms);
    ht_timer_start(g->retention_timer, 60000, 3600000);
    ht_timer_start(g->ping_timer, 15000, 15000);
    return ht_mqtt_start(g->mqtt);
}

/* Answer everything still waiting with 503 so no connection stays
 * suspended when the HTTP daemon stops. */
void gw__event_stop(struct ht_gw *g)
{
    pthread_mutex_lock(&g->jobs_mu);
    g->jobs_closed = true;
    struct gw_job *j = g->jobs_head;
    g->jobs_head = g->jobs_tail = NULL;
    pthread_mutex_unlock(&g->jobs_mu);
    while (j) {
        struct gw_job *next = j->next;
        job_fail(g, j, 503, "shutting_down", "Gateway stopping",
                 "the gateway is shutting down");
        j = next;
    }
    while (g->pending) {
        j = g->pending;
        g->pending = j->pnext;
        job_fail(g, j, 503, "shutting_down", "Gateway stopping",
                 "the gateway is shutting down");
    }
    if (g->mqtt)
        ht_mqtt_stop(g->mqtt);
    ht_timer_stop(g->flush_timer);
    ht_timer_stop(g->retention_timer);
    ht_timer_stop(g->ping_timer);
    on_flush(NULL, g);
    /* Every audit record committed, every job answered: no connection may
     * stay suspended when the HTTP daemon stops. */
    ht_store_flush(g->store, NULL);
    finish_done(g);
}

void gw__event_clear(struct ht_gw *g)
{
    ht_mqtt_free(g->mqtt);
    g->mqtt = NULL;
    ht_timer_free(g->flush_timer);
    ht_timer_free(g->retention_timer);
    ht_timer_free(g->ping_timer);
    g->flush_timer = g->retention_timer = g->ping_timer = NULL;
    for (size_t i = 0; i < g->ndevs; i++)
        dev_free(g->devs[i]);
    free(g->devs);
    g->devs = NULL;
    g->ndevs = g->capdevs = 0;
}
