/* ca.c - the gateway's certificate authority on GnuTLS.
 *
 * Why a CA of our own rather than a self-signed broker certificate: boards
 * are given one file (the CA certificate) that stays valid while the
 * broker's certificate is re-issued at every start with the names and
 * addresses the gateway has today; a CA key that never leaves DATA_DIR is
 * also what per-board client certificates would be signed with.
 *
 * ECDSA P-256 and SHA-256: small keys (a board's config stays short),
 * fast to generate at start-up, and accepted by every TLS stack involved
 * (OpenSSL in mosquitto and libmosquitto, GnuTLS, browsers).
 */
#include "gateway/security/ca.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#define MOD "ca"

struct gw_ca {
    gnutls_x509_privkey_t key;
    gnutls_x509_crt_t crt;
    char *pem; /* the certificate, as written */
    char *cert_path;
    unsigned char keyid[64];
    size_t keyid_len;
};

/* GnuTLS errors are converted here, once, with GnuTLS's own text. */
static int tls_fail(int grc, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, gnutls_strerror(grc));
    return HT_EIO;
}

static int read_datum(const char *path, gnutls_datum_t *d)
{
    char *text = NULL;
    size_t len = 0;
    int rc = ht_file_read(path, 64 * 1024, &text, &len);
    if (rc)
        return rc;
    d->data = (unsigned char *)text;
    d->size = (unsigned)len;
    return HT_OK;
}

static void wipe_datum(gnutls_datum_t *d)
{
    if (d->data)
        explicit_bzero(d->data, d->size);
    free(d->data);
    d->data = NULL;
}

static int new_key(gnutls_x509_privkey_t *key, char *err, size_t errlen)
{
    int grc = gnutls_x509_privkey_init(key);
    if (grc == 0)
        grc = gnutls_x509_privkey_generate(
            *key, GNUTLS_PK_ECDSA,
            GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
    return grc ? tls_fail(grc, "key generation", err, errlen) : HT_OK;
}

/* Write key (PEM) to path with mode 0600. */
static int write_key(gnutls_x509_privkey_t key, const char *path, char *err,
                     size_t errlen)
{
    gnutls_datum_t d = {0};
    int grc = gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &d);
    if (grc)
        return tls_fail(grc, "key export", err, errlen);
    int rc = ht_file_write_atomic(path, d.data, d.size, 0600);
    explicit_bzero(d.data, d.size);
    gnutls_free(d.data);
    if (rc)
        snprintf(err, errlen, "%s: %s", path, ht_strerror(rc));
    return rc;
}

/* The fields every certificate here shares: v3, a random positive 128-bit
 * serial, validity, subject CN, the subject's key and key id. */
static int crt_common(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key,
                      const char *cn, unsigned days, char *err, size_t errlen)
{
    unsigned char serial[16];
    if (getrandom(serial, sizeof serial, 0) != (ssize_t)sizeof serial) {
        snprintf(err, errlen, "getrandom: %s", strerror(errno));
        return -errno;
    }
    serial[0] &= 0x7f;
    serial[0] |= 0x01; /* positive, never a shortened encoding */
    time_t now = time(NULL);
    unsigned char id[64];
    size_t idlen = sizeof id;
    int grc;
    if ((grc = gnutls_x509_crt_set_version(crt, 3)) ||
        (grc = gnutls_x509_crt_set_serial(crt, serial, sizeof serial)) ||
        (grc = gnutls_x509_crt_set_activation_time(crt, now - 3600)) ||
        (grc = gnutls_x509_crt_set_expiration_time(crt, now + (time_t)days *
                                                                  86400)) ||
        (grc = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME,
                                             0, cn, (unsigned)strlen(cn))) ||
        (grc = gnutls_x509_crt_set_dn_by_oid(
             crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, "Holotwin", 8)) ||
        (grc = gnutls_x509_crt_set_key(crt, key)) ||
        (grc = gnutls_x509_privkey_get_key_id(key, 0, id, &idlen)) ||
        (grc = gnutls_x509_crt_set_subject_key_id(crt, id, idlen)))
        return tls_fail(grc, "certificate fields", err, errlen);
    return HT_OK;
}

static int export_crt(gnutls_x509_crt_t crt, char **pem, char *err,
                      size_t errlen)
{
    gnutls_datum_t d = {0};
    int grc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d);
    if (grc)
        return tls_fail(grc, "certificate export", err, errlen);
    *pem = ht_calloc(1, d.size + 1);
    memcpy(*pem, d.data, d.size);
    gnutls_free(d.data);
    return HT_OK;
}

