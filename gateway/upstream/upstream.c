/* upstream.c - the cell's uplink to the plant's NATS JetStream cluster.
 *
 * Every record takes one path: the loop (SSE tap) or whichever thread
 * writes an audit record appends it to a small locked queue in memory; the
 * sender thread moves the queue into the outbox (DATA_DIR/upstream.db, one
 * transaction per wake-up; a row's AUTOINCREMENT id is its sequence number
 * in this cell), then publishes the oldest rows in batches with JetStream
 * publish acks and deletes them once the cluster has acknowledged them.
 * Each message carries Nats-Msg-Id "{epoch}-{seq}", so a batch re-sent
 * after a lost ack is stored once (the stream's duplicate window), and
 * Ht-Seq, so the plant can check that no sequence number is missing. The
 * epoch is drawn when the outbox file is created: a cell whose outbox was
 * lost starts a new epoch instead of colliding with its old ids.
 *
 * The cell never waits for the uplink: the loop's cost per record is one
 * snprintf and a queue append, whatever the cluster does. While the uplink
 * is down the outbox grows up to upstream.max_backlog rows; beyond that
 * the oldest rows are dropped and counted (holotwin_upstream_dropped_total).
 * Why not the Mosquitto bridge measured in ../shared/recipes/scaleout:
 * its QoS 1 queue lives in the broker's memory between autosaves and the
 * recipe lost messages when a cluster node died unless every setting was
 * right; a publish ack from JetStream (stored on a quorum of the replicas)
 * is the only point where this outbox may forget a record.
 */
#include "gateway/upstream/upstream.h"
#include "gateway/alarms/alarms.h"
#include "gateway/apps/apps.h"
#include "gateway/auth/auth.h"
#include "gateway/jobs/jobs.h"
#include "gateway/metrics/metrics.h"
#include "gateway/sse/sse.h"
#include "gateway/twinglue/twinglue.h"

#include "ht_err.h"
#include "ht_id.h"
#include "ht_json.h"
#include "ht_log.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <nats/nats.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define MOD "upstream"
#define UP_BATCH 256             /* rows published before waiting for acks */
#define UP_ACK_WAIT_MS 5000      /* a batch's acks, then it is retried */
#define UP_BACKOFF_MS 250        /* after a failed batch or stream check */
#define UP_QUEUE_MAX 200000      /* records in memory before the outbox */
#define UP_SAMPLES_MAX 65536     /* direct samples waiting for the sender */
#define UP_DUP_WINDOW_S 600      /* the stream's Nats-Msg-Id window */
#define UP_FIRST_CONNECT_MS 2000 /* a new connection's time to come up */
#define UP_REOPEN_MS 5000        /* down this long: a new connection */

struct up_rec {
    char *subject;
    char *data;
    size_t len;
    int64_t eid, aid; /* the SSE event or audit record it came from, or 0 */
};

struct gw_upstream {
    struct ht_gw *g;
    char prefix[160]; /* "site.{site}.cell.{cell}" */
    char site[65], cell[65];
    char epoch[17];
    sqlite3 *db; /* the sender thread's once started */
    sqlite3_stmt *ins, *sel, *del, *cur;
    int64_t max_backlog;
    /* What the outbox holds of the store's logs (meta "event_cursor" and
     * "audit_cursor", written with the rows): every forwarded SSE event up
     * to ev_cursor, every audit record up to au_cursor. A start forwards
     * what lies beyond (a crash, a full queue, events of the start-up). */
    int64_t ev_cursor, au_cursor;
    pthread_mutex_t mu; /* everything below up to the thread */
    pthread_cond_t cv;
    struct up_rec *q;
    size_t nq, capq;
    /* upstream.values_mode "direct": samples for a plain publish, outside
     * the outbox and its sequence. */
    bool direct;
    struct up_rec *vq;
    size_t nvq, capvq;
    bool stop, conn_event, busy, tap_on;
    /* Audit records seen live before the start's catch-up read the store
     * (skipped by it), then the highest id that read returned (live
     * records up to it are duplicates). */
    bool au_caught_up;
    int64_t au_floor;
    int64_t *au_seen;
    size_t n_au_seen, cap_au_seen;
    int64_t backlog, backlog_bytes; /* rows and bytes in the outbox */
    pthread_t th;
    bool running;
    /* Sender thread only. */
    natsOptions *opts;
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *cmd_sub; /* cmd.{prefix} (upstream.commands): outside
                                  the stream, which would ack them */
    bool stream_ok;
    /* libnats (3.4) retries a first connection that a server accepted and
     * then closed, but never succeeds afterwards: a connection that has
     * not come up within UP_FIRST_CONNECT_MS is opened again. */
    bool ever_up; /* (mu) this connection has been connected */
    /* (mu) when this connection went down (0: up, or never up). Once a
     * cell stayed down 27 s after the relay in front of the cluster came
     * back (libnats 3.4's reconnect suspected, not proven): a connection
     * down for UP_REOPEN_MS is replaced, whatever the cause. */
    int64_t down_ms;
    int64_t opened_ms;
    /* Acks of the batch in flight (libnats' thread writes, under amu). */
    pthread_mutex_t amu;
    int64_t batch_first;
    size_t batch_n, nfail;
    bool acked[UP_BATCH];
};

int gw__upstream_token(const char *id, char *out, size_t outlen)
{
    size_t n = id ? strlen(id) : 0;
    if (!n || n >= outlen)
        return HT_EINVAL;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (c == '.')
            c = '=';
        else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '='))
            c = '_';
        out[i] = c;
    }
    out[n] = '\0';
    return HT_OK;
}

/* The metrics the sender owns, copied under the metrics lock (mu held). */
static void metrics_backlog(struct gw_upstream *u)
{
    struct gw_metrics *m = u->g->metrics;
    pthread_mutex_lock(&m->mu);
    m->up_backlog = (uint64_t)u->backlog;
    m->up_backlog_bytes = (uint64_t)u->backlog_bytes;
    pthread_mutex_unlock(&m->mu);
}

static void metrics_add(struct gw_upstream *u, uint64_t *c, uint64_t n)
{
    pthread_mutex_lock(&u->g->metrics->mu);
    *c += n;
    pthread_mutex_unlock(&u->g->metrics->mu);
}

/* ---- the outbox (sender thread, or the loop before it starts) ---- */

static int db_fail(struct gw_upstream *u, const char *what, char *err,
                   size_t errlen)
{
    const char *m = u->db ? sqlite3_errmsg(u->db) : "out of memory";
    if (err)
        snprintf(err, errlen, "upstream outbox: %s: %s", what, m);
    ht_log(LOG_ERR, MOD, "outbox: %s: %s", what, m);
    return HT_EDB;
}

/* Open DATA_DIR/upstream.db: its own file (not holotwin.db) so that the
 * outbox's churn never competes with the store's writer and a cell can
 * drop its backlog without touching its history. synchronous=FULL: a row
 * handed to the outbox survives a power cut. */
