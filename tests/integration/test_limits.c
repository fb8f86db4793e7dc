/* test_limits.c - gatewayd's HTTP limits with real processes: one client
 * address holding every connection it can (idle sockets from 127.0.0.2)
 * while /healthz and a command from 127.0.0.1 are still answered, the
 * reserve kept for health and admin when the ordinary slots are full, and
 * each request limit (declared oversize body, query parameters, %00 and
 * ".." in ids, SSE streams per token). */
#include "harness.h"

#include "ht_topic.h"
#include "semantics/semantics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct gwl {
    pid_t pid;
    int http, mqtt;
    char *data;
    char tok[128];
    char auth[200];
};

/* gatewayd with the embedded broker, extra members of the "http" config
 * object (JSON text, may be "") and top-level ones (may be ""). */
static void start_with(struct ht_it *t, struct gwl *g, const char *extra,
                       const char *top)
{
    g->data = ht_it_path(t, "data");
    g->http = ht_it_free_port();
    g->mqtt = ht_it_free_port();
    char conf[1024];
    /* Anonymous MQTT on loopback (--insecure): these cases are about
     * HTTP; the sim agent and the value publisher need no account. */
    snprintf(conf, sizeof conf,
             "{\"data_dir\":\"%s\",\"http\":{\"port\":%d%s},"
             "\"mqtt\":{\"port\":%d},\"broker\":{\"insecure\":true},"
             "\"mdns\":{\"enabled\":false},\"log_level\":\"debug\"%s}",
             g->data, g->http, extra, g->mqtt, top);
    char *cpath = ht_it_write(t, "gatewayd.json", conf);
    char *bin = ht_it_bin("gatewayd");
    const char *argv[] = {bin, "--config", cpath, NULL};
    g->pid = ht_it_spawn(t, "gatewayd", argv, NULL);
    HT_CHECK(t, ht_it_wait_port(g->http, 15000), "gatewayd HTTP port");
    ht_it_admin_token(t, g->data, g->tok, sizeof g->tok);
    snprintf(g->auth, sizeof g->auth, "Authorization: Bearer %s\r\n", g->tok);
    free(bin);
    free(cpath);
}

static void start(struct ht_it *t, struct gwl *g, const char *extra)
{
    start_with(t, g, extra, "");
}

static void stop(struct ht_it *t, struct gwl *g)
{
    int st = ht_it_stop(t, g->pid, SIGTERM, 15000);
    HT_CHECK(t, st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "gatewayd did not stop cleanly");
    free(g->data);
}

/* A TCP connection to 127.0.0.1:port from the loopback address src, or -1
 * when refused or closed by the server right away. */
static int connect_from(const char *src, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &a.sin_addr);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0)
        goto fail;
    a.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        goto fail;
    return fd;
fail:
    close(fd);
    return -1;
}

/* How many of fds[0..n) the server has not closed (after a short wait). */
static int still_open(const int *fds, int n)
{
    ht_it_sleep_ms(500);
    int open = 0;
    for (int i = 0; i < n; i++) {
        struct pollfd p = {.fd = fds[i], .events = POLLIN};
        if (fds[i] >= 0 && poll(&p, 1, 0) == 0)
            open++;
    }
    return open;
}

/* Send raw bytes from 127.0.0.1 and read what comes back within
 * timeout_ms (until the server closes or answers a full status line);
 * returns new text. */
static char *raw(int port, const char *req, int timeout_ms)
{
    int fd = connect_from("127.0.0.1", port);
    if (fd < 0)
        return strdup("");
    if (write(fd, req, strlen(req)) < 0) {
        close(fd);
        return strdup("");
    }
    char *buf = calloc(1, 65536);
    size_t len = 0;
    int waited = 0;
    while (len < 65535 && waited < timeout_ms) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0) {
            waited += 100;
            if (len && strstr(buf, "\r\n\r\n"))
                break;
            continue;
        }
        ssize_t r = read(fd, buf + len, 65535 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    return buf;
}

