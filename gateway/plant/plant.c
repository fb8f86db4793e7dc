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
#include "gateway/auth/auth.h"
#include "gateway/jobs/jobs.h"
#include "gateway/sse/sse.h"
#include "gateway/upstream/upstream.h"

#include "ht_err.h"
#include "ht_id.h"
#include "ht_json.h"
#include "ht_log.h"
#include "ht_loop.h"
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
    json_t *twins; /* plant id -> twin object (mu) */
    /* plant id -> what the plant view serves of a twin besides the table
     * (mu): {"doc": the twin document, "state": the cell's state snapshot
     * (text), "web"/"hmd": {"etag","document" (text)|"omitted"}}. */
    json_t *blobs;
    unsigned long long records;
    /* Records up to this stream sequence were stored before the consumer
     * started: folded, not announced (SSE events are for what happens
     * while the view runs, not a replay of the stream's history). */
    uint64_t live_from;
    /* SSE events for the loop (mu), pushed by the prepare hook. */
    struct pev *evq, **evtail;
    pthread_cond_t cv;
    bool stop;
    pthread_t th;
    bool running;
    natsOptions *opts;
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub;
    /* A connection that never came up within 2 s is opened again (see
     * upstream.c: libnats 3.4 can give up on a first connection). */
    bool ever_up;
    int64_t opened_ms;
    /* Commands (plant.commands): jobs waiting for the plant thread's
     * request to their cell, and jobs answered, for the loop (mu). */
    struct pcmd *cmdq, *doneq;
    struct ht_prepare *prep;
};

/* One SSE event for the loop: its type, plant twin id, data text. */
struct pev {
    struct pev *next;
    char type[24];
    char twin[GW_PLANT_ID_MAX];
    char *data;
    size_t len;
};

/* One routed command: its job, the subject of its cell, the request. */
struct pcmd {
    struct pcmd *next;
    struct gw_job *j;
    char subject[GW_UP_SUBJECT_MAX];
    char *data;
    int status;
    json_t *body;
    char result[40];
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
                      const char *twin, const char *type, json_t *d,
                      const char *raw, size_t rawlen)
{
    char key[GW_PLANT_ID_MAX];
    if (gw__plant_id(site, cell, twin, key, sizeof key) != HT_OK)
        return; /* not ids: nothing the view could name safely */
    json_t *t = json_object_get(p->twins, key);
    if (!strcmp(type, "twin") &&
        !strcmp(json_string_value(json_object_get(d, "change"))
                    ? json_string_value(json_object_get(d, "change"))
                    : "",
                "removed")) {
        json_object_del(p->twins, key);
        json_object_del(p->blobs, key);
        return;
    }
    if (!t) {
        t = json_pack("{ss ss ss so so sb}", "site", site, "cell", cell, "id",
                      twin, "properties", json_object(), "alarms",
                      json_object(), "stable", true);
        json_object_set_new(p->twins, key, t);
    }
    json_t *b = json_object_get(p->blobs, key);
    if (!b) {
        b = json_object();
        json_object_set_new(p->blobs, key, b);
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
        static const char *const keys[] = {"version", "title", "auto",
                                           "device"};
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
            if (json_object_get(d, keys[i]))
                json_object_set(t, keys[i], json_object_get(d, keys[i]));
        if (json_is_object(json_object_get(d, "doc")))
            json_object_set(b, "doc", json_object_get(d, "doc"));
    } else if (!strcmp(type, "snapshot")) {
        json_object_set_new(b, "state", json_stringn(raw, rawlen));
        json_t *st = json_object_get(d, "stable");
        if (json_is_boolean(st))
            json_object_set(t, "stable", st);
    } else if (!strcmp(type, "descriptor")) {
        const char *target = json_string_value(json_object_get(d, "target"));
        if (target && (!strcmp(target, "web") || !strcmp(target, "hmd")))
            json_object_set(b, target, d);
    }
}

/* A live record of a twin as the plant view's SSE event (mu held): the
 * cell's event data with "twin" the plant id and "site", "cell" added (a
 * descriptor's document left out: clients fetch it). */
