/* test_alarm.c - the ISA-18.2 alarm life cycle of the twin engine with a
 * fake clock (every now_ms is chosen by the test): every transition and
 * its event, refused commands, on/off delays, the deadband against a value
 * hovering at its limit, shelving that expires by itself, suppression by
 * design, out of service, the first-out mark, the alarm list order, the
 * alarm lamp driven by "any unacknowledged alarm", and the model errors of
 * the alarm attributes. */
#include "test_twin_fixtures.h"
#include "twins/twin.h"

#include <stdio.h>
#include <unistd.h>

/* ---- recorders ---- */

static char alog[16384]; /* alarm transitions */
static char rlog[65536]; /* raised/cleared rule events */
static char dlog[1024];  /* drive commands */
static size_t nraised;

static const char *abbrev(enum ht_twin_alarm_state s)
{
    static const char *const a[] = {"N", "U", "A", "R", "S", "P", "O"};
    return (unsigned)s <= HT_TWIN_ALARM_OUT_OF_SERVICE ? a[s] : "?";
}

static void append(char *buf, size_t cap, const char *line)
{
    if (strlen(buf) + strlen(line) < cap)
        strcat(buf, line);
}

/* "rule:FROM>TO:cause[:who]@ts;" */
static void on_alarm(const struct ht_twin_alarm_event *ev, void *ud)
{
    (void)ud;
    char line[256];
    snprintf(line, sizeof line, "%s:%s>%s:%s%s%s@%lld;", ev->rule,
             abbrev(ev->from), abbrev(ev->to), ev->cause, ev->who ? ":" : "",
             ev->who ? ev->who : "", (long long)ev->ts);
    append(alog, sizeof alog, line);
    /* The full state travels with the event and agrees with it. */
    ck_assert_str_eq(json_string_value(json_object_get(ev->alarm, "state")),
                     ht_twin_alarm_state_name(ev->to));
    ck_assert_str_eq(json_string_value(json_object_get(ev->alarm, "rule")),
                     ev->rule);
}

static void on_event(const struct ht_twin_event *ev, void *ud)
{
    (void)ud;
    if ((ev->type != HT_TWIN_EV_ALARM_RAISED &&
         ev->type != HT_TWIN_EV_ALARM_CLEARED) ||
        !strcmp(ev->rule, "note")) /* the info rule: not an alarm */
        return;
    char line[128];
    nraised += ev->type == HT_TWIN_EV_ALARM_RAISED;
    snprintf(line, sizeof line, "%s:%s@%lld;",
             ev->type == HT_TWIN_EV_ALARM_RAISED ? "raised" : "cleared",
             ev->rule, (long long)ev->ts);
    append(rlog, sizeof rlog, line);
}

static void on_drive(const char *twin, const struct ht_twin_write *w,
                     int64_t ts, void *ud)
{
    (void)ud;
    (void)ts;
    char line[128];
    snprintf(line, sizeof line, "%s:%s/%s=%s;", twin, w->device, w->prop,
             json_is_true(w->value) ? "on" : "off");
    append(dlog, sizeof dlog, line);
}

static void reset_logs(void)
{
    alog[0] = rlog[0] = dlog[0] = 0;
    nraised = 0;
}

/* ---- fixtures ---- */

/* A tank with a high-level alarm (deadband 5), a low-level alarm (2 s
 * on-delay, 1 s off-delay, suppressed while the pump is off), an info rule
 * (not an alarm) and a lamp driven by unacknowledged alarms. */
static json_t *tank_doc(void)
{
    json_error_t je;
    json_t *d = json_loads(
        "{\"id\":\"tank\",\"title\":\"Tank\",\"components\":[{\"id\":\"t\","
        "\"kind\":\"tank\",\"properties\":["
        "{\"name\":\"level\",\"bind\":\"tank-1/level\",\"type\":\"number\"},"
        "{\"name\":\"pump\",\"bind\":\"tank-1/pump\",\"type\":\"boolean\","
        "\"writable\":true},"
        "{\"name\":\"lamp\",\"bind\":\"tank-1/lamp\",\"type\":\"boolean\","
        "\"writable\":true,\"driven_by\":\"unacknowledged_alarms\"}]}],"
        "\"rules\":["
        "{\"id\":\"high\",\"severity\":\"warning\",\"priority\":\"high\","
        "\"message\":\"Level high\",\"action\":\"Open the drain\","
        "\"expr\":\"t.level > 80\",\"deadband\":5},"
        "{\"id\":\"low\",\"severity\":\"warning\",\"priority\":\"low\","
        "\"message\":\"Level low\",\"expr\":\"t.level < 10\","
        "\"on_delay\":\"2s\",\"off_delay\":\"1s\","
        "\"suppressed_while\":\"not t.pump\"},"
        "{\"id\":\"note\",\"severity\":\"info\",\"message\":\"Pump on\","
        "\"expr\":\"t.pump\"}]}",
        0, &je);
    ck_assert_msg(d, "%s", je.text);
    return d;
}

static struct ht_twin_engine *engine_with(json_t *doc, int64_t now)
{
    struct ht_twin_engine *e = ht_twin_engine_new(on_event, NULL);
    ht_twin_engine_on_alarm(e, on_alarm, NULL);
    ht_twin_engine_on_drive(e, on_drive, NULL);
    char err[256];
    ck_assert_msg(ht_twin_engine_put(e, doc, now, err, sizeof err) == HT_OK,
                  "%s", err);
    json_decref(doc);
    return e;
}

