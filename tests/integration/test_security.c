/* test_security.c - secure by default (issue 14, docs/security.md), with
 * gatewayd's real embedded mosquitto in its default configuration:
 * anonymous clients refused on both listeners; a board's credentials
 * confined to its own topics, refused at SUBSCRIBE time, never allowed to
 * command; no client-id takeover (of a board or of the gateway's own
 * session); TLS that works with the issued CA and fails with a wrong one
 * or a wrong host name (openssl s_client and the device agent); and
 * gatewayd refusing to listen beyond loopback without authentication. */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define P "holotwin/v1/devices/"

struct gw {
    int http, mqtt, tls;
    char http_s[16], mqtt_s[16], tls_s[16];
    char *data;
    char auth[160];
    char tok[128];
    pid_t pid;
};

static int call(struct gw *g, const char *method, const char *path,
                const char *body, json_t **out)
{
    struct ht_it_http r;
    if (out)
        *out = NULL;
    if (ht_it_http(g->http, method, path, g->auth, body, &r) != 0)
        return -1;
    int st = r.status;
    if (out)
        *out = ht_it_http_json(&r);
    ht_it_http_free(&r);
    return st;
}

static bool mqtt_ready(struct gw *g)
{
    json_t *h;
    bool up = call(g, "GET", "/healthz", NULL, &h) == 200 &&
              json_is_true(json_object_get(h, "mqtt"));
    json_decref(h);
    return up;
}

/* gatewayd with nothing but ports: the defaults are what is tested. */
static void gw_start(struct ht_it *t, struct gw *g)
{
    memset(g, 0, sizeof *g);
    g->http = ht_it_free_port();
    g->mqtt = ht_it_free_port();
    g->tls = ht_it_free_port();
    snprintf(g->http_s, sizeof g->http_s, "%d", g->http);
    snprintf(g->mqtt_s, sizeof g->mqtt_s, "%d", g->mqtt);
    snprintf(g->tls_s, sizeof g->tls_s, "%d", g->tls);
    g->data = ht_it_path(t, "gw");
    char *bin = ht_it_bin("gatewayd");
    const char *argv[] = {bin,
                          "--data-dir",
                          g->data,
                          "--http-port",
                          g->http_s,
                          "--mqtt-port",
                          g->mqtt_s,
                          "--mqtt-tls-port",
                          g->tls_s,
                          "--no-mdns",
                          "--log-level",
                          "debug",
                          "--control-lease-ms",
                          "1500",
                          NULL};
    g->pid = ht_it_spawn(t, "gatewayd", argv, NULL);
    free(bin);
    HT_CHECK(t, ht_it_wait_port(g->http, 15000), "gatewayd HTTP port");
    HT_CHECK(t, ht_it_wait_port(g->tls, 15000), "broker TLS port");
    char tok[128] = "";
    ht_it_admin_token(t, g->data, tok, sizeof tok);
    snprintf(g->auth, sizeof g->auth, "Authorization: Bearer %s\r\n", tok);
    snprintf(g->tok, sizeof g->tok, "%s", tok);
    HT_WAIT(t, mqtt_ready(g), 15000, "gatewayd never connected to its broker");
}

static void gw_stop(struct ht_it *t, struct gw *g)
{
    int st = ht_it_stop(t, g->pid, SIGTERM, 15000);
    HT_CHECK(t, st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "gatewayd exit status %d", st);
    free(g->data);
}

static void provision(struct ht_it *t, struct gw *g, const char *id,
                      struct ht_it_creds *c)
{
    int st = ht_it_provision(t, g->http, g->auth, id, c);
    HT_CHECK(t, st == 201 && c->pass[0] && c->tls_port == g->tls && c->ca[0],
             "provision %s: HTTP %d", id, st);
    free(c->config);
    c->config = NULL;
}

/* A sim agent with a board's credentials on the TLS port, trusting cafile,
 * connecting to host. */
static pid_t agent(struct ht_it *t, struct gw *g, const char *id,
                   const struct ht_it_creds *c, const char *host,
                   const char *cafile, const char *logname)
{
    char broker[96];
    snprintf(broker, sizeof broker, "%s:%d", host, g->tls);
    char *bin = ht_it_bin("device-agent");
    const char *argv[] = {bin,     "--sim",      "--no-mdns", "--broker",
                          broker,  "--id",       id,          "--username",
                          c->user, "--password", c->pass,     "--cafile",
                          cafile,  NULL};
    pid_t p = ht_it_spawn(t, logname, argv, NULL);
    free(bin);
    return p;
}

static bool online(struct gw *g, const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/devices/%s", id);
    json_t *d;
    bool on = call(g, "GET", path, NULL, &d) == 200 &&
              json_is_true(json_object_get(d, "online"));
    json_decref(d);
    return on;
}

/* GET .../properties/lamp answers the bare value (as WoT consumers read
 * it). */
