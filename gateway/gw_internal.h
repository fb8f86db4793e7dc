/* gw_internal.h - what the gateway's modules share: the gateway object, the
 * device registry, the HTTP -> loop job queue, the SSE event log and the
 * metrics. Not a public interface.
 *
 * Threads: the loop thread owns MQTT, timers and all registry writes. The
 * libmicrohttpd thread reads the registry and the event log under their
 * mutexes (each reader copies what it needs) and sends writes as jobs:
 * gw__job_submit() suspends the HTTP connection, queues the job and wakes
 * the loop; the loop completes it and resumes the connection.
 */
#ifndef HT_GW_INTERNAL_H
#define HT_GW_INTERNAL_H

#include "gateway.h"
#include "store.h"

#include "ht_loop.h"
#include "ht_mqtt.h"
#include "semantics/semantics.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define GW_MOD "gateway"

/* ---- roles ---- */
enum gw_role {
    GW_ROLE_NONE = 0, /* open route */
    GW_ROLE_VIEWER,
    GW_ROLE_OPERATOR,
    GW_ROLE_TECHNICIAN,
    GW_ROLE_ADMIN,
};
const char *gw__role_name(enum gw_role r);
/* GW_ROLE_NONE if s is not a role name. */
enum gw_role gw__role_parse(const char *s);

/* ---- device lifecycle ---- */
enum gw_state {
    GW_DISCOVERED,
    GW_PENDING,
    GW_APPROVED,
    GW_BLOCKED,
};
const char *gw__state_name(enum gw_state s);
int gw__state_parse(const char *s, enum gw_state *out);

struct gw_dev {
    char id[65];
    char *title;
    enum gw_state state;
    bool online;
    int64_t last_seen;
    int64_t created;
    struct ht_sem_thing *thing; /* from the newest TD, or NULL */
    /* The TD itself is not kept (27 KB as a jansson tree, 3.7 KB as text,
     * for a typical board): detail requests read it from the store. */
    int td_version;
    json_t *values; /* {name: {"v","ts","seq"}} */
    bool mdns_seen;
    bool dirty; /* last_seen changed since the last persist */
};

/* ---- jobs: HTTP thread -> loop ---- */
enum gw_job_kind {
    GW_JOB_WRITE, /* PUT property: MQTT command, wait for the ack */
    GW_JOB_APPROVE,
    GW_JOB_BLOCK,
    GW_JOB_DELETE,
    GW_JOB_PREREG,      /* POST /api/v1/devices */
    GW_JOB_TWIN_PUT,    /* twins.c: PUT /api/v1/twins/{id} */
    GW_JOB_TWIN_DELETE, /* twins.c: DELETE /api/v1/twins/{id} */
    GW_JOB_TWIN_WRITE,  /* twins.c: PUT .../twins/{id}/properties/{ref} */
};

struct gw_job {
    struct gw_job *next;
    enum gw_job_kind kind;
    char dev[65];
    char prop[33];
    json_t *value; /* WRITE: the value (owned) */
    char actor[160];
    uint64_t t0_ms; /* monotonic, for latency */
    struct MHD_Connection *conn;
    int refs; /* under jobs_mu: HTTP side + loop side */
    bool done;
    /* Result, written by the loop before done. */
    int status;
    json_t *body; /* success body or problem object (owned) */
    /* Loop side of a WRITE in flight. */
    struct ht_gw *gw;
    uint64_t corr;
    struct ht_timer *timer;
    struct gw_job *pnext; /* pending-ack list */
    /* Twin jobs (twins.c): dev holds the twin id, ref "component.property".
     * A WRITE with on_complete set is a sub-command of a twin write: it has
     * no connection, and job completion calls on_complete (loop thread)
     * instead of resuming one. */
    char ref[72];
    void (*on_complete)(struct ht_gw *g, struct gw_job *j);
    void *ud;
    /* Between the audit append and its commit (store writer thread). */
    uint64_t ms;
    int audit_rc;
    struct gw_job *dnext;
};

/* ---- SSE ---- */
struct gw_ev {
    int64_t id;
    int64_t ts;
    char *blob; /* the one allocation the strings below point into */
    char *type;
    char *data; /* JSON text */
    size_t dlen;
    char *dev; /* for filters, may be NULL */
    char *prop;
    char *twin;
    char *value; /* JSON text of the value, state events only */
};

struct gw_sse {
    struct gw_sse *next;
    struct ht_gw *g;
    struct MHD_Connection *conn;
    int64_t last_id;
    bool observe; /* per-property stream: unnamed data: events */
    bool suspended;
    bool ping;
    char dev[65], prop[33], twin[65];
    json_t *backlog; /* events loaded from the store, array */
    size_t bl_pos;
    char *out; /* formatted bytes not yet handed to MHD */
    size_t out_len, out_off, out_cap;
};

