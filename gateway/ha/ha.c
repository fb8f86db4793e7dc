/* ha.c - Home Assistant MQTT discovery on the loop thread (ha.h).
 *
 * One reconcile does everything: it computes the configs every approved
 * device and every twin should have now (discovery.c), publishes those
 * that changed (retained) and an empty retained payload for those that
 * are gone. It runs when a device's TD or approval changes (ingest's
 * subscriber hooks), when the registry's or the twin table's generation
 * moved or the HA account's role changed (checked once a second: twins
 * have no hook of their own and a count compare costs nothing), after
 * every (re)connect of the gateway's client, and when HA announces itself
 * on {prefix}/status (its birth: it may have lost what it knew).
 *
 * Our own retained configs come back through a subscription to this
 * gateway's node ({prefix}/+/{node}/+/config): one we do not know of is
 * left from an earlier run (a device removed while we were down, or the
 * integration since turned off) and is cleared unless it is wanted.
 */
#include "gateway/ha/ha.h"

#include "gateway/broker/provision.h"
#include "gateway/ingest/ingest.h"
#include "gateway/registry/registry.h"
#include "gateway/twinglue/twinglue.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_loop.h"
#include "ht_mem.h"
#include "ht_mqtt.h"
#include "ht_topic.h"
#include "ht_util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define MOD "homeassistant"
/* How often the generations and the account's role are compared. */
#define HA_CHECK_MS 1000

struct gw_ha {
    bool enabled;
    char node[HT_TOPIC_HA_ID_MAX + 1];
    json_t *pub; /* {topic: config text} retained by us now */
    struct ht_timer *timer;
    struct ht_prepare *prep;
    unsigned connects;
    uint64_t reg_gen, twins_gen;
    int role;   /* the HA account's role at the last reconcile */
    bool dirty; /* reconcile at the next tick */
    bool force; /* ... and republish everything */
};

static int publish(struct ht_gw *g, const char *topic, const char *text)
{
    int rc = ht_mqtt_publish(g->mqtt, topic, text, strlen(text), 1, true, NULL,
                             NULL);
    if (rc != HT_OK)
        ht_log(LOG_WARNING, MOD, "%s not published: %s", topic,
               ht_strerror(rc));
    return rc;
}

/* The account whose request topic becomes the command topic: only an
 * operator's (a viewer's commands would all be refused). */
static int account_role(struct ht_gw *g)
{
    const char *a = g->conf->ha_account;
    return a && *a ? gw__prov_app_role(g, a) : GW_PROV_APP_NONE;
}

static void merge(json_t *want, json_t *cfgs /* taken */)
{
    if (cfgs)
        json_object_update(want, cfgs);
    json_decref(cfgs);
}

/* Every config that should be retained now (new). */
static json_t *desired(struct ht_gw *g, int role)
{
    struct gw_ha_ctx ctx = {
        .dprefix = g->conf->ha_prefix,
        .prefix = g->conf->mqtt_prefix,
        .gateway = g->conf->gateway_id,
        .account = role == GW_PROV_APP_OPERATOR ? g->conf->ha_account : NULL,
        .version = HT_VERSION,
    };
    json_t *want = json_object();
    struct gw_registry *r = g->reg;
    for (size_t i = 0; i < r->ndevs; i++) {
        const struct gw_dev *d = r->devs[i];
        if (d->state != GW_APPROVED || !d->thing)
            continue;
        struct ht_sem_forms f = {0};
        json_t *td = ht_sem_td_build(d->thing, &f);
        merge(want, gw__ha_configs(&ctx, GW_HA_DEVICE, d->id,
                                   d->title ? d->title : d->thing->title, td,
                                   NULL, NULL));
        json_decref(td);
    }
    /* Automatic twins mirror one board, which is there already. */
    struct gw_twins *tw = g->twins;
    for (size_t i = 0; tw && i < tw->n; i++) {
        if (tw->v[i]->is_auto)
            continue;
        struct ht_twin_model *m = gw__twin_model(g, tw->v[i]->id);
        if (!m)
            continue;
        size_t n;
        struct ht_sem_thing **things = gw__twin_things(g, m, &n);
        json_t *td = ht_twin_td_build(
            m, (const struct ht_sem_thing *const *)things, n, NULL);
        json_t *bind = json_object(), *alarms = json_array();
        for (size_t c = 0; c < m->ncomps; c++)
            for (size_t p = 0; p < m->comps[c].nprops; p++) {
                char ref[80];
                snprintf(ref, sizeof ref, "%s.%s", m->comps[c].id,
                         m->comps[c].props[p].name);
                json_object_set_new(bind, ref,
                                    json_string(m->comps[c].props[p].device));
            }
        for (size_t k = 0; k < m->nrules; k++)
            if (m->rules[k].alarm)
                json_array_append_new(alarms, json_string(m->rules[k].id));
        merge(want, gw__ha_configs(&ctx, GW_HA_TWIN, m->id, m->title, td, bind,
                                   alarms));
        json_decref(td);
        json_decref(bind);
        json_decref(alarms);
        gw__things_free(things, n);
        ht_twin_model_free(m);
    }
    return want;
}

