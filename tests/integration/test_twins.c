/* test_twins.c - twins inside gatewayd with a real broker, real gatewayd and
 * the real virtual-factory sim boards (device-agent/examples): the
 * press-line twin moving with the plant over SSE, twin writes turned into
 * device commands, a deterministic alarm/stable flip from a pressed button,
 * twin CRUD with validation errors, versions, automatic twins and their
 * collisions, UI descriptors (ETag/304, "descriptor" events, ajv), the WoT
 * directory, retained MQTT twin topics, the auth matrix, assets, and bad
 * twin files at start; alarms (ISA-18.2) over REST, SSE and MQTT with
 * roles, the journal, and the life cycle kept over a restart. */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct env {
    struct ht_it_broker b;
    int http;
    pid_t gw;
    char *data;      /* data dir (new) */
    char auth[256];  /* "Authorization: Bearer ADMIN\r\n" */
    char *ctl_panel; /* control socket of panel-1 (new) or NULL */
};

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* Start gatewayd against the case's broker; extra args NULL-terminated. */
static void gw_start(struct ht_it *t, struct env *e, const char *const extra[])
{
    char broker[64], http[16];
    snprintf(broker, sizeof broker, "127.0.0.1:%d", e->b.port);
    if (!e->http)
        e->http = ht_it_free_port();
    snprintf(http, sizeof http, "%d", e->http);
    if (!e->data)
        e->data = ht_it_path(t, "data");
    char *bin = ht_it_bin("gatewayd");
    const char *argv[32] = {bin,  "--broker",   broker,  "--http-port",
                            http, "--data-dir", e->data, "--no-mdns"};
    size_t n = 8;
    for (; extra && *extra && n < 31; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
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

static void gw_stop(struct ht_it *t, struct env *e)
{
    int st = ht_it_stop(t, e->gw, SIGTERM, 10000);
    HT_CHECK(t, st == 0, "gatewayd did not exit cleanly (status %d): %s", st,
             ht_it_logfile(t, "gatewayd"));
}

/* Start one example board (device-agent/examples/<id>.json). */
static pid_t board_start(struct ht_it *t, struct env *e, const char *id)
{
    char cfg[512], broker[64], log[64], sock[64];
    snprintf(cfg, sizeof cfg, "%s/device-agent/examples/%s.json", ht_it_src(),
             id);
    HT_CHECK(t, access(cfg, R_OK) == 0, "missing example board %s", cfg);
    snprintf(broker, sizeof broker, "127.0.0.1:%d", e->b.port);
    snprintf(log, sizeof log, "agent-%s", id);
    snprintf(sock, sizeof sock, "%s.sock", id);
    char *ctl = ht_it_path(t, sock);
    char *bin = ht_it_bin("device-agent");
    const char *argv[] = {bin,         "--config",  cfg, "--broker", broker,
                          "--no-mdns", "--control", ctl, NULL};
    pid_t pid = ht_it_spawn(t, log, argv, NULL);
    free(bin);
    HT_WAIT(t, access(ctl, F_OK) == 0 || !ht_it_alive(t, pid), 10000,
            "control socket of %s", id);
    HT_CHECK(t, ht_it_alive(t, pid), "agent %s exited: %s", id,
             ht_it_logfile(t, log));
    if (!strcmp(id, "panel-1"))
        e->ctl_panel = ctl;
    else
        free(ctl);
    return pid;
}

/* One line on a sim control socket; returns the reply (new). */
static char *ctl(struct ht_it *t, const char *path, const char *cmd)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    HT_CHECK(t, connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0,
             "connect %s", path);
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

/* One request with explicit headers; returns the status and *out JSON. */
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

/* A new token of a role: the "Authorization: ..." header line (new). */
static char *token_hdr(struct ht_it *t, struct env *e, const char *role)
{
    char body[128];
    snprintf(body, sizeof body, "{\"role\":\"%s\",\"name\":\"%s-test\"}", role,
             role);
    json_t *o;
    HT_CHECK(t, call(e, "POST", "/api/v1/tokens", body, &o) == 201);
    char *h;
    HT_CHECK(t, asprintf(&h, "Authorization: Bearer %s\r\n", jstr(o, "token")) >
                    0);
    json_decref(o);
    return h;
}

static bool device_known(struct env *e, const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/devices/%s", id);
    return call(e, "GET", path, NULL, NULL) == 200;
}

static void approve(struct ht_it *t, struct env *e, const char *id)
{
    HT_WAIT(t, device_known(e, id), 15000, "device %s never registered", id);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/devices/%s/approve", id);
    HT_CHECK(t, call(e, "POST", path, NULL, NULL) == 200, "approve %s", id);
}

/* Read SSE events until one of type whose data contains needle (NULL:
 * any); returns its data as JSON (new). Every event read is appended to
 * seen (may be NULL) as {"event","data"}. */
static json_t *sse_wait(struct ht_it *t, struct ht_it_sse *s, const char *type,
                        const char *needle, int timeout_ms, json_t *seen)
{
    for (int waited = 0; waited < timeout_ms; waited += 250) {
        char *ev = NULL, *data = NULL;
        int rc = ht_it_sse_next(s, 250, &ev, &data, NULL);
        HT_CHECK(t, rc >= 0, "event stream ended while waiting for %s", type);
        if (rc == 0)
            continue;
        json_t *j = json_loads(data ? data : "", 0, NULL);
        if (seen && j)
            json_array_append_new(seen, json_pack("{s:s, s:O}", "event",
                                                  ev ? ev : "", "data", j));
        bool hit =
            ev && !strcmp(ev, type) && j && (!needle || strstr(data, needle));
        free(ev);
        free(data);
        if (hit)
            return j;
        json_decref(j);
    }
    ht_it_fail(t, __FILE__, __LINE__, "no '%s' event with %s within %d ms",
               type, needle ? needle : "(any)", timeout_ms);
}

/* Validate a JSON document against a schema of the repository with ajv. */
static void ajv_valid(struct ht_it *t, const char *schema, const json_t *doc,
                      const char *name)
{
    char *text = json_dumps(doc, JSON_INDENT(1));
    char *path = ht_it_write(t, name, text);
    free(text);
    char sp[512];
    snprintf(sp, sizeof sp, "%s/%s", ht_it_src(), schema);
    const char *args[] = {sp, path, NULL};
    char *out = NULL;
    int rc = ht_it_node(t, "validate-schema.mjs", args, 60000, &out);
    HT_CHECK(t, rc == 0, "%s does not validate against %s: %s", name, schema,
             out ? out : "");
    free(out);
    free(path);
}

/* s with the first "from" replaced by "to" (new). */
static char *str_replace(const char *s, const char *from, const char *to)
{
    const char *x = strstr(s, from);
    char *out = NULL;
    if (!x ||
        asprintf(&out, "%.*s%s%s", (int)(x - s), s, to, x + strlen(from)) < 0)
        return strdup(s);
    return out;
}

/* Does the serialised document contain needle? */
static bool dump_has(const json_t *d, const char *needle)
{
    char *s = json_dumps(d, JSON_COMPACT);
    bool hit = s && strstr(s, needle);
    free(s);
    return hit;
}

static void env_clear(struct env *e)
{
    free(e->data);
    free(e->ctl_panel);
}

/* ---- the press line over SSE ---- */

static bool twin_stable(struct env *e, const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/twins/%s/state", id);
    json_t *st;
    bool ok = call(e, "GET", path, NULL, &st) == 200 &&
              json_is_true(json_object_get(st, "stable"));
    json_decref(st);
    return ok;
}

/* The three example boards, approved; the press-line twin applied from a
 * twins dir at start. The plant starts unstable (gears misaligned): the
 * twin state moves with the tachometers, raises the alignment alarm and
 * clears the stable flag; a twin-level write aligns both gears (two device
 * commands, observed on the broker) and cooling is switched on, after
 * which the alarm clears and the twin becomes stable again. */
static void press_line(struct ht_it *t)
{
    struct env e = {0};
    ht_it_broker_start(t, &e.b, NULL);
    char *tdir = ht_it_path(t, "twins");
    HT_CHECK(t, mkdir(tdir, 0700) == 0);
    char src[512], *doc = NULL;
    snprintf(src, sizeof src, "%s/twins/virtual-factory/press-line.json",
             ht_it_src());
    FILE *f = fopen(src, "r");
    HT_CHECK(t, f, "missing %s", src);
    size_t cap = 1 << 16, len = 0;
    doc = malloc(cap);
    len = fread(doc, 1, cap - 1, f);
    doc[len] = '\0';
    fclose(f);
    char *dst = ht_it_path(t, "twins/press-line.json");
    f = fopen(dst, "w");
    fwrite(doc, 1, len, f);
    fclose(f);
    free(dst);
    free(doc);
    const char *extra[] = {"--twins-dir", tdir, NULL};
    gw_start(t, &e, extra);
    struct ht_it_mqtt *m = ht_it_mqtt_new(e.b.port, "twin-test", NULL, NULL);
    HT_CHECK(t, m);
    HT_CHECK(t, ht_it_mqtt_sub(m, "holotwin/v1/devices/+/cmd/#") < 128);
    HT_CHECK(t, ht_it_mqtt_sub(m, "holotwin/v1/twins/#") < 128);

    json_t *tw;
    HT_CHECK(t, call(&e, "GET", "/api/v1/twins/press-line", NULL, &tw) == 200);
    HT_CHECK(t, json_integer_value(json_object_get(tw, "version")) == 1);
    json_decref(tw);

    struct ht_it_sse *s =
        ht_it_sse_open(e.http, "/api/v1/events?twin=press-line", e.auth);
    HT_CHECK(t, s && ht_it_sse_status(s) == 200);
    board_start(t, &e, "gears-1");
    board_start(t, &e, "thermal-1");
    board_start(t, &e, "panel-1");
    /* Pending devices do not feed twins (their values are recorded). */
    HT_WAIT(t,
            call(&e, "GET",
                 "/api/v1/devices/gears-1/properties/"
                 "gear_a_speed",
                 NULL, NULL) == 200,
            15000);
    json_t *st;
    HT_CHECK(t, call(&e, "GET", "/api/v1/twins/press-line/state", NULL, &st) ==
                    200);
    json_t *sp =
        json_object_get(json_object_get(st, "properties"), "gear_a.speed");
    HT_CHECK(t, !strcmp(jstr(sp, "quality"), "unknown"),
             "a pending device fed the twin");
    json_decref(st);

    approve(t, &e, "gears-1");
    approve(t, &e, "thermal-1");
    approve(t, &e, "panel-1");
    json_t *seen = json_array();
    json_t *ev = sse_wait(t, s, "state", "gear_a.speed", 15000, seen);
    HT_CHECK(t, !strcmp(jstr(ev, "twin"), "press-line"));
    json_decref(ev);
    /* Gears at 60 and 95 rpm: the alignment alarm; the twin is unstable
     * (it also starts so: rules with unknown inputs are not vouched for). */
    ev = sse_wait(t, s, "alarm-raised", "gears-aligned", 20000, seen);
    HT_CHECK(t, !strcmp(jstr(ev, "severity"), "warning"));
    HT_CHECK(t, json_is_false(json_object_get(ev, "stable")));
    json_decref(ev);
    /* Only this twin's events came through the filter. */
    size_t i;
    json_t *it;
    json_array_foreach(seen, i, it) HT_CHECK(
        t, !strcmp(jstr(json_object_get(it, "data"), "twin"), "press-line"),
        "foreign event %s", jstr(it, "event"));
    json_decref(seen);

    /* The twin state moved with the plant. */
    HT_CHECK(t, call(&e, "GET", "/api/v1/twins/press-line/state", NULL, &st) ==
                    200);
    HT_CHECK(t, json_is_false(json_object_get(st, "stable")));
    sp = json_object_get(json_object_get(st, "properties"), "gear_b.speed");
    HT_CHECK(t, !strcmp(jstr(sp, "quality"), "good"));
    HT_CHECK(t, json_is_number(json_object_get(sp, "value")));
    json_decref(st);

    /* Cooling on (fan on, heater off), the line running (both motors and
     * the run lamp) and one line speed for both gears. */
    json_t *r;
    HT_CHECK(t, call(&e, "PUT",
                     "/api/v1/twins/press-line/properties/"
                     "twin.running",
                     "true", &r) == 200);
    HT_CHECK(t, json_array_size(json_object_get(r, "commands")) == 3);
    json_decref(r);
    HT_CHECK(t, call(&e, "PUT",
                     "/api/v1/twins/press-line/properties/"
                     "twin.cooling",
                     "true", &r) == 200);
    HT_CHECK(t, json_array_size(json_object_get(r, "commands")) == 2);
    json_decref(r);
    HT_CHECK(t, call(&e, "PUT",
                     "/api/v1/twins/press-line/properties/"
                     "twin.line_speed",
                     "80", &r) == 200);
    HT_CHECK(t, json_number_value(json_object_get(r, "v")) == 80,
             "confirmed value");
    json_t *cmds = json_object_get(r, "commands");
    HT_CHECK(t, json_array_size(cmds) == 2);
    HT_CHECK(t, !strcmp(jstr(json_array_get(cmds, 0), "device"), "gears-1"));
    json_decref(r);
    char *c = ht_it_mqtt_wait(m,
                              "holotwin/v1/devices/gears-1/cmd/"
                              "motor_b_setpoint",
                              "80", 5000);
    HT_CHECK(t, c, "no command for gear B on the broker");
    free(c);
    c = ht_it_mqtt_wait(m, "holotwin/v1/devices/thermal-1/cmd/heater", "false",
                        5000);
    HT_CHECK(t, c, "cooling did not switch the heater off");
    free(c);
    HT_CHECK(t, call(&e, "GET",
                     "/api/v1/devices/gears-1/properties/"
                     "motor_b_setpoint?meta=1",
                     NULL, &r) == 200);
    HT_CHECK(t, json_number_value(json_object_get(r, "v")) == 80);
    json_decref(r);

    ev = sse_wait(t, s, "alarm-cleared", "gears-aligned", 30000, NULL);
    json_decref(ev);
    ev = sse_wait(t, s, "stable-changed", "true", 60000, NULL);
    json_decref(ev);
    /* Those two events can be a passing glimpse while the gears still spin
     * up: each tachometer is its own message, so a rule may see gear A's
     * new speed with gear B's previous one and clear, then raise again.
     * The twin settles stable once both gears run at the common speed. */
    HT_WAIT(t, twin_stable(&e, "press-line"), 30000,
            "the press line never settled stable");

    /* The history of a twin property is the bound device property's. */
    HT_CHECK(t, call(&e, "GET",
                     "/api/v1/twins/press-line/history?property="
                     "gear_b.setpoint",
                     NULL, &r) == 200);
    HT_CHECK(t, !strcmp(jstr(r, "device"), "gears-1"));
    HT_CHECK(t, !strcmp(jstr(r, "device_property"), "motor_b_setpoint"));
    HT_CHECK(t, json_array_size(json_object_get(r, "items")) >= 1);
    json_decref(r);
    HT_CHECK(t, call(&e, "GET", "/api/v1/twins/press-line/history", NULL,
                     NULL) == 400);
    HT_CHECK(t, call(&e, "GET",
                     "/api/v1/twins/press-line/history?property="
                     "nope.x",
                     NULL, NULL) == 404);

    /* The press line's descriptors are schema-valid (ajv). */
    static const char *const targets[] = {"web", "hmd"};
    for (int k = 0; k < 2; k++) {
        char path[96], name[32];
        snprintf(path, sizeof path, "/api/v1/twins/press-line/ui?target=%s",
                 targets[k]);
        snprintf(name, sizeof name, "press-line-%s.json", targets[k]);
        HT_CHECK(t, call(&e, "GET", path, NULL, &r) == 200);
        ajv_valid(t, "ui-descriptors/schema/ui-descriptor.schema.json", r,
                  name);
        json_decref(r);
    }
    /* Retained twin topics: state and both descriptors. */
    c = ht_it_mqtt_wait(m, "holotwin/v1/twins/press-line/state", "\"stable\"",
                        5000);
    HT_CHECK(t, c);
    free(c);
    c = ht_it_mqtt_wait(m, "holotwin/v1/twins/press-line/ui/hmd",
                        "holotwin.ui/1", 5000);
    HT_CHECK(t, c);
    free(c);
    struct ht_it_mqtt *late = ht_it_mqtt_new(e.b.port, "twin-late", NULL, NULL);
    HT_CHECK(t, late && ht_it_mqtt_sub(late, "holotwin/v1/twins/press-line/#") <
                            128);
    c = ht_it_mqtt_wait(late, "holotwin/v1/twins/press-line/ui/web",
                        "holotwin.ui/1", 5000);
    HT_CHECK(t, c, "descriptor not retained");
    free(c);
    ht_it_mqtt_free(late);
    ht_it_mqtt_free(m);
    ht_it_sse_close(s);
    gw_stop(t, &e);
    free(tdir);
    env_clear(&e);
}

/* ---- a deterministic alarm from a button, and a write to a lamp ---- */

static const char panel_twin[] =
    "{\"id\":\"panel-watch\",\"title\":\"Panel watch\",\"components\":["
    "{\"id\":\"start\",\"kind\":\"button\",\"properties\":[{\"name\":"
    "\"pressed\",\"bind\":\"panel-1/start_button\",\"type\":\"boolean\"}]},"
    "{\"id\":\"lamp\",\"kind\":\"lamp\",\"properties\":[{\"name\":\"on\","
    "\"bind\":\"panel-1/run_lamp\",\"type\":\"boolean\",\"writable\":true}]}"
    "],\"rules\":[{\"id\":\"start-held\",\"severity\":\"warning\","
    "\"message\":\"start is pressed\",\"expr\":\"start.pressed\"}]}";

static void button_alarm(struct ht_it *t)
{
    struct env e = {0};
    ht_it_broker_start(t, &e.b, NULL);
    gw_start(t, &e, NULL);
    board_start(t, &e, "panel-1");
    approve(t, &e, "panel-1");
    HT_CHECK(t, call(&e, "PUT", "/api/v1/twins/panel-watch", panel_twin,
                     NULL) == 201);
    /* The automatic twin of the device is there too. */
    json_t *a;
    HT_WAIT(t, call(&e, "GET", "/api/v1/twins/panel-1", NULL, NULL) == 200,
            5000);
    HT_CHECK(t, call(&e, "GET", "/api/v1/twins/panel-1", NULL, &a) == 200);
    HT_CHECK(t, json_array_size(json_object_get(a, "components")) == 1);
    json_decref(a);

    /* Press and release once so the button's value is known: the twin is
     * then stable (its only warning rule is known to be inactive). */
    char *r = ctl(t, e.ctl_panel, "press start_button");
    free(r);
    r = ctl(t, e.ctl_panel, "release start_button");
    free(r);
    HT_WAIT(t, twin_stable(&e, "panel-watch"), 5000);
    struct ht_it_sse *s =
        ht_it_sse_open(e.http, "/api/v1/events?twin=panel-watch", e.auth);
    HT_CHECK(t, s && ht_it_sse_status(s) == 200);
    r = ctl(t, e.ctl_panel, "press start_button");
    HT_CHECK(t, !strncmp(r, "ok", 2), "%s", r);
    free(r);
    json_t *seen = json_array();
    json_t *st = sse_wait(t, s, "state", "start.pressed", 5000, seen);
    HT_CHECK(t, json_is_true(json_object_get(
                    json_object_get(json_object_get(st, "properties"),
                                    "start.pressed"),
                    "value")));
    json_t *al = sse_wait(t, s, "alarm-raised", "start-held", 5000, seen);
    json_t *sb = sse_wait(t, s, "stable-changed", NULL, 5000, seen);
    HT_CHECK(t, json_is_false(json_object_get(sb, "stable")));
    /* State, alarm and stable flag come from one engine step: same ts. */
    HT_CHECK(
        t,
        json_equal(json_object_get(st, "ts"), json_object_get(al, "ts")) &&
            json_equal(json_object_get(al, "ts"), json_object_get(sb, "ts")));
    json_decref(st);
    json_decref(al);
    json_decref(sb);
    json_decref(seen);
    /* The retained state topic holds the latest full state (rebuilt once
     * per loop iteration, not per value): a late subscriber gets the
     * pressed button, the alarm and the unstable flag. */
    struct ht_it_mqtt *late = ht_it_mqtt_new(e.b.port, "twin-late", NULL, NULL);
    HT_CHECK(t, late && ht_it_mqtt_sub(late, "holotwin/v1/twins/panel-watch/"
                                             "state") < 128);
    char *rc = ht_it_mqtt_wait(late, "holotwin/v1/twins/panel-watch/state",
                               "\"stable\":false", 5000);
    HT_CHECK(t, rc, "retained twin state is not the latest");
    json_t *rs = json_loads(rc, 0, NULL);
    free(rc);
    HT_CHECK(t, json_is_true(json_object_get(
                    json_object_get(json_object_get(rs, "properties"),
                                    "start.pressed"),
                    "value")));
    HT_CHECK(t, json_array_size(json_object_get(rs, "alarms")) == 1);
    json_decref(rs);
    ht_it_mqtt_free(late);
    r = ctl(t, e.ctl_panel, "release start_button");
    free(r);
    json_decref(sse_wait(t, s, "alarm-cleared", "start-held", 5000, NULL));
    sb = sse_wait(t, s, "stable-changed", NULL, 5000, NULL);
    HT_CHECK(t, json_is_true(json_object_get(sb, "stable")));
    json_decref(sb);
    /* The retained state is published at most every 20 ms per twin, and
     * always the newest: two lamp values 3 ms apart (no rule reads the
     * lamp, so nothing else republishes) leave the second one retained. */
    late = ht_it_mqtt_new(e.b.port, "twin-late2", NULL, NULL);
    HT_CHECK(t, late);
    HT_CHECK(t, ht_it_mqtt_pub(late,
                               "holotwin/v1/devices/panel-1/props/"
                               "run_lamp",
                               "{\"v\":true,\"seq\":900001}", 1, false) == 0);
    usleep(3000); /* processed apart, within one publish interval */
    HT_CHECK(t, ht_it_mqtt_pub(late,
                               "holotwin/v1/devices/panel-1/props/"
                               "run_lamp",
                               "{\"v\":false,\"seq\":900002}", 1, false) == 0);
    bool lamp_off = false;
    for (int i = 0; i < 20 && !lamp_off; i++) {
        usleep(100000);
        HT_CHECK(t, ht_it_mqtt_sub(late, "holotwin/v1/twins/panel-watch/"
                                         "state") < 128);
        rc = ht_it_mqtt_wait(late, "holotwin/v1/twins/panel-watch/state",
                             "\"stable\"", 2000);
        rs = rc ? json_loads(rc, 0, NULL) : NULL;
        free(rc);
        lamp_off = json_is_false(json_object_get(
            json_object_get(json_object_get(rs, "properties"), "lamp.on"),
            "value"));
        json_decref(rs);
    }
    HT_CHECK(t, lamp_off, "retained twin state kept a stale lamp value");
    ht_it_mqtt_free(late);

    /* A twin write reaches the device itself. */
    json_t *w;
    HT_CHECK(t, call(&e, "PUT", "/api/v1/twins/panel-watch/properties/lamp.on",
                     "true", &w) == 200);
    HT_CHECK(t, json_is_true(json_object_get(w, "v")));
    json_decref(w);
    r = ctl(t, e.ctl_panel, "get run_lamp");
    HT_CHECK(t, !strcmp(r, "ok true"), "lamp: %s", r);
    free(r);
    /* Read-only, unknown, bad type, malformed. */
    HT_CHECK(t, call(&e, "PUT",
                     "/api/v1/twins/panel-watch/properties/"
                     "start.pressed",
                     "true", NULL) == 409);
    HT_CHECK(t, call(&e, "PUT",
                     "/api/v1/twins/panel-watch/properties/"
                     "lamp.nope",
                     "true", NULL) == 404);
    HT_CHECK(t, call(&e, "PUT", "/api/v1/twins/panel-watch/properties/lamp.on",
                     "\"yes\"", &w) == 400);
    HT_CHECK(t, !strcmp(jstr(w, "code"), "bad_type"));
    json_decref(w);
    HT_CHECK(t, call(&e, "PUT", "/api/v1/twins/panel-watch/properties/lamp.on",
                     "{", NULL) == 400);
    HT_CHECK(t, call(&e, "PUT",
                     "/api/v1/twins/panel-watch/properties/"
                     "lamp..on",
                     "true", NULL) == 400);
    HT_CHECK(t, call(&e, "PUT", "/api/v1/twins/nope/properties/lamp.on", "true",
                     NULL) == 404);
    HT_CHECK(t, call(&e, "GET", "/api/v1/audit?limit=50", NULL, &w) == 200);
    bool audited = false;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(w, "items"), i, it) audited |=
        !strcmp(jstr(it, "action"), "twin-write");
    HT_CHECK(t, audited, "twin write not in the audit log");
    json_decref(w);
    ht_it_sse_close(s);
    gw_stop(t, &e);
    env_clear(&e);
}

/* ---- alarms: life cycle over REST, SSE and MQTT, with roles ---- */

static const char alarm_twin[] =
    "{\"id\":\"panel-alarms\",\"title\":\"Panel alarms\",\"components\":["
    "{\"id\":\"start\",\"kind\":\"button\",\"properties\":[{\"name\":"
    "\"pressed\",\"bind\":\"panel-1/start_button\",\"type\":\"boolean\"}]},"
    "{\"id\":\"lamp\",\"kind\":\"lamp\",\"properties\":[{\"name\":\"on\","
    "\"bind\":\"panel-1/alarm_lamp\",\"type\":\"boolean\",\"writable\":true,"
    "\"driven_by\":\"unacknowledged_alarms\"}]}],\"rules\":[{\"id\":"
    "\"start-held\",\"severity\":\"warning\",\"priority\":\"high\","
    "\"message\":\"start is pressed\",\"action\":\"release it\","
    "\"expr\":\"start.pressed\"}]}";

#define ALARM "/api/v1/alarms/panel-alarms:start-held"

/* The one alarm of panel-alarms as GET /api/v1/alarms?all=true lists it
 * (new), or NULL. */
static json_t *alarm_get(struct env *e)
{
    json_t *l = NULL, *a = NULL;
    if (call(e, "GET", "/api/v1/alarms?twin=panel-alarms&all=true", NULL, &l) ==
        200)
        a = json_incref(json_array_get(json_object_get(l, "items"), 0));
    json_decref(l);
    return a;
}

static bool alarm_listed(struct env *e)
{
    json_t *a = alarm_get(e);
    bool ok = a != NULL;
    json_decref(a);
    return ok;
}

static bool alarm_in(struct env *e, const char *state)
{
    json_t *a = alarm_get(e);
    bool ok = a && !strcmp(jstr(a, "state"), state);
    json_decref(a);
    return ok;
}

/* The panel's alarm lamp as the board itself reports it. */
static bool lamp_is(struct ht_it *t, struct env *e, bool on)
{
    char *r = ctl(t, e->ctl_panel, "get alarm_lamp");
    bool ok = !strcmp(r, on ? "ok true" : "ok false");
    free(r);
    return ok;
}

/* The button raises an alarm: SSE carries each transition with its full
 * state, the retained MQTT summary follows, the lamp follows "any
 * unacknowledged alarm"; a viewer cannot acknowledge, an operator can (a
 * second ack is refused with the reason), only a technician takes the
 * alarm out of service; a shelf expires by itself; the journal holds every
 * transition with who did it; a restart keeps the life cycle. */
static void alarms(struct ht_it *t)
{
    struct env e = {0};
    ht_it_broker_start(t, &e.b, NULL);
    gw_start(t, &e, NULL);
    board_start(t, &e, "panel-1");
    approve(t, &e, "panel-1");
    HT_CHECK(t, call(&e, "PUT", "/api/v1/twins/panel-alarms", alarm_twin,
                     NULL) == 201);
    char *viewer = token_hdr(t, &e, "viewer");
    char *op = token_hdr(t, &e, "operator");
    char *tech = token_hdr(t, &e, "technician");
    struct ht_it_mqtt *m = ht_it_mqtt_new(e.b.port, "alarm-watch", NULL, NULL);
    HT_CHECK(t, m && ht_it_mqtt_sub(m, "holotwin/v1/twins/panel-alarms/"
                                       "alarms") < 128);
    char *r = ctl(t, e.ctl_panel, "release start_button");
    free(r);
    HT_WAIT(t, alarm_in(&e, "normal"), 5000);
    HT_WAIT(t, lamp_is(t, &e, false), 5000, "the lamp is not driven off");
    struct ht_it_sse *s =
        ht_it_sse_open(e.http, "/api/v1/events?twin=panel-alarms", e.auth);
    HT_CHECK(t, s && ht_it_sse_status(s) == 200);

    /* Raised: one "alarm" event with the full state. */
    r = ctl(t, e.ctl_panel, "press start_button");
    free(r);
    json_t *ev = sse_wait(t, s, "alarm", "active_unacknowledged", 5000, NULL);
    HT_CHECK(t, !strcmp(jstr(ev, "from"), "normal") &&
                    !strcmp(jstr(ev, "cause"), "condition") &&
                    !strcmp(jstr(ev, "id"), "panel-alarms:start-held"));
    json_t *st = json_object_get(ev, "alarm");
    HT_CHECK(t, !strcmp(jstr(st, "priority"), "high") &&
                    !strcmp(jstr(st, "action"), "release it") &&
                    json_is_true(json_object_get(st, "first_out")));
    json_decref(ev);
    json_t *l;
    HT_CHECK(t, call_h(&e, viewer, "GET", "/api/v1/alarms", NULL, &l) == 200);
    HT_CHECK(t, json_array_size(json_object_get(l, "items")) == 1);
    HT_CHECK(t, json_integer_value(json_object_get(json_object_get(l, "counts"),
                                                   "unacknowledged")) == 1);
    json_decref(l);
    HT_CHECK(t,
             call(&e, "GET", "/api/v1/alarms?priority=low", NULL, &l) == 200);
    HT_CHECK(t, json_array_size(json_object_get(l, "items")) == 0);
    json_decref(l);
    HT_CHECK(t,
             call(&e, "GET", "/api/v1/alarms?state=bogus", NULL, NULL) == 400);
    char *sum = ht_it_mqtt_wait(m, "holotwin/v1/twins/panel-alarms/alarms",
                                "\"unacknowledged\":1", 5000);
    HT_CHECK(t, sum, "no retained alarm summary");
    json_t *js = json_loads(sum, 0, NULL);
    free(sum);
    HT_CHECK(t, !strcmp(jstr(js, "highest"), "high") &&
                    !strcmp(jstr(js, "first_out"), "start-held"));
    json_decref(js);
    HT_WAIT(t, lamp_is(t, &e, true), 5000, "the lamp is not driven on");

    /* Roles and refusals. */
    HT_CHECK(t, call_h(&e, viewer, "POST", ALARM "/ack", NULL, NULL) == 403);
    HT_CHECK(t, call_h(&e, op, "POST", ALARM "/ack", "{\"note\":\"seen\"}",
                       &l) == 200);
    HT_CHECK(t, !strcmp(jstr(l, "state"), "active_acknowledged") &&
                    !strcmp(jstr(l, "note"), "seen"));
    json_decref(l);
    ev = sse_wait(t, s, "alarm", "active_acknowledged", 5000, NULL);
    HT_CHECK(t, !strcmp(jstr(ev, "cause"), "ack") &&
                    !strncmp(jstr(ev, "who"), "operator-test:", 14));
    json_decref(ev);
    HT_CHECK(t, call_h(&e, op, "POST", ALARM "/ack", NULL, &l) == 409);
    HT_CHECK(t,
             !strcmp(jstr(l, "code"), "alarm_state") &&
                 strstr(jstr(l, "detail"), "nothing to acknowledge"),
             "%s", jstr(l, "detail"));
    json_decref(l);
    HT_CHECK(t, call_h(&e, op, "POST", "/api/v1/alarms/panel-alarms:nope/ack",
                       NULL, NULL) == 404);
    HT_CHECK(t, call_h(&e, op, "POST", "/api/v1/alarms/panel-alarms/ack", NULL,
                       NULL) == 400);
    HT_CHECK(t, call_h(&e, op, "POST", ALARM "/ack", "{", NULL) == 400);
    HT_WAIT(t, lamp_is(t, &e, false), 5000, "the lamp stays on after ack");
    HT_CHECK(t, call_h(&e, op, "POST", ALARM "/out-of-service", NULL, NULL) ==
                    403);
    HT_CHECK(t, call_h(&e, tech, "POST", ALARM "/out-of-service",
                       "{\"note\":\"sensor swap\"}", NULL) == 200);
    HT_CHECK(t, call_h(&e, tech, "POST", ALARM "/in-service", NULL, &l) == 200);
    /* Back in service with the button still pressed: annunciated afresh. */
    HT_CHECK(t, !strcmp(jstr(l, "state"), "active_unacknowledged"));
    json_decref(l);

    /* Shelved for 300 ms: it comes back by itself. */
    HT_CHECK(t, call_h(&e, op, "POST", ALARM "/shelve", "{}", NULL) == 400);
    HT_CHECK(t, call_h(&e, op, "POST", ALARM "/shelve", "{\"duration_ms\":300}",
                       &l) == 200);
    HT_CHECK(t, !strcmp(jstr(l, "state"), "shelved") &&
                    json_is_integer(json_object_get(l, "shelved_until")));
    json_decref(l);
    ev = sse_wait(t, s, "alarm", "shelve-expired", 5000, NULL);
    HT_CHECK(t, !strcmp(jstr(ev, "to"), "active_unacknowledged") &&
                    json_is_null(json_object_get(ev, "who")));
    json_decref(ev);
    /* Released: returned unacknowledged; acknowledged: normal. */
    r = ctl(t, e.ctl_panel, "release start_button");
    free(r);
    json_decref(sse_wait(t, s, "alarm", "returned_unacknowledged", 5000, NULL));
    HT_CHECK(t, call_h(&e, op, "POST", ALARM "/ack", NULL, &l) == 200);
    HT_CHECK(t, !strcmp(jstr(l, "state"), "normal"));
    json_decref(l);

    /* The journal: every transition, newest first, with who. */
    HT_CHECK(t, call_h(&e, viewer, "GET",
                       "/api/v1/alarms/history?twin=panel-alarms&limit=100",
                       NULL, &l) == 200);
    json_t *items = json_object_get(l, "items");
    static const char *const causes[] = {
        "ack",    "condition",  "shelve-expired",
        "shelve", "in-service", "out-of-service",
        "ack",    "condition"};
    HT_CHECK(t, json_array_size(items) == 8, "%zu transitions",
             json_array_size(items));
    for (size_t i = 0; i < 8; i++)
        HT_CHECK(t, !strcmp(jstr(json_array_get(items, i), "cause"), causes[i]),
                 "transition %zu: %s", i,
                 jstr(json_array_get(items, i), "cause"));
    HT_CHECK(t, !strncmp(jstr(json_array_get(items, 5), "who"),
                         "technician-test:", 16));
    json_decref(l);
    HT_CHECK(t, call(&e, "GET", "/api/v1/audit?limit=50", NULL, &l) == 200);
    HT_CHECK(t, dump_has(l, "\"alarm-ack\""), "no alarm-ack in the audit");
    json_decref(l);
    /* The alarm rate and the transitions in /metrics: raised, in service
     * and back from the shelf are three annunciations. */
    struct ht_it_http mr;
    HT_CHECK(t, ht_it_http(e.http, "GET", "/metrics", e.auth, NULL, &mr) == 0 &&
                    mr.status == 200);
    HT_CHECK(t,
             strstr(mr.body, "\nholotwin_alarm_transitions_total 8\n") &&
                 strstr(mr.body, "\nholotwin_alarm_annunciations_total 3\n") &&
                 strstr(mr.body, "\nholotwin_alarms_unacknowledged 0\n"),
             "%s", mr.body);
    ht_it_http_free(&mr);

    /* A restart keeps the life cycle: shelved stays shelved. */
    HT_CHECK(t, call_h(&e, op, "POST", ALARM "/shelve",
                       "{\"duration_ms\":600000,\"note\":\"night\"}",
                       NULL) == 200);
    ht_it_sse_close(s);
    gw_stop(t, &e);
    gw_start(t, &e, NULL);
    /* The alarm lists are built at the loop's first flush, which may come
     * after the HTTP port opens: wait for the list, not for the state. */
    HT_WAIT(t, alarm_listed(&e), 5000);
    json_t *a = alarm_get(&e);
    HT_CHECK(t,
             a && !strcmp(jstr(a, "state"), "shelved") &&
                 !strcmp(jstr(a, "note"), "night"),
             "after a restart: %s", a ? jstr(a, "state") : "(none)");
    json_decref(a);
    /* Deleting the twin closes its open alarms in the journal. */
    HT_CHECK(t, call(&e, "DELETE", "/api/v1/twins/panel-alarms", NULL, NULL) ==
                    204);
    HT_CHECK(t, call(&e, "GET",
                     "/api/v1/alarms/history?twin=panel-alarms&"
                     "limit=1",
                     NULL, &l) == 200);
    json_t *last = json_array_get(json_object_get(l, "items"), 0);
    HT_CHECK(t,
             !strcmp(jstr(last, "cause"), "removed") &&
                 !strcmp(jstr(last, "from"), "shelved"),
             "%s", jstr(last, "cause"));
    json_decref(l);
    HT_CHECK(t, call(&e, "GET", "/api/v1/alarms?twin=panel-alarms&all=true",
                     NULL, &l) == 200);
    HT_CHECK(t, json_array_size(json_object_get(l, "items")) == 0);
    json_decref(l);
    ht_it_mqtt_free(m);
    free(viewer);
    free(op);
    free(tech);
    gw_stop(t, &e);
    env_clear(&e);
}

/* ---- twin CRUD, descriptors, directory, persistence ---- */

static const char mini_twin[] =
    "{\"id\":\"mini\",\"title\":\"%s\",\"anchor\":{\"marker\":\"m.png\","
    "\"size\":0.1},\"components\":[{\"id\":\"lamp\",\"kind\":\"lamp\","
    "\"properties\":[{\"name\":\"on\",\"bind\":\"panel-1/run_lamp\","
    "\"type\":\"boolean\",\"writable\":true}]}],\"rules\":[{\"id\":\"lit\","
    "\"severity\":\"info\",\"message\":\"lit\",\"expr\":\"lamp.on\"}]}";

static int get_ui(struct env *e, const char *hdr, const char *target,
                  const char *inm, char **etag, json_t **body)
{
    char path[128], h[512];
    snprintf(path, sizeof path, "/api/v1/twins/mini/ui?target=%s", target);
    snprintf(h, sizeof h, "%s%s%s%s", hdr, inm ? "If-None-Match: " : "",
             inm ? inm : "", inm ? "\r\n" : "");
    struct ht_it_http r;
    if (ht_it_http(e->http, "GET", path, h, NULL, &r))
        return -1;
    if (etag)
        *etag = ht_it_http_header(&r, "ETag");
    if (body)
        *body = ht_it_http_json(&r);
    int st = r.status;
    ht_it_http_free(&r);
    return st;
}

static void crud_descriptors(struct ht_it *t)
{
    struct env e = {0};
    ht_it_broker_start(t, &e.b, NULL);
    gw_start(t, &e, NULL);
    board_start(t, &e, "panel-1");
    approve(t, &e, "panel-1");
    struct ht_it_mqtt *m = ht_it_mqtt_new(e.b.port, "twin-crud", NULL, NULL);
    HT_CHECK(t, m && ht_it_mqtt_sub(m, "holotwin/v1/twins/#") < 128);

    /* Invalid documents: a clear message with the position. */
    json_t *p;
    HT_CHECK(t, call(&e, "PUT", "/api/v1/twins/mini", "{\"id\":", &p) == 400);
    HT_CHECK(t, strstr(jstr(p, "detail"), "line 1"), "%s", jstr(p, "detail"));
    json_decref(p);
    char doc[2048];
    snprintf(doc, sizeof doc, mini_twin, "Mini");
    char *bad =
        str_replace(doc, "\"expr\":\"lamp.on\"", "\"expr\":\"lamp.on)\"");
    HT_CHECK(t, call(&e, "PUT", "/api/v1/twins/mini", bad, &p) == 400);
    HT_CHECK(t, !strcmp(jstr(p, "pointer"), "/rules/0/expr"), "%s",
             jstr(p, "pointer"));
    HT_CHECK(t, strstr(jstr(p, "detail"), "at 7"), "%s", jstr(p, "detail"));
    HT_CHECK(t, !strcmp(jstr(p, "code"), "invalid_twin"));
    json_decref(p);
    free(bad);
    HT_CHECK(t, call(&e, "PUT", "/api/v1/twins/other", doc, &p) == 400);
    HT_CHECK(t, !strcmp(jstr(p, "pointer"), "/id"));
    json_decref(p);
    HT_CHECK(t, call(&e, "PUT", "/api/v1/twins/mini", "[1]", NULL) == 400);
    HT_CHECK(t, call(&e, "GET", "/api/v1/twins/mini", NULL, NULL) == 404);
    HT_CHECK(t, call(&e, "GET", "/api/v1/twins/a+b", NULL, NULL) == 400);

    /* Create, then a new version; a descriptor event follows the change. */
    HT_CHECK(t, call(&e, "PUT", "/api/v1/twins/mini", doc, &p) == 201);
    HT_CHECK(t, json_integer_value(json_object_get(p, "version")) == 1);
    json_decref(p);
    char *etag1 = NULL;
    json_t *d;
    HT_CHECK(t, get_ui(&e, e.auth, "web", NULL, &etag1, &d) == 200);
    HT_CHECK(t, etag1 && etag1[0] == '"');
    HT_CHECK(t, !strcmp(jstr(d, "schema"), "holotwin.ui/1"));
    ajv_valid(t, "ui-descriptors/schema/ui-descriptor.schema.json", d,
              "web.json");
    json_decref(d);
    HT_CHECK(t, get_ui(&e, e.auth, "web", etag1, NULL, NULL) == 304);
    HT_CHECK(t, get_ui(&e, e.auth, "web", "\"0000\", W/", NULL, NULL) == 200);
    char *hetag = NULL;
    HT_CHECK(t, get_ui(&e, e.auth, "hmd", NULL, &hetag, &d) == 200);
    ajv_valid(t, "ui-descriptors/schema/ui-descriptor.schema.json", d,
              "hmd.json");
    HT_CHECK(t, dump_has(d, "/api/v1/twins/mini/assets/m.png"),
             "the hmd anchor names the marker asset");
    json_decref(d);
    HT_CHECK(t, strcmp(hetag, etag1));
    free(hetag);
    HT_CHECK(t, get_ui(&e, e.auth, "3d", NULL, NULL, NULL) == 400);

    struct ht_it_sse *s =
        ht_it_sse_open(e.http, "/api/v1/events?twin=mini", e.auth);
    HT_CHECK(t, s && ht_it_sse_status(s) == 200);
    snprintf(doc, sizeof doc, mini_twin, "Mini v2");
    HT_CHECK(t, call(&e, "PUT", "/api/v1/twins/mini", doc, &p) == 200);
    HT_CHECK(t, json_integer_value(json_object_get(p, "version")) == 2);
    json_decref(p);
    json_t *ev = sse_wait(t, s, "descriptor", "\"web\"", 5000, NULL);
    char *etag2 = NULL;
    HT_CHECK(t, get_ui(&e, e.auth, "web", etag1, &etag2, NULL) == 200,
             "old ETag must not match the new descriptor");
    /* The event names the operator descriptor, the one on MQTT. */
    char *op = token_hdr(t, &e, "operator");
    char *etag_op = NULL;
    HT_CHECK(t, get_ui(&e, op, "web", NULL, &etag_op, NULL) == 200);
    HT_CHECK(t, !strcmp(etag_op, jstr(ev, "etag")), "%s vs %s", etag_op,
             jstr(ev, "etag"));
    json_decref(ev);
    char *c =
        ht_it_mqtt_wait(m, "holotwin/v1/twins/mini/ui/web", "Mini v2", 5000);
    HT_CHECK(t, c, "descriptor not pushed on MQTT");
    free(c);

    /* Viewer descriptors differ (nothing writable). */
    char *viewer = token_hdr(t, &e, "viewer");
    char *etag_v = NULL;
    HT_CHECK(t, get_ui(&e, viewer, "web", NULL, &etag_v, &d) == 200);
    HT_CHECK(t, strcmp(etag_v, etag_op));
    HT_CHECK(t, !dump_has(d, "\"writable\":true"));
    json_decref(d);

    /* List, WoT directory. */
    HT_CHECK(t, call(&e, "GET", "/api/v1/twins", NULL, &p) == 200);
    bool found = false;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(p, "items"), i, it) found |=
        !strcmp(jstr(it, "id"), "mini") &&
        json_integer_value(json_object_get(it, "version")) == 2 &&
        json_is_false(json_object_get(it, "auto"));
    HT_CHECK(t, found);
    json_decref(p);
    HT_CHECK(t, call(&e, "GET", "/things/urn:holotwin:twin:mini", NULL, &p) ==
                    200);
    HT_CHECK(t, !strcmp(jstr(p, "id"), "urn:holotwin:twin:mini"));
    HT_CHECK(t, json_object_get(json_object_get(p, "properties"), "lamp.on"));
    char *td = json_dumps(p, JSON_INDENT(1));
    char *tdp = ht_it_write(t, "twin-td.json", td);
    const char *args[] = {tdp, NULL};
    char *out = NULL;
    HT_CHECK(t, ht_it_node(t, "validate-td.mjs", args, 60000, &out) == 0,
             "twin TD rejected by the W3C validator: %s", out ? out : "");
    free(out);
    free(td);
    free(tdp);
    json_decref(p);
    HT_CHECK(t, call(&e, "GET", "/things", NULL, &p) == 200);
    found = false;
    json_array_foreach(p, i, it) found |=
        !strcmp(jstr(it, "id"), "urn:holotwin:twin:mini");
    HT_CHECK(t, found, "twin missing from /things");
    json_decref(p);
    HT_CHECK(t, call(&e, "GET", "/things/urn:holotwin:twin:nope", NULL, NULL) ==
                    404);

    /* A composed twin named like a device pushes its automatic twin to
     * "<id>.auto"; deleting it brings the automatic twin back. */
    HT_CHECK(t, call(&e, "GET", "/api/v1/twins/panel-1", NULL, &p) == 200);
    json_decref(p);
    HT_CHECK(t, call(&e, "DELETE", "/api/v1/twins/panel-1", NULL, NULL) == 409);
    char *pdoc = str_replace(doc, "\"mini\"", "\"pan1\"");
    HT_CHECK(t, call(&e, "PUT", "/api/v1/twins/pan1", pdoc, NULL) == 201);
    free(pdoc);
    snprintf(doc, sizeof doc, mini_twin, "Panel composed");
    char *cdoc = str_replace(doc, "\"mini\"", "\"panel-1\"");
    HT_CHECK(t, call(&e, "PUT", "/api/v1/twins/panel-1", cdoc, NULL) == 201);
    free(cdoc);
    HT_CHECK(t,
             call(&e, "GET", "/api/v1/twins/panel-1.auto", NULL, NULL) == 200);
    HT_CHECK(t, call(&e, "DELETE", "/api/v1/twins/panel-1", NULL, NULL) == 204);
    HT_CHECK(t,
             call(&e, "GET", "/api/v1/twins/panel-1.auto", NULL, NULL) == 404);
    HT_CHECK(t, call(&e, "GET", "/api/v1/twins/panel-1", NULL, &p) == 200);
    HT_CHECK(t, !strcmp(jstr(p, "title"), "Operator panel") ||
                    json_array_size(json_object_get(p, "components")) == 1);
    json_decref(p);

    /* Delete: gone, retained topics cleared. */
    ht_it_mqtt_clear(m);
    HT_CHECK(t, call(&e, "DELETE", "/api/v1/twins/pan1", NULL, NULL) == 204);
    HT_CHECK(t, call(&e, "GET", "/api/v1/twins/pan1", NULL, NULL) == 404);
    HT_CHECK(t, call(&e, "DELETE", "/api/v1/twins/pan1", NULL, NULL) == 404);
    HT_WAIT(t, ht_it_mqtt_count(m, "holotwin/v1/twins/pan1/state") >= 1, 5000,
            "retained state of a deleted twin not cleared");

    /* Twins survive a restart with their version. */
    ht_it_sse_close(s);
    gw_stop(t, &e);
    gw_start(t, &e, NULL);
    HT_CHECK(t, call(&e, "GET", "/api/v1/twins/mini", NULL, &p) == 200);
    HT_CHECK(t, json_integer_value(json_object_get(p, "version")) == 2);
    HT_CHECK(t, !strcmp(jstr(p, "title"), "Mini v2"));
    json_decref(p);
    char *etag3 = NULL;
    HT_CHECK(t, get_ui(&e, op, "web", NULL, &etag3, NULL) == 200);
    HT_CHECK(t, !strcmp(etag3, etag_op), "same twin, same descriptor bytes");
    gw_stop(t, &e);
    free(etag1);
    free(etag2);
    free(etag3);
    free(etag_op);
    free(etag_v);
    free(op);
    free(viewer);
    ht_it_mqtt_free(m);
    env_clear(&e);
}

