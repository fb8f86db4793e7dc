/* routes_twins.c - REST handlers of /api/v1/twins (HTTP thread).
 *
 * Reads come from the twin table's snapshots (twins.c); documents are
 * validated here first so that a bad twin costs the loop nothing, then
 * changes and writes go to the loop as GW_JOB_TWIN_* jobs and the
 * connection waits, suspended, for the answer. UI descriptors and TDs are
 * generated here, per request, from copies (so a descriptor can honour the
 * caller's role).
 */

#include "gateway/control/control.h"
#include "gateway/history/history.h"
#include "gateway/http/http.h"
#include "gateway/jobs/jobs.h"
#include "gateway/sse/sse.h"
#include "gateway/store/store.h"
#include "gateway/twinglue/twinglue.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_mem.h"
#include "ht_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum MHD_Result unknown_twin(struct gw_req *r)
{
    return gw__reply_problem(r, 404, "Not Found", "unknown twin");
}

/* "component.property" or "twin.name": two [a-z][a-z0-9_]{0,31} parts. */
static bool ref_valid(const char *s)
{
    const char *dot = s ? strchr(s, '.') : NULL;
    if (!dot || strchr(dot + 1, '.'))
        return false;
    const char *parts[2] = {s, dot + 1};
    size_t lens[2] = {(size_t)(dot - s), strlen(dot + 1)};
    for (int k = 0; k < 2; k++) {
        const char *p = parts[k];
        if (lens[k] < 1 || lens[k] > 32 || p[0] < 'a' || p[0] > 'z')
            return false;
        for (size_t i = 1; i < lens[k]; i++)
            if (!((p[i] >= 'a' && p[i] <= 'z') ||
                  (p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
                return false;
    }
    return true;
}

/* The segment after .../properties/ (dots allowed, so not a {name}). */
static const char *seg_ref(const struct gw_req *r)
{
    return r->nseg == 6 ? r->seg[5] : NULL;
}

enum MHD_Result gw__route_twins(struct gw_req *r)
{
    /* Who controls each machine, for overviews (only the held ones). */
    json_t *items = gw__twins_list(r->g), *it;
    size_t i;
    json_array_foreach(items, i, it)
    {
        json_t *h = gw__control_holder(
            r->g, json_string_value(json_object_get(it, "id")));
        if (h)
            json_object_set_new(it, "holder", h);
    }
    return gw__reply_json(r, 200, json_pack("{s:o}", "items", items));
}

enum MHD_Result gw__route_twin_get(struct gw_req *r)
{
    json_t *doc = gw__twin_doc(r->g, r->id);
    if (!doc)
        return unknown_twin(r);
    return gw__reply_json(r, 200, doc);
}

enum MHD_Result gw__route_twin_put(struct gw_req *r)
{
    if (!r->body || r->body_len == 0)
        return gw__reply_problem(r, 400, "Bad Request",
                                 "a twin document (JSON object) is required");
    json_error_t je;
    json_t *doc = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        char d[320];
        snprintf(d, sizeof d, "malformed JSON at line %d column %d: %s",
                 je.line, je.column, je.text);
        return gw__reply_problem(r, 400, "Bad Request", d);
    }
    char err[512] = "", ptr[128] = "";
    struct ht_twin_model *m = NULL;
    int rc = json_is_object(doc) ? ht_twin_model_parse(doc, &m, err, sizeof err,
                                                       ptr, sizeof ptr)
                                 : HT_EINVAL;
    if (rc == HT_OK && strcmp(m->id, r->id)) {
        snprintf(err, sizeof err,
                 "/id: '%s' must equal the id in the path "
                 "('%s')",
                 m->id, r->id);
        ht_strlcpy(ptr, "/id", sizeof ptr);
        rc = HT_EINVAL;
    }
    ht_twin_model_free(m);
    if (rc) {
        if (!json_is_object(doc))
            snprintf(err, sizeof err, "a twin document must be a JSON object");
        json_decref(doc);
        json_t *p = gw__problem(400, "Invalid twin", err);
        json_object_set_new(p, "code", json_string("invalid_twin"));
        json_object_set_new(p, "pointer", json_string(ptr));
        json_object_set_new(p, "instance", json_string(r->url));
        return gw__reply_json(r, 400, p);
    }
    struct gw_job *j = gw__job_new(GW_JOB_TWIN_PUT, r->id, r->actor);
    j->value = doc;
    return gw__reply_job(r, j);
}

enum MHD_Result gw__route_twin_delete(struct gw_req *r)
{
    return gw__reply_job(r, gw__job_new(GW_JOB_TWIN_DELETE, r->id, r->actor));
}

/* ?at=TIME: the state then, rebuilt from the history (history/). */
static enum MHD_Result twin_state_at(struct gw_req *r, const char *ats)
{
    int64_t at;
    if (gw__history_time(ats, &at) != HT_OK)
        return gw__reply_problem(r, 400, "Bad Request",
                                 "at must be ms since the epoch or an RFC "
                                 "3339 time (2026-12-03T03:12:00Z)");
    json_t *st = NULL;
    char err[256] = "";
    int rc = gw__history_state_at(r->g, r->id, at, &st, err, sizeof err);
    if (rc == HT_ENOENT)
        return unknown_twin(r);
    if (rc)
        return gw__reply_problem(r, 500, "State not rebuilt", err);
    return gw__reply_json(r, 200, st);
}

enum MHD_Result gw__route_twin_timeline(struct gw_req *r)
{
    int64_t from = 0, to = 0;
    long long limit;
    const char *fs = gw__query(r, "from"), *ts = gw__query(r, "to");
    if ((fs && gw__history_time(fs, &from) != HT_OK) ||
        (ts && gw__history_time(ts, &to) != HT_OK) ||
        !gw__query_int(r, "limit", 1000, &limit) || limit < 1 || limit > 100000)
        return gw__reply_problem(r, 400, "Bad Request",
                                 "from and to are ms since the epoch or RFC "
                                 "3339 times, limit 1..100000");
    if (!gw__twin_exists(r->g, r->id, NULL))
        return unknown_twin(r);
    json_t *out = gw__history_timeline(r->g, r->id, from, to, (int)limit);
    if (!out)
        return gw__reply_problem(r, 500, "Store error", "timeline not read");
    json_object_set_new(out, "twin", json_string(r->id));
    return gw__reply_json(r, 200, out);
}

enum MHD_Result gw__reply_history(struct gw_req *r, json_t *hist)
{
    const char *fmt = gw__query(r, "format");
    const char *acc =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Accept");
    bool csv = (fmt && !strcmp(fmt, "csv")) ||
               (!fmt && acc && !strcmp(acc, "text/csv"));
    if (fmt && !csv && strcmp(fmt, "json")) {
        json_decref(hist);
        return gw__reply_problem(r, 400, "Bad Request",
                                 "format must be json or csv");
    }
    if (!csv)
        return gw__reply_json(r, 200, hist);
    size_t len = 0;
    char *text = gw__history_csv(hist, &len);
    json_decref(hist);
    enum MHD_Result ret =
        gw__reply_buf(r, 200, "text/csv; charset=utf-8", text, len);
    free(text);
    return ret;
}

enum MHD_Result gw__route_twin_state(struct gw_req *r)
{
    const char *ats = gw__query(r, "at");
    if (ats)
        return twin_state_at(r, ats);
    if (!gw__twin_exists(r->g, r->id, NULL))
        return unknown_twin(r);
    /* The snapshot is kept as JSON text: served as is, never reparsed. */
    size_t len = 0;
    char *st = gw__twin_state_text(r->g, r->id, &len);
    if (!st)
        return gw__reply_problem(r, 503, "Unavailable",
                                 "the twin's state is being computed");
    enum MHD_Result ret = gw__reply_buf(r, 200, "application/json", st, len);
    free(st);
    return ret;
}

enum MHD_Result gw__route_twin_prop_put(struct gw_req *r)
{
    const char *ref = seg_ref(r);
    if (!ref_valid(ref))
        return gw__reply_problem(r, 400, "Bad Request",
                                 "expected component.property (or "
                                 "twin.name), each [a-z][a-z0-9_]{0,31}");
    if (!gw__twin_exists(r->g, r->id, NULL))
        return unknown_twin(r);
    if (!r->body || r->body_len == 0)
        return gw__reply_problem(r, 400, "Bad Request",
                                 "the body must be the JSON value to write");
    json_error_t je;
    json_t *v = json_loadb(r->body, r->body_len, JSON_DECODE_ANY, &je);
    if (!v) {
        char d[320];
        snprintf(d, sizeof d, "malformed JSON at line %d column %d: %s",
                 je.line, je.column, je.text);
        return gw__reply_problem(r, 400, "Bad Request", d);
    }
    struct gw_job *j = gw__job_new(GW_JOB_TWIN_WRITE, r->id, r->actor);
    ht_strlcpy(j->ref, ref, sizeof j->ref);
    j->value = v;
    return gw__reply_job(r, j);
}

/* GET .../properties/{ref}: the property's current value alone, the body
 * a WoT consumer's readproperty expects (the state's {"value","ts",
 * "quality"} record is in /state). */
enum MHD_Result gw__route_twin_prop_get(struct gw_req *r)
{
    const char *ref = seg_ref(r);
    if (!ref_valid(ref))
        return gw__reply_problem(r, 400, "Bad Request",
                                 "expected component.property (or "
                                 "twin.name), each [a-z][a-z0-9_]{0,31}");
    size_t len = 0;
    char *st = gw__twin_state_text(r->g, r->id, &len);
    if (!st)
        return gw__twin_exists(r->g, r->id, NULL)
                   ? gw__reply_problem(r, 503, "Unavailable",
                                       "the twin's state is being computed")
                   : unknown_twin(r);
    json_t *j = json_loadb(st, len, 0, NULL);
    free(st);
    json_t *p = json_object_get(json_object_get(j, "properties"), ref);
    if (!p) {
        json_decref(j);
        return gw__reply_problem(r, 404, "Not Found",
                                 "the twin has no such property");
    }
    json_t *v = json_object_get(p, "value");
    char *s = json_dumps(v ? v : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    enum MHD_Result ret =
        gw__reply_buf(r, 200, "application/json", s, strlen(s));
    free(s);
    return ret;
}

/* An SSE stream of unnamed events for WoT consumers (sse.h), bounded per
 * holder like every stream. */
static enum MHD_Result twin_stream(struct gw_req *r, const char *ref,
                                   const char *evtype)
{
    if (gw__sse_owned(r->g, r->actor) >= (size_t)r->g->conf->http_sse_per_token)
        return gw__reply_problem(r, 429, "Too Many Requests",
                                 "this token holds http.sse_per_token "
                                 "event streams already");
    struct MHD_Response *resp =
        gw__sse_response_twin(r->g, r->conn, -1, r->id, ref, evtype, r->actor);
    if (!resp)
        return gw__reply_problem(r, 503, "Unavailable", "cannot stream");
    enum MHD_Result ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* GET .../properties/{ref}/observe: observeproperty of twin TDs. */
enum MHD_Result gw__route_twin_prop_observe(struct gw_req *r)
{
    const char *ref = r->nseg == 7 ? r->seg[5] : NULL;
    if (!ref_valid(ref))
        return gw__reply_problem(r, 400, "Bad Request",
                                 "expected component.property (or "
                                 "twin.name), each [a-z][a-z0-9_]{0,31}");
    size_t len = 0;
    char *st = gw__twin_state_text(r->g, r->id, &len);
    if (!st)
        return unknown_twin(r);
    json_t *j = json_loadb(st, len, 0, NULL);
    free(st);
    bool known = json_object_get(json_object_get(j, "properties"), ref);
    json_decref(j);
    if (!known)
        return gw__reply_problem(r, 404, "Not Found",
                                 "the twin has no such property");
    return twin_stream(r, ref, NULL);
}

/* The event affordances of twin TDs and the SSE event each one streams. */
static const char *const twin_events[][2] = {
    {"alarm_raised", "alarm-raised"},
    {"alarm_cleared", "alarm-cleared"},
    {"stable_changed", "stable-changed"},
};

/* GET /api/v1/twins/{id}/events/{name}: subscribeevent of twin TDs. */
enum MHD_Result gw__route_twin_event(struct gw_req *r)
{
    if (!gw__twin_exists(r->g, r->id, NULL))
        return unknown_twin(r);
    for (size_t i = 0; i < sizeof twin_events / sizeof *twin_events; i++)
        if (!strcmp(r->name, twin_events[i][0]))
            return twin_stream(r, NULL, twin_events[i][1]);
    return gw__reply_problem(r, 404, "Not Found",
                             "twins have the events alarm_raised, "
                             "alarm_cleared and stable_changed");
}

/* GET /api/v1/twins/{id}/control: who holds it, and whether commands
 * need a holder. */
enum MHD_Result gw__route_twin_control_get(struct gw_req *r)
{
    if (!gw__twin_exists(r->g, r->id, NULL))
        return unknown_twin(r);
    return gw__reply_json(r, 200, gw__control_get(r->g, r->id));
}

/* POST (take, ?force for a technician) and DELETE (release) run on the
 * loop, where the holders and the gate live. */
enum MHD_Result gw__route_twin_control_set(struct gw_req *r)
{
    if (!gw__twin_exists(r->g, r->id, NULL))
        return unknown_twin(r);
    bool take = !strcmp(r->method, "POST");
    struct gw_job *j = gw__job_new(
        take ? GW_JOB_CONTROL_TAKE : GW_JOB_CONTROL_RELEASE, r->id, r->actor);
    return gw__reply_job(r, j);
}

/* Twin units for a device value of the history (numbers only). */
static void hist_convert(json_t *item, const struct ht_twin_prop *p,
                         bool invert)
{
    static const char *const keys[] = {"v", "min", "max"};
    for (int k = 0; k < 3; k++) {
        json_t *x = json_object_get(item, keys[k]);
        if (json_is_number(x))
            json_object_set_new(
                item, keys[k],
                json_real(ht_twin_prop_to_twin(p, json_number_value(x))));
        else if (invert && json_is_boolean(x))
            json_object_set_new(item, keys[k], json_boolean(!json_is_true(x)));
    }
}

static bool identity(const struct ht_twin_prop *p)
{
    return p->conv_a == 1 && p->conv_b == 0 && p->scale == 1 && p->offset == 0;
}

enum MHD_Result gw__route_twin_history(struct gw_req *r)
{
    const char *ref = gw__query(r, "property");
    long long from, to, limit, step;
    if (!ref_valid(ref))
        return gw__reply_problem(r, 400, "Bad Request",
                                 "property=component.property is required");
    if (!gw__query_int(r, "from", 0, &from) ||
        !gw__query_int(r, "to", 0, &to) ||
        !gw__query_int(r, "limit", 1000, &limit) ||
        !gw__query_int(r, "step", 0, &step) || limit < 1 || limit > 100000 ||
        step < 0 || from < 0 || to < 0)
        return gw__reply_problem(r, 400, "Bad Request",
                                 "from, to, step (ms) and limit (1..100000) "
                                 "must be non-negative integers");
    struct ht_twin_model *m = gw__twin_model(r->g, r->id);
    if (!m)
        return unknown_twin(r);
    const struct ht_twin_prop *p = NULL;
    bool invert = false;
    size_t ci, pi;
    if (!strncmp(ref, HT_TWIN_SELF ".", strlen(HT_TWIN_SELF) + 1)) {
        /* A twin-level property mirrors its first target. */
        const struct ht_twin_tprop *t =
            ht_twin_model_tprop(m, ref + strlen(HT_TWIN_SELF) + 1);
        if (t && t->ntargets) {
            p = &m->comps[t->targets[0].comp].props[t->targets[0].prop];
            invert = t->targets[0].invert;
        }
    } else if (ht_twin_model_find_prop(m, ref, &ci, &pi) == HT_OK) {
        p = &m->comps[ci].props[pi];
    }
    if (!p) {
        ht_twin_model_free(m);
        return gw__reply_problem(r, 404, "Not Found", "unknown twin property");
    }
    json_t *out = NULL;
    int rc = ht_store_history(r->g->store, p->device, p->device_prop, from, to,
                              (int)limit, step, &out);
    if (rc) {
        ht_twin_model_free(m);
        return gw__reply_problem(r, 500, "Store error", ht_strerror(rc));
    }
    if (!identity(p) || invert) {
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(out, "items"), i, it)
            hist_convert(it, p, invert);
    }
    json_object_set_new(out, "twin", json_string(r->id));
    json_object_set_new(out, "property", json_string(ref));
    json_object_set_new(out, "device", json_string(p->device));
    json_object_set_new(out, "device_property", json_string(p->device_prop));
    if (p->unit)
        json_object_set_new(out, "unit", json_string(p->unit));
    ht_twin_model_free(m);
    return gw__reply_history(r, out);
}

static enum ht_ui_role ui_role(enum gw_role r)
{
    switch (r) {
    case GW_ROLE_ADMIN:
        return HT_UI_ADMIN;
    case GW_ROLE_TECHNICIAN:
        return HT_UI_TECHNICIAN;
    case GW_ROLE_OPERATOR:
        return HT_UI_OPERATOR;
    default:
        return HT_UI_VIEWER;
    }
}

enum MHD_Result gw__route_twin_ui(struct gw_req *r)
{
    const char *ts = gw__query(r, "target");
    enum ht_ui_target target = HT_UI_WEB;
    if (ts && ht_ui_target_parse(ts, &target) != HT_OK)
        return gw__reply_problem(r, 400, "Bad Request",
                                 "target must be web or hmd");
    char *out = NULL, etag[HT_UI_ETAG_LEN], err[256];
    size_t len = 0;
    int rc = gw__twin_ui(r->g, r->id, target, ui_role(r->role), &out, &len,
                         etag, err, sizeof err);
    if (rc == HT_ENOENT)
        return unknown_twin(r);
    if (rc)
        return gw__reply_problem(r, 500, "Descriptor generation failed", err);
    const char *inm = MHD_lookup_connection_value(
        r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (gw__etag_match(inm, etag)) {
        free(out);
        return gw__reply_not_modified(r, etag);
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, out, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "ETag", etag);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    /* Writability depends on the caller's role. */
    MHD_add_response_header(resp, "Vary", "Authorization");
    enum MHD_Result ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result gw__route_twin_thing(struct gw_req *r, const char *id)
{
    json_t *td = gw__served_twin_td(r->g, id);
    if (!td)
        return gw__reply_problem(r, 404, "Not Found", "no such twin");
    char *s = json_dumps(td, JSON_COMPACT);
    json_decref(td);
    enum MHD_Result ret =
        gw__reply_buf(r, 200, "application/td+json", s, strlen(s));
    free(s);
    return ret;
}