static bool lamp_is(struct gw *g, const char *id, bool want)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/devices/%s/properties/lamp", id);
    struct ht_it_http r;
    if (ht_it_http(g->http, "GET", path, g->auth, NULL, &r) != 0)
        return false;
    bool ok = r.status == 200 && r.body &&
              !strncmp(r.body, want ? "true" : "false", want ? 4 : 5);
    ht_it_http_free(&r);
    return ok;
}

/* mosquitto_pub over TLS; returns its exit code, stderr in *err (new). */
static int tls_pub(struct ht_it *t, struct gw *g, const char *cafile,
                   const char *user, const char *pass, const char *topic,
                   char **err)
{
    const char *argv[24] = {"/usr/bin/mosquitto_pub",
                            "-V",
                            "mqttv5",
                            "-h",
                            "127.0.0.1",
                            "-p",
                            g->tls_s,
                            "--cafile",
                            cafile,
                            "-t",
                            topic,
                            "-m",
                            "{}",
                            "-q",
                            "1"};
    size_t n = 15;
    if (user) {
        argv[n++] = "-u";
        argv[n++] = user;
        argv[n++] = "-P";
        argv[n++] = pass;
    }
    argv[n] = NULL;
    return ht_it_run(t, argv, NULL, 10000, NULL, err);
}

/* A CA of our own making that signed nothing the broker has. */
static char *wrong_ca(struct ht_it *t)
{
    char *key = ht_it_path(t, "wrong-ca.key");
    char *crt = ht_it_path(t, "wrong-ca.crt");
    const char *gen[] = {"/usr/bin/openssl",
                         "req",
                         "-x509",
                         "-newkey",
                         "ec",
                         "-pkeyopt",
                         "ec_paramgen_curve:P-256",
                         "-nodes",
                         "-keyout",
                         key,
                         "-out",
                         crt,
                         "-subj",
                         "/CN=Not the gateway CA",
                         "-days",
                         "2",
                         NULL};
    HT_CHECK(t, ht_it_run(t, gen, NULL, 20000, NULL, NULL) == 0,
             "openssl could not make a CA");
    free(key);
    return crt;
}

/* ---- cases ---- */

static void anonymous_connect_is_refused_by_default(struct ht_it *t)
{
    struct gw g;
    gw_start(t, &g);
    /* Plain loopback listener. */
    struct ht_it_mqtt *m = ht_it_mqtt_new(g.mqtt, "anon", NULL, NULL);
    HT_CHECK(t, m == NULL, "anonymous client accepted on the plain port");
    /* TLS listener: anonymous refused, a board's account accepted (so the
     * refusal is about authentication, not TLS). */
    struct ht_it_creds c;
    provision(t, &g, "anon-check", &c);
    char *err = NULL;
    int rc = tls_pub(t, &g, c.ca, NULL, NULL, P "anon-check/props/x", &err);
    HT_CHECK(t, rc != 0, "anonymous client accepted on the TLS port");
    HT_CHECK(t, err && strcasestr(err, "not authori"), "%s", err ? err : "");
    free(err);
    err = NULL;
    rc = tls_pub(t, &g, c.ca, c.user, c.pass, P "anon-check/props/x", &err);
    HT_CHECK(t, rc == 0, "the board's own account over TLS: %d %s", rc,
             err ? err : "");
    free(err);
    /* Wrong password: refused. */
    m = ht_it_mqtt_new(g.mqtt, "anon-check", c.user, "0000");
    HT_CHECK(t, m == NULL, "wrong password accepted");
    gw_stop(t, &g);
}

static void board_cannot_use_another_boards_topics(struct ht_it *t)
{
    struct gw g;
    gw_start(t, &g);
    struct ht_it_creds c1, c2;
    provision(t, &g, "b1", &c1);
    provision(t, &g, "b2", &c2);
    struct ht_it_mqtt *b2 = ht_it_mqtt_new(g.mqtt, "b2", c2.user, c2.pass);
    HT_CHECK(t, b2 && ht_it_mqtt_sub(b2, P "b2/cmd/+") == 1);
    struct ht_it_mqtt *b1 = ht_it_mqtt_new(g.mqtt, "b1", c1.user, c1.pass);
    HT_CHECK(t, b1 != NULL);
    /* Subscribing to b2's topics: refused when subscribing. */
    static const char *const subs[] = {
        P "b2/cmd/+", P "b2/cmd/lamp", P "b2/props/+", P "b2/td",
        P "b2/sync",  P "+/cmd/+",     P "#",          "holotwin/v1/#",
    };
    for (size_t i = 0; i < sizeof subs / sizeof *subs; i++) {
        int q = ht_it_mqtt_sub(b1, subs[i]);
        HT_CHECK(t, q == 135, "b1 subscribed to %s (SUBACK %d)", subs[i], q);
    }
    /* ...while its own are granted: the refusals are about whose topic. */
    HT_CHECK(t, ht_it_mqtt_sub(b1, P "b1/cmd/+") == 1);
    HT_CHECK(t, ht_it_mqtt_sub(b1, P "b1/sync") == 1);
    HT_CHECK(t, ht_it_mqtt_sub(b1, "holotwin/v1/sync") == 1);
    ht_it_mqtt_free(b1);
    /* Publishing as b2: refused (one connection each: the broker closes
     * the connection after a refused QoS 1 publish, docs/gatewayd.md). */
    static const char *const pubs[] = {P "b2/props/temp", P "b2/td",
                                       P "b2/status", P "b2/ack"};
    for (size_t i = 0; i < sizeof pubs / sizeof *pubs; i++) {
        b1 = ht_it_mqtt_new(g.mqtt, "b1", c1.user, c1.pass);
        HT_CHECK(t, b1 != NULL);
        int rc = ht_it_mqtt_pub(b1, pubs[i], "{\"v\":1}", 1, false);
        HT_CHECK(t, rc == 135, "b1 published on %s: reason %d", pubs[i], rc);
        ht_it_mqtt_free(b1);
    }
    b1 = ht_it_mqtt_new(g.mqtt, "b1", c1.user, c1.pass);
    HT_CHECK(t,
             ht_it_mqtt_pub(b1, P "b1/props/temp", "{\"v\":1}", 1, false) == 0,
             "b1 cannot publish its own values");
    ht_it_mqtt_free(b1);
    HT_CHECK(t, ht_it_mqtt_count(b2, "#") == 0, "b2 received something");
    ht_it_mqtt_free(b2);
    gw_stop(t, &g);
}

