/* test_gwctl.c - gwctl against a live gatewayd with sim device agents, a
 * real mosquitto and (for discover) real mDNS: every command, the --json
 * shapes, and the documented exit codes (1 usage, 2 not found, 3 refused,
 * 4 unreachable, 5 device error or timeout). */
#include "harness.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- a gateway with its broker ---- */

struct gw {
    struct ht_it_broker b; /* external broker (own_broker: unused) */
    bool own_broker;
    int http, mqtt, tls; /* tls: the embedded broker's TLS port */
    char url[64], broker[64], http_s[16], mqtt_s[16];
    char *data;
    char *token; /* admin token */
    pid_t pid;
};

/* Open event streams, as GET /healthz counts them (-1 if unknown). */
static long long sse_clients(struct gw *g)
{
    json_t *h = NULL;
    long long n = -1;
    if (ht_it_call(g->http, NULL, "GET", "/healthz", NULL, &h) == 200)
        n = json_integer_value(json_object_get(h, "sse_clients"));
    json_decref(h);
    return n;
}

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

static void gw_spawn(struct ht_it *t, struct gw *g)
{
    char *bin = ht_it_bin("gatewayd");
    if (g->own_broker) {
        /* Provisioning is the default (docs/security.md). */
        char tls[16];
        if (!g->tls)
            g->tls = ht_it_free_port();
        snprintf(tls, sizeof tls, "%d", g->tls);
        const char *argv[] = {bin,           "--data-dir",      g->data,
                              "--http-port", g->http_s,         "--mqtt-port",
                              g->mqtt_s,     "--mqtt-tls-port", tls,
                              NULL};
        g->pid = ht_it_spawn(t, "gatewayd", argv, NULL);
    } else {
        const char *argv[] = {bin,     "--broker",    g->broker, "--data-dir",
                              g->data, "--http-port", g->http_s, NULL};
        g->pid = ht_it_spawn(t, "gatewayd", argv, NULL);
    }
    free(bin);
    bool up = ht_it_wait_port(g->http, 15000);
    HT_CHECK(t, up, "gatewayd HTTP port %d", g->http);
}

/* Start gatewayd on free ports; own_broker: gatewayd runs mosquitto itself
 * (needed for provisioning), else it uses a harness broker. */
static void gw_start(struct ht_it *t, struct gw *g, bool own_broker)
{
    memset(g, 0, sizeof *g);
    g->own_broker = own_broker;
    if (own_broker) {
        g->mqtt = ht_it_free_port();
    } else {
        ht_it_broker_start(t, &g->b, NULL);
        g->mqtt = g->b.port;
    }
    g->http = ht_it_free_port();
    snprintf(g->url, sizeof g->url, "http://127.0.0.1:%d", g->http);
    snprintf(g->broker, sizeof g->broker, "127.0.0.1:%d", g->mqtt);
    snprintf(g->http_s, sizeof g->http_s, "%d", g->http);
    snprintf(g->mqtt_s, sizeof g->mqtt_s, "%d", g->mqtt);
    g->data = ht_it_path(t, "gw");
    gw_spawn(t, g);
    char *tp = NULL;
    if (asprintf(&tp, "%s/admin.token", g->data) < 0)
        abort();
    for (int i = 0; i < 500 && !g->token; i++) {
        g->token = read_file(tp);
        if (g->token && !*g->token) {
            free(g->token);
            g->token = NULL;
        }
        if (!g->token)
            ht_it_sleep_ms(20);
    }
    HT_CHECK(t, g->token != NULL, "no %s", tp);
    g->token[strcspn(g->token, "\r\n")] = '\0';
    struct stat st;
    HT_CHECK(t, stat(tp, &st) == 0 && (st.st_mode & 0777) == 0600,
             "admin.token mode %o", st.st_mode & 0777);
    free(tp);
    if (own_broker)
        HT_CHECK(t, ht_it_wait_port(g->mqtt, 15000), "managed broker port %d",
                 g->mqtt);
}

static void gw_stop(struct ht_it *t, struct gw *g)
{
    int st = ht_it_stop(t, g->pid, SIGTERM, 15000);
    HT_CHECK(t, st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "gatewayd exit status %d", st);
    free(g->token);
    free(g->data);
}

/* The built-in sim board under id, on the gateway's broker. */
static pid_t agent_start(struct ht_it *t, const struct gw *g, const char *id)
{
    char *bin = ht_it_bin("device-agent");
    const char *argv[] = {bin,       "--sim", "--no-mdns", "--broker",
                          g->broker, "--id",  id,          NULL};
    pid_t p = ht_it_spawn(t, id, argv, NULL);
    free(bin);
    return p;
}

/* Wait until the gateway lists id (online when want_online). */
static void wait_device(struct ht_it *t, const struct gw *g, const char *id,
                        bool want_online)
{
    char path[128], auth[300];
    snprintf(path, sizeof path, "/api/v1/devices/%s", id);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", g->token);
    bool ok = false;
    for (int i = 0; i < 500 && !ok; i++) {
        struct ht_it_http r;
        if (ht_it_http(g->http, "GET", path, auth, NULL, &r) == 0 &&
            r.status == 200) {
            json_t *d = ht_it_http_json(&r);
            ok = json_is_true(json_object_get(d, "online")) == want_online;
            json_decref(d);
        }
        ht_it_http_free(&r);
        if (!ok)
            ht_it_sleep_ms(20);
    }
    HT_CHECK(t, ok, "device %s never became %s", id,
             want_online ? "online" : "offline");
}

/* ---- running gwctl ---- */

struct run {
    int rc;
    char *out, *err;
    json_t *json; /* stdout parsed (when it is JSON) */
};

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

/* gwctl [--gateway URL] [--token TOK] args... (NULL-terminated); url or
 * tok NULL leave them out. env: extra "K=V" entries or NULL. */
static struct run ctl_env(struct ht_it *t, const char *url, const char *tok,
                          const char *const *env, ...)
{
    const char *argv[40];
    int n = 0;
    char *bin = ht_it_bin("gwctl");
    argv[n++] = bin;
    if (url) {
        argv[n++] = "--gateway";
        argv[n++] = url;
    }
    if (tok) {
        argv[n++] = "--token";
        argv[n++] = tok;
    }
    va_list ap;
    va_start(ap, env);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < 39)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    struct run r = {0};
    r.rc = ht_it_run(t, argv, env, 60000, &r.out, &r.err);
    if (!r.out)
        r.out = strdup("");
    if (!r.err)
        r.err = strdup("");
    r.json = json_loads(r.out, JSON_DECODE_ANY, NULL);
    free(bin);
    return r;
}
#define CTL(t, g, ...)                                                         \
    ctl_env((t), (g)->url, (g)->token, NULL, __VA_ARGS__, NULL)
#define CTL_TOK(t, g, tok, ...)                                                \
    ctl_env((t), (g)->url, (tok), NULL, __VA_ARGS__, NULL)

/* Errors are exactly one line on stderr. */
static bool one_line(const char *s)
{
    size_t n = strlen(s);
    return n > 1 && strchr(s, '\n') == s + n - 1;
}

#define EXPECT_RC(t, r, want)                                                  \
    HT_CHECK(t, (r).rc == (want), "exit %d (want %d); stdout: %s stderr: %s",  \
             (r).rc, (want), (r).out, (r).err)

/* ---- cases without a gateway ---- */

