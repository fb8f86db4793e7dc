/* jobs/jobs.h - work handed from HTTP threads to the loop: a request that
 * changes loop-owned state suspends its connection, queues a job and wakes
 * the loop; the loop runs the job's handler, which answers it through
 * gw__job_complete: the audit record is committed (store's writer thread)
 * before the connection is resumed with the answer.
 * Owns: struct gw_jobs (g->jobs): the queue, the committed-answers list and
 * the handler table; the loop's wakeup callback.
 * Uses: core, store (audit), metrics (command counts and latency).
 * Threads: gw__job_new/unref/submit/done on any thread (jobs->mu); the rest
 * on the loop thread.
 */
#ifndef HT_GW_JOBS_H
#define HT_GW_JOBS_H

#include "gateway/core/gw.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

enum gw_job_kind {
    GW_JOB_WRITE, /* PUT property: MQTT command, wait for the ack */
    GW_JOB_APPROVE,
    GW_JOB_BLOCK,
    GW_JOB_DELETE,
    GW_JOB_PREREG,          /* POST /api/v1/devices */
    GW_JOB_TWIN_PUT,        /* PUT /api/v1/twins/{id} */
    GW_JOB_TWIN_DELETE,     /* DELETE /api/v1/twins/{id} */
    GW_JOB_TWIN_WRITE,      /* PUT .../twins/{id}/properties/{ref} */
    GW_JOB_ALARM,           /* POST /api/v1/alarms/{alarm}/{command} */
    GW_JOB_ACCOUNT_ADD,     /* POST /api/v1/mqtt-accounts (dev: name, prop:
                               role) */
    GW_JOB_ACCOUNT_DELETE,  /* DELETE /api/v1/mqtt-accounts/{name} */
    GW_JOB_CONTROL_TAKE,    /* POST /api/v1/twins/{id}/control */
    GW_JOB_CONTROL_RELEASE, /* DELETE /api/v1/twins/{id}/control */
    GW_JOB_PLANT_WRITE,     /* POST /api/v1/plant/commands (value: body) */
    GW_JOB_KINDS
};

struct gw_job {
    struct gw_job *next;
    enum gw_job_kind kind;
    char dev[65];
    char prop[33];
    json_t *value; /* WRITE: the value (owned) */
    char actor[160];
    const char *action; /* audit action (static) instead of the kind's */
    /* The audit target instead of prop (then no device): "twin:ID". */
    char target[160];
    /* Who asks (enum gw_role of the token; 0 for the gateway's own) and,
     * for a technician, the reason to override an interlock or a
     * permissive (?override=), or to take control from its holder
     * (force). */
    int role;
    char reason[160];
    bool force;
    bool request; /* control: ask the holder for it (?request) */
    bool gated;   /* a twin write's sub-command: the gate saw the twin write */
    uint64_t t0_ms; /* monotonic, for latency */
    struct MHD_Connection *conn;
    int refs; /* under jobs->mu: HTTP side + loop side */
    bool done;
    /* Result, written by the loop before done. */
    int status;
    json_t *body; /* success body or problem object (owned) */
    /* Loop side of a WRITE in flight: its command id (the correlation id
     * in hex, in the payload for the device), when it was sent and its
     * deadline (ms since the epoch; 0 until sent). */
    struct ht_gw *gw;
    uint64_t corr;
    char cmd_id[24];
    int64_t sent_ms, deadline_ms;
    struct ht_timer *timer;
    struct gw_job *pnext; /* pending-ack list */
    /* Twin jobs: dev holds the twin id, ref "component.property". A WRITE
     * with on_complete set is a sub-command of a twin write: it has no
     * connection, and job completion calls on_complete (loop thread)
     * instead of resuming one. */
    char ref[72];
    void (*on_complete)(struct ht_gw *g, struct gw_job *j);
    void *ud;
    /* Between the audit append and its commit (store writer thread). */
    uint64_t ms;
    int audit_rc;
    struct gw_job *dnext;
};

