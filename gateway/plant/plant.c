/* plant.c - the plant view: one ordered JetStream consumer over every
 * cell's records, folded into a table of cells and twins.
 *
 * Why an ordered consumer from the first record instead of a durable
 * consumer or a KV bucket: the stream is the plant's memory (replicated
 * on the cluster, R3), so the view keeps nothing of its own that could
 * disagree with it; a restart rebuilds the table by reading the stream
 * again, and libnats re-creates an ordered consumer at the next sequence
 * when the node that served it dies (missed heartbeats). Folding is
 * order-tolerant where it matters: a property value replaces the one the
 * table holds only if its ts is not older, so a batch a cell re-sent
 * after a lost ack cannot roll a value back.
 */
#include "gateway/plant/plant.h"
#include "gateway/upstream/upstream.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MOD "plant"

struct gw_plant {
    struct ht_gw *g;
    pthread_mutex_t mu;
    json_t *cells; /* "site/cell" -> cell object (mu) */
    json_t *twins; /* "site/cell/twin" -> twin object (mu) */
    unsigned long long records;
    pthread_cond_t cv;
    bool stop;
    pthread_t th;
    bool running;
    natsOptions *opts;
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub;
};

/* A subject token back to the id it came from ('=' was a '.'). */
static void untoken(const char *tok, size_t n, char *out, size_t outlen)
{
    size_t k = 0;
    for (; k < n && k + 1 < outlen; k++)
        out[k] = tok[k] == '=' ? '.' : tok[k];
    out[k] = '\0';
}

/* Split subject into at most max tokens (pointers into it, not NUL
 * terminated; lengths in len). Returns the count. */
static size_t split(const char *subj, const char **tok, size_t *len, size_t max)
{
    size_t n = 0;
    const char *p = subj;
    while (*p && n < max) {
        const char *d = strchr(p, '.');
        size_t l = d ? (size_t)(d - p) : strlen(p);
        tok[n] = p;
        len[n++] = l;
        if (!d)
            break;
        p = d + 1;
    }
    return n;
}

static json_t *cell_get(struct gw_plant *p, const char *site, const char *cell)
{
    char key[160];
    snprintf(key, sizeof key, "%s/%s", site, cell);
    json_t *c = json_object_get(p->cells, key);
    if (!c) {
        c = json_pack("{ss ss sI sI sI sI}", "site", site, "cell", cell,
                      "records", (json_int_t)0, "last_seq", (json_int_t)0,
                      "last_ts", (json_int_t)0, "audit", (json_int_t)0);
        json_object_set_new(p->cells, key, c);
    }
    return c;
}

static void inc(json_t *o, const char *k, json_int_t by)
{
    json_object_set_new(
        o, k, json_integer(json_integer_value(json_object_get(o, k)) + by));
}

/* A twin's record (mu held): state events merge their properties (a
 * value older than the one held is ignored), alarm transitions replace
 * that alarm's state, "twin" events create or remove the entry. */
static void fold_twin(struct gw_plant *p, const char *site, const char *cell,
                      const char *twin, const char *type, json_t *d)
{
    char key[240];
    snprintf(key, sizeof key, "%s/%s/%s", site, cell, twin);
    json_t *t = json_object_get(p->twins, key);
    if (!strcmp(type, "twin") &&
        !strcmp(json_string_value(json_object_get(d, "change"))
                    ? json_string_value(json_object_get(d, "change"))
                    : "",
                "removed")) {
        json_object_del(p->twins, key);
        return;
    }
    if (!t) {
        t = json_pack("{ss ss ss so so sb}", "site", site, "cell", cell, "id",
                      twin, "properties", json_object(), "alarms",
                      json_object(), "stable", true);
        json_object_set_new(p->twins, key, t);
    }
    json_t *ts = json_object_get(d, "ts");
    if (json_is_integer(ts) &&
        json_integer_value(ts) >
            json_integer_value(json_object_get(t, "updated")))
        json_object_set(t, "updated", ts);
    if (!strcmp(type, "state")) {
        json_t *props = json_object_get(t, "properties");
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(d, "properties"), k, v)
        {
            json_t *old = json_object_get(props, k);
            if (!old || json_integer_value(json_object_get(v, "ts")) >=
                            json_integer_value(json_object_get(old, "ts")))
                json_object_set(props, k, v);
        }
        if (json_is_boolean(json_object_get(d, "stable")))
            json_object_set(t, "stable", json_object_get(d, "stable"));
    } else if (!strcmp(type, "stable-changed")) {
        if (json_is_boolean(json_object_get(d, "stable")))
            json_object_set(t, "stable", json_object_get(d, "stable"));
    } else if (!strcmp(type, "alarm")) {
        const char *rule = json_string_value(json_object_get(d, "rule"));
        json_t *al = json_object_get(d, "alarm");
        if (rule && al)
            json_object_set(json_object_get(t, "alarms"), rule, al);
    } else if (!strcmp(type, "twin")) {
        if (json_object_get(d, "version"))
            json_object_set(t, "version", json_object_get(d, "version"));
    }
}