static char cmd_err[256];

static int cmd(struct ht_twin_engine *e, enum ht_twin_alarm_cmd c,
               const char *twin, const char *rule, const char *who,
               int64_t shelve_ms, int64_t now)
{
    struct ht_twin_alarm_req rq = {.twin = twin,
                                   .rule = rule,
                                   .who = who,
                                   .note = "test",
                                   .shelve_ms = shelve_ms};
    cmd_err[0] = 0;
    return ht_twin_engine_alarm_cmd(e, c, &rq, now, cmd_err, sizeof cmd_err);
}

static const char *astate(struct ht_twin_engine *e, const char *twin,
                          const char *rule)
{
    static char buf[64];
    json_t *a = ht_twin_engine_alarm(e, twin, rule);
    ck_assert_ptr_nonnull(a);
    snprintf(buf, sizeof buf, "%s",
             json_string_value(json_object_get(a, "state")));
    json_decref(a);
    return buf;
}

/* ---- the life cycle ---- */

START_TEST(every_transition_is_an_event_with_who_and_when)
{
    reset_logs();
    struct ht_twin_engine *e = engine_with(tank_doc(), 0);
    setbool(e, "tank-1", "pump", true, 10);
    setnum(e, "tank-1", "level", 50, 10);
    ck_assert_str_eq(alog, "");
    ck_assert_str_eq(astate(e, "tank", "high"), "normal");

    /* normal -> active unacknowledged -> active acknowledged -> normal */
    setnum(e, "tank-1", "level", 85, 1000);
    ck_assert_str_eq(alog, "high:N>U:condition@1000;");
    json_t *a = ht_twin_engine_alarm(e, "tank", "high");
    ck_assert(json_is_true(json_object_get(a, "active")));
    ck_assert(json_is_true(json_object_get(a, "unacknowledged")));
    ck_assert(json_is_true(json_object_get(a, "first_out")));
    ck_assert_str_eq(json_string_value(json_object_get(a, "priority")), "high");
    ck_assert_str_eq(json_string_value(json_object_get(a, "action")),
                     "Open the drain");
    ck_assert_int_eq(json_integer_value(json_object_get(a, "raised")), 1000);
    json_decref(a);
    ck_assert_uint_eq(ht_twin_engine_unacked(e, "tank"), 1);
    alog[0] = 0;
    ck_assert_int_eq(cmd(e, HT_TWIN_ACMD_ACK, "tank", "high", "alice", 0, 1100),
                     HT_OK);
    ck_assert_str_eq(alog, "high:U>A:ack:alice@1100;");
    a = ht_twin_engine_alarm(e, "tank", "high");
    ck_assert_str_eq(json_string_value(json_object_get(a, "by")), "alice");
    ck_assert_str_eq(json_string_value(json_object_get(a, "note")), "test");
    ck_assert_int_eq(json_integer_value(json_object_get(a, "since")), 1100);
    json_decref(a);
    ck_assert_uint_eq(ht_twin_engine_unacked(e, "tank"), 0);
    setnum(e, "tank-1", "level", 60, 1200);
    ck_assert_str_eq(alog, "high:U>A:ack:alice@1100;high:A>N:condition@1200;");

    /* normal -> active unack -> returned unack -> active unack (re-alarm)
     * -> returned unack -> normal (acknowledged) */
    alog[0] = 0;
    setnum(e, "tank-1", "level", 85, 1300);
    setnum(e, "tank-1", "level", 60, 1400);
    setnum(e, "tank-1", "level", 85, 1500);
    setnum(e, "tank-1", "level", 60, 1600);
    ck_assert_str_eq(alog, "high:N>U:condition@1300;high:U>R:condition@1400;"
                           "high:R>U:condition@1500;high:U>R:condition@1600;");
    ck_assert_str_eq(astate(e, "tank", "high"), "returned_unacknowledged");
    alog[0] = 0;
    ck_assert_int_eq(cmd(e, HT_TWIN_ACMD_ACK, "tank", "high", "bob", 0, 1700),
                     HT_OK);
    ck_assert_str_eq(alog, "high:R>N:ack:bob@1700;");

    /* out of service (technician) and back: an active condition comes back
     * unacknowledged */
    alog[0] = 0;
    ck_assert_int_eq(
        cmd(e, HT_TWIN_ACMD_OUT_OF_SERVICE, "tank", "high", "tech", 0, 1800),
        HT_OK);
    setnum(e, "tank-1", "level", 90, 1900); /* raises nothing */
    ck_assert_int_eq(
        cmd(e, HT_TWIN_ACMD_IN_SERVICE, "tank", "high", "tech", 0, 2000),
        HT_OK);
    ck_assert_str_eq(alog, "high:N>O:out-of-service:tech@1800;"
                           "high:O>U:in-service:tech@2000;");
    ht_twin_engine_free(e);
}
END_TEST

