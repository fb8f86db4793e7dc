/* twinglue/twinglue.h - the gateway's twin glue: the twin engine on the
 * loop thread, the snapshots the HTTP thread reads, and the twin assets'
 * storage (their routes are in http/).
 * Owns: struct gw_twins (g->twins): the engine, the twin table, the asset
 * files; the retained MQTT twin topics.
 * Uses: core, store, registry, sse, jobs, ingest (as its subscriber).
 *
 * Threads: the engine, the timer of its duration rules and every change of
 * the twin table run on the loop thread (fed by ingest's subscription and
 * by GW_JOB_TWIN_* jobs). The HTTP thread reads the table
 * through the gw__twin_* snapshot functions below, which take tw->mu and
 * copy what they return; descriptors and TDs are generated on the HTTP
 * thread from those copies (the generators are pure libraries).
 */
#ifndef HT_GW_TWINS_H
#define HT_GW_TWINS_H

#include "gateway/core/gw.h"

#include "twins/twin.h"
#include "ui-descriptors/uidesc.h"

#include <pthread.h>

/* One twin as the gateway knows it. Fields marked (mu) are read by the HTTP
 * thread under gw_twins.mu; the rest belongs to the loop. */
struct tw_entry {
    char id[65];
    bool is_auto;    /* (mu) automatic twin of device dev */
    char dev[65];    /* (mu) */
    int version;     /* (mu) stored version (auto: the device's TD) */
    int64_t updated; /* (mu) ms since epoch */
    char *title;     /* (mu) */
    char *doc;       /* (mu) document text, "version" set */
    char *state;     /* (mu) state JSON text, NULL until computed */
    bool stable;     /* (mu) */
    size_t nalarms;  /* (mu) */
    /* ETags of the operator-role descriptors last published (the bytes
     * are not kept: 16 KB a twin; republishing renders them again). */
    bool has_etag[2];
    char etag[2][HT_UI_ETAG_LEN];
    bool desc_force; /* queued: publish even if the ETag is unchanged */
    bool dirty;      /* state snapshot due (in gw_twins.dirty) */
    uint64_t pub_ms; /* monotonic time of the last state publish */
    bool pub_due;    /* a newer state waits in gw_twins.pubq */
};

/* A subscriber to the twins' alarm transitions (ISA-18.2 life cycle): the
 * alarms module registers one, so that this module need not know it. All
 * calls on the loop thread. */
struct gw_twins_alarm_sub {
    /* One transition, in engine order, right after the engine call that
     * made it; data (borrowed) is the SSE "alarm" event's object:
     * {"twin","rule","id","ts","from","to","cause","who"?,"note"?,
     * "alarm":{...full state...}}. */
    void (*on_alarm)(struct ht_gw *g, const json_t *data, void *ud);
    /* The state snapshots are rebuilt and the held SSE events are about to
     * go out: bring alarm snapshots up to date first. */
    void (*on_flush)(struct ht_gw *g, void *ud);
    /* A twin was added or replaced (its alarms may have changed). */
    void (*on_twin)(struct ht_gw *g, const char *twin, void *ud);
    /* A twin was removed (its alarms with it). */
    void (*on_removed)(struct ht_gw *g, const char *twin, void *ud);
    void *ud;
};

/* A subscriber to what the plant's uplink needs besides the SSE events
 * (the upstream module registers one, so that this module need not know
 * it; docs/fleet.md). All calls on the loop thread; every pointer is
 * borrowed for the call. */
struct gw_twins_uplink_sub {
    /* An operator-role descriptor whose bytes changed (doc: len bytes of
     * JSON, as served and published), in place of the SSE "descriptor"
     * event that follows it. */
    void (*on_descriptor)(struct ht_gw *g, const char *twin, const char *target,
                          const char *etag, int version, const char *doc,
                          size_t len, void *ud);
    /* A state snapshot as GET .../state serves it (without its newline),
     * when it is published (at most every 20 ms a twin, the newest always
     * published). */
    void (*on_state)(struct ht_gw *g, const char *twin, const char *state,
                     size_t len, void *ud);
    void *ud;
};

