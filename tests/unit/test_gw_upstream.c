/* test_gw_upstream.c - the upstream module's pure part: ids become NATS
 * subject tokens without ambiguity (a '.' would split a token, wildcards
 * would widen a subscription), and the config's defaults leave the
 * upstream off. */
#include "gateway/alarms/alarms.h"
#include "gateway/plant/plant.h"
#include "gateway/upstream/upstream.h"

#include "ht_err.h"

#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

START_TEST(ids_become_single_tokens)
{
    char out[72];
    ck_assert_int_eq(gw__upstream_token("press-1", out, sizeof out), HT_OK);
    ck_assert_str_eq(out, "press-1");
    /* A dot would split the token: it becomes '=', which ids never hold,
     * so "a.b" and "a_b" stay distinct. */
    ck_assert_int_eq(gw__upstream_token("line.3", out, sizeof out), HT_OK);
    ck_assert_str_eq(out, "line=3");
    ck_assert_int_eq(gw__upstream_token("line_3", out, sizeof out), HT_OK);
    ck_assert_str_eq(out, "line_3");
    /* Wildcards and separators never reach a subject. */
    ck_assert_int_eq(gw__upstream_token("a*b>c d", out, sizeof out), HT_OK);
    ck_assert_str_eq(out, "a_b_c_d");
    ck_assert_int_eq(gw__upstream_token("alarm-raised", out, sizeof out),
                     HT_OK);
    ck_assert_str_eq(out, "alarm-raised");
}
END_TEST

START_TEST(empty_or_long_ids_are_refused)
{
    char out[8];
    ck_assert_int_eq(gw__upstream_token("", out, sizeof out), HT_EINVAL);
    ck_assert_int_eq(gw__upstream_token(NULL, out, sizeof out), HT_EINVAL);
    ck_assert_int_eq(gw__upstream_token("12345678", out, sizeof out),
                     HT_EINVAL);
    ck_assert_int_eq(gw__upstream_token("1234567", out, sizeof out), HT_OK);
}
END_TEST

/* A descriptor goes up as a JSON string (the cell's bytes kept); above
 * the record limit it goes without it, saying why. */
START_TEST(descriptor_record_keeps_bytes_or_says_too_large)
{
    const char doc[] = "{\"schema\":\"holotwin.ui/1\",\"x\":1.50}";
    size_t n = 0;
    bool omitted = true;
    char *rec = gw__upstream_desc_record("press-1", "web", "\"e1\"", 3, 42, doc,
                                         strlen(doc), 4096, &n, &omitted);
    ck_assert(!omitted);
    json_t *o = json_loadb(rec, n, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(o, "document")), doc);
    ck_assert_str_eq(json_string_value(json_object_get(o, "etag")), "\"e1\"");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "version")), 3);
    json_decref(o);
    free(rec);
    rec = gw__upstream_desc_record("press-1", "web", "\"e1\"", 3, 42, doc,
                                   strlen(doc), 60, &n, &omitted);
    ck_assert(omitted);
    o = json_loadb(rec, n, 0, NULL);
    ck_assert_ptr_null(json_object_get(o, "document"));
    ck_assert_str_eq(json_string_value(json_object_get(o, "omitted")),
                     "too_large");
    json_decref(o);
    free(rec);
}
END_TEST