static void board_cannot_send_commands(struct ht_it *t)
{
    struct gw g;
    gw_start(t, &g);
    struct ht_it_creds c1, c2;
    provision(t, &g, "b1", &c1);
    provision(t, &g, "b2", &c2);
    pid_t a2 = agent(t, &g, "b2", &c2, "127.0.0.1", c2.ca, "agent-b2");
    HT_WAIT(t, online(&g, "b2"), 15000, "agent b2 never came online");
    HT_CHECK(t,
             call(&g, "POST", "/api/v1/devices/b2/approve", NULL, NULL) == 200);
    HT_WAIT(t, lamp_is(&g, "b2", false), 10000, "no lamp value from b2");
    /* A board commanding another board, or itself: not authorized. */
    static const char *const cmds[] = {P "b2/cmd/lamp", P "b1/cmd/lamp"};
    for (size_t i = 0; i < 2; i++) {
        struct ht_it_mqtt *b1 = ht_it_mqtt_new(g.mqtt, "b1", c1.user, c1.pass);
        HT_CHECK(t, b1 != NULL);
        int rc = ht_it_mqtt_pub(b1, cmds[i], "{\"v\":true}", 1, false);
        HT_CHECK(t, rc == 135, "b1 sent a command on %s: reason %d", cmds[i],
                 rc);
        ht_it_mqtt_free(b1);
    }
    /* The gateway's command path works, so the lamp can change at all:
     * nothing reached b2 before it (the lamp was still off). */
    HT_CHECK(t, lamp_is(&g, "b2", false), "b2 obeyed a board's command");
    HT_CHECK(t, call(&g, "PUT", "/api/v1/devices/b2/properties/lamp", "true",
                     NULL) == 200);
    HT_CHECK(t, lamp_is(&g, "b2", true));
    ht_it_stop(t, a2, SIGTERM, 10000);
    gw_stop(t, &g);
}

static void board_cannot_take_over_a_client_id(struct ht_it *t)
{
    struct gw g;
    gw_start(t, &g);
    struct ht_it_creds c1, c2;
    provision(t, &g, "b1", &c1);
    provision(t, &g, "b2", &c2);
    struct ht_it_mqtt *b2 = ht_it_mqtt_new(g.mqtt, "b2", c2.user, c2.pass);
    HT_CHECK(t, b2 != NULL);
    /* b1 presents b2's id, the gateway's configured id and its broker
     * user: each connection is accepted under b1's own name, and nobody
     * is knocked off. */
    static const char *const ids[] = {"b2", "holotwin-gateway", "_gateway"};
    for (size_t i = 0; i < 3; i++) {
        struct ht_it_mqtt *x = ht_it_mqtt_new(g.mqtt, ids[i], c1.user, c1.pass);
        HT_CHECK(t, x != NULL, "b1 as %s refused", ids[i]);
        /* A round trip on the new connection: the broker has handled the
         * CONNECT (and any takeover) by the time the PUBACK is back. */
        HT_CHECK(t,
                 ht_it_mqtt_pub(x, P "b1/props/x", "{\"v\":1}", 1, false) == 0);
        ht_it_mqtt_free(x);
    }
    HT_CHECK(t, ht_it_mqtt_pub(b2, P "b2/props/x", "{\"v\":1}", 1, false) == 0);
    HT_CHECK(t, ht_it_mqtt_disconnects(b2) == 0,
             "b2 was disconnected by a client claiming its id");
    char *log = ht_it_logfile(t, "gatewayd");
    HT_CHECK(t, log && !strstr(log, "disconnected from"),
             "the gateway lost its MQTT session");
    free(log);
    HT_CHECK(t, mqtt_ready(&g));
    ht_it_mqtt_free(b2);
    gw_stop(t, &g);
}

