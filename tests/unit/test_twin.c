/* test_twin.c - twin models (validation with JSON pointers), the engine
 * (events, incremental evaluation, durations with injected time,
 * offline/stale), write resolution, auto twins and the twin TD. */
#include "test_twin_fixtures.h"
#include "twins/twin.h"

#include <stdio.h>

/* ---- event recorder ---- */

static char evlog[8192];

static void on_event(const struct ht_twin_event *ev, void *ud)
{
    (void)ud;
    char line[256];
    switch (ev->type) {
    case HT_TWIN_EV_STATE:
        snprintf(line, sizeof line, "state:%zu;", json_array_size(ev->changed));
        break;
    case HT_TWIN_EV_ALARM_RAISED:
    case HT_TWIN_EV_ALARM_CLEARED:
        snprintf(line, sizeof line, "%s:%s:%s@%lld;",
                 ev->type == HT_TWIN_EV_ALARM_RAISED ? "raised" : "cleared",
                 ev->rule, ht_twin_severity_name(ev->severity),
                 (long long)ev->ts);
        ck_assert_ptr_nonnull(ev->message);
        break;
    case HT_TWIN_EV_STABLE:
        snprintf(line, sizeof line, "stable:%d;", ev->stable);
        break;
    }
    if (strlen(evlog) + strlen(line) < sizeof evlog)
        strcat(evlog, line);
}

/* The changed list of the last state event, as "a,b,c". */
static char last_changed[512];

static void on_event_changed(const struct ht_twin_event *ev, void *ud)
{
    (void)ud;
    if (ev->type != HT_TWIN_EV_STATE)
        return;
    last_changed[0] = '\0';
    size_t i;
    json_t *c;
    json_array_foreach(ev->changed, i, c)
    {
        if (i)
            strcat(last_changed, ",");
        strcat(last_changed, json_string_value(c));
    }
}

/* The sim's initial state (factory.md): unstable. */
static void initial_state(struct ht_twin_engine *e, int64_t now)
{
    setbool(e, "gears-1", "motor_a_enable", true, now);
    setnum(e, "gears-1", "motor_a_setpoint", 60, now);
    setnum(e, "gears-1", "gear_a_speed", 60, now);
    setbool(e, "gears-1", "motor_b_enable", true, now);
    setnum(e, "gears-1", "motor_b_setpoint", 95, now);
    setnum(e, "gears-1", "gear_b_speed", 95, now);
    setbool(e, "thermal-1", "heater", true, now);
    setbool(e, "thermal-1", "fan", false, now);
    setnum(e, "thermal-1", "temperature", 65, now);
    setbool(e, "panel-1", "start_button", false, now);
    setbool(e, "panel-1", "stop_button", false, now);
    setnum(e, "panel-1", "speed_knob", 0, now);
    setbool(e, "panel-1", "run_lamp", true, now);
    setbool(e, "panel-1", "alarm_lamp", false, now);
}

static struct ht_twin_engine *press_line(int64_t now)
{
    struct ht_twin_engine *e = ht_twin_engine_new(on_event, NULL);
    json_t *doc = load_json("twins/virtual-factory/press-line.json");
    char err[256];
    ck_assert_msg(ht_twin_engine_put(e, doc, now, err, sizeof err) == HT_OK,
                  "%s", err);
    json_decref(doc);
    return e;
}

static const char *rule_state(struct ht_twin_engine *e, const char *rule)
{
    static char buf[32];
    json_t *st = ht_twin_engine_state(e, "press-line");
    json_t *r = json_object_get(json_object_get(st, "rules"), rule);
    snprintf(buf, sizeof buf, "%s",
             json_string_value(json_object_get(r, "state")));
    json_decref(st);
    return buf;
}

/* ---- the virtual factory scenario ---- */

START_TEST(press_line_starts_unstable_and_can_be_stabilised)
{
    evlog[0] = 0;
    struct ht_twin_engine *e = press_line(0);
    /* No values yet: every rule unknown, so not stable. */
    ck_assert_str_eq(evlog, "state:14;stable:0;");
    ck_assert(!ht_twin_engine_stable(e, "press-line"));
    ck_assert_str_eq(rule_state(e, "gears-aligned"), "unknown");

    evlog[0] = 0;
    initial_state(e, 1000);
    ck_assert(strstr(evlog, "raised:gears-aligned:warning@1000;"));
    ck_assert(strstr(evlog, "raised:heater-and-fan") == NULL);
    ck_assert(!strstr(evlog, "stable:1"));
    ck_assert(!ht_twin_engine_stable(e, "press-line"));
    ck_assert_str_eq(rule_state(e, "speed-range"), "inactive");
    ck_assert_str_eq(rule_state(e, "overheating"), "inactive");
    ck_assert_int_eq(ht_twin_engine_next_deadline(e), -1);

    /* Temperature passes 70: pending for 5 s, then critical. */
    evlog[0] = 0;
    setnum(e, "thermal-1", "temperature", 71.5, 2000);
    ck_assert_str_eq(rule_state(e, "overheating"), "pending");
    ck_assert_int_eq(ht_twin_engine_next_deadline(e), 7000);
    setnum(e, "thermal-1", "temperature", 73, 4000); /* still pending */
    ck_assert_int_eq(ht_twin_engine_next_deadline(e), 7000);
    ht_twin_engine_tick(e, 6999);
    ck_assert(!strstr(evlog, "raised"));
    ht_twin_engine_tick(e, 7000);
    ck_assert_str_eq(evlog,
                     "state:1;state:1;raised:overheating:critical@7000;");
    ck_assert_str_eq(rule_state(e, "overheating"), "active");
    ck_assert_int_eq(ht_twin_engine_next_deadline(e), -1);

    /* The worker aligns gear B with gear A... */
    evlog[0] = 0;
    setnum(e, "gears-1", "motor_b_setpoint", 60, 8000);
    setnum(e, "gears-1", "gear_b_speed", 62, 9000);
    ck_assert(strstr(evlog, "cleared:gears-aligned:warning@9000;"));
    ck_assert(!ht_twin_engine_stable(e, "press-line")); /* still hot */
    /* ...and switches the heater off and the fan on. */
    evlog[0] = 0;
    setbool(e, "thermal-1", "heater", false, 10000);
    setbool(e, "thermal-1", "fan", true, 10000);
    setnum(e, "thermal-1", "temperature", 69, 12000);
    ck_assert(strstr(evlog, "cleared:overheating:critical@12000;stable:1;"));
    ck_assert(ht_twin_engine_stable(e, "press-line"));

    json_t *st = ht_twin_engine_state(e, "press-line");
    ck_assert(json_is_true(json_object_get(st, "stable")));
    ck_assert_uint_eq(json_array_size(json_object_get(st, "alarms")), 0);
    json_t *p =
        json_object_get(json_object_get(st, "properties"), "gear_b.speed");
    ck_assert(fabs(json_number_value(json_object_get(p, "value")) - 62) < 1e-9);
    ck_assert_int_eq(json_integer_value(json_object_get(p, "ts")), 9000);
    ck_assert_str_eq(json_string_value(json_object_get(p, "quality")), "good");
    /* Twin-level properties mirror their first target (inverted here). */
    p = json_object_get(json_object_get(st, "properties"), "twin.cooling");
    ck_assert(json_is_true(json_object_get(p, "value")));
    json_decref(st);
    ht_twin_engine_free(e);
}
END_TEST

