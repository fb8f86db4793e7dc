/* bench_util.c - shared helpers of the benchmark reference programs. */
#include "bench_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <mqtt_protocol.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_lat_init(struct bench_lat *l, size_t max)
{
    memset(l, 0, sizeof *l);
    l->max = max;
}

void bench_lat_add(struct bench_lat *l, uint64_t ns)
{
    if (l->n >= l->max)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        uint64_t *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return; /* a measuring tool: fewer samples, not a crash */
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = ns;
}

void bench_lat_clear(struct bench_lat *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples. */
static double pct(const struct bench_lat *l, double p)
{
    size_t i = (size_t)(p * (double)l->n);
    if (i >= l->n)
        i = l->n - 1;
    return (double)l->v[i] / 1e3;
}

void bench_lat_json(struct bench_lat *l, FILE *f)
{
    if (!l->n) {
        fprintf(f, "{\"n\":0}");
        return;
    }
    qsort(l->v, l->n, sizeof *l->v, cmp_u64);
    double sum = 0;
    for (size_t i = 0; i < l->n; i++)
        sum += (double)l->v[i];
    fprintf(f,
            "{\"n\":%zu,\"mean_us\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,"
            "\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f}",
            l->n, sum / (double)l->n / 1e3, pct(l, 0.5), pct(l, 0.9),
            pct(l, 0.99), pct(l, 0.999), (double)l->v[l->n - 1] / 1e3);
}

/* memmem keeps it safe on non-terminated buffers. */
uint64_t bench_json_uint(const char *buf, size_t len, const char *key)
{
    const char *p = memmem(buf, len, key, strlen(key));
    if (!p)
        return 0;
    p += strlen(key);
    const char *end = buf + len;
    while (p < end && (*p == ' ' || *p == '"'))
        p++;
    char tmp[64], *e;
    size_t n =
        (size_t)(end - p) < sizeof tmp - 1 ? (size_t)(end - p) : sizeof tmp - 1;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    if (!(tmp[0] >= '0' && tmp[0] <= '9'))
        return 0;
    unsigned long long v = strtoull(tmp, &e, 10);
    /* a gateway may print the microsecond value as a real: 1.7e+12 */
    if (*e == '.' || *e == 'e' || *e == 'E')
        return (uint64_t)strtod(tmp, NULL);
    return v;
}

uint64_t bench_parse_t0(const char *buf, size_t len)
{
    uint64_t t = bench_json_uint(buf, len, "\"t0\":");
    if (t)
        return t;
    t = bench_json_uint(buf, len, "\"v\":");
    if (!t) /* a twin state event: {"device.p0":{"value":US,...}} */
        t = bench_json_uint(buf, len, "\"value\":");
    return t * 1000;
}

int bench_tcp_connect(const char *host, int port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM},
                    *res = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc)
        return -EHOSTUNREACH;
    int fd = -ECONNREFUSED;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        int s = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
        if (s < 0)
            continue;
        if (connect(s, a->ai_addr, a->ai_addrlen) == 0) {
            int one = 1;
            setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            fd = s;
            break;
        }
        fd = -errno;
        close(s);
    }
    freeaddrinfo(res);
    return fd;
}

int bench_parse_url(const char *url, char *host, size_t hostlen, int *port,
                    char *path, size_t pathlen)
{
    if (strncmp(url, "http://", 7))
        return -1;
    const char *h = url + 7, *slash = strchr(h, '/');
    const char *colon = memchr(h, ':', slash ? (size_t)(slash - h) : strlen(h));
    const char *hend = colon ? colon : (slash ? slash : h + strlen(h));
    if ((size_t)(hend - h) >= hostlen || hend == h)
        return -1;
    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = '\0';
    *port = colon ? atoi(colon + 1) : 80;
    if (*port <= 0 || *port > 65535)
        return -1;
    const char *p = slash ? slash : "/";
    if (strlen(p) >= pathlen)
        return -1;
    strcpy(path, p);
    return 0;
}

void bench_touch(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
}

void bench_signals(void (*on_stop)(int))
{
    signal(SIGINT, on_stop);
    signal(SIGTERM, on_stop);
    signal(SIGPIPE, SIG_IGN);
}

struct mosquitto *bench_mqtt_connect(
    const char *who, const char *host, int port, int receive_max, int send_max,
    void *ud,
    void (*on_connect)(struct mosquitto *, void *, int, int,
                       const mosquitto_property *),
    void (*on_subscribe)(struct mosquitto *, void *, int, int, const int *,
                         const mosquitto_property *),
    void (*on_message)(struct mosquitto *, void *,
                       const struct mosquitto_message *,
                       const mosquitto_property *))
{
    mosquitto_lib_init();
    char id[64];
    snprintf(id, sizeof id, "%s-%d", who, (int)getpid());
    struct mosquitto *m = mosquitto_new(id, true, ud);
    if (!m) {
        fprintf(stderr, "%s: mosquitto_new failed\n", who);
        return NULL;
    }
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
    if (receive_max > 0)
        mosquitto_int_option(m, MOSQ_OPT_RECEIVE_MAXIMUM, receive_max);
    if (send_max > 0)
        mosquitto_int_option(m, MOSQ_OPT_SEND_MAXIMUM, send_max);
    mosquitto_connect_v5_callback_set(m, on_connect);
    mosquitto_subscribe_v5_callback_set(m, on_subscribe);
    mosquitto_message_v5_callback_set(m, on_message);
    int rc = mosquitto_connect_bind_v5(m, host, port, 60, NULL, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "%s: connect %s:%d: %s\n", who, host, port,
                mosquitto_strerror(rc));
        mosquitto_destroy(m);
        return NULL;
    }
    return m;
}
