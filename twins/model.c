/* model.c - parse and validate twin documents (twins/schema/twin.schema.json)
 * into struct ht_twin_model, resolving every cross-reference once so the
 * engine never looks names up on the hot path.
 *
 * Errors name the offending member by JSON pointer, so REST clients and
 * ht_conf_locate can point at the exact line of a file.
 */
#include "twin_internal.h"

#include "ht_err.h"
#include "ht_id.h"
#include "ht_mem.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {
    "gear", "motor",    "heater", "fan",    "lamp",    "button",
    "knob", "conveyor", "tank",   "sensor", "generic",
};
static const char *const sev_names[] = {"info", "warning", "critical"};
static const char *const prio_names[] = {"critical", "high", "medium", "low"};
static const char *const as_names[] = {
    "normal",
    "active_unacknowledged",
    "active_acknowledged",
    "returned_unacknowledged",
    "shelved",
    "suppressed",
    "out_of_service",
};
static const char *const cmd_names[] = {"ack", "shelve", "unshelve",
                                        "out-of-service", "in-service"};
static const char *const drive_names[] = {"", "unacknowledged_alarms",
                                          "active_alarms"};
static const char *const q_names[] = {"unknown", "good", "stale", "offline"};
static const char *const rs_names[] = {"unknown", "inactive", "pending",
                                       "active"};

/* Default bounding boxes by kind (metres), so a model can omit sizes. */
static const double kind_size[][3] = {
    {0.2, 0.04, 0.2},   {0.1, 0.1, 0.15},   {0.2, 0.2, 0.15},
    {0.12, 0.03, 0.12}, {0.04, 0.04, 0.04}, {0.04, 0.02, 0.04},
    {0.05, 0.03, 0.05}, {0.6, 0.05, 0.2},   {0.3, 0.5, 0.3},
    {0.05, 0.05, 0.05}, {0.1, 0.1, 0.1},
};

const char *ht_twin_kind_name(enum ht_twin_kind k)
{
    return (unsigned)k <= HT_TWIN_KIND_GENERIC ? kind_names[k] : "generic";
}

const char *ht_twin_severity_name(enum ht_twin_severity s)
{
    return (unsigned)s <= HT_TWIN_SEV_CRITICAL ? sev_names[s] : "info";
}

const char *ht_twin_quality_name(enum ht_twin_quality q)
{
    return (unsigned)q <= HT_TWIN_Q_OFFLINE ? q_names[q] : "unknown";
}

const char *ht_twin_rule_state_name(enum ht_twin_rule_state s)
{
    return (unsigned)s <= HT_TWIN_RULE_ACTIVE ? rs_names[s] : "unknown";
}

const char *ht_twin_priority_name(enum ht_twin_priority p)
{
    return (unsigned)p <= HT_TWIN_PRIO_LOW ? prio_names[p] : "low";
}

const char *ht_twin_alarm_state_name(enum ht_twin_alarm_state s)
{
    return (unsigned)s <= HT_TWIN_ALARM_OUT_OF_SERVICE ? as_names[s] : "normal";
}

const char *ht_twin_alarm_cmd_name(enum ht_twin_alarm_cmd c)
{
    return (unsigned)c <= HT_TWIN_ACMD_IN_SERVICE ? cmd_names[c] : "ack";
}

/* Index of s in a name table, or -1. */
static int name_index(const char *s, const char *const *names, unsigned n)
{
    for (unsigned i = 0; s && i < n; i++)
        if (!strcmp(s, names[i]))
            return (int)i;
    return -1;
}

int ht_twin_priority_parse(const char *s, enum ht_twin_priority *out)
{
    int i = name_index(s, prio_names, HT_TWIN_PRIO_LOW + 1);
    if (i < 0)
        return HT_EINVAL;
    *out = (enum ht_twin_priority)i;
    return HT_OK;
}

int ht_twin_alarm_state_parse(const char *s, enum ht_twin_alarm_state *out)
{
    int i = name_index(s, as_names, HT_TWIN_ALARM_OUT_OF_SERVICE + 1);
    if (i < 0)
        return HT_EINVAL;
    *out = (enum ht_twin_alarm_state)i;
    return HT_OK;
}

int ht_twin_alarm_cmd_parse(const char *s, enum ht_twin_alarm_cmd *out)
{
    int i = name_index(s, cmd_names, HT_TWIN_ACMD_IN_SERVICE + 1);
    if (i < 0)
        return HT_EINVAL;
    *out = (enum ht_twin_alarm_cmd)i;
    return HT_OK;
}

int ht_twin_kind_parse(const char *s, enum ht_twin_kind *out)
{
    for (unsigned i = 0; s && i <= HT_TWIN_KIND_GENERIC; i++)
        if (!strcmp(s, kind_names[i])) {
            *out = (enum ht_twin_kind)i;
            return HT_OK;
        }
    return HT_EINVAL;
}

/* Linear unit conversions (QUDT names) a model may ask for. */
static const struct {
    const char *from, *to;
    double a, b;
} conversions[] = {
    {"unit:DEG_C", "unit:DEG_F", 1.8, 32},
    {"unit:DEG_F", "unit:DEG_C", 1 / 1.8, -32 / 1.8},
    {"unit:DEG_C", "unit:K", 1, 273.15},
    {"unit:K", "unit:DEG_C", 1, -273.15},
    {"unit:REV-PER-MIN", "unit:REV-PER-SEC", 1 / 60.0, 0},
    {"unit:REV-PER-SEC", "unit:REV-PER-MIN", 60, 0},
    {"unit:REV-PER-MIN", "unit:RAD-PER-SEC", 2 * M_PI / 60.0, 0},
    {"unit:RAD-PER-SEC", "unit:REV-PER-MIN", 60 / (2 * M_PI), 0},
    {"unit:KiloPA", "unit:BAR", 0.01, 0},
    {"unit:BAR", "unit:KiloPA", 100, 0},
    {"unit:M", "unit:MilliM", 1000, 0},
    {"unit:MilliM", "unit:M", 0.001, 0},
    {"unit:L-PER-MIN", "unit:M3-PER-HR", 0.06, 0},
    {"unit:M3-PER-HR", "unit:L-PER-MIN", 1 / 0.06, 0},
    {"unit:V", "unit:MilliV", 1000, 0},
    {"unit:MilliV", "unit:V", 0.001, 0},
};

