/* test_semantics.c - the vocabulary, TD build/parse round trip, TD
 * validation errors and command value checks. */
#include "ht_err.h"
#include "semantics/semantics.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static struct ht_sem_thing *sample(void)
{
    struct ht_sem_thing *t = calloc(1, sizeof *t);
    t->id = strdup("gears-1");
    t->title = strdup("Gears board");
    t->nprops = 3;
    t->props = calloc(3, sizeof *t->props);
    t->props[0] = (struct ht_sem_prop){.name = strdup("gear_a_speed"),
                                       .sem_type = strdup("ht:RotationSpeed"),
                                       .unit = strdup("unit:REV-PER-MIN"),
                                       .dtype = HT_SEM_NUMBER,
                                       .has_min = true,
                                       .min = 0,
                                       .has_max = true,
                                       .max = 200,
                                       .read_only = true,
                                       .observable = true,
                                       .max_interval_ms = 30000};
    t->props[1] = (struct ht_sem_prop){.name = strdup("motor_a_setpoint"),
                                       .sem_type = strdup("ht:SpeedSetpoint"),
                                       .dtype = HT_SEM_NUMBER,
                                       .has_min = true,
                                       .min = 0,
                                       .has_max = true,
                                       .max = 200,
                                       .has_step = true,
                                       .step = 1,
                                       .observable = true};
    t->props[2] = (struct ht_sem_prop){.name = strdup("motor_a_enable"),
                                       .title = strdup("Motor A"),
                                       .sem_type = strdup("ht:MotorEnable"),
                                       .dtype = HT_SEM_BOOLEAN,
                                       .observable = true};
    return t;
}

static const struct ht_sem_forms forms = {
    .mqtt_base = "mqtt://127.0.0.1:1883",
    .topic_prefix = "holotwin/v1",
    .http_td_href = "http://board.local:8081/.well-known/wot",
    .kind = "device",
};

START_TEST(vocabulary_maps_terms_to_saref_and_units)
{
    const struct ht_sem_term *t = ht_sem_term_find("ht:RotationSpeed");
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t->saref, "saref:Sensor");
    ck_assert_str_eq(t->unit, "unit:REV-PER-MIN");
    t = ht_sem_term_find("ht:Heater");
    ck_assert_str_eq(t->saref, "saref:Actuator");
    ck_assert_int_eq(t->dtype, HT_SEM_BOOLEAN);
    ck_assert_str_eq(ht_sem_term_find("ht:Temperature")->unit, "unit:DEG_C");
    ck_assert_ptr_null(ht_sem_term_find("ht:NoSuchThing"));
    ck_assert_ptr_null(ht_sem_term_find(NULL));
    static const char *const want[] = {
        "ht:RotationSpeed", "ht:SpeedSetpoint", "ht:Temperature",
        "ht:MotorEnable",   "ht:Heater",        "ht:Fan",
        "ht:Lamp",          "ht:Button",        "ht:Position",
        "ht:Count",         "ht:Frequency",     "ht:Switch",
        "ht:Presence",      "ht:Relay",         "ht:AnalogValue"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        ck_assert_msg(ht_sem_term_find(want[i]), "%s missing", want[i]);
    size_t n = 0;
    for (const struct ht_sem_term *p = ht_sem_terms(); p->name; p++, n++)
        ck_assert(p->saref && p->widget && p->title);
    ck_assert_uint_ge(n, 15);
}
END_TEST

START_TEST(context_is_the_td_11_context_plus_prefixes)
{
    json_t *c = ht_sem_context();
    ck_assert(json_is_array(c));
    ck_assert_str_eq(json_string_value(json_array_get(c, 0)),
                     "https://www.w3.org/2022/wot/td/v1.1");
    json_t *p = json_array_get(c, 1);
    ck_assert_str_eq(json_string_value(json_object_get(p, "saref")),
                     "https://w3id.org/saref#");
    ck_assert_str_eq(json_string_value(json_object_get(p, "mqv")),
                     "http://www.example.org/mqtt-binding#");
    ck_assert_ptr_nonnull(json_object_get(p, "unit"));
    ck_assert_ptr_nonnull(json_object_get(p, "ht"));
    json_decref(c);
}
END_TEST

