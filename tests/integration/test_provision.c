/* test_provision.c - broker provisioning by gatewayd (the default with the
 * embedded mosquitto): per-device credentials shown once and stored
 * hashed, ACLs that keep a board to its own topics, no anonymous clients,
 * revocation on DELETE, persistence across restarts; and that with
 * --insecure, or an external broker, nothing changes. */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

struct gw {
    int http, mqtt;
    char http_s[16], mqtt_s[16], tls_s[16], broker[64];
    char *data;
    char auth[160];
    pid_t pid;
};

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static char *data_file(struct gw *g, const char *name)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", g->data, name) < 0)
        abort();
    return p;
}

static int call(struct gw *g, const char *method, const char *path,
                const char *body, json_t **out, char **raw)
{
    struct ht_it_http r;
    if (out)
        *out = NULL;
    if (raw)
        *raw = NULL;
    if (ht_it_http(g->http, method, path, g->auth, body, &r) != 0)
        return -1;
    int st = r.status;
    if (out)
        *out = ht_it_http_json(&r);
    if (raw)
        *raw = strdup(r.body ? r.body : "");
    ht_it_http_free(&r);
    return st;
}

static bool gw_mqtt_up(struct gw *g)
{
    json_t *h;
    bool up = call(g, "GET", "/healthz", NULL, &h, NULL) == 200 &&
              json_is_true(json_object_get(h, "mqtt"));
    json_decref(h);
    return up;
}

/* (Re)start gatewayd on g's ports and data dir. provisioning: the
 * default, else --insecure; external: use that broker port instead of our
 * own. */
static void gw_spawn(struct ht_it *t, struct gw *g, bool provisioning,
                     int external)
{
    char *bin = ht_it_bin("gatewayd");
    const char *argv[20] = {bin,           "--data-dir", g->data,
                            "--http-port", g->http_s,    "--no-mdns",
                            "--log-level", "debug"};
    size_t n = 8;
    if (external) {
        snprintf(g->broker, sizeof g->broker, "127.0.0.1:%d", external);
        argv[n++] = "--broker";
        argv[n++] = g->broker;
    } else {
        argv[n++] = "--mqtt-port";
        argv[n++] = g->mqtt_s;
        if (!g->tls_s[0])
            snprintf(g->tls_s, sizeof g->tls_s, "%d", ht_it_free_port());
        argv[n++] = "--mqtt-tls-port";
        argv[n++] = g->tls_s;
    }
    if (!provisioning)
        argv[n++] = "--insecure";
    argv[n] = NULL;
    g->pid = ht_it_spawn(t, "gatewayd", argv, NULL);
    free(bin);
    HT_CHECK(t, ht_it_wait_port(g->http, 15000), "gatewayd HTTP port");
    if (!external)
        HT_CHECK(t, ht_it_wait_port(g->mqtt, 15000), "embedded broker port");
    char *tp = data_file(g, "admin.token");
    char *tok = NULL;
    for (int i = 0; i < 250 && !(tok && *tok); i++) {
        free(tok);
        tok = read_file(tp);
        if (!(tok && *tok))
            ht_it_sleep_ms(20);
    }
    HT_CHECK(t, tok && *tok, "no %s", tp);
    tok[strcspn(tok, "\r\n")] = '\0';
    snprintf(g->auth, sizeof g->auth, "Authorization: Bearer %s\r\n", tok);
    free(tok);
    free(tp);
    HT_WAIT(t, gw_mqtt_up(g), 15000, "gatewayd never connected to its broker");
}

static void gw_start(struct ht_it *t, struct gw *g, bool provisioning)
{
    memset(g, 0, sizeof *g);
    g->http = ht_it_free_port();
    g->mqtt = ht_it_free_port();
    snprintf(g->http_s, sizeof g->http_s, "%d", g->http);
    snprintf(g->mqtt_s, sizeof g->mqtt_s, "%d", g->mqtt);
    g->data = ht_it_path(t, "gw");
    gw_spawn(t, g, provisioning, 0);
}

/* SIGTERM must stop it cleanly (and, under ASan, without leaks). */
static void gw_stop(struct ht_it *t, struct gw *g)
{
    int st = ht_it_stop(t, g->pid, SIGTERM, 15000);
    HT_CHECK(t, st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "gatewayd exit status %d", st);
}