/* ---- metrics ---- */
#define GW_HIST_BUCKETS 12
struct gw_hist {
    uint64_t buckets[GW_HIST_BUCKETS]; /* cumulative on output */
    uint64_t count;
    double sum;
};
struct gw_metrics {
    pthread_mutex_t mu;
    uint64_t mqtt_in, mqtt_in_td, mqtt_in_status, mqtt_in_props, mqtt_bad;
    uint64_t cmd_by_status[6]; /* 200, 400, 403/404/409, 503, 504, other */
    uint64_t http_requests;
    struct gw_hist cmd_latency; /* seconds */
    struct gw_hist batch_time;  /* seconds */
    uint64_t batch_rows;
    uint64_t broker_restarts;
};
extern const double gw__hist_bounds[GW_HIST_BUCKETS];
void gw__hist_observe(struct gw_metrics *m, struct gw_hist *h, double v);

struct gw_broker;
struct gw_server;
struct gw_mdns;
struct gw_twins;

/* Bearer tokens seen recently -> their SHA-256 (hex): hashing was 70 % of
 * a cached REST read. Only the token -> hash step is cached; the hash is
 * looked up in the live token table every time, so a revoked token is
 * refused at once. Slots picked by a keyed hash, compared in constant
 * time. */
#define GW_TOKCACHE 64
struct gw_tokcache {
    pthread_mutex_t mu;
    uint64_t key;
    struct {
        size_t len; /* 0 = empty */
        char tok[257];
        char hash[65];
    } e[GW_TOKCACHE];
};

struct ht_gw {
    const struct ht_gw_conf *conf;
    struct gw_tokcache tokcache;
    /* GET /things: bumped (atomically) by every device change; the last
     * answer is kept with the generations it was built from. */
    uint64_t things_gen;
    pthread_mutex_t things_mu;
    uint64_t things_dgen, things_tgen;
    long long things_off, things_lim;
    struct MHD_Response *things_resp;
    struct ht_loop *loop;
    struct ht_store *store;
    struct ht_mqtt *mqtt;
    struct gw_broker *broker;
    struct gw_server *server;
    struct gw_mdns *mdns;
    char broker_host[256];
    int broker_port;
    char ack_topic[256];
    char *admin_token_path;
    bool started, stopped;
    /* SUBACKs still awaited since the last connect; /healthz reports
     * mqtt_ready once none are left (read by the HTTP thread). */
    _Atomic int subs_pending;

    /* Registry: loop writes, HTTP reads; both under reg_mu. */
    pthread_mutex_t reg_mu;
    struct gw_dev **devs;
    size_t ndevs, capdevs;

    /* Jobs from HTTP. */
    pthread_mutex_t jobs_mu;
    struct gw_job *jobs_head, *jobs_tail;
    bool jobs_closed;
    /* Jobs whose audit record the store committed (writer thread), for
     * the loop to answer; under jobs_mu. */
    struct gw_job *done_head, *done_tail;
    /* Loop only: commands waiting for their ack. */
    struct gw_job *pending;
    uint64_t next_corr;

    /* Event log + SSE clients, under ev_mu. */
    pthread_mutex_t ev_mu;
    struct gw_ev *ring;
    size_t ring_cap, ring_len, ring_head; /* head = index of the oldest */
    int64_t last_eid;
    struct gw_sse *sse;
    size_t nsse;
    bool ev_closed;
    bool ev_wake; /* events appended since the streams were last woken */
    struct ht_prepare *ev_prepare;

    struct gw_metrics metrics;
    struct ht_timer *flush_timer;
    struct ht_timer *retention_timer;
    struct ht_timer *ping_timer;

    struct gw_twins *twins; /* twin engine glue (twins.c) */
    struct gw_prov *prov;   /* broker credentials (provision.c), or NULL */
};

/* ---- registry (event.c) ---- */
/* Find a device (reg_mu held by caller, or loop thread). Borrowed. */
struct gw_dev *gw__dev_find(struct ht_gw *g, const char *id);
/* The device as API JSON (reg_mu held). detail adds properties and TD. */
json_t *gw__dev_json(const struct gw_dev *d, bool detail);
/* Snapshot helpers for the HTTP thread (take reg_mu). New references. */
json_t *gw__devices_list(struct ht_gw *g, const char *state);
/* HT_ENOENT if unknown. */
int gw__device_get(struct ht_gw *g, const char *id, json_t **out);
/* {"v","ts","seq"} plus schema fields of one property; HT_ENOENT if the
 * device or property is unknown. */