START_TEST(invalid_transitions_are_refused_with_a_clear_error)
{
    reset_logs();
    struct ht_twin_engine *e = engine_with(tank_doc(), 0);
    setbool(e, "tank-1", "pump", true, 10);
    setnum(e, "tank-1", "level", 50, 10);
    alog[0] = 0;
    ck_assert_int_eq(cmd(e, HT_TWIN_ACMD_ACK, "tank", "high", "op", 0, 20),
                     HT_ESTATE);
    ck_assert_str_eq(cmd_err,
                     "alarm tank/high is normal: nothing to acknowledge");
    ck_assert_int_eq(cmd(e, HT_TWIN_ACMD_UNSHELVE, "tank", "high", "op", 0, 20),
                     HT_ESTATE);
    ck_assert_str_eq(cmd_err, "alarm tank/high is normal: not shelved");
    ck_assert_int_eq(
        cmd(e, HT_TWIN_ACMD_IN_SERVICE, "tank", "high", "op", 0, 20),
        HT_ESTATE);
    ck_assert(strstr(cmd_err, "not out of service"));
    setnum(e, "tank-1", "level", 85, 30);
    ck_assert_int_eq(cmd(e, HT_TWIN_ACMD_ACK, "tank", "high", "op", 0, 40),
                     HT_OK);
    ck_assert_int_eq(cmd(e, HT_TWIN_ACMD_ACK, "tank", "high", "op2", 0, 41),
                     HT_ESTATE);
    ck_assert_str_eq(cmd_err, "alarm tank/high is active_acknowledged: "
                              "nothing to acknowledge");
    ck_assert_int_eq(
        cmd(e, HT_TWIN_ACMD_SHELVE, "tank", "high", "op", 1000, 50), HT_OK);
    ck_assert_int_eq(
        cmd(e, HT_TWIN_ACMD_SHELVE, "tank", "high", "op", 1000, 51), HT_ESTATE);
    ck_assert_str_eq(cmd_err, "alarm tank/high is shelved: unshelve it first");
    ck_assert_int_eq(cmd(e, HT_TWIN_ACMD_ACK, "tank", "high", "op", 0, 52),
                     HT_ESTATE);
    ck_assert_int_eq(
        cmd(e, HT_TWIN_ACMD_OUT_OF_SERVICE, "tank", "high", "tech", 0, 53),
        HT_OK);
    ck_assert_int_eq(
        cmd(e, HT_TWIN_ACMD_SHELVE, "tank", "high", "op", 1000, 54), HT_ESTATE);
    ck_assert(strstr(cmd_err, "is out_of_service: not annunciated"));
    ck_assert_int_eq(
        cmd(e, HT_TWIN_ACMD_OUT_OF_SERVICE, "tank", "high", "tech", 0, 55),
        HT_ESTATE);
    ck_assert(strstr(cmd_err, "already out of service"));
    /* Bad requests: nothing changes, nothing is reported. */
    alog[0] = 0;
    ck_assert_int_eq(cmd(e, HT_TWIN_ACMD_ACK, "nope", "high", "op", 0, 60),
                     HT_ENOENT);
    ck_assert_str_eq(cmd_err, "no twin \"nope\"");
    ck_assert_int_eq(cmd(e, HT_TWIN_ACMD_ACK, "tank", "nope", "op", 0, 60),
                     HT_ENOENT);
    ck_assert_str_eq(cmd_err, "twin tank has no rule \"nope\"");
    ck_assert_int_eq(cmd(e, HT_TWIN_ACMD_ACK, "tank", "note", "op", 0, 60),
                     HT_EINVAL);
    ck_assert(strstr(cmd_err, "is not an alarm"));
    ck_assert_int_eq(
        cmd(e, HT_TWIN_ACMD_IN_SERVICE, "tank", "high", NULL, 0, 60),
        HT_EINVAL);
    ck_assert_int_eq(cmd(e, HT_TWIN_ACMD_IN_SERVICE, "tank", "high", "", 0, 60),
                     HT_EINVAL);
    ck_assert_int_eq(
        cmd(e, HT_TWIN_ACMD_IN_SERVICE, "tank", "high", "tech", 0, 61), HT_OK);
    ck_assert_int_eq(cmd(e, HT_TWIN_ACMD_SHELVE, "tank", "high", "op", 0, 62),
                     HT_EINVAL);
    ck_assert_int_eq(cmd(e, HT_TWIN_ACMD_SHELVE, "tank", "high", "op",
                         HT_TWIN_MAX_SHELVE_MS + 1, 62),
                     HT_EINVAL);
    ck_assert_str_eq(cmd_err, "a shelf lasts from 1 ms to 24 h");
    ck_assert_str_eq(alog, "high:O>U:in-service:tech@61;");
    ck_assert_ptr_null(ht_twin_engine_alarm(e, "tank", "note"));
    ck_assert_ptr_null(ht_twin_engine_alarm(e, "tank", "nope"));
    /* Command names round-trip. */
    enum ht_twin_alarm_cmd c;
    ck_assert_int_eq(ht_twin_alarm_cmd_parse("out-of-service", &c), HT_OK);
    ck_assert_int_eq(c, HT_TWIN_ACMD_OUT_OF_SERVICE);
    ck_assert_int_eq(ht_twin_alarm_cmd_parse("acknowledge", &c), HT_EINVAL);
    ck_assert_str_eq(ht_twin_alarm_cmd_name(HT_TWIN_ACMD_UNSHELVE), "unshelve");
    enum ht_twin_alarm_state st;
    ck_assert_int_eq(ht_twin_alarm_state_parse("active_acknowledged", &st),
                     HT_OK);
    ck_assert_int_eq(st, HT_TWIN_ALARM_ACTIVE_ACKED);
    ht_twin_engine_free(e);
}
END_TEST