/* First start: a self-signed CA valid for 20 years. */
static int create_ca(struct gw_ca *ca, const char *cn, const char *key_path,
                     char *err, size_t errlen)
{
    int rc = new_key(&ca->key, err, errlen);
    if (rc)
        return rc;
    int grc = gnutls_x509_crt_init(&ca->crt);
    if (grc)
        return tls_fail(grc, "certificate", err, errlen);
    if ((rc = crt_common(ca->crt, ca->key, cn, 20 * 366, err, errlen)))
        return rc;
    if ((grc = gnutls_x509_crt_set_basic_constraints(ca->crt, 1, 0)) ||
        (grc = gnutls_x509_crt_set_key_usage(
             ca->crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN)) ||
        (grc = gnutls_x509_crt_sign2(ca->crt, ca->crt, ca->key,
                                     GNUTLS_DIG_SHA256, 0)))
        return tls_fail(grc, "CA certificate", err, errlen);
    if ((rc = export_crt(ca->crt, &ca->pem, err, errlen)))
        return rc;
    /* The key first: a certificate without its key is an error at the
     * next start, a key without a certificate is simply made again. */
    if ((rc = write_key(ca->key, key_path, err, errlen)))
        return rc;
    rc = ht_file_write_atomic(ca->cert_path, ca->pem, strlen(ca->pem), 0644);
    if (rc)
        snprintf(err, errlen, "%s: %s", ca->cert_path, ht_strerror(rc));
    else
        ht_log(LOG_NOTICE, MOD,
               "first start: certificate authority created "
               "in %s",
               ca->cert_path);
    return rc;
}

static int load_ca(struct gw_ca *ca, const char *key_path, char *err,
                   size_t errlen)
{
    gnutls_datum_t k = {0}, c = {0};
    int rc = read_datum(key_path, &k);
    if (rc) {
        snprintf(err, errlen, "%s: %s", key_path, ht_strerror(rc));
        goto out;
    }
    if ((rc = read_datum(ca->cert_path, &c))) {
        snprintf(err, errlen, "%s: %s", ca->cert_path, ht_strerror(rc));
        goto out;
    }
    int grc;
    if ((grc = gnutls_x509_privkey_init(&ca->key)) ||
        (grc = gnutls_x509_privkey_import(ca->key, &k, GNUTLS_X509_FMT_PEM))) {
        rc = tls_fail(grc, key_path, err, errlen);
        goto out;
    }
    if ((grc = gnutls_x509_crt_init(&ca->crt)) ||
        (grc = gnutls_x509_crt_import(ca->crt, &c, GNUTLS_X509_FMT_PEM))) {
        rc = tls_fail(grc, ca->cert_path, err, errlen);
        goto out;
    }
    /* The pair must belong together, or every issued certificate fails. */
    unsigned char a[64], b[64];
    size_t al = sizeof a, bl = sizeof b;
    if (gnutls_x509_privkey_get_key_id(ca->key, 0, a, &al) ||
        gnutls_x509_crt_get_key_id(ca->crt, 0, b, &bl) || al != bl ||
        memcmp(a, b, al)) {
        snprintf(err, errlen, "%s does not belong to %s", key_path,
                 ca->cert_path);
        rc = HT_EINVAL;
        goto out;
    }
    chmod(key_path, 0600); /* in case someone loosened it */
    rc = export_crt(ca->crt, &ca->pem, err, errlen);
out:
    wipe_datum(&k);
    wipe_datum(&c);
    return rc;
}

