/* bench_edge.c - edge-to-publish latency of device-agent on the sim board.
 *
 * Drives a sim input line through the agent's control socket ("set NAME
 * 0|1", alternating, so every command is a real edge) at a fixed rate and
 * subscribes to that capability's property topic; each value received is
 * matched with the oldest edge not yet seen (FIFO: the agent publishes in
 * edge order). The time includes the control-socket write and one broker
 * hop (about 0.1 ms here; bench_sub measures that hop alone).
 */
#include "bench_util.h"

#include <errno.h>
#include <getopt.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define EDGE_FIFO 65536

struct edge {
    uint64_t fifo[EDGE_FIFO];
    size_t head, tail; /* tail: next to match */
    uint64_t sent, received, unmatched;
    bool subscribed;
    struct bench_lat lat;
};

static void on_connect(struct mosquitto *m, void *ud, int rc, int fl,
                       const mosquitto_property *p)
{
    (void)m;
    (void)ud;
    (void)fl;
    (void)p;
    if (rc)
        fprintf(stderr, "bench_edge: refused: %s\n",
                mosquitto_reason_string(rc));
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n,
                         const int *q, const mosquitto_property *p)
{
    (void)m;
    (void)mid;
    (void)n;
    (void)q;
    (void)p;
    ((struct edge *)ud)->subscribed = true;
}

static void on_message(struct mosquitto *m, void *ud,
                       const struct mosquitto_message *msg,
                       const mosquitto_property *p)
{
    (void)m;
    (void)p;
    struct edge *e = ud;
    uint64_t t = bench_now_ns();
    if (msg->retain)
        return;
    e->received++;
    if (e->tail == e->head) {
        e->unmatched++; /* a value we did not cause (initial, periodic) */
        return;
    }
    bench_lat_add(&e->lat, t - e->fifo[e->tail % EDGE_FIFO]);
    e->tail++;
}

static int ctl_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (fd < 0 || strlen(path) >= sizeof sa.sun_path)
        return -1;
    strcpy(sa.sun_path, path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        close(fd);
        return -1;
    }
    return fd;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_edge --control SOCK --topic T --name CAP [options]\n"
            "  --broker HOST:PORT  (default 127.0.0.1:1883)\n"
            "  --rate R            edges/s (default 100)\n"
            "  --duration S        (default 5)\n"
            "JSON summary on stdout.\n");
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"control", 1, 0, 'c'}, {"topic", 1, 0, 't'}, {"name", 1, 0, 'N'},
        {"broker", 1, 0, 'b'},  {"rate", 1, 0, 'r'},  {"duration", 1, 0, 'd'},
        {"help", 0, 0, 'h'},    {0, 0, 0, 0}};
    const char *ctl = NULL, *topic = NULL, *name = NULL;
    char host[256] = "127.0.0.1";
    int port = 1883, c;
    double rate = 100, duration = 5;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'c':
            ctl = optarg;
            break;
        case 't':
            topic = optarg;
            break;
        case 'N':
            name = optarg;
            break;
        case 'b': {
            const char *colon = strrchr(optarg, ':');
            if (!colon || (size_t)(colon - optarg) >= sizeof host)
                return 2;
            memcpy(host, optarg, (size_t)(colon - optarg));
            host[colon - optarg] = '\0';
            port = atoi(colon + 1);
            break;
        }
        case 'r':
            rate = atof(optarg);
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
    if (!ctl || !topic || !name || rate <= 0) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct edge *e = calloc(1, sizeof *e);
    bench_lat_init(&e->lat, 1000000);
    int cfd = ctl_connect(ctl);
    if (cfd < 0) {
        fprintf(stderr, "bench_edge: control socket %s: %s\n", ctl,
                strerror(errno));
        return 1;
    }
    mosquitto_lib_init();
    struct mosquitto *m = mosquitto_new(NULL, true, e);
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_connect_v5_callback_set(m, on_connect);
    mosquitto_subscribe_v5_callback_set(m, on_subscribe);
    mosquitto_message_v5_callback_set(m, on_message);
    if (mosquitto_connect_bind_v5(m, host, port, 60, NULL, NULL) ||
        mosquitto_subscribe_v5(m, NULL, topic, 0, 0, NULL)) {
        fprintf(stderr, "bench_edge: cannot reach the broker\n");
        return 1;
    }
    uint64_t t_start = bench_now_ns(), t_pub0 = 0, t_end = 0;
    int level = 0;
    char rbuf[512];
    while (1) {
        uint64_t t = bench_now_ns();
        if (e->subscribed && !t_pub0)
            t_pub0 = t + 300000000ull; /* let retained/initial values pass */
        if (t_pub0 && t >= t_pub0 && !t_end) {
            uint64_t due = (uint64_t)((double)(t - t_pub0) / 1e9 * rate);
            while (e->sent < due && e->head - e->tail < EDGE_FIFO) {
                char cmd[160];
                level = !level;
                int n = snprintf(cmd, sizeof cmd, "set %s %d\n", name, level);
                e->fifo[e->head % EDGE_FIFO] = bench_now_ns();
                e->head++;
                if (write(cfd, cmd, (size_t)n) != n) {
                    fprintf(stderr, "bench_edge: control write failed\n");
                    t_end = t;
                    break;
                }
                e->sent++;
            }
            if ((double)(t - t_pub0) / 1e9 >= duration)
                t_end = t;
        }
        if (t_end && (e->tail == e->head || t - t_end > 2000000000ull))
            break;
        if ((double)(t - t_start) / 1e9 > duration + 10)
            break;
        struct pollfd pf[2] = {{.fd = mosquitto_socket(m), .events = POLLIN},
                               {.fd = cfd, .events = POLLIN}};
        if (mosquitto_want_write(m))
            pf[0].events |= POLLOUT;
        int n = poll(pf, 2, 1);
        if (n > 0 && (pf[0].revents & (POLLIN | POLLERR | POLLHUP)) &&
            mosquitto_loop_read(m, 100))
            break;
        if (n > 0 && (pf[0].revents & POLLOUT))
            mosquitto_loop_write(m, 100);
        if (n > 0 && (pf[1].revents & POLLIN)) {
            if (read(cfd, rbuf, sizeof rbuf) <= 0)
                break; /* the agent went away */
            if (strstr(rbuf, "error"))
                fprintf(stderr, "bench_edge: agent: %.80s\n", rbuf);
        }
        mosquitto_loop_misc(m);
    }
    printf("{\"tool\":\"bench_edge\",\"edges\":%llu,\"received\":%llu,"
           "\"unmatched\":%llu,\"missing\":%llu,\"latency\":",
           (unsigned long long)e->sent, (unsigned long long)e->received,
           (unsigned long long)e->unmatched,
           (unsigned long long)(e->head - e->tail));
    bench_lat_json(&e->lat, stdout);
    printf("}\n");
    mosquitto_disconnect(m);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
    close(cfd);
    bench_lat_clear(&e->lat);
    free(e);
    return 0;
}