START_TEST(twin_level_property_changes_with_its_first_target)
{
    struct ht_twin_engine *e = ht_twin_engine_new(on_event_changed, NULL);
    json_t *doc = load_json("twins/virtual-factory/press-line.json");
    char err[256];
    ck_assert_msg(ht_twin_engine_put(e, doc, 0, err, sizeof err) == HT_OK, "%s",
                  err);
    json_decref(doc);
    setnum(e, "gears-1", "motor_a_setpoint", 80, 1000);
    ck_assert_str_eq(last_changed, "gear_a.setpoint,twin.line_speed");
    /* The second target is not the one the twin property mirrors. */
    setnum(e, "gears-1", "motor_b_setpoint", 80, 1001);
    ck_assert_str_eq(last_changed, "gear_b.setpoint");
    setbool(e, "thermal-1", "fan", true, 1002);
    ck_assert_str_eq(last_changed, "fan.on,twin.cooling");
    ht_twin_engine_free(e);
}
END_TEST

START_TEST(duration_resets_when_condition_drops)
{
    struct ht_twin_engine *e = press_line(0);
    initial_state(e, 0);
    evlog[0] = 0;
    setnum(e, "thermal-1", "temperature", 75, 1000);
    setnum(e, "thermal-1", "temperature", 69, 3000); /* back below */
    ck_assert_int_eq(ht_twin_engine_next_deadline(e), -1);
    setnum(e, "thermal-1", "temperature", 75, 4000); /* restarts */
    ck_assert_int_eq(ht_twin_engine_next_deadline(e), 9000);
    ht_twin_engine_tick(e, 6000);
    ck_assert(!strstr(evlog, "raised:overheating"));
    /* A value update after the deadline activates without a tick. */
    setnum(e, "thermal-1", "temperature", 76, 9500);
    ck_assert(strstr(evlog, "raised:overheating:critical@9500"));
    ht_twin_engine_free(e);
}
END_TEST

START_TEST(only_affected_rules_reevaluate)
{
    struct ht_twin_engine *e = press_line(0);
    initial_state(e, 0);
    uint64_t c = ht_twin_engine_eval_count(e);
    /* Not referenced by any rule. */
    setnum(e, "panel-1", "speed_knob", 5, 100);
    ck_assert_uint_eq(ht_twin_engine_eval_count(e), c);
    /* gear_a.speed: gears-aligned and speed-range. */
    setnum(e, "gears-1", "gear_a_speed", 61, 200);
    ck_assert_uint_eq(ht_twin_engine_eval_count(e), c + 2);
    /* The same value again: nothing to do. */
    setnum(e, "gears-1", "gear_a_speed", 61, 300);
    ck_assert_uint_eq(ht_twin_engine_eval_count(e), c + 2);
    /* thermal.temperature: overheating only. */
    setnum(e, "thermal-1", "temperature", 50, 400);
    ck_assert_uint_eq(ht_twin_engine_eval_count(e), c + 3);
    /* thermal.heater: heater-and-fan only. */
    setbool(e, "thermal-1", "heater", false, 500);
    ck_assert_uint_eq(ht_twin_engine_eval_count(e), c + 4);
    /* An unbound device: nothing. */
    setnum(e, "other-9", "x", 1, 600);
    ck_assert_uint_eq(ht_twin_engine_eval_count(e), c + 4);
    ht_twin_engine_free(e);
}
END_TEST

START_TEST(offline_and_stale)
{
    struct ht_twin_engine *e = press_line(0);
    initial_state(e, 0);
    setbool(e, "gears-1", "motor_b_enable", false, 10);
    setnum(e, "gears-1", "gear_b_speed", 60, 10);
    setbool(e, "thermal-1", "heater", false, 10);
    ck_assert(ht_twin_engine_stable(e, "press-line"));
    evlog[0] = 0;
    ck_assert_int_eq(
        ht_twin_engine_set_device_status(e, "thermal-1", false, 100), HT_OK);
    json_t *st = ht_twin_engine_state(e, "press-line");
    json_t *p = json_object_get(json_object_get(st, "properties"),
                                "thermal.temperature");
    ck_assert_str_eq(json_string_value(json_object_get(p, "quality")),
                     "offline");
    ck_assert(fabs(json_number_value(json_object_get(p, "value")) - 65) <
              1e-9); /* last value kept */
    json_decref(st);
    ck_assert_str_eq(rule_state(e, "overheating"), "unknown");
    ck_assert(!ht_twin_engine_stable(e, "press-line"));
    ck_assert(strstr(evlog, "stable:0"));
    /* Back online: old values are stale until fresh ones arrive. */
    ht_twin_engine_set_device_status(e, "thermal-1", true, 200);
    st = ht_twin_engine_state(e, "press-line");
    p = json_object_get(json_object_get(st, "properties"),
                        "thermal.temperature");
    ck_assert_str_eq(json_string_value(json_object_get(p, "quality")), "stale");
    json_decref(st);
    ck_assert_str_eq(rule_state(e, "overheating"), "unknown");
    evlog[0] = 0;
    setnum(e, "thermal-1", "temperature", 40, 300);
    ck_assert_str_eq(rule_state(e, "overheating"), "inactive");
    ck_assert(ht_twin_engine_stable(e, "press-line"));
    ck_assert(strstr(evlog, "stable:1"));
    /* Hostile ids are refused. */
    ck_assert_int_eq(ht_twin_engine_set_value(e, "../x", "p", json_true(), 1),
                     HT_EINVAL);
    ck_assert_int_eq(ht_twin_engine_set_value(e, "a+b", "p", json_true(), 1),
                     HT_EINVAL);
    ck_assert_int_eq(ht_twin_engine_set_value(e, "dev", "p/#", json_true(), 1),
                     HT_EINVAL);
    ck_assert_int_eq(ht_twin_engine_set_device_status(e, "#", true, 1),
                     HT_EINVAL);
    ht_twin_engine_free(e);
}
END_TEST

/* A late heartbeat makes one value stale (its board online): the rules
 * over it go unknown and the twin unstable, other values stay good, and
 * the same value arriving again makes it good and the twin stable. */