/* POST /api/v1/devices {"id"}: 201 with username and password. */
static void provision(struct ht_it *t, struct gw *g, const char *id, char *user,
                      char *pass, size_t len)
{
    char body[128];
    snprintf(body, sizeof body, "{\"id\":\"%s\"}", id);
    json_t *a;
    char *raw;
    int st = call(g, "POST", "/api/v1/devices", body, &a, &raw);
    HT_CHECK(t, st == 201, "POST %s: %d %s", id, st, raw);
    json_t *m = json_object_get(a, "mqtt");
    const char *u = json_string_value(json_object_get(m, "username"));
    const char *p = json_string_value(json_object_get(m, "password"));
    HT_CHECK(t, u && !strcmp(u, id), "username: %s", raw);
    HT_CHECK(t, p && strlen(p) >= 32, "password: %s", raw);
    HT_CHECK(t, json_integer_value(json_object_get(m, "port")) == g->mqtt, "%s",
             raw);
    snprintf(user, len, "%s", u);
    snprintf(pass, len, "%s", p);
    json_decref(a);
    free(raw);
}

static bool can_connect(struct gw *g, const char *cid, const char *u,
                        const char *p)
{
    struct ht_it_mqtt *m = ht_it_mqtt_new(g->mqtt, cid, u, p);
    ht_it_mqtt_free(m);
    return m != NULL;
}

/* ---- cases ---- */

static void credentials_shown_once_and_stored_hashed(struct ht_it *t)
{
    struct gw g;
    gw_start(t, &g, true);
    char user[128], pass[128];
    provision(t, &g, "press-7", user, pass, sizeof user);

    /* Never again: not in the device, the list, nor a second POST. */
    char *raw;
    HT_CHECK(t, call(&g, "GET", "/api/v1/devices/press-7", NULL, NULL, &raw) ==
                    200);
    HT_CHECK(t, !strstr(raw, pass), "GET shows the password: %s", raw);
    free(raw);
    HT_CHECK(t, call(&g, "GET", "/api/v1/devices", NULL, NULL, &raw) == 200);
    HT_CHECK(t, strstr(raw, "press-7") && !strstr(raw, pass), "%s", raw);
    free(raw);
    int st =
        call(&g, "POST", "/api/v1/devices", "{\"id\":\"press-7\"}", NULL, &raw);
    HT_CHECK(t, st == 409 && !strstr(raw, pass), "%d %s", st, raw);
    free(raw);
    /* The gateway's own user name is not a device id. */
    st = call(&g, "POST", "/api/v1/devices", "{\"id\":\"_gateway\"}", NULL,
              &raw);
    HT_CHECK(t, st == 400, "%d %s", st, raw);
    free(raw);

    /* Stored hashed: the password appears in no file of the data dir,
     * nor in the logs. */
    char *pw = data_file(&g, "broker/passwd");
    char *text = read_file(pw);
    HT_CHECK(t,
             text && strstr(text, "press-7:$7$101$") &&
                 strstr(text, "_gateway:$7$") && !strstr(text, pass),
             "%s", text ? text : "(no passwd file)");
    struct stat sb;
    HT_CHECK(t, stat(pw, &sb) == 0 && (sb.st_mode & 0777) == 0600,
             "passwd mode %o", sb.st_mode & 0777);
    free(text);
    free(pw);
    char *cmd = NULL;
    if (asprintf(&cmd, "grep -rlF '%s' '%s'", pass, ht_it_dir(t)) < 0)
        abort();
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    char *out = NULL;
    int rc = ht_it_run(t, argv, NULL, 10000, &out, NULL);
    HT_CHECK(t, rc == 1, "password found in %s", out ? out : "?");
    free(out);
    free(cmd);
    char *sec = data_file(&g, "broker/gateway.secret");
    HT_CHECK(t, stat(sec, &sb) == 0 && (sb.st_mode & 0777) == 0600,
             "gateway.secret mode %o", sb.st_mode & 0777);
    free(sec);

    /* The broker: right password yes, wrong password and anonymous no. */
    HT_CHECK(t, can_connect(&g, "press-7", user, pass));
    HT_CHECK(t, !can_connect(&g, "press-7", user, "not-the-password"));
    HT_CHECK(t, !can_connect(&g, "press-7b", "press-8", pass));
    HT_CHECK(t, !can_connect(&g, "anon", NULL, NULL),
             "anonymous client accepted");
    gw_stop(t, &g);
    free(g.data);
}

