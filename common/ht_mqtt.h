/* ht_mqtt.h - libmosquitto (MQTT 5) driven by an ht_loop.
 *
 * Never uses mosquitto_loop_start(): the socket is polled by the daemon's own
 * loop (POLLOUT only while mosquitto_want_write()), loop_misc runs from a
 * timer at a quarter of the keepalive, and a lost connection is retried with
 * exponential backoff and jitter. All callbacks run on the loop thread.
 */
#ifndef HT_MQTT_H
#define HT_MQTT_H

#include "ht_loop.h"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ht_mqtt;

struct ht_mqtt_opts {
    const char *host;      /* default 127.0.0.1 */
    int port;              /* default 1883 */
    const char *client_id; /* required */
    const char *username;  /* optional */
    const char *password;  /* optional */
    int keepalive;         /* seconds, default 30 */
    bool clean_start;
    /* MQTT 5 session expiry (s); > 0 makes the session persistent. */
    uint32_t session_expiry;
    const char *will_topic; /* optional Will */
    const char *will_payload;
    int will_qos;
    bool will_retain;
    /* TLS when cafile or ca_pem is set: the broker's certificate must
     * chain to that CA and name the host connected to (never skipped). */
    const char *cafile;
    const char *ca_pem; /* the CA certificate itself (PEM), instead of a file */
    const char *certfile; /* optional client certificate */
    const char *keyfile;
    unsigned backoff_min_ms; /* default 250 */
    unsigned backoff_max_ms; /* default 30000 */
    /* QoS 1/2 messages the broker may have in flight to us (MQTT 5 Receive
     * Maximum, 1..65535); 0 keeps libmosquitto's 20. */
    unsigned receive_maximum;
};

struct ht_mqtt_cbs {
    /* Connected (rc == 0) or refused by the broker (rc = reason code).
     * session_present tells whether the broker kept our session. */
    void (*on_connect)(void *ud, int rc, bool session_present);
    /* Connection lost or closed; a reconnect is already scheduled unless
     * ht_mqtt_stop() was called. */
    void (*on_disconnect)(void *ud, int rc);
    /* msg and props valid only during the call. */
    void (*on_message)(void *ud, const struct mosquitto_message *msg,
                       const mosquitto_property *props);
    /* A QoS>0 publish completed (or a QoS 0 one was written). */
    void (*on_publish)(void *ud, int mid, int reason_code);
    /* The broker answered a SUBSCRIBE (granted QoS or failure >= 128). */
    void (*on_subscribe)(void *ud, int mid, int granted_qos);
};

/* Create a client on loop l. opts strings are copied; cbs copied; ud
 * borrowed for the client's life. Nothing connects until ht_mqtt_start.
 * Returns HT_OK or HT_EINVAL/HT_EMQTT (logged). *out new, free with
 * ht_mqtt_free. Loop thread only. */
int ht_mqtt_new(struct ht_loop *l, const struct ht_mqtt_opts *opts,
                const struct ht_mqtt_cbs *cbs, void *ud, struct ht_mqtt **out);
/* Free (disconnects abruptly if still connected). NULL is a no-op. */
void ht_mqtt_free(struct ht_mqtt *m);

/* Begin connecting; failures are retried with backoff. */
int ht_mqtt_start(struct ht_mqtt *m);
/* Graceful DISCONNECT (the broker discards the Will) and no reconnect.
 * Returns once the packet is written or after a short bounded flush. */
void ht_mqtt_stop(struct ht_mqtt *m);
bool ht_mqtt_connected(const struct ht_mqtt *m);

/* Publish (payload copied by libmosquitto). props borrowed, may be NULL.
 * *mid may be NULL. HT_EAGAIN when not connected. */
int ht_mqtt_publish(struct ht_mqtt *m, const char *topic, const void *payload,
                    size_t len, int qos, bool retain,
                    const mosquitto_property *props, int *mid);
/* *mid (may be NULL) identifies the SUBACK in on_subscribe. */
int ht_mqtt_subscribe(struct ht_mqtt *m, const char *pattern, int qos);
int ht_mqtt_subscribe_mid(struct ht_mqtt *m, const char *pattern, int qos,
                          int *mid);
int ht_mqtt_unsubscribe(struct ht_mqtt *m, const char *pattern);

/* The underlying handle, for property helpers (borrowed). */
struct mosquitto *ht_mqtt_handle(struct ht_mqtt *m);
/* Number of (re)connect attempts so far, and successful connects. */
unsigned ht_mqtt_attempts(const struct ht_mqtt *m);
unsigned ht_mqtt_connects(const struct ht_mqtt *m);

/* Copy the MQTT 5 response topic / correlation data of props, if present.
 * Returns new strings/buffers (caller frees) or NULL. */
char *ht_mqtt_prop_response_topic(const mosquitto_property *props);
void *ht_mqtt_prop_correlation(const mosquitto_property *props, uint16_t *len);

#endif
