/* discovery.c - Home Assistant discovery configs from a TD (ha.h). Pure:
 * JSON in, JSON out; the keys are HA's documented ones for each platform
 * (tests/integration/ha-discovery-keys.json lists them, with sources).
 *
 * Why the values are read with templates rather than a bare payload: our
 * topics carry envelopes ({"v","ts","seq"} for a board's value, the whole
 * state for a twin), and HA's value_template reads them as they are, so
 * nothing is published twice. Why commands use a command_template: HA
 * publishes the rendered request of the apps path ({"device"|"twin",
 * "property","value"}) on the account's request topic, which is the only
 * topic the broker lets that account write.
 */
#include "gateway/ha/ha.h"

#include "ht_err.h"
#include "ht_id.h"
#include "ht_mem.h"
#include "ht_topic.h"
#include "ht_util.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The ISA-18.2 life-cycle states of an alarm (docs/twins.md "Alarms"):
 * the options of an alarm's enum sensor. */
static const char *const isa_states[] = {"normal",
                                         "active_unacknowledged",
                                         "active_acknowledged",
                                         "returned_unacknowledged",
                                         "shelved",
                                         "suppressed",
                                         "out_of_service"};

/* Characters of a discovery topic level are [a-zA-Z0-9_-]: '.' (legal in
 * our ids) becomes '_'. */
static void level(char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
            *s = '_';
}

int gw__ha_node(const char *gateway, char *buf, size_t bufsize)
{
    if (!gateway || !ht_id_valid(gateway) ||
        snprintf(buf, bufsize, "holotwin_%s", gateway) >= (int)bufsize)
        return HT_EINVAL;
    level(buf);
    return ht_topic_ha_id_valid(buf) ? HT_OK : HT_EINVAL;
}

/* QUDT unit of our vocabulary -> HA's unit and device class (sensor and
 * number share these classes). */
static const struct {
    const char *qudt, *unit, *cls;
} units[] = {
    {"unit:DEG_C", "°C", "temperature"},
    {"unit:KiloPA", "kPa", "pressure"},
    {"unit:V", "V", "voltage"},
    {"unit:A", "A", "current"},
    {"unit:W", "W", "power"},
    {"unit:HZ", "Hz", "frequency"},
    {"unit:L-PER-MIN", "L/min", "volume_flow_rate"},
    {"unit:PERCENT", "%", NULL},
    {"unit:REV-PER-MIN", "rpm", NULL},
};

/* Whether the property's @type names term (a string or an array). */
static bool has_type(const json_t *p, const char *term)
{
    const json_t *t = json_object_get(p, "@type");
    if (json_is_string(t))
        return !strcmp(json_string_value(t), term);
    for (size_t i = 0; i < json_array_size(t); i++) {
        const char *e = json_string_value(json_array_get(t, i));
        if (e && !strcmp(e, term))
            return true;
    }
    return false;
}

static void set_unit(json_t *c, const json_t *p)
{
    const char *u = json_string_value(json_object_get(p, "unit"));
    if (!u || !*u)
        return;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(u, units[i].qudt)) {
            json_object_set_new(c, "unit_of_measurement",
                                json_string(units[i].unit));
            const char *cls = units[i].cls;
            if (!cls && !strcmp(units[i].unit, "%") &&
                has_type(p, "ht:Humidity"))
                cls = "humidity";
            if (cls)
                json_object_set_new(c, "device_class", json_string(cls));
            return;
        }
    /* Another unit: its QUDT name, without a class HA would check. */
    json_object_set_new(
        c, "unit_of_measurement",
        json_string(!strncmp(u, "unit:", 5) && u[5] ? u + 5 : u));
}

/* What every entity of one device or twin shares. */
struct src {
    const struct gw_ha_ctx *ctx;
    enum gw_ha_kind kind;
    const char *id;
    char node[HT_TOPIC_HA_ID_MAX + 1];
    json_t *device; /* the device block */
    json_t *out;
};

/* default_entity_id: DOMAIN.OBJECT with OBJECT in [a-z0-9_]. */
static json_t *entity_id(const char *component, const char *node,
                         const char *object)
{
    char *s = ht_asprintf("%s.%s_%s", component, node, object);
    for (char *q = s + strlen(component) + 1; *q; q++)
        *q =
            isalnum((unsigned char)*q) ? (char)tolower((unsigned char)*q) : '_';
    json_t *j = json_string(s);
    free(s);
    return j;
}

/* Add config c (taken) as entity object of component: the shared keys,
 * then its topic. */