static void bad_arguments_exit_1_with_one_line(struct ht_it *t)
{
    /* A dead gateway: a missed argument check would show up as exit 4. */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ht_it_free_port());
    static const char *const cases[][8] = {
        {"no-such-command"},
        {"--no-such-flag"},
        {"status", "extra"},
        {"devices", "show"},
        {"devices", "show", "A+B"},
        {"devices", "approve", "../etc"},
        {"devices", "frobnicate", "x"},
        {"devices", "add"},
        {"devices", "add", "bad#id"},
        {"devices", "add", "ok-id", "--backend", "wiringpi"},
        {"get", "dev"},
        {"get", "dev/x", "lamp"},
        {"get", "dev", "a.b.c"},
        {"set", "dev", "lamp"},
        {"set", "dev", "la mp", "1"},
        {"twins", "show"},
        {"twins", "apply", "nofile.json"},
        {"twins", "history", "t", "c.p", "--from", "yesterday"},
        {"twins", "history", "t", "nodot"},
        {"twins", "history", "t", "c.p", "--limit", "0"},
        {"twins", "history", "t", "c.p", "--step", "2d"},
        {"twins", "state", "t", "--at", "never"},
        {"twins", "get", "t", "nodot"},
        {"bind", "t", "c.p", "no-slash"},
        {"bind", "t", "nodot", "d/p"},
        {"ui", "t", "--target", "vr"},
        {"ui"},
        {"watch", "Bad+Twin"},
        {"watch", "--count", "x"},
        {"tokens", "create", "--role", "god", "--name", "n"},
        {"tokens", "create", "--role", "viewer"},
        {"tokens", "frob"},
        {"discover", "extra"},
        {"--timeout", "abc", "status"},
        {"help", "nope"},
    };
    char *bad = ht_it_write(t, "bad.json", "{\"id\": ");
    char *noid = ht_it_write(t, "noid.json", "{\"title\": \"x\"}");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *const *c = cases[i];
        struct run r = ctl_env(t, url, "tok", NULL, c[0], c[1], c[2], c[3],
                               c[4], c[5], c[6], NULL);
        HT_CHECK(t, r.rc == 1, "'%s %s %s ...': exit %d, stderr %s", c[0],
                 c[1] ? c[1] : "", c[2] ? c[2] : "", r.rc, r.err);
        HT_CHECK(t, one_line(r.err), "'%s %s': stderr not one line: '%s'", c[0],
                 c[1] ? c[1] : "", r.err);
        run_free(&r);
    }
    /* A malformed model names file:line:col. */
    struct run r =
        ctl_env(t, url, "tok", NULL, "twins", "apply", "-f", bad, NULL);
    EXPECT_RC(t, r, 1);
    HT_CHECK(t, strstr(r.err, "bad.json:1:"), "%s", r.err);
    run_free(&r);
    r = ctl_env(t, url, "tok", NULL, "twins", "apply", "-f", noid, NULL);
    EXPECT_RC(t, r, 1);
    run_free(&r);
    free(bad);
    free(noid);
}

static void help_for_every_command(struct ht_it *t)
{
    static const char *const cmds[] = {
        "status", "discover", "devices", "get",   "set",  "twins", "bind",
        "ui",     "watch",    "tokens",  "audit", "help", NULL};
    for (size_t i = 0; cmds[i]; i++) {
        char want[64];
        snprintf(want, sizeof want, "usage: gwctl %s", cmds[i]);
        struct run r = ctl_env(t, NULL, NULL, NULL, "help", cmds[i], NULL);
        EXPECT_RC(t, r, 0);
        HT_CHECK(t, strstr(r.out, want), "help %s: %s", cmds[i], r.out);
        run_free(&r);
        r = ctl_env(t, NULL, NULL, NULL, cmds[i], "--help", NULL);
        EXPECT_RC(t, r, 0);
        HT_CHECK(t, strstr(r.out, want), "%s --help: %s", cmds[i], r.out);
        run_free(&r);
    }
    /* The overview lists every command and the exit codes. */
    struct run r = ctl_env(t, NULL, NULL, NULL, "--help", NULL);
    EXPECT_RC(t, r, 0);
    for (size_t i = 0; cmds[i]; i++)
        HT_CHECK(t, strstr(r.out, cmds[i]), "--help lacks %s", cmds[i]);
    HT_CHECK(t, strstr(r.out, "4 gateway unreachable"), "%s", r.out);
    run_free(&r);
}

static void unreachable_gateway_exits_4(struct ht_it *t)
{
    unsetenv("HOLOTWIN_GATEWAY");
    unsetenv("HOLOTWIN_TOKEN");
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ht_it_free_port());
    static const char *const cases[][6] = {
        {"status"},
        {"devices"},
        {"devices", "show", "d"},
        {"devices", "approve", "d"},
        {"devices", "add", "d"},
        {"get", "d", "lamp"},
        {"set", "d", "lamp", "true"},
        {"get", "t", "c.p"},
        {"twins", "list"},
        {"twins", "state", "t"},
        {"bind", "t", "c.p", "d/p"},
        {"ui", "t"},
        {"watch", "--count", "1"},
        {"tokens", "list"},
        {"audit", "--device", "d"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *const *c = cases[i];
        struct run r =
            ctl_env(t, url, "tok", NULL, c[0], c[1], c[2], c[3], c[4], NULL);
        HT_CHECK(t, r.rc == 4, "'%s %s': exit %d, stderr %s", c[0],
                 c[1] ? c[1] : "", r.rc, r.err);
        HT_CHECK(t, one_line(r.err) && strstr(r.err, "unreachable"),
                 "'%s': stderr '%s'", c[0], r.err);
        run_free(&r);
    }
    /* The same through the environment and through the config file. */
    char envg[100];
    snprintf(envg, sizeof envg, "HOLOTWIN_GATEWAY=%s", url);
    const char *env[] = {envg, NULL};
    struct run r = ctl_env(t, NULL, NULL, env, "status", NULL);
    EXPECT_RC(t, r, 4);
    HT_CHECK(t, strstr(r.err, url), "%s", r.err);
    run_free(&r);
    char *home = ht_it_path(t, "home");
    char *conf = NULL;
    if (asprintf(&conf,
                 "mkdir -p %s/.config/holotwin && printf "
                 "'{\"gateway\":\"%s\",\"token\":\"x\"}' > "
                 "%s/.config/holotwin/gwctl.json",
                 home, url, home) < 0)
        abort();
    HT_CHECK(t, system(conf) == 0);
    char envh[300];
    snprintf(envh, sizeof envh, "HOME=%s", home);
    const char *env2[] = {envh, NULL};
    r = ctl_env(t, NULL, NULL, env2, "devices", NULL);
    EXPECT_RC(t, r, 4);
    HT_CHECK(t, strstr(r.err, url), "config file not used: %s", r.err);
    run_free(&r);
    free(conf);
    free(home);
}

static void discover_without_avahi_exits_4(struct ht_it *t)
{
    const char *env[] = {"DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent/bus",
                         NULL};
    struct run r = ctl_env(t, "http://127.0.0.1:1", NULL, env, "discover",
                           "--timeout", "2", NULL);
    EXPECT_RC(t, r, 4);
    HT_CHECK(t, one_line(r.err) && strstr(r.err, "avahi"), "%s", r.err);
    run_free(&r);
}

/* ---- live gateway ---- */

