/* test_control.c - operating a twin safely together (issue 16), with a real
 * mosquitto, a real gatewayd, real sim boards and real HTTP, SSE and MQTT:
 *
 * - shared control: a non-holder's commands answer 423 naming the holder
 *   (twin writes and the device's own properties), every client sees the
 *   holder live (SSE "control" event, retained MQTT topic, GET); a
 *   non-holder's request reaches the holder (audited), nothing changes
 *   hands;
 * - the lease ends when the holder's last stream has been gone for
 *   control.lease_ms (and not while it is open); the expiry is audited;
 * - a technician's forced take is audited and the holder sees it;
 * - a twin with "control": "required" refuses everyone (423
 *   control_required) while nobody holds it; a holder with no stream
 *   keeps control for one lease;
 * - an interlock refusal names the rule and sends nothing (a subscriber on
 *   the board's cmd topics sees only the command that came after it);
 * - a permissive refusal; a technician's override, audited;
 * - the demo's operator panel: the physical stop and start buttons stop and
 *   start the line and switch the run lamp, the knob sets the line speed,
 *   end to end through the real example boards. */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LEASE_MS 600
#define BOARD "cell-1"
#define TWIN "/api/v1/twins/cell"

/* Outputs and a setpoint that move only when commanded. */
static const char cell_board[] =
    "{\"id\":\"" BOARD "\",\"title\":\"Control cell\","
    "\"gpio\":{\"backend\":\"sim\",\"lines\":8},\"capabilities\":["
    "{\"name\":\"lamp\",\"kind\":\"output\",\"type\":\"ht:Lamp\","
    "\"title\":\"Lamp\",\"line\":1,\"initial\":true},"
    "{\"name\":\"heater\",\"kind\":\"output\",\"type\":\"ht:Heater\","
    "\"title\":\"Heater\",\"line\":2},"
    "{\"name\":\"fan\",\"kind\":\"output\",\"type\":\"ht:Fan\","
    "\"title\":\"Fan\",\"line\":3},"
    "{\"name\":\"sp\",\"kind\":\"setpoint\",\"type\":\"ht:SpeedSetpoint\","
    "\"title\":\"Setpoint\",\"initial\":5,\"minimum\":0,\"maximum\":200}]}";

/* The heater must never run without the fan (an interlock), and the
 * setpoint may be changed only while the lamp is lit (a permissive). */
static const char cell_twin[] =
    "{\"id\":\"cell\",\"title\":\"Control cell\",\"components\":["
    "{\"id\":\"panel\",\"kind\":\"lamp\",\"properties\":[{\"name\":\"lamp\","
    "\"bind\":\"" BOARD "/lamp\",\"type\":\"boolean\",\"writable\":true}]},"
    "{\"id\":\"thermal\",\"kind\":\"heater\",\"properties\":["
    "{\"name\":\"heater\",\"bind\":\"" BOARD "/heater\",\"type\":\"boolean\","
    "\"writable\":true},"
    "{\"name\":\"fan\",\"bind\":\"" BOARD "/fan\",\"type\":\"boolean\","
    "\"writable\":true}]},"
    "{\"id\":\"motor\",\"kind\":\"motor\",\"properties\":[{\"name\":\"sp\","
    "\"bind\":\"" BOARD "/sp\",\"type\":\"number\",\"writable\":true,"
    "\"minimum\":0,\"maximum\":200}]}],"
    "\"rules\":[{\"id\":\"heat-without-fan\",\"severity\":\"warning\","
    "\"message\":\"Heater on without the fan\","
    "\"expr\":\"thermal.heater and not thermal.fan\",\"interlock\":true}],"
    "\"permissives\":[{\"id\":\"lamp-lit\",\"expr\":\"panel.lamp\","
    "\"applies_to\":[\"motor.sp\"],"
    "\"message\":\"Setpoints only while the lamp is lit\"}]}";