/* Loop thread: run job j and eventually complete it. */
typedef void (*gw_job_fn)(struct ht_gw *g, struct gw_job *j);

struct gw_jobs {
    pthread_mutex_t mu;
    struct gw_job *head, *tail;
    bool closed;
    /* Jobs whose audit record the store committed (writer thread), for
     * the loop to answer. */
    struct gw_job *done_head, *done_tail;
    gw_job_fn run[GW_JOB_KINDS];
    struct gw_job_gate *gate; /* (loop) or NULL */
};

/* A device command as the gate sees it (all borrowed). */
struct gw_cmd {
    const char *dev, *prop;
    const json_t *value; /* device units */
};

/* Decides whether commands may go out before anything is sent (shared
 * control, interlocks, permissives: the control module registers it).
 * twin: the twin written, or NULL for a device's own property. Returns
 * 0 to let them go, or the HTTP status of the refusal with *problem a
 * new problem+json object (with "code"). Loop thread. */
struct gw_job_gate {
    int (*check)(struct ht_gw *g, const struct gw_job *j, const char *twin,
                 const struct gw_cmd *cmds, size_t n, json_t **problem,
                 void *ud);
    void *ud;
};

/* Create g->jobs and take the loop's wakeup callback. Loop thread. */
void gw__jobs_init(struct ht_gw *g);
/* Free g->jobs (after gw__jobs_close). Safe when NULL. */
void gw__jobs_clear(struct ht_gw *g);
/* Loop thread, at init: fn runs every job of kind k. */
void gw__jobs_handle(struct ht_gw *g, enum gw_job_kind k, gw_job_fn fn);

/* Loop thread, at init: every command passes gate (borrowed, must
 * outlive the gateway). One gate. */
void gw__jobs_gate(struct ht_gw *g, const struct gw_job_gate *gate);
/* Loop thread: run the gate on j's commands; 0 (go, also without a gate)
 * or the refusal's status with *problem new. */
int gw__job_gate(struct ht_gw *g, const struct gw_job *j, const char *twin,
                 const struct gw_cmd *cmds, size_t n, json_t **problem);

/* Problem body (RFC 9457), new reference. Any thread. */
json_t *gw__problem(int status, const char *title, const char *detail);

/* New job with refs = 1 (the HTTP side). dev and actor copied. */
struct gw_job *gw__job_new(enum gw_job_kind kind, const char *dev,
                           const char *actor);
/* Drop one reference (any thread). NULL is a no-op. */
void gw__job_unref(struct ht_gw *g, struct gw_job *j);
/* HTTP thread: suspend conn, queue j (the loop takes a reference), wake the
 * loop. HT_ESTATE when the gateway is stopping (nothing suspended). */
int gw__job_submit(struct ht_gw *g, struct gw_job *j,
                   struct MHD_Connection *conn);
/* Any thread (jobs->mu, then a loop wakeup): queue n connection-less jobs
 * for the next wakeup (the queue takes a reference to each; the caller
 * keeps its own). HT_ESTATE when closed: then nothing is queued. */
int gw__jobs_queue(struct ht_gw *g, struct gw_job **jobs, size_t n);
/* HTTP thread: true once the loop has completed j. */
bool gw__job_done(struct ht_gw *g, struct gw_job *j);

/* Loop thread: answer j with status and body (taken, may be NULL) once its
 * audit record (result: "ok" or an error code) is durable. */
void gw__job_complete(struct ht_gw *g, struct gw_job *j, int status,
                      json_t *body, const char *result);
/* Loop thread: gw__job_complete with a problem body carrying code. */
void gw__job_fail(struct ht_gw *g, struct gw_job *j, int status,
                  const char *code, const char *title, const char *detail);
/* Loop thread: refuse new jobs and answer the queued ones 503. */
void gw__jobs_close(struct ht_gw *g);
/* Loop thread: answer the jobs whose audit records are committed. */
void gw__jobs_finish_done(struct ht_gw *g);

#endif