int gw__property_get(struct ht_gw *g, const char *id, const char *name,
                     json_t **out);
/* A copy of a device's thing for TD building (new, free with
 * ht_sem_thing_free) and whether it may be listed; HT_ENOENT if none. */
int gw__device_thing(struct ht_gw *g, const char *id,
                     struct ht_sem_thing **out);
/* Ids of devices with a TD (new array of strings). */
json_t *gw__device_ids_with_td(struct ht_gw *g);
/* Any thread: a device's TD, state or presence changed (drops the cached
 * GET /things answer). */
void gw__things_changed(struct ht_gw *g);
/* Counts of devices by state as {"discovered":n,...} plus "online". */
json_t *gw__device_counts(struct ht_gw *g);
/* mDNS sighting of an agent (loop thread). */
void gw__dev_mdns_seen(struct ht_gw *g, const char *id);

/* ---- event module (event.c) ---- */
int gw__event_init(struct ht_gw *g, char *err, size_t errlen);
int gw__event_start(struct ht_gw *g);
void gw__event_stop(struct ht_gw *g);
void gw__event_clear(struct ht_gw *g);

/* ---- jobs (event.c / server.c) ---- */
/* New job with refs = 1 (the HTTP side). */
struct gw_job *gw__job_new(enum gw_job_kind kind, const char *dev,
                           const char *actor);
/* Drop one reference (any thread). NULL is a no-op. */
void gw__job_unref(struct ht_gw *g, struct gw_job *j);
/* HTTP thread: suspend conn, queue j (the loop takes a reference), wake the
 * loop. HT_ESTATE when the gateway is stopping (nothing suspended). */
int gw__job_submit(struct ht_gw *g, struct gw_job *j,
                   struct MHD_Connection *conn);
/* HTTP thread: true once the loop has completed j. */
bool gw__job_done(struct ht_gw *g, struct gw_job *j);

/* ---- twin hooks (twin_hook.c): the single attachment point for the twin
 * engine. Called on the loop thread for APPROVED devices only. ---- */
void gw__twin_hook_value(struct ht_gw *g, const char *dev, const char *prop,
                         const json_t *v, int64_t ts);
void gw__twin_hook_status(struct ht_gw *g, const char *dev, bool online);
void gw__twin_hook_td(struct ht_gw *g, const char *dev,
                      const struct ht_sem_thing *thing);
void gw__twin_hook_removed(struct ht_gw *g, const char *dev);
/* The twin engine glue (twins.c, details in twins.h): created after the
 * event module has loaded the registry, freed before it is cleared. */
int gw__twins_init(struct ht_gw *g, char *err, size_t errlen);
void gw__twins_clear(struct ht_gw *g);
/* Loop thread: run a GW_JOB_TWIN_* job (completes it). */
void gw__twins_job(struct ht_gw *g, struct gw_job *j);

/* ---- SSE event log (events.c) ---- */
int gw__events_init(struct ht_gw *g);
void gw__events_clear(struct ht_gw *g);
/* Loop thread: append an event (data taken: new JSON object), persist it
 * (batched) and wake the streams. dev/prop/twin borrowed, may be NULL;
 * value borrowed (state events), may be NULL. */
void gw__events_emit(struct ht_gw *g, const char *type, const char *dev,
                     const char *prop, const char *twin, const json_t *value,
                     json_t *data);
/* Loop thread: the same with data as JSON text (dlen bytes) and the value
 * as JSON text (may be NULL); both borrowed. */
void gw__events_push(struct ht_gw *g, const char *type, const char *dev,
                     const char *prop, const char *twin, const char *value,
                     const char *data, size_t dlen);
/* Loop thread: wake every stream to send a keep-alive comment. */
void gw__events_ping(struct ht_gw *g);
/* Any thread: end every stream (before MHD stops). */
void gw__events_close(struct ht_gw *g);
/* HTTP thread: a response streaming events to conn (new; NULL on limits). */
struct MHD_Response *gw__sse_response(struct ht_gw *g,
                                      struct MHD_Connection *conn,
                                      int64_t last_id, bool observe,
                                      const char *dev, const char *prop,
                                      const char *twin);
size_t gw__sse_clients(struct ht_gw *g);

/* ---- auth (auth.c) ---- */
/* Create the admin token on first start (file 0600 in the data dir). */
int gw__auth_init(struct ht_gw *g, char *err, size_t errlen);
/* Resolve "Bearer X" (NULL ok) into role and actor name (actor buffer of
 * len bytes). GW_ROLE_NONE when absent/unknown. */
