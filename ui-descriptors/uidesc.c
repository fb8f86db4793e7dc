/* uidesc.c - generate "holotwin.ui/1" descriptors (web and hmd) from a twin
 * model and the semantics of its devices.
 *
 * Nothing here is hand-drawn per machine: widget types come from data types,
 * writability and vocabulary hints; 3D shapes and animations from component
 * kinds and semantic terms. Output is a pure function of the inputs, built
 * in model order, so serialising with sorted keys gives stable bytes.
 */
#include "uidesc.h"
#include "uidesc_internal.h"

#include "ht_err.h"
#include "ht_mem.h"
#include "ht_topic.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const target_names[] = {"web", "hmd"};
static const char *const role_names[] = {"viewer", "operator", "technician",
                                         "admin"};

const char *ht_ui_target_name(enum ht_ui_target t)
{
    return (unsigned)t <= HT_UI_HMD ? target_names[t] : "web";
}

const char *ht_ui_role_name(enum ht_ui_role r)
{
    return (unsigned)r <= HT_UI_ADMIN ? role_names[r] : "viewer";
}

int ht_ui_target_parse(const char *s, enum ht_ui_target *out)
{
    for (unsigned i = 0; s && i <= HT_UI_HMD; i++)
        if (!strcmp(s, target_names[i])) {
            *out = (enum ht_ui_target)i;
            return HT_OK;
        }
    return HT_EINVAL;
}

int ht_ui_role_parse(const char *s, enum ht_ui_role *out)
{
    for (unsigned i = 0; s && i <= HT_UI_ADMIN; i++)
        if (!strcmp(s, role_names[i])) {
            *out = (enum ht_ui_role)i;
            return HT_OK;
        }
    return HT_EINVAL;
}

/* Interaction defaults (docs/ui-descriptors.md). */
#define SLIDER_DEBOUNCE_MS 200
#define SLIDER_RATE_MS 500
#define ACK_TIMEOUT_MS 5000

/* Short labels for the units of the vocabulary. */
static const struct {
    const char *unit, *label;
} unit_labels[] = {
    {"unit:REV-PER-MIN", "rpm"},
    {"unit:REV-PER-SEC", "rev/s"},
    {"unit:RAD-PER-SEC", "rad/s"},
    {"unit:DEG_C", "\xc2\xb0"
                   "C"},
    {"unit:DEG_F", "\xc2\xb0"
                   "F"},
    {"unit:K", "K"},
    {"unit:PERCENT", "%"},
    {"unit:KiloPA", "kPa"},
    {"unit:BAR", "bar"},
    {"unit:V", "V"},
    {"unit:MilliV", "mV"},
    {"unit:L-PER-MIN", "L/min"},
    {"unit:M3-PER-HR", "m\xc2\xb3/h"},
    {"unit:HZ", "Hz"},
    {"unit:M", "m"},
    {"unit:MilliM", "mm"},
};

static const char *unit_label(const char *unit)
{
    for (size_t i = 0; unit && i < sizeof unit_labels / sizeof *unit_labels;
         i++)
        if (!strcmp(unit_labels[i].unit, unit))
            return unit_labels[i].label;
    return NULL;
}

/* Everything the generator knows about one property, model first, then the
 * device TD, then the vocabulary. */
struct pinfo {
    const char *ref_comp; /* component id or "twin" */
    const char *name;
    char ref[80]; /* "component.property" */
    const char *title;
    const char *semantic;
    const char *unit;
    enum ht_sem_dtype type;
    bool has_min, has_max, has_step;
    double min, max, step;
    char **enum_vals; /* borrowed from the TD */
    bool writable;    /* by the model (role applied later) */
    bool unsafe;
};

struct gen {
    const struct ht_ui_input *in;
    const struct ht_twin_model *m;
    const char *http; /* "" for relative URLs */
    const char *prefix;
    bool can_write; /* role >= operator */
    json_t *widgets;
};

static const struct ht_sem_prop *dev_prop(const struct ht_ui_input *in,
                                          const struct ht_twin_prop *p)
{
    for (size_t i = 0; in->devs && i < in->ndevs; i++)
        if (in->devs[i] && in->devs[i]->id &&
            !strcmp(in->devs[i]->id, p->device))
            return ht_sem_thing_prop(in->devs[i], p->device_prop);
    return NULL;
}

static void info_comp(const struct gen *g, const struct ht_twin_component *c,
                      const struct ht_twin_prop *p, struct pinfo *pi)
{
    const struct ht_sem_prop *dp = dev_prop(g->in, p);
    memset(pi, 0, sizeof *pi);
    pi->ref_comp = c->id;
    pi->name = p->name;
    snprintf(pi->ref, sizeof pi->ref, "%s.%s", c->id, p->name);
    pi->semantic = p->semantic ? p->semantic : dp ? dp->sem_type : NULL;
    const struct ht_sem_term *term = ht_sem_term_find(pi->semantic);
    pi->title = p->title          ? p->title
                : dp && dp->title ? dp->title
                : term            ? term->title
                                  : p->name;
    pi->unit = p->unit          ? p->unit
               : dp && dp->unit ? dp->unit
               : term           ? term->unit
                                : NULL;
    pi->type = p->has_type ? p->type
               : dp        ? dp->dtype
               : term      ? term->dtype
                           : HT_SEM_NUMBER;
    bool linear =
        p->scale != 1 || p->offset != 0 || p->conv_a != 1 || p->conv_b != 0;
    /* Device ranges are in device units: convert them when the model did
     * not say. */
    if (p->has_min) {
        pi->has_min = true;
        pi->min = p->min;
    } else if (dp && dp->has_min) {
        pi->has_min = true;
        pi->min = ht_twin_prop_to_twin(p, dp->min);
    }
    if (p->has_max) {
        pi->has_max = true;
        pi->max = p->max;
    } else if (dp && dp->has_max) {
        pi->has_max = true;
        pi->max = ht_twin_prop_to_twin(p, dp->max);
    }
    if (pi->has_min && pi->has_max && pi->min > pi->max) {
        double t = pi->min;
        pi->min = pi->max;
        pi->max = t;
    }
    if (p->has_step) {
        pi->has_step = true;
        pi->step = p->step;
    } else if (dp && dp->has_step && !linear) {
        pi->has_step = true;
        pi->step = dp->step;
    }
    pi->enum_vals = dp ? dp->enum_vals : NULL;
    pi->writable = p->writable;
    pi->unsafe = p->unsafe;
}

