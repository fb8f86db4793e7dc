/* test_gw_ha.c - the pure parts of Home Assistant discovery: the config
 * builder (a TD in, {topic: config} out), the discovery topics of the
 * topic contract, and the broker ACL lines HA's account and the gateway
 * get. The keys themselves are checked against HA's documented table by
 * tests/integration/test_ha.c on every demo entity. */
#include "gateway/broker/provision.h"
#include "gateway/core/conf.h"
#include "gateway/ha/ha.h"

#include "ht_err.h"
#include "ht_topic.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define D "homeassistant/"
#define N "holotwin_gw-1"

/* A board's TD as ht_sem_td_build writes it (only what the builder
 * reads). */
static const char board_td[] =
    "{\"properties\":{"
    "\"temp\":{\"title\":\"Temperature\",\"type\":\"number\","
    "\"unit\":\"unit:DEG_C\",\"@type\":[\"saref:Sensor\",\"ht:Temperature\"],"
    "\"readOnly\":true},"
    "\"button\":{\"title\":\"Button\",\"type\":\"boolean\",\"readOnly\":true},"
    "\"lamp\":{\"title\":\"Lamp\",\"type\":\"boolean\",\"readOnly\":false},"
    "\"speed_setpoint\":{\"title\":\"Speed\",\"type\":\"integer\","
    "\"minimum\":0,\"maximum\":200,\"unit\":\"unit:REV-PER-MIN\","
    "\"readOnly\":false},"
    "\"open_ended\":{\"type\":\"number\",\"readOnly\":false},"
    "\"mode\":{\"type\":\"string\",\"enum\":[\"auto\",\"manual\"],"
    "\"readOnly\":true},"
    "\"label\":{\"type\":\"string\",\"readOnly\":false}}}";

