/* test_gwctl.c - unit tests for gwctl's pure parts: VALUE parsing,
 * COMPONENT.PROP and DEVICE/PROP splitting, --from/--to times, answer
 * shapes, the generated device-agent config, twin state flattening, model
 * binding, the SSE parser and the aligned table. */
#include "tools/gwctl/gwctl.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

START_TEST(values_are_json_or_fall_back_to_strings)
{
    json_t *v = gw_parse_value("true");
    ck_assert(json_is_true(v));
    json_decref(v);
    v = gw_parse_value("42");
    ck_assert(json_is_integer(v) && json_integer_value(v) == 42);
    json_decref(v);
    v = gw_parse_value("-1.5");
    ck_assert(json_is_real(v) && json_real_value(v) == -1.5);
    json_decref(v);
    v = gw_parse_value("\"true\"");
    ck_assert_str_eq(json_string_value(v), "true");
    json_decref(v);
    v = gw_parse_value("{\"a\":[1,2]}");
    ck_assert(json_is_array(json_object_get(v, "a")));
    json_decref(v);
    /* Not JSON: a string, verbatim (spaces, braces and all). */
    v = gw_parse_value("hello world");
    ck_assert_str_eq(json_string_value(v), "hello world");
    json_decref(v);
    v = gw_parse_value("{broken");
    ck_assert_str_eq(json_string_value(v), "{broken");
    json_decref(v);
    v = gw_parse_value("");
    ck_assert_str_eq(json_string_value(v), "");
    json_decref(v);
    /* Duplicate keys are not silently merged: sent as the string typed. */
    v = gw_parse_value("{\"a\":1,\"a\":2}");
    ck_assert(json_is_string(v));
    json_decref(v);
}
END_TEST

START_TEST(property_arguments_split_and_reject_hostile_input)
{
    char a[80], b[80], err[160];
    ck_assert_int_eq(gw_split_twin_prop("gear_a.speed", a, sizeof a, b,
                                        sizeof b, err, sizeof err),
                     0);
    ck_assert_str_eq(a, "gear_a");
    ck_assert_str_eq(b, "speed");
    ck_assert_int_eq(gw_split_twin_prop("twin.line_speed", a, sizeof a, b,
                                        sizeof b, err, sizeof err),
                     0);
    ck_assert_str_eq(a, "twin");
    static const char *const bad[] = {"speed", ".speed", "gear.", "a.b.c",
                                      "a+.b",  "a.#",    "../x",  "a/b",
                                      "",      NULL};
    for (size_t i = 0; bad[i]; i++) {
        err[0] = '\0';
        ck_assert_msg(gw_split_twin_prop(bad[i], a, sizeof a, b, sizeof b, err,
                                         sizeof err) == -1,
                      "accepted '%s'", bad[i]);
        ck_assert_ptr_nonnull(strstr(err, "COMPONENT.PROPERTY"));
    }
    ck_assert_int_eq(gw_split_device_prop("gears-1/motor_a_setpoint", a,
                                          sizeof a, b, sizeof b, err,
                                          sizeof err),
                     0);
    ck_assert_str_eq(a, "gears-1");
    ck_assert_str_eq(b, "motor_a_setpoint");
    static const char *const badd[] = {
        "gears-1", "/p", "d/", "D/p", "a+b/p", "../p", "d/p/q", "d/#", NULL};
    for (size_t i = 0; badd[i]; i++)
        ck_assert_msg(gw_split_device_prop(badd[i], a, sizeof a, b, sizeof b,
                                           err, sizeof err) == -1,
                      "accepted '%s'", badd[i]);
    /* Too long for the caller's buffer is an error, never a truncation. */
    char small[4];
    ck_assert_int_eq(gw_split_twin_prop("component.p", small, sizeof small, b,
                                        sizeof b, err, sizeof err),
                     -1);
    ck_assert(gw_name_valid("lamp"));
    ck_assert(!gw_name_valid("la mp"));
    ck_assert(!gw_name_valid(""));
}
END_TEST