static void announce(struct gw_plant *p, const char *pid, const char *site,
                     const char *cell, const char *type, const json_t *d)
{
    static const char *const types[] = {
        "state",          "alarm", "alarm-raised", "alarm-cleared",
        "stable-changed", "twin",  "descriptor"};
    bool known = false;
    for (size_t i = 0; i < sizeof types / sizeof *types && !known; i++)
        known = !strcmp(type, types[i]);
    if (!known || !json_is_object(d))
        return;
    json_t *o = json_copy((json_t *)d);
    json_object_set_new(o, "twin", json_string(pid));
    json_object_set_new(o, "site", json_string(site));
    json_object_set_new(o, "cell", json_string(cell));
    json_object_del(o, "document");
    json_object_del(o, "doc");
    json_t *al = json_object_get(o, "alarm");
    const char *rule = json_string_value(json_object_get(o, "rule"));
    if (json_is_object(al) && rule) {
        /* The alarm's own names too, as GET /api/v1/alarms lists it. */
        char aid[GW_PLANT_ID_MAX + HT_ID_MAX + 2];
        snprintf(aid, sizeof aid, "%s:%s", pid, rule);
        al = json_deep_copy(al);
        json_object_set_new(al, "id", json_string(aid));
        json_object_set_new(al, "twin", json_string(pid));
        json_object_set_new(al, "site", json_string(site));
        json_object_set_new(al, "cell", json_string(cell));
        json_object_set_new(o, "alarm", al);
    }
    struct pev *e = ht_calloc(1, sizeof *e);
    ht_strlcpy(e->type, type, sizeof e->type);
    ht_strlcpy(e->twin, pid, sizeof e->twin);
    e->data = ht_json_dumps(o, false, &e->len);
    json_decref(o);
    *p->evtail = e;
    p->evtail = &e->next;
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
        jsMsgMetaData *meta = NULL;
        uint64_t sseq = 0;
        if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
            sseq = meta->Sequence.Stream;
            jsMsgMetaData_Destroy(meta);
        }
        pthread_mutex_lock(&p->mu);
        bool live = p->g->loop && sseq > p->live_from;
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
            fold_twin(p, site, cell, twin, type, d, natsMsg_GetData(m),
                      (size_t)natsMsg_GetDataLength(m));
            char pid[GW_PLANT_ID_MAX];
            if (live &&
                gw__plant_id(site, cell, twin, pid, sizeof pid) == HT_OK)
                announce(p, pid, site, cell, type, d);
        }
        bool wake = live && p->evq;
        pthread_mutex_unlock(&p->mu);
        if (wake)
            ht_loop_wakeup(p->g->loop);
        json_decref(d);
    }
    natsMsg_Destroy(m);
}

/* An alarm command's answer (the alarm's state) named as the plant view
 * lists it: "id" "{plant id}:{rule}", "twin" the plant id, site, cell. */
static void plant_alarm_names(struct pcmd *c)
{
    const json_t *v = c->j->value;
    const char *site = json_string_value(json_object_get(v, "site"));
    const char *cell = json_string_value(json_object_get(v, "cell"));
    const char *aid0 = json_string_value(json_object_get(v, "alarm"));
    const char *rule = aid0 ? strchr(aid0, ':') : NULL;
    char pid[GW_PLANT_ID_MAX], aid[GW_PLANT_ID_MAX + HT_ID_MAX + 2];
    if (c->status != 200 || !rule || !json_is_object(c->body) ||
        gw__plant_id(site, cell, c->j->dev, pid, sizeof pid) != HT_OK)
        return;
    snprintf(aid, sizeof aid, "%s%s", pid, rule);
    json_object_set_new(c->body, "id", json_string(aid));
    json_object_set_new(c->body, "twin", json_string(pid));
    json_object_set_new(c->body, "site", json_string(site));
    json_object_set_new(c->body, "cell", json_string(cell));
}

/* Plant thread: send one command to its cell and wait for the answer
 * (the cell answers when its job is done and audited there). */
static void run_cmd(struct gw_plant *p, struct pcmd *c)
{
    natsMsg *reply = NULL;
    int64_t wait = (int64_t)p->g->conf->command_timeout_ms + 2000;
    natsStatus s = p->nc ? natsConnection_RequestString(
                               &reply, p->nc, c->subject, c->data, wait)
                         : NATS_CONNECTION_CLOSED;
    if (s == NATS_OK) {
        json_t *o = json_loadb(natsMsg_GetData(reply),
                               (size_t)natsMsg_GetDataLength(reply), 0, NULL);
        json_t *st = json_object_get(o, "status");
        c->status = json_is_integer(st) ? (int)json_integer_value(st) : 502;
        c->body = json_incref(json_object_get(o, "body"));
        plant_alarm_names(c);
        const char *code = json_string_value(json_object_get(c->body, "code"));
        ht_strlcpy(c->result,
                   c->status == 200 ? "ok"
                   : code           ? code
                                    : "error",
                   sizeof c->result);
        json_decref(o);
        natsMsg_Destroy(reply);
        return;
    }
    bool none = s == NATS_NO_RESPONDERS;
    c->status = none ? 503 : 504;
    ht_strlcpy(c->result, none ? "cell_unreachable" : "timeout",
               sizeof c->result);
    c->body = gw__problem(c->status, none ? "Cell unreachable" : "No answer",
                          natsStatus_GetText(s));
    json_object_set_new(c->body, "code", json_string(c->result));
}

