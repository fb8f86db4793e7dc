/* config.c - the agent's JSON configuration: the ht_conf table for scalar
 * settings and a hand-written parser for the "capabilities" array, both
 * reporting errors as file:line:col. The built-in demo board is a JSON
 * document parsed by the same code, so it can never drift from what a
 * config file can express.
 */
#include "agent.h"

#include "ht_conf.h"
#include "ht_err.h"
#include "ht_mem.h"
#include "ht_util.h"
#include "hal/gpio.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define OFF(f) offsetof(struct ht_agent_conf, f)

static const struct ht_conf_key table[] = {
    {"id", HT_CONF_STR, OFF(id), NULL, 0, 0, false,
     "device id [a-z0-9][a-z0-9._-]{0,63}"},
    {"title", HT_CONF_STR, OFF(title), NULL, 0, 0, false, "human title"},
    {"description", HT_CONF_STR, OFF(description), NULL, 0, 0, false,
     "TD description"},
    {"mqtt.broker", HT_CONF_STR, OFF(broker), NULL, 0, 0, false,
     "broker HOST:PORT (unset: browse _mqtt._tcp with mDNS)"},
    {"mqtt.username", HT_CONF_STR, OFF(username), NULL, 0, 0, false,
     "broker user name"},
    {"mqtt.password", HT_CONF_STR, OFF(password), NULL, 0, 0, false,
     "broker password"},
    {"mqtt.cafile", HT_CONF_STR, OFF(cafile), NULL, 0, 0, false,
     "TLS CA file (enables TLS)"},
    {"mqtt.ca", HT_CONF_STR, OFF(ca_pem), NULL, 0, 0, false,
     "the broker's CA certificate itself, PEM (enables TLS; what "
     "`gwctl devices add` writes)"},
    {"mqtt.certfile", HT_CONF_STR, OFF(certfile), NULL, 0, 0, false,
     "TLS client certificate"},
    {"mqtt.keyfile", HT_CONF_STR, OFF(keyfile), NULL, 0, 0, false,
     "TLS client key"},
    {"mqtt.prefix", HT_CONF_STR, OFF(prefix), "holotwin/v1", 0, 0, false,
     "topic prefix"},
    {"mqtt.keepalive", HT_CONF_INT, OFF(keepalive), "30", 5, 3600, false,
     "keepalive seconds"},
    {"mqtt.value_qos", HT_CONF_INT, OFF(value_qos), "0", 0, 2, false,
     "QoS of property values"},
    {"gpio.backend", HT_CONF_STR, OFF(backend), "sim", 0, 0, false,
     "GPIO backend: sim or gpiod"},
    {"gpio.chip", HT_CONF_STR, OFF(chip), "gpiochip0", 0, 0, false,
     "gpiod chip name or path"},
    {"gpio.lines", HT_CONF_INT, OFF(lines), "32", 1, 1024, false,
     "sim: number of lines"},
    {"http.port", HT_CONF_INT, OFF(http_port), "0", 0, 65535, false,
     "TD endpoint port (0: off, or any free port when mDNS is on)"},
    {"http.bind", HT_CONF_STR, OFF(http_bind), "0.0.0.0", 0, 0, false,
     "TD endpoint address"},
    {"mdns.enabled", HT_CONF_BOOL, OFF(mdns), "true", 0, 0, false,
     "publish _wot._tcp (and browse _mqtt._tcp without a broker)"},
    {"mdns.name", HT_CONF_STR, OFF(mdns_name), NULL, 0, 0, false,
     "service name (default: the title)"},
    {"ring.size", HT_CONF_INT, OFF(ring_size), "1024", 1, 1000000, false,
     "values kept while the broker is unreachable"},
    {"sim.control", HT_CONF_STR, OFF(control), NULL, 0, 0, false,
     "sim: control socket path"},
    {"log.level", HT_CONF_STR, OFF(log_level), "info", 0, 0, false,
     "error, warning, notice, info or debug"},
    {NULL, 0, 0, NULL, 0, 0, false, NULL},
};

