/* util.c - gwctl's pure helpers: value and argument parsing, time parsing,
 * answer shapes, agent config generation, twin state flattening and model
 * binding. No I/O here so tests/unit/test_gwctl.c can exercise them. */
#include "gwctl.h"

#include "ht_mem.h"
#include "ht_util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Technicians type `gwctl set m1 lamp true` and `... label hello`: JSON when
 * it parses, a string otherwise, so quoting is only needed for strings that
 * look like JSON ("true" as a string is '"true"'). */
json_t *gw_parse_value(const char *text)
{
    json_t *v =
        json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    return v ? v : json_string(text);
}

bool gw_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

/* Both splitters copy into caller buffers so callers need no frees. */
static int split_at(const char *arg, char sep, char *a, size_t alen, char *b,
                    size_t blen)
{
    const char *p = strchr(arg, sep);
    if (!p || p == arg || !p[1])
        return -1;
    size_t la = (size_t)(p - arg), lb = strlen(p + 1);
    if (la >= alen || lb >= blen)
        return -1;
    memcpy(a, arg, la);
    a[la] = '\0';
    memcpy(b, p + 1, lb + 1);
    return 0;
}

int gw_split_twin_prop(const char *arg, char *comp, size_t clen, char *prop,
                       size_t plen, char *err, size_t errlen)
{
    if (split_at(arg, '.', comp, clen, prop, plen) != 0 ||
        !gw_name_valid(comp) || !gw_name_valid(prop)) {
        snprintf(err, errlen, "'%s' is not COMPONENT.PROPERTY", arg);
        return -1;
    }
    return 0;
}

int gw_split_device_prop(const char *arg, char *dev, size_t dlen, char *prop,
                         size_t plen, char *err, size_t errlen)
{
    if (split_at(arg, '/', dev, dlen, prop, plen) != 0 || !ht_id_valid(dev) ||
        !gw_name_valid(prop)) {
        snprintf(err, errlen, "'%s' is not DEVICE/PROPERTY", arg);
        return -1;
    }
    return 0;
}

int gw_parse_time(const char *s, long long now_ms, long long *out)
{
    if (!s || !*s)
        return -1;
    if (!strcmp(s, "now")) {
        *out = now_ms;
        return 0;
    }
    char *end;
    if (s[0] == '-' && isdigit((unsigned char)s[1])) {
        long long n = strtoll(s + 1, &end, 10);
        long long unit;
        if (!strcmp(end, "s"))
            unit = 1000;
        else if (!strcmp(end, "m"))
            unit = 60000;
        else if (!strcmp(end, "h"))
            unit = 3600000;
        else if (!strcmp(end, "d"))
            unit = 86400000;
        else
            return -1;
        if (n > 100000LL * 86400)
            return -1;
        *out = now_ms - n * unit;
        return 0;
    }
    bool digits = true;
    for (const char *p = s; *p; p++)
        digits &= isdigit((unsigned char)*p) != 0;
    if (digits) {
        if (strlen(s) > 15)
            return -1;
        *out = strtoll(s, NULL, 10);
        return 0;
    }
    /* YYYY-MM-DD[(T| )HH:MM[:SS]][Z] */
    struct tm tm = {0};
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return -1;
    const char *p = s + n;
    if (*p == 'T' || *p == ' ') {
        int m2 = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &m2) != 2 || m2 != 5)
            return -1;
        p += 1 + m2;
        if (*p == ':') {
            if (sscanf(p + 1, "%2d%n", &sec, &m2) != 1 || m2 != 2)
                return -1;
            p += 3;
        }
    }
    bool utc = false;
    if (*p == 'Z') {
        utc = true;
        p++;
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        sec > 60)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    tm.tm_isdst = -1;
    time_t t = utc ? timegm(&tm) : mktime(&tm);
    if (t == (time_t)-1)
        return -1;
    *out = (long long)t * 1000;
    return 0;
}

/* The gateway may answer a property read as the bare value (what WoT
 * consumers expect) or wrapped with its timestamp; accept both. */
