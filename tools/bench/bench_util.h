/* bench_util.h - what the benchmark reference programs share: a monotonic
 * clock, latency samples with percentiles, the send-timestamp parser, and a
 * tiny blocking HTTP/1.1 client socket.
 *
 * These are measuring tools, not daemons: single-threaded, stdout JSON.
 */
#ifndef HT_BENCH_UTIL_H
#define HT_BENCH_UTIL_H

#include <mosquitto.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* CLOCK_MONOTONIC in ns: the same clock loadgen stamps into "t0", so
 * latencies across processes on one machine are exact. */
uint64_t bench_now_ns(void);

/* Growable array of latency samples in ns. */
struct bench_lat {
    uint64_t *v;
    size_t n, cap, max; /* max: stop storing beyond this many */
};

void bench_lat_init(struct bench_lat *l, size_t max);
void bench_lat_add(struct bench_lat *l, uint64_t ns);
void bench_lat_clear(struct bench_lat *l);
/* Print {"n":..,"mean_us":..,"p50_us":..,"p90_us":..,"p99_us":..,
 * "p999_us":..,"max_us":..} to f (sorts the samples in place). */
void bench_lat_json(struct bench_lat *l, FILE *f);

/* The send time of a loadgen payload, in ns: "t0":NS if present, else
 * "v":US (loadgen's default value is the send time in microseconds), else
 * "value":US (a gateway twin state event), else 0. buf need not be
 * NUL-terminated. Borrowed. */
uint64_t bench_parse_t0(const char *buf, size_t len);

/* Find key (with quotes and colon, e.g. "\"v\":") in buf[0..len) and
 * parse the unsigned number after it (reals are truncated); 0 if absent. */
uint64_t bench_json_uint(const char *buf, size_t len, const char *key);

/* Connect a TCP socket to host:port (blocking, TCP_NODELAY). Returns the fd
 * or -errno. */
int bench_tcp_connect(const char *host, int port);

/* Parse "http://host:port/path" (path may be missing -> "/"). Returns 0 or
 * -1. host of hostlen bytes, path of pathlen bytes. */
int bench_parse_url(const char *url, char *host, size_t hostlen, int *port,
                    char *path, size_t pathlen);

/* SIGINT and SIGTERM call on_stop; SIGPIPE is ignored. */
void bench_signals(void (*on_stop)(int));

/* An MQTT 5 client "WHO-PID" (clean start, TCP_NODELAY, its Receive and
 * Send Maximum when > 0) with its callbacks set, connecting to host:port
 * (mosquitto_lib_init is called). NULL after printing why to stderr. */
struct mosquitto *bench_mqtt_connect(
    const char *who, const char *host, int port, int receive_max, int send_max,
    void *ud,
    void (*on_connect)(struct mosquitto *, void *, int, int,
                       const mosquitto_property *),
    void (*on_subscribe)(struct mosquitto *, void *, int, int, const int *,
                         const mosquitto_property *),
    void (*on_message)(struct mosquitto *, void *,
                       const struct mosquitto_message *,
                       const mosquitto_property *));

/* Create the file path (empty), used as a readiness signal. */
void bench_touch(const char *path);

#endif