static void add(struct src *s, const char *component, const char *object_in,
                const char *name, json_t *c)
{
    char object[HT_TOPIC_HA_ID_MAX + 1], topic[HT_TOPIC_HA_MAX];
    snprintf(object, sizeof object, "%s_%s_%s",
             s->kind == GW_HA_DEVICE ? "device" : "twin", s->id, object_in);
    level(object);
    if (ht_topic_ha_config(topic, sizeof topic, s->ctx->dprefix, component,
                           s->node, object) < 0) {
        json_decref(c);
        return;
    }
    char *uid = ht_asprintf("%s_%s", s->node, object);
    json_object_set_new(c, "unique_id", json_string(uid));
    free(uid);
    json_object_set_new(c, "default_entity_id",
                        entity_id(component, s->node, object));
    json_object_set_new(c, "name", json_string(name));
    json_object_set(c, "device", s->device);
    json_object_set_new(c, "origin",
                        json_pack("{s:s, s:s}", "name", "Holotwin",
                                  "sw_version", s->ctx->version));
    json_object_set_new(c, "qos", json_integer(1));
    json_object_set_new(s->out, topic, c);
}

/* The availability of an entity: its board's retained status. */
static void availability(struct src *s, json_t *c, const char *dev)
{
    char st[HT_TOPIC_MAX];
    if (!dev || ht_topic_build(st, sizeof st, s->ctx->prefix,
                               HT_TOPIC_DEV_STATUS, dev, NULL) < 0)
        return;
    json_object_set_new(c, "availability",
                        json_pack("[{s:s, s:s, s:s, s:s}]", "topic", st,
                                  "value_template", "{{ value_json.state }}",
                                  "payload_available", "online",
                                  "payload_not_available", "offline"));
}

/* HA's Jinja reads a value out of our envelope: a board's sample or the
 * twin's state (property names are [a-z0-9_.], safe inside quotes). */
static char *value_expr(const struct src *s, const char *prop)
{
    return s->kind == GW_HA_DEVICE
               ? ht_strdup("value_json.v")
               : ht_asprintf("value_json.properties['%s'].value", prop);
}

/* One property affordance (p borrowed) -> at most one entity. */
static void property(struct src *s, const char *name, const json_t *p,
                     const json_t *bind)
{
    const char *type = json_string_value(json_object_get(p, "type"));
    if (!type)
        return;
    bool ro = !json_is_false(json_object_get(p, "readOnly"));
    bool num = !strcmp(type, "number") || !strcmp(type, "integer");
    bool boolean = !strcmp(type, "boolean");
    const json_t *min = json_object_get(p, "minimum");
    const json_t *max = json_object_get(p, "maximum");
    const json_t *enm = json_object_get(p, "enum");
    bool cmd = !ro && s->ctx->account;
    const char *title = json_string_value(json_object_get(p, "title"));
    const char *dev = s->kind == GW_HA_DEVICE
                          ? s->id
                          : json_string_value(json_object_get(bind, name));
    char state[HT_TOPIC_MAX];
    if (ht_topic_build(state, sizeof state, s->ctx->prefix,
                       s->kind == GW_HA_DEVICE ? HT_TOPIC_DEV_PROP
                                               : HT_TOPIC_TWIN_STATE,
                       s->id, s->kind == GW_HA_DEVICE ? name : NULL) < 0)
        return;
    char *expr = value_expr(s, name);
    json_t *c = json_pack("{s:s}", "state_topic", state);
    const char *component = NULL;
    if (boolean && cmd) {
        component = "switch";
        json_object_set_new(c, "device_class", json_string("switch"));
        json_object_set_new(c, "payload_on", json_string("true"));
        json_object_set_new(c, "payload_off", json_string("false"));
        json_object_set_new(
            c, "value_template",
            json_sprintf("{{ 'true' if %s else 'false' }}", expr));
    } else if (boolean) {
        component = "binary_sensor";
        const char *cls = has_type(p, "ht:Presence") ? "occupancy"
                          : has_type(p, "ht:Alarm")  ? "problem"
                                                     : NULL;
        if (cls)
            json_object_set_new(c, "device_class", json_string(cls));
        json_object_set_new(c, "value_template",
                            json_sprintf("{{ 'ON' if %s else 'OFF' }}", expr));
    } else if (num && cmd && json_is_number(min) && json_is_number(max) &&
               json_number_value(max) > json_number_value(min)) {
        component = "number";
        json_object_set_new(c, "min", json_real(json_number_value(min)));
        json_object_set_new(c, "max", json_real(json_number_value(max)));
        const json_t *mo = json_object_get(p, "multipleOf");
        double step = json_is_number(mo) && json_number_value(mo) >= 1e-3
                          ? json_number_value(mo)
                      : !strcmp(type, "integer") ? 1
                                                 : 0.1;
        json_object_set_new(c, "step", json_real(step));
        json_object_set_new(c, "mode", json_string("slider"));
        set_unit(c, p);
        json_object_set_new(c, "value_template",
                            json_sprintf("{{ %s }}", expr));
    } else if (num) {
        component = "sensor";
        set_unit(c, p);
        json_object_set_new(c, "state_class", json_string("measurement"));
        json_object_set_new(c, "value_template",
                            json_sprintf("{{ %s }}", expr));
    } else if (!strcmp(type, "string") && json_array_size(enm) && ro) {
        component = "sensor";
        json_object_set_new(c, "device_class", json_string("enum"));
        json_object_set(c, "options", (json_t *)enm);
        json_object_set_new(c, "value_template",
                            json_sprintf("{{ %s }}", expr));
    }
    free(expr);
    if (!component) {
        json_decref(c);
        return;
    }
    availability(s, c, dev);
    if (!strcmp(component, "switch") || !strcmp(component, "number")) {
        char req[HT_TOPIC_MAX];
        if (ht_topic_build(req, sizeof req, s->ctx->prefix, HT_TOPIC_APP_REQ,
                           s->ctx->account, NULL) < 0) {
            json_decref(c);
            return;
        }
        json_object_set_new(c, "command_topic", json_string(req));
        json_object_set_new(
            c, "command_template",
            json_sprintf("{\"%s\":\"%s\",\"property\":\"%s\","
                         "\"value\":{{ value }}}",
                         s->kind == GW_HA_DEVICE ? "device" : "twin", s->id,
                         name));
        json_object_set_new(c, "retain", json_false());
    }
    add(s, component, name, title && *title ? title : name, c);
}