void gw_extract_value(const json_t *ans, const json_t **v, long long *ts)
{
    *v = ans;
    *ts = 0;
    if (!json_is_object(ans))
        return;
    const json_t *w = json_object_get(ans, "v");
    if (!w)
        w = json_object_get(ans, "value");
    if (!w)
        return;
    *v = w;
    json_t *t = json_object_get(ans, "ts");
    if (json_is_integer(t))
        *ts = (long long)json_integer_value(t);
    else if (json_is_real(t))
        *ts = (long long)json_real_value(t);
}

json_t *gw_items(const json_t *ans)
{
    if (json_is_array(ans))
        return (json_t *)ans;
    json_t *it = json_object_get(ans, "items");
    if (!it)
        it = json_object_get(ans, "points"); /* history answers */
    return json_is_array(it) ? it : NULL;
}

/* The small sim board written into a generated config, so that a freshly
 * provisioned sim agent has something to show; a gpiod config gets an empty
 * list the technician fills with the board's lines. */
static const char sim_caps[] =
    "[{\"name\":\"button\",\"kind\":\"input\",\"type\":\"ht:Button\","
    "\"line\":0,\"bias\":\"pull-up\",\"active_low\":true,\"debounce_ms\":20},"
    "{\"name\":\"lamp\",\"kind\":\"output\",\"type\":\"ht:Lamp\",\"line\":1,"
    "\"initial\":false,\"safe\":false},"
    "{\"name\":\"motor_setpoint\",\"kind\":\"setpoint\","
    "\"type\":\"ht:SpeedSetpoint\",\"minimum\":0,\"maximum\":200,"
    "\"multipleOf\":1,\"initial\":60}]";

json_t *gw_agent_config(const json_t *ans, const char *backend, char *err,
                        size_t errlen)
{
    const char *id = json_string_value(json_object_get(ans, "id"));
    const json_t *m = json_object_get(ans, "mqtt");
    const char *host = json_string_value(json_object_get(m, "host"));
    const json_t *port = json_object_get(m, "port");
    const char *user = json_string_value(json_object_get(m, "username"));
    const char *pass = json_string_value(json_object_get(m, "password"));
    if (!id || !ht_id_valid(id)) {
        snprintf(err, errlen, "the gateway's answer has no valid \"id\"");
        return NULL;
    }
    if (!host || !json_is_integer(port) || json_integer_value(port) < 1 ||
        json_integer_value(port) > 65535) {
        snprintf(err, errlen, "the gateway's answer has no mqtt host/port");
        return NULL;
    }
    if (strcmp(backend, "sim") && strcmp(backend, "gpiod")) {
        snprintf(err, errlen, "backend must be sim or gpiod, not '%s'",
                 backend);
        return NULL;
    }
    /* TLS (issue 14): the board talks to the broker's TLS listener and
     * trusts the gateway's CA, carried in the config itself. */
    const json_t *tls = json_object_get(m, "tls");
    const char *ca = json_string_value(json_object_get(tls, "ca"));
    json_t *tport = json_object_get(tls, "port");
    if (ca && json_is_integer(tport) && json_integer_value(tport) >= 1 &&
        json_integer_value(tport) <= 65535) {
        port = tport;
        if (json_string_value(json_object_get(tls, "host")))
            host = json_string_value(json_object_get(tls, "host"));
    } else {
        ca = NULL;
    }
    /* An IPv6 literal needs brackets before ":port". */
    char *broker =
        strchr(host, ':')
            ? ht_asprintf("[%s]:%lld", host,
                          (long long)json_integer_value(port))
            : ht_asprintf("%s:%lld", host, (long long)json_integer_value(port));
    json_t *mq = json_pack("{s:s}", "broker", broker);
    free(broker);
    if (user)
        json_object_set_new(mq, "username", json_string(user));
    if (pass)
        json_object_set_new(mq, "password", json_string(pass));
    if (ca)
        json_object_set_new(mq, "ca", json_string(ca));
    json_t *caps =
        !strcmp(backend, "sim") ? json_loads(sim_caps, 0, NULL) : json_array();
    json_t *gpio = json_pack("{s:s}", "backend", backend);
    if (!strcmp(backend, "gpiod"))
        json_object_set_new(gpio, "chip", json_string("gpiochip0"));
    return json_pack("{s:s, s:s, s:o, s:o, s:o}", "id", id, "title", id, "mqtt",
                     mq, "gpio", gpio, "capabilities", caps);
}