const struct ht_conf_key *ht_agent_conf_table(void)
{
    return table;
}

void ht_agent_conf_init(struct ht_agent_conf *conf)
{
    memset(conf, 0, sizeof *conf);
    ht_conf_defaults(table, conf);
}

static void cap_clear(struct ht_cap_conf *c)
{
    free(c->name);
    free(c->title);
    free(c->sem_type);
    free(c->unit);
    free(c->path);
    free(c->scale_path);
    for (size_t i = 0; c->enum_vals && c->enum_vals[i]; i++)
        free(c->enum_vals[i]);
    free(c->enum_vals);
}

void ht_agent_conf_clear(struct ht_agent_conf *conf)
{
    ht_conf_clear(table, conf);
    for (size_t i = 0; i < conf->ncaps; i++)
        cap_clear(&conf->caps[i]);
    free(conf->caps);
    json_decref(conf->plant);
    free(conf->path);
    memset(conf, 0, sizeof *conf);
}

/* ---- capabilities ---- */

struct pctx {
    const char *path; /* file, or NULL for the built-in board */
    char *err;
    size_t errlen;
};

#define PERR(px, ptr, ...)                                                 \
    (ht_conf_errorf((px)->err, (px)->errlen, (px)->path, (ptr),            \
                    __VA_ARGS__),                                          \
     HT_EINVAL)

static const char *const kinds[] = {"input",  "output", "counter",
                                    "encoder", "analog", "setpoint"};

static const char *const cap_keys[] = {
    "name",     "kind",       "type",      "title",       "unit",
    "dtype",    "writable",   "minimum",   "maximum",     "multipleOf",
    "enum",     "line",       "lines",     "active_low",  "bias",
    "debounce_ms", "initial", "safe",      "window_ms",   "ppr",
    "scale",    "offset",     "divider",   "path",        "scale_path",
    "format",   "period_ms",  "sim",       "decimals",    "publish",
    NULL};

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (!strcmp(*list, s))
            return true;
    return false;
}

/* Fetch an optional number in [lo, hi]; returns HT_OK when absent. */
static int get_num(struct pctx *px, const json_t *o, const char *base,
                   const char *key, double lo, double hi, bool integer,
                   bool *has, double *out)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return HT_OK;
    char ptr[160];
    snprintf(ptr, sizeof ptr, "%s/%s", base, key);
    if (!json_is_number(v))
        return PERR(px, ptr, "%s: expected a number", key);
    double d = json_number_value(v);
    if (integer && d != floor(d))
        return PERR(px, ptr, "%s: expected an integer", key);
    if (d < lo || d > hi)
        return PERR(px, ptr, "%s: %g is out of range [%g, %g]", key, d, lo,
                    hi);
    if (has)
        *has = true;
    *out = d;
    return HT_OK;
}

static int get_bool(struct pctx *px, const json_t *o, const char *base,
                    const char *key, bool *has, bool *out)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return HT_OK;
    char ptr[160];
    snprintf(ptr, sizeof ptr, "%s/%s", base, key);
    if (!json_is_boolean(v))
        return PERR(px, ptr, "%s: expected true or false", key);
    if (has)
        *has = true;
    *out = json_is_true(v);
    return HT_OK;
}

static int get_str(struct pctx *px, const json_t *o, const char *base,
                   const char *key, char **out)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return HT_OK;
    char ptr[160];
    snprintf(ptr, sizeof ptr, "%s/%s", base, key);
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        json_string_length(v) > 512)
        return PERR(px, ptr, "%s: expected a non-empty string", key);
    free(*out);
    *out = ht_strdup(json_string_value(v));
    return HT_OK;
}

static int get_line(struct pctx *px, const json_t *v, const char *ptr,
                    unsigned *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > 1023)
        return PERR(px, ptr, "line: expected a line number 0..1023");
    *out = (unsigned)json_integer_value(v);
    return HT_OK;
}

