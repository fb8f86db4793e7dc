/* test_ha.c - Home Assistant MQTT discovery (issue 19, docs/
 * homeassistant.md) with the real gatewayd, its embedded mosquitto (ACLs
 * on), real sim boards and HA's side played by an MQTT client logged in
 * with HA's app account:
 * - every entity of the virtual-factory demo has a config, each config
 *   only has keys HA documents for its platform, with the right types
 *   (tests/integration/ha-discovery-keys.json), and nothing else is
 *   retained under the gateway's node;
 * - a command rendered from a config's command_template and published on
 *   its command topic changes the real board (read back over REST) and is
 *   audited as "mqtt:ha"; an out-of-range number is refused, audited, and
 *   leaves the board as it was; HA's birth message republishes;
 * - availability follows the board's status (killed: offline; restarted:
 *   online); a blocked device's and a deleted twin's configs are cleared,
 *   and all of them when the integration is turned off; a viewer account
 *   gets read-only entities and cannot command. */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define NODE "holotwin_gateway"
#define HA_ON                                                                  \
    "{\"integrations\":{\"homeassistant\":{\"enabled\":true,"                  \
    "\"account\":\"ha\"}}}"
#define HA_OFF                                                                 \
    "{\"integrations\":{\"homeassistant\":{\"enabled\":false,"                 \
    "\"account\":\"ha\"}}}"

/* ---- HA's documented keys (tests/integration/ha-discovery-keys.json) */

static json_t *keys_table(struct ht_it *t)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tests/integration/ha-discovery-keys.json",
             ht_it_src());
    json_error_t e;
    json_t *k = json_load_file(path, 0, &e);
    HT_CHECK(t, k, "%s: %s", path, e.text);
    return k;
}

/* Does v have type spec (a name or {"enum": [...]})? */
static bool type_ok(const json_t *keys, const json_t *spec, const json_t *v,
                    char *why, size_t n);

static bool object_ok(const json_t *keys, const json_t *table, const json_t *o,
                      const char *what, char *why, size_t n)
{
    if (!json_is_object(o)) {
        snprintf(why, n, "%s is not an object", what);
        return false;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        const json_t *spec = json_object_get(table, k);
        if (!spec) {
            snprintf(why, n, "%s: unknown key %s", what, k);
            return false;
        }
        if (!type_ok(keys, spec, v, why, n)) {
            size_t l = strlen(why);
            snprintf(why + l, n - l, " (%s.%s)", what, k);
            return false;
        }
    }
    return true;
}

static bool type_ok(const json_t *keys, const json_t *spec, const json_t *v,
                    char *why, size_t n)
{
    if (json_is_object(spec)) {
        size_t i;
        const json_t *e;
        json_array_foreach(
            json_object_get(spec, "enum"), i,
            e) if (json_equal((json_t *)e, (json_t *)v)) return true;
        snprintf(why, n, "value not in the documented set");
        return false;
    }
    const char *s = json_string_value(spec);
    bool ok = false;
    if (!strcmp(s, "string") || !strcmp(s, "template"))
        ok = json_is_string(v) && json_string_length(v) > 0;
    else if (!strcmp(s, "topic"))
        ok = json_is_string(v) && json_string_length(v) > 0 &&
             !strpbrk(json_string_value(v), "+#");
    else if (!strcmp(s, "boolean"))
        ok = json_is_boolean(v);
    else if (!strcmp(s, "integer"))
        ok = json_is_integer(v);
    else if (!strcmp(s, "number"))
        ok = json_is_number(v);
    else if (!strcmp(s, "list")) {
        ok = json_is_array(v) && json_array_size(v) > 0;
        for (size_t i = 0; ok && i < json_array_size(v); i++)
            ok = json_is_string(json_array_get(v, i));
    } else if (!strcmp(s, "device"))
        return object_ok(keys, json_object_get(keys, "device"), v, "device",
                         why, n) &&
               (json_array_size(json_object_get(v, "identifiers")) ||
                json_array_size(json_object_get(v, "connections")) ||
                (snprintf(why, n, "device without identifiers"), false));
    else if (!strcmp(s, "origin"))
        return object_ok(keys, json_object_get(keys, "origin"), v, "origin",
                         why, n) &&
               (json_is_string(json_object_get(v, "name")) ||
                (snprintf(why, n, "origin without a name"), false));
    else if (!strcmp(s, "availability")) {
        ok = json_is_array(v) && json_array_size(v) > 0;
        for (size_t i = 0; ok && i < json_array_size(v); i++) {
            const json_t *e = json_array_get(v, i);
            if (!object_ok(keys, json_object_get(keys, "availability_entry"), e,
                           "availability", why, n))
                return false;
            ok = json_is_string(json_object_get(e, "topic"));
        }
    }
    if (!ok)
        snprintf(why, n, "not a %s", s);
    return ok;
}

