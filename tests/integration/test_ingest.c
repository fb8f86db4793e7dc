/* test_ingest.c - what gatewayd lets in from boards, with real processes
 * (gatewayd, its embedded broker, MQTT clients as boards): hostile values
 * and timestamps against the TD, and a payload over mqtt.max_payload
 * (nothing stored, nothing shown, nothing passed to a twin, every reject
 * counted per board and reason), and one
 * board flooding while another's values all arrive (ingest.rate). */
#include "harness.h"

#include "ht_topic.h"
#include "semantics/semantics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

struct gwi {
    pid_t pid;
    int http, mqtt;
    char *data;
    char auth[200];
};

/* gatewayd, embedded broker, anonymous boards on loopback (insecure), new
 * devices approved at once; top: extra top-level members ("" or ",..."). */
static void start(struct ht_it *t, struct gwi *g, const char *top)
{
    g->data = ht_it_path(t, "data");
    g->http = ht_it_free_port();
    g->mqtt = ht_it_free_port();
    char conf[1024];
    snprintf(conf, sizeof conf,
             "{\"data_dir\":\"%s\",\"http\":{\"port\":%d},"
             "\"mqtt\":{\"port\":%d},\"broker\":{\"insecure\":true},"
             "\"devices\":{\"auto_approve\":true},"
             "\"mdns\":{\"enabled\":false},\"log_level\":\"debug\"%s}",
             g->data, g->http, g->mqtt, top);
    char *cpath = ht_it_write(t, "gatewayd.json", conf);
    char *bin = ht_it_bin("gatewayd");
    const char *argv[] = {bin, "--config", cpath, NULL};
    g->pid = ht_it_spawn(t, "gatewayd", argv, NULL);
    HT_CHECK(t, ht_it_wait_port(g->http, 15000), "gatewayd HTTP port");
    HT_CHECK(t, ht_it_wait_port(g->mqtt, 15000), "embedded broker");
    char tok[128] = "";
    ht_it_admin_token(t, g->data, tok, sizeof tok);
    snprintf(g->auth, sizeof g->auth, "Authorization: Bearer %s\r\n", tok);
    free(bin);
    free(cpath);
}

static void stop(struct ht_it *t, struct gwi *g)
{
    int st = ht_it_stop(t, g->pid, SIGTERM, 15000);
    HT_CHECK(t, st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "gatewayd did not stop cleanly");
    free(g->data);
}

