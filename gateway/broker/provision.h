/* broker/provision.h - per-device broker credentials and ACLs for the
 * embedded broker (part of the broker module).
 * Owns: struct gw_prov (g->prov), DATA_DIR/broker/{passwd,acl,
 * gateway.secret}.
 * Uses: core, store, broker, security (TLS facts in a board's answer).
 * Threads: loop thread only.
 */
#ifndef HT_GW_PROVISION_H
#define HT_GW_PROVISION_H

#include "gateway/core/gw.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* ---- broker provisioning (provision.c) ----
 * With broker.provisioning on and the embedded broker, gatewayd keeps
 * DATA_DIR/broker/passwd (mosquitto PBKDF2-SHA-512 hashes) and
 * DATA_DIR/broker/acl: its own user (secret in DATA_DIR/broker/gateway.secret,
 * 0600) may use PREFIX/#, each device user (user name = device id) only
 * its own topics. The store's mqtt_credentials table is the source of
 * truth; both files are regenerated from it. Loop thread only. */
#define GW_PROV_PASSWD "passwd"
#define GW_PROV_ACL "acl"
#define GW_PROV_SECRET "gateway.secret"
/* Not a valid device id, so no device can claim it. */
#define GW_PROV_GATEWAY_USER "_gateway"
/* mosquitto's PBKDF2 iteration count (mosquitto_passwd's default): the
 * passwords are random, so more rounds would only slow every CONNECT. */
#define GW_PROV_ITERATIONS 101
struct gw_prov;
/* Set up provisioning when it is on (g->prov stays NULL otherwise): the
 * gateway's secret (created on first start), both files. Before
 * gw__ingest_init, which connects with gw__prov_user/gw__prov_password. */
int gw__prov_init(struct ht_gw *g, char *err, size_t errlen);
/* Free g->prov. Safe when NULL. */
void gw__prov_free(struct ht_gw *g);
/* The MQTT login of the gateway's own client: the provisioned user and
 * secret, else mqtt.username/mqtt.password (borrowed, may be NULL). */
const char *gw__prov_user(const struct ht_gw *g);
const char *gw__prov_password(const struct ht_gw *g);
/* Create (or replace) the broker credentials of device id: a random
 * password, its hash stored and written to the password file, the broker
 * reloaded. Adds "username" and "password" to mqtt (borrowed, modified):
 * the only time the password is shown. HT_OK and no change when
 * provisioning is off. */
int gw__prov_device_add(struct ht_gw *g, const char *id, json_t *mqtt);
/* Revoke device id's credentials (files rewritten, broker reloaded, which
 * also disconnects it). HT_OK when it has none or provisioning is off. */
int gw__prov_device_remove(struct ht_gw *g, const char *id);
/* mosquitto password-file hash of pass with the given salt (borrowed):
 * "$7$ITER$BASE64(salt)$BASE64(PBKDF2-SHA-512)" into out (>= 160 bytes).
 * Exposed for the unit tests. */
void gw__prov_hash(const char *pass, const uint8_t *salt, size_t saltlen,
                   unsigned iterations, char *out, size_t outlen);
/* The fixed part of the ACL file for topic prefix (new string). */
char *gw__prov_acl_text(const char *prefix);

/* ---- MQTT accounts for apps (HMD apps, dashboards, other gateways) ----
 * Broker users named by role: "_viewer.NAME" reads PREFIX/twins/#;
 * "_operator.NAME" also writes PREFIX/apps/NAME/request and reads
 * PREFIX/apps/NAME/reply. NAME is an id ([a-z0-9][a-z0-9._-]{0,63}),
 * unique across roles. Kept in the same credentials table as the boards;
 * each account has its own section in the ACL file. */
#define GW_PROV_APP_VIEWER_PFX "_viewer."
#define GW_PROV_APP_OPERATOR_PFX "_operator."
enum {
    GW_PROV_APP_NONE = 0,
    GW_PROV_APP_VIEWER = 1,
    GW_PROV_APP_OPERATOR = 2,
};
/* The role of broker user name user (borrowed), GW_PROV_APP_NONE when it
 * is no app account; name (HT_ID_MAX + 1 bytes, may be NULL) gets NAME. */
int gw__prov_app_parse(const char *user, char *name);
/* The ACL section of app user (borrowed): "" for other users (new). */
char *gw__prov_acl_app_text(const char *prefix, const char *user);
/* The ACL lines of integrations.homeassistant (conf borrowed; new
 * string): the gateway's user (user NULL) reads and writes the discovery
 * prefix (even with the integration off: it clears its old configs);
 * with the integration on, the configured account (when user,
 * borrowed, may be NULL, is that account's broker user) reads the
 * discovery prefix and the boards' status topics, and writes HA's
 * birth topic; it never writes a board's or another account's topics
 * (its commands go to its own request topic, an operator's only). */
char *gw__prov_acl_ha_text(const struct ht_gw_conf *conf, const char *user);
/* Loop thread: create account name (borrowed) with role (GW_PROV_APP_
 * VIEWER or _OPERATOR): a random password, its hash stored, both files
 * rewritten, the broker reloaded. Adds "username" and "password" to out
 * (borrowed, modified): the only time the password is shown. HT_EEXIST
 * when name has an account (either role), HT_EINVAL for a bad name or
 * role, HT_ESTATE without provisioning. */
int gw__prov_app_add(struct ht_gw *g, const char *name, int role, json_t *out);
/* Loop thread: remove account name (the broker drops its connection).
 * HT_ENOENT when there is none, HT_ESTATE without provisioning. */
int gw__prov_app_remove(struct ht_gw *g, const char *name);
/* Any thread: [{"name","role","username"}] of every account (new), NULL
 * on a store error. */
json_t *gw__prov_app_list(struct ht_gw *g);
/* Role of account name (GW_PROV_APP_NONE when it has none). Any thread
 * (reads the store). */
int gw__prov_app_role(struct ht_gw *g, const char *name);

#endif