/* Defaults that depend on the kind and the semantic term. */
static void kind_defaults(struct ht_cap_conf *c, const struct ht_sem_term *t)
{
    c->dtype = t ? t->dtype : HT_SEM_NUMBER;
    c->read_only = c->kind != HT_CAP_OUTPUT && c->kind != HT_CAP_SETPOINT;
    c->safe = -1;
    c->debounce_ms = c->kind == HT_CAP_INPUT ? 20 : 0;
    c->window_ms = 1000;
    c->ppr = 1;
    c->scale = 1;
    c->divider = 4;
    c->period_ms = 1000;
    c->decimals = -1;
    switch (c->kind) {
    case HT_CAP_INPUT:
    case HT_CAP_OUTPUT:
        c->dtype = HT_SEM_BOOLEAN;
        break;
    case HT_CAP_COUNTER:
        c->dtype = HT_SEM_NUMBER;
        c->decimals = 1;
        if (t && t->unit && !strcmp(t->unit, "unit:REV-PER-MIN"))
            c->scale = 60;
        break;
    case HT_CAP_ENCODER:
        c->dtype = HT_SEM_INTEGER;
        break;
    case HT_CAP_ANALOG:
        c->dtype = HT_SEM_NUMBER;
        c->decimals = 2;
        break;
    case HT_CAP_SETPOINT:
        break;
    }
}

static int parse_publish(struct pctx *px, struct ht_cap_conf *c,
                         const json_t *o, const char *base)
{
    char ptr[160];
    snprintf(ptr, sizeof ptr, "%s/publish", base);
    if (!json_is_object(o))
        return PERR(px, ptr, "publish: expected an object");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        if (strcmp(k, "deadband") && strcmp(k, "min_interval_ms") &&
            strcmp(k, "max_interval_ms")) {
            char kp[200];
            snprintf(kp, sizeof kp, "%s/%s", ptr, k);
            return PERR(px, kp, "publish: unknown key '%s'", k);
        }
    }
    double d;
    int rc;
    if ((rc = get_num(px, o, ptr, "deadband", 0, 1e9, false, NULL,
                      &c->deadband)))
        return rc;
    d = c->min_interval_ms;
    if ((rc = get_num(px, o, ptr, "min_interval_ms", 0, 3600000, true, NULL,
                      &d)))
        return rc;
    c->min_interval_ms = (unsigned)d;
    d = c->max_interval_ms;
    if ((rc = get_num(px, o, ptr, "max_interval_ms", 0, 86400000, true, NULL,
                      &d)))
        return rc;
    c->max_interval_ms = (unsigned)d;
    if (c->max_interval_ms && c->max_interval_ms < c->min_interval_ms)
        return PERR(px, ptr, "publish: max_interval_ms is below "
                             "min_interval_ms");
    return HT_OK;
}