START_TEST(td_has_id_security_types_and_mqtt_forms)
{
    struct ht_sem_thing *t = sample();
    json_t *td = ht_sem_td_build(t, &forms);
    ck_assert_str_eq(json_string_value(json_object_get(td, "id")),
                     "urn:holotwin:device:gears-1");
    ck_assert_str_eq(
        json_string_value(json_array_get(json_object_get(td, "@type"), 0)),
        "saref:Device");
    json_t *sd = json_object_get(td, "securityDefinitions");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(sd, "basic_sc"), "scheme")),
                     "basic");
    ck_assert_str_eq(
        json_string_value(json_array_get(json_object_get(td, "security"), 0)),
        "basic_sc");
    json_t *sp =
        json_object_get(json_object_get(td, "properties"), "gear_a_speed");
    ck_assert_str_eq(
        json_string_value(json_array_get(json_object_get(sp, "@type"), 0)),
        "saref:Sensor");
    ck_assert_str_eq(
        json_string_value(json_array_get(json_object_get(sp, "@type"), 1)),
        "ht:RotationSpeed");
    ck_assert(json_is_true(json_object_get(sp, "readOnly")));
    ck_assert_str_eq(json_string_value(json_object_get(sp, "unit")),
                     "unit:REV-PER-MIN");
    json_t *f = json_object_get(sp, "forms");
    ck_assert_uint_eq(json_array_size(f), 1); /* read-only: no write form */
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(f, 0), "mqv:filter")),
        "holotwin/v1/devices/gears-1/props/gear_a_speed");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(f, 0), "href")),
        "mqtt://127.0.0.1:1883/holotwin/v1/devices/gears-1/props/gear_a_speed");
    /* The payload on the wire is the sample envelope, not the bare value:
     * the content type says so and the schema describes it. */
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(f, 0), "contentType")),
        HT_SEM_CT_SAMPLE);
    json_t *ar = json_array_get(
        json_object_get(json_array_get(f, 0), "additionalResponses"), 0);
    ck_assert(json_is_true(json_object_get(ar, "success")));
    ck_assert_str_eq(json_string_value(json_object_get(ar, "schema")),
                     "sample");
    json_t *sample =
        json_object_get(json_object_get(td, "schemaDefinitions"), "sample");
    ck_assert_str_eq(json_string_value(json_array_get(
                         json_object_get(sample, "required"), 0)),
                     "v");
    ck_assert(json_object_get(json_object_get(sample, "properties"), "seq"));
    json_t *en =
        json_object_get(json_object_get(td, "properties"), "motor_a_enable");
    f = json_object_get(en, "forms");
    ck_assert_uint_eq(json_array_size(f), 2);
    json_t *w = json_array_get(f, 1);
    ck_assert_str_eq(json_string_value(json_object_get(w, "op")),
                     "writeproperty");
    ck_assert_str_eq(json_string_value(json_object_get(w, "mqv:topic")),
                     "holotwin/v1/devices/gears-1/cmd/motor_a_enable");
    ck_assert_str_eq(json_string_value(json_object_get(w, "contentType")),
                     HT_SEM_CT_COMMAND);
    ck_assert_str_eq(json_string_value(json_object_get(en, "title")),
                     "Motor A");
    json_t *setp =
        json_object_get(json_object_get(td, "properties"), "motor_a_setpoint");
    ck_assert_int_eq(json_number_value(json_object_get(setp, "multipleOf")), 1);
    json_t *links = json_object_get(td, "links");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(links, 0), "href")),
        "http://board.local:8081/.well-known/wot");
    /* Deterministic: the same thing gives the same bytes. */
    json_t *td2 = ht_sem_td_build(t, &forms);
    char *a = json_dumps(td, JSON_COMPACT), *b = json_dumps(td2, JSON_COMPACT);
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
    json_decref(td2);
    json_decref(td);
    ht_sem_thing_free(t);
}
END_TEST

START_TEST(gateway_and_twin_tds_use_rest_forms_and_bearer)
{
    struct ht_sem_thing *t = sample();
    struct ht_sem_forms gf = {.http_base = "http://gw:8080",
                              .gateway = true,
                              .kind = "twin",
                              .topic_prefix = "holotwin/v1"};
    json_t *td = ht_sem_td_build(t, &gf);
    ck_assert_str_eq(json_string_value(json_object_get(td, "id")),
                     "urn:holotwin:twin:gears-1");
    ck_assert_ptr_nonnull(json_object_get(
        json_object_get(td, "securityDefinitions"), "bearer_sc"));
    json_t *f = json_object_get(
        json_object_get(json_object_get(td, "properties"), "motor_a_enable"),
        "forms");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(f, 0), "href")),
        "http://gw:8080/api/v1/twins/gears-1/properties/motor_a_enable");
    json_decref(td);
    ht_sem_thing_free(t);
}
END_TEST