/* A level hovering around 80 (±3) for 200 samples with a deadband of 5:
 * one alarm, not a hundred. The same samples without the deadband chatter
 * (that half shows the test can fail). */
START_TEST(deadband_raises_one_alarm_for_a_hovering_value)
{
    for (int with_db = 1; with_db >= 0; with_db--) {
        reset_logs();
        json_t *doc = tank_doc();
        if (!with_db)
            json_object_del(json_array_get(json_object_get(doc, "rules"), 0),
                            "deadband");
        struct ht_twin_engine *e = engine_with(doc, 0);
        setbool(e, "tank-1", "pump", true, 1);
        for (int i = 0; i < 200; i++)
            setnum(e, "tank-1", "level", i % 2 ? 77.5 : 82.5, 100 + i * 10);
        size_t transitions = 0;
        for (const char *p = alog; (p = strstr(p, "high:")); p++)
            transitions++;
        if (with_db) {
            ck_assert_uint_eq(nraised, 1);
            ck_assert_str_eq(alog, "high:N>U:condition@100;");
            /* Below the limit minus the deadband, it returns. */
            setnum(e, "tank-1", "level", 74.9, 5000);
            ck_assert_str_eq(alog, "high:N>U:condition@100;"
                                   "high:U>R:condition@5000;");
        } else {
            ck_assert_uint_eq(nraised, 100);
            ck_assert_uint_ge(transitions, 199);
        }
        ht_twin_engine_free(e);
    }
}
END_TEST

START_TEST(on_and_off_delays_follow_the_fake_clock)
{
    reset_logs();
    struct ht_twin_engine *e = engine_with(tank_doc(), 0);
    setbool(e, "tank-1", "pump", true, 0);
    setnum(e, "tank-1", "level", 50, 0);
    ck_assert_int_eq(ht_twin_engine_next_deadline(e), -1);
    setnum(e, "tank-1", "level", 5, 1000);
    ck_assert_int_eq(ht_twin_engine_next_deadline(e), 3000);
    ht_twin_engine_tick(e, 2999);
    ck_assert_str_eq(alog, "");
    ht_twin_engine_tick(e, 3000);
    ck_assert_str_eq(alog, "low:N>U:condition@3000;");
    ck_assert_int_eq(ht_twin_engine_next_deadline(e), -1);
    /* Off-delay: back above 10 at 4000, returns only at 5000... */
    setnum(e, "tank-1", "level", 50, 4000);
    ck_assert_int_eq(ht_twin_engine_next_deadline(e), 5000);
    /* ...unless it drops again: the off-delay starts over. */
    setnum(e, "tank-1", "level", 5, 4500);
    ck_assert_int_eq(ht_twin_engine_next_deadline(e), -1);
    setnum(e, "tank-1", "level", 50, 4600);
    ck_assert_int_eq(ht_twin_engine_next_deadline(e), 5600);
    ht_twin_engine_tick(e, 5599);
    ck_assert_str_eq(alog, "low:N>U:condition@3000;");
    ck_assert_str_eq(rlog, "raised:low@3000;");
    ht_twin_engine_tick(e, 5600);
    ck_assert_str_eq(alog, "low:N>U:condition@3000;low:U>R:condition@5600;");
    ck_assert_str_eq(rlog, "raised:low@3000;cleared:low@5600;");
    ck_assert_int_eq(ht_twin_engine_next_deadline(e), -1);
    ht_twin_engine_free(e);
}
END_TEST

START_TEST(a_shelf_expires_by_itself)
{
    reset_logs();
    struct ht_twin_engine *e = engine_with(tank_doc(), 0);
    setbool(e, "tank-1", "pump", true, 0);
    setnum(e, "tank-1", "level", 85, 1000);
    alog[0] = 0;
    ck_assert_int_eq(
        cmd(e, HT_TWIN_ACMD_SHELVE, "tank", "high", "alice", 60000, 2000),
        HT_OK);
    ck_assert_str_eq(alog, "high:U>S:shelve:alice@2000;");
    json_t *a = ht_twin_engine_alarm(e, "tank", "high");
    ck_assert_int_eq(json_integer_value(json_object_get(a, "shelved_until")),
                     62000);
    json_decref(a);
    ck_assert_int_eq(ht_twin_engine_next_deadline(e), 62000);
    /* The condition moves while shelved: nothing is annunciated. */
    setnum(e, "tank-1", "level", 60, 3000);
    setnum(e, "tank-1", "level", 90, 4000);
    ht_twin_engine_tick(e, 61999);
    ck_assert_str_eq(alog, "high:U>S:shelve:alice@2000;");
    ht_twin_engine_tick(e, 62000);
    ck_assert_str_eq(alog, "high:U>S:shelve:alice@2000;"
                           "high:S>U:shelve-expired@62000;");
    ck_assert_int_eq(ht_twin_engine_next_deadline(e), -1);
    /* Unshelved by hand while the condition is gone: back to normal. */
    setnum(e, "tank-1", "level", 50, 63000);
    ck_assert_int_eq(cmd(e, HT_TWIN_ACMD_ACK, "tank", "high", "bob", 0, 63100),
                     HT_OK);
    ck_assert_int_eq(
        cmd(e, HT_TWIN_ACMD_SHELVE, "tank", "high", "bob", 1000, 64000), HT_OK);
    alog[0] = 0;
    ck_assert_int_eq(
        cmd(e, HT_TWIN_ACMD_UNSHELVE, "tank", "high", "bob", 0, 64500), HT_OK);
    ck_assert_str_eq(alog, "high:S>N:unshelve:bob@64500;");
    ck_assert_int_eq(ht_twin_engine_next_deadline(e), -1);
    ht_twin_engine_free(e);
}
END_TEST