static int parse_cap(struct pctx *px, const json_t *o, size_t idx,
                     struct ht_cap_conf *c)
{
    char base[64];
    char ptr[160];
    snprintf(base, sizeof base, "/capabilities/%zu", idx);
    if (!json_is_object(o))
        return PERR(px, base, "capabilities[%zu]: expected an object", idx);
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        if (!in_list(cap_keys, k)) {
            snprintf(ptr, sizeof ptr, "%s/%s", base, k);
            return PERR(px, ptr, "capabilities[%zu]: unknown key '%s'", idx,
                        k);
        }
    }
    const json_t *name = json_object_get(o, "name");
    snprintf(ptr, sizeof ptr, "%s/name", base);
    if (!json_is_string(name) || !ht_sem_name_valid(json_string_value(name)))
        return PERR(px, name ? ptr : base,
                    "capabilities[%zu]: \"name\" must match [a-z0-9_]{1,32}",
                    idx);
    c->name = ht_strdup(json_string_value(name));
    const json_t *kind = json_object_get(o, "kind");
    snprintf(ptr, sizeof ptr, "%s/kind", base);
    int ki = -1;
    for (int i = 0; json_is_string(kind) && i < 6; i++)
        if (!strcmp(json_string_value(kind), kinds[i]))
            ki = i;
    if (ki < 0)
        return PERR(px, kind ? ptr : base,
                    "%s: \"kind\" must be input, output, counter, encoder, "
                    "analog or setpoint",
                    c->name);
    c->kind = (enum ht_cap_kind)ki;
    const json_t *type = json_object_get(o, "type");
    snprintf(ptr, sizeof ptr, "%s/type", base);
    const struct ht_sem_term *term =
        json_is_string(type) ? ht_sem_term_find(json_string_value(type)) : NULL;
    if (!term)
        return PERR(px, type ? ptr : base,
                    "%s: \"type\" must be a vocabulary term such as "
                    "\"ht:Button\" (see docs/vocabulary.md)",
                    c->name);
    c->sem_type = ht_strdup(term->name);
    kind_defaults(c, term);
    if (term->unit)
        c->unit = ht_strdup(term->unit);

    int rc;
    if ((rc = get_str(px, o, base, "title", &c->title)) ||
        (rc = get_str(px, o, base, "unit", &c->unit)))
        return rc;
    const json_t *dt = json_object_get(o, "dtype");
    if (dt) {
        snprintf(ptr, sizeof ptr, "%s/dtype", base);
        if (!json_is_string(dt) ||
            ht_sem_dtype_parse(json_string_value(dt), &c->dtype) != HT_OK)
            return PERR(px, ptr, "%s: \"dtype\" must be boolean, integer, "
                                 "number or string", c->name);
    }
    bool numeric = c->dtype == HT_SEM_NUMBER || c->dtype == HT_SEM_INTEGER;
    if ((c->kind == HT_CAP_INPUT || c->kind == HT_CAP_OUTPUT) &&
        c->dtype != HT_SEM_BOOLEAN)
        return PERR(px, dt ? ptr : base, "%s: digital lines are boolean",
                    c->name);
    if ((c->kind == HT_CAP_COUNTER || c->kind == HT_CAP_ANALOG ||
         c->kind == HT_CAP_ENCODER || c->kind == HT_CAP_SETPOINT) &&
        !numeric)
        return PERR(px, dt ? ptr : base, "%s: a %s is numeric", c->name,
                    kinds[c->kind]);
    bool writable = !c->read_only;
    if ((rc = get_bool(px, o, base, "writable", NULL, &writable)))
        return rc;
    if (writable && c->read_only) {
        snprintf(ptr, sizeof ptr, "%s/writable", base);
        return PERR(px, ptr, "%s: a %s cannot be writable", c->name,
                    kinds[c->kind]);
    }
    c->read_only = !writable;
    if ((rc = get_num(px, o, base, "minimum", -1e15, 1e15, false, &c->has_min,
                      &c->min)) ||
        (rc = get_num(px, o, base, "maximum", -1e15, 1e15, false, &c->has_max,
                      &c->max)) ||
        (rc = get_num(px, o, base, "multipleOf", 1e-9, 1e15, false,
                      &c->has_step, &c->step)))
        return rc;
    if (c->has_min && c->has_max && c->min > c->max) {
        snprintf(ptr, sizeof ptr, "%s/minimum", base);
        return PERR(px, ptr, "%s: minimum is above maximum", c->name);
    }
    if (json_object_get(o, "enum")) {
        snprintf(ptr, sizeof ptr, "%s/enum", base);
        return PERR(px, ptr, "%s: \"enum\" is only for string values, which "
                             "no capability kind produces yet", c->name);
    }

    /* Lines. */
    bool needs_line = c->kind == HT_CAP_INPUT || c->kind == HT_CAP_OUTPUT ||
                      c->kind == HT_CAP_COUNTER;
    const json_t *line = json_object_get(o, "line");
    snprintf(ptr, sizeof ptr, "%s/line", base);
    if (needs_line) {
        if (!line)
            return PERR(px, base, "%s: a %s needs \"line\"", c->name,
                        kinds[c->kind]);
        if ((rc = get_line(px, line, ptr, &c->line)))
            return rc;
    } else if (line) {
        return PERR(px, ptr, "%s: a %s has no \"line\"", c->name,
                    kinds[c->kind]);
    }
    const json_t *lines = json_object_get(o, "lines");
    snprintf(ptr, sizeof ptr, "%s/lines", base);
    if (c->kind == HT_CAP_ENCODER) {
        if (!json_is_array(lines) || json_array_size(lines) != 2)
            return PERR(px, lines ? ptr : base,
                        "%s: an encoder needs \"lines\": [A, B]", c->name);
        char p2[180];
        snprintf(p2, sizeof p2, "%s/0", ptr);
        if ((rc = get_line(px, json_array_get(lines, 0), p2, &c->line)))
            return rc;
        snprintf(p2, sizeof p2, "%s/1", ptr);
        if ((rc = get_line(px, json_array_get(lines, 1), p2, &c->line_b)))
            return rc;
        if (c->line == c->line_b)
            return PERR(px, ptr, "%s: A and B must be different lines",
                        c->name);
    } else if (lines) {
        return PERR(px, ptr, "%s: only an encoder has \"lines\"", c->name);
    }
    bool b = false;
    if ((rc = get_bool(px, o, base, "active_low", NULL, &b)))
        return rc;
    if (b)
        c->flags |= HT_GPIO_ACTIVE_LOW;
    const json_t *bias = json_object_get(o, "bias");
    if (bias) {
        snprintf(ptr, sizeof ptr, "%s/bias", base);
        const char *s = json_is_string(bias) ? json_string_value(bias) : "";
        if (!strcmp(s, "pull-up"))
            c->flags |= HT_GPIO_BIAS_PULL_UP;
        else if (!strcmp(s, "pull-down"))
            c->flags |= HT_GPIO_BIAS_PULL_DOWN;
        else if (!strcmp(s, "disable"))
            c->flags |= HT_GPIO_BIAS_DISABLE;
        else if (strcmp(s, "as-is"))
            return PERR(px, ptr, "%s: \"bias\" must be pull-up, pull-down, "
                                 "disable or as-is", c->name);
    }
    double d = c->debounce_ms;
    if ((rc = get_num(px, o, base, "debounce_ms", 0, 10000, true, NULL, &d)))
        return rc;
    c->debounce_ms = (unsigned)d;

    /* Initial and safe values. */
    const json_t *init = json_object_get(o, "initial");
    snprintf(ptr, sizeof ptr, "%s/initial", base);
    if (init && c->kind == HT_CAP_OUTPUT) {
        if (!json_is_boolean(init))
            return PERR(px, ptr, "%s: \"initial\" must be true or false",
                        c->name);
        c->initial = json_is_true(init);
    } else if (init && c->kind == HT_CAP_SETPOINT) {
        if (!json_is_number(init))
            return PERR(px, ptr, "%s: \"initial\" must be a number", c->name);
        c->initial_value = json_number_value(init);
    } else if (init) {
        return PERR(px, ptr, "%s: only outputs and setpoints have \"initial\"",
                    c->name);
    }
    if (c->kind == HT_CAP_SETPOINT) {
        struct ht_sem_prop p = {.name = c->name, .dtype = c->dtype,
                                .has_min = c->has_min, .has_max = c->has_max,
                                .has_step = c->has_step, .min = c->min,
                                .max = c->max, .step = c->step};
        json_t *iv = json_real(c->initial_value);
        char msg[160];
        enum ht_sem_check chk = ht_sem_value_check(&p, iv, msg, sizeof msg);
        json_decref(iv);
        if (chk != HT_SEM_OK)
            return PERR(px, init ? ptr : base, "%s: initial value: %s",
                        c->name, msg);
    }
    const json_t *safe = json_object_get(o, "safe");
    snprintf(ptr, sizeof ptr, "%s/safe", base);
    if (safe && c->kind != HT_CAP_OUTPUT)
        return PERR(px, ptr, "%s: only outputs have \"safe\"", c->name);
    if (safe && !json_is_boolean(safe) && !json_is_null(safe))
        return PERR(px, ptr, "%s: \"safe\" must be true, false or null",
                    c->name);
    if (json_is_boolean(safe))
        c->safe = json_is_true(safe);

    /* Counters, encoders and analog sources. */
    d = c->window_ms;
    if ((rc = get_num(px, o, base, "window_ms", 50, 600000, true, NULL, &d)))
        return rc;
    c->window_ms = (unsigned)d;
    if ((rc = get_num(px, o, base, "ppr", 1e-6, 1e6, false, NULL, &c->ppr)) ||
        (rc = get_num(px, o, base, "scale", -1e12, 1e12, false, NULL,
                      &c->scale)) ||
        (rc = get_num(px, o, base, "offset", -1e12, 1e12, false, NULL,
                      &c->offset)))
        return rc;
    d = c->divider;
    if ((rc = get_num(px, o, base, "divider", 1, 64, true, NULL, &d)))
        return rc;
    c->divider = (int)d;
    d = c->period_ms;
    if ((rc = get_num(px, o, base, "period_ms", 100, 86400000, true, NULL,
                      &d)))
        return rc;
    c->period_ms = (unsigned)d;
    d = c->decimals;
    if ((rc = get_num(px, o, base, "decimals", -1, 9, true, NULL, &d)))
        return rc;
    c->decimals = (int)d;
    if ((rc = get_str(px, o, base, "path", &c->path)) ||
        (rc = get_str(px, o, base, "scale_path", &c->scale_path)) ||
        (rc = get_bool(px, o, base, "sim", NULL, &c->sim)))
        return rc;
    const json_t *fmt = json_object_get(o, "format");
    if (fmt) {
        snprintf(ptr, sizeof ptr, "%s/format", base);
        static const char *const fmts[] = {"w1_slave", "milli", "raw", "iio"};
        int fi = -1;
        for (int i = 0; json_is_string(fmt) && i < 4; i++)
            if (!strcmp(json_string_value(fmt), fmts[i]))
                fi = i;
        if (fi < 0)
            return PERR(px, ptr, "%s: \"format\" must be w1_slave, milli, raw "
                                 "or iio", c->name);
        c->format = (enum ht_analog_fmt)fi;
    } else if (c->path && strstr(c->path, "w1_slave")) {
        c->format = HT_ANALOG_W1_SLAVE;
    } else if (c->path && strstr(c->path, "_raw")) {
        c->format = HT_ANALOG_IIO;
    } else {
        c->format = HT_ANALOG_MILLI;
    }
    if (c->kind == HT_CAP_ANALOG && !c->path && !c->sim)
        return PERR(px, base, "%s: an analog capability needs \"path\" (or "
                              "\"sim\": true)", c->name);
    const json_t *pub = json_object_get(o, "publish");
    if (pub && (rc = parse_publish(px, c, pub, base)))
        return rc;
    return HT_OK;
}