START_TEST(times_parse_absolute_relative_and_epoch)
{
    long long now = 1700000000000LL, t = 0;
    ck_assert_int_eq(gw_parse_time("now", now, &t), 0);
    ck_assert(t == now);
    ck_assert_int_eq(gw_parse_time("-5m", now, &t), 0);
    ck_assert(t == now - 300000);
    ck_assert_int_eq(gw_parse_time("-2h", now, &t), 0);
    ck_assert(t == now - 7200000);
    ck_assert_int_eq(gw_parse_time("-7d", now, &t), 0);
    ck_assert(t == now - 7 * 86400000LL);
    ck_assert_int_eq(gw_parse_time("-30s", now, &t), 0);
    ck_assert(t == now - 30000);
    ck_assert_int_eq(gw_parse_time("1699999999123", now, &t), 0);
    ck_assert(t == 1699999999123LL);
    ck_assert_int_eq(gw_parse_time("2023-11-14T22:13:20Z", now, &t), 0);
    ck_assert(t == 1700000000000LL);
    ck_assert_int_eq(gw_parse_time("2023-11-14T22:13Z", now, &t), 0);
    ck_assert(t == 1700000000000LL - 20000);
    /* Local time: the same as mktime's answer for that wall clock. */
    struct tm tm = {.tm_year = 123,
                    .tm_mon = 10,
                    .tm_mday = 14,
                    .tm_hour = 8,
                    .tm_min = 30,
                    .tm_isdst = -1};
    long long want = (long long)mktime(&tm) * 1000;
    ck_assert_int_eq(gw_parse_time("2023-11-14 08:30", now, &t), 0);
    ck_assert(t == want);
    ck_assert_int_eq(gw_parse_time("2023-11-14", now, &t), 0);
    static const char *const bad[] = {"",
                                      "yesterday",
                                      "-5",
                                      "-5w",
                                      "5m",
                                      "2023-13-01",
                                      "2023-11-14T25:00",
                                      "2023-11-14T10",
                                      "2023-11-14X",
                                      "12345678901234567890",
                                      "-1x",
                                      NULL};
    for (size_t i = 0; bad[i]; i++)
        ck_assert_msg(gw_parse_time(bad[i], now, &t) == -1, "accepted '%s'",
                      bad[i]);
}
END_TEST

START_TEST(alarm_ids_and_shelf_durations_parse)
{
    char twin[65], rule[65], err[160];
    ck_assert_int_eq(gw_split_alarm("press-line:overheating", twin, sizeof twin,
                                    rule, sizeof rule, err, sizeof err),
                     0);
    ck_assert_str_eq(twin, "press-line");
    ck_assert_str_eq(rule, "overheating");
    ck_assert_int_eq(gw_split_alarm("a.b/c.d", twin, sizeof twin, rule,
                                    sizeof rule, err, sizeof err),
                     0);
    ck_assert_str_eq(rule, "c.d");
    ck_assert_int_eq(gw_split_alarm("press-line", twin, sizeof twin, rule,
                                    sizeof rule, err, sizeof err),
                     -1);
    ck_assert_str_eq(err, "'press-line' is not TWIN:RULE");
    ck_assert_int_eq(gw_split_alarm("x:../etc", twin, sizeof twin, rule,
                                    sizeof rule, err, sizeof err),
                     -1);
    ck_assert_int_eq(gw_split_alarm(":r", twin, sizeof twin, rule, sizeof rule,
                                    err, sizeof err),
                     -1);
    long long ms;
    ck_assert_int_eq(gw_parse_duration("30m", &ms), 0);
    ck_assert_int_eq(ms, 1800000);
    ck_assert_int_eq(gw_parse_duration("500ms", &ms), 0);
    ck_assert_int_eq(ms, 500);
    ck_assert_int_eq(gw_parse_duration("24h", &ms), 0);
    ck_assert_int_eq(ms, 86400000);
    ck_assert_int_eq(gw_parse_duration("25h", &ms), -1);
    ck_assert_int_eq(gw_parse_duration("0s", &ms), -1);
    ck_assert_int_eq(gw_parse_duration("-5m", &ms), -1);
    ck_assert_int_eq(gw_parse_duration("5", &ms), -1);
    ck_assert_int_eq(gw_parse_duration("99999999999999999999h", &ms), -1);
}
END_TEST

