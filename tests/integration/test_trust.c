/* test_trust.c - a twin a plant engineer can trust (issue 13), with a real
 * mosquitto, a real gatewayd, a real sim board and real HTTP:
 *
 * - the restart matrix: gatewayd kill -9 and clean stop, the broker killed
 *   with and without persistence, the board restarted, the board's link to
 *   the broker cut (SIGSTOP past its keepalive) and restored. In each row
 *   the twin's `stable`, its rule states and every property value are the
 *   same as before within 2 s of the part coming back, with quality `good`
 *   in the twin and on the device, and the history holds no duplicate;
 * - a command to a frozen board answers 504 and never acts afterwards: the
 *   board refuses it (`expired`), the audit log keeps `timeout` and the
 *   late ack, `gwctl audit` shows both;
 * - a command redelivered after a broker restart is applied once;
 * - a request retried with the same Idempotency-Key gets the first outcome
 *   and sends no second command.
 *
 * The board is a sim whose values move only when told to (no timer
 * republishes anything), so "equal before and after" is exact. */
#include "harness.h"

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include <pthread.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* The issue's bound: every property known, true and good this long after
 * the restarted part is back. */
#define WITHIN_MS 2000
#define BOARD "quiet-1"
#define DEV "/api/v1/devices/" BOARD
#define TOPIC(rest) "holotwin/v1/devices/" BOARD "/" rest

/* A board whose values stand still: an input, two outputs (the lamp starts
 * on), a setpoint and a simulated temperature held at ambient. Keepalive 5 s
 * (the shortest the agent takes) so that a frozen board is noticed by the
 * broker within 7.5 s. */
#define QUIET_BOARD(TEMP_EXTRA)                                                \
    "{\"id\":\"" BOARD "\",\"title\":\"Quiet board\","                         \
    "\"gpio\":{\"backend\":\"sim\",\"lines\":8},"                              \
    "\"mqtt\":{\"keepalive\":5},"                                              \
    "\"capabilities\":["                                                       \
    "{\"name\":\"button\",\"kind\":\"input\",\"type\":\"ht:Button\","          \
    "\"title\":\"Button\",\"line\":0},"                                        \
    "{\"name\":\"lamp\",\"kind\":\"output\",\"type\":\"ht:Lamp\","             \
    "\"title\":\"Lamp\",\"line\":1,\"initial\":true},"                         \
    "{\"name\":\"heater\",\"kind\":\"output\",\"type\":\"ht:Heater\","         \
    "\"title\":\"Heater\",\"line\":2},"                                        \
    "{\"name\":\"sp\",\"kind\":\"setpoint\",\"type\":\"ht:SpeedSetpoint\","    \
    "\"title\":\"Setpoint\",\"initial\":5,\"minimum\":0,\"maximum\":200},"     \
    "{\"name\":\"temperature\",\"kind\":\"analog\",\"type\":\"ht:"             \
    "Temperature\","                                                           \
    "\"title\":\"Temperature\",\"sim\":true,\"period_ms\":1000,"               \
    "\"decimals\":1" TEMP_EXTRA "}],"                                          \
    "\"plant\":{\"thermal\":[{\"heater\":\"heater\",\"sensor\":"               \
    "\"temperature\",\"start\":25,\"ambient\":25}]}}"
static const char quiet_board[] = QUIET_BOARD("");
/* The same board whose temperature promises a heartbeat every 500 ms. */
static const char heartbeat_board[] =
    QUIET_BOARD(",\"publish\":{\"max_interval_ms\":500}");
static const char *const props[] = {"button", "lamp", "heater", "sp",
                                    "temperature"};
#define NPROPS (sizeof props / sizeof *props)

/* One twin over the board: a critical and a warning rule that hold (the
 * twin is stable), two info rules that follow the lamp and the button. */
static const char cell_twin[] =
    "{\"id\":\"cell\",\"title\":\"Quiet cell\",\"components\":[{\"id\":"
    "\"panel\",\"kind\":\"generic\",\"properties\":["
    "{\"name\":\"button\",\"bind\":\"" BOARD "/button\",\"type\":\"boolean\"},"
    "{\"name\":\"lamp\",\"bind\":\"" BOARD "/lamp\",\"type\":\"boolean\","
    "\"writable\":true},"
    "{\"name\":\"heater\",\"bind\":\"" BOARD "/heater\",\"type\":\"boolean\","
    "\"writable\":true},"
    "{\"name\":\"sp\",\"bind\":\"" BOARD "/sp\",\"type\":\"number\","
    "\"writable\":true,\"minimum\":0,\"maximum\":200},"
    "{\"name\":\"temperature\",\"bind\":\"" BOARD "/temperature\","
    "\"type\":\"number\"}]}],"
    "\"rules\":["
    "{\"id\":\"too-hot\",\"severity\":\"critical\",\"message\":\"hot\","
    "\"expr\":\"panel.temperature > 60\"},"
    "{\"id\":\"sp-high\",\"severity\":\"warning\",\"message\":\"fast\","
    "\"expr\":\"panel.sp > 150\"},"
    "{\"id\":\"lamp-on\",\"severity\":\"info\",\"message\":\"lamp\","
    "\"expr\":\"panel.lamp\"},"
    "{\"id\":\"pressed\",\"severity\":\"info\",\"message\":\"button\","
    "\"expr\":\"panel.button\"}]}";

struct env {
    struct ht_it_broker b;
    int http;
    pid_t gw;
    pid_t board;
    char *data;             /* gateway data dir (new) */
    char *ctl;              /* the board's control socket (new) */
    char auth[256];         /* "Authorization: Bearer ADMIN\r\n" */
    const char *timeout_ms; /* --command-timeout-ms */
    const char *board_conf; /* NULL: quiet_board */
};

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* Wall-clock ms, the clock of command deadlines and audit times. */
static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void broker_start(struct ht_it *t, struct env *e, bool persist)
{
    char *extra = NULL;
    if (persist) {
        char *dir = ht_it_path(t, "broker-db");
        HT_CHECK(t, asprintf(&extra,
                             "persistence true\npersistence_location %s/\n"
                             "autosave_interval 1\n",
                             dir) > 0);
        free(dir);
    }
    ht_it_broker_start(t, &e->b, extra);
    free(extra);
}

