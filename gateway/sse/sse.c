/* sse.c - the real-time event log behind GET /api/v1/events and the
 * per-property observe streams.
 *
 * The loop appends events to a bounded in-memory ring (and, batched, to the
 * store's events table); each SSE client is a libmicrohttpd content reader
 * that copies the events after its last id out of the ring under ev_mu, or
 * suspends its connection when there are none. Appending resumes the
 * suspended ones, so nothing polls. A client that fell behind the ring (or
 * resumes with an old Last-Event-ID) is served from the store first, so a
 * reconnect sees no gap.
 */
#include "gateway/sse/sse.h"
#include "gateway/store/store.h"

#include "ht_err.h"
#include "ht_json.h"
#include "ht_log.h"
#include "ht_loop.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MOD "sse"
#define SSE_BLOCK 32768

struct gw_ev {
    int64_t id;
    int64_t ts;
    char *blob; /* the one allocation the strings below point into */
    char *type;
    char *dev; /* for filters, may be NULL */
    char *prop;
    char *twin;
    /* The event as every stream sends it, formatted once when appended:
     * named ("event:", "id:", "data:") and, for state events, the unnamed
     * frame of observe streams (just the value). */
    char *frame;
    size_t flen;
    char *oframe; /* NULL unless a state event */
    size_t oflen;
    size_t bytes; /* the blob's size */
};

struct gw_sse {
    struct gw_sse *next;
    struct ht_gw *g;
    struct MHD_Connection *conn;
    int64_t last_id;
    bool observe; /* per-property stream: unnamed data: events */
    /* Twin streams for WoT consumers (gw__sse_response_twin): unnamed
     * data: events picked from the twin's events, with ref the value of
     * one property from "state" events, else the data of evtype's. */
    bool pick;
    char ref[72], evtype[24];
    bool suspended;
    bool ping;
    char dev[65], prop[33], twin[200]; /* twin: a plant id too (plant.h) */
    char owner[160]; /* the token ("name:id") holding it, or "" */
    json_t *backlog; /* events loaded from the store, array */
    size_t bl_pos;
    char *out; /* formatted bytes not yet handed to MHD */
    size_t out_len, out_off, out_cap;
};

struct gw_sse_log {
    pthread_mutex_t mu;
    struct gw_ev *ring;
    size_t ring_cap, ring_len, ring_head; /* head = index of the oldest */
    /* Bytes of the events in the ring, bounded by events.ring_kb: large
     * values cannot inflate it beyond that (the oldest go first; streams
     * behind the ring read the store). */
    size_t ring_bytes, ring_max_bytes;
    int64_t last_eid;
    struct gw_sse *sse;
    size_t nsse;
    bool closed;
    bool wake; /* events appended since the streams were last woken */
    struct ht_prepare *prepare;
    struct gw_sse_tap tap;          /* loop thread only */
    struct MHD_Connection **resume; /* on_prepare's, loop thread only */
    size_t resume_cap;
};

static void ev_clear(struct gw_ev *e)
{
    free(e->blob);
    memset(e, 0, sizeof *e);
}

/* Resume every suspended stream (ev_mu held). */
static void wake_all(struct ht_gw *g)
{
    for (struct gw_sse *c = g->log->sse; c; c = c->next)
        if (c->suspended) {
            c->suspended = false;
            MHD_resume_connection(c->conn);
        }
}

/* Before the loop polls again: one wake-up for every event this iteration
 * appended (a resume is a write to MHD's wake-up pipe). The streams are
 * resumed after ev_mu is released: libmicrohttpd's thread, woken by the
 * write, would otherwise run at once and block on ev_mu in sse_read while
 * the loop waits for a CPU to release it (make bench, 10,000 values/s: a
 * futex wait per wake-up, and 3-9 ms stalls whenever the store's writer
 * had the other core). A suspended connection is not closed by
 * libmicrohttpd until it is resumed, so it outlives the unlock; streams
 * are freed on its thread (sse_free), and the daemon is stopped on this
 * one. */