START_TEST(late_heartbeat_makes_one_value_stale)
{
    struct ht_twin_engine *e = press_line(0);
    initial_state(e, 0);
    setbool(e, "gears-1", "motor_b_enable", false, 10);
    setnum(e, "gears-1", "gear_b_speed", 60, 10);
    setbool(e, "thermal-1", "heater", false, 10);
    setnum(e, "thermal-1", "temperature", 40, 10);
    ck_assert(ht_twin_engine_stable(e, "press-line"));
    evlog[0] = 0;
    ck_assert_int_eq(
        ht_twin_engine_set_stale(e, "thermal-1", "temperature", 100), HT_OK);
    json_t *st = ht_twin_engine_state(e, "press-line");
    json_t *props = json_object_get(st, "properties");
    ck_assert_str_eq(
        json_string_value(json_object_get(
            json_object_get(props, "thermal.temperature"), "quality")),
        "stale");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(props, "thermal.heater"), "quality")),
                     "good");
    json_decref(st);
    ck_assert_str_eq(rule_state(e, "overheating"), "unknown");
    ck_assert(!ht_twin_engine_stable(e, "press-line"));
    ck_assert(strstr(evlog, "stable:0"));
    /* Twice is once; unknown devices, properties and ids change nothing. */
    uint64_t c = ht_twin_engine_eval_count(e);
    ck_assert_int_eq(
        ht_twin_engine_set_stale(e, "thermal-1", "temperature", 110), HT_OK);
    ck_assert_int_eq(ht_twin_engine_set_stale(e, "other-9", "x", 110), HT_OK);
    ck_assert_uint_eq(ht_twin_engine_eval_count(e), c);
    ck_assert_int_eq(ht_twin_engine_set_stale(e, "../x", "p", 1), HT_EINVAL);
    ck_assert_int_eq(ht_twin_engine_set_stale(e, "dev", "p/#", 1), HT_EINVAL);
    /* The heartbeat again, same value: good, stable. */
    evlog[0] = 0;
    setnum(e, "thermal-1", "temperature", 40, 200);
    ck_assert_str_eq(rule_state(e, "overheating"), "inactive");
    ck_assert(ht_twin_engine_stable(e, "press-line"));
    ck_assert(strstr(evlog, "stable:1"));
    ht_twin_engine_free(e);
}
END_TEST

/* Per-property state (what the gateway's SSE "state" events carry) equals
 * the matching entries of the full state; device -> twins is indexed. */
START_TEST(props_state_and_device_index)
{
    struct ht_twin_engine *e = press_line(0);
    initial_state(e, 0);
    json_t *refs = json_pack("[s, s, s, s]", "gear_b.speed", "twin.cooling",
                             "nope.x", "twin.nope");
    json_t *ps = ht_twin_engine_props_state(e, "press-line", refs);
    ck_assert_ptr_nonnull(ps);
    ck_assert_uint_eq(json_object_size(ps), 2);
    json_t *st = ht_twin_engine_state(e, "press-line");
    json_t *all = json_object_get(st, "properties");
    ck_assert(json_equal(json_object_get(ps, "gear_b.speed"),
                         json_object_get(all, "gear_b.speed")));
    ck_assert(json_equal(json_object_get(ps, "twin.cooling"),
                         json_object_get(all, "twin.cooling")));
    /* The heater is on; twin.cooling mirrors it inverted. */
    ck_assert(json_is_false(
        json_object_get(json_object_get(ps, "twin.cooling"), "value")));
    json_decref(st);
    json_decref(ps);
    ck_assert_ptr_null(ht_twin_engine_props_state(e, "nope", refs));
    json_decref(refs);

    /* A second twin on the same devices. */
    json_t *doc = load_json("twins/virtual-factory/press-line.json");
    json_object_set_new(doc, "id", json_string("a-line"));
    ck_assert_int_eq(ht_twin_engine_put(e, doc, 10, NULL, 0), HT_OK);
    json_decref(doc);
    json_t *ids = ht_twin_engine_device_twins(e, "gears-1");
    json_t *want = json_pack("[s, s]", "a-line", "press-line");
    ck_assert(json_equal(ids, want));
    json_decref(ids);
    json_decref(want);
    ids = ht_twin_engine_device_twins(e, "nobody");
    ck_assert_uint_eq(json_array_size(ids), 0);
    json_decref(ids);

    /* Pending duration rules of both twins; removal forgets its own. */
    setnum(e, "thermal-1", "temperature", 75, 1000);
    ck_assert_int_eq(ht_twin_engine_next_deadline(e), 6000);
    ck_assert_int_eq(ht_twin_engine_remove(e, "a-line"), HT_OK);
    ck_assert_int_eq(ht_twin_engine_next_deadline(e), 6000);
    ids = ht_twin_engine_device_twins(e, "thermal-1");
    want = json_pack("[s]", "press-line");
    ck_assert(json_equal(ids, want));
    json_decref(ids);
    json_decref(want);
    /* A replacement keeps the pending rule (and its deadline). */
    doc = load_json("twins/virtual-factory/press-line.json");
    ck_assert_int_eq(ht_twin_engine_put(e, doc, 2000, NULL, 0), HT_OK);
    json_decref(doc);
    ck_assert_int_eq(ht_twin_engine_next_deadline(e), 6000);
    ck_assert_int_eq(ht_twin_engine_remove(e, "press-line"), HT_OK);
    ck_assert_int_eq(ht_twin_engine_next_deadline(e), -1);
    ht_twin_engine_tick(e, 7000); /* nothing left to activate */
    evlog[0] = 0;
    ck_assert_int_eq(
        ht_twin_engine_set_device_status(e, "thermal-1", false, 8000), HT_OK);
    ck_assert_str_eq(evlog, "");
    ht_twin_engine_free(e);
}
END_TEST

/* Many devices and twins: a status change reaches only the twins bound to
 * that device, and lookups find every twin. */
