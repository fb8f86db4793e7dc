/* http/http.h - the HTTP server (libmicrohttpd, its own polling thread)
 * and its routes: the REST API, the WoT directory, SSE endpoints, twin
 * routes and assets, static files, metrics.
 * Owns: struct gw_server (g->server): the daemon and the GET /things
 * cache.
 * Uses: core, metrics, store, auth, registry, sse, jobs, ingest, twinglue,
 * alarms, control, history, broker (the MQTT account list), security (the
 * CA's files, for backups), aas, tdd, plant (the plant view).
 * Threads: route handlers run on the HTTP thread; they read snapshots and
 * send writes to the loop as jobs. Start and stop on the loop thread.
 */
#ifndef HT_GW_HTTP_H
#define HT_GW_HTTP_H

#include "gateway/auth/auth.h"
#include "gateway/core/gw.h"
#include "gateway/jobs/jobs.h"

#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- HTTP server (server.c) ---- */
int gw__server_start(struct ht_gw *g, char *err, size_t errlen);
/* Stop accepting, answer what is suspended, stop the daemon. */
void gw__server_stop(struct ht_gw *g);

/* ---- Idempotency-Key (idem.c): first answers kept per token and key ---- */
#define GW_IDEM_SLOTS 256
#define GW_IDEM_BODY_MAX 65536
#define GW_IDEM_TTL_MS (24 * 3600 * 1000ull)
struct gw_idem;
/* A reserved slot: the hashes that name it ("" key = nothing reserved). */
struct gw_idem_ticket {
    char key[65], fp[65];
};
/* A replayed answer: body new (free it). */
struct gw_idem_answer {
    unsigned status;
    char ctype[64];
    char *body;
    size_t len;
};
enum {
    GW_IDEM_NEW,      /* first time: ticket reserved, finish or abort it */
    GW_IDEM_REPLAY,   /* answered before: *out holds the first answer */
    GW_IDEM_MISMATCH, /* the key was used for another request (422) */
    GW_IDEM_BUSY,     /* the first request is still being answered (409) */
};
/* New empty cache; free with gw__idem_free (NULL is a no-op). Any thread
 * may use it (one mutex). */
struct gw_idem *gw__idem_new(void);
void gw__idem_free(struct gw_idem *c);
/* A key as the header may carry it: 1..255 visible ASCII characters. */
bool gw__idem_key_valid(const char *key);
/* Look up (actor, key) for the request method url body (all borrowed):
 * returns GW_IDEM_*; on GW_IDEM_NEW, t names the reserved slot. now_ms is
 * a monotonic clock (entries expire after GW_IDEM_TTL_MS). */
int gw__idem_begin(struct gw_idem *c, const char *actor, const char *key,
                   const char *method, const char *url, const char *body,
                   size_t len, uint64_t now_ms, struct gw_idem_ticket *t,
                   struct gw_idem_answer *out);
/* Keep the answer (copied) of a reserved slot; bodies above
 * GW_IDEM_BODY_MAX are not kept (a retry then runs again). Clears t. */
void gw__idem_finish(struct gw_idem *c, struct gw_idem_ticket *t,
                     unsigned status, const char *ctype, const void *body,
                     size_t len);
/* Release a reserved slot without an answer (connection gone). Clears t. */
void gw__idem_abort(struct gw_idem *c, struct gw_idem_ticket *t);
/* Open connections of one client address (IPv4, network order). */
struct gw_conn_ip {
    uint32_t addr;
    unsigned n; /* 0: a free slot */
};

struct gw_server {
    struct MHD_Daemon *d;
    struct gw_idem *idem;
    struct sockaddr_in sa;
    char *tls_key, *tls_cert;
    /* Connection accounting (accept policy and connection notices, on the
     * MHD thread; the lock is for MHD_stop_daemon on the loop thread):
     * the open connections, per address in a table of max+reserved
     * slots, and the connections refused at accept. */
    pthread_mutex_t conn_mu;
    size_t nconn;
    struct gw_conn_ip *ips;
    size_t nips;
    uint64_t refused;
    /* GET /things: the last answer, with the registry and twin
     * generations it was built from. */
    pthread_mutex_t things_mu;
    uint64_t things_dgen, things_tgen;
    int64_t things_bucket; /* the hour of the tickets in its TDs */
    uint64_t things_rgen;  /* registered TDs' generation (tdd) */
    long long things_off, things_lim;
    struct MHD_Response *things_resp;
};

