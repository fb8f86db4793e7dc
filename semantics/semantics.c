/* semantics.c - the Holotwin vocabulary, W3C WoT TD 1.1 build and parse,
 * and command value checks.
 *
 * One file on purpose: the TD builder and the TD parser must agree on every
 * field, and the value check is the single place where the agent and the
 * gateway decide whether a command is acceptable.
 */
#include "semantics.h"

#include "ht_err.h"
#include "ht_id.h"
#include "ht_mem.h"
#include "ht_topic.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The vocabulary. saref: SAREF core (device role); unit: QUDT units. The
 * widget is a UI hint the descriptor generator may use. */
static const struct ht_sem_term terms[] = {
    {"ht:RotationSpeed", "saref:Sensor", "unit:REV-PER-MIN", HT_SEM_NUMBER,
     "gauge", "Rotation speed"},
    {"ht:SpeedSetpoint", "saref:Actuator", "unit:REV-PER-MIN", HT_SEM_NUMBER,
     "slider", "Speed setpoint"},
    {"ht:Temperature", "saref:Sensor", "unit:DEG_C", HT_SEM_NUMBER, "gauge",
     "Temperature"},
    {"ht:Humidity", "saref:Sensor", "unit:PERCENT", HT_SEM_NUMBER, "gauge",
     "Relative humidity"},
    {"ht:Pressure", "saref:Sensor", "unit:KiloPA", HT_SEM_NUMBER, "gauge",
     "Pressure"},
    {"ht:Voltage", "saref:Sensor", "unit:V", HT_SEM_NUMBER, "gauge", "Voltage"},
    {"ht:FlowRate", "saref:Sensor", "unit:L-PER-MIN", HT_SEM_NUMBER, "gauge",
     "Flow rate"},
    {"ht:Frequency", "saref:Sensor", "unit:HZ", HT_SEM_NUMBER, "gauge",
     "Frequency"},
    {"ht:AnalogValue", "saref:Sensor", NULL, HT_SEM_NUMBER, "gauge",
     "Analog value"},
    {"ht:Count", "saref:Sensor", NULL, HT_SEM_INTEGER, "display", "Count"},
    {"ht:Position", "saref:Sensor", NULL, HT_SEM_INTEGER, "display",
     "Position"},
    {"ht:Button", "saref:Sensor", NULL, HT_SEM_BOOLEAN, "display", "Button"},
    {"ht:Switch", "saref:Sensor", NULL, HT_SEM_BOOLEAN, "display", "Switch"},
    {"ht:Presence", "saref:Sensor", NULL, HT_SEM_BOOLEAN, "display",
     "Presence"},
    {"ht:Alarm", "saref:Sensor", NULL, HT_SEM_BOOLEAN, "alert", "Alarm"},
    {"ht:MotorEnable", "saref:Actuator", NULL, HT_SEM_BOOLEAN, "toggle",
     "Motor enable"},
    {"ht:Heater", "saref:Actuator", NULL, HT_SEM_BOOLEAN, "toggle", "Heater"},
    {"ht:Fan", "saref:Actuator", NULL, HT_SEM_BOOLEAN, "toggle", "Fan"},
    {"ht:Lamp", "saref:Actuator", NULL, HT_SEM_BOOLEAN, "toggle", "Lamp"},
    {"ht:Relay", "saref:Actuator", NULL, HT_SEM_BOOLEAN, "toggle", "Relay"},
    {"ht:Valve", "saref:Actuator", NULL, HT_SEM_BOOLEAN, "toggle", "Valve"},
    {"ht:Setpoint", "saref:Actuator", NULL, HT_SEM_NUMBER, "slider",
     "Setpoint"},
    {"ht:Mode", "saref:Actuator", NULL, HT_SEM_STRING, "select", "Mode"},
    {NULL, NULL, NULL, HT_SEM_NUMBER, NULL, NULL},
};

