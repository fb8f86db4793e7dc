/* ht_mqtt.c - libmosquitto on an ht_loop, with reconnect and backoff.
 *
 * libmosquitto 2.0 has no asynchronous connect that carries MQTT 5 CONNECT
 * properties, and mosquitto_reconnect*() drops them, so every attempt goes
 * through mosquitto_connect_bind_v5() to keep the session-expiry property a
 * persistent session needs. That connect is a blocking TCP connect; brokers
 * here are on loopback or the cell's LAN, where it completes or is refused
 * at once.
 */
#include "ht_mqtt.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Packets read per readable event before the loop gets a turn. */
#define HT_MQTT_READ_BURST 256

struct ht_mqtt {
    struct ht_loop *loop;
    struct mosquitto *mosq;
    struct ht_mqtt_cbs cbs;
    void *ud;
    char *host;
    int port;
    int keepalive;
    uint32_t session_expiry;
    unsigned backoff_min, backoff_max, backoff;

    struct ht_io *io;
    struct ht_prepare *prep;
    struct ht_timer *misc;
    struct ht_timer *retry;
    bool started;
    bool connected;
    bool stopping;
    unsigned attempts, connects;
    uint32_t rng;
    int ca_fd; /* memfd holding opts.ca_pem, or -1 */
};

static void schedule_retry(struct ht_mqtt *m);

/* xorshift: jitter only needs to spread reconnect storms, not be secure. */
static uint32_t rnd(struct ht_mqtt *m)
{
    uint32_t x = m->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return m->rng = x ? x : 0x9e3779b9u;
}

static void on_log(struct mosquitto *mosq, void *ud, int level, const char *str)
{
    (void)mosq;
    (void)ud;
    int l = LOG_DEBUG;
    if (level & MOSQ_LOG_ERR)
        l = LOG_ERR;
    else if (level & MOSQ_LOG_WARNING)
        l = LOG_WARNING;
    ht_log(l, "mqtt", "%s", str);
}

static void on_connect(struct mosquitto *mosq, void *ud, int rc, int flags,
                       const mosquitto_property *props)
{
    (void)props;
    struct ht_mqtt *m = ud;
    if (rc == 0) {
        /* Connected, libmosquitto logs at debug level only (a line per
         * packet, formatted before any level check: 11 % of the gateway's
         * loop per value). Its messages come again after a disconnect, for
         * the next connection's errors (TLS, refusal), and while debug
         * logging was on when this connection came up. */
        if (ht_log_level() < LOG_DEBUG)
            mosquitto_log_callback_set(mosq, NULL);
        m->connected = true;
        m->connects++;
        m->backoff = m->backoff_min;
        ht_log(LOG_INFO, "mqtt", "connected to %s:%d%s", m->host, m->port,
               (flags & 1) ? " (session present)" : "");
    } else {
        ht_log(LOG_WARNING, "mqtt", "broker %s:%d refused connection: %s",
               m->host, m->port, mosquitto_reason_string(rc));
    }
    if (m->cbs.on_connect)
        m->cbs.on_connect(m->ud, rc, (flags & 1) != 0);
}

static void on_disconnect(struct mosquitto *mosq, void *ud, int rc,
                          const mosquitto_property *props)
{
    (void)props;
    struct ht_mqtt *m = ud;
    mosquitto_log_callback_set(mosq, on_log);
    bool was = m->connected;
    m->connected = false;
    if (was)
        ht_log(m->stopping ? LOG_INFO : LOG_WARNING, "mqtt",
               "disconnected from %s:%d (%d)", m->host, m->port, rc);
    if (m->cbs.on_disconnect)
        m->cbs.on_disconnect(m->ud, rc);
}

static void on_message(struct mosquitto *mosq, void *ud,
                       const struct mosquitto_message *msg,
                       const mosquitto_property *props)
{
    (void)mosq;
    struct ht_mqtt *m = ud;
    if (m->cbs.on_message)
        m->cbs.on_message(m->ud, msg, props);
}

static void on_publish(struct mosquitto *mosq, void *ud, int mid, int reason,
                       const mosquitto_property *props)
{
    (void)mosq;
    (void)props;
    struct ht_mqtt *m = ud;
    if (m->cbs.on_publish)
        m->cbs.on_publish(m->ud, mid, reason);
}

static void on_subscribe(struct mosquitto *mosq, void *ud, int mid, int n,
                         const int *granted, const mosquitto_property *props)
{
    (void)mosq;
    (void)props;
    struct ht_mqtt *m = ud;
    if (m->cbs.on_subscribe)
        m->cbs.on_subscribe(m->ud, mid, n > 0 ? granted[0] : 128);
}