struct env {
    struct ht_it_broker b;
    int http;
    pid_t gw;
    char *data;
    char auth[256];           /* admin */
    char *alice, *bob, *tess; /* operators and a technician (new) */
    char *ctl;                /* cell-1's control socket (new) */
};

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void gw_start(struct ht_it *t, struct env *e, const char *twins_dir)
{
    ht_it_broker_start(t, &e->b, NULL);
    char broker[64], http[16];
    snprintf(broker, sizeof broker, "127.0.0.1:%d", e->b.port);
    e->http = ht_it_free_port();
    snprintf(http, sizeof http, "%d", e->http);
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
                          "--control-lease-ms",
                          "600",
                          "--command-timeout-ms",
                          "3000",
                          "--log-level",
                          "debug",
                          twins_dir ? "--twins-dir" : NULL,
                          twins_dir,
                          NULL};
    e->gw = ht_it_spawn(t, "gatewayd", argv, NULL);
    free(bin);
    HT_CHECK(t, ht_it_wait_port(e->http, 15000), "gatewayd not listening: %s",
             ht_it_logfile(t, "gatewayd"));
    char tok[160] = "";
    ht_it_admin_token(t, e->data, tok, sizeof tok);
    snprintf(e->auth, sizeof e->auth, "Authorization: Bearer %s\r\n", tok);
    e->alice = ht_it_token(t, e->http, e->auth, "operator", "alice");
    e->bob = ht_it_token(t, e->http, e->auth, "operator", "bob");
    e->tess = ht_it_token(t, e->http, e->auth, "technician", "tess");
}

/* A sim board (config text, or an example's id) with its control socket;
 * returns the socket's path (new). */
static char *board_start(struct ht_it *t, struct env *e, const char *id,
                         const char *config)
{
    char name[64], broker[64], cfg[512];
    snprintf(broker, sizeof broker, "127.0.0.1:%d", e->b.port);
    if (config) {
        snprintf(name, sizeof name, "%s.json", id);
        char *p = ht_it_write(t, name, config);
        snprintf(cfg, sizeof cfg, "%s", p);
        free(p);
    } else {
        snprintf(cfg, sizeof cfg, "%s/device-agent/examples/%s.json",
                 ht_it_src(), id);
    }
    snprintf(name, sizeof name, "%s.sock", id);
    char *ctl = ht_it_path(t, name);
    snprintf(name, sizeof name, "agent-%s", id);
    char *bin = ht_it_bin("device-agent");
    const char *argv[] = {bin,         "--config",  cfg, "--broker", broker,
                          "--no-mdns", "--control", ctl, NULL};
    pid_t pid = ht_it_spawn(t, name, argv, NULL);
    free(bin);
    HT_WAIT(t, access(ctl, F_OK) == 0 || !ht_it_alive(t, pid), 10000,
            "control socket of %s", id);
    HT_CHECK(t, ht_it_alive(t, pid), "agent %s exited: %s", id,
             ht_it_logfile(t, name));
    return ctl;
}

/* The board's value of name, as its control socket prints it. */
static bool board_is(struct ht_it *t, const char *ctl, const char *name,
                     const char *want)
{
    char cmd[96], exp[96];
    snprintf(cmd, sizeof cmd, "get %s", name);
    snprintf(exp, sizeof exp, "ok %s", want);
    char *r = ht_it_ctl(t, ctl, cmd);
    bool ok = !strcmp(r, exp);
    if (!ok)
        ht_it_log(t, "board: '%s' -> '%s', not '%s'", cmd, r, exp);
    free(r);
    return ok;
}

/* A number the board holds ("get NAME"), NaN if it holds none. */
static double board_num(struct ht_it *t, const char *ctl, const char *name)
{
    char cmd[96];
    snprintf(cmd, sizeof cmd, "get %s", name);
    char *r = ht_it_ctl(t, ctl, cmd);
    double v = !strncmp(r, "ok ", 3) ? atof(r + 3) : 0.0 / 0.0;
    free(r);
    return v;
}

static bool twin_known(struct env *e, const char *twin, const char *ref)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/twins/%s/state", twin);
    json_t *st;
    bool ok =
        ht_it_call(e->http, e->auth, "GET", path, NULL, &st) == 200 &&
        !strcmp(jstr(json_object_get(json_object_get(st, "properties"), ref),
                     "quality"),
                "good");
    json_decref(st);
    return ok;
}

/* The twin's value of ref, as compact JSON, is want. */
static bool twin_value_is(struct env *e, const char *twin, const char *ref,
                          const char *want)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/twins/%s/state", twin);
    json_t *st;
    bool ok = false;
    if (ht_it_call(e->http, e->auth, "GET", path, NULL, &st) == 200) {
        json_t *v = json_object_get(
            json_object_get(json_object_get(st, "properties"), ref), "value");
        char *s = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        ok = s && !strcmp(s, want);
        free(s);
    }
    json_decref(st);
    return ok;
}