static void board_is_confined_to_its_own_topics(struct ht_it *t)
{
    struct gw g;
    gw_start(t, &g, true);
    char ua[128], pa[128], ub[128], pb[128];
    provision(t, &g, "cell-a", ua, pa, sizeof ua);
    provision(t, &g, "cell-b", ub, pb, sizeof ub);
    struct ht_it_mqtt *a = ht_it_mqtt_new(g.mqtt, "cell-a", ua, pa);
    HT_CHECK(t, a != NULL);
    /* Its own topics: TD, status, values, acks. */
    HT_CHECK(t, ht_it_mqtt_pub(a, "holotwin/v1/devices/cell-a/props/t",
                               "{\"v\":1,\"ts\":1700000000001,\"seq\":1}", 1,
                               false) == 0);
    HT_CHECK(t,
             ht_it_mqtt_pub(a, "holotwin/v1/devices/cell-a/status",
                            "{\"state\":\"online\",\"ts\":1}", 1, true) == 0);
    HT_CHECK(t, ht_it_mqtt_pub(a, "holotwin/v1/devices/cell-a/ack",
                               "{\"ok\":true}", 1, false) == 0);
    /* Anything of another board, or of the gateway: "not authorized". */
    static const char *const forbidden[] = {
        "holotwin/v1/devices/cell-b/td",
        "holotwin/v1/devices/cell-b/status",
        "holotwin/v1/devices/cell-b/props/t",
        "holotwin/v1/devices/cell-b/ack",
        "holotwin/v1/devices/cell-b/cmd/lamp",
        "holotwin/v1/devices/cell-a/cmd/lamp", /* commands come from us */
        "holotwin/v1/twins/line/state",
        "holotwin/v1/gateway/gateway/ack",
        "other/topic",
    };
    /* The broker names every session after its user: the probes below
     * would replace this one. */
    ht_it_mqtt_free(a);
    /* One connection each: mosquitto 2.0.11 with max_queued_messages 0
     * (the gateway's setting) closes the connection after a refused QoS 1
     * publish, once its PUBACK is sent (docs/gatewayd.md). */
    for (size_t i = 0; i < sizeof forbidden / sizeof *forbidden; i++) {
        char cid[32];
        snprintf(cid, sizeof cid, "cell-a-%zu", i);
        struct ht_it_mqtt *x = ht_it_mqtt_new(g.mqtt, cid, ua, pa);
        HT_CHECK(t, x != NULL);
        int rc = ht_it_mqtt_pub(x, forbidden[i], "{}", 1, false);
        HT_CHECK(t, rc == 135, "cell-a published on %s: reason %d",
                 forbidden[i], rc);
        ht_it_mqtt_free(x);
    }
    /* Reading: refused when subscribing (holotwin_acl.so, SUBACK 0x87 "not
     * authorized"), not only filtered at delivery. */
    a = ht_it_mqtt_new(g.mqtt, "cell-a", ua, pa);
    HT_CHECK(t, a != NULL);
    static const char *const unreadable[] = {
        "holotwin/v1/#",
        "#",
        "holotwin/v1/devices/+/cmd/+",
        "holotwin/v1/devices/cell-b/cmd/+",
        "holotwin/v1/devices/cell-b/#",
        "holotwin/v1/twins/#",
        "$SYS/#",
    };
    for (size_t i = 0; i < sizeof unreadable / sizeof *unreadable; i++) {
        int q = ht_it_mqtt_sub(a, unreadable[i]);
        HT_CHECK(t, q == 135, "cell-a subscribed to %s: %d", unreadable[i], q);
    }
    static const char *const readable[] = {
        "holotwin/v1/devices/cell-a/cmd/+",
        "holotwin/v1/devices/cell-a/sync",
        "holotwin/v1/sync",
    };
    for (size_t i = 0; i < sizeof readable / sizeof *readable; i++) {
        int q = ht_it_mqtt_sub(a, readable[i]);
        HT_CHECK(t, q == 1, "cell-a could not subscribe to %s: %d", readable[i],
                 q);
    }
    struct ht_it_mqtt *b = ht_it_mqtt_new(g.mqtt, "cell-b", ub, pb);
    HT_CHECK(t, b != NULL);
    HT_CHECK(t, ht_it_mqtt_pub(b, "holotwin/v1/devices/cell-b/props/t",
                               "{\"v\":2,\"ts\":1700000000002,\"seq\":2}", 1,
                               false) == 0);
    HT_CHECK(t, ht_it_mqtt_count(a, "holotwin/v1/devices/cell-b/#") == 0,
             "cell-a read cell-b's topics");
    ht_it_mqtt_free(b);
    ht_it_mqtt_free(a);
    gw_stop(t, &g);
    free(g.data);
}