static void devices_status_get_set_live(struct ht_it *t)
{
    struct gw g;
    gw_start(t, &g, false);
    pid_t ap = agent_start(t, &g, "demo-1");
    wait_device(t, &g, "demo-1", true);

    struct run r = CTL(t, &g, "status", "--json");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, json_is_object(json_object_get(r.json, "health")), "%s", r.out);
    HT_CHECK(t,
             json_integer_value(json_object_get(
                 json_object_get(r.json, "devices"), "total")) == 1,
             "%s", r.out);
    run_free(&r);
    r = CTL(t, &g, "status");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, strstr(r.out, "devices") && strstr(r.out, "1 (1 online)"), "%s",
             r.out);
    run_free(&r);

    r = CTL(t, &g, "devices", "list");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, strstr(r.out, "ID") && strstr(r.out, "demo-1"), "%s", r.out);
    run_free(&r);
    r = CTL(t, &g, "devices", "show", "demo-1", "--json");
    EXPECT_RC(t, r, 0);
    HT_CHECK(
        t, !strcmp(json_string_value(json_object_get(r.json, "id")), "demo-1"),
        "%s", r.out);
    run_free(&r);
    r = CTL(t, &g, "devices", "approve", "demo-1", "--json");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, json_is_true(json_object_get(r.json, "ok")), "%s", r.out);
    run_free(&r);
    r = CTL(t, &g, "devices", "show", "demo-1", "--json");
    HT_CHECK(t,
             !strcmp(json_string_value(json_object_get(r.json, "state")),
                     "approved"),
             "%s", r.out);
    run_free(&r);

    /* get / set with the device's ack. */
    r = CTL(t, &g, "get", "demo-1", "lamp", "--json");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, json_is_boolean(json_object_get(r.json, "value")), "%s", r.out);
    run_free(&r);
    r = CTL(t, &g, "set", "demo-1", "lamp", "true", "--json");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, json_is_true(json_object_get(r.json, "value")), "%s", r.out);
    HT_CHECK(
        t,
        !strcmp(json_string_value(json_object_get(r.json, "device")), "demo-1"),
        "%s", r.out);
    run_free(&r);
    r = CTL(t, &g, "set", "demo-1", "motor_setpoint", "120");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, !strncmp(r.out, "120", 3), "%s", r.out);
    run_free(&r);
    bool seen = false;
    for (int i = 0; i < 100 && !seen; i++) {
        r = CTL(t, &g, "get", "demo-1", "lamp");
        seen = r.rc == 0 && !strncmp(r.out, "true", 4);
        run_free(&r);
        if (!seen)
            ht_it_sleep_ms(50);
    }
    HT_CHECK(t, seen, "get demo-1 lamp never showed the value set");

    /* Refused, unknown, out of range. */
    r = CTL(t, &g, "set", "demo-1", "button", "true");
    EXPECT_RC(t, r, 3); /* read-only: 409 */
    HT_CHECK(t, one_line(r.err), "%s", r.err);
    run_free(&r);
    r = CTL(t, &g, "set", "demo-1", "nope", "1");
    EXPECT_RC(t, r, 2);
    run_free(&r);
    r = CTL(t, &g, "get", "no-such-dev", "lamp");
    EXPECT_RC(t, r, 2);
    HT_CHECK(t, one_line(r.err) && strstr(r.err, "404"), "%s", r.err);
    run_free(&r);
    r = CTL(t, &g, "devices", "show", "no-such-dev");
    EXPECT_RC(t, r, 2);
    run_free(&r);
    r = CTL(t, &g, "devices", "approve", "no-such-dev");
    EXPECT_RC(t, r, 2);
    run_free(&r);
    r = CTL(t, &g, "set", "demo-1", "motor_setpoint", "999");
    HT_CHECK(t, r.rc == 1 || r.rc == 5, "out of range: exit %d %s", r.rc,
             r.err);
    HT_CHECK(t, one_line(r.err), "%s", r.err);
    run_free(&r);
    r = CTL(t, &g, "get", "demo-1", "motor_setpoint", "--json");
    HT_CHECK(t,
             json_integer_value(json_object_get(r.json, "value")) == 120 ||
                 json_real_value(json_object_get(r.json, "value")) == 120.0,
             "rejected write changed the value: %s", r.out);
    run_free(&r);

    /* A device that does not ack: frozen agent, still "online". */
    kill(ap, SIGSTOP);
    r = CTL(t, &g, "set", "demo-1", "lamp", "false");
    kill(ap, SIGCONT);
    EXPECT_RC(t, r, 5);
    HT_CHECK(t, one_line(r.err), "%s", r.err);
    run_free(&r);

    /* Offline device: 503 -> 5. */
    int st = ht_it_stop(t, ap, SIGTERM, 10000);
    HT_CHECK(t, st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "agent exit %d", st);
    wait_device(t, &g, "demo-1", false);
    r = CTL(t, &g, "set", "demo-1", "lamp", "true");
    EXPECT_RC(t, r, 5);
    run_free(&r);

    r = CTL(t, &g, "devices", "block", "demo-1");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, strstr(r.out, "blocked"), "%s", r.out);
    run_free(&r);
    r = CTL(t, &g, "devices", "show", "demo-1", "--json");
    HT_CHECK(
        t,
        !strcmp(json_string_value(json_object_get(r.json, "state")), "blocked"),
        "%s", r.out);
    run_free(&r);
    r = CTL(t, &g, "devices", "remove", "demo-1");
    EXPECT_RC(t, r, 0);
    run_free(&r);
    r = CTL(t, &g, "devices", "show", "demo-1");
    EXPECT_RC(t, r, 2);
    run_free(&r);
    gw_stop(t, &g);
}