/* gatewayd, the cell board and the cell twin, every value known. */
static void setup(struct ht_it *t, struct env *e)
{
    gw_start(t, e, NULL);
    e->ctl = board_start(t, e, BOARD, cell_board);
    HT_CHECK(t,
             ht_it_call(e->http, e->auth, "PUT", TWIN, cell_twin, NULL) == 201);
    static const char *const refs[] = {"panel.lamp", "thermal.heater",
                                       "thermal.fan", "motor.sp"};
    for (size_t i = 0; i < 4; i++)
        HT_WAIT(t, twin_known(e, "cell", refs[i]), 15000, "%s never known",
                refs[i]);
}

static void teardown(struct ht_it *t, struct env *e)
{
    HT_CHECK(t, ht_it_stop(t, e->gw, SIGTERM, 10000) == 0,
             "gatewayd did not stop cleanly: %s", ht_it_logfile(t, "gatewayd"));
    free(e->data);
    free(e->alice);
    free(e->bob);
    free(e->tess);
    free(e->ctl);
}

/* PUT a twin property as hdr; the status, *out the answer (may be NULL). */
static int put(struct env *e, const char *hdr, const char *ref,
               const char *query, const char *v, json_t **out)
{
    char path[256];
    snprintf(path, sizeof path, TWIN "/properties/%s%s", ref,
             query ? query : "");
    return ht_it_call(e->http, hdr, "PUT", path, v, out);
}

static void put_ok(struct ht_it *t, struct env *e, const char *hdr,
                   const char *ref, const char *v)
{
    json_t *r;
    int st = put(e, hdr, ref, NULL, v, &r);
    char *s = r ? json_dumps(r, JSON_COMPACT) : NULL;
    HT_CHECK(t, st == 200, "PUT %s %s: %d %s", ref, v, st, s ? s : "");
    free(s);
    json_decref(r);
}

static int control(struct env *e, const char *hdr, const char *method,
                   const char *query, json_t **out)
{
    char path[128];
    snprintf(path, sizeof path, TWIN "/control%s", query ? query : "");
    return ht_it_call(e->http, hdr, method, path, NULL, out);
}

static const char *holder_name(const json_t *o)
{
    return jstr(json_object_get(o, "holder"), "name");
}

/* The audit records matching query (new array). */
static json_t *audit(struct ht_it *t, struct env *e, const char *query)
{
    char path[256];
    snprintf(path, sizeof path, "/api/v1/audit?%s", query);
    json_t *r;
    HT_CHECK(t, ht_it_call(e->http, e->auth, "GET", path, NULL, &r) == 200,
             "GET %s", path);
    json_t *items = json_incref(json_object_get(r, "items"));
    json_decref(r);
    HT_CHECK(t, json_is_array(items));
    return items;
}

/* How many audit records matching query have this actor. */
static size_t audited(struct ht_it *t, struct env *e, const char *query,
                      const char *actor)
{
    json_t *a = audit(t, e, query), *it;
    size_t i, n = 0;
    json_array_foreach(a, i, it) n += !strcmp(jstr(it, "actor"), actor);
    json_decref(a);
    return n;
}

static struct ht_it_sse *stream(struct ht_it *t, struct env *e, const char *hdr)
{
    struct ht_it_sse *s =
        ht_it_sse_open(e->http, "/api/v1/events?twin=cell", hdr);
    HT_CHECK(t, s && ht_it_sse_status(s) == 200, "SSE stream not opened");
    return s;
}