START_TEST(status_reaches_only_bound_twins)
{
    struct ht_twin_engine *e = ht_twin_engine_new(on_event, NULL);
    for (int i = 0; i < 300; i++) {
        char dev[32], tid[32];
        snprintf(dev, sizeof dev, "dev-%03d", i);
        snprintf(tid, sizeof tid, "t-%03d", 299 - i);
        json_t *doc =
            json_pack("{s:s, s:s, s:[{s:s, s:s, s:[{s:s, s:s}]}]}", "id", tid,
                      "title", tid, "components", "id", "c", "kind", "sensor",
                      "properties", "name", "v", "bind", "x");
        char bind[64];
        snprintf(bind, sizeof bind, "%s/temp", dev);
        json_object_set_new(
            json_array_get(
                json_object_get(
                    json_array_get(json_object_get(doc, "components"), 0),
                    "properties"),
                0),
            "bind", json_string(bind));
        char err[256];
        ck_assert_msg(ht_twin_engine_put(e, doc, 0, err, sizeof err) == HT_OK,
                      "%s", err);
        json_decref(doc);
        setnum(e, dev, "temp", i, 1);
    }
    ck_assert_uint_eq(ht_twin_engine_count(e), 300);
    ck_assert_str_eq(ht_twin_engine_id(e, 0), "t-000");
    ck_assert_ptr_nonnull(ht_twin_engine_model(e, "t-123"));
    json_t *ids = ht_twin_engine_device_twins(e, "dev-010");
    ck_assert_uint_eq(json_array_size(ids), 1);
    ck_assert_str_eq(json_string_value(json_array_get(ids, 0)), "t-289");
    json_decref(ids);
    evlog[0] = 0;
    ck_assert_int_eq(ht_twin_engine_set_device_status(e, "dev-010", false, 5),
                     HT_OK);
    ck_assert_str_eq(evlog, "state:1;");
    json_t *st = ht_twin_engine_state(e, "t-289");
    json_t *p = json_object_get(json_object_get(st, "properties"), "c.v");
    ck_assert_str_eq(json_string_value(json_object_get(p, "quality")),
                     "offline");
    json_decref(st);
    st = ht_twin_engine_state(e, "t-288");
    p = json_object_get(json_object_get(st, "properties"), "c.v");
    ck_assert_str_eq(json_string_value(json_object_get(p, "quality")), "good");
    json_decref(st);
    ht_twin_engine_free(e);
}
END_TEST

START_TEST(replace_keeps_alarms_remove_forgets)
{
    struct ht_twin_engine *e = press_line(0);
    initial_state(e, 0);
    evlog[0] = 0;
    json_t *doc = load_json("twins/virtual-factory/press-line.json");
    json_object_set_new(doc, "title", json_string("Press line 2"));
    ck_assert_int_eq(ht_twin_engine_put(e, doc, 50, NULL, 0), HT_OK);
    /* Same rules: no alarm re-raised, no stable flap. */
    ck_assert(!strstr(evlog, "raised"));
    ck_assert(!strstr(evlog, "stable"));
    ck_assert_str_eq(rule_state(e, "gears-aligned"), "active");
    /* Dropping a rule clears its alarm. */
    json_t *rules = json_object_get(doc, "rules");
    json_array_remove(rules, 0);
    evlog[0] = 0;
    ck_assert_int_eq(ht_twin_engine_put(e, doc, 60, NULL, 0), HT_OK);
    ck_assert(strstr(evlog, "cleared:gears-aligned"));
    ck_assert(strstr(evlog, "stable:1"));
    /* A bad document leaves the engine as it was. */
    json_object_set_new(doc, "components", json_array());
    char err[200];
    ck_assert_int_eq(ht_twin_engine_put(e, doc, 70, err, sizeof err),
                     HT_EINVAL);
    ck_assert_str_eq(ht_twin_engine_model(e, "press-line")->title,
                     "Press line 2");
    json_decref(doc);
    ck_assert_uint_eq(ht_twin_engine_count(e), 1);
    ck_assert_str_eq(ht_twin_engine_id(e, 0), "press-line");
    ck_assert_int_eq(ht_twin_engine_remove(e, "press-line"), HT_OK);
    ck_assert_int_eq(ht_twin_engine_remove(e, "press-line"), HT_ENOENT);
    ck_assert_ptr_null(ht_twin_engine_state(e, "press-line"));
    /* Values survive; a twin added later sees them at once. */
    setnum(e, "thermal-1", "temperature", 30, 80);
    struct ht_twin_engine *e2 = e;
    doc = load_json("twins/virtual-factory/press-line.json");
    ck_assert_int_eq(ht_twin_engine_put(e2, doc, 90, NULL, 0), HT_OK);
    json_decref(doc);
    ck_assert_str_eq(rule_state(e2, "overheating"), "inactive");
    ht_twin_engine_free(e);
}
END_TEST

/* ---- writes ---- */

static void want_write(struct ht_twin_engine *e, const char *ref, json_t *v,
                       size_t n, const char *dev0, const char *prop0,
                       const char *val0)
{
    struct ht_twin_write *w;
    size_t nw;
    char err[200];
    int rc = ht_twin_engine_resolve_write(e, "press-line", ref, v, &w, &nw, err,
                                          sizeof err);
    ck_assert_msg(rc == HT_OK, "%s: %s", ref, err);
    ck_assert_uint_eq(nw, n);
    ck_assert_str_eq(w[0].device, dev0);
    ck_assert_str_eq(w[0].prop, prop0);
    char *s = json_dumps(w[0].value, JSON_ENCODE_ANY);
    ck_assert_str_eq(s, val0);
    free(s);
    ht_twin_writes_free(w, nw);
    json_decref(v);
}

static int write_err(struct ht_twin_engine *e, const char *twin,
                     const char *ref, json_t *v, const char *msg)
{
    struct ht_twin_write *w = (void *)1;
    size_t nw = 7;
    char err[200] = "";
    int rc =
        ht_twin_engine_resolve_write(e, twin, ref, v, &w, &nw, err, sizeof err);
    ck_assert_ptr_null(w);
    ck_assert_uint_eq(nw, 0);
    ck_assert_msg(strstr(err, msg), "'%s' lacks '%s'", err, msg);
    json_decref(v);
    return rc;
}

START_TEST(write_resolution)
{
    struct ht_twin_engine *e = press_line(0);
    want_write(e, "gear_a.setpoint", json_integer(80), 1, "gears-1",
               "motor_a_setpoint", "80");
    want_write(e, "twin.line_speed", json_integer(100), 2, "gears-1",
               "motor_a_setpoint", "100");
    want_write(e, "fan.on", json_true(), 1, "thermal-1", "fan", "true");
    /* cooling: fan on, heater inverted (off). */
    struct ht_twin_write *w;
    size_t nw;
    json_t *t = json_true();
    ck_assert_int_eq(ht_twin_engine_resolve_write(
                         e, "press-line", "twin.cooling", t, &w, &nw, NULL, 0),
                     HT_OK);
    ck_assert_uint_eq(nw, 2);
    ck_assert_str_eq(w[1].device, "thermal-1");
    ck_assert_str_eq(w[1].prop, "heater");
    ck_assert(json_is_false(w[1].value));
    ht_twin_writes_free(w, nw);

    ck_assert_int_eq(write_err(e, "press-line", "gear_a.speed", json_integer(5),
                               "read-only"),
                     HT_ERDONLY);
    ck_assert_int_eq(write_err(e, "press-line", "gear_a.nope", json_integer(5),
                               "no property"),
                     HT_ENOENT);
    ck_assert_int_eq(
        write_err(e, "press-line", "twin.nope", json_integer(5), "no property"),
        HT_ENOENT);
    ck_assert_int_eq(
        write_err(e, "nope", "gear_a.setpoint", json_integer(5), "no twin"),
        HT_ENOENT);
    ck_assert_int_eq(write_err(e, "press-line", "twin.line_speed",
                               json_integer(250), "out of range"),
                     HT_ERANGE);
    ck_assert_int_eq(write_err(e, "press-line", "gear_a.setpoint",
                               json_integer(-1), "out of range"),
                     HT_ERANGE);
    ck_assert_int_eq(write_err(e, "press-line", "gear_a.setpoint",
                               json_string("fast"), "number"),
                     HT_ETYPE);
    ck_assert_int_eq(
        write_err(e, "press-line", "fan.on", json_integer(1), "boolean"),
        HT_ETYPE);
    ck_assert_int_eq(
        write_err(e, "press-line", "fan.on", json_object(), "must be"),
        HT_ETYPE);
    ht_twin_engine_free(e);
}
END_TEST