/* ---- auth matrix ---- */

static void auth(struct ht_it *t)
{
    struct env e = {0};
    ht_it_broker_start(t, &e.b, NULL);
    gw_start(t, &e, NULL);
    board_start(t, &e, "panel-1");
    approve(t, &e, "panel-1");
    char doc[2048];
    snprintf(doc, sizeof doc, mini_twin, "Mini");
    char *viewer = token_hdr(t, &e, "viewer");
    char *op = token_hdr(t, &e, "operator");
    char *tech = token_hdr(t, &e, "technician");
    HT_CHECK(t, call_h(&e, NULL, "GET", "/api/v1/twins", NULL, NULL) == 401);
    HT_CHECK(t,
             call_h(&e, viewer, "PUT", "/api/v1/twins/mini", doc, NULL) == 403);
    HT_CHECK(t, call_h(&e, op, "PUT", "/api/v1/twins/mini", doc, NULL) == 403);
    HT_CHECK(t,
             call_h(&e, tech, "PUT", "/api/v1/twins/mini", doc, NULL) == 201);
    HT_CHECK(t, call_h(&e, viewer, "GET", "/api/v1/twins/mini", NULL, NULL) ==
                    200);
    HT_CHECK(t, call_h(&e, viewer, "GET", "/api/v1/twins/mini/state", NULL,
                       NULL) == 200);
    HT_CHECK(t,
             call_h(&e, viewer, "PUT", "/api/v1/twins/mini/properties/lamp.on",
                    "true", NULL) == 403);
    HT_CHECK(t, call_h(&e, op, "PUT", "/api/v1/twins/mini/properties/lamp.on",
                       "true", NULL) == 200);
    HT_CHECK(t,
             call_h(&e, op, "DELETE", "/api/v1/twins/mini", NULL, NULL) == 403);
    char hdr[512];
    snprintf(hdr, sizeof hdr, "%sContent-Type: image/png\r\n", op);
    HT_CHECK(t, call_h(&e, hdr, "PUT", "/api/v1/twins/mini/assets/m.png",
                       "\x89PNG\r\n\x1a\nxx", NULL) == 403);
    snprintf(hdr, sizeof hdr, "%sContent-Type: image/png\r\n", tech);
    HT_CHECK(t, call_h(&e, hdr, "PUT", "/api/v1/twins/mini/assets/m.png",
                       "\x89PNG\r\n\x1a\nxx", NULL) == 201);
    HT_CHECK(t, call_h(&e, viewer, "GET", "/api/v1/twins/mini/assets/m.png",
                       NULL, NULL) == 200);
    HT_CHECK(t, call_h(&e, viewer, "DELETE", "/api/v1/twins/mini/assets/m.png",
                       NULL, NULL) == 403);
    HT_CHECK(t, call_h(&e, tech, "DELETE", "/api/v1/twins/mini", NULL, NULL) ==
                    204);
    free(viewer);
    free(op);
    free(tech);
    gw_stop(t, &e);
    env_clear(&e);
}