static void info_twin(const struct ht_twin_tprop *t, struct pinfo *pi)
{
    memset(pi, 0, sizeof *pi);
    pi->ref_comp = HT_TWIN_SELF;
    pi->name = t->name;
    snprintf(pi->ref, sizeof pi->ref, HT_TWIN_SELF ".%s", t->name);
    pi->title = t->title ? t->title : t->name;
    pi->unit = t->unit;
    pi->type = t->type;
    pi->has_min = t->has_min;
    pi->min = t->min;
    pi->has_max = t->has_max;
    pi->max = t->max;
    pi->has_step = t->has_step;
    pi->step = t->step;
    pi->writable = true;
    pi->unsafe = t->unsafe;
}

/* ---- forms ---- */

static json_t *http_form(const char *op, const char *method, char *href)
{
    json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:s}", "op", op, "protocol",
                          "http", "method", method, "href", href, "contentType",
                          "application/json");
    free(href);
    return f;
}

/* How to read and observe the twin state document. */
static void state_forms(const struct gen *g, json_t *forms)
{
    const char *id = g->m->id;
    json_array_append_new(
        forms, http_form("readproperty", "GET",
                         ht_asprintf("%s/api/v1/twins/%s/state", g->http, id)));
    char *href = ht_asprintf("%s/api/v1/events?twin=%s", g->http, id);
    json_array_append_new(forms, json_pack("{s:s, s:s, s:s, s:s}", "op",
                                           "observeproperty", "protocol", "sse",
                                           "href", href, "event", "state"));
    free(href);
    char topic[HT_TOPIC_MAX];
    if (g->in->mqtt_base && ht_topic_build(topic, sizeof topic, g->prefix,
                                           HT_TOPIC_TWIN_STATE, id, NULL) > 0) {
        href = ht_asprintf("%s/%s", g->in->mqtt_base, topic);
        json_array_append_new(forms, json_pack("{s:s, s:s, s:s, s:s, s:b}",
                                               "op", "observeproperty",
                                               "protocol", "mqtt", "href", href,
                                               "topic", topic, "retained", 1));
        free(href);
    }
}

/* Where the twin's control holder lives (issue 16): read it, follow it
 * (the "control" SSE event, the retained topic), take and release it. The
 * holder itself is not in the descriptor: it changes far more often than
 * the descriptor should (ETags). */
static json_t *control_forms(const struct gen *g)
{
    const char *id = g->m->id;
    json_t *forms = json_array();
    static const char *const ops[][2] = {{"readcontrol", "GET"},
                                         {"takecontrol", "POST"},
                                         {"releasecontrol", "DELETE"}};
    for (size_t i = 0; i < 3; i++)
        json_array_append_new(
            forms,
            http_form(ops[i][0], ops[i][1],
                      ht_asprintf("%s/api/v1/twins/%s/control", g->http, id)));
    char *href = ht_asprintf("%s/api/v1/events?twin=%s", g->http, id);
    json_array_append_new(forms, json_pack("{s:s, s:s, s:s, s:s}", "op",
                                           "observecontrol", "protocol", "sse",
                                           "href", href, "event", "control"));
    free(href);
    char topic[HT_TOPIC_MAX];
    if (g->in->mqtt_base &&
        ht_topic_build(topic, sizeof topic, g->prefix, HT_TOPIC_TWIN_CONTROL,
                       id, NULL) > 0) {
        href = ht_asprintf("%s/%s", g->in->mqtt_base, topic);
        json_array_append_new(forms, json_pack("{s:s, s:s, s:s, s:s, s:b}",
                                               "op", "observecontrol",
                                               "protocol", "mqtt", "href", href,
                                               "topic", topic, "retained", 1));
        free(href);
    }
    return forms;
}

static json_t *descriptor_forms(const struct gen *g)
{
    const char *id = g->m->id;
    const char *tn = ht_ui_target_name(g->in->target);
    json_t *forms = json_array();
    json_array_append_new(
        forms, http_form("readdescriptor", "GET",
                         ht_asprintf("%s/api/v1/twins/%s/ui?target=%s", g->http,
                                     id, tn)));
    char *href = ht_asprintf("%s/api/v1/events?twin=%s", g->http, id);
    json_array_append_new(forms,
                          json_pack("{s:s, s:s, s:s, s:s}", "op",
                                    "observedescriptor", "protocol", "sse",
                                    "href", href, "event", "descriptor"));
    free(href);
    char topic[HT_TOPIC_MAX];
    if (g->in->mqtt_base && ht_topic_build(topic, sizeof topic, g->prefix,
                                           HT_TOPIC_TWIN_UI, id, tn) > 0) {
        href = ht_asprintf("%s/%s", g->in->mqtt_base, topic);
        json_array_append_new(forms, json_pack("{s:s, s:s, s:s, s:s, s:b}",
                                               "op", "observedescriptor",
                                               "protocol", "mqtt", "href", href,
                                               "topic", topic, "retained", 1));
        free(href);
    }
    return forms;
}