static void tls_works_with_the_issued_ca_and_fails_otherwise(struct ht_it *t)
{
    struct gw g;
    gw_start(t, &g);
    char *ca = NULL;
    if (asprintf(&ca, "%s/ca/ca.crt", g.data) < 0)
        abort();
    char *bad = wrong_ca(t);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", g.tls);
    /* openssl s_client: verified against the CA, host name (IP) checked. */
    const char *ok_argv[] = {"/bin/sh",
                             "-c",
                             "echo | /usr/bin/openssl s_client -connect \"$1\" "
                             "-CAfile \"$2\" -verify_return_error -verify_ip "
                             "127.0.0.1 2>&1",
                             "sh",
                             addr,
                             ca,
                             NULL};
    char *out = NULL;
    int rc = ht_it_run(t, ok_argv, NULL, 20000, &out, NULL);
    HT_CHECK(t, rc == 0 && out && strstr(out, "Verify return code: 0 (ok)"),
             "s_client with the issued CA: %d %s", rc, out ? out : "");
    free(out);
    const char *bad_argv[] = {"/bin/sh",
                              "-c",
                              "echo | /usr/bin/openssl s_client -connect "
                              "\"$1\" -CAfile \"$2\" -verify_return_error "
                              "2>&1",
                              "sh",
                              addr,
                              bad,
                              NULL};
    out = NULL;
    rc = ht_it_run(t, bad_argv, NULL, 20000, &out, NULL);
    HT_CHECK(t, rc != 0 && out && strstr(out, "certificate verify failed"),
             "s_client with a wrong CA: %d %s", rc, out ? out : "");
    free(out);
    /* The CA key is private, the CA certificate is what boards get. */
    char *key = NULL;
    if (asprintf(&key, "%s/ca/ca.key", g.data) < 0)
        abort();
    struct stat st;
    HT_CHECK(t, stat(key, &st) == 0 && (st.st_mode & 0777) == 0600,
             "ca.key mode %o", st.st_mode & 0777);
    free(key);

    /* The agent: right CA -> online; wrong CA, or a host name the
     * certificate does not carry (127.0.0.2 reaches the same listener),
     * -> never connects. */
    struct ht_it_creds c1, c2, c3;
    provision(t, &g, "tls-ok", &c1);
    provision(t, &g, "tls-bad-ca", &c2);
    provision(t, &g, "tls-bad-host", &c3);
    agent(t, &g, "tls-bad-ca", &c2, "127.0.0.1", bad, "agent-bad-ca");
    agent(t, &g, "tls-bad-host", &c3, "127.0.0.2", c3.ca, "agent-bad-host");
    agent(t, &g, "tls-ok", &c1, "127.0.0.1", c1.ca, "agent-ok");
    HT_WAIT(t, online(&g, "tls-ok"), 15000, "agent with the issued CA");
    char *l1 = NULL, *l2 = NULL;
    HT_WAIT(t,
            (free(l1), l1 = ht_it_logfile(t, "agent-bad-ca"),
             l1 && strstr(l1, "certificate verify failed")),
            15000, "agent with a wrong CA: %s", l1 ? l1 : "");
    HT_WAIT(t,
            (free(l2), l2 = ht_it_logfile(t, "agent-bad-host"),
             l2 && strstr(l2, "certificate verify failed")),
            15000, "agent with a wrong host name: %s", l2 ? l2 : "");
    free(l1);
    free(l2);
    HT_CHECK(t, !online(&g, "tls-bad-ca") && !online(&g, "tls-bad-host"));
    free(bad);
    free(ca);
    gw_stop(t, &g);
}

/* An external broker (someone else's, with its own CA made by openssl):
 * gatewayd connects over TLS with --broker-cafile, and refuses a broker
 * whose certificate does not chain to that CA. */