/* Parse the whole document's capability list and cross-check it. */
static int parse_caps(struct ht_agent_conf *conf, const json_t *doc,
                      struct pctx *px)
{
    const json_t *arr = json_object_get(doc, "capabilities");
    if (!arr)
        return HT_OK;
    if (!json_is_array(arr))
        return PERR(px, "/capabilities", "capabilities: expected an array");
    if (json_array_size(arr) > HT_SEM_MAX_PROPS)
        return PERR(px, "/capabilities", "capabilities: at most %d",
                    HT_SEM_MAX_PROPS);
    conf->caps = ht_calloc(json_array_size(arr) + 1, sizeof *conf->caps);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        struct ht_cap_conf *c = &conf->caps[i];
        conf->ncaps = i + 1;
        int rc = parse_cap(px, json_array_get(arr, i), i, c);
        if (rc != HT_OK)
            return rc;
        char ptr[64];
        snprintf(ptr, sizeof ptr, "/capabilities/%zu/name", i);
        for (size_t j = 0; j < i; j++) {
            const struct ht_cap_conf *o = &conf->caps[j];
            if (!strcmp(o->name, c->name))
                return PERR(px, ptr, "duplicate capability name '%s'",
                            c->name);
        }
        bool uses = c->kind != HT_CAP_ANALOG && c->kind != HT_CAP_SETPOINT;
        for (size_t j = 0; uses && j < i; j++) {
            const struct ht_cap_conf *o = &conf->caps[j];
            if (o->kind == HT_CAP_ANALOG || o->kind == HT_CAP_SETPOINT)
                continue;
            bool clash = o->line == c->line ||
                         (o->kind == HT_CAP_ENCODER && o->line_b == c->line) ||
                         (c->kind == HT_CAP_ENCODER &&
                          (c->line_b == o->line ||
                           (o->kind == HT_CAP_ENCODER &&
                            o->line_b == c->line_b)));
            if (clash) {
                snprintf(ptr, sizeof ptr, "/capabilities/%zu/%s", i,
                         c->kind == HT_CAP_ENCODER ? "lines" : "line");
                return PERR(px, ptr, "%s: line already used by '%s'", c->name,
                            o->name);
            }
        }
    }
    return HT_OK;
}