START_TEST(suppressed_while_its_condition_holds)
{
    reset_logs();
    struct ht_twin_engine *e = engine_with(tank_doc(), 0);
    /* Pump off: the low-level alarm is suppressed by design. */
    setbool(e, "tank-1", "pump", false, 100);
    setnum(e, "tank-1", "level", 5, 100);
    ck_assert_str_eq(alog, "low:N>P:suppressed@100;");
    json_t *a = ht_twin_engine_alarm(e, "tank", "low");
    ck_assert(json_is_true(json_object_get(a, "suppressed")));
    json_decref(a);
    ht_twin_engine_tick(e, 2100); /* the condition holds 2 s: still quiet */
    ck_assert_str_eq(alog, "low:N>P:suppressed@100;");
    ck_assert_uint_eq(ht_twin_engine_unacked(e, "tank"), 0);
    /* Shelving a suppressed alarm makes no sense. */
    ck_assert_int_eq(
        cmd(e, HT_TWIN_ACMD_SHELVE, "tank", "low", "op", 1000, 2200),
        HT_ESTATE);
    /* Pump on: the alarm comes out of suppression, active. */
    setbool(e, "tank-1", "pump", true, 3000);
    ck_assert_str_eq(alog, "low:N>P:suppressed@100;"
                           "low:P>U:unsuppressed@3000;");
    /* An unknown suppression input does not hide the alarm. */
    alog[0] = 0;
    ck_assert_int_eq(ht_twin_engine_set_value(e, "tank-1", "pump", NULL, 3100),
                     HT_OK);
    ck_assert_str_eq(astate(e, "tank", "low"), "active_unacknowledged");
    ht_twin_engine_free(e);
}
END_TEST

START_TEST(first_out_and_the_list_order)
{
    reset_logs();
    struct ht_twin_engine *e = engine_with(tank_doc(), 0);
    json_t *doc = tank_doc();
    json_object_set_new(doc, "id", json_string("tank2"));
    ck_assert_int_eq(ht_twin_engine_put(e, doc, 0, NULL, 0), HT_OK);
    json_decref(doc);
    setbool(e, "tank-1", "pump", true, 0);
    setnum(e, "tank-1", "level", 5, 0);
    ht_twin_engine_tick(e, 2000);           /* low raises first in both twins */
    setnum(e, "tank-1", "level", 95, 3000); /* ...then high */
    json_t *l = ht_twin_engine_alarms(e, "tank", false);
    ck_assert_uint_eq(json_array_size(l), 2);
    json_t *h = json_array_get(l, 0), *lo = json_array_get(l, 1);
    ck_assert_str_eq(json_string_value(json_object_get(h, "rule")), "high");
    ck_assert(json_is_false(json_object_get(h, "first_out")));
    ck_assert(json_is_true(json_object_get(lo, "first_out")));
    /* low returned unacknowledged at 3000 (level 95): still first out */
    ck_assert_str_eq(json_string_value(json_object_get(lo, "state")),
                     "active_unacknowledged");
    json_decref(l);
    l = ht_twin_engine_alarms(e, NULL, false);
    ck_assert_uint_eq(json_array_size(l), 4);
    /* high (priority high) of both twins before low, tank before tank2 */
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(l, 0), "twin")),
        "tank");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(l, 1), "twin")),
        "tank2");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(l, 2), "rule")),
        "low");
    json_decref(l);
    l = ht_twin_engine_alarms(e, "tank", true);
    ck_assert_uint_eq(json_array_size(l), 2); /* "note" is not an alarm */
    json_decref(l);
    /* The state document names the life cycle of alarm rules only. */
    json_t *st = ht_twin_engine_state(e, "tank");
    json_t *rules = json_object_get(st, "rules");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(rules, "high"), "alarm")),
                     "active_unacknowledged");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(rules, "high"), "priority")),
                     "high");
    ck_assert_ptr_null(
        json_object_get(json_object_get(rules, "note"), "alarm"));
    json_decref(st);
    ht_twin_engine_free(e);
}
END_TEST

/* The press line's alarm lamp follows "any unacknowledged alarm": on with
 * the gears' alarm, off once it is acknowledged though still active, and
 * commanded again when the board reports something else. */