static void tokens_roles_and_config_precedence(struct ht_it *t)
{
    unsetenv("HOLOTWIN_GATEWAY");
    unsetenv("HOLOTWIN_TOKEN");
    struct gw g;
    gw_start(t, &g, false);
    pid_t ap = agent_start(t, &g, "demo-1");
    wait_device(t, &g, "demo-1", true);

    struct run r = CTL(t, &g, "tokens", "create", "--role", "viewer", "--name",
                       "tablet", "--json");
    EXPECT_RC(t, r, 0);
    const char *vt = json_string_value(json_object_get(r.json, "token"));
    HT_CHECK(t, vt && *vt, "%s", r.out);
    char *viewer = strdup(vt);
    char *vid = NULL;
    json_t *idv = json_object_get(r.json, "id");
    if (json_is_string(idv))
        vid = strdup(json_string_value(idv));
    else if (asprintf(&vid, "%lld", (long long)json_integer_value(idv)) < 0)
        abort();
    run_free(&r);
    r = CTL(t, &g, "tokens", "create", "--role", "operator", "--name", "op");
    EXPECT_RC(t, r, 0);
    char *op = NULL;
    char *tl = strstr(r.out, "token  ");
    HT_CHECK(t, tl, "%s", r.out);
    op = strndup(tl + 7, strcspn(tl + 7, "\n"));
    run_free(&r);

    r = CTL(t, &g, "tokens", "list", "--json");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, strstr(r.out, "tablet") && !strstr(r.out, viewer),
             "token list must not show secrets: %s", r.out);
    run_free(&r);
    r = CTL(t, &g, "tokens", "list");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, strstr(r.out, "ROLE") && strstr(r.out, "viewer"), "%s", r.out);
    run_free(&r);

    /* viewer: reads yes, approve/commands/tokens no (exit 3). */
    r = CTL_TOK(t, &g, viewer, "devices", "list");
    EXPECT_RC(t, r, 0);
    run_free(&r);
    r = CTL_TOK(t, &g, viewer, "devices", "approve", "demo-1");
    EXPECT_RC(t, r, 3);
    HT_CHECK(t, one_line(r.err) && strstr(r.err, "403"), "%s", r.err);
    run_free(&r);
    r = CTL_TOK(t, &g, viewer, "set", "demo-1", "lamp", "true");
    EXPECT_RC(t, r, 3);
    run_free(&r);
    r = CTL_TOK(t, &g, viewer, "tokens", "list");
    EXPECT_RC(t, r, 3);
    run_free(&r);
    /* operator: commands yes (on an approved device), device changes no. */
    r = CTL(t, &g, "devices", "approve", "demo-1");
    EXPECT_RC(t, r, 0);
    run_free(&r);
    r = CTL_TOK(t, &g, op, "set", "demo-1", "lamp", "true");
    EXPECT_RC(t, r, 0);
    run_free(&r);
    r = CTL_TOK(t, &g, op, "devices", "approve", "demo-1");
    EXPECT_RC(t, r, 3);
    run_free(&r);
    /* No token / a bogus one: 401 -> 3. */
    r = CTL_TOK(t, &g, NULL, "devices", "list");
    EXPECT_RC(t, r, 3);
    run_free(&r);
    r = CTL_TOK(t, &g, "bogus", "devices", "list");
    EXPECT_RC(t, r, 3);
    run_free(&r);

    r = CTL(t, &g, "tokens", "revoke", vid);
    EXPECT_RC(t, r, 0);
    run_free(&r);
    r = CTL_TOK(t, &g, viewer, "devices", "list");
    EXPECT_RC(t, r, 3);
    run_free(&r);
    r = CTL(t, &g, "tokens", "revoke", "0123456789abcdef0123456789abcdef");
    EXPECT_RC(t, r, 2);
    run_free(&r);

    /* Precedence: flags > environment > ~/.config/holotwin/gwctl.json. */
    char *home = ht_it_path(t, "home");
    char *cmd = NULL;
    if (asprintf(&cmd,
                 "mkdir -p %s/.config/holotwin && printf "
                 "'{\"gateway\":\"%s\",\"token\":\"%s\"}' > "
                 "%s/.config/holotwin/gwctl.json",
                 home, g.url, g.token, home) < 0)
        abort();
    HT_CHECK(t, system(cmd) == 0);
    char envh[300], dead[100];
    snprintf(envh, sizeof envh, "HOME=%s", home);
    snprintf(dead, sizeof dead, "HOLOTWIN_GATEWAY=http://127.0.0.1:%d",
             ht_it_free_port());
    const char *e1[] = {envh, NULL};
    r = ctl_env(t, NULL, NULL, e1, "devices", NULL);
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, strstr(r.out, "demo-1"), "%s", r.out);
    run_free(&r);
    const char *e2[] = {envh, dead, NULL};
    r = ctl_env(t, NULL, NULL, e2, "devices", NULL);
    EXPECT_RC(t, r, 4);
    run_free(&r);
    r = ctl_env(t, g.url, NULL, e2, "devices", NULL);
    EXPECT_RC(t, r, 0);
    run_free(&r);
    const char *e3[] = {envh, "HOLOTWIN_TOKEN=bogus", NULL};
    r = ctl_env(t, NULL, NULL, e3, "devices", NULL);
    EXPECT_RC(t, r, 3);
    run_free(&r);
    r = ctl_env(t, NULL, g.token, e3, "devices", NULL);
    EXPECT_RC(t, r, 0);
    run_free(&r);
    free(cmd);
    free(home);

    ht_it_stop(t, ap, SIGTERM, 10000);
    free(viewer);
    free(vid);
    free(op);
    gw_stop(t, &g);
}

/* The JSON lines (stdout) of a watch log; stderr lines are skipped. */
static json_t *watch_lines(struct ht_it *t, const char *log)
{
    char *s = ht_it_logfile(t, log);
    json_t *arr = json_array();
    for (char *line = s ? strtok(s, "\n") : NULL; line;
         line = strtok(NULL, "\n")) {
        if (line[0] != '{')
            continue;
        json_t *j = json_loads(line, 0, NULL);
        HT_CHECK(t, j, "watch printed a non-JSON line: %s", line);
        json_array_append_new(arr, j);
    }
    free(s);
    return arr;
}

static size_t watch_count(struct ht_it *t, const char *log)
{
    json_t *a = watch_lines(t, log);
    size_t n = json_array_size(a);
    json_decref(a);
    return n;
}

/* A steady event source for watch: a shell loop flipping demo-1's lamp
 * with gwctl (a process, not a thread: the harness forks children, and a
 * fork while another thread holds the allocator's lock can deadlock). */
static pid_t flip_start(struct ht_it *t, const struct gw *g)
{
    char *bin = ht_it_bin("gwctl");
    char *script = NULL;
    if (asprintf(&script,
                 "while :; do for v in true false; do '%s' --gateway %s "
                 "--token %s set demo-1 lamp $v >/dev/null 2>&1; "
                 "sleep 0.1; done; done",
                 bin, g->url, g->token) < 0)
        abort();
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    pid_t p = ht_it_spawn(t, "flipper", argv, NULL);
    free(script);
    free(bin);
    return p;
}

/* A gateway with its harness broker and the built-in sim board demo-1,
 * approved; returns the board's pid. */
static pid_t gw_with_demo(struct ht_it *t, struct gw *g)
{
    gw_start(t, g, false);
    pid_t ap = agent_start(t, g, "demo-1");
    wait_device(t, g, "demo-1", true);
    struct run r = CTL(t, g, "devices", "approve", "demo-1");
    EXPECT_RC(t, r, 0);
    run_free(&r);
    return ap;
}

static void watch_streams_and_resumes_after_restart(struct ht_it *t)
{
    struct gw g;
    pid_t ap = gw_with_demo(t, &g);
    struct run r;
    pid_t fp = flip_start(t, &g);

    /* Human mode: one line per event with the local time first; --count
     * ends it with exit 0. */
    r = CTL(t, &g, "watch", "--count", "2");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, r.out[2] == ':' && r.out[5] == ':', "watch line: %s", r.out);
    int lines_n = 0;
    for (const char *p = r.out; *p; p++)
        lines_n += *p == '\n';
    HT_CHECK(t, lines_n == 2, "not two lines: %s", r.out);
    run_free(&r);
    r = CTL(t, &g, "watch", "--json", "--count", "3");
    EXPECT_RC(t, r, 0);
    int nl = 0;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *j = json_loads(line, 0, NULL);
        HT_CHECK(t,
                 json_is_string(json_object_get(j, "event")) &&
                     json_object_get(j, "data"),
                 "line: %s", line);
        json_decref(j);
        nl++;
    }
    HT_CHECK(t, nl == 3, "%d JSON lines", nl);
    run_free(&r);

    /* --json across a gateway restart: the stream resumes with
     * Last-Event-ID, so no event id repeats. */
    char *bin = ht_it_bin("gwctl");
    const char *jargv[] = {bin,     "--gateway", g.url,     "--token", g.token,
                           "watch", "--json",    "--count", "8",       NULL};
    pid_t wp = ht_it_spawn(t, "watch", jargv, NULL);
    HT_WAIT(t, watch_count(t, "watch") >= 2, 20000, "events before restart");
    int st = ht_it_stop(t, g.pid, SIGTERM, 15000);
    HT_CHECK(t, st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "gatewayd exit %d", st);
    size_t before = watch_count(t, "watch");
    HT_CHECK(t, before < 8, "watch ended before the restart");
    gw_spawn(t, &g);
    HT_WAIT(t, !ht_it_alive(t, wp), 30000, "watch --count 8 never finished");
    ht_it_stop(t, fp, SIGKILL, 5000);
    json_t *lines = watch_lines(t, "watch");
    HT_CHECK(t, json_array_size(lines) == 8, "%zu lines",
             json_array_size(lines));
    char *log = ht_it_logfile(t, "watch");
    HT_CHECK(t, strstr(log, "reconnecting"), "no reconnect: %s", log);
    free(log);
    size_t i, j;
    json_t *a, *b;
    json_array_foreach(lines, i, a)
    {
        const char *ia = json_string_value(json_object_get(a, "id"));
        HT_CHECK(t, ia && *ia, "event without id");
        json_array_foreach(lines, j, b) HT_CHECK(
            t,
            j == i || strcmp(ia, json_string_value(json_object_get(b, "id"))),
            "event id %s delivered twice", ia);
    }
    json_decref(lines);
    free(bin);
    ht_it_stop(t, ap, SIGTERM, 10000);
    gw_stop(t, &g);
}