/* scale/offset and unit conversion: twin in degF and percent, device in
 * degC and a 0..1000 raw scale. */
START_TEST(conversions_both_ways)
{
    const char *doc_s =
        "{\"id\":\"oven\",\"title\":\"Oven\",\"components\":[{\"id\":\"o\","
        "\"kind\":\"heater\",\"properties\":["
        "{\"name\":\"t\",\"bind\":\"th-1/temperature\",\"type\":\"number\","
        "\"unit\":\"unit:DEG_F\",\"device_unit\":\"unit:DEG_C\","
        "\"writable\":true},"
        "{\"name\":\"pct\",\"bind\":\"th-1/raw\",\"type\":\"number\","
        "\"scale\":0.1,\"offset\":0,\"writable\":true,\"minimum\":0,"
        "\"maximum\":100}]}],"
        "\"rules\":[{\"id\":\"hot\",\"severity\":\"warning\",\"message\":"
        "\"hot\",\"expr\":\"o.t > 200\"}]}";
    json_t *doc = json_loads(doc_s, 0, NULL);
    struct ht_twin_engine *e = ht_twin_engine_new(NULL, NULL);
    char err[200];
    ck_assert_msg(ht_twin_engine_put(e, doc, 0, err, sizeof err) == HT_OK, "%s",
                  err);
    json_decref(doc);
    setnum(e, "th-1", "temperature", 100, 1); /* 212 F */
    json_t *st = ht_twin_engine_state(e, "oven");
    double f = json_number_value(json_object_get(
        json_object_get(json_object_get(st, "properties"), "o.t"), "value"));
    ck_assert(fabs(f - 212) < 1e-9);
    json_decref(st);
    ck_assert(!ht_twin_engine_stable(e, "oven")); /* 212 > 200 */
    struct ht_twin_write *w;
    size_t nw;
    json_t *v = json_integer(212);
    ck_assert_int_eq(ht_twin_engine_resolve_write(e, "oven", "o.t", v, &w, &nw,
                                                  err, sizeof err),
                     HT_OK);
    ck_assert(fabs(json_number_value(w[0].value) - 100) < 1e-9);
    ht_twin_writes_free(w, nw);
    json_decref(v);
    v = json_real(42.5);
    ck_assert_int_eq(ht_twin_engine_resolve_write(e, "oven", "o.pct", v, &w,
                                                  &nw, err, sizeof err),
                     HT_OK);
    ck_assert(json_is_integer(w[0].value));
    ck_assert_int_eq(json_integer_value(w[0].value), 425);
    ht_twin_writes_free(w, nw);
    json_decref(v);
    ht_twin_engine_free(e);
}
END_TEST

/* ---- model validation ---- */

static void bad_model(const char *patch_ptr, json_t *value, const char *ptr,
                      const char *msg)
{
    json_t *doc = load_json("twins/virtual-factory/press-line.json");
    /* patch_ptr: "/components/0/kind" style, objects and arrays only. */
    char *path = ht_strdup(patch_ptr);
    json_t *cur = doc;
    char *save, *tok = strtok_r(path + 1, "/", &save), *next;
    while ((next = strtok_r(NULL, "/", &save))) {
        cur = json_is_array(cur) ? json_array_get(cur, atoi(tok))
                                 : json_object_get(cur, tok);
        tok = next;
    }
    if (json_is_array(cur))
        json_array_set_new(cur, atoi(tok), value);
    else if (value)
        json_object_set_new(cur, tok, value);
    else
        json_object_del(cur, tok);
    free(path);
    struct ht_twin_model *m = (void *)1;
    char err[300], eptr[128];
    int rc = ht_twin_model_parse(doc, &m, err, sizeof err, eptr, sizeof eptr);
    ck_assert_msg(rc != HT_OK, "%s accepted", patch_ptr);
    ck_assert_ptr_null(m);
    ck_assert_msg(!strcmp(eptr, ptr), "pointer '%s', want '%s' (%s)", eptr, ptr,
                  err);
    ck_assert_msg(strstr(err, msg), "'%s' lacks '%s'", err, msg);
    json_decref(doc);
}

