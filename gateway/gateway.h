/* gateway.h - gatewayd as a library: configuration and the gateway object
 * that main.c wires onto an ht_loop. Everything else in gateway/ is behind
 * gw_internal.h (modules) or store.h (the semantic module).
 */
#ifndef HT_GATEWAY_H
#define HT_GATEWAY_H

#include "ht_conf.h"
#include "ht_loop.h"

#include <stdbool.h>

/* The table-driven configuration (ht_conf); strings owned by the struct. */
struct ht_gw_conf {
    char *data_dir;
    char *log_level;
    char *gateway_id;  /* names this gateway in topics and TDs */
    char *public_host; /* host put into TD forms (default http.bind) */
    int http_port;
    char *http_bind;
    int http_max_conn;
    int http_timeout_s;
    int http_max_body;   /* bytes */
    int http_max_header; /* bytes of request headers (MHD memory limit) */
    char *web_root;
    char *tls_cert;
    char *tls_key;
    char *broker;  /* external "host:port"; NULL = embedded broker */
    int mqtt_port; /* embedded broker listener */
    char *mqtt_bind;
    char *mqtt_prefix;
    char *mqtt_client_id;
    char *mqtt_username;
    char *mqtt_password;
    int mqtt_session_expiry;
    int mqtt_max_payload;
    char *broker_bin;  /* mosquitto binary */
    bool provisioning; /* embedded broker: per-device credentials + ACLs */
    int command_timeout_ms;
    int history_max_age_s;
    int history_max_rows;
    int history_flush_ms;
    int history_journal_kb;
    int events_ring;
    bool auto_approve;
    bool mdns;
    char *twins_dir; /* twin documents (.json) applied at start */
    int asset_max;   /* largest twin asset, bytes */
};

/* The ht_conf table (static, borrowed). */
const struct ht_conf_key *ht_gw_conf_table(void);
/* Defaults into caller storage; clear with ht_gw_conf_clear. */
void ht_gw_conf_init(struct ht_gw_conf *c);
void ht_gw_conf_clear(struct ht_gw_conf *c);

struct ht_gw;

/* Create the gateway on loop l: opens the store (migrating it), creates the
 * admin token on first start, prepares MQTT, HTTP and the broker. conf is
 * borrowed for the gateway's life. err gets a one-line message. Returns
 * HT_OK or a negative HT_E* code; *out new, free with ht_gw_free. Loop
 * thread only. */
int ht_gw_new(struct ht_loop *l, const struct ht_gw_conf *conf,
              struct ht_gw **out, char *err, size_t errlen);
/* Start the broker (if embedded), MQTT, HTTP and mDNS. */
int ht_gw_start(struct ht_gw *g, char *err, size_t errlen);
/* Stop everything (answers suspended requests, ends SSE streams, flushes
 * the store, stops the broker). Safe to call twice. */
void ht_gw_stop(struct ht_gw *g);
/* Free (stops first if needed). NULL is a no-op. */
void ht_gw_free(struct ht_gw *g);

#endif