/* An SSE event held for the end of the loop iteration. */
struct tw_held {
    const char *kind; /* static */
    char *twin;
    char *data; /* JSON text */
    size_t dlen;
};

/* An engine event not yet turned into ours: a STATE event (one per value)
 * as its fields, any other kind as its JSON object (ev). */
struct tw_qev {
    json_t *ev;      /* NULL for STATE */
    char *twin;      /* STATE */
    int64_t ts;      /* STATE */
    json_t *changed; /* STATE: the engine's list, referenced */
};

struct gw_twins {
    struct ht_gw *g;     /* the composition root (its clock) */
    pthread_mutex_t mu;  /* the table, for the HTTP thread */
    struct tw_entry **v; /* sorted by id */
    size_t n, cap;
    uint64_t gen; /* bumped by every change of the table */
    struct ht_twin_engine *eng;
    /* Who hears of alarm transitions (the alarms module), or zeroed. */
    struct gw_twins_alarm_sub alarm_sub;
    /* Who hears of descriptors and state snapshots (upstream), or zeroed. */
    struct gw_twins_uplink_sub uplink_sub;
    struct ht_timer *timer;  /* next duration-rule deadline */
    struct ht_prepare *prep; /* republish retained topics on connect */
    unsigned connects;
    struct tw_qev *q; /* engine events not yet turned into ours */
    size_t nq, capq;
    /* Twins whose state snapshot is stale: rebuilt and published once per
     * loop iteration by the zero-delay flush timer, not once per value. */
    char **dirty;
    size_t ndirty, capdirty;
    struct tw_held *held; /* SSE events for it, in engine order */
    size_t nheld, capheld;
    /* Descriptors to (re)generate in the background, a slice per loop
     * iteration: every twin at start-up and after a broker reconnect. */
    char **descq;
    size_t ndescq, capdescq, descq_pos;
    struct ht_timer *desc_timer;
    /* Retained state topics: at most one publish per twin per
     * GW_TWIN_PUB_MS, the newest state always published (trailing edge). */
    char **pubq;
    size_t npubq, cappubq;
    struct ht_timer *pub_timer;
    bool loading; /* gw__twins_init: descriptors are queued */
    struct ht_timer *flush;
    /* Assets (assets.c): DATA_DIR/assets/<sha256> blobs and one index per
     * twin in DATA_DIR/assets/twins/<twin>.json, under asset_mu. */
    pthread_mutex_t asset_mu;
    char *asset_dir;
};

/* ---- loop thread: the twin hooks forward here (approved devices) ---- */
void gw__twins_on_value(struct ht_gw *g, const char *dev, const char *prop,
                        const json_t *v);
void gw__twins_on_status(struct ht_gw *g, const char *dev, bool online);
/* thing borrowed; NULL-safe for a device without TD. */
void gw__twins_on_td(struct ht_gw *g, const char *dev,
                     const struct ht_sem_thing *thing);
void gw__twins_on_removed(struct ht_gw *g, const char *dev);

/* ---- snapshots (any thread) ---- */

/* [{"id","title","version","updated","auto","device"?,"stable","alarms"}]
 * ordered by id (new reference). */
json_t *gw__twins_list(struct ht_gw *g);
/* One entry of gw__twins_list (new) or NULL for an unknown twin. */
json_t *gw__twin_info(struct ht_gw *g, const char *id);
/* True if twin id exists; *is_auto (may be NULL) tells an automatic one. */
bool gw__twin_exists(struct ht_gw *g, const char *id, bool *is_auto);
/* Changes whenever a twin is added, updated or removed. */
uint64_t gw__twins_gen(struct ht_gw *g);
/* The twin's document (new reference) or NULL for an unknown twin. */
json_t *gw__twin_doc(struct ht_gw *g, const char *id);
/* The twin's state as JSON text ending in a newline (new, *len bytes), or
 * NULL for an unknown twin (or one whose state is not built yet). */