START_TEST(model_errors_point_at_the_member)
{
    bad_model("/id", json_string("../etc"), "/id", "not a valid id");
    bad_model("/id", json_string("a+b"), "/id", "not a valid id");
    bad_model("/id", NULL, "", "missing \"id\"");
    bad_model("/colour", json_string("red"), "", "unknown member");
    bad_model("/components/0/kind", json_string("robot"), "/components/0/kind",
              "must be one of");
    bad_model("/components/1/id", json_string("gear_a"), "/components/1",
              "duplicate component");
    bad_model("/components/1/id", json_string("twin"), "/components/1/id",
              "reserved");
    bad_model("/components/0/properties/0/bind", json_string("gears-1"),
              "/components/0/properties/0/bind", "device-id/property");
    bad_model("/components/0/properties/0/bind", json_string("gears+1/x"),
              "/components/0/properties/0/bind", "device-id/property");
    bad_model("/components/0/properties/0/scale", json_integer(0),
              "/components/0/properties/0/scale", "must not be 0");
    bad_model("/components/0/properties/0/device_unit",
              json_string("unit:KiloGM"),
              "/components/0/properties/0/device_unit", "no conversion");
    bad_model("/components/0/pose/position", json_pack("[i,i]", 1, 2),
              "/components/0/pose/position", "3 numbers");
    bad_model("/components/0/model", json_string("../x.glb"),
              "/components/0/model", "asset name");
    bad_model("/rules/0/expr",
              json_string("abs(gear_a.speed - gear_c.speed) > 5"),
              "/rules/0/expr", "at 19: unknown property 'gear_c.speed'");
    bad_model("/rules/0/expr", json_string("gear_a.speed >"), "/rules/0/expr",
              "at 14: unexpected end");
    bad_model("/rules/0/expr", json_string("gear_a.enabled + 1 > 2"),
              "/rules/0/expr", "at 15: arithmetic needs numbers");
    bad_model("/rules/0/severity", json_string("fatal"), "/rules/0/severity",
              "info, warning or critical");
    bad_model("/rules/1/id", json_string("gears-aligned"), "/rules/1",
              "duplicate rule");
    bad_model("/properties/0/targets/0", json_string("gear_a.speed"),
              "/properties/0/targets/0", "not writable");
    bad_model("/properties/0/targets/0", json_string("gear_a.enabled"),
              "/properties/0/targets/0", "boolean, not number");
    bad_model("/properties/0/targets/1", json_string("nope.x"),
              "/properties/0/targets/1", "no component property");
    bad_model("/anchor/marker", json_string("/etc/passwd"), "/anchor/marker",
              "asset name");
    bad_model("/actions/0/write", json_string("gear_a.speed"),
              "/actions/0/write", "not a writable property");
    bad_model("/actions/0/edge", json_string("sideways"), "/actions/0/edge",
              "rising, falling or change");
    bad_model("/actions/0/on", json_string("nope.x"), "/actions/0/on",
              "no component property");
    bad_model("/control", json_string("maybe"), "/control",
              "required or optional");

    struct ht_twin_model *m;
    char err[100];
    ck_assert_int_eq(
        ht_twin_model_parse(json_true(), &m, err, sizeof err, NULL, 0),
        HT_EINVAL);
    ck_assert(strstr(err, "JSON object"));
}
END_TEST

/* ---- actions, interlocks, permissives (issue 16) ---- */

static char actlog[512];

static void on_action(const char *twin, const char *action, const char *ref,
                      const json_t *value, int64_t ts, void *ud)
{
    (void)twin;
    (void)ts;
    (void)ud;
    char *v = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
    char line[128];
    snprintf(line, sizeof line, "%s:%s=%s;", action, ref, v);
    free(v);
    if (strlen(actlog) + strlen(line) < sizeof actlog)
        strcat(actlog, line);
}

START_TEST(actions_fire_on_edges_only)
{
    struct ht_twin_engine *e = press_line(0);
    ht_twin_engine_on_action(e, on_action, NULL);
    actlog[0] = '\0';
    /* The first values are no edges: nothing starts by itself. */
    initial_state(e, 1);
    ck_assert_str_eq(actlog, "");
    setbool(e, "panel-1", "start_button", true, 2);
    setbool(e, "panel-1", "start_button", false, 3);
    setbool(e, "panel-1", "stop_button", true, 4);
    setnum(e, "panel-1", "speed_knob", 40, 5);
    ck_assert_str_eq(actlog, "start:twin.running=true;stop:twin.running=false;"
                             "speed:twin.line_speed=40;");
    /* A value after an outage is no edge either. */
    actlog[0] = '\0';
    ht_twin_engine_set_device_status(e, "panel-1", false, 6);
    ht_twin_engine_set_device_status(e, "panel-1", true, 7);
    setbool(e, "panel-1", "stop_button", false, 8);
    setbool(e, "panel-1", "start_button", true, 9);
    ck_assert_str_eq(actlog, "");
    setbool(e, "panel-1", "start_button", false, 10);
    setbool(e, "panel-1", "start_button", true, 11);
    ck_assert_str_eq(actlog, "start:twin.running=true;");
    ht_twin_engine_free(e);
}
END_TEST

START_TEST(alarm_action_fires_when_the_rule_raises)
{
    struct ht_twin_engine *e = ht_twin_engine_new(on_event, NULL);
    json_t *doc = load_json("twins/virtual-factory/press-line.json");
    json_array_append_new(json_object_get(doc, "actions"),
                          json_pack("{s:s, s:s, s:s, s:b}", "name", "cool",
                                    "on_alarm", "overheating", "write",
                                    "twin.cooling", "value", 1));
    char err[256];
    ck_assert_msg(ht_twin_engine_put(e, doc, 0, err, sizeof err) == HT_OK, "%s",
                  err);
    json_decref(doc);
    ht_twin_engine_on_action(e, on_action, NULL);
    actlog[0] = '\0';
    initial_state(e, 1);
    setnum(e, "thermal-1", "temperature", 80, 100);
    ck_assert_str_eq(actlog, ""); /* pending: 5 s on-delay */
    ht_twin_engine_tick(e, 5100);
    ck_assert_str_eq(actlog, "cool:twin.cooling=true;");
    ht_twin_engine_tick(e, 9000); /* still active: no second firing */
    ck_assert_str_eq(actlog, "cool:twin.cooling=true;");
    ht_twin_engine_free(e);
}
END_TEST

static enum ht_twin_refusal_kind check1(struct ht_twin_engine *e,
                                        const char *dev, const char *prop,
                                        json_t *v, const char *id)
{
    struct ht_twin_write w = {(char *)dev, (char *)prop, v};
    struct ht_twin_refusal rf;
    ck_assert_int_eq(ht_twin_engine_check_write(e, "press-line", &w, 1, &rf),
                     HT_OK);
    json_decref(v);
    if (id)
        ck_assert_str_eq(rf.id, id);
    return rf.kind;
}

