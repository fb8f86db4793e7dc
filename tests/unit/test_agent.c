/* test_agent.c - the device agent without a broker: configuration and its
 * file:line:col errors, the TD it builds, command validation and acks,
 * debounce, pulse counters, encoders, analog parsing and the publish
 * policy. Hardware is the sim backend; time is the loop's fake clock. */
#include "device-agent/agent.h"
#include "device-agent/hal/gpio_sim.h"
#include "ht_err.h"
#include "ht_loop.h"
#include "ht_util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- fixture ---- */

static uint64_t fake_now;
static uint64_t fake_clock(void *ud)
{
    (void)ud;
    return fake_now;
}

struct emitted {
    char name[40];
    json_t *v;
    int64_t ts;
    uint64_t seq;
};

struct fx {
    struct ht_loop *l;
    struct ht_agent_conf conf;
    struct ht_agent *a;
    struct emitted ev[256];
    size_t n;
    char path[64];
};

static void on_emit(void *ud, const char *name, const json_t *v, int64_t ts,
                    uint64_t seq)
{
    struct fx *f = ud;
    if (f->n == 256)
        return;
    struct emitted *e = &f->ev[f->n++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->v = json_deep_copy(v);
    e->ts = ts;
    e->seq = seq;
}

static char *write_tmp(const char *text)
{
    char *p = strdup("/tmp/ht-agent-test-XXXXXX.json");
    int fd = mkstemps(p, 5);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return p;
}

/* Load a config text and build the agent on a loop with the fake clock. */
static void fx_start(struct fx *f, const char *text)
{
    memset(f, 0, sizeof *f);
    ck_assert_int_eq(ht_loop_new(&f->l), HT_OK);
    fake_now = 100000;
    ht_loop_set_clock(f->l, fake_clock, NULL);
    ht_loop_update_time(f->l);
    ht_agent_conf_init(&f->conf);
    char *p = write_tmp(text);
    char err[512] = "";
    int rc = ht_agent_conf_load(&f->conf, p, err, sizeof err);
    unlink(p);
    free(p);
    ck_assert_msg(rc == HT_OK, "config: %s", err);
    rc = ht_agent_new(f->l, &f->conf, &f->a, err, sizeof err);
    ck_assert_msg(rc == HT_OK, "agent: %s", err);
    ht_agent_on_emit(f->a, on_emit, f);
}

static void fx_clear_events(struct fx *f)
{
    for (size_t i = 0; i < f->n; i++)
        json_decref(f->ev[i].v);
    f->n = 0;
}

static void fx_stop(struct fx *f)
{
    fx_clear_events(f);
    ht_agent_free(f->a);
    ht_agent_conf_clear(&f->conf);
    ht_loop_free(f->l);
}

/* Advance the fake clock by ms and run what became due. */
static void fx_advance(struct fx *f, uint64_t ms)
{
    fake_now += ms;
    for (int i = 0; i < 4; i++)
        ht_loop_run_once(f->l, 0);
}

static size_t count_of(const struct fx *f, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++)
        n += !strcmp(f->ev[i].name, name);
    return n;
}

static const json_t *last_of(const struct fx *f, const char *name)
{
    for (size_t i = f->n; i > 0; i--)
        if (!strcmp(f->ev[i - 1].name, name))
            return f->ev[i - 1].v;
    return NULL;
}

static const char board[] =
    "{\"id\":\"t-1\",\"title\":\"Test\",\"gpio\":{\"backend\":\"sim\","
    "\"lines\":16},\n"
    " \"capabilities\":[\n"
    "  "
    "{\"name\":\"btn\",\"kind\":\"input\",\"type\":\"ht:Button\",\"line\":0,\n"
    "   \"active_low\":true,\"bias\":\"pull-up\",\"debounce_ms\":20},\n"
    "  "
    "{\"name\":\"raw\",\"kind\":\"input\",\"type\":\"ht:Switch\",\"line\":1,\n"
    "   \"debounce_ms\":0},\n"
    "  "
    "{\"name\":\"lamp\",\"kind\":\"output\",\"type\":\"ht:Lamp\",\"line\":2,\n"
    "   \"initial\":false,\"safe\":false},\n"
    "  "
    "{\"name\":\"speed\",\"kind\":\"counter\",\"type\":\"ht:RotationSpeed\",\n"
    "   "
    "\"line\":3,\"ppr\":1,\"window_ms\":1000,\"publish\":{\"deadband\":1}},\n"
    "  {\"name\":\"knob\",\"kind\":\"encoder\",\"type\":\"ht:Position\",\n"
    "   \"lines\":[4,5],\"minimum\":-3,\"maximum\":3},\n"
    "  {\"name\":\"sp\",\"kind\":\"setpoint\",\"type\":\"ht:SpeedSetpoint\",\n"
    "   \"minimum\":0,\"maximum\":200,\"multipleOf\":1,\"initial\":10,\n"
    "   "
    "\"publish\":{\"deadband\":5,\"min_interval_ms\":1000,\"max_interval_ms\":"
    "10000}}\n"
    " ]}\n";

