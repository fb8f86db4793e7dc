/* bench_sub.c - the reference receiver: a bare libmosquitto subscriber that
 * only counts messages and measures publish->receive latency from loadgen's
 * embedded send timestamp. Whatever gatewayd does on top of this (parse,
 * twin update, rules, history, fan-out) is the gateway's cost; this is the
 * broker's limit with the same client library, on the same machine.
 *
 * Driven like the daemons (raw loop_read/loop_write from poll(), no
 * libmosquitto thread) so the comparison is fair.
 */
#include "bench_util.h"

#include "ht_topic.h"

#include <getopt.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sub {
    const char *topic;
    int qos;
    bool subscribed, failed;
    uint64_t n, untimed, warm, t_first, t_last;
    uint64_t warmup_ns; /* messages this soon after the first: not timed */
    struct bench_lat lat;
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void on_connect(struct mosquitto *m, void *ud, int rc, int flags,
                       const mosquitto_property *p)
{
    (void)flags;
    (void)p;
    struct sub *s = ud;
    if (rc) {
        fprintf(stderr, "bench_sub: refused: %s\n",
                mosquitto_reason_string(rc));
        s->failed = true;
        return;
    }
    mosquitto_subscribe_v5(m, NULL, s->topic, s->qos, 0, NULL);
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n,
                         const int *granted, const mosquitto_property *p)
{
    (void)m;
    (void)mid;
    (void)p;
    struct sub *s = ud;
    if (n < 1 || granted[0] > 2) {
        fprintf(stderr, "bench_sub: subscription refused\n");
        s->failed = true;
        return;
    }
    s->subscribed = true;
}