/* The socket went away (error or disconnect): stop polling it and retry. */
static void lost(struct ht_mqtt *m, int rc)
{
    ht_io_free(m->io);
    m->io = NULL;
    if (m->connected) {
        m->connected = false;
        if (m->cbs.on_disconnect)
            m->cbs.on_disconnect(m->ud, rc);
    }
    if (!m->stopping)
        schedule_retry(m);
}

static void on_io(struct ht_io *io, int fd, unsigned ev, void *ud)
{
    (void)io;
    struct ht_mqtt *m = ud;
    int rc = MOSQ_ERR_SUCCESS;
    /* libmosquitto reads one packet per call: keep reading until a read
     * would block (bounded, for fairness), so a burst costs one poll and
     * one round of prepare hooks instead of one per message. libmosquitto
     * returns success on EAGAIN and leaves errno set: that, not FIONREAD
     * (a system call per packet, blind to TLS records already decrypted),
     * ends the burst. A callback that leaves EAGAIN behind only ends it
     * early; the socket is polled again. */
    if (ev & (HT_LOOP_READ | HT_LOOP_ERROR))
        for (int i = 0; i < HT_MQTT_READ_BURST; i++) {
            errno = 0;
            rc = mosquitto_loop_read(m->mosq, 1);
            if (rc != MOSQ_ERR_SUCCESS || fd != mosquitto_socket(m->mosq) ||
                errno == EAGAIN || errno == EWOULDBLOCK)
                break;
        }
    if (rc == MOSQ_ERR_SUCCESS && (ev & HT_LOOP_WRITE))
        rc = mosquitto_loop_write(m->mosq, 1);
    if (rc != MOSQ_ERR_SUCCESS)
        lost(m, rc);
}

/* Before each poll: follow the socket (it changes on reconnect) and ask for
 * POLLOUT only while libmosquitto has something queued. */
static void on_prepare(struct ht_prepare *p, void *ud)
{
    (void)p;
    struct ht_mqtt *m = ud;
    int fd = mosquitto_socket(m->mosq);
    if (fd < 0) {
        if (m->io) {
            ht_io_free(m->io);
            m->io = NULL;
        }
        return;
    }
    if (m->io && ht_io_fd(m->io) != fd) {
        ht_io_free(m->io);
        m->io = NULL;
    }
    unsigned ev = HT_LOOP_READ;
    if (mosquitto_want_write(m->mosq))
        ev |= HT_LOOP_WRITE;
    if (!m->io)
        m->io = ht_io_new(m->loop, fd, ev, on_io, m);
    else
        ht_io_set(m->io, ev);
}

static void on_misc(struct ht_timer *t, void *ud)
{
    (void)t;
    struct ht_mqtt *m = ud;
    if (mosquitto_socket(m->mosq) < 0)
        return;
    int rc = mosquitto_loop_misc(m->mosq);
    if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN)
        lost(m, rc);
}

static int try_connect(struct ht_mqtt *m)
{
    mosquitto_property *props = NULL;
    if (m->session_expiry)
        mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
                                     m->session_expiry);
    m->attempts++;
    int rc = mosquitto_connect_bind_v5(m->mosq, m->host, m->port, m->keepalive,
                                       NULL, props);
    mosquitto_property_free_all(&props);
    if (rc != MOSQ_ERR_SUCCESS) {
        ht_log(m->attempts == 1 ? LOG_WARNING : LOG_DEBUG, "mqtt",
               "connect to %s:%d failed: %s", m->host, m->port,
               rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        return HT_EMQTT;
    }
    return HT_OK;
}

static void on_retry(struct ht_timer *t, void *ud)
{
    (void)t;
    struct ht_mqtt *m = ud;
    if (m->stopping)
        return;
    if (try_connect(m) != HT_OK)
        schedule_retry(m);
}

/* Full jitter between backoff/2 and backoff, then double up to the max. */
static void schedule_retry(struct ht_mqtt *m)
{
    unsigned half = m->backoff / 2;
    unsigned delay = half + (half ? rnd(m) % (half + 1) : 0);
    ht_timer_start(m->retry, delay, 0);
    m->backoff =
        m->backoff * 2 > m->backoff_max ? m->backoff_max : m->backoff * 2;
}

/* libmosquitto takes the CA only as a path, and reads it again when it
 * sets up TLS for a connection: an anonymous memory file, open for the
 * client's life and named through /proc/self/fd, keeps a CA given inline
 * (a board's config carries it) off the disk without a temporary file. */