static void gateway_uses_tls_to_an_external_broker(struct ht_it *t)
{
    char *d = strdup(ht_it_dir(t));
    char *sh = NULL;
    if (asprintf(&sh,
                 "set -e; cd '%s'; O=/usr/bin/openssl;"
                 "$O req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
                 "-nodes -keyout ext-ca.key -out ext-ca.crt -subj /CN=ext-ca "
                 "-days 2;"
                 "$O req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                 "-keyout ext.key -out ext.csr -subj /CN=ext-broker;"
                 "printf 'subjectAltName=IP:127.0.0.1\n' > ext.cnf;"
                 "$O x509 -req -in ext.csr -CA ext-ca.crt -CAkey ext-ca.key "
                 "-CAcreateserial -out ext.crt -days 2 -extfile ext.cnf",
                 d) < 0)
        abort();
    const char *gen[] = {"/bin/sh", "-c", sh, NULL};
    char *err = NULL;
    HT_CHECK(t, ht_it_run(t, gen, NULL, 30000, NULL, &err) == 0, "openssl: %s",
             err ? err : "");
    free(err);
    free(sh);
    int tls = ht_it_free_port();
    char extra[1024];
    snprintf(extra, sizeof extra,
             "listener %d 127.0.0.1\ncertfile %s/ext.crt\n"
             "keyfile %s/ext.key\n",
             tls, d, d);
    struct ht_it_broker b;
    ht_it_broker_start(t, &b, extra);
    HT_CHECK(t, ht_it_wait_port(tls, 5000), "broker TLS port");
    char *bad = wrong_ca(t);
    for (int round = 0; round < 2; round++) {
        struct gw g;
        memset(&g, 0, sizeof g);
        g.http = ht_it_free_port();
        snprintf(g.http_s, sizeof g.http_s, "%d", g.http);
        char broker[64], data[32], cafile[600];
        snprintf(broker, sizeof broker, "127.0.0.1:%d", tls);
        snprintf(data, sizeof data, "gw-%d", round);
        snprintf(cafile, sizeof cafile, "%s/ext-ca.crt", d);
        g.data = ht_it_path(t, data);
        char *bin = ht_it_bin("gatewayd");
        const char *argv[] = {bin,
                              "--data-dir",
                              g.data,
                              "--http-port",
                              g.http_s,
                              "--broker",
                              broker,
                              "--broker-cafile",
                              round ? bad : cafile,
                              "--no-mdns",
                              NULL};
        g.pid = ht_it_spawn(t, round ? "gatewayd-bad" : "gatewayd", argv, NULL);
        free(bin);
        HT_CHECK(t, ht_it_wait_port(g.http, 15000), "gatewayd HTTP port");
        if (round == 0) {
            HT_WAIT(t, mqtt_ready(&g), 15000,
                    "gatewayd did not connect over TLS");
        } else {
            char *log = NULL;
            HT_WAIT(t,
                    (free(log), log = ht_it_logfile(t, "gatewayd-bad"),
                     log && strstr(log, "certificate verify failed")),
                    15000, "gatewayd accepted a broker it cannot verify");
            free(log);
            HT_CHECK(t, !mqtt_ready(&g));
        }
        gw_stop(t, &g);
    }
    free(bad);
    free(d);
}

/* ---- MQTT accounts for apps ---- */

/* `gwctl accounts add NAME --role ROLE --json`: the account (new). */
static json_t *account_add(struct ht_it *t, struct gw *g, const char *name,
                           const char *role)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", g->http);
    char *bin = ht_it_bin("gwctl");
    const char *argv[] = {bin,      "--gateway", url,      "--token",
                          g->tok,   "accounts",  "add",    name,
                          "--role", role,        "--json", NULL};
    char *out = NULL, *err = NULL;
    int rc = ht_it_run(t, argv, NULL, 30000, &out, &err);
    json_t *o = json_loads(out ? out : "", 0, NULL);
    json_t *a = json_incref(json_object_get(o, "account"));
    HT_CHECK(t, rc == 0 && a, "gwctl accounts add %s: %d %s %s", name, rc,
             out ? out : "", err ? err : "");
    json_decref(o);
    free(out);
    free(err);
    free(bin);
    return a;
}

static const char *acc(json_t *a, const char *k)
{
    const char *s =
        json_string_value(json_object_get(json_object_get(a, "mqtt"), k));
    return s ? s : "";
}

/* A board with a lamp, approved, and a twin over it: what apps watch. */
static pid_t lamp_world(struct ht_it *t, struct gw *g)
{
    struct ht_it_creds c;
    provision(t, g, "b1", &c);
    pid_t a = agent(t, g, "b1", &c, "127.0.0.1", c.ca, "agent-b1");
    HT_WAIT(t, online(g, "b1"), 15000, "agent b1 never came online");
    HT_CHECK(t,
             call(g, "POST", "/api/v1/devices/b1/approve", NULL, NULL) == 200);
    HT_WAIT(t, lamp_is(g, "b1", false), 10000, "no lamp value from b1");
    HT_CHECK(t, call(g, "PUT", "/api/v1/twins/lampwatch",
                     "{\"id\":\"lampwatch\",\"title\":\"Lamp\",\"components\":"
                     "[{\"id\":\"lamp\",\"kind\":\"lamp\",\"properties\":[{"
                     "\"name\":\"on\",\"bind\":\"b1/lamp\",\"type\":"
                     "\"boolean\",\"writable\":true}]}]}",
                     NULL) /
                        100 ==
                    2);
    return a;
}

/* True when the newest audit records hold one by actor with action. */
static bool audited_any(struct gw *g, const char *actor, const char *action)
{
    json_t *l = NULL;
    bool found = false;
    if (call(g, "GET", "/api/v1/audit?limit=50", NULL, &l) == 200) {
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(l, "items"), i, e)
        {
            const char *ac = json_string_value(json_object_get(e, "actor"));
            const char *an = json_string_value(json_object_get(e, "action"));
            found |= ac && an && !strcmp(ac, actor) && !strcmp(an, action);
        }
    }
    json_decref(l);
    return found;
}