const struct ht_sem_term *ht_sem_terms(void)
{
    return terms;
}

const struct ht_sem_term *ht_sem_term_find(const char *name)
{
    if (!name)
        return NULL;
    for (const struct ht_sem_term *t = terms; t->name; t++)
        if (!strcmp(t->name, name))
            return t;
    return NULL;
}

static const char *const dtype_names[] = {"boolean", "integer", "number",
                                          "string"};

const char *ht_sem_dtype_name(enum ht_sem_dtype t)
{
    return (unsigned)t < 4 ? dtype_names[t] : "number";
}

int ht_sem_dtype_parse(const char *s, enum ht_sem_dtype *out)
{
    for (int i = 0; s && i < 4; i++)
        if (!strcmp(s, dtype_names[i])) {
            *out = (enum ht_sem_dtype)i;
            return HT_OK;
        }
    return HT_EINVAL;
}

/* Kept for the daemons' callers; the rule lives once, in ht_id.c. */
bool ht_sem_name_valid(const char *s)
{
    return ht_name_valid(s);
}

static void free_strv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

void ht_sem_thing_free(struct ht_sem_thing *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nprops; i++) {
        struct ht_sem_prop *p = &t->props[i];
        free(p->name);
        free(p->title);
        free(p->sem_type);
        free(p->unit);
        free_strv(p->enum_vals);
    }
    free(t->props);
    free(t->id);
    free(t->title);
    free(t->description);
    free_strv(t->types);
    free(t);
}

const struct ht_sem_prop *ht_sem_thing_prop(const struct ht_sem_thing *t,
                                            const char *name)
{
    for (size_t i = 0; t && name && i < t->nprops; i++)
        if (!strcmp(t->props[i].name, name))
            return &t->props[i];
    return NULL;
}

json_t *ht_sem_context(void)
{
    json_t *prefixes = json_pack(
        "{s:s, s:s, s:s, s:s, s:s}", "saref", "https://w3id.org/saref#", "ht",
        HT_SEM_VOCAB_IRI, "qudt", "http://qudt.org/schema/qudt/", "unit",
        "http://qudt.org/vocab/unit/", "mqv",
        "http://www.example.org/mqtt-binding#");
    return json_pack("[s, o]", HT_SEM_TD_CONTEXT, prefixes);
}

/* ---- building ---- */

static json_t *mqtt_href(const struct ht_sem_forms *f, const char *topic)
{
    if (f->mqtt_base)
        return json_sprintf("%s/%s", f->mqtt_base, topic);
    return json_string(topic);
}

/* The forms of one property. Devices: observe on props/{name}, write on
 * cmd/{name} (the MQTT binding); twins: observe on the retained state.
 * Gateway TDs add HTTP forms on the REST API. */
