/* bench_cmd.c - closed-loop HTTP client for the command round trip:
 * C keep-alive connections, each with one request in flight (REST PUT ->
 * gateway -> MQTT 5 command -> agent ack -> HTTP 200), timing every
 * request. Also usable for any method/path (GET latency under load).
 *
 * One epoll loop, non-blocking sockets; responses are parsed just enough to
 * find their end (Content-Length or chunked).
 */
#include "bench_util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define CMD_BUF 65536

struct conn {
    int fd, idx;
    char req[4096];
    size_t reqlen, reqoff;
    char buf[CMD_BUF];
    size_t len;
    uint64_t t0;
    bool busy;
};

struct run {
    char host[256];
    int port;
    const char *method, *path_fmt, *token, *body;
    unsigned devices, conc;
    uint64_t count, started, done, ok, st4xx, st5xx, other, errors;
    double duration;
    int ep;
    struct bench_lat lat;
    unsigned next_dev;
    bool printed_err;
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int conn_open(struct run *r, struct conn *c)
{
    c->fd = bench_tcp_connect(r->host, r->port);
    if (c->fd < 0)
        return c->fd;
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd, &e);
    c->len = 0;
    return 0;
}

static void conn_close(struct run *r, struct conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
}

/* Build and send the next request on c (the path cycles over devices). */
static int send_req(struct run *r, struct conn *c)
{
    char path[1024];
    unsigned dev = r->next_dev++ % (r->devices ? r->devices : 1);
    snprintf(path, sizeof path, r->path_fmt, dev);
    char body[64];
    const char *b = r->body;
    if (b && !strcmp(b, "@seq")) {
        snprintf(body, sizeof body, "%llu",
                 (unsigned long long)(r->started % 1000));
        b = body;
    }
    size_t bl = b ? strlen(b) : 0;
    int n = snprintf(c->req, sizeof c->req,
                     "%s %s HTTP/1.1\r\nHost: %s:%d\r\n%s%s%s"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     r->method, path, r->host, r->port,
                     r->token ? "Authorization: Bearer " : "",
                     r->token ? r->token : "", r->token ? "\r\n" : "", bl,
                     b ? b : "");
    c->reqlen = (size_t)n;
    c->reqoff = 0;
    c->t0 = bench_now_ns();
    c->busy = true;
    r->started++;
    while (c->reqoff < c->reqlen) {
        ssize_t w = write(c->fd, c->req + c->reqoff, c->reqlen - c->reqoff);
        if (w < 0) {
            if (errno == EAGAIN)
                continue; /* small requests: the buffer frees at once */
            return -errno;
        }
        c->reqoff += (size_t)w;
    }
    return 0;
}

/* Length of a complete response at the start of buf, or 0 if incomplete.
 * *status and *close are filled. */
static size_t resp_complete(const char *buf, size_t len, int *status,
                            bool *close_after)
{
    const char *h = memmem(buf, len, "\r\n\r\n", 4);
    if (!h)
        return 0;
    size_t hl = (size_t)(h - buf) + 4;
    *status = 0;
    sscanf(buf, "HTTP/1.%*d %d", status);
    *close_after = false;
    long clen = -1;
    bool chunked = false;
    for (const char *l = buf; l < h;) {
        const char *e = memmem(l, (size_t)(h + 2 - l), "\r\n", 2);
        if (!e)
            break;
        if (!strncasecmp(l, "content-length:", 15))
            clen = atol(l + 15);
        else if (!strncasecmp(l, "transfer-encoding:", 18) &&
                 memmem(l, (size_t)(e - l), "chunked", 7))
            chunked = true;
        else if (!strncasecmp(l, "connection:", 11) &&
                 memmem(l, (size_t)(e - l), "close", 5))
            *close_after = true;
        l = e + 2;
    }
    if (chunked) {
        const char *z = memmem(buf + hl, len - hl, "0\r\n\r\n", 5);
        return z ? (size_t)(z - buf) + 5 : 0;
    }
    if (clen < 0)
        clen = 0;
    return len >= hl + (size_t)clen ? hl + (size_t)clen : 0;
}