static bool unit_conversion(const char *from, const char *to, double *a,
                            double *b)
{
    *a = 1;
    *b = 0;
    if (!from || !to || !strcmp(from, to))
        return true;
    for (size_t i = 0; i < sizeof conversions / sizeof conversions[0]; i++)
        if (!strcmp(conversions[i].from, from) &&
            !strcmp(conversions[i].to, to)) {
            *a = conversions[i].a;
            *b = conversions[i].b;
            return true;
        }
    return false;
}

double ht_twin_prop_to_twin(const struct ht_twin_prop *p, double device)
{
    return (p->conv_a * device + p->conv_b) * p->scale + p->offset;
}

double ht_twin_prop_to_device(const struct ht_twin_prop *p, double twin)
{
    return ((twin - p->offset) / p->scale - p->conv_b) / p->conv_a;
}

/* ---- errors ---- */

struct ctx {
    char *err;
    size_t errlen;
    char *ptr;
    size_t ptrlen;
};

/* Report at a JSON pointer built from a printf-style path. */
static int fail(struct ctx *c, int rc, const char *ptr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct ctx *c, int rc, const char *ptr, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->err && c->errlen)
        snprintf(c->err, c->errlen, "%s: %s", *ptr ? ptr : "/", msg);
    if (c->ptr && c->ptrlen)
        snprintf(c->ptr, c->ptrlen, "%s", ptr);
    return rc;
}

/* Build a JSON pointer; truncation is harmless (messages only). */
static void jp(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void jp(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

/* A component or property name: [a-z][a-z0-9_]{0,31}. */
static bool name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 32 || s[0] < 'a' || s[0] > 'z')
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_'))
            return false;
    return true;
}

/* Asset names are file-like but never paths: no '/', no leading dot. */
static bool asset_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 128 || s[0] == '.' || s[0] == '-' || s[0] == '_')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' ||
              s[i] == '-'))
            return false;
    return !strstr(s, "..");
}

/* Reject members the schema does not know: typos must not pass silently. */
static int only_keys(struct ctx *c, const json_t *o, const char *ptr,
                     const char *const *keys)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        size_t i;
        for (i = 0; keys[i] && strcmp(keys[i], k); i++)
            ;
        if (!keys[i])
            return fail(c, HT_EINVAL, ptr, "unknown member \"%.40s\"", k);
    }
    return HT_OK;
}

/* String member: required or optional, bounded; *out new or NULL. */
static int get_str(struct ctx *c, const json_t *o, const char *key,
                   const char *ptr, bool required, size_t max, char **out)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    char p[160];
    jp(p, sizeof p, "%s/%s", ptr, key);
    if (!v)
        return required ? fail(c, HT_EINVAL, ptr, "missing \"%s\"", key)
                        : HT_OK;
    if (!json_is_string(v))
        return fail(c, HT_EINVAL, p, "must be a string");
    if (json_string_length(v) > max)
        return fail(c, HT_EINVAL, p, "longer than %zu bytes", max);
    if (required && json_string_length(v) == 0)
        return fail(c, HT_EINVAL, p, "must not be empty");
    if (strlen(json_string_value(v)) != json_string_length(v))
        return fail(c, HT_EINVAL, p, "contains a NUL byte");
    *out = ht_strdup(json_string_value(v));
    return HT_OK;
}

static int get_num(struct ctx *c, const json_t *o, const char *key,
                   const char *ptr, bool *has, double *out)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return HT_OK;
    if (!json_is_number(v) || !isfinite(json_number_value(v))) {
        char p[160];
        jp(p, sizeof p, "%s/%s", ptr, key);
        return fail(c, HT_EINVAL, p, "must be a number");
    }
    if (has)
        *has = true;
    *out = json_number_value(v);
    return HT_OK;
}

static int get_bool(struct ctx *c, const json_t *o, const char *key,
                    const char *ptr, bool *out)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return HT_OK;
    if (!json_is_boolean(v)) {
        char p[160];
        jp(p, sizeof p, "%s/%s", ptr, key);
        return fail(c, HT_EINVAL, p, "must be true or false");
    }
    *out = json_is_true(v);
    return HT_OK;
}

static int get_vec3(struct ctx *c, const json_t *o, const char *key,
                    const char *ptr, double out[3], bool positive)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return HT_OK;
    char p[160];
    jp(p, sizeof p, "%s/%s", ptr, key);
    if (!json_is_array(v) || json_array_size(v) != 3)
        return fail(c, HT_EINVAL, p, "must be an array of 3 numbers");
    for (size_t i = 0; i < 3; i++) {
        const json_t *x = json_array_get(v, i);
        double d = json_number_value(x);
        if (!json_is_number(x) || !isfinite(d) || fabs(d) > 1e4 ||
            (positive && (d <= 0 || d > 100)))
            return fail(c, HT_EINVAL, p,
                        positive ? "must be 3 sizes in (0, 100] m"
                                 : "must be 3 finite numbers");
        out[i] = d;
    }
    return HT_OK;
}

static int get_type(struct ctx *c, const json_t *o, const char *ptr,
                    bool required, bool *has, enum ht_sem_dtype *out)
{
    const json_t *v = json_object_get(o, "type");
    if (!v) {
        if (required)
            return fail(c, HT_EINVAL, ptr, "missing \"type\"");
        return HT_OK;
    }
    if (!json_is_string(v) ||
        ht_sem_dtype_parse(json_string_value(v), out) != HT_OK) {
        char p[160];
        jp(p, sizeof p, "%s/type", ptr);
        return fail(c, HT_EINVAL, p,
                    "must be boolean, integer, number or string");
    }
    if (has)
        *has = true;
    return HT_OK;
}

/* min/max/step shared by component and twin-level properties. */
static int get_range(struct ctx *c, const json_t *o, const char *ptr,
                     bool *has_min, double *min, bool *has_max, double *max,
                     bool *has_step, double *step)
{
    int rc;
    if ((rc = get_num(c, o, "minimum", ptr, has_min, min)) ||
        (rc = get_num(c, o, "maximum", ptr, has_max, max)) ||
        (rc = get_num(c, o, "step", ptr, has_step, step)))
        return rc;
    if (*has_min && *has_max && *min > *max)
        return fail(c, HT_EINVAL, ptr, "\"minimum\" is above \"maximum\"");
    if (*has_step && *step <= 0) {
        char p[160];
        jp(p, sizeof p, "%s/step", ptr);
        return fail(c, HT_EINVAL, p, "must be positive");
    }
    return HT_OK;
}

/* ---- freeing ---- */

static void prop_clear(struct ht_twin_prop *p)
{
    free(p->name);
    free(p->title);
    free(p->device);
    free(p->device_prop);
    free(p->semantic);
    free(p->unit);
    free(p->device_unit);
}