/* Who holds twin on g (new string: the holder's name, "" for nobody). */
static char *holder(struct gw *g)
{
    json_t *o = NULL;
    call(g, "GET", "/api/v1/twins/lampwatch/control", NULL, &o);
    json_t *h = json_object_get(json_object_get(o, "holder"), "name");
    char *s = strdup(json_is_string(h) ? json_string_value(h) : "");
    json_decref(o);
    return s;
}

static bool holder_is(struct gw *g, const char *name)
{
    char *h = holder(g);
    bool yes = !strcmp(h, name);
    free(h);
    return yes;
}

/* An operator app takes control over MQTT (issue 16: "a person or an
 * app"); its MQTT connection keeps the lease (its retained status topic,
 * with a Will), and when that connection is lost the lease ends. */
static void operator_app_holds_control_while_connected(struct ht_it *t)
{
    struct gw g;
    gw_start(t, &g);
    pid_t a = lamp_world(t, &g);
    json_t *o = account_add(t, &g, "ctl-hmd", "operator");
    char user[96], pass[96];
    snprintf(user, sizeof user, "%s", acc(o, "username"));
    snprintf(pass, sizeof pass, "%s", acc(o, "password"));
    json_decref(o);
    const char *req = "holotwin/v1/apps/ctl-hmd/request",
               *rep = "holotwin/v1/apps/ctl-hmd/reply",
               *st = "holotwin/v1/apps/ctl-hmd/status";
    struct ht_it_mqtt *m =
        ht_it_mqtt_new_will(g.mqtt, "x", user, pass, st, "offline");
    HT_CHECK(t, m != NULL, "operator account refused");
    HT_CHECK(t, ht_it_mqtt_pub(m, st, "online", 1, true) == 0);
    char *r = ht_it_mqtt_request(
        m, req, "{\"twin\":\"lampwatch\",\"control\":\"take\"}", rep, "c-1",
        15000);
    HT_CHECK(t, r && strstr(r, "\"status\":200"), "take: %s", r ? r : "(none)");
    free(r);
    HT_CHECK(t, holder_is(&g, "mqtt:ctl-hmd"));
    /* Someone else's command is refused while the app holds it. */
    HT_CHECK(t, call(&g, "PUT", "/api/v1/twins/lampwatch/properties/lamp.on",
                     "true", NULL) == 423);
    /* No SSE stream, three leases long: the connection keeps it. */
    ht_it_sleep_ms(4500);
    HT_CHECK(t, holder_is(&g, "mqtt:ctl-hmd"),
             "the app lost control while connected");
    /* The app's own command goes through. */
    ht_it_mqtt_clear(m);
    r = ht_it_mqtt_request(m, req,
                           "{\"twin\":\"lampwatch\",\"property\":"
                           "\"lamp.on\",\"value\":true}",
                           rep, "c-2", 15000);
    HT_CHECK(t, r && strstr(r, "\"status\":200"), "write: %s",
             r ? r : "(none)");
    free(r);
    ht_it_mqtt_clear(m);
    r = ht_it_mqtt_request(m, req,
                           "{\"twin\":\"lampwatch\",\"control\":\"steal\"}",
                           rep, "c-3", 15000);
    HT_CHECK(t, r && strstr(r, "\"status\":400"), "%s", r ? r : "(none)");
    free(r);
    /* The connection is lost: the broker publishes its Will, the lease
     * ends (1.5 s), audited. */
    ht_it_mqtt_drop(m);
    HT_WAIT(t, holder_is(&g, ""), 8000, "the lease outlived the app");
    HT_WAIT(t, audited_any(&g, "gateway", "control-expire"), 5000);
    /* An app writes its own status only (a refusal ends the connection:
     * a client of its own). */
    m = ht_it_mqtt_new(g.mqtt, "x", user, pass);
    HT_CHECK(t, m != NULL);
    HT_CHECK(t, ht_it_mqtt_pub(m, "holotwin/v1/apps/other/status", "online", 1,
                               true) == 135);
    ht_it_mqtt_free(m);
    HT_CHECK(t, call(&g, "PUT", "/api/v1/twins/lampwatch/properties/lamp.on",
                     "false", NULL) == 200);
    HT_CHECK(t, ht_it_stop(t, a, SIGTERM, 5000) == 0);
    gw_stop(t, &g);
}

