/* test_gateway.c - gatewayd end to end with a real mosquitto, real sim
 * agents (or a test MQTT client playing a device), real HTTP and SQLite:
 * registration through approval, state and history, commands with every
 * outcome, SSE delivery and resume, the auth matrix, kill -9 durability,
 * the embedded broker's supervision and hostile input. */
#include "harness.h"

#include "ht_topic.h"
#include "semantics/semantics.h"

#include <curl/curl.h>

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct gw {
    pid_t pid;
    int http;
    char *data;
    char broker[64];
    char *tok;
    char auth[400];
    char tls_s[16]; /* embedded broker: its TLS port */
};

static char *read_file_line(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char buf[256] = {0};
    if (!fgets(buf, sizeof buf, f))
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return strdup(buf);
}

/* Start gatewayd on broker_port (0: embedded broker on mqtt_port). */
static void gw_start(struct ht_it *t, struct gw *g, int broker_port,
                     int mqtt_port, const char *data_name)
{
    if (!g->data)
        g->data = ht_it_path(t, data_name);
    g->http = ht_it_free_port();
    char http[16], mq[16];
    snprintf(http, sizeof http, "%d", g->http);
    snprintf(mq, sizeof mq, "%d", mqtt_port);
    char *bin = ht_it_bin("gatewayd");
    const char *argv[20] = {
        bin,         "--data-dir",           g->data, "--http-port", http,
        "--no-mdns", "--command-timeout-ms", "1500",  "--log-level", "debug"};
    size_t n = 10;
    if (broker_port) {
        snprintf(g->broker, sizeof g->broker, "127.0.0.1:%d", broker_port);
        argv[n++] = "--broker";
        argv[n++] = g->broker;
    } else {
        snprintf(g->broker, sizeof g->broker, "127.0.0.1:%d", mqtt_port);
        snprintf(g->tls_s, sizeof g->tls_s, "%d", ht_it_free_port());
        argv[n++] = "--mqtt-port";
        argv[n++] = mq;
        argv[n++] = "--mqtt-tls-port";
        argv[n++] = g->tls_s;
    }
    argv[n] = NULL;
    g->pid = ht_it_spawn(t, "gatewayd", argv, NULL);
    HT_CHECK(t, ht_it_wait_port(g->http, 15000), "gatewayd HTTP port");
    char *p = NULL;
    if (asprintf(&p, "%s/admin.token", g->data) < 0)
        abort();
    free(g->tok);
    g->tok = read_file_line(p);
    free(p);
    HT_CHECK(t, g->tok && *g->tok, "no admin token in %s", g->data);
    snprintf(g->auth, sizeof g->auth, "Authorization: Bearer %s\r\n", g->tok);
    free(bin);
}

static void gw_free(struct gw *g)
{
    free(g->data);
    free(g->tok);
}

/* One request; returns the status, *body JSON (may be NULL). */
static int call(int port, const char *hdr, const char *method, const char *path,
                const char *body, json_t **out)
{
    struct ht_it_http r;
    if (out)
        *out = NULL;
    if (ht_it_http(port, method, path, hdr, body, &r) != 0)
        return -1;
    int st = r.status;
    if (out)
        *out = ht_it_http_json(&r);
    ht_it_http_free(&r);
    return st;
}

static int gcall(struct gw *g, const char *method, const char *path,
                 const char *body, json_t **out)
{
    return call(g->http, g->auth, method, path, body, out);
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static bool device_state_is(struct gw *g, const char *id, const char *state)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/devices/%s", id);
    json_t *d;
    bool ok = gcall(g, "GET", path, NULL, &d) == 200 &&
              !strcmp(jstr(d, "state"), state);
    json_decref(d);
    return ok;
}

/* GET /things lists n Things (a device's TD may come after its status). */
static bool things_count_is(struct gw *g, size_t n)
{
    json_t *l;
    bool ok =
        gcall(g, "GET", "/things", NULL, &l) == 200 && json_array_size(l) == n;
    json_decref(l);
    return ok;
}

static bool device_online(struct gw *g, const char *id, bool online)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/devices/%s", id);
    json_t *d;
    bool ok = gcall(g, "GET", path, NULL, &d) == 200 &&
              json_is_true(json_object_get(d, "online")) == online;
    json_decref(d);
    return ok;
}

static pid_t agent_start(struct ht_it *t, const char *broker, const char *id)
{
    char *bin = ht_it_bin("device-agent");
    const char *argv[] = {bin, "--sim", "--broker", broker, "--id", id, NULL};
    char log[64];
    snprintf(log, sizeof log, "agent-%s", id);
    pid_t p = ht_it_spawn(t, log, argv, NULL);
    free(bin);
    return p;
}

/* A provisioned board (the default with the embedded broker): its
 * credentials from the gateway, over TLS, trusting the issued CA. */
static pid_t agent_start_provisioned(struct ht_it *t, struct gw *g,
                                     const char *id)
{
    struct ht_it_creds c;
    int st = ht_it_provision(t, g->http, g->auth, id, &c);
    HT_CHECK(t, st == 201 && c.tls_port > 0 && c.ca[0], "provision %s: %d", id,
             st);
    char broker[64];
    snprintf(broker, sizeof broker, "127.0.0.1:%d", c.tls_port);
    char *bin = ht_it_bin("device-agent");
    const char *argv[] = {
        bin,    "--sim",      "--broker", broker,     "--id", id,  "--username",
        c.user, "--password", c.pass,     "--cafile", c.ca,   NULL};
    char log[64];
    snprintf(log, sizeof log, "agent-%s", id);
    pid_t p = ht_it_spawn(t, log, argv, NULL);
    free(bin);
    free(c.config);
    return p;
}

static void approve(struct ht_it *t, struct gw *g, const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/devices/%s/approve", id);
    json_t *d;
    int st = gcall(g, "POST", path, NULL, &d);
    HT_CHECK(t, st == 200 && !strcmp(jstr(d, "state"), "approved"),
             "approve %s: %d", id, st);
    json_decref(d);
}

/* A device played by the test: TD with a read-only number "temp" and a
 * writable number "sp" (0..100), status online; it never acks. */
static void fake_device(struct ht_it *t, struct ht_it_mqtt *c, const char *id)
{
    struct ht_sem_prop props[2] = {
        {.name = "temp",
         .title = "Temperature",
         .sem_type = "ht:Temperature",
         .dtype = HT_SEM_NUMBER,
         .read_only = true,
         .observable = true},
        {.name = "sp",
         .title = "Setpoint",
         .sem_type = "ht:SpeedSetpoint",
         .dtype = HT_SEM_NUMBER,
         .has_min = true,
         .has_max = true,
         .min = 0,
         .max = 100,
         .observable = true},
    };
    struct ht_sem_thing th = {
        .id = (char *)id, .title = "Fake", .props = props, .nprops = 2};
    struct ht_sem_forms f = {.topic_prefix = "holotwin/v1", .kind = "device"};
    json_t *td = ht_sem_td_build(&th, &f);
    char *s = json_dumps(td, JSON_COMPACT);
    json_decref(td);
    char topic[HT_TOPIC_MAX];
    ht_topic_build(topic, sizeof topic, NULL, HT_TOPIC_DEV_TD, id, NULL);
    HT_CHECK(t, ht_it_mqtt_pub(c, topic, s, 1, true) == 0);
    free(s);
    ht_topic_build(topic, sizeof topic, NULL, HT_TOPIC_DEV_STATUS, id, NULL);
    HT_CHECK(t, ht_it_mqtt_pub(c, topic, "{\"state\":\"online\",\"ts\":1}", 1,
                               true) == 0);
}

/* A fixed time (2023-11-14) for value timestamps: ingest refuses those
 * before 2000 or in the future. */
#define TS0 1700000000000LL

static void publish_value(struct ht_it *t, struct ht_it_mqtt *c, const char *id,
                          const char *name, double v, long long ts, int seq)
{
    char topic[HT_TOPIC_MAX], payload[128];
    HT_CHECK(t, ht_topic_build(topic, sizeof topic, NULL, HT_TOPIC_DEV_PROP, id,
                               name) > 0);
    snprintf(payload, sizeof payload, "{\"v\":%g,\"ts\":%lld,\"seq\":%d}", v,
             ts, seq);
    HT_CHECK(t, ht_it_mqtt_pub(c, topic, payload, 1, false) == 0);
}