void ht_twin_model_free(struct ht_twin_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->ncomps; i++) {
        struct ht_twin_component *cp = &m->comps[i];
        for (size_t j = 0; j < cp->nprops; j++)
            prop_clear(&cp->props[j]);
        free(cp->props);
        free(cp->id);
        free(cp->title);
        free(cp->model_asset);
    }
    free(m->comps);
    for (size_t i = 0; i < m->ntprops; i++) {
        free(m->tprops[i].name);
        free(m->tprops[i].title);
        free(m->tprops[i].unit);
        free(m->tprops[i].targets);
    }
    free(m->tprops);
    for (size_t i = 0; i < m->nrules; i++) {
        free(m->rules[i].id);
        free(m->rules[i].message);
        free(m->rules[i].expr_src);
        twin__expr_free(m->rules[i].expr);
        free(m->rules[i].action);
        free(m->rules[i].suppress_src);
        twin__expr_free(m->rules[i].suppress);
    }
    free(m->rules);
    for (size_t i = 0; i < m->npermissives; i++) {
        free(m->permissives[i].id);
        free(m->permissives[i].message);
        free(m->permissives[i].expr_src);
        twin__expr_free(m->permissives[i].expr);
        free(m->permissives[i].applies);
    }
    free(m->permissives);
    for (size_t i = 0; i < m->nactions; i++) {
        free(m->actions[i].name);
        free(m->actions[i].write);
        json_decref(m->actions[i].value);
    }
    free(m->actions);
    free(m->id);
    free(m->title);
    free(m->description);
    free(m->marker_asset);
    free(m->spatial_anchor);
    free(m);
}

/* ---- parsing ---- */

static int parse_prop(struct ctx *c, const json_t *o, const char *ptr,
                      struct ht_twin_prop *p)
{
    static const char *const keys[] = {
        "name",        "title", "bind",      "type",     "semantic", "unit",
        "device_unit", "scale", "offset",    "writable", "unsafe",   "minimum",
        "maximum",     "step",  "driven_by", NULL};
    int rc;
    char *bind = NULL;
    char pp[160];
    p->scale = 1;
    p->conv_a = 1;
    if (!json_is_object(o))
        return fail(c, HT_EINVAL, ptr, "must be an object");
    if ((rc = only_keys(c, o, ptr, keys)) ||
        (rc = get_str(c, o, "name", ptr, true, 32, &p->name)))
        return rc;
    jp(pp, sizeof pp, "%s/name", ptr);
    if (!name_valid(p->name))
        return fail(c, HT_EINVAL, pp, "\"%s\" is not [a-z][a-z0-9_]{0,31}",
                    p->name);
    if ((rc = get_str(c, o, "title", ptr, false, HT_TWIN_MAX_STR, &p->title)) ||
        (rc = get_str(c, o, "bind", ptr, true, 128, &bind)))
        return rc;
    jp(pp, sizeof pp, "%s/bind", ptr);
    char *slash = strchr(bind, '/');
    if (slash)
        *slash = 0;
    bool ok = slash && ht_id_valid(bind) && ht_sem_name_valid(slash + 1);
    if (ok) {
        p->device = ht_strdup(bind);
        p->device_prop = ht_strdup(slash + 1);
    }
    free(bind);
    if (!ok)
        return fail(c, HT_EINVAL, pp,
                    "must be \"device-id/property\" (device id "
                    "[a-z0-9][a-z0-9._-]{0,63}, property [a-z0-9_]{1,32})");
    if ((rc = get_type(c, o, ptr, false, &p->has_type, &p->type)) ||
        (rc = get_str(c, o, "semantic", ptr, false, 64, &p->semantic)) ||
        (rc = get_str(c, o, "unit", ptr, false, 64, &p->unit)) ||
        (rc = get_str(c, o, "device_unit", ptr, false, 64, &p->device_unit)) ||
        (rc = get_num(c, o, "scale", ptr, NULL, &p->scale)) ||
        (rc = get_num(c, o, "offset", ptr, NULL, &p->offset)) ||
        (rc = get_bool(c, o, "writable", ptr, &p->writable)) ||
        (rc = get_bool(c, o, "unsafe", ptr, &p->unsafe)) ||
        (rc = get_range(c, o, ptr, &p->has_min, &p->min, &p->has_max, &p->max,
                        &p->has_step, &p->step)))
        return rc;
    if (p->scale == 0) {
        jp(pp, sizeof pp, "%s/scale", ptr);
        return fail(c, HT_EINVAL, pp, "must not be 0 (writes invert it)");
    }
    if (!unit_conversion(p->device_unit, p->unit, &p->conv_a, &p->conv_b)) {
        jp(pp, sizeof pp, "%s/device_unit", ptr);
        return fail(c, HT_EINVAL, pp, "no conversion from %s to %s",
                    p->device_unit, p->unit);
    }
    char *drive = NULL;
    if ((rc = get_str(c, o, "driven_by", ptr, false, 32, &drive)))
        return rc;
    if (drive) {
        int d = name_index(drive, drive_names, HT_TWIN_DRIVE_ACTIVE + 1);
        free(drive);
        jp(pp, sizeof pp, "%s/driven_by", ptr);
        if (d <= 0)
            return fail(c, HT_EINVAL, pp,
                        "must be unacknowledged_alarms or active_alarms");
        if (!p->writable || !p->has_type || p->type != HT_SEM_BOOLEAN)
            return fail(c, HT_EINVAL, pp,
                        "needs a writable property of type boolean");
        p->drive = (enum ht_twin_drive)d;
    }
    bool linear =
        p->scale != 1 || p->offset != 0 || p->conv_a != 1 || p->conv_b != 0;
    if (linear && p->has_type && p->type != HT_SEM_NUMBER &&
        p->type != HT_SEM_INTEGER)
        return fail(c, HT_EINVAL, ptr,
                    "scale, offset and unit conversion need a numeric type");
    return HT_OK;
}