char *gw__twin_state_text(struct ht_gw *g, const char *id, size_t *len);
/* The parsed model (new, free with ht_twin_model_free) or NULL. */
struct ht_twin_model *gw__twin_model(struct ht_gw *g, const char *id);
/* Ids of all twins (new array of strings). */
json_t *gw__twin_ids(struct ht_gw *g);
/* Copies of the things of the devices the model binds (new array of *n
 * things; free with gw__things_free). Blocked devices are left out. */
struct ht_sem_thing **gw__twin_things(struct ht_gw *g,
                                      const struct ht_twin_model *m, size_t *n);
void gw__things_free(struct ht_sem_thing **t, size_t n);
/* The twin's WoT TD with forms pointing at this gateway (new) or NULL. */
json_t *gw__twin_td(struct ht_gw *g, const char *id);
/* Render a UI descriptor for a role: *out new bytes (free()), etag
 * filled. HT_ENOENT for an unknown twin, HT_EINVAL with err. */
int gw__twin_ui(struct ht_gw *g, const char *id, enum ht_ui_target target,
                enum ht_ui_role role, char **out, size_t *len,
                char etag[HT_UI_ETAG_LEN], char *err, size_t errlen);

/* ---- assets (assets.c): DATA_DIR/assets/<sha256> blobs and one index
 * per twin; every call below except init holds tw->asset_mu. ---- */

/* Create DATA_DIR/assets (loop thread, at init). */
int gw__assets_init(struct ht_gw *g, char *err, size_t errlen);
/* Forget every asset of a twin; blobs nobody references are deleted. */
void gw__assets_remove_twin(struct ht_gw *g, const char *twin);
/* Asset names: [A-Za-z0-9._-], not starting with a dot. */
bool gw__asset_name_valid(const char *s);
/* A string member of an index entry (borrowed), never NULL. */
const char *gw__asset_str(const json_t *o, const char *key);
/* Path of blob sha (new string). */
char *gw__asset_blob_path(struct gw_twins *tw, const char *sha);
/* The index of twin (new object, empty if none). */
json_t *gw__asset_index_load(struct gw_twins *tw, const char *twin);
/* Write the index of twin (idx borrowed). HT_OK or an error. */
int gw__asset_index_save(struct gw_twins *tw, const char *twin,
                         const json_t *idx);
/* Delete blob sha unless an index still references it. */
void gw__asset_blob_release(struct gw_twins *tw, const char *sha);

/* ---- alarms (loop thread) ---- */

/* Register the one uplink subscriber (s copied; NULL or zeroed removes
 * it). */
void gw__twins_uplink_subscribe(struct ht_gw *g,
                                const struct gw_twins_uplink_sub *s);
/* Register the one alarm subscriber (s copied). */
void gw__twins_alarm_subscribe(struct ht_gw *g,
                               const struct gw_twins_alarm_sub *s);
/* Run an alarm command on the engine at the gateway's time (rq borrowed),
 * then report its transition like any engine event. As
 * ht_twin_engine_alarm_cmd. */
int gw__twins_alarm_cmd(struct ht_gw *g, enum ht_twin_alarm_cmd cmd,
                        const struct ht_twin_alarm_req *rq, char *err,
                        size_t errlen);
/* Restore an alarm's life cycle at start-up (state borrowed). As
 * ht_twin_engine_alarm_restore. */
int gw__twins_alarm_restore(struct ht_gw *g, const char *twin, const char *rule,
                            const json_t *state);

/* ---- the job handlers (GW_JOB_TWIN_*) and ingest subscription are set up
 * by gw__twins_init. ---- */
/* Created after ingest has loaded the registry, freed before it is
 * cleared. */
int gw__twins_init(struct ht_gw *g, char *err, size_t errlen);
void gw__twins_clear(struct ht_gw *g);

#endif