static int get(struct gwl *g, const char *hdr, const char *method,
               const char *path, const char *body)
{
    struct ht_it_http r;
    if (ht_it_http(g->http, method, path, hdr, body, &r) != 0)
        return -1;
    int st = r.status;
    ht_it_http_free(&r);
    return st;
}

static bool lamp_command_answered(struct gwl *g)
{
    return get(g, g->auth, "PUT", "/api/v1/devices/demo-1/properties/lamp",
               "true") == 200;
}

/* A sim agent on the embedded broker, approved, taking commands. */
static pid_t agent_ready(struct ht_it *t, struct gwl *g)
{
    char broker[32];
    snprintf(broker, sizeof broker, "127.0.0.1:%d", g->mqtt);
    char *bin = ht_it_bin("device-agent");
    const char *argv[] = {bin,    "--sim",  "--broker", broker,
                          "--id", "demo-1", NULL};
    pid_t a = ht_it_spawn(t, "agent", argv, NULL);
    free(bin);
    HT_WAIT(t,
            get(g, g->auth, "POST", "/api/v1/devices/demo-1/approve", NULL) ==
                200,
            20000);
    HT_WAIT(t, lamp_command_answered(g), 20000);
    return a;
}

/* One address opens 300 connections: it keeps only
 * http.max_connections_per_ip (32 by default), the others are closed at
 * accept, and everyone else is still served. */