static const char twin_model[] =
    "{\"id\":\"cell-1\",\"title\":\"Test cell\",\"version\":1,"
    "\"components\":["
    "{\"id\":\"lamp\",\"title\":\"Lamp\",\"kind\":\"lamp\","
    " \"properties\":[{\"name\":\"on\",\"bind\":\"demo-1/lamp\","
    "  \"type\":\"boolean\",\"writable\":true}]},"
    "{\"id\":\"motor\",\"title\":\"Motor\",\"kind\":\"motor\","
    " \"properties\":[{\"name\":\"setpoint\",\"bind\":\"demo-1/"
    "motor_setpoint\","
    "  \"type\":\"number\",\"writable\":true,\"minimum\":0,\"maximum\":200},"
    "  "
    "{\"name\":\"speed\",\"bind\":\"demo-1/motor_speed\",\"type\":\"number\"}]}"
    "]}";

static void twins_bind_ui_history_live(struct ht_it *t)
{
    struct gw g;
    gw_start(t, &g, false);
    pid_t ap = agent_start(t, &g, "demo-1");
    wait_device(t, &g, "demo-1", true);
    struct run r = CTL(t, &g, "devices", "approve", "demo-1");
    EXPECT_RC(t, r, 0);
    run_free(&r);
    char *model = ht_it_write(t, "cell-1.json", twin_model);

    r = CTL(t, &g, "twins", "apply", "-f", model, "--json");
    EXPECT_RC(t, r, 0);
    HT_CHECK(
        t, !strcmp(json_string_value(json_object_get(r.json, "id")), "cell-1"),
        "%s", r.out);
    run_free(&r);
    r = CTL(t, &g, "twins", "list");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, strstr(r.out, "cell-1") && strstr(r.out, "ID"), "%s", r.out);
    run_free(&r);
    r = CTL(t, &g, "twins", "list", "--json");
    HT_CHECK(t, json_is_array(r.json), "%s", r.out);
    bool listed = false;
    size_t k;
    json_t *e;
    json_array_foreach(r.json, k, e) listed |=
        !strcmp(json_string_value(json_object_get(e, "id")), "cell-1");
    HT_CHECK(t, listed, "%s", r.out);
    run_free(&r);
    r = CTL(t, &g, "twins", "show", "cell-1", "--json");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, json_array_size(json_object_get(r.json, "components")) == 2,
             "%s", r.out);
    run_free(&r);

    /* Twin property writes fan out to the device and wait for its ack. */
    r = CTL(t, &g, "twins", "set", "cell-1", "lamp.on", "true", "--json");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, json_is_true(json_object_get(r.json, "value")), "%s", r.out);
    run_free(&r);
    r = CTL(t, &g, "set", "cell-1", "motor.setpoint", "90");
    EXPECT_RC(t, r, 0);
    run_free(&r);
    r = CTL(t, &g, "set", "cell-1", "motor.speed", "5");
    HT_CHECK(t, r.rc == 3 || r.rc == 1, "read-only twin property: %d %s", r.rc,
             r.err);
    run_free(&r);
    r = CTL(t, &g, "set", "cell-1", "nope.x", "5");
    EXPECT_RC(t, r, 2);
    run_free(&r);
    bool on = false;
    for (int i = 0; i < 100 && !on; i++) {
        r = CTL(t, &g, "get", "cell-1", "lamp.on", "--json");
        on = r.rc == 0 && json_is_true(json_object_get(r.json, "value"));
        run_free(&r);
        if (!on)
            ht_it_sleep_ms(50);
    }
    HT_CHECK(t, on, "twin lamp.on never became true");

    r = CTL(t, &g, "twins", "state", "cell-1");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, strstr(r.out, "PROPERTY") && strstr(r.out, "lamp.on"), "%s",
             r.out);
    run_free(&r);
    r = CTL(t, &g, "twins", "state", "cell-1", "--json");
    HT_CHECK(t, json_is_object(json_object_get(r.json, "properties")), "%s",
             r.out);
    run_free(&r);

    r = CTL(t, &g, "twins", "history", "cell-1", "lamp.on", "--from", "-1h",
            "--limit", "50", "--json");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, json_is_array(r.json) && json_array_size(r.json) >= 1, "%s",
             r.out);
    run_free(&r);
    r = CTL(t, &g, "twins", "history", "cell-1", "lamp.on");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, strstr(r.out, "TIME") && strstr(r.out, "true"), "%s", r.out);
    run_free(&r);
    /* Time travel: buckets, the CSV export, the state at an instant. */
    r = CTL(t, &g, "twins", "history", "cell-1", "lamp.on", "--from", "-1h",
            "--step", "1h", "--json");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t,
             json_is_array(r.json) && json_array_size(r.json) >= 1 &&
                 json_integer_value(
                     json_object_get(json_array_get(r.json, 0), "n")) >= 1,
             "%s", r.out);
    run_free(&r);
    r = CTL(t, &g, "twins", "history", "cell-1", "lamp.on", "--step", "5m");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, strstr(r.out, "MIN") && strstr(r.out, "MAX"), "%s", r.out);
    run_free(&r);
    r = CTL(t, &g, "twins", "history", "cell-1", "lamp.on", "--from", "-1h",
            "--csv");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t,
             !strncmp(r.out, "ts,time,value,min,max,n\r\n", 25) &&
                 strstr(r.out, ",true,"),
             "%s", r.out);
    run_free(&r);
    r = CTL(t, &g, "twins", "state", "cell-1", "--at", "now", "--json");
    EXPECT_RC(t, r, 0);
    HT_CHECK(
        t,
        json_is_true(json_object_get(
            json_object_get(json_object_get(r.json, "properties"), "lamp.on"),
            "value")) &&
            json_integer_value(json_object_get(r.json, "at")) > 0,
        "%s", r.out);
    run_free(&r);
    r = CTL(t, &g, "twins", "state", "cell-1", "--at", "2001-01-01");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, strstr(r.out, "unknown"), "%s", r.out);
    run_free(&r);

    /* bind: read-modify-write of the model. */
    r = CTL(t, &g, "bind", "cell-1", "motor.speed", "demo-1/temperature");
    EXPECT_RC(t, r, 0);
    run_free(&r);
    r = CTL(t, &g, "twins", "show", "cell-1");
    HT_CHECK(t, strstr(r.out, "demo-1/temperature"), "%s", r.out);
    run_free(&r);
    r = CTL(t, &g, "bind", "cell-1", "nope.x", "demo-1/lamp");
    EXPECT_RC(t, r, 2);
    run_free(&r);
    r = CTL(t, &g, "bind", "no-twin", "motor.speed", "demo-1/lamp");
    EXPECT_RC(t, r, 2);
    run_free(&r);

    /* ui: pretty, raw bytes, --json with the ETag, both targets. */
    r = CTL(t, &g, "ui", "cell-1", "--json");
    EXPECT_RC(t, r, 0);
    json_t *d = json_object_get(r.json, "descriptor");
    HT_CHECK(t,
             !strcmp(json_string_value(json_object_get(d, "schema")),
                     "holotwin.ui/1"),
             "%s", r.out);
    HT_CHECK(t, json_is_string(json_object_get(r.json, "etag")), "%s", r.out);
    run_free(&r);
    r = CTL(t, &g, "ui", "cell-1", "--raw", "--target", "hmd");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, json_is_object(r.json) && strstr(r.out, "holotwin.ui/1"), "%s",
             r.out);
    run_free(&r);
    r = CTL(t, &g, "ui", "cell-1");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, strstr(r.out, "\n  \""), "not pretty: %s", r.out);
    run_free(&r);
    r = CTL(t, &g, "ui", "no-twin");
    EXPECT_RC(t, r, 2);
    run_free(&r);
    /* watch TWIN: only that twin's events (lamp flips reach lamp.on). */
    pid_t fp = flip_start(t, &g);
    r = CTL(t, &g, "watch", "cell-1", "--json", "--count", "2");
    ht_it_stop(t, fp, SIGKILL, 5000);
    EXPECT_RC(t, r, 0);
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *j = json_loads(line, 0, NULL);
        const char *tw = json_string_value(
            json_object_get(json_object_get(j, "data"), "twin"));
        HT_CHECK(t, tw && !strcmp(tw, "cell-1"), "foreign event: %s", line);
        json_decref(j);
    }
    run_free(&r);

    r = CTL(t, &g, "twins", "delete", "cell-1");
    EXPECT_RC(t, r, 0);
    run_free(&r);
    r = CTL(t, &g, "twins", "show", "cell-1");
    EXPECT_RC(t, r, 2);
    run_free(&r);
    r = CTL(t, &g, "twins", "delete", "cell-1");
    EXPECT_RC(t, r, 2);
    run_free(&r);
    free(model);
    ht_it_stop(t, ap, SIGTERM, 10000);
    gw_stop(t, &g);
}