/* libnats' thread: one record of the stream. */
static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m,
                   void *ud)
{
    (void)nc;
    (void)sub;
    struct gw_plant *p = ud;
    const char *tok[8];
    size_t len[8];
    size_t n = split(natsMsg_GetSubject(m), tok, len, 8);
    if (n >= 5 && len[0] == 4 && !strncmp(tok[0], "site", 4) && len[2] == 4 &&
        !strncmp(tok[2], "cell", 4)) {
        char site[72], cell[72], twin[72], type[40];
        untoken(tok[1], len[1], site, sizeof site);
        untoken(tok[3], len[3], cell, sizeof cell);
        json_t *d = json_loadb(natsMsg_GetData(m),
                               (size_t)natsMsg_GetDataLength(m), 0, NULL);
        const char *hs = NULL;
        natsMsgHeader_Get(m, "Ht-Seq", &hs);
        pthread_mutex_lock(&p->mu);
        p->records++;
        json_t *c = cell_get(p, site, cell);
        inc(c, "records", 1);
        if (hs && strtoll(hs, NULL, 10) >
                      json_integer_value(json_object_get(c, "last_seq")))
            json_object_set_new(c, "last_seq",
                                json_integer(strtoll(hs, NULL, 10)));
        json_t *ts = json_object_get(d, "ts");
        if (json_is_integer(ts) &&
            json_integer_value(ts) >
                json_integer_value(json_object_get(c, "last_ts")))
            json_object_set(c, "last_ts", ts);
        if (n == 5 && len[4] == 5 && !strncmp(tok[4], "hello", 5) && d) {
            static const char *const keys[] = {"gateway", "version", "http"};
            for (size_t i = 0; i < 3; i++)
                if (json_object_get(d, keys[i]))
                    json_object_set(c, keys[i], json_object_get(d, keys[i]));
        } else if (n == 5 && len[4] == 5 && !strncmp(tok[4], "audit", 5)) {
            inc(c, "audit", 1);
        } else if (n == 7 && len[4] == 4 && !strncmp(tok[4], "twin", 4) && d) {
            untoken(tok[5], len[5], twin, sizeof twin);
            untoken(tok[6], len[6], type, sizeof type);
            fold_twin(p, site, cell, twin, type, d);
        }
        pthread_mutex_unlock(&p->mu);
        json_decref(d);
    }
    natsMsg_Destroy(m);
}

/* The consumer's thread: connect (retrying), wait for the stream (the
 * plant view may start before any cell), subscribe from the first record,
 * then sleep until stopped; libnats reconnects and re-creates the ordered
 * consumer by itself. */
static void *plant_main(void *arg)
{
    struct gw_plant *p = arg;
    const struct ht_gw_conf *c = p->g->conf;
    natsStatus s = natsConnection_Connect(&p->nc, p->opts);
    if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED)
        ht_log(LOG_ERR, MOD, "connect: %s", natsStatus_GetText(s));
    if (p->nc && natsConnection_JetStream(&p->js, p->nc, NULL) != NATS_OK)
        ht_log(LOG_ERR, MOD, "JetStream context failed");
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        if (!p->sub && p->js &&
            natsConnection_Status(p->nc) == NATS_CONN_STATUS_CONNECTED) {
            pthread_mutex_unlock(&p->mu);
            natsSubscription *sub = NULL;
            if (gw__upstream_stream_ensure(p->js, c)) {
                jsSubOptions so;
                jsSubOptions_Init(&so);
                so.Stream = c->up_stream;
                so.Ordered = true;
                so.Config.DeliverPolicy = js_DeliverAll;
                jsErrCode je = 0;
                s = js_Subscribe(&sub, p->js, "site.>", on_msg, p, NULL, &so,
                                 &je);
                if (s != NATS_OK) {
                    ht_log(LOG_WARNING, MOD, "subscribe: %s (%d)",
                           natsStatus_GetText(s), (int)je);
                    sub = NULL;
                } else {
                    ht_log(LOG_NOTICE, MOD, "reading stream %s", c->up_stream);
                }
            }
            pthread_mutex_lock(&p->mu);
            p->sub = sub;
            if (sub)
                continue;
        }
        struct timespec dl;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_nsec += 250 * 1000000;
        if (dl.tv_nsec >= 1000000000) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&p->cv, &p->mu, &dl);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int gw__plant_new(struct ht_gw *g, struct gw_plant **out, char *err,
                  size_t errlen)
{
    *out = NULL;
    const struct ht_gw_conf *c = g->conf;
    if (!c->plant)
        return HT_OK;
    if (!c->up_url || !*c->up_url) {
        snprintf(err, errlen,
                 "--plant needs the cluster: upstream.url (--upstream URL) "
                 "with the plant's account");
        return HT_EINVAL;
    }
    struct gw_plant *p = ht_calloc(1, sizeof *p);
    p->g = g;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    p->cells = json_object();
    p->twins = json_object();
    int rc =
        gw__upstream_nats_options(c, "holotwin-plant", &p->opts, err, errlen);
    if (rc == HT_OK && natsOptions_SetRetryOnFailedConnect(p->opts, true, NULL,
                                                           NULL) != NATS_OK)
        rc = HT_EINVAL;
    if (rc != HT_OK) {
        gw__plant_free(p);
        return rc;
    }
    ht_log(LOG_NOTICE, MOD, "plant view of %s (stream %s)", c->up_url,
           c->up_stream);
    *out = p;
    return HT_OK;
}