static void one_address_cannot_lock_out_health_and_commands(struct ht_it *t)
{
    struct gwl g = {0};
    start(t, &g, "");
    pid_t a = agent_ready(t, &g);
    int fds[300];
    for (int i = 0; i < 300; i++)
        fds[i] = connect_from("127.0.0.2", g.http);
    int open = still_open(fds, 300);
    HT_CHECK(t, open == 32, "one address holds %d connections", open);
    HT_CHECK(t, get(&g, NULL, "GET", "/healthz", NULL) == 200);
    HT_CHECK(t, lamp_command_answered(&g), "the command got no answer");
    HT_CHECK(t, get(&g, g.auth, "GET", "/api/v1/devices", NULL) == 200);
    for (int i = 0; i < 300; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    ht_it_stop(t, a, SIGTERM, 10000);
    stop(t, &g);
}

/* Ordinary slots full (8), the reserve (4) goes only to addresses holding
 * fewer than 2 connections, and serves /healthz and admin tokens only. */
static void reserve_serves_health_and_admin_when_full(struct ht_it *t)
{
    struct gwl g = {0};
    start(t, &g,
          ",\"max_connections\":8,\"reserved_connections\":4,"
          "\"max_connections_per_ip\":1000");
    pid_t a = agent_ready(t, &g);
    /* A viewer token, made while there is room. */
    struct ht_it_http r;
    HT_CHECK(t,
             ht_it_http(g.http, "POST", "/api/v1/tokens", g.auth,
                        "{\"role\":\"viewer\",\"name\":\"v\"}", &r) == 0 &&
                 r.status == 201,
             "token: %d", r.status);
    json_t *j = ht_it_http_json(&r);
    char vauth[200];
    snprintf(vauth, sizeof vauth, "Authorization: Bearer %s\r\n",
             json_string_value(json_object_get(j, "token")));
    json_decref(j);
    ht_it_http_free(&r);

    int fds[50];
    for (int i = 0; i < 50; i++)
        fds[i] = connect_from("127.0.0.2", g.http);
    int open = still_open(fds, 50);
    HT_CHECK(t, open == 8, "the flooding address holds %d connections", open);
    /* Everything from 127.0.0.1 now lands in the reserve. */
    HT_CHECK(t, get(&g, NULL, "GET", "/healthz", NULL) == 200);
    HT_CHECK(t, lamp_command_answered(&g), "admin command not answered");
    int st = get(&g, vauth, "GET", "/api/v1/devices", NULL);
    HT_CHECK(t, st == 503, "viewer on the reserve: %d", st);
    for (int i = 0; i < 50; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    /* Room again: the viewer is served. */
    HT_WAIT(t, get(&g, vauth, "GET", "/api/v1/devices", NULL) == 200, 10000);
    ht_it_stop(t, a, SIGTERM, 10000);
    stop(t, &g);
}

static bool stream_opens(struct gwl *g)
{
    struct ht_it_sse *s = ht_it_sse_open(g->http, "/api/v1/events", g->auth);
    bool ok = s && ht_it_sse_status(s) == 200;
    ht_it_sse_close(s);
    return ok;
}

/* Each request limit answers, with the documented status. */
static void request_limits_are_answered(struct ht_it *t)
{
    struct gwl g = {0};
    start(t, &g, ",\"max_body\":4096,\"sse_per_token\":2");
    char req[512];
    /* A declared oversize body: 413 at once, no "100 Continue". */
    snprintf(req, sizeof req,
             "PUT /api/v1/twins/x HTTP/1.1\r\nHost: x\r\n%s"
             "Content-Type: application/json\r\nContent-Length: 2000000\r\n"
             "Expect: 100-continue\r\n\r\n",
             g.auth);
    char *out = raw(g.http, req, 5000);
    HT_CHECK(t, !strncmp(out, "HTTP/1.1 413", 12) && !strstr(out, " 100 "),
             "oversize body answered:\n%s", out);
    free(out);

    /* 3000 query parameters: 414, promptly (not a timeout). */
    size_t cap = 3000 * 8 + 64;
    char *path = malloc(cap);
    size_t n = (size_t)snprintf(path, cap, "/api/v1/devices?");
    for (int i = 0; i < 3000; i++)
        n += (size_t)snprintf(path + n, cap - n, "a%d=1&", i);
    path[n - 1] = '\0';
    HT_CHECK(t, get(&g, g.auth, "GET", path, NULL) == 414);
    free(path);
    HT_CHECK(t, get(&g, g.auth, "GET", "/api/v1/devices?a=1&b=2", NULL) == 200);

    /* Ids checked after decoding: no NUL from %00, no "..". */
    HT_CHECK(t,
             get(&g, g.auth, "GET", "/api/v1/devices/demo%00x", NULL) == 400);
    HT_CHECK(t, get(&g, g.auth, "GET", "/api/v1/devices/a..b", NULL) == 400);
    HT_CHECK(t,
             get(&g, g.auth, "GET", "/api/v1/devices/a%2e%2eb", NULL) == 400);
    HT_CHECK(t,
             get(&g, g.auth, "GET", "/api/v1/events?twin=a%00", NULL) == 400);
    HT_CHECK(t, get(&g, g.auth, "GET", "/api/v1/devices/nope", NULL) == 404);

    /* SSE streams per token: the third of one token is 429. */
    struct ht_it_sse *s1 = ht_it_sse_open(g.http, "/api/v1/events", g.auth);
    struct ht_it_sse *s2 = ht_it_sse_open(g.http, "/api/v1/events", g.auth);
    HT_CHECK(t, s1 && s2 && ht_it_sse_status(s1) == 200 &&
                    ht_it_sse_status(s2) == 200);
    struct ht_it_sse *s3 = ht_it_sse_open(g.http, "/api/v1/events", g.auth);
    HT_CHECK(t, s3 && ht_it_sse_status(s3) == 429, "third stream: %d",
             s3 ? ht_it_sse_status(s3) : -1);
    ht_it_sse_close(s3);
    ht_it_sse_close(s1);
    /* A closed stream gives its place back once the server notices, at
     * the latest with the next keep-alive (every 15 s). */
    HT_WAIT(t, stream_opens(&g), 40000);
    ht_it_sse_close(s2);
    stop(t, &g);
}

/* A gauge or counter from /metrics, or -1. */
static long long metric(struct gwl *g, const char *name)
{
    struct ht_it_http r;
    if (ht_it_http(g->http, "GET", "/metrics", g->auth, NULL, &r) != 0)
        return -1;
    long long v = -1;
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = r.body ? strstr(r.body, key) : NULL;
    if (p)
        v = atoll(p + strlen(key));
    ht_it_http_free(&r);
    return v;
}

static bool last_seq_is(struct gwl *g, int seq)
{
    struct ht_it_http r;
    if (ht_it_http(g->http, "GET",
                   "/api/v1/devices/big-1/properties/blob?meta=1", g->auth,
                   NULL, &r) != 0)
        return false;
    json_t *j = ht_it_http_json(&r);
    bool ok =
        r.status == 200 && json_integer_value(json_object_get(j, "seq")) == seq;
    json_decref(j);
    ht_it_http_free(&r);
    return ok;
}

/* 40 values of 100 KB into a ring of 1 MiB: the ring keeps the newest
 * that fit (events.ring_kb), not 1024 entries of 100 KB. */
static void large_values_keep_the_event_ring_bounded(struct ht_it *t)
{
    struct gwl g = {0};
    start_with(t, &g, "", ",\"events\":{\"ring_kb\":1024}");
    HT_CHECK(t, ht_it_wait_port(g.mqtt, 10000), "embedded broker");
    struct ht_it_mqtt *c = ht_it_mqtt_new(g.mqtt, "big-1", NULL, NULL);
    HT_CHECK(t, c, "MQTT connect");
    struct ht_sem_prop p = {.name = "blob",
                            .title = "Blob",
                            .sem_type = "ht:Text",
                            .dtype = HT_SEM_STRING,
                            .read_only = true,
                            .observable = true};
    struct ht_sem_thing th = {
        .id = "big-1", .title = "Big", .props = &p, .nprops = 1};
    struct ht_sem_forms f = {.topic_prefix = "holotwin/v1", .kind = "device"};
    json_t *td = ht_sem_td_build(&th, &f);
    char *tds = json_dumps(td, JSON_COMPACT);
    json_decref(td);
    char topic[HT_TOPIC_MAX];
    ht_topic_build(topic, sizeof topic, NULL, HT_TOPIC_DEV_TD, "big-1", NULL);
    HT_CHECK(t, ht_it_mqtt_pub(c, topic, tds, 1, true) == 0);
    free(tds);
    HT_WAIT(t, get(&g, g.auth, "GET", "/api/v1/devices/big-1", NULL) == 200,
            10000);
    size_t big = 100 * 1000;
    char *payload = malloc(big + 64);
    ht_topic_build(topic, sizeof topic, NULL, HT_TOPIC_DEV_PROP, "big-1",
                   "blob");
    for (int i = 0; i < 40; i++) {
        int n = snprintf(payload, 64, "{\"seq\":%d,\"v\":\"", i + 1);
        memset(payload + n, 'a' + i % 26, big);
        strcpy(payload + n + big, "\"}");
        HT_CHECK(t, ht_it_mqtt_pub(c, topic, payload, 1, false) == 0);
    }
    free(payload);
    /* 4 MB went through: the ring is full to its bound, and not beyond. */
    HT_WAIT(t, last_seq_is(&g, 40), 20000);
    HT_CHECK(t, metric(&g, "holotwin_events_ring_bytes") > 900 * 1024);
    long long ring = metric(&g, "holotwin_events_ring_bytes");
    HT_CHECK(t, ring <= 1024 * 1024, "ring holds %lld bytes", ring);
    ht_it_mqtt_free(c);
    stop(t, &g);
}

HT_IT_MAIN(HT_IT_CASE(one_address_cannot_lock_out_health_and_commands),
           HT_IT_CASE(reserve_serves_health_and_admin_when_full),
           HT_IT_CASE(request_limits_are_answered),
           HT_IT_CASE(large_values_keep_the_event_ring_bounded))