/* One leaf of a twin state: {"v":x,"ts":n} or a plain value. */
static void add_row(json_t *rows, const char *path, const json_t *leaf)
{
    const json_t *v;
    long long ts;
    gw_extract_value(leaf, &v, &ts);
    json_t *row = json_pack("{s:s, s:O, s:I}", "property", path, "value",
                            (json_t *)v, "ts", (json_int_t)ts);
    const char *q = json_string_value(json_object_get(leaf, "quality"));
    if (q)
        json_object_set_new(row, "quality", json_string(q));
    json_array_append_new(rows, row);
}

static bool is_leaf(const json_t *v)
{
    return !json_is_object(v) || json_object_get(v, "v") ||
           json_object_get(v, "value");
}

static void flatten(json_t *rows, const char *prefix, const json_t *obj,
                    int depth)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        char *path = *prefix ? ht_asprintf("%s.%s", prefix, k) : ht_strdup(k);
        if (is_leaf(v) || depth >= 3)
            add_row(rows, path, v);
        else
            flatten(rows, path, v, depth + 1);
        free(path);
    }
}

/* The twins engineer owns the exact state shape; this walks the plausible
 * ones so `gwctl twins state` stays readable whichever lands. */
json_t *gw_flatten_state(const json_t *state)
{
    json_t *rows = json_array();
    const json_t *c = json_object_get(state, "components");
    const json_t *p = json_object_get(state, "properties");
    if (json_is_object(c))
        flatten(rows, "", c, 1);
    else if (json_is_object(p))
        flatten(rows, "", p, 2);
    else if (json_is_object(state))
        flatten(rows, "", state, 1);
    return rows;
}

/* Find a member in an array of {"id"|"name":...} objects or an object keyed
 * by name (borrowed). */
static json_t *find_named(json_t *coll, const char *name)
{
    if (json_is_object(coll))
        return json_object_get(coll, name);
    size_t i;
    json_t *e;
    json_array_foreach(coll, i, e)
    {
        const char *n = json_string_value(json_object_get(e, "id"));
        if (!n)
            n = json_string_value(json_object_get(e, "name"));
        if (n && !strcmp(n, name))
            return e;
    }
    return NULL;
}

int gw_model_bind(json_t *model, const char *comp, const char *prop,
                  const char *device, const char *dprop, char *err,
                  size_t errlen)
{
    json_t *c = find_named(json_object_get(model, "components"), comp);
    if (!json_is_object(c)) {
        snprintf(err, errlen, "the twin has no component '%s'", comp);
        return -1;
    }
    json_t *p = find_named(json_object_get(c, "properties"), prop);
    if (!json_is_object(p)) {
        snprintf(err, errlen, "component '%s' has no property '%s'", comp,
                 prop);
        return -1;
    }
    /* twins/schema/twin.schema.json: "bind": "device-id/property". */
    char *b = ht_asprintf("%s/%s", device, dprop);
    json_object_set_new(p, "bind", json_string(b));
    free(b);
    return 0;
}

int gw_parse_duration(const char *s, long long *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    long long unit = !strcmp(end, "ms")  ? 1
                     : !strcmp(end, "s") ? 1000
                     : !strcmp(end, "m") ? 60000
                     : !strcmp(end, "h") ? 3600000
                                         : 0;
    if (!unit || errno || n <= 0 || n > 86400000LL / unit)
        return -1;
    *out = n * unit;
    return 0;
}

int gw_split_alarm(const char *arg, char *twin, size_t tlen, char *rule,
                   size_t rlen, char *err, size_t errlen)
{
    const char *sep = arg ? strpbrk(arg, ":/") : NULL;
    size_t n = sep ? (size_t)(sep - arg) : 0;
    if (!sep || n >= tlen || strlen(sep + 1) >= rlen) {
        snprintf(err, errlen, "'%s' is not TWIN:RULE", arg ? arg : "");
        return -1;
    }
    memcpy(twin, arg, n);
    twin[n] = '\0';
    strcpy(rule, sep + 1);
    if (!ht_id_valid(twin) || !ht_id_valid(rule)) {
        snprintf(err, errlen,
                 "'%s' is not TWIN:RULE (ids are "
                 "[a-z0-9][a-z0-9._-]{0,63})",
                 arg);
        return -1;
    }
    return 0;
}