static size_t history_count(struct gw *g, const char *id, const char *name)
{
    char path[160];
    snprintf(path, sizeof path,
             "/api/v1/devices/%s/properties/%s/history?limit=100000", id, name);
    json_t *h;
    size_t n = 0;
    if (gcall(g, "GET", path, NULL, &h) == 200)
        n = json_array_size(json_object_get(h, "items"));
    json_decref(h);
    return n;
}

/* ---- cases ---- */

static void registration_through_approval(struct ht_it *t)
{
    struct ht_it_broker b = {0};
    ht_it_broker_start(t, &b, NULL);
    struct gw g = {0};
    gw_start(t, &g, b.port, 0, "gw");
    pid_t a = agent_start(t, g.broker, "press-1");

    /* Seen over MQTT: discovered until a technician approves it. */
    HT_WAIT(t, device_state_is(&g, "press-1", "discovered"), 15000);
    HT_WAIT(t, device_online(&g, "press-1", true), 15000);
    json_t *d;
    HT_CHECK(t, gcall(&g, "GET", "/api/v1/devices/press-1", NULL, &d) == 200);
    HT_CHECK(t,
             json_is_object(
                 json_object_get(json_object_get(d, "properties"), "lamp")),
             "no lamp property");
    HT_CHECK(t, json_is_object(json_object_get(d, "td")));
    HT_CHECK(t, json_integer_value(json_object_get(d, "td_version")) == 1);
    json_decref(d);

    /* Devices nobody approved take no commands. */
    HT_CHECK(t, gcall(&g, "PUT", "/api/v1/devices/press-1/properties/lamp",
                      "true", &d) == 403);
    HT_CHECK(t, !strcmp(jstr(d, "code"), "not_approved"));
    json_decref(d);

    approve(t, &g, "press-1");
    HT_CHECK(t, device_state_is(&g, "press-1", "approved"));
    HT_CHECK(t,
             gcall(&g, "PUT", "/api/v1/devices/press-1/properties/lamp", "true",
                   &d) == 200,
             "approved device refused a command");
    json_decref(d);

    /* Blocked: listed as blocked, commands refused again. */
    HT_CHECK(t, gcall(&g, "POST", "/api/v1/devices/press-1/block", NULL, &d) ==
                        200 &&
                    !strcmp(jstr(d, "state"), "blocked"));
    json_decref(d);
    HT_CHECK(t, gcall(&g, "PUT", "/api/v1/devices/press-1/properties/lamp",
                      "false", NULL) == 403);

    /* Pre-registration: pending, with the broker to use; once only. */
    HT_CHECK(t, gcall(&g, "POST", "/api/v1/devices", "{\"id\":\"cell-7\"}",
                      &d) == 201);
    HT_CHECK(t, !strcmp(jstr(d, "id"), "cell-7") &&
                    !strcmp(jstr(d, "state"), "pending"));
    HT_CHECK(t, json_integer_value(json_object_get(json_object_get(d, "mqtt"),
                                                   "port")) == b.port);
    json_decref(d);
    HT_CHECK(t, gcall(&g, "POST", "/api/v1/devices", "{\"id\":\"cell-7\"}",
                      NULL) == 409);
    /* Its TD arrives later: it stays pending (registered, not approved). */
    struct ht_it_mqtt *pc = ht_it_mqtt_new(b.port, "cell-7-dev", NULL, NULL);
    fake_device(t, pc, "cell-7");
    HT_WAIT(t,
            (gcall(&g, "GET", "/api/v1/devices/cell-7", NULL, &d) == 200 &&
             json_integer_value(json_object_get(d, "td_version")) == 1) ||
                (json_decref(d), false),
            10000);
    HT_CHECK(t, !strcmp(jstr(d, "state"), "pending"));
    json_decref(d);
    ht_it_mqtt_free(pc);
    HT_CHECK(t, gcall(&g, "GET", "/api/v1/devices?state=pending", NULL, &d) ==
                    200);
    HT_CHECK(t, json_array_size(json_object_get(d, "items")) == 1);
    json_decref(d);

    /* Removal clears the retained registration: no ghost comes back. */
    ht_it_stop(t, a, SIGTERM, 10000);
    HT_CHECK(t,
             gcall(&g, "DELETE", "/api/v1/devices/press-1", NULL, NULL) == 204);
    HT_CHECK(t, gcall(&g, "GET", "/api/v1/devices/press-1", NULL, NULL) == 404);
    struct ht_it_mqtt *c = ht_it_mqtt_new(b.port, "probe", NULL, NULL);
    HT_CHECK(t, c && ht_it_mqtt_sub(c, "holotwin/v1/devices/press-1/#") < 128);
    char *m = ht_it_mqtt_wait(c, "holotwin/v1/devices/press-1/td", NULL, 1000);
    HT_CHECK(t, m == NULL || !*m, "retained TD still on the broker: %s", m);
    free(m);
    ht_it_mqtt_free(c);
    HT_CHECK(t, gcall(&g, "GET", "/api/v1/devices/press-1", NULL, NULL) == 404);

    /* The audit log holds the admin actions and the commands. */
    HT_CHECK(t, gcall(&g, "GET", "/api/v1/audit", NULL, &d) == 200);
    HT_CHECK(t, json_array_size(json_object_get(d, "items")) >= 5, "audit");
    json_decref(d);

    int st = ht_it_stop(t, g.pid, SIGTERM, 10000);
    HT_CHECK(t, st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "gatewayd exit %d", st);
    gw_free(&g);
}