static void on_prepare(struct ht_prepare *p, void *ud)
{
    (void)p;
    struct ht_gw *g = ud;
    struct gw_sse_log *log = g->log;
    if (!log->wake)
        return;
    size_t n = 0;
    pthread_mutex_lock(&log->mu);
    log->wake = false;
    if (log->resume_cap < log->nsse) {
        log->resume_cap = log->nsse + 16;
        log->resume =
            ht_realloc(log->resume, log->resume_cap * sizeof *log->resume);
    }
    for (struct gw_sse *c = log->sse; c && n < log->resume_cap; c = c->next)
        if (c->suspended) {
            c->suspended = false;
            log->resume[n++] = c->conn;
        }
    pthread_mutex_unlock(&log->mu);
    for (size_t i = 0; i < n; i++)
        MHD_resume_connection(log->resume[i]);
}

int gw__sse_init(struct ht_gw *g)
{
    g->log = ht_calloc(1, sizeof *g->log);
    pthread_mutex_init(&g->log->mu, NULL);
    g->log->ring_cap = (size_t)g->conf->events_ring;
    g->log->ring_max_bytes = (size_t)g->conf->events_ring_kb << 10;
    g->log->ring = ht_calloc(g->log->ring_cap, sizeof *g->log->ring);
    g->log->last_eid = ht_store_event_max(g->store);
    if (g->loop)
        g->log->prepare = ht_prepare_new(g->loop, on_prepare, g);
    return HT_OK;
}

void gw__sse_clear(struct ht_gw *g)
{
    if (!g->log)
        return;
    ht_prepare_free(g->log->prepare);
    g->log->prepare = NULL;
    for (size_t i = 0; g->log->ring && i < g->log->ring_cap; i++)
        ev_clear(&g->log->ring[i]);
    free(g->log->ring);
    free(g->log->resume);
    pthread_mutex_destroy(&g->log->mu);
    free(g->log);
    g->log = NULL;
}

/* Frames are written with these instead of snprintf: three events per
 * value pass here, and a format string's parsing cost more than the copy. */
static char *cat(char *d, const char *s, size_t n)
{
    memcpy(d, s, n);
    return d + n;
}

#define CAT(d, lit) cat((d), (lit), sizeof(lit) - 1)