static void viewer_account_reads_twins_and_cannot_command(struct ht_it *t)
{
    struct gw g;
    gw_start(t, &g);
    pid_t a = lamp_world(t, &g);
    json_t *v = account_add(t, &g, "hall-hmd", "viewer");
    char user[96], pass[96];
    snprintf(user, sizeof user, "%s", acc(v, "username"));
    snprintf(pass, sizeof pass, "%s", acc(v, "password"));
    HT_CHECK(t, !strcmp(user, "_viewer.hall-hmd") && pass[0]);
    HT_CHECK(t, strstr(acc(v, "ca"), "BEGIN CERTIFICATE"), "no CA");
    /* It reads the twin's retained state. */
    struct ht_it_mqtt *m = ht_it_mqtt_new(g.mqtt, "x", user, pass);
    HT_CHECK(t, m != NULL, "viewer account refused");
    HT_CHECK(t, ht_it_mqtt_sub(m, "holotwin/v1/twins/+/state") == 1);
    char *st =
        ht_it_mqtt_wait(m, "holotwin/v1/twins/lampwatch/state", "lamp", 10000);
    HT_CHECK(t, st != NULL, "no twin state for the viewer");
    free(st);
    /* The boards' values (the device TDs' MQTT observe forms), as a
     * viewer token reads them over REST; nothing else of a board, nothing
     * to write. */
    HT_CHECK(t, ht_it_mqtt_sub(m, "holotwin/v1/devices/b1/props/lamp") == 1);
    HT_CHECK(t, ht_it_mqtt_sub(m, "holotwin/v1/devices/+/props/+") == 1);
    static const char *const unreadable[] = {
        "holotwin/v1/devices/#",         "holotwin/v1/devices/b1/cmd/lamp",
        "holotwin/v1/devices/+/cmd/+",   "holotwin/v1/devices/b1/td",
        "holotwin/v1/devices/b1/status", "holotwin/v1/devices/b1/ack",
        "holotwin/v1/devices/b1/sync",   "holotwin/v1/apps/+/reply"};
    for (size_t i = 0; i < sizeof unreadable / sizeof *unreadable; i++)
        HT_CHECK(t, ht_it_mqtt_sub(m, unreadable[i]) == 135,
                 "the viewer subscribed to %s", unreadable[i]);
    ht_it_mqtt_free(m);
    static const char *const pubs[] = {"holotwin/v1/apps/hall-hmd/request",
                                       "holotwin/v1/devices/b1/cmd/lamp",
                                       "holotwin/v1/twins/lampwatch/state"};
    for (size_t i = 0; i < 3; i++) {
        m = ht_it_mqtt_new(g.mqtt, "x", user, pass);
        HT_CHECK(t, m != NULL);
        int rc = ht_it_mqtt_pub(
            m, pubs[i],
            "{\"device\":\"b1\",\"property\":\"lamp\",\"value\":true}", 1,
            false);
        HT_CHECK(t, rc == 135, "the viewer published on %s: %d", pubs[i], rc);
        ht_it_mqtt_free(m);
    }
    HT_CHECK(t, lamp_is(&g, "b1", false), "a viewer switched the lamp");
    json_decref(v);
    ht_it_stop(t, a, SIGTERM, 10000);
    gw_stop(t, &g);
}

static bool audited(struct gw *g, const char *actor, const char *action,
                    const char *target)
{
    json_t *l;
    bool found = false;
    if (call(g, "GET", "/api/v1/audit?limit=50", NULL, &l) == 200) {
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(l, "items"), i, e)
        {
            const char *ac = json_string_value(json_object_get(e, "actor"));
            const char *an = json_string_value(json_object_get(e, "action"));
            const char *tg = json_string_value(json_object_get(e, "target"));
            found |= ac && an && tg && !strcmp(ac, actor) &&
                     !strcmp(an, action) && !strcmp(tg, target) &&
                     json_integer_value(json_object_get(e, "status")) == 200;
        }
    }
    json_decref(l);
    return found;
}