/* Start gatewayd against the case's broker, auto-approving boards. */
static void gw_start(struct ht_it *t, struct env *e)
{
    char broker[64], http[16];
    snprintf(broker, sizeof broker, "127.0.0.1:%d", e->b.port);
    if (!e->http)
        e->http = ht_it_free_port();
    snprintf(http, sizeof http, "%d", e->http);
    if (!e->data)
        e->data = ht_it_path(t, "data");
    char *bin = ht_it_bin("gatewayd");
    const char *argv[] = {bin,
                          "--broker",
                          broker,
                          "--http-port",
                          http,
                          "--data-dir",
                          e->data,
                          "--no-mdns",
                          "--auto-approve",
                          "--log-level",
                          "debug",
                          "--command-timeout-ms",
                          e->timeout_ms ? e->timeout_ms : "1500",
                          NULL};
    e->gw = ht_it_spawn(t, "gatewayd", argv, NULL);
    free(bin);
    HT_CHECK(t, ht_it_wait_port(e->http, 15000), "gatewayd not listening: %s",
             ht_it_logfile(t, "gatewayd"));
    char path[512];
    snprintf(path, sizeof path, "%s/admin.token", e->data);
    FILE *f = fopen(path, "r");
    HT_CHECK(t, f, "no %s", path);
    char tok[160] = "";
    HT_CHECK(t, fgets(tok, sizeof tok, f) != NULL);
    fclose(f);
    tok[strcspn(tok, "\r\n")] = '\0';
    snprintf(e->auth, sizeof e->auth, "Authorization: Bearer %s\r\n", tok);
}

static void board_start(struct ht_it *t, struct env *e)
{
    char broker[64];
    snprintf(broker, sizeof broker, "127.0.0.1:%d", e->b.port);
    char *cfg = ht_it_write(t, "quiet.json",
                            e->board_conf ? e->board_conf : quiet_board);
    if (!e->ctl)
        e->ctl = ht_it_path(t, "quiet.sock");
    unlink(e->ctl);
    char *bin = ht_it_bin("device-agent");
    const char *argv[] = {bin,         "--config",  cfg,    "--broker", broker,
                          "--no-mdns", "--control", e->ctl, NULL};
    e->board = ht_it_spawn(t, "agent", argv, NULL);
    free(bin);
    free(cfg);
    HT_WAIT(t, access(e->ctl, F_OK) == 0 || !ht_it_alive(t, e->board), 10000,
            "control socket of the board");
    HT_CHECK(t, ht_it_alive(t, e->board), "agent exited: %s",
             ht_it_logfile(t, "agent"));
}

/* One line on the board's control socket; the reply (new). */
static char *ctl(struct ht_it *t, struct env *e, const char *cmd)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", e->ctl);
    HT_CHECK(t, connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0,
             "connect %s", e->ctl);
    char line[256];
    snprintf(line, sizeof line, "%s\n", cmd);
    HT_CHECK(t, write(fd, line, strlen(line)) == (ssize_t)strlen(line));
    char buf[512];
    size_t len = 0;
    while (len < sizeof buf - 1) {
        ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        if (memchr(buf, '\n', len))
            break;
    }
    close(fd);
    buf[len] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return strdup(buf);
}

static void board_expect(struct ht_it *t, struct env *e, const char *cmd,
                         const char *want)
{
    char *r = ctl(t, e, cmd);
    HT_CHECK(t, !strcmp(r, want), "board '%s': '%s', expected '%s'", cmd, r,
             want);
    free(r);
}

/* A number the board holds ("get NAME" on its control socket). */
static double board_num(struct ht_it *t, struct env *e, const char *name)
{
    char cmd[64];
    snprintf(cmd, sizeof cmd, "get %s", name);
    char *r = ctl(t, e, cmd);
    HT_CHECK(t, !strncmp(r, "ok ", 3), "board '%s': '%s'", cmd, r);
    double v = atof(r + 3);
    free(r);
    return v;
}

static int call_h(struct env *e, const char *hdr, const char *method,
                  const char *path, const char *body, json_t **out)
{
    struct ht_it_http r;
    if (out)
        *out = NULL;
    if (ht_it_http(e->http, method, path, hdr, body, &r) != 0)
        return -1;
    int st = r.status;
    if (out)
        *out = ht_it_http_json(&r);
    ht_it_http_free(&r);
    return st;
}

static int call(struct env *e, const char *method, const char *path,
                const char *body, json_t **out)
{
    return call_h(e, e->auth, method, path, body, out);
}

/* A new token: the "Authorization: ..." header line (new). */
static char *token_hdr(struct ht_it *t, struct env *e, const char *role,
                       const char *name)
{
    char body[160];
    snprintf(body, sizeof body, "{\"role\":\"%s\",\"name\":\"%s\"}", role,
             name);
    json_t *o;
    HT_CHECK(t, call(e, "POST", "/api/v1/tokens", body, &o) == 201);
    char *h;
    HT_CHECK(t, asprintf(&h, "Authorization: Bearer %s\r\n", jstr(o, "token")) >
                    0);
    json_decref(o);
    return h;
}

static bool device_online(struct env *e, bool online)
{
    json_t *d;
    bool ok = call(e, "GET", DEV, NULL, &d) == 200 &&
              json_is_boolean(json_object_get(d, "online")) &&
              json_is_true(json_object_get(d, "online")) == online;
    json_decref(d);
    return ok;
}

static void put_prop(struct ht_it *t, struct env *e, const char *name,
                     const char *v)
{
    char path[128];
    snprintf(path, sizeof path, DEV "/properties/%s", name);
    json_t *r;
    int st = call(e, "PUT", path, v, &r);
    char *s = r ? json_dumps(r, JSON_COMPACT) : NULL;
    HT_CHECK(t, st == 200, "PUT %s %s: %d %s", name, v, st, s ? s : "");
    free(s);
    json_decref(r);
}

/* ---- what the gateway says about the board and the twin ---- */

/* One look at everything the matrix compares (new), or NULL while the
 * gateway cannot answer (starting, state being computed):
 * {"stable":b, "rules":{id:state}, "twin":{ref:{"value","quality"}},
 *  "device":{name:{"v","quality"}}} */