static void non_holder_gets_423_naming_the_holder(struct ht_it *t)
{
    struct env e = {0};
    setup(t, &e);
    struct ht_it_mqtt *m =
        ht_it_mqtt_new(e.b.port, "control-watch", NULL, NULL);
    HT_CHECK(t, m && ht_it_mqtt_sub(m, "holotwin/v1/twins/cell/control") < 128);
    struct ht_it_sse *sa = stream(t, &e, e.alice), *sb = stream(t, &e, e.bob);
    json_t *r;
    HT_CHECK(t, control(&e, e.alice, "POST", NULL, &r) == 200);
    HT_CHECK(t, !strcmp(holder_name(r), "alice"), "holder %s", holder_name(r));
    json_decref(r);
    /* Everyone sees who holds it: SSE, the retained topic, GET. */
    json_t *ev = ht_it_sse_wait(t, sb, "control", "\"take\"", 5000);
    HT_CHECK(t, !strcmp(holder_name(ev), "alice"));
    json_decref(ev);
    char *msg =
        ht_it_mqtt_wait(m, "holotwin/v1/twins/cell/control", "\"alice\"", 5000);
    HT_CHECK(t, msg, "no retained control message naming alice");
    free(msg);
    HT_CHECK(t, control(&e, e.bob, "GET", NULL, &r) == 200 &&
                    !strcmp(holder_name(r), "alice"));
    json_decref(r);

    /* Bob is refused everywhere, before anything is sent. */
    HT_CHECK(t, put(&e, e.bob, "panel.lamp", NULL, "false", &r) == 423);
    HT_CHECK(
        t, !strcmp(jstr(r, "code"), "held") && !strcmp(holder_name(r), "alice"),
        "423 does not name the holder");
    json_decref(r);
    HT_CHECK(t, ht_it_call(e.http, e.bob, "PUT",
                           "/api/v1/devices/" BOARD "/properties/lamp", "false",
                           &r) == 423);
    HT_CHECK(t, !strcmp(holder_name(r), "alice"));
    json_decref(r);
    HT_CHECK(t, control(&e, e.bob, "POST", NULL, NULL) == 423);
    HT_CHECK(t, control(&e, e.bob, "DELETE", NULL, NULL) == 423);
    HT_CHECK(t, board_is(t, e.ctl, "lamp", "true"), "a refused write acted");

    /* Bob asks alice for control: nothing changes hands, alice is told
     * who asks, the request is audited. */
    HT_CHECK(t, control(&e, e.bob, "POST", "?request", &r) == 202);
    HT_CHECK(t, !strcmp(holder_name(r), "alice"), "the request moved control");
    json_decref(r);
    ev = ht_it_sse_wait(t, sa, "control", "\"request\"", 5000);
    HT_CHECK(t,
             !strcmp(jstr(json_object_get(ev, "requester"), "name"), "bob") &&
                 !strcmp(holder_name(ev), "alice"),
             "the holder is not told who asks");
    json_decref(ev);
    json_t *rq = audit(t, &e, "action=control-request&who=bob");
    HT_CHECK(t,
             json_array_size(rq) == 1 &&
                 strstr(jstr(json_array_get(rq, 0), "value"), "alice"),
             "the request is not audited");
    json_decref(rq);
    HT_CHECK(t, put(&e, e.bob, "panel.lamp", NULL, "false", NULL) == 423,
             "a request let bob command");

    /* The holder's commands go through. */
    put_ok(t, &e, e.alice, "panel.lamp", "false");
    HT_CHECK(t, board_is(t, e.ctl, "lamp", "false"));
    json_t *a = audit(t, &e, "action=twin-write&who=bob&result=held");
    HT_CHECK(t, json_array_size(a) == 2, "the refusals are not audited");
    json_decref(a);

    /* Released: bob's turn, and the retained topic says nobody. */
    HT_CHECK(t, control(&e, e.alice, "DELETE", NULL, NULL) == 204);
    ev = ht_it_sse_wait(t, sb, "control", "\"release\"", 5000);
    HT_CHECK(t, json_is_null(json_object_get(ev, "holder")));
    json_decref(ev);
    put_ok(t, &e, e.bob, "panel.lamp", "true");
    HT_CHECK(t, board_is(t, e.ctl, "lamp", "true"));
    ht_it_sse_close(sa);
    ht_it_sse_close(sb);
    ht_it_mqtt_free(m);
    teardown(t, &e);
}

static void lease_expires_when_the_holders_stream_drops(struct ht_it *t)
{
    struct env e = {0};
    setup(t, &e);
    struct ht_it_sse *sa = stream(t, &e, e.alice), *sb = stream(t, &e, e.bob);
    HT_CHECK(t, control(&e, e.alice, "POST", NULL, NULL) == 200);
    /* An open stream keeps the lease: twice its length later, still held. */
    ht_it_sleep_ms(2 * LEASE_MS);
    json_t *r;
    HT_CHECK(t,
             control(&e, e.bob, "GET", NULL, &r) == 200 &&
                 !strcmp(holder_name(r), "alice"),
             "the lease ended while the holder's stream was open");
    json_decref(r);
    HT_CHECK(t, put(&e, e.bob, "panel.lamp", NULL, "false", NULL) == 423);

    /* The holder's tablet goes away: the lease ends, everyone is told. */
    ht_it_sse_close(sa);
    json_t *ev = ht_it_sse_wait(t, sb, "control", "\"expired\"", 5000);
    HT_CHECK(
        t, json_is_null(json_object_get(ev, "holder")) &&
               !strcmp(jstr(json_object_get(ev, "previous"), "name"), "alice"));
    json_decref(ev);
    HT_CHECK(t, control(&e, e.bob, "GET", NULL, &r) == 200 &&
                    json_is_null(json_object_get(r, "holder")));
    json_decref(r);
    json_t *a = audit(t, &e, "action=control-expire");
    HT_CHECK(t,
             json_array_size(a) == 1 &&
                 strstr(jstr(json_array_get(a, 0), "value"), "alice"),
             "the expiry is not audited");
    json_decref(a);
    put_ok(t, &e, e.bob, "panel.lamp", "false");
    ht_it_sse_close(sb);
    teardown(t, &e);
}

