/* security/ca.h - the gateway's small certificate authority (GnuTLS X.509),
 * part of the security module.
 * Owns: struct gw_ca, the CA's key and certificate files.
 * Uses: nothing.
 *
 * One CA per gateway: an ECDSA P-256 key (file mode 0600) and a
 * self-signed certificate, created in a directory on first use and read
 * back afterwards. It issues the embedded broker's server certificate
 * (new key at every start, SANs from the caller) and, on request, client
 * certificates. All X.509 work is GnuTLS's; nothing here does crypto.
 *
 * Threads: any, one call at a time per struct gw_ca (no internal lock).
 */
#ifndef HT_GW_CA_H
#define HT_GW_CA_H

#include <stddef.h>

struct gw_ca;

/* File names inside the CA directory. */
#define GW_CA_KEY "ca.key"
#define GW_CA_CERT "ca.crt"

/* Open the CA kept in dir (created 0700 if missing): read dir/ca.key and
 * dir/ca.crt, or create both when neither exists. A half-present or
 * unreadable pair is an error (nothing is overwritten). cn names a new
 * CA ("Holotwin gateway CA <id>"); borrowed. *out new, free with
 * gw__ca_free. Fills err on failure; returns HT_OK or a negative code. */
int gw__ca_open(const char *dir, const char *cn, struct gw_ca **out, char *err,
                size_t errlen);
/* NULL is a no-op. Key material is wiped. */
void gw__ca_free(struct gw_ca *ca);

/* The CA certificate as PEM (borrowed, valid until gw__ca_free). */
const char *gw__ca_pem(const struct gw_ca *ca);
/* Path of the CA certificate file (borrowed). */
const char *gw__ca_cert_path(const struct gw_ca *ca);

/* Issue a certificate with a fresh ECDSA P-256 key and write the key
 * (0600) to key_path and the certificate to cert_path (0644), both
 * borrowed. server: TLS server usage with the subject alternative names
 * names[0..n) (each an IPv4/IPv6 literal or a DNS name, borrowed; names
 * that are neither are skipped); else TLS client usage. cn: the subject
 * common name (borrowed). Valid from an hour ago for days days. */
int gw__ca_issue(struct gw_ca *ca, const char *cn, const char *const *names,
                 size_t n, int server, unsigned days, const char *key_path,
                 const char *cert_path, char *err, size_t errlen);

#endif