/* A provisioned sim agent end to end: it registers, is approved, and a
 * command is acknowledged on its own ack topic. */
static void agent_with_credentials_takes_commands(struct ht_it *t)
{
    struct gw g;
    gw_start(t, &g, true);
    char user[128], pass[128];
    provision(t, &g, "lamp-3", user, pass, sizeof user);
    char broker[64];
    snprintf(broker, sizeof broker, "127.0.0.1:%d", g.mqtt);
    char *bin = ht_it_bin("device-agent");
    const char *argv[] = {bin,    "--sim",      "--no-mdns", "--broker",
                          broker, "--id",       "lamp-3",    "--username",
                          user,   "--password", pass,        NULL};
    pid_t ap = ht_it_spawn(t, "agent", argv, NULL);
    char *raw = NULL;
    json_t *d = NULL;
    for (int i = 0; i < 750; i++) {
        json_decref(d);
        call(&g, "GET", "/api/v1/devices/lamp-3", NULL, &d, NULL);
        if (json_is_true(json_object_get(d, "online")))
            break;
        ht_it_sleep_ms(20);
    }
    HT_CHECK(t, json_is_true(json_object_get(d, "online")),
             "the provisioned agent never came online");
    json_decref(d);
    HT_CHECK(t, call(&g, "POST", "/api/v1/devices/lamp-3/approve", NULL, NULL,
                     NULL) == 200);
    int st = call(&g, "PUT", "/api/v1/devices/lamp-3/properties/lamp", "true",
                  &d, &raw);
    HT_CHECK(t, st == 200 && json_is_true(json_object_get(d, "v")), "%d %s", st,
             raw);
    json_decref(d);
    free(raw);
    ht_it_stop(t, ap, SIGTERM, 10000);
    free(bin);
    gw_stop(t, &g);
    free(g.data);
}

static void delete_revokes_the_credentials(struct ht_it *t)
{
    struct gw g;
    gw_start(t, &g, true);
    char ua[128], pa[128], ub[128], pb[128];
    provision(t, &g, "gone-1", ua, pa, sizeof ua);
    provision(t, &g, "kept-1", ub, pb, sizeof ub);
    struct ht_it_mqtt *m = ht_it_mqtt_new(g.mqtt, "gone-1", ua, pa);
    HT_CHECK(t, m != NULL);
    HT_CHECK(t, ht_it_mqtt_pub(m, "holotwin/v1/devices/gone-1/props/x",
                               "{\"v\":1}", 1, false) == 0);
    HT_CHECK(t, call(&g, "DELETE", "/api/v1/devices/gone-1", NULL, NULL,
                     NULL) == 204);
    /* The reloaded broker drops the connected board... */
    int rc = 0;
    for (int i = 0; i < 500 && rc == 0; i++) {
        rc = ht_it_mqtt_pub(m, "holotwin/v1/devices/gone-1/props/x",
                            "{\"v\":2}", 1, false);
        if (rc == 0)
            ht_it_sleep_ms(20);
    }
    HT_CHECK(t, rc != 0, "the revoked board can still publish");
    ht_it_mqtt_free(m);
    /* ...and refuses it from now on; the other board is untouched. */
    HT_CHECK(t, !can_connect(&g, "gone-1", ua, pa),
             "revoked credentials still accepted");
    HT_CHECK(t, can_connect(&g, "kept-1", ub, pb));
    HT_CHECK(t, call(&g, "GET", "/api/v1/devices/gone-1", NULL, NULL, NULL) ==
                    404);
    char *pw = data_file(&g, "broker/passwd");
    char *text = read_file(pw);
    HT_CHECK(t, text && !strstr(text, "gone-1:") && strstr(text, "kept-1:"),
             "%s", text ? text : "");
    free(text);
    free(pw);
    /* Registering it again gives it a new, working password. */
    char ua2[128], pa2[128];
    provision(t, &g, "gone-1", ua2, pa2, sizeof ua2);
    HT_CHECK(t, strcmp(pa, pa2) != 0);
    HT_CHECK(t, !can_connect(&g, "gone-1", ua, pa));
    HT_CHECK(t, can_connect(&g, "gone-1", ua2, pa2));
    gw_stop(t, &g);
    free(g.data);
}