/* gwctl twins SUB cell [VERB] as the token of hdr; its exit code, and its
 * standard output in *out (new) when out is not NULL. */
static int gwctl(struct ht_it *t, struct env *e, const char *hdr,
                 const char *sub, const char *verb, char **out)
{
    char url[64], tok[160];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", e->http);
    const char *b = strstr(hdr, "Bearer ");
    snprintf(tok, sizeof tok, "%s", b ? b + 7 : "");
    tok[strcspn(tok, "\r\n")] = '\0';
    char *bin = ht_it_bin("gwctl");
    const char *argv[] = {bin,     "--gateway", url,    "--token", tok,
                          "twins", sub,         "cell", verb,      NULL};
    int rc = ht_it_run(t, argv, NULL, 10000, out, NULL);
    free(bin);
    return rc;
}

static void forced_take_is_audited(struct ht_it *t)
{
    struct env e = {0};
    setup(t, &e);
    struct ht_it_sse *sa = stream(t, &e, e.alice), *st = stream(t, &e, e.tess);
    HT_CHECK(t, control(&e, e.alice, "POST", NULL, NULL) == 200);
    /* Only a technician may take control from its holder. */
    HT_CHECK(t, control(&e, e.bob, "POST", "?force", NULL) == 403);
    json_t *r;
    HT_CHECK(t, control(&e, e.tess, "POST", "?force", &r) == 200);
    HT_CHECK(t, !strcmp(holder_name(r), "tess") &&
                    json_is_true(json_object_get(json_object_get(r, "holder"),
                                                 "forced")));
    json_decref(r);
    /* The holder sees who took it. */
    json_t *ev = ht_it_sse_wait(t, sa, "control", "\"force\"", 5000);
    HT_CHECK(
        t, !strcmp(holder_name(ev), "tess") &&
               !strcmp(jstr(json_object_get(ev, "previous"), "name"), "alice"));
    json_decref(ev);
    HT_CHECK(t, put(&e, e.alice, "panel.lamp", NULL, "false", &r) == 423 &&
                    !strcmp(holder_name(r), "tess"));
    json_decref(r);
    json_t *a = audit(t, &e, "action=control-force");
    json_t *it = json_array_get(a, 0);
    HT_CHECK(t,
             json_array_size(a) == 1 && !strcmp(jstr(it, "who"), "tess") &&
                 !strcmp(jstr(it, "target"), "twin:cell") &&
                 strstr(jstr(it, "value"), "alice"),
             "the forced take is not audited with the previous holder");
    json_decref(a);

    /* gwctl shows the holder, and a technician releases it with --force. */
    char *out = NULL;
    HT_CHECK(t,
             gwctl(t, &e, e.bob, "control", NULL, &out) == 0 &&
                 strstr(out, "controlled by tess") && strstr(out, "forced"),
             "gwctl twins control: %s", out ? out : "");
    free(out);
    HT_CHECK(t, gwctl(t, &e, e.bob, "control", "release", NULL) != 0,
             "a non-holder released control with gwctl");
    HT_CHECK(t, gwctl(t, &e, e.tess, "control", "release", NULL) == 0);
    HT_CHECK(t,
             gwctl(t, &e, e.bob, "control", NULL, &out) == 0 &&
                 strstr(out, "cell: free"),
             "gwctl twins control after the release: %s", out ? out : "");
    free(out);
    ht_it_sse_close(sa);
    ht_it_sse_close(st);
    teardown(t, &e);
}