/* add -> generated config -> the agent connects with its own credentials
 * -> approve -> set; and those credentials are scoped to its own topics. */
static void add_provisions_a_working_agent_config(struct ht_it *t)
{
    struct gw g;
    gw_start(t, &g, true);
    char *cfg = ht_it_path(t, "board-9.json");
    struct run r = CTL(t, &g, "devices", "add", "board-9", "-o", cfg);
    EXPECT_RC(t, r, 0);
    run_free(&r);
    struct stat st;
    HT_CHECK(t, stat(cfg, &st) == 0 && (st.st_mode & 0777) == 0600,
             "config mode %o", st.st_mode & 0777);
    char *text = read_file(cfg);
    json_t *c = json_loads(text, 0, NULL);
    HT_CHECK(t, c, "generated config is not JSON: %s", text);
    const char *user = json_string_value(
        json_object_get(json_object_get(c, "mqtt"), "username"));
    const char *pass = json_string_value(
        json_object_get(json_object_get(c, "mqtt"), "password"));
    HT_CHECK(t, user && pass && *pass, "%s", text);
    HT_CHECK(t,
             !strcmp(json_string_value(json_object_get(c, "id")), "board-9"));
    /* TLS: the CA inline, the broker's TLS port (not the loopback one). */
    const char *ca =
        json_string_value(json_object_get(json_object_get(c, "mqtt"), "ca"));
    const char *brk = json_string_value(
        json_object_get(json_object_get(c, "mqtt"), "broker"));
    HT_CHECK(t, ca && strstr(ca, "-----BEGIN CERTIFICATE-----"), "%s", text);
    HT_CHECK(t, brk && !strstr(brk, g.mqtt_s), "%s", text);

    /* A second add is refused; the password is never shown again. */
    r = CTL(t, &g, "devices", "add", "board-9");
    EXPECT_RC(t, r, 3);
    HT_CHECK(t, !strstr(r.out, pass) && !strstr(r.err, pass));
    run_free(&r);
    /* --json: the same answer, stable shape. */
    r = CTL(t, &g, "devices", "add", "board-10", "--json");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t,
             json_is_object(json_object_get(r.json, "config")) &&
                 json_is_object(json_object_get(r.json, "mqtt")),
             "%s", r.out);
    run_free(&r);

    char *bin = ht_it_bin("device-agent");
    const char *aargv[] = {bin, "--config", cfg, "--no-mdns", NULL};
    pid_t ap = ht_it_spawn(t, "board-9", aargv, NULL);
    wait_device(t, &g, "board-9", true);
    r = CTL(t, &g, "devices", "approve", "board-9");
    EXPECT_RC(t, r, 0);
    run_free(&r);
    r = CTL(t, &g, "set", "board-9", "lamp", "true", "--json");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, json_is_true(json_object_get(r.json, "value")), "%s", r.out);
    run_free(&r);

    /* The board's credentials: its own topics yes, another board's no,
     * and no anonymous access at all. The broker names every session
     * after its user, so the probes replace the agent: stop it first. */
    ht_it_stop(t, ap, SIGTERM, 10000);
    struct ht_it_mqtt *m = ht_it_mqtt_new(g.mqtt, "board-9-probe", user, pass);
    HT_CHECK(t, m != NULL, "board credentials rejected by the broker");
    int rc =
        ht_it_mqtt_pub(m, "holotwin/v1/devices/board-10/td", "{}", 1, false);
    HT_CHECK(t, rc == 135 || rc == -1,
             "board-9 published under board-10: reason %d", rc);
    ht_it_mqtt_free(m);
    m = ht_it_mqtt_new(g.mqtt, "board-9-probe2", user, pass);
    HT_CHECK(t, m != NULL);
    rc = ht_it_mqtt_pub(m, "holotwin/v1/devices/board-9/props/probe",
                        "{\"v\":1,\"ts\":1700000000001,\"seq\":1}", 1, false);
    HT_CHECK(t, rc == 0, "own topic refused: %d", rc);
    /* Another board's topics are refused when subscribing (SUBACK 0x87),
     * its own commands are granted. */
    int q = ht_it_mqtt_sub(m, "holotwin/v1/devices/board-10/#");
    HT_CHECK(t, q == 135, "subscribe to board-10: %d", q);
    q = ht_it_mqtt_sub(m, "holotwin/v1/devices/board-9/cmd/+");
    HT_CHECK(t, q == 1, "subscribe to its own commands: %d", q);
    ht_it_mqtt_free(m);
    m = ht_it_mqtt_new(g.mqtt, "anon", NULL, NULL);
    HT_CHECK(t, m == NULL, "anonymous client accepted");

    json_decref(c);
    free(text);
    free(bin);
    free(cfg);
    gw_stop(t, &g);
}

/* A sim board whose mDNS name and id are its own, on a given broker. */
static pid_t mdns_agent(struct ht_it *t, const struct ht_it_mdns *m,
                        const char *id, const char *broker)
{
    char name[64], body[1024];
    snprintf(name, sizeof name, "%s.json", id);
    snprintf(body, sizeof body,
             "{\"id\":\"%s\",\"title\":\"%s\",\"mqtt\":{\"broker\":\"%s\"},"
             "\"mdns\":{\"name\":\"board %s\"},\"gpio\":{\"backend\":\"sim\"},"
             "\"capabilities\":[{\"name\":\"lamp\",\"kind\":\"output\","
             "\"type\":\"ht:Lamp\",\"line\":1}]}",
             id, id, broker, id);
    char *path = ht_it_write(t, name, body);
    char *bin = ht_it_bin("device-agent");
    const char *argv[] = {bin, "--config", path, "--mdns", NULL};
    const char *env[] = {m->bus_a, NULL};
    pid_t p = ht_it_spawn(t, id, argv, env);
    free(bin);
    free(path);
    return p;
}