static int ca_memfd(struct ht_mqtt *m, const char *pem, char *path, size_t len)
{
    m->ca_fd = memfd_create("ht-mqtt-ca", MFD_CLOEXEC);
    if (m->ca_fd < 0) {
        ht_log(LOG_ERR, "mqtt", "memfd_create: %s", strerror(errno));
        return -errno;
    }
    size_t n = strlen(pem), off = 0;
    while (off < n) {
        ssize_t w = write(m->ca_fd, pem + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            ht_log(LOG_ERR, "mqtt", "CA certificate: %s", strerror(errno));
            return HT_EIO;
        }
        off += (size_t)w;
    }
    snprintf(path, len, "/proc/self/fd/%d", m->ca_fd);
    return HT_OK;
}

int ht_mqtt_new(struct ht_loop *l, const struct ht_mqtt_opts *o,
                const struct ht_mqtt_cbs *cbs, void *ud, struct ht_mqtt **out)
{
    *out = NULL;
    if (!o->client_id || !*o->client_id)
        return HT_EINVAL;
    mosquitto_lib_init();
    struct ht_mqtt *m = ht_calloc(1, sizeof *m);
    m->loop = l;
    m->cbs = *cbs;
    m->ud = ud;
    m->host = ht_strdup(o->host && *o->host ? o->host : "127.0.0.1");
    m->port = o->port > 0 ? o->port : 1883;
    m->keepalive = o->keepalive >= 5 ? o->keepalive : 30;
    m->session_expiry = o->session_expiry;
    m->backoff_min = o->backoff_min_ms ? o->backoff_min_ms : 250;
    m->backoff_max = o->backoff_max_ms ? o->backoff_max_ms : 30000;
    m->backoff = m->backoff_min;
    m->ca_fd = -1;
    m->rng = (uint32_t)(uintptr_t)m ^ (uint32_t)ht_loop_now(l) ^ 0x5bd1e995u;

    int rc = HT_EMQTT;
    m->mosq = mosquitto_new(o->client_id, o->clean_start, m);
    if (!m->mosq) {
        ht_log(LOG_ERR, "mqtt", "mosquitto_new: %s", strerror(errno));
        goto fail;
    }
    mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    /* Small packets must leave at once: with Nagle a publish or ack written
     * while an earlier one is unacknowledged waits for the peer's delayed
     * ACK, 40 ms on Linux (measured by `make bench`, command round trip). */
    mosquitto_int_option(m->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    if (o->receive_maximum)
        mosquitto_int_option(
            m->mosq, MOSQ_OPT_RECEIVE_MAXIMUM,
            (int)(o->receive_maximum > 65535 ? 65535 : o->receive_maximum));
    mosquitto_log_callback_set(m->mosq, on_log);
    mosquitto_connect_v5_callback_set(m->mosq, on_connect);
    mosquitto_disconnect_v5_callback_set(m->mosq, on_disconnect);
    mosquitto_message_v5_callback_set(m->mosq, on_message);
    mosquitto_publish_v5_callback_set(m->mosq, on_publish);
    mosquitto_subscribe_v5_callback_set(m->mosq, on_subscribe);
    int mrc;
    char ca_path[64] = "";
    if (o->ca_pem && !o->cafile &&
        (rc = ca_memfd(m, o->ca_pem, ca_path, sizeof ca_path)) != HT_OK)
        goto fail;
    const char *cafile = o->cafile ? o->cafile : ca_path[0] ? ca_path : NULL;
    rc = HT_EMQTT;
    if (o->username &&
        (mrc = mosquitto_username_pw_set(m->mosq, o->username, o->password))) {
        ht_log(LOG_ERR, "mqtt", "credentials: %s", mosquitto_strerror(mrc));
        goto fail;
    }
    if (cafile && (mrc = mosquitto_tls_set(m->mosq, cafile, NULL, o->certfile,
                                           o->keyfile, NULL))) {
        ht_log(LOG_ERR, "mqtt", "TLS setup: %s", mosquitto_strerror(mrc));
        rc = HT_EINVAL;
        goto fail;
    }
    if (o->will_topic) {
        const char *p = o->will_payload ? o->will_payload : "";
        mrc = mosquitto_will_set_v5(m->mosq, o->will_topic, (int)strlen(p), p,
                                    o->will_qos, o->will_retain, NULL);
        if (mrc) {
            ht_log(LOG_ERR, "mqtt", "will: %s", mosquitto_strerror(mrc));
            rc = HT_EINVAL;
            goto fail;
        }
    }
    m->prep = ht_prepare_new(l, on_prepare, m);
    m->misc = ht_timer_new(l, on_misc, m);
    m->retry = ht_timer_new(l, on_retry, m);
    *out = m;
    return HT_OK;
fail:
    if (m->mosq)
        mosquitto_destroy(m->mosq);
    if (m->ca_fd >= 0)
        close(m->ca_fd);
    free(m->host);
    free(m);
    mosquitto_lib_cleanup();
    return rc;
}

int ht_mqtt_start(struct ht_mqtt *m)
{
    if (m->started)
        return HT_ESTATE;
    m->started = true;
    m->stopping = false;
    /* loop_misc only sends PINGREQ and checks the PINGRESP deadline: a
     * quarter of the keepalive keeps pings on time (the broker allows 1.5x)
     * without waking an idle board every second. */
    uint64_t misc_ms = (uint64_t)m->keepalive * 1000u / 4u;
    ht_timer_start(m->misc, misc_ms, misc_ms);
    if (try_connect(m) != HT_OK)
        schedule_retry(m);
    return HT_OK;
}

void ht_mqtt_stop(struct ht_mqtt *m)
{
    if (!m || !m->started)
        return;
    m->stopping = true;
    m->started = false;
    ht_timer_stop(m->retry);
    ht_timer_stop(m->misc);
    if (mosquitto_socket(m->mosq) >= 0) {
        mosquitto_disconnect_v5(m->mosq, 0, NULL);
        /* Flush the DISCONNECT (and anything queued before it): a few
         * bounded write attempts, not a wait on the network. */
        for (int i = 0; i < 20 && mosquitto_want_write(m->mosq); i++)
            if (mosquitto_loop_write(m->mosq, 1) != MOSQ_ERR_SUCCESS)
                break;
    }
    m->connected = false;
    ht_io_free(m->io);
    m->io = NULL;
}

void ht_mqtt_free(struct ht_mqtt *m)
{
    if (!m)
        return;
    ht_io_free(m->io);
    ht_prepare_free(m->prep);
    ht_timer_free(m->misc);
    ht_timer_free(m->retry);
    mosquitto_destroy(m->mosq);
    mosquitto_lib_cleanup();
    if (m->ca_fd >= 0)
        close(m->ca_fd);
    free(m->host);
    free(m);
}

bool ht_mqtt_connected(const struct ht_mqtt *m)
{
    return m->connected;
}

int ht_mqtt_publish(struct ht_mqtt *m, const char *topic, const void *payload,
                    size_t len, int qos, bool retain,
                    const mosquitto_property *props, int *mid)
{
    if (len > INT32_MAX)
        return HT_ETOOBIG;
    int rc = mosquitto_publish_v5(m->mosq, mid, topic, (int)len, payload, qos,
                                  retain, props);
    if (rc == MOSQ_ERR_NO_CONN)
        return HT_EAGAIN;
    if (rc != MOSQ_ERR_SUCCESS) {
        ht_log(LOG_WARNING, "mqtt", "publish %s: %s", topic,
               mosquitto_strerror(rc));
        return HT_EMQTT;
    }
    return HT_OK;
}

int ht_mqtt_subscribe(struct ht_mqtt *m, const char *pattern, int qos)
{
    return ht_mqtt_subscribe_mid(m, pattern, qos, NULL);
}

int ht_mqtt_subscribe_mid(struct ht_mqtt *m, const char *pattern, int qos,
                          int *mid)
{
    int rc = mosquitto_subscribe_v5(m->mosq, mid, pattern, qos, 0, NULL);
    if (rc == MOSQ_ERR_NO_CONN)
        return HT_EAGAIN;
    if (rc != MOSQ_ERR_SUCCESS) {
        ht_log(LOG_WARNING, "mqtt", "subscribe %s: %s", pattern,
               mosquitto_strerror(rc));
        return HT_EMQTT;
    }
    return HT_OK;
}

int ht_mqtt_unsubscribe(struct ht_mqtt *m, const char *pattern)
{
    int rc = mosquitto_unsubscribe_v5(m->mosq, NULL, pattern, NULL);
    if (rc == MOSQ_ERR_NO_CONN)
        return HT_EAGAIN;
    return rc == MOSQ_ERR_SUCCESS ? HT_OK : HT_EMQTT;
}

struct mosquitto *ht_mqtt_handle(struct ht_mqtt *m)
{
    return m->mosq;
}

unsigned ht_mqtt_attempts(const struct ht_mqtt *m)
{
    return m->attempts;
}

unsigned ht_mqtt_connects(const struct ht_mqtt *m)
{
    return m->connects;
}

char *ht_mqtt_prop_response_topic(const mosquitto_property *props)
{
    char *s = NULL;
    if (!mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &s,
                                        false))
        return NULL;
    return s;
}

void *ht_mqtt_prop_correlation(const mosquitto_property *props, uint16_t *len)
{
    void *v = NULL;
    *len = 0;
    if (!mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &v,
                                        len, false))
        return NULL;
    return v;
}