START_TEST(answers_are_read_in_every_shape)
{
    const json_t *v;
    long long ts;
    json_t *a = json_loads("{\"v\":true,\"ts\":123,\"seq\":4}", 0, NULL);
    gw_extract_value(a, &v, &ts);
    ck_assert(json_is_true(v) && ts == 123);
    json_decref(a);
    a = json_loads("{\"value\":21.5,\"ts\":9,\"quality\":\"good\"}", 0, NULL);
    gw_extract_value(a, &v, &ts);
    ck_assert(json_real_value(v) == 21.5 && ts == 9);
    json_decref(a);
    a = json_loads("17", JSON_DECODE_ANY, NULL);
    gw_extract_value(a, &v, &ts);
    ck_assert(v == a && ts == 0);
    json_decref(a);
    /* An object value without v/value is the value itself. */
    a = json_loads("{\"x\":1}", 0, NULL);
    gw_extract_value(a, &v, &ts);
    ck_assert(v == a);
    json_decref(a);

    a = json_loads("{\"items\":[1,2]}", 0, NULL);
    ck_assert_int_eq(json_array_size(gw_items(a)), 2);
    json_decref(a);
    a = json_loads("[1]", 0, NULL);
    ck_assert(gw_items(a) == a);
    json_decref(a);
    a = json_loads("{\"items\":{}}", 0, NULL);
    ck_assert_ptr_null(gw_items(a));
    json_decref(a);
}
END_TEST

START_TEST(agent_config_carries_broker_credentials_and_backend)
{
    char err[200];
    json_t *ans =
        json_loads("{\"id\":\"board-7\",\"mqtt\":{\"host\":\"10.0.0.2\","
                   "\"port\":1884,\"username\":\"board-7\","
                   "\"password\":\"s3cret\"}}",
                   0, NULL);
    json_t *c = gw_agent_config(ans, "sim", err, sizeof err);
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(json_string_value(json_object_get(c, "id")), "board-7");
    json_t *m = json_object_get(c, "mqtt");
    ck_assert_str_eq(json_string_value(json_object_get(m, "broker")),
                     "10.0.0.2:1884");
    ck_assert_str_eq(json_string_value(json_object_get(m, "username")),
                     "board-7");
    ck_assert_str_eq(json_string_value(json_object_get(m, "password")),
                     "s3cret");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(c, "gpio"), "backend")),
                     "sim");
    ck_assert_int_gt(json_array_size(json_object_get(c, "capabilities")), 0);
    json_decref(c);
    c = gw_agent_config(ans, "gpiod", err, sizeof err);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(c, "gpio"), "backend")),
                     "gpiod");
    ck_assert_int_eq(json_array_size(json_object_get(c, "capabilities")), 0);
    json_decref(c);
    ck_assert_ptr_null(gw_agent_config(ans, "wiringpi", err, sizeof err));
    json_decref(ans);

    ans = json_loads("{\"id\":\"b\",\"mqtt\":{\"host\":\"::1\",\"port\":1883}}",
                     0, NULL);
    c = gw_agent_config(ans, "sim", err, sizeof err);
    ck_assert_str_eq(json_string_value(
                         json_object_get(json_object_get(c, "mqtt"), "broker")),
                     "[::1]:1883");
    ck_assert_ptr_null(json_object_get(json_object_get(c, "mqtt"), "password"));
    json_decref(c);
    json_decref(ans);

    /* TLS (issue 14): the TLS port, the public host when given, the CA
     * inline. */
    ans = json_loads("{\"id\":\"b\",\"mqtt\":{\"host\":\"127.0.0.1\","
                     "\"port\":1883,\"username\":\"b\",\"password\":\"p\","
                     "\"tls\":{\"port\":8883,\"host\":\"gw.example\","
                     "\"ca\":\"-----BEGIN CERTIFICATE-----\\n\"}}}",
                     0, NULL);
    c = gw_agent_config(ans, "sim", err, sizeof err);
    ck_assert_ptr_nonnull(c);
    m = json_object_get(c, "mqtt");
    ck_assert_str_eq(json_string_value(json_object_get(m, "broker")),
                     "gw.example:8883");
    ck_assert_str_eq(json_string_value(json_object_get(m, "ca")),
                     "-----BEGIN CERTIFICATE-----\n");
    json_decref(c);
    json_decref(ans);

    static const char *const bad[] = {
        "{\"mqtt\":{\"host\":\"h\",\"port\":1}}",
        "{\"id\":\"../x\",\"mqtt\":{\"host\":\"h\",\"port\":1}}",
        "{\"id\":\"b\",\"mqtt\":{\"port\":1}}",
        "{\"id\":\"b\",\"mqtt\":{\"host\":\"h\",\"port\":70000}}",
        "{\"id\":\"b\"}",
        NULL};
    for (size_t i = 0; bad[i]; i++) {
        ans = json_loads(bad[i], 0, NULL);
        err[0] = '\0';
        ck_assert_msg(gw_agent_config(ans, "sim", err, sizeof err) == NULL,
                      "accepted %s", bad[i]);
        ck_assert(err[0] != '\0');
        json_decref(ans);
    }
}
END_TEST