/* One config against the table: keys, types and HA's cross-key rules. */
static bool config_ok(const json_t *keys, const char *platform, const json_t *c,
                      char *why, size_t n)
{
    const json_t *pl =
        json_object_get(json_object_get(keys, "platforms"), platform);
    if (!pl) {
        snprintf(why, n, "platform %s is not one we map to", platform);
        return false;
    }
    json_t *table = json_deep_copy(json_object_get(keys, "common"));
    json_object_update(table, json_object_get(pl, "keys"));
    bool ok = object_ok(keys, table, c, platform, why, n);
    json_decref(table);
    if (!ok)
        return false;
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(pl, "required"), i,
                       r) if (!json_object_get(c, json_string_value(r)))
    {
        snprintf(why, n, "required key %s missing", json_string_value(r));
        return false;
    }
    const char *cls = json_string_value(json_object_get(c, "device_class"));
    bool is_enum = cls && !strcmp(cls, "enum");
    if (json_object_get(c, "device") && !json_object_get(c, "unique_id"))
        return snprintf(why, n, "device block without unique_id"), false;
    if (json_object_get(c, "options") && !is_enum)
        return snprintf(why, n, "options without device_class enum"), false;
    if (is_enum && (json_object_get(c, "unit_of_measurement") ||
                    json_object_get(c, "state_class")))
        return snprintf(why, n, "enum sensor with a unit or state_class"),
               false;
    if (json_object_get(c, "availability") &&
        json_object_get(c, "availability_topic"))
        return snprintf(why, n, "availability and availability_topic"), false;
    if (!strcmp(platform, "number")) {
        double mn = json_number_value(json_object_get(c, "min"));
        double mx = json_number_value(json_object_get(c, "max"));
        const json_t *st = json_object_get(c, "step");
        if (!(mn < mx) || (st && json_number_value(st) < 1e-3))
            return snprintf(why, n, "number range or step"), false;
    }
    return true;
}

/* ---- what is retained under the node ---- */

/* {topic: config} of every config retained now under this gateway's node,
 * read by a fresh subscriber (mosquitto_sub: retained messages only, each
 * line "topic payload"). New. */
static json_t *retained(struct ht_it *t, int port, const char *user,
                        const char *pass)
{
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    const char *argv[] = {"/usr/bin/mosquitto_sub",
                          "-h",
                          "127.0.0.1",
                          "-p",
                          p,
                          "-u",
                          user,
                          "-P",
                          pass,
                          "-t",
                          "homeassistant/+/" NODE "/+/config",
                          "-v",
                          "--retained-only",
                          "-W",
                          "2",
                          NULL};
    char *out = NULL;
    ht_it_run(t, argv, NULL, 15000, &out, NULL);
    json_t *all = json_object();
    for (char *line = out ? strtok(out, "\n") : NULL; line;
         line = strtok(NULL, "\n")) {
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        json_t *c = json_loads(sp + 1, 0, NULL);
        HT_CHECK(t, json_is_object(c), "%s: not a JSON object: %s", line,
                 sp + 1);
        json_object_set_new(all, line, c);
    }
    free(out);
    return all;
}

static char *topic_of(const char *platform, const char *object)
{
    char *s = NULL;
    if (asprintf(&s, "homeassistant/%s/" NODE "/%s/config", platform, object) <
        0)
        abort();
    for (char *q = s + strlen("homeassistant/") + strlen(platform) + 1 +
                   strlen(NODE) + 1;
         *q && *q != '/'; q++)
        if (*q == '.')
            *q = '_';
    return s;
}

