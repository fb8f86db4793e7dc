/* test_gw_conf.c - gatewayd's configuration: loopback defaults with the
 * embedded broker, the shipped example config loads cleanly, bad values are
 * reported with file:line:col, and the generated mosquitto config has what
 * the gateway relies on (unbounded session queue, persistence in the data
 * dir, a user that can write there). */
#include "gateway/broker/broker.h"
#include "gateway/security/security.h"

#include "ht_conf.h"
#include "ht_err.h"

#include <check.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *src(void)
{
    return getenv("HT_SRC_DIR") ? getenv("HT_SRC_DIR") : ".";
}

START_TEST(defaults_are_loopback_with_embedded_broker)
{
    struct ht_gw_conf c;
    ht_gw_conf_init(&c);
    ck_assert_int_eq(c.http_port, 8080);
    ck_assert_str_eq(c.http_bind, "127.0.0.1");
    ck_assert_ptr_null(c.broker);
    ck_assert_int_eq(c.mqtt_port, 1883);
    ck_assert_str_eq(c.mqtt_bind, "127.0.0.1");
    ck_assert_str_eq(c.mqtt_prefix, "holotwin/v1");
    ck_assert_int_gt(c.mqtt_session_expiry, 0);
    ck_assert_int_eq(c.command_timeout_ms, 5000);
    ck_assert(!c.auto_approve);
    ck_assert_ptr_null(c.tls_cert);
    ht_gw_conf_clear(&c);
}
END_TEST

START_TEST(example_config_loads)
{
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/gateway/gatewayd.example.json", src());
    struct ht_gw_conf c;
    ht_gw_conf_init(&c);
    ck_assert_msg(ht_conf_load(ht_gw_conf_table(), &c, path, NULL, NULL, err,
                               sizeof err) == HT_OK,
                  "%s", err);
    ck_assert_str_eq(c.gateway_id, "cell-a");
    ck_assert_int_eq(c.http_port, 8080);
    /* ...and passes the listener rules (docs/security.md). */
    ck_assert_msg(gw__sec_check_conf(&c, err, sizeof err) == HT_OK, "%s", err);
    ht_gw_conf_clear(&c);
}
END_TEST

START_TEST(bad_values_name_file_line_col)
{
    char path[] = "/tmp/ht-gwconf-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *text = "{\n  \"http\": {\n    \"port\": 70000\n  }\n}\n";
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct ht_gw_conf c;
    ht_gw_conf_init(&c);
    char err[512] = "";
    ck_assert_int_ne(
        ht_conf_load(ht_gw_conf_table(), &c, path, NULL, NULL, err, sizeof err),
        HT_OK);
    char want[600];
    snprintf(want, sizeof want, "%s:3:", path);
    ck_assert_msg(strstr(err, want) != NULL, "error: %s", err);
    ht_gw_conf_clear(&c);
    unlink(path);
}
END_TEST

START_TEST(broker_config_keeps_everything_for_the_gateway)
{
    struct ht_gw_conf c;
    ht_gw_conf_init(&c);
    c.mqtt_port = 18883;
    char *t = gw__broker_config(&c, NULL, "/data/broker");
    ck_assert_ptr_nonnull(strstr(t, "\nlistener 18883 127.0.0.1\n"));
    ck_assert_ptr_nonnull(strstr(t, "\nmax_queued_messages 0\n"));
    ck_assert_ptr_nonnull(strstr(t, "\npersistence true\n"));
    ck_assert_ptr_nonnull(strstr(t, "\nset_tcp_nodelay true\n"));
    ck_assert_ptr_nonnull(strstr(t, "\npersistence_location /data/broker/\n"));
    struct passwd *pw = getpwuid(geteuid());
    char user[128];
    snprintf(user, sizeof user, "\nuser %s\n", pw ? pw->pw_name : "mosquitto");
    ck_assert_msg(strstr(t, user) != NULL, "no '%s' in:\n%s", user + 1, t);
    free(t);
    ht_gw_conf_clear(&c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gw_conf");
    TCase *tc = tcase_create("conf");
    tcase_add_test(tc, defaults_are_loopback_with_embedded_broker);
    tcase_add_test(tc, example_config_loads);
    tcase_add_test(tc, bad_values_name_file_line_col);
    tcase_add_test(tc, broker_config_keeps_everything_for_the_gateway);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