/* ---- assets ---- */

static int put_asset(struct env *e, const char *name, const char *ctype,
                     const char *body, char **etag)
{
    char path[256], hdr[512];
    snprintf(path, sizeof path, "/api/v1/twins/mini/assets/%s", name);
    snprintf(hdr, sizeof hdr, "%s%s%s%s", e->auth,
             ctype ? "Content-Type: " : "", ctype ? ctype : "",
             ctype ? "\r\n" : "");
    struct ht_it_http r;
    if (ht_it_http(e->http, "PUT", path, hdr, body, &r))
        return -1;
    if (etag)
        *etag = ht_it_http_header(&r, "ETag");
    int st = r.status;
    ht_it_http_free(&r);
    return st;
}

static void assets(struct ht_it *t)
{
    struct env e = {0};
    ht_it_broker_start(t, &e.b, NULL);
    char *cfg = ht_it_write(t, "gw.json", "{\"twins\": {\"asset_max\": 2048}}");
    const char *extra[] = {"--config", cfg, NULL};
    gw_start(t, &e, extra);
    char doc[2048];
    snprintf(doc, sizeof doc, mini_twin, "Mini");
    HT_CHECK(t, call(&e, "PUT", "/api/v1/twins/mini", doc, NULL) == 201);
    const char png[] = "\x89PNG\r\n\x1a\nmarker-pixels";
    char *etag = NULL;
    HT_CHECK(t, put_asset(&e, "m.png", "image/png", png, &etag) == 201);
    HT_CHECK(t, etag && strlen(etag) == 66, "ETag %s", etag ? etag : "");
    char *etag2 = NULL;
    HT_CHECK(t, put_asset(&e, "m.png", "image/png", png, &etag2) == 200);
    HT_CHECK(t, !strcmp(etag, etag2), "content-addressed ETag");
    free(etag2);
    /* Same bytes under another name: one blob on disk. */
    HT_CHECK(t, put_asset(&e, "copy.png", "image/png", png, NULL) == 201);
    HT_CHECK(t, put_asset(&e, "model.gltf", "model/gltf+json",
                          "{\"asset\":{\"version\":\"2.0\"}}", NULL) == 201);
    HT_CHECK(t, put_asset(&e, "model.glb", "model/gltf-binary",
                          "glTF\x02xxxxxxxxxxx", NULL) == 201);
    HT_CHECK(t, put_asset(&e, "targets.dat", "application/octet-stream",
                          "vuforia-db", NULL) == 201);

    /* Refused: types, mismatched content, names, size, unknown twin. */
    HT_CHECK(t, put_asset(&e, "x.html", "text/html", "<p>", NULL) == 415);
    HT_CHECK(t, put_asset(&e, "x.png", NULL, png, NULL) == 415);
    HT_CHECK(t, put_asset(&e, "x.jpg", "image/jpeg", png, NULL) == 400);
    HT_CHECK(t, put_asset(&e, "x.gltf", "model/gltf+json", "[]", NULL) == 400);
    HT_CHECK(t, put_asset(&e, "..png", "image/png", png, NULL) == 400);
    HT_CHECK(t, put_asset(&e, "a..b.png", "image/png", png, NULL) == 400);
    HT_CHECK(t, put_asset(&e, "x+y.png", "image/png", png, NULL) == 400);
    HT_CHECK(t, put_asset(&e, "empty.png", "image/png", "", NULL) == 400);
    char *big = malloc(4097);
    memcpy(big, "\x89PNG\r\n\x1a\n", 8);
    memset(big + 8, 'A', 4088);
    big[4096] = '\0';
    HT_CHECK(t, put_asset(&e, "big.png", "image/png", big, NULL) == 413);
    free(big);
    {
        struct ht_it_http r;
        char hdr[512];
        snprintf(hdr, sizeof hdr, "%sContent-Type: image/png\r\n", e.auth);
        HT_CHECK(t, ht_it_http(e.http, "PUT", "/api/v1/twins/nope/assets/m.png",
                               hdr, png, &r) == 0 &&
                        r.status == 404);
        ht_it_http_free(&r);
    }

    /* Listed, served with its type and ETag, 304 on a match. */
    json_t *l;
    HT_CHECK(t, call(&e, "GET", "/api/v1/twins/mini/assets", NULL, &l) == 200);
    HT_CHECK(t, json_array_size(json_object_get(l, "items")) == 5, "%zu",
             json_array_size(json_object_get(l, "items")));
    json_decref(l);
    struct ht_it_http r;
    HT_CHECK(t, ht_it_http(e.http, "GET", "/api/v1/twins/mini/assets/m.png",
                           e.auth, NULL, &r) == 0);
    HT_CHECK(t, r.status == 200 && r.len == strlen(png) &&
                    !memcmp(r.body, png, r.len));
    char *ct = ht_it_http_header(&r, "Content-Type");
    HT_CHECK(t, ct && !strcmp(ct, "image/png"), "%s", ct ? ct : "");
    free(ct);
    ht_it_http_free(&r);
    char hdr[512];
    snprintf(hdr, sizeof hdr, "%sIf-None-Match: %s\r\n", e.auth, etag);
    HT_CHECK(t, ht_it_http(e.http, "GET", "/api/v1/twins/mini/assets/m.png",
                           hdr, NULL, &r) == 0 &&
                    r.status == 304);
    ht_it_http_free(&r);
    HT_CHECK(t, ht_it_http(e.http, "GET", "/api/v1/twins/mini/assets/model.glb",
                           e.auth, NULL, &r) == 0 &&
                    r.status == 200);
    ct = ht_it_http_header(&r, "Content-Type");
    HT_CHECK(t, ct && !strcmp(ct, "model/gltf-binary"));
    free(ct);
    ht_it_http_free(&r);

    /* Content-addressed: deleting one name keeps the shared blob. */
    char blob[512];
    snprintf(blob, sizeof blob, "%s/assets/%.64s", e.data, etag + 1);
    HT_CHECK(t, access(blob, F_OK) == 0, "blob %s", blob);
    HT_CHECK(t, call(&e, "DELETE", "/api/v1/twins/mini/assets/m.png", NULL,
                     NULL) == 204);
    HT_CHECK(t, access(blob, F_OK) == 0, "shared blob deleted");
    HT_CHECK(t, call(&e, "GET", "/api/v1/twins/mini/assets/m.png", NULL,
                     NULL) == 404);
    HT_CHECK(t, call(&e, "DELETE", "/api/v1/twins/mini/assets/m.png", NULL,
                     NULL) == 404);
    HT_CHECK(t, call(&e, "GET", "/api/v1/twins/mini/assets/copy.png", NULL,
                     NULL) == 200);
    /* Deleting the twin deletes its assets and their blobs. */
    HT_CHECK(t, call(&e, "DELETE", "/api/v1/twins/mini", NULL, NULL) == 204);
    HT_CHECK(t, access(blob, F_OK) != 0, "blob of a deleted twin kept");
    HT_CHECK(t, call(&e, "PUT", "/api/v1/twins/mini", doc, NULL) == 201);
    HT_CHECK(t, call(&e, "GET", "/api/v1/twins/mini/assets", NULL, &l) == 200);
    HT_CHECK(t, json_array_size(json_object_get(l, "items")) == 0);
    json_decref(l);
    free(etag);
    free(cfg);
    gw_stop(t, &e);
    env_clear(&e);
}