static int parse_component(struct ctx *c, const json_t *o, const char *ptr,
                           struct ht_twin_component *cp)
{
    static const char *const keys[] = {"id",   "title", "kind",       "pose",
                                       "size", "model", "properties", NULL};
    int rc;
    char pp[160];
    char *kind = NULL;
    if (!json_is_object(o))
        return fail(c, HT_EINVAL, ptr, "must be an object");
    if ((rc = only_keys(c, o, ptr, keys)) ||
        (rc = get_str(c, o, "id", ptr, true, 32, &cp->id)))
        return rc;
    jp(pp, sizeof pp, "%s/id", ptr);
    if (!name_valid(cp->id))
        return fail(c, HT_EINVAL, pp, "\"%s\" is not [a-z][a-z0-9_]{0,31}",
                    cp->id);
    if (!strcmp(cp->id, HT_TWIN_SELF))
        return fail(c, HT_EINVAL, pp,
                    "\"twin\" is reserved for twin-level properties");
    if ((rc =
             get_str(c, o, "title", ptr, false, HT_TWIN_MAX_STR, &cp->title)) ||
        (rc = get_str(c, o, "kind", ptr, true, 32, &kind)))
        return rc;
    rc = ht_twin_kind_parse(kind, &cp->kind);
    free(kind);
    if (rc) {
        jp(pp, sizeof pp, "%s/kind", ptr);
        return fail(c, HT_EINVAL, pp,
                    "must be one of gear, motor, heater, fan, lamp, button, "
                    "knob, conveyor, tank, sensor, generic");
    }
    memcpy(cp->size, kind_size[cp->kind], sizeof cp->size);
    const json_t *pose = json_object_get(o, "pose");
    if (pose) {
        static const char *const pkeys[] = {"position", "rotation", NULL};
        jp(pp, sizeof pp, "%s/pose", ptr);
        if (!json_is_object(pose))
            return fail(c, HT_EINVAL, pp, "must be an object");
        if ((rc = only_keys(c, pose, pp, pkeys)) ||
            (rc = get_vec3(c, pose, "position", pp, cp->position, false)) ||
            (rc = get_vec3(c, pose, "rotation", pp, cp->rotation, false)))
            return rc;
    }
    if ((rc = get_vec3(c, o, "size", ptr, cp->size, true)) ||
        (rc = get_str(c, o, "model", ptr, false, 128, &cp->model_asset)))
        return rc;
    if (cp->model_asset && !asset_valid(cp->model_asset)) {
        jp(pp, sizeof pp, "%s/model", ptr);
        return fail(c, HT_EINVAL, pp, "is not a valid asset name");
    }
    const json_t *props = json_object_get(o, "properties");
    jp(pp, sizeof pp, "%s/properties", ptr);
    if (!json_is_array(props) || json_array_size(props) == 0)
        return fail(c, HT_EINVAL, props ? pp : ptr,
                    props ? "must be a non-empty array"
                          : "missing \"properties\"");
    if (json_array_size(props) > HT_TWIN_MAX_PROPS)
        return fail(c, HT_EINVAL, pp, "more than %d properties",
                    HT_TWIN_MAX_PROPS);
    cp->props = ht_calloc(json_array_size(props), sizeof *cp->props);
    for (size_t i = 0; i < json_array_size(props); i++) {
        char ip[160];
        jp(ip, sizeof ip, "%s/%zu", pp, i);
        cp->nprops = i + 1;
        if ((rc = parse_prop(c, json_array_get(props, i), ip, &cp->props[i])))
            return rc;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(cp->props[j].name, cp->props[i].name))
                return fail(c, HT_EINVAL, ip, "duplicate property \"%s\"",
                            cp->props[i].name);
    }
    return HT_OK;
}

int ht_twin_model_find_prop(const struct ht_twin_model *m, const char *ref,
                            size_t *comp, size_t *prop)
{
    const char *dot = ref ? strchr(ref, '.') : NULL;
    if (!dot)
        return HT_ENOENT;
    size_t clen = (size_t)(dot - ref);
    for (size_t i = 0; i < m->ncomps; i++) {
        const struct ht_twin_component *cp = &m->comps[i];
        if (strlen(cp->id) != clen || strncmp(cp->id, ref, clen))
            continue;
        for (size_t j = 0; j < cp->nprops; j++)
            if (!strcmp(cp->props[j].name, dot + 1)) {
                *comp = i;
                *prop = j;
                return HT_OK;
            }
        return HT_ENOENT;
    }
    return HT_ENOENT;
}

static bool numeric(enum ht_sem_dtype t)
{
    return t == HT_SEM_NUMBER || t == HT_SEM_INTEGER;
}

static int parse_tprop(struct ctx *c, const struct ht_twin_model *m,
                       const json_t *o, const char *ptr,
                       struct ht_twin_tprop *t)
{
    static const char *const keys[] = {"name",    "title",   "type",    "unit",
                                       "unsafe",  "minimum", "maximum", "step",
                                       "targets", NULL};
    int rc;
    char pp[160];
    if (!json_is_object(o))
        return fail(c, HT_EINVAL, ptr, "must be an object");
    if ((rc = only_keys(c, o, ptr, keys)) ||
        (rc = get_str(c, o, "name", ptr, true, 32, &t->name)))
        return rc;
    jp(pp, sizeof pp, "%s/name", ptr);
    if (!name_valid(t->name))
        return fail(c, HT_EINVAL, pp, "\"%s\" is not [a-z][a-z0-9_]{0,31}",
                    t->name);
    if ((rc = get_str(c, o, "title", ptr, false, HT_TWIN_MAX_STR, &t->title)) ||
        (rc = get_type(c, o, ptr, true, NULL, &t->type)) ||
        (rc = get_str(c, o, "unit", ptr, false, 64, &t->unit)) ||
        (rc = get_bool(c, o, "unsafe", ptr, &t->unsafe)) ||
        (rc = get_range(c, o, ptr, &t->has_min, &t->min, &t->has_max, &t->max,
                        &t->has_step, &t->step)))
        return rc;
    const json_t *tg = json_object_get(o, "targets");
    jp(pp, sizeof pp, "%s/targets", ptr);
    if (!json_is_array(tg) || json_array_size(tg) == 0 ||
        json_array_size(tg) > HT_TWIN_MAX_TARGETS)
        return fail(c, HT_EINVAL, tg ? pp : ptr,
                    tg ? "must be an array of 1 to 8 targets"
                       : "missing \"targets\"");
    t->targets = ht_calloc(json_array_size(tg), sizeof *t->targets);
    for (size_t i = 0; i < json_array_size(tg); i++) {
        const json_t *v = json_array_get(tg, i);
        char ip[160];
        jp(ip, sizeof ip, "%s/%zu", pp, i);
        const char *ref = json_string_value(v);
        struct ht_twin_target *x = &t->targets[i];
        if (json_is_object(v)) {
            static const char *const tkeys[] = {"ref", "invert", NULL};
            if ((rc = only_keys(c, v, ip, tkeys)) ||
                (rc = get_bool(c, v, "invert", ip, &x->invert)))
                return rc;
            ref = json_string_value(json_object_get(v, "ref"));
        }
        if (!ref)
            return fail(c, HT_EINVAL, ip,
                        "must be \"component.property\" or "
                        "{\"ref\": ..., \"invert\": bool}");
        if (ht_twin_model_find_prop(m, ref, &x->comp, &x->prop))
            return fail(c, HT_EINVAL, ip, "no component property \"%.80s\"",
                        ref);
        const struct ht_twin_prop *p = &m->comps[x->comp].props[x->prop];
        t->ntargets = i + 1;
        if (!p->writable)
            return fail(c, HT_EINVAL, ip, "\"%.80s\" is not writable", ref);
        if (x->invert && t->type != HT_SEM_BOOLEAN)
            return fail(c, HT_EINVAL, ip, "\"invert\" needs a boolean");
        if (p->has_type && p->type != t->type &&
            !(numeric(p->type) && numeric(t->type)))
            return fail(c, HT_EINVAL, ip, "\"%.80s\" is %s, not %s", ref,
                        ht_sem_dtype_name(p->type), ht_sem_dtype_name(t->type));
    }
    return HT_OK;
}

