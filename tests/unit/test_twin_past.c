/* test_twin_past.c - the twin's state at an instant (ht_twin_state_at),
 * against a live engine driven by a fake clock: at every checkpoint the
 * state rebuilt from what a gateway records (values, presence transitions,
 * the alarm journal) must equal what the live engine reported then. */
#include "test_twin_fixtures.h"
#include "twins/twin.h"

#include <stdio.h>

/* What the gateway records, in memory. */
struct rec_value {
    char dev[32], prop[32];
    json_t *v;
    int64_t ts;
};
struct rec_status {
    char dev[32];
    bool online;
    int64_t ts;
};
/* A quality change no value row records: confirmed (good) or stale. */
struct rec_quality {
    char dev[32], prop[32];
    bool good;
    int64_t ts;
};
struct rec_alarm {
    char rule[64];
    int64_t ts;
    json_t *state;
};
struct rec {
    struct rec_value vals[256];
    size_t nvals;
    struct rec_status sts[16];
    size_t nsts;
    struct rec_alarm alarms[64];
    size_t nalarms;
    struct rec_quality qs[16];
    size_t nqs;
};

static void on_alarm(const struct ht_twin_alarm_event *ev, void *ud)
{
    struct rec *r = ud;
    ck_assert_uint_lt(r->nalarms, 64);
    struct rec_alarm *a = &r->alarms[r->nalarms++];
    snprintf(a->rule, sizeof a->rule, "%s", ev->rule);
    a->ts = ev->ts;
    a->state = json_deep_copy(ev->alarm);
}

static void val(struct ht_twin_engine *e, struct rec *r, const char *d,
                const char *p, json_t *v, int64_t now)
{
    ck_assert_int_eq(ht_twin_engine_set_value(e, d, p, v, now), HT_OK);
    ck_assert_uint_lt(r->nvals, 256);
    struct rec_value *x = &r->vals[r->nvals++];
    snprintf(x->dev, sizeof x->dev, "%s", d);
    snprintf(x->prop, sizeof x->prop, "%s", p);
    x->v = v;
    x->ts = now;
}

static void status(struct ht_twin_engine *e, struct rec *r, const char *d,
                   bool online, int64_t now)
{
    ht_twin_engine_set_device_status(e, d, online, now);
    struct rec_status *s = &r->sts[r->nsts++];
    snprintf(s->dev, sizeof s->dev, "%s", d);
    s->online = online;
    s->ts = now;
}

/* The board's snapshot after a reconnect: the same value again (no value
 * row), or a heartbeat missed: the gateway journals the quality change. */
static void quality(struct ht_twin_engine *e, struct rec *r, const char *d,
                    const char *p, bool good, int64_t now)
{
    if (good) {
        const json_t *v = NULL;
        for (size_t i = 0; i < r->nvals; i++)
            if (!strcmp(r->vals[i].dev, d) && !strcmp(r->vals[i].prop, p))
                v = r->vals[i].v;
        ck_assert_ptr_nonnull(v);
        ck_assert_int_eq(ht_twin_engine_set_value(e, d, p, v, now), HT_OK);
    } else {
        ck_assert_int_eq(ht_twin_engine_set_stale(e, d, p, now), HT_OK);
    }
    struct rec_quality *q = &r->qs[r->nqs++];
    snprintf(q->dev, sizeof q->dev, "%s", d);
    snprintf(q->prop, sizeof q->prop, "%s", p);
    q->good = good;
    q->ts = now;
}

/* Rebuild at `at` from the records as the gateway queries them: the
 * newest value of each property, the last offline and online transition
 * of each device, the newest journaled state of each alarm. */
