/* test_agent.c - the device agent against a real mosquitto: registration
 * (retained TD and status), values, commands with every ack code and a
 * repeated correlation id, the Will on kill -9, the offline ring across a
 * broker restart, the HTTP TD endpoint, --deregister, config errors, and
 * every TD the agent can produce through the W3C TD validator. */
#include "harness.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TOPIC(id, rest) "holotwin/v1/devices/" id "/" rest

struct agent {
    pid_t pid;
    char *ctl; /* control socket path (new) */
    char broker[64];
};

/* Start device-agent with extra args (NULL-terminated) and a control
 * socket; waits for the socket to exist. */
static void agent_start(struct ht_it *t, struct agent *a, int port,
                        const char *logname, const char *const extra[])
{
    snprintf(a->broker, sizeof a->broker, "127.0.0.1:%d", port);
    char sock[64];
    snprintf(sock, sizeof sock, "%s.sock", logname);
    a->ctl = ht_it_path(t, sock);
    char *bin = ht_it_bin("device-agent");
    const char *argv[32] = {bin,         "--broker",  a->broker,
                            "--no-mdns", "--control", a->ctl};
    size_t n = 6;
    for (; extra && *extra && n < 31; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    a->pid = ht_it_spawn(t, logname, argv, NULL);
    HT_WAIT(t, access(a->ctl, F_OK) == 0 || !ht_it_alive(t, a->pid), 10000,
            "control socket %s", a->ctl);
    HT_CHECK(t, ht_it_alive(t, a->pid), "agent exited: %s",
             ht_it_logfile(t, logname));
    free(bin);
}

/* One command on the sim control socket; returns the reply (new). */
static char *ctl(struct ht_it *t, const struct agent *a, const char *cmd)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", a->ctl);
    HT_CHECK(t, connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0,
             "connect %s", a->ctl);
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

static void ctl_ok(struct ht_it *t, const struct agent *a, const char *cmd)
{
    char *r = ctl(t, a, cmd);
    HT_CHECK(t, !strncmp(r, "ok", 2), "%s -> %s", cmd, r);
    free(r);
}

static json_t *parse(struct ht_it *t, const char *s)
{
    json_t *j = s ? json_loads(s, 0, NULL) : NULL;
    HT_CHECK(t, j != NULL, "not JSON: %s", s ? s : "(null)");
    return j;
}

static void registration_publishes_retained_td_and_status(struct ht_it *t)
{
    struct ht_it_broker b;
    ht_it_broker_start(t, &b, NULL);
    struct agent a;
    const char *extra[] = {"--sim", "--id", "demo-1", NULL};
    agent_start(t, &a, b.port, "agent", extra);
    /* A client that arrives later still finds TD and status: retained. */
    struct ht_it_mqtt *c = NULL;
    for (int i = 0; i < 100 && !c; i++) {
        ht_it_sleep_ms(i ? 50 : 0);
        struct ht_it_mqtt *probe = ht_it_mqtt_new(b.port, "probe", NULL, NULL);
        ht_it_mqtt_sub(probe, TOPIC("demo-1", "status"));
        char *st =
            ht_it_mqtt_wait(probe, TOPIC("demo-1", "status"), "online", 200);
        if (st)
            c = probe;
        else
            ht_it_mqtt_free(probe);
        free(st);
    }
    HT_CHECK(t, c != NULL, "no retained online status");
    HT_CHECK(t, ht_it_mqtt_sub(c, TOPIC("demo-1", "td")) == 1);
    char *td = ht_it_mqtt_wait(c, TOPIC("demo-1", "td"), NULL, 5000);
    json_t *j = parse(t, td);
    HT_CHECK(t, !strcmp(json_string_value(json_object_get(j, "id")),
                        "urn:holotwin:device:demo-1"));
    json_t *props = json_object_get(j, "properties");
    HT_CHECK(t,
             json_object_get(props, "button") &&
                 json_object_get(props, "lamp") &&
                 json_object_get(props, "motor_setpoint") &&
                 json_object_get(props, "motor_speed") &&
                 json_object_get(props, "temperature"),
             "%s", td);
    json_decref(j);
    free(td);
    char *st = ht_it_mqtt_wait(c, TOPIC("demo-1", "status"), "online", 1000);
    json_t *sj = parse(t, st);
    HT_CHECK(t, json_integer_value(json_object_get(sj, "ts")) > 1600000000000LL,
             "%s", st);
    json_decref(sj);
    free(st);

    /* SIGTERM: safe output values, then status offline (retained). */
    HT_CHECK(t, ht_it_mqtt_sub(c, TOPIC("demo-1", "props/+")) == 1);
    ctl_ok(t, &a, "get lamp");
    char *ack = ht_it_mqtt_request(c, TOPIC("demo-1", "cmd/lamp"),
                                   "{\"v\":true}", "test/r/lamp", "k1", 5000);
    HT_CHECK(t, ack && strstr(ack, "\"ok\":true"), "ack %s", ack);
    free(ack);
    ht_it_mqtt_clear(c);
    int status = ht_it_stop(t, a.pid, SIGTERM, 10000);
    HT_CHECK(t, status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
             "exit status %d: %s", status, ht_it_logfile(t, "agent"));
    char *lamp =
        ht_it_mqtt_wait(c, TOPIC("demo-1", "props/lamp"), "\"v\":false", 5000);
    HT_CHECK(t, lamp != NULL, "safe value of lamp not published");
    free(lamp);
    char *off = ht_it_mqtt_wait(c, TOPIC("demo-1", "status"), "offline", 5000);
    HT_CHECK(t, off != NULL, "no offline status after SIGTERM");
    free(off);
    ht_it_mqtt_free(c);
    /* Still retained for a newcomer. */
    struct ht_it_mqtt *c2 = ht_it_mqtt_new(b.port, "late", NULL, NULL);
    ht_it_mqtt_sub(c2, TOPIC("demo-1", "status"));
    off = ht_it_mqtt_wait(c2, TOPIC("demo-1", "status"), "offline", 5000);
    HT_CHECK(t, off != NULL);
    free(off);
    ht_it_mqtt_free(c2);
    free(a.ctl);
}

static void values_carry_ts_and_increasing_seq(struct ht_it *t)
{
    struct ht_it_broker b;
    ht_it_broker_start(t, &b, NULL);
    struct ht_it_mqtt *c = ht_it_mqtt_new(b.port, "obs", NULL, NULL);
    HT_CHECK(t, ht_it_mqtt_sub(c, TOPIC("demo-1", "props/#")) == 1);
    struct agent a;
    const char *extra[] = {"--sim", "--id", "demo-1", NULL};
    agent_start(t, &a, b.port, "agent", extra);
    char *first = ht_it_mqtt_wait(c, TOPIC("demo-1", "props/button"),
                                  "\"v\":false", 5000);
    HT_CHECK(t, first != NULL, "initial button value");
    ctl_ok(t, &a, "press button");
    char *pressed =
        ht_it_mqtt_wait(c, TOPIC("demo-1", "props/button"), "\"v\":true", 5000);
    HT_CHECK(t, pressed != NULL, "pressed button value");
    json_t *j1 = parse(t, first), *j2 = parse(t, pressed);
    HT_CHECK(t,
             json_integer_value(json_object_get(j2, "seq")) >
                 json_integer_value(json_object_get(j1, "seq")),
             "%s then %s", first, pressed);
    HT_CHECK(t, json_integer_value(json_object_get(j2, "ts")) >=
                    json_integer_value(json_object_get(j1, "ts")));
    json_decref(j1);
    json_decref(j2);
    free(first);
    free(pressed);
    /* The plant turns the motor: measured speed rises towards 60 rpm. */
    char *speed = ht_it_mqtt_wait(c, TOPIC("demo-1", "props/motor_speed"),
                                  "\"v\":5", 15000);
    HT_CHECK(t, speed != NULL, "motor_speed never reached 5x rpm");
    free(speed);
    /* Heater on: the sim temperature rises above where it started. */
    ctl_ok(t, &a, "param temperature 30");
    char *hot = ht_it_mqtt_request(c, TOPIC("demo-1", "cmd/heater"),
                                   "{\"v\":true}", "test/r/heater", "h1", 5000);
    HT_CHECK(t, hot && strstr(hot, "\"ok\":true"), "%s", hot);
    free(hot);
    char *t31 = ht_it_mqtt_wait(c, TOPIC("demo-1", "props/temperature"),
                                "\"v\":31", 15000);
    HT_CHECK(t, t31 != NULL,
             "temperature did not rise past 31 with the heater on");
    free(t31);
    ht_it_mqtt_free(c);
    HT_CHECK(t, ht_it_stop(t, a.pid, SIGTERM, 10000) == 0);
    free(a.ctl);
}

/* Send cmd payload to prop with its own response topic; returns the ack. */
static json_t *request(struct ht_it *t, struct ht_it_mqtt *c, const char *prop,
                       const char *payload, const char *corr)
{
    char topic[128], resp[128];
    snprintf(topic, sizeof topic, TOPIC("demo-1", "cmd/%s"), prop);
    static int n;
    snprintf(resp, sizeof resp, "test/resp/%d", ++n);
    char *r = ht_it_mqtt_request(c, topic, payload, resp, corr, 5000);
    HT_CHECK(t, r != NULL, "no ack for %s %s", prop, payload);
    json_t *j = parse(t, r);
    free(r);
    return j;
}

static void expect_error(struct ht_it *t, struct ht_it_mqtt *c,
                         const char *prop, const char *payload,
                         const char *code)
{
    static int k;
    char corr[16];
    snprintf(corr, sizeof corr, "e%d", ++k);
    json_t *ack = request(t, c, prop, payload, corr);
    const char *got = json_string_value(
        json_object_get(json_object_get(ack, "error"), "code"));
    HT_CHECK(
        t,
        json_is_false(json_object_get(ack, "ok")) && got && !strcmp(got, code),
        "%s %s: expected %s, got %s", prop, payload, code, got ? got : "none");
    json_decref(ack);
}

static void commands_ack_good_and_every_error_code(struct ht_it *t)
{
    struct ht_it_broker b;
    ht_it_broker_start(t, &b, NULL);
    struct agent a;
    const char *extra[] = {"--sim", "--id", "demo-1", NULL};
    agent_start(t, &a, b.port, "agent", extra);
    struct ht_it_mqtt *c = ht_it_mqtt_new(b.port, "gw", NULL, NULL);
    HT_CHECK(t, ht_it_mqtt_sub(c, TOPIC("demo-1", "props/lamp")) == 1);
    /* Wait until the agent listens for commands. */
    struct ht_it_mqtt *w = ht_it_mqtt_new(b.port, "w", NULL, NULL);
    ht_it_mqtt_sub(w, TOPIC("demo-1", "status"));
    char *on = ht_it_mqtt_wait(w, TOPIC("demo-1", "status"), "online", 10000);
    HT_CHECK(t, on != NULL);
    free(on);
    ht_it_mqtt_free(w);

    json_t *ack = request(t, c, "lamp", "{\"v\":true}", "c1");
    HT_CHECK(t, json_is_true(json_object_get(ack, "ok")) &&
                    json_is_true(json_object_get(ack, "v")) &&
                    json_is_integer(json_object_get(ack, "ts")));
    json_decref(ack);
    char *r = ctl(t, &a, "get lamp");
    HT_CHECK(t, !strcmp(r, "ok true"), "%s", r);
    free(r);
    char *pv =
        ht_it_mqtt_wait(c, TOPIC("demo-1", "props/lamp"), "\"v\":true", 5000);
    HT_CHECK(t, pv != NULL, "lamp value not published after the command");
    free(pv);
    ack = request(t, c, "motor_setpoint", "{\"v\":120}", "c2");
    HT_CHECK(t, json_is_true(json_object_get(ack, "ok")) &&
                    json_number_value(json_object_get(ack, "v")) == 120);
    json_decref(ack);

    expect_error(t, c, "no_such_prop", "{\"v\":1}", "unknown");
    expect_error(t, c, "lamp", "{\"v\":", "bad_json");
    expect_error(t, c, "lamp", "{\"value\":true}", "bad_json");
    expect_error(t, c, "lamp", "{\"v\":\"on\"}", "bad_type");
    expect_error(t, c, "motor_setpoint", "{\"v\":500}", "out_of_range");
    expect_error(t, c, "motor_setpoint", "{\"v\":-1}", "out_of_range");
    expect_error(t, c, "button", "{\"v\":true}", "read_only");
    expect_error(t, c, "motor_speed", "{\"v\":10}", "read_only");
    ctl_ok(t, &a, "fail lamp 1");
    expect_error(t, c, "lamp", "{\"v\":false}", "hw_error");
    r = ctl(t, &a, "get lamp");
    HT_CHECK(t, !strcmp(r, "ok true"), "hw_error changed the lamp: %s", r);
    free(r);

    /* A retransmitted request (same correlation id) is answered, not
     * applied again: c3 turns the lamp off, c4 on, c3 again must not. */
    ack = request(t, c, "lamp", "{\"v\":false}", "c3");
    HT_CHECK(t, json_is_true(json_object_get(ack, "ok")));
    json_decref(ack);
    ack = request(t, c, "lamp", "{\"v\":true}", "c4");
    json_decref(ack);
    ack = request(t, c, "lamp", "{\"v\":false}", "c3");
    HT_CHECK(t, json_is_true(json_object_get(ack, "ok")) &&
                    json_is_false(json_object_get(ack, "v")));
    json_decref(ack);
    r = ctl(t, &a, "get lamp");
    HT_CHECK(t, !strcmp(r, "ok true"), "repeated c3 was applied: %s", r);
    free(r);
    HT_CHECK(t, ht_it_alive(t, a.pid));
    ht_it_mqtt_free(c);
    HT_CHECK(t, ht_it_stop(t, a.pid, SIGTERM, 10000) == 0);
    free(a.ctl);
}

/* ---- command ids, deadlines and snapshots (issue 13) ---- */

/* Wall-clock ms, the clock command deadlines are written in. */
static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Start the demo board and wait until it listens for commands; returns an
 * observer subscribed to props/lamp. */
static struct ht_it_mqtt *demo_ready(struct ht_it *t, struct ht_it_broker *b,
                                     struct agent *a)
{
    ht_it_broker_start(t, b, NULL);
    const char *extra[] = {"--sim", "--id", "demo-1", NULL};
    agent_start(t, a, b->port, "agent", extra);
    struct ht_it_mqtt *c = ht_it_mqtt_new(b->port, "gw", NULL, NULL);
    HT_CHECK(t, ht_it_mqtt_sub(c, TOPIC("demo-1", "props/lamp")) == 1);
    HT_CHECK(t, ht_it_mqtt_sub(c, TOPIC("demo-1", "status")) == 1);
    char *on = ht_it_mqtt_wait(c, TOPIC("demo-1", "status"), "online", 10000);
    HT_CHECK(t, on != NULL);
    free(on);
    return c;
}

static void expired_command_is_not_applied_and_acked_expired(struct ht_it *t)
{
    struct ht_it_broker b;
    struct agent a;
    struct ht_it_mqtt *c = demo_ready(t, &b, &a);
    char payload[160];
    snprintf(payload, sizeof payload,
             "{\"v\":true,\"id\":\"late-1\",\"deadline\":%lld}",
             now_ms() - 2000);
    json_t *ack = request(t, c, "lamp", payload, "x1");
    const char *code = json_string_value(
        json_object_get(json_object_get(ack, "error"), "code"));
    HT_CHECK(t,
             json_is_false(json_object_get(ack, "ok")) && code &&
                 !strcmp(code, "expired"),
             "ack %s", json_dumps(ack, 0));
    json_decref(ack);
    char *r = ctl(t, &a, "get lamp");
    HT_CHECK(t, !strcmp(r, "ok false"), "expired command applied: %s", r);
    free(r);
    char *on =
        ht_it_mqtt_wait(c, TOPIC("demo-1", "props/lamp"), "\"v\":true", 300);
    HT_CHECK(t, on == NULL, "lamp went on: %s", on);
    /* The same command in time is applied: the refusal was the deadline. */
    snprintf(payload, sizeof payload,
             "{\"v\":true,\"id\":\"in-time-1\",\"deadline\":%lld}",
             now_ms() + 30000);
    ack = request(t, c, "lamp", payload, "x2");
    HT_CHECK(t, json_is_true(json_object_get(ack, "ok")));
    json_decref(ack);
    r = ctl(t, &a, "get lamp");
    HT_CHECK(t, !strcmp(r, "ok true"), "%s", r);
    free(r);
    ht_it_mqtt_free(c);
    HT_CHECK(t, ht_it_stop(t, a.pid, SIGTERM, 10000) == 0);
    free(a.ctl);
}

static void duplicated_command_id_is_applied_once(struct ht_it *t)
{
    struct ht_it_broker b;
    struct agent a;
    struct ht_it_mqtt *c = demo_ready(t, &b, &a);
    ht_it_sleep_ms(200); /* the initial value, if it comes to us at all */
    size_t n0 = ht_it_mqtt_count(c, TOPIC("demo-1", "props/lamp"));
    json_t *first =
        request(t, c, "lamp", "{\"v\":true,\"id\":\"dup-1\"}", "k1");
    HT_CHECK(t, json_is_true(json_object_get(first, "ok")));
    json_t *off = request(t, c, "lamp", "{\"v\":false,\"id\":\"dup-2\"}", "k2");
    HT_CHECK(t, json_is_true(json_object_get(off, "ok")));
    json_decref(off);
    /* Redelivered with a new correlation id (a reconnect, a retry): only
     * the command id can tell, and it is not applied again. */
    ht_it_sleep_ms(20);
    json_t *again =
        request(t, c, "lamp", "{\"v\":true,\"id\":\"dup-1\"}", "k3");
    char *s1 = json_dumps(first, JSON_COMPACT),
         *s2 = json_dumps(again, JSON_COMPACT);
    HT_CHECK(t, json_equal(first, again), "first ack %s, second %s", s1, s2);
    free(s1);
    free(s2);
    json_decref(first);
    json_decref(again);
    char *r = ctl(t, &a, "get lamp");
    HT_CHECK(t, !strcmp(r, "ok false"), "dup-1 applied twice: %s", r);
    free(r);
    ht_it_sleep_ms(200);
    HT_CHECK(t, ht_it_mqtt_count(c, TOPIC("demo-1", "props/lamp")) == n0 + 2,
             "lamp values: %zu, expected on and off after %zu",
             ht_it_mqtt_count(c, TOPIC("demo-1", "props/lamp")), n0);
    ht_it_mqtt_free(c);
    HT_CHECK(t, ht_it_stop(t, a.pid, SIGTERM, 10000) == 0);
    free(a.ctl);
}

/* A board whose values do not move by themselves, so every republished
 * value can be compared byte for byte with the first. */
static const char quiet_board[] =
    "{\"id\":\"quiet-1\",\"capabilities\":["
    "{\"name\":\"button\",\"kind\":\"input\",\"type\":\"ht:Button\",\"line\":0}"
    ","
    "{\"name\":\"lamp\",\"kind\":\"output\",\"type\":\"ht:Lamp\",\"line\":1},"
    "{\"name\":\"heater\",\"kind\":\"output\",\"type\":\"ht:Heater\",\"line\":"
    "2},"
    "{\"name\":\"speed\",\"kind\":\"counter\",\"type\":\"ht:RotationSpeed\","
    "\"line\":3},"
    "{\"name\":\"sp\",\"kind\":\"setpoint\",\"type\":\"ht:SpeedSetpoint\","
    "\"initial\":5},"
    "{\"name\":\"temperature\",\"kind\":\"analog\",\"type\":\"ht:Temperature\","
    "\"sim\":true}],"
    "\"plant\":{\"thermal\":[{\"heater\":\"heater\",\"sensor\":\"temperature\","
    "\"start\":25,\"ambient\":25}]}}";
static const char *const quiet_props[] = {"button", "lamp", "heater",
                                          "speed",  "sp",   "temperature"};
#define NQUIET (sizeof quiet_props / sizeof *quiet_props)

/* One value of each quiet property (new strings into out). */
static void collect(struct ht_it *t, struct ht_it_mqtt *c, char **out)
{
    for (size_t i = 0; i < NQUIET; i++) {
        char topic[96];
        snprintf(topic, sizeof topic, TOPIC("quiet-1", "props/%s"),
                 quiet_props[i]);
        out[i] = ht_it_mqtt_wait(c, topic, NULL, 10000);
        HT_CHECK(t, out[i] != NULL, "no value of %s", quiet_props[i]);
    }
}

/* Every property again, byte for byte the same {"v","ts","seq"}. */
static void expect_same(struct ht_it *t, struct ht_it_mqtt *c,
                        char *const *before, const char *why)
{
    char *after[NQUIET];
    collect(t, c, after);
    for (size_t i = 0; i < NQUIET; i++) {
        HT_CHECK(t, !strcmp(before[i], after[i]), "%s: %s was %s, now %s", why,
                 quiet_props[i], before[i], after[i]);
        free(after[i]);
    }
}

/* Broker, an observer of props/#, the quiet board, and the first value of
 * each property (new strings into before). Returns the observer. */
static struct ht_it_mqtt *quiet_start(struct ht_it *t, struct ht_it_broker *b,
                                      struct agent *a, char **before)
{
    ht_it_broker_start(t, b, NULL);
    struct ht_it_mqtt *c = ht_it_mqtt_new(b->port, "gw", NULL, NULL);
    HT_CHECK(t, ht_it_mqtt_sub(c, TOPIC("quiet-1", "props/#")) == 1);
    char *cfg = ht_it_write(t, "quiet.json", quiet_board);
    const char *extra[] = {"--config", cfg, NULL};
    agent_start(t, a, b->port, "agent", extra);
    free(cfg);
    collect(t, c, before);
    return c;
}

/* Stop the board, free what quiet_start returned. */
static void quiet_stop(struct ht_it *t, struct agent *a, struct ht_it_mqtt *c,
                       char **before)
{
    for (size_t i = 0; i < NQUIET; i++)
        free(before[i]);
    ht_it_mqtt_free(c);
    HT_CHECK(t, ht_it_stop(t, a->pid, SIGTERM, 10000) == 0);
    free(a->ctl);
}

static void sync_request_republishes_every_property_unchanged(struct ht_it *t)
{
    struct ht_it_broker b;
    struct agent a;
    char *before[NQUIET];
    struct ht_it_mqtt *c = quiet_start(t, &b, &a, before);
    ht_it_sleep_ms(300);
    ht_it_mqtt_clear(c);
    HT_CHECK(t, ht_it_mqtt_pub(c, TOPIC("quiet-1", "sync"), "", 1, false) == 0);
    expect_same(t, c, before, "device sync");
    /* Nothing else changed, so nothing but the snapshot arrived. */
    ht_it_sleep_ms(300);
    HT_CHECK(t, ht_it_mqtt_count(c, TOPIC("quiet-1", "props/#")) == NQUIET,
             "%zu values after one sync",
             ht_it_mqtt_count(c, TOPIC("quiet-1", "props/#")));
    ht_it_mqtt_clear(c);
    HT_CHECK(t, ht_it_mqtt_pub(c, "holotwin/v1/sync", "{}", 1, false) == 0);
    expect_same(t, c, before, "broadcast sync");
    quiet_stop(t, &a, c, before);
}

static void reconnect_produces_a_snapshot(struct ht_it *t)
{
    struct ht_it_broker b;
    struct agent a;
    char *before[NQUIET];
    struct ht_it_mqtt *c = quiet_start(t, &b, &a, before);
    ht_it_mqtt_free(c);
    /* The broker dies (no persistence: it forgets everything) and comes
     * back on the same port; the agent is frozen meanwhile so the new
     * observer is subscribed before it reconnects. */
    ht_it_stop(t, b.pid, SIGKILL, 5000);
    b.pid = 0;
    ht_it_sleep_ms(300);
    kill(a.pid, SIGSTOP);
    ht_it_broker_restart(t, &b);
    c = ht_it_mqtt_new(b.port, "gw2", NULL, NULL);
    HT_CHECK(t, c != NULL);
    HT_CHECK(t, ht_it_mqtt_sub(c, TOPIC("quiet-1", "props/#")) == 1);
    kill(a.pid, SIGCONT);
    expect_same(t, c, before, "after reconnect");
    quiet_stop(t, &a, c, before);
}

static void will_reports_offline_after_kill_9(struct ht_it *t)
{
    struct ht_it_broker b;
    ht_it_broker_start(t, &b, NULL);
    struct ht_it_mqtt *c = ht_it_mqtt_new(b.port, "obs", NULL, NULL);
    HT_CHECK(t, ht_it_mqtt_sub(c, TOPIC("demo-1", "status")) == 1);
    struct agent a;
    const char *extra[] = {"--sim", "--id", "demo-1", NULL};
    agent_start(t, &a, b.port, "agent", extra);
    char *on = ht_it_mqtt_wait(c, TOPIC("demo-1", "status"), "online", 10000);
    HT_CHECK(t, on != NULL);
    free(on);
    HT_CHECK(t, ht_it_mqtt_count(c, TOPIC("demo-1", "status")) == 1);
    ht_it_stop(t, a.pid, SIGKILL, 5000);
    char *off = ht_it_mqtt_wait(c, TOPIC("demo-1", "status"), "offline", 10000);
    HT_CHECK(t, off != NULL, "no Will after kill -9");
    free(off);
    ht_it_mqtt_free(c);
    free(a.ctl);
}

/* Lines of a mosquitto_sub -v log for topic, in arrival order. */
static size_t seqs_in_log(const char *log, const char *topic, long *seq,
                          size_t max)
{
    size_t n = 0;
    for (const char *p = log; p && *p && n < max;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (!strncmp(p, topic, strlen(topic)) && p[strlen(topic)] == ' ') {
            const char *s = strstr(p, "\"seq\":");
            if (s && s < p + len)
                seq[n++] = strtol(s + 6, NULL, 10);
        }
        p += len + (nl ? 1 : 0);
    }
    return n;
}

/* A board is back within about mqtt.reconnect_max_ms (2 s) of its broker,
 * however long the broker was away: after a 12 s outage the library's
 * doubling backoff alone would wait at least 4 s more. */
static void agent_is_back_soon_after_a_long_broker_outage(struct ht_it *t)
{
    struct ht_it_broker b;
    ht_it_broker_start(t, &b, NULL);
    struct agent a;
    const char *extra[] = {"--sim", "--id", "demo-1", NULL};
    agent_start(t, &a, b.port, "agent", extra);
    struct ht_it_mqtt *c = ht_it_mqtt_new(b.port, "obs", NULL, NULL);
    ht_it_mqtt_sub(c, TOPIC("demo-1", "status"));
    char *on = ht_it_mqtt_wait(c, TOPIC("demo-1", "status"), "online", 10000);
    HT_CHECK(t, on != NULL);
    free(on);
    ht_it_mqtt_free(c);
    ht_it_broker_stop(t, &b);
    ht_it_sleep_ms(12000);
    ht_it_broker_restart(t, &b);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    c = ht_it_mqtt_new(b.port, "obs2", NULL, NULL);
    HT_CHECK(t, c && ht_it_mqtt_sub(c, TOPIC("demo-1", "status")) == 1);
    on = ht_it_mqtt_wait(c, TOPIC("demo-1", "status"), "online", 20000);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms =
        (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    HT_CHECK(t, on != NULL, "the agent never came back");
    HT_CHECK(t, ms < 3500, "the agent came back %ld ms after its broker", ms);
    free(on);
    ht_it_mqtt_free(c);
    ht_it_stop(t, a.pid, SIGTERM, 10000);
    ht_it_broker_stop(t, &b);
    free(a.ctl);
}

static void
offline_ring_is_flushed_in_order_after_broker_restart(struct ht_it *t)
{
    struct ht_it_broker b;
    ht_it_broker_start(t, &b, NULL);
    struct agent a;
    const char *extra[] = {"--sim", "--id", "demo-1", NULL};
    agent_start(t, &a, b.port, "agent", extra);
    struct ht_it_mqtt *c = ht_it_mqtt_new(b.port, "obs", NULL, NULL);
    ht_it_mqtt_sub(c, TOPIC("demo-1", "status"));
    char *on = ht_it_mqtt_wait(c, TOPIC("demo-1", "status"), "online", 10000);
    HT_CHECK(t, on != NULL);
    free(on);
    ht_it_mqtt_free(c);

    ht_it_broker_stop(t, &b);
    /* Six button changes while the broker is away. */
    for (int i = 0; i < 6; i++) {
        ctl_ok(t, &a, i % 2 ? "release button" : "press button");
        ht_it_sleep_ms(40); /* longer than the 20 ms debounce */
    }
    /* Freeze the agent so the observer is subscribed before it returns. */
    kill(a.pid, SIGSTOP);
    ht_it_broker_restart(t, &b);
    char port[16];
    snprintf(port, sizeof port, "%d", b.port);
    const char *sub[] = {"/usr/bin/mosquitto_sub",
                         "-p",
                         port,
                         "-u",
                         b.user,
                         "-P",
                         b.pass,
                         "-V",
                         "mqttv5",
                         "-v",
                         "-t",
                         "holotwin/v1/devices/demo-1/props/button",
                         "-t",
                         "test/ready",
                         NULL};
    pid_t sp = ht_it_spawn(t, "sub", sub, NULL);
    struct ht_it_mqtt *m = ht_it_mqtt_new(b.port, "marker", NULL, NULL);
    HT_CHECK(t, m != NULL);
    char *log = NULL;
    for (int i = 0; i < 200; i++) {
        ht_it_mqtt_pub(m, "test/ready", "x", 1, false);
        free(log);
        log = ht_it_logfile(t, "sub");
        if (log && strstr(log, "test/ready"))
            break;
        ht_it_sleep_ms(50);
    }
    HT_CHECK(t, log && strstr(log, "test/ready"),
             "mosquitto_sub never subscribed");
    kill(a.pid, SIGCONT);
    long seq[64];
    size_t n = 0;
    for (int i = 0; i < 500 && n < 6; i++) {
        ht_it_sleep_ms(20);
        free(log);
        log = ht_it_logfile(t, "sub");
        n = seqs_in_log(log, "holotwin/v1/devices/demo-1/props/button", seq,
                        64);
    }
    HT_CHECK(t, n == 6, "got %zu of 6 queued values:\n%s", n, log);
    for (size_t i = 1; i < n; i++)
        HT_CHECK(t, seq[i] > seq[i - 1], "out of order: %ld then %ld\n%s",
                 seq[i - 1], seq[i], log);
    free(log);
    ht_it_mqtt_free(m);
    ht_it_stop(t, sp, SIGTERM, 5000);
    HT_CHECK(t, ht_it_stop(t, a.pid, SIGTERM, 10000) == 0);
    free(a.ctl);
}

static void http_endpoint_serves_the_td(struct ht_it *t)
{
    struct ht_it_broker b;
    ht_it_broker_start(t, &b, NULL);
    int hp = ht_it_free_port();
    char hps[16];
    snprintf(hps, sizeof hps, "%d", hp);
    struct agent a;
    const char *extra[] = {"--sim", "--id", "demo-1", "--http-port", hps, NULL};
    agent_start(t, &a, b.port, "agent", extra);
    HT_CHECK(t, ht_it_wait_port(hp, 5000));
    struct ht_it_http r;
    HT_CHECK(t, ht_it_http(hp, "GET", "/.well-known/wot", NULL, NULL, &r) == 0);
    HT_CHECK(t, r.status == 200, "status %d", r.status);
    char *ct = ht_it_http_header(&r, "Content-Type");
    HT_CHECK(t, ct && !strcmp(ct, "application/td+json"), "%s", ct);
    free(ct);
    json_t *td = ht_it_http_json(&r);
    HT_CHECK(t, td && !strcmp(json_string_value(json_object_get(td, "id")),
                              "urn:holotwin:device:demo-1"));
    /* The TD links to itself. */
    const char *href = json_string_value(json_object_get(
        json_array_get(json_object_get(td, "links"), 0), "href"));
    HT_CHECK(t, href && strstr(href, hps) && strstr(href, "/.well-known/wot"),
             "%s", href);
    json_decref(td);
    ht_it_http_free(&r);
    HT_CHECK(t, ht_it_http(hp, "GET", "/nope", NULL, NULL, &r) == 0 &&
                    r.status == 404);
    ht_it_http_free(&r);
    HT_CHECK(t,
             ht_it_http(hp, "POST", "/.well-known/wot", NULL, "{}", &r) == 0 &&
                 r.status == 405,
             "POST status %d", r.status);
    ht_it_http_free(&r);
    HT_CHECK(t, ht_it_stop(t, a.pid, SIGTERM, 10000) == 0);
    free(a.ctl);
}

static void deregister_clears_the_retained_registration(struct ht_it *t)
{
    struct ht_it_broker b;
    ht_it_broker_start(t, &b, NULL);
    struct agent a;
    const char *extra[] = {"--sim", "--id", "demo-1", NULL};
    agent_start(t, &a, b.port, "agent", extra);
    struct ht_it_mqtt *c = ht_it_mqtt_new(b.port, "obs", NULL, NULL);
    ht_it_mqtt_sub(c, TOPIC("demo-1", "td"));
    char *td = ht_it_mqtt_wait(c, TOPIC("demo-1", "td"), "urn:holotwin", 10000);
    HT_CHECK(t, td != NULL);
    free(td);
    ht_it_mqtt_free(c);
    HT_CHECK(t, ht_it_stop(t, a.pid, SIGTERM, 10000) == 0);
    char *bin = ht_it_bin("device-agent");
    const char *argv[] = {bin,    "--deregister", "--broker", a.broker,
                          "--id", "demo-1",       NULL};
    char *out = NULL, *err = NULL;
    int rc = ht_it_run(t, argv, NULL, 15000, &out, &err);
    HT_CHECK(t, rc == 0, "--deregister exit %d: %s", rc, err);
    free(out);
    free(err);
    /* Retained messages arrive right after each SUBACK, and this client's
     * own later publish after them: once the marker is in, a retained TD
     * or status would be too. */
    c = ht_it_mqtt_new(b.port, "obs2", NULL, NULL);
    HT_CHECK(t, ht_it_mqtt_sub(c, TOPIC("demo-1", "td")) == 1);
    HT_CHECK(t, ht_it_mqtt_sub(c, TOPIC("demo-1", "status")) == 1);
    HT_CHECK(t, ht_it_mqtt_sub(c, "test/marker") == 1);
    HT_CHECK(t, ht_it_mqtt_pub(c, "test/marker", "m", 1, false) == 0);
    char *mk = ht_it_mqtt_wait(c, "test/marker", NULL, 5000);
    HT_CHECK(t, mk != NULL);
    free(mk);
    HT_CHECK(t, ht_it_mqtt_count(c, TOPIC("demo-1", "td")) == 0,
             "TD still retained");
    HT_CHECK(t, ht_it_mqtt_count(c, TOPIC("demo-1", "status")) == 0,
             "status still retained");
    ht_it_mqtt_free(c);
    /* Without a reachable broker it fails with one line, not a hang. */
    const char *argv2[] = {bin,    "--deregister", "--broker", "127.0.0.1:1",
                           "--id", "demo-1",       NULL};
    rc = ht_it_run(t, argv2, NULL, 20000, &out, &err);
    HT_CHECK(t, rc != 0 && err && strstr(err, "deregister"), "rc %d: %s", rc,
             err);
    free(out);
    free(err);
    free(bin);
    free(a.ctl);
}

static void bad_configs_and_flags_fail_with_one_line(struct ht_it *t)
{
    char *bin = ht_it_bin("device-agent");
    char *bad = ht_it_write(
        t, "bad.json",
        "{\"id\":\"x-1\",\n \"capabilities\":[\n"
        "  {\"name\":\"a\",\"kind\":\"input\",\"type\":\"ht:Button\","
        "\"line\":0,\n   \"debounce_ms\":\"fast\"}]}\n");
    static const struct {
        const char *args[6];
        const char *needle;
    } cases[] = {
        {{"--config", NULL}, "bad.json:4:"},
        {{"--sim", "--id", "A+B", NULL}, "invalid device id"},
        {{"--sim", "--broker", "nohostport:xx", NULL}, "broker"},
        {{"--sim", "--ring-size", "0", NULL}, "ring.size"},
        {{NULL}, "no configuration"},
        {{"--bogus", NULL}, "bogus"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *argv[8] = {bin};
        size_t n = 1;
        for (size_t k = 0; k < 6 && (cases[i].args[k] || (i == 0 && k == 1));
             k++)
            argv[n++] = i == 0 && k == 1 ? bad : cases[i].args[k];
        argv[n] = NULL;
        char *out = NULL, *err = NULL;
        int rc = ht_it_run(t, argv, NULL, 10000, &out, &err);
        HT_CHECK(t, rc != 0, "case %zu accepted", i);
        HT_CHECK(t, err && strstr(err, cases[i].needle), "case %zu: %s", i,
                 err);
        HT_CHECK(t, strchr(err, '\n') == err + strlen(err) - 1,
                 "case %zu: not one line: %s", i, err);
        free(out);
        free(err);
    }
    free(bad);
    free(bin);
}

/* Every TD the agent can produce (built-in board and each example config),
 * as served over MQTT, through the W3C validator. */
static void every_td_passes_the_w3c_validator(struct ht_it *t)
{
    /* nosec needs a board without credentials, so a broker that lets
     * anonymous boards in, and none of the harness's account in the
     * environment the agents inherit. */
    struct ht_it_broker b;
    ht_it_broker_start(t, &b, "allow_anonymous true");
    unsetenv("HOLOTWIN_MQTT_USERNAME");
    unsetenv("HOLOTWIN_MQTT_PASSWORD");
    struct ht_it_mqtt *c = ht_it_mqtt_new(b.port, "obs", NULL, NULL);
    HT_CHECK(t, ht_it_mqtt_sub(c, "holotwin/v1/devices/+/td") == 1);
    /* NULL: the built-in board; "": the built-in board with credentials
     * (basic security scheme instead of nosec). */
    static const char *const boards[] = {NULL, "", "gears-1", "thermal-1",
                                         "panel-1"};
    const char *files[8] = {0};
    char *paths[5];
    for (size_t i = 0; i < 5; i++) {
        struct agent a;
        char cfg[256], logname[32], topic[128];
        snprintf(logname, sizeof logname, "agent%zu", i);
        const char *id = !boards[i]    ? "demo-1"
                         : !*boards[i] ? "demo-2"
                                       : boards[i];
        snprintf(cfg, sizeof cfg, "%s/device-agent/examples/%s.json",
                 ht_it_src(), boards[i] ? boards[i] : "");
        /* With an HTTP port, so the TD carries its link too. */
        const char *withcfg[] = {"--config", cfg,      "--http-port",
                                 "0",        "--mdns", NULL};
        const char *sim[] = {"--sim", "--id", "demo-1", "--mdns", NULL};
        const char *cred[] = {"--sim", "--id",       "demo-2", "--username",
                              b.user,  "--password", b.pass,   NULL};
        agent_start(t, &a, b.port, logname,
                    !boards[i]    ? sim
                    : !*boards[i] ? cred
                                  : withcfg);
        snprintf(topic, sizeof topic, "holotwin/v1/devices/%s/td", id);
        char *td = ht_it_mqtt_wait(c, topic, "urn:holotwin", 10000);
        HT_CHECK(t, td != NULL, "no TD from %s: %s", id,
                 ht_it_logfile(t, logname));
        HT_CHECK(t,
                 strstr(td, boards[i] && !*boards[i] ? "\"basic_sc\""
                                                     : "\"nosec_sc\""),
                 "security scheme of %s: %s", id, td);
        char name[64];
        snprintf(name, sizeof name, "%s.td.json", id);
        paths[i] = ht_it_write(t, name, td);
        files[i] = paths[i];
        free(td);
        HT_CHECK(t, ht_it_stop(t, a.pid, SIGTERM, 10000) == 0);
        free(a.ctl);
    }
    char *out = NULL;
    int rc = ht_it_node(t, "validate-td.mjs", files, 60000, &out);
    HT_CHECK(t, rc == 0, "W3C validator: %s", out);
    HT_CHECK(t, strstr(out, "ok ") && !strstr(out, "FAIL"), "%s", out);
    free(out);
    /* The validator really rejects a broken TD (so the pass above means
     * something). */
    char *broken =
        ht_it_write(t, "broken.td.json",
                    "{\"@context\":\"https://www.w3.org/2022/wot/td/v1.1\","
                    "\"title\":\"x\",\"properties\":{}}");
    const char *bf[] = {broken, NULL};
    rc = ht_it_node(t, "validate-td.mjs", bf, 60000, &out);
    HT_CHECK(t, rc != 0, "validator accepted a TD without security: %s", out);
    free(out);
    free(broken);
    for (size_t i = 0; i < 5; i++)
        free(paths[i]);
    ht_it_mqtt_free(c);
}

HT_IT_MAIN(HT_IT_CASE(registration_publishes_retained_td_and_status),
           HT_IT_CASE(values_carry_ts_and_increasing_seq),
           HT_IT_CASE(commands_ack_good_and_every_error_code),
           HT_IT_CASE(will_reports_offline_after_kill_9),
           HT_IT_CASE(offline_ring_is_flushed_in_order_after_broker_restart),
           HT_IT_CASE(agent_is_back_soon_after_a_long_broker_outage),
           HT_IT_CASE(expired_command_is_not_applied_and_acked_expired),
           HT_IT_CASE(duplicated_command_id_is_applied_once),
           HT_IT_CASE(sync_request_republishes_every_property_unchanged),
           HT_IT_CASE(reconnect_produces_a_snapshot),
           HT_IT_CASE(http_endpoint_serves_the_td),
           HT_IT_CASE(deregister_clears_the_retained_registration),
           HT_IT_CASE(bad_configs_and_flags_fail_with_one_line),
           HT_IT_CASE(every_td_passes_the_w3c_validator))