enum gw_role gw__auth_check(struct ht_gw *g, const char *authz, char *actor,
                            size_t len);
/* Create a token: returns the secret (new string) and fills id (33 bytes). */
int gw__token_create(struct ht_gw *g, const char *name, enum gw_role role,
                     char id[33], char **secret);

/* ---- broker supervisor (broker.c) ---- */
int gw__broker_new(struct ht_gw *g, struct gw_broker **out, char *err,
                   size_t errlen);
int gw__broker_start(struct gw_broker *b, char *err, size_t errlen);
void gw__broker_stop(struct gw_broker *b);
void gw__broker_free(struct gw_broker *b);
/* Write the generated mosquitto.conf text (new string). */
char *gw__broker_config(const struct ht_gw_conf *c, const char *dir);
pid_t gw__broker_pid(const struct gw_broker *b);
/* Make the running broker re-read its config and credential files
 * (SIGHUP). HT_OK when no broker runs (it reads them when it starts). */
int gw__broker_reload(struct gw_broker *b);

/* ---- broker provisioning (provision.c) ----
 * With broker.provisioning on and the embedded broker, gatewayd keeps
 * DATA_DIR/broker/passwd (mosquitto PBKDF2-SHA-512 hashes) and
 * DATA_DIR/broker/acl: its own user (secret in DATA_DIR/broker/gateway.secret,
 * 0600) may use PREFIX/#, each device user (user name = device id) only
 * its own topics. The store's mqtt_credentials table is the source of
 * truth; both files are regenerated from it. Loop thread only. */
#define GW_PROV_PASSWD "passwd"
#define GW_PROV_ACL "acl"
#define GW_PROV_SECRET "gateway.secret"
/* Not a valid device id, so no device can claim it. */
#define GW_PROV_GATEWAY_USER "_gateway"
/* mosquitto's PBKDF2 iteration count (mosquitto_passwd's default): the
 * passwords are random, so more rounds would only slow every CONNECT. */
#define GW_PROV_ITERATIONS 101
struct gw_prov;
/* Set up provisioning when it is on (g->prov stays NULL otherwise): the
 * gateway's secret (created on first start), both files. Before
 * gw__event_init, which connects with gw__prov_user/gw__prov_password. */
int gw__prov_init(struct ht_gw *g, char *err, size_t errlen);
/* Free g->prov. Safe when NULL. */
void gw__prov_free(struct ht_gw *g);
/* The MQTT login of the gateway's own client: the provisioned user and
 * secret, else mqtt.username/mqtt.password (borrowed, may be NULL). */
const char *gw__prov_user(const struct ht_gw *g);
const char *gw__prov_password(const struct ht_gw *g);
/* Create (or replace) the broker credentials of device id: a random
 * password, its hash stored and written to the password file, the broker
 * reloaded. Adds "username" and "password" to mqtt (borrowed, modified):
 * the only time the password is shown. HT_OK and no change when
 * provisioning is off. */
int gw__prov_device_add(struct ht_gw *g, const char *id, json_t *mqtt);
/* Revoke device id's credentials (files rewritten, broker reloaded, which
 * also disconnects it). HT_OK when it has none or provisioning is off. */
int gw__prov_device_remove(struct ht_gw *g, const char *id);
/* mosquitto password-file hash of pass with the given salt (borrowed):
 * "$7$ITER$BASE64(salt)$BASE64(PBKDF2-SHA-512)" into out (>= 160 bytes).
 * Exposed for the unit tests. */
void gw__prov_hash(const char *pass, const uint8_t *salt, size_t saltlen,
                   unsigned iterations, char *out, size_t outlen);
/* The ACL file for topic prefix (new string). */
char *gw__prov_acl_text(const char *prefix);

/* ---- mDNS (mdns.c) ---- */
int gw__mdns_start(struct ht_gw *g);
void gw__mdns_stop(struct ht_gw *g);

/* ---- HTTP server (server.c) ---- */
int gw__server_start(struct ht_gw *g, char *err, size_t errlen);
/* Stop accepting, answer what is suspended, stop the daemon. */
void gw__server_stop(struct ht_gw *g);

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
    char *body;
    size_t body_len;
    bool too_big;
    enum gw_role role;
    char actor[160];
    struct gw_job *job; /* a suspended request waiting for the loop */
    bool seen;          /* first call done */
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

/* Problem body (RFC 9457), new reference. */
json_t *gw__problem(int status, const char *title, const char *detail);
/* Base URL of this gateway's HTTP API ("http://host:port", new). */
char *gw__http_base(struct ht_gw *g);
/* mqtt://host:port of the broker devices use (new). */
char *gw__mqtt_base(struct ht_gw *g);

#endif