/* One HTTP request as the route handlers see it (HTTP thread only). */
#define GW_MAX_SEG 10
struct gw_req {
    struct ht_gw *g;
    struct MHD_Connection *conn;
    const char *method;
    const char *url;
    char *path; /* copy split in place into seg[] */
    const char *seg[GW_MAX_SEG];
    size_t nseg;
    const char *id, *name, *thing, *token_id; /* captured placeholders */
    const char *alarm;                        /* {alarm}: "TWIN:RULE" */
    char *body;
    size_t body_len;
    bool too_big;
    int uri_status; /* 400/414 from gw__uri_check on the raw target, or 0 */
    char uri_why[96];
    enum gw_role role;
    char actor[160];
    struct gw_job *job;         /* a suspended request waiting for the loop */
    struct gw_idem_ticket idem; /* an Idempotency-Key slot to fill */
    bool started;               /* the access handler's first call came */
    bool seen;                  /* second call done: dispatched */
};

typedef enum MHD_Result (*gw_route_fn)(struct gw_req *r);
struct gw_route {
    const char *method;
    const char *path; /* OpenAPI template: /api/v1/devices/{id} */
    enum gw_role role;
    gw_route_fn fn;
};
/* The route table, terminated by {NULL}. Static (borrowed). */
const struct gw_route *gw__routes(void);

/* ---- routing (router.c: pure, any thread) ---- */
/* Split r->url (borrowed, the decoded path) into r->path/r->seg and find
 * the route for r->method: 200 with *hit set and the placeholders captured
 * into r (borrowed from r->path); 405 when the path exists under other
 * methods only; 0 for no route; 404 for a path never served (not absolute,
 * deeper than GW_MAX_SEG). allow (allowlen bytes) gets the path's methods,
 * "GET, PUT". r->path is new, freed with the request. */
int gw__route_find(struct gw_req *r, const struct gw_route **hit, char *allow,
                   size_t allowlen);
/* NULL, or why a captured placeholder is invalid (static text: 400). */
const char *gw__route_check(const struct gw_req *r);
/* Check a raw (undecoded) request target (borrowed): 0 when acceptable,
 * 400 when it holds "%00", 414 with more than max_params query
 * parameters; why (whylen bytes) gets the reason. */
int gw__uri_check(const char *raw, size_t max_params, char *why, size_t whylen);

/* Reply helpers: queue the response and return MHD's verdict. */
enum MHD_Result gw__reply_json(struct gw_req *r, unsigned status,
                               json_t *body /* taken, may be NULL */);
enum MHD_Result gw__reply_problem(struct gw_req *r, unsigned status,
                                  const char *title, const char *detail);
enum MHD_Result gw__reply_buf(struct gw_req *r, unsigned status,
                              const char *ctype, const void *buf, size_t len);
/* Submit a job for the request (suspends it) or answer 503. */
enum MHD_Result gw__reply_job(struct gw_req *r, struct gw_job *j);
/* Query parameter (borrowed) or NULL. */
const char *gw__query(struct gw_req *r, const char *key);
/* Strict integer query parameter: absent -> def (true); malformed -> false. */
bool gw__query_int(struct gw_req *r, const char *key, long long def,
                   long long *out);
/* Static files under the web root (GET/HEAD fallback). */
enum MHD_Result gw__serve_static(struct gw_req *r);
/* The embedded OpenAPI document (static, NUL-terminated). */
extern const char gw__openapi_yaml[];

/* ---- device, WoT and metrics routes (routes_api.c, routes_wot.c) ---- */
enum MHD_Result gw__route_metrics(struct gw_req *r);
enum MHD_Result gw__route_openapi(struct gw_req *r);
enum MHD_Result gw__route_thing(struct gw_req *r);
enum MHD_Result gw__route_things(struct gw_req *r);
enum MHD_Result gw__route_wellknown(struct gw_req *r);

/* ---- alarms (routes_alarms.c, HTTP thread) ---- */
enum MHD_Result gw__route_alarms(struct gw_req *r);
enum MHD_Result gw__route_alarm_history(struct gw_req *r);
/* POST /api/v1/alarms/{alarm}/{command}: the command is the last segment. */
enum MHD_Result gw__route_alarm_cmd(struct gw_req *r);