static int outbox_open(struct gw_upstream *u, const char *dir, char *err,
                       size_t errlen)
{
    char *path = ht_asprintf("%s/upstream.db", dir);
    int rc = sqlite3_open_v2(
        path, &u->db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    free(path);
    if (rc != SQLITE_OK)
        return db_fail(u, "open", err, errlen);
    sqlite3_busy_timeout(u->db, 5000);
    if (sqlite3_exec(u->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER "
                     "PRIMARY KEY AUTOINCREMENT, subject TEXT NOT NULL, "
                     "data BLOB NOT NULL);"
                     "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, "
                     "v TEXT NOT NULL);",
                     NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(u, "schema", err, errlen);
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(u->db, "SELECT v FROM meta WHERE k='epoch'", -1, &st,
                       NULL);
    if (st && sqlite3_step(st) == SQLITE_ROW)
        ht_strlcpy(u->epoch, (const char *)sqlite3_column_text(st, 0),
                   sizeof u->epoch);
    sqlite3_finalize(st);
    if (!u->epoch[0]) {
        uint64_t r = 0;
        if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
            r = (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
        snprintf(u->epoch, sizeof u->epoch, "%016" PRIx64, r);
        char *sql = sqlite3_mprintf(
            "INSERT INTO meta (k, v) VALUES ('epoch', %Q)", u->epoch);
        rc = sqlite3_exec(u->db, sql, NULL, NULL, NULL);
        sqlite3_free(sql);
        if (rc != SQLITE_OK)
            return db_fail(u, "epoch", err, errlen);
    }
    st = NULL;
    sqlite3_prepare_v2(u->db,
                       "SELECT COUNT(*), TOTAL(LENGTH(data)) FROM outbox", -1,
                       &st, NULL);
    if (st && sqlite3_step(st) == SQLITE_ROW) {
        u->backlog = sqlite3_column_int64(st, 0);
        u->backlog_bytes = (int64_t)sqlite3_column_double(st, 1);
    }
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(u->db,
                           "INSERT INTO outbox (subject, data) VALUES (?,?)",
                           -1, &u->ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(u->db,
                           "SELECT seq, subject, data FROM outbox "
                           "ORDER BY seq LIMIT ?",
                           -1, &u->sel, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(u->db, "DELETE FROM outbox WHERE seq <= ?", -1,
                           &u->del, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(u->db,
                           "INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)",
                           -1, &u->cur, NULL) != SQLITE_OK)
        return db_fail(u, "prepare", err, errlen);
    return HT_OK;
}

static void cursor_put(struct gw_upstream *u, const char *k, int64_t v)
{
    char text[24];
    snprintf(text, sizeof text, "%" PRId64, v);
    sqlite3_bind_text(u->cur, 1, k, -1, SQLITE_STATIC);
    sqlite3_bind_text(u->cur, 2, text, -1, SQLITE_TRANSIENT);
    sqlite3_step(u->cur);
    sqlite3_reset(u->cur);
}

/* Append records to the outbox in one transaction with the cursors, then
 * drop the oldest rows beyond max_backlog (counted). False when the
 * transaction could not be had or committed (the file locked, the disk
 * full): nothing was written and the caller still holds the records. */
static bool outbox_append(struct gw_upstream *u, struct up_rec *r, size_t n)
{
    int64_t bytes = 0, ev = u->ev_cursor, au = u->au_cursor;
    size_t ok = 0;
    if (sqlite3_exec(u->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(u, "begin", NULL, 0);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        ev = r[i].eid > ev ? r[i].eid : ev;
        au = r[i].aid > au ? r[i].aid : au;
        sqlite3_bind_text(u->ins, 1, r[i].subject, -1, SQLITE_STATIC);
        sqlite3_bind_blob(u->ins, 2, r[i].data, (int)r[i].len, SQLITE_STATIC);
        if (sqlite3_step(u->ins) == SQLITE_DONE) {
            ok++;
            bytes += (int64_t)r[i].len;
        }
        sqlite3_reset(u->ins);
    }
    if (ok < n) { /* all or nothing: the cursors cover every record */
        db_fail(u, "insert", NULL, 0);
        sqlite3_exec(u->db, "ROLLBACK", NULL, NULL, NULL);
        return false;
    }
    int64_t over = u->backlog + (int64_t)ok - u->max_backlog, gone = 0;
    int64_t gone_bytes = 0;
    if (over > 0) {
        sqlite3_stmt *st = NULL;
        sqlite3_prepare_v2(u->db,
                           "SELECT COUNT(*), TOTAL(LENGTH(data)) FROM (SELECT "
                           "data FROM outbox ORDER BY seq LIMIT ?)",
                           -1, &st, NULL);
        sqlite3_bind_int64(st, 1, over);
        if (sqlite3_step(st) == SQLITE_ROW) {
            gone = sqlite3_column_int64(st, 0);
            gone_bytes = (int64_t)sqlite3_column_double(st, 1);
        }
        sqlite3_finalize(st);
        st = NULL;
        sqlite3_prepare_v2(u->db,
                           "DELETE FROM outbox WHERE seq IN (SELECT seq FROM "
                           "outbox ORDER BY seq LIMIT ?)",
                           -1, &st, NULL);
        sqlite3_bind_int64(st, 1, over);
        sqlite3_step(st);
        sqlite3_finalize(st);
    }
    if (ev != u->ev_cursor)
        cursor_put(u, "event_cursor", ev);
    if (au != u->au_cursor)
        cursor_put(u, "audit_cursor", au);
    if (sqlite3_exec(u->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(u, "commit", NULL, 0);
        sqlite3_exec(u->db, "ROLLBACK", NULL, NULL, NULL);
        return false;
    }
    u->ev_cursor = ev;
    u->au_cursor = au;
    if (gone) {
        ht_log(LOG_WARNING, MOD,
               "outbox full (%lld records): dropped the %lld oldest",
               (long long)u->max_backlog, (long long)gone);
        metrics_add(u, &u->g->metrics->up_dropped, (uint64_t)gone);
    }
    pthread_mutex_lock(&u->mu);
    u->backlog += (int64_t)ok - gone;
    u->backlog_bytes += bytes - gone_bytes;
    metrics_backlog(u);
    pthread_mutex_unlock(&u->mu);
    return true;
}

/* ---- queueing (any thread) ---- */

/* Take subject and data (new strings) into the in-memory queue and wake
 * the sender. Beyond UP_QUEUE_MAX (the sender stuck on its disk) the
 * record is dropped and counted rather than growing without bound. */
static void enqueue_take(struct gw_upstream *u, char *subject, char *data,
                         size_t len, int64_t eid, int64_t aid)
{
    if (len > GW_UP_RECORD_MAX) {
        /* The cluster would refuse it (max_payload) and the outbox would
         * retry it for ever: dropped here, counted and logged. */
        ht_log(LOG_ERR, MOD,
               "%s: %zu bytes, above the %d a record may have: dropped",
               subject, len, GW_UP_RECORD_MAX);
        free(subject);
        free(data);
        metrics_add(u, &u->g->metrics->up_oversize, 1);
        metrics_add(u, &u->g->metrics->up_dropped, 1);
        return;
    }
    pthread_mutex_lock(&u->mu);
    if (u->nq >= UP_QUEUE_MAX) {
        pthread_mutex_unlock(&u->mu);
        free(subject);
        free(data);
        metrics_add(u, &u->g->metrics->up_dropped, 1);
        return;
    }
    if (u->nq == u->capq) {
        u->capq = u->capq ? 2 * u->capq : 256;
        u->q = ht_realloc(u->q, u->capq * sizeof *u->q);
    }
    u->q[u->nq++] = (struct up_rec){subject, data, len, eid, aid};
    pthread_cond_signal(&u->cv);
    pthread_mutex_unlock(&u->mu);
    metrics_add(u, &u->g->metrics->up_queued, 1);
}

static void enqueue(struct gw_upstream *u, const char *subject,
                    const char *data, size_t len, int64_t eid)
{
    char *d = ht_malloc(len + 1);
    memcpy(d, data, len);
    d[len] = '\0';
    enqueue_take(u, ht_strdup(subject), d, len, eid, 0);
}

/* A record {prefix}.twin.{twin}.{type} (data taken, new text; eid the
 * SSE event it came from, or 0). */
static void twin_enqueue(struct gw_upstream *u, const char *twin,
                         const char *type, char *data, size_t len, int64_t eid)
{
    char subj[GW_UP_SUBJECT_MAX], a[72];
    int n = -1;
    if (gw__upstream_token(twin, a, sizeof a) == HT_OK)
        n = snprintf(subj, sizeof subj, "%s.twin.%s.%s", u->prefix, a, type);
    if (n <= 0 || (size_t)n >= sizeof subj) {
        free(data);
        return;
    }
    enqueue_take(u, ht_strdup(subj), data, len, eid, 0);
}

/* A "twin" record: the SSE event's data (len bytes, or NULL: a twin
 * present at start, change "present") with what the plant view serves of
 * it: the list entry's title, auto, device, and the document ("doc").
 * Loop thread (the table's snapshots). */
static void twin_record(struct gw_upstream *u, const char *twin,
                        const char *data, size_t len, int64_t eid)
{
    json_t *o = data ? json_loadb(data, len, 0, NULL) : NULL;
    if (!o)
        o = json_pack("{ss ss sI}", "twin", twin, "change", "present", "ts",
                      (json_int_t)gw__now_ms(u->g));
    const char *change = json_string_value(json_object_get(o, "change"));
    json_t *info =
        change && strcmp(change, "removed") ? gw__twin_info(u->g, twin) : NULL;
    if (info) {
        static const char *const keys[] = {"title", "auto", "device",
                                           "version"};
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
            if (json_object_get(info, keys[i]))
                json_object_set(o, keys[i], json_object_get(info, keys[i]));
        json_t *doc = gw__twin_doc(u->g, twin);
        if (doc)
            json_object_set_new(o, "doc", doc);
        json_decref(info);
    }
    size_t n = 0;
    char *text = ht_json_dumps(o, false, &n);
    json_decref(o);
    twin_enqueue(u, twin, "twin", text, n, eid);
}

/* The twin glue's uplink subscriber (loop thread): changed descriptors
 * with their document, state snapshots. */
static void on_descriptor(struct ht_gw *g, const char *twin, const char *target,
                          const char *etag, int version, const char *doc,
                          size_t len, void *ud)
{
    struct gw_upstream *u = ud;
    size_t n = 0;
    bool omitted = false;
    char *text =
        gw__upstream_desc_record(twin, target, etag, version, gw__now_ms(g),
                                 doc, len, GW_UP_RECORD_MAX, &n, &omitted);
    if (omitted) {
        ht_log(LOG_ERR, MOD,
               "%s: %s descriptor of %zu bytes is above the %d a record may "
               "have: sent without its document",
               twin, target, len, GW_UP_RECORD_MAX);
        metrics_add(u, &g->metrics->up_oversize, 1);
    }
    twin_enqueue(u, twin, "descriptor", text, n, 0);
}

static void on_state(struct ht_gw *g, const char *twin, const char *state,
                     size_t len, void *ud)
{
    (void)g;
    char *d = ht_malloc(len + 1);
    memcpy(d, state, len);
    d[len] = '\0';
    twin_enqueue(ud, twin, "snapshot", d, len, 0);
}

char *gw__upstream_desc_record(const char *twin, const char *target,
                               const char *etag, int version, int64_t ts,
                               const char *doc, size_t len, size_t max,
                               size_t *outlen, bool *omitted)
{
    json_t *o =
        json_pack("{ss ss ss si sI}", "twin", twin, "target", target, "etag",
                  etag, "version", version, "ts", (json_int_t)ts);
    /* The document as a JSON string: the plant serves the cell's bytes
     * (and ETag) unchanged. */
    json_object_set_new(o, "document", json_stringn(doc, len));
    char *text = ht_json_dumps(o, false, outlen);
    *omitted = false;
    if (*outlen > max) {
        free(text);
        json_object_del(o, "document");
        json_object_set_new(o, "omitted", json_string("too_large"));
        json_object_set_new(o, "size", json_integer((json_int_t)len));
        text = ht_json_dumps(o, false, outlen);
        *omitted = true;
    }
    json_decref(o);
    return text;
}

/* A value sample for a plain publish (upstream.values_mode "direct"):
 * queued for the sender, which publishes it without an ack when the uplink
 * is up and drops it (counted) when it is not. A full queue drops the
 * sample at once: samples are QoS 0, the outbox's records are not. */
static void sample_take(struct gw_upstream *u, const char *subject,
                        const char *data, size_t len)
{
    pthread_mutex_lock(&u->mu);
    if (u->nvq >= UP_SAMPLES_MAX) {
        pthread_mutex_unlock(&u->mu);
        metrics_add(u, &u->g->metrics->up_samples_dropped, 1);
        return;
    }
    if (u->nvq == u->capvq) {
        u->capvq = u->capvq ? 2 * u->capvq : 256;
        u->vq = ht_realloc(u->vq, u->capvq * sizeof *u->vq);
    }
    char *d = ht_malloc(len + 1);
    memcpy(d, data, len);
    d[len] = '\0';
    u->vq[u->nvq++] = (struct up_rec){ht_strdup(subject), d, len, 0, 0};
    pthread_cond_signal(&u->cv);
    pthread_mutex_unlock(&u->mu);
}

/* The SSE tap (loop thread): twin events go up as
 * {prefix}.twin.{twin}.{type}; value samples, when configured, as
 * {prefix}.device.{dev}.value.{prop}; the rest stays in the cell. */
static void on_event(void *ud, int64_t id, int64_t ts, const char *type,
                     const char *dev, const char *prop, const char *twin,
                     const char *data, size_t dlen)
{
    (void)ts;
    struct gw_upstream *u = ud;
    char subj[GW_UP_SUBJECT_MAX], a[72], b[72], t[40];
    int n = -1;
    if (gw__upstream_token(type, t, sizeof t))
        return;
    if (twin && !strcmp(type, "descriptor"))
        return; /* on_descriptor sent it, with the document */
    if (twin && !strcmp(type, "twin")) {
        twin_record(u, twin, data, dlen, id);
        return;
    }
    if (twin) {
        if (gw__upstream_token(twin, a, sizeof a) == HT_OK)
            n = snprintf(subj, sizeof subj, "%s.twin.%s.%s", u->prefix, a, t);
    } else if (dev && prop && !strcmp(type, "state") && u->g->conf->up_values) {
        if (gw__upstream_token(dev, a, sizeof a) == HT_OK &&
            gw__upstream_token(prop, b, sizeof b) == HT_OK)
            n = snprintf(subj, sizeof subj, "%s.device.%s.value.%s", u->prefix,
                         a, b);
    }
    if (n > 0 && (size_t)n < sizeof subj) {
        if (!twin && u->direct)
            sample_take(u, subj, data, dlen);
        else
            enqueue(u, subj, data, dlen, id);
    }
}

/* Queue audit record id (a borrowed) as its JSON text. */
static void audit_enqueue(struct gw_upstream *u, int64_t id,
                          const struct ht_store_audit *a)
{
    json_t *o =
        json_pack("{sI sI}", "id", (json_int_t)id, "ts", (json_int_t)a->ts);
    const char *keys[] = {"actor",  "action", "device",
                          "target", "result", "command_id"};
    const char *vals[] = {a->actor,  a->action, a->device,
                          a->target, a->result, a->command_id};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (vals[i])
            json_object_set_new(o, keys[i], json_string(vals[i]));
    if (a->value) {
        json_t *v = json_loads(a->value, JSON_DECODE_ANY, NULL);
        json_object_set_new(o, "value", v ? v : json_string(a->value));
    }
    json_object_set_new(o, "status", json_integer(a->status));
    json_object_set_new(o, "latency_ms", json_integer(a->latency_ms));
    if (a->command_id) {
        json_object_set_new(o, "sent", json_integer(a->sent));
        json_object_set_new(o, "deadline", json_integer(a->deadline));
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text)
        return;
    char subj[GW_UP_SUBJECT_MAX];
    snprintf(subj, sizeof subj, "%s.audit", u->prefix);
    enqueue_take(u, ht_strdup(subj), text, strlen(text), 0, id);
}

/* Before the start's catch-up, every live record is queued and noted (the
 * catch-up skips it); after it, those the catch-up already queued are
 * skipped. */
void gw__upstream_audit(struct gw_upstream *u, int64_t id,
                        const struct ht_store_audit *a)
{
    if (!u)
        return;
    pthread_mutex_lock(&u->mu);
    bool dup = u->au_caught_up && id <= u->au_floor;
    if (!u->au_caught_up) {
        if (u->n_au_seen == u->cap_au_seen) {
            u->cap_au_seen = u->cap_au_seen ? 2 * u->cap_au_seen : 16;
            u->au_seen =
                ht_realloc(u->au_seen, u->cap_au_seen * sizeof *u->au_seen);
        }
        u->au_seen[u->n_au_seen++] = id;
    }
    pthread_mutex_unlock(&u->mu);
    if (!dup)
        audit_enqueue(u, id, a);
}

/* ---- NATS (sender thread and libnats' threads) ---- */

static int64_t mono_ms(void);

static void wake_conn(struct gw_upstream *u, int up)
{
    pthread_mutex_lock(&u->mu);
    if (up) {
        u->ever_up = true;
        u->down_ms = 0;
    } else if (u->ever_up && !u->down_ms) {
        u->down_ms = mono_ms();
    }
    pthread_mutex_unlock(&u->mu);
    pthread_mutex_lock(&u->g->metrics->mu);
    u->g->metrics->up_connected = up;
    pthread_mutex_unlock(&u->g->metrics->mu);
    pthread_mutex_lock(&u->mu);
    u->conn_event = true;
    pthread_cond_signal(&u->cv);
    pthread_mutex_unlock(&u->mu);
}

static void on_connected(natsConnection *nc, void *ud)
{
    char url[256] = "";
    natsConnection_GetConnectedUrl(nc, url, sizeof url);
    ht_log(LOG_NOTICE, MOD, "connected to %s", url);
    wake_conn(ud, 1);
}

static void on_disconnected(natsConnection *nc, void *ud)
{
    (void)nc;
    struct gw_upstream *u = ud;
    ht_log(LOG_WARNING, MOD, "uplink down: records wait in the outbox");
    metrics_add(u, &u->g->metrics->up_disconnects, 1);
    wake_conn(u, 0);
}

static void on_closed(natsConnection *nc, void *ud)
{
    (void)nc;
    wake_conn(ud, 0);
}

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus s,
                     void *ud)
{
    (void)nc;
    (void)sub;
    (void)ud;
    ht_log(LOG_WARNING, MOD, "NATS: %s", natsStatus_GetText(s));
}

/* libnats' thread: the ack (or failure) of one message of the batch in
 * flight, found by its Ht-Seq header. */
static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae,
                   void *ud)
{
    (void)js;
    struct gw_upstream *u = ud;
    const char *sq = NULL;
    natsMsgHeader_Get(msg, "Ht-Seq", &sq);
    int64_t seq = sq ? strtoll(sq, NULL, 10) : -1;
    pthread_mutex_lock(&u->amu);
    if (seq >= u->batch_first && seq < u->batch_first + (int64_t)u->batch_n) {
        if (pa && !pae)
            u->acked[seq - u->batch_first] = true;
        else
            u->nfail++;
    }
    pthread_mutex_unlock(&u->amu);
    if (pae)
        ht_log(LOG_INFO, MOD, "publish of record %s failed: %s (%d %s)",
               sq ? sq : "?", natsStatus_GetText(pae->Err), (int)pae->ErrCode,
               pae->ErrText ? pae->ErrText : "");
    natsMsg_Destroy(msg);
}

/* Split upstream.url ("a,b,c") into libnats' server list. */
static int set_servers(natsOptions *o, const char *urls)
{
    char *copy = ht_strdup(urls), *save = NULL;
    const char *v[16];
    int n = 0;
    for (char *tok = strtok_r(copy, ", ", &save); tok && n < 16;
         tok = strtok_r(NULL, ", ", &save))
        v[n++] = tok;
    natsStatus s = n ? natsOptions_SetServers(o, v, n) : NATS_INVALID_ARG;
    free(copy);
    return s == NATS_OK ? HT_OK : HT_EINVAL;
}

int gw__upstream_nats_options(const struct ht_gw_conf *c, const char *name,
                              natsOptions **out, char *err, size_t errlen)
{
    *out = NULL;
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK && set_servers(o, c->up_url) != HT_OK)
        s = NATS_INVALID_ARG;
    if (s == NATS_OK && c->up_username && *c->up_username)
        s = natsOptions_SetUserInfo(o, c->up_username,
                                    c->up_password ? c->up_password : "");
    if (s == NATS_OK && c->up_cafile && *c->up_cafile) {
        s = natsOptions_SetSecure(o, true);
        if (s == NATS_OK)
            s = natsOptions_LoadCATrustedCertificates(o, c->up_cafile);
    }
    if (s == NATS_OK)
        s = natsOptions_SetName(o, name);
    if (s == NATS_OK) /* the servers in the order given: nearest first */
        s = natsOptions_SetNoRandomize(o, true);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, INT_MAX); /* forever */
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(o, 250);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectJitter(o, 100, 100);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(o, 2000);
    if (s == NATS_OK)
        s = natsOptions_SetPingInterval(o, 5000);
    if (s == NATS_OK)
        s = natsOptions_SetMaxPingsOut(o, 2);
    if (s == NATS_OK && c->up_ignore_discovered)
        s = natsOptions_SetIgnoreDiscoveredServers(o, true);
    if (s != NATS_OK) {
        snprintf(err, errlen, "upstream: %s (upstream.url '%s')",
                 natsStatus_GetText(s), c->up_url ? c->up_url : "");
        natsOptions_Destroy(o);
        return HT_EINVAL;
    }
    *out = o;
    return HT_OK;
}

/* The options of the one connection: the common ones (reconnect forever,
 * quickly: a cell that lost a cluster node moves to another at once;
 * pings every 5 s so a silent network cut is noticed within 15 s) plus
 * this module's callbacks; connecting itself never blocks start-up
 * (RetryOnFailedConnect). */
static int make_opts(struct gw_upstream *u, char *err, size_t errlen)
{
    natsOptions *o = NULL;
    int rc = gw__upstream_nats_options(u->g->conf, u->prefix, &o, err, errlen);
    if (rc != HT_OK)
        return rc;
    natsStatus s =
        natsOptions_SetRetryOnFailedConnect(o, true, on_connected, u);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(o, on_connected, u);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(o, on_disconnected, u);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(o, on_closed, u);
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(o, on_error, u);
    if (s != NATS_OK) {
        snprintf(err, errlen, "upstream: %s", natsStatus_GetText(s));
        natsOptions_Destroy(o);
        return HT_EINVAL;
    }
    u->opts = o;
    return HT_OK;
}

static bool connected(struct gw_upstream *u)
{
    return u->nc && natsConnection_Status(u->nc) == NATS_CONN_STATUS_CONNECTED;
}

bool gw__upstream_stream_ensure(jsCtx *js, const struct ht_gw_conf *c)
{
    jsStreamInfo *si = NULL;
    jsErrCode je = 0;
    natsStatus s = js_GetStreamInfo(&si, js, c->up_stream, NULL, &je);
    if (s == NATS_OK) {
        jsStreamInfo_Destroy(si);
        return true;
    }
    if (s != NATS_NOT_FOUND) {
        ht_log(LOG_INFO, MOD, "stream %s: %s (%d)", c->up_stream,
               natsStatus_GetText(s), (int)je);
        return false;
    }
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char *subjects[] = {"site.>"};
    cfg.Name = c->up_stream;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = c->up_replicas;
    cfg.Duplicates = (int64_t)UP_DUP_WINDOW_S * 1000000000LL;
    s = js_AddStream(&si, js, &cfg, NULL, &je);
    if (s == NATS_OK) {
        ht_log(LOG_NOTICE, MOD, "created stream %s (replicas %d)", c->up_stream,
               c->up_replicas);
        jsStreamInfo_Destroy(si);
        return true;
    }
    ht_log(LOG_WARNING, MOD, "cannot create stream %s: %s (%d)", c->up_stream,
           natsStatus_GetText(s), (int)je);
    return false;
}

/* Publish the oldest rows (at most UP_BATCH) and forget the acknowledged
 * prefix. Returns true when the whole batch was acknowledged. */
static bool send_batch(struct gw_upstream *u)
{
    int64_t rowbytes[UP_BATCH] = {0};
    sqlite3_bind_int(u->sel, 1, UP_BATCH);
    size_t n = 0;
    int64_t first = -1;
    pthread_mutex_lock(&u->amu);
    memset(u->acked, 0, sizeof u->acked);
    u->nfail = 0;
    u->batch_n = 0;
    pthread_mutex_unlock(&u->amu);
    bool sent_all = true;
    while (sqlite3_step(u->sel) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(u->sel, 0);
        if (first < 0) {
            first = seq;
            pthread_mutex_lock(&u->amu);
            u->batch_first = seq;
            u->batch_n = UP_BATCH;
            pthread_mutex_unlock(&u->amu);
        }
        if (seq - first >= UP_BATCH)
            break;
        const char *subj = (const char *)sqlite3_column_text(u->sel, 1);
        const void *data = sqlite3_column_blob(u->sel, 2);
        int len = sqlite3_column_bytes(u->sel, 2);
        rowbytes[seq - first] = len;
        if (u->nc && (int64_t)len + 512 > natsConnection_GetMaxPayload(u->nc)) {
            /* The cluster's max_payload is below GW_UP_RECORD_MAX: this
             * row can never be stored; forget it (counted) rather than
             * retry it for ever. */
            ht_log(LOG_ERR, MOD,
                   "%s: %d bytes, above the cluster's "
                   "max_payload: dropped",
                   subj, len);
            metrics_add(u, &u->g->metrics->up_oversize, 1);
            metrics_add(u, &u->g->metrics->up_dropped, 1);
            pthread_mutex_lock(&u->amu);
            u->acked[seq - first] = true;
            pthread_mutex_unlock(&u->amu);
            n = (size_t)(seq - first) + 1;
            continue;
        }
        natsMsg *m = NULL;
        char id[64], sq[24];
        snprintf(id, sizeof id, "%s-%" PRId64, u->epoch, seq);
        snprintf(sq, sizeof sq, "%" PRId64, seq);
        natsStatus s = natsMsg_Create(&m, subj, NULL, data, len);
        if (s == NATS_OK)
            s = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
        if (s == NATS_OK)
            s = natsMsgHeader_Set(m, "Ht-Seq", sq);
        if (s == NATS_OK)
            s = natsMsgHeader_Set(m, "Ht-Epoch", u->epoch);
        if (s == NATS_OK)
            s = js_PublishMsgAsync(u->js, &m, NULL);
        natsMsg_Destroy(m); /* NULL when libnats took it */
        if (s != NATS_OK) {
            sent_all = false;
            break;
        }
        n = (size_t)(seq - first) + 1;
    }
    sqlite3_reset(u->sel);
    if (first < 0)
        return true;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = UP_ACK_WAIT_MS;
    natsStatus s = js_PublishAsyncComplete(u->js, &po);
    if (s != NATS_OK) {
        /* Acks that did not come: forget the messages, the rows stay. */
        natsMsgList pl = {0};
        if (js_PublishAsyncGetPendingList(&pl, u->js) == NATS_OK)
            natsMsgList_Destroy(&pl);
        sent_all = false;
    }
    pthread_mutex_lock(&u->amu);
    size_t prefix = 0;
    while (prefix < n && u->acked[prefix])
        prefix++;
    bool failed = u->nfail > 0;
    u->batch_n = 0;
    pthread_mutex_unlock(&u->amu);
    if (prefix) {
        sqlite3_bind_int64(u->del, 1, first + (int64_t)prefix - 1);
        int rc = sqlite3_step(u->del);
        sqlite3_reset(u->del);
        if (rc != SQLITE_DONE)
            db_fail(u, "delete", NULL, 0);
        int64_t bytes = 0;
        for (size_t i = 0; i < prefix; i++)
            bytes += rowbytes[i];
        pthread_mutex_lock(&u->mu);
        u->backlog -= (int64_t)prefix;
        u->backlog_bytes -= bytes;
        if (u->backlog <= 0) {
            u->backlog = 0;
            u->backlog_bytes = 0;
        } else if (u->backlog_bytes < 0) {
            u->backlog_bytes = 0;
        }
        metrics_backlog(u);
        pthread_mutex_unlock(&u->mu);
        metrics_add(u, &u->g->metrics->up_forwarded, prefix);
    }
    if (!sent_all || failed || prefix < n) {
        metrics_add(u, &u->g->metrics->up_retries, 1);
        return false;
    }
    return true;
}

/* ---- commands routed here by the plant view (upstream.commands) ---- */

/* The job of a routed command is done and audited here: answer the plant
 * view on its reply subject (loop thread; a NATS publish only buffers). */
static void cmd_done(struct ht_gw *g, struct gw_job *j)
{
    char *reply = j->ud;
    pthread_mutex_lock(&g->jobs->mu);
    json_t *o = json_pack("{si sO?}", "status", j->status, "body", j->body);
    pthread_mutex_unlock(&g->jobs->mu);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    struct gw_upstream *u = g->upstream;
    if (u && text) {
        pthread_mutex_lock(&u->mu);
        if (u->nc)
            natsConnection_PublishString(u->nc, reply, text);
        pthread_mutex_unlock(&u->mu);
    }
    free(text);
    free(reply);
    j->ud = NULL;
    gw__job_unref(g, j);
}

static void cmd_answer(natsConnection *nc, const char *reply, int status,
                       const char *code, const char *detail)
{
    json_t *p = gw__problem(status, code, detail);
    json_object_set_new(p, "code", json_string(code));
    json_t *o = json_pack("{si so}", "status", status, "body", p);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (text)
        natsConnection_PublishString(nc, reply, text);
    free(text);
}

/* libnats' thread: a routed alarm command {"alarm": "TWIN:RULE",
 * "command": VERB, "body": {"note"?, "duration_ms"?}, "actor", "role"}
 * (o, borrowed): the same GW_JOB_ALARM job as POST /api/v1/alarms/...,
 * refused (403) when the caller's role on the plant view is below the
 * route's. Answered when it is done and audited here. */
static void alarm_cmd(struct gw_upstream *u, natsConnection *nc,
                      const char *reply, const json_t *o, const char *actor)
{
    const char *aid = json_string_value(json_object_get(o, "alarm"));
    const char *verb = json_string_value(json_object_get(o, "command"));
    const json_t *body = json_object_get(o, "body");
    enum gw_role have =
        gw__role_parse(json_string_value(json_object_get(o, "role")));
    const char *colon = aid ? strchr(aid, ':') : NULL;
    char twin[HT_ID_MAX + 1], err[200];
    const char *action = NULL;
    json_t *v = NULL;
    enum gw_role need = GW_ROLE_ADMIN;
    int rc = HT_EINVAL;
    snprintf(err, sizeof err,
             "expected {\"alarm\": \"TWIN:RULE\", "
             "\"command\", \"body\"?, \"actor\", \"role\"}");
    if (colon && (size_t)(colon - aid) <= HT_ID_MAX && verb &&
        (!body || json_is_object(body))) {
        snprintf(twin, sizeof twin, "%.*s", (int)(colon - aid), aid);
        rc = ht_id_valid(twin)
                 ? gw__alarms_cmd_parse(verb, colon + 1, body, &action, &v,
                                        &need, err, sizeof err)
                 : HT_EINVAL;
        if (rc == HT_ENOENT)
            snprintf(err, sizeof err, "unknown alarm command \"%.40s\"", verb);
    }
    if (rc) {
        cmd_answer(nc, reply, 400, "bad_request", err);
        return;
    }
    if (have < need) {
        json_decref(v);
        snprintf(err, sizeof err, "%s needs the %s role", verb,
                 gw__role_name(need));
        cmd_answer(nc, reply, 403, "forbidden", err);
        return;
    }
    struct gw_job *j = gw__job_new(GW_JOB_ALARM, twin, actor);
    j->action = action;
    j->value = v;
    j->role = (int)have;
    j->on_complete = cmd_done;
    j->ud = ht_strdup(reply);
    if (gw__jobs_queue(u->g, &j, 1) != HT_OK) {
        cmd_answer(nc, reply, 503, "stopping", "the gateway is stopping");
        free(j->ud);
        j->ud = NULL;
        gw__job_unref(u->g, j);
    }
}

/* libnats' thread: {"device"|"twin", "property", "value", "actor"} from
 * the plant view, run as the same job as a REST write (checked, sent,
 * audited here with actor "plant:ACTOR"), answered when it completes. */
static void on_cmd(natsConnection *nc, natsSubscription *sub, natsMsg *m,
                   void *ud)
{
    (void)sub;
    struct gw_upstream *u = ud;
    const char *reply = natsMsg_GetReply(m);
    char id[HT_ID_MAX + 1], prop[72], err[160], actor[160] = "plant:";
    int kind;
    json_t *value = NULL;
    if (!reply) {
        natsMsg_Destroy(m);
        return;
    }
    json_t *ao = json_loadb(natsMsg_GetData(m),
                            (size_t)natsMsg_GetDataLength(m), 0, NULL);
    if (json_object_get(ao, "alarm")) {
        const char *who = json_string_value(json_object_get(ao, "actor"));
        ht_strlcpy(actor + 6, who ? who : "plant", sizeof actor - 6);
        alarm_cmd(u, nc, reply, ao, actor);
        json_decref(ao);
        natsMsg_Destroy(m);
        return;
    }
    json_decref(ao);
    if (gw__apps_parse_request(natsMsg_GetData(m),
                               (size_t)natsMsg_GetDataLength(m), &kind, id,
                               prop, &value, err, sizeof err) != HT_OK) {
        cmd_answer(nc, reply, 400, "bad_request", err);
        natsMsg_Destroy(m);
        return;
    }
    if (kind == 2) { /* an app's control request: not a plant command */
        cmd_answer(nc, reply, 400, "bad_request",
                   "the plant routes property writes only");
        natsMsg_Destroy(m);
        return;
    }
    json_t *o = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m),
                           0, NULL);
    const char *who = json_string_value(json_object_get(o, "actor"));
    ht_strlcpy(actor + 6, who ? who : "plant", sizeof actor - 6);
    json_decref(o);
    struct gw_job *j =
        gw__job_new(kind ? GW_JOB_TWIN_WRITE : GW_JOB_WRITE, id, actor);
    if (kind)
        ht_strlcpy(j->ref, prop, sizeof j->ref);
    else
        ht_strlcpy(j->prop, prop, sizeof j->prop);
    j->value = value;
    j->on_complete = cmd_done;
    j->ud = ht_strdup(reply);
    if (gw__jobs_queue(u->g, &j, 1) != HT_OK) {
        cmd_answer(nc, reply, 503, "stopping", "the gateway is stopping");
        free(j->ud);
        j->ud = NULL;
        gw__job_unref(u->g, j);
    }
    natsMsg_Destroy(m);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The sender: moves the queue to the outbox, keeps the stream checked and
 * the outbox draining whenever the uplink is up, and waits on u->cv
 * otherwise (records, connection changes, stop), with a timer only while
 * backing off. */
/* Close the connection (sender thread, or after it stopped). The
 * pointers change under u->mu, which cmd_done holds to publish. */
static void uplink_close(struct gw_upstream *u)
{
    if (u->cmd_sub) {
        natsSubscription_Unsubscribe(u->cmd_sub);
        natsSubscription_Destroy(u->cmd_sub);
    }
    jsCtx_Destroy(u->js);
    pthread_mutex_lock(&u->mu);
    natsConnection *nc = u->nc;
    u->nc = NULL;
    u->js = NULL;
    u->cmd_sub = NULL;
    pthread_mutex_unlock(&u->mu);
    if (nc) {
        natsConnection_Close(nc);
        natsConnection_Destroy(nc);
    }
    u->stream_ok = false;
}

/* Connect (sender thread): at once if a server answers, else libnats
 * keeps trying in the background (RetryOnFailedConnect); a connection it
 * gave up on (closed) is opened again by the sender loop. */
static void uplink_open(struct gw_upstream *u)
{
    natsConnection *nc = NULL;
    natsStatus s = natsConnection_Connect(&nc, u->opts);
    if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
        ht_log(LOG_WARNING, MOD, "connect: %s (retrying)",
               natsStatus_GetText(s));
        return;
    }
    jsCtx *js = NULL;
    natsSubscription *sub = NULL;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 3000;
    jo.PublishAsync.MaxPending = UP_BATCH;
    jo.PublishAsync.AckHandler = on_ack;
    jo.PublishAsync.AckHandlerClosure = u;
    if (natsConnection_JetStream(&js, nc, &jo) != NATS_OK)
        ht_log(LOG_ERR, MOD, "JetStream context failed");
    if (u->g->conf->up_commands) {
        char subj[GW_UP_SUBJECT_MAX];
        snprintf(subj, sizeof subj, "cmd.%s", u->prefix);
        natsStatus ss = natsConnection_Subscribe(&sub, nc, subj, on_cmd, u);
        if (ss != NATS_OK)
            ht_log(LOG_ERR, MOD, "commands on %s: %s", subj,
                   natsStatus_GetText(ss));
    }
    pthread_mutex_lock(&u->mu);
    u->nc = nc;
    u->js = js;
    u->cmd_sub = sub;
    u->ever_up = false;
    u->down_ms = 0;
    pthread_mutex_unlock(&u->mu);
    u->opened_ms = mono_ms();
    if (s == NATS_OK) /* the callback is only for a connect that waited */
        on_connected(nc, u);
}

/* Publish direct samples (v, n: taken) without acks on a connected
 * uplink, or drop them (counted). libnats buffers and flushes them. */
static void samples_publish(struct gw_upstream *u, struct up_rec *v, size_t n)
{
    uint64_t sent = 0;
    bool up = u->nc && connected(u);
    for (size_t i = 0; i < n; i++) {
        if (up && natsConnection_Publish(u->nc, v[i].subject, v[i].data,
                                         (int)v[i].len) == NATS_OK)
            sent++;
        free(v[i].subject);
        free(v[i].data);
    }
    free(v);
    metrics_add(u, &u->g->metrics->up_samples_sent, sent);
    metrics_add(u, &u->g->metrics->up_samples_dropped, n - sent);
}

/* Put records the outbox could not take (q, n: taken) back in front of
 * what was queued since, dropping the oldest beyond UP_QUEUE_MAX
 * (counted; the next start still forwards those from the store). */
static void requeue(struct gw_upstream *u, struct up_rec *q, size_t n)
{
    pthread_mutex_lock(&u->mu);
    size_t total = n + u->nq,
           drop = total > UP_QUEUE_MAX ? total - UP_QUEUE_MAX : 0;
    drop = drop < n ? drop : n;
    for (size_t i = 0; i < drop; i++) {
        free(q[i].subject);
        free(q[i].data);
    }
    size_t keep = n - drop;
    if (keep + u->nq > u->capq) {
        u->capq = keep + u->nq;
        u->q = ht_realloc(u->q, u->capq * sizeof *u->q);
    }
    memmove(u->q + keep, u->q, u->nq * sizeof *u->q);
    memcpy(u->q, q + drop, keep * sizeof *q);
    u->nq += keep;
    pthread_mutex_unlock(&u->mu);
    free(q);
    if (drop)
        metrics_add(u, &u->g->metrics->up_dropped, drop);
}

static void *sender_main(void *arg)
{
    struct gw_upstream *u = arg;
    uplink_open(u);
    int64_t reopen_at = mono_ms() + 1000;
    int64_t retry_at = 0, append_at = 0;
    for (;;) {
        pthread_mutex_lock(&u->mu);
        for (;;) {
            bool up = u->js && connected(u);
            int64_t now = mono_ms();
            if (u->stop || (u->nq && now >= append_at) || u->nvq)
                break;
            if (up && now >= retry_at && (!u->stream_ok || u->backlog > 0))
                break;
            u->conn_event = false;
            struct timespec dl;
            clock_gettime(CLOCK_MONOTONIC, &dl);
            int64_t wait = (up && retry_at > now) ? retry_at - now : 1000;
            if (u->nq && append_at - now < wait)
                wait = append_at - now;
            dl.tv_sec += wait / 1000;
            dl.tv_nsec += (wait % 1000) * 1000000;
            if (dl.tv_nsec >= 1000000000) {
                dl.tv_sec++;
                dl.tv_nsec -= 1000000000;
            }
            int w = pthread_cond_timedwait(&u->cv, &u->mu, &dl);
            if (!up && w == ETIMEDOUT)
                break; /* the connection may need opening again */
        }
        struct up_rec *q = u->q, *vq = u->vq;
        size_t nq = u->nq, nvq = u->nvq;
        u->q = NULL;
        u->nq = u->capq = 0;
        u->vq = NULL;
        u->nvq = u->capvq = 0;
        bool stop = u->stop;
        u->busy = nq > 0;
        pthread_mutex_unlock(&u->mu);
        if (nvq)
            samples_publish(u, vq, nvq);
        if (nq && !outbox_append(u, q, nq)) {
            requeue(u, q, nq); /* tried again after a pause */
            append_at = mono_ms() + UP_BACKOFF_MS;
        } else if (nq) {
            for (size_t i = 0; i < nq; i++) {
                free(q[i].subject);
                free(q[i].data);
            }
            free(q);
        }
        pthread_mutex_lock(&u->mu);
        u->busy = false;
        pthread_cond_broadcast(&u->cv);
        pthread_mutex_unlock(&u->mu);
        if (stop)
            break;
        pthread_mutex_lock(&u->mu);
        bool stuck =
            u->nc &&
            ((!u->ever_up && mono_ms() - u->opened_ms >= UP_FIRST_CONNECT_MS) ||
             (u->down_ms && mono_ms() - u->down_ms >= UP_REOPEN_MS));
        pthread_mutex_unlock(&u->mu);
        if ((!u->nc || stuck ||
             natsConnection_Status(u->nc) == NATS_CONN_STATUS_CLOSED) &&
            mono_ms() >= reopen_at) {
            uplink_close(u);
            uplink_open(u);
            reopen_at = mono_ms() + 1000;
        }
        if (!u->js || !connected(u) || mono_ms() < retry_at)
            continue;
        if (!u->stream_ok &&
            !(u->stream_ok = gw__upstream_stream_ensure(u->js, u->g->conf))) {
            retry_at = mono_ms() + UP_BACKOFF_MS;
            continue;
        }
        if (u->backlog > 0 && !send_batch(u))
            retry_at = mono_ms() + UP_BACKOFF_MS;
        pthread_mutex_lock(&u->mu);
        pthread_cond_broadcast(&u->cv);
        pthread_mutex_unlock(&u->mu);
    }
    return NULL;
}

/* ---- life cycle (loop thread) ---- */

int gw__upstream_new(struct ht_gw *g, struct gw_upstream **out, char *err,
                     size_t errlen)
{
    *out = NULL;
    const struct ht_gw_conf *c = g->conf;
    pthread_mutex_lock(&g->metrics->mu);
    g->metrics->up_connected = -1;
    pthread_mutex_unlock(&g->metrics->mu);
    if (!c->up_url || !*c->up_url || c->plant) /* a plant view only reads */
        return HT_OK;
    const char *cell = c->up_cell && *c->up_cell ? c->up_cell : c->gateway_id;
    if (strcmp(c->up_values_mode, "outbox") &&
        strcmp(c->up_values_mode, "direct")) {
        snprintf(err, errlen,
                 "upstream.values_mode '%s': expected \"outbox\" or "
                 "\"direct\"",
                 c->up_values_mode);
        return HT_EINVAL;
    }
    if (!c->up_site || !ht_id_valid(c->up_site) || !ht_id_valid(cell)) {
        snprintf(err, errlen,
                 "upstream.site '%s' and upstream.cell '%s' must be ids "
                 "([a-z0-9][a-z0-9._-]{0,63})",
                 c->up_site ? c->up_site : "", cell ? cell : "");
        return HT_EINVAL;
    }
    bool has_user =
        (c->up_username && *c->up_username) || strchr(c->up_url, '@') != NULL;
    if (!has_user && !c->insecure) {
        snprintf(err, errlen,
                 "upstream.url needs an account: upstream.username and "
                 "upstream.password (or HOLOTWIN_UPSTREAM_USERNAME/_PASSWORD)"
                 "; broker.insecure allows none for development");
        return HT_EINVAL;
    }
    struct gw_upstream *u = ht_calloc(1, sizeof *u);
    u->g = g;
    ht_strlcpy(u->site, c->up_site, sizeof u->site);
    ht_strlcpy(u->cell, cell, sizeof u->cell);
    char ts[72], tc[72];
    gw__upstream_token(u->site, ts, sizeof ts);
    gw__upstream_token(u->cell, tc, sizeof tc);
    snprintf(u->prefix, sizeof u->prefix, "site.%s.cell.%s", ts, tc);
    u->max_backlog = c->up_max_backlog;
    u->direct = !strcmp(c->up_values_mode, "direct");
    pthread_mutex_init(&u->mu, NULL);
    pthread_mutex_init(&u->amu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&u->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = outbox_open(u, c->data_dir, err, errlen);
    if (rc == HT_OK)
        rc = make_opts(u, err, errlen);
    if (rc != HT_OK) {
        gw__upstream_free(u);
        return rc;
    }
    metrics_backlog(u);
    if (!c->up_cafile || !*c->up_cafile)
        ht_log(LOG_WARNING, MOD,
               "uplink without TLS (upstream.cafile unset): use it only on "
               "a trusted plant network");
    ht_log(LOG_NOTICE, MOD, "cell %s of site %s -> %s (outbox: %lld records)",
           u->cell, u->site, c->up_url, (long long)u->backlog);
    *out = u;
    return HT_OK;
}

/* ---- the start's catch-up (loop thread, before the sender starts) ---- */

static bool cursor_get(struct gw_upstream *u, const char *k, int64_t *v)
{
    sqlite3_stmt *st = NULL;
    bool found = false;
    sqlite3_prepare_v2(u->db, "SELECT v FROM meta WHERE k=?", -1, &st, NULL);
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    if (st && sqlite3_step(st) == SQLITE_ROW) {
        *v = strtoll((const char *)sqlite3_column_text(st, 0), NULL, 10);
        found = true;
    }
    sqlite3_finalize(st);
    return found;
}

static int64_t audit_newest(struct ht_store *s)
{
    struct ht_store_audit_query q = {.limit = 1};
    json_t *a = ht_store_audit_list(s, &q);
    int64_t id =
        json_integer_value(json_object_get(json_array_get(a, 0), "id"));
    json_decref(a);
    return id;
}

/* Forward the SSE events beyond the event cursor through the tap's own
 * routing (the twin, device and property read back from each event's
 * data). Returns how many were queued. */
static size_t catch_up_events(struct gw_upstream *u)
{
    size_t n = 0;
    for (int64_t after = u->ev_cursor;;) {
        json_t *a = ht_store_events_since(u->g->store, after, 1000);
        size_t i, len = json_array_size(a);
        json_t *e;
        json_array_foreach(a, i, e)
        {
            after = json_integer_value(json_object_get(e, "id"));
            const char *type = json_string_value(json_object_get(e, "type"));
            const char *text = json_string_value(json_object_get(e, "data"));
            json_t *d = text ? json_loads(text, 0, NULL) : NULL;
            const char *twin = json_string_value(json_object_get(d, "twin"));
            size_t before = u->nq;
            if (type && text)
                on_event(
                    u, after, 0, type,
                    twin ? NULL
                         : json_string_value(json_object_get(d, "device")),
                    twin ? NULL
                         : json_string_value(json_object_get(d, "property")),
                    twin, text, strlen(text));
            n += u->nq > before;
            json_decref(d);
        }
        json_decref(a);
        if (len < 1000)
            return n;
    }
}

/* Forward the audit records beyond the audit cursor that were not seen
 * live meanwhile; from here on, live records up to the newest read are
 * duplicates. Returns how many were queued. */
static size_t catch_up_audit(struct gw_upstream *u)
{
    json_t *all = json_array();
    for (int64_t after = u->au_cursor;;) {
        struct ht_store_audit_query q = {
            .limit = 10000, .after_id = after, .oldest_first = true};
        json_t *a = ht_store_audit_list(u->g->store, &q);
        size_t len = json_array_size(a);
        if (len)
            after = json_integer_value(
                json_object_get(json_array_get(a, len - 1), "id"));
        json_array_extend(all, a);
        json_decref(a);
        if (len < 10000)
            break;
    }
    pthread_mutex_lock(&u->mu);
    size_t i, n = 0;
    json_t *r;
    int64_t floor = u->au_cursor;
    json_array_foreach(all, i, r)
    {
        int64_t id = json_integer_value(json_object_get(r, "id"));
        floor = id > floor ? id : floor;
        bool seen = false;
        for (size_t k = 0; k < u->n_au_seen && !seen; k++)
            seen = u->au_seen[k] == id;
        if (seen)
            json_object_set_new(r, "seen", json_true());
    }
    u->au_floor = floor;
    u->au_caught_up = true;
    free(u->au_seen);
    u->au_seen = NULL;
    u->n_au_seen = u->cap_au_seen = 0;
    pthread_mutex_unlock(&u->mu);
    json_array_foreach(all, i, r)
    {
        if (json_object_get(r, "seen"))
            continue;
#define S(k) json_string_value(json_object_get(r, k))
#define I(k) json_integer_value(json_object_get(r, k))
        struct ht_store_audit a = {
            .ts = I("ts"),
            .actor = S("actor"),
            .action = S("action"),
            .device = S("device"),
            .target = S("target"),
            .value = S("value"),
            .result = S("result"),
            .status = (int)I("status"),
            .latency_ms = I("latency_ms"),
            .command_id = S("command_id"),
            .sent = I("sent"),
            .deadline = I("deadline"),
        };
#undef S
#undef I
        audit_enqueue(u, json_integer_value(json_object_get(r, "id")), &a);
        n++;
    }
    json_decref(all);
    return n;
}

/* The cursors, or on a first start (a new outbox, or one from before
 * they existed) the logs' ends: a cell joining the plant does not send
 * its past. */
static void cursors_load(struct gw_upstream *u)
{
    bool ev = cursor_get(u, "event_cursor", &u->ev_cursor);
    bool au = cursor_get(u, "audit_cursor", &u->au_cursor);
    if (ev && au)
        return;
    ht_store_flush(u->g->store, NULL);
    sqlite3_exec(u->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (!ev)
        cursor_put(u, "event_cursor",
                   u->ev_cursor = ht_store_event_max(u->g->store));
    if (!au)
        cursor_put(u, "audit_cursor", u->au_cursor = audit_newest(u->g->store));
    if (sqlite3_exec(u->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(u, "cursors", NULL, 0);
        sqlite3_exec(u->db, "ROLLBACK", NULL, NULL, NULL);
    }
}

int gw__upstream_start(struct gw_upstream *u, char *err, size_t errlen)
{
    if (!u)
        return HT_OK;
    /* What the store holds beyond the cursors, before the tap takes over
     * (both on this thread: no event falls between them). */
    cursors_load(u);
    size_t ne = catch_up_events(u), na = catch_up_audit(u);
    if (ne || na)
        ht_log(LOG_NOTICE, MOD,
               "forwarding %zu events and %zu audit records the outbox had "
               "not taken before the last stop",
               ne, na);
    struct gw_sse_tap tap = {on_event, u};
    gw__sse_tap(u->g, &tap);
    u->tap_on = true;
    char *base = gw__http_base(u->g);
    json_t *hello =
        json_pack("{ss ss ss ss ss sI}", "site", u->site, "cell", u->cell,
                  "gateway", u->g->conf->gateway_id, "version", HT_VERSION,
                  "http", base, "ts", (json_int_t)gw__now_ms(u->g));
    free(base);
    char *text = json_dumps(hello, JSON_COMPACT);
    json_decref(hello);
    char subj[GW_UP_SUBJECT_MAX];
    snprintf(subj, sizeof subj, "%s.hello", u->prefix);
    if (text)
        enqueue_take(u, ht_strdup(subj), text, strlen(text), 0, 0);
    /* The twins there are (their documents, for the plant view); their
     * descriptors and states follow as they are rendered. */
    struct gw_twins_uplink_sub sub = {on_descriptor, on_state, u};
    gw__twins_uplink_subscribe(u->g, &sub);
    json_t *ids = gw__twin_ids(u->g);
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
        twin_record(u, json_string_value(id), NULL, 0, 0);
    json_decref(ids);
    int rc = -pthread_create(&u->th, NULL, sender_main, u);
    if (rc) {
        snprintf(err, errlen, "upstream thread: %s", ht_strerror(rc));
        return rc;
    }
    u->running = true;
    return HT_OK;
}

bool gw__upstream_drained(struct gw_upstream *u, int timeout_ms)
{
    if (!u)
        return true;
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (dl.tv_nsec >= 1000000000) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&u->mu);
    int rc = 0;
    while ((u->nq || u->busy || u->backlog > 0) && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&u->cv, &u->mu, &dl);
    bool done = !u->nq && !u->busy && u->backlog <= 0;
    pthread_mutex_unlock(&u->mu);
    return done;
}

void gw__upstream_stop(struct gw_upstream *u)
{
    if (!u)
        return;
    if (u->tap_on) {
        gw__sse_tap(u->g, NULL);
        gw__twins_uplink_subscribe(u->g, NULL);
        u->tap_on = false;
    }
    if (u->running) {
        pthread_mutex_lock(&u->mu);
        u->stop = true;
        pthread_cond_signal(&u->cv);
        pthread_mutex_unlock(&u->mu);
        pthread_join(u->th, NULL);
        u->running = false;
    }
    if (u->nq) { /* queued after the sender stopped (or never started) */
        if (!outbox_append(u, u->q, u->nq)) /* the next start has them */
            metrics_add(u, &u->g->metrics->up_dropped, u->nq);
        for (size_t i = 0; i < u->nq; i++) {
            free(u->q[i].subject);
            free(u->q[i].data);
        }
        u->nq = 0;
    }
    uplink_close(u);
}

void gw__upstream_free(struct gw_upstream *u)
{
    if (!u)
        return;
    gw__upstream_stop(u);
    /* libnats' own threads and caches (one upstream per process): its
     * callback thread may still be running on_disconnected/on_closed for
     * the connection just closed, so u lives until every thread is gone. */
    nats_CloseAndWait(2000);
    natsOptions_Destroy(u->opts);
    sqlite3_finalize(u->ins);
    sqlite3_finalize(u->sel);
    sqlite3_finalize(u->del);
    sqlite3_finalize(u->cur);
    if (u->db)
        sqlite3_close(u->db);
    free(u->q);
    free(u->au_seen);
    for (size_t i = 0; i < u->nvq; i++) {
        free(u->vq[i].subject);
        free(u->vq[i].data);
    }
    free(u->vq);
    pthread_cond_destroy(&u->cv);
    pthread_mutex_destroy(&u->mu);
    pthread_mutex_destroy(&u->amu);
    free(u);
}