/* Compile a condition (a rule's expression or its suppression) and
 * resolve its references to component properties; ptr names the member. */
static int compile_cond(struct ctx *c, const struct ht_twin_model *m,
                        const char *src, const char *ptr,
                        struct ht_twin_expr **out)
{
    char msg[200];
    if (twin__expr_parse(src, out, msg, sizeof msg, NULL))
        return fail(c, HT_EPARSE, ptr, "%s", msg);
    const struct ht_twin_expr *x = *out;
    size_t n = twin__expr_nrefs(x);
    enum twin__type types[32];
    for (size_t i = 0; i < n && i < 32; i++) {
        size_t ci, pi;
        if (ht_twin_model_find_prop(m, twin__expr_ref(x, i), &ci, &pi))
            return fail(c, HT_EPARSE, ptr, "at %zu: unknown property '%s'",
                        twin__expr_ref_pos(x, i), twin__expr_ref(x, i));
        const struct ht_twin_prop *p = &m->comps[ci].props[pi];
        types[i] = !p->has_type                ? TWIN_T_ANY
                   : p->type == HT_SEM_BOOLEAN ? TWIN_T_BOOL
                   : numeric(p->type)          ? TWIN_T_NUM
                                               : TWIN_T_ANY;
    }
    if (twin__expr_typecheck(x, types, msg, sizeof msg, NULL))
        return fail(c, HT_EPARSE, ptr, "%s", msg);
    return HT_OK;
}

/* An alarm delay: "500ms", "5s", "2m" (as the rule language's "for"),
 * 0 .. 24 h; absent leaves *out at 0. */
static int get_delay(struct ctx *c, const json_t *o, const char *key,
                     const char *ptr, int64_t *out)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return HT_OK;
    char p[160];
    jp(p, sizeof p, "%s/%s", ptr, key);
    const char *s = json_string_value(v);
    char *end = NULL;
    /* Digits and a dot only: strtod alone would take "1e3" or "0x10". */
    double d = s && *s >= '0' && *s <= '9' ? strtod(s, &end) : -1;
    if (end && end != s + strspn(s, "0123456789."))
        end = NULL;
    double mult = !end                 ? 0
                  : !strcmp(end, "ms") ? 1
                  : !strcmp(end, "s")  ? 1000
                  : !strcmp(end, "m")  ? 60000
                                       : 0;
    if (!mult || !isfinite(d) || d * mult > (double)HT_TWIN_MAX_DELAY_MS)
        return fail(c, HT_EINVAL, p,
                    "must be a duration from 0 to 24 h such as \"500ms\", "
                    "\"5s\" or \"2m\"");
    *out = (int64_t)llround(d * mult);
    return HT_OK;
}

/* The alarm attributes of a rule: priority, delays, deadband, action,
 * suppression (docs/twins.md, "Alarms"). */
static int parse_alarm(struct ctx *c, const struct ht_twin_model *m,
                       const json_t *o, const char *ptr, struct ht_twin_rule *r)
{
    int rc;
    char pp[160];
    char *prio = NULL;
    if ((rc = get_str(c, o, "priority", ptr, false, 16, &prio)))
        return rc;
    r->alarm = prio || r->severity != HT_TWIN_SEV_INFO;
    r->priority = r->severity == HT_TWIN_SEV_CRITICAL ? HT_TWIN_PRIO_CRITICAL
                                                      : HT_TWIN_PRIO_HIGH;
    if (prio) {
        rc = ht_twin_priority_parse(prio, &r->priority);
        free(prio);
        jp(pp, sizeof pp, "%s/priority", ptr);
        if (rc)
            return fail(c, HT_EINVAL, pp,
                        "must be critical, high, medium or low");
    }
    int64_t on_delay = 0;
    bool has_on = json_object_get(o, "on_delay") != NULL;
    if ((rc = get_delay(c, o, "on_delay", ptr, &on_delay)) ||
        (rc = get_delay(c, o, "off_delay", ptr, &r->off_delay_ms)))
        return rc;
    if (has_on && r->for_ms) {
        jp(pp, sizeof pp, "%s/on_delay", ptr);
        return fail(c, HT_EINVAL, pp,
                    "the expression already has a \"for\" duration");
    }
    if (has_on)
        r->for_ms = on_delay;
    bool has_db = false;
    if ((rc = get_num(c, o, "deadband", ptr, &has_db, &r->deadband)))
        return rc;
    jp(pp, sizeof pp, "%s/deadband", ptr);
    if (has_db && r->deadband < 0)
        return fail(c, HT_EINVAL, pp, "must not be negative");
    if (has_db && !twin__expr_has_order(r->expr))
        return fail(c, HT_EINVAL, pp,
                    "needs a comparison (<, <=, >, >=) in the expression");
    if ((rc = get_str(c, o, "action", ptr, false, HT_TWIN_MAX_STR,
                      &r->action)) ||
        (rc = get_str(c, o, "suppressed_while", ptr, false, HT_TWIN_MAX_EXPR,
                      &r->suppress_src)))
        return rc;
    if (r->suppress_src) {
        jp(pp, sizeof pp, "%s/suppressed_while", ptr);
        if ((rc = compile_cond(c, m, r->suppress_src, pp, &r->suppress)))
            return rc;
        if (twin__expr_for_ms(r->suppress))
            return fail(c, HT_EPARSE, pp,
                        "a suppression condition has no \"for\" duration");
    }
    if (!r->alarm && (r->off_delay_ms || has_db || r->suppress_src))
        return fail(c, HT_EINVAL, ptr,
                    "off_delay, deadband and suppressed_while need an alarm "
                    "(severity warning or critical, or a priority)");
    return HT_OK;
}