static void finish(struct run *r, struct conn *c, int status, size_t rlen)
{
    uint64_t t = bench_now_ns();
    r->done++;
    if (status >= 200 && status < 300) {
        r->ok++;
        bench_lat_add(&r->lat, t - c->t0);
    } else {
        if (status >= 400 && status < 500)
            r->st4xx++;
        else if (status >= 500)
            r->st5xx++;
        else
            r->other++;
        if (!r->printed_err) {
            r->printed_err = true;
            fprintf(stderr, "bench_cmd: first failure: %.*s\n",
                    (int)(rlen < 600 ? rlen : 600), c->buf);
        }
    }
    c->busy = false;
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: bench_cmd --url http://HOST:PORT --path FMT [options]\n"
        "Closed-loop HTTP/1.1 keep-alive client; each of --conc connections\n"
        "keeps one request in flight. FMT may hold one %%u (device number,\n"
        "cycling 0..--devices-1), e.g.\n"
        "  /api/v1/devices/lg-%%05u/properties/p0\n\n"
        "  --method M      (default PUT)\n"
        "  --body B        request body (default 1; @seq = a changing number)\n"
        "  --token T       bearer token\n"
        "  --conc C        concurrent connections (default 1)\n"
        "  --devices N     devices to cycle over (default 1)\n"
        "  --count N       total requests (default 1000)\n"
        "  --duration S    or stop after S seconds (default 30)\n");
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"url", 1, 0, 'u'},     {"path", 1, 0, 'p'},  {"method", 1, 0, 'm'},
        {"body", 1, 0, 'b'},    {"token", 1, 0, 'T'}, {"conc", 1, 0, 'c'},
        {"devices", 1, 0, 'D'}, {"count", 1, 0, 'n'}, {"duration", 1, 0, 'd'},
        {"help", 0, 0, 'h'},    {0, 0, 0, 0}};
    struct run r;
    memset(&r, 0, sizeof r);
    r.method = "PUT";
    r.body = "1";
    r.conc = 1;
    r.devices = 1;
    r.count = 1000;
    r.duration = 30;
    const char *url = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (opt) {
        case 'u':
            url = optarg;
            break;
        case 'p':
            r.path_fmt = optarg;
            break;
        case 'm':
            r.method = optarg;
            break;
        case 'b':
            r.body = optarg;
            break;
        case 'T':
            r.token = optarg;
            break;
        case 'c':
            r.conc = (unsigned)atoi(optarg);
            break;
        case 'D':
            r.devices = (unsigned)atoi(optarg);
            break;
        case 'n':
            r.count = strtoull(optarg, NULL, 10);
            break;
        case 'd':
            r.duration = atof(optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    char ignored[16];
    if (!url || !r.path_fmt || r.conc < 1 || r.conc > 4096 ||
        bench_parse_url(url, r.host, sizeof r.host, &r.port, ignored,
                        sizeof ignored)) {
        fprintf(stderr, "bench_cmd: --url http://HOST:PORT and --path "
                        "required (try --help)\n");
        return 2;
    }
    if (!strcmp(r.method, "GET"))
        r.body = NULL;
    bench_signals(on_signal);
    r.ep = epoll_create1(EPOLL_CLOEXEC);
    bench_lat_init(&r.lat, 10000000);
    struct conn *cs = calloc(r.conc, sizeof *cs);
    for (unsigned i = 0; i < r.conc; i++) {
        cs[i].idx = (int)i;
        int rc = conn_open(&r, &cs[i]);
        if (rc) {
            fprintf(stderr, "bench_cmd: connect: %s\n", strerror(-rc));
            return 1;
        }
    }
    uint64_t t_start = bench_now_ns();
    for (unsigned i = 0; i < r.conc && r.started < r.count; i++)
        if (send_req(&r, &cs[i]))
            r.errors++;
    while (!g_stop && r.done < r.started) {
        struct epoll_event evs[256];
        int n = epoll_wait(r.ep, evs, 256, 100);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            ssize_t rd = read(c->fd, c->buf + c->len, CMD_BUF - c->len);
            if (rd <= 0) {
                if (rd < 0 && errno == EAGAIN)
                    continue;
                /* closed under us: count, reconnect, go on */
                if (c->busy) {
                    r.errors++;
                    r.done++;
                    c->busy = false;
                }
                conn_close(&r, c);
                if (conn_open(&r, c))
                    continue;
            } else {
                c->len += (size_t)rd;
                int status;
                bool cl;
                size_t rlen = resp_complete(c->buf, c->len, &status, &cl);
                if (!rlen) {
                    if (c->len == CMD_BUF)
                        c->len = 0;
                    continue;
                }
                finish(&r, c, status, rlen);
                memmove(c->buf, c->buf + rlen, c->len - rlen);
                c->len -= rlen;
                if (cl) {
                    conn_close(&r, c);
                    if (conn_open(&r, c))
                        continue;
                }
            }
            double el = (double)(bench_now_ns() - t_start) / 1e9;
            if (r.started < r.count && el < r.duration && c->fd >= 0)
                if (send_req(&r, c))
                    r.errors++, r.done++;
        }
        if ((double)(bench_now_ns() - t_start) / 1e9 > r.duration + 10)
            break; /* requests that never answer */
    }
    double el = (double)(bench_now_ns() - t_start) / 1e9;
    printf("{\"tool\":\"bench_cmd\",\"method\":\"%s\",\"conc\":%u,"
           "\"requests\":%llu,\"ok\":%llu,\"status_4xx\":%llu,"
           "\"status_5xx\":%llu,\"errors\":%llu,\"elapsed_s\":%.3f,"
           "\"rate\":%.1f,\"latency\":",
           r.method, r.conc, (unsigned long long)r.done,
           (unsigned long long)r.ok, (unsigned long long)r.st4xx,
           (unsigned long long)r.st5xx, (unsigned long long)r.errors, el,
           el > 0 ? (double)r.done / el : 0.0);
    bench_lat_json(&r.lat, stdout);
    printf("}\n");
    for (unsigned i = 0; i < r.conc; i++)
        conn_close(&r, &cs[i]);
    free(cs);
    close(r.ep);
    bench_lat_clear(&r.lat);
    return r.ok ? 0 : 1;
}