/* ---- configuration ---- */

START_TEST(config_loads_capabilities_with_defaults)
{
    struct fx f;
    fx_start(&f, board);
    ck_assert_uint_eq(f.conf.ncaps, 6);
    ck_assert_str_eq(f.conf.id, "t-1");
    const struct ht_cap_conf *c = &f.conf.caps[3];
    ck_assert_str_eq(c->name, "speed");
    ck_assert(c->scale == 60); /* rpm from the term's unit */
    ck_assert(c->read_only);
    ck_assert_str_eq(c->unit, "unit:REV-PER-MIN");
    ck_assert(!f.conf.caps[2].read_only);
    ck_assert_int_eq(f.conf.caps[4].divider, 4);
    ck_assert_int_eq(f.conf.ring_size, 1024);
    ck_assert_str_eq(f.conf.prefix, "holotwin/v1");
    fx_stop(&f);
}
END_TEST

/* Each bad config names file:line:col of the offending value. */
START_TEST(config_errors_name_file_line_col)
{
    static const struct {
        const char *text;
        const char *where; /* ":line:col:" */
        const char *needle;
    } cases[] = {
        {"{\"id\":\"x\",\n \"nope\":1}", ":2:", "nope"},
        {"{\"id\":\"x\",\n \"capabilities\":[\n  "
         "{\"name\":\"a\",\"kind\":\"input\",\n"
         "   \"type\":\"ht:Button\",\"line\":0,\"colour\":3}]}",
         ":4:", "colour"},
        {"{\"capabilities\":[{\"name\":\"a\",\"kind\":\"lever\",\"type\":\"ht:"
         "Button\","
         "\"line\":0}]}",
         ":1:", "kind"},
        {"{\"capabilities\":[\n{\"name\":\"a\",\"kind\":\"input\",\n\"type\":"
         "\"ht:Nope\","
         "\"line\":0}]}",
         ":3:", "vocabulary"},
        {"{\"capabilities\":[{\"name\":\"a\",\"kind\":\"input\",\"type\":\"ht:"
         "Button\","
         "\n\"line\":-1}]}",
         ":2:", "line"},
        {"{\"capabilities\":[{\"name\":\"a\",\"kind\":\"input\",\"type\":\"ht:"
         "Button\","
         "\"line\":0},\n{\"name\":\"a\",\"kind\":\"output\",\"type\":\"ht:"
         "Lamp\","
         "\"line\":1}]}",
         ":2:", "duplicate"},
        {"{\"capabilities\":[{\"name\":\"a\",\"kind\":\"input\",\"type\":\"ht:"
         "Button\","
         "\"line\":0},\n{\"name\":\"b\",\"kind\":\"output\",\"type\":\"ht:"
         "Lamp\","
         "\"line\":0}]}",
         ":2:", "already used"},
        {"{\"capabilities\":[{\"name\":\"Bad/Name\",\"kind\":\"input\"}]}",
         ":1:", "name"},
        {"{\"capabilities\":[{\"name\":\"s\",\"kind\":\"setpoint\",\"type\":"
         "\"ht:SpeedSetpoint\",\"maximum\":10,\n\"initial\":20}]}",
         ":2:", "initial"},
        {"{\"capabilities\":[{\"name\":\"t\",\"kind\":\"counter\",\"type\":"
         "\"ht:RotationSpeed\",\"line\":1,\n\"writable\":true}]}",
         ":2:", "writable"},
        {"{\"capabilities\":[{\"name\":\"e\",\"kind\":\"encoder\",\"type\":"
         "\"ht:Position\",\n\"lines\":[1]}]}",
         ":2:", "lines"},
        {"{\"capabilities\":[{\"name\":\"x\",\"kind\":\"analog\",\"type\":"
         "\"ht:Temperature\",\"path\":\"/x\",\n\"publish\":{\"every\":1}}]}",
         ":2:", "every"},
        {"{\"mqtt\":{\n\"keepalive\":1}}", ":2:", "range"},
        {"{\"id\": ", ":1:", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct ht_agent_conf c;
        ht_agent_conf_init(&c);
        char *p = write_tmp(cases[i].text);
        char err[512] = "";
        int rc = ht_agent_conf_load(&c, p, err, sizeof err);
        ck_assert_msg(rc != HT_OK, "case %zu accepted", i);
        char want[128];
        snprintf(want, sizeof want, "%s%s", p, cases[i].where);
        ck_assert_msg(strstr(err, want), "case %zu: want '%s' in '%s'", i, want,
                      err);
        ck_assert_msg(strstr(err, cases[i].needle), "case %zu: '%s'", i, err);
        unlink(p);
        free(p);
        ht_agent_conf_clear(&c);
    }
}
END_TEST

START_TEST(config_check_rejects_hostile_ids)
{
    struct ht_agent_conf c;
    ht_agent_conf_init(&c);
    char err[256];
    ck_assert_int_eq(ht_agent_conf_demo(&c, err, sizeof err), HT_OK);
    static const char *const bad[] = {"a+b", "a/b", "#", "..", ".x", "", "A"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        free(c.id);
        c.id = strdup(bad[i]);
        ck_assert_msg(ht_agent_conf_check(&c, err, sizeof err) == HT_EINVAL,
                      "%s", bad[i]);
        ck_assert(strchr(err, '\n') == NULL);
    }
    free(c.id);
    c.id = strdup("demo-1");
    ck_assert_int_eq(ht_agent_conf_check(&c, err, sizeof err), HT_OK);
    ht_agent_conf_clear(&c);
}
END_TEST

/* ---- TD ---- */

START_TEST(demo_board_td_has_the_contract_properties)
{
    struct ht_agent_conf c;
    ht_agent_conf_init(&c);
    char err[256];
    ck_assert_int_eq(ht_agent_conf_demo(&c, err, sizeof err), HT_OK);
    c.id = strdup("demo-1");
    struct ht_loop *l;
    ht_loop_new(&l);
    struct ht_agent *a;
    ck_assert_int_eq(ht_agent_new(l, &c, &a, err, sizeof err), HT_OK);
    const json_t *td = ht_agent_td(a);
    ck_assert_str_eq(json_string_value(json_object_get(td, "id")),
                     "urn:holotwin:device:demo-1");
    const json_t *props = json_object_get(td, "properties");
    static const struct {
        const char *name, *type, *term;
        bool ro;
    } want[] = {{"button", "boolean", "ht:Button", true},
                {"lamp", "boolean", "ht:Lamp", false},
                {"motor_setpoint", "number", "ht:SpeedSetpoint", false},
                {"motor_speed", "number", "ht:RotationSpeed", true},
                {"temperature", "number", "ht:Temperature", true}};
    for (size_t i = 0; i < 5; i++) {
        const json_t *p = json_object_get(props, want[i].name);
        ck_assert_msg(p != NULL, "%s missing", want[i].name);
        ck_assert_str_eq(json_string_value(json_object_get(p, "type")),
                         want[i].type);
        ck_assert_str_eq(
            json_string_value(json_array_get(json_object_get(p, "@type"), 1)),
            want[i].term);
        ck_assert(json_is_true(json_object_get(p, "readOnly")) == want[i].ro);
    }
    ck_assert_int_eq(json_number_value(json_object_get(
                         json_object_get(props, "motor_setpoint"), "maximum")),
                     200);
    /* The TD the agent builds is what the gateway's parser accepts. */
    struct ht_sem_thing *t = NULL;
    ck_assert_int_eq(ht_sem_td_parse(td, &t, err, sizeof err), HT_OK);
    ht_sem_thing_free(t);
    ht_agent_free(a);
    ht_loop_free(l);
    ht_agent_conf_clear(&c);
}
END_TEST

/* ---- commands ---- */

static const char *ack_code(json_t *ack)
{
    return json_string_value(
        json_object_get(json_object_get(ack, "error"), "code"));
}

START_TEST(commands_validate_and_ack_with_each_error_code)
{
    struct fx f;
    fx_start(&f, board);
    struct ht_gpio *g = ht_agent_gpio(f.a);
    json_t *ack = ht_agent_command(f.a, "lamp", "{\"v\":true}", 10, NULL, 0);
    ck_assert(json_is_true(json_object_get(ack, "ok")));
    ck_assert(json_is_true(json_object_get(ack, "v")));
    ck_assert(json_is_integer(json_object_get(ack, "ts")));
    ck_assert_int_eq(ht_gpio_sim_last_set(g, 2), 1);
    ck_assert(json_is_true(last_of(&f, "lamp")));
    json_decref(ack);
    /* A bare value (what WoT consumers send) works too. */
    ack = ht_agent_command(f.a, "lamp", "false", 5, NULL, 0);
    ck_assert(json_is_true(json_object_get(ack, "ok")));
    ck_assert_int_eq(ht_gpio_sim_last_set(g, 2), 0);
    json_decref(ack);
    static const struct {
        const char *name, *payload, *code;
    } bad[] = {
        {"nope", "{\"v\":1}", "unknown"},
        {"lamp", "{\"v\":tru", "bad_json"},
        {"lamp", "{\"x\":1}", "bad_json"},
        {"lamp", "", "bad_json"},
        {"lamp", "{\"v\":1}", "bad_type"},
        {"sp", "{\"v\":\"fast\"}", "bad_type"},
        {"sp", "{\"v\":201}", "out_of_range"},
        {"sp", "{\"v\":10.5}", "out_of_range"},
        {"speed", "{\"v\":1}", "read_only"},
        {"btn", "{\"v\":true}", "read_only"},
        {"lamp", "{\"v\":true,\"v\":false}", "bad_json"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ack = ht_agent_command(f.a, bad[i].name, bad[i].payload,
                               strlen(bad[i].payload), NULL, 0);
        ck_assert_msg(json_is_false(json_object_get(ack, "ok")), "case %zu", i);
        ck_assert_msg(!strcmp(ack_code(ack), bad[i].code), "case %zu: %s", i,
                      ack_code(ack));
        ck_assert(json_is_string(
            json_object_get(json_object_get(ack, "error"), "message")));
        json_decref(ack);
    }
    ck_assert_int_eq(ht_gpio_sim_last_set(g, 2), 0); /* nothing applied */
    /* Oversize payloads are refused before parsing. */
    char *big = malloc(10000);
    memset(big, ' ', 9999);
    big[9999] = '\0';
    ack = ht_agent_command(f.a, "lamp", big, 9999, NULL, 0);
    ck_assert_str_eq(ack_code(ack), "bad_json");
    json_decref(ack);
    free(big);
    /* The line refuses: hw_error, and the value stays. */
    ht_gpio_sim_fail_set(g, 2, 1);
    ack = ht_agent_command(f.a, "lamp", "{\"v\":true}", 10, NULL, 0);
    ck_assert_str_eq(ack_code(ack), "hw_error");
    json_decref(ack);
    ck_assert_int_eq(ht_gpio_sim_last_set(g, 2), 0);
    fx_stop(&f);
}
END_TEST

START_TEST(repeated_correlation_id_is_not_applied_twice)
{
    struct fx f;
    fx_start(&f, board);
    struct ht_gpio *g = ht_agent_gpio(f.a);
    json_t *a1 = ht_agent_command(f.a, "lamp", "{\"v\":true}", 10, "c1", 2);
    ck_assert(json_is_true(json_object_get(a1, "ok")));
    /* Someone else turns the lamp off; the retransmitted c1 must not
     * turn it on again, and gets the original ack. */
    json_t *a2 = ht_agent_command(f.a, "lamp", "{\"v\":false}", 11, "c2", 2);
    ck_assert_int_eq(ht_gpio_sim_last_set(g, 2), 0);
    json_t *a3 = ht_agent_command(f.a, "lamp", "{\"v\":true}", 10, "c1", 2);
    ck_assert(json_equal(a1, a3));
    ck_assert_int_eq(ht_gpio_sim_last_set(g, 2), 0);
    json_decref(a1);
    json_decref(a2);
    json_decref(a3);
    fx_stop(&f);
}
END_TEST

/* ---- inputs ---- */

START_TEST(debounce_collapses_bounces_into_one_change)
{
    struct fx f;
    fx_start(&f, board);
    struct ht_gpio *g = ht_agent_gpio(f.a);
    json_t *idle = ht_agent_value(f.a, "btn"); /* pull-up, active-low */
    ck_assert(json_is_false(idle));
    json_decref(idle);
    /* Pressed (active-low: physical 0) with contact bounce. */
    ht_gpio_sim_inject(g, 0, 0);
    ht_gpio_sim_inject(g, 0, 1);
    ht_gpio_sim_inject(g, 0, 0);
    fx_advance(&f, 5);
    ck_assert_uint_eq(count_of(&f, "btn"), 0);
    ht_gpio_sim_inject(g, 0, 1);
    ht_gpio_sim_inject(g, 0, 0);
    fx_advance(&f, 0);
    fx_advance(&f, 10);
    ck_assert_uint_eq(count_of(&f, "btn"),
                      0); /* still within 20 ms of the last edge */
    fx_advance(&f, 15);
    ck_assert_uint_eq(count_of(&f, "btn"), 1);
    ck_assert(json_is_true(last_of(&f, "btn")));
    /* A glitch that returns to the stable level publishes nothing. */
    ht_gpio_sim_inject(g, 0, 1);
    ht_gpio_sim_inject(g, 0, 0);
    fx_advance(&f, 30);
    ck_assert_uint_eq(count_of(&f, "btn"), 1);
    /* Without debounce every edge counts, with its kernel timestamp. */
    uint64_t ts = ht_mono_ns() - 2000000000ull; /* 2 s ago */
    ht_gpio_sim_inject_ts(g, 1, 1, ts);
    fx_advance(&f, 0);
    ck_assert(json_is_true(last_of(&f, "raw")));
    int64_t want = ht_time_ms() - 2000;
    ck_assert_int_le(llabs(f.ev[f.n - 1].ts - want), 100);
    fx_stop(&f);
}
END_TEST

START_TEST(counter_turns_pulses_into_rpm)
{
    struct fx f;
    fx_start(&f, board);
    struct ht_gpio *g = ht_agent_gpio(f.a);
    fx_clear_events(&f);
    /* 11 pulses 50 ms apart: 20 Hz, ppr 1 -> 1200 rpm. */
    uint64_t t0 = ht_mono_ns() - 1000000000ull;
    for (int i = 0; i <= 10; i++) {
        ht_gpio_sim_inject_ts(g, 3, 1, t0 + (uint64_t)i * 50000000ull);
        ht_gpio_sim_inject_ts(g, 3, 0, t0 + (uint64_t)i * 50000000ull + 1000);
    }
    fx_advance(&f, 1000);
    ck_assert_uint_eq(count_of(&f, "speed"), 1);
    ck_assert_double_eq_tol(json_number_value(last_of(&f, "speed")), 1200,
                            0.01);
    /* Next window: same rate measured across the window boundary; within
     * the deadband, so nothing new is published. */
    uint64_t t1 = t0 + 11 * 50000000ull;
    for (int i = 0; i < 10; i++)
        ht_gpio_sim_inject_ts(g, 3, 1, t1 + (uint64_t)i * 50000000ull),
            ht_gpio_sim_inject_ts(g, 3, 0,
                                  t1 + (uint64_t)i * 50000000ull + 1000);
    fx_advance(&f, 1000);
    ck_assert_uint_eq(count_of(&f, "speed"), 1);
    /* Stopped: two empty windows bring it to 0. */
    fx_advance(&f, 1000);
    fx_advance(&f, 1000);
    ck_assert_double_eq_tol(json_number_value(last_of(&f, "speed")), 0, 0.001);
    fx_stop(&f);
}
END_TEST

static void quad(struct ht_gpio *g, int steps)
{
    /* One detent = 4 transitions from rest (A=0, B=0): forward
     * 10 11 01 00, backward 01 11 10 00. */
    static const int fwd[4][2] = {{1, 0}, {1, 1}, {0, 1}, {0, 0}};
    static const int back[4][2] = {{0, 1}, {1, 1}, {1, 0}, {0, 0}};
    const int(*seq)[2] = steps > 0 ? fwd : back;
    for (int s = 0; s < abs(steps); s++)
        for (int i = 0; i < 4; i++) {
            ht_gpio_sim_inject(g, 4, seq[i][0]);
            ht_gpio_sim_inject(g, 5, seq[i][1]);
        }
}

START_TEST(encoder_counts_detents_both_ways_and_clamps)
{
    struct fx f;
    fx_start(&f, board);
    struct ht_gpio *g = ht_agent_gpio(f.a);
    quad(g, 2);
    fx_advance(&f, 0);
    ck_assert_int_eq(json_integer_value(last_of(&f, "knob")), 2);
    quad(g, -1);
    fx_advance(&f, 0);
    ck_assert_int_eq(json_integer_value(last_of(&f, "knob")), 1);
    quad(g, 10); /* clamps at maximum 3 */
    fx_advance(&f, 0);
    ck_assert_int_eq(json_integer_value(last_of(&f, "knob")), 3);
    quad(g, -1);
    fx_advance(&f, 0);
    ck_assert_int_eq(json_integer_value(last_of(&f, "knob")), 2);
    ck_assert_int_eq(ht_agent_quad_step(0, 2), 1);
    ck_assert_int_eq(ht_agent_quad_step(2, 0), -1);
    ck_assert_int_eq(ht_agent_quad_step(0, 3), 0); /* invalid double step */
    fx_stop(&f);
}
END_TEST

/* ---- publish policy ---- */

START_TEST(publish_policy_deadband_min_and_max_interval)
{
    struct fx f;
    fx_start(&f, board);
    json_t *init = ht_agent_value(f.a, "sp");
    ck_assert_int_eq(json_number_value(init), 10);
    json_decref(init);
    fx_advance(&f, 2000);
    json_decref(ht_agent_command(f.a, "sp", "{\"v\":13}", 8, NULL, 0));
    ck_assert_uint_eq(count_of(&f, "sp"), 0); /* within deadband 5 of 10 */
    json_decref(ht_agent_command(f.a, "sp", "{\"v\":20}", 8, NULL, 0));
    ck_assert_uint_eq(count_of(&f, "sp"), 1);
    /* Within min_interval: held back, the latest wins. */
    fx_advance(&f, 100);
    json_decref(ht_agent_command(f.a, "sp", "{\"v\":40}", 8, NULL, 0));
    json_decref(ht_agent_command(f.a, "sp", "{\"v\":60}", 8, NULL, 0));
    ck_assert_uint_eq(count_of(&f, "sp"), 1);
    fx_advance(&f, 950);
    ck_assert_uint_eq(count_of(&f, "sp"), 2);
    ck_assert_int_eq(json_number_value(last_of(&f, "sp")), 60);
    /* Heartbeat: unchanged values are republished every max_interval. */
    fx_advance(&f, 10000);
    ck_assert_uint_eq(count_of(&f, "sp"), 3);
    ck_assert_int_eq(json_number_value(last_of(&f, "sp")), 60);
    /* Sequence numbers only grow. */
    for (size_t i = 1; i < f.n; i++)
        ck_assert_uint_gt(f.ev[i].seq, f.ev[i - 1].seq);
    fx_stop(&f);
}
END_TEST

START_TEST(offline_values_queue_in_a_bounded_ring)
{
    struct fx f;
    static const char small[] =
        "{\"id\":\"r-1\",\"ring\":{\"size\":4},\"capabilities\":["
        "{\"name\":\"lamp\",\"kind\":\"output\",\"type\":\"ht:Lamp\",\"line\":"
        "0}]}";
    fx_start(&f, small);
    ck_assert_uint_eq(ht_agent_queued(f.a), 1); /* initial value, no broker */
    for (int i = 0; i < 6; i++)
        json_decref(ht_agent_command(f.a, "lamp", i % 2 ? "false" : "true",
                                     i % 2 ? 5 : 4, NULL, 0));
    ck_assert_uint_eq(ht_agent_queued(f.a), 4);
    ck_assert_uint_eq(ht_agent_dropped(f.a), 3);
    fx_stop(&f);
}
END_TEST

/* ---- command ids and deadlines (issue 13) ---- */

/* A command (payload text) on the board fixture; the ack (new). */
static json_t *cmd(struct fx *f, const char *name, const char *payload)
{
    return ht_agent_command(f->a, name, payload, strlen(payload), NULL, 0);
}

/* A command that must be refused with code. */
static void cmd_refused(struct fx *f, const char *name, const char *payload,
                        const char *code)
{
    json_t *ack = cmd(f, name, payload);
    ck_assert_msg(json_is_false(json_object_get(ack, "ok")), "%s", payload);
    ck_assert_str_eq(ack_code(ack), code);
    json_decref(ack);
}

START_TEST(repeated_command_id_is_applied_once_with_the_first_ack)
{
    struct fx f;
    fx_start(&f, board);
    struct ht_gpio *g = ht_agent_gpio(f.a);
    json_t *a1 = cmd(&f, "lamp", "{\"v\":true,\"id\":\"cmd-1\"}");
    ck_assert(json_is_true(json_object_get(a1, "ok")));
    ck_assert_int_eq(ht_gpio_sim_last_set(g, 2), 1);
    json_t *a2 = cmd(&f, "lamp", "{\"v\":false,\"id\":\"cmd-2\"}");
    ck_assert_int_eq(ht_gpio_sim_last_set(g, 2), 0);
    size_t lamp_values = count_of(&f, "lamp");
    /* Redelivered: not applied, the first ack (same ts) comes back. */
    fake_now += 5000;
    json_t *a3 = cmd(&f, "lamp", "{\"v\":true,\"id\":\"cmd-1\"}");
    ck_assert(json_equal(a1, a3));
    ck_assert_int_eq(ht_gpio_sim_last_set(g, 2), 0);
    ck_assert_uint_eq(count_of(&f, "lamp"), lamp_values);
    /* Ids the protocol does not allow are refused, not remembered. */
    cmd_refused(&f, "lamp", "{\"v\":true,\"id\":\"a/b\"}", "bad_json");
    cmd_refused(&f, "lamp", "{\"v\":true,\"id\":\"\"}", "bad_json");
    ck_assert_int_eq(ht_gpio_sim_last_set(g, 2), 0);
    json_t *acks[] = {a1, a2, a3};
    for (size_t i = 0; i < 3; i++)
        json_decref(acks[i]);
    fx_stop(&f);
}
END_TEST

START_TEST(command_past_its_deadline_is_refused_as_expired)
{
    struct fx f;
    fx_start(&f, board);
    struct ht_gpio *g = ht_agent_gpio(f.a);
    char payload[128];
    snprintf(payload, sizeof payload,
             "{\"v\":true,\"id\":\"late-1\",\"deadline\":%lld}",
             (long long)ht_time_ms() - 1000);
    cmd_refused(&f, "lamp", payload, "expired");
    ck_assert_int_eq(ht_gpio_sim_last_set(g, 2), 0);
    /* Redelivered late: still the expired ack, still not applied. */
    cmd_refused(&f, "lamp", payload, "expired");
    ck_assert_int_eq(ht_gpio_sim_last_set(g, 2), 0);
    /* In time: applied. */
    snprintf(payload, sizeof payload, "{\"v\":true,\"deadline\":%lld}",
             (long long)ht_time_ms() + 60000);
    json_t *ack = cmd(&f, "lamp", payload);
    ck_assert(json_is_true(json_object_get(ack, "ok")));
    ck_assert_int_eq(ht_gpio_sim_last_set(g, 2), 1);
    json_decref(ack);
    cmd_refused(&f, "lamp", "{\"v\":false,\"deadline\":\"soon\"}", "bad_json");
    ck_assert_int_eq(ht_gpio_sim_last_set(g, 2), 1);
    fx_stop(&f);
}
END_TEST

START_TEST(command_id_memory_is_bounded_and_forgets_the_oldest)
{
    struct ht_agent_ids *m = ht_agent_ids_new(4);
    char id[16], ack[16];
    for (int i = 0; i < 4; i++) {
        snprintf(id, sizeof id, "id-%d", i);
        snprintf(ack, sizeof ack, "ack-%d", i);
        ht_agent_ids_put(m, id, ack);
    }
    ck_assert_uint_eq(ht_agent_ids_count(m), 4);
    ck_assert_str_eq(ht_agent_ids_find(m, "id-0"), "ack-0");
    ht_agent_ids_put(m, "id-4", "ack-4");
    ck_assert_uint_eq(ht_agent_ids_count(m), 4);
    ck_assert_ptr_null(ht_agent_ids_find(m, "id-0")); /* oldest gone */
    ck_assert_str_eq(ht_agent_ids_find(m, "id-1"), "ack-1");
    ck_assert_str_eq(ht_agent_ids_find(m, "id-4"), "ack-4");
    /* The first ack stays the answer. */
    ht_agent_ids_put(m, "id-1", "other");
    ck_assert_str_eq(ht_agent_ids_find(m, "id-1"), "ack-1");
    /* Many more (chains collide in 8 buckets): always exactly the last 4. */
    for (int i = 5; i < 5000; i++) {
        snprintf(id, sizeof id, "id-%d", i);
        snprintf(ack, sizeof ack, "ack-%d", i);
        ht_agent_ids_put(m, id, ack);
        ck_assert_uint_eq(ht_agent_ids_count(m), 4);
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "id-%d", i);
        const char *got = ht_agent_ids_find(m, id);
        if (i >= 4996) {
            snprintf(ack, sizeof ack, "ack-%d", i);
            ck_assert_str_eq(got, ack);
        } else {
            ck_assert_msg(got == NULL, "%s still remembered", id);
        }
    }
    ht_agent_ids_free(m);
    ck_assert(ht_agent_cmd_id_valid("A.b_c-9"));
    ck_assert(!ht_agent_cmd_id_valid(""));
    ck_assert(!ht_agent_cmd_id_valid("a b"));
    ck_assert(!ht_agent_cmd_id_valid("x#"));
    char longid[70];
    memset(longid, 'a', 65);
    longid[65] = '\0';
    ck_assert(!ht_agent_cmd_id_valid(longid));
    longid[64] = '\0';
    ck_assert(ht_agent_cmd_id_valid(longid));
}
END_TEST

/* ---- analog and sim plant ---- */

START_TEST(analog_formats_parse_sysfs_text)
{
    double v;
    ck_assert_int_eq(
        ht_agent_parse_analog("72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n"
                              "72 01 4b 46 7f ff 0e 10 57 t=23125\n",
                              HT_ANALOG_W1_SLAVE, 1, 0, &v),
        HT_OK);
    ck_assert_double_eq_tol(v, 23.125, 1e-9);
    ck_assert_int_eq(
        ht_agent_parse_analog("72 01 4b 46 7f ff 0e 10 57 : crc=00 NO\n"
                              "72 01 4b 46 7f ff 0e 10 57 t=23125\n",
                              HT_ANALOG_W1_SLAVE, 1, 0, &v),
        HT_EPARSE);
    ck_assert_int_eq(
        ht_agent_parse_analog("41500\n", HT_ANALOG_MILLI, 1, 0, &v), HT_OK);
    ck_assert_double_eq_tol(v, 41.5, 1e-9);
    ck_assert_int_eq(ht_agent_parse_analog("1024\n", HT_ANALOG_IIO, 0.5, 0, &v),
                     HT_OK);
    ck_assert_double_eq_tol(v, 512, 1e-9);
    ck_assert_int_eq(ht_agent_parse_analog("12 x", HT_ANALOG_RAW, 1, 0, &v),
                     HT_EPARSE);
    ck_assert_int_eq(ht_agent_parse_analog("", HT_ANALOG_RAW, 1, 0, &v),
                     HT_EPARSE);
}
END_TEST

START_TEST(analog_polls_a_sysfs_file_at_its_period)
{
    char *file = write_tmp("21000\n");
    char text[512];
    snprintf(text, sizeof text,
             "{\"id\":\"a-1\",\"capabilities\":[{\"name\":\"temp\",\"kind\":"
             "\"analog\","
             "\"type\":\"ht:Temperature\",\"path\":\"%s\",\"format\":\"milli\","
             "\"period_ms\":500}]}",
             file);
    struct fx f;
    fx_start(&f, text);
    json_t *t0 = ht_agent_value(f.a, "temp");
    ck_assert_double_eq_tol(json_number_value(t0), 21.0, 1e-9);
    json_decref(t0);
    FILE *fp = fopen(file, "w");
    fputs("22500\n", fp);
    fclose(fp);
    fx_advance(&f, 400);
    ck_assert_uint_eq(count_of(&f, "temp"), 0);
    fx_advance(&f, 100);
    ck_assert_uint_eq(count_of(&f, "temp"), 1);
    ck_assert_double_eq_tol(json_number_value(last_of(&f, "temp")), 22.5, 1e-9);
    unlink(file);
    free(file);
    fx_stop(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("agent");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, config_loads_capabilities_with_defaults);
    tcase_add_test(tc, config_errors_name_file_line_col);
    tcase_add_test(tc, config_check_rejects_hostile_ids);
    tcase_add_test(tc, demo_board_td_has_the_contract_properties);
    tcase_add_test(tc, commands_validate_and_ack_with_each_error_code);
    tcase_add_test(tc, repeated_correlation_id_is_not_applied_twice);
    tcase_add_test(tc, repeated_command_id_is_applied_once_with_the_first_ack);
    tcase_add_test(tc, command_past_its_deadline_is_refused_as_expired);
    tcase_add_test(tc, command_id_memory_is_bounded_and_forgets_the_oldest);
    tcase_add_test(tc, debounce_collapses_bounces_into_one_change);
    tcase_add_test(tc, counter_turns_pulses_into_rpm);
    tcase_add_test(tc, encoder_counts_detents_both_ways_and_clamps);
    tcase_add_test(tc, publish_policy_deadband_min_and_max_interval);
    tcase_add_test(tc, offline_values_queue_in_a_bounded_ring);
    tcase_add_test(tc, analog_formats_parse_sysfs_text);
    tcase_add_test(tc, analog_polls_a_sysfs_file_at_its_period);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