static json_t *observe(struct env *e)
{
    json_t *st = NULL, *dev = NULL, *o = NULL;
    if (call(e, "GET", "/api/v1/twins/cell/state", NULL, &st) != 200 ||
        call(e, "GET", DEV, NULL, &dev) != 200)
        goto out;
    o = json_pack("{s:O?, s:{}, s:{}, s:{}}", "stable",
                  json_object_get(st, "stable"), "rules", "twin", "device");
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(st, "rules"), k, v) json_object_set_new(
        json_object_get(o, "rules"), k, json_string(jstr(v, "state")));
    json_object_foreach(json_object_get(st, "properties"), k, v)
        json_object_set_new(json_object_get(o, "twin"), k,
                            json_pack("{s:O?, s:s}", "value",
                                      json_object_get(v, "value"), "quality",
                                      jstr(v, "quality")));
    json_object_foreach(json_object_get(dev, "properties"), k, v)
        json_object_set_new(json_object_get(o, "device"), k,
                            json_pack("{s:O?, s:s}", "v",
                                      json_object_get(v, "v"), "quality",
                                      jstr(v, "quality")));
out:
    json_decref(st);
    json_decref(dev);
    return o;
}

/* The board's last_seen (0 when unknown). */
static long long last_seen(struct env *e)
{
    json_t *d;
    long long v = 0;
    if (call(e, "GET", DEV, NULL, &d) == 200)
        v = json_integer_value(json_object_get(d, "last_seen"));
    json_decref(d);
    return v;
}

/* True when /healthz says the gateway is (or is not) on the broker. */
static bool gw_mqtt(struct env *e, bool up)
{
    json_t *h;
    bool ok = call(e, "GET", "/healthz", NULL, &h) == 200 &&
              json_is_true(json_object_get(h, "mqtt")) == up &&
              (!up || json_is_true(json_object_get(h, "mqtt_ready")));
    json_decref(h);
    return ok;
}

/* Every twin property (and, with device, every device property) of the
 * observation has quality q. */
static bool all_quality(const json_t *o, const char *q, bool device)
{
    if (!o || json_object_size(json_object_get(o, "twin")) != NPROPS)
        return false;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(o, "twin"), k,
                        v) if (strcmp(jstr(v, "quality"), q)) return false;
    if (!device)
        return true;
    for (size_t i = 0; i < NPROPS; i++) {
        json_t *p = json_object_get(json_object_get(o, "device"), props[i]);
        if (strcmp(jstr(p, "quality"), q))
            return false;
    }
    return true;
}

/* The observation now equals before, all good, the gateway is on the
 * broker and has heard from the board since last_seen was seen; the first
 * difference is written to why. */
static bool same_as(struct env *e, const json_t *before, long long seen,
                    char *why, size_t len)
{
    json_t *now = observe(e);
    bool ok = false;
    char *a = NULL, *b = NULL;
    if (!gw_mqtt(e, true)) {
        snprintf(why, len, "the gateway is not back on the broker");
        goto out;
    }
    if (last_seen(e) <= seen) {
        snprintf(why, len, "nothing heard from the board since the restart");
        goto out;
    }
    if (!now) {
        snprintf(why, len, "the gateway does not answer yet");
        goto out;
    }
    if (!all_quality(now, "good", true)) {
        a = json_dumps(now, JSON_COMPACT);
        snprintf(why, len, "quality not good everywhere: %s", a);
        goto out;
    }
    if (!json_equal(now, (json_t *)before)) {
        a = json_dumps(now, JSON_COMPACT);
        b = json_dumps(before, JSON_COMPACT);
        snprintf(why, len, "now %s\nbefore %s", a, b);
        goto out;
    }
    ok = true;
out:
    free(a);
    free(b);
    json_decref(now);
    return ok;
}

/* History rows of each property: counts into n[], and true when no two
 * rows of one property have the same ts (a snapshot stored twice). */
static bool history(struct ht_it *t, struct env *e, size_t n[NPROPS], char *why,
                    size_t len)
{
    bool ok = true;
    for (size_t i = 0; i < NPROPS; i++) {
        char path[160];
        snprintf(path, sizeof path, DEV "/properties/%s/history?limit=100000",
                 props[i]);
        json_t *h;
        HT_CHECK(t, call(e, "GET", path, NULL, &h) == 200, "history %s",
                 props[i]);
        json_t *items = json_object_get(h, "items");
        n[i] = json_array_size(items);
        for (size_t j = 1; j < n[i]; j++) {
            json_int_t t0 = json_integer_value(
                json_object_get(json_array_get(items, j - 1), "ts"));
            json_int_t t1 = json_integer_value(
                json_object_get(json_array_get(items, j), "ts"));
            if (t1 <= t0 && ok) {
                char *s = json_dumps(items, JSON_COMPACT);
                snprintf(why, len, "%s history repeats or goes back: %s",
                         props[i], s);
                free(s);
                ok = false;
            }
        }
        json_decref(h);
    }
    return ok;
}

/* ---- the restart matrix ---- */

enum row {
    GW_KILL9,
    GW_STOP,
    BROKER_KILL,
    BROKER_KILL_PERSISTENT,
    BOARD_RESTART,
    LINK_CUT,
};

/* Wait until the board is marked offline everywhere, its values kept. */
static void expect_offline(struct ht_it *t, struct env *e, const json_t *before,
                           int timeout_ms)
{
    HT_WAIT(t, device_online(e, false), timeout_ms, "board never offline");
    json_t *o = NULL;
    HT_WAIT(t,
            (json_decref(o), o = observe(e)) && all_quality(o, "offline", true),
            5000, "quality not offline: %s",
            o ? json_dumps(o, JSON_COMPACT) : "no answer");
    /* The last values are kept, marked. */
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(before, "twin"), k, v)
    {
        json_t *now = json_object_get(json_object_get(o, "twin"), k);
        HT_CHECK(t,
                 json_equal(json_object_get(now, "value"),
                            json_object_get(v, "value")),
                 "offline %s lost its value", k);
    }
    json_decref(o);
}