static json_t *prop_forms(const struct ht_sem_thing *t,
                          const struct ht_sem_prop *p,
                          const struct ht_sem_forms *f, bool twin)
{
    json_t *forms = json_array();
    char topic[HT_TOPIC_MAX];
    /* An id or prefix that cannot make a topic gets no MQTT forms. */
    if ((f->mqtt_base || !f->http_base) &&
        (twin ? ht_topic_build(topic, sizeof topic, f->topic_prefix,
                               HT_TOPIC_TWIN_STATE, t->id, NULL)
              : ht_topic_build(topic, sizeof topic, f->topic_prefix,
                               HT_TOPIC_DEV_PROP, t->id, p->name)) > 0) {
        const char *ct = twin ? HT_SEM_CT_TWIN_STATE : HT_SEM_CT_SAMPLE;
        /* The twin's state is retained: a subscription reads it too. */
        json_t *ops =
            twin ? json_pack("[s,s,s]", "readproperty", "observeproperty",
                             "unobserveproperty")
                 : json_pack("[s,s]", "observeproperty", "unobserveproperty");
        json_t *form =
            json_pack("{s:o, s:o, s:s, s:s, s:o, s:[{s:b, s:s, s:s}]}", "href",
                      mqtt_href(f, topic), "op", ops, "mqv:filter", topic,
                      "mqv:controlPacket", "subscribe", "contentType",
                      twin ? json_sprintf("%s;property=%s", ct, p->name)
                           : json_string(ct),
                      "additionalResponses", "success", true, "contentType", ct,
                      "schema", twin ? "twin_state" : "sample");
        if (f->mqtt_security)
            json_object_set_new(form, "security", json_pack("[s]", "mqtt_sc"));
        json_array_append_new(forms, form);
        if (!p->read_only && !twin && !f->mqtt_no_commands &&
            ht_topic_build(topic, sizeof topic, f->topic_prefix,
                           HT_TOPIC_DEV_CMD, t->id, p->name) > 0) {
            form = json_pack("{s:o, s:s, s:s, s:s, s:s, s:s}", "href",
                             mqtt_href(f, topic), "op", "writeproperty",
                             "mqv:topic", topic, "mqv:controlPacket", "publish",
                             "mqv:qos", "1", "contentType", HT_SEM_CT_COMMAND);
            if (f->mqtt_security)
                json_object_set_new(form, "security",
                                    json_pack("[s]", "mqtt_sc"));
            json_array_append_new(forms, form);
        }
    }
    if (f->http_base && f->gateway) {
        char *href = ht_asprintf("%s/api/v1/%s/%s/properties/%s", f->http_base,
                                 twin ? "twins" : "devices", t->id, p->name);
        json_t *form = json_pack("{s:s, s:s}", "href", href, "contentType",
                                 "application/json");
        if (p->read_only)
            json_object_set_new(form, "op", json_string("readproperty"));
        else
            json_object_set_new(
                form, "op",
                json_pack("[s,s]", "readproperty", "writeproperty"));
        json_array_append_new(forms, form);
        free(href);
    }
    return forms;
}

/* The payloads of the MQTT forms (HT_SEM_CT_*), for "additionalResponses"
 * and readers of the TD. */
static json_t *mqtt_schemas(void)
{
    return json_pack(
        "{s:{s:s, s:s, s:{s:{s:s}, s:{s:s, s:s}, s:{s:s, s:i}}, s:[s]},"
        " s:{s:s, s:s, s:{s:{s:s}}, s:[s]},"
        " s:{s:s, s:s, s:{s:{s:s}, s:{s:s}, s:{s:s}}}}",
        "sample", "description",
        "A property sample (MQTT): the value in v, the board's time in ts "
        "(ms since the epoch), a sequence number per board in seq.",
        "type", "object", "properties", "v", "description",
        "the value, of the property's data schema", "ts", "type", "integer",
        "unit", "ms", "seq", "type", "integer", "minimum", 0, "required", "v",
        "command", "description",
        "A write (MQTT, with an MQTT 5 response topic): the value in v.",
        "type", "object", "properties", "v", "description",
        "the value to write", "required", "v", "twin_state", "description",
        "The twin's whole state (retained): each property's value in "
        "properties[\"component.property\"].value.",
        "type", "object", "properties", "properties", "type", "object",
        "stable", "type", "boolean", "alarms", "type", "array");
}