START_TEST(interlocks_and_permissives_check_without_side_effects)
{
    struct ht_twin_engine *e = ht_twin_engine_new(on_event, NULL);
    json_t *doc = load_json("twins/virtual-factory/press-line.json");
    json_t *rules = json_object_get(doc, "rules");
    json_object_set_new(json_array_get(rules, json_array_size(rules) - 1),
                        "interlock", json_true()); /* heater-and-fan */
    json_object_set_new(doc, "permissives",
                        json_pack("[{s:s, s:s, s:[s]}]", "id", "line-running",
                                  "expr", "gear_a.enabled", "applies_to",
                                  "twin.line_speed"));
    char err[256];
    ck_assert_msg(ht_twin_engine_put(e, doc, 0, err, sizeof err) == HT_OK, "%s",
                  err);
    json_decref(doc);
    initial_state(e, 1); /* heater on, fan off */
    uint64_t evals;
    /* The fan on with the heater on would raise heater-and-fan. */
    ck_assert_int_eq(
        check1(e, "thermal-1", "fan", json_true(), "heater-and-fan"),
        HT_TWIN_REFUSE_INTERLOCK);
    /* Cooling (fan on, heater off) in one write is fine. */
    struct ht_twin_write w[2] = {{"thermal-1", "fan", json_true()},
                                 {"thermal-1", "heater", json_false()}};
    struct ht_twin_refusal rf;
    ck_assert_int_eq(ht_twin_engine_check_write(e, "press-line", w, 2, &rf),
                     HT_OK);
    ck_assert_int_eq(rf.kind, HT_TWIN_REFUSE_NONE);
    /* A command touching none of its inputs is not the rule's business. */
    ck_assert_int_eq(
        check1(e, "gears-1", "motor_b_setpoint", json_integer(50), NULL),
        HT_TWIN_REFUSE_NONE);
    /* Setpoints only while gear A runs. */
    ck_assert_int_eq(
        check1(e, "gears-1", "motor_a_setpoint", json_integer(50), NULL),
        HT_TWIN_REFUSE_NONE);
    setbool(e, "gears-1", "motor_a_enable", false, 2);
    evals = ht_twin_engine_eval_count(e);
    ck_assert_int_eq(check1(e, "gears-1", "motor_a_setpoint", json_integer(50),
                            "line-running"),
                     HT_TWIN_REFUSE_PERMISSIVE);
    /* Checks evaluate nothing in the engine and change no state. */
    ck_assert_uint_eq(ht_twin_engine_eval_count(e), evals);
    ck_assert_str_eq(rule_state(e, "heater-and-fan"), "inactive");
    struct ht_twin_write x = {"gears-1", "motor_a_setpoint", json_integer(1)};
    ck_assert_int_eq(ht_twin_engine_check_write(e, "nope", &x, 1, &rf),
                     HT_ENOENT);
    json_decref(x.value);
    json_decref(w[0].value);
    json_decref(w[1].value);
    ht_twin_engine_free(e);
}
END_TEST

START_TEST(press_line_model)
{
    json_t *doc = load_json("twins/virtual-factory/press-line.json");
    struct ht_twin_model *m;
    char err[200];
    ck_assert_msg(ht_twin_model_parse(doc, &m, err, sizeof err, NULL, 0) ==
                      HT_OK,
                  "%s", err);
    json_decref(doc);
    ck_assert_str_eq(m->id, "press-line");
    ck_assert_uint_eq(m->ncomps, 9);
    ck_assert_int_eq(m->comps[0].kind, HT_TWIN_KIND_GEAR);
    ck_assert(m->comps[0].rotation[0] == 90);
    ck_assert_str_eq(m->marker_asset, "press-line-marker.png");
    const struct ht_twin_rule *r = &m->rules[2];
    ck_assert_str_eq(r->id, "overheating");
    ck_assert_int_eq(r->for_ms, 5000);
    ck_assert_int_eq(r->severity, HT_TWIN_SEV_CRITICAL);
    ck_assert_uint_eq(ht_twin_rule_nrefs(r), 1);
    ck_assert_str_eq(ht_twin_rule_ref(r, 0), "thermal.temperature");
    size_t c, p;
    ck_assert_int_eq(ht_twin_model_find_prop(m, "fan.on", &c, &p), HT_OK);
    ck_assert_uint_eq(c, 3);
    ck_assert_int_eq(ht_twin_model_find_prop(m, "fan.off", &c, &p), HT_ENOENT);
    ck_assert_ptr_nonnull(ht_twin_model_tprop(m, "line_speed"));
    ck_assert_ptr_nonnull(ht_twin_model_component(m, "thermal"));
    ht_twin_model_free(m);
}
END_TEST

/* ---- auto twin and TD ---- */

START_TEST(auto_twin_from_thing)
{
    struct ht_sem_thing *th = fx_thermal();
    json_t *doc = ht_twin_auto_doc(th, NULL);
    ck_assert_ptr_nonnull(doc);
    struct ht_twin_model *m;
    char err[200];
    ck_assert_msg(ht_twin_model_parse(doc, &m, err, sizeof err, NULL, 0) ==
                      HT_OK,
                  "%s", err);
    ck_assert_str_eq(m->id, "thermal-1");
    ck_assert_uint_eq(m->ncomps, 1);
    ck_assert_int_eq(m->comps[0].kind, HT_TWIN_KIND_HEATER);
    ck_assert_uint_eq(m->comps[0].nprops, 3);
    ck_assert_str_eq(m->comps[0].props[1].device, "thermal-1");
    ck_assert_str_eq(m->comps[0].props[1].device_prop, "fan");
    ck_assert(m->comps[0].props[1].writable);
    ck_assert(!m->comps[0].props[2].writable); /* temperature */
    ck_assert(m->comps[0].props[0].unsafe);    /* heater */
    ht_twin_model_free(m);
    json_decref(doc);
    /* It runs in the engine like any twin: writes reach the device. */
    struct ht_twin_engine *e = ht_twin_engine_new(NULL, NULL);
    doc = ht_twin_auto_doc(th, "auto-thermal");
    ck_assert_int_eq(ht_twin_engine_put(e, doc, 0, NULL, 0), HT_OK);
    json_decref(doc);
    struct ht_twin_write *w;
    size_t nw;
    json_t *v = json_true();
    ck_assert_int_eq(ht_twin_engine_resolve_write(
                         e, "auto-thermal", "device.fan", v, &w, &nw, NULL, 0),
                     HT_OK);
    ck_assert_str_eq(w[0].device, "thermal-1");
    ht_twin_writes_free(w, nw);
    ck_assert(ht_twin_engine_stable(e, "auto-thermal")); /* no rules */
    ht_twin_engine_free(e);
    ht_sem_thing_free(th);

    struct ht_sem_thing *g = fx_gears();
    doc = ht_twin_auto_doc(g, NULL);
    ck_assert_str_eq(
        json_string_value(json_object_get(
            json_array_get(json_object_get(doc, "components"), 0), "kind")),
        "motor");
    json_decref(doc);
    free(g->id);
    g->id = ht_strdup("bad/id");
    ck_assert_ptr_null(ht_twin_auto_doc(g, NULL));
    ht_sem_thing_free(g);
    struct ht_sem_thing empty = {.id = "x"};
    ck_assert_ptr_null(ht_twin_auto_doc(&empty, NULL));
}
END_TEST