START_TEST(td_round_trips_through_parse)
{
    struct ht_sem_thing *t = sample();
    json_t *td = ht_sem_td_build(t, &forms);
    struct ht_sem_thing *back = NULL;
    char err[256] = "";
    ck_assert_int_eq(ht_sem_td_parse(td, &back, err, sizeof err), HT_OK);
    ck_assert_str_eq(back->id, "gears-1");
    ck_assert_uint_eq(back->nprops, 3);
    const struct ht_sem_prop *p = ht_sem_thing_prop(back, "motor_a_setpoint");
    ck_assert_ptr_nonnull(p);
    ck_assert(p->has_min && p->has_max && p->has_step);
    ck_assert(p->max == 200 && p->step == 1 && !p->read_only);
    ck_assert_str_eq(p->sem_type, "ht:SpeedSetpoint");
    ck_assert(ht_sem_thing_prop(back, "gear_a_speed")->read_only);
    /* The heartbeat travels; a property without one has none. */
    ck_assert_int_eq(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(td, "properties"), "gear_a_speed"),
            "ht:maxIntervalMs")),
        30000);
    ck_assert_uint_eq(ht_sem_thing_prop(back, "gear_a_speed")->max_interval_ms,
                      30000);
    ck_assert_uint_eq(p->max_interval_ms, 0);
    ck_assert_ptr_null(json_object_get(
        json_object_get(json_object_get(td, "properties"), "motor_a_setpoint"),
        "ht:maxIntervalMs"));
    ck_assert_ptr_null(ht_sem_thing_prop(back, "nope"));
    ht_sem_thing_free(back);
    json_decref(td);
    ht_sem_thing_free(t);
}
END_TEST