START_TEST(press_line_lamp_follows_unacknowledged_alarms)
{
    reset_logs();
    struct ht_twin_engine *e =
        engine_with(load_json("twins/virtual-factory/press-line.json"), 0);
    ck_assert_str_eq(dlog, "press-line:panel-1/alarm_lamp=off;");
    dlog[0] = 0;
    setbool(e, "gears-1", "motor_a_enable", true, 1000);
    setbool(e, "gears-1", "motor_b_enable", true, 1000);
    setnum(e, "gears-1", "gear_a_speed", 60, 1000);
    setnum(e, "gears-1", "gear_b_speed", 95, 1000);
    ck_assert_str_eq(alog, "gears-aligned:N>U:condition@1000;");
    ck_assert_str_eq(dlog, "press-line:panel-1/alarm_lamp=on;");
    /* The board restarts with its lamp off: the twin puts it back on. */
    setbool(e, "panel-1", "alarm_lamp", false, 1500);
    ck_assert_str_eq(dlog, "press-line:panel-1/alarm_lamp=on;"
                           "press-line:panel-1/alarm_lamp=on;");
    dlog[0] = 0;
    setbool(e, "panel-1", "alarm_lamp", true, 1600); /* agrees: quiet */
    ck_assert_int_eq(
        cmd(e, HT_TWIN_ACMD_ACK, "press-line", "gears-aligned", "op", 0, 2000),
        HT_OK);
    ck_assert_str_eq(dlog, "press-line:panel-1/alarm_lamp=off;");
    /* Priorities and delays of the demo. */
    json_t *st = ht_twin_engine_state(e, "press-line");
    json_t *rules = json_object_get(st, "rules");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(rules, "overheating"), "priority")),
                     "critical");
    ck_assert_ptr_null(
        json_object_get(json_object_get(rules, "line-stopped"), "alarm"));
    json_decref(st);
    const struct ht_twin_model *m = ht_twin_engine_model(e, "press-line");
    ck_assert_int_eq(m->rules[2].for_ms, 5000); /* overheating */
    ck_assert_int_eq(m->rules[1].off_delay_ms, 2000);
    /* Both motors off: the gears' alarm is suppressed by design. */
    alog[0] = 0;
    setbool(e, "gears-1", "motor_a_enable", false, 3000);
    setbool(e, "gears-1", "motor_b_enable", false, 3000);
    ck_assert(strstr(alog, "gears-aligned:A>P:suppressed@3000;"));
    ht_twin_engine_free(e);
}
END_TEST

/* A replacement keeps an alarm's life cycle under its rule id; an alarm
 * whose rule disappears returns to normal with cause "removed". */
START_TEST(replace_keeps_the_life_cycle)
{
    reset_logs();
    struct ht_twin_engine *e = engine_with(tank_doc(), 0);
    setbool(e, "tank-1", "pump", true, 0);
    setnum(e, "tank-1", "level", 85, 100);
    ck_assert_int_eq(cmd(e, HT_TWIN_ACMD_ACK, "tank", "high", "op", 0, 200),
                     HT_OK);
    alog[0] = 0;
    json_t *doc = tank_doc();
    json_object_set_new(doc, "title", json_string("Tank 2"));
    ck_assert_int_eq(ht_twin_engine_put(e, doc, 300, NULL, 0), HT_OK);
    ck_assert_str_eq(alog, "");
    ck_assert_str_eq(astate(e, "tank", "high"), "active_acknowledged");
    json_array_remove(json_object_get(doc, "rules"), 0);
    ck_assert_int_eq(ht_twin_engine_put(e, doc, 400, NULL, 0), HT_OK);
    json_decref(doc);
    ck_assert_str_eq(alog, "high:A>N:removed@400;");
    ht_twin_engine_free(e);
}
END_TEST

/* A lost input is no evidence that an alarm returned: an unknown
 * condition holds the life cycle (the rule itself is cleared, as before). */
START_TEST(an_unknown_condition_holds_the_alarm)
{
    reset_logs();
    struct ht_twin_engine *e = engine_with(tank_doc(), 0);
    setbool(e, "tank-1", "pump", true, 0);
    setnum(e, "tank-1", "level", 85, 100);
    ck_assert_int_eq(ht_twin_engine_set_device_status(e, "tank-1", false, 200),
                     HT_OK);
    ck_assert_str_eq(rlog, "raised:high@100;cleared:high@200;");
    ck_assert_str_eq(alog, "high:N>U:condition@100;");
    ck_assert_str_eq(astate(e, "tank", "high"), "active_unacknowledged");
    ck_assert_str_eq(dlog, "tank:tank-1/lamp=off;tank:tank-1/lamp=on;");
    ck_assert_int_eq(ht_twin_engine_set_device_status(e, "tank-1", true, 300),
                     HT_OK);
    setnum(e, "tank-1", "level", 50, 400);
    ck_assert_str_eq(alog, "high:N>U:condition@100;high:U>R:condition@400;");
    ht_twin_engine_free(e);
}
END_TEST

/* After a restart the gateway restores each alarm's last state: an
 * acknowledged alarm stays acknowledged, a shelf keeps its expiry. */