/* Loop thread (prepare hook): complete the commands the cells answered;
 * each is audited here too (action plant-write). */
static void on_prepare(struct ht_prepare *hp, void *ud)
{
    (void)hp;
    struct gw_plant *p = ud;
    pthread_mutex_lock(&p->mu);
    struct pcmd *c = p->doneq;
    p->doneq = NULL;
    struct pev *e = p->evq;
    p->evq = NULL;
    p->evtail = &p->evq;
    pthread_mutex_unlock(&p->mu);
    while (e) {
        struct pev *next = e->next;
        if (e->data && p->g->log)
            gw__sse_push(p->g, e->type, NULL, NULL, e->twin, NULL, e->data,
                         e->len);
        free(e->data);
        free(e);
        e = next;
    }
    while (c) {
        struct pcmd *next = c->next;
        gw__job_complete(p->g, c->j, c->status, c->body, c->result);
        free(c->data);
        free(c);
        c = next;
    }
}

/* Loop thread: a GW_JOB_PLANT_WRITE from POST /api/v1/plant/commands; its
 * value is the request {"site","cell","device"|"twin","property","value"}
 * (checked by the route); the plant thread sends it. */
static void plant_write(struct ht_gw *g, struct gw_job *j)
{
    struct gw_plant *p = g->plant;
    if (!p || !g->conf->plant_commands) {
        gw__job_fail(g, j, 403, "read_only", "Forbidden",
                     "this plant view is read-only (plant.commands)");
        return;
    }
    const char *site = json_string_value(json_object_get(j->value, "site"));
    const char *cell = json_string_value(json_object_get(j->value, "cell"));
    char ts[72], tc[72];
    struct pcmd *c = ht_calloc(1, sizeof *c);
    c->j = j;
    gw__upstream_token(site, ts, sizeof ts);
    gw__upstream_token(cell, tc, sizeof tc);
    snprintf(c->subject, sizeof c->subject, "cmd.site.%s.cell.%s", ts, tc);
    json_t *o = json_deep_copy(j->value);
    json_object_del(o, "site");
    json_object_del(o, "cell");
    json_object_set_new(o, "actor", json_string(j->actor));
    if (json_object_get(o, "alarm")) /* the cell checks it as its route */
        json_object_set_new(o, "role",
                            json_string(gw__role_name((enum gw_role)j->role)));
    c->data = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    pthread_mutex_lock(&p->mu);
    struct pcmd **t = &p->cmdq;
    while (*t)
        t = &(*t)->next;
    *t = c;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* The consumer's thread: connect (retrying), wait for the stream (the
 * plant view may start before any cell), subscribe from the first record,
 * then sleep until stopped; libnats reconnects and re-creates the ordered
 * consumer by itself. */