static json_t *prop_build(const struct ht_sem_thing *t,
                          const struct ht_sem_prop *p,
                          const struct ht_sem_forms *f, bool twin)
{
    json_t *o = json_object();
    json_t *types = json_array();
    const struct ht_sem_term *term = ht_sem_term_find(p->sem_type);
    if (term && term->saref)
        json_array_append_new(types, json_string(term->saref));
    else if (!term)
        json_array_append_new(
            types,
            json_string(p->read_only ? "saref:Sensor" : "saref:Actuator"));
    if (p->sem_type)
        json_array_append_new(types, json_string(p->sem_type));
    json_object_set_new(o, "@type", types);
    const char *title = p->title ? p->title : (term ? term->title : p->name);
    json_object_set_new(o, "title", json_string(title));
    json_object_set_new(o, "type", json_string(ht_sem_dtype_name(p->dtype)));
    if (p->unit)
        json_object_set_new(o, "unit", json_string(p->unit));
    bool numeric = p->dtype == HT_SEM_INTEGER || p->dtype == HT_SEM_NUMBER;
    if (numeric && p->has_min)
        json_object_set_new(o, "minimum",
                            p->dtype == HT_SEM_INTEGER
                                ? json_integer((json_int_t)p->min)
                                : json_real(p->min));
    if (numeric && p->has_max)
        json_object_set_new(o, "maximum",
                            p->dtype == HT_SEM_INTEGER
                                ? json_integer((json_int_t)p->max)
                                : json_real(p->max));
    if (numeric && p->has_step && p->step > 0)
        json_object_set_new(o, "multipleOf",
                            p->dtype == HT_SEM_INTEGER &&
                                    p->step == floor(p->step)
                                ? json_integer((json_int_t)p->step)
                                : json_real(p->step));
    if (p->dtype == HT_SEM_STRING && p->max_len)
        json_object_set_new(o, "maxLength",
                            json_integer((json_int_t)p->max_len));
    if (p->enum_vals) {
        json_t *e = json_array();
        for (size_t i = 0; p->enum_vals[i]; i++)
            json_array_append_new(e, json_string(p->enum_vals[i]));
        json_object_set_new(o, "enum", e);
    }
    json_object_set_new(o, "readOnly", json_boolean(p->read_only));
    json_object_set_new(o, "writeOnly", json_false());
    json_object_set_new(o, "observable", json_boolean(p->observable));
    if (p->max_interval_ms)
        json_object_set_new(o, HT_SEM_MAX_INTERVAL_KEY,
                            json_integer(p->max_interval_ms));
    json_object_set_new(o, "forms", prop_forms(t, p, f, twin));
    return o;
}

json_t *ht_sem_td_build(const struct ht_sem_thing *t,
                        const struct ht_sem_forms *f)
{
    static const struct ht_sem_forms none = {0};
    if (!t || !t->id)
        return NULL;
    if (!f)
        f = &none;
    bool twin = f->kind && !strcmp(f->kind, "twin");
    json_t *td = json_object();
    json_object_set_new(td, "@context", ht_sem_context());
    json_t *types = json_array();
    json_array_append_new(
        types, json_string(twin ? "ht:DigitalTwin" : "saref:Device"));
    for (size_t i = 0; t->types && t->types[i]; i++)
        json_array_append_new(types, json_string(t->types[i]));
    json_object_set_new(td, "@type", types);
    json_object_set_new(
        td, "id",
        json_sprintf("urn:holotwin:%s:%s", twin ? "twin" : "device", t->id));
    json_object_set_new(td, "title", json_string(t->title ? t->title : t->id));
    if (t->description)
        json_object_set_new(td, "description", json_string(t->description));

    const char *sec =
        f->security ? f->security : (f->gateway ? "bearer" : "basic");
    json_t *scheme;
    if (!strcmp(sec, "nosec"))
        scheme = json_pack("{s:s}", "scheme", "nosec");
    else if (!strcmp(sec, "bearer"))
        scheme = json_pack("{s:s, s:s, s:s}", "scheme", "bearer", "in",
                           "header", "name", "Authorization");
    else
        scheme = json_pack("{s:s, s:s}", "scheme", "basic", "in", "header");
    char *secname = ht_asprintf("%s_sc", sec);
    json_t *defs = json_pack("{s:o}", secname, scheme);
    if (f->mqtt_security && (f->mqtt_base || !f->http_base))
        json_object_set_new(
            defs, "mqtt_sc",
            json_pack("{s:s, s:s}", "scheme", f->mqtt_security, "description",
                      "The MQTT forms: the user name and password of a broker "
                      "account (POST /api/v1/mqtt-accounts, gwctl accounts "
                      "add) in MQTT CONNECT, over TLS with the gateway's "
                      "CA."));
    json_object_set_new(td, "securityDefinitions", defs);
    json_object_set_new(td, "security", json_pack("[s]", secname));
    free(secname);

    json_t *props = json_object();
    for (size_t i = 0; i < t->nprops; i++)
        json_object_set_new(props, t->props[i].name,
                            prop_build(t, &t->props[i], f, twin));
    json_object_set_new(td, "properties", props);
    if (f->mqtt_base || !f->http_base)
        json_object_set_new(td, "schemaDefinitions", mqtt_schemas());
    if (f->http_td_href)
        json_object_set_new(td, "links",
                            json_pack("[{s:s, s:s, s:s}]", "rel", "alternate",
                                      "href", f->http_td_href, "type",
                                      "application/td+json"));
    return td;
}