int gw__ca_open(const char *dir, const char *cn, struct gw_ca **out, char *err,
                size_t errlen)
{
    *out = NULL;
    struct gw_ca *ca = ht_calloc(1, sizeof *ca);
    char *key_path = ht_asprintf("%s/" GW_CA_KEY, dir);
    ca->cert_path = ht_asprintf("%s/" GW_CA_CERT, dir);
    int rc = ht_mkdir_p(dir, 0700);
    if (rc) {
        snprintf(err, errlen, "%s: %s", dir, ht_strerror(rc));
        goto out;
    }
    struct stat st;
    bool have_key = stat(key_path, &st) == 0;
    bool have_crt = stat(ca->cert_path, &st) == 0;
    if (have_key != have_crt) {
        snprintf(err, errlen,
                 "%s: half a certificate authority (%s without %s): restore "
                 "the missing file, or remove both to create a new CA",
                 dir, have_key ? GW_CA_KEY : GW_CA_CERT,
                 have_key ? GW_CA_CERT : GW_CA_KEY);
        rc = HT_EINVAL;
        goto out;
    }
    rc = have_key ? load_ca(ca, key_path, err, errlen)
                  : create_ca(ca, cn, key_path, err, errlen);
    if (rc == HT_OK) {
        ca->keyid_len = sizeof ca->keyid;
        if (gnutls_x509_crt_get_subject_key_id(ca->crt, ca->keyid,
                                               &ca->keyid_len, NULL) < 0)
            ca->keyid_len = 0;
    }
out:
    free(key_path);
    if (rc) {
        gw__ca_free(ca);
        return rc;
    }
    *out = ca;
    return HT_OK;
}

void gw__ca_free(struct gw_ca *ca)
{
    if (!ca)
        return;
    if (ca->key)
        gnutls_x509_privkey_deinit(ca->key); /* GnuTLS wipes key memory */
    if (ca->crt)
        gnutls_x509_crt_deinit(ca->crt);
    free(ca->pem);
    free(ca->cert_path);
    free(ca);
}

const char *gw__ca_pem(const struct gw_ca *ca)
{
    return ca->pem;
}

const char *gw__ca_cert_path(const struct gw_ca *ca)
{
    return ca->cert_path;
}

/* A name as a SAN entry: an address literal as GNUTLS_SAN_IPADDRESS (raw
 * bytes), anything that looks like a host name as GNUTLS_SAN_DNSNAME. */
static int add_san(gnutls_x509_crt_t crt, const char *name)
{
    unsigned char ip[16];
    if (inet_pton(AF_INET, name, ip) == 1)
        return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS,
                                                    ip, 4, GNUTLS_FSAN_APPEND);
    if (inet_pton(AF_INET6, name, ip) == 1)
        return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS,
                                                    ip, 16, GNUTLS_FSAN_APPEND);
    size_t n = strlen(name);
    if (n == 0 || n > 253 ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789.-") != n)
        return 1; /* skipped */
    return gnutls_x509_crt_set_subject_alt_name(
        crt, GNUTLS_SAN_DNSNAME, name, (unsigned)n, GNUTLS_FSAN_APPEND);
}

int gw__ca_issue(struct gw_ca *ca, const char *cn, const char *const *names,
                 size_t n, int server, unsigned days, const char *key_path,
                 const char *cert_path, char *err, size_t errlen)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    char *pem = NULL;
    int grc, rc = new_key(&key, err, errlen);
    if (rc)
        goto out;
    if ((grc = gnutls_x509_crt_init(&crt))) {
        rc = tls_fail(grc, "certificate", err, errlen);
        goto out;
    }
    if ((rc = crt_common(crt, key, cn, days, err, errlen)))
        goto out;
    for (size_t i = 0; server && i < n; i++) {
        if ((grc = add_san(crt, names[i])) < 0) {
            rc = tls_fail(grc, names[i], err, errlen);
            goto out;
        }
    }
    if ((grc = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) ||
        (grc = gnutls_x509_crt_set_key_usage(crt,
                                             GNUTLS_KEY_DIGITAL_SIGNATURE)) ||
        (grc = gnutls_x509_crt_set_key_purpose_oid(
             crt, server ? GNUTLS_KP_TLS_WWW_SERVER : GNUTLS_KP_TLS_WWW_CLIENT,
             0)) ||
        (ca->keyid_len && (grc = gnutls_x509_crt_set_authority_key_id(
                               crt, ca->keyid, ca->keyid_len))) ||
        (grc = gnutls_x509_crt_sign2(crt, ca->crt, ca->key, GNUTLS_DIG_SHA256,
                                     0))) {
        rc = tls_fail(grc, "issuing", err, errlen);
        goto out;
    }
    if ((rc = export_crt(crt, &pem, err, errlen)) ||
        (rc = write_key(key, key_path, err, errlen)))
        goto out;
    rc = ht_file_write_atomic(cert_path, pem, strlen(pem), 0644);
    if (rc)
        snprintf(err, errlen, "%s: %s", cert_path, ht_strerror(rc));
out:
    free(pem);
    if (crt)
        gnutls_x509_crt_deinit(crt);
    if (key)
        gnutls_x509_privkey_deinit(key);
    return rc;
}
