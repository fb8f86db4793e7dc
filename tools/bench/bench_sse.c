/* bench_sse.c - a Server-Sent Events client of gatewayd that measures
 * publish -> event latency: loadgen stamps the send time into every value
 * ("t0" in ns, and "v" itself is the send time in us), the gateway carries
 * the value into its SSE event, and this client subtracts it from the time
 * the event is read. Same monotonic clock, same machine: exact.
 *
 * HTTP/1.1 with chunked transfer decoding (MHD streams SSE chunked).
 */
#include "bench_util.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define SSE_BUF (1 << 20)

struct sse {
    bool chunked, in_body;
    size_t chunk_left; /* bytes left in the current chunk */
    bool chunk_crlf;   /* expecting the CRLF after a chunk */
    char *raw;         /* socket bytes not yet decoded */
    size_t rawlen;
    char *ev; /* decoded event stream bytes */
    size_t evlen;
    uint64_t events, timed, untimed, warm, t_first, t_last;
    uint64_t warmup_ns; /* events this soon after the first: not timed */
    struct bench_lat lat;
    const char *field; /* JSON key holding the timestamp, or NULL = auto */
    FILE *dump;        /* --dump: "t_ns latency_ns" per timed event */
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* One complete event (lines up to a blank line): time it by its data. */
static void handle_event(struct sse *s, const char *e, size_t len, uint64_t now)
{
    const char *p = e, *end = e + len;
    bool has_data = false;
    uint64_t t0 = 0;
    /* A twin event for a device that went offline repeats its last values
     * (up to a publish period old): a status change, not a sample. */
    static const char off[] = "\"quality\":\"offline\"";
    bool status = memmem(e, len, off, sizeof off - 1) != NULL;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if (le - p >= 5 && !memcmp(p, "data:", 5)) {
            has_data = true;
            if (!t0) {
                if (s->field) {
                    char key[80];
                    snprintf(key, sizeof key, "\"%s\":", s->field);
                    t0 = bench_json_uint(p, (size_t)(le - p), key) * 1000;
                } else {
                    t0 = bench_parse_t0(p, (size_t)(le - p));
                }
            }
        }
        p = le + 1;
    }
    if (!has_data)
        return; /* comments (keep-alive pings), retry: lines */
    if (!s->events)
        s->t_first = now;
    s->t_last = now;
    s->events++;
    /* an implausible stamp (not ours) is counted, not timed */
    if (now - s->t_first < s->warmup_ns) {
        s->warm++;
    } else if (t0 && !status && t0 <= now && now - t0 < 60000000000ull) {
        bench_lat_add(&s->lat, now - t0);
        s->timed++;
        if (s->dump)
            fprintf(s->dump, "%llu %llu\n", (unsigned long long)now,
                    (unsigned long long)(now - t0));
    } else {
        s->untimed++;
    }
}

/* Append decoded body bytes and cut out every complete event. */
static void feed_events(struct sse *s, const char *d, size_t n, uint64_t now)
{
    if (s->evlen + n > SSE_BUF)
        s->evlen = 0; /* an event larger than 1 MiB: drop, keep going */
    memcpy(s->ev + s->evlen, d, n);
    s->evlen += n;
    size_t start = 0;
    for (size_t i = 0; i + 1 < s->evlen; i++) {
        if (s->ev[i] == '\n' && (s->ev[i + 1] == '\n' ||
                                 (s->ev[i + 1] == '\r' && i + 2 < s->evlen &&
                                  s->ev[i + 2] == '\n'))) {
            handle_event(s, s->ev + start, i + 1 - start, now);
            i += s->ev[i + 1] == '\r' ? 2 : 1;
            start = i + 1;
        }
    }
    memmove(s->ev, s->ev + start, s->evlen - start);
    s->evlen -= start;
}

/* Decode what is in raw: headers once, then (chunked) body. Returns -1 on
 * a non-200 answer. */
static int decode(struct sse *s, uint64_t now)
{
    size_t pos = 0;
    if (!s->in_body) {
        char *h = memmem(s->raw, s->rawlen, "\r\n\r\n", 4);
        if (!h)
            return 0;
        size_t hl = (size_t)(h - s->raw) + 4;
        int status = 0;
        sscanf(s->raw, "HTTP/1.%*d %d", &status);
        if (status != 200) {
            fprintf(stderr, "bench_sse: HTTP %d: %.*s\n", status,
                    (int)(s->rawlen < 400 ? s->rawlen : 400), s->raw);
            return -1;
        }
        s->raw[hl - 1] = '\0';
        for (char *l = s->raw; l && *l; l = strstr(l, "\r\n")) {
            if (*l == '\r')
                l += 2;
            if (!strncasecmp(l, "transfer-encoding:", 18) &&
                strcasestr(l, "chunked"))
                s->chunked = true;
            if (!strchr(l, '\r'))
                break;
        }
        s->in_body = true;
        pos = hl;
    }
    while (pos < s->rawlen) {
        if (!s->chunked) {
            feed_events(s, s->raw + pos, s->rawlen - pos, now);
            pos = s->rawlen;
            break;
        }
        if (s->chunk_crlf) {
            if (s->rawlen - pos < 2)
                break;
            pos += 2;
            s->chunk_crlf = false;
            continue;
        }
        if (s->chunk_left == 0) {
            char *nl = memmem(s->raw + pos, s->rawlen - pos, "\r\n", 2);
            if (!nl)
                break;
            s->chunk_left = strtoul(s->raw + pos, NULL, 16);
            pos = (size_t)(nl - s->raw) + 2;
            if (s->chunk_left == 0)
                return -1; /* last chunk: the server ended the stream */
            continue;
        }
        size_t take =
            s->rawlen - pos < s->chunk_left ? s->rawlen - pos : s->chunk_left;
        feed_events(s, s->raw + pos, take, now);
        pos += take;
        s->chunk_left -= take;
        if (!s->chunk_left)
            s->chunk_crlf = true;
    }
    memmove(s->raw, s->raw + pos, s->rawlen - pos);
    s->rawlen -= pos;
    return 0;
}