/* ---- a bad twin file stops the start with a message ---- */

static void twins_dir_bad(struct ht_it *t)
{
    char *dir = ht_it_path(t, "tw");
    HT_CHECK(t, mkdir(dir, 0700) == 0);
    free(ht_it_write(t, "tw/bad.json",
                     "{\"id\":\"bad\",\"title\":\"B\",\"components\":[{\"id\":"
                     "\"c\",\"kind\":\"lamp\",\"properties\":[{\"name\":\"on\","
                     "\"bind\":\"d/on\"}]}],\"rules\":[{\"id\":\"r\","
                     "\"severity\":\"warning\",\"message\":\"m\",\"expr\":"
                     "\"c.on &&\"}]}"));
    char *data = ht_it_path(t, "data");
    char port[16];
    snprintf(port, sizeof port, "%d", ht_it_free_port());
    char *bin = ht_it_bin("gatewayd");
    const char *argv[] = {
        bin,  "--broker",  "127.0.0.1:1", "--http-port", port, "--data-dir",
        data, "--no-mdns", "--twins-dir", dir,           NULL};
    char *err = NULL;
    int rc = ht_it_run(t, argv, NULL, 20000, NULL, &err);
    HT_CHECK(t, rc > 0, "gatewayd accepted a bad twin file (rc %d)", rc);
    HT_CHECK(t, err && strstr(err, "bad.json") && strstr(err, "/rules/0/expr"),
             "message: %s", err ? err : "");
    free(err);
    free(bin);
    free(data);
    free(dir);
}

