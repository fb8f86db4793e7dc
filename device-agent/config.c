/* config.c - the agent's JSON configuration: the ht_conf table for scalar
 * settings and a hand-written parser for the "capabilities" array, both
 * reporting errors as file:line:col. The built-in demo board is a JSON
 * document parsed by the same code, so it can never drift from what a
 * config file can express.
 */
#include "caps_internal.h"

#include "hal/gpio.h"
#include "ht_conf.h"
#include "ht_err.h"
#include "ht_mem.h"
#include "ht_topic.h"
#include "ht_util.h"

#include <math.h>
#include <stdarg.h>
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
    {"mqtt.reconnect_max_ms", HT_CONF_INT, OFF(reconnect_max_ms), "2000", 250,
     60000, false,
     "longest wait between reconnect attempts (jittered, doubling from "
     "250 ms)"},
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

#define PERR conf__err
#define OFFC(f) offsetof(struct ht_cap_conf, f)

int conf__err(struct conf_ctx *px, const char *ptr, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ht_conf_errorf(px->err, px->errlen, px->path, ptr, "%s", msg);
    return HT_EINVAL;
}

static const char *const cap_keys[] = {
    "name",        "kind",      "type",    "title",      "unit",
    "dtype",       "writable",  "minimum", "maximum",    "multipleOf",
    "enum",        "line",      "lines",   "active_low", "bias",
    "debounce_ms", "initial",   "safe",    "window_ms",  "ppr",
    "scale",       "offset",    "divider", "path",       "scale_path",
    "format",      "period_ms", "sim",     "decimals",   "publish",
    NULL};

/* Numeric keys every kind may carry (each kind uses its own): one row
 * each, so a new setting is one line. */
static const struct num_key {
    const char *key;
    double lo, hi;
    bool integer;
    size_t off;
    char type; /* 'u' unsigned, 'i' int, 'd' double */
} num_keys[] = {
    {"debounce_ms", 0, 10000, true, OFFC(debounce_ms), 'u'},
    {"window_ms", 50, 600000, true, OFFC(window_ms), 'u'},
    {"ppr", 1e-6, 1e6, false, OFFC(ppr), 'd'},
    {"scale", -1e12, 1e12, false, OFFC(scale), 'd'},
    {"offset", -1e12, 1e12, false, OFFC(offset), 'd'},
    {"divider", 1, 64, true, OFFC(divider), 'i'},
    {"period_ms", 100, 86400000, true, OFFC(period_ms), 'u'},
    {"decimals", -1, 9, true, OFFC(decimals), 'i'},
};

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (!strcmp(*list, s))
            return true;
    return false;
}

int conf__num(struct conf_ctx *px, const json_t *o, const char *base,
              const char *key, double lo, double hi, bool integer, bool *has,
              double *out)
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
        return PERR(px, ptr, "%s: %g is out of range [%g, %g]", key, d, lo, hi);
    if (has)
        *has = true;
    *out = d;
    return HT_OK;
}