static json_t *rebuild(const json_t *doc, const struct rec *r, int64_t at)
{
    struct ht_twin_past_value pv[256];
    size_t npv = 0;
    for (size_t i = 0; i < r->nvals; i++) {
        if (r->vals[i].ts > at)
            continue;
        size_t k = 0;
        while (k < npv && (strcmp(pv[k].device, r->vals[i].dev) ||
                           strcmp(pv[k].prop, r->vals[i].prop)))
            k++;
        if (k == npv)
            npv++;
        pv[k] = (struct ht_twin_past_value){
            r->vals[i].dev, r->vals[i].prop, r->vals[i].v, r->vals[i].ts, 0, 0};
    }
    for (size_t i = 0; i < r->nqs; i++)
        for (size_t k = 0; k < npv && r->qs[i].ts <= at; k++)
            if (!strcmp(pv[k].device, r->qs[i].dev) &&
                !strcmp(pv[k].prop, r->qs[i].prop))
                *(r->qs[i].good ? &pv[k].good_ts : &pv[k].stale_ts) =
                    r->qs[i].ts;
    struct ht_twin_past_status ps[16];
    size_t nps = 0;
    for (size_t i = 0; i < r->nsts; i++) {
        if (r->sts[i].ts > at)
            continue;
        size_t k = 0;
        while (k < nps && (strcmp(ps[k].device, r->sts[i].dev) ||
                           ps[k].online != r->sts[i].online))
            k++;
        if (k == nps)
            nps++;
        ps[k] = (struct ht_twin_past_status){r->sts[i].dev, r->sts[i].online,
                                             r->sts[i].ts};
    }
    json_t *alarms = json_object();
    for (size_t i = 0; i < r->nalarms; i++)
        if (r->alarms[i].ts <= at)
            json_object_set(alarms, r->alarms[i].rule, r->alarms[i].state);
    char err[256];
    json_t *st =
        ht_twin_state_at(doc, pv, npv, ps, nps, alarms, at, err, sizeof err);
    ck_assert_msg(st, "%s", err);
    json_decref(alarms);
    return st;
}

/* The parts a client shows: values and their quality, rule and alarm
 * states, the active alarms, stability. */
static void assert_same(const json_t *live, const json_t *past, int64_t at)
{
    const char *k;
    json_t *lp;
    json_t *pp = json_object_get(past, "properties");
    ck_assert_uint_eq(json_object_size(pp),
                      json_object_size(json_object_get(live, "properties")));
    json_object_foreach(json_object_get(live, "properties"), k, lp)
    {
        json_t *p = json_object_get(pp, k);
        ck_assert_msg(p, "t=%lld: %s missing", (long long)at, k);
        ck_assert_msg(json_equal(json_object_get(lp, "value"),
                                 json_object_get(p, "value")),
                      "t=%lld: %s value differs", (long long)at, k);
        ck_assert_str_eq(json_string_value(json_object_get(lp, "quality")),
                         json_string_value(json_object_get(p, "quality")));
    }
    json_t *lr;
    json_object_foreach(json_object_get(live, "rules"), k, lr)
    {
        json_t *pr = json_object_get(json_object_get(past, "rules"), k);
        ck_assert_msg(json_equal(lr, pr), "t=%lld: rule %s: %s vs %s",
                      (long long)at, k, json_dumps(lr, JSON_COMPACT),
                      json_dumps(pr, JSON_COMPACT));
    }
    json_t *la = json_object_get(live, "alarms"),
           *pa = json_object_get(past, "alarms");
    ck_assert_uint_eq(json_array_size(la), json_array_size(pa));
    for (size_t i = 0; i < json_array_size(la); i++)
        ck_assert_msg(json_equal(json_array_get(la, i), json_array_get(pa, i)),
                      "t=%lld: alarm %zu differs", (long long)at, i);
    ck_assert_int_eq(json_is_true(json_object_get(live, "stable")),
                     json_is_true(json_object_get(past, "stable")));
}