/* ---- parsing ---- */

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return HT_EINVAL;
}

/* An optional string member, bounded. *out new or NULL. */
static int opt_str(const json_t *o, const char *key, const char *where,
                   char **out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v)
        return HT_OK;
    if (!json_is_string(v))
        return fail(err, errlen, "%s: \"%s\" must be a string", where, key);
    if (json_string_length(v) > HT_SEM_MAX_STR)
        return fail(err, errlen, "%s: \"%s\" is too long", where, key);
    *out = ht_strdup(json_string_value(v));
    return HT_OK;
}

static bool has_td_context(const json_t *ctx)
{
    if (json_is_string(ctx))
        return strstr(json_string_value(ctx), "w3.org/2019/wot/td") ||
               strstr(json_string_value(ctx), "w3.org/2022/wot/td");
    size_t i;
    const json_t *v;
    json_array_foreach(ctx, i, v) if (json_is_string(v) &&
                                      has_td_context(v)) return true;
    return false;
}

/* The first "ht:" term of an @type (string or array), or NULL. */
static const char *ht_type_of(const json_t *types)
{
    if (json_is_string(types))
        return strncmp(json_string_value(types), "ht:", 3)
                   ? NULL
                   : json_string_value(types);
    size_t i;
    const json_t *v;
    json_array_foreach(types, i,
                       v) if (json_is_string(v) &&
                              !strncmp(json_string_value(v),
                                       "ht:", 3)) return json_string_value(v);
    return NULL;
}

static int num_member(const json_t *o, const char *key, const char *where,
                      bool *has, double *out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return HT_OK;
    if (!json_is_number(v))
        return fail(err, errlen, "%s: \"%s\" must be a number", where, key);
    *has = true;
    *out = json_number_value(v);
    if (!isfinite(*out))
        return fail(err, errlen, "%s: \"%s\" is not finite", where, key);
    return HT_OK;
}

