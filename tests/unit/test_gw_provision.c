/* test_gw_provision.c - the pieces of broker provisioning that need no
 * broker: SHA-512, HMAC-SHA-512 and PBKDF2 against published vectors, the
 * mosquitto password-file hash against one made by mosquitto_passwd, the
 * ACL text, and the broker config with provisioning on and off. */
#include "gateway/apps/apps.h"
#include "gateway/broker/broker.h"
#include "gateway/broker/provision.h"
#include "gateway/store/store.h"

#include "ht_sha512.h"

#include "ht_err.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void sha512_hex(const void *data, size_t len, char out[129])
{
    struct ht_sha512 c;
    uint8_t d[HT_SHA512_LEN];
    ht_sha512_init(&c);
    ht_sha512_update(&c, data, len);
    ht_sha512_final(&c, d);
    hex(d, sizeof d, out);
}

START_TEST(sha512_known_answers)
{
    char h[129];
    sha512_hex("abc", 3, h);
    ck_assert_str_eq(h, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9ee"
                        "ee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423"
                        "643ce80e2a9ac94fa54ca49f");
    sha512_hex("", 0, h);
    ck_assert_str_eq(h, "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a"
                        "921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd"
                        "47417a81a538327af927da3e");
    /* FIPS 180-4's two-block message, and 200 bytes fed in odd pieces
     * (padding that spills into an extra block). */
    const char *m2 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
                     "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    sha512_hex(m2, strlen(m2), h);
    ck_assert_str_eq(h, "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299a"
                        "eadb6889018501d289e4900f7e4331b99dec4b5433ac7d329ee"
                        "b6dd26545e96e55b874be909");
    char big[200];
    memset(big, 'a', sizeof big);
    struct ht_sha512 c;
    uint8_t d[HT_SHA512_LEN];
    ht_sha512_init(&c);
    ht_sha512_update(&c, big, 111);
    ht_sha512_update(&c, big + 111, 89);
    ht_sha512_final(&c, d);
    hex(d, sizeof d, h);
    ck_assert_str_eq(h, "4b11459c33f52a22ee8236782714c150a3b2c60994e9acee17fe6"
                        "8947a3e6789f31e7668394592da7bef827cddca88c4e6f86e4d"
                        "f7ed1ae6cba71f3e98faee9f");
}
END_TEST

START_TEST(hmac_and_pbkdf2_known_answers)
{
    uint8_t d[80];
    char h[161];
    /* RFC 4231 test case 2. */
    const char *msg = "what do ya want for nothing?";
    ht_hmac_sha512("Jefe", 4, msg, strlen(msg), d);
    hex(d, 64, h);
    ck_assert_str_eq(h, "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270"
                        "cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a3"
                        "4d4a6b4b636e070a38bce737");
    /* A key longer than the block is hashed first. */
    char key[200];
    memset(key, 'k', sizeof key);
    ht_hmac_sha512(key, sizeof key, "msg", 3, d);
    hex(d, 64, h);
    ck_assert_str_eq(h, "b5245971beb52a5a986812c4666a05c735bf5bb7aba32eae2192a"
                        "dad605df4112d6c285d1c46cf81ccb7ab8c2c3b7b3c67932169"
                        "09b5add05223ed21f24cdb1e");
    /* Two iterations, 80 bytes: two output blocks. */
    ht_pbkdf2_sha512("password", 8, "salt", 4, 2, d, 80);
    hex(d, 80, h);
    ck_assert_str_eq(h, "e1d9c16aa681708a45f5c7c4e215ceb66e011a2e9f0040713f18a"
                        "efdb866d53cf76cab2868a39b9f7840edce4fef5a82be67335c"
                        "77a6068e04112754f27ccf4e473e311ad827b68945f4e2dddb2"
                        "04c78");
}
END_TEST

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
    ck_assert_str_eq(v, "\nuser _viewer.hmd-1\ntopic read p/v1/twins/#\n");
    free(v);
    char *o = gw__prov_acl_app_text("p/v1", "_operator.line");
    ck_assert_str_eq(o, "\nuser _operator.line\ntopic read p/v1/twins/#\n"
                        "topic write p/v1/apps/line/request\n"
                        "topic read p/v1/apps/line/reply\n");
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
    static const char *const bad[] = {
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
    tcase_add_test(tc, sha512_known_answers);
    tcase_add_test(tc, hmac_and_pbkdf2_known_answers);
    tcase_add_test(tc, password_hash_matches_mosquitto_passwd);
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