START_TEST(twin_state_flattens_to_rows)
{
    json_t *st = json_loads(
        "{\"id\":\"press-line\",\"stable\":false,\"properties\":{"
        "\"gear_a.speed\":{\"value\":60,\"ts\":5,\"quality\":\"good\"},"
        "\"fan.on\":{\"value\":null,\"ts\":0,\"quality\":\"unknown\"}},"
        "\"alarms\":[]}",
        0, NULL);
    json_t *rows = gw_flatten_state(st);
    ck_assert_int_eq(json_array_size(rows), 2);
    json_t *r = json_array_get(rows, 0);
    ck_assert_str_eq(json_string_value(json_object_get(r, "property")),
                     "gear_a.speed");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "value")), 60);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "ts")), 5);
    ck_assert_str_eq(json_string_value(json_object_get(r, "quality")), "good");
    json_decref(rows);
    json_decref(st);

    st = json_loads("{\"components\":{\"gear\":{\"speed\":{\"v\":1,\"ts\":2},"
                    "\"on\":true}}}",
                    0, NULL);
    rows = gw_flatten_state(st);
    ck_assert_int_eq(json_array_size(rows), 2);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(rows, 0), "property")),
        "gear.speed");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(rows, 1), "property")),
        "gear.on");
    json_decref(rows);
    json_decref(st);
}
END_TEST

START_TEST(bind_sets_the_property_binding_in_the_model)
{
    char err[200];
    json_t *m = json_loads(
        "{\"id\":\"t\",\"components\":[{\"id\":\"gear_a\",\"properties\":["
        "{\"name\":\"speed\",\"bind\":\"old/x\"},{\"name\":\"on\"}]}]}",
        0, NULL);
    ck_assert_int_eq(
        gw_model_bind(m, "gear_a", "on", "gears-1", "motor", err, sizeof err),
        0);
    json_t *p = json_array_get(
        json_object_get(json_array_get(json_object_get(m, "components"), 0),
                        "properties"),
        1);
    ck_assert_str_eq(json_string_value(json_object_get(p, "bind")),
                     "gears-1/motor");
    /* The other property is untouched. */
    p = json_array_get(
        json_object_get(json_array_get(json_object_get(m, "components"), 0),
                        "properties"),
        0);
    ck_assert_str_eq(json_string_value(json_object_get(p, "bind")), "old/x");
    ck_assert_int_eq(
        gw_model_bind(m, "gear_b", "on", "d", "p", err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "gear_b"));
    ck_assert_int_eq(
        gw_model_bind(m, "gear_a", "nope", "d", "p", err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "nope"));
    json_decref(m);
}
END_TEST

struct got {
    char ev[8][32], data[8][64], id[8][16];
    int n;
};

static void on_ev(const struct gw_sse_event *e, void *ud)
{
    struct got *g = ud;
    if (g->n >= 8)
        return;
    snprintf(g->ev[g->n], 32, "%s", e->event);
    snprintf(g->data[g->n], 64, "%s", e->data);
    snprintf(g->id[g->n], 16, "%s", e->id);
    g->n++;
}