START_TEST(a_restart_restores_the_life_cycle)
{
    reset_logs();
    struct ht_twin_engine *e = engine_with(tank_doc(), 0);
    ck_assert_str_eq(dlog, "tank:tank-1/lamp=off;");
    json_t *acked =
        json_pack("{s:s, s:I, s:s, s:b}", "state", "active_acknowledged",
                  "since", (json_int_t)500, "by", "alice", "first_out", 1);
    json_t *shelved =
        json_pack("{s:s, s:I, s:I}", "state", "shelved", "since",
                  (json_int_t)600, "shelved_until", (json_int_t)10000);
    json_t *unack = json_pack("{s:s, s:I}", "state", "returned_unacknowledged",
                              "since", (json_int_t)700);
    json_t *normal =
        json_pack("{s:s, s:I}", "state", "normal", "since", (json_int_t)800);
    ck_assert_int_eq(
        ht_twin_engine_alarm_restore(e, "tank", "high", acked, 1000), HT_OK);
    ck_assert_int_eq(
        ht_twin_engine_alarm_restore(e, "tank", "low", shelved, 1000), HT_OK);
    ck_assert_str_eq(alog, "");
    json_t *a = ht_twin_engine_alarm(e, "tank", "high");
    ck_assert_str_eq(json_string_value(json_object_get(a, "by")), "alice");
    ck_assert(json_is_true(json_object_get(a, "first_out")));
    ck_assert_int_eq(json_integer_value(json_object_get(a, "since")), 500);
    json_decref(a);
    ck_assert_int_eq(ht_twin_engine_next_deadline(e), 10000);
    /* Values arrive: still acknowledged, no fresh annunciation. */
    setbool(e, "tank-1", "pump", true, 2000);
    setnum(e, "tank-1", "level", 85, 2000);
    ck_assert_str_eq(alog, "");
    ht_twin_engine_tick(e, 10000);
    ck_assert_str_eq(alog, "low:S>N:shelve-expired@10000;");
    setnum(e, "tank-1", "level", 50, 11000);
    ck_assert_str_eq(alog, "low:S>N:shelve-expired@10000;"
                           "high:A>N:condition@11000;");
    /* An unacknowledged alarm lights the lamp again after the restart. */
    dlog[0] = 0;
    ck_assert_int_eq(
        ht_twin_engine_alarm_restore(e, "tank", "high", unack, 12000), HT_OK);
    ck_assert_str_eq(dlog, "tank:tank-1/lamp=on;");
    /* Restored as normal while its condition is active (the values came
     * first): reconciled at once, with the event. */
    alog[0] = 0;
    setnum(e, "tank-1", "level", 85, 12100);
    ck_assert_int_eq(
        ht_twin_engine_alarm_restore(e, "tank", "high", normal, 12200), HT_OK);
    ck_assert_str_eq(alog, "high:R>U:condition@12100;"
                           "high:N>U:condition@12200;");
    /* Refused: unknown rule, an info rule, a bad state. */
    ck_assert_int_eq(ht_twin_engine_alarm_restore(e, "tank", "nope", acked, 1),
                     HT_ENOENT);
    ck_assert_int_eq(ht_twin_engine_alarm_restore(e, "tank", "note", acked, 1),
                     HT_ENOENT);
    json_object_set_new(acked, "state", json_string("bogus"));
    ck_assert_int_eq(ht_twin_engine_alarm_restore(e, "tank", "high", acked, 1),
                     HT_EINVAL);
    json_object_del(shelved, "shelved_until");
    ck_assert_int_eq(ht_twin_engine_alarm_restore(e, "tank", "low", shelved, 1),
                     HT_EINVAL);
    json_decref(acked);
    json_decref(shelved);
    json_decref(unack);
    json_decref(normal);
    ht_twin_engine_free(e);
}
END_TEST

static void expect_model_error(const char *rule_json, const char *want)
{
    json_t *doc = tank_doc();
    json_error_t je;
    json_t *r = json_loads(rule_json, 0, &je);
    ck_assert_msg(r, "%s", je.text);
    json_array_append_new(json_object_get(doc, "rules"), r);
    struct ht_twin_model *m = NULL;
    char err[256];
    int rc = ht_twin_model_parse(doc, &m, err, sizeof err, NULL, 0);
    ck_assert_msg(rc != HT_OK, "accepted %s", rule_json);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err, want), "%s: got \"%s\"", rule_json, err);
    json_decref(doc);
}