static int parse_prop(const char *name, const json_t *o, struct ht_sem_prop *p,
                      char *err, size_t errlen)
{
    char where[64];
    snprintf(where, sizeof where, "properties.%s", name);
    if (!ht_sem_name_valid(name))
        return fail(err, errlen, "property name '%.40s' is not [a-z0-9_]{1,32}",
                    name);
    if (!json_is_object(o))
        return fail(err, errlen, "%s: must be an object", where);
    p->name = ht_strdup(name);
    const json_t *ty = json_object_get(o, "type");
    if (!json_is_string(ty) ||
        ht_sem_dtype_parse(json_string_value(ty), &p->dtype) != HT_OK)
        return fail(err, errlen,
                    "%s: \"type\" must be boolean, integer, number or string",
                    where);
    int rc;
    if ((rc = opt_str(o, "title", where, &p->title, err, errlen)) ||
        (rc = opt_str(o, "unit", where, &p->unit, err, errlen)))
        return rc;
    const json_t *types = json_object_get(o, "@type");
    if (types && !json_is_string(types) && !json_is_array(types))
        return fail(err, errlen, "%s: \"@type\" must be a string or array",
                    where);
    const char *st = ht_type_of(types);
    if (st) {
        if (strlen(st) > 64)
            return fail(err, errlen, "%s: \"@type\" term too long", where);
        p->sem_type = ht_strdup(st);
    }
    if ((rc = num_member(o, "minimum", where, &p->has_min, &p->min, err,
                         errlen)) ||
        (rc = num_member(o, "maximum", where, &p->has_max, &p->max, err,
                         errlen)) ||
        (rc = num_member(o, "multipleOf", where, &p->has_step, &p->step, err,
                         errlen)))
        return rc;
    if (p->has_step && p->step <= 0)
        return fail(err, errlen, "%s: \"multipleOf\" must be > 0", where);
    const json_t *ml = json_object_get(o, "maxLength");
    if (ml) {
        if (!json_is_integer(ml) || json_integer_value(ml) < 0 ||
            json_integer_value(ml) > (json_int_t)1 << 30)
            return fail(err, errlen,
                        "%s: \"maxLength\" must be an integer in 0..2^30",
                        where);
        p->max_len = (size_t)json_integer_value(ml);
    }
    if (p->has_min && p->has_max && p->min > p->max)
        return fail(err, errlen, "%s: \"minimum\" is above \"maximum\"", where);
    const json_t *e = json_object_get(o, "enum");
    if (e) {
        if (!json_is_array(e) || json_array_size(e) == 0 ||
            json_array_size(e) > HT_SEM_MAX_PROPS)
            return fail(err, errlen, "%s: \"enum\" must be a non-empty array",
                        where);
        p->enum_vals = ht_calloc(json_array_size(e) + 1, sizeof(char *));
        size_t i;
        const json_t *v;
        json_array_foreach(e, i, v)
        {
            if (!json_is_string(v) || json_string_length(v) > HT_SEM_MAX_STR)
                return fail(err, errlen, "%s: \"enum\" values must be strings",
                            where);
            p->enum_vals[i] = ht_strdup(json_string_value(v));
        }
    }
    const json_t *ro = json_object_get(o, "readOnly");
    if (ro && !json_is_boolean(ro))
        return fail(err, errlen, "%s: \"readOnly\" must be a boolean", where);
    p->read_only = json_is_true(ro);
    const json_t *ob = json_object_get(o, "observable");
    if (ob && !json_is_boolean(ob))
        return fail(err, errlen, "%s: \"observable\" must be a boolean", where);
    p->observable = json_is_true(ob);
    const json_t *mi = json_object_get(o, HT_SEM_MAX_INTERVAL_KEY);
    if (mi) {
        json_int_t ms = json_integer_value(mi);
        if (!json_is_integer(mi) || ms < 1 || ms > HT_SEM_MAX_INTERVAL_MS)
            return fail(err, errlen,
                        "%s: \"" HT_SEM_MAX_INTERVAL_KEY
                        "\" must be an integer 1..%d (ms)",
                        where, HT_SEM_MAX_INTERVAL_MS);
        p->max_interval_ms = (uint32_t)ms;
    }
    const json_t *forms = json_object_get(o, "forms");
    if (!json_is_array(forms) || json_array_size(forms) == 0)
        return fail(err, errlen, "%s: \"forms\" must be a non-empty array",
                    where);
    size_t i;
    const json_t *fm;
    json_array_foreach(forms, i, fm) if (
        !json_is_object(fm) ||
        !json_is_string(json_object_get(
            fm, "href"))) return fail(err, errlen,
                                      "%s: forms[%zu] needs an \"href\" string",
                                      where, i);
    return HT_OK;
}