/* ---- widgets ---- */

/* Integral values print as integers: 200 rather than 200.0. */
static json_t *jnum(double d)
{
    if (d == floor(d) && fabs(d) < 9e15)
        return json_integer((json_int_t)d);
    return json_real(d);
}

static json_t *data_schema(const struct pinfo *pi)
{
    json_t *s = json_pack("{s:s}", "type", ht_sem_dtype_name(pi->type));
    bool num = pi->type == HT_SEM_NUMBER || pi->type == HT_SEM_INTEGER;
    if (num && pi->has_min)
        json_object_set_new(s, "minimum", jnum(pi->min));
    if (num && pi->has_max)
        json_object_set_new(s, "maximum", jnum(pi->max));
    if (num && pi->has_step && pi->step > 0)
        json_object_set_new(s, "step", jnum(pi->step));
    else if (pi->type == HT_SEM_INTEGER)
        json_object_set_new(s, "step", json_integer(1));
    if (pi->unit) {
        json_object_set_new(s, "unit", json_string(pi->unit));
        const char *l = unit_label(pi->unit);
        if (l)
            json_object_set_new(s, "unitLabel", json_string(l));
    }
    if (pi->enum_vals && pi->enum_vals[0]) {
        json_t *e = json_array();
        for (size_t i = 0; pi->enum_vals[i]; i++)
            json_array_append_new(e, json_pack("{s:s, s:s}", "value",
                                               pi->enum_vals[i], "title",
                                               pi->enum_vals[i]));
        json_object_set_new(s, "enum", e);
    } else if (pi->type == HT_SEM_BOOLEAN) {
        /* Words for booleans, so UIs need no per-term tables. */
        const char *on = "On", *off = "Off";
        if (pi->semantic && (!strcmp(pi->semantic, "ht:Button") ||
                             !strcmp(pi->semantic, "ht:Switch"))) {
            on = "Pressed";
            off = "Released";
        }
        json_object_set_new(s, "enum",
                            json_pack("[{s:b, s:s}, {s:b, s:s}]", "value", 0,
                                      "title", off, "value", 1, "title", on));
    }
    return s;
}

static const char *widget_type(const struct pinfo *pi)
{
    bool num = pi->type == HT_SEM_NUMBER || pi->type == HT_SEM_INTEGER;
    if (pi->writable) {
        if (pi->enum_vals && pi->enum_vals[0])
            return "select";
        if (pi->type == HT_SEM_BOOLEAN)
            return pi->semantic && !strcmp(pi->semantic, "ht:Button")
                       ? "button"
                       : "toggle";
        if (num && pi->has_min && pi->has_max)
            return "slider";
        return "display";
    }
    const struct ht_sem_term *term = ht_sem_term_find(pi->semantic);
    if (term && term->widget &&
        (!strcmp(term->widget, "gauge") || !strcmp(term->widget, "alert") ||
         !strcmp(term->widget, "display")))
        return term->widget;
    return num && pi->has_min && pi->has_max ? "gauge" : "display";
}

static json_t *interaction(const struct pinfo *pi, const char *type)
{
    json_t *o = json_object();
    if (!strcmp(type, "slider")) {
        json_object_set_new(o, "debounceMs", json_integer(SLIDER_DEBOUNCE_MS));
        json_object_set_new(o, "rateLimitMs", json_integer(SLIDER_RATE_MS));
    }
    if (pi->unsafe) {
        json_t *c = json_object();
        json_object_set_new(c, "title", json_sprintf("%s?", pi->title));
        if (pi->type == HT_SEM_BOOLEAN) {
            /* Switching on is the unsafe direction; off is always allowed. */
            json_object_set_new(c, "when", json_true());
            json_object_set_new(c, "message",
                                json_sprintf("Switch on %s? This moves or "
                                             "heats real equipment.",
                                             pi->title));
        } else {
            json_object_set_new(c, "message",
                                json_sprintf("Change %s? This acts on real "
                                             "equipment.",
                                             pi->title));
        }
        json_object_set_new(o, "confirm", c);
    }
    json_object_set_new(
        o, "feedback",
        json_pack("{s:b, s:i}", "pending", 1, "ackTimeoutMs", ACK_TIMEOUT_MS));
    return o;
}

static json_t *binding(const struct gen *g, const char *ref, bool write,
                       bool history)
{
    json_t *forms = json_array();
    state_forms(g, forms);
    if (write)
        json_array_append_new(
            forms, http_form("writeproperty", "PUT",
                             ht_asprintf("%s/api/v1/twins/%s/properties/%s",
                                         g->http, g->m->id, ref)));
    if (history)
        json_array_append_new(
            forms, http_form("readhistory", "GET",
                             ht_asprintf("%s/api/v1/twins/%s/history?"
                                         "property=%s",
                                         g->http, g->m->id, ref)));
    return json_pack(
        "{s:s, s:o, s:o, s:o}", "property", ref, "pointer",
        json_sprintf("/properties/%s/value", ref), "qualityPointer",
        json_sprintf("/properties/%s/quality", ref), "forms", forms);
}

/* ---- limits from the rules ---- */

/* One token of a rule expression, as far as limits care. */
struct tok {
    enum { T_REF, T_NUM, T_CMP, T_ARITH, T_OTHER } kind;
    const char *s;
    size_t n;
    double num;
};