static int call(struct gwi *g, const char *method, const char *path,
                const char *body, json_t **out)
{
    struct ht_it_http r;
    if (out)
        *out = NULL;
    if (ht_it_http(g->http, method, path, g->auth, body, &r) != 0)
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

/* A counter of /metrics by its full series text (name{labels}), or -1. */
static long long metric(struct gwi *g, const char *series)
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

static long long rejected(struct gwi *g, const char *dev, const char *reason)
{
    char s[160];
    snprintf(s, sizeof s,
             "holotwin_ingest_rejected_total{device=\"%s\",reason=\"%s\"}", dev,
             reason);
    return metric(g, s);
}

static long long history_count(struct gwi *g, const char *dev, const char *name)
{
    char path[200];
    snprintf(path, sizeof path,
             "/api/v1/devices/%s/properties/%s/history?limit=100000", dev,
             name);
    json_t *j;
    long long n = -1;
    if (call(g, "GET", path, NULL, &j) == 200)
        n = (long long)json_array_size(json_object_get(j, "items"));
    json_decref(j);
    return n;
}

static bool approved(struct gwi *g, const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/devices/%s", id);
    json_t *d;
    bool ok = call(g, "GET", path, NULL, &d) == 200 &&
              !strcmp(json_string_value(json_object_get(d, "state")) ?: "",
                      "approved");
    json_decref(d);
    return ok;
}

/* A board's TD with props (borrowed) on the broker, retained; waits until
 * the gateway knows the device. */
static struct ht_it_mqtt *board(struct ht_it *t, struct gwi *g, const char *id,
                                struct ht_sem_prop *props, size_t n)
{
    struct ht_it_mqtt *c = ht_it_mqtt_new(g->mqtt, id, NULL, NULL);
    HT_CHECK(t, c, "MQTT connect");
    struct ht_sem_thing th = {
        .id = (char *)id, .title = "Board", .props = props, .nprops = n};
    struct ht_sem_forms f = {.topic_prefix = "holotwin/v1", .kind = "device"};
    json_t *td = ht_sem_td_build(&th, &f);
    char *tds = json_dumps(td, JSON_COMPACT);
    json_decref(td);
    char topic[HT_TOPIC_MAX];
    ht_topic_build(topic, sizeof topic, NULL, HT_TOPIC_DEV_TD, id, NULL);
    HT_CHECK(t, ht_it_mqtt_pub(c, topic, tds, 1, true) == 0);
    free(tds);
    HT_WAIT(t, approved(g, id), 10000);
    ht_topic_build(topic, sizeof topic, NULL, HT_TOPIC_DEV_STATUS, id, NULL);
    HT_CHECK(t,
             ht_it_mqtt_pub(c, topic, "{\"state\":\"online\"}", 1, true) == 0);
    return c;
}

static void pub(struct ht_it *t, struct ht_it_mqtt *c, const char *id,
                const char *name, const char *payload, int qos)
{
    char topic[HT_TOPIC_MAX];
    HT_CHECK(t, ht_topic_build(topic, sizeof topic, NULL, HT_TOPIC_DEV_PROP, id,
                               name) > 0);
    HT_CHECK(t, ht_it_mqtt_pub(c, topic, payload, qos, false) == 0);
}

/* {"v":V,"ts":TS,"seq":SEQ} with ts as given (text, may be any JSON). */
static void pub_v(struct ht_it *t, struct ht_it_mqtt *c, const char *name,
                  const char *v, const char *ts, int seq)
{
    char payload[256];
    snprintf(payload, sizeof payload, "{\"v\":%s,\"ts\":%s,\"seq\":%d}", v, ts,
             seq);
    pub(t, c, "hv-1", name, payload, 1);
}

static json_t *twin_prop(struct gwi *g, const char *name)
{
    json_t *st;
    if (call(g, "GET", "/api/v1/twins/hv/state", NULL, &st) != 200)
        return NULL;
    json_t *p =
        json_incref(json_object_get(json_object_get(st, "properties"), name));
    json_decref(st);
    return p;
}

static bool twin_on_good(struct gwi *g)
{
    json_t *p = twin_prop(g, "lamp.on");
    bool ok = p &&
              !strcmp(json_string_value(json_object_get(p, "quality")) ?: "",
                      "good") &&
              json_is_true(json_object_get(p, "value"));
    json_decref(p);
    return ok;
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* Hostile values and timestamps for each kind of affordance: none is
 * stored, shown or handed to the twin, each is counted per board and
 * reason, and the history of every property still answers. Then good
 * values go through as usual. */
static void hostile_values_are_refused_and_counted(struct ht_it *t)
{
    struct gwi g = {0};
    start(t, &g, "");
    char *mode_enum[] = {"auto", "manual", NULL};
    struct ht_sem_prop props[] = {
        {.name = "on", .sem_type = "ht:OnOff", .dtype = HT_SEM_BOOLEAN},
        {.name = "level",
         .sem_type = "ht:Level",
         .dtype = HT_SEM_INTEGER,
         .has_min = true,
         .min = 0,
         .has_max = true,
         .max = 100},
        {.name = "temp", .sem_type = "ht:Temperature", .dtype = HT_SEM_NUMBER},
        {.name = "mode",
         .sem_type = "ht:Mode",
         .dtype = HT_SEM_STRING,
         .enum_vals = mode_enum},
        {.name = "label",
         .sem_type = "ht:Text",
         .dtype = HT_SEM_STRING,
         .max_len = 8},
    };
    for (size_t i = 0; i < sizeof props / sizeof *props; i++)
        props[i].read_only = props[i].observable = true;
    struct ht_it_mqtt *c = board(t, &g, "hv-1", props, 5);
    HT_CHECK(t, call(&g, "PUT", "/api/v1/twins/hv",
                     "{\"id\":\"hv\",\"title\":\"HV\",\"components\":[{\"id\":"
                     "\"lamp\",\"kind\":\"lamp\",\"properties\":[{\"name\":"
                     "\"on\",\"bind\":\"hv-1/on\",\"type\":\"boolean\"}]}]}",
                     NULL) == 201);

    char now[32];
    int seq = 1;
    snprintf(now, sizeof now, "%lld", now_ms());
    /* Not the affordance's type: 14. */
    static const char *const on_bad[] = {
        "\"true\"", "[true]", "{\"v\":true}",        "null",
        "1",        "0",      "9223372036854775807", "-9223372036854775808",
    };
    for (size_t i = 0; i < sizeof on_bad / sizeof *on_bad; i++)
        pub_v(t, c, "on", on_bad[i], now, seq++);
    pub_v(t, c, "level", "\"5\"", now, seq++);
    pub_v(t, c, "level", "1.5", now, seq++);
    pub_v(t, c, "level", "[1,2]", now, seq++);
    pub_v(t, c, "temp", "true", now, seq++);
    pub_v(t, c, "temp", "{}", now, seq++);
    pub_v(t, c, "mode", "1", now, seq++);
    /* Out of range (min/max, 64-bit extremes, enum, maxLength): 6. */
    pub_v(t, c, "level", "101", now, seq++);
    pub_v(t, c, "level", "-1", now, seq++);
    pub_v(t, c, "level", "9223372036854775807", now, seq++);
    pub_v(t, c, "level", "-9223372036854775808", now, seq++);
    pub_v(t, c, "mode", "\"turbo\"", now, seq++);
    pub_v(t, c, "label", "\"123456789\"", now, seq++);
    /* Timestamps out of the window, with good values: 7. */
    char future[32];
    snprintf(future, sizeof future, "%lld", now_ms() + 3600 * 1000);
    static const char *const ts_bad[] = {
        "-1",    "0",     "9223372036854775807", "-9223372036854775808",
        "\"1\"", "1.7e12"};
    for (size_t i = 0; i < sizeof ts_bad / sizeof *ts_bad; i++)
        pub_v(t, c, "on", "true", ts_bad[i], seq++);
    pub_v(t, c, "temp", "20.5", future, seq++);
    /* A payload over mqtt.max_payload (256 KiB), whatever it holds: 1. */
    size_t big = 300 * 1024;
    char *huge = malloc(big + 96);
    HT_CHECK(t, huge);
    int hn = snprintf(huge, 96, "{\"seq\":%d,\"ts\":%s,\"v\":\"", seq++, now);
    memset(huge + hn, 'x', big);
    strcpy(huge + hn + big, "\"}");
    pub(t, c, "hv-1", "label", huge, 1);
    free(huge);

    HT_WAIT(t, rejected(&g, "hv-1", "too_large") == 1, 10000, "size: %lld",
            rejected(&g, "hv-1", "too_large"));
    HT_WAIT(t, rejected(&g, "hv-1", "timestamp") == 7, 10000, "ts: %lld",
            rejected(&g, "hv-1", "timestamp"));
    HT_WAIT(t, rejected(&g, "hv-1", "bad_type") == 14, 10000, "type: %lld",
            rejected(&g, "hv-1", "bad_type"));
    HT_WAIT(t, rejected(&g, "hv-1", "out_of_range") == 6, 10000, "range: %lld",
            rejected(&g, "hv-1", "out_of_range"));
    HT_CHECK(t, rejected(&g, "hv-1", "rate") == 0);

    /* Nothing stored, nothing shown, the twin has nothing good. */
    static const char *const names[] = {"on", "level", "temp", "mode", "label"};
    for (size_t i = 0; i < 5; i++) {
        HT_CHECK(t, history_count(&g, "hv-1", names[i]) == 0, "%s: %lld",
                 names[i], history_count(&g, "hv-1", names[i]));
        char path[128];
        snprintf(path, sizeof path, "/api/v1/devices/hv-1/properties/%s",
                 names[i]);
        json_t *v;
        int st = call(&g, "GET", path, NULL, &v);
        HT_CHECK(t, st == 404 || json_object_get(v, "v") == NULL,
                 "%s shows a value (%d)", names[i], st);
        json_decref(v);
    }
    json_t *tp = twin_prop(&g, "lamp.on");
    HT_CHECK(t,
             tp && strcmp(jstr(tp, "quality"), "good") &&
                 !json_is_boolean(json_object_get(tp, "value")),
             "the twin shows a rejected value");
    json_decref(tp);

    /* Good values still go through, and the history answers. */
    snprintf(now, sizeof now, "%lld", now_ms());
    pub_v(t, c, "level", "100", now, seq++);
    pub_v(t, c, "temp", "-12.25", now, seq++);
    pub_v(t, c, "mode", "\"manual\"", now, seq++);
    pub_v(t, c, "label", "\"12345678\"", now, seq++);
    pub_v(t, c, "on", "true", now, seq++);
    HT_WAIT(t, history_count(&g, "hv-1", "on") == 1, 10000);
    for (size_t i = 0; i < 5; i++)
        HT_CHECK(t, history_count(&g, "hv-1", names[i]) == 1, "%s: %lld",
                 names[i], history_count(&g, "hv-1", names[i]));
    HT_WAIT(t, twin_on_good(&g), 10000);
    HT_CHECK(t, rejected(&g, "hv-1", "timestamp") == 7 &&
                    rejected(&g, "hv-1", "bad_type") == 14 &&
                    rejected(&g, "hv-1", "out_of_range") == 6 &&
                    rejected(&g, "hv-1", "too_large") == 1);
    ht_it_mqtt_free(c);
    stop(t, &g);
}

/* ingest.rate 20/s with a burst of 50: flood-1 sends 3000 values at once,
 * calm-1 sends 40 meanwhile. Every value of calm-1 arrives; flood-1's
 * excess is dropped and counted, and what it kept is exactly what was not
 * dropped. */
static void one_board_flooding_does_not_stop_another(struct ht_it *t)
{
    struct gwi g = {0};
    start(t, &g, ",\"ingest\":{\"rate\":20,\"burst\":50}");
    struct ht_sem_prop p = {.name = "x",
                            .sem_type = "ht:Level",
                            .dtype = HT_SEM_INTEGER,
                            .read_only = true,
                            .observable = true};
    struct ht_it_mqtt *flood = board(t, &g, "flood-1", &p, 1);
    struct ht_it_mqtt *calm = board(t, &g, "calm-1", &p, 1);
    long long ts = now_ms();
    char payload[128];
    int calm_sent = 0;
    for (int i = 0; i < 3000; i++) {
        snprintf(payload, sizeof payload, "{\"v\":%d,\"ts\":%lld,\"seq\":%d}",
                 i, ts, i + 1);
        pub(t, flood, "flood-1", "x", payload, 0);
        if (i % 75 == 0) {
            snprintf(payload, sizeof payload,
                     "{\"v\":%d,\"ts\":%lld,\"seq\":%d}", calm_sent, ts,
                     calm_sent + 1);
            pub(t, calm, "calm-1", "x", payload, 1);
            calm_sent++;
        }
    }
    HT_CHECK(t, calm_sent == 40);
    HT_WAIT(t, history_count(&g, "calm-1", "x") == 40, 15000, "calm: %lld",
            history_count(&g, "calm-1", "x"));
    /* Every flood value is either kept or counted as dropped. */
    HT_WAIT(t,
            history_count(&g, "flood-1", "x") +
                    rejected(&g, "flood-1", "rate") ==
                3000,
            20000, "flood: %lld kept, %lld dropped",
            history_count(&g, "flood-1", "x"), rejected(&g, "flood-1", "rate"));
    long long dropped = rejected(&g, "flood-1", "rate");
    ht_it_log(t, "flood-1: %lld kept, %lld dropped; calm-1: 40 of 40",
              3000 - dropped, dropped);
    HT_CHECK(t, dropped >= 1000, "only %lld dropped", dropped);
    HT_CHECK(t, rejected(&g, "calm-1", "rate") <= 0); /* no series: none */
    ht_it_mqtt_free(flood);
    ht_it_mqtt_free(calm);
    stop(t, &g);
}

HT_IT_MAIN(HT_IT_CASE(hostile_values_are_refused_and_counted),
           HT_IT_CASE(one_board_flooding_does_not_stop_another))