static void reconcile(struct ht_gw *g)
{
    struct gw_ha *h = g->ha;
    if (!g->mqtt || !ht_mqtt_connected(g->mqtt)) {
        h->dirty = true; /* redone at the next connect anyway */
        return;
    }
    bool force = h->force;
    uint64_t t0 = ht_mono_ms();
    h->dirty = h->force = false;
    h->reg_gen = __atomic_load_n(&g->reg->things_gen, __ATOMIC_ACQUIRE);
    h->twins_gen = gw__twins_gen(g);
    h->role = account_role(g);
    json_t *want = desired(g, h->role);
    size_t added = 0, removed = 0;
    const char *topic;
    json_t *cfg;
    /* Gone first: an entity that changes platform keeps its unique_id. */
    void *it = json_object_iter(h->pub);
    while (it) {
        topic = json_object_iter_key(it);
        void *next = json_object_iter_next(h->pub, it);
        if (!json_object_get(want, topic)) {
            if (publish(g, topic, "") == HT_OK) {
                json_object_del(h->pub, topic);
                removed++;
            } else {
                h->dirty = true;
            }
        }
        it = next;
    }
    json_object_foreach(want, topic, cfg)
    {
        char *text = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
        const char *had = json_string_value(json_object_get(h->pub, topic));
        if (force || !had || strcmp(had, text)) {
            if (publish(g, topic, text) == HT_OK) {
                json_object_set_new(h->pub, topic, json_string(text));
                added++;
            } else {
                h->dirty = true;
            }
        }
        free(text);
    }
    if (added || removed)
        ht_log(LOG_INFO, MOD,
               "discovery: %zu configs published, %zu removed (%zu retained) "
               "in %" PRIu64 " ms",
               added, removed, json_object_size(h->pub), ht_mono_ms() - t0);
    json_decref(want);
}

static void schedule(struct ht_gw *g, bool force)
{
    struct gw_ha *h = g->ha;
    h->dirty = true;
    h->force |= force;
    ht_timer_start(h->timer, 0, HA_CHECK_MS);
}

static void on_timer(struct ht_timer *t, void *ud)
{
    (void)t;
    struct ht_gw *g = ud;
    struct gw_ha *h = g->ha;
    if (h->dirty ||
        h->reg_gen != __atomic_load_n(&g->reg->things_gen, __ATOMIC_ACQUIRE) ||
        h->twins_gen != gw__twins_gen(g) || h->role != account_role(g))
        reconcile(g);
}

/* A new connection: the broker may have lost what was retained. */
static void on_prepare(struct ht_prepare *p, void *ud)
{
    (void)p;
    struct ht_gw *g = ud;
    struct gw_ha *h = g->ha;
    if (!g->mqtt || !ht_mqtt_connected(g->mqtt))
        return;
    unsigned c = ht_mqtt_connects(g->mqtt);
    if (c == h->connects)
        return;
    h->connects = c;
    schedule(g, true);
}

static void on_birth(struct ht_gw *g, const char *topic, const void *payload,
                     size_t len)
{
    (void)topic;
    if (len == 6 && !memcmp(payload, "online", 6)) {
        ht_log(LOG_INFO, MOD, "Home Assistant is online: configs republished");
        schedule(g, true);
    }
}