/* Compile a rule and resolve its references to component properties. */
static int parse_rule(struct ctx *c, const struct ht_twin_model *m,
                      const json_t *o, const char *ptr, struct ht_twin_rule *r)
{
    static const char *const keys[] = {
        "id",       "severity",         "message",   "expr",
        "priority", "on_delay",         "off_delay", "deadband",
        "action",   "suppressed_while", "interlock", NULL};
    int rc;
    char pp[160];
    char *sev = NULL;
    if (!json_is_object(o))
        return fail(c, HT_EINVAL, ptr, "must be an object");
    if ((rc = only_keys(c, o, ptr, keys)) ||
        (rc = get_str(c, o, "id", ptr, true, 64, &r->id)))
        return rc;
    jp(pp, sizeof pp, "%s/id", ptr);
    if (!ht_id_valid(r->id))
        return fail(c, HT_EINVAL, pp, "\"%.64s\" is not [a-z0-9][a-z0-9._-]*",
                    r->id);
    if ((rc = get_str(c, o, "severity", ptr, true, 16, &sev)))
        return rc;
    unsigned s;
    for (s = 0; s <= HT_TWIN_SEV_CRITICAL && strcmp(sev, sev_names[s]); s++)
        ;
    free(sev);
    if (s > HT_TWIN_SEV_CRITICAL) {
        jp(pp, sizeof pp, "%s/severity", ptr);
        return fail(c, HT_EINVAL, pp, "must be info, warning or critical");
    }
    r->severity = (enum ht_twin_severity)s;
    if ((rc = get_str(c, o, "message", ptr, true, HT_TWIN_MAX_STR,
                      &r->message)) ||
        (rc = get_str(c, o, "expr", ptr, true, HT_TWIN_MAX_EXPR, &r->expr_src)))
        return rc;
    jp(pp, sizeof pp, "%s/expr", ptr);
    if ((rc = compile_cond(c, m, r->expr_src, pp, &r->expr)))
        return rc;
    r->for_ms = twin__expr_for_ms(r->expr);
    if ((rc = get_bool(c, o, "interlock", ptr, &r->interlock)))
        return rc;
    return parse_alarm(c, m, o, ptr, r);
}

/* A property a permissive guards or an action reads: "comp.prop", or for
 * guards also "twin.name" (all its targets). Appends to *v (n entries). */
static int parse_pref(struct ctx *c, const struct ht_twin_model *m,
                      const json_t *v, const char *ptr, bool twin_ok,
                      struct ht_twin_pref **out, size_t *n)
{
    const char *ref = json_string_value(v);
    size_t ci, pi;
    if (ref && twin_ok &&
        !strncmp(ref, HT_TWIN_SELF ".", strlen(HT_TWIN_SELF) + 1)) {
        const struct ht_twin_tprop *t =
            ht_twin_model_tprop(m, ref + strlen(HT_TWIN_SELF) + 1);
        if (!t)
            return fail(c, HT_EINVAL, ptr, "no twin property \"%.80s\"", ref);
        *out = ht_realloc(*out, (*n + t->ntargets) * sizeof **out);
        for (size_t i = 0; i < t->ntargets; i++)
            (*out)[(*n)++] =
                (struct ht_twin_pref){t->targets[i].comp, t->targets[i].prop};
        return HT_OK;
    }
    if (!ref || ht_twin_model_find_prop(m, ref, &ci, &pi))
        return fail(c, HT_EINVAL, ptr, "no component property \"%.80s\"",
                    ref ? ref : "");
    *out = ht_realloc(*out, (*n + 1) * sizeof **out);
    (*out)[(*n)++] = (struct ht_twin_pref){ci, pi};
    return HT_OK;
}

/* {"id", "expr", "applies_to": [refs], "message"?}: commands to the
 * properties in applies_to are allowed only while expr is known true. */
static int parse_permissive(struct ctx *c, const struct ht_twin_model *m,
                            const json_t *o, const char *ptr,
                            struct ht_twin_permissive *p)
{
    static const char *const keys[] = {"id", "expr", "applies_to", "message",
                                       NULL};
    int rc;
    char pp[160];
    if (!json_is_object(o))
        return fail(c, HT_EINVAL, ptr, "must be an object");
    if ((rc = only_keys(c, o, ptr, keys)) ||
        (rc = get_str(c, o, "id", ptr, true, 64, &p->id)) ||
        (rc = get_str(c, o, "message", ptr, false, HT_TWIN_MAX_STR,
                      &p->message)) ||
        (rc = get_str(c, o, "expr", ptr, true, HT_TWIN_MAX_EXPR, &p->expr_src)))
        return rc;
    jp(pp, sizeof pp, "%s/id", ptr);
    if (!ht_id_valid(p->id))
        return fail(c, HT_EINVAL, pp, "\"%.64s\" is not [a-z0-9][a-z0-9._-]*",
                    p->id);
    jp(pp, sizeof pp, "%s/expr", ptr);
    if ((rc = compile_cond(c, m, p->expr_src, pp, &p->expr)))
        return rc;
    if (twin__expr_for_ms(p->expr))
        return fail(c, HT_EPARSE, pp, "a permissive has no \"for\" duration");
    const json_t *a = json_object_get(o, "applies_to");
    jp(pp, sizeof pp, "%s/applies_to", ptr);
    if (!json_is_array(a) || !json_array_size(a) ||
        json_array_size(a) > HT_TWIN_MAX_PROPS)
        return fail(c, HT_EINVAL, a ? pp : ptr,
                    a ? "must be an array of 1 to 32 properties"
                      : "missing \"applies_to\"");
    for (size_t i = 0; i < json_array_size(a); i++) {
        char ip[160];
        jp(ip, sizeof ip, "%s/%zu", pp, i);
        if ((rc = parse_pref(c, m, json_array_get(a, i), ip, true, &p->applies,
                             &p->napplies)))
            return rc;
    }
    return HT_OK;
}

/* {"name", "on": "comp.prop", "edge": "rising"|"falling"|"change"} or
 * {"name", "on_alarm": "rule"}, with "write": "comp.prop"|"twin.name" and
 * an optional "value" (absent: the trigger's value). */