/* The hot path: one clock read and a memmem per message. */
static void on_message(struct mosquitto *m, void *ud,
                       const struct mosquitto_message *msg,
                       const mosquitto_property *p)
{
    (void)m;
    (void)p;
    struct sub *s = ud;
    uint64_t t = bench_now_ns();
    if (msg->retain)
        return; /* retained TDs/status from earlier runs: not load */
    uint64_t t0 = bench_parse_t0(msg->payload, (size_t)msg->payloadlen);
    if (!s->n)
        s->t_first = t;
    s->t_last = t;
    s->n++;
    if (t - s->t_first < s->warmup_ns)
        s->warm++;
    else if (t0 && t0 <= t)
        bench_lat_add(&s->lat, t - t0);
    else
        s->untimed++;
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: bench_sub [options]\n"
        "Bare MQTT 5 subscriber: counts messages and measures latency from\n"
        "loadgen's send timestamps. JSON summary on stdout.\n\n"
        "  --broker HOST:PORT  (default 127.0.0.1:1883)\n"
        "  --topic T           (default holotwin/v1/devices/+/props/+)\n"
        "  --qos Q             0|1|2 (default 0)\n"
        "  --count N           stop after N messages\n"
        "  --duration S        stop after S seconds (default 60)\n"
        "  --idle-ms MS        stop MS after the last message (default 2000)\n"
        "  --ready-file F      created once subscribed\n"
        "  --warmup-ms MS      do not time messages in the first MS after\n"
        "                      the first one (counted all the same)\n"
        "  --help\n");
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"broker", 1, 0, 'b'},     {"topic", 1, 0, 't'},
        {"qos", 1, 0, 'q'},        {"count", 1, 0, 'n'},
        {"duration", 1, 0, 'd'},   {"idle-ms", 1, 0, 'i'},
        {"ready-file", 1, 0, 'r'}, {"warmup-ms", 1, 0, 'w'},
        {"help", 0, 0, 'h'},       {0, 0, 0, 0}};
    /* Every device's values: the filter the gateway's ingest uses. */
    char deftopic[HT_TOPIC_MAX];
    ht_topic_filter(deftopic, sizeof deftopic, NULL, HT_TOPIC_DEV_PROP, NULL);
    struct sub s = {.topic = deftopic};
    char host[256] = "127.0.0.1";
    int port = 1883, c;
    uint64_t count = 0;
    double duration = 60, idle_ms = 2000;
    const char *ready = NULL;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'b': {
            const char *colon = strrchr(optarg, ':');
            if (!colon || colon == optarg ||
                (size_t)(colon - optarg) >= sizeof host) {
                fprintf(stderr, "bench_sub: --broker HOST:PORT\n");
                return 2;
            }
            memcpy(host, optarg, (size_t)(colon - optarg));
            host[colon - optarg] = '\0';
            port = atoi(colon + 1);
            break;
        }
        case 't':
            s.topic = optarg;
            break;
        case 'q':
            s.qos = atoi(optarg);
            break;
        case 'n':
            count = strtoull(optarg, NULL, 10);
            break;
        case 'd':
            duration = atof(optarg);
            break;
        case 'i':
            idle_ms = atof(optarg);
            break;
        case 'r':
            ready = optarg;
            break;
        case 'w':
            s.warmup_ns = (uint64_t)(atof(optarg) * 1e6);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (s.qos < 0 || s.qos > 2 || port <= 0 || port > 65535) {
        fprintf(stderr, "bench_sub: bad --qos or port\n");
        return 2;
    }
    bench_signals(on_signal);
    bench_lat_init(&s.lat, 20000000);
    /* the broker may have up to 1,000 QoS>0 messages in flight to us, as
     * the gateway's ingest connection allows */
    struct mosquitto *m =
        bench_mqtt_connect("bench-sub", host, port, 1000, 0, &s, on_connect,
                           on_subscribe, on_message);
    if (!m)
        return 1;
    uint64_t t_start = bench_now_ns(), t_misc = t_start;
    bool ready_done = false;
    while (!g_stop && !s.failed) {
        struct pollfd pfd = {.fd = mosquitto_socket(m), .events = POLLIN};
        if (mosquitto_want_write(m))
            pfd.events |= POLLOUT;
        int n = poll(&pfd, 1, 50);
        int rc = MOSQ_ERR_SUCCESS;
        if (n > 0 && (pfd.revents & (POLLIN | POLLERR | POLLHUP)))
            rc = mosquitto_loop_read(m, 1000);
        if (rc == MOSQ_ERR_SUCCESS && n > 0 && (pfd.revents & POLLOUT))
            rc = mosquitto_loop_write(m, 1000);
        if (rc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "bench_sub: connection lost: %s\n",
                    mosquitto_strerror(rc));
            break;
        }
        uint64_t t = bench_now_ns();
        if (t - t_misc > 1000000000u) {
            mosquitto_loop_misc(m);
            t_misc = t;
        }
        if (s.subscribed && !ready_done) {
            ready_done = true;
            if (ready)
                bench_touch(ready);
        }
        if (count && s.n >= count)
            break;
        if ((double)(t - t_start) / 1e9 >= duration)
            break;
        if (s.n && (double)(t - s.t_last) / 1e6 >= idle_ms)
            break;
    }
    double span = s.n > 1 ? (double)(s.t_last - s.t_first) / 1e9 : 0;
    printf("{\"tool\":\"bench_sub\",\"qos\":%d,\"received\":%llu,"
           "\"untimed\":%llu,\"warmup\":%llu,\"first_to_last_s\":%.6f,"
           "\"rate\":%.1f,\"latency\":",
           s.qos, (unsigned long long)s.n, (unsigned long long)s.untimed,
           (unsigned long long)s.warm, span,
           span > 0 ? (double)(s.n - 1) / span : 0.0);
    bench_lat_json(&s.lat, stdout);
    printf("}\n");
    mosquitto_disconnect_v5(m, 0, NULL);
    mosquitto_loop_write(m, 1);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    bench_lat_clear(&s.lat);
    return s.failed ? 1 : 0;
}