static void discover_marks_known_and_new(struct ht_it *t)
{
    struct ht_it_mdns m;
    ht_it_mdns_start(t, &m);
    struct gw g;
    gw_start(t, &g, false);
    /* A board the gateway knows, and one on another broker it never saw. */
    struct ht_it_broker other;
    ht_it_broker_start(t, &other, NULL);
    char ob[64];
    snprintf(ob, sizeof ob, "127.0.0.1:%d", other.port);
    pid_t a1 = mdns_agent(t, &m, "known-1", g.broker);
    pid_t a2 = mdns_agent(t, &m, "stray-1", ob);
    wait_device(t, &g, "known-1", true);
    char *seen = ht_it_mdns_browse(t, &m, "_wot._tcp", "stray-1", 10000);
    HT_CHECK(t, seen != NULL, "stray-1 never announced itself");
    free(seen);

    const char *env[] = {m.bus_b, NULL};
    json_t *k = NULL, *s = NULL;
    struct run r = {0};
    for (int i = 0; i < 5 && !(k && s); i++) {
        run_free(&r);
        k = s = NULL;
        r = ctl_env(t, g.url, g.token, env, "discover", "--timeout", "4",
                    "--json", NULL);
        EXPECT_RC(t, r, 0);
        HT_CHECK(t, json_is_array(r.json), "%s", r.out);
        size_t i2;
        json_t *e;
        json_array_foreach(r.json, i2, e)
        {
            const char *id = json_string_value(json_object_get(e, "id"));
            if (id && !strcmp(id, "known-1"))
                k = e;
            if (id && !strcmp(id, "stray-1"))
                s = e;
        }
    }
    HT_CHECK(t, k && s, "discover did not find both boards: %s", r.out);
    HT_CHECK(t, json_is_true(json_object_get(k, "known")), "%s", r.out);
    HT_CHECK(t, json_is_false(json_object_get(s, "known")), "%s", r.out);
    HT_CHECK(t,
             !strcmp(json_string_value(
                         json_object_get(json_object_get(s, "txt"), "type")),
                     "Thing"),
             "%s", r.out);
    HT_CHECK(t, json_integer_value(json_object_get(s, "port")) > 0);
    run_free(&r);
    r = ctl_env(t, g.url, g.token, env, "discover", "--timeout", "4", NULL);
    EXPECT_RC(t, r, 0);
    HT_CHECK(t,
             strstr(r.out, "NAME") && strstr(r.out, "new") &&
                 strstr(r.out, "known"),
             "%s", r.out);
    run_free(&r);
    ht_it_stop(t, a1, SIGTERM, 10000);
    ht_it_stop(t, a2, SIGTERM, 10000);
    gw_stop(t, &g);
}

/* ---- alarms ---- */

static const char alarm_model[] =
    "{\"id\":\"cell-2\",\"title\":\"Alarm cell\",\"components\":["
    "{\"id\":\"lamp\",\"kind\":\"lamp\",\"properties\":[{\"name\":\"on\","
    "\"bind\":\"demo-1/lamp\",\"type\":\"boolean\",\"writable\":true}]}],"
    "\"rules\":[{\"id\":\"lamp-lit\",\"severity\":\"warning\",\"priority\":"
    "\"low\",\"message\":\"the lamp is on\",\"expr\":\"lamp.on\"}]}";

/* How many alarms `gwctl alarms list --json` shows. */
static size_t alarms_listed(struct ht_it *t, const struct gw *g)
{
    struct run l = CTL(t, g, "alarms", "list", "--json");
    size_t n = json_array_size(l.json);
    run_free(&l);
    return n;
}

/* gwctl alarms over the public API only: list (table and --json), watch
 * (alarm events only), ack (a viewer is refused with exit 3, a second ack
 * too, with the reason on one line), shelve --for and unshelve, history
 * newest first with who; bad arguments exit 1. */
static void alarms_list_watch_ack_shelve_history(struct ht_it *t)
{
    struct gw g;
    pid_t ap = gw_with_demo(t, &g);
    char *model = ht_it_write(t, "cell-2.json", alarm_model);
    struct run r = CTL(t, &g, "twins", "apply", "-f", model);
    EXPECT_RC(t, r, 0);
    run_free(&r);
    r = CTL(t, &g, "set", "cell-2", "lamp.on", "false");
    EXPECT_RC(t, r, 0);
    run_free(&r);
    r = CTL(t, &g, "alarms", "--json");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, json_is_array(r.json) && json_array_size(r.json) == 0, "%s",
             r.out);
    run_free(&r);

    char *bin = ht_it_bin("gwctl");
    const char *wargv[] = {bin,      "--gateway", g.url,   "--token",
                           g.token,  "alarms",    "watch", "cell-2",
                           "--json", "--count",   "2",     NULL};
    pid_t wp = ht_it_spawn(t, "awatch", wargv, NULL);
    /* The stream is open before the alarm raises (a fixed sleep was not
     * enough on a loaded machine: the raise was missed). */
    HT_WAIT(t, sse_clients(&g) >= 1, 10000,
            "the watch never opened its stream");
    r = CTL(t, &g, "set", "cell-2", "lamp.on", "true");
    EXPECT_RC(t, r, 0);
    run_free(&r);
    HT_WAIT(t, alarms_listed(t, &g) == 1, 10000, "the alarm never listed");
    r = CTL(t, &g, "alarms", "list", "--twin", "cell-2", "--json");
    json_t *a = json_array_get(r.json, 0);
    HT_CHECK(t,
             !strcmp(json_string_value(json_object_get(a, "id")),
                     "cell-2:lamp-lit") &&
                 !strcmp(json_string_value(json_object_get(a, "state")),
                         "active_unacknowledged"),
             "%s", r.out);
    run_free(&r);
    r = CTL(t, &g, "alarms");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t,
             strstr(r.out, "PRIO") && strstr(r.out, "cell-2:lamp-lit") &&
                 strstr(r.out, "LOW") && strstr(r.out, "the lamp is on"),
             "%s", r.out);
    run_free(&r);

    /* A viewer cannot acknowledge; an operator (admin here) can, once. */
    r = CTL(t, &g, "tokens", "create", "--role", "viewer", "--name", "wall",
            "--json");
    char *viewer = strdup(json_string_value(json_object_get(r.json, "token")));
    run_free(&r);
    r = CTL_TOK(t, &g, viewer, "alarms", "ack", "cell-2:lamp-lit");
    EXPECT_RC(t, r, 3);
    HT_CHECK(t, one_line(r.err), "%s", r.err);
    run_free(&r);
    r = CTL(t, &g, "alarms", "ack", "cell-2:lamp-lit", "--note", "seen",
            "--json");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t,
             !strcmp(json_string_value(json_object_get(r.json, "state")),
                     "active_acknowledged"),
             "%s", r.out);
    run_free(&r);
    r = CTL(t, &g, "alarms", "ack", "cell-2:lamp-lit");
    EXPECT_RC(t, r, 3);
    HT_CHECK(t, one_line(r.err) && strstr(r.err, "nothing to acknowledge"),
             "%s", r.err);
    run_free(&r);
    HT_WAIT(t, !ht_it_alive(t, wp), 10000, "alarms watch --count 2");
    json_t *lines = watch_lines(t, "awatch");
    HT_CHECK(t, json_array_size(lines) == 2, "%zu lines",
             json_array_size(lines));
    size_t i;
    json_array_foreach(lines, i, a) HT_CHECK(
        t, !strcmp(json_string_value(json_object_get(a, "event")), "alarm"),
        "not an alarm event");
    json_decref(lines);

    r = CTL(t, &g, "alarms", "shelve", "cell-2:lamp-lit", "--for", "30m",
            "--json");
    EXPECT_RC(t, r, 0);
    HT_CHECK(
        t,
        !strcmp(json_string_value(json_object_get(r.json, "state")), "shelved"),
        "%s", r.out);
    run_free(&r);
    r = CTL(t, &g, "alarms", "unshelve", "cell-2:lamp-lit");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, strstr(r.out, "active_unacknowledged"), "%s", r.out);
    run_free(&r);
    r = CTL(t, &g, "alarms", "history", "--twin", "cell-2", "--json");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, json_array_size(r.json) == 4, "%s", r.out);
    a = json_array_get(r.json, 2);
    HT_CHECK(
        t,
        !strcmp(json_string_value(json_object_get(a, "cause")), "ack") &&
            !strncmp(json_string_value(json_object_get(a, "who")), "admin", 5),
        "%s", r.out);
    run_free(&r);
    r = CTL(t, &g, "alarms", "history", "--rule", "lamp-lit", "--limit", "1");
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, strstr(r.out, "unshelve"), "%s", r.out);
    run_free(&r);

    /* Bad arguments: exit 1, one line. */
    static const char *const bad[][4] = {
        {"alarms", "ack", "cell-2", NULL},
        {"alarms", "shelve", "cell-2:lamp-lit", NULL},
        {"alarms", "shelve", "cell-2:lamp-lit", "--for"},
        {"alarms", "frobnicate", NULL, NULL},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        r = CTL(t, &g, bad[k][0], bad[k][1], bad[k][2], bad[k][3]);
        EXPECT_RC(t, r, 1);
        run_free(&r);
    }
    r = CTL(t, &g, "alarms", "shelve", "cell-2:lamp-lit", "--for", "2d");
    EXPECT_RC(t, r, 1);
    HT_CHECK(t, one_line(r.err), "%s", r.err);
    run_free(&r);
    free(viewer);
    free(bin);
    free(model);
    ht_it_stop(t, ap, SIGTERM, 10000);
    gw_stop(t, &g);
}