static void usage(FILE *f)
{
    fprintf(
        f, "usage: bench_sse --url http://HOST:PORT/api/v1/events[?twin=ID]\n"
           "                 [--token T] [--count N] [--duration S]\n"
           "                 [--idle-ms MS] [--ready-file F] [--field KEY]\n"
           "                 [--warmup-ms MS] [--dump FILE]\n"
           "SSE client timing each event by loadgen's embedded send time\n"
           "(\"t0\" ns, else \"v\" us; --field names another key holding us).\n"
           "JSON summary on stdout.\n");
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"url", 1, 0, 'u'},
                                       {"token", 1, 0, 'T'},
                                       {"count", 1, 0, 'n'},
                                       {"duration", 1, 0, 'd'},
                                       {"idle-ms", 1, 0, 'i'},
                                       {"ready-file", 1, 0, 'r'},
                                       {"field", 1, 0, 'f'},
                                       {"warmup-ms", 1, 0, 'w'},
                                       {"dump", 1, 0, 'D'},
                                       {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
    const char *url = NULL, *token = NULL, *ready = NULL;
    uint64_t count = 0;
    double duration = 60, idle_ms = 3000;
    struct sse s;
    memset(&s, 0, sizeof s);
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'u':
            url = optarg;
            break;
        case 'T':
            token = optarg;
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
        case 'f':
            s.field = optarg;
            break;
        case 'w':
            s.warmup_ns = (uint64_t)(atof(optarg) * 1e6);
            break;
        case 'D':
            if (!(s.dump = fopen(optarg, "w"))) {
                perror(optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    char host[256], path[2048];
    int port;
    if (!url ||
        bench_parse_url(url, host, sizeof host, &port, path, sizeof path)) {
        fprintf(stderr, "bench_sse: --url http://HOST:PORT/PATH required\n");
        return 2;
    }
    bench_signals(on_signal);
    int fd = bench_tcp_connect(host, port);
    if (fd < 0) {
        fprintf(stderr, "bench_sse: connect %s:%d: %s\n", host, port,
                strerror(-fd));
        return 1;
    }
    char req[4096];
    int rl = snprintf(req, sizeof req,
                      "GET %s HTTP/1.1\r\nHost: %s:%d\r\n"
                      "Accept: text/event-stream\r\n%s%s%s"
                      "Cache-Control: no-cache\r\n\r\n",
                      path, host, port, token ? "Authorization: Bearer " : "",
                      token ? token : "", token ? "\r\n" : "");
    if (write(fd, req, (size_t)rl) != rl) {
        perror("bench_sse: write");
        return 1;
    }
    s.raw = malloc(SSE_BUF);
    s.ev = malloc(SSE_BUF);
    bench_lat_init(&s.lat, 20000000);
    uint64_t t_start = bench_now_ns();
    int rc = 0;
    bool ready_done = false;
    while (!g_stop) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int n = poll(&pfd, 1, 50);
        uint64_t now = bench_now_ns();
        if (n > 0) {
            ssize_t r = read(fd, s.raw + s.rawlen, SSE_BUF - s.rawlen);
            if (r <= 0) {
                if (r < 0 && errno == EINTR)
                    continue;
                fprintf(stderr, "bench_sse: stream closed by the server\n");
                rc = s.in_body ? 0 : 1;
                break;
            }
            s.rawlen += (size_t)r;
            if (decode(&s, now)) {
                rc = s.in_body ? 0 : 1;
                break;
            }
            if (s.rawlen == SSE_BUF)
                s.rawlen = 0; /* garbage; keep reading */
        }
        if (s.in_body && !ready_done) {
            ready_done = true;
            if (ready)
                bench_touch(ready);
        }
        if (count && s.events >= count)
            break;
        if ((double)(now - t_start) / 1e9 >= duration)
            break;
        if (s.events && (double)(now - s.t_last) / 1e6 >= idle_ms)
            break;
    }
    double span = s.events > 1 ? (double)(s.t_last - s.t_first) / 1e9 : 0;
    printf("{\"tool\":\"bench_sse\",\"events\":%llu,\"timed\":%llu,"
           "\"untimed\":%llu,\"warmup\":%llu,\"first_to_last_s\":%.6f,"
           "\"rate\":%.1f,\"latency\":",
           (unsigned long long)s.events, (unsigned long long)s.timed,
           (unsigned long long)s.untimed, (unsigned long long)s.warm, span,
           span > 0 ? (double)(s.events - 1) / span : 0.0);
    bench_lat_json(&s.lat, stdout);
    printf("}\n");
    close(fd);
    free(s.raw);
    free(s.ev);
    bench_lat_clear(&s.lat);
    if (s.dump)
        fclose(s.dump);
    return rc;
}