static const char *const sections[] = {"capabilities", "plant", NULL};

static int load_doc(struct ht_agent_conf *conf, json_t *doc, struct pctx *px)
{
    int rc = parse_caps(conf, doc, px);
    if (rc != HT_OK)
        return rc;
    const json_t *plant = json_object_get(doc, "plant");
    if (plant && !json_is_object(plant))
        return PERR(px, "/plant", "plant: expected an object");
    if (plant)
        conf->plant = json_incref((json_t *)plant);
    return HT_OK;
}

int ht_agent_conf_load(struct ht_agent_conf *conf, const char *path,
                       char *err, size_t errlen)
{
    json_t *doc = NULL;
    int rc = ht_conf_load(table, conf, path, sections, &doc, err, errlen);
    if (rc != HT_OK)
        return rc;
    struct pctx px = {path, err, errlen};
    free(conf->path);
    conf->path = ht_strdup(path);
    rc = load_doc(conf, doc, &px);
    json_decref(doc);
    return rc;
}

/* The built-in demo board (DESIGN.md contract): a button, a lamp, a motor
 * with its setpoint and measured speed, a temperature. */
static const char demo_board[] =
    "{\"title\":\"Holotwin demo board\","
    " \"description\":\"Built-in simulated board: button, lamp, motor, "
    "temperature\","
    " \"capabilities\":["
    "  {\"name\":\"button\",\"kind\":\"input\",\"type\":\"ht:Button\","
    "   \"line\":0,\"bias\":\"pull-up\",\"active_low\":true,"
    "   \"debounce_ms\":20},"
    "  {\"name\":\"lamp\",\"kind\":\"output\",\"type\":\"ht:Lamp\","
    "   \"line\":1,\"initial\":false,\"safe\":false},"
    "  {\"name\":\"motor_enable\",\"kind\":\"output\","
    "   \"type\":\"ht:MotorEnable\",\"line\":2,\"initial\":true,"
    "   \"safe\":false},"
    "  {\"name\":\"motor_setpoint\",\"kind\":\"setpoint\","
    "   \"type\":\"ht:SpeedSetpoint\",\"minimum\":0,\"maximum\":200,"
    "   \"multipleOf\":1,\"initial\":60},"
    "  {\"name\":\"motor_speed\",\"kind\":\"counter\","
    "   \"type\":\"ht:RotationSpeed\",\"line\":3,\"ppr\":20,"
    "   \"window_ms\":500,\"minimum\":0,\"maximum\":250,"
    "   \"publish\":{\"deadband\":0.5}},"
    "  {\"name\":\"temperature\",\"kind\":\"analog\","
    "   \"type\":\"ht:Temperature\",\"sim\":true,\"period_ms\":1000,"
    "   \"decimals\":1,\"publish\":{\"deadband\":0.1}},"
    "  {\"name\":\"heater\",\"kind\":\"output\",\"type\":\"ht:Heater\","
    "   \"line\":4,\"initial\":false,\"safe\":false},"
    "  {\"name\":\"fan\",\"kind\":\"output\",\"type\":\"ht:Fan\","
    "   \"line\":5,\"initial\":false,\"safe\":false}"
    " ],"
    " \"plant\":{"
    "  \"motors\":[{\"enable\":\"motor_enable\",\"setpoint\":"
    "\"motor_setpoint\",\"tach\":\"motor_speed\",\"tau_ms\":1000}],"
    "  \"thermal\":[{\"heater\":\"heater\",\"fan\":\"fan\","
    "\"sensor\":\"temperature\",\"start\":25,\"ambient\":25,\"max\":95}]"
    " }}";