static json_t *configs(const char *account, enum gw_ha_kind kind,
                       const char *id, const char *td, const json_t *bind,
                       const json_t *alarms)
{
    struct gw_ha_ctx ctx = {.dprefix = "homeassistant",
                            .prefix = "holotwin/v1",
                            .gateway = "gw-1",
                            .account = account,
                            .version = "1.2.3"};
    json_t *t = json_loads(td, 0, NULL);
    ck_assert_ptr_nonnull(t);
    json_t *c = gw__ha_configs(&ctx, kind, id, "Board one", t, bind, alarms);
    json_decref(t);
    return c;
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

START_TEST(a_board_maps_to_sensors_switches_and_numbers)
{
    json_t *c = configs("ha", GW_HA_DEVICE, "b.1", board_td, NULL, NULL);
    ck_assert_ptr_nonnull(c);
    /* temp, button, lamp, speed_setpoint, open_ended (no range: a sensor),
     * mode (enum sensor); a writable string maps to nothing. */
    ck_assert_int_eq(json_object_size(c), 6);
    json_t *t = json_object_get(c, D "sensor/" N "/device_b_1_temp/config");
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(str(t, "state_topic"),
                     "holotwin/v1/devices/b.1/props/temp");
    ck_assert_str_eq(str(t, "value_template"), "{{ value_json.v }}");
    ck_assert_str_eq(str(t, "unit_of_measurement"), "°C");
    ck_assert_str_eq(str(t, "device_class"), "temperature");
    ck_assert_str_eq(str(t, "state_class"), "measurement");
    ck_assert_str_eq(str(t, "unique_id"), N "_device_b_1_temp");
    ck_assert_str_eq(str(t, "default_entity_id"),
                     "sensor.holotwin_gw_1_device_b_1_temp");
    ck_assert_str_eq(str(t, "name"), "Temperature");
    json_t *av = json_array_get(json_object_get(t, "availability"), 0);
    ck_assert_str_eq(str(av, "topic"), "holotwin/v1/devices/b.1/status");
    ck_assert_str_eq(str(av, "value_template"), "{{ value_json.state }}");
    ck_assert_str_eq(str(av, "payload_available"), "online");
    json_t *dev = json_object_get(t, "device");
    ck_assert_str_eq(str(dev, "manufacturer"), "Holotwin");
    ck_assert_str_eq(str(dev, "via_device"), N);
    ck_assert_str_eq(json_string_value(json_array_get(
                         json_object_get(dev, "identifiers"), 0)),
                     N "_device_b.1");
    ck_assert_str_eq(str(json_object_get(t, "origin"), "sw_version"), "1.2.3");

    json_t *b =
        json_object_get(c, D "binary_sensor/" N "/device_b_1_button/config");
    ck_assert_ptr_nonnull(b);
    ck_assert_str_eq(str(b, "value_template"),
                     "{{ 'ON' if value_json.v else 'OFF' }}");
    ck_assert_ptr_null(json_object_get(b, "command_topic"));

    json_t *s = json_object_get(c, D "switch/" N "/device_b_1_lamp/config");
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(str(s, "command_topic"), "holotwin/v1/apps/ha/request");
    ck_assert_str_eq(
        str(s, "command_template"),
        "{\"device\":\"b.1\",\"property\":\"lamp\",\"value\":{{ value }}}");
    ck_assert_str_eq(str(s, "payload_on"), "true");
    ck_assert_str_eq(str(s, "value_template"),
                     "{{ 'true' if value_json.v else 'false' }}");

    json_t *n =
        json_object_get(c, D "number/" N "/device_b_1_speed_setpoint/config");
    ck_assert_ptr_nonnull(n);
    ck_assert(json_number_value(json_object_get(n, "min")) == 0);
    ck_assert(json_number_value(json_object_get(n, "max")) == 200);
    ck_assert(json_number_value(json_object_get(n, "step")) == 1);
    ck_assert_str_eq(str(n, "unit_of_measurement"), "rpm");
    ck_assert_ptr_null(json_object_get(n, "device_class"));
    ck_assert_ptr_nonnull(
        json_object_get(c, D "sensor/" N "/device_b_1_open_ended/config"));
    json_t *e = json_object_get(c, D "sensor/" N "/device_b_1_mode/config");
    ck_assert_str_eq(str(e, "device_class"), "enum");
    ck_assert_int_eq(json_array_size(json_object_get(e, "options")), 2);
    json_decref(c);
}
END_TEST

/* Without an operator account nothing can be commanded: the writable
 * properties are shown read-only. */
START_TEST(without_an_account_everything_is_read_only)
{
    json_t *c = configs(NULL, GW_HA_DEVICE, "b1", board_td, NULL, NULL);
    ck_assert_int_eq(json_object_size(c), 6);
    const char *topic;
    json_t *v;
    json_object_foreach(c, topic, v)
    {
        ck_assert_msg(!strstr(topic, "/switch/") && !strstr(topic, "/number/"),
                      "%s", topic);
        ck_assert_ptr_null(json_object_get(v, "command_topic"));
    }
    ck_assert_ptr_nonnull(
        json_object_get(c, D "binary_sensor/" N "/device_b1_lamp/config"));
    json_decref(c);
}
END_TEST

START_TEST(a_twin_reads_its_state_and_alarms)
{
    static const char td[] =
        "{\"properties\":{\"gear.speed\":{\"type\":\"number\","
        "\"readOnly\":true},\"lamp.on\":{\"type\":\"boolean\","
        "\"readOnly\":false}}}";
    json_t *bind = json_pack("{s:s, s:s}", "gear.speed", "g1", "lamp.on", "p1");
    json_t *alarms = json_pack("[s, s]", "overheating", "speed-range");
    json_t *c = configs("ha", GW_HA_TWIN, "line", td, bind, alarms);
    /* 2 properties, 2 alarm sensors, 1 problem sensor. */
    ck_assert_int_eq(json_object_size(c), 5);
    json_t *s =
        json_object_get(c, D "sensor/" N "/twin_line_gear_speed/config");
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(str(s, "state_topic"), "holotwin/v1/twins/line/state");
    ck_assert_str_eq(str(s, "value_template"),
                     "{{ value_json.properties['gear.speed'].value }}");
    ck_assert_str_eq(
        str(json_array_get(json_object_get(s, "availability"), 0), "topic"),
        "holotwin/v1/devices/g1/status");
    json_t *sw = json_object_get(c, D "switch/" N "/twin_line_lamp_on/config");
    ck_assert_str_eq(
        str(sw, "command_template"),
        "{\"twin\":\"line\",\"property\":\"lamp.on\",\"value\":{{ value }}}");
    json_t *a =
        json_object_get(c, D "sensor/" N "/twin_line_alarm_overheating/config");
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(str(a, "state_topic"), "holotwin/v1/twins/line/alarms");
    ck_assert_str_eq(str(a, "device_class"), "enum");
    ck_assert_int_eq(json_array_size(json_object_get(a, "options")), 7);
    ck_assert_ptr_nonnull(strstr(str(a, "value_template"), "'overheating'"));
    json_t *p =
        json_object_get(c, D "binary_sensor/" N "/twin_line_alarms/config");
    ck_assert_str_eq(str(p, "device_class"), "problem");
    ck_assert_str_eq(str(json_object_get(p, "device"), "model"),
                     "Holotwin twin");
    json_decref(c);
    json_decref(bind);
    json_decref(alarms);
}
END_TEST

START_TEST(bad_input_gives_no_configs)
{
    ck_assert_ptr_null(
        configs("ha", GW_HA_DEVICE, "Bad/Id", board_td, NULL, NULL));
    ck_assert_ptr_null(
        configs("a/b", GW_HA_DEVICE, "b1", board_td, NULL, NULL));
    struct gw_ha_ctx ctx = {.dprefix = "ha/#",
                            .prefix = "holotwin/v1",
                            .gateway = "gw",
                            .version = "1"};
    ck_assert_ptr_null(
        gw__ha_configs(&ctx, GW_HA_DEVICE, "b1", NULL, NULL, NULL, NULL));
    /* No TD: nothing to show, but not an error. */
    ctx.dprefix = "homeassistant";
    json_t *c =
        gw__ha_configs(&ctx, GW_HA_DEVICE, "b1", NULL, NULL, NULL, NULL);
    ck_assert_int_eq(json_object_size(c), 0);
    json_decref(c);
}
END_TEST

START_TEST(discovery_topics_are_checked)
{
    char buf[HT_TOPIC_HA_MAX];
    ck_assert_int_gt(ht_topic_ha_config(buf, sizeof buf, "homeassistant",
                                        "sensor", "node_1", "obj-2"),
                     0);
    ck_assert_str_eq(buf, "homeassistant/sensor/node_1/obj-2/config");
    ck_assert_int_eq(
        ht_topic_ha_config(buf, sizeof buf, "homeassistant", "light", "n", "o"),
        HT_EINVAL);
    ck_assert_int_eq(ht_topic_ha_config(buf, sizeof buf, "homeassistant",
                                        "sensor", "n/x", "o"),
                     HT_EINVAL);
    ck_assert_int_eq(ht_topic_ha_config(buf, sizeof buf, "homeassistant",
                                        "sensor", "n", "o+"),
                     HT_EINVAL);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(
        ht_topic_ha_config(buf, 10, "homeassistant", "sensor", "n", "o"),
        HT_ETOOBIG);
    ck_assert_int_gt(ht_topic_ha_status(buf, sizeof buf, "ha/x"), 0);
    ck_assert_str_eq(buf, "ha/x/status");
    ck_assert_int_eq(ht_topic_ha_status(buf, sizeof buf, "ha/"), HT_EINVAL);
    char node[HT_TOPIC_HA_ID_MAX + 1];
    ck_assert_int_eq(gw__ha_node("cell.a-1", node, sizeof node), HT_OK);
    ck_assert_str_eq(node, "holotwin_cell_a-1");
}
END_TEST

START_TEST(acl_lets_ha_read_and_write_only_its_own)
{
    struct ht_gw_conf c;
    ht_gw_conf_init(&c);
    /* Off: the gateway may still clear its old configs; HA gets nothing. */
    char *g = gw__prov_acl_ha_text(&c, NULL);
    ck_assert_ptr_nonnull(strstr(g, "user _gateway\ntopic readwrite "
                                    "homeassistant/#\n"));
    free(g);
    free(c.ha_account);
    c.ha_account = strdup("ha");
    char *a = gw__prov_acl_ha_text(&c, "_operator.ha");
    ck_assert_str_eq(a, "");
    free(a);
    c.ha_enabled = true;
    a = gw__prov_acl_ha_text(&c, "_operator.ha");
    ck_assert_str_eq(a, "topic read homeassistant/#\n"
                        "topic write homeassistant/status\n"
                        "topic read holotwin/v1/devices/+/status\n");
    free(a);
    /* A viewer named so reads the same; other accounts and boards get
     * nothing. */
    a = gw__prov_acl_ha_text(&c, "_viewer.ha");
    ck_assert_ptr_nonnull(strstr(a, "topic read homeassistant/#"));
    free(a);
    a = gw__prov_acl_ha_text(&c, "_operator.other");
    ck_assert_str_eq(a, "");
    free(a);
    a = gw__prov_acl_ha_text(&c, "ha");
    ck_assert_str_eq(a, "");
    free(a);
    ht_gw_conf_clear(&c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gw_ha");
    TCase *tc = tcase_create("ha");
    tcase_add_test(tc, a_board_maps_to_sensors_switches_and_numbers);
    tcase_add_test(tc, without_an_account_everything_is_read_only);
    tcase_add_test(tc, a_twin_reads_its_state_and_alarms);
    tcase_add_test(tc, bad_input_gives_no_configs);
    tcase_add_test(tc, discovery_topics_are_checked);
    tcase_add_test(tc, acl_lets_ha_read_and_write_only_its_own);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