int conf__bool(struct conf_ctx *px, const json_t *o, const char *base,
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

static int get_str(struct conf_ctx *px, const json_t *o, const char *base,
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

int conf__line(struct conf_ctx *px, const json_t *v, const char *ptr,
               unsigned *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > 1023)
        return PERR(px, ptr, "line: expected a line number 0..1023");
    *out = (unsigned)json_integer_value(v);
    return HT_OK;
}

/* Defaults every kind starts from; the kind then adjusts them. */
static void cap_defaults(struct ht_cap_conf *c, const struct cap_kind *k,
                         const struct ht_sem_term *t)
{
    c->dtype = k->dtype >= 0 ? (enum ht_sem_dtype)k->dtype
                             : (t ? t->dtype : HT_SEM_NUMBER);
    c->read_only = !k->writable;
    c->safe = -1;
    c->window_ms = 1000;
    c->ppr = 1;
    c->scale = 1;
    c->divider = 4;
    c->period_ms = 1000;
    c->decimals = -1;
    if (k->defaults)
        k->defaults(c, t);
}

static int parse_publish(struct conf_ctx *px, struct ht_cap_conf *c,
                         const json_t *o, const char *base)
{
    char ptr[160];
    snprintf(ptr, sizeof ptr, "%s/publish", base);
    if (!json_is_object(o))
        return PERR(px, ptr, "publish: expected an object");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        if (strcmp(k, "deadband") && strcmp(k, "min_interval_ms") &&
            strcmp(k, "max_interval_ms")) {
            char kp[200];
            snprintf(kp, sizeof kp, "%s/%s", ptr, k);
            return PERR(px, kp, "publish: unknown key '%s'", k);
        }
    }
    double d;
    int rc;
    if ((rc = conf__num(px, o, ptr, "deadband", 0, 1e9, false, NULL,
                        &c->deadband)))
        return rc;
    d = c->min_interval_ms;
    if ((rc = conf__num(px, o, ptr, "min_interval_ms", 0, 3600000, true, NULL,
                        &d)))
        return rc;
    c->min_interval_ms = (unsigned)d;
    d = c->max_interval_ms;
    if ((rc = conf__num(px, o, ptr, "max_interval_ms", 0, 86400000, true, NULL,
                        &d)))
        return rc;
    c->max_interval_ms = (unsigned)d;
    if (c->max_interval_ms && c->max_interval_ms < c->min_interval_ms)
        return PERR(px, ptr,
                    "publish: max_interval_ms is below "
                    "min_interval_ms");
    return HT_OK;
}

/* name, kind and type, which everything else depends on. */
static int parse_identity(struct conf_ctx *px, const json_t *o,
                          const char *base, size_t idx, struct ht_cap_conf *c)
{
    char ptr[160];
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        if (!in_list(cap_keys, k)) {
            snprintf(ptr, sizeof ptr, "%s/%s", base, k);
            return PERR(px, ptr, "capabilities[%zu]: unknown key '%s'", idx, k);
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
    const struct cap_kind *kd =
        caps__kind_find(json_string_value(kind), &c->kind);
    if (!kd)
        return PERR(px, kind ? ptr : base,
                    "%s: \"kind\" must be input, output, counter, encoder, "
                    "analog or setpoint",
                    c->name);
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
    cap_defaults(c, kd, term);
    if (term->unit)
        c->unit = ht_strdup(term->unit);
    return HT_OK;
}

/* The data schema: dtype, writability, bounds. */
static int parse_schema(struct conf_ctx *px, const json_t *o, const char *base,
                        struct ht_cap_conf *c)
{
    const struct cap_kind *kd = caps__kind(c->kind);
    char ptr[160] = "";
    int rc;
    if ((rc = get_str(px, o, base, "title", &c->title)) ||
        (rc = get_str(px, o, base, "unit", &c->unit)))
        return rc;
    const json_t *dt = json_object_get(o, "dtype");
    if (dt) {
        snprintf(ptr, sizeof ptr, "%s/dtype", base);
        if (!json_is_string(dt) ||
            ht_sem_dtype_parse(json_string_value(dt), &c->dtype) != HT_OK)
            return PERR(px, ptr,
                        "%s: \"dtype\" must be boolean, integer, "
                        "number or string",
                        c->name);
    }
    bool numeric = c->dtype == HT_SEM_NUMBER || c->dtype == HT_SEM_INTEGER;
    if (!kd->numeric && c->dtype != HT_SEM_BOOLEAN)
        return PERR(px, dt ? ptr : base, "%s: digital lines are boolean",
                    c->name);
    if (kd->numeric && !numeric)
        return PERR(px, dt ? ptr : base, "%s: a %s is numeric", c->name,
                    kd->name);
    bool writable = !c->read_only;
    if ((rc = conf__bool(px, o, base, "writable", NULL, &writable)))
        return rc;
    if (writable && !kd->writable) {
        snprintf(ptr, sizeof ptr, "%s/writable", base);
        return PERR(px, ptr, "%s: a %s cannot be writable", c->name, kd->name);
    }
    c->read_only = !writable;
    if ((rc = conf__num(px, o, base, "minimum", -1e15, 1e15, false, &c->has_min,
                        &c->min)) ||
        (rc = conf__num(px, o, base, "maximum", -1e15, 1e15, false, &c->has_max,
                        &c->max)) ||
        (rc = conf__num(px, o, base, "multipleOf", 1e-9, 1e15, false,
                        &c->has_step, &c->step)))
        return rc;
    if (c->has_min && c->has_max && c->min > c->max) {
        snprintf(ptr, sizeof ptr, "%s/minimum", base);
        return PERR(px, ptr, "%s: minimum is above maximum", c->name);
    }
    if (json_object_get(o, "enum")) {
        snprintf(ptr, sizeof ptr, "%s/enum", base);
        return PERR(px, ptr,
                    "%s: \"enum\" is only for string values, which "
                    "no capability kind produces yet",
                    c->name);
    }
    return HT_OK;
}

/* "line" or "lines", as many as the kind has, plus their flags. */
static int parse_lines(struct conf_ctx *px, const json_t *o, const char *base,
                       struct ht_cap_conf *c)
{
    const struct cap_kind *kd = caps__kind(c->kind);
    char ptr[160];
    int rc;
    const json_t *line = json_object_get(o, "line");
    snprintf(ptr, sizeof ptr, "%s/line", base);
    if (kd->nlines == 1) {
        if (!line)
            return PERR(px, base, "%s: a %s needs \"line\"", c->name, kd->name);
        if ((rc = conf__line(px, line, ptr, &c->line)))
            return rc;
    } else if (line) {
        return PERR(px, ptr, "%s: a %s has no \"line\"", c->name, kd->name);
    }
    const json_t *lines = json_object_get(o, "lines");
    snprintf(ptr, sizeof ptr, "%s/lines", base);
    if (kd->nlines == 2) {
        if (!json_is_array(lines) || json_array_size(lines) != 2)
            return PERR(px, lines ? ptr : base,
                        "%s: an encoder needs \"lines\": [A, B]", c->name);
        char p2[180];
        snprintf(p2, sizeof p2, "%s/0", ptr);
        if ((rc = conf__line(px, json_array_get(lines, 0), p2, &c->line)))
            return rc;
        snprintf(p2, sizeof p2, "%s/1", ptr);
        if ((rc = conf__line(px, json_array_get(lines, 1), p2, &c->line_b)))
            return rc;
        if (c->line == c->line_b)
            return PERR(px, ptr, "%s: A and B must be different lines",
                        c->name);
    } else if (lines) {
        return PERR(px, ptr, "%s: only an encoder has \"lines\"", c->name);
    }
    bool b = false;
    if ((rc = conf__bool(px, o, base, "active_low", NULL, &b)))
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
            return PERR(px, ptr,
                        "%s: \"bias\" must be pull-up, pull-down, "
                        "disable or as-is",
                        c->name);
    }
    return HT_OK;
}