static void interlock_refusal_names_the_rule_and_sends_nothing(struct ht_it *t)
{
    struct env e = {0};
    setup(t, &e);
    struct ht_it_mqtt *m = ht_it_mqtt_new(e.b.port, "cmd-watch", NULL, NULL);
    HT_CHECK(t, m && ht_it_mqtt_sub(m, "holotwin/v1/devices/" BOARD "/cmd/#") <
                         128);
    /* Heater on with the fan off would raise heat-without-fan. */
    json_t *r;
    HT_CHECK(t, put(&e, e.alice, "thermal.heater", NULL, "true", &r) == 409);
    HT_CHECK(t,
             !strcmp(jstr(r, "code"), "interlock") &&
                 !strcmp(jstr(r, "rule"), "heat-without-fan"),
             "the refusal does not name the rule");
    json_decref(r);
    HT_CHECK(t, ht_it_call(e.http, e.alice, "PUT",
                           "/api/v1/devices/" BOARD "/properties/heater",
                           "true", &r) == 409 &&
                    !strcmp(jstr(r, "rule"), "heat-without-fan"));
    json_decref(r);
    /* The next command is seen by the subscriber: nothing came before. */
    put_ok(t, &e, e.alice, "thermal.fan", "true");
    char *msg =
        ht_it_mqtt_wait(m, "holotwin/v1/devices/" BOARD "/cmd/fan", NULL, 5000);
    HT_CHECK(t, msg, "the fan command never reached the subscriber");
    free(msg);
    HT_CHECK(t, ht_it_mqtt_count(m, "holotwin/v1/devices/" BOARD "/cmd/#") == 1,
             "a refused command was published");
    HT_CHECK(t, board_is(t, e.ctl, "heater", "false"));
    /* With the fan on, the heater may run. */
    put_ok(t, &e, e.alice, "thermal.heater", "true");
    HT_CHECK(t, board_is(t, e.ctl, "heater", "true"));
    json_t *a = audit(t, &e, "action=twin-write&result=interlock");
    HT_CHECK(t, json_array_size(a) == 1);
    json_decref(a);
    ht_it_mqtt_free(m);
    teardown(t, &e);
}

static void permissive_refusal(struct ht_it *t)
{
    struct env e = {0};
    setup(t, &e);
    put_ok(t, &e, e.alice, "panel.lamp", "false");
    json_t *r;
    HT_CHECK(t, put(&e, e.alice, "motor.sp", NULL, "50", &r) == 409);
    HT_CHECK(t,
             !strcmp(jstr(r, "code"), "permissive") &&
                 !strcmp(jstr(r, "permissive"), "lamp-lit"),
             "the refusal does not name the permissive");
    json_decref(r);
    HT_CHECK(t, board_num(t, e.ctl, "sp") == 5);
    put_ok(t, &e, e.alice, "panel.lamp", "true");
    put_ok(t, &e, e.alice, "motor.sp", "50");
    HT_CHECK(t, board_num(t, e.ctl, "sp") == 50);
    teardown(t, &e);
}

static void override_is_audited(struct ht_it *t)
{
    struct env e = {0};
    setup(t, &e);
    const char *why = "?override=commissioning%20test";
    HT_CHECK(t, put(&e, e.bob, "thermal.heater", why, "true", NULL) == 403,
             "an operator overrode an interlock");
    HT_CHECK(t, put(&e, e.tess, "thermal.heater", NULL, "true", NULL) == 409,
             "a technician without a reason passed the interlock");
    HT_CHECK(t, board_is(t, e.ctl, "heater", "false"));
    json_t *r;
    int st = put(&e, e.tess, "thermal.heater", why, "true", &r);
    HT_CHECK(t, st == 200, "override answered %d", st);
    json_decref(r);
    HT_CHECK(t, board_is(t, e.ctl, "heater", "true"));
    json_t *a = audit(t, &e, "action=override");
    json_t *it = json_array_get(a, 0);
    HT_CHECK(t,
             json_array_size(a) == 1 && !strcmp(jstr(it, "who"), "tess") &&
                 strstr(jstr(it, "value"), "commissioning test") &&
                 strstr(jstr(it, "value"), "heat-without-fan") &&
                 !strcmp(jstr(it, "target"), "twin:cell/thermal.heater"),
             "the override is not audited with its reason and rule");
    json_decref(a);
    teardown(t, &e);
}

static bool nobody_holds(struct env *e)
{
    json_t *r;
    bool ok = control(e, e->bob, "GET", NULL, &r) == 200 &&
              json_is_null(json_object_get(r, "holder"));
    json_decref(r);
    return ok;
}