/* ---- the plant view (routes_plant.c, HTTP thread) ---- */
enum MHD_Result gw__route_plant_cells(struct gw_req *r);
enum MHD_Result gw__route_plant_twins(struct gw_req *r);
enum MHD_Result gw__route_plant_cmd(struct gw_req *r);
/* In plant mode, the route that serves a matched cell route hit
 * (borrowed): the plant view's own handler, one answering 501
 * not_in_plant_view for routes that exist per cell only, or NULL for
 * routes served as on a cell (health, metrics, tokens, audit, events,
 * /api/v1/plant/...). Static (borrowed). */
const struct gw_route *gw__plant_route(const struct gw_route *hit);

/* ---- twin assets and ETags (routes_assets.c) ---- */

/* Create DATA_DIR/assets (loop thread, at init). */
int gw__assets_init(struct ht_gw *g, char *err, size_t errlen);
/* Forget every asset of a twin; blobs nobody references are deleted. */
void gw__assets_remove_twin(struct ht_gw *g, const char *twin);
/* Does an If-None-Match header (borrowed, may be NULL) name etag? */
bool gw__etag_match(const char *header, const char *etag);
/* Answer 304 Not Modified with the ETag. */
enum MHD_Result gw__reply_not_modified(struct gw_req *r, const char *etag);
/* Route handlers (HTTP thread). */
enum MHD_Result gw__route_twin_assets(struct gw_req *r);
enum MHD_Result gw__route_twin_asset_get(struct gw_req *r);
enum MHD_Result gw__route_twin_asset_put(struct gw_req *r);
enum MHD_Result gw__route_twin_asset_delete(struct gw_req *r);

/* ---- backup (routes_backup.c, HTTP thread) ---- */
enum MHD_Result gw__route_backup(struct gw_req *r);

/* ---- REST handlers (routes_twins.c, HTTP thread) ---- */
enum MHD_Result gw__route_twins(struct gw_req *r);
enum MHD_Result gw__route_twin_get(struct gw_req *r);
enum MHD_Result gw__route_twin_put(struct gw_req *r);
enum MHD_Result gw__route_twin_delete(struct gw_req *r);
enum MHD_Result gw__route_twin_state(struct gw_req *r);
enum MHD_Result gw__route_twin_prop_put(struct gw_req *r);
enum MHD_Result gw__route_twin_control_get(struct gw_req *r);
/* POST (take) and DELETE (release) .../control. */
enum MHD_Result gw__route_twin_control_set(struct gw_req *r);
enum MHD_Result gw__route_twin_history(struct gw_req *r);
/* GET /twins/{id}/timeline (history/: the instants of a scrubber). */
enum MHD_Result gw__route_twin_timeline(struct gw_req *r);
/* A history answer (hist taken) as JSON, or as CSV when the query has
 * format=csv or the client accepts only text/csv. */
enum MHD_Result gw__reply_history(struct gw_req *r, json_t *hist);
enum MHD_Result gw__route_twin_ui(struct gw_req *r);
/* WoT forms of twin TDs (routes_twins.c): a property's bare value, its
 * observation stream and the twin's event streams (unnamed SSE events). */
enum MHD_Result gw__route_twin_prop_get(struct gw_req *r);
enum MHD_Result gw__route_twin_prop_observe(struct gw_req *r);
enum MHD_Result gw__route_twin_event(struct gw_req *r);
/* A twin's TD as /things serves it (routes_wot.c): new, NULL if no such
 * twin. HTTP thread. */
json_t *gw__served_twin_td(struct ht_gw *g, const char *id);
/* Every TD of the directory as served: devices, twins, registered ones
 * (new array; routes_wot.c). HTTP thread. */
json_t *gw__directory_tds(struct ht_gw *g);
/* W3C WoT Discovery registration and search (routes_tdd.c). */
enum MHD_Result gw__route_thing_put(struct gw_req *r);
enum MHD_Result gw__route_things_post(struct gw_req *r);
enum MHD_Result gw__route_thing_patch(struct gw_req *r);
enum MHD_Result gw__route_thing_delete(struct gw_req *r);
enum MHD_Result gw__route_search_jsonpath(struct gw_req *r);
/* GET /api/v1/twins/{id}/aas: the twin's AAS V3 environment
 * (routes_wot.c, from the TDs as served). */
enum MHD_Result gw__route_twin_aas(struct gw_req *r);
/* /things/{thing} for a twin (id without the URN prefix). */
enum MHD_Result gw__route_twin_thing(struct gw_req *r, const char *id);

#endif