/* The numeric settings of num_keys[], the sources and the kind-only keys
 * ("initial", "safe") of kinds that do not have them. */
static int parse_settings(struct conf_ctx *px, const json_t *o,
                          const char *base, struct ht_cap_conf *c)
{
    const struct cap_kind *kd = caps__kind(c->kind);
    char ptr[160];
    int rc;
    for (size_t i = 0; i < sizeof num_keys / sizeof *num_keys; i++) {
        const struct num_key *nk = &num_keys[i];
        char *f = (char *)c + nk->off;
        double d = nk->type == 'u'   ? *(unsigned *)(void *)f
                   : nk->type == 'i' ? *(int *)(void *)f
                                     : *(double *)(void *)f;
        if ((rc = conf__num(px, o, base, nk->key, nk->lo, nk->hi, nk->integer,
                            NULL, &d)))
            return rc;
        if (nk->type == 'u')
            *(unsigned *)(void *)f = (unsigned)d;
        else if (nk->type == 'i')
            *(int *)(void *)f = (int)d;
        else
            *(double *)(void *)f = d;
    }
    if ((rc = get_str(px, o, base, "path", &c->path)) ||
        (rc = get_str(px, o, base, "scale_path", &c->scale_path)) ||
        (rc = conf__bool(px, o, base, "sim", NULL, &c->sim)))
        return rc;
    if (json_object_get(o, "initial") && !(kd->keys & HT_CAP_KEY_INITIAL)) {
        snprintf(ptr, sizeof ptr, "%s/initial", base);
        return PERR(px, ptr,
                    "%s: only outputs and setpoints have "
                    "\"initial\"",
                    c->name);
    }
    if (json_object_get(o, "safe") && !(kd->keys & HT_CAP_KEY_SAFE)) {
        snprintf(ptr, sizeof ptr, "%s/safe", base);
        return PERR(px, ptr, "%s: only outputs have \"safe\"", c->name);
    }
    return HT_OK;
}