/* ---- time travel (issue 17) ---- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What a live client knows of a twin: the state it fetched once, then
 * every SSE "state" event's properties and "alarm" event's life-cycle
 * state folded in. */
struct live {
    json_t *props;  /* {"c.p": {"value","quality",...}} */
    json_t *alarms; /* {rule: life-cycle state name} */
};

static void live_apply(struct live *l, const char *ev, const json_t *d)
{
    if (!strcmp(ev, "state")) {
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(d, "properties"), k, v)
            json_object_set(l->props, k, v);
    } else if (!strcmp(ev, "alarm")) {
        json_object_set_new(
            l->alarms, jstr(d, "rule"),
            json_string(jstr(json_object_get(d, "alarm"), "state")));
    }
}

/* Fold SSE events in until the stream is quiet for quiet_ms. */
static void live_settle(struct ht_it *t, struct ht_it_sse *s, struct live *l,
                        int quiet_ms)
{
    for (int n = 0; n < 1000; n++) {
        char *ev = NULL, *data = NULL;
        int rc = ht_it_sse_next(s, quiet_ms, &ev, &data, NULL);
        HT_CHECK(t, rc >= 0, "event stream ended");
        if (rc == 0)
            return;
        json_t *j = json_loads(data ? data : "", 0, NULL);
        if (ev && j)
            live_apply(l, ev, j);
        json_decref(j);
        free(ev);
        free(data);
    }
    HT_CHECK(t, false, "the event stream never went quiet");
}