/* The platform a property maps to (the contract of docs/homeassistant.md),
 * NULL for none: from its type, writability and range. */
static const char *platform_of(const char *type, bool writable, bool ranged,
                               bool commands)
{
    if (!type)
        return NULL;
    bool num = !strcmp(type, "number") || !strcmp(type, "integer");
    if (!strcmp(type, "boolean"))
        return writable && commands ? "switch" : "binary_sensor";
    if (num)
        return writable && commands && ranged ? "number" : "sensor";
    return NULL;
}

/* ---- REST ---- */

static int call(int port, const char *auth, const char *method,
                const char *path, const char *body, json_t **out)
{
    return ht_it_call(port, auth, method, path, body, out);
}

/* POST /api/v1/mqtt-accounts: the account's user and password. */
static void account(struct ht_it *t, int port, const char *auth,
                    const char *name, const char *role, char *user, char *pass)
{
    char body[128];
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"role\":\"%s\"}", name,
             role);
    json_t *a;
    int st = call(port, auth, "POST", "/api/v1/mqtt-accounts", body, &a);
    const char *u = json_string_value(json_object_get(a, "username"));
    const char *p = json_string_value(json_object_get(a, "password"));
    HT_CHECK(t, st == 201 && u && p, "account %s: HTTP %d", name, st);
    snprintf(user, 96, "%s", u);
    snprintf(pass, 96, "%s", p);
    json_decref(a);
}

/* The bare value of a device property (GET .../properties/NAME), new
 * JSON or NULL. */
static json_t *value_of(int port, const char *auth, const char *dev,
                        const char *prop)
{
    char path[160];
    snprintf(path, sizeof path, "/api/v1/devices/%s/properties/%s", dev, prop);
    json_t *v = NULL;
    struct ht_it_http r;
    if (ht_it_http(port, "GET", path, auth, NULL, &r) != 0)
        return NULL;
    if (r.status == 200 && r.body)
        v = json_loads(r.body, JSON_DECODE_ANY, NULL);
    ht_it_http_free(&r);
    return v;
}

static bool value_is(int port, const char *auth, const char *dev,
                     const char *prop, double want)
{
    json_t *v = value_of(port, auth, dev, prop);
    bool ok = json_is_number(v)    ? json_number_value(v) == want
              : json_is_boolean(v) ? (json_is_true(v) ? 1 : 0) == want
                                   : false;
    json_decref(v);
    return ok;
}

/* An audit record of actor with target and HTTP status. */
static bool audited(int port, const char *auth, const char *actor,
                    const char *target, int status)
{
    json_t *l;
    bool found = false;
    if (call(port, auth, "GET", "/api/v1/audit?limit=100", NULL, &l) == 200) {
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(l, "items"), i, e)
        {
            const char *ac = json_string_value(json_object_get(e, "actor"));
            const char *tg = json_string_value(json_object_get(e, "target"));
            found |= ac && tg && !strcmp(ac, actor) && !strcmp(tg, target) &&
                     json_integer_value(json_object_get(e, "status")) == status;
        }
    }
    json_decref(l);
    return found;
}

/* HA's rendering of a command_template for a plain value: "{{ value }}"
 * replaced by the payload HA would pass (MqttCommandTemplate). New. */
static char *render(struct ht_it *t, const json_t *cfg, const char *value)
{
    const char *tpl =
        json_string_value(json_object_get(cfg, "command_template"));
    HT_CHECK(t, tpl, "no command_template");
    const char *at = strstr(tpl, "{{ value }}");
    HT_CHECK(t, at, "template %s", tpl);
    char *s = NULL;
    if (asprintf(&s, "%.*s%s%s", (int)(at - tpl), tpl, value,
                 at + strlen("{{ value }}")) < 0)
        abort();
    return s;
}

/* Publish a rendered command on the config's command topic as HA. */
static void command(struct ht_it *t, struct ht_it_mqtt *m, const json_t *cfg,
                    const char *value)
{
    const char *topic =
        json_string_value(json_object_get(cfg, "command_topic"));
    HT_CHECK(t, topic, "no command_topic");
    char *payload = render(t, cfg, value);
    HT_CHECK(t, ht_it_mqtt_pub(m, topic, payload, 1, false) == 0,
             "HA could not publish on %s", topic);
    free(payload);
}

