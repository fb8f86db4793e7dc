/* jobs.c - the queue between the HTTP threads and the loop, and the
 * answer path: a job's audit record goes to the store's writer, which
 * commits the records of every job finishing meanwhile with one fsync; the
 * writer hands the job back and the loop resumes its connection. */
#include "gateway/jobs/jobs.h"
#include "gateway/metrics/metrics.h"
#include "gateway/store/store.h"

#include "ht_err.h"
#include "ht_json.h"
#include "ht_log.h"
#include "ht_loop.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

json_t *gw__problem(int status, const char *title, const char *detail)
{
    json_t *p = json_pack("{s:s, s:s, s:i}", "type", "about:blank", "title",
                          title, "status", status);
    if (detail)
        json_object_set_new(p, "detail", json_string(detail));
    return p;
}

struct gw_job *gw__job_new(enum gw_job_kind kind, const char *dev,
                           const char *actor)
{
    struct gw_job *j = ht_calloc(1, sizeof *j);
    j->kind = kind;
    if (dev)
        ht_strlcpy(j->dev, dev, sizeof j->dev);
    ht_strlcpy(j->actor, actor ? actor : "", sizeof j->actor);
    j->t0_ms = ht_mono_ms();
    j->refs = 1;
    return j;
}

void gw__job_unref(struct ht_gw *g, struct gw_job *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&g->jobs->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&g->jobs->mu);
    if (left > 0)
        return;
    json_decref(j->value);
    json_decref(j->body);
    free(j);
}

/* Append j to the queue, which takes a reference (q->mu held). */
static void push(struct gw_jobs *q, struct gw_job *j)
{
    j->refs++;
    j->next = NULL;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
}

int gw__job_submit(struct ht_gw *g, struct gw_job *j,
                   struct MHD_Connection *conn)
{
    pthread_mutex_lock(&g->jobs->mu);
    if (g->jobs->closed) {
        pthread_mutex_unlock(&g->jobs->mu);
        return HT_ESTATE;
    }
    /* Suspend before queueing: the loop may resume it right away. */
    j->conn = conn;
    MHD_suspend_connection(conn);
    push(g->jobs, j);
    pthread_mutex_unlock(&g->jobs->mu);
    ht_loop_wakeup(g->loop);
    return HT_OK;
}

bool gw__job_done(struct ht_gw *g, struct gw_job *j)
{
    pthread_mutex_lock(&g->jobs->mu);
    bool d = j->done;
    pthread_mutex_unlock(&g->jobs->mu);
    return d;
}

static void metrics_cmd(struct ht_gw *g, int status, uint64_t ms)
{
    int k = status == 200                                       ? 0
            : status == 400                                     ? 1
            : (status == 403 || status == 404 || status == 409) ? 2
            : status == 503                                     ? 3
            : status == 504                                     ? 4
                                                                : 5;
    pthread_mutex_lock(&g->metrics->mu);
    g->metrics->cmd_by_status[k]++;
    pthread_mutex_unlock(&g->metrics->mu);
    gw__hist_observe(g->metrics, &g->metrics->cmd_latency, (double)ms / 1000.0);
}

static const char *job_action(enum gw_job_kind k)
{
    static const char *const n[] = {
        "write",           "approve",     "block",          "delete",
        "register",        "twin-put",    "twin-delete",    "twin-write",
        "alarm",           "account-add", "account-remove", "control-take",
        "control-release", "plant-write"};
    return n[k];
}

/* Loop thread: the audit record of j is committed (or failed): answer. */
static void job_finish(struct ht_gw *g, struct gw_job *j, int audit_rc)
{
    pthread_mutex_lock(&g->jobs->mu);
    if (audit_rc == -ENOSPC) {
        /* Disk full: the record stays in the journal, committed when space
         * returns (the store retries); the answer tells what was done. */
        ht_log(LOG_WARNING, "jobs",
               "disk full: the audit record of %s waits in the journal",
               j->dev);
    } else if (audit_rc) {
        /* Never acknowledge what the audit log does not hold. */
        json_decref(j->body);
        j->status = 500;
        j->body = gw__problem(500, "Audit log unavailable",
                              "the command could not be recorded");
    }
    int status = j->status;
    j->done = true;
    pthread_mutex_unlock(&g->jobs->mu);
    if (j->kind == GW_JOB_WRITE)
        metrics_cmd(g, status, j->ms);
    if (j->on_complete)
        j->on_complete(g, j); /* twin sub-command: no connection */
    else
        MHD_resume_connection(j->conn);
    gw__job_unref(g, j);
}

/* Store writer thread: hand the job back to the loop. */
static void audit_done(void *ud, int rc)
{
    struct gw_job *j = ud;
    struct ht_gw *g = j->gw;
    pthread_mutex_lock(&g->jobs->mu);
    j->audit_rc = rc;
    j->dnext = NULL;
    if (g->jobs->done_tail)
        g->jobs->done_tail->dnext = j;
    else
        g->jobs->done_head = j;
    g->jobs->done_tail = j;
    pthread_mutex_unlock(&g->jobs->mu);
    ht_loop_wakeup(g->loop);
}