static void restart_row(struct ht_it *t, enum row row)
{
    struct env e = {0};
    broker_start(t, &e, row == BROKER_KILL_PERSISTENT);
    gw_start(t, &e);
    HT_CHECK(t, call(&e, "PUT", "/api/v1/twins/cell", cell_twin, NULL) == 201);
    board_start(t, &e);
    HT_WAIT(t, device_online(&e, true), 15000, "board never online");
    /* A restarted board starts from its configuration; everywhere else the
     * state set by commands must survive. */
    if (row != BOARD_RESTART) {
        put_prop(t, &e, "sp", "42");
        put_prop(t, &e, "lamp", "false");
    }
    json_t *before = NULL;
    HT_WAIT(
        t,
        (json_decref(before), before = observe(&e)) &&
            all_quality(before, "good", false) &&
            json_number_value(json_object_get(
                json_object_get(json_object_get(before, "twin"), "panel.sp"),
                "value")) == (row == BOARD_RESTART ? 5 : 42),
        10000, "twin never settled: %s",
        before ? json_dumps(before, JSON_COMPACT) : "no answer");
    HT_CHECK(t, json_is_true(json_object_get(before, "stable")),
             "twin not stable before: %s", json_dumps(before, JSON_COMPACT));
    HT_CHECK(t, all_quality(before, "good", true),
             "device properties without quality good: %s",
             json_dumps(before, JSON_COMPACT));
    char why[4096] = "";
    size_t n0[NPROPS], n1[NPROPS];
    HT_CHECK(t, history(t, &e, n0, why, sizeof why), "%s", why);

    long long seen = last_seen(&e);
    HT_CHECK(t, seen > 0);
    /* A probe for the gateway's snapshot request. */
    struct ht_it_mqtt *probe = NULL;
    long long back = 0;
    switch (row) {
    case GW_KILL9:
    case GW_STOP:
        probe = ht_it_mqtt_new(e.b.port, "probe", NULL, NULL);
        HT_CHECK(t, probe && ht_it_mqtt_sub(probe, "holotwin/v1/sync") == 1);
        if (row == GW_KILL9)
            ht_it_stop(t, e.gw, SIGKILL, 5000);
        else
            HT_CHECK(t, ht_it_stop(t, e.gw, SIGTERM, 10000) == 0,
                     "gatewayd did not stop cleanly");
        gw_start(t, &e);
        back = mono_ms();
        break;
    case BROKER_KILL:
    case BROKER_KILL_PERSISTENT:
        ht_it_sleep_ms(row == BROKER_KILL_PERSISTENT ? 1500 : 0); /* saved */
        ht_it_stop(t, e.b.pid, SIGKILL, 5000);
        e.b.pid = 0;
        HT_WAIT(t, gw_mqtt(&e, false), 5000, "the gateway missed the outage");
        ht_it_broker_restart(t, &e.b);
        back = mono_ms();
        break;
    case BOARD_RESTART:
        ht_it_stop(t, e.board, SIGKILL, 5000);
        expect_offline(t, &e, before, 10000);
        board_start(t, &e);
        back = mono_ms();
        break;
    case LINK_CUT:
        /* Frozen past 1.5 keepalives: the broker drops the connection and
         * publishes the board's Will; the board finds out when it runs. */
        kill(e.board, SIGSTOP);
        expect_offline(t, &e, before, 20000);
        kill(e.board, SIGCONT);
        back = mono_ms();
        break;
    }
    HT_WAIT(t, same_as(&e, before, seen, why, sizeof why), WITHIN_MS,
            "not the same within %d ms of the restart: %s", WITHIN_MS, why);
    ht_it_log(t, "same again %lld ms after the restart", mono_ms() - back);
    if (probe) {
        char *m = ht_it_mqtt_wait(probe, "holotwin/v1/sync", NULL, 1000);
        HT_CHECK(t, m, "gatewayd did not ask the boards for a snapshot");
        free(m);
        ht_it_mqtt_free(probe);
    }
    /* Nothing stored twice, nothing went back. A restarted board sampled
     * anew (new ts): one new row per property at most. */
    HT_CHECK(t, history(t, &e, n1, why, sizeof why), "%s", why);
    for (size_t i = 0; i < NPROPS; i++)
        HT_CHECK(t, row == BOARD_RESTART ? n1[i] <= n0[i] + 1 : n1[i] == n0[i],
                 "%s: %zu history rows before, %zu after", props[i], n0[i],
                 n1[i]);
    /* And it still commands. */
    put_prop(t, &e, "sp", "7");
    HT_CHECK(t, board_num(t, &e, "sp") == 7, "setpoint not applied");
    json_decref(before);
    ht_it_stop(t, e.board, SIGTERM, 10000);
    HT_CHECK(t, ht_it_stop(t, e.gw, SIGTERM, 10000) == 0,
             "gatewayd did not stop cleanly");
    free(e.data);
    free(e.ctl);
}

static void gatewayd_kill9_keeps_the_twin_true(struct ht_it *t)
{
    restart_row(t, GW_KILL9);
}

static void gatewayd_clean_stop_keeps_the_twin_true(struct ht_it *t)
{
    restart_row(t, GW_STOP);
}

static void broker_killed_keeps_the_twin_true(struct ht_it *t)
{
    restart_row(t, BROKER_KILL);
}

static void persistent_broker_killed_keeps_the_twin_true(struct ht_it *t)
{
    restart_row(t, BROKER_KILL_PERSISTENT);
}

static void board_restart_keeps_the_twin_true(struct ht_it *t)
{
    restart_row(t, BOARD_RESTART);
}

static void link_cut_and_restored_keeps_the_twin_true(struct ht_it *t)
{
    restart_row(t, LINK_CUT);
}

/* ---- commands ---- */

/* A board ready for commands: broker, gateway (timeout_ms), the board
 * approved and online. */
static void setup(struct ht_it *t, struct env *e, const char *timeout_ms)
{
    e->timeout_ms = timeout_ms;
    broker_start(t, e, false);
    gw_start(t, e);
    board_start(t, e);
    HT_WAIT(t, device_online(e, true), 15000, "board never online");
    json_t *d = NULL;
    HT_WAIT(t,
            (json_decref(d),
             call(e, "GET", DEV "/properties/lamp", NULL, &d)) == 200 &&
                json_is_true(d),
            10000, "lamp value never arrived");
    json_decref(d);
}