static int parse_action(struct ctx *c, const struct ht_twin_model *m,
                        const json_t *o, const char *ptr,
                        struct ht_twin_action *a)
{
    static const char *const keys[] = {"name",  "on",    "edge", "on_alarm",
                                       "write", "value", NULL};
    int rc;
    char pp[160];
    char *edge = NULL, *rule = NULL;
    if (!json_is_object(o))
        return fail(c, HT_EINVAL, ptr, "must be an object");
    if ((rc = only_keys(c, o, ptr, keys)) ||
        (rc = get_str(c, o, "name", ptr, true, 64, &a->name)) ||
        (rc = get_str(c, o, "write", ptr, true, 80, &a->write)))
        return rc;
    jp(pp, sizeof pp, "%s/name", ptr);
    if (!ht_id_valid(a->name))
        return fail(c, HT_EINVAL, pp, "\"%.64s\" is not [a-z0-9][a-z0-9._-]*",
                    a->name);
    jp(pp, sizeof pp, "%s/write", ptr);
    size_t ci, pi;
    if (!strncmp(a->write, HT_TWIN_SELF ".", strlen(HT_TWIN_SELF) + 1)) {
        if (!ht_twin_model_tprop(m, a->write + strlen(HT_TWIN_SELF) + 1))
            return fail(c, HT_EINVAL, pp, "no twin property \"%s\"", a->write);
    } else if (ht_twin_model_find_prop(m, a->write, &ci, &pi) ||
               !m->comps[ci].props[pi].writable) {
        return fail(c, HT_EINVAL, pp, "\"%s\" is not a writable property",
                    a->write);
    }
    const json_t *v = json_object_get(o, "value");
    if (v && !json_is_boolean(v) && !json_is_number(v) && !json_is_string(v))
        return fail(c, HT_EINVAL, ptr, "\"value\" must be a scalar");
    a->value = v ? json_copy((json_t *)v) : NULL;
    if ((rc = get_str(c, o, "on_alarm", ptr, false, 64, &rule)))
        return rc;
    if (rule) {
        bool on = json_object_get(o, "on") || json_object_get(o, "edge");
        for (a->rule = 0; a->rule < m->nrules; a->rule++)
            if (!strcmp(m->rules[a->rule].id, rule))
                break;
        bool found = a->rule < m->nrules;
        free(rule);
        a->trigger = HT_TWIN_TRIG_ALARM;
        jp(pp, sizeof pp, "%s/on_alarm", ptr);
        if (!found)
            return fail(c, HT_EINVAL, pp, "no such rule");
        if (on)
            return fail(c, HT_EINVAL, ptr,
                        "\"on_alarm\" and \"on\"/\"edge\" exclude each "
                        "other");
        if (!a->value)
            return fail(c, HT_EINVAL, ptr, "an alarm action needs a \"value\"");
        return HT_OK;
    }
    jp(pp, sizeof pp, "%s/on", ptr);
    struct ht_twin_pref *on = NULL;
    size_t non = 0;
    if (!json_object_get(o, "on"))
        return fail(c, HT_EINVAL, ptr, "missing \"on\" or \"on_alarm\"");
    if ((rc = parse_pref(c, m, json_object_get(o, "on"), pp, false, &on, &non)))
        return rc;
    a->on = on[0];
    free(on);
    if ((rc = get_str(c, o, "edge", ptr, true, 16, &edge)))
        return rc;
    a->trigger = !strcmp(edge, "rising")    ? HT_TWIN_TRIG_RISING
                 : !strcmp(edge, "falling") ? HT_TWIN_TRIG_FALLING
                 : !strcmp(edge, "change")  ? HT_TWIN_TRIG_CHANGE
                                            : HT_TWIN_TRIG_ALARM;
    free(edge);
    jp(pp, sizeof pp, "%s/edge", ptr);
    if (a->trigger == HT_TWIN_TRIG_ALARM)
        return fail(c, HT_EINVAL, pp, "must be rising, falling or change");
    if (a->trigger != HT_TWIN_TRIG_CHANGE && !a->value)
        return fail(c, HT_EINVAL, ptr, "an edge action needs a \"value\"");
    return HT_OK;
}

static int parse_anchor(struct ctx *c, const json_t *a, struct ht_twin_model *m)
{
    static const char *const keys[] = {"marker", "size", "spatial", NULL};
    int rc;
    if (!a)
        return HT_OK;
    if (!json_is_object(a))
        return fail(c, HT_EINVAL, "/anchor", "must be an object");
    if ((rc = only_keys(c, a, "/anchor", keys)) ||
        (rc = get_str(c, a, "marker", "/anchor", false, 128,
                      &m->marker_asset)) ||
        (rc = get_num(c, a, "size", "/anchor", NULL, &m->marker_size)) ||
        (rc = get_str(c, a, "spatial", "/anchor", false, 256,
                      &m->spatial_anchor)))
        return rc;
    if (m->marker_asset && !asset_valid(m->marker_asset))
        return fail(c, HT_EINVAL, "/anchor/marker",
                    "is not a valid asset name");
    if (json_object_get(a, "size") &&
        (m->marker_size <= 0 || m->marker_size > 10))
        return fail(c, HT_EINVAL, "/anchor/size", "must be in (0, 10] m");
    return HT_OK;
}