/* ---- the demo ---- */

static void demo_entities_match_ha_keys_and_command_the_boards(struct ht_it *t)
{
    ht_it_timeout(t, 240);
    json_t *keys = keys_table(t);
    char *conf = ht_it_write(t, "ha.json", HA_ON);
    char args[600];
    snprintf(args, sizeof args, "--config %s", conf);
    setenv("HT_DEMO_GATEWAY_ARGS", args, 1);
    struct ht_it_demo d;
    ht_it_demo_start(t, &d);
    char auth[256];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", d.admin);
    char user[96], pass[96];
    account(t, d.http, auth, "ha", "operator", user, pass);
    struct ht_it_mqtt *m = ht_it_mqtt_new(d.mqtt, "ha-core", user, pass);
    HT_CHECK(t, m != NULL, "HA's account refused");
    HT_CHECK(t, ht_it_mqtt_sub(m, "homeassistant/#") < 128);
    HT_CHECK(t, ht_it_mqtt_sub(m, "holotwin/v1/apps/ha/reply") < 128);

    /* What every demo entity should be: the boards' properties, the
     * press line's (its TD) and its alarms. */
    json_t *want = json_object();
    static const char *const boards[] = {"gears-1", "thermal-1", "panel-1"};
    for (size_t b = 0; b < 3; b++) {
        char path[96], obj[160];
        snprintf(path, sizeof path, "/api/v1/devices/%s", boards[b]);
        json_t *dev;
        HT_CHECK(t, call(d.http, auth, "GET", path, NULL, &dev) == 200);
        const char *name;
        json_t *p;
        json_object_foreach(json_object_get(dev, "properties"), name, p)
        {
            const char *pl =
                platform_of(json_string_value(json_object_get(p, "type")),
                            json_is_true(json_object_get(p, "writable")),
                            json_is_number(json_object_get(p, "minimum")) &&
                                json_is_number(json_object_get(p, "maximum")),
                            true);
            snprintf(obj, sizeof obj, "device_%s_%s", boards[b], name);
            if (pl) {
                char *tp = topic_of(pl, obj);
                json_object_set_new(want, tp, json_string(name));
                free(tp);
            }
        }
        json_decref(dev);
    }
    json_t *td;
    HT_CHECK(t,
             call(d.http, auth, "GET", "/things/press-line", NULL, &td) == 200);
    const char *name;
    json_t *p;
    json_object_foreach(json_object_get(td, "properties"), name, p)
    {
        const char *pl =
            platform_of(json_string_value(json_object_get(p, "type")),
                        !json_is_true(json_object_get(p, "readOnly")),
                        json_is_number(json_object_get(p, "minimum")) &&
                            json_is_number(json_object_get(p, "maximum")),
                        true);
        char obj[160];
        snprintf(obj, sizeof obj, "twin_press-line_%s", name);
        if (pl) {
            char *tp = topic_of(pl, obj);
            json_object_set_new(want, tp, json_string(name));
            free(tp);
        }
    }
    json_decref(td);
    json_t *al;
    HT_CHECK(t,
             call(d.http, auth, "GET",
                  "/api/v1/alarms?twin=press-line&all=true", NULL, &al) == 200);
    size_t i, nalarms = 0;
    json_t *a;
    json_array_foreach(json_object_get(al, "items"), i, a)
    {
        char obj[160];
        snprintf(obj, sizeof obj, "twin_press-line_alarm_%s",
                 json_string_value(json_object_get(a, "rule")));
        char *tp = topic_of("sensor", obj);
        json_object_set_new(want, tp, json_string("alarm"));
        free(tp);
        nalarms++;
    }
    json_decref(al);
    HT_CHECK(t, nalarms == 3, "press line alarms: %zu", nalarms);
    json_object_set_new(want,
                        "homeassistant/binary_sensor/" NODE
                        "/twin_press-line_alarms/config",
                        json_string("alarms"));

    /* The operator account's entities are there once its role is seen. */
    char *sw = topic_of("switch", "device_thermal-1_fan");
    free(ht_it_mqtt_wait(m, sw, "command_topic", 15000));
    json_t *have = NULL;
    for (int tries = 0; tries < 20; tries++) {
        json_decref(have);
        have = retained(t, d.mqtt, user, pass);
        if (json_object_size(have) == json_object_size(want))
            break;
        ht_it_sleep_ms(500);
    }
    ht_it_log(t, "%zu configs retained, %zu expected", json_object_size(have),
              json_object_size(want));
    const char *topic;
    json_t *v;
    json_object_foreach(want, topic, v)
        HT_CHECK(t, json_object_get(have, topic), "no config %s", topic);
    size_t nplat[4] = {0};
    static const char *const plats[] = {"sensor", "binary_sensor", "switch",
                                        "number"};
    json_object_foreach(have, topic, v)
    {
        HT_CHECK(t, json_object_get(want, topic), "unexpected config %s",
                 topic);
        char platform[32];
        HT_CHECK(t, sscanf(topic, "homeassistant/%31[a-z_]/", platform) == 1);
        char why[256] = "";
        HT_CHECK(t, config_ok(keys, platform, v, why, sizeof why), "%s: %s",
                 topic, why);
        for (size_t k = 0; k < 4; k++)
            nplat[k] += !strcmp(platform, plats[k]);
    }
    for (size_t k = 0; k < 4; k++)
        HT_CHECK(t, nplat[k] > 0, "no %s entity", plats[k]);

    /* The broker names a session by its user: mosquitto_sub took ours
     * over. HA's client again. */
    ht_it_mqtt_free(m);
    m = ht_it_mqtt_new(d.mqtt, "ha-core", user, pass);
    HT_CHECK(t, m != NULL, "HA's account refused");
    HT_CHECK(t, ht_it_mqtt_sub(m, "homeassistant/#") < 128);
    HT_CHECK(t, ht_it_mqtt_sub(m, "holotwin/v1/apps/ha/reply") < 128);
    /* A number: HA renders its command_template and publishes it. */
    char *nt = topic_of("number", "device_gears-1_motor_a_setpoint");
    json_t *num = json_object_get(have, nt);
    HT_CHECK(t, num, "%s", nt);
    command(t, m, num, "120");
    /* Each command's reply is waited for: the board's value (REST) can be
     * there before the ack, and a late reply would answer the next. */
    char *r = ht_it_mqtt_wait(m, "holotwin/v1/apps/ha/reply", "status", 15000);
    HT_CHECK(t, r && strstr(r, "\"status\":200"), "reply: %s",
             r ? r : "(none)");
    free(r);
    HT_WAIT(t, value_is(d.http, auth, "gears-1", "motor_a_setpoint", 120), 5000,
            "the board's setpoint did not follow HA's command");
    HT_WAIT(t, audited(d.http, auth, "mqtt:ha", "motor_a_setpoint", 200), 5000,
            "no audit record of HA's command");
    /* A switch the same way. */
    json_t *swc = json_object_get(have, sw);
    HT_CHECK(
        t, swc && !strcmp(json_string_value(json_object_get(swc, "payload_on")),
                          "true"));
    ht_it_mqtt_clear(m);
    command(t, m, swc, "true");
    r = ht_it_mqtt_wait(m, "holotwin/v1/apps/ha/reply", "status", 15000);
    HT_CHECK(t, r && strstr(r, "\"status\":200"), "reply: %s",
             r ? r : "(none)");
    free(r);
    HT_WAIT(t, value_is(d.http, auth, "thermal-1", "fan", 1), 5000,
            "the fan did not switch on");
    /* Out of range: refused, answered, audited, the board unchanged. */
    ht_it_mqtt_clear(m);
    command(t, m, num, "999");
    r = ht_it_mqtt_wait(m, "holotwin/v1/apps/ha/reply", "status", 15000);
    HT_CHECK(t, r && strstr(r, "\"status\":400"), "reply: %s",
             r ? r : "(none)");
    free(r);
    HT_WAIT(t, audited(d.http, auth, "mqtt:ha", "motor_a_setpoint", 400), 5000,
            "the refusal is not audited");
    HT_CHECK(t, value_is(d.http, auth, "gears-1", "motor_a_setpoint", 120));
    /* Malformed (HA with a broken template): a 400, nothing sent. */
    ht_it_mqtt_clear(m);
    HT_CHECK(t, ht_it_mqtt_pub(m, "holotwin/v1/apps/ha/request", "ON", 1,
                               false) == 0);
    r = ht_it_mqtt_wait(m, "holotwin/v1/apps/ha/reply", "status", 15000);
    HT_CHECK(t, r && strstr(r, "\"status\":400"), "reply: %s",
             r ? r : "(none)");
    free(r);

    /* HA's birth message: everything is published again. */
    ht_it_mqtt_clear(m);
    HT_CHECK(t, ht_it_mqtt_pub(m, "homeassistant/status", "online", 1, false) ==
                    0);
    HT_WAIT(t,
            ht_it_mqtt_count(m, "homeassistant/+/" NODE "/+/config") >=
                json_object_size(want),
            10000, "HA's birth did not republish the configs");

    free(nt);
    free(sw);
    json_decref(have);
    json_decref(want);
    ht_it_mqtt_free(m);
    json_decref(keys);
    free(conf);
}