static void teardown(struct ht_it *t, struct env *e)
{
    ht_it_stop(t, e->board, SIGTERM, 10000);
    HT_CHECK(t, ht_it_stop(t, e->gw, SIGTERM, 10000) == 0,
             "gatewayd did not stop cleanly");
    free(e->data);
    free(e->ctl);
}

/* The audit records of writes to the board's property (new array). */
static json_t *audit_writes(struct ht_it *t, struct env *e, const char *query)
{
    char path[256];
    snprintf(path, sizeof path, "/api/v1/audit?device=" BOARD "&action=write%s",
             query);
    json_t *r;
    HT_CHECK(t, call(e, "GET", path, NULL, &r) == 200, "GET %s", path);
    json_t *items = json_incref(json_object_get(r, "items"));
    json_decref(r);
    HT_CHECK(t, json_is_array(items));
    return items;
}

static bool late_ack_recorded(struct ht_it *t, struct env *e)
{
    json_t *w = audit_writes(t, e, "&result=timeout");
    json_t *late = json_object_get(json_array_get(w, 0), "late_ack");
    bool ok = json_array_size(w) == 1 && json_is_object(late);
    json_decref(w);
    return ok;
}

static void frozen_board_504_never_acts_later(struct ht_it *t)
{
    struct env e = {0};
    setup(t, &e, "1500");
    char *op = token_hdr(t, &e, "operator", "line-3 tablet");
    board_expect(t, &e, "get lamp", "ok true");

    kill(e.board, SIGSTOP);
    long long sent = now_ms();
    json_t *r;
    HT_CHECK(t,
             call_h(&e, op, "PUT", DEV "/properties/lamp", "false", &r) == 504);
    HT_CHECK(t, !strcmp(jstr(r, "code"), "timeout"), "code %s",
             jstr(r, "code"));
    json_decref(r);
    kill(e.board, SIGCONT);

    /* The board gets the command now, past its deadline: it refuses it,
     * and the gateway records that late ack. Whatever it did, the lamp is
     * what it was before the 504. */
    int waited = 0;
    while (waited < 5000 && !late_ack_recorded(t, &e)) {
        ht_it_sleep_ms(50);
        waited += 50;
    }
    board_expect(t, &e, "get lamp", "ok true");
    HT_CHECK(t,
             call(&e, "GET", DEV "/properties/lamp", NULL, &r) == 200 &&
                 json_is_true(r),
             "the gateway's lamp changed after the 504");
    json_decref(r);

    /* The audit record: who, what, when, outcome, latency, then the late
     * ack next to the timeout. */
    json_t *w = audit_writes(t, &e, "&result=timeout");
    char *s = json_dumps(w, JSON_COMPACT);
    HT_CHECK(t, json_array_size(w) == 1, "timeout records: %s", s);
    json_t *a = json_array_get(w, 0);
    json_t *late = json_object_get(a, "late_ack");
    HT_CHECK(t, !strcmp(jstr(a, "who"), "line-3 tablet"), "who: %s", s);
    HT_CHECK(t,
             !strcmp(jstr(a, "target"), "lamp") &&
                 !strcmp(jstr(a, "value"), "false"),
             "what: %s", s);
    HT_CHECK(t, json_integer_value(json_object_get(a, "status")) == 504, "%s",
             s);
    long long ts = json_integer_value(json_object_get(a, "sent"));
    HT_CHECK(t, ts >= sent - 1000 && ts <= sent + 1000, "sent: %s", s);
    HT_CHECK(t, json_integer_value(json_object_get(a, "latency_ms")) >= 1400,
             "latency: %s", s);
    HT_CHECK(t, json_integer_value(json_object_get(a, "deadline")) >= ts + 1400,
             "deadline: %s", s);
    HT_CHECK(t, strlen(jstr(a, "command_id")) > 0, "command id: %s", s);
    HT_CHECK(t,
             json_is_object(late) && !strcmp(jstr(late, "result"), "expired"),
             "late ack: %s", s);
    HT_CHECK(t, json_integer_value(json_object_get(late, "ts")) >= ts, "%s", s);
    free(s);
    json_decref(w);

    /* Filters: the result, the token name, a time window. */
    char q[160];
    w = audit_writes(t, &e, "&who=nobody");
    HT_CHECK(t, json_array_size(w) == 0, "who filter");
    json_decref(w);
    snprintf(q, sizeof q, "&from=%lld", now_ms() + 60000);
    w = audit_writes(t, &e, q);
    HT_CHECK(t, json_array_size(w) == 0, "from filter");
    json_decref(w);
    HT_CHECK(t, call(&e, "GET", "/api/v1/audit?limit=abc", NULL, NULL) == 400);
    HT_CHECK(t,
             call(&e, "GET", "/api/v1/audit?result=x%2Fy", NULL, NULL) == 400);

    /* gwctl audit: the same, for a person and for a script. */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", e.http);
    char *tok = strdup(e.auth + strlen("Authorization: Bearer "));
    tok[strcspn(tok, "\r\n")] = '\0';
    char *bin = ht_it_bin("gwctl");
    const char *argv[] = {bin,     "--gateway", url,   "--token", tok,
                          "audit", "--device",  BOARD, NULL};
    char *out = NULL, *err = NULL;
    HT_CHECK(t, ht_it_run(t, argv, NULL, 10000, &out, &err) == 0,
             "gwctl audit: %s", err ? err : "");
    HT_CHECK(t,
             out && strstr(out, "timeout") &&
                 strstr(out, "late ack: expired") &&
                 strstr(out, "line-3 tablet"),
             "gwctl audit:\n%s", out ? out : "");
    free(out);
    free(err);
    const char *argj[] = {bin,        "--gateway", url,        "--token",
                          tok,        "audit",     "--device", BOARD,
                          "--result", "timeout",   "--json",   NULL};
    HT_CHECK(t, ht_it_run(t, argj, NULL, 10000, &out, &err) == 0,
             "gwctl audit --json: %s", err ? err : "");
    json_t *j = json_loads(out ? out : "", 0, NULL);
    HT_CHECK(t, json_array_size(j) == 1, "gwctl audit --json: %s",
             out ? out : "");
    json_decref(j);
    free(out);
    free(err);
    free(bin);
    free(tok);
    free(op);
    teardown(t, &e);
}