/* One of this node's retained configs (ours coming back, or left from
 * before). */
static void on_config(struct ht_gw *g, const char *topic, const void *payload,
                      size_t len)
{
    (void)payload;
    struct gw_ha *h = g->ha;
    if (!len || json_object_get(h->pub, topic))
        return;
    if (!h->enabled) {
        ht_log(LOG_NOTICE, MOD, "integration off: %s removed", topic);
        publish(g, topic, "");
        return;
    }
    /* Not ours (yet): keep it as retained, so the next reconcile either
     * replaces it with what is wanted or clears it. */
    json_object_set_new(h->pub, topic, json_string(""));
    schedule(g, false);
}

static void on_dev(struct ht_gw *g, const char *dev,
                   const struct ht_sem_thing *thing)
{
    (void)dev;
    (void)thing;
    schedule(g, false);
}

static void on_removed(struct ht_gw *g, const char *dev)
{
    (void)dev;
    schedule(g, false);
}

static const struct gw_ingest_sub ingest_sub = {
    .on_td = on_dev,
    .on_removed = on_removed,
};

int gw__ha_init(struct ht_gw *g, char *err, size_t errlen)
{
    const struct ht_gw_conf *c = g->conf;
    struct gw_ha *h = ht_calloc(1, sizeof *h);
    g->ha = h;
    h->enabled = c->ha_enabled;
    h->pub = json_object();
    char filter[HT_TOPIC_HA_MAX], birth[HT_TOPIC_HA_MAX];
    if (!ht_topic_prefix_valid(c->ha_prefix) ||
        gw__ha_node(c->gateway_id, h->node, sizeof h->node) != HT_OK ||
        ht_topic_ha_status(birth, sizeof birth, c->ha_prefix) < 0 ||
        snprintf(filter, sizeof filter, "%s/+/%s/+/config", c->ha_prefix,
                 h->node) >= (int)sizeof filter) {
        snprintf(err, errlen,
                 "integrations.homeassistant.discovery_prefix must be a "
                 "topic of at most %d bytes without wildcards or a trailing "
                 "/",
                 HT_TOPIC_PREFIX_MAX);
        gw__ha_clear(g);
        return HT_EINVAL;
    }
    if (h->enabled && c->ha_account && *c->ha_account &&
        !ht_id_valid(c->ha_account)) {
        snprintf(err, errlen,
                 "integrations.homeassistant.account '%s' is not an account "
                 "name",
                 c->ha_account);
        gw__ha_clear(g);
        return HT_EINVAL;
    }
    if (!strncmp(c->ha_prefix, c->mqtt_prefix, strlen(c->mqtt_prefix)) &&
        (c->ha_prefix[strlen(c->mqtt_prefix)] == '/' ||
         !c->ha_prefix[strlen(c->mqtt_prefix)])) {
        snprintf(err, errlen,
                 "integrations.homeassistant.discovery_prefix may not be "
                 "under mqtt.prefix");
        gw__ha_clear(g);
        return HT_EINVAL;
    }
    gw__ingest_route_raw(g, filter, on_config);
    if (!h->enabled)
        return HT_OK;
    gw__ingest_route_raw(g, birth, on_birth);
    gw__ingest_subscribe(g, &ingest_sub);
    h->timer = ht_timer_new(g->loop, on_timer, g);
    h->prep = ht_prepare_new(g->loop, on_prepare, g);
    ht_timer_start(h->timer, HA_CHECK_MS, HA_CHECK_MS);
    ht_log(LOG_INFO, MOD, "discovery under %s/ (node %s, account %s)",
           c->ha_prefix, h->node,
           c->ha_account && *c->ha_account ? c->ha_account : "none");
    return HT_OK;
}

void gw__ha_clear(struct ht_gw *g)
{
    struct gw_ha *h = g ? g->ha : NULL;
    if (!h)
        return;
    ht_timer_free(h->timer);
    ht_prepare_free(h->prep);
    json_decref(h->pub);
    free(h);
    g->ha = NULL;
}
