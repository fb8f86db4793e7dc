/* core/conf.h - gatewayd's configuration: the struct, its ht_conf table,
 * defaults. Owns: the conf values (strings owned by the struct).
 * Uses: nothing (only common/).
 * Threads: filled before the gateway starts, then read-only on every
 * thread.
 */
#ifndef HT_GW_CONF_H
#define HT_GW_CONF_H

#include "ht_conf.h"

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
    int http_max_body;        /* bytes */
    int http_max_header;      /* bytes of request headers (MHD memory limit) */
    int http_max_conn_per_ip; /* connections one client address may hold */
    int http_reserved_conn;   /* beyond max_conn: /healthz and admin only */
    int http_max_query;       /* query parameters of one request */
    int http_sse_per_token;   /* SSE streams one token may hold */
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
    int control_lease_ms; /* shared control: lease without a live stream */
    int history_max_age_s;
    int history_max_rows;
    int history_flush_ms;
    int history_journal_kb;
    int rollup_1m_days, rollup_1h_days; /* rollup retention per level */
    int events_ring;
    int events_ring_kb;      /* the ring's events in KiB at most */
    int ingest_max_future_s; /* a value's ts at most this ahead of now */
    int ingest_rate;         /* values/s of one board (0: no limit) */
    int ingest_burst;        /* values one board may send at once */
    bool auto_approve;
    bool mdns;
    char *twins_dir; /* twin documents (.json) applied at start */
    int asset_max;   /* largest twin asset, bytes */
    /* Security (security/security.h). */
    bool insecure;        /* --insecure: anonymous MQTT, loopback only */
    int mqtt_tls_port;    /* embedded broker's TLS listener, 0 = none */
    char *mqtt_tls_bind;  /* its address */
    char *mqtt_tls_names; /* extra names in its certificate (comma list) */
    char *mqtt_cafile;    /* external broker: TLS with this CA file */
    char *mqtt_certfile;  /* external broker: client certificate */
    char *mqtt_keyfile;   /* external broker: client key */
    char *acl_plugin;     /* holotwin_acl.so ("": find it, "none": off) */
    /* Upstream to the plant's NATS cluster (upstream/, docs/fleet.md). */
    char *up_url;      /* nats://host:port[,...]; "" = no upstream */
    char *up_site;     /* site id in subjects */
    char *up_cell;     /* cell id in subjects ("" = gateway.id) */
    char *up_username; /* NATS account */
    char *up_password;
    char *up_cafile;      /* TLS to the cluster, verified with this CA */
    char *up_stream;      /* JetStream stream name */
    int up_replicas;      /* its replicas when this gateway creates it */
    int up_max_backlog;   /* outbox records kept while the uplink is down */
    bool up_values;       /* also forward value samples */
    char *up_values_mode; /* "outbox" (at least once) or "direct" (QoS 0) */
    bool up_ignore_discovered; /* only the listed servers, not gossiped */
    bool plant;                /* plant view over the cluster (plant/) */
    bool up_commands;    /* cell: run commands the plant view routes here */
    bool plant_commands; /* plant view: route operators' commands to cells */
    /* Home Assistant MQTT discovery (ha/, docs/homeassistant.md). */
    bool ha_enabled;
    char *ha_prefix;  /* discovery prefix, "homeassistant" */
    char *ha_account; /* app account HA uses, "" = none */
};

/* The ht_conf table (static, borrowed). */
const struct ht_conf_key *ht_gw_conf_table(void);
/* Defaults into caller storage; clear with ht_gw_conf_clear. */
void ht_gw_conf_init(struct ht_gw_conf *c);
void ht_gw_conf_clear(struct ht_gw_conf *c);

#endif