/* An instant in the middle of a quiet period, and what the live client
 * knew then (new copies). */
struct checkpoint {
    int64_t at;
    json_t *props, *alarms;
    const char *what;
};

static void checkpoint(struct ht_it *t, struct ht_it_sse *s, struct live *l,
                       struct checkpoint *c, const char *what)
{
    live_settle(t, s, l, 400);
    int64_t a = wall_ms();
    ht_it_sleep_ms(300);
    live_settle(t, s, l, 50);
    c->at = a + 150;
    c->props = json_deep_copy(l->props);
    c->alarms = json_deep_copy(l->alarms);
    c->what = what;
}

/* The state at c->at equals what the live client saw then: every value
 * with its quality, every alarm's life-cycle state. */
static void check_at(struct ht_it *t, struct env *e, const struct checkpoint *c)
{
    char path[160];
    snprintf(path, sizeof path, "/api/v1/twins/tt/state?at=%lld",
             (long long)c->at);
    json_t *st;
    HT_CHECK(t, call(e, "GET", path, NULL, &st) == 200, "%s", path);
    HT_CHECK(t, json_integer_value(json_object_get(st, "at")) == c->at);
    HT_CHECK(t, json_is_null(json_object_get(st, "control")) &&
                    json_object_get(st, "control"));
    const char *k;
    json_t *lv;
    json_object_foreach(c->props, k, lv)
    {
        json_t *pv = json_object_get(json_object_get(st, "properties"), k);
        HT_CHECK(t, pv, "%s: %s missing at %lld", c->what, k, (long long)c->at);
        HT_CHECK(t,
                 json_equal(json_object_get(lv, "value"),
                            json_object_get(pv, "value")) &&
                     !strcmp(jstr(lv, "quality"), jstr(pv, "quality")),
                 "%s: %s live %s/%s, rebuilt %s/%s", c->what, k,
                 json_dumps(json_object_get(lv, "value"), JSON_ENCODE_ANY),
                 jstr(lv, "quality"),
                 json_dumps(json_object_get(pv, "value"), JSON_ENCODE_ANY),
                 jstr(pv, "quality"));
    }
    json_object_foreach(c->alarms, k, lv)
    {
        json_t *ro = json_object_get(json_object_get(st, "rules"), k);
        HT_CHECK(t, !strcmp(json_string_value(lv), jstr(ro, "alarm")),
                 "%s: alarm %s live %s, rebuilt %s", c->what, k,
                 json_string_value(lv), jstr(ro, "alarm"));
    }
    json_decref(st);
}