int ht_twin_model_parse(const json_t *doc, struct ht_twin_model **out,
                        char *err, size_t errlen, char *errptr,
                        size_t errptrlen)
{
    static const char *const keys[] = {
        "$schema", "id",         "title",      "description", "version",
        "anchor",  "components", "properties", "rules",       "permissives",
        "actions", "control",    NULL};
    struct ctx c = {err, errlen, errptr, errptrlen};
    struct ht_twin_model *m = ht_calloc(1, sizeof *m);
    int rc;
    char pp[160];
    *out = NULL;
    if (err && errlen)
        *err = 0;
    if (errptr && errptrlen)
        *errptr = 0;
    if (!json_is_object(doc)) {
        rc = fail(&c, HT_EINVAL, "", "a twin must be a JSON object");
        goto out;
    }
    if ((rc = only_keys(&c, doc, "", keys)) ||
        (rc = get_str(&c, doc, "id", "", true, 64, &m->id)))
        goto out;
    if (!ht_id_valid(m->id)) {
        rc = fail(&c, HT_EINVAL, "/id",
                  "\"%.64s\" is not a valid id "
                  "([a-z0-9][a-z0-9._-]{0,63})",
                  m->id);
        goto out;
    }
    if ((rc =
             get_str(&c, doc, "title", "", true, HT_TWIN_MAX_STR, &m->title)) ||
        (rc =
             get_str(&c, doc, "description", "", false, 1024, &m->description)))
        goto out;
    const json_t *ver = json_object_get(doc, "version");
    if (ver) {
        if (!json_is_integer(ver) || json_integer_value(ver) < 0) {
            rc = fail(&c, HT_EINVAL, "/version",
                      "must be a non-negative integer");
            goto out;
        }
        m->version = json_integer_value(ver);
    }
    if ((rc = parse_anchor(&c, json_object_get(doc, "anchor"), m)))
        goto out;

    const json_t *comps = json_object_get(doc, "components");
    if (!json_is_array(comps) || json_array_size(comps) == 0) {
        rc = fail(&c, HT_EINVAL, comps ? "/components" : "",
                  comps ? "must be a non-empty array"
                        : "missing \"components\"");
        goto out;
    }
    if (json_array_size(comps) > HT_TWIN_MAX_COMPONENTS) {
        rc = fail(&c, HT_EINVAL, "/components", "more than %d components",
                  HT_TWIN_MAX_COMPONENTS);
        goto out;
    }
    m->comps = ht_calloc(json_array_size(comps), sizeof *m->comps);
    for (size_t i = 0; i < json_array_size(comps); i++) {
        jp(pp, sizeof pp, "/components/%zu", i);
        m->ncomps = i + 1;
        if ((rc = parse_component(&c, json_array_get(comps, i), pp,
                                  &m->comps[i])))
            goto out;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(m->comps[j].id, m->comps[i].id)) {
                rc = fail(&c, HT_EINVAL, pp, "duplicate component \"%s\"",
                          m->comps[i].id);
                goto out;
            }
    }

    const json_t *tps = json_object_get(doc, "properties");
    if (tps) {
        if (!json_is_array(tps) || json_array_size(tps) > HT_TWIN_MAX_PROPS) {
            rc = fail(&c, HT_EINVAL, "/properties",
                      "must be an array of at most %d properties",
                      HT_TWIN_MAX_PROPS);
            goto out;
        }
        m->tprops = ht_calloc(json_array_size(tps) + 1, sizeof *m->tprops);
        for (size_t i = 0; i < json_array_size(tps); i++) {
            jp(pp, sizeof pp, "/properties/%zu", i);
            m->ntprops = i + 1;
            if ((rc = parse_tprop(&c, m, json_array_get(tps, i), pp,
                                  &m->tprops[i])))
                goto out;
            for (size_t j = 0; j < i; j++)
                if (!strcmp(m->tprops[j].name, m->tprops[i].name)) {
                    rc = fail(&c, HT_EINVAL, pp, "duplicate property \"%s\"",
                              m->tprops[i].name);
                    goto out;
                }
        }
    }

    const json_t *rules = json_object_get(doc, "rules");
    if (rules) {
        if (!json_is_array(rules) ||
            json_array_size(rules) > HT_TWIN_MAX_RULES) {
            rc =
                fail(&c, HT_EINVAL, "/rules",
                     "must be an array of at most %d rules", HT_TWIN_MAX_RULES);
            goto out;
        }
        m->rules = ht_calloc(json_array_size(rules) + 1, sizeof *m->rules);
        for (size_t i = 0; i < json_array_size(rules); i++) {
            jp(pp, sizeof pp, "/rules/%zu", i);
            m->nrules = i + 1;
            if ((rc = parse_rule(&c, m, json_array_get(rules, i), pp,
                                 &m->rules[i])))
                goto out;
            for (size_t j = 0; j < i; j++)
                if (!strcmp(m->rules[j].id, m->rules[i].id)) {
                    rc = fail(&c, HT_EINVAL, pp, "duplicate rule \"%s\"",
                              m->rules[i].id);
                    goto out;
                }
        }
    }
    const json_t *ctl = json_object_get(doc, "control");
    if (ctl) {
        const char *cs = json_string_value(ctl);
        if (!cs || (strcmp(cs, "required") && strcmp(cs, "optional"))) {
            rc =
                fail(&c, HT_EINVAL, "/control", "must be required or optional");
            goto out;
        }
        m->control_required = !strcmp(cs, "required");
    }
    const json_t *perms = json_object_get(doc, "permissives");
    if (perms) {
        if (!json_is_array(perms) ||
            json_array_size(perms) > HT_TWIN_MAX_RULES) {
            rc = fail(&c, HT_EINVAL, "/permissives",
                      "must be an array of at most %d permissives",
                      HT_TWIN_MAX_RULES);
            goto out;
        }
        m->permissives =
            ht_calloc(json_array_size(perms) + 1, sizeof *m->permissives);
        for (size_t i = 0; i < json_array_size(perms); i++) {
            jp(pp, sizeof pp, "/permissives/%zu", i);
            m->npermissives = i + 1;
            if ((rc = parse_permissive(&c, m, json_array_get(perms, i), pp,
                                       &m->permissives[i])))
                goto out;
        }
    }
    const json_t *acts = json_object_get(doc, "actions");
    if (acts) {
        if (!json_is_array(acts) || json_array_size(acts) > HT_TWIN_MAX_RULES) {
            rc = fail(&c, HT_EINVAL, "/actions",
                      "must be an array of at most %d actions",
                      HT_TWIN_MAX_RULES);
            goto out;
        }
        m->actions = ht_calloc(json_array_size(acts) + 1, sizeof *m->actions);
        for (size_t i = 0; i < json_array_size(acts); i++) {
            jp(pp, sizeof pp, "/actions/%zu", i);
            m->nactions = i + 1;
            if ((rc = parse_action(&c, m, json_array_get(acts, i), pp,
                                   &m->actions[i])))
                goto out;
            for (size_t j = 0; j < i; j++)
                if (!strcmp(m->actions[j].name, m->actions[i].name)) {
                    rc = fail(&c, HT_EINVAL, pp, "duplicate action \"%s\"",
                              m->actions[i].name);
                    goto out;
                }
        }
    }
    rc = HT_OK;
out:
    if (rc)
        ht_twin_model_free(m);
    else
        *out = m;
    return rc;
}

const struct ht_twin_component *
ht_twin_model_component(const struct ht_twin_model *m, const char *id)
{
    for (size_t i = 0; m && id && i < m->ncomps; i++)
        if (!strcmp(m->comps[i].id, id))
            return &m->comps[i];
    return NULL;
}

const struct ht_twin_tprop *ht_twin_model_tprop(const struct ht_twin_model *m,
                                                const char *name)
{
    for (size_t i = 0; m && name && i < m->ntprops; i++)
        if (!strcmp(m->tprops[i].name, name))
            return &m->tprops[i];
    return NULL;
}