int ht_sem_td_parse(const json_t *td, struct ht_sem_thing **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    if (!json_is_object(td))
        return fail(err, errlen, "a Thing Description must be a JSON object");
    if (!has_td_context(json_object_get(td, "@context")))
        return fail(err, errlen,
                    "\"@context\" must include the WoT TD context");
    const json_t *id = json_object_get(td, "id");
    if (!json_is_string(id))
        return fail(err, errlen, "\"id\" must be a string");
    const char *ids = json_string_value(id);
    const char *local = NULL;
    if (!strncmp(ids, "urn:holotwin:device:", 20))
        local = ids + 20;
    else if (!strncmp(ids, "urn:holotwin:twin:", 18))
        local = ids + 18;
    if (!local || !ht_id_valid(local))
        return fail(err, errlen,
                    "\"id\" must be urn:holotwin:device:ID with ID "
                    "[a-z0-9][a-z0-9._-]{0,63}");
    const json_t *title = json_object_get(td, "title");
    if (!json_is_string(title) || json_string_length(title) == 0 ||
        json_string_length(title) > HT_SEM_MAX_STR)
        return fail(err, errlen, "\"title\" must be a non-empty string");
    const json_t *sd = json_object_get(td, "securityDefinitions");
    const json_t *sec = json_object_get(td, "security");
    if (!json_is_object(sd) || json_object_size(sd) == 0)
        return fail(err, errlen, "\"securityDefinitions\" must be an object");
    if (!json_is_string(sec) && !(json_is_array(sec) && json_array_size(sec)))
        return fail(err, errlen, "\"security\" must name a definition");
    const json_t *props = json_object_get(td, "properties");
    if (props && !json_is_object(props))
        return fail(err, errlen, "\"properties\" must be an object");
    if (json_object_size(props) > HT_SEM_MAX_PROPS)
        return fail(err, errlen, "too many properties (max %d)",
                    HT_SEM_MAX_PROPS);
    const json_t *types = json_object_get(td, "@type");
    if (types && !json_is_string(types) && !json_is_array(types))
        return fail(err, errlen, "\"@type\" must be a string or array");

    struct ht_sem_thing *t = ht_calloc(1, sizeof *t);
    int rc = HT_OK;
    t->id = ht_strdup(local);
    t->title = ht_strdup(json_string_value(title));
    if ((rc =
             opt_str(td, "description", "thing", &t->description, err, errlen)))
        goto out;
    if (json_is_array(types) && json_array_size(types) > 0) {
        size_t n = 0, i;
        const json_t *v;
        t->types = ht_calloc(json_array_size(types) + 1, sizeof(char *));
        json_array_foreach(types, i, v)
        {
            if (!json_is_string(v) || json_string_length(v) > 128) {
                rc = fail(err, errlen, "\"@type\" entries must be strings");
                goto out;
            }
            const char *s = json_string_value(v);
            if (strcmp(s, "saref:Device") && strcmp(s, "ht:DigitalTwin") &&
                strcmp(s, "Thing"))
                t->types[n++] = ht_strdup(s);
        }
        if (n == 0) {
            free(t->types);
            t->types = NULL;
        }
    }
    t->props = ht_calloc(json_object_size(props) + 1, sizeof *t->props);
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)props, k, v)
    {
        rc = parse_prop(k, v, &t->props[t->nprops], err, errlen);
        t->nprops++; /* partially filled entries are freed too */
        if (rc != HT_OK)
            goto out;
    }
out:
    if (rc != HT_OK)
        ht_sem_thing_free(t);
    else
        *out = t;
    return rc;
}

/* ---- value checks ---- */