/* A twin whose model says "control": "required" takes commands only from
 * its holder: with nobody holding, every write (twin and the device's own
 * bound property) is 423 "control_required" and reaches no board; the
 * holder's go through; a release closes it again. A holder without any
 * stream keeps control for one lease only. */
static void control_required_refuses_until_someone_holds(struct ht_it *t)
{
    struct env e = {0};
    setup(t, &e);
    json_t *doc = json_loads(cell_twin, 0, NULL);
    HT_CHECK(t, doc);
    json_object_set_new(doc, "control", json_string("required"));
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    HT_CHECK(t, ht_it_call(e.http, e.auth, "PUT", TWIN, text, NULL) / 100 == 2,
             "the twin with control required was not accepted");
    free(text);
    json_t *r;
    HT_CHECK(t, control(&e, e.bob, "GET", NULL, &r) == 200);
    HT_CHECK(t,
             json_is_true(json_object_get(r, "required")) &&
                 json_is_null(json_object_get(r, "holder")),
             "GET control: %s", json_dumps(r, JSON_COMPACT));
    json_decref(r);

    /* Nobody holds it: refused before anything is sent. */
    HT_CHECK(t, put(&e, e.alice, "panel.lamp", NULL, "false", &r) == 423);
    HT_CHECK(t,
             !strcmp(jstr(r, "code"), "control_required") &&
                 json_is_null(json_object_get(r, "holder")),
             "423 without control_required: %s", json_dumps(r, JSON_COMPACT));
    json_decref(r);
    HT_CHECK(t, ht_it_call(e.http, e.alice, "PUT",
                           "/api/v1/devices/" BOARD "/properties/lamp", "false",
                           &r) == 423 &&
                    !strcmp(jstr(r, "code"), "control_required"));
    json_decref(r);
    HT_CHECK(t, board_is(t, e.ctl, "lamp", "true"), "a refused write acted");

    /* Alice holds it (with a stream, so the lease lasts): hers pass,
     * bob's are refused as held. */
    struct ht_it_sse *sa = stream(t, &e, e.alice);
    HT_CHECK(t, control(&e, e.alice, "POST", NULL, NULL) == 200);
    put_ok(t, &e, e.alice, "panel.lamp", "false");
    HT_CHECK(t, board_is(t, e.ctl, "lamp", "false"));
    HT_CHECK(t, put(&e, e.bob, "panel.lamp", NULL, "true", &r) == 423 &&
                    !strcmp(jstr(r, "code"), "held"));
    json_decref(r);

    /* Released: closed to everyone again, alice included. */
    HT_CHECK(t, control(&e, e.alice, "DELETE", NULL, NULL) == 204);
    HT_CHECK(t, put(&e, e.alice, "panel.lamp", NULL, "true", &r) == 423 &&
                    !strcmp(jstr(r, "code"), "control_required"));
    json_decref(r);
    HT_CHECK(t, board_is(t, e.ctl, "lamp", "false"));
    ht_it_sse_close(sa);

    /* Tess takes it with no stream at all: she commands at once, and her
     * control ends after one lease (600 ms), audited as an expiry. */
    HT_CHECK(t, control(&e, e.tess, "POST", NULL, NULL) == 200);
    put_ok(t, &e, e.tess, "panel.lamp", "true");
    HT_WAIT(t, nobody_holds(&e), 5000,
            "control without a stream never expired");
    json_t *a = audit(t, &e, "action=control-expire");
    HT_CHECK(t,
             json_array_size(a) == 1 &&
                 strstr(jstr(json_array_get(a, 0), "value"), "tess"),
             "the expiry of tess's control is not audited");
    json_decref(a);
    HT_CHECK(t, put(&e, e.tess, "panel.lamp", NULL, "false", NULL) == 423);
    HT_CHECK(t, board_is(t, e.ctl, "lamp", "true"));
    a = audit(t, &e, "action=twin-write&result=control_required");
    HT_CHECK(t, json_array_size(a) == 3,
             "%zu control_required refusals audited", json_array_size(a));
    json_decref(a);
    teardown(t, &e);
}

/* ---- the demo's operator panel, through the real example boards ---- */

/* Press and release a panel button, released once the twin saw it
 * pressed (a pulse shorter than the board's debounce is no press). */