int ht_agent_conf_demo(struct ht_agent_conf *conf, char *err, size_t errlen)
{
    json_error_t je;
    json_t *doc = json_loads(demo_board, 0, &je);
    if (!doc) {
        snprintf(err, errlen, "built-in board: %s", je.text);
        return HT_EPARSE;
    }
    struct pctx px = {NULL, err, errlen};
    free(conf->title);
    conf->title = ht_strdup(json_string_value(json_object_get(doc, "title")));
    free(conf->description);
    conf->description =
        ht_strdup(json_string_value(json_object_get(doc, "description")));
    free(conf->path);
    conf->path = ht_strdup("(built-in)");
    int rc = load_doc(conf, doc, &px);
    json_decref(doc);
    return rc;
}

int ht_agent_conf_check(const struct ht_agent_conf *conf, char *err,
                        size_t errlen)
{
    if (!conf->id) {
        snprintf(err, errlen, "no device id: use --id ID or \"id\" in the "
                              "config");
        return HT_EINVAL;
    }
    if (!ht_id_valid(conf->id)) {
        snprintf(err, errlen, "invalid device id '%.70s': expected "
                              "[a-z0-9][a-z0-9._-]{0,63}", conf->id);
        return HT_EINVAL;
    }
    if (strcmp(conf->backend, "sim") && strcmp(conf->backend, "gpiod")) {
        snprintf(err, errlen, "gpio.backend must be sim or gpiod, not '%.40s'",
                 conf->backend);
        return HT_EINVAL;
    }
    if (!conf->prefix || strpbrk(conf->prefix, "+#") ||
        conf->prefix[strlen(conf->prefix) - 1] == '/') {
        snprintf(err, errlen, "mqtt.prefix must be a topic without wildcards "
                              "or a trailing '/'");
        return HT_EINVAL;
    }
    if (conf->broker) {
        char host[256];
        int port;
        if (ht_parse_hostport(conf->broker, host, sizeof host, &port) !=
            HT_OK) {
            snprintf(err, errlen, "invalid broker '%.80s': expected HOST:PORT",
                     conf->broker);
            return HT_EINVAL;
        }
    }
    if (conf->ncaps == 0) {
        snprintf(err, errlen, "%s: no capabilities configured",
                 conf->path ? conf->path : "config");
        return HT_EINVAL;
    }
    return HT_OK;
}

struct ht_sem_thing *ht_agent_conf_thing(const struct ht_agent_conf *conf)
{
    struct ht_sem_thing *t = ht_calloc(1, sizeof *t);
    t->id = ht_strdup(conf->id ? conf->id : "unnamed");
    t->title = ht_strdup(conf->title ? conf->title : t->id);
    if (conf->description)
        t->description = ht_strdup(conf->description);
    t->props = ht_calloc(conf->ncaps + 1, sizeof *t->props);
    t->nprops = conf->ncaps;
    for (size_t i = 0; i < conf->ncaps; i++) {
        const struct ht_cap_conf *c = &conf->caps[i];
        struct ht_sem_prop *p = &t->props[i];
        p->name = ht_strdup(c->name);
        p->title = c->title ? ht_strdup(c->title) : NULL;
        p->sem_type = ht_strdup(c->sem_type);
        p->unit = c->unit ? ht_strdup(c->unit) : NULL;
        p->dtype = c->dtype;
        p->has_min = c->has_min;
        p->has_max = c->has_max;
        p->has_step = c->has_step;
        p->min = c->min;
        p->max = c->max;
        p->step = c->step;
        p->read_only = c->read_only;
        p->observable = true;
    }
    return t;
}