static char *cat_i64(char *d, int64_t v)
{
    char tmp[24], *t = tmp + sizeof tmp;
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    do {
        *--t = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--t = '-';
    return cat(d, t, (size_t)(tmp + sizeof tmp - t));
}

/* Copy s (may be NULL) to *p, advancing it; returns the copy or NULL. */
static char *put(char **p, const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *d = *p;
    memcpy(d, s, n);
    d[n] = '\0';
    *p += n + 1;
    return d;
}

void gw__sse_push(struct ht_gw *g, const char *type, const char *dev,
                  const char *prop, const char *twin, const char *value,
                  const char *data, size_t dlen)
{
    /* One allocation per event for its filters and both frames, formatted
     * here once instead of by every stream. Only the loop appends, so the
     * id is known before the lock is taken. */
    bool state = !strcmp(type, "state");
    if (state && !value)
        value = "null";
    size_t lt = strlen(type), ld = dev ? strlen(dev) : 0,
           lp = prop ? strlen(prop) : 0, lw = twin ? strlen(twin) : 0,
           lv = state ? strlen(value) : 0;
    size_t fcap = lt + dlen + 48, ocap = state ? lv + 40 : 0;
    size_t bytes = lt + ld + lp + lw + 4 + fcap + ocap;
    char *blob = ht_malloc(bytes), *p = blob;
    int64_t ts = gw__now_ms(g);
    int64_t id = g->log->last_eid + 1;
    char *type_s = put(&p, type, lt), *dev_s = put(&p, dev, ld),
         *prop_s = put(&p, prop, lp), *twin_s = put(&p, twin, lw);
    /* fcap and ocap leave 48 and 40 bytes for the fixed parts and id */
    char *frame = p, *q = CAT(frame, "event: ");
    q = cat(q, type, lt);
    q = cat_i64(CAT(q, "\nid: "), id);
    q = CAT(cat(CAT(q, "\ndata: "), data, dlen), "\n\n");
    *q = '\0';
    size_t fl = (size_t)(q - frame);
    char *oframe = NULL;
    size_t ol = 0;
    if (state) {
        oframe = frame + fcap;
        q = cat_i64(CAT(oframe, "id: "), id);
        q = CAT(cat(CAT(q, "\ndata: "), value, lv), "\n\n");
        *q = '\0';
        ol = (size_t)(q - oframe);
    }
    /* Evicted events are freed after the unlock: the lock is held by the
     * readers' thread too, and free() may consolidate the heap. */
    char *gone[8];
    size_t ngone = 0;
    pthread_mutex_lock(&g->log->mu);
    g->log->last_eid = id;
    struct gw_ev *e;
    if (g->log->ring_len < g->log->ring_cap) {
        e = &g->log->ring[(g->log->ring_head + g->log->ring_len) %
                          g->log->ring_cap];
        g->log->ring_len++;
    } else {
        e = &g->log->ring[g->log->ring_head];
        g->log->ring_bytes -= e->bytes;
        gone[ngone++] = e->blob;
        e->blob = NULL;
        ev_clear(e);
        g->log->ring_head = (g->log->ring_head + 1) % g->log->ring_cap;
    }
    e->id = id;
    e->ts = ts;
    e->blob = blob;
    e->type = type_s;
    e->dev = dev_s;
    e->prop = prop_s;
    e->twin = twin_s;
    e->frame = frame;
    e->flen = fl;
    e->oframe = oframe;
    e->oflen = ol;
    e->bytes = bytes;
    g->log->ring_bytes += bytes;
    while (g->log->ring_bytes > g->log->ring_max_bytes &&
           g->log->ring_len > 1) {
        struct gw_ev *old = &g->log->ring[g->log->ring_head];
        g->log->ring_bytes -= old->bytes;
        if (ngone < sizeof gone / sizeof *gone) {
            gone[ngone++] = old->blob;
            old->blob = NULL;
        }
        ev_clear(old);
        g->log->ring_head = (g->log->ring_head + 1) % g->log->ring_cap;
        g->log->ring_len--;
    }
    if (g->log->prepare)
        g->log->wake = true;
    else
        wake_all(g);
    pthread_mutex_unlock(&g->log->mu);
    for (size_t i = 0; i < ngone; i++)
        free(gone[i]);
    ht_store_event_add(g->store, id, ts, type, data);
    if (g->log->tap.on_event)
        g->log->tap.on_event(g->log->tap.ud, id, ts, type, dev, prop, twin,
                             data, dlen);
}

void gw__sse_tap(struct ht_gw *g, const struct gw_sse_tap *t)
{
    if (t)
        g->log->tap = *t;
    else
        memset(&g->log->tap, 0, sizeof g->log->tap);
}

void gw__sse_emit(struct ht_gw *g, const char *type, const char *dev,
                  const char *prop, const char *twin, const json_t *value,
                  json_t *data)
{
    size_t len;
    char *text = ht_json_dumps(data, false, &len);
    json_decref(data);
    char *vtext = ht_json_dumps(value, false, NULL);
    if (text)
        gw__sse_push(g, type, dev, prop, twin, vtext, text, len);
    free(vtext);
    free(text);
}

void gw__sse_ping(struct ht_gw *g)
{
    pthread_mutex_lock(&g->log->mu);
    for (struct gw_sse *c = g->log->sse; c; c = c->next)
        c->ping = true;
    wake_all(g);
    pthread_mutex_unlock(&g->log->mu);
}

void gw__sse_close(struct ht_gw *g)
{
    pthread_mutex_lock(&g->log->mu);
    g->log->closed = true;
    wake_all(g);
    pthread_mutex_unlock(&g->log->mu);
}

size_t gw__sse_clients(struct ht_gw *g)
{
    pthread_mutex_lock(&g->log->mu);
    size_t n = g->log->nsse;
    pthread_mutex_unlock(&g->log->mu);
    return n;
}

size_t gw__sse_ring_bytes(struct ht_gw *g)
{
    pthread_mutex_lock(&g->log->mu);
    size_t n = g->log->ring_bytes;
    pthread_mutex_unlock(&g->log->mu);
    return n;
}

/* A linear walk: streams are bounded by the HTTP connection limit. */
size_t gw__sse_owned(struct ht_gw *g, const char *owner)
{
    size_t n = 0;
    pthread_mutex_lock(&g->log->mu);
    for (const struct gw_sse *c = g->log->sse; c; c = c->next)
        n += !strcmp(c->owner, owner);
    pthread_mutex_unlock(&g->log->mu);
    return n;
}

static bool matches(const struct gw_sse *c, const char *type, const char *dev,
                    const char *prop, const char *twin)
{
    if (c->observe)
        return !strcmp(type, "state") && dev && prop && !strcmp(dev, c->dev) &&
               !strcmp(prop, c->prop);
    if (c->pick)
        return twin && !strcmp(twin, c->twin) && (!dev || !*dev) &&
               !strcmp(type, c->ref[0] ? "state" : c->evtype);
    if (c->twin[0] && (!twin || strcmp(twin, c->twin)))
        return false;
    if (c->dev[0] && (!dev || strcmp(dev, c->dev)))
        return false;
    return true;
}

/* Room for n more bytes (and a NUL) in c->out, grown geometrically and
 * kept between reads. */
static char *out_reserve(struct gw_sse *c, size_t n)
{
    if (c->out_len + n + 1 > c->out_cap) {
        size_t cap = c->out_cap ? 2 * c->out_cap : 4096;
        while (cap < c->out_len + n + 1)
            cap *= 2;
        c->out = ht_realloc(c->out, cap);
        c->out_cap = cap;
    }
    return c->out + c->out_len;
}

static void out_append(struct gw_sse *c, const char *s, size_t n)
{
    char *d = out_reserve(c, n);
    memcpy(d, s, n);
    c->out_len += n;
    c->out[c->out_len] = '\0';
}

/* Named events: "event:", "id:", "data:". Observe streams: unnamed data
 * events holding just the value (what WoT consumers expect). */
static void format_event(struct gw_sse *c, int64_t id, const char *type,
                         const char *data, size_t dlen, const char *value)
{
    if (c->observe) {
        if (!value)
            value = "null";
        dlen = strlen(value);
    }
    size_t n = dlen + strlen(type) + 48;
    char *d = out_reserve(c, n);
    int k = c->observe
                ? snprintf(d, n + 1, "id: %" PRId64 "\ndata: %s\n\n", id, value)
                : snprintf(d, n + 1, "event: %s\nid: %" PRId64 "\ndata: %s\n\n",
                           type, id, data);
    if (k > 0)
        c->out_len += (size_t)k;
}

/* A twin stream's frame for one matching event (data: dlen bytes of JSON
 * text): the property's value, or the whole data. Parsed per stream, since
 * only WoT consumers open these. */
static void pick_frame(struct gw_sse *c, int64_t id, const char *data,
                       size_t dlen)
{
    char *v = NULL;
    if (c->ref[0]) {
        json_t *j = json_loadb(data, dlen, 0, NULL);
        json_t *p = json_object_get(json_object_get(j, "properties"), c->ref);
        json_t *x = json_object_get(p, "value");
        if (x)
            v = json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(j);
        if (!v)
            return;
        data = v;
        dlen = strlen(v);
    }
    char head[48];
    int k = snprintf(head, sizeof head, "id: %" PRId64 "\ndata: ", id);
    out_append(c, head, (size_t)k);
    out_append(c, data, dlen);
    out_append(c, "\n\n", 2);
    free(v);
}

/* The data of a ring event, found in its named frame ("event: T\nid: N\n
 * data: DATA\n\n"). */
static void ring_pick(struct gw_sse *c, const struct gw_ev *e)
{
    const char *d = strstr(e->frame, "\ndata: ");
    if (!d || e->flen < 2)
        return;
    d += 7;
    size_t dlen = (size_t)(e->frame + e->flen - 2 - d);
    pick_frame(c, e->id, d, dlen);
}

/* The value of a state event read back from the store's JSON text. */
static char *value_of(const char *data)
{
    json_t *j = json_loads(data, 0, NULL);
    json_t *v = json_object_get(j, "v");
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    return s;
}

/* Fill c->out with whatever is due (ev_mu held). Returns false when the
 * store must be consulted first (c fell behind the ring). */
static bool collect(struct ht_gw *g, struct gw_sse *c)
{
    /* Backlog from the store first. */
    while (c->backlog && c->bl_pos < json_array_size(c->backlog)) {
        json_t *e = json_array_get(c->backlog, c->bl_pos++);
        int64_t id = json_integer_value(json_object_get(e, "id"));
        const char *type = json_string_value(json_object_get(e, "type"));
        const char *data = json_string_value(json_object_get(e, "data"));
        if (id <= c->last_id)
            continue;
        c->last_id = id;
        json_t *j = json_loads(data, 0, NULL);
        const char *dev = json_string_value(json_object_get(j, "device"));
        if (!dev && !strcmp(type, "device"))
            dev = json_string_value(json_object_get(j, "id"));
        const char *prop = json_string_value(json_object_get(j, "property"));
        const char *twin = json_string_value(json_object_get(j, "twin"));
        if (c->pick && matches(c, type, dev, prop, twin)) {
            pick_frame(c, id, data, strlen(data));
        } else if (matches(c, type, dev, prop, twin)) {
            char *v = c->observe ? value_of(data) : NULL;
            format_event(c, id, type, data, strlen(data), v);
            free(v);
        }
        json_decref(j);
    }
    if (c->backlog && c->bl_pos >= json_array_size(c->backlog)) {
        json_decref(c->backlog);
        c->backlog = NULL;
        c->bl_pos = 0;
    }
    /* Older than the ring holds (or the ring is empty after a restart):
     * the store has the rest. */
    int64_t oldest = g->log->ring_len ? g->log->ring[g->log->ring_head].id
                                      : g->log->last_eid + 1;
    if (c->last_id + 1 < oldest && !c->backlog)
        return false;
    /* Ids in the ring are consecutive: start right after the client's
     * last one instead of walking the ring under the lock. */
    size_t first =
        c->last_id + 1 > oldest ? (size_t)(c->last_id + 1 - oldest) : 0;
    for (size_t i = first; i < g->log->ring_len; i++) {
        struct gw_ev *e =
            &g->log->ring[(g->log->ring_head + i) % g->log->ring_cap];
        c->last_id = e->id;
        if (!matches(c, e->type, e->dev, e->prop, e->twin))
            continue;
        if (c->observe)
            out_append(c, e->oframe, e->oflen);
        else if (c->pick)
            ring_pick(c, e);
        else
            out_append(c, e->frame, e->flen);
    }
    if (c->ping && c->out_len == c->out_off) {
        out_append(c, ": ping\n\n", 8); /* not its NUL */
    }
    c->ping = false;
    return true;
}

/* True when the client has closed its end. A suspended connection is not
 * polled by libmicrohttpd, and the first keep-alive written to a closed
 * socket still succeeds, so without this a stream whose client left
 * (an EventSource closed by a WoT consumer's unobserve) would hold its
 * connection, counted against http.max_connections_per_ip, for two
 * keep-alive periods; checked at each keep-alive, it holds it for one. */
static bool peer_closed(const struct gw_sse *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return false;
    char b;
    return recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct gw_sse *c = cls;
    struct ht_gw *g = c->g;
    if (c->ping && peer_closed(c))
        return MHD_CONTENT_READER_END_WITH_ERROR;
    pthread_mutex_lock(&g->log->mu);
    for (int round = 0; round < 2; round++) {
        if (g->log->closed) {
            pthread_mutex_unlock(&g->log->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (c->out_off < c->out_len)
            break;
        c->out_len = c->out_off = 0;
        if (collect(g, c))
            break;
        /* Behind the ring: read the gap from the store without the lock. */
        int64_t after = c->last_id;
        pthread_mutex_unlock(&g->log->mu);
        json_t *bl = ht_store_events_since(g->store, after, 1000);
        pthread_mutex_lock(&g->log->mu);
        json_decref(c->backlog);
        c->backlog = bl;
        c->bl_pos = 0;
        if (json_array_size(bl) == 0) {
            /* Nothing older left (trimmed by retention): skip to the ring. */
            json_decref(c->backlog);
            c->backlog = NULL;
            c->last_id = g->log->ring_len
                             ? g->log->ring[g->log->ring_head].id - 1
                             : g->log->last_eid;
        }
    }
    if (c->out_off >= c->out_len) {
        c->suspended = true;
        MHD_suspend_connection(c->conn);
        pthread_mutex_unlock(&g->log->mu);
        return 0;
    }
    size_t n = c->out_len - c->out_off;
    if (n > max)
        n = max;
    memcpy(buf, c->out + c->out_off, n);
    c->out_off += n;
    pthread_mutex_unlock(&g->log->mu);
    return (ssize_t)n;
}

static void sse_free(void *cls)
{
    struct gw_sse *c = cls;
    struct ht_gw *g = c->g;
    pthread_mutex_lock(&g->log->mu);
    for (struct gw_sse **pp = &g->log->sse; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            g->log->nsse--;
            break;
        }
    pthread_mutex_unlock(&g->log->mu);
    json_decref(c->backlog);
    free(c->out);
    free(c);
}

static struct MHD_Response *stream_start(struct ht_gw *g,
                                         struct MHD_Connection *conn,
                                         int64_t last_id, struct gw_sse *c);

struct MHD_Response *gw__sse_response(struct ht_gw *g,
                                      struct MHD_Connection *conn,
                                      int64_t last_id, bool observe,
                                      const char *dev, const char *prop,
                                      const char *twin, const char *owner)
{
    struct gw_sse *c = ht_calloc(1, sizeof *c);
    if (owner)
        ht_strlcpy(c->owner, owner, sizeof c->owner);
    c->observe = observe;
    if (dev)
        ht_strlcpy(c->dev, dev, sizeof c->dev);
    if (prop)
        ht_strlcpy(c->prop, prop, sizeof c->prop);
    if (twin)
        ht_strlcpy(c->twin, twin, sizeof c->twin);
    return stream_start(g, conn, last_id, c);
}

struct MHD_Response *gw__sse_response_twin(struct ht_gw *g,
                                           struct MHD_Connection *conn,
                                           int64_t last_id, const char *twin,
                                           const char *ref, const char *evtype,
                                           const char *owner)
{
    if (!twin || (!ref == !evtype))
        return NULL;
    struct gw_sse *c = ht_calloc(1, sizeof *c);
    if (owner)
        ht_strlcpy(c->owner, owner, sizeof c->owner);
    c->pick = true;
    ht_strlcpy(c->twin, twin, sizeof c->twin);
    if (ref)
        ht_strlcpy(c->ref, ref, sizeof c->ref);
    else
        ht_strlcpy(c->evtype, evtype, sizeof c->evtype);
    return stream_start(g, conn, last_id, c);
}

/* Register c (taken) as a stream and answer with it. */
static struct MHD_Response *stream_start(struct ht_gw *g,
                                         struct MHD_Connection *conn,
                                         int64_t last_id, struct gw_sse *c)
{
    c->g = g;
    c->conn = conn;
    pthread_mutex_lock(&g->log->mu);
    /* A new client starts at "now" unless it resumes. */
    c->last_id = last_id >= 0 && last_id <= g->log->last_eid ? last_id
                                                             : g->log->last_eid;
    c->next = g->log->sse;
    g->log->sse = c;
    g->log->nsse++;
    pthread_mutex_unlock(&g->log->mu);
    /* A comment first so clients see the stream open at once. */
    out_append(c, ": holotwin events\nretry: 2000\n\n", 31);
    struct MHD_Response *r = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, SSE_BLOCK, sse_read, c, sse_free);
    if (!r) {
        sse_free(c);
        return NULL;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    return r;
}

/* Ids and names are [a-z0-9._-]: nothing to escape, so the event's JSON
 * is printed straight from the record. */
void gw__sse_value(struct ht_gw *g, const char *dev, const char *prop,
                   const char *vtext, int64_t ts, int64_t seq)
{
    gw__sse_value_quality(g, dev, prop, vtext, ts, seq, "good");
}

void gw__sse_value_quality(struct ht_gw *g, const char *dev, const char *prop,
                           const char *vtext, int64_t ts, int64_t seq,
                           const char *q)
{
    char buf[512], *data = buf;
    size_t ld = strlen(dev), lp = strlen(prop), lv = strlen(vtext),
           lq = strlen(q);
    /* the keys and punctuation (58), two integers (20 each), the NUL */
    size_t cap = ld + lp + lv + lq + 100;
    if (cap > sizeof buf)
        data = ht_malloc(cap);
    char *d = cat(CAT(data, "{\"device\":\""), dev, ld);
    d = cat(CAT(d, "\",\"property\":\""), prop, lp);
    d = cat(CAT(d, "\",\"v\":"), vtext, lv);
    d = cat_i64(CAT(d, ",\"ts\":"), ts);
    d = cat_i64(CAT(d, ",\"seq\":"), seq);
    d = CAT(cat(CAT(d, ",\"quality\":\""), q, lq), "\"}");
    *d = '\0';
    gw__sse_push(g, "state", dev, prop, NULL, vtext, data, (size_t)(d - data));
    if (data != buf)
        free(data);
}