/* ---- one board of our own ---- */

struct gw {
    int http, mqtt, tls;
    char *data, *conf;
    char auth[256];
    pid_t pid;
};

static void gw_start(struct ht_it *t, struct gw *g, const char *conf_text,
                     const char *logname)
{
    if (!g->data) {
        g->http = ht_it_free_port();
        g->mqtt = ht_it_free_port();
        g->tls = ht_it_free_port();
        g->data = ht_it_path(t, "gw");
    }
    free(g->conf);
    g->conf = ht_it_write(t, "gw.json", conf_text);
    char http[16], mqtt[16], tls[16];
    snprintf(http, sizeof http, "%d", g->http);
    snprintf(mqtt, sizeof mqtt, "%d", g->mqtt);
    snprintf(tls, sizeof tls, "%d", g->tls);
    char *bin = ht_it_bin("gatewayd");
    const char *argv[] = {
        bin,           "--config",        g->conf, "--data-dir",
        g->data,       "--http-port",     http,    "--mqtt-port",
        mqtt,          "--mqtt-tls-port", tls,     "--no-mdns",
        "--log-level", "debug",           NULL};
    g->pid = ht_it_spawn(t, logname, argv, NULL);
    free(bin);
    HT_CHECK(t, ht_it_wait_port(g->http, 15000), "gatewayd HTTP port");
    char tok[128] = "";
    ht_it_admin_token(t, g->data, tok, sizeof tok);
    snprintf(g->auth, sizeof g->auth, "Authorization: Bearer %s\r\n", tok);
    json_t *h = NULL;
    HT_WAIT(t,
            (json_decref(h), h = NULL,
             call(g->http, g->auth, "GET", "/healthz", NULL, &h) == 200 &&
                 json_is_true(json_object_get(h, "mqtt"))),
            15000, "gatewayd never connected to its broker");
    json_decref(h);
}