static size_t tokenize(const char *src, struct tok *t, size_t max)
{
    size_t n = 0;
    const char *p = src;
    while (p && *p && n < max) {
        if (*p == ' ' || *p == '\t' || *p == '\n') {
            p++;
            continue;
        }
        struct tok k = {T_OTHER, p, 1, 0};
        if ((*p >= 'a' && *p <= 'z') || *p == '_') {
            while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                   *p == '_' || *p == '.')
                p++;
            k.kind = T_REF;
            k.n = (size_t)(p - k.s);
        } else if ((*p >= '0' && *p <= '9') || *p == '.') {
            char *end;
            k.num = strtod(p, &end);
            k.kind = T_NUM;
            k.n = (size_t)(end - p);
            p = end > p ? end : p + 1;
        } else if (*p == '<' || *p == '>') {
            k.kind = T_CMP;
            k.n = p[1] == '=' ? 2 : 1;
            p += k.n;
        } else {
            k.kind = strchr("+-*/%", *p) ? T_ARITH : T_OTHER;
            p++;
        }
        t[n++] = k;
    }
    return n;
}

/* Limits of a property that the rules state as a plain comparison with a
 * constant ("thermal.temperature > 70 for 5s", "gear_a.speed < 40"): the
 * dashboard draws them on gauges and trends, with the rule's severity.
 * Comparisons inside arithmetic ("abs(a - b) > 5") are not limits of one
 * property and are left out. Returns a new array, or NULL when none. */
static json_t *rule_limits(const struct gen *g, const char *ref)
{
    json_t *out = json_array();
    size_t rlen = strlen(ref);
    for (size_t r = 0; r < g->m->nrules; r++) {
        const struct ht_twin_rule *rule = &g->m->rules[r];
        struct tok t[256];
        size_t n = tokenize(rule->expr_src, t, 256);
        for (size_t i = 0; i + 2 < n; i++) {
            if (t[i + 1].kind != T_CMP)
                continue;
            bool fwd = t[i].kind == T_REF && t[i + 2].kind == T_NUM;
            bool rev = t[i].kind == T_NUM && t[i + 2].kind == T_REF;
            const struct tok *id = fwd ? &t[i] : &t[i + 2];
            if ((!fwd && !rev) || id->n != rlen || strncmp(id->s, ref, rlen))
                continue;
            if ((i > 0 && t[i - 1].kind == T_ARITH) ||
                (i + 3 < n && t[i + 3].kind == T_ARITH))
                continue;
            /* "x > v" and "v < x" raise above v: a high limit. */
            bool gt = t[i + 1].s[0] == '>';
            bool high = fwd ? gt : !gt;
            double v = fwd ? t[i + 2].num : t[i].num;
            json_t *lim =
                json_pack("{s:s, s:s, s:s, s:o}", "rule", rule->id, "severity",
                          ht_twin_severity_name(rule->severity), "type",
                          high ? "high" : "low", "value", jnum(v));
            /* An alarm's own priority: its severity alone would colour
             * every warning as "high" (docs/ui-descriptors.md). */
            if (rule->alarm)
                json_object_set_new(
                    lim, "priority",
                    json_string(ht_twin_priority_name(rule->priority)));
            json_array_append_new(out, lim);
        }
    }
    if (!json_array_size(out)) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* Limits and the normal range between them (the data range where no
 * limit says otherwise) on a widget of a numeric property. */
static void add_limits(const struct gen *g, const struct pinfo *pi, json_t *w)
{
    if (pi->type != HT_SEM_NUMBER && pi->type != HT_SEM_INTEGER)
        return;
    json_t *lim = rule_limits(g, pi->ref);
    if (!lim)
        return;
    bool has_lo = pi->has_min, has_hi = pi->has_max;
    double lo = pi->min, hi = pi->max;
    size_t i;
    json_t *l;
    json_array_foreach(lim, i, l)
    {
        double v = json_number_value(json_object_get(l, "value"));
        if (!strcmp(json_string_value(json_object_get(l, "type")), "high")) {
            hi = has_hi ? fmin(hi, v) : v;
            has_hi = true;
        } else {
            lo = has_lo ? fmax(lo, v) : v;
            has_lo = true;
        }
    }
    json_t *nr = json_object();
    if (has_lo)
        json_object_set_new(nr, "min", jnum(lo));
    if (has_hi)
        json_object_set_new(nr, "max", jnum(hi));
    json_object_set_new(w, "limits", lim);
    json_object_set_new(w, "normal", nr);
}

/* Add the widget(s) of one property; appends their ids to ids. */
static void add_prop_widgets(struct gen *g, const struct pinfo *pi, json_t *ids)
{
    const char *type = widget_type(pi);
    bool w = pi->writable && g->can_write;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(pi->ref));
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "title", json_string(pi->title));
    json_object_set_new(o, "group", json_string(pi->ref_comp));
    if (pi->semantic)
        json_object_set_new(o, "semantic", json_string(pi->semantic));
    json_object_set_new(o, "binding", binding(g, pi->ref, w, false));
    json_object_set_new(o, "schema", data_schema(pi));
    json_object_set_new(o, "writable", json_boolean(w));
    if (!strcmp(type, "button"))
        json_object_set_new(o, "value", json_true());
    if (w)
        json_object_set_new(o, "interaction", interaction(pi, type));
    add_limits(g, pi, o);
    json_array_append_new(g->widgets, o);
    json_array_append_new(ids, json_string(pi->ref));

    /* Temperatures get a trend chart: overheating is about the slope. */
    if (pi->semantic && !strcmp(pi->semantic, "ht:Temperature")) {
        char *id = ht_asprintf("%s.chart", pi->ref);
        json_t *c = json_object();
        json_object_set_new(c, "id", json_string(id));
        json_object_set_new(c, "type", json_string("chart"));
        json_object_set_new(c, "title",
                            json_sprintf("%s (history)", pi->title));
        json_object_set_new(c, "group", json_string(pi->ref_comp));
        json_object_set_new(c, "semantic", json_string(pi->semantic));
        json_object_set_new(c, "binding", binding(g, pi->ref, false, true));
        json_object_set_new(c, "schema", data_schema(pi));
        json_object_set_new(c, "writable", json_false());
        add_limits(g, pi, c);
        json_array_append_new(g->widgets, c);
        json_array_append_new(ids, json_string(id));
        free(id);
    }
}