static void state_and_history(struct ht_it *t)
{
    struct ht_it_broker b = {0};
    ht_it_broker_start(t, &b, NULL);
    struct gw g = {0};
    gw_start(t, &g, b.port, 0, "gw");
    struct ht_it_mqtt *c = ht_it_mqtt_new(b.port, "fake-dev", NULL, NULL);
    HT_CHECK(t, c != NULL);
    fake_device(t, c, "fake-1");
    HT_WAIT(t, device_state_is(&g, "fake-1", "discovered"), 10000);
    approve(t, &g, "fake-1");
    long long t0 = 1700000000000LL;
    for (int i = 0; i < 50; i++)
        publish_value(t, c, "fake-1", "temp", 20.0 + i, t0 + i * 1000, i);
    HT_WAIT(t, history_count(&g, "fake-1", "temp") == 50, 10000);

    json_t *v;
    HT_CHECK(t, gcall(&g, "GET", "/api/v1/devices/fake-1/properties/temp", NULL,
                      &v) == 200);
    HT_CHECK(t, json_number_value(v) == 69.0, "latest value");
    json_decref(v);
    HT_CHECK(t,
             gcall(&g, "GET", "/api/v1/devices/fake-1/properties/temp?meta=1",
                   NULL, &v) == 200);
    HT_CHECK(t, json_integer_value(json_object_get(v, "ts")) == t0 + 49000);
    HT_CHECK(t, !strcmp(jstr(v, "type"), "number"));
    json_decref(v);

    /* Range + limit keeps the newest rows, oldest first. */
    char path[256];
    snprintf(path, sizeof path,
             "/api/v1/devices/fake-1/properties/temp/history"
             "?from=%lld&to=%lld&limit=5",
             t0 + 10000, t0 + 19000);
    json_t *h;
    HT_CHECK(t, gcall(&g, "GET", path, NULL, &h) == 200);
    json_t *items = json_object_get(h, "items");
    HT_CHECK(t, json_array_size(items) == 5, "%zu", json_array_size(items));
    HT_CHECK(t, json_number_value(
                    json_object_get(json_array_get(items, 0), "v")) == 35.0);
    HT_CHECK(t, json_number_value(
                    json_object_get(json_array_get(items, 4), "v")) == 39.0);
    json_decref(h);
    /* Downsampling: 10 s buckets of 10 samples -> mean, min, max. */
    snprintf(path, sizeof path,
             "/api/v1/devices/fake-1/properties/temp/history"
             "?from=%lld&step=10000",
             t0);
    HT_CHECK(t, gcall(&g, "GET", path, NULL, &h) == 200);
    items = json_object_get(h, "items");
    HT_CHECK(t, json_array_size(items) == 5, "buckets %zu",
             json_array_size(items));
    json_t *b0 = json_array_get(items, 0);
    HT_CHECK(t, json_number_value(json_object_get(b0, "v")) == 24.5);
    HT_CHECK(t, json_number_value(json_object_get(b0, "min")) == 20.0);
    HT_CHECK(t, json_number_value(json_object_get(b0, "max")) == 29.0);
    HT_CHECK(t, json_integer_value(json_object_get(b0, "n")) == 10);
    json_decref(h);
    HT_CHECK(t, gcall(&g, "GET",
                      "/api/v1/devices/fake-1/properties/temp/history"
                      "?limit=abc",
                      NULL, NULL) == 400);

    /* Values of unknown properties are not recorded. */
    publish_value(t, c, "fake-1", "bogus", 1, t0, 1);
    HT_CHECK(t, gcall(&g, "GET", "/api/v1/devices/fake-1/properties/bogus",
                      NULL, NULL) == 404);
    ht_it_mqtt_free(c);
    int st = ht_it_stop(t, g.pid, SIGTERM, 10000);
    HT_CHECK(t, st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    gw_free(&g);
}

static void commands_every_outcome(struct ht_it *t)
{
    struct ht_it_broker b = {0};
    ht_it_broker_start(t, &b, NULL);
    struct gw g = {0};
    gw_start(t, &g, b.port, 0, "gw");
    pid_t a = agent_start(t, g.broker, "demo-1");
    HT_WAIT(t, device_state_is(&g, "demo-1", "discovered"), 15000);
    approve(t, &g, "demo-1");
    HT_WAIT(t, device_online(&g, "demo-1", true), 15000);
    json_t *r;
    /* 200 with the confirmed value. */
    HT_CHECK(t, gcall(&g, "PUT",
                      "/api/v1/devices/demo-1/properties/motor_setpoint", "120",
                      &r) == 200);
    HT_CHECK(t, json_number_value(json_object_get(r, "v")) == 120.0);
    json_decref(r);
    HT_CHECK(t, gcall(&g, "PUT", "/api/v1/devices/demo-1/properties/lamp",
                      "true", &r) == 200 &&
                    json_is_true(json_object_get(r, "v")));
    json_decref(r);
    /* 400: the gateway checks the schema first. */
    HT_CHECK(t, gcall(&g, "PUT",
                      "/api/v1/devices/demo-1/properties/motor_setpoint", "500",
                      &r) == 400);
    HT_CHECK(t, !strcmp(jstr(r, "code"), "out_of_range"), "%s",
             jstr(r, "code"));
    json_decref(r);
    HT_CHECK(t, gcall(&g, "PUT", "/api/v1/devices/demo-1/properties/lamp",
                      "\"on\"", &r) == 400);
    HT_CHECK(t, !strcmp(jstr(r, "code"), "bad_type"));
    json_decref(r);
    HT_CHECK(t, gcall(&g, "PUT", "/api/v1/devices/demo-1/properties/lamp",
                      "{tru", NULL) == 400);
    /* 409 read-only, 404 unknown. */
    HT_CHECK(t, gcall(&g, "PUT", "/api/v1/devices/demo-1/properties/button",
                      "true", NULL) == 409);
    HT_CHECK(t, gcall(&g, "PUT", "/api/v1/devices/demo-1/properties/nope", "1",
                      NULL) == 404);
    HT_CHECK(t, gcall(&g, "PUT", "/api/v1/devices/ghost/properties/lamp",
                      "true", NULL) == 404);
    /* 403: a viewer may not command. */
    json_t *tk;
    HT_CHECK(t, gcall(&g, "POST", "/api/v1/tokens",
                      "{\"role\":\"viewer\",\"name\":\"wall\"}", &tk) == 201);
    char vh[300];
    snprintf(vh, sizeof vh, "Authorization: Bearer %s\r\n", jstr(tk, "token"));
    HT_CHECK(t,
             call(g.http, vh, "PUT", "/api/v1/devices/demo-1/properties/lamp",
                  "true", NULL) == 403);
    json_decref(tk);

    /* 504: a device that never acks. */
    struct ht_it_mqtt *c = ht_it_mqtt_new(b.port, "mute", NULL, NULL);
    fake_device(t, c, "mute-1");
    HT_WAIT(t, device_online(&g, "mute-1", true), 10000);
    approve(t, &g, "mute-1");
    HT_CHECK(t, gcall(&g, "PUT", "/api/v1/devices/mute-1/properties/sp", "10",
                      &r) == 504);
    HT_CHECK(t, !strcmp(jstr(r, "code"), "timeout"));
    json_decref(r);

    /* 503: offline once the agent is gone (its status says so). */
    ht_it_stop(t, a, SIGTERM, 10000);
    HT_WAIT(t, device_online(&g, "demo-1", false), 10000);
    HT_CHECK(t, gcall(&g, "PUT", "/api/v1/devices/demo-1/properties/lamp",
                      "false", &r) == 503);
    HT_CHECK(t, !strcmp(jstr(r, "code"), "offline"));
    json_decref(r);

    /* Metrics count the outcomes. */
    struct ht_it_http mr;
    HT_CHECK(t, ht_it_http(g.http, "GET", "/metrics", g.auth, NULL, &mr) == 0 &&
                    mr.status == 200);
    HT_CHECK(
        t,
        strstr(mr.body, "holotwin_commands_total{status=\"200\"} 2\n") &&
            strstr(mr.body, "holotwin_commands_total{status=\"504\"} 1\n") &&
            strstr(mr.body, "holotwin_commands_total{status=\"503\"} 1\n") &&
            strstr(mr.body, "holotwin_command_latency_seconds_count") &&
            strstr(mr.body, "holotwin_devices{state=\"approved\"} 2\n") &&
            strstr(mr.body, "holotwin_sqlite_dropped_rows_total 0\n") &&
            strstr(mr.body, "holotwin_journal_full_waits_total 0\n") &&
            strstr(mr.body, "holotwin_journal_bytes "),
        "metrics:\n%s", mr.body);
    ht_it_http_free(&mr);

    /* Every command is in the audit log with its result. */
    HT_CHECK(t, gcall(&g, "GET", "/api/v1/audit?device=demo-1&limit=100", NULL,
                      &r) == 200);
    json_t *items = json_object_get(r, "items");
    size_t i, writes = 0, ok = 0;
    json_t *e;
    json_array_foreach(items, i, e)
    {
        if (!strcmp(jstr(e, "action"), "write")) {
            writes++;
            ok += !strcmp(jstr(e, "result"), "ok");
        }
    }
    HT_CHECK(t, writes == 7 && ok == 2, "writes %zu ok %zu", writes, ok);
    json_decref(r);
    ht_it_mqtt_free(c);
    int st = ht_it_stop(t, g.pid, SIGTERM, 10000);
    HT_CHECK(t, st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    gw_free(&g);
}

static void sse_delivery_and_resume(struct ht_it *t)
{
    struct ht_it_broker b = {0};
    ht_it_broker_start(t, &b, NULL);
    struct gw g = {0};
    gw_start(t, &g, b.port, 0, "gw");
    struct ht_it_mqtt *c = ht_it_mqtt_new(b.port, "fake-dev", NULL, NULL);
    fake_device(t, c, "fake-1");
    HT_WAIT(t, device_state_is(&g, "fake-1", "discovered"), 10000);
    approve(t, &g, "fake-1");

    struct ht_it_sse *s =
        ht_it_sse_open(g.http, "/api/v1/events?device=fake-1", g.auth);
    HT_CHECK(t, s && ht_it_sse_status(s) == 200);
    struct ht_it_sse *o = ht_it_sse_open(
        g.http, "/api/v1/devices/fake-1/properties/temp/observe", g.auth);
    HT_CHECK(t, o && ht_it_sse_status(o) == 200);
    publish_value(t, c, "fake-1", "temp", 1, TS0 + 1000, 1);
    char *ev = NULL, *data = NULL, *id = NULL;
    long long last = 0;
    for (int n = 0; n < 1;) {
        HT_CHECK(t, ht_it_sse_next(s, 5000, &ev, &data, &id) == 1, "no event");
        if (ev && !strcmp(ev, "state")) {
            json_t *j = json_loads(data, 0, NULL);
            HT_CHECK(t, !strcmp(jstr(j, "device"), "fake-1") &&
                            json_number_value(json_object_get(j, "v")) == 1.0);
            json_decref(j);
            last = atoll(id);
            n++;
        }
        free(ev);
        free(data);
        free(id);
    }
    /* Observe stream: unnamed events carrying the bare value. */
    HT_CHECK(t, ht_it_sse_next(o, 5000, &ev, &data, NULL) == 1);
    HT_CHECK(t, (!ev || !*ev || !strcmp(ev, "message")) && !strcmp(data, "1"),
             "observe: event '%s' data '%s'", ev ? ev : "", data);
    free(ev);
    free(data);
    ht_it_sse_close(o);
    ht_it_sse_close(s);

    /* Disconnected: values keep coming; the resume sees all, in order. */
    for (int i = 2; i <= 6; i++)
        publish_value(t, c, "fake-1", "temp", i, TS0 + 1000 * i, i);
    HT_WAIT(t, history_count(&g, "fake-1", "temp") == 6, 10000);
    char hdr[600];
    snprintf(hdr, sizeof hdr, "%sLast-Event-ID: %lld\r\n", g.auth, last);
    s = ht_it_sse_open(g.http, "/api/v1/events?device=fake-1", hdr);
    HT_CHECK(t, s && ht_it_sse_status(s) == 200);
    for (int want = 2; want <= 6;) {
        HT_CHECK(t, ht_it_sse_next(s, 5000, &ev, &data, &id) == 1,
                 "resume stopped before value %d", want);
        HT_CHECK(t, atoll(id) > last, "ids must increase");
        last = atoll(id);
        if (ev && !strcmp(ev, "state")) {
            json_t *j = json_loads(data, 0, NULL);
            HT_CHECK(t, json_number_value(json_object_get(j, "v")) == want,
                     "gap: got %s, want %d", data, want);
            json_decref(j);
            want++;
        }
        free(ev);
        free(data);
        free(id);
    }
    ht_it_sse_close(s);
    /* Streams need a token like everything else. */
    s = ht_it_sse_open(g.http, "/api/v1/events", NULL);
    HT_CHECK(t, s && ht_it_sse_status(s) == 401);
    ht_it_sse_close(s);
    ht_it_mqtt_free(c);
    int st = ht_it_stop(t, g.pid, SIGTERM, 10000);
    HT_CHECK(t, st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "exit with open streams: %d", st);
    gw_free(&g);
}

static void auth_matrix(struct ht_it *t)
{
    struct ht_it_broker b = {0};
    ht_it_broker_start(t, &b, NULL);
    struct gw g = {0};
    gw_start(t, &g, b.port, 0, "gw");
    static const char *const roles[] = {"viewer", "operator", "technician",
                                        "admin"};
    char hdr[4][300];
    char vid[40] = "";
    for (int i = 0; i < 4; i++) {
        char body[96];
        snprintf(body, sizeof body, "{\"role\":\"%s\",\"name\":\"t-%s\"}",
                 roles[i], roles[i]);
        json_t *r;
        HT_CHECK(t, gcall(&g, "POST", "/api/v1/tokens", body, &r) == 201);
        snprintf(hdr[i], sizeof hdr[i], "Authorization: Bearer %s\r\n",
                 jstr(r, "token"));
        if (i == 0)
            snprintf(vid, sizeof vid, "%s", jstr(r, "id"));
        json_decref(r);
    }
    /* method, path, body, minimum role index (-1 = open) */
    static const struct {
        const char *m, *p, *body;
        int min;
    } rows[] = {
        {"GET", "/healthz", NULL, -1},
        {"GET", "/api/v1/devices", NULL, 0},
        {"GET", "/api/v1/devices/x-1", NULL, 0},
        {"GET", "/metrics", NULL, 0},
        {"GET", "/things", NULL, 0},
        {"GET", "/.well-known/wot", NULL, 0},
        {"GET", "/api/v1/openapi.yaml", NULL, 0},
        {"PUT", "/api/v1/devices/x-1/properties/lamp", "true", 1},
        {"POST", "/api/v1/devices/x-1/approve", NULL, 2},
        {"POST", "/api/v1/devices/x-1/block", NULL, 2},
        {"DELETE", "/api/v1/devices/x-1", NULL, 2},
        {"POST", "/api/v1/devices", "{\"id\":\"x-2\"}", 2},
        {"GET", "/api/v1/audit", NULL, 2},
        {"GET", "/api/v1/tokens", NULL, 3},
        {"POST", "/api/v1/tokens", "{\"role\":\"viewer\",\"name\":\"n\"}", 3},
    };
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
        json_t *r;
        int st = call(g.http, NULL, rows[k].m, rows[k].p, rows[k].body, &r);
        if (rows[k].min < 0) {
            HT_CHECK(t, st == 200, "%s %s open: %d", rows[k].m, rows[k].p, st);
        } else {
            HT_CHECK(t, st == 401, "%s %s without token: %d", rows[k].m,
                     rows[k].p, st);
            HT_CHECK(t,
                     json_integer_value(json_object_get(r, "status")) == 401);
        }
        json_decref(r);
        st = call(g.http, "Authorization: Bearer ht_wrong\r\n", rows[k].m,
                  rows[k].p, rows[k].body, NULL);
        HT_CHECK(t, rows[k].min < 0 ? st == 200 : st == 401,
                 "%s %s bad token: %d", rows[k].m, rows[k].p, st);
        for (int i = 0; i < 4; i++) {
            st = call(g.http, hdr[i], rows[k].m, rows[k].p, rows[k].body, NULL);
            if (i < rows[k].min)
                HT_CHECK(t, st == 403, "%s %s as %s: %d (want 403)", rows[k].m,
                         rows[k].p, roles[i], st);
            else
                HT_CHECK(t, st != 401 && st != 403, "%s %s as %s: %d",
                         rows[k].m, rows[k].p, roles[i], st);
        }
    }
    /* A deleted token stops working; tokens are listed without secrets. */
    char path[96];
    snprintf(path, sizeof path, "/api/v1/tokens/%s", vid);
    HT_CHECK(t, gcall(&g, "DELETE", path, NULL, NULL) == 204);
    HT_CHECK(t,
             call(g.http, hdr[0], "GET", "/api/v1/devices", NULL, NULL) == 401);
    json_t *l;
    HT_CHECK(t, gcall(&g, "GET", "/api/v1/tokens", NULL, &l) == 200);
    char *dump = json_dumps(l, 0);
    HT_CHECK(t, !strstr(dump, "ht_") && !strstr(dump, "hash"), "%s", dump);
    free(dump);
    json_decref(l);
    ht_it_stop(t, g.pid, SIGTERM, 10000);
    gw_free(&g);
}

/* last_seen of a device as committed in the gateway's database (read
 * beside the running gateway or after it died), or -1. */
static int64_t db_last_seen(struct gw *g, const char *id)
{
    char path[600];
    snprintf(path, sizeof path, "%s/holotwin.db", g->data);
    sqlite3 *db = NULL;
    int64_t v = -1;
    sqlite3_stmt *st = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
        sqlite3_busy_timeout(db, 5000) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT last_seen FROM devices WHERE id=?", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void kill9_loses_nothing(struct ht_it *t)
{
    struct ht_it_broker b = {0};
    ht_it_broker_start(t, &b, NULL);
    struct gw g = {0};
    gw_start(t, &g, b.port, 0, "gw");
    pid_t a = agent_start(t, g.broker, "demo-1");
    struct ht_it_mqtt *c = ht_it_mqtt_new(b.port, "fake-dev", NULL, NULL);
    fake_device(t, c, "fake-1");
    HT_WAIT(t, device_state_is(&g, "demo-1", "discovered"), 15000);
    HT_WAIT(t, device_state_is(&g, "fake-1", "discovered"), 15000);
    approve(t, &g, "demo-1");
    approve(t, &g, "fake-1");
    HT_WAIT(t, device_online(&g, "demo-1", true), 10000);
    json_t *r;
    HT_CHECK(t, gcall(&g, "POST", "/api/v1/tokens",
                      "{\"role\":\"operator\",\"name\":\"op\"}", &r) == 201);
    char oh[300];
    snprintf(oh, sizeof oh, "Authorization: Bearer %s\r\n", jstr(r, "token"));
    json_decref(r);
    HT_CHECK(t,
             call(g.http, oh, "PUT", "/api/v1/devices/demo-1/properties/lamp",
                  "true", NULL) == 200);
    publish_value(t, c, "fake-1", "temp", 1, TS0 + 1000, 1);
    HT_WAIT(t, history_count(&g, "fake-1", "temp") == 1, 10000);
    /* last_seen as set when the value arrived (the fake device is silent
     * from now on) reaches the database with the next periodic flush
     * (reading the history commits only the values). */
    HT_CHECK(t, gcall(&g, "GET", "/api/v1/devices/fake-1", NULL, &r) == 200);
    int64_t sent = json_integer_value(json_object_get(r, "last_seen"));
    json_decref(r);
    HT_WAIT(t, db_last_seen(&g, "fake-1") == sent, 10000,
            "last_seen never persisted");

    kill(g.pid, SIGKILL);
    ht_it_stop(t, g.pid, SIGKILL, 5000);
    int64_t seen = db_last_seen(&g, "fake-1");
    HT_CHECK(t, sent > 0 && seen == sent,
             "last_seen in the database: %lld, in memory: %lld",
             (long long)seen, (long long)sent);
    /* Published while the gateway is down: its persistent session keeps
     * them at the broker. */
    for (int i = 2; i <= 20; i++)
        publish_value(t, c, "fake-1", "temp", i, TS0 + 1000 * i, i);
    gw_start(t, &g, b.port, 0, "gw");
    HT_CHECK(t, device_state_is(&g, "demo-1", "approved"), "device state lost");
    HT_CHECK(t, device_state_is(&g, "fake-1", "approved"));
    HT_CHECK(t, call(g.http, oh, "GET", "/api/v1/devices", NULL, NULL) == 200,
             "operator token lost");
    HT_WAIT(t, history_count(&g, "fake-1", "temp") == 20, 10000,
            "values published while down");
    HT_CHECK(t,
             gcall(&g, "GET", "/api/v1/audit?device=demo-1", NULL, &r) == 200);
    json_t *e = json_array_get(json_object_get(r, "items"), 0);
    HT_CHECK(t,
             !strcmp(jstr(e, "action"), "write") &&
                 !strcmp(jstr(e, "result"), "ok") &&
                 !strcmp(jstr(e, "target"), "lamp"),
             "audit record lost");
    json_decref(r);
    /* And it still commands after the restart. */
    HT_WAIT(t, device_online(&g, "demo-1", true), 10000);
    HT_CHECK(t,
             call(g.http, oh, "PUT", "/api/v1/devices/demo-1/properties/lamp",
                  "false", NULL) == 200);
    ht_it_mqtt_free(c);
    ht_it_stop(t, a, SIGTERM, 10000);
    int st = ht_it_stop(t, g.pid, SIGTERM, 10000);
    HT_CHECK(t, st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    gw_free(&g);
}

static pid_t broker_pid(struct gw *g)
{
    char p[512];
    snprintf(p, sizeof p, "%s/broker/mosquitto.pid", g->data);
    char *s = read_file_line(p);
    pid_t pid = s ? (pid_t)atoi(s) : 0;
    free(s);
    return pid;
}

static void embedded_broker_supervised(struct ht_it *t)
{
    int mq = ht_it_free_port();
    struct gw g = {0};
    gw_start(t, &g, 0, mq, "gw");
    HT_CHECK(t, ht_it_wait_port(mq, 10000), "embedded broker not listening");
    pid_t a = agent_start_provisioned(t, &g, "demo-1");
    HT_WAIT(t, device_online(&g, "demo-1", true), 15000);
    HT_CHECK(t, device_state_is(&g, "demo-1", "pending"));
    approve(t, &g, "demo-1");
    HT_WAIT(t, device_online(&g, "demo-1", true), 10000);
    pid_t bp = broker_pid(&g);
    HT_CHECK(t, bp > 0, "no broker pid file");
    kill(bp, SIGKILL);
    /* Restarted by the gateway: a new pid, the port back, and the agent
     * takes commands through it again. */
    HT_WAIT(t, broker_pid(&g) != bp && broker_pid(&g) > 0, 10000);
    HT_CHECK(t, ht_it_wait_port(mq, 10000));
    HT_WAIT(t,
            gcall(&g, "PUT", "/api/v1/devices/demo-1/properties/lamp", "true",
                  NULL) == 200,
            20000);
    /* /metrics counts the restart (Prometheus text, not JSON). */
    struct ht_it_http mr;
    HT_CHECK(t, ht_it_http(g.http, "GET", "/metrics", g.auth, NULL, &mr) == 0 &&
                    mr.status == 200);
    HT_CHECK(t, strstr(mr.body, "\nholotwin_broker_restarts_total 1\n"),
             "metrics:\n%s", mr.body);
    ht_it_http_free(&mr);
    ht_it_stop(t, a, SIGTERM, 10000);
    pid_t bp2 = broker_pid(&g);
    int st = ht_it_stop(t, g.pid, SIGTERM, 15000);
    HT_CHECK(t, st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    HT_CHECK(t, kill(bp2, 0) != 0, "broker outlived the gateway");
    gw_free(&g);
}

static void hostile_input_changes_nothing(struct ht_it *t)
{
    struct ht_it_broker b = {0};
    ht_it_broker_start(t, &b, NULL);
    struct gw g = {0};
    gw_start(t, &g, b.port, 0, "gw");
    struct ht_it_mqtt *c = ht_it_mqtt_new(b.port, "fake-dev", NULL, NULL);
    fake_device(t, c, "fake-1");
    HT_WAIT(t, device_state_is(&g, "fake-1", "discovered"), 10000);
    static const char *const bad_ids[] = {"a+b", "a%23b",  "..",   "A-1",
                                          "-x",  "%2e%2e", "a%2Fb"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        char p[128];
        snprintf(p, sizeof p, "/api/v1/devices/%s", bad_ids[i]);
        json_t *r;
        int st = gcall(&g, "GET", p, NULL, &r);
        HT_CHECK(t, st == 400 || st == 404, "%s: %d", p, st);
        HT_CHECK(t, json_integer_value(json_object_get(r, "status")) == st,
                 "%s: not problem+json", p);
        json_decref(r);
        snprintf(p, sizeof p, "/api/v1/devices/%s/approve", bad_ids[i]);
        st = gcall(&g, "POST", p, NULL, NULL);
        HT_CHECK(t, st == 400 || st == 404, "%s: %d", p, st);
        char body[96];
        snprintf(body, sizeof body, "{\"id\":\"%s\"}", bad_ids[i]);
        HT_CHECK(t, gcall(&g, "POST", "/api/v1/devices", body, NULL) == 400);
    }
    HT_CHECK(t, gcall(&g, "POST", "/api/v1/devices", "{\"id\":", NULL) == 400);
    HT_CHECK(t, gcall(&g, "POST", "/api/v1/devices", "[1,2]", NULL) == 400);
    HT_CHECK(t, gcall(&g, "POST", "/api/v1/tokens",
                      "{\"role\":\"root\","
                      "\"name\":\"x\"}",
                      NULL) == 400);
    /* Oversized body: 413, nothing created. */
    size_t big = 2 * 1024 * 1024;
    char *huge = malloc(big + 32);
    memcpy(huge, "{\"id\":\"zz-1\",\"pad\":\"", 20);
    memset(huge + 20, 'a', big);
    strcpy(huge + 20 + big, "\"}");
    int st = gcall(&g, "POST", "/api/v1/devices", huge, NULL);
    free(huge);
    HT_CHECK(t, st == 413 || st == -1, "oversized body: %d", st);
    /* Unknown routes and methods. */
    json_t *r;
    HT_CHECK(t, gcall(&g, "GET", "/api/v1/nothing", NULL, &r) == 404);
    HT_CHECK(t, json_integer_value(json_object_get(r, "status")) == 404);
    json_decref(r);
    HT_CHECK(t, gcall(&g, "PATCH", "/api/v1/devices", NULL, NULL) == 405);
    HT_CHECK(t, gcall(&g, "GET", "/../../etc/passwd", NULL, NULL) / 100 == 4);
    HT_CHECK(t, gcall(&g, "GET", "/api/v1/devices/fake-1/properties/a%2Fb",
                      NULL, NULL) /
                        100 ==
                    4);
    /* Hostile MQTT: bad TD, id mismatch, malformed values. */
    HT_CHECK(t, ht_it_mqtt_pub(c, "holotwin/v1/devices/evil-1/td", "{nope", 1,
                               true) == 0);
    HT_CHECK(t, ht_it_mqtt_pub(c, "holotwin/v1/devices/evil-2/td",
                               "{\"id\":\"urn:holotwin:device:other\"}", 1,
                               true) == 0);
    HT_CHECK(t, ht_it_mqtt_pub(c, "holotwin/v1/devices/fake-1/props/temp",
                               "[[[", 1, false) == 0);
    /* Nothing changed: still exactly the one device, still discovered. */
    HT_CHECK(t, gcall(&g, "GET", "/api/v1/devices", NULL, &r) == 200);
    HT_CHECK(t, json_array_size(json_object_get(r, "items")) == 1,
             "devices "
             "changed");
    json_decref(r);
    HT_CHECK(t, device_state_is(&g, "fake-1", "discovered"));
    HT_CHECK(t, gcall(&g, "GET", "/healthz", NULL, NULL) == 200);
    ht_it_mqtt_free(c);
    st = ht_it_stop(t, g.pid, SIGTERM, 10000);
    HT_CHECK(t, st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    gw_free(&g);
}

/* /things TDs (forms pointing at the gateway) pass the W3C validator. */
static void things_pass_w3c_validator(struct ht_it *t)
{
    struct ht_it_broker b = {0};
    ht_it_broker_start(t, &b, NULL);
    struct gw g = {0};
    gw_start(t, &g, b.port, 0, "gw");
    pid_t a = agent_start(t, g.broker, "demo-1");
    HT_WAIT(t, device_state_is(&g, "demo-1", "discovered"), 15000);
    HT_WAIT(t, things_count_is(&g, 1), 15000);
    json_t *list;
    HT_CHECK(t, gcall(&g, "GET", "/things", NULL, &list) == 200);
    HT_CHECK(t, json_array_size(list) == 1);
    json_t *td = json_array_get(list, 0);
    HT_CHECK(t, !strcmp(jstr(td, "id"), "urn:holotwin:device:demo-1"));
    char *s = json_dumps(td, JSON_INDENT(1));
    HT_CHECK(t, strstr(s, "/api/v1/devices/demo-1/properties/lamp"),
             "forms do not point at the gateway");
    char *f = ht_it_write(t, "demo-1.td.json", s);
    free(s);
    json_t *one;
    HT_CHECK(t, gcall(&g, "GET", "/things/urn:holotwin:device:demo-1", NULL,
                      &one) == 200 &&
                    json_equal(one, td));
    json_decref(one);
    json_t *wk;
    HT_CHECK(t, gcall(&g, "GET", "/.well-known/wot", NULL, &wk) == 200);
    s = json_dumps(wk, JSON_INDENT(1));
    char *f2 = ht_it_write(t, "gateway.td.json", s);
    free(s);
    json_decref(wk);
    json_decref(list);
    const char *args[] = {f, f2, NULL};
    char *out = NULL;
    int rc = ht_it_node(t, "validate-td.mjs", args, 60000, &out);
    HT_CHECK(t, rc == 0, "validator: %s", out);
    free(out);
    free(f);
    free(f2);
    HT_CHECK(t, gcall(&g, "GET", "/things?limit=0", NULL, NULL) == 400);
    HT_CHECK(t, gcall(&g, "GET", "/things/nope", NULL, NULL) == 404);
    /* The directory is answered from a cache: it must follow a device that
     * arrives and one that is removed. */
    pid_t a2 = agent_start(t, g.broker, "demo-2");
    HT_WAIT(t, things_count_is(&g, 2), 15000);
    ht_it_stop(t, a, SIGTERM, 10000);
    HT_CHECK(t,
             gcall(&g, "DELETE", "/api/v1/devices/demo-1", NULL, NULL) == 204);
    HT_CHECK(t, gcall(&g, "GET", "/things", NULL, &list) == 200);
    HT_CHECK(t,
             json_array_size(list) == 1 &&
                 !strcmp(jstr(json_array_get(list, 0), "id"),
                         "urn:holotwin:device:demo-2"),
             "/things after a removal");
    json_decref(list);
    ht_it_stop(t, a2, SIGTERM, 10000);
    ht_it_stop(t, g.pid, SIGTERM, 10000);
    gw_free(&g);
}

/* mDNS: an agent that cannot reach any broker still appears as discovered
 * (browse _wot._tcp); the gateway is found as a WoT directory and, with
 * its embedded broker, as _mqtt._tcp, resolved through the other daemon. */
static void mdns_discovers_agents_and_publishes_directory(struct ht_it *t)
{
    struct ht_it_mdns m;
    ht_it_mdns_start(t, &m);
    const char *env[] = {m.bus_a, NULL};
    struct gw g = {0};
    g.data = ht_it_path(t, "gw");
    g.http = ht_it_free_port();
    int mq = ht_it_free_port();
    char http[16], mqs[16], tls[16];
    snprintf(http, sizeof http, "%d", g.http);
    snprintf(mqs, sizeof mqs, "%d", mq);
    snprintf(tls, sizeof tls, "%d", ht_it_free_port());
    char *bin = ht_it_bin("gatewayd");
    const char *argv[] = {bin,      "--data-dir",  g.data,  "--http-port",
                          http,     "--mqtt-port", mqs,     "--gateway-id",
                          "cell-a", "--log-level", "debug", "--mqtt-tls-port",
                          tls,      NULL};
    g.pid = ht_it_spawn(t, "gatewayd", argv, env);
    free(bin);
    HT_CHECK(t, ht_it_wait_port(g.http, 15000));
    char p[512];
    snprintf(p, sizeof p, "%s/admin.token", g.data);
    g.tok = read_file_line(p);
    HT_CHECK(t, g.tok != NULL);
    snprintf(g.auth, sizeof g.auth, "Authorization: Bearer %s\r\n", g.tok);

    /* An agent pointed at a dead broker port: only mDNS can reveal it. */
    char dead[32];
    snprintf(dead, sizeof dead, "127.0.0.1:%d", ht_it_free_port());
    char *ag = ht_it_bin("device-agent");
    const char *aargv[] = {ag,     "--sim",  "--mdns",      "--broker", dead,
                           "--id", "mdns-1", "--http-port", "0",        NULL};
    ht_it_spawn(t, "agent", aargv, env);
    free(ag);
    HT_WAIT(t, device_state_is(&g, "mdns-1", "discovered"), 20000,
            "agent not discovered over mDNS");
    /* A technician registers what mDNS revealed. */
    HT_CHECK(t, gcall(&g, "POST", "/api/v1/devices", "{\"id\":\"mdns-1\"}",
                      NULL) == 201);
    HT_CHECK(t, device_state_is(&g, "mdns-1", "pending"));

    char *out =
        ht_it_mdns_browse(t, &m, "_mqtt._tcp", "holotwin-cell-a", 15000);
    HT_CHECK(t, out && strstr(out, mqs), "_mqtt._tcp not published: %s",
             out ? out : "(nothing)");
    free(out);
    out =
        ht_it_mdns_browse(t, &m, "_secure-mqtt._tcp", "holotwin-cell-a", 15000);
    HT_CHECK(t, out && strstr(out, tls), "_secure-mqtt._tcp not published: %s",
             out ? out : "(nothing)");
    free(out);
    out = ht_it_mdns_browse(t, &m, "_wot._tcp", "type=Directory", 15000);
    HT_CHECK(t,
             out && strstr(out, "holotwin-cell-a") &&
                 strstr(out, "td=/.well-known/wot"),
             "directory not published: %s", out ? out : "(nothing)");
    free(out);
    int st = ht_it_stop(t, g.pid, SIGTERM, 15000);
    HT_CHECK(t, st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    gw_free(&g);
}

/* Eclipse Thingweb node-wot, a third-party WoT consumer, reads and writes a
 * property through the gateway using only the directory TD. */
static void node_wot_reads_and_writes_through_the_gateway(struct ht_it *t)
{
    struct ht_it_broker b = {0};
    ht_it_broker_start(t, &b, NULL);
    struct gw g = {0};
    gw_start(t, &g, b.port, 0, "gw");
    pid_t a = agent_start(t, g.broker, "demo-1");
    HT_WAIT(t, device_state_is(&g, "demo-1", "discovered"), 15000);
    approve(t, &g, "demo-1");
    HT_WAIT(t, device_online(&g, "demo-1", true), 10000);
    /* The lamp has a value to read first. */
    HT_CHECK(t, gcall(&g, "PUT", "/api/v1/devices/demo-1/properties/lamp",
                      "false", NULL) == 200);
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", g.http);
    const char *args[] = {base, g.tok, "demo-1", "lamp", "true", NULL};
    char *out = NULL;
    int rc = ht_it_node(t, "gw-wot-client.mjs", args, 60000, &out);
    HT_CHECK(t,
             rc == 0 && strstr(out, "read false") &&
                 strstr(out, "read-back true"),
             "node-wot: %s", out);
    free(out);
    const char *args2[] = {base, g.tok, "demo-1", "motor_setpoint", "75", NULL};
    rc = ht_it_node(t, "gw-wot-client.mjs", args2, 60000, &out);
    HT_CHECK(t, rc == 0 && strstr(out, "read-back 75"), "node-wot: %s", out);
    free(out);
    /* The writes went through the command path: audited as node-wot's. */
    json_t *r;
    HT_CHECK(t,
             gcall(&g, "GET", "/api/v1/audit?device=demo-1", NULL, &r) == 200);
    size_t i, writes = 0;
    json_t *e;
    json_array_foreach(json_object_get(r, "items"), i, e) writes +=
        !strcmp(jstr(e, "action"), "write") && !strcmp(jstr(e, "result"), "ok");
    HT_CHECK(t, writes == 3, "audited writes: %zu", writes);
    json_decref(r);
    ht_it_stop(t, a, SIGTERM, 10000);
    int st = ht_it_stop(t, g.pid, SIGTERM, 10000);
    HT_CHECK(t, st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    gw_free(&g);
}

static size_t curl_sink(char *p, size_t sz, size_t n, void *ud)
{
    struct ht_it_http *r = ud;
    r->body = realloc(r->body, r->len + sz * n + 1);
    memcpy(r->body + r->len, p, sz * n);
    r->len += sz * n;
    r->body[r->len] = '\0';
    return sz * n;
}

/* HTTPS: the same API over TLS with a certificate the client verifies. */
static void https_serves_the_api(struct ht_it *t)
{
    char *key = ht_it_path(t, "key.pem"), *crt = ht_it_path(t, "cert.pem");
    const char *gen[] = {"/usr/bin/openssl",
                         "req",
                         "-x509",
                         "-newkey",
                         "rsa:2048",
                         "-nodes",
                         "-keyout",
                         key,
                         "-out",
                         crt,
                         "-days",
                         "2",
                         "-subj",
                         "/CN=127.0.0.1",
                         "-addext",
                         "subjectAltName=IP:127.0.0.1",
                         NULL};
    HT_CHECK(t, ht_it_run(t, gen, NULL, 30000, NULL, NULL) == 0,
             "openssl could not make a test certificate");
    struct ht_it_broker b = {0};
    ht_it_broker_start(t, &b, NULL);
    int http = ht_it_free_port();
    char hp[16], br[32];
    snprintf(hp, sizeof hp, "%d", http);
    snprintf(br, sizeof br, "127.0.0.1:%d", b.port);
    char *data = ht_it_path(t, "gw");
    char *bin = ht_it_bin("gatewayd");
    const char *argv[] = {
        bin,         "--data-dir", data, "--http-port", hp,  "--broker", br,
        "--no-mdns", "--tls-cert", crt,  "--tls-key",   key, NULL};
    pid_t pid = ht_it_spawn(t, "gatewayd", argv, NULL);
    HT_CHECK(t, ht_it_wait_port(http, 15000));
    char p[512];
    snprintf(p, sizeof p, "%s/admin.token", data);
    char *tok = read_file_line(p);
    HT_CHECK(t, tok != NULL);
    char url[128], authz[300];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/api/v1/devices", http);
    snprintf(authz, sizeof authz, "Authorization: Bearer %s", tok);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, authz);
    struct ht_it_http r = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, crt);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    HT_CHECK(t, cc == CURLE_OK, "TLS request: %s", curl_easy_strerror(cc));
    HT_CHECK(t, status == 200 && r.body && strstr(r.body, "\"items\""),
             "status %ld body %s", status, r.body ? r.body : "");
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(r.body);
    /* Plain HTTP on the TLS port gets nowhere. */
    struct ht_it_http pr;
    int prc = ht_it_http(http, "GET", "/healthz", NULL, NULL, &pr);
    HT_CHECK(t, prc != 0 || pr.status != 200, "plain HTTP answered on TLS");
    if (prc == 0)
        ht_it_http_free(&pr);
    int st = ht_it_stop(t, pid, SIGTERM, 10000);
    HT_CHECK(t, st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    free(tok);
    free(bin);
    free(data);
    free(key);
    free(crt);
}

static char *header_of(int port, const char *hdrs, const char *path,
                       const char *name, int *status)
{
    struct ht_it_http r;
    *status = -1;
    if (ht_it_http(port, "GET", path, hdrs, NULL, &r) != 0)
        return NULL;
    *status = r.status;
    char *v = ht_it_http_header(&r, name);
    ht_it_http_free(&r);
    return v;
}

/* Static files from the web root: types, ETag/304, no way out; and the
 * header limit. */
static void static_files_and_limits(struct ht_it *t)
{
    struct ht_it_broker b = {0};
    ht_it_broker_start(t, &b, NULL);
    char *root = ht_it_path(t, "web");
    char *sub = ht_it_path(t, "web/holo");
    HT_CHECK(t, mkdir(root, 0755) == 0 && mkdir(sub, 0755) == 0);
    free(ht_it_write(t, "web/index.html", "<!doctype html><p>hi</p>\n"));
    free(ht_it_write(t, "web/app.js", "console.log(1);\n"));
    free(ht_it_write(t, "web/holo/index.html", "<p>holo</p>\n"));
    free(ht_it_write(t, "web/.env", "SECRET=1\n"));
    free(ht_it_write(t, "secret.txt", "outside\n"));
    char *link = ht_it_path(t, "web/leak.txt");
    char *target = ht_it_path(t, "secret.txt");
    HT_CHECK(t, symlink(target, link) == 0);
    free(link);
    free(target);
    struct gw g = {0};
    g.data = ht_it_path(t, "gw");
    g.http = ht_it_free_port();
    char hp[16], br[32];
    snprintf(hp, sizeof hp, "%d", g.http);
    snprintf(br, sizeof br, "127.0.0.1:%d", b.port);
    char *bin = ht_it_bin("gatewayd");
    const char *argv[] = {bin,          "--data-dir", g.data, "--http-port",
                          hp,           "--broker",   br,     "--no-mdns",
                          "--web-root", root,         NULL};
    g.pid = ht_it_spawn(t, "gatewayd", argv, NULL);
    free(bin);
    HT_CHECK(t, ht_it_wait_port(g.http, 15000));

    int st;
    char *ct = header_of(g.http, NULL, "/", "Content-Type", &st);
    HT_CHECK(t, st == 200 && ct && strstr(ct, "text/html"), "/: %d %s", st,
             ct ? ct : "");
    free(ct);
    ct = header_of(g.http, NULL, "/app.js", "Content-Type", &st);
    HT_CHECK(t, st == 200 && ct && strstr(ct, "javascript"));
    free(ct);
    ct = header_of(g.http, NULL, "/holo/", "Content-Type", &st);
    HT_CHECK(t, st == 200 && ct && strstr(ct, "text/html"), "/holo/: %d", st);
    free(ct);
    char *etag = header_of(g.http, NULL, "/app.js", "ETag", &st);
    HT_CHECK(t, st == 200 && etag && *etag == '"');
    char inm[160];
    snprintf(inm, sizeof inm, "If-None-Match: %s\r\n", etag);
    free(header_of(g.http, inm, "/app.js", "ETag", &st));
    HT_CHECK(t, st == 304, "If-None-Match: %d", st);
    free(etag);
    static const char *const bad[] = {
        "/../secret.txt",     "/.env",
        "/leak.txt",          "/holo/../../secret.txt",
        "/%2e%2e/secret.txt", "/nope.html"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ht_it_http r;
        HT_CHECK(t, ht_it_http(g.http, "GET", bad[i], NULL, NULL, &r) == 0);
        HT_CHECK(t,
                 (r.status == 400 || r.status == 404) &&
                     !strstr(r.body, "outside") && !strstr(r.body, "SECRET"),
                 "%s: %d", bad[i], r.status);
        ht_it_http_free(&r);
    }
    /* Oversized request headers are refused, the server stays up. */
    size_t n = 64 * 1024;
    char *big = malloc(n + 32);
    strcpy(big, "X-Big: ");
    memset(big + 7, 'a', n);
    strcpy(big + 7 + n, "\r\n");
    struct ht_it_http r;
    int rc = ht_it_http(g.http, "GET", "/healthz", big, NULL, &r);
    HT_CHECK(t, rc != 0 || r.status / 100 == 4, "big headers: %d", r.status);
    if (rc == 0)
        ht_it_http_free(&r);
    free(big);
    HT_CHECK(t, call(g.http, NULL, "GET", "/healthz", NULL, NULL) == 200);
    st = ht_it_stop(t, g.pid, SIGTERM, 10000);
    HT_CHECK(t, st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    gw_free(&g);
    free(root);
    free(sub);
}

/* A client far behind the in-memory ring (16 events here), even across a
 * gateway restart, is replayed from SQLite without a gap. */
static void sse_resume_from_the_database(struct ht_it *t)
{
    struct ht_it_broker b = {0};
    ht_it_broker_start(t, &b, NULL);
    struct gw g = {0};
    char *cfg = ht_it_write(t, "gw.json", "{\"events\": {\"ring\": 16}}");
    g.data = ht_it_path(t, "gw");
    g.http = ht_it_free_port();
    char hp[16], br[32];
    snprintf(hp, sizeof hp, "%d", g.http);
    snprintf(br, sizeof br, "127.0.0.1:%d", b.port);
    char *bin = ht_it_bin("gatewayd");
    const char *argv[] = {bin,    "--config",    cfg, "--data-dir",
                          g.data, "--http-port", hp,  "--broker",
                          br,     "--no-mdns",   NULL};
    g.pid = ht_it_spawn(t, "gatewayd", argv, NULL);
    HT_CHECK(t, ht_it_wait_port(g.http, 15000));
    char p[512];
    snprintf(p, sizeof p, "%s/admin.token", g.data);
    g.tok = read_file_line(p);
    snprintf(g.auth, sizeof g.auth, "Authorization: Bearer %s\r\n", g.tok);
    struct ht_it_mqtt *c = ht_it_mqtt_new(b.port, "fake-dev", NULL, NULL);
    fake_device(t, c, "fake-1");
    HT_WAIT(t, device_state_is(&g, "fake-1", "discovered"), 10000);
    approve(t, &g, "fake-1");
    /* Where a client stopped reading. */
    struct ht_it_sse *s =
        ht_it_sse_open(g.http, "/api/v1/events?device=fake-1", g.auth);
    publish_value(t, c, "fake-1", "temp", 0, TS0 + 1000, 0);
    char *ev = NULL, *data = NULL, *id = NULL;
    long long last = -1;
    while (last < 0) {
        HT_CHECK(t, ht_it_sse_next(s, 5000, &ev, &data, &id) == 1);
        if (ev && !strcmp(ev, "state"))
            last = atoll(id);
        free(ev);
        free(data);
        free(id);
    }
    ht_it_sse_close(s);
    for (int i = 1; i <= 40; i++)
        publish_value(t, c, "fake-1", "temp", i, TS0 + 1000 + i, i);
    HT_WAIT(t, history_count(&g, "fake-1", "temp") == 41, 10000);
    /* Restart: the ring is empty, the database has it all. */
    HT_CHECK(t, ht_it_stop(t, g.pid, SIGTERM, 10000) == 0);
    g.pid = ht_it_spawn(t, "gatewayd", argv, NULL);
    HT_CHECK(t, ht_it_wait_port(g.http, 15000));
    char hdr[600];
    snprintf(hdr, sizeof hdr, "%sLast-Event-ID: %lld\r\n", g.auth, last);
    s = ht_it_sse_open(g.http, "/api/v1/events?device=fake-1", hdr);
    HT_CHECK(t, s && ht_it_sse_status(s) == 200);
    for (int want = 1; want <= 40;) {
        HT_CHECK(t, ht_it_sse_next(s, 5000, &ev, &data, &id) == 1,
                 "replay stopped before value %d", want);
        HT_CHECK(t, atoll(id) > last);
        last = atoll(id);
        if (ev && !strcmp(ev, "state")) {
            json_t *j = json_loads(data, 0, NULL);
            HT_CHECK(t, json_number_value(json_object_get(j, "v")) == want,
                     "gap: %s, want %d", data, want);
            json_decref(j);
            want++;
        }
        free(ev);
        free(data);
        free(id);
    }
    /* ... and live events follow the replay. */
    publish_value(t, c, "fake-1", "temp", 99, TS0 + 5000, 99);
    bool live = false;
    while (!live) {
        HT_CHECK(t, ht_it_sse_next(s, 5000, &ev, &data, &id) == 1);
        live = ev && !strcmp(ev, "state") && strstr(data, "99");
        free(ev);
        free(data);
        free(id);
    }
    ht_it_sse_close(s);
    ht_it_mqtt_free(c);
    int st = ht_it_stop(t, g.pid, SIGTERM, 10000);
    HT_CHECK(t, st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    free(bin);
    free(cfg);
    gw_free(&g);
}

/* SIGHUP re-reads the config file: reloadable keys apply at once, a
 * malformed file is reported and changes nothing. */
static void sighup_reloads_config(struct ht_it *t)
{
    struct ht_it_broker b = {0};
    ht_it_broker_start(t, &b, NULL);
    char *cfg = ht_it_write(t, "gw.json", "{\"log_level\": \"info\"}");
    struct gw g = {0};
    g.data = ht_it_path(t, "gw");
    g.http = ht_it_free_port();
    char hp[16], br[32];
    snprintf(hp, sizeof hp, "%d", g.http);
    snprintf(br, sizeof br, "127.0.0.1:%d", b.port);
    char *bin = ht_it_bin("gatewayd");
    const char *argv[] = {bin,    "--config",    cfg, "--data-dir",
                          g.data, "--http-port", hp,  "--broker",
                          br,     "--no-mdns",   NULL};
    g.pid = ht_it_spawn(t, "gatewayd", argv, NULL);
    HT_CHECK(t, ht_it_wait_port(g.http, 15000));
    char p[512];
    snprintf(p, sizeof p, "%s/admin.token", g.data);
    g.tok = read_file_line(p);
    snprintf(g.auth, sizeof g.auth, "Authorization: Bearer %s\r\n", g.tok);
    /* auto_approve is reloadable: a device arriving after the reload is
     * approved without a technician. */
    free(ht_it_write(t, "gw.json",
                     "{\"log_level\": \"debug\", "
                     "\"devices\": {\"auto_approve\": true}}"));
    kill(g.pid, SIGHUP);
    char *log = NULL;
    HT_WAIT(t,
            (free(log), log = ht_it_logfile(t, "gatewayd"),
             log && strstr(log, "configuration reloaded")),
            10000);
    free(log);
    log = NULL;
    struct ht_it_mqtt *c = ht_it_mqtt_new(b.port, "fake-dev", NULL, NULL);
    fake_device(t, c, "auto-1");
    HT_WAIT(t, device_state_is(&g, "auto-1", "approved"), 10000);
    free(ht_it_write(t, "gw.json", "{\"log_level\": "));
    kill(g.pid, SIGHUP);
    HT_WAIT(t,
            (free(log), log = ht_it_logfile(t, "gatewayd"),
             log && strstr(log, "config not reloaded")),
            10000);
    free(log);
    HT_CHECK(t, call(g.http, NULL, "GET", "/healthz", NULL, NULL) == 200);
    ht_it_mqtt_free(c);
    int st = ht_it_stop(t, g.pid, SIGTERM, 10000);
    HT_CHECK(t, st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    free(bin);
    free(cfg);
    gw_free(&g);
}

HT_IT_MAIN(HT_IT_CASE(registration_through_approval),
           HT_IT_CASE(state_and_history), HT_IT_CASE(commands_every_outcome),
           HT_IT_CASE(sse_delivery_and_resume), HT_IT_CASE(auth_matrix),
           HT_IT_CASE(kill9_loses_nothing),
           HT_IT_CASE(embedded_broker_supervised),
           HT_IT_CASE(hostile_input_changes_nothing),
           HT_IT_CASE(things_pass_w3c_validator),
           HT_IT_CASE(mdns_discovers_agents_and_publishes_directory),
           HT_IT_CASE(node_wot_reads_and_writes_through_the_gateway),
           HT_IT_CASE(https_serves_the_api),
           HT_IT_CASE(static_files_and_limits),
           HT_IT_CASE(sse_resume_from_the_database),
           HT_IT_CASE(sighup_reloads_config))
