/* test_gw_ca.c - the gateway's certificate authority (gateway/ca.c) and
 * the listener rules (gateway/security.c): a CA made once and kept (key
 * 0600), a broker certificate that chains to it and names what it should,
 * a half-present CA refused, and the loopback rules. Checked with GnuTLS's
 * own verifier, independent of how ca.c built the certificates. */
#include "gateway/security/ca.h"
#include "gateway/security/security.h"

#include "ht_err.h"
#include "ht_util.h"

#include <check.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static gnutls_x509_crt_t load_crt(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    ck_assert_int_eq(ht_file_read(path, 65536, &text, &len), HT_OK);
    gnutls_datum_t d = {(unsigned char *)text, (unsigned)len};
    gnutls_x509_crt_t c;
    ck_assert_int_eq(gnutls_x509_crt_init(&c), 0);
    ck_assert_int_eq(gnutls_x509_crt_import(c, &d, GNUTLS_X509_FMT_PEM), 0);
    free(text);
    return c;
}

static unsigned mode_of(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_mode & 0777;
}

START_TEST(ca_is_made_once_and_signs_the_broker_certificate)
{
    char dir[] = "/tmp/ht-ca-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cadir[300], key[320], crt[320], skey[320], scrt[320], err[256];
    snprintf(cadir, sizeof cadir, "%s/ca", dir);
    snprintf(key, sizeof key, "%s/ca.key", cadir);
    snprintf(crt, sizeof crt, "%s/ca.crt", cadir);
    snprintf(skey, sizeof skey, "%s/server.key", dir);
    snprintf(scrt, sizeof scrt, "%s/server.crt", dir);
    struct gw_ca *ca;
    ck_assert_int_eq(gw__ca_open(cadir, "Test CA", &ca, err, sizeof err),
                     HT_OK);
    ck_assert_uint_eq(mode_of(key), 0600);
    ck_assert_uint_eq(mode_of(cadir), 0700);
    char *pem1 = strdup(gw__ca_pem(ca));
    ck_assert_ptr_nonnull(strstr(pem1, "-----BEGIN CERTIFICATE-----"));
    ck_assert_ptr_null(strstr(pem1, "PRIVATE KEY"));
    const char *names[] = {"localhost", "127.0.0.1", "::1", "gw.example",
                           "not a name!"};
    ck_assert_int_eq(gw__ca_issue(ca, "broker", names, 5, 1, 30, skey, scrt,
                                  err, sizeof err),
                     HT_OK);
    ck_assert_uint_eq(mode_of(skey), 0600);
    gw__ca_free(ca);

    /* Kept: a second open reads the same CA. */
    ck_assert_int_eq(gw__ca_open(cadir, "Other", &ca, err, sizeof err), HT_OK);
    ck_assert_str_eq(gw__ca_pem(ca), pem1);
    gw__ca_free(ca);

    /* The broker certificate chains to the CA and names its SANs only. */
    gnutls_x509_crt_t cac = load_crt(crt), srv = load_crt(scrt);
    unsigned status = 1;
    ck_assert_int_eq(gnutls_x509_crt_verify(srv, &cac, 1, 0, &status), 0);
    ck_assert_uint_eq(status, 0);
    ck_assert(gnutls_x509_crt_check_hostname(srv, "localhost"));
    ck_assert(gnutls_x509_crt_check_hostname(srv, "gw.example"));
    ck_assert(gnutls_x509_crt_check_hostname(srv, "127.0.0.1"));
    ck_assert(!gnutls_x509_crt_check_hostname(srv, "127.0.0.2"));
    ck_assert(!gnutls_x509_crt_check_hostname(srv, "other.example"));
    ck_assert_int_eq(gnutls_x509_crt_get_ca_status(cac, NULL), 1);
    ck_assert_int_eq(gnutls_x509_crt_get_ca_status(srv, NULL), 0);
    gnutls_x509_crt_deinit(cac);
    gnutls_x509_crt_deinit(srv);

    /* A CA certificate without its key: refused, nothing overwritten. */
    ck_assert_int_eq(unlink(key), 0);
    ck_assert_int_ne(gw__ca_open(cadir, "Test CA", &ca, err, sizeof err),
                     HT_OK);
    ck_assert_ptr_nonnull(strstr(err, "half a certificate authority"));
    char *text = NULL;
    ck_assert_int_eq(ht_file_read(crt, 65536, &text, NULL), HT_OK);
    ck_assert_str_eq(text, pem1);
    free(text);
    free(pem1);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* gw__sec_new issues the broker's certificate for the names boards use,
 * and a board's answer carries the CA and the public host name. */
START_TEST(broker_certificate_names_what_boards_use)
{
    char dir[] = "/tmp/ht-sec-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    struct ht_gw_conf c;
    char err[256], crt[320];
    ht_gw_conf_init(&c);
    free(c.data_dir);
    c.data_dir = strdup(dir);
    c.public_host = strdup("gw.cell-a.example");
    c.mqtt_tls_names = strdup("alias.example, 10.9.8.7");
    c.acl_plugin = strdup("none");
    c.mqtt_tls_port = 18883;
    struct gw_sec *s;
    ck_assert_msg(gw__sec_new(&c, &s, err, sizeof err) == HT_OK, "%s", err);
    snprintf(crt, sizeof crt, "%s/broker/server.crt", dir);
    gnutls_x509_crt_t srv = load_crt(crt);
    static const char *const names[] = {"localhost", "127.0.0.1",
                                        "gw.cell-a.example", "alias.example",
                                        "10.9.8.7"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        ck_assert_msg(gnutls_x509_crt_check_hostname(srv, names[i]), "%s",
                      names[i]);
    ck_assert(!gnutls_x509_crt_check_hostname(srv, "elsewhere.example"));
    gnutls_x509_crt_deinit(srv);
    json_t *m = json_object();
    gw__sec_device_mqtt(s, m);
    json_t *tls = json_object_get(m, "tls");
    ck_assert_int_eq(json_integer_value(json_object_get(tls, "port")), 18883);
    ck_assert_str_eq(json_string_value(json_object_get(tls, "host")),
                     "gw.cell-a.example");
    ck_assert_str_eq(json_string_value(json_object_get(tls, "ca")),
                     gw__sec_ca_pem(s));
    /* The broker's config: both listeners, TLS files, no anonymous. */
    char *conf = gw__sec_broker_conf(&c, s, "/d/broker");
    ck_assert_ptr_nonnull(strstr(conf, "listener 18883 0.0.0.0\n"));
    ck_assert_ptr_nonnull(strstr(conf, "server.crt\n"));
    ck_assert_ptr_nonnull(strstr(conf, "\nallow_anonymous false\n"));
    ck_assert_ptr_null(strstr(conf, "plugin "));
    free(conf);
    json_decref(m);
    gw__sec_free(s);
    ht_gw_conf_clear(&c);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(listeners_stay_on_loopback_without_authentication)
{
    ck_assert(gw__sec_is_loopback("127.0.0.1"));
    ck_assert(gw__sec_is_loopback("127.1.2.3"));
    ck_assert(gw__sec_is_loopback("::1"));
    ck_assert(gw__sec_is_loopback("localhost"));
    ck_assert(!gw__sec_is_loopback("0.0.0.0"));
    ck_assert(!gw__sec_is_loopback("192.168.1.2"));
    ck_assert(!gw__sec_is_loopback("::"));
    ck_assert(!gw__sec_is_loopback(NULL));
    struct ht_gw_conf c;
    char err[256];
    ht_gw_conf_init(&c);
    ck_assert_int_eq(gw__sec_check_conf(&c, err, sizeof err), HT_OK);
    free(c.mqtt_bind);
    c.mqtt_bind = strdup("0.0.0.0");
    ck_assert_int_eq(gw__sec_check_conf(&c, err, sizeof err), HT_EINVAL);
    c.insecure = true;
    ck_assert_int_eq(gw__sec_check_conf(&c, err, sizeof err), HT_EINVAL);
    free(c.mqtt_bind);
    c.mqtt_bind = strdup("127.0.0.1");
    ck_assert_int_eq(gw__sec_check_conf(&c, err, sizeof err), HT_OK);
    c.insecure = false;
    c.provisioning = false;
    ck_assert_int_eq(gw__sec_check_conf(&c, err, sizeof err), HT_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "--insecure"));
    ht_gw_conf_clear(&c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gw_ca");
    TCase *tc = tcase_create("gw_ca");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, ca_is_made_once_and_signs_the_broker_certificate);
    tcase_add_test(tc, broker_certificate_names_what_boards_use);
    tcase_add_test(tc, listeners_stay_on_loopback_without_authentication);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