/* The status group: the stable flag and one alert per rule. */
static void add_status_widgets(struct gen *g, json_t *ids)
{
    json_t *forms = json_array();
    state_forms(g, forms);
    json_array_append_new(
        g->widgets,
        json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:o}, s:{s:s, s:[{s:b, s:s},"
                  " {s:b, s:s}]}, s:b}",
                  "id", "status.stable", "type", "display", "title",
                  "Machine state", "group", "status", "binding", "pointer",
                  "/stable", "forms", forms, "schema", "type", "boolean",
                  "enum", "value", 0, "title", "Unstable", "value", 1, "title",
                  "Stable", "writable", 0));
    json_array_append_new(ids, json_string("status.stable"));
    for (size_t r = 0; r < g->m->nrules; r++) {
        const struct ht_twin_rule *rule = &g->m->rules[r];
        char *id = ht_asprintf("rule.%s", rule->id);
        forms = json_array();
        state_forms(g, forms);
        char *ptr = ht_asprintf("/rules/%s/state", rule->id);
        json_t *aw = json_pack(
            "{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:o}, s:{s:s, "
            "s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s}]}, "
            "s:b, s:s, s:s}",
            "id", id, "type", "alert", "title", rule->id, "group", "status",
            "binding", "rule", rule->id, "pointer", ptr, "forms", forms,
            "schema", "type", "string", "enum", "value", "unknown", "title",
            "Unknown", "value", "inactive", "title", "OK", "value", "pending",
            "title", "Pending", "value", "active", "title", "Alarm", "writable",
            0, "severity", ht_twin_severity_name(rule->severity), "message",
            rule->message);
        if (aw && rule->alarm)
            json_object_set_new(
                aw, "priority",
                json_string(ht_twin_priority_name(rule->priority)));
        json_array_append_new(g->widgets, aw);
        json_array_append_new(ids, json_string(id));
        free(id);
        free(ptr);
    }
}

/* ---- web layout ---- */

static json_t *group(const char *id, const char *title, const char *kind, int x,
                     int y, int w, json_t *ids)
{
    int h = (int)json_array_size(ids);
    json_t *o = json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:o}", "id", id,
                          "title", title, "x", x, "y", y, "w", w, "h",
                          h < 1 ? 1 : h, "widgets", ids);
    if (kind)
        json_object_set_new(o, "kind", json_string(kind));
    return o;
}

/* Status and twin-level controls span the grid; components follow three
 * to a row, each row as tall as its tallest card. */
static json_t *web_layout(const json_t *status_ids, const json_t *twin_ids,
                          json_t *const *comp_ids, const struct gen *g)
{
    json_t *groups = json_array();
    int y = 0;
    json_array_append_new(groups, group("status", "Status", NULL, 0, y, 12,
                                        json_deep_copy(status_ids)));
    y += (int)json_array_size(status_ids);
    if (json_array_size(twin_ids)) {
        json_array_append_new(groups,
                              group(HT_TWIN_SELF, "Machine controls", NULL, 0,
                                    y, 12, json_deep_copy(twin_ids)));
        y += (int)json_array_size(twin_ids);
    }
    int rowh = 0;
    for (size_t c = 0; c < g->m->ncomps; c++) {
        const struct ht_twin_component *cp = &g->m->comps[c];
        int col = (int)(c % 3);
        if (col == 0 && c) {
            y += rowh;
            rowh = 0;
        }
        int h = (int)json_array_size(comp_ids[c]);
        if (h > rowh)
            rowh = h;
        json_array_append_new(groups,
                              group(cp->id, cp->title ? cp->title : cp->id,
                                    ht_twin_kind_name(cp->kind), col * 4, y, 4,
                                    json_deep_copy(comp_ids[c])));
    }
    return json_pack("{s:s, s:i, s:o}", "type", "grid", "columns", 12, "groups",
                     groups);
}

/* ---- hmd scene ---- */

static json_t *vec3(const double v[3])
{
    return json_pack("[o, o, o]", jnum(v[0]), jnum(v[1]), jnum(v[2]));
}

static json_t *shape(const struct ht_twin_component *c)
{
    static const struct {
        const char *prim, *style, *color;
    } k[] = {
        [HT_TWIN_KIND_GEAR] = {"cylinder", "gear", "#9aa4ad"},
        [HT_TWIN_KIND_MOTOR] = {"cylinder", "plain", "#4a6fa5"},
        [HT_TWIN_KIND_HEATER] = {"box", "plain", "#b5482f"},
        [HT_TWIN_KIND_FAN] = {"cylinder", "fan", "#6fa8dc"},
        [HT_TWIN_KIND_LAMP] = {"sphere", "plain", "#f1c232"},
        [HT_TWIN_KIND_BUTTON] = {"cylinder", "plain", "#3c9a5f"},
        [HT_TWIN_KIND_KNOB] = {"cylinder", "plain", "#666666"},
        [HT_TWIN_KIND_CONVEYOR] = {"box", "belt", "#444444"},
        [HT_TWIN_KIND_TANK] = {"cylinder", "tank", "#8fb3c8"},
        [HT_TWIN_KIND_SENSOR] = {"box", "plain", "#7b8a8b"},
        [HT_TWIN_KIND_GENERIC] = {"box", "plain", "#999999"},
    };
    unsigned i = (unsigned)c->kind <= HT_TWIN_KIND_GENERIC
                     ? (unsigned)c->kind
                     : HT_TWIN_KIND_GENERIC;
    json_t *s =
        json_pack("{s:s, s:s, s:o, s:s}", "primitive", k[i].prim, "style",
                  k[i].style, "size", vec3(c->size), "color", k[i].color);
    if (c->kind == HT_TWIN_KIND_GEAR)
        json_object_set_new(s, "teeth", json_integer(20));
    return s;
}

