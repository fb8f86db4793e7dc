/* conf.c - gatewayd's configuration table: defaults, validation, --help and
 * dumps all come from this one table (ht_conf). */
#include "gateway/core/conf.h"

#include <stddef.h>

#define K(key, type, field, def, min, max, reload, help)                       \
    {                                                                          \
        key, type, offsetof(struct ht_gw_conf, field), def, min, max, reload,  \
            help                                                               \
    }

static const struct ht_conf_key table[] = {
    K("data_dir", HT_CONF_STR, data_dir, "/var/lib/holotwin", 0, 0, false,
      "directory for the SQLite database, admin token and broker files"),
    K("log_level", HT_CONF_STR, log_level, "info", 0, 0, true,
      "error, warning, notice, info or debug"),
    K("gateway.id", HT_CONF_STR, gateway_id, "gateway", 0, 0, false,
      "this gateway's id (topics, TDs, mDNS name)"),
    K("gateway.public_host", HT_CONF_STR, public_host, "", 0, 0, false,
      "host name put into TD forms (default: the HTTP bind address)"),
    K("http.port", HT_CONF_INT, http_port, "8080", 1, 65535, false,
      "HTTP port of the REST API, SSE, WoT directory and web UI"),
    K("http.bind", HT_CONF_STR, http_bind, "127.0.0.1", 0, 0, false,
      "IPv4 address the HTTP server binds (0.0.0.0 for all)"),
    K("http.max_connections", HT_CONF_INT, http_max_conn, "256", 1, 65535,
      false, "concurrent HTTP connections (SSE streams included)"),
    K("http.timeout_s", HT_CONF_INT, http_timeout_s, "30", 1, 3600, false,
      "idle HTTP connection timeout in seconds"),
    K("http.max_body", HT_CONF_INT, http_max_body, "1048576", 1024, 67108864,
      false, "largest request body in bytes (413 beyond)"),
    K("http.max_header", HT_CONF_INT, http_max_header, "32768", 4096, 1048576,
      false, "memory for a request's headers in bytes (431 beyond)"),
    K("http.max_connections_per_ip", HT_CONF_INT, http_max_conn_per_ip, "32", 1,
      65535, false, "concurrent HTTP connections of one client address"),
    K("http.reserved_connections", HT_CONF_INT, http_reserved_conn, "8", 1,
      1024, false,
      "connections beyond http.max_connections kept for /healthz and "
      "admin requests of addresses holding fewer than 2"),
    K("http.max_query_params", HT_CONF_INT, http_max_query, "64", 1, 4096,
      false, "query parameters of one request (414 beyond)"),
    K("http.sse_per_token", HT_CONF_INT, http_sse_per_token, "16", 1, 65535,
      false, "concurrent SSE streams of one token (429 beyond)"),
    K("http.web_root", HT_CONF_STR, web_root, "web/dist", 0, 0, false,
      "directory of static files served under / (empty: none)"),
    K("http.tls_cert", HT_CONF_STR, tls_cert, "", 0, 0, false,
      "PEM certificate: serve HTTPS (with http.tls_key)"),
    K("http.tls_key", HT_CONF_STR, tls_key, "", 0, 0, false,
      "PEM private key for HTTPS"),
    K("mqtt.broker", HT_CONF_STR, broker, "", 0, 0, false,
      "external broker host:port (empty: start and supervise mosquitto)"),
    K("mqtt.port", HT_CONF_INT, mqtt_port, "1883", 1, 65535, false,
      "listener port of the embedded broker"),
    K("mqtt.bind", HT_CONF_STR, mqtt_bind, "127.0.0.1", 0, 0, false,
      "listener address of the embedded broker"),
    K("mqtt.prefix", HT_CONF_STR, mqtt_prefix, "holotwin/v1", 0, 0, false,
      "topic prefix"),
    K("mqtt.client_id", HT_CONF_STR, mqtt_client_id, "holotwin-gateway", 0, 0,
      false, "MQTT client id (stable: it names the persistent session)"),
    K("mqtt.username", HT_CONF_STR, mqtt_username, "", 0, 0, false,
      "MQTT user name"),
    K("mqtt.password", HT_CONF_STR, mqtt_password, "", 0, 0, false,
      "MQTT password"),
    K("mqtt.session_expiry", HT_CONF_INT, mqtt_session_expiry, "86400", 0,
      2147483647, false, "seconds the broker keeps our session while away"),
    K("mqtt.max_payload", HT_CONF_INT, mqtt_max_payload, "262144", 1024,
      16777216, false, "largest MQTT payload ingested, bytes"),
    K("broker.bin", HT_CONF_STR, broker_bin, "mosquitto", 0, 0, false,
      "mosquitto binary for the embedded broker"),
    K("broker.provisioning", HT_CONF_BOOL, provisioning, "true", 0, 0, false,
      "embedded broker: no anonymous clients; per-device credentials and "
      "ACLs created by POST /api/v1/devices (false needs broker.insecure)"),
    K("broker.insecure", HT_CONF_BOOL, insecure, "false", 0, 0, false,
      "DEVELOPMENT ONLY: anonymous MQTT, no provisioning; every listener "
      "must then be on loopback"),
    K("broker.acl_plugin", HT_CONF_STR, acl_plugin, "", 0, 0, false,
      "holotwin_acl.so (subscribe-time ACL checks; empty: next to gatewayd, "
      "then /usr/lib/holotwin; \"none\": off)"),
    K("mqtt.tls_port", HT_CONF_INT, mqtt_tls_port, "8883", 0, 65535, false,
      "TLS listener of the embedded broker for boards and apps (0: none)"),
    K("mqtt.tls_bind", HT_CONF_STR, mqtt_tls_bind, "0.0.0.0", 0, 0, false,
      "address of the TLS listener"),
    K("mqtt.tls_names", HT_CONF_STR, mqtt_tls_names, "", 0, 0, false,
      "extra host names/addresses (comma-separated) in the broker's "
      "certificate"),
    K("mqtt.cafile", HT_CONF_STR, mqtt_cafile, "", 0, 0, false,
      "external broker: connect with TLS, verifying it with this CA file"),
    K("mqtt.certfile", HT_CONF_STR, mqtt_certfile, "", 0, 0, false,
      "external broker: TLS client certificate"),
    K("mqtt.keyfile", HT_CONF_STR, mqtt_keyfile, "", 0, 0, false,
      "external broker: TLS client key"),
    K("commands.timeout_ms", HT_CONF_INT, command_timeout_ms, "5000", 50,
      600000, true, "time to wait for a device's ack before 504"),
    K("control.lease_ms", HT_CONF_INT, control_lease_ms, "30000", 100, 86400000,
      false, "a control holder with no live stream loses control after this"),
    K("history.max_age_s", HT_CONF_INT, history_max_age_s, "604800", 0,
      2147483647, true, "delete history older than this (0: keep)"),
    K("history.max_rows", HT_CONF_INT, history_max_rows, "1000000", 0,
      2147483647, true, "keep at most this many history rows (0: all)"),
    K("history.flush_ms", HT_CONF_INT, history_flush_ms, "200", 10, 60000,
      false, "history/event batch commit interval"),
    K("history.rollup_1m_days", HT_CONF_INT, rollup_1m_days, "90", 0, 36500,
      false, "keep 1-minute rollups this long (0: keep)"),
    K("history.rollup_1h_days", HT_CONF_INT, rollup_1h_days, "1825", 0, 36500,
      false, "keep 1-hour rollups this long (0: keep)"),
    K("history.journal_kb", HT_CONF_INT, history_journal_kb, "8192", 64,
      1048576, false, "crash-safe journal ring in front of the batches"),
    K("events.ring", HT_CONF_INT, events_ring, "1024", 16, 1048576, false,
      "SSE events kept in memory for Last-Event-ID resume"),
    K("events.ring_kb", HT_CONF_INT, events_ring_kb, "16384", 64, 4194304,
      false, "memory of the in-memory event ring in KiB (oldest dropped)"),
    K("ingest.max_future_s", HT_CONF_INT, ingest_max_future_s, "300", 0,
      31536000, false,
      "a value's timestamp may be at most this many seconds ahead of the "
      "gateway's clock (later ones are rejected, as are those before 2000)"),
    K("ingest.rate", HT_CONF_INT, ingest_rate, "1000", 0, 10000000, false,
      "values per second one board may send on average (0: no limit); "
      "excess is dropped and counted"),
    K("ingest.burst", HT_CONF_INT, ingest_burst, "2000", 1, 10000000, false,
      "values one board may send at once above ingest.rate (a snapshot "
      "after a reconnect)"),
    K("devices.auto_approve", HT_CONF_BOOL, auto_approve, "false", 0, 0, true,
      "approve new devices without a technician"),
    K("mdns.enabled", HT_CONF_BOOL, mdns, "true", 0, 0, false,
      "browse _wot._tcp and publish the directory over mDNS"),
    K("twins.dir", HT_CONF_STR, twins_dir, "", 0, 0, false,
      "directory of twin documents (*.json) applied at start (empty: none)"),
    K("twins.asset_max", HT_CONF_INT, asset_max, "16777216", 1024, 268435456,
      false, "largest twin asset in bytes (also bounded by http.max_body)"),
    K("upstream.url", HT_CONF_STR, up_url, "", 0, 0, false,
      "plant NATS cluster, nats://host:port[,nats://host:port...] (empty: "
      "no upstream; docs/fleet.md)"),
    K("upstream.site", HT_CONF_STR, up_site, "site", 0, 0, false,
      "site id in the upstream subjects site.{site}.cell.{cell}..."),
    K("upstream.cell", HT_CONF_STR, up_cell, "", 0, 0, false,
      "cell id in the upstream subjects (empty: gateway.id)"),
    K("upstream.username", HT_CONF_STR, up_username, "", 0, 0, false,
      "NATS user of this cell (also HOLOTWIN_UPSTREAM_USERNAME)"),
    K("upstream.password", HT_CONF_STR, up_password, "", 0, 0, false,
      "NATS password of this cell (also HOLOTWIN_UPSTREAM_PASSWORD)"),
    K("upstream.cafile", HT_CONF_STR, up_cafile, "", 0, 0, false,
      "connect with TLS, verifying the cluster with this CA file"),
    K("upstream.stream", HT_CONF_STR, up_stream, "HOLOTWIN", 0, 0, false,
      "JetStream stream holding the plant's records"),
    K("upstream.replicas", HT_CONF_INT, up_replicas, "3", 1, 5, false,
      "replicas of the stream when this gateway creates it"),
    K("upstream.max_backlog", HT_CONF_INT, up_max_backlog, "1000000", 100,
      2147483647, false,
      "records kept in DATA_DIR/upstream.db while the uplink is down "
      "(oldest dropped beyond, counted in /metrics)"),
    K("upstream.values", HT_CONF_BOOL, up_values, "false", 0, 0, false,
      "also forward every value sample (not only twin state)"),
    K("upstream.values_mode", HT_CONF_STR, up_values_mode, "outbox", 0, 0,
      false,
      "how value samples go up: \"outbox\" (with the other records, at "
      "least once, in order) or \"direct\" (published at once without "
      "acks; dropped and counted while the uplink is down)"),
    K("upstream.ignore_discovered", HT_CONF_BOOL, up_ignore_discovered, "false",
      0, 0, false,
      "use only the listed servers, not those the cluster announces"),
    K("plant.enabled", HT_CONF_BOOL, plant, "false", 0, 0, false,
      "plant view: read every cell's records from the cluster at "
      "upstream.url and serve them under /api/v1/plant (this gateway then "
      "forwards nothing itself)"),
    K("upstream.commands", HT_CONF_BOOL, up_commands, "false", 0, 0, false,
      "run property writes that the plant view routes to this cell (each "
      "audited here with actor plant:NAME)"),
    K("plant.commands", HT_CONF_BOOL, plant_commands, "false", 0, 0, false,
      "plant view: accept POST /api/v1/plant/commands and route them to "
      "the owning cell (false: read-only)"),
    K("integrations.homeassistant.enabled", HT_CONF_BOOL, ha_enabled, "false",
      0, 0, false,
      "publish Home Assistant MQTT discovery configs for approved devices "
      "and twins (docs/homeassistant.md)"),
    K("integrations.homeassistant.discovery_prefix", HT_CONF_STR, ha_prefix,
      "homeassistant", 0, 0, false,
      "Home Assistant's discovery prefix (its birth topic is PREFIX/status)"),
    K("integrations.homeassistant.account", HT_CONF_STR, ha_account, "", 0, 0,
      false,
      "the MQTT app account Home Assistant logs in with (gwctl accounts): "
      "it may read the discovery, state and status topics; an operator "
      "account also gets command topics; without one every entity is "
      "read-only"),
    {0},
};

const struct ht_conf_key *ht_gw_conf_table(void)
{
    return table;
}

void ht_gw_conf_init(struct ht_gw_conf *c)
{
    ht_conf_defaults(table, c);
}

void ht_gw_conf_clear(struct ht_gw_conf *c)
{
    ht_conf_clear(table, c);
}