static void press(struct ht_it *t, struct env *e, const char *ctl,
                  const char *button)
{
    char cmd[64], ref[64];
    snprintf(cmd, sizeof cmd, "press %s", button);
    char *r = ht_it_ctl(t, ctl, cmd);
    HT_CHECK(t, !strcmp(r, "ok"), "%s: %s", cmd, r);
    free(r);
    snprintf(ref, sizeof ref, "%s.pressed", button);
    HT_WAIT(t, twin_value_is(e, "press-line", ref, "true"), 5000,
            "the twin never saw %s pressed", button);
    snprintf(cmd, sizeof cmd, "release %s", button);
    r = ht_it_ctl(t, ctl, cmd);
    HT_CHECK(t, !strcmp(r, "ok"), "%s: %s", cmd, r);
    free(r);
    HT_WAIT(t, twin_value_is(e, "press-line", ref, "false"), 5000,
            "the twin never saw %s released", button);
}

static bool line_is(struct ht_it *t, const char *gears, const char *panel,
                    const char *v)
{
    return board_is(t, gears, "motor_a_enable", v) &&
           board_is(t, gears, "motor_b_enable", v) &&
           board_is(t, panel, "run_lamp", v);
}

static void start_button_runs_the_line_and_lights_the_lamp(struct ht_it *t)
{
    struct env e = {0};
    char dir[512];
    snprintf(dir, sizeof dir, "%s/twins/virtual-factory", ht_it_src());
    gw_start(t, &e, dir);
    char *gears = board_start(t, &e, "gears-1", NULL);
    char *panel = board_start(t, &e, "panel-1", NULL);
    static const char *const refs[] = {
        "start_button.pressed", "stop_button.pressed", "speed_knob.position",
        "gear_a.enabled",       "gear_b.enabled",      "run_lamp.on"};
    for (size_t i = 0; i < sizeof refs / sizeof *refs; i++)
        HT_WAIT(t, twin_known(&e, "press-line", refs[i]), 15000,
                "%s never known", refs[i]);
    /* The boards start with the line running. */
    HT_CHECK(t, line_is(t, gears, panel, "true"));

    press(t, &e, panel, "stop_button");
    HT_WAIT(t, line_is(t, gears, panel, "false"), 5000,
            "the stop button did not stop the line");
    press(t, &e, panel, "start_button");
    HT_WAIT(t, line_is(t, gears, panel, "true"), 5000,
            "the start button did not start the line and light the lamp");
    /* The board acts before its ack reaches the gateway: the audit record
     * follows the last ack. */
    HT_WAIT(t,
            audited(t, &e, "action=twin-write&result=ok",
                    "action:press-line/start") == 1 &&
                audited(t, &e, "action=twin-write&result=ok",
                        "action:press-line/stop") == 1,
            5000, "the stop and start actions are not audited");

    /* The knob sets the line speed: both setpoints follow it. */
    char *r = ht_it_ctl(t, panel, "turn speed_knob 70");
    HT_CHECK(t, !strcmp(r, "ok"), "turn: %s", r);
    free(r);
    double knob = 0;
    HT_WAIT(t,
            (knob = board_num(t, panel, "speed_knob")) > 0 &&
                board_num(t, gears, "motor_a_setpoint") == knob &&
                board_num(t, gears, "motor_b_setpoint") == knob,
            5000, "the setpoints did not follow the knob (%g)", knob);

    /* Someone else holding the line: the physical button is refused. */
    struct ht_it_sse *s = stream(t, &e, e.alice);
    HT_CHECK(t,
             ht_it_call(e.http, e.alice, "POST",
                        "/api/v1/twins/press-line/control", NULL, NULL) == 200);
    press(t, &e, panel, "stop_button");
    HT_WAIT(t,
            audited(t, &e, "action=twin-write&result=held",
                    "action:press-line/stop") == 1,
            5000, "the stop action was not refused while alice held control");
    HT_CHECK(t, line_is(t, gears, panel, "true"));
    ht_it_sse_close(s);
    free(gears);
    free(panel);
    teardown(t, &e);
}

HT_IT_MAIN(HT_IT_CASE(non_holder_gets_423_naming_the_holder),
           HT_IT_CASE(lease_expires_when_the_holders_stream_drops),
           HT_IT_CASE(forced_take_is_audited),
           HT_IT_CASE(interlock_refusal_names_the_rule_and_sends_nothing),
           HT_IT_CASE(permissive_refusal), HT_IT_CASE(override_is_audited),
           HT_IT_CASE(control_required_refuses_until_someone_holds),
           HT_IT_CASE(start_button_runs_the_line_and_lights_the_lamp))