/* Degrees per second per unit of a rotation speed. */
static double rot_factor(const char *unit)
{
    if (unit && !strcmp(unit, "unit:REV-PER-SEC"))
        return 360;
    if (unit && !strcmp(unit, "unit:RAD-PER-SEC"))
        return 57.29577951;
    return 6; /* rpm */
}

static bool sem_is(const struct pinfo *pi, const char *term)
{
    return pi->semantic && !strcmp(pi->semantic, term);
}

/* Animations derived from what a property means, not from its name. Every
 * property gets one, so that each input and output of the machine can be
 * seen on the hologram: known terms first, then by data type (a boolean
 * lights a ring, a bounded number turns a needle, anything else is a
 * label at the node). */
static json_t *node_bindings(const struct gen *g, size_t ci)
{
    const struct ht_twin_component *c = &g->m->comps[ci];
    json_t *b = json_array();
    for (size_t p = 0; p < c->nprops; p++) {
        struct pinfo pi;
        info_comp(g, c, &c->props[p], &pi);
        char *ptr = ht_asprintf("/properties/%s/value", pi.ref);
        bool num = pi.type == HT_SEM_NUMBER || pi.type == HT_SEM_INTEGER;
        json_t *o;
        if (sem_is(&pi, "ht:RotationSpeed"))
            o = json_pack("{s:s, s:[i,i,i], s:o}", "effect", "rotationRate",
                          "axis", 0, 1, 0, "factor", jnum(rot_factor(pi.unit)));
        else if (sem_is(&pi, "ht:Fan") && pi.type == HT_SEM_BOOLEAN)
            o = json_pack("{s:s, s:[i,i,i], s:i}", "effect", "rotationRate",
                          "axis", 0, 1, 0, "factor", 720);
        else if (sem_is(&pi, "ht:Temperature"))
            o = json_pack("{s:s, s:[{s:i, s:s}, {s:i, s:s}, {s:i, s:s}, "
                          "{s:i, s:s}]}",
                          "effect", "color", "colorMap", "value", 25, "color",
                          "#2f6fdf", "value", 50, "color", "#f1c232", "value",
                          70, "color", "#e69138", "value", 90, "color",
                          "#cc0000");
        else if (pi.type == HT_SEM_BOOLEAN &&
                 (sem_is(&pi, "ht:Lamp") || sem_is(&pi, "ht:Heater") ||
                  sem_is(&pi, "ht:Button")))
            o = json_pack("{s:s, s:s, s:s}", "effect", "emissive", "on",
                          sem_is(&pi, "ht:Heater")   ? "#ff4d1a"
                          : sem_is(&pi, "ht:Button") ? "#66ff66"
                                                     : "#ffd966",
                          "off", "#000000");
        else if (pi.type == HT_SEM_BOOLEAN)
            /* A motor's enable and other states: a ring around the node,
             * light grey when on (a normal state is not coloured). */
            o = json_pack("{s:s, s:s, s:s, s:s}", "effect", "emissive", "part",
                          "ring", "on", "#dde4ea", "off", "#000000");
        else if (num && pi.has_min && pi.has_max && pi.max > pi.min)
            /* Knobs turn themselves; setpoints turn a needle on the node.
             * Clockwise from 135 deg to -135 deg about +Y, like a dial. */
            o = json_pack("{s:s, s:s, s:[i,i,i], s:o, s:o, s:i, s:i}", "effect",
                          "angle", "part",
                          c->kind == HT_TWIN_KIND_KNOB ? "body" : "needle",
                          "axis", 0, 1, 0, "min", jnum(pi.min), "max",
                          jnum(pi.max), "fromDeg", 135, "toDeg", -135);
        else {
            o = json_pack("{s:s}", "effect", "label");
            const char *l = unit_label(pi.unit);
            if (l)
                json_object_set_new(o, "unitLabel", json_string(l));
        }
        json_object_set_new(o, "property", json_string(pi.ref));
        json_object_set_new(o, "pointer", json_string(ptr));
        json_array_append_new(b, o);
        free(ptr);
    }
    /* Rules that read this component make it glow red when active. */
    json_t *rules = json_array();
    size_t idlen = strlen(c->id);
    for (size_t r = 0; r < g->m->nrules; r++) {
        const struct ht_twin_rule *rule = &g->m->rules[r];
        for (size_t i = 0; i < ht_twin_rule_nrefs(rule); i++) {
            const char *ref = ht_twin_rule_ref(rule, i);
            if (!strncmp(ref, c->id, idlen) && ref[idlen] == '.') {
                json_array_append_new(rules, json_string(rule->id));
                break;
            }
        }
    }
    if (json_array_size(rules))
        json_array_append_new(b, json_pack("{s:s, s:o, s:s, s:s}", "effect",
                                           "alarm", "rules", rules, "pointer",
                                           "/alarms", "color", "#ff0000"));
    else
        json_decref(rules);
    return b;
}

static json_t *anchor(const struct gen *g)
{
    const struct ht_twin_model *m = g->m;
    if (m->marker_asset) {
        json_t *a = json_pack("{s:s, s:s, s:o}", "type", "marker", "asset",
                              m->marker_asset, "href",
                              json_sprintf("%s/api/v1/twins/%s/assets/%s",
                                           g->http, m->id, m->marker_asset));
        if (m->marker_size > 0)
            json_object_set_new(a, "size", jnum(m->marker_size));
        return a;
    }
    if (m->spatial_anchor)
        return json_pack("{s:s, s:s}", "type", "spatial", "id",
                         m->spatial_anchor);
    return json_pack("{s:s}", "type", "manual");
}

