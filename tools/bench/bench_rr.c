/* bench_rr.c - the floor under the command round trip: a bare MQTT 5
 * requester that publishes commands straight to loadgen's acking agents
 * (QoS 1, response topic + correlation data, as the gateway does) and
 * times each answer, C requests in flight. What bench_cmd measures on top
 * of this (HTTP, the gateway's jobs, audit record) is the gateway's cost;
 * this is the broker and the agents on the same machine.
 *
 * Driven by mosquitto_loop() on one thread, like the daemons' loop.
 */
#include "bench_util.h"

#include "ht_topic.h"

#include <getopt.h>
#include <inttypes.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct rr {
    const char *prefix, *id_prefix;
    unsigned conc, devices;
    char resp[128];
    bool subscribed, failed, stopping;
    uint64_t *sent_ns; /* per slot */
    uint64_t *seq;     /* per slot */
    uint64_t done, errors, t_start;
    struct bench_lat lat;
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* Send slot i's next request (correlation data: "slot:seq"). */
static void send_one(struct mosquitto *m, struct rr *r, unsigned i)
{
    char dev[64], topic[HT_TOPIC_MAX], corr[48], body[96];
    snprintf(dev, sizeof dev, "%s%05u", r->id_prefix, i % r->devices);
    ht_topic_build(topic, sizeof topic, r->prefix, HT_TOPIC_DEV_CMD, dev, "p0");
    snprintf(corr, sizeof corr, "%u:%" PRIu64, i, ++r->seq[i]);
    int n = snprintf(body, sizeof body, "{\"v\":%" PRIu64 ",\"id\":\"%s\"}",
                     r->seq[i], corr);
    mosquitto_property *props = NULL;
    mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, r->resp);
    mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, corr,
                                  (uint16_t)strlen(corr));
    r->sent_ns[i] = bench_now_ns();
    if (mosquitto_publish_v5(m, NULL, topic, n, body, 1, false, props) !=
        MOSQ_ERR_SUCCESS)
        r->errors++;
    mosquitto_property_free_all(&props);
}

static void on_connect(struct mosquitto *m, void *ud, int rc, int flags,
                       const mosquitto_property *p)
{
    (void)flags;
    (void)p;
    struct rr *r = ud;
    if (rc) {
        fprintf(stderr, "bench_rr: refused: %s\n", mosquitto_reason_string(rc));
        r->failed = true;
        return;
    }
    mosquitto_subscribe_v5(m, NULL, r->resp, 1, 0, NULL);
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n,
                         const int *granted, const mosquitto_property *p)
{
    (void)mid;
    (void)p;
    struct rr *r = ud;
    if (n < 1 || granted[0] > 2) {
        r->failed = true;
        return;
    }
    r->subscribed = true;
    r->t_start = bench_now_ns();
    for (unsigned i = 0; i < r->conc; i++)
        send_one(m, r, i);
}

static void on_message(struct mosquitto *m, void *ud,
                       const struct mosquitto_message *msg,
                       const mosquitto_property *props)
{
    (void)msg;
    struct rr *r = ud;
    uint64_t t = bench_now_ns();
    void *corr = NULL;
    uint16_t len = 0;
    mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &corr,
                                   &len, false);
    char buf[48] = "";
    if (corr && len < sizeof buf)
        memcpy(buf, corr, len);
    free(corr);
    unsigned i = (unsigned)strtoul(buf, NULL, 10);
    if (!corr || i >= r->conc) {
        r->errors++;
        return;
    }
    bench_lat_add(&r->lat, t - r->sent_ns[i]);
    r->done++;
    if (!r->stopping)
        send_one(m, r, i);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_rr [options]\n"
               "Bare MQTT 5 request/response against loadgen --ack-commands:\n"
               "C commands in flight, each answer timed. JSON on stdout.\n\n"
               "  --broker HOST:PORT  (default 127.0.0.1:1883)\n"
               "  --conc C            requests in flight (default 64)\n"
               "  --devices N         agents lg-00000.. (default 64)\n"
               "  --id-prefix S       device ids S%%05u (default lg-)\n"
               "  --duration S        seconds (default 5)\n"
               "  --help\n");
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"broker", 1, 0, 'b'},
                                       {"conc", 1, 0, 'c'},
                                       {"devices", 1, 0, 'n'},
                                       {"id-prefix", 1, 0, 'i'},
                                       {"duration", 1, 0, 'd'},
                                       {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
    struct rr r = {.id_prefix = "lg-", .conc = 64, .devices = 64};
    char host[256] = "127.0.0.1";
    int port = 1883, c;
    double duration = 5;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'b': {
            const char *colon = strrchr(optarg, ':');
            if (!colon || colon == optarg ||
                (size_t)(colon - optarg) >= sizeof host) {
                fprintf(stderr, "bench_rr: --broker HOST:PORT\n");
                return 2;
            }
            memcpy(host, optarg, (size_t)(colon - optarg));
            host[colon - optarg] = '\0';
            port = atoi(colon + 1);
            break;
        }
        case 'c':
            r.conc = (unsigned)atoi(optarg);
            break;
        case 'n':
            r.devices = (unsigned)atoi(optarg);
            break;
        case 'i':
            r.id_prefix = optarg;
            break;
        case 'd':
            duration = atof(optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!r.conc || r.conc > 10000 || !r.devices || port <= 0 || port > 65535) {
        fprintf(stderr, "bench_rr: bad --conc, --devices or port\n");
        return 2;
    }
    bench_signals(on_signal);
    r.sent_ns = calloc(r.conc, sizeof *r.sent_ns);
    r.seq = calloc(r.conc, sizeof *r.seq);
    if (!r.sent_ns || !r.seq)
        return 1;
    snprintf(r.resp, sizeof r.resp, "bench-rr/%d/resp", (int)getpid());
    bench_lat_init(&r.lat, 20000000);
    struct mosquitto *m =
        bench_mqtt_connect("bench-rr", host, port, 10000, 10000, &r, on_connect,
                           on_subscribe, on_message);
    if (!m)
        return 1;
    uint64_t t0 = bench_now_ns();
    while (!g_stop && !r.failed) {
        mosquitto_loop(m, 10, 1);
        uint64_t now = bench_now_ns();
        if (!r.subscribed && now - t0 > 10000000000ull) {
            fprintf(stderr, "bench_rr: no subscription after 10 s\n");
            r.failed = true;
        }
        if (r.subscribed && (double)(now - r.t_start) / 1e9 >= duration)
            break;
    }
    double secs = (double)(bench_now_ns() - r.t_start) / 1e9;
    printf("{\"tool\":\"bench_rr\",\"conc\":%u,\"done\":%" PRIu64
           ",\"errors\":%" PRIu64 ",\"elapsed_s\":%.3f,\"rate\":%.1f,"
           "\"latency\":",
           r.conc, r.done, r.errors, secs,
           secs > 0 ? (double)r.done / secs : 0);
    bench_lat_json(&r.lat, stdout);
    printf("}\n");
    mosquitto_disconnect(m);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    free(r.sent_ns);
    free(r.seq);
    return r.failed ? 1 : 0;
}