void gw__jobs_finish_done(struct ht_gw *g)
{
    pthread_mutex_lock(&g->jobs->mu);
    struct gw_job *j = g->jobs->done_head;
    g->jobs->done_head = g->jobs->done_tail = NULL;
    pthread_mutex_unlock(&g->jobs->mu);
    while (j) {
        struct gw_job *next = j->dnext;
        job_finish(g, j, j->audit_rc);
        j = next;
    }
}

/* Finish a job: audit it durably, then hand the answer to HTTP. The
 * record goes to the store's writer, which commits the records of every
 * job finishing meanwhile with one fsync; the loop answers when told. */
void gw__job_complete(struct ht_gw *g, struct gw_job *j, int status,
                      json_t *body, const char *result)
{
    uint64_t ms = ht_mono_ms() - j->t0_ms;
    char *val = ht_json_dumps(j->value, false, NULL);
    struct ht_store_audit a = {
        .ts = gw__now_ms(g),
        .actor = j->actor,
        .action = j->action ? j->action : job_action(j->kind),
        .device = !j->target[0] && j->dev[0] ? j->dev : NULL,
        .target = j->target[0] ? j->target
                  : j->prop[0] ? j->prop
                               : NULL,
        .value = val,
        .result = result,
        .status = status,
        .latency_ms = (int64_t)ms,
        .command_id = j->cmd_id[0] ? j->cmd_id : NULL,
        .sent = j->sent_ms,
        .deadline = j->deadline_ms,
    };
    if (j->timer) {
        ht_timer_free(j->timer);
        j->timer = NULL;
    }
    pthread_mutex_lock(&g->jobs->mu);
    j->status = status;
    j->body = body;
    pthread_mutex_unlock(&g->jobs->mu);
    j->gw = g;
    j->ms = ms;
    int rc = ht_store_audit_add_async(g->store, &a, audit_done, j);
    if (rc) {
        rc = ht_store_audit_add(g->store, &a);
        job_finish(g, j, rc);
    }
    free(val);
}

void gw__jobs_gate(struct ht_gw *g, const struct gw_job_gate *gate)
{
    if (g->jobs)
        g->jobs->gate = (struct gw_job_gate *)gate;
}

int gw__job_gate(struct ht_gw *g, const struct gw_job *j, const char *twin,
                 const struct gw_cmd *cmds, size_t n, json_t **problem)
{
    *problem = NULL;
    const struct gw_job_gate *gt = g->jobs ? g->jobs->gate : NULL;
    return gt ? gt->check(g, j, twin, cmds, n, problem, gt->ud) : 0;
}

void gw__job_fail(struct ht_gw *g, struct gw_job *j, int status,
                  const char *code, const char *title, const char *detail)
{
    json_t *p = gw__problem(status, title, detail);
    json_object_set_new(p, "code", json_string(code));
    gw__job_complete(g, j, status, p, code);
}

/* Loop wakeup: first answer what the store committed, then run what the
 * HTTP threads queued, each by its kind's handler. */
static void on_wakeup(struct ht_loop *l, void *ud)
{
    (void)l;
    struct ht_gw *g = ud;
    gw__jobs_finish_done(g);
    pthread_mutex_lock(&g->jobs->mu);
    struct gw_job *j = g->jobs->head;
    g->jobs->head = g->jobs->tail = NULL;
    pthread_mutex_unlock(&g->jobs->mu);
    while (j) {
        struct gw_job *next = j->next;
        gw_job_fn fn = g->jobs->run[j->kind];
        if (fn)
            fn(g, j);
        else
            gw__job_fail(g, j, 500, "internal", "No handler", NULL);
        j = next;
    }
}

void gw__jobs_init(struct ht_gw *g)
{
    g->jobs = ht_calloc(1, sizeof *g->jobs);
    pthread_mutex_init(&g->jobs->mu, NULL);
    ht_loop_on_wakeup(g->loop, on_wakeup, g);
}

void gw__jobs_clear(struct ht_gw *g)
{
    if (!g->jobs)
        return;
    ht_loop_on_wakeup(g->loop, NULL, NULL); /* the loop may outlive us */
    pthread_mutex_destroy(&g->jobs->mu);
    free(g->jobs);
    g->jobs = NULL;
}

void gw__jobs_handle(struct ht_gw *g, enum gw_job_kind k, gw_job_fn fn)
{
    g->jobs->run[k] = fn;
}

int gw__jobs_queue(struct ht_gw *g, struct gw_job **jobs, size_t n)
{
    pthread_mutex_lock(&g->jobs->mu);
    bool closed = g->jobs->closed;
    for (size_t i = 0; !closed && i < n; i++)
        push(g->jobs, jobs[i]);
    pthread_mutex_unlock(&g->jobs->mu);
    if (closed)
        return HT_ESTATE;
    ht_loop_wakeup(g->loop);
    return HT_OK;
}

void gw__jobs_close(struct ht_gw *g)
{
    pthread_mutex_lock(&g->jobs->mu);
    g->jobs->closed = true;
    struct gw_job *j = g->jobs->head;
    g->jobs->head = g->jobs->tail = NULL;
    pthread_mutex_unlock(&g->jobs->mu);
    while (j) {
        struct gw_job *next = j->next;
        gw__job_fail(g, j, 503, "shutting_down", "Gateway stopping",
                     "the gateway is shutting down");
        j = next;
    }
}