/* Characters (UTF-8 code points) of a string. */
static size_t nchars(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* The longest title among a panel's widgets (ids into g->widgets). */
static size_t longest_title(const struct gen *g, const json_t *ids)
{
    size_t best = 0, i, j;
    json_t *id, *w;
    json_array_foreach(ids, i, id)
    {
        json_array_foreach(g->widgets, j, w)
        {
            if (json_equal(json_object_get(w, "id"), id)) {
                size_t n =
                    nchars(json_string_value(json_object_get(w, "title")));
                best = n > best ? n : best;
                break;
            }
        }
    }
    return best;
}

/* A panel's rows: its widgets without the trend charts, which an hmd
 * shows on demand (they stay in "widgets" with a readhistory form). */
static json_t *panel_rows(const struct gen *g, const json_t *ids)
{
    json_t *rows = json_array();
    size_t i, j;
    json_t *id, *w;
    json_array_foreach(ids, i, id)
    {
        bool chart = false;
        json_array_foreach(g->widgets, j,
                           w) if (json_equal(json_object_get(w, "id"), id))
        {
            chart =
                !strcmp(json_string_value(json_object_get(w, "type")), "chart");
            break;
        }
        if (!chart)
            json_array_append(rows, id);
    }
    return rows;
}

static json_t *hmd_view(const struct ui_view *v, const struct ui_typo *t)
{
    return json_pack(
        "{s:{s:o, s:o, s:o, s:o}, s:{s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
        "s:o, s:o, s:o}}",
        "viewpoint", "position", vec3(v->pos), "target", vec3(v->target),
        "fovDeg", jnum(v->fov_deg), "aspect",
        jnum(round(v->aspect * 1000) / 1000), "typography", "viewingDistance",
        jnum(t->dist), "minTextDeg", jnum(t->min_deg), "bodyDeg",
        jnum(t->body_deg), "titleDeg", jnum(t->title_deg), "bodySize",
        jnum(t->body), "titleSize", jnum(t->title), "rowHeight", jnum(t->row),
        "headerHeight", jnum(t->header), "padding", jnum(t->pad), "gap",
        jnum(t->gap));
}

static json_t *hmd_scene(const struct gen *g, const json_t *status_ids,
                         const json_t *twin_ids, json_t *const *comp_ids)
{
    const struct ht_twin_model *m = g->m;
    json_t *nodes = json_array();
    size_t np = m->ncomps + 1;
    struct ui_node *ln = ht_calloc(m->ncomps + 1, sizeof *ln);
    struct ui_panel *lp = ht_calloc(np, sizeof *lp);
    json_t **rows = ht_calloc(np, sizeof *rows);
    for (size_t c = 0; c < m->ncomps; c++) {
        const struct ht_twin_component *cp = &m->comps[c];
        static const double one[3] = {1, 1, 1};
        json_t *n = json_pack(
            "{s:s, s:s, s:s, s:{s:o, s:o, s:o}, s:o, s:o}", "id", cp->id,
            "title", cp->title ? cp->title : cp->id, "kind",
            ht_twin_kind_name(cp->kind), "transform", "position",
            vec3(cp->position), "rotation", vec3(cp->rotation), "scale",
            vec3(one), "shape", shape(cp), "bindings", node_bindings(g, c));
        if (cp->model_asset)
            json_object_set_new(
                n, "model",
                json_pack("{s:s, s:o}", "asset", cp->model_asset, "href",
                          json_sprintf("%s/api/v1/twins/%s/assets/%s", g->http,
                                       m->id, cp->model_asset)));
        json_array_append_new(nodes, n);
        /* Any rotation fits in the sphere around the bounding box. */
        memcpy(ln[c].pos, cp->position, sizeof ln[c].pos);
        ln[c].r = sqrt(cp->size[0] * cp->size[0] + cp->size[1] * cp->size[1] +
                       cp->size[2] * cp->size[2]) /
                  2;
        rows[c] = panel_rows(g, comp_ids[c]);
        lp[c].node = (long)c;
        lp[c].rows = json_array_size(rows[c]);
        lp[c].title_chars = nchars(cp->title ? cp->title : cp->id);
        lp[c].label_chars = longest_title(g, rows[c]);
    }
    /* The machine panel: status and machine controls, at the anchor. */
    json_t *ids = json_deep_copy(status_ids);
    json_array_extend(ids, (json_t *)twin_ids);
    rows[m->ncomps] = ids;
    lp[m->ncomps].node = -1;
    lp[m->ncomps].rows = json_array_size(ids);
    lp[m->ncomps].title_chars = nchars(m->title);
    lp[m->ncomps].label_chars = longest_title(g, ids);
    struct ui_typo typo;
    struct ui_view view;
    ui__hmd_layout(ln, m->ncomps, lp, np, &typo, &view);

    json_t *panels = json_array();
    for (size_t i = 0; i < np; i++) {
        bool machine = i == m->ncomps;
        const struct ht_twin_component *cp = machine ? NULL : &m->comps[i];
        static const double origin[3] = {0, 0, 0};
        const double *at = machine ? origin : cp->position;
        double off[3];
        for (int k = 0; k < 3; k++)
            off[k] = round((lp[i].center[k] - at[k]) * 1000) / 1000;
        char *pid = machine ? ht_strdup("panel.machine")
                            : ht_asprintf("panel.%s", cp->id);
        json_array_append_new(
            panels,
            json_pack("{s:s, s:s, s:s, s:o, s:o, s:b, s:o, s:o, s:o, s:o}",
                      "id", pid, "title",
                      machine     ? m->title
                      : cp->title ? cp->title
                                  : cp->id,
                      "node", machine ? "" : cp->id, "position",
                      vec3(lp[i].center), "offset", vec3(off), "billboard", 1,
                      "width", jnum(lp[i].w), "height", jnum(lp[i].h),
                      "labelWidth", jnum(lp[i].label_w), "widgets", rows[i]));
        free(pid);
    }
    json_t *scene = json_pack("{s:s, s:s, s:o, s:o, s:o}", "units", "m",
                              "frame", "y-up-right-handed", "anchor", anchor(g),
                              "nodes", nodes, "panels", panels);
    json_object_update_new(scene, hmd_view(&view, &typo));
    free(rows);
    free(lp);
    free(ln);
    return scene;
}

/* ---- entry points ---- */

static bool base_ok(const char *b, const char *scheme)
{
    if (!b)
        return true;
    size_t n = strlen(b);
    return n > strlen(scheme) && n < 512 &&
           !strncmp(b, scheme, strlen(scheme)) && b[n - 1] != '/' &&
           !strpbrk(b, " \t\r\n\"");
}

json_t *ht_ui_generate(const struct ht_ui_input *in, char *err, size_t errlen)
{
    if (!in || !in->model) {
        if (err && errlen)
            snprintf(err, errlen, "no twin model");
        return NULL;
    }
    if (!base_ok(in->http_base, "http") || !base_ok(in->mqtt_base, "mqtt")) {
        if (err && errlen)
            snprintf(err, errlen,
                     "bad base URL (http[s]://host:port or "
                     "mqtt[s]://host:port, no trailing '/')");
        return NULL;
    }
    if ((unsigned)in->target > HT_UI_HMD || (unsigned)in->role > HT_UI_ADMIN) {
        if (err && errlen)
            snprintf(err, errlen, "bad target or role");
        return NULL;
    }
    const struct ht_twin_model *m = in->model;
    struct gen g = {
        .in = in,
        .m = m,
        .http = in->http_base ? in->http_base : "",
        .prefix = in->topic_prefix, /* NULL: HT_TOPIC_PREFIX_DEFAULT */
        .can_write = in->role >= HT_UI_OPERATOR,
        .widgets = json_array(),
    };
    json_t *status_ids = json_array();
    add_status_widgets(&g, status_ids);
    json_t *twin_ids = json_array();
    for (size_t i = 0; i < m->ntprops; i++) {
        struct pinfo pi;
        info_twin(&m->tprops[i], &pi);
        add_prop_widgets(&g, &pi, twin_ids);
    }
    json_t **comp_ids = ht_calloc(m->ncomps + 1, sizeof *comp_ids);
    for (size_t c = 0; c < m->ncomps; c++) {
        comp_ids[c] = json_array();
        for (size_t p = 0; p < m->comps[c].nprops; p++) {
            struct pinfo pi;
            info_comp(&g, &m->comps[c], &m->comps[c].props[p], &pi);
            add_prop_widgets(&g, &pi, comp_ids[c]);
        }
    }
    json_t *twin = json_pack("{s:s, s:s, s:I, s:o}", "id", m->id, "title",
                             m->title, "version", (json_int_t)m->version, "td",
                             json_sprintf("urn:holotwin:twin:%s", m->id));
    if (m->description)
        json_object_set_new(twin, "description", json_string(m->description));
    json_t *sources = json_object();
    json_t *sf = json_array();
    state_forms(&g, sf);
    json_object_set_new(sources, "state", sf);
    json_object_set_new(sources, "descriptor", descriptor_forms(&g));
    json_object_set_new(sources, "control", control_forms(&g));
    json_object_set_new(
        twin, "control",
        json_string(m->control_required ? "required" : "optional"));
    json_t *d =
        json_pack("{s:s, s:s, s:s, s:o, s:o, s:{s:s, s:s, s:s}, s:o}", "schema",
                  HT_UI_SCHEMA, "target", ht_ui_target_name(in->target), "role",
                  ht_ui_role_name(in->role), "twin", twin, "sources", sources,
                  "status", "stable", "/stable", "alarms", "/alarms", "rules",
                  "/rules", "widgets", g.widgets);
    if (in->target == HT_UI_WEB)
        json_object_set_new(d, "layout",
                            web_layout(status_ids, twin_ids, comp_ids, &g));
    else
        json_object_set_new(d, "scene",
                            hmd_scene(&g, status_ids, twin_ids, comp_ids));
    for (size_t c = 0; c < m->ncomps; c++)
        json_decref(comp_ids[c]);
    free(comp_ids);
    json_decref(status_ids);
    json_decref(twin_ids);
    return d;
}

int ht_ui_serialize(const json_t *desc, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (!desc)
        return HT_EINVAL;
    /* 12 significant digits: exact for every value we emit, and no
     * 0.29999999999999999 noise in golden files. */
    char *s = json_dumps(desc, JSON_SORT_KEYS | JSON_COMPACT |
                                   JSON_REAL_PRECISION(12));
    if (!s)
        return HT_EINVAL;
    *len = strlen(s);
    *out = ht_strdup(s);
    free(s);
    return HT_OK;
}

int ht_ui_render(const struct ht_ui_input *in, char **out, size_t *len,
                 char etag[HT_UI_ETAG_LEN], char *err, size_t errlen)
{
    *out = NULL;
    *len = 0;
    json_t *d = ht_ui_generate(in, err, errlen);
    if (!d)
        return HT_EINVAL;
    int rc = ht_ui_serialize(d, out, len);
    json_decref(d);
    if (rc == HT_OK)
        ht_ui_etag(*out, *len, etag);
    return rc;
}