/* A twin's alarms: one enum sensor per alarm rule (its life-cycle state
 * from the retained summary, which lists the alarms that are not normal)
 * and one problem binary_sensor (anything active or unacknowledged). */
static void twin_alarms(struct src *s, const json_t *alarms)
{
    char topic[HT_TOPIC_MAX];
    if (!json_array_size(alarms) ||
        ht_topic_build(topic, sizeof topic, s->ctx->prefix,
                       HT_TOPIC_TWIN_ALARMS, s->id, NULL) < 0)
        return;
    size_t i;
    const json_t *r;
    json_array_foreach(alarms, i, r)
    {
        const char *rule = json_string_value(r);
        if (!rule || !ht_id_valid(rule))
            continue;
        json_t *opts = json_array();
        for (size_t k = 0; k < sizeof isa_states / sizeof isa_states[0]; k++)
            json_array_append_new(opts, json_string(isa_states[k]));
        json_t *c = json_pack(
            "{s:s, s:s, s:o, s:o}", "state_topic", topic, "device_class",
            "enum", "options", opts, "value_template",
            json_sprintf("{%% set a = value_json.alarms | selectattr('rule', "
                         "'eq', '%s') | list %%}{{ a[0].state if a else "
                         "'normal' }}",
                         rule));
        char obj[HT_ID_MAX + 8], name[HT_ID_MAX + 8];
        snprintf(obj, sizeof obj, "alarm_%s", rule);
        snprintf(name, sizeof name, "Alarm %s", rule);
        add(s, "sensor", obj, name, c);
    }
    add(s, "binary_sensor", "alarms", "Alarms",
        json_pack("{s:s, s:s, s:s}", "state_topic", topic, "device_class",
                  "problem", "value_template",
                  "{{ 'ON' if value_json.active > 0 or "
                  "value_json.unacknowledged > 0 else 'OFF' }}"));
}

json_t *gw__ha_configs(const struct gw_ha_ctx *ctx, enum gw_ha_kind kind,
                       const char *id, const char *title, const json_t *td,
                       const json_t *bind, const json_t *alarms)
{
    struct src s = {.ctx = ctx, .kind = kind, .id = id};
    if (!ctx || !id || !ht_id_valid(id) || !ctx->version ||
        !ht_topic_prefix_valid(ctx->dprefix) ||
        !ht_topic_prefix_valid(ctx->prefix) ||
        (ctx->account && !ht_id_valid(ctx->account)) ||
        gw__ha_node(ctx->gateway, s.node, sizeof s.node) != HT_OK)
        return NULL;
    char ident[HT_TOPIC_HA_ID_MAX + HT_ID_MAX + 16];
    snprintf(ident, sizeof ident, "%s_%s_%s", s.node,
             kind == GW_HA_DEVICE ? "device" : "twin", id);
    s.device = json_pack(
        "{s:[s], s:s, s:s, s:s, s:s}", "identifiers", ident, "name",
        title && *title ? title : id, "manufacturer", "Holotwin", "model",
        kind == GW_HA_DEVICE ? "Holotwin board" : "Holotwin twin", "via_device",
        s.node);
    s.out = json_object();
    const char *name;
    const json_t *p;
    json_object_foreach((json_t *)json_object_get(td, "properties"), name, p)
    {
        /* Device affordances are [a-z0-9_]; a twin's COMPONENT.PROPERTY. */
        if (strlen(name) < 72 && strspn(name, "abcdefghijklmnopqrstuvwxyz"
                                              "0123456789_.") == strlen(name))
            property(&s, name, p, bind);
    }
    if (kind == GW_HA_TWIN)
        twin_alarms(&s, alarms);
    json_decref(s.device);
    return s.out;
}