static const char tt_twin[] =
    "{\"id\":\"tt\",\"title\":\"Time travel\",\"components\":["
    "{\"id\":\"start\",\"kind\":\"button\",\"properties\":[{\"name\":"
    "\"pressed\",\"bind\":\"panel-1/start_button\",\"type\":\"boolean\"}]},"
    "{\"id\":\"knob\",\"kind\":\"knob\",\"properties\":[{\"name\":"
    "\"position\",\"bind\":\"panel-1/speed_knob\"}]}"
    "],\"rules\":[{\"id\":\"start-held\",\"severity\":\"warning\","
    "\"priority\":\"high\",\"message\":\"start is pressed\","
    "\"expr\":\"start.pressed\"}]}";

/* Time travel: a client records what it sees live over SSE at quiet
 * instants (a button pressed, the alarm raised, acknowledged, cleared,
 * the board gone offline); the state at each instant, rebuilt by the
 * gateway from its history, equals it. The timeline names the instant the
 * alarm began; the state then has it active, a millisecond before not.
 * History exports as CSV. */
static void time_travel(struct ht_it *t)
{
    struct env e = {0};
    ht_it_broker_start(t, &e.b, NULL);
    gw_start(t, &e, NULL);
    pid_t panel = board_start(t, &e, "panel-1");
    approve(t, &e, "panel-1");
    int64_t t0 = wall_ms();
    HT_CHECK(t, call(&e, "PUT", "/api/v1/twins/tt", tt_twin, NULL) == 201);
    char *r = ctl(t, e.ctl_panel, "release start_button");
    free(r);
    r = ctl(t, e.ctl_panel, "turn speed_knob 12");
    HT_CHECK(t, !strncmp(r, "ok", 2), "%s", r);
    free(r);
    HT_WAIT(t, twin_stable(&e, "tt"), 5000);
    /* The stream first, then the snapshot: nothing falls between. */
    struct ht_it_sse *s =
        ht_it_sse_open(e.http, "/api/v1/events?twin=tt", e.auth);
    HT_CHECK(t, s && ht_it_sse_status(s) == 200);
    struct live l = {json_object(), json_object()};
    json_t *st;
    HT_CHECK(t, call(&e, "GET", "/api/v1/twins/tt/state", NULL, &st) == 200);
    json_object_update(l.props, json_object_get(st, "properties"));
    json_object_set_new(
        l.alarms, "start-held",
        json_string(
            jstr(json_object_get(json_object_get(st, "rules"), "start-held"),
                 "alarm")));
    json_decref(st);
    struct checkpoint cp[8];
    size_t n = 0;
    checkpoint(t, s, &l, &cp[n++], "stable");
    r = ctl(t, e.ctl_panel, "press start_button");
    free(r);
    r = ctl(t, e.ctl_panel, "turn speed_knob 20");
    free(r);
    checkpoint(t, s, &l, &cp[n++], "pressed");
    HT_CHECK(t, !strcmp(jstr(l.alarms, "start-held"), "active_unacknowledged"),
             "live: %s", jstr(l.alarms, "start-held"));
    HT_CHECK(t, call(&e, "POST", "/api/v1/alarms/tt:start-held/ack",
                     "{\"note\":\"seen\"}", NULL) == 200);
    checkpoint(t, s, &l, &cp[n++], "acknowledged");
    r = ctl(t, e.ctl_panel, "release start_button");
    free(r);
    checkpoint(t, s, &l, &cp[n++], "released");
    HT_CHECK(t, ht_it_stop(t, panel, SIGTERM, 10000) == 0);
    checkpoint(t, s, &l, &cp[n++], "offline");
    HT_CHECK(t,
             !strcmp(jstr(json_object_get(l.props, "start.pressed"), "quality"),
                     "offline"),
             "the live client did not see the board go offline");
    /* Back: the board's snapshot confirms its values (no value rows) and
     * the live client sees them good again; so must the past. */
    free(e.ctl_panel);
    e.ctl_panel = NULL;
    panel = board_start(t, &e, "panel-1");
    checkpoint(t, s, &l, &cp[n++], "back online");
    HT_CHECK(t,
             !strcmp(jstr(json_object_get(l.props, "start.pressed"), "quality"),
                     "good"),
             "the live client did not see the board's values good again");
    ht_it_sse_close(s);
    for (size_t i = 0; i < n; i++) {
        check_at(t, &e, &cp[i]);
        json_decref(cp[i].props);
        json_decref(cp[i].alarms);
    }

    /* The timeline: the alarm's first transition is where it began. */
    char path[256];
    snprintf(path, sizeof path, "/api/v1/twins/tt/timeline?from=%lld",
             (long long)t0);
    json_t *tl;
    HT_CHECK(t, call(&e, "GET", path, NULL, &tl) == 200);
    int64_t began = 0, prev = 0;
    size_t nvalues = 0, nstatus = 0;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(tl, "items"), i, it)
    {
        int64_t ts = json_integer_value(json_object_get(it, "ts"));
        HT_CHECK(t, ts >= prev && ts >= t0, "timeline out of order");
        prev = ts;
        if (!strcmp(jstr(it, "kind"), "alarm") && !began &&
            !strcmp(jstr(it, "to"), "active_unacknowledged"))
            began = ts;
        nvalues += !strcmp(jstr(it, "kind"), "value");
        nstatus += !strcmp(jstr(it, "kind"), "status");
    }
    json_decref(tl);
    HT_CHECK(t, began > cp[0].at && began < cp[1].at,
             "alarm began at %lld, not between the checkpoints",
             (long long)began);
    HT_CHECK(t, nvalues >= 4 && nstatus >= 1, "%zu values, %zu statuses",
             nvalues, nstatus);
    snprintf(path, sizeof path, "/api/v1/twins/tt/state?at=%lld",
             (long long)began);
    HT_CHECK(t, call(&e, "GET", path, NULL, &st) == 200);
    json_t *al = json_array_get(json_object_get(st, "alarms"), 0);
    HT_CHECK(t, !strcmp(jstr(al, "rule"), "start-held"),
             "no active alarm at the instant it began");
    HT_CHECK(t, json_is_false(json_object_get(st, "stable")));
    json_decref(st);
    snprintf(path, sizeof path, "/api/v1/twins/tt/state?at=%lld",
             (long long)began - 1);
    HT_CHECK(t, call(&e, "GET", path, NULL, &st) == 200);
    HT_CHECK(t, json_array_size(json_object_get(st, "alarms")) == 0 &&
                    !strcmp(jstr(json_object_get(json_object_get(st, "rules"),
                                                 "start-held"),
                                 "alarm"),
                            "normal"));
    json_decref(st);
    /* RFC 3339 instants; bad ones and unknown twins are refused. */
    HT_CHECK(t,
             call(&e, "GET", "/api/v1/twins/tt/state?at=2020-01-01T00:00:00Z",
                  NULL, &st) == 200);
    HT_CHECK(t, !strcmp(jstr(json_object_get(json_object_get(st, "properties"),
                                             "start.pressed"),
                             "quality"),
                        "unknown"));
    json_decref(st);
    HT_CHECK(t, call(&e, "GET", "/api/v1/twins/tt/state?at=yesterday", NULL,
                     NULL) == 400);
    HT_CHECK(t, call(&e, "GET", "/api/v1/twins/nope/state?at=1", NULL, NULL) ==
                    404);
    HT_CHECK(t,
             call(&e, "GET", "/api/v1/twins/nope/timeline", NULL, NULL) == 404);

    /* CSV export of a twin property's history: one line per item of the
     * JSON answer, in the same order. */
    json_t *hj;
    HT_CHECK(t, call(&e, "GET",
                     "/api/v1/twins/tt/history?property=knob."
                     "position",
                     NULL, &hj) == 200);
    json_t *items = json_object_get(hj, "items");
    HT_CHECK(t, json_array_size(items) >= 2, "knob history: %zu items",
             json_array_size(items));
    struct ht_it_http h;
    HT_CHECK(t, ht_it_http(e.http, "GET",
                           "/api/v1/twins/tt/history?property=knob.position"
                           "&format=csv",
                           e.auth, NULL, &h) == 0 &&
                    h.status == 200);
    char *ct = ht_it_http_header(&h, "Content-Type");
    HT_CHECK(t, ct && !strncmp(ct, "text/csv", 8), "%s", ct ? ct : "");
    free(ct);
    HT_CHECK(t, h.body && !strncmp(h.body, "ts,time,value,min,max,n\r\n", 25),
             "%s", h.body ? h.body : "");
    const char *line = h.body + 25;
    json_array_foreach(items, i, it)
    {
        char want[96];
        char *v = json_dumps(json_object_get(it, "v"), JSON_ENCODE_ANY);
        int k =
            snprintf(want, sizeof want, "%lld,",
                     (long long)json_integer_value(json_object_get(it, "ts")));
        HT_CHECK(t, !strncmp(line, want, (size_t)k) && strstr(line, v),
                 "CSV line %zu: %.60s (want %s...%s)", i, line, want, v);
        free(v);
        line = strstr(line, "\r\n");
        HT_CHECK(t, line);
        line += 2;
    }
    HT_CHECK(t, *line == '\0', "extra CSV lines: %s", line);
    ht_it_http_free(&h);
    json_decref(hj);
    HT_CHECK(t, call(&e, "GET",
                     "/api/v1/twins/tt/history?property=knob."
                     "position&format=xml",
                     NULL, NULL) == 400);
    json_decref(l.props);
    json_decref(l.alarms);
    env_clear(&e);
}

HT_IT_MAIN(HT_IT_CASE(press_line), HT_IT_CASE(button_alarm), HT_IT_CASE(alarms),
           HT_IT_CASE(crud_descriptors), HT_IT_CASE(auth), HT_IT_CASE(assets),
           HT_IT_CASE(twins_dir_bad), HT_IT_CASE(time_travel))