/* The command as the gateway sent it, with its MQTT 5 expiry interval. */
struct captured {
    pthread_mutex_t lock;
    char payload[512];
    char resp[160];
    int expiry; /* -1: none */
    int n;
};

static void cap_on_message(struct mosquitto *m, void *ud,
                           const struct mosquitto_message *msg,
                           const mosquitto_property *p)
{
    (void)m;
    struct captured *c = ud;
    uint32_t exp = 0;
    char *resp = NULL;
    bool has_exp =
        mosquitto_property_read_int32(p, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL,
                                      &exp, false) != NULL;
    mosquitto_property_read_string(p, MQTT_PROP_RESPONSE_TOPIC, &resp, false);
    pthread_mutex_lock(&c->lock);
    if (c->n++ == 0) {
        snprintf(c->payload, sizeof c->payload, "%.*s", msg->payloadlen,
                 (const char *)msg->payload);
        snprintf(c->resp, sizeof c->resp, "%s", resp ? resp : "");
        c->expiry = has_exp ? (int)exp : -1;
    }
    pthread_mutex_unlock(&c->lock);
    free(resp);
}

static void cap_on_connect(struct mosquitto *m, void *ud, int rc, int flags,
                           const mosquitto_property *p)
{
    (void)ud;
    (void)flags;
    (void)p;
    if (rc == 0)
        mosquitto_subscribe_v5(m, NULL, TOPIC("cmd/#"), 1, 0, NULL);
}

static struct mosquitto *capture_start(struct ht_it *t, int port,
                                       struct captured *c)
{
    mosquitto_lib_init();
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    struct mosquitto *m = mosquitto_new("capture", true, c);
    HT_CHECK(t, m);
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    /* The harness broker's account (set when it started). */
    mosquitto_username_pw_set(m, getenv("HOLOTWIN_MQTT_USERNAME"),
                              getenv("HOLOTWIN_MQTT_PASSWORD"));
    mosquitto_connect_v5_callback_set(m, cap_on_connect);
    mosquitto_message_v5_callback_set(m, cap_on_message);
    HT_CHECK(t, mosquitto_connect_bind_v5(m, "127.0.0.1", port, 30, NULL,
                                          NULL) == 0 &&
                    mosquitto_loop_start(m) == 0);
    ht_it_sleep_ms(300); /* subscribed */
    return m;
}

static int captured_n(struct captured *c)
{
    pthread_mutex_lock(&c->lock);
    int n = c->n;
    pthread_mutex_unlock(&c->lock);
    return n;
}

static void capture_stop(struct mosquitto *m, struct captured *c)
{
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, true);
    mosquitto_destroy(m);
    pthread_mutex_destroy(&c->lock);
    mosquitto_lib_cleanup();
}

static void
command_redelivered_after_broker_restart_applied_once(struct ht_it *t)
{
    struct env e = {0};
    /* A long timeout: the deadline is far, so only the command id can stop
     * the board from applying the command a second time. */
    setup(t, &e, "20000");
    struct captured cap;
    struct mosquitto *m = capture_start(t, e.b.port, &cap);
    long long sent = now_ms();
    put_prop(t, &e, "lamp", "false");
    HT_WAIT(t, captured_n(&cap) == 1, 5000, "command not seen on the broker");
    capture_stop(m, &cap);
    json_t *cmd = json_loads(cap.payload, 0, NULL);
    HT_CHECK(t, cmd && json_is_false(json_object_get(cmd, "v")), "command %s",
             cap.payload);
    const char *id = jstr(cmd, "id");
    HT_CHECK(t,
             *id && strlen(id) <= 64 &&
                 strspn(id, "abcdefghijklmnopqrstu"
                            "vwxyzABCDEFGHIJKLMNOPQ"
                            "RSTUVWXYZ0123456789._-") == strlen(id),
             "no command id: %s", cap.payload);
    long long dl = json_integer_value(json_object_get(cmd, "deadline"));
    HT_CHECK(t, dl >= sent + 19000 && dl <= now_ms() + 20000,
             "deadline %lld, sent at %lld: %s", dl, sent, cap.payload);
    HT_CHECK(t, cap.expiry > 0 && cap.expiry <= 20,
             "MQTT 5 message expiry %d s", cap.expiry);
    put_prop(t, &e, "lamp", "true");
    board_expect(t, &e, "get lamp", "ok true");

    /* The broker dies and comes back; the first command reaches the board
     * again, as a QoS 1 redelivery does (same bytes, a new correlation). */
    ht_it_stop(t, e.b.pid, SIGKILL, 5000);
    e.b.pid = 0;
    ht_it_broker_restart(t, &e.b);
    HT_WAIT(t, device_online(&e, true), 15000);
    struct ht_it_mqtt *c = ht_it_mqtt_new(e.b.port, "redeliver", NULL, NULL);
    HT_CHECK(t, c);
    char *ack = NULL;
    for (int i = 0; i < 50 && !ack; i++) /* until the board is subscribed */
        ack = ht_it_mqtt_request(c, TOPIC("cmd/lamp"), cap.payload,
                                 "holotwin-test/ack", "redelivered", 200);
    HT_CHECK(t, ack, "no ack to the redelivered command");
    json_t *a = json_loads(ack, 0, NULL);
    HT_CHECK(t,
             json_is_true(json_object_get(a, "ok")) &&
                 json_is_false(json_object_get(a, "v")),
             "not the first ack: %s", ack);
    json_decref(a);
    free(ack);
    ht_it_sleep_ms(300);
    board_expect(t, &e, "get lamp", "ok true");
    json_t *r;
    HT_CHECK(t,
             call(&e, "GET", DEV "/properties/lamp", NULL, &r) == 200 &&
                 json_is_true(r),
             "the lamp went off again");
    json_decref(r);
    ht_it_mqtt_free(c);
    json_decref(cmd);
    teardown(t, &e);
}