static enum ht_sem_check bad(enum ht_sem_check c, char *msg, size_t msglen,
                             const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static enum ht_sem_check bad(enum ht_sem_check c, char *msg, size_t msglen,
                             const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (msg && msglen)
        vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
    return c;
}

enum ht_sem_check ht_sem_value_valid(const struct ht_sem_prop *p,
                                     const json_t *v, char *msg, size_t msglen)
{
    if (msg && msglen)
        msg[0] = '\0';
    switch (p->dtype) {
    case HT_SEM_BOOLEAN:
        if (!json_is_boolean(v))
            return bad(HT_SEM_BAD_TYPE, msg, msglen, "%s expects a boolean",
                       p->name);
        return HT_SEM_OK;
    case HT_SEM_STRING:
        if (!json_is_string(v))
            return bad(HT_SEM_BAD_TYPE, msg, msglen, "%s expects a string",
                       p->name);
        if (p->max_len && json_string_length(v) > p->max_len)
            return bad(HT_SEM_OUT_OF_RANGE, msg, msglen,
                       "%s: %zu bytes, longer than %zu", p->name,
                       json_string_length(v), p->max_len);
        if (p->enum_vals) {
            for (size_t i = 0; p->enum_vals[i]; i++)
                if (!strcmp(p->enum_vals[i], json_string_value(v)))
                    return HT_SEM_OK;
            return bad(HT_SEM_OUT_OF_RANGE, msg, msglen,
                       "%s: value is not one of the allowed values", p->name);
        }
        return HT_SEM_OK;
    case HT_SEM_INTEGER:
    case HT_SEM_NUMBER:
        break;
    }
    if (!json_is_number(v))
        return bad(HT_SEM_BAD_TYPE, msg, msglen, "%s expects a %s", p->name,
                   ht_sem_dtype_name(p->dtype));
    double d = json_number_value(v);
    if (!isfinite(d))
        return bad(HT_SEM_BAD_TYPE, msg, msglen, "%s: not a finite number",
                   p->name);
    if (p->dtype == HT_SEM_INTEGER && d != floor(d))
        return bad(HT_SEM_BAD_TYPE, msg, msglen, "%s expects an integer",
                   p->name);
    json_int_t iv = json_is_integer(v) ? json_integer_value(v) : 0;
    if (p->dtype == HT_SEM_INTEGER &&
        (fabs(d) > HT_SEM_MAX_INT || iv > (json_int_t)HT_SEM_MAX_INT ||
         iv < -(json_int_t)HT_SEM_MAX_INT))
        return bad(HT_SEM_OUT_OF_RANGE, msg, msglen, "%s: %g is beyond +-2^53",
                   p->name, d);
    if (p->has_min && d < p->min)
        return bad(HT_SEM_OUT_OF_RANGE, msg, msglen, "%s: %g is below %g",
                   p->name, d, p->min);
    if (p->has_max && d > p->max)
        return bad(HT_SEM_OUT_OF_RANGE, msg, msglen, "%s: %g is above %g",
                   p->name, d, p->max);
    if (p->has_step && p->step > 0) {
        /* Tolerate binary rounding: 0.3 is a multiple of 0.1. */
        double q = d / p->step;
        if (fabs(q - nearbyint(q)) > 1e-9 * fmax(1.0, fabs(q)))
            return bad(HT_SEM_OUT_OF_RANGE, msg, msglen,
                       "%s: %g is not a multiple of %g", p->name, d, p->step);
    }
    return HT_SEM_OK;
}

enum ht_sem_check ht_sem_value_check(const struct ht_sem_prop *p,
                                     const json_t *v, char *msg, size_t msglen)
{
    if (p->read_only)
        return bad(HT_SEM_READ_ONLY, msg, msglen, "%s is read-only", p->name);
    return ht_sem_value_valid(p, v, msg, msglen);
}

const char *ht_sem_check_code(enum ht_sem_check c)
{
    switch (c) {
    case HT_SEM_OK:
        return "ok";
    case HT_SEM_BAD_TYPE:
        return "bad_type";
    case HT_SEM_OUT_OF_RANGE:
        return "out_of_range";
    case HT_SEM_READ_ONLY:
        return "read_only";
    }
    return "unknown";
}