START_TEST(twin_td)
{
    json_t *doc = load_json("twins/virtual-factory/press-line.json");
    struct ht_twin_model *m;
    ck_assert_int_eq(ht_twin_model_parse(doc, &m, NULL, 0, NULL, 0), HT_OK);
    json_decref(doc);
    struct ht_sem_forms f = {.http_base = "http://gw:8080",
                             .mqtt_base = "mqtt://gw:1883",
                             .topic_prefix = "holotwin/v1",
                             .gateway = true};
    json_t *td = ht_twin_td_build(m, NULL, 0, &f);
    ck_assert_ptr_nonnull(td);
    ck_assert_str_eq(json_string_value(json_object_get(td, "id")),
                     "urn:holotwin:twin:press-line");
    json_t *props = json_object_get(td, "properties");
    json_t *sp = json_object_get(props, "gear_a.speed");
    ck_assert_ptr_nonnull(sp);
    ck_assert(json_is_true(json_object_get(sp, "readOnly")));
    ck_assert_str_eq(json_string_value(json_object_get(sp, "unit")),
                     "unit:REV-PER-MIN");
    json_t *ls = json_object_get(props, "twin.line_speed");
    ck_assert(json_is_false(json_object_get(ls, "readOnly")));
    ck_assert_uint_eq(json_object_size(props), 14 + 3);
    char *s = json_dumps(td, 0);
    ck_assert(strstr(s, "/api/v1/twins/press-line/properties/twin.line_speed"));
    free(s);
    json_decref(td);
    ht_twin_model_free(m);
}
END_TEST

/* The snapshot text is the state serialised with sorted keys, byte for
 * byte, whatever the twin holds: no values, values, a pending and an
 * active alarm, an inverted twin-level property, converted units, a
 * stale value, an offline device. */
static void text_is_state(struct ht_twin_engine *e, const char *id)
{
    json_t *st = ht_twin_engine_state(e, id);
    char *want = json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS);
    size_t n, nal;
    char *got = ht_twin_engine_state_text(e, id, &n, &nal);
    ck_assert_str_eq(got, want);
    ck_assert_uint_eq(n, strlen(want));
    ck_assert_uint_eq(nal, json_array_size(json_object_get(st, "alarms")));
    free(want);
    free(got);
    /* Some properties' states in a given order, as twin events carry
     * them: every key (reversed), a repeated one, an unknown one. */
    json_t *refs = json_array();
    const char *key;
    json_t *x;
    json_object_foreach(json_object_get(st, "properties"), key, x)
        json_array_insert_new(refs, 0, json_string(key));
    if (json_array_size(refs))
        json_array_append(refs, json_array_get(refs, 0));
    json_array_append_new(refs, json_string("no.such"));
    json_t *ps = ht_twin_engine_props_state(e, id, refs);
    want = json_dumps(ps, JSON_COMPACT);
    struct ht_jbuf b = {0};
    ck_assert(ht_twin_engine_props_state_text(e, id, refs, &b));
    got = ht_jbuf_take(&b, NULL);
    ck_assert_str_eq(got, want);
    free(want);
    free(got);
    json_decref(ps);
    json_decref(refs);
    json_decref(st);
}

START_TEST(state_text_is_the_state_serialised)
{
    struct ht_twin_engine *e = press_line(0);
    text_is_state(e, "press-line");
    initial_state(e, 1000);
    text_is_state(e, "press-line");
    setnum(e, "thermal-1", "temperature", 71.5, 2000);
    text_is_state(e, "press-line");
    ht_twin_engine_tick(e, 7000);
    text_is_state(e, "press-line");
    ht_twin_engine_set_stale(e, "gears-1", "gear_b_speed", 7500);
    text_is_state(e, "press-line");
    ht_twin_engine_set_device_status(e, "thermal-1", false, 8000);
    text_is_state(e, "press-line");
    /* Each property's text is kept between snapshots: back online (its
     * values stale), the same value again at a later time, then fresh. */
    ht_twin_engine_set_device_status(e, "thermal-1", true, 8500);
    text_is_state(e, "press-line");
    setnum(e, "thermal-1", "temperature", 71.5, 9000);
    text_is_state(e, "press-line");
    text_is_state(e, "press-line");
    setnum(e, "thermal-1", "temperature", 72.5, 9500);
    text_is_state(e, "press-line");
    ck_assert_ptr_null(ht_twin_engine_state_text(e, "nope", NULL, NULL));
    ht_twin_engine_free(e);

    const char *doc_s =
        "{\"id\":\"oven\",\"title\":\"Oven \\\"\\u00e9\\\"\",\"version\":7,"
        "\"components\":[{\"id\":\"o\",\"kind\":\"heater\",\"properties\":["
        "{\"name\":\"t\",\"bind\":\"th-1/temperature\",\"type\":\"number\","
        "\"unit\":\"unit:DEG_F\",\"device_unit\":\"unit:DEG_C\"},"
        "{\"name\":\"s\",\"bind\":\"th-1/label\",\"type\":\"string\"},"
        "{\"name\":\"pct\",\"bind\":\"th-1/raw\",\"type\":\"number\","
        "\"scale\":0.1,\"offset\":0}]}],"
        "\"rules\":[{\"id\":\"zz\",\"severity\":\"warning\",\"message\":"
        "\"hot \\\"\\n\",\"expr\":\"o.t > 200\"},{\"id\":\"aa\",\"severity\":"
        "\"critical\",\"message\":\"x\",\"expr\":\"o.pct > 5\"}]}";
    json_t *doc = json_loads(doc_s, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    e = ht_twin_engine_new(NULL, NULL);
    char err[200];
    ck_assert_msg(ht_twin_engine_put(e, doc, 0, err, sizeof err) == HT_OK, "%s",
                  err);
    json_decref(doc);
    text_is_state(e, "oven");
    setnum(e, "th-1", "temperature", 100, 1);
    setnum(e, "th-1", "raw", 123, 2);
    json_t *label = json_string("a\t\"b\"/\x01");
    ht_twin_engine_set_value(e, "th-1", "label", label, 3);
    json_decref(label);
    text_is_state(e, "oven");
    ht_twin_engine_free(e);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("twin");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, press_line_starts_unstable_and_can_be_stabilised);
    tcase_add_test(tc, duration_resets_when_condition_drops);
    tcase_add_test(tc, twin_level_property_changes_with_its_first_target);
    tcase_add_test(tc, only_affected_rules_reevaluate);
    tcase_add_test(tc, offline_and_stale);
    tcase_add_test(tc, late_heartbeat_makes_one_value_stale);
    tcase_add_test(tc, replace_keeps_alarms_remove_forgets);
    tcase_add_test(tc, props_state_and_device_index);
    tcase_add_test(tc, status_reaches_only_bound_twins);
    tcase_add_test(tc, write_resolution);
    tcase_add_test(tc, conversions_both_ways);
    tcase_add_test(tc, model_errors_point_at_the_member);
    tcase_add_test(tc, press_line_model);
    tcase_add_test(tc, actions_fire_on_edges_only);
    tcase_add_test(tc, alarm_action_fires_when_the_rule_raises);
    tcase_add_test(tc, interlocks_and_permissives_check_without_side_effects);
    tcase_add_test(tc, auto_twin_from_thing);
    tcase_add_test(tc, twin_td);
    tcase_add_test(tc, state_text_is_the_state_serialised);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