static void idempotency_key_retry_returns_the_first_outcome(struct ht_it *t)
{
    struct env e = {0};
    setup(t, &e, "1500");
    char *op = token_hdr(t, &e, "operator", "tablet-a");
    char *op2 = token_hdr(t, &e, "operator", "tablet-b");
    struct captured cap;
    struct mosquitto *m = capture_start(t, e.b.port, &cap);
    char hdr[512];
    snprintf(hdr, sizeof hdr, "%sIdempotency-Key: k-1\r\n", op);

    json_t *first, *again;
    HT_CHECK(t,
             call_h(&e, hdr, "PUT", DEV "/properties/sp", "33", &first) == 200);
    HT_WAIT(t, captured_n(&cap) == 1, 5000);
    /* Meanwhile the setpoint changes: a second command would show. */
    put_prop(t, &e, "sp", "34");
    HT_WAIT(t, captured_n(&cap) == 2, 5000);
    HT_CHECK(t,
             call_h(&e, hdr, "PUT", DEV "/properties/sp", "33", &again) == 200);
    HT_CHECK(t, json_equal(first, again), "retry: %s, first: %s",
             json_dumps(again, JSON_COMPACT), json_dumps(first, JSON_COMPACT));
    ht_it_sleep_ms(300);
    HT_CHECK(t, captured_n(&cap) == 2, "the retry sent a command");
    HT_CHECK(t, board_num(t, &e, "sp") == 34, "setpoint 33 applied again");
    json_decref(first);
    json_decref(again);

    /* The same key with another body is a client error, not a replay. */
    HT_CHECK(t,
             call_h(&e, hdr, "PUT", DEV "/properties/sp", "35", NULL) == 422);
    /* Keys belong to a token: another one's k-1 is a new request. */
    snprintf(hdr, sizeof hdr, "%sIdempotency-Key: k-1\r\n", op2);
    HT_CHECK(t,
             call_h(&e, hdr, "PUT", DEV "/properties/sp", "33", NULL) == 200);
    HT_WAIT(t, captured_n(&cap) == 3, 5000);
    capture_stop(m, &cap);

    /* One write of 33 by tablet-a in the audit log. */
    json_t *w = audit_writes(t, &e, "&who=tablet-a");
    HT_CHECK(t, json_array_size(w) == 1, "audit: %s",
             json_dumps(w, JSON_COMPACT));
    json_decref(w);

    /* POST: pre-registering a board; the retry gets the same 201. */
    snprintf(hdr, sizeof hdr, "%sIdempotency-Key: reg-7\r\n", e.auth);
    HT_CHECK(t, call_h(&e, hdr, "POST", "/api/v1/devices",
                       "{\"id\":\"cell-7\"}", &first) == 201);
    HT_CHECK(t,
             call_h(&e, hdr, "POST", "/api/v1/devices", "{\"id\":\"cell-7\"}",
                    &again) == 201,
             "retried POST");
    HT_CHECK(t, json_equal(first, again));
    json_decref(first);
    json_decref(again);
    HT_CHECK(t,
             call(&e, "POST", "/api/v1/devices", "{\"id\":\"cell-7\"}", NULL) ==
                 409,
             "without the key it is a second request");
    free(op);
    free(op2);
    teardown(t, &e);
}

/* Quality on every channel: SSE state events, the retained MQTT twin
 * state, REST; a board gone is "offline" with its last value kept. */
static void quality_is_explicit_everywhere(struct ht_it *t)
{
    struct env e = {0};
    setup(t, &e, "1500");
    HT_CHECK(t, call(&e, "PUT", "/api/v1/twins/cell", cell_twin, NULL) == 201);
    struct ht_it_mqtt *m = ht_it_mqtt_new(e.b.port, "hmd", NULL, NULL);
    HT_CHECK(t, m && ht_it_mqtt_sub(m, "holotwin/v1/twins/cell/state") == 1);
    struct ht_it_sse *s =
        ht_it_sse_open(e.http, "/api/v1/events?device=" BOARD, e.auth);
    HT_CHECK(t, s && ht_it_sse_status(s) == 200);
    put_prop(t, &e, "sp", "9");
    bool seen = false;
    for (int i = 0; i < 50 && !seen; i++) {
        char *ev = NULL, *data = NULL;
        int rc = ht_it_sse_next(s, 200, &ev, &data, NULL);
        HT_CHECK(t, rc >= 0, "event stream ended");
        if (rc == 1 && ev && !strcmp(ev, "state") && strstr(data, "\"sp\"")) {
            HT_CHECK(t, strstr(data, "\"quality\":\"good\""), "%s", data);
            seen = true;
        }
        free(ev);
        free(data);
    }
    HT_CHECK(t, seen, "no state event for sp");
    ht_it_sse_close(s);
    char *st = ht_it_mqtt_wait(m, "holotwin/v1/twins/cell/state",
                               "\"quality\":\"good\"", 10000);
    HT_CHECK(t, st, "no good quality on the twin topic");
    free(st);
    ht_it_mqtt_clear(m);
    /* The board dies: offline everywhere, the last value kept. */
    ht_it_stop(t, e.board, SIGKILL, 5000);
    json_t *o = NULL;
    HT_WAIT(
        t, (json_decref(o), o = observe(&e)) && all_quality(o, "offline", true),
        10000, "not offline: %s", o ? json_dumps(o, JSON_COMPACT) : "-");
    HT_CHECK(t,
             json_number_value(json_object_get(
                 json_object_get(json_object_get(o, "device"), "sp"), "v")) ==
                 9,
             "value lost");
    json_decref(o);
    st = ht_it_mqtt_wait(m, "holotwin/v1/twins/cell/state",
                         "\"quality\":\"offline\"", 10000);
    HT_CHECK(t, st, "no offline quality on the twin topic");
    free(st);
    json_t *r;
    HT_CHECK(t, call(&e, "GET", DEV "/properties/sp?meta=1", NULL, &r) == 200);
    HT_CHECK(t, !strcmp(jstr(r, "quality"), "offline"), "meta: %s",
             json_dumps(r, JSON_COMPACT));
    json_decref(r);
    ht_it_mqtt_free(m);
    HT_CHECK(t, ht_it_stop(t, e.gw, SIGTERM, 10000) == 0,
             "gatewayd did not stop cleanly");
    free(e.data);
    free(e.ctl);
}