static void gw_stop(struct ht_it *t, struct gw *g)
{
    int st = ht_it_stop(t, g->pid, SIGTERM, 15000);
    HT_CHECK(t, st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "gatewayd exit status %d", st);
}

static pid_t agent(struct ht_it *t, struct gw *g, const struct ht_it_creds *c,
                   const char *logname)
{
    char broker[64];
    snprintf(broker, sizeof broker, "127.0.0.1:%d", g->tls);
    char *bin = ht_it_bin("device-agent");
    const char *argv[] = {bin,     "--sim",      "--no-mdns", "--broker",
                          broker,  "--id",       "b1",        "--username",
                          c->user, "--password", c->pass,     "--cafile",
                          c->ca,   NULL};
    pid_t p = ht_it_spawn(t, logname, argv, NULL);
    free(bin);
    return p;
}

static bool has(json_t *all, const char *topic)
{
    return json_object_get(all, topic) != NULL;
}

/* Whether a config for topic is retained now (as seen by user). */
static bool retained_has(struct ht_it *t, struct gw *g, const char *user,
                         const char *pass, const char *topic)
{
    json_t *all = retained(t, g->mqtt, user, pass);
    bool y = has(all, topic);
    json_decref(all);
    return y;
}

static void board_availability_removal_and_a_viewer(struct ht_it *t)
{
    ht_it_timeout(t, 240);
    json_t *keys = keys_table(t);
    struct gw g = {0};
    gw_start(t, &g, HA_ON, "gatewayd");
    struct ht_it_creds c;
    HT_CHECK(t, ht_it_provision(t, g.http, g.auth, "b1", &c) == 201);
    free(c.config);
    pid_t a = agent(t, &g, &c, "agent-b1");
    HT_WAIT(t,
            call(g.http, g.auth, "POST", "/api/v1/devices/b1/approve", NULL,
                 NULL) == 200,
            15000, "b1 never registered");
    HT_CHECK(t, call(g.http, g.auth, "PUT", "/api/v1/twins/lampwatch",
                     "{\"id\":\"lampwatch\",\"title\":\"Lamp\",\"components\":"
                     "[{\"id\":\"lamp\",\"kind\":\"lamp\",\"properties\":[{"
                     "\"name\":\"on\",\"bind\":\"b1/lamp\",\"type\":"
                     "\"boolean\",\"writable\":true}]}],\"rules\":[{\"id\":"
                     "\"lamp-lit\",\"severity\":\"warning\",\"message\":\"Lamp "
                     "on\",\"expr\":\"lamp.on\",\"priority\":\"low\"}]}",
                     NULL) /
                        100 ==
                    2);
    /* HA logs in as a viewer: read-only entities, no command topic. */
    char user[96], pass[96];
    account(t, g.http, g.auth, "ha", "viewer", user, pass);
    const char *lamp_bs =
        "homeassistant/binary_sensor/" NODE "/device_b1_lamp/config";
    const char *twin_bs =
        "homeassistant/binary_sensor/" NODE "/twin_lampwatch_lamp_on/config";
    const char *alarm =
        "homeassistant/sensor/" NODE "/twin_lampwatch_alarm_lamp-lit/config";
    HT_WAIT(t, retained_has(t, &g, user, pass, lamp_bs), 15000,
            "no config for b1's lamp");
    HT_WAIT(t, retained_has(t, &g, user, pass, alarm), 15000,
            "no config for the twin's alarm");
    json_t *all = retained(t, g.mqtt, user, pass);
    const char *topic;
    json_t *cfg;
    size_t n = 0;
    json_object_foreach(all, topic, cfg)
    {
        char platform[32], why[256] = "";
        HT_CHECK(t, sscanf(topic, "homeassistant/%31[a-z_]/", platform) == 1);
        HT_CHECK(t, strcmp(platform, "switch") && strcmp(platform, "number"),
                 "a viewer's HA got a command entity: %s", topic);
        HT_CHECK(t, !json_object_get(cfg, "command_topic"), "%s", topic);
        HT_CHECK(t, config_ok(keys, platform, cfg, why, sizeof why), "%s: %s",
                 topic, why);
        n++;
    }
    HT_CHECK(t, has(all, twin_bs), "no config for the twin's lamp");
    ht_it_log(t, "%zu read-only configs", n);
    /* Availability is the board's status topic, which HA may read. */
    const json_t *av = json_array_get(
        json_object_get(json_object_get(all, lamp_bs), "availability"), 0);
    const char *st = json_string_value(json_object_get(av, "topic"));
    HT_CHECK(t, st && !strcmp(st, "holotwin/v1/devices/b1/status"));
    json_decref(all);
    struct ht_it_mqtt *m = ht_it_mqtt_new(g.mqtt, "ha-core", user, pass);
    HT_CHECK(t, m != NULL);
    HT_CHECK(t, ht_it_mqtt_sub(m, "holotwin/v1/devices/b1/status") < 128,
             "HA may not read the board's status");
    HT_CHECK(t, ht_it_mqtt_sub(m, "holotwin/v1/devices/b1/props/+") < 128,
             "HA may not read the board's values");
    free(ht_it_mqtt_wait(m, "holotwin/v1/devices/b1/status", "\"online\"",
                         10000));
    ht_it_mqtt_clear(m);
    ht_it_stop(t, a, SIGKILL, 5000);
    char *off = ht_it_mqtt_wait(m, "holotwin/v1/devices/b1/status",
                                "\"offline\"", 30000);
    HT_CHECK(t, off, "the killed board never went offline for HA");
    free(off);
    ht_it_mqtt_clear(m);
    a = agent(t, &g, &c, "agent-b1-again");
    char *on = ht_it_mqtt_wait(m, "holotwin/v1/devices/b1/status", "\"online\"",
                               30000);
    HT_CHECK(t, on, "the restarted board never came back for HA");
    free(on);
    /* A viewer cannot command: the broker refuses its request topic and
     * any cmd topic, the lamp stays off. */
    HT_WAIT(t, value_is(g.http, g.auth, "b1", "lamp", 0), 10000);
    static const char *const pubs[] = {"holotwin/v1/apps/ha/request",
                                       "holotwin/v1/devices/b1/cmd/lamp",
                                       "homeassistant/switch/x/y/config"};
    for (size_t i = 0; i < 3; i++) {
        struct ht_it_mqtt *v = ht_it_mqtt_new(g.mqtt, "ha-w", user, pass);
        HT_CHECK(t, v != NULL);
        int rc = ht_it_mqtt_pub(
            v, pubs[i],
            "{\"device\":\"b1\",\"property\":\"lamp\",\"value\":true}", 1,
            false);
        HT_CHECK(t, rc == 135, "HA's viewer published on %s: %d", pubs[i], rc);
        ht_it_mqtt_free(v);
    }
    ht_it_sleep_ms(500);
    HT_CHECK(t, value_is(g.http, g.auth, "b1", "lamp", 0), "the lamp changed");

    /* Removal: the twin's configs go with the twin, the board's when it
     * is no longer approved, and come back with it. */
    HT_CHECK(t, call(g.http, g.auth, "DELETE", "/api/v1/twins/lampwatch", NULL,
                     NULL) == 204);
    HT_WAIT(t,
            !retained_has(t, &g, user, pass, twin_bs) &&
                !retained_has(t, &g, user, pass, alarm),
            15000, "the deleted twin's configs are still retained");
    HT_CHECK(t, retained_has(t, &g, user, pass, lamp_bs));
    HT_CHECK(t, call(g.http, g.auth, "POST", "/api/v1/devices/b1/block", NULL,
                     NULL) == 200);
    HT_WAIT(t, !retained_has(t, &g, user, pass, lamp_bs), 15000,
            "the blocked board's configs are still retained");
    HT_CHECK(t, call(g.http, g.auth, "POST", "/api/v1/devices/b1/approve", NULL,
                     NULL) == 200);
    HT_WAIT(t, retained_has(t, &g, user, pass, lamp_bs), 15000,
            "the approved board's configs did not come back");
    ht_it_mqtt_free(m);

    /* Turned off: the gateway clears what it had retained. */
    gw_stop(t, &g);
    gw_start(t, &g, HA_OFF, "gatewayd-off");
    /* HA's account has no rights under the prefix now: look with the
     * gateway's own broker user. */
    char *sp = NULL;
    if (asprintf(&sp, "%s/broker/gateway.secret", g.data) < 0)
        abort();
    FILE *f = fopen(sp, "r");
    char secret[128] = "";
    HT_CHECK(t, f && fgets(secret, sizeof secret, f), "%s", sp);
    fclose(f);
    free(sp);
    secret[strcspn(secret, "\r\n")] = '\0';
    bool empty = false;
    for (int i = 0; i < 20 && !empty; i++) {
        json_t *left = retained(t, g.mqtt, "_gateway", secret);
        empty = json_object_size(left) == 0;
        json_decref(left);
        if (!empty)
            ht_it_sleep_ms(250);
    }
    char *log = ht_it_logfile(t, "gatewayd-off");
    HT_CHECK(t,
             log && strstr(log, "integration off: homeassistant/"
                                "binary_sensor/" NODE "/device_b1_lamp"),
             "the gateway did not clear b1's lamp config");
    free(log);
    HT_CHECK(t, empty, "the turned-off integration left configs retained");
    ht_it_stop(t, a, SIGTERM, 10000);
    gw_stop(t, &g);
    free(g.data);
    free(g.conf);
    json_decref(keys);
}

HT_IT_MAIN(HT_IT_CASE(demo_entities_match_ha_keys_and_command_the_boards),
           HT_IT_CASE(board_availability_removal_and_a_viewer))
