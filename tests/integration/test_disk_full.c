/* test_disk_full.c - the disk fills while values flow, with real processes
 * and a real filesystem: gatewayd runs on a 12 MiB tmpfs mounted in a
 * private mount namespace of its own (unshare: nothing stays mounted
 * whatever happens); the test fills that filesystem through
 * /proc/PID/root while a board publishes, checks that /healthz and
 * /metrics say degraded and that an admin write answers the truth, frees
 * the space and counts: every value the broker acknowledged is in the
 * history. */
#include "harness.h"

#include "ht_topic.h"
#include "semantics/semantics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct gwd {
    pid_t pid;
    int http, mqtt;
    char root[600]; /* the data dir as the test sees it: /proc/PID/root/.. */
    char auth[200];
};

static int call(struct gwd *g, const char *hdr, const char *method,
                const char *path, const char *body, json_t **out)
{
    struct ht_it_http r;
    if (out)
        *out = NULL;
    if (ht_it_http(g->http, method, path, hdr, body, &r) != 0)
        return -1;
    if (out)
        *out = ht_it_http_json(&r);
    int st = r.status;
    ht_it_http_free(&r);
    return st;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long metric(struct gwd *g, const char *series)
{
    struct ht_it_http r;
    if (ht_it_http(g->http, "GET", "/metrics", g->auth, NULL, &r) != 0)
        return -1;
    long long v = -1;
    char key[256];
    snprintf(key, sizeof key, "\n%s ", series);
    const char *p = r.body ? strstr(r.body, key) : NULL;
    if (p)
        v = atoll(p + strlen(key));
    ht_it_http_free(&r);
    return v;
}

/* /healthz "status" is want ("ok" or "degraded"). */
static bool health_is(struct gwd *g, const char *want)
{
    json_t *j;
    bool ok =
        call(g, NULL, "GET", "/healthz", NULL, &j) == 200 &&
        !strcmp(json_string_value(json_object_get(j, "status")) ?: "", want);
    json_decref(j);
    return ok;
}

static long long history_count(struct gwd *g)
{
    json_t *j;
    long long n = -1;
    if (call(g, g->auth, "GET",
             "/api/v1/devices/disk-1/properties/x/history?limit=100000", NULL,
             &j) == 200)
        n = (long long)json_array_size(json_object_get(j, "items"));
    json_decref(j);
    return n;
}

static bool approved(struct gwd *g)
{
    json_t *d;
    bool ok =
        call(g, g->auth, "GET", "/api/v1/devices/disk-1", NULL, &d) == 200 &&
        !strcmp(json_string_value(json_object_get(d, "state")) ?: "",
                "approved");
    json_decref(d);
    return ok;
}

/* Write to path until the filesystem is full; returns the bytes written. */
static long long fill(struct ht_it *t, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    HT_CHECK(t, fd >= 0, "%s: %s", path, strerror(errno));
    static char chunk[64 * 1024];
    memset(chunk, 'f', sizeof chunk);
    long long n = 0;
    for (;;) {
        ssize_t w = write(fd, chunk, sizeof chunk);
        if (w <= 0)
            break;
        n += w;
    }
    HT_CHECK(t, errno == ENOSPC, "filling stopped: %s", strerror(errno));
    close(fd);
    return n;
}

static void publish(struct ht_it_mqtt *c, int from, int to, int *acked)
{
    char topic[HT_TOPIC_MAX], payload[128];
    ht_topic_build(topic, sizeof topic, NULL, HT_TOPIC_DEV_PROP, "disk-1", "x");
    for (int i = from; i <= to; i++) {
        snprintf(payload, sizeof payload, "{\"v\":%d,\"ts\":%lld,\"seq\":%d}",
                 i, now_ms(), i);
        if (ht_it_mqtt_pub(c, topic, payload, 1, false) == 0)
            (*acked)++;
    }
}

static void disk_full_under_load_loses_nothing_acknowledged(struct ht_it *t)
{
    struct gwd g = {0};
    char *data = ht_it_path(t, "small");
    HT_CHECK(t, mkdir(data, 0750) == 0);
    g.http = ht_it_free_port();
    g.mqtt = ht_it_free_port();
    char conf[1024];
    snprintf(conf, sizeof conf,
             "{\"data_dir\":\"%s\",\"http\":{\"port\":%d},"
             "\"mqtt\":{\"port\":%d},\"broker\":{\"insecure\":true},"
             "\"devices\":{\"auto_approve\":true},"
             "\"history\":{\"journal_kb\":2048},\"ingest\":{\"rate\":0},"
             "\"mdns\":{\"enabled\":false}}",
             data, g.http, g.mqtt);
    char *cpath = ht_it_write(t, "gatewayd.json", conf);
    char *bin = ht_it_bin("gatewayd");
    char script[2048];
    snprintf(script, sizeof script,
             "mount -t tmpfs -o size=12m tmpfs '%s' || exit 99; "
             "exec '%s' --config '%s'",
             data, bin, cpath);
    const char *argv[] = {"/usr/bin/unshare",
                          "--mount",
                          "--propagation",
                          "private",
                          "sh",
                          "-c",
                          script,
                          NULL};
    g.pid = ht_it_spawn(t, "gatewayd", argv, NULL);
    if (!ht_it_wait_port(g.http, 20000)) {
        char *log = ht_it_logfile(t, "gatewayd");
        HT_CHECK(t, false,
                 "gatewayd on a tmpfs did not start (mounting needs root):\n%s",
                 log ? log : "");
    }
    snprintf(g.root, sizeof g.root, "/proc/%d/root%s", (int)g.pid, data);
    char tok[128] = "";
    ht_it_admin_token(t, g.root, tok, sizeof tok);
    snprintf(g.auth, sizeof g.auth, "Authorization: Bearer %s\r\n", tok);

    /* A board with one number property, online. */
    HT_CHECK(t, ht_it_wait_port(g.mqtt, 10000), "embedded broker");
    struct ht_it_mqtt *c = ht_it_mqtt_new(g.mqtt, "disk-1", NULL, NULL);
    HT_CHECK(t, c, "MQTT connect");
    struct ht_sem_prop p = {.name = "x",
                            .sem_type = "ht:Level",
                            .dtype = HT_SEM_INTEGER,
                            .read_only = true,
                            .observable = true};
    struct ht_sem_thing th = {
        .id = "disk-1", .title = "Disk", .props = &p, .nprops = 1};
    struct ht_sem_forms fo = {.topic_prefix = "holotwin/v1", .kind = "device"};
    json_t *td = ht_sem_td_build(&th, &fo);
    char *tds = json_dumps(td, JSON_COMPACT);
    json_decref(td);
    char topic[HT_TOPIC_MAX];
    ht_topic_build(topic, sizeof topic, NULL, HT_TOPIC_DEV_TD, "disk-1", NULL);
    HT_CHECK(t, ht_it_mqtt_pub(c, topic, tds, 1, true) == 0);
    free(tds);
    HT_WAIT(t, approved(&g), 10000);

    int acked = 0;
    publish(c, 1, 100, &acked);
    HT_WAIT(t, history_count(&g) == 100, 10000);
    HT_CHECK(t, health_is(&g, "ok"));

    /* The disk fills; values keep coming. */
    char fpath[700];
    snprintf(fpath, sizeof fpath, "%s/fill", g.root);
    long long filled = fill(t, fpath);
    publish(c, 101, 3100, &acked);
    HT_WAIT(t, health_is(&g, "degraded"), 20000,
            "the store never met the full disk (%lld bytes filled)", filled);
    long long t_full = now_ms();
    HT_CHECK(t, metric(&g, "holotwin_degraded{reason=\"disk_full\"}") == 1);
    json_t *h;
    HT_CHECK(t, call(&g, NULL, "GET", "/healthz", NULL, &h) == 200);
    HT_CHECK(t,
             strstr(json_string_value(json_object_get(h, "reason")) ?: "",
                    "disk full"),
             "no reason in /healthz");
    json_decref(h);

    /* An admin write answers the truth: made (201, the token works) or
     * refused (507 problem+json, no token) -- never 500. */
    json_t *tj;
    int st = call(&g, g.auth, "POST", "/api/v1/tokens",
                  "{\"role\":\"viewer\",\"name\":\"while-full\"}", &tj);
    ht_it_log(t, "POST /api/v1/tokens while the disk is full: %d", st);
    HT_CHECK(t, st == 201 || st == 507, "token while full: %d", st);
    if (st == 201) {
        char vh[200];
        snprintf(vh, sizeof vh, "Authorization: Bearer %s\r\n",
                 json_string_value(json_object_get(tj, "token")) ?: "");
        HT_CHECK(t, call(&g, vh, "GET", "/api/v1/devices", NULL, NULL) == 200,
                 "201 but the token does not work");
    } else {
        HT_CHECK(t, json_integer_value(json_object_get(tj, "status")) == 507);
        json_t *l;
        HT_CHECK(t, call(&g, g.auth, "GET", "/api/v1/tokens", NULL, &l) == 200);
        char *ls = json_dumps(l, 0);
        HT_CHECK(t, ls && !strstr(ls, "while-full"),
                 "507 but the token exists");
        free(ls);
        json_decref(l);
    }
    json_decref(tj);
    /* History queries still answer meanwhile. */
    HT_CHECK(t, history_count(&g) >= 100);

    /* Space returns: everything the broker acknowledged is committed. */
    long long t_free = now_ms();
    HT_CHECK(t, unlink(fpath) == 0);
    HT_WAIT(t, health_is(&g, "ok"), 20000, "still degraded");
    long long t_back = now_ms();
    long long n = -1;
    for (long long end = now_ms() + 20000; now_ms() < end; ht_it_sleep_ms(200))
        if ((n = history_count(&g)) == acked)
            break;
    HT_CHECK(t, n == acked, "%lld stored of %d acknowledged: %lld lost", n,
             acked, acked - n);
    long long dropped = metric(&g, "holotwin_sqlite_dropped_rows_total");
    long long retries = metric(&g, "holotwin_store_retries_total");
    HT_CHECK(t, dropped == 0, "%lld rows dropped", dropped);
    HT_CHECK(t, retries > 0, "no batch was kept for a retry");
    HT_CHECK(t, metric(&g, "holotwin_degraded{reason=\"disk_full\"}") == 0);
    ht_it_log(t,
              "acknowledged %d, stored %lld, lost 0; %lld bytes filled; "
              "%lld retries; degraded to ok %lld ms after the space came back "
              "(%lld ms degraded in all)",
              acked, history_count(&g), filled, retries, t_back - t_free,
              t_back - t_full);
    ht_it_mqtt_free(c);
    st = ht_it_stop(t, g.pid, SIGTERM, 15000);
    HT_CHECK(t, st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "gatewayd did not stop cleanly");
    free(bin);
    free(cpath);
    free(data);
}

HT_IT_MAIN(HT_IT_CASE(disk_full_under_load_loses_nothing_acknowledged))
