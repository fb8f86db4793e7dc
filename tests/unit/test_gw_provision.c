/* test_gw_provision.c - the pieces of broker provisioning that need no
 * broker: the mosquitto password-file hash (PBKDF2-SHA-512 by nettle)
 * against one made by mosquitto_passwd and against a fresh run of it, the
 * ACL text, and the broker config with provisioning on and off. */
#include "gateway/apps/apps.h"
#include "gateway/broker/broker.h"
#include "gateway/broker/provision.h"
#include "gateway/store/store.h"

#include "ht_err.h"

#include <check.h>
#include <nettle/base64.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* `mosquitto_passwd -b F dev1 secret` wrote this line; the same salt
 * must give the same hash, in the same format. */
START_TEST(password_hash_matches_mosquitto_passwd)
{
    static const uint8_t salt[12] = {0x94, 0xa8, 0x0a, 0x1f, 0x28, 0xed,
                                     0xc1, 0x71, 0xd8, 0x1d, 0xde, 0x9e};
    char out[200];
    gw__prov_hash("secret", salt, sizeof salt, 101, out, sizeof out);
    ck_assert_str_eq(out, "$7$101$lKgKHyjtwXHYHd6e$4pi55tvRamfhga2+gRwcsAQp7Jr"
                          "uIAy0s83ayGyXxalDraiggCuqXxL+WgESYlieETTJEX4K9da8D"
                          "NblpWhNVA==");
}
END_TEST

/* The same cross-check against the mosquitto_passwd installed here, run
 * now with a random salt: its salt, fed to our hash, gives its line. */
START_TEST(password_hash_matches_a_fresh_mosquitto_passwd)
{
    char dir[] = "/tmp/ht-passwd-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[64], cmd[160], line[256] = "";
    snprintf(path, sizeof path, "%s/pw", dir);
    snprintf(cmd, sizeof cmd, "mosquitto_passwd -c -b %s dev1 s3cr3t", path);
    ck_assert_msg(system(cmd) == 0, "mosquitto_passwd failed (installed?)");
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    fclose(f);
    unlink(path);
    rmdir(dir);
    line[strcspn(line, "\n")] = '\0';
    /* dev1:$7$ITER$SALT64$HASH64 */
    unsigned iter = 0;
    char salt64[64] = "";
    ck_assert_int_eq(sscanf(line, "dev1:$7$%u$%63[^$]$", &iter, salt64), 2);
    struct base64_decode_ctx bc;
    uint8_t salt[48];
    size_t saltlen = sizeof salt;
    base64_decode_init(&bc);
    ck_assert(
        base64_decode_update(&bc, &saltlen, salt, strlen(salt64), salt64) &&
        base64_decode_final(&bc));
    char out[200];
    gw__prov_hash("s3cr3t", salt, saltlen, iter, out, sizeof out);
    ck_assert_str_eq(out, line + strlen("dev1:"));
}
END_TEST