/* Each mutation of a valid TD must be refused with a message naming it. */
START_TEST(td_parse_rejects_hostile_and_malformed_tds)
{
    struct ht_sem_thing *t = sample();
    static const struct {
        const char *ptr_key; /* top-level key to replace, or prop field */
        const char *json;    /* replacement (NULL = delete) */
        bool in_prop;
        const char *needle;
    } cases[] = {
        {"id", "\"urn:holotwin:device:a+b\"", false, "id"},
        {"id", "\"urn:holotwin:device:../x\"", false, "id"},
        {"id", "\"urn:other:x\"", false, "id"},
        {"id", NULL, false, "id"},
        {"title", NULL, false, "title"},
        {"@context", "\"https://example.org/\"", false, "@context"},
        {"securityDefinitions", NULL, false, "securityDefinitions"},
        {"security", "[]", false, "security"},
        {"properties", "[]", false, "properties"},
        {"type", "\"float\"", true, "type"},
        {"minimum", "\"low\"", true, "minimum"},
        {"multipleOf", "0", true, "multipleOf"},
        {"forms", "[]", true, "forms"},
        {"readOnly", "\"yes\"", true, "readOnly"},
        {"enum", "[1]", true, "enum"},
        {"ht:maxIntervalMs", "0", true, "ht:maxIntervalMs"},
        {"ht:maxIntervalMs", "-5", true, "ht:maxIntervalMs"},
        {"ht:maxIntervalMs", "1.5", true, "ht:maxIntervalMs"},
        {"ht:maxIntervalMs", "\"1000\"", true, "ht:maxIntervalMs"},
        {"ht:maxIntervalMs", "86400001", true, "ht:maxIntervalMs"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *td = ht_sem_td_build(t, &forms);
        json_t *obj = cases[i].in_prop
                          ? json_object_get(json_object_get(td, "properties"),
                                            "gear_a_speed")
                          : td;
        if (cases[i].json)
            json_object_set_new(
                obj, cases[i].ptr_key,
                json_loads(cases[i].json, JSON_DECODE_ANY, NULL));
        else
            json_object_del(obj, cases[i].ptr_key);
        struct ht_sem_thing *out = (void *)1;
        char err[256] = "";
        ck_assert_msg(ht_sem_td_parse(td, &out, err, sizeof err) == HT_EINVAL,
                      "case %zu accepted", i);
        ck_assert_ptr_null(out);
        ck_assert_msg(strstr(err, cases[i].needle), "case %zu: '%s'", i, err);
        json_decref(td);
    }
    /* A hostile property name. */
    json_t *td = ht_sem_td_build(t, &forms);
    json_object_set(
        json_object_get(td, "properties"), "x/../#",
        json_object_get(json_object_get(td, "properties"), "gear_a_speed"));
    struct ht_sem_thing *out = NULL;
    char err[256];
    ck_assert_int_eq(ht_sem_td_parse(td, &out, err, sizeof err), HT_EINVAL);
    ck_assert(strstr(err, "property name"));
    json_decref(td);
    json_t *arr = json_array();
    ck_assert_int_eq(ht_sem_td_parse(arr, &out, err, sizeof err), HT_EINVAL);
    json_decref(arr);
    ht_sem_thing_free(t);
}
END_TEST

static enum ht_sem_check check_text(const struct ht_sem_prop *p, const char *v)
{
    json_t *j = json_loads(v, JSON_DECODE_ANY, NULL);
    ck_assert_ptr_nonnull(j);
    char msg[128];
    enum ht_sem_check c = ht_sem_value_check(p, j, msg, sizeof msg);
    if (c != HT_SEM_OK)
        ck_assert_msg(msg[0] != '\0', "no message for %s", v);
    json_decref(j);
    return c;
}

START_TEST(value_check_type_range_step_enum_readonly)
{
    struct ht_sem_prop num = {.name = "sp",
                              .dtype = HT_SEM_NUMBER,
                              .has_min = true,
                              .min = 0,
                              .has_max = true,
                              .max = 200,
                              .has_step = true,
                              .step = 0.5};
    ck_assert_int_eq(check_text(&num, "100"), HT_SEM_OK);
    ck_assert_int_eq(check_text(&num, "100.5"), HT_SEM_OK);
    ck_assert_int_eq(check_text(&num, "0"), HT_SEM_OK);
    ck_assert_int_eq(check_text(&num, "200"), HT_SEM_OK);
    ck_assert_int_eq(check_text(&num, "200.5"), HT_SEM_OUT_OF_RANGE);
    ck_assert_int_eq(check_text(&num, "-1"), HT_SEM_OUT_OF_RANGE);
    ck_assert_int_eq(check_text(&num, "100.25"), HT_SEM_OUT_OF_RANGE);
    ck_assert_int_eq(check_text(&num, "\"100\""), HT_SEM_BAD_TYPE);
    ck_assert_int_eq(check_text(&num, "true"), HT_SEM_BAD_TYPE);
    ck_assert_int_eq(check_text(&num, "null"), HT_SEM_BAD_TYPE);
    struct ht_sem_prop dec = {
        .name = "d", .dtype = HT_SEM_NUMBER, .has_step = true, .step = 0.1};
    ck_assert_int_eq(check_text(&dec, "0.3"), HT_SEM_OK); /* binary rounding */
    struct ht_sem_prop in = {.name = "i", .dtype = HT_SEM_INTEGER};
    ck_assert_int_eq(check_text(&in, "5"), HT_SEM_OK);
    ck_assert_int_eq(check_text(&in, "5.0"), HT_SEM_OK);
    ck_assert_int_eq(check_text(&in, "5.5"), HT_SEM_BAD_TYPE);
    struct ht_sem_prop b = {.name = "b", .dtype = HT_SEM_BOOLEAN};
    ck_assert_int_eq(check_text(&b, "false"), HT_SEM_OK);
    ck_assert_int_eq(check_text(&b, "1"), HT_SEM_BAD_TYPE);
    char *ev[] = {"auto", "manual", NULL};
    struct ht_sem_prop s = {
        .name = "m", .dtype = HT_SEM_STRING, .enum_vals = ev};
    ck_assert_int_eq(check_text(&s, "\"auto\""), HT_SEM_OK);
    ck_assert_int_eq(check_text(&s, "\"turbo\""), HT_SEM_OUT_OF_RANGE);
    ck_assert_int_eq(check_text(&s, "3"), HT_SEM_BAD_TYPE);
    struct ht_sem_prop ro = {
        .name = "r", .dtype = HT_SEM_NUMBER, .read_only = true};
    ck_assert_int_eq(check_text(&ro, "1"), HT_SEM_READ_ONLY);
    ck_assert_int_eq(check_text(&ro, "\"x\""), HT_SEM_READ_ONLY);
    ck_assert_str_eq(ht_sem_check_code(HT_SEM_BAD_TYPE), "bad_type");
    ck_assert_str_eq(ht_sem_check_code(HT_SEM_OUT_OF_RANGE), "out_of_range");
    ck_assert_str_eq(ht_sem_check_code(HT_SEM_READ_ONLY), "read_only");
    ck_assert_str_eq(ht_sem_check_code(HT_SEM_OK), "ok");
}
END_TEST

static enum ht_sem_check valid_text(const struct ht_sem_prop *p, const char *v)
{
    json_t *j = json_loads(v, JSON_DECODE_ANY, NULL);
    ck_assert_ptr_nonnull(j);
    char msg[128];
    enum ht_sem_check c = ht_sem_value_valid(p, j, msg, sizeof msg);
    if (c != HT_SEM_OK)
        ck_assert_msg(msg[0] != '\0', "no message for %s", v);
    json_decref(j);
    return c;
}

/* Reported values: read-only is no reason to refuse; the schema is. */
START_TEST(value_valid_for_reported_values)
{
    struct ht_sem_prop ro = {
        .name = "r", .dtype = HT_SEM_BOOLEAN, .read_only = true};
    ck_assert_int_eq(valid_text(&ro, "true"), HT_SEM_OK);
    ck_assert_int_eq(valid_text(&ro, "\"true\""), HT_SEM_BAD_TYPE);
    ck_assert_int_eq(valid_text(&ro, "[true]"), HT_SEM_BAD_TYPE);
    ck_assert_int_eq(valid_text(&ro, "{}"), HT_SEM_BAD_TYPE);
    ck_assert_int_eq(valid_text(&ro, "null"), HT_SEM_BAD_TYPE);
    ck_assert_int_eq(valid_text(&ro, "9223372036854775807"), HT_SEM_BAD_TYPE);
    struct ht_sem_prop in = {.name = "i", .dtype = HT_SEM_INTEGER};
    ck_assert_int_eq(valid_text(&in, "9007199254740992"), HT_SEM_OK);
    ck_assert_int_eq(valid_text(&in, "9007199254740993"), HT_SEM_OUT_OF_RANGE);
    ck_assert_int_eq(valid_text(&in, "-9223372036854775808"),
                     HT_SEM_OUT_OF_RANGE);
    struct ht_sem_prop s = {.name = "s", .dtype = HT_SEM_STRING, .max_len = 3};
    ck_assert_int_eq(valid_text(&s, "\"abc\""), HT_SEM_OK);
    ck_assert_int_eq(valid_text(&s, "\"abcd\""), HT_SEM_OUT_OF_RANGE);
    /* maxLength survives the TD round trip. */
    struct ht_sem_thing th = {.id = "x", .props = &s, .nprops = 1};
    struct ht_sem_forms f = {.topic_prefix = "holotwin/v1", .kind = "device"};
    json_t *td = ht_sem_td_build(&th, &f);
    struct ht_sem_thing *back = NULL;
    char err[256];
    ck_assert_int_eq(ht_sem_td_parse(td, &back, err, sizeof err), HT_OK);
    ck_assert_uint_eq(back->props[0].max_len, 3);
    ht_sem_thing_free(back);
    json_decref(td);
}
END_TEST

START_TEST(names_and_dtypes)
{
    ck_assert(ht_sem_name_valid("gear_a_speed"));
    ck_assert(!ht_sem_name_valid(""));
    ck_assert(!ht_sem_name_valid("a+b"));
    ck_assert(!ht_sem_name_valid("a/b"));
    ck_assert(!ht_sem_name_valid("A"));
    ck_assert(!ht_sem_name_valid("abcdefghijabcdefghijabcdefghijabc")); /* 33 */
    ck_assert(ht_sem_name_valid("abcdefghijabcdefghijabcdefghijab"));   /* 32 */
    enum ht_sem_dtype d;
    ck_assert_int_eq(ht_sem_dtype_parse("integer", &d), HT_OK);
    ck_assert_int_eq(d, HT_SEM_INTEGER);
    ck_assert_int_eq(ht_sem_dtype_parse("float", &d), HT_EINVAL);
    ck_assert_str_eq(ht_sem_dtype_name(HT_SEM_BOOLEAN), "boolean");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("semantics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, vocabulary_maps_terms_to_saref_and_units);
    tcase_add_test(tc, context_is_the_td_11_context_plus_prefixes);
    tcase_add_test(tc, td_has_id_security_types_and_mqtt_forms);
    tcase_add_test(tc, gateway_and_twin_tds_use_rest_forms_and_bearer);
    tcase_add_test(tc, td_round_trips_through_parse);
    tcase_add_test(tc, td_parse_rejects_hostile_and_malformed_tds);
    tcase_add_test(tc, value_check_type_range_step_enum_readonly);
    tcase_add_test(tc, value_valid_for_reported_values);
    tcase_add_test(tc, names_and_dtypes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