START_TEST(sse_parser_handles_any_chunking_and_line_ending)
{
    static const char stream[] = ": keep-alive\r\n"
                                 "retry: 2500\r\n"
                                 "id: 7\r\n"
                                 "event: property\r\n"
                                 "data: {\"device\":\"d\",\r\n"
                                 "data: \"v\":1}\r\n"
                                 "\r\n"
                                 "data:no-space\n"
                                 "\n"
                                 "id: 9\r"
                                 "data: cr-only\r"
                                 "\r"
                                 "event: ignored-without-data\n"
                                 "\n";
    /* Every chunk size from 1 byte to the whole stream gives the same
     * events: libcurl splits wherever the network did. */
    for (size_t chunk = 1; chunk <= sizeof stream - 1; chunk++) {
        struct gw_sse s;
        struct got g = {0};
        gw_sse_init(&s);
        for (size_t off = 0; off < sizeof stream - 1; off += chunk) {
            size_t n = sizeof stream - 1 - off < chunk ? sizeof stream - 1 - off
                                                       : chunk;
            ck_assert_int_eq(gw_sse_feed(&s, stream + off, n, on_ev, &g), 0);
        }
        ck_assert_msg(g.n == 3, "chunk %zu: %d events", chunk, g.n);
        ck_assert_str_eq(g.ev[0], "property");
        ck_assert_str_eq(g.data[0], "{\"device\":\"d\",\n\"v\":1}");
        ck_assert_str_eq(g.id[0], "7");
        ck_assert_str_eq(g.ev[1], "message");
        ck_assert_str_eq(g.data[1], "no-space");
        ck_assert_str_eq(g.id[1], "7"); /* the last id persists */
        ck_assert_str_eq(g.data[2], "cr-only");
        ck_assert_str_eq(g.id[2], "9");
        ck_assert_int_eq(s.retry_ms, 2500);
        ck_assert_str_eq(s.last_id, "9");
        gw_sse_clear(&s);
    }
}
END_TEST

START_TEST(sse_parser_rejects_endless_lines_and_reset_drops_partials)
{
    struct gw_sse s;
    struct got g = {0};
    gw_sse_init(&s);
    char *big = malloc(1 << 16);
    memset(big, 'x', 1 << 16);
    int rc = 0;
    for (int i = 0; i < 40 && rc == 0; i++)
        rc = gw_sse_feed(&s, big, 1 << 16, on_ev, &g);
    ck_assert_int_eq(rc, -1);
    free(big);
    gw_sse_clear(&s);

    gw_sse_init(&s);
    ck_assert_int_eq(gw_sse_feed(&s, "id: 3\ndata: half", 16, on_ev, &g), 0);
    gw_sse_reset(&s);
    ck_assert_int_eq(gw_sse_feed(&s, "\ndata: whole\n\n", 14, on_ev, &g), 0);
    ck_assert_int_eq(g.n, 1);
    ck_assert_str_eq(g.data[0], "whole");
    ck_assert_str_eq(g.id[0], "3");
    gw_sse_clear(&s);
}
END_TEST

START_TEST(tables_align_columns_and_colour_only_when_asked)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    static const char *const hdr[] = {"ID", "STATE", "TITLE"};
    struct gw_table *t = gw_table_new(3, hdr);
    const char *r1[] = {"demo-1", "approved", "Demo board"};
    const char *r2[] = {"x", NULL, "X"};
    gw_table_row(t, r1);
    gw_table_row(t, r2);
    gw_table_print(t, f, false);
    gw_table_free(t);
    fclose(f);
    ck_assert_str_eq(buf, "ID      STATE     TITLE\n"
                          "demo-1  approved  Demo board\n"
                          "x       -         X\n");
    free(buf);

    f = open_memstream(&buf, &len);
    t = gw_table_new(3, hdr);
    gw_table_print(t, f, true);
    gw_table_free(t);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "\033[1m"));
    free(buf);

    char tb[32];
    gw_fmt_time(0, tb, sizeof tb);
    ck_assert_str_eq(tb, "-");
    gw_fmt_time(1700000000000LL, tb, sizeof tb);
    ck_assert_int_eq(strlen(tb), 19);
    json_t *o = json_pack("{s:s}", "a", "b");
    ck_assert_str_eq(gw_str(o, "a"), "b");
    ck_assert_str_eq(gw_str(o, "zz"), "-");
    json_decref(o);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gwctl");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, values_are_json_or_fall_back_to_strings);
    tcase_add_test(tc, property_arguments_split_and_reject_hostile_input);
    tcase_add_test(tc, times_parse_absolute_relative_and_epoch);
    tcase_add_test(tc, answers_are_read_in_every_shape);
    tcase_add_test(tc, alarm_ids_and_shelf_durations_parse);
    tcase_add_test(tc, agent_config_carries_broker_credentials_and_backend);
    tcase_add_test(tc, twin_state_flattens_to_rows);
    tcase_add_test(tc, bind_sets_the_property_binding_in_the_model);
    tcase_add_test(tc, sse_parser_handles_any_chunking_and_line_ending);
    tcase_add_test(tc,
                   sse_parser_rejects_endless_lines_and_reset_drops_partials);
    tcase_add_test(tc, tables_align_columns_and_colour_only_when_asked);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