START_TEST(acl_keeps_devices_in_their_subtree)
{
    char *a = gw__prov_acl_text("plant/v1");
    ck_assert_ptr_nonnull(strstr(a, "\nuser _gateway\ntopic readwrite "
                                    "plant/v1/#\n"));
    static const char *const lines[] = {
        "\npattern write plant/v1/devices/%u/td\n",
        "\npattern write plant/v1/devices/%u/status\n",
        "\npattern write plant/v1/devices/%u/props/+\n",
        "\npattern write plant/v1/devices/%u/ack\n",
        "\npattern read plant/v1/devices/%u/cmd/+\n",
        "\npattern read plant/v1/devices/%u/sync\n",
        "\npattern read plant/v1/sync\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
        ck_assert_msg(strstr(a, lines[i]), "no '%s' in:\n%s", lines[i], a);
    /* Nothing else: no readwrite or # for devices, no client-id rules,
     * no write on a cmd topic for anyone but the gateway. */
    ck_assert_ptr_null(strstr(a, "pattern write plant/v1/devices/%u/cmd"));
    ck_assert_ptr_null(strstr(a, "pattern readwrite"));
    ck_assert_ptr_null(strstr(a, "%c"));
    ck_assert_ptr_null(strstr(strstr(a, "pattern"), "#"));
    free(a);
}
END_TEST

START_TEST(broker_config_with_and_without_provisioning)
{
    struct ht_gw_conf c;
    ht_gw_conf_init(&c);
    ck_assert(c.provisioning); /* secure by default (issue 14) */
    ck_assert(!c.insecure);
    char *t = gw__broker_config(&c, NULL, "/d/broker");
    ck_assert_ptr_nonnull(strstr(t, "\nallow_anonymous false\n"));
    ck_assert_ptr_null(strstr(t, "allow_anonymous true"));
    ck_assert_ptr_nonnull(strstr(t, "\npassword_file /d/broker/passwd\n"));
    ck_assert_ptr_nonnull(strstr(t, "\nacl_file /d/broker/acl\n"));
    /* Nobody may take over another client's id (the gateway's included). */
    ck_assert_ptr_nonnull(strstr(t, "\nuse_username_as_clientid true\n"));
    free(t);
    c.insecure = true; /* the development switch */
    t = gw__broker_config(&c, NULL, "/d/broker");
    ck_assert_ptr_nonnull(strstr(t, "\nallow_anonymous true\n"));
    ck_assert_ptr_null(strstr(t, "password_file"));
    ck_assert_ptr_null(strstr(t, "use_username_as_clientid"));
    free(t);
    ht_gw_conf_clear(&c);
}
END_TEST

static void collect(void *ud, const char *user, const char *hash)
{
    char *buf = ud;
    size_t n = strlen(buf);
    snprintf(buf + n, 512 - n, "%s=%s;", user, hash);
}

START_TEST(store_keeps_credential_hashes)
{
    char dir[] = "/tmp/ht-prov-store-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    struct ht_store *st;
    char err[256];
    ck_assert_int_eq(ht_store_open(dir, NULL, &st, err, sizeof err), HT_OK);
    ck_assert_int_eq(ht_store_cred_put(st, "b-2", "$7$101$s$h2", 2), HT_OK);
    ck_assert_int_eq(ht_store_cred_put(st, "a-1", "$7$101$s$h1", 1), HT_OK);
    ck_assert_int_eq(ht_store_cred_put(st, "b-2", "$7$101$s$h3", 3), HT_OK);
    char buf[512] = "";
    ck_assert_int_eq(ht_store_cred_each(st, collect, buf), HT_OK);
    ck_assert_str_eq(buf, "a-1=$7$101$s$h1;b-2=$7$101$s$h3;");
    ck_assert_int_eq(ht_store_cred_delete(st, "a-1"), HT_OK);
    ck_assert_int_eq(ht_store_cred_delete(st, "a-1"), HT_ENOENT);
    ht_store_close(st);
    /* Durable: a reopened store has what was left. */
    ck_assert_int_eq(ht_store_open(dir, NULL, &st, err, sizeof err), HT_OK);
    buf[0] = '\0';
    ck_assert_int_eq(ht_store_cred_each(st, collect, buf), HT_OK);
    ck_assert_str_eq(buf, "b-2=$7$101$s$h3;");
    ht_store_close(st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(app_accounts_are_named_by_role_and_confined)
{
    char name[80];
    ck_assert_int_eq(gw__prov_app_parse("_viewer.hmd-1", name),
                     GW_PROV_APP_VIEWER);
    ck_assert_str_eq(name, "hmd-1");
    ck_assert_int_eq(gw__prov_app_parse("_operator.line", name),
                     GW_PROV_APP_OPERATOR);
    ck_assert_str_eq(name, "line");
    /* Devices, the gateway and hostile names are no app accounts. */
    static const char *const no[] = {"hmd-1",       "_gateway",    "_viewer.",
                                     "_viewer.A+B", "_viewer.a/b", "_admin.x",
                                     "_viewer.#"};
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        ck_assert_msg(gw__prov_app_parse(no[i], NULL) == GW_PROV_APP_NONE, "%s",
                      no[i]);
    char *v = gw__prov_acl_app_text("p/v1", "_viewer.hmd-1");
    ck_assert_str_eq(v, "\nuser _viewer.hmd-1\ntopic read p/v1/twins/#\n"
                        "topic read p/v1/devices/+/props/+\n");
    free(v);
    char *o = gw__prov_acl_app_text("p/v1", "_operator.line");
    ck_assert_str_eq(o, "\nuser _operator.line\ntopic read p/v1/twins/#\n"
                        "topic read p/v1/devices/+/props/+\n"
                        "topic write p/v1/apps/line/request\n"
                        "topic read p/v1/apps/line/reply\n"
                        "topic write p/v1/apps/line/status\n");
    free(o);
    char *d = gw__prov_acl_app_text("p/v1", "board-1");
    ck_assert_str_eq(d, "");
    free(d);
}
END_TEST

START_TEST(app_requests_are_parsed_strictly)
{
    int kind;
    char id[80], prop[80], err[160];
    json_t *v;
    static const char ok_dev[] =
        "{\"device\":\"b1\",\"property\":\"lamp\",\"value\":true}";
    ck_assert_int_eq(gw__apps_parse_request(ok_dev, strlen(ok_dev), &kind, id,
                                            prop, &v, err, sizeof err),
                     HT_OK);
    ck_assert_int_eq(kind, 0);
    ck_assert_str_eq(id, "b1");
    ck_assert_str_eq(prop, "lamp");
    ck_assert(json_is_true(v));
    json_decref(v);
    static const char ok_twin[] =
        "{\"twin\":\"line\",\"property\":\"gear.speed\",\"value\":3}";
    ck_assert_int_eq(gw__apps_parse_request(ok_twin, strlen(ok_twin), &kind, id,
                                            prop, &v, err, sizeof err),
                     HT_OK);
    ck_assert_int_eq(kind, 1);
    ck_assert_str_eq(prop, "gear.speed");
    json_decref(v);
    static const char ok_ctl[] = "{\"twin\":\"line\",\"control\":\"take\"}";
    ck_assert_int_eq(gw__apps_parse_request(ok_ctl, strlen(ok_ctl), &kind, id,
                                            prop, &v, err, sizeof err),
                     HT_OK);
    ck_assert_int_eq(kind, 2);
    ck_assert_str_eq(id, "line");
    ck_assert_str_eq(prop, "take");
    ck_assert_ptr_null(v);
    static const char *const bad[] = {
        "{\"twin\":\"line\",\"control\":\"steal\"}",
        "{\"device\":\"b1\",\"control\":\"take\"}",
        "{\"twin\":\"line\",\"control\":\"take\",\"value\":1}",
        "{\"twin\":\"L+1\",\"control\":\"release\"}",
        "{\"twin\":\"line\",\"control\":true}",
        "",
        "[]",
        "not json",
        "{\"device\":\"b1\",\"property\":\"lamp\"}",
        "{\"device\":\"b1\",\"twin\":\"t\",\"property\":\"x\",\"value\":1}",
        "{\"device\":\"B+1\",\"property\":\"lamp\",\"value\":1}",
        "{\"device\":\"b1\",\"property\":\"a/b\",\"value\":1}",
        "{\"twin\":\"t\",\"property\":\"nodot\",\"value\":1}",
        "{\"property\":\"lamp\",\"value\":1}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        ck_assert_msg(gw__apps_parse_request(bad[i], strlen(bad[i]), &kind, id,
                                             prop, &v, err,
                                             sizeof err) == HT_EINVAL,
                      "%s", bad[i]);
        ck_assert_ptr_null(v);
        ck_assert(err[0]);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gw_provision");
    TCase *tc = tcase_create("provision");
    tcase_add_test(tc, password_hash_matches_mosquitto_passwd);
    tcase_add_test(tc, password_hash_matches_a_fresh_mosquitto_passwd);
    tcase_add_test(tc, acl_keeps_devices_in_their_subtree);
    tcase_add_test(tc, broker_config_with_and_without_provisioning);
    tcase_add_test(tc, store_keeps_credential_hashes);
    tcase_add_test(tc, app_accounts_are_named_by_role_and_confined);
    tcase_add_test(tc, app_requests_are_parsed_strictly);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