START_TEST(state_at_equals_live_state)
{
    json_t *doc = load_json("twins/virtual-factory/press-line.json");
    struct rec *r = ht_calloc(1, sizeof *r);
    struct ht_twin_engine *e = ht_twin_engine_new(NULL, NULL);
    ht_twin_engine_on_alarm(e, on_alarm, r);
    char err[256];
    ck_assert_int_eq(ht_twin_engine_put(e, doc, 0, err, sizeof err), HT_OK);
    json_t *live[32];
    int64_t at[32];
    size_t n = 0;
#define CHECKPOINT(t)                                                          \
    do {                                                                       \
        ht_twin_engine_tick(e, (t));                                           \
        at[n] = (t);                                                           \
        live[n++] = ht_twin_engine_state(e, "press-line");                     \
    } while (0)
    CHECKPOINT(500); /* nothing known yet */
    val(e, r, "gears-1", "motor_a_enable", json_true(), 1000);
    val(e, r, "gears-1", "gear_a_speed", json_real(60), 1000);
    val(e, r, "gears-1", "motor_b_enable", json_true(), 1000);
    val(e, r, "gears-1", "gear_b_speed", json_real(95), 1000);
    val(e, r, "thermal-1", "heater", json_true(), 1000);
    val(e, r, "thermal-1", "fan", json_false(), 1000);
    val(e, r, "thermal-1", "temperature", json_real(65), 1000);
    CHECKPOINT(1500); /* gears misaligned: an alarm raised */
    val(e, r, "thermal-1", "temperature", json_real(75), 2000);
    CHECKPOINT(3000); /* overheating pending (5 s on-delay) */
    CHECKPOINT(7500); /* overheating active */
    struct ht_twin_alarm_req rq = {
        .twin = "press-line", .rule = "gears-aligned", .who = "op"};
    ck_assert_int_eq(ht_twin_engine_alarm_cmd(e, HT_TWIN_ACMD_ACK, &rq, 9000,
                                              err, sizeof err),
                     HT_OK);
    CHECKPOINT(9500); /* acknowledged */
    status(e, r, "thermal-1", false, 10000);
    CHECKPOINT(11000); /* offline */
    status(e, r, "thermal-1", true, 12000);
    CHECKPOINT(12100); /* stale */
    quality(e, r, "thermal-1", "heater", true, 12200);
    CHECKPOINT(12500); /* the heater confirmed by the board's snapshot */
    val(e, r, "thermal-1", "temperature", json_real(60), 13000);
    val(e, r, "gears-1", "gear_b_speed", json_real(60), 13000);
    CHECKPOINT(13500); /* fresh again, gears aligned */
    CHECKPOINT(20000); /* off-delays over */
    quality(e, r, "gears-1", "gear_a_speed", false, 21000);
    CHECKPOINT(21500); /* a heartbeat missed: stale, its rules unknown */
    quality(e, r, "gears-1", "gear_a_speed", true, 22000);
    CHECKPOINT(22500); /* confirmed: good again */
    for (size_t i = 0; i < n; i++) {
        json_t *past = rebuild(doc, r, at[i]);
        assert_same(live[i], past, at[i]);
        ck_assert_int_eq(json_integer_value(json_object_get(past, "at")),
                         at[i]);
        json_decref(past);
        json_decref(live[i]);
    }
    /* The checkpoints saw the interesting states (the test can fail). */
    ck_assert_uint_ge(r->nalarms, 3);
    for (size_t i = 0; i < r->nvals; i++)
        json_decref(r->vals[i].v);
    for (size_t i = 0; i < r->nalarms; i++)
        json_decref(r->alarms[i].state);
    free(r);
    ht_twin_engine_free(e);
    json_decref(doc);
}
END_TEST

START_TEST(state_at_takes_alarms_from_the_journal)
{
    json_t *doc = load_json("twins/virtual-factory/press-line.json");
    /* Temperature 75 since t=1000, but the journal says overheating was
     * acknowledged active at 6000 (a noisy sensor kept the last value
     * newer than the on-delay): the journal wins. */
    json_t *t75 = json_real(75);
    struct ht_twin_past_value v[] = {
        {"thermal-1", "temperature", t75, 5900, 0, 0},
    };
    json_t *alarms = json_pack("{s:{s:s, s:b, s:I}}", "overheating", "state",
                               "active_acknowledged", "active", 1, "raised",
                               (json_int_t)6000);
    char err[256];
    json_t *st =
        ht_twin_state_at(doc, v, 1, NULL, 0, alarms, 7000, err, sizeof err);
    ck_assert_ptr_nonnull(st);
    json_t *ro = json_object_get(json_object_get(st, "rules"), "overheating");
    ck_assert_str_eq(json_string_value(json_object_get(ro, "state")), "active");
    ck_assert_str_eq(json_string_value(json_object_get(ro, "alarm")),
                     "active_acknowledged");
    json_t *a = json_array_get(json_object_get(st, "alarms"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(a, "rule")),
                     "overheating");
    ck_assert_int_eq(json_integer_value(json_object_get(a, "since")), 6000);
    ck_assert(json_is_false(json_object_get(st, "stable")));
    json_t *tp = json_object_get(json_object_get(st, "properties"),
                                 "thermal.temperature");
    ck_assert_int_eq(json_integer_value(json_object_get(tp, "ts")), 5900);
    ck_assert_str_eq(json_string_value(json_object_get(tp, "quality")), "good");
    /* Values after `at` are not seen. */
    json_decref(st);
    st = ht_twin_state_at(doc, v, 1, NULL, 0, NULL, 5000, err, sizeof err);
    tp = json_object_get(json_object_get(st, "properties"),
                         "thermal.temperature");
    ck_assert_str_eq(json_string_value(json_object_get(tp, "quality")),
                     "unknown");
    json_decref(st);
    /* A bad document is an error with a message. */
    json_t *bad = json_pack("{s:s}", "id", "x");
    ck_assert_ptr_null(
        ht_twin_state_at(bad, v, 1, NULL, 0, NULL, 5000, err, sizeof err));
    ck_assert(err[0]);
    json_decref(bad);
    json_decref(alarms);
    json_decref(t75);
    json_decref(doc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("twin_past");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, state_at_equals_live_state);
    tcase_add_test(tc, state_at_takes_alarms_from_the_journal);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