/* One capability: what all kinds share here, the rest in the kind. */
static int parse_cap(struct conf_ctx *px, const json_t *o, size_t idx,
                     struct ht_cap_conf *c)
{
    char base[64];
    snprintf(base, sizeof base, "/capabilities/%zu", idx);
    if (!json_is_object(o))
        return PERR(px, base, "capabilities[%zu]: expected an object", idx);
    const struct cap_kind *kd;
    const json_t *pub = json_object_get(o, "publish");
    int rc;
    if ((rc = parse_identity(px, o, base, idx, c)) ||
        (rc = parse_schema(px, o, base, c)) ||
        (rc = parse_lines(px, o, base, c)) ||
        (rc = parse_settings(px, o, base, c)))
        return rc;
    kd = caps__kind(c->kind);
    if (kd->parse && (rc = kd->parse(px, o, base, c)))
        return rc;
    if (pub && (rc = parse_publish(px, c, pub, base)))
        return rc;
    return HT_OK;
}

/* Two capabilities on one GPIO line would fight over it. */
static int check_lines(struct conf_ctx *px, const struct ht_agent_conf *conf,
                       size_t i)
{
    const struct ht_cap_conf *c = &conf->caps[i];
    unsigned nc = caps__kind(c->kind)->nlines;
    for (size_t j = 0; nc && j < i; j++) {
        const struct ht_cap_conf *o = &conf->caps[j];
        unsigned no = caps__kind(o->kind)->nlines;
        if (!no)
            continue;
        bool clash = o->line == c->line || (no == 2 && o->line_b == c->line) ||
                     (nc == 2 && (c->line_b == o->line ||
                                  (no == 2 && o->line_b == c->line_b)));
        if (clash) {
            char ptr[64];
            snprintf(ptr, sizeof ptr, "/capabilities/%zu/%s", i,
                     nc == 2 ? "lines" : "line");
            return PERR(px, ptr, "%s: line already used by '%s'", c->name,
                        o->name);
        }
    }
    return HT_OK;
}

/* Parse the whole document's capability list and cross-check it. */
static int parse_caps(struct ht_agent_conf *conf, const json_t *doc,
                      struct conf_ctx *px)
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
                return PERR(px, ptr, "duplicate capability name '%s'", c->name);
        }
        if ((rc = check_lines(px, conf, i)))
            return rc;
    }
    return HT_OK;
}

static const char *const sections[] = {"capabilities", "plant", NULL};

static int load_doc(struct ht_agent_conf *conf, json_t *doc,
                    struct conf_ctx *px)
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

int ht_agent_conf_load(struct ht_agent_conf *conf, const char *path, char *err,
                       size_t errlen)
{
    json_t *doc = NULL;
    int rc = ht_conf_load(table, conf, path, sections, &doc, err, errlen);
    if (rc != HT_OK)
        return rc;
    struct conf_ctx px = {path, err, errlen};
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
    struct conf_ctx px = {NULL, err, errlen};
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
        snprintf(err, errlen,
                 "no device id: use --id ID or \"id\" in the "
                 "config");
        return HT_EINVAL;
    }
    if (!ht_id_valid(conf->id)) {
        snprintf(err, errlen,
                 "invalid device id '%.70s': expected "
                 "[a-z0-9][a-z0-9._-]{0,63}",
                 conf->id);
        return HT_EINVAL;
    }
    if (strcmp(conf->backend, "sim") && strcmp(conf->backend, "gpiod")) {
        snprintf(err, errlen, "gpio.backend must be sim or gpiod, not '%.40s'",
                 conf->backend);
        return HT_EINVAL;
    }
    if (!ht_topic_prefix_valid(conf->prefix)) {
        snprintf(err, errlen,
                 "mqtt.prefix must be a topic without wildcards "
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
        /* The heartbeat the TD promises (a republish even when nothing
         * changed): the gateway marks the value stale when it is late. */
        p->max_interval_ms = c->max_interval_ms;
    }
    return t;
}