int gw__plant_start(struct gw_plant *p, char *err, size_t errlen)
{
    if (!p)
        return HT_OK;
    int rc = -pthread_create(&p->th, NULL, plant_main, p);
    if (rc) {
        snprintf(err, errlen, "plant thread: %s", ht_strerror(rc));
        return rc;
    }
    p->running = true;
    return HT_OK;
}

void gw__plant_free(struct gw_plant *p)
{
    if (!p)
        return;
    if (p->running) {
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->th, NULL);
    }
    if (p->sub) {
        natsSubscription_Unsubscribe(p->sub);
        natsSubscription_Destroy(p->sub);
    }
    jsCtx_Destroy(p->js);
    if (p->nc) {
        natsConnection_Close(p->nc);
        natsConnection_Destroy(p->nc);
    }
    natsOptions_Destroy(p->opts);
    json_decref(p->cells);
    json_decref(p->twins);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
    nats_CloseAndWait(2000);
}

/* Sort a JSON array of objects by "site", "cell", then "id" or nothing. */
static int by_key(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    static const char *const keys[] = {"site", "cell", "id"};
    for (size_t i = 0; i < 3; i++) {
        const char *s = json_string_value(json_object_get(x, keys[i]));
        const char *t = json_string_value(json_object_get(y, keys[i]));
        int c = strcmp(s ? s : "", t ? t : "");
        if (c)
            return c;
    }
    return 0;
}

static json_t *sorted(json_t **v, size_t n)
{
    qsort(v, n, sizeof *v, by_key);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(out, v[i]);
    free(v);
    return out;
}

json_t *gw__plant_cells(struct gw_plant *p)
{
    if (!p)
        return json_array();
    pthread_mutex_lock(&p->mu);
    size_t n = json_object_size(p->cells), k = 0;
    json_t **v = ht_calloc(n ? n : 1, sizeof *v);
    const char *key;
    json_t *c;
    json_object_foreach(p->cells, key, c)
    {
        json_t *x = json_deep_copy(c);
        json_int_t nt = 0;
        const char *tk;
        json_t *t;
        json_object_foreach(p->twins, tk, t)
        {
            nt += json_equal(json_object_get(t, "site"),
                             json_object_get(c, "site")) &&
                  json_equal(json_object_get(t, "cell"),
                             json_object_get(c, "cell"));
        }
        json_object_set_new(x, "twins", json_integer(nt));
        v[k++] = x;
    }
    pthread_mutex_unlock(&p->mu);
    return sorted(v, k);
}

json_t *gw__plant_twins(struct gw_plant *p, const char *site, const char *cell)
{
    if (!p)
        return json_array();
    pthread_mutex_lock(&p->mu);
    size_t n = json_object_size(p->twins), k = 0;
    json_t **v = ht_calloc(n ? n : 1, sizeof *v);
    const char *key;
    json_t *t;
    json_object_foreach(p->twins, key, t)
    {
        const char *s = json_string_value(json_object_get(t, "site"));
        const char *c = json_string_value(json_object_get(t, "cell"));
        if ((site && strcmp(site, s)) || (cell && strcmp(cell, c)))
            continue;
        json_t *x = json_deep_copy(t);
        json_t *alarms = json_array();
        const char *rule;
        json_t *a;
        json_object_foreach(json_object_get(t, "alarms"), rule, a)
        {
            json_t *y = json_deep_copy(a);
            json_object_set_new(y, "rule", json_string(rule));
            json_array_append_new(alarms, y);
        }
        json_object_set_new(x, "alarms", alarms);
        v[k++] = x;
    }
    pthread_mutex_unlock(&p->mu);
    return sorted(v, k);
}

unsigned long long gw__plant_records(struct gw_plant *p)
{
    if (!p)
        return 0;
    pthread_mutex_lock(&p->mu);
    unsigned long long n = p->records;
    pthread_mutex_unlock(&p->mu);
    return n;
}