/* gwctl backup of a running gateway (it keeps serving), gatewayd
 * --restore into a new data dir, and the restored gateway is the same one:
 * the old admin token works, the device is there, and the provisioned
 * board logs in to the restored broker with its old credentials. */
static void
backup_of_a_running_gateway_restores_into_a_new_data_dir(struct ht_it *t)
{
    struct gw g;
    gw_start(t, &g, true);
    char *cfg = ht_it_path(t, "board-9.json");
    struct run r = CTL(t, &g, "devices", "add", "board-9", "-o", cfg);
    EXPECT_RC(t, r, 0);
    run_free(&r);
    char *file = ht_it_path(t, "backup.db");
    /* Admin only; nothing is left behind on a refusal. */
    r = CTL_TOK(t, &g, NULL, "backup", file);
    EXPECT_RC(t, r, 3);
    HT_CHECK(t, access(file, F_OK) != 0, "a refused backup left %s", file);
    run_free(&r);
    r = CTL(t, &g, "backup", file);
    EXPECT_RC(t, r, 0);
    HT_CHECK(t, strstr(r.out, "written to"), "%s", r.out);
    run_free(&r);
    struct stat st;
    HT_CHECK(t,
             stat(file, &st) == 0 && (st.st_mode & 0777) == 0600 &&
                 st.st_size > 4096,
             "backup mode %o size %lld", st.st_mode & 0777,
             (long long)st.st_size);
    r = CTL(t, &g, "devices", "show", "board-9");
    EXPECT_RC(t, r, 0); /* still serving */
    run_free(&r);
    char *sp = ht_it_path(t, "gw/broker/gateway.secret");
    char *secret = read_file(sp);
    char *token = strdup(g.token);
    gw_stop(t, &g);

    struct gw g2;
    memset(&g2, 0, sizeof g2);
    g2.own_broker = true;
    g2.data = ht_it_path(t, "gw2");
    char *bin = ht_it_bin("gatewayd");
    const char *rargv[] = {bin, "--data-dir", g2.data, "--restore", file, NULL};
    char *out = NULL, *err = NULL;
    int rc = ht_it_run(t, rargv, NULL, 30000, &out, &err);
    HT_CHECK(t, rc == 0, "gatewayd --restore: exit %d: %s", rc, err);
    free(out);
    free(err);
    rc = ht_it_run(t, rargv, NULL, 30000, &out, &err);
    HT_CHECK(t, rc == 1 && strstr(err, "already holds a database"),
             "second restore: exit %d: %s", rc, err);
    free(out);
    free(err);
    free(bin);
    char *sp2 = ht_it_path(t, "gw2/broker/gateway.secret");
    char *secret2 = read_file(sp2);
    HT_CHECK(t, secret && secret2 && !strcmp(secret, secret2),
             "broker secret not restored");

    g2.mqtt = ht_it_free_port();
    g2.http = ht_it_free_port();
    snprintf(g2.url, sizeof g2.url, "http://127.0.0.1:%d", g2.http);
    snprintf(g2.broker, sizeof g2.broker, "127.0.0.1:%d", g2.mqtt);
    snprintf(g2.http_s, sizeof g2.http_s, "%d", g2.http);
    snprintf(g2.mqtt_s, sizeof g2.mqtt_s, "%d", g2.mqtt);
    gw_spawn(t, &g2);
    HT_CHECK(t, ht_it_wait_port(g2.mqtt, 15000), "restored broker");
    g2.token = token;
    r = CTL(t, &g2, "devices", "show", "board-9", "--json");
    EXPECT_RC(t, r, 0);
    run_free(&r);
    /* The board's config names the old broker's TLS port: point it at
     * the restored one; its CA certificate, username and password stay as
     * provisioned (the CA and the broker's certificate are in the
     * backup). */
    char *text = read_file(cfg);
    json_t *c = json_loads(text, 0, NULL);
    HT_CHECK(t, c, "%s", text);
    char tls2[64];
    snprintf(tls2, sizeof tls2, "127.0.0.1:%d", g2.tls);
    json_object_set_new(json_object_get(c, "mqtt"), "broker",
                        json_string(tls2));
    char *cfg2 = ht_it_path(t, "board-9b.json");
    HT_CHECK(t, json_dump_file(c, cfg2, 0) == 0);
    json_decref(c);
    char *abin = ht_it_bin("device-agent");
    const char *aargv[] = {abin, "--config", cfg2, "--no-mdns", NULL};
    pid_t ap = ht_it_spawn(t, "board-9", aargv, NULL);
    wait_device(t, &g2, "board-9", true);
    ht_it_stop(t, ap, SIGTERM, 10000);
    gw_stop(t, &g2);
    free(abin);
    free(cfg2);
    free(text);
    free(secret);
    free(secret2);
    free(sp);
    free(sp2);
    free(cfg);
    free(file);
}

HT_IT_MAIN(HT_IT_CASE(bad_arguments_exit_1_with_one_line),
           HT_IT_CASE(help_for_every_command),
           HT_IT_CASE(unreachable_gateway_exits_4),
           HT_IT_CASE(discover_without_avahi_exits_4),
           HT_IT_CASE(devices_status_get_set_live),
           HT_IT_CASE(tokens_roles_and_config_precedence),
           HT_IT_CASE(watch_streams_and_resumes_after_restart),
           HT_IT_CASE(twins_bind_ui_history_live),
           HT_IT_CASE(add_provisions_a_working_agent_config),
           HT_IT_CASE(discover_marks_known_and_new),
           HT_IT_CASE(alarms_list_watch_ack_shelve_history),
           HT_IT_CASE(backup_of_a_running_gateway_restores_into_a_new_data_dir))
