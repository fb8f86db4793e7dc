/* security/security.h - what makes gatewayd secure by default (issue 14):
 * the listener rules, the embedded broker's TLS (certificate authority and
 * server certificate in DATA_DIR), its authentication and ACL lines, the
 * subscribe-time ACL plugin, and the TLS facts a board's config needs.
 * Owns: struct gw_sec (g->sec), DATA_DIR/ca/, DATA_DIR/broker/server.*.
 * Uses: core (configuration).
 *
 * Listeners of the embedded broker (docs/security.md has the why):
 *   plain MQTT  mqtt.bind:mqtt.port (1883), loopback only: the gateway
 *               itself and local tools; passwords never cross a network
 *               in clear text.
 *   MQTT/TLS    mqtt.tls_bind:mqtt.tls_port (0.0.0.0:8883): boards and
 *               apps, server certificate from the gateway's CA.
 * Both require a user name and password (password_file) unless
 * broker.insecure, and both replace the client id with the user name, so
 * nobody can take over another client's id (or the gateway's session).
 *
 * Threads: loop thread (start-up and admin jobs); the TLS facts are
 * read-only after gw__sec_new.
 */
#ifndef HT_GW_SECURITY_H
#define HT_GW_SECURITY_H

#include "gateway/core/conf.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct gw_sec;

/* Directory of the CA inside DATA_DIR, and the broker's TLS files inside
 * DATA_DIR/broker. */
#define GW_SEC_CA_DIR "ca"
#define GW_SEC_SERVER_KEY "server.key"
#define GW_SEC_SERVER_CERT "server.crt"
#define GW_SEC_PLUGIN "holotwin_acl.so"

/* True for 127.0.0.0/8, ::1 and "localhost". s borrowed, may be NULL
 * (false). */
bool gw__sec_is_loopback(const char *s);

/* Check the configuration against the rules (no listener beyond loopback
 * without authentication, no plain-text listener beyond loopback,
 * provisioning off only with broker.insecure). HT_OK, or HT_EINVAL with a
 * one-line reason in err. Warnings (external broker without credentials
 * or TLS) are logged. c borrowed. */
int gw__sec_check_conf(const struct ht_gw_conf *c, char *err, size_t errlen);

/* Prepare the embedded broker's security: with a TLS listener, open (or
 * create) the CA in DATA_DIR/ca and issue the broker's certificate (key
 * 0600) in DATA_DIR/broker for localhost, 127.0.0.1, ::1, the host name
 * (and NAME.local), the machine's addresses, gateway.public_host and
 * mqtt.tls_names; find the ACL plugin. With an external broker nothing is
 * created (*out is still new). c borrowed for the gw_sec's life. *out new,
 * free with gw__sec_free. */
int gw__sec_new(const struct ht_gw_conf *c, struct gw_sec **out, char *err,
                size_t errlen);
/* NULL is a no-op. */
void gw__sec_free(struct gw_sec *s);

/* The listener, TLS, authentication and ACL lines of mosquitto.conf (new
 * string). s may be NULL (no TLS, no plugin). dir: DATA_DIR/broker,
 * borrowed. */
char *gw__sec_broker_conf(const struct ht_gw_conf *c, const struct gw_sec *s,
                          const char *dir);

/* The CA certificate boards must trust (PEM, borrowed), or NULL when the
 * embedded broker serves no TLS. */
const char *gw__sec_ca_pem(const struct gw_sec *s);

/* Add the TLS facts of a board's broker account to mqtt (borrowed,
 * modified): "tls": {"port": N, "ca": PEM, "host": gateway.public_host
 * when set}. No change without TLS. */
void gw__sec_device_mqtt(const struct gw_sec *s, json_t *mqtt);

#endif