/* Plant ids: three ids joined by '~'; anything else refused. */
START_TEST(plant_ids_are_three_ids)
{
    char id[GW_PLANT_ID_MAX], a[HT_ID_MAX + 1], b[HT_ID_MAX + 1],
        c[HT_ID_MAX + 1];
    ck_assert_int_eq(
        gw__plant_id("plant-1", "hall.2", "press_1", id, sizeof id), HT_OK);
    ck_assert_str_eq(id, "plant-1~hall.2~press_1");
    ck_assert_int_eq(gw__plant_id_split(id, a, b, c), HT_OK);
    ck_assert_str_eq(a, "plant-1");
    ck_assert_str_eq(b, "hall.2");
    ck_assert_str_eq(c, "press_1");
    static const char *const bad[] = {
        "",      "a",     "a~b",     "a~b~c~d", "~b~c",   "a~~c",  "a~b~",
        "a~b~+", "a~#~c", "a~b/x~c", "..~b~c",  "a~b~..", "A~b~c", "a~b~c d"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(!gw__plant_id_valid(bad[i]), "%s", bad[i]);
    ck_assert(!gw__plant_id_valid(NULL));
    ck_assert_int_eq(gw__plant_id("a", "..", "c", id, sizeof id), HT_EINVAL);
    ck_assert_int_eq(gw__plant_id("a", "b", "c", id, 5), HT_EINVAL);
    char longid[HT_ID_MAX + 2];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    char big[3 * sizeof longid + 3];
    snprintf(big, sizeof big, "a~b~%s", longid);
    ck_assert(!gw__plant_id_valid(big));
}
END_TEST

/* The alarm commands a cell runs for its REST route and for the plant
 * view (routed): the same verbs, roles and body checks. */
START_TEST(alarm_commands_parse_as_the_route)
{
    const char *action = NULL;
    json_t *v = NULL;
    enum gw_role role;
    char err[200];
    json_t *b = json_pack("{ss}", "note", "seen");
    ck_assert_int_eq(gw__alarms_cmd_parse("ack", "start-held", b, &action, &v,
                                          &role, err, sizeof err),
                     HT_OK);
    ck_assert_str_eq(action, "alarm-ack");
    ck_assert_int_eq(role, GW_ROLE_OPERATOR);
    ck_assert_str_eq(json_string_value(json_object_get(v, "rule")),
                     "start-held");
    ck_assert_str_eq(json_string_value(json_object_get(v, "note")), "seen");
    json_decref(v);
    json_decref(b);
    ck_assert_int_eq(gw__alarms_cmd_parse("in-service", "r", NULL, &action, &v,
                                          &role, err, sizeof err),
                     HT_OK);
    ck_assert_int_eq(role, GW_ROLE_TECHNICIAN);
    json_decref(v);
    /* unknown verbs, bad rules and bodies */
    ck_assert_int_eq(gw__alarms_cmd_parse("snooze", "r", NULL, &action, &v,
                                          &role, err, sizeof err),
                     HT_ENOENT);
    ck_assert_int_eq(gw__alarms_cmd_parse("ack", "../x", NULL, &action, &v,
                                          &role, err, sizeof err),
                     HT_EINVAL);
    static const char *const bad[] = {"[1]", "{\"x\":1}", "{\"note\":3}",
                                      "{\"duration_ms\":1000}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *x = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        ck_assert_int_eq(gw__alarms_cmd_parse("ack", "r", x, &action, &v, &role,
                                              err, sizeof err),
                         HT_EINVAL);
        json_decref(x);
    }
    b = json_pack("{}");
    ck_assert_int_eq(gw__alarms_cmd_parse("shelve", "r", b, &action, &v, &role,
                                          err, sizeof err),
                     HT_EINVAL);
    json_decref(b);
    b = json_pack("{sI}", "duration_ms", (json_int_t)60000);
    ck_assert_int_eq(gw__alarms_cmd_parse("shelve", "r", b, &action, &v, &role,
                                          err, sizeof err),
                     HT_OK);
    ck_assert_str_eq(action, "alarm-shelve");
    json_decref(v);
    json_decref(b);
}
END_TEST

START_TEST(upstream_is_off_by_default)
{
    struct ht_gw_conf c;
    ht_gw_conf_init(&c);
    ck_assert(!c.up_url || !*c.up_url);
    ck_assert_str_eq(c.up_site, "site");
    ck_assert_str_eq(c.up_stream, "HOLOTWIN");
    ck_assert_int_eq(c.up_replicas, 3);
    ck_assert(!c.up_values);
    ck_assert_str_eq(c.up_values_mode, "outbox");
    ht_gw_conf_clear(&c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gw_upstream");
    TCase *tc = tcase_create("upstream");
    tcase_add_test(tc, ids_become_single_tokens);
    tcase_add_test(tc, empty_or_long_ids_are_refused);
    tcase_add_test(tc, upstream_is_off_by_default);
    tcase_add_test(tc, descriptor_record_keeps_bytes_or_says_too_large);
    tcase_add_test(tc, plant_ids_are_three_ids);
    tcase_add_test(tc, alarm_commands_parse_as_the_route);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