/* A value whose heartbeat is late while its board is still online (the
 * board frozen, not yet dropped by the broker) is stale in REST, in SSE
 * and on the twin's topic, and its rule unknown; values without a
 * heartbeat stay good; the heartbeat's return makes it good again. */
static void late_heartbeat_is_stale_while_the_board_is_online(struct ht_it *t)
{
    struct env e = {.board_conf = heartbeat_board};
    setup(t, &e, "1500");
    HT_CHECK(t, call(&e, "PUT", "/api/v1/twins/cell", cell_twin, NULL) == 201);
    json_t *td = NULL;
    HT_CHECK(t, call(&e, "GET", "/things/" BOARD, NULL, &td) == 200);
    HT_CHECK(
        t,
        json_integer_value(json_object_get(
            json_object_get(json_object_get(td, "properties"), "temperature"),
            "ht:maxIntervalMs")) == 500,
        "the TD does not declare the heartbeat");
    json_decref(td);
    json_t *o = NULL;
    HT_WAIT(t,
            (json_decref(o), o = observe(&e)) && all_quality(o, "good", true),
            10000, "not all good");
    json_decref(o);
    /* Heartbeats keep an unchanging value good (2 N = 1 s passes). */
    ht_it_sleep_ms(1500);
    o = observe(&e);
    HT_CHECK(t, all_quality(o, "good", true), "stale while heartbeating: %s",
             o ? json_dumps(o, JSON_COMPACT) : "-");
    json_decref(o);
    o = NULL;
    struct ht_it_mqtt *m = ht_it_mqtt_new(e.b.port, "hmd", NULL, NULL);
    HT_CHECK(t, m && ht_it_mqtt_sub(m, "holotwin/v1/twins/cell/state") == 1);
    struct ht_it_sse *s =
        ht_it_sse_open(e.http, "/api/v1/events?device=" BOARD, e.auth);
    HT_CHECK(t, s && ht_it_sse_status(s) == 200);
    long long t0 = mono_ms();
    HT_CHECK(t, kill(e.board, SIGSTOP) == 0);
    /* The device's record, the twin's state (rebuilt once per loop
     * iteration) and its rule: all of them. */
    HT_WAIT(
        t,
        (json_decref(o), o = observe(&e)) &&
            !strcmp(jstr(json_object_get(json_object_get(o, "device"),
                                         "temperature"),
                         "quality"),
                    "stale") &&
            !strcmp(jstr(json_object_get(json_object_get(o, "twin"),
                                         "panel.temperature"),
                         "quality"),
                    "stale") &&
            !strcmp(jstr(json_object_get(o, "rules"), "too-hot"), "unknown"),
        5000, "temperature never stale: %s",
        o ? json_dumps(o, JSON_COMPACT) : "-");
    long long after = mono_ms() - t0;
    /* Still online: this is the heartbeat, not the Will (7.5 s). */
    HT_CHECK(t, device_online(&e, true), "the board is already offline");
    /* The last heartbeat came at most N = 500 ms before the stop. */
    HT_CHECK(t, after >= 500, "stale after %lld ms, before 2 heartbeats",
             after);
    json_t *dev = json_object_get(o, "device");
    HT_CHECK(t, !strcmp(jstr(json_object_get(dev, "lamp"), "quality"), "good"),
             "a value without a heartbeat went stale");
    HT_CHECK(t,
             !strcmp(jstr(json_object_get(json_object_get(o, "twin"),
                                          "panel.temperature"),
                          "quality"),
                     "stale"),
             "twin: %s", json_dumps(o, JSON_COMPACT));
    HT_CHECK(t,
             !strcmp(jstr(json_object_get(o, "rules"), "too-hot"), "unknown"),
             "rule too-hot over a stale value: %s",
             jstr(json_object_get(o, "rules"), "too-hot"));
    json_decref(o);
    o = NULL;
    bool seen = false;
    for (int i = 0; i < 50 && !seen; i++) {
        char *ev = NULL, *data = NULL;
        int rc = ht_it_sse_next(s, 200, &ev, &data, NULL);
        HT_CHECK(t, rc >= 0, "event stream ended");
        if (rc == 1 && ev && !strcmp(ev, "state") &&
            strstr(data, "\"quality\":\"stale\""))
            seen = true;
        free(ev);
        free(data);
    }
    HT_CHECK(t, seen, "no stale state event");
    char *st = ht_it_mqtt_wait(m, "holotwin/v1/twins/cell/state",
                               "\"quality\":\"stale\"", 5000);
    HT_CHECK(t, st, "no stale quality on the twin topic");
    free(st);
    /* The heartbeat is back: good again, the rule evaluated. */
    HT_CHECK(t, kill(e.board, SIGCONT) == 0);
    HT_WAIT(
        t,
        (json_decref(o), o = observe(&e)) && all_quality(o, "good", true) &&
            !strcmp(jstr(json_object_get(o, "rules"), "too-hot"), "inactive"),
        5000, "not good again: %s", o ? json_dumps(o, JSON_COMPACT) : "-");
    json_decref(o);
    ht_it_sse_close(s);
    ht_it_mqtt_free(m);
    teardown(t, &e);
}

HT_IT_MAIN(HT_IT_CASE(gatewayd_kill9_keeps_the_twin_true),
           HT_IT_CASE(gatewayd_clean_stop_keeps_the_twin_true),
           HT_IT_CASE(broker_killed_keeps_the_twin_true),
           HT_IT_CASE(persistent_broker_killed_keeps_the_twin_true),
           HT_IT_CASE(board_restart_keeps_the_twin_true),
           HT_IT_CASE(link_cut_and_restored_keeps_the_twin_true),
           HT_IT_CASE(frozen_board_504_never_acts_later),
           HT_IT_CASE(command_redelivered_after_broker_restart_applied_once),
           HT_IT_CASE(idempotency_key_retry_returns_the_first_outcome),
           HT_IT_CASE(quality_is_explicit_everywhere),
           HT_IT_CASE(late_heartbeat_is_stale_while_the_board_is_online))