START_TEST(alarm_attributes_are_validated)
{
    expect_model_error("{\"id\":\"x\",\"severity\":\"warning\",\"message\":"
                       "\"m\",\"expr\":\"t.level > 1 for 1s\","
                       "\"on_delay\":\"2s\"}",
                       "/rules/3/on_delay: the expression already has");
    expect_model_error("{\"id\":\"x\",\"severity\":\"warning\",\"message\":"
                       "\"m\",\"expr\":\"t.pump\",\"deadband\":1}",
                       "/rules/3/deadband: needs a comparison");
    expect_model_error("{\"id\":\"x\",\"severity\":\"warning\",\"message\":"
                       "\"m\",\"expr\":\"t.level > 1\",\"deadband\":-1}",
                       "/rules/3/deadband: must not be negative");
    expect_model_error(
        "{\"id\":\"x\",\"severity\":\"warning\",\"message\":"
        "\"m\",\"expr\":\"t.level > 1\",\"priority\":\"urgent\"}",
        "/rules/3/priority: must be critical, high, medium or "
        "low");
    expect_model_error("{\"id\":\"x\",\"severity\":\"warning\",\"message\":"
                       "\"m\",\"expr\":\"t.level > 1\",\"off_delay\":\"5h\"}",
                       "/rules/3/off_delay: must be a duration");
    expect_model_error("{\"id\":\"x\",\"severity\":\"warning\",\"message\":"
                       "\"m\",\"expr\":\"t.level > 1\",\"on_delay\":\"1e3s\"}",
                       "/rules/3/on_delay: must be a duration");
    expect_model_error("{\"id\":\"x\",\"severity\":\"warning\",\"message\":"
                       "\"m\",\"expr\":\"t.level > 1\",\"off_delay\":\"25m\","
                       "\"suppressed_while\":\"t.nope\"}",
                       "/rules/3/suppressed_while: at 0: unknown property");
    expect_model_error("{\"id\":\"x\",\"severity\":\"warning\",\"message\":"
                       "\"m\",\"expr\":\"t.level > 1\","
                       "\"suppressed_while\":\"t.pump for 1s\"}",
                       "/rules/3/suppressed_while: a suppression condition");
    expect_model_error("{\"id\":\"x\",\"severity\":\"warning\",\"message\":"
                       "\"m\",\"expr\":\"t.level > 1\","
                       "\"suppressed_while\":\"t.level\"}",
                       "/rules/3/suppressed_while: at 0: a rule must be a "
                       "condition");
    expect_model_error("{\"id\":\"x\",\"severity\":\"info\",\"message\":"
                       "\"m\",\"expr\":\"t.level > 1\",\"off_delay\":\"1s\"}",
                       "/rules/3: off_delay, deadband and suppressed_while "
                       "need an alarm");
    /* driven_by needs a writable boolean */
    json_t *doc = tank_doc();
    json_t *p = json_array_get(
        json_object_get(json_array_get(json_object_get(doc, "components"), 0),
                        "properties"),
        0);
    json_object_set_new(p, "driven_by", json_string("active_alarms"));
    struct ht_twin_model *m = NULL;
    char err[256];
    ck_assert_int_eq(ht_twin_model_parse(doc, &m, err, sizeof err, NULL, 0),
                     HT_EINVAL);
    ck_assert_str_eq(err, "/components/0/properties/0/driven_by: needs a "
                          "writable property of type boolean");
    json_decref(doc);
    /* The accepted forms. */
    doc = tank_doc();
    ck_assert_int_eq(ht_twin_model_parse(doc, &m, err, sizeof err, NULL, 0),
                     HT_OK);
    ck_assert(m->rules[0].alarm);
    ck_assert_int_eq(m->rules[0].priority, HT_TWIN_PRIO_HIGH);
    ck_assert(m->rules[0].deadband == 5);
    ck_assert_int_eq(m->rules[1].for_ms, 2000);
    ck_assert_int_eq(m->rules[1].off_delay_ms, 1000);
    ck_assert(!m->rules[2].alarm);
    ht_twin_model_free(m);
    json_decref(doc);
    /* Without a priority, a warning is high and a critical is critical. */
    doc = tank_doc();
    json_t *r0 = json_array_get(json_object_get(doc, "rules"), 0);
    json_object_del(r0, "priority");
    ck_assert_int_eq(ht_twin_model_parse(doc, &m, err, sizeof err, NULL, 0),
                     HT_OK);
    ck_assert_int_eq(m->rules[0].priority, HT_TWIN_PRIO_HIGH);
    ck_assert_int_eq(m->comps[0].props[2].drive, HT_TWIN_DRIVE_UNACKED);
    ht_twin_model_free(m);
    json_decref(doc);
}
END_TEST

/* The JSON Schema accepts every alarm attribute (the C parser and the
 * schema must agree). */
START_TEST(the_schema_knows_the_alarm_attributes)
{
    char path[] = "/tmp/ht-alarm-XXXXXX.json";
    int fd = mkstemps(path, 5);
    ck_assert_int_ge(fd, 0);
    close(fd);
    json_t *doc = tank_doc();
    ck_assert_int_eq(json_dump_file(doc, path, 0), 0);
    json_decref(doc);
    char *pl = src_path("twins/virtual-factory/press-line.json");
    char *files = ht_asprintf("'%s' '%s'", path, pl);
    ck_assert_int_eq(run_validator("twins/schema/twin.schema.json", files), 0);
    free(files);
    free(pl);
    unlink(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("alarm");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, every_transition_is_an_event_with_who_and_when);
    tcase_add_test(tc, invalid_transitions_are_refused_with_a_clear_error);
    tcase_add_test(tc, deadband_raises_one_alarm_for_a_hovering_value);
    tcase_add_test(tc, on_and_off_delays_follow_the_fake_clock);
    tcase_add_test(tc, a_shelf_expires_by_itself);
    tcase_add_test(tc, suppressed_while_its_condition_holds);
    tcase_add_test(tc, first_out_and_the_list_order);
    tcase_add_test(tc, press_line_lamp_follows_unacknowledged_alarms);
    tcase_add_test(tc, replace_keeps_the_life_cycle);
    tcase_add_test(tc, alarm_attributes_are_validated);
    tcase_add_test(tc, an_unknown_condition_holds_the_alarm);
    tcase_add_test(tc, a_restart_restores_the_life_cycle);
    tcase_add_test(tc, the_schema_knows_the_alarm_attributes);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