static void credentials_survive_a_restart(struct ht_it *t)
{
    struct gw g;
    gw_start(t, &g, true);
    char user[128], pass[128];
    provision(t, &g, "keep-9", user, pass, sizeof user);
    char *sp = data_file(&g, "broker/gateway.secret");
    char *sec1 = read_file(sp);
    gw_stop(t, &g);
    /* Whatever happened to the files meanwhile, the store rebuilds them. */
    char *pw = data_file(&g, "broker/passwd");
    HT_CHECK(t, unlink(pw) == 0);
    gw_spawn(t, &g, true, 0);
    HT_CHECK(t, can_connect(&g, "keep-9", user, pass),
             "credentials lost in the restart");
    HT_CHECK(t, !can_connect(&g, "anon", NULL, NULL));
    char *sec2 = read_file(sp);
    HT_CHECK(t, sec1 && sec2 && !strcmp(sec1, sec2),
             "the gateway's secret changed");
    int st =
        call(&g, "POST", "/api/v1/devices", "{\"id\":\"keep-9\"}", NULL, NULL);
    HT_CHECK(t, st == 409, "%d", st);
    gw_stop(t, &g);
    free(sec1);
    free(sec2);
    free(sp);
    free(pw);
    free(g.data);
}

/* --insecure (development only): anonymous boards, no credentials in the
 * answer. */
static void insecure_switch_keeps_anonymous_access(struct ht_it *t)
{
    struct gw g;
    gw_start(t, &g, false);
    json_t *a;
    HT_CHECK(t, call(&g, "POST", "/api/v1/devices", "{\"id\":\"free-1\"}", &a,
                     NULL) == 201);
    json_t *m = json_object_get(a, "mqtt");
    HT_CHECK(t, json_is_object(m) && !json_object_get(m, "password") &&
                    json_integer_value(json_object_get(m, "port")) == g.mqtt);
    json_decref(a);
    HT_CHECK(t, can_connect(&g, "anon", NULL, NULL));
    char *pw = data_file(&g, "broker/passwd");
    struct stat sb;
    HT_CHECK(t, stat(pw, &sb) != 0, "a password file without provisioning");
    free(pw);
    gw_stop(t, &g);
    free(g.data);
}

/* --broker: someone else's broker, whose accounts are not ours. */
static void external_broker_is_left_alone(struct ht_it *t)
{
    struct ht_it_broker b;
    ht_it_broker_start(t, &b, NULL);
    struct gw g;
    memset(&g, 0, sizeof g);
    g.http = ht_it_free_port();
    g.mqtt = b.port;
    snprintf(g.http_s, sizeof g.http_s, "%d", g.http);
    g.data = ht_it_path(t, "gw");
    gw_spawn(t, &g, true, b.port);
    json_t *a;
    HT_CHECK(t, call(&g, "POST", "/api/v1/devices", "{\"id\":\"ext-1\"}", &a,
                     NULL) == 201);
    HT_CHECK(t, !json_object_get(json_object_get(a, "mqtt"), "password"));
    json_decref(a);
    HT_CHECK(t, can_connect(&g, "anon", NULL, NULL));
    HT_CHECK(t, call(&g, "DELETE", "/api/v1/devices/ext-1", NULL, NULL, NULL) ==
                    204);
    gw_stop(t, &g);
    free(g.data);
}

HT_IT_MAIN(HT_IT_CASE(credentials_shown_once_and_stored_hashed),
           HT_IT_CASE(board_is_confined_to_its_own_topics),
           HT_IT_CASE(agent_with_credentials_takes_commands),
           HT_IT_CASE(delete_revokes_the_credentials),
           HT_IT_CASE(credentials_survive_a_restart),
           HT_IT_CASE(insecure_switch_keeps_anonymous_access),
           HT_IT_CASE(external_broker_is_left_alone))