static void *plant_main(void *arg)
{
    struct gw_plant *p = arg;
    const struct ht_gw_conf *c = p->g->conf;
    natsStatus s;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        /* (Re)connect when there is no connection or libnats gave up on
         * it; the table is kept: reading from the first record again
         * re-applies what it holds. */
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
        natsConnStatus cs =
            p->nc ? natsConnection_Status(p->nc) : NATS_CONN_STATUS_CLOSED;
        if (cs == NATS_CONN_STATUS_CONNECTED)
            p->ever_up = true;
        if (!p->nc || cs == NATS_CONN_STATUS_CLOSED ||
            (!p->ever_up && now_ms - p->opened_ms >= 2000)) {
            natsSubscription *old = p->sub;
            jsCtx *ojs = p->js;
            natsConnection *onc = p->nc;
            p->sub = NULL;
            p->js = NULL;
            p->nc = NULL;
            pthread_mutex_unlock(&p->mu);
            natsSubscription_Destroy(old);
            jsCtx_Destroy(ojs);
            natsConnection_Destroy(onc);
            natsConnection *nc = NULL;
            jsCtx *js = NULL;
            s = natsConnection_Connect(&nc, p->opts);
            if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
                ht_log(LOG_WARNING, MOD, "connect: %s (retrying)",
                       natsStatus_GetText(s));
                nc = NULL;
            } else if (natsConnection_JetStream(&js, nc, NULL) != NATS_OK) {
                ht_log(LOG_ERR, MOD, "JetStream context failed");
            }
            pthread_mutex_lock(&p->mu);
            p->nc = nc;
            p->js = js;
            p->ever_up = false;
            p->opened_ms = now_ms;
            if (!nc) {
                struct timespec dl;
                clock_gettime(CLOCK_MONOTONIC, &dl);
                dl.tv_sec += 1;
                pthread_cond_timedwait(&p->cv, &p->mu, &dl);
                continue;
            }
        }
        if (p->cmdq) {
            struct pcmd *cmd = p->cmdq;
            p->cmdq = cmd->next;
            cmd->next = NULL;
            pthread_mutex_unlock(&p->mu);
            run_cmd(p, cmd);
            pthread_mutex_lock(&p->mu);
            struct pcmd **t = &p->doneq;
            while (*t)
                t = &(*t)->next;
            *t = cmd;
            ht_loop_wakeup(p->g->loop);
            continue;
        }
        if (!p->sub && p->js &&
            natsConnection_Status(p->nc) == NATS_CONN_STATUS_CONNECTED) {
            pthread_mutex_unlock(&p->mu);
            natsSubscription *sub = NULL;
            if (gw__upstream_stream_ensure(p->js, c)) {
                /* Read from the first record: into an empty table. */
                /* What the stream holds now is history: folded, not
                 * announced over SSE. */
                jsStreamInfo *si = NULL;
                uint64_t last = 0;
                if (js_GetStreamInfo(&si, p->js, c->up_stream, NULL, NULL) ==
                    NATS_OK) {
                    last = si->State.LastSeq;
                    jsStreamInfo_Destroy(si);
                }
                pthread_mutex_lock(&p->mu);
                json_object_clear(p->cells);
                json_object_clear(p->twins);
                json_object_clear(p->blobs);
                p->records = 0;
                p->live_from = last;
                pthread_mutex_unlock(&p->mu);
                jsSubOptions so;
                jsSubOptions_Init(&so);
                so.Stream = c->up_stream;
                so.Ordered = true;
                so.Config.DeliverPolicy = js_DeliverAll;
                /* libnats re-creates an ordered consumer after missed
                 * heartbeats (its default 5 s, so 15 s without records
                 * when the serving node dies): 1 s makes it ~3 s. */
                so.Config.Heartbeat = (int64_t)1000 * 1000 * 1000;
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
    p->blobs = json_object();
    p->evtail = &p->evq;
    int rc =
        gw__upstream_nats_options(c, "holotwin-plant", &p->opts, err, errlen);
    if (rc == HT_OK && natsOptions_SetRetryOnFailedConnect(p->opts, true, NULL,
                                                           NULL) != NATS_OK)
        rc = HT_EINVAL;
    if (rc != HT_OK) {
        gw__plant_free(p);
        return rc;
    }
    gw__jobs_handle(g, GW_JOB_PLANT_WRITE, plant_write);
    if (g->loop)
        p->prep = ht_prepare_new(g->loop, on_prepare, p);
    ht_log(LOG_NOTICE, MOD, "plant view of %s (stream %s, %s)", c->up_url,
           c->up_stream,
           c->plant_commands ? "commands routed to cells" : "read-only");
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
    /* Commands still queued or answered: complete them (503 or their
     * answer) so that no HTTP request stays suspended. */
    for (struct pcmd *c = p->cmdq; c; c = c->next) {
        c->status = 503;
        ht_strlcpy(c->result, "stopping", sizeof c->result);
        c->body = gw__problem(503, "Gateway stopping", NULL);
    }
    if (p->cmdq) {
        struct pcmd **t = &p->doneq;
        while (*t)
            t = &(*t)->next;
        *t = p->cmdq;
        p->cmdq = NULL;
    }
    pthread_mutex_lock(&p->mu);
    struct pev *ev = p->evq; /* not pushed: the log may be gone */
    p->evq = NULL;
    p->evtail = &p->evq;
    pthread_mutex_unlock(&p->mu);
    for (struct pev *next; ev; ev = next) {
        next = ev->next;
        free(ev->data);
        free(ev);
    }
    if (p->doneq)
        on_prepare(NULL, p);
    ht_prepare_free(p->prep);
    if (p->sub) {
        natsSubscription_Unsubscribe(p->sub);
        natsSubscription_Destroy(p->sub);
    }
    jsCtx_Destroy(p->js);
    if (p->nc) {
        natsConnection_Close(p->nc);
        natsConnection_Destroy(p->nc);
    }
    /* Every libnats thread gone (a subscription's may still be in on_msg)
     * before p is freed. */
    nats_CloseAndWait(2000);
    natsOptions_Destroy(p->opts);
    json_decref(p->cells);
    json_decref(p->twins);
    json_decref(p->blobs);
    for (struct pev *e = p->evq, *next; e; e = next) {
        next = e->next;
        free(e->data);
        free(e);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
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

int gw__plant_cmd_check(const json_t *req, char *err, size_t errlen)
{
    const char *site = json_string_value(json_object_get(req, "site"));
    const char *cell = json_string_value(json_object_get(req, "cell"));
    const char *dev = json_string_value(json_object_get(req, "device"));
    const char *twin = json_string_value(json_object_get(req, "twin"));
    const char *prop = json_string_value(json_object_get(req, "property"));
    if (!json_is_object(req) || !site || !ht_id_valid(site) || !cell ||
        !ht_id_valid(cell) || !prop || !json_object_get(req, "value") ||
        (!dev == !twin) || (dev && !ht_id_valid(dev)) ||
        (twin && !ht_id_valid(twin))) {
        snprintf(err, errlen,
                 "expected {\"site\", \"cell\", \"device\" or \"twin\", "
                 "\"property\", \"value\"} with ids for site, cell, device "
                 "and twin");
        return HT_EINVAL;
    }
    return HT_OK;
}

/* ---- plant ids and the twins' documents (any thread) ---- */

int gw__plant_id(const char *site, const char *cell, const char *twin,
                 char *out, size_t outlen)
{
    if (!ht_id_valid(site) || !ht_id_valid(cell) || !ht_id_valid(twin))
        return HT_EINVAL;
    int n = snprintf(out, outlen, "%s" GW_PLANT_SEP "%s" GW_PLANT_SEP "%s",
                     site, cell, twin);
    return n > 0 && (size_t)n < outlen ? HT_OK : HT_EINVAL;
}

int gw__plant_id_split(const char *pid, char site[HT_ID_MAX + 1],
                       char cell[HT_ID_MAX + 1], char twin[HT_ID_MAX + 1])
{
    char *parts[3] = {site, cell, twin};
    const char *p = pid;
    for (int i = 0; i < 3; i++) {
        const char *end = i < 2 ? strchr(p ? p : "", GW_PLANT_SEP[0]) : NULL;
        size_t n = !p ? 0 : end ? (size_t)(end - p) : strlen(p);
        if (!p || (i < 2 && !end) || n == 0 || n > HT_ID_MAX)
            return HT_EINVAL;
        memcpy(parts[i], p, n);
        parts[i][n] = '\0';
        if (!ht_id_valid(parts[i]))
            return HT_EINVAL;
        p = end ? end + 1 : NULL;
    }
    return HT_OK;
}

bool gw__plant_id_valid(const char *pid)
{
    char a[HT_ID_MAX + 1], b[HT_ID_MAX + 1], c[HT_ID_MAX + 1];
    return pid && gw__plant_id_split(pid, a, b, c) == HT_OK;
}

/* The count of a twin's alarms that are not normal (mu held). */
static json_int_t open_alarms(const json_t *t)
{
    json_int_t n = 0;
    const char *rule;
    json_t *a;
    json_object_foreach(json_object_get(t, "alarms"), rule, a)
    {
        const char *st = json_string_value(json_object_get(a, "state"));
        n += st && strcmp(st, "normal");
    }
    return n;
}

json_t *gw__plant_twin_list(struct gw_plant *p)
{
    if (!p)
        return json_array();
    pthread_mutex_lock(&p->mu);
    size_t n = json_object_size(p->twins), k = 0;
    json_t **v = ht_calloc(n ? n : 1, sizeof *v);
    const char *pid;
    json_t *t;
    json_object_foreach(p->twins, pid, t)
    {
        json_t *o = json_pack(
            "{ss sO sO sO sO* sO* sb sO* sI}", "id", pid, "site",
            json_object_get(t, "site"), "cell", json_object_get(t, "cell"),
            "twin", json_object_get(t, "id"), "title",
            json_object_get(t, "title"), "version",
            json_object_get(t, "version"), "auto",
            json_is_true(json_object_get(t, "auto")), "device",
            json_object_get(t, "device"), "alarms", open_alarms(t));
        if (!json_object_get(o, "title"))
            json_object_set(o, "title", json_object_get(t, "id"));
        json_object_set(o, "updated", json_object_get(t, "updated"));
        json_object_set(o, "stable", json_object_get(t, "stable"));
        v[k++] = o;
    }
    pthread_mutex_unlock(&p->mu);
    qsort(v, k, sizeof *v, by_key);
    json_t *out = json_array();
    for (size_t i = 0; i < k; i++)
        json_array_append_new(out, v[i]);
    free(v);
    return out;
}

bool gw__plant_twin_exists(struct gw_plant *p, const char *pid)
{
    if (!p || !pid)
        return false;
    pthread_mutex_lock(&p->mu);
    bool yes = json_object_get(p->twins, pid) != NULL;
    pthread_mutex_unlock(&p->mu);
    return yes;
}

json_t *gw__plant_twin_doc(struct gw_plant *p, const char *pid)
{
    if (!p || !pid)
        return NULL;
    pthread_mutex_lock(&p->mu);
    json_t *d = json_object_get(json_object_get(p->blobs, pid), "doc");
    json_t *out = d ? json_deep_copy(d) : NULL;
    pthread_mutex_unlock(&p->mu);
    return out;
}

char *gw__plant_twin_state(struct gw_plant *p, const char *pid, size_t *len)
{
    *len = 0;
    if (!p || !pid)
        return NULL;
    char *s = NULL;
    pthread_mutex_lock(&p->mu);
    json_t *st = json_object_get(json_object_get(p->blobs, pid), "state");
    if (json_is_string(st)) {
        /* As the cell serves it: the snapshot and a newline. */
        size_t n = json_string_length(st);
        s = ht_malloc(n + 2);
        memcpy(s, json_string_value(st), n);
        s[n] = '\n';
        s[n + 1] = '\0';
        *len = n + 1;
    }
    pthread_mutex_unlock(&p->mu);
    return s;
}

int gw__plant_twin_ui(struct gw_plant *p, const char *pid, const char *target,
                      char **out, size_t *len, char *etag, size_t etaglen)
{
    *out = NULL;
    *len = 0;
    if (!p || !pid || !gw__plant_twin_exists(p, pid))
        return HT_ENOENT;
    int rc = HT_EAGAIN;
    pthread_mutex_lock(&p->mu);
    json_t *d = json_object_get(json_object_get(p->blobs, pid), target);
    const char *tag = json_string_value(json_object_get(d, "etag"));
    json_t *doc = json_object_get(d, "document");
    if (d && json_object_get(d, "omitted")) {
        rc = HT_ETOOBIG;
    } else if (tag && json_is_string(doc)) {
        size_t n = json_string_length(doc);
        *out = ht_malloc(n + 1);
        memcpy(*out, json_string_value(doc), n);
        (*out)[n] = '\0';
        *len = n;
        ht_strlcpy(etag, tag, etaglen);
        rc = HT_OK;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

json_t *gw__plant_alarms(struct gw_plant *p, const char *pid, bool all)
{
    json_t *items = json_array();
    if (!p)
        return items;
    pthread_mutex_lock(&p->mu);
    const char *key;
    json_t *t;
    json_object_foreach(p->twins, key, t)
    {
        if (pid && strcmp(pid, key))
            continue;
        const char *rule;
        json_t *a;
        json_object_foreach(json_object_get(t, "alarms"), rule, a)
        {
            const char *st = json_string_value(json_object_get(a, "state"));
            if (!all && (!st || !strcmp(st, "normal")))
                continue;
            json_t *x = json_deep_copy(a);
            char id[GW_PLANT_ID_MAX + HT_ID_MAX + 2];
            snprintf(id, sizeof id, "%s:%s", key, rule);
            json_object_set_new(x, "id", json_string(id));
            json_object_set_new(x, "twin", json_string(key));
            json_object_set_new(x, "rule", json_string(rule));
            json_object_set(x, "site", json_object_get(t, "site"));
            json_object_set(x, "cell", json_object_get(t, "cell"));
            json_array_append_new(items, x);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return items;
}

bool gw__plant_commands(const struct gw_plant *p)
{
    return p && p->g->conf->plant_commands;
}