static void operator_account_commands_through_the_gateway(struct ht_it *t)
{
    struct gw g;
    gw_start(t, &g);
    pid_t a = lamp_world(t, &g);
    json_t *o = account_add(t, &g, "line-hmd", "operator");
    char user[96], pass[96];
    snprintf(user, sizeof user, "%s", acc(o, "username"));
    snprintf(pass, sizeof pass, "%s", acc(o, "password"));
    const char *req = json_string_value(
        json_object_get(json_object_get(o, "topics"), "request"));
    const char *rep = json_string_value(
        json_object_get(json_object_get(o, "topics"), "reply"));
    HT_CHECK(t, req && !strcmp(req, "holotwin/v1/apps/line-hmd/request"));
    HT_CHECK(t, rep && !strcmp(rep, "holotwin/v1/apps/line-hmd/reply"));
    struct ht_it_mqtt *m = ht_it_mqtt_new(g.mqtt, "x", user, pass);
    HT_CHECK(t, m != NULL, "operator account refused");
    /* A device property: checked, sent, acknowledged, audited, answered. */
    char *r = ht_it_mqtt_request(
        m, req, "{\"device\":\"b1\",\"property\":\"lamp\",\"value\":true}", rep,
        "corr-1", 15000);
    HT_CHECK(t, r && strstr(r, "\"status\":200") && strstr(r, "true"),
             "reply: %s", r ? r : "(none)");
    free(r);
    HT_CHECK(t, lamp_is(&g, "b1", true), "the lamp did not switch");
    HT_WAIT(t, audited(&g, "mqtt:line-hmd", "write", "lamp"), 5000,
            "no audit record of the MQTT command");
    /* A twin property, the same way. */
    ht_it_mqtt_clear(m); /* a reply is waited for among all received */
    r = ht_it_mqtt_request(m, req,
                           "{\"twin\":\"lampwatch\",\"property\":\"lamp.on\","
                           "\"value\":false}",
                           rep, "corr-2", 15000);
    HT_CHECK(t, r && strstr(r, "\"status\":200"), "twin reply: %s",
             r ? r : "(none)");
    free(r);
    HT_CHECK(t, lamp_is(&g, "b1", false));
    /* Refusals are answered like REST's: 400, 404. */
    ht_it_mqtt_clear(m); /* a reply is waited for among all received */
    r = ht_it_mqtt_request(m, req, "{\"device\":\"b1\"}", rep, "corr-3", 15000);
    HT_CHECK(t, r && strstr(r, "\"status\":400"), "%s", r ? r : "(none)");
    free(r);
    ht_it_mqtt_clear(m);
    r = ht_it_mqtt_request(
        m, req, "{\"device\":\"nope\",\"property\":\"lamp\",\"value\":1}", rep,
        "corr-4", 15000);
    HT_CHECK(t, r && strstr(r, "\"status\":404"), "%s", r ? r : "(none)");
    free(r);
    ht_it_mqtt_free(m);
    /* Still no way around the gateway: no cmd topic, no other account's
     * request topic. */
    static const char *const pubs[] = {"holotwin/v1/devices/b1/cmd/lamp",
                                       "holotwin/v1/apps/hall-hmd/request"};
    for (size_t i = 0; i < 2; i++) {
        m = ht_it_mqtt_new(g.mqtt, "x", user, pass);
        HT_CHECK(t, m != NULL);
        int rc = ht_it_mqtt_pub(m, pubs[i], "{\"v\":true}", 1, false);
        HT_CHECK(t, rc == 135, "the operator published on %s: %d", pubs[i], rc);
        ht_it_mqtt_free(m);
    }
    HT_CHECK(t, lamp_is(&g, "b1", false));
    /* Removed: the account no longer logs in. */
    HT_CHECK(t, call(&g, "DELETE", "/api/v1/mqtt-accounts/line-hmd", NULL,
                     NULL) == 204);
    HT_CHECK(t, ht_it_mqtt_new(g.mqtt, "x", user, pass) == NULL,
             "a removed account still logs in");
    json_decref(o);
    ht_it_stop(t, a, SIGTERM, 10000);
    gw_stop(t, &g);
}

/* Run gatewayd with a config; it must exit non-zero at once, saying why. */
static void refused(struct ht_it *t, const char *name, const char *conf,
                    const char *flag, const char *needle)
{
    char *path = ht_it_write(t, name, conf);
    char dname[96];
    snprintf(dname, sizeof dname, "data-%s", name);
    char *data = ht_it_path(t, dname);
    char http[16], mq[16];
    snprintf(http, sizeof http, "%d", ht_it_free_port());
    snprintf(mq, sizeof mq, "%d", ht_it_free_port());
    char *bin = ht_it_bin("gatewayd");
    const char *argv[] = {
        bin,  "--config",    path, "--data-dir",      data, "--http-port",
        http, "--mqtt-port", mq,   "--mqtt-tls-port", "0",  "--no-mdns",
        flag, NULL};
    char *err = NULL;
    int rc = ht_it_run(t, argv, NULL, 15000, NULL, &err);
    HT_CHECK(t, rc > 0 && err && strstr(err, needle),
             "%s: gatewayd exit %d: %s", name, rc, err ? err : "");
    free(err);
    free(bin);
    free(data);
    free(path);
}

static void no_listener_beyond_loopback_without_authentication(struct ht_it *t)
{
    /* --insecure (anonymous) with the broker on every interface. */
    refused(t, "a-insecure-wide.json", "{\"mqtt\":{\"bind\":\"0.0.0.0\"}}",
            "--insecure", "loopback");
    /* Authenticated, but plain text beyond loopback: boards use TLS. */
    refused(t, "b-plain-wide.json", "{\"mqtt\":{\"bind\":\"0.0.0.0\"}}",
            "--no-mdns", "loopback");
    /* Turning provisioning off needs the explicit development switch. */
    refused(t, "c-prov-off.json", "{\"broker\":{\"provisioning\":false}}",
            "--no-mdns", "--insecure");
}

HT_IT_MAIN(HT_IT_CASE(anonymous_connect_is_refused_by_default),
           HT_IT_CASE(board_cannot_use_another_boards_topics),
           HT_IT_CASE(board_cannot_send_commands),
           HT_IT_CASE(board_cannot_take_over_a_client_id),
           HT_IT_CASE(tls_works_with_the_issued_ca_and_fails_otherwise),
           HT_IT_CASE(gateway_uses_tls_to_an_external_broker),
           HT_IT_CASE(viewer_account_reads_twins_and_cannot_command),
           HT_IT_CASE(operator_account_commands_through_the_gateway),
           HT_IT_CASE(operator_app_holds_control_while_connected),
           HT_IT_CASE(no_listener_beyond_loopback_without_authentication))
